#!/usr/bin/perl

# Tests for the OTLP exporter when a worker dies (SIGKILL) with batches in
# flight: the zone is not wedged, the batches the dead worker had claimed
# become claimable again and the new worker exports them.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;

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
        endpoint http://127.0.0.1:8082;
        protocol http/protobuf;
        interval 100ms;
        batch_size 5;
        batch_count 2;
        timeout 10s;
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

$t->write_file('collector.hang', '');

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

# the master logs the killed worker as an alert: checked below instead

$t->run()->todo_alerts()->plan(7);

###############################################################################

http_get("/before/$_") for 1 .. 10;

# both batches are in flight, unanswered

my @hung = wait_requests($t,
	sub { (grep { $_->{status} eq 'hang' } @_) >= 2 }, 10);
is(scalar(grep { $_->{status} eq 'hang' } @hung), 2, 'two batches in flight');

my $worker = worker($t);
kill 'KILL', $worker;

unlink $t->testdir() . '/collector.hang';

# the new worker takes them over: no "timeout" to wait for, the owner is gone

my $t0 = time();
my @spans = wait_otlp_spans($t, 10, 8);
my $took = time() - $t0;

is(scalar(grep { $_->{attrs}{'url.path'} =~ m!^/before/! } @spans), 10,
	'spans of the killed worker exported');
ok($took < 5, sprintf('taken over before their expiry (%.1f s)', $took));

like($t->read_file('error.log'),
	qr/\[notice\] .*otel exporter: 10 spans claimed by a worker that is gone are queued again/,
	'take over logged');

# the zone works on

http_get("/after/$_") for 1 .. 5;

@spans = wait_otlp_spans($t, 15, 5);
is(scalar(grep { $_->{attrs}{'url.path'} =~ m!^/after/! } @spans), 5,
	'the zone is not wedged');

my $st = wait_otel_status(sub { $_[0]{spans}{exported} >= 15 });
is_deeply([ @{ $st->{spans} }{qw/ queued exported pending /},
	$st->{zone}{used} ], [ 15, 15, 0, 0 ], 'counters');

my @alerts = grep { !/worker process $worker exited on signal 9/ }
	$t->alerts();
is(join("\n", @alerts), '', 'no other alerts');

###############################################################################

sub worker {
	my ($t) = @_;

	my ($master) = $t->read_file('nginx.pid') =~ /(\d+)/;

	open my $fh, '<', "/proc/$master/task/$master/children"
		or die "children: $!\n";
	my ($worker) = split ' ', <$fh> // '';
	close $fh;

	return $worker;
}

###############################################################################
