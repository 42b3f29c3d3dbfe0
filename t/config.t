#!/usr/bin/perl

# Tests for the configuration of ngx_otel_module as "nginx -t" sees it:
# every directive and "otel_exporter" sub-directive in every allowed
# context and form, the example configurations of SPEC section 1 and of
# NGINX's own module documentation, and one [emerg] naming the directive
# and the bad value for every invalid form.

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

my $t = Test::Nginx->new()->has(qw/http proxy rewrite split_clients/);

my $dir = $t->testdir();

$t->write_file('ca.pem', "-----BEGIN CERTIFICATE-----\n"
	. "-----END CERTIFICATE-----\n");

my $exporter = <<'EOF';
    otel_exporter {
        endpoint localhost:4317;
    }
EOF

# the whole nginx.conf around the body of "http { }"

sub conf {
	my ($http) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

$http
}

EOF
}

# a directive placed in the http, server or location context

sub in_context {
	my ($context, $directive) = @_;

	return "    $directive\n" if $context eq 'http';

	return <<"EOF" if $context eq 'server';
    server {
        listen 127.0.0.1:8080;
        $directive
    }
EOF

	return <<"EOF";
    server {
        listen 127.0.0.1:8080;

        location / {
            $directive
        }
    }
EOF
}

###############################################################################

# accepted forms: [ name, body of http { } ]

my @valid;

# directives of http, server and location, each form in each context

my @loc_directives = (
	'otel_trace on;',
	'otel_trace off;',
	'otel_trace $arg_trace;',
	'otel_trace $cookie_trace$arg_trace;',
	'otel_trace_context extract;',
	'otel_trace_context inject;',
	'otel_trace_context propagate;',
	'otel_trace_context ignore;',
	'otel_propagators tracecontext;',
	'otel_propagators b3;',
	'otel_propagators b3multi;',
	'otel_propagators b3 tracecontext;',
	'otel_propagators b3multi b3;',
	'otel_propagators tracecontext b3 b3multi;',
	'otel_propagators tracecontext b3multi b3;',
	'otel_propagators b3 tracecontext b3multi;',
	'otel_propagators b3 b3multi tracecontext;',
	'otel_propagators b3multi tracecontext b3;',
	'otel_propagators b3multi b3 tracecontext;',
	'otel_sampler always_on;',
	'otel_sampler always_off;',
	'otel_sampler parentbased_always_on;',
	'otel_sampler parentbased_always_off;',
	'otel_sampler traceidratio 0;',
	'otel_sampler traceidratio 1;',
	'otel_sampler traceidratio 0.5;',
	'otel_sampler traceidratio .5;',
	'otel_sampler traceidratio 1.0;',
	'otel_sampler traceidratio 0.000001;',
	'otel_sampler traceidratio 00.5;',
	'otel_sampler traceidratio 1.;',
	'otel_sampler traceidratio 0.00000000000000000000000000000000000001;',
	'otel_sampler parentbased_traceidratio 0.25;',
	'otel_sampler parentbased_traceidratio 0;',
	'otel_sampler parentbased_traceidratio 1;',
	'otel_span_name gateway;',
	'otel_span_name "$request_method $uri";',
	'otel_span_attr app.tier edge;',
	'otel_span_attr http.request.header.x_id $http_x_id;',
	'otel_span_attr app.route "$host$uri";',
	'otel_upstream_span on;',
	'otel_upstream_span off;',
);

for my $context (qw/ http server location /) {
	for my $d (@loc_directives) {
		push @valid, [ "$d in $context",
			$exporter . in_context($context, $d) ];
	}
}

# several values of the same list directive in one context

push @valid, [ 'several otel_span_attr', $exporter . in_context('location',
	'otel_span_attr a 1; otel_span_attr b $uri; otel_span_attr a 2;') ];

# the settings of http { } only

push @valid, [ 'otel_service_name', $exporter . <<'EOF' ];
    otel_service_name gateway;
EOF

push @valid, [ 'otel_service_name quoted', $exporter . <<'EOF' ];
    otel_service_name "my gateway:prod";
EOF

push @valid, [ 'otel_resource_attr', $exporter . <<'EOF' ];
    otel_resource_attr deployment.environment prod;
    otel_resource_attr service.namespace "edge tier";
    otel_resource_attr empty.value "";
EOF

# propagation alone needs no exporter, and neither does tracing off

