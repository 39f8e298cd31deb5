/* Snapshots on disk and what they do to the log: the snapshot file format and its directory
 * (src/storage/snap.c), receiving one from the leader in chunks, log compaction and reset
 * (src/storage/wal.c), and storage_open choosing the snapshot to start from
 * (src/storage/storage.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luminous/storage.h"
#include "storage_test.h"

/* Larger than the writer's 256 KiB buffer, and not a multiple of it or of a page. */
#define BODY_SIZE   (600u * 1024 + 123u)
#define CHUNK_SIZE  (64u * 1024)

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
    dir = NULL;
}

TestSuite(snap, .init = setup, .fini = teardown);

/* ---- helpers -------------------------------------------------------------------------------- */

/* Deterministic body bytes: every byte depends on its offset and the seed. */
static uint8_t *body_make(size_t len, uint32_t seed)
{
    uint8_t *b = malloc(len ? len : 1);
    cr_assert_not_null(b);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    return b;
}

static struct raft_members members_of(const uint64_t *voters, uint32_t nv,
                                      const uint64_t *learners, uint32_t nl)
{
    struct raft_members m = {0};
    for (uint32_t i = 0; i < nv; i++)
        m.members[m.count++] = (struct raft_member){.id = voters[i], .role = RAFT_VOTER};
    for (uint32_t i = 0; i < nl; i++)
        m.members[m.count++] = (struct raft_member){.id = learners[i], .role = RAFT_LEARNER};
    return m;
}

static const struct raft_members *members_three(void)
{
    static struct raft_members m;
    m = members_of((uint64_t[]){1, 2, 3}, 3, NULL, 0);
    return &m;
}

static bool members_equal(const struct raft_members *a, const struct raft_members *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++)
        if (a->members[i].id != b->members[i].id || a->members[i].role != b->members[i].role)
            return false;
    return true;
}

/* Writes snapshot (index, term) into data dir fd with body bytes, in pieces of odd sizes so
 * the writer's buffering is crossed at unaligned places. */
static void snap_make(int fd, uint64_t index, uint64_t term, const uint8_t *body, size_t len,
                      const struct raft_members *members, const struct raft_members *old)
{
    struct raft_members none = {0};
    struct snap_writer *w = NULL;
    struct lum_err err = {{0}};
    int rv = snap_writer_open(fd, index, term, members, old ? old : &none, &w, &err);
    cr_assert_eq(rv, 0, "snap_writer_open: %s (%s)", lum_strerror(rv), err.msg);
    size_t off = 0, piece = 1;
    while (off < len) {
        size_t n = len - off < piece ? len - off : piece;
        cr_assert_eq(snap_writer_write(w, body + off, n), 0);
        off += n;
        piece = piece * 3 + 7;
    }
    rv = snap_writer_finish(w, &err);
    cr_assert_eq(rv, 0, "snap_writer_finish: %s (%s)", lum_strerror(rv), err.msg);
}

/* A snapshot with a small body derived from its index. */
static void snap_make_small(int fd, uint64_t index, uint64_t term)
{
    uint8_t *body = body_make(1000 + index % 97, (uint32_t)index);
    snap_make(fd, index, term, body, 1000 + index % 97, members_three(), NULL);
    free(body);
}

static const char *snap_file(const char *data_dir, uint64_t term, uint64_t index)
{
    static char path[4300];
    char name[64];
    snap_name(name, sizeof name, term, index);
    snprintf(path, sizeof path, "%s/snap/%s", data_dir, name);
    return path;
}

static uint32_t snap_list_ok(int fd, struct snap_meta *out, uint32_t cap)
{
    uint32_t n = 99;
    struct lum_err err = {{0}};
    int rv = snap_list(fd, out, cap, &n, &err);
    cr_assert_eq(rv, 0, "snap_list: %s (%s)", lum_strerror(rv), err.msg);
    return n;
}

static bool file_same(const char *a, const char *b)
{
    uint64_t size = storage_test_file_size(a);
    if (size != storage_test_file_size(b))
        return false;
    uint8_t *x = malloc(size ? size : 1), *y = malloc(size ? size : 1);
    cr_assert(x && y);
    storage_test_read(a, 0, x, size);
    storage_test_read(b, 0, y, size);
    bool same = memcmp(x, y, size) == 0;
    free(x);
    free(y);
    return same;
}

static void file_create(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs("not a snapshot\n", f);
    cr_assert_eq(fclose(f), 0);
}

static struct storage_options opts_seg(uint32_t segment_entries)
{
    struct storage_options o;
    storage_options_default(&o);
    o.segment_entries = segment_entries;
    return o;
}

static struct wal *wal_open_ok(uint32_t segment_entries)
{
    struct storage_options o = opts_seg(segment_entries);
    struct wal *w = NULL;
    struct lum_err err = {{0}};
    int rv = wal_open(dirfd_, &o, &w, &err);
    cr_assert_eq(rv, 0, "wal_open: %s (%s)", lum_strerror(rv), err.msg);
    return w;
}

static void wal_append_ok(struct wal *w, uint64_t first, uint32_t n, uint64_t term)
{
    struct raft_entry *es = storage_test_entries(first, n, term);
    struct lum_err err = {{0}};
    int rv = wal_append(w, es, n, &err);
    cr_assert_eq(rv, 0, "wal_append %" PRIu64 "+%u: %s (%s)", first, n, lum_strerror(rv),
                 err.msg);
    cr_assert_eq(wal_sync(w, &err), 0, "%s", err.msg);
    free(es);
}

