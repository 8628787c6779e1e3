#!/usr/bin/perl

# `make bench`: Octopus Guard side by side with bare nginx and with peers.
#
#   perl bench/ngx_octopus_bench.pl [--quick] [--out DIR] [--rounds N]
#       [--duration S] [--warmup S] [--connections C] [--threads T]
#       [--jwt-bench PATH] [--only NAME,...]
#       [--profile NAME [--profile-file FILE]]
#
# Starts one fast upstream (nginx answering `return 200` with a small JSON
# body), Redis and PostgreSQL (through t/lib/Octopus/Test.pm, on free
# loopback ports), then one nginx (or HAProxy) per scenario, all at once.
# Every round runs wrk against each scenario in turn (a warm-up run that is
# thrown away, then the measured run; same wrk settings for all), the start
# of the order rotating by one scenario per round so that drift affects all
# alike.  Writes DIR/latest.md (medians over the rounds, ratios to the bare
# proxy, the targets, Redis commands per request, audit rows per
# second reaching PostgreSQL, queue and spool, worker RSS before and after,
# load average, the JWT verify microbenchmark) and DIR/latest.png.
#
# CPU per request: /proc/PID/stat (utime + stime, in CLK_TCK ticks) read
# around every measured run for the worker(s) of the nginx under test
# (HAProxy: its process) and Redis (the measured wrk run), and for the
# PostgreSQL postmaster and all its children (from just before the measured
# run until every row of the round is in the table; the bench's own
# row-counting session is left out).  See bench/README.md.
#
# --profile NAME (make bench-profile SCENARIO=NAME): the bare proxy and NAME,
# one round, `perf record -g` on NAME's worker during its measured run; the
# top symbols go to --profile-file (default DIR/profile-NAME.txt).
#
# --quick (make bench QUICK=1): one short round; exits non-zero unless every
# scenario ran and produced numbers with only 2xx answers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Octopus::Test;
use Getopt::Long;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path);
use File::Temp ();
use Cwd qw(abs_path);
use IPC::Open2 qw(open2);
use IO::Select;

my $TOP = abs_path("$FindBin::Bin/..");

my %o = (
    quick       => 0,
    out         => "$TOP/bench/results",
    rounds      => 3,
    duration    => 6,
    warmup      => 1,
    connections => 32,
    threads     => 1,
    jwt_bench   => '',
    only        => '',
    paired      => 1,
    workdir     => "$TOP/build/bench-run",
    profile     => '',
    profile_file => '',
);

GetOptions(\%o, 'quick!', 'out=s', 'rounds=i', 'duration=i', 'warmup=i',
           'connections=i', 'threads=i', 'jwt-bench=s' => \$o{jwt_bench},
           'only=s', 'paired!', 'workdir=s', 'profile=s',
           'profile-file=s' => \$o{profile_file})
    or die "usage: $0 [--quick] [--out DIR] ...\n";

if ($o{quick}) {
    $o{rounds} = 1;
    $o{duration} = 2;
    $o{warmup} = 1;
    $o{paired} = 0;
}

if ($o{profile}) {
    die "--profile: one scenario name\n" unless $o{profile} =~ /^\w+$/;
    $o{only} = $o{profile};
    $o{rounds} = 1;
    $o{paired} = 0;
}

make_path($o{out});
$o{out} = abs_path($o{out});

# every prefix (nginx, Redis, PostgreSQL) in our own folder, not in /tmp,
# where other suites' clean-ups may remove them during a long run
File::Path::remove_tree($o{workdir}) if -d $o{workdir};
make_path($o{workdir});
$o{workdir} = abs_path($o{workdir});

# PostgreSQL and nginx's workers run as other users: a work folder they
# cannot reach (a clone under a 0700 folder) is replaced by a temp folder
unless (Octopus::Test::searchable_by_all($o{workdir})) {
    $o{workdir} = File::Temp::tempdir('octopus-bench-XXXXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);
    chmod 0755, $o{workdir};
    print "work folder: $o{workdir} (the one asked for is not reachable "
          . "by the postgres and nginx users)\n";
}

my $PY = '/usr/bin/python3';
my $MODDIR = '/usr/lib/nginx/modules';
my $started = time;
my @loadavg;

sub progress { printf STDERR "[%6.1fs] %s\n", time - $started, "@_" }

sub loadavg {
    open my $fh, '<', '/proc/loadavg' or return '?';
    my $l = <$fh>;
    return (split ' ', $l)[0];
}

sub run_cmd {
    my ($rc, $out) = Octopus::Test::capture(@_);
    die "@_ failed:\n$out" if $rc;
    return $out;
}


# services: secrets, upstream, Redis, PostgreSQL

my $svc = Octopus::Test->new(modules => [], dir => "$o{workdir}/svc");
my $sec = "$svc->{dir}/secrets";
make_path($sec);

my $hs_secret = Octopus::Test::random_secret();
$svc->write_file('secrets/hs256.key', "$hs_secret\n");
run_cmd('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
        'rsa_keygen_bits:2048', '-out', "$sec/rs256.pem");
run_cmd('openssl', 'pkey', '-in', "$sec/rs256.pem", '-pubout',
        '-out', "$sec/rs256.pub.pem");
run_cmd('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
        'ec_paramgen_curve:P-256', '-out', "$sec/es256.pem");
run_cmd('openssl', 'pkey', '-in', "$sec/es256.pem", '-pubout',
        '-out', "$sec/es256.pub.pem");

# tokens minted by PyJWT, not by our code
sub mint {
    my ($alg, $key) = @_;
    my $tok = run_cmd($PY, '-c', <<'EOF', $alg, $key);
import sys, time, jwt
alg, keyfile = sys.argv[1], sys.argv[2]
key = open(keyfile, 'rb').read()
if alg == 'HS256':
    key = key.rstrip(b'\n')
now = int(time.time())
print(jwt.encode({'sub': 'bench', 'role': 'trader', 'iat': now,
                  'exp': now + 3300}, key, algorithm=alg))
EOF
    chomp $tok;
    return $tok;
}

my $tok_hs = mint('HS256', "$sec/hs256.key");
my $tok_rs = mint('RS256', "$sec/rs256.pem");

# many users: N distinct tokens (sub user1 .. userN), by PyJWT on both
# cores (the key loaded once), one a line, minted when a scenario needs
# them; wrk sends them round robin (a Lua request() over the file)
sub mint_users {
    my ($alg, $n) = @_;
    my $file = "$sec/users-$alg-$n.txt";
    return $file if -s $file;
    my $t0 = time;
    run_cmd($PY, '-c', <<'EOF', $alg, lc($alg) . '.pem', $n, $file, $sec);
import os, sys, time, jwt, multiprocessing
from cryptography.hazmat.primitives.serialization import load_pem_private_key
alg, keyname, n, out, sec = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                             sys.argv[4], sys.argv[5])
key = load_pem_private_key(open(sec + '/' + keyname, 'rb').read(), None)
now = int(time.time())
def one(i):
    return jwt.encode({'sub': 'user%d' % i, 'role': 'trader', 'iat': now,
                       'exp': now + 3300}, key, algorithm=alg)
with multiprocessing.Pool(2) as p:
    toks = p.map(one, range(1, n + 1), chunksize=512)
with open(out + '.new', 'w') as f:
    f.write('\n'.join(toks) + '\n')
os.rename(out + '.new', out)
EOF
    progress(sprintf "minted %d %s tokens in %.0f s", $n, $alg, time - $t0);
    return $file;
}

sub users_script {
    my ($file) = @_;
    (my $lua = $file) =~ s/\.txt$/.lua/;
    open my $fh, '>', $lua or die "$lua: $!";
    print $fh <<"EOF";
-- round robin over the tokens of $file, one request each
local toks = {}
for line in io.lines("$file") do
    toks[#toks + 1] = "Bearer " .. line
end
local i = 0
request = function()
    i = i % #toks + 1
    return wrk.format(nil, nil, { Authorization = toks[i] })
end
EOF
    close $fh;
    return $lua;
}

my $api_key = 'obk_' . join '', map { sprintf '%02x', int rand 256 } 1 .. 24;
$svc->write_file('secrets/api-keys',
                 "bench " . sha256_hex($api_key) . " trader\n");

my $be = Octopus::Test->new(modules => [], dir => "$o{workdir}/upstream");
$be->nginx_conf(<<'EOF');
worker_processes 1;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:%%PORT_http%% backlog=4096;
        access_log off;
        location / {
            default_type application/json;
            return 200 '{"ok":true,"service":"bench-upstream"}\n';
        }
    }
}
EOF
$be->run;
my $BE = $be->port('http');

my $REDIS = $svc->redis_start;
my $PG = $svc->pg_start;
for my $sql (sort glob("$TOP/conf/sql/*.sql")) {
    $svc->psql($svc->read_file($sql));
}
my $PG_DSN = "host=127.0.0.1 port=$PG dbname=octopus user=postgres";
progress("upstream :$BE, redis :$REDIS, postgresql :$PG");


# CPU time from /proc/PID/stat: utime + stime of the process (all its
# threads), cutime + cstime of its children it has waited for, in ticks of
# CLK_TCK