push @valid, [ 'otel_trace_context without exporter', <<'EOF' ];
    otel_trace_context propagate;
    otel_propagators b3 tracecontext;
EOF

push @valid, [ 'otel_trace off without exporter', <<'EOF' ];
    otel_trace off;

    server {
        listen 127.0.0.1:8080;
        otel_trace off;
    }
EOF

# otel_exporter and its sub-directives

sub exporter {
	my ($body) = @_;
	return "    otel_exporter {\n        $body\n    }\n"
		. "    otel_trace on;\n";
}

push @valid,
	map { [ "endpoint $_->[0]", exporter($_->[1]) ] } (
	[ 'host:port', 'endpoint localhost:4317;' ],
	[ 'address:port', 'endpoint 127.0.0.1:4317;' ],
	[ 'unresolvable host', 'endpoint collector.invalid:4317;' ],
	[ 'ipv6', 'endpoint [::1]:4317;' ],
	[ 'http url', 'endpoint http://collector:4317;' ],
	[ 'http url root path', 'endpoint http://collector:4317/;' ],
	[ 'uppercase scheme', 'endpoint HTTP://collector:4317;' ],
	[ 'https url', 'endpoint https://collector:4317;' ],
	[ 'https ipv6', 'endpoint https://[::1]:4317;' ],
	[ 'quoted', 'endpoint "localhost:4317";' ],
	[ 'http/protobuf custom path',
		'endpoint https://collector:4318/custom/path; '
		. 'protocol http/protobuf;' ],
	[ 'http/protobuf no path',
		'endpoint http://collector:4318; protocol http/protobuf;' ],
	[ 'http/json', 'protocol http/json; '
		. 'endpoint http://[::1]:4318/v1/traces;' ],
	[ 'http/json host:port',
		'endpoint localhost:4318; protocol http/json;' ],
	[ 'grpc explicit', 'endpoint localhost:4317; protocol grpc;' ],
	[ 'file relative', 'endpoint file:spans.json;' ],
	[ 'file absolute', "endpoint file:$dir/abs.json;" ],
	[ 'ipv4-mapped ipv6', 'endpoint http://[::ffff:127.0.0.1]:4318;' ],
	[ 'ipv6 without port', 'endpoint https://[2001:db8::1];' ],
	[ 'port with leading zeros', 'endpoint http://h:04318;' ],
);

push @valid,
	map { [ "otel_exporter $_", exporter("endpoint localhost:4317; $_") ] } (
	'interval 1ms;',
	'interval 500ms;',
	'interval 5s;',
	'interval 1m;',
	'interval 1h;',
	'interval 1m30s;',
	'interval 250;',
	'batch_size 1;',
	'batch_size 512;',
	'batch_size 65536;',
	'batch_count 1;',
	'batch_count 4;',
	'batch_count 1024;',
	'zone_size 65536;',
	'zone_size 64k;',
	'zone_size 64K;',
	'zone_size 4m;',
	'zone_size 16M;',
	'timeout 1ms;',
	'timeout 10s;',
	'timeout 2m;',
	'compression none;',
	'compression gzip;',
	'header Authorization "Bearer abc";',
	'header X-Tenant t1; header x-api-key k; header X-Tenant t2;',
	'header X-Empty "";',
	'trusted_certificate ca.pem;',
	"trusted_certificate $dir/ca.pem;",
);

push @valid, [ 'otel_exporter with all sub-directives', <<"EOF" ];
    otel_exporter {
        endpoint             https://collector.example:4318/otlp/traces;
        protocol             http/protobuf;
        interval             100ms;
        batch_size           128;
        batch_count          2;
        zone_size            1m;
        timeout              3s;
        compression          gzip;
        header               Authorization "Bearer token";
        header               X-Scope-OrgID tenant-1;
        trusted_certificate  $dir/ca.pem;
    }

    otel_trace on;
EOF

push @valid, [ 'sub-directives before endpoint', <<'EOF' ];
    otel_exporter {
        protocol    http/json;
        batch_size  8;
        endpoint    http://localhost:4318;
    }
EOF

# SPEC section 1, unchanged but for the upstream (proxy_pass resolves
# "backend" when nginx reads the configuration)

