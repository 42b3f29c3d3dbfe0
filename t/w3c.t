#!/usr/bin/perl

# Tests for W3C Trace Context propagation: extracting "traceparent" and
# "tracestate" from the client, what the upstream gets, and what the span
# says; malformed headers, future versions, the tracestate limits, and
# that an injected context replaces the client's headers.

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

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /raw/ {
            proxy_pass http://127.0.0.1:8082;
        }

        location /pb/ {
            otel_sampler parentbased_always_on;
            proxy_pass http://127.0.0.1:8081;
        }

        location /inject/ {
            otel_trace_context inject;
            proxy_pass http://127.0.0.1:8082;
        }
    }

    %%ECHO_SERVER%%
}

EOF

my $tid = '0af7651916cd43dd8448eb211c80319c';
my $sid = 'b7ad6b7169203331';
my $tp = "00-$tid-$sid-01";

# malformed traceparent values: each is ignored and a new trace starts

my @malformed = (
	[ 'uppercase trace id', "00-\U$tid\E-$sid-01" ],
	[ 'uppercase span id', "00-$tid-\U$sid\E-01" ],
	[ 'uppercase flags', "00-$tid-$sid-0A" ],
	[ 'uppercase version', "CC-$tid-$sid-01" ],
	[ 'all-zero trace id', '00-' . '0' x 32 . "-$sid-01" ],
	[ 'all-zero span id', "00-$tid-" . '0' x 16 . '-01' ],
	[ 'version ff', "ff-$tid-$sid-01" ],
	[ 'version 00 with trailing data',
		"00-$tid-$sid-01-what-the-future-will-be-like" ],
	[ 'version 00 with trailing dash', "00-$tid-$sid-01-" ],
	[ 'version 00 with trailing dot', "00-$tid-$sid-01." ],
	[ 'version too short', "0-$tid-$sid-01" ],
	[ 'version too long', "000-$tid-$sid-01" ],
	[ 'trace id too short', '00-' . substr($tid, 1) . "-$sid-01" ],
	[ 'trace id too long', "00-${tid}a-$sid-01" ],
	[ 'span id too short', "00-$tid-" . substr($sid, 1) . '-01' ],
	[ 'span id too long', "00-$tid-${sid}a-01" ],
	[ 'flags too short', "00-$tid-$sid-1" ],
	[ 'flags too long', "00-$tid-$sid-001" ],
	[ 'underscore separators', "00_${tid}_${sid}_01" ],
	[ 'dot separator', "00-$tid.$sid-01" ],
	[ 'no separators', "00${tid}${sid}01" ],
	[ 'non-hex version', '.0' . "-$tid-$sid-01" ],
	[ 'non-hex trace id', '00-' . substr($tid, 0, 31) . "g-$sid-01" ],
	[ 'non-hex span id', "00-$tid-" . substr($sid, 0, 15) . 'z-01' ],
	[ 'non-hex flags', "00-$tid-$sid-.0" ],
	[ 'empty value', '' ],
	[ 'future version too short', "cc-$tid-$sid-1" ],
	[ 'future version, no dash after 55 characters',
		"cc-$tid-$sid-01.what-the-future-will-be-like" ],
	[ 'future version, letters after 55 characters',
		"cc-$tid-$sid-01what" ],
);

# invalid tracestate values: the trace continues, the tracestate is dropped

