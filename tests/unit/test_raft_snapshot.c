/* Unit tests of snapshots in the consensus core (paper §7): the leader's side (after
 * raft_snapshot_taken and compaction a lagging follower gets a SNAPSHOT, and is paused until
 * raft_snapshot_report), the follower's (install, keep a log that already holds the
 * snapshot's last entry, answer a stale one), and booting from a snapshot. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "luminous/raft.h"
#include "raft_harness.h"

typedef unsigned long long ull;

#define WINDOW 8u /* a small memory window, so that compacted entries are really gone */
#define BATCH  4u

static struct raft_status status(const struct harness_node *n)
{
    return harness_node_status(n);
}

static uint64_t log_term(const struct harness_node *n, uint64_t index)
{
    uint64_t term = 0;
    cr_assert_eq(raft_log_term(n->r, index, &term), 0, "no entry %llu", (ull)index);
    return term;
}

static void assert_members(const struct harness_node *n, const char *current, const char *old)
{
    struct raft_members want = harness_members(current), want_old = harness_members(old);
    struct raft_members got_old;
    struct raft_members got = harness_node_members(n, &got_old);
    cr_assert(harness_members_equal(&got, &want), "node %llu: not \"%s\"", (ull)n->id, current);
    cr_assert(harness_members_equal(&got_old, &want_old), "node %llu: old not \"%s\"",
              (ull)n->id, old);
}

static void small_window(struct harness_node *n)
{
    n->cfg.log_window = WINDOW;
    n->cfg.max_batch = BATCH;
}

/* Server `id` of "1 2 3" with a persisted log of these terms, in term `term`, started. */
static void follower(struct harness_node *n, uint64_t id, const uint64_t *terms, uint32_t count,
                     uint64_t term)
{
    harness_node_init(n, id, 3);
    harness_store_append_terms(&n->store, terms, count);
    n->store.hard_state = (struct raft_hard_state){.term = term};
    harness_node_start(n);
}

/* Proposes count values on the leader, delivering after each so that the small window
 * never fills with undurable entries. */
static void propose_many(struct harness_cluster *c, struct harness_node *leader, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_eq(harness_node_propose(leader, 1000 + i, NULL), 0);
        harness_cluster_deliver(c);
    }
}

static void heartbeat_round(struct harness_cluster *c, struct harness_node *n)
{
    for (uint32_t i = 0; i < n->cfg.heartbeat_ticks; i++) {
        raft_tick(n->r);
        harness_cluster_deliver(c);
    }
}

/* A cluster of 3 with small windows, 1 elected, 3 cut off while `count` entries commit, and
 * a snapshot on 1 at its applied index with the log compacted up to it. Returns the index. */
static uint64_t lagging_follower(struct harness_cluster *c, uint32_t count)
{
    harness_cluster_init(c, 3);
    for (uint32_t i = 0; i < 3; i++)
        small_window(&c->nodes[i]);
    harness_cluster_start(c);
    harness_cluster_elect(c, 1);
    harness_cluster_deliver(c);
    harness_cluster_isolate(c, 3);
    struct harness_node *leader = harness_cluster_node(c, 1);
    propose_many(c, leader, count);
    uint64_t index = status(leader).applied_index;
    cr_assert_eq(index, status(leader).last_index);
    harness_node_snapshot(leader, index, index);
    cr_assert_eq(status(leader).snapshot_index, index);
    cr_assert_eq(status(leader).first_index, index + 1);
    cr_assert_eq(log_term(leader, index), status(leader).term);
    harness_cluster_heal(c);
    return index;
}

/* Counts what the leader sends node 3 and holds back the SNAPSHOT messages: the transfer of
 * the snapshot's data is the test's to play. */
struct hold {
    uint32_t snapshots, appends_after, appends_before;
    struct raft_msg snapshot;
};

static bool hold_filter(void *arg, const struct raft_msg *m)
{
    struct hold *h = arg;
    if (m->from != 1 || m->to != 3)
        return true;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        h->snapshots++;
        h->snapshot = *m;
        return false;
    }
    if (m->type == RAFT_MSG_APPEND)
        *(h->snapshots ? &h->appends_after : &h->appends_before) += 1;
    return true;
}

/* ---- the leader's side ----------------------------------------------------------------------- */

