/* Crashes and restarts: kill -9 of the leader, of every node under a write load, and a
 * clean SIGTERM. What was acknowledged must survive; a restarted node must catch up. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "luminous/io.h"
#include "luminous/kv.h"

CLUSTER_SUITE(crash);

/* Entries written while a node is down: more than the test config's log_window (128), so
 * its catch-up reads the leader's log from disk, not only from memory. */
#define CRASH_BACKLOG 300

/* Backlog entry i: every other one as large as a put can be, so that the catch-up sends
 * full-size entries in full batches. */
static void crash_backlog_kv(int i, char *key, size_t klen, char value[KV_PUT_DATA_MAX])
{
    snprintf(key, klen, "backlog-%d", i);
    size_t vlen = i % 2 ? strlen(key) : KV_PUT_DATA_MAX - strlen(key);
    memset(value, 'a' + i % 26, vlen);
    memcpy(value, key, strlen(key));
    value[vlen] = '\0';
}

Test(crash, a_new_leader_takes_writes_after_kill_9_and_the_old_one_catches_up)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "epoch", "before the crash"), KV_OK);
    uint32_t old = cluster_wait_leader(c);
    struct wire_status before;
    cr_assert_eq(cluster_status(c, old, &before), 0);

    cluster_kill(c, old);
    uint32_t leader = cluster_wait_leader(c);
    cr_assert_neq(leader, old);
    struct wire_status st;
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    cr_assert_gt(st.term, before.term, "a new leader has a new term");

    /* the new leader has what the old one acknowledged, and takes new writes */
    char got[64] = "";
    cr_assert_eq(cluster_kv_get(cl, "epoch", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "before the crash");
    cr_assert_eq(cluster_kv_put(cl, "epoch", "after the crash"), KV_OK);
    for (int i = 0; i < CRASH_BACKLOG; i++) {
        char key[32], value[KV_PUT_DATA_MAX];
        crash_backlog_kv(i, key, sizeof key, value);
        cr_assert_eq(cluster_kv_put(cl, key, value), KV_OK, "put %s", key);
    }
    cr_assert_eq(cluster_kv_put(cl, "epoch", "latest"), KV_OK);
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    uint64_t commit = st.commit_index;

    /* the old leader comes back as a follower and catches up */
    cluster_start(c, old);
    cluster_wait_applied(c, old, commit);
    cluster_wait_stale_value(c, old, "epoch", "latest");
    for (int i = 0; i < CRASH_BACKLOG; i += 37) {
        char key[32], value[KV_PUT_DATA_MAX];
        crash_backlog_kv(i, key, sizeof key, value);
        cluster_wait_stale_value(c, old, key, value);
    }
    uint32_t now_leader = cluster_wait_leader(c);
    cr_assert_eq(cluster_status(c, old, &st), 0);
    cr_assert_eq(st.leader_id, c->nodes[now_leader].id);
    cluster_passed();
}

Test(crash, a_node_stopped_with_sigterm_exits_0_and_rejoins_with_its_data)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "one"), KV_OK);
    uint32_t leader = cluster_wait_leader(c);
    uint32_t f = (leader + 1) % c->n;
    cluster_wait_stale_value(c, f, "k", "one");

    long from = cluster_log_size(c, f);
    int status = cluster_stop(c, f);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "SIGTERM: exited %d, signal %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert(cluster_log_has(c, f, from, "shutting down"), "no shutdown line");
    cr_assert(cluster_log_has(c, f, from, "stopped"), "no stopped line");

    cr_assert_eq(cluster_kv_put(cl, "k", "two"), KV_OK);
    cluster_start(c, f);
    cluster_wait_stale_value(c, f, "k", "two");

    /* and the leader too: a clean stop hands over to an election, nothing is lost */
    from = cluster_log_size(c, leader);
    status = cluster_stop(c, leader);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the leader's SIGTERM exit");
    uint32_t next = cluster_wait_leader(c);
    cr_assert_neq(next, leader);
    char got[16] = "";
    cr_assert_eq(cluster_kv_get(cl, "k", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "two");
    cluster_start(c, leader);
    cluster_wait_stale_value(c, leader, "k", "two");
    cluster_passed();
}

/* ---- writes under load, with crashes --------------------------------------------------------- */

#define LOAD_WRITERS   4
#define LOAD_KEYS_MAX  100000

struct load_writer {
    struct lum_client *client;
    int      id;
    atomic_bool *stop;
    atomic_int  *acked_total;
    int      attempted;          /* puts started: keys w<id>-0 .. w<id>-(attempted-1) */
    bool     *ok;                /* [i]: put i was acknowledged                        */
};

/* LOAD_WRITERS threads, each putting its own keys one after another. */
struct load {
    atomic_bool stop;
    atomic_int  acked_total;
    struct load_writer w[LOAD_WRITERS];
    pthread_t   threads[LOAD_WRITERS];
};

static void load_kv(int writer, int i, char *key, size_t klen, char *value, size_t vlen)
{
    snprintf(key, klen, "w%d-%d", writer, i);
    snprintf(value, vlen, "value of writer %d, put %d", writer, i);
}

