#!/usr/bin/perl

# Tests for the OTLP exporter with a collector that is down (connection
# refused) or hangs (accepts, reads, never answers): requests are served as
# fast as ever, export requests are counted failed and retried, the zone
# fills and drops new spans (memory stays bounded), a batch is dropped
# after its last attempt with one error line, and the queue drains once
# the collector answers again.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;
use Test::Load qw/ sanitized /;

use JSON::PP;
use Time::HiRes qw/ time sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('protoc')
	->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint http://127.0.0.1:8085;
        protocol http/protobuf;
        interval 50ms;
        batch_size 10;
        batch_count 2;
        timeout 1s;
        zone_size 64k;
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
}

EOF

$t->run()->plan(18);

###############################################################################

# the collector is down: connections refused

# more spans than a 64k zone holds, however small records get

my $start = time();
my ($served, $slowest) = load(1000);

is($served, 1000, 'down: requests served');
ok($slowest < 0.5, "down: requests not delayed (slowest $slowest s)");

my $st = wait_status(sub { $_[0]{export_requests}{retried} >= 2 });

ok($st->{export_requests}{failed} >= 2, 'down: failures counted');
ok($st->{export_requests}{retried} >= 2, 'down: retries counted');
ok($st->{spans}{dropped} > 0, 'down: full zone drops');
is($st->{spans}{queued} + $st->{spans}{dropped}, 1000, 'down: all counted');
ok($st->{zone}{used} <= $st->{zone}{size}, 'down: zone bounded');

# memory: more requests, the worker does not grow

my $rss = worker_rss($t);
load(2000);
my $grown = worker_rss($t) - $rss;

SKIP: {
	skip "AddressSanitizer's own memory grows ($rss kB, +$grown kB)", 1
		if sanitized($t);

	ok($rss > 0 && $grown < 2048,
		"down: worker memory bounded ($rss kB, +$grown kB)");
}

# after the last attempt the batch is dropped, logged once

my @log = wait_log($t, qr/spans dropped after 5 attempts/, 18);
my @dropped = grep { /spans dropped after 5 attempts$/ } @log;
like($dropped[0] // '', qr!\[error\] .*otel exporter: "http://127\.0\.0\.1:\d+/v1/traces" failed: Failed to connect .*, \d+ spans dropped after 5 attempts$!,
	'down: dropped after the last attempt');

my @retrying = grep { /retrying \d+ spans in \d+ ms$/ } @log;
my $seconds = int(time() - $start + 1);
ok(@retrying >= 2 && @retrying <= $seconds,
	'down: retries logged at most once a second (' . scalar(@retrying)
	. " lines in $seconds s)");

# the collector is back: what is queued goes out

$t->run_daemon(\&collector, port(8085), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8085)) or die "no collector";

$st = wait_status(sub { $_[0]{spans}{pending} == 0 && $_[0]{zone}{used} == 0 },
	12);
my @spans = otlp_spans($t);
ok(@spans > 0 && $st->{zone}{used} == 0, 'back: the queue drained');

my %ids = map { $_->{spanId} => 1 } @spans;
is(scalar keys %ids, scalar @spans, 'back: no span twice');

# the collector hangs: the requests time out, are retried, requests served

$t->write_file('collector.hang', '');

my $before = status()->{export_requests};

($served, $slowest) = load(100);

$st = wait_status(sub {
	$_[0]{export_requests}{failed} >= $before->{failed} + 2 }, 5);

is($served, 100, 'hang: requests served');
ok($slowest < 0.5, "hang: requests not delayed (slowest $slowest s)");
ok($st->{export_requests}{failed} >= $before->{failed} + 2,
	'hang: timeouts counted failed');

like($t->read_file('error.log'),
	qr/failed: Operation timed out after 10\d\d milliseconds/,
	'hang: timed out after "timeout"');

# and answers again: delivered, once

unlink $t->testdir() . '/collector.hang';

$st = wait_status(sub { $_[0]{spans}{pending} == 0 && $_[0]{zone}{used} == 0 },
	10);

@spans = otlp_spans($t);
%ids = map { $_->{spanId} => 1 } @spans;
is(scalar keys %ids, scalar @spans, 'unhung: no span twice');
is(scalar(grep { $_->{attrs}{'url.path'} eq '/hang' } @spans), 100,
	'unhung: the spans of the hang delivered');

###############################################################################

# $n requests, one at a time: how many served, the slowest in seconds

sub load {
	my ($n, $uri) = @_;

	$uri //= $n == 100 ? '/hang' : '/';

	my ($served, $slowest) = (0, 0);

	for (1 .. $n) {
		my $t0 = time();
		my $r = http_get($uri);
		my $d = time() - $t0;

		$served++ if $r && $r =~ /200 OK/;
		$slowest = $d if $d > $slowest;
	}

	return ($served, sprintf('%.3f', $slowest));
}

sub status {
	my $r = http_get('/status');
	$r =~ s/^.*?\r\n\r\n//s;
	return decode_json($r);
}

sub wait_status {
	my ($cond, $timeout) = @_;

	my $end = time() + ($timeout // 5);
	my $st;

	for ( ;; ) {
		$st = status();
		return $st if $cond->($st) || time() >= $end;
		sleep 0.1;
	}
}

# the lines of error.log but debug ones, once one matches $re

sub wait_log {
	my ($t, $re, $timeout) = @_;

	my $end = time() + $timeout;
	my @log;

	for ( ;; ) {
		@log = grep { !/\[debug\]/ } split /\n/, $t->read_file('error.log');
		return @log if (grep { $_ =~ $re } @log) || time() >= $end;
		sleep 0.2;
	}
}

sub worker_rss {
	my ($t) = @_;

	my ($master) = $t->read_file('nginx.pid') =~ /(\d+)/;

	open my $fh, '<', "/proc/$master/task/$master/children" or return 0;
	my ($worker) = split ' ', <$fh> // '';
	close $fh;

	open $fh, '<', "/proc/$worker/status" or return 0;
	my ($rss) = join('', <$fh>) =~ /^VmRSS:\s+(\d+)/m;
	close $fh;

	return $rss;
}

###############################################################################
