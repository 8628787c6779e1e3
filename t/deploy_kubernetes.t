#!/usr/bin/perl

# deploy/kubernetes/: the manifests parse (PyYAML, YAML 1.1 as kubectl
# reads them: 0440 is octal) and hold the security properties: uid/gid
# 1001, runAsNonRoot, read-only root file system, no privilege escalation,
# capabilities drop ALL and add none, not privileged, the default seccomp
# profile, no service account token, no host namespaces; requests and
# limits for CPU and memory, requests within limits; the secrets as a
# read-only Secret volume with a defaultMode that no other user can read;
# every path the ConfigMap's nginx.conf writes (pid, temp paths, the
# spool, log files) on a writable emptyDir and every one it reads from
# /run/secrets/ a file of the Secret tools/octopus-keygen makes; the
# probes on the Dockerfile HEALTHCHECK's path and port; the Service's
# selector and target ports; Redis and PostgreSQL not run in the cluster.
# The ConfigMap is current with conf/nginx.conf (gen-configmap --check),
# and its nginx.conf runs: Redis, PostgreSQL and the backend on loopback,
# the Secret laid out as the kubelet lays one out (..data links, mode
# 0440), nginx -t passes, and the probe's path answers 200 on the http
# port and the metrics locations answer over https.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use Octopus::Stack;
use JSON::PP;

my $top = Octopus::Stack->top;
my $kdir = "$top/deploy/kubernetes";

# ---- parse ----------------------------------------------------------------

my @files = sort glob "$kdir/*.yaml";
ok(@files >= 4, 'manifests: ' . join(' ', map { s{.*/}{}r } @files));

my ($rc, $json) = Octopus::Test::capture('/usr/bin/python3', '-c', <<'PY',
import json, sys, yaml
out = []
for f in sys.argv[1:]:
    with open(f) as fh:
        for d in yaml.safe_load_all(fh):
            if d is not None:
                out.append({"file": f, "doc": d})
print(json.dumps(out))
PY
    @files);
is($rc, 0, 'every manifest parses') or BAIL_OUT($json);
my @docs = @{decode_json($json)};

my %by;
for (@docs) {
    my $d = $_->{doc};
    ok($d->{apiVersion} && $d->{kind} && $d->{metadata}{name},
       "$_->{file}: apiVersion, kind, metadata.name");
    push @{$by{$d->{kind}}}, $d;
}
is(scalar @{$by{Deployment} || []}, 1, 'one Deployment');
is(scalar @{$by{ConfigMap} || []}, 1, 'one ConfigMap');
ok(@{$by{Service} || []} >= 1, 'a Service');
is((grep { $_->{kind} eq 'Secret' } map { $_->{doc} } @docs), 0,
   'no Secret with values in the repository');
is((grep { $_->{kind} =~ /^(StatefulSet|DaemonSet)$/ } map { $_->{doc} }
    @docs), 0, 'Redis and PostgreSQL are not run here (external)');

my ($dep) = @{$by{Deployment}};
my ($cm) = @{$by{ConfigMap}};
my $pod = $dep->{spec}{template}{spec};
my $conf = $cm->{data}{'nginx.conf'};
ok($conf, 'the ConfigMap holds nginx.conf');

# ---- the pod --------------------------------------------------------------

my $psc = $pod->{securityContext} || {};
ok(JSON::PP::is_bool($psc->{runAsNonRoot}) && $psc->{runAsNonRoot},
   'pod: runAsNonRoot true');
is($psc->{runAsUser}, 1001, 'pod: runAsUser 1001');
is($psc->{runAsGroup}, 1001, 'pod: runAsGroup 1001');
is($psc->{fsGroup}, 1001, 'pod: fsGroup 1001 (group of the secret files)');
is($psc->{seccompProfile}{type}, 'RuntimeDefault', 'pod: seccomp RuntimeDefault');
ok(JSON::PP::is_bool($pod->{automountServiceAccountToken})
   && !$pod->{automountServiceAccountToken}, 'no service account token');
