#!/usr/bin/perl

# Modules from two builds in one nginx, as after upgrading one module and
# not the others: each module runs its own copy of the common code, so
# each metrics answer names its own build in octopus_build_info, in either
# load order.  (Were the common symbols exported, nginx's RTLD_GLOBAL
# loading would bind every module loaded after the first to the first
# one's copy, and they would all answer with its build.)
#
# The second build is make mixed's: the audit module alone, built with
# OCTOPUS_VERSION=<VERSION>-mixed into another build directory.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $other = $ENV{OCTOPUS_MIXED_MODULES};
plan(skip_all => 'run by make mixed (it needs a second build)')
    unless $other;

my $top = abs_path(dirname(__FILE__) . '/..');
open my $fh, '<', "$top/VERSION" or die "VERSION: $!";
chomp(my $version = <$fh> // '');
close $fh;

my $here = $ENV{OCTOPUS_MODULES} || "$top/build/release/modules";

ok(-f "$other/ngx_octopus_audit_module.so", 'the second build is there');

my %build = (
    ngx_octopus_auth_module      => [$here, $version, '/auth-metrics'],
    ngx_octopus_ratelimit_module => [$here, $version, '/rl-metrics'],
    ngx_octopus_audit_module     => [$other, "$version-mixed",
                                     '/audit-metrics'],
);

for my $order ([qw(ngx_octopus_auth_module ngx_octopus_ratelimit_module
                   ngx_octopus_audit_module)],
               [qw(ngx_octopus_audit_module ngx_octopus_auth_module
                   ngx_octopus_ratelimit_module)])
{
    my $first = $order->[0] =~ s/^ngx_octopus_|_module$//gr;

    my $t = Octopus::Test->new(modules => [], log_level => 'notice');

    my $load = join '', map { "load_module $build{$_}[0]/$_.so;\n" } @$order;

    $t->nginx_conf($load . <<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
        location = /auth-metrics { octopus_auth_metrics; }
        location = /rl-metrics { octopus_ratelimit_metrics; }
        location = /audit-metrics { octopus_metrics; }
    }
}
EOF

    $t->run;

    my $log = $t->error_log;

    for my $m (@$order) {
        my ($dir, $v, $uri) = @{$build{$m}};

        my $r = $t->get($uri);
        is($r->{status}, 200, "$first first: $m metrics: 200");

        my ($info) = $r->{body} =~ /^(octopus_build_info\{[^\n]*)$/m;
        like($info // '',
             qr/^octopus_build_info\{module="\Q$m\E",version="\Q$v\E",
                commit="[^"]+"\}\ 1$/x,
             "$first first: $m answers with its own build, $v")
            or diag($r->{body});

        like($log, qr/\[notice\] \d+#\d+: \Q$m $v\E \(commit [^)]+\) loaded$/m,
             "$first first: $m logged its own build");
    }

    $t->stop;
    $t->check_error_log;
    $t->_cleanup;
}

done_testing();