Test(raft_snapshot, a_follower_behind_the_compacted_log_gets_a_snapshot_and_waits_for_the_report)
{
    struct harness_cluster c;
    uint64_t index = lagging_follower(&c, 20);
    struct harness_node *leader = harness_cluster_node(&c, 1), *n3 = harness_cluster_node(&c, 3);
    struct hold h = {0};
    c.filter = hold_filter;
    c.filter_arg = &h;
    for (uint32_t i = 0; i < 20 && h.snapshots == 0; i++)
        heartbeat_round(&c, leader);
    cr_assert_eq(h.snapshots, 1);
    cr_assert_eq(h.snapshot.snapshot.index, index);
    cr_assert_eq(h.snapshot.snapshot.term, status(leader).term);
    cr_assert_eq(h.snapshot.term, status(leader).term);
    cr_assert_eq(h.snapshot.snapshot.members.count, 0, "the membership is the shell's to fill");

    /* paused: heartbeats go on, nothing else until the report */
    uint64_t hb = c.delivered;
    for (uint32_t i = 0; i < 5; i++)
        heartbeat_round(&c, leader);
    cr_assert_gt(c.delivered, hb);
    cr_assert_eq(h.snapshots, 1, "resent before the report");
    cr_assert_eq(h.appends_after, 0, "appends to a follower receiving a snapshot");

    /* the shell's transfer arrives, the receiver steps it, the sender reports it */
    struct raft_msg m = h.snapshot;
    m.snapshot.members = leader->store.snap.members;
    harness_node_step_ok(n3, m);
    raft_snapshot_report(leader->r, 3, true);
    c.filter = NULL;
    harness_cluster_deliver(&c);
    heartbeat_round(&c, leader);
    cr_assert_eq(n3->snapshots_installed, 1);
    cr_assert_eq(status(n3).snapshot_index, index);
    cr_assert_eq(status(n3).commit_index, status(leader).commit_index);
    uint64_t at;
    cr_assert_eq(harness_node_propose(leader, 7, &at), 0);
    harness_cluster_deliver(&c);
    cr_assert_eq(n3->applied_count, at);
    cr_assert_eq(harness_entry_value(&n3->applied[at - 1]), 7);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

/* Was a core bug: a follower whose log ends below the leader's snapshot index was walked
 * back one index per round trip through the part of the memory window at or below the
 * snapshot, with up to max_batch refused entries each time. Now the first refusal that
 * shows it ends before the snapshot sends it from right after its end, or the snapshot. */
Test(raft_snapshot, a_follower_behind_the_snapshot_gets_it_without_walking_back_the_window)
{
    struct harness_cluster c;
    lagging_follower(&c, 20);
    struct harness_node *leader = harness_cluster_node(&c, 1);
    struct hold h = {0};
    c.filter = hold_filter;
    c.filter_arg = &h;
    for (uint32_t i = 0; i < 20 && h.snapshots == 0; i++)
        heartbeat_round(&c, leader);
    cr_assert_eq(h.snapshots, 1);
    cr_assert_leq(h.appends_before, 2, "%u appends refused before the snapshot went out",
                  h.appends_before);
    harness_cluster_free(&c);
}

/* Server 1 of "1 2 3" with a small window, leader of term 2 over 20 entries of term 1 and its
 * NOOP (21), committed by 2; a snapshot at 10 with the log compacted up to 10; 3's first
 * probe refused by an empty log. Returns with the SNAPSHOT to 3 collected. */
static void leader_sending_snapshot(struct harness_node *n)
{
    harness_node_init(n, 1, 3);
    small_window(n);
    for (int i = 0; i < 20; i++)
        harness_store_append(&n->store, 1);
    n->store.hard_state = (struct raft_hard_state){.term = 1};
    harness_node_start(n);
    harness_node_make_leader(n, 2);
    cr_assert_eq(status(n).last_index, 21);
    harness_node_step_ok(n, harness_append_resp(2, 1, 2, true, 21, 0, 0));
    harness_node_drain(n);
    cr_assert_eq(n->applied_count, 21);
    harness_node_snapshot(n, 10, 10);
    harness_node_clear(n);
    /* 3 refuses the probe at 20: its log ends at 0, before the snapshot, so the snapshot
     * goes at once (no probing back through what the window still holds) */
    harness_node_step_ok(n, harness_append_resp(3, 1, 2, false, 20, 0, 0));
    harness_node_drain(n);
    cr_assert_eq(harness_node_count(n, RAFT_MSG_SNAPSHOT, 3), 1);
    const struct harness_msg *s = harness_node_msg(n, RAFT_MSG_SNAPSHOT, 3, 0);
    cr_assert_eq(s->m.snapshot.index, 10);
    cr_assert_eq(s->m.snapshot.term, 1);
    cr_assert(s->now, "a SNAPSHOT promises nothing of this batch");
    cr_assert_eq(harness_node_count(n, RAFT_MSG_APPEND, 3), 0);
    harness_node_clear(n);
}

Test(raft_snapshot, a_failed_report_goes_back_to_probing_and_does_not_resend_at_once)
{
    struct harness_node n;
    leader_sending_snapshot(&n);
    harness_node_step_ok(&n, harness_heartbeat_resp(3, 1, 2, 0));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_SNAPSHOT, 3), 0, "paused while sending");
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0);

    raft_snapshot_report(n.r, 3, false);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_SNAPSHOT, 3), 0, "resent at once");
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0);
    /* it is alive: probe again, which finds the log still compacted */
    harness_node_step_ok(&n, harness_heartbeat_resp(3, 1, 2, 0));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_SNAPSHOT, 3), 1);
    harness_node_free(&n);
}