my @bad_tracestate = (
	[ 'uppercase key', [ 'foo=1,FOO=2' ] ],
	[ 'space in key', [ 'foo =1' ] ],
	[ 'dot in key', [ 'foo.bar=1' ] ],
	[ 'key starting with a digit', [ '1foo=1' ] ],
	[ 'no equals sign', [ 'foo=1,bar' ] ],
	[ 'empty key', [ 'foo=1,=2' ] ],
	[ 'empty value', [ 'foo=,bar=3' ] ],
	[ 'equals sign in value', [ 'foo=bar=baz' ] ],
	[ 'tab inside value', [ "foo=a\tb" ] ],
	[ 'empty tenant', [ 'foo@=1,bar=2' ] ],
	[ 'empty system', [ '@foo=1,bar=2' ] ],
	[ 'two at signs', [ 'foo@bar@baz=1,bar=2' ] ],
	[ 'key of 257 characters', [ 'foo=1', 'z' x 257 . '=1' ] ],
	[ 'tenant of 242 characters', [ 'foo=1', 't' x 242 . '@v=1' ] ],
	[ 'system of 15 characters', [ 'foo=1', 't@' . 'v' x 15 . '=1' ] ],
	[ 'value of 257 characters', [ 'foo=' . 'v' x 257 ] ],
	[ 'invalid member in a second line', [ 'foo=1', 'bar=2,Baz=3' ] ],
	[ 'duplicate keys', [ 'foo=1,bar=2,foo=2' ] ],
	[ 'duplicate members', [ 'foo=1,foo=1' ] ],
	[ 'duplicate keys in two lines', [ 'foo=1', 'foo=2' ] ],
	[ '33 members',
		[ join ',', map { sprintf('bar%02d=%02d', $_, $_) } 1 .. 33 ] ],
);

$t->run_daemon(\&header_daemon, port(8082));
$t->run()->plan(65 + 2 * @malformed + @bad_tracestate);

$t->waitforsocket('127.0.0.1:' . port(8082))
	or die "Can't start the raw daemon";

###############################################################################

# a valid traceparent: the request joins the trace

my $r = get_with('/valid', "traceparent: $tp");
my $s = span_of($t, '/valid');

like($r, qr/^HTTP\/1\.1 200 /, 'valid: served');
is($s->{traceId}, $tid, 'valid: same trace id');
is($s->{parentSpanId}, $sid, 'valid: parent is the incoming span');
like($s->{spanId}, qr/^(?!$sid)[0-9a-f]{16}$/, 'valid: a span id of its own');
ok($s->{flags} & 0x200, 'valid: parent is remote');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'valid: upstream gets the server span as parent');
is(header($r, 'tracestate'), '', 'valid: no tracestate made up');

$r = get_with('/casing', "TrAcEpArEnT: $tp");
is(span_of($t, '/casing')->{traceId}, $tid, 'header name is case-insensitive');

$r = get_with('/ows', "traceparent: \t $tp \t");
is(span_of($t, '/ows')->{traceId}, $tid, 'white space around the value');

# no traceparent at all: a new root, sampled, with a random trace id

$r = get_with('/none');
$s = span_of($t, '/none');

like($s->{traceId}, qr/^(?!$tid)[0-9a-f]{32}$/, 'none: new trace id');
is($s->{parentSpanId}, '', 'none: root span');
like(header($r, 'traceparent'), qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
	'none: upstream gets the new trace, sampled');

# the sampled flag, with a parent-based sampler and with always_on

$r = get_with('/pb/unsampled', "traceparent: 00-$tid-$sid-00");
like(header($r, 'traceparent'), qr/^00-$tid-(?!$sid)[0-9a-f]{16}-00$/,
	'parent-based: unsampled parent, unsampled upstream');

$r = get_with('/pb/random', "traceparent: 00-$tid-$sid-02");
like(header($r, 'traceparent'), qr/^00-$tid-(?!$sid)[0-9a-f]{16}-02$/,
	'parent-based: unsampled parent, random flag kept');

$r = get_with('/pb/sampled', "traceparent: $tp");
$s = span_of($t, '/pb/sampled');
is($s->{parentSpanId}, $sid, 'parent-based: sampled parent, span exported');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'parent-based: sampled parent, sampled upstream');

ok(!(grep { $_->{attrs}{'url.path'} =~ m!^/pb/(unsampled|random)$! }
	spans($t)), 'parent-based: unsampled parent, no span');

$r = get_with('/pb/root');
$s = span_of($t, '/pb/root');
like(header($r, 'traceparent'), qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
	'parent-based: root sampled');

$r = get_with('/always-on', "traceparent: 00-$tid-$sid-00");
$s = span_of($t, '/always-on');
is($s->{parentSpanId}, $sid, 'always_on: unsampled parent, span exported');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'always_on: unsampled parent, sampled upstream');

$r = get_with('/random', "traceparent: 00-$tid-$sid-03");
$s = span_of($t, '/random');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-03",
	'random flag passed on');

