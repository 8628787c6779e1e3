#!/usr/bin/perl

# Attack tests through real nginx with all three modules (auth, ratelimit
# on Redis, audit to PostgreSQL and a JSON file): path tricks against RBAC
# and limits, duplicated credentials, CR/LF/NUL in header values, a 64 KB
# header, a 1 MB token, 10,000 query parameters, and slowloris clients that
# must not hold a Redis or PostgreSQL connection.  Every request gets a
# clear status and exactly one intact audit record.  Tokens: PyJWT.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);

my $t = Octopus::Test->new;
my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);
$t->write_file('api-keys',
               "svc ${\ sha256_hex('svc-key-0001')} user\n"
               . "ops ${\ sha256_hex('ops-key-0001')} admin\n");
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));

sub mint {
    my ($sub, $role) = @_;
    return Octopus::Test::mint_hs256($secret,
        encode_json({ sub => $sub, role => $role }));
}

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;
    octopus_auth_api_keys %%PREFIX%%/api-keys;

    octopus_ratelimit_redis %%REDIS%% timeout=500ms connect_timeout=500ms;
    map $octopus_role $admin_key { admin $octopus_user; default ""; }
    octopus_ratelimit_zone admin key=$admin_key rate=4r/m;
    octopus_ratelimit_zone all key=$octopus_user rate=1000r/m;
    octopus_ratelimit_zone login key=$binary_remote_addr rate=1000r/m;

    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=50 interval=50ms timeout=2s backoff=200ms;
    octopus_audit_spool %%PREFIX%%/spool max_size=10m;
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key checkpoint=1s;
    octopus_audit on;

    client_header_timeout 1s;
    client_body_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        octopus_ratelimit all;

        location / {
            octopus_auth jwt;
            octopus_auth_require read;
            proxy_pass http://%%BACKEND%%;
        }

        # caseless, any slashes, ";" parameters and trailing dots
        location ~* "^/+api/+admin([/;.]|$)" {
            octopus_auth jwt;
            octopus_auth_require system_admin;
            octopus_ratelimit all;
            octopus_ratelimit admin;
            proxy_pass http://%%BACKEND%%;
        }

        location /svc/ {
            octopus_auth api_key;
            octopus_auth_require read;
            proxy_pass http://%%BACKEND%%;
        }

        location = /login {
            octopus_auth off;
            octopus_ratelimit login;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=3
                                      within=1m for=1h status=401;
            proxy_set_header X-Login $octopus_login_user;
            proxy_pass http://%%BACKEND%%;
        }
    }

    # a server that lets huge requests reach the modules
    server {
        listen 127.0.0.1:%%PORT_huge%%;
        large_client_header_buffers 4 2m;

        location / {
            octopus_auth jwt;
            octopus_auth_require read;
            octopus_ratelimit all;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;

my $user = mint('mallory', 'user');
my $admin = mint('root', 'admin');
my $sent = 0;          # requests nginx reads a request line of

sub req {
    my (%a) = @_;
    $sent++;
    return $t->http(%a);
}

sub get {
    my ($uri, @h) = @_;
    return req(uri => $uri, headers => \@h);
}

# sanity

is(get('/api/x', Authorization => "Bearer $user")->{status}, 200,
   'a user reads /api/x');
is(get('/api/admin/x', Authorization => "Bearer $user")->{status}, 403,
   'a user is refused /api/admin/x');

# path tricks: never the upstream for a user, one limit for the admin

my @tricks = ('/api/admin/../admin/x', '/api/x/../admin/x',
              '/api/%2e%2e/api/admin/x', '/api/x/%2E%2E/admin/x',
              '//api//admin/x', '/api%2Fadmin/x', '/api/admin%2Fx',
              '/API/Admin/x', '/Api/ADMIN', '/api/admin;jsessionid=1/x',
              '/api/admin;/x', '/api/admin./x', '/api/admin%2e/x',
              '/api/./admin/x', '/api/admin/x?a=1', '/%61pi/admin/x',
              '/api/admin%00/x');

for my $p (@tricks) {
    my $r = get($p, Authorization => "Bearer $user");
    ok($r->{status} == 403 || $r->{status} == 400,
       "user: $p refused ($r->{status})")
        or diag $r->{body};
    ok(!defined $r->{json}{uri}, "... $p never reached the upstream");
}

my @codes;
for my $p ('/api/admin/x', '/api//admin/x', '/api/admin/../admin/x',
           '/API/ADMIN/x', '/api%2Fadmin/x', '/api/admin;x/x',
           '/api/admin./x')
{
    push @codes, get($p, Authorization => "Bearer $admin")->{status};
}
is_deeply(\@codes, [200, 200, 200, 200, 429, 429, 429],
          'admin: one limit of 4/min across the spellings of the path');

# duplicated credentials

my $r = req(raw => "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            . "Authorization: Bearer $user\r\n"
            . "Authorization: Bearer $admin\r\n\r\n");
is($r->{status}, 400, 'two Authorization headers: 400');

for my $pair (['svc-key-0001', 'ops-key-0001'], ['ops-key-0001', 'nope'],
              ['nope', 'ops-key-0001'])
{
    $r = req(raw => "GET /svc/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
             . "X-API-Key: $pair->[0]\r\nX-API-Key: $pair->[1]\r\n\r\n");
    is($r->{status}, 401,
       "two X-API-Key headers ($pair->[0], $pair->[1]): 401");
    ok(!defined $r->{json}{uri}, '... not passed upstream');
}

# CR, LF and NUL in header values

$r = req(raw => "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
         . "Authorization: Bearer $user\0x\r\n\r\n");
is($r->{status}, 400, 'NUL in Authorization: 400');

$r = req(raw => "GET /svc/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
         . "X-API-Key: svc-key-0001\rX-Octopus-User: root\r\n\r\n");
is($r->{status}, 400, 'bare CR in X-API-Key: 400');

$r = req(raw => "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
         . "Authorization: Bearer $user\r\n"
         . "X-Octopus-User: root\nX-Octopus-Role: admin\r\n\r\n");
is($r->{status}, 200, 'LF-separated forged identity headers: served');
is($r->{json}{headers}{'x-octopus-user'}, 'mallory',
   '... the upstream sees the verified user only');
is($r->{json}{headers}{'x-octopus-role'}, 'user', '... and the real role');

$r = get('/api/x', Authorization => "Bearer $user",
         'User-Agent' => "ua\x1b[31m\"quoted\"\\ \x7f\xff\xfe end");
is($r->{status}, 200, 'control characters and invalid UTF-8 in User-Agent');

# CR/LF smuggled in a login name (JSON escapes, form percent-encoding)

for my $b (['application/json', '{"username":"vic\\r\\nX-Injected: 1"}'],
           ['application/x-www-form-urlencoded',
            'username=vic%0d%0aX-Injected:%201&password=x'])
{
    $r = req(method => 'POST', uri => '/login',
             headers => ['Content-Type' => $b->[0]], body => $b->[1]);
    is($r->{status}, 200, "login name with CR/LF ($b->[0]): served");
    ok(!exists $r->{json}{headers}{'x-injected'},
       '... no header injected upstream');
    # the canonical (case-folded) name, then the control characters escaped
    is($r->{json}{headers}{'x-login'}, 'vic\x0d\x0ax-injected: 1',
       '... $octopus_login_user with the control characters escaped');
}

# sizes

$r = get('/api/x', Authorization => "Bearer $user", 'X-Big' => 'a' x 65536);
ok($r->{status} == 400 || $r->{status} == 494,
   "64 KB header: refused by nginx ($r->{status})");

my $t0 = time;
$r = req(uri => '/api/x', port => $t->port('huge'),
         headers => [Authorization => 'Bearer ' . ('A' x (1 << 20))]);
is($r->{status}, 401, '1 MB token: 401');
like($r->{headers}{'www-authenticate'} // '', qr/invalid_token/,
     '... invalid_token');
ok(time - $t0 < 3, '... quickly');

$r = req(uri => '/api/x', port => $t->port('huge'),
         headers => [Authorization => "Bearer $user",
                     'X-Big' => 'b' x 65000]);
is($r->{status}, 200, '64 KB header where nginx allows it: served');

my $q = join '&', map { $_ % 100 ? 'a=1' : "password$_=hunter$_" }
                      1 .. 10000;
$r = req(uri => "/api/x?$q", port => $t->port('huge'),
         headers => [Authorization => "Bearer $user"]);
is($r->{status}, 200, '10,000 query parameters: served');
$r = get("/api/x?$q", Authorization => "Bearer $user");
ok($r->{status} == 414 || $r->{status} == 400,
   "... refused where the request line is too long ($r->{status})");

# slowloris: headers and login bodies trickling in

my $redis_clients = sub {
    my $list = $t->redis_cmd('CLIENT', 'LIST');
    return scalar grep { !/cmd=client/ } split /\n/, $list;
};
my $pg_conns = sub {
    return $t->psql("SELECT count(*) FROM pg_stat_activity "
                    . "WHERE usename = 'octopus_app'");
};

for (1 .. 4) {                                  # both workers connected
    req(method => 'POST', uri => '/login',
        headers => ['Content-Type' => 'application/json'],
        body => '{"username":"warm","password":"p"}');
}
sleep 0.3;
my ($redis0, $pg0) = ($redis_clients->(), $pg_conns->());

my @slow;
for my $i (1 .. 30) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('http'))
        or die "connect: $!";
    $s->autoflush(1);
    if ($i % 2) {
        print $s "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bear";
    } else {
        my $body = '{"username":"victim","password":"' . ('x' x 100) . '"}';
        print $s "POST /login HTTP/1.1\r\nHost: a\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n"
            . substr($body, 0, 20);
    }
    push @slow, $s;
}
$sent += 30;

