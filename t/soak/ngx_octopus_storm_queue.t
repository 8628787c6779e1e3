#!/usr/bin/perl

# ngx_octopus_redis's own bound on each command: Redis alive but starved
# (SIGSTOP/SIGCONT in turn, 60 ms/1 ms: replies within the timeout, at a
# fiftieth of its speed) under a storm of connections.  The commands that
# wait longer than 10 x timeout fail alone (reason "queue"), the
# connection stays (no "no reply within" drop) and every limited request
# is answered within the bound plus a margin.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time sleep);
use POSIX ();

my ($nowrk) = Octopus::Test::capture('sh', '-c', 'command -v wrk');
plan(skip_all => 'wrk is not installed') if $nowrk;

my $t = Octopus::Test->new;
$t->write_file('html/lim/x', "ok\n");

$t->nginx_conf(<<'EOF2');
worker_processes 1;
worker_rlimit_nofile 20000;
events { worker_connections 16000; }
http {
    octopus_ratelimit_redis %%REDIS%% timeout=100ms connect_timeout=100ms;
    octopus_ratelimit_zone storm key=$connection rate=100000r/s;

    server {
        listen 127.0.0.1:%%PORT_http%% backlog=8192;
        root %%PREFIX%%/html;
        access_log off;

        location /lim/ {
            octopus_ratelimit storm;
        }

        location = /metrics {
            octopus_ratelimit_metrics;
        }
    }
}
EOF2
$t->allow_log(qr/octopus redis/);
$t->run;

my $port = $t->port('http');

my $pid = fork;
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    no warnings 'exec';
    exec('sh', '-c', 'ulimit -n 20000 && exec wrk -t2 -c2000 -d3s '
         . "--latency http://127.0.0.1:$port/lim/x > $t->{dir}/wrk.out 2>&1");
    POSIX::_exit(1);
}

# Redis runs 1 ms in every 61: alive (a reply well within 100 ms), slow

my $t0 = time;
while (time - $t0 < 3) {
    $t->redis_signal('STOP');
    sleep 0.060;
    $t->redis_signal('CONT');
    sleep 0.001;
}
$t->redis_signal('CONT');
waitpid($pid, 0);

my $out = $t->read_file('wrk.out');
my ($max) = $out =~ /^\s+Latency\s+\S+\s+\S+\s+(\S+)/m;
diag($out =~ /(Latency.*?\n)/s);

my $r = $t->get('/metrics');
my %m = $r->{body} =~ /reason="(\w+)"\} (\d+)$/mg;
diag(join ' ', map { "$_=$m{$_}" } sort keys %m);

ok($m{queue} > 0, "commands past their bound failed alone ($m{queue})");
my $drops = () = $t->error_log =~ /no reply within/g;
ok($drops <= 5, "the connection stayed ($drops drops, scheduling jitter)");
like($t->error_log, qr/decisions fell back .*queue [1-9]/,
     'the queue fallbacks are reported');

# the bound is 1 s from the queueing; wrk's slowest answer is near it

ok(defined $max && $max =~ /^([\d.]+)(ms|s)$/
   && ($2 eq 's' ? $1 * 1000 : $1) < 2000,
   'the slowest limited request was answered within 2 s (' . ($max // '?')
   . ')');

ok($t->wait_for(sub { $t->get('/lim/x')->{status} == 200 }, 3),
   'answered after');

$t->done;