Test(raft_snapshot, after_a_good_report_the_followers_answer_resumes_replication_after_the_snapshot)
{
    struct harness_node n;
    leader_sending_snapshot(&n);
    raft_snapshot_report(n.r, 3, true);
    harness_node_drain(&n);
    cr_assert_eq(n.out_count, 0, "waits for the follower's answer");
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, true, 10, 0, 0));
    uint64_t match = 0;
    cr_assert_eq(raft_match_index(n.r, 3, &match), 0);
    cr_assert_eq(match, 10);
    harness_node_drain(&n);
    const struct harness_msg *a = harness_node_msg(&n, RAFT_MSG_APPEND, 3, 0);
    cr_assert_not_null(a);
    cr_assert_eq(a->m.append.prev_log_index, 10);
    cr_assert_eq(a->m.append.prev_log_term, 1);
    cr_assert_eq(a->m.append.entries[0].index, 11, "entry 11 read from the store");
    harness_node_free(&n);
}

Test(raft_snapshot, the_followers_answer_before_the_report_also_resumes_replication)
{
    struct harness_node n;
    leader_sending_snapshot(&n);
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, true, 10, 0, 0));
    harness_node_drain(&n);
    const struct harness_msg *a = harness_node_msg(&n, RAFT_MSG_APPEND, 3, 0);
    cr_assert(a && a->m.append.prev_log_index == 10);
    harness_node_clear(&n);
    raft_snapshot_report(n.r, 3, true); /* late: changes nothing */
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_SNAPSHOT, 3), 0);
    harness_node_free(&n);
}

Test(raft_snapshot, a_snapshot_taken_below_applied_keeps_the_later_entries_and_terms)
{
    struct harness_node n;
    leader_sending_snapshot(&n);
    struct raft_status st = status(&n);
    cr_assert_eq(st.snapshot_index, 10);
    cr_assert_eq(st.first_index, 11);
    cr_assert_eq(st.last_index, 21);
    cr_assert_eq(st.commit_index, 21);
    cr_assert_eq(log_term(&n, 10), 1);
    cr_assert_eq(log_term(&n, 11), 1);
    cr_assert_eq(log_term(&n, 21), 2);
    uint64_t t;
    cr_assert_eq(raft_log_term(n.r, 9, &t), -RAFT_ECOMPACTED);
    harness_node_free(&n);
}

/* ---- the follower's side --------------------------------------------------------------------- */

