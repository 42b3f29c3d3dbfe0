package Test::OTLP;

# Test::OTLP: an OTLP receiver for the tests, and an independent decoder.
#
# collector() is a Perl HTTP/1.1 server to run with $t->run_daemon(): it
# reads every request (Content-Length or chunked), saves it, and answers as
# the test tells it.  Put behind an nginx "http2" server (proxy_pass) it is
# a gRPC receiver as well: the reply's X-Grpc-Status header becomes the
# grpc-status trailer with "add_trailer grpc-status
# $upstream_http_x_grpc_status always;".
#
# Requests are saved in DIR/otlp/ as NNNNN-STATUS.body (the raw body) and
# NNNNN-STATUS.head (request line and headers), STATUS being the answer
# ("hang" or "close" when there was none, "200g14" for a gRPC error).  The answers come from DIR/collector.plan,
# one line per request, consumed in order (then "200"):
#
#     503 retry-after=1        HTTP status and a Retry-After header
#                              ("_" in a value stands for a space)
#     200 grpc=14 msg=down     X-Grpc-Status / X-Grpc-Message
#     200 rejected=2 msg=bad   a partial success in the answer's body
#     hang                     read the request, never answer
#     close                    read the request, close the connection
#     cut                      close in the middle of the answer's body
#                              (saved as "cutbody")
#     cut=head                 close in the middle of the answer's headers
#                              (saved as "cuthead")
#     delay=1.5                answer after 1.5 s (other connections are
#                              served meanwhile)
#
# and while DIR/collector.hang exists every request hangs; while
# DIR/collector.mode exists, its first line is the answer to every request
# instead of the plan's ("delay=1", "cut", "503 retry-after=1"...).  A
# delayed request whose connection is closed before its answer is renamed
# NNNNN-gone.
#
# The decoder is protoc (Debian's protobuf-compiler) with our .proto
# files: no code of the module is involved.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ collector requests wait_requests request_spans
	decode_body otlp_spans wait_otlp_spans protoc_decode grpc_response
	ok_status otel_status wait_otel_status /;

use File::Basename qw/ dirname /;
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use IO::Uncompress::Gunzip qw/ gunzip $GunzipError /;
use JSON::PP;
use Test::Nginx qw//;
use Time::HiRes qw/ sleep time /;

my $proto_dir = File::Spec->rel2abs(
	dirname(__FILE__) . '/../../../ngx_otel_module/proto');

###############################################################################

# the daemon

sub collector {
	my ($port, $dir) = @_;

	mkdir "$dir/otlp";

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 128,
		ReuseAddr => 1
	) or die "collector: listen on $port: $!\n";

	local $SIG{PIPE} = 'IGNORE';

	my $sel = IO::Select->new($server);
	my (%buf, %hung, %later);
	my $n = 0;

	# the requests of one connection, one after another: none while its
	# answer is delayed

	my $serve = sub {
		my ($fh) = @_;

		while (!$hung{$fh} && !$later{$fh}
			&& defined(my $req = _read_request(\$buf{$fh}, $fh)))
		{
			my $answer = _answer($dir);
			my $status = $answer->{hang} ? 'hang'
				: $answer->{close} ? 'close'
				: defined $answer->{cut} ? "cut$answer->{cut}"
				: $answer->{status};

			# a gRPC error answered with HTTP 200: "200g14"

			$status .= "g$answer->{grpc}"
				if $answer->{grpc} && _grpc($req);

			my $name = sprintf('%05d-%s', ++$n, $status);
			_save($dir, $name, $req);

			if ($answer->{hang}) {
				$hung{$fh} = 1;
				last;
			}

			if ($answer->{close}) {
				$sel->remove($fh);
				delete $buf{$fh};
				close $fh;
				last;
			}

			my $reply = _reply($answer, $req);

			if (defined $answer->{cut}) {
				# an answer with a body to cut: one byte of 64 sent

				$reply =~ s/^(Content-Length:) \d+\r\n/$1 64\r\n/m
					if $answer->{cut} eq 'body';

				my $head = index($reply, "\r\n\r\n") + 4;
				my $len = $answer->{cut} eq 'head' ? int($head / 2)
					: $head + 1;

				syswrite($fh, substr($reply . 'x' x 64, 0, $len));

				$sel->remove($fh);
				delete $buf{$fh};
				close $fh;
				last;
			}

			if ($answer->{delay}) {
				$later{$fh} = { at => time() + $answer->{delay},
					reply => $reply, name => $name };
				last;
			}

			syswrite($fh, $reply);
		}
	};

	for ( ;; ) {
		my $wait = 0.5;

		for (values %later) {
			my $left = $_->{at} - time();
			$wait = $left < 0 ? 0 : $left if $left < $wait;
		}

		for my $fh ($sel->can_read($wait)) {
			if ($fh == $server) {
				my $c = $server->accept() or next;
				$sel->add($c);
				$buf{$c} = '';
				next;
			}

			my $r = sysread($fh, my $data, 65536);

			if (!$r) {
				_gone($dir, delete $later{$fh}) if $later{$fh};

				$sel->remove($fh);
				delete $buf{$fh};
				delete $hung{$fh};
				close $fh;
				next;
			}

			next if $hung{$fh};

			$buf{$fh} .= $data;

			$serve->($fh);
		}

		for my $fh ($sel->handles()) {
			next unless $later{$fh} && $later{$fh}{at} <= time();

			syswrite($fh, delete($later{$fh})->{reply});
			$serve->($fh);
		}
	}
}

