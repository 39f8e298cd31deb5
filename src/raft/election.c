/* Leader election (paper §5.2, §5.4.1) with Pre-Vote (thesis §9.6) and the leader-lease
 * rule that keeps removed or partitioned servers from deposing a healthy leader (thesis
 * §4.2.3). */
#include "raft_int.h"

/* A follower that heard from a leader less than a minimum election timeout ago believes
 * that leader is alive and refuses to help elect another. */
bool election_in_lease(const struct raft *r)
{
    return r->leader_id != 0 && r->election_elapsed < r->cfg.election_ticks;
}

/* A voter of the configuration in force campaigns. So does a server that is not one, while
 * that configuration may still be uncommitted and it is a voter of one before it (thesis
 * §4.1): it can be the only server whose log can win, e.g. a leader that appended a C_new
 * without itself and crashed before C_new committed, while the others still need its vote.
 * Its own vote then does not count (quorum.c counts only voters of the configuration). */
bool election_may_campaign(const struct raft *r)
{
    if (config_is_voter(&r->conf, r->id))
        return true;
    if (r->conf_changes_count == 0)
        return false; /* the configuration in force is known committed */
    if (config_is_voter(&r->conf_committed, r->id))
        return true;
    for (uint32_t i = 0; i + 1 < r->conf_changes_count; i++)
        if (config_is_voter(&r->conf_changes[i].conf, r->id))
            return true;
    return false;
}

void election_tick(struct raft *r)
{
    if (r->election_elapsed < UINT32_MAX)
        r->election_elapsed++;
    if (r->election_elapsed >= r->election_timeout && election_may_campaign(r))
        election_campaign(r, r->cfg.pre_vote, false);
}

/* Starts an election: for real (term+1, vote for self, paper §5.2), or as a pre-vote that
 * changes no state until a majority says it could win. A transfer campaign, asked for by
 * the leader, skips the pre-vote and the voters' leader lease. */
void election_campaign(struct raft *r, bool pre_vote, bool transfer)
{
    RAFT_ASSERT(election_may_campaign(r));
    uint64_t term;
    if (pre_vote) {
        r->role = RAFT_PRECANDIDATE;
        term = r->current_term + 1;
    } else {
        r->role = RAFT_CANDIDATE;
        r->current_term++;
        r->voted_for = r->id;
        term = r->current_term;
    }
    r->leader_id = 0;
    raft_reset_election_timer(r);
    for (uint32_t i = 0; i < r->prs_count; i++)
        r->prs[i].voted = r->prs[i].granted = false;
    struct progress *self = raft_progress(r, r->id);
    if (self) /* absent when we campaign from outside the configuration (see above) */
        self->voted = self->granted = true;

    if (quorum_vote_result(r) == VOTE_WON) { /* a one-voter cluster */
        if (pre_vote)
            election_campaign(r, false, transfer);
        else
            replication_become_leader(r);
        return;
    }
    for (uint32_t i = 0; i < r->prs_count; i++) {
        uint64_t to = r->prs[i].id;
        if (to == r->id || !config_is_voter(&r->conf, to))
            continue;
        struct raft_msg m = {
            .type = pre_vote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
            .to = to,
            .term = term,
            .vote = {.last_log_index = r->log.last_index, .last_log_term = r->log.last_term,
                     .transfer = transfer},
        };
        raft_send(r, &m);
    }
}

/* RequestVote receiver (paper Figure 2). Terms were reconciled by raft_step already: a
 * real vote request here has m->term == current_term. */
void election_on_vote_request(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    bool can_vote = r->voted_for == m->from ||
                    (r->voted_for == 0 && r->leader_id == 0) ||
                    (pre && m->term > r->current_term);
    bool granted = can_vote &&
                   log_is_up_to_date(&r->log, m->vote.last_log_index, m->vote.last_log_term);
    struct raft_msg resp = {
        .type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
        .to = m->from,
        /* a granted pre-vote answers in the term the candidate will use */
        .term = granted && pre ? m->term : r->current_term,
        .vote_resp = {.granted = granted},
    };
    if (granted && !pre) {
        r->voted_for = m->from; /* durable before resp leaves: it goes in msgs (after) */
        raft_reset_election_timer(r);
    }
    raft_send(r, &resp);
}

void election_on_vote_response(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (pre ? r->role != RAFT_PRECANDIDATE : r->role != RAFT_CANDIDATE)
        return; /* the election this answers is over */
    uint64_t expected_term = pre && m->vote_resp.granted ? r->current_term + 1 : r->current_term;
    if (m->term != expected_term)
        return;
    struct progress *pr = raft_progress(r, m->from);
    if (!pr || pr->voted)
        return;
    pr->voted = true;
    pr->granted = m->vote_resp.granted;
    switch (quorum_vote_result(r)) {
    case VOTE_WON:
        if (pre)
            election_campaign(r, false, false);
        else
            replication_become_leader(r);
        break;
    case VOTE_LOST:
        raft_become_follower(r, r->current_term, 0);
        break;
    case VOTE_PENDING:
        break;
    }
}
