#!/usr/bin/perl

# Tests for the attributes, name and status of the SERVER span: unknown
# methods, otel_span_name, otel_span_attr, body sizes, requests that end
# without a response, 4xx and 5xx, url.query, server.port, long and
# non-ASCII values.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use IO::Socket::INET;
use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http rewrite proxy/)
	->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint file:%%TESTDIR%%/spans.json;
        interval 50ms;
    }

    otel_trace on;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        large_client_header_buffers 4 16k;

        location / {
            return 200 "ok\n";
        }

        location ~ ^/cap/(\w+)$ {
            otel_span_attr app.cap "c=$1";
            return 200;
        }

        location /named {
            otel_span_name custom-name;
            return 200;
        }

        location /vars {
            otel_span_name "$request_method op=$arg_op";
            return 200;
        }

        location /empty-name {
            otel_span_name $arg_op;
            return 200;
        }

        location /attrs {
            otel_span_attr app.const fixed;
            otel_span_attr app.user $arg_user;
            otel_span_attr app.empty $arg_none;
            otel_span_attr app.mixed "u=$arg_user";
            otel_span_attr app.a.key.longer.than.28.bytes $arg_user;
            otel_span_attr app.raw $arg_raw;
            otel_span_attr app.braces "${arg_user}-x-$arg_user";
            otel_span_attr app.missing "pre-${arg_none}-post";
            otel_span_attr app.long "L$http_x_long";
            return 200;
        }

        location /body {
            return 200 "12345678";
        }

        location /proxied {
            proxy_pass http://127.0.0.1:8080/sink;
        }

        location /sink {
            otel_trace off;
            return 200 "sunk\n";
        }

        location /close {
            return 444;
        }

        location /closed-port {
            proxy_pass http://127.0.0.1:8081;
        }

        location /notfound {
            return 404;
        }

        location /hold {
            client_body_timeout 300ms;
            proxy_pass http://127.0.0.1:8082;
            proxy_read_timeout 30s;
        }
    }
}

EOF

$t->run_daemon(\&hold_daemon, port(8082));
$t->run()->plan(51);
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no hold daemon\n";

###############################################################################

# unknown methods

like(http("FOO /method HTTP/1.0\r\nHost: localhost\r\n\r\n"), qr/ 200 /,
	'unknown method served');
like(http("PROPFIND /method2 HTTP/1.0\r\nHost: localhost\r\n\r\n"),
	qr/ 200 /, 'webdav method served');

my %s = by_path(wait_spans($t, 2));

is_deeply([ @{$s{'/method'}{attrs}}{qw/ http.request.method
	http.request.method_original /} ], [ '_OTHER', 'FOO' ],
	'unknown method: _OTHER and the original');
is_deeply([ @{$s{'/method2'}{attrs}}{qw/ http.request.method
	http.request.method_original /} ], [ '_OTHER', 'PROPFIND' ],
	'method outside the conventions: _OTHER and the original');

# span names

http_get('/named');
http_get('/vars?op=list');
http_get('/empty-name');

%s = by_path(wait_spans($t, 5));

is($s{'/named'}{name}, 'custom-name', 'otel_span_name constant');
is($s{'/vars'}{name}, 'GET op=list', 'otel_span_name with variables');
is($s{'/empty-name'}{name}, 'GET /empty-name',
	'otel_span_name empty: the default name');

# custom attributes

http("GET /attrs?user=alice&raw=caf\xc3\xa9\xff HTTP/1.0\r\n"
	. "Host: localhost\r\n"
	. "X-Long: a" . ("\xc3\xa9" x 3000) . "\r\n\r\n");
http_get('/cap/abc');

%s = by_path(wait_spans($t, 7));
my $a = $s{'/attrs'}{attrs};

is($a->{'app.const'}, 'fixed', 'otel_span_attr constant');
is($a->{'app.user'}, 'alice', 'otel_span_attr variable');
ok(!exists $a->{'app.empty'}, 'otel_span_attr empty: absent');
is($a->{'app.mixed'}, 'u=alice', 'otel_span_attr mixed');
is($a->{'app.a.key.longer.than.28.bytes'}, 'alice',
	'otel_span_attr with a long key');
