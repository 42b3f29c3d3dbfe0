#!/usr/bin/perl

# Tests for interoperability of trace context propagation with an independent
# implementation: the OpenTelemetry JS SDK's own propagators
# (W3CTraceContextPropagator, B3Propagator single and multi header), run by
# backend.js behind nginx.  Both directions: the JS SDK extracts what nginx
# injects, and nginx continues the contexts the JS SDK injects.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib '../lib';
use Test::Nginx;
use Test::OTel;

use JSON::PP;
use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy/)->has_daemon('node');

plan(skip_all => 'no npm packages: run "npm ci" in t/interop')
	unless -d 'node_modules/@opentelemetry/propagator-b3';

$t->write_file_expand('nginx.conf', <<'EOF');

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

    otel_trace on;
    otel_trace_context propagate;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location /w3c {
            otel_propagators tracecontext;
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3 {
            otel_propagators b3;
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3multi {
            otel_propagators b3multi;
            proxy_pass http://127.0.0.1:8081;
        }

        location /all {
            otel_propagators tracecontext b3 b3multi;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        otel_sampler parentbased_always_on;

        location /w3c {
            otel_propagators tracecontext;
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3 {
            otel_propagators b3;
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3multi {
            otel_propagators b3multi;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

$t->run_daemon('node', 'backend.js', port(8081));
$t->waitforsocket('127.0.0.1:' . port(8081))
	or die "Can't start the node backend\n";

$t->run()->plan(49);

###############################################################################

my @formats = qw/ w3c b3 b3multi /;

# (a) no incoming context: the JS SDK extracts our server span

for my $fmt (@formats) {
	my $r = get("/$fmt");

	ok($r && $r->{valid}, "$fmt: new trace: JS extracts a context");

	my $s = span_in($r && $r->{traceId});

	ok($s, "$fmt: new trace: span exported with the JS trace id");
	is($s && $s->{spanId}, $r && $r->{spanId},
		"$fmt: new trace: JS parent is our server span");

	# sampled; W3C level 2 adds the "random" flag (0x02) to a new trace

	is_deeply([ $s && $s->{parentSpanId}, $r && ($r->{traceFlags} & 0xfd) ],
		[ '', 1 ], "$fmt: new trace: root span, JS sees sampled");
}

# (b) a context made by the JS SDK: nginx continues it, the JS SDK extracts
# our span as the parent

for my $fmt (@formats) {
	my $m = make("fmt=$fmt");
	my $r = get("/$fmt", $m->{headers});
	my $s = span_in($m->{traceId});

	ok($s, "$fmt: JS context: span exported in the JS trace");
	is($s && $s->{parentSpanId}, $m->{spanId},
		"$fmt: JS context: parent is the JS span");
	is($r && $r->{traceId}, $m->{traceId},
		"$fmt: JS context: backend sees the same trace");
	is_deeply([ $r && $r->{spanId}, $r && $r->{traceFlags} ],
		[ $s && $s->{spanId}, 1 ],
		"$fmt: JS context: backend parent is our span, sampled");
}

# (c) tracestate made by the JS SDK round-trips unchanged

{
	my $ts = 'vendor=value,rojo=00f067aa0ba902b7,tenant@sys=a-b_c';
	my $m = make('fmt=w3c&tracestate=' . uri_escape($ts));

	is($m->{headers}{tracestate}, $ts, 'JS injects tracestate');

	my $r = get('/w3c', $m->{headers});
	my $s = span_in($m->{traceId});

	is($r && $r->{traceState}, $ts, 'tracestate reaches JS unchanged');
	is($r && $r->{spanId}, $s && $s->{spanId},
		'tracestate: trace continued');
	is($s && $s->{traceState}, $ts, 'tracestate kept in the span');
}

# (d) sampling decisions of the JS SDK: sampled=0 and B3 debug,
# with parentbased_always_on

my @unsampled;

for my $fmt (@formats) {
	my $m = make("fmt=$fmt&sampled=0");
	my $r = get("/$fmt", $m->{headers}, 8082);

	push @unsampled, $m->{traceId};

	is_deeply([ $r && $r->{valid} ? 1 : 0, $r && $r->{traceId},
		$r && $r->{traceFlags} ], [ 1, $m->{traceId}, 0 ],
		"$fmt: JS sampled=0: backend sees the trace, not sampled");
	isnt($r && $r->{spanId}, $m->{spanId},
		"$fmt: JS sampled=0: new span id sent on");
}

for my $fmt (qw/ b3 b3multi /) {
	my $m = make("fmt=$fmt&debug=1");

	like($fmt eq 'b3' ? $m->{headers}{b3} : $m->{headers}{'x-b3-flags'},
		$fmt eq 'b3' ? qr/-d$/ : qr/^1$/, "$fmt: JS injects debug");

	my $r = get("/$fmt", $m->{headers}, 8082);
	my $s = span_in($m->{traceId});

	is($s && $s->{parentSpanId}, $m->{spanId},
		"$fmt: JS debug: span exported as sampled");
	is_deeply([ $r && $r->{spanId}, $r && $r->{traceFlags} ],
		[ $s && $s->{spanId}, 1 ],
		"$fmt: JS debug: backend sees sampled");
}

# a sampled request after the unsampled ones: once its span is there,
# the unsampled ones would have been exported too

{
	my $r = get('/w3c', {}, 8082);

	ok(span_in($r && $r->{traceId}), 'parentbased: root span exported');

	my %ids = map { $_->{traceId} => 1 } spans($t);

	is(scalar(grep { $ids{$_} } @unsampled), 0,
		'JS sampled=0: no span exported');
}

# with the default always_on sampler, a JS unsampled parent is overridden,
# as the SDK's AlwaysOnSampler does

for my $fmt (@formats) {
	my $m = make("fmt=$fmt&sampled=0");
	my $r = get("/$fmt", $m->{headers});
	my $s = span_in($m->{traceId});

	is_deeply([ $s && $s->{parentSpanId}, $r && $r->{spanId},
		$r && $r->{traceFlags} ],
		[ $m->{spanId}, $s && $s->{spanId}, 1 ],
		"$fmt: always_on: JS unsampled parent, span sampled");
}

# all three formats injected at once are one and the same context for JS

{
	my $r = get('/all');
	my $s = span_in($r && $r->{w3c}{traceId});

	is_deeply(ids($r), [ ([ $s && $s->{traceId}, $s && $s->{spanId}, 1 ])
		x 3 ], 'all formats: new trace');

	my $m = make('fmt=b3');
	$r = get('/all', $m->{headers});
	$s = span_in($m->{traceId});

	is($s && $s->{parentSpanId}, $m->{spanId},
		'all formats: JS b3 context continued');
	is_deeply(ids($r), [ ([ $m->{traceId}, $s && $s->{spanId}, 1 ]) x 3 ],
		'all formats: JS b3 context');
	unlike(join(' ', keys %{$r->{headers}}), qr/parentspanid/,
		'all formats: no X-B3-ParentSpanId');
}

###############################################################################

# a GET to nginx (or to another port, e.g. the backend) with extra headers;
# returns the decoded JSON body

sub get {
	my ($uri, $headers, $port) = @_;

	my $h = join '', map { "$_: $headers->{$_}\r\n" }
		sort keys %{$headers || {}};

	my $r = http("GET $uri HTTP/1.0\r\nHost: localhost\r\n$h\r\n",
		socket => '127.0.0.1:' . port($port // 8080));

	return undef unless defined $r
		&& $r =~ /^HTTP\/1\.\d 200 .*?\x0d?\x0a\x0d?\x0a(.*)\z/s;
	return eval { decode_json($1) };
}

# a context made by the JS SDK: trace id, span id, the headers to send

sub make {
	my ($args) = @_;
	return get("/make?$args", {}, 8081) || { headers => {} };
}

# the exported span of a trace (waits for it)

sub span_in {
	my ($trace_id) = @_;

	return undef unless defined $trace_id;

	for (1 .. 100) {
		my @s = grep { $_->{traceId} eq $trace_id } spans($t);
		return $s[0] if @s;
		sleep 0.05;
	}

	return undef;
}

sub ids {
	my ($r) = @_;

	return [ map { [ @{ $r->{$_} || {} }{qw/ traceId spanId /},
		($r->{$_}{traceFlags} // 0) & 0xfd ] }
		@formats ];
}

sub uri_escape {
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
	return $s;
}

###############################################################################