static void wal_expect_entry(struct wal *w, uint64_t index, uint64_t term)
{
    struct raft_entry *got = malloc(sizeof *got), *want = malloc(sizeof *want);
    struct lum_err err = {{0}};
    int rv = wal_entry(w, index, got, &err);
    cr_assert_eq(rv, 0, "entry %" PRIu64 ": %s (%s)", index, lum_strerror(rv), err.msg);
    storage_test_entry(want, index, term);
    cr_assert(storage_test_entry_equal(got, want), "entry %" PRIu64 " differs", index);
    free(got);
    free(want);
}

/* ---- capturing what storage_open logs -------------------------------------------------------- */

static int capture_saved_fd = -1;
static char capture_path[4200];

static void capture_start(void)
{
    fflush(stderr);
    snprintf(capture_path, sizeof capture_path, "%s/stderr.txt", dir);
    int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    capture_saved_fd = dup(2);
    cr_assert_geq(capture_saved_fd, 0);
    cr_assert_eq(dup2(fd, 2), 2);
    close(fd);
}

/* Restores stderr and returns what was logged meanwhile (static buffer). */
static const char *capture_end(void)
{
    static char text[16384];
    fflush(stderr);
    dup2(capture_saved_fd, 2);
    close(capture_saved_fd);
    capture_saved_fd = -1;
    memset(text, 0, sizeof text);
    int fd = open(capture_path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    cr_assert_geq(n, 0);
    fputs(text, stderr); /* still visible in the test's own output */
    return text;
}

/* ---- the file format ---------------------------------------------------------------------- */

Test(snap, a_snapshot_reads_back_with_its_header_membership_and_body)
{
    uint8_t *body = body_make(BODY_SIZE, 7);
    struct raft_members m = members_of((uint64_t[]){1, 2, 3}, 3, (uint64_t[]){9}, 1);
    struct raft_members old = members_of((uint64_t[]){1, 2}, 2, NULL, 0);
    snap_make(dirfd_, 12345, 6, body, BODY_SIZE, &m, &old);

    const char *path = snap_file(dir, 6, 12345);
    cr_assert(storage_test_file_exists(path), "%s", path);
    cr_assert_eq(storage_test_file_size(path), SNAP_HEADER_SIZE + (uint64_t)BODY_SIZE);

    struct snap_meta list[4];
    cr_assert_eq(snap_list_ok(dirfd_, list, 4), 1);
    cr_assert_eq(list[0].index, 12345);
    cr_assert_eq(list[0].term, 6);
    cr_assert_str_eq(list[0].name, "snap-00000000000000000006-00000000000000012345");

    struct snap_meta meta;
    struct lum_err err = {{0}};
    int rv = snap_check(dirfd_, list[0].name, &meta, &err);
    cr_assert_eq(rv, 0, "snap_check: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(meta.index, 12345);
    cr_assert_eq(meta.term, 6);
    cr_assert_eq(meta.body_size, BODY_SIZE);
    cr_assert_eq(meta.body_crc, lum_crc32c(0, body, BODY_SIZE));
    cr_assert(members_equal(&meta.members, &m), "membership differs");
    cr_assert(members_equal(&meta.members_old, &old), "old membership differs");
    cr_assert_str_eq(meta.name, list[0].name);

    struct snap_reader *r = NULL;
    rv = snap_reader_open(dirfd_, list[0].name, &meta, &r, &err);
    cr_assert_eq(rv, 0, "snap_reader_open: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(snap_reader_left(r), BODY_SIZE);
    uint8_t *got = malloc(BODY_SIZE);
    cr_assert_eq(snap_read(r, got, 100), 0);
    struct lum_source src = snap_reader_source(r);
    cr_assert_eq(src.read(src.ctx, got + 100, BODY_SIZE - 100), 0);
    cr_assert_eq(memcmp(got, body, BODY_SIZE), 0, "the body differs");
    cr_assert_eq(snap_reader_left(r), 0);
    uint8_t extra;
    cr_assert_eq(snap_read(r, &extra, 1), -LUM_ECORRUPT, "reading past the body");
    snap_reader_close(r);
    free(got);
    free(body);
}

Test(snap, an_empty_body_and_a_sink_write_read_back_too)
{
    struct raft_members none = {0};
    struct snap_writer *w = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(snap_writer_open(dirfd_, 1, 1, members_three(), &none, &w, &err), 0, "%s",
                 err.msg);
    struct lum_sink sink = snap_writer_sink(w);
    cr_assert_eq(sink.write(sink.ctx, "", 0), 0);
    cr_assert_eq(snap_writer_finish(w, &err), 0, "%s", err.msg);
    struct snap_meta meta;
    char name[64];
    snap_name(name, sizeof name, 1, 1);
    cr_assert_eq(snap_check(dirfd_, name, &meta, &err), 0, "%s", err.msg);
    cr_assert_eq(meta.body_size, 0);
    cr_assert_eq(meta.members_old.count, 0);
    cr_assert(members_equal(&meta.members, members_three()));
}

Test(snap, an_aborted_writer_leaves_nothing_behind)
{
    struct raft_members none = {0};
    struct snap_writer *w = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(snap_writer_open(dirfd_, 50, 2, members_three(), &none, &w, &err), 0);
    uint8_t *body = body_make(BODY_SIZE, 1);
    cr_assert_eq(snap_writer_write(w, body, BODY_SIZE), 0);
    free(body);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "snap")), 1, "the temp file");
    snap_writer_abort(w);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "snap")), 0);
}

Test(snap, a_temp_file_left_by_a_crash_is_removed_by_snap_list)
{
    snap_make_small(dirfd_, 10, 1);
    /* what a writer that died before its rename leaves: a tmp-INDEX-PID file */
    const char *tmp = storage_test_path(dir, "snap/tmp-20-4242");
    storage_test_copy(snap_file(dir, 1, 10), tmp);
    cr_assert(storage_test_file_exists(storage_test_path(dir, "snap/tmp-20-4242")));
    struct snap_meta list[4];
    uint32_t n = snap_list_ok(dirfd_, list, 4);
    cr_assert_eq(n, 1, "the temp file is not a snapshot");
    cr_assert_eq(list[0].index, 10);
    cr_assert_not(storage_test_file_exists(storage_test_path(dir, "snap/tmp-20-4242")),
                  "the temp file is still there");
    cr_assert(storage_test_file_exists(snap_file(dir, 1, 10)));
}

