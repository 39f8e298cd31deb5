#!/bin/bash
# Crash consistency under load, many times over (issue 6, part 2): one 3-node cluster on
# loopback; each round runs a light raftbench load plus PROBES probe writers that put unique
# keys one at a time and record each put the cluster acknowledged; at a random moment it
# kill -9s a random choice of {one node, the leader, a majority, all nodes}, restarts them,
# waits for a leader and reads back (linearizable get) every write acknowledged in the round.
# snapshot_entries is small, so restarts recover from snapshot + log and followers catch up
# by snapshot install. At the end a random SAMPLE of the acknowledged writes of the whole run
# (all of them if fewer) is read back once more, since later rounds must not lose earlier ones.
#
#   tools/crash-torture.sh     one line per round, a summary; exit 0 only if nothing was lost
# Environment: ROUNDS (200), BIN_DIR (build), CLIENTS (8: raftbench clients), PROBES (2),
# SAMPLE (2000), VERIFIERS (4: parallel readers), SERVER_CONF (default snapshot_entries = 200). On failure the temp dir with
# the node logs is kept (its path is printed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-200}
PROBES=${PROBES:-2}
SAMPLE=${SAMPLE:-2000}
VERIFIERS=${VERIFIERS:-4}
export SERVER_CONF=${SERVER_CONF:-snapshot_entries = 200}
C=${CLIENTS:-8}
BENCH_SH_LIB=1
# shellcheck source=tools/bench.sh
. "$ROOT/tools/bench.sh"

crash_cluster_start torture

# probe ROUND W: puts t/ROUND/W/N = vN for N = 0, 1, ... until DIR/stop exists; appends the
# key of each put that succeeded to DIR/acked.ROUND (an error or timeout is indeterminate).
probe() {
    local n=0
    while [ ! -e "$dir/stop" ]; do
        if "$BIN/raftctl" --cluster "$CLUSTER" --timeout 1000 put "t/$1/$2/$n" "v$n" \
                >/dev/null 2>&1; then
            echo "t/$1/$2/$n v$n" >> "$dir/acked.$1"
        fi
        n=$((n + 1))
    done
}

# verify_part FILE OUT: reads back every "key value" line of FILE; writes the number that did
# not match to OUT.
verify_part() {
    local k v got bad=0
    while read -r k v; do
        got=$("$BIN/raftctl" --cluster "$CLUSTER" --timeout 5000 get "$k" 2>/dev/null || true)
        if [ "$got" != "$v" ]; then
            # one retry: a get can time out while the cluster settles; a loss reads back wrong twice
            sleep 0.5
            got=$("$BIN/raftctl" --cluster "$CLUSTER" --timeout 10000 get "$k" 2>/dev/null || true)
            [ "$got" = "$v" ] || { say "LOST: $k was acknowledged as '$v', reads back '$got'"; bad=$((bad + 1)); }
        fi
    done < "$1"
    echo "$bad" > "$2"
}

# verify FILE: the same with VERIFIERS readers in parallel (a raftctl per get is the slow
# part of a round); prints the number of acknowledged writes that did not read back.
verify() {
    local j pids=() sum=0
    rm -f "$dir"/vpart.* "$dir"/vbad.*
    split -n "l/$VERIFIERS" -d "$1" "$dir/vpart."
    for f in "$dir"/vpart.*; do verify_part "$f" "$dir/vbad.${f##*.}" & pids+=($!); done
    for j in "${pids[@]}"; do wait "$j"; done
    for f in "$dir"/vbad.*; do sum=$((sum + $(cat "$f"))); done
    echo "$sum"
}

wait_leader() {
    local t
    for t in $(seq 1 150); do [ -n "$(leader_id "$CLUSTER")" ] && return 0; sleep 0.2; done
    return 1
}

lost_total=0; kills=0; acked_total=0; t_start=$(date +%s)
: > "$dir/acked.all"
for round in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    wait_leader || { say "round $round: no leader after 30 s"; exit 1; }
    rm -f "$dir/stop"
    : > "$dir/acked.$round"
    "$BIN/raftbench" --cluster "$CLUSTER" --clients "$C" --duration 60 --quiet \
        > "$dir/bench.log" 2>&1 &
    bench=$!
    probers=()
    for w in $(seq 1 "$PROBES"); do probe "$round" "$w" & probers+=($!); done
    # the random moment: 0.3 .. 1.8 s into the load
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + 1.5 * r / 32768 }')"
    case $((RANDOM % 4)) in
        0) what="one node";  victims=$((RANDOM % BENCH_NODES + 1)) ;;
        1) what="the leader"; victims=$(leader_id "$CLUSTER"); victims=${victims:-1} ;;
        2) what="a majority"; victims=$(seq 1 "$BENCH_NODES" | shuf -n $((BENCH_NODES / 2 + 1)) | sort | paste -sd' ') ;;
        *) what="all nodes";  victims=$(seq 1 "$BENCH_NODES" | paste -sd' ') ;;
    esac
    read -r -a P <<<"$PIDS"
    for i in $victims; do
        p=${P[$((i - 1))]}
        ours "$p" "$dir" && { kill -KILL "$p"; kills=$((kills + 1)); }
    done
    for i in $victims; do   # wait until the victims are really gone before reusing their dirs
        p=${P[$((i - 1))]}
        for t in $(seq 1 100); do ours "$p" "$dir" || break; sleep 0.05; done
    done
    touch "$dir/stop"
    for p in "${probers[@]}"; do wait "$p" || true; done
    kill "$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
    for i in $victims; do node_start "$dir" "$i"; done
    disown -a
    . "$dir/cluster.env"
    wait_leader || { say "round $round: no leader 30 s after restarting $victims"; exit 1; }
    acked=$(wc -l < "$dir/acked.$round")
    lost=$(verify "$dir/acked.$round")
    cat "$dir/acked.$round" >> "$dir/acked.all"
    acked_total=$((acked_total + acked)); lost_total=$((lost_total + lost))
    printf 'round %d: kill -9 %s (%s): %d acked, %d lost\n' "$round" "$what" "$victims" "$acked" "$lost"
    [ "$lost" = 0 ] || exit 1
done
total=$(wc -l < "$dir/acked.all")
if [ "$total" -le "$SAMPLE" ]; then cp "$dir/acked.all" "$dir/sample"; how="all $total"
else shuf -n "$SAMPLE" "$dir/acked.all" > "$dir/sample"; how="a random sample of $SAMPLE of $total"; fi
final_lost=$(verify "$dir/sample")
echo "summary: $ROUNDS rounds in $(( $(date +%s) - t_start )) s, $kills kill -9s," \
     "$acked_total acknowledged writes verified after their round, $how re-verified at the end," \
     "lost=$((lost_total + final_lost))"
cluster_stop "$dir"
[ $((lost_total + final_lost)) = 0 ]
