#!/usr/bin/perl

# ngx_octopus_ratelimit_module: bad configuration fails `nginx -t` with the
# file, the line and the offending value; a good one passes.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $t = Octopus::Test->new;

sub conf {
    my ($http, $loc) = @_;
    $loc //= 'octopus_ratelimit ip;';
    return <<"EOF";
http {
    $http
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            $loc
            proxy_pass http://127.0.0.1:1;
        }
    }
}
EOF
}

my $zone = 'octopus_ratelimit_zone ip key=$binary_remote_addr rate=10r/s;';

my ($ok, $out) = $t->nginx_test(conf(
    'octopus_ratelimit_redis 127.0.0.1:6379 db=1 timeout=50ms '
    . 'connect_timeout=100ms prefix=x:;'
    . 'octopus_ratelimit_redis_failure closed;'
    . 'octopus_ratelimit_zone ip key=$binary_remote_addr rate=100r/m;'
    . 'octopus_ratelimit_zone u key=$http_x_user rate=60r/m burst=10 '
    . 'algorithm=gcra size=1m;'
    . 'octopus_ratelimit_ban zone=ip after=5 within=1m for=15m;',
    'octopus_ratelimit ip; octopus_ratelimit u dry_run;'
    . 'octopus_ratelimit_status 503;'
    . 'octopus_ratelimit_login_field username;'
    . 'octopus_ratelimit_lockout key=$octopus_login_user failures=5 '
    . 'within=15m for=15m status=401,403;'));
ok($ok, 'the full example configuration passes nginx -t') or diag($out);

($ok, $out) = $t->nginx_test(conf(
    'octopus_ratelimit_zone lockout key=$binary_remote_addr rate=1r/s;',
    'octopus_ratelimit lockout; octopus_ratelimit_lockout key=$remote_addr '
    . 'failures=3 within=1m for=1m status=401;'));
ok($ok, 'a zone may be called "lockout"') or diag($out);

my @bad = (
    [ 'rate=0',
      conf('octopus_ratelimit_zone ip key=$binary_remote_addr rate=0r/s;'),
      qr/invalid octopus_ratelimit_zone parameter "rate=0r\/s"/ ],
    [ 'rate unit',
      conf('octopus_ratelimit_zone ip key=$binary_remote_addr rate=5r/d;'),
      qr/"rate=5r\/d"/ ],
    [ 'no rate',
      conf('octopus_ratelimit_zone ip key=$binary_remote_addr;'),
      qr/needs rate=/ ],
    [ 'no key',
      conf('octopus_ratelimit_zone ip rate=1r/s;'), qr/needs key=/ ],
    [ 'unknown zone',
      conf($zone, 'octopus_ratelimit nosuch;'),
      qr/unknown octopus_ratelimit_zone "nosuch"/ ],
    [ 'unknown algorithm',
      conf('octopus_ratelimit_zone ip key=$binary_remote_addr rate=1r/s '
           . 'algorithm=leaky;'),
      qr/"algorithm=leaky"/ ],
    [ 'burst without gcra',
      conf('octopus_ratelimit_zone ip key=$binary_remote_addr rate=1r/s '
           . 'burst=5;'),
      qr/burst= needs algorithm=gcra/ ],
    [ 'negative burst',
      conf('octopus_ratelimit_zone ip key=$binary_remote_addr rate=1r/s '
           . 'burst=-1 algorithm=gcra;'),
      qr/"burst=-1"/ ],
    [ 'duplicate zone',
      conf($zone . $zone), qr/duplicate octopus_ratelimit_zone "ip"/ ],
    [ 'negative ban time',
      conf($zone . 'octopus_ratelimit_ban zone=ip after=5 within=-1m '
           . 'for=15m;'),
      qr/invalid octopus_ratelimit_ban parameter "within=-1m"/ ],
    [ 'ban zero',
      conf($zone . 'octopus_ratelimit_ban zone=ip after=0 within=1m '
           . 'for=15m;'),
      qr/"after=0"/ ],
    [ 'ban after too large',
      conf($zone . 'octopus_ratelimit_ban zone=ip after=1000001 within=1m '
           . 'for=15m;'),
      qr/"after=1000001"/ ],
    [ 'lockout failures too large',
      conf($zone, 'octopus_ratelimit_lockout key=$remote_addr '
           . 'failures=1000001 within=1m for=15m status=401;'),
      qr/"failures=1000001"/ ],
    [ 'ban unknown zone',
      conf($zone . 'octopus_ratelimit_ban zone=nope after=5 within=1m '
           . 'for=15m;'),
      qr/unknown octopus_ratelimit_zone "nope"/ ],
    [ 'negative lockout time',
      conf($zone, 'octopus_ratelimit_lockout key=$remote_addr failures=5 '
           . 'within=1m for=-15m status=401;'),
      qr/invalid octopus_ratelimit_lockout parameter "for=-15m"/ ],
    [ 'lockout status',
      conf($zone, 'octopus_ratelimit_lockout key=$remote_addr failures=5 '
           . 'within=1m for=15m status=abc;'),
      qr/"status=abc"/ ],
    [ 'lockout incomplete',
      conf($zone, 'octopus_ratelimit_lockout key=$remote_addr failures=5;'),
      qr/needs key=, failures=, within=, for= and status=/ ],
    [ 'redis timeout',
      conf('octopus_ratelimit_redis 127.0.0.1 timeout=-5ms;' . $zone),
      qr/invalid redis parameter "timeout=-5ms"/ ],
    [ 'redis unknown parameter',
      conf('octopus_ratelimit_redis 127.0.0.1 tls=on;' . $zone),
      qr/invalid octopus_ratelimit_redis parameter "tls=on"/ ],
    [ 'redis missing password file',
      conf('octopus_ratelimit_redis 127.0.0.1 password_file=/nonexistent;'
           . $zone),
      qr/"\/nonexistent" failed/ ],
    [ 'redis failure policy',
      conf('octopus_ratelimit_redis_failure sometimes;' . $zone),
      qr/invalid value "sometimes"/ ],
    [ 'status range',
      conf($zone, 'octopus_ratelimit ip; octopus_ratelimit_status 200;'),
      qr/invalid octopus_ratelimit_status "200"/ ],
    [ 'dry_run typo',
      conf($zone, 'octopus_ratelimit ip dryrun;'),
      qr/invalid octopus_ratelimit parameter "dryrun"/ ],
);