Test(snap, a_flipped_header_byte_is_refused_naming_the_file)
{
    snap_make_small(dirfd_, 77, 3);
    const char *path = snap_file(dir, 3, 77);
    char name[64];
    snap_name(name, sizeof name, 3, 77);
    /* the magic, the index, a membership byte and the header crc itself */
    const uint64_t offsets[] = {0, 17, 50, SNAP_HEADER_SIZE - 2};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        storage_test_flip(path, offsets[k]);
        struct snap_meta meta;
        struct lum_err err = {{0}};
        int rv = snap_check(dirfd_, name, &meta, &err);
        cr_assert_eq(rv, -LUM_ECORRUPT, "header byte %" PRIu64 ": %s", offsets[k],
                     lum_strerror(rv));
        cr_assert(strstr(err.msg, name) != NULL, "the error does not name the file: %s",
                  err.msg);
        cr_assert(strstr(err.msg, "header") != NULL, "the error does not say header: %s",
                  err.msg);
        storage_test_flip(path, offsets[k]); /* undo */
        struct lum_err ok = {{0}};
        cr_assert_eq(snap_check(dirfd_, name, &meta, &ok), 0, "%s", ok.msg);
    }
}

Test(snap, a_flipped_body_byte_is_refused_naming_the_file)
{
    uint8_t *body = body_make(BODY_SIZE, 3);
    snap_make(dirfd_, 500, 4, body, BODY_SIZE, members_three(), NULL);
    free(body);
    const char *path = snap_file(dir, 4, 500);
    char name[64];
    snap_name(name, sizeof name, 4, 500);
    const uint64_t offsets[] = {SNAP_HEADER_SIZE, SNAP_HEADER_SIZE + 300000,
                                SNAP_HEADER_SIZE + BODY_SIZE - 1};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        storage_test_flip(path, offsets[k]);
        struct snap_meta meta;
        struct lum_err err = {{0}};
        int rv = snap_check(dirfd_, name, &meta, &err);
        cr_assert_eq(rv, -LUM_ECORRUPT, "body byte %" PRIu64 ": %s", offsets[k],
                     lum_strerror(rv));
        cr_assert(strstr(err.msg, name) != NULL, "the error does not name the file: %s",
                  err.msg);
        cr_assert(strstr(err.msg, "body") != NULL, "the error does not say body: %s", err.msg);
        storage_test_flip(path, offsets[k]);
    }
}

/* snapshot_load reads the body again after snap_check: the reader checks what it handed out. */
Test(snap, a_reader_says_whether_the_body_it_handed_out_matches_its_crc)
{
    uint8_t *body = body_make(BODY_SIZE, 5);
    snap_make(dirfd_, 600, 4, body, BODY_SIZE, members_three(), NULL);
    const char *path = snap_file(dir, 4, 600);
    char name[64];
    snap_name(name, sizeof name, 4, 600);
    uint8_t *got = malloc(BODY_SIZE);
    cr_assert_not_null(got);
    for (int flipped = 0; flipped < 2; flipped++) {
        if (flipped)
            storage_test_flip(path, SNAP_HEADER_SIZE + 12345);
        struct snap_meta meta;
        struct lum_err err = {{0}};
        struct snap_reader *r = NULL;
        int rv = snap_reader_open(dirfd_, name, &meta, &r, &err);
        cr_assert_eq(rv, 0, "snap_reader_open: %s (%s)", lum_strerror(rv), err.msg);
        cr_assert_eq(snap_read(r, got, BODY_SIZE / 2), 0);
        cr_assert_eq(snap_reader_verify(r), -LUM_ECORRUPT, "half the body is not all of it");
        cr_assert_eq(snap_read(r, got + BODY_SIZE / 2, BODY_SIZE - BODY_SIZE / 2), 0);
        cr_assert_eq(snap_reader_verify(r), flipped ? -LUM_ECORRUPT : 0, "flipped %d", flipped);
        snap_reader_close(r);
    }
    free(got);
    free(body);
}

Test(snap, a_truncated_or_missing_snapshot_is_refused)
{
    uint8_t *body = body_make(BODY_SIZE, 5);
    snap_make(dirfd_, 600, 4, body, BODY_SIZE, members_three(), NULL);
    free(body);
    char name[64];
    snap_name(name, sizeof name, 4, 600);
    struct snap_meta meta;
    struct lum_err err = {{0}};
    storage_test_truncate(snap_file(dir, 4, 600), SNAP_HEADER_SIZE + BODY_SIZE - 1);
    cr_assert_eq(snap_check(dirfd_, name, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, name) != NULL, "%s", err.msg);
    storage_test_truncate(snap_file(dir, 4, 600), 100);
    cr_assert_eq(snap_check(dirfd_, name, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, name) != NULL, "%s", err.msg);
    snap_name(name, sizeof name, 4, 601);
    cr_assert_eq(snap_check(dirfd_, name, &meta, &err), -LUM_ENOTFOUND);
}

/* ---- the directory ---------------------------------------------------------------------- */

