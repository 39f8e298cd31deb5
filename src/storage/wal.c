/* The Raft log on disk: an ordered run of segments in data_dir/log/, recovered at open,
 * appended to in batches, read by index, with every entry's term kept in memory.
 *
 * Invariants: segments are sorted by first index and contiguous (each starts where the
 * previous one ends); only the last (the tail) is appended to; segments that are not
 * durable yet form a suffix starting at dirty_from. A new segment starts when the tail
 * holds segment_entries entries, so compaction can later delete whole segments below an
 * index (drop segs[0..k) and raise first_index). Recovery rules are in wal_open's contract
 * (storage.h) and the slot format in segment.c. */
#include <dirent.h>
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

#define WAL_DIR        "log"
#define WAL_SCAN_BYTES (1u << 20) /* read per pread during recovery */

struct wal {
    int       dirfd;            /* data_dir, borrowed                                */
    int       logfd;            /* data_dir/log                                      */
    const struct storage_syscalls *sys;
    uint32_t  segment_entries;  /* entries per new segment                           */
    struct seg *segs;           /* sorted by first_index, contiguous                 */
    uint32_t  segs_count, segs_cap;
    uint32_t  dirty_from;       /* segs[dirty_from..] may hold unsynced appends      */
    bool      dir_dirty;        /* segments created or removed since the last sync   */
    bool      broken;           /* a failed append could not be undone: refuse more  */
    uint64_t  first_index;      /* first entry held                                  */
    uint64_t  last_index;       /* last entry held; first_index - 1 when empty       */
    struct seg_scratch scratch; /* iovecs and slot headers for appends               */
    struct seg *doomed;         /* compacted away, files not deleted yet (trim_step) */
    uint32_t  doomed_count, doomed_cap;
};

uint64_t wal_first_index(const struct wal *w) { return w->first_index; }
uint64_t wal_last_index(const struct wal *w) { return w->last_index; }

/* The segment holding index (first_index <= index <= last_index). */
static struct seg *wal_find(const struct wal *w, uint64_t index)
{
    LUM_ASSERT(index >= w->first_index);
    LUM_ASSERT(index <= w->last_index);
    LUM_ASSERT(w->segs_count > 0);
    uint32_t lo = 0, hi = w->segs_count - 1;
    if (index >= w->segs[hi].first_index) {
        lo = hi; /* the tail: the common case */
    } else {
        while (lo < hi) { /* the last segment with first_index <= index */
            uint32_t mid = lo + (hi - lo + 1) / 2;
            if (w->segs[mid].first_index <= index)
                lo = mid;
            else
                hi = mid - 1;
        }
    }
    struct seg *s = &w->segs[lo];
    LUM_ASSERT(index - s->first_index < s->count);
    return s;
}

uint64_t wal_last_term(const struct wal *w)
{
    if (w->last_index < w->first_index)
        return 0;
    const struct seg *s = wal_find(w, w->last_index);
    return s->terms[w->last_index - s->first_index];
}

int wal_term(const struct wal *w, uint64_t index, uint64_t *term_out)
{
    if (index == 0) {
        *term_out = 0;
        return 0;
    }
    if (index < w->first_index)
        return -LUM_ECOMPACTED;
    if (index > w->last_index)
        return -LUM_EINVAL;
    const struct seg *s = wal_find(w, index);
    *term_out = s->terms[index - s->first_index];
    return 0;
}

int wal_entry(struct wal *w, uint64_t index, struct raft_entry *out, struct lum_err *err)
{
    if (index == 0 || index > w->last_index) {
        lum_errf(err, "read log entry %" PRIu64 ": past the last index %" PRIu64, index,
                 w->last_index);
        return -LUM_EINVAL;
    }
    if (index < w->first_index) {
        lum_errf(err, "read log entry %" PRIu64 ": compacted (first index %" PRIu64 ")",
                 index, w->first_index);
        return -LUM_ECOMPACTED;
    }
    return seg_read(wal_find(w, index), index, out, err);
}

static int wal_grow(struct wal *w, struct lum_err *err)
{
    if (w->segs_count < w->segs_cap)
        return 0;
    uint32_t cap = w->segs_cap ? w->segs_cap * 2 : 16;
    struct seg *segs = realloc(w->segs, (size_t)cap * sizeof *segs);
    if (!segs) {
        lum_errf(err, "log: out of memory for %" PRIu32 " segments", cap);
        return -LUM_ENOMEM;
    }
    w->segs = segs;
    w->segs_cap = cap;
    return 0;
}

