#!/usr/bin/perl

# Tests for B3 propagation: "otel_propagators b3" (the single "b3" header)
# and "b3multi" (X-B3-TraceId, X-B3-SpanId, X-B3-Sampled, X-B3-Flags):
# extraction, debug, 64-bit trace ids, malformed headers, which form wins,
# and several propagators listed together.

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

my $t = Test::Nginx->new()->has(qw/http proxy/)
	->write_file_expand('nginx.conf',
		<<'EOF' =~ s/ *%%ECHO_SERVER%%\n/echo_server_conf()/er);

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

        location /b3/ {
            otel_propagators b3;
            proxy_pass http://127.0.0.1:8082;
        }

        location /b3pb/ {
            otel_propagators b3;
            otel_sampler parentbased_always_on;
            proxy_pass http://127.0.0.1:8081;
        }

        location /multi/ {
            otel_propagators b3multi;
            proxy_pass http://127.0.0.1:8082;
        }

        location /multipb/ {
            otel_propagators b3multi;
            otel_sampler parentbased_always_on;
            proxy_pass http://127.0.0.1:8081;
        }

        location /w3c-b3/ {
            otel_propagators tracecontext b3;
            proxy_pass http://127.0.0.1:8082;
        }

        location /b3-w3c/ {
            otel_propagators b3 tracecontext;
            proxy_pass http://127.0.0.1:8082;
        }

        location /all/ {
            otel_propagators tracecontext b3 b3multi;
            proxy_pass http://127.0.0.1:8082;
        }
    }

    %%ECHO_SERVER%%
}

EOF

my $tid = '463ac35c9f6413ad48485a3953bb6124';
my $tid64 = 'a3ce929d0e0e4736';
my $sid = 'a2fb4a1d1a96d312';
my $psid = '0020000000000001';

my $w3c_tid = '0af7651916cd43dd8448eb211c80319c';
my $w3c_sid = 'b7ad6b7169203331';

# malformed single headers: ignored, a new trace starts

my @malformed = (
	[ 'uppercase trace id', "\U$tid\E-$sid-1" ],
	[ 'uppercase span id', "$tid-\U$sid\E-1" ],
	[ 'all-zero trace id', '0' x 32 . "-$sid-1" ],
	[ 'all-zero 64-bit trace id', '0' x 16 . "-$sid-1" ],
	[ 'all-zero span id', "$tid-" . '0' x 16 . '-1' ],
	[ 'trace id of 31 characters', substr($tid, 1) . "-$sid-1" ],
	[ 'trace id of 24 characters', substr($tid, 8) . "-$sid-1" ],
	[ 'trace id of 33 characters', "${tid}a-$sid-1" ],
	[ 'span id of 15 characters', "$tid-" . substr($sid, 1) . '-1' ],
	[ 'span id of 17 characters', "$tid-${sid}a-1" ],
	[ 'no span id', "$tid-1" ],
	[ 'sampling state only', '1' ],
	[ 'unknown sampling state', "$tid-$sid-2" ],
	[ 'sampling state "true"', "$tid-$sid-true" ],
	[ 'empty sampling state', "$tid-$sid-" ],
	[ 'bad parent span id', "$tid-$sid-1-" . substr($psid, 1) ],
	[ 'five fields', "$tid-$sid-1-$psid-1" ],
	[ 'non-hex trace id', substr($tid, 0, 31) . "g-$sid-1" ],
	[ 'non-hex span id', "$tid-" . substr($sid, 0, 15) . 'x-1' ],
	[ 'underscore separator', "${tid}_$sid-1" ],
	[ 'empty value', '' ],
);

# malformed multiple headers

my @malformed_multi = (
	[ 'no span id', [ "X-B3-TraceId: $tid", 'X-B3-Sampled: 1' ] ],
	[ 'no trace id', [ "X-B3-SpanId: $sid", 'X-B3-Sampled: 1' ] ],
	[ 'all-zero trace id', [ 'X-B3-TraceId: ' . '0' x 32,
		"X-B3-SpanId: $sid" ] ],
	[ 'all-zero span id', [ "X-B3-TraceId: $tid",
		'X-B3-SpanId: ' . '0' x 16 ] ],
	[ 'short trace id', [ 'X-B3-TraceId: ' . substr($tid, 2),
		"X-B3-SpanId: $sid" ] ],
	[ 'short span id', [ "X-B3-TraceId: $tid",
		'X-B3-SpanId: ' . substr($sid, 2) ] ],
	[ 'non-hex span id', [ "X-B3-TraceId: $tid",
		'X-B3-SpanId: ' . substr($sid, 0, 15) . 'x' ] ],
	[ 'unknown X-B3-Sampled', [ "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
		'X-B3-Sampled: yes' ] ],
);

