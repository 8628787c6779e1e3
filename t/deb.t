#!/usr/bin/perl

# The Debian package (packaging/octopus-deb, make deb), from the modules
# already built (OCTOPUS_MODULES: build/release/modules; nginx is not
# rebuilt).  Its metadata: name, version from VERSION, architecture, the
# nginx ABI that the installed nginx provides, every library the modules
# link (objdump NEEDED, the library's package by dpkg -S: not the
# builder's dpkg-shlibdeps) in Depends, and every Depends satisfied on this
# machine; its files and modes, stripped modules, md5sums.
#
# Installed with the real dpkg into a scratch root: dpkg --root=S
# --force-script-chrootless runs the package's own maintainer scripts with
# DPKG_ROOT=S (the scripts write under $DPKG_ROOT, as dpkg expects of
# chrootless scripts); --force-depends because the scratch database is
# empty (the dependencies were checked against this machine's instead).
# S stands in for nginx-common with what it ships that the package uses:
# /etc/nginx/modules-enabled/ and the link /usr/share/nginx/modules ->
# ../../lib/nginx/modules.  Then Debian's /usr/sbin/nginx runs with the
# prefix S/usr/share/nginx/ (Debian's --prefix, under S) and the
# modules-enabled links in glob order, as /etc/nginx/nginx.conf includes
# them (each link's in-root target read under S): nginx -t, then a start
# that answers (401 without a token, 200 with one minted by the packaged
# octopus-token from a secret of the packaged octopus-keygen, 429 past the
# rate, an audit record, the metrics of the three modules).  The link
# life cycle of dh_nginx's scripts: remove renames them NAME.removed, a
# reinstall enables them again, a link the admin deleted stays deleted on
# upgrade, purge deletes them.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

