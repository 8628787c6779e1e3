#!/usr/bin/perl

# make lsan's judge, t/soak/ngx_octopus_lsan_check.pl: it forgives nginx
# core's own leaks and fails on everything else.  The fixtures in
# t/soak/lsan_fixtures/ are real reports from this machine: nginx's init
# cycle pool after a failed `nginx -t`, a worker's connection arrays,
# nginx's regex compile context (through libpcre2), the cycle a successful
# `nginx -t` abandons (trimmed to three of its leaks), and a module that
# leaked on purpose (malloc and ngx_alloc from init_process).

use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More;

my $check = 't/soak/ngx_octopus_lsan_check.pl';
my $fix = 't/soak/lsan_fixtures';

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    return <$fh>;
}

# run the checker on a directory holding the given reports
sub judge {
    my (%reports) = @_;
    my $dir = tempdir(CLEANUP => 1);
    for my $name (keys %reports) {
        open(my $fh, '>', "$dir/$name") or die "$dir/$name: $!";
        print $fh $reports{$name};
        close $fh;
    }
    my $out = `perl $check $dir 2>&1`;
    return ($? >> 8, $out);
}

my $core_pool = slurp("$fix/core_init_pool.txt");
my $core_worker = slurp("$fix/core_worker.txt");
my $ours = slurp("$fix/ours_symbolized.txt");

my ($rc, $out) = judge();
is($rc, 0, 'no report: pass');

($rc, $out) = judge('lsan.1' => $core_pool, 'lsan.2' => $core_worker,
                    'lsan.3' => '');
is($rc, 0, 'nginx core leaks only: pass') or diag $out;
like($out, qr/3 report files; 2 with only nginx core's own leaks; 0 with/,
     'core leaks counted');

($rc, $out) = judge('lsan.1' => $core_pool, 'lsan.2' => $ours);
is($rc, 1, 'a leak from a module frame: fail');
like($out, qr/ngx_octopus_audit_init_process/, 'the leak is printed');
like($out, qr/1 with anything else/, 'counted as ours');

# the same leak after the module was dlclose()d: no symbol, still ours
(my $unknown = $ours) =~ s/ in ngx_octopus_\w+ \S+/  (<unknown module>)/g;
unlike($unknown, qr/octopus/, 'fixture without module names');
($rc) = judge('lsan.9' => $unknown);
is($rc, 1, 'a leak through <unknown module>: fail');

# one leak of ours among nginx core's in the same process
my ($block) = $ours =~ /(Direct leak of 55 .*?\n\n)/s;
ok($block, 'ngx_alloc leak of ours in the fixture');
(my $mixed = $core_worker) =~ s/(\nSUMMARY)/\n$block$1/;
($rc) = judge('lsan.4' => $mixed);
is($rc, 1, 'a leak of ours through ngx_alloc among core leaks: fail');

# nginx core's regex compile leaks a PCRE2 context: a library frame under
# nginx frames only is not ours
my $core_pcre2 = slurp("$fix/core_pcre2.txt");
like($core_pcre2, qr/libpcre2/, 'fixture with a library frame');
($rc) = judge('lsan.5' => $core_pcre2);
is($rc, 0, 'a core leak through a library (PCRE2): pass');

# a leak in a library called by a module (libhiredis under our frame)
(my $lib = $ours) =~
    s{(#1 0x[0-9a-f]+) in ngx_octopus_audit_init_process \S+}
     {$1 in redisReaderCreate (/lib/x86_64-linux-gnu/libhiredis.so.0.14+0x1234)\n    #1 0x7f00 in ngx_octopus_redis_connect /work/main/common/ngx_octopus_redis.c:99};
isnt($lib, $ours, 'library fixture rewritten');
($rc) = judge('lsan.5' => $lib);
is($rc, 1, 'a leak through a library called by a module: fail');

# a successful `nginx -t` abandons its cycle: indirect leaks, some through
# our frames (pool blocks our directives grew, keys our cleanups free)
my $cycle = slurp("$fix/test_mode_cycle.txt");
like($cycle, qr/Indirect leak.*ngx_octopus_auth_create_main_conf/s,
     'fixture: abandoned cycle with our frames');
($rc) = judge('lsan.7314' => $cycle,
              'args.7314' => "-p /tmp/x -c /tmp/x/nginx-test.conf -t\n");
is($rc, 0, 'nginx -t: its abandoned cycle (indirect leaks) is forgiven');
($rc) = judge('lsan.7314' => $cycle,
              'args.7314' => "-p /tmp/x -c /tmp/x/nginx.conf\n");
is($rc, 1, 'the same indirect leaks in a master or worker: fail');
($rc) = judge('lsan.7314' => $cycle);
is($rc, 1, '... and in a process of unknown arguments');
(my $direct = $cycle) =~ s/Indirect leak of 8720/Direct leak of 8720/;
($rc) = judge('lsan.7314' => $direct,
              'args.7314' => "-p /tmp/x -c /tmp/x/nginx-test.conf -t\n");
is($rc, 1, 'nginx -t: a direct leak of ours still fails');

# any other sanitizer report fails, whatever its stack
($rc) = judge('lsan.6' => <<'EOF');
=================================================================
==77==ERROR: AddressSanitizer: heap-use-after-free on address 0x602 at pc 0x55 bp 0x7f sp 0x7f
READ of size 8 at 0x602 thread T0
    #0 0x55 in ngx_alloc (/usr/sbin/nginx+0x4ccfe)
SUMMARY: AddressSanitizer: heap-use-after-free
EOF
is($rc, 1, 'an AddressSanitizer error: fail');

($rc) = judge('lsan.7' => "x.c:12:3: runtime error: signed integer"
                         . " overflow\nSUMMARY: UndefinedBehaviorSanitizer:"
                         . " undefined-behavior x.c:12:3\n");
is($rc, 1, 'an UndefinedBehaviorSanitizer error: fail');

($rc) = judge('lsan.8' => "==1==ERROR: Can't open file: /x/lsan.1"
                         . " (reason: 13)\n");
is($rc, 1, 'the sanitizer failing to write its report: fail');

done_testing;
