/* The log on disk: segments, append, conflict truncation, recovery (src/storage/wal.c,
 * src/storage/segment.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "luminous/storage.h"
#include "storage_test.h"

#define HEADER_SIZE 4096u
#define SEG1        "log/00000000000000000001.seg"

/* Bytes an entry's record takes: 32-byte header, payload, zeros to a multiple of 8. */
static uint64_t rec_size(uint32_t len)
{
    return (32u + (uint64_t)len + 7) & ~(uint64_t)7;
}

/* Offset of record k of the segment at path, found by walking the records before it (as
 * the format comment in segment.c says, independently of the code). */
static uint64_t rec_off(const char *path, uint32_t k)
{
    uint64_t off = HEADER_SIZE;
    for (uint32_t i = 0; i < k; i++) {
        uint8_t h[8];
        storage_test_read(path, off, h, sizeof h);
        off += rec_size(lum_get_u32(h + 4));
    }
    return off;
}

/* Size of a segment holding entries first..first+n-1 as storage_test_entry makes them. */
static uint64_t seg_size(uint64_t first, uint32_t n)
{
    uint64_t size = HEADER_SIZE;
    for (uint64_t i = first; i < first + n; i++)
        size += rec_size(storage_test_entry_len(i));
    return size;
}

static const char *fmt(const char *f, uint64_t v)
{
    static char buf[128];
    snprintf(buf, sizeof buf, f, v);
    return buf;
}

static char *dir;
static int dirfd_;

static void setup(void)
{
    dir = storage_test_mkdtemp();
    dirfd_ = storage_test_open_dir(dir);
}

static void teardown(void)
{
    close(dirfd_);
    storage_test_rmdir(dir);
}

TestSuite(log, .init = setup, .fini = teardown);

static struct storage_options opts_with(uint32_t segment_entries)
{
    struct storage_options o;
    storage_options_default(&o);
    o.segment_entries = segment_entries;
    return o;
}

static struct wal *open_ok(uint32_t segment_entries)
{
    struct storage_options o = opts_with(segment_entries);
    struct wal *w = NULL;
    struct lum_err err = {{0}};
    int rv = wal_open(dirfd_, &o, &w, &err);
    cr_assert_eq(rv, 0, "wal_open: %s (%s)", lum_strerror(rv), err.msg);
    return w;
}

static int open_err(uint32_t segment_entries, struct lum_err *err)
{
    struct storage_options o = opts_with(segment_entries);
    struct wal *w = NULL;
    memset(err, 0, sizeof *err);
    int rv = wal_open(dirfd_, &o, &w, err);
    if (rv == 0)
        wal_close(w);
    else
        cr_assert_null(w);
    return rv;
}

static void append_ok(struct wal *w, uint64_t first, uint32_t n, uint64_t term)
{
    struct raft_entry *es = storage_test_entries(first, n, term);
    struct lum_err err = {{0}};
    int rv = wal_append(w, es, n, &err);
    cr_assert_eq(rv, 0, "wal_append %" PRIu64 "+%u: %s (%s)", first, n, lum_strerror(rv),
                 err.msg);
    free(es);
}

static void sync_ok(struct wal *w)
{
    struct lum_err err = {{0}};
    cr_assert_eq(wal_sync(w, &err), 0, "%s", err.msg);
}

/* The log holds exactly [first, last] and entry i has term terms_of(i). */
static void expect_log(struct wal *w, uint64_t first, uint64_t last,
                       uint64_t (*term_of)(uint64_t))
{
    cr_assert_eq(wal_first_index(w), first);
    cr_assert_eq(wal_last_index(w), last, "last index %" PRIu64 ", expected %" PRIu64,
                 wal_last_index(w), last);
    struct raft_entry *got = malloc(sizeof *got), *want = malloc(sizeof *want);
    for (uint64_t i = first; i <= last; i++) {
        struct lum_err err = {{0}};
        int rv = wal_entry(w, i, got, &err);
        cr_assert_eq(rv, 0, "entry %" PRIu64 ": %s", i, err.msg);
        storage_test_entry(want, i, term_of(i));
        cr_assert(storage_test_entry_equal(got, want), "entry %" PRIu64 " differs", i);
        uint64_t t;
        cr_assert_eq(wal_term(w, i, &t), 0);
        cr_assert_eq(t, term_of(i));
    }
    cr_assert_eq(wal_last_term(w), last >= first ? term_of(last) : 0);
    free(got);
    free(want);
}

