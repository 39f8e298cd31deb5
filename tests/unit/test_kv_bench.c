/* The key-value machine at scale: many keys with 256-byte values. It checks the memory
 * per key and that a snapshot of them saves and loads, and logs the numbers.
 *
 * `make test` runs it with 100 000 keys (about a second). The one-million-key benchmark is
 * run by hand, and prints its numbers:
 *     LUM_KV_BENCH_KEYS=1000000 build/tests/unit/test_kv_bench --verbose
 * (it needs about 1.2 GB: the table, a copy of the snapshot in memory, the loaded copy). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <malloc.h>
#include <stdio.h>
#include <time.h>

#include "kv_test.h"
/* internal, to time a whole resize done at once */
#include "../../src/kv/kv_int.h"

#define KV_BENCH_VALUE_SIZE 256u
#define KV_BENCH_KEY_SIZE   13u  /* "user:%08u" */

/* CPU time of this thread: the numbers hold on a busy machine too (page faults count,
 * waiting for the CPU does not). */
static double kv_bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t kv_bench_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t kv_bench_rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * 4096u;
}

/* Counts bytes and drops them: the machine's own cost of a save, with no I/O. */
static int kv_bench_count_write(void *ctx, const void *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
    return 0;
}

static void kv_bench_key(char *key, uint32_t i)
{
    snprintf(key, KV_BENCH_KEY_SIZE + 1, "user:%08u", i % 100000000u);
}

Test(kv_bench, many_keys_of_256_bytes_cost_under_360_bytes_each_and_snapshot_whole,
     .timeout = 600)
{
    const char *env = getenv("LUM_KV_BENCH_KEYS");
    uint32_t n = env ? (uint32_t)strtoul(env, NULL, 10) : 100000u;
    cr_assert_gt(n, 0u);
    static uint8_t body[LUM_COMMAND_BODY_MAX];
    uint8_t value[KV_BENCH_VALUE_SIZE];
    char key[KV_BENCH_KEY_SIZE + 1];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (uint8_t)(i * 31 + 7);

    size_t heap0 = kv_bench_heap_bytes(), rss0 = kv_bench_rss_bytes();
    void *kv = kv_fsm_ops.create();
    double t0 = kv_bench_now_s();
    for (uint32_t i = 0; i < n; i++) {
        kv_bench_key(key, i);
        lum_put_u32(value, i);
        int len = kv_encode_put(body, sizeof body, key, KV_BENCH_KEY_SIZE, value, sizeof value, 0);
        cr_assert_eq(kv_test_apply(kv, KV_PUT, 1, body, (uint32_t)len), KV_OK);
    }
    double put_s = kv_bench_now_s() - t0;
    size_t heap = kv_bench_heap_bytes() - heap0, rss = kv_bench_rss_bytes() - rss0;
    double per_key = (double)heap / n;
    cr_log_info("%u keys: %.0f bytes/key from malloc (%.1f MiB), %.0f bytes/key RSS; "
                "size() says %.1f MiB", n, per_key, heap / 1048576.0, (double)rss / n,
                kv_fsm_ops.size(kv) / 1048576.0);
    cr_log_info("put: %.2f s CPU, %.2f us/put (encode, entry build and apply)", put_s,
                put_s * 1e6 / n);
    /* 13 + 256 bytes of data; the rest is the item header, malloc's and the buckets' */
    cr_assert_lt(per_key, 360.0, "%.0f bytes per key", per_key);

    struct lum_result r;
    kv_bench_key(key, n / 2);
    cr_assert_eq(kv_test_get_bin(kv, 1, key, KV_BENCH_KEY_SIZE, &r), KV_OK);
    cr_assert_eq(lum_get_u32(r.data), n / 2);

    size_t bytes = 0;
    struct lum_sink counting = {.ctx = &bytes, .write = kv_bench_count_write};
    t0 = kv_bench_now_s();
    cr_assert_eq(kv_fsm_ops.snapshot_save(kv, &counting), 0);
    double save_s = kv_bench_now_s() - t0;
    cr_assert_eq(bytes, 16u + (size_t)n * (15u + KV_BENCH_KEY_SIZE + KV_BENCH_VALUE_SIZE) + 13u);
    cr_log_info("snapshot save (no I/O): %.3f s for %.1f MiB, %.0f MiB/s", save_s,
                bytes / 1048576.0, bytes / 1048576.0 / save_s);

    struct kv_test_buf snap = kv_test_save(&kv_fsm_ops, kv);
    void *loaded = kv_fsm_ops.create();
    t0 = kv_bench_now_s();
    cr_assert_eq(kv_test_load(&kv_fsm_ops, loaded, snap.data, snap.len), 0);
    double load_s = kv_bench_now_s() - t0;
    cr_log_info("snapshot load (from memory): %.3f s", load_s);
    kv_bench_key(key, n - 1);
    cr_assert_eq(kv_test_get_bin(loaded, 1, key, KV_BENCH_KEY_SIZE, &r), KV_OK);
    cr_assert_eq(lum_get_u32(r.data), n - 1);
    kv_test_buf_free(&snap);
    kv_fsm_ops.destroy(loaded);

    /* what a resize of this table would cost if it were done at once, against the
     * KV_REHASH_STEP_BUCKETS buckets an apply() moves */
    struct kv_table *t = &((struct kv *)kv)->s.table;
    kv_table_rehash_step(t, SIZE_MAX);
    size_t buckets = (size_t)1 << t->bits;
    kv_table_resize_start(t, t->bits + 1);
    t0 = kv_bench_now_s();
    kv_table_rehash_step(t, SIZE_MAX);
    double resize_s = kv_bench_now_s() - t0;
    cr_log_info("a whole resize of %zu buckets at once: %.1f ms (%.0f ns per bucket); an "
                "apply moves %u: %.1f us", buckets, resize_s * 1e3,
                resize_s * 1e9 / (double)buckets, KV_REHASH_STEP_BUCKETS,
                resize_s * 1e6 / (double)buckets * KV_REHASH_STEP_BUCKETS);
    cr_assert_null(t->old);

    t0 = kv_bench_now_s();
    kv_fsm_ops.destroy(kv);
    cr_log_info("destroy: %.3f s", kv_bench_now_s() - t0);
}
