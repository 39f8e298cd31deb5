/* A backup of the cluster, the client's side (contract in client.h; the leader's side is
 * src/server/backup.c, the ask and chunk layouts src/wire/backup.c). The file is written
 * under path.tmp and becomes path only once it is durable and checks end to end, as SQLite
 * and our own snapshot writer make files: write, fsync, rename, fsync the directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "luminous/client.h"
#include "luminous/storage.h"

#define BACKUP_ATTEMPTS 3u  /* starts over after a snapshot vanished (a leader change) */

/* What the file being written is, once the first chunk named it. */
struct backup_file {
    int      fd;
    char     tmp[4096];
    uint64_t index, term, size, written;
    uint32_t body_crc;
};

static int backup_fail_file(struct lum_backup *out, int rv)
{
    out->file_error = true;
    return rv;
}

static int backup_write(struct backup_file *f, const struct wire_backup_chunk *c,
                        struct lum_err *err)
{
    const uint8_t *p = c->data;
    size_t len = c->len;
    off_t off = (off_t)c->offset;
    while (len > 0) {
        ssize_t n = pwrite(f->fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            lum_errf(err, "write %s: %s", f->tmp, strerror(errno));
            return errno == ENOSPC || errno == EDQUOT ? -LUM_ENOSPC : -LUM_EIO;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    f->written = c->offset + c->len;
    return 0;
}

/* One pass: asks for chunk after chunk of one snapshot until the file is whole. 0, or
 * -LUM_EAGAIN when the snapshot changed or vanished under us (start over), or a failure. */
static int backup_fetch(struct lum_client *c, struct backup_file *f, struct lum_backup *out,
                        struct lum_err *err)
{
    struct wire_backup_ask ask = {0};
    for (;;) {
        uint8_t body[WIRE_BACKUP_ASK_SIZE];
        int n = wire_encode_backup_ask(body, sizeof body, &ask);
        LUM_ASSERT(n > 0);
        struct lum_reply r;
        int rv = lum_client_admin(c, WIRE_OP_BACKUP, body, (uint32_t)n, &r, err);
        if (rv != 0)
            return rv;
        if (r.status == -LUM_ENOTFOUND && ask.index != 0) {
            lum_errf(err, "snapshot %llu is gone from the leader (a new leader?)",
                     (unsigned long long)ask.index);
            return -LUM_EAGAIN;
        }
        if (r.status == -LUM_ECORRUPT) { /* its snapshot failed its crc: it writes anew */
            lum_errf(err, "the leader's snapshot is damaged on its disk (it writes a new one)");
            return -LUM_EAGAIN;
        }
        if (r.status != 0) {
            lum_errf(err, "the leader answered: %s", lum_strerror(r.status));
            return r.status;
        }
        struct wire_backup_chunk ch;
        if (wire_decode_backup_chunk(r.data, r.len, &ch) != 0 || ch.offset != ask.offset) {
            lum_errf(err, "a malformed backup chunk from the cluster");
            return -LUM_EMALFORMED;
        }
        if (ask.index == 0) {
            f->index = ch.index;
            f->term = ch.term;
            f->size = ch.size;
            f->body_crc = ch.body_crc;
            if (ftruncate(f->fd, 0) != 0) {
                lum_errf(err, "truncate %s: %s", f->tmp, strerror(errno));
                return backup_fail_file(out, -LUM_EIO);
            }
        } else if (ch.index != f->index || ch.term != f->term || ch.size != f->size ||
                   ch.body_crc != f->body_crc) {
            lum_errf(err, "another node answered with another snapshot file (a new leader?)");
            return -LUM_EAGAIN;
        }
        rv = backup_write(f, &ch, err);
        if (rv != 0)
            return backup_fail_file(out, rv);
        if (f->written == f->size)
            return 0;
        ask = (struct wire_backup_ask){.index = f->index, .term = f->term,
                                       .offset = f->written};
    }
}

/* fsync of the directory that holds path. */
static int backup_sync_dir(const char *path, struct lum_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rv = fd >= 0 && fsync(fd) == 0 ? 0 : -LUM_EIO;
    if (rv != 0)
        lum_errf(err, "fsync %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rv;
}

/* The file is whole: durable, checked, and then it takes its name. */
static int backup_finish(struct backup_file *f, const char *path, struct lum_err *err)
{
    if (fsync(f->fd) != 0) {
        lum_errf(err, "fsync %s: %s", f->tmp, strerror(errno));
        return -LUM_EIO;
    }
    struct snap_meta meta;
    int rv = snap_file_check(f->tmp, &meta, err);
    if (rv != 0)
        return rv == -LUM_EVERSION || rv == -LUM_ECORRUPT ? -LUM_ECORRUPT : rv;
    if (meta.index != f->index || meta.term != f->term) {
        lum_errf(err, "%s: holds snapshot %llu (term %llu), the leader sent %llu (term %llu)",
                 f->tmp, (unsigned long long)meta.index, (unsigned long long)meta.term,
                 (unsigned long long)f->index, (unsigned long long)f->term);
        return -LUM_ECORRUPT;
    }
    if (rename(f->tmp, path) != 0) {
        lum_errf(err, "rename %s to %s: %s", f->tmp, path, strerror(errno));
        return -LUM_EIO;
    }
    return backup_sync_dir(path, err);
}

int lum_client_backup(struct lum_client *c, const char *path, struct lum_backup *out,
                      struct lum_err *err)
{
    memset(out, 0, sizeof *out);
    struct backup_file f = {.fd = -1};
    if ((size_t)snprintf(f.tmp, sizeof f.tmp, "%s.tmp", path) >= sizeof f.tmp) {
        lum_errf(err, "%s: path too long", path);
        return backup_fail_file(out, -LUM_EINVAL);
    }
    f.fd = open(f.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f.fd < 0) {
        lum_errf(err, "create %s: %s", f.tmp, strerror(errno));
        return backup_fail_file(out, -LUM_EIO);
    }
    int rv = -LUM_EAGAIN;
    for (uint32_t i = 0; i < BACKUP_ATTEMPTS && rv == -LUM_EAGAIN; i++)
        rv = backup_fetch(c, &f, out, err);
    if (rv == -LUM_EAGAIN)
        rv = -LUM_EUNAVAILABLE; /* err says what kept changing */
    if (rv == 0) {
        rv = backup_finish(&f, path, err);
        if (rv != 0)
            out->file_error = true;
    }
    close(f.fd);
    if (rv != 0) {
        unlink(f.tmp);
        return rv;
    }
    out->index = f.index;
    out->term = f.term;
    out->size = f.size;
    return 0;
}
