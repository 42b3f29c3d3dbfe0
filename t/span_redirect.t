#!/usr/bin/perl

# Tests for one SERVER span per main request: internal redirects (error_page
# to a URI and to a named location, try_files, "rewrite ... last", a
# redirection cycle) keep the span, its ids and the sampling decision made
# in the first location; subrequests (ssi, auth_request, mirror) make none.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::OTel;

use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()
	->has(qw/http rewrite ssi mirror auth_request/)
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

    otel_trace on;

    log_format ids '$request_uri $status $otel_trace_id $otel_span_id '
                   '$first_ids';
    access_log %%TESTDIR%%/ids.log ids;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        set $first_ids -;

        location /missing/ {
            error_page 404 = /fallback;
        }

        location /fallback {
            return 200 "fallback\n";
        }

        location /error {
            error_page 500 @named;
            return 500;
        }

        location /try/ {
            try_files $uri @named;
        }

        location @named {
            return 200 "named\n";
        }

        location /rw/ {
            set $first_ids $otel_trace_id:$otel_span_id;
            rewrite ^ /other last;
        }

        location /other {
            return 200 "other\n";
        }

        location /chain/ {
            rewrite ^ /missing/chain last;
        }

        location /cycle/ {
            rewrite ^ /cycle/again last;
        }

        location /on/ {
            otel_trace on;
            set $first_ids $otel_trace_id:$otel_span_id;
            rewrite ^ /off-target last;
        }

        location /on-err/ {
            otel_trace on;
            error_page 404 = /off-target;
        }

        location /off-target {
            otel_trace off;
            return 200 "off target\n";
        }

        location /off/ {
            otel_trace off;
            rewrite ^ /on-target last;
        }

        location /off-err/ {
            otel_trace off;
            error_page 404 = /on-target;
        }

        location /off-try/ {
            otel_trace off;
            try_files $uri @on_named;
        }

        location /on-target {
            otel_trace on;
            return 200 "on target\n";
        }

        location @on_named {
            otel_trace on;
            return 200 "on named\n";
        }

        location /ssi/ {
            ssi on;
        }

        location /sub {
            log_subrequest on;
            access_log %%TESTDIR%%/sub.log ids;
            return 200 "sub";
        }

        location /auth/ {
            auth_request /auth;
        }

        location = /auth {
            log_subrequest on;
            access_log %%TESTDIR%%/sub.log ids;
            return 204;
        }

        location /mirror/ {
            mirror /mirror;
        }

        location = /mirror {
            internal;
            log_subrequest on;
            access_log %%TESTDIR%%/sub.log ids;
            return 200;
        }
    }
}

EOF

$t->write_file('auth/index.html', "authorized\n");
$t->write_file('mirror/index.html', "mirrored\n");
$t->write_file('ssi/index.html',
	'x<!--# include virtual="/sub" -->y<!--# include virtual="/sub" -->z');

$t->run()->plan(30);

###############################################################################

# the redirects, each traced: uri => expected reply

my @traced = (
	[ '/missing/x', qr/^HTTP\/1.1 200 .*fallback$/s, 'error_page to uri' ],
	[ '/error', qr/^HTTP\/1.1 500 .*named$/s, 'error_page to named' ],
	[ '/try/x', qr/^HTTP\/1.1 200 .*named$/s, 'try_files to named' ],
	[ '/rw/', qr/^HTTP\/1.1 200 .*other$/s, 'rewrite last' ],
	[ '/chain/', qr/^HTTP\/1.1 200 .*fallback$/s, 'rewrite then error_page' ],
	[ '/cycle/', qr/^HTTP\/1.1 500 /, 'redirection cycle' ],
	[ '/on/', qr/^HTTP\/1.1 200 .*off target$/s, 'on, then off target' ],
	[ '/on-err/x', qr/^HTTP\/1.1 200 .*off target$/s,
		'on, then error_page to off target' ],
	[ '/ssi/', qr/^HTTP\/1.1 200 .*xsubysubz$/s, 'ssi includes' ],
	[ '/auth/', qr/^HTTP\/1.1 200 .*authorized$/s, 'auth_request' ],
	[ '/mirror/', qr/^HTTP\/1.1 200 .*mirrored$/s, 'mirror' ],
);

# the sampling decision of the first location, off, is kept

my @untraced = (
	[ '/off/', qr/^HTTP\/1.1 200 .*on target$/s, 'off, then on target' ],
	[ '/off-err/x', qr/^HTTP\/1.1 200 .*on target$/s,
		'off, then error_page to on target' ],
	[ '/off-try/x', qr/^HTTP\/1.1 200 .*on named$/s,
		'off, then try_files to on named' ],
);

