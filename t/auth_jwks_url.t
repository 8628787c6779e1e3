#!/usr/bin/perl

# ngx_octopus_auth_module, keys from a URL (octopus_auth_jwks_url,
# octopus_auth_oidc_issuer): a local HTTPS JWKS server (t/lib/jwks_server.py)
# with a test certificate authority made here with openssl; keys rotated
# during traffic (the new kid accepted after the refresh, or at once through
# the unknown-kid path; the removed key refused even when cached); the
# server stopped, slow or answering garbage keeps the last good set up to
# max_stale, then 401; a certificate from another CA refused; OIDC
# discovery; no key set ever: 401; nginx -t refusals.  Tokens are minted
# with PyJWT (t/lib/mint_jwt.py).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use Time::HiRes qw(time sleep);

my $t = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $d = $t->{dir};
my $py = '/usr/bin/python3';

sub sh {
    system(@_) == 0 or die "@_ failed";
}

sub mint {
    my @specs = @_;
    open(my $fh, '-|', $py, 't/lib/mint_jwt.py', encode_json(\@specs))
        or die "mint: $!";
    my @tokens = <$fh>;
    close $fh or die "mint_jwt.py failed";
    chomp @tokens;
    return wantarray ? @tokens : $tokens[0];
}

sub jwks {
    my $out = `$py t/lib/mint_jwt.py --jwks @_`;
    die "mint_jwt.py --jwks failed" if $?;
    return decode_json($out);
}

# a CA, the server's certificate for localhost, and another CA's

my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

sub ca {
    my ($name) = @_;
    sh("openssl req -x509 $ec -days 2 -subj '/CN=Octopus Test $name' "
       . "-keyout $d/pki/$name.key -out $d/pki/$name.pem 2>/dev/null");
}

sub server_cert {
    my ($name, $ca, $host) = @_;
    $t->write_file("pki/$name.ext", "subjectAltName=DNS:$host\n");
    sh("openssl req $ec -subj /CN=$host -keyout $d/pki/$name-server.key "
       . "-out $d/pki/$name-server.csr 2>/dev/null");
    sh("openssl x509 -req -in $d/pki/$name-server.csr -CA $d/pki/$ca.pem "
       . "-CAkey $d/pki/$ca.key -CAcreateserial -days 2 "
       . "-extfile $d/pki/$name.ext -out $d/pki/$name-server.pem "
       . "2>/dev/null");
}

mkdir "$d/pki";
ca('ca');
ca('other');
server_cert('ca', 'ca', 'localhost');
server_cert('other', 'other', 'localhost');
server_cert('wrong', 'ca', 'wrong.example');

# signing keys: RSA a and b, EC c; a static HS256 key next to the URL

for my $k (qw(a b)) {
    sh("openssl genrsa -out $d/keys-$k.pem 2048 2>/dev/null");
    sh("openssl rsa -in $d/keys-$k.pem -pubout -out $d/keys-$k.pub "
       . "2>/dev/null");
}
sh("openssl ecparam -name prime256v1 -genkey -noout -out $d/keys-c.pem");
sh("openssl ec -in $d/keys-c.pem -pubout -out $d/keys-c.pub 2>/dev/null");
my $hs = $t->write_file('static.key', Octopus::Test::random_secret() . "\n");

my $jwk_a = jwks("RS256:$d/keys-a.pub:a")->{keys}[0];
my $jwk_b = jwks("RS256:$d/keys-b.pub:b")->{keys}[0];
my $jwk_c = jwks("ES256:$d/keys-c.pub:c")->{keys}[0];

my $iss = 'https://localhost:' . $t->port('idp') . '/realms/trading';

