#!/usr/bin/perl

# The sliding window in Redis without a script (a zone without a ban): one
# counter per fixed window, INCR / PEXPIRE / PEXPIRETIME / GET pipelined,
# rejected requests taken back with DECR.  Concurrent requests from two
# nginx nodes (two workers each) never pass more than the rate, also in
# a zone with a ban (PTTL of the ban key, a strike script per rejection:
# the after-th rejection bans on every node); a node
# whose clock is 90 s off still counts in Redis's window (it is told by
# PEXPIRETIME and sends again); state written by the old script (the :w
# hash) is not read: a fresh window, once; a Redis without PEXPIRETIME
# (before 7.0) is an error reply: the failure policy, logged and counted.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $t1 = Octopus::Test->new;
my $t2 = Octopus::Test->new;

my $redis = '127.0.0.1:' . $t1->redis_start;

my $conf = <<'EOF';
worker_processes 2;

http {
    octopus_ratelimit_redis %%RL_REDIS%% timeout=500ms connect_timeout=500ms
                            prefix=octo:;

    octopus_ratelimit_zone hour key=$http_x_key rate=50r/h;
    octopus_ratelimit_zone min  key=$http_x_key rate=10r/m;
    octopus_ratelimit_zone ban  key=$http_x_key rate=5r/h;
    octopus_ratelimit_ban zone=ban after=20 within=1h for=1h;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        add_header X-RL-Result "$octopus_ratelimit_result" always;

        location /hour/ {
            octopus_ratelimit hour;
            proxy_pass http://%%BACKEND%%;
        }

        location /min/ {
            octopus_ratelimit min;
            proxy_pass http://%%BACKEND%%;
        }

        location /ban/ {
            octopus_ratelimit ban;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_ratelimit_metrics;
        }
    }
}
EOF
(my $c = $conf) =~ s/%%RL_REDIS%%/$redis/;
$t1->nginx_conf($c);
$t2->nginx_conf($c);
$t1->run;
$t2->run;

sub cmdstats {
    my $info = $t1->redis_cmd('INFO', 'commandstats');
    my %c;
    $c{$1} = $2 while $info =~ /^cmdstat_(\w+):calls=(\d+)/mg;
    return \%c;
}

sub window_key {
    my ($zone, $key) = @_;
    my $k = $t1->redis_cmd('KEYS', "octo:{$zone:$key}:s*");
    return wantarray ? @$k : $k->[0];
}

# 400 requests at once on one key, 8 clients on each of two nodes (two
# workers each): exactly the rate passes, the counter ends at the rate

