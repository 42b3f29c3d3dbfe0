#!/usr/bin/perl

# Tests for the OTLP exporter's answers to failures: retryable HTTP
# statuses (429, 502, 503, 504) and a closed connection are retried with
# the same spans, after Retry-After when given, and delivered exactly once;
# other statuses drop the batch with one error line; partial success is
# logged; the same for gRPC status codes (UNAVAILABLE retried,
# INVALID_ARGUMENT and RESOURCE_EXHAUSTED without details dropped).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTLP;

use JSON::PP;
use POSIX qw//;
use Time::HiRes qw/ time sleep /;



###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint %%ENDPOINT%%;
        protocol %%PROTOCOL%%;
        interval 50ms;
        batch_size 1;
        timeout 1s;
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

    server {
        listen       127.0.0.1:8083 http2;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8082;
            proxy_http_version 1.1;
            proxy_hide_header X-Grpc-Status;
            proxy_hide_header X-Grpc-Message;
            add_trailer grpc-status $upstream_http_x_grpc_status always;
            add_trailer grpc-message $upstream_http_x_grpc_message always;
        }
    }
}

EOF

my $t = Test::Nginx->new()->has(qw/http proxy http_v2/)->has_daemon('protoc');

$t->run_daemon(\&collector, port(8082), $t->testdir());
$t->waitforsocket('127.0.0.1:' . port(8082)) or die "no collector";

run_with($t, 'http/protobuf');

$t->plan(37);

###############################################################################

my ($reqs, $log, $st, $delay);

# 503 with Retry-After, then delivered once, after the delay

($reqs, $log) = scenario($t, '/503', "503 retry-after=1\n");
is_deeply([ map { $_->{status} } @$reqs ], [ 503, 200 ], '503: retried');
is($reqs->[0]{body}, $reqs->[1]{body}, '503: the same body again');
ok($reqs->[1]{time} - $reqs->[0]{time} >= 0.9, '503: after Retry-After');
is(spans_of($reqs), 1, '503: delivered once');
like($log, qr/\[warn\].*answered 503, retrying 1 spans in 1000 ms/,
	'503: logged');

# Retry-After as an HTTP-date, two seconds ahead

my $date = POSIX::strftime('%a,_%d_%b_%Y_%H:%M:%S_GMT', gmtime(time() + 2));

($reqs) = scenario($t, '/date', "503 retry-after=$date\n");
is_deeply([ map { $_->{status} } @$reqs ], [ 503, 200 ], 'date: retried');
$delay = $reqs->[1]{time} - $reqs->[0]{time};
ok($delay >= 0.9 && $delay < 2.5, "date: after Retry-After ($delay s)");

# 429 without Retry-After: backoff

($reqs) = scenario($t, '/429', "429\n");
is_deeply([ map { $_->{status} } @$reqs ], [ 429, 200 ], '429: retried');
$delay = $reqs->[1]{time} - $reqs->[0]{time};
ok($delay >= 0.4 && $delay < 2, "429: backoff ($delay s)");

# 502, 504: retried

($reqs) = scenario($t, '/gateway', "502\n504\n", 10);
is_deeply([ map { $_->{status} } @$reqs ], [ 502, 504, 200 ],
	'502, 504: retried');
is(scalar(grep { $_->{body} ne $reqs->[0]{body} } @$reqs), 0,
	'502, 504: the same body');
is(spans_of($reqs), 1, '502, 504: delivered once');

# 400: dropped at once, one error line

($reqs, $log) = scenario($t, '/400', "400\n", 2);
is_deeply([ map { $_->{status} } @$reqs ], [ 400 ], '400: not retried');
my @l = grep { /otel exporter/ && !/\[debug\]/ } split /\n/, $log;
is(scalar @l, 1, '400: one log line');
like($l[0], qr!\[error\] .*otel exporter: "http://127\.0\.0\.1:\d+/v1/traces" answered 400, 1 spans dropped$!,
	'400: the line');

# partial success

($reqs, $log) = scenario($t, '/partial', "200 rejected=1 msg=bad-span\n");
is(scalar @$reqs, 1, 'partial: one request');
like($log, qr/\[warn\].*otel exporter: partial success, 1 spans rejected: bad-span/,
	'partial: logged');

$st = status($t, 11);
is_deeply([ @{ $st->{spans} }{qw/ exported rejected /} ], [ 4, 2 ],
	'http: spans exported and rejected');
is_deeply([ @{ $st->{export_requests} }{qw/ sent failed retried /} ],
	[ 11, 6, 5 ], 'http: requests sent, failed, retried');

# gRPC: the same through nginx's HTTP/2 server

run_with($t, 'grpc');

($reqs, $log) = scenario($t, '/unavailable', "200 grpc=14 msg=down\n");
is_deeply([ map { $_->{status} } @$reqs ], [ '200g14', 200 ],
	'grpc 14: retried');