Test(snap, snap_list_orders_newest_first_and_ignores_strangers)
{
    snap_make_small(dirfd_, 300, 5);
    snap_make_small(dirfd_, 5, 1);
    snap_make_small(dirfd_, 20, 2);
    snap_make_small(dirfd_, 1000000, 9);
    file_create(storage_test_path(dir, "snap/README"));
    file_create(storage_test_path(dir, "snap/snap-12"));
    struct snap_meta list[8];
    uint32_t n = snap_list_ok(dirfd_, list, 8);
    cr_assert_eq(n, 4);
    const uint64_t want[] = {1000000, 300, 20, 5};
    const uint64_t terms[] = {9, 5, 2, 1};
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(list[i].index, want[i], "position %u: %" PRIu64, i, list[i].index);
        cr_assert_eq(list[i].term, terms[i]);
        char name[64];
        snap_name(name, sizeof name, terms[i], want[i]);
        cr_assert_str_eq(list[i].name, name);
    }
    cr_assert(storage_test_file_exists(storage_test_path(dir, "snap/README")),
              "a file that is not ours was removed");
}

/* With more snapshots than the caller has room for, "newest first" must still mean the
 * newest: storage_open asks for 16 and starts from the first it gets. */
Test(snap, snap_list_with_a_small_cap_returns_the_newest)
{
    for (uint64_t i = 1; i <= 12; i++)
        snap_make_small(dirfd_, i * 10, 1);
    struct snap_meta list[3];
    uint32_t n = snap_list_ok(dirfd_, list, 3);
    cr_assert_eq(n, 3);
    cr_assert_eq(list[0].index, 120, "the newest is %" PRIu64 ", not 120", list[0].index);
    cr_assert_eq(list[1].index, 110);
    cr_assert_eq(list[2].index, 100);
}

Test(snap, snap_remove_older_keeps_exactly_the_ones_from_the_index_on)
{
    snap_make_small(dirfd_, 10, 1);
    snap_make_small(dirfd_, 20, 1);
    snap_make_small(dirfd_, 30, 2);
    snap_make_small(dirfd_, 40, 2);
    snap_remove_older(dirfd_, 30);
    struct snap_meta list[8];
    uint32_t n = snap_list_ok(dirfd_, list, 8);
    cr_assert_eq(n, 2);
    cr_assert_eq(list[0].index, 40);
    cr_assert_eq(list[1].index, 30);
    cr_assert_not(storage_test_file_exists(snap_file(dir, 1, 20)));
    cr_assert_not(storage_test_file_exists(snap_file(dir, 1, 10)));
    snap_remove_older(dirfd_, 1); /* nothing below 1 */
    cr_assert_eq(snap_list_ok(dirfd_, list, 8), 2);
}

/* ---- receiving from the leader ------------------------------------------------------------ */

/* The leader's file in leader/, received into dir. */
static const char *recv_source(uint64_t index, uint64_t term, uint8_t **bytes_out,
                               uint64_t *size_out)
{
    static char leader[4200];
    snprintf(leader, sizeof leader, "%s/leader", dir);
    cr_assert_eq(mkdir(leader, 0755), 0);
    int fd = storage_test_open_dir(leader);
    uint8_t *body = body_make(BODY_SIZE, 11);
    struct raft_members m = members_of((uint64_t[]){1, 2, 4}, 3, (uint64_t[]){5}, 1);
    snap_make(fd, index, term, body, BODY_SIZE, &m, NULL);
    free(body);
    close(fd);
    const char *path = snap_file(leader, term, index);
    *size_out = storage_test_file_size(path);
    *bytes_out = malloc(*size_out);
    storage_test_read(path, 0, *bytes_out, *size_out);
    return path;
}

static void recv_chunks(const uint8_t *bytes, uint64_t from, uint64_t to)
{
    for (uint64_t off = from; off < to; off += CHUNK_SIZE) {
        size_t n = to - off < CHUNK_SIZE ? (size_t)(to - off) : CHUNK_SIZE;
        struct lum_err err = {{0}};
        int rv = snap_recv_write(dirfd_, off, bytes + off, n, &err);
        cr_assert_eq(rv, 0, "chunk at %" PRIu64 ": %s (%s)", off, lum_strerror(rv), err.msg);
    }
}