my $CLK_TCK = run_cmd('getconf', 'CLK_TCK');
chomp $CLK_TCK;
die "getconf CLK_TCK: '$CLK_TCK'\n" unless $CLK_TCK =~ /^\d+$/ && $CLK_TCK;

sub pstat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return undef;
    my $l = <$fh>;
    close $fh;
    # the name may hold spaces and parentheses: the fields follow the last ')'
    return undef unless $l && $l =~ /^(\d+) \((.*)\) (.*)$/s;
    my ($p, $comm, @f) = ($1, $2, split ' ', $3);   # $f[0]: field 3, state
    return { pid => $p, comm => $comm, ppid => $f[1],
             ticks => $f[11] + $f[12], cticks => $f[13] + $f[14],
             start => $f[19] };
}

# a snapshot: "pid/starttime" => stat (a pid reused is another process)
sub cpu_snap {
    my %s;
    for my $pid (@_) {
        my $p = pstat($pid) or next;
        $s{"$pid/$p->{start}"} = $p;
    }
    return \%s;
}

# ticks between two snapshots: the processes in both, plus the whole time
# of those that appeared; (ticks, new, gone)
sub cpu_delta {
    my ($x, $y) = @_;
    my ($t, $new) = (0, 0);
    for my $k (keys %$y) {
        if ($x->{$k}) {
            $t += $y->{$k}{ticks} - $x->{$k}{ticks};
        } else {
            $t += $y->{$k}{ticks};
            $new++;
        }
    }
    my $gone = grep { !$y->{$_} } keys %$x;
    return ($t, $new, $gone);
}

sub ticks_us { return $_[0] * 1e6 / $CLK_TCK }


# one psql session for every row count of the bench: its backend (and the
# count(*) scans it runs) is known and left out of PostgreSQL's CPU, where
# a psql per count would add a backend start and exit each time

my $PSQL = Octopus::Test::_pg_bin($svc, 'psql') || 'psql';
my ($pgc_in, $pgc_out);
my $pgc_pid = do {
    local $ENV{PGCONNECT_TIMEOUT} = 5;
    open2($pgc_out, $pgc_in, $PSQL, '-X', '-q', '-A', '-t',
          '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', $PG,
          '-U', 'postgres', '-d', 'octopus');
};
$pgc_in->autoflush(1);

sub pgc_query {
    my ($sql) = @_;
    print $pgc_in "$sql\n" or die "psql session: $!\n";
    IO::Select->new($pgc_out)->can_read(60)
        or die "psql session: no answer in 60 s to: $sql\n";
    my $l = <$pgc_out>;
    die "psql session ended at: $sql\n" unless defined $l;
    chomp $l;
    return $l;
}

# no parallel workers for its scans: they would be postmaster children
pgc_query('SET max_parallel_workers_per_gather = 0; SELECT 1;');
my $pgc_backend = pgc_query('SELECT pg_backend_pid();');
die "psql session: backend pid '$pgc_backend'\n"
    unless $pgc_backend =~ /^\d+$/;

END {
    if ($pgc_pid) {
        local $?;
        close $pgc_in;
        waitpid $pgc_pid, 0;
    }
}

# the postmaster and all its children but the counting session's backend
sub pg_snap {
    my $pm = $svc->{procs}{pg};
    my $s = cpu_snap($pm, grep { $_ != $pgc_backend }
                          Octopus::Test::_children($pm));
    my ($k) = grep { $s->{$_}{pid} == $pm } keys %$s;
    $s->{postmaster} = $k;
    return $s;
}

# the children that exited in between were waited for by the postmaster:
# their whole time is in its cutime + cstime, less what they had at the
# first snapshot
sub pg_delta {
    my %x = %{$_[0]};
    my %y = %{$_[1]};
    my $px = delete $x{postmaster};
    my $py = delete $y{postmaster};
    my ($t, $new, $gone) = cpu_delta(\%x, \%y);
    return undef unless $px && $py && $px eq $py;
    $t += $y{$py}{cticks} - $x{$px}{cticks};
    $t -= $x{$_}{ticks} for grep { !$y{$_} } keys %x;
    return ($t, $new, $gone, scalar keys %x, scalar keys %y);
}


# scenario configurations

sub ngx_tpl {
    my (%a) = @_;
    $a{$_} //= '' for qw(main http loc servers);
    return <<"EOF";
$a{main}
worker_processes 1;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$BE;
        keepalive 64;
        keepalive_requests 1000000;
    }
$a{http}
    server {
        listen 127.0.0.1:%%PORT_http%% backlog=4096;
        access_log off;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
$a{loc}
            proxy_pass http://backend;
        }
    }
$a{servers}
}
EOF
}

my $AUTH = 'ngx_octopus_auth_module';
my $RL = 'ngx_octopus_ratelimit_module';
my $AUDIT = 'ngx_octopus_audit_module';

my $metrics_server = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_metrics%%;
        access_log off;
        location = /metrics { octopus_audit off; octopus_metrics; }
    }
EOF

my $audit_pg_http = <<"EOF";
    octopus_audit_pg "$PG_DSN";
    octopus_audit_table audit.api_calls;
    octopus_audit_spool %%PREFIX%%/spool;
    octopus_audit_node bench;
    octopus_audit on;
EOF

# the sliding window of ngx_octopus_ratelimit_lua.c, one key, for the Lua
# peer: the same Redis work per request
my $sw_lua = <<'EOF';
local t = redis.call('TIME')
local now = math.floor((tonumber(t[1]) * 1000000 + tonumber(t[2])) / 1000)
local rate = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local win = now - now % period
local st = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(st[1]) or 0
local c = tonumber(st[2]) or 0
local p = tonumber(st[3]) or 0
if w ~= win then
  if w + period == win then p = c else p = 0 end
  c = 0
end
local el = now - win
local used = p * (period - el) + c * period
local cap = rate * period
if used + period <= cap then
  c = c + 1
  redis.call('HSET', KEYS[1], 'w', string.format('%.0f', win),
             'c', string.format('%.0f', c), 'p', string.format('%.0f', p))
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', 2 * period))
  return {1, math.floor((cap - used - period) / period)}
end
return {0, 0}
EOF

my $njs = <<"EOF";
// HS256 validation in njs, the pattern of nginx's own njs JWT examples:
// js_set evaluates it, `if` refuses what is not valid.
var crypto = require('crypto');
var key = '$hs_secret';

function b64json(s) {
    return JSON.parse(Buffer.from(s, 'base64url').toString());
}

function verify(r) {
    var h = r.headersIn.Authorization;
    if (!h || h.slice(0, 7).toLowerCase() !== 'bearer ') {
        return '0';
    }
    var parts = h.slice(7).split('.');
    if (parts.length !== 3) {
        return '0';
    }
    try {
        if (b64json(parts[0]).alg !== 'HS256') {
            return '0';
        }
        var sig = crypto.createHmac('sha256', key)
                        .update(parts[0] + '.' + parts[1])
                        .digest('base64url');
        if (sig !== parts[2]) {
            return '0';
        }
        var c = b64json(parts[1]);
        var now = Math.floor(Date.now() / 1000);
        if (typeof c.exp !== 'number' || c.exp < now
            || (c.nbf !== undefined && c.nbf > now))
        {
            return '0';
        }
        return '1';
    } catch (e) {
        return '0';
    }
}

export default { verify };
EOF
$svc->write_file('jwt.js', $njs);

my $rate = 1000000;       # never reached: measure the work, not refusals
my $bearer_hs = [Authorization => "Bearer $tok_hs"];

# the Lua peer: lua-resty-redis running a sliding-window script per
# request, keyed by the client address or by a variable

sub lua_redis_loc {
    my ($keyvar) = @_;
    return <<"EOF";
            access_by_lua_block {
                local redis = require "nginx.redis"
                local red = redis:new()
                red:set_timeout(1000)
                local ok, err = red:connect("127.0.0.1", $REDIS)
                if not ok then
                    ngx.log(ngx.ERR, "redis connect: ", err)
                    return ngx.exit(500)
                end
                local key = "bench:lua:{ip:" .. $keyvar .. "}"
                local res, err = red:evalsha(SW_SHA, 1, key, $rate, 1000)
                if not res and err and err:find("NOSCRIPT", 1, true) then
                    res, err = red:eval(SW, 1, key, $rate, 1000)
                end
                if not res then
                    ngx.log(ngx.ERR, "redis: ", err)
                    return ngx.exit(500)
                end
                red:set_keepalive(10000, 64)
                if res[1] == 0 then
                    return ngx.exit(429)
                end
            }
EOF
}

my $lua_redis_http = "    lua_package_path '/usr/share/lua/5.1/?.lua;;';\n"
                  . "    init_by_lua_block {\n"
                  . "        SW = [==[\n$sw_lua]==]\n"
                  . "        SW_SHA = (ngx.sha1_bin(SW):gsub('.', function(c) "
                  . "return string.format('%02x', c:byte()) end))\n"
                  . "    }\n";

