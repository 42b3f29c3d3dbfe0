#!/usr/bin/env bash
#
# bench/load.sh: how the module's cost grows with load, for
# docs/performance.md.  Runs, with 100% sampling and one configuration
# (LOAD_CONFIG: http_protobuf, exporting to the local receiver, or any of
# bench/common.sh's, such as on100 for the file exporter):
#
#   - instructions per request (bench/callgrind.sh) for several
#     otel_exporter batch_size values and numbers of otel_span_attr;
#   - throughput, CPU per request and dropped spans (bench/run.sh) with
#     1 and 2 workers (both on CPU 0) and several zone_size values.
#
# Environment: LOAD_BATCH_SIZES (1 16 512 4096), LOAD_ATTRS (4 16; each
# as "$remote_addr" (var) and as "value-N-$remote_addr" (text)),
# LOAD_WORKERS (1 2), LOAD_ZONES (64k 256k 4m), and those of
# bench/run.sh (BENCH_ROUNDS defaults to 2 here, BENCH_DURATION to 4).
# About 20 minutes.

set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

BENCH_DIR="${BENCH_DIR:-$(mktemp -d /tmp/ngx-otel-bench.XXXXXX)}"
export BENCH_ROUNDS="${BENCH_ROUNDS:-2}"
export BENCH_DURATION="${BENCH_DURATION:-4}"

out="$BENCH_DIR/load"
mkdir -p "$out"

config="${LOAD_CONFIG:-http_protobuf}"

# the "| CONFIG ..." line of a table, as fields
row() {   # FILE CONFIG
    grep "^| $2 " "$1" | tr -d '|' | tr -s ' '
}

echo "Instructions per request (callgrind), $config:"
echo
echo "| batch_size | otel_span_attr | module's | layout | own | request | export |"
echo "|-----------:|---------------:|---------:|-------:|----:|--------:|-------:|"

for b in ${LOAD_BATCH_SIZES:-1 16 512 4096}; do

    # a network exporter's last partial batch is not sent under callgrind
    # (see there): both runs must make full batches
    n1=$(( b >= 1000 ? 2 * b : 2000 ))

    BENCH_DIR="$out/cg-batch-$b" BENCH_BATCH_SIZE="$b" \
        CG_N1="$n1" CG_N2="$((2 * n1))" \
        bash "$bench/callgrind.sh" "$config" > "$out/cg-batch-$b.txt" 2>&1
    read -r _ _ m l o q e _ < <(row "$out/cg-batch-$b.txt" "$config")
    echo "| $b | 0 | $m | $l | $o | $q | $e |"
done

for form in var text; do
    for a in ${LOAD_ATTRS:-4 16}; do
        BENCH_DIR="$out/cg-attrs-$form-$a" BENCH_ATTRS="$a" \
            BENCH_ATTR_FORM="$form" \
            bash "$bench/callgrind.sh" "$config" \
            > "$out/cg-attrs-$form-$a.txt" 2>&1
        read -r _ _ m l o q e _ < <(row "$out/cg-attrs-$form-$a.txt" \
                                        "$config")
        echo "| 512 | $a ($form) | $m | $l | $o | $q | $e |"
    done
done

echo
echo "Throughput (wrk), $config against plain nginx with as many workers:"
echo
echo "| workers | zone_size | $config req/s | vs plain | CPU us/req" \
     "| vs plain | nginx busy | receiver | other CPU" \
     "| spans received / queued / dropped / requests |"
echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--|"

for w in ${LOAD_WORKERS:-1 2}; do
    BENCH_DIR="$out/run-workers-$w" BENCH_WORKERS="$w" \
        bash "$bench/run.sh" plain "$config" > "$out/run-workers-$w.txt" 2>&1
    read -r _ rps ratio _ _ _ cpu cratio busy rcv other spans < \
        <(row "$out/run-workers-$w.txt" "$config")
    echo "| $w | 4m | $rps | $ratio | $cpu | $cratio | $busy | $rcv" \
         "| $other | $spans |"
done

for z in ${LOAD_ZONES:-64k 256k 4m}; do
    BENCH_DIR="$out/run-zone-$z" BENCH_ZONE_SIZE="$z" \
        bash "$bench/run.sh" plain "$config" > "$out/run-zone-$z.txt" 2>&1
    read -r _ rps ratio _ _ _ cpu cratio busy rcv other spans < \
        <(row "$out/run-zone-$z.txt" "$config")
    echo "| 1 | $z | $rps | $ratio | $cpu | $cratio | $busy | $rcv" \
         "| $other | $spans |"
done

echo
echo "Raw outputs in $out"
