#!/usr/bin/perl

# ngx_octopus_auth_module, the JWT verification cache shared by the
# workers (octopus_auth_jwt_cache, shared memory): a token verified by one
# worker is a hit in the other (octopus_auth_metrics counts one miss), a
# cached token is refused once it expires, a reload with the same keys
# keeps the entries and a reload with another key refuses the old tokens,
# a full cache evicts the least recently used and keeps answering, a token
# one byte away from a cached one is not a hit.  Tokens are minted with
# PyJWT (t/lib/mint_jwt.py).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;

my $t = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
my $d = $t->{dir};

sub sh {
    system(@_) == 0 or die "@_ failed";
}

sub mint {
    my @specs = @_;
    open(my $fh, '-|', '/usr/bin/python3', 't/lib/mint_jwt.py',
         encode_json(\@specs)) or die "mint: $!";
    my @tokens = <$fh>;
    close $fh or die "mint_jwt.py failed";
    chomp @tokens;
    die "mint: expected " . @specs . " tokens" unless @tokens == @specs;
    return wantarray ? @tokens : $tokens[0];
}

my $hs = $t->write_file('keys/hs.key', Octopus::Test::random_secret() . "\n");
sh("openssl genrsa -out $d/keys/rsa.pem 2048 2>/dev/null");
sh("openssl rsa -in $d/keys/rsa.pem -pubout -out $d/keys/rsa.pub "
   . "2>/dev/null");

# two workers, each connection to either (reuseport: the kernel spreads
# connections over the workers' sockets); the backend sees which one
# served ($pid); the smallest cache, so that filling it is quick

my $conf = <<'EOF';
worker_processes 2;
events { }
http {
    octopus_auth_key hs256 kid=hs file=%%PREFIX%%/keys/hs.key;
    octopus_auth_key rs256 kid=rs file=%%PREFIX%%/keys/rsa.pub;
    octopus_auth_jwt_cache 64k;

    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;

        location / {
            octopus_auth jwt;
            proxy_set_header X-Worker $pid;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics {
            octopus_auth_metrics;
        }
    }
}
EOF

$t->nginx_conf($conf);
$t->run;

sub metrics {
    my $r = $t->get('/metrics');
    die "metrics: $r->{status}" unless $r->{status} == 200;
    my %m;
    while ($r->{body} =~ /^octopus_auth_jwt_cache_(\w+) (\d+)$/mg) {
        $m{$1} = $2;
    }
    $m{content_type} = $r->{headers}{'content-type'};
    return \%m;
}

sub bearer {
    my ($tok) = @_;
    return $t->http(uri => '/api/x',
                    headers => [Authorization => "Bearer $tok"]);
}

my $m0 = metrics();
like($m0->{content_type}, qr{^text/plain; version=0\.0\.4},
     'octopus_auth_metrics: Prometheus text');
is($m0->{hits_total}, 0, 'no hit yet');
is($m0->{size_bytes}, 64 * 1024, 'the zone size');

# one worker verifies, the other finds it in the shared cache

my $rs = mint({ alg => 'RS256', key_file => "$d/keys/rsa.pem",
                headers => { kid => 'rs' }, claims => { sub => 'alice' },
                now_offsets => { iat => 0, exp => 600 } });

my $r = bearer($rs);
is($r->{status}, 200, 'RS256 token accepted (a miss, verified and stored)');
my $first = $r->{json}{headers}{'x-worker'};
ok($first, "served by worker $first");

my $other;
$t->wait_for(sub {
    my $r = bearer($rs);
    die "refused: $r->{status}" unless $r->{status} == 200;
    my $w = $r->{json}{headers}{'x-worker'};
    $other = $w if $w ne $first;
    return $other;
}, 10);
ok($other, "the same token served by the other worker ($other)");

my $m1 = metrics();
is($m1->{misses_total}, 1, 'verified once in all: one miss');
cmp_ok($m1->{hits_total}, '>=', 1, 'the other worker had a hit');
is($m1->{stores_total}, 1, 'stored once');
is($m1->{entries}, 1, 'one entry');

# one byte away from the cached token: not a hit, refused

my @p = split /\./, $rs;
my $i = int(length($p[2]) / 2);
my $c = substr($p[2], $i, 1);
substr($p[2], $i, 1) = $c eq 'A' ? 'B' : 'A';
is(bearer(join '.', @p)->{status}, 401, 'one byte changed: refused');
my $m2 = metrics();
is($m2->{misses_total}, $m1->{misses_total} + 1, '... a miss, not a hit');
is($m2->{hits_total}, $m1->{hits_total}, '... no hit counted');
is($m2->{stores_total}, 1, '... not stored');
is(bearer($rs . 'A')->{status}, 401, 'the token with a byte more: refused');
is(bearer(substr($rs, 0, -1))->{status}, 401,
   'the token with a byte less: refused');
is(metrics()->{hits_total}, $m1->{hits_total}, '... neither is a hit');

# expiry is checked at every hit, against the request's time

