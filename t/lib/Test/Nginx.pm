package Test::Nginx;

# Test::Nginx: a small library for nginx module tests run with prove.
#
# Written from scratch for this project as an API-compatible subset of
# the Test::Nginx module of nginx-tests, so that the same .t files also
# run with "prove -I nginx-tests/lib".  Only core Perl modules are used.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ http http_get http_head http_start http_end port
	log_in log_out /;
our @EXPORT_OK = qw/ http_content /;

our $TODO;	# set while the "no alerts" test is a TODO, see todo_alerts()

use File::Path qw/ make_path /;
use File::Spec;
use File::Temp qw/ tempdir /;
use IO::Socket::INET;
use POSIX qw/ WNOHANG /;
use Scalar::Util qw/ weaken /;
use Test::More qw//;
use Time::HiRes qw/ sleep time /;

###############################################################################

my @objects;	# weak references, finished from END below
my %ports;	# port(N) => { port => P, lock => UDP socket }

# http modules built unless --without-http_NAME_module

my @default_http = qw/ access auth_basic autoindex browser
	charset empty_gif fastcgi geo grpc gzip limit_conn limit_req map
	memcached mirror proxy referer rewrite scgi split_clients ssi
	upstream_hash upstream_ip_hash upstream_keepalive upstream_least_conn
	upstream_random upstream_zone userid uwsgi /;

# http modules built only with --with-http_NAME_module[=dynamic]

my @optional_http = qw/ addition auth_request dav degradation flv geoip
	gunzip gzip_static image_filter mp4 perl random_index realip
	secure_link slice stub_status sub v2 v3 xslt /;

my @default_stream = qw/ access geo limit_conn map pass return set
	split_clients upstream_hash upstream_least_conn upstream_random
	upstream_zone /;

my @optional_stream = qw/ geoip realip ssl ssl_preread /;

sub new {
	my ($class) = @_;

	my $self = bless { _owner => $$, _daemons => [], _checks => 0 }, $class;

	$self->{_binary} = _binary();

	Test::More::BAIL_OUT("nginx binary \"$self->{_binary}\" is not"
		. " executable, set TEST_NGINX_BINARY")
		unless -f $self->{_binary} && -x _;

	$self->{_testdir} = tempdir('nginx-test-XXXXXXXXXX', TMPDIR => 1,
		CLEANUP => !$ENV{TEST_NGINX_LEAVE});

	# workers may run as another user

	chmod(0755, $self->{_testdir});

	push @objects, $self;
	weaken($objects[-1]);

	return $self;
}

sub DESTROY {
	my ($self) = @_;
	$self->_finish();
}

END {
	foreach my $t (@objects) {
		$t->_finish() if defined $t;
	}
}

sub testdir {
	my ($self) = @_;
	return $self->{_testdir};
}

###############################################################################

# features and versions

sub has {
	my ($self, @features) = @_;

	foreach my $feature (@features) {
		Test::More::plan(skip_all => "no $feature available")
			unless $self->has_module($feature);
	}

	return $self;
}