Test(snap, chunks_received_in_order_install_an_identical_snapshot)
{
    uint8_t *bytes;
    uint64_t size;
    const char *src = recv_source(4000, 7, &bytes, &size);
    char src_path[4200];
    snprintf(src_path, sizeof src_path, "%s", src);
    recv_chunks(bytes, 0, size);
    struct snap_meta meta;
    struct lum_err err = {{0}};
    int rv = snap_recv_finish(dirfd_, &meta, &err);
    cr_assert_eq(rv, 0, "snap_recv_finish: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(meta.index, 4000);
    cr_assert_eq(meta.term, 7);
    cr_assert_eq(meta.members.count, 4);
    char name[64];
    snap_name(name, sizeof name, 7, 4000);
    cr_assert_str_eq(meta.name, name);
    cr_assert(file_same(src_path, snap_file(dir, 7, 4000)), "the installed file differs");
    cr_assert_not(storage_test_file_exists(storage_test_path(dir, "snap/recv.tmp")),
                  "recv.tmp was not renamed");
    struct snap_meta list[4];
    cr_assert_eq(snap_list_ok(dirfd_, list, 4), 1);
    cr_assert_eq(snap_check(dirfd_, name, &meta, &err), 0, "%s", err.msg);
    free(bytes);
}

Test(snap, a_chunk_at_a_wrong_offset_is_refused_and_offset_0_starts_over)
{
    uint8_t *bytes;
    uint64_t size;
    const char *src = recv_source(900, 3, &bytes, &size);
    char src_path[4200];
    snprintf(src_path, sizeof src_path, "%s", src);
    recv_chunks(bytes, 0, 3 * CHUNK_SIZE);
    struct lum_err err = {{0}};
    /* a gap */
    int rv = snap_recv_write(dirfd_, 4 * CHUNK_SIZE, bytes + 4 * CHUNK_SIZE, CHUNK_SIZE, &err);
    cr_assert_eq(rv, -LUM_EMALFORMED, "a chunk past the end: %s", lum_strerror(rv));
    cr_assert(strstr(err.msg, "recv.tmp") != NULL, "%s", err.msg);
    /* a repeat */
    rv = snap_recv_write(dirfd_, CHUNK_SIZE, bytes + CHUNK_SIZE, CHUNK_SIZE, &err);
    cr_assert_eq(rv, -LUM_EMALFORMED, "a chunk before the end: %s", lum_strerror(rv));
    cr_assert_eq(storage_test_file_size(storage_test_path(dir, "snap/recv.tmp")),
                 3 * CHUNK_SIZE, "a refused chunk changed the file");
    /* what arrived so far does not install */
    struct snap_meta meta;
    rv = snap_recv_finish(dirfd_, &meta, &err);
    cr_assert_eq(rv, -LUM_ECORRUPT, "an incomplete snapshot installed: %s", lum_strerror(rv));
    cr_assert_not(storage_test_file_exists(snap_file(dir, 3, 900)));
    /* a new stream from offset 0 replaces it */
    recv_chunks(bytes, 0, size);
    rv = snap_recv_finish(dirfd_, &meta, &err);
    cr_assert_eq(rv, 0, "%s", err.msg);
    cr_assert(file_same(src_path, snap_file(dir, 3, 900)), "the installed file differs");
    free(bytes);
}

Test(snap, a_received_snapshot_with_a_damaged_byte_does_not_install)
{
    uint8_t *bytes;
    uint64_t size;
    recv_source(900, 3, &bytes, &size);
    bytes[SNAP_HEADER_SIZE + 1000] ^= 0x40;
    recv_chunks(bytes, 0, size);
    struct snap_meta meta;
    struct lum_err err = {{0}};
    cr_assert_eq(snap_recv_finish(dirfd_, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "recv.tmp") != NULL, "%s", err.msg);
    cr_assert_not(storage_test_file_exists(snap_file(dir, 3, 900)));
    free(bytes);
}

/* ---- log compaction and reset ---------------------------------------------------------------- */

/* Deletes every file wal_compact left behind; returns how many. */
static uint32_t trim_all(struct wal *w)
{
    uint32_t n = 0;
    struct lum_err err = {{0}};
    bool failed = false, more = true;
    while (more) {
        int before = storage_test_count_files(storage_test_path(dir, "log"));
        more = wal_trim_step(w, &err, &failed);
        cr_assert_not(failed, "%s", err.msg);
        if (storage_test_count_files(storage_test_path(dir, "log")) < before)
            n++;
    }
    return n;
}

Test(snap, wal_compact_deletes_exactly_the_segments_wholly_at_or_below_upto)
{
    /* segments of 16: [1..16] [17..32] [33..48] [49..64] [65..80] [81..96] [97..100] */
    struct wal *w = wal_open_ok(16);
    wal_append_ok(w, 1, 100, 1);
    struct lum_err err = {{0}};
    cr_assert_eq(wal_compact(w, 40, &err), 0, "%s", err.msg);
    cr_assert_eq(wal_first_index(w), 33);
    cr_assert_eq(wal_last_index(w), 100);
    /* the files go one per trim step, oldest first, not in the caller's turn */
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 7);
    bool failed;
    cr_assert(wal_trim_step(w, &err, &failed), "one more to delete");
    cr_assert_not(failed);
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 1)));
    cr_assert(storage_test_file_exists(storage_test_seg_path(dir, 17)));
    cr_assert_not(wal_trim_step(w, &err, &failed), "nothing left to delete");
    cr_assert_not(wal_trim_step(w, &err, &failed));
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 1)));
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 17)));
    cr_assert(storage_test_file_exists(storage_test_seg_path(dir, 33)),
              "the segment holding 41..48 was deleted");
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 5);

    /* compacted indexes answer so, from the wal and from the core's store */
    struct raft_entry *e = malloc(sizeof *e);
    uint64_t t;
    cr_assert_eq(wal_entry(w, 32, e, &err), -LUM_ECOMPACTED);
    cr_assert_eq(wal_entry(w, 1, e, &err), -LUM_ECOMPACTED);
    cr_assert_eq(wal_term(w, 32, &t), -LUM_ECOMPACTED);
    struct raft_log_store store;
    wal_log_store(w, &store);
    cr_assert_eq(store.entry(store.ctx, 20, e), -RAFT_ECOMPACTED);
    cr_assert_eq(store.term(store.ctx, 20, &t), -RAFT_ECOMPACTED);
    uint16_t type;
    cr_assert_eq(store.type(store.ctx, 20, &type), -RAFT_ECOMPACTED);
    free(e);
    wal_expect_entry(w, 33, 1);
    wal_expect_entry(w, 100, 1);

    /* exactly at a segment's end: that segment goes too */
    cr_assert_eq(wal_compact(w, 48, &err), 0, "%s", err.msg);
    cr_assert_eq(wal_first_index(w), 49);
    cr_assert_eq(trim_all(w), 1);
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 33)));
    /* below what is left: nothing happens */
    cr_assert_eq(wal_compact(w, 10, &err), 0);
    cr_assert_eq(wal_compact(w, 0, &err), 0);
    cr_assert_eq(wal_first_index(w), 49);

    /* the log reopens with the right first index and goes on */
    wal_close(w);
    w = wal_open_ok(16);
    cr_assert_eq(wal_first_index(w), 49);
    cr_assert_eq(wal_last_index(w), 100);
    cr_assert_eq(wal_last_term(w), 1);
    wal_expect_entry(w, 49, 1);
    wal_append_ok(w, 101, 5, 2);
    wal_expect_entry(w, 105, 2);
    wal_close(w);
}