is($a->{'app.raw'}, "caf\x{e9}\x{fffd}",
	'otel_span_attr not ASCII: UTF-8 kept, an invalid byte replaced');
is($a->{'app.braces'}, 'alice-x-alice', 'otel_span_attr text and variables');
is($a->{'app.missing'}, 'pre--post', 'otel_span_attr text, variable not found');
ok(($a->{'app.long'} // '') eq 'La' . ("\x{e9}" x 2047),
	'otel_span_attr text and a long variable: cut at a character boundary')
	or diag('got ' . length($a->{'app.long'} // '') . ' characters');
is($s{'/cap/abc'}{attrs}{'app.cap'}, 'c=abc',
	'otel_span_attr with a regex capture');

# body sizes

like(http(<<EOF), qr/ 200 .*12345678$/s, 'post served');
POST /body HTTP/1.0
Host: localhost
Content-Length: 5

hello
EOF

like(http_head('/body'), qr/ 200 /, 'head served');

like(http(<<EOF), qr/ 200 .*sunk$/s, 'proxied post served');
POST /proxied HTTP/1.0
Host: localhost
Content-Length: 6

hello!
EOF

like(http(<<EOF), qr/ 200 .*sunk$/s, 'proxied chunked post served');
POST /proxied/chunked HTTP/1.1
Host: localhost
Connection: close
Transfer-Encoding: chunked

3
abc
4
defg
0

EOF

my @spans = wait_spans($t, 11);
my %p = by_path(grep { $_->{name} !~ /^HEAD/ } @spans);
my $post = $p{'/body'};
my $head = (grep { $_->{name} =~ /^HEAD/ } @spans)[0];

# the body nginx discards (return, static files) counts as well

is($post->{attrs}{'http.request.body.size'}, 5,
	'request body size, body discarded');
is($p{'/proxied'}{attrs}{'http.request.body.size'}, 6,
	'request body size, body read');
is($p{'/proxied/chunked'}{attrs}{'http.request.body.size'}, 7,
	'request body size, chunked');
is($post->{attrs}{'http.response.body.size'}, 8, 'response body size');
is($head->{attrs}{'http.response.body.size'}, 0, 'head: no body');
ok(!exists $head->{attrs}{'http.request.body.size'}, 'no request body size');

# statuses

is(http_get('/close'), '', '444 closes');
like(http_get('/closed-port'), qr/ 502 /, '502 from the proxy');
like(http_get('/notfound'), qr/ 404 /, 'not found');

%s = by_path(wait_spans($t, 14));

is($s{'/close'}{status}, 2, '444: error');
ok(!exists $s{'/close'}{attrs}{'http.response.status_code'},
	'444: no status code');

is_deeply([ $s{'/closed-port'}{status},
	@{$s{'/closed-port'}{attrs}}{qw/ http.response.status_code error.type /} ],
	[ 2, 502, '502' ], '502: error, status code, error.type');

is_deeply([ $s{'/notfound'}{status},
	$s{'/notfound'}{attrs}{'http.response.status_code'},
	exists $s{'/notfound'}{attrs}{'error.type'} ], [ 0, 404, '' ],
	'404: status unset, no error.type');

# requests that end without a response: the client goes away (499), the
# client body times out (408); nginx logs these codes but sends nothing

my $sock = http("GET /hold/abort HTTP/1.1\r\nHost: localhost\r\n\r\n",
	start => 1);
sleep(0.5);
close $sock;

is(http("POST /hold/timeout HTTP/1.1\r\nHost: localhost\r\n"
	. "Content-Length: 10\r\n\r\nabc"), '', 'body timeout: no response');

%s = by_path(wait_spans($t, 16));

is_deeply([ $s{'/hold/abort'}{status},
	exists $s{'/hold/abort'}{attrs}{'http.response.status_code'} ],
	[ 2, '' ], 'client gone: error, no status code');
is_deeply([ $s{'/hold/timeout'}{status},
	exists $s{'/hold/timeout'}{attrs}{'http.response.status_code'} ],
	[ 2, '' ], 'body timeout: error, no status code');

# url.query

http_get('/noquery');
http_get('/emptyquery?');

%s = by_path(wait_spans($t, 18));

ok(!exists $s{'/noquery'}{attrs}{'url.query'}, 'no query: no url.query');
ok(!exists $s{'/emptyquery'}{attrs}{'url.query'},
	'empty query: no url.query');

# server.port: from Host, else the port listened on

http("GET /hostport HTTP/1.0\r\nHost: example.test:9999\r\n\r\n");
http("GET /hostnoport HTTP/1.0\r\nHost: example.test\r\n\r\n");
http("GET /host6port HTTP/1.0\r\nHost: [::1]:8443\r\n\r\n");
http("GET /host6 HTTP/1.0\r\nHost: [::1]\r\n\r\n");
http("GET /hostbadport HTTP/1.0\r\nHost: example.test:99999\r\n\r\n");

%s = by_path(wait_spans($t, 23));

is_deeply([ @{$s{'/hostport'}{attrs}}{qw/ server.address server.port /} ],
	[ 'example.test', 9999 ], 'server.port from Host');
is_deeply([ @{$s{'/hostnoport'}{attrs}}{qw/ server.address server.port /} ],
	[ 'example.test', port(8080) ], 'server.port from the listen socket');
is_deeply([ @{$s{'/host6port'}{attrs}}{qw/ server.address server.port /} ],
	[ '[::1]', 8443 ], 'server.port from an IPv6 Host');
is_deeply([ @{$s{'/host6'}{attrs}}{qw/ server.address server.port /} ],
	[ '[::1]', port(8080) ],
	'IPv6 Host without a port: the port listened on');
is($s{'/hostbadport'}{attrs}{'server.port'}, port(8080),
	'a port above 65535 in Host: the port listened on');

# a 10 kB User-Agent is cut to 4096 bytes, not dropped; a cut multi-byte
# character is not turned into a replacement character

like(http("GET /ua HTTP/1.0\r\nHost: localhost\r\nUser-Agent: "
	. ('a' x 10240) . "\r\n\r\n"), qr/ 200 /, 'long user agent served');
like(http("GET /ua2 HTTP/1.0\r\nHost: localhost\r\nUser-Agent: a"
	. ("\xc3\xa9" x 5000) . "\r\n\r\n"), qr/ 200 /,
	'long multi-byte user agent served');

%s = by_path(wait_spans($t, 25));

my $ua = $s{'/ua'}{attrs}{'user_agent.original'} // '';
ok($ua eq 'a' x 4096, 'user agent cut')
	or diag('got ' . length($ua) . ' characters');

# 'a' and 2047 of 2 bytes: 4095 bytes

$ua = $s{'/ua2'}{attrs}{'user_agent.original'} // '';
ok($ua eq 'a' . ("\x{e9}" x 2047),
	'multi-byte user agent cut at a character boundary')
	or diag(sprintf('got %d characters, ending in U+%04X', length($ua),
		ord(substr($ua, -1))));

# non-ASCII bytes in the path and query: valid JSON, UTF-8 kept

like(http("GET /caf\xc3\xa9/\xff\xfe?q=\xe2\x82\xac HTTP/1.0\r\n"
	. "Host: localhost\r\n\r\n"), qr/ 200 /, 'non-ascii path served');

@spans = eval { wait_spans($t, 26) };
is($@, '', 'json decodes');

%s = by_path(@spans);
my ($na) = grep { /^\/caf/ } keys %s;

is_deeply([ $na, $na && $s{$na}{attrs}{'url.query'} ],
	[ "/caf\x{e9}/\x{fffd}\x{fffd}", "q=\x{20ac}" ],
	'non-ascii path: utf-8 kept, invalid bytes replaced');

###############################################################################

sub by_path {
	return map { ($_->{attrs}{'url.path'} // '') => $_ } @_;
}

# accepts connections and never answers

sub hold_daemon {
	my ($port) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 5,
		Reuse => 1
	)
		or die "Can't create listening socket: $!\n";

	my @held;

	while (my $client = $server->accept()) {
		push @held, $client;
	}
}

###############################################################################