sub tok {
    my ($kid, %o) = @_;
    my %file = (a => 'keys-a.pem', b => 'keys-b.pem', c => 'keys-c.pem');
    my $alg = $kid eq 'c' ? 'ES256' : 'RS256';
    return mint({ alg => $alg, key_file => "$d/$file{$kid}",
                  headers => { kid => $kid },
                  claims => { sub => "user-$kid", role => 'trader',
                              iss => $o{iss} // $iss },
                  now_offsets => { exp => 600, iat => 0 } });
}

my %tok = map { $_ => tok($_) } qw(a b c);
my $tok_static = mint({ alg => 'HS256', key_file => $hs,
                        headers => { kid => 'static' },
                        claims => { sub => 'svc', role => 'trader' },
                        now_offsets => { exp => 600, iat => 0 } });

# the server: answers from files in $d/idp

my $idp = "$d/idp";
mkdir $idp;

sub answer {
    my ($name, $content) = @_;
    $t->write_file("idp/.$name.tmp", $content);
    rename "$idp/.$name.tmp", "$idp/$name" or die "rename: $!";
}

sub set_keys {
    answer('certs', encode_json({ keys => [@_] }));
}

sub idp_start {
    my ($ca) = @_;
    $t->_stop_proc('idp', 'TERM');
    my $pid = $t->_spawn('idp', [$py, 't/lib/jwks_server.py', $t->port('idp'),
                                 $idp, "$d/pki/$ca-server.pem",
                                 "$d/pki/$ca-server.key"],
                         log => "$d/logs/idp.log");
    $t->_wait_port($t->port('idp'), 10, $pid) or die "idp did not start";
}

# the requests of the second nginx (the first one fetches /certs)

sub idp_realms {
    my $log = $t->read_file("$idp/requests.log") // '';
    return grep { m{^/realms} } split /\n/, $log;
}

sub idp_requests {
    my @lines = idp_realms();
    return scalar @lines;
}

sub bearer {
    my ($token, $uri, $nginx) = @_;
    return ($nginx // $t)->get($uri // '/api/x',
                               Authorization => "Bearer $token");
}

sub reason {
    my ($r) = @_;
    return ($r->{json} && $r->{json}{reason}) // '';
}

sub metrics {
    my ($nginx) = @_;
    my $r = ($nginx // $t)->get('/metrics');
    my %m;
    for (split /\n/, $r->{body} // '') {
        $m{$1} = $2 if /^(octopus_auth_\w+) (\S+)$/;
    }
    return \%m;
}

# a fresh key set: a good fetch within the last second

sub fresh {
    my ($nginx) = @_;
    return $t->wait_for(sub {
        my $m = metrics($nginx);
        defined $m->{octopus_auth_jwks_age_seconds}
            && $m->{octopus_auth_jwks_age_seconds} eq '0';
    }, 5);
}

sub errors_grow {
    my ($nginx) = @_;
    my $before = metrics($nginx)->{octopus_auth_jwks_fetch_errors_total};
    return $t->wait_for(sub {
        metrics($nginx)->{octopus_auth_jwks_fetch_errors_total} > $before;
    }, 5);
}

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_auth_key hs256 kid=static file=%%PREFIX%%/static.key;
    octopus_auth_jwks_url https://localhost:%%PORT_idp%%/certs
                          refresh=1s timeout=1s max_stale=3s
                          ca=%%PREFIX%%/pki/ca.pem;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_auth_metrics;
        }
    }
}
EOF

$t->run;

# no key set ever fetched (the server is not up yet): 401, never 500

my $r = bearer($tok{a});
is($r->{status}, 401, 'no key set yet: 401');
is(reason($r), 'key set not available', 'no key set yet: the reason');
is(bearer($tok_static)->{status}, 200,
   'a static key works next to the URL before any fetch');
ok(bearer($tok{a})->{elapsed} < 0.5, 'no key set yet: answered at once');
is(metrics()->{octopus_auth_jwks_age_seconds}, '+Inf',
   'octopus_auth_jwks_age_seconds: +Inf before the first fetch');

# the server starts: the set is fetched by itself

set_keys($jwk_a);
idp_start('ca');

ok($t->wait_for(sub { bearer($tok{a})->{status} == 200 }, 5),
   'key a accepted once the server answers');
is(bearer($tok{c})->{status}, 401, 'key c (not published) refused');
is(bearer($tok_static)->{status}, 200, 'the static key still works');

my $m = metrics();
ok($m->{octopus_auth_jwks_fetch_errors_total} >= 1,
   'fetch errors counted while the server was down');
is($m->{octopus_auth_jwks_keys}, 1, 'octopus_auth_jwks_keys 1');
ok($m->{octopus_auth_jwks_age_seconds} <= 1, 'octopus_auth_jwks_age_seconds');
like($t->error_log, qr/key set refused: cannot connect; no key set yet/,
     'the failed fetch is logged');

