#!/usr/bin/perl

# Tests for the export of a zone that fills up: with a zone smaller than
# a batch, the exporter does not wait for a full batch (it never comes) or
# for the interval (an hour here) but exports as soon as the queued spans
# take half the zone, so that no span is dropped.  Without that, the zone
# holds some ten of the 200 spans and drops the rest.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->write_file_expand('nginx.conf',
	<<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint file:%%TESTDIR%%/spans.json;
        interval 1h;
        batch_size 512;
        zone_size 32k;
    }

    otel_trace on;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location / {
            # about 1 kB per span: some ten fit into the zone
            otel_span_attr padding $arg_pad;
            return 200 "ok\n";
        }

        location /status {
            otel_trace off;
            otel_status;
        }
    }
}

EOF

$t->run()->plan(7);

###############################################################################

my $pad = 'x' x 800;

# twenty times what the zone holds, one request after the other

my $served = 0;
for (1 .. 200) {
	$served++ if http_get("/?pad=$pad") =~ /200 OK/;
}

is($served, 200, 'requests served');

my $st = status();
is($st->{spans}{dropped}, 0, 'no span dropped');
is($st->{spans}{queued}, 200, 'all spans queued');

# written long before the interval, in several batches

my @spans = wait_spans($t, 180);
ok(@spans >= 180, 'spans exported while the zone filled: ' . scalar @spans);

my @lines = grep { /\S/ } split /\n/, $t->read_file('spans.json');
ok(@lines >= 10, 'in batches smaller than batch_size: ' . scalar @lines);

$t->stop();

@spans = spans($t);
is(scalar @spans, 200, 'all spans written at stop');

my %ids = map { $_->{spanId} => 1 } @spans;
is(scalar keys %ids, 200, 'no span written twice');

###############################################################################

sub status {
	my $r = http_get('/status');
	my ($body) = $r =~ /\r\n\r\n(.*)/s;
	return decode_json($body);
}

###############################################################################
