#!/usr/bin/perl

# Tests for hostile propagation headers over HTTP/1.x: 100 kB of
# tracestate, 1000 tracestate members, folded header lines, NUL and
# non-ASCII bytes, every propagation header at nginx's header line limit
# and over it, HTTP/0.9, many pipelined requests with different contexts.
# Each request is either served, with a context that follows the W3C and
# B3 rules in the span and in what the upstream gets, or rejected by nginx
# itself with 400; nothing crashes.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use Socket qw/ CRLF /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $locations = <<'EOF';
        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3/ {
            otel_propagators b3;
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3multi/ {
            otel_propagators b3multi;
            proxy_pass http://127.0.0.1:8081;
        }
EOF

my $t = Test::Nginx->new()->has(qw/http proxy/)
	->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

@{[ otel_globals() ]}

    otel_trace on;
    otel_trace_context propagate;

    # the defaults: lines of 8k, 32k in all

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

$locations
    }

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        large_client_header_buffers 8 128k;

$locations
    }
}

EOF

$t->run_daemon(\&header_daemon, port(8081));
$t->run()->plan(90);

$t->waitforsocket('127.0.0.1:' . port(8081)) or die "no backend";

###############################################################################

my $tid = '0af7651916cd43dd8448eb211c80319c';
my $sid = 'b7ad6b7169203331';
my $tp = "traceparent: 00-$tid-$sid-01";

my $btid = '80f198ee56343ba864fe8b2a57d3eff7';
my $bsid = 'e457b5a2e4d86bd1';

my $r;

# 100 kB of tracestate: valid members of 250 characters each, too many

my @m100k = map { sprintf('k%03d=', $_) . ('v' x 250) } 0 .. 399;
my $ts100k = join ',', @m100k;

# the line limit: "name: value" CRLF in 8192 bytes

sub at_limit {
	my ($name, $head, $over) = @_;
	my $len = 8192 - length("$name: ") - 2 + ($over ? 1 : 0);
	return "$name: $head" . ('x' x ($len - length $head));
}

# 100 kB in one line

is(status(get_with('/ts100k-1', $tp, "tracestate: $ts100k")), 400,
	'100 kB tracestate line: rejected by nginx');

w3c('100 kB tracestate line, large buffers', '/ts100k-2', 8082,
	[ $tp, "tracestate: $ts100k" ], $tid, $sid, '');

# 100 kB over 25 lines of 4 kB

my @lines = map { 'tracestate: ' . join ',', @m100k[$_ * 16 .. $_ * 16 + 15] }
	0 .. 24;

is(status(get_with('/ts100k-3', $tp, @lines)), 400,
	'100 kB tracestate in lines: rejected by nginx');

w3c('100 kB tracestate in lines, large buffers', '/ts100k-4', 8082,
	[ $tp, @lines ], $tid, $sid, '');

# 1000 members: in one line, in 1000 lines

my @m1000 = map { "m$_=1" } 0 .. 999;

w3c('1000 tracestate members', '/ts1000-1', 8080,
	[ $tp, 'tracestate: ' . join(',', @m1000) ], $tid, $sid, '');
w3c('900 tracestate lines', '/ts1000-2', 8080,
	[ $tp, map { "tracestate: $_" } @m1000[0 .. 899] ], $tid, $sid, '');

# some nginx builds limit the number of header lines (Debian's 1.22.1
# security updates to about 1000)

$r = get_with('/ts1000-3', $tp, map { "tracestate: $_" } @m1000);

ok(status($r) == 400 || status($r) == 200
	&& join("\n", grep { /^trace/i } upstream_lines($r))
		=~ /^traceparent: 00-$tid-\w{16}-01\z/,
	'1000 tracestate lines: served without tracestate, or rejected by nginx ('
	. status($r) . ')');

# 32 members in 32 lines are valid, 33 are not; lines without members
# do not count