static uint64_t term_one(uint64_t i) { (void)i; return 1; }
static uint64_t term_by_tens(uint64_t i) { return 1 + (i - 1) / 10; }

/* Appends first..first+n-1 in one call, entry i with term term_of(i). */
static void append_terms(struct wal *w, uint64_t first, uint32_t n,
                         uint64_t (*term_of)(uint64_t))
{
    struct raft_entry *es = storage_test_entries(first, n, 1);
    for (uint32_t i = 0; i < n; i++)
        storage_test_entry(&es[i], first + i, term_of(first + i));
    struct lum_err err = {{0}};
    int rv = wal_append(w, es, n, &err);
    cr_assert_eq(rv, 0, "wal_append %" PRIu64 "+%u: %s (%s)", first, n, lum_strerror(rv),
                 err.msg);
    free(es);
}

/* Encodes record k the way the format comment in segment.c says, independently of it. */
static void write_raw_slot(const char *path, uint64_t k, uint64_t index, uint64_t term,
                           uint32_t len, uint8_t fill)
{
    uint8_t s[RAFT_ENTRY_SIZE] = {0};
    lum_put_u32(s + 4, len);
    lum_put_u64(s + 8, term);
    lum_put_u64(s + 16, index);
    lum_put_u16(s + 24, 64);
    memset(s + 32, fill, len);
    lum_put_u32(s, lum_crc32c(0, s + 4, 28 + len));
    storage_test_write(path, rec_off(path, (uint32_t)k), s, 32 + len);
}

