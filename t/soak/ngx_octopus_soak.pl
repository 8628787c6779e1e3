#!/usr/bin/perl

# make soak: SOAK_SECONDS (default 600) of mixed wrk traffic through all
# three modules (valid JWTs, invalid and expired tokens, RBAC refusals,
# rate-limited clients, API keys, login failures up to a lockout) to Redis
# and PostgreSQL while nginx is reloaded every SOAK_INTERVAL seconds
# (default 30) and, half-way between two reloads, one fault in turn: Redis
# killed (SIGKILL) and started again, PostgreSQL frozen (SIGSTOP) for 5 s
# then thawed, PostgreSQL restarted.  At the end it prints and checks: no
# worker crashed, no [alert], no 5xx (the Redis failure policy is "local":
# none prescribed), worker RSS growth under 5% after warm-up (within each
# worker generation, the median) and the master's under 5% across the
# reloads, one audit row per request nginx logged (each exactly once) and
# the hash chains verifying.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
use Cwd qw(abs_path);
use POSIX qw(WNOHANG);

my $SECONDS = $ENV{SOAK_SECONDS} || 600;
my $INTERVAL = $ENV{SOAK_INTERVAL} || 30;
my $CONNS = $ENV{SOAK_CONNECTIONS} || 16;

my $t = Octopus::Test->new;
my $d = $t->{dir};

my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);
$t->write_file('api-keys', "svc ${\ sha256_hex('svc-key-0001')} analyst\n");
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");
$t->pg_start;
$t->psql($t->read_file(abs_path('conf/sql/001_audit_schema.sql')));

sub mint { Octopus::Test::mint_hs256($secret, $_[0], ttl => 3000) }

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { worker_connections 4096; }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_auth_api_keys %%PREFIX%%/api-keys;
    octopus_auth_max_token_lifetime 2h;

    octopus_ratelimit_redis %%REDIS%% timeout=200ms connect_timeout=200ms;
    octopus_ratelimit_redis_failure local;
    octopus_ratelimit_zone user key=$octopus_user rate=200r/s burst=200
                           algorithm=gcra;
    octopus_ratelimit_zone tight key=$http_x_client rate=5r/s;
    octopus_ratelimit_zone login key=$binary_remote_addr rate=100000r/m;

    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=500 interval=100ms timeout=2s backoff=1s
                        queue=20000;
    octopus_audit_spool %%PREFIX%%/spool max_size=1g;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit_file %%PREFIX%%/audit.jsonl;

    log_format soak '$status $request_id';

    upstream app {
        server 127.0.0.1:%%PORT_app%%;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:%%PORT_http%% backlog=4096;
        access_log %%PREFIX%%/front.log soak;
        octopus_audit on;

        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_ratelimit user;
            proxy_pass http://app;
        }

        location /api/admin/ {
            octopus_auth jwt;
            octopus_auth_require system_admin;
            octopus_ratelimit user;
            proxy_pass http://app;
        }

        location /limited/ {
            octopus_auth api_key;
            octopus_ratelimit tight;
            proxy_pass http://app;
        }

        location = /login {
            octopus_audit_login on;
            octopus_ratelimit login;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=5
                                      within=1m for=1m status=401;
            proxy_pass http://app/fail;
        }
    }

    # the application: modules off, answers at once
    server {
        listen 127.0.0.1:%%PORT_app%%;
        access_log off;

        location / {
            return 200 "ok\n";
        }

        location = /fail {
            return 401 "no\n";
        }
    }
}
EOF
$t->run;

# the request mix, cycled by every wrk connection

my @users = map { mint(qq({"sub":"user$_","role":"trader"})) } 1 .. 20;
my $expired = mint('{"sub":"old","role":"user","iat":1000,"exp":2000}');
my @mix;
push @mix, ['GET', "/api/orders/$_", "Authorization: Bearer $users[$_ % 20]"]
    for 0 .. 19;
push @mix, ['GET', '/api/admin/users', "Authorization: Bearer $users[0]"],
           ['GET', '/api/x', 'Authorization: Bearer not.a.token'],
           ['GET', '/api/x', "Authorization: Bearer $expired"],
           ['GET', '/api/x', ''],
           ['GET', '/limited/a?card=4111111111111111',
            "X-API-Key: svc-key-0001\r\nX-Client: hot"],
           ['GET', '/limited/b', 'X-API-Key: wrong'],
           ['POST', '/login', "Content-Type: application/json",
            '{"username":"victim","password":"guess"}'],
           ['POST', '/login', "Content-Type: application/x-www-form-urlencoded",
            'username=alice&password=wrong'];