my @S = (
    { name => 'bare', label => 'bare nginx proxy', group => 'ours',
      modules => [], conf => ngx_tpl() },

    { name => 'auth_hs256', label => 'auth HS256', group => 'ours',
      modules => [$AUTH], headers => $bearer_hs,
      conf => ngx_tpl(
          http => "    octopus_auth_key hs256 kid=k1 file=$sec/hs256.key;\n",
          loc => "            octopus_auth jwt;\n") },

    { name => 'auth_rs256', label => 'auth RS256', group => 'ours',
      modules => [$AUTH], headers => [Authorization => "Bearer $tok_rs"],
      conf => ngx_tpl(
          http => "    octopus_auth_key rs256 kid=k1 "
                  . "file=$sec/rs256.pub.pem;\n",
          loc => "            octopus_auth jwt;\n") },

    # the same tokens with the verification cache off: every request
    # decodes, parses and verifies (a client with a new token each time)
    { name => 'auth_hs256_nocache', label => 'auth HS256, cache off',
      group => 'ours', modules => [$AUTH], headers => $bearer_hs,
      conf => ngx_tpl(
          http => "    octopus_auth_key hs256 kid=k1 file=$sec/hs256.key;\n"
                  . "    octopus_auth_jwt_cache off;\n",
          loc => "            octopus_auth jwt;\n") },

    { name => 'auth_rs256_nocache', label => 'auth RS256, cache off',
      group => 'ours', modules => [$AUTH],
      headers => [Authorization => "Bearer $tok_rs"],
      conf => ngx_tpl(
          http => "    octopus_auth_key rs256 kid=k1 "
                  . "file=$sec/rs256.pub.pem;\n"
                  . "    octopus_auth_jwt_cache off;\n",
          loc => "            octopus_auth jwt;\n") },

    # many users: distinct tokens round robin through the cache shared
    # by the workers (octopus_auth_jwt_cache, default 32m); 100,000 RS256
    # users at the default (more than it holds: round robin never hits,
    # every request verifies) and at 128m (holds them)
    (map {
        my ($alg, $n, $size) = @$_;
        my $key = lc $alg;
        { name => "auth_${key}_users$n" . ($size ? "_$size" : ''),
          label => "auth $alg, " . ($n =~ s/(\d)(?=(\d{3})+$)/$1,/gr)
                   . " users" . ($size ? ", cache $size" : ''),
          group => 'ours', modules => [$AUTH], users => [$alg, $n],
          conf => ngx_tpl(
              http => "    octopus_auth_key $key kid=k1 "
                      . "file=$sec/$key.pub.pem;\n"
                      . ($size ? "    octopus_auth_jwt_cache $size;\n" : ''),
              loc => "            octopus_auth jwt;\n",
              servers => "    server {\n"
                         . "        listen 127.0.0.1:%%PORT_metrics%%;\n"
                         . "        access_log off;\n"
                         . "        location = /metrics "
                         . "{ octopus_auth_metrics; }\n"
                         . "    }\n") }
    } ['RS256', 4096], ['ES256', 4096], ['RS256', 100000],
      ['RS256', 100000, '128m'], ['ES256', 100000],
      ['ES256', 100000, '64m']),

    # the bare proxy sent the same tokens (no module): what nginx itself
    # spends on a 0.2-0.5 KB Authorization header (parsed, and passed to
    # the upstream), which the bare runs do not carry
    (map {
        my $alg = $_;
        { name => 'bare_' . lc($alg) . '_users4096',
          label => "bare nginx proxy, 4,096 $alg tokens sent",
          group => 'ours', modules => [], users => [$alg, 4096],
          nocache => 1, conf => ngx_tpl() }
    } 'RS256', 'ES256'),

    { name => 'auth_apikey', label => 'auth API key', group => 'ours',
      modules => [$AUTH], headers => ['X-API-Key' => $api_key],
      conf => ngx_tpl(
          http => "    octopus_auth_api_keys $sec/api-keys;\n",
          loc => "            octopus_auth api_key;\n") },

    { name => 'rl_shm', label => 'ratelimit shared memory', group => 'ours',
      modules => [$RL],
      conf => ngx_tpl(
          http => "    octopus_ratelimit_zone ip key=\$binary_remote_addr "
                  . "rate=${rate}r/s;\n",
          loc => "            octopus_ratelimit ip;\n") },

    { name => 'rl_redis', label => 'ratelimit Redis', group => 'ours',
      modules => [$RL], redis => 1,
      conf => ngx_tpl(
          http => "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:rl:;\n"
                  . "    octopus_ratelimit_zone ip key=\$binary_remote_addr "
                  . "rate=${rate}r/s;\n",
          loc => "            octopus_ratelimit ip;\n") },

    # the exact mode with 100,000 distinct keys (a random X-Key
    # per request, from a wrk script), the script path (GCRA still runs
    # the EVALSHA), and the synchronised mode (skipped when nginx -t
    # refuses sync=)
    { name => 'rl_redis_100k', label => 'ratelimit Redis, 100,000 keys',
      group => 'ours', modules => [$RL], redis => 1, wrk_script => 'keys',
      conf => ngx_tpl(
          http => "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:rlk:;\n"
                  . "    octopus_ratelimit_zone ip key=\$http_x_key "
                  . "rate=${rate}r/s;\n",
          loc => "            octopus_ratelimit ip;\n") },

    { name => 'rl_redis_script', label => 'ratelimit Redis, GCRA (EVALSHA)',
      group => 'ours', modules => [$RL], redis => 1,
      conf => ngx_tpl(
          http => "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:rls:;\n"
                  . "    octopus_ratelimit_zone ip key=\$binary_remote_addr "
                  . "rate=${rate}r/s burst=1000 algorithm=gcra;\n",
          loc => "            octopus_ratelimit ip;\n") },

    { name => 'rl_redis_ban', label => 'ratelimit Redis, a zone with a ban',
      group => 'ours', modules => [$RL], redis => 1,
      conf => ngx_tpl(
          http => "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:rlb:;\n"
                  . "    octopus_ratelimit_zone ip key=\$binary_remote_addr "
                  . "rate=${rate}r/s;\n"
                  . "    octopus_ratelimit_ban zone=ip after=1000000 "
                  . "within=1s for=1s;\n",
          loc => "            octopus_ratelimit ip;\n") },

    # one merge per 100 ms: Redis's CPU may round to no clock tick at all
    { name => 'rl_sync', label => 'ratelimit Redis, sync=100ms',
      group => 'ours', modules => [$RL], redis => 1, optional => 1,
      redis_idle => 1,
      conf => ngx_tpl(
          http => "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:rly:;\n"
                  . "    octopus_ratelimit_zone ip key=\$binary_remote_addr "
                  . "rate=${rate}r/s sync=100ms;\n",
          loc => "            octopus_ratelimit ip;\n") },

    { name => 'rl_sync_100k', label => 'ratelimit Redis, sync=100ms, 100,000 keys',
      group => 'ours', modules => [$RL], redis => 1, optional => 1,
      wrk_script => 'keys',
      conf => ngx_tpl(
          http => "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:rlyk:;\n"
                  . "    octopus_ratelimit_zone ip key=\$http_x_key "
                  . "rate=${rate}r/s sync=100ms;\n",
          loc => "            octopus_ratelimit ip;\n") },

    { name => 'audit_pg', label => 'audit PostgreSQL', group => 'ours',
      modules => [$AUDIT], pg => 1,
      conf => ngx_tpl(http => $audit_pg_http, servers => $metrics_server) },

    { name => 'audit_file', label => 'audit file', group => 'ours',
      modules => [$AUDIT],
      conf => ngx_tpl(
          http => "    octopus_audit_file %%PREFIX%%/audit.jsonl;\n"
                  . "    octopus_audit_node bench;\n"
                  . "    octopus_audit on;\n",
          servers => $metrics_server) },

    { name => 'all', label => 'all three (Redis, PostgreSQL)',
      group => 'ours', modules => [$AUTH, $RL, $AUDIT], headers => $bearer_hs,
      redis => 1, pg => 1,
      conf => ngx_tpl(
          http => "    octopus_auth_key hs256 kid=k1 file=$sec/hs256.key;\n"
                  . "    octopus_ratelimit_redis 127.0.0.1:$REDIS "
                  . "prefix=bench:all:;\n"
                  . "    octopus_ratelimit_zone user key=\$octopus_user "
                  . "rate=${rate}r/s;\n"
                  . $audit_pg_http,
          loc => "            octopus_auth jwt;\n"
                 . "            octopus_ratelimit user;\n",
          servers => $metrics_server) },

    { name => 'limit_req', label => 'peer: nginx limit_req', group => 'peer',
      modules => [],
      conf => ngx_tpl(
          http => "    limit_req_zone \$binary_remote_addr zone=ip:10m "
                  . "rate=${rate}r/s;\n",
          loc => "            limit_req zone=ip burst=1000 nodelay;\n") },

    { name => 'njs_hs256', label => 'peer: njs HS256', group => 'peer',
      modules => [], headers => $bearer_hs,
      conf => ngx_tpl(
          main => "load_module $MODDIR/ngx_http_js_module.so;",
          http => "    js_import jwt from $svc->{dir}/jwt.js;\n"
                  . "    js_set \$jwt_valid jwt.verify;\n",
          loc => "            if (\$jwt_valid != 1) { return 401; }\n") },

    { name => 'lua_redis', label => 'peer: Lua sliding window on Redis',
      group => 'peer', modules => [], redis => 1,
      conf => ngx_tpl(
          main => "load_module $MODDIR/ndk_http_module.so;\n"
                  . "load_module $MODDIR/ngx_http_lua_module.so;",
          http => $lua_redis_http,
          loc => lua_redis_loc('ngx.var.remote_addr')) },

    { name => 'lua_redis_100k',
      label => 'peer: Lua sliding window on Redis, 100,000 keys',
      group => 'peer', modules => [], redis => 1, wrk_script => 'keys',
      conf => ngx_tpl(
          main => "load_module $MODDIR/ndk_http_module.so;\n"
                  . "load_module $MODDIR/ngx_http_lua_module.so;",
          http => $lua_redis_http,
          loc => lua_redis_loc('(ngx.var.http_x_key or "")')) },

    { name => 'auth_request', label => 'peer: auth_request + PyJWT service',
      group => 'peer', modules => [], headers => $bearer_hs,
      authsvc => 1,
      conf => ngx_tpl(
          http => "    upstream authsvc {\n"
                  . "        server 127.0.0.1:%%PORT_authsvc%%;\n"
                  . "        keepalive 32;\n"
                  . "    }\n",
          loc => "            auth_request /_auth;\n",
          servers => '') },

    { name => 'haproxy', label => 'peer: HAProxy jwt_verify + stick-table',
      group => 'peer', kind => 'haproxy', headers => $bearer_hs },
);