$r = get_with('/unknown-flags', "traceparent: 00-$tid-$sid-09");
$s = span_of($t, '/unknown-flags');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'unknown flags not passed on');

# every malformed traceparent is ignored: a new trace, the request served;
# a tracestate that came along is not passed on

my $n = 0;

for my $case (@malformed) {
	my ($name, $value) = @$case;
	my $path = '/malformed/' . $n++;

	$r = get_with($path, "traceparent: $value", 'tracestate: congo=t61rcWkgMzE');
	$s = span_of($t, $path);

	ok($r =~ /^HTTP\/1\.1 200 / && $s->{traceId} =~ /^[0-9a-f]{32}$/
		&& $s->{traceId} ne $tid && $s->{parentSpanId} eq '',
		"$name: new trace")
		or diag("got '$s->{traceId}' parent '$s->{parentSpanId}'");

	like(header($r, 'traceparent') . ' tracestate='
		. header($r, 'tracestate'),
		qr/^00-$s->{traceId}-$s->{spanId}-0[13] tracestate=$/,
		"$name: upstream gets the new trace only");
}

# two traceparent lines, even valid and equal, are not a valid traceparent;
# the upstream gets one line, the new one

$r = get_with('/raw/two', "traceparent: $tp",
	"traceparent: 00-12345678901234567890123456789012-$sid-01");
$s = span_of($t, '/raw/two');
ok($s->{traceId} ne $tid
	&& $s->{traceId} ne '12345678901234567890123456789012'
	&& $s->{parentSpanId} eq '', 'two traceparent lines: new trace');
like(join(' ', @{headers($r, 'traceparent')}),
	qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
	'two traceparent lines: upstream gets one line, ours');

$r = get_with('/raw/two-same', "traceparent: $tp", "traceparent: $tp");
$s = span_of($t, '/raw/two-same');
ok($s->{traceId} ne $tid && $s->{parentSpanId} eq '',
	'two equal traceparent lines: new trace');

# future versions are parsed by the 00 layout; version 00 goes out

$r = get_with('/future', "traceparent: cc-$tid-$sid-01");
$s = span_of($t, '/future');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'future version: extracted');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'future version: upstream gets version 00');

$r = get_with('/future-data',
	"traceparent: cc-$tid-$sid-01-what-the-future-will-be-like");
$s = span_of($t, '/future-data');
is($s->{traceId} . ' ' . $s->{parentSpanId}, "$tid $sid",
	'future version with more fields: extracted');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'future version with more fields: upstream gets version 00 only');

$r = get_with('/future-flags', "traceparent: cc-$tid-$sid-09-later");
$s = span_of($t, '/future-flags');
is(header($r, 'traceparent'), "00-$tid-$s->{spanId}-01",
	'future version: unknown flags dropped');

$r = get_with('/future-dash', "traceparent: cc-$tid-$sid-01-");
is(span_of($t, '/future-dash')->{traceId}, $tid, 'future version: trailing dash');

###############################################################################

# tracestate passed on unchanged when the trace continues

my $ts = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';

$r = get_with('/ts/plain', "traceparent: $tp", "tracestate: $ts");
$s = span_of($t, '/ts/plain');
is(header($r, 'tracestate'), $ts, 'tracestate: passed on unchanged');
is($s->{traceState}, $ts, 'tracestate: in the span');

$r = get_with('/pb/ts-unsampled', "traceparent: 00-$tid-$sid-00",
	"tracestate: $ts");
is(header($r, 'tracestate'), $ts, 'tracestate: passed on when unsampled');

$ts = 'tenant@vendor=a b,k_-*/0=!"#$%&\'()*+-./:;<>?[\\]^_`{|}~';
$r = get_with('/ts/chars', "traceparent: $tp", "tracestate: $ts");
is(header($r, 'tracestate'), $ts, 'tracestate: all allowed characters');

$r = get_with('/ts/key256', "traceparent: $tp", 'tracestate: foo=1',
	'tracestate: ' . 'z' x 256 . '=1');
