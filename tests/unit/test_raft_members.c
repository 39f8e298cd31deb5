/* Unit tests of membership changes in the consensus core (paper §6, thesis §4): a
 * configuration in force from the moment its MEMBERS entry is appended, joint consensus,
 * learners, the refusals of raft_change_members, the removed leader, the fall-back on
 * truncation, restart and the MEMBERS payload codec with its opaque context. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "luminous/raft.h"
#include "raft_harness.h"

typedef unsigned long long ull;

/* ---- helpers -------------------------------------------------------------------------------- */

static struct raft_status status(const struct harness_node *n)
{
    return harness_node_status(n);
}

static void assert_members(const struct harness_node *n, const char *current, const char *old)
{
    struct raft_members want = harness_members(current), want_old = harness_members(old);
    struct raft_members got_old;
    struct raft_members got = harness_node_members(n, &got_old);
    cr_assert(harness_members_equal(&got, &want), "node %llu: %u members, not \"%s\"",
              (ull)n->id, got.count, current);
    cr_assert(harness_members_equal(&got_old, &want_old), "node %llu: %u old members, not \"%s\"",
              (ull)n->id, got_old.count, old);
}

static int change(struct harness_node *n, const char *spec)
{
    struct raft_members m = harness_members(spec);
    return raft_change_members(n->r, &m, NULL, 0);
}

/* The entry the node persisted at index. */
static const struct raft_entry *stored(const struct harness_node *n, uint64_t index)
{
    cr_assert(index >= 1 && index <= n->store.last_index);
    return &n->store.ents[index - 1];
}

static void assert_stored_members(const struct harness_node *n, uint64_t index,
                                  const char *current, const char *old)
{
    struct raft_members m, o;
    harness_entry_decode_members(stored(n, index), &m, &o);
    struct raft_members want = harness_members(current), want_old = harness_members(old);
    cr_assert(harness_members_equal(&m, &want), "entry %llu: not \"%s\"", (ull)index, current);
    cr_assert(harness_members_equal(&o, &want_old), "entry %llu: old not \"%s\"", (ull)index,
              old);
}

static struct raft_msg ack(uint64_t from, uint64_t to, uint64_t term, uint64_t last_index)
{
    return harness_append_resp(from, to, term, true, last_index, 0, 0);
}

/* A cluster of count nodes, node i booted with specs[i], all started; 1 elected, its NOOP
 * committed everywhere it can be. */
static struct harness_node *cluster_up(struct harness_cluster *c, uint32_t count,
                                       const char *const *specs)
{
    harness_cluster_init(c, count);
    for (uint32_t i = 0; i < count; i++)
        c->nodes[i].members = harness_members(specs[i]);
    harness_cluster_start(c);
    harness_cluster_elect(c, 1);
    harness_cluster_deliver(c);
    struct harness_node *leader = harness_cluster_node(c, 1);
    cr_assert_eq(status(leader).commit_index, status(leader).last_index);
    return leader;
}

static void cut_link(struct harness_cluster *c, uint64_t a, uint64_t b, bool cut)
{
    c->cut[a][b] = c->cut[b][a] = cut;
}

/* Ticks node id heartbeat_ticks times and delivers: a heartbeat round. */
static void heartbeat_round(struct harness_cluster *c, uint64_t id)
{
    struct harness_node *n = harness_cluster_node(c, id);
    for (uint32_t i = 0; i < n->cfg.heartbeat_ticks; i++) {
        raft_tick(n->r);
        harness_cluster_deliver(c);
    }
}

/* Server 1 of "1 2 3" as leader of term 2 (through a granted pre-vote and vote from 2), its
 * NOOP at index 1 acknowledged by 2 and so committed, the batch drained. */
static void committed_leader(struct harness_node *n)
{
    harness_node_init(n, 1, 3);
    harness_node_start(n);
    harness_node_make_leader(n, 2);
    uint64_t noop = status(n).last_index;
    harness_node_step_ok(n, ack(2, 1, status(n).term, noop));
    harness_node_drain(n);
    cr_assert_eq(status(n).commit_index, noop);
    harness_node_clear(n);
}

/* Ticks a follower with pre-vote off until it campaigns; drains. */
static void campaign(struct harness_node *n)
{
    for (uint32_t i = 0; i < 2 * n->cfg.election_ticks && status(n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(n, 1);
    cr_assert_eq(status(n).role, RAFT_CANDIDATE);
    harness_node_drain(n);
}

static void grant(struct harness_node *n, uint64_t from)
{
    harness_node_step_ok(n, harness_vote_resp(from, n->id, status(n).term, false, true));
}

/* Server 1, booted with "1 2 3" but with a joint configuration C_old,new = ("1 4 5",
 * "1 2 3") uncommitted in its log (index 2, after an entry at 1), in term 1, pre-vote off. */
static void joint_node(struct harness_node *n)
{
    harness_node_init(n, 1, 3);
    n->cfg.pre_vote = false;
    struct raft_members next = harness_members("1 4 5"), old = harness_members("1 2 3");
    harness_store_append(&n->store, 1);
    harness_store_append_members(&n->store, 1, &next, &old, NULL, 0);
    n->store.hard_state = (struct raft_hard_state){.term = 1};
    harness_node_start(n);
    assert_members(n, "1 4 5", "1 2 3");
}

/* Three voters and a fourth server booted with no configuration, waiting to be added. */
static const char *const joining[] = {"1 2 3", "1 2 3", "1 2 3", ""};

/* ---- a configuration is in force once appended ----------------------------------------------- */

Test(raft_members, a_new_voter_counts_toward_quorum_as_soon_as_its_entry_is_appended)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 4, joining);
    cut_link(&c, 1, 3, true);
    cut_link(&c, 1, 4, true);
    uint64_t joint = status(leader).last_index + 1;

    cr_assert_eq(change(leader, "1 2 3 4"), 0);
    /* in force at once, before it is even durable */
    assert_members(leader, "1 2 3 4", "1 2 3");
    cr_assert(status(leader).changing);
    cr_assert_eq(status(leader).last_index, joint);
    cr_assert_eq(harness_node_match(leader, 4), 0, "the new server has a progress right away");

    harness_cluster_deliver(&c);
    struct harness_node *n2 = harness_cluster_node(&c, 2);
    cr_assert_eq(status(n2).last_index, joint);
    assert_members(n2, "1 2 3 4", "1 2 3"); /* a follower too, before commit */
    cr_assert_lt(status(n2).commit_index, joint);
    /* 1 and 2 are a majority of C_old but only 2 of the 4 voters of C_new */
    cr_assert_eq(harness_node_match(leader, 2), joint);
    cr_assert_lt(status(leader).commit_index, joint,
                 "committed with a majority of the old configuration only");

    cut_link(&c, 1, 4, false);
    heartbeat_round(&c, 1);
    cr_assert_geq(status(leader).commit_index, joint, "1, 2 and 4 are majorities of both");
    cr_assert_lt(harness_node_match(leader, 3), joint, "3 is still cut off");
    harness_cluster_free(&c);
}