sub has_module {
	my ($self, $feature) = @_;

	my $args = $self->_nginx_V();
	my $globals = $ENV{TEST_NGINX_GLOBALS} // '';

	my $loaded = sub {
		my ($module) = @_;
		return $globals =~ /\bload_module\s+[^;]*\b\Q$module\E\.so\b/;
	};

	my $with = sub {
		my ($option, $module) = @_;
		my ($found, $dynamic) =
			$args =~ /(--with-\Q$option\E)(=dynamic)?(?=\s|$)/;
		return 0 unless $found;
		return $dynamic ? $loaded->($module) : 1;
	};

	my $without = sub {
		my ($option) = @_;
		return $args !~ /--without-\Q$option\E(?=\s|$)/;
	};

	my $http = $without->('http');
	my $stream = $with->('stream', 'ngx_stream_module');
	my $mail = $with->('mail', 'ngx_mail_module');

	my %features = (
		http => $http,
		stream => $stream,
		mail => $mail,
		ssl => $http && $with->('http_ssl_module'),
		http_ssl => $http && $with->('http_ssl_module'),
		http_v2 => $http && $with->('http_v2_module'),
		http_v3 => $http && $with->('http_v3_module'),
		cache => $http && $without->('http-cache'),
		pcre => $without->('pcre'),
		debug => $with->('debug'),
		threads => $with->('threads'),
		compat => $with->('compat'),
		file_aio => $with->('file-aio'),
		mail_ssl => $mail && $with->('mail_ssl_module'),
	);

	$features{$_} = $http && $without->("http_${_}_module")
		for @default_http;

	foreach my $name (@optional_http) {
		my $so = 'ngx_http_' . ($name eq 'xslt' ? 'xslt_filter' : $name)
			. '_module';
		$features{$name} = $http && $with->("http_${name}_module", $so);
	}

	$features{"stream_$_"} = $stream && $without->("stream_${_}_module")
		for @default_stream;
	$features{"stream_$_"} = $stream
		&& $with->("stream_${_}_module", "ngx_stream_${_}_module")
		for @optional_stream;

	return $features{$feature} ? 1 : 0 if exists $features{$feature};

	# third-party modules, such as "otel"

	return 1 if $args =~ /--add(?:-dynamic)?-module=\S*\Q$feature\E/;
	return $globals =~ /\bload_module\s+[^;]*\bngx_(?:http_|stream_)?
		\Q$feature\E(?:_module)?\.so\b/x ? 1 : 0;
}

sub has_daemon {
	my ($self, $daemon) = @_;

	Test::More::plan(skip_all => "$daemon not found")
		unless defined _which($daemon);

	return $self;
}

