/* Membership changes and leadership in real clusters: growing and shrinking under a write
 * load (the leader removed too), one change at a time, servers that idle until added,
 * `raftctl transfer`, and a leader that hands over before it stops on SIGTERM. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "luminous/io.h"
#include "luminous/kv.h"

CLUSTER_SUITE(members);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)

#define MEMBERS_ADD_MS 60000u /* raftctl members add waits this long for the catch-up */

static void members_id(struct cluster *c, uint32_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)c->nodes[i].id);
}

/* raftctl members add for node i, through list (NULL: every node); returns the run. */
static struct cluster_run *members_add(struct cluster *c, uint32_t i, const char *list,
                                       uint32_t timeout_ms)
{
    static struct cluster_run r;
    char id[16];
    members_id(c, i, id, sizeof id);
    cluster_ctl_at(c, &r, list, timeout_ms, "members", "add", id, c->nodes[i].peer_addr,
                   c->nodes[i].client_addr, NULL);
    return &r;
}

static void members_add_ok(struct cluster *c, uint32_t i)
{
    struct cluster_run *r = members_add(c, i, NULL, MEMBERS_ADD_MS);
    ctl_expect(r, 0);
    cr_assert(strstr(r->out, "is a voter"), "stdout: %s", r->out);
    c->nodes[i].outside = false;
}

static void members_remove_ok(struct cluster *c, uint32_t i)
{
    static struct cluster_run r;
    char id[16];
    members_id(c, i, id, sizeof id);
    cluster_ctl_at(c, &r, NULL, 30000, "members", "remove", id, NULL);
    ctl_expect(&r, 0);
    c->nodes[i].outside = true;
}

/* `raftctl --json members`: the ids in it, all of which must be voters; returns how many. */
static uint32_t members_json(struct cluster *c, uint64_t *ids, uint32_t cap)
{
    static struct cluster_run r;
    cluster_ctl(c, &r, "--json", "members", NULL);
    ctl_expect(&r, 0);
    uint32_t n = 0;
    for (const char *p = strstr(r.out, "{\"id\":"); p; p = strstr(p + 1, "{\"id\":")) {
        cr_assert_lt(n, cap, "%s", r.out);
        ids[n++] = strtoull(p + 6, NULL, 10);
        const char *end = strchr(p, '}');
        const char *role = strstr(p, "\"role\":\"voter\"");
        cr_assert(role && role < end, "member %" PRIu64 " is not a voter: %s", ids[n - 1],
                  r.out);
    }
    return n;
}

/* The set of ids is exactly want[0..n) (in any order). */
static void members_expect(struct cluster *c, const uint64_t *want, uint32_t n)
{
    uint64_t got[16];
    uint32_t m = members_json(c, got, 16);
    char text[128] = "";
    size_t off = 0;
    for (uint32_t k = 0; k < m; k++)
        off += (size_t)snprintf(text + off, sizeof text - off, "%s%" PRIu64, k ? "," : "",
                                got[k]);
    cr_assert_eq(m, n, "raftctl members shows %s", text);
    for (uint32_t k = 0; k < n; k++) {
        bool found = false;
        for (uint32_t j = 0; j < m; j++)
            found |= got[j] == want[k];
        cr_assert(found, "node %" PRIu64 " is not among the members %s", want[k], text);
    }
}

/* ---- growing and shrinking under load ------------------------------------------------------- */

