/* Snapshot files: data_dir/snap/snap-TTTTTTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIIIIIII, named by the
 * term and index of the last entry they include (20 decimal digits each).
 *
 *   header, SNAP_HEADER_SIZE = 4096 bytes, little-endian:
 *     0  magic      8 bytes "LUMSNAP1"
 *     8  version    u32     SNAP_VERSION (1)
 *    12  members_len u32    bytes of the membership below
 *    16  index      u64
 *    24  term       u64
 *    32  body_size  u64
 *    40  body_crc   u32     crc32c of the body
 *    44  membership          raft_members_encode(members, members_old), members_len bytes
 *  4092  header_crc u32     crc32c of bytes 0..4092
 *   body: body_size bytes, the shell's (its own state, then the state machine's)
 *
 * Written whole under a temporary name (tmp-*), fdatasync'd, renamed, directory fsync'd:
 * a file with a final name is complete. Validity: both crcs check and the name agrees with
 * the header. A snapshot received from the leader is the same bytes, written at offsets
 * into recv.tmp and checked the same way before it is renamed into place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luminous/storage.h"

#define SNAP_DIR         "snap"
#define SNAP_MAGIC       "LUMSNAP1"
#define SNAP_VERSION     1u
#define SNAP_BUF_SIZE    (256u * 1024)
#define SNAP_RECV_NAME   "recv.tmp"

_Static_assert(44 + RAFT_MEMBERS_ENCODED_MAX <= SNAP_HEADER_SIZE - 4, "membership fits");

static int snap_dir(int data_dirfd, struct lum_err *err)
{
    if (mkdirat(data_dirfd, SNAP_DIR, 0755) == 0) {
        if (fsync(data_dirfd) != 0) {
            lum_errf(err, "fsync data_dir after creating " SNAP_DIR "/: %s", strerror(errno));
            return -LUM_EIO;
        }
    } else if (errno != EEXIST) {
        lum_errf(err, "create " SNAP_DIR "/: %s", strerror(errno));
        return errno == ENOSPC ? -LUM_ENOSPC : -LUM_EIO;
    }
    int fd = openat(data_dirfd, SNAP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        lum_errf(err, "open " SNAP_DIR "/: %s", strerror(errno));
        return -LUM_EIO;
    }
    return fd;
}

void snap_name(char *buf, size_t len, uint64_t term, uint64_t index)
{
    snprintf(buf, len, "snap-%020" PRIu64 "-%020" PRIu64, term, index);
}

static bool snap_parse_name(const char *name, uint64_t *term, uint64_t *index)
{
    if (strlen(name) != 5 + 20 + 1 + 20 || strncmp(name, "snap-", 5) != 0 || name[25] != '-')
        return false;
    char *end;
    *term = strtoull(name + 5, &end, 10);
    if (end != name + 25)
        return false;
    *index = strtoull(name + 26, &end, 10);
    return *end == '\0';
}

/* ---- writing ---------------------------------------------------------------------------------- */

struct snap_writer {
    int      dirfd, fd;
    char     tmp[64];
    uint8_t  header[SNAP_HEADER_SIZE];
    uint8_t *buf;
    size_t   used;
    uint64_t body_size, index, term;
    uint32_t body_crc;
    int      error;  /* first write error, reported by finish */
    char     why[128];
};

int snap_writer_open(int data_dirfd, uint64_t index, uint64_t term,
                     const struct raft_members *members, const struct raft_members *old,
                     struct snap_writer **out, struct lum_err *err)
{
    struct snap_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->buf = malloc(SNAP_BUF_SIZE))) {
        free(w);
        lum_errf(err, "snapshot: out of memory");
        return -LUM_ENOMEM;
    }
    w->index = index;
    w->term = term;
    w->dirfd = snap_dir(data_dirfd, err);
    if (w->dirfd < 0) {
        int rv = w->dirfd;
        free(w->buf);
        free(w);
        return rv;
    }
    snprintf(w->tmp, sizeof w->tmp, "tmp-%" PRIu64 "-%ld", index, (long)getpid());
    w->fd = openat(w->dirfd, w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        lum_errf(err, "create " SNAP_DIR "/%s: %s", w->tmp, strerror(errno));
        close(w->dirfd);
        free(w->buf);
        free(w);
        return -LUM_EIO;
    }
    memcpy(w->header, SNAP_MAGIC, 8);
    lum_put_u32(w->header + 8, SNAP_VERSION);
    lum_put_u64(w->header + 16, index);
    lum_put_u64(w->header + 24, term);
    uint32_t mlen = raft_members_encode(members, old, NULL, 0, w->header + 44);
    lum_put_u32(w->header + 12, mlen);
    /* the body goes after the header's place; the header is written last */
    if (lseek(w->fd, SNAP_HEADER_SIZE, SEEK_SET) < 0) {
        w->error = -LUM_EIO;
        snprintf(w->why, sizeof w->why, "seek: %s", strerror(errno));
    }
    *out = w;
    return 0;
}

