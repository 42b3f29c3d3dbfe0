#!/usr/bin/perl

# Tests for the injected context reaching every kind of upstream request:
# proxy_pass, grpc_pass, fastcgi_pass, uwsgi_pass, scgi_pass, and the
# subrequests of auth_request, mirror and SSI "include virtual".  The ids
# the backends get must be the exported span's trace id and span id.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Socket::INET;
use Socket qw/ CRLF /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()
	->has(qw/http proxy grpc http_v2 fastcgi uwsgi scgi/)
	->has(qw/auth_request mirror ssi/)
	->write_file_expand('nginx.conf', <<'EOF');

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

        location /proxy/ {
            proxy_pass http://127.0.0.1:8082;
        }

        location /grpc/ {
            grpc_pass 127.0.0.1:8083;
        }

        location /fastcgi/ {
            fastcgi_pass 127.0.0.1:8084;
        }

        location /uwsgi/ {
            uwsgi_pass 127.0.0.1:8085;
        }

        location /scgi/ {
            scgi_pass 127.0.0.1:8086;
        }

        location /auth/ {
            auth_request /_auth;
            proxy_pass http://127.0.0.1:8082;
        }

        location = /_auth {
            internal;
            proxy_pass http://127.0.0.1:8087/auth$request_uri;
        }

        location /mirror/ {
            mirror /_mirror;
            proxy_pass http://127.0.0.1:8082;
        }

        location = /_mirror {
            internal;
            proxy_pass http://127.0.0.1:8087/mirror$request_uri;
        }

        location /ssi/ {
            ssi on;
            ssi_types *;
            alias %%TESTDIR%%/;
        }

        location /_ssi/ {
            proxy_pass http://127.0.0.1:8082;
        }
    }

    server {
        listen       127.0.0.1:8083 http2;
        server_name  grpc;

        location / {
            otel_trace off;
            otel_trace_context ignore;
            add_header X-Got "$http_traceparent" always;
            return 200;
        }
    }
}

EOF

$t->write_file('page.html', 'ssi: <!--# include virtual="/_ssi/page" -->');

my $tid = '0af7651916cd43dd8448eb211c80319c';
my $sid = 'b7ad6b7169203331';
my $tp = "00-$tid-$sid-01";

my @kinds = qw/ proxy grpc fastcgi uwsgi scgi auth mirror ssi /;

$t->run_daemon(\&raw_daemon, port(8082));
$t->run_daemon(\&cgi_daemon, 'fastcgi', port(8084));
$t->run_daemon(\&cgi_daemon, 'uwsgi', port(8085));
$t->run_daemon(\&cgi_daemon, 'scgi', port(8086));
$t->run_daemon(\&recorder, port(8087), $t->testdir());
$t->run()->plan(4 * @kinds + 2);

for my $p (8082, 8084 .. 8087) {
	$t->waitforsocket("127.0.0.1:" . port($p))
		or die "Can't start the daemon on $p";
}

###############################################################################

