/* The server's storage handle: data_dir, boot state, ready batches (src/storage/storage.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "luminous/storage.h"
#include "storage_test.h"

static char *dir;

static void setup(void) { dir = storage_test_mkdtemp(); }
static void teardown(void)
{
    storage_test_rmdir(dir);
    dir = NULL;
}

TestSuite(storage, .init = setup, .fini = teardown);

static struct storage *open_ok(const char *path, struct raft_boot *boot)
{
    struct storage *st = NULL;
    struct lum_err err = {{0}};
    int rv = storage_open(path, NULL, &st, boot, &err);
    cr_assert_eq(rv, 0, "storage_open: %s (%s)", lum_strerror(rv), err.msg);
    return st;
}

static void persist_ok(struct storage *st, bool hs_changed, uint64_t term, uint64_t vote,
                       uint64_t first, uint32_t n, uint64_t entry_term)
{
    struct raft_entry *es = storage_test_entries(first, n, entry_term);
    struct raft_ready rd;
    memset(&rd, 0, sizeof rd);
    rd.hard_state_changed = hs_changed;
    rd.hard_state = (struct raft_hard_state){term, vote};
    rd.entries = es;
    rd.n_entries = n;
    struct lum_err err = {{0}};
    cr_assert_eq(storage_persist(st, &rd, &err), 0, "%s", err.msg);
    free(es);
}

Test(storage, boots_a_fresh_data_dir_creating_it)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/a/b/node1/", dir);
    struct raft_boot boot;
    memset(&boot, 0xAA, sizeof boot);
    struct storage *st = open_ok(path, &boot);
    cr_assert_eq(boot.hard_state.term, 0);
    cr_assert_eq(boot.hard_state.voted_for, 0);
    cr_assert_eq(boot.snapshot_index, 0);
    cr_assert_eq(boot.snapshot_term, 0);
    cr_assert_eq(boot.last_index, 0);
    cr_assert_eq(boot.members.count, 0);
    cr_assert(storage_test_file_exists(storage_test_path(path, "log")));
    storage_close(st);
    st = open_ok(path, &boot); /* and again, now that it exists */
    cr_assert_eq(boot.last_index, 0);
    storage_close(st);
}

Test(storage, persists_ready_batches_across_reopen)
{
    struct raft_boot boot;
    struct storage *st = open_ok(dir, &boot);
    persist_ok(st, true, 1, 1, 1, 5, 1);
    persist_ok(st, false, 0, 0, 6, 2, 1);
    persist_ok(st, true, 2, 0, 0, 0, 0); /* hard state only */
    persist_ok(st, true, 2, 3, 8, 1, 2);
    storage_close(st);
    st = open_ok(dir, &boot);
    cr_assert_eq(boot.hard_state.term, 2);
    cr_assert_eq(boot.hard_state.voted_for, 3);
    cr_assert_eq(boot.last_index, 8);
    struct raft_log_store store;
    wal_log_store(storage_wal(st), &store);
    struct raft_entry *got = malloc(sizeof *got), *want = malloc(sizeof *want);
    for (uint64_t i = 1; i <= 8; i++) {
        uint64_t t;
        cr_assert_eq(store.term(store.ctx, i, &t), 0);
        cr_assert_eq(t, i == 8 ? 2u : 1u);
        cr_assert_eq(store.entry(store.ctx, i, got), 0);
        storage_test_entry(want, i, t);
        cr_assert(storage_test_entry_equal(got, want));
    }
    free(got);
    free(want);
    storage_close(st);
}

Test(storage, refuses_a_second_open_of_the_same_data_dir)
{
    struct raft_boot boot;
    struct storage *st = open_ok(dir, &boot);
    struct storage *other = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(storage_open(dir, NULL, &other, &boot, &err), -LUM_EBUSY);
    cr_assert(strstr(err.msg, "in use by another process") != NULL, "%s", err.msg);
    storage_close(st);
    st = open_ok(dir, &boot); /* the lock went with the handle */
    storage_close(st);
}