Test(snap, wal_compact_never_deletes_the_last_segment)
{
    struct wal *w = wal_open_ok(16);
    wal_append_ok(w, 1, 40, 1); /* [1..16] [17..32] [33..40] */
    struct lum_err err = {{0}};
    cr_assert_eq(wal_compact(w, 1000, &err), 0, "%s", err.msg);
    cr_assert_eq(wal_first_index(w), 33);
    cr_assert_eq(wal_last_index(w), 40);
    cr_assert_eq(trim_all(w), 2);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 1);

    /* a full last segment is kept too, and appends go on after it */
    wal_append_ok(w, 41, 8, 1); /* [33..48], full */
    cr_assert_eq(wal_compact(w, 48, &err), 0);
    cr_assert_eq(wal_first_index(w), 33);
    cr_assert(storage_test_file_exists(storage_test_seg_path(dir, 33)));
    wal_append_ok(w, 49, 3, 1);
    cr_assert_eq(wal_compact(w, 48, &err), 0);
    cr_assert_eq(wal_first_index(w), 49);
    wal_expect_entry(w, 51, 1);
    wal_close(w);
    w = wal_open_ok(16);
    cr_assert_eq(wal_first_index(w), 49);
    cr_assert_eq(wal_last_index(w), 51);
    wal_close(w);
}

/* A crash before the trim: the files left are an older part of the log, contiguous with
 * the rest, and only lengthen it. */
Test(snap, files_compacted_but_not_yet_deleted_reopen_as_a_longer_log)
{
    struct wal *w = wal_open_ok(16);
    wal_append_ok(w, 1, 50, 1); /* [1..16] [17..32] [33..48] [49..50] */
    struct lum_err err = {{0}};
    cr_assert_eq(wal_compact(w, 40, &err), 0, "%s", err.msg);
    bool failed;
    cr_assert(wal_trim_step(w, &err, &failed)); /* [1..16] goes, [17..32] is left */
    /* the crash: wal_close deletes what is left, so bring the file back as it was */
    char *saved = strdup(storage_test_path(dir, "saved17"));
    storage_test_copy(storage_test_seg_path(dir, 17), saved);
    wal_close(w);
    cr_assert_not(storage_test_file_exists(storage_test_seg_path(dir, 17)));
    storage_test_copy(saved, storage_test_seg_path(dir, 17));
    unlink(saved);
    free(saved);
    w = wal_open_ok(16);
    cr_assert_eq(wal_first_index(w), 17);
    cr_assert_eq(wal_last_index(w), 50);
    wal_expect_entry(w, 17, 1);
    wal_close(w);
}

/* A reset deletes what compaction left too: older files before the new log's gap would
 * look like a torn log at the next start. */
Test(snap, wal_reset_deletes_compacted_files_not_yet_trimmed)
{
    struct wal *w = wal_open_ok(16);
    wal_append_ok(w, 1, 50, 1);
    struct lum_err err = {{0}};
    cr_assert_eq(wal_compact(w, 40, &err), 0, "%s", err.msg);
    cr_assert_eq(wal_reset(w, 300, &err), 0, "%s", err.msg);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 0);
    wal_append_ok(w, 301, 3, 2);
    wal_close(w);
    w = wal_open_ok(16);
    cr_assert_eq(wal_first_index(w), 301);
    cr_assert_eq(wal_last_index(w), 303);
    wal_close(w);
}

Test(snap, wal_reset_empties_the_log_and_the_next_append_starts_after_it)
{
    struct wal *w = wal_open_ok(16);
    wal_append_ok(w, 1, 50, 1);
    struct lum_err err = {{0}};
    cr_assert_eq(wal_reset(w, 200, &err), 0, "%s", err.msg);
    cr_assert_eq(wal_first_index(w), 201);
    cr_assert_eq(wal_last_index(w), 200);
    cr_assert_eq(wal_last_term(w), 0);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 0,
                 "segments are left after a reset");
    struct raft_entry *e = malloc(sizeof *e);
    uint64_t t;
    cr_assert_eq(wal_entry(w, 50, e, &err), -LUM_ECOMPACTED);
    cr_assert_eq(wal_term(w, 200, &t), -LUM_ECOMPACTED);
    cr_assert_eq(wal_entry(w, 201, e, &err), -LUM_EINVAL);
    free(e);

    /* a reset below the current end works the same way */
    wal_append_ok(w, 201, 20, 3);
    cr_assert_eq(wal_reset(w, 205, &err), 0, "%s", err.msg);
    cr_assert_eq(wal_first_index(w), 206);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 0);

    wal_append_ok(w, 206, 5, 4);
    cr_assert(storage_test_file_exists(storage_test_seg_path(dir, 206)));
    wal_close(w);
    w = wal_open_ok(16);
    cr_assert_eq(wal_first_index(w), 206);
    cr_assert_eq(wal_last_index(w), 210);
    wal_expect_entry(w, 206, 4);
    wal_expect_entry(w, 210, 4);
    wal_close(w);
}

/* ---- storage_open with snapshots ------------------------------------------------------------ */

#define SEG 16u

/* data_dir = dir: meta (term 1) and log 1..last of term 1, compacted up to compact_upto
 * (0: not at all). */
static void node_make_log(uint64_t last, uint64_t compact_upto)
{
    struct storage_options o = opts_seg(SEG);
    struct storage *st = NULL;
    struct raft_boot boot;
    struct lum_err err = {{0}};
    int rv = storage_open(dir, &o, &st, &boot, &err);
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    struct raft_entry *es = storage_test_entries(1, (uint32_t)last, 1);
    struct raft_ready rd;
    memset(&rd, 0, sizeof rd);
    rd.hard_state_changed = true;
    rd.hard_state = (struct raft_hard_state){.term = 1, .voted_for = 1};
    rd.entries = es;
    rd.n_entries = (uint32_t)last;
    cr_assert_eq(storage_persist(st, &rd, &err), 0, "%s", err.msg);
    free(es);
    if (compact_upto)
        cr_assert_eq(wal_compact(storage_wal(st), compact_upto, &err), 0, "%s", err.msg);
    storage_close(st);
}

