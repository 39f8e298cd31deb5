/* The server's storage handle: data_dir with its lock, meta and log, the boot state, and
 * one sync per ready batch. Directory layout and contracts in include/luminous/storage.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"

struct storage {
    int          dirfd;    /* data_dir, flock'ed for as long as we hold it */
    struct meta *meta;
    struct wal  *wal;
    struct snap_meta snapshot; /* the one we started from; index 0: none */
    char         data_dir[PATH_MAX];
    uint64_t     slow_syncs;        /* slower than STORAGE_SLOW_SYNC_MS, not yet reported */
    uint64_t     slow_sync_max_ms;
    uint64_t     slow_reported_ms;  /* when the last report went out                      */
    uint64_t     last_sync_ns;      /* the duration of the last storage_sync             */
};

/* A sync this slow stalls every write the cluster acknowledges; it is reported (at most one
 * line per STORAGE_SLOW_REPORT_MS), as etcd reports slow fdatasyncs. */
#define STORAGE_SLOW_SYNC_MS   50u
#define STORAGE_SLOW_REPORT_MS 10000u

#define STORAGE_SNAPSHOTS_MAX 16u

/* The newest snapshot whose checksums hold. An older one will do only if the log still
 * holds every entry after it (compaction keeps the log back to the previous snapshot for
 * exactly this); with none, only a log that starts at index 1. */
static int storage_pick_snapshot(struct storage *st, struct lum_err *err)
{
    struct snap_meta list[STORAGE_SNAPSHOTS_MAX];
    uint32_t n;
    int rv = snap_list(st->dirfd, list, STORAGE_SNAPSHOTS_MAX, &n, err);
    if (rv != 0)
        return rv;
    uint64_t log_first = wal_first_index(st->wal);
    bool log_empty = wal_last_index(st->wal) < log_first;
    for (uint32_t i = 0; i < n; i++) {
        struct snap_meta m;
        struct lum_err e;
        rv = snap_check(st->dirfd, list[i].name, &m, &e);
        if (rv != 0) {
            lum_error("%s", e.msg);
            continue;
        }
        if (i > 0 && (log_empty || log_first > m.index + 1)) {
            lum_errf(err, "the newest snapshot, snap/%s, is damaged (see above), and the log "
                     "no longer holds the entries after snap/%s (it starts at %" PRIu64 "): "
                     "refusing to start; re-seed this node from the cluster (README)",
                     list[0].name, m.name, log_first);
            return -LUM_ECORRUPT;
        }
        if (i > 0)
            lum_warn("starting from the older snapshot snap/%s; the log holds the rest", m.name);
        st->snapshot = m;
        return 0;
    }
    if (n > 0 && log_first > 1) {
        lum_errf(err, "no snapshot in snap/ is intact (see above) and the log starts at %"
                 PRIu64 ": refusing to start; re-seed this node from the cluster (README)",
                 log_first);
        return -LUM_ECORRUPT;
    }
    return 0;
}

/* The log must continue the snapshot: start at most right after it. */
static int storage_join_log(struct storage *st, struct lum_err *err)
{
    uint64_t s = st->snapshot.index;
    if (s == 0)
        return 0;
    uint64_t first = wal_first_index(st->wal), last = wal_last_index(st->wal);
    if (last < first || last < s) /* empty, or all of it older than the snapshot */
        return wal_reset(st->wal, s, err);
    if (first > s + 1) {
        lum_errf(err, "the log starts at %" PRIu64 " but snapshot snap/%s ends at %" PRIu64
                 ": entries are missing, refusing to start", first, st->snapshot.name, s);
        return -LUM_ECORRUPT;
    }
    return 0;
}

void storage_options_default(struct storage_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->segment_entries = STORAGE_SEGMENT_ENTRIES_DEFAULT;
    opts->sys = NULL;
}