$t->run_daemon(\&header_daemon, port(8082));
$t->run()->plan(61 + 2 * @malformed + @malformed_multi);

$t->waitforsocket('127.0.0.1:' . port(8082))
	or die "Can't start the raw daemon";

###############################################################################

# the single header

my $r = get_with('/b3/sampled', "b3: $tid-$sid-1");
my $s = span_of($t, '/b3/sampled');

like($r, qr/^HTTP\/1\.1 200 /, 'b3: served');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid", 'b3: extracted');
is_deeply(headers($r, 'b3'), [ "$tid-$s->{spanId}-1" ],
	'b3: upstream gets one b3 header, the server span as parent');
is_deeply(headers($r, 'traceparent'), [], 'b3: no traceparent made up');
is_deeply([ grep { /^x-b3-/ } names($r) ], [],
	'b3: no multiple headers made up');

$r = get_with('/b3/unsampled', "b3: $tid-$sid-0");
$s = span_of($t, '/b3/unsampled');
is($s->{parentSpanId}, $sid, 'b3 0, always_on: span exported');
is(header($r, 'b3'), "$tid-$s->{spanId}-1", 'b3 0, always_on: sampled');

$r = get_with('/b3pb/unsampled', "b3: $tid-$sid-0");
like(header($r, 'b3'), qr/^$tid-(?!$sid)[0-9a-f]{16}-0$/,
	'b3 0, parent-based: unsampled upstream');

$r = get_with('/b3pb/sampled', "b3: $tid-$sid-1");
$s = span_of($t, '/b3pb/sampled');
is(header($r, 'b3'), "$tid-$s->{spanId}-1", 'b3 1, parent-based: sampled');

$r = get_with('/b3pb/debug', "b3: $tid-$sid-d");
$s = span_of($t, '/b3pb/debug');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3 debug: extracted, span exported');
is(header($r, 'b3'), "$tid-$s->{spanId}-d", 'b3 debug: passed on as debug');

# the decision deferred (no sampling state): the module treats it as an
# unsampled parent, as @opentelemetry/propagator-b3 does

$r = get_with('/b3pb/deferred', "b3: $tid-$sid");
like(header($r, 'b3'), qr/^$tid-(?!$sid)[0-9a-f]{16}-0$/,
	'b3 deferred, parent-based: unsampled parent');

$r = get_with('/b3/deferred', "b3: $tid-$sid");
$s = span_of($t, '/b3/deferred');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3 deferred, always_on: extracted');
is(header($r, 'b3'), "$tid-$s->{spanId}-1", 'b3 deferred, always_on: sampled');

ok(!(grep { $_->{attrs}{'url.path'} =~ m!^/b3pb/(unsampled|deferred)$! }
	spans($t)), 'b3 unsampled parent: no span');

# the parent span id, 4th field: checked, not the parent of our span

$r = get_with('/b3/parent', "b3: $tid-$sid-1-$psid");
$s = span_of($t, '/b3/parent');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3 with parent span id: extracted');
is(header($r, 'b3'), "$tid-$s->{spanId}-1",
	'b3 with parent span id: three fields out');

$r = get_with('/b3/parent-deferred', "b3: $tid-$sid-$psid");
is(span_of($t, '/b3/parent-deferred')->{parentSpanId}, $sid,
	'b3 with parent span id, no sampling state');

# 64-bit trace ids are left-padded

$r = get_with('/b3/short', "b3: $tid64-$sid-1");
$s = span_of($t, '/b3/short');
is($s->{traceId}, '0' x 16 . $tid64, 'b3 64-bit: padded trace id in the span');
is(header($r, 'b3'), '0' x 16 . "$tid64-$s->{spanId}-1",
	'b3 64-bit: padded trace id upstream');

