#!/usr/bin/perl

# Tests for the OTLP exporter over https: a self-signed CA made here, nginx
# as the TLS receiver (HTTP/2 by ALPN) in front of the Perl collector,
# "trusted_certificate" naming the CA; without it the certificate is not
# trusted and the batch is dropped with one error line.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint https://127.0.0.1:8084;
        protocol %%PROTOCOL%%;
        interval 50ms;
        batch_size 1;
        timeout 2s;
        %%TRUST%%
    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;

        location / {
            return 200 "ok\n";
        }

        location /status {
            otel_trace off;
            otel_status;
        }
    }

    # the TLS receiver, HTTP/2 by ALPN, the collector behind

    server {
        listen       127.0.0.1:8084 ssl http2;
        server_name  localhost;

        ssl_certificate      %%TESTDIR%%/server.crt;
        ssl_certificate_key  %%TESTDIR%%/server.key;

        # the exporter's idle connection must not hold a stopping worker
        lingering_close off;

        location / {
            proxy_pass http://127.0.0.1:8082;
            proxy_http_version 1.1;
            proxy_set_header X-Protocol $server_protocol;
            proxy_set_header X-TLS $ssl_protocol;
            proxy_hide_header X-Grpc-Status;
            add_trailer grpc-status $upstream_http_x_grpc_status always;
        }
    }
}

EOF

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl http_v2/)
	->has_daemon('protoc')->has_daemon('openssl');

make_certificates($t);

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

run_with($t, 'grpc', 1);

$t->plan(12);

###############################################################################

for my $protocol ('grpc', 'http/protobuf') {
	run_with($t, $protocol, 1) unless $protocol eq 'grpc';

	http_get("/$_") for 1 .. 3;

	my @spans = wait_otlp_spans($t, 3);
	is(scalar @spans, 3, "$protocol: spans over https");

	is_deeply([ sort map { $_->{attrs}{'url.path'} } @spans ],
		[ '/1', '/2', '/3' ], "$protocol: the spans");

	my ($r) = grep { $_->{status} eq '200' } requests($t);
	like($r->{headers}{'x-protocol'} . ' ' . ($r->{headers}{'x-tls'} // ''),
		qr!^HTTP/2\.0 TLSv1\.[23]$!, "$protocol: h2 by ALPN over TLS");

	is(wait_otel_status(sub { $_[0]{spans}{exported} >= 3 })
		->{export_requests}{failed}, 0, "$protocol: no failures");
}

# a certificate that is not trusted: dropped, one error line

run_with($t, 'grpc', 0);

http_get('/untrusted');

my $st;

for (1 .. 50) {
	$st = status($t);
	last if $st->{spans}{rejected};
	select undef, undef, undef, 0.1;
}

is_deeply([ $st->{spans}{rejected}, $st->{export_requests}{failed},
	$st->{export_requests}{retried} ], [ 1, 1, 0 ],
	'untrusted: dropped, not retried');

my @lines = grep { /\[(?:error|warn)\].*otel exporter/ } split /\n/, $t->read_file('error.log');
is(scalar @lines, 1, 'untrusted: one log line');
like($lines[0], qr/\[error\].*"https:.*" failed: SSL.*, 1 spans dropped/,
	'untrusted: the line');

is(scalar(grep { $_->{status} eq '200' } requests($t)), 0,
	'untrusted: nothing sent');

###############################################################################

sub run_with {
	my ($t, $protocol, $trust) = @_;

	$t->stop();

	(my $c = $conf) =~ s/%%PROTOCOL%%/$protocol/;
	my $trusted = $trust
		? 'trusted_certificate %%TESTDIR%%/ca.crt;' : '';
	$c =~ s/%%TRUST%%/$trusted/;

	$t->write_file_expand('nginx.conf', $c);

	unlink glob($t->testdir() . '/otlp/*');
	unlink $t->testdir() . '/error.log';

	$t->run();
}

sub status {
	my ($t) = @_;
	my $r = http_get('/status');
	$r =~ s/^.*?\r\n\r\n//s;
	return decode_json($r);
}

sub make_certificates {
	my ($t) = @_;

	my $d = $t->testdir();

	$t->write_file('openssl.ext', "subjectAltName=IP:127.0.0.1\n");

	for my $cmd (
		"openssl req -x509 -new -newkey rsa:2048 -nodes -days 2"
			. " -subj /CN=otel-test-ca -keyout $d/ca.key -out $d/ca.crt",
		"openssl req -new -newkey rsa:2048 -nodes -subj /CN=127.0.0.1"
			. " -keyout $d/server.key -out $d/server.csr",
		"openssl x509 -req -in $d/server.csr -CA $d/ca.crt"
			. " -CAkey $d/ca.key -CAcreateserial -days 2"
			. " -extfile $d/openssl.ext -out $d/server.crt",
	) {
		system("$cmd >$d/openssl.log 2>&1") == 0
			or die "$cmd failed: " . $t->read_file('openssl.log');
	}
}

###############################################################################
