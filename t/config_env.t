#!/usr/bin/perl

# Tests for the OpenTelemetry environment variables read from the master's
# environment: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES in the
# exported resource, their precedence below the directives, and the
# warnings for malformed values (OTEL_EXPORTER_OTLP_HEADERS included).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use File::Spec;
use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my @vars = qw/ OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES
	OTEL_EXPORTER_OTLP_HEADERS /;

delete @ENV{@vars};

my $t = Test::Nginx->new()->has(qw/http rewrite/);

# nginx.conf with the exporter writing to $file and $http added to http { }

sub conf {
	my ($file, $http) = @_;

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    otel_exporter {
        endpoint file:%%TESTDIR%%/$file;
        interval 50ms;
        batch_size 1;
    }

    otel_trace on;
$http
    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location / {
            return 200 "ok\\n";
        }
    }
}

EOF
}

# starts nginx with %$env added to the environment and $http in http { },
# makes one span, stops; returns the resource of that span and the list
# of its resource attribute keys, duplicates kept

my $runs = 0;

sub resource {
	my ($env, $http) = @_;

	my $file = 'spans' . ++$runs . '.json';

	local @ENV{keys %$env} = values %$env;

	$t->write_file_expand('nginx.conf', conf($file, $http // ''));

	# startup warnings go to error.log as well

	open(my $stderr, '>&', \*STDERR) or die "Can't dup STDERR: $!\n";
	open(STDERR, '>', File::Spec->devnull()) or die "Can't redirect: $!\n";

	eval { $t->run(); };
	my $error = $@;

	open(STDERR, '>&', $stderr) or die "Can't restore STDERR: $!\n";
	die $error if $error;

	http_get('/');
	my ($span) = wait_spans($t, 1, file => $file);

	$t->stop();

	my @keys;

	for my $line (split /\n/, $t->read_file($file)) {
		my $req = decode_json($line);
		@keys = map { $_->{key} }
			@{$req->{resourceSpans}[0]{resource}{attributes}};
		last;
	}

	return (($span || {})->{resource} || {}, \@keys);
}

sub unique {
	my ($keys) = @_;
	my %seen;
	return !grep { $seen{$_}++ } @$keys;
}

$t->plan(37);

###############################################################################

my ($res, $keys) = resource({});

is($res->{'service.name'}, 'unknown_service:nginx', 'default service name');
is($res->{'telemetry.sdk.name'}, 'ngx_otel_module', 'sdk name');
like($res->{'telemetry.sdk.version'}, qr/^\d+\.\d+/, 'sdk version');

($res) = resource({ OTEL_SERVICE_NAME => 'env-svc' });

is($res->{'service.name'}, 'env-svc', 'OTEL_SERVICE_NAME');

($res, $keys) = resource({
	OTEL_SERVICE_NAME => '',
	OTEL_RESOURCE_ATTRIBUTES => 'service.name=attr-svc,'
		. 'deployment.environment=staging, team = edge ,'
		. 'note=a%20b%2Cc%3Dd%25,eq=x=y',
});

is($res->{'service.name'}, 'attr-svc',
	'service.name from OTEL_RESOURCE_ATTRIBUTES, empty OTEL_SERVICE_NAME');
is($res->{'deployment.environment'}, 'staging', 'OTEL_RESOURCE_ATTRIBUTES');
is($res->{team}, 'edge', 'OTEL_RESOURCE_ATTRIBUTES blanks trimmed');
is($res->{note}, 'a b,c=d%', 'OTEL_RESOURCE_ATTRIBUTES percent-decoded');
is($res->{eq}, 'x=y', 'OTEL_RESOURCE_ATTRIBUTES value with "="');
ok(unique($keys), 'resource keys unique') or diag("@$keys");

($res) = resource({
	OTEL_RESOURCE_ATTRIBUTES => 'url=http://x/?a=b%3F, sp = a%20 ',
});

is($res->{url}, 'http://x/?a=b?', 'OTEL_RESOURCE_ATTRIBUTES "?" is data');
is($res->{sp}, 'a ', 'OTEL_RESOURCE_ATTRIBUTES encoded blank kept');

($res) = resource({
	OTEL_SERVICE_NAME => 'env-svc',
	OTEL_RESOURCE_ATTRIBUTES => 'service.name=attr-svc,k=v',
});

is($res->{'service.name'}, 'env-svc',
	'OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES');
is($res->{k}, 'v', 'other attributes kept');

($res, $keys) = resource({
	OTEL_SERVICE_NAME => 'env-svc',
	OTEL_RESOURCE_ATTRIBUTES => 'service.name=attr-svc,k=env-v,k2=v2',
}, <<'EOF');
    otel_service_name dir-svc;
    otel_resource_attr k dir-v;
EOF

is($res->{'service.name'}, 'dir-svc', 'otel_service_name wins over both');
is($res->{k}, 'dir-v', 'otel_resource_attr wins over the environment');
is($res->{k2}, 'v2', 'other environment attributes kept');
ok(unique($keys), 'resource keys unique with directives')
	or diag("@$keys");

($res, $keys) = resource({
	OTEL_SERVICE_NAME => 'env-svc',
	OTEL_RESOURCE_ATTRIBUTES => 'service.name=attr-svc',
}, <<'EOF');
    otel_resource_attr service.name res-svc;
EOF

is($res->{'service.name'}, 'res-svc',
	'otel_resource_attr service.name wins over the environment');
ok(unique($keys), 'one service.name') or diag("@$keys");

($res, $keys) = resource({}, <<'EOF');
    otel_resource_attr service.name res-svc;
EOF

is($res->{'service.name'}, 'res-svc',
	'otel_resource_attr service.name wins over the default');

($res, $keys) = resource({
	OTEL_RESOURCE_ATTRIBUTES => 'telemetry.sdk.name=env-sdk,k=v',
}, <<'EOF');
    otel_resource_attr telemetry.sdk.version 0.0.0-dir;
EOF

ok(unique($keys), 'telemetry.sdk.* once with the same keys configured')
	or diag("@$keys");

# malformed: ignored as a whole, with a warning

($res) = resource({
	OTEL_SERVICE_NAME => 'env-svc',
	OTEL_RESOURCE_ATTRIBUTES => 'k=v,broken,k2=v2',
});

is_deeply([ @$res{qw/ service.name k k2 /} ], [ 'env-svc', undef, undef ],
	'malformed OTEL_RESOURCE_ATTRIBUTES ignored');
like($t->read_file('error.log'),
	qr/\[warn\] [^\n]*OTEL_RESOURCE_ATTRIBUTES[^\n]*k=v,broken,k2=v2/,
	'malformed OTEL_RESOURCE_ATTRIBUTES warning');

# nginx -t reports the same warnings, and accepts the configuration

my $check = conf('check.json', '');

{
	local $ENV{OTEL_RESOURCE_ATTRIBUTES} = '=v';
	my ($ok, $out) = $t->check_config($check);
	ok($ok && $out =~ /\[warn\] [^\n]*OTEL_RESOURCE_ATTRIBUTES[^\n]*"=v"/,
		'nginx -t: empty key in OTEL_RESOURCE_ATTRIBUTES') or diag($out);
}

for my $bad ('k=50%', 'k=%4g', 'k=v%2') {
	local $ENV{OTEL_RESOURCE_ATTRIBUTES} = "$bad,k2=v2";
	my ($ok, $out) = $t->check_config($check);
	ok($ok && $out =~ /\[warn\] [^\n]*OTEL_RESOURCE_ATTRIBUTES[^\n]*"\Q$bad\E/,
		"nginx -t: malformed escape '$bad' in OTEL_RESOURCE_ATTRIBUTES")
		or diag($out);
}

# a header that would split the request: ignored, not sent

for my $bad ('x-a=b%0D%0Ainjected: 1', 'x-a=b%0A', 'x-a=%00',
	'x a=b', 'x:a=b')
{
	local $ENV{OTEL_EXPORTER_OTLP_HEADERS} = "k=v,$bad";
	my ($ok, $out) = $t->check_config($check);
	ok($ok && $out =~ /\[warn\] [^\n]*OTEL_EXPORTER_OTLP_HEADERS/,
		"nginx -t: OTEL_EXPORTER_OTLP_HEADERS with '$bad' ignored")
		or diag($out);
}

{
	local $ENV{OTEL_EXPORTER_OTLP_HEADERS} = 'api-key';
	my ($ok, $out) = $t->check_config($check);
	ok($ok && $out =~ /\[warn\] [^\n]*OTEL_EXPORTER_OTLP_HEADERS/,
		'nginx -t: malformed OTEL_EXPORTER_OTLP_HEADERS') or diag($out);
	unlike($out, qr/api-key/, 'nginx -t: its value, maybe a secret, not shown');
}

{
	local $ENV{OTEL_EXPORTER_OTLP_HEADERS} =
		'api-key=secret, X-Scope-OrgID = t1 ,x-note=a%20b';
	local $ENV{OTEL_RESOURCE_ATTRIBUTES} = 'k=v';
	local $ENV{OTEL_SERVICE_NAME} = 'env-svc';
	my ($ok, $out) = $t->check_config($check);
	ok($ok && $out !~ /\[(?:emerg|warn)\]/,
		'nginx -t: valid environment') or diag($out);
}

{
	local $ENV{OTEL_EXPORTER_OTLP_HEADERS} = 'api-key';
	my ($ok, $out) = $t->check_config(conf('check.json', '')
		=~ s/otel_exporter \{.*?\}\n//sr =~ s/otel_trace on;//r);
	ok($ok && $out !~ /\[(?:emerg|warn)\]/,
		'nginx -t: environment unused without otel_exporter')
		or diag($out);
}

###############################################################################
