#!/bin/bash
# Issue 5's scale measurements, each on fresh clusters of tools/bench.sh (own ports, temp data):
#
#   tools/bench-scale.sh vsize     puts at 64 and 256 clients, values of 16, 256, 1024, 4000 B
#   tools/bench-scale.sh nodes     puts at 64 and 256 clients on 1, 3 and 5 nodes
#   tools/bench-scale.sh keys      load 1M keys (one put each); RSS per key; then puts over
#                                  the 1M keys against puts over 10k keys
#   tools/bench-scale.sh lag       a follower stopped while 1M entries are written, restarted
#                                  under load: how long it takes to catch up, and the
#                                  throughput meanwhile (per second)
#   tools/bench-scale.sh all
# Environment: DURATION (10), SCALE_CLIENTS ("64 256"), BIG (1000000: keys / entries),
# BIN_DIR (build). RESULT lines as tools/bench.sh prints them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export DURATION=${DURATION:-10}
SCALE_CLIENTS=${SCALE_CLIENTS:-64 256}
BIG=${BIG:-1000000}
BENCH_SH_LIB=1
# shellcheck source=tools/bench.sh
. "$ROOT/tools/bench.sh"

vsize() {
    local v
    for v in 16 256 1024 4000; do
        say "value size $v"
        CLIENTS=$SCALE_CLIENTS VSIZE=$v TABLE=0 bash "$ROOT/tools/bench.sh" sweep | grep '^RESULT'
    done
}

nodes() {
    local n
    for n in 1 3 5; do
        say "$n nodes"
        BENCH_NODES=$n CLIENTS=$SCALE_CLIENTS TABLE=0 bash "$ROOT/tools/bench.sh" sweep | grep '^RESULT'
    done
}

rss_kb() { local p; for p in "$@"; do awk '/^VmRSS/{print $2}' "/proc/$p/status"; done | paste -sd/; }

# status_field JSON ID FIELD: FIELD of node ID in `raftctl status --json`
status_field() {
    tr '{' '\n' <<<"$1" | grep "^\"id\":$2,\"addr\"" | sed "s/.*\"$3\":\([0-9]*\).*/\1/"
}

keys() {
    TMP=$(mktemp -d /tmp/lum-bench.XXXXXX)
    trap cleanup EXIT
    local dir="$TMP/run-keys" r0 r1 t0 t1 res
    mkdir -p "$dir"
    cluster_start "$dir"
    . "$dir/cluster.env"
    read -r -a P <<<"$PIDS"
    "$BIN/raftbench" --cluster "$CLUSTER" --clients 64 --duration 2 --prefix warm/ --quiet >/dev/null
    r0=$(rss_kb "${P[@]}")
    t0=$(date +%s.%N)
    res=$("$BIN/raftbench" --cluster "$CLUSTER" --clients 256 --keys "$BIG" --sequential-keys \
          --ops "$BIG" --quiet)
    t1=$(date +%s.%N)
    r1=$(rss_kb "${P[@]}")
    echo "load: $res"
    awk -v a="$r0" -v b="$r1" -v n="$BIG" -v t0="$t0" -v t1="$t1" 'BEGIN {
        split(a, x, "/"); split(b, y, "/")
        printf "loaded %d keys in %.1f s; VmRSS per node before %s kB, after %s kB; per key:", n, t1 - t0, a, b
        for (i = 1; i in x; i++) printf " %.0f", (y[i] - x[i]) * 1024 / n
        printf " bytes\n" }'
    echo "data dir per node: $(du -sh "$dir/node1" | cut -f1) (log segments and snapshots)"
    # a snapshot of the whole store on demand: how long the loop stalls (fork) and how long
    # the child takes, from the leader's log lines
    local lid from
    lid=$(leader_id "$CLUSTER")
    from=$(wc -c < "$dir/node$lid.log")
    t0=$(date +%s.%N)
    "$BIN/raftctl" --cluster "$CLUSTER" --timeout 60000 snapshot
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v n="$BIG" 'BEGIN { printf "raftctl snapshot with %s keys: %.2f s\n", n, b - a }'
    tail -c +"$((from + 1))" "$dir/node$lid.log" | grep -E 'snapshot at index' || true
    echo "snapshot file: $(ls -l "$dir/node$lid/snap" | tail -n +2 | awk '{print $5, $9}' | tail -n 1)"
    local c
    for c in $SCALE_CLIENTS; do
        echo "puts over $BIG keys, $c clients: $("$BIN/raftbench" --cluster "$CLUSTER" --clients "$c" --keys "$BIG" --duration "$DURATION" --quiet)"
        echo "puts over 10000 keys, $c clients: $("$BIN/raftbench" --cluster "$CLUSTER" --clients "$c" --keys 10000 --duration "$DURATION" --quiet)"
    done
    echo "VmRSS per node at the end: $(rss_kb "${P[@]}") kB"
    cluster_stop "$dir"
}

lag() {
    TMP=$(mktemp -d /tmp/lum-bench.XXXXXX)
    trap cleanup EXIT
    local dir="$TMP/run-lag" st lid f target t0 now fa lc res
    mkdir -p "$dir"
    cluster_start "$dir"
    . "$dir/cluster.env"
    lid=$(leader_id "$CLUSTER")
    f=$(( lid % BENCH_NODES + 1 ))      # a follower
    say "leader is node $lid; stopping follower node $f, then writing $BIG entries"
    node_stop "$dir" "$f"
    "$BIN/raftbench" --cluster "$CLUSTER" --clients 256 --ops "$BIG" --quiet
    st=$("$BIN/raftctl" --cluster "$CLUSTER" --timeout 2000 status --json 2>/dev/null)
    target=$(status_field "$st" "$lid" commit_index)
    say "leader commit index $target; restarting node $f under a 64-client load"
    "$BIN/raftbench" --cluster "$CLUSTER" --clients 64 --duration "${LAG_SECS:-60}" > "$dir/load.out" 2> "$dir/load.err" &
    local bp=$!
    sleep 5
    t0=$(date +%s.%N)
    node_start "$dir" "$f"
    while kill -0 "$bp" 2>/dev/null; do
        st=$("$BIN/raftctl" --cluster "$CLUSTER" --timeout 1000 status --json 2>/dev/null || true)
        now=$(date +%s.%N)
        fa=$(status_field "$st" "$f" applied_index); lc=$(status_field "$st" "$lid" commit_index)
        printf 'lag t=%.1fs follower applied %s, leader commit %s, behind %s\n' \
            "$(awk -v a="$now" -v b="$t0" 'BEGIN{print a - b}')" "${fa:-?}" "${lc:-?}" "$(( ${lc:-0} - ${fa:-0} ))"
        sleep 1
    done
    wait "$bp" || true
    cat "$dir/load.err" "$dir/load.out"
    grep -hE ' [WE] ' "$dir"/node*.log | head -n 20 || true
    cluster_stop "$dir"
}

case "${1:-all}" in
vsize) vsize ;;
nodes) nodes ;;
keys) keys ;;
lag) lag ;;
all) vsize; nodes; keys; lag ;;
*) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
