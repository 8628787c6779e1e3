#!/usr/bin/perl

# make valgrind: nginx (master and workers) under valgrind memcheck with
# all three modules on Redis and PostgreSQL, a representative request mix
# (valid and invalid JWTs, API keys, RBAC refusals, limits, login failures
# and a lockout, hostile claims and headers, a big token), a Redis restart,
# a reload (the old workers exit: their leaks are checked) and a stop.
# Passes when every process reports zero errors and zero bytes definitely
# lost.  Not part of make test (slow).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

my $vgdir = tempdir('octopus-valgrind-XXXXXX', TMPDIR => 1, CLEANUP => 0);
$ENV{OCTOPUS_VALGRIND_DIR} = $vgdir;
$ENV{OCTOPUS_NGINX} = abs_path('t/soak/ngx_octopus_valgrind_nginx');

my $t = Octopus::Test->new;
$t->{nginx} = $ENV{OCTOPUS_NGINX};

my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);
$t->write_file('api-keys', "svc ${\ sha256_hex('svc-key-0001')} user\n");
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");
$t->pg_start;
$t->psql($t->read_file(abs_path('conf/sql/001_audit_schema.sql')));

sub mint { Octopus::Test::mint_hs256($secret, $_[0]) }

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_auth_api_keys %%PREFIX%%/api-keys;

    octopus_ratelimit_redis %%REDIS%% timeout=2s connect_timeout=2s;
    octopus_ratelimit_zone user key=$octopus_user rate=5r/m;
    octopus_ratelimit_zone ip key=$binary_remote_addr rate=1000r/m
                           algorithm=gcra burst=50;

    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=10 interval=100ms timeout=5s backoff=500ms;
    octopus_audit_spool %%PREFIX%%/spool max_size=10m;
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit_anomaly requests=20 within=1m;
    octopus_audit on;

    large_client_header_buffers 4 64k;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_ratelimit user;
            proxy_set_header X-Desk $octopus_jwt_claim_desk;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/admin/ {
            octopus_auth any;
            octopus_auth_require system_admin;
            proxy_pass http://%%BACKEND%%;
        }

        location /svc/ {
            octopus_auth api_key;
            octopus_ratelimit ip;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login {
            octopus_audit_login on;
            octopus_ratelimit ip;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1m status=401;
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

my $ok = mint('{"sub":"alice","role":"trader","desk":"fx"}');
my $bad = mint('{"sub":"bob\r\n","role":"user"}');
my $inj = mint('{"sub":"carol","role":"user","desk":"a\r\nX: 1"}');

sub mix {
    my $n = 0;
    for my $i (1 .. 3) {
        $t->get('/api/x', Authorization => "Bearer $ok") for 1 .. 3;
        $t->get('/api/x', Authorization => 'Bearer a.b.c');
        $t->get('/api/x', Authorization => "Bearer $bad");
        $t->get('/api/x', Authorization => "Bearer $inj");
        $t->get('/api/x');
        $t->get('/api/admin/x', Authorization => "Bearer $ok");
        $t->get('/api/admin/x', 'X-API-Key' => 'svc-key-0001');
        $t->get('/svc/x?password=1&card=4111111111111111',
                'X-API-Key' => 'svc-key-0001');
        $t->get('/svc/x', 'X-API-Key' => 'wrong');
        $t->http(method => 'POST', uri => '/login',
                 headers => ['Content-Type' => 'application/json',
                             'X-Test-Status' => 401],
                 body => '{"username":"victim","password":"x"}');
        $t->http(method => 'POST', uri => '/login',
                 headers => ['Content-Type' =>
                             'application/x-www-form-urlencoded'],
                 body => 'username=alice&password=y');
        $t->get('/api/x', Authorization => 'Bearer ' . ('A' x 40000));
        $t->get("/api/\xff\x1b", 'User-Agent' => "\x1b\x7f\"");
        $n += 15;
    }
    $t->get('/metrics');
    return $n;
}

my $sent = mix();
$t->redis_restart;
$sent += mix();
ok($t->reload, 'reload: the old workers exit under valgrind');
$sent += mix();

my $rows = $t->wait_for(sub {
    my $c = $t->psql('SELECT count(*) FROM audit.api_calls');
    return $c >= $sent ? $c : 0;
}, 60);
is($rows // $t->psql('SELECT count(*) FROM audit.api_calls'), $sent,
   "every request audited under valgrind ($sent)");

$t->stop;

my @logs = glob "$vgdir/vg.*.log";
ok(@logs >= 5, scalar(@logs) . ' valgrind logs (master, 2 + 2 workers)');

my ($errors, $lost, $procs) = (0, 0, 0);
for my $f (@logs) {
    open my $fh, '<', $f or die "$f: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    next unless $text =~ /ERROR SUMMARY: (\d+) errors/;
    $procs++;
    my $e = $1;
    my $l = $text =~ /definitely lost: ([\d,]+) bytes/ ? $1 : 0;
    $l =~ s/,//g;
    $errors += $e;
    $lost += $l;
    diag("$f: $e errors, $l bytes definitely lost") if $e || $l;
    diag($text) if $e || $l;
}
ok($procs >= 5, "$procs processes checked");
is($errors, 0, 'valgrind: zero invalid accesses and errors');
is($lost, 0, 'valgrind: zero bytes definitely lost');
diag("valgrind logs: $vgdir");

$t->allow_log(qr/redis|Redis|client sent|too large/);
$t->done;
