#!/usr/bin/perl

# bench/client.pl: a small keep-alive HTTP/1.1 client for the callgrind
# runs, where wrk would only wait on an nginx slowed down 50 times.
#
#   client.pl [-c CONNECTIONS] HOST:PORT PATH N [HEADER ...]
#
# sends N "GET PATH" requests one after the other on one connection (a new
# one when the server closes it), reads each response by Content-Length,
# and exits non-zero unless all N were answered 200.  Each HEADER
# ("Name: value") is added to every request; the request is otherwise what
# wrk sends (only a Host header).  With -c, CONNECTIONS processes share
# the N requests, each on its connection: nginx then finds several
# requests ready at once, as under load, where one connection after the
# other never does.

use warnings;
use strict;

use IO::Socket::INET;

my $conns = 1;

if (@ARGV && $ARGV[0] eq '-c') {
	(undef, $conns) = splice @ARGV, 0, 2;
}

my ($addr, $path, $n, @headers) = @ARGV;

die "usage: $0 [-c CONNECTIONS] HOST:PORT PATH N [HEADER ...]\n"
	unless $n && $conns && $conns =~ /^\d+$/;

my $request = "GET $path HTTP/1.1\r\nHost: $addr\r\n"
	. join('', map { "$_\r\n" } @headers) . "\r\n";

my @pids;

for my $c (1 .. $conns) {

	# the first connections take one more when N does not divide evenly

	my $share = int($n / $conns) + ($c <= $n % $conns ? 1 : 0);

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		exit(client($share) == $share ? 0 : 1);
	}

	push @pids, $pid;
}

my $failed = 0;

for my $pid (@pids) {
	waitpid($pid, 0);
	$failed++ if $?;
}

print $failed ? "failed\n" : "$n\n";

exit($failed ? 1 : 0);


# sends "count" requests on one connection; returns how many got a 200

sub client {
	my ($count) = @_;

	my ($sock, $buf);
	my $ok = 0;

	for my $i (1 .. $count) {
		if (!defined $sock) {
			$sock = IO::Socket::INET->new(PeerAddr => $addr,
					Proto => 'tcp')
				or die "connect to $addr: $!\n";
			$buf = '';
		}

		print $sock $request or die "write: $!\n";

		my ($status, $len, $close) = read_response($sock, \$buf);

		die "no response to request $i\n" unless defined $status;

		$ok++ if $status == 200;

		if ($close) {
			close $sock;
			undef $sock;
		}
	}

	return $ok;
}


sub read_response {
	my ($sock, $bufref) = @_;

	while ($$bufref !~ /\r\n\r\n/) {
		my $n = sysread($sock, $$bufref, 65536, length $$bufref);
		return unless $n;
	}

	$$bufref =~ s/^(.*?)\r\n\r\n//s;
	my $head = $1;

	my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
	my $close = $head =~ /^Connection:\s*close/mi ? 1 : 0;

	$len //= 0;

	while (length $$bufref < $len) {
		my $n = sysread($sock, $$bufref, 65536, length $$bufref);
		return unless $n;
	}

	substr($$bufref, 0, $len) = '';

	return ($status, $len, $close);
}