sub has_version {
	my ($self, $need) = @_;

	my ($have) = $self->_nginx_V() =~ m{nginx version: [^/\s]+/([\d.]+)};
	return 0 unless defined $have;

	my @have = split /\./, $have;
	my @need = split /\./, $need;

	while (@have || @need) {
		my ($x, $y) = (shift(@have) // 0, shift(@need) // 0);
		return $x > $y ? 1 : 0 if $x != $y;
	}

	return 1;
}

sub _nginx_V {
	my ($self) = @_;

	$self->{_V} //= (_capture($self->{_binary}, '-V'))[1];
	return $self->{_V};
}

###############################################################################

# running nginx and helper daemons

sub plan {
	my ($self, $tests) = @_;

	Test::More::plan(tests => $tests + 1);
	$self->{_alerts} = 1;

	return $self;
}

sub todo_alerts {
	my ($self) = @_;

	$self->{_todo_alerts} = 1;

	return $self;
}

sub try_run {
	my ($self, $message) = @_;

	open(my $stderr, '>&', \*STDERR) or die "Can't dup STDERR: $!\n";
	open(STDERR, '>', File::Spec->devnull()) or die "Can't redirect: $!\n";

	eval { $self->run(); };
	my $error = $@;

	open(STDERR, '>&', $stderr) or die "Can't restore STDERR: $!\n";

	return $self unless $error;

	Test::More::diag("try_run: $error") if $ENV{TEST_NGINX_VERBOSE};
	Test::More::plan(skip_all => $message);
}

sub run {
	my ($self) = @_;

	die "nginx is already running\n" if $self->{_started};

	my $dir = $self->{_testdir};
	my $pidfile = "$dir/nginx.pid";

	unlink($pidfile);

	my @cmd = ($self->{_binary}, '-p', "$dir/", '-c', 'nginx.conf');
	push @cmd, '-e', 'error.log' if $self->has_version('1.19.5');

	my $pid = fork() // die "fork() failed: $!\n";

	if ($pid == 0) {
		exec { $cmd[0] } @cmd
			or print STDERR "exec $cmd[0] failed: $!\n";
		POSIX::_exit(127);
	}

	# with "daemon off" the child is the master process; otherwise it
	# exits with 0 once the daemon is forked, and the pid file tells

	my ($exited, $master);
	my $end = time() + 10;

	while (time() < $end) {
		if (-s $pidfile) {
			($master) = $self->read_file('nginx.pid') =~ /(\d+)/;
			last if $master;
		}

		if (!$exited && waitpid($pid, WNOHANG) == $pid) {
			$exited = 1;
			last if $? != 0;
		}

		sleep(0.05);
	}

	if (!$master) {
		if (!$exited) {
			kill 'KILL', $pid;
			waitpid($pid, 0);
		}

		my $log = -e "$dir/error.log" ? $self->read_file('error.log')
			: '';
		my @emerg = $log =~ /^.*\[emerg\].*$/mg;

		die join("\n", "nginx failed to start", @emerg) . "\n";
	}

	waitpid($pid, 0) if $master != $pid && !$exited;

	$self->{_pid} = $master;
	$self->{_started} = 1;

	return $self;
}

sub reload {
	my ($self) = @_;

	kill 'HUP', $self->{_pid} if $self->{_started};

	return $self;
}

sub stop {
	my ($self) = @_;

	return $self unless $self->{_started};

	my $pid = $self->{_pid};

	kill 'QUIT', $pid;

	if (!_wait_exit($pid, 10)) {
		Test::More::diag("nginx did not exit on QUIT, sending TERM");
		kill 'TERM', $pid;

		if (!_wait_exit($pid, 5)) {
			kill 'KILL', $pid;
			_wait_exit($pid, 5);
		}
	}

	$self->{_started} = 0;

	return $self;
}

sub run_daemon {
	my ($self, $code, @args) = @_;

	my $pid = fork() // die "fork() failed: $!\n";

	if ($pid == 0) {

		# never return into the test script: no END blocks, no DESTROY

		if (ref $code eq 'CODE') {
			my $ok = eval { $code->(@args); 1 };
			print STDERR "daemon failed: $@" unless $ok;
			POSIX::_exit($ok ? 0 : 1);
		}

		exec { $code } $code, @args
			or print STDERR "exec $code failed: $!\n";
		POSIX::_exit(127);
	}

	push @{ $self->{_daemons} }, $pid;

	return $self;
}

sub stop_daemons {
	my ($self) = @_;

	my @pids = @{ $self->{_daemons} };
	$self->{_daemons} = [];

	kill 'TERM', @pids;

	foreach my $pid (@pids) {
		next if _wait_exit($pid, 5);
		kill 'KILL', $pid;
		_wait_exit($pid, 5);
	}

	return $self;
}

sub _wait_exit {
	my ($pid, $timeout) = @_;

	my $end = time() + $timeout;

	for ( ;; ) {
		my $rc = waitpid($pid, WNOHANG);

		# not our child (a daemonized master): poll for it to go away,
		# a zombie waiting for init to reap it counts as gone

		return 1 if $rc == $pid
			|| ($rc == -1 && (!kill(0, $pid) || _zombie($pid)));
		return 0 if time() >= $end;

		sleep(0.05);
	}
}

sub _zombie {
	my ($pid) = @_;

	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh> // '';
	close($fh);

	return $stat =~ /\)\s+Z\s/ ? 1 : 0;
}

sub _finish {
	my ($self) = @_;

	return if $self->{_finished} || $self->{_owner} != $$;
	$self->{_finished} = 1;

	local ($?, $@, $!);

	eval { $self->stop(); };
	eval { $self->stop_daemons(); };

	if ($self->{_alerts}) {
		local $TODO = $self->{_todo_alerts} ? 'alerts' : undef;
		Test::More::is(join("\n", $self->alerts()), '', 'no alerts');
	}

	if ($ENV{TEST_NGINX_CATLOG} && -e "$self->{_testdir}/error.log") {
		Test::More::diag($self->read_file('error.log'));
	}

	if ($ENV{TEST_NGINX_LEAVE}) {
		Test::More::diag("test directory left: $self->{_testdir}");
	}
}

sub alerts {
	my ($self) = @_;

	return () unless -e "$self->{_testdir}/error.log";
	return $self->read_file('error.log') =~ /^.*\[(?:alert|crit)\].*$/mg;
}

###############################################################################

# configuration test: nginx -t on a separate file

sub check_config {
	my ($self, $conf) = @_;

	my $name = 'check' . ++$self->{_checks} . '.conf';
	my $dir = $self->{_testdir};

	$self->write_file($name, $self->_expand($conf, 't_'));

	my @cmd = ($self->{_binary}, '-t', '-p', "$dir/", '-c', $name);
	push @cmd, '-e', 't_error.log' if $self->has_version('1.19.5');

	my ($status, $output) = _capture(@cmd);
	log_in($output);

	return wantarray ? ($status == 0, $output) : $status == 0;
}

