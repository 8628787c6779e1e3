#!/usr/bin/perl

# ngx_octopus_auth_module: RBAC sees the path the backend will route.
# Every path of issue 12 sent on raw sockets (a client library would
# normalise it) to three servers with conf/nginx.conf's rule shapes:
# octopus_path_policy strict (refused: 400, or 403 by the fail-closed
# rules), canonical (403, or the backend receives the canonical path and
# the canonical route's permission applied) and off (the default: the
# fail-closed rules alone).  Also octopus_path_case insensitive, the audit
# record of a refusal, HTTP/2, and nginx -t.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;

my $t = Octopus::Test->new;

sub random_secret {
    my ($rc, $out) = Octopus::Test::capture('/usr/bin/python3', '-c',
        'import secrets; print(secrets.token_urlsafe(32))');
    die "python3: $out" if $rc;
    chomp $out;
    return $out;
}

my $secret = random_secret();
$t->write_file('keys/hs.key', "$secret\n");

sub mint {
    my ($sub, $role) = @_;
    return Octopus::Test::mint_hs256($secret,
        encode_json({ sub => $sub, role => $role }));
}

my %tok = (trader => mint('alice', 'trader'),
           admin  => mint('carol', 'admin'),      # write, but no trade
           user   => mint('uma', 'user'));        # read only

# conf/nginx.conf's API: fails closed (the catch-all needs system_admin),
# each route grants less, the withdraw rule covers suffixes and case;
# the admin route takes a JWT alone here (conf/nginx.conf adds a key)

