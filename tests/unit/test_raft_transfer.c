/* Unit tests of leadership transfer (thesis §3.10) in the consensus core: the leader brings
 * the target up to date, sends TIMEOUT_NOW once, refuses proposals meanwhile, and gives up
 * after an election timeout; the target campaigns at once with votes that voters grant
 * despite their leader lease. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "luminous/raft.h"
#include "raft_harness.h"

typedef unsigned long long ull;

static struct raft_status status(const struct harness_node *n)
{
    return harness_node_status(n);
}

/* What the network saw of a transfer to `target` from leader `leader`. */
struct watch {
    struct harness_cluster *c;
    uint64_t leader, target;
    uint32_t timeout_now;          /* TIMEOUT_NOW messages from the leader               */
    uint64_t target_last_at_send;  /* the target's last index when TIMEOUT_NOW reached it */
    uint64_t leader_last_at_send;
    uint32_t prevotes, votes;      /* from the target                                     */
    uint32_t transfer_votes;       /* of those, VOTEs with transfer set                   */
    uint32_t grants;               /* VOTE_RESP granted to the target                     */
    uint32_t proposals_refused;    /* raft_propose on the leader gave -RAFT_ETRANSFER     */
};

static bool watch_filter(void *arg, const struct raft_msg *m)
{
    struct watch *w = arg;
    if (m->type == RAFT_MSG_TIMEOUT_NOW && m->from == w->leader) {
        w->timeout_now++;
        w->target_last_at_send = harness_node_status(harness_cluster_node(w->c, w->target))
                                     .last_index;
        struct harness_node *l = harness_cluster_node(w->c, w->leader);
        w->leader_last_at_send = harness_node_status(l).last_index;
        if (harness_node_propose(l, 99, NULL) == -RAFT_ETRANSFER)
            w->proposals_refused++;
    }
    if (m->from == w->target && m->type == RAFT_MSG_PREVOTE)
        w->prevotes++;
    if (m->from == w->target && m->type == RAFT_MSG_VOTE) {
        w->votes++;
        w->transfer_votes += m->vote.transfer;
    }
    if (m->to == w->target && m->type == RAFT_MSG_VOTE_RESP && m->vote_resp.granted)
        w->grants++;
    return true;
}

/* A cluster of count voters (or with the given boot configurations), 1 elected. */
static struct harness_node *cluster_up(struct harness_cluster *c, uint32_t count,
                                       const char *spec)
{
    harness_cluster_init(c, count);
    if (spec)
        for (uint32_t i = 0; i < count; i++)
            c->nodes[i].members = harness_members(spec);
    harness_cluster_start(c);
    harness_cluster_elect(c, 1);
    harness_cluster_deliver(c);
    return harness_cluster_node(c, 1);
}

