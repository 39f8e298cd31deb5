#!/usr/bin/env bash
# The install test (make test runs it): `make install` into a staging root, the guestbook
# example built from the installed copy through pkg-config and run as a one-node cluster of
# its own state machine, the man pages rendered without warnings and checked against the
# sources (every config key of src/server/config.c, every command and option of
# tools/raftctl.c), the systemd unit verified, then `make uninstall` leaves nothing.
# BUILD (default build) must hold a built tree; MAKE is the make to call; SAN the sanitizer
# flags the tree was built with (make asan).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
TMP=$(mktemp -d /tmp/luminous-install.XXXXXX)
STAGE=$TMP/stage
SERVER_PID=""

say() { echo "install test: $*"; }
fail() {
    echo "install test: FAILED: $*" >&2
    [ -f "$TMP/guestbook.log" ] && { echo "--- guestbook server log" >&2; tail -n 30 "$TMP/guestbook.log" >&2; }
    exit 1
}
server_stop() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
cleanup() { server_stop; rm -rf "$TMP"; }
trap cleanup EXIT

cd "$ROOT"
VERSION=$(sed -n 's/^#define LUM_VERSION "\(.*\)"$/\1/p' include/luminous/version.h)
[ -n "$VERSION" ] || fail "no LUM_VERSION in include/luminous/version.h"

# ---- install ---------------------------------------------------------------------------------
"$MAKE" -s --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr BUILD="$BUILD" >/dev/null ||
    fail "make install DESTDIR=$STAGE PREFIX=/usr failed"
U=$STAGE/usr
expect=(bin/raftsrv bin/raftctl bin/raftbench lib/libluminous.a lib/pkgconfig/luminous.pc
        share/man/man1/raftsrv.1 share/man/man1/raftctl.1 share/man/man5/raft.conf.5
        share/doc/luminous/raft.conf.example share/doc/luminous/README.md
        share/doc/luminous/luminous@.service share/doc/luminous/example/Makefile)
for h in include/luminous/*.h; do expect+=("$h"); done
for f in "${expect[@]}"; do [ -f "$U/$f" ] || fail "make install did not install /usr/$f"; done
for b in raftsrv raftctl raftbench; do [ -x "$U/bin/$b" ] || fail "/usr/bin/$b is not executable"; done
# the staging root is DESTDIR's business only: no installed file may name it
if grep -rlF "$STAGE" "$STAGE" >/dev/null; then
    fail "installed files name the staging directory: $(grep -rlF "$STAGE" "$STAGE" | head -3)"
fi
grep -qx 'ExecStart=/usr/bin/raftsrv -c /etc/luminous/%i.conf' "$U/share/doc/luminous/luminous@.service" ||
    fail "the installed unit does not run /usr/bin/raftsrv"
say "make install: ${#expect[@]} files under DESTDIR/usr"

# ---- pkg-config and the example -------------------------------------------------------------
export PKG_CONFIG_PATH=$U/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$STAGE PKG_CONFIG_LIBDIR=""
got=$(pkg-config --modversion luminous) || fail "pkg-config does not find luminous.pc"
[ "$got" = "$VERSION" ] || fail "luminous.pc says version $got, version.h $VERSION"
flags=$(pkg-config --cflags --libs luminous)
case "$flags" in
    *"-I$U/include"*"-L$U/lib"*"-lluminous"*) ;;
    *) fail "pkg-config --cflags --libs luminous gave \"$flags\"" ;;
esac
# Each installed header stands alone in strict C11, no feature macros: a program need not
# know what the headers use to include them.
cc=${CC:-cc}
for h in "$U"/include/luminous/*.h; do
    printf '#include <luminous/%s>\nint main(void) { return 0; }\n' "${h##*/}" > "$TMP/header.c"
    "$cc" -std=c11 -pedantic -Wall -Wextra -Werror $(pkg-config --cflags luminous) \
        -c "$TMP/header.c" -o "$TMP/header.o" > "$TMP/header.out" 2>&1 ||
        { cat "$TMP/header.out" >&2; fail "luminous/${h##*/} does not compile alone under -std=c11"; }
