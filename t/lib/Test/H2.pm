package Test::H2;

# Test::H2: a minimal HTTP/2 client (cleartext, prior knowledge) for the
# tests: many streams on one connection, any header bytes.  curl 7.88 fails
# on a reused h2c connection, and nothing else is needed from it.
#
#     my $c = h2_connect('127.0.0.1:' . port(8080)) or ...;
#     h2_send($c, 1, [ ':path' => '/x', 'traceparent' => $tp ]);
#     h2_send($c, 3, ...);
#     my $res = h2_read($c, [ 1, 3 ], 10);
#     $res->{1}{status}, $res->{1}{body}, $res->{1}{rst} (an error code)
#     $c->{goaway} (the error code of a GOAWAY), $c->{closed}
#
# Header blocks are "literal without indexing" fields (RFC 7541 6.2.2),
# never Huffman coded; :method GET, :scheme http and :authority localhost
# come first unless given.  A block over 16384 bytes goes in CONTINUATION
# frames.  The client grants every DATA frame back at once.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ h2_connect h2_send h2_read /;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw/ time /;

use constant {
	DATA => 0x0, HEADERS => 0x1, RST_STREAM => 0x3, SETTINGS => 0x4,
	PING => 0x6, GOAWAY => 0x7, WINDOW_UPDATE => 0x8, CONTINUATION => 0x9,
};

my %static_status = (8 => 200, 9 => 204, 10 => 206, 11 => 304, 12 => 400,
	13 => 404, 14 => 500);

###############################################################################

sub h2_connect {
	my ($peer) = @_;

	my $s = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $peer)
		or return undef;

	my $c = { s => $s, in => '', streams => {} };

	_write($c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . _frame(SETTINGS, 0, 0, ''));

	return $c;
}

# sends one request on stream $sid, with END_STREAM

sub h2_send {
	my ($c, $sid, $headers) = @_;

	my %have = map { $headers->[$_ * 2] => 1 } 0 .. $#$headers / 2;
	my @h = ((map { $have{$_->[0]} ? () : @$_ } [ ':method', 'GET' ],
		[ ':scheme', 'http' ], [ ':authority', 'localhost' ]), @$headers);

	my $block = '';

	while (my ($name, $value) = splice(@h, 0, 2)) {
		$block .= "\x00" . _int(length $name, 7) . $name
			. _int(length $value, 7) . $value;
	}

	my @parts = unpack('(a16384)*', $block);
	@parts = ('') unless @parts;

	my $out = '';

	for my $i (0 .. $#parts) {
		my $last = $i == $#parts ? 0x4 : 0;

		$out .= $i == 0
			? _frame(HEADERS, 0x1 | $last, $sid, $parts[$i])
			: _frame(CONTINUATION, $last, $sid, $parts[$i]);
	}

	$c->{streams}{$sid} //= { status => 0, body => '', done => 0 };

	_write($c, $out);
}

# reads until every stream of @$sids is done (answered or reset), the
# connection is gone, or $timeout seconds passed; returns the streams

sub h2_read {
	my ($c, $sids, $timeout) = @_;

	my $end = time() + ($timeout // 10);
	my $sel = IO::Select->new($c->{s});

	for ( ;; ) {
		while (my $f = _next_frame($c)) {
			_handle($c, $f);
		}

		last if !grep { !$c->{streams}{$_}{done} } @$sids;
		last if $c->{closed} || time() >= $end;

		next unless $sel->can_read($end - time());

		my $n = sysread($c->{s}, $c->{in}, 65536, length $c->{in});

		if (!$n) {
			$c->{closed} = 1;
		}
	}

	return $c->{streams};
}

###############################################################################

sub _handle {
	my ($c, $f) = @_;

	my $st = $f->{sid} ? ($c->{streams}{$f->{sid}} //=
		{ status => 0, body => '', done => 0 }) : undef;

	if ($f->{type} == SETTINGS) {
		_write($c, _frame(SETTINGS, 0x1, 0, '')) unless $f->{flags} & 0x1;

	} elsif ($f->{type} == PING) {
		_write($c, _frame(PING, 0x1, 0, $f->{payload}))
			unless $f->{flags} & 0x1;

	} elsif ($f->{type} == GOAWAY) {
		$c->{goaway} = unpack('x4N', $f->{payload});

	} elsif ($f->{type} == HEADERS && $st) {
		$st->{status} ||= _status($f->{payload}, $f->{flags});
		$st->{done} = 1 if $f->{flags} & 0x1;

	} elsif ($f->{type} == DATA && $st) {
		my $p = $f->{payload};

		if ($f->{flags} & 0x8) {
			my $pad = unpack('C', $p);
			$p = substr($p, 1, length($p) - 1 - $pad);
		}

		$st->{body} .= $p;
		$st->{done} = 1 if $f->{flags} & 0x1;

		my $len = length $f->{payload};

		_write($c, _frame(WINDOW_UPDATE, 0, 0, pack('N', $len))
			. _frame(WINDOW_UPDATE, 0, $f->{sid}, pack('N', $len)))
			if $len;

	} elsif ($f->{type} == RST_STREAM && $st) {
		$st->{rst} = unpack('N', $f->{payload});
		$st->{done} = 1;
	}
}

# :status is the first field nginx sends: indexed, or literal with an
# indexed name and 3 raw digits

sub _status {
	my ($block, $flags) = @_;

	$block = substr($block, 1) if $flags & 0x8;
	$block = substr($block, 5) if $flags & 0x20;

	my $b = unpack('C', $block) // 0;

	return $static_status{$b & 0x7f} // 0 if $b & 0x80;

	my ($len, $digits) = unpack('x C a3', $block);
	return $len == 3 ? $digits + 0 : 0;
}

sub _next_frame {
	my ($c) = @_;

	return undef if length $c->{in} < 9;

	my ($hi, $lo, $type, $flags, $sid) = unpack('C n C C N', $c->{in});
	my $len = $hi << 16 | $lo;

	return undef if length $c->{in} < 9 + $len;

	my $payload = substr($c->{in}, 9, $len);
	substr($c->{in}, 0, 9 + $len, '');

	return { type => $type, flags => $flags, sid => $sid & 0x7fffffff,
		payload => $payload };
}

sub _frame {
	my ($type, $flags, $sid, $payload) = @_;

	return substr(pack('N', length $payload), 1)
		. pack('C C N', $type, $flags, $sid) . $payload;
}

sub _int {
	my ($n, $prefix) = @_;

	my $max = (1 << $prefix) - 1;

	return pack('C', $n) if $n < $max;

	my $s = pack('C', $max);
	$n -= $max;

	while ($n >= 128) {
		$s .= pack('C', $n % 128 + 128);
		$n = int($n / 128);
	}

	return $s . pack('C', $n);
}

sub _write {
	my ($c, $data) = @_;

	local $SIG{PIPE} = 'IGNORE';

	while (length $data) {
		my $n = syswrite($c->{s}, $data);

		if (!$n) {
			$c->{closed} = 1;
			return;
		}

		substr($data, 0, $n, '');
	}
}

###############################################################################

1;

###############################################################################
