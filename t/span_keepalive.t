#!/usr/bin/perl

# Tests for the attributes of the requests of one keep-alive connection:
# those of the client, the server and the protocol are kept with the
# connection from its second request on, and each span still gets its own
# request's values when they change (User-Agent, Host, protocol version,
# the address realip sets, a value too long to keep).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use IO::Socket::INET;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http realip/)
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

$t->run()->plan(60);

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

my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp')
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

is($answered, scalar @requests, 'all answered on one connection');

my @spans = wait_spans($t, scalar @requests);

for my $r (@requests) {
	my ($target, $version, $host, $ua, @more) = @$r;
	my ($path) = $target =~ m{(/k\d+)$};
	my ($span) = grep { ($_->{attrs}{'url.path'} // '') eq $path } @spans;
	my $a = $span ? $span->{attrs} : {};

	# an absolute request target names the server, not Host

	my ($name, $hport) = $host =~ /^([^:]+)(?::(\d+))?$/;
	$name = $1 if $target =~ m{^http://([^/]+)};

	is($a->{'user_agent.original'}, $ua, "$path user_agent.original");
	is($a->{'server.address'}, $name, "$path server.address");
	is($a->{'server.port'}, $hport // $port, "$path server.port");
	is($a->{'network.protocol.version'}, $version,
		"$path network.protocol.version");

	next unless $path eq '/k8' || $path eq '/k9';

	my $client = $path eq '/k8' ? '192.0.2.8' : '127.0.0.1';

	is($a->{'client.address'}, $client, "$path client.address");
	is($a->{'network.peer.address'}, $client, "$path network.peer.address");

	# realip sets the port to 0: no network.peer.port then

	is($a->{'network.peer.port'}, $path eq '/k8' ? undef : $local_port,
		"$path network.peer.port");
}

my @schemes = grep { ($_->{attrs}{'url.scheme'} // '') eq 'http' } @spans;
is(scalar @schemes, scalar @requests, 'url.scheme of every span');

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
