#!/usr/bin/env bash
#
# ngx_otel_module: one entry point for building, testing and the demo.
#
#   ./build.sh build   build build/ngx_otel_module.so against the system nginx
#   ./build.sh test    build, then run the whole test suite (prove -r t/),
#                      then the same suite again with the module built with
#                      ASan and UBSan (test-asan); fails if either fails
#   ./build.sh demo    build, then run the gateway demo on 127.0.0.1
#   ./build.sh test-plain
#                      only the first half of "test": the normal module
#   ./build.sh test-asan
#                      only the second half: the module built with ASan and
#                      UBSan in build-asan/, apart from build/
#   ./build.sh fuzz [SECONDS]
#                      build, then run every fuzz target SECONDS (60) each
#   ./build.sh bench   build, then run the benchmark (bench/run.sh: wrk,
#                      3 to 5 minutes) and the instruction counts
#                      (bench/callgrind.sh, about 1.5 minutes)
#
# Each command installs what it needs first (Debian packages, npm packages
# with the lockfile).  NGINX_SRC=/path/to/nginx-source builds against
# another nginx source tree instead of Debian's nginx-dev.

set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$repo/build"

# compiler and linker flags of the module: -O2, as Debian builds nginx
# itself (nginx's configure alone says -O); the sanitizer build sets its own
extra_cc_opt="-O2"
extra_ld_opt=""

apt_packages=(
    nginx nginx-dev build-essential pkg-config
    libpcre2-dev libssl-dev zlib1g-dev
    libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
    libcurl4-openssl-dev
    perl
    clang libclang-rt-14-dev
)

log() {
    printf '==> %s\n' "$*" >&2
}

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo "$@"
        else
            log "need root to run: $*"
            exit 1
        fi
    else
        "$@"
    fi
}

install_packages() {
    local missing=() p

    for p in "${apt_packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'
        then
            missing+=("$p")
        fi
    done

    # the machine image may bring its own Node.js (which conflicts with
    # Debian's npm package): only install Debian's when there is none
    if ! command -v node >/dev/null 2>&1; then
        missing+=(nodejs)
    fi

    if ! command -v npm >/dev/null 2>&1; then
        missing+=(npm)
    fi

    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi

    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    need_root apt-get update -q
    need_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
        </dev/null

    # the package starts a default server on port 80 where it can; the
    # tests and the demo use their own instances only
    if command -v systemctl >/dev/null 2>&1; then
        need_root systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
}

install_npm() {
    if [ -f "$repo/t/interop/package-lock.json" ]; then
        if [ ! -d "$repo/t/interop/node_modules" ] \
            || [ "$repo/t/interop/package-lock.json" \
                 -nt "$repo/t/interop/node_modules" ]
        then
            log "installing the interop test's npm packages (lockfile)"
            (cd "$repo/t/interop" && npm ci --no-audit --no-fund \
                --loglevel=error </dev/null)
            touch "$repo/t/interop/node_modules"
        fi
    fi
}

# Debian's nginx-dev ships the headers, configure and the flags the system
# nginx was built with: configuring with those flags yields a module that
# the system /usr/sbin/nginx accepts (--with-compat is among them).
configure_nginx() {
    local src="$build/nginx"

    if [ -n "${NGINX_SRC:-}" ]; then
        log "configuring $NGINX_SRC"
        rm -rf "$src"
        cp -a "$NGINX_SRC" "$src"
        (cd "$src" && ./configure --with-compat \
            --add-dynamic-module="$repo" \
            ${extra_cc_opt:+--with-cc-opt="$extra_cc_opt"} \
            ${extra_ld_opt:+--with-ld-opt="$extra_ld_opt"} \
            >"$build/configure.log" 2>&1) \
            || { tail -30 "$build/configure.log"; exit 1; }
        return
    fi

    if [ ! -f /usr/share/nginx/src/conf_flags ]; then
        log "/usr/share/nginx/src is missing: is nginx-dev installed?"
        exit 1
    fi

    log "configuring the nginx-dev tree with Debian's flags"
    rm -rf "$src"
    cp -a /usr/share/nginx/src "$src"

    (
        cd "$src"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$repo" \
            ${extra_cc_opt:+--with-cc-opt="$extra_cc_opt"} \
            ${extra_ld_opt:+--with-ld-opt="$extra_ld_opt"}
    ) >"$build/configure.log" 2>&1 || { tail -30 "$build/configure.log"; exit 1; }
}

cmd_build() {
    install_packages
    mkdir -p "$build"

    local stamp="$build/nginx/objs/Makefile"

    # reconfigure when config, the flags here or the .proto files change
    if [ ! -f "$stamp" ] || [ "$repo/config" -nt "$stamp" ] \
        || [ "$repo/build.sh" -nt "$stamp" ] \
        || [ -n "$(find "$repo/ngx_otel_module/proto" -newer "$stamp" \
                   -name '*.proto' 2>/dev/null)" ]
    then
        configure_nginx
    fi

    log "building the module"
    make -C "$build/nginx" -f objs/Makefile -j"$(nproc)" modules >"$build/make.log" 2>&1 \
        || { grep -E 'error|warning' "$build/make.log" | head -40;
             tail -20 "$build/make.log"; exit 1; }

    # a new file renamed into place: an nginx that has the old one loaded
    # keeps its mapping instead of crashing on a file rewritten under it
    cp "$build/nginx/objs/ngx_http_otel_module.so" "$build/ngx_otel_module.so.new"
    mv -f "$build/ngx_otel_module.so.new" "$build/ngx_otel_module.so"
    log "built $build/ngx_otel_module.so"
}

