/* Unit tests of the consensus core through raft.h: the rules of the Raft paper's Figure 2,
 * persistence ordering of the ready batch, Pre-Vote, Check-Quorum, replication flow
 * control, entries, ReadIndex, malformed input and restart. Single-core tests feed a core
 * hand-built messages; multi-node tests run cores together in raft_harness's cluster. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "luminous/raft.h"
#include "raft_harness.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* Server id of `voters`, booted from a persisted log with these terms and this hard state. */
static void boot(struct harness_node *n, uint64_t id, uint32_t voters, const uint64_t *terms,
                 uint32_t count, uint64_t term, uint64_t voted_for)
{
    harness_node_init(n, id, voters);
    harness_store_append_terms(&n->store, terms, count);
    n->store.hard_state = (struct raft_hard_state){.term = term, .voted_for = voted_for};
}

/* The usual subject: server 1 of 3, started. */
static void follower(struct harness_node *n, const uint64_t *terms, uint32_t count,
                     uint64_t term)
{
    boot(n, 1, 3, terms, count, term, 0);
    harness_node_start(n);
}

/* Steps m, drains, and returns the one message of type `type` it answered with. */
static const struct raft_msg *answer(struct harness_node *n, struct raft_msg m, uint8_t type)
{
    harness_node_clear(n);
    harness_node_step_ok(n, m);
    harness_node_drain(n);
    cr_assert_eq(harness_node_count(n, type, m.from), 1, "expected one %s to %llu",
                 raft_msg_type_name(type), (unsigned long long)m.from);
    return &harness_node_msg(n, type, m.from, 0)->m;
}

static struct raft_status status(const struct harness_node *n)
{
    return harness_node_status(n);
}

static uint64_t log_term(const struct harness_node *n, uint64_t index)
{
    uint64_t term = 0;
    cr_assert_eq(raft_log_term(n->r, index, &term), 0, "no entry %llu",
                 (unsigned long long)index);
    return term;
}

/* A single-voter server that has elected itself and made its NOOP durable and committed. */
static void single_leader(struct harness_node *n)
{
    harness_node_start(n);
    for (uint32_t i = 0; i < 2 * n->cfg.election_ticks && status(n).role != RAFT_LEADER; i++)
        harness_node_tick(n, 1);
    cr_assert_eq(status(n).role, RAFT_LEADER);
    harness_node_drain(n);
    cr_assert_eq(status(n).commit_index, status(n).last_index);
    harness_node_clear(n);
}

static void status_assert_same(const struct raft_status *a, const struct raft_status *b)
{
    cr_assert(a->id == b->id && a->role == b->role && a->voter == b->voter &&
              a->term == b->term && a->voted_for == b->voted_for &&
              a->leader_id == b->leader_id && a->commit_index == b->commit_index &&
              a->applied_index == b->applied_index && a->first_index == b->first_index &&
              a->last_index == b->last_index && a->last_term == b->last_term &&
              a->stable_index == b->stable_index && a->snapshot_index == b->snapshot_index &&
              a->msgs_dropped == b->msgs_dropped, "the core's state changed");
}

/* ---- Figure 2, AppendEntries receiver rule 1: reply false if term < currentTerm ------------ */

Test(raft_append, refuses_a_stale_term_and_answers_with_its_own_term)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 2}, 3, 5);
    struct raft_entry e;
    harness_entry_set(&e, 4, 4);

    const struct raft_msg *r = answer(&n, harness_append(2, 1, 4, 3, 2, 4, &e, 1),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert_eq(r->term, 5);
    cr_assert(!r->append_resp.success);
    struct raft_status st = status(&n);
    cr_assert_eq(st.last_index, 3, "a stale append changed the log");
    cr_assert_eq(st.commit_index, 0);
    cr_assert_eq(st.leader_id, 0, "a stale leader was believed");
    cr_assert_eq(n.store.last_index, 3);

    r = answer(&n, harness_heartbeat(2, 1, 4, 3, 0), RAFT_MSG_APPEND_RESP);
    cr_assert_eq(r->term, 5, "a stale heartbeat must learn the newer term too");
    cr_assert_eq(status(&n).commit_index, 0);
    cr_assert_eq(status(&n).term, 5);
    harness_node_free(&n);
}

/* ---- Figure 2, RequestVote receiver ---------------------------------------------------------- */

Test(raft_vote, grants_one_vote_per_term)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);

    const struct raft_msg *r = answer(&n, harness_vote(2, 1, 2, false, 0, 0),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted);
    cr_assert_eq(r->term, 2);
    r = answer(&n, harness_vote(3, 1, 2, false, 0, 0), RAFT_MSG_VOTE_RESP);
    cr_assert(!r->vote_resp.granted, "a second vote in term 2");
    r = answer(&n, harness_vote(2, 1, 2, false, 0, 0), RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted, "a retried request from the same candidate is granted");
    cr_assert_eq(status(&n).voted_for, 2);
    cr_assert_eq(n.store.hard_state.voted_for, 2);

    r = answer(&n, harness_vote(3, 1, 3, false, 0, 0), RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted, "a new term allows a new vote");
    cr_assert_eq(n.store.hard_state.term, 3);
    cr_assert_eq(n.store.hard_state.voted_for, 3);
    harness_node_free(&n);
}

Test(raft_vote, refuses_a_candidate_whose_last_term_is_older_even_if_its_log_is_longer)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 2}, 2, 2);
    const struct raft_msg *r = answer(&n, harness_vote(2, 1, 3, false, 10, 1),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(!r->vote_resp.granted);
    cr_assert_eq(status(&n).term, 3, "a refused request of a newer term still updates ours");
    cr_assert_eq(status(&n).voted_for, 0);
    r = answer(&n, harness_vote(3, 1, 3, false, 2, 2), RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted, "an equally up-to-date candidate gets the vote");
    harness_node_free(&n);
}

Test(raft_vote, grants_a_candidate_whose_last_term_is_newer_even_if_its_log_is_shorter)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 1}, 3, 1);
    const struct raft_msg *r = answer(&n, harness_vote(2, 1, 3, false, 1, 2),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted);
    harness_node_free(&n);
}

Test(raft_vote, with_equal_last_terms_refuses_a_shorter_log_and_grants_an_equal_one)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){2, 2, 2}, 3, 2);
    const struct raft_msg *r = answer(&n, harness_vote(2, 1, 3, false, 2, 2),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(!r->vote_resp.granted, "candidate's log (2, term 2) is behind ours (3, term 2)");
    r = answer(&n, harness_vote(3, 1, 3, false, 3, 2), RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted);
    harness_node_free(&n);
}

/* ---- Figure 2, AppendEntries receiver rules 2-5 --------------------------------------------- */

Test(raft_append, refuses_when_prev_index_is_missing_and_hints_its_last_entry)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 2}, 3, 2);
    struct raft_entry e;
    harness_entry_set(&e, 6, 3);
    const struct raft_msg *r = answer(&n, harness_append(2, 1, 3, 5, 3, 3, &e, 1),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(!r->append_resp.success);
    cr_assert_eq(r->term, 3);
    cr_assert_eq(r->append_resp.last_index, 5, "last_index names the refused prev index");
    cr_assert_eq(r->append_resp.hint_index, 3);
    cr_assert_eq(r->append_resp.hint_term, 2);
    struct raft_status st = status(&n);
    cr_assert_eq(st.last_index, 3);
    cr_assert_eq(st.commit_index, 0, "a refused append must not move the commit index");
    cr_assert_eq(st.leader_id, 2);
    cr_assert_eq(n.store.last_index, 3);
    harness_node_free(&n);
}

Test(raft_append, refuses_a_prev_term_mismatch_and_hints_below_the_conflicting_term)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 3, 3, 3}, 5, 3);
    const struct raft_msg *r = answer(&n, harness_append(2, 1, 4, 5, 2, 0, NULL, 0),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(!r->append_resp.success);
    cr_assert_eq(r->append_resp.last_index, 5);
    cr_assert_eq(r->append_resp.hint_index, 2, "our last index with a term <= 2");
    cr_assert_eq(r->append_resp.hint_term, 1);
    cr_assert_eq(status(&n).last_index, 5, "a refusal truncates nothing");
    harness_node_free(&n);
}

Test(raft_append, refuses_a_prev_term_mismatch_and_hints_the_prev_index_when_ours_is_older)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 2, 2, 2}, 5, 2);
    const struct raft_msg *r = answer(&n, harness_append(2, 1, 4, 4, 3, 0, NULL, 0),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(!r->append_resp.success);
    cr_assert_eq(r->append_resp.last_index, 4);
    cr_assert_eq(r->append_resp.hint_index, 4);
    cr_assert_eq(r->append_resp.hint_term, 2);
    harness_node_free(&n);
}