# rotation during traffic: a then a+c then c; b's cached token refused

my $load = $t->load_start(requests => 400, concurrency => 4,
                          headers => [Authorization => "Bearer $tok{a}"],
                          uri => '/api/x');
set_keys($jwk_a, $jwk_c);
ok($t->wait_for(sub { bearer($tok{c})->{status} == 200 }, 5),
   'rotation: the new kid c accepted after the refresh');
my $res = $t->load_wait($load);
is_deeply($res, { 200 => 400 }, 'rotation: no refusal of key a during it')
    or diag explain $res;

for (1 .. 4) { bearer($tok{c}) }   # cached in both workers
set_keys($jwk_c);
ok($t->wait_for(sub {
       my $x = bearer($tok{a});
       $x->{status} == 401 && reason($x) eq 'unknown key';
   }, 5), 'rotation: the removed key a refused after the refresh');
my %st;
$st{bearer($tok{a})->{status}}++ for 1 .. 8;
is_deeply(\%st, { 401 => 8 }, 'key a refused by every worker (cache)');
is(bearer($tok{c})->{status}, 200, 'key c (cached) still accepted');

# garbage answers: refused, the last good set kept

my @garbage = (
    [ 'invalid JSON', '{"keys": [', qr/invalid JSON/ ],
    [ 'a "none" key',
      encode_json({ keys => [{ kty => 'RSA', alg => 'none', kid => 'n',
                               n => $jwk_a->{n}, e => $jwk_a->{e} }] }),
      qr/unsupported \\"alg\\"|unsupported "alg"/ ],
    [ 'an HS key carrying a public key',
      encode_json({ keys => [{ %$jwk_a, alg => 'HS256', kid => 'hs' }] }),
      qr/HMAC secret/ ],
    [ 'a symmetric key',
      encode_json({ keys => [$jwk_c, { kty => 'oct', kid => 'o',
                                        k => Octopus::Test::random_secret(),
                                        alg => 'HS256' }] }),
      qr/symmetric/ ],
    [ 'no usable key (encryption only)',
      encode_json({ keys => [{ %$jwk_c, use => 'enc' }] }),
      qr/no signature key/ ],
    [ 'an empty key list', '{"keys": []}', qr/no "keys" array/ ],
    [ 'an oversized document',
      encode_json({ keys => [$jwk_c], pad => 'x' x (200 * 1024) }),
      qr/response over 128k/ ],
);

for my $g (@garbage) {
    my ($name, $body, $re) = @$g;
    ok(fresh(), "$name: the good set was fetched just before");
    answer('certs', $body);
    ok(errors_grow(), "$name: counted as a fetch error");
    is(bearer($tok{c})->{status}, 200, "$name: the last good set kept");
    is(bearer($tok{a})->{status}, 401, "$name: nothing else accepted");
    like($t->error_log, $re, "$name: logged with its reason");
    set_keys($jwk_c);
}

# an error status

ok(fresh(), 'HTTP 500: the good set was fetched just before');
answer('certs.status', '500');
ok(errors_grow(), 'HTTP 500: counted');
is(bearer($tok{c})->{status}, 200, 'HTTP 500: the last good set kept');
unlink "$idp/certs.status";

# slow: over the timeout, requests with a known kid are not held

ok(fresh(), 'slow server: the good set was fetched just before');
answer('certs.delay', '2500');
ok(errors_grow(), 'slow server: the timeout counted');
$r = bearer($tok{c});
is($r->{status}, 200, 'slow server: the last good set kept');
ok($r->{elapsed} < 0.5, 'slow server: requests answered at once');
$r = bearer($tok{a});
is($r->{status}, 401, 'slow server: an unknown kid refused');
ok($r->{elapsed} < 3.5,
   'slow server: an unknown kid held at most for the fetch running');
like($t->error_log, qr/key set refused: timed out/, 'slow server: logged');
unlink "$idp/certs.delay";

# a certificate from another CA

