#!/usr/bin/perl

# Tests for otel_upstream_span: a CLIENT span per upstream exchange, child
# of the server span, named as the parent in the context the backend gets;
# one event per attempt; keepalive pools, retries to another peer, peers
# that refuse, time out or answer 5xx, grpc_pass, auth_request, a peer
# chosen at run time, and requests that never go upstream.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Socket::INET;
use Socket qw/ CRLF /;
use Time::HiRes qw/ sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()
	->has(qw/http proxy rewrite upstream_keepalive grpc http_v2/)
	->has(qw/auth_request/)
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
        batch_size 4;
    }

    log_format  seen  '$uri $http_traceparent';

    upstream retry {
        server 127.0.0.1:8090 max_fails=0;
        server 127.0.0.1:8087 backup;
    }

    upstream pool {
        server 127.0.0.1:8081;
        keepalive 4;
    }

    upstream dead {
        server 127.0.0.1:8090;
    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;
        otel_trace_context propagate;
        otel_upstream_span on;

        location /plain/ {
            proxy_pass http://127.0.0.1:8081;
        }

        location /retry/ {
            proxy_pass http://retry;
        }

        location /pool/ {
            proxy_pass http://pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location /dead/ {
            proxy_pass http://dead;
        }

        location /error/ {
            proxy_pass http://127.0.0.1:8082;
        }

        location /slow/ {
            proxy_pass http://127.0.0.1:8083;
            proxy_read_timeout 300ms;
        }

        location /grpc/ {
            grpc_pass 127.0.0.1:8084;
        }

        location /auth/ {
            auth_request /_auth;
            proxy_pass http://127.0.0.1:8081;
        }

        location = /_auth {
            internal;
            proxy_pass http://127.0.0.1:8085/auth;
        }

        location /var/ {
            set $backend 127.0.0.1:8086;
            proxy_pass http://$backend;
        }

        location /local/ {
            return 200 "local\n";
        }

        location /unix/ {
            proxy_pass http://unix:%%TESTDIR%%/backend.sock:/;
        }

        location /off/ {
            otel_upstream_span off;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8081;
        listen       127.0.0.1:8086;
        listen       unix:%%TESTDIR%%/backend.sock;
        server_name  echo;

        otel_trace off;
        otel_trace_context ignore;

        location / {
            return 200 "traceparent: $http_traceparent
connection: $connection
";
        }
    }

    # a traced backend: its own server span continues the trace

    server {
        listen       127.0.0.1:8087;
        server_name  backend;

        otel_trace on;
        otel_trace_context extract;

        location / {
            return 200 "traceparent: $http_traceparent\n";
        }
    }

    server {
        listen       127.0.0.1:8082;
        server_name  error;

        otel_trace off;
        otel_trace_context ignore;

        location / {
            return 503 "traceparent: $http_traceparent\n";
        }
    }

    server {
        listen       127.0.0.1:8084 http2;
        server_name  grpc;

        otel_trace off;
        otel_trace_context ignore;

        location / {
            add_header X-Got "$http_traceparent" always;
            return 200;
        }
    }

    server {
        listen       127.0.0.1:8085;
        server_name  auth;

        otel_trace off;
        otel_trace_context ignore;

        access_log %%TESTDIR%%/auth.log seen;

        location / {
            return 204;
        }
    }
}

EOF

$t->run_daemon(\&hang_daemon, port(8083));
$t->run()->plan(89);

$t->waitforsocket('127.0.0.1:' . port(8083))
	or die "Can't start the hanging daemon";

###############################################################################

my $n = 0;

# one exchange with a live backend

my ($r, $tid, $server, $client, @clients) = request('/plain/x', 2);

like($r, qr/^HTTP\/1\.1 200 /, 'plain: served');
is($server->{kind}, 2, 'plain: a server span');
is($client->{kind}, 3, 'plain: a client span');
is($client->{parentSpanId}, $server->{spanId},
	'plain: child of the server span');
is(seen($r), "00-$tid-$client->{spanId}-01",
	'plain: the backend sees the client span as parent');
