/* One log segment: a file of records packed back to back, each aligned to 8 bytes. An entry
 * costs its header and payload on disk, not a whole page: with 4 KiB slots (format 1) every
 * 256-byte put dirtied a 4 KiB page on every node, and three nodes on one disk ran out of
 * disk bandwidth at ~30,000 puts/s. The offset of every record is kept in memory, so reads
 * stay O(1) and truncation is an ftruncate.
 *
 * File log/NNNNNNNNNNNNNNNNNNNN.seg, NNN... = the first index, 20 decimal digits.
 * All integers little-endian.
 *
 *   header, SEG_HEADER_SIZE = 4096 bytes:
 *     0  magic       8 bytes "LUMINSEG"
 *     8  version     u32     SEG_VERSION (2: packed records)
 *    12  slot_size   u32     RAFT_ENTRY_SIZE of the server that wrote it (the largest record)
 *    16  first_index u64     index of record 0; equals the file name
 *    24  crc32c      u32     of bytes 0..24
 *    28  zeros up to 4096
 *
 *   then record k, holding index first_index + k, at the 8-aligned offset after record k-1:
 *     0  crc32c      u32     of bytes 4..32 of the record, then the len payload bytes
 *     4  len         u32     <= RAFT_PAYLOAD_MAX
 *     8  term        u64     >= 1, never below the previous record's
 *    16  index       u64     first_index + k
 *    24  type        u16
 *    26  pad         6 zero bytes
 *    32  payload     len bytes, then zeros up to the next multiple of 8 (not covered by the
 *                    crc; the last record of a write may end right after its payload).
 *
 * Validity: the header must check (magic, crc, then version and slot size: a segment made
 * with another RAFT_ENTRY_SIZE is refused, since the largest payload is compiled in). A
 * record is valid if its crc checks; a valid record must also hold the expected index,
 * term >= 1 and zero pad, else the file is corrupt. A record that is all zeros, shorter than
 * 32 + len, has len > RAFT_PAYLOAD_MAX or fails its crc is bad.
 *
 * Recovery (decided by wal.c across segments): a bad record with no valid record at any
 * 8-aligned offset after it is a torn write and is cut off; a bad record followed by a
 * valid one is corruption. Known limit: after a power loss (not a process crash) the kernel
 * may have written back some pages of the last, unsynced batch but not earlier ones; that
 * hole followed by good records is refused too, although no acknowledged entry is missing.
 *
 * Segments are created whole: the header goes to NNN.seg.tmp, which is fdatasync'd and
 * renamed, so a file with the final name always has a valid header. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"
#include "sys.h"

static_assert(RAFT_ENTRY_HEADER_SIZE == 32, "the record header layout above is 32 bytes");
static_assert(RAFT_PAYLOAD_MAX + RAFT_ENTRY_HEADER_SIZE == RAFT_ENTRY_SIZE,
              "the largest record is its header and the largest payload");
static_assert(RAFT_ENTRY_SIZE % 8 == 0, "the largest record needs no padding");
static_assert(SEG_WRITE_ENTRIES * 3 <= 1024, "one append's iovecs fit IOV_MAX");

#define SEG_MAGIC "LUMINSEG"
enum {
    SEG_H_MAGIC = 0, SEG_H_VERSION = 8, SEG_H_SLOT_SIZE = 12, SEG_H_FIRST = 16, SEG_H_CRC = 24,
    SEG_H_USED = 28,
};
enum {
    SEG_S_CRC = 0, SEG_S_LEN = 4, SEG_S_TERM = 8, SEG_S_INDEX = 16, SEG_S_TYPE = 24,
    SEG_S_PAD = 26,
};

static const uint8_t seg_zeros[8];

/* Bytes a record with a payload of len takes, padding included. */
static uint64_t seg_record_size(uint32_t len)
{
    return ((uint64_t)RAFT_ENTRY_HEADER_SIZE + len + 7) & ~(uint64_t)7;
}

void seg_name(char name[SEG_NAME_SIZE], uint64_t first_index)
{
    snprintf(name, SEG_NAME_SIZE, "log/%020" PRIu64 ".seg", first_index);
}