done
say "every installed header compiles alone under -std=c11 -pedantic"
# Built from the installed copy, outside the source tree, so only installed headers and
# libluminous.a can be what it uses; -Werror, and a strict C11 in the example's Makefile.
cp -r "$U/share/doc/luminous/example" "$TMP/example"
# Under make asan the library is instrumented: so is the example (SAN).
"$MAKE" -s --no-print-directory -C "$TMP/example" CFLAGS="-O2 -Wall -Wextra -Werror ${SAN:-}" \
    LDFLAGS="${SAN:-}" \
    > "$TMP/example.out" 2>&1 || { cat "$TMP/example.out" >&2; fail "the example does not build"; }
GB=$TMP/example/guestbook
say "the example builds against the staged tree: $flags"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Starts the guestbook's server on two free ports and waits until it answers a read.
guestbook_start() {
    "$GB" serve "$TMP/gb.conf" >> "$TMP/guestbook.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 150); do
        kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID" || true; SERVER_PID=""; return 1; }
        "$GB" --cluster "$CLIENT" read 1 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "the guestbook server did not answer within 30 s"
}

started=0
for attempt in 1 2 3 4 5; do
    base=$((20000 + (RANDOM * 7 + $$) % 40000))
    port_free "$base" && port_free $((base + 1)) || continue
    CLIENT=127.0.0.1:$((base + 1))
    cat > "$TMP/gb.conf" <<EOF
id = 1
data_dir = $TMP/gbdata
peer_listen = 127.0.0.1:$base
client_listen = $CLIENT
member = 1 127.0.0.1:$base $CLIENT
log_level = info
EOF
    if guestbook_start; then started=1; break; fi
    grep -q "in use" "$TMP/guestbook.log" || fail "the guestbook server did not start"
done
[ $started = 1 ] || fail "no free ports for the guestbook server after 5 tries"

out=$("$GB" --cluster "$CLIENT" sign alice "first post") || fail "sign failed"
[ "$out" = "signature #1" ] || fail "sign answered \"$out\""
out=$("$GB" --cluster "$CLIENT" sign bob "hello, replicated world") || fail "sign failed"
[ "$out" = "signature #2" ] || fail "the second sign answered \"$out\""
rc=0; "$GB" --cluster "$CLIENT" sign mallory $'bell\a' 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "a message with a control character was not refused by the machine (exit $rc)"
book=$(printf 'signatures: 2\n#1 alice: first post\n#2 bob: hello, replicated world')
out=$("$GB" --cluster "$CLIENT" read) || fail "read failed"
[ "$out" = "$book" ] || fail "read gave: $out"
# a snapshot (the machine's save), a restart that loads it (its load), the same book
"$U/bin/raftctl" --cluster "$CLIENT" snapshot > "$TMP/snap.out" || fail "raftctl snapshot failed"
server_stop
guestbook_start || fail "the guestbook server did not restart"
grep -q "loaded snapshot [1-9]" "$TMP/guestbook.log" || fail "the restart did not load the snapshot"
out=$("$GB" --cluster "$CLIENT" read) || fail "read after the restart failed"
[ "$out" = "$book" ] || fail "after a snapshot and a restart, read gave: $out"
server_stop
say "guestbook: 2 signatures, a refused one, $(cat "$TMP/snap.out"), restart from it: same book"

# ---- man pages ------------------------------------------------------------------------------
pages=("$U/share/man/man1/raftsrv.1" "$U/share/man/man1/raftctl.1" "$U/share/man/man5/raft.conf.5")
for p in "${pages[@]}"; do
    grep -q "^\.TH .*\"Luminous $VERSION\"" "$p" || fail "$(basename "$p"): .TH does not say Luminous $VERSION"
done
if command -v man >/dev/null; then
    for p in "${pages[@]}"; do
        warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$p" 2>&1 >/dev/null)
        [ -z "$warn" ] || fail "man warns about $(basename "$p"): $warn"
    done
    rendered="man"