sleep 0.3;
$t0 = time;
$r = get('/api/x', Authorization => "Bearer $user");
is($r->{status}, 200, 'served while 30 slow clients hang');
ok(time - $t0 < 1, '... without waiting for them');
ok($redis_clients->() <= $redis0, 'slow clients hold no Redis connection')
    or diag "redis clients: $redis0 -> " . $redis_clients->();
ok($pg_conns->() <= $pg0 && $pg0 <= 2,
   'slow clients hold no PostgreSQL connection (one per worker at most)')
    or diag "pg connections: $pg0 -> " . $pg_conns->();

my $closed = 0;
my $deadline = time + 4;        # client_header_timeout, client_body_timeout
for my $s (@slow) {
    my $buf = '';
    my $left = $deadline - time;
    if ($left > 0 && IO::Select->new($s)->can_read($left)) {
        sysread($s, $buf, 4096);
        $closed++;
    }
    close $s;
}
is($closed, 30, 'every slow client was timed out');

# every request has exactly one intact audit record

my $want = $sent;
my $rows = $t->wait_for(sub {
    my $n = $t->psql('SELECT count(*) FROM audit.api_calls');
    return $n >= $want ? $n : 0;
}, 15);
ok($rows, "audit rows for the $want requests");
is($t->psql('SELECT count(*) FROM audit.api_calls'), $want,
   '... exactly one each');
