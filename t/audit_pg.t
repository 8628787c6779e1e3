#!/usr/bin/perl

# ngx_octopus_audit_module with PostgreSQL: one row per request with the
# identity and event type, security event classification, redaction,
# escaping, the append-only roles, the verify tool on the table, metrics.
#
# Only the audit module is loaded: the identity variables of the other
# modules are simulated by name with "set" (the audit module reads them by
# name, so it works with any subset of the modules).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Time::HiRes qw(sleep);

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));
# applying the migration twice is harmless
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));

$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=20 interval=50ms timeout=2s backoff=200ms;
    octopus_audit_spool %%PREFIX%%/spool max_size=10m;
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit_redact "(card|pan)=[0-9]{4,}" "$1=[X]";
    octopus_audit_anomaly bytes=100k within=1m;
    octopus_audit_node edge-test;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        set $octopus_user $http_x_sim_user;
        set $octopus_role $http_x_sim_role;
        set $octopus_auth_result $http_x_sim_auth;
        set $octopus_ratelimit_result $http_x_sim_rl;

        location / {
            proxy_pass http://%%BACKEND%%;
        }

        location = /auth/login {
            octopus_audit_login on;
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

sub rows_count {
    return $t->psql('SELECT count(*) FROM audit.api_calls');
}

sub wait_rows {
    my ($n, $timeout) = @_;
    return $t->wait_for(sub { rows_count() >= $n }, $timeout // 15);
}

# plain traffic: N requests, N rows

my $N = 60;
for my $i (1 .. $N) {
    my $r = $t->get("/plain/$i", 'X-Sim-User' => 'alice',
                    'X-Sim-Role' => 'trader', 'X-Sim-Auth' => 'ok',
                    'X-Sim-Rl' => 'pass');
    die "request $i: $r->{status}" unless $r->{status} == 200;
}

ok(wait_rows($N), "$N requests reached the table");
is(rows_count(), $N, 'exactly one row per request');
is($t->psql("SELECT count(*) FROM audit.api_calls WHERE user_name = 'alice'"
            . " AND role = 'trader' AND status = 200 AND method = 'GET'"
            . " AND event_type = 'api_call' AND auth_result = 'ok'"
            . " AND ratelimit_result = 'pass' AND node = 'edge-test'"
            . " AND path LIKE '/plain/%' AND client = '127.0.0.1'"
            . " AND bytes_sent > 0 AND upstream_status = '200'"),
   $N, 'rows carry user, role, status, results and event type');
is($t->psql('SELECT count(DISTINCT request_id) FROM audit.api_calls'), $N,
   'request ids are distinct');

# security events

my $base = rows_count();

$t->get('/auth/login', 'X-Test-Status' => 401);
$t->get('/orders', 'X-Sim-User' => 'bob', 'X-Sim-Auth' => 'expired',
        'X-Test-Status' => 401);
$t->get('/admin', 'X-Sim-User' => 'carol', 'X-Sim-Role' => 'viewer',
        'X-Sim-Auth' => 'forbidden', 'X-Test-Status' => 403);
$t->get('/orders', 'X-Sim-User' => 'dave', 'X-Sim-Auth' => 'ok',
        'X-Sim-Rl' => 'limited', 'X-Test-Status' => 429);
$t->get('/orders', 'X-Sim-User' => 'erin', 'X-Sim-Auth' => 'ok',
        'X-Sim-Rl' => 'banned', 'X-Test-Status' => 403);
$t->get('/auth/login', 'X-Sim-Rl' => 'locked', 'X-Test-Status' => 429);
$t->get('/orders', 'X-Sim-User' => 'nobody-token', 'X-Sim-Auth' => 'missing',
        'X-Test-Status' => 401);

# 100k per minute for each user: mallory's second 80k answer passes it,
# the third one is not reported again
$t->get("/data/$_", 'X-Sim-User' => 'mallory', 'X-Sim-Auth' => 'ok',
        'X-Test-Body-Bytes' => 80000)
    for 1 .. 3;

ok(wait_rows($base + 10), 'security event rows arrived');

my %ev = map { split /\|/ } split /\n/, $t->psql(
    "SELECT event_type, count(*) FROM audit.api_calls "
    . "WHERE ts > now() - interval '1 hour' GROUP BY event_type");

is($ev{failed_login_attempt}, 2, 'failed_login_attempt: 401 on login '
   . 'location and expired credentials');
is($ev{privilege_escalation}, 1, 'privilege_escalation: RBAC 403');
is($ev{suspicious_api_usage}, 2, 'suspicious_api_usage: limited and banned');
is($ev{account_lockout}, 1, 'account_lockout: ratelimit locked');
is($ev{data_access_anomaly}, 1, 'data_access_anomaly: once, across workers');
is($t->psql("SELECT user_name FROM audit.security_events "
            . "WHERE event_type = 'data_access_anomaly'"), 'mallory',
   'anomaly names the user');
is($t->psql("SELECT event_type FROM audit.api_calls "
            . "WHERE user_name = 'nobody-token'"), 'api_call',
   'missing credentials alone are not a failed login');
is($t->psql("SELECT count(*) FROM audit.security_events"), 7 + 0,
   'security_events view') or diag $t->psql("SELECT * FROM audit.security_events");

# redaction: Luhn card numbers, secret parameters, configured patterns

$base = rows_count();

$t->get('/pay/4111111111111111/x?card=4012888888881881&n=1234567890123'
        . '&password=hunter2&access_token=abc.def&my_api_key=k1&pan=98765'
        . '&ok=1', 'X-Sim-User' => 'redact');
ok(wait_rows($base + 1), 'redaction row arrived');

my ($path, $query) = split /\|/, $t->psql(
    "SELECT path, query FROM audit.api_calls WHERE user_name = 'redact'");
is($path, '/pay/[REDACTED]/x', 'card number in the path redacted');
is($query, 'card=[REDACTED]&n=1234567890123&password=[REDACTED]'
    . '&access_token=[REDACTED]&my_api_key=[REDACTED]&pan=[X]&ok=1',
   'card numbers, secret parameters, configured pattern redacted');
unlike($t->read_file('audit.jsonl') // '', qr/4111111111111111|hunter2|abc\.def/,
       'no secret in the file sink');

# credentials never recorded

$base = rows_count();
$t->get('/creds', 'X-Sim-User' => 'creds',
        'Authorization' => 'Bearer secret-bearer-value',
        'Cookie' => 'session=secret-cookie-value',
        'X-API-Key' => 'secret-api-key-value');
ok(wait_rows($base + 1), 'credentials row arrived');
is($t->psql("SELECT count(*) FROM audit.api_calls WHERE "
            . "api_calls::text LIKE '%secret-%'"), 0,
   'Authorization, Cookie and X-API-Key values are not in the table');

# escaping: quotes, backslashes, tabs, newlines, invalid UTF-8

$base = rows_count();
my $ua = "ua \"quoted\" back\\slash\ttab \xff\xfe end \xc3\xa9";
my $r = $t->http(raw => "GET /esc/%22q%22%5Cb%09t%0Anl%FF%C3%A9?x=%22 HTTP/1.1\r\n"
                 . "Host: localhost\r\nConnection: close\r\n"
                 . "X-Sim-User: esc\r\nUser-Agent: $ua\r\n\r\n");
is($r->{status}, 200, 'request with odd bytes served');
ok(wait_rows($base + 1), 'escaping row arrived');

my $row = $t->psql("SELECT row_to_json(t) FROM (SELECT path, user_agent, "
                   . "query FROM audit.api_calls WHERE user_name = 'esc') t");
my $j = JSON::PP->new->utf8->decode($row);
is($j->{path}, "/esc/\"q\"\\b\tt\nnl\\xff\x{e9}",
   'path: quote, backslash, tab, newline intact, invalid UTF-8 escaped');
is($j->{user_agent}, "ua \"quoted\" back\\slash\ttab \\xff\\xfe end \x{e9}",
   'user agent intact, invalid UTF-8 escaped');

my ($line) = grep { /"user_name":"esc"/ } split /\n/,
             $t->read_file('audit.jsonl');
my $fj = eval { JSON::PP->new->utf8->decode($line) };
ok($fj, 'file sink line is valid JSON');
is($fj->{path}, $j->{path}, 'file sink has the same path');
is($fj->{user_agent}, $j->{user_agent}, 'file sink has the same user agent');

# append-only roles

for my $sql ("UPDATE audit.api_calls SET status = 200",
             "DELETE FROM audit.api_calls",
             "TRUNCATE audit.api_calls",
             "SELECT count(*) FROM audit.api_calls")
{
    ok(!eval { $t->psql($sql, user => 'octopus_app'); 1 },
       "octopus_app cannot: $sql");
}
ok(!eval { $t->psql("INSERT INTO audit.api_calls (ts, request_id, "
                    . "event_type, chain_id, seq, prev_hash, hash) VALUES "
                    . "(now(), 'x', 'api_call', 'c', 1, 'p', 'h')",
                    user => 'octopus_readonly'); 1 },
   'octopus_readonly cannot INSERT');
ok(!eval { $t->psql("DELETE FROM audit.api_calls",
                    user => 'octopus_readonly'); 1 },
   'octopus_readonly cannot DELETE');
ok($t->psql("SELECT count(*) FROM audit.security_events",
            user => 'octopus_readonly') > 0,
   'octopus_readonly can SELECT');

# metrics match the traffic (sent so far, all audited)

my $total = rows_count();
my $m = $t->get('/metrics')->{body};
my $sum = 0;
$sum += $1 while $m =~ /^octopus_requests_total\{[^}]*\} (\d+)$/mg;
is($sum, $total, "octopus_requests_total sums to the $total audited requests");
like($m, qr/^octopus_requests_total\{auth_result="ok",ratelimit_result="pass"\} $N$/m,
     'requests by auth and ratelimit result');
like($m, qr/^octopus_security_events_total\{event="failed_login_attempt"\} 2$/m,
     'failed logins counted');
like($m, qr/^octopus_security_events_total\{event="account_lockout"\} 1$/m,
     'lockouts counted');
like($m, qr/^octopus_security_events_total\{event="privilege_escalation"\} 1$/m,
     'RBAC denials counted');
like($m, qr/^octopus_security_events_total\{event="suspicious_api_usage"\} 2$/m,
     'rate limit rejections counted');

# the auth and ratelimit modules count their own decisions under these
# names (octopus_auth_metrics, octopus_ratelimit_metrics): not here twice
for my $name (qw(octopus_failed_login_total octopus_account_lockouts_total
                 octopus_rbac_denials_total octopus_ratelimit_rejections_total
                 octopus_redis_errors_total)) {
    unlike($m, qr/^$name /m, "$name is not an audit metric");
}
like($m, qr/^octopus_security_events_total\{event="data_access_anomaly"\} 1$/m,
     'anomalies counted');
like($m, qr/^octopus_audit_records_written_total\{sink="postgresql"\} $total$/m,
     'records written to PostgreSQL');
like($m, qr/^octopus_audit_records_written_total\{sink="file"\} $total$/m,
     'records written to the file');
like($m, qr/^octopus_request_duration_seconds_count $total$/m,
     'latency histogram count');
like($m, qr/^octopus_request_duration_seconds_bucket\{le="\+Inf"\} $total$/m,
     'latency histogram +Inf bucket');
like($m, qr/^octopus_audit_records_dropped_total 0$/m, 'nothing dropped');
like($m, qr/^octopus_audit_queue_depth 0$/m, 'queue empty');

# verify tool on the table; checkpoints come from the file sink

my $verify = '/usr/bin/perl ' . Cwd::abs_path('tools/octopus-audit-verify');
my $dsn = $t->pg_dsn;
my $key = "$t->{dir}/chain.key";
my $cp = "$t->{dir}/audit.jsonl";

# wait for a checkpoint covering every record of both chains
$t->wait_for(sub {
    my %last;
    for (split /\n/, $t->read_file('audit.jsonl')) {
        $last{$1} = $2 if /"checkpoint":\{"chain_id":"([^"]+)","seq":(\d+)/;
    }
    my $sum = 0;
    $sum += $_ for values %last;
    $sum == $total;
}, 10);

