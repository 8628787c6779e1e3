#!/usr/bin/perl

# The harness itself: nginx with the three modules on free ports, the echo
# backend, request helpers, reload, Redis and PostgreSQL with their fault
# helpers, error.log checks, and cleanup when a test dies.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;

my $t = Octopus::Test->new;

$t->nginx_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
    }
}
EOF

my $conf = $t->read_file('nginx.conf');
like($conf, qr{load_module \S+/ngx_octopus_auth_module\.so;}, 'auth loaded');
like($conf, qr{load_module \S+/ngx_octopus_ratelimit_module\.so;},
     'ratelimit loaded');
like($conf, qr{load_module \S+/ngx_octopus_audit_module\.so;}, 'audit loaded');
unlike($conf, qr/%%/, 'every placeholder expanded');

# free ports: distinct, and stable per name
isnt($t->port('http'), $t->port('backend'), 'ports differ per name');
is($t->port('http'), $t->port('http'), 'a port is stable per name');

$t->run;

# requests reach the backend, which echoes what it saw

my $r = $t->get('/hello?a=1&b=2', 'X-Custom' => 'value 1');
is($r->{status}, 200, 'GET through nginx');
is($r->{json}{method}, 'GET', 'backend saw the method');
is($r->{json}{uri}, '/hello?a=1&b=2', 'backend saw the URI');
is($r->{json}{headers}{'x-custom'}, 'value 1', 'backend saw the header');

$r = $t->http(method => 'POST', uri => '/orders',
              headers => ['Content-Type' => 'application/json'],
              body => '{"qty":5}');
is($r->{json}{method}, 'POST', 'POST method');
is($r->{json}{body}, '{"qty":5}', 'POST body reached the backend');

$r = $t->get('/x', 'X-Test-Status' => '401');
is($r->{status}, 401, 'backend answers the status asked for');

$r = $t->get('/x', 'X-Test-Body-Bytes' => '5000');
is(length($r->{body}), 5000, 'backend answers the body size asked for');

$r = $t->http(raw => "GET /raw HTTP/1.0\r\nHost: a\r\n\r\n");
is($r->{json}{uri}, '/raw', 'raw request');

# background load

my $h = $t->load_start(requests => 20, concurrency => 4, uri => '/load');
my $counts = $t->load_wait($h);
is($counts->{200}, 20, 'background load: 20 answers of 200');

# reload: new workers, still serving

my @old = $t->worker_pids;
ok(@old >= 1, 'workers running');
ok($t->reload, 'reload brought new workers');
my %old = map { $_ => 1 } @old;
ok((grep { !$old{$_} } $t->worker_pids), 'new worker pids');
is($t->get('/after-reload')->{status}, 200, 'serving after reload');

# nginx -t on a broken config, in its own log

my ($ok, $out) = $t->nginx_test(<<'EOF');
events { }
http { octopus_auth bogus; }
EOF
ok(!$ok, 'nginx -t fails on a bad config');
like($out, qr/nginx-test\.conf:\d+/, 'nginx -t names file and line');
unlike($t->error_log, qr/bogus/, 'nginx -t leaves error.log alone');

# Redis: own server on a free port, faults

$t->redis_start;
is($t->redis_cmd('SET', 'k', 'v'), 'OK', 'redis SET');
is($t->redis_cmd('GET', 'k'), 'v', 'redis GET');
is_deeply($t->redis_cmd('MGET', 'k', 'nokey'), ['v', undef], 'redis arrays');

$t->redis_signal('STOP');
ok(!defined eval { $t->redis_cmd('PING') }, 'frozen redis does not answer');
$t->redis_signal('CONT');
is($t->redis_cmd('PING'), 'PONG', 'thawed redis answers');

$t->redis_kill;
ok(!defined eval { $t->redis_cmd('PING') }, 'killed redis is gone');
$t->redis_restart;
is($t->redis_cmd('PING'), 'PONG', 'restarted redis answers');
is($t->redis_cmd('GET', 'k'), undef, 'restarted redis is empty');

# a Redis with a password: redis_cmd authenticates

my $rp = Octopus::Test->new;
$rp->{redis_password} = 'pw-' . int(rand(1e9));
$rp->redis_start;
is($rp->redis_cmd('SET', 'a', '1'), 'OK', 'redis with password: AUTH, SET');
{
    local $rp->{redis_password};
    ok(!eval { $rp->redis_cmd('GET', 'a'); 1 }, 'no password: refused');
}
$rp->redis_stop;

# PostgreSQL: initdb as postgres into the prefix, faults

$t->pg_start;
like($t->pg_dsn, qr/port=${\ $t->pg_port}/, 'DSN names the port');
is($t->psql('SELECT 40 + 2'), '42', 'psql query');
$t->psql('CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)');

$t->pg_signal('STOP');
ok($t->wait_for(sub { _state($t->{procs}{pg}) eq 'T' }, 5),
   'frozen postmaster is stopped');
$t->pg_signal('CONT');
is($t->psql('SELECT count(*) FROM t'), '2', 'thawed PostgreSQL answers');

$t->pg_kill;
ok(!eval { $t->psql('SELECT 1') }, 'killed PostgreSQL is gone');
$t->pg_restart;
is($t->psql('SELECT sum(v) FROM t'), '3', 'restarted PostgreSQL kept data');

# error.log checks catch what they must

my $probe = Octopus::Test->new;
for my $line ('2026/01/01 00:00:00 [alert] 1#1: worker process 7 exited on '
              . 'signal 11',
              '2026/01/01 00:00:00 [emerg] 1#1: bad thing',
              '==1==ERROR: AddressSanitizer: heap-use-after-free',
              'x.c:1:2: runtime error: signed integer overflow')
{
    $probe->write_file('error.log', "$line\n");
    is(scalar($probe->_bad_log_lines), 1, "log check catches: $line");
}
$probe->write_file('error.log', "2026/01/01 [notice] 1#1: start\n");
is(scalar($probe->_bad_log_lines), 0, 'notice lines pass');
$probe->write_file('error.log', "2026/01/01 [emerg] 1#1: expected\n");
$probe->allow_log(qr/expected/);
is(scalar($probe->_bad_log_lines), 0, 'allowed lines pass');

# a test that dies leaves no process behind

my $pidfile = "$t->{dir}/child-pids";
my $pid = fork;
if ($pid == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    my $c = Octopus::Test->new;
    $c->nginx_conf(<<'EOF');
http {
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
    }
}
EOF
    $c->run;
    $c->redis_start;
    $c->write_file($pidfile, join ' ', $c->nginx_pid, $c->worker_pids,
                   $c->{procs}{backend}, $c->{procs}{redis});
    die "test died on purpose\n";
}
waitpid($pid, 0);
isnt($?, 0, 'dying child test exited non-zero');
my @pids = split ' ', ($t->read_file($pidfile) // '');
ok(@pids >= 4, 'child started nginx, workers, backend and redis');
ok($t->wait_for(sub { !grep { kill 0, $_ } @pids }, 10),
   'all of them stopped after the test died');

$t->done;


sub _state {
    my ($p) = @_;
    open my $fh, '<', "/proc/$p/stat" or return '';
    my $s = <$fh>;
    return $s =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}
