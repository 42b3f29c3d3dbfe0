#!/usr/bin/perl

# Tests for the OTLP span encoder, ngx_otel_otlp_span.c: builds the C
# harness t/unit/otlp_unit.c against a configured nginx source tree
# (NGX_OTEL_NGINX_OBJS) and its generated protobuf-c sources, and passes
# its results through: every span's bytes are those protobuf-c packs for
# the same message, and protobuf-c unpacks and repacks them unchanged.
# Then a few of those spans, in an ExportTraceServiceRequest, go through
# protoc (Debian's protobuf-compiler, a third implementation): it must
# decode them to the expected fields, accept their strings as UTF-8, and
# encode what it decoded into the same bytes.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::OTLP;

use File::Spec;
use File::Temp qw/ tempdir /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $tree = $ENV{NGX_OTEL_NGINX_OBJS};

plan(skip_all => 'NGX_OTEL_NGINX_OBJS is not set') unless defined $tree;

$tree =~ s!/+$!!;
$tree =~ s!/objs$!! unless -f "$tree/objs/ngx_auto_config.h";

my $pb = "$tree/objs/ngx_otel_proto";

plan(skip_all => "no configured nginx tree with the module in $tree")
	unless -f "$tree/objs/ngx_auto_config.h" && -f "$pb/trace.pb-c.h";