push @valid, [ 'SPEC example', <<'EOF' ];
    upstream backend {
        server 127.0.0.1:8081;
    }

    otel_exporter { endpoint http://collector:4318; protocol http/protobuf; }
    otel_service_name gateway;
    otel_trace on;
    otel_trace_context propagate;
    log_format traced '$remote_addr "$request" $status trace=$otel_trace_id span=$otel_span_id';
    server { location / { proxy_pass http://backend; } }
EOF

# the examples of NGINX's ngx_otel_module documentation

push @valid, [ 'nginx.org example configuration', <<'EOF' ];
    upstream backend {
        server 127.0.0.1:8081;
    }

    otel_exporter {
        endpoint localhost:4317;
    }

    server {
        listen 127.0.0.1:8080;

        location / {
            otel_trace         on;
            otel_trace_context inject;

            proxy_pass http://backend;
        }
    }
EOF

push @valid, [ 'nginx.org otel_exporter example', <<'EOF' ];
    otel_exporter {
        endpoint    localhost:4317;
        interval    5s;
        batch_size  512;
        batch_count 4;
    }
EOF

push @valid, [ 'nginx.org split_clients example', $exporter . <<'EOF' ];
    upstream backend {
        server 127.0.0.1:8081;
    }

    split_clients "$otel_trace_id" $ratio_sampler {
                  10%              on;
                  *                off;
    }

    server {
        location / {
            otel_trace         $ratio_sampler;
            otel_trace_context inject;
            proxy_pass         http://backend;
        }
    }
EOF

push @valid, [ 'README parent-based example', $exporter . <<'EOF' ];
    upstream backend {
        server 127.0.0.1:8081;
    }

    server {
        location / {
            otel_trace $otel_parent_sampled;
            otel_trace_context propagate;

            proxy_pass http://backend;
        }
    }
EOF

push @valid, [ 'README ratio-based example', $exporter . <<'EOF' ];
    upstream backend {
        server 127.0.0.1:8081;
    }

    # trace 10% of requests
    split_clients $otel_trace_id $ratio_sampler {
        10%     on;
        *       off;
    }

    # or we can trace 10% of user sessions
    split_clients $cookie_sessionid $session_sampler {
        10%     on;
        *       off;
    }

    server {
        location / {
            otel_trace $ratio_sampler;
            otel_trace_context inject;

            proxy_pass http://backend;
        }
    }
EOF

push @valid, [ 'service name, span name and attributes', <<'EOF' ];
    otel_exporter {
        endpoint localhost:4317;
    }

    otel_service_name  gateway;
    otel_resource_attr deployment.environment staging;

    map $uri $route {
        ~^/api/  api;
        default  static;
    }

    server {
        listen 127.0.0.1:8080;

        otel_trace     on;
        otel_span_attr app.route $route;

        location /api/ {
            otel_span_name "$request_method $route";
            otel_span_attr http.request.header.x_request_id $http_x_request_id;
            otel_span_attr app.user $cookie_user;
            return 200;
        }
    }
EOF

###############################################################################

# rejected forms: [ name, body of http { }, what the [emerg] must say ]

my @invalid;

sub bad_exporter {
	my ($name, $body, $re) = @_;
	push @invalid, [ $name, "    otel_exporter {\n        $body\n    }\n",
		$re ];
}

bad_exporter('unknown sub-directive', 'endpoint localhost:4317; foo 1;',
	qr/unknown directive "foo" in "otel_exporter"/);
bad_exporter('sub-directive missing argument',
	'endpoint localhost:4317; protocol;',
	qr/"protocol"[^\n]*"otel_exporter"/);
bad_exporter('sub-directive extra argument',
	'endpoint localhost:4317; interval 1s 2s;',
	qr/"interval"[^\n]*"otel_exporter"/);
bad_exporter('no endpoint', 'interval 1s;',
	qr/"otel_exporter"[^\n]*"endpoint"/);
bad_exporter('empty block', '',
	qr/"otel_exporter"[^\n]*"endpoint"/);
bad_exporter('duplicate endpoint', 'endpoint a:1; endpoint b:2;',
	qr/"endpoint"[^\n]*"b:2"[^\n]*duplicate/);
bad_exporter('empty endpoint', 'endpoint "";',
	qr/"endpoint"[^\n]*""/);

for my $url ('ftp://x:1', 'http://', 'https://', 'host', 'h:0', 'h:99999',
	'http://h:abc', 'h:', ':4317', 'http://h:4317?x=1', 'h:4317/x',
	'file:')
{
	bad_exporter("endpoint $url", "endpoint $url;",
		qr/"endpoint"[^\n]*"\Q$url\E"/);
}

bad_exporter('endpoint file: reason', 'endpoint file:;',
	qr/"endpoint"[^\n]*"file:"(?![^\n]*invalid port)/);

# the reasons ngx_parse_url() gave, and ours for what curl would refuse

for ([ 'http://[::1', 'invalid host' ], [ 'http://[::1]x:1', 'invalid host' ],
	[ 'http://[]:1', 'no host' ], [ 'http://:1', 'no host' ],
	[ 'http://[::g]:1', 'invalid IPv6 address' ],
	[ 'http://[::1]:0', 'invalid port' ], [ 'h:65536', 'invalid port' ],
	[ 'http://unix:/tmp/otel.sock', 'invalid port' ],
	[ 'http://a b:1', 'invalid host' ], [ 'ftp://x:1', 'expected' ])
{
	my ($url, $reason) = @$_;
	bad_exporter("endpoint $url: $reason", "endpoint \"$url\";",
		qr/"endpoint"[^\n]*"\Q$url\E"[^\n]*: \Q$reason\E/);
}

bad_exporter('grpc endpoint with a path', 'endpoint http://h:4317/v1/traces;',
	qr/"endpoint"[^\n]*"http:\/\/h:4317\/v1\/traces"[^\n]*path/);
bad_exporter('explicit grpc endpoint with a path',
	'protocol grpc; endpoint https://h:4317/x;',
	qr/"endpoint"[^\n]*"https:\/\/h:4317\/x"[^\n]*path/);

bad_exporter('unknown protocol', 'endpoint h:1; protocol http/xml;',
	qr/"http\/xml"[^\n]*"protocol"/);
bad_exporter('protocol case', 'endpoint h:1; protocol GRPC;',
	qr/"GRPC"[^\n]*"protocol"/);
bad_exporter('unknown compression', 'endpoint h:1; compression br;',
	qr/"br"[^\n]*"compression"/);

for my $v ('0', '65537', 'abc', '-1') {
	bad_exporter("batch_size $v", "endpoint h:1; batch_size $v;",
		qr/"batch_size"[^\n]*"\Q$v\E"|"\Q$v\E"[^\n]*"batch_size"/);
}

for my $v ('0', '1025', 'x') {
	bad_exporter("batch_count $v", "endpoint h:1; batch_count $v;",
		qr/"batch_count"[^\n]*"\Q$v\E"|"\Q$v\E"[^\n]*"batch_count"/);
}

for my $v ('0', 'abc', '-1s', '5x') {
	bad_exporter("interval $v", "endpoint h:1; interval $v;",
		qr/"interval"[^\n]*"\Q$v\E"/);
	bad_exporter("timeout $v", "endpoint h:1; timeout $v;",
		qr/"timeout"[^\n]*"\Q$v\E"/);
}

bad_exporter('zone_size 1k', 'endpoint h:1; zone_size 1k;',
	qr/"zone_size"[^\n]*\b(?:1k|1024)\b[^\n]*small/);
bad_exporter('zone_size abc', 'endpoint h:1; zone_size abc;',
	qr/"zone_size"[^\n]*"abc"/);

bad_exporter('header with 1 argument', 'endpoint h:1; header X-A;',
	qr/"header"[^\n]*"otel_exporter"/);
bad_exporter('header with 3 arguments', 'endpoint h:1; header X-A b c;',
	qr/"header"[^\n]*"otel_exporter"/);
bad_exporter('header bad name', 'endpoint h:1; header "X A" b;',
	qr/"header"[^\n]*"X A"|"X A"[^\n]*"header"/);
bad_exporter('header name with colon', 'endpoint h:1; header X-A: b;',
	qr/"header"[^\n]*"X-A:"|"X-A:"[^\n]*"header"/);
bad_exporter('header empty name', 'endpoint h:1; header "" b;',
	qr/"header"[^\n]*(?:name ""|"" )/);
bad_exporter('header value with newline', "endpoint h:1; header X-A \"a\nb\";",
	qr/"X-A"[^\n]*"header"|"header"[^\n]*"X-A"/);

bad_exporter('trusted_certificate missing file',
	"endpoint https://h:1; trusted_certificate $dir/missing.pem;",
	qr/"trusted_certificate"[^\n]*"\Q$dir\E\/missing.pem"/);
bad_exporter('trusted_certificate relative missing file',
	'endpoint https://h:1; trusted_certificate no/such.pem;',
	qr/"trusted_certificate"[^\n]*"no\/such.pem"/);
bad_exporter('trusted_certificate directory',
	"endpoint https://h:1; trusted_certificate $dir;",
	qr/"trusted_certificate"[^\n]*"\Q$dir\E"/);
bad_exporter('duplicate trusted_certificate',
	"endpoint https://h:1; trusted_certificate $dir/ca.pem; "
	. "trusted_certificate $dir/ca.pem;",
	qr/"trusted_certificate"[^\n]*duplicate/);

push @invalid, [ 'duplicate otel_exporter', $exporter . $exporter,
	qr/"otel_exporter"[^\n]*duplicate/ ];

push @invalid, [ 'otel_exporter in server', in_context('server',
	'otel_exporter { endpoint h:1; }'),
	qr/"otel_exporter" directive is not allowed here/ ];

push @invalid, [ 'otel_exporter in location', in_context('location',
	'otel_exporter { endpoint h:1; }'),
	qr/"otel_exporter" directive is not allowed here/ ];

push @invalid, [ 'otel_exporter with an argument',
	"    otel_exporter h:1 {\n        endpoint h:1;\n    }\n",
	qr/"otel_exporter"/ ];

push @invalid, [ 'otel_service_name in server', $exporter
	. in_context('server', 'otel_service_name x;'),
	qr/"otel_service_name" directive is not allowed here/ ];

push @invalid, [ 'otel_service_name in location', $exporter
	. in_context('location', 'otel_service_name x;'),
	qr/"otel_service_name" directive is not allowed here/ ];

push @invalid, [ 'duplicate otel_service_name', $exporter
	. "    otel_service_name a;\n    otel_service_name b;\n",
	qr/"otel_service_name"[^\n]*duplicate/ ];

push @invalid, [ 'otel_resource_attr in location', $exporter
	. in_context('location', 'otel_resource_attr a b;'),
	qr/"otel_resource_attr" directive is not allowed here/ ];

push @invalid, [ 'otel_resource_attr empty name', $exporter
	. "    otel_resource_attr \"\" b;\n",
	qr/"otel_resource_attr"/ ];

push @invalid, [ 'otel_resource_attr with 1 argument', $exporter
	. "    otel_resource_attr a;\n",
	qr/"otel_resource_attr"/ ];

for my $context (qw/ http server location /) {
	push @invalid,
		map { [ "$_->[0] in $context",
			$exporter . in_context($context, $_->[1]), $_->[2] ] } (
		[ 'otel_trace maybe', 'otel_trace maybe;',
			qr/"maybe"[^\n]*"otel_trace"/ ],
		[ 'otel_trace_context sometimes', 'otel_trace_context sometimes;',
			qr/"sometimes"[^\n]*"otel_trace_context"/ ],
		[ 'unknown propagator', 'otel_propagators w3c;',
			qr/"w3c"[^\n]*"otel_propagators"/ ],
		[ 'unknown sampler', 'otel_sampler probabilistic;',
			qr/"probabilistic"[^\n]*"otel_sampler"/ ],
		[ 'otel_upstream_span maybe', 'otel_upstream_span maybe;',
			qr/"maybe"[^\n]*"otel_upstream_span"/ ],
		[ 'otel_span_attr empty name', 'otel_span_attr "" v;',
			qr/"otel_span_attr"/ ],
	);
}

push @invalid,
	map { [ $_->[0], $exporter . in_context('location', $_->[1]), $_->[2] ] } (
	[ 'otel_trace ON', 'otel_trace ON;', qr/"ON"[^\n]*"otel_trace"/ ],
	[ 'otel_trace 1', 'otel_trace 1;', qr/"1"[^\n]*"otel_trace"/ ],
	[ 'otel_trace without argument', 'otel_trace;', qr/"otel_trace"/ ],
	[ 'otel_trace_context Inject', 'otel_trace_context Inject;',
		qr/"Inject"[^\n]*"otel_trace_context"/ ],
	[ 'duplicate propagator', 'otel_propagators b3 tracecontext b3;',
		qr/"b3"[^\n]*"otel_propagators"/ ],
	[ 'duplicate propagator adjacent', 'otel_propagators b3multi b3multi;',
		qr/"b3multi"[^\n]*"otel_propagators"/ ],
	[ 'four propagators', 'otel_propagators b3 b3multi tracecontext b3;',
		qr/"b3"[^\n]*"otel_propagators"/ ],
	[ 'unknown propagator after good ones',
		'otel_propagators tracecontext jaeger;',
		qr/"jaeger"[^\n]*"otel_propagators"/ ],
	[ 'otel_propagators without argument', 'otel_propagators;',
		qr/"otel_propagators"/ ],
	[ 'ratio missing for traceidratio', 'otel_sampler traceidratio;',
		qr/"traceidratio"[^\n]*"otel_sampler"/ ],
	[ 'ratio missing for parentbased_traceidratio',
		'otel_sampler parentbased_traceidratio;',
		qr/"parentbased_traceidratio"[^\n]*"otel_sampler"/ ],
	[ 'ratio given for always_on', 'otel_sampler always_on 0.5;',
		qr/"always_on"[^\n]*"otel_sampler"/ ],
	[ 'ratio given for parentbased_always_off',
		'otel_sampler parentbased_always_off 1;',
		qr/"parentbased_always_off"[^\n]*"otel_sampler"/ ],
	[ 'otel_sampler with 3 arguments', 'otel_sampler traceidratio 0.5 1;',
		qr/"otel_sampler"/ ],
	[ 'otel_span_attr with 1 argument', 'otel_span_attr a;',
		qr/"otel_span_attr"/ ],
	[ 'otel_span_name with 2 arguments', 'otel_span_name a b;',
		qr/"otel_span_name"/ ],
);

for my $r ('1.5', '-0.1', 'abc', 'nan', 'inf', '1e-1', '0x1', '.', '',
	'0.5.1', '1.00001', '2', '10', '01.5', '1.00000000000000000001',
	' 0.5', '0.5 ')
{
	for my $s (qw/ traceidratio parentbased_traceidratio /) {
		push @invalid, [ "$s ratio '$r'", $exporter
			. in_context('location', "otel_sampler $s \"$r\";"),
			qr/"\Q$r\E"[^\n]*"otel_sampler"/ ];
	}
}

# duplicates in one context

for my $d ('otel_trace on; otel_trace off;',
	'otel_trace_context inject; otel_trace_context extract;',
	'otel_propagators b3; otel_propagators b3multi;',
	'otel_sampler always_on; otel_sampler always_off;',
	'otel_span_name a; otel_span_name b;',
	'otel_upstream_span on; otel_upstream_span off;')
{
	my ($name) = $d =~ /^(\w+)/;

	for my $context (qw/ http location /) {
		push @invalid, [ "duplicate $name in $context",
			$exporter . in_context($context, $d),
			qr/"$name"[^\n]*duplicate/ ];
	}
}

# tracing needs an exporter, wherever it is switched on

for my $context (qw/ http server location /) {
	push @invalid, [ "otel_trace on in $context without exporter",
		in_context($context, 'otel_trace on;'),
		qr/"otel_trace"[^\n]*"otel_exporter"/ ];
}

push @invalid, [ 'otel_trace $var without exporter',
	in_context('location', 'otel_trace $arg_trace;'),
	qr/"otel_trace"[^\n]*"otel_exporter"/ ];

push @invalid, [ 'otel_trace on after off without exporter', <<'EOF',
    otel_trace off;

    server {
        listen 127.0.0.1:8080;

        location / {
            otel_trace off;
        }

        location /t {
            otel_trace on;
        }
    }
EOF
	qr/"otel_trace"[^\n]*"otel_exporter"/ ];

###############################################################################

my ($ok, $out) = $t->check_config(conf($exporter));

plan(skip_all => 'no otel') if $out =~ /unknown directive "otel_/;

$t->plan(1 + @valid + 2 * @invalid);

ok($ok, 'minimal configuration') or diag($out);

for my $case (@valid) {
	my ($name, $http) = @$case;

	($ok, $out) = $t->check_config(conf($http));

	ok($ok && $out !~ /\[(?:emerg|alert|crit|error|warn)\]/, "valid: $name")
		or diag("$http\n$out");
}

for my $case (@invalid) {
	my ($name, $http, $re) = @$case;

	($ok, $out) = $t->check_config(conf($http));

	ok(!$ok, "invalid: $name fails") or diag($http);
	like($out, qr/\[emerg\] [^\n]*$re/, "invalid: $name message");
}

###############################################################################