isnt($client->{spanId}, $server->{spanId}, 'plain: ids differ');
is($client->{name}, 'GET', 'plain: named by the method');
ok($client->{start} >= $server->{start}
	&& $client->{end} <= $server->{end}
	&& $client->{start} < $client->{end},
	'plain: inside the server span');
is_deeply(pick($client->{attrs}), {
	'http.request.method' => 'GET',
	'server.address' => '127.0.0.1',
	'server.port' => port(8081),
	'network.peer.address' => '127.0.0.1',
	'network.peer.port' => port(8081),
	'http.response.status_code' => 200,
	'nginx.upstream.name' => '127.0.0.1:' . port(8081),
}, 'plain: attributes');
ok(!exists $client->{attrs}{'http.request.resend_count'},
	'plain: no resend count');
is($client->{status}, 0, 'plain: status unset');
is(scalar @{$client->{events}}, 1, 'plain: one attempt');

my $e = $client->{events}[0];
is($e->{name}, 'nginx.upstream.attempt', 'plain: attempt event');
is($e->{attrs}{'http.response.status_code'}, 200, 'plain: attempt status');
is($e->{attrs}{'network.peer.port'}, port(8081), 'plain: attempt peer');
ok(defined $e->{attrs}{'nginx.upstream.connect_time_ms'}
	&& defined $e->{attrs}{'nginx.upstream.header_time_ms'}
	&& defined $e->{attrs}{'nginx.upstream.response_time_ms'},
	'plain: attempt timings');
ok($e->{time} >= $client->{start} && $e->{time} <= $client->{end},
	'plain: attempt inside the client span');
is($server->{traceId}, $tid, 'plain: the client\'s trace continues');

# a retry from a dead peer to a live one: one client span, two attempts,
# and the traced backend's server span is the client span's child

($r, $tid, $server, $client, @clients) = request('/retry/x', 3);
my ($backend) = grep { $_->{kind} == 2 && $_->{spanId} ne $server->{spanId} }
	grep { $_->{traceId} eq $tid } spans($t);
$backend //= { parentSpanId => '', start => 0, end => 0 };

like($r, qr/^HTTP\/1\.1 200 /, 'retry: served');
is(scalar @clients, 1, 'retry: one client span');
is(scalar(grep { $_->{traceId} eq $tid } spans($t)), 3,
	'retry: gateway server, client and backend spans');
is($client->{parentSpanId}, $server->{spanId}, 'retry: child of server');
is(seen($r), "00-$tid-$client->{spanId}-01",
	'retry: the backend sees the client span as parent');
is($backend->{parentSpanId}, $client->{spanId},
	'retry: the backend\'s span is the client span\'s child');
ok($backend->{start} >= $client->{start} && $backend->{end} <= $client->{end},
	'retry: the backend\'s span inside the client span');
is(scalar @{$client->{events}}, 2, 'retry: two attempt events');

my ($e1, $e2) = @{$client->{events}};
is($e1->{attrs}{'network.peer.port'}, port(8090), 'retry: first peer');
is($e1->{attrs}{'error.type'}, 'connection_failure',
	'retry: first attempt failed to connect');
ok(!exists $e1->{attrs}{'http.response.status_code'},
	'retry: first attempt has no status');
is($e2->{attrs}{'network.peer.port'}, port(8087), 'retry: second peer');
is($e2->{attrs}{'http.response.status_code'}, 200, 'retry: second status');
ok(!exists $e2->{attrs}{'error.type'}, 'retry: second attempt no error');
ok($e1->{time} <= $e2->{time}, 'retry: attempts in order');
is($client->{attrs}{'http.request.resend_count'}, 1, 'retry: resend count');
is($client->{attrs}{'server.port'}, port(8087), 'retry: the peer answered');
is($client->{attrs}{'http.response.status_code'}, 200, 'retry: status');
is($client->{attrs}{'nginx.upstream.name'}, 'retry', 'retry: upstream name');
is($client->{status}, 0, 'retry: succeeded in the end');
ok($client->{start} >= $server->{start} && $client->{end} <= $server->{end},
	'retry: inside the server span');

