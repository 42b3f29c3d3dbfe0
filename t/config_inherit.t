#!/usr/bin/perl

# Tests for the inheritance of the per-location directives, seen at run
# time: otel_trace, otel_trace_context, otel_propagators, otel_sampler,
# otel_span_name and otel_span_attr set at the http or server level reach
# the locations that do not set them, and are replaced where they do.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

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
        endpoint file:%%TESTDIR%%/spans.json;
        interval 50ms;
        batch_size 4;
    }

    otel_trace on;
    otel_span_name "http-$request_method";
    otel_span_attr http.level h;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_span_attr srv.attr "srv-$request_method";
        otel_trace_context propagate;

        location /inherit {
            return 200 "parent=$otel_parent_id\n";
        }

        location /own {
            otel_span_name own-name;
            otel_span_attr loc.attr own;
            otel_trace_context ignore;
            return 200 "parent=$otel_parent_id\n";
        }

        location /off {
            otel_trace off;
            return 200 "parent=$otel_parent_id\n";
        }

        location /proxy {
            proxy_pass http://127.0.0.1:8083;
        }

        location /dup {
            otel_span_attr app.x 1;
            otel_span_attr app.x 2;
            otel_span_attr http.route custom;
            return 200 "dup\n";
        }

        location /outer {
            otel_span_attr http.route outer;

            location /outer/inner {
                return 200 "inner\n";
            }
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        otel_propagators b3;
        otel_trace_context propagate;

        location /b3 {
            return 200 "parent=$otel_parent_id b3=$otel_b3\n";
        }

        location /w3c {
            otel_propagators tracecontext;
            return 200 "parent=$otel_parent_id\n";
        }

        location /proxy {
            proxy_pass http://127.0.0.1:8083;
        }
    }

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        otel_trace $arg_trace;
        otel_sampler always_off;

        location /var {
            otel_sampler always_on;
            return 200 "var\n";
        }

        location /sampler {
            otel_trace on;
            return 200 "sampler\n";
        }
    }

EOF

# the upstream of both proxy locations echoes the context it got

$conf .= echo_server_conf(listen => '127.0.0.1:8083') . "}\n";

my $t = Test::Nginx->new()->has(qw/http proxy rewrite/)
	->write_file_expand('nginx.conf', $conf);

$t->run()->plan(28);

###############################################################################

# distinct incoming contexts: trace id and parent span id number $n

sub tid { return '4bf92f3577b34da6a3ce929d0e0e47' . sprintf('%02d', $_[0]) }
sub pid { return '00f067aa0ba902' . sprintf('%02d', $_[0]) }
sub tp { return '00-' . tid($_[0]) . '-' . pid($_[0]) . '-01' }

sub get {
	my ($port, $uri, @headers) = @_;

	my $h = join '', map { "$_\r\n" } @headers;

	return http("GET $uri HTTP/1.0\r\nHost: localhost\r\n$h\r\n",
		socket => '127.0.0.1:' . port($port));
}

# first what must make no span, then the rest: the exporter keeps order

like(get(8080, '/off', 'traceparent: ' . tp(3)), qr/^parent=${\ pid(3)}$/m,
	'otel_trace_context inherited where otel_trace is off');
like(get(8082, '/var'), qr/^var$/m, 'variable off');
like(get(8082, '/sampler'), qr/^sampler$/m, 'sampler off');

like(get(8080, '/inherit', 'traceparent: ' . tp(1)),
	qr/^parent=${\ pid(1)}$/m, 'propagate inherited from server');
like(get(8080, '/own', 'traceparent: ' . tp(2)), qr/^parent=$/m,
	'otel_trace_context replaced in location');

my $r = get(8080, '/proxy/', 'traceparent: ' . tp(4));
my ($up) = $r =~ /^traceparent: 00-${\ tid(4)}-([0-9a-f]{16})-01$/m;
ok($up, 'inject inherited from server');

like(get(8081, '/b3', 'b3: ' . tid(5) . '-' . pid(5) . '-1',
	'traceparent: ' . tp(15)),
	qr/^parent=${\ pid(5)} b3=${\ tid(5)}-[0-9a-f]{16}-1$/m,
	'otel_propagators b3 inherited');