is(header($r, 'tracestate'), 'foo=1,' . 'z' x 256 . '=1',
	'tracestate: key of 256 characters');

$r = get_with('/ts/tenant241', "traceparent: $tp", 'tracestate: foo=1',
	'tracestate: ' . 't' x 241 . '@' . 'v' x 14 . '=1');
is(header($r, 'tracestate'), 'foo=1,' . 't' x 241 . '@' . 'v' x 14 . '=1',
	'tracestate: tenant of 241 and system of 14 characters');

$r = get_with('/ts/ows', "traceparent: $tp",
	"tracestate: foo=1 \t , \t bar=2, \t baz=3");
is(header($r, 'tracestate'), 'foo=1,bar=2,baz=3',
	'tracestate: white space around members');

$r = get_with('/ts/empty-members', "traceparent: $tp",
	'tracestate: ,foo=1,,bar=2,');
is(header($r, 'tracestate'), 'foo=1,bar=2', 'tracestate: empty members');

# several lines are combined into one, in order

$r = get_with('/raw/ts-two', "traceparent: $tp", 'tracestate: a=1',
	'tracestate: b=2');
$s = span_of($t, '/raw/ts-two');
is_deeply(headers($r, 'tracestate'), [ 'a=1,b=2' ],
	'tracestate: two lines combined into one');
is($s->{traceState}, 'a=1,b=2', 'tracestate: combined in the span');

$r = get_with('/raw/ts-three', "traceparent: $tp",
	'tracestate: foo=1,bar=2', 'tracestate: rojo=1,congo=2',
	'tracestate: baz=3');
is_deeply(headers($r, 'tracestate'), [ 'foo=1,bar=2,rojo=1,congo=2,baz=3' ],
	'tracestate: three lines combined in order');

$r = get_with('/raw/ts-empty', "traceparent: $tp", 'tracestate: foo=1',
	'tracestate:');
is_deeply(headers($r, 'tracestate'), [ 'foo=1' ],
	'tracestate: empty line skipped');

$r = get_with('/raw/ts-only-empty', "traceparent: $tp", 'tracestate:');
is_deeply(headers($r, 'tracestate'), [], 'tracestate: empty not sent');

# not passed on without a valid traceparent

$r = get_with('/raw/ts-alone', 'tracestate: foo=1');
is_deeply(headers($r, 'tracestate'), [],
	'tracestate without traceparent: not sent');

$r = get_with('/raw/ts-bad', "traceparent: ff-$tid-$sid-01", 'tracestate: foo=1',
	'tracestate: bar=2');
is_deeply(headers($r, 'tracestate'), [],
	'tracestate with an invalid traceparent: not sent');

# the limits: 32 members, 512 characters

my @m = map { sprintf('bar%02d=%02d', $_, $_) } 1 .. 32;

$r = get_with('/raw/ts-32', "traceparent: $tp",
	map { 'tracestate: ' . join ',', @m[$_ * 8 .. $_ * 8 + 7] } 0 .. 3);
is_deeply(headers($r, 'tracestate'), [ join ',', @m ],
	'tracestate: 32 members in 4 lines kept');

$r = get_with('/raw/ts-33', "traceparent: $tp",
	(map { 'tracestate: ' . join ',', @m[$_ * 8 .. $_ * 8 + 7] } 0 .. 3),
	'tracestate: bar33=33');
$s = span_of($t, '/raw/ts-33');
is($s->{traceId}, $tid, 'tracestate: 33 members, trace continues');
is_deeply(headers($r, 'tracestate'), [],
	'tracestate: 33 members, discarded');
is($s->{traceState}, '', 'tracestate: 33 members, not in the span');

# members of 100 characters ("sN=" and 97 more), 5 of them fit in 512

my @short = map { "s$_=" . 'x' x 97 } 1 .. 6;
my $long = 'long=' . 'y' x 195;

$r = get_with('/ts/512', "traceparent: $tp",
	'tracestate: ' . join ',', 'a' x 120 . '=' . 'b' x 4,
	map { "k$_=" . 'x' x 125 } 1 .. 3);