is(spans_of([ $reqs->[1] ]), 1, 'grpc 14: then delivered');
like($log, qr/\[warn\].*answered grpc-status 14 "down", retrying 1 spans/,
	'grpc 14: logged');

($reqs, $log) = scenario($t, '/invalid', "200 grpc=3 msg=bad%20request\n", 2);
is(scalar @$reqs, 1, 'grpc 3: not retried');
@l = grep { /otel exporter/ && !/\[debug\]/ } split /\n/, $log;
is(scalar @l, 1, 'grpc 3: one log line');
like($l[0], qr/\[error\].*answered grpc-status 3 "bad%20request", 1 spans dropped$/,
	'grpc 3: the line');

($reqs) = scenario($t, '/exhausted', "200 grpc=8\n", 2);
is(scalar @$reqs, 1, 'grpc 8 without details: not retried');

($reqs) = scenario($t, '/503', "503\n");
is_deeply([ map { $_->{status} } @$reqs ], [ 503, 200 ],
	'grpc over HTTP 503: retried');

($reqs, $log) = scenario($t, '/partial', "200 rejected=1 msg=bad-span\n");
is(scalar @$reqs, 1, 'grpc partial: one request');
like($log, qr/partial success, 1 spans rejected: bad-span/,
	'grpc partial: logged');

$st = status($t, 7);
is_deeply([ @{ $st->{spans} }{qw/ exported rejected /} ], [ 2, 3 ],
	'grpc: spans exported and rejected');
is_deeply([ @{ $st->{export_requests} }{qw/ sent failed retried /} ],
	[ 7, 4, 2 ], 'grpc: requests sent, failed, retried');

# http/json: partial success in JSON

run_with($t, 'http/json');

($reqs, $log) = scenario($t, '/json', "200 rejected=1 msg=bad-json\n");
is(scalar @$reqs, 1, 'json partial: one request');
like($log, qr/partial success, 1 spans rejected: bad-json/,
	'json partial: logged');

($reqs) = scenario($t, '/json503', "503\n");
is_deeply([ map { $_->{status} } @$reqs ], [ 503, 200 ], 'json 503: retried');
is(spans_of($reqs), 1, 'json 503: delivered once');

# a connection closed without an answer (retried by us, or by libcurl
# itself when the connection was a kept-alive one)

($reqs) = scenario($t, '/close', "close\n");
is_deeply([ map { $_->{status} } @$reqs ], [ 'close', 200 ], 'close: retried');
is(spans_of($reqs), 1, 'close: delivered once');

###############################################################################

sub run_with {
	my ($t, $protocol) = @_;

	$t->stop();

	my $endpoint = $protocol eq 'grpc' ? 'http://127.0.0.1:8083'
		: 'http://127.0.0.1:8082';

	(my $c = $conf) =~ s/%%ENDPOINT%%/$endpoint/;
	$c =~ s/%%PROTOCOL%%/$protocol/;

	$t->write_file_expand('nginx.conf', $c);

	unlink glob($t->testdir() . '/otlp/*');
	unlink $t->testdir() . '/error.log';

	$t->run();
}

# one request whose only span meets the collector's plan; waits until the
# span is delivered (2xx) or $wait seconds passed; returns the requests
# that carried it (with the time they were saved) and the new log lines

sub scenario {
	my ($t, $uri, $plan, $wait) = @_;

	my $dir = $t->testdir();
	my @before = map { $_->{name} } requests($t);
	my $logsize = -s "$dir/error.log";

	$t->write_file('collector.plan', $plan);

	http_get($uri);

	my $end = time() + ($wait // 5);
	my @mine;

	for ( ;; ) {
		my %old = map { $_ => 1 } @before;
		@mine = grep { !$old{$_->{name}} } requests($t);
		last if grep { ok_status($_) } @mine;
		last if time() >= $end;
		sleep 0.05;
	}

	for (@mine) {
		$_->{time} = (Time::HiRes::stat("$dir/otlp/$_->{name}.body"))[9];
	}

	open my $fh, '<', "$dir/error.log" or die "error.log: $!\n";
	seek $fh, $logsize, 0;
	local $/;
	my $log = <$fh>;
	close $fh;

	return (\@mine, $log);
}

sub spans_of {
	my ($reqs) = @_;
	my %ids = map { $_->{spanId} => 1 }
		map { request_spans($_) } grep { ok_status($_) } @$reqs;
	return scalar keys %ids;
}

# the counters, once $sent requests are done with (or after 3 s)

sub status {
	my ($t, $sent) = @_;

	my $st;

	for (1 .. 60) {
		my $r = http_get('/status');
		$r =~ s/^.*?\r\n\r\n//s;
		$st = decode_json($r);
		last if $st->{export_requests}{sent} >= $sent;
		sleep 0.05;
	}

	return $st;
}

###############################################################################
