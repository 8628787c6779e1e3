#!/usr/bin/perl
# make lsan: read the sanitizer reports of every nginx process of the run
# and fail on any report but leaks that are nginx core's own.
#
# nginx core allocates what a process keeps until it exits and never frees
# it: a worker's connection and event arrays (ngx_event_process_init()),
# the PCRE2 compile context of ngx_regex_compile(), and the pool of the
# initial cycle, which main() does not destroy when the configuration fails
# (`nginx -t` on a broken file, which the config tests do on purpose).  A
# suppression cannot name those alone: every stack ends in main(), and our
# modules allocate through ngx_alloc(), ngx_create_pool() and the same
# libraries.  So a leak is ours when any frame of its stack is in one of
# our modules: a function, source path or shared object named
# ngx_octopus_*, or "<unknown module>" (code unmapped before the report:
# a module dlclose()d at exit; ngx_octopus_nodlclose.so prevents that so
# our frames keep their names).  Leaks with no such frame are nginx core's
# or a library's own, counted and forgiven.
#
# One more of nginx's: `nginx -t` returns from main() after a successful
# test without destroying the new cycle, so its pools, and whatever our
# modules hung on them for their pool cleanups to free, are lost at once.
# Pool blocks point to themselves, so LeakSanitizer reports all of that as
# "Indirect".  In a process whose arguments (args.<pid>, written by the
# wrapper) hold -t or -T, indirect leaks are forgiven; a direct leak with
# a frame of ours still fails.  Masters and workers destroy their cycles,
# so there a leaked pool of ours, indirect or not, fails.  Any other sanitizer report
# (ASan, UBSan, the sanitizer failing to write) fails.
#
# usage: ngx_octopus_lsan_check.pl DIR

use strict;
use warnings;

my $dir = shift or die "usage: $0 DIR\n";
opendir(my $dh, $dir) or die "$dir: $!\n";
my @files = sort grep { !/^(?:\.|args\.)/ } readdir $dh;
closedir $dh;

my ($core, $bad) = (0, 0);

for my $file (@files) {
    open(my $fh, '<', "$dir/$file") or die "$dir/$file: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;

    next unless $text =~ /ERROR: |runtime error: |SUMMARY: /;

    # any ASan error, UBSan "runtime error" or sanitizer failure of its own
    # ("ERROR: Can't open file") is ours to look at
    my @errors = $text =~ /ERROR: ([^\n]*)/g;
    my $only_leaks = $text !~ /runtime error: /
                     && !grep { !/^LeakSanitizer: detected memory leaks/ }
                              @errors;

    # one block per leaked allocation site
    my @blocks = split /\n(?=(?:Direct|Indirect) leak of )/, $text;
    shift @blocks;

    my $all_core = $only_leaks && @blocks > 0;

    my ($pid) = $file =~ /(\d+)$/;
    my $test_mode = 0;
    if (defined $pid && open(my $ah, '<', "$dir/args.$pid")) {
        $test_mode = (<$ah> // '') =~ /(?:^|\s)-[tT]\b/;
        close $ah;
    }

    for my $block (@blocks) {
        next if $test_mode && $block =~ /^Indirect leak/;
        for my $frame (grep { /^\s+#\d+ / } split /\n/, $block) {
            $all_core = 0 if $frame =~ /octopus|<unknown module>/;
        }
    }

    if ($all_core) {
        $core++;
        next;
    }

    $bad++;
    print "==== $dir/$file\n$text\n";
}

print "lsan: ", scalar(@files), " report files; $core with only nginx",
      " core's own leaks; $bad with anything else\n";

exit($bad ? 1 : 0);
