#!/usr/bin/perl

# ngx_octopus_audit_module: a worker killed with SIGKILL under load, with
# PostgreSQL up and with PostgreSQL frozen (SIGSTOP): the records it had
# accepted (its queue and the batch in flight) are in the shared memory
# ring, queued again by its successor, so every request answered 2xx has
# its row (by unique path), once, and every chain still verifies.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::AuditLoad;
use Time::HiRes qw(sleep time);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=50 interval=200ms timeout=3s backoff=300ms shm=4m;
    octopus_audit_spool %%PREFIX%%/spool;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit on;

    log_format paths $request_uri;
    access_log %%PREFIX%%/paths.log paths;

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

$t->get('/warm', 'X-Sim-User' => 'warm') for 1 .. 4;
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'warm'") == 4 }, 10),
   'database reachable');

sub kill_worker {
    my @w = $t->worker_pids;
    my $victim = $w[0];
    kill 'KILL', $victim;
    # the master respawns it
    $t->wait_for(sub { my @n = $t->worker_pids;
                       @n == 2 && !grep { $_ == $victim } @n }, 5);
    return $victim;
}

# Counted as the issue counts, against an independent access_log: every
# request logged has its row, once (the audit handler runs first in the log
# phase).  A request answered 2xx may lack both when its worker was killed
# between sending the response and the log phase (the record was never
# accepted): at most one such request per kill, as a worker runs one
# request's finalization at a time.

sub check {
    my ($tag, $paths, $within, $kills) = @_;
    my ($missing, $dups, $rows, %db, @lost);
    my %logged = map { $_ => 1 } split /\n/, $t->read_file('paths.log');
    my @unlogged = grep { !$logged{$_} } @$paths;
    $t->wait_for(sub {
        ($missing, $dups, $rows) =
            Octopus::AuditLoad::compare($t, $tag, $paths);
        %db = map { $_ => 1 } split /\n/, $t->psql(
            "SELECT path FROM audit.api_calls WHERE user_name = '$tag'");
        @lost = grep { $logged{$_} && !$db{$_} } @$paths;
        !@lost }, $within);
    diag(sprintf "%s: %d answered 2xx, %d rows, %d missing, %d duplicates; "
                 . "%d answered but killed before the log phase",
                 $tag, scalar(@$paths), $rows, $missing, $dups,
                 scalar @unlogged);
    is(scalar @lost, 0, "$tag: no record lost") or diag "@lost";
    is($dups, 0, "$tag: no duplicate");
    ok(@unlogged <= $kills, "$tag: at most $kills answered without a log "
                            . 'phase') or diag "@unlogged";
}

# PostgreSQL up: two workers killed during the load

my $l = Octopus::AuditLoad::start($t, 'up', clients => 4);
sleep 0.7;
kill_worker();
sleep 0.5;
kill_worker();
sleep 0.5;
my @up = Octopus::AuditLoad::stop($t, $l);
check('up', \@up, 10, 2);

# PostgreSQL frozen: the batch in flight and the queue of the killed worker

$l = Octopus::AuditLoad::start($t, 'frozen', clients => 4);
sleep 0.3;
$t->pg_signal('STOP');
sleep 1;
kill_worker();
sleep 0.5;
my @frozen = Octopus::AuditLoad::stop($t, $l);
$t->pg_signal('CONT');
check('frozen', \@frozen, 20, 1);

# with PostgreSQL frozen the killed worker's ring held records (with it up,
# a kill may find the ring empty)

like($t->error_log, qr/records queued by worker \d+, which died, recovered/,
     'the dead worker\'s queue recovered from shared memory');

# the chains of the dead workers end where they died: nothing to explain

my $verify = '/usr/bin/perl ' . Cwd::abs_path('tools/octopus-audit-verify');
my $dsn = $t->pg_dsn;
my $out = `$verify --key $t->{dir}/chain.key --dsn '$dsn' 2>&1`;
is($? >> 8, 0, 'every chain verifies') or diag $out;
my $chains = $t->psql("SELECT count(DISTINCT chain_id) FROM audit.api_calls");
cmp_ok($chains, '>=', 5, "$chains chains (3 workers killed)");

ok($t->wait_for(sub { !glob("$t->{dir}/spool/*.spool") }, 10),
   'the spool is empty once replayed');
like($t->get('/metrics')->{body}, qr/^octopus_audit_records_dropped_total 0$/m,
     'nothing dropped');

$t->done;
