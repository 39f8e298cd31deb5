/* Snapshots of the server's replicated state, for log compaction and for followers that
 * need entries the log no longer has (paper §7). One snapshot file (format in
 * src/storage/snap.c) holds, in its body:
 *   u32 SNAPSHOT_BODY_VERSION | address book | client sessions | the state machine's bytes
 * It is written by a forked child, as Redis does: the child sees the state as of the fork
 * (copy-on-write) and the loop is stalled only by the fork itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server_int.h"

static int snapshot_write(struct server *s, int dirfd, uint64_t index, uint64_t term)
{
    struct snap_writer *w;
    struct lum_err err;
    int rv = snap_writer_open(dirfd, index, term, &s->members, &s->members_old, &w, &err);
    if (rv != 0) {
        lum_error("snapshot %llu: %s", (unsigned long long)index, err.msg);
        return rv;
    }
    struct lum_sink sink = snap_writer_sink(w);
    uint8_t version[4];
    lum_put_u32(version, SNAPSHOT_BODY_VERSION);
    rv = sink.write(sink.ctx, version, 4);
    if (rv == 0)
        rv = book_save(s, &sink);
    if (rv == 0)
        rv = session_save(&s->sessions, &sink);
    if (rv == 0)
        rv = s->fsm_ops->snapshot_save(s->fsm, &sink);
    if (rv != 0) {
        lum_error("snapshot %llu: %s", (unsigned long long)index, lum_strerror(rv));
        snap_writer_abort(w);
        return rv;
    }
    rv = snap_writer_finish(w, &err);
    if (rv != 0)
        lum_error("snapshot %llu: %s", (unsigned long long)index, err.msg);
    return rv;
}

/* The child writes the snapshot and nothing else: it dies with its parent, and it keeps
 * none of the parent's descriptors (not the data dir's lock, not a socket), so a killed
 * server restarts at once. */
void snapshot_exclude_from_child(struct server *s)
{
    void *base;
    size_t len;
    raft_log_window_memory(s->raft, &base, &len);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)base + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)base + len) & ~(page - 1);
    if (to > from && madvise((void *)from, to - from, MADV_DONTFORK) != 0)
        lum_warn("madvise(MADV_DONTFORK) of the log window: %s; snapshots will cost more "
                 "copy-on-write faults", strerror(errno));
}

_Noreturn static void snapshot_child(struct server *s, uint64_t index, uint64_t term)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    int dirfd = openat(storage_dirfd(s->storage), ".", O_RDONLY | O_DIRECTORY);
    if (dirfd < 0 || dup2(dirfd, 3) < 0)
        _exit(1);
    close_range(4, ~0u, 0); /* everything but stdio and the new data dir descriptor */
    _exit(snapshot_write(s, 3, index, term) == 0 ? 0 : 1);
}

int snapshot_start(struct server *s)
{
    if (s->snap_child)
        return -LUM_EBUSY;
    struct raft_status st;
    raft_status(s->raft, &st);
    if (st.applied_index == 0 || (st.applied_index == s->snap_index && !s->snap_damaged)) {
        admin_snapshot_done(s, s->snap_index); /* nothing new to save */
        return 0;
    }
    uint64_t term;
    if (raft_log_term(s->raft, st.applied_index, &term) != 0)
        return -LUM_EIO;
    fflush(stderr);
    uint64_t t0 = clock_mono_ms();
    pid_t pid = fork();
    if (pid < 0) {
        lum_error("snapshot: fork: %s", strerror(errno));
        return -LUM_EIO;
    }
    if (pid == 0)
        snapshot_child(s, st.applied_index, term);
    lum_info("snapshot at index %llu: writing from child %d (fork stalled the loop %llu ms)",
             (unsigned long long)st.applied_index, (int)pid,
             (unsigned long long)(clock_mono_ms() - t0));
    s->snap_child = pid;
    s->snap_child_index = st.applied_index;
    metrics_snapshot_started(&s->metrics);
    return 0;
}

void snapshot_damaged(struct server *s, const char *name)
{
    s->snap_damaged = true;
    if (strcmp(s->snap_verified, name) == 0)
        s->snap_verified[0] = '\0';
    snapshot_start(s); /* busy: the running one replaces it as well */
}

int snapshot_check_to_send(struct server *s, const char *name, const char *who,
                           struct snap_meta *meta)
{
    struct lum_err err;
    int dirfd = storage_dirfd(s->storage);
    int rv;
    if (strcmp(s->snap_verified, name) == 0) { /* checked whole already: the header will do */
        struct snap_reader *r;
        if ((rv = snap_reader_open(dirfd, name, meta, &r, &err)) == 0)
            snap_reader_close(r);
    } else {
        rv = snap_check(dirfd, name, meta, &err);
    }
    if (rv == -LUM_ENOTFOUND)
        return rv;
    if (rv != 0) {
        lum_error("%snot sending snapshot %s: %s; writing a new snapshot", who, name, err.msg);
        snapshot_damaged(s, name);
        return -LUM_ECORRUPT;
    }
    snprintf(s->snap_verified, sizeof s->snap_verified, "%s", name);
    return 0;
}