like(get(8081, '/w3c', 'b3: ' . tid(6) . '-' . pid(6) . '-1',
	'traceparent: ' . tp(16)),
	qr/^parent=${\ pid(16)}$/m, 'otel_propagators replaced in location');

$r = get(8081, '/proxy/', 'b3: ' . tid(7) . '-' . pid(7) . '-1');
like($r, qr/^b3: ${\ tid(7)}-[0-9a-f]{16}-1$/m, 'b3 injected');
like($r, qr/^traceparent: $/m, 'no traceparent injected');

like(get(8082, '/var?trace=on'), qr/^var$/m, 'variable on');
like(get(8080, '/dup'), qr/^dup$/m, 'same attribute twice');
like(get(8080, '/outer/inner'), qr/^inner$/m, 'inherited attribute');

my @spans = wait_spans($t, 9);
my %by = map { $_->{traceId} => $_ } @spans;

# let anything unexpected arrive

select undef, undef, undef, 0.3;
@spans = spans($t);

is(scalar @spans, 9, 'spans exported');

my $s = $by{tid(1)};
is_deeply([ $s->{name}, $s->{parentSpanId} ], [ 'http-GET', pid(1) ],
	'location: span name inherited from http, parent from server');
is_deeply([ @{$s->{attrs}}{qw/ srv.attr http.level /} ], [ 'srv-GET', undef ],
	'location: server span attributes replace those of http');

($s) = grep { $_->{attrs}{'url.path'} eq '/own' } @spans;
is($s->{name}, 'own-name', 'own span name');
is_deeply([ @{$s->{attrs}}{qw/ loc.attr srv.attr http.level /} ],
	[ 'own', undef, undef ], 'own span attributes replace inherited');
isnt($s->{traceId}, tid(2), 'own trace context ignores the parent');

ok(!$by{tid(3)}, 'otel_trace off in location');

is($by{tid(4)} && $by{tid(4)}{spanId}, $up, 'injected parent is the span');

$s = $by{tid(5)};
is_deeply([ $s->{name}, $s->{parentSpanId}, $s->{attrs}{'http.level'} ],
	[ 'http-GET', pid(5), 'h' ], 'server: otel_trace, name, attrs from http');

is($by{tid(16)} && $by{tid(16)}{parentSpanId}, pid(16),
	'traceparent used where propagators replaced');

ok($by{tid(7)}, 'b3 proxied request traced');

my @var = grep { $_->{attrs}{'url.path'} =~ m!^/(var|sampler)$! } @spans;
is_deeply([ map { $_->{attrs}{'url.query'} // '' } @var ], [ 'trace=on' ],
	'otel_trace variable and otel_sampler inherited and replaced');

# OTLP: the keys of a span's attributes are unique, whatever
# otel_span_attr says

my @keys;

for my $line (split /\n/, $t->read_file('spans.json')) {
	for my $ss (@{decode_json($line)->{resourceSpans}[0]{scopeSpans}}) {
		for my $span (@{$ss->{spans}}) {
			my @k = map { $_->{key} } @{$span->{attributes}};
			@keys = @k if grep { $_->{key} eq 'url.path'
				&& $_->{value}{stringValue} eq '/dup' }
				@{$span->{attributes}};
		}
	}
}

my %seen;
ok(@keys && !grep({ $seen{$_}++ } @keys), 'span attribute keys unique')
	or diag("@keys");

# an otel_span_attr naming one of ours, inherited, still replaces it

my @routes;

for my $line (split /\n/, $t->read_file('spans.json')) {
	for my $ss (@{decode_json($line)->{resourceSpans}[0]{scopeSpans}}) {
		for my $span (@{$ss->{spans}}) {
			my @a = @{$span->{attributes}};
			next unless grep { $_->{key} eq 'url.path'
				&& $_->{value}{stringValue} eq '/outer/inner' } @a;
			@routes = map { $_->{value}{stringValue} }
				grep { $_->{key} eq 'http.route' } @a;
		}
	}
}

is(scalar @routes, 1, 'inherited replacement: one http.route');
is($routes[0], 'outer', 'inherited replacement: its value');

###############################################################################
