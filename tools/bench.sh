#!/bin/bash
# make bench: raftbench against fresh local Luminous clusters, one per run, on ports of their
# own (a `make run` cluster is left alone), data in a mktemp dir under /tmp.
#
#   tools/bench.sh [sweep]        each rep, each concurrency: fresh cluster, warm-up, measured
#                                 run; prints one RESULT line per run, then a table
#   tools/bench.sh verify         checks raftbench's histogram against every latency recorded
#                                 (--record) on a short --ops run
#   tools/bench.sh table FILE..   the table for RESULT lines saved earlier
#   tools/bench.sh start DIR      a cluster for manual use (ports and pids in DIR/cluster.env);
#   tools/bench.sh stop DIR       ... and its stop
#
# Environment (make variables of the same names reach it): CLIENTS ("1 8 64 256"), DURATION (15),
# VSIZE (256), KEYS (10000), REPS (1), WARMUP (2), BENCH_NODES (3), CONNS (0: one per client),
# PIPELINE (1), BIN_DIR (build), PORT_BASE (17400), KEEP (1: keep the temp dir),
# SERVER_CONF (extra raft.conf lines, e.g. "max_batch = 32"), REP (first rep's number).
#
# A run is measured like ../shared/bench/etcd/bench-etcd.sh measures etcd: warm-up on other
# keys (warm/), reset VmHWM (echo 5 > /proc/PID/clear_refs), utime+stime of the nodes from
# /proc/PID/stat before and after, peak RSS (VmHWM) after. The RESULT line is raftbench's
# plus: nodes rep srv_cpu_s cpu_s_per_10k_puts rss_peak_kb=a/b/c other_cpu_s disk_w_s
# (the fields bench-etcd.sh adds, so ../shared/bench/etcd/summarize.py reads both) and
# node_cpu_s=a/b/c leader=ID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN_DIR:-build}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN;; esac
CLIENTS=${CLIENTS:-1 8 64 256}
DURATION=${DURATION:-15}
VSIZE=${VSIZE:-256}
KEYS=${KEYS:-10000}
REPS=${REPS:-1}
WARMUP=${WARMUP:-2}
BENCH_NODES=${BENCH_NODES:-3}
CONNS=${CONNS:-0}
PIPELINE=${PIPELINE:-1}
PORT_BASE=${PORT_BASE:-17400}
TCK=$(getconf CLK_TCK)

say() { echo "bench: $*" >&2; }

# ---- one cluster ---------------------------------------------------------------------------

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Picks a base port B: peers on B+1..B+n, clients on B+51..B+50+n, all free.
pick_ports() {
    local base=$PORT_BASE try i ok
    for try in $(seq 0 40); do
        ok=1
        for i in $(seq 1 "$BENCH_NODES"); do
            port_free $((base + i)) && port_free $((base + 50 + i)) || { ok=0; break; }
        done
        [ $ok = 1 ] && { echo "$base"; return 0; }
        base=$((base + 100))
    done
    say "no free ports from $PORT_BASE on"; return 1
}

# cluster_start DIR: BENCH_NODES fresh nodes with data under DIR; writes DIR/cluster.env
# (BASE, CLUSTER, PIDS) and waits until there is a leader.
cluster_start() {
    local dir=$1 base i j members="" cl="" pids=""
    base=$(pick_ports)
    for j in $(seq 1 "$BENCH_NODES"); do
        members+="member = $j 127.0.0.1:$((base + j)) 127.0.0.1:$((base + 50 + j))"$'\n'
        cl="${cl:+$cl,}127.0.0.1:$((base + 50 + j))"
    done
    # keys SERVER_CONF sets replace the example's (a key may appear only once)
    local own="id|data_dir|peer_listen|client_listen|member|log_level"
    own+=$(printf '%s\n' "${SERVER_CONF:-}" | sed -n 's/^ *\([a-z_]*\) *=.*/|\1/p' | tr -d '\n')
    for i in $(seq 1 "$BENCH_NODES"); do
        # the tuning of raft.conf.example, with this node's identity and addresses
        { grep -vE "^($own) *=" "$ROOT/raft.conf.example"
          echo "id = $i"
          echo "data_dir = $dir/node$i"
          echo "peer_listen = 127.0.0.1:$((base + i))"
          echo "client_listen = 127.0.0.1:$((base + 50 + i))"
          printf '%s' "$members"
          echo "log_level = info"
          [ -n "${SERVER_CONF:-}" ] && printf '%s\n' "$SERVER_CONF"
        } > "$dir/node$i.conf"
        setsid "$BIN/raftsrv" -c "$dir/node$i.conf" </dev/null >>"$dir/node$i.log" 2>&1 &
        pids="$pids $!"
    done
    printf 'BASE=%s\nCLUSTER=%s\nPIDS="%s"\n' "$base" "$cl" "${pids# }" > "$dir/cluster.env"
    for i in $(seq 1 100); do
        if "$BIN/raftctl" --cluster "$cl" --timeout 500 status --json 2>/dev/null |
                grep -q '"role":"leader"'; then
            return 0
        fi
        sleep 0.2
    done
    say "no leader after 20 s; logs in $dir/node*.log"; return 1
}