uint32_t snapshot_body_crc(uint32_t crc, const uint8_t *data, uint64_t offset, uint32_t len)
{
    if (offset + len <= SNAP_HEADER_SIZE)
        return crc;
    uint64_t from = offset > SNAP_HEADER_SIZE ? offset : SNAP_HEADER_SIZE;
    return lum_crc32c(crc, data + (from - offset), (size_t)(offset + len - from));
}

void snapshot_reaped(struct server *s, int status)
{
    uint64_t index = s->snap_child_index;
    s->snap_child = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        lum_error("snapshot at index %llu failed (child status %d); the log is kept",
                  (unsigned long long)index, status);
        admin_snapshot_done(s, 0);
        metrics_snapshot_done(&s->metrics, false);
        return;
    }
    metrics_snapshot_done(&s->metrics, true);
    raft_snapshot_taken(s->raft, index);
    s->snap_damaged = false;
    if (index != s->snap_index) { /* else it replaced a damaged file of the same name */
        s->snap_prev_index = s->snap_index;
        s->snap_index = index;
    }
    /* Keep snapshot_margin entries behind it: followers a little behind catch up from the
     * log. (A margin >= snapshot_entries also keeps the log back to the previous snapshot,
     * so a damaged newest one can be skipped at a restart.) */
    uint64_t upto = index > s->cfg.snapshot_margin ? index - s->cfg.snapshot_margin : 0;
    struct lum_err err;
    if (upto > 0 && wal_compact(storage_wal(s->storage), upto, &err) != 0)
        lum_warn("log compaction: %s", err.msg);
    snap_remove_older(storage_dirfd(s->storage), s->snap_prev_index);
    lum_info("snapshot at index %llu written; the log now starts at %llu",
             (unsigned long long)index,
             (unsigned long long)wal_first_index(storage_wal(s->storage)));
    admin_snapshot_done(s, index);
}

int snapshot_load(struct server *s, const struct snap_meta *meta, struct lum_err *err)
{
    struct snap_reader *r;
    struct snap_meta m;
    int rv = snap_reader_open(storage_dirfd(s->storage), meta->name, &m, &r, err);
    if (rv != 0)
        return rv;
    struct lum_source src = snap_reader_source(r);
    uint8_t version[4];
    rv = src.read(src.ctx, version, 4);
    if (rv == 0 && lum_get_u32(version) != SNAPSHOT_BODY_VERSION)
        rv = -LUM_EVERSION;
    if (rv == 0)
        rv = book_load(s, &src);
    if (rv == 0)
        rv = session_load(&s->sessions, &src);
    if (rv == 0)
        rv = s->fsm_ops->snapshot_load(s->fsm, &src);
    if (rv == 0 && snap_reader_left(r) != 0)
        rv = -LUM_ECORRUPT;
    /* snap_check passed before, but what was loaded is what counts: the file may have
     * changed since (bit rot between the check and this read). */
    bool crc_bad = rv == 0 && snap_reader_verify(r) != 0;
    snap_reader_close(r);
    if (crc_bad) {
        lum_errf(err, "snap/%s: the body fails its checksum (it changed after it was checked): "
                 "not loaded", meta->name);
        return -LUM_ECORRUPT;
    }
    if (rv != 0) {
        lum_errf(err, "snap/%s: cannot load: %s", meta->name, lum_strerror(rv));
        return rv;
    }
    s->members = m.members;
    s->members_old = m.members_old;
    s->snap_index = m.index;
    for (uint32_t i = 0; i < s->book_count; i++)
        peers_ensure(s, s->book[i].id);
    return 0;
}

int snapshot_received(struct server *s, struct raft_msg *m)
{
    struct snap_meta meta;
    struct lum_err err;
    int rv = snap_check(storage_dirfd(s->storage), "recv.tmp", &meta, &err);
    if (rv == 0 && (meta.index != m->snapshot.index || meta.term != m->snapshot.term)) {
        snprintf(err.msg, sizeof err.msg, "received snapshot %llu/%llu, the message says %llu/%llu",
                 (unsigned long long)meta.index, (unsigned long long)meta.term,
                 (unsigned long long)m->snapshot.index, (unsigned long long)m->snapshot.term);
        rv = -LUM_EMALFORMED;
    }
    if (rv != 0) {
        lum_warn("snapshot from node %llu: %s; dropped", (unsigned long long)m->from, err.msg);
        return rv;
    }
    m->snapshot.members = meta.members;
    m->snapshot.members_old = meta.members_old;
    return 0;
}

void snapshot_install(struct server *s, const struct raft_snapshot_meta *sm)
{
    struct snap_meta meta;
    struct lum_err err;
    /* the core has let go of its log: from here on, failing to follow is fatal */
    int rv = snap_recv_finish(storage_dirfd(s->storage), &meta, &err);
    if (rv == 0 && meta.index != sm->index)
        rv = -LUM_EMALFORMED;
    if (rv == 0)
        rv = snapshot_load(s, &meta, &err);
    if (rv == 0)
        rv = wal_reset(storage_wal(s->storage), sm->index, &err);
    if (rv != 0) {
        lum_error("installing the leader's snapshot %llu: %s; stopping",
                  (unsigned long long)sm->index, err.msg);
        exit(1);
    }
    s->snap_prev_index = 0;
    s->metrics.snapshots_installed++;
    snap_remove_older(storage_dirfd(s->storage), sm->index);
    lum_info("installed the leader's snapshot at index %llu", (unsigned long long)sm->index);
}