Test(raft_members,
     a_voters_change_goes_through_a_joint_configuration_and_the_leader_appends_c_new_itself)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 4, joining);
    uint64_t joint = status(leader).last_index + 1;

    cr_assert_eq(change(leader, "1 2 3 4"), 0);
    harness_cluster_deliver(&c);

    /* nothing else was asked of the leader: it appended C_new once C_old,new committed */
    cr_assert_eq(status(leader).last_index, joint + 1);
    cr_assert_eq(status(leader).commit_index, joint + 1);
    assert_stored_members(leader, joint, "1 2 3 4", "1 2 3");
    assert_stored_members(leader, joint + 1, "1 2 3 4", "");
    cr_assert_eq(stored(leader, joint + 1)->term, status(leader).term);
    for (uint64_t id = 1; id <= 4; id++) {
        struct harness_node *n = harness_cluster_node(&c, id);
        assert_members(n, "1 2 3 4", "");
        cr_assert(!status(n).changing, "node %llu", (ull)id);
        cr_assert(status(n).voter, "node %llu", (ull)id);
        cr_assert_eq(n->applied_count, joint + 1, "node %llu", (ull)id);
    }
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

Test(raft_members, a_change_of_learners_alone_takes_one_entry_without_a_joint_phase)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 4, joining);
    uint64_t at = status(leader).last_index + 1;

    cr_assert_eq(change(leader, "1 2 3 4L"), 0);
    assert_members(leader, "1 2 3 4L", "");
    cr_assert(status(leader).changing, "uncommitted");
    harness_cluster_deliver(&c);

    cr_assert_eq(status(leader).last_index, at, "no second entry");
    cr_assert_eq(status(leader).commit_index, at);
    assert_stored_members(leader, at, "1 2 3 4L", "");
    cr_assert(!status(leader).changing);
    struct harness_node *n4 = harness_cluster_node(&c, 4);
    assert_members(n4, "1 2 3 4L", "");
    cr_assert(!status(n4).voter);
    cr_assert_eq(n4->applied_count, at, "the learner got the whole log");
    harness_cluster_free(&c);
}

Test(raft_members, promoting_a_learner_to_voter_goes_through_a_joint_configuration)
{
    struct harness_cluster c;
    const char *spec = "1 2 3 4L";
    struct harness_node *leader = cluster_up(&c, 4, (const char *[]){spec, spec, spec, spec});
    uint64_t joint = status(leader).last_index + 1;
    cr_assert_eq(change(leader, "1 2 3 4"), 0);
    assert_members(leader, "1 2 3 4", "1 2 3 4L");
    harness_cluster_deliver(&c);
    assert_stored_members(leader, joint, "1 2 3 4", "1 2 3 4L");
    assert_stored_members(leader, joint + 1, "1 2 3 4", "");
    cr_assert_eq(status(leader).commit_index, joint + 1);
    cr_assert(status(harness_cluster_node(&c, 4)).voter);
    harness_cluster_free(&c);
}

/* ---- joint consensus: both majorities ------------------------------------------------------- */

Test(raft_members, an_election_in_the_joint_phase_needs_a_majority_of_the_new_configuration_too)
{
    struct harness_node n;
    joint_node(&n);
    campaign(&n);
    for (uint64_t id = 2; id <= 5; id++)
        cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, id), 1, "a vote request to %llu",
                     (ull)id);
    grant(&n, 2);
    grant(&n, 3);
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE, "all of C_old but only itself of C_new");
    grant(&n, 4);
    cr_assert_eq(status(&n).role, RAFT_LEADER);
    harness_node_free(&n);
}

Test(raft_members, an_election_in_the_joint_phase_needs_a_majority_of_the_old_configuration_too)
{
    struct harness_node n;
    joint_node(&n);
    campaign(&n);
    grant(&n, 4);
    grant(&n, 5);
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE, "all of C_new but only itself of C_old");
    grant(&n, 3);
    cr_assert_eq(status(&n).role, RAFT_LEADER);
    harness_node_free(&n);
}

Test(raft_members, an_election_in_the_joint_phase_is_lost_when_one_configuration_refuses)
{
    struct harness_node n;
    joint_node(&n);
    campaign(&n);
    grant(&n, 2);
    grant(&n, 3);
    harness_node_step_ok(&n, harness_vote_resp(4, 1, status(&n).term, false, false));
    harness_node_step_ok(&n, harness_vote_resp(5, 1, status(&n).term, false, false));
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER, "C_new refused: the election is lost");
    harness_node_free(&n);
}

/* Leader of term 2 in the joint configuration of joint_node, elected by 2 and 4; its NOOP
 * at index 3 is durable here and acknowledged by nobody. */
static void joint_leader(struct harness_node *n)
{
    joint_node(n);
    campaign(n);
    grant(n, 2);
    grant(n, 4);
    cr_assert_eq(status(n).role, RAFT_LEADER);
    harness_node_drain(n);
    cr_assert_eq(status(n).last_index, 3);
    cr_assert_eq(status(n).commit_index, 0);
    harness_node_clear(n);
}

Test(raft_members,
     in_the_joint_phase_an_entry_on_a_majority_of_the_new_configuration_only_does_not_commit)
{
    struct harness_node n;
    joint_leader(&n);
    harness_node_step_ok(&n, ack(4, 1, 2, 3));
    harness_node_step_ok(&n, ack(5, 1, 2, 3));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 0, "1, 4 and 5 are only one of C_old's three");
    harness_node_step_ok(&n, ack(2, 1, 2, 3));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3);
    harness_node_free(&n);
}