for my $kind (@kinds) {

	# the client's context continues: same trace, our span as parent

	my $path = $kind eq 'ssi' ? '/ssi/page.html' : "/$kind/continued";
	my $r = get($path, "traceparent: $tp", "tracestate: a=1");
	my $s = span($path);

	like($r, qr/^HTTP\/1\.1 200 /, "$kind: served");

	is(join(' ', received($kind, $r, 'continued')),
		"00-$tid-$s->{spanId}-01", "$kind: the server span is parent");

	# no context from the client: a new trace

	$path = $kind eq 'ssi' ? '/ssi/page.html?new' : "/$kind/new";
	$r = get($path);
	$s = span($path =~ s/\?.*//r, 1);

	ok($s->{traceId} ne $tid && $s->{parentSpanId} eq '',
		"$kind: new trace");

	like(join(' ', received($kind, $r, 'new')),
		qr/^00-$s->{traceId}-$s->{spanId}-0[13]$/,
		"$kind: the new trace injected");
}

# the main request of the subrequests still gets one traceparent

my $r = get('/auth/main', "traceparent: $tp");
my $s = span('/auth/main');
is(join(' ', received('proxy', $r)), "00-$tid-$s->{spanId}-01",
	'auth_request: the main request\'s upstream too');

$r = get('/mirror/main', "traceparent: $tp");
$s = span('/mirror/main');
is(join(' ', received('proxy', $r)), "00-$tid-$s->{spanId}-01",
	'mirror: the main request\'s upstream too');

###############################################################################

sub get {
	my ($uri, @headers) = @_;

	return http("GET $uri HTTP/1.0" . CRLF . 'Host: localhost' . CRLF
		. join('', map { $_ . CRLF } @headers) . CRLF);
}

# every traceparent value the backend of $kind got

sub received {
	my ($kind, $r, $name) = @_;

	$r //= '';

	my ($head, $body) = split /\x0d\x0a\x0d\x0a/, $r, 2;
	$body //= '';

	if ($kind eq 'grpc') {
		return $head =~ /^X-Got: *(\S+)/mi ? $1 : ();
	}

	if ($kind eq 'auth' || $kind eq 'mirror') {
		my $file = $t->testdir() . "/rec_${kind}_${kind}_$name";
		$t->waitforfile($file) or return ();
		$body = $t->read_file("rec_${kind}_${kind}_$name");
	}

	return $body =~ /^traceparent[:=] *(.*?)\x0d?$/mgi;
}

# the span of the request to $path, as soon as it is exported; with $new,
# the newest one

sub span {
	my ($path, $new) = @_;

	for (1 .. 100) {
		my @s = grep { ($_->{attrs}{'url.path'} // '') eq $path }
			spans($t);
		@s = grep { $_->{traceId} ne $tid } @s if $new;
		return $s[-1] if @s;
		select undef, undef, undef, 0.05;
	}

	return { traceId => '', spanId => '', parentSpanId => '',
		traceState => '', flags => 0, attrs => {} };
}

###############################################################################

sub listener {
	my ($port) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 5,
		Reuse => 1
	)
		or die "Can't create listening socket: $!\n";

	$SIG{PIPE} = 'IGNORE';

	return $server;
}

sub read_n {
	my ($s, $n) = @_;

	my $buf = '';

	while (length($buf) < $n) {
		my $got = $s->sysread($buf, $n - length($buf), length($buf));
		return undef unless $got;
	}

	return $buf;
}

# a backend that answers with the request header block exactly as it came

sub raw_daemon {
	my ($port) = @_;

	my $server = listener($port);

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

# the same, writing the header block to DIR/rec_<path>, for subrequests
# whose response the client does not see

sub recorder {
	my ($port, $dir) = @_;

	my $server = listener($port);

	while (my $client = $server->accept()) {
		$client->autoflush(1);

		my $headers = '';

		while (<$client>) {
			$headers .= $_;
			last if /^\x0d?\x0a?$/;
		}

		next if $headers eq '';

		my ($uri) = $headers =~ /^\w+ (\S+)/;
		(my $name = $uri) =~ s/\W/_/g;

		open my $fh, '>', "$dir/rec.tmp" or die "Can't write: $!\n";
		print $fh $headers;
		close $fh;
		rename "$dir/rec.tmp", "$dir/rec$name";

		print $client 'HTTP/1.1 200 OK' . CRLF
			. 'Content-Length: 0' . CRLF
			. 'Connection: close' . CRLF . CRLF;

		close $client;
	}
}

# FastCGI, uwsgi and SCGI backends: parse the request enough to find the
# HTTP_TRACEPARENT params, answer with one "traceparent=VALUE" line each

sub cgi_daemon {
	my ($proto, $port) = @_;

	my $server = listener($port);

	while (my $client = $server->accept()) {
		$client->autoflush(1);

		my ($id, @params) = (1);

		if ($proto eq 'fastcgi') {
			my $stream = '';

			# records up to the end of FCGI_STDIN

			for (;;) {
				my $h = read_n($client, 8) // last;
				my (undef, $type, $rid, $len, $pad) =
					unpack('CCnnC', $h);
				my $data = $len + $pad
					? read_n($client, $len + $pad) : '';
				last unless defined $data;

				$id = $rid;
				$stream .= substr($data, 0, $len) if $type == 4;
				last if $type == 5 && $len == 0;
			}

			while (length $stream) {
				my ($kl, $vl);
				($kl, $stream) = fcgi_len($stream);
				($vl, $stream) = fcgi_len($stream);
				push @params, substr($stream, 0, $kl),
					substr($stream, $kl, $vl);
				substr($stream, 0, $kl + $vl) = '';
			}

		} elsif ($proto eq 'uwsgi') {
			my $h = read_n($client, 4) // next;
			my (undef, $size) = unpack('Cv', $h);
			my $vars = read_n($client, $size) // next;

			while (length $vars >= 2) {
				my $kl = unpack('v', $vars);
				my $k = substr($vars, 2, $kl);
				my $vl = unpack('v', substr($vars, 2 + $kl, 2));
				push @params, $k, substr($vars, 4 + $kl, $vl);
				substr($vars, 0, 4 + $kl + $vl) = '';
			}

		} else {
			my $len = '';

			while (defined(my $c = read_n($client, 1))) {
				last if $c eq ':';
				$len .= $c;
			}

			next unless $len =~ /^\d+$/;

			my $ns = read_n($client, $len + 1) // next;
			@params = split /\x00/, substr($ns, 0, $len), -1;
		}

		next unless @params;

		my @tp;

		while (my ($k, $v) = splice @params, 0, 2) {
			push @tp, $v if $k eq 'HTTP_TRACEPARENT';
		}

		my $out = ($proto eq 'uwsgi' ? 'HTTP/1.0 200 OK'
			: 'Status: 200 OK') . CRLF
			. 'Content-Type: text/plain' . CRLF . CRLF
			. join('', map { "traceparent=$_\n" } @tp);

		if ($proto eq 'fastcgi') {

			# FCGI_STDOUT, its end, FCGI_END_REQUEST

			$out = pack('CCnnCC', 1, 6, $id, length($out), 0, 0)
				. $out
				. pack('CCnnCC', 1, 6, $id, 0, 0, 0)
				. pack('CCnnCC', 1, 3, $id, 8, 0, 0)
				. pack('NCCCC', 0, 0, 0, 0, 0);
		}

		print $client $out;

		close $client;
	}
}

sub fcgi_len {
	my ($s) = @_;

	my $b = ord($s);

	return ($b, substr($s, 1)) if $b < 128;
	return (unpack('N', $s) & 0x7fffffff, substr($s, 4));
}

###############################################################################
