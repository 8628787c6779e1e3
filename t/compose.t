#!/usr/bin/perl

# docker-compose.yml is valid for Compose v1 and v2, without a Docker
# engine: `docker-compose config -q` with Debian's docker-compose 1.29
# (Compose v1, which refuses a top-level `name:`), and a JSON Schema
# validation (python3-jsonschema) against the Compose Specification schema:
# compose-spec.json of golang-github-compose-spec-compose-go-dev (what
# Compose v2 is built on) where Debian ships it, else the compose_spec.json
# docker-compose 1.29 ships (Debian 12 has no compose-go package).  Broken
# copies must fail both checks, so neither passes by accident.  Then the
# nginx service mounts every /run/secrets/ file conf/nginx.conf reads, each
# from a file `octopus-keygen all` makes, and publishes the ports the
# Dockerfile exposes.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::Stack;
use File::Temp qw(tempdir);
use POSIX ();

my $top = Octopus::Stack->top;
my $yml = "$top/docker-compose.yml";
my $py = '/usr/bin/python3';

sub run_out {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub dpkg_file {
    my ($pkg, $re) = @_;
    my ($rc, $out) = run_out('dpkg', '-L', $pkg);
    return undef if $rc;
    my ($f) = grep { m{$re} && -f } split /\n/, $out;
    return $f;
}

my $dir = tempdir('octopus-compose-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);

# an edited copy in a scratch folder (--project-directory keeps ./conf
# and ./secrets meaning what they mean for the original)
sub variant {
    my ($name, $edit) = @_;
    open my $in, '<', $yml or die "$yml: $!";
    local $/;
    my $text = <$in>;
    close $in;
    $text = $edit->($text);
    my $path = "$dir/$name.yml";
    open my $out, '>', $path or die "$path: $!";
    print $out $text;
    close $out;
    return $path;
}

my $with_name = variant('with-name', sub { "name: octopus-guard\n" . $_[0] });
my $bad_key = variant('bad-key', sub {
    my $t = shift;
    $t =~ s/^(  nginx:\n)/$1    no_such_option: 1\n/m or die;
    $t;
});

# Compose v1: Debian's docker-compose
SKIP: {
    my $dc = (grep { -x } map { "$_/docker-compose" } split /:/, $ENV{PATH})[0];
    skip 'docker-compose (Debian package docker-compose, Compose v1) is not '
         . 'installed: make deps installs it', 3 unless $dc;

    my @cfg = ($dc, '--project-directory', $top, '-f');
    my ($rc, $out) = run_out(@cfg, $yml, 'config', '-q');
    is($rc, 0, 'docker-compose 1.29 (Compose v1) accepts docker-compose.yml')
        or diag($out);
    unlike($out, qr/WARN/i, '... without a warning') or diag($out);

    ($rc, $out) = run_out(@cfg, $with_name, 'config', '-q');
    isnt($rc, 0, 'it refuses a top-level name: (the check can fail)')
        or diag($out);
}

# the Compose Specification schema
SKIP: {
    my ($rc) = run_out($py, '-c', 'import jsonschema, yaml');
    skip 'python3-jsonschema or python3-yaml is not installed: make deps '
         . 'installs them', 3 if $rc;

    my $schema = dpkg_file('golang-github-compose-spec-compose-go-dev',
                           qr{/compose-spec\.json$})
              // dpkg_file('docker-compose', qr{/compose_spec\.json$});
    skip 'no Compose Specification schema: neither '
         . 'golang-github-compose-spec-compose-go-dev (not in Debian 12) nor '
         . 'docker-compose is installed', 3 unless $schema;
    note("schema: $schema");

    my $check = <<'PY';
import json, sys, yaml
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors:
    print("%s: %s" % ("/".join(map(str, e.path)) or "(top)", e.message))
sys.exit(1 if errors else 0)
PY
    my ($vrc, $out) = run_out($py, '-c', $check, $schema, $yml);
    is($vrc, 0, 'docker-compose.yml is valid against the Compose '
                . 'Specification schema') or diag($out);

    ($vrc, $out) = run_out($py, '-c', $check, $schema, $bad_key);
    isnt($vrc, 0, 'an unknown service option is not (the check can fail)');
    like($out, qr/no_such_option/, '... and is named') or diag($out);
}

# what the nginx service mounts and publishes
SKIP: {
    my ($rc) = run_out($py, '-c', 'import yaml');
    skip 'python3-yaml is not installed: make deps installs it', 5 if $rc;

    my $dump = <<'PY';
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
svc = doc["services"]["nginx"]
for s in svc.get("secrets") or []:
    if not isinstance(s, dict):
        s = {"source": s}
    tgt = s.get("target") or s["source"]
    if not tgt.startswith("/"):
        tgt = "/run/secrets/" + tgt
    extra = ",".join(k for k in ("uid", "gid", "mode") if k in s)
    print("secret %s %s %s" % (tgt, doc["secrets"][s["source"]]["file"],
                               extra or "-"))
for p in svc.get("ports") or []:
    p = p["target"] if isinstance(p, dict) else str(p).split(":")[-1]
    print("port %s" % p)
print("read_only %s" % bool(svc.get("read_only")))
PY
    my ($drc, $out) = run_out($py, '-c', $dump, $yml);
    is($drc, 0, 'docker-compose.yml reads') or diag($out);

    my (%secret, %extra, @ports);
    for (split /\n/, $out) {
        if (/^secret (\S+) (\S+) (\S+)$/) {
            $secret{$1} = $2;
            $extra{$1} = $3 if $3 ne '-';
        }
        push @ports, $1 if /^port (\d+)$/;
    }
    like($out, qr/^read_only True$/m, 'nginx runs on a read-only root');

    open my $fh, '<', "$top/conf/nginx.conf" or die;
    my %read;
    while (<$fh>) {
        s/#.*//;
        $read{$1} = 1 while m{(/run/secrets/[\w.-]+)}g;
    }
    close $fh;

    my $keys = "$dir/secrets";
    my ($krc, $kout) = run_out("$top/tools/octopus-keygen", 'all', $keys);
    is($krc, 0, 'octopus-keygen all') or diag($kout);

    my @bad;
    for my $p (sort keys %read) {
        my $f = $secret{$p};
        push @bad, "$p is not mounted" and next unless $f;
        (my $base = $f) =~ s{.*/}{};
        push @bad, "$p comes from $f, which octopus-keygen all does not make"
            unless $f =~ m{^\./secrets/} && -f "$keys/$base";
    }
    # Compose ignores uid, gid and mode for file secrets: they would only
    # mislead (the host file's owner and mode are what nginx sees)
    push @bad, "$_ sets $extra{$_}, which Compose ignores for a file secret"
        for sort keys %extra;
    is_deeply(\@bad, [], 'every secret conf/nginx.conf reads is mounted '
              . 'where it reads it, from a file octopus-keygen makes')
        or diag(join "\n", @bad);

    open $fh, '<', "$top/Dockerfile" or die;
    my @expose;
    while (<$fh>) {
        push @expose, split ' ', $1 if /^EXPOSE\s+(.*)/;
    }
    close $fh;
    is_deeply([sort @ports], [sort @expose],
              'the published ports are the ones the Dockerfile exposes');
}

done_testing;
