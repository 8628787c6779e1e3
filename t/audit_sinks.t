#!/usr/bin/perl

# ngx_octopus_audit_module: the rules of the sink interface that are
# visible from outside.  /metrics prints each family once, the sinks in
# registration order (postgresql, file, syslog) with their own families
# after the common ones; the default JSON lines file is opened when no
# sink that stores every record is configured (syslog alone does not
# store: it keeps security events), and not when PostgreSQL is; a record
# reaches every configured sink, once.

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use IO::Socket::INET;

sub metrics_ok {
    my ($m, $what) = @_;

    # every family once: one HELP and one TYPE line, its samples together

    my (%help, %type, @order, %seen);
    for (split /\n/, $m) {
        if (/^# HELP (\S+)/) { $help{$1}++; next }
        if (/^# TYPE (\S+)/) { $type{$1}++; next }
        my ($name) = /^([a-z_]+)/ or next;
        $name =~ s/_(bucket|sum|count)$//
            if $name =~ /^octopus_request_duration_seconds_/;
        push @order, $name unless @order && $order[-1] eq $name;
    }
    is((grep { $help{$_} != 1 } keys %help), 0, "$what: one HELP a family");
    is((grep { $type{$_} != 1 } keys %type), 0, "$what: one TYPE a family");
    $seen{$_}++ for @order;
    is((grep { $seen{$_} > 1 } keys %seen), 0,
       "$what: the samples of a family together");

    for my $f (qw(octopus_audit_records_written_total
                  octopus_audit_sink_errors_total))
    {
        my @s = $m =~ /^$f\{sink="([a-z]+)"\} \d+$/mg;
        is("@s", 'postgresql file syslog', "$what: $f by sink, in order");
    }

    # the PostgreSQL sink's own families follow the common ones
    like($m, qr/octopus_audit_sink_errors_total\{sink="syslog"\}\ \d+\n
                \#\ HELP\ octopus_audit_records_spooled_total/x,
         "$what: the sinks' own families after the common ones");
}

my $listener;
END { kill 'TERM', $listener if $listener; }

# syslog only: the default file too

my $t = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);
my $udp = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                LocalPort => $t->port('syslog'),
                                Proto => 'udp')
    or die "udp: $!";

$t->nginx_conf(<<'EOF');
worker_processes 1;
events { }
http {
    octopus_audit_syslog 127.0.0.1:%%PORT_syslog%% events=all;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
        location = /metrics { octopus_audit off; octopus_metrics; }
    }
}
EOF
$t->run;

is($t->get('/one')->{status}, 200, 'syslog only: served');
ok($t->wait_for(sub { ($t->read_file('logs/octopus-audit.jsonl') // '')
                      =~ /"path":"\/one"/ }, 5),
   'syslog only: the default file stores the record');

my $got = '';
$udp->blocking(0);
ok($t->wait_for(sub {
    while (defined $udp->recv(my $d, 65535)) { last if $d eq ''; $got .= $d }
    return $got =~ m{"path":"/one"};
}, 5), 'syslog only: syslog got the record');

my $m = $t->get('/metrics')->{body};
metrics_ok($m, 'syslog only');
like($m, qr/^octopus_audit_records_written_total\{sink="file"\} 1$/m,
     'syslog only: one record written to the file');
like($m, qr/^octopus_audit_records_written_total\{sink="syslog"\} 1$/m,
     'syslog only: one record sent to syslog');
like($m, qr/^octopus_audit_records_written_total\{sink="postgresql"\} 0$/m,
     'syslog only: none to PostgreSQL');
$t->stop;
$t->check_error_log;

# PostgreSQL configured (unreachable: the records are spooled): no default
# file

my $p = Octopus::Test->new(modules => ['ngx_octopus_audit_module']);
$p->nginx_conf(<<'EOF');
worker_processes 1;
events { }
http {
    octopus_audit_pg "host=127.0.0.1 port=%%PORT_nopg%% dbname=x user=x";
    octopus_audit_batch size=1 interval=50ms timeout=1s backoff=200ms;
    octopus_audit_spool %%PREFIX%%/spool;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://%%BACKEND%%; }
        location = /metrics { octopus_audit off; octopus_metrics; }
    }
}
EOF
$p->run;

is($p->get('/two')->{status}, 200, 'PostgreSQL: served');
ok($p->wait_for(sub {
    ($p->get('/metrics')->{body}
         =~ /^octopus_audit_records_spooled_total (\d+)$/m)[0] >= 1 }, 5),
   'PostgreSQL down: the record is spooled');
ok(!-e "$p->{dir}/logs/octopus-audit.jsonl",
   'PostgreSQL: no default file');

$m = $p->get('/metrics')->{body};
metrics_ok($m, 'PostgreSQL');
like($m, qr/^octopus_audit_records_written_total\{sink="file"\} 0$/m,
     'PostgreSQL: nothing to a file');

$p->done;