Test(raft_members,
     in_the_joint_phase_an_entry_on_a_majority_of_the_old_configuration_only_does_not_commit)
{
    struct harness_node n;
    joint_leader(&n);
    harness_node_step_ok(&n, ack(2, 1, 2, 3));
    harness_node_step_ok(&n, ack(3, 1, 2, 3));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 0, "1, 2 and 3 are only one of C_new's three");
    harness_node_step_ok(&n, ack(4, 1, 2, 3));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3);
    harness_node_free(&n);
}

Test(raft_members, once_the_joint_entry_commits_the_leader_appends_c_new_and_only_c_new_counts)
{
    struct harness_node n;
    joint_leader(&n);
    harness_node_step_ok(&n, ack(2, 1, 2, 3));
    harness_node_step_ok(&n, ack(4, 1, 2, 3));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3);
    cr_assert_eq(status(&n).last_index, 4, "C_new follows the committed joint entry");
    assert_stored_members(&n, 4, "1 4 5", "");
    assert_members(&n, "1 4 5", "");
    cr_assert(status(&n).changing);

    harness_node_step_ok(&n, ack(2, 1, 2, 4)); /* no longer a member: ignored */
    harness_node_step_ok(&n, ack(3, 1, 2, 4));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 3, "2 and 3 are not in C_new");
    harness_node_step_ok(&n, ack(5, 1, 2, 4));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, 4);
    cr_assert(!status(&n).changing);
    cr_assert_eq(status(&n).role, RAFT_LEADER, "a voter of C_new stays leader");
    harness_node_free(&n);
}

/* ---- learners -------------------------------------------------------------------------------- */

Test(raft_members, a_learner_is_replicated_to_but_never_counts_for_commit)
{
    struct harness_cluster c;
    const char *spec = "1 2 3 4L";
    struct harness_node *leader = cluster_up(&c, 4, (const char *[]){spec, spec, spec, spec});
    struct harness_node *n4 = harness_cluster_node(&c, 4);
    cr_assert_eq(harness_node_propose(leader, 7, NULL), 0);
    harness_cluster_deliver(&c);
    cr_assert_eq(n4->applied_count, status(leader).commit_index, "the learner applies too");
    harness_cluster_check_applied(&c);

    cut_link(&c, 1, 2, true);
    cut_link(&c, 1, 3, true);
    uint64_t commit = status(leader).commit_index;
    uint64_t index;
    cr_assert_eq(harness_node_propose(leader, 8, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert_eq(status(n4).last_index, index, "replicated to the learner");
    cr_assert_eq(harness_node_match(leader, 4), index);
    cr_assert_eq(status(leader).commit_index, commit, "the leader and a learner are no majority");
    harness_cluster_free(&c);
}

Test(raft_members, a_candidate_asks_no_learner_for_its_vote_and_a_learners_grant_does_not_count)
{
    struct harness_node n;
    harness_node_init(&n, 1, 3);
    n.members = harness_members("1 2 3 4L 5L");
    n.cfg.pre_vote = false;
    harness_node_start(&n);
    campaign(&n);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, 0), 2);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, 4), 0);
    cr_assert_eq(harness_node_count(&n, RAFT_MSG_VOTE, 5), 0);
    grant(&n, 4);
    grant(&n, 5);
    cr_assert_eq(status(&n).role, RAFT_CANDIDATE, "3 of 5 members, but 1 of 3 voters");
    grant(&n, 2);
    cr_assert_eq(status(&n).role, RAFT_LEADER);
    harness_node_free(&n);
}

Test(raft_members, a_learner_never_campaigns)
{
    struct harness_node n;
    harness_node_init(&n, 4, 3);
    n.members = harness_members("1 2 3 4L");
    harness_node_start(&n);
    cr_assert(!status(&n).voter);
    for (uint32_t i = 0; i < 50 * n.cfg.election_ticks; i++) {
        harness_node_tick(&n, 1);
        harness_node_drain(&n);
        cr_assert_eq(status(&n).role, RAFT_FOLLOWER, "tick %u", i);
    }
    cr_assert_eq(status(&n).term, 0);
    cr_assert_eq(n.out_count, 0, "a learner sent something on its own");
    harness_node_free(&n);
}

/* ---- what raft_change_members refuses -------------------------------------------------------- */

Test(raft_members, a_second_change_while_one_is_uncommitted_gets_echanging)
{
    struct harness_node n;
    committed_leader(&n);
    cr_assert_eq(change(&n, "1 2 3 4L"), 0);
    uint64_t at = status(&n).last_index;
    cr_assert_eq(change(&n, "1 2 3 5L"), -RAFT_ECHANGING);
    harness_node_drain(&n);
    cr_assert_eq(change(&n, "1 2 3 5L"), -RAFT_ECHANGING, "durable but not committed");
    cr_assert_eq(status(&n).last_index, at, "a refused change appended something");
    assert_members(&n, "1 2 3 4L", "");

    harness_node_step_ok(&n, ack(2, 1, status(&n).term, at));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, at);
    cr_assert(!status(&n).changing);
    cr_assert_eq(change(&n, "1 2 3 4L 5L"), 0, "the next change goes once the first commits");
    harness_node_free(&n);
}

Test(raft_members, a_change_during_the_joint_phase_gets_echanging_until_c_new_commits)
{
    struct harness_node n;
    committed_leader(&n);
    uint64_t term = status(&n).term;
    cr_assert_eq(change(&n, "1 2 3 4"), 0);
    uint64_t joint = status(&n).last_index;
    harness_node_drain(&n);
    harness_node_step_ok(&n, ack(2, 1, term, joint));
    harness_node_step_ok(&n, ack(4, 1, term, joint));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, joint);
    cr_assert_eq(status(&n).last_index, joint + 1, "C_new appended");
    cr_assert_eq(change(&n, "1 2 3"), -RAFT_ECHANGING, "C_old,new committed, C_new not yet");
    harness_node_step_ok(&n, ack(2, 1, term, joint + 1));
    harness_node_step_ok(&n, ack(4, 1, term, joint + 1));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, joint + 1);
    cr_assert_eq(change(&n, "1 2 3"), 0);
    harness_node_free(&n);
}

