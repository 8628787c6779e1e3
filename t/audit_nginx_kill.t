#!/usr/bin/perl

# ngx_octopus_audit_module: the whole nginx (master and workers) killed
# with SIGKILL under load, PostgreSQL frozen (SIGSTOP) so that records are
# queued: the queue rings are in the file <spool>/queue.rings, which
# outlives every process, so the next start queues them again and every
# request answered 2xx before the kill has its row, once, and the chains
# verify (a killed worker's chain just ends).  Then a ring torn in the
# middle (a page a machine crash never wrote back) is cut at the last good
# record, and a rings file with a bad header is moved aside: one line
# each, nginx goes on.  A start with another shm size keeps a file holding
# records; a reload goes on with the file; a second nginx on the same
# spool folder finds the file locked and keeps its rings in its zone.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::AuditLoad;
use POSIX ();
use Time::HiRes qw(sleep time);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

my $tpl = <<'EOF';
worker_processes 2;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=50 interval=200ms timeout=3s backoff=300ms shm=SHM_SIZE;
    octopus_audit_spool %%PREFIX%%/spool;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        set $octopus_user $http_x_sim_user;

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

sub conf { $t->nginx_conf($tpl =~ s/SHM_SIZE/$_[0]/r) }

conf('4m');

$t->allow_log(qr/is not a valid queue file \(bad magic\)/);
$t->allow_log(qr/the queue of worker \d+ is torn after \d+ records/);

my $rings = "$t->{dir}/spool/queue.rings";

# "nginx -t" leaves the file alone

my ($ok, $out) = $t->nginx_test;
ok($ok, 'nginx -t') or diag $out;
ok(!-e $rings, 'nginx -t does not create the rings file');

$t->run;

ok(-s $rings, 'the rings file is there once nginx runs');

$t->get('/warm', 'X-Sim-User' => 'warm') for 1 .. 4;
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'warm'") == 4 }, 10),
   'database reachable');

# the master and every worker at once: nobody left to write anything out

sub kill_nginx {
    my $master = $t->nginx_pid or die "nginx is not running";
    my @all = ($master, $t->worker_pids);
    kill 'KILL', @all;
    $t->wait_for(sub { !grep { kill 0, $_ } @all }, 10)
        or die "nginx survived SIGKILL";
    return scalar @all;
}

# paths of the records not in the table, of those answered 2xx

sub missing {
    my ($tag, $paths) = @_;
    my %db = map { $_ => 1 }
             split /\n/, $t->psql("SELECT path FROM audit.api_calls "
                                  . "WHERE user_name = '$tag'");
    return grep { !$db{$_} } @$paths;
}

# A response written to the client and the record made in the log phase
# just after it, in the same event handler call: a kill between the two
# leaves a 2xx answer whose record was never accepted.  Such a path can
# only be the last one of its client, at most one per killed worker.

sub unaccepted {
    my ($paths, $workers, @miss) = @_;
    my %last;
    for (@$paths) {
        my ($c, $n) = m{^/\w+/(\d+)/(\d+)$} or next;
        $last{$c} = $n if !defined $last{$c} || $n > $last{$c};
    }
    for my $p (@miss) {
        my ($c, $n) = $p =~ m{^/\w+/(\d+)/(\d+)$} or return 0;
        return 0 unless $n == $last{$c};
    }
    return @miss <= $workers;
}

sub check {
    my ($tag, $paths, $within, $workers) = @_;
    my ($missing, $dups, $rows);
    $t->wait_for(sub {
        ($missing, $dups, $rows) =
            Octopus::AuditLoad::compare($t, $tag, $paths);
        $missing == 0 }, $within);
    diag(sprintf "%s: %d answered 2xx, %d rows, %d missing, %d duplicates",
                 $tag, scalar(@$paths), $rows, $missing, $dups);
    my @miss = $missing ? missing($tag, $paths) : ();
    diag("$tag: no row for $_") for @miss;
    ok(unaccepted($paths, $workers, @miss),
       "$tag: no accepted record lost (none missing but a client's last "
       . "answer, killed in its log phase)");
    is($dups, 0, "$tag: no duplicate");
}

# the rings of the file: [offset of data, owner, head, tail, size]