# a keepalive pool: the second request reuses the connection

my ($r1, $tid1, $s1, $c1) = request('/pool/1', 2);
my ($r2, $tid2, $s2, $c2) = request('/pool/2', 2);

my ($conn1) = $r1 =~ /connection: (\d+)/;
my ($conn2) = $r2 =~ /connection: (\d+)/;

is($conn1, $conn2, 'pool: one upstream connection for both');
is(seen($r1), "00-$tid1-$c1->{spanId}-01", 'pool: first parent');
is(seen($r2), "00-$tid2-$c2->{spanId}-01", 'pool: second parent');
is($c2->{attrs}{'http.response.status_code'}, 200, 'pool: status');
is(scalar @{$c2->{events}}, 1, 'pool: one attempt');
is($c2->{attrs}{'nginx.upstream.name'}, 'pool', 'pool: upstream name');

# no peer answers at all

($r, $tid, $server, $client) = request('/dead/x', 2);

like($r, qr/^HTTP\/1\.1 502 /, 'dead: 502');
is($client->{status}, 2, 'dead: client span status error');
is($client->{attrs}{'error.type'}, 'connection_failure', 'dead: error.type');
ok(!exists $client->{attrs}{'http.response.status_code'},
	'dead: no response status');
is($client->{attrs}{'network.peer.port'}, port(8090), 'dead: the peer');
is(scalar @{$client->{events}}, 1, 'dead: one attempt');
is($server->{status}, 2, 'dead: server span status error');
is($server->{attrs}{'http.response.status_code'}, 502, 'dead: server 502');

# the upstream answers 503

($r, $tid, $server, $client) = request('/error/x', 2);

like($r, qr/^HTTP\/1\.1 503 /, 'error: 503 passed on');
is($client->{attrs}{'http.response.status_code'}, 503, 'error: status');
is($client->{attrs}{'error.type'}, '503', 'error: error.type');
is($client->{status}, 2, 'error: status error');
is(seen($r), "00-$tid-$client->{spanId}-01", 'error: parent');

# the upstream never answers

($r, $tid, $server, $client) = request('/slow/x', 2);

like($r, qr/^HTTP\/1\.1 504 /, 'slow: 504');
is($client->{attrs}{'error.type'}, 'timeout', 'slow: error.type');
is($client->{status}, 2, 'slow: status error');
ok($client->{end} - $client->{start} >= 250_000_000,
	'slow: the span covers the wait');
ok(defined $client->{events}[0]{attrs}{'nginx.upstream.connect_time_ms'},
	'slow: connected');

# grpc_pass

($r, $tid, $server, $client) = request('/grpc/x', 2);

like($r, qr/^HTTP\/1\.1 200 /, 'grpc: served');
my ($got) = $r =~ /X-Got: (\S+)/i;
is($got, "00-$tid-$client->{spanId}-01", 'grpc: parent');
is($client->{attrs}{'network.peer.port'}, port(8084), 'grpc: peer');
is($client->{attrs}{'http.response.status_code'}, 200, 'grpc: status');

# auth_request: a client span of its own, under the main server span

($r, $tid, $server, @clients) = request('/auth/x', 3);
my ($main) = grep { $_->{attrs}{'server.port'} == port(8081) } @clients;
my ($auth) = grep { $_->{attrs}{'server.port'} == port(8085) } @clients;

like($r, qr/^HTTP\/1\.1 200 /, 'auth: served');
is(scalar @clients, 2, 'auth: two client spans');
ok($main && $auth && $main->{spanId} ne $auth->{spanId},
	'auth: one for each exchange');
is($auth && $auth->{parentSpanId}, $server->{spanId},
	'auth: subrequest span child of the server span');
is($main && $main->{parentSpanId}, $server->{spanId},
	'auth: main client span child of the server span');
is(seen($r), "00-$tid-$main->{spanId}-01",
	'auth: the main backend sees the main client span');
