#!/usr/bin/perl

# ngx_octopus_audit_module when PostgreSQL fails: killed during traffic,
# then frozen with SIGSTOP.  Every request is still served at normal
# latency, records go to the spool, and once the database is back every
# row is there exactly once.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(sleep);
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
    octopus_audit_batch size=10 interval=50ms timeout=1s backoff=300ms;
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

sub count {
    my ($tag) = @_;
    return $t->psql("SELECT count(*) FROM audit.api_calls "
                    . "WHERE user_name = '$tag'");
}

sub traffic {
    my ($tag, $n, $at, $break) = @_;
    my ($ok, $max) = (0, 0);
    for my $i (1 .. $n) {
        $break->() if $i == $at;
        my $r = $t->get("/$tag/$i", 'X-Sim-User' => $tag);
        $ok++ if $r->{status} == 200;
        $max = $r->{elapsed} if $r->{elapsed} > $max;
        sleep 0.005;
    }
    return ($ok, $max);
}

# warm up: the workers are connected

$t->get('/warm', 'X-Sim-User' => 'warm') for 1 .. 4;
ok($t->wait_for(sub { count('warm') == 4 }, 10), 'database reachable');

# PostgreSQL killed during traffic

my ($ok, $max) = traffic('kill', 150, 50, sub { $t->pg_kill });
is($ok, 150, 'every request served while PostgreSQL is killed');
cmp_ok($max, '<', 0.5, "normal latency (max ${max}s)");

my $m = $t->get('/metrics')->{body};
my ($spooled) = $m =~ /^octopus_audit_records_spooled_total (\d+)$/m;
cmp_ok($spooled, '>', 0, "records spooled while the database is down");
like($m, qr/^octopus_audit_db_errors_total [1-9]/m, 'database errors counted');

$t->pg_start;
ok($t->wait_for(sub { count('kill') >= 150 }, 20),
   'after the restart the rows arrive');
sleep 0.5;
is(count('kill'), 150, 'all 150 rows present exactly once');
is($t->psql("SELECT count(DISTINCT path) FROM audit.api_calls "
            . "WHERE user_name = 'kill'"), 150, 'one row per request');

# PostgreSQL frozen with SIGSTOP

($ok, $max) = traffic('stop', 150, 40, sub { $t->pg_signal('STOP') });
is($ok, 150, 'every request served while PostgreSQL is frozen');
cmp_ok($max, '<', 0.5, "normal latency (max ${max}s)");

# the frozen database must have been noticed by a timeout
ok($t->wait_for(sub { $t->error_log =~ /timed out/ }, 5),
   'the frozen database is detected by a timer');

$t->pg_signal('CONT');
ok($t->wait_for(sub { count('stop') >= 150 }, 20),
   'after SIGCONT the rows arrive');
sleep 0.5;
is(count('stop'), 150, 'all 150 rows present exactly once');

ok($t->wait_for(sub { !glob("$t->{dir}/spool/*.spool") }, 10),
   'the spool is empty once replayed');

# PostgreSQL slow: the table locked for 3 seconds

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
sleep 0.3;

($ok, $max) = traffic('slow', 100, 0, sub { });
is($ok, 100, 'every request served while the table is locked');
cmp_ok($max, '<', 0.5, "normal latency (max ${max}s)");
waitpid($pid, 0);

ok($t->wait_for(sub { count('slow') >= 100 }, 20),
   'once the lock is gone the rows arrive');
sleep 0.5;
is(count('slow'), 100, 'all 100 rows present exactly once');
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM pg_stat_activity "
                               . "WHERE application_name = 'octopus_audit'")
                      <= 2 }, 10),
   'no backend left behind by a timed-out batch');

$m = $t->get('/metrics')->{body};
like($m, qr/^octopus_audit_records_dropped_total 0$/m, 'nothing dropped');
my ($replayed) = $m =~ /^octopus_audit_records_replayed_total (\d+)$/m;
cmp_ok($replayed, '>', 0, 'records replayed from the spool');
is($t->psql('SELECT count(*) FROM audit.api_calls'), 404,
   'no duplicates in the table');

$t->done;