sub read_rings {
    open my $fh, '<:raw', $rings or die "$rings: $!";
    read($fh, my $h, 48) == 48 or die "short header";
    my ($magic, $version, $n, $stride, $gen) = unpack 'Q<5', $h;
    my @r;
    for my $i (0 .. $n - 1) {
        my $off = 4096 + $i * $stride;
        seek $fh, $off, 0;
        read($fh, my $rh, 32) == 32 or die "short ring";
        push @r, [$off + 32, unpack 'Q<4', $rh];
    }
    close $fh;
    return ($gen, @r);
}

sub queued {
    my (undef, @r) = read_rings();
    my $bytes = 0;
    $bytes += $_->[2] - $_->[3] for @r;
    return $bytes;
}

# 1. PostgreSQL frozen, nginx killed as a whole

my $l = Octopus::AuditLoad::start($t, 'kill', clients => 4);
sleep 0.5;
$t->pg_signal('STOP');
sleep 1;
my $n = kill_nginx();
my @killed = Octopus::AuditLoad::stop($t, $l);
my ($gen1) = read_rings();
my $q = queued();
diag("$n processes killed, $q bytes queued in the rings file");
cmp_ok($q, '>', 0, 'records were queued in the rings at the kill');

# started with another shm size: the file, holding records, is kept as it
# is for now

conf('6m');
$t->run;
$t->pg_signal('CONT');
check('kill', \@killed, 20, $n - 1);
like($t->error_log, qr/holds 6 queues of \d+ bytes with records: kept/,
     'a file of another size holding records is kept');
my $recovered = 'records queued by worker \d+, which died, recovered from '
                . 'the queue file';
like($t->error_log, qr/$recovered/,
     'the queues of the killed nginx recovered from the file');
my ($gen2) = read_rings();
is($gen2, $gen1 + 1, 'a start is a new generation');

# the chains of the killed workers end where they died

my $verify = '/usr/bin/perl ' . Cwd::abs_path('tools/octopus-audit-verify');
my $dsn = $t->pg_dsn;
$out = `$verify --key $t->{dir}/chain.key --dsn '$dsn' 2>&1`;
is($? >> 8, 0, 'every chain verifies') or diag $out;

ok($t->wait_for(sub { !glob("$t->{dir}/spool/*.spool") }, 10),
   'the spool is empty once replayed');
like($t->get('/metrics')->{body}, qr/^octopus_audit_records_dropped_total 0$/m,
     'nothing dropped');

# recovered exactly once: the rings are empty, nothing is queued again

ok($t->wait_for(sub { queued() == 0 }, 10), 'the rings are empty');

# a reload, with another size too, goes on with the master's file

conf('4m');
ok($t->reload, 'reload');
my ($gen) = read_rings();
is($gen, $gen2, 'a reload is the same generation');
$t->get('/after-reload', 'X-Sim-User' => 'reload') for 1 .. 3;
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'reload'") == 3 }, 10),
   'audited after the reload');

# 2. a ring torn in the middle: cut at the last good record

$l = Octopus::AuditLoad::start($t, 'torn', clients => 4);
sleep 0.5;
$t->pg_signal('STOP');
sleep 1;
kill_nginx();
my @torn = Octopus::AuditLoad::stop($t, $l);

my (undef, @r) = read_rings();
my ($victim) = sort { ($b->[2] - $b->[3]) <=> ($a->[2] - $a->[3]) } @r;
my $used = $victim->[2] - $victim->[3];
cmp_ok($used, '>', 8192, "a ring holds $used bytes");
my $cut = int($used / 2);
my $lost;
my %cutp;
{
    # its records in order; those from the one holding byte $cut on are
    # lost to the tear
    open my $fh, '+<:raw', $rings or die "$rings: $!";
    my $size = $victim->[4];
    seek $fh, $victim->[0], 0;
    read($fh, my $data, $size) == $size or die "short ring data";
    my $from = $victim->[3] % $size;
    my $queue = substr($data . $data, $from, $used);
    $lost = () = substr($queue, $cut) =~ /\n/g;
    my $tail = substr($queue, rindex(substr($queue, 0, $cut), "\n") + 1);
    %cutp = map { $_ => 1 } $tail =~ m{(/torn/\d+/\d+)}g;

    # 4 KiB of zeros there, wrapping if need be
    for my $k (0 .. 4095) {
        seek $fh, $victim->[0] + ($victim->[3] + $cut + $k) % $size, 0;
        print $fh "\0";
    }
    close $fh;
}

