#!/usr/bin/perl

# ngx_octopus_audit_module across nginx reload, quit and restart: nothing
# queued is lost, and a spool written by one nginx is replayed by the next.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(sleep);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

# a long interval: records wait in the queue when nginx reloads or quits
$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=1000 interval=5s timeout=1s backoff=300ms;
    octopus_audit_spool %%PREFIX%%/spool;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        set $octopus_user $http_x_sim_user;

        location / {
            proxy_pass http://%%BACKEND%%;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_metrics%%;
        location / { octopus_audit off; octopus_metrics; }
    }
}
EOF

# a spool file the database refuses (left by a broken writer): set aside,
# it must not block the spool
$t->write_file('spool/0000000000000001-1.spool', "not\ta\tvalid\trecord\n");

$t->run;

sub count {
    my ($tag) = @_;
    return $t->psql("SELECT count(*) FROM audit.api_calls "
                    . "WHERE user_name = '$tag'");
}

sub served {
    my ($res) = @_;
    return $res->{200} // 0;
}

# reload under traffic

my $load = $t->load_start(requests => 600, concurrency => 4,
                          uri => '/reload', headers => ['X-Sim-User', 'reload']);
sleep 0.3;
ok($t->reload, 'reload 1');
# the old workers finish their requests, spool their queue and exit
ok($t->wait_for(sub { $t->worker_pids == 2 }, 10), 'old workers exited');
ok($t->reload, 'reload 2');
my $res = $t->load_wait($load);
is(served($res), 600, 'every request served across two reloads')
    or diag explain $res;

ok($t->wait_for(sub { count('reload') >= 600 }, 20),
   'records queued by the old workers arrive');
sleep 0.3;
is(count('reload'), 600, 'reload under traffic: 600 rows, exactly once');

# quit under traffic, then start again: the spool is replayed

$load = $t->load_start(requests => 200, concurrency => 4, uri => '/quit',
                       headers => ['X-Sim-User', 'quit'], timeout => 3);
sleep 0.4;
$t->stop;
$res = $t->load_wait($load);
my $quit_served = served($res);
cmp_ok($quit_served, '>', 0, "$quit_served requests served before the quit");

sub spooled {
    my $n = 0;
    for my $f (glob("$t->{dir}/spool/*.spool")) {
        $n += () = ($t->read_file($f) // '') =~ /\n/g;
    }
    return $n;
}

# the exiting workers sent their queue (or spooled it): nothing in limbo
is(count('quit') + spooled(), $quit_served,
   'after the quit every served request is in the table or the spool');

$t->run;
ok($t->wait_for(sub { count('quit') >= $quit_served }, 20),
   'the next nginx replays the spool');
sleep 0.3;
is(count('quit'), $quit_served, 'quit under traffic: one row per served '
   . 'request');

# spool written while the database is down, replayed by the next nginx

$t->pg_stop;
$t->get("/down/$_", 'X-Sim-User' => 'down') for 1 .. 40;
sleep 0.2;
$t->stop;
ok(scalar(glob("$t->{dir}/spool/*.spool")), 'records spooled while down');

$t->pg_start;
$t->run;
ok($t->wait_for(sub { count('down') >= 40 }, 20),
   'spool written by one nginx is replayed by the next');
sleep 0.3;
is(count('down'), 40, '40 rows exactly once');
ok($t->wait_for(sub { !glob("$t->{dir}/spool/*.spool") }, 10),
   'the spool is empty once replayed');

is($t->psql('SELECT count(*) FROM audit.api_calls'),
   600 + $quit_served + 40, 'no duplicates in the table');

ok(-f "$t->{dir}/spool/0000000000000001-1.spool.rejected",
   'a spool file the database refuses is set aside');
like($t->error_log, qr/\[crit\].*rejected spool file/, '... loudly');

# a full spool: records dropped, counted, and said loudly

(my $conf = $t->read_file('nginx.conf')) =~ s/spool;/spool max_size=64k;/;
$t->write_file('nginx.conf', $conf);
$t->pg_stop;
ok($t->reload, 'reload with a small spool');

my $ua = 'x' x 1000;
$t->get("/full/$_", 'X-Sim-User' => 'full', 'User-Agent' => $ua) for 1 .. 150;

my $m;
ok($t->wait_for(sub {
    $m = $t->http(uri => '/metrics', port => $t->port('metrics'))->{body};
    $m =~ /^octopus_audit_records_dropped_total [1-9]/m }, 5),
   'dropped records counted');
my ($dropped) = $m =~ /^octopus_audit_records_dropped_total (\d+)$/m;
cmp_ok($dropped, '<', 150, "some records spooled, $dropped dropped");
like($t->error_log, qr/\[crit\].*spool .* is full .*DROPPED/,
     'the full spool is reported in the error log');

$t->done;
