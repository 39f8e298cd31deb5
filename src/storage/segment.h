/* One log segment file (internal to the storage layer; format in segment.c). The wal owns
 * an array of these; each keeps the terms of its entries in memory. */
#ifndef LUMINOUS_STORAGE_SEGMENT_H
#define LUMINOUS_STORAGE_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "luminous/storage.h"

#define SEG_HEADER_SIZE   4096u /* bytes before record 0                               */
#define SEG_VERSION       2u    /* 1: fixed 4 KiB slots; 2: packed records           */
#define SEG_NAME_SIZE     32u   /* "log/" + 20 digits + ".seg" + NUL = 29              */
#define SEG_WRITE_ENTRIES 256u  /* entries per pwritev: 3 iovecs each, under IOV_MAX   */
#define SEG_WHY_SIZE      160u

struct seg {
    int       fd;
    uint64_t  first_index;       /* from the file name, checked against the header   */
    uint32_t  count;             /* entries held: first_index .. first_index+count-1 */
    uint32_t  capacity;          /* entries it may hold; terms[] has this many       */
    uint64_t *terms;             /* terms[k]: term of entry first_index + k          */
    uint64_t *offs;              /* offs[k]: its record's byte offset                */
    uint16_t *types;             /* types[k]: its type (finding MEMBERS at start)    */
    uint64_t  size;              /* file size, bytes                                 */
    uint64_t  tail;              /* where the next record goes: after the last valid  */
    bool      dirty;             /* written since the last seg_sync                  */
    bool      broken;            /* a failed append could not be rolled back         */
    char      name[SEG_NAME_SIZE]; /* "log/NNN.seg" for messages; name + 4 is in log/ */
};

/* Per-wal buffers for seg_append, so the hot path allocates nothing. */
struct seg_scratch {
    uint8_t      headers[SEG_WRITE_ENTRIES][RAFT_ENTRY_HEADER_SIZE];
    struct iovec iov[SEG_WRITE_ENTRIES * 3];
};

/* What seg_scan found besides the valid prefix. */
struct seg_scan {
    bool     bad;                /* a record failed: torn, zero, short or bad crc   */
    uint64_t bad_offset;         /* byte offset of that record                        */
    char     bad_why[SEG_WHY_SIZE];
    bool     good_after_bad;     /* a valid record follows it                         */
    uint64_t good_offset;
};

/* "log/%020llu.seg" */
void seg_name(char name[SEG_NAME_SIZE], uint64_t first_index);

/* True if base (a file name in log/) is "NNNNNNNNNNNNNNNNNNNN.seg" with a usable index. */
bool seg_parse_name(const char *base, uint64_t *first_index_out);

/* True if base is a temp file left by an interrupted seg_create. */
bool seg_is_temp_name(const char *base);

/* Creates an empty segment: header written to a temp file, fdatasync'd, renamed into place
 * (so a segment never has a torn header). The caller must fsync log/ before relying on the
 * name. out is filled (count 0, room for capacity entries). 0, -LUM_EIO, -LUM_ENOSPC,
 * -LUM_ENOMEM. */
int  seg_create(int logfd, uint64_t first_index, uint32_t capacity,
                const struct storage_syscalls *sys, struct seg *out, struct lum_err *err);

/* Opens an existing segment and checks its header; count is 0 until seg_scan. terms gets
 * room for capacity_min entries (seg_scan grows it if the file holds more). 0, -LUM_ECORRUPT, -LUM_EVERSION,
 * -LUM_EIO, -LUM_ENOMEM. */
int  seg_open(int logfd, uint64_t first_index, uint32_t capacity_min, struct seg *out,
              struct lum_err *err);

/* Reads every record using buf as a read window (buf_size >= 2 * RAFT_ENTRY_SIZE). Unless
 * after_bad, sets count, terms and offsets to the valid prefix, which must continue the log
 * (record k holds index first_index + k, terms >= prev_term and >= 1: else -LUM_ECORRUPT)
 * and reports the first bad record, and any valid record at an 8-aligned offset after it as
 * good_after_bad. With after_bad (an earlier segment had a bad record), takes nothing and
 * only reports the first valid record as good_after_bad.
 * 0, -LUM_ECORRUPT, -LUM_EIO. */
int  seg_scan(struct seg *s, uint64_t prev_term, bool after_bad, uint8_t *buf,
              size_t buf_size, struct seg_scan *out, struct lum_err *err);

/* Writes e[0..n) as records count..count+n-1 (count + n <= capacity), one pwritev per
 * SEG_WRITE_ENTRIES. On error the file is truncated back; if that fails too, broken is set.
 * 0, -LUM_EIO, -LUM_ENOSPC. */
int  seg_append(struct seg *s, const struct raft_entry *e, uint32_t n, struct seg_scratch *sc,
                const struct storage_syscalls *sys, struct lum_err *err);

/* Keeps the first count entries (count <= s->count), dropping any bytes after them, and
 * makes that durable (fdatasync) before returning. 0 or -LUM_EIO. */
int  seg_truncate(struct seg *s, uint32_t count, const struct storage_syscalls *sys,
                  struct lum_err *err);

/* Reads and checks the entry at index (first_index <= index < first_index + count).
 * 0, -LUM_ECORRUPT, -LUM_EIO. */
int  seg_read(const struct seg *s, uint64_t index, struct raft_entry *out,
              struct lum_err *err);

/* fdatasync if dirty. 0 or -LUM_EIO. */
int  seg_sync(struct seg *s, const struct storage_syscalls *sys, struct lum_err *err);

/* Closes the file and frees terms. */
void seg_close(struct seg *s);

/* seg_close, then unlinks the file (the caller fsyncs log/). 0 or -LUM_EIO. */
int  seg_remove(int logfd, struct seg *s, struct lum_err *err);

#endif
