#!/usr/bin/perl

# Tests for the OTLP exporter at "nginx -s quit": what is queued is
# exported before the worker exits (also the span of a request that ends
# during the shutdown), without waiting for "timeout" when all is sent;
# with the collector down or hanging, the worker exits within "timeout",
# or at worker_shutdown_timeout if that comes first; a fast shutdown does
# not wait.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx qw/ :DEFAULT http_end /;
use Test::OTLP;

use POSIX qw/ _exit /;
use Time::HiRes qw/ time sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# an hour-long interval and large batches: spans leave only at exit

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;
%%MAIN%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%


    otel_exporter {
        endpoint %%ENDPOINT%%;
        protocol %%PROTOCOL%%;
        interval 1h;
        batch_size 8;
        batch_count 2;
        timeout %%TIMEOUT%%;
    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;

        location / {
            return 200 "ok\n";
        }

        location /slow {
            limit_rate 10k;
        }
    }
}

EOF

# the gRPC receiver is another nginx: a stopping one accepts no connections

my $receiver = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8083 http2;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8082;
            proxy_http_version 1.1;
            proxy_hide_header X-Grpc-Status;
            add_trailer grpc-status $upstream_http_x_grpc_status always;
        }
    }
}

EOF

my $t = Test::Nginx->new()->has(qw/http proxy http_v2/)->has_daemon('protoc');

$t->write_file('slow', 'x' x 15000);

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

my $r = Test::Nginx->new()->write_file_expand('nginx.conf', $receiver)->run();

run_with($t, 'http/protobuf', 'http://127.0.0.1:8082', '10s');

$t->plan(16);

###############################################################################

my ($took, @spans, %ids);

# the collector is up: full batches go at once, the rest at quit

http_get("/$_") for 1 .. 20;

sleep 0.3;
is(scalar otlp_spans($t), 16, 'full batches sent before quit');

$took = stop($t);

@spans = otlp_spans($t);
%ids = map { $_->{spanId} => 1 } @spans;
is(scalar keys %ids, 20, 'quit: queued spans exported');
is(scalar @spans, 20, 'quit: each once');
ok($took < 3, "quit: without waiting for timeout ($took s)");

# the same over grpc

run_with($t, 'grpc', 'http://127.0.0.1:8083', '10s');

http_get("/$_") for 1 .. 20;

$took = stop($t);
@spans = otlp_spans($t);
is(scalar @spans, 20, 'grpc quit: queued spans exported');
ok($took < 3, "grpc quit: without waiting for timeout ($took s)");

# a request that ends during the shutdown: its span goes too

run_with($t, 'http/protobuf', 'http://127.0.0.1:8082', '10s');

http_get("/$_") for 1 .. 3;

my $s = http_start("GET /slow HTTP/1.0\r\nHost: localhost\r\n\r\n");

my $pid = fork() // die "fork: $!\n";

if ($pid == 0) {
	http_end($s);
	_exit(0);
}

sleep 0.2;
$took = stop($t);
waitpid($pid, 0);

@spans = otlp_spans($t);
is(scalar @spans, 4, 'late request: all spans exported');
ok((grep { $_->{attrs}{'url.path'} eq '/slow' } @spans),
	'late request: its span too');

# the collector is down: exit within timeout, spans stay in the zone

run_with($t, 'http/protobuf', 'http://127.0.0.1:8085', '2s');

http_get("/$_") for 1 .. 20;

$took = stop($t);
ok($took < 3.5, "down: exit within timeout ($took s)");
ok($took >= 0.4, "down: retried before giving up ($took s)");
like($t->read_file('error.log'),
	qr/\[warn\] .*otel exporter: \d+ spans not exported by this worker are left in the zone|spans left in the zone at exit/,
	'down: logged');

# the collector hangs: the same

run_with($t, 'http/protobuf', 'http://127.0.0.1:8082', '2s');
$t->write_file('collector.hang', '');

http_get("/$_") for 1 .. 20;

$took = stop($t);
ok($took < 3.5, "hang: exit within timeout ($took s)");
is(scalar(grep { ok_status($_) } requests($t)), 0, 'hang: nothing answered');

like($t->read_file('error.log'), qr/left in the zone/, 'hang: logged');

# worker_shutdown_timeout shorter than "timeout": it wins

run_with($t, 'http/protobuf', 'http://127.0.0.1:8082', '10s',
	'worker_shutdown_timeout 1s;');

http_get("/$_") for 1 .. 20;

$took = stop($t);
ok($took < 2.5, "worker_shutdown_timeout: exit at it ($took s)");

# a fast shutdown (TERM) does not wait

run_with($t, 'http/protobuf', 'http://127.0.0.1:8082', '10s');

http_get("/$_") for 1 .. 20;

my ($master) = $t->read_file('nginx.pid') =~ /(\d+)/;
my $t0 = time();
kill 'TERM', $master;
sleep 0.05 while kill(0, $master) && !zombie($master) && time() < $t0 + 10;
$took = sprintf('%.2f', time() - $t0);
$t->stop();

ok($took < 1, "fast shutdown: at once ($took s)");

unlink $t->testdir() . '/collector.hang';

###############################################################################

sub run_with {
	my ($t, $protocol, $endpoint, $timeout, $main) = @_;

	$t->stop();

	(my $c = $conf) =~ s/%%ENDPOINT%%/$endpoint/;
	$c =~ s/%%PROTOCOL%%/$protocol/;
	$c =~ s/%%TIMEOUT%%/$timeout/;
	$c =~ s/%%MAIN%%/$main \/\/ ''/e;

	$t->write_file_expand('nginx.conf', $c);

	unlink glob($t->testdir() . '/otlp/*');
	unlink $t->testdir() . '/error.log';

	$t->run();
}

sub zombie {
	my ($pid) = @_;

	open my $fh, '<', "/proc/$pid/stat" or return 1;
	my $stat = <$fh> // '';
	close $fh;

	return $stat =~ /\)\s+Z\s/;
}

sub stop {
	my ($t) = @_;

	my $t0 = time();
	$t->stop();

	return sprintf('%.2f', time() - $t0);
}

###############################################################################
