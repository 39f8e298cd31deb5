#!/bin/bash
# make bench-etcd: etcd and Luminous side by side, in alternation, in one run: for each rep and
# each concurrency, first etcd (../shared/bench/etcd/bench-etcd.sh: a fresh 3-member cluster,
# 2 s warm-up, measured run with etcdload), then Luminous (tools/bench.sh: the same for a
# fresh 3-node cluster with raftbench). Same concurrencies, duration, value size and keys.
# Prints both tables, then the ratios Luminous/etcd against the targets of issue 5.
#
# Environment: CLIENTS ("1 8 64 256"), DURATION (15), VSIZE (256), KEYS (10000), REPS (1),
# ETCD_BENCH_DIR (../shared/bench/etcd from the repo root), ETCDLOAD_BIN (/tmp/etcdload.bin),
# BIN_DIR (build), OUT (a directory to keep the raw RESULT lines in; default a temp dir).
# Needs: apt-get install -y golang-go golang-etcd-server-dev etcd-server etcd-client
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ETCD_BENCH_DIR=${ETCD_BENCH_DIR:-$ROOT/../shared/bench/etcd}
CLIENTS=${CLIENTS:-1 8 64 256}
DURATION=${DURATION:-15}
VSIZE=${VSIZE:-256}
KEYS=${KEYS:-10000}
REPS=${REPS:-1}
export ETCDLOAD_BIN=${ETCDLOAD_BIN:-/tmp/etcdload.bin}
PKGS="golang-go golang-etcd-server-dev etcd-server etcd-client"

say() { echo "bench-etcd: $*" >&2; }

