package Test::Load;

# Test::Load: a bounded load for the fault tests, and the memory of the
# worker processes.
#
# load_start() forks N clients; each sends M requests, one after another,
# over HTTP/1.1 keep-alive connections to the test's nginx and counts the
# answers.  A connection closed with no answer at all (an idle keep-alive
# connection closed by a stopping worker, a killed worker) gets the
# request once more on a new connection, as HTTP clients do with
# idempotent requests (RFC 9112, 9.3.1): counted as "resent".  A refused
# connection ends the client ("refused": nginx is gone, the request was
# never sent).  load_wait() waits for the clients and sums up:
#
#     planned  N * M
#     sent     requests nginx got (planned - refused)
#     served   200 answers
#     other    other complete answers
#     failed   no complete answer (a timeout, a cut answer)
#     unanswered  not a byte answered, twice (a stopping nginx resets the
#              connections it never accepted)
#     resent   requests sent twice, see above
#     refused  requests never sent, see above
#     slowest  the longest answer time, in seconds
#     seconds  how long the load ran
#
# workers_rss() is the VmRSS (and RssAnon) of the worker processes, summed,
# from /proc; memory_ok() tests that it grew less than a bound, unless the
# workers run with AddressSanitizer, whose shadow memory and quarantine
# grow with every allocation.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ fault_conf load load_start load_wait workers old_workers
	wait_old_workers workers_rss memory_ok sanitized master_pid fault_note /;

use IO::Socket::INET;
use POSIX qw/ _exit /;
use Test::More qw//;
use Time::HiRes qw/ sleep time /;

use Test::Nginx qw//;

###############################################################################

# options: clients (4), requests (250 each), uri ("/load": the requests go
# to URI/CLIENT/N), headers (extra raw lines, "\r\n" each), pause (seconds
# between two requests of a client), port (the test's 8080)

# the nginx.conf of the fault tests: two workers tracing "return 200",
# exporting over http/protobuf to a collector on 127.0.0.1:8082, and
# otel_status on /status; the exporter's timeout, batch_size and zone_size
# vary, and "took_log" logs the requests nginx took (for a quit)

sub fault_conf {
	my (%o) = @_;

	my $exporter = join '', map { "        $_ $o{$_};\n" }
		grep { defined $o{$_} } qw/ batch_size batch_count timeout
		zone_size /;

	my ($log, $status_log) = $o{took_log}
		? ("\n    log_format took '\$status \$request_uri';\n"
			. "    access_log %%TESTDIR%%/took.log took;\n",
			"            access_log off;\n")
		: ("    access_log off;\n", '');

	$exporter =~ s/(batch_size [^\n]*\n)/$1        batch_count 2;\n/
		unless defined $o{batch_count};

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    error_log %%TESTDIR%%/error.log info;
$log
    otel_exporter {
        endpoint http://127.0.0.1:8082;
        protocol http/protobuf;
        interval 100ms;
$exporter    }

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        otel_trace on;

        location / {
            return 200 "ok\\n";
        }

        location /status {
            otel_trace off;
            otel_status;
$status_log        }
    }
}

EOF
}

sub load_start {
	my ($t, %opts) = @_;

	my $clients = $opts{clients} // 4;
	my $requests = $opts{requests} // 250;
	my $dir = $t->testdir();
	my $id = ++$t->{_load};

	my $load = { t => $t, id => $id, clients => $clients,
		requests => $requests, pids => [], start => time() };

	for my $c (1 .. $clients) {
		my $pid = fork() // die "fork: $!\n";

		if ($pid == 0) {
			my $res = _client($c, $requests, %opts);

			open my $fh, '>', "$dir/load.$id.$c.tmp" or _exit(1);
			print $fh join(' ',
				map { "$_=$res->{$_}" } sort keys %$res), "\n";
			close $fh;
			rename "$dir/load.$id.$c.tmp", "$dir/load.$id.$c";

			_exit(0);
		}

		push @{ $load->{pids} }, $pid;
	}

	return $load;
}