Test(raft_append, truncates_a_conflicting_suffix_and_the_batch_starts_at_the_conflict)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 2, 2}, 4, 2);
    struct raft_entry e;
    harness_entry_set(&e, 3, 3);
    harness_node_step_ok(&n, harness_append(2, 1, 3, 2, 1, 0, &e, 1));

    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_entries, 1);
    cr_assert_eq(rd.entries[0].index, 3, "the shell must discard from the conflict on");
    cr_assert_eq(rd.entries[0].term, 3);
    harness_node_handle(&n, &rd);
    harness_node_drain(&n);

    cr_assert_eq(n.store.discards, 1);
    cr_assert_eq(n.store.discard_from, 3);
    cr_assert_eq(n.store.last_index, 3);
    cr_assert_eq(harness_store_term(&n.store, 3), 3);
    uint64_t term;
    cr_assert_eq(raft_log_term(n.r, 4, &term), -RAFT_EINVAL, "entry 4 must be gone");
    const struct harness_msg *r = harness_node_msg(&n, RAFT_MSG_APPEND_RESP, 2, 0);
    cr_assert_not_null(r);
    cr_assert(r->m.append_resp.success);
    cr_assert_eq(r->m.append_resp.last_index, 3);
    harness_node_free(&n);
}

Test(raft_append, keeps_matching_entries_when_a_late_append_covers_only_a_prefix)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 1, 1}, 4, 1);
    struct raft_entry e;
    harness_entry_set(&e, 2, 1);
    const struct raft_msg *r = answer(&n, harness_append(2, 1, 1, 1, 1, 0, &e, 1),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(r->append_resp.success);
    cr_assert_eq(r->append_resp.last_index, 2);
    cr_assert_eq(status(&n).last_index, 4, "matching entries after the message were dropped");
    cr_assert_eq(n.store.last_index, 4);
    cr_assert_eq(n.store.discards, 0);
    harness_node_free(&n);
}

Test(raft_append, never_truncates_committed_entries)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 1}, 3, 1);
    harness_node_step_ok(&n, harness_append(2, 1, 1, 3, 1, 3, NULL, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3);

    /* A message claiming other terms for committed entries 2 and 3 (no real leader can
     * send it): the committed entries stay. */
    struct raft_entry e[3];
    harness_entry_set(&e[0], 2, 2);
    harness_entry_set(&e[1], 3, 2);
    harness_entry_set(&e[2], 4, 2);
    harness_node_step_ok(&n, harness_append(3, 1, 2, 1, 1, 0, e, 3));
    harness_node_drain(&n);
    cr_assert_eq(log_term(&n, 2), 1);
    cr_assert_eq(log_term(&n, 3), 1);
    cr_assert_eq(n.store.discards, 0, "committed entries were discarded");
    cr_assert_eq(status(&n).commit_index, 3);

    /* The same leader resending committed entries with new ones: only the new ones land. */
    harness_entry_set(&e[0], 2, 1);
    harness_entry_set(&e[1], 3, 1);
    harness_entry_set(&e[2], 4, 2);
    const struct raft_msg *r = answer(&n, harness_append(3, 1, 2, 1, 1, 0, e, 3),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(r->append_resp.success);
    cr_assert_eq(r->append_resp.last_index, 4);
    cr_assert_eq(n.last_batch_first_index, 4, "the batch rewrote committed entries");
    cr_assert_eq(n.store.discards, 0);
    cr_assert_eq(harness_store_term(&n.store, 4), 2);
    harness_node_free(&n);
}

Test(raft_append, follower_commit_is_capped_by_the_last_new_entry_despite_stale_extras)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 1, 1, 1}, 5, 1); /* 3..5 may be stale */

    const struct raft_msg *r = answer(&n, harness_append(2, 1, 2, 2, 1, 5, NULL, 0),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(r->append_resp.success);
    cr_assert_eq(status(&n).commit_index, 2, "commit = min(leader_commit 5, last new 2)");
    cr_assert_eq(n.applied_count, 2);

    struct raft_entry e;
    harness_entry_set(&e, 3, 2);
    answer(&n, harness_append(2, 1, 2, 2, 1, 5, &e, 1), RAFT_MSG_APPEND_RESP);
    cr_assert_eq(status(&n).commit_index, 3);
    cr_assert_eq(status(&n).last_index, 3);
    cr_assert_eq(n.applied[2].term, 2, "applied the leader's entry 3, not the stale one");

    answer(&n, harness_heartbeat(2, 1, 2, 10, 0), RAFT_MSG_HEARTBEAT_RESP);
    cr_assert_eq(status(&n).commit_index, 3, "a heartbeat cannot commit past our log");
    harness_node_free(&n);
}

/* ---- Figure 2, Rules for Servers: a newer term makes anyone a follower -------------------- */

Test(raft_term, leader_steps_down_on_a_response_with_a_higher_term)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_make_leader(&n, 2);
    harness_node_step_ok(&n, harness_append_resp(3, 1, 7, false, 0, 0, 0));
    struct raft_status st = status(&n);
    cr_assert_eq(st.role, RAFT_FOLLOWER);
    cr_assert_eq(st.term, 7);
    cr_assert_eq(st.voted_for, 0);
    cr_assert_eq(st.leader_id, 0);
    harness_node_drain(&n);
    cr_assert_eq(n.store.hard_state.term, 7);
    cr_assert_eq(n.store.hard_state.voted_for, 0);
    harness_node_free(&n);
}

Test(raft_term, leader_steps_down_on_an_append_with_a_higher_term)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_make_leader(&n, 2);
    const struct raft_msg *r = answer(&n, harness_append(3, 1, 4, 0, 0, 0, NULL, 0),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(r->append_resp.success);
    struct raft_status st = status(&n);
    cr_assert_eq(st.role, RAFT_FOLLOWER);
    cr_assert_eq(st.term, 4);
    cr_assert_eq(st.leader_id, 3);
    harness_node_free(&n);
}

Test(raft_term, leader_without_check_quorum_steps_down_on_a_vote_with_a_higher_term)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 1, 0);
    n.cfg.check_quorum = false;
    harness_node_start(&n);
    harness_node_make_leader(&n, 2);
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 5, false, 1, 2),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted);
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    cr_assert_eq(status(&n).term, 5);
    harness_node_free(&n);
}

/* A candidate of term 2 (pre-vote off, so one timeout makes it one). */
static void candidate(struct harness_node *n)
{
    boot(n, 1, 3, NULL, 0, 1, 0);
    n->cfg.pre_vote = false;
    harness_node_start(n);
    for (uint32_t i = 0; i < 2 * n->cfg.election_ticks && status(n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(n, 1);
    cr_assert_eq(status(n).role, RAFT_CANDIDATE);
    cr_assert_eq(status(n).term, 2);
    harness_node_drain(n);
    harness_node_clear(n);
}

Test(raft_term, candidate_steps_down_on_a_response_with_a_higher_term)
{
    struct harness_node n;
    candidate(&n);
    harness_node_step_ok(&n, harness_vote_resp(2, 1, 7, false, false));
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    cr_assert_eq(status(&n).term, 7);
    cr_assert_eq(status(&n).voted_for, 0);
    harness_node_free(&n);
}

Test(raft_term, candidate_steps_down_on_a_vote_request_with_a_higher_term)
{
    struct harness_node n;
    candidate(&n);
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 3, false, 0, 0),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted);
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    cr_assert_eq(status(&n).term, 3);
    cr_assert_eq(status(&n).voted_for, 3);
    harness_node_free(&n);
}

Test(raft_term, candidate_becomes_follower_on_an_append_of_its_own_term)
{
    struct harness_node n;
    candidate(&n);
    const struct raft_msg *r = answer(&n, harness_append(3, 1, 2, 0, 0, 0, NULL, 0),
                                      RAFT_MSG_APPEND_RESP);
    cr_assert(r->append_resp.success);
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    cr_assert_eq(status(&n).term, 2);
    cr_assert_eq(status(&n).leader_id, 3);
    cr_assert_eq(status(&n).voted_for, 1, "its own vote in term 2 stays");
    harness_node_free(&n);
}

Test(raft_term, candidate_ignores_a_vote_request_of_its_own_term)
{
    struct harness_node n;
    candidate(&n);
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 2, false, 0, 0),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(!r->vote_resp.granted, "it voted for itself in term 2");
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE);
    harness_node_free(&n);
}

/* ---- Figure 8: commit only entries of the current term by counting replicas --------------- */

Test(raft_commit, leader_does_not_commit_an_older_term_entry_by_counting_replicas)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 2}, 2, 2);
    harness_node_make_leader(&n, 2); /* term 3, NOOP at 3 */
    cr_assert_eq(status(&n).term, 3);
    cr_assert_eq(status(&n).last_index, 3);

    harness_node_step_ok(&n, harness_append_resp(2, 1, 3, true, 2, 0, 0));
    harness_node_step_ok(&n, harness_append_resp(3, 1, 3, true, 2, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 0,
                 "entry 2 (term 2) is on every server but must not commit by counting");
    cr_assert_eq(n.applied_count, 0);

    harness_node_step_ok(&n, harness_append_resp(2, 1, 3, true, 3, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3, "committing entry 3 (term 3) commits entry 2");
    cr_assert_eq(n.applied_count, 3);
    cr_assert_eq(n.applied[1].term, 2);
    harness_node_free(&n);
}

/* ---- persistence ordering of the ready batch ------------------------------------------------- */

Test(raft_persist, vote_grant_is_in_msgs_with_the_vote_in_the_same_batch)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_step_ok(&n, harness_vote(2, 1, 3, false, 0, 0));
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert(rd.hard_state_changed);
    cr_assert_eq(rd.hard_state.term, 3);
    cr_assert_eq(rd.hard_state.voted_for, 2);
    cr_assert_eq(rd.n_msgs_now, 0, "a vote must never leave before it is durable");
    cr_assert_eq(rd.n_msgs, 1);
    cr_assert_eq(rd.msgs[0].type, RAFT_MSG_VOTE_RESP);
    cr_assert(rd.msgs[0].vote_resp.granted);
    harness_node_handle(&n, &rd);
    cr_assert(!raft_ready(n.r, &rd));
    harness_node_free(&n);
}