static int wal_fsync_dir(struct wal *w, struct lum_err *err)
{
    if (sys_fsync_dir(w->sys, w->logfd) < 0) {
        lum_errf(err, "fsync " WAL_DIR "/: %s", strerror(errno));
        return -LUM_EIO;
    }
    w->dir_dirty = false;
    return 0;
}

static int wal_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The first indexes of the segments in log/, sorted; removes leftover temp files. */
static int wal_list(struct wal *w, uint64_t **firsts_out, uint32_t *count_out,
                    struct lum_err *err)
{
    int fd = dup(w->logfd);
    if (fd < 0) {
        lum_errf(err, "list " WAL_DIR "/: %s", strerror(errno));
        return -LUM_EIO;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        lum_errf(err, "list " WAL_DIR "/: %s", strerror(errno));
        close(fd);
        return -LUM_EIO;
    }
    uint64_t *firsts = NULL;
    uint32_t count = 0, cap = 0;
    bool removed = false;
    int rv = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            /* skip */
        } else if (seg_parse_name(de->d_name, &first)) {
            if (count == cap) {
                uint32_t ncap = cap ? cap * 2 : 64;
                uint64_t *n = realloc(firsts, (size_t)ncap * sizeof *n);
                if (!n) {
                    lum_errf(err, "list " WAL_DIR "/: out of memory");
                    rv = -LUM_ENOMEM;
                    goto out;
                }
                firsts = n;
                cap = ncap;
            }
            firsts[count++] = first;
        } else if (seg_is_temp_name(de->d_name)) {
            if (unlinkat(w->logfd, de->d_name, 0) < 0) {
                lum_errf(err, "unlink " WAL_DIR "/%s: %s", de->d_name, strerror(errno));
                rv = -LUM_EIO;
                goto out;
            }
            lum_info("removed " WAL_DIR "/%s, left by an interrupted segment creation",
                     de->d_name);
            removed = true;
        } else {
            lum_warn(WAL_DIR "/%s: not a log segment; ignored", de->d_name);
        }
        errno = 0;
    }
    if (errno != 0) {
        lum_errf(err, "list " WAL_DIR "/: %s", strerror(errno));
        rv = -LUM_EIO;
        goto out;
    }
    if (removed && (rv = wal_fsync_dir(w, err)) != 0)
        goto out;
    if (count > 1)
        qsort(firsts, count, sizeof *firsts, wal_cmp_u64);
out:
    closedir(d);
    if (rv != 0) {
        free(firsts);
        return rv;
    }
    *firsts_out = firsts;
    *count_out = count;
    return 0;
}

/* Where recovery found the first bad slot (or a segment ending early). */
struct wal_bad {
    bool     found;
    uint32_t seg;           /* segs[seg] keeps its first count entries */
    uint32_t count;
    uint64_t offset;
    char     why[SEG_WHY_SIZE + 64];
};

