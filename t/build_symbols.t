#!/usr/bin/perl

# What each module's .so shows the dynamic linker.  nginx loads modules
# with RTLD_GLOBAL, so a symbol one .so exports is what every .so loaded
# after it binds to: each exports only the three arrays nginx dlsym()s
# (ngx_modules, ngx_module_names, ngx_module_order), and no ngx_octopus_*
# symbol, so its common code stays its own.  And each links only the
# libraries it calls.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $dir = $ENV{OCTOPUS_MODULES} || 'build/release/modules';

my %forbidden = (
    ngx_octopus_auth_module      => [qw(libpq)],
    ngx_octopus_ratelimit_module => [qw(libpq libjansson libpcre2-8)],
    ngx_octopus_audit_module     => [qw(libhiredis libjansson libicuuc)],
);

for my $m (sort keys %forbidden) {
    my $so = "$dir/$m.so";
    ok(-f $so, "$m: $so") or next;

    my ($rc, $out) = Octopus::Test::capture('nm', '-D', '--defined-only',
                                            $so);
    is($rc, 0, "$m: nm -D ran") or diag($out);

    my @defined = sort map { (split ' ')[-1] } grep { /\S/ } split /\n/, $out;
    is_deeply(\@defined, [qw(ngx_module_names ngx_module_order ngx_modules)],
              "$m: exports only what nginx looks up")
        or diag(join ' ', @defined);

    ($rc, $out) = Octopus::Test::capture('nm', '-D', $so);
    my @ours = grep { /\bngx_octopus_/ } split /\n/, $out;
    is(scalar @ours, 0, "$m: no ngx_octopus_* symbol in the dynamic table")
        or diag(join "\n", @ours);

    ($rc, $out) = Octopus::Test::capture('readelf', '-d', $so);
    my @needed = $out =~ /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g;
    ok(@needed, "$m: readelf -d lists its libraries");
    for my $lib (@{$forbidden{$m}}) {
        ok(!grep({ /^\Q$lib\E\.so/ } @needed), "$m: does not link $lib")
            or diag("@needed");
    }
}

done_testing();
