/* The hard state (current term, vote) in data_dir/meta, updated so that a crash at any
 * moment leaves at least one valid copy (two alternating slots, as cowsql's uv_metadata).
 *
 * File data_dir/meta, 1024 bytes: slot 0 at offset 0, slot 1 at offset 512. A slot, all
 * integers little-endian:
 *
 *     0  magic      8 bytes "LUMIMETA"
 *     8  version    u32     META_VERSION (1)
 *    12  reserved   u32     0
 *    16  seq        u64     >= 1; each update writes seq + 1
 *    24  term       u64     currentTerm
 *    32  voted_for  u64     votedFor in term, 0 for none
 *    40  crc32c     u32     of bytes 0..40
 *    44  zeros up to 512
 *
 * Validity: magic, crc, reserved == 0 and seq >= 1; a slot that checks but has another
 * version is refused (-LUM_EVERSION). Load takes the valid slot with the higher seq. Both
 * invalid in a non-empty file is corruption: refuse, saying why for each slot. A missing
 * or empty file is a fresh node (term 0, no vote).
 *
 * Update rule: write the slot *not* holding the last durable state, with seq + 1, then
 * fdatasync. Until that fdatasync, later updates overwrite the same slot (same seq), so the
 * durable slot is never touched while the other one may be torn. The file is created once,
 * whole: meta.tmp written and fdatasync'd, renamed to meta, directory fsync'd. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"

#define META_MAGIC     "LUMIMETA"
#define META_VERSION   1u
#define META_SLOT_SIZE 512u
#define META_FILE      "meta"
#define META_TMP       "meta.tmp"
#define META_WHY_SIZE  96u

enum {
    META_MAGIC_AT = 0, META_VERSION_AT = 8, META_RESERVED_AT = 12, META_SEQ_AT = 16,
    META_TERM_AT = 24, META_VOTE_AT = 32, META_CRC_AT = 40,
};

struct meta {
    int      dirfd;         /* data_dir, borrowed                              */
    int      fd;            /* -1 until the file exists                        */
    const struct storage_syscalls *sys;
    int      durable_slot;  /* slot holding durable_seq; -1: none (fresh)      */
    uint64_t durable_seq;
    bool     dirty;         /* the other slot was written, not yet fdatasync'd */
    struct raft_hard_state hs;         /* last written or loaded               */
    struct raft_hard_state durable_hs; /* in durable_slot                      */
};

enum meta_slot_status { META_SLOT_VALID, META_SLOT_INVALID, META_SLOT_EMPTY, META_SLOT_VERSION };

static void meta_encode(uint8_t p[META_SLOT_SIZE], uint64_t seq, const struct raft_hard_state *hs)
{
    memset(p, 0, META_SLOT_SIZE);
    memcpy(p + META_MAGIC_AT, META_MAGIC, 8);
    lum_put_u32(p + META_VERSION_AT, META_VERSION);
    lum_put_u64(p + META_SEQ_AT, seq);
    lum_put_u64(p + META_TERM_AT, hs->term);
    lum_put_u64(p + META_VOTE_AT, hs->voted_for);
    lum_put_u32(p + META_CRC_AT, lum_crc32c(0, p, META_CRC_AT));
}

/* Decodes the slot in the avail bytes at p (avail may be short: a truncated file). */
static enum meta_slot_status meta_decode(const uint8_t *p, size_t avail, uint64_t *seq_out,
                                         struct raft_hard_state *hs_out,
                                         char why[META_WHY_SIZE])
{
    if (avail < META_CRC_AT + 4) {
        snprintf(why, META_WHY_SIZE, "cut short (%zu of its bytes present)", avail);
        return META_SLOT_INVALID;
    }
    bool zero = true;
    for (size_t i = 0; i < avail && zero; i++)
        zero = p[i] == 0;
    if (zero) {
        snprintf(why, META_WHY_SIZE, "never written (zeros)");
        return META_SLOT_EMPTY;
    }
    if (memcmp(p + META_MAGIC_AT, META_MAGIC, 8) != 0) {
        snprintf(why, META_WHY_SIZE, "bad magic");
        return META_SLOT_INVALID;
    }
    if (lum_get_u32(p + META_CRC_AT) != lum_crc32c(0, p, META_CRC_AT)) {
        snprintf(why, META_WHY_SIZE, "checksum mismatch");
        return META_SLOT_INVALID;
    }
    uint32_t version = lum_get_u32(p + META_VERSION_AT);
    if (version != META_VERSION) {
        snprintf(why, META_WHY_SIZE, "format version %" PRIu32 ", this server reads version %u",
                 version, META_VERSION);
        return META_SLOT_VERSION;
    }
    *seq_out = lum_get_u64(p + META_SEQ_AT);
    if (lum_get_u32(p + META_RESERVED_AT) != 0 || *seq_out == 0) {
        snprintf(why, META_WHY_SIZE, "malformed (reserved field or seq 0)");
        return META_SLOT_INVALID;
    }
    hs_out->term = lum_get_u64(p + META_TERM_AT);
    hs_out->voted_for = lum_get_u64(p + META_VOTE_AT);
    return META_SLOT_VALID;
}