###############################################################################

# files and sockets

sub waitforfile {
	my ($self, $file, $pid) = @_;

	$file = $self->_path($file);

	for (1 .. 50) {
		return 1 if -e $file;
		return 0 if defined $pid && waitpid($pid, WNOHANG) == $pid;
		sleep(0.1);
	}

	return 0;
}

sub waitforsocket {
	my ($self, $peer) = @_;

	for (1 .. 50) {
		my $s = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $peer,
			Timeout => 1);

		if ($s) {
			close($s);
			return 1;
		}

		sleep(0.1);
	}

	return 0;
}

sub read_file {
	my ($self, $name) = @_;

	open(my $fh, '<', $self->_path($name)) or die "Can't open $name: $!\n";
	binmode($fh);
	local $/;
	my $content = <$fh>;
	close($fh);

	return $content // '';
}

sub write_file {
	my ($self, $name, $content) = @_;

	my $path = $self->_path($name);
	my ($volume, $parent) = File::Spec->splitpath($path);
	make_path($parent) unless -d $parent;

	open(my $fh, '>', $path) or die "Can't create $name: $!\n";
	binmode($fh);
	print $fh $content;
	close($fh) or die "Can't write $name: $!\n";

	return $self;
}

sub write_file_expand {
	my ($self, $name, $content) = @_;
	return $self->write_file($name, $self->_expand($content));
}

sub _path {
	my ($self, $name) = @_;

	return $name if File::Spec->file_name_is_absolute($name);
	return "$self->{_testdir}/$name";
}

sub _expand {
	my ($self, $content, $prefix) = @_;

	my $user = $content =~ /^\s*user\s/m;

	$content =~ s/%%TEST_GLOBALS%%/$self->test_globals($prefix, $user)/ge;
	$content =~ s/%%TEST_GLOBALS_HTTP%%/$self->test_globals_http()/ge;
	$content =~ s/%%TEST_GLOBALS_STREAM%%/$self->test_globals_stream()/ge;
	$content =~ s/%%TESTDIR%%/$self->{_testdir}/g;
	$content =~ s/%%PORT_(\d+)%%/port($1)/ge;
	$content =~ s/\b127\.0\.0\.1:(8\d{3})(?!\d)/'127.0.0.1:' . port($1)/ge;

	return $content;
}

sub test_globals {
	my ($self, $prefix, $user) = @_;

	my $dir = $self->{_testdir};
	my $globals = $ENV{TEST_NGINX_GLOBALS} // '';

	$prefix //= '';

	my $s = "pid $dir/${prefix}nginx.pid;\n"
		. "error_log $dir/${prefix}error.log debug;\n";

	# a root master would run workers as "nobody"

	$s .= "user root;\n"
		if $> == 0 && !$user && $globals !~ /^\s*user\s/m;

	$s .= "$globals\n" if length $globals;

	return $s;
}

