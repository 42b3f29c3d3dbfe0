#!/usr/bin/perl

# The gateway demo of ./build.sh demo: the system nginx with our module as a
# gateway in front of a backend service (a second nginx, also traced, as a
# service instrumented with OpenTelemetry would be), a few requests, and the
# traces both export over OTLP/HTTP to a small collector run here, printed
# as trees.
#
# Everything listens on 127.0.0.1 and lives in a temporary directory.

use warnings;
use strict;

use File::Temp qw/ tempdir /;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw//;
use Time::HiRes qw/ sleep /;

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $module = $ENV{TEST_NGINX_GLOBALS} || die "run me from ./build.sh demo\n";

my $dir = tempdir('ngx-otel-demo-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($gw_port, $svc_port, $col_port) = (free_port(), free_port(), free_port());

mkdir "$dir/received";

my $collector = fork() // die "fork: $!\n";

if ($collector == 0) {
	collector($col_port);
	POSIX::_exit(0);
}

my %instances = (
	gateway => conf('gateway', $gw_port, <<"EOF"),
        otel_trace_context propagate;
        otel_propagators tracecontext b3;

        location /api/ {
            proxy_pass http://127.0.0.1:$svc_port;
        }

        location / {
            return 200 "gateway home\\n";
        }
EOF
	orders => conf('orders', $svc_port, <<"EOF"),
        otel_trace_context extract;

        location /api/orders {
            return 200 "{\\"orders\\": []}\\n";
        }

        location /api/fail {
            return 503 "backend unavailable\\n";
        }
EOF
);

for my $name (sort keys %instances) {
	mkdir "$dir/$name";
	write_file("$dir/$name/nginx.conf", $instances{$name});
	system($nginx, '-p', "$dir/$name/", '-c', 'nginx.conf', '-e',
		'error.log') == 0 or die "cannot start the $name nginx\n";
}

# waitpid() in stop() sets $?, which in END is the exit status: kept

END {
	my $rc = $?;
	stop() if defined $dir && $collector;
	$? = $rc;
}

wait_port($_) for $gw_port, $svc_port, $col_port;

print "\nngx_otel_module demo: gateway on 127.0.0.1:$gw_port, "
	. "orders service on 127.0.0.1:$svc_port,\n"
	. "OTLP/HTTP collector on 127.0.0.1:$col_port\n\n";

my @requests = (
	[ 'GET /api/orders', {} ],
	[ 'GET /api/orders?page=2',
		{ traceparent =>
		'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
		tracestate => 'vendor=demo' } ],
	[ 'GET /api/fail', {} ],
	[ 'GET /', { b3 => '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' } ],
);

for my $r (@requests) {
	my ($line, $headers) = @$r;
	my $status = request($gw_port, $line, $headers);
	my $sent = join ' ', map { "$_: $headers->{$_}" } sort keys %$headers;
	printf "  %-26s -> %s%s\n", $line, $status, $sent ? "   (sent $sent)" : '';
}

# both exporters send every 100 ms; give them a few rounds

sleep 0.8;

print "\nGateway access log (\$otel_trace_id, \$otel_span_id):\n\n";
print "  $_\n" for split /\n/, read_file("$dir/gateway/access.log");

my @bodies = glob("$dir/received/*");
my @spans = map { read_spans($_) } @bodies;

print "\nTraces received by the collector (" . scalar(@bodies)
	. " OTLP/HTTP export requests, " . scalar(@spans) . " spans):\n";

my %traces;
push @{$traces{$_->{traceId}}}, $_ for @spans;

for my $trace (sort keys %traces) {
	print "\n  trace $trace\n";
	print_tree($traces{$trace});
}

print "\nPoint \"endpoint\" at your OpenTelemetry Collector, Jaeger or Tempo "
	. "(grpc, http/protobuf\nor http/json), or at file:/path for OTLP JSON "
	. "lines.\n\n";

###############################################################################

sub print_tree {
	my ($spans) = @_;

	my %ids = map { $_->{spanId} => 1 } @$spans;
	my %children;

	for my $s (@$spans) {
		my $p = $s->{parentSpanId} // '';
		push @{$children{$ids{$p} ? $p : ''}}, $s;
	}

	my $walk;
	$walk = sub {
		my ($parent, $depth) = @_;

		for my $s (sort { $a->{startTimeUnixNano} <=> $b->{startTimeUnixNano} }
			@{$children{$parent} || []})
		{
			my %a = map { $_->{key} => (values %{$_->{value}})[0] }
				@{$s->{attributes}};

			my $remote = $s->{parentSpanId} && !$ids{$s->{parentSpanId}}
				? "  (remote parent $s->{parentSpanId})" : '';

			my $who = ($depth > 1 ? '   ' x ($depth - 1) : '')
				. ($depth ? '`- ' : '') . $s->{service};

			printf "    %-14s %-18s %s  %.3f ms  span %s%s%s\n",
				$who, $s->{name},
				$a{'http.response.status_code'} // '-',
				($s->{endTimeUnixNano} - $s->{startTimeUnixNano}) / 1e6,
				$s->{spanId},
				$s->{status}{code} ? '  ERROR' : '',
				$remote;

			$walk->($s->{spanId}, $depth + 1);
		}
	};

	$walk->('', 0);
}

sub read_spans {
	my ($file) = @_;

	my @spans;

	for my $line (split /\n/, read_file($file)) {
		my $req = decode_json($line);

		for my $rs (@{$req->{resourceSpans}}) {
			my ($svc) = map { $_->{value}{stringValue} }
				grep { $_->{key} eq 'service.name' }
				@{$rs->{resource}{attributes}};

			for my $ss (@{$rs->{scopeSpans}}) {
				push @spans, map { { %$_, service => $svc } }
					@{$ss->{spans}};
			}
		}
	}

	return @spans;
}

sub conf {
	my ($service, $port, $locations) = @_;

	return <<"EOF";
$module
daemon on;
pid $dir/$service/nginx.pid;
error_log $dir/$service/error.log notice;
worker_processes 1;

events {
}

http {
    access_log off;
    client_body_temp_path $dir/$service;
    proxy_temp_path $dir/$service;
    fastcgi_temp_path $dir/$service;
    uwsgi_temp_path $dir/$service;
    scgi_temp_path $dir/$service;

    otel_exporter {
        endpoint http://127.0.0.1:$col_port;
        protocol http/json;
        interval 100ms;
    }

    otel_service_name $service;
    otel_trace on;

    log_format traced '\$remote_addr "\$request" \$status '
                      'trace=\$otel_trace_id span=\$otel_span_id';

    server {
        listen 127.0.0.1:$port;
        access_log $dir/$service/access.log traced;

$locations
    }
}
EOF
}

sub request {
	my ($port, $line, $headers) = @_;

	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
		or die "connect: $!\n";

	print $s "$line HTTP/1.0\r\nHost: demo.local\r\n"
		. join('', map { "$_: $headers->{$_}\r\n" } keys %$headers)
		. "\r\n";

	my $reply = join '', <$s>;
	my ($status) = $reply =~ m{^HTTP/1\.\d (\d+ [^\r]*)};

	return $status // 'no reply';
}

sub stop {
	for my $name (qw/ gateway orders /) {
		my $pid = read_file("$dir/$name/nginx.pid") or next;
		chomp $pid;
		kill 'QUIT', $pid if $pid;
	}

	sleep 0.3;

	kill 'TERM', $collector;
	waitpid($collector, 0);
}

# a minimal OTLP/HTTP receiver: each POST body is saved, the answer is an
# empty ExportTraceServiceResponse; one process per connection (keepalive)

sub collector {
	my ($port) = @_;

	my $server = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
		Listen => 16, ReuseAddr => 1) or die "collector: $!\n";

	$SIG{CHLD} = 'IGNORE';
	my $n = 0;

	while (my $c = $server->accept()) {
		$n++;
		next if fork();

		my $m = 0;

		while (defined(my $line = <$c>)) {
			my %h;

			while (defined(my $hl = <$c>)) {
				last if $hl =~ /^\r?\n$/;
				$h{lc $1} = $2 if $hl =~ /^([^:]+):\s*(.*?)\r?$/;
			}

			my $body = '';
			read($c, $body, $h{'content-length'} // 0);

			write_file(sprintf("%s/received/%d-%d.json", $dir, $n, ++$m),
				$body);

			print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				. "Content-Length: 2\r\n\r\n{}";
		}

		POSIX::_exit(0);
	}
}

sub free_port {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		Listen => 1, ReuseAddr => 1) or die "no free port: $!\n";
	return $s->sockport();
}

sub wait_port {
	my ($port) = @_;

	for (1 .. 50) {
		return if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
		sleep 0.1;
	}

	die "nothing listens on 127.0.0.1:$port\n";
}

sub read_file {
	my ($file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	return <$fh>;
}

sub write_file {
	my ($file, $content) = @_;
	open my $fh, '>', $file or die "$file: $!\n";
	print $fh $content;
}
