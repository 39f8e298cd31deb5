#!/bin/sh
# Starts or stops a local three-node cluster under data/ (made from raft.conf.example).
#   tools/cluster.sh start   build first (make), then start nodes 1-3 in the background
#   tools/cluster.sh stop    stop exactly the nodes started here (by their pid files)
set -eu
cd "$(dirname "$0")/.."
dir=data
case "${1:-}" in
start)
    mkdir -p "$dir"
    for i in 1 2 3; do
        if [ -f "$dir/node$i.pid" ] && kill -0 "$(cat "$dir/node$i.pid")" 2>/dev/null; then
            echo "node $i is already running (pid $(cat "$dir/node$i.pid"))"
            continue
        fi
        sed -e "s/^id = 1$/id = $i/" \
            -e "s|^data_dir = data/node1$|data_dir = $dir/node$i|" \
            -e "s/^peer_listen = 127.0.0.1:7001$/peer_listen = 127.0.0.1:700$i/" \
            -e "s/^client_listen = 127.0.0.1:7101$/client_listen = 127.0.0.1:710$i/" \
            -e "s/^resp_listen = 127.0.0.1:7201$/resp_listen = 127.0.0.1:720$i/" \
            -e "s/^http_listen = 127.0.0.1:7301$/http_listen = 127.0.0.1:730$i/" \
            raft.conf.example > "$dir/node$i.conf"
        # own session and no terminal: the nodes outlive this script and its make
        setsid build/raftsrv -c "$dir/node$i.conf" </dev/null >>"$dir/node$i.log" 2>&1 &
        echo $! > "$dir/node$i.pid"
    done
    # wait (bounded) until the cluster has a leader
    i=0
    until build/raftctl --timeout 500 status --json 2>/dev/null | grep -q '"role":"leader"'; do
        i=$((i + 1))
        if [ $i -ge 40 ]; then
            echo "no leader after 20 s; see $dir/node*.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    cat <<MSG
A three-node Luminous cluster is running (clients on 127.0.0.1:7101-7103, the Redis
protocol on 127.0.0.1:7201-7203; logs in $dir/node*.log).
  build/raftctl put greeting hello
  build/raftctl get greeting
  build/raftctl status
  curl -s 127.0.0.1:7301/metrics; curl -s 127.0.0.1:7301/health   (HTTP on 7301-7303)
Stop it with: make stop
MSG
    ;;
stop)
    for i in 1 2 3; do
        f="$dir/node$i.pid"
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if kill "$pid" 2>/dev/null; then
            n=0
            while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
            echo "stopped node $i (pid $pid)"
        fi
        rm -f "$f"
    done
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