Test(raft_members, a_change_before_the_leaders_first_commit_in_its_term_gets_ebusy)
{
    struct harness_node n;
    harness_node_init(&n, 1, 3);
    harness_node_start(&n);
    harness_node_make_leader(&n, 2);
    uint64_t last = status(&n).last_index;
    cr_assert_eq(change(&n, "1 2 3 4L"), -RAFT_EBUSY);
    cr_assert_eq(status(&n).last_index, last);
    cr_assert(!status(&n).changing);
    harness_node_step_ok(&n, ack(2, 1, status(&n).term, last));
    harness_node_drain(&n);
    cr_assert_eq(change(&n, "1 2 3 4L"), 0);
    harness_node_free(&n);
}

Test(raft_members, invalid_configurations_get_einval_and_append_nothing)
{
    struct harness_node n;
    committed_leader(&n);
    uint64_t last = status(&n).last_index;
    const char *bad[] = {"1 2 3 3", "0 1 2 3", "1L 2L 3L", "", "1 2 2L"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(change(&n, bad[i]), -RAFT_EINVAL, "\"%s\"", bad[i]);
    struct raft_members m = harness_members("1 2 3 4");
    m.members[3].role = 0;
    cr_assert_eq(raft_change_members(n.r, &m, NULL, 0), -RAFT_EINVAL, "role 0");
    m.members[3].role = 3;
    cr_assert_eq(raft_change_members(n.r, &m, NULL, 0), -RAFT_EINVAL, "role 3");
    m = harness_members("1 2 3");
    m.count = RAFT_MEMBERS_MAX + 1;
    cr_assert_eq(raft_change_members(n.r, &m, NULL, 0), -RAFT_EINVAL, "count past the max");
    m = harness_members("1 2 3 4L");
    static uint8_t ctx[RAFT_MEMBERS_CONTEXT_MAX + 1];
    cr_assert_eq(raft_change_members(n.r, &m, ctx, sizeof ctx), -RAFT_EINVAL, "context too long");
    cr_assert_eq(status(&n).last_index, last);
    cr_assert(!status(&n).changing);
    assert_members(&n, "1 2 3", "");
    cr_assert_eq(raft_change_members(n.r, &m, ctx, RAFT_MEMBERS_CONTEXT_MAX), 0,
                 "a context of exactly the max fits");
    harness_node_free(&n);
}

Test(raft_members, a_joint_configuration_of_more_than_members_max_servers_gets_einval)
{
    struct harness_node n;
    harness_node_init(&n, 1, RAFT_MEMBERS_MAX);
    n.cfg.pre_vote = false;
    harness_node_start(&n);
    campaign(&n);
    for (uint64_t id = 2; id <= RAFT_MEMBERS_MAX / 2 + 1; id++)
        grant(&n, id);
    cr_assert_eq(status(&n).role, RAFT_LEADER);
    harness_node_drain(&n);
    uint64_t last = status(&n).last_index;
    for (uint64_t id = 2; id <= RAFT_MEMBERS_MAX / 2 + 1; id++)
        harness_node_step_ok(&n, ack(id, 1, status(&n).term, last));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).commit_index, last);

    /* half replaced: C_old,new would hold 16 + 8 servers */
    struct raft_members next = n.members;
    for (uint32_t i = RAFT_MEMBERS_MAX / 2; i < RAFT_MEMBERS_MAX; i++)
        next.members[i].id += 100;
    cr_assert_eq(raft_change_members(n.r, &next, NULL, 0), -RAFT_EINVAL);
    cr_assert_eq(status(&n).last_index, last);
    /* one out: fits */
    next = n.members;
    next.count--;
    cr_assert_eq(raft_change_members(n.r, &next, NULL, 0), 0);
    harness_node_free(&n);
}

Test(raft_members, followers_get_enotleader)
{
    struct harness_node n;
    harness_node_init(&n, 1, 3);
    harness_node_start(&n);
    cr_assert_eq(change(&n, "1 2 3 4L"), -RAFT_ENOTLEADER);
    harness_node_free(&n);
}

/* ---- the removed leader ---------------------------------------------------------------------- */

struct drop_from {
    uint64_t from, index_min; /* drop APPENDs from `from` carrying entries >= index_min */
    uint32_t campaigns;       /* PREVOTE or VOTE seen from `from` */
};

static bool drop_from_filter(void *arg, const struct raft_msg *m)
{
    struct drop_from *d = arg;
    if (m->from != d->from)
        return true;
    if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE)
        d->campaigns++;
    if (m->type == RAFT_MSG_APPEND && m->append.n_entries > 0 &&
        m->append.entries[m->append.n_entries - 1].index >= d->index_min)
        return false;
    return true;
}

/* Leader 1 of "1 2 3" asked for "2 3": C_old,new committed, C_new appended, and every
 * append that carries C_new dropped. */
static struct harness_node *removed_leader(struct harness_cluster *c, struct drop_from *d)
{
    struct harness_node *leader = cluster_up(c, 3, (const char *[]){"1 2 3", "1 2 3", "1 2 3"});
    uint64_t joint = status(leader).last_index + 1;
    *d = (struct drop_from){.from = 1, .index_min = joint + 1};
    c->filter = drop_from_filter;
    c->filter_arg = d;
    cr_assert_eq(change(leader, "2 3"), 0);
    harness_cluster_deliver(c);
    cr_assert_eq(status(leader).commit_index, joint);
    cr_assert_eq(status(leader).last_index, joint + 1);
    assert_stored_members(leader, joint + 1, "2 3", "");
    return leader;
}