Test(log, opens_empty_and_creates_its_directory)
{
    struct wal *w = open_ok(8192);
    cr_assert_eq(wal_first_index(w), 1);
    cr_assert_eq(wal_last_index(w), 0);
    cr_assert_eq(wal_last_term(w), 0);
    cr_assert(storage_test_file_exists(storage_test_path(dir, "log")));
    uint64_t t = 99;
    cr_assert_eq(wal_term(w, 0, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(wal_term(w, 1, &t), -LUM_EINVAL);
    struct raft_entry *e = malloc(sizeof *e);
    cr_assert_eq(wal_entry(w, 1, e, NULL), -LUM_EINVAL);
    free(e);
    sync_ok(w);
    wal_close(w);
}

Test(log, appends_reads_and_reopens)
{
    struct wal *w = open_ok(8192);
    uint64_t next = 1;
    for (uint32_t n = 1; next <= 100; n = n * 2 + 1) {
        uint32_t m = next + n - 1 > 100 ? (uint32_t)(101 - next) : n;
        append_terms(w, next, m, term_by_tens); /* batches that span term changes */
        next += m;
    }
    expect_log(w, 1, 100, term_by_tens);
    sync_ok(w);
    wal_close(w);
    w = open_ok(8192);
    expect_log(w, 1, 100, term_by_tens);
    append_terms(w, 101, 9, term_by_tens);
    sync_ok(w);
    wal_close(w);
    w = open_ok(8192);
    expect_log(w, 1, 109, term_by_tens);
    wal_close(w);
    /* Records packed back to back, 8-aligned. */
    cr_assert_eq(storage_test_file_size(storage_test_path(dir, SEG1)), seg_size(1, 109));
    cr_assert_eq(rec_off(storage_test_path(dir, SEG1), 109), seg_size(1, 109));
}

Test(log, answers_term_from_memory)
{
    struct wal *w = open_ok(4);
    append_terms(w, 1, 30, term_by_tens);
    uint64_t t;
    for (uint64_t i = 1; i <= 30; i++) {
        cr_assert_eq(wal_term(w, i, &t), 0);
        cr_assert_eq(t, term_by_tens(i));
    }
    cr_assert_eq(wal_term(w, 0, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(wal_term(w, 31, &t), -LUM_EINVAL);
    struct raft_log_store store;
    wal_log_store(w, &store);
    cr_assert_eq(store.term(store.ctx, 17, &t), 0);
    cr_assert_eq(t, 2);
    struct raft_entry *e = malloc(sizeof *e), *want = malloc(sizeof *want);
    cr_assert_eq(store.entry(store.ctx, 26, e), 0);
    storage_test_entry(want, 26, 3);
    cr_assert(storage_test_entry_equal(e, want));
    free(e);
    free(want);
    wal_close(w);
}

Test(log, truncates_conflicting_suffix_within_a_segment)
{
    struct wal *w = open_ok(8192);
    append_ok(w, 1, 20, 1);
    append_ok(w, 15, 3, 2);
    cr_assert_eq(wal_last_index(w), 17);
    sync_ok(w);
    wal_close(w);
    cr_assert_eq(storage_test_file_size(storage_test_path(dir, SEG1)), seg_size(1, 17));
    w = open_ok(8192);
    uint64_t t;
    for (uint64_t i = 1; i <= 17; i++) {
        cr_assert_eq(wal_term(w, i, &t), 0);
        cr_assert_eq(t, i >= 15 ? 2u : 1u);
    }
    struct raft_entry *e = malloc(sizeof *e), *want = malloc(sizeof *want);
    cr_assert_eq(wal_entry(w, 16, e, NULL), 0);
    storage_test_entry(want, 16, 2);
    cr_assert(storage_test_entry_equal(e, want));
    /* Replacing the very first entry removes the segment and starts a new one. */
    append_ok(w, 1, 2, 3);
    cr_assert_eq(wal_last_index(w), 2);
    cr_assert_eq(wal_entry(w, 2, e, NULL), 0);
    storage_test_entry(want, 2, 3);
    cr_assert(storage_test_entry_equal(e, want));
    free(e);
    free(want);
    wal_close(w);
}

static uint64_t term_after_conflicts(uint64_t i)
{
    if (i <= 10)
        return 1;
    return i <= 12 ? 3 : 4;
}

Test(log, truncates_conflicting_suffix_across_segment_boundaries)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 40, 1); /* segments 1, 9, 17, 25, 33 */
    sync_ok(w);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 5);
    append_ok(w, 11, 2, 3); /* conflict inside segment 9: 17, 25, 33 go */
    cr_assert_eq(wal_last_index(w), 12);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 2);
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 17)));
    append_ok(w, 13, 20, 4); /* new segments 17, 25 */
    sync_ok(w);
    wal_close(w);
    w = open_ok(8);
    expect_log(w, 1, 32, term_after_conflicts);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 4);
    /* A conflict at a segment's first index removes that segment too. */
    append_ok(w, 9, 1, 5);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 2);
    cr_assert_eq(wal_last_index(w), 9);
    uint64_t t;
    cr_assert_eq(wal_term(w, 9, &t), 0);
    cr_assert_eq(t, 5);
    sync_ok(w);
    wal_close(w);
    w = open_ok(8);
    cr_assert_eq(wal_last_index(w), 9);
    cr_assert_eq(wal_last_term(w), 5);
    wal_close(w);
}

/* Builds 1..10 (term 1) in a fresh log and returns the offset and used size of record 9. */
static void build_ten(uint64_t *off_out, uint64_t *used_out)
{
    struct wal *w = open_ok(8192);
    append_ok(w, 1, 10, 1);
    sync_ok(w);
    wal_close(w);
    *off_out = rec_off(storage_test_path(dir, SEG1), 9);
    *used_out = 32 + storage_test_entry_len(10);
}

