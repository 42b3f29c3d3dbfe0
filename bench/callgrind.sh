#!/usr/bin/env bash
#
# bench/callgrind.sh: CPU instructions per request, for plain nginx and
# for each module configuration, and where the module's go.
#
# nginx runs in one process (master_process off) under valgrind
# --tool=callgrind; bench/client.pl sends it N1, then (in a second run) N2
# keep-alive requests, and nginx quits.  (Ir(N2) - Ir(N1)) / (N2 - N1) is
# the exact cost of one request, with startup, shutdown and every export
# batch amortized in; the module's cost is that minus the same figure of
# the baseline (plain nginx, or plain proxying).  Of that, what nginx's
# own allocations cost more only for where they fall in the heap is shown
# apart ("layout"); the rest ("own") is the module's work.
#
# Without a master process nginx runs no event loop once told to quit: the
# file exporter writes its last spans at exit, but a network exporter's
# last partial batch is not sent.  The two runs then export whole batches
# only, (N2 - N1) spans give or take one batch; so N1 must be above
# batch_size, or no export is measured at all (bench/load.sh sees to it).
#
#   bench/callgrind.sh [CONFIG ...]         (default: all of them)
#
# Environment: CG_N1 (2000), CG_N2 (4000; five times both for ratio10,
# whose sampled share varies from run to run), CG_TOP (12 functions),
# CG_CONNECTIONS (1: the requests one after the other; more: that many
# connections at once, as under load, where nginx finds several requests
# ready in one turn of its event loop and the module's per-turn work, the
# hand-off of the spans to the zone, is shared by them),
# CG_VALGRIND_OPTS (more valgrind options, such as
# "--read-inline-info=yes --dump-instr=yes" for a line-level profile),
# and those of bench/common.sh.  BENCH_NGINX may name an nginx binary with
# symbols (build/nginx/objs/nginx after "./build.sh bench") so that the
# profile names nginx's static functions too.

set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

n1="${CG_N1:-2000}"
n2="${CG_N2:-4000}"
top="${CG_TOP:-12}"
conns="${CG_CONNECTIONS:-1}"

dir="${BENCH_DIR:-$(mktemp -d /tmp/ngx-otel-bench.XXXXXX)}/callgrind"
mkdir -p "$dir"

read -r -a configs <<< "$(bench_select_configs "$@")"
[ ${#configs[@]} -gt 0 ] || exit 2

command -v valgrind >/dev/null || { bench_log "valgrind is missing"; exit 1; }

budget() {
    case "$1" in
        on100|grpc|http_protobuf|proxy_prop|proxy_otlp) echo 1500 ;;
        ratio10) echo 300 ;;
        off|off_srv|off_loc) echo 100 ;;
        *) echo - ;;
    esac
}

backend_dir="$dir/backend"
read -r backend_port grpc_port http_port <<< "$(bench_free_ports 3)"
receiver_pid=

cleanup() {
    bench_nginx_stop "$backend_dir"
    case "$BENCH_SPANS_DIR" in
        /dev/shm/ngx-otel-bench.*) rm -rf "$BENCH_SPANS_DIR" ;;
    esac
    if [ -n "$receiver_pid" ]; then
        kill "$receiver_pid" 2>/dev/null || true
    fi
}

trap cleanup EXIT

bench_spans_file "$dir" > /dev/null

bench_write_backend_conf "$backend_dir" "$backend_port"
bench_nginx_start "$backend_dir" "$backend_port"

node "$bench_repo/bench/receiver.js" "$grpc_port" "$http_port" \
    > "$dir/receiver.out" 2>&1 &
receiver_pid=$!

# a network configuration measured against no receiver would count the
# cost of failing instead
if ! bench_wait_port "$grpc_port" || ! bench_wait_port "$http_port"; then
    bench_log "the OTLP receiver did not start:"
    cat "$dir/receiver.out" >&2
    exit 1
fi

# a graceful stop of nginx under valgrind, which may lose a signal that
# arrives at a bad moment: it is repeated every second
cg_quit() {   # PID
    local i

    for ((i = 0; i < 600; i++)); do
        if [ $((i % 10)) -eq 0 ]; then
            kill -QUIT "$1" 2>/dev/null || true
        fi
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done

    wait "$1" 2>/dev/null || true
}