ok(fresh(), 'another CA: the good set was fetched just before');
idp_start('other');
ok(errors_grow(), 'another CA: refused');
is(bearer($tok{c})->{status}, 200, 'another CA: the last good set kept');
like($t->error_log, qr/does not verify against the CA file/,
     'another CA: logged');

idp_start('ca');

# the right CA, another host name

ok(fresh(), 'another host name: the good set was fetched just before');
idp_start('wrong');
ok(errors_grow(), 'another host name: refused');
is(bearer($tok{c})->{status}, 200,
   'another host name: the last good set kept');
like($t->error_log, qr/does not match the host name/,
     'another host name: logged');
idp_start('ca');

# the server stopped: the last good set works up to max_stale (3s), then 401

ok(fresh(), 'server stopped: the good set was fetched just before');
$t->_stop_proc('idp', 'KILL');
ok(errors_grow(), 'server stopped: counted');
is(bearer($tok{c})->{status}, 200, 'server stopped: the last good set kept');
ok($t->wait_for(sub {
       my $x = bearer($tok{c});
       $x->{status} == 401 && reason($x) eq 'key set expired';
   }, 6), 'server stopped: past max_stale, 401 "key set expired"');
is(bearer($tok_static)->{status}, 200,
   'past max_stale: the static key still works');
like($t->error_log, qr/over max_stale \(3 s\): dropped/,
     'past max_stale: logged');
is(metrics()->{octopus_auth_jwks_age_seconds}, '+Inf',
   'past max_stale: no key set in use');

idp_start('ca');
ok($t->wait_for(sub { bearer($tok{c})->{status} == 200 }, 5),
   'the server back: the set fetched again');

# OIDC discovery, and the unknown-kid path, on a second nginx that
# refreshes only every 10 minutes

answer('realms_trading_.well-known_openid-configuration', encode_json({
    issuer => $iss,
    jwks_uri => 'https://localhost:' . $t->port('idp') . '/realms_certs',
}));
answer('realms_certs', encode_json({ keys => [$jwk_a] }));

my $t2 = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $conf2 = <<'EOF';
events { }
http {
    octopus_auth_oidc_issuer __ISS__ refresh=10m timeout=1s
                             ca=__DIR__/pki/ca.pem;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            proxy_pass http://%%BACKEND%%;
        }

        location /other/ {
            octopus_auth jwt;
            octopus_auth_issuer https://other.example;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_auth_metrics;
        }
    }
}
EOF
$conf2 =~ s/__ISS__/$iss/g;
$conf2 =~ s/__DIR__/$d/g;
$t2->nginx_conf($conf2);
$t2->run;

ok($t->wait_for(sub { bearer($tok{a}, undef, $t2)->{status} == 200 }, 5),
   'discovery: key a from the jwks_uri of the OpenID configuration');
is(join(' ', (idp_realms())[0, 1]),
   '/realms/trading/.well-known/openid-configuration /realms_certs',
   'discovery: the configuration, then the jwks_uri');
is(bearer(tok('a', iss => 'https://evil.example'), undef, $t2)->{status},
   401, 'discovery: the issuer is required of tokens');
is(bearer($tok{a}, '/other/x', $t2)->{status}, 401,
   'discovery: octopus_auth_issuer takes precedence');

