#!/usr/bin/perl

# (C) ngx_otel_module authors

# Tests for the trace context code (ngx_otel_trace.c) and the parsers of
# directive and environment values (ngx_otel_conf_value.c): builds the C
# harnesses t/unit/trace_unit.c and t/unit/conf_value_unit.c against a
# configured nginx tree and passes their TAP results through.  Does not
# need a running nginx.
#
# NGX_OTEL_NGINX_OBJS names the configured nginx source tree (the one with
# objs/ngx_auto_config.h in it), or its objs directory.  When the compiler
# can, the harness is also built and run with AddressSanitizer and
# UndefinedBehaviorSanitizer, which catch any read past a header's length.

###############################################################################

use warnings;
use strict;

use Test::More;

use File::Temp qw/ tempdir /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

###############################################################################

my $tree = $ENV{NGX_OTEL_NGINX_OBJS};

plan(skip_all => 'NGX_OTEL_NGINX_OBJS not set') unless defined $tree;

$tree =~ s!/+$!!;
$tree =~ s!/objs$!! unless -f "$tree/objs/ngx_auto_config.h";

plan(skip_all => "no configured nginx tree in $tree")
	unless -f "$tree/objs/ngx_auto_config.h"
	&& -f "$tree/src/core/ngx_core.h";

my $cc = $ENV{CC} || 'cc';
my $dir = tempdir('ngx_otel_unit_XXXXXX', TMPDIR => 1, CLEANUP => 1);

my @incs = map { ('-I', "$tree/$_") }
	qw(src/core src/event src/event/modules src/os/unix objs);

my %harnesses = (
	trace_unit => 'ngx_otel_trace.c',
	conf_value_unit => 'ngx_otel_conf_value.c',
);

my @srcs;

push @incs, '-I', "$FindBin::Bin/../ngx_otel_module";

###############################################################################

for my $h (sort keys %harnesses) {
	@srcs = ("$FindBin::Bin/unit/$h.c",
		"$FindBin::Bin/../ngx_otel_module/$harnesses{$h}");

	my $log = build("$dir/$h", '-O1', '-Wall', '-Werror');

	if (defined $log) {
		fail("$h: harness builds");
		diag($log);
		next;
	}

	run("$dir/$h", "$h: ");

	SKIP: {
		$log = build("$dir/${h}_san", '-O1', '-g', '-Wall', '-Werror',
			'-fsanitize=address,undefined',
			'-fno-sanitize-recover=all', '-fno-omit-frame-pointer');

		skip("no sanitizers: " . (split /\n/, $log)[0], 1)
			if defined $log;

		local $ENV{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=0';
		local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1';

		run("$dir/${h}_san", "$h sanitized: ");
	}
}

done_testing();

###############################################################################

# compiles the harness; returns undef on success, the compiler output if not

sub build {
	my ($bin, @flags) = @_;

	open my $olderr, '>&', \*STDERR or die "dup STDERR: $!";
	open my $oldout, '>&', \*STDOUT or die "dup STDOUT: $!";
	open STDERR, '>', "$dir/cc.log" or die "open cc.log: $!";
	open STDOUT, '>&', \*STDERR or die "dup: $!";

	my $rc = system($cc, @flags, @incs, '-o', $bin, @srcs);

	open STDOUT, '>&', $oldout or die "restore STDOUT: $!";
	open STDERR, '>&', $olderr or die "restore STDERR: $!";

	return undef if $rc == 0;

	open my $fh, '<', "$dir/cc.log" or return "$cc failed";
	local $/;
	my $out = <$fh>;
	close $fh;

	return "$cc failed: " . ($out || '(no output)');
}

# runs the harness and turns each of its TAP lines into a Test::More result

sub run {
	my ($bin, $prefix) = @_;

	my ($count, $plan) = (0, undef);

	open my $fh, '-|', $bin or die "run $bin: $!";

	while (my $line = <$fh>) {
		chomp $line;

		if ($line =~ /^(not )?ok (\d+)(?: - (.*))?$/) {
			$count++;
			ok(!defined $1, $prefix . ($3 // "test $2"));

		} elsif ($line =~ /^1\.\.(\d+)$/) {
			$plan = $1;

		} elsif ($line =~ /^# ?(.*)$/) {
			diag($1);

		} else {
			diag("harness: $line");
		}
	}

	close $fh;

	is($?, 0, $prefix . 'harness exit status');
	is($plan, $count, $prefix . 'harness ran its plan');
}

###############################################################################
