#!/usr/bin/perl

# Tests for the variables: values with and without an incoming parent,
# created lazily where nothing else of the module runs, and equal to the
# exported span and to the headers sent upstream.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

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
        endpoint file:%%TESTDIR%%/spans.json;
        interval 50ms;
    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location /vars {
            otel_trace on;
            otel_trace_context propagate;
            otel_propagators tracecontext b3;

            add_header X-Vars "$otel_trace_id $otel_span_id p=$otel_parent_id s=$otel_parent_sampled";
            add_header X-TP $otel_traceparent;
            add_header X-B3 $otel_b3;

            proxy_pass http://127.0.0.1:8081;
        }

        # no otel_trace, no context handling: the variables still work
        location /plain {
            return 200 "$otel_trace_id $otel_span_id p=$otel_parent_id s=$otel_parent_sampled $otel_traceparent\n";
        }
    }

%%ECHO%%
}

EOF

$conf =~ s/%%ECHO%%/echo_server_conf()/e;

my $t = Test::Nginx->new()->has(qw/http rewrite proxy/)
	->write_file_expand('nginx.conf', $conf);

$t->run()->plan(16);

###############################################################################

my $tid = '4bf92f3577b34da6a3ce929d0e0e4736';
my $pid = '00f067aa0ba902b7';

sub hdr {
	my ($r, $name) = @_;
	return ($r =~ /^$name: ([^\r]*)/mi)[0];
}

# without a parent

my $r = http_get('/vars');
my ($trace, $span, $p, $s) = hdr($r, 'X-Vars') =~ /^(\S+) (\S+) p=(\S*) s=(\S)/;

like($trace, qr/^[0-9a-f]{32}$/, 'trace id');
like($span, qr/^[0-9a-f]{16}$/, 'span id');
is("$p $s", ' 0', 'no parent: empty parent id, parent not sampled');
is(hdr($r, 'X-TP'), "00-$trace-$span-03", 'traceparent variable');
is(hdr($r, 'X-B3'), "$trace-$span-1", 'b3 variable');
like($r, qr/^traceparent: \Q00-$trace-$span-03\E$/m,
	'upstream got the traceparent variable');

my ($exported) = grep { $_->{traceId} eq $trace } wait_spans($t, 1);
is($exported && $exported->{spanId}, $span, 'span id equals the exported');

# with a sampled and an unsampled parent

$r = http("GET /vars HTTP/1.0\r\nHost: localhost\r\n"
	. "traceparent: 00-$tid-$pid-01\r\n\r\n");
($trace, $span, $p, $s) = hdr($r, 'X-Vars') =~ /^(\S+) (\S+) p=(\S*) s=(\S)/;

is("$trace $p $s", "$tid $pid 1", 'sampled parent');
isnt($span, $pid, 'own span id');
is(hdr($r, 'X-TP'), "00-$tid-$span-01", 'traceparent continues the trace');

$r = http("GET /vars HTTP/1.0\r\nHost: localhost\r\n"
	. "b3: $tid-$pid-0\r\n\r\n");
($trace, $span, $p, $s) = hdr($r, 'X-Vars') =~ /^(\S+) (\S+) p=(\S*) s=(\S)/;

is("$trace $p $s", "$tid $pid 0", 'unsampled b3 parent');
is(hdr($r, 'X-B3'), "$tid-$span-1", 'always_on samples it anyway');

my @spans = wait_spans($t, 3);
($exported) = grep { $_->{spanId} eq $span } @spans;
is($exported && $exported->{parentSpanId}, $pid, 'exported with its parent');

# lazily created where the module does nothing else

$r = http("GET /plain HTTP/1.0\r\nHost: localhost\r\n"
	. "traceparent: 00-$tid-$pid-01\r\n\r\n");
my ($pt, $ps, $pp, $psamp, $ptp) =
	$r =~ /\r\n\r\n(\S+) (\S+) p=(\S*) s=(\S) (\S+)/;

like($pt, qr/^[0-9a-f]{32}$/, 'lazy context: trace id');
isnt($pt, $tid, 'lazy context: nothing extracted without extract');
is($ptp, "00-$pt-$ps-02", 'lazy context: not traced, not sampled');

###############################################################################
