#!/usr/bin/perl

# tools/octopus-audit-verify at scale: 100,000 records written by an
# independent implementation of the chain (t/lib/gen_audit_chain.py,
# Python's hmac) verify, in bounded memory (the tool streams: state per
# chain, not per record), and one altered, deleted or cut-off record among
# them is named.

use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $verify = abs_path('tools/octopus-audit-verify');
my $key = "$dir/chain.key";
my $file = "$dir/audit.jsonl";

open my $kf, '>', $key or die;
print $kf "verify-test-key-0123456789abcdef\n";
close $kf;

system("/usr/bin/python3 t/lib/gen_audit_chain.py $key 50000 > $file") == 0
    or die 'gen_audit_chain.py failed';

sub verify {
    my ($f, $limit_kb) = @_;
    my $cmd = "/usr/bin/perl $verify --key $key --file $f 2>&1";
    $cmd = "ulimit -v $limit_kb; $cmd" if $limit_kb;
    my $out = `bash -c '$cmd'`;
    return ($? >> 8, $out);
}

# the whole file within 100 MB of address space (the earlier version, which
# kept every record, needed 330 MB of resident memory for this file)

my ($rc, $out) = verify($file, 100 * 1024);
is($rc, 0, '100,000 records verify within 100 MB') or diag $out;
like($out, qr/^OK 100000 records in 2 chains verified, 10 checkpoints/,
     '... every record and checkpoint counted');

# damage, one record at a time: a copy of the file with one change

sub damaged {
    my ($edit) = @_;
    open my $in, '<', $file or die;
    open my $o, '>', "$dir/bad.jsonl" or die;
    while (my $line = <$in>) {
        $line = $edit->($line);
        print $o $line if defined $line;
    }
    close $o;
    return "$dir/bad.jsonl";
}

($rc, $out) = verify(damaged(sub {
    my $l = shift;
    $l =~ s{"/api/orders/31337"}{"/api/orders/31338"};
    return $l;
}));
is($rc, 1, 'one altered record among 100,000: fails');
like($out, qr/seq 31337 .*altered \(hash mismatch\)/, '... and is named');

($rc, $out) = verify(damaged(sub {
    my $l = shift;
    return $l =~ /"request_id":"gen-b-777"/ ? undef : $l;
}));
is($rc, 1, 'one deleted record: fails');
like($out, qr/chain gen-b: record seq 777 missing \(deleted\)/,
     '... and is named');

# the tail of a chain cut after seq 45,000: the checkpoint at 50,000 says so
($rc, $out) = verify(damaged(sub {
    my $l = shift;
    return $l if $l =~ /^\{"checkpoint"/;
    return $l =~ /"chain_id":"gen-a","seq":(\d+)/ && $1 > 45000 ? undef : $l;
}));
is($rc, 1, 'a cut-off tail: fails');
like($out, qr/chain gen-a: records seq 45001\.\.50000 missing \(tail cut off\)/,
     '... from the checkpoint');

# a rotated chain key: chains written before the rotation under the old
# key, after it under the new one; each chain is checked with its own key

my $key2 = "$dir/chain2.key";
open $kf, '>', $key2 or die;
print $kf "verify-test-key-rotated-fedcba98765\n";
close $kf;
system("/usr/bin/python3 t/lib/gen_audit_chain.py $key 1000 old > $dir/old.jsonl"
       . " && /usr/bin/python3 t/lib/gen_audit_chain.py $key2 1000 new"
       . " > $dir/new.jsonl && cat $dir/old.jsonl $dir/new.jsonl"
       . " > $dir/rotated.jsonl") == 0 or die 'gen_audit_chain.py failed';

sub verify_keys {
    my ($f, @k) = @_;
    my $out = `/usr/bin/perl $verify @{[map { "--key $_" } @k]} --file $f 2>&1`;
    return ($? >> 8, $out);
}

($rc, $out) = verify_keys("$dir/rotated.jsonl", $key, $key2);
is($rc, 0, 'a rotated key: both keys given, every chain verifies') or diag $out;
like($out, qr/^OK 4000 records in 4 chains verified/, '... all four chains');

($rc, $out) = verify_keys("$dir/rotated.jsonl", $key);
is($rc, 1, 'a rotated key: the old key alone fails the new chains');
like($out, qr/chain new-a seq 1 .*altered/, '... naming the first of them');

# a chain whose records change key half-way is not intact
system("/usr/bin/python3 t/lib/gen_audit_chain.py $key2 1000 old"
       . " > $dir/old2.jsonl") == 0 or die;
my @a = grep { /"chain_id":"old-a","seq":(\d+)/ && $1 <= 500 }
        do { open my $h, '<', "$dir/old.jsonl" or die; <$h> };
my @b = grep { /"chain_id":"old-a","seq":(\d+)/ && $1 > 500 }
        do { open my $h, '<', "$dir/old2.jsonl" or die; <$h> };
open my $sp, '>', "$dir/spliced.jsonl" or die;
print $sp @a, @b;
close $sp;
($rc, $out) = verify_keys("$dir/spliced.jsonl", $key, $key2);
is($rc, 1, 'a chain that changes key half-way fails');
like($out, qr/chain old-a seq 501 /, '... at the first record of the other key');

done_testing;