is(auth_seen(), "00-$tid-$auth->{spanId}-01",
	'auth: the auth backend sees the subrequest client span');
is($auth && $auth->{attrs}{'http.response.status_code'}, 204,
	'auth: status of the auth answer');
ok($auth->{start} >= $server->{start} && $auth->{end} <= $main->{start},
	'auth: before the main exchange, inside the server span');

# a peer nginx chooses at run time, without an upstream{} block

($r, $tid, $server, $client) = request('/var/x', 2);

like($r, qr/^HTTP\/1\.1 200 /, 'var: served');
is(seen($r), "00-$tid-$client->{spanId}-01", 'var: parent');
is($client->{attrs}{'network.peer.port'}, port(8086), 'var: peer');
is($client->{attrs}{'http.response.status_code'}, 200, 'var: status');
ok($client->{start} >= $server->{start} && $client->{end} <= $server->{end},
	'var: inside the server span');

# a unix socket peer: its path, no port

($r, $tid, $server, $client) = request('/unix/x', 2);

is(seen($r), "00-$tid-$client->{spanId}-01", 'unix: parent');
is($client->{attrs}{'network.peer.address'}, $t->testdir() . '/backend.sock',
	'unix: the socket\'s path');
ok(!exists $client->{attrs}{'network.peer.port'}, 'unix: no port');

# no upstream: no client span; off: the server span is the parent

($r, $tid, $server, @clients) = request('/local/x', 1);
like($r, qr/^HTTP\/1\.1 200 /, 'local: served');
is(scalar @clients, 0, 'local: no client span');

($r, $tid, $server, @clients) = request('/off/x', 1);
is(scalar @clients, 0, 'off: no client span');
is(seen($r), "00-$tid-$server->{spanId}-01",
	'off: the server span is the parent');

$t->stop();

is(scalar(grep { $_->{kind} == 3 && $_->{parentSpanId} eq '' } spans($t)),
	0, 'no client span without a parent');

###############################################################################

# a request with a new trace id; its server span, then its client spans

sub request {
	my ($uri, $want) = @_;

	my $tid = sprintf('%032x', 0x5eed0000 + ++$n);
	my $r = http('GET ' . $uri . ' HTTP/1.0' . CRLF
		. 'Host: localhost' . CRLF
		. "traceparent: 00-$tid-b7ad6b7169203331-01" . CRLF . CRLF);

	my @spans;

	for (1 .. 100) {
		@spans = grep { $_->{traceId} eq $tid } spans($t);
		last if @spans >= $want;
		sleep 0.05;
	}

	# a moment more for a span that should not be there

	sleep 0.2 if @spans < 2;
	@spans = grep { $_->{traceId} eq $tid } spans($t);

	my ($server) = grep { $_->{kind} == 2
		&& $_->{parentSpanId} eq 'b7ad6b7169203331' } @spans;
	my @clients = grep { $_->{kind} == 3 } @spans;

	$server //= { spanId => '', start => 0, end => 0, attrs => {} };

	return ($r, $tid, $server, $clients[0] // { attrs => {}, events => [],
		spanId => '', start => 0, end => 0 }, @clients)
		if $want > 1 && $uri !~ m!^/auth/!;

	return ($r, $tid, $server, @clients);
}

sub seen {
	my ($r) = @_;
	my ($tp) = ($r // '') =~ /traceparent: (\S*)/;
	return $tp // '';
}

sub auth_seen {
	my $log = '';

	for (1 .. 50) {
		$log = $t->read_file('auth.log') if -e $t->testdir . '/auth.log';
		last if $log =~ /\n/;
		sleep 0.05;
	}

	my ($tp) = $log =~ /^\/auth (\S+)$/m;
	return $tp // '';
}

sub pick {
	my ($attrs) = @_;

	return { map { $_ => $attrs->{$_} } grep { exists $attrs->{$_} }
		'http.request.method', 'server.address', 'server.port',
		'network.peer.address', 'network.peer.port',
		'http.response.status_code', 'nginx.upstream.name' };
}

# accepts connections and never answers

sub hang_daemon {
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
