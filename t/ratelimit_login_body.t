#!/usr/bin/perl

# Issue 12, section 1: the login lockout counts every attempt however the
# body arrives (chunked, HTTP/2 without a length, spilled to a temporary
# file, multipart, a UTF-8 BOM, UTF-16/32 JSON, the query string, spellings
# of one name), or refuses it with 400/413 and a JSON reason before the
# upstream is contacted (the field twice, Content-Encoding, other types and
# charsets, a non-string, a padded name, a conflict with the query string).
# Shared-memory mode.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Encode qw(encode);
use JSON::PP ();

my $t = Octopus::Test->new;

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_ratelimit_zone ip key=$binary_remote_addr rate=10000r/m;

    client_body_buffer_size 8k;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        listen 127.0.0.1:%%PORT_h2%% http2;

        add_header X-Login-User "$octopus_login_user" always;
        add_header X-RL-Result "$octopus_ratelimit_result" always;
        add_header X-Upstream "$upstream_addr" always;

        location = /login {
            octopus_ratelimit ip;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_set_header X-Login-User $octopus_login_user;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login-file {
            client_body_in_file_only clean;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_set_header X-Login-User $octopus_login_user;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login-raw {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_login_normalize off;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_set_header X-Login-User $octopus_login_user;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login-small {
            octopus_ratelimit_login_field username;
            octopus_ratelimit_login_body_max 1k;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_set_header X-Login-User $octopus_login_user;
            proxy_pass http://%%BACKEND%%;
        }

        location = /lockout-only {
            octopus_ratelimit_login_body_max 1k;
            octopus_ratelimit_lockout key=$http_x_user failures=3
                                      within=1m for=1h status=401;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

$t->run;

sub post {
    my ($uri, $ctype, $body, %o) = @_;
    return $t->http(method => 'POST', uri => $uri, body => $body,
                    headers => [(defined $ctype ? ('Content-Type' => $ctype)
                                                : ()),
                                'X-Test-Status' => $o{status} // 401,
                                @{ $o{headers} // [] }]);
}

sub raw {
    my ($req) = @_;
    return $t->http(raw => $req);
}

sub chunked {
    my ($uri, $ctype, $body, %o) = @_;
    my $req = "POST $uri HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        . "Content-Type: $ctype\r\nTransfer-Encoding: chunked\r\n"
        . "X-Test-Status: " . ($o{status} // 401) . "\r\n\r\n";
    my $size = $o{chunk} // 7;
    for (my $i = 0; $i < length $body; $i += $size) {
        my $c = substr($body, $i, $size);
        $req .= sprintf("%x\r\n%s\r\n", length $c, $c);
    }
    return raw($req . "0\r\n\r\n");
}

my $JSON = 'application/json';
my $FORM = 'application/x-www-form-urlencoded';

sub jbody { my ($u) = @_; return qq({"username":"$u","password":"x"}) }

sub counted {
    my ($r, $user, $what) = @_;
    is($r->{status}, 401, "$what: reaches the upstream (401)")
        or diag $r->{body};
    is($r->{json}{headers}{'x-login-user'}, $user,
       "$what: counted for \"$user\"");
}

sub locked {
    my ($r, $what) = @_;
    is($r->{status}, 429, "$what: locked (429)") or diag $r->{body};
    is($r->{headers}{'x-rl-result'}, 'locked', "$what: result locked");
    ok(!(ref $r->{json} && defined $r->{json}{method})
       && ($r->{headers}{'x-upstream'} // '') eq '',
       "$what: the upstream is not reached");
}

sub refused {
    my ($r, $status, $reason, $what) = @_;
    is($r->{status}, $status, "$what: $status") or diag $r->{body};
    is($r->{headers}{'content-type'}, 'application/json',
       "$what: JSON answer");
    is_deeply($r->{json}, {error => 'invalid_login_request',
                           reason => $reason}, "$what: reason $reason");
    is($r->{headers}{'x-upstream'} // '', '',
       "$what: the upstream is not contacted");
}

# a plain login, the body passed on byte for byte

my $r = post('/login', $JSON, jbody('alice'), status => 200);
is($r->{status}, 200, 'plain JSON login passes');
is($r->{json}{body}, jbody('alice'), 'the upstream gets the body');
is($r->{json}{headers}{'x-login-user'}, 'alice', 'X-Login-User upstream');

# victim1: chunked, spilled to a temporary file, multipart, then a UTF-8
# BOM: one account

my $b = jbody('victim1');
$r = chunked('/login', $JSON, $b);
counted($r, 'victim1', 'chunked JSON');
is($r->{json}{body}, $b, 'chunked: the upstream gets the same bytes');

my $big = 'username=victim1&password=' . ('p' x 40000);
$r = post('/login', $FORM, $big);
counted($r, 'victim1', '40 KB form (temporary file)');
like($t->error_log, qr/client request body is buffered to a temporary file/,
     '... which nginx spilled to a temporary file');
is($r->{json}{body}, $big, 'temporary file: the upstream gets the same bytes');

my $mp = "--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n"
    . "x\r\n--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n"
    . "\r\nvictim1\r\n--XyZ--\r\n";
$r = post('/login', 'multipart/form-data; boundary=XyZ', $mp);
counted($r, 'victim1', 'multipart/form-data');
is($r->{json}{body}, $mp, 'multipart: the upstream gets the same bytes');

$r = post('/login', $JSON, "\xef\xbb\xbf" . jbody('victim1'), status => 200);
locked($r, 'JSON with a UTF-8 BOM, 4th attempt');

# the body forced into a file (client_body_in_file_only), chunked too

$b = jbody('filer');
$r = post('/login-file', $JSON, $b);
counted($r, 'filer', 'body in a file only');
is($r->{json}{body}, $b, 'file only: the upstream gets the same bytes');
counted(chunked('/login-file', $JSON, $b, chunk => 3), 'filer',
        'chunked into a file');
counted(post('/login-file', $FORM, 'username=filer'), 'filer', 'form file');
locked(post('/login-file', $JSON, $b, status => 200), 'file: 4th attempt');

# victim2: UTF-16LE, UTF-16BE with a BOM, UTF-32LE JSON, then the query
# string with an empty body

counted(post('/login', $JSON, encode('UTF-16LE', jbody('victim2'))),
        'victim2', 'UTF-16LE JSON');
counted(post('/login', $JSON,
             encode('UTF-16BE', "\x{feff}" . jbody('victim2'))),
        'victim2', 'UTF-16BE JSON with a BOM');
counted(post('/login', $JSON, encode('UTF-32LE', jbody('victim2'))),
        'victim2', 'UTF-32LE JSON');
locked(post('/login?username=victim2', undef, '', status => 200),
       'the query string with an empty body, 4th attempt');

# victim3: four spellings of one name, the canonical form upstream

counted(post('/login', $JSON, jbody('Victim3')), 'victim3', '"Victim3"');
counted(post('/login', $FORM, 'username=+victim3&password=x'), 'victim3',
        '" victim3" (form)');
counted(post('/login', $JSON, jbody('victim3\\u200b')), 'victim3',
        '"victim3\\u200b"');
$r = post('/login', $JSON, encode('UTF-8', jbody("\x{ff56}ictim3")),
          status => 200);
locked($r, 'fullwidth "victim3", 4th attempt');
is($r->{headers}{'x-login-user'}, 'victim3',
   '$octopus_login_user is the canonical form');

# the query string: the same value is fine and counted, another refused

counted(post('/login?username=Qu', $FORM, 'username=qu'), 'qu',
        'the same (canonical) name in the query and the body');
counted(post('/login?x=1&username=qu', $JSON, jbody('qu')), 'qu',
        'the same name in the query and a JSON body');
counted(post('/login?username=qu', $JSON, '{"password":"x"}'), 'qu',
        'the name only in the query string');
locked(post('/login?username=qu', undef, ''), 'query string: 4th attempt');
refused(post('/login?username=admin', $FORM, 'username=qu2'), 400,
        'field_in_query_conflict', 'another name in the query string');
refused(post('/login?username=a&username=b', undef, ''), 400,
        'duplicate_field', 'the field twice in the query string');

# HTTP/2 without Content-Length

SKIP: {
    my ($st, $out) = Octopus::Test::capture('curl', '--version');
    skip 'curl without HTTP/2', 8 unless $st == 0 && $out =~ /HTTP2/;

    my $f = $t->write_file('h2body', jbody('h2user'));
    my $h2 = sub {
        my ($status) = @_;
        # from stdin: curl does not know the length, sends no
        # content-length, and ends the stream with END_STREAM
        my ($rc, $o) = Octopus::Test::capture('sh', '-c',
            'exec curl -s --http2-prior-knowledge -X POST -T - '
            . '-H "Content-Type: application/json" -H "X-Test-Status: $1" '
            . '-o - -w "\n%{http_code} %{http_version}" "$2" < "$0"',
            $f, $status, 'http://127.0.0.1:' . $t->port('h2') . '/login');
        my ($body, $code, $ver) = $o =~ /^(.*)\n(\d+) (\S+)$/s;
        return ($code // 0, $ver // '',
                eval { JSON::PP::decode_json($body) } || {});
    };

    my ($code, $ver, $j) = $h2->(401);
    is($code, 401, 'HTTP/2 without Content-Length: reaches the upstream');
    is($ver, '2', '... over HTTP/2');
    is($j->{headers}{'x-login-user'}, 'h2user', '... counted');
    is($j->{body}, jbody('h2user'), '... the upstream gets the same bytes');
    $h2->(401);
    $h2->(401);
    ($code) = $h2->(200);
    is($code, 429, 'HTTP/2: locked after 3 failures');
    locked(post('/login', $FORM, 'username=h2user'),
           'HTTP/1.1 after HTTP/2 failures');
}

# refused: the field twice

refused(post('/login', $JSON,
             '{"username":"a","password":"x","username":"b"}'),
        400, 'duplicate_field', 'JSON with the field twice');
refused(post('/login', $JSON, '{"username":"a","user\\u006eame":"b"}'), 400,
        'duplicate_field', 'JSON with the field twice (escaped spelling)');
refused(post('/login', $FORM, 'username=a&password=x&username=b'), 400,
        'duplicate_field', 'form with the field twice');
refused(post('/login', 'multipart/form-data; boundary=XyZ',
             "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n"
             . "\r\na\r\n--XyZ\r\nContent-Disposition: form-data; "
             . "name=\"username\"\r\n\r\nb\r\n--XyZ--\r\n"), 400,
        'duplicate_field', 'multipart with the field twice');

# refused: encodings, types, charsets, values

refused(post('/login', $JSON, "\x1f\x8b\x08\x00gzipped",
             headers => ['Content-Encoding' => 'gzip']), 400,
        'unsupported_content_encoding', 'Content-Encoding: gzip');
refused(post('/login?username=x', undef, '',
             headers => ['Content-Encoding' => 'deflate']), 400,
        'unsupported_content_encoding', 'Content-Encoding on an empty body');
counted(post('/login', $JSON, jbody('ident'),
             headers => ['Content-Encoding' => 'identity']), 'ident',
        'Content-Encoding: identity');
refused(post('/login', 'text/plain', jbody('a')), 400,
        'unsupported_content_type', 'text/plain');
refused(post('/login', undef, jbody('a')), 400, 'unsupported_content_type',
        'a body without Content-Type');
refused(post('/login', "$FORM; charset=iso-8859-1", 'username=a'), 400,
        'unsupported_charset', 'charset=iso-8859-1');
counted(post('/login', "$JSON; charset=UTF-8", jbody('utf')), 'utf',
        'charset=UTF-8');
refused(post('/login', 'multipart/form-data', $mp), 400,
        'malformed_content_type', 'multipart without boundary');
refused(raw("POST /login HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            . "Content-Type: text/plain\r\nContent-Type: $JSON\r\n"
            . "Content-Length: 20\r\n\r\n" . '{"username":"a"}    '), 400,
        'duplicate_content_type', 'two Content-Type headers');
for my $v (['42', 'a number'], ['null', 'null'], ['["a"]', 'an array'],
           ['{"a":"b"}', 'an object'])
{
    refused(post('/login', $JSON, qq({"username":$v->[0]})), 400,
            'field_not_string', "the field is $v->[1]");
}
refused(post('/login', $JSON, '{"username":"a"'), 400, 'malformed_body',
        'truncated JSON');
refused(post('/login', $JSON, '{"username":"a"} {"username":"b"}'), 400,
        'malformed_body', 'two JSON objects');
refused(post('/login', $JSON, "\xff\xfe{\x00\""), 400, 'malformed_body',
        'truncated UTF-16');
refused(post('/login', $FORM, 'username=%zz'), 400, 'malformed_body',
        'a bad percent escape in the field');
refused(post('/login', $JSON, qq({"username":"vic\xfftim"})), 400,
        'invalid_utf8', 'a name that is not UTF-8');

# refused: a padded name past the field limit, never truncated

refused(post('/login', $FORM, 'username=victim' . ('+' x 300)), 400,
        'field_too_long', 'a name padded past 256 bytes (form)');
refused(post('/login', $JSON, jbody('victim' . (' ' x 300))), 400,
        'field_too_long', 'a name padded past 256 bytes (JSON)');
counted(post('/login', $FORM, 'username=padded' . ('+' x 200)), 'padded',
        'padding within 256 bytes: trimmed');

# 413: over octopus_ratelimit_login_body_max, by Content-Length or counted

refused(post('/login', $FORM, 'username=a&p=' . ('x' x 70000)), 413,
        'body_too_large', '70 KB body (Content-Length)');
refused(post('/login-small', $FORM, 'username=a&p=' . ('x' x 2000)), 413,
        'body_too_large', '2 KB over login_body_max 1k');
refused(chunked('/login-small', $FORM, 'username=a&p=' . ('x' x 5000),
                chunk => 500), 413,
        'body_too_large', 'chunked body over login_body_max, counted');
counted(chunked('/login-small', $FORM, 'username=small&p=' . ('x' x 900),
                chunk => 100), 'small', 'chunked body under the limit');
refused(post('/lockout-only', $FORM, 'p=' . ('x' x 2000),
             headers => ['X-User' => 'u']), 413,
        'body_too_large', 'lockout without login_field: the limit applies');
is(post('/lockout-only', 'text/plain', 'anything',
        headers => ['X-User' => 'u'])->{status}, 401,
   'lockout without login_field: the body is not parsed');

# an empty name: no lockout key, as before

for (1 .. 4) {
    $r = post('/login', $JSON, '{"password":"x"}');
}
is($r->{status}, 401, 'no login field: never locked (no key)');
is($r->{headers}{'x-login-user'} // '', '', '... and no $octopus_login_user');

# normalize off: byte for byte

$r = post('/login-raw', $JSON, jbody('R\\u0061w'));
is($r->{json}{headers}{'x-login-user'}, 'Raw', 'normalize off: as sent');
post('/login-raw', $JSON, jbody('Raw'));
post('/login-raw', $JSON, jbody('Raw'));
is(post('/login-raw', $JSON, jbody('raw'))->{status}, 401,
   'normalize off: "raw" is another account');
locked(post('/login-raw', $JSON, jbody('Raw')), 'normalize off: "Raw"');
refused(post('/login-raw', $JSON, qq({"username":"\xc0\xafx"})), 400,
        'invalid_utf8', 'normalize off: invalid UTF-8 still refused');

# control characters: escaped after normalisation, no header injected

$r = post('/login', $FORM, 'username=Vic%0d%0aX-Injected:%201',
          status => 200);
is($r->{json}{headers}{'x-login-user'}, 'vic\x0d\x0ax-injected: 1',
   'CR LF escaped in the canonical name');
ok(!exists $r->{json}{headers}{'x-injected'}, 'no header injected');

# keepalive: a refused request leaves no bytes behind for the next one

my $pipe = "POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: $JSON\r\n"
    . "Content-Length: 35\r\n\r\n" . '{"username":"a","username":"b"}    '
    . "GET /login HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    . "X-Test-Status: 200\r\n\r\n";
$r = raw($pipe);
is($r->{status}, 400, 'pipelined: the first request refused');
like($r->{raw}, qr/^HTTP\/1\.1 400.*?HTTP\/1\.1 200/s,
     'pipelined: the next request on the connection is served')
    or diag $r->{raw};

# configuration: found at nginx -t, quoting the value

sub conf {
    my ($loc) = @_;
    return "events { }\nhttp {\n    octopus_ratelimit_login_body_max 32k;\n"
        . "    octopus_ratelimit_login_normalize off;\n    server {\n"
        . "        listen 127.0.0.1:%%PORT_conf%%;\n"
        . "        location / {\n            $loc\n"
        . "            proxy_pass http://127.0.0.1:1;\n        }\n"
        . "    }\n}\n";
}

my ($ok, $out) = $t->nginx_test(conf(
    'octopus_ratelimit_login_field username; '
    . 'octopus_ratelimit_login_body_max 1m; '
    . 'octopus_ratelimit_login_normalize on;'));
ok($ok, 'login_body_max and login_normalize pass nginx -t') or diag $out;

for my $bad (
    ['octopus_ratelimit_login_body_max 0;',
     qr/invalid octopus_ratelimit_login_body_max "0"/],
    ['octopus_ratelimit_login_body_max 17m;',
     qr/invalid octopus_ratelimit_login_body_max "17m"/],
    ['octopus_ratelimit_login_body_max lots;', qr/"lots"/],
    ['octopus_ratelimit_login_normalize maybe;', qr/"maybe"/],
    ['octopus_ratelimit_login_field ' . ('f' x 256) . ';',
     qr/invalid octopus_ratelimit_login_field "f{256}"/],
    ['octopus_ratelimit_login_field "";',
     qr/invalid octopus_ratelimit_login_field ""/])
{
    ($ok, $out) = $t->nginx_test(conf($bad->[0]));
    ok(!$ok, "nginx -t refuses $bad->[0]") or next;
    like($out, $bad->[1], '... quoting the value');
    like($out, qr/\.conf:\d+/, '... with the file and line');
}

$t->done;