# keys only from a URL: the verification cache serves them too
my $hits = metrics($t2)->{octopus_auth_jwt_cache_hits_total} // 0;
is(bearer($tok{a}, undef, $t2)->{status}, 200, 'key a again');
ok((metrics($t2)->{octopus_auth_jwt_cache_hits_total} // 0) > $hits,
   'no key in the configuration: a fetched key\'s token is a cache hit');

answer('realms_certs', encode_json({ keys => [$jwk_a, $jwk_b] }));
my $n0 = idp_requests();
$r = bearer($tok{b}, undef, $t2);
is($r->{status}, 200,
   'unknown kid b: accepted at once (held during the fetch it caused)');
ok($r->{elapsed} < 2, 'unknown kid b: held for the fetch only');
is(idp_requests() - $n0, 2, 'unknown kid: one fetch (discovery and set)');
$r = bearer($tok{c}, undef, $t2);
is($r->{status}, 401, 'unknown kid c, not in the set: refused');
is(reason($r), 'unknown key', 'unknown kid c: the reason');
ok($r->{elapsed} < 0.5, 'unknown kid c: no fetch, not held');
bearer($tok{c}, undef, $t2) for 1 .. 5;
sleep 0.6;
is(idp_requests() - $n0, 2, 'unknown kid: at most one fetch per 30 s');


# discovery refusals: another issuer, a jwks_uri on another host

answer('realms_trading_.well-known_openid-configuration', encode_json({
    issuer => 'https://evil.example/realms/trading',
    jwks_uri => 'https://localhost:' . $t->port('idp') . '/realms_certs',
}));
$t2->reload or die 'reload';
ok($t->wait_for(sub { $t2->error_log =~ /names another "issuer"/ }, 5),
   'discovery: another issuer refused');
is(bearer($tok{a}, undef, $t2)->{status}, 200,
   'discovery: the set kept over a reload (same URL)');

answer('realms_trading_.well-known_openid-configuration', encode_json({
    issuer => $iss, jwks_uri => 'https://127.0.0.1:1/certs',
}));
$t2->reload or die 'reload';
ok($t->wait_for(sub { $t2->error_log =~ /not on the issuer's host/ }, 5),
   'discovery: a jwks_uri on another host refused');
$t2->stop;

# nginx -t

my @bad = (
    [ 'http:// URL', 'octopus_auth_jwks_url http://idp.example/certs;',
      qr{invalid "octopus_auth_jwks_url" URL "http://idp\.example/certs": not an https:// URL in \S+nginx-test\.conf:\d+} ],
    [ 'user info', 'octopus_auth_jwks_url https://u@localhost/certs;',
      qr{URL "https://u\@localhost/certs": user info} ],
    [ 'bad refresh', 'octopus_auth_jwks_url https://localhost/c refresh=0s;',
      qr{invalid "octopus_auth_jwks_url" parameter "refresh=0s".* in \S+nginx-test\.conf:\d+} ],
    [ 'unknown option', 'octopus_auth_jwks_url https://localhost/c foo=1;',
      qr{parameter "foo=1"} ],
    [ 'duplicate option',
      'octopus_auth_jwks_url https://localhost/c timeout=1s timeout=2s;',
      qr{parameter "timeout=2s"} ],
    [ 'max_stale under refresh',
      'octopus_auth_jwks_url https://localhost/c refresh=1h max_stale=10m;',
      qr{max_stale \(600 s\) shorter than refresh} ],
    [ 'unknown host',
      'octopus_auth_jwks_url https://no-such-host.invalid/c;',
      qr{host not found.*no-such-host\.invalid} ],
    [ 'missing CA file',
      'octopus_auth_jwks_url https://localhost/c ca=/nonexistent/ca.pem;',
      qr{/nonexistent/ca\.pem} ],
    [ 'duplicate directive',
      "octopus_auth_jwks_url https://localhost/c;\n"
      . "octopus_auth_jwks_url https://localhost/d;",
      qr{"octopus_auth_jwks_url" directive is duplicate in \S+nginx-test\.conf:\d+} ],
    [ 'issuer with a query',
      'octopus_auth_oidc_issuer https://localhost/r?x=1;',
      qr{an issuer has no query} ],
);

for my $b (@bad) {
    my ($name, $directive, $re) = @$b;
    my ($ok, $out) = $t->nginx_test(<<"EOF");
events { }
http {
    $directive
    server { listen 127.0.0.1:1; }
}
EOF
    ok(!$ok, "nginx -t refuses: $name");
    like($out, $re, "nginx -t names it: $name");
}

my ($ok, $out) = $t->nginx_test(<<"EOF");
events { }
http {
    octopus_auth_jwks_url https://localhost/certs ca=$d/pki/ca.pem;
    octopus_auth_oidc_issuer https://localhost/realms/x;
    octopus_auth_jwks $d/idp/realms_certs;
    server { listen 127.0.0.1:1; location / { octopus_auth jwt; } }
}
EOF
ok($ok, 'nginx -t: jwks_url, oidc_issuer and a static JWKS together')
    or diag $out;

$t->allow_log(qr/key set refused|connect\(\) failed|over max_stale/);
$t2->allow_log(qr/key set refused|connect\(\) failed/);
$t2->check_error_log;
$t->done;
