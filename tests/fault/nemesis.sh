#!/bin/bash
# The fault test: NODES raftsrv processes, each in a network namespace of its own (a bridge and
# veth pairs this script makes), lintest recording a history of put/get/del/cas from the root
# namespace, and a nemesis that partitions (majority/minority, isolated leader, bridge), kills
# -9 and restarts, pauses (SIGSTOP/SIGCONT), transfers leadership and removes a node then
# re-seeds it (wiped data, `members add`). At the end: heal, check the history (per key,
# Wing-Gong/Lowe), print ops ok/failed/indeterminate, the faults by kind and the verdict.
#
#   tests/fault/nemesis.sh        exit 0 linearizable, 1 not (or a node died on its own), 2 error
# Environment: DURATION (60 s), FAULT_NODES (5), FAULT_THREADS (8), BIN_DIR (build), SEED ($RANDOM),
# STALE (1: lintest --stale, gets served locally by any node: expected NOT linearizable),
# KEEP (1: keep the temp dir also when it passes).
# Without root or iproute2 it prints why and exits 0 (skipped), so `make test` passes there.
#
# Partitions are blackhole routes inside the namespaces (node i drops what it sends to j), so
# nothing outside what this script made is touched; the client (the bridge's own address)
# reaches every node all the time, as Jepsen's clients do.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN_DIR:-build}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN;; esac
DURATION=${DURATION:-60}
NODES=${FAULT_NODES:-5}
THREADS=${FAULT_THREADS:-8}
SEED=${SEED:-$RANDOM}
STALE=${STALE:-0}
RANDOM=$SEED

say() { echo "nemesis: $*"; }

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    say "fault test skipped: it needs root and iproute2 (ip netns) to make its own network"
    exit 0
fi
for b in raftsrv raftctl lintest; do
    [ -x "$BIN/$b" ] || { say "$BIN/$b missing: run make first"; exit 2; }
done

TAG=lm$$                      # interface names stay under 15 characters
TMP=$(mktemp -d /tmp/lum-nemesis.XXXXXX)
declare -a PID                # PID[i]: node i's raftsrv, 0 when not running
declare -A FAULTS=()
RESULT=2