Test(raft_persist, vote_requests_wait_for_the_durable_term_and_self_vote)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 1, 0);
    n.cfg.pre_vote = false;
    harness_node_start(&n);
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE);
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert(rd.hard_state_changed);
    cr_assert_eq(rd.hard_state.term, 2);
    cr_assert_eq(rd.hard_state.voted_for, 1);
    cr_assert_eq(rd.n_msgs_now, 0);
    cr_assert_eq(rd.n_msgs, 2);
    cr_assert_eq(rd.msgs[0].type, RAFT_MSG_VOTE);
    cr_assert_eq(rd.msgs[1].type, RAFT_MSG_VOTE);
    harness_node_handle(&n, &rd);
    harness_node_free(&n);
}

Test(raft_persist, leader_appends_go_in_msgs_until_its_term_is_durable_then_in_msgs_now)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    harness_node_drain(&n);
    harness_node_step_ok(&n, harness_vote_resp(2, 1, 2, true, true));
    harness_node_step_ok(&n, harness_vote_resp(2, 1, 2, false, true)); /* leader before term 2 is durable */
    cr_assert_eq(status(&n).role, RAFT_LEADER);

    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert(rd.hard_state_changed);
    cr_assert_eq(rd.hard_state.term, 2);
    cr_assert_eq(rd.n_msgs_now, 0, "appends of a term that is not durable left early");
    uint32_t appends = 0;
    for (uint32_t i = 0; i < rd.n_msgs; i++)
        appends += rd.msgs[i].type == RAFT_MSG_APPEND;
    cr_assert_eq(appends, 2, "one probe to each follower, after the fsync");
    cr_assert_eq(rd.n_entries, 1);
    harness_node_handle(&n, &rd);
    harness_node_drain(&n);

    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 1, 0, 0)); /* 2 now replicates */
    harness_node_drain(&n);
    harness_node_clear(&n);
    uint64_t index;
    cr_assert_eq(harness_node_propose(&n, 42, &index), 0);
    cr_assert(raft_ready(n.r, &rd));
    cr_assert(!rd.hard_state_changed);
    cr_assert_eq(rd.n_entries, 1);
    cr_assert_eq(rd.entries[0].index, index);
    cr_assert_eq(rd.n_msgs_now, 1, "the append of the new entry may leave before its fsync");
    cr_assert_eq(rd.msgs_now[0].type, RAFT_MSG_APPEND);
    cr_assert_eq(rd.msgs_now[0].to, 2);
    cr_assert_eq(rd.msgs_now[0].append.n_entries, 1);
    cr_assert_eq(rd.msgs_now[0].append.entries[0].index, index);
    harness_node_handle(&n, &rd);
    harness_node_free(&n);
}

Test(raft_persist, single_node_commits_only_after_advance)
{
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    harness_node_start(&n);
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role != RAFT_LEADER; i++)
        harness_node_tick(&n, 1);
    cr_assert_eq(status(&n).role, RAFT_LEADER);

    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_entries, 1, "the NOOP");
    cr_assert_eq(rd.n_committed, 0, "committed before it is durable");
    cr_assert_eq(status(&n).commit_index, 0);
    harness_node_handle(&n, &rd);
    cr_assert_eq(status(&n).commit_index, 1);

    uint64_t index;
    cr_assert_eq(harness_node_propose(&n, 7, &index), 0);
    cr_assert_eq(index, 2);
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_entries, 1);
    for (uint32_t i = 0; i < rd.n_committed; i++)
        cr_assert_neq(rd.committed[i].index, 2, "entry 2 committed in its own batch");
    cr_assert_eq(status(&n).commit_index, 1);
    harness_node_handle(&n, &rd);
    cr_assert_eq(status(&n).commit_index, 2);
    harness_node_drain(&n);
    cr_assert_eq(n.applied_count, 2);
    cr_assert_eq(harness_entry_value(&n.applied[1]), 7);
    harness_node_free(&n);
}

Test(raft_persist, leader_counts_itself_only_after_the_batch_with_the_entry_is_advanced)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_make_leader(&n, 2);
    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 1, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 1);

    uint64_t index;
    cr_assert_eq(harness_node_propose(&n, 9, &index), 0);
    /* server 2 acknowledges at once; with our copy not yet durable that is 1 of 3 */
    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, index, 0, 0));
    cr_assert_eq(status(&n).commit_index, 1);
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_committed, 0);
    cr_assert_eq(status(&n).commit_index, 1);
    harness_node_handle(&n, &rd);
    cr_assert_eq(status(&n).commit_index, index);
    harness_node_free(&n);
}

/* ---- elections and Pre-Vote (thesis §9.6) ---------------------------------------------------- */

Test(raft_election, timeout_is_random_between_election_ticks_and_twice_that)
{
    bool seen[64] = {false};
    uint32_t distinct = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        struct harness_node n;
        harness_node_init(&n, 1, 3);
        n.cfg.seed = seed;
        harness_node_start(&n);
        uint32_t ticks = 0;
        while (status(&n).role == RAFT_FOLLOWER && ticks < 100) {
            harness_node_tick(&n, 1);
            ticks++;
        }
        cr_assert_geq(ticks, n.cfg.election_ticks, "seed %llu: campaigned after %u ticks",
                      (unsigned long long)seed, ticks);
        cr_assert_lt(ticks, 2 * n.cfg.election_ticks, "seed %llu: waited %u ticks",
                     (unsigned long long)seed, ticks);
        if (!seen[ticks]) {
            seen[ticks] = true;
            distinct++;
        }
        harness_node_free(&n);
    }
    cr_assert_geq(distinct, 3, "the timeout is not randomized (%u distinct values)", distinct);
}

Test(raft_prevote, timeout_makes_a_precandidate_without_changing_the_term)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 4}, 2, 4);
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    struct raft_status st = status(&n);
    cr_assert_eq(st.role, RAFT_PRECANDIDATE);
    cr_assert_eq(st.term, 4);
    cr_assert_eq(st.voted_for, 0);
    harness_node_drain(&n);
    cr_assert_eq(n.hard_state_writes, 0, "a pre-vote must not touch the hard state");
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_PREVOTE, 0), 2);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, 0), 0);
    for (uint64_t to = 2; to <= 3; to++) {
        const struct raft_msg *m = &harness_node_msg(&n, RAFT_MSG_PREVOTE, to, 0)->m;
        cr_assert_eq(m->term, 5, "PREVOTE carries the term it would campaign in");
        cr_assert_eq(m->vote.last_log_index, 2);
        cr_assert_eq(m->vote.last_log_term, 4);
    }

    /* without answers it keeps trying, never bumping the term */
    harness_node_tick(&n, 6 * n.cfg.election_ticks);
    harness_node_drain(&n);
    cr_assert_eq(status(&n).term, 4);
    cr_assert_eq(n.store.hard_state.term, 4);
    cr_assert_gt(harness_node_count(&n, RAFT_MSG_PREVOTE, 2), 1);
    harness_node_free(&n);
}

Test(raft_prevote, a_granted_prevote_is_answered_in_the_future_term_and_changes_nothing)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1}, 1, 1);
    const struct raft_msg *r = answer(&n, harness_vote(2, 1, 2, true, 1, 1),
                                      RAFT_MSG_PREVOTE_RESP);
    cr_assert(r->vote_resp.granted);
    cr_assert_eq(r->term, 2);
    cr_assert_eq(status(&n).term, 1, "a pre-vote changed our term");
    cr_assert_eq(status(&n).voted_for, 0);
    cr_assert_eq(n.hard_state_writes, 0);
    r = answer(&n, harness_vote(3, 1, 2, true, 0, 0), RAFT_MSG_PREVOTE_RESP);
    cr_assert(!r->vote_resp.granted, "a pre-vote still needs an up-to-date log");
    harness_node_free(&n);
}

Test(raft_prevote, precandidate_with_a_majority_campaigns_for_real)
{
    struct harness_node n;
    follower(&n, NULL, 0, 3);
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    harness_node_drain(&n);
    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_vote_resp(3, 1, 4, true, true));
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE);
    cr_assert_eq(status(&n).term, 4);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, 0), 2);
    cr_assert_eq(harness_node_msg(&n, RAFT_MSG_VOTE, 2, 0)->m.term, 4);
    harness_node_free(&n);
}

Test(raft_prevote, follower_with_a_live_leader_ignores_higher_term_prevote_and_vote)
{
    struct harness_node n;
    follower(&n, NULL, 0, 2);
    answer(&n, harness_heartbeat(2, 1, 2, 0, 0), RAFT_MSG_HEARTBEAT_RESP);
    cr_assert_eq(status(&n).leader_id, 2);

    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_vote(3, 1, 3, true, 5, 2));
    harness_node_step_ok(&n, harness_vote(3, 1, 3, false, 5, 2));
    harness_node_drain(&n);
    cr_assert_eq(n.out_count, 0, "answered a disruptive server");
    struct raft_status st = status(&n);
    cr_assert_eq(st.term, 2);
    cr_assert_eq(st.voted_for, 0);
    cr_assert_eq(st.leader_id, 2);
    cr_assert_eq(n.hard_state_writes, 0, "the refused requests were persisted");

    /* once the leader has been silent for an election timeout, it is heard */
    harness_node_tick(&n, n.cfg.election_ticks);
    harness_node_drain(&n);
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 3, true, 5, 2),
                                      RAFT_MSG_PREVOTE_RESP);
    cr_assert(r->vote_resp.granted);
    harness_node_free(&n);
}

