#!/usr/bin/env bash
#
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs each for the given seconds.
#
#   fuzz/run.sh SECONDS [TARGET ...]
#
# NGX_OTEL_NGINX_OBJS: a configured nginx tree (./build.sh build leaves one
# in build/nginx).  New corpus entries go to build/fuzz/corpus-TARGET, the
# seeds in fuzz/corpus/TARGET are only read; a crash leaves its input in
# build/fuzz/ and makes the run fail.  NGX_OTEL_FUZZ_OUT puts binaries,
# logs and corpora elsewhere, so that a long run and the test suite's
# short one (t/fuzz.t) do not share them.

set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${NGX_OTEL_FUZZ_OUT:-$repo/build/fuzz}"
tree="${NGX_OTEL_NGINX_OBJS:-$repo/build/nginx}"
seconds="${1:-60}"
shift || true

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(traceparent b3 b3multi tracestate
             endpoint ratio keyval propagators header varname)
fi

cc="${FUZZ_CC:-clang}"

mkdir -p "$out"

status=0

for t in "${targets[@]}"; do
    "$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined \
        -I "$tree/src/core" -I "$tree/src/event" \
        -I "$tree/src/event/modules" -I "$tree/src/os/unix" \
        -I "$tree/objs" -I "$repo/ngx_otel_module" \
        -o "$out/fuzz_$t" \
        "$repo/fuzz/fuzz_$t.c" "$repo/fuzz/fuzz_nginx.c" \
        "$repo/ngx_otel_module/ngx_otel_trace.c" \
        "$repo/ngx_otel_module/ngx_otel_conf_value.c"

    mkdir -p "$out/corpus-$t"

    if "$out/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
        -max_len=4096 -artifact_prefix="$out/crash-$t-" \
        "$out/corpus-$t" "$repo/fuzz/corpus/$t" \
        >"$out/fuzz_$t.log" 2>&1
    then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
               "$out/fuzz_$t.log")
        echo "fuzz $t: ok, $runs runs in ${seconds}s"
    else
        echo "fuzz $t: FAILED, see $out/fuzz_$t.log"
        tail -30 "$out/fuzz_$t.log"
        status=1
    fi
done

exit $status