is($t->psql('SELECT count(DISTINCT request_id) FROM audit.api_calls'), $want,
   '... distinct requests');

my @lines = grep { !/"checkpoint"/ } split /\n/, $t->read_file('audit.jsonl');
my @recs = map { eval { decode_json($_) } // { bad => $_ } } @lines;
is(scalar(grep { $_->{bad} } @recs), 0, 'every audit file line is JSON');
is(scalar(grep { defined $_->{request_id} } @recs), $want,
   'one file record per request');

my ($ua) = grep { ($_->{user_agent} // '') =~ /quoted/ } @recs;
is($ua && $ua->{user_agent}, "ua\x1b[31m\"quoted\"\\ \x7f\\xff\\xfe end",
   'User-Agent recorded, invalid bytes as \xHH');

# refused while nginx parsed the URI: the record keeps the path as sent
my ($nul) = grep { ($_->{path} // '') eq '/api/admin\\x00/x' } @recs;
ok($nul, 'the %00 request recorded with its path, the NUL as \x00');
is($nul && $nul->{status}, 400, '... and its 400');
# (but the 414: its request line was never read whole, there is no path)
is(scalar(grep { ($_->{path} // '') eq '' && $_->{status} != 414 } @recs),
   0, 'no other record without a path')
    or diag explain [map { "$_->{status} $_->{method}" }
                     grep { ($_->{path} // '') eq '' } @recs];

my ($huge) = grep { length($_->{query} // '') > 39000 } @recs;
ok($huge, '10,000 parameters recorded');
unlike($huge->{query} // '', qr/hunter/, '... with the passwords redacted');
like($t->psql("SELECT count(*) FROM audit.api_calls WHERE status = 400"),
     qr/^[1-9]/, 'refused requests are audited');
is($t->psql("SELECT count(*) FROM audit.api_calls WHERE status = 429"), 3,
   'limited requests are audited');

$t->allow_log(qr/client sent|client timed out|too large|too long/);
$t->done;
