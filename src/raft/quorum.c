/* Configurations and majorities. Every decision that needs "a majority" (election, commit,
 * read-index confirmation, check-quorum) is made here, so the joint phase of a membership
 * change (paper §6: a majority of the old AND of the new configuration) is in one place. */
#include "raft_int.h"

bool members_is_voter(const struct raft_members *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (m->members[i].id == id)
            return m->members[i].role == RAFT_VOTER;
    return false;
}

bool members_contains(const struct raft_members *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (m->members[i].id == id)
            return true;
    return false;
}

uint32_t members_voters(const struct raft_members *m)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++)
        n += m->members[i].role == RAFT_VOTER;
    return n;
}

bool members_same_voters(const struct raft_members *a, const struct raft_members *b)
{
    if (members_voters(a) != members_voters(b))
        return false;
    for (uint32_t i = 0; i < a->count; i++)
        if (a->members[i].role == RAFT_VOTER && !members_is_voter(b, a->members[i].id))
            return false;
    return true;
}

bool config_is_voter(const struct raft_config_state *c, uint64_t id)
{
    return members_is_voter(&c->current, id) || members_is_voter(&c->previous, id);
}

bool members_valid(const struct raft_members *m)
{
    if (m->count > RAFT_MEMBERS_MAX)
        return false;
    for (uint32_t i = 0; i < m->count; i++) {
        const struct raft_member *a = &m->members[i];
        if (a->id == 0 || (a->role != RAFT_VOTER && a->role != RAFT_LEARNER))
            return false;
        for (uint32_t j = 0; j < i; j++)
            if (m->members[j].id == a->id)
                return false;
    }
    return true;
}

/* The value a majority of m's voters has reached: the (n/2+1)-th largest. A configuration
 * without voters constrains nothing. */
typedef uint64_t progress_field(const struct progress *pr);
static uint64_t progress_match(const struct progress *pr) { return pr->match_index; }
static uint64_t progress_read_acked(const struct progress *pr) { return pr->read_acked; }

static uint64_t quorum_value(const struct raft *r, const struct raft_members *m,
                             progress_field *field)
{
    uint64_t v[RAFT_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        if (m->members[i].role != RAFT_VOTER)
            continue;
        const struct progress *pr = raft_progress(r, m->members[i].id);
        RAFT_ASSERT(pr != NULL);
        v[n++] = field(pr);
    }
    if (n == 0)
        return UINT64_MAX;
    for (uint32_t i = 1; i < n; i++) { /* insertion sort, descending; n <= 16 */
        uint64_t x = v[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1] < x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[n / 2];
}

static uint64_t quorum_joint_value(const struct raft *r, progress_field *field)
{
    uint64_t a = quorum_value(r, &r->conf.current, field);
    uint64_t b = quorum_value(r, &r->conf.previous, field);
    return RAFT_MIN(a, b);
}

uint64_t quorum_match_index(const struct raft *r)
{
    return quorum_joint_value(r, progress_match);
}

uint64_t quorum_read_round(const struct raft *r)
{
    return quorum_joint_value(r, progress_read_acked);
}

static enum vote_result quorum_members_vote(const struct raft *r, const struct raft_members *m)
{
    uint32_t voters = 0, granted = 0, refused = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        if (m->members[i].role != RAFT_VOTER)
            continue;
        const struct progress *pr = raft_progress(r, m->members[i].id);
        voters++;
        if (pr->voted && pr->granted)
            granted++;
        else if (pr->voted)
            refused++;
    }
    if (voters == 0 || granted > voters / 2)
        return VOTE_WON;
    if (voters - refused <= voters / 2)
        return VOTE_LOST;
    return VOTE_PENDING;
}

enum vote_result quorum_vote_result(const struct raft *r)
{
    enum vote_result a = quorum_members_vote(r, &r->conf.current);
    enum vote_result b = quorum_members_vote(r, &r->conf.previous);
    if (a == VOTE_LOST || b == VOTE_LOST)
        return VOTE_LOST;
    if (a == VOTE_WON && b == VOTE_WON)
        return VOTE_WON;
    return VOTE_PENDING;
}

static bool quorum_members_active(const struct raft *r, const struct raft_members *m)
{
    uint32_t voters = 0, active = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        if (m->members[i].role != RAFT_VOTER)
            continue;
        voters++;
        if (raft_progress(r, m->members[i].id)->recent_active)
            active++;
    }
    return voters == 0 || active > voters / 2;
}

bool quorum_active(const struct raft *r)
{
    return quorum_members_active(r, &r->conf.current) &&
           quorum_members_active(r, &r->conf.previous);
}
