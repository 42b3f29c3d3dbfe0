#!/usr/bin/perl

# Tests for hostile propagation over HTTP/2: 100 concurrent streams on one
# connection, each with its own context; more streams than
# http2_max_concurrent_streams; NUL, CR, non-ASCII bytes and uppercase
# names in the fields; a large tracestate, 100 kB of it in CONTINUATION
# frames, 1000 tracestate fields.  Each stream is served with a context
# that follows the W3C and B3 rules (span and upstream), or is refused or
# rejected by nginx itself; nothing crashes.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;
use Test::H2;

use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy http_v2/)
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

    server {
        listen       127.0.0.1:8080 http2;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /b3/ {
            otel_propagators b3;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8082 http2;
        server_name  localhost;

        http2_max_concurrent_streams 8;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }
    }

@{[ echo_server_conf() ]}
}

EOF

$t->run()->plan(22);

###############################################################################

my $tid = '0af7651916cd43dd8448eb211c80319c';
my $sid = 'b7ad6b7169203331';

my $peer = '127.0.0.1:' . port(8080);

# 100 concurrent streams, the HEADERS frames in one write

my $c = h2_connect($peer) or die "no connection";
my (@streams, @sids);

for my $i (1 .. 100) {
	my $kind = $i % 5;
	my $id = sprintf('abcdef%026x', $i);
	my $span = sprintf('%016x', 0x2000 + $i);
	my $sid = 2 * $i - 1;
	my ($path, @h);

	if ($kind == 0) {
		($path, @h) = ("/s/$i", traceparent => "00-$id-$span-01");

	} elsif ($kind == 1) {
		($path, @h) = ("/s/$i", traceparent => "00-$id-$span-01",
			tracestate => "s=$i");

	} elsif ($kind == 2) {
		($path, @h) = ("/s/$i",
			traceparent => '00-' . uc($id) . "-$span-01",
			tracestate => "s=$i");

	} elsif ($kind == 3) {
		($path, @h) = ("/b3/s/$i", b3 => "$id-$span-1");

	} else {
		($path) = ("/s/$i");
	}

	push @streams, { sid => $sid, path => $path, kind => $kind,
		parent => $kind == 2 || $kind == 4 ? undef : [ $id, $span ],
		tracestate => $kind == 1 ? "s=$i" : '' };
	push @sids, $sid;

	h2_send($c, $sid, [ ':path' => $path, @h ]);
}

my $res = h2_read($c, \@sids, 15);

is(scalar(grep { $res->{$_}{status} == 200 } @sids), 100,
	'100 streams: all served');

my (@bad_up, @bad_span, %spans);

for my $st (@streams) {
	my $s = span_of($t, $st->{path});
	my %up = echoed($res->{ $st->{sid} }{body});

	$spans{$s->{spanId}}++;

	my ($utid, $usid) = $st->{kind} == 3
		? $up{b3} =~ /^(\w{32})-(\w{16})-1$/
		: $up{traceparent} =~ /^00-(\w{32})-(\w{16})-0[13]$/;

	push @bad_up, $st->{path}
		unless defined $utid && $utid eq $s->{traceId}
		&& $usid eq $s->{spanId}
		&& $up{tracestate} eq $st->{tracestate};

	push @bad_span, $st->{path}
		unless $st->{parent}
		? "$s->{traceId} $s->{parentSpanId} $s->{traceState}"
			eq "$st->{parent}[0] $st->{parent}[1] $st->{tracestate}"
		: $s->{parentSpanId} eq '' && $s->{traceId} =~ /[1-9a-f]/
			&& $s->{traceState} eq '';
}

is("@bad_up", '', '100 streams: each upstream request has its own context');
is("@bad_span", '', '100 streams: each span has its own context');
is(scalar keys %spans, 100, '100 streams: 100 spans');

# more streams than http2_max_concurrent_streams: refused, not traced

$c = h2_connect('127.0.0.1:' . port(8082)) or die "no connection";
@sids = map { 2 * $_ - 1 } 1 .. 100;

h2_send($c, $_, [ ':path' => "/refuse/$_",
	traceparent => "00-$tid-$sid-01" ]) for @sids;

$res = h2_read($c, \@sids, 15);

