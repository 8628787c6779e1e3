#!/usr/bin/perl

# Attack tests: hostile JWT claims (control characters, CR/LF, quotes,
# backslashes, Unicode separators, invalid UTF-8, NUL, oversized values)
# with all three modules.  Upstream headers carry no injected line, the
# audit sinks (PostgreSQL through COPY, the JSON file, syslog) keep one
# intact record per request with the values escaped, the error log gets
# no forged line.  Tokens are minted by PyJWT, or signed here with
# Digest::SHA when PyJWT refuses the payload (invalid UTF-8).

use strict;
use warnings;

use lib 't/lib';
use Octopus::Test;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use MIME::Base64 qw(encode_base64url);
use Digest::SHA qw(hmac_sha256);

my $t = Octopus::Test->new;
my $secret = Octopus::Test::random_secret();
$t->write_file('keys/hs.key', $secret);

$t->pg_start;
$t->psql($t->read_file(Cwd::abs_path('conf/sql/001_audit_schema.sql')));

my $syslog = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $t->port('syslog'),
                                   Proto => 'udp')
    or die "udp: $!";

# claims as JSON text, so that escapes reach PyJWT unchanged
sub mint { Octopus::Test::mint_hs256($secret, $_[0]) }

# a token over raw payload bytes, HMAC-SHA256 made here
sub raw_token {
    my ($payload) = @_;
    my $si = encode_base64url('{"alg":"HS256","typ":"JWT","kid":"k1"}')
             . '.' . encode_base64url($payload);
    return $si . '.' . encode_base64url(hmac_sha256($si, $secret));
}

$t->nginx_conf(<<'EOF');
events { }
http {
    octopus_auth_key hs256 kid=k1 file=%%PREFIX%%/keys/hs.key;

    octopus_ratelimit_zone user key=$octopus_user rate=1000r/m;

    octopus_audit_pg "host=127.0.0.1 port=%%PG_PORT%% dbname=octopus user=octopus_app";
    octopus_audit_batch size=20 interval=50ms timeout=2s backoff=200ms;
    octopus_audit_spool %%PREFIX%%/spool max_size=10m;
    octopus_audit_file %%PREFIX%%/audit.jsonl;
    octopus_audit_syslog 127.0.0.1:%%PORT_syslog%% proto=udp events=all;
    octopus_audit on;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/ {
            octopus_auth jwt;
            octopus_ratelimit user;
            proxy_set_header X-Desk $octopus_jwt_claim_desk;
            proxy_set_header X-Tags $octopus_jwt_claim_tags;
            proxy_set_header X-Sub "$octopus_user";
            proxy_pass http://%%BACKEND%%;
        }
    }
}
EOF
$t->run;

my $n = 0;
sub call {
    my ($tok, @h) = @_;
    $n++;
    return $t->get('/api/x', Authorization => "Bearer $tok", @h);
}

# a quoted, backslashed subject; a claim trying a header injection

my $r = call(mint('{"sub":"al\"ice\\\\ \'x\'","role":"user",'
                  . '"desk":"fx\r\nX-Injected: 1\r\n\r\nGET / HTTP/1.1",'
                  . '"tags":["a\nb","c"]}'));
