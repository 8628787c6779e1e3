#!/usr/bin/perl

# ngx_octopus_audit_module: an error path that fires on every record (the
# JSON lines file on a full device, /dev/full) logs at most one line a
# second per worker, with the count, and every failed write is counted.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(time sleep);

plan(skip_all => 'no /dev/full') unless -c '/dev/full';

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 1;
events { }
http {
    octopus_audit_file /dev/full;
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

my $start = time;
my $served = 0;
while (time - $start < 2.5) {
    $served++ if $t->get("/full/$served")->{status} == 200;
}
cmp_ok($served, '>', 100, "requests served ($served)");

my $m = $t->get('/metrics')->{body};
like($m, qr/^octopus_audit_sink_errors_total\{sink="file"\} $served$/m,
     'every failed write counted');

my (%per, $lines);
for (split /\n/, $t->error_log) {
    next unless /^(\S+ \S+) \[error\] (\d+)#.*write to "\/dev\/full" failed/;
    $per{"$1 $2"}++;
    $lines++;
}
my ($worst) = sort { $b <=> $a } values %per;
cmp_ok($worst, '<=', 1, "at most one line a second ($lines lines for "
                        . "$served failures)");
like($t->error_log,
     qr/write to "\/dev\/full" failed \(\d+ times in the last second\) \(28: No space left on device\)/,
     'the line carries the count and the errno');

$t->done;
