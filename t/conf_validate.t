#!/usr/bin/perl

# `nginx -t` is the validate-only check of conf/nginx.conf: it passes with
# generated keys and certificates, and deliberately broken copies fail with
# the file, the line and what is wrong.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::Stack;

my $t = Octopus::Test->new;
my $s = Octopus::Stack->new($t);
$s->secrets;

# nginx -t reads files and resolves names; it connects to nothing, so no
# Redis or PostgreSQL is started: placeholders get unused ports
my $good = $s->conf_template;
$good =~ s/%%REDIS_PORT%%/$t->port('redis')/ge;
$good =~ s/%%PG_PORT%%/$t->port('pg')/ge;

my ($ok, $out) = $t->nginx_test($good);
ok($ok, 'conf/nginx.conf passes nginx -t with generated secrets')
    or diag($out);
like($out, qr/test is successful/, '... and says so');

# a database host name is resolved by nginx -t too
{
    (my $named = $good) =~ s{host=127\.0\.0\.1 }{host=localhost };
    isnt($named, $good, 'a copy naming the database host');
    my ($ok, $out) = $t->nginx_test($named);
    ok($ok, 'a database host name that resolves passes') or diag($out);
}

# broken copies

my $dir = $s->{secrets};
$t->write_file('short.key', 'only-16-bytes-!!');

my @broken = (
    [ 'a JWT secret shorter than 32 bytes',
      sub { s{\Q$dir\E/jwt-current\.key}{$t->{dir}/short.key} },
      qr/short\.key|32 bytes/ ],
    [ 'wildcard CORS with credentials',
      sub { s{octopus_cors_origins [^;]+;}{octopus_cors_origins *;} },
      qr/"\*".*credentials|credentials.*"\*"|wildcard/i ],
    [ 'an unknown permission in a require',
      sub { s{octopus_auth_require trade;}{octopus_auth_require tarde;} },
      qr/"tarde"/ ],
    [ 'an unknown role in a require',
      sub { s{octopus_auth_require system_admin;}
             {octopus_auth_require role=superuser;} },
      qr/"superuser"/ ],
    [ 'a missing key file',
      sub { s{jwt-previous\.key}{jwt-missing.key} },
      qr/jwt-missing\.key/ ],
    [ 'a rate of zero',
      sub { s{rate=600r/m}{rate=0r/m} },
      qr{"rate=0r/m"} ],
    [ 'a database host that does not resolve (resolved at start, never in '
      . 'a worker)',
      sub { s{host=127\.0\.0\.1 port=\d+}{host=no-such-host.invalid port=5432} },
      qr/host not found in host "no-such-host\.invalid"/ ],
    [ 'an unknown rate limit zone',
      sub { s{octopus_ratelimit user;}{octopus_ratelimit usr;} },
      qr/"usr"/ ],
);

for my $case (@broken) {
    my ($what, $edit, $why) = @$case;
    local $_ = $good;
    $edit->();
    isnt($_, $good, "$what: the copy differs");
    my ($ok, $out) = $t->nginx_test($_);
    ok(!$ok, "$what: nginx -t fails");
    like($out, $why, "$what: says why");
    note($out);
    like($out, qr/nginx-test\.conf:\d+/, "$what: names file and line");
}

$t->done;