cleanup() {
    local i
    exec 2>/dev/null   # no "Killed" notices for the nodes killed here
    for i in $(seq 1 "$NODES"); do
        if [ "${PID[$i]:-0}" != 0 ]; then
            kill -CONT "${PID[$i]}" 2>/dev/null
            kill -9 "${PID[$i]}" 2>/dev/null
        fi
    done
    [ -n "${LT_PID:-}" ] && kill -9 "$LT_PID" 2>/dev/null
    wait 2>/dev/null
    for i in $(seq 1 "$NODES"); do ip netns del "${TAG}n$i" 2>/dev/null; done
    ip link del "${TAG}b" 2>/dev/null
    if [ "$RESULT" = 0 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$TMP"
    else
        say "history, node logs and data kept in $TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- the network ---------------------------------------------------------------------------

# A /24 in 10.0.0.0/8 that no interface here uses.
NET=
for _ in $(seq 1 50); do
    cand=10.$((100 + RANDOM % 150)).$((RANDOM % 250))
    ip -4 addr show | grep -q " $cand\." || { NET=$cand; break; }
done
[ -n "$NET" ] || { say "no free 10.x.y.0/24"; exit 2; }

net_up() {
    local i
    ip link add "${TAG}b" type bridge || return 1
    ip addr add "$NET.254/24" dev "${TAG}b" && ip link set "${TAG}b" up || return 1
    for i in $(seq 1 "$NODES"); do
        ip netns add "${TAG}n$i" &&
            ip link add "${TAG}h$i" type veth peer name "${TAG}p$i" &&
            ip link set "${TAG}p$i" netns "${TAG}n$i" &&
            ip link set "${TAG}h$i" master "${TAG}b" up &&
            ip -n "${TAG}n$i" addr add "$NET.$i/24" dev "${TAG}p$i" &&
            ip -n "${TAG}n$i" link set "${TAG}p$i" up &&
            ip -n "${TAG}n$i" link set lo up || return 1
    done
}
net_up || { say "cannot make the test network"; exit 2; }

# Partitions: node A drops what it sends to node B with a blackhole route for B's address.
# One `ip -batch` per namespace: each ip call costs ~25 ms, a round should not.
# block_all A "B C ...": A no longer reaches B, C, ...
block_all() {
    local b
    for b in $2; do echo "route replace blackhole $NET.$b/32"; done |
        ip -n "${TAG}n$1" -batch - 2>/dev/null
}
heal() {
    local i
    for i in $(seq 1 "$NODES"); do ip -n "${TAG}n$i" route flush type blackhole 2>/dev/null; done
    return 0
}
# split "1 2" "3 4 5": no traffic between the two groups, either way.
split() {
    local a
    for a in $1; do block_all "$a" "$2"; done
    for a in $2; do block_all "$a" "$1"; done
}

# ---- the nodes -----------------------------------------------------------------------------

CLUSTER=
MEMBERS=
for i in $(seq 1 "$NODES"); do
    CLUSTER="${CLUSTER:+$CLUSTER,}$NET.$i:7101"
    MEMBERS+="member = $i $NET.$i:7001 $NET.$i:7101"$'\n'
done

# conf I [members]: node I's config; the members only for a node of the first cluster.
conf() {
    {   echo "id = $1"
        echo "data_dir = $TMP/node$1"
        echo "peer_listen = $NET.$1:7001"
        echo "client_listen = $NET.$1:7101"
        [ "${2:-}" = members ] && printf '%s' "$MEMBERS"
        # short timers so that faults play out fast; small snapshots and segments so that
        # compaction, snapshot sends and restarts from a snapshot happen many times a run
        echo "tick_ms = 20"
        echo "election_ticks = 10"
        echo "heartbeat_ticks = 2"
        echo "snapshot_entries = 2000"
        echo "snapshot_margin = 200"
        echo "segment_entries = 512"
        echo "log_window = 256"
    } > "$TMP/node$1.conf"
}

start() {
    ip netns exec "${TAG}n$1" "$BIN/raftsrv" -c "$TMP/node$1.conf" >> "$TMP/node$1.log" 2>&1 &
    PID[$1]=$!
}

# A node that exited although the nemesis did not kill it is a failure of the test.
check_alive() {
    local i
    for i in $(seq 1 "$NODES"); do
        if [ "${PID[$i]}" != 0 ] && ! kill -0 "${PID[$i]}" 2>/dev/null; then
            wait "${PID[$i]}"
            say "node $i exited on its own (status $?): see $TMP/node$i.log"
            PID[$i]=0
            DIED=1
        fi
    done
}

ctl() { "$BIN/raftctl" --cluster "$CLUSTER" --timeout "${CTL_MS:-3000}" "$@"; }

# The leader with the highest term among the answers, or nothing.
leader() {
    # the table's rows are "| ID | ADDRESS | ROLE | TERM | ...": fields 2, 4 and 5 split on |
    CTL_MS=500 ctl status 2>/dev/null | awk -F'|' '{ for (k = 2; k <= 5; k++) gsub(/ /, "", $k) }
        $4 == "leader" && $5 + 0 > t { t = $5 + 0; id = $2 } END { print id }'
}

wait_leader() {
    local end=$((SECONDS + ${1:-30}))
    while [ $SECONDS -lt $end ]; do
        [ -n "$(leader)" ] && return 0
        sleep 0.1
    done
    return 1
}

for i in $(seq 1 "$NODES"); do conf "$i" members; start "$i"; done
wait_leader 60 || { say "no leader within 60 s of the start"; exit 2; }
say "$NODES nodes on $NET.0/24, seed $SEED, $DURATION s, $THREADS clients$([ "$STALE" = 1 ] && echo ", stale gets")"

# ---- the nemesis ---------------------------------------------------------------------------

rnd()     { echo $((RANDOM % $1)); }                 # 0..N-1
pick()    { echo $((1 + RANDOM % NODES)); }          # a node
hold()    { sleep "$(( $1 + RANDOM % ($2 - $1 + 1) ))e-3"; }  # MIN..MAX ms
shuffle() { seq 1 "$NODES" | shuf --random-source=<(yes "$RANDOM"); }
count()   { FAULTS[$1]=$(( ${FAULTS[$1]:-0} + 1 )); echo "$(date +%T.%3N) $*" >> "$TMP/nemesis.log"; }
others()  { seq 1 "$NODES" | grep -vx "$1" | tr '\n' ' '; }

f_partition_halves() {
    local order minority
    order=$(shuffle | tr '\n' ' ')
    minority=$(( (NODES - 1) / 2 ))
    split "$(echo "$order" | cut -d' ' -f1-"$minority")" \
          "$(echo "$order" | cut -d' ' -f$((minority + 1))-)"
    count partition-majority-minority
}

f_partition_leader() {
    local l; l=$(leader); [ -n "$l" ] || l=$(pick)
    split "$l" "$(others "$l")"
    count partition-isolate-leader
}

# Two halves that do not see each other, both seeing one node in the middle.
f_partition_bridge() {
    local order half
    order=($(shuffle))
    half=$(( (NODES - 1) / 2 ))   # order[0], in neither half, is the middle
    split "${order[*]:1:$half}" "${order[*]:$((1 + half))}"
    count partition-bridge
}

f_kill() {
    local v; if [ "$(rnd 2)" = 0 ]; then v=$(leader); fi; [ -n "${v:-}" ] || v=$(pick)
    [ "${PID[$v]}" != 0 ] || return 0
    kill -9 "${PID[$v]}"; wait "${PID[$v]}" 2>/dev/null; PID[$v]=0
    count kill-9
    hold 0 1500
    start "$v"
}

f_kill_majority() {
    local order victims v
    order=($(shuffle)); victims=("${order[@]:0:$(( NODES / 2 + 1 ))}")
    for v in "${victims[@]}"; do
        [ "${PID[$v]}" != 0 ] && { kill -9 "${PID[$v]}"; wait "${PID[$v]}" 2>/dev/null; PID[$v]=0; }
    done
    count kill-9-majority
    hold 0 1000
    for v in "${victims[@]}"; do start "$v"; done
}

f_pause() {
    local v; if [ "$(rnd 2)" = 0 ]; then v=$(leader); fi; [ -n "${v:-}" ] || v=$(pick)
    [ "${PID[$v]}" != 0 ] || return 0
    kill -STOP "${PID[$v]}"; count sigstop
    hold 200 2500
    kill -CONT "${PID[$v]}"
}

f_transfer() {
    local l t; l=$(leader); [ -n "$l" ] || return 0
    t=$(others "$l" | tr ' ' '\n' | grep . | shuf -n1 --random-source=<(yes "$RANDOM"))
    ctl transfer "$t" >/dev/null 2>&1 && count transfer
}

# Remove a node from the cluster, wipe it, start it empty and add it back: the re-seed an
# operator does after bit rot. The round ends with the node a voter again (or gives up).
f_reseed() {
    local v; v=$(pick)
    CTL_MS=10000 ctl members remove "$v" >/dev/null 2>&1 || return 0
    if [ "${PID[$v]}" != 0 ]; then
        kill -9 "${PID[$v]}"; wait "${PID[$v]}" 2>/dev/null; PID[$v]=0
    fi
    rm -rf "$TMP/node$v"
    conf "$v"   # no member lines: it idles until added
    start "$v"
    local tries added=0
    for tries in 1 2 3 4 5; do
        if CTL_MS=20000 ctl members add "$v" "$NET.$v:7001" "$NET.$v:7101" \
                >> "$TMP/nemesis.log" 2>&1; then added=1; break; fi
        sleep 0.5
    done
    [ "$added" = 1 ] ||
        say "re-seed of node $v did not finish: the run goes on with one member fewer"
    count membership-remove-reseed-add
}

nemesis_round() {
    case $(rnd 16) in
        0|1|2)  f_partition_halves ;;
        3|4)    f_partition_leader ;;
        5|6)    f_partition_bridge ;;
        7|8|9)  f_kill ;;
        10)     f_kill_majority ;;
        11|12)  f_pause ;;
        13|14)  f_transfer ;;
        15)     f_reseed ;;
    esac
    # now and then a second fault on top of a partition
    if [ "$(rnd 3)" = 0 ]; then
        case $(rnd 3) in 0) f_kill ;; 1) f_pause ;; 2) f_transfer ;; esac
    fi
    hold 200 1500
    echo "$(date +%T.%3N) heal" >> "$TMP/nemesis.log"
    heal
    check_alive
    hold 100 600    # healed for a while: progress between faults
}

