#!/usr/bin/perl

# The build each module is: VERSION and the git commit, named once in the
# error log when nginx loads the module (the master, not every worker) and
# on every metrics answer as octopus_build_info, for each of the three
# modules.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $top = abs_path(dirname(__FILE__) . '/..');

open my $fh, '<', "$top/VERSION" or die "VERSION: $!";
chomp(my $version = <$fh> // '');
close $fh;
like($version, qr/^[0-9A-Za-z.+~_-]+$/, "VERSION reads $version");

# the commit the build was configured from (make reconfigures when it
# moves); "unknown" outside git
chomp(my $commit = `git -C '$top' rev-parse --short HEAD 2>/dev/null`);
$commit = 'unknown' if $? || $commit eq '';

my %metrics = (
    ngx_octopus_auth_module      => '/auth-metrics',
    ngx_octopus_ratelimit_module => '/rl-metrics',
    ngx_octopus_audit_module     => '/audit-metrics',
);

my $t = Octopus::Test->new(log_level => 'notice');

$t->nginx_conf(<<'EOF');
worker_processes 2;
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

for my $m (sort keys %metrics) {
    my $r = $t->get($metrics{$m});
    is($r->{status}, 200, "$m metrics: 200");

    my $line = "octopus_build_info{module=\"$m\",version=\"$version\","
               . "commit=\"$commit\"} 1";
    my @info = grep { /^octopus_build_info/ } split /\n/, $r->{body};
    is_deeply(\@info, [$line], "$m metrics: its build, once")
        or diag($r->{body});

    my $tail = "# TYPE octopus_build_info gauge\n$line\n";
    is(substr($r->{body}, -length $tail), $tail,
       "$m metrics: the TYPE line, then the sample, at the end");
    like($r->{body}, qr/^# HELP octopus_build_info \S.*\n\Q$tail\E/m,
         "$m metrics: the HELP line before them");

    my $n = () = $r->{body} =~ /^# (?:HELP|TYPE) octopus_build_info /mg;
    is($n, 2, "$m metrics: one HELP and one TYPE line");

    is($r->{headers}{'content-length'}, length $r->{body},
       "$m metrics: Content-Length counts the build_info");

    my $h = $t->http(method => 'HEAD', uri => $metrics{$m});
    is($h->{status}, 200, "$m metrics: HEAD 200");
    is($h->{headers}{'content-length'}, length $r->{body},
       "$m metrics: HEAD has the GET's Content-Length");
    is($h->{body}, '', "$m metrics: HEAD has no body");
}

# the log line: once per module, at NOTICE, when the configuration is
# loaded (before nginx daemonizes), not by the workers

my $log = $t->error_log;
my %workers = map { $_ => 1 } $t->worker_pids;
is(scalar keys %workers, 2, 'two workers');

for my $m (sort keys %metrics) {
    my @l = grep { /\Q$m $version (commit $commit) loaded\E$/ }
            split /\n/, $log;
    is(scalar @l, 1, "$m: the build logged once") or diag($log);
    my ($pid) = ($l[0] // '') =~ /\[notice\] (\d+)#/;
    ok($pid && !$workers{$pid}, "$m: at notice, not by a worker");
}

$t->done;
