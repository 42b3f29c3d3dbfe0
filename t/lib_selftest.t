#!/usr/bin/perl

# Tests for t/lib/Test/Nginx.pm, the test library itself: plain nginx,
# no otel directives, so it passes with and without TEST_NGINX_GLOBALS.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Socket::INET;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx qw/ :DEFAULT http_end http_content /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy rewrite/)
	->write_file_expand('nginx.conf', conf('hello'))
	->write_file('static/file.txt', "static content\n");

$t->run_daemon(\&echo_daemon, port(8082));
$t->run()->plan(20);

###############################################################################

# proxying between two servers, raw requests and options

like(http("GET / HTTP/1.0\r\nHost: localhost\r\nX-Foo: bar\r\n\r\n"),
	qr/^HTTP\/1\.1 200 .*\r\n\r\nhello bar\z/s, 'proxied request');

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . port(8081));
like(http_get('/', socket => $s), qr/\r\n\r\nhello \z/, 'socket option');

is(http_content(http_get('/')), 'hello ', 'http_content');
like(http_head('/'), qr/^HTTP\/1\.1 200 .*\r\n\r\n\z/s, 'head');
like(http_get('/static/file.txt'), qr/\r\n\r\nstatic content\n\z/,
	'static file under root');

$s = http(<<EOF, start => 1, sleep => 0.2, body => 'abcd');
POST / HTTP/1.0
Host: localhost
X-Foo: post
Content-Length: 4

EOF

ok(ref $s, 'start returns socket');
like(http_end($s), qr/\r\n\r\nhello post\z/, 'http_end with body');

# ports

is(port(8080), port(8080), 'port stable');
isnt(port(8080), port(8081), 'ports differ');
unlike($t->read_file('nginx.conf'), qr/127\.0\.0\.1:80\d\d\b/,
	'ports expanded');

# helper daemon

ok($t->waitforsocket('127.0.0.1:' . port(8082)), 'daemon listens');
is(echo("ping\n"), "ping\n", 'daemon echoes');

# files

$t->write_file('dir/x.txt', 'x');
ok($t->waitforfile($t->testdir() . '/dir/x.txt'), 'waitforfile');
is($t->read_file('dir/x.txt'), 'x', 'read_file');

# versions and configuration checks

ok($t->has_version('1.0.0') && !$t->has_version('999.0'), 'has_version');

my $bad = conf('hello') =~ s/(return 200)/no_such_directive;\n        $1/r;
my ($ok, $out) = $t->check_config($bad);
ok(!$ok, 'check_config rejects');
like($out, qr/\[emerg\] unknown directive "no_such_directive" in \S+check/,
	'check_config output');

($ok, $out) = $t->check_config(conf('checked'));
ok($ok, 'check_config accepts') or diag($out);

# reload

$t->write_file_expand('nginx.conf', conf('reloaded'));
$t->reload();

my $reply = '';
for (1 .. 50) {
	$reply = http_get('/') // '';
	last if $reply =~ /reloaded/;
	select undef, undef, undef, 0.1;
}
like($reply, qr/reloaded \z/, 'reload');

$t->stop();
ok(!-e $t->testdir() . '/nginx.pid', 'stop');

###############################################################################

sub conf {
	my ($text) = @_;

	return <<"EOF" =~ s/TEXT/$text/r;

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /static/ {
        }
    }

    server {
        listen       127.0.0.1:8081;
        server_name  localhost;

        location / {
            return 200 "TEXT \$http_x_foo";
        }
    }
}

EOF
}

sub echo {
	my ($data) = @_;

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . port(8082))
		or return "connect failed: $!";

	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm(5);
	print $s $data;
	my $line = eval { <$s> };
	alarm(0);

	return $line;
}

sub echo_daemon {
	my ($port) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 5,
		ReuseAddr => 1
	)
		or die "Can't create listening socket: $!\n";

	while (my $client = $server->accept()) {
		$client->autoflush(1);

		while (defined(my $line = <$client>)) {
			print $client $line;
		}

		close($client);
	}
}

###############################################################################