static int node_open(struct storage **st, struct raft_boot *boot, struct lum_err *err)
{
    struct storage_options o = opts_seg(SEG);
    memset(err, 0, sizeof *err);
    memset(boot, 0xAA, sizeof *boot);
    *st = NULL;
    return storage_open(dir, &o, st, boot, err);
}

Test(snap, storage_open_starts_from_the_newest_intact_snapshot)
{
    node_make_log(300, 0);
    struct raft_members m = members_of((uint64_t[]){1, 2, 3}, 3, (uint64_t[]){4}, 1);
    struct raft_members old = members_of((uint64_t[]){1, 2}, 2, NULL, 0);
    snap_make_small(dirfd_, 100, 1);
    uint8_t *body = body_make(5000, 2);
    snap_make(dirfd_, 250, 1, body, 5000, &m, &old);
    free(body);

    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    int rv = node_open(&st, &boot, &err);
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(boot.snapshot_index, 250);
    cr_assert_eq(boot.snapshot_term, 1);
    cr_assert_eq(boot.last_index, 300);
    cr_assert_eq(boot.hard_state.term, 1);
    cr_assert(members_equal(&boot.members, &m), "boot membership is not the snapshot's");
    cr_assert(members_equal(&boot.members_old, &old));
    const struct snap_meta *s = storage_snapshot(st);
    cr_assert_eq(s->index, 250);
    char name[64];
    snap_name(name, sizeof name, 1, 250);
    cr_assert_str_eq(s->name, name);
    cr_assert_eq(s->body_size, 5000);
    /* the log is left as it was: entries after the snapshot, and the ones before it */
    cr_assert_eq(wal_first_index(storage_wal(st)), 1);
    cr_assert_eq(wal_last_index(storage_wal(st)), 300);
    storage_close(st);
}

Test(snap, storage_open_falls_back_to_the_older_snapshot_when_the_log_covers_the_gap)
{
    node_make_log(300, 96); /* the log starts at 97, before 101 */
    snap_make_small(dirfd_, 100, 1);
    snap_make_small(dirfd_, 250, 1);
    storage_test_flip(snap_file(dir, 1, 250), SNAP_HEADER_SIZE + 10);

    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    capture_start();
    int rv = node_open(&st, &boot, &err);
    const char *logged = capture_end();
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(boot.snapshot_index, 100, "started from %" PRIu64, boot.snapshot_index);
    cr_assert_eq(boot.last_index, 300);
    cr_assert_eq(storage_snapshot(st)->index, 100);
    char bad[64];
    snap_name(bad, sizeof bad, 1, 250);
    cr_assert(strstr(logged, bad) != NULL, "the damaged snapshot is not named in the log:\n%s",
              logged);
    cr_assert(strstr(logged, "checksum") != NULL, "the damage is not said:\n%s", logged);
    cr_assert(strstr(logged, "older snapshot") != NULL, "the fallback is not said:\n%s",
              logged);
    cr_assert_eq(wal_first_index(storage_wal(st)), 97);
    storage_close(st);
}

Test(snap, storage_open_falls_back_when_the_log_starts_right_after_the_older_snapshot)
{
    node_make_log(300, 0);
    /* the log starts at 101 exactly: segments of 16 from 1 would not, so build it there */
    struct lum_err err = {{0}};
    {
        struct storage *st;
        struct raft_boot boot;
        cr_assert_eq(node_open(&st, &boot, &err), 0, "%s", err.msg);
        cr_assert_eq(wal_reset(storage_wal(st), 100, &err), 0, "%s", err.msg);
        struct raft_entry *es = storage_test_entries(101, 200, 1);
        cr_assert_eq(storage_append(st, es, 200, &err), 0, "%s", err.msg);
        storage_sync(st);
        free(es);
        storage_close(st);
    }
    snap_make_small(dirfd_, 100, 1);
    snap_make_small(dirfd_, 250, 1);
    storage_test_flip(snap_file(dir, 1, 250), 20);
    struct storage *st;
    struct raft_boot boot;
    capture_start();
    int rv = node_open(&st, &boot, &err);
    capture_end();
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(boot.snapshot_index, 100);
    cr_assert_eq(boot.last_index, 300);
    storage_close(st);
}

Test(snap, storage_open_refuses_when_the_newest_is_damaged_and_the_log_no_longer_covers_the_older)
{
    node_make_log(300, 128); /* the log starts at 129: entries 101..128 are gone */
    snap_make_small(dirfd_, 100, 1);
    snap_make_small(dirfd_, 250, 1);
    storage_test_flip(snap_file(dir, 1, 250), SNAP_HEADER_SIZE + 500);

    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    capture_start();
    int rv = node_open(&st, &boot, &err);
    const char *logged = capture_end();
    cr_assert_eq(rv, -LUM_ECORRUPT, "storage_open: %s", lum_strerror(rv));
    cr_assert_null(st);
    char bad[64];
    snap_name(bad, sizeof bad, 1, 250);
    cr_assert(strstr(err.msg, bad) != NULL, "the error does not name the damaged file: %s",
              err.msg);
    cr_assert(strstr(logged, "checksum") != NULL, "the damage is not logged:\n%s", logged);
    /* and nothing was changed: with the newest repaired it starts */
    storage_test_flip(snap_file(dir, 1, 250), SNAP_HEADER_SIZE + 500);
    rv = node_open(&st, &boot, &err);
    cr_assert_eq(rv, 0, "%s", err.msg);
    cr_assert_eq(boot.snapshot_index, 250);
    cr_assert_eq(wal_first_index(storage_wal(st)), 129);
    storage_close(st);
}

