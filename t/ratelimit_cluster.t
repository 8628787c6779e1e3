#!/usr/bin/perl

# ngx_octopus_ratelimit_module with Redis Cluster: a real cluster on free
# loopback ports (3 primaries, 3 replicas, requirepass and masterauth),
# one set-up for the whole file.  nginx -t refuses bad cluster
# configurations; two nginx nodes share limits; the keys spread over the
# three primaries; a resharding mid-traffic (MOVED and ASK followed: every
# request answered 200 or 429, the limits stay shared); a primary SIGKILLed
# mid-traffic (the failure policy meanwhile, the limits shared again within
# a second of the replica's promotion); an unlimited location stays fast
# throughout; a wrong password (refused, not logged); a host name
# announced (skipped, not resolved).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);

my $REDIS = -x '/usr/bin/redis-server' ? '/usr/bin/redis-server' : undef;
plan skip_all => 'redis-server is not installed' unless $REDIS;
plan skip_all => 'redis-cli is not installed' unless -x '/usr/bin/redis-cli';

my $t1 = Octopus::Test->new;
my $t2 = Octopus::Test->new;

my $PASS = Octopus::Test::random_secret(24);
my $pass_file = $t1->write_file('redis.pass', "$PASS\n");
my @np = map { $t1->port("node$_") } 1 .. 6;   # and a bus port each

sub rcmd {
    my ($port, @args) = @_;
    local $ENV{REDISCLI_AUTH} = $PASS;
    my ($rc, $out) = Octopus::Test::capture('redis-cli', '-h', '127.0.0.1',
                                            '-p', $port, '--raw', @args);
    return $out;
}

# the hash slot, computed here independently of the module

sub crc16 {
    my $crc = 0;
    for my $c (unpack 'C*', $_[0]) {
        $crc ^= $c << 8;
        for (1 .. 8) {
            $crc = $crc & 0x8000 ? (($crc << 1) ^ 0x1021) & 0xffff
                                 : ($crc << 1) & 0xffff;
        }
    }
    return $crc;
}

sub key_slot { crc16("$_[0]:$_[1]") & 16383 }    # octo:{zone:key}:s<ms>

# a limit's window counters on one node (octo:{zone:key}:s<window start>)
sub state_keys {
    my ($port, $zone, $key) = @_;
    return grep { /^octo:\{\Q$zone:$key\E\}:s\d+$/ }
           split /\n/, rcmd($port, 'KEYS', "octo:{$zone:$key}:s*") // '';
}

# the cluster's view: { id => { port, primary, replica_of, slots => [[a,b]] } }