Test(raft_members, a_leader_removed_by_c_new_leads_until_c_new_commits_then_steps_down_for_good)
{
    struct harness_cluster c;
    struct drop_from d;
    struct harness_node *leader = removed_leader(&c, &d);
    uint64_t cnew = status(leader).last_index;

    /* C_new in force, not committed: still leading, not a voter */
    assert_members(leader, "2 3", "");
    cr_assert_eq(status(leader).role, RAFT_LEADER);
    cr_assert(!status(leader).voter);
    cr_assert(status(leader).changing);
    heartbeat_round(&c, 1);
    cr_assert_eq(status(leader).role, RAFT_LEADER);
    uint64_t term = status(leader).term;

    d.index_min = UINT64_MAX;
    heartbeat_round(&c, 1);
    cr_assert_eq(status(leader).commit_index, cnew);
    cr_assert_eq(status(leader).role, RAFT_FOLLOWER, "stepped down once C_new committed");

    /* it never campaigns again; 2 and 3 go on without it */
    for (uint32_t i = 0; i < 10 * leader->cfg.election_ticks; i++) {
        harness_cluster_tick_all(&c, 1);
        cr_assert_neq(status(leader).role, RAFT_LEADER);
        cr_assert_neq(status(leader).role, RAFT_CANDIDATE);
        cr_assert_neq(status(leader).role, RAFT_PRECANDIDATE);
    }
    cr_assert_eq(d.campaigns, 0);
    cr_assert_eq(status(leader).term, term);
    uint64_t next = harness_cluster_leader(&c);
    cr_assert(next == 2 || next == 3, "leader %llu", (ull)next);
    struct harness_node *nl = harness_cluster_node(&c, next);
    uint64_t index;
    cr_assert_eq(harness_node_propose(nl, 9, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert_geq(status(nl).commit_index, index);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

/* Was a core bug: while a leader has removed itself (C_new appended, not committed) it has
 * no progress of its own, and readindex_flush() dereferenced it when a read was asked. */
Test(raft_members, a_removed_leader_before_c_new_commits_serves_or_refuses_reads_without_crashing)
{
    struct harness_cluster c;
    struct drop_from d;
    struct harness_node *leader = removed_leader(&c, &d);
    int rv = raft_read_index(leader->r, 42);
    cr_assert(rv == 0 || rv == -RAFT_ENOTLEADER);
    harness_cluster_deliver(&c);
    d.index_min = UINT64_MAX;
    heartbeat_round(&c, 1);
    if (rv == 0) {
        cr_assert_eq(leader->reads_count, 1, "the read was answered");
        cr_assert_eq(leader->reads[0].ctx, 42);
    }
    harness_cluster_free(&c);
}

/* Thesis §4.1, found by the simulator (seed 469, 3 nodes): leader 2 of "1 2" appended
 * C_new = "1 2L" and crashed before it committed. 1 is still in the joint phase and needs
 * 2's vote; 2's log is longer, so it refuses; 2 is a learner of its latest configuration.
 * 2 must campaign anyway (without counting its own vote), commit C_new, and step down. */
Test(raft_members, a_server_outside_an_uncommitted_c_new_still_campaigns_if_it_voted_before)
{
    struct harness_cluster c;
    harness_cluster_init(&c, 2);
    struct raft_members joint = harness_members("1 2L"), old = harness_members("1 2");
    struct raft_members none = {0};
    for (uint64_t id = 1; id <= 2; id++) {
        struct harness_node *n = harness_cluster_node(&c, id);
        n->members = old;
        harness_store_append(&n->store, 1);
        harness_store_append_members(&n->store, 1, &joint, &old, NULL, 0);
        n->store.hard_state = (struct raft_hard_state){.term = 1, .voted_for = 2};
    }
    harness_store_append_members(&harness_cluster_node(&c, 2)->store, 1, &joint, &none,
                                 NULL, 0);
    harness_cluster_start(&c);
    struct harness_node *one = harness_cluster_node(&c, 1), *two = harness_cluster_node(&c, 2);
    assert_members(one, "1 2L", "1 2");
    assert_members(two, "1 2L", "");
    cr_assert(!status(two).voter);

    for (uint32_t i = 0; i < 40 * one->cfg.election_ticks; i++) {
        harness_cluster_tick_all(&c, 1);
        if (harness_cluster_leader(&c) == 1)
            break;
    }
    cr_assert_eq(harness_cluster_leader(&c), 1, "1 leads once 2 committed C_new for it");
    assert_members(one, "1 2L", "");
    cr_assert_eq(stored(one, 3)->term, 1, "C_new came from 2's log");
    cr_assert_geq(status(one).commit_index, 3, "C_new committed");
    cr_assert_neq(status(two).role, RAFT_LEADER);
    uint64_t index;
    cr_assert_eq(harness_node_propose(one, 7, &index), 0);
    harness_cluster_deliver(&c);
    cr_assert_geq(status(one).commit_index, index);
    harness_cluster_check_applied(&c);
    harness_cluster_free(&c);
}

/* Found by the simulator (seed 4125, 5 nodes): a removed server, campaigning in terms of its
 * own (pre-vote off), answered an append the leader had sent before the removal; the answer's
 * higher term deposed a healthy leader. Answers from outside the configuration are dropped;
 * a member's still counts. */
Test(raft_members, a_higher_term_answer_from_a_removed_server_does_not_depose_the_leader)
{
    struct harness_cluster c;
    const char *const three[] = {"1 2 3", "1 2 3", "1 2 3"};
    struct harness_node *leader = cluster_up(&c, 3, three);
    cr_assert_eq(change(leader, "1 2"), 0);
    harness_cluster_deliver(&c);
    heartbeat_round(&c, 1);
    assert_members(leader, "1 2", "");
    cr_assert(!status(leader).changing);
    uint64_t term = status(leader).term, last = status(leader).last_index;

    harness_node_step_ok(leader, ack(3, 1, term + 5, last));
    harness_node_step_ok(leader, harness_heartbeat_resp(3, 1, term + 5, 0));
    harness_node_step_ok(leader, harness_vote_resp(3, 1, term + 5, false, false));
    cr_assert_eq(status(leader).role, RAFT_LEADER);
    cr_assert_eq(status(leader).term, term);

    harness_node_step_ok(leader, ack(2, 1, term + 1, last));
    cr_assert_eq(status(leader).role, RAFT_FOLLOWER, "a member's newer term still counts");
    cr_assert_eq(status(leader).term, term + 1);
    harness_cluster_free(&c);
}

/* ---- the log's configurations: truncation and restart ---------------------------------------- */

Test(raft_members,
     a_follower_that_truncates_uncommitted_members_entries_falls_back_to_the_previous_configuration)
{
    struct harness_node n;
    harness_node_init(&n, 2, 3);
    harness_node_start(&n);
    struct raft_entry e[2];
    harness_entry_set(&e[0], 1, 1);
    harness_node_step_ok(&n, harness_append(1, 2, 1, 0, 0, 1, e, 1));
    struct raft_members a = harness_members("1 2 3 4L"), b = harness_members("1 2 3 4L 5L");
    harness_entry_members(&e[0], 2, 1, &a, NULL, NULL, 0);
    harness_entry_members(&e[1], 3, 1, &b, NULL, NULL, 0);
    harness_node_step_ok(&n, harness_append(1, 2, 1, 1, 1, 1, e, 2));
    harness_node_drain(&n);
    assert_members(&n, "1 2 3 4L 5L", "");
    cr_assert(status(&n).changing);

    /* a new leader's log differs from index 3 */
    harness_entry_set(&e[0], 3, 2);
    harness_node_step_ok(&n, harness_append(3, 2, 2, 2, 1, 1, e, 1));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).last_index, 3);
    assert_members(&n, "1 2 3 4L", "");
    /* and another one's from index 2 */
    harness_entry_set(&e[0], 2, 3);
    harness_node_step_ok(&n, harness_append(1, 2, 3, 1, 1, 1, e, 1));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).last_index, 2);
    assert_members(&n, "1 2 3", "");
    cr_assert(!status(&n).changing);
    harness_node_free(&n);
}

