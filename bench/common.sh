# bench/common.sh: what bench/run.sh and bench/callgrind.sh share: the
# configurations under test and starting and stopping nginx.  Sourced, not
# run.
#
# Environment (all optional):
#   BENCH_NGINX      nginx binary               (/usr/sbin/nginx)
#   OTEL_MODULE      the module                 (build/ngx_otel_module.so)
#   BENCH_DIR        scratch directory          (a new one under /tmp)
#   BENCH_WORKERS    nginx workers              (1; all pinned to CPU 0)
#   BENCH_BATCH_SIZE otel_exporter batch_size   (the module's default)
#   BENCH_ZONE_SIZE  otel_exporter zone_size    (the module's default)
#   BENCH_ATTRS      otel_span_attr directives  (0)
#   BENCH_ATTR_FORM  their values: var ($remote_addr) or text
#                    ("value-N-$remote_addr", through the script engine)
#   BENCH_INTERVAL   otel_exporter interval     (the module's default)
#   BENCH_SPANS_DIR  where the file exporter writes (a new directory in
#                    /dev/shm: hundreds of MB a run, which on a disk
#                    would bring the kernel's writeback into the figures)

bench_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BENCH_NGINX="${BENCH_NGINX:-/usr/sbin/nginx}"
OTEL_MODULE="${OTEL_MODULE:-$bench_repo/build/ngx_otel_module.so}"

# name  baseline  description
bench_all_configs=(
    "plain          plain        nginx alone, return 200"
    "off            plain        module loaded, otel_trace off"
    "off_srv        plain        otel_trace on in another server, not in this one"
    "off_loc        plain        otel_trace on in the server, off in this location"
    "ratio10        plain        otel_trace on, traceidratio 0.1, file exporter"
    "on100          plain        otel_trace on, 100% sampled, file exporter"
    "grpc           plain        otel_trace on, 100% sampled, OTLP/gRPC to a local receiver"
    "http_protobuf  plain        otel_trace on, 100% sampled, OTLP/HTTP protobuf to a local receiver"
    "proxy_plain    proxy_plain  nginx alone, proxy_pass to a local backend"
    "proxy_prop     proxy_plain  otel_trace on + propagate, proxy_pass, file exporter"
    "proxy_client   proxy_plain  proxy_prop + otel_upstream_span on (a CLIENT span too)"
    "proxy_otlp     proxy_plain  proxy_prop, OTLP/HTTP protobuf to a local receiver"
)

# the file exporter's output for the configuration in DIR
bench_spans_file() {
    if [ -z "${BENCH_SPANS_DIR:-}" ]; then
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then
            BENCH_SPANS_DIR="$(mktemp -d /dev/shm/ngx-otel-bench.XXXXXX)"
        else
            BENCH_SPANS_DIR="$(dirname "$1")"
        fi
    fi

    echo "$BENCH_SPANS_DIR/$(echo "$1" | tr / _).json"
}

bench_log() {
    printf '%s\n' "$*" >&2
}

bench_field() {   # bench_field "line" N
    local a
    read -r -a a <<< "$1"
    if [ "$2" -ge 3 ]; then
        echo "${a[*]:2}"
    else
        echo "${a[$(($2 - 1))]}"
    fi
}

bench_config_line() {
    local c
    for c in "${bench_all_configs[@]}"; do
        if [ "$(bench_field "$c" 1)" = "$1" ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

bench_baseline() { bench_field "$(bench_config_line "$1")" 2; }
bench_describe() { bench_field "$(bench_config_line "$1")" 3; }

bench_uses_module() {
    case "$1" in
        plain|proxy_plain) return 1 ;;
        *) return 0 ;;
    esac
}

bench_is_network() {
    case "$1" in
        grpc|http_protobuf|proxy_otlp) return 0 ;;
        *) return 1 ;;
    esac
}

# the receiver's port a network configuration sends to: GRPC_PORT HTTP_PORT
bench_receiver_port() {   # NAME GRPC_PORT HTTP_PORT
    case "$1" in
        grpc) echo "$2" ;;
        *) echo "$3" ;;
    esac
}

# a free TCP port on 127.0.0.1 (the kernel picks it)
bench_free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:0",
                                      Listen => 1, ReuseAddr => 1) or die;
        print $s->sockport(), "\n";'
}