Test(raft_transfer, the_leader_catches_the_target_up_and_then_hands_over_in_one_election)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 3, NULL);
    harness_cluster_isolate(&c, 3);
    for (uint64_t v = 1; v <= 5; v++) {
        cr_assert_eq(harness_node_propose(leader, v, NULL), 0);
        harness_cluster_deliver(&c);
    }
    harness_cluster_heal(&c);
    uint64_t last = status(leader).last_index, term = status(leader).term;
    cr_assert_lt(status(harness_cluster_node(&c, 3)).last_index, last, "3 lags");

    cr_assert_eq(raft_transfer_leader(leader->r, 3), 0);
    cr_assert_eq(status(leader).transfer_to, 3);
    cr_assert_eq(harness_node_propose(leader, 6, NULL), -RAFT_ETRANSFER);
    cr_assert_eq(status(leader).last_index, last, "a refused proposal appended something");

    /* the first batch catches 3 up; no TIMEOUT_NOW while its match is behind */
    harness_node_drain(leader);
    cr_assert_lt(harness_node_match(leader, 3), last);
    cr_assert_eq(harness_node_count(leader, RAFT_MSG_TIMEOUT_NOW, 0), 0);
    cr_assert_geq(harness_node_count(leader, RAFT_MSG_APPEND, 3), 1);

    struct watch w = {.c = &c, .leader = 1, .target = 3};
    c.filter = watch_filter;
    c.filter_arg = &w;
    harness_cluster_deliver(&c);

    cr_assert_eq(w.timeout_now, 1, "TIMEOUT_NOW goes out once");
    cr_assert_eq(w.leader_last_at_send, last);
    cr_assert_eq(w.target_last_at_send, last, "sent before the target had everything");
    cr_assert_eq(w.proposals_refused, 1, "proposals are refused until it is over");
    cr_assert_eq(w.prevotes, 0, "a transfer campaign skips the pre-vote");
    cr_assert_eq(w.votes, 2);
    cr_assert_eq(w.transfer_votes, 2, "its vote requests say it is a transfer");
    cr_assert_geq(w.grants, 1, "a voter with a live leader granted it");
    cr_assert_eq(harness_cluster_leader(&c), 3);
    struct harness_node *n3 = harness_cluster_node(&c, 3);
    cr_assert_eq(status(n3).term, term + 1, "one election");
    cr_assert_eq(status(leader).role, RAFT_FOLLOWER);
    cr_assert_eq(status(leader).transfer_to, 0);
    cr_assert_eq(status(leader).leader_id, 3);

    uint64_t index;
    cr_assert_eq(harness_node_propose(n3, 7, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert_geq(status(n3).commit_index, index);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

Test(raft_transfer, to_a_target_already_up_to_date_timeout_now_leaves_in_the_next_batch)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 3, NULL);
    cr_assert_eq(harness_node_match(leader, 2), status(leader).last_index);
    cr_assert_eq(raft_transfer_leader(leader->r, 2), 0);
    harness_node_drain(leader);
    const struct harness_msg *t = harness_node_msg(leader, RAFT_MSG_TIMEOUT_NOW, 2, 0);
    cr_assert_not_null(t);
    cr_assert_eq(t->m.term, status(leader).term);
    cr_assert(t->now, "TIMEOUT_NOW promises nothing durable: it may leave at once");
    harness_cluster_deliver(&c);
    cr_assert_eq(harness_cluster_leader(&c), 2);
    harness_cluster_free(&c);
}

Test(raft_transfer, a_voter_in_its_leader_lease_grants_a_transfer_vote_but_ignores_a_plain_one)
{
    struct harness_node n;
    harness_node_init(&n, 2, 3);
    harness_node_start(&n);
    harness_node_step_ok(&n, harness_heartbeat(1, 2, 1, 0, 0));
    harness_node_drain(&n);
    harness_node_clear(&n);
    cr_assert_eq(status(&n).leader_id, 1);

    struct raft_msg v = harness_vote(3, 2, 2, false, 0, 0);
    harness_node_step_ok(&n, v);
    harness_node_drain(&n);
    cr_assert_eq(status(&n).term, 1, "a plain vote request does not disturb a live leader");
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE_RESP, 3), 0);

    v.vote.transfer = true;
    harness_node_step_ok(&n, v);
    harness_node_drain(&n);
    cr_assert_eq(status(&n).term, 2);
    const struct harness_msg *r = harness_node_msg(&n, RAFT_MSG_VOTE_RESP, 3, 0);
    cr_assert_not_null(r);
    cr_assert(r->m.vote_resp.granted);
    cr_assert_eq(status(&n).voted_for, 3);
    harness_node_free(&n);
}

Test(raft_transfer, the_target_campaigns_on_timeout_now_at_once_in_a_real_election)
{
    struct harness_node n;
    harness_node_init(&n, 3, 3);
    harness_node_start(&n);
    harness_node_step_ok(&n, harness_heartbeat(1, 3, 4, 0, 0));
    harness_node_drain(&n);
    harness_node_clear(&n);
    harness_node_step_ok(&n, (struct raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 3, .term = 4});
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE, "pre-vote is on but skipped");
    cr_assert_eq(status(&n).term, 5);
    harness_node_drain(&n);
    for (uint64_t id = 1; id <= 2; id++) {
        const struct harness_msg *v = harness_node_msg(&n, RAFT_MSG_VOTE, id, 0);
        cr_assert_not_null(v, "a vote request to %llu", (ull)id);
        cr_assert(v->m.vote.transfer);
    }
    harness_node_free(&n);
}

