#!/usr/bin/perl

# Tests for spans of the HTTP protocol versions (0.9, 1.0, 1.1, 2), of
# requests nginx rejects before the phases (bad request line, too long URI,
# invalid header, invalid Host), and of pipelined requests.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http rewrite/);

my $h2 = $t->has_module('http_v2');
my $curl = grep { -x "$_/curl" } split /:/, $ENV{PATH} // '';

my $h2_server = $h2 ? <<'EOF' : '';
    server {
        listen       127.0.0.1:8081 http2;
        server_name  localhost;

        location / {
            return 200 "h2 $uri\n";
        }
    }
EOF

$t->write_file_expand('nginx.conf', <<'EOF' . $h2_server . "}\n");

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

    log_format ids '$status $otel_trace_id $otel_span_id "$request"';
    access_log %%TESTDIR%%/ids.log ids;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        large_client_header_buffers 1 1k;

        location / {
            return 200 "ok\n";
        }

        location /p/ {
            return 200 $uri;
        }
    }

    # rejected requests that error_page sends through the phases

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        large_client_header_buffers 1 1k;

        otel_trace_context propagate;
        otel_propagators tracecontext b3multi;

        error_page 400 414 /err;

        location / {
            return 200 "ok\n";
        }

        location /err {
            return 200 "custom error\n";
        }

        location /echo {
            proxy_pass http://127.0.0.1:8082/tp;
        }

        location /tp {
            otel_trace off;
            otel_trace_context ignore;
            return 200 "tp=$http_traceparent\n";
        }
    }
EOF

$t->run()->plan(44);

###############################################################################

# the protocol versions

is(http("GET /v09\r\n"), "ok\n", 'http/0.9 served');
like(http("GET /v10 HTTP/1.0\r\nHost: localhost\r\n\r\n"), qr/ 200 /,
	'http/1.0 served');