/* fsync of the directory that holds path (path's parent). */
static int storage_fsync_parent(const struct storage_syscalls *sys, const char *path,
                                struct lum_err *err)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        lum_errf(err, "open %s: %s", parent, strerror(errno));
        return -LUM_EIO;
    }
    int rv = 0;
    if (sys_fsync_dir(sys, fd) < 0) {
        lum_errf(err, "fsync %s after creating %s: %s", parent, path, strerror(errno));
        rv = -LUM_EIO;
    }
    close(fd);
    return rv;
}

/* mkdir -p, fsyncing the parent of every directory it creates. */
static int storage_mkdirs(const struct storage_syscalls *sys, const char *data_dir,
                          struct lum_err *err)
{
    char path[PATH_MAX];
    size_t len = strlen(data_dir);
    if (len == 0 || len >= sizeof path) {
        lum_errf(err, "data_dir \"%s\": empty or too long", data_dir);
        return -LUM_EINVAL;
    }
    memcpy(path, data_dir, len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        if (path[i - 1] == '/')
            continue; /* "a//b" */
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) == 0) {
            int rv = storage_fsync_parent(sys, path, err);
            if (rv != 0)
                return rv;
        } else if (errno != EEXIST) {
            int rv = sys_error(errno);
            lum_errf(err, "create %s: %s", path, strerror(errno));
            return rv;
        }
        path[i] = c;
    }
    return 0;
}

int storage_open(const char *data_dir, const struct storage_options *opts,
                 struct storage **st_out, struct raft_boot *boot_out, struct lum_err *err)
{
    const struct storage_syscalls *sys = sys_table(opts);
    int rv = storage_mkdirs(sys, data_dir, err);
    if (rv != 0)
        return rv;
    struct storage *st = calloc(1, sizeof *st);
    if (!st) {
        lum_errf(err, "open %s: out of memory", data_dir);
        return -LUM_ENOMEM;
    }
    snprintf(st->data_dir, sizeof st->data_dir, "%s", data_dir);
    st->dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd < 0) {
        lum_errf(err, "open %s: %s", data_dir, strerror(errno));
        rv = -LUM_EIO;
        goto err_free;
    }
    if (flock(st->dirfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            lum_errf(err, "%s is in use by another process (it holds the directory's lock)",
                     data_dir);
            rv = -LUM_EBUSY;
        } else {
            lum_errf(err, "lock %s: %s", data_dir, strerror(errno));
            rv = -LUM_EIO;
        }
        goto err_close_dir;
    }
    struct raft_hard_state hs;
    bool found;
    if ((rv = meta_open(st->dirfd, opts, &st->meta, &hs, &found, err)) != 0)
        goto err_close_dir;
    if ((rv = wal_open(st->dirfd, opts, &st->wal, err)) != 0)
        goto err_close_meta;
    if ((rv = storage_pick_snapshot(st, err)) != 0 || (rv = storage_join_log(st, err)) != 0)
        goto err_close_wal;
    uint64_t last_index = wal_last_index(st->wal);
    uint64_t last_term = wal_last_term(st->wal);
    if (last_index == st->snapshot.index)
        last_term = st->snapshot.term; /* the log is empty after the snapshot */
    if (!found && last_index >= wal_first_index(st->wal)) {
        lum_errf(err, "meta: missing, but the log holds entries up to %" PRIu64 " (term %"
                 PRIu64 "): the vote it recorded may be lost, refusing to start", last_index,
                 last_term);
        rv = -LUM_ECORRUPT;
        goto err_close_wal;
    }
    if (last_term > hs.term) {
        /* The log write of a batch outlived its meta update in a crash. No vote in
         * last_term was ever sent, since a vote is sent only after its meta is durable. */
        lum_warn("meta: term %" PRIu64 " is below the last log term %" PRIu64
                 " (a crash lost a meta update); raising it, with no vote", hs.term, last_term);
        hs = (struct raft_hard_state){.term = last_term, .voted_for = 0};
        if ((rv = meta_write(st->meta, &hs, err)) != 0 || (rv = meta_sync(st->meta, err)) != 0)
            goto err_close_wal;
    }
    memset(boot_out, 0, sizeof *boot_out);
    boot_out->hard_state = hs;
    boot_out->snapshot_index = st->snapshot.index;
    boot_out->snapshot_term = st->snapshot.term;
    boot_out->members = st->snapshot.members;
    boot_out->members_old = st->snapshot.members_old;
    boot_out->last_index = last_index;
    *st_out = st;
    return 0;