test_env() {
    export TEST_NGINX_BINARY="${TEST_NGINX_BINARY:-/usr/sbin/nginx}"
    export TEST_NGINX_GLOBALS="load_module $build/ngx_otel_module.so;"
    export NGX_OTEL_NGINX_OBJS="$build/nginx"
    export NGX_OTEL_REPO="$repo"
}

cmd_test_plain() {
    cmd_build
    install_npm
    test_env

    log "running the test suite"
    cd "$repo"
    prove -r -j2 t/
}

# Both suites, the second even when the first fails, each in a subshell:
# test-asan switches $build to build-asan/, and build/ keeps the normal
# module that the demo and the next "build" use.
cmd_test() {
    local plain asan start=$SECONDS

    # not "(...) || rc=$?": that would turn off set -e inside
    set +e
    (set -e; cmd_test_plain)
    plain=$?
    set -e

    log "test suite: $( [ $plain -eq 0 ] && echo passed || echo FAILED )" \
        "($((SECONDS - start)) s); now the same suite under ASan and UBSan"

    start=$SECONDS
    set +e
    (set -e; cmd_test_asan)
    asan=$?
    set -e

    log "test suite under ASan and UBSan:" \
        "$( [ $asan -eq 0 ] && echo passed || echo FAILED )" \
        "($((SECONDS - start)) s)"

    if [ $plain -ne 0 ] || [ $asan -ne 0 ]; then
        log "FAILED: normal suite rc=$plain, ASan/UBSan suite rc=$asan"
        return 1
    fi

    log "both suites passed"
}

# The module built with AddressSanitizer and UndefinedBehaviorSanitizer,
# loaded into the system nginx (nginx-dev has no sources to instrument
# nginx itself) through a wrapper that preloads the sanitizer runtimes.
# A report aborts the worker: nginx logs "exited on signal 6" as an
# [alert], which fails every test's "no alerts" check; the report itself
# is in that test's error.log (UBSan) or in build-asan/reports (ASan).
cmd_test_asan() {
    build="$repo/build-asan"
    extra_cc_opt="-fsanitize=address,undefined -fno-sanitize-recover=all"
    extra_cc_opt="$extra_cc_opt -fno-omit-frame-pointer"
    extra_ld_opt="-fsanitize=address,undefined"

    cmd_build
    install_npm

    local wrapper="$build/nginx-asan" reports="$build/reports" runtime rc=0

    runtime="$(gcc -print-file-name=libasan.so)"
    runtime="$runtime $(gcc -print-file-name=libubsan.so)"

    rm -rf "$reports"
    mkdir -p "$reports"

    # nginx's own allocations are not ours to judge: no leak checking
    {
        echo '#!/bin/sh'
        echo "export LD_PRELOAD=\"$runtime\""
        echo "export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$reports/asan"
        echo "export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1"
        echo 'exec /usr/sbin/nginx "$@"'
    } >"$wrapper"
    chmod +x "$wrapper"

    test_env
    export TEST_NGINX_BINARY="$wrapper"

    log "running the test suite under AddressSanitizer and UBSan"
    cd "$repo"

    prove -r -j2 t/ || rc=$?

    if [ -n "$(ls -A "$reports")" ]; then
        log "sanitizer reports:"
        cat "$reports"/*
        rc=1
    fi

    return $rc
}

cmd_fuzz() {
    cmd_build
    test_env
    "$repo/fuzz/run.sh" "${1:-60}"
}

cmd_bench() {
    apt_packages+=(wrk valgrind curl util-linux procps)
    cmd_build
    export BENCH_NGINX="${BENCH_NGINX:-/usr/sbin/nginx}"
    export OTEL_MODULE="$build/ngx_otel_module.so"
    export BENCH_DIR="${BENCH_DIR:-$(mktemp -d /tmp/ngx-otel-bench.XXXXXX)}"

    log "benchmark: throughput and latency (bench/run.sh)"
    bash "$repo/bench/run.sh"

    log "benchmark: instructions per request (bench/callgrind.sh)"
    bash "$repo/bench/callgrind.sh"

    log "logs, configurations and profiles are in $BENCH_DIR"
}

cmd_demo() {
    cmd_build
    test_env
    exec perl "$repo/demo/demo.pl"
}

case "${1:-}" in
    build) cmd_build ;;
    test)  cmd_test ;;
    test-plain) cmd_test_plain ;;
    demo)  cmd_demo ;;
    fuzz)  cmd_fuzz "${2:-60}" ;;
    test-asan) cmd_test_asan ;;
    bench) cmd_bench ;;
    *)
        echo "usage: $0 build | test | test-plain | test-asan | demo | bench" \
             "| fuzz [seconds]" >&2
        exit 2
        ;;
esac