Test(members, growing_3_to_5_and_shrinking_to_3_without_the_leader_loses_no_write, .timeout = 300)
{
    /* snapshots often: the new servers catch up through InstallSnapshot while the leader
     * keeps taking new ones */
    struct cluster *c = cluster_create_with_idle(5, 3, "snapshot_entries = 300\n"
                                                       "snapshot_margin = 50\n"
                                                       "segment_entries = 64\n");
    cluster_start_all(c); /* nodes 4 and 5 idle until added */
    cluster_wait_leader(c);
    static struct cluster_load ld;
    cluster_load_start(c, &ld, 6, 200000, 15000);
    cluster_load_wait_acked(c, &ld, 300);

    /* grow, one server at a time, while the writers write */
    long from3 = cluster_log_size(c, 3), from4 = cluster_log_size(c, 4);
    members_add_ok(c, 3);
    cluster_load_wait_acked(c, &ld, 300);
    members_add_ok(c, 4);
    cluster_load_wait_acked(c, &ld, 300);
    cr_assert(cluster_log_has(c, 3, from3, "installed the leader's snapshot"));
    cr_assert(cluster_log_has(c, 4, from4, "installed the leader's snapshot"));
    members_expect(c, (uint64_t[]){1, 2, 3, 4, 5}, 5);
    uint32_t leader = cluster_wait_leader(c);

    /* shrink: first the leader itself, then another of the first three */
    uint32_t old_leader = leader;
    members_remove_ok(c, old_leader);
    leader = cluster_wait_leader(c);
    cr_assert_neq(leader, old_leader, "the removed leader still leads");
    cluster_load_wait_acked(c, &ld, 300);
    uint32_t other = 0;
    while (other == leader || other == old_leader)
        other++;
    members_remove_ok(c, other);
    cluster_load_wait_acked(c, &ld, 300);
    cluster_load_stop(&ld);

    uint64_t want[3];
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (!c->nodes[i].outside)
            want[n++] = c->nodes[i].id;
    cr_assert_eq(n, 3);
    members_expect(c, want, 3);
    leader = cluster_wait_leader(c);
    cr_assert(!c->nodes[leader].outside);
    struct wire_status st;
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    uint64_t term = st.term;
    cluster_load_verify(c, &ld, UINT32_MAX, false);

    /* every remaining member agrees on the configuration and has every write */
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    uint64_t commit = st.commit_index;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].outside)
            continue;
        cluster_wait_applied(c, i, commit);
        cr_assert_eq(cluster_status(c, i, &st), 0);
        cr_assert_eq(st.n_members, 3, "node %u sees %u members", i + 1, st.n_members);
    }
    cluster_load_verify(c, &ld, want[0] - 1, true);
    /* the removed servers, still running all along, disturbed nobody */
    cr_assert_eq(cluster_wait_leader(c), leader);
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    cr_assert_eq(st.term, term, "an election after the shrink: term %" PRIu64 " -> %" PRIu64,
                 term, st.term);
    /* the removed servers stop cleanly */
    for (uint32_t i = 0; i < c->n; i++) {
        if (!c->nodes[i].outside)
            continue;
        int status = cluster_stop(c, i);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "removed node %u: status %d",
                  i + 1, status);
    }
    cluster_load_free(&ld);
    cluster_passed();
}

/* ---- one change at a time ------------------------------------------------------------------- */

/* A change cannot commit while both followers are stopped; the leader keeps leading until
 * its check-quorum notices (an election timeout, made long here), and a second change
 * meanwhile must be refused with a clear error. */
Test(members, a_second_change_while_one_is_in_progress_is_refused_with_a_clear_error)
{
    struct cluster *c = cluster_create_with_idle(5, 3, "election_ticks = 60\n");
    cluster_start_all(c);
    uint32_t leader = cluster_wait_leader(c);
    const char *via = c->nodes[leader].client_addr;
    for (uint32_t i = 0; i < 3; i++)
        if (i != leader)
            cluster_pause(c, i);

    struct cluster_run *r = members_add(c, 3, via, 700);
    ctl_expect(r, 3); /* no answer: the change waits for a quorum */
    r = members_add(c, 4, via, 3000);
    cr_assert_neq(r->exit_code, 0, "a second change was accepted; stdout: %s", r->out);
    /* an expectation, not an assertion: the rest of the test still runs */
    cr_expect(strstr(r->err, "already in progress"), "not a clear error (exit %d): %s",
              r->exit_code, r->err);

    for (uint32_t i = 0; i < 3; i++)
        if (i != leader)
            cluster_resume(c, i);
    cluster_wait_leader(c);
    members_add_ok(c, 4);
    members_add_ok(c, 3);
    members_expect(c, (uint64_t[]){1, 2, 3, 4, 5}, 5);
    cr_assert_eq(cluster_kv_put(cluster_client(c, UINT32_MAX, 0), "k", "v"), KV_OK);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_wait_stale_value(c, i, "k", "v");
    cluster_passed();
}

/* ---- a server with no member lines ---------------------------------------------------------- */