Test(raft_prevote, without_check_quorum_a_live_leader_does_not_stop_a_higher_term_vote)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 2, 0);
    n.cfg.check_quorum = false;
    harness_node_start(&n);
    answer(&n, harness_heartbeat(2, 1, 2, 0, 0), RAFT_MSG_HEARTBEAT_RESP);

    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_vote(3, 1, 3, true, 5, 2));
    harness_node_drain(&n);
    cr_assert_eq(n.out_count, 0, "a pre-vote is still refused while the leader lives");
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 3, false, 5, 2),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted);
    cr_assert_eq(status(&n).term, 3);
    harness_node_free(&n);
}

/* Elects server 1 of a 3-server cluster, isolates server 3 for many election timeouts,
 * heals, and lets the cluster run. Returns the term before the partition. */
static uint64_t partition_and_rejoin(struct harness_cluster *c, bool pre_vote,
                                     uint64_t *isolated_term_out)
{
    harness_cluster_init(c, 3);
    for (uint32_t i = 0; i < 3; i++)
        c->nodes[i].cfg.pre_vote = pre_vote;
    harness_cluster_start(c);
    harness_cluster_elect(c, 1);
    uint64_t term = status(&c->nodes[0]).term;
    uint32_t e = c->nodes[0].cfg.election_ticks;

    harness_cluster_isolate(c, 3);
    harness_cluster_tick_all(c, 10 * e);
    cr_assert_eq(harness_cluster_leader(c), 1);
    *isolated_term_out = status(&c->nodes[2]).term;
    harness_cluster_heal(c);
    harness_cluster_tick_all(c, 5 * e);
    return term;
}

Test(raft_prevote, a_partitioned_server_rejoining_changes_neither_leader_nor_term)
{
    struct harness_cluster c;
    uint64_t isolated_term;
    uint64_t term = partition_and_rejoin(&c, true, &isolated_term);
    cr_assert_eq(isolated_term, term, "the isolated server bumped its term");
    cr_assert_eq(harness_cluster_leader(&c), 1);
    for (uint32_t i = 0; i < 3; i++) {
        struct raft_status st = status(&c.nodes[i]);
        cr_assert_eq(st.term, term, "server %u is in term %llu, not %llu", i + 1,
                     (unsigned long long)st.term, (unsigned long long)term);
        cr_assert_eq(st.leader_id, 1);
    }
    harness_cluster_free(&c);
}

Test(raft_prevote, without_prevote_a_rejoining_server_bumps_the_term)
{
    struct harness_cluster c;
    uint64_t isolated_term;
    uint64_t term = partition_and_rejoin(&c, false, &isolated_term);
    cr_assert_gt(isolated_term, term, "the isolated server should have campaigned");
    for (uint32_t i = 0; i < 3; i++)
        cr_assert_gt(status(&c.nodes[i]).term, term, "server %u kept term %llu", i + 1,
                     (unsigned long long)term);
    cr_assert_neq(harness_cluster_leader(&c), 0, "the cluster recovers a leader");
    harness_cluster_free(&c);
}

/* ---- Check-Quorum (thesis §6.2) ------------------------------------------------------------- */

Test(raft_check_quorum, leader_that_hears_from_no_one_steps_down)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    uint32_t e = c.nodes[0].cfg.election_ticks;
    uint64_t term = status(&c.nodes[0]).term;
    harness_cluster_isolate(&c, 1);

    /* only the leader's clock runs, so the others cannot depose it */
    uint32_t ticks = 0;
    while (status(&c.nodes[0]).role == RAFT_LEADER && ticks < 10 * e) {
        harness_node_tick(&c.nodes[0], 1);
        harness_cluster_deliver(&c);
        ticks++;
    }
    cr_assert_eq(status(&c.nodes[0]).role, RAFT_FOLLOWER);
    cr_assert_geq(ticks, e, "stepped down after %u ticks, before a full timeout", ticks);
    cr_assert_leq(ticks, 2 * e, "still leader %u ticks after it last heard anyone", ticks);
    cr_assert_eq(status(&c.nodes[0]).term, term, "stepping down needs no new term");
    harness_cluster_free(&c);
}

Test(raft_check_quorum, leader_that_hears_from_a_majority_stays)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    uint64_t term = status(&c.nodes[0]).term;
    harness_cluster_isolate(&c, 3);
    harness_cluster_tick_all(&c, 10 * c.nodes[0].cfg.election_ticks);
    cr_assert_eq(status(&c.nodes[0]).role, RAFT_LEADER);
    cr_assert_eq(status(&c.nodes[0]).term, term);
    harness_cluster_free(&c);
}

Test(raft_check_quorum, without_check_quorum_an_isolated_leader_stays_leader)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    for (uint32_t i = 0; i < 3; i++)
        c.nodes[i].cfg.check_quorum = false;
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    harness_cluster_isolate(&c, 1);
    harness_node_tick(&c.nodes[0], 10 * c.nodes[0].cfg.election_ticks);
    cr_assert_eq(status(&c.nodes[0]).role, RAFT_LEADER, "the option must matter");
    harness_cluster_free(&c);
}

/* ---- replication: backtracking, pipelining, probing, heartbeats ------------------------------ */

struct traffic {
    uint64_t from, to;
    uint32_t appends, refusals, successes;
};

static bool traffic_count(void *arg, const struct raft_msg *m)
{
    struct traffic *t = arg;
    if (m->type == RAFT_MSG_APPEND && m->from == t->from && m->to == t->to)
        t->appends++;
    if (m->type == RAFT_MSG_APPEND_RESP && m->from == t->to && m->to == t->from)
        *(m->append_resp.success ? &t->successes : &t->refusals) += 1;
    return true;
}

Test(raft_replication, fast_backtracking_repairs_a_long_divergent_suffix_in_few_round_trips)
{
    /* 1 and 3: 1..3 of term 1 then 4..50 of term 3; 2: 1..3 of term 1 then 4..100 of
     * term 2 (a deposed leader's uncommitted entries). One entry at a time would take ~50
     * round trips. */
    uint64_t good[50], bad[100];
    for (uint32_t i = 0; i < 100; i++) {
        if (i < 50)
            good[i] = i < 3 ? 1 : 3;
        bad[i] = i < 3 ? 1 : 2;
    }
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_store_append_terms(&c.nodes[0].store, good, 50);
    harness_store_append_terms(&c.nodes[1].store, bad, 100);
    harness_store_append_terms(&c.nodes[2].store, good, 50);
    c.nodes[0].store.hard_state.term = c.nodes[2].store.hard_state.term = 3;
    c.nodes[1].store.hard_state.term = 2;
    harness_cluster_start(&c);

    struct traffic t = {.from = 1, .to = 2};
    c.filter = traffic_count;
    c.filter_arg = &t;
    harness_cluster_elect(&c, 1);
    cr_assert_eq(status(&c.nodes[0]).term, 4);

    cr_assert_leq(t.refusals, 2, "%u refusals", t.refusals);
    cr_assert_leq(t.appends, 4, "%u appends to repair the follower", t.appends);
    struct harness_node *f = &c.nodes[1];
    cr_assert_eq(f->store.discard_from, 4, "the divergent suffix starts at 4");
    cr_assert_eq(f->store.last_index, 51);
    for (uint64_t i = 1; i <= 51; i++)
        cr_assert_eq(harness_store_term(&f->store, i), harness_store_term(&c.nodes[0].store, i),
                     "entry %llu differs", (unsigned long long)i);
    cr_assert_eq(status(f).commit_index, 51);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

/* Server 1 of 3, leader of term 2 with its NOOP at 1 committed through server 2, which is
 * now replicating; server 3 never answered (its probe is outstanding). */
static void leader_with_replicating_peer(struct harness_node *n, uint32_t max_inflight,
                                         uint32_t max_batch)
{
    boot(n, 1, 3, NULL, 0, 1, 0);
    n->cfg.max_inflight = max_inflight;
    n->cfg.max_batch = max_batch;
    harness_node_start(n);
    harness_node_make_leader(n, 2);
    harness_node_step_ok(n, harness_append_resp(2, 1, 2, true, 1, 0, 0));
    harness_node_drain(n);
    cr_assert_eq(status(n).commit_index, 1);
    harness_node_clear(n);
}

Test(raft_replication, pipelines_up_to_max_inflight_appends_of_max_batch_entries)
{
    struct harness_node n;
    leader_with_replicating_peer(&n, 4, 2);
    for (uint64_t v = 1; v <= 20; v++)
        cr_assert_eq(harness_node_propose(&n, v, NULL), 0);
    harness_node_drain(&n);

    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 2), 4, "max_inflight is 4");
    for (uint32_t i = 0; i < 4; i++) {
        const struct harness_msg *a = harness_node_msg(&n, RAFT_MSG_APPEND, 2, i);
        cr_assert(a->now, "a pipelined append waited for the leader's fsync");
        cr_assert_eq(a->m.append.n_entries, 2, "max_batch is 2");
        cr_assert_eq(a->m.append.prev_log_index, 1 + 2 * i, "appends are back to back");
    }
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0, "3 is probing");

    harness_node_clear(&n);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 2), 0, "no acks, no more appends");

    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 3, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 2), 1, "one ack frees one slot");
    const struct harness_msg *a = harness_node_msg(&n, RAFT_MSG_APPEND, 2, 0);
    cr_assert_eq(a->m.append.prev_log_index, 9);
    cr_assert_eq(a->m.append.entries[0].index, 10);
    cr_assert_eq(a->m.append.leader_commit, 3);
    harness_node_free(&n);
}