w3c('32 tracestate lines', '/ts32', 8080,
	[ $tp, map { "tracestate: $_" } @m1000[0 .. 31] ], $tid, $sid,
	join(',', @m1000[0 .. 31]));
w3c('33 tracestate lines', '/ts33', 8080,
	[ $tp, map { "tracestate: $_" } @m1000[0 .. 32] ], $tid, $sid, '');
w3c('empty tracestate lines', '/ts-empty', 8080,
	[ $tp, 'tracestate: a=1', ('tracestate: ,') x 40, 'tracestate:',
	'tracestate: b=2' ], $tid, $sid, 'a=1,b=2');

# over 512 characters: whole members are dropped, from the right

my @m100 = map { sprintf('n%02d=', $_) . ('w' x 100) } 0 .. 19;

w3c('tracestate over 512 characters', '/ts512', 8080,
	[ $tp, 'tracestate: ' . join(',', @m100) ], $tid, $sid,
	truncated(@m100));

# a header folded over lines (obsolete line folding): nginx rejects it

is(status(get_with('/fold-1', $tp, 'tracestate: a=1,', ' b=2')), 400,
	'folded tracestate: rejected by nginx');
is(status(get_with('/fold-2', 'traceparent:', " 00-$tid-$sid-01")), 400,
	'folded traceparent: rejected by nginx');
is(status(get_with('/fold-3', "X-B3-TraceId: $btid", "\t$btid")), 400,
	'folded X-B3-TraceId: rejected by nginx');

# NUL bytes: nginx rejects them

is(status(get_with('/nul-1', "traceparent: 00-$tid\0-$sid-01")), 400,
	'NUL in traceparent: rejected by nginx');
is(status(get_with('/nul-2', $tp, "tracestate: a=1\0")), 400,
	'NUL in tracestate: rejected by nginx');
is(status(get_with('/b3/nul-3', "b3: $btid-$bsid-1\0")), 400,
	'NUL in b3: rejected by nginx');
is(status(get_with('/b3multi/nul-4', "X-B3-TraceId: \0$btid",
	"X-B3-SpanId: $bsid")), 400, 'NUL in X-B3-TraceId: rejected by nginx');

# non-ASCII bytes: served, the header is invalid; no tracestate without
# a valid traceparent

(my $tid_e9 = $tid) =~ s/^(.{10})./$1\xe9/;

w3c('non-ASCII in traceparent', '/8bit-1', 8080,
	[ "traceparent: 00-$tid_e9-$sid-01", 'tracestate: a=1' ], undef, undef,
	'');
w3c('UTF-8 after traceparent', '/8bit-2', 8080,
	[ "$tp\xc3\xa9", 'tracestate: a=1' ], undef, undef, '');
w3c('non-ASCII in a tracestate value', '/8bit-3', 8080,
	[ $tp, "tracestate: a=1,b=\xff,c=3" ], $tid, $sid, '');
w3c('UTF-8 in a tracestate key', '/8bit-4', 8080,
	[ $tp, "tracestate: \xc3\xa9=1" ], $tid, $sid, '');
b3('non-ASCII in b3', '/b3/8bit-5', [ "b3: $btid-$bsid-1\xe9" ], undef);
b3('non-ASCII in X-B3-SpanId', '/b3multi/8bit-6',
	[ "X-B3-TraceId: $btid", "X-B3-SpanId: \xe9$bsid", 'X-B3-Sampled: 1' ],
	undef);

# every header at the line limit: served; one byte more: rejected

w3c('traceparent at the limit (future version)', '/limit-1', 8080,
	[ at_limit('traceparent', "cc-$tid-$sid-01-") ], $tid, $sid, '');

# 31 members of 254 characters and one of 273: 8192 bytes, 32 members

my @m254 = map { sprintf('l%02d=', $_) . ('z' x 250) } 0 .. 30;
push @m254, ('y' x 16) . '=' . ('v' x 256);
my $ts_limit = 'tracestate: ' . join(',', @m254);

