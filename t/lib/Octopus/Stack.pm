package Octopus::Stack;

# The production example (conf/nginx.conf) brought up for real on loopback:
# used by `make run` (tools/octopus-run) and by the tests of conf/.
#
#   my $t = Octopus::Test->new(...);
#   my $s = Octopus::Stack->new($t);
#   $s->secrets;             # tools/octopus-keygen all  ->  $s->{secrets}
#   $s->database;            # PostgreSQL + conf/sql, octopus_app password
#   $s->redis;               # Redis with the password from redis.pass
#   $s->backend;             # tools/octopus-demo-backend
#   $t->nginx_conf($s->conf_template);   # conf/nginx.conf, local values
#   $t->run;
#   $s->token('alice', 'trader');        # a token minted with PyJWT
#
# conf_template() changes only the values conf/nginx.conf marks as a
# deployment's own (secret paths, hosts, ports, spool) and the lines the
# harness writes itself (load_module, pid, error_log, temp paths).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Octopus::Test ();

my $TOP = abs_path(dirname(__FILE__) . '/../../..');


sub new {
    my ($class, $t) = @_;
    return bless { t => $t, top => $TOP, api_keys => {} }, $class;
}


sub top { $TOP }


sub _run {
    my (@cmd) = @_;
    my ($rc, $out) = Octopus::Test::capture(@cmd);
    die "@cmd failed:\n$out" if $rc;
    return $out;
}


sub secrets {
    my ($self) = @_;

    my $dir = "$self->{t}{dir}/secrets";
    unless (-f "$dir/jwt-current.key") {
        _run("$TOP/tools/octopus-keygen", 'all', $dir);
        # the service key that admin routes want beside a user token
        my $key = _run("$TOP/tools/octopus-keygen", 'api-key',
                       "$dir/api-keys", 'ops-console', 'admin');
        chomp $key;
        $self->{t}->write_file("$dir/ops-console.api-key", "$key\n");
    }
    $self->{secrets} = $dir;
    chomp(my $k = $self->{t}->read_file("$dir/ops-console.api-key") // '');
    $self->{api_keys}{'ops-console'} = $k;

    # workers read nothing here; the master reads secrets as root at start
    return $dir;
}


sub secret {
    my ($self, $name) = @_;
    my $v = $self->{t}->read_file("$self->{secrets}/$name");
    die "no secret $name" unless defined $v;
    $v =~ s/\s+\z//;
    return $v;
}


sub database {
    my ($self) = @_;
    my $t = $self->{t};

    $t->pg_start;
    for my $sql (sort glob("$TOP/conf/sql/*.sql")) {
        $t->psql($t->read_file($sql));
    }
    my $pw = $self->secret('pg.pass');
    $t->psql("ALTER ROLE octopus_app PASSWORD '$pw'");
    return $t->pg_port;
}


sub redis {
    my ($self) = @_;
    my $t = $self->{t};
    $t->{redis_password} = $self->secret('redis.pass');
    return $t->redis_start;
}


sub backend {
    my ($self) = @_;
    my $t = $self->{t};

    return $t->port('backend') if $t->{procs}{backend};

    my $port = $t->port('backend');
    my $pid = $t->_spawn('backend',
        ['/usr/bin/python3', "$TOP/tools/octopus-demo-backend", $port,
         '--jwt-key', "$self->{secrets}/jwt-current.key",
         '--kid', 'current'],
        log => "$t->{dir}/logs/backend.log");
    $t->_wait_port($port, 10, $pid) or die "demo backend did not start";
    return $port;
}


sub conf_template {
    my ($self, %o) = @_;
    my $t = $self->{t};

    my $conf = $t->read_file("$TOP/conf/nginx.conf")
        or die "no conf/nginx.conf";
    my $secrets = $self->{secrets} or die "secrets() first";

    # the harness writes these itself
    $conf =~ s/^load_module .*\n//mg;
    $conf =~ s/^(pid|error_log) .*\n//mg;
    $conf =~ s/^\s*\w+_temp_path .*\n//mg;

    $conf =~ s{/run/secrets/}{$secrets/}g;
    $conf =~ s{/var/lib/octopus/}{%%PREFIX%%/}g;
    $conf =~ s{access_log /dev/stdout}{access_log %%PREFIX%%/access.log}g;
    $conf =~ s{\bredis:6379}{127.0.0.1:%%REDIS_PORT%%}g;
    $conf =~ s{host=postgres port=5432}{host=127.0.0.1 port=%%PG_PORT%%}g;
    $conf =~ s{server backend:8000;}{server 127.0.0.1:%%PORT_backend%%;}g;
    $conf =~ s{listen 8080 }{listen 127.0.0.1:%%PORT_http%% }g;
    $conf =~ s{listen 8443 }{listen 127.0.0.1:%%PORT_https%% }g;
    $conf =~ s{worker_processes auto;}{worker_processes 2;}g;

    return $conf;
}


sub token {
    my ($self, $user, $role, @extra) = @_;
    my $tok = _run('/usr/bin/python3', "$TOP/tools/octopus-token",
                   '--key', "$self->{secrets}/jwt-current.key",
                   '--kid', 'current', '--sub', $user, '--role', $role,
                   '--iss', 'https://auth.octopus.trading',
                   '--aud', 'octopus-api', @extra);
    chomp $tok;
    return $tok;
}


1;