# N free ports at once, all different: each socket stays open until the
# last is made, where one call after another may get the same port back
bench_free_ports() {   # bench_free_ports N
    perl -MIO::Socket::INET -e '
        my @s = map { IO::Socket::INET->new(LocalAddr => "127.0.0.1:0",
                                            Listen => 1, ReuseAddr => 1)
                      or die } 1 .. $ARGV[0];
        print join(" ", map { $_->sockport() } @s), "\n";' "$1"
}

bench_wait_port() {   # bench_wait_port PORT [TRIES]
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# bench_write_conf NAME DIR MODE PORT BACKEND_PORT RECEIVER_PORT
#   MODE: wrk (a master, BENCH_WORKERS workers on CPU 0) or
#         single (master_process off, for valgrind)
bench_write_conf() {
    local name="$1" dir="$2" mode="$3" port="$4" bport="$5" rport="$6"
    local conf="$dir/nginx.conf" workers="${BENCH_WORKERS:-1}"
    local affinity="" i exporter="" otel="" location="" attrs="" other=""

    mkdir -p "$dir"

    for ((i = 0; i < workers; i++)); do
        affinity="$affinity 0001"
    done

    if bench_uses_module "$name"; then
        exporter="endpoint file:$(bench_spans_file "$dir");"

        case "$name" in
            grpc)
                exporter="endpoint 127.0.0.1:$rport; protocol grpc;" ;;
            http_protobuf|proxy_otlp)
                exporter="endpoint http://127.0.0.1:$rport;
                          protocol http/protobuf;" ;;
        esac

        [ -n "${BENCH_BATCH_SIZE:-}" ] \
            && exporter="$exporter batch_size $BENCH_BATCH_SIZE;"
        [ -n "${BENCH_ZONE_SIZE:-}" ] \
            && exporter="$exporter zone_size $BENCH_ZONE_SIZE;"
        [ -n "${BENCH_INTERVAL:-}" ] \
            && exporter="$exporter interval $BENCH_INTERVAL;"

        for ((i = 1; i <= ${BENCH_ATTRS:-0}; i++)); do
            if [ "${BENCH_ATTR_FORM:-var}" = var ]; then
                attrs="$attrs otel_span_attr bench.attr$i \$remote_addr;"
            else
                attrs="$attrs otel_span_attr bench.attr$i"
                attrs="$attrs \"value-$i-\$remote_addr\";"
            fi
        done

        otel="otel_exporter { $exporter }
        otel_service_name bench;
        $attrs"

        case "$name" in
            off)        otel="$otel otel_trace off;" ;;
            off_srv)    otel="$otel otel_trace off;"
                        other="otel_trace on;" ;;
            off_loc)    otel="$otel otel_trace on;"
                        location="otel_trace off;" ;;
            ratio10)    otel="$otel otel_trace on;
                        otel_sampler traceidratio 0.1;" ;;
            proxy_prop|proxy_otlp)
                        otel="$otel otel_trace on;
                        otel_trace_context propagate;" ;;
            proxy_client)
                        otel="$otel otel_trace on;
                        otel_trace_context propagate;
                        otel_upstream_span on;" ;;
            *)          otel="$otel otel_trace on;" ;;
        esac
    fi

    {
        if bench_uses_module "$name"; then
            echo "load_module $OTEL_MODULE;"
        fi

        if [ "$mode" = single ]; then
            echo "master_process off;"
            echo "daemon off;"
        else
            echo "worker_processes $workers;"
            echo "worker_cpu_affinity $affinity;"
        fi

        cat <<EOF
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 4096;

events {
    worker_connections 2048;
}

http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;

    $otel

    upstream backend {
        server 127.0.0.1:$bport;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$port;

        location / {
            $location
EOF
        case "$name" in
            proxy_*)
                echo "            proxy_pass http://backend;"
                echo "            proxy_http_version 1.1;"
                echo "            proxy_set_header Connection \"\";"
                ;;
            *)
                echo "            return 200;"
                ;;
        esac

        cat <<EOF
        }
EOF
        if bench_uses_module "$name"; then
            cat <<EOF

        location = /otel_status {
            otel_trace off;
            otel_status;
        }
EOF
        fi

        cat <<EOF
    }