sub test_globals_http {
	my ($self) = @_;

	my $dir = $self->{_testdir};

	my $s = "root $dir;\n"
		. "access_log $dir/access.log;\n"
		. "client_body_temp_path $dir/client_body_temp;\n";

	foreach my $module (qw/ proxy fastcgi uwsgi scgi /) {
		$s .= "${module}_temp_path $dir/${module}_temp;\n"
			if $self->has_module($module);
	}

	$s .= "$ENV{TEST_NGINX_GLOBALS_HTTP}\n"
		if length($ENV{TEST_NGINX_GLOBALS_HTTP} // '');

	return $s;
}

sub test_globals_stream {
	my ($self) = @_;

	my $s = $ENV{TEST_NGINX_GLOBALS_STREAM} // '';

	return length $s ? "$s\n" : '';
}

###############################################################################

# ports: random, one per number, locked against parallel test processes

sub port {
	shift if ref $_[0];
	my ($num) = @_;

	die "port() needs a number\n" unless defined $num && $num =~ /^\d+$/;

	return $ports{$num}{port} if exists $ports{$num};

	# the lock is a UDP socket bound to the same port number: another
	# test process cannot take that number, and nginx can still bind
	# the TCP port, which is probed free here and closed

	for (1 .. 100) {
		my $port = 10000 + int(rand(20000));

		next if grep { $_->{port} == $port } values %ports;

		my $lock = IO::Socket::INET->new(Proto => 'udp',
			LocalAddr => "127.0.0.1:$port")
			or next;

		my $probe = IO::Socket::INET->new(Proto => 'tcp',
			LocalAddr => "127.0.0.1:$port", Listen => 1,
			ReuseAddr => 1)
			or next;

		close($probe);

		$ports{$num} = { port => $port, lock => $lock };
		return $port;
	}

	die "Can't find a free port for $num\n";
}

###############################################################################

# HTTP client

sub http_get {
	my ($uri, %extra) = @_;
	return http("GET $uri HTTP/1.0\r\nHost: localhost\r\n\r\n", %extra);
}

sub http_head {
	my ($uri, %extra) = @_;
	return http("HEAD $uri HTTP/1.0\r\nHost: localhost\r\n\r\n", %extra);
}

sub http {
	my ($request, %extra) = @_;

	my $s = http_start($request, %extra);

	return $s if $extra{start} || !defined $s;
	return http_end($s);
}

sub http_start {
	my ($request, %extra) = @_;

	my $s;

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = 'IGNORE';
		alarm(8);

		die "undefined socket\n"
			if exists $extra{socket} && !defined $extra{socket};

		$s = $extra{socket};

		if (!ref $s) {
			my $peer = $s // '127.0.0.1:' . port(8080);

			$s = IO::Socket::INET->new(Proto => 'tcp',
				PeerAddr => $peer)
				or die "Can't connect to $peer: $!\n";
		}

		_send($s, $request);

		sleep($extra{sleep}) if $extra{sleep};

		_send($s, $extra{body}) if defined $extra{body};

		alarm(0);
	};
	alarm(0);

	if ($@) {
		log_in("died: $@");
		return undef;
	}

	return $s;
}

sub http_end {
	my ($s) = @_;

	my $reply = '';

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm(8);

		for ( ;; ) {
			my $n = sysread($s, my $buf, 65536);

			if (!defined $n) {
				log_in("read failed: $!");
				last;
			}

			last if $n == 0;
			$reply .= $buf;
		}

		alarm(0);
	};
	alarm(0);

	if ($@) {
		log_in("died: $@");
		return undef;
	}

	close($s);
	log_in($reply);

	return $reply;
}

sub http_content {
	my ($reply) = @_;

	return undef unless defined $reply;

	my ($headers, $body) = $reply =~ /^(.*?)\r?\n\r?\n(.*)\z/s
		or return undef;

	return $body unless $headers =~ /^Transfer-Encoding:\s*chunked/mi;

	my $content = '';

	while ($body =~ s/^([0-9a-fA-F]+)[^\n]*\n//) {
		my $len = hex($1);

		return $content if $len == 0;

		$content .= substr($body, 0, $len, '');
		$body =~ s/^\r?\n//;
	}

	return $content . '[no-last-chunk]';
}

sub _send {
	my ($s, $data) = @_;

	log_out($data);

	# a write error (the peer closed early) still leaves a reply to read

	while (length $data) {
		my $n = syswrite($s, $data);

		if (!defined $n) {
			log_out("write failed: $!");
			return;
		}

		substr($data, 0, $n, '');
	}
}

sub log_out {
	_log('>> ', @_);
}

sub log_in {
	_log('<< ', @_);
}

sub _log {
	my ($prefix, @msg) = @_;

	return unless $ENV{TEST_NGINX_VERBOSE};

	my $msg = join('', @msg);
	$msg =~ s/^/$prefix/mg;
	Test::More::diag($msg);
}

###############################################################################

# processes and programs

sub _binary {
	my $binary = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';

	# test scripts chdir() to their own directory; a relative path is
	# taken from the directory prove was started in if it exists there

	if ($binary !~ m{/}) {
		return _which($binary) // $binary;
	}

	if (!File::Spec->file_name_is_absolute($binary) && defined $ENV{PWD}) {
		my $path = File::Spec->catfile($ENV{PWD}, $binary);
		return $path if -e $path;
	}

	return $binary;
}

