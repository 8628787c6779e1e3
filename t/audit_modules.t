#!/usr/bin/perl

# ngx_octopus_audit_module with the three modules loaded: the identity and
# results of ngx_octopus_auth_module (API keys, RBAC) and
# ngx_octopus_ratelimit_module (limits keyed by $octopus_user) reach the
# record and its security event; the API key itself never does.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Digest::SHA qw(sha256_hex);

my $t = Octopus::Test->new;

$t->write_file('api-keys', <<"EOF");
reporting ${\ sha256_hex('report-key-0001')} analyst
gateway ${\ sha256_hex('admin-key-0001')} admin
EOF

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_auth_api_keys %%PREFIX%%/api-keys;

    octopus_ratelimit_redis %%REDIS%% timeout=500ms connect_timeout=500ms;
    octopus_ratelimit_zone per_user key=$octopus_user rate=3r/m;

    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /svc/ {
            octopus_auth api_key;
            proxy_set_header X-Test-Vars "$octopus_user|$octopus_role|$octopus_auth_method|$octopus_api_key_id|$octopus_auth_result";
            proxy_pass http://%%BACKEND%%;
        }

        location /admin/ {
            octopus_auth api_key;
            octopus_auth_require role=admin;
            proxy_pass http://%%BACKEND%%;
        }

        location /limited/ {
            octopus_auth api_key;
            octopus_ratelimit per_user;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

$t->run;

my $json = JSON::PP->new->utf8;

sub record {
    my ($path) = @_;
    my $rec;
    $t->wait_for(sub {
        for (split /\n/, $t->read_file('audit.jsonl') // '') {
            next if /"checkpoint"/;
            my $r = $json->decode($_);
            $rec = $r if $r->{path} eq $path;
        }
        $rec;
    }, 5);
    return $rec;
}

# an authenticated call: the record says what the upstream was told

my $r = $t->get('/svc/a', 'X-API-Key' => 'report-key-0001');
is($r->{status}, 200, 'API key accepted');
my ($user, $role, $method, $key_id, $result) =
    split /\|/, $r->{json}{headers}{'x-test-vars'} // '', -1;
ok(length $user, "auth module names the user ($user)");

my $rec = record('/svc/a');
ok($rec, 'record written');
is($rec->{user_name}, $user, 'user from $octopus_user');
is($rec->{role}, $role, 'role from $octopus_role');
is($rec->{auth_method}, $method, 'auth method from $octopus_auth_method');
is($rec->{api_key_id}, $key_id, 'key id from $octopus_api_key_id');
is($rec->{auth_result}, 'ok', 'auth result ok');
is($rec->{event_type}, 'api_call', 'a plain API call');

# a wrong key: a failed login

$r = $t->get('/svc/b', 'X-API-Key' => 'wrong-key-0001');
is($r->{status}, 401, 'wrong API key refused');
$rec = record('/svc/b');
like($rec->{auth_result}, qr/^(invalid|expired)$/, 'auth result invalid');
is($rec->{event_type}, 'failed_login_attempt', 'failed_login_attempt');

# a role below the requirement: privilege escalation

$r = $t->get('/admin/x', 'X-API-Key' => 'report-key-0001');
is($r->{status}, 403, 'analyst refused on an admin location');
$rec = record('/admin/x');
is($rec->{auth_result}, 'forbidden', 'auth result forbidden');
is($rec->{event_type}, 'privilege_escalation', 'privilege_escalation');
is($rec->{user_name}, $user, 'the user who asked');

# over the limit: suspicious API usage

my @st = map { $t->get("/limited/$_", 'X-API-Key' => 'admin-key-0001')
               ->{status} } 1 .. 4;
is($st[3], 429, 'fourth request over the per-user limit') or diag "@st";
$rec = record('/limited/4');
is($rec->{ratelimit_result}, 'limited', 'ratelimit result limited');
is($rec->{event_type}, 'suspicious_api_usage', 'suspicious_api_usage');
is(record('/limited/1')->{ratelimit_result}, 'pass', 'first one passed');

unlike($t->read_file('audit.jsonl'), qr/report-key-0001|admin-key-0001|wrong-key/,
       'API keys are never recorded');

$t->done;