Test(raft_replication, probing_follower_gets_one_append_until_it_answers)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 1}, 3, 1);
    harness_node_make_leader(&n, 2); /* term 2, NOOP at 4; probes (prev 3) are out */
    for (uint64_t v = 1; v <= 3; v++)
        cr_assert_eq(harness_node_propose(&n, v, NULL), 0);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0, "a probe is outstanding");
    harness_node_tick(&n, 3 * n.cfg.heartbeat_ticks);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0, "time alone sends no append");

    /* a refusal answers the probe: exactly one new probe, further back */
    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, false, 3, 1, 1));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 1);
    const struct harness_msg *a = harness_node_msg(&n, RAFT_MSG_APPEND, 3, 0);
    cr_assert_eq(a->m.append.prev_log_index, 1);
    harness_node_clear(&n);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0);

    /* a heartbeat answer says it is alive: the probe may have been lost, send it again */
    harness_node_step_ok(&n, harness_heartbeat_resp(3, 1, 2, 0));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 1);
    cr_assert_eq(harness_node_msg(&n, RAFT_MSG_APPEND, 3, 0)->m.append.prev_log_index, 1);

    /* success: it replicates, and the rest is pipelined */
    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, true, 3, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 1);
    a = harness_node_msg(&n, RAFT_MSG_APPEND, 3, 0);
    cr_assert_eq(a->m.append.prev_log_index, 3);
    cr_assert_eq(a->m.append.n_entries, 4, "entries 4..7");
    harness_node_free(&n);
}

/* Outside Raft's model, but a damaged last slot is cut at restart like a torn one: a
 * follower may come back without entries it acknowledged. It must be repaired, and the
 * leader must not spin probing the same index. */
Test(raft_replication, a_follower_that_lost_acknowledged_entries_is_repaired)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1, 1}, 3, 1);
    harness_node_make_leader(&n, 2); /* term 2, NOOP at 4 */
    for (uint64_t v = 1; v <= 3; v++)
        cr_assert_eq(harness_node_propose(&n, v, NULL), 0); /* 5..7 */
    harness_node_drain(&n);
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, true, 7, 0, 0)); /* match 7, replicating */
    harness_node_drain(&n);
    cr_assert_eq(harness_node_propose(&n, 4, NULL), 0); /* 8 */
    harness_node_drain(&n);
    harness_node_clear(&n);

    /* it refuses the append after 7: its log now ends at 5 */
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, false, 7, 5, 2));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 1, "one probe");
    cr_assert_eq(harness_node_msg(&n, RAFT_MSG_APPEND, 3, 0)->m.append.prev_log_index, 5);
    harness_node_clear(&n);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND, 3), 0, "no busy loop");

    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, true, 8, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(harness_node_status(&n).commit_index, 8);
    harness_node_free(&n);
}

Test(raft_replication, heartbeats_carry_the_commit_index_capped_by_each_match)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_make_leader(&n, 2);
    cr_assert_eq(harness_node_propose(&n, 1, NULL), 0);
    cr_assert_eq(harness_node_propose(&n, 2, NULL), 0);
    harness_node_drain(&n);
    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 2, 0, 0));
    harness_node_step_ok(&n, harness_append_resp(3, 1, 2, true, 3, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3);

    harness_node_clear(&n);
    harness_node_tick(&n, n.cfg.heartbeat_ticks);
    harness_node_drain(&n);
    const struct harness_msg *h2 = harness_node_msg(&n, RAFT_MSG_HEARTBEAT, 2, 0);
    const struct harness_msg *h3 = harness_node_msg(&n, RAFT_MSG_HEARTBEAT, 3, 0);
    cr_assert_not_null(h2);
    cr_assert_not_null(h3);
    cr_assert_eq(h2->m.heartbeat.commit, 2, "2 has only up to 2: min(match 2, commit 3)");
    cr_assert_eq(h3->m.heartbeat.commit, 3);
    cr_assert(h2->now, "a heartbeat of a durable term needs no fsync");
    harness_node_free(&n);
}

/* Drops the first append from `from` to `to` that carries entries. */
struct drop_once {
    uint64_t from, to;
    bool dropped;
};

static bool drop_first_append(void *arg, const struct raft_msg *m)
{
    struct drop_once *d = arg;
    if (!d->dropped && m->type == RAFT_MSG_APPEND && m->from == d->from && m->to == d->to &&
        m->append.n_entries > 0) {
        d->dropped = true;
        return false;
    }
    return true;
}

Test(raft_replication, a_lost_append_in_the_middle_of_a_pipeline_is_repaired)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    struct drop_once d = {.from = 1, .to = 2};
    c.filter = drop_first_append;
    c.filter_arg = &d;
    harness_cluster_isolate(&c, 3);

    uint64_t index = 0;
    cr_assert_eq(harness_node_propose(&c.nodes[0], 1, &index), 0);
    harness_node_drain(&c.nodes[0]); /* the first append goes (and is lost) */
    cr_assert_eq(harness_node_propose(&c.nodes[0], 2, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert(d.dropped);
    harness_cluster_tick_all(&c, 2 * c.nodes[0].cfg.heartbeat_ticks);
    cr_assert_geq(status(&c.nodes[0]).commit_index, index);
    cr_assert_geq(c.nodes[1].applied_count, index);
    harness_cluster_free(&c);
}

/* Regression: a replicating follower whose only in-flight append was lost used to be repaired
 * only by the next proposal: its heartbeat answers changed nothing (the leader acted only on
 * full or empty inflights) and next_index was already past the log, so nothing was sent.
 * With the third server down, the entry never committed. */
Test(raft_replication, a_lost_last_append_is_repaired_by_heartbeats)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    struct drop_once d = {.from = 1, .to = 2};
    c.filter = drop_first_append;
    c.filter_arg = &d;
    harness_cluster_isolate(&c, 3);

    uint64_t index = 0;
    cr_assert_eq(harness_node_propose(&c.nodes[0], 1, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert(d.dropped);
    harness_cluster_tick_all(&c, 5 * c.nodes[0].cfg.election_ticks);
    cr_assert_eq(harness_cluster_leader(&c), 1);
    cr_assert_geq(status(&c.nodes[0]).commit_index, index,
                  "entry %llu never committed: the lost append was never resent",
                  (unsigned long long)index);
    harness_cluster_free(&c);
}

/* Regression, same cause as a_lost_last_append_is_repaired_by_heartbeats: a follower cut off
 * while replicating has appends "in flight" that were lost; after the heal it used to stay
 * behind until something new was proposed. */
Test(raft_replication, a_partitioned_follower_catches_up_without_new_proposals)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    harness_cluster_isolate(&c, 3);
    for (uint64_t v = 1; v <= 3; v++)
        cr_assert_eq(harness_node_propose(&c.nodes[0], v, NULL), 0);
    harness_cluster_deliver(&c);
    harness_cluster_heal(&c);
    harness_cluster_tick_all(&c, 5 * c.nodes[0].cfg.election_ticks);
    cr_assert_eq(harness_cluster_leader(&c), 1);
    cr_assert_eq(c.nodes[2].store.last_index, c.nodes[0].store.last_index,
                 "server 3 has %llu of %llu entries after 5 election timeouts",
                 (unsigned long long)c.nodes[2].store.last_index,
                 (unsigned long long)c.nodes[0].store.last_index);
    harness_cluster_free(&c);
}

/* ---- entries and proposals ------------------------------------------------------------------ */

Test(raft_propose, refuses_a_payload_above_the_limit_and_appends_nothing)
{
    static uint8_t payload[RAFT_PAYLOAD_MAX + 1];
    memset(payload, 0xA5, sizeof payload);
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    single_leader(&n);
    uint64_t last = status(&n).last_index;
    uint64_t index = 99;

    cr_assert_eq(raft_propose(n.r, RAFT_ENTRY_APP_MIN, payload, RAFT_PAYLOAD_MAX + 1, &index),
                 -RAFT_ETOOBIG);
    cr_assert_eq(index, 99, "index_out written on failure");
    cr_assert_eq(status(&n).last_index, last);
    struct raft_ready rd;
    cr_assert(!raft_ready(n.r, &rd), "a refused proposal left work behind");

    cr_assert_eq(raft_propose(n.r, RAFT_ENTRY_APP_MIN, payload, RAFT_PAYLOAD_MAX, &index), 0);
    cr_assert_eq(index, last + 1);
    harness_node_drain(&n);
    const struct raft_entry *e = &n.applied[n.applied_count - 1];
    cr_assert_eq(e->len, RAFT_PAYLOAD_MAX);
    cr_assert_eq(memcmp(e->payload, payload, RAFT_PAYLOAD_MAX), 0);
    harness_node_free(&n);
}

Test(raft_propose, refuses_reserved_types_but_not_session_or_application_types)
{
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    single_leader(&n);
    uint64_t last = status(&n).last_index;
    const uint16_t reserved[] = {0, RAFT_ENTRY_NOOP, RAFT_ENTRY_MEMBERS, 4,
                                 RAFT_ENTRY_APP_MIN - 1};
    for (uint32_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        cr_assert_eq(raft_propose(n.r, reserved[i], "x", 1, NULL), -RAFT_EINVAL,
                     "type %u accepted", reserved[i]);
    cr_assert_eq(raft_propose(n.r, RAFT_ENTRY_APP_MIN, NULL, 1, NULL), -RAFT_EINVAL,
                 "a NULL payload of length 1");
    cr_assert_eq(status(&n).last_index, last);

    cr_assert_eq(raft_propose(n.r, RAFT_ENTRY_SESSION, "s", 1, NULL), 0);
    cr_assert_eq(raft_propose(n.r, RAFT_ENTRY_APP_MIN, NULL, 0, NULL), 0);
    cr_assert_eq(raft_propose(n.r, UINT16_MAX, "z", 1, NULL), 0);
    cr_assert_eq(status(&n).last_index, last + 3);
    harness_node_drain(&n);
    cr_assert_eq(n.applied[last].type, RAFT_ENTRY_SESSION);
    cr_assert_eq(n.applied[last + 2].type, UINT16_MAX);
    harness_node_free(&n);
}

Test(raft_propose, followers_and_candidates_get_not_leader)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1}, 1, 1);
    cr_assert_eq(harness_node_propose(&n, 1, NULL), -RAFT_ENOTLEADER);
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    cr_assert_eq(status(&n).role, RAFT_PRECANDIDATE);
    cr_assert_eq(harness_node_propose(&n, 1, NULL), -RAFT_ENOTLEADER);
    cr_assert_eq(status(&n).last_index, 1);
    harness_node_free(&n);
}