Test(log, cuts_torn_tail_at_every_offset)
{
    cr_assert_gt(storage_test_entry_len(10), 0);
    uint64_t off, used;
    build_ten(&off, &used);
    char *saved = strdup(storage_test_path(dir, "saved.seg"));
    char *seg = strdup(storage_test_path(dir, SEG1));
    storage_test_copy(seg, saved);
    for (uint64_t cut = 0; cut <= used; cut++) {
        storage_test_copy(saved, seg);
        storage_test_truncate(seg, off + cut);
        struct wal *w = open_ok(8192);
        uint64_t last = cut == used ? 10 : 9;
        cr_assert_eq(wal_last_index(w), last, "cut at %" PRIu64 ": last %" PRIu64, cut,
                     wal_last_index(w));
        expect_log(w, 1, last, term_one);
        if (cut < used)
            cr_assert_eq(storage_test_file_size(seg), off, "cut at %" PRIu64, cut);
        /* The log goes on from there. */
        append_ok(w, last + 1, 2, 2);
        wal_close(w);
        w = open_ok(8192);
        cr_assert_eq(wal_last_index(w), last + 2);
        wal_close(w);
    }
    free(saved);
    free(seg);
}

Test(log, cuts_last_record_with_a_flipped_byte_as_torn_tail)
{
    uint64_t off, used;
    build_ten(&off, &used);
    char *saved = strdup(storage_test_path(dir, "saved.seg"));
    char *seg = strdup(storage_test_path(dir, SEG1));
    storage_test_copy(seg, saved);
    for (uint64_t b = 0; b < used; b++) {
        storage_test_copy(saved, seg);
        storage_test_flip(seg, off + b);
        struct wal *w = open_ok(8192);
        cr_assert_eq(wal_last_index(w), 9, "flip at %" PRIu64, b);
        wal_close(w);
    }
    free(saved);
    free(seg);
}

Test(log, cuts_zeros_at_tail)
{
    uint64_t off, used;
    build_ten(&off, &used);
    const char *seg = storage_test_path(dir, SEG1);
    storage_test_truncate(seg, seg_size(1, 10) + 3 * 4096 + 100); /* size outlived data */
    struct wal *w = open_ok(8192);
    expect_log(w, 1, 10, term_one);
    wal_close(w);
    cr_assert_eq(storage_test_file_size(storage_test_path(dir, SEG1)), seg_size(1, 10));
}

Test(log, refuses_bad_record_followed_by_good_one)
{
    uint64_t off, used;
    build_ten(&off, &used);
    char *seg = strdup(storage_test_path(dir, SEG1));
    uint64_t off2 = rec_off(seg, 2), off4 = rec_off(seg, 4), off5 = rec_off(seg, 5);
    storage_test_flip(seg, off4 + 40); /* entry 5's payload */
    struct lum_err err;
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, fmt(SEG1 " at offset %" PRIu64 ":", off4)) != NULL, "%s",
              err.msg);
    cr_assert(strstr(err.msg, "checksum mismatch") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, fmt("offset %" PRIu64 ":", off5)) != NULL, "%s", err.msg);
    storage_test_flip(seg, off4 + 40);
    /* A never-written (zero) record before good ones is refused too. */
    uint8_t zeros[32] = {0};
    storage_test_write(seg, off2, zeros, sizeof zeros);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, fmt("at offset %" PRIu64 ": record never written", off2)) != NULL,
              "%s", err.msg);
    free(seg);
}

Test(log, refuses_bad_record_followed_by_good_one_in_a_later_segment)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 12, 1);
    wal_close(w);
    uint64_t off7 = rec_off(storage_test_seg_path(dir, 1), 7);
    storage_test_flip(storage_test_seg_path(dir, 1), off7 + 5); /* entry 8's len */
    struct lum_err err;
    cr_assert_eq(open_err(8, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, fmt("log/00000000000000000001.seg at offset %" PRIu64 ":", off7))
              != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "log/00000000000000000009.seg offset 4096") != NULL, "%s",
              err.msg);
}

