#!/usr/bin/perl

# ngx_octopus_audit_module: octopus_audit_queue_depth counts live workers
# only.  PostgreSQL frozen with SIGSTOP, records queue up in the worker;
# the worker is killed with SIGKILL; once the master respawned it (same
# process slot) the gauge no longer carries the dead worker's count.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(sleep);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 1;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 interval=50ms timeout=10s backoff=300ms;
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

$t->run;

sub metrics { $t->get('/metrics')->{body} }

sub depth {
    my ($m) = @_;
    my ($d) = $m =~ /^octopus_audit_queue_depth (\d+)$/m;
    return $d;
}

$t->get("/warm/$_") for 1 .. 3;
ok($t->wait_for(sub {
    $t->psql("SELECT count(*) FROM audit.api_calls") == 3 }, 10),
   'database reachable');

my ($old) = $t->worker_pids;
my $m = metrics();
like($m, qr/^octopus_audit_worker_queue_depth\{worker="\d+",pid="$old"\} 0$/m,
     'the live worker has its own gauge');

# frozen database: records queue up in memory

$t->pg_signal('STOP');
$t->get("/queued/$_") for 1 .. 40;

ok($t->wait_for(sub { (depth(metrics()) // 0) >= 30 }, 5),
   'records queued while PostgreSQL is frozen');
$m = metrics();
my ($slot, $n) = $m =~ /^octopus_audit_worker_queue_depth\{worker="(\d+)",pid="$old"\} (\d+)$/m;
cmp_ok($n // 0, '>=', 30, "... in the worker's own gauge ($n)");
is(depth($m), $n, 'the total is the sum of the live workers');

# the worker killed, respawned in the same slot

$t->allow_log(qr/exited on signal 9/);
kill 'KILL', $old;

my $new;
ok($t->wait_for(sub { ($new) = $t->worker_pids; $new && $new != $old }, 10),
   'the master respawned the worker');

ok($t->wait_for(sub {
    my $x = metrics();
    return $x =~ /^octopus_audit_worker_queue_depth\{worker="$slot",pid="$new"\} /m
}, 5), 'the new worker owns the slot');

$m = metrics();
is(depth($m), 0, "the dead worker's count is gone from the total")
    or diag $m;
unlike($m, qr/pid="$old"/, 'no gauge for the dead worker');
like($m, qr/^octopus_audit_worker_queue_depth\{worker="$slot",pid="$new"\} 0$/m,
     'the new worker starts from 0');

$t->pg_signal('CONT');

$t->get("/after/$_") for 1 .. 5;
ok($t->wait_for(sub {
    $t->psql("SELECT count(*) FROM audit.api_calls "
             . "WHERE path LIKE '/after/%'") == 5 }, 15),
   'the new worker stores records');
ok($t->wait_for(sub { depth(metrics()) == 0 }, 5), 'queue empty again');

$t->done;
