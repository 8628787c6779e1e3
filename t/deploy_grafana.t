#!/usr/bin/perl

# deploy/grafana/octopus-guard.json and conf/prometheus/alerts.yml: every
# PromQL expression (the dashboard's panel targets and its variable
# queries, the alert rules) parses with promtool (the dashboard's as
# recording rules of a generated file, Grafana's $variables given values;
# the alert file as it is, with promtool check rules), and names only
# metrics the modules export, with only labels their samples carry.
#
# The exported names come from the running modules, not from a list: the
# three modules loaded, every feature that adds metric families configured
# (a JWKS URL, revocation over Redis, a Redis rate limit, the PostgreSQL
# sink with its spool), a few requests made, then the # TYPE lines of
# octopus_metrics, octopus_auth_metrics and octopus_ratelimit_metrics
# (a histogram's family gives NAME_bucket, _sum and _count).  Every scrape
# also passes promtool check metrics.
#
# deploy/prometheus/prometheus.yml passes promtool check config (its
# Kubernetes discovery given as static targets: Debian's promtool lacks
# it) with the alert rules, and scrapes the ConfigMap's three metrics
# locations.
#
# The dashboard also carries what an operator needs: a panel for each of
# requests by auth result, denials, rate-limit rejections and fallbacks,
# lockouts, Redis errors, audit records written, spooled and dropped, queue
# depth, JWKS fetch errors, revocation, JWT cache hits and misses and the
# build.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use Cwd qw(abs_path);

my $top = abs_path('.');
my $dash_file = "$top/deploy/grafana/octopus-guard.json";
my $alerts_file = "$top/conf/prometheus/alerts.yml";

# names a dashboard panel uses before the code exports them (another
# branch adds them): a TODO test while missing, to be emptied at merge
my %PENDING = ();

# ---- the exported metrics -------------------------------------------------

my $t = Octopus::Test->new;
$t->pg_start;
$t->psql($t->read_file("$top/conf/sql/001_audit_schema.sql"));
my $secret = Octopus::Test::random_secret();
$t->write_file('hs.key', "$secret\n");
$t->write_file('chain.key', Octopus::Test::random_secret() . "\n");
mkdir "$t->{dir}/spool", 0700;

# the key set URL answers nothing (a closed port): its families are
# printed all the same, with the fetch errors counted
$t->allow_log(qr/octopus_auth_jwks_url|jwks|key set|connect\(\) .* failed/i);
$t->allow_log(qr/octopus revocation/);

$t->nginx_conf(<<'EOF');
worker_processes 2;
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/hs.key;
    octopus_auth_jwks_url https://localhost:%%PORT_idp%%/certs
                          refresh=1s timeout=1s;
    octopus_auth_revocation redis=%%REDIS%% failure=keep resync=1s;
    octopus_auth_role trader read trade;

    octopus_ratelimit_redis %%REDIS%%;
    octopus_ratelimit_zone ip key=$binary_remote_addr rate=2r/m size=1m;
    octopus_ratelimit_zone user key=$octopus_user rate=600r/m size=1m
                           sync=100ms;

    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_spool %%PREFIX%%/spool max_size=10m;
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_chain_key %%PREFIX%%/chain.key;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_auth_require trade;
            octopus_ratelimit ip;
            octopus_ratelimit user;
            proxy_pass http://%%BACKEND%%;
        }

        location = /metrics { octopus_audit off; octopus_metrics; }
        location = /metrics/auth { octopus_audit off; octopus_auth_metrics; }
        location = /metrics/ratelimit {
            octopus_audit off;
            octopus_ratelimit_metrics;
        }
    }
}
EOF
$t->run;

my $tok = Octopus::Test::mint_hs256($secret, '{"sub":"alice","role":"trader"}');
my $tok_r = Octopus::Test::mint_hs256($secret, '{"sub":"bob","role":"reader"}');
$t->get('/api/x');                                        # missing
$t->get('/api/x', Authorization => 'Bearer x.y.z');       # invalid
$t->get('/api/x', Authorization => "Bearer $tok_r");      # forbidden
$t->get('/api/x', Authorization => "Bearer $tok") for 1 .. 4;   # limited
ok($t->wait_for(sub { $t->psql('SELECT count(*) FROM audit.api_calls')
                      =~ /\b[1-9]/ }, 10),
   'audit records reached PostgreSQL');

