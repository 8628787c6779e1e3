#!/usr/bin/perl

# ngx_octopus_auth_module configuration: key rotation across reloads (a
# token signed with the previous key passes, and fails once that key is
# removed and nginx reloaded), the API key file reread on reload, a custom
# role table, and `nginx -t` failing with file, line and reason for every
# invalid configuration the issue names.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use Digest::SHA qw(sha256_hex);

sub mint {
    my @specs = @_;
    open(my $fh, '-|', '/usr/bin/python3', 't/lib/mint_jwt.py',
         encode_json(\@specs)) or die "mint: $!";
    my @tokens = <$fh>;
    close $fh or die "mint_jwt.py failed";
    chomp @tokens;
    return wantarray ? @tokens : $tokens[0];
}

my $t = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $d = $t->{dir};

my $cur = $t->write_file('keys/cur.key', Octopus::Test::random_secret());
my $prev = $t->write_file('keys/prev.key', Octopus::Test::random_secret());
$t->write_file('api-keys', 'svc ' . sha256_hex('first-key-0001') . " desk\n");

my $conf = <<'EOF';
events { }
http {
    octopus_auth_key hs256 kid=2026-11 file=%%PREFIX%%/keys/cur.key;
    %%PREV%%
    octopus_auth_api_keys %%PREFIX%%/api-keys;

    octopus_auth_role desk  read quote;
    octopus_auth_role chief read quote approve;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth any;
            octopus_auth_require quote;
            octopus_auth_require_method POST approve;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

(my $with_prev = $conf) =~ s{%%PREV%%}
    {octopus_auth_key hs256 kid=2026-10 file=%%PREFIX%%/keys/prev.key;};
(my $without_prev = $conf) =~ s{%%PREV%%}{};

$t->nginx_conf($with_prev);
$t->run;

my ($tok_cur, $tok_prev, $tok_chief, $tok_trader) = mint(
    map({ { alg => 'HS256', key_file => $_->[0], headers => { kid => $_->[1] },
            claims => { sub => 'alice', role => $_->[2] },
            now_offsets => { iat => 0, exp => 600 } } }
        [$cur, '2026-11', 'desk'], [$prev, '2026-10', 'desk'],
        [$cur, '2026-11', 'chief'], [$cur, '2026-11', 'trader']));

sub bearer {
    my ($tok, %o) = @_;
    return $t->http(method => $o{method} // 'GET', uri => '/api/x',
                    headers => [Authorization => "Bearer $tok"]);
}

is(bearer($tok_cur)->{status}, 200, 'current key: accepted');
is(bearer($tok_prev)->{status}, 200, 'previous key: accepted');
is(bearer($tok_prev)->{status}, 200,
   '... again (now from the shared verification cache)');
is($t->get('/api/x', 'X-API-Key' => 'first-key-0001')->{status}, 200,
   'API key from the file: accepted');

# custom role table: the default roles are gone

is(bearer($tok_cur, method => 'POST')->{status}, 403,
   'custom roles: desk cannot approve');
is(bearer($tok_chief, method => 'POST')->{status}, 200,
   'custom roles: chief can');
is(bearer($tok_trader)->{status}, 403,
   'custom roles replace the default table (trader unknown)');

# rotation: the previous key is removed, a new API key added, reload

$t->nginx_conf($without_prev);
$t->write_file('api-keys', 'svc2 ' . sha256_hex('second-key-0002')
                           . " chief\n");
my %old = map { $_ => 1 } $t->worker_pids;
ok($t->reload, 'reload');
ok($t->wait_for(sub { !grep { $old{$_} } $t->worker_pids }, 10),
   'old workers gone');

is(bearer($tok_cur)->{status}, 200, 'after reload: current key accepted');
my $r = bearer($tok_prev);
is($r->{status}, 401, 'after reload: removed previous key refused');
is($r->{json}{reason}, 'unknown key', '... as an unknown key');
is($t->get('/api/x', 'X-API-Key' => 'first-key-0001')->{status}, 401,
   'after reload: removed API key refused');
is($t->get('/api/x', 'X-API-Key' => 'second-key-0002')->{status}, 200,
   'after reload: new API key accepted');

# nginx -t failures

my $c = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $p = $c->{dir};

$c->write_file('short.key', 'x' x 31);

# human-made HMAC secrets: words and separators (as in the example secrets
# of public wordlists), a repeat, a sequence, one padded word, and a phrase
# in base64 and in hex (a guesser tries the usual encodings)
my @human = ('correct_horse_battery_staple_key',
             'trading_platform_jwt_secret_key1',
             'your-256-bit-secret-your-256-bit-secret',
             'k' x 32,
             '0123456789abcdefghijklmnopqrstuv',
             'MySuperSecretTradingPlatformKey2024!',
             MIME::Base64::encode_base64('correct horse battery staple', ''),
             unpack('H*', 'my_super_secret_key_for_jwt'));
$c->write_file("human$_.key", $human[$_] . "\n") for 0 .. $#human;
my $human_re = 'HMAC secret looks made by a person, not random.*octopus-keygen';
$c->write_file('human.jwks', '{"keys":[{"kty":"oct","k":"'
               . MIME::Base64::encode_base64url($human[0]) . '"}]}');
$c->write_file('ok.key', Octopus::Test::random_secret());
$c->write_file('bad.pem', "-----BEGIN PUBLIC KEY-----\nnope\n"
                          . "-----END PUBLIC KEY-----\n");
$c->write_file('bad.json', '{"keys": [');
$c->write_file('short-oct.json', '{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}');
$c->write_file('bad-rsa.json', '{"keys":[{"kty":"RSA","n":"AQAB"}]}');
$c->write_file('bad-ec.json', '{"keys":[{"kty":"EC","crv":"P-256",'
               . '"x":"AAAA","y":"AAAA"}]}');
$c->write_file('empty.json', '{"keys":[]}');
$c->write_file('keys-ghost', 'svc ' . ('a' x 64) . " ghost\n");
$c->write_file('keys-bad', "svc nothex user\n");
$c->write_file('keys-exp', 'svc ' . ('a' x 64) . " user tomorrow\n");
mkdir "$p/dir.key";
system("openssl genrsa -out $p/small.pem 1024 2>/dev/null; "
       . "openssl rsa -in $p/small.pem -pubout -out $p/small.pub "
       . "2>/dev/null; "
       . "openssl ecparam -name secp384r1 -genkey -noout -out $p/ec.pem; "
       . "openssl ec -in $p/ec.pem -pubout -out $p/ec384.pub 2>/dev/null")
    == 0 or die;

my $ok_key = "octopus_auth_key hs256 kid=ok file=$p/ok.key;";
sub loc {
    return 'server { listen 127.0.0.1:%%PORT_http%%; location / { '
           . $_[0] . ' } }';
}

delete $ENV{OCTOPUS_TEST_UNSET_SECRET};

my @bad = (
    [ 'octopus_auth_api_key_header "";',
      qr/"octopus_auth_api_key_header" directive is empty/ ],
    [ 'octopus_auth_api_key_header "X Key";',
      qr/invalid header name "X Key"/ ],
    [ "octopus_auth_key hs256 kid=a file=$p/short.key;",
      qr/HMAC secret shorter than 32 bytes/ ],
    [ "octopus_auth_key hs256 kid=a file=$p/missing.key;",
      qr/cannot open "\Q$p\E\/missing.key"/ ],
    [ "octopus_auth_key hs256 kid=a file=$p/dir.key;",
      qr/"\Q$p\E\/dir.key" is not a regular file/ ],
    [ "octopus_auth_key hs256 kid=a env=OCTOPUS_TEST_UNSET_SECRET;",
      qr/environment variable "OCTOPUS_TEST_UNSET_SECRET" is not set/ ],
    [ "octopus_auth_key rs256 kid=a file=$p/bad.pem;",
      qr/invalid PEM public key in "\Q$p\E\/bad.pem"/ ],
    [ "octopus_auth_key rs256 kid=a file=$p/small.pub;",
      qr/RSA key shorter than 2048 bits/ ],
    [ "octopus_auth_key es256 kid=a file=$p/ec384.pub;",
      qr/EC curve does not match the algorithm/ ],
    [ "octopus_auth_key rs256 kid=a file=$p/ec384.pub;",
      qr/not an RSA public key/ ],
    [ "octopus_auth_key none kid=a file=$p/ok.key;",
      qr/unsupported algorithm "none"/ ],
    [ "octopus_auth_key hs256 kid=a secret=$p/ok.key;",
      qr/invalid parameter "secret=/ ],
    [ "octopus_auth_key hs256 kid=a;", qr/needs "file=" or "env="/ ],
    [ "$ok_key octopus_auth_key hs256 kid=ok file=$p/ok.key;",
      qr/duplicate key id "ok"/ ],
    (map { [ "octopus_auth_key hs256 kid=a file=$p/human$_.key;",
             qr/invalid hs256 key "\Q$p\E\/human$_.key": $human_re/ ] }
         0 .. $#human),
    [ "octopus_auth_jwks $p/human.jwks;",
      qr/invalid JWKS .*HMAC secret looks made by a person/ ],
    [ "octopus_auth_jwks $p/bad.json;", qr/invalid JWKS .*invalid JSON/ ],
    [ "octopus_auth_jwks $p/short-oct.json;",
      qr/invalid JWKS .*HMAC secret shorter than 32 bytes/ ],
    [ "octopus_auth_jwks $p/bad-rsa.json;", qr/invalid JWKS .*RSA key/ ],
    [ "octopus_auth_jwks $p/bad-ec.json;", qr/invalid JWKS .*EC key/ ],
    [ "octopus_auth_jwks $p/empty.json;", qr/invalid JWKS .*no "keys"/ ],
    [ "octopus_auth_jwks $p/none.json;", qr/cannot open/ ],
    [ "$ok_key " . loc('octopus_auth jwt; '
                                 . 'octopus_auth_require fly;'),
      qr/unknown permission "fly"/ ],
    [ "$ok_key " . loc('octopus_auth jwt; '
                                 . 'octopus_auth_require role=ghost;'),
      qr/unknown role "ghost"/ ],
    [ "$ok_key " . loc('octopus_auth jwt; '
                                 . 'octopus_auth_require_method POST fly;'),
      qr/unknown permission "fly"/ ],
    [ "$ok_key " . loc('octopus_auth_require_method write read;'),
      qr/needs at least one method/ ],
    [ "$ok_key " . loc('octopus_auth_rule ~ ^/(x read;'),
      qr/invalid regex "\^\/\(x"/ ],
    [ "$ok_key " . loc('octopus_auth_rule ^/x read;'),
      qr/expected "~ regex/ ],
    [ "$ok_key " . loc('octopus_auth_rule ~ ^/x POST fly;'),
      qr/unknown permission "fly"/ ],
    [ "octopus_auth_api_keys $p/keys-ghost;", qr/line 1: unknown role/ ],
    [ "octopus_auth_api_keys $p/keys-bad;", qr/line 1: .*hash/ ],
    [ "octopus_auth_api_keys $p/keys-exp;", qr/line 1: invalid expiry/ ],
    [ "octopus_auth_api_keys $p/none;", qr/cannot open "\Q$p\E\/none"/ ],
    [ "octopus_auth_role admin read; octopus_auth_role admin write;",
      qr/duplicate role "admin"/ ],
    [ 'octopus_auth_role "bad role" read;', qr/invalid role name "bad role"/ ],
    [ 'octopus_cors_origins * ; octopus_cors_credentials on;',
      qr/"on" cannot be used with octopus_cors_origins "\*"/ ],
    [ 'octopus_cors_credentials on; octopus_cors_origins *;',
      qr/"\*" cannot be used with "octopus_cors_credentials on"/ ],
    [ 'octopus_cors_origins *; '
      . loc('octopus_cors_credentials on;'),
      qr/"\*" cannot be used with "octopus_cors_credentials on"/ ],
    [ 'octopus_cors_origins app.octopus.trading;',
      qr/invalid origin "app.octopus.trading"/ ],
    [ 'octopus_auth_leeway soon;', qr/invalid value|"soon"/ ],
    [ 'octopus_auth_jwt_cache 0;',
      qr/invalid "octopus_auth_jwt_cache" value "0": a size with a unit/ ],
    [ 'octopus_auth_jwt_cache 1024;',
      qr/value "1024": a size with a unit .*a number of entries is no longer/ ],
    [ 'octopus_auth_jwt_cache lots;',
      qr/"octopus_auth_jwt_cache" value "lots": a size of at least 64k/ ],
    [ 'octopus_auth_jwt_cache 32k;',
      qr/"octopus_auth_jwt_cache" value "32k": a size of at least 64k/ ],
    [ 'octopus_auth_jwt_cache 10m; octopus_auth_jwt_cache off;',
      qr/"octopus_auth_jwt_cache" directive is duplicate/ ],
    [ loc('octopus_auth_jwt_cache 10m;'),
      qr/"octopus_auth_jwt_cache" directive is not allowed here/ ],
    [ loc('octopus_auth jwt;'),
      qr/octopus_auth needs JWT keys/ ],
    [ "$ok_key " . loc('octopus_auth api_key;'),
      qr/octopus_auth needs API keys/ ],
    [ "$ok_key " . loc('octopus_auth jwt+api_key;'),
      qr/octopus_auth needs API keys/ ],
);

for my $case (@bad) {
    my ($directive, $re) = @$case;
    my ($ok, $out) = $c->nginx_test(<<"EOF");
events { }
http {
    $directive
}
EOF
    ok(!$ok, "nginx -t refuses: $directive") or next;
    like($out, $re, '... and says why') or diag($out);
    like($out, qr/nginx-test\.conf:\d+/, '... naming file and line');
}

# a secret never appears in nginx -t output

my ($ok, $out) = $c->nginx_test(<<"EOF");
events { }
http { octopus_auth_key hs256 kid=a file=$p/short.key; }
EOF
unlike($out, qr/xxxxxxxxxx/, 'the secret is not echoed');

($ok, $out) = $c->nginx_test(<<"EOF");
events { }
http { octopus_auth_key hs256 kid=a file=$p/human0.key; }
EOF
unlike($out, qr/horse|battery/, 'a human-made secret is not echoed either');

# random secrets of every usual recipe pass: secrets.token_urlsafe(32),
# tools/octopus-keygen jwt-secret, openssl rand -hex 32, 48 raw bytes (a trailing
# newline is not part of a secret: 48 leave 32 after any trim)

my (undef, $py) = Octopus::Test::capture('/usr/bin/python3', '-c',
    'import secrets; print(secrets.token_urlsafe(32))');
$c->write_file('py.key', $py);
system("bash tools/octopus-keygen jwt-secret $p/keygen.key >/dev/null") == 0
    or die "octopus-keygen failed";
system("openssl rand -hex 32 > $p/hex.key; "
       . "head -c 48 /dev/urandom > $p/raw.key") == 0 or die;

for my $k (qw(py keygen hex raw)) {
    ($ok, $out) = $c->nginx_test(<<"EOF");
events { }
http { octopus_auth_key hs256 kid=a file=$p/$k.key; }
EOF
    ok($ok, "a random secret ($k) passes nginx -t") or diag($out);
}

# and the full example of the issue passes

$c->write_file('jwt.key', Octopus::Test::random_secret(48));
($ok, $out) = $c->nginx_test(<<"EOF");
events { }
http {
    octopus_auth_key hs256 kid=2026-11 file=$p/jwt.key;
    octopus_auth_key rs256 kid=a file=$p/small.pub.none.pem;
}
EOF
ok(!$ok, 'missing PEM refused');

system("openssl genrsa -out $p/idp.pem 2048 2>/dev/null; "
       . "openssl rsa -in $p/idp.pem -pubout -out $p/idp.pub 2>/dev/null")
    == 0 or die;
$c->write_file('api-keys', "# none yet\n\n");

($ok, $out) = $c->nginx_test(<<"EOF");
events { }
http {
    octopus_auth_key hs256 kid=2026-11 file=$p/jwt.key;
    octopus_auth_key rs256 kid=idp file=$p/idp.pub;
    octopus_auth_key es384 kid=ec file=$p/ec384.pub;
    octopus_auth_issuer https://auth.octopus.trading;
    octopus_auth_audience octopus-api;
    octopus_auth_leeway 30s;
    octopus_auth_max_token_lifetime 60m;
    octopus_auth_role admin   read write delete manage_users system_admin;
    octopus_auth_role trader  read write trade portfolio_manage;
    octopus_auth_role analyst read analyze report;
    octopus_auth_role user    read;
    octopus_auth_api_keys $p/api-keys;
    octopus_cors_origins https://app.octopus.trading;
    octopus_cors_credentials on;
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location /api/ {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_auth_require_method POST PUT PATCH write;
            octopus_auth_require_method DELETE delete;
            octopus_auth_rule ~ ^/api/v1/accounts/[0-9]+/withdraw\$ POST trade;
            proxy_pass http://127.0.0.1:1;
        }
        location /api/orders { octopus_auth jwt; octopus_auth_require trade;
                               proxy_pass http://127.0.0.1:1; }
        location /api/admin/ { octopus_auth jwt+api_key;
                               octopus_auth_require system_admin;
                               proxy_pass http://127.0.0.1:1; }
    }
}
EOF
ok($ok, 'the configuration of the issue passes nginx -t') or diag($out);

$t->done;