# built in init(): at load time wrk.format() knows no Host yet
my $lua = "local reqs = {}\nlocal build = function()\n";
for my $m (@mix) {
    my ($method, $path, $hdr, $body) = @$m;
    my %h = map { split /: /, $_, 2 } grep { length } split /\r\n/, $hdr;
    $lua .= "reqs[#reqs + 1] = wrk.format('$method', '$path', {"
          . join(', ', map { "['$_'] = '$h{$_}'" } sort keys %h) . '}'
          . (defined $body ? ", '$body'" : '') . ")\n";
}
$lua .= <<'LUA';
end
local i = 0
init = function(args)
    build()
    i = math.random(#reqs)
end
request = function()
    i = i % #reqs + 1
    return reqs[i]
end
LUA
my $script = $t->write_file('mix.lua', $lua);

# RSS (KB) of the given processes, summed

sub rss {
    my $sum = 0;
    for my $pid (@_) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $sum += $1 if /^VmRSS:\s+(\d+)/ }
        close $fh;
    }
    return $sum;
}

my $url = 'http://127.0.0.1:' . $t->port('http');
my $wrk_out = "$d/wrk.out";
my $wrk = fork // die "fork: $!";
if ($wrk == 0) {
    open STDOUT, '>', $wrk_out or POSIX::_exit(1);
    open STDERR, '>&', \*STDOUT;
    { exec 'wrk', '-t', '2', '-c', $CONNS, '-d', "${SECONDS}s", '--timeout',
           '10s', '-s', $script, $url; }
    POSIX::_exit(1);
}

my $start = time;
my @faults = (
    ['redis killed and restarted', sub { $t->redis_kill; sleep 1;
                                         $t->redis_start }],
    ['postgresql frozen 5 s', sub { $t->pg_signal('STOP'); sleep 5;
                                    $t->pg_signal('CONT') }],
    ['postgresql restarted', sub { $t->pg_restart }],
);
my $reload = ['nginx reloaded', sub { $t->reload or die 'reload failed' }];
my @events;

# Memory.  Every worker generation lives from one reload to the next (a
# fresh process: what leaks in one is gone with it) and meets one fault
# half-way.  So a leak shows as growth within a generation: its RSS is
# sampled shortly after it starts ("early", once warm) and again just
# before its fault ("steady"), after the same steady traffic in every
# generation; the median of that growth over the generations is checked.
# The master lives through every reload: sampled before each, its growth
# is checked across the run.  Each generation's RSS at the end of its
# life, after its fault, is printed per fault: a PostgreSQL freeze fills
# the in-memory queue (octopus_audit_batch queue=) and the spool that the
# next generation replays, so those vary with the request rate.
my (@gens, @wsamples, @msamples);
my $early_at;

# nginx reloads every $INTERVAL s; half-way between two reloads the next
# Redis or PostgreSQL fault in turn
my $next = $start + $INTERVAL / 2;
my $k = 0;
my $fault = 'start';

while (waitpid($wrk, WNOHANG) == 0) {
    my $now = time;
    if (defined $early_at && $now >= $early_at) {
        push @gens, { early => { at => $now - $start,
                                 kb => rss($t->worker_pids) } };
        undef $early_at;
    }
    if ($now >= $next && $now - $start < $SECONDS - 5) {
        my $f;
        if ($k % 2) {
            $f = $reload;
            push @wsamples, { at => $now - $start, fault => $fault,
                              kb => rss($t->worker_pids) };
            push @msamples, { at => $now - $start, kb => rss($t->nginx_pid) };
        } else {
            $f = $faults[($k / 2) % @faults];
            $fault = $f->[0];
            $gens[-1]{steady} = { at => $now - $start,
                                  kb => rss($t->worker_pids) }
                if @gens && !$gens[-1]{steady};
        }
        $k++;
        push @events, sprintf('%5.1f s %s', $now - $start, $f->[0]);
        diag($events[-1]);
        $f->[1]->();
        $early_at = time + ($INTERVAL >= 8 ? 2 : $INTERVAL / 4)
            if $f == $reload;
        $next += $INTERVAL / 2;
    }
    sleep 0.2;
}
my $wrk_rc = $? >> 8;

# let the traffic settle, the queues drain, then measure

my $wrk_text = $t->read_file('wrk.out') // '';
my ($wrk_n) = $wrk_text =~ /(\d+) requests in/;
my ($rps) = $wrk_text =~ /Requests\/sec:\s+([\d.]+)/;
my ($non2xx) = $wrk_text =~ /Non-2xx or 3xx responses: (\d+)/;
my ($sockerr) = $wrk_text =~ /(Socket errors:.*)/;

is($wrk_rc, 0, 'wrk ran') or diag $wrk_text;

my $logged = sub {
    my @l = split /\n/, $t->read_file('front.log') // '';
    return scalar @l;
};
my $n = $logged->();
my $rows;
$t->wait_for(sub {
    $rows = $t->psql('SELECT count(*) FROM audit.api_calls');
    return $rows >= $n;
}, 120);

