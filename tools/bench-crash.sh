#!/bin/bash
# No benchmark trades safety: raftbench drives a fresh 3-node cluster (256 clients) while a
# probe writer puts unique keys one at a time and records each one the cluster acknowledged.
# Mid-load every node is killed with SIGKILL at once, then all are restarted; every
# acknowledged probe key must read back (linearizable get) with its value. ROUNDS rounds
# (default 3) on the same cluster, so later rounds also recover from snapshots and a log
# that was cut while being written.
#
#   tools/bench-crash.sh          prints one line per round and exits 0 only if nothing was lost
# Environment: ROUNDS (3), LOAD_SECS (6: load before the kill), CLIENTS (256), BIN_DIR (build),
# SERVER_CONF (extra raft.conf lines; default snapshot_entries = 20000, to have snapshots).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
LOAD_SECS=${LOAD_SECS:-6}
export SERVER_CONF=${SERVER_CONF:-snapshot_entries = 20000}
C=${CLIENTS:-256}
BENCH_SH_LIB=1
# shellcheck source=tools/bench.sh
. "$ROOT/tools/bench.sh"

crash_cluster_start crash

# probe ROUND: puts probe/ROUND/N = vN, N = 0, 1, ..., until DIR/stop exists; appends N to
# DIR/acked.ROUND for each put that succeeded (an error or timeout is indeterminate).
probe() {
    local n=0
    while [ ! -e "$dir/stop" ]; do
        if "$BIN/raftctl" --cluster "$CLUSTER" --timeout 3000 put "probe/$1/$n" "v$n" \
                >/dev/null 2>&1; then
            echo "$n" >> "$dir/acked.$1"
        fi
        n=$((n + 1))
    done
}

lost_total=0
for round in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    rm -f "$dir/stop"
    : > "$dir/acked.$round"
    "$BIN/raftbench" --cluster "$CLUSTER" --clients "$C" --duration $((LOAD_SECS + 30)) \
        --quiet > "$dir/bench.$round" 2>&1 &
    bench=$!
    probe "$round" &
    prober=$!
    sleep "$LOAD_SECS"
    read -r -a P <<<"$PIDS"
    for p in "${P[@]}"; do ours "$p" "$dir" && kill -KILL "$p"; done
    touch "$dir/stop"
    wait "$prober" || true
    kill "$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
    acked=$(wc -l < "$dir/acked.$round")
    for i in $(seq 1 "$BENCH_NODES"); do node_start "$dir" "$i"; done
    disown -a
    . "$dir/cluster.env"
    for t in $(seq 1 100); do [ -n "$(leader_id "$CLUSTER")" ] && break; sleep 0.2; done
    lost=0
    while read -r n; do
        v=$("$BIN/raftctl" --cluster "$CLUSTER" --timeout 5000 get "probe/$round/$n" 2>/dev/null || true)
        [ "$v" = "v$n" ] || { say "round $round: probe/$round/$n was acknowledged, reads back '$v'"; lost=$((lost + 1)); }
    done < "$dir/acked.$round"
    commit=$("$BIN/raftctl" --cluster "$CLUSTER" --timeout 2000 status --json | tr '{' '\n' |
             grep '"role":"leader"' | sed 's/.*"commit_index":\([0-9]*\).*/\1/')
    echo "round $round: kill -9 of all $BENCH_NODES nodes under $C-client raftbench load;" \
         "$acked probe writes acknowledged before it, $((acked - lost)) read back after" \
         "restart, $lost lost (leader commit index now ${commit:-?})"
    lost_total=$((lost_total + lost))
done
cluster_stop "$dir"
[ "$lost_total" = 0 ]
