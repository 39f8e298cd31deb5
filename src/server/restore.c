/* `raftsrv --restore FILE`: a new single-node cluster from a backup (`raftctl backup`).
 *
 * A backup is a snapshot file (format in src/storage/snap.c; body in snapshot.c). What it
 * records about the cluster it came from is not this node's business: its membership and
 * its address book name the old servers, which this node must never dial or advertise.
 * So the snapshot is rewritten into the new data_dir with
 *   - the membership: this node alone, a voter (the header's members; no joint config);
 *   - the address book: this node alone, at its configured addresses;
 *   - the client sessions and the state machine's bytes as they are (they are the data),
 * and meta gets the snapshot's term with no vote, so the node's first election is in a
 * term after every entry the snapshot includes. The cluster's name is the config's (a
 * snapshot does not record one). The backup is checked whole (crcs, size) before data_dir
 * is touched, and loaded into a scratch state machine while it is copied, so a backup of
 * another state machine is refused too; anything written before a failure is removed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luminous/kv.h"
#include "server_int.h"

/* data_dir holds no state: absent, or empty but for a file system's lost+found. */
static int restore_check_empty(const char *data_dir, struct lum_err *err)
{
    DIR *d = opendir(data_dir);
    if (!d && errno == ENOENT)
        return 0;
    if (!d) {
        lum_errf(err, "data_dir %s: %s", data_dir, strerror(errno));
        return -LUM_EIO;
    }
    struct dirent *de;
    int rv = 0;
    while (rv == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, "lost+found") == 0)
            continue;
        lum_errf(err, "data_dir %s is not empty (it holds \"%s\"): --restore starts a new "
                 "node and never overwrites one; point data_dir at an empty or new directory",
                 data_dir, de->d_name);
        rv = -LUM_EINVAL;
    }
    closedir(d);
    return rv;
}

