#!/usr/bin/perl

# The auth and the ratelimit modules count their own decisions, in their
# own shared memory, whether or not the audit module records the request:
# a location with octopus_auth and octopus_ratelimit and no octopus_audit
# counts its 401, 403 and 429 in octopus_auth_metrics and
# octopus_ratelimit_metrics, and the audit metrics count only what was
# audited.  With error_log at debug, each refusal is explained (result,
# reason, RBAC verdict, zone) and no token, key or secret is written by the
# modules.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP qw(encode_json);
use Digest::SHA qw(sha256_hex);

my $t = Octopus::Test->new(log_level => 'debug');

my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);

my $api_key = 'svc-key-' . unpack('H*', Octopus::Test::random_secret(12));
my $bad_key = 'wrong-key-' . unpack('H*', Octopus::Test::random_secret(12));
$t->write_file('api-keys', "reporting ${\ sha256_hex($api_key)} analyst\n");
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

sub mint {
    my ($sub, $role) = @_;
    return Octopus::Test::mint_hs256($secret,
        encode_json({ sub => $sub, role => $role }));
}

$t->nginx_conf(<<'EOF');
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_auth_api_keys %%PREFIX%%/api-keys;

    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        # no octopus_audit here: the modules count by themselves
        location /api/ {
            octopus_auth jwt;
            octopus_auth_require role=admin;
            octopus_ratelimit user;
            proxy_pass http://%%BACKEND%%;
        }

        location /login {
            octopus_ratelimit_lockout key=$http_x_login failures=2
                                      within=1m for=1m status=401;
            proxy_pass http://%%BACKEND%%;
        }

        location /svc/ {
            octopus_auth api_key;
            proxy_pass http://%%BACKEND%%;
        }

        # audited: counted by the audit metrics too
        location /audited/ {
            octopus_audit on;
            octopus_auth jwt;
            proxy_pass http://%%BACKEND%%;
        }

        location = /auth-metrics { octopus_auth_metrics; }
        location = /rl-metrics { octopus_ratelimit_metrics; }
        location = /metrics { octopus_metrics; }
    }

    # declared after its use
    octopus_ratelimit_zone user key=$octopus_user rate=2r/m;
}
EOF
$t->run;

my $admin = mint('alice', 'admin');
my $trader = mint('bob', 'trader');

# 401 without a token, 401 with a bad one, 403 by RBAC, 200, 200, 429

my @s = map { $t->get('/api/x', @$_)->{status} }
    [], [Authorization => 'Bearer x.y.z'], [Authorization => "Bearer $trader"],
    ([Authorization => "Bearer $admin"]) x 3;
is_deeply(\@s, [401, 401, 403, 200, 200, 429],
          'no token, bad token, RBAC, two passes, the limit');

is($t->get('/svc/x', 'X-API-Key' => $api_key)->{status}, 200,
   'the API key passes');
is($t->get('/svc/x', 'X-API-Key' => $bad_key)->{status}, 401,
   'a wrong API key is refused');

# a lockout: two failed logins, then locked

@s = map { $t->get('/login', 'X-Login' => 'victim',
                   'X-Test-Status' => 401)->{status} } 1 .. 3;
is_deeply(\@s, [401, 401, 429], 'two failed logins, then the lockout');

is($t->get('/audited/x', Authorization => "Bearer $admin")->{status}, 200,
   'an audited request');

sub metric {
    my ($body, $name) = @_;
    return $body =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

my $am = $t->get('/auth-metrics')->{body};
is(metric($am, 'octopus_auth_requests_total{result="missing"}'), 1,
   'auth counts the 401 without a token');
is(metric($am, 'octopus_auth_requests_total{result="invalid"}'), 2,
   'auth counts the 401 of the bad token and of the wrong API key');
is(metric($am, 'octopus_auth_requests_total{result="forbidden"}'), 1,
   'auth counts the 403');
is(metric($am, 'octopus_rbac_denials_total'), 1,
   'octopus_rbac_denials_total: the 403');
is(metric($am, 'octopus_auth_requests_total{result="ok"}'), 4,
   'auth counts its passes (the 429 never reached it)');
like($am, qr/^# TYPE octopus_auth_requests_total counter$/m,
     'a Prometheus counter');

my $rm = $t->get('/rl-metrics')->{body};
is(metric($rm, 'octopus_ratelimit_requests_total{result="limited"}'), 1,
   'ratelimit counts the 429');
is(metric($rm, 'octopus_ratelimit_requests_total{result="locked"}'), 1,
   'ratelimit counts the lockout');
is(metric($rm, 'octopus_ratelimit_requests_total{result="pass"}'), 5,
   'ratelimit counts its passes (bob, alice twice, two login attempts)');
is(metric($rm, 'octopus_ratelimit_rejections_total'), 2,
   'octopus_ratelimit_rejections_total: the 429 of the limit and the lock');
is(metric($rm, 'octopus_account_lockouts_total'), 1,
   'octopus_account_lockouts_total: the locked attempt');
is(metric($rm, 'octopus_failed_login_total'), 2,
   'octopus_failed_login_total: the attempts answered 401');
is(metric($rm, 'octopus_redis_errors_total'), 0, 'no Redis error');
like($rm, qr/^octopus_ratelimit_fallback_total\{zone="user",reason="down"\} 0$/m,
     'the fallback counters are still there');

my $m = $t->get('/metrics')->{body};
my $sum = 0;
$sum += $1 while $m =~ /^octopus_requests_total\{[^}]*\} (\d+)$/mg;
is($sum, 1, 'the audit metrics count the one audited request');
unlike($m, qr/^octopus_(rbac_denials|ratelimit_rejections|failed_login|account_lockouts)_total/m,
       'and not the decisions, counted by their modules');