# cg_run NAME N: runs nginx under callgrind for N requests; prints Ir
cg_run() {
    local name="$1" n="$2" d="$dir/$1/$2" port pid rport i

    rm -rf "$d"
    port="$(bench_free_port)"
    rport="$(bench_receiver_port "$name" "$grpc_port" "$http_port")"

    bench_write_conf "$name" "$d" single "$port" "$backend_port" "$rport"

    # nginx takes $NGINX for sockets inherited in a binary upgrade
    env -u NGINX valgrind --tool=callgrind ${CG_VALGRIND_OPTS:-} \
        --callgrind-out-file="$d/callgrind.out" \
        "$BENCH_NGINX" -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" \
        > "$d/valgrind.log" 2>&1 &
    pid=$!

    if ! bench_wait_port "$port" 600; then
        bench_log "$name: nginx under valgrind did not start"
        cat "$d/valgrind.log" "$d/error.log" >&2 || true
        kill "$pid" 2>/dev/null || true
        return 1
    fi

    if bench_is_network "$name" \
        && grep -q "network export is not available" "$d/error.log"
    then
        cg_quit "$pid"
        echo skip
        return 0
    fi

    if ! perl "$bench_repo/bench/client.pl" -c "$conns" \
        "127.0.0.1:$port" / "$n" > "$d/client.out"
    then
        bench_log "$name: not all of $n requests were answered 200"
    fi

    cg_quit "$pid"

    sed -n 's/^totals: *//p; s/^summary: *//p' "$d/callgrind.out" | head -1
}

# per-function costs, self and inclusive: "self|incl Ir object function"
cg_functions() {   # FILE
    {
        callgrind_annotate --threshold=100 --inclusive=no --auto=no "$1" \
            | sed 's/^/self /'
        callgrind_annotate --threshold=100 --inclusive=yes --auto=no "$1" \
            | sed 's/^/incl /'
    } | perl -ne '
        # "self  1,234 (0.5%)  file:function [object]"; the object is
        # printed only on some lines, the file sometimes as "???"
        my ($kind, $ir, $rest) = /^(\S+) +([\d,]+) \([ \d.]+%\)  (.*)$/
            or next;
        next if $rest =~ /PROGRAM TOTALS/;
        $ir =~ tr/,//d;
        my $obj = $rest =~ s/ \[(.*)\]$// ? $1 : "";
        $obj =~ s{.*/}{};
        (my $fn = $rest) =~ s/^.*?:(?=[^:]+$)//;
        print "$kind $ir ", ($obj || "-"), " $fn\n";'
}