/* Puts distinct keys until told to stop; records every acknowledged one. No Criterion
 * assertions here: they may only fail on the test's own thread. */
static void *load_writer_run(void *arg)
{
    struct load_writer *w = arg;
    while (!atomic_load(w->stop) && w->attempted < LOAD_KEYS_MAX) {
        char key[32], value[64];
        int i = w->attempted++;
        load_kv(w->id, i, key, sizeof key, value, sizeof value);
        if (cluster_kv_put(w->client, key, value) == KV_OK) {
            w->ok[i] = true;
            atomic_fetch_add(w->acked_total, 1);
        }
    }
    return NULL;
}

static void load_start(struct cluster *c, struct load *ld, uint32_t client_timeout_ms)
{
    atomic_init(&ld->stop, false);
    atomic_init(&ld->acked_total, 0);
    for (int t = 0; t < LOAD_WRITERS; t++) {
        ld->w[t] = (struct load_writer){.client = cluster_client(c, UINT32_MAX, client_timeout_ms),
                                        .id = t, .stop = &ld->stop,
                                        .acked_total = &ld->acked_total,
                                        .ok = calloc(LOAD_KEYS_MAX, sizeof(bool))};
        cr_assert_not_null(ld->w[t].ok);
        cr_assert_eq(pthread_create(&ld->threads[t], NULL, load_writer_run, &ld->w[t]), 0);
    }
}

/* Waits until `more` writes more than now have been acknowledged; returns the total. */
static int load_wait_acked(struct cluster *c, struct load *ld, int more)
{
    int target = atomic_load(&ld->acked_total) + more;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (atomic_load(&ld->acked_total) < target && clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        cluster_pause_ms(5);
    }
    int acked = atomic_load(&ld->acked_total);
    cr_assert_geq(acked, target, "only %d writes acknowledged, not %d, in %u ms", acked, target,
                  CLUSTER_WAIT_MS);
    return acked;
}

static void load_stop(struct load *ld)
{
    atomic_store(&ld->stop, true);
    for (int t = 0; t < LOAD_WRITERS; t++)
        pthread_join(ld->threads[t], NULL);
}

/* Every acknowledged put is there with its value; one in flight at a crash is there or not,
 * never with another value; one never sent is not there. */
static void load_verify(struct cluster *c, struct load *ld)
{
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    int checked = 0, unacked_present = 0, unacked = 0;
    for (int t = 0; t < LOAD_WRITERS; t++) {
        struct load_writer *w = &ld->w[t];
        for (int i = 0; i <= w->attempted; i++) {
            char key[32], value[64], got[64] = "";
            load_kv(t, i, key, sizeof key, value, sizeof value);
            int code = cluster_kv_get(cl, key, false, got, sizeof got);
            if (i < w->attempted && w->ok[i]) {
                cr_assert_eq(code, KV_OK, "acknowledged put %s is lost (get: %d)", key, code);
                cr_assert_str_eq(got, value, "acknowledged put %s has another value", key);
                checked++;
            } else if (i < w->attempted) {
                cr_assert(code == KV_OK || code == KV_NOT_FOUND, "get %s: %d", key, code);
                unacked++;
                if (code == KV_OK) {
                    cr_assert_str_eq(got, value, "unacknowledged put %s has another value", key);
                    unacked_present++;
                }
            } else {
                cr_assert_eq(code, KV_NOT_FOUND, "%s was never written, yet it is there", key);
            }
        }
        free(w->ok);
        w->ok = NULL;
    }
    cr_assert_eq(checked, atomic_load(&ld->acked_total));
    cr_log_info("%d acknowledged writes all there; of %d unacknowledged, %d there", checked,
                unacked, unacked_present);
}

Test(crash, every_acknowledged_write_survives_kill_9_of_every_node_under_load)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct load ld;
    load_start(c, &ld, 2000);
    load_wait_acked(c, &ld, 400);
    cluster_kill_all(c); /* while the writers write */
    load_stop(&ld);

    cluster_start_all(c);
    cluster_wait_leader(c);
    load_verify(c, &ld);
    cluster_passed();
}

Test(crash, every_acknowledged_write_survives_leader_after_leader_killed_under_load)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct load ld;
    load_start(c, &ld, 10000);
    for (int round = 0; round < 3; round++) {
        load_wait_acked(c, &ld, 150);
        uint32_t leader = cluster_wait_leader(c);
        cluster_kill(c, leader); /* with entries in flight to the followers */
        load_wait_acked(c, &ld, 50); /* taken by the next leader */
        cluster_start(c, leader);
    }
    load_wait_acked(c, &ld, 50);
    load_stop(&ld);
    load_verify(c, &ld);
    /* and every replica agrees: compare stale reads of the last keys on every node */
    for (int t = 0; t < LOAD_WRITERS; t++) {
        int last = ld.w[t].attempted - 1;
        char key[32], value[64], got[64] = "";
        load_kv(t, last, key, sizeof key, value, sizeof value);
        int code = cluster_kv_get(cluster_client(c, UINT32_MAX, 0), key, false, got, sizeof got);
        for (uint32_t j = 0; j < c->n; j++)
            cluster_wait_stale_value(c, j, key, code == KV_OK ? value : NULL);
    }
    cluster_passed();
}