sub load_wait {
	my ($load) = @_;

	waitpid($_, 0) for @{ $load->{pids} };

	my $t = $load->{t};
	my %sum = (planned => $load->{clients} * $load->{requests},
		seconds => sprintf('%.2f', time() - $load->{start}));

	for my $c (1 .. $load->{clients}) {
		my $line = eval { $t->read_file("load.$load->{id}.$c") } // '';

		for (split ' ', $line) {
			my ($k, $v) = split /=/;

			if ($k eq 'slowest') {
				$sum{$k} = $v if $v > ($sum{$k} // 0);
				next;
			}

			$sum{$k} += $v;
		}
	}

	$sum{$_} //= 0
		for qw/ sent served other failed unanswered resent refused slowest /;

	return \%sum;
}

sub load {
	my ($t, %opts) = @_;
	return load_wait(load_start($t, %opts));
}

sub _client {
	my ($c, $requests, %opts) = @_;

	my $uri = $opts{uri} // '/load';
	my $headers = $opts{headers} // '';
	my $peer = '127.0.0.1:' . ($opts{port} // Test::Nginx::port(8080));

	my %res = map { $_ => 0 }
		qw/ sent served other failed unanswered resent refused slowest /;
	my $s;

	local $SIG{PIPE} = 'IGNORE';

	for my $n (1 .. $requests) {
		my $req = "GET $uri/$c/$n HTTP/1.1\r\nHost: localhost\r\n"
			. "$headers\r\n";
		my $answer;
		my $t0 = time();

		for my $try (1, 2) {
			$s //= _connect($peer);

			if (!$s) {
				$res{refused} += $requests - $n + 1;
				return \%res;
			}

			$answer = _exchange($s, $req);

			last if $answer->{bytes};

			# closed with nothing answered: once more, on a new
			# connection

			close $s;
			undef $s;

			$res{resent}++ if $try == 1;
		}

		$res{sent}++;

		my $took = time() - $t0;
		$res{slowest} = sprintf('%.3f', $took) if $took > $res{slowest};

		if (!$answer->{bytes}) {
			$res{unanswered}++;

		} elsif (!$answer->{complete}) {
			$res{failed}++;

		} elsif ($answer->{status} == 200) {
			$res{served}++;

		} else {
			$res{other}++;
		}

		if (!$answer->{complete} || $answer->{close}) {
			close $s if $s;
			undef $s;
		}

		sleep $opts{pause} if $opts{pause};
	}

	close $s if $s;

	return \%res;
}

# a refused connection is retried for a moment: the listen queue may be
# full for an instant; a stopped nginx refuses for good

sub _connect {
	my ($peer) = @_;

	for (1 .. 10) {
		my $s = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $peer,
			Timeout => 2);
		return $s if $s;
		sleep 0.05;
	}

	return undef;
}

# one request and its answer: { bytes, complete, status, close }

sub _exchange {
	my ($s, $req) = @_;

	my $buf = '';
	my %a = (bytes => 0, complete => 0, status => 0, close => 0);

	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm(10);

		while (length $req) {
			my $n = syswrite($s, $req);
			die "write\n" unless $n;
			substr($req, 0, $n, '');
		}

		my $need;

		for ( ;; ) {
			$need //= _head($buf, \%a);

			if (defined $need && length($buf) >= $need) {
				$a{complete} = 1;
				last;
			}

			my $n = sysread($s, $buf, 65536, length $buf);
			last unless $n;

			$a{bytes} = length $buf;
		}

		alarm(0);
	};
	alarm(0);

	$a{status} //= 0;

	return \%a;
}

# the status line and headers: the length of the whole answer, or undef
# if the headers are not all there yet

sub _head {
	my ($buf, $a) = @_;

	my $end = index($buf, "\r\n\r\n");
	return undef if $end < 0;

	my $head = substr($buf, 0, $end);
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;

	($a->{status}) = $head =~ m!^HTTP/1\.\d (\d{3})!;
	$a->{close} = $head =~ /^Connection:\s*close/mi ? 1 : 0;

	return $end + 4 + ($len // 0);
}

###############################################################################

# processes

sub master_pid {
	my ($t) = @_;

	my ($pid) = (eval { $t->read_file("nginx.pid") } // "") =~ /(\d+)/;
	return $pid;
}

sub _children {
	my ($t) = @_;

	my $master = master_pid($t) or return ();

	open my $fh, '<', "/proc/$master/task/$master/children" or return ();
	my @pids = split ' ', <$fh> // '';
	close $fh;

	my @procs;

	for my $pid (@pids) {
		open $fh, '<', "/proc/$pid/cmdline" or next;
		my $cmd = <$fh> // '';
		close $fh;

		$cmd =~ s/\0+$//;
		push @procs, [ $pid, $cmd ];
	}

	return @procs;
}

# the worker processes, not the ones shutting down

sub workers {
	my ($t) = @_;
	return map { $_->[0] }
		grep { $_->[1] =~ /worker process$/ } _children($t);
}

sub old_workers {
	my ($t) = @_;
	return map { $_->[0] }
		grep { $_->[1] =~ /worker process is shutting down/ } _children($t);
}

sub wait_old_workers {
	my ($t, $timeout) = @_;

	my $end = time() + ($timeout // 10);
	sleep 0.1 while old_workers($t) && time() < $end;

	return !old_workers($t);
}

# (VmRSS, RssAnon) of the workers in kB, summed

sub workers_rss {
	my ($t) = @_;

	my ($rss, $anon) = (0, 0);

	for my $pid (workers($t)) {
		open my $fh, '<', "/proc/$pid/status" or next;
		my $status = join '', <$fh>;
		close $fh;

		$rss += $1 if $status =~ /^VmRSS:\s+(\d+)/m;
		$anon += $1 if $status =~ /^RssAnon:\s+(\d+)/m;
	}

	return wantarray ? ($rss, $anon) : $rss;
}

# a test: the workers' memory grew by less than $limit kB (10 MB)

sub memory_ok {
	my ($t, $before, $after, $limit) = @_;

	my $name = "worker memory bounded ($before -> $after kB)";

	SKIP: {
		Test::More::skip("$name: AddressSanitizer's own memory", 1)
			if sanitized($t);

		Test::More::ok($before > 0 && $after - $before < ($limit // 10240),
			$name);
	}
}

sub sanitized {
	my ($t) = @_;

	for my $pid (workers($t)) {
		open my $fh, '<', "/proc/$pid/maps" or next;
		my $maps = join '', <$fh>;
		close $fh;

		return 1 if $maps =~ /libasan/;
	}

	return 0;
}

###############################################################################

# the line the issue's note quotes: "fault NAME: key=value ..."

sub fault_note {
	my ($name, @pairs) = @_;

	my @kv;

	while (my ($k, $v) = splice(@pairs, 0, 2)) {
		push @kv, "$k=" . ($v // '-');
	}

	my $line = "fault $name: " . join(' ', @kv);

	Test::More::note($line);
	Test::More::diag($line) if $ENV{TEST_NGINX_VERBOSE};

	return $line;
}

###############################################################################

1;

###############################################################################