# auth_request's internal location goes into the same server
for my $s (grep { $_->{authsvc} } @S) {
    $s->{conf} =~ s{(\n\s*location / \{)}{
        location = /_auth {
            internal;
            proxy_pass http://authsvc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
        }
$1};
}

if ($o{only}) {
    my %want = map { $_ => 1 } 'bare', split /,/, $o{only};
    @S = grep { $want{$_->{name}} } @S;
    for my $n (split /,/, $o{only}) {
        die "no scenario '$n' (scenarios: "
            . join(', ', map { $_->{name} } @S) . ")\n"
            unless grep { $_->{name} eq $n } @S;
    }
}


# start every scenario

my @extra_procs;

END {
    local $?;
    for my $e (@extra_procs) {
        $e->[0]->_stop_proc($e->[1], 'TERM');
    }
}

# wrk scripts: 100,000 distinct keys, one drawn per request
$svc->write_file('keys.lua', <<'EOF');
math.randomseed(os.time())
request = function()
    return wrk.format(nil, nil, { ["X-Key"] = tostring(math.random(100000)) })
end
EOF

my @skipped;

for my $s (@S) {
    my $t = Octopus::Test->new(modules => $s->{modules} || [],
                               dir => "$o{workdir}/$s->{name}");
    $s->{t} = $t;

    # a scenario of a feature not merged yet: skipped, said so
    if ($s->{optional}) {
        my ($ok, $out) = $t->nginx_test($s->{conf});
        unless ($ok) {
            my ($why) = $out =~ /\[emerg\] (.*?)(?: in \S+:\d+)?$/m;
            $why //= (split /\n/, $out)[0] // 'nginx -t failed';
            $s->{skipped} = $why;
            push @skipped, $s;
            progress("skipped $s->{name}: nginx -t refuses it ($why)");
            next;
        }
    }

    if ($s->{authsvc}) {
        my $port = $t->port('authsvc');
        my $pid = $t->_spawn('authsvc',
            [$PY, "$TOP/bench/ngx_octopus_bench_authsvc.py", $port,
             "$sec/hs256.key"], log => "$t->{dir}/logs/authsvc.log");
        push @extra_procs, [$t, 'authsvc'];
        $t->_wait_port($port, 10, $pid) or die "auth service did not start";
    }

    if (($s->{kind} // '') eq 'haproxy') {
        my $port = $t->port('http');
        my $cfg = $t->write_file('haproxy.cfg', <<"EOF");
# HAProxy 2.6 as its documentation and the HAProxy blog's JWT article
# recommend: jwt_verify on the bearer token (alg pinned, exp checked) and a
# stick-table request-rate limit per source address.
global
    nbthread 1
    maxconn 8192

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind 127.0.0.1:$port
    stick-table type ip size 100k expire 30s store http_req_rate(1s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt $rate }
    http-request deny deny_status 401 unless { req.hdr(authorization) -m beg "Bearer " }
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('\$.alg')
    http-request deny deny_status 401 unless { var(txn.jwt_alg) -m str "HS256" }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.jwt_alg,"$hs_secret") -m int 1 }
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
    http-request set-var(txn.now) date()
    http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
    default_backend be

backend be
    http-reuse safe
    server up 127.0.0.1:$BE maxconn 64
EOF
        run_cmd('haproxy', '-c', '-f', $cfg);
        my $pid = $t->_spawn('haproxy', ['haproxy', '-db', '-f', $cfg],
                             log => "$t->{dir}/logs/haproxy.log");
        push @extra_procs, [$t, 'haproxy'];
        $t->_wait_port($port, 10, $pid) or die "haproxy did not start";
        $s->{pids} = sub { ($pid) };

    } else {
        $t->nginx_conf($s->{conf});
        $t->run;
        $s->{pids} = sub { $t->worker_pids };
    }

    $s->{port} = $t->port('http');

    if ($s->{users}) {
        my ($alg, $n) = @{$s->{users}};
        $n = 2048 if $o{quick};       # the harness, not the figure
        my $file = mint_users($alg, $n);
        $s->{script} = users_script($file);
        open my $fh, '<', $file or die "$file: $!";
        my $tok = <$fh>;
        chomp $tok;
        $s->{headers} = [Authorization => "Bearer $tok"];
    }

    # one request by hand: it must pass
    my $r = $t->http(uri => '/api/v1/bench', @{$s->{headers} || []}
                     ? (headers => $s->{headers}) : ());
    die "$s->{name}: first request answered $r->{status}\n"
        . ($t->{template} ? $t->error_log : '')
        unless $r->{status} == 200;

    # many users, full run: one pass over the tokens before the rounds,
    # so the first round is not the one that fills the cache (ES256
    # verifies at about 13,000 tokens a second on one worker)
    if ($s->{users} && !$s->{nocache} && !$o{quick}) {
        my $secs = 1 + int($s->{users}[1] * 80e-6 + 0.5);
        wrk($s, $secs);
        progress("prefilled $s->{name}: $secs s");
    }

    # after the first request: the worker exists and has served
    $t->wait_for(sub { $s->{pids}->() }, 10);
    $s->{rss0} = rss($s->{pids}->());
    progress("started $s->{name} on :$s->{port}");
}
@S = grep { !$_->{skipped} } @S;


sub rss {
    my $kb = 0;
    for my $pid (@_) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) {
            $kb += $1 if /^VmRSS:\s+(\d+)/;
        }
    }
    return $kb;
}


sub to_ms {
    my ($v, $u) = @_;
    return $u eq 'us' ? $v / 1000 : $u eq 's' ? $v * 1000 : $v;
}


sub wrk {
    my ($s, $secs) = @_;
    my @hv = @{$s->{headers} || []};
    my @h;
    while (my ($n, $v) = splice @hv, 0, 2) {
        push @h, '-H', "$n: $v";
    }
    # a script sends its own Authorization (and wrk.format adds Host)
    @h = ('-s', $s->{script}) if $s->{script};
    push @h, '-s', "$svc->{dir}/$s->{wrk_script}.lua" if $s->{wrk_script};
    my $out = run_cmd('wrk', "-t$o{threads}", "-c$o{connections}",
                      "-d${secs}s", '--latency', @h,
                      "http://127.0.0.1:$s->{port}/api/v1/bench");
    my %r = (raw => $out, non2xx => 0, errors => 0);
    $r{rps} = $1 if $out =~ /Requests\/sec:\s+([\d.]+)/;
    $r{requests} = $1 if $out =~ /(\d+) requests in/;
    $r{p50} = to_ms($1, $2) if $out =~ /^\s+50%\s+([\d.]+)(us|ms|s)/m;
    $r{p99} = to_ms($1, $2) if $out =~ /^\s+99%\s+([\d.]+)(us|ms|s)/m;
    $r{non2xx} = $1 if $out =~ /Non-2xx or 3xx responses: (\d+)/;
    if ($out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), (?:timeout (\d+))?/) {
        $r{errors} = $1 + $2 + $3 + ($4 // 0);
    }
    return \%r;
}


sub redis_calls {
    my $info = $svc->redis_cmd('INFO', 'commandstats');
    my %c;
    while ($info =~ /^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/mg) {
        next if $1 eq 'info';
        $c{lc $1} = $2;
        $c{'usec:' . lc $1} = $3;
    }
    return \%c;
}


sub pg_rows {
    my $n = pgc_query('SELECT count(*) FROM audit.api_calls;');
    die "row count: '$n'\n" unless $n =~ /^\d+$/;
    return $n + 0;
}