like(http("GET /v11 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
	qr/ 200 /, 'http/1.1 served');

my @spans = wait_spans($t, 3);
my %s = map { ($_->{attrs}{'url.path'} // '') => $_ } @spans;

is($s{'/v10'}{attrs}{'network.protocol.version'}, '1.0', 'version 1.0');
is($s{'/v11'}{attrs}{'network.protocol.version'}, '1.1', 'version 1.1');

my $a = $s{'/v09'}{attrs};
is_deeply([ @$a{qw/ network.protocol.version http.request.method url.path
	http.response.status_code http.response.body.size /} ],
	[ '0.9', 'GET', '/v09', 200, 3 ], 'http/0.9 attributes');

SKIP: {
skip 'no http_v2', 4 unless $h2;
skip 'no curl', 4 unless $curl;

my $url = 'http://127.0.0.1:' . port(8081);

is(`curl -s --http2-prior-knowledge $url/h2a`, "h2 /h2a\n", 'http/2 served');
is(`curl -s --http2-prior-knowledge $url/h2b?x=1`, "h2 /h2b\n",
	'http/2 served again');

@spans = wait_spans($t, 5);
%s = map { ($_->{attrs}{'url.path'} // '') => $_ } @spans;

$a = $s{'/h2a'}{attrs};
is_deeply([ @$a{qw/ network.protocol.version http.request.method
	http.response.status_code http.response.body.size server.address
	server.port /} ],
	[ '2', 'GET', 200, 8, '127.0.0.1', port(8081) ], 'http/2 attributes');
is_deeply([ $s{'/h2b'}{attrs}{'url.query'}, $s{'/h2b'}{attrs}{'url.path'} ],
	[ 'x=1', '/h2b' ], 'http/2 path and query');

}

# requests rejected before the phases: answered, logged, a sane span

my @rejected = (
	[ 'bad request line', "BAD REQUEST LINE\r\n\r\n", 400 ],
	[ 'too long uri', 'GET /' . ('a' x 2000) . " HTTP/1.1\r\n"
		. "Host: localhost\r\n\r\n", 414 ],
	[ 'invalid header', "GET /hdr HTTP/1.1\r\nHost: localhost\r\n"
		. "Bad Header: x\r\n\r\n", 400 ],
	[ 'invalid host', "GET /host HTTP/1.1\r\nHost: ../x\r\n\r\n", 400 ],
);

for my $c (@rejected) {
	like(http($c->[1]), qr/^HTTP\/1.1 $c->[2] /, "$c->[0]: answered");
}

# the log phase of a rejected request may follow a lingering close

my @log;

for (1 .. 50) {
	@log = grep { $_->[0] =~ /^4/ } map { [ split / /, $_, 4 ] }
		split /\n/, $t->read_file('ids.log');
	last if @log >= @rejected;
	sleep 0.1;
}

is(scalar @log, scalar @rejected, 'rejected requests logged');

@spans = wait_spans($t, ($h2 && $curl ? 5 : 3) + @rejected);

for my $i (0 .. $#rejected) {
	my $c = $rejected[$i];
	my $l = $log[$i] || [];
	my ($s) = grep { $_->{traceId} eq ($l->[1] // '') } @spans;

	ok($s && $s->{spanId} eq $l->[2], "$c->[0]: span exported");

	$s ||= { attrs => {} };
	$a = $s->{attrs};

	ok(($s->{traceId} // '') =~ /^[0-9a-f]{32}$/ && $s->{traceId} =~ /[^0]/
		&& ($s->{spanId} // '') =~ /^[0-9a-f]{16}$/
		&& $s->{spanId} =~ /[^0]/
		&& ($s->{kind} // 0) == 2
		&& ($s->{start} // 0) > 1.7e18 && $s->{end} >= $s->{start},
		"$c->[0]: ids, kind, times");

	is_deeply([ $a->{'http.response.status_code'}, $s->{status} ],
		[ $c->[2], 0 ], "$c->[0]: status code, status unset");

	# OTLP: the name is "semantically required to be set to non-empty
	# string"; semantic conventions: "HTTP" when the method is unknown

	ok(length($s->{name} // ''), "$c->[0]: span has a name");
}

# url.path and method as far as nginx parsed them

is_deeply([ map { $_->{attrs}{'http.request.method'} }
	grep { ($_->{attrs}{'url.path'} // '') =~ m{^/h(dr|ost)$} } @spans ],
	[ 'GET', 'GET' ], 'rejected after the request line: method');

# a rejected request through error_page and the phases, propagation on

like(http("BAD REQUEST LINE\r\n\r\n", socket => '127.0.0.1:' . port(8082)),
	qr/^HTTP\/1.1 400 .*custom error$/s, 'error_page bad request line');
like(http('GET /' . ('a' x 2000) . " HTTP/1.1\r\nHost: localhost\r\n\r\n",
	socket => '127.0.0.1:' . port(8082)),
	qr/^HTTP\/1.1 414 .*custom error$/s, 'error_page too long uri');

my $n = @spans + 2;
@spans = wait_spans($t, $n);
sleep(0.3);
@spans = spans($t);

is(scalar @spans, $n, 'error_page: one span each');

my @err = grep { ($_->{attrs}{'http.route'} // '') eq '/err' } @spans;
is_deeply([ sort map { $_->{attrs}{'http.response.status_code'} } @err ],
	[ 400, 414 ], 'error_page: status codes');

# pipelined requests on one connection

my $r = http(<<EOF);
GET /p/1 HTTP/1.1
Host: localhost

GET /p/22 HTTP/1.1
Host: localhost

GET /p/333 HTTP/1.1
Host: localhost
Connection: close

EOF

is(() = ($r // '') =~ /HTTP\/1.1 200/g, 3, 'pipelined requests served');

@spans = wait_spans($t, $n + 3);
sleep(0.3);
@spans = spans($t);

my @p = grep { ($_->{attrs}{'url.path'} // '') =~ m{^/p/} } @spans;
is(scalar @p, 3, 'pipelined: one span each');

my %ids = map { $_->{spanId} => 1 } @p;
is(scalar keys %ids, 3, 'pipelined: distinct span ids');
%ids = map { $_->{traceId} => 1 } @p;
is(scalar keys %ids, 3, 'pipelined: distinct trace ids');

is_deeply({ map { $_->{attrs}{'url.path'}
	=> $_->{attrs}{'http.response.body.size'} } @p },
	{ '/p/1' => 4, '/p/22' => 5, '/p/333' => 6 },
	'pipelined: response body size of each request');

is(scalar(grep { $_->{attrs}{'network.peer.port'}
	== $p[0]{attrs}{'network.peer.port'} } @p), 3,
	'pipelined: one connection');

# HTTP/0.9 has no header list: the context is still sent upstream

my $tp = http("GET /echo\r\n", socket => '127.0.0.1:' . port(8082));
like($tp, qr/^tp=00-[0-9a-f]{32}-[0-9a-f]{16}-0[13]$/,
	'http/0.9 propagated');

@spans = wait_spans($t, $n + 4);
my ($echo) = grep { ($_->{attrs}{'url.path'} // '') eq '/echo' } @spans;

like($tp, qr/^tp=00-\Q$echo->{traceId}-$echo->{spanId}\E-0[13]$/,
	'http/0.9 propagated: the ids of the span');

###############################################################################
