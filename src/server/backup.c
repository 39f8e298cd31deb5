/* Backups, the leader's side: `raftctl backup` reads one of the leader's snapshot files in
 * pieces (WIRE_OP_BACKUP; the ask and chunk layouts are in src/wire/backup.c). admin.c
 * decides when a start can be answered (a snapshot that includes the applied index of the
 * moment it was asked); this file pins that snapshot and cuts it into chunks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_int.h"

struct backup_pin {
    int      fd;              /* -1: free                                            */
    uint64_t index, term;     /* the snapshot                                        */
    uint64_t size;            /* of the file, bytes                                  */
    uint32_t body_crc;        /* its header's: tells the client it is the same file  */
    uint32_t crc;             /* of the body sent so far, in order ...               */
    uint64_t crc_upto;        /* ... up to here (an ask elsewhere does not extend it) */
    uint64_t used_ms;         /* monotonic: the last ask for it                      */
};

struct backup {
    struct backup_pin pins[SERVER_BACKUP_PINS];
    uint8_t data[WIRE_BACKUP_CHUNK_MAX];                         /* read from the file  */
    uint8_t out[WIRE_BACKUP_CHUNK_FIXED + WIRE_BACKUP_CHUNK_MAX]; /* the encoded chunk   */
};

static struct backup *backup_get(struct server *s)
{
    if (s->backup)
        return s->backup;
    struct backup *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    for (uint32_t i = 0; i < SERVER_BACKUP_PINS; i++)
        b->pins[i].fd = -1;
    s->backup = b;
    return b;
}

static void backup_unpin(struct backup_pin *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* Opens snapshot (index, term) and pins it, checked first (snapshot_check_to_send): bit rot
 * on the leader's disk must not become a backup that cannot be restored. */
static int backup_pin_open(struct server *s, struct backup *b, uint64_t index, uint64_t term,
                           struct backup_pin **out)
{
    char name[64];
    snap_name(name, sizeof name, term, index);
    struct snap_meta meta;
    struct lum_err err;
    int rv = snapshot_check_to_send(s, name, "backup: ", &meta);
    if (rv != 0)
        return rv;
    uint64_t size;
    int fd = snap_file_open(storage_dirfd(s->storage), name, &size, &err);
    if (fd < 0) {
        lum_warn("backup: %s", err.msg);
        return fd;
    }
    /* a free slot, else the one asked for least recently (its backup starts over) */
    struct backup_pin *p = &b->pins[0];
    for (uint32_t i = 0; i < SERVER_BACKUP_PINS && p->fd >= 0; i++)
        if (b->pins[i].fd < 0 || b->pins[i].used_ms < p->used_ms)
            p = &b->pins[i];
    backup_unpin(p);
    *p = (struct backup_pin){.fd = fd, .index = index, .term = term, .size = size,
                             .body_crc = meta.body_crc};
    lum_info("backup: sending snapshot %s (%llu bytes)", name, (unsigned long long)size);
    *out = p;
    return 0;
}

static int backup_pin_find(struct server *s, struct backup *b, uint64_t index, uint64_t term,
                           struct backup_pin **out)
{
    for (uint32_t i = 0; i < SERVER_BACKUP_PINS; i++) {
        struct backup_pin *p = &b->pins[i];
        if (p->fd >= 0 && p->index == index && p->term == term) {
            *out = p;
            return 0;
        }
    }
    /* not pinned (a restart, an evicted pin): the file may still be there */
    return backup_pin_open(s, b, index, term, out);
}

/* pread of exactly len bytes at off. */
static int backup_read(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -LUM_EIO;
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* The body's crc over the pieces asked in order; at the end it must be the header's. A file
 * that rotted after it was checked whole is found here: the backup starts over (the client
 * hears ECORRUPT) and waits for the new snapshot this writes. */
static int backup_crc_extend(struct server *s, struct backup_pin *p, const uint8_t *data,
                             uint64_t offset, uint32_t len)
{
    if (offset == 0) { /* a pass from the start (a pin outlives its backup, for the next) */
        p->crc = 0;
        p->crc_upto = 0;
    }
    if (offset > p->crc_upto || offset + len <= p->crc_upto)
        return 0; /* not the next piece: a retry, or two backups of one pin interleaved */
    uint32_t skip = (uint32_t)(p->crc_upto - offset);
    p->crc = snapshot_body_crc(p->crc, data + skip, p->crc_upto, len - skip);
    p->crc_upto = offset + len;
    if (p->crc_upto < p->size || p->crc == p->body_crc)
        return 0;
    char name[64];
    snap_name(name, sizeof name, p->term, p->index);
    lum_error("backup: snapshot %s changed on disk after it was checked (its body fails its "
              "checksum); writing a new snapshot", name);
    backup_unpin(p);
    snapshot_damaged(s, name);
    return -1;
}

int backup_serve(struct server *s, const struct wire_backup_ask *ask, struct wire_response *rs)
{
    struct backup *b = backup_get(s);
    if (!b)
        return -LUM_ENOMEM;
    uint64_t index = ask->index, term = ask->term;
    if (index == 0) { /* a start: the newest snapshot */
        index = s->snap_index;
        if (index == 0 || raft_log_term(s->raft, index, &term) != 0)
            return -LUM_ENOTFOUND;
    }
    struct backup_pin *p;
    int rv = backup_pin_find(s, b, index, term, &p);
    if (rv != 0)
        return rv;
    if (ask->offset > p->size)
        return -LUM_EINVAL;
    p->used_ms = clock_mono_ms();
    /* at most half of what a client may have queued: the answer always fits its buffer */
    uint64_t len = p->size - ask->offset;
    uint32_t max = s->cfg.max_client_output / 2 - WIRE_BACKUP_CHUNK_FIXED - 64;
    if (max > WIRE_BACKUP_CHUNK_MAX)
        max = WIRE_BACKUP_CHUNK_MAX;
    if (len > max)
        len = max;
    if (backup_read(p->fd, b->data, (size_t)len, ask->offset) != 0) {
        lum_warn("backup: reading snapshot %llu at offset %llu: %s",
                 (unsigned long long)index, (unsigned long long)ask->offset,
                 errno ? strerror(errno) : "the file is shorter than it was");
        backup_unpin(p);
        return -LUM_EIO;
    }
    if (backup_crc_extend(s, p, b->data, ask->offset, (uint32_t)len) != 0)
        return -LUM_ECORRUPT;
    struct wire_backup_chunk c = {.index = index, .term = term, .size = p->size,
                                  .offset = ask->offset, .body_crc = p->body_crc,
                                  .data = b->data, .len = (uint32_t)len};
    int n = wire_encode_backup_chunk(b->out, sizeof b->out, &c);
    LUM_ASSERT(n > 0);
    rs->data = b->out;
    rs->data_len = (uint32_t)n;
    return 0;
}

void backup_tick(struct server *s, uint64_t now_ms)
{
    if (!s->backup)
        return;
    for (uint32_t i = 0; i < SERVER_BACKUP_PINS; i++) {
        struct backup_pin *p = &s->backup->pins[i];
        if (p->fd >= 0 && now_ms - p->used_ms >= SERVER_BACKUP_IDLE_MS)
            backup_unpin(p);
    }
}

void backup_close(struct server *s)
{
    if (!s->backup)
        return;
    for (uint32_t i = 0; i < SERVER_BACKUP_PINS; i++)
        backup_unpin(&s->backup->pins[i]);
    free(s->backup);
    s->backup = NULL;
}
