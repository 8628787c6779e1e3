#!/usr/bin/perl

# ngx_octopus_audit_module, syslog over TCP: a receiver restarted in the
# middle of the traffic loses nothing that fits the send buffer (records
# sent before, during, after arrive), and when the buffer is too small
# every record that is not delivered is counted in
# octopus_audit_sink_errors_total{sink="syslog"}: received + errors =
# records produced.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use POSIX ();
use Time::HiRes qw(time sleep);

my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

# the receiver: octet-counted frames (RFC 6587), one complete message a
# line; on SIGTERM it stops listening, reads what is pending and closes,
# as a syslog daemon that restarts does

$t->write_file('receiver.py', <<'EOF');
import os, select, signal, socket, sys, time

port, out = int(sys.argv[1]), open(sys.argv[2], 'ab', buffering=0)
stop = False

def term(*_):
    global stop
    stop = True

signal.signal(signal.SIGTERM, term)

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', port))
ls.listen(16)
conns = {}

def feed(c, data):
    buf = conns[c] + data
    while True:
        sp = buf.find(b' ')
        if sp < 0:
            break
        n = int(buf[:sp])
        if len(buf) < sp + 1 + n:
            break
        out.write(buf[sp + 1:sp + 1 + n] + b'\n')
        buf = buf[sp + 1 + n:]
    conns[c] = buf

while not stop:
    try:
        r, _, _ = select.select([ls] + list(conns), [], [], 0.1)
    except InterruptedError:
        continue
    for s in r:
        if s is ls:
            c, _ = ls.accept()
            conns[c] = b''
            continue
        d = s.recv(65536)
        if d:
            feed(s, d)
        else:
            del conns[s]
            s.close()

ls.close()
end = time.time() + 0.3
for c in list(conns):
    c.setblocking(False)
while conns and time.time() < end:
    r, _, _ = select.select(list(conns), [], [], 0.05)
    for s in r:
        try:
            d = s.recv(65536)
        except BlockingIOError:
            continue
        if d:
            feed(s, d)
        else:
            del conns[s]
            s.close()
for c in conns:
    c.close()
EOF

my $recv_file = "$t->{dir}/received.log";
my $recv_pid;

sub receiver_start {
    my $port = $t->port('syslog');
    $recv_pid = fork;
    die "fork: $!" unless defined $recv_pid;
    if ($recv_pid == 0) {
        exec $py, "$t->{dir}/receiver.py", $port, $recv_file
            or POSIX::_exit(127);
    }
    $t->wait_for(sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        return 0 unless $s;
        close $s;
        return 1;
    }, 10) or die "the receiver did not start";
}

sub receiver_stop {
    kill 'TERM', $recv_pid;
    waitpid($recv_pid, 0);
    undef $recv_pid;
}

END { kill 'KILL', $recv_pid if $recv_pid; }

# the paths received (api_call messages), with how many times each

sub received {
    my %seen;
    for (split /\n/, $t->read_file($recv_file) // '') {
        next unless / api_call - \{/;
        $seen{$1}++ if /"path":"([^"]+)"/;
    }
    return \%seen;
}

sub errors {
    my $m = $t->get('/metrics')->{body};
    my ($e) = $m =~ /^octopus_audit_sink_errors_total\{sink="syslog"\} (\d+)$/m;
    return $e // -1;
}

sub traffic {
    my ($tag, $n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        $ok++ if $t->get("/$tag/$i")->{status} == 200;
    }
    return $ok;
}

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

my $conf = <<'EOF';
worker_processes 1;
events { }
http {
    octopus_audit_syslog 127.0.0.1:%%PORT_syslog%% proto=tcp events=all BUFFER;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_audit off;
            octopus_metrics;
        }
    }
}
EOF

(my $c = $conf) =~ s/ BUFFER//;
$t->nginx_conf($c);

receiver_start();
$t->run;

# receiver restarted mid-traffic, the default 1m buffer holds the gap

is(traffic('before', 60), 60, 'served before the restart');
ok($t->wait_for(sub { keys %{received()} == 60 }, 5), 'before: received');

receiver_stop();
is(traffic('during', 60), 60, 'served while the receiver is down');
receiver_start();
is(traffic('after', 60), 60, 'served after the restart');

ok($t->wait_for(sub { keys %{received()} == 180 }, 10),
   'every record arrived: before, during (buffered), after')
    or diag scalar(keys %{received()}) . ' received';

my $r = received();
is(scalar(grep { $r->{"/$_"} } map { my $p = $_; map { "$p/$_" } 1 .. 60 }
       qw(before during after)), 180, 'each path is there');
is(errors(), 0, 'no syslog error counted');
like($t->error_log, qr/syslog stream to 127\.0\.0\.1:\d+ lost/,
     'the lost stream was logged');

# restarted under concurrent load: messages sent into the closing stream
# (the receiver's close races with the sends) come again on the next one

my $load = $t->load_start(requests => 300, concurrency => 3, uri => '/load');
sleep 0.3;
receiver_stop();
sleep 0.3;
receiver_start();
my $st = $t->load_wait($load);
is($st->{200}, 300, 'every request of the load served');

ok($t->wait_for(sub { (received()->{'/load'} // 0) == 300 }, 10),
   'every record of the load arrived once')
    or diag((received()->{'/load'} // 0) . ' received');
is(errors(), 0, 'still no syslog error');

# a buffer too small for the gap: what does not fit is counted

$t->stop;

($c = $conf) =~ s/BUFFER/buffer=64k/;
$t->nginx_conf($c);
$t->run;

is(traffic('warm', 5), 5, 'second run serving');
ok($t->wait_for(sub { (grep { m{^/warm/} } keys %{received()}) == 5 }, 5),
   'warm: received');

receiver_stop();
my $N = 300;
is(traffic('full', $N), $N, 'served while the receiver is down');
my $e = errors();
cmp_ok($e, '>', 0, "records that did not fit are counted ($e)");
receiver_start();

# a checkpoint message falling in the same gap (one per 10 s at most) is
# counted too: the sum is the records produced, or one more

my ($got, $e2);
ok($t->wait_for(sub {
    $got = grep { m{^/full/} } keys %{received()};
    $e2 = errors();
    return $got + $e2 >= $N;
}, 10) && $got + $e2 <= $N + 1,
   "received + counted errors = produced ($got + $e2, $N records)");

# once the receiver is back, nothing more is lost

$e2 = errors();
is(traffic('back', 20), 20, 'served after the receiver is back');
ok($t->wait_for(sub { (grep { m{^/back/} } keys %{received()}) == 20 }, 5),
   'back: received') or diag scalar(grep { m{^/back/} } keys %{received()});
is(errors(), $e2, 'no error after the receiver is back');
$r = received();
is(scalar(grep { m{^/full/} && $r->{$_} > 1 } keys %$r), 0, 'no duplicate');

receiver_stop();
$t->done;
