#!/usr/bin/perl

# Tests for a collector that is down (connection refused) under load: every
# request is served, nothing is logged as an alert, the workers' memory
# stays bounded, and once the collector is up every queued span is
# delivered, exactly as many as counted exported, none twice.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;
use Test::Load;

use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('protoc')
	->write_file_expand('nginx.conf',
		fault_conf(batch_size => 200, timeout => '2s'));

$t->run()->plan(10);

###############################################################################

# warm up, then the load while the collector is down

my $warm = load($t, clients => 2, requests => 50, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);

my $l = load($t, clients => 4, requests => 2500);

my ($rss1, $anon1) = workers_rss($t);
my $down = otel_status();

is($l->{served}, $l->{planned}, "requests served ($l->{served})");
is($l->{failed} + $l->{unanswered} + $l->{other}, 0,
	'no request failed');
ok($down->{export_requests}{failed} > 0, 'export failures counted');
memory_ok($t, $rss0, $rss1);

# the collector is up: all goes out, once

sleep 1;

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

my $total = $warm->{served} + $l->{served};

my $st = wait_otel_status(sub {
	$_[0]{spans}{pending} == 0 && $_[0]{spans}{exported} >= $total }, 20);

my @spans = otlp_spans($t);
my %ids;
$ids{$_->{spanId}}++ for @spans;

is($st->{spans}{queued} + $st->{spans}{dropped}, $total, 'all spans counted');
is($st->{spans}{dropped}, 0, 'none dropped');
is($st->{spans}{exported}, $total, 'all exported');
is(scalar @spans, $st->{spans}{exported}, 'spans received == exported ('
	. scalar(@spans) . ')');
is(scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no span received twice');
is($st->{zone}{used}, 0, 'zone drained');

fault_note('collector-down',
	requests => $l->{planned}, served => $l->{served},
	resent => $l->{resent}, seconds => $l->{seconds},
	queued => $st->{spans}{queued}, exported => $st->{spans}{exported},
	received => scalar(@spans), dropped => $st->{spans}{dropped},
	rejected => $st->{spans}{rejected},
	export_failed => $st->{export_requests}{failed},
	export_retried => $st->{export_requests}{retried},
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################