my $cc = $ENV{CC} || 'cc';
my $dir = tempdir('ngx_otel_otlp_XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $src = File::Spec->rel2abs('../ngx_otel_module');
my $proto = "$src/proto";

my @incs = ((map { "-I$tree/$_" } qw{ src/core src/event src/event/modules
	src/os/unix objs }), "-I$pb", "-I$src");

my @srcs = ('unit/otlp_unit.c', "$src/ngx_otel_otlp_span.c",
	"$src/ngx_otel_span.c", map { "$pb/$_.pb-c.c" } qw/ common resource
	trace /);

my @libs = ('-lprotobuf-c');

###############################################################################

my $log = build("$dir/otlp_unit", qw/ -O -g -W -Wall -Wpointer-arith
	-Wno-unused-parameter -Werror /);

if (defined $log) {
	fail('harness builds with -Wall -Werror');
	diag($log);
	done_testing();
	exit;
}

pass('harness builds with -Wall -Werror');

my %spans = run("$dir/otlp_unit", '');

SKIP: {
	$log = build("$dir/otlp_unit_san", '-O1', '-g', '-Wall', '-Werror',
		'-fsanitize=address,undefined', '-fno-sanitize-recover=all',
		'-fno-omit-frame-pointer');

	skip("no sanitizers: " . (split /\n/, $log)[0], 1) if defined $log;

	local $ENV{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=0';
	local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1';

	run("$dir/otlp_unit_san", 'sanitized: ');
}

###############################################################################

# protoc

SKIP: {

skip('no protoc', 1) if system('protoc --version >/dev/null 2>&1') != 0;

my @labels = qw/ root server client events attrs utf8 empty big /;
push @labels, map { "kind $_" } 0 .. 5;
push @labels, map { "random $_" } 0 .. 15;

is(scalar(grep { defined $spans{$_} } @labels), scalar @labels,
	'harness printed the spans for protoc');

my (%span, %text);

for my $label (@labels) {
	my $body = request($spans{$label} // '');
	my $text = protoc('--decode', $body);

	ok(defined $text, "$label: protoc decodes it") or next;
	is(protoc('--encode', $text), $body, "$label: protoc encodes it back");

	($span{$label}) = decode_body($body, 'protobuf');
	$text{$label} = $text;
}

# span events as protoc sees them

my @events = ($text{events} // '') =~ /^ {6}events \{\n(.*?)^ {6}\}\n/msg;

is(scalar @events, 2, 'events: two');
like($events[0] // '', qr/^ {8}time_unix_nano: 1700000000123500000\n {8}name: "nginx\.upstream\.attempt"\n/,
	'events: first time and name');
like($events[0] // '', qr/key: "network\.peer\.port"\n\s+value \{\n\s+int_value: 8081\n.*key: "error\.type"\n\s+value \{\n\s+string_value: "connection_failure"/s,
	'events: first attributes');
like($events[1] // '', qr/int_value: 8082\n.*key: "http\.response\.status_code"\n\s+value \{\n\s+int_value: 200\n.*key: "app\.note"\n\s+value \{\n\s+string_value: "caf\\303\\251"/s,
	'events: second attributes');
like($text{events} // '', qr/^ {6}status \{\n/m, 'events: before status');

# one request of several spans

my $all = request(join '', map { $spans{$_} // '' } @labels);
my @all = decode_body($all, 'protobuf');

is(scalar @all, scalar @labels, 'one request: every span');
is(protoc('--encode', protoc('--decode', $all)), $all,
	'one request: protoc encodes it back');

# the fields, as protoc sees them

my $s = $span{root};

is($s->{traceId}, '0102030405060708090a0b0c0d0e0f10', 'root: trace_id');
is($s->{spanId}, '1112131415161718', 'root: span_id');
is($s->{parentSpanId}, '', 'root: no parent_span_id');
is($s->{traceState}, '', 'root: no trace_state');
is($s->{name}, 'GET /api/', 'root: name');
is($s->{kind}, 2, 'root: kind');
is($s->{flags}, 0x101, 'root: flags, sampled, parent not remote');
is($s->{start}, '1700000000123456789', 'root: start time');
is($s->{end}, '1700000000223456789', 'root: end time');
is($s->{status}, 0, 'root: status unset');
is_deeply($s->{attrs}, { 'http.request.method' => 'GET',
	'url.path' => '/api/x', 'http.response.status_code' => 200,
	'server.port' => 8080 }, 'root: attributes');

$s = $span{server};

is($s->{parentSpanId}, 'a1a2a3a4a5a6a7a8', 'server: parent_span_id');
is($s->{traceState}, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
	'server: trace_state');
is($s->{flags}, 0x301, 'server: flags, parent remote');
is($s->{status}, 2, 'server: status error');
is_deeply($s->{attrs}, { 'http.response.status_code' => 502,
	'error.type' => '502' }, 'server: attributes');

$s = $span{client};

is($s->{spanId}, 'f1f2f3f4f5f6f7f8', 'client: span_id');
is($s->{parentSpanId}, '1112131415161718', 'client: parent_span_id');
is($s->{kind}, 3, 'client: kind');
is($s->{flags}, 0x103, 'client: flags, parent not remote');
is_deeply($s->{attrs}, {}, 'client: no attributes');

# attributes in order, as KeyValue / AnyValue

my @kv = attrs($spans{attrs});

is_deeply([ map { $_->[0] } @kv[0 .. 21] ], [ qw/ http.request.method
	http.request.method_original url.path url.query url.scheme http.route
	http.response.status_code server.address server.port client.address
	network.peer.address network.peer.port network.protocol.version
	user_agent.original http.request.body.size http.response.body.size
	error.type http.request.resend_count nginx.upstream.name
	nginx.upstream.connect_time_ms nginx.upstream.header_time_ms
	nginx.upstream.response_time_ms / ], 'attrs: known keys');
is_deeply([ map { [ @$_[1, 2] ] } @kv[0 .. 21] ],
	[ ([ 'string_value', 'v' ]) x 22 ], 'attrs: known values');
is_deeply([ @kv[22 .. $#kv] ], [
	[ 'app.tenant', 'string_value', 'acme' ],
	[ 'app.zero', 'int_value', '0' ],
	[ 'app.count', 'int_value', '-42' ],
	[ 'app.min', 'int_value', '-9223372036854775808' ],
	[ 'app.max', 'int_value', '9223372036854775807' ],
	[ 'app.127', 'int_value', '127' ],
	[ 'app.128', 'int_value', '128' ],
	[ 'app.empty', 'string_value', '' ],
	[ undef, 'string_value', 'nokey' ],
	[ undef, 'int_value', '7' ],
	[ "we\"ird\\key\n", 'string_value', 'x' ] ], 'attrs: custom ones');

# UTF-8

my $fffd = "\x{FFFD}";

$s = $span{utf8};

is($s->{name}, "a${fffd}b${fffd}c", 'utf8: bad byte and NUL in name');
is($s->{traceState}, "k=\x{e9}${fffd}", 'utf8: trace_state');
is($s->{attrs}{utf8}, "\x{80}\x{e9}\x{20ac}\x{d7ff}\x{e000}\x{ffff}"
	. "\x{1f600}\x{10ffff}", 'utf8: valid kept');
is($s->{attrs}{overlong2}, $fffd x 2, 'utf8: overlong 2-byte');
is($s->{attrs}{overlong3}, $fffd x 3, 'utf8: overlong 3-byte');
is($s->{attrs}{overlong4}, $fffd x 4, 'utf8: overlong 4-byte');
is($s->{attrs}{surrogate}, $fffd x 3, 'utf8: surrogate');
is($s->{attrs}{toobig}, $fffd x 4, 'utf8: above U+10FFFF');
is($s->{attrs}{badlead}, $fffd x 3, 'utf8: bytes F5-FF');
is($s->{attrs}{lonecont}, "a${fffd}b", 'utf8: lone continuation byte');
is($s->{attrs}{truncmid}, "a${fffd}${fffd}b", 'utf8: truncated sequence');
is($s->{attrs}{truncend}, "a" . $fffd x 3, 'utf8: sequence cut at the end');
is($s->{attrs}{nul}, $fffd, 'utf8: NUL');
is($s->{attrs}{"k${fffd}\x{e9}"}, 'v', 'utf8: key');
is($s->{attrs}{'url.path'}, "/caf\x{e9}", 'utf8: known key, valid value');

# defaults left out

my $raw = protoc_decode(request($spans{empty}))
	->{resource_spans}[0]{scope_spans}[0]{spans}[0];

is_deeply([ sort keys %$raw ], [ qw/ flags span_id status trace_id / ],
	'empty: only ids, status and flags');
is_deeply($raw->{status}, [ {} ], 'empty: status present, empty');
is($raw->{flags}[0], 256, 'empty: flags');

for my $k (0 .. 5) {
	$s = $span{"kind $k"};
	is(join(' ', $s->{kind}, $s->{status}, $s->{flags}),
		join(' ', $k, $k % 3, $k | 0x100 | ($k == 2 ? 0x200 : 0)),
		"kind $k: kind, status, flags");
}

$s = $span{big};

is($s->{name}, 'n' x 1024, 'big: name');
is(scalar(@kv = attrs($spans{big})), 64, 'big: 64 attributes');
is(scalar(grep { $_->[0] eq 'k' x 255 && $_->[2] eq 'x' x 4096 } @kv), 64,
	'big: keys and values');

# random spans: ids where the bytes have them

my $ids = 0;

for my $i (0 .. 15) {
	my $bytes = $spans{"random $i"} // next;
	my $want = unpack('H*', substr($bytes, index($bytes, "\x0a\x10") + 2,
		16));
	$ids++ if ($span{"random $i"} || {})->{traceId} eq $want;
}

is($ids, 16, 'random: trace ids');

}

done_testing();

###############################################################################

# compiles the harness; returns undef on success, the compiler output if not

sub build {
	my ($bin, @flags) = @_;

	my $rc = system("'$cc' @flags @incs -o '$bin' @srcs @libs"
		. " > '$dir/cc.log' 2>&1");

	return undef if $rc == 0;
	return "$cc failed: " . (read_file("$dir/cc.log") || '(no output)');
}

# runs the harness: its TAP lines become Test::More results, its spans are
# returned as label => bytes

sub run {
	my ($bin, $prefix) = @_;

	my ($count, $plan, %spans) = (0, undef);

	open my $fh, '-|', "'$bin' 2>'$dir/stderr'" or die "run $bin: $!";

	while (my $line = <$fh>) {
		chomp $line;

		if ($line =~ /^(not )?ok (\d+)(?: - (.*))?$/) {
			$count++;
			ok(!defined $1, $prefix . ($3 // "test $2"));

		} elsif ($line =~ /^1\.\.(\d+)$/) {
			$plan = $1;

		} elsif ($line =~ /^span\t([^\t]+)\t([0-9a-f]+)$/) {
			$spans{$1} = pack('H*', $2);

		} elsif ($line =~ /^# ?(.*)$/) {
			note($1);

		} else {
			diag("harness: $line");
		}
	}

	close $fh;

	is($?, 0, $prefix . 'harness exit status')
		or diag(read_file("$dir/stderr"));
	is($plan, $count, $prefix . 'harness ran its plan');

	return %spans;
}

sub varint {
	my ($n) = @_;
	my $s = '';

	while ($n >= 0x80) {
		$s .= chr(($n & 0x7f) | 0x80);
		$n >>= 7;
	}

	return $s . chr($n);
}

# ExportTraceServiceRequest { resource_spans = 1 { scope_spans = 2 {
#     spans = 2 ... } } }; the spans come as encoded fields

sub request {
	my ($spans) = @_;
	my $rs = "\x12" . varint(length $spans) . $spans;
	return "\x0a" . varint(length $rs) . $rs;
}

sub protoc {
	my ($what, $in) = @_;

	return undef unless defined $in;

	my $file = "$dir/protoc.in";
	my $type = 'opentelemetry.proto.collector.trace.v1.'
		. 'ExportTraceServiceRequest';

	open my $fh, '>', $file or die "$file: $!";
	binmode $fh;
	print $fh $in;
	close $fh;

	my $out = `protoc $what $type -I '$proto' trace_service.proto \\
		< '$file' 2>'$dir/protoc.err'`;

	if ($? != 0) {
		diag("protoc $what: " . read_file("$dir/protoc.err"));
		return undef;
	}

	return $out;
}

# a span's attributes in order: [ key, value field, value ]

sub attrs {
	my ($bytes) = @_;
	my $req = protoc_decode(request($bytes));
	my $s = $req->{resource_spans}[0]{scope_spans}[0]{spans}[0];
	my @kv;

	for my $kv (@{ $s->{attributes} || [] }) {
		my $v = $kv->{value}[0];
		my ($field) = keys %$v;
		my $key = $kv->{key} ? $kv->{key}[0] : undef;

		utf8::decode($key) if defined $key;
		push @kv, [ $key, $field, $v->{$field}[0] ];
	}

	return @kv;
}

sub read_file {
	my ($name) = @_;
	open my $fh, '<', $name or return '';
	local $/;
	return <$fh>;
}

###############################################################################