/* Removes what a failed restore made in data_dir, which was empty: meta, log/, snap/. */
static void restore_undo(const char *data_dir)
{
    int dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return;
    static const char *const subdirs[] = {"log", "snap"};
    for (size_t i = 0; i < 2; i++) {
        int fd = openat(dirfd, subdirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                unlinkat(fd, de->d_name, 0);
        if (d)
            closedir(d);
        else if (fd >= 0)
            close(fd);
        unlinkat(dirfd, subdirs[i], AT_REMOVEDIR);
    }
    unlinkat(dirfd, "meta", 0);
    fsync(dirfd);
    close(dirfd);
}

/* Reads from the backup and copies every byte read into the new snapshot. */
struct restore_tee {
    struct lum_source from;
    struct lum_sink   to;
};

static int restore_tee_read(void *ctx, void *buf, size_t len)
{
    struct restore_tee *t = ctx;
    int rv = t->from.read(t->from.ctx, buf, len);
    return rv == 0 ? t->to.write(t->to.ctx, buf, len) : rv;
}

/* This node's client address: its member line's, else where it listens. */
static const char *restore_client_addr(const struct server_config *cfg)
{
    for (uint32_t i = 0; i < cfg->n_members; i++)
        if (cfg->members[i].id == cfg->id)
            return cfg->members[i].client_addr;
    return cfg->client_listen_addr;
}

/* A scratch server: enough of one to read a snapshot body (address book, sessions, state
 * machine) with the functions that load a real one. */
static struct server *restore_scratch(const struct server_config *cfg)
{
    struct server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->fsm_ops = lum_fsm_find(cfg->state_machine);
    LUM_ASSERT(s->fsm_ops != NULL);
    s->fsm = s->fsm_ops->create();
    if (!s->fsm || session_init(&s->sessions, SERVER_SESSIONS_MAX) != 0) {
        if (s->fsm)
            s->fsm_ops->destroy(s->fsm);
        free(s);
        return NULL;
    }
    return s;
}

static void restore_scratch_free(struct server *s)
{
    s->fsm_ops->destroy(s->fsm);
    session_free(&s->sessions);
    free(s);
}

/* Copies the backup at path into data_dir's snap/ as this node's one-member snapshot. */
static int restore_copy(struct server *s, int dirfd, const char *path,
                        const struct snap_meta *meta, struct lum_err *err)
{
    struct snap_reader *r;
    struct snap_meta m;
    int rv = snap_reader_open_file(path, &m, &r, err);
    if (rv != 0)
        return rv;
    struct lum_source src = snap_reader_source(r);
    uint8_t version[4];
    rv = src.read(src.ctx, version, 4);
    if (rv == 0 && lum_get_u32(version) != SNAPSHOT_BODY_VERSION) {
        lum_errf(err, "%s: snapshot body version %u, this server reads %u", path,
                 lum_get_u32(version), SNAPSHOT_BODY_VERSION);
        snap_reader_close(r);
        return -LUM_EVERSION;
    }
    if (rv == 0)
        rv = book_load(s, &src); /* the old cluster's addresses: read past, not kept */
    if (rv != 0) {
        lum_errf(err, "%s: cannot read the address book: %s", path, lum_strerror(rv));
        snap_reader_close(r);
        return rv;
    }
    uint32_t old_book = s->book_count;
    struct raft_members members = {.count = 1}, old = {0};
    members.members[0] = (struct raft_member){.id = s->cfg.id, .role = RAFT_VOTER};
    struct snap_writer *w;
    rv = snap_writer_open(dirfd, meta->index, meta->term, &members, &old, &w, err);
    if (rv != 0) {
        snap_reader_close(r);
        return rv;
    }
    struct lum_sink sink = snap_writer_sink(w);
    s->book_count = 0;
    rv = book_set(s, s->cfg.id, s->cfg.peer_advertise_addr, restore_client_addr(&s->cfg));
    if (rv != 0)
        lum_errf(err, "cannot record this node's addresses %s, %s", s->cfg.peer_advertise_addr,
                 restore_client_addr(&s->cfg));
    if (rv == 0 && (rv = sink.write(sink.ctx, version, 4)) == 0)
        rv = book_save(s, &sink);
    struct restore_tee tee = {.from = src, .to = sink};
    struct lum_source copy = {.ctx = &tee, .read = restore_tee_read};
    if (rv == 0 && (rv = session_load(&s->sessions, &copy)) != 0)
        lum_errf(err, "%s: cannot read the client sessions: %s", path, lum_strerror(rv));
    if (rv == 0 && (rv = s->fsm_ops->snapshot_load(s->fsm, &copy)) != 0)
        lum_errf(err, "%s: the %s state machine cannot load it: %s (a backup of another "
                 "state machine?)", path, s->cfg.state_machine, lum_strerror(rv));
    if (rv == 0 && snap_reader_left(r) != 0) {
        lum_errf(err, "%s: %llu bytes the %s state machine did not read (a backup of another "
                 "state machine?)", path, (unsigned long long)snap_reader_left(r),
                 s->cfg.state_machine);
        rv = -LUM_ECORRUPT;
    }
    if (rv == 0 && snap_reader_verify(r) != 0) { /* checked before: it changed since */
        lum_errf(err, "%s: the body fails its checksum", path);
        rv = -LUM_ECORRUPT;
    }
    snap_reader_close(r);
    if (rv != 0) {
        snap_writer_abort(w);
        return rv;
    }
    rv = snap_writer_finish(w, err);
    if (rv == 0)
        lum_info("restore: snapshot %llu (term %llu) from %s: the old cluster's %u members "
                 "and %u addresses replaced by this node alone", (unsigned long long)meta->index,
                 (unsigned long long)meta->term, path, meta->members.count, old_book);
    return rv;
}

int server_restore(const struct server_config *cfg, const char *path, struct lum_err *err)
{
    int rv = restore_check_empty(cfg->data_dir, err);
    if (rv != 0)
        return rv;
    struct snap_meta meta;
    struct lum_err e;
    if ((rv = snap_file_check(path, &meta, &e)) != 0) {
        lum_errf(err, "%s; data_dir left untouched", e.msg);
        return rv == -LUM_EVERSION ? rv : rv == -LUM_ENOTFOUND ? rv : -LUM_ECORRUPT;
    }
    struct server *s = restore_scratch(cfg);
    if (!s) {
        lum_errf(err, "out of memory");
        return -LUM_ENOMEM;
    }
    struct storage_options opts;
    storage_options_default(&opts);
    opts.segment_entries = cfg->segment_entries;
    struct storage *st;
    struct raft_boot boot;
    rv = storage_open(cfg->data_dir, &opts, &st, &boot, err); /* creates it, and locks it */
    if (rv != 0) {
        restore_scratch_free(s);
        return rv;
    }
    rv = restore_copy(s, storage_dirfd(st), path, &meta, err);
    /* No vote, and the snapshot's term: the node's first election comes after it. The first
     * write of meta is durable on return (temp file, fdatasync, rename, directory fsync). */
    struct raft_hard_state hs = {.term = meta.term, .voted_for = 0};
    if (rv == 0)
        rv = storage_save_hard_state(st, &hs, err);
    if (rv == 0)
        storage_sync(st);
    storage_close(st);
    restore_scratch_free(s);
    if (rv != 0) {
        restore_undo(cfg->data_dir);
        return rv;
    }
    lum_info("restored %s into %s: a new cluster of one voter, node %llu; add servers with "
             "raftctl members add", path, cfg->data_dir, (unsigned long long)cfg->id);
    return 0;
}
