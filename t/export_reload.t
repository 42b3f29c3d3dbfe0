#!/usr/bin/perl

# Tests for the OTLP exporter across "nginx -s reload" under load: the
# zone is reused, old workers export what was queued when they were told
# to stop, new workers the rest; every request answered has its span
# received, and no span is received twice.  With the collector hanging,
# the old workers give their batches back and the new ones send them.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;

use POSIX qw/ _exit /;
use Time::HiRes qw/ time sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('protoc')
	->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint http://127.0.0.1:8082;
        protocol http/protobuf;
        interval 50ms;
        batch_size 20;
        batch_count 2;
        timeout 2s;
    }

    log_format ids '$otel_span_id $status';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;
        access_log %%TESTDIR%%/ids.log ids;

        location / {
            return 200 "ok\n";
        }

        location /status {
            otel_trace off;
            access_log off;
            otel_status;
        }
    }
}

EOF

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

$t->run()->plan(11);

###############################################################################

my $clients = 4;
my $dir = $t->testdir();

# the load: clients sending requests one after another until told to stop,
# counting what they sent and the 200s

my @pids;

for my $c (1 .. $clients) {
	my $pid = fork() // die "fork: $!\n";

	if ($pid == 0) {
		my ($sent, $ok) = (0, 0);

		while (!-e "$dir/stop") {
			my $r = http_get("/c$c/" . ++$sent);
			$ok++ if $r && $r =~ /^HTTP\/1\.1 200/;
		}

		open my $fh, '>', "$dir/client.$c" or _exit(1);
		print $fh "$sent $ok\n";
		close $fh;

		_exit(0);
	}

	push @pids, $pid;
}

# three reloads while the load runs

my $reloads = 0;

for (1 .. 3) {
	sleep 0.4;
	$t->reload();
	$reloads++;
}

sleep 0.4;
$t->write_file('stop', '');

waitpid($_, 0) for @pids;

my ($sent, $answered) = (0, 0);

for (1 .. $clients) {
	my ($s, $a) = split ' ', $t->read_file("client.$_");
	$sent += $s;
	$answered += $a;
}

is($answered, $sent, "requests answered under reloads ($answered)");

my @gone = grep { /gracefully shutting down/ }
	split /\n/, $t->read_file('error.log');
ok(@gone >= 2, 'old workers stopped gracefully (' . scalar(@gone) . ')');

# all spans arrive, once

my @spans = wait_otlp_spans($t, $answered, 15);

my %ids;
$ids{$_->{spanId}}++ for @spans;

my @logged = map { (split ' ')[0] } split /\n/, $t->read_file('ids.log');

is(scalar @logged, $answered, 'access log lines');
is(scalar @spans, $answered, "spans received ($answered requests, "
	. scalar(@spans) . " spans)");
is(scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no span twice');
is(scalar(grep { !$ids{$_} } @logged), 0, 'every request has its span');

my $st = wait_otel_status(sub { $_[0]{spans}{exported} >= $answered });

is_deeply([ @{ $st->{spans} }{qw/ queued exported dropped pending /} ],
	[ $answered, $answered, 0, 0 ], 'counters across reloads');

diag("$reloads reloads, $answered requests, " . scalar(@spans)
	. " spans received, " . scalar(requests($t)) . " export requests")
	if $ENV{TEST_NGINX_VERBOSE};

# the collector answering, the old workers flushed all they had taken

unlike($t->read_file('error.log'), qr/left in the zone/,
	'old workers flushed, gave nothing back');

# a reload while the collector hangs: the old workers give their unanswered
# batches back to the zone at "timeout", the new workers send them again

$t->write_file('collector.hang', '');

http_get("/hung/$_") for 1 .. 30;

wait_requests($t, sub { (grep { $_->{status} eq 'hang' } @_) >= 2 });

$t->reload();
sleep 0.5;

unlink "$dir/collector.hang";

@spans = wait_otlp_spans($t, $answered + 30, 10);

my @hung = grep { $_->{attrs}{'url.path'} =~ m!^/hung/! } @spans;
%ids = ();
$ids{$_->{spanId}}++ for @hung;

is(scalar keys %ids, 30, 'hung batches delivered after the reload');
is(scalar @hung, 30, 'hung batches delivered once');
like($t->read_file('error.log'),
	qr/spans not exported by this worker are left in the zone|left in the zone at exit/,
	'hung batches given back by the old workers');

###############################################################################
