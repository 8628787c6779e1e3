#!/usr/bin/perl

# conf/sql/001_audit_schema.sql: on a fresh database, and on a database made
# by its version 1 (t/data/audit_schema_v1.sql, primary key (ts,
# request_id)), which it moves in place to the primary key (chain_id, seq,
# ts) the writer's direct COPY relies on; the rows, the grants and the
# writer keep working.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;

my $current = $t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql'));
my $v1 = $t->read_file(Cwd::abs_path('t/data/audit_schema_v1.sql'));

sub pkey {
    my ($db) = @_;
    return $t->psql("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    . "WHERE conrelid = 'audit.api_calls'::regclass "
                    . "AND contype = 'p'", db => $db);
}

sub indexes {
    my ($db) = @_;
    return join ' ', split /\n/, $t->psql(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'audit' "
        . "AND tablename = 'api_calls' ORDER BY 1", db => $db);
}

my $row = "INSERT INTO audit.api_calls (ts, request_id, event_type, "
          . "chain_id, seq, prev_hash, hash) VALUES ('2026-12-01 10:00:00+00',"
          . " 'r1', 'api_call', 'c1', %d, 'p', 'h')";

# fresh

$t->psql('CREATE DATABASE fresh', db => 'postgres');
$t->psql($current, db => 'fresh');
$t->psql($current, db => 'fresh');
is(pkey('fresh'), 'PRIMARY KEY (chain_id, seq, ts)', 'fresh: the key');
is(indexes('fresh'), 'api_calls_event_ts api_calls_pkey api_calls_user_ts',
   'fresh: the indexes');
is($t->psql("SELECT string_agg(version::text, ',' ORDER BY version) "
            . "FROM audit.schema_migrations", db => 'fresh'), '1,2',
   'fresh: versions 1 and 2');
like($t->psql("SELECT indexdef FROM pg_indexes WHERE indexname = "
             . "'api_calls_user_ts'", db => 'fresh'),
     qr/\(user_name, ts\) WHERE \(user_name IS NOT NULL\)/,
     'fresh: records without a user are not in the user index');

# version 1, with a row, then the current file

$t->psql($v1);
is(pkey('octopus'), 'PRIMARY KEY (ts, request_id)', 'v1: the old key');
$t->psql(sprintf $row, 1);

$t->psql($current);
is(pkey('octopus'), 'PRIMARY KEY (chain_id, seq, ts)', 'migrated: the key');
unlike(indexes('octopus'), qr/api_calls_chain_seq/,
       'migrated: the (chain_id, seq) index it replaces is gone');
like(indexes('octopus'), qr/api_calls_user_ts/, 'migrated: the user index');
is($t->psql('SELECT count(*) FROM audit.api_calls'), 1, 'migrated: the row');
is($t->psql("SELECT string_agg(version::text, ',' ORDER BY version) "
            . "FROM audit.schema_migrations"), '1,2', 'migrated: version 2');

# the key is the record's place in its chain, not its request id

ok(!eval { $t->psql(sprintf $row, 1); 1 }, 'the same (chain_id, seq, ts) '
   . 'twice is refused');
like($@, qr/duplicate key value violates unique constraint/,
     'by the primary key');
ok(eval { $t->psql(sprintf $row, 2); 1 },
   'another record of the same request id and time is stored');

$t->psql($current);
is(pkey('octopus'), 'PRIMARY KEY (chain_id, seq, ts)', 'migrated twice');

# the writer on the migrated database

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");
$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 interval=50ms timeout=2s;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;
$t->get("/migrated/$_") for 1 .. 5;
ok($t->wait_for(sub {
    $t->psql("SELECT count(*) FROM audit.api_calls "
             . "WHERE path LIKE '/migrated/%'") == 5 }, 10),
   'the writer stores its batches on the migrated table');

$t->done;
