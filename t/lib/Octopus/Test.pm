package Octopus::Test;

# Integration test harness for Octopus Guard.
#
#   use lib 't/lib';
#   use Octopus::Test;                 # also exports Test::More
#
#   my $t = Octopus::Test->new;        # fresh temp prefix in $t->{dir}
#                                      # new(dir => D, ports => {name => N},
#                                      # modules => [...]) to choose;
#                                      # env => {NAME => V}: more for nginx
#                                      # (LD_PRELOAD after ASan's)
#   $t->nginx_conf(<<'EOF');
#   events { }
#   http {
#       server {
#           listen 127.0.0.1:%%PORT_http%%;
#           location / { proxy_pass http://%%BACKEND%%; }
#       }
#   }
#   EOF
#   $t->run;
#   my $r = $t->get('/x', 'X-Foo' => 'bar');
#   is($r->{status}, 200);
#   is($r->{json}{headers}{'x-foo'}, 'bar');
#   $t->done;                          # stops everything, checks error.log
#
# Methods
#
#   port($name)            free loopback port, the same for the same name
#   write_file($rel, $content)   file in the prefix; returns its path
#   nginx_conf($template)  config template: everything but load_module, pid
#                          and error_log, which the harness adds (loading all
#                          three modules, or those given to new(modules =>));
#                          placeholders %%PREFIX%%, %%PORT_<name>%%,
#                          %%BACKEND%%, %%REDIS%%, %%REDIS_PORT%%,
#                          %%PG_PORT%%, %%PG_DSN%%, %%MODULES%%
#   run                    start nginx (dies with the error.log tail)
#   nginx_test([$tpl])     `nginx -t` on the config; returns ($ok, $output)
#   reload                 HUP; waits for new workers and for the old ones
#                          to exit; false if no new workers came
#   stop                   graceful quit; waits for the master to exit
#   nginx_pid, worker_pids
#   http(%args)            method, uri, headers => [n => v, ...], body,
#                          port, raw (a whole raw request), timeout, host;
#                          returns { status, headers => {lc => v},
#                          header_list, body, json, elapsed }
#   get($uri, %headers)    GET shorthand
#   load_start(%args)      background load: requests => N, concurrency => C,
#                          and the http() arguments; load_wait($h) returns
#                          { status => count } (status 0: no response)
#   backend                start the echo backend (t/lib/backend.py); port
#   redis_start, redis_stop, redis_kill, redis_restart, redis_signal($sig),
#   redis_port, redis_cmd(@args); set $t->{redis_password} before
#   redis_start for a server with requirepass (redis_cmd then AUTHs)
#   pg_start, pg_stop, pg_kill, pg_restart, pg_signal($sig), pg_port,
#   pg_dsn, psql($sql, user => ..., db => ...)
#   allow_log($regex)      error.log lines matching it are not failures
#   error_log              the text of error.log
#   check_error_log        assert error.log is clean (done calls it)
#   wait_for(sub { ... }, $timeout)   poll until true; returns the value
#   Octopus::Test::capture(@cmd)      ($status, $stdout_and_stderr)
#   Octopus::Test::mint_hs256($secret, $claims_json, ttl => 600, kid => 'k1')
#                          an HS256 token signed by PyJWT (not by our code);
#                          the claims as JSON text (escapes reach PyJWT as
#                          written), iat (now) and exp (now + ttl) added
#                          unless present
#   Octopus::Test::searchable_by_all($dir)  every folder down to $dir
#                          searchable by others
#   Octopus::Test::random_secret([$bytes])   $bytes (32) random bytes,
#                          base64url: secrets.token_urlsafe's recipe, for
#                          HMAC keys (nginx -t refuses human-made ones)
#   done                   stop everything, check error.log, done_testing
#
# Every process the harness starts is stopped when the test ends, also when
# it dies or is interrupted.

use strict;
use warnings;