# Ours: alive, not a zombie, and a raftsrv on a config in DIR (guards against pid reuse).
ours() {
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ] &&
        tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | grep -qF -- "-c $2/node"
}

# cluster_stop DIR: TERM, then KILL after 5 s, exactly the pids in DIR/cluster.env.
cluster_stop() {
    local dir=$1 p t alive PIDS=""
    [ -f "$dir/cluster.env" ] || return 0
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    for p in $PIDS; do ours "$p" "$dir" && kill -TERM "$p" 2>/dev/null || true; done
    for t in $(seq 1 50); do
        alive=0; for p in $PIDS; do ours "$p" "$dir" && alive=1; done
        [ $alive = 0 ] && break; sleep 0.1
    done
    for p in $PIDS; do ours "$p" "$dir" && { say "pid $p ignored SIGTERM; SIGKILL"; kill -KILL "$p" 2>/dev/null || true; }; done
    for t in $(seq 1 50); do
        alive=0; for p in $PIDS; do ours "$p" "$dir" && alive=1; done
        [ $alive = 0 ] && break; sleep 0.1
    done
    rm -f "$dir/cluster.env"
}

# node_stop DIR I / node_start DIR I: one node of a running cluster (pids kept in cluster.env).
node_pid() { local PIDS; . "$1/cluster.env"; echo "$PIDS" | cut -d' ' -f"$2"; }
node_stop() {
    local p t; p=$(node_pid "$1" "$2")
    ours "$p" "$1" && kill -TERM "$p"
    for t in $(seq 1 50); do ours "$p" "$1" || return 0; sleep 0.1; done
    kill -KILL "$p"
}
node_start() {
    local dir=$1 i=$2 p BASE CLUSTER PIDS
    setsid "$BIN/raftsrv" -c "$dir/node$i.conf" </dev/null >>"$dir/node$i.log" 2>&1 &
    p=$!
    . "$dir/cluster.env"
    PIDS=$(echo "$PIDS" | awk -v i="$i" -v p="$p" '{ $i = p; print }')
    printf 'BASE=%s\nCLUSTER=%s\nPIDS="%s"\n' "$BASE" "$CLUSTER" "$PIDS" > "$dir/cluster.env"
}

leader_id() {
    "$BIN/raftctl" --cluster "$1" --timeout 1000 status --json 2>/dev/null | tr '{' '\n' |
        grep '"role":"leader"' | sed 's/.*"id":\([0-9]*\).*/\1/' | head -n 1
}