sub verify {
    my $out = `$verify --key $key --dsn '$dsn' --checkpoints $cp 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = verify();
is($rc, 0, 'verify: intact table passes') or diag $out;
like($out, qr/^OK $total records in \d+ chains/, 'verify: counts records');

# an edited row
my ($chain, $seq) = split /\|/, $t->psql(
    "SELECT chain_id, seq FROM audit.api_calls WHERE user_name = 'redact'");
$t->psql("UPDATE audit.api_calls SET status = 201 WHERE user_name = 'redact'");
($rc, $out) = verify();
is($rc, 1, 'verify: edited row fails');
like($out, qr/seq $seq .*altered/, 'verify: names the edited record')
    or diag $out;
$t->psql("UPDATE audit.api_calls SET status = 200 WHERE user_name = 'redact'");
($rc, $out) = verify();
is($rc, 0, 'verify: passes again once restored') or diag $out;

# a deleted row
$t->psql("CREATE TABLE saved AS SELECT * FROM audit.api_calls "
         . "WHERE user_name = 'redact'");
$t->psql("DELETE FROM audit.api_calls WHERE user_name = 'redact'");
($rc, $out) = verify();
is($rc, 1, 'verify: deleted row fails');
like($out, qr/seq $seq\b.*missing/,
     'verify: names the deleted record') or diag $out;
$t->psql("INSERT INTO audit.api_calls SELECT * FROM saved");

# a truncated tail: the last 3 records of a chain
my $last = $t->psql("SELECT max(seq) FROM audit.api_calls "
                    . "WHERE chain_id = '$chain'");
$t->psql("CREATE TABLE tail AS SELECT * FROM audit.api_calls "
         . "WHERE chain_id = '$chain' AND seq > $last - 3");
$t->psql("DELETE FROM audit.api_calls WHERE chain_id = '$chain' "
         . "AND seq > $last - 3");
($rc, $out) = verify();
is($rc, 1, 'verify: truncated tail fails');
like($out, qr/missing \(tail cut off\)/, 'verify: reports the cut-off tail')
    or diag $out;
$t->psql("INSERT INTO audit.api_calls SELECT * FROM tail");
($rc, $out) = verify();
is($rc, 0, 'verify: passes again with the tail back') or diag $out;

# the writer stores checkpoints beside the records: a cut-off tail is seen
# from the database alone (one checkpoint row per second and chain at most)

sleep 1.2;
$t->get('/tail-probe', 'X-Sim-User' => 'probe');
ok(wait_rows($total + 1), 'probe row arrived');
my ($pchain, $pseq) = split /\|/, $t->psql(
    "SELECT chain_id, seq FROM audit.api_calls WHERE user_name = 'probe'");
is($t->psql("SELECT count(*) FROM audit.api_calls_checkpoints "
            . "WHERE chain_id = '$pchain' AND seq = $pseq"), 1,
   'a checkpoint row for the last record, stored with it');
ok(!eval { $t->psql("DELETE FROM audit.api_calls_checkpoints",
                    user => 'octopus_app'); 1 },
   'octopus_app cannot DELETE checkpoints');

$out = `$verify --key $key --dsn '$dsn' 2>&1`;
is($? >> 8, 0, 'verify: database alone, intact') or diag $out;

$t->psql("DELETE FROM audit.api_calls WHERE chain_id = '$pchain' "
         . "AND seq > $pseq - 2");
$out = `$verify --key $key --dsn '$dsn' 2>&1`;
is($? >> 8, 1, 'verify: database alone, truncated tail fails');
like($out, qr/chain \Q$pchain\E: records seq \d+\.\.$pseq missing \(tail cut off\)/,
     'verify: database checkpoints reveal the cut-off tail') or diag $out;

# a wrong key
$t->write_file('other.key', Octopus::Test::random_secret() . "\n");
$out = `$verify --key $t->{dir}/other.key --dsn '$dsn' 2>&1`;
is($? >> 8, 1, 'verify: a wrong key fails');

# a unix socket directory as the only host: nothing to resolve, and the
# records arrive through the socket

my $sock = ($t->{pg_base} // $t->{dir}) . '/pg/sock';
my $u = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);
$u->nginx_conf(<<"EOF");
events { }
http {
    octopus_audit_pg "host=$sock port=${\ $t->pg_port} dbname=octopus user=octopus_app";
    octopus_audit_batch size=1 interval=20ms timeout=2s backoff=200ms;
    octopus_audit_spool %%PREFIX%%/spool max_size=1m;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        set \$octopus_user \$http_x_sim_user;
        location / { proxy_pass http://%%BACKEND%%; }
    }
}
EOF
$u->run;
is($u->get('/via-socket', 'X-Sim-User' => 'sockuser')->{status}, 200,
   'unix socket host: request answered');
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM audit.api_calls "
                               . "WHERE user_name = 'sockuser'") == 1 }, 15),
   'unix socket host: the record is stored through the socket');
$u->stop;
$u->check_error_log;

$t->done;
