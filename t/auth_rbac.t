#!/usr/bin/perl

# ngx_octopus_auth_module: RBAC per method, per role and per regex rule
# with the default role table; API keys (good, bad, expired) and the
# jwt+api_key / any modes; the CORS allowlist and preflights.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use Digest::SHA qw(sha256_hex);

my $t = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $d = $t->{dir};

sub mint {
    my @specs = @_;
    open(my $fh, '-|', '/usr/bin/python3', 't/lib/mint_jwt.py',
         encode_json(\@specs)) or die "mint: $!";
    my @tokens = <$fh>;
    close $fh or die "mint_jwt.py failed";
    chomp @tokens;
    return wantarray ? @tokens : $tokens[0];
}

my $secret = $t->write_file('keys/hs.key',
                            Octopus::Test::random_secret() . "\n");

# API keys: one made by tools/octopus-apikey, the others hashed here

my $keyfile = "$d/api-keys";
$t->write_file('api-keys', <<"EOF");
# id            sha256                                      role   expires
reporting ${\ sha256_hex('report-key-0001')} analyst
  old-svc ${\ sha256_hex('expired-key-0001')}  trader 2020-01-01   # expired

gateway ${\ sha256_hex('admin-key-0001')} admin 2099-12-31T00:00:00Z
EOF

open(my $tool, '-|', "tools/octopus-apikey create --file '$keyfile' "
     . "--id trading-bot --role trader 2>/dev/null") or die;
chomp(my $bot_key = <$tool>);
close $tool or die 'octopus-apikey failed';
like($bot_key, qr/^ok_[A-Za-z0-9_-]{40,}$/, 'octopus-apikey prints a key');
unlike($t->read_file('api-keys'), qr/\Q$bot_key\E/,
       '... and stores only its hash');
