#!/usr/bin/env bash
#
# bench/run.sh: throughput and latency of nginx with and without the
# module, on 127.0.0.1, in one run.
#
# One nginx worker pinned to CPU 0 (worker_cpu_affinity), wrk pinned to
# CPU 1 (taskset).  Each round runs every configuration once, in a rotated
# order, each on a fresh nginx: a warm-up, then the measured wrk run
# (--latency), then otel_status, then "nginx -s quit" (which flushes the
# exporter) and the spans are counted where they arrived.  A
# configuration's baseline (plain nginx, or plain proxying) runs right
# before it and right after it: A B A C A ... .  The summary gives medians
# over the rounds; a configuration's ratio is the median of its ratios to
# the mean of the two baseline runs around it, so that a machine whose
# speed drifts over minutes (a shared host) skews the ratios far less
# than it does the absolute figures.
#
#   bench/run.sh [CONFIG ...]      (default: all; see bench/common.sh)
#
# Environment:
#   BENCH_ROUNDS       undisturbed rounds wanted       (3)
#   BENCH_EXTRA_ROUNDS rounds to add for disturbed ones (2)
#   BENCH_MAX_OTHER    % of the CPUs other processes may take in a run
#                      before its round counts as disturbed (5)
#   BENCH_DURATION     seconds of each measured run    (4)
#   BENCH_WARMUP       seconds of warm-up before it    (1)
#   BENCH_CONNECTIONS  wrk connections                 (32)
#   BENCH_DIR          where configs, logs and results go (new under /tmp)
#   and those of bench/common.sh (BENCH_NGINX, OTEL_MODULE, BENCH_WORKERS,
#   BENCH_BATCH_SIZE, BENCH_ZONE_SIZE, BENCH_ATTRS, BENCH_INTERVAL).
#
# The default run (all 12 configurations, 3 rounds of 1 + 4 s, the
# baselines between them) takes about 7 minutes, 11 if two rounds must be
# run again.

set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rounds="${BENCH_ROUNDS:-3}"
extra="${BENCH_EXTRA_ROUNDS:-2}"
max_other="${BENCH_MAX_OTHER:-5}"
duration="${BENCH_DURATION:-4}"
warmup="${BENCH_WARMUP:-1}"
conns="${BENCH_CONNECTIONS:-32}"

BENCH_DIR="${BENCH_DIR:-$(mktemp -d /tmp/ngx-otel-bench.XXXXXX)}"
dir="$BENCH_DIR/run"
mkdir -p "$dir"
results="$dir/results"
: > "$results"

for tool in wrk taskset curl node cc; do
    command -v "$tool" >/dev/null \
        || { bench_log "$tool is missing (./build.sh bench installs it)";
             exit 1; }
done

if [ "$(nproc)" -lt 2 ]; then
    bench_log "this benchmark needs 2 CPUs (nginx on CPU 0, wrk on CPU 1)"
    exit 1
fi