Test(raft_members, a_follower_that_truncates_a_joint_entry_leaves_the_joint_phase)
{
    struct harness_node n;
    harness_node_init(&n, 2, 3);
    harness_node_start(&n);
    struct raft_members next = harness_members("1 2 4"), old = harness_members("1 2 3");
    struct raft_entry e;
    harness_entry_members(&e, 1, 1, &next, &old, NULL, 0);
    harness_node_step_ok(&n, harness_append(1, 2, 1, 0, 0, 0, &e, 1));
    harness_node_drain(&n);
    assert_members(&n, "1 2 4", "1 2 3");
    cr_assert(status(&n).voter);
    harness_entry_set(&e, 1, 2);
    harness_node_step_ok(&n, harness_append(3, 2, 2, 0, 0, 0, &e, 1));
    harness_node_drain(&n);
    assert_members(&n, "1 2 3", "");
    cr_assert(!status(&n).changing);
    harness_node_free(&n);
}

Test(raft_members, a_restart_finds_members_entries_through_the_type_callback_and_uses_the_latest)
{
    struct harness_node n;
    harness_node_init(&n, 2, 3);
    struct raft_members a = harness_members("1 2 3 4L");
    struct raft_members b = harness_members("1 2 3 4"), b_old = harness_members("1 2 3 4L");
    harness_store_append(&n.store, 1);
    harness_store_append_members(&n.store, 1, &a, NULL, NULL, 0);
    harness_store_append(&n.store, 1);
    harness_store_append_members(&n.store, 2, &b, &b_old, NULL, 0);
    harness_store_append(&n.store, 2);
    n.store.hard_state = (struct raft_hard_state){.term = 2};
    harness_node_start(&n);

    assert_members(&n, "1 2 3 4", "1 2 3 4L");
    cr_assert(status(&n).changing, "nothing is known committed at start");
    cr_assert_eq(n.store.type_reads, 5, "one type look-up per entry");
    cr_assert_eq(n.store.entry_reads, 2, "only MEMBERS entries are read whole");
    harness_node_free(&n);
}

Test(raft_members, a_restarted_cluster_node_keeps_the_configuration_its_log_holds)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 4, joining);
    cr_assert_eq(change(leader, "1 2 3 4"), 0);
    harness_cluster_deliver(&c);
    for (uint64_t id = 2; id <= 4; id++) {
        struct harness_node *n = harness_cluster_node(&c, id);
        harness_node_crash(n);
        harness_node_start(n);
        assert_members(n, "1 2 3 4", "");
        cr_assert(status(n).voter, "node %llu", (ull)id);
    }
    cr_assert_eq(harness_node_propose(leader, 5, NULL), 0);
    harness_cluster_deliver(&c);
    heartbeat_round(&c, 1);
    harness_cluster_check_applied(&c);
    cr_assert_eq(harness_cluster_node(&c, 4)->applied_count, status(leader).commit_index);
    harness_cluster_free(&c);
}

Test(raft_members,
     a_restart_with_more_members_entries_than_the_history_uses_the_latest_and_falls_back_one)
{
    struct harness_node n;
    harness_node_init(&n, 2, 3);
    harness_store_append(&n.store, 1);
    const uint32_t count = 12; /* more than the core keeps uncommitted */
    for (uint32_t k = 0; k < count; k++) {
        struct raft_members m = harness_members("1 2 3");
        m.members[m.count++] = (struct raft_member){.id = 10 + k, .role = RAFT_LEARNER};
        harness_store_append_members(&n.store, 1, &m, NULL, NULL, 0);
    }
    n.store.hard_state = (struct raft_hard_state){.term = 1};
    harness_node_start(&n);
    assert_members(&n, "1 2 3 21L", "");
    /* a leader of term 2 whose log has the eleventh, not the twelfth */
    struct raft_entry e;
    harness_entry_set(&e, count + 1, 2);
    harness_node_step_ok(&n, harness_append(1, 2, 2, count, 1, 0, &e, 1));
    harness_node_drain(&n);
    cr_assert_eq(status(&n).last_index, count + 1);
    assert_members(&n, "1 2 3 20L", "");
    harness_node_free(&n);
}

/* ---- a server booted with no configuration --------------------------------------------------- */

Test(raft_members, a_node_booted_with_no_configuration_never_campaigns_but_follows_and_is_added)
{
    struct harness_node n;
    harness_node_init(&n, 4, 3);
    n.members = harness_members("");
    harness_node_start(&n);
    cr_assert(!status(&n).voter);
    for (uint32_t i = 0; i < 30 * n.cfg.election_ticks; i++) {
        harness_node_tick(&n, 1);
        harness_node_drain(&n);
    }
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER);
    cr_assert_eq(status(&n).term, 0);
    cr_assert_eq(n.out_count, 0);

    /* a leader that knows it replicates to it */
    struct raft_entry e;
    harness_entry_set(&e, 1, 1);
    harness_node_step_ok(&n, harness_append(1, 4, 2, 0, 0, 1, &e, 1));
    harness_node_drain(&n);
    const struct harness_msg *r = harness_node_msg(&n, RAFT_MSG_APPEND_RESP, 1, 0);
    cr_assert(r && r->m.append_resp.success && r->m.append_resp.last_index == 1);
    cr_assert_eq(status(&n).commit_index, 1);
    cr_assert(!status(&n).voter);
    harness_node_clear(&n);
    for (uint32_t i = 0; i < 3 * n.cfg.election_ticks; i++)
        harness_node_tick(&n, 1);
    harness_node_drain(&n);
    cr_assert_eq(status(&n).role, RAFT_FOLLOWER, "still not a voter: never campaigns");

    /* the joint entry that adds it makes it a voter as soon as it is appended */
    struct raft_members next = harness_members("1 2 3 4"), old = harness_members("1 2 3");
    harness_entry_members(&e, 2, 2, &next, &old, NULL, 0);
    harness_node_step_ok(&n, harness_append(1, 4, 2, 1, 1, 1, &e, 1));
    harness_node_drain(&n);
    cr_assert(status(&n).voter);
    cr_assert_eq(status(&n).commit_index, 1, "not committed");
    for (uint32_t i = 0; i < 2 * n.cfg.election_ticks && status(&n).role == RAFT_FOLLOWER; i++)
        harness_node_tick(&n, 1);
    cr_assert_eq(status(&n).role, RAFT_PRECANDIDATE, "a voter campaigns when its leader is gone");
    harness_node_free(&n);
}