my $top = abs_path('.');
my $moddir = $ENV{OCTOPUS_MODULES} || "$top/build/release/modules";
my $tmp = tempdir('octopus-deb-XXXXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{OCTOPUS_KEEP});
diag("scratch: $tmp") if $ENV{OCTOPUS_KEEP};

sub run_ok {
    my ($what, @cmd) = @_;
    my ($rc, $out) = Octopus::Test::capture(@cmd);
    is($rc, 0, $what) or diag("@cmd:\n$out");
    return $out;
}

sub slurp {
    open my $fh, '<', $_[0] or return undef;
    local $/;
    return scalar <$fh>;
}

my @mods = qw(auth ratelimit audit);
my @tools = qw(octopus-keygen octopus-token octopus-apikey octopus-revoke
               octopus-audit-verify);

# ---- build ----------------------------------------------------------------

my $out = run_ok('packaging/octopus-deb builds',
                 'packaging/octopus-deb', '--modules', $moddir,
                 '--out', "$tmp/out");
my ($deb) = $out =~ /([^\n]+\.deb)\n?\z/;
ok($deb && -f $deb, "the package: " . ($deb // 'none')) or BAIL_OUT($out);

chomp(my $version = slurp("$top/VERSION"));
chomp(my $arch = `dpkg --print-architecture`);
is($deb, "$tmp/out/octopus-guard_$version-1_$arch.deb", 'its file name');

# reproducible: the same input gives the same bytes
my $out2 = run_ok('built again', 'packaging/octopus-deb', '--modules',
                  $moddir, '--out', "$tmp/out2");
my ($deb2) = $out2 =~ /([^\n]+\.deb)\n?\z/;
run_ok('the same package byte for byte', 'cmp', $deb, $deb2);

# ---- metadata -------------------------------------------------------------

my %f;
for my $k (qw(Package Version Architecture Depends Recommends Section
              Maintainer Description Installed-Size)) {
    chomp($f{$k} = `dpkg-deb -f '$deb' $k`);
}
is($f{Package}, 'octopus-guard', 'Package');
is($f{Version}, "$version-1", 'Version: VERSION, Debian revision 1');
is($f{Architecture}, $arch, 'Architecture');
is($f{Section}, 'httpd', 'Section');
like($f{'Installed-Size'}, qr/^\d+$/, 'Installed-Size');
like($f{Maintainer}, qr/^[^<>]+ <[^<>@\s]+@[^<>\s]+>$/, 'Maintainer');
like($f{Recommends}, qr/(^|, )nginx(,|$)/, 'Recommends nginx');

my @dep = map { [/^(\S+)(?: \((\S+) (\S+)\))?$/] } split /, /, $f{Depends};
my %dep = map { $_->[0] => $_ } @dep;
is((grep { !defined $_->[0] } @dep), 0, "Depends parses: $f{Depends}");

# the ABI: the installed nginx provides it (dh_nginx's nginx:abi)
chomp(my $provides = `dpkg-query -W -f='\${Provides}' nginx`);
my ($abi) = grep { /^nginx-abi-/ } keys %dep;
ok($abi, 'Depends on an nginx ABI: ' . ($abi // 'none'));
ok($abi && grep({ $_ eq $abi } split /,\s*/, $provides),
   "the installed nginx provides it ($provides)");

# every library a module links, by its package on this machine
my %needed_pkg;
my $ldcache = `ldconfig -p`;
for my $m (@mods) {
    my $so = "$moddir/ngx_octopus_${m}_module.so";
    for my $lib (`objdump -p '$so'` =~ /^\s*NEEDED\s+(\S+)/mg) {
        my ($path) = $ldcache =~ /^\s+\Q$lib\E \(libc6,x86-64[^)]*\) => (\S+)/m;
        ($path) = $ldcache =~ /^\s+\Q$lib\E \([^)]*\) => (\S+)/m
            unless $path;
        ok($path, "$m: $lib is on this machine") or next;
        my $real = abs_path($path);
        my ($owner) = (`dpkg -S '$path' 2>/dev/null`
                       || `dpkg -S '$real' 2>/dev/null`) =~ /^([^:]+):/;
        ok($owner, "$m: $lib belongs to a package") or next;
        $needed_pkg{$owner} = $lib;
    }
}
for my $p (sort keys %needed_pkg) {
    ok($dep{$p}, "Depends names $p ($needed_pkg{$p})");
}
for my $p (qw(libhiredis0.14 libpq5 libpcre2-8-0 libssl3 libjansson4
              libicu72 libc6)) {
    ok($needed_pkg{$p} && $dep{$p}, "$p: linked and in Depends");
}
# the interpreters of the tools
ok($dep{python3} && $dep{perl}, 'Depends on python3 and perl (the tools)');

# every Depends is satisfied here: the package installs next to this nginx
for my $d (@dep) {
    my ($name, $op, $ver) = @$d;
    next unless defined $name;
    chomp(my $st = `dpkg-query -W -f='\${Status} \${Version}' '$name' 2>/dev/null`);
    if ($st =~ /^install ok installed (\S+)/) {
        my $have = $1;
        ok(!$op || system('dpkg', '--compare-versions', $have, $op, $ver) == 0,
           "$name $have satisfies " . ($op ? "$op $ver" : 'any'));
    } else {
        ok($name eq ($abi // '') && grep({ $_ eq $name } split /,\s*/, $provides),
           "$name: provided by an installed package");
    }
}

# the files
my %mode;
for (split /\n/, `dpkg-deb -c '$deb'`) {
    my ($perm, $owner, $path) = /^(\S+)\s+(\S+)\s+\d+\s+\S+\s+\S+\s+\.(\/\S*)/
        or next;
    $mode{$path} = "$perm $owner";
}
for my $m (@mods) {
    is($mode{"/usr/lib/nginx/modules/ngx_octopus_${m}_module.so"},
       '-rw-r--r-- root/root', "the $m module in /usr/lib/nginx/modules");
    is($mode{"/usr/share/nginx/modules-available/mod-http-octopus-$m.conf"},
       '-rw-r--r-- root/root', "mod-http-octopus-$m.conf in modules-available");
}
for my $t (@tools) {
    is($mode{"/usr/bin/$t"}, '-rwxr-xr-x root/root', "/usr/bin/$t");
    is($mode{"/usr/share/man/man1/$t.1.gz"}, '-rw-r--r-- root/root',
       "the manual page of $t");
}
for my $p (qw(/usr/share/octopus-guard/sql/001_audit_schema.sql
              /usr/share/octopus-guard/prometheus/alerts.yml
              /usr/share/octopus-guard/grafana/octopus-guard.json
              /usr/share/doc/octopus-guard/examples/nginx.conf
              /usr/share/doc/octopus-guard/examples/prometheus.yml
              /usr/share/doc/octopus-guard/copyright
              /usr/share/doc/octopus-guard/changelog.Debian.gz)) {
    is($mode{$p}, '-rw-r--r-- root/root', $p);
}
ok(grep(m{^/usr/share/doc/octopus-guard/examples/kubernetes/\S+\.yaml$},
        keys %mode), 'the Kubernetes examples');
is((grep { !m{^/(usr/|$)} } keys %mode), 0, 'nothing outside /usr');
for my $t (@tools) {
    my $w = run_ok("the manual page of $t formats", 'sh', '-c',
        "dpkg-deb --fsys-tarfile '$deb' | tar -xO "
        . "./usr/share/man/man1/$t.1.gz | gzip -dc "
        . "| groff -man -Tutf8 -ww -z 2>&1");
    is($w, '', "groff: no warning for $t");
}
is((grep { m{^/etc/} } keys %mode), 0, 'no conffile: nothing in /etc');

my $ctl = "$tmp/control";
run_ok('dpkg-deb -e', 'dpkg-deb', '-e', $deb, $ctl);
ok(!-e "$ctl/conffiles", 'no conffiles');
for my $s (qw(postinst prerm postrm)) {
    ok(-x "$ctl/$s", "$s is executable");
    run_ok("$s: sh -n", 'sh', '-n', "$ctl/$s");
    like(slurp("$ctl/$s"), qr/mod-http-octopus-auth\.conf:50-mod-http-octopus-auth\.conf mod-http-octopus-ratelimit\.conf:50-mod-http-octopus-ratelimit\.conf mod-http-octopus-audit\.conf:50-mod-http-octopus-audit\.conf /,
         "$s: the three snippet/link pairs");
}

# ---- install into a scratch root -----------------------------------------

my $s = "$tmp/root";
mkdir $s;
system('mkdir', '-p', map { "$s/$_" } qw(var/lib/dpkg/info
       var/lib/dpkg/updates var/lib/dpkg/triggers etc/nginx/modules-enabled
       usr/share/nginx)) == 0 or die;
open my $st, '>', "$s/var/lib/dpkg/status" or die;
close $st;
symlink '../../lib/nginx/modules', "$s/usr/share/nginx/modules" or die;

my @dpkg = ('dpkg', "--root=$s", '--force-script-chrootless',
            '--force-depends', '--log=/dev/null');
push @dpkg, '--force-not-root' if $>;
my $en = "$s/etc/nginx/modules-enabled";
my $avail = '/usr/share/nginx/modules-available';

run_ok('dpkg --root -i', @dpkg, '-i', $deb);
like(`dpkg-query --admindir=$s/var/lib/dpkg -W -f='\${Status} \${Version}' octopus-guard`,
     qr/^install ok installed \Q$version\E-1$/, 'installed in the scratch root');

for my $m (@mods) {
    is(readlink("$en/50-mod-http-octopus-$m.conf"),
       "$avail/mod-http-octopus-$m.conf",
       "postinst: 50-mod-http-octopus-$m.conf links modules-available");
    is(slurp("$s$avail/mod-http-octopus-$m.conf"),
       "load_module modules/ngx_octopus_${m}_module.so;\n",
       "mod-http-octopus-$m.conf loads the module from the prefix");
    my ($nl) = `objdump -h '$s/usr/lib/nginx/modules/ngx_octopus_${m}_module.so'`
               =~ /(\.debug_info)/;
    ok(!$nl, "the $m module is stripped");
}
my @sp = stat("$s/var/lib/octopus/audit-spool");
ok(@sp && ($sp[2] & 07777) == 0700, 'postinst: the audit spool, 0700');
run_ok('md5sums match the installed files', 'sh', '-c',
       "cd '$s' && md5sum --quiet -c var/lib/dpkg/info/octopus-guard.md5sums");

# the packaged tools run
run_ok('octopus-keygen from the package', "$s/usr/bin/octopus-keygen",
       'jwt-secret', "$tmp/jwt.key");
my $tok = run_ok('octopus-token from the package', "$s/usr/bin/octopus-token",
                 '--key', "$tmp/jwt.key", '--kid', 'k1', '--sub', 'alice',
                 '--role', 'trader');
($tok) = $tok =~ /^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/m;
ok($tok, 'a token');
for my $t (qw(octopus-apikey octopus-revoke)) {
    run_ok("$t --help from the package", "$s/usr/bin/$t", '--help');
}

# ---- Debian's nginx loads the enabled modules -----------------------------

my @includes;
for my $link (sort glob "$en/*.conf") {
    my $target = readlink $link;
    ok($target && $target =~ m{^/}, "$link: an absolute in-root link")
        or next;
    push @includes, "include $s$target;";
}
is(scalar @includes, 3, 'three modules enabled');

my $t = Octopus::Test->new(dir => "$s/usr/share/nginx", modules => []);
system('cp', "$tmp/jwt.key", "$t->{dir}/hs.key") == 0 or die;
my $conf = join("\n", @includes) . "\n" . <<'EOF';
worker_processes 1;
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/hs.key;
    octopus_ratelimit_zone ip key=$binary_remote_addr rate=3r/m size=1m;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_ratelimit ip;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics { octopus_audit off; octopus_metrics; }
        location = /metrics/auth { octopus_auth_metrics; }
        location = /metrics/ratelimit { octopus_ratelimit_metrics; }
    }
}
EOF
$t->nginx_conf($conf);

my ($ok, $tout) = $t->nginx_test;
ok($ok, 'nginx -t with the enabled modules') or diag($tout);
$t->run;

is($t->get('/api/x')->{status}, 401, 'no token: 401 (auth module)');
my $r = $t->get('/api/x', Authorization => "Bearer $tok");
is($r->{status}, 200, 'the packaged tools\' token: 200');
is($r->{json}{uri}, '/api/x', 'the backend answered');
my %seen;
$seen{$t->get('/api/x', Authorization => "Bearer $tok")->{status}}++
    for 1 .. 3;
ok($seen{429}, 'past the rate: 429 (ratelimit module)')
    or diag(join ' ', %seen);
ok($t->wait_for(sub { ($t->read_file('logs/octopus-audit.jsonl') // '')
                      =~ m{"path":"/api/x"} }, 5),
   'an audit record (audit module)');
like($t->get('/metrics')->{body}, qr/^octopus_requests_total\{/m,
     'audit metrics');
like($t->get('/metrics/auth')->{body}, qr/^# TYPE octopus_auth_\w+ /m,
     'auth metrics');
like($t->get('/metrics/ratelimit')->{body},
     qr/^octopus_ratelimit_fallback_total\{zone="ip"/m, 'ratelimit metrics');
$t->stop;

# ---- the links through remove, reinstall, upgrade, purge -----------------

run_ok('dpkg --root -r', @dpkg, '-r', 'octopus-guard');
for my $m (@mods) {
    my $l = "$en/50-mod-http-octopus-$m.conf";
    ok(!-l $l && -l "$l.removed", "remove: $m link renamed .removed");
    ok(!-e "$s/usr/lib/nginx/modules/ngx_octopus_${m}_module.so",
       "remove: the $m module is gone");
}

run_ok('dpkg --root -i again', @dpkg, '-i', $deb);
for my $m (@mods) {
    my $l = "$en/50-mod-http-octopus-$m.conf";
    ok(-l $l && !-l "$l.removed", "reinstall: $m enabled again");
}

unlink "$en/50-mod-http-octopus-ratelimit.conf";
run_ok('dpkg --root -i over the installed package', @dpkg, '-i', $deb);
ok(!-l "$en/50-mod-http-octopus-ratelimit.conf",
   'upgrade: the link the admin deleted stays deleted');
ok(-l "$en/50-mod-http-octopus-auth.conf", 'upgrade: the others stay');

run_ok('dpkg --root -P', @dpkg, '-P', 'octopus-guard');
is(scalar(() = glob("$en/*")), 0, 'purge: no link left in modules-enabled');
ok(!-e "$s/var/lib/octopus", 'purge: the empty audit spool is gone');

$t->done;