$r = get_with('/b3/ows', "b3:  $tid-$sid-1 ");
is(span_of($t, '/b3/ows')->{traceId}, $tid, 'b3: white space around the value');

my $n = 0;

for my $case (@malformed) {
	my ($name, $value) = @$case;
	my $path = '/b3/malformed/' . $n++;

	$r = get_with($path, "b3: $value");
	$s = span_of($t, $path);

	ok($r =~ /^HTTP\/1\.1 200 / && $s->{traceId} =~ /^[0-9a-f]{32}$/
		&& $s->{traceId} ne $tid && $s->{traceId} !~ /^0{16}/
		&& $s->{parentSpanId} eq '',
		"b3 $name: new trace")
		or diag("got '$s->{traceId}' parent '$s->{parentSpanId}'");

	is_deeply(headers($r, 'b3'), [ "$s->{traceId}-$s->{spanId}-1" ],
		"b3 $name: upstream gets the new trace");
}

$r = get_with('/b3/two', "b3: $tid-$sid-1", "b3: $tid-$sid-1");
$s = span_of($t, '/b3/two');
ok($s->{traceId} ne $tid && $s->{parentSpanId} eq '',
	'two b3 lines: new trace');
is_deeply(headers($r, 'b3'), [ "$s->{traceId}-$s->{spanId}-1" ],
	'two b3 lines: upstream gets one line');

###############################################################################

# multiple headers

$r = get_with('/multi/sampled', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	"X-B3-ParentSpanId: $psid", 'X-B3-Sampled: 1');
$s = span_of($t, '/multi/sampled');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid", 'multi: extracted');
is(multi($r), "traceid=$tid spanid=$s->{spanId} sampled=1",
	'multi: upstream gets ours, sampled, no parent span id');
is_deeply(headers($r, 'b3'), [], 'multi: no single header made up');
is_deeply(headers($r, 'traceparent'), [], 'multi: no traceparent made up');

$r = get_with('/multi/names', "x-b3-traceid: $tid", "x-b3-spanid: $sid",
	'x-b3-sampled: 1');
is(span_of($t, '/multi/names')->{traceId}, $tid, 'multi: lowercase names');

