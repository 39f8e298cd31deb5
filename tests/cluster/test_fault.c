/* Disk faults injected into running nodes by the LD_PRELOAD shim (tests/fault/shim.c):
 * a failed fsync stops a node, loudly, and loses nothing acknowledged; a full disk makes
 * the cluster refuse writes with a clear error, answer stale reads, and carry on by itself
 * once there is space again (DESIGN.md, storage). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(fault);

/* A cluster of n nodes, each under the fault shim with no fault yet, and a leader. */
static struct cluster *fault_up(uint32_t n, uint32_t *leader_out)
{
    struct cluster *c = cluster_create(n, NULL);
    for (uint32_t i = 0; i < n; i++)
        cluster_fault_shim(c, i);
    cluster_start_all(c);
    *leader_out = cluster_wait_leader(c);
    return c;
}

/* Puts prefix-0..prefix-(n-1) = their names, each acknowledged. */
static void fault_put_keys(struct lum_client *cl, const char *prefix, int n)
{
    for (int k = 0; k < n; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s-%d", prefix, k);
        cr_assert_eq(cluster_kv_put(cl, key, key), KV_OK, "put %s", key);
    }
}

/* Every prefix-k reads back as written, linearizably through the cluster, or from node
 * i's local state (stale) once it has the last of them. */
static void fault_check_keys(struct cluster *c, struct lum_client *cl, uint32_t i,
                             const char *prefix, int n)
{
    char key[32], value[64];
    snprintf(key, sizeof key, "%s-%d", prefix, n - 1);
    static struct lum_client *node_clients[CLUSTER_NODES_MAX];
    if (i != UINT32_MAX) {
        cluster_wait_stale_value(c, i, key, key);
        if (!node_clients[i])
            node_clients[i] = cluster_client(c, i, 0);
    }
    struct lum_client *from = i == UINT32_MAX ? cl : node_clients[i];
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "%s-%d", prefix, k);
        cr_assert_eq(cluster_kv_get(from, key, i != UINT32_MAX, value, sizeof value), KV_OK,
                     "get %s", key);
        cr_assert_str_eq(value, key);
    }
}

/* Waits until a write through cl is refused for want of space (the first one may stick in
 * the batch that cannot be written: the client's retry of it is refused). */
static void fault_wait_refused(struct lum_client *cl, const char *key)
{
    int rv;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    do
        rv = cluster_kv_put(cl, key, key);
    while (rv != -LUM_ENOSPC && clock_mono_ms() < deadline);
    cr_assert_eq(rv, -LUM_ENOSPC, "a write on a full disk: %d", rv);
}

/* Waits until a write through cl succeeds. */
static void fault_wait_accepted(struct lum_client *cl, const char *key)
{
    int rv;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    do
        rv = cluster_kv_put(cl, key, key);
    while (rv != KV_OK && clock_mono_ms() < deadline);
    cr_assert_eq(rv, KV_OK, "a write that should succeed: %d", rv);
}

Test(fault, a_failed_fsync_stops_the_follower_and_loses_no_acknowledged_write)
{
    uint32_t l;
    struct cluster *c = fault_up(3, &l);
    uint32_t f = (l + 1) % c->n;
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    fault_put_keys(cl, "before", 10);

    long from = cluster_log_size(c, f);
    cluster_set_fault(c, f, "fsync_eio");
    /* the next entry the follower writes fails its sync; the other two still make a quorum */
    fault_put_keys(cl, "during", 20);
    int status = cluster_wait_exit(c, f);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
              "a node whose fsync failed must exit with an error (status %d)", status);
    cr_assert(cluster_log_has(c, f, from, "fdatasync log/"), "the log line names the file");
    cr_assert(cluster_log_has(c, f, from, strerror(EIO)), "the log line says why");

    fault_put_keys(cl, "after", 10);
    fault_check_keys(c, cl, UINT32_MAX, "before", 10);
    fault_check_keys(c, cl, UINT32_MAX, "during", 20);
    fault_check_keys(c, cl, UINT32_MAX, "after", 10);

    /* back without the fault, it has every acknowledged write */
    cluster_set_fault(c, f, "");
    cluster_start(c, f);
    fault_check_keys(c, cl, f, "after", 10);
    fault_check_keys(c, cl, f, "during", 20);
    fault_check_keys(c, cl, f, "before", 10);
    cluster_passed();
}

