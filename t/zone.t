#!/usr/bin/perl

# Tests for the shared-memory zone: a full zone drops new spans, counts and
# logs them; queued spans and counters survive a reload; a resized zone
# starts empty; a span larger than a worker's stage is queued whole; a
# graceful stop writes out what is queued.
#
# The exporter writes out a zone that is half full after each event (see
# t/zone_fill.t): to fill it, many requests end in one event, as HTTP/2
# streams that arrive in one write.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;
use Test::H2;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# an hour-long interval: nothing leaves the zone but at exit

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint file:%%TESTDIR%%/spans.json;
        interval 1h;
        zone_size %%ZONE%%;
    }

    otel_trace on;

    server {
        listen       127.0.0.1:8080;
        listen       127.0.0.1:8081 http2;
        server_name  localhost;

        location / {
            # about 3 kB per span, so that a small zone fills fast
            otel_span_attr padding $arg_pad;
            return 200 "ok\n";
        }

        location /big {
            # more than a worker's stage (a quarter of a 64k zone)
            otel_span_attr pad1 $arg_pad;
            otel_span_attr pad2 $arg_pad;
            otel_span_attr pad3 $arg_pad;
            otel_span_attr pad4 $arg_pad;
            otel_span_attr pad5 $arg_pad;
            otel_span_attr pad6 $arg_pad;
            return 200 "ok\n";
        }

        location /status {
            otel_trace off;
            otel_status;
        }
    }
}

EOF

my $t = Test::Nginx->new()->has(qw/http http_v2 rewrite/);

write_conf($t, '32k');
$t->run()->plan(16);

###############################################################################

my $pad = 'x' x 3000;

# a full zone: new spans are dropped and counted, served all the same

my $served = h2_burst(30, "/?pad=$pad");

is($served, 30, 'requests served with a full zone');

my $st = status();
ok($st->{spans}{dropped} > 0, 'drops counted');
is($st->{spans}{queued} + $st->{spans}{dropped}, 30, 'queued + dropped');
ok($st->{zone}{used} <= $st->{zone}{size}, 'zone within its size');

my @warn = grep { /otel zone is full/ } split /\n/, $t->read_file('error.log');
ok(@warn >= 1 && @warn <= 2, 'full zone logged at most once a second');

my $queued = $st->{spans}{queued};

# reload with the same zone size: the zone and its counters are reused

$t->reload();
wait_for_reload($t);

http_get('/?pad=x') for 1 .. 3;

$st = status();
is($st->{spans}{queued}, $queued + 3, 'counters survive reload');

# spans queued before the reload were written by the exiting workers, once

my @spans = wait_spans($t, $queued);
is(scalar @spans, $queued, 'spans queued before reload written once');

# a resized zone starts empty

write_conf($t, '64k');
$t->reload();
wait_for_reload($t, 2);

http_get('/?pad=x') for 1 .. 2;

$st = status();
is($st->{spans}{queued}, 2, 'resized zone starts empty');
is($st->{spans}{dropped}, 0, 'resized zone: no drops');

# a span larger than a worker's stage goes into the zone straight

http_get("/big?pad=$pad");

$st = status();
is($st->{spans}{queued}, 3, 'span larger than the stage queued');

# graceful stop: queued spans are written out

$t->stop();

@spans = spans($t);
is(scalar @spans, $queued + 3 + 3, 'all queued spans written at stop');

my %ids = map { $_->{spanId} => 1 } @spans;
is(scalar keys %ids, scalar @spans, 'no span written twice');

my @pads = grep { ($_->{attrs}{padding} // '') eq $pad } @spans;
is(scalar @pads, $queued, 'large spans intact');

my @big = grep { my $s = $_; 6 == grep { ($s->{attrs}{"pad$_"} // '') eq $pad }
	1 .. 6 } @spans;
is(scalar @big, 1, 'span larger than the stage intact');

is(scalar(grep { /\[(alert|crit|emerg)\]/ } split /\n/,
	$t->read_file('error.log')), 0, 'no errors in the log');

ok(-s $t->testdir() . '/spans.json', 'span file written');

###############################################################################

sub write_conf {
	my ($t, $zone) = @_;
	$t->write_file_expand('nginx.conf', $conf =~ s/%%ZONE%%/$zone/r);
}

# n requests as HTTP/2 streams written at once; how many were answered 200

sub h2_burst {
	my ($n, $uri) = @_;

	my $c = h2_connect('127.0.0.1:' . port(8081)) or return 0;
	my @sids = map { 2 * $_ - 1 } 1 .. $n;
	my $out = '';

	{
		no warnings 'redefine';
		local *Test::H2::_write = sub { $out .= $_[1] };
		h2_send($c, $_, [ ':path' => $uri ]) for @sids;
	}

	local $SIG{PIPE} = 'IGNORE';
	syswrite($c->{s}, $out) == length $out or return 0;

	my $res = h2_read($c, \@sids, 10);

	return scalar grep { $res->{$_}{status} == 200 } @sids;
}

sub status {
	my $r = http_get('/status');
	my ($body) = $r =~ /\r\n\r\n(.*)/s;
	return decode_json($body);
}

# old workers of each reload say "exited with code 0"

sub wait_for_reload {
	my ($t, $n) = @_;
	$n //= 1;

	for (1 .. 100) {
		my @e = $t->read_file('error.log') =~ /exited with code/g;
		return if @e >= $n;
		select undef, undef, undef, 0.1;
	}
}

###############################################################################
