#!/usr/bin/perl

# No client-chosen identity or method reaches the backend: X-Octopus-*
# in every case and '_' spelling (underscores_in_headers on) is removed in
# every location of a server where an Octopus module is active (an auth
# location, a login location with only the rate limiter, a server with
# only the audit), while the gateway's own identity headers arrive;
# method override headers and the "_method" query parameter are removed,
# or honoured with octopus_auth_method_override on; HEAD is authorized as
# GET.  Raw sockets: the header spellings go out exactly as written.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;

my $t = Octopus::Test->new;

my ($rc, $secret) = Octopus::Test::capture('/usr/bin/python3', '-c',
    'import secrets; print(secrets.token_urlsafe(32))');
die "python3: $secret" if $rc;
chomp $secret;
$t->write_file('keys/hs.key', "$secret\n");

sub mint {
    my ($sub, $role) = @_;
    return Octopus::Test::mint_hs256($secret,
        encode_json({ sub => $sub, role => $role }));
}

my %tok = (trader  => mint('alice', 'trader'),     # read write trade
           admin   => mint('carol', 'admin'),      # ... delete
           analyst => mint('bob', 'analyst'),      # read report
           user    => mint('uma', 'user'));        # read

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_ratelimit_zone login key=$binary_remote_addr rate=600r/m;
    octopus_audit_file %%PREFIX%%/audit.jsonl;

    underscores_in_headers on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_auth_require_method POST PUT PATCH write;
            octopus_auth_require_method DELETE delete;
            proxy_pass http://%%BACKEND%%;
        }

        location /override/ {
            octopus_auth jwt;
            octopus_auth_method_override on;
            octopus_auth_require read;
            octopus_auth_require_method POST PUT PATCH write;
            octopus_auth_require_method DELETE delete;
            proxy_pass http://%%BACKEND%%;
        }

        # an honoured override, then an internal redirect (error_page
        # makes it a GET) to a location that does not honour it
        location /override-redirect/ {
            octopus_auth jwt;
            octopus_auth_method_override on;
            octopus_auth_require read;
            octopus_auth_require_method DELETE delete;
            proxy_intercept_errors on;
            error_page 418 = /api/after-redirect;
            proxy_pass http://%%BACKEND%%;
        }

        # bodies over 1k go to a temp file
        location /spill/ {
            octopus_auth jwt;
            client_body_buffer_size 1k;
            proxy_pass http://%%BACKEND%%;
        }

        location /head/ {
            octopus_auth jwt;
            octopus_auth_require_method GET report;
            octopus_auth_rule ~ ^/head/rule POST GET trade;
            proxy_pass http://%%BACKEND%%;
        }

        # no octopus_auth here (as in conf/nginx.conf)
        location = /open {
            proxy_pass http://%%BACKEND%%;
        }
    }

    # only the rate limiter, in one location
    server {
        listen 127.0.0.1:%%PORT_rl%%;

        location = /auth/login {
            octopus_ratelimit login;
            proxy_pass http://%%BACKEND%%;
        }

        location / {
            proxy_pass http://%%BACKEND%%;
        }
    }

    # only the audit
    server {
        listen 127.0.0.1:%%PORT_audit%%;
        octopus_audit on;

        location / {
            proxy_pass http://%%BACKEND%%;
        }
    }

    # nothing of ours: unchanged
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
    my (%a) = @_;
    my $method = $a{method} || 'GET';
    my $raw = "$method $a{uri} HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n";
    $raw .= "Authorization: Bearer $tok{$a{who}}\r\n" if $a{who};
    my @h = @{$a{headers} || []};
    my $chunked;
    while (my ($n, $v) = splice @h, 0, 2) {
        $raw .= "$n: $v\r\n";
        $chunked = 1 if lc $n eq 'transfer-encoding';
    }
    my $body = $a{body} // '';
    $raw .= "Content-Length: " . length($body) . "\r\n"
        if !$chunked && ($method eq 'POST' || length $body);
    $raw .= "\r\n$body";
    return $t->http(port => $t->port($a{port} || 'http'), raw => $raw);
}

