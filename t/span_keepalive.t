#!/usr/bin/perl

# Tests for the attributes of the requests of one keep-alive connection:
# those of the client, the server and the protocol are kept with the
# connection from its second request on, and each span still gets its own
# request's values when they change (User-Agent, Host, protocol version,
# the address realip sets, a value too long to keep).  Three times: with
# the file exporter, and on two connections with OTLP/HTTP protobuf, whose
# exporter expands a connection's attributes once for its spans (decoded
# by protoc).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;
use Test::OTLP;

use IO::Socket::INET;

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
        %%ENDPOINT%%
        interval 50ms;
    }

    otel_trace on;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        large_client_header_buffers 4 8k;

        # in the post-read phase: only requests with X-Real-IP change
        set_real_ip_from  127.0.0.1;
        real_ip_header    X-Real-IP;

        location / {
            return 200 "ok\n";
        }
    }
}

EOF

my $t = Test::Nginx->new()->has(qw/http realip/)->has_daemon('protoc');

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->write_file_expand('nginx.conf',
	endpoint('endpoint file:%%TESTDIR%%/spans.json;'));
$t->run()->plan(3 * 61);

###############################################################################

my $port = port(8080);
my $long = 'L' x 2000;

# request target, protocol, Host, User-Agent, more header lines; each
# differs from the one before it in one value at most, the rest kept

my @requests = (
	[ '/k1', '1.1', 'localhost', 'ua-one' ],
	[ '/k2', '1.1', 'localhost', 'ua-one' ],
	[ '/k3', '1.1', 'localhost', 'ua-two' ],
	[ '/k4', '1.1', 'example.org:8443', 'ua-two' ],
	[ '/k5', '1.1', 'localhost', undef ],
	[ '/k6', '1.0', 'localhost', undef, 'Connection: keep-alive' ],
	[ '/k7', '1.1', 'localhost', 'ua-one' ],
	[ '/k8', '1.1', 'localhost', 'ua-one', 'X-Real-IP: 192.0.2.8' ],
	[ '/k9', '1.1', 'localhost', 'ua-one' ],
	[ '/k10', '1.1', 'localhost:1234', 'ua-one' ],
	[ 'http://other.example/k11', '1.1', 'localhost:1234', 'ua-one' ],
	[ '/k12', '1.1', 'localhost:1234', $long ],
	[ '/k13', '1.1', 'localhost:1234', 'ua-one' ],
);

check_spans('file', send_requests(),
	[ wait_spans($t, scalar @requests) ]);

$t->stop();
$t->write_file_expand('nginx.conf',
	endpoint('endpoint http://127.0.0.1:' . port(8082) . ';'
		. ' protocol http/protobuf;'));
$t->run();

# a second connection's spans come after the first's, with other ports:
# what the exporter kept of the first must not stand for the second's

check_spans('protobuf', send_requests(),
	[ wait_otlp_spans($t, scalar @requests, 10) ]);

unlink glob($t->testdir() . '/otlp/*');

check_spans('protobuf, second connection', send_requests(),
	[ wait_otlp_spans($t, scalar @requests, 10) ]);

###############################################################################

sub endpoint {
	my ($endpoint) = @_;
	(my $c = $conf) =~ s/%%ENDPOINT%%/$endpoint/;
	return $c;
}

# the requests on one connection: the client's port, how many answered

sub send_requests {
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
		Proto => 'tcp')
		or die "connect: $!\n";

	my $answered = 0;

	for my $r (@requests) {
		my ($target, $version, $host, $ua, @more) = @$r;

		print $s "GET $target HTTP/$version\r\nHost: $host\r\n"
			. (defined $ua ? "User-Agent: $ua\r\n" : '')
			. join('', map { "$_\r\n" } @more) . "\r\n";

		$answered++ if read_response($s) == 200;
	}

	my $local_port = $s->sockport();

	close $s;

	return ($local_port, $answered);
}

sub check_spans {
	my ($how, $local_port, $answered, $spans) = @_;
	my @spans = @$spans;

	is($answered, scalar @requests, "$how: all answered on one connection");
	is(scalar @spans, scalar @requests, "$how: a span each");

	for my $r (@requests) {
		my ($target, $version, $host, $ua, @more) = @$r;
		my ($path) = $target =~ m{(/k\d+)$};
		my ($span) = grep { ($_->{attrs}{'url.path'} // '') eq $path }
			@spans;
		my $a = $span ? $span->{attrs} : {};

		# an absolute request target names the server, not Host

		my ($name, $hport) = $host =~ /^([^:]+)(?::(\d+))?$/;
		$name = $1 if $target =~ m{^http://([^/]+)};

		is($a->{'user_agent.original'}, $ua,
			"$how: $path user_agent.original");
		is($a->{'server.address'}, $name, "$how: $path server.address");
		is($a->{'server.port'}, $hport // $port,
			"$how: $path server.port");
		is($a->{'network.protocol.version'}, $version,
			"$how: $path network.protocol.version");

		next unless $path eq '/k8' || $path eq '/k9';

		my $client = $path eq '/k8' ? '192.0.2.8' : '127.0.0.1';

		is($a->{'client.address'}, $client, "$how: $path client.address");
		is($a->{'network.peer.address'}, $client,
			"$how: $path network.peer.address");

		# realip sets the port to 0: no network.peer.port then

		is($a->{'network.peer.port'}, $path eq '/k8' ? undef : $local_port,
			"$how: $path network.peer.port");
	}

	my @schemes = grep { ($_->{attrs}{'url.scheme'} // '') eq 'http' }
		@spans;
	is(scalar @schemes, scalar @requests, "$how: url.scheme of every span");
}

###############################################################################

# the status code of one response read by its Content-Length

sub read_response {
	my ($s) = @_;

	my $buf = '';

	while ($buf !~ /\r\n\r\n/) {
		$s->sysread($buf, 65536, length $buf) or return 0;
	}

	my ($head, $body) = split /\r\n\r\n/, $buf, 2;
	my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;

	while (length $body < ($len // 0)) {
		$s->sysread($body, 65536, length $body) or last;
	}

	return $status // 0;
}

###############################################################################