$t1->redis_cmd('CONFIG', 'RESETSTAT');
my @h = (uri => '/hour/x', headers => ['X-Key' => 'race']);
my $l1 = $t1->load_start(requests => 200, concurrency => 8, @h);
my $l2 = $t2->load_start(requests => 200, concurrency => 8, @h);
my $c1 = $t1->load_wait($l1);
my $c2 = $t2->load_wait($l2);
my $pass = ($c1->{200} // 0) + ($c2->{200} // 0);
my $limited = ($c1->{429} // 0) + ($c2->{429} // 0);
is($pass, 50, "two nodes, 16 concurrent clients: 50 of 400 pass ($pass)");
is($limited, 350, "the other 350 are limited ($limited)");
ok(($c1->{200} // 0) > 0 && ($c2->{200} // 0) > 0,
   "both nodes passed some (@{[$c1->{200} // 0]} + @{[$c2->{200} // 0]})");

my @wk = window_key('hour', 'race');
is(scalar @wk, 1, 'one window counter');
ok($t1->wait_for(sub { ($t1->redis_cmd('GET', $wk[0]) // 0) == 50 }, 5),
   'every rejection was taken back: the counter is at 50 ('
   . ($t1->redis_cmd('GET', $wk[0]) // 'none') . ')');
my $cs = cmdstats();
is($cs->{decr} // 0, 350, 'one DECR per rejection');
ok(!$cs->{evalsha} && !$cs->{eval}, 'no script');
is($t1->get('/hour/x', 'X-Key' => 'race')->{status}, 429,
   'still limited afterwards');

# a zone with a ban, 200 requests at once from the two nodes: 5 pass, the
# 20th rejection bans the key on every node (strikes counted by the strike
# script), later ones are answered 403

my @hb = (uri => '/ban/x', headers => ['X-Key' => 'raceban']);
$l1 = $t1->load_start(requests => 100, concurrency => 8, @hb);
$l2 = $t2->load_start(requests => 100, concurrency => 8, @hb);
$c1 = $t1->load_wait($l1);
$c2 = $t2->load_wait($l2);
my %all;
$all{$_} += $c1->{$_} for keys %$c1;
$all{$_} += $c2->{$_} for keys %$c2;
is($all{200} // 0, 5, 'a zone with a ban, 200 requests at once: 5 pass');
# (the 20th strike answers 403; a rejection whose window commands ran
# before the ban and its strike after answers 429)
ok(($all{429} // 0) >= 19 && ($all{403} // 0) > 0
   && ($all{429} // 0) + ($all{403} // 0) == 195,
   'rejected 19 times at least, then banned ('
   . join(', ', map { "$_: $all{$_}" } sort keys %all) . ')');
ok($t1->redis_cmd('PTTL', 'octo:{ban:raceban}:b') > 3500000,
   'the ban is in Redis');
is($t2->get('/ban/x', 'X-Key' => 'raceban')->{status}, 403,
   'banned on both nodes');
my @bk = window_key('ban', 'raceban');
ok($t1->wait_for(sub { ($t1->redis_cmd('GET', $bk[0] // 'none') // 0) == 5 },
                 5), 'the window counter ends at the 5 passes');

# the old script's state (a hash at prefix{zone:key}:w) is not read: an
# upgrade starts a fresh window once, the hash expires by its TTL

my $now = $t1->redis_cmd('TIME');
my $win = int($now->[0] / 3600) * 3600000;
$t1->redis_cmd('HSET', 'octo:{hour:old}:w', 'w', $win, 'c', 50, 'p', 0);
$t1->redis_cmd('PEXPIRE', 'octo:{hour:old}:w', 7200000);
my $u = $t1->get('/hour/x', 'X-Key' => 'old');
is($u->{status}, 200, 'a key the old script had filled: a fresh window');
is($u->{headers}{'ratelimit-remaining'}, 49, 'counted from zero');
is($t1->redis_cmd('HGET', 'octo:{hour:old}:w', 'c'), 50,
   'the old hash is left as it was');
ok($t1->redis_cmd('PTTL', 'octo:{hour:old}:w') > 0, 'and expires by itself');

# a node whose clock is 90 s ahead (libfaketime): its first guess is
# another minute, Redis's clock says which window it is in, the count is
# taken back and sent again; both nodes share one window

SKIP: {
    my $ft = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
    skip 'libfaketime is not installed (apt-get install libfaketime)', 7
        unless -e $ft;
    # libfaketime's start-up and ASan's interceptors deadlock (futex) in
    # the process that has both preloaded
    skip 'libfaketime and ASan do not load together', 7
        if $ENV{OCTOPUS_SANITIZE};

    my $t3 = Octopus::Test->new(env => {
        LD_PRELOAD => $ft, FAKETIME => '+90s',
        FAKETIME_DONT_FAKE_MONOTONIC => 1 });
    $t3->nginx_conf($c);
    $t3->run;

    # not across a minute's end (Redis's clock): the counts below are of
    # one window
    $t1->wait_for(sub { $t1->redis_cmd('TIME')->[0] % 60 < 55 }, 10);

    $t1->redis_cmd('CONFIG', 'RESETSTAT');
    my $d = $t3->get('/min/x', 'X-Key' => 'probe');
    my $skew = ($d->{headers}{date} // '');
    is($d->{headers}{'x-rl-result'}, 'pass',
       "the skewed node's first request passes through Redis (Date: $skew)");
    my @s3 = map { $t3->get('/min/x', 'X-Key' => 'skew') } 1 .. 6;
    my @s1 = map { $t1->get('/min/x', 'X-Key' => 'skew') } 1 .. 6;
    my @st = map { $_->{status} } @s3, @s1;
    is(scalar(grep { $_ == 200 } @st), 10,
       'a node 90 s ahead and a node on time: 10 of 6 + 6 pass');
    is_deeply([map { $_->{status} } @s1], [200, 200, 200, 200, 429, 429],
              'the node on time sees the skewed one\'s count');
    is(scalar(grep { ($_->{headers}{'x-rl-result'} // '') eq 'fallback' }
              @s3, @s1), 0, 'no fallback');
    # (a window counted by mistake and taken back holds 0 until its TTL)
    my @k = grep { $t1->redis_cmd('GET', $_) != 0 } window_key('min', 'skew');
    my $rwin = int($t1->redis_cmd('TIME')->[0] / 60) * 60000;
    is("@k", "octo:{min:skew}:s$rwin",
       'one window counter holds the count: the minute of Redis\'s clock');

    # the skewed node's first request went to the wrong minute (its
    # worker knew no offset yet) and was sent again: the 2 rejections and
    # at least that one taken back, the 11 passes stay counted
    my $cs = cmdstats();
    ok(($cs->{decr} // 0) >= 3, 'a wrong window taken back (DECR '
       . ($cs->{decr} // 0) . ': 2 rejections and the redone windows)');
    is(($cs->{incr} // 0) - ($cs->{decr} // 0), 11,
       'INCR less DECR: exactly the 11 passes stay counted ('
       . ($cs->{incr} // 0) . ' - ' . ($cs->{decr} // 0) . ')');
    $t3->stop;
    $t3->check_error_log;
}

# Redis without PEXPIRETIME (before 7.0): an error reply, the failure
# policy (local: this node's shared memory), logged and counted

{
    my $t4 = Octopus::Test->new;
    my $port = $t4->port('redis');
    $t4->_spawn('redis',
        ['/usr/bin/redis-server', '--port', $port, '--bind', '127.0.0.1',
         '--save', '', '--appendonly', 'no', '--daemonize', 'no',
         '--dir', "$t4->{dir}/tmp",
         '--rename-command', 'PEXPIRETIME', '""']);
    $t4->wait_for(sub { eval { $t4->redis_cmd('PING') } }, 10);
    (my $c4 = $conf) =~ s/%%RL_REDIS%%/127.0.0.1:$port/;
    $t4->nginx_conf($c4);
    $t4->run;

    my $r = $t4->get('/min/x', 'X-Key' => 'old-redis');
    is($r->{status}, 200, 'no PEXPIRETIME: the request passes (local)');
    is($r->{headers}{'x-rl-result'}, 'fallback', 'through the fallback');
    like($t4->error_log, qr/redis error: ERR unknown command/,
         'the error is logged');
    like($t4->get('/metrics')->{body},
         qr/octopus_ratelimit_fallback_total\{zone="min",reason="error"\} 1/,
         'and counted (reason error)');
    $t4->allow_log(qr/redis error: ERR unknown command/);
    $t4->stop;
    $t4->check_error_log;
}

$t1->stop;
$t2->stop;
$t1->check_error_log;
$t2->check_error_log;

done_testing;