Test(raft_snapshot,
     a_follower_installs_a_snapshot_over_its_conflicting_log_and_acks_after_persisting)
{
    struct harness_node n;
    follower(&n, 2, (uint64_t[]){1, 1, 2, 2}, 4, 2);
    harness_node_step_ok(&n, harness_heartbeat(1, 2, 2, 1, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 1);
    harness_node_clear(&n);

    struct raft_members m = harness_members("1 2 3 4L");
    harness_node_step_ok(&n, harness_snapshot(3, 2, 3, 6, 3, &m, NULL));
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_not_null(rd.snapshot);
    cr_assert_eq(rd.snapshot->index, 6);
    cr_assert_eq(rd.snapshot->term, 3);
    cr_assert(harness_members_equal(&rd.snapshot->members, &m));
    cr_assert_eq(rd.snapshot->members_old.count, 0);
    cr_assert_eq(rd.n_entries, 0);
    cr_assert_eq(rd.n_committed, 0, "nothing to apply: the snapshot is the state");
    cr_assert(rd.hard_state_changed && rd.hard_state.term == 3);
    for (uint32_t i = 0; i < rd.n_msgs_now; i++)
        cr_assert_neq(rd.msgs_now[i].type, RAFT_MSG_APPEND_RESP, "acked before persisting");
    const struct raft_msg *resp = NULL;
    for (uint32_t i = 0; i < rd.n_msgs; i++)
        if (rd.msgs[i].type == RAFT_MSG_APPEND_RESP)
            resp = &rd.msgs[i];
    cr_assert_not_null(resp, "the answer leaves with the batch that installs the snapshot");
    cr_assert_eq(resp->to, 3);
    cr_assert_eq(resp->term, 3);
    cr_assert(resp->append_resp.success);
    cr_assert_eq(resp->append_resp.last_index, 6);
    harness_node_handle(&n, &rd);
    harness_node_drain(&n);

    struct raft_status st = status(&n);
    cr_assert_eq(st.commit_index, 6);
    cr_assert_eq(st.applied_index, 6);
    cr_assert_eq(st.snapshot_index, 6);
    cr_assert_eq(st.first_index, 7);
    cr_assert_eq(st.last_index, 6);
    cr_assert_eq(st.last_term, 3);
    cr_assert_eq(st.leader_id, 3);
    cr_assert_eq(log_term(&n, 6), 3);
    uint64_t t;
    for (uint64_t i = 1; i <= 4; i++)
        cr_assert_eq(raft_log_term(n.r, i, &t), -RAFT_ECOMPACTED, "old entry %llu", (ull)i);
    cr_assert_eq(n.snapshots_installed, 1);
    cr_assert_eq(n.store.last_index, 6, "the old log is gone");
    assert_members(&n, "1 2 3 4L", "");

    /* and the log goes on after it */
    struct raft_entry e;
    harness_entry_set(&e, 7, 3);
    harness_node_step_ok(&n, harness_append(3, 2, 3, 6, 3, 7, &e, 1));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 7);
    cr_assert_eq(n.applied_count, 7);
    cr_assert_eq(n.applied[6].index, 7);
    cr_assert_eq(n.applied[6].term, 3);
    harness_node_free(&n);
}

Test(raft_snapshot, a_follower_whose_log_holds_the_snapshots_last_entry_keeps_its_log)
{
    struct harness_node n;
    follower(&n, 2, (uint64_t[]){1, 1, 2, 2, 2}, 5, 2);
    struct raft_members m = harness_members("1 2 3");
    harness_node_step_ok(&n, harness_snapshot(1, 2, 2, 3, 2, &m, NULL));
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_null(rd.snapshot, "nothing to install");
    harness_node_handle(&n, &rd);
    harness_node_drain(&n);
    cr_assert_eq(status(&n).last_index, 5, "the entries after it are kept");
    cr_assert_eq(status(&n).commit_index, 3);
    cr_assert_eq(status(&n).snapshot_index, 0);
    cr_assert_eq(n.applied_count, 3, "applied from its own log");
    cr_assert_eq(n.store.last_index, 5);
    const struct harness_msg *r = harness_node_msg(&n, RAFT_MSG_APPEND_RESP, 1, 0);
    cr_assert(r && r->m.append_resp.success && r->m.append_resp.last_index == 3);
    harness_node_free(&n);
}

