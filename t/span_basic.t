#!/usr/bin/perl

# Tests for the SERVER span of a simple request: ids, name, kind, times,
# the resource and the HTTP attributes, read back from the file exporter.

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

my $t = Test::Nginx->new()->has(qw/http rewrite/)
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

    otel_service_name test-gateway;
    otel_resource_attr deployment.environment test;
    otel_trace on;

    log_format ids '$otel_trace_id $otel_span_id';
    access_log %%TESTDIR%%/ids.log ids;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location /api/ {
            return 200 "api\n";
        }

        location /fail {
            return 503;
        }
    }
}

EOF

$t->run()->plan(19);

###############################################################################

like(http(<<EOF), qr/200 OK/, 'request served');
GET /api/items?id=7 HTTP/1.1
Host: example.test:8080
User-Agent: span-test/1.0
Connection: close

EOF

like(http_get('/fail'), qr/503/, 'error served');

my @spans = wait_spans($t, 2);
is(scalar @spans, 2, 'two spans');

my ($s) = grep { $_->{name} eq 'GET /api/' } @spans;
ok($s, 'span named after method and location');

like($s->{traceId}, qr/^[0-9a-f]{32}$/, 'trace id hex');
like($s->{spanId}, qr/^[0-9a-f]{16}$/, 'span id hex');
is($s->{parentSpanId}, '', 'root span');
is($s->{kind}, 2, 'kind SERVER');
ok($s->{end} >= $s->{start} && $s->{start} > 1.7e18, 'nanosecond times');

my $a = $s->{attrs};
is_deeply([ @$a{qw/ http.request.method url.path url.query url.scheme
	http.route http.response.status_code /} ],
	[ 'GET', '/api/items', 'id=7', 'http', '/api/', 200 ],
	'request attributes');
is_deeply([ @$a{qw/ server.address server.port network.protocol.version
	user_agent.original /} ],
	[ 'example.test', 8080, '1.1', 'span-test/1.0' ],
	'host and protocol attributes');
is($a->{'client.address'}, '127.0.0.1', 'client address');
is($a->{'http.response.body.size'}, 4, 'response body size');
is($s->{status}, 0, 'status unset on 200');

is($s->{resource}{'service.name'}, 'test-gateway', 'service name');
is($s->{resource}{'deployment.environment'}, 'test', 'resource attr');
is($s->{resource}{'telemetry.sdk.name'}, 'ngx_otel_module', 'sdk name');

my ($f) = grep { $_->{name} eq 'GET /fail' } @spans;
is_deeply([ $f->{status}, $f->{attrs}{'error.type'} ], [ 2, '503' ],
	'5xx is an error');

my @ids = map { [ split ' ' ] } split /\n/, $t->read_file('ids.log');
ok((grep { $_->[0] eq $s->{traceId} && $_->[1] eq $s->{spanId} } @ids),
	'access log variables equal the exported ids');

###############################################################################
