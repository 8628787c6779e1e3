#!/usr/bin/perl

# ngx_octopus_auth_module, JWT: valid HS256 / RS256 / ES256 / JWKS tokens
# reach the upstream with the identity headers and spoofed X-Octopus-*
# headers removed; every token rule of the issue has a token that breaks
# it; the RFC 7515 A.1 example verifies and is then refused as expired.
# Tokens are minted with PyJWT (t/lib/mint_jwt.py), keys with openssl.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use MIME::Base64 qw(encode_base64url decode_base64url);

my $t = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $d = $t->{dir};

sub sh {
    system(@_) == 0 or die "@_ failed";
}

sub mint {
    my @specs = @_;
    my $pid = open(my $fh, '-|', '/usr/bin/python3', 't/lib/mint_jwt.py',
                   encode_json(\@specs)) or die "mint: $!";
    my @tokens = <$fh>;
    close $fh or die "mint_jwt.py failed";
    chomp @tokens;
    die "mint: expected " . @specs . " tokens" unless @tokens == @specs;
    return wantarray ? @tokens : $tokens[0];
}

# keys

my $hs_cur = $t->write_file('keys/jwt-2026-11.key',
                            Octopus::Test::random_secret() . "\n");
my $hs_prev = $t->write_file('keys/jwt-2026-10.key',
                             Octopus::Test::random_secret() . "\n");
sh("openssl genrsa -out $d/keys/rsa.pem 2048 2>/dev/null");
sh("openssl rsa -in $d/keys/rsa.pem -pubout -out $d/keys/rsa.pub "
   . "2>/dev/null");
sh("openssl ecparam -name prime256v1 -genkey -noout -out $d/keys/ec.pem");
sh("openssl ec -in $d/keys/ec.pem -pubout -out $d/keys/ec.pub 2>/dev/null");
sh("openssl genrsa -out $d/keys/jrsa.pem 2048 2>/dev/null");
sh("openssl rsa -in $d/keys/jrsa.pem -pubout -out $d/keys/jrsa.pub "
   . "2>/dev/null");
sh("openssl ecparam -name secp384r1 -genkey -noout -out $d/keys/jec.pem");
sh("openssl ec -in $d/keys/jec.pem -pubout -out $d/keys/jec.pub "
   . "2>/dev/null");

# the JWKS: RSA and EC keys converted by PyJWT, and the RFC 7515 A.1 key

my $rfc_k = 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0'
            . 'iPS4hcgUuTwjAzZr1Z9CAow';
my $jwks = decode_json(scalar `/usr/bin/python3 t/lib/mint_jwt.py --jwks \\
    RS256:$d/keys/jrsa.pub:jwks-rsa ES384:$d/keys/jec.pub:jwks-ec`);
push @{$jwks->{keys}}, { kty => 'oct', k => $rfc_k };
$t->write_file('keys/jwks.json', encode_json($jwks));

$ENV{OCTOPUS_TEST_JWT_SECRET} = Octopus::Test::random_secret();