# per request: (cost in the N2 run - cost in the N1 run) / (N2 - N1),
# as "self incl object function" lines
cg_per_request() {   # NAME MULTIPLIER
    cg_functions "$dir/$1/$((n1 * $2))/callgrind.out" > "$dir/$1/f1"
    cg_functions "$dir/$1/$((n2 * $2))/callgrind.out" > "$dir/$1/f2"

    perl -e '
        my ($f1, $f2, $n) = @ARGV;
        my (%c, %obj);
        for ([$f1, -1], [$f2, 1]) {
            open my $fh, "<", $_->[0] or die;
            my $sign = $_->[1];
            while (<$fh>) {
                my ($kind, $ir, $obj, $fn) = /^(\S+) (\d+) (\S+) (.*)$/
                    or next;
                # a function whose code comes from several files (inlined
                # headers) is listed once per file: its self costs add up,
                # its inclusive cost is the largest of them
                if ($kind eq "self") {
                    $c{$fn}{$sign}{self} += $ir;
                } elsif (($c{$fn}{$sign}{incl} // 0) < $ir) {
                    $c{$fn}{$sign}{incl} = $ir;
                }
                $obj{$fn} = $obj if $obj ne "-";
            }
        }
        for my $fn (keys %c) {
            my ($a, $b) = ($c{$fn}{-1} // {}, $c{$fn}{1} // {});
            printf "%.1f %.1f %s %s\n",
                (($b->{self} // 0) - ($a->{self} // 0)) / $n,
                (($b->{incl} // 0) - ($a->{incl} // 0)) / $n,
                $obj{$fn} // "-", $fn;
        }' "$dir/$1/f1" "$dir/$1/f2" "$(((n2 - n1) * $2))" \
        > "$dir/$1/per_request"
}

# nginx's own calls of glibc's allocator (malloc, free, ...: those made
# from nginx's binary, such as ngx_alloc() and ngx_destroy_pool() for the
# request's pool) in one run: "CALLS INSTRUCTIONS", inclusive
cg_alloc_run() {   # CALLGRIND_OUT
    CG_NGINX="$(readlink -f "$BENCH_NGINX")" perl -ne '
        BEGIN {
            $entry = qr/^(?:malloc|free|calloc|realloc|posix_memalign)$/;
            $npos = 1;
        }
        if (/^positions: (.*)$/) { $npos = split / /, $1; next }
        if (/^(c?)ob=\((\d+)\)(?: (.*))?$/) {
            my ($call, $id) = ($1, $2);
            $obj{$id} = $3 if defined $3;
            $ours = $obj{$id} eq $ENV{CG_NGINX} unless $call;
            next;
        }
        if (/^(c?)fn=\((\d+)\)(?: (.*))?$/) {
            my ($call, $id) = ($1, $2);
            $name{$id} = $3 if defined $3;
            $callee = $call ? $name{$id} : undef;
            next;
        }
        if (/^calls=(\d+)/) {
            my $calls = $1;
            $counted = $ours && defined $callee && $callee =~ $entry;
            $n += $calls if $counted;
            next;
        }
        if ($counted) {
            my @f = split;
            $ir += $f[$npos];
            $counted = 0;
        }
        END { printf "%d %d\n", $n // 0, $ir // 0 }' "$1"
}

# the same per request: "CALLS INSTRUCTIONS"
cg_alloc() {   # NAME MULTIPLIER
    local c1 i1 c2 i2

    read -r c1 i1 <<< "$(cg_alloc_run "$dir/$1/$((n1 * $2))/callgrind.out")"
    read -r c2 i2 <<< "$(cg_alloc_run "$dir/$1/$((n2 * $2))/callgrind.out")"

    awk -v c="$((c2 - c1))" -v i="$((i2 - i1))" -v n="$(((n2 - n1) * $2))" \
        'BEGIN { printf "%.2f %.1f\n", c / n, i / n }'
}

declare -A per_req alloc_ir alloc_calls

bench_log "callgrind: N1=$n1, N2=$n2 requests on $conns connection(s); results in $dir"

for name in "${configs[@]}"; do
    bench_config_line "$name" >/dev/null \
        || { bench_log "unknown configuration \"$name\""; exit 2; }

    # the sampled share of a ratio sampler's requests varies from run to
    # run: five times the requests make that noise five times smaller
    m=1
    [ "$name" = ratio10 ] && m=5

    ir1="$(cg_run "$name" $((n1 * m)))"

    if [ "$ir1" = skip ]; then
        bench_log "$name: SKIPPED: the module cannot export over the" \
                  "network yet (\"network export is not available in" \
                  "this version\")"
        per_req[$name]=skip
        continue
    fi

    ir2="$(cg_run "$name" $((n2 * m)))"

    per_req[$name]=$(( (ir2 - ir1) / ((n2 - n1) * m) ))
    cg_per_request "$name" "$m"
    read -r alloc_calls[$name] alloc_ir[$name] <<< "$(cg_alloc "$name" "$m")"

    bench_log "$name: $ir1 Ir for $((n1 * m)) requests, $ir2 Ir for" \
              "$((n2 * m)): ${per_req[$name]} per request"
done

echo
echo "Instructions per request (callgrind, (Ir(N2) - Ir(N1)) / (N2 - N1)," \
     "N1=$n1, N2=$n2, $conns connection(s))"
echo
printf '| %-14s | %10s | %9s | %9s | %9s | %8s | %8s | %6s | %s\n' \
    configuration "per request" "module's" layout own request export \
    budget verdict
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' ---------------- ------------ \
    ----------- ----------- ----------- ---------- ---------- -------- \
    --------

# the export's share, per request: what the event loop runs of the
# exporter, inclusive: its timer and posted run (claim, encode, write or
# hand to libcurl, release), the final drain at exit, and libcurl's work
# on its sockets and timer (sending, receiving, the answer's handling)
cg_export() {   # NAME
    awk '$4 == "ngx_otel_exporter_handler" \
         || $4 == "ngx_otel_exporter_exit_process" \
         || $4 == "ngx_otel_curl_event_handler" \
         || $4 == "ngx_otel_curl_timer_handler" { sum += $2; found = 1 }
         END { if (found) printf "%.0f", sum; else printf "-" }' \
        "$dir/$1/per_request"
}

# What nginx's own calls of the allocator cost more than in the baseline
# beyond the calls made more: the request's pool and header buffer cost
# more or less with where in the heap they fall, which any change of the
# process's earlier allocations moves (a library loaded, an nginx.conf
# setting).  The extra calls, if any, are priced at the baseline's cost
# per call; libcurl's and the module's own allocations are not nginx's
# and stay in "own".
cg_layout() {   # NAME BASELINE
    awk -v ir="${alloc_ir[$1]}" -v calls="${alloc_calls[$1]}" \
        -v bir="${alloc_ir[$2]}" -v bcalls="${alloc_calls[$2]}" \
        'BEGIN { per = bcalls > 0 ? bir / bcalls : 0;
                 printf "%.0f", (ir - bir) - (calls - bcalls) * per }'
}

for name in "${configs[@]}"; do
    base="$(bench_baseline "$name")"
    b="$(budget "$name")"

    if [ "${per_req[$name]}" = skip ]; then
        printf '| %-14s | %10s | %9s | %9s | %9s | %8s | %8s | %6s | %s\n' \
            "$name" skipped - - - - - "$b" \
            "network export not available yet"
        continue
    fi

    if [ "$name" = "$base" ] || [ -z "${per_req[$base]:-}" ] \
        || [ "${per_req[$base]}" = skip ]
    then
        printf '| %-14s | %10s | %9s | %9s | %9s | %8s | %8s | %6s | %s\n' \
            "$name" "${per_req[$name]}" - - - - - "$b" baseline
        continue
    fi

    module=$(( per_req[$name] - per_req[$base] ))
    layout="$(cg_layout "$name" "$base")"
    own=$(( module - layout ))
    verdict=-

    if [ "$b" != - ]; then
        if [ "$own" -le "$b" ]; then verdict=within; else verdict=OVER; fi
    fi

    export="$(cg_export "$name")"
    request=-
    [ "$export" != - ] && request=$((own - export))

    printf '| %-14s | %10s | %9s | %9s | %9s | %8s | %8s | %6s | %s\n' \
        "$name" "${per_req[$name]}" "$module" "$layout" "$own" "$request" \
        "$export" "$b" "$verdict"
done

echo
echo "module's: per request minus the baseline's; layout: of that, what" \
     "nginx's own calls of glibc's allocator cost more, the same calls" \
     "(where the request's pool falls in the heap; plain nginx moves by" \
     "250 with an nginx.conf setting, see docs/performance.md); own:" \
     "module's minus layout, the module's work, judged against the" \
     "budget; export: what the exporter's timer and posted runs (claim," \
     "encode, write or send, release) and libcurl's socket and timer" \
     "events cost, amortized per request; request: own minus export" \
     "(phase handlers, span start and end, hand-off to the zone)."
echo
echo "nginx's calls of the allocator per request, and their instructions:"
for name in "${configs[@]}"; do
    [ "${per_req[$name]}" = skip ] && continue
    printf '  %-14s %6s calls, %7s instructions\n' "$name" \
        "${alloc_calls[$name]}" "${alloc_ir[$name]}"
done

# where the module's instructions go: its own functions, per request

for name in "${configs[@]}"; do
    bench_uses_module "$name" || continue
    [ "${per_req[$name]}" = skip ] && continue

    echo
    echo "$name: the module's functions, instructions per request" \
         "(self, inclusive)"
    awk '$3 == "ngx_otel_module.so" && ($1 >= 0.5 || $2 >= 0.5)' \
        "$dir/$name/per_request" | sort -g -r -k1,1 | head -"$top" \
        | awk '{ printf "  %8.1f %8.1f  %s\n", $1, $2, $4 }'

    base="$(bench_baseline "$name")"
    [ -f "$dir/$base/per_request" ] || continue

    echo "$name: the functions whose cost grew most against $base" \
         "(self, per request)"
    perl -e '
        my ($fa, $fb, $top) = @ARGV;
        my (%a, %b, %obj);
        for my $in ([$fa, \%a], [$fb, \%b]) {
            open my $fh, "<", $in->[0] or die;
            while (my $line = <$fh>) {
                chomp $line;
                my ($s, $i, $o, $f) = split / /, $line, 4;
                $in->[1]{$f} = $s;
                $obj{$f} = $o;
            }
        }
        my %d;
        $d{$_} = ($a{$_} // 0) - ($b{$_} // 0) for keys %a, keys %b;
        my @f = sort { $d{$b} <=> $d{$a} } grep { $d{$_} >= 0.5 } keys %d;
        splice @f, $top if @f > $top;
        printf "  %8.1f  %s (%s)\n", $d{$_}, $_, $obj{$_} for @f;
        ' "$dir/$name/per_request" "$dir/$base/per_request" "$top"
done