read -r -a configs <<< "$(bench_select_configs "$@")"
[ ${#configs[@]} -gt 0 ] || exit 2

for name in "${configs[@]}"; do
    bench_config_line "$name" >/dev/null \
        || { bench_log "unknown configuration \"$name\""; exit 2; }
done


backend_dir="$dir/backend"
read -r backend_port grpc_port http_port node_http_port \
    <<< "$(bench_free_ports 4)"
receiver_pid=
current=

cleanup() {
    [ -n "$current" ] && bench_nginx_stop "$current"
    bench_nginx_stop "$backend_dir"
    case "$BENCH_SPANS_DIR" in
        /dev/shm/ngx-otel-bench.*) rm -rf "$BENCH_SPANS_DIR" ;;
    esac
    if [ -n "$receiver_pid" ]; then
        # shellcheck disable=SC2086
        kill $receiver_pid 2>/dev/null || true
    fi
}

trap cleanup EXIT

# made here, not in a subshell that would forget it
bench_spans_file "$dir" > /dev/null

bench_write_backend_conf "$backend_dir" "$backend_port"
bench_nginx_start "$backend_dir" "$backend_port"

# processes of ours besides the nginx under test: the backend's
others="$(cat "$backend_dir/nginx.pid") $(bench_workers "$backend_dir")"

# The receivers share CPU 1 with wrk: their work is not nginx's, and what
# they take, wrk cannot.  OTLP/HTTP goes to bench/receiver.c, which takes
# under 1% of that CPU at 120,000 spans/s (bench/receiver.js took 10 to
# 15%); gRPC to bench/receiver.js, whose HTTP port is then only asked for
# its counts.
cc -O2 -o "$dir/receiver" "$bench_repo/bench/receiver.c" \
    || { bench_log "bench/receiver.c did not build"; exit 1; }

taskset -c 1 "$dir/receiver" "$http_port" > "$dir/receiver-http.out" 2>&1 &
receiver_pid=$!

taskset -c 1 node "$bench_repo/bench/receiver.js" "$grpc_port" \
    "$node_http_port" > "$dir/receiver.out" 2>&1 &
receiver_pid="$receiver_pid $!"

if ! bench_wait_port "$grpc_port" || ! bench_wait_port "$http_port" \
   || ! bench_wait_port "$node_http_port"
then
    bench_log "the OTLP receivers did not start:"
    cat "$dir/receiver-http.out" "$dir/receiver.out" >&2
    exit 1
fi

# spans received by both receivers
receiver_spans() {
    local port total=0 n

    for port in "$http_port" "$node_http_port"; do
        n="$(curl -s "http://127.0.0.1:$port/stats" \
             | perl -ne 'print "$1\n" if /"spans":(\d+)/')"
        total=$((total + ${n:-0}))
    done

    echo "$total"
}


# a network configuration runs only when the module can export over the
# network: until then its workers log that it cannot

runnable=()

for name in "${configs[@]}"; do
    if bench_is_network "$name"; then
        d="$dir/probe-$name"
        port="$(bench_free_port)"
        rport="$(bench_receiver_port "$name" "$grpc_port" "$http_port")"

        bench_write_conf "$name" "$d" wrk "$port" "$backend_port" "$rport"
        current="$d"
        bench_nginx_start "$d" "$port"
        sleep 0.3
        bench_nginx_stop "$d"
        current=

        if grep -q "network export is not available" "$d/error.log"; then
            bench_log "$name: SKIPPED: the module cannot export over the" \
                      "network yet (its workers log \"network export is" \
                      "not available in this version\")"
            echo "$name skip" >> "$results"
            continue
        fi
    fi

    runnable+=("$name")
done