# the names the backend received, mapped as it may read them

sub seen {
    my ($r, $prefix) = @_;
    return [ map { "$_->[0]: $_->[1]" }
             grep { (my $n = lc $_->[0]) =~ tr/_/-/; index($n, $prefix) == 0 }
             @{$r->{json}{header_list} || []} ];
}

my @spoof = ('X-Octopus-User' => 'admin',
             'x-octopus-user' => 'admin2',
             'X-OCTOPUS-ROLE' => 'admin',
             'X_Octopus_User' => 'admin3',
             'X-Octopus_Role' => 'admin',
             'x_octopus-auth' => 'jwt',
             'X_OCTOPUS_KEY_ID' => 'ops',
             'X-Octopus-Permissions' => 'system_admin');

# an auth location: the gateway's identity, and only it

{
    my $r = req(uri => '/api/v1/portfolio', who => 'trader',
                headers => \@spoof);
    is($r->{status}, 200, 'auth location: the request passes');
    is_deeply([sort @{seen($r, 'x-octopus-')}],
              ['X-Octopus-Auth: jwt', 'X-Octopus-Role: trader',
               'X-Octopus-User: alice'],
              '... the backend sees the gateway\'s identity only');
}

# no octopus_auth in the location, but an Octopus module in the server

{
    my $r = req(uri => '/open', headers => \@spoof);
    is($r->{status}, 200, 'location without octopus_auth: passes');
    is_deeply(seen($r, 'x-octopus'), [],
              '... no client X-Octopus-* in any spelling');
}

# a login location with only the rate limiter configured

for my $uri ('/auth/login', '/elsewhere') {
    my $r = req(port => 'rl', method => 'POST', uri => $uri,
                headers => ['Content-Type' => 'application/json', @spoof],
                body => '{"username":"alice","password":"x"}');
    is($r->{status}, 200, "ratelimit-only server, $uri: passes");
    is_deeply(seen($r, 'x-octopus'), [],
              '... no client X-Octopus-* reaches the backend');
}

# a server with only the audit

{
    my $r = req(port => 'audit', uri => '/x', headers => \@spoof);
    is($r->{status}, 200, 'audit-only server: passes');
    is_deeply(seen($r, 'x-octopus'), [], '... no client X-Octopus-*');
}

# a server without any Octopus directive is left alone

{
    my $r = req(port => 'plain', uri => '/x?_method=DELETE',
                headers => [@spoof, 'X-HTTP-Method-Override' => 'DELETE']);
    is(scalar @{seen($r, 'x-octopus-')}, @spoof / 2,
       'no Octopus module in the server: every spelling passes (so the '
       . 'removal above is ours, underscores_in_headers works)');
    is($r->{json}{headers}{'x-http-method-override'}, 'DELETE',
       '... the override too');
    is($r->{json}{uri}, '/x?_method=DELETE', '... and the query too');
}

# method override: removed where not honoured

my @override = ('X-HTTP-Method-Override' => 'DELETE',
                'x-http-method' => 'DELETE',
                'X_Method_Override' => 'DELETE',
                'X_HTTP_METHOD_OVERRIDE' => 'DELETE');

{
    my $r = req(method => 'POST',
                uri => '/api/v1/orders?a=1&_method=DELETE&b=2',
                who => 'trader', headers => \@override);
    is($r->{status}, 200, 'override off: the POST is authorized as POST');
    is($r->{json}{method}, 'POST', '... and reaches the backend as POST');
    is_deeply(seen($r, 'x-http-method'), [], '... without override headers');
    is_deeply(seen($r, 'x-method-override'), [], '... in any spelling');
    is($r->{json}{uri}, '/api/v1/orders?a=1&b=2', '... nor _method');

    $r = req(method => 'POST', uri => '/api/v1/orders?%5Fmethod=PUT',
             who => 'trader');
    is($r->{json}{uri}, '/api/v1/orders', '%5Fmethod is _method');

    $r = req(uri => '/open?_method=DELETE&x=1');
    is($r->{json}{uri}, '/open?x=1',
       'a location without octopus_auth: _method removed too');
}