Test(raft_snapshot, a_stale_snapshot_is_answered_without_installing)
{
    for (uint64_t index = 3; index <= 4; index++) {
        struct harness_node n;
        follower(&n, 2, (uint64_t[]){1, 1, 2, 2, 2}, 5, 2);
        harness_node_step_ok(&n, harness_heartbeat(1, 2, 2, 4, 0));
        harness_node_drain(&n);
        harness_node_clear(&n);
        cr_assert_eq(status(&n).commit_index, 4);
        struct raft_members m = harness_members("1 2 3");
        harness_node_step_ok(&n, harness_snapshot(1, 2, 2, index, 2, &m, NULL));
        harness_node_drain(&n);
        cr_assert_eq(n.snapshots_installed, 0, "index %llu", (ull)index);
        cr_assert_eq(status(&n).last_index, 5);
        cr_assert_eq(status(&n).commit_index, 4);
        cr_assert_eq(status(&n).snapshot_index, 0);
        const struct harness_msg *r = harness_node_msg(&n, RAFT_MSG_APPEND_RESP, 1, 0);
        cr_assert_not_null(r, "a stale snapshot is still answered");
        cr_assert(r->m.append_resp.success);
        cr_assert(r->m.append_resp.last_index >= index && r->m.append_resp.last_index <= 4);
        harness_node_free(&n);
    }
}

Test(raft_snapshot, malformed_snapshot_messages_are_refused)
{
    struct harness_node n;
    follower(&n, 2, NULL, 0, 0);
    struct raft_members ok = harness_members("1 2 3"), none = harness_members("1L 2L");
    struct raft_members dup = harness_members("1 1 2");
    struct raft_msg bad[] = {
        harness_snapshot(1, 2, 2, 0, 1, &ok, NULL),   /* index 0 */
        harness_snapshot(1, 2, 2, 5, 0, &ok, NULL),   /* term 0 */
        harness_snapshot(1, 2, 2, 5, 3, &ok, NULL),   /* term past the message's */
        harness_snapshot(1, 2, 2, 5, 1, NULL, NULL),  /* no members */
        harness_snapshot(1, 2, 2, 5, 1, &none, NULL), /* no voters */
        harness_snapshot(1, 2, 2, 5, 1, &dup, NULL),  /* a duplicate */
        harness_snapshot(1, 2, 2, 5, 1, &ok, &dup),   /* a duplicate in the old list */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(harness_node_step(&n, &bad[i]), -RAFT_EMALFORMED, "message %zu", i);
    cr_assert_eq(status(&n).term, 0);
    cr_assert(!raft_ready(n.r, &(struct raft_ready){0}));
    harness_node_free(&n);
}

/* ---- booting from a snapshot ----------------------------------------------------------------- */

static void snapshot_store(struct harness_node *n, uint64_t id, uint64_t index, uint64_t term,
                           const char *members)
{
    harness_node_init(n, id, 3);
    struct raft_snapshot_meta meta = {.index = index, .term = term,
                                      .members = harness_members(members)};
    harness_store_compact(&n->store, &meta, index);
}

Test(raft_snapshot, a_node_boots_from_a_snapshot_and_the_term_at_its_index_is_the_snapshots)
{
    struct harness_node n;
    snapshot_store(&n, 2, 10, 3, "1 2 3 4L");
    harness_store_append(&n.store, 3);
    harness_store_append(&n.store, 4);
    n.store.hard_state = (struct raft_hard_state){.term = 4};
    harness_node_start(&n);

    struct raft_status st = status(&n);
    cr_assert_eq(st.snapshot_index, 10);
    cr_assert_eq(st.first_index, 11);
    cr_assert_eq(st.commit_index, 10);
    cr_assert_eq(st.applied_index, 10);
    cr_assert_eq(st.last_index, 12);
    cr_assert_eq(st.last_term, 4);
    cr_assert_eq(log_term(&n, 10), 3);
    cr_assert_eq(log_term(&n, 11), 3);
    uint64_t t;
    cr_assert_eq(raft_log_term(n.r, 9, &t), -RAFT_ECOMPACTED);
    cr_assert_eq(raft_log_term(n.r, 13, &t), -RAFT_EINVAL);
    assert_members(&n, "1 2 3 4L", "");
    cr_assert_eq(n.store.type_reads, 2, "only entries after the snapshot are looked at");

    /* a leader's append after the snapshot: 11 and 12 come from the store */
    struct raft_entry e;
    harness_entry_set(&e, 13, 4);
    harness_node_step_ok(&n, harness_append(1, 2, 4, 12, 4, 13, &e, 1));
    harness_node_drain(&n);
    cr_assert_eq(n.applied_count, 13);
    cr_assert_eq(n.applied[10].index, 11);
    cr_assert_eq(n.applied[10].term, 3);
    harness_node_free(&n);
}

Test(raft_snapshot, a_node_with_only_a_snapshot_compares_logs_by_the_snapshots_last_entry)
{
    struct harness_node n;
    snapshot_store(&n, 2, 10, 3, "1 2 3");
    n.store.hard_state = (struct raft_hard_state){.term = 3};
    harness_node_start(&n);
    cr_assert_eq(status(&n).last_index, 10);
    cr_assert_eq(status(&n).last_term, 3);

    const struct harness_msg *r;
    harness_node_step_ok(&n, harness_vote(3, 2, 5, false, 10, 2));
    harness_node_drain(&n);
    r = harness_node_msg(&n, RAFT_MSG_VOTE_RESP, 3, 0);
    cr_assert(r && !r->m.vote_resp.granted, "an older last term");
    harness_node_step_ok(&n, harness_vote(1, 2, 5, false, 9, 3));
    harness_node_drain(&n);
    r = harness_node_msg(&n, RAFT_MSG_VOTE_RESP, 1, 0);
    cr_assert(r && !r->m.vote_resp.granted, "a shorter log");
    harness_node_step_ok(&n, harness_vote(1, 2, 5, false, 10, 3));
    harness_node_drain(&n);
    r = harness_node_msg(&n, RAFT_MSG_VOTE_RESP, 1, 1);
    cr_assert(r && r->m.vote_resp.granted, "as up to date");
    harness_node_free(&n);
}

Test(raft_snapshot, members_entries_after_the_snapshot_override_its_configuration_at_boot)
{
    struct harness_node n;
    snapshot_store(&n, 2, 10, 3, "1 2 3");
    struct raft_members m = harness_members("1 2 3 4L");
    harness_store_append_members(&n.store, 3, &m, NULL, NULL, 0);
    n.store.hard_state = (struct raft_hard_state){.term = 3};
    harness_node_start(&n);
    assert_members(&n, "1 2 3 4L", "");
    harness_node_free(&n);
}

Test(raft_snapshot, a_node_boots_from_a_snapshot_taken_in_a_joint_phase)
{
    struct harness_node n;
    snapshot_store(&n, 1, 10, 3, "1 2 4");
    n.store.snap.members_old = harness_members("1 2 3");
    n.store.hard_state = (struct raft_hard_state){.term = 3};
    n.cfg.pre_vote = false;
    harness_node_start(&n);
    assert_members(&n, "1 2 4", "1 2 3");
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE);
    harness_node_step_ok(&n, harness_vote_resp(3, 1, 4, false, true));
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE, "3 is of C_old only");
    harness_node_step_ok(&n, harness_vote_resp(2, 1, 4, false, true));
    cr_assert_eq(status(&n).role, RAFT_LEADER);
    /* the joint configuration came committed with the snapshot: C_new follows at once */
    harness_node_drain(&n);
    cr_assert_eq(status(&n).last_index, 12, "NOOP, then C_new");
    assert_members(&n, "1 2 4", "");
    harness_node_free(&n);
}