Test(raft_transfer, a_learner_or_a_stale_timeout_now_does_not_campaign)
{
    struct harness_node n;
    harness_node_init(&n, 4, 3);
    n.members = harness_members("1 2 3 4L");
    harness_node_start(&n);
    harness_node_step_ok(&n, (struct raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 4, .term = 2});
    harness_node_drain(&n);
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    cr_assert_eq(status(&n).term, 2);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, 0), 0);
    harness_node_free(&n);

    harness_node_init(&n, 3, 3);
    harness_node_start(&n);
    harness_node_step_ok(&n, harness_heartbeat(1, 3, 5, 0, 0));
    harness_node_drain(&n);
    harness_node_clear(&n);
    harness_node_step_ok(&n, (struct raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 3, .term = 4});
    harness_node_drain(&n);
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER, "a deposed leader's TIMEOUT_NOW");
    cr_assert_eq(status(&n).term, 5);
    cr_assert_eq(n.out_count, 0);
    harness_node_free(&n);
}

Test(raft_transfer, a_transfer_to_a_learner_ourselves_or_a_stranger_is_einval)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 4, "1 2 3 4L");
    cr_assert_eq(raft_transfer_leader(leader->r, 4), -RAFT_EINVAL, "a learner");
    cr_assert_eq(raft_transfer_leader(leader->r, 1), -RAFT_EINVAL, "ourselves");
    cr_assert_eq(raft_transfer_leader(leader->r, 9), -RAFT_EINVAL, "not a member");
    cr_assert_eq(raft_transfer_leader(leader->r, 0), -RAFT_EINVAL, "id 0");
    cr_assert_eq(status(leader).transfer_to, 0);
    cr_assert_eq(harness_node_propose(leader, 1, NULL), 0, "proposals still go");
    cr_assert_eq(raft_transfer_leader(harness_cluster_node(&c, 2)->r, 3), -RAFT_ENOTLEADER);
    harness_cluster_free(&c);
}

Test(raft_transfer, a_transfer_that_does_not_complete_is_abandoned_after_election_ticks)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 3, NULL);
    struct watch w = {.c = &c, .leader = 1, .target = 3};
    c.filter = watch_filter;
    c.filter_arg = &w;
    harness_cluster_isolate(&c, 3);
    cr_assert_eq(harness_node_propose(leader, 1, NULL), 0);
    harness_cluster_deliver(&c);

    cr_assert_eq(raft_transfer_leader(leader->r, 3), 0);
    uint32_t ticks = leader->cfg.election_ticks;
    for (uint32_t i = 0; i + 1 < ticks; i++) {
        raft_tick(leader->r);
        harness_cluster_deliver(&c);
        cr_assert_eq(harness_node_propose(leader, 2, NULL), -RAFT_ETRANSFER, "tick %u", i + 1);
    }
    raft_tick(leader->r);
    harness_cluster_deliver(&c);
    cr_assert_eq(status(leader).role, RAFT_LEADER);
    cr_assert_eq(status(leader).transfer_to, 0, "abandoned after %u ticks", ticks);
    uint64_t index;
    cr_assert_eq(harness_node_propose(leader, 3, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert_geq(status(leader).commit_index, index);
    cr_assert_eq(w.timeout_now, 0, "the target never caught up");
    harness_cluster_free(&c);
}

Test(raft_transfer, a_membership_change_waits_for_the_transfer)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 3, NULL);
    harness_cluster_isolate(&c, 3);
    cr_assert_eq(raft_transfer_leader(leader->r, 3), 0);
    struct raft_members m = harness_members("1 2 3 4L");
    cr_assert_eq(raft_change_members(leader->r, &m, NULL, 0), -RAFT_ETRANSFER);
    cr_assert(!status(leader).changing);
    harness_cluster_free(&c);
}

Test(raft_transfer, a_new_transfer_replaces_an_abandoned_one_and_completes)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 3, NULL);
    harness_cluster_isolate(&c, 3);
    cr_assert_eq(raft_transfer_leader(leader->r, 3), 0);
    for (uint32_t i = 0; i < leader->cfg.election_ticks; i++) {
        raft_tick(leader->r);
        harness_cluster_deliver(&c);
    }
    cr_assert_eq(status(leader).transfer_to, 0);
    harness_cluster_heal(&c);
    cr_assert_eq(raft_transfer_leader(leader->r, 2), 0);
    harness_cluster_deliver(&c);
    cr_assert_eq(harness_cluster_leader(&c), 2);
    harness_cluster_free(&c);
}