static int snap_write_all(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return errno == ENOSPC ? -LUM_ENOSPC : -LUM_EIO;
        p += n;
        len -= (size_t)n;
        if (off >= 0)
            off += n;
    }
    return 0;
}

static void snap_flush(struct snap_writer *w)
{
    if (w->used == 0 || w->error)
        return;
    int rv = snap_write_all(w->fd, w->buf, w->used, -1);
    if (rv != 0) {
        w->error = rv;
        snprintf(w->why, sizeof w->why, "write: %s", strerror(errno));
    }
    w->used = 0;
}

int snap_writer_write(struct snap_writer *w, const void *data, size_t len)
{
    const uint8_t *p = data;
    w->body_crc = lum_crc32c(w->body_crc, p, len);
    w->body_size += len;
    while (len > 0 && !w->error) {
        size_t n = SNAP_BUF_SIZE - w->used < len ? SNAP_BUF_SIZE - w->used : len;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
        if (w->used == SNAP_BUF_SIZE)
            snap_flush(w);
    }
    return w->error;
}

static int snap_sink_write(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

struct lum_sink snap_writer_sink(struct snap_writer *w)
{
    return (struct lum_sink){.ctx = w, .write = snap_sink_write};
}

static void snap_writer_free(struct snap_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    close(w->dirfd);
    free(w->buf);
    free(w);
}

void snap_writer_abort(struct snap_writer *w)
{
    if (!w)
        return;
    unlinkat(w->dirfd, w->tmp, 0);
    snap_writer_free(w);
}

int snap_writer_finish(struct snap_writer *w, struct lum_err *err)
{
    snap_flush(w);
    lum_put_u64(w->header + 32, w->body_size);
    lum_put_u32(w->header + 40, w->body_crc);
    lum_put_u32(w->header + SNAP_HEADER_SIZE - 4, lum_crc32c(0, w->header, SNAP_HEADER_SIZE - 4));
    char name[64];
    snap_name(name, sizeof name, w->term, w->index);
    int rv = w->error;
    if (rv == 0 && (rv = snap_write_all(w->fd, w->header, SNAP_HEADER_SIZE, 0)) != 0)
        snprintf(w->why, sizeof w->why, "write header: %s", strerror(errno));
    if (rv == 0 && fdatasync(w->fd) != 0) {
        rv = -LUM_EIO;
        snprintf(w->why, sizeof w->why, "fdatasync: %s", strerror(errno));
    }
    if (rv == 0 && renameat(w->dirfd, w->tmp, w->dirfd, name) != 0) {
        rv = -LUM_EIO;
        snprintf(w->why, sizeof w->why, "rename to %s: %s", name, strerror(errno));
    }
    if (rv == 0 && fsync(w->dirfd) != 0) {
        rv = -LUM_EIO;
        snprintf(w->why, sizeof w->why, "fsync " SNAP_DIR "/: %s", strerror(errno));
    }
    if (rv != 0) {
        lum_errf(err, SNAP_DIR "/%s: %s", w->tmp, w->why);
        snap_writer_abort(w);
        return rv;
    }
    snap_writer_free(w);
    return 0;
}

/* ---- reading and checking ------------------------------------------------------------------- */

/* label names the file in messages: "snap/NAME", or a path outside data_dir (a backup). */
static int snap_parse_header(const uint8_t *h, const char *label, const char *name,
                             struct snap_meta *m, struct lum_err *err)
{
    if (memcmp(h, SNAP_MAGIC, 8) != 0) {
        lum_errf(err, "%s: not a snapshot file (its header does not start with " SNAP_MAGIC ")",
                 label);
        return -LUM_ECORRUPT;
    }
    if (lum_get_u32(h + SNAP_HEADER_SIZE - 4) != lum_crc32c(0, h, SNAP_HEADER_SIZE - 4)) {
        lum_errf(err, "%s: the header fails its checksum", label);
        return -LUM_ECORRUPT;
    }
    if (lum_get_u32(h + 8) != SNAP_VERSION) {
        lum_errf(err, "%s: format version %u, this server reads %u", label,
                 lum_get_u32(h + 8), SNAP_VERSION);
        return -LUM_EVERSION;
    }
    uint32_t mlen = lum_get_u32(h + 12);
    memset(m, 0, sizeof *m);
    m->index = lum_get_u64(h + 16);
    m->term = lum_get_u64(h + 24);
    m->body_size = lum_get_u64(h + 32);
    m->body_crc = lum_get_u32(h + 40);
    if (mlen > RAFT_MEMBERS_ENCODED_MAX ||
        raft_members_decode(h + 44, mlen, &m->members, &m->members_old, NULL, NULL) != 0) {
        lum_errf(err, "%s: bad membership in the header", label);
        return -LUM_ECORRUPT;
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    return 0;
}

struct snap_reader {
    int      fd;
    uint64_t left;      /* body bytes not yet handed out */
    uint32_t crc;
    uint32_t body_crc;  /* the header's */
    uint8_t *buf;       /* read ahead in SNAP_BUF_SIZE blocks: loads ask for a few bytes at a time */
    size_t   pos, end;
};

/* The reader of the snapshot open at fd (taken: closed on failure too); label and name as
 * for snap_parse_header. */
static int snap_reader_open_fd(int fd, const char *label, const char *name,
                               struct snap_meta *meta_out, struct snap_reader **out,
                               struct lum_err *err)
{
    uint8_t h[SNAP_HEADER_SIZE];
    ssize_t n = pread(fd, h, sizeof h, 0);
    int rv = 0;
    if (n != (ssize_t)sizeof h) {
        lum_errf(err, "%s: shorter than its header (%zd bytes, a snapshot has at least %u)",
                 label, n, SNAP_HEADER_SIZE);
        rv = -LUM_ECORRUPT;
    }
    if (rv == 0)
        rv = snap_parse_header(h, label, name, meta_out, err);
    struct stat st;
    if (rv == 0 && (fstat(fd, &st) != 0 ||
                    (uint64_t)st.st_size != SNAP_HEADER_SIZE + meta_out->body_size)) {
        lum_errf(err, "%s: %lld bytes, the header says %llu", label,
                 (long long)st.st_size,
                 (unsigned long long)(SNAP_HEADER_SIZE + meta_out->body_size));
        rv = -LUM_ECORRUPT;
    }
    struct snap_reader *r = rv == 0 ? calloc(1, sizeof *r) : NULL;
    if (r && !(r->buf = malloc(SNAP_BUF_SIZE))) {
        free(r);
        r = NULL;
    }
    if (rv == 0 && !r)
        rv = -LUM_ENOMEM;
    if (rv != 0) {
        close(fd);
        return rv;
    }
    lseek(fd, SNAP_HEADER_SIZE, SEEK_SET);
    r->fd = fd;
    r->left = meta_out->body_size;
    r->body_crc = meta_out->body_crc;
    *out = r;
    return 0;
}

int snap_reader_open(int data_dirfd, const char *name, struct snap_meta *meta_out,
                     struct snap_reader **out, struct lum_err *err)
{
    int dirfd = snap_dir(data_dirfd, err);
    if (dirfd < 0)
        return dirfd;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    close(dirfd);
    if (fd < 0) {
        lum_errf(err, "open " SNAP_DIR "/%s: %s", name, strerror(errno));
        return errno == ENOENT ? -LUM_ENOTFOUND : -LUM_EIO;
    }
    char label[80];
    snprintf(label, sizeof label, SNAP_DIR "/%s", name);
    return snap_reader_open_fd(fd, label, name, meta_out, out, err);
}

int snap_reader_open_file(const char *path, struct snap_meta *meta_out,
                          struct snap_reader **out, struct lum_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lum_errf(err, "open %s: %s", path, strerror(errno));
        return errno == ENOENT ? -LUM_ENOTFOUND : -LUM_EIO;
    }
    const char *base = strrchr(path, '/');
    return snap_reader_open_fd(fd, path, base ? base + 1 : path, meta_out, out, err);
}

int snap_read(struct snap_reader *r, void *buf, size_t len)
{
    if (len > r->left)
        return -LUM_ECORRUPT; /* the state asks for more than the body holds */
    uint8_t *p = buf;
    size_t want = len;
    while (want > 0) {
        if (r->pos == r->end) {
            ssize_t n = read(r->fd, r->buf, SNAP_BUF_SIZE);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n == 0 ? -LUM_ECORRUPT : -LUM_EIO;
            r->pos = 0;
            r->end = (size_t)n;
        }
        size_t k = r->end - r->pos < want ? r->end - r->pos : want;
        memcpy(p, r->buf + r->pos, k);
        r->pos += k;
        p += k;
        want -= k;
    }
    r->crc = lum_crc32c(r->crc, buf, len);
    r->left -= len;
    return 0;
}

static int snap_source_read(void *ctx, void *buf, size_t len)
{
    return snap_read(ctx, buf, len);
}

struct lum_source snap_reader_source(struct snap_reader *r)
{
    return (struct lum_source){.ctx = r, .read = snap_source_read};
}

uint64_t snap_reader_left(const struct snap_reader *r)
{
    return r->left;
}

int snap_reader_verify(const struct snap_reader *r)
{
    return r->left == 0 && r->crc == r->body_crc ? 0 : -LUM_ECORRUPT;
}

void snap_reader_close(struct snap_reader *r)
{
    if (!r)
        return;
    close(r->fd);
    free(r->buf);
    free(r);
}

/* Reads r's whole body and checks it against the header's crc; closes r. */
static int snap_check_body(struct snap_reader *r, const char *label,
                           const struct snap_meta *meta, struct lum_err *err)
{
    int rv = 0;
    uint8_t *buf = malloc(SNAP_BUF_SIZE);
    if (!buf) {
        snap_reader_close(r);
        return -LUM_ENOMEM;
    }
    while (rv == 0 && r->left > 0) {
        size_t n = r->left < SNAP_BUF_SIZE ? (size_t)r->left : SNAP_BUF_SIZE;
        rv = snap_read(r, buf, n);
    }
    if (rv == 0 && r->crc != meta->body_crc) {
        lum_errf(err, "%s: the body fails its checksum", label);
        rv = -LUM_ECORRUPT;
    } else if (rv != 0) {
        lum_errf(err, "%s: cannot read the body: %s", label, lum_strerror(rv));
    }
    free(buf);
    snap_reader_close(r);
    return rv;
}

int snap_check(int data_dirfd, const char *name, struct snap_meta *meta_out,
               struct lum_err *err)
{
    struct snap_reader *r;
    int rv = snap_reader_open(data_dirfd, name, meta_out, &r, err);
    if (rv != 0)
        return rv;
    char label[80];
    snprintf(label, sizeof label, SNAP_DIR "/%s", name);
    return snap_check_body(r, label, meta_out, err);
}

int snap_file_check(const char *path, struct snap_meta *meta_out, struct lum_err *err)
{
    struct snap_reader *r;
    int rv = snap_reader_open_file(path, meta_out, &r, err);
    return rv == 0 ? snap_check_body(r, path, meta_out, err) : rv;
}

/* ---- the directory -------------------------------------------------------------------------- */

static int snap_cmp(const void *a, const void *b)
{
    const struct snap_meta *x = a, *y = b;
    return x->index < y->index ? 1 : x->index > y->index ? -1 : 0;
}

int snap_list(int data_dirfd, struct snap_meta *out, uint32_t cap, uint32_t *n_out,
              struct lum_err *err)
{
    *n_out = 0;
    int dirfd = snap_dir(data_dirfd, err);
    if (dirfd < 0)
        return dirfd;
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        lum_errf(err, "read " SNAP_DIR "/: %s", strerror(errno));
        return -LUM_EIO;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t term, index;
        if (strncmp(de->d_name, "tmp-", 4) == 0) {
            unlinkat(dirfd, de->d_name, 0); /* a write that did not finish */
            continue;
        }
        size_t name_len = strlen(de->d_name);
        if (!snap_parse_name(de->d_name, &term, &index) || name_len >= sizeof out->name)
            continue;
        struct snap_meta *m;
        if (*n_out < cap) {
            m = &out[(*n_out)++];
        } else { /* full: a newer one replaces the oldest kept */
            m = &out[0];
            for (uint32_t i = 1; i < cap; i++)
                if (out[i].index < m->index)
                    m = &out[i];
            if (m->index >= index)
                continue;
        }
        memset(m, 0, sizeof *m);
        m->index = index;
        m->term = term;
        memcpy(m->name, de->d_name, name_len + 1);
    }
    closedir(d);
    qsort(out, *n_out, sizeof *out, snap_cmp);
    return 0;
}