Test(raft_errors, strerror_has_a_distinct_text_for_every_code)
{
    const char *unknown = raft_strerror(RAFT_ERROR_END_);
    cr_assert_not_null(unknown);
    for (int code = 1; code < RAFT_ERROR_END_; code++) {
        const char *text = raft_strerror(code);
        cr_assert_not_null(text);
        cr_assert_str_neq(text, unknown, "code %d has no text", code);
        cr_assert_str_eq(raft_strerror(-code), text, "code %d negated differs", code);
        for (int other = 1; other < code; other++)
            cr_assert_str_neq(text, raft_strerror(other), "codes %d and %d read the same",
                              code, other);
    }
    cr_assert_not_null(strstr(raft_strerror(RAFT_ETOOBIG), "4064"), "the limit is named");
}

Test(raft_propose, a_new_leader_starts_its_term_with_a_noop)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1}, 2, 1);
    harness_node_make_leader(&n, 2);
    struct raft_status st = status(&n);
    cr_assert_eq(st.last_index, 3);
    cr_assert_eq(st.last_term, st.term);
    cr_assert_eq(n.store.ents[2].type, RAFT_ENTRY_NOOP);
    cr_assert_eq(n.store.ents[2].term, st.term);
    cr_assert_eq(n.store.ents[2].len, 0);

    uint64_t index;
    cr_assert_eq(harness_node_propose(&n, 5, &index), 0);
    cr_assert_eq(index, 4, "proposals follow the NOOP");
    harness_node_free(&n);
}

Test(raft_propose, a_full_window_of_undurable_entries_gives_ebusy_and_evicts_nothing)
{
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    n.cfg.log_window = 4;
    n.cfg.max_batch = 4;
    single_leader(&n); /* NOOP at 1, durable */
    for (uint64_t v = 1; v <= 4; v++)
        cr_assert_eq(harness_node_propose(&n, v, NULL), 0, "proposal %llu",
                     (unsigned long long)v);
    cr_assert_eq(harness_node_propose(&n, 5, NULL), -RAFT_EBUSY);
    cr_assert_eq(harness_node_propose(&n, 6, NULL), -RAFT_EBUSY);
    cr_assert_eq(status(&n).last_index, 5);

    harness_node_drain(&n);
    cr_assert_eq(n.store.last_index, 5);
    for (uint64_t v = 1; v <= 4; v++)
        cr_assert_eq(harness_entry_value(&n.store.ents[v]), v, "entry %llu was overwritten",
                     (unsigned long long)(v + 1));
    cr_assert_eq(n.applied_count, 5);
    cr_assert_eq(harness_node_propose(&n, 5, NULL), 0, "room again once durable");
    harness_node_free(&n);
}

/* The undurable entries are 4..7, ring slots 0..3, so they fit one batch (a batch that wraps
 * the ring is an_acknowledgement_leaves_only_with_the_entries_it_covers). */
Test(raft_append, a_follower_with_a_full_window_accepts_only_a_prefix)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 1, 0);
    n.cfg.log_window = 4;
    n.cfg.max_batch = 4;
    harness_node_start(&n);
    struct raft_entry e[9];
    for (uint32_t i = 0; i < 9; i++)
        harness_entry_set(&e[i], i + 1, 1);
    answer(&n, harness_append(2, 1, 1, 0, 0, 0, e, 3), RAFT_MSG_APPEND_RESP);
    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_append(2, 1, 1, 3, 1, 0, &e[3], 4)); /* fills the window */
    harness_node_step_ok(&n, harness_append(2, 1, 1, 7, 1, 0, &e[7], 2)); /* before any fsync */
    cr_assert_eq(status(&n).last_index, 7, "evicted an undurable entry");
    harness_node_drain(&n);
    cr_assert_eq(n.store.last_index, 7);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_APPEND_RESP, 2), 2);
    const struct raft_msg *r = &harness_node_msg(&n, RAFT_MSG_APPEND_RESP, 2, 1)->m;
    cr_assert(r->append_resp.success);
    cr_assert_eq(r->append_resp.last_index, 7, "acknowledged entries it could not keep");

    r = answer(&n, harness_append(2, 1, 1, 7, 1, 0, &e[7], 2), RAFT_MSG_APPEND_RESP);
    cr_assert_eq(r->append_resp.last_index, 9, "the resent rest lands");
    cr_assert_eq(n.store.last_index, 9);
    harness_node_free(&n);
}

/* Regression: raft_ready takes the undurable entries with log_slice, which stops at the end of
 * the window's ring, so entries 3..5 (slots 3, 0, 1 of 4) take two batches. The first batch
 * used to carry the acknowledgement "success, last_index 5" while making only entry 3
 * durable: a crash then lost entries the leader could count toward commit. */
Test(raft_persist, an_acknowledgement_leaves_only_with_the_entries_it_covers)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 1, 0);
    n.cfg.log_window = 4;
    n.cfg.max_batch = 4;
    harness_node_start(&n);
    struct raft_entry e[5];
    for (uint32_t i = 0; i < 5; i++)
        harness_entry_set(&e[i], i + 1, 1);
    answer(&n, harness_append(2, 1, 1, 0, 0, 0, e, 2), RAFT_MSG_APPEND_RESP);
    harness_node_clear(&n);
    harness_node_step_ok(&n, harness_append(2, 1, 1, 2, 1, 0, &e[2], 3)); /* entries 3..5: slots 3, 0, 1 */

    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_gt(rd.n_entries, 0);
    uint64_t persisted = rd.entries[rd.n_entries - 1].index;
    for (uint32_t i = 0; i < rd.n_msgs; i++) {
        const struct raft_msg *m = &rd.msgs[i];
        if (m->type == RAFT_MSG_APPEND_RESP && m->append_resp.success)
            cr_assert_leq(m->append_resp.last_index, persisted,
                          "acknowledges %llu in a batch that makes only ..%llu durable",
                          (unsigned long long)m->append_resp.last_index,
                          (unsigned long long)persisted);
    }
    harness_node_handle(&n, &rd);
    harness_node_drain(&n); /* the rest, and the acknowledgement with it */
    cr_assert_eq(n.store.last_index, 5);
    const struct harness_msg *ack = harness_node_msg(&n, RAFT_MSG_APPEND_RESP, 2, 0);
    cr_assert_not_null(ack, "the acknowledgement was never sent");
    cr_assert(ack->m.append_resp.success);
    cr_assert_eq(ack->m.append_resp.last_index, 5);
    harness_node_free(&n);
}

Test(raft_replication, entries_older_than_the_window_are_sent_from_the_store)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    for (uint32_t i = 0; i < 3; i++) {
        c.nodes[i].cfg.log_window = 4;
        c.nodes[i].cfg.max_batch = 2;
    }
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    harness_cluster_isolate(&c, 3);
    for (uint64_t v = 1; v <= 12; v++) {
        cr_assert_eq(harness_node_propose(&c.nodes[0], v, NULL), 0);
        harness_cluster_deliver(&c);
    }
    cr_assert_eq(c.nodes[0].store.entry_reads, 0);
    harness_cluster_heal(&c);
    harness_cluster_tick_all(&c, 2 * c.nodes[0].cfg.election_ticks);

    cr_assert_eq(harness_cluster_leader(&c), 1);
    cr_assert_gt(c.nodes[0].store.entry_reads, 0,
                 "the lagging server's entries must come from the store");
    cr_assert_eq(c.nodes[2].store.last_index, 13);
    cr_assert_eq(c.nodes[2].applied_count, 13);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

