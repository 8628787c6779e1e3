#!/usr/bin/perl

# Issue 12's seams attacked again after the fix, as a hostile client would,
# against conf/nginx.conf's rule shapes (octopus_path_policy strict, RBAC
# failing closed, the login lockout): what another parser of the same
# request (PHP, Rack, qs) would read differently from the gateway.  Raw
# sockets, so that no client library normalises the request.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;

my $t = Octopus::Test->new;

my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', "$secret\n");

my %tok = map {
    $_->[0] => Octopus::Test::mint_hs256($secret,
                   encode_json({ sub => $_->[1], role => $_->[0] }))
} ['trader', 'alice'], ['admin', 'carol'], ['user', 'uma'];

# conf/nginx.conf's API and login shapes (the trader has write, not delete)

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_auth_role admin   read write delete manage_users system_admin;
    octopus_auth_role trader  read write trade portfolio_manage;
    octopus_auth_role user    read;

    octopus_ratelimit_zone login key=$binary_remote_addr rate=10000r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        octopus_path_policy strict;

        add_header X-Login-User "$octopus_login_user" always;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require system_admin;
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

        location = /auth/login {
            octopus_ratelimit login;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_set_header X-Login-User $octopus_login_user;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

$t->run;

sub req {
    my ($method, $uri, $who, $head, $body) = @_;
    $body //= '';
    my $raw = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n";
    $raw .= "Authorization: Bearer $tok{$who}\r\n" if $who;
    $raw .= $head // '';
    $raw .= 'Content-Length: ' . length($body) . "\r\n";
    return $t->http(raw => "$raw\r\n$body");
}

sub reached {
    my ($r) = @_;
    return ref $r->{json} && defined $r->{json}{method};
}

my $FORM = "Content-Type: application/x-www-form-urlencoded\r\n";
my $r;

# ---- "_method" as PHP reads a parameter name --------------------------
#
# PHP registers " _method", ".method" and "_method\0..." as "_method"
# (leading spaces dropped, ' ' and '.' read as '_', the name ends at a
# NUL), and Laravel and Symfony take a POST's "_method" from $_GET and
# $_POST: the trader (write, no delete) would delete.

for my $q ('.method=DELETE', '%20_method=DELETE', '+_method=DELETE',
           '_method%00=DELETE', '%2Emethod=DELETE',
           '_method[' . ('a' x 40) . ']=DELETE')
{
    $r = req('POST', "/api/v1/accounts/42/notes?$q&x=1", 'trader');
    is($r->{status}, 200, "query $q: the POST passes") or diag $r->{body};
    is($r->{json}{uri}, '/api/v1/accounts/42/notes?x=1',
       "query $q: removed before the upstream");
}

$r = req('POST', '/api/v1/accounts/42/notes?_METHOD=DELETE&x.method=1',
         'trader');
is($r->{json}{uri}, '/api/v1/accounts/42/notes?x.method=1',
   '_METHOD removed, other names stay (x.method)');

# ASP.NET Core's HttpMethodOverride reads its form field ("_METHOD" in
# the documentation) with OrdinalIgnoreCase

for my $b ('_METHOD=DELETE', '_Method=DELETE',
           '.method=DELETE', 'a=1&+_method=DELETE', '_method%00=DELETE',
           '%20%20_method=DELETE', '_method[' . ('a' x 40) . ']=DELETE')
{
    $r = req('POST', '/api/v1/accounts/42/notes', 'trader', $FORM, $b);
    is($r->{status}, 400, "form body $b: refused") or diag $r->{body};
    is($r->{json}{reason}, 'method_override', "form body $b: the reason");
    ok(!reached($r), "form body $b: the upstream is not reached");
}

sub multipart {
    my ($disposition) = @_;
    return "--XyZ\r\nContent-Disposition: $disposition\r\n\r\n"
         . "DELETE\r\n--XyZ--\r\n";
}

my $MP = "Content-Type: multipart/form-data; boundary=XyZ\r\n";

for my $d ('form-data; name=".method"', 'form-data; name=" _method"',
           "form-data;\x0bname=\"_method\"",
           "form-data; name*=UTF-8''%5Fmethod",
           'form-data; name*="_method"')
{
    (my $what = $d) =~ s/\x0b/\\v/;
    $r = req('POST', '/api/v1/accounts/42/notes', 'trader', $MP,
             multipart($d));
    is($r->{status}, 400, "multipart $what: refused") or diag $r->{body};
    ok(!reached($r), "multipart $what: the upstream is not reached");
}

$r = req('POST', '/api/v1/accounts/42/notes', 'trader', $MP,
         multipart('form-data; name="note"; filename="_method"'));
is($r->{status}, 200, 'multipart: a file named _method passes');

# Laravel reads a POST's "_method" from a JSON body too (its request bag
# is the JSON), Express's method-override with a getter from req.body

for my $c (['application/json', '{"qty":1,"_method":"DELETE"}'],
           ['application/vnd.api+json', '{"\\u005fmethod":"DELETE"}'],
           ['text/json; charset=utf-8', '{"a":{"_method":"DELETE"}}'])
{
    $r = req('POST', '/api/v1/accounts/42/notes', 'trader',
             "Content-Type: $c->[0]\r\n", $c->[1]);
    is($r->{status}, 400, "$c->[0] $c->[1]: refused") or diag $r->{body};
    is($r->{json}{reason}, 'method_override', '... method_override');
    ok(!reached($r), '... the upstream is not reached');
}

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Type: application/json\r\n",
         '{"pad":"' . ('x' x 40000) . '","_method":"DELETE"}');