void snap_remove_older(int data_dirfd, uint64_t keep_from_index)
{
    struct snap_meta list[64];
    uint32_t n;
    struct lum_err err;
    if (snap_list(data_dirfd, list, 64, &n, &err) != 0)
        return;
    int dirfd = snap_dir(data_dirfd, &err);
    if (dirfd < 0)
        return;
    for (uint32_t i = 0; i < n; i++)
        if (list[i].index < keep_from_index)
            unlinkat(dirfd, list[i].name, 0);
    close(dirfd);
}

/* ---- receiving from the leader ---------------------------------------------------------------- */

int snap_recv_write(int data_dirfd, uint64_t offset, const void *data, size_t len,
                    struct lum_err *err)
{
    int dirfd = snap_dir(data_dirfd, err);
    if (dirfd < 0)
        return dirfd;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (offset == 0 ? O_TRUNC : 0);
    int fd = openat(dirfd, SNAP_RECV_NAME, flags, 0644);
    close(dirfd);
    if (fd < 0) {
        lum_errf(err, "open " SNAP_DIR "/" SNAP_RECV_NAME ": %s", strerror(errno));
        return -LUM_EIO;
    }
    struct stat st;
    int rv = 0;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != offset) {
        lum_errf(err, SNAP_DIR "/" SNAP_RECV_NAME ": a chunk at offset %llu, but %lld bytes "
                 "arrived so far", (unsigned long long)offset, (long long)st.st_size);
        rv = -LUM_EMALFORMED;
    }
    if (rv == 0 && (rv = snap_write_all(fd, data, len, (off_t)offset)) != 0)
        lum_errf(err, "write " SNAP_DIR "/" SNAP_RECV_NAME ": %s", strerror(errno));
    close(fd);
    return rv;
}