sub _which {
	my ($program) = @_;

	return -f $program && -x _ ? $program : undef if $program =~ m{/};

	foreach my $dir (File::Spec->path()) {
		my $path = File::Spec->catfile($dir, $program);
		return $path if -f $path && -x _;
	}

	return undef;
}

sub _capture {
	my (@cmd) = @_;

	my $pid = open(my $fh, '-|') // die "fork() failed: $!\n";

	if ($pid == 0) {
		open(STDERR, '>&', \*STDOUT);
		exec { $cmd[0] } @cmd
			or print STDERR "exec $cmd[0] failed: $!\n";
		POSIX::_exit(127);
	}

	local $/;
	my $output = <$fh> // '';
	close($fh);

	return ($?, $output);
}

###############################################################################

1;

__END__

=head1 NAME

Test::Nginx - run nginx from .t files (a subset of nginx-tests' Test::Nginx)

=head1 SYNOPSIS

    BEGIN { use FindBin; chdir($FindBin::Bin); }
    use lib 'lib';
    use Test::Nginx;

    my $t = Test::Nginx->new()->has(qw/http proxy/)
        ->write_file_expand('nginx.conf', $conf);

    $t->try_run('no otel')->plan(2);    # or ->run() to never skip

    like(http_get('/'), qr/200 OK/, 'get');

=head1 ENVIRONMENT

C<TEST_NGINX_BINARY> (default F</usr/sbin/nginx>; a relative path is taken
from C<$PWD>, the directory prove was started in, when it exists there),
C<TEST_NGINX_GLOBALS> (appended to C<%%TEST_GLOBALS%%>, e.g.
C<load_module /abs/path/ngx_otel_module.so;>), C<TEST_NGINX_GLOBALS_HTTP>
(appended to C<%%TEST_GLOBALS_HTTP%%>), C<TEST_NGINX_LEAVE> (keep the test
directory), C<TEST_NGINX_CATLOG> (print error.log at the end),
C<TEST_NGINX_VERBOSE> (print HTTP traffic and why C<try_run> skipped).

Run as root, C<%%TEST_GLOBALS%%> adds C<user root;> (unless the
configuration or C<TEST_NGINX_GLOBALS> has a C<user> directive), so that
workers can use the test directory.

The "no alerts" test and the cleanup run from an END block of this
module, which runs before Test::More's own END block checks the plan;
forked children never run them.

=head1 METHODS

=over

=item new()

Creates a temporary test directory.  BAIL_OUT if the nginx binary is not
executable.

=item has(@features)

Skips the whole file unless every feature is available, as seen in
C<nginx -V>: C<http>, C<stream>, C<mail>, modules built by default
(C<proxy>, C<rewrite>, C<map>, C<fastcgi>, C<uwsgi>, C<scgi>, C<grpc>,
C<mirror>, C<ssi>, C<upstream_keepalive>, C<limit_req>, ...: present
unless C<--without-http_NAME_module>), optional modules (C<ssl>,
C<http_v2>, C<http_v3>, C<auth_request>, C<realip>, C<stub_status>, ...:
need C<--with-http_NAME_module>; a C<=dynamic> one counts only when
C<TEST_NGINX_GLOBALS> loads it), C<stream_NAME>, C<cache>, C<pcre>,
C<debug>, C<threads>, C<compat>.  Any other name is a third-party module:
present if added with C<--add-module> or loaded by C<TEST_NGINX_GLOBALS>
(C<otel> matches C<ngx_otel_module.so>).  nginx-tests instead matches an
unknown name as a regex against C<nginx -V>, so a portable test does not
ask C<has> for C<otel> but relies on C<try_run> or C<run>.  Returns $self.

=item has_module($feature)

The check behind C<has>, returning true or false.

=item has_daemon($program)

Skips the file unless $program is in PATH (or, with a slash, executable).
Returns $self.

=item has_version($version)

True if nginx is at least $version (e.g. C<'1.23.0'>).

=item todo_alerts()

Marks the "no alerts" test as TODO.  Returns $self.

=item plan($n)

Plans $n + 1 tests; the extra one is the "no alerts" check made when the
object is destroyed.  Returns $self.

=item run()

Starts C<nginx -p DIR/ -c nginx.conf -e error.log> (no C<-e> before
1.19.5) and waits up to 10 s for the pid file.  Dies, quoting the
C<[emerg]> lines of error.log, if nginx does not start.  Works with and
without C<daemon off>.  Returns $self.

=item try_run($message)

Like C<run>, with STDERR sent to /dev/null; skips the file with $message
if nginx does not start.  Returns $self.

=item reload()

Sends HUP to the master.  Does not wait: poll error.log or the responses.

=item stop()

Sends QUIT and waits up to 10 s, then TERM (5 s), then KILL.  Returns $self.

=item run_daemon($code, @args) / run_daemon($program, @args)

Forks a helper: calls $code->(@args) or execs $program, and never returns
into the test script in the child.  Returns $self.

=item stop_daemons()

Sends TERM to every helper, KILL after 5 s, and reaps them.

=item alerts()

The C<[alert]> and C<[crit]> lines of error.log.

=item check_config($conf)

Expands $conf (C<%%TEST_GLOBALS%%> then logs to F<t_error.log>) into a
new file F<checkN.conf> and runs C<nginx -t> on it.  Returns
C<($ok, $output)>, the output being nginx's stdout and stderr (C<[emerg]>
lines included); in scalar context only $ok.

