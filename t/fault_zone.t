#!/usr/bin/perl

# Tests for a full zone under load (the smallest zone_size, a collector
# answering after 0.5 s): every request is served, new spans are dropped
# and counted, the zone never holds more than its size, the warning is
# logged at most once a second by each worker, no alert (an allocation
# failure in the zone is no alert), the workers' memory stays bounded,
# and every span queued is delivered, exactly as many as counted exported,
# none twice.

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
		fault_conf(batch_size => 20, timeout => '5s', zone_size => '32k'));

$t->write_file('collector.mode', "delay=0.5\n");

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->run()->plan(14);

###############################################################################

my $warm = load($t, clients => 2, requests => 500, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);

# a few seconds of load, each client pausing 1 ms between requests

my $l = load($t, clients => 4, requests => 2500, pause => 0.001);

my ($rss1, $anon1) = workers_rss($t);
my $slow = otel_status();

is($l->{served}, $l->{planned}, "requests served ($l->{served})");
is($l->{failed} + $l->{unanswered} + $l->{other}, 0,
	'no request failed');
ok($l->{slowest} < 1, "requests not delayed (slowest $l->{slowest} s)");
ok($slow->{zone}{used} <= $slow->{zone}{size},
	"zone bounded ($slow->{zone}{used} of $slow->{zone}{size})");
memory_ok($t, $rss0, $rss1);

# it catches up, still slow

my $total = $warm->{served} + $l->{served};

my $st = wait_otel_status(sub {
	$_[0]{spans}{queued} + $_[0]{spans}{dropped} >= $total
	&& $_[0]{spans}{exported} + $_[0]{spans}{rejected}
		>= $_[0]{spans}{queued} }, 25);

my @spans = otlp_spans($t);
my %ids;
$ids{$_->{spanId}}++ for @spans;

is($st->{spans}{queued} + $st->{spans}{dropped}, $total,
	'all spans counted queued or dropped');
ok($st->{spans}{dropped} > 0, "spans dropped ($st->{spans}{dropped})");
is($st->{spans}{rejected}, 0, 'none rejected');
is($st->{export_requests}{failed}, 0, 'no export request failed');
is($st->{spans}{exported}, $st->{spans}{queued}, 'all queued exported');
is(scalar @spans, $st->{spans}{exported}, 'spans received == exported ('
	. scalar(@spans) . ')');
is(scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no span received twice');
is($st->{zone}{used}, 0, 'zone drained');

# "zone is full" at most once a second by each worker

my %full;

for ($t->read_file('error.log') =~ /^(.*otel zone is full.*)$/mg) {
	my ($time, $pid) = /^\S+ (\S+) \[warn\] (\d+)#/ or next;
	$full{"$time $pid"}++;
}

my @twice = grep { $full{$_} > 1 } keys %full;

ok(%full && !@twice, 'full zone logged at most once a second ('
	. scalar(keys %full) . ' lines)');

fault_note('zone-full',
	requests => $l->{planned}, served => $l->{served},
	resent => $l->{resent}, slowest_s => $l->{slowest},
	seconds => $l->{seconds},
	queued => $st->{spans}{queued}, exported => $st->{spans}{exported},
	received => scalar(@spans), dropped => $st->{spans}{dropped},
	rejected => $st->{spans}{rejected},
	export_failed => $st->{export_requests}{failed},
	export_retried => $st->{export_requests}{retried},
	export_requests => scalar(requests($t)),
	zone_size => $st->{zone}{size}, full_lines => scalar(keys %full),
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################