my (%type, %labels, %samples);
for my $path ('/metrics', '/metrics/auth', '/metrics/ratelimit') {
    my $r = $t->get($path);
    is($r->{status}, 200, "GET $path");
    my $body = $r->{body} // '';
    for (split /\n/, $body) {
        if (/^# TYPE (\S+) (\S+)$/) {
            $type{$1} = $2;
            next;
        }
        next if /^#/ || !/\S/;
        my ($name, $l) = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/ or next;
        $samples{$name}++;
        $labels{$name}{$1} = 1 while ($l // '') =~ /(\w+)="(?:[^"\\]|\\.)*"/g;
    }
    my $f = $t->write_file('scrape' . ($path =~ s{/}{_}gr) . '.txt', $body);
    my ($rc, $out) = Octopus::Test::capture('sh', '-c',
                                            "promtool check metrics < '$f'");
    is($rc, 0, "promtool check metrics: $path") or diag($out);
}

my %exported;
for my $n (keys %type) {
    if ($type{$n} =~ /^(histogram|summary)$/) {
        $exported{"${n}_$_"} = $n for qw(bucket sum count);
        $exported{$n} = $n if $type{$n} eq 'summary';
    } else {
        $exported{$n} = $n;
    }
}
# Prometheus's own series of every target (a scrape that fails sets it to
# 0): the one name an alert may use that no module prints
$labels{up} = { job => 1, instance => 1 };
$exported{up} = 'up';

# samples need a # TYPE: a name printed without one is not a family
for my $n (sort keys %samples) {
    ok($exported{$n}, "$n is declared by a # TYPE line");
}
ok(keys %type >= 30, scalar(keys %type) . ' families exported');
for my $f (qw(octopus_requests_total octopus_auth_jwks_fetch_errors_total
              octopus_auth_revocation_current octopus_auth_jwt_cache_hits_total
              octopus_ratelimit_fallback_total octopus_audit_queue_depth
              octopus_audit_records_dropped_total)) {
    ok($type{$f}, "the configuration brings out $f");
}

# ---- the expressions ------------------------------------------------------

open my $fh, '<', $dash_file or die "$dash_file: $!";
my $dash = decode_json(do { local $/; <$fh> });
close $fh;

is($dash->{uid}, 'octopus-guard', 'the dashboard uid');
my @dvars = map { $_->{name} } @{$dash->{templating}{list} || []};
ok(grep({ $_ eq 'datasource' } @dvars), 'a datasource variable');

my @dexpr;     # [ where, expr ]
sub walk {
    my ($panels) = @_;
    for my $p (@$panels) {
        walk($p->{panels}) if $p->{panels};
        for my $tg (@{$p->{targets} || []}) {
            push @dexpr, [ "panel \"$p->{title}\" $tg->{refId}", $tg->{expr} ]
                if defined $tg->{expr};
        }
    }
}
walk($dash->{panels});
ok(@dexpr >= 20, scalar(@dexpr) . ' panel expressions');

my %ids;
$ids{$_->{id}}++ for @{$dash->{panels}};
is((grep { $ids{$_} > 1 } keys %ids), 0, 'panel ids are unique');

# variable queries: label_values(metric, label) is Grafana's, the selector
# in it is PromQL
for my $v (@{$dash->{templating}{list} || []}) {
    next unless $v->{type} eq 'query';
    my $q = ref $v->{query} ? $v->{query}{query} : $v->{query};
    my ($sel, $label) = $q =~ /^label_values\((.+),\s*(\w+)\)$/;
    ok($sel, "variable $v->{name}: label_values(selector, label)") or next;
    push @dexpr, [ "variable $v->{name}", $sel ];
    ok($labels{$sel}{$label} || $label eq 'instance' || $label eq 'job',
       "variable $v->{name}: $sel has the label $label");
}

# Grafana's variables given values promtool accepts
sub grafana_expand {
    my ($e) = @_;
    $e =~ s/\$__rate_interval|\$__interval|\$\{__rate_interval\}/5m/g;
    $e =~ s/\$\{?__range\}?/1h/g;
    $e =~ s/\$\{?(\w+)\}?/.*/g;
    return $e;
}

my ($rc, $aj) = Octopus::Test::capture('/usr/bin/python3', '-c',
    'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
    $alerts_file);
is($rc, 0, 'alerts.yml parses') or diag($aj);
my @aexpr;
my @arules;
for my $g (@{decode_json($aj)->{groups} || []}) {
    for my $r (@{$g->{rules}}) {
        push @aexpr, [ "alert $r->{alert}", $r->{expr} ];
        push @arules, $r;
    }
}
ok(@aexpr >= 5, scalar(@aexpr) . ' alert rules');

($rc, my $out) = Octopus::Test::capture('promtool', 'check', 'rules',
                                        $alerts_file);
is($rc, 0, 'promtool check rules conf/prometheus/alerts.yml') or diag($out);

# the dashboard's expressions as recording rules: promtool parses each
my $rules = "groups:\n  - name: dashboard\n    rules:\n";
for my $i (0 .. $#dexpr) {
    my $e = grafana_expand($dexpr[$i][1]);
    $e =~ s/'/''/g;
    $rules .= "      - record: octopus:dashboard:$i\n        expr: '$e'\n";
}
my $rf = $t->write_file('dashboard-rules.yml', $rules);
($rc, $out) = Octopus::Test::capture('promtool', 'check', 'rules', $rf);
is($rc, 0, 'promtool parses every dashboard expression') or diag($out);
like($out, qr/SUCCESS: ${\ scalar @dexpr} rules found/,
     'promtool counted them all');

# a broken expression is refused by the same check (it can fail)
my $bad = $t->write_file('bad-rules.yml', "groups:\n  - name: b\n    rules:\n"
    . "      - record: x:y\n        expr: 'sum(rate(octopus_requests_total[5m])'\n");
($rc) = Octopus::Test::capture('promtool', 'check', 'rules', $bad);
isnt($rc, 0, 'promtool refuses an unbalanced expression');

# metric names and labels of an expression (no PromQL parser in Perl:
# strings, durations and grouping clauses removed, the rest read as
# selectors)
my %KEYWORD = map { $_ => 1 } qw(by without on ignoring group_left
    group_right bool and or unless offset inf nan);

sub selectors {
    my ($e) = @_;
    my (@sel, %grouping);
    $e = grafana_expand($e);
    while ($e =~ /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g) {
        $grouping{$_} = 1 for grep { length } split /\s*,\s*/, $1 =~ s/^\s+|\s+$//gr;
    }
    $e =~ s/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)//g;
    $e =~ s/\[[^\]]*\]//g;
    while ($e =~ /(?<![\w:"])([a-zA-Z_:][\w:]*+)\s*(\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\})?(?!\s*\()/g) {
        my ($name, $m) = ($1, $3);
        next if $KEYWORD{lc $name};
        next if $name =~ /^\d/;
        my @l = ($m // '') =~ /(\w+)\s*(?:=~|!~|!=|=)\s*"/g;
        push @sel, [ $name, \@l ];
    }
    # a bare {..} selector after a function: its labels, no name
    return (\@sel, [ keys %grouping ]);
}

# the checker itself: known answers
{
    my ($s, $g) = selectors('sum by (zone, reason) (rate(a_total{x="1",y=~"b|c"}[5m])) / on(i) b_c');
    is(join(' ', map { "$_->[0]:" . join(',', @{$_->[1]}) } @$s),
       'a_total:x,y b_c:', 'selectors: names and matcher labels');
    is(join(',', sort @$g), 'i,reason,zone', 'selectors: grouping labels');
}

my %ADDED = map { $_ => 1 } qw(instance job le);
for my $x (@dexpr, @aexpr) {
    my ($where, $e) = @$x;
    my ($sel, $group) = selectors($e);
    ok(@$sel, "$where: names a metric") or diag($e);
    my %have;
    for my $s (@$sel) {
        my ($name, $l) = @$s;
        if ($PENDING{$name} && !$exported{$name}) {
            TODO: {
                local $TODO = "$name: $PENDING{$name}";
                ok($exported{$name}, "$where: $name is exported");
            }
            next;
        }
        ok($exported{$name}, "$where: $name is exported") or diag($e);
        $have{$_} = 1 for keys %{$labels{$name} || {}};
        for my $lab (@$l) {
            next if $ADDED{$lab};
            ok($labels{$name}{$lab}, "$where: $name has the label $lab")
                or diag($e);
        }
    }
    for my $lab (@$group) {
        next if $ADDED{$lab};
        ok($have{$lab} || grep({ $PENDING{$_->[0]} } @$sel),
           "$where: grouping label $lab is on its metrics") or diag($e);
    }
}

# ---- the alerts' templates name labels their expression keeps -----------
#
# {{ $labels.X }} in a summary is empty when the expression aggregated X
# away (sum(...) by (le) keeps only le)

# alerts of conf/prometheus/alerts.yml (not this branch's file) known to
# break the rule, reported: a TODO test while they do
my %ALERT_DEFECT = ();

sub kept_by_all_aggregations {
    my ($e, $label) = @_;
    my $AGG = qr/\b(?:sum|min|max|avg|count|stddev|stdvar|topk|bottomk|quantile|count_values|group)\b/;
    while ($e =~ /$AGG\s*(?:(by|without)\s*\(([^)]*)\))?\s*\(/g) {
        my ($kind, $list) = ($1, $2);
        my $open = pos($e) - 1;
        unless ($kind) {
            # the grouping may follow the argument: sum(x) by (l)
            my ($depth, $i) = (0, $open);
            for (; $i < length $e; $i++) {
                my $ch = substr($e, $i, 1);
                $depth++ if $ch eq '(';
                $depth-- if $ch eq ')';
                last if $depth == 0;
            }
            ($kind, $list) = substr($e, $i + 1) =~ /^\s*(by|without)\s*\(([^)]*)\)/;
        }
        my %l = map { $_ => 1 } split /\s*,\s*/, ($list // '') =~ s/^\s+|\s+$//gr;
        return 0 if !$kind;
        return 0 if $kind eq 'by' && !$l{$label};
        return 0 if $kind eq 'without' && $l{$label};
    }
    return 1;
}

ok(!kept_by_all_aggregations('sum(rate(x[5m])) by (le)', 'instance')
   && kept_by_all_aggregations('sum by (instance) (rate(x[5m]))', 'instance')
   && kept_by_all_aggregations('rate(x[5m]) > 1', 'instance')
   && !kept_by_all_aggregations('sum(rate(x[5m])) > 1', 'instance'),
   'the label check itself: known answers');

for my $r (@arules) {
    ok($r->{labels}{severity}, "alert $r->{alert}: a severity");
    ok($r->{annotations}{summary}, "alert $r->{alert}: a summary");
    my $text = join ' ', values %{$r->{annotations} || {}},
                         values %{$r->{labels} || {}};
    my %used = map { $_ => 1 } $text =~ /\$labels\.(\w+)/g;
    for my $l (sort keys %used) {
        my $ok = kept_by_all_aggregations($r->{expr}, $l);
        if ($ALERT_DEFECT{$r->{alert}} && !$ok) {
            TODO: {
                local $TODO = "$r->{alert}: $ALERT_DEFECT{$r->{alert}}";
                ok($ok, "alert $r->{alert}: its expression keeps $l");
            }
            next;
        }
        ok($ok, "alert $r->{alert}: its expression keeps $l")
            or diag($r->{expr});
    }
}

# ---- deploy/prometheus/prometheus.yml -------------------------------------
#
# Debian's promtool is built without the Kubernetes service discovery: the
# file is checked with its kubernetes_sd_configs given as static targets
# (the rest as written), its rule file being conf/prometheus/alerts.yml.
# Its three metrics paths are the ConfigMap's three metrics locations.

{
    my $pdir = "$t->{dir}/prometheus";
    mkdir $pdir;
    my $pc = $t->read_file("$top/deploy/prometheus/prometheus.yml");
    ok($pc, 'deploy/prometheus/prometheus.yml');
    my $n = ($pc =~ s{kubernetes_sd_configs:\n(\s+)- role: pod\n}
                      {static_configs:\n$1- targets: ['127.0.0.1:8443']\n}g);
    is($n, 3, 'three jobs discover the pods');
    $pc =~ s{/etc/prometheus/}{$pdir/}g;
    $t->write_file("$pdir/octopus-ca.pem", '');
    system('cp', $alerts_file, "$pdir/octopus-alerts.yml") == 0 or die;
    my $f = $t->write_file("$pdir/prometheus.yml", $pc);
    my ($rc, $out) = Octopus::Test::capture('promtool', 'check', 'config', $f);
    is($rc, 0, 'promtool check config') or diag($out);
    like($out, qr/SUCCESS: 1 rule files found/, 'with the alert rules');

    my ($yrc, $yj) = Octopus::Test::capture('/usr/bin/python3', '-c',
        'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
        "$top/deploy/prometheus/prometheus.yml");
    my $pcfg = decode_json($yj);
    my %paths = map { $_->{metrics_path} => $_ } @{$pcfg->{scrape_configs}};
    my ($cmrc, $cmj) = Octopus::Test::capture('/usr/bin/python3', '-c',
        'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
        "$top/deploy/kubernetes/configmap.yaml");
    my $kconf = decode_json($cmj)->{data}{'nginx.conf'};
    for my $d (qw(octopus_metrics octopus_auth_metrics
                  octopus_ratelimit_metrics)) {
        my ($loc) = $kconf =~ /location = (\S+) \{\s*\Q$d\E;/;
        ok($loc, "the ConfigMap serves $d") or next;
        ok($paths{$loc}, "prometheus.yml scrapes $loc ($d)");
        is($paths{$loc}{scheme}, 'https', "$loc: https (the 8443 server)");
    }
}

# ---- what an operator needs is on it --------------------------------------

my $all = join "\n", map { $_->[1] } @dexpr;
for my $need (qw(octopus_requests_total octopus_rbac_denials_total
                 octopus_ratelimit_rejections_total
                 octopus_ratelimit_fallback_total
                 octopus_account_lockouts_total octopus_redis_errors_total
                 octopus_audit_records_written_total
                 octopus_audit_records_spooled_total
                 octopus_audit_records_dropped_total
                 octopus_audit_queue_depth
                 octopus_auth_jwks_fetch_errors_total
                 octopus_auth_revocation_current
                 octopus_auth_revocation_refusals_total
                 octopus_auth_jwt_cache_hits_total
                 octopus_auth_jwt_cache_misses_total octopus_build_info)) {
    like($all, qr/\b\Q$need\E\b/, "the dashboard shows $need");
}

$t->done;