/* Reads the file open at fd into m. */
static int meta_load(struct meta *m, int fd, uint64_t size, struct lum_err *err)
{
    uint8_t buf[2 * META_SLOT_SIZE];
    memset(buf, 0, sizeof buf);
    ssize_t n = sys_pread_all(fd, buf, sizeof buf, 0);
    if (n < 0) {
        lum_errf(err, "read " META_FILE ": %s", strerror(errno));
        return -LUM_EIO;
    }
    enum meta_slot_status status[2];
    uint64_t seq[2] = {0, 0};
    struct raft_hard_state hs[2] = {{0, 0}, {0, 0}};
    char why[2][META_WHY_SIZE];
    for (int i = 0; i < 2; i++) {
        size_t at = (size_t)i * META_SLOT_SIZE;
        size_t avail = (size_t)n > at ? (size_t)n - at : 0;
        if (avail > META_SLOT_SIZE)
            avail = META_SLOT_SIZE;
        status[i] = meta_decode(buf + at, avail, &seq[i], &hs[i], why[i]);
        if (status[i] == META_SLOT_VERSION) {
            lum_errf(err, META_FILE " slot %d: %s", i, why[i]);
            return -LUM_EVERSION;
        }
    }
    if (status[0] != META_SLOT_VALID && status[1] != META_SLOT_VALID) {
        lum_errf(err, META_FILE ": %" PRIu64 " bytes but neither slot is valid (slot 0: %s; "
                 "slot 1: %s): the term and vote are lost, refusing to start", size, why[0],
                 why[1]);
        return -LUM_ECORRUPT;
    }
    if (status[0] == META_SLOT_VALID && status[1] == META_SLOT_VALID && seq[0] == seq[1]) {
        lum_errf(err, META_FILE ": both slots hold seq %" PRIu64 ", so neither is known to "
                 "be newer", seq[0]);
        return -LUM_ECORRUPT;
    }
    int pick;
    if (status[0] != META_SLOT_VALID)
        pick = 1;
    else if (status[1] != META_SLOT_VALID)
        pick = 0;
    else
        pick = seq[1] > seq[0] ? 1 : 0;
    if (status[1 - pick] == META_SLOT_INVALID)
        lum_warn(META_FILE " slot %d is invalid (%s), probably a torn write; using slot %d "
                 "(seq %" PRIu64 ")", 1 - pick, why[1 - pick], pick, seq[pick]);
    m->durable_slot = pick;
    m->durable_seq = seq[pick];
    m->hs = hs[pick];
    m->durable_hs = hs[pick];
    return 0;
}

int meta_open(int data_dirfd, const struct storage_options *opts, struct meta **meta_out,
              struct raft_hard_state *hs_out, bool *found_out, struct lum_err *err)
{
    struct meta *m = calloc(1, sizeof *m);
    if (!m) {
        lum_errf(err, "open " META_FILE ": out of memory");
        return -LUM_ENOMEM;
    }
    m->dirfd = data_dirfd;
    m->fd = -1;
    m->sys = sys_table(opts);
    m->durable_slot = -1;
    int rv;
    if (unlinkat(data_dirfd, META_TMP, 0) == 0)
        lum_info("removed " META_TMP ", left by an interrupted first write");
    int fd = openat(data_dirfd, META_FILE, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        lum_errf(err, "open " META_FILE ": %s", strerror(errno));
        rv = -LUM_EIO;
        goto err_free;
    }
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            lum_errf(err, "stat " META_FILE ": %s", strerror(errno));
            rv = -LUM_EIO;
            goto err_close_fd;
        }
        if (!S_ISREG(st.st_mode)) {
            lum_errf(err, META_FILE ": not a regular file");
            rv = -LUM_ECORRUPT;
            goto err_close_fd;
        }
        if (st.st_size == 0) {
            close(fd); /* fresh; the first write replaces it */
        } else {
            rv = meta_load(m, fd, (uint64_t)st.st_size, err);
            if (rv != 0)
                goto err_close_fd;
            m->fd = fd;
        }
    }
    *hs_out = m->hs;
    if (found_out)
        *found_out = m->fd >= 0;
    *meta_out = m;
    return 0;

