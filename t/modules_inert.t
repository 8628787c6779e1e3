#!/usr/bin/perl

# A module that is loaded but not configured in a location changes nothing
# about that location: the same request through nginx with and without the
# modules loaded gives the same status, the same response headers and the
# same request at the upstream.  Checked for each module alone and for the
# three together.  Also: each module's directives are parsed and validated
# at `nginx -t`.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $conf = <<'EOF';
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
        location /static/ { root %%PREFIX%%/html; }
    }
}
EOF

my @requests = (
    [ uri => '/api/v1/portfolio?x=1',
      headers => ['Authorization' => 'Bearer not.a.token',
                  'X-Octopus-User' => 'spoofed', 'X-API-Key' => 'k'] ],
    [ method => 'POST', uri => '/auth/login',
      headers => ['Content-Type' => 'application/json'],
      body => '{"username":"alice","password":"x"}' ],
    [ method => 'OPTIONS', uri => '/api/',
      headers => ['Origin' => 'https://evil.example',
                  'Access-Control-Request-Method' => 'DELETE'] ],
    [ uri => '/x', headers => ['X-Test-Status' => '401'] ],
    [ uri => '/static/a.txt' ],
);

sub answers {
    my ($t) = @_;
    my @out;
    for my $req (@requests) {
        # the same client burst each time: rate limits would show here
        my @r = map { $t->http(@$req) } 1 .. 3;
        push @out, map { normalize($t, $_) } @r;
    }
    return \@out;
}

sub normalize {
    my ($t, $r) = @_;
    my %h = %{$r->{headers}};
    delete @h{qw(date)};
    my $seen = $r->{json};
    if ($seen) {
        delete $seen->{headers}{host};
        $seen->{header_list} = [grep { lc $_->[0] ne 'host' }
                                @{$seen->{header_list}}];
    }
    return { status => $r->{status}, headers => \%h,
             body => $seen ? undef : $r->{body}, upstream => $seen };
}

my $bare = Octopus::Test->new(modules => []);
utime 1e9, 1e9, $bare->write_file('html/static/a.txt', "static\n");
$bare->nginx_conf($conf);
$bare->run;
my $expected = answers($bare);
is(scalar(grep { $_->{upstream} } @$expected), 12,
   'the bare run reached the upstream');

for my $mods ([qw(ngx_octopus_auth_module)],
              [qw(ngx_octopus_ratelimit_module)],
              [qw(ngx_octopus_audit_module)],
              [qw(ngx_octopus_auth_module ngx_octopus_ratelimit_module
                  ngx_octopus_audit_module)])
{
    my $t = Octopus::Test->new(modules => $mods);
    utime 1e9, 1e9, $t->write_file('html/static/a.txt', "static\n");
    $t->nginx_conf($conf);
    $t->run;
    like($t->read_file('nginx.conf'), qr/load_module .*$mods->[-1]/,
         "@$mods loaded");
    is_deeply(answers($t), $expected, "@$mods loaded: nothing changes");
    $t->stop;
    $t->check_error_log;
}

# directives are parsed and validated

my @bad = (
    [ 'octopus_auth bogus;', qr/invalid value "bogus"/ ],
    [ 'octopus_auth;', qr/invalid number of arguments/ ],
    [ 'octopus_ratelimit_zone ip key=$binary_remote_addr rate=0r/m;',
      qr/invalid .*"rate=0r\/m"/ ],
    [ 'octopus_ratelimit_zone ip key=$binary_remote_addr rate=10r/x;',
      qr/"rate=10r\/x"/ ],
    [ 'octopus_ratelimit_zone ip key=$binary_remote_addr rate=10r/m '
      . 'algorithm=magic;', qr/"algorithm=magic"/ ],
    [ 'server { location / { octopus_ratelimit nozone; } }',
      qr/"nozone"/ ],
    [ 'octopus_audit maybe;', qr/"maybe"/ ],
);

for my $case (@bad) {
    my ($directive, $re) = @$case;
    my ($ok, $out) = Octopus::Test->new->nginx_test(<<"EOF");
events { }
http {
    $directive
}
EOF
    ok(!$ok, "nginx -t refuses: $directive")
        or next;
    like($out, $re, "... and says why");
    like($out, qr/nginx-test\.conf:\d+/, "... naming file and line");
}

my ($ok, $out) = Octopus::Test->new->nginx_test(<<'EOF');
events { }
http {
    octopus_ratelimit_zone ip key=$binary_remote_addr rate=10r/m;
    octopus_audit off;
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / {
            octopus_auth off;
            octopus_ratelimit ip dry_run;
            proxy_pass http://127.0.0.1:1;
        }
    }
}
EOF
ok($ok, 'a valid configuration of all three passes nginx -t') or diag($out);

$bare->done;