my $api = <<'EOF';
        location /api/ {
            octopus_auth jwt;
            octopus_auth_require system_admin;
            proxy_pass http://%%BACKEND%%;
        }

        location ~ ^/api/v1/portfolio(?:/|$) {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_auth_require_method POST PUT PATCH write;
            octopus_auth_require_method DELETE delete;
            proxy_pass http://%%BACKEND%%;
        }

        location ~ ^/api/v1/orders(?:/|$) {
            octopus_auth jwt;
            octopus_auth_require trade;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/v1/accounts/ {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_auth_require_method POST PUT PATCH write;
            octopus_auth_require_method DELETE delete;
            octopus_auth_rule ~* ^/api/v1/accounts/[^/]+/withdraw(?![a-z0-9_-]) POST trade;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/v1/admin/ {
            octopus_auth jwt;
            octopus_auth_require system_admin;
            proxy_pass http://%%BACKEND%%;
        }

        location /api/v1/reports/ {
            octopus_auth jwt;
            octopus_auth_require report;
            proxy_pass http://%%BACKEND%%;
        }
EOF

$t->nginx_conf(<<"EOF");
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit off;

    server {
        listen 127.0.0.1:%%PORT_strict%%;
        listen 127.0.0.1:%%PORT_h2%% http2;
        octopus_path_policy strict;
        octopus_audit on;
$api
    }

    server {
        listen 127.0.0.1:%%PORT_canonical%%;
        octopus_path_policy canonical;
$api
    }

    server {
        listen 127.0.0.1:%%PORT_off%%;
$api
    }

    server {
        listen 127.0.0.1:%%PORT_lower%%;
        octopus_path_policy canonical;
        octopus_path_case insensitive;
$api
    }

    server {
        listen 127.0.0.1:%%PORT_plain%%;
        location / {
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

$t->run;

sub req {
    my ($port, $method, $path, $who, @h) = @_;
    my $raw = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n";
    $raw .= "Authorization: Bearer $tok{$who}\r\n" if $who;
    while (my ($n, $v) = splice @h, 0, 2) {
        $raw .= "$n: $v\r\n";
    }
    $raw .= "Content-Length: 0\r\n" if $method eq 'POST';
    $raw .= "\r\n";
    return $t->http(port => $t->port($port), raw => $raw);
}

# [ method, path, who, strict, canonical (status or the path the backend
#   must see), off ]

my @cases = (
    # a trader reaching administration
    [ 'GET', '/api/v1/admin;x/users',       'trader', 400, 403, 403 ],
    [ 'GET', '/api/v1/x/..;/admin/users',   'trader', 400, 403, 403 ],
    [ 'GET', '/api/v1/ADMIN/users',         'trader', 403, 403, 403 ],
    [ 'GET', '/api/v1/admin./users',        'trader', 400, 403, 403 ],
    [ 'GET', '/api/v1/%61dmin/users',       'trader', 403, 403, 403 ],
    [ 'GET', '/api/v1/portfolio/../admin/users', 'trader', 400, 403, 403 ],
    [ 'GET', '/api/v1/portfolio/%2e%2e/admin/users', 'trader',
      400, 403, 403 ],
    [ 'GET', '/api/v1/portfolio%2f..%2fadmin/users', 'trader',
      400, 400, 403 ],
    [ 'GET', '/api/v1/portfolio/..%5cadmin/users', 'trader', 400, 400, 200 ],
    [ 'GET', '/api/v1//admin/users',        'trader', 400, 403, 403 ],

    # a role without trade (admin: write, no trade) withdrawing
    [ 'POST', '/api/v1/accounts/42/withdraw;jsessionid=X', 'admin',
      400, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42;x=1/withdraw', 'admin', 400, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/withdraw/',    'admin', 403, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/withdraw.json', 'admin', 403, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/withdraw.',    'admin', 400, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/withdraw%20',  'admin', 400, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/withdraw%09',  'admin', 400, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/WITHDRAW',     'admin', 403, 403, 403 ],
    [ 'POST', '/api/v1/accounts/+42/withdraw',    'admin', 403, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/%77ithdraw',   'admin', 403, 403, 403 ],
    [ 'POST', '/api/v1/accounts/42/withdraw',     'admin', 403, 403, 403 ],

    # the trader may withdraw: canonical sends the canonical path on
    [ 'POST', '/api/v1/accounts/42/withdraw;jsessionid=X', 'trader',
      400, '/api/v1/accounts/42/withdraw', 200 ],
    [ 'POST', '/api/v1/accounts/42;x=1/withdraw', 'trader',
      400, '/api/v1/accounts/42/withdraw', 200 ],
    [ 'POST', '/api/v1/accounts/42/withdraw%20', 'trader',
      400, '/api/v1/accounts/42/withdraw', 200 ],
    [ 'POST', '/api/v1/accounts/42/./withdraw.', 'trader',
      400, '/api/v1/accounts/42/withdraw', 200 ],
    [ 'GET', '/api/v1/portfolio;jsessionid=X', 'user',
      400, '/api/v1/portfolio', 403 ],
    [ 'GET', '/api/v1/x/..;/portfolio', 'user',
      400, '/api/v1/portfolio', 403 ],
    [ 'GET', '/api/v1//portfolio', 'user', 400, '/api/v1/portfolio', 200 ],

    # legitimate paths pass everywhere, as sent
    [ 'GET', '/api/v1/portfolio', 'user',
      '/api/v1/portfolio', '/api/v1/portfolio', '/api/v1/portfolio' ],
    [ 'GET', '/api/v1/portfolio/positions?x=1', 'user',
      '/api/v1/portfolio/positions', '/api/v1/portfolio/positions',
      '/api/v1/portfolio/positions' ],
    [ 'POST', '/api/v1/accounts/42/withdraw', 'trader',
      '/api/v1/accounts/42/withdraw', '/api/v1/accounts/42/withdraw',
      '/api/v1/accounts/42/withdraw' ],
    [ 'GET', '/api/v1/accounts/42', 'user',
      '/api/v1/accounts/42', '/api/v1/accounts/42', '/api/v1/accounts/42' ],
    [ 'GET', '/api/v1/admin/users', 'admin',
      '/api/v1/admin/users', '/api/v1/admin/users', '/api/v1/admin/users' ],
    [ 'GET', '/api/v1/reports/daily', 'user', 403, 403, 403 ],
    [ 'GET', '/api/v1/unlisted', 'trader', 403, 403, 403 ],
    [ 'GET', '/api/v1/unlisted', 'admin',
      '/api/v1/unlisted', '/api/v1/unlisted', '/api/v1/unlisted' ],
);

my %col = (strict => 3, canonical => 4, off => 5);

for my $c (@cases) {
    my ($method, $path, $who) = @$c;

    for my $server (qw(strict canonical off)) {
        my $want = $c->[$col{$server}];
        my $r = req($server, $method, $path, $who);
        my $what = "$server: $who $method $path";

        if ($want =~ /^\d+$/) {
            is($r->{status}, $want, "$what: $want")
                or diag($r->{raw});

            if ($want == 400) {
                is($r->{json}{error}, 'invalid_path', "$what: invalid_path")
                    if $r->{status} == 400 && $server ne 'off';
            }

            next;
        }

        is($r->{status}, 200, "$what: reaches the backend")
            or diag($r->{raw});
        is($r->{json}{path}, $want, "$what: the backend sees $want");
    }
}

# the refusal says why

{
    my $r = req('strict', 'GET', '/api/v1/admin;x/users', 'trader');
    is($r->{body}, qq({"error":"invalid_path","reason":"path_parameter"}\n),
       'strict: a JSON reason');
    is($r->{headers}{'content-type'}, 'application/json', '... as JSON');

    $r = req('canonical', 'GET', '/api/v1/a%2Fb', 'trader');
    is($r->{json}{reason}, 'encoded_slash', 'canonical: %2F has no reading');

    $r = req('canonical', 'GET', '/api/v1/a\\b', 'trader');
    is($r->{json}{reason}, 'backslash', 'canonical: nor has "\\"');

    $r = req('canonical', 'GET', '/api/v1/%c0%ae%c0%ae/admin', 'trader');
    is($r->{json}{reason}, 'invalid_utf8', 'overlong dots are refused');

    $r = req('canonical', 'GET', '/api/v1/%252e%252e/admin', 'trader');
    is($r->{json}{reason}, 'double_encoding', 'double encoding is refused');
}

# the upstream gets r->uri escaped again, the query as sent

{
    my $r = req('canonical', 'GET',
                '/api/v1/portfolio;v=1/a%20b%3Fc?q=1&r=%2F', 'user');
    is($r->{status}, 200, 'canonical: a path with encoded characters');
    is($r->{json}{uri}, '/api/v1/portfolio/a%20b%3Fc?q=1&r=%2F',
       '... reaches the backend re-escaped, the query untouched');
}

# octopus_path_case insensitive: one case for matching and upstream

{
    my $r = req('lower', 'POST', '/API/V1/Accounts/42/WithDraw', 'admin');
    is($r->{status}, 403, 'insensitive: the rule sees the lower-cased path');

    $r = req('lower', 'GET', '/API/v1/Portfolio', 'user');
    is($r->{status}, 200, 'insensitive: the route matches in any case');
    is($r->{json}{path}, '/api/v1/portfolio', '... and the backend sees it');

    $r = req('lower', 'GET', '/API/v1/ADMIN/users', 'trader');
    is($r->{status}, 403, 'insensitive: ADMIN is the admin route');
}

# an unconfigured server is unchanged

{
    my $r = req('plain', 'GET', '/api/v1/admin;x/users');
    is($r->{status}, 200, 'no Octopus directive: the path passes');
    is($r->{json}{path}, '/api/v1/admin;x/users', '... as sent');
}

# the audit records the refusal

{
    req('strict', 'GET', '/api/v1/admin;audit/users', 'trader');
    my $rec = $t->wait_for(sub {
        my $log = $t->read_file('audit.jsonl') // '';
        my ($line) = grep { /admin;audit/ } split /\n/, $log;
        $line;
    }, 10);
    ok($rec, 'the refused request has an audit record');
    my $j = eval { decode_json($rec) } || {};
    is($j->{status}, 400, '... with status 400') or diag($rec);
}

# HTTP/2: the same decisions

SKIP: {
    my ($rc, $v) = Octopus::Test::capture('curl', '--version');
    skip 'curl without HTTP/2', 6 if $rc || $v !~ /\bHTTP2\b/;

    my $h2 = sub {
        my ($method, $path, $who) = @_;
        my ($rc, $out) = Octopus::Test::capture('curl', '-s',
            '--http2-prior-knowledge', '--path-as-is', '-X', $method,
            '-H', "Authorization: Bearer $tok{$who}",
            '-o', "$t->{dir}/h2.out", '-w', '%{http_version} %{http_code}',
            "http://127.0.0.1:" . $t->port('h2') . $path);
        my $body = $t->read_file('h2.out') // '';
        return ($out, $body);
    };

    my ($st, $body) = $h2->('GET', '/api/v1/admin;x/users', 'trader');
    is($st, '2 400', 'HTTP/2: a path parameter is refused');
    like($body, qr/"invalid_path"/, '... with the JSON reason');

    ($st) = $h2->('POST', '/api/v1/accounts/42/WITHDRAW', 'admin');
    is($st, '2 403', 'HTTP/2: the withdraw rule covers WITHDRAW');

    ($st) = $h2->('GET', '/api/v1/x/..;/admin/users', 'trader');
    is($st, '2 400', 'HTTP/2: "..;" is refused');

    ($st, $body) = $h2->('GET', '/api/v1/portfolio', 'user');
    is($st, '2 200', 'HTTP/2: a legitimate path passes');
    like($body, qr{"path": "/api/v1/portfolio"}, '... as sent');
}

# nginx -t

{
    my ($ok, $out) = Octopus::Test->new->nginx_test(<<'EOF');
events { }
http {
    server {
        octopus_path_policy lenient;
    }
}
EOF
    ok(!$ok, 'nginx -t refuses an unknown policy');
    like($out, qr/invalid value "lenient".*nginx-test\.conf:\d+/,
         '... naming it, the file and the line');

    ($ok, $out) = Octopus::Test->new->nginx_test(<<'EOF');
events { }
http {
    server {
        octopus_path_case insensitive;
    }
}
EOF
    ok(!$ok, 'nginx -t refuses octopus_path_case without a policy');
    like($out, qr/needs "octopus_path_policy strict" or "canonical"/,
         '... and says why');
    like($out, qr/nginx-test\.conf:\d+/, '... naming file and line');

    ($ok, $out) = Octopus::Test->new->nginx_test(<<'EOF');
events { }
http {
    server {
        location / {
            octopus_path_policy strict;
        }
    }
}
EOF
    ok(!$ok, 'octopus_path_policy is not a location directive');
}

$t->done;