/* ---- the whole cluster ---------------------------------------------------------------------- */

Test(raft_snapshot, a_restarted_follower_catches_up_by_snapshot_and_restarts_from_it)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    for (uint32_t i = 0; i < 3; i++)
        small_window(&c.nodes[i]);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    harness_cluster_deliver(&c);
    struct harness_node *leader = harness_cluster_node(&c, 1), *n3 = harness_cluster_node(&c, 3);
    harness_node_crash(n3);
    propose_many(&c, leader, 30);
    uint64_t index = status(leader).applied_index - 3;
    harness_node_snapshot(leader, index, index);

    harness_node_start(n3);
    for (uint32_t i = 0; i < 20 && status(n3).commit_index < status(leader).commit_index; i++)
        heartbeat_round(&c, leader);
    cr_assert_eq(n3->snapshots_installed, 1);
    cr_assert_eq(status(n3).snapshot_index, index);
    cr_assert_eq(status(n3).commit_index, status(leader).commit_index);
    cr_assert_eq(n3->applied_count, status(leader).commit_index);
    harness_cluster_check_applied(&c);

    harness_node_crash(n3);
    harness_node_start(n3);
    cr_assert_eq(status(n3).snapshot_index, index);
    cr_assert_eq(status(n3).first_index, index + 1);
    cr_assert_eq(log_term(n3, index), leader->store.snap.term);
    propose_many(&c, leader, 3);
    heartbeat_round(&c, leader);
    cr_assert_eq(n3->applied_count, status(leader).commit_index);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}