Test(log, cuts_torn_end_of_full_segment_when_the_next_is_empty)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 12, 1);
    wal_close(w);
    storage_test_truncate(storage_test_seg_path(dir, 9), HEADER_SIZE + 10);
    storage_test_flip(storage_test_seg_path(dir, 1), rec_off(storage_test_seg_path(dir, 1), 7) + 33);
    w = open_ok(8);
    expect_log(w, 1, 7, term_one);
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 9)));
    append_ok(w, 8, 13, 2);
    wal_close(w);
    w = open_ok(8);
    cr_assert_eq(wal_last_index(w), 20);
    wal_close(w);
}

Test(log, keeps_an_empty_tail_segment)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 9, 1);
    wal_close(w);
    storage_test_truncate(storage_test_seg_path(dir, 9), HEADER_SIZE + 7);
    w = open_ok(8);
    expect_log(w, 1, 8, term_one);
    cr_assert(storage_test_file_exists(storage_test_seg_path(dir, 9)));
    append_ok(w, 9, 3, 1);
    wal_close(w);
    w = open_ok(8);
    expect_log(w, 1, 11, term_one);
    wal_close(w);
}

Test(log, refuses_segment_with_another_slot_size)
{
    uint64_t off, used;
    build_ten(&off, &used);
    const char *seg = storage_test_path(dir, SEG1);
    uint8_t h[28];
    storage_test_read(seg, 0, h, sizeof h);
    lum_put_u32(h + 12, 8192);
    lum_put_u32(h + 24, lum_crc32c(0, h, 24));
    storage_test_write(seg, 0, h, sizeof h);
    struct lum_err err;
    cr_assert_eq(open_err(8192, &err), -LUM_EVERSION);
    cr_assert(strstr(err.msg, SEG1 ": written with 8192-byte slots") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "RAFT_ENTRY_SIZE = 4096") != NULL, "%s", err.msg);
}

Test(log, refuses_bad_segment_headers)
{
    uint64_t off, used;
    build_ten(&off, &used);
    char *seg = strdup(storage_test_path(dir, SEG1));
    struct lum_err err;
    storage_test_flip(seg, 0);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "bad magic") != NULL, "%s", err.msg);
    storage_test_flip(seg, 0);
    storage_test_flip(seg, 17);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "header fails its checksum") != NULL, "%s", err.msg);
    storage_test_flip(seg, 17);
    uint8_t h[28];
    storage_test_read(seg, 0, h, sizeof h);
    lum_put_u32(h + 8, 7);
    lum_put_u32(h + 24, lum_crc32c(0, h, 24));
    storage_test_write(seg, 0, h, sizeof h);
    cr_assert_eq(open_err(8192, &err), -LUM_EVERSION);
    cr_assert(strstr(err.msg, "version 7") != NULL, "%s", err.msg);
    lum_put_u32(h + 8, 2); /* the current version */
    lum_put_u64(h + 16, 2);
    lum_put_u32(h + 24, lum_crc32c(0, h, 24));
    storage_test_write(seg, 0, h, sizeof h);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "first index 2") != NULL, "%s", err.msg);
    storage_test_truncate(seg, 100);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "shorter than its 4096-byte header") != NULL, "%s", err.msg);
    free(seg);
}

Test(log, refuses_index_discontinuity_and_decreasing_terms)
{
    struct wal *w = open_ok(8192);
    append_ok(w, 1, 10, 5);
    wal_close(w);
    char *seg = strdup(storage_test_path(dir, SEG1));
    struct lum_err err;
    write_raw_slot(seg, 9, 10, 5, 3, 0xAB); /* a valid record, as the format says */
    struct wal *ok = open_ok(8192);
    cr_assert_eq(wal_last_index(ok), 10);
    wal_close(ok);
    write_raw_slot(seg, 9, 11, 5, 3, 0xAB);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "holds index 11, expected 10") != NULL, "%s", err.msg);
    write_raw_slot(seg, 9, 10, 4, 3, 0xAB);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "terms never decrease") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, fmt(SEG1 " at offset %" PRIu64 ":", rec_off(seg, 9))) != NULL,
              "%s", err.msg);
    write_raw_slot(seg, 9, 10, 0, 3, 0xAB);
    cr_assert_eq(open_err(8192, &err), -LUM_ECORRUPT);
    free(seg);
}

