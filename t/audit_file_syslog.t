#!/usr/bin/perl

# ngx_octopus_audit_module without a database: the JSON lines file sink,
# the syslog sink (RFC 5424 over UDP and TCP) with checkpoints, the verify
# tool on a file (intact, deleted, edited, reordered, truncated), the
# default sink, and configuration errors reported by nginx -t.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(sleep);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

my @listeners;
END { kill 'TERM', @listeners if @listeners; }

# a syslog listener: every UDP datagram, or the raw TCP stream, to a file

sub listener {
    my ($proto, $port, $file) = @_;
    my $s = $proto eq 'udp'
        ? IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Proto => 'udp')
        : IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Proto => 'tcp', Listen => 5, ReuseAddr => 1);
    die "listen $proto $port: $!" unless $s;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open my $out, '>>', $file or POSIX::_exit(1);
        binmode $out;
        $out->autoflush(1);
        if ($proto eq 'udp') {
            while (defined $s->recv(my $d, 65535)) {
                print $out "$d\n";
            }
        } else {
            # one stream per worker, read side by side
            my $sel = IO::Select->new($s);
            while (my @r = $sel->can_read) {
                for my $h (@r) {
                    if ($h == $s) {
                        $sel->add($s->accept);
                        next;
                    }
                    my $n = sysread($h, my $buf, 65536);
                    if ($n) {
                        print $out $buf;
                    } else {
                        $sel->remove($h);
                        close $h;
                    }
                }
            }
        }
        POSIX::_exit(0);
    }
    close $s;
    push @listeners, $pid;
    return $pid;
}

my $udp_file = "$t->{dir}/syslog-udp.log";
my $tcp_file = "$t->{dir}/syslog-tcp.log";
listener('udp', $t->port('syslog_udp'), $udp_file);
listener('tcp', $t->port('syslog_tcp'), $tcp_file);

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

