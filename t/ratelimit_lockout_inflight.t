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
                                      inflight_timeout=1s;
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

# (a) one node, two workers, shared memory: 12 parallel guesses

my $t = Octopus::Test->new;
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

my @s = map { open_attempt($t, 'carol', status => 200, delay => 1000) }
        1 .. 3;
sleep 0.3;
my $busy = attempt($t, 'carol', status => 200, delay => 0);
is($busy->{status}, 429, 'shm: a 4th attempt while 3 are in flight is refused');
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

# (d) clients closing while in flight release their reservations

@s = map { open_attempt($t, 'frank', status => 200, delay => 3000) } 1 .. 3;
$start = time;
my $b4 = $t->wait_for(sub {
    attempt($t, 'frank', status => 200, delay => 0)->{status} == 429
}, 2);
ok($b4, 'shm: 3 attempts in flight hold the account');
close $_ for @s;
my $freed = $t->wait_for(sub {
    attempt($t, 'frank', status => 200, delay => 0)->{status} == 200
}, 2);
ok($freed, 'shm: the clients closed: the next attempt passes');
ok(time - $start < 2.8, 'shm: released before the backend answered ('
   . sprintf('%.2f', time - $start) . ' s)');

# a worker that dies holding reservations: they expire (inflight_timeout=1s
# here: gone within 2 s), the account is not refused forever

my @w = $t->worker_pids;
@s = map { open_attempt($t, 'grace', uri => '/login-short', status => 200,
                        delay => 5000) } 1 .. 3;
ok($t->wait_for(sub {
    attempt($t, 'grace', uri => '/login-short', status => 200,
            delay => 0)->{status} == 429
}, 2), 'shm: 3 attempts in flight on /login-short');
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
}, 4), 'shm: leaked reservations expire');
ok(time - $start < 2.6, 'shm: within 2 x inflight_timeout ('
   . sprintf('%.2f', time - $start) . ' s)');

$t->done;