Test(log, refuses_missing_segment_between_others)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 40, 1);
    wal_close(w);
    unlink(storage_test_seg_path(dir, 17));
    struct lum_err err;
    cr_assert_eq(open_err(8, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "ends at index 16 but log/00000000000000000025.seg starts at 25")
              != NULL, "%s", err.msg);
}

Test(log, refuses_overlapping_segments)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 16, 1);
    wal_close(w);
    /* A segment 5 with a valid header, as if someone copied one in. */
    storage_test_copy(storage_test_seg_path(dir, 9), storage_test_path(dir, "x"));
    char *five = strdup(storage_test_seg_path(dir, 5));
    storage_test_copy(storage_test_path(dir, "x"), five);
    uint8_t h[28];
    storage_test_read(five, 0, h, sizeof h);
    lum_put_u64(h + 16, 5);
    lum_put_u32(h + 24, lum_crc32c(0, h, 24));
    storage_test_write(five, 0, h, sizeof h);
    struct lum_err err;
    cr_assert_eq(open_err(8, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "overlap") != NULL, "%s", err.msg);
    free(five);
}

Test(log, removes_leftover_temp_segment_and_ignores_strangers)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 3, 1);
    wal_close(w);
    storage_test_copy(storage_test_seg_path(dir, 1),
                      storage_test_path(dir, "log/00000000000000000009.seg.tmp"));
    storage_test_copy(storage_test_seg_path(dir, 1), storage_test_path(dir, "log/README"));
    w = open_ok(8);
    expect_log(w, 1, 3, term_one);
    wal_close(w);
    cr_assert_not(storage_test_file_exists(
        storage_test_path(dir, "log/00000000000000000009.seg.tmp")));
    cr_assert(storage_test_file_exists(storage_test_path(dir, "log/README")));
}

static uint64_t term_of_many(uint64_t i) { return 1 + i / 700; }

Test(log, reopens_after_many_appends_across_several_segments)
{
    uint32_t seed = 12345;
    struct wal *w = open_ok(64);
    uint64_t next = 1;
    while (next <= 5000) {
        seed = seed * 1103515245u + 12345u;
        uint32_t n = 1 + (seed >> 16) % 300;
        if (next + n - 1 > 5000)
            n = (uint32_t)(5001 - next);
        append_terms(w, next, n, term_of_many);
        next += n;
        if ((seed >> 8) % 7 == 0) {
            sync_ok(w);
            wal_close(w);
            w = open_ok(64);
            cr_assert_eq(wal_last_index(w), next - 1);
        }
    }
    sync_ok(w);
    wal_close(w);
    w = open_ok(64);
    expect_log(w, 1, 5000, term_of_many);
    wal_close(w);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), (5000 + 63) / 64);
}

Test(log, keeps_its_segments_when_the_option_changes)
{
    struct wal *w = open_ok(16);
    append_ok(w, 1, 40, 1); /* 1, 17, 33 */
    wal_close(w);
    w = open_ok(4);
    expect_log(w, 1, 40, term_one);
    append_ok(w, 41, 10, 1); /* tail 33 holds 8 > 4: full; then 41, 45, 49 */
    wal_close(w);
    w = open_ok(100);
    expect_log(w, 1, 50, term_one);
    wal_close(w);
    cr_assert(storage_test_file_exists(storage_test_seg_path(dir, 49)));
}

