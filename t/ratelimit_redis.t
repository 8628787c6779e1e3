#!/usr/bin/perl

# ngx_octopus_ratelimit_module with Redis (started by the harness): exact
# counts and headers, two nginx nodes sharing one Redis, GCRA, dry run,
# bans reaching another node and cached in shared memory, lockout across
# nodes, hash-tagged keys, the commands per limit, Redis restarted with an
# empty script cache, AUTH and SELECT.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my $t1 = Octopus::Test->new;
my $t2 = Octopus::Test->new;

my $redis = '127.0.0.1:' . $t1->redis_start;

my $conf = <<'EOF';
http {
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;

    octopus_ratelimit_redis %%RL_REDIS%% timeout=500ms connect_timeout=500ms
                            prefix=octo:;

    map $http_x_key $rl_key { default $http_x_key; }

    octopus_ratelimit_zone sw    key=$rl_key rate=10r/m;
    octopus_ratelimit_zone gcra  key=$rl_key rate=1r/s burst=3 algorithm=gcra;
    octopus_ratelimit_zone tight key=$rl_key rate=3r/m;
    octopus_ratelimit_zone ban   key=$rl_key rate=2r/m;
    octopus_ratelimit_ban zone=ban after=2 within=1m for=1h;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        add_header X-RL-Result "$octopus_ratelimit_result" always;
        add_header X-RL-Zone "$octopus_ratelimit_zone" always;
        add_header X-Login-User "$octopus_login_user" always;

        location /sw/ {
            octopus_ratelimit sw;
            proxy_pass http://%%BACKEND%%;
        }

        location /gcra/ {
            octopus_ratelimit gcra;
            proxy_pass http://%%BACKEND%%;
        }

        location /dry/ {
            octopus_ratelimit tight dry_run;
            proxy_pass http://%%BACKEND%%;
        }

        location /ban/ {
            octopus_ratelimit ban;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=5
                                      within=1m for=1h status=401;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

(my $c = $conf) =~ s/%%RL_REDIS%%/$redis/;
$t1->nginx_conf($c);
$t2->nginx_conf($c);
$t1->run;
$t2->run;

sub statuses {
    my ($t, $n, $uri, @h) = @_;
    return [map { $t->get($uri, @h)->{status} } 1 .. $n];
}

# exact counts through Redis

my @r = map { $t1->get('/sw/x', 'X-Key' => 'k1') } 1 .. 12;
is_deeply([map { $_->{status} } @r], [(200) x 10, 429, 429],
          'redis: 12 quick requests, 10 pass, 2 rejected');
is_deeply([map { $_->{headers}{'ratelimit-remaining'} } @r],
          [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0], 'redis: Remaining');
is($r[0]{headers}{'x-rl-result'}, 'pass', 'redis: result pass, no fallback');
is($r[11]{headers}{'x-rl-result'}, 'limited', 'redis: result limited');
is($r[0]{headers}{'ratelimit-limit'}, 10, 'redis: RateLimit-Limit');
is($r[0]{headers}{'ratelimit-policy'}, '"sw";q=10;w=60',
   'redis: RateLimit-Policy');
like($r[0]{headers}{'ratelimit'}, qr/^"sw";r=9;t=\d+$/, 'redis: RateLimit');
my $ra = $r[10]{headers}{'retry-after'} // 0;
ok($ra >= 1 && $ra <= 120, "redis: Retry-After ($ra)");

# hash-tagged keys with the prefix, expiring by themselves

# (a sliding window without a ban: one counter per fixed window,
# prefix{zone:key}:s<window start, ms>)

my $keys = $t1->redis_cmd('KEYS', 'octo:{sw:k1}:s*');
is(scalar @$keys, 1, 'one window counter: ' . join(' ', @$keys));
my ($win) = ($keys->[0] // '') =~ /:s(\d+)$/;
ok(defined $win && $win % 60000 == 0, 'named by its window start (ms)');
is($t1->redis_cmd('GET', $keys->[0] // 'none'), 10,
   'it holds the 10 passes: the 2 rejected requests were taken back');
my $ttl = $t1->redis_cmd('PTTL', $keys->[0] // 'none');
ok($ttl > 60000 && $ttl <= 120000, "the window counter expires ($ttl)");

# two nodes, one limit: 6 + 6 requests give 10 passes

my $s1 = statuses($t1, 6, '/sw/x', 'X-Key' => 'shared');
my $s2 = statuses($t2, 6, '/sw/x', 'X-Key' => 'shared');
is(scalar(grep { $_ == 200 } @$s1, @$s2), 10,
   'two nodes sharing Redis: 10 passes out of 6 + 6');
is_deeply($s2, [200, 200, 200, 200, 429, 429], 'the second node sees the first');

# a reload: the new workers open their own connection

ok($t1->reload, 'reload');
my $rl = $t1->get('/sw/x', 'X-Key' => 'k1');
is($rl->{status}, 429, 'after a reload: still limited');
is($rl->{headers}{'x-rl-result'}, 'limited', 'after a reload: through Redis');

# the sliding window: four native commands per limit per request, no
# script; a rejection adds DECR and PEXPIRE; a zone with a ban adds a PTTL
# of the ban key, and its rejections a strike script

sub cmdstats {
    my $info = $t1->redis_cmd('INFO', 'commandstats');
    my %c;
    $c{$1} = $2 while $info =~ /^cmdstat_(\w+):calls=(\d+)/mg;
    return \%c;
}

# (the rejections above took their counts back; nobody waits for those
# DECR + PEXPIRE, one write: once the count is back, both have run)
$t1->wait_for(sub {
    for my $k ('k1', 'shared') {
        my $w = $t1->redis_cmd('KEYS', "octo:{sw:$k}:s*");
        return 0 unless @$w == 1 && $t1->redis_cmd('GET', $w->[0]) == 10;
    }
    return 1;
}, 5);
$t1->redis_cmd('CONFIG', 'RESETSTAT');
statuses($t1, 5, '/sw/x', 'X-Key' => 'stat');
my $cs = cmdstats();
is_deeply([map { $cs->{$_} // 0 } qw(incr pexpire pexpiretime get evalsha
                                     eval decr)],
          [5, 5, 5, 5, 0, 0, 0],
          'INCR, PEXPIRE, PEXPIRETIME, GET per request, no script');

$t1->redis_cmd('CONFIG', 'RESETSTAT');
statuses($t1, 3, '/sw/x', 'X-Key' => 'k1');
$t1->wait_for(sub { (cmdstats()->{decr} // 0) >= 3 }, 5);
$cs = cmdstats();
is_deeply([map { $cs->{$_} // 0 } qw(incr get decr pexpire)], [3, 3, 3, 6],
          'each rejection takes its count back: DECR (and PEXPIRE)');
is($t1->redis_cmd('GET', $keys->[0] // 'none'), 10,
   'the count stays at 10 after 3 more rejections');

statuses($t1, 1, '/ban/x', 'X-Key' => 'stat');
$t1->redis_cmd('CONFIG', 'RESETSTAT');
statuses($t1, 1, '/ban/x', 'X-Key' => 'stat');
$cs = cmdstats();
is_deeply([map { $cs->{$_} // 0 } qw(incr pexpire pexpiretime get pttl evalsha
                                     eval)],
          [1, 1, 1, 1, 1, 0, 0],
          'a zone with a ban, a pass: the same and PTTL of the ban key');
$t1->redis_cmd('CONFIG', 'RESETSTAT');
is($t1->get('/ban/x', 'X-Key' => 'stat')->{status}, 429, 'a rejection');
$cs = cmdstats();
is($cs->{evalsha} // 0, 1,
   'a rejection in a zone with a ban: one strike script (EVALSHA)');
ok(($cs->{eval} // 0) <= 1, 'EVAL after NOSCRIPT, the first time only ('
   . ($cs->{eval} // 0) . ')');
is($t1->redis_cmd('GET', 'octo:{ban:stat}:n'), 1, 'one strike counted');

# GCRA on the Redis clock

is_deeply(statuses($t1, 6, '/gcra/x', 'X-Key' => 'g1'),
          [200, 200, 200, 200, 429, 429], 'redis GCRA: burst + 1 pass');
select(undef, undef, undef, 1.1);
is_deeply(statuses($t2, 2, '/gcra/x', 'X-Key' => 'g1'), [200, 429],
          'redis GCRA: one more per interval, on any node');

# dry run

my @d = map { $t1->get('/dry/x', 'X-Key' => 'd1') } 1 .. 5;
is_deeply([map { $_->{status} } @d], [(200) x 5], 'redis dry run: no 429');
is_deeply([map { $_->{headers}{'x-rl-result'} } @d],
          [qw(pass pass pass dry_run dry_run)], 'redis dry run reported');

# empty key

is_deeply(statuses($t1, 12, '/sw/x'), [(200) x 12], 'redis: empty key free');

# a ban reaches the other node, and is then served from shared memory

is_deeply(statuses($t1, 4, '/ban/x', 'X-Key' => 'b1'), [200, 200, 429, 403],
          'banned on the first node');
my $pttl = $t1->redis_cmd('PTTL', 'octo:{ban:b1}:b');
ok($pttl > 3500000, "ban stored in Redis with a TTL ($pttl)");
my $b = $t2->get('/ban/x', 'X-Key' => 'b1');
is($b->{status}, 403, 'the ban reaches the second node');
is($b->{headers}{'x-rl-result'}, 'banned', 'second node: result banned');
ok(($b->{headers}{'retry-after'} // 0) > 3500, 'banned: Retry-After');

# served from shared memory: Redis is asked again at most once a second
# and node (one request), whatever the flood

$t1->redis_cmd('CONFIG', 'RESETSTAT');
my $t0 = time;
my @still = map { $t2->get('/ban/x', 'X-Key' => 'b1')->{status} } 1 .. 50;
my $spent = time - $t0;
is_deeply(\@still, [(403) x 50], 'still banned');
my $info = $t1->redis_cmd('INFO', 'commandstats');
my ($asked) = $info =~ /cmdstat_pttl:calls=(\d+)/;
$asked //= 0;
ok($asked <= 1 + int($spent), "a cached ban: $asked Redis checks for 50 "
   . sprintf('requests in %.2f s (at most one a second)', $spent));
unlike($info, qr/cmdstat_evalsha/, '... and no strike');

# a ban lifted in Redis (DEL) is lifted on every node that cached it
# within a second, with no restart; one not lifted stands

is_deeply(statuses($t1, 4, '/ban/x', 'X-Key' => 'b2'), [200, 200, 429, 403],
          'b2 banned on the first node');
is($t2->get('/ban/x', 'X-Key' => 'b2')->{status}, 403,
   'b2: the second node caches it');
# every key of the client in the zone: the ban, its strikes, its windows
my $b2keys = $t1->redis_cmd('KEYS', 'octo:{ban:b2}:*');
ok(grep({ $_ eq 'octo:{ban:b2}:b' } @$b2keys), 'b2: its ban key found');
$t1->redis_cmd('DEL', @$b2keys);
my $lifted_at = time;
my $lifted = $t1->wait_for(sub {
    $t1->get('/ban/x', 'X-Key' => 'b2')->{status} != 403
        && $t2->get('/ban/x', 'X-Key' => 'b2')->{status} != 403
}, 5);
ok($lifted, sprintf('a ban deleted in Redis is lifted on both nodes '
                    . '(%.2f s)', time - $lifted_at));
is($t2->get('/ban/x', 'X-Key' => 'b1')->{status}, 403,
   'a ban not deleted still stands after the recheck');
ok(($t2->get('/ban/x', 'X-Key' => 'b1')->{headers}{'retry-after'} // 0)
   > 3500, '... with its true Retry-After');

# lockout across nodes, from different client addresses

sub login {
    my ($t, $user, $ip, $status) = @_;
    return $t->http(method => 'POST', uri => '/login',
                    body => qq({"username":"$user","password":"x"}),
                    headers => ['X-Forwarded-For' => $ip,
                                'X-Test-Status' => $status,
                                'Content-Type' => 'application/json']);
}

is(login($t1, 'carol', '10.1.0.1', 401)->{status}, 401, 'failure 1');
is(login($t2, 'carol', '10.1.0.2', 401)->{status}, 401, 'failure 2');
is(login($t1, 'carol', '10.1.0.3', 200)->{status}, 200, 'a success between');
is(login($t2, 'carol', '10.1.0.4', 401)->{status}, 401, 'failure 3');
is(login($t1, 'carol', '10.1.0.5', 401)->{status}, 401, 'failure 4');
is(login($t2, 'carol', '10.1.0.6', 401)->{status}, 401, 'failure 5');

my $lk = $t1->wait_for(sub {
    $t1->redis_cmd('PTTL', 'octo:{lockout:carol}:l') > 0
}, 5);
ok($lk, 'lock stored in Redis');

my $l = login($t1, 'carol', '10.1.0.7', 200);
is($l->{status}, 429, 'locked on the other node too');
is($l->{headers}{'x-rl-result'}, 'locked', 'result locked');
ok(($l->{headers}{'retry-after'} // 0) > 3500, 'locked: Retry-After');
ok(!defined $l->{json}, 'locked: upstream not reached');
is(login($t2, 'dave', '10.1.0.7', 200)->{status}, 200, 'other accounts pass');

# a lock lifted in Redis (DEL of the lock and the failure count) is lifted
# on the node that cached it within a second

is(login($t2, 'carol', '10.1.0.8', 200)->{status}, 429,
   'carol: the second node caches the lock');
$t1->redis_cmd('DEL', 'octo:{lockout:carol}:l', 'octo:{lockout:carol}:f');
my $unlocked = $t1->wait_for(sub {
    login($t1, 'carol', '10.1.0.9', 200)->{status} == 200
        && login($t2, 'carol', '10.1.0.9', 200)->{status} == 200
}, 5);
ok($unlocked, 'a lock deleted in Redis is lifted on both nodes');

# Redis restarted: script cache and data gone, limiting resumes by itself

$t1->redis_restart;

my $ok = $t1->wait_for(sub {
    my $r = $t1->get('/sw/x', 'X-Key' => 'after-restart');
    return ($r->{headers}{'x-rl-result'} // '') eq 'pass';
}, 10);
ok($ok, 'after a Redis restart limiting resumes through Redis');

my @after = map { $t1->get('/sw/x', 'X-Key' => 'restart2') } 1 .. 11;
is_deeply([map { $_->{status} } @after], [(200) x 10, 429],
          'after the restart: exact counts again');
is(scalar(grep { ($_->{headers}{'x-rl-result'} // '') eq 'fallback' }
          @after), 0, 'after the restart: no fallback');
is($t1->get('/gcra/x', 'X-Key' => 'after-restart')->{headers}{'x-rl-result'},
   'pass', 'GCRA (a script) after the restart');
like($t1->redis_cmd('INFO', 'commandstats'), qr/cmdstat_eval:calls=\d+/,
     'the empty script cache was refilled with EVAL');
unlike($t1->error_log, qr/redis error/, 'NOSCRIPT handled without error');

$t2->stop;

# AUTH (password_file) and SELECT (db=) on connect

my $t3 = Octopus::Test->new;
my $p3 = $t3->redis_start;
$t3->redis_cmd('CONFIG', 'SET', 'requirepass', 's3cret pass');
$t3->write_file('redis.pass', "s3cret pass\n");

$t3->nginx_conf(<<"EOF");
http {
    octopus_ratelimit_redis 127.0.0.1:$p3 db=3 timeout=500ms
                            password_file=%%PREFIX%%/redis.pass;
    octopus_ratelimit_zone sw key=\$http_x_key rate=10r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        add_header X-RL-Result "\$octopus_ratelimit_result" always;

        location / {
            octopus_ratelimit sw;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t3->run;

my $a = $t3->get('/x', 'X-Key' => 'auth');
is($a->{headers}{'x-rl-result'}, 'pass', 'AUTH with password_file');
is($a->{headers}{'ratelimit-remaining'}, 9, 'counted in Redis');
unlike($t3->error_log, qr/s3cret/, 'the password is never logged');

# the key went to db 3: AUTH, SELECT 3, PTTL on one connection

{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p3", Timeout => 2)
        or die "redis: $!";
    my $req = '';
    for my $cmd (['AUTH', 's3cret pass'], ['SELECT', '3'],
                 ['EVAL', "local k = redis.call('KEYS', "
                          . "'octopus:rl:{sw:auth}:s*')[1] "
                          . "return k and redis.call('PTTL', k) or -2", '0'])
    {
        $req .= '*' . @$cmd . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @$cmd;
    }
    print $s $req;
    my $buf = '';
    my $sel = IO::Select->new($s);
    while ($buf !~ /\A\+OK\r\n\+OK\r\n:-?\d+\r\n/) {
        last unless $sel->can_read(2) && sysread($s, $buf, 4096, length $buf);
    }
    my ($pttl) = $buf =~ /\A\+OK\r\n\+OK\r\n:(-?\d+)\r\n/;
    ok(defined $pttl && $pttl > 0,
       'SELECT db=3: the state key is in db 3 (' . ($pttl // 'none') . ')');
}
$t3->stop;
$t3->check_error_log;

# a wrong password: Redis refuses, the failure policy applies, the
# password stays out of the log

my $t5 = Octopus::Test->new;
$t5->write_file('redis.pass', "bad-pa55word-xyz\n");
$t5->nginx_conf(<<"EOF");
http {
    octopus_ratelimit_redis 127.0.0.1:$p3 timeout=500ms
                            password_file=%%PREFIX%%/redis.pass;
    octopus_ratelimit_zone sw key=\$http_x_key rate=2r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        add_header X-RL-Result "\$octopus_ratelimit_result" always;

        location / {
            octopus_ratelimit sw;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t5->allow_log(qr/octopus redis/);
$t5->run;

my @w = map { $t5->get('/x', 'X-Key' => 'wrongpass') } 1 .. 3;
is_deeply([map { $_->{status} } @w], [200, 200, 429],
          'AUTH refused: limited locally');
is($w[0]{headers}{'x-rl-result'}, 'fallback', 'AUTH refused: fallback');
like($t5->error_log, qr/AUTH refused/, 'AUTH refusal logged');
unlike($t5->error_log, qr/pa55word/, 'without the password');
$t5->stop;
$t5->check_error_log;

# a Redis on a unix socket

my $t4 = Octopus::Test->new;
my $sock = "$t4->{dir}/redis.sock";
# named "redis" so that the harness stops it with the rest
$t4->_spawn('redis',
    ['/usr/bin/redis-server', '--port', '0', '--unixsocket', $sock,
     '--unixsocketperm', '777', '--save', '', '--appendonly', 'no',
     '--dir', $t4->{dir}, '--daemonize', 'no',
     '--logfile', "$t4->{dir}/redis-unix.log"],
    log => "$t4->{dir}/redis-unix.out");
ok($t4->wait_for(sub { -S $sock }, 10), 'redis on a unix socket');

$t4->nginx_conf(<<"EOF");
http {
    octopus_ratelimit_redis unix:$sock timeout=500ms;
    octopus_ratelimit_zone sw key=\$http_x_key rate=2r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        add_header X-RL-Result "\$octopus_ratelimit_result" always;

        location / {
            octopus_ratelimit sw;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t4->run;

my @u = map { $t4->get('/x', 'X-Key' => 'unix') } 1 .. 3;
is_deeply([map { $_->{status} } @u], [200, 200, 429], 'unix socket: limits');
is($u[0]{headers}{'x-rl-result'}, 'pass', 'unix socket: through Redis');
$t4->stop;
$t4->check_error_log;

$t1->done;