# a delayed request not answered: the peer went away first

sub _gone {
	my ($dir, $later) = @_;

	(my $gone = $later->{name}) =~ s/-\w+$/-gone/;

	rename "$dir/otlp/$later->{name}.$_", "$dir/otlp/$gone.$_"
		for qw/ head body /;
}

# one request from the buffer, or undef if it is not all there yet

sub _read_request {
	my ($buf, $fh) = @_;

	my $end = index($$buf, "\r\n\r\n");
	return undef if $end < 0;

	my $head = substr($$buf, 0, $end + 2);
	my $rest = substr($$buf, $end + 4);

	my ($line, @lines) = split /\r\n/, $head;
	my %h;

	for (@lines) {
		my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
		$h{lc $k} = defined $h{lc $k} ? "$h{lc $k}, $v" : $v;
	}

	if (($h{expect} // '') =~ /100-continue/i && !${*$fh}{otlp_continued}) {
		syswrite($fh, "HTTP/1.1 100 Continue\r\n\r\n");
		${*$fh}{otlp_continued} = 1;
	}

	my $body;

	if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
		$body = '';
		my $p = 0;

		for ( ;; ) {
			my $e = index($rest, "\r\n", $p);
			return undef if $e < 0;

			my $size = hex(substr($rest, $p, $e - $p));
			$p = $e + 2;

			if ($size == 0) {
				my $t = index($rest, "\r\n\r\n", $p - 2);
				return undef if $t < 0;
				$rest = substr($rest, $t + 4);
				last;
			}

			return undef if length($rest) < $p + $size + 2;

			$body .= substr($rest, $p, $size);
			$p += $size + 2;
		}

	} else {
		my $len = $h{'content-length'} // 0;
		return undef if length($rest) < $len;

		$body = substr($rest, 0, $len);
		$rest = substr($rest, $len);
	}

	$$buf = $rest;
	${*$fh}{otlp_continued} = 0;

	return { line => $line, head => $head, headers => \%h, body => $body };
}

sub _answer {
	my ($dir) = @_;

	return { hang => 1 } if -e "$dir/collector.hang";

	my $plan = "$dir/collector.plan";
	my $spec = '200';

	if (open my $fh, '<', "$dir/collector.mode") {
		$spec = <$fh> // '200';
		chomp $spec;
		close $fh;

	} elsif (open $fh, '<', $plan) {
		my @lines = <$fh>;
		close $fh;

		if (@lines) {
			$spec = shift @lines;
			chomp $spec;

			open $fh, '>', "$plan.tmp" or die "$plan.tmp: $!\n";
			print $fh @lines;
			close $fh;
			rename "$plan.tmp", $plan;
		}
	}

	my %a = (status => 200);

	for (split ' ', $spec) {
		if (/^(\d+)$/) { $a{status} = $1; }
		elsif (/^(\w[\w-]*)=(.*)$/) { ($a{$1} = $2) =~ tr/_/ /; }
		elsif (/^(hang|close)$/) { $a{$1} = 1; }
		elsif (/^cut$/) { $a{cut} = 'body'; }
	}

	return \%a;
}