/* ---- ENOSPC: a write budget, then "No space left on device" ------------------------- */

static int64_t space_left = -1; /* bytes; -1: unlimited */

static ssize_t budget_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    if (space_left < 0)
        return pwritev(fd, iov, iovcnt, offset);
    if (space_left == 0) {
        errno = ENOSPC;
        return -1;
    }
    /* Write only what the budget allows: a partial write, as the kernel does. */
    struct iovec cut[1024];
    int n = 0;
    int64_t left = space_left;
    for (int i = 0; i < iovcnt && left > 0; i++) {
        cut[n] = iov[i];
        if ((int64_t)cut[n].iov_len > left)
            cut[n].iov_len = (size_t)left;
        left -= (int64_t)cut[n].iov_len;
        n++;
    }
    ssize_t w = pwritev(fd, cut, n, offset);
    if (w > 0)
        space_left -= w;
    return w;
}

static ssize_t budget_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    struct iovec iov = {(void *)buf, count};
    return budget_pwritev(fd, &iov, 1, offset);
}

static const struct storage_syscalls budget_sys = {
    .pwrite = budget_pwrite,
    .pwritev = budget_pwritev,
    .ftruncate = ftruncate,
    .fdatasync = fdatasync,
    .fsync = fsync,
};

static struct wal *open_budget(uint32_t segment_entries)
{
    struct storage_options o = opts_with(segment_entries);
    o.sys = &budget_sys;
    struct wal *w = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(wal_open(dirfd_, &o, &w, &err), 0, "%s", err.msg);
    return w;
}

Test(log, survives_enospc_and_appends_after_space_returns)
{
    struct wal *w = open_budget(8192);
    append_ok(w, 1, 10, 1);
    const char *seg = storage_test_path(dir, SEG1);
    uint64_t size_before = storage_test_file_size(seg);
    space_left = 3 * rec_size(storage_test_entry_len(11)) + 100;
    struct raft_entry *es = storage_test_entries(11, 10, 2);
    struct lum_err err = {{0}};
    cr_assert_eq(wal_append(w, es, 10, &err), -LUM_ENOSPC);
    cr_assert(strstr(err.msg, "write " SEG1 " at offset ") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "No space left on device") != NULL, "%s", err.msg);
    cr_assert_eq(wal_last_index(w), 10);
    cr_assert_eq(storage_test_file_size(storage_test_path(dir, SEG1)), size_before);
    expect_log(w, 1, 10, term_one);
    space_left = 0; /* still full: fails again, cleanly */
    cr_assert_eq(wal_append(w, es, 10, &err), -LUM_ENOSPC);
    space_left = -1; /* space is back */
    cr_assert_eq(wal_append(w, es, 10, &err), 0, "%s", err.msg);
    sync_ok(w);
    wal_close(w);
    free(es);
    w = open_ok(8192);
    cr_assert_eq(wal_last_index(w), 20);
    cr_assert_eq(wal_last_term(w), 2);
    wal_close(w);
}

Test(log, rolls_back_an_append_that_fails_creating_a_segment)
{
    struct wal *w = open_budget(8);
    append_ok(w, 1, 6, 1);
    uint64_t size_before = storage_test_file_size(storage_test_seg_path(dir, 1));
    /* Room for entries 7 and 8, then the new segment's header does not fit. */
    space_left = (int64_t)(rec_size(storage_test_entry_len(7)) + rec_size(storage_test_entry_len(8)));
    struct raft_entry *es = storage_test_entries(7, 6, 1);
    struct lum_err err = {{0}};
    cr_assert_eq(wal_append(w, es, 6, &err), -LUM_ENOSPC);
    cr_assert(strstr(err.msg, "00000000000000000009.seg.tmp") != NULL, "%s", err.msg);
    cr_assert_eq(wal_last_index(w), 6);
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 9)));
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 1);
    cr_assert_leq(storage_test_file_size(storage_test_seg_path(dir, 1)), seg_size(1, 8));
    cr_assert_geq(storage_test_file_size(storage_test_seg_path(dir, 1)), size_before);
    space_left = -1;
    cr_assert_eq(wal_append(w, es, 6, &err), 0, "%s", err.msg);
    sync_ok(w);
    wal_close(w);
    free(es);
    w = open_ok(8);
    expect_log(w, 1, 12, term_one);
    wal_close(w);
}

