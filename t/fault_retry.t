#!/usr/bin/perl

# Tests for a collector that answers 503 and then 429, with Retry-After,
# under load: every request is served, no alert, the workers' memory stays
# bounded, each refused batch is sent again no sooner than Retry-After
# says, and every span is delivered, exactly as many as counted exported,
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

use Time::HiRes qw/ stat /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('protoc')
	->write_file_expand('nginx.conf',
		fault_conf(batch_size => 200, timeout => '1s'));

$t->write_file('collector.plan', ("503 retry-after=1\n" x 3)
	. ("429 retry-after=2\n" x 3));

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->run()->plan(12);

###############################################################################

my $warm = load($t, clients => 2, requests => 500, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);

# a few seconds of load, each client pausing 1 ms between requests

my $l = load($t, clients => 4, requests => 2500, pause => 0.001);

my ($rss1, $anon1) = workers_rss($t);

is($l->{served}, $l->{planned}, "requests served ($l->{served})");
is($l->{failed} + $l->{unanswered} + $l->{other}, 0,
	'no request failed');
ok($l->{slowest} < 1, "requests not delayed (slowest $l->{slowest} s)");
memory_ok($t, $rss0, $rss1);

# the refused batches go again after Retry-After, then all

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
is($st->{export_requests}{retried}, 6, 'retries counted');

# a refused body is sent again with the same bytes: how long after

my @reqs = requests($t);
my @waited;

for my $i (0 .. $#reqs) {
	my ($code) = $reqs[$i]{status} =~ /^(503|429)$/ or next;
	my $after = $code == 503 ? 1 : 2;

	my ($again) = grep { $_->{body} eq $reqs[$i]{body} }
		@reqs[$i + 1 .. $#reqs];

	my $d = $again ? mtime($again) - mtime($reqs[$i]) : -1;

	push @waited, [ $code, $after, $d ];
}

is(scalar(grep { $_->[2] < $_->[1] - 0.05 } @waited), 0,
	'Retry-After honoured (waited ' . waited(@waited) . ')');

fault_note('collector-503-429',
	requests => $l->{planned}, served => $l->{served},
	resent => $l->{resent}, slowest_s => $l->{slowest},
	seconds => $l->{seconds},
	queued => $st->{spans}{queued}, exported => $st->{spans}{exported},
	received => scalar(@spans), dropped => $st->{spans}{dropped},
	rejected => $st->{spans}{rejected},
	export_failed => $st->{export_requests}{failed},
	export_retried => $st->{export_requests}{retried},
	export_requests => scalar(@reqs), waited_s => waited(@waited),
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################

sub waited {
	return join(',', map { sprintf('%s:%.2f', $_->[0], $_->[2]) } @_);
}

sub mtime {
	my ($req) = @_;
	return (stat $req->{file})[9];
}

###############################################################################