/* ---- a paused leader ------------------------------------------------------------------------- */

Test(crash, a_leader_paused_then_resumed_serves_no_stale_read)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *all = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(all, "k", "old"), KV_OK);
    uint32_t old = cluster_wait_leader(c);
    cluster_wait_stale_value(c, old, "k", "old");

    /* the old leader is silent long enough for the others to move on without it */
    cluster_pause(c, old);
    uint32_t leader = cluster_wait_leader(c);
    cr_assert_neq(leader, old);
    cr_assert_eq(cluster_kv_put(cluster_client(c, leader, 0), "k", "new"), KV_OK);

    /* back, still believing it leads: a linearizable read through it alone must not see
     * the state it had when it stopped */
    struct lum_client *via_old = cluster_client(c, old, 0);
    cluster_resume(c, old);
    char got[16] = "";
    cr_assert_eq(cluster_kv_get(via_old, "k", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "new", "a stale read from a deposed leader");

    /* and a write through it lands, after the other one */
    cr_assert_eq(cluster_kv_put(via_old, "k", "newest"), KV_OK);
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "k", "newest");
    cluster_passed();
}

/* ---- at-most-once across a leader crash ------------------------------------------------------ */

#define ONCE_ADDS_MAX 100000

struct once_writer {
    struct lum_client *client;
    atomic_bool *stop;
    atomic_int   acked;           /* adds answered                                 */
    int      attempted, failed;   /* adds sent; of which not answered (timed out)  */
    int64_t *values;              /* [k]: the answer to the k-th answered add      */
};

/* Adds 1 at a time; the client library retries each add, with its (client_id, seq), until
 * the cluster answers. */
static void *once_writer_run(void *arg)
{
    struct once_writer *w = arg;
    while (!atomic_load(w->stop) && w->attempted < ONCE_ADDS_MAX) {
        uint8_t body[8];
        lum_put_u64(body, 1);
        struct lum_reply r;
        struct lum_err err;
        w->attempted++;
        int rv = lum_client_command(w->client, COUNTER_ADD, body, sizeof body, &r, &err);
        if (rv == 0 && r.status == 0 && r.code == KV_OK && r.len == 8) {
            w->values[atomic_load(&w->acked)] = (int64_t)lum_get_u64(r.data);
            atomic_fetch_add(&w->acked, 1);
        } else {
            w->failed++;
        }
    }
    return NULL;
}

Test(crash, adds_retried_across_a_leader_crash_are_applied_exactly_once)
{
    struct cluster *c = cluster_up(3, "state_machine = counter\n");
    atomic_bool stop = false;
    struct once_writer w = {.client = cluster_client(c, UINT32_MAX, 15000), .stop = &stop,
                            .values = calloc(ONCE_ADDS_MAX, sizeof(int64_t))};
    cr_assert_not_null(w.values);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, once_writer_run, &w), 0);

    /* crash the leader twice in the middle of the stream */
    for (int round = 0; round < 2; round++) {
        uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
        int target = atomic_load(&w.acked) + 100;
        while (atomic_load(&w.acked) < target && clock_mono_ms() < deadline)
            cluster_pause_ms(5);
        uint32_t leader = cluster_wait_leader(c);
        cluster_kill(c, leader);
        cluster_wait_leader(c);
        cluster_start(c, leader);
    }
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    int target = atomic_load(&w.acked) + 100;
    while (atomic_load(&w.acked) < target && clock_mono_ms() < deadline)
        cluster_pause_ms(5);
    atomic_store(&stop, true);
    pthread_join(thread, NULL);

    int acked = atomic_load(&w.acked);
    cr_assert_geq(acked, 300, "only %d adds answered", acked);
    /* each answer is the counter after that add: one more than the one before, unless an
     * unanswered add came in between (it may or may not have been applied) */
    for (int k = 0; k < acked; k++) {
        int64_t prev = k ? w.values[k - 1] : 0;
        cr_assert_gt(w.values[k], prev, "answer %d: %lld after %lld", k,
                     (long long)w.values[k], (long long)prev);
        if (w.failed == 0)
            cr_assert_eq(w.values[k], prev + 1, "add %d was applied %lld times", k,
                         (long long)(w.values[k] - prev));
    }
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    struct lum_reply r;
    struct lum_err err;
    cr_assert_eq(lum_client_query(cl, "", 0, false, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.len, 8);
    int64_t value = (int64_t)lum_get_u64(r.data);
    cr_assert(value >= acked && value <= w.attempted,
              "the counter is %lld after %d answered and %d sent adds", (long long)value, acked,
              w.attempted);
    if (w.failed == 0)
        cr_assert_eq(value, acked);
    cr_log_info("%d adds, %d unanswered, counter %lld", w.attempted, w.failed, (long long)value);
    free(w.values);
    cluster_passed();
}