$t->nginx_conf(<<'EOF');
env OCTOPUS_TEST_JWT_SECRET;
events { }
http {
    large_client_header_buffers 4 32k;

    octopus_auth_key hs256 kid=2026-11 file=%%PREFIX%%/keys/jwt-2026-11.key;
    octopus_auth_key hs256 kid=2026-10 file=%%PREFIX%%/keys/jwt-2026-10.key;
    octopus_auth_key HS256 kid=env-key env=OCTOPUS_TEST_JWT_SECRET;
    octopus_auth_key rs256 kid=idp file=%%PREFIX%%/keys/rsa.pub;
    octopus_auth_key es256 kid=ec file=%%PREFIX%%/keys/ec.pub;
    octopus_auth_key hs512 kid=hs512 file=%%PREFIX%%/keys/jwt-2026-11.key;
    octopus_auth_key rs384 kid=rs384 file=%%PREFIX%%/keys/rsa.pub;
    octopus_auth_key RS512 kid=rs512 file=%%PREFIX%%/keys/rsa.pub;
    octopus_auth_jwks %%PREFIX%%/keys/jwks.json;

    octopus_auth_issuer https://auth.octopus.trading;
    octopus_auth_audience octopus-api;
    octopus_auth_leeway 30s;
    octopus_auth_max_token_lifetime 60m;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            proxy_set_header X-Test-Vars "$octopus_user|$octopus_role|$octopus_permissions|$octopus_auth_method|$octopus_jwt_jti|$octopus_auth_result|$octopus_jwt_claim_sub|$octopus_jwt_claim_aud|$octopus_jwt_claim_n";
            proxy_pass http://%%BACKEND%%;
        }

        location /rfc/ {
            octopus_auth jwt;
            octopus_auth_issuer joe;
            octopus_auth_audience off-unused;
            proxy_pass http://%%BACKEND%%;
        }

        location /short/ {
            octopus_auth jwt;
            octopus_auth_leeway 0s;
            proxy_pass http://%%BACKEND%%;
        }

        location /cookie/ {
            octopus_auth jwt;
            octopus_auth_token $cookie_session;
            proxy_pass http://%%BACKEND%%;
        }

        location /claims/ {
            octopus_auth jwt;
            octopus_auth_user_claim email;
            octopus_auth_role_claim groups;
            octopus_auth_require trade;
            proxy_pass http://%%BACKEND%%;
        }

        location /optional/ {
            octopus_auth optional;
            proxy_pass http://%%BACKEND%%;
        }

        location /refresh/ {
            octopus_auth jwt;
            octopus_auth_refresh_tokens on;
            octopus_auth_max_token_lifetime 7d;
            proxy_pass http://%%BACKEND%%;
        }

        location /early/ {
            octopus_auth jwt;
            octopus_auth_require read;
            set $early "$octopus_user|$octopus_auth_result";
            proxy_set_header X-Test-Early $early;
            proxy_pass http://%%BACKEND%%;
        }

        location /open/ {
            proxy_set_header X-Test-Vars "$octopus_user|$octopus_auth_result";
            proxy_pass http://%%BACKEND%%;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_srv%%;

        # evaluated in the server rewrite phase, before the location is known
        octopus_auth jwt;
        set $srv "$octopus_user|$octopus_auth_result";

        location / {
            proxy_set_header X-Test-Early $srv;
            proxy_pass http://%%BACKEND%%;
        }

        location /trade/ {
            octopus_auth_require trade;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;

my %base = (
    claims => { sub => 'alice', role => 'trader', jti => 'j-1',
                iss => 'https://auth.octopus.trading', aud => 'octopus-api',
                n => 42 },
    now_offsets => { iat => 0, exp => 600 },
);

sub spec {
    my (%o) = @_;
    my %s = (%base, alg => 'HS256', key_file => $hs_cur,
             headers => { kid => '2026-11' });
    for my $k (keys %o) {
        if ($k eq 'claims' || $k eq 'now_offsets') {
            $s{$k} = { %{$base{$k}}, %{$o{$k}} };
        } else {
            $s{$k} = $o{$k};
        }
    }
    for my $c (@{$o{drop} || []}) {
        my %c = %{$s{claims}};
        my %n = %{$s{now_offsets}};
        delete $c{$c};
        delete $n{$c};
        $s{claims} = \%c;
        $s{now_offsets} = \%n;
    }
    delete $s{drop};
    delete $s{key_file} if exists $o{key};
    return \%s;
}

sub bearer {
    my ($token, $uri, @h) = @_;
    return $t->get($uri // '/api/x', Authorization => "Bearer $token", @h);
}

# valid tokens

my %valid = (
    'HS256 (kid 2026-11)' => spec(),
    'HS256 previous key (kid 2026-10)' =>
        spec(key_file => $hs_prev, headers => { kid => '2026-10' }),
    'HS256 key from the environment' =>
        spec(key => $ENV{OCTOPUS_TEST_JWT_SECRET},
             headers => { kid => 'env-key' }),
    'HS256 without kid (keys tried in order)' => spec(headers => {}),
    'RS256' => spec(alg => 'RS256', key_file => "$d/keys/rsa.pem",
                    headers => { kid => 'idp' }),
    'ES256' => spec(alg => 'ES256', key_file => "$d/keys/ec.pem",
                    headers => { kid => 'ec' }),
    'RS256 from the JWKS' => spec(alg => 'RS256',
                                  key_file => "$d/keys/jrsa.pem",
                                  headers => { kid => 'jwks-rsa' }),
    'ES384 from the JWKS' => spec(alg => 'ES384',
                                  key_file => "$d/keys/jec.pem",
                                  headers => { kid => 'jwks-ec' }),
    'HS512' => spec(alg => 'HS512', headers => { kid => 'hs512' }),
    'RS384' => spec(alg => 'RS384', key_file => "$d/keys/rsa.pem",
                    headers => { kid => 'rs384' }),
    'RS512' => spec(alg => 'RS512', key_file => "$d/keys/rsa.pem",
                    headers => { kid => 'rs512' }),
    'aud as an array' => spec(claims => { aud => ['other', 'octopus-api'] }),
    'expired within the leeway' => spec(now_offsets => { exp => -10 }),
    'jku, x5u and jwk headers are ignored' =>
        spec(headers => { kid => '2026-11', jku => 'https://evil/jwks',
                          x5u => 'https://evil/x5u',
                          jwk => { kty => 'oct', k => 'AAAA' } }),
);

my @names = sort keys %valid;
my @tokens = mint(map { $valid{$_} } @names);

for my $i (0 .. $#names) {
    my $r = bearer($tokens[$i], '/api/x',
                   'X-Octopus-User' => 'mallory',
                   'X-Octopus-Role' => 'admin',
                   'x-octopus-key-id' => 'spoof',
                   'X-OCTOPUS-Extra' => '1');
    is($r->{status}, 200, "$names[$i]: accepted")
        or diag($r->{body});
    my $h = $r->{json}{headers} || {};
    is($h->{'x-octopus-user'}, 'alice', "$names[$i]: X-Octopus-User");
    is($h->{'x-octopus-role'}, 'trader', "$names[$i]: X-Octopus-Role");
    is($h->{'x-octopus-auth'}, 'jwt', "$names[$i]: X-Octopus-Auth");
    my @spoof = grep { $_->[0] =~ /^x-octopus-/i
                       && $_->[1] =~ /^(mallory|admin|spoof|1)$/ }
                @{$r->{json}{header_list} || []};
    is(scalar @spoof, 0, "$names[$i]: spoofed X-Octopus-* headers removed");
    ok(!exists $h->{'x-octopus-key-id'}, "$names[$i]: no key id header");
}

# variables

my $r = bearer($tokens[0]);
is($r->{json}{headers}{'x-test-vars'},
   'alice|trader|read,write,trade,portfolio_manage|jwt|j-1|ok|alice|'
   . 'octopus-api|42',
   'variables: user, role, permissions, method, jti, result, claims');

$r = $t->get('/open/x');
is($r->{json}{headers}{'x-test-vars'}, '|', 'variables empty when auth off');

# refused tokens: [name, spec, reason, result]

my ($hs_pem_kid, $hs_pem_nokid) = (
    spec(raw => 'hs_with_pem', key_file => "$d/keys/rsa.pub",
         headers => { kid => 'idp' }),
    spec(raw => 'hs_with_pem', key_file => "$d/keys/rsa.pub", headers => {}),
);

my @bad = (
    [ 'expired', spec(now_offsets => { iat => -900, exp => -120 }),
      'token expired' ],
    [ 'nbf in the future', spec(now_offsets => { nbf => 300 }),
      'token not yet valid' ],
    [ 'iat in the future', spec(now_offsets => { iat => 300, exp => 900 }),
      'token issued in the future' ],
    [ 'lifetime over 60m', spec(now_offsets => { exp => 2 * 3600 }),
      'token lifetime too long' ],
    [ 'missing exp', spec(drop => ['exp']), 'missing exp claim' ],
    [ 'wrong iss', spec(claims => { iss => 'https://evil' }),
      'invalid issuer' ],
    [ 'missing iss', spec(drop => ['iss']), 'invalid issuer' ],
    [ 'wrong aud', spec(claims => { aud => 'other-api' }),
      'invalid audience' ],
    [ 'aud array without us', spec(claims => { aud => ['a', 'b'] }),
      'invalid audience' ],
    [ 'alg none', spec(raw => 'none'), 'algorithm none not accepted' ],
    [ 'alg NONE', spec(raw => 'none_upper'), 'algorithm none not accepted' ],
    [ 'HS256 signed with the RS256 public key PEM (kid idp)', $hs_pem_kid,
      'algorithm does not match the key' ],
    [ 'HS256 signed with the RS256 public key PEM (no kid)', $hs_pem_nokid,
      'invalid signature' ],
    [ 'unknown kid', spec(headers => { kid => 'nope' }), 'unknown key' ],
    [ 'RS256 token for the RS512 key', spec(alg => 'RS256',
                                            key_file => "$d/keys/rsa.pem",
                                            headers => { kid => 'rs512' }),
      'algorithm does not match the key' ],
    [ 'HS256 token for the HS512 key', spec(headers => { kid => 'hs512' }),
      'algorithm does not match the key' ],
    [ 'unknown crit', spec(headers => { kid => '2026-11', crit => ['exp'],
                                        exp => 1 }),
      'unsupported critical header' ],
    [ 'refresh token', spec(claims => { token_type => 'refresh' },
                            now_offsets => { exp => 7 * 86400 }),
      'refresh token not accepted' ],
    [ 'signed with another secret',
      spec(key => 'another-secret-0123456789abcdefghijklmnopq'),
      'invalid signature' ],
    [ 'no sub', spec(drop => ['sub']), 'invalid subject claim' ],
    [ 'sub with a control character', spec(claims => { sub => "a\r\nb" }),
      'invalid subject claim' ],
    [ 'exp as a string', spec(claims => { exp => '9999999999' },
                              now_offsets => { iat => 0 }, drop => ['exp']),
      'missing exp claim' ],
);

# "exp as a string": drop removes exp from both, so set it back as string
$bad[-1][1]{claims}{exp} = '9999999999';
$bad[-1][2] = 'invalid exp claim';

@tokens = mint(map { $_->[1] } @bad);

sub refused {
    my ($token, $reason, $name, $result) = @_;
    my $r = bearer($token);
    is($r->{status}, 401, "$name: 401");
    is($r->{json}{error}, 'invalid_token', "$name: error invalid_token");
    is($r->{json}{reason}, $reason, "$name: reason \"$reason\"");
    is($r->{headers}{'www-authenticate'},
       qq{Bearer realm="octopus", error="invalid_token", }
       . qq{error_description="$reason"}, "$name: WWW-Authenticate");
    is($r->{headers}{'content-type'}, 'application/json',
       "$name: JSON body");
}

for my $i (0 .. $#bad) {
    refused($tokens[$i], $bad[$i][2], $bad[$i][0]);
}

# hand-made breakage of a good token

my $good = mint(spec());
my ($h64, $p64, $s64) = split /\./, $good;
my $claims = decode_json(decode_base64url($p64));
$claims->{role} = 'admin';
my $tampered = join '.', $h64, encode_base64url(encode_json($claims)), $s64;

refused($tampered, 'invalid signature', 'tampered payload');
refused("$h64.$p64." . encode_base64url(substr(decode_base64url($s64), 0, 24)),
        'invalid signature', 'truncated signature (24 of 32 bytes)');
refused(substr($good, 0, length($good) - 10), 'malformed token',
        'truncated in the middle of a base64 quantum');
refused("$h64.$p64", 'malformed token', 'two segments');
refused("$h64.$p64.", 'invalid signature', 'empty signature');
refused(substr($good, 0, 20), 'malformed token', 'truncated to 20 bytes');
refused("$h64.$p64.$s64.x", 'malformed token', 'four segments');
refused('a' x 9000, 'token too large', 'oversized (9000 bytes)');
refused("$h64.$p64.$s64" . ('A' x 9000), 'token too large',
        'oversized signature');
refused("$h64!.$p64.$s64", 'malformed token', 'non-base64url header');
refused("$h64.$p64=.$s64", 'malformed token', 'padded payload');
refused(encode_base64url('not json') . ".$p64.$s64", 'malformed token',
        'non-JSON header');
refused("$h64." . encode_base64url('{"sub": ') . ".$s64", 'malformed token',
        'non-JSON payload');
refused("$h64." . encode_base64url('[1,2]') . ".$s64", 'malformed token',
        'payload not an object');
refused(encode_base64url('{"alg":"HS256","alg":"none"}') . ".$p64.$s64",
        'malformed token', 'duplicate header member');

# the RFC 7515 appendix A.1 example: a valid HS256 signature (no kid), so
# the refusal is about its exp (2011), not its signature

my $rfc = 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9'
          . '.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGF'
          . 'tcGxlLmNvbS9pc19yb290Ijp0cnVlfQ'
          . '.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

$r = bearer($rfc, '/rfc/x');
is($r->{status}, 401, 'RFC 7515 A.1: refused');
is($r->{json}{reason}, 'token expired', 'RFC 7515 A.1: as expired');

my @rfc = split /\./, $rfc;
my $rfc_sig = decode_base64url($rfc[2]);
substr($rfc_sig, 0, 1) = chr(ord(substr($rfc_sig, 0, 1)) ^ 1);
my $rfc_bad = "$rfc[0].$rfc[1]." . encode_base64url($rfc_sig);
$r = bearer($rfc_bad, '/rfc/x');
is($r->{json}{reason}, 'invalid signature',
   'RFC 7515 A.1 with a changed signature: invalid signature');

# missing credentials

for my $case ([ 'no Authorization', [] ],
              [ 'Basic scheme', [Authorization => 'Basic YTpi'] ],
              [ 'empty Bearer', [Authorization => 'Bearer '] ])
{
    $r = $t->get('/api/x', @{$case->[1]});
    is($r->{status}, 401, "$case->[0]: 401");
    is($r->{headers}{'www-authenticate'}, 'Bearer realm="octopus"',
       "$case->[0]: WWW-Authenticate without error");
    is_deeply($r->{json}, { error => 'unauthorized',
                            reason => 'missing token' },
              "$case->[0]: JSON body");
}

# the variables evaluated before the access phase (as the ratelimit module
# does in preaccess): the decision is computed then and enforced after

$r = bearer($good, '/early/x');
is($r->{status}, 200, 'early evaluation: accepted');
is($r->{json}{headers}{'x-test-early'}, 'alice|ok',
   '... variables set in the rewrite phase');
$r = bearer($tampered, '/early/x');
is($r->{status}, 401, 'early evaluation of a bad token: still refused');
is($r->{json}{reason}, 'invalid signature', '... with its reason');
is($t->get('/early/x')->{status}, 401, 'early evaluation, no token: 401');

my ($user_tok) = mint(spec(claims => { role => 'user' }));
my $srv = $t->port('srv');
$r = $t->http(uri => '/x', port => $srv,
              headers => [Authorization => "Bearer $user_tok"]);
is($r->{status}, 200, 'server-level evaluation: accepted');
is($r->{json}{headers}{'x-test-early'}, 'alice|ok', '... variables');
$r = $t->http(uri => '/trade/x', port => $srv,
              headers => [Authorization => "Bearer $user_tok"]);
is($r->{status}, 403,
   'a decision made before the location was known is made again for it');

# token from a variable (cookie)

$r = $t->get('/cookie/x', Cookie => "session=$good");
is($r->{status}, 200, 'token from $cookie_session');
is($r->{json}{headers}{'x-octopus-user'}, 'alice', '... identity from it');
is($t->get('/cookie/x', Cookie => 'session=bad')->{status}, 401,
   'bad cookie token: 401');

# claim names

my @claim_tokens = mint(
    spec(claims => { email => 'bob@example.com', groups => ['trader'] }),
    spec(claims => { email => 'bob@example.com', groups => 'analyst' }),
);
$r = bearer($claim_tokens[0], '/claims/x');
is($r->{status}, 200, 'user and role claims renamed: accepted');
is($r->{json}{headers}{'x-octopus-user'}, 'bob@example.com',
   '... user from octopus_auth_user_claim');
is(bearer($claim_tokens[1], '/claims/x')->{status}, 403,
   '... role from octopus_auth_role_claim (analyst cannot trade)');

# optional

$r = $t->get('/optional/x', 'X-Octopus-User' => 'mallory');
is($r->{status}, 200, 'optional without credentials: passes');
ok(!exists $r->{json}{headers}{'x-octopus-user'},
   '... anonymous, spoofed identity removed');
is(bearer($good, '/optional/x')->{json}{headers}{'x-octopus-user'}, 'alice',
   'optional with a token: identity');
is(bearer($tampered, '/optional/x')->{status}, 401,
   'optional with a bad token: 401');

# the refresh endpoint may accept refresh tokens

my $refresh = mint(spec(claims => { token_type => 'refresh' },
                        now_offsets => { exp => 7 * 86400 }));
is(bearer($refresh, '/refresh/x')->{status}, 200,
   'refresh token accepted where octopus_auth_refresh_tokens is on');
is(bearer($refresh)->{json}{reason}, 'refresh token not accepted',
   '... and refused on API locations');

# the verification cache (on by default): a token verified once is
# remembered by the worker, yet its claims are checked at every request,
# against the location asking

my $short = mint(spec(now_offsets => { iat => 0, exp => 2 }));
my $t0 = time;
is(bearer($short, '/short/x')->{status}, 200, 'short-lived token: accepted');
is(bearer($short, '/short/x')->{status}, 200, '... again (cached)');
ok($t->wait_for(sub { bearer($short, '/short/x')->{status} != 200 }, 10),
   '... refused once it expires, cached or not');
$r = bearer($short, '/short/x');
is($r->{status}, 401, '... with 401');
is($r->{json}{reason}, 'token expired', '... as expired');
cmp_ok(time - $t0, '>=', 1, '... not before its exp');

is(bearer($good)->{status}, 200, 'a token accepted on /api/ (and cached)');
$r = bearer($good, '/rfc/x');
is($r->{status}, 401, '... is judged again by a location of another issuer');
is($r->{json}{reason}, 'invalid issuer', '... and refused there');
$r = bearer($tampered);
is($r->{json}{reason}, 'invalid signature',
   'its tampered copy is still refused after the original was cached');

unlike($t->error_log, qr/\Q$s64\E|current-secret|previous-secret/,
       'no token or secret in error.log');

$t->done;
