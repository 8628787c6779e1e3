#!/usr/bin/perl

# Every program in tools/ answers --help and -h with its usage on stdout
# and exit status 0, quickly, and does nothing else: run from an empty
# scratch folder with HOME and TMPDIR in scratch folders too, it creates no
# file there nor at the top of the tree (make run's ./run, for one), and
# leaves no process behind (none in its process group, none carrying the
# marker put in its environment).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::Stack;
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my $top = Octopus::Stack->top;
my $limit = 5;                          # seconds

opendir my $dh, "$top/tools" or die "$top/tools: $!";
my @tools = sort grep { !/^\./ && !/\.mk$/ && -f "$top/tools/$_"
                        && -x "$top/tools/$_" } readdir $dh;
closedir $dh;
ok(@tools >= 9, 'tools/ holds the programs') or diag("@tools");

sub listing {
    my ($dir) = @_;
    opendir my $d, $dir or return "$dir: $!";
    my @e = sort grep { $_ ne '.' && $_ ne '..' } readdir $d;
    closedir $d;
    return join ' ', @e;
}

# processes started by the probe that are still alive
sub leftovers {
    my ($pgid, $marker) = @_;
    my @left;
    for my $p (glob '/proc/[0-9]*') {
        my ($pid) = $p =~ m{(\d+)$};
        next if $pid == $$;
        my $stat = do { open my $f, '<', "$p/stat" or next; local $/; <$f> };
        my ($st, $pg) = $stat =~ /\) (\S) \d+ (\d+)/ or next;
        next if $st eq 'Z';
        my $env = do { open my $f, '<', "$p/environ" or next; local $/; <$f> }
                  // '';
        push @left, $pid if $pg == $pgid || index($env, $marker) >= 0;
    }
    return @left;
}

my $before_top = listing($top);

for my $tool (@tools) {
    for my $opt ('--help', '-h') {
        my $what = "$tool $opt";
        my $cwd = tempdir('octopus-help-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
        my $home = tempdir('octopus-help-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
        my $tmp = tempdir('octopus-help-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
        my $marker = 'OCTOPUS_HELP_PROBE=' . int(rand(1e9)) . ".$$";

        pipe my $r, my $w or die "pipe: $!";
        my $t0 = time;
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            setpgrp(0, 0);
            chdir $cwd or POSIX::_exit(126);
            @ENV{qw(HOME TMPDIR)} = ($home, $tmp);
            my ($k, $v) = split /=/, $marker, 2;
            $ENV{$k} = $v;
            open STDIN, '<', '/dev/null';
            open STDOUT, '>&', $w;
            open STDERR, '>', "$home/.stderr-of-probe";
            exec "$top/tools/$tool", $opt or POSIX::_exit(127);
        }
        close $w;
        my $out = '';
        my $timed_out = 0;
        {
            local $SIG{ALRM} = sub { $timed_out = 1; die "timeout\n" };
            alarm $limit;
            eval { local $/; $out = <$r> // ''; waitpid($pid, 0); };
            alarm 0;
        }
        close $r;
        my $elapsed = time - $t0;
        if ($timed_out) {
            kill 'KILL', -$pid;
            waitpid($pid, 0);
        }
        my $rc = $? >> 8;

        ok(!$timed_out && $elapsed < $limit,
           sprintf('%s: returns within %ds (%.2fs)', $what, $limit, $elapsed));
        is($rc, 0, "$what: exit status 0");
        like($out, qr/\Ausage: \S*\Q$tool\E/i,
             "$what: stdout starts with a usage line")
            or diag(substr($out, 0, 300));
        is(listing($cwd), '', "$what: created nothing in its folder");
        is(listing($home), '.stderr-of-probe',
           "$what: created nothing in HOME");
        is(listing($tmp), '', "$what: created nothing in TMPDIR");
        is(listing($top), $before_top,
           "$what: created nothing at the top of the tree");
        sleep 0.2;
        my @left = leftovers($pid, $marker);
        is("@left", '', "$what: left no process behind");
        kill 'KILL', @left if @left;
    }
}

done_testing;
