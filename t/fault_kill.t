#!/usr/bin/perl

# Tests for workers killed with SIGKILL under load (three times): every
# request is served (those in flight on a killed worker are sent again, as
# a client does), the only alerts are the master's about the killed
# workers, the zone's lock is not left held (spans still flow, otel_status
# answers), the workers' memory stays bounded, and every span queued is
# delivered, as many as counted exported; a span is received twice only if
# its batch was in flight at a kill (delivery is at least once).

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
		fault_conf(batch_size => 200, timeout => '2s', zone_size => '1100k'));

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

# the master logs each killed worker as an alert: checked below instead

$t->run()->todo_alerts()->plan(14);

###############################################################################

my $warm = load($t, clients => 2, requests => 500, uri => '/warm');
my ($rss0, $anon0) = workers_rss($t);

# a few seconds of load, three kills meanwhile

my $load = load_start($t, clients => 4, requests => 4000, pause => 0.001);
my @killed;

my ($locked, $tries);

for my $n (1 .. 3) {
	sleep 0.6;

	my ($worker) = workers($t);
	push @killed, $worker;

	# the second one while it holds the zone's lock

	($locked, $tries) = kill_locked($worker) if $n == 2;
	kill 'KILL', $worker;

	# the master starts another one

	for (1 .. 50) {
		last if workers($t) == 2;
		sleep 0.02;
	}
}

my $l = load_wait($load);

my ($rss1, $anon1) = workers_rss($t);
my @after = workers($t);

is($l->{served}, $l->{planned}, "requests served ($l->{served})");
is($l->{failed} + $l->{unanswered} + $l->{other}, 0,
	'no request failed');
is(scalar @after, 2, 'workers replaced');
memory_ok($t, $rss0, $rss1);

# the zone works on: otel_status answers, later spans flow

my $during = otel_status();
ok(defined $during->{spans}{queued}, 'otel_status answers');

my $after = load($t, clients => 2, requests => 100, uri => '/after');
is($after->{served}, 200, 'requests served after the kills');

my $total = $warm->{served} + $l->{served} + $after->{served};

my $st = wait_otel_status(sub {
	$_[0]{spans}{pending} == 0
	&& $_[0]{spans}{exported} + $_[0]{spans}{rejected}
		>= $_[0]{spans}{queued} }, 20);

my @spans = otlp_spans($t);
my %ids;
$ids{$_->{spanId}}++ for @spans;

my $dups = grep { $ids{$_} > 1 } keys %ids;

is(scalar(grep { $_->{attrs}{'url.path'} =~ m!^/after/! } @spans), 200,
	'the spans after the kills delivered');
is($st->{spans}{dropped} + $st->{spans}{rejected}, 0, 'none dropped');
is($st->{spans}{exported}, $st->{spans}{queued}, 'all queued exported');
is(scalar keys %ids, $st->{spans}{exported},
	'spans received == exported (' . scalar(keys %ids) . ')');
ok($dups <= 3 * 2 * 200, "received twice: only batches in flight ($dups)");
is($st->{zone}{used}, 0, 'zone drained');

# the lock a killed worker held: the master takes it back

SKIP: {
	skip "the lock not seen held ($tries tries)", 1 unless $locked;

	like($t->read_file('error.log'),
		qr/\[alert\] .*shared memory zone "ngx_otel_module" was locked by $locked$/m,
		"killed holding the zone's lock: unlocked by the master");
}

# the alerts: only those of the killed workers

my $killed = join '|', @killed;
my @alerts = grep {
	!/\[alert\] .*worker process (?:$killed) exited on signal 9/
	&& !/\[alert\] .*shared memory zone "[^"]*" was locked by (?:$killed)$/
} $t->alerts();

is(join("\n", @alerts), '', 'no other alerts');

my @unlocked = $t->read_file('error.log') =~ /(was locked by (?:$killed))$/mg;

fault_note('worker-sigkill',
	requests => $l->{planned}, served => $l->{served},
	resent => $l->{resent}, slowest_s => $l->{slowest},
	seconds => $l->{seconds}, kills => scalar(@killed),
	killed_holding_lock => scalar(@unlocked), lock_probes => $tries,
	queued => $st->{spans}{queued}, exported => $st->{spans}{exported},
	received => scalar(@spans), received_twice => $dups,
	lost_in_flight => $total - $st->{spans}{queued} - $st->{spans}{dropped},
	dropped => $st->{spans}{dropped}, rejected => $st->{spans}{rejected},
	export_failed => $st->{export_requests}{failed},
	export_requests => scalar(requests($t)),
	rss_kb => "$rss0->$rss1", anon_kb => "$anon0->$anon1");

###############################################################################

# stops the worker until it is seen holding the zone's lock, at most 5 s:
# the lock word is the first of the zone's slab pool, at the start of its
# mapping (zone_size 1100k: the only one of that size), and holds the pid
# of its owner; returns the pid (or undef) and the number of tries

sub kill_locked {
	my ($worker) = @_;

	my $addr = zone_addr($worker) or return (undef, 0);
	open my $mem, '<', "/proc/$worker/mem" or return (undef, 0);

	my $end = time() + 5;
	my $tries = 0;

	while (time() < $end) {
		$tries++;

		kill 'STOP', $worker;
		stopped($worker) or last;

		sysseek($mem, $addr, 0) or last;
		sysread($mem, my $word, 8) == 8 or last;

		return ($worker, $tries) if unpack('Q<', $word) == $worker;

		kill 'CONT', $worker;
		sleep rand(0.001);
	}

	kill 'CONT', $worker;

	return (undef, $tries);
}

sub zone_addr {
	my ($pid) = @_;

	no warnings 'portable';

	open my $fh, '<', "/proc/$pid/maps" or return undef;

	while (<$fh>) {
		my ($from, $to) = /^([0-9a-f]+)-([0-9a-f]+) rw-s / or next;
		return hex $from if hex($to) - hex($from) == 1100 * 1024;
	}

	return undef;
}

sub stopped {
	my ($pid) = @_;

	for (1 .. 1000) {
		open my $fh, '<', "/proc/$pid/stat" or return 0;
		my $stat = <$fh> // '';
		close $fh;

		return 1 if $stat =~ /\)\s+[tT]\s/;
	}

	return 0;
}

###############################################################################