# A long client deadline (the client retries a request under the same session id until then,
# so a retried write is applied once): few writes end indeterminate, each of which would stay
# open to the end of its key's history. Fresh keys every 3 s keep each key's history short.
LT_ARGS=(--cluster "$CLUSTER" --threads "$THREADS" --keys 16 --duration "$DURATION"
         --timeout-ms 5000 --seed "$SEED" --key-seconds 3 --out "$TMP/history.txt")
[ "$STALE" = 1 ] && LT_ARGS+=(--stale)
"$BIN/lintest" "${LT_ARGS[@]}" > "$TMP/lintest.out" 2>&1 &
LT_PID=$!

DIED=0
end=$((SECONDS + DURATION))
while [ $SECONDS -lt "$end" ] && [ "$DIED" = 0 ]; do
    nemesis_round
done
heal
for i in $(seq 1 "$NODES"); do
    if [ "${PID[$i]}" = 0 ]; then start "$i"; else kill -CONT "${PID[$i]}" 2>/dev/null; fi
done
check_wait_start=$SECONDS
wait "$LT_PID"; lt_rc=$?; LT_PID=
check_s=$((SECONDS - check_wait_start))
check_alive

# ---- the verdict ---------------------------------------------------------------------------

total=0
for k in "${!FAULTS[@]}"; do total=$((total + FAULTS[$k])); done
grep -E '^(lintest:|overall:|NOT linearizable|    )' "$TMP/lintest.out" | head -40
grep -E '^key .*(NOT|unknown)' "$TMP/lintest.out" | head -5
echo "faults injected: $total"
for k in $(printf '%s\n' "${!FAULTS[@]}" | sort); do printf '  %-32s %d\n' "$k" "${FAULTS[$k]}"; done
echo "lintest finished ${check_s} s after the nemesis stopped (the check included)"
if ! wait_leader 60; then
    say "no leader within 60 s after healing"
    lt_rc=1
fi
if [ "$DIED" = 1 ]; then
    echo "verdict: FAILED (a node exited on its own)"; RESULT=1
elif [ "$lt_rc" = 0 ]; then
    echo "verdict: linearizable"; RESULT=0
elif [ "$lt_rc" = 1 ]; then
    echo "verdict: NOT linearizable"; RESULT=1
else
    echo "verdict: unknown (checker limit or lintest error: see $TMP/lintest.out)"; RESULT=2
fi
exit $RESULT