/* ---- the MEMBERS payload and its context ----------------------------------------------------- */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31u + (i >> 7));
}

static struct raft_members full_members(uint64_t base)
{
    struct raft_members m = {.count = RAFT_MEMBERS_MAX};
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++)
        m.members[i] = (struct raft_member){.id = i == 0 ? UINT64_MAX - base : base + i,
                                            .role = i % 3 == 1 ? RAFT_LEARNER : RAFT_VOTER};
    return m;
}

Test(raft_members, encode_and_decode_round_trip_full_lists_and_the_largest_context)
{
    static uint8_t buf[RAFT_PAYLOAD_MAX], ctx[RAFT_MEMBERS_CONTEXT_MAX];
    fill(ctx, sizeof ctx, 5);
    struct raft_members m = full_members(1000), old = full_members(2000);
    uint32_t len = raft_members_encode(&m, &old, ctx, sizeof ctx, buf);
    cr_assert_eq(len, RAFT_PAYLOAD_MAX);
    struct raft_members m2, old2;
    const uint8_t *ctx2 = NULL;
    uint32_t ctx2_len = 0;
    cr_assert_eq(raft_members_decode(buf, len, &m2, &old2, &ctx2, &ctx2_len), 0);
    cr_assert(memcmp(&m2, &m, sizeof m) == 0, "members differ");
    cr_assert(memcmp(&old2, &old, sizeof old) == 0, "old members differ");
    cr_assert_eq(ctx2, buf + RAFT_MEMBERS_ENCODED_MAX, "the context points into the input");
    cr_assert_eq(ctx2_len, RAFT_MEMBERS_CONTEXT_MAX);
    cr_assert(memcmp(ctx2, ctx, sizeof ctx) == 0);
    cr_assert_eq(raft_members_encode(&m, &old, ctx, RAFT_MEMBERS_CONTEXT_MAX + 1, buf), 0,
                 "a context that does not fit");
}

Test(raft_members, encode_and_decode_round_trip_one_voter_no_old_and_no_context)
{
    uint8_t buf[64];
    struct raft_members m = harness_members("7"), none = {0};
    uint32_t len = raft_members_encode(&m, &none, NULL, 0, buf);
    cr_assert_eq(len, 4 + 9 + 4);
    static const uint8_t golden[] = {1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, RAFT_VOTER, 0, 0, 0, 0};
    cr_assert(memcmp(buf, golden, sizeof golden) == 0, "layout");
    struct raft_members m2, old2;
    const uint8_t *ctx = NULL;
    uint32_t ctx_len = 99;
    cr_assert_eq(raft_members_decode(buf, len, &m2, &old2, &ctx, &ctx_len), 0);
    cr_assert(harness_members_equal(&m2, &m));
    cr_assert_eq(old2.count, 0);
    cr_assert_eq(ctx_len, 0);
    cr_assert_eq(raft_members_decode(buf, len, &m2, &old2, NULL, NULL), 0, "ctx_out optional");
}

static int decode(const uint8_t *p, uint32_t len)
{
    uint8_t *h = malloc(len ? len : 1); /* exact size: a read past it shows under ASan */
    cr_assert(h);
    memcpy(h, p, len);
    struct raft_members m, old;
    const uint8_t *ctx;
    uint32_t ctx_len;
    int rv = raft_members_decode(h, len, &m, &old, &ctx, &ctx_len);
    free(h);
    return rv;
}

/* u32 count | count x (u64 id | u8 role), little-endian, as written by hand */
static uint32_t put_list(uint8_t *p, uint32_t count, const uint64_t *ids, const uint8_t *roles,
                         uint32_t present)
{
    uint8_t *q = p;
    for (int i = 0; i < 4; i++)
        *q++ = (uint8_t)(count >> (8 * i));
    for (uint32_t k = 0; k < present; k++) {
        for (int i = 0; i < 8; i++)
            *q++ = (uint8_t)(ids[k] >> (8 * i));
        *q++ = roles[k];
    }
    return (uint32_t)(q - p);
}

Test(raft_members, decode_refuses_truncated_lists)
{
    static uint8_t buf[RAFT_PAYLOAD_MAX];
    struct raft_members m = full_members(1), old = full_members(50);
    uint32_t len = raft_members_encode(&m, &old, NULL, 0, buf);
    cr_assert_eq(len, RAFT_MEMBERS_ENCODED_MAX);
    for (uint32_t k = 0; k < len; k++)
        cr_assert_eq(decode(buf, k), -RAFT_EMALFORMED, "cut to %u of %u", k, len);
    cr_assert_eq(decode(buf, len), 0);
}

