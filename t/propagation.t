#!/usr/bin/perl

# Tests for the otel_trace_context modes: extract, inject, propagate and
# ignore; a context propagated with otel_trace off; and that the headers of
# formats not listed in otel_propagators pass through untouched.

###############################################################################

use warnings;
use strict;

use Test::More;


BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy rewrite/)
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
    otel_trace_context propagate;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location /extract/ {
            otel_trace_context extract;
            proxy_pass http://127.0.0.1:8082;
        }

        location /inject/ {
            otel_trace_context inject;
            proxy_pass http://127.0.0.1:8082;
        }

        location /propagate/ {
            proxy_pass http://127.0.0.1:8082;
        }

        location /ignore/ {
            otel_trace_context ignore;
            proxy_pass http://127.0.0.1:8082;
        }

        location /redirect/ {
            rewrite ^ /propagate/redirected last;
        }

        location /off/ {
            otel_trace off;
            proxy_pass http://127.0.0.1:8082;
        }

        location /off-extract/ {
            otel_trace off;
            otel_trace_context extract;
            proxy_pass http://127.0.0.1:8082;
        }

        location /off-ignore/ {
            otel_trace off;
            otel_trace_context ignore;
            proxy_pass http://127.0.0.1:8082;
        }

        location /b3/ {
            otel_propagators b3;
            proxy_pass http://127.0.0.1:8082;
        }

        location /b3multi/ {
            otel_propagators b3multi;
            proxy_pass http://127.0.0.1:8082;
        }
    }
}

EOF

my $tid = '0af7651916cd43dd8448eb211c80319c';
my $sid = 'b7ad6b7169203331';
my $tp = "00-$tid-$sid-01";
my $ts = 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE';

my $b3 = '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1';
my @multi = ('X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7',
	'X-B3-SpanId: e457b5a2e4d86bd1', 'X-B3-ParentSpanId: 05e3ac9a4f6e3b90',
	'X-B3-Sampled: 1');

$t->run_daemon(\&header_daemon, port(8082));
$t->run()->plan(36);

$t->waitforsocket('127.0.0.1:' . port(8082))
	or die "Can't start the raw daemon";

###############################################################################

# extract: the span is a child, the client's headers go upstream as they came

my $r = get_with('/extract/1', "traceparent: $tp", "tracestate: $ts");
my $s = span_of($t, '/extract/1');

is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid", 'extract: child');
is($s->{traceState}, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
	'extract: tracestate in the span');
is(sent($r), "traceparent: $tp\ntracestate: $ts",
	'extract: client headers pass through unchanged');

$r = get_with('/extract/2');
$s = span_of($t, '/extract/2');
is($s->{parentSpanId}, '', 'extract without context: root');
is(sent($r), '', 'extract without context: nothing injected');

$r = get_with('/extract/3', "traceparent: $tp", "traceparent: $tp",
	'tracestate: a=1', 'tracestate: b=2');
is(sent($r), "traceparent: $tp\ntraceparent: $tp\n"
	. "tracestate: a=1\ntracestate: b=2",
	'extract: duplicate client headers pass through unchanged');

# inject: the client's context is ignored, a new one is sent

$r = get_with('/inject/1', "traceparent: $tp", "tracestate: $ts");
$s = span_of($t, '/inject/1');

ok($s->{traceId} =~ /^[0-9a-f]{32}$/ && $s->{traceId} ne $tid
	&& $s->{parentSpanId} eq '', 'inject: incoming context ignored');
like(sent($r), qr/^traceparent: 00-$s->{traceId}-$s->{spanId}-0[13]\z/,
	'inject: new context sent, client headers replaced');

$r = get_with('/inject/2');
$s = span_of($t, '/inject/2');
like(sent($r), qr/^traceparent: 00-$s->{traceId}-$s->{spanId}-0[13]\z/,
	'inject: without client context');

# propagate: both

$r = get_with('/propagate/1', "traceparent: $tp", "tracestate: $ts");
$s = span_of($t, '/propagate/1');

is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid", 'propagate: child');
is(sent($r), "traceparent: 00-$tid-$s->{spanId}-01\n"
	. 'tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
	'propagate: our context sent');

$r = get_with('/propagate/2');
$s = span_of($t, '/propagate/2');
like(sent($r), qr/^traceparent: 00-$s->{traceId}-$s->{spanId}-0[13]\z/,
	'propagate: without client context');

# ignore: nothing extracted, nothing injected

$r = get_with('/ignore/1', "traceparent: $tp", "tracestate: $ts");
$s = span_of($t, '/ignore/1');

ok($s->{traceId} =~ /^[0-9a-f]{32}$/ && $s->{traceId} ne $tid
	&& $s->{parentSpanId} eq '', 'ignore: new trace');
is(sent($r), "traceparent: $tp\ntracestate: $ts",
	'ignore: client headers pass through unchanged');

$r = get_with('/ignore/2');
ok(span_of($t, '/ignore/2')->{traceId}, 'ignore without context: span');
is(sent($r), '', 'ignore without context: nothing injected');

