#!/usr/bin/perl

# ngx_octopus_audit_module, the PostgreSQL writer's two paths: a batch goes
# straight into the table with COPY; a batch holding a record stored
# before (here: a worker killed after its COPY committed and before it read
# the answer, so its ring still holds the batch and its successor queues
# it again) is refused by the primary key as a whole and goes again
# through the staging table with ON CONFLICT DO NOTHING: stored once, the
# new records of the same batch stored too.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(sleep);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));

# a row of user "slow" takes 1.5 s to insert: the COPY that carries it is
# still running when the test stops the worker

$t->psql(<<'EOF');
CREATE FUNCTION audit.slow_row() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF NEW.user_name = 'slow' THEN
        PERFORM pg_sleep(1.5);
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER slow_row BEFORE INSERT ON audit.api_calls
    FOR EACH ROW EXECUTE FUNCTION audit.slow_row();
EOF

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 1;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=50 interval=100ms timeout=5s backoff=200ms;
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

$t->allow_log(qr/exited on signal 9/);

$t->run;

sub rows {
    my ($user) = @_;
    return $t->psql("SELECT count(*) FROM audit.api_calls "
                    . "WHERE user_name = '$user'");
}

sub metric {
    my ($name) = @_;
    return ($t->get('/metrics')->{body} =~ /^$name (\d+)$/m)[0];
}

# the direct path: rows arrive, nothing restaged

$t->get("/fast/$_", 'X-Sim-User' => 'fast') for 1 .. 10;
ok($t->wait_for(sub { rows('fast') == 10 }, 10), 'direct COPY: 10 rows');
is(metric('octopus_audit_db_batches_restaged_total'), 0,
   'direct COPY: no batch restaged');

# a batch committed while its worker cannot read the answer

$t->get('/slow/1', 'X-Sim-User' => 'slow');
$t->get("/with-slow/$_", 'X-Sim-User' => 'with-slow') for 1 .. 3;

ok($t->wait_for(sub {
    $t->psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
             . "'COPY audit.api_calls%' AND state = 'active'") == 1
}, 5), 'the COPY carrying the slow row is running');

my ($worker) = $t->worker_pids;
kill 'STOP', $worker;

ok($t->wait_for(sub { rows('slow') == 1 }, 5),
   'the COPY committed while the worker was stopped');

kill 'KILL', $worker;
kill 'CONT', $worker;

# the successor queues the dead worker's ring again: the same batch, and
# new records after it

ok($t->wait_for(sub {
    my @w = $t->worker_pids;
    @w == 1 && $w[0] != $worker }, 5), 'the worker respawned');

$t->get("/after/$_", 'X-Sim-User' => 'after') for 1 .. 5;

ok($t->wait_for(sub { rows('after') == 5 }, 15), 'new records stored');
is(rows('slow'), 1, 'the record stored before is stored once');
is(rows('with-slow'), 3, 'its batch\'s other records once each');
is($t->psql("SELECT count(*) - count(DISTINCT (chain_id, seq)) "
            . "FROM audit.api_calls"), 0, 'no duplicate at all');
cmp_ok(metric('octopus_audit_db_batches_restaged_total'), '>=', 1,
       'the batch went through the staging path');
like($t->error_log, qr/\[info\].*duplicate key value violates unique/,
     'the refusal is logged at info');
unlike($t->error_log, qr/\[error\].*duplicate key/,
       'and not as an error');
is(metric('octopus_audit_records_dropped_total'), 0, 'nothing dropped');

$t->done;
