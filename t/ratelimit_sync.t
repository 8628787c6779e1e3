#!/usr/bin/perl

# octopus_ratelimit_zone ... sync=: two nginx nodes (two workers each)
# count in shared memory and merge with one real Redis every 100 ms.
# Under load from both nodes the passes of every window stay within the bound
# of docs/ngx_octopus_ratelimit_module.md (rate + (nodes - 1) x quota) and far
# above one node's share; far fewer Redis commands than requests; Redis frozen
# (SIGSTOP) and killed: answered at local speed, the per-node limit applies,
# counted as fallbacks; Redis back: shared again; bans counted in Redis; a
# reload keeps the counts; nginx -t refusals.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use Time::HiRes qw(time sleep);

my $t1 = Octopus::Test->new;
my $t2 = Octopus::Test->new;

my $redis = '127.0.0.1:' . $t1->redis_start;

my $conf = <<'EOF';
worker_processes 2;

http {
    octopus_ratelimit_redis %%RL_REDIS%% timeout=1s connect_timeout=500ms
                            prefix=octo:;

    octopus_ratelimit_zone hot   key=$http_x_key rate=100r/s sync=100ms;
    octopus_ratelimit_zone small key=$http_x_key rate=5r/s sync=100ms;
    octopus_ratelimit_zone share key=$http_x_key rate=5r/m sync=100ms;
    octopus_ratelimit_zone many  key=$http_x_key rate=1000r/m sync=1s;
    octopus_ratelimit_zone bz    key=$http_x_key rate=1r/m sync=100ms;
    octopus_ratelimit_ban zone=bz after=2 within=1m for=1h;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        # the decision's time: the rewrite phase runs just before it, on
        # the same cached clock
        set $decided $msec;

        add_header X-Decided $decided always;
        add_header X-RL-Result "$octopus_ratelimit_result" always;

        location /hot/ {
            octopus_ratelimit hot;
            proxy_pass http://%%BACKEND%%;
        }

        location /small/ {
            octopus_ratelimit small;
            proxy_pass http://%%BACKEND%%;
        }

        location /share/ {
            octopus_ratelimit share;
            proxy_pass http://%%BACKEND%%;
        }

        location /many/ {
            octopus_ratelimit many;
            proxy_pass http://%%BACKEND%%;
        }

        location /bz/ {
            octopus_ratelimit bz;
            proxy_pass http://%%BACKEND%%;
        }

        location /u/ {
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

for my $t ($t1, $t2) {
    # Redis frozen and killed on purpose below
    $t->allow_log(qr/octopus redis|octopus_ratelimit zone/);
}

$t1->run;
$t2->run;

my $p1 = $t1->port('http');
my $p2 = $t2->port('http');


# a load driver: threads with keep-alive connections on both nodes; passes
# counted per window of the decision's clock

my $driver = $t1->write_file('drive.py', <<'EOF');
import http.client, json, sys, threading, time

ports = [int(p) for p in sys.argv[1].split(',')]
path, key, secs, nthreads = sys.argv[2], sys.argv[3], float(sys.argv[4]), \
    int(sys.argv[5])
end = time.time() + secs
lock = threading.Lock()
out = {'requests': 0, 'errors': 0, 'windows': {}, 'nodes': [0] * len(ports)}

def run(i, port):
    c = None
    n = e = 0
    wins = {}
    while time.time() < end:
        try:
            if c is None:
                c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
            c.request('GET', path, headers={'X-Key': key})
            r = c.getresponse()
            r.read()
            n += 1
            if r.status == 200:
                w = int(float(r.getheader('X-Decided')))
                wins[w] = wins.get(w, 0) + 1
            elif r.status != 429:
                e += 1
        except Exception:
            e += 1
            c = None
    with lock:
        out['requests'] += n
        out['errors'] += e
        for w, k in wins.items():
            out['windows'][w] = out['windows'].get(w, 0) + k
            out['nodes'][i] += k

ts = [threading.Thread(target=run, args=(i, p))
      for i, p in enumerate(ports) for _ in range(nthreads)]
for x in ts: x.start()
for x in ts: x.join()
print(json.dumps(out))
EOF

sub drive {
    my ($ports, $path, $key, $secs, $threads) = @_;
    my ($rc, $out) = Octopus::Test::capture('/usr/bin/python3', $driver,
        join(',', @$ports), $path, $key, $secs, $threads);
    die "driver: $out" if $rc;
    return decode_json($out);
}

sub commands {
    my $info = $t1->redis_cmd('INFO', 'commandstats');
    my $n = 0;
    $n += $1 while $info =~ /^cmdstat_(?:evalsha|eval):calls=(\d+)/mg;
    return $n;
}

sub metrics {
    my ($t) = @_;
    my $r = $t->get('/metrics');
    my %m;
    while ($r->{body} =~ /^octopus_ratelimit_fallback_total
                          \{zone="([^"]*)",reason="(\w+)"\}\ (\d+)$/mgx) {
        $m{$1} += $3;
    }
    return \%m;
}

sub redis_cpu {
    my $pid = $t1->{procs}{redis} or return 0;
    open my $f, '<', "/proc/$pid/stat" or return 0;
    my @s = split ' ', <$f>;
    return ($s[13] + $s[14]) / 100;
}


# both nodes under load on one key: the global limit holds

my $cmd0 = commands();
my $cpu0 = redis_cpu();
my $r = drive([$p1, $p2], '/hot/x', 'k-hot', 4.5, 6);
my $cmds = commands() - $cmd0;
my $cpu = redis_cpu() - $cpu0;

my @w = sort { $a <=> $b } keys %{$r->{windows}};
shift @w; pop @w;    # the first and the last windows are partial

# rate 100r/s, sync 100ms: quota 10, two nodes: at most 100 + 10 a window
my $bound = 100 + (2 - 1) * 10;
my @passes = map { $r->{windows}{$_} } @w;

ok(@w >= 2, 'load: ' . scalar(@w) . ' whole windows');
ok($r->{requests} > 4 * 220, "load: $r->{requests} requests, beyond the rate");
is($r->{errors}, 0, 'load: every request answered 200 or 429');
ok(!grep({ $_ > $bound } @passes),
   "load: passes per window within $bound (@passes)");
ok(!grep({ $_ < 50 } @passes),
   "load: passes per window at least half the rate (@passes)");
ok($r->{nodes}[0] > 0 && $r->{nodes}[1] > 0,
   "load: both nodes pass ($r->{nodes}[0], $r->{nodes}[1])");

my $per = $cmds / $r->{requests};
ok($per < 0.25, sprintf('load: %d Redis commands for %d requests (%.4f '
                        . 'a request, %.2f us Redis CPU a request)',
                        $cmds, $r->{requests}, $per,
                        1e6 * $cpu / $r->{requests}));
my $m = metrics($t1);
is($m->{hot} // 0, 0, 'load: no fallback with Redis healthy');

my $keys = $t1->redis_cmd('KEYS', 'octo:{hot:k-hot}:s:*');
ok(ref $keys && @$keys >= 1 && @$keys <= 5,
   'load: one counter per window, expiring (' . scalar(@$keys) . ')');
my $ttl = $t1->redis_cmd('PTTL', $keys->[0]);
ok($ttl > 0 && $ttl <= 3200, "load: counters expire ($ttl ms)");


# sharing, one request at a time: node 1 spends the quota of 5r/m, node 2
# passes at most its quota (1) before its merge answers

sub statuses {
    my ($t, $path, $key, $n, $gap) = @_;
    my @s;
    for (1 .. $n) {
        push @s, $t->get($path, 'X-Key' => $key)->{status};
        sleep $gap if $gap;
    }
    return @s;
}

sub count { my $v = shift; scalar grep { $_ == $v } @_ }

# the quota is 1 (5r/m, 100ms): a request that comes before the merge of
# the previous one has been answered is held (429); try again until the
# rate is spent
sub spend {
    my ($t, $key, $n) = @_;
    my @s;
    for (1 .. 4 * $n) {
        push @s, $t->get('/share/x', 'X-Key' => $key)->{status};
        last if count(200, @s) == $n;
        sleep 0.05;
    }
    return @s;
}

sub shared {
    my ($key, $what) = @_;
    my @a = spend($t1, $key, 5);
    is(count(200, @a), 5, "$what: node 1 passes the rate (@a)");
    sleep 0.3;
    my @b = statuses($t2, '/share/x', $key, 5, 0.05);
    ok(count(200, @b) <= 1, "$what: node 2 then passes at most 1 (@b)");
    is(count(200, statuses($t1, '/share/x', $key, 2)), 0,
       "$what: node 1 limited too");
}

shared('s1', 'shared');


# more keys than one batch (256), each under its quota (17): merged by the
# timer's pass, which goes on a millisecond later until every key is done

my $nkeys = 400;
my $many = 0;
$many += $t1->get('/many/x', 'X-Key' => "m$_")->{status} == 200
    for 1 .. $nkeys;
is($many, $nkeys, "many keys: $nkeys keys pass once each");
my $merged;
ok($t1->wait_for(sub {
       $merged = $t1->redis_cmd('KEYS', 'octo:{many:m*}:s:*');
       ref $merged && @$merged == $nkeys }, 5),
   'many keys: every key merged (' . scalar(@{$merged || []}) . ')');
is($t1->redis_cmd('GET', $merged->[0]), 1, 'many keys: counted once');

# bans: every rejection counted in Redis, the ban read back by the others

my @bz = statuses($t1, '/bz/x', 'b1', 3, 0.02);
is_deeply(\@bz, [200, 429, 429], "ban: pass, then limited (@bz)");
ok($t1->wait_for(sub { $t1->get('/bz/x', 'X-Key' => 'b1')->{status} == 403 },
                 3), 'ban: the second rejection bans');
ok($t1->redis_cmd('PTTL', 'octo:{bz:b1}:b') > 0, 'ban: the marker in Redis');
my @b2;
ok($t2->wait_for(sub {
       push @b2, $t2->get('/bz/x', 'X-Key' => 'b1')->{status};
       $b2[-1] == 403 }, 3), 'ban: reaches node 2');
ok(count(200, @b2) <= 1, "ban: node 2 passed at most its quota (@b2)");


# Redis frozen: answered at local speed, the per-node limit, counted

$t1->redis_signal('STOP');

my $slow = 0;
my $fb = $t1->wait_for(sub {
    my $x = $t1->get('/small/x', 'X-Key' => 'f0');
    my $u = $t1->get('/u/x');
    $slow++ if $x->{elapsed} > 0.5 || $u->{elapsed} > 0.5;
    return ($x->{headers}{'x-rl-result'} // '') eq 'fallback';
}, 5);
ok($fb, 'frozen: the zone falls back to the per-node limit');
is($slow, 0, 'frozen: every request answered at once');

my @f = map { $t1->get('/small/x', 'X-Key' => 'f1') } 1 .. 12;
my $fpass = count(200, map { $_->{status} } @f);
ok($fpass >= 4 && $fpass <= 6,
   "frozen: the local limit applies ($fpass of 12 pass, rate 5r/s)");
ok(!grep({ $_->{elapsed} > 0.5 } @f), 'frozen: no request waits');
is($f[0]{headers}{'x-rl-result'}, 'fallback', 'frozen: result fallback');
$m = metrics($t1);
ok(($m->{small} // 0) >= 12, "frozen: counted ($m->{small} fallbacks)");
is($m->{share} // 0, 0, 'frozen: other zones not counted');
ok($t1->wait_for(sub {
       $t1->error_log =~ /decisions fell back/ }, 3), 'frozen: reported');

$t1->redis_signal('CONT');

ok($t1->wait_for(sub {
       my $x = $t1->get('/small/x', 'X-Key' => 'f2');
       ($x->{headers}{'x-rl-result'} // '') eq 'pass'
   }, 5), 'Redis back: merges resume');
ok($t2->wait_for(sub {
       my $x = $t2->get('/small/x', 'X-Key' => 'f2');
       ($x->{headers}{'x-rl-result'} // '') eq 'pass'
   }, 5), 'Redis back: node 2 too');
shared('s2', 'Redis back');


# Redis killed: the same; restarted (empty script cache): shared again

$t1->redis_kill;

$slow = 0;
ok($t1->wait_for(sub {
    my $x = $t1->get('/small/x', 'X-Key' => 'k0');
    $slow++ if $x->{elapsed} > 0.5;
    return ($x->{headers}{'x-rl-result'} // '') eq 'fallback';
}, 5), 'killed: per-node limit');
is($slow, 0, 'killed: answered at once');
my @k = statuses($t1, '/small/x', 'k1', 12);
ok(count(200, @k) >= 4 && count(200, @k) <= 6,
   'killed: the local limit applies (' . count(200, @k) . ' of 12)');

# node 2's zone fails too: after the restart its first merge must end it
ok($t2->wait_for(sub {
       ($t2->get('/share/x', 'X-Key' => 'k3')->{headers}{'x-rl-result'}
        // '') eq 'fallback' }, 5), 'killed: node 2 falls back too');

# a reload keeps what only this node's shared memory knows: passes counted
# while Redis is down
my @kr = spend($t1, 'kr', 5);
is(count(200, @kr), 5, 'killed: the rate spent on this node alone');
ok($t1->reload, 'killed: reload');
is($t1->get('/share/x', 'X-Key' => 'kr')->{status}, 429,
   'killed: still limited after the reload (shared memory kept)');

my $lines = () = $t1->error_log =~ /a merge with redis failed/g;
my $took = time - $^T;
ok($lines <= 2 * 4 * ($took + 1),
   "killed: merge failures logged at most once a second ($lines lines)");

$t1->redis_start;

ok($t1->wait_for(sub {
       ($t1->get('/small/x', 'X-Key' => 'k2')->{headers}{'x-rl-result'}
        // '') eq 'pass' }, 5), 'restarted: merges resume');
ok($t2->wait_for(sub {
       ($t2->get('/small/x', 'X-Key' => 'k2')->{headers}{'x-rl-result'}
        // '') eq 'pass' }, 5), 'restarted: node 2 too');
shared('s3', 'restarted');
ok($t1->redis_cmd('EXISTS', 'octo:{share:s3}:s:'
                  . (int(time() / 60) * 60000)) == 1
   || $t1->redis_cmd('EXISTS', 'octo:{share:s3}:s:'
                     . ((int(time() / 60) - 1) * 60000)) == 1,
   'restarted: merged with EVAL after NOSCRIPT');


# a reload keeps the counts (shared memory)

my @rl = spend($t1, 'r1', 5);
is(count(200, @rl), 5, 'reload: the rate spent');
ok($t1->reload, 'reload');
is($t1->get('/share/x', 'X-Key' => 'r1')->{status}, 429,
   'reload: still limited');


# nginx -t refusals

sub refused {
    my ($zone, $re, $what, $noredis) = @_;
    my $tpl = "http {\n"
        . ($noredis ? '' : "    octopus_ratelimit_redis $redis;\n")
        . "    $zone\n"
        . "    server { listen 127.0.0.1:%%PORT_t%%; }\n}\n";
    my ($ok, $out) = $t1->nginx_test($tpl);
    ok(!$ok, "nginx -t: $what refused");
    like($out, $re, "nginx -t: $what: the reason");
    like($out, qr/nginx-test\.conf:\d+/, "nginx -t: $what: file and line");
}

refused('octopus_ratelimit_zone z key=$uri rate=10r/s sync=100ms '
        . 'algorithm=gcra;',
        qr/"z": sync= needs algorithm=sliding_window/, 'gcra');
refused('octopus_ratelimit_zone z key=$uri rate=10r/s sync=5ms;',
        qr/invalid octopus_ratelimit_zone sync "5ms"/, 'sync=5ms');
refused('octopus_ratelimit_zone z key=$uri rate=10r/m sync=11s;',
        qr/invalid octopus_ratelimit_zone sync "11s"/, 'sync=11s');
refused('octopus_ratelimit_zone z key=$uri rate=10r/s sync=abc;',
        qr/invalid octopus_ratelimit_zone sync "abc"/, 'sync=abc');
refused('octopus_ratelimit_zone z key=$uri rate=10r/s sync=600ms;',
        qr/sync=600 ms is longer than half the period of rate= \(1000 ms\)/,
        'sync over half the period');
refused('octopus_ratelimit_zone z key=$uri rate=10r/s sync=100ms;',
        qr/"z": sync=100 ms needs octopus_ratelimit_redis/,
        'sync without Redis', 1);

my ($ok) = $t1->nginx_test("http {\n    octopus_ratelimit_redis $redis;\n"
    . "    octopus_ratelimit_zone z key=\$uri rate=10r/m sync=10s;\n"
    . "    server { listen 127.0.0.1:%%PORT_t%%; }\n}\n");
ok($ok, 'nginx -t: sync=10s with 10r/m accepted');

unlike($t1->error_log . $t2->error_log, qr/\[alert\]/, 'no [alert]');

$t2->stop;
$t2->check_error_log;
$t1->done;
