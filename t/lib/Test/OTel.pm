package Test::OTel;

# Test::OTel: reading what ngx_otel_module exported, for the tests.
#
# The "file:" exporter writes one OTLP/JSON ExportTraceServiceRequest per
# line; these helpers decode it with the core JSON::PP module (not with
# anything of the module) and flatten it into one hash per span.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ otel_globals spans wait_spans span_attrs resources
	span_of get_with header_daemon echo_server_conf ratio_sampled /;

use IO::Socket::INET;
use JSON::PP;
use Socket qw/ CRLF /;
use Time::HiRes qw/ sleep /;

use Test::Nginx qw//;

###############################################################################

# lines to put in http{}: a file exporter that flushes fast

sub otel_globals {
	my (%opts) = @_;

	my $file = $opts{file} || 'spans.json';
	my $extra = $opts{exporter} || '';

	return <<"EOF";
    otel_exporter {
        endpoint file:%%TESTDIR%%/$file;
        interval 50ms;
        batch_size 4;
        $extra
    }
EOF
}

# every span exported so far, as hashes:
#   traceId spanId parentSpanId traceState name kind flags start end
#   status (code or 0), attrs (key => value), resource (key => value),
#   events (a list of { time, name, attrs })

sub spans {
	my ($t, %opts) = @_;

	my $file = $t->testdir() . '/' . ($opts{file} || 'spans.json');
	my @spans;

	open my $fh, '<', $file or return ();

	while (my $line = <$fh>) {
		next unless $line =~ /\S/;

		my $req = decode_json($line);

		for my $rs (@{$req->{resourceSpans}}) {
			my $res = _attrs($rs->{resource}{attributes});

			for my $ss (@{$rs->{scopeSpans}}) {
				for my $s (@{$ss->{spans}}) {
					push @spans, _span($s, $res, $ss->{scope});
				}
			}
		}
	}

	close $fh;

	return @spans;
}

# polls until at least $n spans are there (or 5 s passed)

sub wait_spans {
	my ($t, $n, %opts) = @_;

	my @spans;

	for (1 .. 100) {
		@spans = spans($t, %opts);
		last if @spans >= $n;
		sleep 0.05;
	}

	return @spans;
}

sub resources {
	my ($t, %opts) = @_;

	return map { $_->{resource} } spans($t, %opts);
}

sub span_attrs {
	my ($span) = @_;
	return $span->{attrs};
}

sub _span {
	my ($s, $res, $scope) = @_;

	return {
		traceId => $s->{traceId},
		spanId => $s->{spanId},
		parentSpanId => $s->{parentSpanId} // '',
		traceState => $s->{traceState} // '',
		name => $s->{name},
		kind => $s->{kind},
		flags => $s->{flags} // 0,
		start => $s->{startTimeUnixNano},
		end => $s->{endTimeUnixNano},
		status => ($s->{status} && $s->{status}{code}) || 0,
		attrs => _attrs($s->{attributes}),
		events => [ map { {
			time => $_->{timeUnixNano},
			name => $_->{name},
			attrs => _attrs($_->{attributes}),
		} } @{$s->{events} || []} ],
		resource => $res,
		scope => $scope,
	};
}

sub _attrs {
	my ($list) = @_;

	my %a;

	for my $kv (@{$list || []}) {
		my $v = $kv->{value};
		$a{$kv->{key}} = exists $v->{intValue} ? $v->{intValue}
			: exists $v->{boolValue} ? $v->{boolValue}
			: exists $v->{doubleValue} ? $v->{doubleValue}
			: $v->{stringValue};
	}

	return \%a;
}

# the span of the request to $path, as soon as it is exported (an empty
# span after 5 s, so that a test fails on its values rather than dies)

sub span_of {
	my ($t, $path) = @_;

	for (1 .. 100) {
		my ($s) = grep { ($_->{attrs}{'url.path'} // '') eq $path }
			spans($t);
		return $s if $s;
		sleep 0.05;
	}

	return { traceId => '', spanId => '', parentSpanId => '',
		traceState => '', flags => 0, attrs => {} };
}

# a GET to the test's nginx with extra raw header lines

sub get_with {
	my ($uri, @headers) = @_;

	return Test::Nginx::http("GET $uri HTTP/1.0" . CRLF
		. 'Host: localhost' . CRLF
		. join('', map { $_ . CRLF } @headers) . CRLF);
}

# a backend that answers with the request header block exactly as it came,
# duplicates and order included (run with $t->run_daemon)

sub header_daemon {
	my ($port) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 5,
		Reuse => 1
	)
		or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';

	while (my $client = $server->accept()) {
		$client->autoflush(1);

		my $headers = '';

		while (<$client>) {
			$headers .= $_;
			last if /^\x0d?\x0a?$/;
		}

		next if $headers eq '';

		print $client 'HTTP/1.1 200 OK' . CRLF
			. 'Content-Type: text/plain' . CRLF
			. 'Content-Length: ' . length($headers) . CRLF
			. 'Connection: close' . CRLF . CRLF
			. $headers;

		close $client;
	}
}

# a server on 127.0.0.1:8081 that answers with the propagation headers it
# got, one per line, as "name: value" ("-" when absent)

sub echo_server_conf {
	my (%opts) = @_;

	my $port = $opts{listen} || '127.0.0.1:8081';

	return <<"EOF";
    server {
        listen       $port;
        server_name  echo;

        location / {
            otel_trace off;
            otel_trace_context ignore;
            return 200 "traceparent: \$http_traceparent
tracestate: \$http_tracestate
b3: \$http_b3
x-b3-traceid: \$http_x_b3_traceid
x-b3-spanid: \$http_x_b3_spanid
x-b3-sampled: \$http_x_b3_sampled
x-b3-flags: \$http_x_b3_flags
x-b3-parentspanid: \$http_x_b3_parentspanid
";
        }
    }
EOF
}

# the TraceIdRatioBased decision of the OpenTelemetry Go SDK, computed
# here independently: sampled iff (low 64 bits of the id) >> 1 < ratio * 2^63

sub ratio_sampled {
	my ($trace_id, $ratio) = @_;

	return 1 if $ratio >= 1;
	return 0 if $ratio <= 0;

	my ($hi, $lo) = map { hex } substr($trace_id, 16, 16) =~ /(.{8})(.{8})/;

	# (hi:lo) >> 1 as a float is exact enough away from the boundary
	my $x = ($hi * 2**32 + $lo) / 2;

	return $x < $ratio * 2**63 ? 1 : 0;
}

###############################################################################

1;

###############################################################################
