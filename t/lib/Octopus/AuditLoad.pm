package Octopus::AuditLoad;

# Background load for the audit durability tests: forked clients, every
# request with a unique path "/<tag>/<client>/<n>", the paths answered 2xx
# collected, so that rows can be counted against requests by path.
#
#   my $l = Octopus::AuditLoad::start($t, 'tag', clients => 4);
#   ...
#   my @paths = Octopus::AuditLoad::stop($t, $l);   # paths answered 2xx
#   my ($missing, $dups, $rows) =
#       Octopus::AuditLoad::compare($t, 'tag', \@paths);

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(sleep);


sub start {
    my ($t, $tag, %a) = @_;

    my $c = $a{clients} || 4;
    my $file = "$t->{dir}/tmp/audit-load-$tag";
    my @pids;

    unlink "$file.stop";

    for my $i (0 .. $c - 1) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            # POSIX::_exit: the harness's END cleanup runs in the parent only
            open my $out, '>', "$file.$i" or POSIX::_exit(1);
            for (my $n = 1; !-e "$file.stop"; $n++) {
                my $path = "/$tag/$i/$n";
                my $r = $t->http(uri => $path, timeout => 5,
                                 headers => ['X-Sim-User' => $tag]);
                syswrite $out, "$path\n"
                    if $r->{status} >= 200 && $r->{status} < 300;
                sleep($a{pause}) if $a{pause};
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    return { pids => \@pids, file => $file, c => $c };
}


sub stop {
    my ($t, $l) = @_;

    open my $fh, '>', "$l->{file}.stop" or die "$l->{file}.stop: $!";
    close $fh;
    waitpid($_, 0) for @{$l->{pids}};

    my @paths;
    for my $i (0 .. $l->{c} - 1) {
        open my $in, '<', "$l->{file}.$i" or next;
        while (<$in>) {
            chomp;
            push @paths, $_;
        }
        close $in;
    }
    return @paths;
}


# (requests answered 2xx without a row, rows beyond one per path, rows)

sub compare {
    my ($t, $tag, $paths) = @_;

    my %db;
    my $rows = 0;
    for (split /\n/, $t->psql("SELECT path FROM audit.api_calls "
                              . "WHERE user_name = '$tag'")) {
        next if $_ eq '0E0';
        $db{$_}++;
        $rows++;
    }

    my $missing = grep { !$db{$_} } @$paths;
    my $dups = 0;
    $dups += $_ - 1 for values %db;

    return ($missing, $dups, $rows);
}


1;