is($r->{status}, 200, 'quotes and backslashes in sub: served');
is($r->{json}{headers}{'x-octopus-user'}, q{al"ice\ 'x'},
   '... X-Octopus-User carries the subject as is');
is($r->{json}{headers}{'x-sub'}, q{al"ice\ 'x'}, '... and $octopus_user');
ok(!exists $r->{json}{headers}{'x-injected'},
   'CR/LF in a claim injects no upstream header');
is($r->{json}{headers}{'x-desk'}, undef,
   '... $octopus_jwt_claim_desk with CR/LF is not set');
unlike($r->{json}{headers}{'x-tags'} // '', qr/[\r\n]/,
       '... an array claim neither');
is(scalar(grep { lc $_->[0] eq 'x-desk' } @{$r->{json}{header_list} // []}),
   (defined $r->{json}{headers}{'x-desk'} ? 1 : 0), '... one X-Desk at most');

# subjects that cannot travel in a header are refused

for my $bad (['"bob\r\nX-Injected: 1"', 'CR/LF'], ['"bob\u001b[2J"', 'ESC'],
             ['"bob\u007f"', 'DEL'], ['"' . ('u' x 300) . '"', '300 bytes'],
             ['""', 'empty'], ['42', 'a number'])
{
    $r = call(mint(qq({"sub":$bad->[0],"role":"user"})));
    is($r->{status}, 401, "sub with $bad->[1]: 401");
    ok(!defined $r->{json}{uri}, '... not passed upstream');
}

$r = call(mint('{"sub":"eve","role":"user","note":"a\u0000b"}'));
is($r->{status}, 401, 'a claim with \u0000: 401');

$r = call(raw_token('{"sub":"m\xff\xfeallory","role":"user","exp":'
                    . (time + 600) . '}'));
is($r->{status}, 401, 'invalid UTF-8 in the payload: 401');

$r = call(raw_token('{"sub":"zed","role":"user","exp":' . (time + 600)
                    . ',"x":"\xed\xa0\x80"}'));
is($r->{status}, 401, 'an encoded surrogate (CESU-8) in the payload: 401');

# Unicode that is valid but treacherous

my $uni = "\x{1F600} \x{2028}\x{2029}\x{202E}\x{FEFF} </script>";
(my $uni_json = JSON::PP->new->ascii->encode([$uni])) =~ s/^\[|\]$//g;
$r = call(mint(qq({"sub":$uni_json,"role":"user"})));
is($r->{status}, 200, 'emoji, line separators, RLO, BOM in sub: served');

# hostile request parts next to the claims

$r = call(mint('{"sub":"ua","role":"user"}'),
          'User-Agent' => "x\x1b]0;pwned\x07\" \\N\t\\.\r");
is($r->{status}, 200, 'control characters in User-Agent');
$n++;
$r = $t->get("/api/a%0d%0aX-Injected:%201/%ff%1b?q=%0a\"'\\",
             Authorization => 'Bearer ' . mint('{"sub":"path","role":"user"}'));
is($r->{status}, 200, 'CR/LF/ESC/invalid UTF-8 in the path: served');
$n++;
$r = $t->get("/api/%00", Authorization => 'Bearer '
                                         . mint('{"sub":"nul","role":"u"}'));
is($r->{status}, 400, 'NUL in the path: 400');

# every request: one row, one file line, one syslog message

my $rows = $t->wait_for(sub {
    my $c = $t->psql('SELECT count(*) FROM audit.api_calls');
    return $c >= $n ? $c : 0;
}, 15);
is($rows, $n, "one audit row per request ($n)");

my $q = sub { $t->psql($_[0]) };
is($q->(q{SELECT user_name FROM audit.api_calls WHERE user_name LIKE 'al%'}),
   q{al"ice\ 'x'}, 'PostgreSQL: the quoted subject intact');
is($q->(q{SELECT count(*) FROM audit.api_calls WHERE status = 401}), 9,
   'PostgreSQL: the refused tokens recorded');
is($q->(q{SELECT count(*) FROM audit.api_calls WHERE user_name IS NOT NULL}
        . q{ AND status = 401}), 0, '... without a user');
my $pg_uni = $q->(q{SELECT encode(convert_to(user_name, 'UTF8'), 'hex') }
                  . q{FROM audit.api_calls WHERE user_name LIKE '%script%'});
my $uni_hex = unpack('H*', do { my $u = $uni; utf8::encode($u); $u });
is($pg_uni, $uni_hex, 'PostgreSQL: the Unicode subject byte for byte');
like($q->(q{SELECT encode(convert_to(user_agent, 'UTF8'), 'hex') FROM }
          . q{audit.api_calls WHERE user_name = 'ua'}),
     qr/^781b5d303b70776e6564072220/,
     'PostgreSQL: the User-Agent with ESC and BEL kept as data');

my @lines = grep { !/"checkpoint"/ } split /\n/, $t->read_file('audit.jsonl');
my @recs = map { eval { decode_json($_) } // { bad => $_ } } @lines;
is(scalar(grep { $_->{bad} } @recs), 0, 'file: every line is one JSON record');
is(scalar(grep { defined $_->{request_id} } @recs), $n,
   'file: one record per request');
my ($al) = grep { ($_->{user_name} // '') =~ /^al/ } @recs;
is($al && $al->{user_name}, q{al"ice\ 'x'}, 'file: the quoted subject');
my ($u) = grep { ($_->{user_name} // '') =~ /script/ } @recs;
is($u && $u->{user_name}, $uni, 'file: the Unicode subject');
my ($p) = grep { ($_->{path} // '') =~ /Injected/ } @recs;
is($p && $p->{path}, "/api/a\r\nX-Injected: 1/\\xff\x1b",
   'file: the decoded path, CR/LF escaped in JSON, invalid byte as \xHH');
is($q->(q{SELECT count(*) FROM audit.api_calls WHERE path LIKE }
        . q{E'/api/a\\r\\nX-Injected: 1/%'}), 1,
   'PostgreSQL: the path with CR/LF kept as data');

my @msgs;
my $sel = IO::Select->new($syslog);
while ($sel->can_read(@msgs >= $n ? 0.2 : 2)) {
    $syslog->recv(my $d, 65535);
    push @msgs, $d unless $d =~ /"checkpoint"/;
}
is(scalar @msgs, $n, 'syslog: one message per request');
is(scalar(grep { /[\r\n\0]/ } @msgs), 0, 'syslog: no raw CR, LF or NUL');
my @sj = map { /(\{.*\})\s*$/s ? eval { decode_json($1) } : undef } @msgs;
is(scalar(grep { !defined } @sj), 0, 'syslog: every message carries JSON');

unlike($t->error_log, qr/^X-Injected/m, 'error.log: no forged line');

$t->done;
