/* data_dir/meta: the two-slot hard state file (src/storage/meta.c). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "luminous/storage.h"
#include "storage_test.h"

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

TestSuite(meta, .init = setup, .fini = teardown);

static struct meta *open_ok(struct raft_hard_state *hs, bool *found)
{
    struct meta *m = NULL;
    struct lum_err err = {{0}};
    int rv = meta_open(dirfd_, NULL, &m, hs, found, &err);
    cr_assert_eq(rv, 0, "meta_open: %s (%s)", lum_strerror(rv), err.msg);
    return m;
}

static void store(struct meta *m, uint64_t term, uint64_t vote)
{
    struct lum_err err = {{0}};
    struct raft_hard_state hs = {term, vote};
    cr_assert_eq(meta_write(m, &hs, &err), 0, "%s", err.msg);
    cr_assert_eq(meta_sync(m, &err), 0, "%s", err.msg);
}

static void expect_reload(uint64_t term, uint64_t vote)
{
    struct raft_hard_state hs;
    bool found;
    struct meta *m = open_ok(&hs, &found);
    cr_assert(found);
    cr_assert_eq(hs.term, term);
    cr_assert_eq(hs.voted_for, vote);
    meta_close(m);
}

/* Rewrites slot (0 or 1) of meta with the given fields and a valid crc. */
static void write_slot(int slot, uint32_t version, uint64_t seq, uint64_t term, uint64_t vote)
{
    uint8_t p[512] = {0};
    memcpy(p, "LUMIMETA", 8);
    lum_put_u32(p + 8, version);
    lum_put_u64(p + 16, seq);
    lum_put_u64(p + 24, term);
    lum_put_u64(p + 32, vote);
    lum_put_u32(p + 40, lum_crc32c(0, p, 40));
    storage_test_write(storage_test_path(dir, "meta"), (uint64_t)slot * 512, p, sizeof p);
}

Test(meta, treats_missing_file_as_fresh_node)
{
    struct raft_hard_state hs = {9, 9};
    bool found = true;
    struct meta *m = open_ok(&hs, &found);
    cr_assert_not(found);
    cr_assert_eq(hs.term, 0);
    cr_assert_eq(hs.voted_for, 0);
    cr_assert_not(storage_test_file_exists(storage_test_path(dir, "meta")));
    meta_close(m);
}

Test(meta, treats_empty_file_as_fresh_node_and_replaces_it)
{
    int fd = openat(dirfd_, "meta", O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    struct raft_hard_state hs;
    bool found = true;
    struct meta *m = open_ok(&hs, &found);
    cr_assert_not(found);
    cr_assert_eq(hs.term, 0);
    store(m, 3, 1);
    meta_close(m);
    cr_assert_eq(storage_test_file_size(storage_test_path(dir, "meta")), 1024);
    expect_reload(3, 1);
}

Test(meta, round_trips_hard_state)
{
    struct raft_hard_state hs;
    struct meta *m = open_ok(&hs, NULL);
    store(m, 5, 2);
    struct raft_hard_state got;
    meta_hard_state(m, &got);
    cr_assert_eq(got.term, 5);
    cr_assert_eq(got.voted_for, 2);
    meta_close(m);
    expect_reload(5, 2);
    cr_assert_not(storage_test_file_exists(storage_test_path(dir, "meta.tmp")));
}

Test(meta, loads_newer_slot_when_both_valid)
{
    struct raft_hard_state hs;
    struct meta *m = open_ok(&hs, NULL);
    for (uint64_t t = 1; t <= 7; t++) {
        store(m, t, t % 3);
        expect_reload(t, t % 3);
    }
    meta_close(m);
    /* Both slots valid, the higher seq wins wherever it is. */
    write_slot(0, 1, 100, 40, 4);
    write_slot(1, 1, 99, 39, 3);
    expect_reload(40, 4);
    write_slot(1, 1, 101, 41, 0);
    expect_reload(41, 0);
}

Test(meta, falls_back_to_the_other_slot_when_one_is_corrupt)
{
    struct raft_hard_state hs;
    struct meta *m = open_ok(&hs, NULL);
    store(m, 1, 1); /* creates the file: slot 0, seq 1 */
    store(m, 2, 2); /* slot 1, seq 2 */
    meta_close(m);
    const char *path = storage_test_path(dir, "meta");
    storage_test_flip(path, 512 + 24); /* the newer slot's term */
    expect_reload(1, 1);
    storage_test_flip(path, 512 + 24);
    expect_reload(2, 2);
    storage_test_flip(path, 0); /* the older slot's magic */
    expect_reload(2, 2);
    storage_test_flip(path, 0);
    /* A file cut short keeps its first slot. */
    m = open_ok(&hs, NULL);
    store(m, 3, 0); /* slot 0, seq 3 */
    meta_close(m);
    storage_test_truncate(path, 512);
    expect_reload(3, 0);
}

Test(meta, refuses_file_with_both_slots_corrupt)
{
    struct raft_hard_state hs;
    struct meta *m = open_ok(&hs, NULL);
    store(m, 1, 1);
    store(m, 2, 2);
    meta_close(m);
    const char *path = storage_test_path(dir, "meta");
    storage_test_flip(path, 30);
    storage_test_flip(path, 512 + 41);
    struct lum_err err = {{0}};
    m = NULL;
    cr_assert_eq(meta_open(dirfd_, NULL, &m, &hs, NULL, &err), -LUM_ECORRUPT);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "meta") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "neither slot is valid") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "checksum mismatch") != NULL, "%s", err.msg);
}