# an internal redirect: injected once, the span in the redirected location

$r = get_with('/redirect/1', "traceparent: $tp");
$s = span_of($t, '/redirect/1');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'internal redirect: child');
is(sent($r), "traceparent: 00-$tid-$s->{spanId}-01",
	'internal redirect: one traceparent');

###############################################################################

# otel_trace off: no span, but a context with sampled = 0 is propagated

$r = get_with('/off/1', "traceparent: $tp", "tracestate: $ts");
like(sent($r), qr/^traceparent:\ 00-$tid-(?!$sid)[0-9a-f]{16}-00\n
	tracestate:\ rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\z/x,
	'trace off, propagate: continued unsampled, tracestate kept');

$r = get_with('/off/2');
like(sent($r), qr/^traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[02]\z/,
	'trace off, propagate: new context unsampled');

my ($new) = sent($r) =~ /^traceparent: 00-([0-9a-f]{32})-/;

$r = get_with('/off/3', "traceparent: 00-$tid-$sid-03");
like(sent($r), qr/^traceparent: 00-$tid-[0-9a-f]{16}-02\z/,
	'trace off, propagate: random flag kept, sampled cleared');

$r = get_with('/off-extract/1', "traceparent: $tp");
is(sent($r), "traceparent: $tp", 'trace off, extract: passed unchanged');

$r = get_with('/off-extract/2');
is(sent($r), '', 'trace off, extract: nothing injected');

$r = get_with('/off-ignore/1', "traceparent: $tp");
is(sent($r), "traceparent: $tp", 'trace off, ignore: passed unchanged');

$r = get_with('/off-ignore/2');
is(sent($r), '', 'trace off, ignore: nothing injected');

$r = get_with('/b3/off-marker');
ok(span_of($t, '/b3/off-marker')->{traceId}, 'a later span exported');
ok(!(grep { $_->{attrs}{'url.path'} =~ m!^/off! } spans($t)),
	'trace off: no spans exported');
ok(!(grep { $_->{traceId} eq $new } spans($t)),
	'trace off: no span of the new trace');

###############################################################################

# headers of formats not listed pass through untouched

$r = get_with('/propagate/3', "traceparent: $tp", "b3: $b3", @multi);
$s = span_of($t, '/propagate/3');
is(sent($r), join("\n", "traceparent: 00-$tid-$s->{spanId}-01", "b3: $b3",
	@multi), 'tracecontext: b3 and X-B3-* pass through');

$r = get_with('/propagate/4', "b3: $b3", @multi);
$s = span_of($t, '/propagate/4');
ok($s->{traceId} ne '80f198ee56343ba864fe8b2a57d3eff7'
	&& $s->{parentSpanId} eq '', 'tracecontext: b3 not extracted');
like(sent($r), qr/^b3:\ $b3\n\Q@{[ join "\n", @multi ]}\E\n
	traceparent:\ 00-$s->{traceId}-$s->{spanId}-0[13]\z/x,
	'tracecontext: b3 headers untouched');

$r = get_with('/b3/1', "traceparent: $tp", "tracestate: $ts", @multi);
$s = span_of($t, '/b3/1');
isnt($s->{traceId}, $tid, 'b3: traceparent not extracted');
is(sent($r), join("\n", "traceparent: $tp", "tracestate: $ts",
	"b3: $s->{traceId}-$s->{spanId}-1"),
	'b3: traceparent, tracestate pass through, X-B3-* replaced by b3');

$r = get_with('/b3multi/1', "traceparent: $tp", "tracestate: $ts", "b3: $b3");
$s = span_of($t, '/b3multi/1');
is($s->{traceId} . ' ' . $s->{parentSpanId},
	'80f198ee56343ba864fe8b2a57d3eff7 e457b5a2e4d86bd1',
	'b3multi: the single header extracted');
is(sent($r), join("\n", "traceparent: $tp", "tracestate: $ts",
	"X-B3-TraceId: $s->{traceId}", "X-B3-SpanId: $s->{spanId}",
	'X-B3-Sampled: 1'),
	'b3multi: traceparent, tracestate pass through, b3 replaced');

$r = get_with('/b3multi/2', "traceparent: $tp", @multi);
$s = span_of($t, '/b3multi/2');
is(sent($r), join("\n", "traceparent: $tp",
	"X-B3-TraceId: $s->{traceId}", "X-B3-SpanId: $s->{spanId}",
	'X-B3-Sampled: 1'),
	'b3multi: X-B3-* replaced in place, parent span id removed');


# the propagation header lines the upstream got, in order, as they came

sub sent {
	my ($r) = @_;

	my ($body) = ($r // '') =~ /\x0d\x0a\x0d\x0a(.*)\z/s;

	return join "\n",
		grep { /^(traceparent|tracestate|b3|x-b3-[\w-]+):/i }
		split /\x0d?\x0a/, $body // '';
}


###############################################################################