my @served = grep { $res->{$_}{status} == 200 } @sids;
my @refused = grep { ($res->{$_}{rst} // -1) == 7 } @sids;

is(@served + @refused, 100, 'over the stream limit: served ('
	. scalar(@served) . ') or refused (' . scalar(@refused) . ')');
ok(@served >= 8, 'over the stream limit: the limit served');

my @got = wait_spans($t, 100 + @served);
sleep 0.3;
@got = grep { $_->{attrs}{'url.path'} =~ m!^/refuse/! } spans($t);

is(scalar @got, scalar @served, 'over the stream limit: a span per served');
is(scalar(grep { $_->{traceId} eq $tid && $_->{parentSpanId} eq $sid }
	@got), scalar @served, 'over the stream limit: spans are children');

# hostile fields

my %cases = (
	nul => [ traceparent => "00-$tid-$sid\0-01" ],
	cr => [ tracestate => "a=1\r\nx-injected: 1" ],
	upper => [ Traceparent => "00-$tid-$sid-01" ],
);

$c = h2_connect($peer) or die "no connection";

my $n = 1;
my %sid;

for my $name (sort keys %cases) {
	$sid{$name} = $n;
	h2_send($c, $n, [ ':path' => "/bad/$name", @{ $cases{$name} } ]);
	$n += 2;
}

$res = h2_read($c, [ values %sid ], 10);

for my $name (sort keys %cases) {
	my $st = $res->{ $sid{$name} };

	ok($st->{status} == 400 || defined $st->{rst}, "$name: rejected by nginx ("
		. ($st->{status} || "RST_STREAM $st->{rst}") . ')');
}

# non-ASCII: served, a new trace

(my $tid_e9 = $tid) =~ s/^(.{10})./$1\xe9/;

my $r = stream('/8bit-1', traceparent => "00-$tid_e9-$sid-01",
	tracestate => 'a=1');
my $s = span_of($t, '/8bit-1');
my %up = echoed($r->{body});

is($r->{status}, 200, 'non-ASCII traceparent: served');
is("$up{traceparent} $up{tracestate}",
	"00-$s->{traceId}-$s->{spanId}-03 ",
	'non-ASCII traceparent: a new context upstream');
ok($s->{traceId} ne $tid && $s->{parentSpanId} eq '',
	'non-ASCII traceparent: a new trace');

$r = stream('/8bit-2', traceparent => "00-$tid-$sid-01",
	tracestate => "a=1,b=\xc3\xa9");
$s = span_of($t, '/8bit-2');
%up = echoed($r->{body});

is("$up{traceparent} $up{tracestate}", "00-$tid-$s->{spanId}-01 ",
	'non-ASCII tracestate: dropped');

# 3 kB of tracestate: whole members dropped, from the right

my @m = map { sprintf('k%02d=', $_) . ('v' x 250) } 0 .. 11;

$r = stream('/ts3k', traceparent => "00-$tid-$sid-01",
	tracestate => join(',', @m));
$s = span_of($t, '/ts3k');
%up = echoed($r->{body});

is($r->{status}, 200, '3 kB tracestate: served');
is($up{tracestate}, "$m[0],$m[1]", '3 kB tracestate: whole members kept');
is($s->{traceState}, "$m[0],$m[1]", '3 kB tracestate: in the span');

# 100 kB of tracestate, in CONTINUATION frames: more than nginx takes

my $big = join ',', map { sprintf('k%03d=', $_) . ('v' x 250) } 0 .. 399;

$c = h2_connect($peer) or die "no connection";
h2_send($c, 1, [ ':path' => '/ts100k', traceparent => "00-$tid-$sid-01",
	tracestate => $big ]);
$res = h2_read($c, [ 1 ], 10);
$r = $res->{1};

ok($r->{status} =~ /^4/ || defined $r->{rst} || defined $c->{goaway}
	|| $r->{status} == 200 && !echoed($r->{body})->{tracestate},
	'100 kB tracestate: rejected by nginx, or dropped ('
	. ($r->{status} || (defined $r->{rst} ? "RST_STREAM $r->{rst}"
	: 'GOAWAY ' . ($c->{goaway} // '-'))) . ')');

# 1000 tracestate fields

$c = h2_connect($peer) or die "no connection";
h2_send($c, 1, [ ':path' => '/ts1000', traceparent => "00-$tid-$sid-01",
	map { (tracestate => "m$_=1") } 0 .. 999 ]);
$res = h2_read($c, [ 1 ], 10);
$r = $res->{1};
%up = echoed($r->{body});

ok($r->{status} =~ /^4/ || defined $r->{rst} || defined $c->{goaway}
	|| $r->{status} == 200 && $up{tracestate} eq ''
		&& $up{traceparent} =~ /^00-$tid-/,
	'1000 tracestate fields: rejected by nginx, or dropped ('
	. ($r->{status} || (defined $r->{rst} ? "RST_STREAM $r->{rst}"
	: 'GOAWAY ' . ($c->{goaway} // '-'))) . ')');

# and nginx serves on

$r = stream('/after', traceparent => "00-$tid-$sid-01");
%up = echoed($r->{body});

is($r->{status}, 200, 'served after all that');
like($up{traceparent}, qr/^00-$tid-\w{16}-01$/, 'context after all that');

###############################################################################

# one stream on a new connection

sub stream {
	my ($path, @h) = @_;

	my $c = h2_connect($peer) or return {};
	h2_send($c, 1, [ ':path' => $path, @h ]);

	return h2_read($c, [ 1 ], 10)->{1};
}

# the echo server's lines, "name: value" ("" for none)

sub echoed {
	my ($body) = @_;

	my %h = map { /^([\w-]+): ?(.*)$/ ? ($1, $2) : () }
		split /\n/, $body // '';

	return wantarray ? %h : \%h;
}

###############################################################################