cpu_ticks() { local s=0 p; for p in "$@"; do s=$((s + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12+$13}'))); done; echo $s; }
node_ticks() { local p; for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12+$13}'; done | paste -sd' '; }
sys_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
disk_dev() { basename "$(df --output=source "$1" | tail -1)"; }
disk_w() { awk -v d="$1" '$3==d{print $8}' /proc/diskstats; }

# ---- the table --------------------------------------------------------------------------------

table() {
    awk '
    /^RESULT / {
        delete r
        for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
        n = split(r["rss_peak_kb"], rss, "/"); m = 0; s = ""
        for (i = 1; i <= n; i++) { s = s (i > 1 ? "/" : "") sprintf("%.1f", rss[i] / 1024) }
        printf "| %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %.3f | %.2f | %s | %.1f |\n",
            r["nodes"], r["conc"], r["rep"], r["ops_s"], r["p50_us"] / 1000, r["p90_us"] / 1000,
            r["p99_us"] / 1000, r["p999_us"] / 1000, r["max_us"] / 1000, r["errors"],
            r["cpu_s_per_10k_puts"], (r["ops"] > 0 ? r["client_cpu_s"] * 10000 / r["ops"] : 0),
            s, r["other_cpu_s"]
    }
    BEGIN {
        print "| nodes | clients | rep | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | cluster CPU-s / 10k puts | client CPU-s / 10k | peak RSS per node MiB | other CPU-s |"
        print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    }' "$@"
}

# ---- a sweep ----------------------------------------------------------------------------------

TMP=""
cleanup() {
    local rc=$?
    [ -n "$TMP" ] || exit $rc
    for d in "$TMP"/run-*; do [ -d "$d" ] && cluster_stop "$d"; done
    if [ "${KEEP:-0}" = 1 ] || [ $rc != 0 ]; then
        find "$TMP" -name '*.seg' -delete 2>/dev/null || true   # keep logs, not gigabytes
        say "kept $TMP (logs)"
    else
        rm -rf "$TMP"
    fi
    exit $rc
}

# crash_cluster_start NAME: the crash scripts' cluster (bench-crash.sh, crash-torture.sh), in a
# temp dir of its own that cleanup removes; sets TMP and dir. Its nodes are killed on purpose,
# so they are disowned: no job notices.
crash_cluster_start() {
    TMP=$(mktemp -d "/tmp/lum-$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    dir=$TMP/run-$1
    mkdir -p "$dir"
    cluster_start "$dir"
    disown -a
}

# one_run DIR CLIENTS REP: prints the RESULT line
one_run() {
    local dir=$1 c=$2 rep=$3 t0 t1 b0 b1 w0 w1 res ops ccpu rss nt0 nt1 lid dev
    mkdir -p "$dir"
    cluster_start "$dir"
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    read -r -a P <<<"$PIDS"
    local common=(--cluster "$CLUSTER" --clients "$c" --keys "$KEYS" --value-size "$VSIZE"
                  --conns "$CONNS" --pipeline "$PIPELINE")
    "$BIN/raftbench" "${common[@]}" --duration "$WARMUP" --prefix warm/ --quiet >/dev/null
    lid=$(leader_id "$CLUSTER")
    for p in "${P[@]}"; do echo 5 > "/proc/$p/clear_refs" 2>/dev/null || true; done
    dev=$(disk_dev "$dir")
    t0=$(cpu_ticks "${P[@]}"); nt0=$(node_ticks "${P[@]}"); b0=$(sys_busy); w0=$(disk_w "$dev")
    res=$("$BIN/raftbench" "${common[@]}" --duration "$DURATION")
    t1=$(cpu_ticks "${P[@]}"); nt1=$(node_ticks "${P[@]}"); b1=$(sys_busy); w1=$(disk_w "$dev")
    rss=$(for p in "${P[@]}"; do awk '/^VmHWM/{print $2}' "/proc/$p/status"; done | paste -sd/)
    ops=$(sed 's/.* ops=\([0-9]*\).*/\1/' <<<"$res")
    ccpu=$(sed 's/.*client_cpu_s=\([0-9.]*\).*/\1/' <<<"$res")
    cluster_stop "$dir"
    local warn
    warn=$(grep -hE '^[0-9T:.Z-]+ [WE] ' "$dir"/node*.log | head -n 5 || true)
    [ -n "$warn" ] && say "server warnings/errors (c=$c), first lines:"$'\n'"$warn"
    find "$dir" -name '*.seg' -delete
    awk -v r="$res" -v rep="$rep" -v n="$BENCH_NODES" -v t=$((t1 - t0)) -v b=$((b1 - b0)) -v k="$TCK" \
        -v ops="$ops" -v cc="$ccpu" -v rss="$rss" -v w=$((${w1:-0} - ${w0:-0})) -v secs="$DURATION" \
        -v nt0="$nt0" -v nt1="$nt1" -v lid="${lid:-0}" 'BEGIN {
        srv = t / k
        split(nt0, a, " "); m = split(nt1, z, " "); nc = ""
        for (i = 1; i <= m; i++) nc = nc (i > 1 ? "/" : "") sprintf("%.2f", (z[i] - a[i]) / k)
        printf "%s nodes=%d rep=%d srv_cpu_s=%.2f cpu_s_per_10k_puts=%.3f rss_peak_kb=%s other_cpu_s=%.2f disk_w_s=%.0f node_cpu_s=%s leader=%s\n",
            r, n, rep, srv, (ops > 0 ? srv * 10000 / ops : 0), rss, b / k - srv - cc, w / secs, nc, lid }'
}

sweep() {
    TMP=$(mktemp -d /tmp/lum-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local out="$TMP/results.txt" rep c first=${REP:-1}
    say "$BENCH_NODES nodes, clients: $CLIENTS; ${DURATION}s runs, ${WARMUP}s warm-up, ${VSIZE}-byte values, $KEYS keys; data in $TMP"
    for rep in $(seq "$first" $((first + REPS - 1))); do
        for c in $CLIENTS; do
            one_run "$TMP/run-$rep-$c" "$c" "$rep" | tee -a "$out"
        done
    done
    if [ "${TABLE:-1}" = 1 ]; then
        echo
        table "$out"
        echo
        echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); other CPU-s: CPU used meanwhile by anything but the nodes and raftbench (of $(nproc) x ${DURATION} s)"
    fi
}

# ---- verify: the histogram against exact percentiles --------------------------------------------

verify() {
    TMP=$(mktemp -d /tmp/lum-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local dir="$TMP/run-verify" c ops res
    mkdir -p "$dir"
    cluster_start "$dir"
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    for c in ${VERIFY_CLIENTS:-1 8 64}; do
        ops=${VERIFY_OPS:-20000}
        res=$("$BIN/raftbench" --cluster "$CLUSTER" --clients "$c" --ops "$ops" --keys "$KEYS" \
              --value-size "$VSIZE" --record "$TMP/lat-$c.txt" --quiet 2>"$TMP/err-$c.txt")
        echo "$res"
        # exact percentiles with etcdload's rank: the int(p*n + 0.5)-th smallest
        sort -n "$TMP/lat-$c.txt" | awk -v res="$res" -v c="$c" '
            { v[NR] = $1; sum += $1 }
            function pct(p,  i) { i = int(p * NR + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] / 1000 }
            END {
                split(res, f, " "); for (i in f) { split(f[i], kv, "="); r[kv[1]] = kv[2] }
                printf "  c=%d: %d latencies recorded (raftbench ops=%d)\n", c, NR, r["ops"]
                printf "  %-6s %12s %12s %8s\n", "", "histogram", "exact", "diff"
                split("p50 p90 p99 p999 max", names, " "); split("0.5 0.9 0.99 0.999 1", ps, " ")
                for (k = 1; k <= 5; k++) {
                    h = r[names[k] "_us"]; e = pct(ps[k])
                    printf "  %-6s %10d us %10.1f us %+7.2f%%\n", names[k], h, e, (e > 0 ? (h - e) * 100 / e : 0)
                }
                # Little: c clients, each always waiting, so mean latency = c * secs / ops
                printf "  mean   %10.1f us (exact)  c*secs/ops = %.1f us (Little)\n", sum / NR / 1000, c * r["secs"] * 1e6 / r["ops"]
            }'
    done
}

# sourced by tools/bench-scale.sh for the functions above
if [ "${BENCH_SH_LIB:-0}" = 1 ]; then return 0; fi

case "${1:-sweep}" in
sweep) sweep ;;
verify) verify ;;
table) shift; table "$@" ;;
start) mkdir -p "$2"; cluster_start "$(cd "$2" && pwd)"; cat "$2/cluster.env" ;;
stop) cluster_stop "$(cd "$2" && pwd)" ;;
*) sed -n '2,25p' "$0" >&2; exit 2 ;;
esac
