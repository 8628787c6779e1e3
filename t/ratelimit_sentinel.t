#!/usr/bin/perl

# ngx_octopus_ratelimit_module with Redis Sentinel: a real set-up on free
# loopback ports (a primary, a replica, three sentinels).  nginx -t refuses
# bad sentinel configurations; two nginx nodes share limits through the
# primary the sentinels name; the primary SIGKILLed mid-traffic: during the
# failover the failure policy applies (local), after it the limits are
# shared again through the promoted replica within a second of the first
# +switch-master, without a reload; an unlimited location stays fast
# throughout; then a manual SENTINEL FAILOVER back to the restarted old
# primary (the demoted server is still up: only +switch-master tells).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use POSIX ();

my $REDIS = -x '/usr/bin/redis-server' ? '/usr/bin/redis-server' : undef;
plan skip_all => 'redis-server is not installed' unless $REDIS;

my $t1 = Octopus::Test->new;
my $t2 = Octopus::Test->new;

# the Sentinel set-up, started by $t1 (stopped with it)

my $pp = $t1->port('primary');
my $rp = $t1->port('replica');
my @sp = map { $t1->port("sentinel$_") } 1 .. 3;

sub rcmd {
    my ($port, @args) = @_;
    my ($rc, $out) = Octopus::Test::capture('redis-cli', '-h', '127.0.0.1',
                                            '-p', $port, '--raw', @args);
    return $out;
}

