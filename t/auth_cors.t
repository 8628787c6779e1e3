#!/usr/bin/perl

# CORS on every answer of a location with octopus_cors_origins, whoever
# made it: the upstream, the auth module's 401 and 403, the rate limiter's
# 429, 403 (ban), 503 (Redis down, policy closed) and its 400 and 413 for
# a login body, the path policy's 400, nginx's own 413; a
# preflight answered where octopus_auth is off (a login location);
# Access-Control-Expose-Headers lists what a script needs to read a
# refusal; an upstream's own CORS headers never reach the browser; an
# unlisted origin gets nothing but Vary; `octopus_cors_origins off`.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $t = Octopus::Test->new;

my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);

sub mint { Octopus::Test::mint_hs256($secret, $_[0]) }

$t->nginx_conf(<<'EOF');
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;

    octopus_cors_origins https://app.octopus.test;
    octopus_cors_credentials on;
    octopus_cors_max_age 10m;

    octopus_ratelimit_zone burst key=$http_x_client rate=2r/m;
    octopus_ratelimit_zone banned key=$http_x_client rate=1r/m;
    octopus_ratelimit_ban zone=banned after=1 within=1m for=1m;

    client_max_body_size 1k;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        octopus_path_policy strict;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require trade;
            octopus_ratelimit burst;
            proxy_pass http://%%BACKEND%%;
        }

        location /ban/ {
            octopus_ratelimit banned;
            proxy_pass http://%%BACKEND%%;
        }

        location = /auth/login {
            client_max_body_size 1m;
            octopus_ratelimit_login_body_max 1k;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=2
                                      within=1m for=1m status=401;
            proxy_pass http://%%BACKEND%%;
        }

        location /plain/ {
            octopus_cors_origins off;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

# the 503 needs a Redis that is down: a second nginx, pointed at a port
# nothing listens on
my $t2 = Octopus::Test->new;
my $closed = $t2->port('closed');
$t2->nginx_conf(<<"EOF");
http {
    octopus_cors_origins https://app.octopus.test;
    octopus_ratelimit_redis 127.0.0.1:$closed connect_timeout=100ms
                            timeout=100ms;
    octopus_ratelimit_redis_failure closed;
    octopus_ratelimit_zone z key=\$remote_addr rate=100r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            octopus_ratelimit z;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t2->allow_log(qr/octopus redis/);

my $app = 'https://app.octopus.test';
my @expose = qw(Retry-After RateLimit RateLimit-Policy RateLimit-Limit
                RateLimit-Remaining RateLimit-Reset WWW-Authenticate);

sub cors_ok {
    my ($r, $status, $what, $creds) = @_;
    is($r->{status}, $status, "$what: $status");
    is($r->{headers}{'access-control-allow-origin'}, $app,
       "$what: Access-Control-Allow-Origin");
    is($r->{headers}{'access-control-allow-credentials'},
       ($creds // 1) ? 'true' : undef,
       "$what: Access-Control-Allow-Credentials");
    my %listed = map { lc($_) => 1 }
                 split /\s*,\s*/,
                 $r->{headers}{'access-control-expose-headers'} // '';
    ok(!grep({ !$listed{lc $_} } @expose),
       "$what: Access-Control-Expose-Headers lists the refusal headers")
        or diag($r->{headers}{'access-control-expose-headers'});
    like($r->{headers}{vary} // '', qr/\bOrigin\b/, "$what: Vary: Origin");
    my @acao = grep { lc $_->[0] eq 'access-control-allow-origin' }
               @{$r->{header_list}};
    is(scalar(@acao), 1, "$what: one Access-Control-Allow-Origin");
}

$t->run;
$t2->run;

my $trader = mint('{"sub":"tina","role":"trader"}');
my $user = mint('{"sub":"ulla","role":"user"}');

# the upstream's answer
my $r = $t->get('/api/x', Origin => $app, 'X-Client' => 'a',
                Authorization => "Bearer $trader");
cors_ok($r, 200, 'upstream answer');

# the auth module's refusals
$r = $t->get('/api/x', Origin => $app, 'X-Client' => 'b');
cors_ok($r, 401, 'no token');
like($r->{headers}{'www-authenticate'} // '', qr/Bearer/,
     '... with WWW-Authenticate');

$r = $t->get('/api/x', Origin => $app, 'X-Client' => 'c',
             Authorization => "Bearer $user");
cors_ok($r, 403, 'missing permission');

# the rate limiter's 429, with Retry-After readable by the script
$t->get('/api/x', Origin => $app, 'X-Client' => 'd',
        Authorization => "Bearer $trader") for 1 .. 2;
$r = $t->get('/api/x', Origin => $app, 'X-Client' => 'd',
             Authorization => "Bearer $trader");
cors_ok($r, 429, 'rate limited');
ok($r->{headers}{'retry-after'}, '... with Retry-After');
ok($r->{headers}{'ratelimit-policy'}, '... and RateLimit-Policy');

# a ban (403 from the rate limiter)
$t->get('/ban/x', Origin => $app, 'X-Client' => 'e') for 1 .. 3;
$r = $t->get('/ban/x', Origin => $app, 'X-Client' => 'e');
cors_ok($r, 403, 'banned');

# Redis down, policy closed: 503
$r = $t2->get('/x', Origin => $app);
cors_ok($r, 503, 'redis down, policy closed', 0);

# the path policy's 400, answered before any location is chosen
$r = $t->http(uri => '/api/x;jsessionid=1',
              headers => [Origin => $app, 'X-Client' => 'p',
                          Authorization => "Bearer $trader"]);
cors_ok($r, 400, 'path refused by octopus_path_policy strict');
like($r->{body}, qr/invalid_path/, '... and says why');

# nginx's own 413
$r = $t->http(method => 'POST', uri => '/api/x', body => 'x' x 4096,
              headers => [Origin => $app, 'X-Client' => 'f',
                          Authorization => "Bearer $trader",
                          'Content-Type' => 'application/json']);
cors_ok($r, 413, 'body too large');

# a login location without octopus_auth: preflight and refusals
$r = $t->http(method => 'OPTIONS', uri => '/auth/login',
              headers => [Origin => $app,
                          'Access-Control-Request-Method' => 'POST',
                          'Access-Control-Request-Headers' =>
                              'content-type']);
is($r->{status}, 204, 'login preflight answered');
is($r->{headers}{'access-control-allow-origin'}, $app,
   '... for the listed origin');
like($r->{headers}{'access-control-allow-methods'} // '', qr/POST/,
     '... with the allowed methods');
like($r->{headers}{'access-control-allow-headers'} // '', qr/content-type/i,
     '... and headers');
is($r->{headers}{'access-control-max-age'}, 600, '... and max age');

for my $i (1 .. 2) {
    $r = $t->http(method => 'POST', uri => '/auth/login',
                  body => '{"username":"victim","password":"guess"}',
                  headers => [Origin => $app,
                              'Content-Type' => 'application/json',
                              'X-Test-Status' => 401]);
    cors_ok($r, 401, "failed login $i");
}
$r = $t->http(method => 'POST', uri => '/auth/login',
              body => '{"username":"victim","password":"guess"}',
              headers => [Origin => $app,
                          'Content-Type' => 'application/json']);
cors_ok($r, 429, 'locked login');

# the rate limiter's refusals of a login body it cannot read one way
$r = $t->http(method => 'POST', uri => '/auth/login',
              body => '{"username":"a","username":"b"}',
              headers => [Origin => $app,
                          'Content-Type' => 'application/json']);
cors_ok($r, 400, 'login body with the field twice');
like($r->{body}, qr/duplicate_field/, '... and says why');

$r = $t->http(method => 'POST', uri => '/auth/login',
              body => '{"username":"' . ('a' x 2048) . '"}',
              headers => [Origin => $app,
                          'Content-Type' => 'application/json']);
cors_ok($r, 413, 'login body over octopus_ratelimit_login_body_max');

# an upstream's own CORS headers are replaced by the policy
$r = $t->http(uri => '/api/x',
              headers => [Origin => 'https://evil.test', 'X-Client' => 'g',
                          Authorization => "Bearer $trader",
                          'X-Test-Response-Header' =>
                              'Access-Control-Allow-Origin: https://evil.test',
                          'X-Test-Response-Header' =>
                              'Access-Control-Allow-Credentials: true']);
is($r->{status}, 200, 'unlisted origin: the request is served');
ok(!exists $r->{headers}{'access-control-allow-origin'},
   '... without the upstream\'s Access-Control-Allow-Origin');
ok(!exists $r->{headers}{'access-control-allow-credentials'},
   '... or its Access-Control-Allow-Credentials');
like($r->{headers}{vary} // '', qr/\bOrigin\b/, '... with Vary: Origin');

$r = $t->http(uri => '/api/x',
              headers => [Origin => $app, 'X-Client' => 'h',
                          Authorization => "Bearer $trader",
                          'X-Test-Response-Header' =>
                              'Access-Control-Allow-Origin: https://evil.test']);
cors_ok($r, 200, 'listed origin, upstream sends its own');

# an unlisted origin's preflight is not answered as one
$r = $t->http(method => 'OPTIONS', uri => '/auth/login',
              headers => [Origin => 'https://evil.test',
                          'Access-Control-Request-Method' => 'POST']);
ok(!exists $r->{headers}{'access-control-allow-origin'},
   'unlisted origin: no preflight answer');
ok(!exists $r->{headers}{'access-control-allow-methods'},
   '... nor allowed methods');

# a location with CORS off: the upstream's headers pass untouched
$r = $t->http(uri => '/plain/x',
              headers => [Origin => $app,
                          'X-Test-Response-Header' =>
                              'Access-Control-Allow-Origin: https://o.test']);
is($r->{headers}{'access-control-allow-origin'}, 'https://o.test',
   'octopus_cors_origins off: nothing added or removed');
ok(!exists $r->{headers}{'access-control-expose-headers'},
   '... no Access-Control-Expose-Headers');

$t2->stop;
$t2->check_error_log;
$t->done;
