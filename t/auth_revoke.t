#!/usr/bin/perl

# octopus_auth_revocation: two nginx nodes and one Redis.  A jti revoked
# with tools/octopus-revoke is refused on both nodes within a second; "log
# out everywhere" refuses the subject's older tokens (and one without iat)
# and accepts a newer one; an API key id revoked; an entry written to Redis
# without a message is applied by the periodic resync; entries expire by
# themselves; Redis killed: failure=keep (node 1) applies the last list and
# accepts new tokens, failure=closed (node 2) refuses with the reason;
# Redis back: both resync.  The metrics, the tool's --help and usage
# errors, nginx -t refusals.  Tokens are minted with PyJWT.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);

my @mods = (modules => [qw(ngx_octopus_auth_module)]);
my $n1 = Octopus::Test->new(@mods);
my $n2 = Octopus::Test->new(@mods);

my $rport = $n1->redis_start;
my $redis = "127.0.0.1:$rport";
my $secret = Octopus::Test::random_secret();
my $api_key = 'ok_' . Octopus::Test::random_secret();

my $conf = <<'EOF';
worker_processes 2;
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/hs.key;
    octopus_auth_api_keys %%PREFIX%%/api-keys;
    octopus_auth_revocation redis=%%RV_REDIS%% failure=%%FAILURE%%
                            prefix=rv: resync=1s timeout=300ms;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            octopus_auth any;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_auth_metrics;
        }
    }
}
EOF

my %failure = (1 => 'keep', 2 => 'closed');
my @nodes = ($n1, $n2);

for my $i (1, 2) {
    my $t = $nodes[$i - 1];
    $t->write_file('hs.key', "$secret\n");
    $t->write_file('api-keys', 'svc1 ' . sha256_hex($api_key) . " trader\n"
                               . 'svc2 ' . sha256_hex("$api_key-2")
                               . " trader\n");
    (my $c = $conf) =~ s/%%RV_REDIS%%/$redis/;
    $c =~ s/%%FAILURE%%/$failure{$i}/;
    $t->nginx_conf($c);
    $t->allow_log(qr/octopus revocation/);
    $t->run;
}

sub mint {
    my (%c) = @_;
    return Octopus::Test::mint_hs256($secret, encode_json(\%c));
}

# a token without iat: PyJWT directly (the harness adds one)
sub mint_no_iat {
    my (%c) = @_;
    $c{exp} = int(time) + 600;
    my ($rc, $out) = Octopus::Test::capture('/usr/bin/python3', '-c',
        'import jwt, sys, json; print(jwt.encode(json.loads(sys.argv[2]), '
        . 'sys.argv[1], algorithm="HS256", headers={"kid": "k1"}))',
        $secret, encode_json(\%c));
    die "PyJWT: $out" if $rc;
    my ($tok) = $out =~ /([^\n]+)\n?\z/;
    return $tok;
}

sub req {
    my ($t, %h) = @_;
    my @h;
    push @h, Authorization => "Bearer $h{token}" if $h{token};
    push @h, 'X-API-Key' => $h{key} if $h{key};
    return $t->get('/api/x', @h);
}

sub status { req(@_)->{status} }

sub metrics {
    my ($t) = @_;
    my $r = $t->get('/metrics');
    my %m;
    for (split /\n/, $r->{body} // '') {
        next if /^#/;
        $m{$1} = $2 if /^(\S+) (\S+)$/;
    }
    return \%m;
}