Test(snap, storage_open_refuses_when_no_snapshot_is_intact_and_the_log_does_not_start_at_1)
{
    node_make_log(300, 128);
    snap_make_small(dirfd_, 250, 1);
    storage_test_flip(snap_file(dir, 1, 250), SNAP_HEADER_SIZE + 1);
    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    capture_start();
    int rv = node_open(&st, &boot, &err);
    capture_end();
    cr_assert_eq(rv, -LUM_ECORRUPT, "storage_open: %s", lum_strerror(rv));
    cr_assert(strstr(err.msg, "129") != NULL, "the error does not say where the log starts: %s",
              err.msg);
}

Test(snap, storage_open_resets_a_log_that_ends_before_the_snapshot)
{
    node_make_log(50, 0);
    uint8_t *body = body_make(2000, 9);
    snap_make(dirfd_, 100, 1, body, 2000, members_three(), NULL);
    free(body);

    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    int rv = node_open(&st, &boot, &err);
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(boot.snapshot_index, 100);
    cr_assert_eq(boot.last_index, 100, "the log must continue the snapshot");
    cr_assert_eq(wal_first_index(storage_wal(st)), 101);
    cr_assert_eq(wal_last_index(storage_wal(st)), 100);
    cr_assert_eq(storage_test_count_files(storage_test_path(dir, "log")), 0,
                 "the old entries are still on disk");
    /* the next append starts right after the snapshot, and it all reopens */
    struct raft_entry *es = storage_test_entries(101, 10, 2);
    cr_assert_eq(storage_append(st, es, 10, &err), 0, "%s", err.msg);
    storage_sync(st);
    free(es);
    storage_close(st);
    rv = node_open(&st, &boot, &err);
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    cr_assert_eq(boot.snapshot_index, 100);
    cr_assert_eq(boot.last_index, 110);
    cr_assert_eq(boot.hard_state.term, 2, "the term follows the log's last entry");
    wal_expect_entry(storage_wal(st), 101, 2);
    storage_close(st);
}

Test(snap, storage_open_takes_the_snapshot_term_when_the_log_is_empty_after_it)
{
    /* a node that installed a snapshot and crashed before appending anything */
    node_make_log(10, 0);
    snap_make_small(dirfd_, 500, 1);
    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    cr_assert_eq(node_open(&st, &boot, &err), 0, "%s", err.msg);
    cr_assert_eq(boot.snapshot_index, 500);
    cr_assert_eq(boot.last_index, 500);
    storage_close(st);
    cr_assert_eq(node_open(&st, &boot, &err), 0, "%s", err.msg);
    cr_assert_eq(boot.snapshot_index, 500);
    cr_assert_eq(boot.last_index, 500);
    cr_assert_eq(wal_first_index(storage_wal(st)), 501);
    storage_close(st);
}

Test(snap, storage_open_refuses_a_log_that_starts_after_the_snapshot_leaves_off)
{
    node_make_log(300, 128); /* the log starts at 129 */
    snap_make_small(dirfd_, 100, 1); /* 101..128 are nowhere */
    struct storage *st;
    struct raft_boot boot;
    struct lum_err err;
    int rv = node_open(&st, &boot, &err);
    cr_assert_eq(rv, -LUM_ECORRUPT, "storage_open: %s", lum_strerror(rv));
    char name[64];
    snap_name(name, sizeof name, 1, 100);
    cr_assert(strstr(err.msg, name) != NULL, "the error does not name the snapshot: %s",
              err.msg);
    cr_assert(strstr(err.msg, "129") != NULL, "the error does not say where the log starts: %s",
              err.msg);
}

/* ---- a snapshot file anywhere: a backup ------------------------------------------------------ */

Test(snap, snap_file_check_takes_a_copy_anywhere_and_names_its_path_when_damaged)
{
    uint8_t *body = body_make(BODY_SIZE, 9);
    snap_make(dirfd_, 700, 5, body, BODY_SIZE, members_three(), NULL);
    char copy[4200];
    snprintf(copy, sizeof copy, "%s/elsewhere.backup", dir);
    FILE *in = fopen(snap_file(dir, 5, 700), "rb"), *out = fopen(copy, "wb");
    cr_assert(in && out);
    size_t n;
    while ((n = fread(body, 1, BODY_SIZE, in)) > 0)
        cr_assert_eq(fwrite(body, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
    free(body);

    struct snap_meta meta;
    struct lum_err err = {{0}};
    cr_assert_eq(snap_file_check(copy, &meta, &err), 0, "%s", err.msg);
    cr_assert_eq(meta.index, 700);
    cr_assert_eq(meta.term, 5);
    cr_assert_eq(meta.body_size, BODY_SIZE);
    cr_assert(members_equal(&meta.members, members_three()));
    struct snap_reader *r;
    cr_assert_eq(snap_reader_open_file(copy, &meta, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(snap_reader_left(r), BODY_SIZE);
    snap_reader_close(r);

    storage_test_flip(copy, SNAP_HEADER_SIZE + 4321);
    cr_assert_eq(snap_file_check(copy, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, copy) && strstr(err.msg, "body"), "%s", err.msg);
    storage_test_flip(copy, SNAP_HEADER_SIZE + 4321);
    storage_test_flip(copy, 3);
    cr_assert_eq(snap_file_check(copy, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "not a snapshot file"), "%s", err.msg);
    storage_test_flip(copy, 3);
    storage_test_truncate(copy, SNAP_HEADER_SIZE + BODY_SIZE - 7);
    cr_assert_eq(snap_file_check(copy, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "the header says"), "%s", err.msg);
    storage_test_truncate(copy, 10);
    cr_assert_eq(snap_file_check(copy, &meta, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "shorter than its header"), "%s", err.msg);
    cr_assert_eq(unlink(copy), 0);
    cr_assert_eq(snap_file_check(copy, &meta, &err), -LUM_ENOTFOUND);
}