Test(raft_members, decode_refuses_counts_past_members_max_and_invalid_members)
{
    uint8_t buf[512];
    uint64_t ids[RAFT_MEMBERS_MAX + 1];
    uint8_t roles[RAFT_MEMBERS_MAX + 1];
    for (uint32_t i = 0; i <= RAFT_MEMBERS_MAX; i++) {
        ids[i] = i + 1;
        roles[i] = RAFT_VOTER;
    }
    uint32_t n;
    /* RAFT_MEMBERS_MAX + 1 members, all of them present */
    n = put_list(buf, RAFT_MEMBERS_MAX + 1, ids, roles, RAFT_MEMBERS_MAX + 1);
    n += put_list(buf + n, 0, NULL, NULL, 0);
    cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "members count past the max");
    n = put_list(buf, 1, ids, roles, 1);
    n += put_list(buf + n, RAFT_MEMBERS_MAX + 1, ids, roles, RAFT_MEMBERS_MAX + 1);
    cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "old count past the max");
    n = put_list(buf, UINT32_MAX, ids, roles, 2);
    cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "a huge count");
    n = put_list(buf, 3, ids, roles, 2);
    cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "a count past the bytes");

    struct {
        const char *what;
        uint64_t ids[3];
        uint8_t roles[3];
        uint32_t count;
    } bad[] = {
        {"duplicate id", {1, 2, 1}, {RAFT_VOTER, RAFT_VOTER, RAFT_LEARNER}, 3},
        {"id 0", {1, 0, 2}, {RAFT_VOTER, RAFT_VOTER, RAFT_VOTER}, 3},
        {"role 0", {1, 2, 3}, {RAFT_VOTER, 0, RAFT_VOTER}, 3},
        {"role 3", {1, 2, 3}, {RAFT_VOTER, 3, RAFT_VOTER}, 3},
        {"role 255", {1, 2, 3}, {RAFT_VOTER, RAFT_VOTER, 255}, 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = put_list(buf, bad[i].count, bad[i].ids, bad[i].roles, bad[i].count);
        n += put_list(buf + n, 0, NULL, NULL, 0);
        cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "members: %s", bad[i].what);
        n = put_list(buf, 1, ids, roles, 1);
        n += put_list(buf + n, bad[i].count, bad[i].ids, bad[i].roles, bad[i].count);
        cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "old: %s", bad[i].what);
    }
    uint8_t learner = RAFT_LEARNER;
    n = put_list(buf, 1, ids, &learner, 1);
    n += put_list(buf + n, 0, NULL, NULL, 0);
    cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "no voter");
    n = put_list(buf, 0, NULL, NULL, 0);
    n += put_list(buf + n, 0, NULL, NULL, 0);
    cr_assert_eq(decode(buf, n), -RAFT_EMALFORMED, "no member at all");
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

Test(raft_members, decode_of_random_bytes_refuses_or_gives_what_encodes_back_to_them)
{
    uint64_t x = 0x5EED0004ULL;
    uint8_t buf[200], again[RAFT_PAYLOAD_MAX];
    uint32_t ok = 0;
    for (int it = 0; it < 100000; it++) {
        uint32_t len;
        if (it % 2 == 0) { /* raw bytes */
            len = (uint32_t)(xorshift(&x) % sizeof buf);
            for (uint32_t i = 0; i < len; i++)
                buf[i] = (uint8_t)xorshift(&x);
        } else { /* two small lists of small ids and roles 0..3, a context, a flipped byte */
            uint64_t ids[4];
            uint8_t roles[4];
            len = 0;
            for (int l = 0; l < 2; l++) {
                uint32_t count = (uint32_t)(xorshift(&x) % 4);
                for (uint32_t k = 0; k < count; k++) {
                    ids[k] = xorshift(&x) % 6;
                    roles[k] = (uint8_t)(xorshift(&x) % 4);
                }
                len += put_list(buf + len, count, ids, roles, count);
            }
            uint32_t ctx_len = (uint32_t)(xorshift(&x) % 20);
            for (uint32_t i = 0; i < ctx_len; i++)
                buf[len++] = (uint8_t)xorshift(&x);
            if (xorshift(&x) % 4 == 0)
                buf[xorshift(&x) % len] ^= (uint8_t)(1u << (xorshift(&x) % 8));
            if (xorshift(&x) % 4 == 0)
                len = (uint32_t)(xorshift(&x) % (len + 1));
        }
        struct raft_members m, old;
        const uint8_t *ctx;
        uint32_t ctx_len;
        int rv = raft_members_decode(buf, len, &m, &old, &ctx, &ctx_len);
        if (rv != 0) {
            cr_assert_eq(rv, -RAFT_EMALFORMED);
            continue;
        }
        ok++;
        cr_assert(ctx >= buf && ctx + ctx_len == buf + len, "the context is the rest");
        uint32_t n = raft_members_encode(&m, &old, ctx, ctx_len, again);
        cr_assert(n == len && memcmp(again, buf, len) == 0, "not canonical");
    }
    cr_assert_gt(ok, 1000, "random payloads should sometimes be valid (%u)", ok);
}

Test(raft_members, the_context_rides_through_replication_and_restart_unchanged)
{
    struct harness_cluster c;
    struct harness_node *leader = cluster_up(&c, 4, joining);
    static uint8_t ctx[RAFT_MEMBERS_CONTEXT_MAX];
    fill(ctx, sizeof ctx, 77);
    struct raft_members next = harness_members("1 2 3 4");
    uint64_t joint = status(leader).last_index + 1;
    cr_assert_eq(raft_change_members(leader->r, &next, ctx, sizeof ctx), 0);
    harness_cluster_deliver(&c);
    harness_node_crash(harness_cluster_node(&c, 2));
    harness_node_start(harness_cluster_node(&c, 2));
    for (uint64_t id = 1; id <= 4; id++) {
        struct harness_node *n = harness_cluster_node(&c, id);
        const struct raft_entry *e = stored(n, joint);
        struct raft_members m, old;
        const uint8_t *got;
        uint32_t got_len;
        cr_assert_eq(e->type, RAFT_ENTRY_MEMBERS);
        cr_assert_eq(raft_members_decode(e->payload, e->len, &m, &old, &got, &got_len), 0);
        cr_assert_eq(got_len, sizeof ctx, "node %llu", (ull)id);
        cr_assert(memcmp(got, ctx, sizeof ctx) == 0, "node %llu: the context changed", (ull)id);
        if (id != 2) { /* 2 restarted: it applies again from its next commit */
            cr_assert_geq(n->applied_count, joint);
            cr_assert_eq(n->applied[joint - 1].len, e->len, "node %llu", (ull)id);
            cr_assert(memcmp(n->applied[joint - 1].payload, e->payload, e->len) == 0);
        }
    }
    assert_members(harness_cluster_node(&c, 2), "1 2 3 4", "");
    harness_cluster_free(&c);
}