$t->run;
$t->pg_signal('CONT');
my ($missing, $dups, $rows);
$t->wait_for(sub {
    ($missing, $dups, $rows) = Octopus::AuditLoad::compare($t, 'torn', \@torn);
    $missing <= $lost }, 20);
diag(sprintf "torn: %d answered 2xx, %d rows, %d missing, %d cut by the tear",
             scalar(@torn), $rows, $missing, $lost);
my @miss = grep { !$cutp{$_} } missing('torn', \@torn);
diag("torn: no row for $_, not cut by the tear") for @miss;
my @lines = $t->error_log
            =~ /(the queue of worker \d+ is torn after \d+ records[^\n]*)/g;
is(scalar @lines, 1, 'one line for the torn ring') or diag join "\n", @lines;
cmp_ok($lost, '>', 0, 'the tear cuts records');
cmp_ok($missing, '>=', $lost, 'the records from the tear on are lost');
ok(unaccepted(\@torn, 2, @miss),
   "no others (but a client's last answer, killed in its log phase)");
is($dups, 0, 'torn: no duplicate');

$t->get('/after-torn', 'X-Sim-User' => 'after') for 1 .. 3;
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'after'") == 3 }, 10),
   'audited after the torn ring');

# 3. a rings file with a bad header: moved aside, one line, a new file

$t->stop;
{
    open my $fh, '+<:raw', $rings or die "$rings: $!";
    print $fh "garbage!";
    close $fh;
}
$t->run;
@lines = $t->error_log =~ /(is not a valid queue file[^\n]*)/g;
is(scalar @lines, 1, 'one line for the bad rings file')
    or diag join "\n", @lines;
like($lines[0] // '', qr/\(bad magic\): moved to ".*queue\.rings\.bad"/,
     'the line says why and where it went');
ok(-e "$rings.bad", 'the bad file is kept aside');
my ($gen3) = read_rings();
is($gen3, 1, 'a new rings file');

$t->get('/after-bad', 'X-Sim-User' => 'bad') for 1 .. 3;
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'bad'") == 3 }, 10),
   'audited with the new rings file');

# 4. a second nginx on the same spool folder: the file is taken, its
# rings stay in its own zone

{
    my $conf = $t->_expand($tpl =~ s/SHM_SIZE/4m/r
                                =~ s/%%PORT_http%%/%%PORT_second%%/r);
    $conf =~ s{^pid .*$}{pid $t->{dir}/nginx2.pid;}m;
    $conf =~ s{^error_log \S+}{error_log $t->{dir}/error2.log}m;
    my $file = $t->write_file('nginx2.conf', $conf);

    # in the foreground, a child of this test: nothing to wait for but it
    my %env = $t->_nginx_env;
    my $pid2 = fork;
    die "fork: $!" unless defined $pid2;
    if ($pid2 == 0) {
        @ENV{keys %env} = values %env;
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$t->{dir}/error2.log";
        exec($t->{nginx}, '-p', "$t->{dir}/", '-c', $file,
             '-e', "$t->{dir}/error2.log", '-g', 'daemon off;')
            or POSIX::_exit(127);
    }
    ok($t->wait_for(sub {
        ($t->read_file('error2.log') // '') =~ /is in use by/ }, 5),
       'it says the rings file is in use');
    $t->wait_for(sub { $t->http(port => $t->port('second'), uri => '/x',
                                timeout => 1)->{status} }, 10);
    is($t->http(port => $t->port('second'), uri => '/second',
                headers => ['X-Sim-User' => 'second'])->{status}, 200,
       'it serves');
    ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                                   . "WHERE user_name = 'second'") == 1 },
                    10), 'and audits');
    my ($g) = read_rings();
    is($g, 1, 'the first one\'s file untouched');

    kill 'QUIT', $pid2;
    unless ($t->wait_for(sub { waitpid($pid2, POSIX::WNOHANG()) == $pid2 },
                         20))
    {
        kill 'KILL', $pid2, Octopus::Test::_children($pid2);
        waitpid($pid2, 0);
    }
    unlike($t->read_file('error2.log'),
           qr/\[alert\]|\[emerg\]|Sanitizer|runtime error/,
           'error2.log clean');
}

$t->done;
