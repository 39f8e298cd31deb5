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
        char key[32];
        snprintf(key, sizeof key, "backlog-%d", i);
        cr_assert_eq(cluster_kv_put(cl, key, key), KV_OK, "put %s", key);
    }
    cr_assert_eq(cluster_kv_put(cl, "epoch", "latest"), KV_OK);
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    uint64_t commit = st.commit_index;

    /* the old leader comes back as a follower and catches up */
    cluster_start(c, old);
    cluster_wait_applied(c, old, commit);
    cluster_wait_stale_value(c, old, "epoch", "latest");
    cluster_wait_stale_value(c, old, "backlog-0", "backlog-0");
    cluster_wait_stale_value(c, old, "backlog-299", "backlog-299");
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

/* ---- every node killed under load ---------------------------------------------------------- */

#define LOAD_WRITERS      4
#define LOAD_KEYS_MAX     100000
#define LOAD_ACKED_BEFORE 400    /* acknowledged writes before the kill, all writers together */

struct load_writer {
    struct lum_client *client;
    int      id;
    atomic_bool *stop;
    atomic_int  *acked_total;
    int      attempted;          /* puts started: keys w<id>-0 .. w<id>-(attempted-1)   */
    int      acked;              /* of which the first ones, in order, were acknowledged */
    bool     *ok;                /* [i]: put i was acknowledged                           */
};

static void load_kv(int writer, int i, char *key, size_t klen, char *value, size_t vlen)
{
    snprintf(key, klen, "w%d-%d", writer, i);
    snprintf(value, vlen, "value of writer %d, put %d", writer, i);
}

/* Puts distinct keys one after another until told to stop; records every acknowledged one.
 * No Criterion assertions here: they may only fail on the test's own thread. */
static void *load_writer_run(void *arg)
{
    struct load_writer *w = arg;
    while (!atomic_load(w->stop) && w->attempted < LOAD_KEYS_MAX) {
        char key[32], value[64];
        int i = w->attempted++;
        load_kv(w->id, i, key, sizeof key, value, sizeof value);
        if (cluster_kv_put(w->client, key, value) == KV_OK) {
            w->ok[i] = true;
            w->acked++;
            atomic_fetch_add(w->acked_total, 1);
        }
    }
    return NULL;
}

Test(crash, every_acknowledged_write_survives_kill_9_of_every_node_under_load)
{
    struct cluster *c = cluster_up(3, NULL);
    atomic_bool stop = false;
    atomic_int acked_total = 0;
    struct load_writer w[LOAD_WRITERS];
    pthread_t threads[LOAD_WRITERS];
    for (int t = 0; t < LOAD_WRITERS; t++) {
        w[t] = (struct load_writer){.client = cluster_client(c, UINT32_MAX, 2000), .id = t,
                                    .stop = &stop, .acked_total = &acked_total,
                                    .ok = calloc(LOAD_KEYS_MAX, sizeof(bool))};
        cr_assert_not_null(w[t].ok);
        cr_assert_eq(pthread_create(&threads[t], NULL, load_writer_run, &w[t]), 0);
    }
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (atomic_load(&acked_total) < LOAD_ACKED_BEFORE && clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        cluster_pause_ms(5);
    }
    int acked_at_kill = atomic_load(&acked_total);
    cluster_kill_all(c); /* while the writers write */
    atomic_store(&stop, true);
    for (int t = 0; t < LOAD_WRITERS; t++)
        pthread_join(threads[t], NULL);
    cr_assert_geq(acked_at_kill, LOAD_ACKED_BEFORE, "only %d writes acknowledged in %u ms",
                  acked_at_kill, CLUSTER_WAIT_MS);

    cluster_start_all(c);
    cluster_wait_leader(c);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    int checked = 0, unacked_present = 0;
    for (int t = 0; t < LOAD_WRITERS; t++) {
        for (int i = 0; i <= w[t].attempted; i++) {
            char key[32], value[64], got[64] = "";
            load_kv(t, i, key, sizeof key, value, sizeof value);
            int code = cluster_kv_get(cl, key, false, got, sizeof got);
            if (i < w[t].attempted && w[t].ok[i]) {
                cr_assert_eq(code, KV_OK, "acknowledged put %s is lost (get: %d)", key, code);
                cr_assert_str_eq(got, value, "acknowledged put %s has another value", key);
                checked++;
            } else if (i < w[t].attempted) {
                /* in flight at the kill: there or not, but never something else */
                cr_assert(code == KV_OK || code == KV_NOT_FOUND, "get %s: %d", key, code);
                if (code == KV_OK) {
                    cr_assert_str_eq(got, value, "unacknowledged put %s has another value", key);
                    unacked_present++;
                }
            } else {
                cr_assert_eq(code, KV_NOT_FOUND, "%s was never written, yet it is there", key);
            }
        }
        free(w[t].ok);
    }
    cr_assert_geq(checked, acked_at_kill);
    cr_log_info("%d acknowledged writes survived; %d unacknowledged ones were there too",
                checked, unacked_present);
    cluster_passed();
}