sub metrics {
    my ($s) = @_;
    my $r = $s->{t}->http(port => $s->{t}->port('metrics'), uri => '/metrics');
    my %m;
    while (($r->{body} // '') =~ /^(octopus_audit_\w+)(?:\{[^}]*\})?\s+([\d.e+]+)/mg) {
        $m{$1} += $2;
    }
    return \%m;
}


# the auth module's verification cache counters (octopus_auth_metrics)
sub auth_metrics {
    my ($s) = @_;
    my $r = $s->{t}->http(port => $s->{t}->port('metrics'), uri => '/metrics');
    my %m;
    while (($r->{body} // '') =~ /^octopus_auth_jwt_cache_(\w+) (\d+)$/mg) {
        $m{$1} = $2;
    }
    return \%m;
}


# --profile: perf record on the worker(s) during the measured run

my $perf_event;
my $PERF_HZ = 999;      # the default 4000 Hz doubles the worker's time here

sub profile_start {
    my ($s, $pids) = @_;
    return undef unless $o{profile} && $s->{name} eq $o{profile} && @$pids;

    # hardware events are not supported on most VMs: the cpu-clock timer
    unless (defined $perf_event) {
        my ($rc, $out) = Octopus::Test::capture('perf', 'stat', '-e',
                                                'instructions', 'true');
        $perf_event = ($rc || $out =~ /not supported|not counted/)
                      ? 'cpu-clock' : 'cycles';
    }
    my $data = "$o{workdir}/perf-$s->{name}.data";
    my $log = "$o{workdir}/perf-$s->{name}.log";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        exec 'perf', 'record', '-e', $perf_event, '-F', $PERF_HZ, '-g', '-p',
             join(',', @$pids), '-o', $data
            or POSIX::_exit(127);
    }
    sleep 1;        # attached before the measured run starts
    die "perf record exited at once:\n" . ($svc->read_file($log) // '')
        if waitpid($pid, POSIX::WNOHANG()) == $pid;
    return { pid => $pid, data => $data, log => $log, pids => $pids };
}

sub profile_end {
    my ($s, $p) = @_;
    kill 'INT', $p->{pid};
    my $gone = $svc->wait_for(sub {
        waitpid($p->{pid}, POSIX::WNOHANG()) == $p->{pid} }, 30);
    unless ($gone) {
        kill 'KILL', $p->{pid};
        waitpid $p->{pid}, 0;
    }
    $s->{profile} = $p;
}

sub profile_write {
    my ($s) = @_;
    my $p = $s->{profile} or die "--profile $o{profile}: no profile taken\n";
    my $file = $o{profile_file} || "$o{out}/profile-$s->{name}.txt";
    my @rep = ('perf', 'report', '-i', $p->{data}, '--stdio',
               '--no-children');
    my $flat = run_cmd(@rep, '-g', 'none', '--sort', 'dso,symbol',
                       '--percent-limit', '0');
    my @head = grep { /^#/ && /Samples|Event count/ } split /\n/, $flat;
    my @top = (grep { !/^#/ && /\S/ } split /\n/, $flat)[0 .. 39];
    s/(?:\s+-)+\s*$// for grep { defined } @top;
    my $dso = run_cmd(@rep, '-g', 'none', '--sort', 'dso',
                      '--percent-limit', '0.5');
    my @dso = grep { !/^#/ && /\S/ } split /\n/, $dso;
    s/(?:\s+-)+\s*$// for @dso;
    my $calls = run_cmd(@rep, '-g', 'caller,0.5,callee,function,percent',
                        '--sort', 'symbol', '--percent-limit', '2');
    my @calls = grep { !/^#/ } split /\n/, $calls;
    $#calls = 399 if @calls > 400;
    my $r = $s->{runs}[-1] || {};
    make_path($1) if $file =~ m{^(.*)/};
    open my $fh, '>', $file or die "$file: $!";
    print $fh "# perf profile: $s->{label} ($s->{name})\n\n",
        "`perf record -e $perf_event -F $PERF_HZ -g -p @{$p->{pids}}` "
        . "during the "
        . "measured run ($o{duration} s, wrk -t$o{threads} "
        . "-c$o{connections}): "
        . sprintf('%.0f req/s, worker %.2f us/request', $r->{rps} // 0,
                  $r->{cpu_worker_us} // 0)
        . " (perf's sampling adds to the worker's time).\n\n",
        map({ "$_\n" } @head), "\n",
        "## By object (perf report --sort dso, above 0.5 %)\n\n",
        map({ "$_\n" } @dso), "\n",
        "## Top 40 symbols (perf report --stdio --no-children "
        . "--sort dso,symbol)\n\n",
        map({ "$_\n" } grep { defined } @top), "\n",
        "## Callers of the symbols above 2 % (first 400 lines)\n\n",
        map({ "$_\n" } @calls);
    close $fh;
    progress("wrote $file");
    return $file;
}


# the rounds

my $nproc = run_cmd('nproc');
chomp $nproc;
my $uptime0 = run_cmd('uptime');
chomp $uptime0;

sub measure {
    my ($s, $round) = @_;

    my ($rc0, $rows0, $m0);
    $rc0 = redis_calls() if $s->{redis};
    if ($s->{pg}) {
        $rows0 = pg_rows();
        $m0 = metrics($s);
    }

    my $w = wrk($s, $o{warmup});
    push @loadavg, loadavg();

    # CPU windows: PostgreSQL from here until the rows are drained, the
    # worker and Redis the measured run
    my ($pg0, $rows_start);
    if ($s->{pg}) {
        $pg0 = pg_snap();
        $rows_start = pg_rows();
    }
    my $rd0 = $s->{redis} ? cpu_snap($svc->{procs}{redis}) : undef;
    my @wp = $s->{pids}->();
    my $prof = profile_start($s, \@wp);
    my $am0 = $s->{users} && !$s->{nocache} ? auth_metrics($s) : undef;
    my $wk0 = cpu_snap(@wp);
    my $t0 = time;
    my $r = wrk($s, $o{duration});
    my $el = time - $t0;
    my $wk1 = cpu_snap(@wp);
    if ($am0) {
        my $am1 = auth_metrics($s);
        $r->{cache} = { map { $_ => ($am1->{$_} // 0) - ($am0->{$_} // 0) }
                        qw(hits_total misses_total evictions_total) };
        $r->{cache}{entries} = $am1->{entries};
    }
    my $rd1 = $s->{redis} ? cpu_snap($svc->{procs}{redis}) : undef;
    profile_end($s, $prof) if $prof;
    my $wk_new = cpu_snap($s->{pids}->());
    $r->{warm_requests} = $w->{requests} // 0;

    my $req = $r->{requests} // 0;
    my ($wt, undef, $wgone) = cpu_delta($wk0, $wk1);
    $r->{cpu_worker_ticks} = $wt;
    # a worker that died (or was replaced) during the run: its time is lost
    $r->{cpu_worker_changed} = $wgone || grep { !$wk0->{$_} } keys %$wk_new;
    $r->{cpu_worker_us} = $req ? ticks_us($wt) / $req : undef;
    if ($rd0) {
        my ($rt) = cpu_delta($rd0, $rd1);
        $r->{cpu_redis_ticks} = $rt;
        $r->{cpu_redis_us} = $req ? ticks_us($rt) / $req : undef;
    }
    $r->{non2xx} += $w->{non2xx};
    $r->{errors} += $w->{errors};

    if ($s->{redis}) {
        my $rc1 = redis_calls();
        my $total = 0;
        my %d;
        my %u;
        for my $c (keys %$rc1) {
            my $n = $rc1->{$c} - ($rc0->{$c} // 0);
            next unless $n > 0;
            if ($c =~ /^usec:(.*)/) {
                $u{$1} = $n;
                next;
            }
            $d{$c} = $n;
            $total += $n;
        }
        # Redis's own time inside the commands (usec of commandstats;
        # a script's inner commands are inside its EVALSHA's usec too)
        $r->{redis_usec} = \%u;
        my $req = ($r->{requests} // 0) + $r->{warm_requests};
        $r->{redis_per_req} = $req ? $total / $req : 0;
        $r->{redis_cmds} = \%d;
        $r->{redis_req} = $req;
    }

    if ($s->{pg}) {
        my $rows_end = pg_rows();
        $r->{pg_rows_per_s} = ($rows_end - $rows_start) / $el;
        my $m1 = metrics($s);
        $r->{queue_depth} = $m1->{octopus_audit_queue_depth} // 0;
        $r->{spool_bytes} = $m1->{octopus_audit_spool_bytes} // 0;
        $r->{spooled} = ($m1->{octopus_audit_records_spooled_total} // 0)
                        - ($m0->{octopus_audit_records_spooled_total}
                           // 0);

        # drain: every request must reach the database
        my $want = $rows0 + ($r->{requests} // 0) + $r->{warm_requests};
        my $td = time;
        my $rows;
        $svc->wait_for(sub { ($rows = pg_rows()) >= $want }, 60);
        my $pg1 = pg_snap();
        $r->{drain_s} = time - $td;
        $r->{pg_missing} = $rows < $want ? $want - $rows : 0;

        # the same window for PostgreSQL's CPU and for the rows counted
        my ($pt, $new, $gone, $n0, $n1) = pg_delta($pg0, $pg1);
        $r->{pg_rows_window} = $rows - $rows_start;
        if (defined $pt) {
            $r->{cpu_pg_ticks} = $pt;
            $r->{cpu_pg_us} = $req ? ticks_us($pt) / $req : undef;
            $r->{cpu_pg_us_row} = $r->{pg_rows_window}
                ? ticks_us($pt) / $r->{pg_rows_window} : undef;
        }
        $r->{pg_procs} = [$n0, $n1, $new, $gone];
    }

    push @{$s->{runs}}, $r;
    progress(sprintf "round %d %-12s %8.0f req/s p50 %.2f ms p99 %.2f ms "
                     . "worker %.2f us/req%s%s%s%s",
         $round, $s->{name}, $r->{rps} // 0, $r->{p50} // 0,
         $r->{p99} // 0, $r->{cpu_worker_us} // 0,
         $r->{cache} ? sprintf(' cache hits %d misses %d evictions %d',
                               @{$r->{cache}}{qw(hits_total misses_total
                                                 evictions_total)}) : '',
         defined $r->{cpu_redis_us}
             ? sprintf(' redis %.2f us/req', $r->{cpu_redis_us}) : '',
         defined $r->{cpu_pg_us_row}
             ? sprintf(' pg %.2f us/row', $r->{cpu_pg_us_row}) : '',
         $r->{non2xx} ? " NON-2XX $r->{non2xx}" : '');
    return $r;
}


# paired (the full run): every scenario's measured run comes right after a
# run of the bare proxy, and its ratio is taken to that run, so the load
# of the moment (other test suites on the machine) affects both alike;
# unpaired (--quick): the bare proxy once per round

my ($bare_s) = grep { $_->{name} eq 'bare' } @S;
my @others = grep { $_->{name} ne 'bare' } @S;

for my $round (1 .. $o{rounds}) {
    my $k = ($round - 1) % @others;
    my @order = (@others[$k .. $#others], @others[0 .. $k - 1]);

    my $b = measure($bare_s, $round);
    $b->{base_rps} = $b->{rps};
    $b->{base_p99} = $b->{p99};
    $b->{base_cpu} = $b->{cpu_worker_us};

    for my $s (@order) {
        if ($o{paired} && $s != $order[0]) {
            $b = measure($bare_s, $round);
            $b->{base_rps} = $b->{rps};
            $b->{base_p99} = $b->{p99};
            $b->{base_cpu} = $b->{cpu_worker_us};
        }
        my $r = measure($s, $round);
        $r->{base_rps} = $b->{rps};
        $r->{base_p99} = $b->{p99};
        $r->{base_cpu} = $b->{cpu_worker_us};
    }
}

my $uptime1 = run_cmd('uptime');
chomp $uptime1;

for my $s (@S) {
    $s->{rss1} = rss($s->{pids}->());
}

if ($o{profile}) {
    my ($ps) = grep { $_->{name} eq $o{profile} } @S;
    profile_write($ps);
}


# JWT verify microbenchmark (auth's bench/auth_jwt_bench.c)

my $jwt_out = '';
if ($o{jwt_bench} && -x $o{jwt_bench}) {
    $jwt_out = run_cmd($o{jwt_bench}, $o{quick} ? 2000 : 20000);
}


# results

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

for my $s (@S) {
    my @r = @{$s->{runs} || []};
    $s->{rps} = median(map { $_->{rps} } @r);
    $s->{p50} = median(map { $_->{p50} } @r);
    $s->{p99} = median(map { $_->{p99} } @r);
    $s->{rps_min} = (sort { $a <=> $b } map { $_->{rps} // 0 } @r)[0];
    $s->{rps_max} = (sort { $b <=> $a } map { $_->{rps} // 0 } @r)[0];
    $s->{ratio} = median(map { $_->{rps} / $_->{base_rps} }
                         grep { $_->{rps} && $_->{base_rps} } @r);
    $s->{p99_delta} = median(map { $_->{p99} - $_->{base_p99} }
                             grep { defined $_->{p99}
                                    && defined $_->{base_p99} } @r);
    $s->{cpu_worker_us} = median(map { $_->{cpu_worker_us} } @r);
    $s->{cpu_worker_deltas} = [
        map { $_->{cpu_worker_us} - $_->{base_cpu} }
        grep { defined $_->{cpu_worker_us} && defined $_->{base_cpu} } @r];
    $s->{cpu_worker_delta} = median(@{$s->{cpu_worker_deltas}});
    $s->{cpu_ratio} = median(map { $_->{base_cpu} / $_->{cpu_worker_us} }
                             grep { $_->{cpu_worker_us} && $_->{base_cpu} }
                             @r);
    $s->{cpu_pg_us_rows} = [grep { defined } map { $_->{cpu_pg_us_row} } @r];
    $s->{cpu_redis_us} = median(map { $_->{cpu_redis_us} } @r);
    $s->{cpu_pg_us} = median(map { $_->{cpu_pg_us} } @r);
    $s->{cpu_pg_us_row} = median(map { $_->{cpu_pg_us_row} } @r);
    $s->{pg_rows_window} = median(map { $_->{pg_rows_window} } @r);
    $s->{cpu_worker_changed} = grep { $_->{cpu_worker_changed} } @r;
    $s->{non2xx} = 0;
    $s->{errors} = 0;
    $s->{non2xx} += $_->{non2xx} for @r;
    $s->{errors} += $_->{errors} for @r;
}

my %by = map { $_->{name} => $_ } @S;
my $bare = $by{bare};

# ratio of two scenarios: of their ratios to the bare runs beside them
sub ratio {
    my ($a, $b) = @_;
    return undef unless $a && $b && $a->{ratio} && $b->{ratio};
    return $a->{ratio} / $b->{ratio};
}

my @lines;
my $when = strftime('%Y-%m-%d %H:%M UTC', gmtime);
my ($lmin, $lmax) = (sort { $a <=> $b } @loadavg)[0, -1];
my $lmean = 0;
$lmean += $_ / @loadavg for @loadavg;

push @lines, "# Octopus Guard benchmark" . ($o{quick} ? ' (QUICK smoke run)' : ''),
    '',
    "Run $when on " . `uname -n` =~ s/\s+//r . ", nginx 1.22.1 (Debian), "
    . "$nproc cores.  `wrk -t$o{threads} -c$o{connections}`, "
    . "$o{warmup} s warm-up (thrown away) then $o{duration} s measured, "
    . "$o{rounds} round(s), scenarios alternating (the order rotates by one "
    . "each round)"
    . ($o{paired} ? ", each measured run right after a run of the bare "
                    . "proxy; a ratio to bare (and a p99 difference) is "
                    . "taken to that adjacent bare run, so the machine's "
                    . "load of the moment affects both alike" : '')
    . "; figures are medians over the rounds.  Every nginx "
    . "under test has 1 worker (HAProxy 1 thread), keepalive to one "
    . "upstream nginx (1 worker, `return 200` with a 40-byte JSON body); "
    . "wrk, the proxy, the upstream, Redis and PostgreSQL share the "
    . "machine's cores.",
    '',
    "Machine load: `uptime` before: `$uptime0`; after: `$uptime1`; 1-minute "
    . sprintf("load average sampled before each measured run: min %.2f, "
              . "mean %.2f, max %.2f (the benchmark's own processes keep "
              . "it near 2 on 2 cores; anything above that is other work; "
              . "bare-proxy runs vary by about 20%% on this VM even so: "
              . "the ratios within one run are what to compare).",
              $lmin // 0, $lmean, $lmax // 0),
    '',
    '| scenario | req/s (median) | req/s range | ratio to bare (median) | p50 ms | '
    . 'p99 ms | p99 − bare ms (median) | non-2xx | socket errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';

for my $s (@S) {
    my $rt = ratio($s, $bare);
    push @lines, sprintf '| %s | %s | %s–%s | %s | %s | %s | %s | %d | %d |',
        $s->{label},
        defined $s->{rps} ? sprintf('%.0f', $s->{rps}) : 'n/a',
        sprintf('%.0f', $s->{rps_min} // 0), sprintf('%.0f', $s->{rps_max} // 0),
        defined $rt ? sprintf('%.2f', $rt) : 'n/a',
        defined $s->{p50} ? sprintf('%.2f', $s->{p50}) : 'n/a',
        defined $s->{p99} ? sprintf('%.2f', $s->{p99}) : 'n/a',
        defined $s->{p99_delta} ? sprintf('%+.2f', $s->{p99_delta}) : 'n/a',
        $s->{non2xx}, $s->{errors};
}

push @lines, '', map({ "Skipped: $_->{label} (`$_->{name}`): nginx -t "
                      . "refuses its configuration: $_->{skipped}." }
                    @skipped) if @skipped;

# CPU per request

sub us { defined $_[0] ? sprintf($_[1] // '%.2f', $_[0]) : '–' }

# a median with the range of the rounds when there are several
sub us_range {
    my ($med, $v, $fmt) = @_;
    my @v = sort { $a <=> $b } @{$v || []};
    return us($med, $fmt) if @v < 2 || $v[0] == $v[-1];
    return sprintf "$fmt ($fmt to $fmt)", $med, $v[0], $v[-1];
}

push @lines, '', '## CPU per request', '',
    "CPU time (utime + stime from `/proc/PID/stat`, CLK_TCK $CLK_TCK, so "
    . sprintf('%.0f', 1e3 / $CLK_TCK) . " ms per tick) read around every "
    . "measured run, divided by the requests wrk counted in it; medians "
    . "over the rounds.  **Worker**: the worker process of the nginx under "
    . "test (HAProxy: its process, all threads), during the measured run; "
    . "**− bare**: less the same figure of the "
    . ($o{paired} ? 'adjacent bare-proxy run' : 'bare-proxy run of the round')
    . ".  **Redis**: the Redis server during the measured run (scenarios "
    . "that use it).  **PostgreSQL**: the postmaster and every child of it "
    . "(found by ppid in `/proc/*/stat`: backends, which are persistent, "
    . "checkpointer, background and WAL writers, autovacuum; children that "
    . "exit in the window through the postmaster's cutime + cstime, less "
    . "what they had used before it), the bench's own row-counting psql "
    . "session left out, in one window from just before the measured run "
    . "until every request of the round (warm-up included) is in the "
    . "table; **µs/row** divides it by the rows inserted in that same "
    . "window (counted at both ends: the warm-up's last batches included, "
    . "to within one batch at each end), **µs/request** by the measured "
    . "run's requests.  **Processes**: PostgreSQL processes at the start "
    . "and at the end of the window (last round), and how many appeared "
    . "or exited in the windows of all rounds.  Work PostgreSQL defers "
    . "(checkpoints, autovacuum) counts where it falls; the cores are "
    . "shared (wrk, the upstream, the proxy, Redis, PostgreSQL), so this "
    . "and not the ratio is each process's own cost"
    . ($o{rounds} > 1 ? "; in parentheses: the range over the rounds" : '')
    . '.', '',
    '| scenario | worker µs/request | worker − bare µs/request '
    . '| Redis µs/request | PostgreSQL µs/request | PostgreSQL µs/row '
    . '| rows in window | PostgreSQL processes |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |';
for my $s (@S) {
    my $procs = '–';
    if ($s->{pg} && (my $last = $s->{runs}[-1])) {
        my ($new, $gone) = (0, 0);
        for (@{$s->{runs}}) {
            $new += $_->{pg_procs}[2] // 0;
            $gone += $_->{pg_procs}[3] // 0;
        }
        $procs = sprintf '%d → %d, +%d −%d', $last->{pg_procs}[0] // 0,
            $last->{pg_procs}[1] // 0, $new, $gone;
    }
    push @lines, sprintf '| %s | %s%s | %s | %s | %s | %s | %s | %s |',
        $s->{label}, us($s->{cpu_worker_us}),
        $s->{cpu_worker_changed} ? ' (a worker was replaced)' : '',
        us_range($s->{cpu_worker_delta}, $s->{cpu_worker_deltas}, '%+.2f'),
        us($s->{cpu_redis_us}), us($s->{cpu_pg_us}),
        us_range($s->{cpu_pg_us_row}, $s->{cpu_pg_us_rows}, '%.2f'),
        us($s->{pg_rows_window}, '%.0f'), $procs;
}

# targets

my @targets;

sub target {
    my ($what, $want, $got, $ok) = @_;
    push @targets, sprintf '| %s | %s | %s | %s |', $what, $want,
        $got // 'n/a', !defined $got ? 'not measured' : $ok ? 'met' : 'MISSED';
}

if (my $all = $by{all}) {
    my $rt = ratio($all, $bare);
    target('all three modules: throughput', '≥ 0.85 × bare',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 0.85);
    my $d = $all->{p99_delta};
    target('all three modules: p99', '≤ bare + 1 ms',
           defined $d ? sprintf('%+.2f ms', $d) : undef, ($d // 99) <= 1);
}
for my $n (qw(auth_hs256 auth_rs256 auth_apikey rl_shm rl_redis audit_pg
              audit_file))
{
    my $s = $by{$n} or next;
    my $want = $n eq 'rl_redis' ? 0.8 : 0.93;
    my $rt = ratio($s, $bare);
    target("$s->{label} alone", "≥ $want × bare",
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= $want);
}

# many users through the shared verification cache): the
# throughput ratio, and the worker's CPU per request against bare's (on
# shared cores the CPU figure is each process's own cost; the ratio of
# throughputs is how the machine was split)
for my $n (qw(auth_rs256_users4096 auth_es256_users4096)) {
    my $s = $by{$n} or next;
    my $rt = ratio($s, $bare);
    target("$s->{label}: throughput", '≥ 0.9 × bare',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 0.9);
    my $c = $s->{cpu_ratio};
    target("$s->{label}: worker CPU, bare's over this one", '≥ 0.9 ×',
           defined $c ? sprintf('%.2f × (%+.2f µs per request)', $c,
                                $s->{cpu_worker_delta} // 0) : undef,
           ($c // 0) >= 0.9);
    (my $bn = $n) =~ s/^auth_/bare_/;
    if (my $bt = $by{$bn}) {
        my $rt = ratio($s, $bt);
        my ($a, $b) = ($s->{cpu_worker_us}, $bt->{cpu_worker_us});
        target("$s->{label}: against $bt->{label}", '≥ 0.9 ×',
               defined $rt && $a && $b
                   ? sprintf('%.2f × throughput, %.2f × CPU (%+.2f µs)',
                             $rt, $b / $a, $a - $b) : undef,
               ($rt // 0) >= 0.9);
    }
}

# audit cost
if (my $s = $by{audit_pg}) {
    my $v = $s->{cpu_pg_us_row};
    target('audit PostgreSQL: PostgreSQL CPU per row', '≤ 3 µs',
           defined $v ? sprintf('%.2f µs', $v) : undef, ($v // 99) <= 3);
    my $rt = ratio($s, $bare);
    target('audit PostgreSQL: throughput', '≥ 0.85 × bare',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 0.85);
    my $d = $s->{p99_delta};
    target('audit PostgreSQL: p99', '≤ bare + 1 ms',
           defined $d ? sprintf('%+.2f ms', $d) : undef, ($d // 99) <= 1);
}
for my $n (qw(audit_pg audit_file)) {
    my $s = $by{$n} or next;
    my $d = $s->{cpu_worker_delta};
    target("$s->{label}: worker CPU", '≤ bare + 2 µs per request',
           defined $d ? sprintf('%+.2f µs', $d) : undef, ($d // 99) <= 2);
}
# Redis cost of the exact mode, the synchronised mode)
for my $n (qw(rl_redis rl_redis_100k)) {
    my $s = $by{$n} or next;
    my $v = $s->{cpu_redis_us};
    target("$s->{label}: Redis CPU", '≤ 3 µs per request',
           defined $v ? sprintf('%.2f µs', $v) : undef, ($v // 99) <= 3);
    my $d = $s->{cpu_worker_delta};
    target("$s->{label}: worker CPU", '≤ bare + 2 µs per request',
           defined $d ? sprintf('%+.2f µs', $d) : undef, ($d // 99) <= 2);
}
for my $s (grep { defined } @by{qw(rl_sync rl_sync_100k)}) {
    my $rt = ratio($s, $bare);
    target("$s->{label}: throughput", '≥ 0.95 × bare',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 0.95);
    my $v = $s->{cpu_redis_us};
    target("$s->{label}: Redis CPU", '< 0.5 µs per request',
           defined $v ? sprintf('%.2f µs', $v) : undef, ($v // 99) < 0.5);
}
for my $s (@skipped) {
    push @targets, "| $s->{label} | runs | nginx -t refuses it "
                   . "($s->{skipped}) | skipped |";
}
if ($by{rl_redis} && $by{lua_redis}) {
    my $rt = ratio($by{rl_redis}, $by{lua_redis});
    target('ratelimit Redis vs Lua limiter', '≥ 1.5 ×',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 1.5);
}
if ($by{rl_redis_100k} && $by{lua_redis_100k}) {
    my $rt = ratio($by{rl_redis_100k}, $by{lua_redis_100k});
    target('ratelimit Redis vs Lua limiter, 100,000 keys', '≥ 1.5 ×',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 1.5);
}
if ($by{auth_hs256} && $by{njs_hs256}) {
    my $rt = ratio($by{auth_hs256}, $by{njs_hs256});
    target('auth HS256 vs njs validator', '≥ 1 ×',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 1);
}
if ($by{auth_hs256} && $by{auth_request}) {
    my $rt = ratio($by{auth_hs256}, $by{auth_request});
    target('auth HS256 vs auth_request', '≥ 3 ×',
           defined $rt ? sprintf('%.2f ×', $rt) : undef, ($rt // 0) >= 3);
}

push @lines, '', '## Targets', '',
    '| target | wanted | measured | |', '| --- | --- | --- | --- |',
    @targets;

# extra measurements

push @lines, '', '## Redis commands per request', '',
    'From `INFO commandstats` around each scenario\'s warm-up and measured '
    . 'run (commands run inside a Lua script are counted too), median over '
    . 'the rounds; in parentheses each command\'s `usec_per_call` over the '
    . 'same window (Redis\'s time inside the command: a script\'s includes '
    . 'its inner commands; the rest of Redis\'s CPU per request is reading, '
    . 'parsing, replying and expiring keys).', '',
    '| scenario | commands per request | breakdown (last round, per request) |',
    '| --- | ---: | --- |';
for my $s (grep { $_->{redis} } @S) {
    my @r = @{$s->{runs} || []};
    my $last = $r[-1] or next;
    my $bd = join ', ', map {
        my $n = $last->{redis_cmds}{$_};
        my $u = $last->{redis_usec}{$_};
        sprintf '%s %.2f%s', $_, $n / ($last->{redis_req} || 1),
            defined $u ? sprintf(' (%.2f µs)', $u / $n) : ''
    } sort { $last->{redis_cmds}{$b} <=> $last->{redis_cmds}{$a} }
      keys %{$last->{redis_cmds}};
    push @lines, sprintf '| %s | %.2f | %s |', $s->{label},
        median(map { $_->{redis_per_req} } @r) // 0, $bd;
}

push @lines, '', '## Audit records reaching PostgreSQL', '',
    'Rows inserted into `audit.api_calls` during the measured run, per '
    . 'second, against the requests per second served; the in-memory queue '
    . 'and the spool after the run (`octopus_metrics`); the time after the '
    . 'run until every request of the round (warm-up included, as counted '
    . 'by wrk) was in the table; requests missing from the table after that '
    . 'wait (60 s at most).', '',
    '| scenario | round | req/s | rows/s reaching PostgreSQL | queue after '
    . '| spooled records | spool bytes | drain s | missing rows |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
for my $s (grep { $_->{pg} } @S) {
    my $i = 0;
    for my $r (@{$s->{runs} || []}) {
        $i++;
        push @lines, sprintf '| %s | %d | %.0f | %.0f | %d | %d | %d | %.1f | %d |',
            $s->{label}, $i, $r->{rps} // 0, $r->{pg_rows_per_s} // 0,
            $r->{queue_depth} // 0, $r->{spooled} // 0,
            $r->{spool_bytes} // 0, $r->{drain_s} // 0,
            $r->{pg_missing} // 0;
    }
}

my @users = grep { $_->{users} && !$_->{nocache} } @S;
if (@users) {
    push @lines, '', '## Verification cache (many users)', '',
        'Distinct tokens sent round robin by wrk (a Lua `request()` over a '
        . 'file of tokens minted by PyJWT); the cache\'s counters '
        . '(`octopus_auth_metrics`) read around each measured run, summed '
        . 'over the rounds; entries after the last round.  Worker µs per '
        . 'request: median (range over the rounds).', '',
        '| scenario | tokens | cache hits | misses | hit rate | evictions '
        . '| entries | worker µs/request | − bare | bare ÷ this (CPU) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
    for my $s (@users) {
        my %c;
        for my $r (@{$s->{runs} || []}) {
            $c{$_} += $r->{cache}{$_} // 0
                for qw(hits_total misses_total evictions_total);
        }
        my $n = $c{hits_total} + $c{misses_total};
        my $last = ($s->{runs} || [])->[-1] || {};
        push @lines, sprintf '| %s | %d | %d | %d | %s | %d | %s | %s | %s | %s |',
            $s->{label}, $o{quick} ? 2048 : $s->{users}[1],
            $c{hits_total}, $c{misses_total},
            $n ? sprintf('%.1f %%', 100 * $c{hits_total} / $n) : '–',
            $c{evictions_total}, $last->{cache}{entries} // '–',
            us($s->{cpu_worker_us}),
            us_range($s->{cpu_worker_delta}, $s->{cpu_worker_deltas},
                     '%+.2f'),
            defined $s->{cpu_ratio} ? sprintf('%.2f ×', $s->{cpu_ratio})
                                    : '–';
    }
}

push @lines, '', '## Worker memory', '',
    'Resident set size of the worker process(es) (VmRSS; HAProxy: its '
    . 'process) after start and after all rounds.', '',
    '| scenario | RSS before KiB | RSS after KiB | growth KiB |',
    '| --- | ---: | ---: | ---: |';
for my $s (@S) {
    push @lines, sprintf '| %s | %d | %d | %+d |', $s->{label}, $s->{rss0},
        $s->{rss1}, $s->{rss1} - $s->{rss0};
}

if ($jwt_out ne '') {
    push @lines, '', '## JWT verify microbenchmark', '',
        '`make bench-jwt` (`bench/auth_jwt_bench.c`, the module\'s own '
        . 'verify code with keys parsed once), on the same machine right '
        . 'after the runs:', '', '```', $jwt_out =~ s/\s+\z//r, '```';
}

my $notes = "$TOP/bench/ngx_octopus_bench_notes.md";
if (!$o{quick} && -f $notes) {
    push @lines, '', $svc->read_file($notes) =~ s/\s+\z//r;
}

push @lines, '', 'Chart: `latest.png` (requests per second and p99 per '
    . 'scenario).', '';

open my $md, '>', "$o{out}/latest.md" or die "$o{out}/latest.md: $!";
print $md join "\n", @lines;
close $md;


# chart

my $dat = "$svc->{dir}/chart.dat";
open my $df, '>', $dat or die "$dat: $!";
for my $s (@S) {
    (my $l = $s->{label}) =~ s/"/'/g;
    printf $df "\"%s\" %.0f %.3f %.3f\n", $l, $s->{rps} // 0, $s->{p99} // 0,
        ratio($s, $bare) // 0;
}
close $df;

my $gp = $svc->write_file('chart.gp', <<"EOF");
set terminal pngcairo size 1200,900 font "sans,10"
set output "$o{out}/latest.png"
set termoption noenhanced
set rmargin 14
set bmargin 9
set multiplot layout 2,1 title "Octopus Guard benchmark, $when ($nproc cores, wrk -c$o{connections}, medians of $o{rounds} round(s))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set xtics rotate by -30 scale 0 font "sans,9"
set key off
set yrange [0:*]
set ylabel "requests per second"
set title "Throughput (label: ratio to bare proxy)"
plot "$dat" using 2:xtic(1) lc rgb "#3b7dd8", \\
     "" using 0:2:(sprintf("%.2f", \$4)) with labels offset 0,0.7 font "sans,9"
set ylabel "ms"
set title "p99 latency"
plot "$dat" using 3:xtic(1) lc rgb "#d8643b", \\
     "" using 0:3:(sprintf("%.2f", \$3)) with labels offset 0,0.7 font "sans,9"
unset multiplot
EOF
eval { run_cmd('gnuplot', $gp); 1 } or warn "gnuplot: $@";

progress("wrote $o{out}/latest.md and latest.png");
print join("\n", @lines), "\n" if $o{quick};


# the quick form checks that every scenario ran and produced numbers

my @bad;
for my $s (@S) {
    push @bad, "$s->{name}: no req/s" unless $s->{rps};
    push @bad, "$s->{name}: no latency" unless defined $s->{p99};
    push @bad, "$s->{name}: $s->{non2xx} non-2xx answers" if $s->{non2xx};
    push @bad, "$s->{name}: no worker CPU time measured"
        unless ($s->{cpu_worker_us} // 0) > 0;
}
for my $s (grep { $_->{redis} } @S) {
    push @bad, "$s->{name}: no Redis commands counted"
        unless ($s->{runs}[-1]{redis_per_req} // 0) > 0;
    push @bad, "$s->{name}: no Redis CPU time measured"
        unless $s->{redis_idle} ? defined $s->{cpu_redis_us}
                                : ($s->{cpu_redis_us} // 0) > 0;
}
for my $s (grep { $_->{pg} } @S) {
    push @bad, "$s->{name}: no rows reached PostgreSQL"
        unless ($s->{runs}[-1]{pg_rows_per_s} // 0) > 0;
    push @bad, "$s->{name}: no PostgreSQL CPU time per row measured"
        unless ($s->{cpu_pg_us_row} // 0) > 0;
}
# (QUICK's 2,048 tokens fit every cache; 100,000 overflow 32m)
for my $s (grep { $o{quick} && $_->{users} && !$_->{nocache} } @S) {
    push @bad, "$s->{name}: no verification cache hit counted"
        unless ($s->{runs}[-1]{cache}{hits_total} // 0) > 0;
}
push @bad, 'no chart' unless -s "$o{out}/latest.png";
push @bad, 'no JWT microbenchmark output'
    if $o{jwt_bench} && $jwt_out eq '';

for my $s (@S) {
    next unless $s->{t}{template};
    my @l = grep { /\[(alert|emerg|crit)\]/ } split /\n/, $s->{t}->error_log;
    push @bad, "$s->{name}: error.log: $l[0]" if @l;
}

if (@bad) {
    print STDERR "bench: FAILED\n", map { "  $_\n" } @bad;
    exit 1;
}
progress(sprintf 'done: %d scenarios', scalar @S);
exit 0;