# every metric the alert rules use is exported by one of the three handlers

my $all = join '', $am, $rm, $m;
open(my $fh, '<', 'conf/prometheus/alerts.yml') or die "alerts.yml: $!";
my $rules = do { local $/; <$fh> };
close $fh;
my %used;
for my $expr ($rules =~ /^\s+expr:(.*)$/mg) {
    $used{$_} = 1 for $expr =~ /\b(octopus_\w+)/g;
}
ok(keys %used >= 10, 'the alert rules name metrics');
for my $name (sort keys %used) {
    # the key set's and the revocation list's metrics exist only with those
    # features configured: t/deploy_grafana.t checks them with both on
    next if $name =~ /^octopus_auth_(jwks|revocation)_/;
    (my $family = $name) =~ s/_(bucket|sum|count)$//;
    like($all, qr/^# TYPE \Q$family\E /m,
         "alerts.yml: $name is exported");
}

# a reload keeps the counters

ok($t->reload, 'reload');
is(metric($t->get('/auth-metrics')->{body},
          'octopus_auth_requests_total{result="forbidden"}'), 1,
   'auth counters kept over a reload');
is(metric($t->get('/rl-metrics')->{body},
          'octopus_ratelimit_requests_total{result="limited"}'), 1,
   'ratelimit counters kept over a reload');

# the debug log explains each refusal

my $log = $t->error_log;

like($log, qr/octopus auth: mode \d+, bearer token absent, api key absent/,
     'debug: no token found');
like($log, qr/octopus auth: result missing, status 401, reason "missing token"/,
     'debug: the 401 without a token and its reason');
like($log, qr/octopus auth: result invalid, status 401, reason "[^"]+"/,
     'debug: the 401 of a bad token and its reason');
like($log, qr/octopus auth: token verified, status \d+, kid "k1", alg HS256/,
     'debug: the kid and alg of a verified token');
like($log, qr/octopus auth: rbac needs .*: denied/, 'debug: the RBAC verdict');
like($log, qr/octopus auth: result forbidden, status 403, reason "insufficient permissions", user "bob"/,
     'debug: the 403, its reason and the user');
like($log, qr/octopus auth: api key id "reporting"/, 'debug: the API key id');
like($log, qr/octopus auth: api key matches no configured key/,
     'debug: the wrong API key');
like($log, qr/octopus_ratelimit\["user"\]: key hash [0-9a-f]{8}, remaining 0 of 2, retry \d+ ms, limited, by shared memory/,
     'debug: the zone, the key hash, the count and the verdict of the 429');
like($log, qr/octopus_ratelimit: result limited, status 429, zone "user"/,
     'debug: the 429');
like($log, qr/octopus_ratelimit\["\(lockout\)"\]: key hash [0-9a-f]{8}, .*, locked, by shared memory/,
     'debug: the lockout');
like($log, qr/octopus_ratelimit: result locked, status 429/,
     'debug: the 429 of the lockout');
like($log, qr/octopus audit: record \d+, event api_call, to \d+ sinks/,
     'debug: the audit record');

# the modules' lines never carry a credential (nginx itself logs request
# headers at debug level: those lines are not the modules')

my @ours = grep { /octopus/ } split /\n/, $log;
ok(@ours > 10, 'the modules wrote debug lines');
for my $s ([token => $admin], [token => $trader], [secret => $secret],
           ['API key' => $api_key], ['wrong API key' => $bad_key])
{
    my ($what, $v) = @$s;
    my @leak = grep { index($_, $v) >= 0 } @ours;
    is(scalar @leak, 0, "no $what in the modules' log lines")
        or diag($leak[0]);
}
my ($sig) = $admin =~ /\.([^.]+)$/;
is(scalar(grep { index($_, $sig) >= 0 } @ours), 0,
   'no token signature in the modules\' log lines');

$t->done;