err_close_wal:
    wal_close(st->wal);
err_close_meta:
    meta_close(st->meta);
err_close_dir:
    close(st->dirfd);
err_free:
    free(st);
    return rv;
}

int storage_save_hard_state(struct storage *st, const struct raft_hard_state *hs,
                            struct lum_err *err)
{
    struct raft_hard_state cur;
    meta_hard_state(st->meta, &cur);
    if (cur.term == hs->term && cur.voted_for == hs->voted_for)
        return 0;
    return meta_write(st->meta, hs, err);
}

int storage_append(struct storage *st, const struct raft_entry *entries, uint32_t n,
                   struct lum_err *err)
{
    return wal_append(st->wal, entries, n, err);
}

static uint64_t storage_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void storage_note_sync_time(struct storage *st, uint64_t t0, uint64_t t1)
{
    if (t1 - t0 < STORAGE_SLOW_SYNC_MS)
        return;
    st->slow_syncs++;
    if (t1 - t0 > st->slow_sync_max_ms)
        st->slow_sync_max_ms = t1 - t0;
    if (t1 - st->slow_reported_ms < STORAGE_SLOW_REPORT_MS && st->slow_reported_ms)
        return;
    lum_warn("%s: %" PRIu64 " log syncs took over %u ms since the last report, the slowest "
             "%" PRIu64 " ms (a slow disk delays every acknowledged write)", st->data_dir,
             st->slow_syncs, STORAGE_SLOW_SYNC_MS, st->slow_sync_max_ms);
    st->slow_syncs = 0;
    st->slow_sync_max_ms = 0;
    st->slow_reported_ms = t1;
}

void storage_sync(struct storage *st)
{
    struct lum_err err;
    uint64_t t0 = storage_now_ns();
    if (wal_sync(st->wal, &err) != 0 || meta_sync(st->meta, &err) != 0) {
        lum_error("%s: %s; after a failed sync the page cache can no longer be trusted: "
                  "exiting", st->data_dir, err.msg);
        exit(1);
    }
    uint64_t t1 = storage_now_ns();
    st->last_sync_ns = t1 - t0;
    storage_note_sync_time(st, t0 / 1000000u, t1 / 1000000u);
}

uint64_t storage_last_sync_ns(const struct storage *st)
{
    return st->last_sync_ns;
}

int storage_persist(struct storage *st, const struct raft_ready *rd, struct lum_err *err)
{
    int rv;
    if (rd->hard_state_changed && (rv = storage_save_hard_state(st, &rd->hard_state, err)) != 0)
        return rv;
    if (rd->n_entries > 0 && (rv = storage_append(st, rd->entries, rd->n_entries, err)) != 0)
        return rv;
    storage_sync(st);
    return 0;
}

struct wal *storage_wal(struct storage *st)
{
    return st->wal;
}

int storage_dirfd(const struct storage *st)
{
    return st->dirfd;
}

/* The sizes of the regular files directly under dir (relative to parent_fd). */
static uint64_t storage_dir_bytes(int parent_fd, const char *dir)
{
    int fd = openat(parent_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    uint64_t bytes = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            bytes += (uint64_t)sb.st_size;
    }
    closedir(d);
    return bytes;
}

uint64_t storage_disk_bytes(const struct storage *st)
{
    return storage_dir_bytes(st->dirfd, ".") + storage_dir_bytes(st->dirfd, "log") +
           storage_dir_bytes(st->dirfd, "snap");
}

const struct snap_meta *storage_snapshot(const struct storage *st)
{
    return &st->snapshot;
}

void storage_close(struct storage *st)
{
    if (!st)
        return;
    wal_close(st->wal);
    meta_close(st->meta);
    close(st->dirfd);
    free(st);
}