# wrk's figures: requests, rps, p50 and p99 in microseconds, errors
wrk_parse() {
    perl -ne '
        sub us { my ($v, $u) = @_;
                 return $v * ($u eq "s" ? 1e6 : $u eq "ms" ? 1e3 : 1); }
        $req = $1 if /^\s*(\d+) requests in/;
        $rps = $1 if /^Requests\/sec:\s*([\d.]+)/;
        $p50 = us($1, $2) if /^\s*50%\s+([\d.]+)(us|ms|s)\b/;
        $p99 = us($1, $2) if /^\s*99%\s+([\d.]+)(us|ms|s)\b/;
        $err += $1 if /Non-2xx or 3xx responses:\s*(\d+)/;
        if (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
            $err += $1 + $2 + $3 + $4;
        }
        END { printf "%d %.0f %.0f %.0f %d\n", $req, $rps, $p50, $p99,
                     $err // 0 }' "$1"
}

# run_one NAME ROUND: one measurement, appended to $results as
#   name round rps p50 p99 cpu_us requests queued dropped spans errors
#   foreign seq busy receiver
seq=0

run_one() {
    local name="$1" round="$2" d port rport workers t0 t1 ticks status
    local req rps p50 p99 err wreq queued dropped spans before cpu_us
    local ours0 ours1 all0 all1 foreign rcv0 rcv1 busy receiver

    d="$dir/$name/$round"
    rm -rf "$d"
    port="$(bench_free_port)"
    rport="$(bench_receiver_port "$name" "$grpc_port" "$http_port")"

    bench_write_conf "$name" "$d" wrk "$port" "$backend_port" "$rport"

    before="$(receiver_spans)"

    current="$d"
    bench_nginx_start "$d" "$port"

    url="http://127.0.0.1:$port/"

    taskset -c 1 wrk -t1 -c"$conns" -d"${warmup}s" "$url" > "$d/warmup.txt"
    read -r wreq _ < <(wrk_parse "$d/warmup.txt")

    # shellcheck disable=SC2046
    workers=$(bench_workers "$d")
    # shellcheck disable=SC2086
    t0=$(bench_cpu_ticks $workers)
    # shellcheck disable=SC2086
    ours0=$(bench_cpu_ticks $others $receiver_pid)
    # shellcheck disable=SC2086
    rcv0=$(bench_cpu_ticks $receiver_pid)
    all0=$(bench_busy_ticks)
    bench_children_ticks "$d/wrk0"

    taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --latency "$url" \
        > "$d/wrk.txt"

    all1=$(bench_busy_ticks)
    bench_children_ticks "$d/wrk1"
    # shellcheck disable=SC2086
    t1=$(bench_cpu_ticks $workers)
    # shellcheck disable=SC2086
    ours1=$(bench_cpu_ticks $others $receiver_pid)
    # shellcheck disable=SC2086
    rcv1=$(bench_cpu_ticks $receiver_pid)
    ticks=$((t1 - t0))

    # CPU time of other processes while wrk ran, in % of both CPUs: what
    # the machine's other users took from this measurement
    foreign="$(perl -e 'my $f = $ARGV[0] / ($ARGV[1] * $ARGV[2] * 2);
                        printf "%.1f", $f < 0 ? 0 : 100 * $f' \
               -- "$(( (all1 - all0) - ticks - (ours1 - ours0)
                    - $(cat "$d/wrk1") + $(cat "$d/wrk0") ))" \
               "$duration" "$(getconf CLK_TCK)")"

    read -r req rps p50 p99 err < <(wrk_parse "$d/wrk.txt")

    queued=-
    dropped=-

    if bench_uses_module "$name"; then
        status="$(curl -s "http://127.0.0.1:$port/otel_status")"
        queued="$(bench_status_field "$status" queued)"
        dropped="$(bench_status_field "$status" dropped)"
    fi

    bench_nginx_stop "$d"
    current=

    spans=-

    if bench_uses_module "$name"; then
        if bench_is_network "$name"; then
            spans=$(( $(receiver_spans) - before ))
        else
            spans="$(bench_count_spans "$(bench_spans_file "$d")")"
            rm -f "$(bench_spans_file "$d")"
        fi
    fi

    # nginx's CPU time per request (all workers), in microseconds
    cpu_us="$(perl -e 'printf "%.2f", $ARGV[0] * 1e6 / $ARGV[1] / $ARGV[2]' \
              "$ticks" "$(getconf CLK_TCK)" "$req")"

    # how busy nginx's workers kept CPU 0, where all of them run: under
    # 100 the load generator's CPU, which the receiver shares, set the
    # pace, not nginx; and the receiver's share of that CPU
    read -r busy receiver < <(perl -e '
        printf "%.1f %.1f\n", map { 100 * $_ / ($ARGV[2] * $ARGV[3]) }
                              $ARGV[0], $ARGV[1]' \
        "$ticks" "$((rcv1 - rcv0))" "$duration" "$(getconf CLK_TCK)")

    seq=$((seq + 1))

    echo "$name $round $rps $p50 $p99 $cpu_us $((req + wreq)) $queued" \
         "$dropped $spans $err $foreign $seq $busy $receiver" >> "$results"

    bench_log "  $name: $rps req/s, p50 ${p50}us, p99 ${p99}us," \
              "nginx CPU ${cpu_us}us/req, spans $spans of $((req + wreq))" \
              "requests (queued $queued, dropped $dropped), errors $err," \
              "nginx busy ${busy}%, receiver ${receiver}% of CPU 1," \
              "other processes ${foreign}% CPU"
}


bench_log "bench: ${#runnable[@]} configurations, $rounds rounds of" \
          "${warmup}+${duration} s, wrk -c$conns on CPU 1," \
          "${BENCH_WORKERS:-1} nginx worker(s) on CPU 0; in $dir"
bench_log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

