#!/usr/bin/perl

# `make run` itself: started in the background, every curl command it
# prints is run and gives the answer printed beside it, then `make stop`
# stops every process it started.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::Stack;
use POSIX qw(WNOHANG);

my $t = Octopus::Test->new;
my $top = Octopus::Stack->top;

my %env = (OCTOPUS_RUN_DIR      => "$t->{dir}/run",
           OCTOPUS_HTTP_PORT    => $t->port('run_http'),
           OCTOPUS_HTTPS_PORT   => $t->port('run_https'),
           OCTOPUS_BACKEND_PORT => $t->port('run_backend'));

my @make = ('make', '-s', '-C', $top);
if (my $mods = $ENV{OCTOPUS_MODULES}) {
    (my $build = $mods) =~ s{/modules/?$}{};
    push @make, "BUILD=$build";
}
push @make, 'SANITIZE=1' if $ENV{OCTOPUS_SANITIZE};

my $out = "$t->{dir}/make-run.out";
my $pid = fork;
if ($pid == 0) {
    @ENV{keys %env} = values %env;
    open STDOUT, '>', $out;
    open STDERR, '>&', \*STDOUT;
    setpgrp(0, 0);
    exec @make, 'run' or POSIX::_exit(127);
}

my $ready = $t->wait_for(sub {
    die "make run exited early:\n" . ($t->read_file($out) // '')
        if waitpid($pid, WNOHANG) == $pid;
    ($t->read_file($out) // '') =~ /stops everything/;
}, 120);
ok($ready, 'make run brought the stack up') or diag($t->read_file($out));

my $text = $t->read_file($out) // '';
my @cases;
while ($text =~ /^# expect: (\S+) \(([^)]*)\)\n(.+)$/mg) {
    push @cases, [$1, $2, $3];
}
ok(@cases >= 10, 'make run printed the curl commands with answers')
    or diag($text);
like($text, qr/^\s+trader\s+eyJ\S+$/m, 'a token per role is printed');
like($text, qr/^\s+ok_[A-Za-z0-9_-]{43}$/m, 'an API key is printed');

{
    local @ENV{keys %env} = values %env;
    for my $c (@cases) {
        my ($expect, $what, $cmd) = @$c;
        open my $fh, '-|', 'bash', '-c', "$cmd 2>&1" or die;
        local $/;
        my $got = <$fh> // '';
        close $fh;
        like($got, qr/\b\Q$expect\E\b/, "$what: $expect");
    }
}

my $dir = "$env{OCTOPUS_RUN_DIR}";
my @pids = grep { $_ } (_pidfile("$dir/nginx.pid"));
ok(@pids, 'nginx is running');

my $stop = system(@make, 'stop', map { "$_=$env{$_}" } keys %env);
is($stop, 0, 'make stop');
is(waitpid($pid, 0), $pid, 'make run returned');

my @procs = _processes_under($dir);
is(scalar(@procs), 0, 'no process of the stack is left')
    or diag(join "\n", @procs);
ok(!grep({ kill 0, $_ } @pids), 'nginx is gone');

# the stack's own error.log
Octopus::Test->new(dir => $dir)->check_error_log;

$t->done;


sub _pidfile {
    my ($f) = @_;
    open my $fh, '<', $f or return;
    chomp(my $p = <$fh> // '');
    return $p;
}


# every process whose command line names the run directory
sub _processes_under {
    my ($d) = @_;
    my @found;
    for my $cmdline (glob('/proc/[0-9]*/cmdline')) {
        open my $fh, '<', $cmdline or next;
        local $/;
        my $c = <$fh> // '';
        close $fh;
        $c =~ s/\0/ /g;
        push @found, $c if index($c, $d) >= 0;
    }
    return @found;
}