sub nodes {
    my ($port) = @_;
    my %n;
    for my $line (split /\n/, rcmd($port // $np[0], 'CLUSTER', 'NODES')) {
        my @f = split / /, $line;
        next unless @f >= 8 && $f[1] =~ /:(\d+)@/;
        my $p = $1;
        my $fail = $f[2] =~ /fail/ && $f[2] !~ /fail\?/;
        $n{$f[0]} = {
            id => $f[0], port => $p, fail => $fail,
            primary => ($f[2] =~ /master/ && !$fail) ? 1 : 0,
            replica_of => $f[3] eq '-' ? undef : $f[3],
            slots => [map { /^(\d+)(?:-(\d+))?$/ ? [$1, $2 // $1] : () }
                      @f[8 .. $#f]],
        };
    }
    return \%n;
}

sub owner_port {
    my ($slot, $n) = @_;
    for my $x (values %$n) {
        next unless $x->{primary};
        for my $r (@{$x->{slots}}) {
            return $x->{port} if $slot >= $r->[0] && $slot <= $r->[1];
        }
    }
    return undef;
}

# a fresh key of a zone whose slot one of these ranges holds

my $seq = 0;

sub key_in {
    my ($zone, $ranges) = @_;
    for (1 .. 100000) {
        my $k = 'k' . $seq++ . '-' . int(rand(1e9));
        my $s = key_slot($zone, $k);
        return $k if grep { $s >= $_->[0] && $s <= $_->[1] } @$ranges;
    }
    die 'no key found';
}

# the cluster

for my $i (1 .. 6) {
    my $dir = "$t1->{dir}/node$i";
    mkdir $dir;
    $t1->_spawn("node$i",
        [$REDIS, '--port', $np[$i - 1], '--bind', '127.0.0.1', '--save', '',
         '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
         '--protected-mode', 'no', '--logfile', "$dir/redis.log",
         '--cluster-enabled', 'yes',
         '--cluster-config-file', "$dir/nodes.conf",
         '--cluster-node-timeout', '1000',
         '--cluster-port', $t1->port("bus$i"),
         '--repl-diskless-sync-delay', '0',
         '--requirepass', $PASS, '--masterauth', $PASS],
        log => "$dir/stdout.log");
}

for my $p (@np) {
    $t1->wait_for(sub { (rcmd($p, 'PING') // '') =~ /PONG/ }, 10)
        or die "redis node $p did not start";
}

{
    local $ENV{REDISCLI_AUTH} = $PASS;
    my ($rc, $out) = Octopus::Test::capture('redis-cli', '--cluster',
        'create', (map { "127.0.0.1:$_" } @np), '--cluster-replicas', '1',
        '--cluster-yes');
    die "redis-cli --cluster create failed:\n$out" if $rc;
}

ok($t1->wait_for(sub {
    for my $p (@np) {
        return 0 unless rcmd($p, 'CLUSTER', 'INFO') =~ /cluster_state:ok/;
        my $n = nodes($p);
        return 0 unless 3 == grep { $_->{primary} && @{$_->{slots}} }
                              values %$n;
        return 0 unless 3 == grep { defined $_->{replica_of} } values %$n;
    }
    return 1;
}, 30), 'the cluster is up: 3 primaries, 3 replicas, every node agrees');

# a replica that never synced would not be promoted

ok($t1->wait_for(sub {
    3 == grep { rcmd($_, 'INFO', 'replication') =~ /master_link_status:up/ }
         @np
}, 30), 'every replica is in sync');

my $view = nodes();
my @primaries = sort { $a->{port} <=> $b->{port} }
                grep { $_->{primary} } values %$view;

# configuration errors at nginx -t, quoting the value, with file and line

my $seeds = join ',', map { "127.0.0.1:$_" } @np[0 .. 2];
my $at = qr/ in \S+nginx-test\.conf:\d+$/m;

my %bad = (
    "cluster=" =>
        qr/invalid redis cluster address "" in "cluster="$at/,
    "cluster=127.0.0.1:$np[0],,127.0.0.1:$np[1]" =>
        qr/invalid redis cluster address "" in "cluster=127\.0\.0\.1:$np[0],,/,
    "cluster=127.0.0.1:99999" =>
        qr/invalid redis cluster address "127\.0\.0\.1:99999" in "cluster=127\.0\.0\.1:99999"/,
    "cluster=no-such-host.invalid:7000" =>
        qr/invalid redis cluster address "no-such-host\.invalid:7000".*host not found/,
    "cluster=unix:/tmp/redis.sock" =>
        qr/invalid redis cluster address "unix:\/tmp\/redis\.sock" in "cluster=unix:\/tmp\/redis\.sock"$at/,
    "127.0.0.1:$np[0] cluster=$seeds" =>
        qr/"cluster=[^"]*": "cluster=" replaces the redis address and must come first, in place of "127\.0\.0\.1:$np[0]"$at/,
    "cluster=$seeds sentinel=127.0.0.1:26379 master=m" =>
        qr/"sentinel=127\.0\.0\.1:26379": "sentinel=" replaces the redis address and must come first, in place of "cluster=[^"]*"$at/,
    "sentinel=127.0.0.1:26379 master=m cluster=$seeds" =>
        qr/"cluster=[^"]*": "cluster=" replaces the redis address and must come first, in place of "sentinel=127\.0\.0\.1:26379"$at/,
    "cluster=$seeds db=1" =>
        qr/"db=1": a Redis Cluster has database 0 only, "db=" is refused with "cluster=[^"]*"$at/,
    "cluster=$seeds db=0" =>
        qr/"db=0": a Redis Cluster has database 0 only/,
    "cluster=$seeds master=m" =>
        qr/"master=m" needs "sentinel=" in place of the address "cluster=/,
    "cluster=$seeds password_file=/nonexistent" =>
        qr/open\(\) "\/nonexistent" failed/,
);

for my $args (sort keys %bad) {
    my ($ok, $out) = $t1->nginx_test(<<"EOF");
events { }
http {
    octopus_ratelimit_redis $args;
}
EOF
    ok(!$ok, "nginx -t refuses: $args");
    like($out, $bad{$args}, "nginx -t says why: $args");
}

my ($ok, $out) = $t1->nginx_test(<<"EOF");
events { }
http {
    octopus_ratelimit_redis cluster=$seeds,localhost:$np[3]
                            password_file=$pass_file timeout=50ms;
}
EOF
ok($ok, 'nginx -t accepts cluster= (a host name seed resolved now)')
    or diag($out);

# two nginx nodes, two workers each

my $conf = <<'EOF';
worker_processes 2;
http {
    octopus_ratelimit_redis cluster=%%SEEDS%% password_file=%%PASS%%
                            timeout=200ms connect_timeout=200ms prefix=octo:;
    octopus_ratelimit_redis_failure local;

    map $http_x_key $rl_key { default $http_x_key; }

    octopus_ratelimit_zone sw    key=$rl_key rate=10r/m;
    octopus_ratelimit_zone probe key=$rl_key rate=1000r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        add_header X-RL-Result "$octopus_ratelimit_result" always;

        location /sw/ {
            octopus_ratelimit sw;
            proxy_pass http://%%BACKEND%%;
        }

        location /probe/ {
            octopus_ratelimit probe;
            proxy_pass http://%%BACKEND%%;
        }

        location /free/ {
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_ratelimit_metrics;
        }
    }
}
EOF

$conf =~ s/%%SEEDS%%/$seeds/;
$conf =~ s/%%PASS%%/$pass_file/;
$t1->nginx_conf($conf);
$t2->nginx_conf($conf);
$t1->run;
$t2->run;

# a fresh key on node 1 then node 2: shared if both went through Redis and
# the second saw the first

sub probe {
    my ($key) = @_;
    $key //= 'p' . $seq++ . '-' . int(rand(1e9));
    my $a = $t1->get('/probe/x', 'X-Key' => $key);
    my $b = $t2->get('/probe/x', 'X-Key' => $key);
    my $shared = $a->{status} == 200 && $b->{status} == 200
        && ($a->{headers}{'x-rl-result'} // '') eq 'pass'
        && ($b->{headers}{'x-rl-result'} // '') eq 'pass'
        && ($a->{headers}{'ratelimit-remaining'} // -1) == 999
        && ($b->{headers}{'ratelimit-remaining'} // -1) == 998;
    return { a => $a, b => $b, key => $key, shared => $shared ? 1 : 0 };
}

ok($t1->wait_for(sub {
    for (1 .. 12) { return 0 unless probe()->{shared} }
    return 1;
}, 15), 'both nodes reach the cluster: limits shared');

my @workers = sort($t1->worker_pids, $t2->worker_pids);

my $s1 = [map { $t1->get('/sw/x', 'X-Key' => 'shared')->{status} } 1 .. 6];
my $s2 = [map { $t2->get('/sw/x', 'X-Key' => 'shared')->{status} } 1 .. 6];
is(scalar(grep { $_ == 200 } @$s1, @$s2), 10,
   'one global limit across two nodes: 10 passes out of 6 + 6');
is_deeply($s2, [200, 200, 200, 200, 429, 429],
          'the second node sees the first');

my $owner = owner_port(key_slot('sw', 'shared'), $view);
ok(scalar(state_keys($owner, 'sw', 'shared')),
   "the state is on its slot's primary ($owner)");

# keys spread over every primary: 30 keys each, found where they belong

for my $p (@primaries) {
    for (1 .. 30) {
        my $k = key_in('probe', $p->{slots});
        $t1->get('/probe/x', 'X-Key' => $k);
        $p->{keys}{$k} = 1;
    }
}

for my $p (@primaries) {
    my $found = grep { scalar(state_keys($p->{port}, 'probe', $_)) }
                keys %{$p->{keys}};
    is($found, 30, "primary $p->{port}: its 30 keys are there");
}

my $total = 0;
$total += (rcmd($_->{port}, 'DBSIZE') =~ /(\d+)/)[0] for @primaries;
ok($total >= 91, "every key written once, on a primary ($total keys)");

sub metric {
    my ($t, $reason) = @_;
    my $m = $t->get('/metrics')->{body} // '';
    my $n = 0;
    $n += $1 while $m =~ /^octopus_ratelimit_fallback_total\{[^}]*reason="$reason"\} (\d+)$/mg;
    return $n;
}

sub fallbacks {
    my $n = 0;
    for my $t ($t1, $t2) {
        $n += metric($t, $_) for qw(down timeout queue lost error);
    }
    return $n;
}

is(fallbacks(), 0, 'no fallback so far');

# traffic: load on a few keys of the slots that move, probes, the free
# location; returns what was seen

sub traffic {
    my (%a) = @_;

    my @loads = map {
        $t1->load_start(requests => 100000, concurrency => 1,
                        uri => '/probe/load',
                        headers => ['X-Key' => $_]),
        $t2->load_start(requests => 100000, concurrency => 1,
                        uri => '/probe/load',
                        headers => ['X-Key' => $_])
    } @{$a{load_keys}};

    my $t0 = time;
    $a{cause}->();

    my (%during, $free_max, $probes, $unshared);
    $free_max = 0;
    $probes = 0;
    $unshared = 0;

    while (time - $t0 < $a{max}) {
        my $f = $t2->get('/free/x');
        $free_max = $f->{elapsed} if $f->{elapsed} > $free_max;
        $during{"free $f->{status}"}++ unless $f->{status} == 200;

        my $p = probe(key_in('probe', $a{ranges}));
        $probes++;

        unless ($p->{shared}) {
            $unshared++;
            for my $r ($p->{a}, $p->{b}) {
                $during{($r->{headers}{'x-rl-result'} // '') . ' '
                        . $r->{status}}++;
            }
        }

        last if $a{until}->($p);
        sleep 0.01;
    }

    kill 'TERM', map { @{$_->{pids}} } @loads;
    my %st;
    for my $l (@loads) {
        my $c = $t1->load_wait($l);
        $st{$_} += $c->{$_} for keys %$c;
    }

    return { during => \%during, free_max => $free_max, load => \%st,
             probes => $probes, unshared => $unshared };
}

sub seen { my ($h) = @_; join ', ', map { "$_: $h->{$_}" } sort keys %$h }

# a resharding mid-traffic: 1000 slots of the first primary, live keys in
# them, to the second

my ($from, $to) = @primaries[0, 1];
my $moving = [[$from->{slots}[0][0], $from->{slots}[0][0] + 999]];
my @live = map { key_in('probe', $moving) } 1 .. 2;
my ($reshard, $reshard_rc);

my $r = traffic(
    load_keys => \@live,
    ranges => $moving,
    max => 60,
    cause => sub {
        $reshard = $t1->_spawn('reshard',
            ['redis-cli', '-a', $PASS, '--no-auth-warning', '--cluster',
             'reshard', "127.0.0.1:$np[0]", '--cluster-from', $from->{id},
             '--cluster-to', $to->{id}, '--cluster-slots', '1000',
             '--cluster-yes'],
            log => "$t1->{dir}/reshard.log");
    },
    until => sub {
        return 0 unless waitpid($reshard, WNOHANG) == $reshard;
        $reshard_rc = $?;
        delete $t1->{procs}{reshard};
        return 1;
    },
);

ok(!$t1->{procs}{reshard} && !$reshard_rc, "resharding done ($r->{probes} probes meanwhile)")
    or diag(`tail -5 $t1->{dir}/reshard.log`);
ok(owner_port($moving->[0][0], nodes()) == $to->{port}
   && owner_port($moving->[0][1], nodes()) == $to->{port},
   'the slots moved to the second primary');
is($r->{unshared}, 0, 'resharding: every probe through Redis, shared ('
   . seen($r->{during}) . ')');
ok(!grep({ $_ ne '200' && $_ ne '429' } keys %{$r->{load}}),
   'resharding: the load saw 200 and 429 only (' . seen($r->{load}) . ')');
ok($r->{load}{200}, 'resharding: the load went through');
ok($r->{free_max} < 0.5, sprintf('resharding: the unlimited location '
                                 . 'stayed fast (slowest %.3f s)',
                                 $r->{free_max}));
is(fallbacks(), 0, 'resharding: no fallback (MOVED, ASK, TRYAGAIN followed)');
my ($moved, $ask) = (0, 0);
for (($t1->error_log . $t2->error_log)
     =~ /followed since the last read: (\d+ MOVED, \d+ ASK)/g)
{
    /(\d+) MOVED, (\d+) ASK/;
    $moved += $1;
    $ask += $2;
}
ok($moved > 0, "resharding: MOVED followed ($moved)");
diag("resharding: $moved MOVED, $ask ASK followed");
ok(scalar(state_keys($to->{port}, 'probe', $live[0])),
   'the live key is on the new primary');

# ASK by hand: a limit's keys migrated, its slot not yet handed over.  The
# source answers ASK (the keys are gone) and the target, after ASKING,
# runs each of the window's single-key commands (a script whose other keys
# were missing would get TRYAGAIN, retried until the slot is the target's,
# 80 ms later); the request is answered from Redis

{
    my $n = nodes();
    my ($a, $b) = @primaries[1, 0];
    my $k = key_in('probe', $a->{slots});
    my $slot = key_slot('probe', $k);
    ok(probe($k)->{shared}, "ASK: a limit on slot $slot of $a->{port}");
    rcmd($b->{port}, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $a->{id});
    rcmd($a->{port}, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $b->{id});
    my @keys = state_keys($a->{port}, 'probe', $k);
    like(rcmd($a->{port}, 'MIGRATE', '127.0.0.1', $b->{port}, '', 0, 5000,
              'AUTH', $PASS, 'KEYS', @keys), qr/OK/,
         'ASK: its keys migrated (' . scalar(@keys) . ')');

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        sleep 0.08;
        rcmd($_, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $b->{id})
            for $b->{port}, $a->{port};
        POSIX::_exit(0);
    }

    my $r = $t1->get('/probe/x', 'X-Key' => $k);
    waitpid($pid, 0);
    is($r->{headers}{'x-rl-result'}, 'pass', 'ASK: answered through Redis');
    is($r->{headers}{'ratelimit-remaining'}, 997,
       'ASK: the migrated state counted');
    ok($r->{elapsed} < 1.0, sprintf('ASK: in %.3f s', $r->{elapsed}));
    ok($t1->wait_for(sub {
        $t1->error_log =~ /followed since the last read: \d+ MOVED, [1-9]\d* ASK, \d+ TRYAGAIN/
    }, 10), 'ASK: the ASK followed, logged with the map change');
}

is(fallbacks(), 0, 'still no fallback');

ok(probe(key_in('probe', $moving))->{shared}
   && probe(key_in('probe', $moving))->{shared},
   'after the resharding: limits shared on the moved slots');

# a primary SIGKILLed mid-traffic: the third one, untouched so far

my $victim = $primaries[2];
my ($replica) = grep { ($_->{replica_of} // '') eq $victim->{id} }
                values %{nodes()};
ok($replica, "primary $victim->{port} has a replica ($replica->{port})");
my ($vname) = grep { $t1->{procs}{$_} && $t1->port($_) == $victim->{port} }
              map { "node$_" } 1 .. 6;
my @vlive = map { key_in('probe', $victim->{slots}) } 1 .. 2;
my ($promoted_at, $shared_at, $killed_at);

$r = traffic(
    load_keys => \@vlive,
    ranges => $victim->{slots},
    max => 30,
    cause => sub {
        $t1->_stop_proc($vname, 'KILL');
        $killed_at = time;
    },
    until => sub {
        my ($p) = @_;
        $promoted_at //= time if rcmd($replica->{port}, 'ROLE') =~ /^master/;
        $shared_at = time if defined $promoted_at && $p->{shared};
        return defined $shared_at;
    },
);

ok(defined $promoted_at, sprintf('the replica was promoted (%.1f s after '
                                 . 'the kill)',
                                 ($promoted_at // time) - $killed_at));
ok(defined $shared_at, 'limits are shared again on its slots');
my $lag = defined $shared_at ? $shared_at - $promoted_at : 99;
ok($lag < 1.0, sprintf('shared again %.3f s after the promotion', $lag));
diag(sprintf('failover: promoted %.2f s after the kill, shared again '
             . '%.3f s after the promotion', $promoted_at - $killed_at, $lag))
    if defined $shared_at;
ok($r->{during}{'fallback 200'},
   'meanwhile the local failure policy applied (' . seen($r->{during}) . ')');
ok(!grep({ !/^(fallback|pass) 200$/ } keys %{$r->{during}}),
   'every probe passed, through Redis or the policy');
ok(!grep({ $_ ne '200' && $_ ne '429' } keys %{$r->{load}}),
   'failover: the load saw 200 and 429 only (' . seen($r->{load}) . ')');
ok($r->{free_max} < 0.5, sprintf('failover: the unlimited location stayed '
                                 . 'fast (slowest %.3f s)', $r->{free_max}));
ok(fallbacks() > 0, 'the fallbacks are counted (octopus_ratelimit_'
   . 'fallback_total)');

ok($t1->wait_for(sub {
    for (1 .. 6) { return 0 unless probe()->{shared} }
    return 1;
}, 10), 'after the failover: limits shared on every slot');

# a wrong password: AUTH refused, logged without the password

my $t3 = Octopus::Test->new;
my $wrong = $t3->write_file('redis.pass', "not-the-secret\n");
(my $conf3 = $conf) =~ s/^worker_processes 2;/worker_processes 1;/m;
$conf3 =~ s/password_file=\S+/password_file=$wrong/;
$t3->nginx_conf($conf3);
$t3->run;
ok($t3->wait_for(sub { $t3->error_log =~ /AUTH refused: WRONGPASS/ }, 10),
   'a wrong password: AUTH refused, logged');
is($t3->get('/probe/x', 'X-Key' => 'wrong')->{headers}{'x-rl-result'},
   'fallback', 'a wrong password: the failure policy applies');
unlike($t3->error_log, qr/not-the-secret|\Q$PASS\E/,
       'no password in error.log');
$t3->stop;
$t3->check_error_log;

# no seed answers: logged (once a second at most), the failure policy at
# once; a dead seed first in the list: the next one gives the map

my $t5 = Octopus::Test->new;
my $dead = $t5->port('dead');
(my $conf5 = $conf) =~ s/^worker_processes 2;/worker_processes 1;/m;
(my $conf6 = $conf5) =~ s/cluster=\S+/cluster=127.0.0.1:$dead/;
$t5->nginx_conf($conf6);
$t5->run;
ok($t5->wait_for(sub { $t5->error_log =~ /no node gave the slot map, asking again in 150 ms/ }, 10),
   'no seed answers: logged');
my $g = $t5->get('/probe/x', 'X-Key' => 'dead');
is($g->{headers}{'x-rl-result'}, 'fallback',
   'no seed answers: the failure policy applies');
ok($g->{elapsed} < 0.5, sprintf('no seed answers: at once (%.3f s)',
                                $g->{elapsed}));
sleep 1.2;
my $lines = () = $t5->error_log =~ /no node gave the slot map/g;
ok($lines <= 3, "no seed answers: not a line per try ($lines)");
$t5->stop;
$t5->check_error_log;

my $t6 = Octopus::Test->new;
$conf5 =~ s/cluster=\S+/cluster=127.0.0.1:$dead,127.0.0.1:$primaries[0]{port}/;
$t6->nginx_conf($conf5);
$t6->run;
ok($t6->wait_for(sub {
    ($t6->get('/probe/x', 'X-Key' => 'alive' . rand())->{headers}{'x-rl-result'} // '') eq 'pass'
}, 10), 'a dead seed first: the next one gives the map');
$t6->stop;
$t6->check_error_log;

# host names announced: skipped and logged, never resolved in a worker

my $alive = $primaries[0]{port};
rcmd($_, 'CONFIG', 'SET', 'cluster-announce-hostname',
     "node$_.cluster.invalid") for grep { $_ != $victim->{port} } @np;
rcmd($_, 'CONFIG', 'SET', 'cluster-preferred-endpoint-type', 'hostname')
    for grep { $_ != $victim->{port} } @np;
ok($t1->wait_for(sub { rcmd($alive, 'CLUSTER', 'SLOTS') =~ /\.invalid/ },
                 10), 'the cluster announces host names');

my $t4 = Octopus::Test->new;
(my $conf4 = $conf) =~ s/^worker_processes 2;/worker_processes 1;/m;
$conf4 =~ s/cluster=\S+/cluster=127.0.0.1:$alive/;
$t4->nginx_conf($conf4);
$t4->run;
ok($t4->wait_for(sub { $t4->error_log =~ /announces "node\d+\.cluster\.invalid" port \d+ for slots \d+-\d+, not a numeric address: skipped/ }, 10),
   'a host name announced: logged and skipped');
is($t4->get('/probe/x', 'X-Key' => 'named')->{headers}{'x-rl-result'},
   'fallback', 'a host name announced: the failure policy applies');
$t4->stop;
$t4->check_error_log;

rcmd($_, 'CONFIG', 'SET', 'cluster-preferred-endpoint-type', 'ip')
    for grep { $_ != $victim->{port} } @np;

# no reload happened: the same workers all along; the logs say what moved

my $log = $t1->error_log . $t2->error_log;
like($log, qr/octopus redis cluster=\S+: slot map from 127\.0\.0\.1:\d+: \d+ slots changed/,
     'the workers logged the slot map changes');
is_deeply([sort($t1->worker_pids, $t2->worker_pids)], \@workers,
          'no reload: the same workers all along');
unlike($log, qr/\Q$PASS\E/, 'no password in the nodes\' error.log');

# a reload: the new workers read the map again

ok($t1->reload, 'reload');
ok($t1->wait_for(sub { probe()->{shared} }, 10),
   'after a reload: limits shared again');

$t2->stop;
$t2->check_error_log;
$t1->done;