my %status;

for my $c (@traced, @untraced) {
	my $r = get($c->[0]);
	like($r, $c->[1], $c->[2]);
	($status{$c->[0]}) = ($r // '') =~ /^HTTP\/1.1 (\d+)/;
}

my @spans = wait_spans($t, scalar @traced);

# give a stray span (a subrequest's, a second one) the time to show up

sleep(0.5);
@spans = spans($t);

is(scalar @spans, scalar @traced, 'one span per traced request');

my %log;

for my $line (split /\n/, $t->read_file('ids.log')) {
	my ($uri, $status, $tid, $sid, $first) = split ' ', $line;
	$log{$uri} = { status => $status, tid => $tid, sid => $sid,
		first => $first };
}

my %by_path = map { $_->{attrs}{'url.path'} => $_ } @spans;

is_deeply([ sort keys %by_path ], [ sort map { $_->[0] } @traced ],
	'spans are those of the traced requests, by original url.path');

my @bad = grep {
	my $s = $by_path{$_->[0]};
	my $l = $log{$_->[0]};
	!$s || !$l || $s->{traceId} ne $l->{tid} || $s->{spanId} ne $l->{sid}
} @traced;

is(join(' ', map { $_->[0] } @bad), '',
	'access log ids equal the exported span ids');

@bad = grep {
	my $s = $by_path{$_->[0]};
	!$s || !defined $status{$_->[0]}
		|| ($s->{attrs}{'http.response.status_code'} // '')
			ne $status{$_->[0]}
} @traced;

is(join(' ', map { $_->[0] } @bad), '',
	'span status codes equal the status lines sent');

# ids read before "rewrite ... last" are those of the span

is($log{'/rw/'}{first}, "$by_path{'/rw/'}{traceId}:$by_path{'/rw/'}{spanId}",
	'ids before the redirect kept');
is($log{'/on/'}{first}, "$by_path{'/on/'}{traceId}:$by_path{'/on/'}{spanId}",
	'ids before the redirect kept, off target');

is($by_path{'/cycle/'}{status}, 2, 'redirection cycle 500 is an error');

# every request has distinct ids

my %tids = map { $log{$_}{tid} => 1 } keys %log;
is(scalar keys %tids, scalar keys %log, 'distinct trace ids per request');

# untraced requests still have ids in the log, never exported

my %exported = map { $_->{traceId} => 1 } @spans;
ok(!(grep { $exported{$log{$_->[0]}{tid} // ''} } @untraced),
	'untraced requests not exported');
like(join(' ', map { $log{$_->[0]}{tid} // '' } @untraced),
	qr/^[0-9a-f]{32} [0-9a-f]{32} [0-9a-f]{32}$/, 'untraced ids in log');

# subrequests see the ids of the main request's span

my @sub = map { [ split ' ' ] } split /\n/, $t->read_file('sub.log');
my %sub = map { $_->[0] => 1 } @sub;
is_deeply([ sort keys %sub ], [ qw{ /auth/ /mirror/ /ssi/ } ],
	'subrequests logged');

@bad = grep {
	my $s = $by_path{$_->[0]};
	!$s || $s->{traceId} ne $_->[2] || $s->{spanId} ne $_->[3]
} @sub;

is(join(' ', map { $_->[0] } @bad), '',
	'subrequest variables are those of the main span');

# a keepalive connection: two redirected requests, two spans

my $r = http(<<EOF);
GET /missing/ka1 HTTP/1.1
Host: localhost

GET /try/ka2 HTTP/1.1
Host: localhost
Connection: close

EOF

is(() = ($r // '') =~ /^HTTP\/1.1 200/mg, 2, 'keepalive requests served');

@spans = wait_spans($t, @traced + 2);
sleep(0.3);
@spans = spans($t);

is(scalar @spans, @traced + 2, 'keepalive: one span each');

my @ka = grep { $_->{attrs}{'url.path'} =~ m{/ka\d$} } @spans;
isnt($ka[0]{spanId}, $ka[1]{spanId}, 'keepalive: distinct span ids');
isnt($ka[0]{traceId}, $ka[1]{traceId}, 'keepalive: distinct trace ids');

###############################################################################

sub get {
	my ($uri) = @_;
	return http(<<EOF);
GET $uri HTTP/1.0
Host: localhost

EOF
}

###############################################################################