is($r->{status}, 400, 'JSON _method after 40 KB (a temp file): refused');

$r = req('POST', '/api/v1/accounts/42/notes', undef,
         "Content-Type: application/json\r\n", '{"_method":"DELETE"}');
is($r->{status}, 401, 'no token: 401 before the JSON body is read');

$r = req('POST', '/api/v1/accounts/42/notes', undef,
         "Content-Type: application/json\r\n", 'x' x 100000);
is($r->{status}, 401, 'no token, a JSON body over the limit: 401');

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Type: application/json\r\n", '{"qty":1,"method":"x"}');
is($r->{status}, 200, 'a JSON body without _method passes');
is($r->{json}{body}, '{"qty":1,"method":"x"}', '... unchanged');

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
         'x');
is($r->{status}, 400, 'a JSON body with Content-Encoding: refused');

# two Content-Type headers: nginx reads the first, gunicorn the last

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Type: text/plain\r\n$FORM", '_method=DELETE');
is($r->{status}, 400, 'two Content-Type headers on a POST: refused');
is($r->{json}{reason}, 'duplicate_content_type', '... with the reason');
ok(!reached($r), '... the upstream is not reached');

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Type: text/plain\r\n", '_method=DELETE');
is($r->{status}, 200, 'one text/plain body is not a form: passes');

# a second Content-Encoding after "identity": the one a backend may read

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Encoding: identity\r\nContent-Encoding: gzip\r\n$FORM",
         'qty=1');
is($r->{status}, 400, 'identity then gzip: a form body refused');
is($r->{json}{reason}, 'form_encoding', '... form_encoding');

$r = req('POST', '/api/v1/accounts/42/notes', 'trader',
         "Content-Encoding: identity\r\n$FORM", 'qty=1');
is($r->{status}, 200, 'identity alone passes');

# ---- the login name as PHP, Rails and qs read a form key ---------------
#
# "username[]=victim" is an array to PHP, Rails and qs (Express), and
# Laravel, ActiveRecord and Mongoose then look the account up by its
# element; " username" and "username\0x" are "username" to PHP: each was
# a guess at "victim" that the lockout did not count.