# method override honoured: authorized as the method it names

{
    my $r = req(method => 'POST', uri => '/override/orders/7', who => 'trader',
                headers => ['X-HTTP-Method-Override' => 'DELETE']);
    is($r->{status}, 403, 'override on: POST as DELETE needs delete');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'admin',
             headers => ['X-HTTP-Method-Override' => 'DELETE']);
    is($r->{status}, 200, '... which admin has');
    is($r->{json}{headers}{'x-http-method-override'}, 'DELETE',
       '... and the backend gets the override it will execute');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'trader',
             headers => ['X_HTTP_Method_Override' => 'delete']);
    is($r->{status}, 403, 'an underscore spelling is an override too');

    $r = req(method => 'POST', uri => '/override/orders/7?_method=delete',
             who => 'trader');
    is($r->{status}, 403, '_method=delete in the query needs delete');

    $r = req(method => 'POST', uri => '/override/orders/7?_method=delete',
             who => 'admin');
    is($r->{status}, 200, '... which admin has');
    is($r->{json}{uri}, '/override/orders/7?_method=delete',
       '... and the backend gets the query as sent');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'user',
             headers => ['X-HTTP-Method-Override' => 'GET']);
    is($r->{status}, 200, 'POST as GET needs only read');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'admin',
             headers => ['X-HTTP-Method-Override' => 'DELETE',
                         'X-HTTP-Method' => 'PUT']);
    is($r->{status}, 400, 'two different override values: 400');
    is($r->{json}{error}, 'invalid_request', '... invalid_request');
    is($r->{json}{reason}, 'method_override', '... method_override');

    $r = req(method => 'POST', uri => '/override/orders/7?_method=PUT',
             who => 'admin', headers => ['X-HTTP-Method-Override' => 'DELETE']);
    is($r->{status}, 400, 'header and query disagree: 400');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'admin',
             headers => ['X-HTTP-Method-Override' => 'PURGE']);
    is($r->{status}, 400, 'an override naming no known method: 400');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'trader',
             headers => ['X-HTTP-Method-Override' => 'DELETE',
                         'X-Method-Override' => 'delete']);
    is($r->{status}, 403, 'the same value twice is one method');

    $r = req(method => 'POST', uri => '/override-redirect/x?_method=DELETE',
             who => 'admin',
             headers => ['X-HTTP-Method-Override' => 'DELETE',
                         'X-Test-Status' => '418']);
    is($r->{json}{path}, '/api/after-redirect',
       'an internal redirect after an honoured override');
    is($r->{json}{method}, 'GET', '... as a GET');
    is_deeply(seen($r, 'x-http-method'), [],
              '... sends no override to the next location\'s upstream');
    unlike($r->{json}{uri}, qr/_method/, '... nor the _method parameter');

    # only a POST is overridden, as frameworks do
    $r = req(uri => '/override/orders/7', who => 'user',
             headers => ['X-HTTP-Method-Override' => 'DELETE']);
    is($r->{status}, 200, 'a GET with an override stays a GET');
    is_deeply(seen($r, 'x-http-method'), [],
              '... and the override does not reach the backend');
}

# "_method" in a POST form body cannot be removed: refused, or honoured

sub multipart {
    my (%f) = @_;
    my $b = '';
    for my $n (sort keys %f) {
        $b .= "--XyZ9\r\nContent-Disposition: form-data; name=\"$n\"\r\n\r\n"
            . "$f{$n}\r\n";
    }
    return $b . "--XyZ9--\r\n";
}

my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my @mp = ('Content-Type' => 'multipart/form-data; boundary=XyZ9');

