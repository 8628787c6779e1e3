#!/usr/bin/perl

# ngx_octopus_audit_module: octopus_audit_queue_depth counts live workers
# only.  PostgreSQL frozen with SIGSTOP, records queue up in the worker;
# the worker is killed with SIGKILL; once the master respawned it (same
# process slot) the gauge no longer carries the dead worker's count.  With
# the shared-memory queue (the default) the new worker takes the dead
# worker's records over: they are counted once, in its own gauge, and are
# stored when PostgreSQL is back; without it (shm=off) they are lost with
# the worker and the new worker starts from 0.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(sleep);

for my $shm ('16m', 'off') {
    subtest "shm=$shm" => sub { run_case($shm) };
}

done_testing();


sub run_case {
    my ($shm) = @_;

    my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

    $t->pg_start;
    $t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
    $t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

    my $conf = <<'EOF';
worker_processes 1;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 interval=50ms timeout=10s backoff=300ms
                        shm=%%SHM%%;
    octopus_audit_spool %%PREFIX%%/spool;
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
    $conf =~ s/%%SHM%%/$shm/;
    $t->nginx_conf($conf);

    $t->run;

    my $metrics = sub { $t->get('/metrics')->{body} };

    $t->get("/warm/$_") for 1 .. 3;
    ok($t->wait_for(sub {
        $t->psql("SELECT count(*) FROM audit.api_calls") == 3 }, 10),
       'database reachable');

    my ($old) = $t->worker_pids;
    my $m = $metrics->();
    like($m, qr/^octopus_audit_worker_queue_depth\{worker="\d+",pid="$old"\} 0$/m,
         'the live worker has its own gauge');

    # frozen database: records queue up in memory

    $t->pg_signal('STOP');
    $t->get("/queued/$_") for 1 .. 40;

    ok($t->wait_for(sub { (_depth($metrics->()) // 0) >= 30 }, 5),
       'records queued while PostgreSQL is frozen');
    $m = $metrics->();
    my ($slot, $n) = $m =~ /^octopus_audit_worker_queue_depth\{worker="(\d+)",pid="$old"\} (\d+)$/m;
    cmp_ok($n // 0, '>=', 30, "... in the worker's own gauge ($n)");
    is(_depth($m), $n, 'the total is the sum of the live workers');

    # the worker killed, respawned in the same slot

    $t->allow_log(qr/exited on signal 9/);
    kill 'KILL', $old;

    my $new;
    ok($t->wait_for(sub { ($new) = $t->worker_pids; $new && $new != $old }, 10),
       'the master respawned the worker');

    ok($t->wait_for(sub {
        my $x = $metrics->();
        return $x =~ /^octopus_audit_worker_queue_depth\{worker="$slot",pid="$new"\} /m
    }, 5), 'the new worker owns the slot');

    $m = $metrics->();
    unlike($m, qr/pid="$old"/, 'no gauge for the dead worker');

    if ($shm eq 'off') {
        is(_depth($m), 0, "the dead worker's count is gone from the total")
            or diag $m;
        like($m, qr/^octopus_audit_worker_queue_depth
                    \{worker="$slot",pid="$new"\}\ 0$/mx,
             'the new worker starts from 0');

    } else {
        # the records the dead worker queued are the new worker's now
        my ($got) = $m =~ /^octopus_audit_worker_queue_depth
                            \{worker="$slot",pid="$new"\}\ (\d+)$/mx;
        is($got, $n, "the new worker holds the dead worker's $n records");
        is(_depth($m), $got, '... counted once in the total') or diag $m;
    }

    $t->pg_signal('CONT');

    $t->get("/after/$_") for 1 .. 5;
    ok($t->wait_for(sub {
        $t->psql("SELECT count(*) FROM audit.api_calls "
                 . "WHERE path LIKE '/after/%'") == 5 }, 15),
       'the new worker stores records');
    ok($t->wait_for(sub { _depth($metrics->()) == 0 }, 5), 'queue empty again');

    if ($shm ne 'off') {
        ok($t->wait_for(sub {
            $t->psql("SELECT count(*) FROM audit.api_calls "
                     . "WHERE path LIKE '/queued/%'") == 40 }, 15),
           "the dead worker's 40 records stored");
    }

    $t->stop;
    $t->check_error_log;
}


sub _depth {
    my ($m) = @_;
    my ($d) = $m =~ /^octopus_audit_queue_depth (\d+)$/m;
    return $d;
}