sub current { metrics($_[0])->{octopus_auth_revocation_current} // 0 }

sub revoke {
    my (@args) = @_;
    my ($rc, $out) = Octopus::Test::capture('tools/octopus-revoke', '--redis',
                                            $redis, '--prefix', 'rv:', @args);
    is($rc, 0, "octopus-revoke @args") or diag($out);
    return $out;
}

# both nodes until cond holds for each; the time it took
sub both_within {
    my ($limit, $cond) = @_;
    my $t0 = time;
    my $ok = $n1->wait_for(sub { $cond->($n1) && $cond->($n2) }, $limit + 2);
    return $ok ? time - $t0 : undef;
}

ok($n1->wait_for(sub { current($n1) && current($n2) }, 10),
   'both nodes subscribed and resynced');

my $now = int(time);

# a jti, on both nodes within a second

my $a = mint(sub => 'alice', jti => 'a1', iat => $now - 10);
my $b = mint(sub => 'bob', jti => 'b1');

is(status($_, token => $a), 200, 'token a1 accepted before') for @nodes;

my $out = revoke('jti', 'a1', '--exp', $now + 600);
like($out, qr/published to 2 subscribers/,
     'the message reached one subscriber per node');

my $took = both_within(1, sub { status($_[0], token => $a) == 401 });
ok(defined $took && $took < 1, 'jti a1 refused on both nodes within 1 s')
    or diag('took ' . ($took // 'forever'));
diag(sprintf 'jti revocation seen by both nodes after %.3f s', $took // -1);

my $r = req($n2, token => $a);
is($r->{status}, 401, 'revoked token: 401');
is($r->{json}{error}, 'invalid_token', 'error invalid_token');
is($r->{json}{reason}, 'token revoked', 'reason: token revoked');
like($r->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/,
     'WWW-Authenticate names invalid_token');
is(status($_, token => $b), 200, 'another token still accepted') for @nodes;

# log out everywhere

my $old = mint(sub => 'carol', jti => 'c-old', iat => $now - 20);
my $old2 = mint(sub => 'carol', jti => 'c-old2', iat => $now - 1);
my $noiat = mint_no_iat(sub => 'carol', jti => 'c-noiat');
is(status($n1, token => $noiat), 200, 'a token without iat is accepted');

revoke('sub', 'carol', '--before', $now - 3);

$took = both_within(1, sub { status($_[0], token => $old) == 401 });
ok(defined $took && $took < 1, "carol's old token refused on both nodes "
   . 'within 1 s');
$r = req($n1, token => $old);
is($r->{json}{reason}, 'token revoked (subject)', 'reason names the subject');
is(status($_, token => $old2), 200, 'a token issued after the time accepted')
    for @nodes;
is(status($_, token => $noiat), 401, 'a token without iat refused') for @nodes;
my $new = mint(sub => 'carol', jti => 'c-new');
is(status($_, token => $new), 200, 'a new token of carol accepted') for @nodes;
is(status($_, token => $b), 200, "bob's token accepted") for @nodes;

# an API key id

is(status($_, key => $api_key), 200, 'api key svc1 accepted') for @nodes;
revoke('key', 'svc1');
$took = both_within(1, sub { status($_[0], key => $api_key) == 401 });
ok(defined $took && $took < 1, 'key svc1 refused on both nodes within 1 s');
$r = req($n2, key => $api_key);
is($r->{json}{reason}, 'api key revoked', 'reason: api key revoked');
is(status($_, key => "$api_key-2"), 200, 'api key svc2 accepted') for @nodes;

# a message lost: written to Redis only, applied by the resync (1 s)

my $lost = mint(sub => 'dan', jti => 'lost1');
is(status($n1, token => $lost), 200, 'token lost1 accepted');
$n1->redis_cmd('ZADD', 'rv:jti', $now + 600, 'lost1');
$took = both_within(3, sub { status($_[0], token => $lost) == 401 });
ok(defined $took && $took < 2.5, 'entry written without a message applied '
   . 'by the periodic resync on both nodes')
    or diag('took ' . ($took // 'forever'));

# list and remove

$out = revoke('list');
like($out, qr/^jti\ta1\t/m, 'list shows jti a1');
like($out, qr/^sub\tcarol\tbefore /m, 'list shows sub carol');
like($out, qr/^key\tsvc1\texpires never/m, 'list shows key svc1');

revoke('remove', 'jti', 'a1');
$took = both_within(1, sub { status($_[0], token => $a) == 200 });
ok(defined $took && $took < 1, 'jti a1 removed: accepted again on both');

my ($rc, $o) = Octopus::Test::capture('tools/octopus-revoke', '--redis',
    $redis, '--prefix', 'rv:', 'remove', 'jti', 'a1');
is($rc >> 8, 1, 'removing an absent entry: exit 1');

# expiry: a jti entry with its token's exp, a sub entry with max lifetime

my $e = mint(sub => 'erin', jti => 'exp1');
revoke('jti', 'exp1', '--exp', int(time) + 2);
ok(both_within(1, sub { status($_[0], token => $e) == 401 }),
   'jti exp1 refused');
ok(both_within(4, sub { status($_[0], token => $e) == 200 }),
   'jti exp1 accepted again once its entry expired');

my $f = mint(sub => 'frank', jti => 'f1', iat => int(time) - 1);
revoke('--max-lifetime', '2', 'sub', 'frank');
ok(both_within(1, sub { status($_[0], token => $f) == 401 }),
   "frank's token refused");
ok(both_within(4, sub { status($_[0], token => $f) == 200 }),
   'sub entry expired at before + max lifetime');
revoke('jti', 'cleanup-trigger');
my $z = $n1->redis_cmd('ZRANGEBYSCORE', 'rv:sub', '-inf', '+inf');
ok(ref $z eq 'ARRAY' && !grep({ /frank/ } @$z) && grep({ /carol/ } @$z),
   'the tool deletes expired members from Redis (and keeps the others)');

# metrics

my $m = metrics($n1);
is($m->{'octopus_auth_revocations{type="key"}'}, 1, 'metrics: one key');
ok($m->{'octopus_auth_revocations{type="jti"}'} >= 1, 'metrics: jti entries');
ok($m->{'octopus_auth_revocation_refusals_total{reason="jti"}'} >= 1,
   'metrics: jti refusals counted');
ok($m->{'octopus_auth_revocation_refusals_total{reason="sub"}'} >= 1,
   'metrics: sub refusals counted');
ok($m->{'octopus_auth_revocation_refusals_total{reason="key"}'} >= 1,
   'metrics: key refusals counted');
ok(defined $m->{octopus_auth_revocation_resync_age_seconds}
   && $m->{octopus_auth_revocation_resync_age_seconds} >= 0
   && $m->{octopus_auth_revocation_resync_age_seconds} <= 2,
   'metrics: last resync age');

# malformed data: a bad member skipped (the others applied), a bad
# message makes the node resync

my $m1 = mint(sub => 'kim', jti => 'm1');
$n1->redis_cmd('ZADD', 'rv:sub', int(time) + 600, 'no-time-here');
$n1->redis_cmd('ZADD', 'rv:jti', int(time) + 600, 'm1');
ok(both_within(3, sub { status($_[0], token => $m1) == 401 }),
   'a malformed member skipped, the others applied');
ok($n1->wait_for(sub { $n1->error_log =~ /malformed members in rv:sub/ }, 3),
   'malformed member logged');
$n1->redis_cmd('ZREM', 'rv:sub', 'no-time-here');
$n1->redis_cmd('ZREM', 'rv:jti', 'm1');
$n1->redis_cmd('PUBLISH', 'rv:events', 'hello world');
ok(both_within(1, sub { status($_[0], token => $m1) == 200 }),
   'a malformed message: resynced at once');
like($n1->error_log, qr/malformed message on rv:events/,
     'malformed message logged');

# Redis alive but silent (SIGSTOP): the resync times out (timeout=300ms)

$n1->redis_signal('STOP');
my $ts = time;
ok($n2->wait_for(sub { status($n2, token => $b) == 401 }, 5),
   'closed: refused once the resync timed out');
my $silent = time - $ts;
diag(sprintf 'a silent Redis: failure=closed applied after %.3f s', $silent);
ok($silent < 2 * 1 + 1, 'within 2 x resync + 1 s');
is(status($n1, token => $b), 200, 'keep: accepted');
is(status($n1, key => $api_key), 401, 'keep: the list still applied');
$n1->redis_signal('CONT');
ok($n2->wait_for(sub { status($n2, token => $b) == 200 }, 5),
   'closed: accepted again once Redis answers');

# Redis killed

my $revoked = mint(sub => 'gina', jti => 'g1');
revoke('jti', 'g1');
ok(both_within(1, sub { status($_[0], token => $revoked) == 401 }),
   'g1 revoked before the outage');

$n1->redis_kill;
my $t0 = time;
ok($n2->wait_for(sub { status($n2, token => $b) == 401 }, 5),
   'closed: a valid token refused once Redis is gone');
diag(sprintf 'failure=closed applied after %.3f s', time - $t0);
ok(time - $t0 < 1, 'closed applies within 1 s of a connection loss');
$r = req($n2, token => $b);
is($r->{status}, 401, 'closed: 401');
is($r->{json}{reason}, 'revocation list unavailable',
   'closed: reason revocation list unavailable');
is($r->{json}{error}, 'unauthorized', 'closed: error unauthorized');
is(status($n2, key => "$api_key-2"), 401, 'closed: api keys refused too');
is(status($n1, token => $revoked), 401, 'keep: the last list still applied');
is(status($n1, token => mint(sub => 'hal', jti => 'h1')), 200,
   'keep: a new token accepted');
is(status($n1, key => $api_key), 401, 'keep: revoked key still refused');
is(metrics($_)->{octopus_auth_revocation_current}, 0,
   'metrics: not current') for @nodes;
ok(metrics($n2)->{'octopus_auth_revocation_refusals_total'
                  . '{reason="unavailable"}'} >= 1,
   'metrics: unavailable refusals counted');

# Redis back (empty: it keeps nothing on disk): the nodes resync

$n1->redis_start;
$n1->redis_cmd('ZADD', 'rv:jti', int(time) + 600, 'back1');
my $back = mint(sub => 'ivy', jti => 'back1');
$took = both_within(5, sub { current($_[0]) });
ok(defined $took, 'both nodes current again after Redis came back');
# written without a message, before or after the nodes resubscribed
ok(both_within(2.5, sub { status($_[0], token => $back) == 401 }),
   'an entry written while the nodes came back applied by a resync');
is(status($n2, token => $b), 200, 'closed: tokens accepted again');
is(status($_, token => $revoked), 200, "the list is Redis's: g1 gone with "
   . 'the old data') for @nodes;
revoke('jti', 'b1');
ok(both_within(1, sub { status($_[0], token => $b) == 401 }),
   'subscription works again: b1 refused within 1 s');

# a reload in failure=closed: the old worker 0 keeps the list current

ok($n2->reload, 'node 2 reloaded');
is(status($n2, token => $new), 200, 'closed: accepted right after a reload');
ok($n2->wait_for(sub { current($n2) }, 5), 'current after the reload');
revoke('jti', 'c-new');
ok(both_within(1, sub { status($_[0], token => $new) == 401 }),
   'the new worker 0 subscribed: c-new refused within 1 s');

# the workers killed: the master respawns worker 0, which subscribes again

my @old = $n1->worker_pids;
$n1->allow_log(qr/exited on signal 9/);
kill 'KILL', @old;
ok($n1->wait_for(sub {
       my @w = $n1->worker_pids;
       @w == 2 && !grep { my $o = $_; grep { $_ == $o } @w } @old }, 10),
   'node 1: both workers respawned');
is(status($n1, token => $b), 401, 'the list survived in the zone');
my $w = mint(sub => 'walt', jti => 'w1');
is(status($n1, token => $w), 200, 'w1 accepted');
revoke('jti', 'w1');
ok($n1->wait_for(sub { status($n1, token => $w) == 401 }, 1),
   'the respawned worker 0 subscribed: w1 refused within 1 s');

# a Redis with a password: AUTH on both connections (the tool's too)

my $n3 = Octopus::Test->new(@mods);
$n3->{redis_password} = Octopus::Test::random_secret();
my $r3 = '127.0.0.1:' . $n3->redis_start;
$n3->write_file('hs.key', "$secret\n");
$n3->write_file('api-keys', '');
my $pw = $n3->write_file('redis.pass', "$n3->{redis_password}\n");
my $bad = $n3->write_file('bad.pass', "wrong\n");
(my $c3 = $conf) =~ s/%%RV_REDIS%%/$r3 password_file=%%PREFIX%%\/redis.pass/;
$c3 =~ s/%%FAILURE%%/closed/;
$n3->nginx_conf($c3);
$n3->allow_log(qr/octopus revocation/);
$n3->run;
ok($n3->wait_for(sub { current($n3) }, 10),
   'password: subscribed and resynced');
my $p3 = mint(sub => 'jo', jti => 'p1');
is(status($n3, token => $p3), 200, 'password: token accepted');
my ($prc, $pout) = Octopus::Test::capture('tools/octopus-revoke', '--redis',
    $r3, '--prefix', 'rv:', '--password-file', $pw, 'jti', 'p1');
is($prc, 0, 'octopus-revoke --password-file') or diag($pout);
ok($n3->wait_for(sub { status($n3, token => $p3) == 401 }, 1),
   'password: p1 refused within 1 s');
($prc, $pout) = Octopus::Test::capture('tools/octopus-revoke', '--redis',
    $r3, '--password-file', $bad, 'list');
is($prc >> 8, 1, 'a wrong password: exit 1');
unlike($pout, qr/wrong/, 'the password is not printed');

(my $c4 = $c3) =~ s/redis\.pass/bad.pass/;
$n3->stop;
$n3->nginx_conf($c4);
$n3->run;
ok($n3->wait_for(sub { status($n3, token => $b) == 401 }, 5),
   'a wrong password: never current, closed refuses');
ok(!current($n3), 'a wrong password: not current');
ok($n3->wait_for(sub { $n3->error_log =~ /AUTH refused/ }, 5),
   'AUTH refusal logged');
unlike($n3->error_log, qr/\Q$n3->{redis_password}\E|wrong/,
       'no password in error.log');
$n3->stop;
$n3->check_error_log;

# a zone too small for the list: said, and not current

my $n4 = Octopus::Test->new(@mods);
$n4->write_file('hs.key', "$secret\n");
$n4->write_file('api-keys', '');
(my $c5 = $conf) =~ s/%%RV_REDIS%%/$redis zone=32k/;
$c5 =~ s/prefix=rv:/prefix=full:/;
$c5 =~ s/%%FAILURE%%/closed/;
$n1->redis_cmd('ZADD', 'full:jti',
               map { (int(time) + 600, sprintf('full-%05d-%s', $_, 'x' x 40)) }
               1 .. 2000);
$n4->nginx_conf($c5);
$n4->allow_log(qr/octopus revocation/);
$n4->run;
ok($n4->wait_for(sub { $n4->error_log =~ /the zone is full/ }, 5),
   'a full zone logged');
ok(!current($n4), 'a full zone: not current');
is(status($n4, token => $b), 401, 'a full zone with failure=closed refuses');
$n1->redis_cmd('DEL', 'full:jti');
ok($n4->wait_for(sub { current($n4) }, 5), 'current once the list fits');
is(status($n4, token => $b), 200, 'accepted again');
$n4->stop;
$n4->check_error_log;

# the tool

($rc, $o) = Octopus::Test::capture('tools/octopus-revoke', '--redis',
                                   '127.0.0.1:1', '--help');
is($rc, 0, 'octopus-revoke --help: exit 0');
like($o, qr/^usage: octopus-revoke/m, '--help prints the usage');
like($o, qr/Redis layout/, '--help describes the layout');
($rc, $o) = Octopus::Test::capture('tools/octopus-revoke', 'jti');
is($rc >> 8, 2, 'a missing argument: exit 2');
($rc, $o) = Octopus::Test::capture('tools/octopus-revoke', '--redis',
                                   '127.0.0.1:1', 'jti', 'x');
is($rc >> 8, 1, 'Redis unreachable: exit 1');
like($o, qr/cannot connect/, 'Redis unreachable: said');
($rc, $o) = Octopus::Test::capture('tools/octopus-revoke', 'jti', 'x',
                                   '--exp', 'tomorrow');
is($rc >> 8, 2, 'an invalid time: exit 2');

# nginx -t

my $tpl = <<'EOF';
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/hs.key;
    octopus_auth_revocation %%ARGS%%;
}
EOF

for my $case (
    [ 'redis=127.0.0.1:6379 failure=maybe', qr/"failure=maybe"/ ],
    [ 'redis=127.0.0.1:6379 resync=10ms', qr/"resync=10ms"/ ],
    [ 'redis=127.0.0.1:6379 zone=1k', qr/"zone=1k"/ ],
    [ 'redis=127.0.0.1:6379 colour=blue', qr/"colour=blue"/ ],
    [ 'redis=127.0.0.1:99999', qr/"127.0.0.1:99999"/ ],
    [ 'redis=sentinel=127.0.0.1 master=m', qr/Sentinel.*"redis=sentinel/ ],
    [ 'redis=cluster=127.0.0.1:7000,127.0.0.1:7001',
      qr/Cluster are not supported.*"redis=cluster=/ ],
    [ 'failure=closed', qr/needs "redis="/ ],
    [ 'redis=127.0.0.1 password_file=/nonexistent/pw', qr/nonexistent/ ],
    [ 'redis=127.0.0.1 redis=127.0.0.2', qr/duplicate "redis="/ ],
    [ "redis=127.0.0.1;\n    octopus_auth_revocation redis=127.0.0.1",
      qr/is duplicate/ ],
) {
    my ($args, $re) = @$case;
    (my $c = $tpl) =~ s/%%ARGS%%/$args/;
    my ($ok, $text) = $n1->nginx_test($c);
    ok(!$ok, "nginx -t refuses $args");
    like($text, $re, '... quoting the value');
    like($text, qr/nginx-test\.conf:\d+/, '... with file and line');
}

$n2->stop;
$n2->check_error_log;
$n1->done;
