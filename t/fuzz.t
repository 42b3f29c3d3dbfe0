#!/usr/bin/perl

# Tests for the client-facing parsers and the parsers of directive and
# environment values under libFuzzer: a short run of each fuzz target
# (fuzz/run.sh), with AddressSanitizer and UndefinedBehaviorSanitizer.  The
# long runs are "./build.sh fuzz SECONDS".

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

###############################################################################

my $tree = $ENV{NGX_OTEL_NGINX_OBJS};
my $seconds = $ENV{NGX_OTEL_FUZZ_SECONDS} || 3;

plan(skip_all => 'NGX_OTEL_NGINX_OBJS not set') unless defined $tree;
plan(skip_all => 'no clang') unless grep { -x "$_/clang" } split /:/,
	$ENV{PATH};

my @targets = qw/ traceparent b3 b3multi tracestate
	endpoint ratio keyval propagators header varname /;

plan(tests => scalar @targets);

my $out = `../fuzz/run.sh $seconds @targets 2>&1`;

for my $t (@targets) {
	my ($line) = $out =~ /^(fuzz $t: .*)$/m;
	like($line // '', qr/^fuzz $t: ok, \d+ runs/, "fuzz $t")
		or diag($out);
}

###############################################################################
