#!/usr/bin/perl

# Tests for "nginx -s quit" under load: every request nginx took (its
# access log) is served, later connections are refused (or reset, when
# nginx never accepted them), no alert, the workers' memory stays bounded
# until then, nginx exits without waiting for "timeout", and the span of
# every request served is delivered before, none twice.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;
use Test::Load;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('protoc')
	->write_file_expand('nginx.conf',
		fault_conf(batch_size => 200, timeout => '10s', took_log => 1));

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->run()->plan(11);

###############################################################################

my $warm = load($t, clients => 2, requests => 500, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);

# a few seconds of load, "nginx -s quit" in the middle

my $load = load_start($t, clients => 4, requests => 2500, pause => 0.001);

sleep 1.5;

my ($rss1, $anon1) = workers_rss($t);
my $st = otel_status();

memory_ok($t, $rss0, $rss1);

my $t0 = time();
$t->stop();
my $took = sprintf('%.2f', time() - $t0);

my $l = load_wait($load);

my @took = grep { m! /load/! } split /\n/, $t->read_file('took.log');

is($l->{served}, scalar @took, "requests taken served ($l->{served})");
is(scalar(grep { !/^200 / } @took), 0, 'requests taken: all 200');
is($l->{failed} + $l->{other}, 0, 'no request failed');
ok($l->{refused} > 0 && $l->{sent} > 0, "load before and after the quit "
	. "($l->{sent} sent, $l->{refused} refused)");
ok($took < 5, "quit without waiting for timeout ($took s)");

# the spans of all requests served, once

my $total = $warm->{served} + $l->{served};

my @spans = otlp_spans($t);
my %ids;
$ids{$_->{spanId}}++ for @spans;

is(scalar keys %ids, $total, 'spans of all requests served received ('
	. scalar(@spans) . ')');
is(scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no span received twice');
is(scalar(grep { !ok_status($_) } requests($t)), 0, 'no export failed');

my $log = $t->read_file('error.log');

unlike($log, qr/left in the zone/, 'nothing left in the zone');
ok($log =~ /exit$/m, 'master exited');

fault_note('quit',
	requests => $l->{planned}, sent => $l->{sent}, served => $l->{served},
	refused_after_quit => $l->{refused},
	reset_never_accepted => $l->{unanswered}, resent => $l->{resent},
	slowest_s => $l->{slowest}, seconds => $l->{seconds},
	quit_s => $took, queued_at_quit => $st->{spans}{queued},
	received => scalar(@spans), export_requests => scalar(requests($t)),
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################