Test(fault, a_full_disk_refuses_writes_answers_stale_reads_and_recovers)
{
    uint32_t l;
    struct cluster *c = fault_up(3, &l);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    fault_put_keys(cl, "before", 10);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_wait_stale_value(c, i, "before-9", "before-9");

    long from[3];
    for (uint32_t i = 0; i < c->n; i++) {
        from[i] = cluster_log_size(c, i);
        cluster_set_fault(c, i, "enospc");
    }
    /* The first write sticks in the leader's batch that cannot be written; the client's
     * retry of it (the same session seq) is refused. Its outcome is unknown: it may land
     * once there is space again. */
    fault_wait_refused(cl, "maybe");
    cr_assert_eq(cluster_kv_put(cl, "refused", "y"), -LUM_ENOSPC);

    struct cluster_run r;
    cluster_ctl(c, &r, "put", "refused", "z", NULL);
    cr_assert_eq(r.exit_code, 3, "raftctl put on a full disk: exit %d", r.exit_code);
    uint64_t leader = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        struct wire_status st;
        if (cluster_status(c, i, &st) == 0 && st.role == RAFT_LEADER)
            leader = st.id;
    }
    char says[64];
    snprintf(says, sizeof says, "no space left on device on node %llu:",
             (unsigned long long)leader);
    cr_assert(strstr(r.err, says), "raftctl says: %s", r.err);

    /* reads: stale ones from every node; linearizable ones are refused, clearly */
    for (uint32_t i = 0; i < c->n; i++)
        fault_check_keys(c, cl, i, "before", 10);
    char value[64];
    cr_assert_eq(cluster_kv_get(cl, "before-0", false, value, sizeof value), -LUM_ENOSPC);
    bool said = false;
    for (uint32_t i = 0; i < c->n; i++)
        said |= cluster_log_has(c, i, from[i], "no space left on device");
    cr_assert(said, "a node says its disk is full");
    cluster_check_alive(c);

    /* space again: the cluster carries on by itself */
    for (uint32_t i = 0; i < c->n; i++)
        cluster_set_fault(c, i, "");
    fault_wait_accepted(cl, "after-0");
    fault_put_keys(cl, "after", 10);
    fault_check_keys(c, cl, UINT32_MAX, "before", 10);
    fault_check_keys(c, cl, UINT32_MAX, "after", 10);
    for (uint32_t i = 0; i < c->n; i++)
        fault_check_keys(c, cl, i, "after", 10);
    cr_assert_neq(cluster_kv_get(cl, "refused", false, value, sizeof value), KV_OK,
                  "a refused write was applied");
    cluster_passed();
}

/* Only the leader's disk is full: it stops (no ticks, no heartbeats), the others elect a
 * leader among themselves and take writes; once it has space again it rejoins and catches
 * up with everything they acknowledged. */
Test(fault, a_leader_with_a_full_disk_is_replaced_and_catches_up_later)
{
    uint32_t l;
    struct cluster *c = fault_up(3, &l);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    fault_put_keys(cl, "before", 10);

    cluster_set_fault(c, l, "enospc");
    fault_wait_refused(cluster_client(c, l, 0), "stuck");
    struct lum_client *others = cluster_client(c, (l + 1) % c->n, 0);
    fault_wait_accepted(others, "elsewhere");
    fault_put_keys(others, "during", 10);
    fault_check_keys(c, cl, l, "before", 10); /* stale reads from the stuck node */

    cluster_set_fault(c, l, "");
    fault_check_keys(c, cl, l, "during", 10);
    fault_check_keys(c, cl, UINT32_MAX, "before", 10);
    fault_check_keys(c, cl, UINT32_MAX, "during", 10);
    cluster_passed();
}

/* kill -9 of every node while their disks are full, restarted with space: nothing that
 * was acknowledged is lost, and the cluster takes writes again. */
Test(fault, nodes_killed_while_their_disks_are_full_lose_no_acknowledged_write)
{
    uint32_t l;
    struct cluster *c = fault_up(3, &l);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    fault_put_keys(cl, "before", 10);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_set_fault(c, i, "enospc");
    fault_wait_refused(cl, "stuck");

    cluster_kill_all(c);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_set_fault(c, i, "");
    cluster_start_all(c);
    cluster_wait_leader(c);
    fault_wait_accepted(cl, "after-0");
    fault_put_keys(cl, "after", 10);
    fault_check_keys(c, cl, UINT32_MAX, "before", 10);
    fault_check_keys(c, cl, UINT32_MAX, "after", 10);
    for (uint32_t i = 0; i < c->n; i++)
        fault_check_keys(c, cl, i, "before", 10);
    cluster_passed();
}

/* A leader whose file system has less free space than its reserve refuses new writes up
 * front, before the log meets ENOSPC; its core keeps running, so linearizable reads are
 * still answered; with space again it takes writes. */
Test(fault, a_leader_below_its_disk_reserve_refuses_writes_and_still_reads)
{
    uint32_t l;
    struct cluster *c = fault_up(3, &l);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    fault_put_keys(cl, "before", 10);
    long from = cluster_log_size(c, l);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_set_fault(c, i, "lowspace");
    fault_wait_refused(cl, "probe"); /* once the leader has looked (the first may pass) */
    cr_assert_eq(cluster_kv_put(cl, "refused", "x"), -LUM_ENOSPC);
    cr_assert(cluster_wait_log(c, l, from, "below the reserve"), "the leader says why");
    fault_check_keys(c, cl, UINT32_MAX, "before", 10);

    for (uint32_t i = 0; i < c->n; i++)
        cluster_set_fault(c, i, "");
    fault_wait_accepted(cl, "after-0");
    fault_put_keys(cl, "after", 10);
    fault_check_keys(c, cl, UINT32_MAX, "after", 10);
    char value[64];
    cr_assert_neq(cluster_kv_get(cl, "refused", false, value, sizeof value), KV_OK,
                  "a write refused up front was applied");
    cluster_passed();
}