sub login {
    my ($body, $query, $ctype) = @_;
    return req('POST', '/auth/login' . ($query // ''), undef,
               ($ctype // $FORM) . "X-Test-Status: 401\r\n", $body);
}

for my $c (['username[]=victim&password=x'],
           ['a=1&username%5B0%5D=victim'],
           ['', '?username[]=victim'],
           ["--XyZ\r\nContent-Disposition: form-data; name=\"username[]\""
            . "\r\n\r\nvictim\r\n--XyZ--\r\n", '', $MP])
{
    my $what = $c->[1] ? "query $c->[1]" : "body $c->[0]";
    $what =~ s/\r\n.*//s;
    $r = login(@$c);
    is($r->{status}, 400, "login $what: refused") or diag $r->{body};
    is($r->{json}{reason}, 'field_not_string', "login $what: the reason");
    ok(!reached($r), "login $what: the upstream is not reached");
}

$r = login('username=a&+username=victim');
is($r->{status}, 400, 'login: "username" and " username" are one field');
is($r->{json}{reason}, 'duplicate_field', '... refused as a duplicate');

for my $b ('+username=target', 'username%00x=target', '%20%20username=target')
{
    $r = login("$b&password=guess");
    is($r->{status}, 401, "login $b: reaches the upstream");
    is($r->{json}{headers}{'x-login-user'}, 'target',
       "login $b: counted for \"target\"");
}

$r = login('username=target&password=guess');
is($r->{status}, 429, 'the three spellings locked "target"');
ok(!reached($r), '... the upstream is not reached');

# ASP.NET Core binds JSON, form and query keys with OrdinalIgnoreCase:
# "USERNAME" (or "u\x{17f}ername", long s) is its username

my $JSON = "Content-Type: application/json\r\n";

$r = login('{"username":"a","UserName":"victim"}', '', $JSON);
is($r->{status}, 400, 'JSON "username" and "UserName": refused');
is($r->{json}{reason}, 'duplicate_field', '... duplicate_field');

$r = login(qq({"username":"a","u\\u017fername":"victim"}), '', $JSON);
is($r->{json}{reason}, 'duplicate_field', 'JSON "u\\u017fername" too');

$r = login('{"USERNAME":"casey","password":"x"}', '', $JSON);
is($r->{status}, 401, 'JSON "USERNAME" alone: reaches the upstream');
is($r->{json}{headers}{'x-login-user'}, 'casey', '... counted for it');

$r = login('USERNAME=casey2&password=x');
is($r->{json}{headers}{'x-login-user'}, 'casey2', 'form "USERNAME" too');

# JSON with a form Content-Type: Flask's get_json(force=True) reads it

for my $b (' {"username":"victim"}', '[{"username":"victim"}]') {
    $r = login($b);
    is($r->{status}, 400, "form-typed JSON $b: refused");
    is($r->{json}{reason}, 'malformed_body', '... malformed_body');
}

# PHP takes the boundary after the first "boundary" in the Content-Type:
# "xboundary=AAA" hides a body whose AAA parts name the account

$r = login("--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n"
           . "--AAA\r\nContent-Disposition: form-data; name=\"username\""
           . "\r\n\r\nvictim\r\n--AAA--\r\n\r\n--XyZ--\r\n", '',
           "Content-Type: multipart/form-data; xboundary=AAA; "
           . "boundary=XyZ\r\n");
is($r->{status}, 400, 'multipart with "xboundary=" first: refused');
is($r->{json}{reason}, 'malformed_content_type', '... the reason');
ok(!reached($r), '... the upstream is not reached');

# Rack 2 (Rails before 7.1) splits a query string at ';' too: it reads
# "victim" where Spring and PHP read "a;username=victim"

for my $q ('?username=a;username=victim', '?username=victim;x=1') {
    $r = login('', $q);
    is($r->{status}, 400, "login query $q: refused") or diag $r->{body};
    ok(!reached($r), "login query $q: the upstream is not reached");
}

is(login('', '?username=a;username=victim')->{json}{reason}, 'duplicate_field',
   'the field twice once ";" separates: duplicate_field');
is(login('', '?username=victim;x=1')->{json}{reason}, 'malformed_query',
   'a name Rack reads shorter: malformed_query');

# HTTP Basic credentials on the login location: Spring Security's
# httpBasic() checks them on every path, with or without a body

use MIME::Base64 ();

sub basic {
    my ($cred, $body) = @_;
    return req('POST', '/auth/login', undef,
               'Authorization: Basic ' . MIME::Base64::encode_base64($cred, '')
               . "\r\n$FORM" . "X-Test-Status: 401\r\n", $body // '');
}

for my $i (1 .. 3) {
    $r = basic(($i == 2 ? 'BasicVictim' : 'basicvictim') . ":guess$i");
    is($r->{status}, 401, "Basic guess $i: reaches the upstream");
    is($r->{json}{headers}{'x-login-user'}, 'basicvictim',
       "Basic guess $i: counted for the account (canonical)");
}

$r = basic('basicvictim:guess4');
is($r->{status}, 429, 'Basic: the account is locked after 3 guesses');
ok(!reached($r), '... the upstream is not reached');

$r = basic('basicvictim:guess5', 'username=someone-else&password=x');
is($r->{status}, 400, 'Basic and a body naming another account: refused');
is($r->{json}{reason}, 'basic_auth_conflict', '... basic_auth_conflict');

$r = basic('bob2:x', 'username=Bob2&password=x');
is($r->{status}, 401, 'Basic and the body naming one account: passes');
is($r->{json}{headers}{'x-login-user'}, 'bob2', '... counted once for it');

$r = req('POST', '/auth/login', undef,
         "Authorization: Basic %%%\r\n$FORM", 'username=x');
is($r->{status}, 400, 'Basic credentials that are not base64: refused');
is($r->{json}{reason}, 'malformed_authorization', '... the reason');

$r = login('', '?a=1;b=2&username=qq');
is($r->{status}, 401, '";" elsewhere in the query: the name is read');
is($r->{json}{headers}{'x-login-user'}, 'qq', '... and counted');

$t->done;