int snap_recv_finish(int data_dirfd, struct snap_meta *meta_out, struct lum_err *err)
{
    int rv = snap_check(data_dirfd, SNAP_RECV_NAME, meta_out, err);
    if (rv != 0)
        return rv;
    int dirfd = snap_dir(data_dirfd, err);
    if (dirfd < 0)
        return dirfd;
    char name[64];
    snap_name(name, sizeof name, meta_out->term, meta_out->index);
    int fd = openat(dirfd, SNAP_RECV_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fdatasync(fd) != 0 || renameat(dirfd, SNAP_RECV_NAME, dirfd, name) != 0 ||
        fsync(dirfd) != 0) {
        lum_errf(err, "install " SNAP_DIR "/%s: %s", name, strerror(errno));
        rv = -LUM_EIO;
    }
    if (fd >= 0)
        close(fd);
    close(dirfd);
    snprintf(meta_out->name, sizeof meta_out->name, "%s", name);
    return rv;
}

int snap_file_open(int data_dirfd, const char *name, uint64_t *size_out, struct lum_err *err)
{
    int dirfd = snap_dir(data_dirfd, err);
    if (dirfd < 0)
        return dirfd;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    close(dirfd);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        lum_errf(err, "open " SNAP_DIR "/%s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -LUM_EIO;
    }
    *size_out = (uint64_t)st.st_size;
    return fd;
}