err_close_fd:
    close(fd);
err_free:
    free(m);
    return rv;
}

/* The first write of a node: the whole file, atomically. */
static int meta_create(struct meta *m, const struct raft_hard_state *hs, struct lum_err *err)
{
    uint8_t buf[2 * META_SLOT_SIZE];
    memset(buf, 0, sizeof buf);
    meta_encode(buf, 1, hs);
    int rv;
    int fd = openat(m->dirfd, META_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rv = sys_error(errno);
        lum_errf(err, "create " META_TMP ": %s", strerror(errno));
        return rv;
    }
    if (sys_pwrite_all(m->sys, fd, buf, sizeof buf, 0) < 0) {
        rv = sys_error(errno);
        lum_errf(err, "write " META_TMP " at offset 0: %s", strerror(errno));
        goto err_unlink_tmp;
    }
    if (m->sys->fdatasync(fd) < 0) {
        rv = -LUM_EIO;
        lum_errf(err, "fdatasync " META_TMP ": %s", strerror(errno));
        goto err_unlink_tmp;
    }
    if (renameat(m->dirfd, META_TMP, m->dirfd, META_FILE) < 0) {
        rv = -LUM_EIO;
        lum_errf(err, "rename " META_TMP " to " META_FILE ": %s", strerror(errno));
        goto err_unlink_tmp;
    }
    if (sys_fsync_dir(m->sys, m->dirfd) < 0) {
        /* The rename may or may not be durable: the page cache can't be trusted. */
        lum_errf(err, "fsync data_dir after creating " META_FILE ": %s", strerror(errno));
        close(fd);
        return -LUM_EIO;
    }
    m->fd = fd;
    m->durable_slot = 0;
    m->durable_seq = 1;
    m->dirty = false;
    m->hs = *hs;
    m->durable_hs = *hs;
    return 0;

err_unlink_tmp:
    close(fd);
    unlinkat(m->dirfd, META_TMP, 0);
    return rv;
}

int meta_write(struct meta *m, const struct raft_hard_state *hs, struct lum_err *err)
{
    if (m->fd < 0)
        return meta_create(m, hs, err);
    LUM_ASSERT(m->durable_slot == 0 || m->durable_slot == 1);
    int slot = 1 - m->durable_slot;
    uint64_t off = (uint64_t)slot * META_SLOT_SIZE;
    uint8_t p[META_SLOT_SIZE];
    meta_encode(p, m->durable_seq + 1, hs);
    if (sys_pwrite_all(m->sys, m->fd, p, sizeof p, off) < 0) {
        int errnum = errno;
        lum_errf(err, "write " META_FILE " at offset %" PRIu64 ": %s", off, strerror(errnum));
        /* The slot may be torn, so a pending write is lost with it: never sync it. */
        m->dirty = false;
        m->hs = m->durable_hs;
        return sys_error(errnum);
    }
    m->dirty = true;
    m->hs = *hs;
    return 0;
}

int meta_sync(struct meta *m, struct lum_err *err)
{
    if (!m->dirty)
        return 0;
    if (m->sys->fdatasync(m->fd) < 0) {
        lum_errf(err, "fdatasync " META_FILE ": %s", strerror(errno));
        return -LUM_EIO;
    }
    m->durable_slot = 1 - m->durable_slot;
    m->durable_seq++;
    m->durable_hs = m->hs;
    m->dirty = false;
    return 0;
}

bool meta_dirty(const struct meta *m)
{
    return m->dirty;
}

void meta_hard_state(const struct meta *m, struct raft_hard_state *hs_out)
{
    *hs_out = m->hs;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    if (m->fd >= 0)
        close(m->fd);
    free(m);
}
