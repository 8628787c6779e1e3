#!/usr/bin/perl

# ngx_octopus_ratelimit_module with the auth module: a limit keyed on
# $octopus_user, evaluated in PREACCESS (before auth's ACCESS handler runs),
# follows the JWT's user; requests without a valid token have an empty key
# and are left to auth.  Tokens are minted by PyJWT.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP qw(encode_json);

my $t = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module
                                          ngx_octopus_ratelimit_module)]);

my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);

sub mint {
    return Octopus::Test::mint_hs256($secret,
        encode_json({ sub => $_[0], role => 'trader' }));
}

$t->nginx_conf(<<'EOF');
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;

    octopus_ratelimit_zone user key=$octopus_user rate=3r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        add_header X-RL-Result "$octopus_ratelimit_result" always;

        location /api/ {
            octopus_auth jwt;
            octopus_ratelimit user;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;

my ($alice, $bob) = (mint('alice'), mint('bob'));
like($alice, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'PyJWT minted a token');

my @a = map { $t->get('/api/x', Authorization => "Bearer $alice") } 1 .. 4;
is_deeply([map { $_->{status} } @a], [200, 200, 200, 429],
          'the limit follows $octopus_user');
is($a[0]{headers}{'ratelimit-remaining'}, 2, 'counted per user');
is($a[0]{json}{headers}{authorization}, "Bearer $alice",
   'passed requests reach the upstream');

my $b = $t->get('/api/x', Authorization => "Bearer $bob");
is($b->{status}, 200, 'another user has their own limit');
is($b->{headers}{'ratelimit-remaining'}, 2, 'bob: first request');

my @n = map { $t->get('/api/x') } 1 .. 5;
is_deeply([map { $_->{status} } @n], [(401) x 5],
          'no token: empty key, auth answers 401, never 429');

my @bad = map { $t->get('/api/x', Authorization => 'Bearer x.y.z') } 1 .. 5;
is_deeply([map { $_->{status} } @bad], [(401) x 5],
          'bad token: not limited by user, refused by auth');

$t->done;