ok(!$pod->{$_}, "not $_") for qw(hostNetwork hostPID hostIPC);
my $labels = $dep->{spec}{template}{metadata}{labels};
for my $k (keys %{$dep->{spec}{selector}{matchLabels}}) {
    is($labels->{$k}, $dep->{spec}{selector}{matchLabels}{$k},
       "the selector matches the pod label $k");
}

chomp(my $version = `cat '$top/VERSION'`);

my %vol = map { $_->{name} => $_ } @{$pod->{volumes} || []};
my @containers = (@{$pod->{initContainers} || []}, @{$pod->{containers}});
is(scalar @{$pod->{containers}}, 1, 'one container');

sub qty {
    my ($q) = @_;
    my %u = (m => 1e-3, Ki => 2**10, Mi => 2**20, Gi => 2**30, K => 1e3,
             M => 1e6, G => 1e9);
    $q =~ /^([0-9.]+)(m|Ki|Mi|Gi|K|M|G)?$/ or return undef;
    return $1 * ($2 ? $u{$2} : 1);
}

my %writable;     # mount path => volume kind, for the writable mounts
my %ports;
for my $c (@containers) {
    my $n = $c->{name};
    my $sc = $c->{securityContext} || {};
    ok(JSON::PP::is_bool($sc->{allowPrivilegeEscalation})
       && !$sc->{allowPrivilegeEscalation}, "$n: allowPrivilegeEscalation false");
    ok(JSON::PP::is_bool($sc->{readOnlyRootFilesystem})
       && $sc->{readOnlyRootFilesystem}, "$n: readOnlyRootFilesystem true");
    is_deeply($sc->{capabilities}{drop}, ['ALL'], "$n: capabilities drop ALL");
    ok(!$sc->{capabilities}{add}, "$n: no capability added");
    ok(!$sc->{privileged}, "$n: not privileged");
    ok(!exists $sc->{runAsNonRoot} || $sc->{runAsNonRoot},
       "$n: runAsNonRoot not overridden");
    ok(!defined $sc->{runAsUser} || $sc->{runAsUser} == 1001,
       "$n: runAsUser not overridden");
    my ($tag) = $c->{image} =~ /:([^:\/]+)$/;
    is($tag, $version, "$n: the image tag is VERSION");

    my $res = $c->{resources} || {};
    for my $r (qw(cpu memory)) {
        my ($req, $lim) = map { qty($res->{$_}{$r} // '') } qw(requests limits);
        ok($req, "$n: requests.$r");
        ok($lim, "$n: limits.$r");
        ok($req && $lim && $req <= $lim, "$n: requests.$r within limits.$r");
    }

    for my $p (@{$c->{ports} || []}) {
        $ports{$p->{name}} = $p->{containerPort} if $p->{name};
        $ports{$p->{containerPort}} = $p->{containerPort};
    }

    for my $m (@{$c->{volumeMounts} || []}) {
        my $v = $vol{$m->{name}};
        ok($v, "$n: the volume of $m->{mountPath} exists") or next;
        if ($v->{secret}) {
            ok($m->{readOnly}, "$n: the secrets at $m->{mountPath} read-only");
        }
        if ($v->{configMap}) {
            ok($m->{readOnly}, "$n: the config at $m->{mountPath} read-only");
        }
        $writable{$m->{mountPath}} = 'emptyDir'
            if $v->{emptyDir} && !$m->{readOnly};
    }
}

my ($nginx) = @{$pod->{containers}};
my %mount = map { $vol{$_->{name}}{secret} ? ('secret' => $_->{mountPath})
                : $vol{$_->{name}}{configMap} ? ('config' => $_->{mountPath})
                : () } @{$nginx->{volumeMounts}};

# the secrets: files, not environment variables
my ($sv) = grep { $_->{secret} } values %vol;
ok($sv, 'a Secret volume');
my $mode = $sv->{secret}{defaultMode};
ok(defined $mode && ($mode & 07) == 0 && ($mode & 0222) == 0,
   sprintf('the secret files: defaultMode %s (no other user, no writes)',
           defined $mode ? sprintf('%04o', $mode) : 'unset'));
is($mount{secret}, '/run/secrets', 'mounted where the configuration reads');
my $env = encode_json($nginx->{env} || []) . encode_json($nginx->{envFrom} || []);
unlike($env, qr/secretKeyRef|secretRef/, 'no secret in the environment');

# the config: the ConfigMap, read by the command line
my ($cv) = grep { $_->{configMap} } values %vol;
is($cv->{configMap}{name}, $cm->{metadata}{name}, 'the config volume is the ConfigMap');
my $cmd = join ' ', @{$nginx->{command} || []}, @{$nginx->{args} || []};
like($cmd, qr{-c \Q$mount{config}\E/nginx\.conf\b},
     "nginx reads the ConfigMap's nginx.conf ($cmd)");
like($cmd, qr/daemon off;/, 'nginx in the foreground');

# every path nginx writes: on a writable emptyDir
sub under_writable {
    my ($path) = @_;
    return grep { $path eq $_ || index($path, "$_/") == 0 } keys %writable;
}
my @written;
push @written, $1 while $conf =~ /^\s*pid\s+(\S+);/mg;
push @written, $1 while $conf =~ /^\s*\w+_temp_path\s+([^\s;]+)/mg;
my $ntemp = @written;
push @written, $1 while $conf =~ /^\s*octopus_audit_spool\s+(\S+)/mg;
push @written, $1 while $conf =~ /^\s*(?:access_log|error_log)\s+(\/\S+?);?\s/mg;
push @written, $1 while $conf =~ /^\s*octopus_audit_file\s+(\S+?);?\s/mg;
@written = grep { !m{^/dev/(stdout|stderr)$} } @written;
is($ntemp, 6, 'the pid file and the five temp paths are in the configuration');
ok(scalar(grep { /audit-spool/ } @written), 'the spool is in the configuration');
for my $p (@written) {
    ok(under_writable($p), "$p is on a writable emptyDir");
}

# every file read from /run/secrets/ is one octopus-keygen all makes
my %secret_read = map { $_ => 1 } $conf =~ m{/run/secrets/([\w.-]+)}g;
ok(keys %secret_read >= 5, 'the configuration reads secrets from files: '
   . join(' ', sort keys %secret_read));
unlike($conf, qr/\bpassword=/, 'no password in the configuration');

# ---- probes: the Dockerfile's health check --------------------------------

my ($hc_port, $hc_path) = `cat '$top/Dockerfile'`
    =~ m{HEALTHCHECK.*?CMD\s+curl\s.*?http://127\.0\.0\.1:(\d+)(/\S*)}s;
ok($hc_path, "the Dockerfile's HEALTHCHECK: port $hc_port, $hc_path");
for my $probe (qw(livenessProbe readinessProbe)) {
    my $g = $nginx->{$probe}{httpGet};
    ok($g, "$probe: httpGet") or next;
    is($g->{path}, $hc_path, "$probe: the health check's path");
    is($ports{$g->{port}}, $hc_port, "$probe: the health check's port");
}
like($conf, qr/listen \Q$hc_port\E [^;]*;(?:(?!\n    server\s*\{).)*location = \Q$hc_path\E \{[^}]*return 200/s,
     "the server on $hc_port answers $hc_path with 200");

# ---- the Service ----------------------------------------------------------

my ($svc) = grep { ($_->{spec}{type} // 'ClusterIP') ne 'ExternalName' }
            @{$by{Service}};
ok($svc, 'a Service for the pods');
for my $k (keys %{$svc->{spec}{selector} || {}}) {
    is($labels->{$k}, $svc->{spec}{selector}{$k}, "Service selector $k");
}
ok(keys %{$svc->{spec}{selector} || {}}, 'the Service selects pods');
for my $p (@{$svc->{spec}{ports}}) {
    ok($ports{$p->{targetPort}}, "Service port $p->{port} -> $p->{targetPort}");
}
my %ext = map { $_->{metadata}{name} => 1 }
          grep { ($_->{spec}{type} // '') eq 'ExternalName' } @{$by{Service}};
like($conf, qr/octopus_ratelimit_redis (\S+):\d+/, 'Redis by name');
my ($rhost) = $conf =~ /octopus_ratelimit_redis (\S+):\d+/;
my ($phost) = $conf =~ /octopus_audit_pg "host=(\S+)/;
ok($ext{$rhost}, "Redis ($rhost) is an external Service");
ok($ext{$phost}, "PostgreSQL ($phost) is an external Service");

# ---- the ConfigMap is current and runs -------------------------------------

($rc, my $out) = Octopus::Test::capture('/usr/bin/python3',
                                        "$kdir/gen-configmap", '--check');
is($rc, 0, 'configmap.yaml is current with conf/nginx.conf') or diag($out);

my $t = Octopus::Test->new;
my $s = Octopus::Stack->new($t);
my $plain = $s->secrets;

# the Secret as the kubelet mounts one: NAME -> ..data/NAME, ..data ->
# ..TIMESTAMP/, the files 0440 with the group of fsGroup
my $sec = "$t->{dir}/run-secrets";
my $ts = "..2026_01_01_00_00_00.000000001";
system('mkdir', '-p', "$sec/$ts") == 0 or die;
for my $f (glob "$plain/*") {
    (my $n = $f) =~ s{.*/}{};
    system('cp', $f, "$sec/$ts/$n") == 0 or die;
    chmod $mode, "$sec/$ts/$n";
    symlink "..data/$n", "$sec/$n" or die;
}
symlink $ts, "$sec/..data" or die;
for my $n (sort keys %secret_read) {
    ok(-f "$sec/$n", "the Secret has $n");
}

$s->database;
$s->redis;
my $bport = $s->backend;

my $c = $conf;
$c =~ s/^load_module .*\n//mg;
$c =~ s/^(pid|error_log) .*\n//mg;
$c =~ s/^\s*\w+_temp_path .*\n//mg;
$c =~ s{/run/secrets/}{$sec/}g;
$c =~ s{/var/lib/octopus/}{%%PREFIX%%/}g;
$c =~ s{access_log /dev/stdout}{access_log %%PREFIX%%/access.log}g;
$c =~ s{\b\Q$rhost\E:6379}{127.0.0.1:%%REDIS_PORT%%}g;
$c =~ s{host=\Q$phost\E port=5432}{host=127.0.0.1 port=%%PG_PORT%%}g;
$c =~ s{server trading-backend:8000;}{server 127.0.0.1:$bport;}g;
$c =~ s{listen 8080 }{listen 127.0.0.1:%%PORT_http%% }g;
$c =~ s{listen 8443 }{listen 127.0.0.1:%%PORT_https%% }g;
mkdir "$t->{dir}/audit-spool", 0700;

my ($ok, $tout) = $t->nginx_test($c);
ok($ok, "nginx -t: the ConfigMap's nginx.conf, the kubelet's Secret layout")
    or diag($tout);
$t->nginx_conf($c);
$t->run;

my $r = $t->http(uri => $hc_path, port => $t->port('http'));
is($r->{status}, 200, "the probe: GET $hc_path on the http port answers 200");
my $hp = $t->port('https');
for my $path ('/metrics', '/metrics/auth', '/metrics/ratelimit') {
    my ($rc, $body) = Octopus::Test::capture('curl', '-sk', '--max-time', '5',
        '--resolve', "api.octopus.trading:$hp:127.0.0.1",
        "https://api.octopus.trading:$hp$path");
    like($body, qr/^# TYPE octopus_\w+ /m, "https $path: metrics");
}

$t->done;