use Test::More ();
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use IO::Socket::INET;
use IO::Select;
use MIME::Base64 ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use JSON::PP;

my $TOP = abs_path(dirname(__FILE__) . '/../../..');
my @INSTANCES;

sub import {
    my $caller = caller;
    eval "package $caller; use Test::More; 1" or die $@;
}

$SIG{INT} = $SIG{TERM} = sub { exit 130 };

END {
    my $status = $?;
    $_->_cleanup for grep { defined } @INSTANCES;
    $? = $status;
}


sub new {
    my ($class, %opts) = @_;

    my $dir = $opts{dir};
    if (defined $dir) {
        make_path($dir);
        $dir = abs_path($dir);
    } else {
        $dir = tempdir('octopus-test-XXXXXXXX', TMPDIR => 1,
                       CLEANUP => !$ENV{OCTOPUS_KEEP});
    }
    chmod 0755, $dir;
    make_path("$dir/logs", "$dir/tmp");

    my $self = bless {
        dir       => $dir,
        ports     => {},
        procs     => {},
        allow     => [],
        modules   => $opts{modules}
                     || [qw(ngx_octopus_auth_module
                            ngx_octopus_ratelimit_module
                            ngx_octopus_audit_module)],
        nginx     => $ENV{OCTOPUS_NGINX} || '/usr/sbin/nginx',
        moddir    => $ENV{OCTOPUS_MODULES} || "$TOP/build/release/modules",
        log_level => $opts{log_level} || 'info',
        fixed     => $opts{ports} || {},
        env       => $opts{env} || {},
    }, $class;

    Test::More::diag("test prefix: $dir") if $ENV{OCTOPUS_KEEP};

    push @INSTANCES, $self;
    return $self;
}


# ports

my %USED_PORTS;

sub port {
    my ($self, $name) = @_;

    return $self->{ports}{$name} if $self->{ports}{$name};
    return $self->{ports}{$name} = $self->{fixed}{$name}
        if $self->{fixed}{$name};

    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp',
                                      Listen => 1)
            or die "cannot bind a free port: $!";
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p}++;
        return $self->{ports}{$name} = $p;
    }

    die "no free port found";
}


sub write_file {
    my ($self, $rel, $content) = @_;

    my $path = $rel =~ m{^/} ? $rel : "$self->{dir}/$rel";
    make_path(dirname($path));
    open my $fh, '>', $path or die "cannot write $path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    return $path;
}


sub read_file {
    my ($self, $path) = @_;
    $path = "$self->{dir}/$path" unless $path =~ m{^/};
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}


sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $deadline;
        sleep 0.05;
    }
}


# processes

sub _spawn {
    my ($self, $name, $cmd, %o) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        if ($o{log}) {
            open STDOUT, '>>', $o{log};
            open STDERR, '>&', \*STDOUT;
        }
        setpgrp(0, 0);
        if (defined $o{uid}) {
            POSIX::setgid($o{gid});
            $) = "$o{gid} $o{gid}";
            POSIX::setuid($o{uid});
        }
        exec @$cmd or POSIX::_exit(127);
    }

    $self->{procs}{$name} = $pid;
    return $pid;
}


sub _reap {
    my ($self, $name, $timeout) = @_;

    my $pid = $self->{procs}{$name} or return;
    my $deadline = time + ($timeout // 10);

    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid || $r == -1) {
            delete $self->{procs}{$name};
            return 1;
        }
        sleep 0.02;
    }

    return 0;
}


sub _stop_proc {
    my ($self, $name, $sig) = @_;

    my $pid = $self->{procs}{$name} or return;
    kill 'CONT', $pid;
    kill $sig || 'TERM', $pid;
    return if $self->_reap($name, 10);
    kill 'KILL', $pid;
    $self->_reap($name, 5);
}