Test(members, an_idle_server_never_campaigns_on_its_own)
{
    struct cluster *c = cluster_create_with_idle(1, 0, NULL);
    cluster_start(c, 0);
    cr_assert(cluster_wait_log(c, 0, 0, "idle until added"), "no idle line");
    /* a few of the longest election timeouts: 2 x election_ticks x tick_ms = 600 ms */
    uint64_t until = clock_mono_ms() + 3 * 600;
    int polls = 0;
    while (clock_mono_ms() < until || polls < 10) {
        struct wire_status st;
        cr_assert_eq(cluster_status(c, 0, &st), 0);
        cr_assert_eq(st.term, 0, "an idle server moved to term %" PRIu64, st.term);
        cr_assert_eq(st.role, RAFT_FOLLOWER);
        cr_assert_eq(st.leader_id, 0);
        cr_assert_eq(st.n_members, 0);
        polls++;
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    /* and it takes no writes */
    static struct cluster_run r;
    cluster_ctl_at(c, &r, NULL, 1000, "put", "k", "v", NULL);
    ctl_expect(&r, 3);
    cr_assert(!cluster_log_has(c, 0, 0, "became leader"));
    cluster_passed();
}

/* A server added to a running cluster keeps a config with no member lines: after a crash it
 * must find its configuration and its peers again in its log or its snapshot, and so must
 * the first members, whose config files never heard of it. */
static void members_restart_after_add(const char *extra, int puts)
{
    struct cluster *c = cluster_create_with_idle(4, 3, extra);
    cluster_start_all(c);
    cluster_wait_leader(c);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "one"), KV_OK);
    members_add_ok(c, 3);
    cluster_wait_stale_value(c, 3, "k", "one");
    for (int i = 0; i < puts; i++) { /* enough to snapshot and compact the change away */
        char key[32];
        snprintf(key, sizeof key, "fill-%d", i);
        cr_assert_eq(cluster_kv_put(cl, key, key), KV_OK);
    }

    cluster_kill(c, 3);
    cr_assert_eq(cluster_kv_put(cl, "k", "two"), KV_OK);
    cluster_start(c, 3);
    cluster_wait_stale_value(c, 3, "k", "two");

    cluster_kill_all(c);
    cluster_start_all(c);
    cluster_wait_leader(c);
    cr_assert_eq(cluster_kv_put(cl, "k", "three"), KV_OK);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_wait_stale_value(c, i, "k", "three");
    members_expect(c, (uint64_t[]){1, 2, 3, 4}, 4);
    if (puts > 0) {
        struct wire_status st;
        cr_assert_eq(cluster_status(c, 3, &st), 0);
        cr_assert_gt(st.snapshot_index, 0, "node 4 did not restart from a snapshot");
        cr_assert_gt(st.first_index, 10, "the change is still in node 4's log");
    }
    cluster_passed();
}

Test(members, an_added_server_and_then_every_server_restart_with_the_configuration_in_the_log)
{
    members_restart_after_add("snapshot_entries = 0\n", 0);
}

Test(members, an_added_server_and_then_every_server_restart_with_the_configuration_in_a_snapshot)
{
    members_restart_after_add("snapshot_entries = 100\nsnapshot_margin = 10\n"
                              "segment_entries = 16\n", 400);
}

/* ---- leadership ------------------------------------------------------------------------------ */

Test(members, raftctl_transfer_makes_the_named_node_the_leader)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "before"), KV_OK);
    uint32_t leader = cluster_wait_leader(c);
    static struct cluster_run r;
    char last[16] = "before";
    for (uint32_t round = 0; round < 2; round++) {
        uint32_t to = (leader + 1) % c->n;
        char id[16];
        members_id(c, to, id, sizeof id);
        cluster_ctl(c, &r, "transfer", id, NULL);
        ctl_expect(&r, 0);
        char want[64];
        snprintf(want, sizeof want, "node %s is the leader", id);
        cr_assert(strstr(r.out, want), "stdout: %s", r.out);
        leader = cluster_wait_leader(c);
        cr_assert_eq(leader, to, "node %u leads, not node %u", leader + 1, to + 1);
        cr_assert_eq(cluster_kv_put(cl, "k", id), KV_OK, "a write after the transfer");
        snprintf(last, sizeof last, "%s", id);
    }
    /* not a member: refused, and nothing changes */
    cluster_ctl(c, &r, "transfer", "9", NULL);
    cr_assert_neq(r.exit_code, 0, "transfer to a non-member; stdout: %s", r.out);
    cr_assert_neq(r.err[0], '\0', "no message");
    cr_assert_eq(cluster_wait_leader(c), leader);
    char got[16] = "";
    cr_assert_eq(cluster_kv_get(cl, "k", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, last);
    cluster_passed();
}

Test(members, sigterm_to_the_leader_hands_leadership_over_and_it_exits_0)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "before"), KV_OK);
    uint32_t leader = cluster_wait_leader(c);
    struct wire_status st;
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    uint64_t term = st.term;

    long from = cluster_log_size(c, leader);
    uint64_t t0 = clock_mono_ms();
    int status = cluster_stop(c, leader);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the leader's exit: status %d",
              status);
    uint32_t next = cluster_wait_leader(c);
    uint64_t elapsed = clock_mono_ms() - t0;
    cr_assert_neq(next, leader);
    char line[64];
    snprintf(line, sizeof line, "handing leadership to node %llu",
             (unsigned long long)c->nodes[next].id);
    cr_assert(cluster_log_has(c, leader, from, line), "the old leader's log has no \"%s\"",
              line);
    cr_assert(cluster_log_has(c, leader, from, "stopped"));
    /* handed over, not elected after a timeout: the very next term */
    cr_assert_eq(cluster_status(c, next, &st), 0);
    cr_assert_eq(st.term, term + 1, "the new leader's term is %" PRIu64 ", the old one's %"
                 PRIu64, st.term, term);
    fprintf(stderr, "members-numbers: SIGTERM to the leader: node %u leads %" PRIu64
            " ms later\n", next + 1, elapsed);
    char got[16] = "";
    cr_assert_eq(cluster_kv_get(cl, "k", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "before");
    cr_assert_eq(cluster_kv_put(cl, "k", "after"), KV_OK);
    cluster_passed();
}