is(header($r, 'tracestate'),
	join(',', 'a' x 120 . '=' . 'b' x 4, map { "k$_=" . 'x' x 125 } 1 .. 3),
	'tracestate: exactly 512 characters kept');

$r = get_with('/ts/513', "traceparent: $tp",
	'tracestate: ' . join ',', 'a' x 120 . '=' . 'b' x 5,
	map { "k$_=" . 'x' x 125 } 1 .. 3);
is(header($r, 'tracestate'),
	join(',', 'a' x 120 . '=' . 'b' x 5, map { "k$_=" . 'x' x 125 } 1 .. 2),
	'tracestate: 513 characters, last member dropped');

$r = get_with('/ts/from-end', "traceparent: $tp",
	'tracestate: ' . join ',', @short);
is(header($r, 'tracestate'), join(',', @short[0 .. 4]),
	'tracestate: over 512, members dropped from the end');

$r = get_with('/ts/long-first', "traceparent: $tp",
	'tracestate: ' . join ',', @short[0, 1], $long, @short[2, 3]);
is(header($r, 'tracestate'), join(',', @short[0 .. 3]),
	'tracestate: over 512, a long member dropped first');

$r = get_with('/ts/long-then-end', "traceparent: $tp",
	'tracestate: ' . join ',', $long, @short);
is(header($r, 'tracestate'), join(',', @short[0 .. 4]),
	'tracestate: over 512, long member, then from the end');

$r = get_with('/ts/two-long', "traceparent: $tp",
	'tracestate: ' . join ',', 'l1=' . 'y' x 200, @short[0 .. 2],
	'l2=' . 'z' x 200);
is(header($r, 'tracestate'), join(',', 'l1=' . 'y' x 200, @short[0 .. 2]),
	'tracestate: over 512, long members dropped from the end');

$r = get_with('/ts/long-fits', "traceparent: $tp",
	'tracestate: ' . join ',', $long, @short[0, 1]);
is(header($r, 'tracestate'), join(',', $long, @short[0, 1]),
	'tracestate: a long member kept when all fits');

# an invalid tracestate is discarded as a whole; the trace continues

$n = 0;

for my $case (@bad_tracestate) {
	my ($name, $lines) = @$case;
	my $path = '/raw/ts-invalid/' . $n++;

	$r = get_with($path, "traceparent: $tp", map { "tracestate: $_" } @$lines);
	$s = span_of($t, $path);

	is(join(' ', $s->{traceId}, $s->{traceState} || '-',
		@{headers($r, 'tracestate')}), "$tid -",
		"tracestate: $name, discarded");
}

###############################################################################

# propagate: the upstream gets exactly one traceparent, ours

$r = get_with('/raw/one', "traceparent: $tp", "tracestate: a=1");
$s = span_of($t, '/raw/one');
is_deeply(headers($r, 'traceparent'), [ "00-$tid-$s->{spanId}-01" ],
	'propagate: one traceparent line, replaced');
is_deeply(headers($r, 'tracestate'), [ 'a=1' ],
	'propagate: one tracestate line');

# inject: the client's context is ignored and replaced, not appended to

$r = get_with('/inject/one', "traceparent: $tp", 'tracestate: a=1,b=2');
$s = span_of($t, '/inject/one');
ok($s->{traceId} ne $tid && $s->{parentSpanId} eq '',
	'inject: incoming context ignored');
like(join(' ', @{headers($r, 'traceparent')}),
	qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
	'inject: one traceparent line, ours')
	or diag(explain(headers($r, 'traceparent')));
is_deeply(headers($r, 'tracestate'), [],
	'inject: incoming tracestate not sent');

$r = get_with('/inject/two', "traceparent: $tp", "traceparent: $tp",
	'tracestate: a=1', 'tracestate: b=2');
$s = span_of($t, '/inject/two');
like(join(' ', @{headers($r, 'traceparent')}),
	qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
	'inject: two traceparent lines replaced by one');
is_deeply(headers($r, 'tracestate'), [],
	'inject: two tracestate lines removed');

$r = get_with('/inject/none');
$s = span_of($t, '/inject/none');
like(join(' ', @{headers($r, 'traceparent')}),
	qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
	'inject: added when the client sent none');


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


###############################################################################
