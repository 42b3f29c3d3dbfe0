#!/usr/bin/perl

# Tests for "nginx -s reload" three times under load: every request is
# served, no alert, the old workers exit, the new workers' memory is no
# more than the old ones' by a bound, the zone and its counters carry over,
# and every span is delivered, exactly as many as counted exported, none
# twice.

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

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->run()->plan(12);

###############################################################################

my $warm = load($t, clients => 2, requests => 500, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);
my @before = workers($t);

# a few seconds of load, three reloads meanwhile

my $load = load_start($t, clients => 4, requests => 2500, pause => 0.001);

for (1 .. 3) {
	sleep 0.6;
	$t->reload();
}

my $l = load_wait($load);

ok(wait_old_workers($t, 10), 'old workers exited');

my ($rss1, $anon1) = workers_rss($t);
my @after = workers($t);

my %old = map { $_ => 1 } @before;

is($l->{served}, $l->{planned}, "requests served ($l->{served})");
is($l->{failed} + $l->{unanswered} + $l->{other}, 0,
	'no request failed');
is(scalar(grep { !$old{$_} } @after), 2, 'new workers');
memory_ok($t, $rss0, $rss1);

my @gone = $t->read_file('error.log')
	=~ /(worker process \d+ exited with code 0)/g;
ok(@gone >= 6, 'old workers exited with code 0 (' . scalar(@gone) . ')');

# all spans arrive, once

my $total = $warm->{served} + $l->{served};

my $st = wait_otel_status(sub {
	$_[0]{spans}{pending} == 0 && $_[0]{spans}{exported} >= $total }, 20);

my @spans = otlp_spans($t);
my %ids;
$ids{$_->{spanId}}++ for @spans;

is($st->{spans}{queued}, $total, 'all spans queued, counters carried over');
is($st->{spans}{dropped} + $st->{spans}{rejected}, 0, 'none dropped');
is($st->{spans}{exported}, $total, 'all exported');
is(scalar @spans, $st->{spans}{exported}, 'spans received == exported ('
	. scalar(@spans) . ')');
is(scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no span received twice');
is($st->{zone}{used}, 0, 'zone drained');

fault_note('reload-3x',
	requests => $l->{planned}, served => $l->{served},
	resent => $l->{resent}, slowest_s => $l->{slowest},
	seconds => $l->{seconds},
	queued => $st->{spans}{queued}, exported => $st->{spans}{exported},
	received => scalar(@spans), dropped => $st->{spans}{dropped},
	rejected => $st->{spans}{rejected},
	export_failed => $st->{export_requests}{failed},
	export_requests => scalar(requests($t)),
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################