sub _wait_port {
    my ($self, $port, $timeout, $pid) = @_;

    return $self->wait_for(sub {
        die "process $pid exited while starting\n"
            if $pid && waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        return 0 unless $s;
        close $s;
        return 1;
    }, $timeout // 10);
}


# echo backend

sub backend {
    my ($self) = @_;

    return $self->port('backend') if $self->{procs}{backend};

    my $port = $self->port('backend');
    my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
    my $pid = $self->_spawn('backend',
                            [$py, "$TOP/t/lib/backend.py", $port],
                            log => "$self->{dir}/logs/backend.log");

    $self->_wait_port($port, 10, $pid) or die "backend did not start";
    return $port;
}


# redis

sub _need_binary {
    my ($self, $what, @candidates) = @_;
    for my $c (@candidates) {
        return $c if $c =~ m{/} ? -x $c : _which($c);
    }
    Test::More::plan(skip_all => "$what is not installed");
    exit 0;
}


sub _which {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH}) {
        return "$d/$prog" if -x "$d/$prog";
    }
    return undef;
}


sub redis_port { $_[0]->port('redis') }


sub redis_start {
    my ($self) = @_;

    return $self->redis_port if $self->{procs}{redis};

    my $bin = $self->_need_binary('redis-server', '/usr/bin/redis-server',
                                  'redis-server');
    my $port = $self->redis_port;
    my $dir = "$self->{dir}/redis";
    make_path($dir);

    my $pid = $self->_spawn('redis',
        [$bin, '--port', $port, '--bind', '127.0.0.1', '--save', '',
         '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
         '--protected-mode', 'no', '--logfile', "$dir/redis.log",
         defined $self->{redis_password}
             ? ('--requirepass', $self->{redis_password}) : ()]);

    $self->wait_for(sub {
        die "redis-server exited while starting\n"
            if waitpid($pid, WNOHANG) == $pid;
        my $r = eval { $self->redis_cmd('PING') };
        return defined $r && $r eq 'PONG';
    }, 10) or die "redis did not start";

    return $port;
}


sub redis_stop    { $_[0]->_stop_proc('redis', 'TERM') }
sub redis_kill    { $_[0]->_stop_proc('redis', 'KILL') }

sub redis_restart {
    my ($self) = @_;
    $self->redis_stop;
    return $self->redis_start;
}

sub redis_signal {
    my ($self, $sig) = @_;
    my $pid = $self->{procs}{redis} or die "redis is not running";
    kill $sig, $pid;
}


sub redis_cmd {
    my ($self, @args) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->redis_port,
                                  Proto => 'tcp', Timeout => 2)
        or die "redis connect: $!";

    my @cmds = (\@args);
    unshift @cmds, ['AUTH', $self->{redis_password}]
        if defined $self->{redis_password};

    my $req = '';
    for my $c (@cmds) {
        $req .= '*' . @$c . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @$c;
    }
    print $s $req;

    my $buf = '';
    my $sel = IO::Select->new($s);
    my $reply;
    my $pos = 0;
    for (@cmds) {
        while (1) {
            my $p = $pos;
            $reply = eval { _resp_parse(\$buf, \$p) };
            if ($p != $pos) {
                $pos = $p;
                last;
            }
            die "redis timeout\n" unless $sel->can_read(2);
            sysread($s, $buf, 65536, length $buf) or die "redis closed\n";
        }
        die "redis error: $reply->{error}\n" if ref $reply eq 'HASH';
    }
    close $s;
    die "redis error: $reply->{error}\n" if ref $reply eq 'HASH';
    return $reply;
}