my %status;
$status{(split / /)[0]}++ for split /\n/, $t->read_file('front.log');
my $five = 0;
$five += $status{$_} for grep { /^5/ } keys %status;
my $distinct = $t->psql('SELECT count(DISTINCT request_id) '
                        . 'FROM audit.api_calls');

# RSS growth: within each worker generation (early to steady), the
# median checked; the master across the run (its second sample to its
# last); end-of-life samples per fault, for the report

sub pct { 100 * ($_[1] - $_[0]) / $_[0] }

my (@growth, %first, %last, @lifes);
my @within = sort { $a <=> $b }
             map { pct($_->{early}{kb}, $_->{steady}{kb}) }
             grep { $_->{steady} } @gens;
my $median = @within ? $within[$#within / 2] : undef;
push @growth, sprintf('workers, within a generation (%d generations):'
                      . ' median %+.1f%%, from %+.1f%% to %+.1f%%',
                      scalar @within, $median // 0, $within[0] // 0,
                      $within[-1] // 0);
my $mgrowth;
if (@msamples >= 3) {
    my ($m0, $m1) = @msamples[1, -1];
    $mgrowth = pct($m0->{kb}, $m1->{kb});
    push @growth, sprintf('master: %d KB at %d s, %d KB at %d s: %+.1f%%',
                          $m0->{kb}, $m0->{at}, $m1->{kb}, $m1->{at},
                          $mgrowth);
}
for my $w (grep { $_->{at} > $INTERVAL * 1.5 } @wsamples) {
    $first{$w->{fault}} //= $w;
    $last{$w->{fault}} = $w;
}
for my $f (sort keys %first) {
    my ($w0, $w1) = ($first{$f}, $last{$f});
    next if $w0 == $w1;
    push @lifes, sprintf('after "%s": %d KB at %d s, %d KB at %d s: %+.1f%%',
                         $f, $w0->{kb}, $w0->{at}, $w1->{kb}, $w1->{at},
                         pct($w0->{kb}, $w1->{kb}));
}

my $log = $t->error_log;
my $crashes = () = $log =~ /exited on signal/g;
my $alerts = () = $log =~ /\[alert\]/g;

# the chains, checked against the database with the file's checkpoints
$t->stop;
my ($vrc, $vout) = Octopus::Test::capture('/usr/bin/perl',
    abs_path('tools/octopus-audit-verify'), '--quiet',
    '--key', "$d/chain.key", '--dsn', $t->pg_dsn,
    '--checkpoints', "$d/audit.jsonl");

my $report = join "\n",
    "soak: $SECONDS s, $CONNS connections, a reload every $INTERVAL s"
        . ' and a Redis or PostgreSQL fault between two',
    map({ "  $_" } @events),
    sprintf('requests: wrk %s (%s/s), nginx logged %d; wrk non-2xx %s%s',
            $wrk_n // '?', $rps // '?', $n, $non2xx // 0,
            $sockerr ? "; $sockerr" : ''),
    'status: ' . join(' ', map { "$_=$status{$_}" } sort keys %status),
    sprintf('audit rows: %d (%d distinct request ids) for %d requests',
            $rows, $distinct, $n),
    'RSS growth (checked):', map({ "  $_" } @growth),
    'worker RSS at the end of a generation, per fault (reported):',
    map({ "  $_" } @lifes),
    "worker crashes: $crashes, [alert]: $alerts, 5xx: $five",
    'chain verify: ' . ($vrc == 0 ? 'ok' : "FAILED ($vrc)");
diag($report);
$t->write_file('soak-report.txt', "$report\n$vout\n");

is($crashes, 0, 'no worker crashed');
is($alerts, 0, 'no [alert]');
is($five, 0, 'no 5xx (none prescribed by the failure policy)');
ok(abs($n - ($wrk_n // 0)) <= $CONNS * 2,
   'nginx logged what wrk sent (in-flight requests at the end aside)');
is($rows, $n, 'one audit row per request');
is($distinct, $rows, '... each exactly once');
ok(@within >= 3 && defined $mgrowth,
   'RSS measured in several worker generations and the master')
    or diag('the soak is too short for the comparison: SOAK_SECONDS'
            . ' must hold several reloads');
ok(defined $median && $median < 5,
   sprintf('worker RSS growth within a generation: median %.1f%% < 5%%',
           $median // 0));
ok(defined $mgrowth && $mgrowth < 5,
   sprintf('master RSS growth across the reloads %.1f%% < 5%%',
           $mgrowth // 0));
is($vrc, 0, 'the hash chains verify') or diag $vout;

$t->allow_log(qr/redis|Redis|postgres|PostgreSQL|audit|connect\(\)/i);
$t->done;