my $short = mint({ alg => 'HS256', key_file => $hs, headers => { kid => 'hs' },
                   claims => { sub => 'bob' },
                   now_offsets => { iat => 0, exp => 2 } });
is(bearer($short)->{status}, 200, 'short-lived token accepted');
my $m3 = metrics();
is(bearer($short)->{status}, 200, '... again, from the cache');
is(metrics()->{hits_total}, $m3->{hits_total} + 1, '... a hit');
$t->wait_for(sub { bearer($short)->{status} == 401 }, 5);
my $m4 = metrics();
$r = bearer($short);
is($r->{status}, 401, 'refused once expired');
like($r->{body}, qr/token expired/, '... as expired');
cmp_ok($m4->{expired_total}, '>=', 1,
       'the expired entry was a hit and was dropped');
is(metrics()->{misses_total}, $m4->{misses_total} + 1,
   '... so the next request is a miss');

# a reload with the same keys keeps the cache

my $m5 = metrics();
ok($t->reload, 'reload, keys unchanged');
is(bearer($rs)->{status}, 200, 'the cached token after the reload');
my $m6 = metrics();
is($m6->{hits_total}, $m5->{hits_total} + 1, '... a hit (zone kept)');
is($m6->{misses_total}, $m5->{misses_total}, '... no miss');

# a reload with another HS key (the same kid): old HS tokens are refused

my $hs_tok = mint({ alg => 'HS256', key_file => $hs,
                    headers => { kid => 'hs' }, claims => { sub => 'carol' },
                    now_offsets => { iat => 0, exp => 600 } });
is(bearer($hs_tok)->{status}, 200, 'HS256 token accepted');
is(bearer($hs_tok)->{status}, 200, '... and cached');

$t->write_file('keys/hs.key', Octopus::Test::random_secret() . "\n");
ok($t->reload, 'reload with another HS key');

my $m7 = metrics();
$r = bearer($hs_tok);
is($r->{status}, 401, 'the cached token of the old key: refused');
like($r->{body}, qr/invalid signature/, '... its signature checked again');
my $m8 = metrics();
is($m8->{hits_total}, $m7->{hits_total}, '... not a hit (another generation)');
is(bearer($rs)->{status}, 200,
   'the RS256 token (its key unchanged) is accepted');
is(metrics()->{hits_total}, $m8->{hits_total},
   '... but verified again: the key set changed as a whole');

my $hs_new = mint({ alg => 'HS256', key_file => $hs,
                    headers => { kid => 'hs' }, claims => { sub => 'carol' },
                    now_offsets => { iat => 0, exp => 600 } });
is(bearer($hs_new)->{status}, 200, 'a token of the new key: accepted');

# full: the least recently used entries go, every answer stays right

my @many = mint(map { { alg => 'HS256', key_file => $hs,
                        headers => { kid => 'hs' },
                        claims => { sub => "user$_" },
                        now_offsets => { iat => 0, exp => 600 } } } 1 .. 300);
my $bad = 0;
for my $round (1 .. 2) {
    for my $tok (@many) {
        $bad++ unless bearer($tok)->{status} == 200;
    }
}
is($bad, 0, '300 users twice over a 64k cache: every request accepted');
my $m9 = metrics();
cmp_ok($m9->{evictions_total}, '>', 0, 'entries were evicted');
cmp_ok($m9->{entries}, '<', 300, "the cache holds $m9->{entries} of them");
cmp_ok($m9->{entries}, '>', 10, '... a reasonable number');
is($m9->{store_failures_total}, 0, 'never without room after evicting');

my $h0 = $m9->{hits_total};
is(bearer($many[-1])->{status}, 200, 'the most recent token');
is(metrics()->{hits_total}, $h0 + 1, '... is a hit');
my $mi = metrics()->{misses_total};
is(bearer($many[0])->{status}, 200, 'the least recent one');
is(metrics()->{misses_total}, $mi + 1, '... was evicted: a miss');

# off: every token verified, nothing counted
{
    my $t2 = Octopus::Test->new(modules => [qw(ngx_octopus_auth_module)]);
    (my $c2 = $conf) =~ s/(octopus_auth_jwt_cache) 64k;/$1 off;/;
    $c2 =~ s/%%PREFIX%%\/keys/$d\/keys/g;
    $t2->nginx_conf($c2);
    $t2->run;
    is($t2->http(uri => '/api/x', headers => [Authorization => "Bearer $rs"])
           ->{status}, 200, 'cache off: accepted') for 1 .. 2;
    my $r = $t2->get('/metrics');
    like($r->{body}, qr/^octopus_auth_jwt_cache_size_bytes 0$/m,
         'cache off: size 0');
    like($r->{body}, qr/^octopus_auth_jwt_cache_hits_total 0$/m,
         'cache off: no hit');
    like($r->{body}, qr/^octopus_auth_jwt_cache_misses_total 0$/m,
         'cache off: no miss either');
    $t2->stop;
    $t2->check_error_log;
}

$t->done;