=item waitforfile($file[, $pid])

Waits up to 5 s for $file (relative to the test directory unless
absolute); gives up early if child $pid exits.  Returns true or false.

=item waitforsocket('127.0.0.1:PORT')

Tries to connect for up to 5 s.  Returns true or false.  The daemon sees
one connection that is closed at once.

=item testdir(), read_file($name), write_file($name, $content)

The test directory; file access relative to it (write_file makes missing
directories and returns $self).

=item write_file_expand($name, $content)

Expands C<%%TEST_GLOBALS%%> (pid, C<error_log DIR/error.log debug>,
C<user root> when run as root and no C<user> is given, then
C<TEST_NGINX_GLOBALS>), C<%%TEST_GLOBALS_HTTP%%> (root, access_log,
the C<*_temp_path> of built modules, then C<TEST_NGINX_GLOBALS_HTTP>),
C<%%TESTDIR%%>, C<%%PORT_N%%> and C<127.0.0.1:8NNN> into C<port(N)>.
Returns $self.

=item test_globals(), test_globals_http(), test_globals_stream()

The text of the expansions (C<%%TEST_GLOBALS_STREAM%%> is only
C<TEST_NGINX_GLOBALS_STREAM>).

=back

=head1 FUNCTIONS

Exported: C<http http_get http_head http_start http_end port log_in
log_out>; on request: C<http_content>.  nginx-tests exports C<http_start>
and C<http_end> only on request, so a portable test asks for them:
C<use Test::Nginx qw/ :DEFAULT http_end />.

=over

=item port($n)

A free port for $n, the same for the whole process (forked daemons
included), chosen at random from 10000-29999.  A UDP socket bound to the same port number is kept open as a
lock, so parallel test processes never pick the same port, while nginx
and daemons can bind the TCP port.

=item http($request, %opts), http_get($uri, %opts), http_head($uri, %opts)

Send a raw request (C<http_get> and C<http_head> send HTTP/1.0 with
C<Host: localhost>) to 127.0.0.1:port(8080) and return the whole reply,
or undef on an 8 s timeout or a failed connect.  Options: C<socket> (a
connected socket or a C<host:port> string), C<sleep> (seconds to wait
after the request), C<body> (sent after the sleep), C<start> (return
the socket instead of reading).

=item http_start($request, %opts), http_end($socket)

The two halves of C<http>: send, and read the reply until the server
closes.

=item http_content($reply)

The body of a reply, chunked transfer encoding decoded (with
C<[no-last-chunk]> appended if the last chunk is missing); undef if
$reply is undef or has no end of headers.

=item log_out(@text), log_in(@text)

Print text with C<diag> when TEST_NGINX_VERBOSE is set.

=back

=cut