Test(raft_apply, committed_entries_older_than_the_window_are_read_from_the_store)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 1, 0);
    n.cfg.log_window = 4;
    n.cfg.max_batch = 2;
    harness_node_start(&n);
    struct raft_entry e[2];
    harness_entry_set(&e[0], 1, 1);
    harness_node_step_ok(&n, harness_append(2, 1, 1, 0, 0, 0, e, 1));
    harness_node_drain(&n);
    for (uint64_t i = 2; i <= 10; i += 2) {
        harness_entry_set(&e[0], i, 1);
        harness_entry_set(&e[1], i + 1, 1);
        harness_node_step_ok(&n, harness_append(2, 1, 1, i - 1, 1, 0, e, 2));
        harness_node_drain(&n);
    }
    cr_assert_eq(n.store.entry_reads, 0);
    cr_assert_eq(n.applied_count, 0);
    uint32_t batches = n.batches;
    harness_node_step_ok(&n, harness_heartbeat(2, 1, 1, 11, 0));
    harness_node_drain(&n);
    cr_assert_eq(n.applied_count, 11);
    cr_assert_gt(n.store.entry_reads, 0);
    cr_assert_geq(n.batches - batches, 4, "at most max_batch entries read per batch");
    harness_node_free(&n);
}

/* ---- ReadIndex (thesis §6.4) ---------------------------------------------------------------- */

Test(raft_read, single_node_answers_at_once_with_the_commit_index)
{
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    single_leader(&n);
    cr_assert_eq(harness_node_propose(&n, 3, NULL), 0);
    harness_node_drain(&n);
    cr_assert_eq(raft_read_index(n.r, 42), 0);
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_reads, 1);
    cr_assert_eq(rd.reads[0].ctx, 42);
    cr_assert_eq(rd.reads[0].status, 0);
    cr_assert_eq(rd.reads[0].index, status(&n).commit_index);
    cr_assert_eq(rd.reads[0].index, 2);
    harness_node_handle(&n, &rd);
    harness_node_free(&n);
}

Test(raft_read, three_nodes_answer_only_after_a_majority_acknowledges_the_round)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_make_leader(&n, 2);
    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 1, 0, 0));
    harness_node_drain(&n);
    harness_node_clear(&n);

    /* a first read, to have an older round to answer with */
    cr_assert_eq(raft_read_index(n.r, 6), 0);
    harness_node_drain(&n);
    uint64_t old_ctx = harness_node_msg(&n, RAFT_MSG_HEARTBEAT, 2, 0)->m.heartbeat.ctx;
    harness_node_step_ok(&n, harness_heartbeat_resp(2, 1, 2, old_ctx));
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 1);
    harness_node_clear(&n);

    cr_assert_eq(raft_read_index(n.r, 7), 0);
    cr_assert_eq(raft_read_index(n.r, 8), 0);
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 0, "answered before any acknowledgement");
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_HEARTBEAT, 0), 2, "one round for both");
    uint64_t ctx = harness_node_msg(&n, RAFT_MSG_HEARTBEAT, 2, 0)->m.heartbeat.ctx;
    cr_assert_gt(ctx, old_ctx);

    harness_node_step_ok(&n, harness_heartbeat_resp(2, 1, 2, old_ctx));
    harness_node_step_ok(&n, harness_heartbeat_resp(3, 1, 2, old_ctx)); /* 3 missed the old round */
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 0, "an answer to an older round confirmed the read");

    harness_node_step_ok(&n, harness_heartbeat_resp(2, 1, 2, ctx));
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 2);
    cr_assert_eq(n.reads[0].ctx, 7);
    cr_assert_eq(n.reads[1].ctx, 8);
    cr_assert_eq(n.reads[0].status, 0);
    cr_assert_eq(n.reads[0].index, 1);
    harness_node_free(&n);
}

Test(raft_read, followers_refuse_reads)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    answer(&n, harness_heartbeat(2, 1, 1, 0, 0), RAFT_MSG_HEARTBEAT_RESP);
    cr_assert_eq(raft_read_index(n.r, 1), -RAFT_ENOTLEADER);
    struct raft_ready rd;
    cr_assert(!raft_ready(n.r, &rd));
    harness_node_free(&n);
}

Test(raft_read, pending_reads_fail_with_not_leader_when_the_leader_steps_down)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_make_leader(&n, 2);
    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 1, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(raft_read_index(n.r, 5), 0);
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 0);

    harness_node_step_ok(&n, harness_append_resp(3, 1, 3, false, 0, 0, 0));
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 1);
    cr_assert_eq(n.reads[0].ctx, 5);
    cr_assert_eq(n.reads[0].status, -RAFT_ENOTLEADER);
    harness_node_free(&n);
}

Test(raft_read, reads_wait_for_the_leaders_first_commit_in_its_term)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1, 1}, 2, 1);
    harness_node_make_leader(&n, 2); /* NOOP at 3, nothing of term 2 committed */
    cr_assert_eq(raft_read_index(n.r, 9), 0);
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 0);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_HEARTBEAT, 0), 0, "a round started early");

    harness_node_step_ok(&n, harness_append_resp(2, 1, 2, true, 3, 0, 0));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3);
    const struct harness_msg *h = harness_node_msg(&n, RAFT_MSG_HEARTBEAT, 2, 0);
    cr_assert_not_null(h, "the round starts once the NOOP commits");
    harness_node_step_ok(&n, harness_heartbeat_resp(2, 1, 2, h->m.heartbeat.ctx));
    harness_node_drain(&n);
    cr_assert_eq(n.reads_count, 1);
    cr_assert_eq(n.reads[0].index, 3, "a read sees at least the NOOP");
    harness_node_free(&n);
}

Test(raft_read, reads_beyond_max_reads_get_ebusy)
{
    struct harness_node n;
    boot(&n, 1, 3, NULL, 0, 1, 0);
    n.cfg.max_reads = 2;
    harness_node_start(&n);
    harness_node_make_leader(&n, 2);
    cr_assert_eq(raft_read_index(n.r, 1), 0);
    cr_assert_eq(raft_read_index(n.r, 2), 0);
    cr_assert_eq(raft_read_index(n.r, 3), -RAFT_EBUSY);
    harness_node_free(&n);
}

Test(raft_read, an_isolated_leader_never_confirms_a_read_and_fails_it_on_stepping_down)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    harness_cluster_isolate(&c, 1);
    cr_assert_eq(raft_read_index(c.nodes[0].r, 11), 0);
    harness_cluster_tick_all(&c, 4 * c.nodes[0].cfg.election_ticks);
    struct harness_node *old = &c.nodes[0];
    cr_assert_eq(old->reads_count, 1);
    cr_assert_eq(old->reads[0].ctx, 11);
    cr_assert_eq(old->reads[0].status, -RAFT_ENOTLEADER);
    uint64_t leader = harness_cluster_leader(&c);
    cr_assert(leader == 2 || leader == 3, "the majority elects a new leader");
    harness_cluster_free(&c);
}

/* ---- malformed messages: -RAFT_EMALFORMED and nothing changes -------------------------------- */

/* Server 1 of 3, follower of 2 in term 2, log 1..2 of term 1, nothing pending. */
static void quiet_follower(struct harness_node *n)
{
    follower(n, (uint64_t[]){1, 1}, 2, 2);
    answer(n, harness_heartbeat(2, 1, 2, 0, 0), RAFT_MSG_HEARTBEAT_RESP);
    harness_node_clear(n);
}

static void assert_malformed(struct harness_node *n, struct raft_msg m, const char *what)
{
    struct raft_status before = status(n);
    cr_assert_eq(harness_node_step(n, &m), -RAFT_EMALFORMED, "accepted %s", what);
    struct raft_status after = status(n);
    status_assert_same(&before, &after);
    struct raft_ready rd;
    cr_assert(!raft_ready(n->r, &rd), "%s left work behind", what);
}

Test(raft_malformed, misaddressed_messages_are_refused)
{
    struct harness_node n;
    quiet_follower(&n);
    assert_malformed(&n, harness_heartbeat(2, 3, 2, 2, 0), "to another server");
    assert_malformed(&n, harness_heartbeat(2, 0, 2, 2, 0), "to server 0");
    assert_malformed(&n, harness_heartbeat(1, 1, 9, 2, 0), "from ourselves");
    assert_malformed(&n, harness_vote(0, 1, 9, false, 9, 9), "from server 0");
    harness_node_free(&n);
}

Test(raft_malformed, term_zero_and_unknown_types_are_refused)
{
    struct harness_node n;
    quiet_follower(&n);
    assert_malformed(&n, harness_heartbeat(2, 1, 0, 2, 0), "term 0");
    struct raft_msg m = harness_heartbeat(2, 1, 9, 0, 0);
    m.type = 0;
    assert_malformed(&n, m, "type 0");
    m.type = RAFT_MSG_TYPE_END_;
    assert_malformed(&n, m, "type END");
    m.type = 200;
    assert_malformed(&n, m, "type 200");
    harness_node_free(&n);
}