Test(storage, raises_term_to_the_last_log_term_on_boot)
{
    struct raft_boot boot;
    struct storage *st = open_ok(dir, &boot);
    persist_ok(st, true, 2, 1, 1, 3, 2);
    /* The batch of term 5 whose log write survived but whose meta update did not. */
    struct raft_entry *es = storage_test_entries(4, 2, 5);
    cr_assert_eq(storage_append(st, es, 2, NULL), 0);
    storage_sync(st);
    free(es);
    storage_close(st);
    st = open_ok(dir, &boot);
    cr_assert_eq(boot.hard_state.term, 5);
    cr_assert_eq(boot.hard_state.voted_for, 0);
    storage_close(st);
    st = open_ok(dir, &boot);
    cr_assert_eq(boot.hard_state.term, 5);
    storage_close(st);
}

Test(storage, refuses_a_log_without_meta)
{
    struct raft_boot boot;
    struct storage *st = open_ok(dir, &boot);
    persist_ok(st, true, 1, 1, 1, 3, 1);
    storage_close(st);
    unlink(storage_test_path(dir, "meta"));
    struct lum_err err = {{0}};
    st = NULL;
    cr_assert_eq(storage_open(dir, NULL, &st, &boot, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "meta: missing") != NULL, "%s", err.msg);
}

Test(storage, reports_a_corrupt_log_at_open)
{
    struct raft_boot boot;
    struct storage *st = open_ok(dir, &boot);
    persist_ok(st, true, 1, 1, 1, 3, 1);
    storage_close(st);
    storage_test_flip(storage_test_seg_path(dir, 1), 4096 + 9);
    struct lum_err err = {{0}};
    st = NULL;
    cr_assert_eq(storage_open(dir, NULL, &st, &boot, &err), -LUM_ECORRUPT);
    cr_assert(strstr(err.msg, "log/00000000000000000001.seg at offset 4096") != NULL, "%s",
              err.msg);
    /* The lock is released on failure. */
    unlink(storage_test_seg_path(dir, 1));
    st = open_ok(dir, &boot);
    cr_assert_eq(boot.last_index, 0);
    storage_close(st);
}

static int failing_fdatasync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static const struct storage_syscalls broken_disk = {
    .pwrite = pwrite,
    .pwritev = pwritev,
    .ftruncate = ftruncate,
    .fdatasync = failing_fdatasync,
    .fsync = fsync,
};

Test(storage, exits_when_fdatasync_fails, .exit_code = 1)
{
    struct storage_options o;
    storage_options_default(&o);
    o.sys = &broken_disk;
    struct raft_boot boot;
    struct storage *st = NULL;
    struct lum_err err = {{0}};
    cr_assert_eq(storage_open(dir, &o, &st, &boot, &err), 0, "%s", err.msg);
    /* Creating a file fdatasyncs it at once: that fails, says so, leaves nothing behind. */
    struct raft_hard_state hs = {1, 1};
    cr_assert_eq(storage_save_hard_state(st, &hs, &err), -LUM_EIO);
    cr_assert(strstr(err.msg, "fdatasync meta.tmp: Input/output error") != NULL, "%s",
              err.msg);
    cr_assert_not(storage_test_file_exists(storage_test_path(dir, "meta.tmp")));
    struct raft_entry *es = storage_test_entries(1, 2, 1);
    cr_assert_eq(storage_append(st, es, 1, &err), -LUM_EIO);
    cr_assert(strstr(err.msg, "fdatasync log/00000000000000000001.seg.tmp") != NULL, "%s",
              err.msg);
    storage_close(st);
    /* With the files made on a working disk, break it under a plain append. */
    st = open_ok(dir, &boot);
    cr_assert_eq(storage_save_hard_state(st, &hs, &err), 0, "%s", err.msg);
    cr_assert_eq(storage_append(st, es, 1, &err), 0, "%s", err.msg);
    storage_sync(st);
    storage_close(st);
    cr_assert_eq(storage_open(dir, &o, &st, &boot, &err), 0, "%s", err.msg);
    cr_assert_eq(storage_append(st, es + 1, 1, &err), 0, "%s", err.msg);
    atexit(teardown); /* .fini does not run after exit() */
    storage_sync(st); /* exits */
    cr_assert_fail("storage_sync returned after a failed fdatasync");
}
