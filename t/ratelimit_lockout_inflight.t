#!/usr/bin/perl

# ngx_octopus_ratelimit_module lockout: attempts in flight count.  An
# attempt holds a reservation from the moment it is let through to the
# backend until its answer, so parallel guesses against a slow login
# cannot pass the limit: on one node with two workers (shared memory), on
# two nodes sharing Redis, when clients close while in flight, when a
# worker dies holding reservations (they expire), with Redis frozen.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Cwd ();

my $login_conf = <<'EOF';
        location = /login {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login-short {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401
                                      inflight_timeout=2s;
            proxy_pass http://%%BACKEND%%;
        }

        # answered by an error_page: the upstream's 401 through an
        # internal redirect, an upstream that cannot be reached

        location = /login-ep {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_intercept_errors on;
            error_page 401 /denied;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login-down {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            error_page 502 = @down;
            proxy_connect_timeout 1s;
            proxy_pass http://127.0.0.1:%%PORT_closed%%;
        }

        location @down {
            return 503;
        }

        location = /denied {
            internal;
            proxy_pass http://%%BACKEND%%;
        }

        location /free/ {
            proxy_pass http://%%BACKEND%%;
        }
EOF

sub conf {
    my ($redis) = @_;
    my $r = $redis ? "    octopus_ratelimit_redis $redis timeout=200ms "
                     . "connect_timeout=200ms prefix=octo:;\n" : '';
    return <<"EOF";
worker_processes 2;
events { }
http {
$r
    server {
        listen 127.0.0.1:%%PORT_http%%;

        add_header X-RL-Result "\$octopus_ratelimit_result" always;

$login_conf
    }
}
EOF
}

sub attempt_args {
    my ($t, $user, %o) = @_;
    return (method => 'POST', uri => $o{uri} // '/login',
            port => $t->port('http'),
            body => qq({"username":"$user","password":"guess"}),
            headers => ['Content-Type' => 'application/json',
                        'X-Test-Status' => $o{status} // 401,
                        'X-Test-Delay-Ms' => $o{delay} // 500]);
}

sub attempt {
    my ($t, $user, %o) = @_;
    return $t->http(attempt_args($t, $user, %o));
}

# a raw attempt left open: returns the socket

sub open_attempt {
    my ($t, $user, %o) = @_;
    my %a = attempt_args($t, $user, %o);
    my $body = $a{body};
    my %h = @{$a{headers}};
    my $raw = "POST $a{uri} HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n"
              . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
              . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('http'),
                                  Proto => 'tcp')
        or die "connect: $!";
    syswrite($s, $raw);
    return $s;
}

sub read_answer {
    my ($s) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        last unless sysread($s, $buf, 65536, length $buf);
    }
    close $s;
    return Octopus::Test::_parse_response($buf);
}

sub parallel {
    my ($t, $n, $user, %o) = @_;
    return $t->load_start(requests => $n, concurrency => $n,
                          attempt_args($t, $user, %o));
}

my $t = Octopus::Test->new;

# inflight_timeout= is checked at nginx -t

for my $bad (qw(0 -1s abc)) {
    (my $bc = conf()) =~ s/inflight_timeout=2s/inflight_timeout=$bad/;
    my ($ok, $out) = $t->nginx_test($bc);
    ok(!$ok, "nginx -t refuses inflight_timeout=$bad");
    my $re = 'invalid octopus_ratelimit_lockout parameter '
             . "\"inflight_timeout=\Q$bad\E\" in .*:\\d+";
    like($out, qr/$re/,
         "nginx -t quotes inflight_timeout=$bad with file and line");
}

# (a) one node, two workers, shared memory: 12 parallel guesses

$t->nginx_conf(conf());
$t->run;

my $start = time;
my $c = $t->load_wait(parallel($t, 12, 'alice'));
my $took = time - $start;
my $backend = $c->{401} // 0;

ok($backend >= 1 && $backend <= 3,
   "shm: 12 parallel guesses, $backend reached the backend (at most 3)");
is(($c->{429} // 0) + $backend, 12, 'shm: the others refused with 429')
    or diag explain $c;
ok($took < 3, "shm: answered without waiting for each other ($took s)");

my $r = attempt($t, 'alice', status => 200, delay => 0);
is($r->{status}, 429, 'shm: the account is locked afterwards');
is($r->{headers}{'x-rl-result'}, 'locked', 'shm: result locked');
ok(($r->{headers}{'retry-after'} // 0) > 3000, 'shm: lock Retry-After');
ok(!defined $r->{json}, 'shm: locked, the backend is not reached');
is(attempt($t, 'bob', status => 200, delay => 0)->{status}, 200,
   'shm: another account passes');

# (b) successes release their reservations; a busy refusal says when

my @s = map { open_attempt($t, 'carol', status => 200, delay => 1500) }
        1 .. 3;
sleep 0.5;
my $busy = attempt($t, 'carol', status => 200, delay => 0);
is($busy->{status}, 429,
   'shm: a 4th attempt while 3 are in flight is refused');
is($busy->{headers}{'retry-after'}, 1, 'shm: busy: Retry-After 1');
is($busy->{headers}{'x-rl-result'}, 'locked', 'shm: busy: result locked');
is_deeply([map { read_answer($_)->{status} } @s], [200, 200, 200],
          'shm: the 3 slow logins succeed');
is_deeply([map { attempt($t, 'carol', status => 200, delay => 0)->{status} }
           1 .. 5], [(200) x 5], 'shm: successes released: 5 more pass');

# failures and reservations add up: 2 failures leave room for 1 in flight

attempt($t, 'dave', delay => 0) for 1 .. 2;
my $load = parallel($t, 4, 'dave', status => 200, delay => 1000);
$c = $t->load_wait($load);
is($c->{200}, 1, 'shm: 2 failures counted: 1 of 4 parallel attempts passes');
is($c->{429}, 3, 'shm: the other 3 are refused');

# a 502 (upstream error) is not a failure of the password

attempt($t, 'erin', uri => '/login', status => 502, delay => 0) for 1 .. 4;
is(attempt($t, 'erin', status => 200, delay => 0)->{status}, 200,
   'shm: upstream errors release, do not count');

# internal redirects: the lockout of the location that reserved decides

is_deeply([map { attempt($t, 'ed', uri => '/login-ep', delay => 0)->{status} }
           1 .. 4], [401, 401, 401, 429],
          'shm: 401s answered through error_page count');
is_deeply([map { attempt($t, 'fay', uri => '/login-down', delay => 0)
                     ->{status} } 1 .. 5], [(503) x 5],
          'shm: unreachable upstream, answered by error_page: not counted');
is(attempt($t, 'fay', status => 200, delay => 0)->{status}, 200,
   'shm: and released: the account passes');

# (d) clients closing while in flight release their reservations

# (a probe while they arrive would take a slot itself: wait, probe once)

@s = map { open_attempt($t, 'frank', status => 200, delay => 3000) } 1 .. 3;
sleep 0.5;
is(attempt($t, 'frank', status => 200, delay => 0)->{status}, 429,
   'shm: 3 attempts in flight hold the account');
$start = time;
close $_ for @s;
my $freed = $t->wait_for(sub {
    attempt($t, 'frank', status => 200, delay => 0)->{status} == 200
}, 2);
ok($freed, 'shm: the clients closed: the next attempt passes');
ok(time - $start < 2, 'shm: released before the backend answered ('
   . sprintf('%.2f', time - $start) . ' s)');

# a worker that dies holding reservations: they expire (inflight_timeout=2s
# here: gone after 2 to 4 s), the account is not refused forever

my @w = $t->worker_pids;
@s = map { open_attempt($t, 'grace', uri => '/login-short', status => 200,
                        delay => 8000) } 1 .. 3;
sleep 0.5;
is(attempt($t, 'grace', uri => '/login-short', status => 200,
           delay => 0)->{status}, 429,
   'shm: 3 attempts in flight on /login-short');
$t->allow_log(qr/exited on signal 9/);
kill 'KILL', @w;
close $_ for @s;
ok($t->wait_for(sub { my @n = $t->worker_pids; @n == 2 && $n[0] != $w[0] },
                5), 'workers killed and respawned');
$r = attempt($t, 'grace', uri => '/login-short', status => 200, delay => 0);
is($r->{status}, 429, 'shm: the dead workers\' reservations still held');
$start = time;
ok($t->wait_for(sub {
    attempt($t, 'grace', uri => '/login-short', status => 200,
            delay => 0)->{status} == 200
}, 6), 'shm: leaked reservations expire');
ok(time - $start < 4.5, 'shm: within 2 x inflight_timeout ('
   . sprintf('%.2f', time - $start) . ' s)');

$t->stop;
$t->check_error_log;

# (c) two nodes sharing one Redis: 6 + 6 parallel guesses

my $t1 = Octopus::Test->new;
my $t2 = Octopus::Test->new;
my $redis = '127.0.0.1:' . $t1->redis_start;

$t1->nginx_conf(conf($redis));
$t2->nginx_conf(conf($redis));
$t1->run;
$t2->run;

$start = time;
my $l1 = parallel($t1, 6, 'henry');
my $l2 = parallel($t2, 6, 'henry');
my $c1 = $t1->load_wait($l1);
my $c2 = $t2->load_wait($l2);
$took = time - $start;
$backend = ($c1->{401} // 0) + ($c2->{401} // 0);

ok($backend >= 1 && $backend <= 3,
   "redis: 12 parallel guesses on 2 nodes, $backend reached a backend");
is($backend + ($c1->{429} // 0) + ($c2->{429} // 0), 12,
   'redis: the others refused with 429') or diag explain [$c1, $c2];
ok($took < 3, "redis: no waiting for each other ($took s)");

ok($t1->wait_for(sub {
    $t1->redis_cmd('PTTL', 'octo:{lockout:henry}:l') > 0
}, 3), 'redis: the lock is in Redis');
for my $n ($t1, $t2) {
    $r = attempt($n, 'henry', status => 200, delay => 0);
    is($r->{status}, 429, 'redis: locked on node ' . ($n == $t1 ? 1 : 2));
    ok(($r->{headers}{'retry-after'} // 0) > 3000, 'redis: lock Retry-After');
}
is($t1->redis_cmd('ZCARD', 'octo:{lockout:henry}:r'), 0,
   'redis: every reservation released');
is($r->{headers}{'x-rl-result'}, 'locked', 'redis: result locked');

# successes release across nodes; reservations are counted on every node

@s = (open_attempt($t1, 'ivan', status => 200, delay => 1500),
      open_attempt($t2, 'ivan', status => 200, delay => 1500),
      open_attempt($t1, 'ivan', status => 200, delay => 1500));
sleep 0.5;
is($t1->redis_cmd('ZCARD', 'octo:{lockout:ivan}:r'), 3,
   'redis: 3 reservations held in the sorted set');
my $pttl = $t1->redis_cmd('PTTL', 'octo:{lockout:ivan}:r');
ok($pttl > 55000 && $pttl <= 60000, "redis: the set expires ($pttl ms)");
$r = attempt($t2, 'ivan', status => 200, delay => 0);
is($r->{status}, 429, 'redis: a 4th attempt on the other node is refused');
is($r->{headers}{'retry-after'}, 1, 'redis: busy: Retry-After 1');
is_deeply([map { read_answer($_)->{status} } @s], [200, 200, 200],
          'redis: the 3 slow logins succeed');
ok($t1->wait_for(sub {
    $t1->redis_cmd('ZCARD', 'octo:{lockout:ivan}:r') == 0
}, 2), 'redis: released');
is_deeply([map { attempt($_ % 2 ? $t1 : $t2, 'ivan', status => 200,
                         delay => 0)->{status} } 1 .. 5], [(200) x 5],
          'redis: successes released: 5 more pass');

# (d) with Redis: clients closing release their reservations

@s = map { open_attempt($t1, 'judy', status => 200, delay => 3000) } 1 .. 3;
sleep 0.5;
is(attempt($t2, 'judy', status => 200, delay => 0)->{status}, 429,
   'redis: 3 attempts in flight hold the account');
$start = time;
close $_ for @s;
ok($t2->wait_for(sub {
    attempt($t2, 'judy', status => 200, delay => 0)->{status} == 200
}, 2), 'redis: the clients closed: the next attempt passes');
ok(time - $start < 2, 'redis: released before the backend answered');

# reservations that no node releases (a node died) expire by their score

my ($sec, $usec) = @{$t1->redis_cmd('TIME')};
my $soon = $sec * 1000 + int($usec / 1000) + 800;
$t1->redis_cmd('ZADD', 'octo:{lockout:kate}:r', $soon, 'dead-1', $soon,
               'dead-2', $soon, 'dead-3');
is(attempt($t1, 'kate', status => 200, delay => 0)->{status}, 429,
   'redis: reservations of a dead node hold the account');
ok($t1->wait_for(sub {
    attempt($t1, 'kate', status => 200, delay => 0)->{status} == 200
}, 3), 'redis: until they expire');

# the reservation script is reloaded after SCRIPT FLUSH (NOSCRIPT)

$t1->redis_cmd('SCRIPT', 'FLUSH');
is(attempt($t1, 'liam', status => 200, delay => 0)->{headers}{'x-rl-result'},
   'pass', 'redis: after SCRIPT FLUSH the reservation goes through Redis');

# (e) Redis frozen: the shared memory reserves, within the Redis timeout

$t1->allow_log(qr/octopus redis|lockout reservation was not released/);
$t2->allow_log(qr/octopus redis|lockout reservation was not released/);
$t1->redis_signal('STOP');

$load = parallel($t1, 12, 'mia');
my @free = map { $t1->get('/free/x')->{elapsed} } 1 .. 5;
my $max = 0;
$_ > $max and $max = $_ for @free;
ok($max < 0.15, sprintf('frozen: unlimited location fast (%.3f s)', $max));
$c = $t1->load_wait($load);
$backend = $c->{401} // 0;
ok($backend >= 1 && $backend <= 3,
   "frozen: 12 parallel guesses, $backend reached the backend");
is($backend + ($c->{429} // 0), 12, 'frozen: every attempt answered')
    or diag explain $c;

$r = attempt($t1, 'nina', delay => 0);
is($r->{status}, 401, 'frozen: an attempt passes per the failure policy');
ok($r->{elapsed} < 0.2 + 0.3,
   sprintf('frozen: within the Redis timeout (%.3f s)', $r->{elapsed}));
is($r->{headers}{'x-rl-result'}, 'fallback', 'frozen: result fallback');

$t1->redis_signal('CONT');

ok($t1->wait_for(sub {
    (attempt($t1, 'olga', status => 200, delay => 0)->{headers}{'x-rl-result'}
        // '') eq 'pass'
}, 10), 'Redis back: reservations go through Redis again');

# the scripts that timed out ran when Redis woke up; their reservations
# are released then, not 60 s later (inflight_timeout)

ok($t1->wait_for(sub {
    $t1->redis_cmd('ZCARD', 'octo:{lockout:mia}:r') == 0
        && $t1->redis_cmd('ZCARD', 'octo:{lockout:nina}:r') == 0
}, 5), 'Redis back: reservations of timed-out scripts released');

# a client closing while its reservation waits for Redis: the script is
# followed by a release on the same connection

$t1->redis_cmd('CONFIG', 'RESETSTAT');
$t1->redis_signal('STOP');
my $sk = open_attempt($t1, 'pat', status => 200, delay => 0);
sleep 0.05;
close $sk;
sleep 0.1;
$t1->redis_signal('CONT');
ok($t1->wait_for(sub {
    ($t1->redis_cmd('INFO', 'commandstats') =~ /cmdstat_zrem:calls=(\d+)/)[0]
}, 3), 'redis: the release was sent after the reservation');
ok($t1->wait_for(sub {
    $t1->redis_cmd('ZCARD', 'octo:{lockout:pat}:r') == 0
}, 3), 'redis: no reservation left behind');

$t2->stop;
$t2->check_error_log;
$t1->stop;
$t1->check_error_log;

# (f) audit: failed-login and lockout records name the targeted account,
# never the password; with the ratelimit module absent, nothing

my $audit_conf = <<'EOF';
http {
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        set $octopus_user $http_x_sim_user;

        location = /login {
            octopus_audit_login on;
%%LOCKOUT%%
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

my $lockout = <<'EOF';
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=2
                                      within=1m for=1h status=401;
EOF

my $ta = Octopus::Test->new(modules => ['ngx_octopus_ratelimit_module',
                                        'ngx_octopus_audit_module']);
my $tn = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

for my $x ([$ta, $lockout], [$tn, '']) {
    (my $ac = $audit_conf) =~ s/%%LOCKOUT%%\n/$x->[1]/;
    $x->[0]->write_file('chain.key', Octopus::Test::random_secret() . "\n");
    $x->[0]->nginx_conf($ac);
    $x->[0]->run;
}

my $secret = 'Sup3r-Secret-Pw';

sub login_pw {
    my ($n, $user, @h) = @_;
    return $n->http(method => 'POST', uri => '/login',
                    body => qq({"username":"$user","password":"$secret"}),
                    headers => ['Content-Type' => 'application/json',
                                'X-Test-Status' => 401, @h]);
}

is_deeply([map { login_pw($ta, 'victim')->{status} } 1 .. 3],
          [401, 401, 429], 'audit: two failed logins, then locked');
login_pw($ta, 'other', 'X-Sim-User' => 'alice');
login_pw($tn, 'victim');

sub audit_records {
    my ($n, $want) = @_;
    my @r;
    $n->wait_for(sub {
        @r = map { JSON::PP->new->decode($_) }
             grep { /"hash":/ && !/"checkpoint"/ }
             split /\n/, $n->read_file('audit.jsonl') // '';
        @r >= $want;
    }, 5);
    return @r;
}

my @ar = audit_records($ta, 4);
is_deeply([map { [$_->{event_type}, $_->{user_name}] } @ar],
          [['failed_login_attempt', 'victim'],
           ['failed_login_attempt', 'victim'],
           ['account_lockout', 'victim'],
           ['failed_login_attempt', 'alice']],
          'audit: the records name the targeted account; an authenticated '
          . 'user keeps precedence') or diag explain \@ar;
unlike($ta->read_file('audit.jsonl'), qr/\Q$secret\E/,
       'audit: the password is never recorded');

my @nr = audit_records($tn, 1);
is($nr[0]{event_type}, 'failed_login_attempt',
   'audit without the ratelimit module: failed login recorded');
is($nr[0]{user_name} // '', '',
   'audit without the ratelimit module: no login name to give');

$ta->stop;
$tn->stop;

my $verify = '/usr/bin/perl ' . Cwd::abs_path('tools/octopus-audit-verify');
for my $n ($ta, $tn) {
    my $cmd = "$verify --key $n->{dir}/chain.key "
              . "--file $n->{dir}/audit.jsonl 2>&1";
    my $out = `$cmd`;
    is($? >> 8, 0, 'audit: the chain verifies') or diag $out;
}

$tn->check_error_log;
$ta->done;