{
    my $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
                headers => \@form, body => 'qty=1&_method=DELETE');
    is($r->{status}, 400, 'override off: _method in a form body is refused');
    is($r->{json}{reason}, 'method_override', '... method_override');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => \@form, body => 'qty=1&symbol=OCTO');
    is($r->{status}, 200, 'a form body without _method passes');
    is($r->{json}{body}, 'qty=1&symbol=OCTO', '... intact to the backend');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => \@mp, body => multipart(qty => 1, _method => 'DELETE'));
    is($r->{status}, 400, 'multipart: a _method part is refused');

    my $body = multipart(qty => 1, symbol => 'OCTO');
    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => \@mp, body => $body);
    is($r->{status}, 200, 'multipart without _method passes');
    is($r->{json}{body}, $body, '... intact');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => [@mp, 'Transfer-Encoding' => 'chunked'],
             body => sprintf("%x\r\n%s\r\n0\r\n\r\n",
                             length $body, $body));
    is($r->{status}, 200, 'a chunked multipart body is read too');

    my $evil = multipart(qty => 1, _method => 'DELETE');
    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => [@mp, 'Transfer-Encoding' => 'chunked'],
             body => sprintf("%x\r\n%s\r\n0\r\n\r\n",
                             length $evil, $evil));
    is($r->{status}, 400, '... and its _method part refused');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => \@mp,
             body => "--XyZ9\nContent-Disposition: form-data; "
                     . "name=\"_method\"\n\nDELETE\n--XyZ9--\n");
    is($r->{status}, 400, 'multipart with bare LF around _method: refused');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => [@form, 'Content-Encoding' => 'gzip'],
             body => "\x1f\x8b\x08\x00");
    is($r->{status}, 400, 'a compressed form body is refused');
    is($r->{json}{reason}, 'form_encoding', '... form_encoding');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => \@form, body => 'a=' . ('x' x 70000));
    is($r->{status}, 413, 'a form body over 64k is refused');
    is($r->{json}{reason}, 'form_body', '... form_body');

    my $big = 'a=' . ('x' x 5000);
    $r = req(method => 'POST', uri => '/spill/x', who => 'trader',
             headers => \@form, body => "$big&_method=DELETE");
    is($r->{status}, 400, 'a form body in a temp file is read too');

    $r = req(method => 'POST', uri => '/spill/x', who => 'trader',
             headers => \@form, body => $big);
    is($r->{status}, 200, '... and passed on intact without _method');
    is(length($r->{json}{body} // ''), length $big, '... every byte');

    $r = req(method => 'POST', uri => '/api/v1/orders', who => 'trader',
             headers => ['Content-Type' => 'application/json'],
             body => '{"_method":"DELETE"}');
    is($r->{status}, 400, 'a JSON body naming _method: refused (Laravel)');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'trader',
             headers => \@form, body => 'qty=1&_method=DELETE');
    is($r->{status}, 403, 'override on: a form _method=DELETE needs delete');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'admin',
             headers => \@mp, body => multipart(_method => 'delete'));
    is($r->{status}, 200, '... which admin has (multipart)');
    like($r->{json}{body}, qr/name="_method"/, '... the body intact');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'admin',
             headers => [@form, 'X-HTTP-Method-Override' => 'PUT'],
             body => '_method=DELETE');
    is($r->{status}, 400, 'header and body disagree: 400');

    $r = req(method => 'POST', uri => '/override/orders/7', who => 'user',
             headers => \@form, body => '_method=GET&_method=GET');
    is($r->{status}, 200, 'the same value twice: one method (GET, read)');
}

# HEAD is authorized as GET

{
    my $r = req(method => 'HEAD', uri => '/head/x', who => 'user');
    is($r->{status}, 403, 'HEAD needs what GET needs (require_method GET)');

    $r = req(method => 'HEAD', uri => '/head/x', who => 'analyst');
    is($r->{status}, 200, '... and passes with it');

    $r = req(method => 'HEAD', uri => '/head/rule', who => 'analyst');
    is($r->{status}, 403, 'a rule for GET applies to HEAD');

    $r = req(method => 'GET', uri => '/head/rule', who => 'analyst');
    is($r->{status}, 403, '... as to GET');

    $r = req(method => 'HEAD', uri => '/head/rule', who => 'trader');
    is($r->{status}, 403, 'trader lacks report');
}

$t->done;