# a zone may be used before it is declared (as limit_req allows): the
# directives that name it (octopus_ratelimit, octopus_ratelimit_ban) come
# first, octopus_ratelimit_zone after the server

my $late = <<'EOF';
http {
    octopus_ratelimit_ban zone=late after=5 within=1m for=15m;
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            octopus_ratelimit late;
            proxy_pass http://127.0.0.1:1;
        }
    }
    octopus_ratelimit_zone late key=$binary_remote_addr rate=10r/s;
}
EOF

($ok, $out) = $t->nginx_test($late);
ok($ok, 'a zone referenced before its declaration passes nginx -t')
    or diag($out);

# a zone never declared: nginx -t names it, with the file and the line of
# its first reference (not the end of the http block)

for my $case (
    [ 'octopus_ratelimit', 'octopus_ratelimit never;',
      'octopus_ratelimit_zone ip key=$binary_remote_addr rate=1r/s;' ],
    [ 'octopus_ratelimit_ban', 'octopus_ratelimit ip;',
      'octopus_ratelimit_ban zone=never after=5 within=1m for=15m; '
      . 'octopus_ratelimit_zone ip key=$binary_remote_addr rate=1r/s;' ])
{
    my ($what, $loc, $http) = @$case;

    ($ok, $out) = $t->nginx_test(<<"EOF");
http {
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            $loc
            proxy_pass http://127.0.0.1:1;
        }
    }
    $http
}
EOF

    my @lines = split /\n/, $t->read_file('nginx-test.conf');
    my ($ref) = grep { $lines[$_] =~ /\bnever\b/ } 0 .. $#lines;

    ok(!$ok, "$what: a zone never declared fails nginx -t");
    like($out, qr/unknown octopus_ratelimit_zone "never" in \S*nginx-test\.conf:\d+/,
         "$what: the error names the zone, the file and a line");
    my ($line) = $out =~ /unknown octopus_ratelimit_zone .* in \S*nginx-test\.conf:(\d+)/;
    ok(defined $ref, "$what: the reference is in the file");
    is($line, $ref + 1, "$what: the line is the one of the reference");
}

for my $b (@bad) {
    my ($name, $c, $re) = @$b;
    my ($ok, $out) = $t->nginx_test($c);
    ok(!$ok, "$name: nginx -t fails");
    like($out, $re, "$name: says why");
    like($out, qr/nginx-test\.conf:\d+/, "$name: names file and line");
}

$t->done;