/* Opens and checks every segment; cuts a torn tail. */
static int wal_recover(struct wal *w, struct lum_err *err)
{
    uint64_t *firsts;
    uint32_t n;
    int rv = wal_list(w, &firsts, &n, err);
    if (rv != 0)
        return rv;
    uint8_t *buf = malloc(WAL_SCAN_BYTES);
    if (!buf) {
        lum_errf(err, "recover " WAL_DIR "/: out of memory");
        rv = -LUM_ENOMEM;
        goto out;
    }
    struct wal_bad bad = {0};
    uint64_t prev_term = 0;
    for (uint32_t i = 0; i < n; i++) {
        if ((rv = wal_grow(w, err)) != 0)
            goto out;
        struct seg *s = &w->segs[w->segs_count];
        rv = seg_open(w->logfd, firsts[i], w->segment_entries, s, err);
        if (rv != 0)
            goto out;
        w->segs_count++;
        if (i > 0 && !bad.found) {
            const struct seg *p = &w->segs[i - 1];
            uint64_t expect = p->first_index + p->count;
            if (s->first_index < expect) {
                lum_errf(err, "%s starts at index %" PRIu64 ", but %s holds entries up to %"
                         PRIu64 ": the segments overlap", s->name, s->first_index, p->name,
                         expect - 1);
                rv = -LUM_ECORRUPT;
                goto out;
            }
            if (s->first_index > expect) {
                bad.found = true;
                bad.seg = i - 1;
                bad.count = p->count;
                bad.offset = p->size;
                snprintf(bad.why, sizeof bad.why, "ends at index %" PRIu64 " but %s starts at %"
                         PRIu64, expect - 1, s->name, s->first_index);
            }
        }
        struct seg_scan scan;
        rv = seg_scan(s, prev_term, bad.found, buf, WAL_SCAN_BYTES,
                      &scan, err);
        if (rv != 0)
            goto out;
        if (!bad.found) {
            if (s->count > 0)
                prev_term = s->terms[s->count - 1];
            if (scan.bad) {
                bad.found = true;
                bad.seg = i;
                bad.count = s->count;
                bad.offset = scan.bad_offset;
                snprintf(bad.why, sizeof bad.why, "%s", scan.bad_why);
            }
        }
        if (scan.good_after_bad) {
            lum_errf(err, "%s at offset %" PRIu64 ": %s, but a valid entry follows at %s "
                     "offset %" PRIu64 ": the log is corrupt (not a torn write), refusing to "
                     "start", w->segs[bad.seg].name, bad.offset, bad.why, s->name,
                     scan.good_offset);
            rv = -LUM_ECORRUPT;
            goto out;
        }
    }
    if (bad.found) {
        struct seg *s = &w->segs[bad.seg];
        lum_warn("%s at offset %" PRIu64 ": %s: a torn write; cutting the log after index %"
                 PRIu64, s->name, bad.offset, bad.why, s->first_index + bad.count - 1);
        if ((rv = seg_truncate(s, bad.count, w->sys, err)) != 0)
            goto out;
        while (w->segs_count > bad.seg + 1) {
            struct seg *t = &w->segs[--w->segs_count];
            lum_warn("removing %s: it follows the torn write", t->name);
            if ((rv = seg_remove(w->logfd, t, err)) != 0)
                goto out;
            w->dir_dirty = true;
        }
        if (w->dir_dirty && (rv = wal_fsync_dir(w, err)) != 0)
            goto out;
    }
    if (w->segs_count > 0) {
        const struct seg *t = &w->segs[w->segs_count - 1];
        w->first_index = w->segs[0].first_index;
        w->last_index = t->first_index + t->count - 1;
    }
out:
    free(buf);
    free(firsts);
    return rv;
}

int wal_open(int data_dirfd, const struct storage_options *opts, struct wal **wal_out,
             struct lum_err *err)
{
    struct storage_options defaults;
    storage_options_default(&defaults);
    if (!opts)
        opts = &defaults;
    LUM_ASSERT(opts->segment_entries >= 1);
    LUM_ASSERT(opts->segment_entries <= STORAGE_SEGMENT_ENTRIES_MAX);
    struct wal *w = calloc(1, sizeof *w);
    if (!w) {
        lum_errf(err, "open " WAL_DIR "/: out of memory");
        return -LUM_ENOMEM;
    }
    w->dirfd = data_dirfd;
    w->sys = sys_table(opts);
    w->segment_entries = opts->segment_entries;
    w->first_index = 1;
    w->last_index = 0;
    int rv;
    if (mkdirat(data_dirfd, WAL_DIR, 0755) == 0) {
        if (sys_fsync_dir(w->sys, data_dirfd) < 0) {
            lum_errf(err, "fsync data_dir after creating " WAL_DIR "/: %s", strerror(errno));
            rv = -LUM_EIO;
            goto err_free;
        }
    } else if (errno != EEXIST) {
        rv = sys_error(errno);
        lum_errf(err, "create " WAL_DIR "/: %s", strerror(errno));
        goto err_free;
    }
    w->logfd = openat(data_dirfd, WAL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->logfd < 0) {
        lum_errf(err, "open " WAL_DIR "/: %s", strerror(errno));
        rv = -LUM_EIO;
        goto err_free;
    }
    rv = wal_recover(w, err);
    if (rv != 0) {
        wal_close(w);
        return rv;
    }
    w->dirty_from = w->segs_count;
    *wal_out = w;
    return 0;

err_free:
    free(w);
    return rv;
}

