#!/usr/bin/perl

# Tests for the tracing decision: otel_trace on, off and $variable, and every
# otel_sampler, the ratio ones checked against the OpenTelemetry SDKs'
# TraceIdRatioBased rule computed here, so that every hop agrees.

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

my $t = Test::Nginx->new()->has(qw/http rewrite map/)
	->write_file_expand('nginx.conf', <<'EOF');

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

    otel_trace_context extract;

    map $arg_trace $trace_switch {
        yes      on;
        one      1;
        default  off;
    }

    log_format ids '$uri $otel_trace_id $otel_span_id $otel_traceparent';
    access_log %%TESTDIR%%/ids.log ids;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location /on {
            otel_trace on;
            return 200;
        }

        location /off {
            otel_trace off;
            return 200;
        }

        location /var {
            otel_trace $trace_switch;
            return 200;
        }

        location /always_off {
            otel_trace on;
            otel_sampler always_off;
            return 200;
        }

        location /ratio {
            otel_trace on;
            otel_sampler traceidratio 0.5;
            return 200;
        }

        location /ratio0 {
            otel_trace on;
            otel_sampler traceidratio 0;
            return 200;
        }

        location /pb_on {
            otel_trace on;
            otel_sampler parentbased_always_on;
            return 200;
        }

        location /pb_off {
            otel_trace on;
            otel_sampler parentbased_always_off;
            return 200;
        }

        location /pb_ratio {
            otel_trace on;
            otel_sampler parentbased_traceidratio 0;
            return 200;
        }
    }
}

EOF

$t->run()->plan(17);

###############################################################################

my $parent = '00-%s-00f067aa0ba902b7-%s';
my $tid = '4bf92f3577b34da6a3ce929d0e0e4736';

# every request carries its own id; spans are read once nginx has stopped
# and written out all it had queued

my $n = 0;
my %case;

sub req {
	my ($name, $uri, $tp) = @_;

	my $id = ++$n;
	my $sep = $uri =~ /\?/ ? '&' : '?';
	my $h = defined $tp ? "traceparent: $tp\r\n" : '';

	http("GET $uri${sep}id=$id HTTP/1.0\r\nHost: localhost\r\n$h\r\n");
	$case{$name} = $id if defined $name;
}

# otel_trace

req('on', '/on');
req('off', '/off');
req('var on', '/var?trace=yes');
req('var 1', '/var?trace=one');
req('var other', '/var?trace=no');

# samplers without a parent

req('always_off', '/always_off');
req('ratio 0', '/ratio0');
req('pb_on root', '/pb_on');
req('pb_off root', '/pb_off');
req('pb_ratio root', '/pb_ratio');

# parent-based samplers follow the parent's flag

req('pb_off sampled parent', '/pb_off', sprintf($parent, $tid, '01'));
req('pb_on unsampled parent', '/pb_on', sprintf($parent, $tid, '00'));
req('pb_ratio sampled parent', '/pb_ratio', sprintf($parent, $tid, '01'));

# the ratio decision is taken from the trace id: ids on both sides of
# the 0.5 boundary, (low 64 bits >> 1) < 2^62

my $below = '0123456789abcdef' . '7ffffffffffffffe';
my $above = '0123456789abcdef' . '8000000000000000';

req('ratio below', '/ratio', sprintf($parent, $below, '00'));
req('ratio above', '/ratio', sprintf($parent, $above, '01'));

# many random roots

req(undef, '/ratio') for 1 .. 200;

$t->stop();

my %spans = map { ($_->{attrs}{'url.query'} =~ /id=(\d+)/)[0] => $_ }
	spans($t);

sub exported {
	return exists $spans{$case{$_[0]}} ? 1 : 0;
}

is(exported('on'), 1, 'otel_trace on');
is(exported('off'), 0, 'otel_trace off');
is(exported('var on'), 1, 'otel_trace $variable "on"');
is(exported('var 1'), 1, 'otel_trace $variable "1"');
is(exported('var other'), 0, 'otel_trace $variable other');

is(exported('always_off'), 0, 'always_off');
is(exported('ratio 0'), 0, 'traceidratio 0');
is(exported('pb_on root'), 1, 'parentbased_always_on root');
is(exported('pb_off root'), 0, 'parentbased_always_off root');
is(exported('pb_ratio root'), 0, 'parentbased_traceidratio 0 root');

is(exported('pb_off sampled parent'), 1,
	'parentbased_always_off, sampled parent');
is(exported('pb_on unsampled parent'), 0,
	'parentbased_always_on, unsampled parent');
is(exported('pb_ratio sampled parent'), 1,
	'parentbased_traceidratio, sampled parent');

is(exported('ratio below'), 1, 'ratio: id below the bound sampled');
is(exported('ratio above'), 0,
	'ratio: id at the bound not sampled, whatever the parent says');

# each random root's decision equals the SDK rule for its id, in the
# exported spans and in the flags sent on ($otel_traceparent)

my %exported = map { $_->{traceId} => 1 } values %spans;

my ($agree, $total, $sampled) = (0, 0, 0);

for my $line (split /\n/, $t->read_file('ids.log')) {
	my ($uri, $trace, $span, $tp) = split ' ', $line;
	next unless $uri eq '/ratio' && $tp !~ /^00-0123456789abcdef/;

	my $rule = ratio_sampled($trace, 0.5);

	$total++;
	$sampled++ if $exported{$trace};
	$agree++ if ($exported{$trace} ? 1 : 0) == $rule
		&& substr($tp, -2) eq ($rule ? '03' : '02');
}

is($agree, $total, "ratio decisions agree with the SDK rule ($total)");
ok($sampled > 50 && $sampled < 150, "about half sampled ($sampled)");

###############################################################################