[ -x "$ETCD_BENCH_DIR/bench-etcd.sh" ] || { say "no $ETCD_BENCH_DIR/bench-etcd.sh"; exit 1; }
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null || ! command -v go >/dev/null ||
   [ ! -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing $PKGS"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS >&2
    else
        say "etcd or its Go client is missing. Run: sudo apt-get update && sudo apt-get install -y $PKGS"
        exit 1
    fi
fi
[ -x "$ETCDLOAD_BIN" ] || "$ETCD_BENCH_DIR/build.sh" >&2

OUT=${OUT:-}
TMP=$(mktemp -d /tmp/lum-bench-etcd.XXXXXX)
trap '"$ETCD_BENCH_DIR/stop-etcd-cluster.sh" "$TMP/etcd" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
[ -n "$OUT" ] || OUT=$TMP
mkdir -p "$OUT"
: > "$OUT/etcd.txt"
: > "$OUT/luminous.txt"

say "clients: $CLIENTS; ${DURATION}s runs, ${VSIZE}-byte values, $KEYS keys, $REPS rep(s); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq 1 "$REPS"); do
    for c in $CLIENTS; do
        say "rep $rep, $c clients: etcd"
        "$ETCD_BENCH_DIR/bench-etcd.sh" -n 3 -r 1 -s "$rep" -d "$DURATION" -c "$c" -k "$KEYS" \
            -v "$VSIZE" "$TMP/etcd" | grep '^RESULT' | tee -a "$OUT/etcd.txt"
        say "rep $rep, $c clients: Luminous"
        CLIENTS=$c REPS=1 REP=$rep DURATION=$DURATION VSIZE=$VSIZE KEYS=$KEYS TABLE=0 \
            bash "$ROOT/tools/bench.sh" sweep | grep '^RESULT' | tee -a "$OUT/luminous.txt"
    done
done

echo
echo "## etcd $(etcd --version 2>/dev/null | awk '/etcd Version/{print $3}')"
echo
bash "$ROOT/tools/bench.sh" table "$OUT/etcd.txt"
echo
echo "## Luminous"
echo
bash "$ROOT/tools/bench.sh" table "$OUT/luminous.txt"
echo
echo "## Luminous / etcd (medians over reps; RSS: the largest node)"
echo
awk '
function field(line, k,   i, n, f, kv) {
    n = split(line, f, " ")
    for (i = 2; i <= n; i++) { split(f[i], kv, "="); if (kv[1] == k) return kv[2] }
    return ""
}
function rssmax(s,   n, a, i, m) { n = split(s, a, "/"); m = 0; for (i = 1; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
function median(arr, n,   i, j, t, b) {
    for (i = 1; i <= n; i++) b[i] = arr[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}
/^RESULT / {
    sys = FILENAME ~ /etcd\.txt$/ ? "e" : "l"; c = field($0, "conc") + 0
    k = sys SUBSEP c; n = ++cnt[k]
    ops[k, n] = field($0, "ops_s"); p99[k, n] = field($0, "p99_us"); cpu[k, n] = field($0, "cpu_s_per_10k_puts")
    rss[k, n] = rssmax(field($0, "rss_peak_kb")); concs[c] = 1
}
END {
    print "| clients | etcd puts/s | Luminous puts/s | ratio (target >= 20x at 64, 256) | etcd p99 ms | Luminous p99 ms | ratio (target <= 0.2) | etcd CPU-s/10k | Luminous CPU-s/10k | ratio (target <= 0.05) | etcd RSS MiB | Luminous RSS MiB | ratio (target <= 0.1) |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    nc = 0; for (c in concs) cs[++nc] = c + 0
    for (i = 1; i <= nc; i++) for (j = i + 1; j <= nc; j++) if (cs[j] < cs[i]) { t = cs[i]; cs[i] = cs[j]; cs[j] = t }
    for (i = 1; i <= nc; i++) {
        c = cs[i]; ke = "e" SUBSEP c; kl = "l" SUBSEP c
        if (!cnt[ke] || !cnt[kl]) continue
        delete a; for (j = 1; j <= cnt[ke]; j++) a[j] = ops[ke, j]; eo = median(a, cnt[ke])
        delete a; for (j = 1; j <= cnt[kl]; j++) a[j] = ops[kl, j]; lo = median(a, cnt[kl])
        delete a; for (j = 1; j <= cnt[ke]; j++) a[j] = p99[ke, j]; ep = median(a, cnt[ke])
        delete a; for (j = 1; j <= cnt[kl]; j++) a[j] = p99[kl, j]; lp = median(a, cnt[kl])
        delete a; for (j = 1; j <= cnt[ke]; j++) a[j] = cpu[ke, j]; ec = median(a, cnt[ke])
        delete a; for (j = 1; j <= cnt[kl]; j++) a[j] = cpu[kl, j]; lc = median(a, cnt[kl])
        delete a; for (j = 1; j <= cnt[ke]; j++) a[j] = rss[ke, j]; er = median(a, cnt[ke])
        delete a; for (j = 1; j <= cnt[kl]; j++) a[j] = rss[kl, j]; lr = median(a, cnt[kl])
        ro = eo > 0 ? lo / eo : 0; rp = ep > 0 ? lp / ep : 0; rc = ec > 0 ? lc / ec : 0; rr = er > 0 ? lr / er : 0
        mo = (c == 64 || c == 256) ? (ro >= 20 ? " met" : " MISSED") : ""
        if (c == 256) mo = mo (lo >= 100000 ? ", >= 100k met" : ", < 100k MISSED")
        printf "| %d | %.0f | %.0f | %.2fx%s | %.2f | %.2f | %.2f %s | %.2f | %.3f | %.3f %s | %.0f | %.1f | %.3f %s |\n",
            c, eo, lo, ro, mo, ep / 1000, lp / 1000, rp, (rp <= 0.2 ? "met" : "MISSED"),
            ec, lc, rc, (rc <= 0.05 ? "met" : "MISSED"), er / 1024, lr / 1024, rr, (rr <= 0.1 ? "met" : "MISSED")
    }
}' "$OUT/etcd.txt" "$OUT/luminous.txt"
echo
echo "raw RESULT lines: $OUT/etcd.txt $OUT/luminous.txt$([ "$OUT" = "$TMP" ] && echo ' (temporary: set OUT=DIR to keep them)')"
