#!/usr/bin/perl

# Tests for an IPv6 endpoint: the exporter posts to
# http://[::1]:port/v1/traces, with the address in one pair of brackets
# (the URL once had two, and curl refused every export).  The receiver is
# a second nginx server on [::1] that logs what it was sent.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;

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
        endpoint http://[::1]:%%PORT_8081%%;
        protocol http/protobuf;
        interval 50ms;
        batch_size 1;
        timeout 2s;
    }

    otel_service_name ipv6-test;

    log_format posted '$request_method $uri';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;

        location / {
            return 200 "ok\n";
        }
    }

    server {
        listen       [::1]:%%PORT_8081%%;
        server_name  collector;

        access_log %%TESTDIR%%/collector.log posted;

        location /v1/traces {
            return 200;
        }
    }
}

EOF

$t->try_run('no IPv6 loopback')->plan(2);

###############################################################################

like(http_get('/'), qr/^ok$/m, 'request');

my $posted = '';

for (1 .. 50) {
	$posted = $t->read_file('collector.log')
		if -f $t->testdir() . '/collector.log';
	last if $posted =~ /POST/;
	select undef, undef, undef, 0.1;
}

like($posted, qr/^POST \/v1\/traces$/m, 'exported to [::1]');

###############################################################################
