#!/usr/bin/perl

# `make run` itself: started in the background, every curl command it
# prints is run and gives the answer printed beside it (curl -L on the
# HTTP port lands on the HTTPS port it runs on), then `make stop` stops
# every process it started.  Then again from a run folder under a folder
# of mode 0700 (a clone under /root): PostgreSQL and nginx's workers must
# still reach what they write (the authenticated API and the audit rows).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::Stack;
use POSIX qw(WNOHANG);

my $t = Octopus::Test->new;
my $top = Octopus::Stack->top;

my @make = ('make', '-s', '-C', $top);
if (my $mods = $ENV{OCTOPUS_MODULES}) {
    (my $build = $mods) =~ s{/modules/?$}{};
    push @make, "BUILD=$build";
}
push @make, 'SANITIZE=1' if $ENV{OCTOPUS_SANITIZE};

# the whole demo, from a run folder anyone can reach
stack('', "$t->{dir}/run");

# from a clone only root can enter (under /root, mode 0700): PostgreSQL
# (user postgres) and nginx's workers (nobody) write elsewhere
SKIP: {
    skip 'a folder of mode 0700 keeps only other users out: run as root', 1
        if $> != 0;
    mkdir "$t->{dir}/private", 0700 or die "mkdir: $!";
    chmod 0700, "$t->{dir}/private";
    ok(!Octopus::Test::searchable_by_all("$t->{dir}/private/run"),
       'a run folder others cannot reach');
    stack('0700: ', "$t->{dir}/private/run");
}


sub stack {
    my ($label, $run) = @_;
    (my $tag = $label) =~ s/\W//g;

    my %env = (OCTOPUS_RUN_DIR      => $run,
               OCTOPUS_HTTP_PORT    => $t->port("${tag}run_http"),
               OCTOPUS_HTTPS_PORT   => $t->port("${tag}run_https"),
               OCTOPUS_BACKEND_PORT => $t->port("${tag}run_backend"));

    my $out = "$t->{dir}/make-run.out";
    unlink $out;
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
    ok($ready, "${label}make run brought the stack up")
        or diag($t->read_file($out));

    my $text = $t->read_file($out) // '';
    my @cases;
    while ($text =~ /^# expect: (\S+) \(([^)]*)\)\n(.+)$/mg) {
        push @cases, [$1, $2, $3];
    }
    ok(@cases >= 10, "${label}make run printed the curl commands with "
                     . 'answers') or diag($text);
    like($text, qr/^\s+trader\s+eyJ\S+$/m, "${label}a token per role is "
                                            . 'printed');
    like($text, qr/^\s+ok_[A-Za-z0-9_-]{43}$/m,
         "${label}an API key is printed");

    local @ENV{keys %env} = values %env;

    # curl -L: the HTTP redirect lands on the HTTPS port the stack runs on
    my $https = "https://127.0.0.1:$env{OCTOPUS_HTTPS_PORT}";
    open my $cfh, '-|', 'curl', '-ksL', '-o', '/dev/null', '-w',
        '%{http_code} %{url_effective}',
        "http://127.0.0.1:$env{OCTOPUS_HTTP_PORT}/api/v1/portfolio" or die;
    my $got = do { local $/; <$cfh> // '' };
    close $cfh;
    is($got, "401 $https/api/v1/portfolio",
       "${label}curl -L follows HTTP to the HTTPS port (no token: 401)");

    for my $c (@cases) {
        my ($expect, $what, $cmd) = @$c;
        open my $fh, '-|', 'bash', '-c', "$cmd 2>&1" or die;
        local $/;
        my $answer = <$fh> // '';
        close $fh;
        like($answer, qr/\b\Q$expect\E\b/, "$label$what: $expect");
    }

    my @pids = grep { $_ } (_pidfile("$run/nginx.pid"));
    ok(@pids, "${label}nginx is running");

    my $stop = system(@make, 'stop', map { "$_=$env{$_}" } keys %env);
    is($stop, 0, "${label}make stop");
    is(waitpid($pid, 0), $pid, "${label}make run returned");

    my @procs = _processes_under($run);
    is(scalar(@procs), 0, "${label}no process of the stack is left")
        or diag(join "\n", @procs);
    ok(!grep({ kill 0, $_ } @pids), "${label}nginx is gone");

    # the stack's own error.log
    Octopus::Test->new(dir => $run)->check_error_log;
}

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
