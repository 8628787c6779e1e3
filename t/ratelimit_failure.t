#!/usr/bin/perl

# ngx_octopus_ratelimit_module when Redis fails: killed (policies local,
# open, closed), frozen with SIGSTOP (limited requests wait at most
# `timeout`, unlimited locations not at all), and recovery by itself.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time);
use IO::Socket::INET;

my %t = map { $_ => Octopus::Test->new } qw(local open closed);
my $redis = $t{local}->redis_start;

for my $policy (qw(local open closed)) {
    $t{$policy}->nginx_conf(<<"EOF");
http {
    octopus_ratelimit_redis 127.0.0.1:$redis timeout=200ms
                            connect_timeout=100ms;
    octopus_ratelimit_redis_failure $policy;

    octopus_ratelimit_zone lim key=\$http_x_key rate=3r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        add_header X-RL-Result "\$octopus_ratelimit_result" always;

        location /lim/ {
            octopus_ratelimit lim;
            proxy_pass http://%%BACKEND%%;
        }

        location /free/ {
            proxy_pass http://%%BACKEND%%;
        }

        location = /login {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=\$octopus_login_user failures=2
                                      within=1m for=1h status=401;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
    $t{$policy}->allow_log(qr/octopus redis/);
    $t{$policy}->run;
}

sub results {
    my ($t, $n, $key) = @_;
    my @r = map { $t->get('/lim/x', 'X-Key' => $key) } 1 .. $n;
    return ([map { $_->{status} } @r],
            [map { $_->{headers}{'x-rl-result'} // '' } @r],
            [map { $_->{elapsed} } @r]);
}

sub max { my $m = 0; $_ > $m and $m = $_ for @_; $m }

for my $p (qw(local open closed)) {
    my ($s, $res) = results($t{$p}, 4, "up-$p");
    is_deeply($s, [200, 200, 200, 429], "$p: Redis up, limits enforced");
    is($res->[0], 'pass', "$p: Redis up, result pass");
}

# Redis killed

$t{local}->redis_kill;

my ($s, $res, $el) = results($t{local}, 5, 'down');
is_deeply($s, [200, 200, 200, 429, 429],
          'local: the zone shared memory limits in the meantime');
is($res->[0], 'fallback', 'local: result fallback');
is($res->[4], 'limited', 'local: result limited when over');
ok(max(@$el) < 0.6, 'local: no waiting on a dead Redis (' . max(@$el) . ')');

($s, $res, $el) = results($t{open}, 5, 'down');
is_deeply($s, [(200) x 5], 'open: every request passes');
is($res->[0], 'fallback', 'open: result fallback');
ok(!defined $t{open}->get('/lim/x', 'X-Key' => 'down')
       ->{headers}{'ratelimit-limit'}, 'open: no RateLimit numbers to give');

($s, $res, $el) = results($t{closed}, 3, 'down');
is_deeply($s, [503, 503, 503], 'closed: 503');
is($res->[0], 'error', 'closed: result error');

is($t{closed}->get('/free/x')->{status}, 200,
   'closed: unlimited locations are untouched');

# failed logins are still counted, in shared memory, and still lock

sub login {
    my ($t, $status) = @_;
    return $t->http(method => 'POST', uri => '/login',
                    body => '{"username":"erin"}',
                    headers => ['X-Test-Status' => $status,
                                'Content-Type' => 'application/json']);
}

is_deeply([map { login($t{local}, 401)->{status} } 1 .. 3], [401, 401, 429],
          'Redis down: lockout counted and enforced on the node');
is(login($t{local}, 200)->{status}, 429, 'Redis down: still locked');

# back: every node reconnects by itself

$t{local}->redis_start;

for my $p (qw(local open closed)) {
    my $ok = $t{$p}->wait_for(sub {
        ($t{$p}->get('/lim/x', 'X-Key' => "back-$p")
             ->{headers}{'x-rl-result'} // '') eq 'pass';
    }, 10);
    ok($ok, "$p: recovers by itself when Redis returns");
}

# Redis frozen: limited requests cost at most the timeout (200 ms), other
# locations nothing, even while limited requests are waiting

$t{local}->redis_signal('STOP');

my $load = $t{local}->load_start(requests => 8, concurrency => 4,
                                 uri => '/lim/x',
                                 headers => ['X-Key' => 'frozen']);
my @free = map { $t{local}->get('/free/x')->{elapsed} } 1 .. 5;
ok(max(@free) < 0.15, 'frozen: unlimited location at normal speed ('
   . max(@free) . ')');

my $counts = $t{local}->load_wait($load);
is(($counts->{200} // 0) + ($counts->{429} // 0), 8,
   'frozen: every limited request answered');

for my $p (qw(local open closed)) {
    my $r = $t{$p}->get('/lim/x', 'X-Key' => "frozen-$p");
    ok($r->{elapsed} < 0.2 + 0.25,
       "$p: frozen Redis costs at most the timeout ($r->{elapsed})");
    is($r->{status}, $p eq 'closed' ? 503 : 200, "$p: policy applied");
    is($r->{headers}{'x-rl-result'}, $p eq 'closed' ? 'error' : 'fallback',
       "$p: frozen result");
}

# clients that give up while their request waits for the frozen Redis

for my $p (qw(open closed)) {
    for (1 .. 3) {
        my $s = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1:' . $t{$p}->port('http'))
            or die "connect: $!";
        print $s "GET /lim/x HTTP/1.1\r\nHost: x\r\nX-Key: gone-$_\r\n\r\n";
        close $s;
    }
}
select(undef, undef, undef, 0.5);
is($t{open}->get('/free/x')->{status}, 200,
   'clients closing while waiting: the worker goes on');

$t{local}->redis_signal('CONT');

for my $p (qw(local open closed)) {
    my $ok = $t{$p}->wait_for(sub {
        ($t{$p}->get('/lim/x', 'X-Key' => "thawed-$p")
             ->{headers}{'x-rl-result'} // '') eq 'pass';
    }, 10);
    ok($ok, "$p: recovers after SIGCONT");
}

$t{$_}->stop, $t{$_}->check_error_log for qw(open closed);
$t{local}->done;
