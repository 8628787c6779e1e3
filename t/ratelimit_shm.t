#!/usr/bin/perl

# ngx_octopus_ratelimit_module in shared-memory mode (no Redis): exact
# sliding-window counts and headers, GCRA burst, dry run, empty key, bans,
# lockout on a JSON / form login field, variables, status.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $t = Octopus::Test->new;

$t->nginx_conf(<<'EOF');
http {
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;

    map $http_x_key $rl_key { default $http_x_key; }

    octopus_ratelimit_zone sw    key=$rl_key rate=10r/m size=1m;
    octopus_ratelimit_zone gcra  key=$rl_key rate=1r/s burst=3 algorithm=gcra;
    octopus_ratelimit_zone tight key=$rl_key rate=3r/m;
    octopus_ratelimit_zone ban   key=$rl_key rate=2r/m;
    octopus_ratelimit_ban zone=ban after=2 within=1m for=1h;
    octopus_ratelimit_zone ip    key=$binary_remote_addr rate=100r/m;
    octopus_ratelimit_zone once  key=$rl_key rate=3r/m;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        add_header X-RL-Result "$octopus_ratelimit_result" always;
        add_header X-RL-Zone "$octopus_ratelimit_zone" always;
        add_header X-RL-Remaining "$octopus_ratelimit_remaining" always;
        add_header X-Login-User "$octopus_login_user" always;

        location /sw/ {
            octopus_ratelimit sw;
            proxy_pass http://%%BACKEND%%;
        }

        location /gcra/ {
            octopus_ratelimit gcra;
            proxy_pass http://%%BACKEND%%;
        }

        location /two/ {
            octopus_ratelimit sw;
            octopus_ratelimit tight;
            octopus_ratelimit_status 503;
            proxy_pass http://%%BACKEND%%;
        }

        location /dry/ {
            octopus_ratelimit tight dry_run;
            proxy_pass http://%%BACKEND%%;
        }

        location /ban/ {
            octopus_ratelimit ban;
            proxy_pass http://%%BACKEND%%;
        }

        location /a/ {
            octopus_ratelimit once;
            proxy_intercept_errors on;
            error_page 404 = /b/x;
            proxy_pass http://%%BACKEND%%;
        }

        location /b/ {
            octopus_ratelimit once;
            proxy_pass http://%%BACKEND%%;
        }

        location /c/ {
            octopus_ratelimit once;
            error_page 429 = @limited;
            proxy_pass http://%%BACKEND%%;
        }

        location @limited {
            octopus_ratelimit once;
            proxy_pass http://%%BACKEND%%;
        }

        location /free/ {
            proxy_pass http://%%BACKEND%%;
        }

        location = /login {
            octopus_ratelimit ip;
            octopus_ratelimit_login_field username;
            octopus_ratelimit_lockout key=$octopus_login_user failures=5
                                      within=1m for=1h status=401,403;
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF

$t->run;

# sliding window, first window exact: 12 quick requests, 10 pass, 2 rejected

my (@pass, @rej);
for my $i (1 .. 12) {
    my $r = $t->get('/sw/x', 'X-Key' => 'k1');
    if ($r->{status} == 200) { push @pass, $r } else { push @rej, $r }
}
is(scalar @pass, 10, 'sliding window: 10 of 12 pass');
is(scalar @rej, 2, 'sliding window: 2 of 12 rejected');
is($rej[0]{status}, 429, 'rejected with 429');
is_deeply([map { $_->{headers}{'ratelimit-remaining'} } @pass],
          [9, 8, 7, 6, 5, 4, 3, 2, 1, 0], 'RateLimit-Remaining counts down');
is($pass[0]{headers}{'ratelimit-limit'}, 10, 'RateLimit-Limit');
my $reset = $pass[0]{headers}{'ratelimit-reset'};
ok($reset >= 1 && $reset <= 60, "RateLimit-Reset in 1..60 ($reset)");
is($pass[0]{headers}{'ratelimit-policy'}, '"sw";q=10;w=60',
   'RateLimit-Policy (draft)');
like($pass[3]{headers}{'ratelimit'}, qr/^"sw";r=6;t=\d+$/,
     'RateLimit (draft)');
is($pass[0]{headers}{'x-rl-result'}, 'pass', '$octopus_ratelimit_result pass');
is($pass[0]{headers}{'x-rl-zone'}, 'sw', '$octopus_ratelimit_zone');
is($pass[4]{headers}{'x-rl-remaining'}, 5, '$octopus_ratelimit_remaining');
my $ra = $rej[0]{headers}{'retry-after'};
ok(defined $ra && $ra >= 1 && $ra <= 120, "Retry-After on 429 ($ra)");
is($rej[0]{headers}{'ratelimit-remaining'}, 0, 'rejected: Remaining 0');
is($rej[0]{headers}{'x-rl-result'}, 'limited',
   '$octopus_ratelimit_result limited');
ok(!defined $pass[0]{headers}{'retry-after'}, 'no Retry-After on a pass');
is($t->get('/sw/x', 'X-Key' => 'k2')->{status}, 200,
   'another key has its own window');

# the zone survives a reload: the spent key stays spent

ok($t->reload, 'reload');
is($t->get('/sw/x', 'X-Key' => 'k1')->{status}, 429,
   'after a reload the shared memory keeps its counters');
is($t->get('/sw/x', 'X-Key' => 'k2')->{headers}{'ratelimit-remaining'}, 8,
   'after a reload counting goes on');

# empty key: not limited, no headers

my $empty = 0;
for (1 .. 12) {
    $empty++ if $t->get('/sw/x')->{status} == 200;
}
is($empty, 12, 'empty key is not limited');
my $ek = $t->get('/sw/x');
ok(!defined $ek->{headers}{'ratelimit-limit'},
   'empty key: no RateLimit headers');
is($ek->{headers}{'x-rl-result'}, undef, 'empty key: result empty');
is($t->get('/free/x')->{headers}{'x-rl-result'}, undef,
   'location without limits: result variable empty');

# GCRA: 1r/s burst=3 gives 4 back to back, then one a second

my @g = map { $t->get('/gcra/x', 'X-Key' => 'g1')->{status} } 1 .. 6;
is_deeply(\@g, [200, 200, 200, 200, 429, 429], 'GCRA: burst + 1 pass');
my $g = $t->get('/gcra/x', 'X-Key' => 'g1');
is($g->{headers}{'retry-after'}, 1, 'GCRA: Retry-After 1s');
is($g->{headers}{'ratelimit-policy'}, '"gcra";q=4;w=4', 'GCRA: policy');
select(undef, undef, undef, 1.1);
is($t->get('/gcra/x', 'X-Key' => 'g1')->{status}, 200,
   'GCRA: one more after the emission interval');
is($t->get('/gcra/x', 'X-Key' => 'g1')->{status}, 429,
   'GCRA: and only one');

# two limits: all checked, tightest one reported, octopus_ratelimit_status

my @two = map { $t->get('/two/x', 'X-Key' => 't1') } 1 .. 4;
is_deeply([map { $_->{status} } @two], [200, 200, 200, 503],
          'two limits: the tighter rejects, with octopus_ratelimit_status');
is($two[0]{headers}{'x-rl-zone'}, 'tight', 'tightest zone reported');
is($two[0]{headers}{'ratelimit-remaining'}, 2, 'tightest remaining');
is($two[0]{headers}{'ratelimit-policy'}, '"sw";q=10;w=60, "tight";q=3;w=60',
   'policy lists every limit');
is($two[3]{headers}{'x-rl-result'}, 'limited', 'result limited');

# dry run: counts and reports, never rejects

my @d = map { $t->get('/dry/x', 'X-Key' => 'd1') } 1 .. 5;
is_deeply([map { $_->{status} } @d], [200, 200, 200, 200, 200],
          'dry run never rejects');
is_deeply([map { $_->{headers}{'x-rl-result'} } @d],
          [qw(pass pass pass dry_run dry_run)], 'dry run reported');
is($d[4]{headers}{'ratelimit-remaining'}, 0, 'dry run: headers still sent');
ok(!defined $d[4]{headers}{'retry-after'}, 'dry run: no Retry-After');

# bans in shared memory: rejected twice within 1m -> banned 1h

my @b = map { $t->get('/ban/x', 'X-Key' => 'b1') } 1 .. 5;
is_deeply([map { $_->{status} } @b], [200, 200, 429, 403, 403],
          'ban after 2 rejections');
is($b[4]{headers}{'x-rl-result'}, 'banned', 'result banned');
my $bra = $b[4]{headers}{'retry-after'} // 0;
ok($bra > 3500 && $bra <= 3600, "banned: Retry-After is the ban ($bra)");
is($t->get('/ban/x', 'X-Key' => 'b2')->{status}, 200,
   'other keys are not banned');

# internal redirects: counted once, decision and headers kept

my $ir = $t->get('/a/x', 'X-Key' => 'ir', 'X-Test-Status' => 404);
is($ir->{status}, 404, 'redirected by error_page');
is($ir->{json}{uri}, '/b/x', 'the redirect reached the upstream');
is($ir->{headers}{'ratelimit-remaining'}, 2,
   'a redirected request is counted once');
is($t->get('/b/x', 'X-Key' => 'ir')->{headers}{'ratelimit-remaining'}, 1,
   'the next one counts');
$t->get('/b/x', 'X-Key' => 'ir');
$ir = $t->get('/c/x', 'X-Key' => 'ir');
is($ir->{status}, 200, 'error_page 429 to a named location is served');
is($ir->{headers}{'x-rl-result'}, 'limited', 'which sees result limited');
ok($ir->{headers}{'retry-after'}, 'and Retry-After');

# lockout: 5 upstream 401/403 for one JSON username, from different IPs

sub login {
    my ($user, $ip, $status, %o) = @_;
    my $body = $o{form} ? "username=$user&password=x"
                        : qq({"password":"x","username":"$user"});
    return $t->http(method => 'POST', uri => '/login', body => $body,
                    headers => ['X-Forwarded-For' => $ip,
                                'X-Test-Status' => $status,
                                'Content-Type' => $o{form}
                                    ? 'application/x-www-form-urlencoded'
                                    : 'application/json']);
}

my $l = login('alice', '10.0.0.1', 200);
is($l->{status}, 200, 'login passes');
is($l->{json}{body}, '{"password":"x","username":"alice"}',
   'the upstream gets the whole body');
is($l->{headers}{'x-login-user'}, 'alice', '$octopus_login_user from JSON');

my @ls = map { login('alice', "10.0.0.$_", $_ % 2 ? 401 : 403)->{status} }
         1 .. 5;
is_deeply(\@ls, [401, 403, 401, 403, 401],
          'five failures reach the upstream');

$l = login('alice', '10.0.0.9', 200);
is($l->{status}, 429, 'locked after 5 failures, from another IP');
is($l->{headers}{'x-rl-result'}, 'locked', 'result locked');
ok(($l->{headers}{'retry-after'} // 0) > 3500, 'locked: Retry-After');
ok(!defined $l->{json}, 'locked: the upstream is not reached');

$l = login('bob', '10.0.0.1', 200, form => 1);
is($l->{status}, 200, 'another account is not locked');
is($l->{headers}{'x-login-user'}, 'bob', '$octopus_login_user from a form');

$l = login('alice', '10.0.0.1', 200, form => 1);
is($l->{status}, 429, 'the lock follows the account, whatever the encoding');

$t->done;