Test(meta, refuses_garbage_of_any_size)
{
    uint8_t junk[700];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    int fd = openat(dirfd_, "meta", O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    struct raft_hard_state hs;
    struct meta *m = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(meta_open(dirfd_, NULL, &m, &hs, NULL, &err), -LUM_ECORRUPT);
}

Test(meta, refuses_two_valid_slots_with_the_same_seq)
{
    int fd = openat(dirfd_, "meta", O_CREAT | O_WRONLY, 0644);
    close(fd);
    write_slot(0, 1, 5, 1, 1);
    write_slot(1, 1, 5, 2, 2);
    struct raft_hard_state hs;
    struct meta *m = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(meta_open(dirfd_, NULL, &m, &hs, NULL, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "seq 5") != NULL, "%s", err.msg);
}

Test(meta, refuses_slot_of_another_version)
{
    int fd = openat(dirfd_, "meta", O_CREAT | O_WRONLY, 0644);
    close(fd);
    write_slot(0, 1, 1, 1, 1);
    write_slot(1, 2, 2, 2, 2);
    struct raft_hard_state hs;
    struct meta *m = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(meta_open(dirfd_, NULL, &m, &hs, NULL, &err), -LUM_EVERSION);
    cr_assert(strstr(err.msg, "version 2") != NULL, "%s", err.msg);
}

Test(meta, never_touches_the_durable_slot_before_the_next_sync)
{
    struct raft_hard_state hs;
    struct meta *m = open_ok(&hs, NULL);
    store(m, 1, 1); /* slot 0 */
    store(m, 2, 2); /* slot 1, durable */
    struct lum_err err = {{0}};
    struct raft_hard_state a = {3, 3}, b = {4, 0};
    cr_assert_eq(meta_write(m, &a, &err), 0);
    cr_assert(meta_dirty(m));
    cr_assert_eq(meta_write(m, &b, &err), 0); /* overwrites slot 0 again, not slot 1 */
    meta_close(m);                            /* "crash" before the sync */
    expect_reload(4, 0);                      /* the page cache kept it...         */
    storage_test_flip(storage_test_path(dir, "meta"), 20); /* ...or the write tore */
    expect_reload(2, 2);
}

Test(meta, continues_after_a_torn_slot)
{
    struct raft_hard_state hs;
    struct meta *m = open_ok(&hs, NULL);
    store(m, 1, 1);
    store(m, 2, 2);
    meta_close(m);
    storage_test_flip(storage_test_path(dir, "meta"), 512 + 8); /* newest torn */
    m = open_ok(&hs, NULL);
    cr_assert_eq(hs.term, 1);
    store(m, 5, 5); /* goes over the torn slot */
    store(m, 6, 0);
    meta_close(m);
    expect_reload(6, 0);
}
