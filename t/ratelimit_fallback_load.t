#!/usr/bin/perl

# ngx_octopus_ratelimit_module under a storm of connections with Redis
# healthy: one worker, one Redis connection, thousands of requests waiting
# on it at once, and fewer than 1 % of the limited requests fall back (the
# client times Redis's silence, not the depth of its pipeline).  No
# fallback is silent: octopus_ratelimit_fallback_total{zone,reason} counts
# each one and error.log reports them at most once per second per worker;
# both stay at zero while Redis is healthy and show when it is frozen.
#
# OCTOPUS_LOAD_C (2000 concurrent connections) and OCTOPUS_LOAD_D (3 s)
# change the storm: OCTOPUS_LOAD_C=5000 is the figure of docs/performance.md.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time sleep);

my ($nowrk) = Octopus::Test::capture('sh', '-c', 'command -v wrk');
plan(skip_all => 'wrk is not installed') if $nowrk;

my $c = $ENV{OCTOPUS_LOAD_C} || 2000;
my $d = $ENV{OCTOPUS_LOAD_D} || 3;

my $t = Octopus::Test->new;
$t->write_file('html/lim/x', "ok\n");
$t->write_file('html/free/x', "ok\n");

$t->nginx_conf(<<'EOF');
worker_processes 1;
worker_rlimit_nofile 20000;
events { worker_connections 16000; }
http {
    log_format rl '$octopus_ratelimit_result';

    octopus_ratelimit_redis %%REDIS%% timeout=50ms connect_timeout=100ms;
    octopus_ratelimit_zone storm key=$connection rate=100000r/s;
    octopus_ratelimit_zone other key=$http_x_key rate=10r/s;

    server {
        listen 127.0.0.1:%%PORT_http%% backlog=8192;
        root %%PREFIX%%/html;

        location /lim/ {
            access_log %%PREFIX%%/results.log rl;
            add_header X-RL-Result $octopus_ratelimit_result always;
            octopus_ratelimit storm;
        }

        location /free/ {
            access_log off;
        }

        location = /metrics {
            access_log off;
            octopus_ratelimit_metrics;
        }
    }
}
EOF
$t->allow_log(qr/octopus redis/);
$t->run;

sub metrics {
    my $r = $t->get('/metrics');
    my %m;
    while ($r->{body} =~ /^octopus_ratelimit_fallback_total
                          \{zone="([^"]*)",reason="(\w+)"\}\ (\d+)$/mgx) {
        $m{"$1/$2"} = $3;
    }
    return (\%m, $r);
}

sub total {
    my ($m, $zone) = @_;
    my $n = 0;
    $n += $m->{$_} for grep { m{^\Q$zone\E/} } keys %$m;
    return $n;
}

sub reports { scalar(() = $t->error_log =~ /decisions fell back/g) }

sub reported {
    my $sum = 0;
    $sum += $_ for $t->error_log =~ /(\d+) decisions fell back/g;
    return $sum;
}

# the metrics: every zone, every reason, at zero

my ($m, $r) = metrics();
is($r->{status}, 200, 'metrics: 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'metrics: Prometheus text');
like($r->{body}, qr/^# TYPE octopus_ratelimit_fallback_total counter$/m,
     'metrics: TYPE line');
is(scalar(keys %$m), 10, 'metrics: 2 zones x 5 reasons')
    or diag($r->{body});
is_deeply([sort grep { m{^storm/} } keys %$m],
          [map { "storm/$_" } sort qw(down timeout queue lost error)],
          'metrics: the reasons');
is(total($m, 'storm') + total($m, 'other'), 0, 'metrics: zero at start');

# the storm, Redis healthy

my $port = $t->port('http');
my ($rc, $out) = Octopus::Test::capture('sh', '-c',
    "ulimit -n 20000 && wrk -t2 -c$c -d${d}s --latency "
    . "http://127.0.0.1:$port/lim/x");
is($rc, 0, "wrk -c$c ran") or diag($out);
my ($p99) = $out =~ /^\s+99%\s+(\S+)/m;

my %res;
for (split /\n/, $t->read_file('results.log')) {
    $res{$_}++;
}
my $limited = ($res{pass} // 0) + ($res{limited} // 0)
              + ($res{fallback} // 0);
my $fb = $res{fallback} // 0;
my $pct = $limited ? 100 * $fb / $limited : 100;

diag(sprintf "-c%d %ds: %d limited requests, %d fell back (%.2f %%), "
             . "p99 %s", $c, $d, $limited, $fb, $pct, $p99 // '?');
ok($limited > 1000, "storm: many limited requests ($limited)");
ok($pct < 1, sprintf('storm: fewer than 1 %% fell back (%.2f %%)', $pct));
unlike($t->error_log, qr/no reply within/, 'storm: Redis never timed out');

($m) = metrics();
is(total($m, 'storm'), $fb, 'storm: the counter matches the fallbacks');
if ($fb == 0) {
    is(reports(), 0, 'storm: no fallback, no report');
} else {
    ok($t->wait_for(sub { reported() == $fb }, 3),
       'storm: the fallbacks are reported');
}

# Redis frozen: counted (timeout, then down while reconnecting), reported

my $before = total($m, 'storm');
my $lines = reports();

$t->redis_signal('STOP');

my $t0 = time;
my $n = 0;
while (time - $t0 < 2.5) {
    my $x = $t->get('/lim/x');
    $n++;
    is($x->{status}, 200, 'frozen: answered by the local policy')
        if $n == 1;
    is($x->{headers}{'x-rl-result'}, 'fallback', 'frozen: result fallback')
        if $n == 1;
    sleep 0.02;
}
my $took = time - $t0;

($m) = metrics();
ok($m->{'storm/timeout'} >= 1,
   "frozen: reason timeout counted ($m->{'storm/timeout'})");
is(total($m, 'storm') - $before, $n, "frozen: every fallback counted ($n)");
is(total($m, 'other'), 0, 'frozen: other zone untouched');

ok($t->wait_for(sub { reported() == $n + $fb }, 3),
   'frozen: every fallback reported (' . reported() . " for $n)")
    or diag(join "\n", grep { /fell back/ } split /\n/, $t->error_log);
my $new = reports() - $lines;
ok($new >= 2 && $new <= int($took) + 2,
   "frozen: at most one report a second ($new lines, $took s, $n requests)");
like($t->error_log,
     qr/\[warn\].*octopus_ratelimit: \d+ decisions fell back .*\(down \d+, (?#
       )timeout [1-9]\d*, queue 0, lost 0, error 0\)/,
     'frozen: the report names the reasons');

$t->redis_signal('CONT');

ok($t->wait_for(sub {
       ($t->get('/lim/x')->{headers}{'x-rl-result'} // '') eq 'pass'
   }, 5), 'Redis back: pass again');

$t->done;