/* Removes every entry from index on (first_index <= index <= last_index), durably. */
static int wal_truncate_from(struct wal *w, uint64_t index, struct lum_err *err)
{
    int rv;
    bool removed = false;
    while (w->segs_count > 0 && w->segs[w->segs_count - 1].first_index >= index) {
        struct seg *s = &w->segs[w->segs_count - 1];
        rv = seg_remove(w->logfd, s, err);
        w->segs_count--;
        if (rv != 0) {
            w->broken = true;
            return rv;
        }
        removed = true;
    }
    if (w->dirty_from > w->segs_count)
        w->dirty_from = w->segs_count;
    /* Durable before anything new is written: a crash must not resurrect removed entries
     * after the new ones. */
    if (removed && (rv = wal_fsync_dir(w, err)) != 0) {
        w->broken = true;
        return rv;
    }
    if (w->segs_count > 0) {
        struct seg *s = &w->segs[w->segs_count - 1];
        if (index - s->first_index < s->count &&
            (rv = seg_truncate(s, (uint32_t)(index - s->first_index), w->sys, err)) != 0) {
            w->broken = true;
            return rv;
        }
    }
    w->last_index = index - 1;
    return 0;
}

/* Undoes a failed append: removes the segments it created and cuts the tail back. */
static void wal_rollback(struct wal *w, uint32_t segs_count, uint32_t tail_count,
                         struct lum_err *err)
{
    struct lum_err ignored;
    while (w->segs_count > segs_count) {
        struct seg *s = &w->segs[--w->segs_count];
        if (seg_remove(w->logfd, s, &ignored) != 0)
            w->broken = true;
        w->dir_dirty = true;
    }
    if (w->dirty_from > w->segs_count)
        w->dirty_from = w->segs_count;
    if (segs_count > 0) {
        struct seg *t = &w->segs[segs_count - 1];
        if (t->broken) {
            w->broken = true;
        } else if (t->count > tail_count && seg_truncate(t, tail_count, w->sys, &ignored) != 0) {
            w->broken = true;
        }
    }
    if (w->broken) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used,
                 "; the append could not be undone, the log refuses further appends");
    }
}

int wal_append(struct wal *w, const struct raft_entry *entries, uint32_t n,
               struct lum_err *err)
{
    struct lum_err local;
    if (!err)
        err = &local;
    if (w->broken) {
        lum_errf(err, "append to " WAL_DIR "/: an earlier failure left the log unusable");
        return -LUM_EIO;
    }
    if (n == 0)
        return 0;
    uint64_t index = entries[0].index;
    LUM_ASSERT(index >= w->first_index);
    LUM_ASSERT(index <= w->last_index + 1);
    for (uint32_t i = 0; i < n; i++) {
        LUM_ASSERT(entries[i].index == index + i);
        LUM_ASSERT(entries[i].term >= 1);
        LUM_ASSERT(i == 0 || entries[i].term >= entries[i - 1].term);
        LUM_ASSERT(entries[i].len <= RAFT_PAYLOAD_MAX);
    }
    int rv;
    if (index <= w->last_index && (rv = wal_truncate_from(w, index, err)) != 0)
        return rv;
    LUM_ASSERT(entries[0].term >= wal_last_term(w));

    uint32_t segs_before = w->segs_count;
    uint32_t tail_count = segs_before > 0 ? w->segs[segs_before - 1].count : 0;
    for (uint32_t done = 0; done < n;) {
        struct seg *t = w->segs_count > 0 ? &w->segs[w->segs_count - 1] : NULL;
        if (!t || t->count == t->capacity) {
            if ((rv = wal_grow(w, err)) != 0)
                goto err_rollback;
            rv = seg_create(w->logfd, entries[done].index, w->segment_entries, w->sys,
                            &w->segs[w->segs_count], err);
            if (rv != 0)
                goto err_rollback;
            w->segs_count++;
            w->dir_dirty = true;
            continue;
        }
        LUM_ASSERT(t->first_index + t->count == entries[done].index);
        uint32_t room = t->capacity - t->count;
        uint32_t m = n - done < room ? n - done : room;
        if (w->dirty_from > w->segs_count - 1)
            w->dirty_from = w->segs_count - 1;
        if ((rv = seg_append(t, entries + done, m, &w->scratch, w->sys, err)) != 0)
            goto err_rollback;
        done += m;
    }
    w->last_index = entries[n - 1].index;
    return 0;

err_rollback:
    wal_rollback(w, segs_before, tail_count, err);
    return rv;
}

int wal_sync(struct wal *w, struct lum_err *err)
{
    int rv;
    for (uint32_t i = w->dirty_from; i < w->segs_count; i++)
        if ((rv = seg_sync(&w->segs[i], w->sys, err)) != 0)
            return rv;
    w->dirty_from = w->segs_count;
    if (w->dir_dirty && (rv = wal_fsync_dir(w, err)) != 0)
        return rv;
    return 0;
}