/* ---- the hot path: few system calls per batch ------------------------------------- */

static int pwritev_calls;

static ssize_t counting_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    pwritev_calls++;
    return pwritev(fd, iov, iovcnt, offset);
}

static const struct storage_syscalls counting_sys = {
    .pwrite = pwrite,
    .pwritev = counting_pwritev,
    .ftruncate = ftruncate,
    .fdatasync = fdatasync,
    .fsync = fsync,
};

Test(log, writes_a_batch_with_one_pwritev_per_256_entries)
{
    struct storage_options o = opts_with(8192);
    o.sys = &counting_sys;
    struct wal *w = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(wal_open(dirfd_, &o, &w, &err), 0, "%s", err.msg);
    append_ok(w, 1, 64, 1);
    cr_assert_eq(pwritev_calls, 1);
    append_ok(w, 65, 1000, 1);
    cr_assert_eq(pwritev_calls, 1 + 4);
    sync_ok(w);
    wal_close(w);
    w = open_ok(8192);
    expect_log(w, 1, 1064, term_one);
    wal_close(w);
}

/* ---- arbitrary bytes on disk never crash recovery ----------------------------------- */

Test(log, never_crashes_on_damaged_segments)
{
    struct wal *w = open_ok(8);
    append_ok(w, 1, 20, 1);
    wal_close(w);
    const uint64_t firsts[3] = {1, 9, 17};
    char *saved[3], *segs[3];
    for (int i = 0; i < 3; i++) {
        segs[i] = strdup(storage_test_seg_path(dir, firsts[i]));
        char name[32];
        snprintf(name, sizeof name, "saved%d", i);
        saved[i] = strdup(storage_test_path(dir, name));
        storage_test_copy(segs[i], saved[i]);
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int outcomes[4] = {0};
    for (int iter = 0; iter < 400; iter++) {
        for (int i = 0; i < 3; i++)
            storage_test_copy(saved[i], segs[i]);
        int damage = 1 + (int)(x % 4);
        for (int d = 0; d < damage; d++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            const char *seg = segs[x % 3];
            uint64_t size = storage_test_file_size(seg);
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            if (x % 8 == 0) {
                storage_test_truncate(seg, x % (size + 1));
            } else if (size > 0) {
                uint8_t b = (uint8_t)(x >> 24);
                storage_test_write(seg, (x >> 32) % size, &b, 1);
            }
        }
        struct lum_err err;
        struct storage_options o = opts_with(8);
        w = NULL;
        int rv = wal_open(dirfd_, &o, &w, &err);
        cr_assert(rv == 0 || rv == -LUM_ECORRUPT || rv == -LUM_EVERSION,
                  "iteration %d: %s", iter, lum_strerror(rv));
        outcomes[rv == 0 ? 0 : rv == -LUM_ECORRUPT ? 1 : 2]++;
        if (rv == 0) { /* whatever survived is exactly what was written */
            expect_log(w, 1, wal_last_index(w), term_one);
            wal_close(w);
        }
        /* recovery may have cut or removed files: restore them all */
        for (int i = 0; i < 3; i++)
            if (!storage_test_file_exists(segs[i]))
                storage_test_copy(saved[i], segs[i]);
    }
    cr_log_info("damaged logs: %d opened, %d corrupt, %d version", outcomes[0], outcomes[1],
                outcomes[2]);
    cr_assert_gt(outcomes[0], 0);
    cr_assert_gt(outcomes[1], 0);
    for (int i = 0; i < 3; i++) {
        free(saved[i]);
        free(segs[i]);
    }
}