bool seg_parse_name(const char *base, uint64_t *first_index_out)
{
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (base[i] < '0' || base[i] > '9')
            return false;
        unsigned d = (unsigned)(base[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (strcmp(base + 20, ".seg") != 0)
        return false;
    /* Index 0 is never an entry, and a segment must have room to index its records. */
    if (v == 0 || v > UINT64_MAX - STORAGE_SEGMENT_ENTRIES_MAX)
        return false;
    *first_index_out = v;
    return true;
}

bool seg_is_temp_name(const char *base)
{
    size_t n = strlen(base);
    return n == 28 && strcmp(base + 20, ".seg.tmp") == 0;
}

static void seg_encode_header(uint8_t h[SEG_HEADER_SIZE], uint64_t first_index)
{
    memset(h, 0, SEG_HEADER_SIZE);
    memcpy(h + SEG_H_MAGIC, SEG_MAGIC, 8);
    lum_put_u32(h + SEG_H_VERSION, SEG_VERSION);
    lum_put_u32(h + SEG_H_SLOT_SIZE, RAFT_ENTRY_SIZE);
    lum_put_u64(h + SEG_H_FIRST, first_index);
    lum_put_u32(h + SEG_H_CRC, lum_crc32c(0, h, SEG_H_CRC));
}

/* Sizes the per-record arrays for capacity records (they only grow). */
static int seg_alloc_terms(struct seg *s, uint32_t capacity, struct lum_err *err)
{
    uint64_t *terms = realloc(s->terms, (size_t)capacity * sizeof *terms);
    if (terms)
        s->terms = terms;
    uint64_t *offs = realloc(s->offs, (size_t)capacity * sizeof *offs);
    if (offs)
        s->offs = offs;
    uint16_t *types = realloc(s->types, (size_t)capacity * sizeof *types);
    if (types)
        s->types = types;
    if (!terms || !offs || !types) {
        lum_errf(err, "%s: out of memory for %" PRIu32 " entries", s->name, capacity);
        return -LUM_ENOMEM;
    }
    s->capacity = capacity;
    return 0;
}

static void seg_free_terms(struct seg *s)
{
    free(s->terms);
    free(s->types);
    free(s->offs);
    s->terms = NULL;
    s->types = NULL;
    s->offs = NULL;
}

int seg_create(int logfd, uint64_t first_index, uint32_t capacity,
               const struct storage_syscalls *sys, struct seg *out, struct lum_err *err)
{
    LUM_ASSERT(capacity >= 1);
    LUM_ASSERT(capacity <= STORAGE_SEGMENT_ENTRIES_MAX);
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->first_index = first_index;
    seg_name(out->name, first_index);
    char tmp[SEG_NAME_SIZE + 4];
    snprintf(tmp, sizeof tmp, "%s.tmp", out->name + 4);

    int rv = seg_alloc_terms(out, capacity, err);
    if (rv != 0)
        goto err_free_terms;
    int fd = openat(logfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rv = sys_error(errno);
        lum_errf(err, "create log/%s: %s", tmp, strerror(errno));
        goto err_free_terms;
    }
    uint8_t h[SEG_HEADER_SIZE];
    seg_encode_header(h, first_index);
    if (sys_pwrite_all(sys, fd, h, sizeof h, 0) < 0) {
        rv = sys_error(errno);
        lum_errf(err, "write log/%s at offset 0: %s", tmp, strerror(errno));
        goto err_unlink_tmp;
    }
    if (sys->fdatasync(fd) < 0) {
        rv = -LUM_EIO;
        lum_errf(err, "fdatasync log/%s: %s", tmp, strerror(errno));
        goto err_unlink_tmp;
    }
    if (renameat(logfd, tmp, logfd, out->name + 4) < 0) {
        rv = -LUM_EIO;
        lum_errf(err, "rename log/%s to %s: %s", tmp, out->name, strerror(errno));
        goto err_unlink_tmp;
    }
    out->fd = fd;
    out->size = out->tail = SEG_HEADER_SIZE;
    return 0;

err_unlink_tmp:
    close(fd);
    unlinkat(logfd, tmp, 0);
err_free_terms:
    seg_free_terms(out);
    return rv;
}

int seg_open(int logfd, uint64_t first_index, uint32_t capacity_min, struct seg *out,
             struct lum_err *err)
{
    memset(out, 0, sizeof *out);
    out->first_index = first_index;
    seg_name(out->name, first_index);
    int rv;
    int fd = openat(logfd, out->name + 4, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        lum_errf(err, "open %s: %s", out->name, strerror(errno));
        return -LUM_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        lum_errf(err, "stat %s: %s", out->name, strerror(errno));
        rv = -LUM_EIO;
        goto err_close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        lum_errf(err, "%s: not a regular file", out->name);
        rv = -LUM_ECORRUPT;
        goto err_close_fd;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < SEG_HEADER_SIZE) {
        lum_errf(err, "%s: %" PRIu64 " bytes, shorter than its %u-byte header", out->name,
                 size, SEG_HEADER_SIZE);
        rv = -LUM_ECORRUPT;
        goto err_close_fd;
    }
    uint8_t h[SEG_H_USED];
    ssize_t n = sys_pread_all(fd, h, sizeof h, 0);
    if (n < 0) {
        lum_errf(err, "read %s at offset 0: %s", out->name, strerror(errno));
        rv = -LUM_EIO;
        goto err_close_fd;
    }
    if ((size_t)n < sizeof h || memcmp(h + SEG_H_MAGIC, SEG_MAGIC, 8) != 0) {
        lum_errf(err, "%s at offset 0: not a log segment (bad magic)", out->name);
        rv = -LUM_ECORRUPT;
        goto err_close_fd;
    }
    if (lum_get_u32(h + SEG_H_CRC) != lum_crc32c(0, h, SEG_H_CRC)) {
        lum_errf(err, "%s at offset 0: segment header fails its checksum", out->name);
        rv = -LUM_ECORRUPT;
        goto err_close_fd;
    }
    uint32_t version = lum_get_u32(h + SEG_H_VERSION);
    if (version != SEG_VERSION) {
        lum_errf(err, "%s: segment format version %" PRIu32 ", this server reads version %u",
                 out->name, version, SEG_VERSION);
        rv = -LUM_EVERSION;
        goto err_close_fd;
    }
    uint32_t slot_size = lum_get_u32(h + SEG_H_SLOT_SIZE);
    if (slot_size != RAFT_ENTRY_SIZE) {
        lum_errf(err, "%s: written with %" PRIu32 "-byte slots, but this server is built "
                 "with RAFT_ENTRY_SIZE = %u; it cannot read this log (use a build with the "
                 "same RAFT_ENTRY_SIZE)", out->name, slot_size, RAFT_ENTRY_SIZE);
        rv = -LUM_EVERSION;
        goto err_close_fd;
    }
    uint64_t header_first = lum_get_u64(h + SEG_H_FIRST);
    if (header_first != first_index) {
        lum_errf(err, "%s at offset %u: header says first index %" PRIu64
                 ", the file name %" PRIu64, out->name, SEG_H_FIRST, header_first,
                 first_index);
        rv = -LUM_ECORRUPT;
        goto err_close_fd;
    }
    rv = seg_alloc_terms(out, capacity_min ? capacity_min : 1, err);
    if (rv != 0) {
        seg_free_terms(out);
        goto err_close_fd;
    }
    out->fd = fd;
    out->size = size;
    out->tail = SEG_HEADER_SIZE;
    return 0;

err_close_fd:
    close(fd);
    return rv;
}

static bool seg_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Whether a record with header h, payload bytes at payload and avail bytes in all (header
 * included) has a valid checksum; if not, why. */
static bool seg_record_valid(const uint8_t *h, const uint8_t *payload, uint64_t avail,
                             char why[SEG_WHY_SIZE])
{
    if (avail < RAFT_ENTRY_HEADER_SIZE) {
        if (seg_all_zero(h, avail))
            snprintf(why, SEG_WHY_SIZE, "record never written (zeros)");
        else
            snprintf(why, SEG_WHY_SIZE, "partial record header (%" PRIu64 " of %u bytes)",
                     avail, RAFT_ENTRY_HEADER_SIZE);
        return false;
    }
    if (seg_all_zero(h, RAFT_ENTRY_HEADER_SIZE)) {
        snprintf(why, SEG_WHY_SIZE, "record never written (zeros)");
        return false;
    }
    uint32_t len = lum_get_u32(h + SEG_S_LEN);
    if (len > RAFT_PAYLOAD_MAX) {
        snprintf(why, SEG_WHY_SIZE, "length %" PRIu32 " exceeds RAFT_PAYLOAD_MAX %u", len,
                 RAFT_PAYLOAD_MAX);
        return false;
    }
    if (avail < RAFT_ENTRY_HEADER_SIZE + (uint64_t)len) {
        snprintf(why, SEG_WHY_SIZE, "partial record (%" PRIu64 " of %u bytes)", avail,
                 RAFT_ENTRY_HEADER_SIZE + len);
        return false;
    }
    uint32_t crc = lum_crc32c(0, h + SEG_S_LEN, RAFT_ENTRY_HEADER_SIZE - SEG_S_LEN);
    crc = lum_crc32c(crc, payload, len);
    if (crc != lum_get_u32(h + SEG_S_CRC)) {
        snprintf(why, SEG_WHY_SIZE, "checksum mismatch");
        return false;
    }
    return true;
}

/* A read window over the file for recovery: at least want bytes from off (fewer at the end
 * of the file) in memory. */
struct seg_window {
    uint8_t *buf;
    size_t   cap;
    uint64_t base, len;   /* buf holds the file's bytes [base, base + len) */
};

static int seg_window_at(const struct seg *s, struct seg_window *w, uint64_t off, size_t want,
                         const uint8_t **p_out, uint64_t *avail_out, struct lum_err *err)
{
    uint64_t end = off + want < s->size ? off + want : s->size;
    if (off < w->base || end > w->base + w->len) {
        size_t n = s->size - off < w->cap ? (size_t)(s->size - off) : w->cap;
        ssize_t got = sys_pread_all(s->fd, w->buf, n, off);
        if (got < 0) {
            lum_errf(err, "read %s at offset %" PRIu64 ": %s", s->name, off, strerror(errno));
            return -LUM_EIO;
        }
        if ((size_t)got < n) {
            lum_errf(err, "read %s at offset %" PRIu64 ": file shrank while being read",
                     s->name, off + (uint64_t)got);
            return -LUM_EIO;
        }
        w->base = off;
        w->len = n;
    }
    *p_out = w->buf + (off - w->base);
    *avail_out = w->base + w->len - off;
    return 0;
}

/* Looks for a valid record at any 8-aligned offset from off on. */
static int seg_find_valid(const struct seg *s, struct seg_window *w, uint64_t off,
                          bool *found_out, uint64_t *at_out, struct lum_err *err)
{
    *found_out = false;
    for (; off + RAFT_ENTRY_HEADER_SIZE <= s->size; off += 8) {
        const uint8_t *p;
        uint64_t avail;
        int rv = seg_window_at(s, w, off, RAFT_ENTRY_SIZE, &p, &avail, err);
        if (rv != 0)
            return rv;
        char why[SEG_WHY_SIZE];
        if (seg_all_zero(p, 8) || !seg_record_valid(p, p + RAFT_ENTRY_HEADER_SIZE, avail, why))
            continue;
        *found_out = true;
        *at_out = off;
        return 0;
    }
    return 0;
}

int seg_scan(struct seg *s, uint64_t prev_term, bool after_bad, uint8_t *buf,
             size_t buf_size, struct seg_scan *out, struct lum_err *err)
{
    LUM_ASSERT(buf_size >= 2 * RAFT_ENTRY_SIZE);
    memset(out, 0, sizeof *out);
    s->count = 0;
    s->tail = SEG_HEADER_SIZE;
    struct seg_window w = {.buf = buf, .cap = buf_size};
    if (after_bad)
        return seg_find_valid(s, &w, SEG_HEADER_SIZE, &out->good_after_bad,
                              &out->good_offset, err);
    for (uint64_t off = SEG_HEADER_SIZE; off < s->size;) {
        const uint8_t *p;
        uint64_t avail;
        int rv = seg_window_at(s, &w, off, RAFT_ENTRY_SIZE, &p, &avail, err);
        if (rv != 0)
            return rv;
        char why[SEG_WHY_SIZE];
        if (!seg_record_valid(p, p + RAFT_ENTRY_HEADER_SIZE, avail, why)) {
            out->bad = true;
            out->bad_offset = off;
            memcpy(out->bad_why, why, sizeof why);
            return seg_find_valid(s, &w, off + 8, &out->good_after_bad, &out->good_offset,
                                  err);
        }
        uint64_t expect = s->first_index + s->count;
        uint64_t index = lum_get_u64(p + SEG_S_INDEX);
        uint64_t term = lum_get_u64(p + SEG_S_TERM);
        if (index != expect) {
            lum_errf(err, "%s at offset %" PRIu64 ": record holds index %" PRIu64
                     ", expected %" PRIu64, s->name, off, index, expect);
            return -LUM_ECORRUPT;
        }
        if (term == 0 || term < prev_term) {
            lum_errf(err, "%s at offset %" PRIu64 ": entry %" PRIu64 " has term %" PRIu64
                     ", after term %" PRIu64 " (terms never decrease)", s->name, off, index,
                     term, prev_term);
            return -LUM_ECORRUPT;
        }
        if (!seg_all_zero(p + SEG_S_PAD, RAFT_ENTRY_HEADER_SIZE - SEG_S_PAD)) {
            lum_errf(err, "%s at offset %" PRIu64 ": entry %" PRIu64 " has nonzero padding",
                     s->name, off, index);
            return -LUM_ECORRUPT;
        }
        if (s->count == STORAGE_SEGMENT_ENTRIES_MAX) {
            lum_errf(err, "%s at offset %" PRIu64 ": more than %u entries in one segment",
                     s->name, off, STORAGE_SEGMENT_ENTRIES_MAX);
            return -LUM_ECORRUPT;
        }
        if (s->count == s->capacity) {
            uint64_t cap = 2ull * s->capacity;
            if (cap > STORAGE_SEGMENT_ENTRIES_MAX)
                cap = STORAGE_SEGMENT_ENTRIES_MAX;
            if ((rv = seg_alloc_terms(s, (uint32_t)cap, err)) != 0)
                return rv;
        }
        s->offs[s->count] = off;
        s->types[s->count] = lum_get_u16(p + SEG_S_TYPE);
        s->terms[s->count++] = term;
        prev_term = term;
        /* past the padding, even if a torn write left it short: records stay aligned */
        off += seg_record_size(lum_get_u32(p + SEG_S_LEN));
        s->tail = off;
    }
    return 0;
}

static void seg_encode_record_header(uint8_t h[RAFT_ENTRY_HEADER_SIZE],
                                     const struct raft_entry *e)
{
    lum_put_u32(h + SEG_S_LEN, e->len);
    lum_put_u64(h + SEG_S_TERM, e->term);
    lum_put_u64(h + SEG_S_INDEX, e->index);
    lum_put_u16(h + SEG_S_TYPE, e->type);
    memset(h + SEG_S_PAD, 0, RAFT_ENTRY_HEADER_SIZE - SEG_S_PAD);
    uint32_t crc = lum_crc32c(0, h + SEG_S_LEN, RAFT_ENTRY_HEADER_SIZE - SEG_S_LEN);
    crc = lum_crc32c(crc, e->payload, e->len);
    lum_put_u32(h + SEG_S_CRC, crc);
}

int seg_append(struct seg *s, const struct raft_entry *e, uint32_t n, struct seg_scratch *sc,
               const struct storage_syscalls *sys, struct lum_err *err)
{
    LUM_ASSERT(!s->broken);
    LUM_ASSERT(n <= s->capacity - s->count);
    uint64_t old_size = s->size, old_tail = s->tail;
    uint64_t off = s->tail;
    for (uint32_t done = 0; done < n;) {
        uint32_t m = n - done < SEG_WRITE_ENTRIES ? n - done : SEG_WRITE_ENTRIES;
        int iovcnt = 0;
        uint64_t at = off;
        for (uint32_t i = 0; i < m; i++) {
            const struct raft_entry *x = &e[done + i];
            LUM_ASSERT(x->len <= RAFT_PAYLOAD_MAX);
            LUM_ASSERT(x->index == s->first_index + s->count + done + i);
            seg_encode_record_header(sc->headers[i], x);
            s->offs[s->count + done + i] = at;
            sc->iov[iovcnt++] = (struct iovec){sc->headers[i], RAFT_ENTRY_HEADER_SIZE};
            if (x->len > 0)
                sc->iov[iovcnt++] = (struct iovec){(void *)x->payload, x->len};
            uint64_t pad = seg_record_size(x->len) - RAFT_ENTRY_HEADER_SIZE - x->len;
            if (pad > 0)
                sc->iov[iovcnt++] = (struct iovec){(void *)seg_zeros, pad};
            at += seg_record_size(x->len);
        }
        uint64_t written;
        if (sys_pwritev_all(sys, s->fd, sc->iov, iovcnt, off, &written) < 0) {
            int errnum = errno;
            int rv = sys_error(errnum);
            s->tail = old_tail;
            if (sys->ftruncate(s->fd, (off_t)old_size) < 0) {
                lum_errf(err, "write %s at offset %" PRIu64 ": %s; then truncate back to %"
                         PRIu64 " bytes: %s", s->name, off + written, strerror(errnum),
                         old_size, strerror(errno));
                s->broken = true;
                return -LUM_EIO;
            }
            lum_errf(err, "write %s at offset %" PRIu64 ": %s", s->name, off + written,
                     strerror(errnum));
            return rv;
        }
        off = at;
        done += m;
    }
    for (uint32_t i = 0; i < n; i++) {
        s->terms[s->count + i] = e[i].term;
        s->types[s->count + i] = e[i].type;
    }
    s->count += n;
    s->tail = off;
    if (off > s->size)
        s->size = off;
    s->dirty = true;
    return 0;
}

int seg_truncate(struct seg *s, uint32_t count, const struct storage_syscalls *sys,
                 struct lum_err *err)
{
    LUM_ASSERT(count <= s->count);
    uint64_t size = count < s->count ? s->offs[count] : s->tail;
    if (s->size > size) {
        if (sys->ftruncate(s->fd, (off_t)size) < 0) {
            lum_errf(err, "truncate %s to %" PRIu64 " bytes: %s", s->name, size,
                     strerror(errno));
            return -LUM_EIO;
        }
        s->size = size;
        /* Durable now: new entries written after this must never sit on disk next to the
         * old ones this removed. */
        if (sys->fdatasync(s->fd) < 0) {
            lum_errf(err, "fdatasync %s: %s", s->name, strerror(errno));
            return -LUM_EIO;
        }
    }
    s->count = count;
    s->tail = size;
    return 0;
}

int seg_read(const struct seg *s, uint64_t index, struct raft_entry *out, struct lum_err *err)
{
    LUM_ASSERT(index >= s->first_index);
    LUM_ASSERT(index - s->first_index < s->count);
    uint64_t k = index - s->first_index;
    uint64_t off = s->offs[k];
    uint8_t h[RAFT_ENTRY_HEADER_SIZE];
    struct iovec iov[2] = {{h, sizeof h}, {out->payload, RAFT_PAYLOAD_MAX}};
    /* On a regular file a read returns short only at end of file. */
    ssize_t n;
    do
        n = preadv(s->fd, iov, 2, (off_t)off);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        lum_errf(err, "read %s at offset %" PRIu64 ": %s", s->name, off, strerror(errno));
        return -LUM_EIO;
    }
    char why[SEG_WHY_SIZE];
    if (!seg_record_valid(h, out->payload, (uint64_t)n, why)) {
        lum_errf(err, "%s at offset %" PRIu64 ": entry %" PRIu64 ": %s", s->name, off, index,
                 why);
        return -LUM_ECORRUPT;
    }
    uint64_t got_index = lum_get_u64(h + SEG_S_INDEX);
    uint64_t got_term = lum_get_u64(h + SEG_S_TERM);
    if (got_index != index || got_term != s->terms[k]) {
        lum_errf(err, "%s at offset %" PRIu64 ": record holds index %" PRIu64 " term %" PRIu64
                 ", expected index %" PRIu64 " term %" PRIu64, s->name, off, got_index,
                 got_term, index, s->terms[k]);
        return -LUM_ECORRUPT;
    }
    out->index = got_index;
    out->term = got_term;
    out->type = lum_get_u16(h + SEG_S_TYPE);
    out->len = lum_get_u32(h + SEG_S_LEN);
    return 0;
}

int seg_sync(struct seg *s, const struct storage_syscalls *sys, struct lum_err *err)
{
    if (!s->dirty)
        return 0;
    if (sys->fdatasync(s->fd) < 0) {
        lum_errf(err, "fdatasync %s: %s", s->name, strerror(errno));
        return -LUM_EIO;
    }
    s->dirty = false;
    return 0;
}

void seg_close(struct seg *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    seg_free_terms(s);
}

int seg_remove(int logfd, struct seg *s, struct lum_err *err)
{
    seg_close(s);
    if (unlinkat(logfd, s->name + 4, 0) < 0 && errno != ENOENT) {
        lum_errf(err, "unlink %s: %s", s->name, strerror(errno));
        return -LUM_EIO;
    }
    return 0;
}