is(length($ts_limit) + 2, 8192, 'tracestate line: 8192 bytes');

w3c('tracestate at the limit', '/limit-2', 8080, [ $tp, $ts_limit ],
	$tid, $sid, truncated(@m254));

b3('b3 at the limit', '/b3/limit-3', [ at_limit('b3', "$btid-$bsid-1-") ],
	undef);
b3('X-B3-TraceId at the limit', '/b3multi/limit-4',
	[ at_limit('X-B3-TraceId', $btid), "X-B3-SpanId: $bsid" ], undef);
b3('X-B3-SpanId at the limit', '/b3multi/limit-5',
	[ "X-B3-TraceId: $btid", at_limit('X-B3-SpanId', $bsid) ], undef);
b3('X-B3-ParentSpanId at the limit', '/b3multi/limit-6',
	[ "X-B3-TraceId: $btid", "X-B3-SpanId: $bsid", 'X-B3-Sampled: 1',
	at_limit('X-B3-ParentSpanId', '') ], [ $btid, $bsid ]);
b3('X-B3-Sampled at the limit', '/b3multi/limit-7',
	[ "X-B3-TraceId: $btid", "X-B3-SpanId: $bsid",
	at_limit('X-B3-Sampled', '1') ], 'any');
b3('X-B3-Flags at the limit', '/b3multi/limit-8',
	[ "X-B3-TraceId: $btid", "X-B3-SpanId: $bsid",
	at_limit('X-B3-Flags', '1') ], 'any');

my @over = (
	[ '/limit-9', at_limit('traceparent', "cc-$tid-$sid-01-", 1) ],
	[ '/limit-10', $tp, at_limit('tracestate', 'a=', 1) ],
	[ '/b3/limit-11', at_limit('b3', "$btid-$bsid-1-", 1) ],
	[ '/b3multi/limit-12', at_limit('X-B3-TraceId', $btid, 1) ],
	[ '/b3multi/limit-13', at_limit('X-B3-SpanId', $bsid, 1) ],
	[ '/b3multi/limit-14', at_limit('X-B3-Sampled', '1', 1) ],
	[ '/b3multi/limit-15', at_limit('X-B3-Flags', '1', 1) ],
	[ '/b3multi/limit-16', at_limit('X-B3-ParentSpanId', '', 1) ],
);

is(join(' ', map { status(get_with(@$_)) } @over), join(' ', (400) x 8),
	'every header over the limit: rejected by nginx');

# all eight at the limit: too much for the default buffers; with large
# buffers the W3C context is taken, B3 headers pass through untouched

my @all = (at_limit('traceparent', "cc-$tid-$sid-01-"),
	at_limit('tracestate', 'a='), at_limit('b3', "$btid-$bsid-1-"),
	at_limit('X-B3-TraceId', $btid), at_limit('X-B3-SpanId', $bsid),
	at_limit('X-B3-Sampled', '1'), at_limit('X-B3-Flags', '1'),
	at_limit('X-B3-ParentSpanId', ''));

is(status(get_with('/limit-all-1', @all)), 400,
	'all headers at the limit: rejected by nginx');

$r = w3c('all headers at the limit, large buffers', '/limit-all-2', 8082,
	[ @all ], $tid, $sid, '');

is(join("\n", grep { /^(b3|x-b3-)/i } upstream_lines($r)),
	join("\n", @all[2 .. 7]), 'all headers at the limit: B3 untouched');

# HTTP/0.9: no headers, whatever follows the request line

$r = http("GET /h09" . CRLF . $tp . CRLF . CRLF);
my $s = span_of($t, '/h09');