static int wal_store_entry(void *ctx, uint64_t index, struct raft_entry *out)
{
    struct wal *w = ctx;
    if (index < w->first_index)
        return -RAFT_ECOMPACTED;
    LUM_ASSERT(index <= w->last_index);
    struct lum_err err;
    int rv = wal_entry(w, index, out, &err);
    if (rv != 0) {
        lum_error("reading log entry %" PRIu64 " for the core: %s (%s); cannot go on, "
                  "exiting", index, err.msg, lum_strerror(rv));
        exit(1);
    }
    return 0;
}

static int wal_store_term(void *ctx, uint64_t index, uint64_t *term_out)
{
    struct wal *w = ctx;
    if (index != 0 && index < w->first_index)
        return -RAFT_ECOMPACTED;
    LUM_ASSERT(index <= w->last_index);
    int rv = wal_term(w, index, term_out);
    LUM_ASSERT(rv == 0);
    return 0;
}

static int wal_store_type(void *ctx, uint64_t index, uint16_t *type_out)
{
    struct wal *w = ctx;
    if (index < w->first_index)
        return -RAFT_ECOMPACTED;
    LUM_ASSERT(index <= w->last_index);
    const struct seg *s = wal_find(w, index);
    *type_out = s->types[index - s->first_index];
    return 0;
}

void wal_log_store(struct wal *w, struct raft_log_store *out)
{
    out->ctx = w;
    out->entry = wal_store_entry;
    out->term = wal_store_term;
    out->type = wal_store_type;
}

int wal_compact(struct wal *w, uint64_t upto, struct lum_err *err)
{
    uint32_t k = 0;
    while (k + 1 < w->segs_count && w->segs[k].first_index + w->segs[k].count - 1 <= upto)
        k++;
    if (k == 0)
        return 0;
    if (w->doomed_count + k > w->doomed_cap) {
        uint32_t cap = (w->doomed_count + k) * 2;
        struct seg *d = realloc(w->doomed, cap * sizeof *d);
        if (!d) { /* delete them now, stalling, rather than not at all */
            for (uint32_t i = 0; i < k; i++)
                seg_remove(w->logfd, &w->segs[i], err);
            goto dropped;
        }
        w->doomed = d;
        w->doomed_cap = cap;
    }
    memcpy(w->doomed + w->doomed_count, w->segs, k * sizeof *w->segs);
    w->doomed_count += k;
dropped:
    memmove(w->segs, w->segs + k, (w->segs_count - k) * sizeof *w->segs);
    w->segs_count -= k;
    w->dirty_from = w->dirty_from > k ? w->dirty_from - k : 0;
    w->first_index = w->segs[0].first_index;
    return 0; /* no directory fsync: segments reappearing after a crash harm nothing */
}

bool wal_trim_step(struct wal *w, struct lum_err *err, bool *failed_out)
{
    *failed_out = false;
    if (w->doomed_count == 0)
        return false;
    /* oldest first: a crash midway leaves a log that is still contiguous */
    *failed_out = seg_remove(w->logfd, &w->doomed[0], err) != 0;
    memmove(w->doomed, w->doomed + 1, --w->doomed_count * sizeof *w->doomed);
    return w->doomed_count > 0;
}

int wal_reset(struct wal *w, uint64_t index, struct lum_err *err)
{
    /* compacted files first: left behind, they would sit before a gap in the new log */
    bool failed = false;
    while (!failed && wal_trim_step(w, err, &failed))
        ;
    if (failed) {
        w->broken = true;
        return -LUM_EIO;
    }
    while (w->segs_count > 0) {
        int rv = seg_remove(w->logfd, &w->segs[w->segs_count - 1], err);
        w->segs_count--;
        if (rv != 0) {
            w->broken = true;
            return rv;
        }
    }
    w->dirty_from = 0;
    int rv = wal_fsync_dir(w, err);
    if (rv != 0) {
        w->broken = true;
        return rv;
    }
    w->first_index = index + 1;
    w->last_index = index;
    return 0;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->segs_count; i++)
        seg_close(&w->segs[i]);
    for (uint32_t i = 0; i < w->doomed_count; i++) {
        struct lum_err err;
        seg_remove(w->logfd, &w->doomed[i], &err);
    }
    free(w->doomed);
    free(w->segs);
    if (w->logfd >= 0)
        close(w->logfd);
    free(w);
}