sub _resp_parse {
    my ($buf, $pos) = @_;

    my $p = $$pos;
    my $eol = index($$buf, "\r\n", $p);
    die "incomplete\n" if $eol < 0;
    my $type = substr($$buf, $p, 1);
    my $line = substr($$buf, $p + 1, $eol - $p - 1);
    $p = $eol + 2;

    my $v;
    if ($type eq '+' || $type eq ':') {
        $v = $line;
    } elsif ($type eq '-') {
        $v = { error => $line };
    } elsif ($type eq '$') {
        if ($line < 0) {
            $v = undef;
        } else {
            die "incomplete\n" if length($$buf) < $p + $line + 2;
            $v = substr($$buf, $p, $line);
            $p += $line + 2;
        }
    } elsif ($type eq '*') {
        if ($line < 0) {
            $v = undef;
        } else {
            $v = [];
            for (1 .. $line) {
                my $q = $p;
                push @$v, _resp_parse($buf, \$q);
                $p = $q;
            }
        }
    } else {
        die "bad redis reply\n";
    }

    $$pos = $p;
    return $v;
}


# a command's exit status and its output (stdout and stderr together)

sub capture {
    my (@cmd) = @_;

    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($?, $out);
}


# an HS256 token minted by PyJWT (Debian's python3-jwt), independent of
# the module that verifies it