my $conf = <<'EOF';
worker_processes 2;
events { }
http {
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_syslog 127.0.0.1:%%PORT_syslog_udp%% proto=udp facility=local3 tag=octo events=all;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit_node file-node;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        set $octopus_user $http_x_sim_user;
        set $octopus_auth_result $http_x_sim_auth;

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

$t->nginx_conf($conf);
$t->run;

my $N = 40;
$t->get("/file/$_?q=$_", 'X-Sim-User' => "u$_") for 1 .. $N;
$t->get('/file/denied', 'X-Sim-User' => 'eve', 'X-Sim-Auth' => 'forbidden',
        'X-Test-Status' => 403);
$N++;

sub records {
    my ($text) = @_;
    return grep { /"hash":/ && !/"checkpoint"/ } split /\n/, $text // '';
}

ok($t->wait_for(sub { records($t->read_file('audit.jsonl')) == $N }, 5),
   "$N records in the file");

my @lines = records($t->read_file('audit.jsonl'));
my $json = JSON::PP->new->utf8;
is(scalar(grep { eval { $json->decode($_) } } @lines), $N,
   'every line is valid JSON');
my $rec = $json->decode($lines[0]);
is($rec->{node}, 'file-node', 'node name');
like($rec->{chain_id}, qr/^file-node:\d+:\d+$/, 'chain id per worker');
is($rec->{prev_hash}, '0' x 64, 'a chain starts from the zero hash');

# syslog: every record (events=all), RFC 5424, and checkpoints

ok($t->wait_for(sub {
    my @m = grep { /"hash":/ && !/checkpoint/ }
            split /\n/, $t->read_file($udp_file) // '';
    @m == $N }, 5), 'syslog listener received every record over UDP');

my @syslog = split /\n/, $t->read_file($udp_file);
my ($first) = grep { !/checkpoint/ } @syslog;
# local3 = 19: <19*8+6>1 for information, 19*8+4 for a security event
like($first, qr/^<158>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z file-node octo \d+ api_call - \{"ts_us":/,
     'RFC 5424 header, JSON message');
ok((grep { /^<156>1 \S+ file-node octo \d+ privilege_escalation - \{/ } @syslog),
   'security event at warning severity');

ok($t->wait_for(sub {
    grep { /checkpoint/ } split /\n/, $t->read_file($udp_file) // '' }, 5),
   'checkpoints reach syslog');
ok((grep { /^\{"checkpoint":\{"chain_id":"file-node:/ }
    split /\n/, $t->read_file('audit.jsonl')),
   'checkpoints reach the file');

my $m = $t->get('/metrics')->{body};
like($m, qr/^octopus_audit_records_written_total\{sink="file"\} $N$/m,
     'file records counted');
like($m, qr/^octopus_audit_records_written_total\{sink="syslog"\} \d+$/m,
     'syslog records counted');
like($m, qr/^octopus_security_events_total\{event="privilege_escalation"\} 1$/m,
     'RBAC denial counted as a security event');
unlike($m, qr/^octopus_rbac_denials_total /m,
       'octopus_rbac_denials_total is the auth module\'s, not audit\'s');

# syslog over TCP, security events only

(my $tcp = $conf) =~ s/%%PORT_syslog_udp%% proto=udp facility=local3 tag=octo events=all/%%PORT_syslog_tcp%% proto=tcp events=security/;
$t->nginx_conf($tcp);
ok($t->reload, 'reload with a TCP syslog sink');
$t->wait_for(sub { $t->worker_pids == 2 }, 10);

for (1 .. 5) {
    $t->get('/tcp/ok', 'X-Sim-User' => 'tcp');
    $t->get('/tcp/denied', 'X-Sim-User' => 'tcp', 'X-Sim-Auth' => 'expired',
            'X-Test-Status' => 401);
}

sub frames {
    my $data = $t->read_file($tcp_file) // '';
    my @f;
    while ($data =~ s/^(\d+) //) {
        push @f, substr($data, 0, $1, '');
    }
    return @f;
}

ok($t->wait_for(sub { (grep { /failed_login_attempt/ } frames()) == 5 }, 5),
   'TCP: octet-counted frames with the 5 failed logins');
is(scalar(grep { /"user_name":"tcp"/ && /api_call/ } frames()), 0,
   'TCP: events=security sends no plain API call');
like((frames())[0], qr/^<36>1 /, 'TCP: default facility auth, warning');

# the verify tool on the file

$t->stop;

my $verify = '/usr/bin/perl ' . Cwd::abs_path('tools/octopus-audit-verify');
my $key = "$t->{dir}/chain.key";
my $file = "$t->{dir}/audit.jsonl";

sub verify {
    my ($f, @extra) = @_;
    my $out = `$verify --key $key --file $f @extra 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = verify($file);
is($rc, 0, 'verify: intact file passes') or diag $out;

my @all = split /\n/, $t->read_file('audit.jsonl');
my @idx = grep { $all[$_] =~ /"hash":/ && $all[$_] !~ /checkpoint/ } 0 .. $#all;

sub variant {
    my ($name, @l) = @_;
    return $t->write_file($name, join("\n", @l) . "\n");
}

# a deleted line in the middle of a chain
my $victim = $json->decode($all[$idx[5]]);
my @del = @all;
splice @del, $idx[5], 1;
($rc, $out) = verify(variant('deleted.jsonl', @del));
is($rc, 1, 'verify: deleted record fails');
like($out, qr/seq $victim->{seq}\b.*missing \(deleted\)/,
     'verify: names the deleted record') or diag $out;

# an edited line
my @edit = @all;
$edit[$idx[7]] =~ s/"status":200/"status":201/;
my $edited = $json->decode($all[$idx[7]]);
($rc, $out) = verify(variant('edited.jsonl', @edit));
is($rc, 1, 'verify: edited record fails');
like($out, qr/seq $edited->{seq} .*$edited->{request_id}.*altered/,
     'verify: names the edited record') or diag $out;

# two records of the same chain swapped
my ($x, $y);
CHAIN: for my $i (0 .. $#idx) {
    my $ci = $json->decode($all[$idx[$i]])->{chain_id};
    for my $j ($i + 1 .. $#idx) {
        if ($json->decode($all[$idx[$j]])->{chain_id} eq $ci) {
            ($x, $y) = ($idx[$i], $idx[$j]);
            last CHAIN;
        }
    }
}
my @swap = @all;
@swap[$x, $y] = @swap[$y, $x];
($rc, $out) = verify(variant('swapped.jsonl', @swap));
is($rc, 1, 'verify: reordered records fail');
like($out, qr/missing|reordered/, 'verify: reports the reordering')
    or diag $out;

# a cut-off tail: the last 3 records gone, checkpoints kept elsewhere
my @cut = grep { !/checkpoint/ } @all;
splice @cut, -3;
($rc, $out) = verify(variant('cut.jsonl', @cut), '--checkpoints', $file);
is($rc, 1, 'verify: truncated tail fails');
like($out, qr/tail cut off/, 'verify: names the missing tail') or diag $out;

# the checkpoints from the syslog feed serve as well
($rc, $out) = verify(variant('cut2.jsonl', @cut), '--checkpoints', $udp_file,
                     '--checkpoints', $tcp_file);
is($rc, 1, 'verify: syslog checkpoints reveal the truncation');

# the default sink: no database, no file configured

my $d = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);
$d->nginx_conf(<<'EOF');
events { }
http {
    octopus_audit on;
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
    }
}
EOF
$d->run;
$d->get('/default');
ok($d->wait_for(sub { ($d->read_file('logs/octopus-audit.jsonl') // '')
                      =~ /"path":"\/default"/ }, 5),
   'default sink: logs/octopus-audit.jsonl');
$d->stop;

# configuration errors: nginx -t names the file, line and value

my %bad = (
    'octopus_audit_table "audit.x;drop";' => 'invalid table name "audit.x;drop"',
    'octopus_audit_batch size=0;' => 'invalid parameter "size=0"',
    'octopus_audit_batch size=10 flavour=x;' => 'invalid parameter "flavour=x"',
    'octopus_audit_batch shm=100k;' => 'invalid parameter "shm=100k"',
    'octopus_audit_batch shm=lots;' => 'invalid parameter "shm=lots"',
    'octopus_audit_spool /tmp/x max_size=1;' => 'invalid parameter "max_size=1"',
    'octopus_audit_syslog 127.0.0.1:514 proto=sctp;' => 'invalid parameter "proto=sctp"',
    'octopus_audit_syslog 127.0.0.1:514 facility=mars;' => 'invalid parameter "facility=mars"',
    'octopus_audit_syslog 127.0.0.1:514 proto=tcp buffer=1k;' => 'invalid parameter "buffer=1k"',
    'octopus_audit_syslog 127.0.0.1:514 buffer=64k;' => '"buffer=64k" needs proto=tcp (UDP is not buffered)',
    'octopus_audit_redact "(unclosed" "x";' => 'invalid redaction pattern "(unclosed"',
    'octopus_audit_anomaly bytes=lots;' => 'invalid parameter "bytes=lots"',
    'octopus_audit_chain_key %%PREFIX%%/short.key;' => 'shorter than 16 bytes',
    'octopus_audit_chain_key %%PREFIX%%/human.key;' => 'looks made by a person, not random',
    'octopus_audit_chain_key %%PREFIX%%/missing.key;' => 'cannot open secret file',
    'octopus_audit_pg "host=x" password_file=%%PREFIX%%/missing;' => 'cannot open secret file',
    'octopus_audit_pg "host=x" passfile=/x;' => 'invalid parameter "passfile=/x"',
    'octopus_audit_node "edge 1";' => 'invalid node name "edge 1"',
    'octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=60s;' => 'invalid parameter "checkpoint=60s"',
);
$t->write_file('short.key', "short\n");
$t->write_file('human.key', "audit_chain_key_for_our_platform\n");

for my $directive (sort keys %bad) {
    my ($ok, $output) = $t->nginx_test(<<"EOF");
events { }
http {
    $directive
    server { listen 127.0.0.1:%%PORT_http%%; }
}
EOF
    ok(!$ok, "nginx -t fails: $directive");
    like($output, qr/\Q$bad{$directive}\E.* in \S+nginx-test\.conf:\d+/,
         "names the value and the line: $directive") or diag $output;
}

$d->check_error_log;
$t->done;