sub redis_node {
    my ($name, $port, @extra) = @_;
    my $dir = "$t1->{dir}/$name";
    mkdir $dir;
    $t1->_spawn($name,
        [$REDIS, '--port', $port, '--bind', '127.0.0.1', '--save', '',
         '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
         '--protected-mode', 'no', '--logfile', "$dir/redis.log",
         # a replica syncs at once, not after the default 5 s wait for
         # other replicas to share the transfer
         '--repl-diskless-sync-delay', '0', @extra],
        log => "$dir/stdout.log");
    $t1->wait_for(sub { (rcmd($port, 'PING') // '') =~ /PONG/ }, 10)
        or die "redis $name did not start";
}

sub sentinel_node {
    my ($i) = @_;
    my $dir = "$t1->{dir}/sentinel$i";
    mkdir $dir;
    my $conf = $t1->write_file("sentinel$i/sentinel.conf", <<"EOF");
port $sp[$i - 1]
bind 127.0.0.1
protected-mode no
daemonize no
dir $dir
logfile $dir/sentinel.log
sentinel monitor octopus 127.0.0.1 $pp 2
sentinel down-after-milliseconds octopus 1000
sentinel failover-timeout octopus 3000
sentinel parallel-syncs octopus 1
EOF
    $t1->_spawn("sentinel$i", [$REDIS, $conf, '--sentinel'],
                log => "$dir/stdout.log");
    $t1->wait_for(sub { (rcmd($sp[$i - 1], 'PING') // '') =~ /PONG/ }, 10)
        or die "sentinel $i did not start";
}

redis_node('primary', $pp);
redis_node('replica', $rp, '--replicaof', '127.0.0.1', $pp);
sentinel_node($_) for 1 .. 3;

ok($t1->wait_for(sub {
    rcmd($rp, 'INFO', 'replication') =~ /master_link_status:up/
}, 10), 'the replica is in sync');

# every sentinel knows the replica and the two other sentinels

ok($t1->wait_for(sub {
    for my $s (@sp) {
        return 0 unless rcmd($s, 'SENTINEL', 'replicas', 'octopus')
                        =~ /\b$rp\b/;
        my $o = rcmd($s, 'SENTINEL', 'sentinels', 'octopus');
        my $n = () = $o =~ /^runid$/mg;
        return 0 unless $n == 2;
    }
    return 1;
}, 20), 'three sentinels see each other and the replica');

# configuration errors at nginx -t, quoting the value, with file and line

my $sentinels = join ',', map { "127.0.0.1:$_" } @sp;

my %bad = (
    "sentinel=$sentinels" =>
        qr/"sentinel=[^"]*" needs "master=".* in \S+nginx-test\.conf:\d+$/m,
    "sentinel=127.0.0.1:99999 master=octopus" =>
        qr/invalid redis sentinel address "127\.0\.0\.1:99999" in "sentinel=127\.0\.0\.1:99999".* in \S+nginx-test\.conf:\d+$/m,
    "sentinel=127.0.0.1:$sp[0],,127.0.0.1:$sp[1] master=octopus" =>
        qr/invalid redis sentinel address "" in/,
    "sentinel= master=octopus" =>
        qr/invalid redis sentinel address "" in "sentinel="/,
    "sentinel=unix:/tmp/s.sock master=octopus" =>
        qr/invalid redis sentinel address "unix:\/tmp\/s\.sock"/,
    "127.0.0.1:$pp sentinel=$sentinels master=octopus" =>
        qr/"sentinel=[^"]*": "sentinel=" replaces the redis address and must come first, in place of "127\.0\.0\.1:$pp" in \S+nginx-test\.conf:\d+$/m,
    "127.0.0.1:$pp master=octopus" =>
        qr/"master=octopus" needs "sentinel=" in place of the address "127\.0\.0\.1:$pp" in \S+nginx-test\.conf:\d+$/m,
    "sentinel=$sentinels master=" =>
        qr/invalid redis parameter "master=" in \S+nginx-test\.conf:\d+$/m,
    "sentinel=$sentinels master=octopus sentinel_password_file=/nonexistent" =>
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
    octopus_ratelimit_redis sentinel=$sentinels master=octopus timeout=50ms;
}
EOF
ok($ok, 'nginx -t accepts sentinel= master=') or diag($out);

# two nginx nodes, two workers each

my $conf = <<'EOF';
worker_processes 2;
http {
    octopus_ratelimit_redis sentinel=%%SENTINELS%% master=octopus
                            timeout=50ms connect_timeout=100ms prefix=octo:;

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
    }
}
EOF

$conf =~ s/%%SENTINELS%%/$sentinels/;
$t1->nginx_conf($conf);
$t2->nginx_conf($conf);
$t1->run;
$t2->run;

# the master writes its pid before it has forked every worker
ok($t1->wait_for(sub { $t1->worker_pids == 2 && $t2->worker_pids == 2 }, 10),
   'both nodes run their two workers');
my @workers = sort($t1->worker_pids, $t2->worker_pids);

# the sentinels' view is known once a probe goes through Redis

my $n = 0;

sub probe {
    my $key = 'p' . $n++ . '-' . int(rand(1e9));
    my $a = $t1->get('/probe/x', 'X-Key' => $key);
    my $b = $t2->get('/probe/x', 'X-Key' => $key);
    my $shared = $a->{status} == 200 && $b->{status} == 200
        && ($a->{headers}{'x-rl-result'} // '') eq 'pass'
        && ($b->{headers}{'x-rl-result'} // '') eq 'pass'
        && ($a->{headers}{'ratelimit-remaining'} // -1) == 999
        && ($b->{headers}{'ratelimit-remaining'} // -1) == 998;
    return { a => $a, b => $b, shared => $shared ? 1 : 0 };
}

ok($t1->wait_for(sub {
    # every worker of both nodes: a few probes in a row
    for (1 .. 8) { return 0 unless probe()->{shared} }
    return 1;
}, 10), 'both nodes reach the primary through the sentinels');

my $s1 = [map { $t1->get('/sw/x', 'X-Key' => 'shared')->{status} } 1 .. 6];
my $s2 = [map { $t2->get('/sw/x', 'X-Key' => 'shared')->{status} } 1 .. 6];
is(scalar(grep { $_ == 200 } @$s1, @$s2), 10,
   'two nodes sharing the primary: 10 passes out of 6 + 6');
is_deeply($s2, [200, 200, 200, 200, 429, 429],
          'the second node sees the first');
like(rcmd($pp, 'KEYS', 'octo:{sw:shared}:s*'), qr/^octo:\{sw:shared\}:s\d+/,
     'the state is on the primary the sentinels named');

# watch every sentinel's +switch-master ourselves

sub watch {
    my @socks;
    for my $p (@sp) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $p, Proto => 'tcp')
            or die "sentinel connect: $!";
        print $s "*2\r\n\$9\r\nSUBSCRIBE\r\n\$14\r\n+switch-master\r\n";
        push @socks, $s;
    }
    return { sel => IO::Select->new(@socks), buf => {} };
}

# the new primary's port of the first complete +switch-master message on
# any sentinel's subscription (each socket has its own buffer: a read may
# end inside a message)

sub switched {
    my ($w) = @_;
    while (my @r = $w->{sel}->can_read(0)) {
        for my $s (@r) {
            my $got = sysread($s, my $buf, 65536);
            $w->{sel}->remove($s) unless $got;
            $w->{buf}{$s} .= $buf if $got;
        }
    }
    for my $b (values %{$w->{buf}}) {
        return $1 if $b =~ /\r\noctopus 127\.0\.0\.1 \d+ 127\.0\.0\.1 (\d+)\r\n/;
    }
    return undef;
}

sub switched_text {
    my ($w) = @_;
    return join "\n", map { s/\r\n/ /gr } values %{$w->{buf}};
}

# a failover mid-traffic, measured from the first +switch-master

sub failover {
    my ($what, $cause, $new, $abrupt) = @_;

    my $w = watch();
    sleep 0.1;
    my $load = $t1->load_start(requests => 100000, concurrency => 2,
                               uri => '/probe/load',
                               headers => ['X-Key' => 'load']);
    my $t0 = time;
    $cause->();

    my (%during, $switch_at, $port, $shared_at, $free_max, $probes);
    $free_max = 0;

    while (time - $t0 < 30) {
        my $f = $t2->get('/free/x');
        $free_max = $f->{elapsed} if $f->{elapsed} > $free_max;
        $during{"free $f->{status}"}++ unless $f->{status} == 200;

        my $p = probe();
        $probes++;
        if (!defined $switch_at) {
            $port = switched($w);
            $switch_at = time if defined $port;
        }

        if (!$p->{shared}) {
            $during{($p->{a}{headers}{'x-rl-result'} // '') . ' '
                    . $p->{a}{status}}++;
        }

        if (defined $switch_at && $p->{shared}) {
            $shared_at = time;
            last;
        }
        sleep 0.01;
    }

    kill 'TERM', @{$load->{pids}};
    my $st = $t1->load_wait($load);

    ok(defined $switch_at, "$what: Sentinel switched the primary")
        or return;
    is($port, $new, "$what: to the expected server")
        or diag("primary $pp, replica $rp; the sentinels said: "
                . switched_text($w));
    ok(defined $shared_at, "$what: limits are shared again")
        or return;
    my $lag = $shared_at - $switch_at;
    ok($lag < 1.0, sprintf("$what: shared again %.3f s after the first "
                           . "+switch-master (%.1f s after the cause)",
                           $lag, $switch_at - $t0));
    my $seen = join(', ', map { "$_: $during{$_}" } sort keys %during);
    if ($abrupt) {
        ok($during{'fallback 200'},
           "$what: meanwhile the local failure policy applied ($seen)");
    }
    ok(!grep({ !/^(fallback|pass) 200$/ } keys %during),
       "$what: every probe passed, through Redis or the policy ($seen)");
    ok(!grep({ /^free/ } keys %during), "$what: the unlimited location "
       . 'answered 200 throughout');
    ok($free_max < 0.5, sprintf("$what: the unlimited location stayed "
                                . "fast (slowest %.3f s)", $free_max));
    ok(!grep({ $_ ne '200' && $_ ne '429' } keys %$st),
       "$what: the load saw 200 and 429 only ("
       . join(', ', map { "$_: $st->{$_}" } sort keys %$st) . ')');
}

failover('SIGKILL of the primary', sub {
    $t1->_stop_proc('primary', 'KILL');
}, $rp, 1);

like(rcmd($rp, 'ROLE'), qr/^master/, 'the replica was promoted');
ok($t1->wait_for(sub {
    !grep { rcmd($_, 'SENTINEL', 'get-master-addr-by-name', 'octopus')
            !~ /^127\.0\.0\.1\n$rp$/m } @sp
}, 10), 'every sentinel names the promoted replica');

# the old primary back, as a replica of the new one (the sentinels would
# convert it themselves, but only after about ten seconds); then a manual
# failover to it while the demoted primary stays up

redis_node('primary', $pp, '--replicaof', '127.0.0.1', $rp);

ok($t1->wait_for(sub {
    rcmd($pp, 'INFO', 'replication') =~ /master_link_status:up/
}, 30), 'the old primary is back as a replica, in sync')
    or diag("primary $pp, replica $rp\n"
            . rcmd($pp, 'INFO', 'replication') . "\n"
            . rcmd($rp, 'INFO', 'replication') . "\n"
            . `tail -15 $t1->{dir}/primary/redis.log` . "\n"
            . `tail -15 $t1->{dir}/replica/redis.log`);

ok($t1->wait_for(sub {
    for my $s (@sp) {
        my $o = rcmd($s, 'SENTINEL', 'replicas', 'octopus');
        return 0 unless $o =~ /\b$pp\b/ && $o !~ /s_down|disconnected/;
    }
    return 1;
}, 30), 'the sentinels see it as a healthy replica');

failover('SENTINEL FAILOVER', sub {
    my $r = rcmd($sp[0], 'SENTINEL', 'failover', 'octopus');
    diag("SENTINEL FAILOVER: $r") unless $r =~ /OK/;
}, $pp);

like(rcmd($pp, 'ROLE'), qr/^master/, 'the old primary is the primary again');

# Sentinel turns the demoted primary into a replica only some seconds after
# the switch (it waits to see it still claim the role); the fake sentinel
# below needs a replica to announce

ok($t1->wait_for(sub { rcmd($rp, 'ROLE') =~ /^slave/ }, 30),
   'the sentinels turned the demoted primary into a replica')
    or diag(rcmd($rp, 'ROLE'));

# failure modes, with a fake sentinel whose answer the test chooses:
# an unknown master, a host name, a replica; then the real primary.  The
# real sentinels come after a dead port in the list: tried in turn.

my $fake_port = $t1->port('fake_sentinel');
my $answer = "$t1->{dir}/fake_sentinel.answer";

sub answer {
    my ($text) = @_;
    open my $fh, '>', "$answer.tmp" or die;
    print $fh $text;
    close $fh;
    rename "$answer.tmp", $answer or die;
}

sub fake_sentinel {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $fake_port, Listen => 64,
                                  ReuseAddr => 1, Proto => 'tcp')
        or die "fake sentinel: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid) {
        close $l;
        $t1->{procs}{fake_sentinel} = $pid;
        return;
    }

    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $sel = IO::Select->new($l);
    my %buf;
    while (1) {
        for my $c ($sel->can_read(1)) {
            if ($c == $l) {
                my $n = $l->accept;
                $sel->add($n) if $n;
                next;
            }
            my $got = sysread($c, my $b, 65536);
            if (!$got) {
                $sel->remove($c);
                delete $buf{$c};
                delete $buf{"auth$c"};
                close $c;
                next;
            }
            $buf{$c} .= $b;
            while (1) {
                my ($pos, @args) = (0);
                last unless $buf{$c} =~ /\G\*(\d+)\r\n/gc;
                my $argc = $1;
                for (1 .. $argc) {
                    last unless $buf{$c} =~ /\G\$(\d+)\r\n/gc;
                    my $len = $1;
                    my $at = pos($buf{$c});
                    last if length($buf{$c}) < $at + $len + 2;
                    push @args, substr($buf{$c}, $at, $len);
                    pos($buf{$c}) = $at + $len + 2;
                }
                last unless @args == $argc;
                substr($buf{$c}, 0, pos($buf{$c}), '');
                pos($buf{$c}) = 0;
                my $cmd = uc $args[0];
                my $out;
                if ($cmd eq 'AUTH') {
                    $buf{"auth$c"} = ($args[1] // '') eq 'sentinel-secret';
                    $out = $buf{"auth$c"} ? "+OK\r\n"
                         : "-WRONGPASS invalid username-password pair\r\n";
                } elsif (!$buf{"auth$c"}) {
                    $out = "-NOAUTH Authentication required.\r\n";
                } elsif ($cmd eq 'SENTINEL') {
                    open my $fh, '<', $answer;
                    my $a = $fh ? <$fh> : 'nil';
                    $out = $a eq 'nil' ? "*-1\r\n"
                        : join '', "*2\r\n",
                               map { '$' . length($_) . "\r\n$_\r\n" }
                                   split / /, $a;
                } elsif ($cmd eq 'SUBSCRIBE') {
                    $out = "*3\r\n\$9\r\nsubscribe\r\n\$14\r\n"
                           . "+switch-master\r\n:1\r\n";
                } else {
                    $out = "-ERR unknown command\r\n";
                }
                syswrite $c, $out;
            }
            pos($buf{$c}) = undef if defined $buf{$c};
        }
    }
}

answer('nil');
fake_sentinel();

my $t3 = Octopus::Test->new;
my $dead = $t3->port('dead_sentinel');
(my $conf3 = $conf) =~ s/^worker_processes 2;/worker_processes 1;/m;
my $spass = $t3->write_file('sentinel.pass', "sentinel-secret\n");
$conf3 =~ s{sentinel=\S+}{sentinel=127.0.0.1:$fake_port
                            sentinel_password_file=$spass};
$t3->nginx_conf($conf3);
$t3->run;

sub through_redis_on {
    my ($t) = @_;
    my $r = $t->get('/probe/x', 'X-Key' => 'fake' . rand());
    return ($r->{headers}{'x-rl-result'} // '') eq 'pass';
}

sub through_redis { through_redis_on($t3) }

ok($t3->wait_for(sub { $t3->error_log =~ /does not know the master "octopus"/ },
                 10), 'an unknown master: logged');
ok(!through_redis(), 'an unknown master: the failure policy applies');

answer("redis.example 6379");
ok($t3->wait_for(sub { $t3->error_log =~ /announce "redis\.example" port "6379" for "octopus", not a numeric address: skipped/ },
                 10), 'a host name: logged and skipped, not resolved');
ok(!through_redis(), 'a host name: the failure policy applies');

answer("127.0.0.1 $rp");
ok($t3->wait_for(sub { $t3->error_log =~ /127\.0\.0\.1:$rp is not the primary \(slave\), asking the sentinels again/ },
                 10), 'a replica announced: ROLE refuses it');
ok(!through_redis(), 'a replica announced: the failure policy applies');

answer("127.0.0.1 $pp");
ok($t3->wait_for(sub { through_redis() }, 10),
   'the primary announced: limits go through Redis again');
my $k = 'fake-shared' . rand();
$t3->get('/probe/x', 'X-Key' => $k);
is($t1->get('/probe/x', 'X-Key' => $k)->{headers}{'ratelimit-remaining'},
   998, 'the node behind the fake sentinel shares the limits');
is(scalar(grep { /\[alert\]|\[emerg\]/ } split /\n/, $t3->error_log), 0,
   'fake sentinel: no alert in error.log');
$t3->stop;

# a wrong sentinel password: refused, logged without the password

my $t5 = Octopus::Test->new;
my $wrong = $t5->write_file('sentinel.pass', "not-the-secret\n");
(my $conf5 = $conf3) =~ s/sentinel_password_file=\S+/sentinel_password_file=$wrong/;
$t5->nginx_conf($conf5);
$t5->run;
ok($t5->wait_for(sub { $t5->error_log =~ /sentinel: AUTH refused: WRONGPASS/ },
                 10), 'a wrong sentinel password: AUTH refused, logged');
ok(!through_redis_on($t5), 'a wrong sentinel password: the failure policy');
unlike($t5->error_log, qr/not-the-secret/, 'the password is not logged');
$t5->stop;

# a dead sentinel first in the list: the next ones are asked

my $t4 = Octopus::Test->new;
(my $conf4 = $conf) =~ s/^worker_processes 2;/worker_processes 1;/m;
$conf4 =~ s/sentinel=\S+/sentinel=127.0.0.1:$dead,$sentinels/;
$t4->nginx_conf($conf4);
$t4->run;
ok($t4->wait_for(sub {
    my $r = $t4->get('/probe/x', 'X-Key' => 'dead' . rand());
    ($r->{headers}{'x-rl-result'} // '') eq 'pass';
}, 10), 'a dead sentinel first in the list: the next one answers');
$t4->stop;

# no reload happened: the same workers all along

my $log = $t1->error_log . $t2->error_log;
like($log, qr/octopus redis sentinel 127\.0\.0\.1:\d+: \+switch-master octopus/,
     'the workers logged the +switch-master they followed');
is_deeply([sort($t1->worker_pids, $t2->worker_pids)], \@workers,
          'no reload: the same workers all along');

# a reload: the new workers ask the sentinels again

ok($t1->reload, 'reload');
ok($t1->wait_for(sub { probe()->{shared} }, 10),
   'after a reload: limits shared through the primary again');

$t2->stop;
$t2->check_error_log;
$t1->done;
