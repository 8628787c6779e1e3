#!/usr/bin/perl

# ngx_octopus_audit_module: the table locked (slow, not dead) under load,
# with a short queue so that records overflow into the spool while the
# connection stays up (timeout longer than the lock).  Once the lock is
# released the spool is sealed and replayed without a reconnect: every
# request answered has its row within seconds, once.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::AuditLoad;
use Time::HiRes qw(sleep time);
use POSIX ();

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 queue=20 interval=20ms timeout=20s backoff=300ms;
    octopus_audit_spool %%PREFIX%%/spool;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
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

$t->run;

sub metric {
    my ($name) = @_;
    my ($v) = $t->get('/metrics')->{body} =~ /^\Q$name\E (\d+)$/m;
    return $v // -1;
}

$t->get('/warm', 'X-Sim-User' => 'warm') for 1 .. 4;
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'warm'") == 4 }, 10),
   'database reachable');

my @backends = split /\n/, $t->psql("SELECT pid FROM pg_stat_activity "
    . "WHERE application_name = 'octopus_audit' ORDER BY pid");

# the table locked for 3 seconds under load

my $pid = fork;
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>&', \*STDOUT;
    exec '/usr/bin/psql', '-X', '-h', '127.0.0.1', '-p', $t->pg_port,
         '-U', 'postgres', '-d', 'octopus', '-c',
         'BEGIN; LOCK TABLE audit.api_calls IN ACCESS EXCLUSIVE MODE; '
         . 'SELECT pg_sleep(3); COMMIT;'
        or POSIX::_exit(127);
}
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM pg_locks "
                               . "WHERE mode = 'AccessExclusiveLock' "
                               . "AND relation = 'audit.api_calls'::regclass")
                      > 0 }, 5), 'table locked');

my $l = Octopus::AuditLoad::start($t, 'slow', clients => 4);
waitpid($pid, 0);
my $released = time;
sleep 1;
my @paths = Octopus::AuditLoad::stop($t, $l);
my $sent = @paths;
diag("$sent requests answered, "
     . metric('octopus_audit_records_spooled_total') . " spooled");

cmp_ok(metric('octopus_audit_records_spooled_total'), '>', 0,
       'the queue overflowed into the spool');

my ($missing, $dups, $rows);
ok($t->wait_for(sub {
        ($missing, $dups, $rows) =
            Octopus::AuditLoad::compare($t, 'slow', \@paths);
        $missing == 0 }, 8),
   'every record in the table after the release');
my $took = time - $released;
diag(sprintf "all rows %.1fs after the release (load stopped after 1s)",
             $took);
is($missing, 0, "no record missing ($rows rows for $sent requests)");
is($dups, 0, 'no duplicates');
cmp_ok($took, '<', 6, 'within seconds of the release');

ok($t->wait_for(sub { !glob("$t->{dir}/spool/*.spool") }, 5),
   'the spool is empty once replayed');
cmp_ok(metric('octopus_audit_records_replayed_total'), '>', 0,
       'records replayed from the spool');
is(metric('octopus_audit_db_errors_total'), 0, 'no database error');
is(metric('octopus_audit_records_dropped_total'), 0, 'nothing dropped');
is(join(',', split /\n/, $t->psql("SELECT pid FROM pg_stat_activity "
       . "WHERE application_name = 'octopus_audit' ORDER BY pid")),
   join(',', @backends), 'the connections never dropped');
unlike($t->error_log, qr/timed out|connection lost|records go to the spool/,
       'no reconnect');

$t->done;