elif command -v groff >/dev/null; then
    for p in "${pages[@]}"; do
        warn=$(groff -man -ww -z "$p" 2>&1)
        [ -z "$warn" ] || fail "groff warns about $(basename "$p"): $warn"
    done
    rendered="groff"
else
    rendered="nothing (no man, no groff: not rendered)"
fi

# The man source with roff's \- and \% taken out, so names compare as plain text.
plain() { sed -e 's/\\-/-/g' -e 's/\\%//g' "$1"; }
# A name is documented when an item (.TP's tag, .B/.BI/.BR) starts with it.
documented() { grep -qE "^\.(B|BI|BR) \"?$2( |\"|$)" <<< "$1"; }

keys=$(sed -n '/config_keys\[KEY_COUNT_\] = {/,/};/p' src/server/config.c | grep -oE '"[a-z_]+"' | tr -d '"')
[ "$(wc -w <<< "$keys")" -ge 20 ] || fail "found only $(wc -w <<< "$keys") keys in src/server/config.c"
conf5=$(plain "${pages[2]}")
for k in $keys; do documented "$conf5" "$k" || fail "raft.conf(5) does not describe the key $k"; done

# raftctl's commands: its usage lines, a command then its description after 3 or more
# spaces ("  put KEY VALUE [--ttl SECONDS]   store VALUE under KEY"), and its commands[] table.
usage=$(sed -n '/^static void usage/,/^}/p' tools/raftctl.c)
cmds=$( { grep -E '^ *"  [a-z][a-z-]*( [^ ]+)*   +[^ ]' <<< "$usage" | sed 's/^ *"  \([a-z-]*\).*/\1/'
          grep -oE '\{"[a-z][a-z-]*", *-?[0-9]+, *cmd_' tools/raftctl.c | sed 's/{"\([^"]*\)".*/\1/'
        } | sort -u)
opts=$(sed -n '/longopts\[\] = {/,/};/p' tools/raftctl.c | grep -oE '\{"[a-z][a-z-]*"' | tr -d '{"')
[ "$(wc -w <<< "$cmds")" -ge 8 ] || fail "found only $(wc -w <<< "$cmds") commands in tools/raftctl.c"
ctl1=$(plain "${pages[1]}")
for c in $cmds; do documented "$ctl1" "$c" || fail "raftctl(1) does not describe the command $c"; done
for o in $opts; do grep -q -- "--$o" <<< "$ctl1" || fail "raftctl(1) does not mention --$o"; done
srvopts=$(sed -n '/longopts\[\] = {/,/};/p' src/raftsrv.c | grep -oE '\{"[a-z][a-z-]*"' | tr -d '{"')
srv1=$(plain "${pages[0]}")
for o in $srvopts; do grep -q -- "--$o" <<< "$srv1" || fail "raftsrv(1) does not mention --$o"; done
say "man pages rendered by $rendered; $(wc -w <<< "$keys") config keys, $(wc -w <<< "$cmds") raftctl commands, $(wc -w <<< "$opts") + $(wc -w <<< "$srvopts") options documented"

# ---- the systemd unit ------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # an instance of the template, with ExecStart on the staged binary (verify checks it)
    mkdir "$TMP/unit"
    sed "s|/usr/bin/raftsrv|$U/bin/raftsrv|" "$U/share/doc/luminous/luminous@.service" \
        > "$TMP/unit/luminous@test.service"
    out=$(MANPATH=$U/share/man systemd-analyze verify "$TMP/unit/luminous@test.service" 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
    say "systemd-analyze verify: the unit is clean"
else
    say "systemd-analyze not available: the unit is not verified"
fi

# ---- uninstall --------------------------------------------------------------------------------
"$MAKE" -s --no-print-directory uninstall DESTDIR="$STAGE" PREFIX=/usr BUILD="$BUILD" >/dev/null
left=$(find "$STAGE" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
for d in include/luminous share/doc/luminous; do
    [ ! -e "$U/$d" ] || fail "make uninstall left the directory /usr/$d"
done
say "make uninstall: nothing left"
