#!/usr/bin/perl

# ngx_octopus_audit_module: the spool folder is checked before it is
# needed.  `nginx -t` (as root, "user nobody") refuses a folder that cannot
# be created and one under a 0700 parent the worker user cannot traverse;
# a running worker whose spool became unusable logs one line naming the
# folder, the user and the errno, and, with PostgreSQL down too, the
# dropped records are counted and logged at most once a second.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time sleep);

plan(skip_all => 'needs root (user nobody, folder modes)') if $> != 0;
plan(skip_all => 'no user nobody / group nogroup')
    unless getpwnam('nobody') && getgrnam('nogroup');

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

my $tpl = <<'EOF';
user nobody nogroup;
worker_processes 1;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PORT_nopg%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 interval=50ms timeout=1s backoff=300ms;
    octopus_audit_spool SPOOL;
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

sub conf {
    my ($spool) = @_;
    (my $c = $tpl) =~ s/SPOOL/$spool/;
    return $c;
}

# nginx -t: a folder that cannot exist

my ($ok, $out) = $t->nginx_test(conf('%%PREFIX%%/missing/deeper/spool'));
ok(!$ok, 'nginx -t refuses a spool folder whose parent is missing');
like($out, qr/missing\/deeper\/spool.*No such file or directory/,
     '... naming the folder and the errno') or diag $out;

# nginx -t: a 0700 parent owned by root, "user nobody"

mkdir "$t->{dir}/private";
chmod 0700, "$t->{dir}/private";

$t->allow_log(qr/\[emerg\] .*octopus_audit_spool .*private\/spool/);

($ok, $out) = $t->nginx_test(conf('%%PREFIX%%/private/spool'));
ok(!$ok, 'nginx -t refuses a spool folder under a 0700 root parent');
like($out, qr/\[emerg\] octopus_audit_spool "[^"]*\/private\/spool" in \S+:\d+ is not usable by user "nobody" \(uid \d+\): "[^"]*\/private" \(mode 0700, owner uid 0\) is not traversable by it \(13: Permission denied\)/,
     '... naming the folder, the user, the parent and the errno')
    or diag $out;

# a usable folder passes

($ok, $out) = $t->nginx_test(conf('%%PREFIX%%/spool'));
ok($ok, 'nginx -t accepts a folder the worker user can use') or diag $out;

# running: the folder becomes unusable, the worker is respawned

$t->nginx_conf(conf('%%PREFIX%%/spool'));
$t->run;

is($t->get('/warm')->{status}, 200, 'serving');
my @w = $t->worker_pids;
is(scalar @w, 1, 'one worker');

chmod 0500, "$t->{dir}/spool";
$t->allow_log(qr/exited on signal 9/);
$t->allow_log(qr/\[alert\].*spool folder "[^"]*\/spool" is not usable/);

kill 'KILL', $w[0];
ok($t->wait_for(sub { my @n = $t->worker_pids; @n == 1 && $n[0] != $w[0] },
                10), 'worker respawned');
ok($t->wait_for(sub { $t->error_log =~ /probe file failed/ }, 5),
   'the new worker probed the spool');

my @alert = grep { /spool folder/ } split /\n/, $t->error_log;
is(scalar @alert, 1, 'one line about the folder');
like($alert[0], qr/\[alert\].*spool folder "[^"]*\/spool" is not usable by user "nobody" \(uid \d+\): open\(\) of a probe file failed, .*DROPPED.*\(13: Permission denied\)/,
     '... naming the folder, the user and the errno') or diag $alert[0];

# PostgreSQL down as well: records are dropped, counted, logged throttled

my $start = time;
my $served = 0;
while (time - $start < 2.5) {
    $served++ if $t->get("/drop/$served")->{status} == 200;
    sleep 0.002;
}
cmp_ok($served, '>', 100, "requests served ($served)");

my $m;
ok($t->wait_for(sub {
    $m = $t->get('/metrics')->{body};
    my ($d) = $m =~ /^octopus_audit_records_dropped_total (\d+)$/m;
    return $d && $d >= $served;
}, 5), 'every record the spool could not take is counted as dropped')
    or diag $m;

my %per;
for (split /\n/, $t->error_log) {
    next unless /^(\S+ \S+) \[(?:crit|error|alert)\] (\d+)#.*octopus audit/;
    next if /probe file failed/;            # the one line at start
    $per{"$1 $2"}++;
}
my ($worst) = sort { $b <=> $a } values %per;
cmp_ok($worst, '<=', 2, "at most 2 error lines a second per worker ($worst)");
like($t->error_log, qr/DROPPED \(\d+ times in the last second\)/,
     'the throttled line carries the count');

chmod 0700, "$t->{dir}/spool";

$t->done;