like($t->read_file('api-keys'),
     qr/^trading-bot ${\ sha256_hex($bot_key)} trader$/m,
     '... the SHA-256 line');

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_auth_api_keys %%PREFIX%%/api-keys;
    log_format authlog '$request_uri $status $octopus_auth_result '
                       '$octopus_user $octopus_auth_method $octopus_api_key_id';

    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log %%PREFIX%%/auth.log authlog;

        octopus_cors_origins https://app.octopus.trading
                             https://dashboard.octopus.trading;
        octopus_cors_credentials on;
        octopus_cors_max_age 600;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_auth_require_method POST PUT PATCH write;
            octopus_auth_require_method DELETE delete;
            octopus_auth_rule ~ ^/api/v1/accounts/[0-9]+/withdraw$ POST trade;
            octopus_auth_rule ~* ^/api/v1/reports/ report;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/orders {
            octopus_auth jwt;
            octopus_auth_require trade;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/admin/ {
            octopus_auth jwt+api_key;
            octopus_auth_require system_admin;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/boss/ {
            octopus_auth jwt;
            octopus_auth_require role=admin;
            proxy_pass http://%%BACKEND%%;
        }

        location /svc/ {
            octopus_auth api_key;
            octopus_auth_require read;
            proxy_set_header X-Test-Vars "$octopus_user|$octopus_role|$octopus_auth_method|$octopus_api_key_id|$octopus_auth_result";
            proxy_pass http://%%BACKEND%%;
        }

        location /custom-header/ {
            octopus_auth api_key;
            octopus_auth_api_key_header X-Service-Token;
            proxy_pass http://%%BACKEND%%;
        }

        location /both/ {
            octopus_auth jwt+api_key;
            proxy_set_header X-Test-Vars "$octopus_user|$octopus_auth_method|$octopus_api_key_id";
            proxy_pass http://%%BACKEND%%;
        }

        location /any/ {
            octopus_auth any;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;

my %tok;
my @roles = ([admin => 'admin'], [trader => 'trader'], [analyst => 'analyst'],
             [user => 'user'], [ghost => 'ghost'],
             [multi => ['user', 'analyst']], [none => undef]);
my @t = mint(map {
    my ($name, $role) = @$_;
    { alg => 'HS256', key_file => $secret, headers => { kid => 'k1' },
      claims => { sub => "u-$name", defined $role
                  ? (ref $role ? (roles => $role) : (role => $role)) : () },
      now_offsets => { iat => 0, exp => 600 } }
} @roles);
$tok{$roles[$_][0]} = $t[$_] for 0 .. $#roles;

sub req {
    my ($method, $uri, $who, @h) = @_;
    push @h, Authorization => "Bearer $tok{$who}" if $who;
    return $t->http(method => $method, uri => $uri, headers => \@h);
}

# [method, uri, role, expected status]
my @rbac = (
    [ GET => '/api/portfolio', 'user', 200 ],
    [ POST => '/api/portfolio', 'user', 403 ],
    [ POST => '/api/portfolio', 'trader', 200 ],
    [ PATCH => '/api/portfolio', 'analyst', 403 ],
    [ PUT => '/api/portfolio', 'admin', 200 ],
    [ DELETE => '/api/portfolio', 'trader', 403 ],
    [ DELETE => '/api/portfolio', 'admin', 200 ],
    [ GET => '/api/portfolio', 'ghost', 403 ],
    [ GET => '/api/portfolio', 'none', 403 ],
    [ GET => '/api/orders', 'analyst', 403 ],
    [ GET => '/api/orders', 'trader', 200 ],
    [ GET => '/api/orders', 'admin', 403 ],
    [ POST => '/api/v1/accounts/12/withdraw', 'trader', 200 ],
    [ POST => '/api/v1/accounts/12/withdraw', 'admin', 403 ],
    [ GET => '/api/v1/accounts/12/withdraw', 'user', 200 ],
    [ POST => '/api/v1/accounts/12x/withdraw', 'admin', 200 ],
    [ GET => '/api/v1/reports/daily', 'user', 403 ],
    [ GET => '/API/../api/v1/REPORTS/daily', 'analyst', 200 ],
    [ GET => '/api/v1/reports/daily', 'multi', 200 ],
    [ GET => '/api/boss/x', 'trader', 403 ],
    [ GET => '/api/boss/x', 'admin', 200 ],
);

for my $c (@rbac) {
    my ($m, $uri, $who, $status) = @$c;
    my $r = req($m, $uri, $who);
    is($r->{status}, $status, "RBAC: $who $m $uri -> $status");
    if ($status == 403) {
        is_deeply($r->{json}, { error => 'insufficient_scope',
                                reason => 'insufficient permissions' },
                  '... JSON body');
        like($r->{headers}{'www-authenticate'} // '',
             qr/^Bearer realm="octopus", error="insufficient_scope"/,
             '... WWW-Authenticate insufficient_scope');
    }
}

is(req(GET => '/api/portfolio', 'multi')->{json}{headers}{'x-octopus-role'},
   'analyst,user', 'roles array: every known role named');

# a refused request with a body: the body is discarded, the answer is JSON

my $r = $t->http(method => 'POST', uri => '/api/portfolio',
                 headers => ['Content-Type' => 'application/json'],
                 body => '{"order":"' . ('x' x 100000) . '"}');
is($r->{status}, 401, 'POST with a 100 KB body, no token: 401');
is($r->{json}{reason}, 'missing token', '... JSON reason');
$r = $t->http(method => 'HEAD', uri => '/api/portfolio');
is($r->{status}, 401, 'HEAD without token: 401');
is($r->{body}, '', '... without a body');

# API keys

$r = $t->get('/svc/x', 'X-API-Key' => 'report-key-0001',
                'X-Octopus-Key-Id' => 'spoof');
is($r->{status}, 200, 'API key: accepted');
my $h = $r->{json}{headers};
is($h->{'x-octopus-auth'}, 'api_key', '... X-Octopus-Auth api_key');
is($h->{'x-octopus-key-id'}, 'reporting', '... X-Octopus-Key-Id');
is($h->{'x-octopus-user'}, 'reporting', '... the key id is the user');
is($h->{'x-octopus-role'}, 'analyst', '... the role of the key');
is($h->{'x-test-vars'}, 'reporting|analyst|api_key|reporting|ok',
   '... variables');
ok(!grep({ $_->[1] eq 'spoof' } @{$r->{json}{header_list}}),
   '... spoofed key id removed');

is($t->get('/svc/x', 'X-API-Key' => $bot_key)->{json}{headers}
   {'x-octopus-key-id'}, 'trading-bot', 'key made by octopus-apikey works');

$r = $t->get('/svc/x', 'X-API-Key' => 'report-key-0002');
is($r->{status}, 401, 'bad API key: 401');
is($r->{json}{reason}, 'invalid api key', '... reason');

$r = $t->get('/svc/x', 'X-API-Key' => 'expired-key-0001');
is($r->{status}, 401, 'expired API key: 401');
is($r->{json}{reason}, 'api key expired', '... reason');

$r = $t->get('/svc/x');
is($r->{status}, 401, 'no API key: 401');
is($r->{json}{reason}, 'missing api key', '... reason');

is($t->get('/svc/x', Authorization => "Bearer $tok{admin}")->{status}, 401,
   'api_key mode ignores a JWT');

is($t->get('/custom-header/x', 'X-Service-Token' => 'report-key-0001')
   ->{status}, 200, 'octopus_auth_api_key_header: key accepted');
is($t->get('/custom-header/x', 'X-API-Key' => 'report-key-0001')->{status},
   401, '... the default header is not read');

# jwt+api_key

$r = $t->get('/both/x', Authorization => "Bearer $tok{user}",
             'X-API-Key' => 'report-key-0001');
is($r->{status}, 200, 'jwt+api_key: both present');
is($r->{json}{headers}{'x-test-vars'}, 'u-user|jwt+api_key|reporting',
   '... user from the JWT, service from the key');
is($r->{json}{headers}{'x-octopus-auth'}, 'jwt+api_key', '... header');

$r = $t->get('/both/x', Authorization => "Bearer $tok{user}");
is($r->{status}, 401, 'jwt+api_key without the key: 401');
is($r->{json}{reason}, 'missing api key', '... reason');

$r = $t->get('/both/x', 'X-API-Key' => 'report-key-0001');
is($r->{status}, 401, 'jwt+api_key without the JWT: 401');
is($r->{json}{reason}, 'missing token', '... reason');

is($t->get('/both/x', Authorization => "Bearer $tok{user}",
           'X-API-Key' => 'nope')->{status}, 401,
   'jwt+api_key with a bad key: 401');

is($t->get('/api/admin/x', Authorization => "Bearer $tok{admin}",
           'X-API-Key' => 'admin-key-0001')->{status}, 200,
   '/api/admin/: admin JWT and key');
is($t->get('/api/admin/x', Authorization => "Bearer $tok{trader}",
           'X-API-Key' => 'admin-key-0001')->{status}, 403,
   '/api/admin/: permissions come from the JWT');

# any

is($t->get('/any/x', Authorization => "Bearer $tok{user}")
   ->{json}{headers}{'x-octopus-auth'}, 'jwt', 'any: JWT');
is($t->get('/any/x', 'X-API-Key' => 'report-key-0001')
   ->{json}{headers}{'x-octopus-auth'}, 'api_key', 'any: API key');
is($t->get('/any/x')->{status}, 401, 'any: nothing -> 401');
is($t->get('/any/x', 'X-API-Key' => 'bad')->{status}, 401,
   'any: bad key -> 401');

# CORS

my $app = 'https://app.octopus.trading';

$r = $t->get('/api/portfolio', Origin => $app,
             Authorization => "Bearer $tok{user}");
is($r->{status}, 200, 'CORS allowed origin: request passes');
is($r->{headers}{'access-control-allow-origin'}, $app, '... origin echoed');
is($r->{headers}{'access-control-allow-credentials'}, 'true',
   '... credentials');
like($r->{headers}{vary} // '', qr/\bOrigin\b/, '... Vary: Origin');

$r = $t->get('/api/portfolio', Origin => 'https://evil.example',
             Authorization => "Bearer $tok{user}");
is($r->{status}, 200, 'CORS refused origin: request still served');
ok(!exists $r->{headers}{'access-control-allow-origin'},
   '... without Access-Control-Allow-Origin');
like($r->{headers}{vary} // '', qr/\bOrigin\b/, '... Vary: Origin');

$r = $t->get('/api/portfolio', Origin => $app);
is($r->{status}, 401, 'CORS: a 401 ...');
is($r->{headers}{'access-control-allow-origin'}, $app,
   '... is readable by the allowed origin');

$r = $t->http(method => 'OPTIONS', uri => '/api/portfolio',
              headers => [Origin => 'https://dashboard.octopus.trading',
                          'Access-Control-Request-Method' => 'DELETE',
                          'Access-Control-Request-Headers' => 'authorization']);
is($r->{status}, 204, 'preflight from an allowed origin: 204 without auth');
is($r->{headers}{'access-control-allow-origin'},
   'https://dashboard.octopus.trading', '... origin echoed');
like($r->{headers}{'access-control-allow-methods'} // '', qr/DELETE/,
     '... methods');
like($r->{headers}{'access-control-allow-headers'} // '', qr/Authorization/,
     '... headers');
is($r->{headers}{'access-control-max-age'}, '600', '... max age');
is($r->{body}, '', '... no body');

$r = $t->http(method => 'OPTIONS', uri => '/api/portfolio',
              headers => [Origin => 'https://evil.example',
                          'Access-Control-Request-Method' => 'DELETE']);
is($r->{status}, 401, 'preflight from another origin: authenticated (401)');
ok(!exists $r->{headers}{'access-control-allow-origin'},
   '... no Access-Control-Allow-Origin');

$r = $t->http(method => 'OPTIONS', uri => '/api/portfolio',
              headers => [Origin => $app]);
is($r->{status}, 401, 'OPTIONS without Access-Control-Request-Method: 401');

$r = $t->http(method => 'OPTIONS', uri => '/api/portfolio',
              headers => ['Access-Control-Request-Method' => 'GET']);
is($r->{status}, 401, 'OPTIONS without Origin: 401');

$r = $t->http(method => 'OPTIONS', uri => '/api/portfolio',
              headers => [Origin => $app,
                          Authorization => "Bearer $tok{user}"]);
is($r->{status}, 200, 'authenticated OPTIONS reaches the upstream');

# the variables in the log phase (as the audit module reads them)

$t->get('/api/log-ok', Authorization => "Bearer $tok{user}");
req(POST => '/api/log-forbidden', 'user');
$t->get('/api/log-missing');
$t->get('/api/log-invalid', Authorization => 'Bearer x.y.z');
$t->get('/svc/log-expired', 'X-API-Key' => 'expired-key-0001');
$t->get('/svc/log-key', 'X-API-Key' => 'report-key-0001');
$t->http(method => 'OPTIONS', uri => '/api/log-preflight',
         headers => [Origin => $app, 'Access-Control-Request-Method' => 'PUT']);

my $log = '';
$t->wait_for(sub { $log = $t->read_file('auth.log') // '';
                   $log =~ /log-preflight/ }, 5);
like($log, qr{^/api/log-ok 200 ok u-user jwt -$}m, 'log: ok');
like($log, qr{^/api/log-forbidden 403 forbidden u-user jwt -$}m,
     'log: forbidden, with the user');
like($log, qr{^/api/log-missing 401 missing - - -$}m, 'log: missing');
like($log, qr{^/api/log-invalid 401 invalid - - -$}m, 'log: invalid');
like($log, qr{^/svc/log-expired 401 expired - - old-svc$}m,
     'log: expired API key, with its id');
like($log, qr{^/svc/log-key 200 ok reporting api_key reporting$}m,
     'log: API key');
like($log, qr{^/api/log-preflight 204 preflight - - -$}m, 'log: preflight');

unlike($t->error_log, qr/report-key-0001|expired-key|\Q$bot_key\E/,
       'no API key in error.log');

$t->done;