sub mint_hs256 {
    my ($secret, $claims_json, %o) = @_;

    my $py = 'import jwt, sys, time, json; n = int(time.time()); '
           . 'c = json.loads(sys.argv[2]); c.setdefault("iat", n); '
           . 'c.setdefault("exp", n + int(sys.argv[3])); '
           . 'print(jwt.encode(c, sys.argv[1], algorithm="HS256", '
           . 'headers={"kid": sys.argv[4]}))';

    my ($rc, $out) = capture('/usr/bin/python3', '-c', $py, $secret,
                             $claims_json, $o{ttl} // 600, $o{kid} // 'k1');
    die "PyJWT failed: $out" if $rc;

    # the token is the last line (stderr is merged: a warning goes before)
    my ($tok) = $out =~ /([^\n]+)\n?\z/;

    return $tok;
}


# a random HMAC secret, as secrets.token_urlsafe(32) makes them

sub random_secret {
    my ($bytes) = @_;

    open(my $fh, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    read($fh, my $raw, $bytes // 32) == ($bytes // 32) or die "urandom: $!";
    close $fh;

    return MIME::Base64::encode_base64url($raw);
}


# PostgreSQL

sub _pg_bin {
    my ($self, $prog) = @_;
    my @dirs = reverse sort glob('/usr/lib/postgresql/*/bin');
    for my $d (@dirs) {
        return "$d/$prog" if -x "$d/$prog";
    }
    return undef;
}


sub pg_port { $_[0]->port('pg') }

sub pg_dsn {
    my ($self) = @_;
    return "host=127.0.0.1 port=" . $self->pg_port
           . " dbname=octopus user=postgres";
}


sub _pg_user {
    return () if $> != 0;
    my @pw = getpwnam('postgres') or die "no postgres user";
    return (uid => $pw[2], gid => $pw[3]);
}


sub pg_start {
    my ($self) = @_;

    return $self->pg_port if $self->{procs}{pg};

    my $postgres = $self->_pg_bin('postgres');
    unless ($postgres) {
        Test::More::plan(skip_all => 'PostgreSQL server is not installed');
        exit 0;
    }

    my %user = _pg_user();
    my $base = "$self->{dir}/pg";

    # the postgres user must reach its data: a prefix under a folder it
    # cannot search (a clone in `mktemp -d`, 0700) gets a temp folder
    if (%user && !$self->{pg_base} && !searchable_by_all($self->{dir})) {
        $self->{pg_base} = tempdir('octopus-pg-XXXXXXXX', TMPDIR => 1,
                                   CLEANUP => !$ENV{OCTOPUS_KEEP});
        chmod 0755, $self->{pg_base};
    }
    $base = "$self->{pg_base}/pg" if $self->{pg_base};
    my $data = "$base/data";
    my $port = $self->pg_port;

    unless (-d $data) {
        make_path("$base/sock");
        chown $user{uid}, $user{gid}, $base, "$base/sock" if %user;
        my $pid = $self->_spawn('initdb',
            [$self->_pg_bin('initdb'), '-D', $data, '-A', 'trust',
             '-U', 'postgres', '-E', 'UTF8', '--no-sync'],
            log => "$base/initdb.log", %user);
        waitpid($pid, 0);
        delete $self->{procs}{initdb};
        die "initdb failed: " . ($self->read_file("$base/initdb.log") // '')
            if $?;
        $self->{pg_new} = 1;
    }

    my $pid = $self->_spawn('pg',
        [$postgres, '-D', $data, '-p', $port, '-k', "$base/sock",
         '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
         # synchronous_commit stays on: a killed server must keep what it
         # acknowledged, or "nothing lost" tests would blame the modules
         '-c', 'full_page_writes=off',
         '-c', 'max_connections=100', '-c', 'logging_collector=off'],
        log => "$base/postgres.log", %user);

    $self->wait_for(sub {
        die "postgres exited while starting:\n"
            . ($self->read_file("$base/postgres.log") // '')
            if waitpid($pid, WNOHANG) == $pid;
        return eval { $self->psql('SELECT 1', db => 'postgres') } ;
    }, 30) or die "PostgreSQL did not start";

    if (delete $self->{pg_new}) {
        $self->psql('CREATE DATABASE octopus', db => 'postgres');
    }

    return $port;
}


# every folder from / down to $dir searchable by others (the postgres user
# and nginx's worker user must reach what lies there)

sub searchable_by_all {
    my ($dir) = @_;

    my $path = '';
    for my $part ('', grep { length } split m{/}, $dir) {
        $path .= "$part/";
        my @st = stat $path or return 0;
        return 0 unless $st[2] & 01;
    }
    return 1;
}


sub _pg_pids {
    my ($self) = @_;
    my $pm = $self->{procs}{pg} or return ();
    return ($pm, _children($pm));
}


sub _children {
    my ($ppid) = @_;
    my @kids;
    for my $st (glob('/proc/[0-9]*/stat')) {
        open my $fh, '<', $st or next;
        my $line = <$fh>;
        close $fh;
        next unless $line && $line =~ /^(\d+) \(.*\) \S (\d+)/s;
        push @kids, $1 if $2 == $ppid;
    }
    return @kids;
}


sub pg_signal {
    my ($self, $sig) = @_;
    my @pids = $self->_pg_pids or die "PostgreSQL is not running";
    kill $sig, @pids;
}


sub pg_stop {
    my ($self) = @_;
    $self->_stop_proc('pg', 'INT');
}


sub pg_kill {
    my ($self) = @_;
    my @pids = $self->_pg_pids or return;
    kill 'KILL', @pids;
    $self->_reap('pg', 10);
    # orphaned backends go away with the postmaster
    $self->wait_for(sub { !grep { kill 0, $_ } @pids }, 10);
}


sub pg_restart {
    my ($self) = @_;
    $self->pg_stop;
    return $self->pg_start;
}


sub psql {
    my ($self, $sql, %o) = @_;

    my $psql = $self->_pg_bin('psql') || 'psql';
    my $file = "$self->{dir}/tmp/psql-$$-" . int(rand(1e9)) . ".sql";
    $self->write_file($file, $sql);

    my @cmd = ($psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
               '-h', '127.0.0.1', '-p', $self->pg_port,
               '-U', $o{user} || 'postgres', '-d', $o{db} || 'octopus',
               '-f', $file);

    local $ENV{PGCONNECT_TIMEOUT} = 5;
    local $ENV{PGPASSWORD} = $o{password} if defined $o{password};

    my ($rc, $out) = capture(@cmd);
    unlink $file;

    die "psql failed: $out" if $rc;
    $out =~ s/\n+\z//;
    return $out eq '' ? '0E0' : $out;
}


# nginx

sub nginx_conf {
    my ($self, $tpl) = @_;
    $self->{template} = $tpl;
    $self->write_file('nginx.conf', $self->_expand($tpl));
    return "$self->{dir}/nginx.conf";
}


sub _expand {
    my ($self, $tpl) = @_;

    my $dir = $self->{dir};
    my $conf = $tpl;

    $conf =~ s/%%PREFIX%%/$dir/g;
    $conf =~ s/%%MODULES%%/$self->{moddir}/g;
    $conf =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $conf =~ s/%%BACKEND%%/'127.0.0.1:' . $self->backend/ge;
    $conf =~ s/%%REDIS%%/'127.0.0.1:' . $self->redis_start/ge;
    $conf =~ s/%%REDIS_PORT%%/$self->redis_start/ge;
    $conf =~ s/%%PG_PORT%%/$self->pg_start/ge;
    $conf =~ s/%%PG_DSN%%/$self->pg_start; $self->pg_dsn/ge;

    my $head = '';
    $head .= "load_module $self->{moddir}/$_.so;\n" for @{$self->{modules}};
    $head .= "pid $dir/nginx.pid;\n";
    $head .= "error_log $dir/error.log $self->{log_level};\n\n";

    $conf = "events { }\n" . $conf unless $conf =~ /^\s*events\s*\{/m;

    my $http = join '',
        "\n    client_body_temp_path $dir/tmp/body;\n",
        "    proxy_temp_path $dir/tmp/proxy;\n",
        "    fastcgi_temp_path $dir/tmp/fastcgi;\n",
        "    uwsgi_temp_path $dir/tmp/uwsgi;\n",
        "    scgi_temp_path $dir/tmp/scgi;\n",
        "    access_log $dir/access.log;\n";
    $conf =~ s/^(\s*http\s*\{)/$1$http/m;

    return $head . $conf;
}


sub _nginx_env {
    my ($self) = @_;
    my %env;
    if ($ENV{OCTOPUS_SANITIZE}) {
        chomp(my $asan = `gcc -print-file-name=libasan.so`);
        $env{LD_PRELOAD} = $asan;
        # ASan's ODR check stays on: each .so exports only the three arrays
        # nginx dlsym()s (t/build_symbols.t), its ODR indicators
        # (__odr_asan.*) stay local, so no module's globals are taken for
        # another's; leaks are issue 8's LeakSanitizer run
        $env{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=1';
        $env{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1';
    }
    # new(env => {...}): more for nginx (an LD_PRELOAD comes after ASan's)
    for my $k (keys %{$self->{env}}) {
        $env{$k} = $k eq 'LD_PRELOAD' && $env{$k}
                   ? "$env{$k} $self->{env}{$k}" : $self->{env}{$k};
    }
    return %env;
}


sub _nginx_cmd {
    my ($self, $conf, $errlog, @extra) = @_;
    return ($self->{nginx}, '-p', "$self->{dir}/", '-c', $conf,
            '-e', $errlog, @extra);
}


sub nginx_test {
    my ($self, $tpl) = @_;

    my $conf = "$self->{dir}/nginx.conf";
    if (defined $tpl) {
        $conf = $self->write_file('nginx-test.conf', $self->_expand($tpl));
    }

    my %env = $self->_nginx_env;
    local @ENV{keys %env} = values %env;

    my ($rc, $out) = capture($self->_nginx_cmd($conf,
                             "$self->{dir}/logs/test-error.log", '-t'));
    return ($rc == 0, $out);
}


sub run {
    my ($self) = @_;

    die "nginx_conf() first" unless -f "$self->{dir}/nginx.conf";
    unlink "$self->{dir}/nginx.pid";

    my %env = $self->_nginx_env;
    local @ENV{keys %env} = values %env;

    my ($rc, $out) = capture($self->_nginx_cmd("$self->{dir}/nginx.conf",
                                               "$self->{dir}/error.log"));
    if ($rc) {
        die "nginx failed to start:\n$out\n" . $self->_log_tail;
    }

    $self->wait_for(sub { $self->nginx_pid }, 10)
        or die "nginx wrote no pid file\n" . $self->_log_tail;

    # wait for every listening port of the config
    my $conf = $self->read_file('nginx.conf');
    while ($conf =~ /^\s*listen\s+127\.0\.0\.1:(\d+)/mg) {
        $self->_wait_port($1, 10)
            or die "nginx is not listening on $1\n" . $self->_log_tail;
    }

    $self->{running} = 1;
    return $self;
}


sub nginx_pid {
    my ($self) = @_;
    my $pid = $self->read_file('nginx.pid') or return undef;
    chomp $pid;
    return $pid && kill(0, $pid) ? $pid : undef;
}


sub worker_pids {
    my ($self) = @_;
    my $pid = $self->nginx_pid or return ();
    return _children($pid);
}


sub reload {
    my ($self) = @_;

    my $pid = $self->nginx_pid or die "nginx is not running";
    my %old = map { $_ => 1 } $self->worker_pids;
    my $n = keys %old;

    kill 'HUP', $pid;

    $self->wait_for(sub {
        my @new = grep { !$old{$_} } $self->worker_pids;
        return @new >= ($n || 1);
    }, 10) or return 0;

    # old workers stop accepting at once but may still hold connections:
    # wait for them to exit so that every request after reload() meets
    # the new configuration
    $self->wait_for(sub { !grep { kill 0, $_ } keys %old }, 10);

    return 1;
}


sub stop {
    my ($self) = @_;

    my $pid = $self->nginx_pid or return;

    kill 'QUIT', $pid;
    unless ($self->wait_for(sub { !kill(0, $pid) }, 15)) {
        kill 'TERM', $pid;
        $self->wait_for(sub { !kill(0, $pid) }, 5)
            or kill 'KILL', $pid, $self->worker_pids;
    }

    $self->{running} = 0;
}


sub _log_tail {
    my ($self) = @_;
    my $log = $self->error_log;
    my @l = split /\n/, $log;
    splice @l, 0, @l - 30 if @l > 30;
    return join("\n", @l) . "\n";
}


sub error_log {
    my ($self) = @_;
    return $self->read_file('error.log') // '';
}


sub allow_log {
    my ($self, $re) = @_;
    push @{$self->{allow}}, $re;
}


sub _bad_log_lines {
    my ($self) = @_;

    my @bad;
    for my $line (split /\n/, $self->error_log) {
        next unless $line =~ /\[alert\]|\[emerg\]|exited on signal
                              |AddressSanitizer|LeakSanitizer
                              |UndefinedBehaviorSanitizer|runtime\ error:/x;
        next if grep { $line =~ $_ } @{$self->{allow}};
        push @bad, $line;
    }
    return @bad;
}


sub check_error_log {
    my ($self) = @_;
    my @bad = $self->_bad_log_lines;
    Test::More::is(scalar(@bad), 0,
                   'error.log: no alert, emerg, crash or sanitizer report')
        or Test::More::diag(join "\n", @bad[0 .. ($#bad < 20 ? $#bad : 19)]);
}


sub done {
    my ($self) = @_;
    $self->stop;
    $self->check_error_log;
    $self->_cleanup;
    Test::More::done_testing();
}


sub _cleanup {
    my ($self) = @_;

    return if $self->{cleaned}++;

    if (my $pid = $self->nginx_pid) {
        kill 'QUIT', $pid;
        $self->wait_for(sub { !kill(0, $pid) }, 10)
            or kill 'KILL', $pid, $self->worker_pids;
    }

    for my $h (@{$self->{loads} || []}) {
        kill 'KILL', @{$h->{pids}};
        waitpid($_, 0) for @{$h->{pids}};
    }

    $self->_stop_proc('backend', 'TERM');
    $self->_stop_proc('redis', 'TERM');
    if ($self->{procs}{pg}) {
        kill 'CONT', $self->_pg_pids;
        $self->_stop_proc('pg', 'INT');
    }

    # anything else a test started with _spawn (e.g. a Sentinel set-up)
    $self->_stop_proc($_, 'TERM') for sort keys %{$self->{procs}};
}


# HTTP client: raw sockets, so tests can send anything

sub http {
    my ($self, %a) = @_;

    my $port = $a{port} || $self->port('http');
    my $raw = $a{raw};

    unless (defined $raw) {
        my $method = $a{method} || 'GET';
        my $uri = $a{uri} // '/';
        my @h = @{$a{headers} || []};
        my %has = map { lc($h[$_ * 2]) => 1 } 0 .. int(@h / 2) - 1;
        $raw = "$method $uri HTTP/1.1\r\n";
        $raw .= "Host: " . ($a{host} || 'localhost') . "\r\n"
            unless $has{host};
        $raw .= "Connection: close\r\n" unless $has{connection};
        while (my ($n, $v) = splice @h, 0, 2) {
            $raw .= "$n: $v\r\n";
        }
        if (defined $a{body} && !$has{'content-length'}) {
            $raw .= "Content-Length: " . length($a{body}) . "\r\n";
        }
        $raw .= "\r\n";
        $raw .= $a{body} if defined $a{body};
    }

    my $start = time;
    my $timeout = $a{timeout} || 10;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => $timeout);
    return { status => 0, error => "connect: $!", elapsed => time - $start }
        unless $s;

    binmode $s;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $raw) {
        my $n = syswrite($s, $raw, 65536, $off);
        last unless defined $n && $n > 0;
        $off += $n;
    }

    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = $start + $timeout;
    while (1) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;

    my $r = _parse_response($buf);
    $r->{elapsed} = time - $start;
    $r->{raw} = $buf;
    return $r;
}


sub _parse_response {
    my ($buf) = @_;

    my $end = index($buf, "\r\n\r\n");
    return { status => 0, headers => {}, header_list => [], body => '' }
        if $end < 0;

    my ($status_line, @lines) = split /\r\n/, substr($buf, 0, $end);
    my $body = substr($buf, $end + 4);
    my ($status) = $status_line =~ m{^HTTP/\d\.\d (\d{3})};

    my (%h, @list);
    for (@lines) {
        my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
        push @list, [$n, $v];
        $h{lc $n} = exists $h{lc $n} ? "$h{lc $n}, $v" : $v;
    }

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len);
            substr($body, 0, $len + 2) = '';
        }
        $body = $out;
    }

    my $json = eval { JSON::PP->new->decode($body) };

    return { status => $status || 0, headers => \%h, header_list => \@list,
             body => $body, json => $json };
}


sub get {
    my ($self, $uri, @headers) = @_;
    return $self->http(uri => $uri, headers => \@headers);
}


# background load: forked clients, results counted by status

sub load_start {
    my ($self, %a) = @_;

    my $n = $a{requests} || 100;
    my $c = $a{concurrency} || 4;
    my $file = "$self->{dir}/tmp/load-" . int(rand(1e9));
    my @pids;

    for my $i (0 .. $c - 1) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            @INSTANCES = ();
            open my $out, '>', "$file.$i" or POSIX::_exit(1);
            my $share = int($n / $c) + ($i < $n % $c ? 1 : 0);
            for (1 .. $share) {
                my $r = $self->http(%a);
                syswrite $out, "$r->{status}\n";
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    my $h = { pids => \@pids, file => $file, c => $c };
    push @{$self->{loads}}, $h;
    return $h;
}


sub load_wait {
    my ($self, $h) = @_;

    waitpid($_, 0) for @{$h->{pids}};
    @{$self->{loads}} = grep { $_ != $h } @{$self->{loads}};

    my %count;
    for my $i (0 .. $h->{c} - 1) {
        open my $fh, '<', "$h->{file}.$i" or next;
        while (<$fh>) {
            chomp;
            $count{$_}++;
        }
        close $fh;
    }
    return \%count;
}


1;
