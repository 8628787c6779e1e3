#!/usr/bin/perl

# Attack tests: a hostile or broken Redis.  A fake server answers every
# command with a reply hiredis cannot or should not take: a multi-bulk of
# 1,222,222,222 elements (hiredis 0.14.1 callocs the declared count: 9.7 GB,
# found by fuzz_redis_reply), 100 million elements that never come, a 2 GB
# bulk string, nesting deeper than the reader allows, protocol garbage,
# and a well-formed reply of the wrong shape.  Each request gets a clear
# status from the failure policy (local: shared memory), no worker dies,
# and each gets its audit record.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);

my $t = Octopus::Test->new;
my $mode_file = $t->write_file('redis-mode', 'garbage');
my $served_file = "$t->{dir}/redis-served";

my %replies = (
    'huge-array'  => "*1222222222\r\n",
    'never-array' => "*100000000\r\n:1\r\n",
    'huge-bulk'   => "\$2147483647\r\nabc",
    'deep'        => "*1\r\n" x 10000,
    'garbage'     => "?what is this\r\n",
    'wrong-shape' => "+OK\r\n",
);

# the fake Redis: every command read gets the reply of the current mode

my $port = $t->port('fake_redis');
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $sel = IO::Select->new($srv);
    while (my @r = $sel->can_read) {
        for my $h (@r) {
            if ($h == $srv) {
                $sel->add($srv->accept);
                next;
            }
            my $n = sysread($h, my $buf, 65536);
            if (!$n) {
                $sel->remove($h);
                close $h;
                next;
            }
            open my $fh, '<', $mode_file or next;
            chomp(my $mode = <$fh> // 'garbage');
            close $fh;
            local $SIG{PIPE} = 'IGNORE';
            syswrite($h, $replies{$mode});
            if (open my $log, '>>', $served_file) {
                print $log "$mode\n";
                close $log;
            }
        }
    }
    POSIX::_exit(0);
}
END { kill 'KILL', $pid if $pid; }
close $srv;

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_ratelimit_redis 127.0.0.1:%%PORT_fake_redis%% timeout=300ms
                            connect_timeout=300ms;
    octopus_ratelimit_zone ip key=$binary_remote_addr rate=1000r/m;

    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        add_header X-RL "$octopus_ratelimit_result" always;

        location / {
            octopus_ratelimit ip;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;

# each reply must reach hiredis: requests go on (the failure policy
# answering meanwhile) until the fake server has served it, through the
# reconnection backoff (100 ms doubling, at most 2 s)

my $n = 0;
my ($bad_status, $bad_rl, $slow) = (0, 0, 0);
for my $mode (sort keys %replies) {
    $t->write_file('redis-mode', "$mode\n");
    my $deadline = time + 8;
    my $served;
    while (time < $deadline) {
        my $t0 = time;
        my $r = $t->get("/$mode");
        $n++;
        $bad_status++ unless $r->{status} == 200;
        $bad_rl++ unless ($r->{headers}{'x-rl'} // '') =~ /^(fallback|error)$/;
        if (time - $t0 > 1.5) {
            $slow++;
            diag(sprintf("%s: %.2f s", $mode, time - $t0));
        }
        last if $served = grep { $_ eq $mode }
                          split /\n/, $t->read_file('redis-served') // '';
        sleep 0.1;
    }
    ok($served, "$mode: the reply reached the module");
}

is($bad_status, 0, "$n requests: every one served by the failure policy");
is($bad_rl, 0, '... with the ratelimit result fallback or error');
is($slow, 0, '... none waiting beyond the Redis timeout');

my @pids = $t->worker_pids;
is(scalar @pids, 1, 'the worker is still there');

my @recs = map { decode_json($_) } grep { !/"checkpoint"/ }
           split /\n/, $t->read_file('audit.jsonl') // '';
is(scalar(grep { defined $_->{request_id} } @recs), $n,
   'one audit record per request');
is(scalar(grep { ($_->{ratelimit_result} // '') =~ /^(fallback|error)$/ }
          @recs), $n, '... each with the failure policy outcome');

$t->allow_log(qr/redis|Redis/);
$t->done;