Test(raft_malformed, appends_with_bad_entries_are_refused)
{
    struct harness_node n;
    quiet_follower(&n);
    struct raft_entry e[2];

    harness_entry_set(&e[0], 3, 2);
    harness_entry_set(&e[1], 5, 2);
    assert_malformed(&n, harness_append(2, 1, 2, 2, 1, 2, e, 2), "non-consecutive indexes");
    harness_entry_set(&e[0], 4, 2);
    assert_malformed(&n, harness_append(2, 1, 2, 2, 1, 2, e, 1), "first index != prev + 1");
    harness_entry_set(&e[0], 3, 3);
    assert_malformed(&n, harness_append(2, 1, 2, 2, 1, 2, e, 1), "entry term > msg term");
    harness_entry_set(&e[0], 3, 1);
    assert_malformed(&n, harness_append(2, 1, 2, 2, 2, 2, e, 1), "entry term < prev term");
    harness_entry_set(&e[0], 3, 2);
    harness_entry_set(&e[1], 4, 1);
    assert_malformed(&n, harness_append(2, 1, 2, 2, 1, 2, e, 2), "terms going down");
    harness_entry_set(&e[0], 3, 2);
    e[0].len = RAFT_PAYLOAD_MAX + 1;
    assert_malformed(&n, harness_append(2, 1, 2, 2, 1, 2, e, 1), "len > RAFT_PAYLOAD_MAX");
    assert_malformed(&n, harness_append(2, 1, 2, 2, 1, 2, NULL, 1), "entries NULL");
    harness_entry_set(&e[0], 3, 2);
    assert_malformed(&n, harness_append(2, 1, 2, 2, 3, 2, NULL, 0), "prev term > msg term");
    assert_malformed(&n, harness_append(2, 1, 2, 0, 1, 2, NULL, 0), "prev index 0, term 1");
    assert_malformed(&n, harness_append(2, 1, 7, 2, 8, 2, NULL, 0),
                     "prev term 8 > msg term 7, in a higher term than ours");
    cr_assert_eq(status(&n).term, 2);
    cr_assert_eq(n.store.last_index, 2);
    harness_node_free(&n);
}

/* ---- restart ------------------------------------------------------------------------------- */

Test(raft_restart, a_log_ahead_of_the_hard_state_sets_the_term_and_clears_the_vote)
{
    struct harness_node n;
    boot(&n, 1, 3, (uint64_t[]){1, 3}, 2, 2, 2);
    harness_node_start(&n);
    struct raft_status st = status(&n);
    cr_assert_eq(st.term, 3);
    cr_assert_eq(st.voted_for, 0);
    cr_assert_eq(st.last_index, 2);
    cr_assert_eq(st.last_term, 3);
    harness_node_drain(&n);
    cr_assert_eq(n.store.hard_state.term, 3, "the adopted term is made durable");
    cr_assert_eq(n.store.hard_state.voted_for, 0);
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 3, false, 2, 3),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(r->vote_resp.granted, "no vote of term 3 was ever made");
    harness_node_free(&n);
}

Test(raft_restart, a_hard_state_at_the_last_log_term_keeps_its_vote)
{
    struct harness_node n;
    boot(&n, 1, 3, (uint64_t[]){1, 3}, 2, 3, 2);
    harness_node_start(&n);
    cr_assert_eq(status(&n).term, 3);
    cr_assert_eq(status(&n).voted_for, 2);
    struct raft_ready rd;
    cr_assert(!raft_ready(n.r, &rd), "nothing to persist");
    harness_node_free(&n);
}

Test(raft_restart, a_durable_vote_survives_a_crash)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    answer(&n, harness_vote(2, 1, 5, false, 0, 0), RAFT_MSG_VOTE_RESP);
    harness_node_crash(&n);
    harness_node_start(&n);
    cr_assert_eq(status(&n).term, 5);
    cr_assert_eq(status(&n).voted_for, 2);
    const struct raft_msg *r = answer(&n, harness_vote(3, 1, 5, false, 0, 0),
                                      RAFT_MSG_VOTE_RESP);
    cr_assert(!r->vote_resp.granted, "voted twice in term 5 across a restart");
    harness_node_free(&n);
}

Test(raft_restart, undurable_entries_are_lost_and_durable_ones_kept)
{
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    single_leader(&n);
    cr_assert_eq(harness_node_propose(&n, 1, NULL), 0);
    harness_node_drain(&n);
    cr_assert_eq(harness_node_propose(&n, 2, NULL), 0); /* never made durable */
    harness_node_crash(&n);
    harness_node_start(&n);
    struct raft_status st = status(&n);
    cr_assert_eq(st.last_index, 2);
    cr_assert_eq(st.commit_index, 0, "the commit index is volatile");
    cr_assert_eq(st.role, RAFT_FOLLOWER);
    harness_node_tick(&n, 2 * n.cfg.election_ticks);
    harness_node_drain(&n);
    cr_assert_eq(status(&n).role, RAFT_LEADER);
    cr_assert_eq(n.applied_count, 3, "NOOP, 1 and the new NOOP are applied again");
    cr_assert_eq(harness_entry_value(&n.applied[1]), 1);
    harness_node_free(&n);
}

/* ---- the ready contract ---------------------------------------------------------------------- */

Test(raft_ready, aborts_on_a_step_between_ready_and_advance, .signal = SIGABRT)
{
    struct harness_node n;
    follower(&n, NULL, 0, 1);
    harness_node_step_ok(&n, harness_heartbeat(2, 1, 1, 0, 0));
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    struct raft_msg m = harness_heartbeat(2, 1, 1, 0, 0);
    raft_step(n.r, &m);
    cr_assert_fail("raft_step between raft_ready and raft_advance returned");
}

/* Group commit: max_batch bounds messages, not persistence; every proposal of a turn is
 * made durable by one batch (one fdatasync), and applied by the next. */
Test(raft_ready, proposals_of_one_turn_are_persisted_in_one_batch)
{
    struct harness_node n;
    harness_node_init(&n, 1, 1);
    n.cfg.max_batch = 2;
    single_leader(&n);
    for (uint64_t v = 1; v <= 10; v++)
        cr_assert_eq(harness_node_propose(&n, v, NULL), 0);
    struct raft_ready rd;
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_entries, 10, "%u entries in the first batch", rd.n_entries);
    harness_node_handle(&n, &rd);
    cr_assert(raft_ready(n.r, &rd));
    cr_assert_eq(rd.n_entries, 0);
    cr_assert_eq(rd.n_committed, 10, "%u committed in the second batch", rd.n_committed);
    harness_node_handle(&n, &rd);
    harness_node_free(&n);
}

Test(raft_ready, is_false_when_there_is_nothing_to_do)
{
    struct harness_node n;
    follower(&n, (uint64_t[]){1}, 1, 1);
    struct raft_ready rd;
    cr_assert(!raft_ready(n.r, &rd));
    harness_node_tick(&n, 1);
    cr_assert(!raft_ready(n.r, &rd));
    harness_node_free(&n);
}

/* ---- whole clusters ----------------------------------------------------------------------- */

Test(raft_cluster, five_servers_apply_the_same_entries_in_the_same_order)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 5);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 3);
    for (uint64_t v = 1; v <= 20; v++) {
        cr_assert_eq(harness_node_propose(&c.nodes[2], v, NULL), 0);
        if (v % 3 == 0)
            harness_cluster_deliver(&c);
    }
    harness_cluster_tick_all(&c, c.nodes[0].cfg.heartbeat_ticks);
    for (uint32_t i = 0; i < 5; i++) {
        cr_assert_eq(c.nodes[i].applied_count, 21, "server %u applied %llu", i + 1,
                     (unsigned long long)c.nodes[i].applied_count);
        cr_assert_eq(c.nodes[i].applied[0].type, RAFT_ENTRY_NOOP);
        cr_assert_eq(harness_entry_value(&c.nodes[i].applied[20]), 20);
    }
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

Test(raft_cluster, a_minority_leaders_entries_are_replaced_after_the_partition_heals)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 3);
    harness_cluster_start(&c);
    harness_cluster_elect(&c, 1);
    uint64_t term = status(&c.nodes[0]).term;
    harness_cluster_isolate(&c, 1);
    for (uint64_t v = 100; v < 103; v++)
        cr_assert_eq(harness_node_propose(&c.nodes[0], v, NULL), 0);
    harness_cluster_deliver(&c);

    uint64_t leader = 0;
    for (uint32_t t = 0; t < 20 * c.nodes[0].cfg.election_ticks && !leader; t++) {
        harness_cluster_tick_all(&c, 1);
        uint64_t l = harness_cluster_leader(&c);
        leader = l != 1 ? l : 0;
    }
    cr_assert(leader == 2 || leader == 3, "the majority elected no leader");
    cr_assert_eq(harness_node_propose(&c.nodes[leader - 1], 7, NULL), 0);
    harness_cluster_deliver(&c);

    harness_cluster_heal(&c);
    harness_cluster_tick_all(&c, 3 * c.nodes[0].cfg.election_ticks);
    cr_assert_eq(harness_cluster_leader(&c), leader);
    struct harness_node *old = &c.nodes[0];
    cr_assert_gt(old->store.discards, 0, "the uncommitted entries were never discarded");
    for (uint64_t i = 1; i <= old->store.last_index; i++)
        cr_assert(old->store.ents[i - 1].term != term ||
                      harness_entry_value(&old->store.ents[i - 1]) < 100,
                  "uncommitted entry %llu of the deposed leader survived",
                  (unsigned long long)i);
    cr_assert_eq(old->store.last_index, c.nodes[leader - 1].store.last_index);
    cr_assert_eq(harness_entry_value(&old->applied[old->applied_count - 1]), 7);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}
