#!/usr/bin/perl

# ngx_octopus_audit_module and $request_id: while the module is on, the
# variable draws its 16 random bytes from a per-worker block of OpenSSL's
# generator instead of one RAND_bytes() call per request.  The value is
# the same for every user of the variable in a request (the record, the
# header sent upstream, the access_log), 32 hex digits, never repeated
# across requests and workers (and so across a reload's new workers).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
    octopus_audit on;

    log_format ids "$request_uri $request_id";
    access_log %%PREFIX%%/ids.log ids;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_set_header X-Request-ID $request_id;
            proxy_pass http://%%BACKEND%%;
        }

        location /quiet/ {
            octopus_audit off;
            proxy_set_header X-Request-ID $request_id;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

$t->run;

my $json = JSON::PP->new->utf8;
my (%upstream, %seen);
my $N = 600;

# three rounds of new connections: both workers answer, a block of 4 KB
# (256 ids) is used up and drawn again

for my $i (1 .. $N) {
    my $uri = ($i % 10 == 0 ? '/quiet' : '') . "/id/$i";
    my $r = $t->get($uri);
    my $b = eval { $json->decode($r->{body}) } || {};
    $upstream{$uri} = $b->{headers}{'x-request-id'} // '';
    $t->reload if $i == 300;
}

my %logged = map { split / / } split /\n/, $t->read_file('ids.log');

my %record;
for (split /\n/, $t->read_file('audit.jsonl')) {
    my $rec = eval { $json->decode($_) } or next;
    next unless ($rec->{path} // '') =~ m{^/id/};
    $record{$rec->{path}} = $rec->{request_id};
}

my ($bad, $mismatch, $dups) = (0, 0, 0);
for my $uri (keys %upstream) {
    my $id = $upstream{$uri};
    $bad++ unless $id =~ /^[0-9a-f]{32}$/;
    $mismatch++ unless ($logged{$uri} // '') eq $id;
    if ($uri !~ /^\/quiet/) {
        $mismatch++ unless ($record{$uri} // '') eq $id;
    }
    $dups++ if $seen{$id}++;
}

is(scalar keys %upstream, $N, "$N requests answered");
is($bad, 0, 'every id is 32 hex digits');
is($mismatch, 0, 'the record, the upstream header and the access_log '
                 . 'carry the same id');
is($dups, 0, 'no id given twice (two workers, a reload)');
is(scalar keys %record, $N - $N / 10, 'a record per audited request');

# the 16 bytes are not a counter: ids of consecutive requests share no
# long common prefix

my @ids = map { $upstream{"/id/$_"} } grep { $_ % 10 } 1 .. 50;
my $prefix = 0;
for my $k (1 .. $#ids) {
    my ($a, $b) = ($ids[$k - 1], $ids[$k]);
    my $n = 0;
    $n++ while $n < 32 && substr($a, $n, 1) eq substr($b, $n, 1);
    $prefix = $n if $n > $prefix;
}
cmp_ok($prefix, '<', 8, "consecutive ids share at most $prefix hex digits");

$t->done;
