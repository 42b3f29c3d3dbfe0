#!/usr/bin/perl

# Tests for a collector that hangs (reads the requests, never answers)
# under load: every request is served without waiting for the collector,
# no alert, the workers' memory stays bounded; the export requests time out
# and are retried, and once the collector answers every span is delivered,
# exactly as many as counted exported, none twice.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;
use Test::Load;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('protoc')
	->write_file_expand('nginx.conf',
		fault_conf(batch_size => 200, timeout => '1s'));

$t->write_file('collector.hang', '');

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->run()->plan(11);

###############################################################################

my $warm = load($t, clients => 2, requests => 500, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);

# a few seconds of load, each client pausing 1 ms between requests

my $l = load($t, clients => 4, requests => 2500, pause => 0.001);

my ($rss1, $anon1) = workers_rss($t);
my $hung = otel_status();

is($l->{served}, $l->{planned}, "requests served ($l->{served})");
is($l->{failed} + $l->{unanswered} + $l->{other}, 0,
	'no request failed');
ok($l->{slowest} < 1, "requests not delayed (slowest $l->{slowest} s)");
ok($hung->{export_requests}{failed} > 0,
	"timeouts counted ($hung->{export_requests}{failed})");
memory_ok($t, $rss0, $rss1);

# the collector answers again

unlink $t->testdir() . '/collector.hang';

my $total = $warm->{served} + $l->{served};

my $st = wait_otel_status(sub {
	$_[0]{spans}{pending} == 0 && $_[0]{spans}{exported} >= $total }, 20);

my @spans = otlp_spans($t);
my %ids;
$ids{$_->{spanId}}++ for @spans;

is($st->{spans}{queued}, $total, 'all spans queued');
is($st->{spans}{dropped} + $st->{spans}{rejected}, 0, 'none dropped');
is($st->{spans}{exported}, $total, 'all exported');
is(scalar @spans, $st->{spans}{exported}, 'spans received == exported ('
	. scalar(@spans) . ')');
is(scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no span received twice');
is($st->{zone}{used}, 0, 'zone drained');

fault_note('collector-hanging',
	requests => $l->{planned}, served => $l->{served},
	resent => $l->{resent}, slowest_s => $l->{slowest},
	seconds => $l->{seconds},
	queued => $st->{spans}{queued}, exported => $st->{spans}{exported},
	received => scalar(@spans), dropped => $st->{spans}{dropped},
	rejected => $st->{spans}{rejected},
	export_failed => $st->{export_requests}{failed},
	export_retried => $st->{export_requests}{retried},
	hung_requests => scalar(grep { $_->{status} eq 'hang' } requests($t)),
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################
