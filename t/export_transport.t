#!/usr/bin/perl

# Tests for the OTLP network exporter's transports: grpc, http/protobuf and
# http/json, each plain and with "compression gzip", to real receivers on
# 127.0.0.1: a Perl HTTP/1.1 collector, and nginx's own HTTP/2 server in
# front of it as the gRPC receiver (grpc-status from add_trailer).  The
# bodies are decoded by protoc with our .proto files and by JSON::PP.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint %%ENDPOINT%%;
        protocol %%PROTOCOL%%;
        compression %%COMPRESSION%%;
        interval 50ms;
        batch_size 2;
        timeout 2s;
        header X-Api-Key secret;
        header Authorization "Bearer token";
    }

    otel_service_name export-test;
    otel_resource_attr deployment.environment test;

    log_format ids '$otel_trace_id $otel_span_id';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;
        access_log %%TESTDIR%%/ids.log ids;

        location /api/ {
            otel_span_attr app.custom $http_x_custom;
            return 200 "api\n";
        }

        location /fail {
            return 503;
        }

        location /status {
            otel_trace off;
            otel_status;
        }
    }

    # the gRPC receiver: HTTP/2 with prior knowledge in, the collector behind

    server {
        listen       127.0.0.1:8083 http2;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8082;
            proxy_http_version 1.1;
            proxy_set_header X-TE $http_te;
            proxy_set_header X-Protocol $server_protocol;
            proxy_hide_header X-Grpc-Status;
            proxy_hide_header X-Grpc-Message;
            add_trailer grpc-status $upstream_http_x_grpc_status always;
            add_trailer grpc-message $upstream_http_x_grpc_message always;
        }
    }
}

EOF

my $t = Test::Nginx->new()->has(qw/http proxy rewrite http_v2/)
	->has_daemon('protoc');

my @runs = (
	[ 'grpc', 'none' ],
	[ 'grpc', 'gzip' ],
	[ 'http/protobuf', 'none' ],
	[ 'http/protobuf', 'gzip' ],
	[ 'http/json', 'none' ],
	[ 'http/json', 'gzip' ],
);

# headers from the environment too; the "header" directive wins

$ENV{OTEL_EXPORTER_OTLP_HEADERS} = 'x-env-token=from-env,X-Api-Key=env-loses';

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

run_with($t, @{ $runs[0] });

$t->plan(12 * @runs + 3);

###############################################################################

my %content;

for my $run (@runs) {
	my ($protocol, $compression) = @$run;
	my $name = "$protocol $compression";

	run_with($t, $protocol, $compression) unless $run == $runs[0];

	like(http(<<EOF), qr/200 OK/, "$name: request");
GET /api/items?id=7 HTTP/1.1
Host: example.test:8080
User-Agent: export-test/1.0
X-Custom: caf\xc3\xa9 \xff
Connection: close

EOF

	http_get('/api/x');
	http_get('/fail');

	my @spans = wait_otlp_spans($t, 3);
	is(scalar @spans, 3, "$name: spans received");

	my @reqs = grep { $_->{status} eq '200' } requests($t);
	my $h = $reqs[0]{headers};

	if ($protocol eq 'grpc') {
		like($reqs[0]{line},
			qr{^POST /opentelemetry\.proto\.collector\.trace\.v1\.TraceService/Export },
			"$name: method path");
		is($h->{'content-type'}, 'application/grpc', "$name: content type");
		is($h->{'x-protocol'} . ' ' . $h->{'x-te'}, 'HTTP/2.0 trailers',
			"$name: h2c, te trailers");
		is($h->{'grpc-encoding'}, $compression eq 'gzip' ? 'gzip' : undef,
			"$name: grpc-encoding");
		is(unpack('C', $reqs[0]{body}), $compression eq 'gzip' ? 1 : 0,
			"$name: compressed flag");

	} else {
		like($reqs[0]{line}, qr{^POST /v1/traces HTTP/1\.1$},
			"$name: POST /v1/traces");
		is($h->{'content-type'}, $protocol eq 'http/json'
			? 'application/json' : 'application/x-protobuf',
			"$name: content type");
		ok(!exists $h->{expect}, "$name: no Expect");
		is($h->{'content-encoding'},
			$compression eq 'gzip' ? 'gzip' : undef,
			"$name: content-encoding");
		is($h->{'content-length'}, length $reqs[0]{body},
			"$name: content-length");
	}

	is($h->{'user-agent'}, 'ngx_otel_module/0.1.0', "$name: user agent");
	is(join('|', map { $h->{$_} // '' } qw/ x-api-key authorization
		x-env-token /), 'secret|Bearer token|from-env',
		"$name: custom headers");

	my ($s) = grep { $_->{name} eq 'GET /api/' && $_->{attrs}{'url.query'} }
		@spans;

	my @ids = map { [ split ' ' ] } split /\n/, $t->read_file('ids.log');
	ok($s && (grep { $_->[0] eq $s->{traceId} && $_->[1] eq $s->{spanId} }
		@ids), "$name: ids as in the access log");

	is_deeply([ map { $_->{attrs}{'http.response.status_code'} }
		sort { $a->{start} <=> $b->{start} } @spans ],
		[ 200, 200, 503 ], "$name: one span per request");

	my $st = wait_otel_status(sub { $_[0]{spans}{exported} >= 3 });
	is_deeply([ $st->{spans}{exported}, $st->{export_requests}{sent},
		$st->{export_requests}{failed} ], [ 3, scalar @reqs, 0 ],
		"$name: counters");

	$content{$name} = [ map { normalize($_) }
		sort { $a->{start} <=> $b->{start} } @spans ];
}

# every transport carries the same spans (the file exporter writes the
# JSON encoding of http/json)

my @names = map { "@$_" } @runs;
my $ref = $content{'http/json none'};

is(scalar(grep { !eq_deeply_json($content{$_}, $ref) } @names), 0,
	'same content over every transport');

is($ref->[0]{attrs}{'app.custom'}, "caf\x{e9} \x{fffd}",
	'invalid utf-8 replaced');

# the debug log shows the exporter's requests, never the header values

my @curl = grep { /otel curl: / } split /\n/, $t->read_file('error.log');

SKIP: {
skip 'nginx without --with-debug', 1 unless @curl;

is(scalar(grep { /secret|Bearer token|from-env/ } @curl), 0,
	'header values never logged');
}

###############################################################################

sub run_with {
	my ($t, $protocol, $compression) = @_;

	$t->stop();

	my $endpoint = $protocol eq 'grpc' ? 'http://127.0.0.1:8083'
		: 'http://127.0.0.1:8082';

	(my $c = $conf) =~ s/%%ENDPOINT%%/$endpoint/;
	$c =~ s/%%PROTOCOL%%/$protocol/;
	$c =~ s/%%COMPRESSION%%/$compression/;

	$t->write_file_expand('nginx.conf', $c);

	unlink glob($t->testdir() . '/otlp/*');
	unlink $t->testdir() . '/ids.log';

	$t->run();
}

# what does not change from one run to the next

sub normalize {
	my ($s) = @_;

	my %n = %$s;
	delete @n{qw/ traceId spanId start end /};

	my %a = %{ $s->{attrs} };
	delete $a{'network.peer.port'};
	$n{attrs} = \%a;

	return \%n;
}

sub eq_deeply_json {
	my ($x, $y) = @_;
	my $js = JSON::PP->new->canonical;
	return $js->encode($x) eq $js->encode($y);
}

###############################################################################
