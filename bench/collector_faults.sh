#!/usr/bin/env bash
#
# bench/collector_faults.sh: what a collector that is down or hangs costs
# the clients.  One nginx worker (CPU 0) traces every request of a
# "return 200" location and exports over http/protobuf to a collector that
# is up (a second nginx answering 200), down (a closed port) or hanging (a
# socket that is listening and never accepts); wrk (CPU 1) measures
# throughput and latency.  Rounds alternate the three cases and the
# summary gives medians, the p99 ratio to "up", and the worker's RSS
# before and after each run.
#
#   bench/collector_faults.sh
#
# Environment: BENCH_ROUNDS (3), BENCH_DURATION (8 s), BENCH_CONNECTIONS
# (32), OTEL_MODULE (build/ngx_otel_module.so), BENCH_NGINX (/usr/sbin/nginx).

set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="${OTEL_MODULE:-$repo/build/ngx_otel_module.so}"
nginx="${BENCH_NGINX:-/usr/sbin/nginx}"
rounds="${BENCH_ROUNDS:-3}"
duration="${BENCH_DURATION:-8}"
conns="${BENCH_CONNECTIONS:-32}"

dir="$(mktemp -d /tmp/ngx-otel-faults.XXXXXX)"
trap 'cleanup' EXIT

port() {
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(
        LocalAddr => "127.0.0.1", Listen => 1)->sockport'
}

front=$(port)
up=$(port)
down=$(port)
hang=$(port)

cleanup() {
    for p in "$dir"/*/nginx.pid; do
        [ -f "$p" ] && kill -QUIT "$(cat "$p")" 2>/dev/null || true
    done
    [ -n "${hang_pid:-}" ] && kill "$hang_pid" 2>/dev/null || true
    sleep 0.5
    rm -rf "$dir"
}

conf() {
    local name=$1 body=$2

    mkdir -p "$dir/$name"
    cat >"$dir/$name/nginx.conf" <<EOF
$body
pid $dir/$name/nginx.pid;
error_log $dir/$name/error.log warn;
worker_processes 1;
events { worker_connections 4096; }
EOF
}

# the collector that is up: 200 with an empty ExportTraceServiceResponse

conf collector "
daemon on;
worker_cpu_affinity 10;
http {
    access_log off;
    client_body_temp_path $dir/collector;
    server {
        listen 127.0.0.1:$up;
        location / { client_max_body_size 64m; return 200; }
    }
}"

"$nginx" -p "$dir/collector/" -c nginx.conf

# the collector that hangs: the kernel completes the handshakes of a
# listening socket that is never accepted from

perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:'"$hang"'",
        Listen => 1024) or die;
    sleep 3600' &
hang_pid=$!

run_case() {
    local case=$1 endpoint=$2 rss0 rss1 pid out

    conf front "
load_module $module;
daemon on;
worker_cpu_affinity 01;
http {
    access_log off;
    otel_exporter {
        endpoint $endpoint;
        protocol http/protobuf;
        timeout 2s;
    }
    otel_trace on;
    server {
        listen 127.0.0.1:$front;
        location / { return 200 \"ok\n\"; }
        location = /status { otel_trace off; otel_status; }
    }
}"

    "$nginx" -p "$dir/front/" -c nginx.conf
    sleep 0.5

    pid=$(pgrep -P "$(cat "$dir/front/nginx.pid")" | head -1)

    taskset -c 1 wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$front/" \
        >/dev/null
    rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")

    out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --latency \
          "http://127.0.0.1:$front/")

    rss1=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")

    echo "$case $(echo "$out" | awk '
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        END { print rps, p50, p99 }') $rss0 $rss1 \
        $(curl -s "http://127.0.0.1:$front/status" \
          | perl -MJSON::PP -0 -ne '$s = decode_json($_);
                print "$s->{spans}{dropped} $s->{export_requests}{failed}"')" \
        >>"$dir/results"

    kill -QUIT "$(cat "$dir/front/nginx.pid")"

    # a quit waits up to "timeout" for the exports in flight
    while [ -f "$dir/front/nginx.pid" ]; do sleep 0.1; done
}

: >"$dir/results"

for r in $(seq "$rounds"); do
    for c in up down hang; do
        case $c in
            up)   run_case up "http://127.0.0.1:$up" ;;
            down) run_case down "http://127.0.0.1:$down" ;;
            hang) run_case hang "http://127.0.0.1:$hang" ;;
        esac
    done
    echo "round $r of $rounds done" >&2
done

perl - "$dir/results" <<'EOF'
my (%rps, %p50, %p99, %rss, %drop, %fail);

sub us {
    my ($v) = @_;
    my ($n, $u) = $v =~ /^([\d.]+)(\w+)$/;
    return $n * { us => 1, ms => 1000, s => 1e6 }->{$u};
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

open my $fh, '<', $ARGV[0] or die;

while (<$fh>) {
    my ($c, $rps, $p50, $p99, $r0, $r1, $drop, $fail) = split;
    push @{$rps{$c}}, $rps;
    push @{$p50{$c}}, us($p50);
    push @{$p99{$c}}, us($p99);
    push @{$rss{$c}}, "$r0->$r1";
    push @{$drop{$c}}, $drop;
    push @{$fail{$c}}, $fail;
}

my $base = median(@{$p99{up}});

printf "%-6s %10s %9s %9s %10s  %s\n", 'case', 'req/s', 'p50 us',
    'p99 us', 'p99 vs up', 'worker RSS kB per round (dropped, failed)';

for my $c (qw/ up down hang /) {
    printf "%-6s %10.0f %9.0f %9.0f %9.1f%%  %s\n", $c, median(@{$rps{$c}}),
        median(@{$p50{$c}}), median(@{$p99{$c}}),
        100 * median(@{$p99{$c}}) / $base,
        join(', ', map { "$rss{$c}[$_] ($drop{$c}[$_], $fail{$c}[$_])" }
            0 .. $#{$rss{$c}});
}
EOF