like($r, qr/^GET \/h09 HTTP\/1\.0\r\n/, 'http/0.9 served');
is(join("\n", grep { /^trace/i } split /\r\n/, $r // ''),
	"traceparent: 00-$s->{traceId}-$s->{spanId}-03",
	'http/0.9: a new context sent');
ok($s->{traceId} ne $tid && $s->{parentSpanId} eq '', 'http/0.9: new trace');

###############################################################################

# many pipelined requests on one connection, each its own context

my (@pipe, $req);

for my $i (1 .. 60) {
	my $kind = $i % 6;
	my $id = sprintf('abcdef%026x', $i);
	my $span = sprintf('%016x', 0x2000 + $i);
	my ($path, @h);

	if ($kind == 0) {
		($path, @h) = ("/pipe/$i", "traceparent: 00-$id-$span-01");

	} elsif ($kind == 1) {
		($path, @h) = ("/pipe/$i", "traceparent: 00-$id-$span-01",
			"tracestate: p=$i");

	} elsif ($kind == 2) {
		($path, @h) = ("/pipe/$i", 'traceparent: 00-' . uc($id)
			. "-$span-01");

	} elsif ($kind == 3) {
		($path, @h) = ("/b3/pipe/$i", "b3: $id-$span-1");

	} elsif ($kind == 4) {
		($path, @h) = ("/b3multi/pipe/$i", "X-B3-TraceId: $id",
			"X-B3-SpanId: $span", 'X-B3-Sampled: 1');

	} else {
		($path) = ("/pipe/$i");
	}

	my $parent = $kind == 2 || $kind == 5 ? undef : [ $id, $span ];

	push @pipe, { path => $path, kind => $kind, parent => $parent,
		tracestate => $kind == 1 ? "p=$i" : '' };

	$req .= "GET $path HTTP/1.1" . CRLF . 'Host: localhost' . CRLF
		. join('', map { $_ . CRLF } @h)
		. ($i == 60 ? 'Connection: close' . CRLF : '') . CRLF;
}

my @replies = split_replies(http($req));

is(scalar(grep { status($_) == 200 } @replies), 60,
	'pipelined: all served');

my (@bad_up, @bad_span, %traces);

for my $i (0 .. $#pipe) {
	my $p = $pipe[$i];
	my $r = $replies[$i] // '';
	my $s = span_of($t, $p->{path});
	my %up = upstream($r);

	my ($utid, $usid) = $p->{kind} == 3
		? ($up{b3} // '') =~ /^(\w{32})-(\w{16})-1$/
		: $p->{kind} == 4 ? ($up{'x-b3-traceid'}, $up{'x-b3-spanid'})
		: ($up{traceparent} // '') =~ /^00-(\w{32})-(\w{16})-0[13]$/;

	$traces{$s->{traceId}}++;

	push @bad_up, $p->{path}
		unless $r =~ /^GET \Q$p->{path}\E HTTP/m
		&& defined $utid && $utid eq $s->{traceId}
		&& $usid eq $s->{spanId}
		&& ($up{tracestate} // '') eq $p->{tracestate};

	push @bad_span, $p->{path}
		unless $p->{parent}
		? $s->{traceId} eq $p->{parent}[0]
			&& $s->{parentSpanId} eq $p->{parent}[1]
			&& $s->{traceState} eq $p->{tracestate}
		: $s->{parentSpanId} eq '' && $s->{traceId} =~ /[1-9a-f]/;
}

is("@bad_up", '', 'pipelined: each upstream request has its own context');
is("@bad_span", '', 'pipelined: each span has its own context');
is(scalar keys %traces, 60, 'pipelined: 60 traces');

###############################################################################

# a request with a W3C context: served, or not; the upstream gets our
# context, the span is the child of $ptid-$psid (a new root if undef), and
# $ts is the tracestate in both ('' for none)

sub w3c {
	my ($name, $path, $port, $headers, $ptid, $psid, $ts) = @_;

	my $r = get_with_port($port, $path, @$headers);
	my $s = span_of($t, $path);
	my %up = upstream($r);
	my @up = upstream_lines($r);

	is(status($r), 200, "$name: served");

	# a new trace id is random: W3C level 2 flags it so

	is(join("\n", grep { /^trace(parent|state):/i } @up),
		"traceparent: 00-$s->{traceId}-$s->{spanId}-"
		. (defined $ptid ? '01' : '03')
		. (length $ts ? "\ntracestate: $ts" : ''),
		"$name: upstream context");

	if (defined $ptid) {
		is("$s->{traceId} $s->{parentSpanId} $s->{traceState}",
			"$ptid $psid $ts", "$name: span context");

	} else {
		ok($s->{traceId} =~ /[1-9a-f]/ && $s->{parentSpanId} eq ''
			&& $s->{traceState} eq '', "$name: span is a new root");
	}

	return $r;
}

# a request with a B3 context, to /b3/ (single header) or /b3multi/:
# $parent is [ trace, span ], undef for a new root, 'any' for either

sub b3 {
	my ($name, $path, $headers, $parent) = @_;

	my $r = get_with($path, @$headers);
	my $s = span_of($t, $path);
	my @up = grep { /^(b3|x-b3-)/i } upstream_lines($r);

	is(status($r), 200, "$name: served");

	my $sent = join("\n", @up);
	my $ids = "$s->{traceId}-$s->{spanId}";

	my $ok = $path =~ m!^/b3/!
		? $sent =~ /^b3: $ids-[01d]\z/
		: $sent =~ /^X-B3-TraceId:\ $s->{traceId}\n
			X-B3-SpanId:\ $s->{spanId}\n
			X-B3-(Sampled:\ [01]|Flags:\ 1)\z/xi;

	ok($ok, "$name: upstream context") or diag($sent);

	if (!defined $parent) {
		ok($s->{parentSpanId} eq '' && $s->{traceId} ne $btid,
			"$name: span is a new root");

	} elsif (ref $parent) {
		is("$s->{traceId} $s->{parentSpanId}", "$parent->[0] $parent->[1]",
			"$name: span context");

	} else {
		ok($s->{parentSpanId} eq ''
			|| "$s->{traceId} $s->{parentSpanId}" eq "$btid $bsid",
			"$name: span context");
	}
}

sub get_with_port {
	my ($port, $uri, @headers) = @_;

	return http("GET $uri HTTP/1.0" . CRLF . 'Host: localhost' . CRLF
		. join('', map { $_ . CRLF } @headers) . CRLF,
		socket => '127.0.0.1:' . port($port));
}

sub status {
	my ($r) = @_;
	return (($r // '') =~ /^HTTP\/1\.1 (\d{3}) /)[0] // 0;
}

# the header lines the backend got, and by name (the last one)

sub upstream_lines {
	my ($r) = @_;

	my ($body) = ($r // '') =~ /\r\n\r\n(.*)\z/s;
	return grep { length } split /\r\n/, $body // '';
}

sub upstream {
	my ($r) = @_;
	return map { /^([^:]+):\s*(.*)$/ ? (lc $1, $2) : () } upstream_lines($r);
}

# consecutive replies with Content-Length

sub split_replies {
	my ($all) = @_;

	my @r;

	while (defined $all && $all =~ /\r\n\r\n/) {
		my $end = index($all, "\r\n\r\n") + 4;
		my ($len) = substr($all, 0, $end) =~ /^Content-Length: (\d+)/mi;
		push @r, substr($all, 0, $end + ($len // 0), '');
	}

	return @r;
}

# the W3C rule for tracestate over 512 characters: members over 128
# characters go first, from the right, then others, from the right

sub truncated {
	my (@m) = @_;

	my $len = sub {
		my $l = -1;
		$l += length($_) + 1 for grep { defined } @m;
		return $l;
	};

	for (my $i = $#m; $i >= 0 && $len->() > 512; $i--) {
		undef $m[$i] if length $m[$i] > 128;
	}

	for (my $i = $#m; $i >= 0 && $len->() > 512; $i--) {
		undef $m[$i];
	}

	return join ',', grep { defined } @m;
}

###############################################################################