n=${#runnable[@]}

# the baselines that something is measured against
measured=

for name in "${runnable[@]}"; do
    base="$(bench_baseline "$name")"
    [ "$base" = "$name" ] || measured="$measured $base"
done

# a round in which other processes took more than BENCH_MAX_OTHER % of
# the CPUs during any run is run again, up to BENCH_EXTRA_ROUNDS times

quiet=0
r=0

while [ "$quiet" -lt "$rounds" ] && [ "$r" -lt $((rounds + extra)) ]; do
    r=$((r + 1))
    bench_log "round $r ($quiet of $rounds undisturbed so far)"

    # a different order each round, so no configuration always runs
    # first; the baselines around the others
    last=

    for ((i = 0; i < n; i++)); do
        name="${runnable[$(( (i + r - 1) % n ))]}"
        base="$(bench_baseline "$name")"

        if [ "$base" = "$name" ]; then

            # a baseline runs alone only when nothing is measured against it
            if [[ " $measured " != *" $name "* ]]; then
                run_one "$name" "$r"
                last="$name"
            fi

            continue
        fi

        if [ "$last" != "$base" ]; then
            run_one "$base" "$r"
        fi

        run_one "$name" "$r"
        run_one "$base" "$r"
        last="$base"
    done

    if awk -v r="$r" -v max="$max_other" \
           '$2 == r && $12 + 0 > max { bad = 1 } END { exit !bad }' \
           "$results"
    then
        bench_log "round $r disturbed by other processes"
    else
        quiet=$((quiet + 1))
    fi
done

bench_log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"


# the summary

perl - "$results" "$r" "$duration" "$conns" "${BENCH_WORKERS:-1}" \
    "$max_other" "${configs[@]}" <<'EOF'
use strict;
use warnings;

my ($file, $rounds, $duration, $conns, $workers, $max_other, @configs) =
    @ARGV;

my %base = (
    plain => 'plain', off => 'plain', off_srv => 'plain', off_loc => 'plain',
    ratio10 => 'plain', on100 => 'plain', grpc => 'plain',
    http_protobuf => 'plain', proxy_plain => 'proxy_plain',
    proxy_prop => 'proxy_plain', proxy_client => 'proxy_plain',
    proxy_otlp => 'proxy_plain',
);

my (%r, %all, %skip);

# a run's key: its round and its place in the whole run
open my $fh, '<', $file or die;
while (<$fh>) {
    my @f = split;
    if ($f[1] eq 'skip') { $skip{$f[0]} = 1; next; }
    my %m;
    @m{qw/rps p50 p99 cpu req queued dropped spans err foreign seq busy
          receiver/} = @f[2 .. 14];
    $all{$f[0]}{"$f[1].$f[12]"} = \%m;
}

# runs that other processes disturbed are left out, unless all were

my ($kept, $total, @noisy) = (0, 0);

for my $c (sort keys %all) {
    my @quiet = grep { $all{$c}{$_}{foreign} <= $max_other }
                keys %{$all{$c}};
    $kept += @quiet;
    $total += keys %{$all{$c}};

    unless (@quiet) {
        push @noisy, $c;
        @quiet = keys %{$all{$c}};
    }

    $r{$c}{$_} = $all{$c}{$_} for @quiet;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined && $_ ne '-' } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub max { my $m; for (@_) { $m = $_ if !defined $m || $_ > $m } $m }
sub min { my $m; for (@_) { $m = $_ if !defined $m || $_ < $m } $m }

sub col { my ($c, $k) = @_; map { $r{$c}{$_}{$k} } sort keys %{$r{$c}} }

# the median of the ratios of a configuration's runs to the mean of the
# baseline runs next to each (the last before it, the first after it)
sub ratio {
    my ($c, $k) = @_;
    my @v;
    for my $set (\%r, \%all) {
        my @base = sort { $a->{seq} <=> $b->{seq} }
                   values %{$set->{$base{$c}}};
        for my $run (values %{$set->{$c}}) {
            my ($before) = reverse grep { $_->{seq} < $run->{seq} } @base;
            my ($after) = grep { $_->{seq} > $run->{seq} } @base;
            my @y = map { $_->{$k} } grep { defined } $before, $after;
            next unless @y;
            my $y = 0;
            $y += $_ / @y for @y;
            push @v, $run->{$k} / $y if $y;
        }
        last if @v;
    }
    return median(@v);
}

printf "\nResults: %d rounds of %d s, wrk -t1 -c%d on CPU 1, "
    . "%d nginx worker(s) on CPU 0; %d of %d runs undisturbed (other "
    . "processes <= %s%% CPU)\n", $rounds, $duration, $conns,
    $workers, $kept, $total, $max_other;
printf "WARNING: no undisturbed run of %s: all their runs are used\n",
    join(', ', @noisy) if @noisy;
print "\n";

printf "| %-13s | %8s | %7s | %7s | %6s | %6s | %6s | %7s | %5s | %5s "
    . "| %6s | %s\n",
    'configuration', 'req/s', 'vs base', 'best', 'p50 us', 'p99 us',
    'CPU us', 'vs base', 'busy', 'rcv', 'other',
    'spans received / queued / dropped / requests';
print "|---------------|----------|---------|---------|--------|--------"
    . "|--------|---------|-------|-------|--------|"
    . "-----------------------------------\n";

for my $c (@configs) {
    if ($skip{$c}) {
        printf "| %-13s | %s\n", $c,
            'skipped: the module cannot export over the network yet';
        next;
    }

    next unless $r{$c};

    my $sum = sub { my $t = 0; $t += $_ for grep { $_ ne '-' } col($c, $_[0]);
                    $t };
    # spans are counted over all runs, disturbed or not
    my $sum_all = sub { my $t = 0;
        $t += $_ for grep { $_ ne '-' }
                     map { $all{$c}{$_}{$_[0]} } keys %{$all{$c}};
        $t };
    my $spans = $r{$c}{(keys %{$r{$c}})[0]}{spans} eq '-' ? '-'
        : sprintf "%d / %d / %d / %d", $sum_all->('spans'),
              $sum_all->('queued'), $sum_all->('dropped'), $sum_all->('req');

    my $b = $base{$c};
    my ($ratio, $best, $cratio) = ('base', 'base', 'base');

    if ($c ne $b && $r{$b}) {
        $ratio = sprintf '%.1f%%', 100 * (ratio($c, 'rps') // 0);
        $best = sprintf '%.1f%%',
            100 * max(col($c, 'rps')) / max(col($b, 'rps'));
        $cratio = sprintf '%+.1f%%', 100 * ((ratio($c, 'cpu') // 1) - 1);
    }

    # the receiver's CPU, of the configurations that send to it
    my $rcv = $c =~ /^(grpc|http_protobuf|proxy_otlp)$/
              ? sprintf('%4.1f%%', median(col($c, 'receiver'))) : '    -';

    printf "| %-13s | %8.0f | %7s | %7s | %6.0f | %6.0f | %6.2f | %7s "
        . "| %4.0f%% | %s | %5.1f%% | %s\n",
        $c, median(col($c, 'rps')), $ratio, $best, median(col($c, 'p50')),
        median(col($c, 'p99')), median(col($c, 'cpu')), $cratio,
        median(col($c, 'busy')), $rcv, max(col($c, 'foreign')), $spans;

    my $err = $sum->('err');
    print "|   ($c: $err wrk errors)\n" if $err;
}

print <<END;

req/s, p50, p99, CPU us: medians over the runs.  vs base: the median of
the ratios to the baseline (plain nginx; plain proxying for proxy_*), each
run against the mean of the baseline runs just before and after it; best:
best run against best baseline run.  CPU us: the nginx
workers' CPU time (/proc) per answered request.  busy: how much of CPU 0
the workers used while wrk ran; for return 200, below about 98%
nginx was not what set the pace: wrk's CPU was, which rcv, the OTLP
receiver of the network configurations, shares with it (% of that CPU);
proxy_* share CPU 0 with their backend, a third of it.  other: the most CPU that
processes not of this benchmark took in a kept run (% of both CPUs); runs
above BENCH_MAX_OTHER are left out of all figures but the spans.  spans:
summed over all runs and warm-ups; requests still in flight when wrk stops
make spans that wrk does not count.
END
EOF
