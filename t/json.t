#!/usr/bin/perl

# Tests for the OTLP/JSON encoder, ngx_otel_otlp_json.c: builds the C
# harness t/unit/json_unit.c against a configured nginx source tree
# (NGX_OTEL_NGINX_OBJS), runs it and checks every line it prints.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use File::Spec;
use File::Temp qw/ tempdir /;
use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $ngx = $ENV{NGX_OTEL_NGINX_OBJS};

plan(skip_all => 'NGX_OTEL_NGINX_OBJS is not set') unless defined $ngx;
plan(skip_all => "no objs/ngx_auto_config.h in $ngx, run configure")
	unless -f "$ngx/objs/ngx_auto_config.h";

my $dir = tempdir('ngx_otel_json_XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$dir/json_unit";
my $src = File::Spec->rel2abs('../ngx_otel_module');

my @cmd = ($ENV{CC} || 'cc',
	qw/ -O -W -Wall -Wpointer-arith -Wno-unused-parameter -Werror -g /,
	(map { "-I$ngx/$_" } qw{ src/core src/event src/event/modules
		src/os/unix objs }),
	"-I$src", '-o', $bin, 'unit/json_unit.c', "$src/ngx_otel_otlp_json.c",
	"$src/ngx_otel_span.c", "$src/ngx_otel_otlp_span.c");

if (system(@cmd) != 0) {
	fail('harness builds with -Wall -Werror');
	done_testing();
	exit;
}

pass('harness builds with -Wall -Werror');

my (%docs, @raw);

open my $fh, '-|', "'$bin' 2>'$dir/stderr'" or die "Can't run $bin: $!";
binmode $fh;

while (my $line = <$fh>) {
	chomp $line;
	my ($label, $json) = split /\t/, $line, 2;
	push @raw, [ $label, $json ];
}

close $fh;

is($? >> 8, 0, 'writers stay within their size bounds')
	or diag(read_file("$dir/stderr"));
note(read_file("$dir/stderr"));

my $json = JSON::PP->new->utf8;
my $jstr = JSON::PP->new->allow_nonref;

my ($valid_utf8, $valid_json, $hex_ids) = (1, 1, 1);

# well-formed UTF-8, RFC 3629 section 4 (Encode's strict "UTF-8" would
# also reject noncharacters such as U+FFFF, which are valid)

my $utf8 = qr/\A(?:
	[\x00-\x7f]
	| [\xc2-\xdf] [\x80-\xbf]
	| \xe0 [\xa0-\xbf] [\x80-\xbf]
	| [\xe1-\xec\xee\xef] [\x80-\xbf]{2}
	| \xed [\x80-\x9f] [\x80-\xbf]
	| \xf0 [\x90-\xbf] [\x80-\xbf]{2}
	| [\xf1-\xf3] [\x80-\xbf]{3}
	| \xf4 [\x80-\x8f] [\x80-\xbf]{2}
	)*\z/x;

for my $r (@raw) {
	my ($label, $text) = @$r;

	if ($text !~ $utf8) {
		$valid_utf8 = 0;
		diag("$label: bad UTF-8");
	}

	my $doc = eval { $json->decode($text) }
		or do { $valid_json = 0; diag("$label: bad JSON: $@"); next; };

	push @{ $docs{$label} }, { raw => $text, doc => $doc };

	for my $s (spans($doc)) {
		$hex_ids = 0 unless $s->{traceId} =~ /^[0-9a-f]{32}\z/
			&& $s->{spanId} =~ /^[0-9a-f]{16}\z/
			&& (!exists $s->{parentSpanId}
				|| $s->{parentSpanId} =~ /^[0-9a-f]{16}\z/);
	}
}

is(scalar @raw, 29, 'harness lines');
ok($valid_utf8, 'every line is strict UTF-8');
ok($valid_json, 'every line decodes as JSON');
ok($hex_ids, 'ids are lowercase hex');

###############################################################################

# the exact layout, as the Collector's file exporter writes it

is($docs{root}[0]{raw}, '{"resourceSpans":[{"resource":{"attributes":['
	. '{"key":"service.name","value":{"stringValue":"gw"}},'
	. '{"key":"telemetry.sdk.name","value":{"stringValue":"ngx_otel_module"}},'
	. '{"key":"telemetry.sdk.version","value":{"stringValue":"0.1.0"}}]},'
	. '"scopeSpans":[{"scope":{"name":"ngx_otel_module","version":"0.1.0"},'
	. '"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",'
	. '"spanId":"1112131415161718","flags":257,"name":"GET /api/",'
	. '"kind":2,"startTimeUnixNano":"1700000000123456789",'
	. '"endTimeUnixNano":"1700000000223456789","attributes":['
	. '{"key":"http.request.method","value":{"stringValue":"GET"}},'
	. '{"key":"url.path","value":{"stringValue":"/api/x"}},'
	. '{"key":"http.response.status_code","value":{"intValue":"200"}},'
	. '{"key":"server.port","value":{"intValue":"8080"}}],'
	. '"status":{}}]}]}]}', 'root span, exact');

my $root = (spans($docs{root}[0]{doc}))[0];

ok(!exists $root->{parentSpanId}, 'root: no parentSpanId');
ok(!exists $root->{traceState}, 'root: no traceState');
is($root->{flags}, 0x101, 'root: flags sampled, parent not remote');
is_deeply($root->{status}, {}, 'root: status unset');
is(jstr($root->{startTimeUnixNano}), '"1700000000123456789"',
	'root: start time is a string');
is(jstr(attr($root, 'http.response.status_code')->{intValue}), '"200"',
	'root: intValue is a string');

# a server span continuing a trace and its client child

my ($server, $client) = spans($docs{child}[0]{doc});

is($server->{parentSpanId}, 'a1a2a3a4a5a6a7a8', 'server: parentSpanId');
is($server->{traceState}, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
	'server: traceState');
is($server->{flags}, 0x301, 'server: flags, parent remote');
is_deeply($server->{status}, { code => 2 }, 'server: status error');
is(attr($server, 'error.type')->{stringValue}, '502', 'server: error.type');

is($client->{parentSpanId}, $server->{spanId}, 'client: parent is server');
is($client->{kind}, 3, 'client: kind');
is($client->{flags}, 0x103, 'client: flags, parent not remote');
ok(!exists $client->{attributes}, 'client: no attributes');
ok(!exists $client->{traceState}, 'client: no traceState');
like($docs{child}[0]{raw}, qr/"status":\{"code":2\}\},\{"traceId"/,
	'spans separated by a comma');

# a shared part of the attributes, made, found again, or another's at its
# slot, in the middle, first, last, alone: the same text as without one

for my $label (qw/ shared shared-other shared-first shared-last
	shared-only /)
{
	my @raw = map { $_->{raw} } @{ $docs{$label} || [] };
	my $plain = $docs{"$label-plain"}[0]{raw};

	is(scalar @raw, 2, "$label: two documents");
	is($raw[0], $plain, "$label: made");
	is($raw[1], $plain, "$label: found again");
}

isnt($docs{'shared-plain'}[0]{raw}, $docs{'shared-other-plain'}[0]{raw},
	'shared: the part at the same slot differs');

# attributes

my $s = (spans($docs{attrs}[0]{doc}))[0];

is_deeply([ map { $_->{key} } @{ $s->{attributes} } ], [ qw/
	http.request.method http.request.method_original url.path url.query
	url.scheme http.route http.response.status_code server.address
	server.port client.address network.peer.address network.peer.port
	network.protocol.version user_agent.original http.request.body.size
	http.response.body.size error.type http.request.resend_count
	nginx.upstream.name nginx.upstream.connect_time_ms
	nginx.upstream.header_time_ms nginx.upstream.response_time_ms
	app.tenant app.count app.min
	app.max app.empty /, "we\"ird\\key\n" ], 'attribute keys');

is_deeply([ map { $_->{value} } @{ $s->{attributes} } ], [
	({ stringValue => 'v' }) x 6, { intValue => '404' },
	{ stringValue => 'v' }, { intValue => '443' },
	({ stringValue => 'v' }) x 2, { intValue => '54321' },
	({ stringValue => 'v' }) x 2, { intValue => '0' },
	{ intValue => '1234567890123' }, ({ stringValue => 'v' }) x 6,
	{ stringValue => 'acme' }, { intValue => '-42' },
	{ intValue => '-9223372036854775808' },
	{ intValue => '9223372036854775807' }, { stringValue => '' },
	{ stringValue => 'x' } ], 'attribute values');

is(jstr(attr($s, 'app.min')->{intValue}), '"-9223372036854775808"',
	'int64 min is a string');

# escapes and UTF-8

$s = (spans($docs{escape}[0]{doc}))[0];
my $raw = $docs{escape}[0]{raw};
my $fffd = "\x{FFFD}";

is($s->{name}, "a\"b\\c/d\n\r\t\b\f\x01\x1f\x7fe", 'name round-trip');
like($raw, qr/"name":"a\\"b\\\\c\/d\\n\\r\\t\\b\\f\\u0001\\u001f\x7fe"/,
	'name escapes');
is($s->{traceState}, 'k="v\\', 'traceState escapes');
is(value($s, 'ctl'), "\x00\x01\x1fz", 'control characters');
like($raw, qr/"\\u0000\\u0001\\u001fz"/, 'control characters as \u00XX');
is(value($s, 'utf8'), "\x{80}\x{e9}\x{20ac}\x{d7ff}\x{e000}\x{ffff}"
	. "\x{1f600}\x{10ffff}", 'valid UTF-8 kept');
like($raw, qr/"stringValue":"\xc2\x80\xc3\xa9\xe2\x82\xac/,
	'valid UTF-8 written raw');
is(value($s, 'overlong2'), $fffd x 2, 'overlong 2-byte replaced');
is(value($s, 'overlong3'), $fffd x 3, 'overlong 3-byte replaced');
is(value($s, 'overlong4'), $fffd x 4, 'overlong 4-byte replaced');
is(value($s, 'surrogate'), $fffd x 3, 'surrogate replaced');
is(value($s, 'toobig'), $fffd x 4, 'above U+10FFFF replaced');
is(value($s, 'badlead'), $fffd x 3, 'bytes F5-FF replaced');
is(value($s, 'lonecont'), "a${fffd}b", 'lone continuation byte replaced');
is(value($s, 'truncmid'), "a${fffd}${fffd}b", 'truncated sequence replaced');
is(value($s, 'truncend'), "a" . $fffd x 3, 'sequence cut at the end');
ok(defined attr($s, "k${fffd}\x{e9}"), 'custom key escaped');

my $res = $docs{escape}[0]{doc}{resourceSpans}[0]{resource}{attributes};

is($res->[3]{key}, "k\"\\\x01", 'resource key escaped');
is($res->[3]{value}{stringValue}, "${fffd}\x{e9}", 'resource value escaped');

# defaults left out

my $doc = $docs{empty}[0]{doc};
$s = (spans($doc))[0];

is_deeply($doc->{resourceSpans}[0]{resource}, {}, 'no resource attributes');
is_deeply([ sort keys %$s ], [ qw/ endTimeUnixNano flags spanId
	startTimeUnixNano status traceId / ], 'empty span fields');
is($s->{flags}, 0x100, 'empty span flags');

is($docs{nospans}[0]{raw}, '{"resourceSpans":[{"resource":{},'
	. '"scopeSpans":[{"scope":{"name":"ngx_otel_module",'
	. '"version":"0.1.0"},"spans":[]}]}]}', 'no spans');

# random input

my $fuzz = $docs{fuzz} || [];
my $remote = 1;

for my $d (@$fuzz) {
	for my $s (spans($d->{doc})) {
		my $want = 0x100 | ($s->{flags} & 0xff);
		$want |= 0x200 if exists $s->{parentSpanId} && $s->{kind} == 2;
		$remote = 0 unless $s->{flags} == $want;
	}
}

is(scalar @$fuzz, 8, 'random requests decode');
is(scalar(map { spans($_->{doc}) } @$fuzz), 64, 'random spans');
ok($remote, 'random spans: remote flags');

done_testing();

###############################################################################

sub spans {
	my ($doc) = @_;
	return @{ $doc->{resourceSpans}[0]{scopeSpans}[0]{spans} };
}

sub attr {
	my ($span, $key) = @_;
	my ($a) = grep { $_->{key} eq $key } @{ $span->{attributes} || [] };
	return $a->{value};
}

sub value {
	my ($span, $key) = @_;
	my $v = attr($span, $key);
	return defined $v ? $v->{stringValue} : undef;
}

sub jstr {
	return $jstr->encode($_[0]);
}

sub read_file {
	my ($name) = @_;
	open my $fh, '<', $name or return '';
	local $/;
	return <$fh>;
}

###############################################################################
