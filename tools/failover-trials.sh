#!/bin/sh
# Measures how long a 3-node cluster with default settings takes to accept writes again
# after kill -9 of its leader: N trials (default 20) on the cluster of `make run`. Prints
# each trial's time and the min/median/max. The killed node is restarted between trials.
set -eu
cd "$(dirname "$0")/.."
trials=${1:-20}
ctl="build/raftctl --timeout 10000"
leader_id() {
    $ctl --timeout 1000 status --json 2>/dev/null |
        tr '{' '\n' | grep '"role":"leader"' | sed 's/.*"id":\([0-9]*\).*/\1/' | head -n 1
}
sh tools/cluster.sh start >/dev/null
times=""
i=1
while [ $i -le "$trials" ]; do
    id=$(leader_id)
    [ -n "$id" ] || { sleep 0.2; continue; }
    $ctl put warmup "$i" >/dev/null
    pid=$(cat data/node$id.pid)
    t0=$(date +%s%N)
    kill -9 "$pid"
    $ctl put failover "$i" >/dev/null
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    echo "trial $i: killed leader node $id, a write was accepted after $ms ms"
    times="$times $ms"
    rm -f data/node$id.pid
    sh tools/cluster.sh start >/dev/null    # restarts the killed node
    until [ "$($ctl --timeout 1000 get --stale failover --cluster 127.0.0.1:710$id 2>/dev/null)" = "$i" ]; do
        sleep 0.1
    done
    i=$((i + 1))
done
echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '
    { v[NR] = $1 }
    END { printf "%d trials: min %d ms, median %d ms, max %d ms\n", NR, v[1],
          (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[NR] }'