$r = get_with('/multipb/unsampled', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: 0');
like(join(' ', map { header($r, $_) } qw/ x-b3-traceid x-b3-spanid
	x-b3-sampled x-b3-flags /),
	qr/^$tid (?!$sid)[0-9a-f]{16} 0 $/, 'multi 0, parent-based: unsampled');

$r = get_with('/multipb/true', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: true');
$s = span_of($t, '/multipb/true');
is(header($r, 'x-b3-sampled'), '1', 'multi "true": sampled');

$r = get_with('/multipb/false', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: false');
is(header($r, 'x-b3-sampled'), '0', 'multi "false": unsampled');

$r = get_with('/multipb/deferred', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid");
like(header($r, 'x-b3-traceid') . ' ' . header($r, 'x-b3-sampled'),
	qr/^$tid 0$/, 'multi deferred, parent-based: unsampled parent');

$r = get_with('/multi/debug', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Flags: 1');
$s = span_of($t, '/multi/debug');
is($s->{parentSpanId}, $sid, 'multi debug: extracted');
is(multi($r), "traceid=$tid spanid=$s->{spanId} flags=1",
	'multi debug: X-B3-Flags out, no X-B3-Sampled');

$r = get_with('/multipb/debug', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: 0', 'X-B3-Flags: 1');
$s = span_of($t, '/multipb/debug');
is($s->{parentSpanId}, $sid, 'multi debug wins over X-B3-Sampled: 0');

$r = get_with('/multi/debug-sampled', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: 1', 'X-B3-Flags: 1');
$s = span_of($t, '/multi/debug-sampled');
is(multi($r), "traceid=$tid spanid=$s->{spanId} flags=1",
	'multi debug: the client\'s X-B3-Sampled removed');

$r = get_with('/multi/not-debug', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: 1', 'X-B3-Flags: 0');
$s = span_of($t, '/multi/not-debug');
is(multi($r), "traceid=$tid spanid=$s->{spanId} sampled=1",
	'multi, X-B3-Flags 0: the client\'s X-B3-Flags removed');

$r = get_with('/multi/short', "X-B3-TraceId: $tid64", "X-B3-SpanId: $sid",
	'X-B3-Sampled: 1');
$s = span_of($t, '/multi/short');
is($s->{traceId}, '0' x 16 . $tid64, 'multi 64-bit: padded in the span');
is(header($r, 'x-b3-traceid'), '0' x 16 . $tid64,
	'multi 64-bit: padded upstream');

$r = get_with('/multi/new');
$s = span_of($t, '/multi/new');
is(multi($r), "traceid=$s->{traceId} spanid=$s->{spanId} sampled=1",
	'multi: new trace injected');

$n = 0;

for my $case (@malformed_multi) {
	my ($name, $lines) = @$case;
	my $path = '/multi/malformed/' . $n++;

	$r = get_with($path, @$lines);
	$s = span_of($t, $path);

	is(multi($r) . ' ' . $s->{parentSpanId},
		"traceid=$s->{traceId} spanid=$s->{spanId} sampled=1 ",
		"multi $name: new trace");
}

# both forms: the single header wins

$r = get_with('/multi/both', "b3: $tid-$sid-1", "X-B3-TraceId: $w3c_tid",
	"X-B3-SpanId: $w3c_sid", 'X-B3-Sampled: 1');
$s = span_of($t, '/multi/both');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3multi, both forms: single header wins');
is(multi($r), "traceid=$tid spanid=$s->{spanId} sampled=1",
	'b3multi, both forms: multiple headers replaced');
is_deeply(headers($r, 'b3'), [],
	'b3multi, both forms: the single header is not sent on');

$r = get_with('/multi/both-bad', "b3: $tid-$sid-x", "X-B3-TraceId: $w3c_tid",
	"X-B3-SpanId: $w3c_sid", 'X-B3-Sampled: 1');
$s = span_of($t, '/multi/both-bad');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$w3c_tid $w3c_sid",
	'b3multi, invalid single header: multiple headers used');

$r = get_with('/b3/both', "b3: $tid-$sid-1", "X-B3-TraceId: $w3c_tid",
	"X-B3-SpanId: $w3c_sid", 'X-B3-Sampled: 0');
$s = span_of($t, '/b3/both');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3, both forms: single header wins');
is(join(' ', map { header($r, $_) } qw/ x-b3-traceid x-b3-spanid
	x-b3-sampled /), '  ',
	'b3, both forms: the multiple headers are not sent on');

# as in the OpenTelemetry SDKs, "b3" and "b3multi" differ in what they
# inject only: both read either form

$r = get_with('/b3/multi-only', "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	'X-B3-Sampled: 1');
$s = span_of($t, '/b3/multi-only');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3: multiple headers extracted');
is(header($r, 'b3'), "$tid-$s->{spanId}-1",
	'b3: multiple headers in, single header out');

###############################################################################

# several propagators: the first valid one wins, all of them are injected
# with the same ids

$r = get_with('/w3c-b3/both', "traceparent: 00-$w3c_tid-$w3c_sid-01",
	'tracestate: a=1', "b3: $tid-$sid-1");
$s = span_of($t, '/w3c-b3/both');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$w3c_tid $w3c_sid",
	'tracecontext b3, both valid: W3C ids');
is(join(' ', map { header($r, $_) } qw/ traceparent tracestate b3 /),
	"00-$w3c_tid-$s->{spanId}-01 a=1 $w3c_tid-$s->{spanId}-1",
	'tracecontext b3, both valid: both out with the same ids');

$r = get_with('/w3c-b3/bad-w3c', "traceparent: 00-\U$w3c_tid\E-$w3c_sid-01",
	'tracestate: a=1', "b3: $tid-$sid-1");
$s = span_of($t, '/w3c-b3/bad-w3c');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'tracecontext b3, invalid traceparent: b3 ids');
is(join(' ', map { header($r, $_) } qw/ traceparent tracestate b3 /),
	"00-$tid-$s->{spanId}-01  $tid-$s->{spanId}-1",
	'tracecontext b3, invalid traceparent: both out with the b3 ids');

$r = get_with('/w3c-b3/debug', "b3: $tid-$sid-d");
$s = span_of($t, '/w3c-b3/debug');
is(join(' ', map { header($r, $_) } qw/ traceparent b3 /),
	"00-$tid-$s->{spanId}-01 $tid-$s->{spanId}-d",
	'tracecontext b3, debug: sampled traceparent, debug b3');

$r = get_with('/w3c-b3/new');
$s = span_of($t, '/w3c-b3/new');
like(join(' ', map { header($r, $_) } qw/ traceparent b3 /),
	qr/^00-$s->{traceId}-$s->{spanId}-0[13] $s->{traceId}-$s->{spanId}-1$/,
	'tracecontext b3, new trace: both out with the same ids');

$r = get_with('/b3-w3c/both', "traceparent: 00-$w3c_tid-$w3c_sid-01",
	'tracestate: a=1', "b3: $tid-$sid-1");
$s = span_of($t, '/b3-w3c/both');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'b3 tracecontext, both valid: b3 ids');
is(join(' ', map { header($r, $_) } qw/ traceparent tracestate b3 /),
	"00-$tid-$s->{spanId}-01  $tid-$s->{spanId}-1",
	'b3 tracecontext: W3C out with the b3 ids, no tracestate');

$r = get_with('/b3-w3c/bad-b3', "traceparent: 00-$w3c_tid-$w3c_sid-01",
	"b3: $tid-$sid-7");
$s = span_of($t, '/b3-w3c/bad-b3');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$w3c_tid $w3c_sid",
	'b3 tracecontext, invalid b3: W3C ids');

$r = get_with('/all/both', "traceparent: 00-$w3c_tid-$w3c_sid-01",
	"b3: $tid-$sid-1", "X-B3-TraceId: $tid", "X-B3-SpanId: $sid",
	"X-B3-ParentSpanId: $psid", 'X-B3-Sampled: 1');
$s = span_of($t, '/all/both');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$w3c_tid $w3c_sid",
	'all propagators: W3C first');
is(join(' ', map { header($r, $_) } qw/ traceparent b3 /, ),
	"00-$w3c_tid-$s->{spanId}-01 $w3c_tid-$s->{spanId}-1",
	'all propagators: W3C and b3 out');
is(multi($r), "traceid=$w3c_tid spanid=$s->{spanId} sampled=1",
	'all propagators: multiple headers out, one each');

$r = get_with('/all/unsampled', "traceparent: 00-$w3c_tid-$w3c_sid-00");
$s = span_of($t, '/all/unsampled');
is(join(' ', map { header($r, $_) } qw/ traceparent b3 x-b3-sampled /),
	"00-$w3c_tid-$s->{spanId}-01 $w3c_tid-$s->{spanId}-1 1",
	'all propagators: always_on samples');


# the values of a header the upstream got, from the echo server (empty
# lines for absent headers) or from the raw daemon (every line as it came)

sub headers {
	my ($r, $name) = @_;

	my ($body) = ($r // '') =~ /\x0d\x0a\x0d\x0a(.*)\z/s;
	my @values;

	for my $line (split /\x0d?\x0a/, $body // '') {
		my ($k, $v) = $line =~ /^([\w-]+):[ \t]*(.*?)[ \t]*$/ or next;
		push @values, $v if lc $k eq $name && $v ne '';
	}

	return \@values;
}

sub header {
	my ($r, $name) = @_;

	return join ', ', @{headers($r, $name)};
}

# the names of the headers the upstream got, lowercase, in order

sub names {
	my ($r) = @_;

	my ($body) = ($r // '') =~ /\x0d\x0a\x0d\x0a(.*)\z/s;

	return map { /^([\w-]+):[ \t]*\S/ ? lc $1 : () }
		split /\x0d?\x0a/, $body // '';
}

# every X-B3-* header line the raw daemon got, as "name=value"

sub multi {
	my ($r) = @_;

	my ($body) = ($r // '') =~ /\x0d\x0a\x0d\x0a(.*)\z/s;
	my %order = (traceid => 1, spanid => 2, parentspanid => 3,
		sampled => 4, flags => 5);

	return join ' ', map { $_->[0] . '=' . $_->[1] }
		sort { ($order{$a->[0]} // 9) <=> ($order{$b->[0]} // 9) }
		map { /^x-b3-([\w-]+): *(.*?)\s*$/i ? [ lc $1, $2 ] : () }
		split /\x0d?\x0a/, $body // '';
}


###############################################################################
