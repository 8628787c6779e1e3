#!/usr/bin/perl

# ngx_octopus_audit_module, spool disk full (a 64k tmpfs) while PostgreSQL
# is down: every record the spool cannot take is counted as dropped, the
# error lines are throttled (at most 2 a second per worker, with the
# count), and once the database is back (backoff=5s) the worker reconnects
# within about half a second and drops nothing more.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time sleep);

plan(skip_all => 'needs root to mount a tmpfs') if $> != 0;

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

my $spool = "$t->{dir}/spool";
mkdir $spool;
my ($rc, $out) = Octopus::Test::capture('mount', '-t', 'tmpfs', '-o',
                                        'size=64k', 'tmpfs', $spool);
if ($rc) {
    plan(skip_all => "cannot mount a tmpfs: $out");
}
END { system('umount', '-l', $spool) if $spool && -d $spool; }

# leave a few kilobytes free

open my $fh, '>', "$spool/filler" or die "filler: $!";
my $block = 'x' x 1024;
while (syswrite($fh, $block)) { }
close $fh;
truncate "$spool/filler", (-s "$spool/filler") - 6 * 1024;

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 1;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 interval=50ms timeout=1s backoff=5s;
    octopus_audit_spool %%PREFIX%%/spool fsync=off;
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

sub metric {
    my ($name) = @_;
    my ($v) = $t->get('/metrics')->{body} =~ /^\Q$name\E (\d+)$/m;
    return $v;
}

sub rows {
    my ($like) = @_;
    return $t->psql("SELECT count(*) FROM audit.api_calls "
                    . "WHERE path LIKE '$like'");
}

$t->get("/warm/$_") for 1 .. 3;
ok($t->wait_for(sub { rows('/warm/%') == 3 }, 10), 'database reachable');

# the database down, the spool fills up at once

$t->pg_stop;

my $start = time;
my $served = 0;
while (time - $start < 3.5) {
    $served++ if $t->get("/down/$served")->{status} == 200;
    sleep 0.002;
}
cmp_ok($served, '>', 100, "requests served while down ($served)");

my $dropped;
ok($t->wait_for(sub {
    $dropped = metric('octopus_audit_records_dropped_total');
    my $spooled = metric('octopus_audit_records_spooled_total');
    return $dropped && $dropped + $spooled >= $served;
}, 5), 'every record is spooled or counted as dropped');
cmp_ok($dropped, '>', 50, "the full disk dropped records ($dropped)");

my (%per, $lines);
for (split /\n/, $t->error_log) {
    next unless /^(\S+ \S+) \[(?:crit|error|alert)\] (\d+)#.*octopus audit/;
    $per{"$1 $2"}++;
    $lines++;
}
my ($worst) = sort { $b <=> $a } values %per;
cmp_ok($worst, '<=', 2, "at most 2 error lines a second per worker "
                        . "($worst, $lines in all)");
like($t->error_log,
     qr/write to spool file "[^"]+" failed: audit records DROPPED \(\d+ times in the last second\) \(28: No space left on device\)/,
     'the throttled line carries the count and the errno');

# the database back while the traffic goes on: reconnected within half
# a second or so although backoff=5s (the 100ms-doubling schedule would be
# at its 3.2s or 5s step by now)

my $load = $t->load_start(requests => 100000, concurrency => 2,
                          uri => '/during-restart');
$t->pg_start;
my $back = time;
ok($t->wait_for(sub { metric('octopus_audit_db_connections') == 1 }, 8),
   'the worker reconnected');
my $took = time - $back;
cmp_ok($took, '<', 1.5, sprintf('... %.2fs after the database was back',
                                $took));
kill 'KILL', @{$load->{pids}};
$t->load_wait($load);

$dropped = metric('octopus_audit_records_dropped_total');
$t->get("/back/$_") for 1 .. 50;
ok($t->wait_for(sub { rows('/back/%') == 50 }, 10),
   'records after the database is back are stored');
is(metric('octopus_audit_records_dropped_total'), $dropped,
   'no drop once the database is back');

$t->stop;
unlink "$spool/filler";
$t->done;