EOF
        if [ -n "$other" ]; then
            cat <<EOF

    server {
        listen unix:$dir/other.sock;
        $other

        location / {
            return 200;
        }
    }
EOF
        fi

        echo "}"
    } > "$conf"
}

# the backend of the proxy configurations: a plain nginx, one worker on
# CPU 0 (it shares the core with the nginx under test, as it would share a
# host; it costs the same with and without the module)
bench_write_backend_conf() {   # DIR PORT
    local dir="$1" port="$2"

    mkdir -p "$dir"

    cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 0001;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections 2048;
}

http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;

    server {
        listen 127.0.0.1:$port;
        location / {
            return 200;
        }
    }
}
EOF
}

bench_nginx_start() {   # DIR PORT
    local dir="$1" port="$2"

    rm -f "$dir/nginx.pid"

    # nginx takes $NGINX for sockets inherited in a binary upgrade
    if ! env -u NGINX "$BENCH_NGINX" -p "$dir/" -c "$dir/nginx.conf" \
        -e "$dir/error.log" \
        2>>"$dir/error.log"
    then
        bench_log "nginx failed to start in $dir:"
        tail -5 "$dir/error.log" >&2
        return 1
    fi

    if ! bench_wait_port "$port"; then
        bench_log "nginx in $dir does not listen on $port"
        return 1
    fi
}

bench_nginx_stop() {   # DIR: graceful quit, wait until the master is gone
    local dir="$1" pid i

    [ -f "$dir/nginx.pid" ] || return 0
    pid="$(cat "$dir/nginx.pid")"

    kill -QUIT "$pid" 2>/dev/null || return 0

    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done

    bench_log "nginx $pid did not quit in 30 s, terminating it"
    kill -TERM "$pid" 2>/dev/null || true
    sleep 1
}

# the worker pids of the master in DIR
bench_workers() {
    local dir="$1"
    pgrep -P "$(cat "$dir/nginx.pid")" 2>/dev/null || true
}

# user+system CPU ticks of the given pids
bench_cpu_ticks() {
    local pid total=0 f
    for pid in "$@"; do
        if [ -r "/proc/$pid/stat" ]; then
            read -r -a f < "/proc/$pid/stat"
            # the comm field has no blanks for nginx ("(nginx)")
            total=$((total + f[13] + f[14]))
        fi
    done
    echo "$total"
}

# ticks of all CPUs not idle: user, nice, system, irq, softirq, steal
bench_busy_ticks() {
    local cpu user nice system idle iowait irq softirq steal rest
    read -r cpu user nice system idle iowait irq softirq steal rest \
        < /proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# CPU ticks of this shell's waited-for children (wrk), from "times"; in
# the shell itself, not a subshell, whose own children those are not
bench_children_ticks() {   # FILE: where to leave the number
    times > "$1.times"
    tail -1 "$1.times" | perl -e '
        my @t = <STDIN> =~ /(\d+)m([\d.]+)s/g;
        printf "%d\n", (($t[0] * 60 + $t[1]) + ($t[2] * 60 + $t[3]))
                        * $ARGV[0];' "$(getconf CLK_TCK)" > "$1"
}

# spans in OTLP JSON lines files: each span has one "spanId"
bench_count_spans() {
    { cat "$@" 2>/dev/null || true; } | { grep -o '"spanId"' || true; } \
        | wc -l
}

# a counter of the otel_status JSON: bench_status_field JSON queued
bench_status_field() {
    printf '%s' "$1" | perl -ne 'print "$1\n" if /"\Q'"$2"'\E":(\d+)/' \
        | head -1
}

# the configurations to run: those named (default: all) and their
# baselines, in the order of bench_all_configs
bench_select_configs() {
    local c name want out=() wanted=" "

    for name in "$@"; do
        if ! bench_config_line "$name" >/dev/null; then
            bench_log "unknown configuration \"$name\""
            return 2
        fi
        wanted="$wanted$name $(bench_baseline "$name") "
    done

    for c in "${bench_all_configs[@]}"; do
        name="$(bench_field "$c" 1)"
        if [ $# -eq 0 ] || [[ "$wanted" == *" $name "* ]]; then
            out+=("$name")
        fi
    done

    echo "${out[@]}"
}