sub _save {
	my ($dir, $name, $req) = @_;

	for (['head', $req->{head}], ['body', $req->{body}]) {
		my $f = "$dir/otlp/$name.$_->[0]";

		open my $fh, '>', "$f.tmp" or die "$f.tmp: $!\n";
		binmode $fh;
		print $fh $_->[1];
		close $fh;

		rename "$f.tmp", $f;
	}
}

sub _grpc {
	my ($req) = @_;
	return ($req->{headers}{'content-type'} // '') =~ /grpc/;
}

sub _reply {
	my ($a, $req) = @_;

	my $ct = $req->{headers}{'content-type'} // '';
	my $json = $ct =~ /json/;
	my $grpc = _grpc($req);
	my $body = '';

	if ($a->{status} =~ /^2/) {
		if ($json) {
			$body = defined $a->{rejected}
				? '{"partialSuccess":{"rejectedSpans":"' . $a->{rejected}
					. '","errorMessage":"' . ($a->{msg} // '') . '"}}'
				: '{}';

		} else {
			$body = defined $a->{rejected}
				? _partial($a->{rejected}, $a->{msg} // '') : '';
			$body = pack('CN', 0, length $body) . $body if $grpc;
		}
	}

	my $type = $json ? 'application/json'
		: $grpc ? 'application/grpc' : 'application/x-protobuf';

	my $r = "HTTP/1.1 $a->{status} X\r\n"
		. "Content-Type: $type\r\n";

	# a gRPC answer has no length (curl stops reading at the length,
	# before the trailers): chunked here, so that nginx sends none either

	if ($grpc) {
		$r .= "Transfer-Encoding: chunked\r\n";
		$body = sprintf("%x\r\n%s\r\n", length $body, $body)
			. "0\r\n\r\n";
		$body =~ s/^0\r\n\r\n0\r\n\r\n$/0\r\n\r\n/;

	} else {
		$r .= "Content-Length: " . length($body) . "\r\n";
	}

	$r .= "Retry-After: $a->{'retry-after'}\r\n"
		if defined $a->{'retry-after'};

	if ($grpc) {
		$r .= "X-Grpc-Status: " . ($a->{grpc} // 0) . "\r\n";
		$r .= "X-Grpc-Message: $a->{msg}\r\n"
			if defined $a->{msg} && !defined $a->{rejected};
	}

	return "$r\r\n$body";
}

# ExportTraceServiceResponse { partial_success { rejected_spans, message } }

sub _partial {
	my ($rejected, $msg) = @_;

	my $ps = pack('C', 0x08) . _varint($rejected)
		. pack('C', 0x12) . _varint(length $msg) . $msg;

	return pack('C', 0x0a) . _varint(length $ps) . $ps;
}

sub _varint {
	my ($n) = @_;
	my $s = '';

	while ($n >= 0x80) {
		$s .= chr(($n & 0x7f) | 0x80);
		$n >>= 7;
	}

	return $s . chr($n);
}

sub grpc_response {
	my ($rejected, $msg) = @_;
	my $m = _partial($rejected, $msg);
	return pack('CN', 0, length $m) . $m;
}

###############################################################################

# what the collector received: [ { name, status, head, headers, body } ]

sub requests {
	my ($t) = @_;

	my $dir = $t->testdir() . '/otlp';
	my @reqs;

	opendir(my $dh, $dir) or return ();
	my @names = sort grep { /^\d+-\w+\.body$/ } readdir($dh);
	closedir $dh;

	for my $f (@names) {
		my ($name, $status) = $f =~ /^((\d+)-(\w+))\.body$/
			? ($1, $3) : next;

		my $head = _slurp("$dir/$name.head") // next;
		my $body = _slurp("$dir/$f") // next;

		my ($line, @lines) = split /\r\n/, $head;
		my %h;

		for (@lines) {
			my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
			$h{lc $k} = $v;
		}

		push @reqs, { name => $name, status => $status, line => $line,
			headers => \%h, body => $body, file => "$dir/$f" };
	}

	return @reqs;
}

# polls until $cond->(@requests) is true or $timeout seconds passed

sub wait_requests {
	my ($t, $cond, $timeout) = @_;

	my $end = time() + ($timeout // 5);
	my @reqs;

	for ( ;; ) {
		@reqs = requests($t);
		return @reqs if $cond->(@reqs) || time() >= $end;
		sleep 0.05;
	}
}

sub _slurp {
	my ($f) = @_;

	open my $fh, '<', $f or return undef;
	binmode $fh;
	local $/;
	my $s = <$fh>;
	close $fh;

	return $s;
}

###############################################################################

# the spans of one received request, whatever its transport:
# grpc framing and gzip are undone, protobuf goes through protoc

my %decoded;

sub request_spans {
	my ($req) = @_;

	# a saved request never changes: decoded once

	my $key = $req->{file} ? "$req->{file}:" . length($req->{body}) : undef;

	if (defined $key) {
		$decoded{$key} //= [ _request_spans($req) ];
		return @{ $decoded{$key} };
	}

	return _request_spans($req);
}

sub _request_spans {
	my ($req) = @_;

	my $body = $req->{body};
	my $ct = $req->{headers}{'content-type'} // '';
	my $grpc = $ct =~ /grpc/;

	if ($grpc) {
		my ($flag, $len) = unpack('CN', $body);
		$body = substr($body, 5, $len);
		$body = _gunzip($body) if $flag;

	} elsif (($req->{headers}{'content-encoding'} // '') =~ /gzip/) {
		$body = _gunzip($body);
	}

	return decode_body($body, $ct =~ /json/ ? 'json' : 'protobuf');
}

sub _gunzip {
	my ($in) = @_;
	my $out;
	gunzip(\$in => \$out) or die "gunzip: $GunzipError\n";
	return $out;
}

sub decode_body {
	my ($body, $type) = @_;

	return _json_spans(decode_json($body)) if $type eq 'json';
	return _pb_spans(protoc_decode($body));
}

# every span of every request answered 2xx (and grpc-status 0)

sub otlp_spans {
	my ($t) = @_;

	return map { request_spans($_) } grep { ok_status($_) } requests($t);
}

sub ok_status {
	my ($req) = @_;
	return $req->{status} =~ /^2\d\d$/;
}

sub wait_otlp_spans {
	my ($t, $n, $timeout) = @_;

	my @reqs = wait_requests($t, sub {
		my $count = 0;
		$count += scalar request_spans($_) for grep { ok_status($_) } @_;
		return $count >= $n;
	}, $timeout);

	return map { request_spans($_) } grep { ok_status($_) } @reqs;
}

###############################################################################

# the counters of "otel_status" at $uri (default /status)

sub otel_status {
	my ($uri) = @_;

	my $r = Test::Nginx::http_get($uri // '/status') // '';
	$r =~ s/^.*?\r\n\r\n//s;

	return eval { decode_json($r) } // {};
}

# polls until $cond->($status) is true or $timeout seconds passed: the
# collector has a body before nginx has its answer

sub wait_otel_status {
	my ($cond, $timeout, $uri) = @_;

	my $end = time() + ($timeout // 5);
	my $st;

	for ( ;; ) {
		$st = otel_status($uri);
		return $st if (%$st && $cond->($st)) || time() >= $end;
		sleep 0.05;
	}
}

###############################################################################

# protoc --decode: the text format, as a tree of { field => [ values ] }

sub protoc_decode {
	my ($bytes) = @_;

	my $in = File::Spec->catfile(File::Spec->tmpdir(), "otlp.$$.bin");

	open my $fh, '>', $in or die "$in: $!\n";
	binmode $fh;
	print $fh $bytes;
	close $fh;

	my $type = 'opentelemetry.proto.collector.trace.v1.'
		. 'ExportTraceServiceRequest';

	my $text = `protoc --decode $type -I $proto_dir trace_service.proto < $in 2>&1`;
	my $rc = $?;
	unlink $in;

	die "protoc failed: $text\n" if $rc;

	my @stack = ({});

	for my $line (split /\n/, $text) {
		if ($line =~ /^\s*(\w+)\s*\{\s*$/) {
			my $node = {};
			push @{ $stack[-1]{$1} }, $node;
			push @stack, $node;

		} elsif ($line =~ /^\s*\}\s*$/) {
			pop @stack;

		} elsif ($line =~ /^\s*(\w+):\s*(.*?)\s*$/) {
			my ($k, $v) = ($1, $2);
			$v = _unescape($1) if $v =~ /^"(.*)"$/;
			push @{ $stack[-1]{$k} }, $v;
		}
	}

	return $stack[0];
}

sub _unescape {
	my ($s) = @_;

	$s =~ s{\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))}{
		defined $1 ? chr(oct $1) : defined $2 ? chr(hex $2)
		: $3 eq 'n' ? "\n" : $3 eq 'r' ? "\r" : $3 eq 't' ? "\t" : $3
	}ge;

	return $s;
}

my %kinds = (SPAN_KIND_UNSPECIFIED => 0, SPAN_KIND_INTERNAL => 1,
	SPAN_KIND_SERVER => 2, SPAN_KIND_CLIENT => 3, SPAN_KIND_PRODUCER => 4,
	SPAN_KIND_CONSUMER => 5);
my %codes = (STATUS_CODE_UNSET => 0, STATUS_CODE_OK => 1,
	STATUS_CODE_ERROR => 2);

sub _one { my ($n, $k) = @_; return $n->{$k} ? $n->{$k}[0] : undef; }
sub _utf8 { my ($s) = @_; utf8::decode($s); return $s; }

sub _pb_attrs {
	my ($list) = @_;
	my %a;

	for my $kv (@{ $list || [] }) {
		my $v = _one($kv, 'value') || {};
		# proto3: no key is the empty key
		$a{_utf8(_one($kv, 'key') // '')} = defined _one($v, 'int_value')
			? _one($v, 'int_value') + 0 : _utf8(_one($v, 'string_value'));
	}

	return \%a;
}

sub _pb_spans {
	my ($req) = @_;
	my @spans;

	for my $rs (@{ $req->{resource_spans} || [] }) {
		my $res = _pb_attrs((_one($rs, 'resource') || {})->{attributes});

		for my $ss (@{ $rs->{scope_spans} || [] }) {
			my $scope = _one($ss, 'scope') || {};

			for my $s (@{ $ss->{spans} || [] }) {
				my $status = _one($s, 'status') || {};
				my $kind = _one($s, 'kind') // 0;
				my $code = _one($status, 'code') // 0;

				push @spans, {
					traceId => unpack('H*', _one($s, 'trace_id')),
					spanId => unpack('H*', _one($s, 'span_id')),
					parentSpanId => unpack('H*',
						_one($s, 'parent_span_id') // ''),
					traceState => _utf8(_one($s, 'trace_state') // ''),
					name => _utf8(_one($s, 'name') // ''),
					kind => $kinds{$kind} // $kind,
					flags => (_one($s, 'flags') // 0) + 0,
					start => _one($s, 'start_time_unix_nano'),
					end => _one($s, 'end_time_unix_nano'),
					status => $codes{$code} // $code,
					attrs => _pb_attrs($s->{attributes}),
					resource => $res,
					scope => { name => _one($scope, 'name'),
						version => _one($scope, 'version') },
				};
			}
		}
	}

	return @spans;
}

sub _json_attrs {
	my ($list) = @_;
	my %a;

	for my $kv (@{ $list || [] }) {
		my $v = $kv->{value};
		$a{$kv->{key}} = exists $v->{intValue} ? $v->{intValue} + 0
			: $v->{stringValue};
	}

	return \%a;
}

sub _json_spans {
	my ($req) = @_;
	my @spans;

	for my $rs (@{ $req->{resourceSpans} || [] }) {
		my $res = _json_attrs($rs->{resource}{attributes});

		for my $ss (@{ $rs->{scopeSpans} || [] }) {
			for my $s (@{ $ss->{spans} || [] }) {
				push @spans, {
					traceId => $s->{traceId},
					spanId => $s->{spanId},
					parentSpanId => $s->{parentSpanId} // '',
					traceState => $s->{traceState} // '',
					name => $s->{name} // '',
					kind => $s->{kind} // 0,
					flags => $s->{flags} // 0,
					start => $s->{startTimeUnixNano},
					end => $s->{endTimeUnixNano},
					status => ($s->{status} && $s->{status}{code}) || 0,
					attrs => _json_attrs($s->{attributes}),
					resource => $res,
					scope => { name => $ss->{scope}{name},
						version => $ss->{scope}{version} },
				};
			}
		}
	}

	return @spans;
}

###############################################################################

1;
