/* The simulator's safety invariants (Raft paper Figure 3), checked incrementally as events
 * happen: election safety, log matching, leader completeness, state machine safety, and
 * "a commit rests on a durable quorum". Liveness and client checks live in sim.c and
 * client.c. Every check names the first violation precisely and fails the seed. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define LLU(x) ((unsigned long long)(x))

void check_init(struct world *w)
{
    memset(&w->chk, 0, sizeof w->chk);
}

void check_free(struct world *w)
{
    struct checker *c = &w->chk;
    free(c->leader_of_term);
    for (uint32_t i = 0; i <= SIM_NODES_MAX; i++)
        free(c->vote_of[i]);
    for (uint64_t i = 0; i < c->lm_cap; i++)
        free(c->lm[i].recs);
    free(c->lm);
    free(c->committed);
    memset(c, 0, sizeof *c);
}

static bool check_term_sane(struct world *w, uint64_t term, const char *what)
{
    if (term >= SIM_TERM_MAX) {
        sim_fail(w, "%s: term %llu is implausibly large (runaway elections?)", what, LLU(term));
        return false;
    }
    return true;
}

static bool check_index_sane(struct world *w, uint64_t index, const char *what)
{
    if (index >= SIM_INDEX_MAX) {
        sim_fail(w, "%s: index %llu is implausibly large", what, LLU(index));
        return false;
    }
    return true;
}

/* Election Safety: at most one leader per term, over the whole run (paper §5.2). "how"
 * says where we saw it: the node's own status, or an AppendEntries/heartbeat it sent. */
void check_leader(struct world *w, uint64_t term, uint64_t id, const char *how)
{
    struct checker *c = &w->chk;
    if (term == 0) {
        sim_fail(w, "node %llu acts as leader in term 0 (%s)", LLU(id), how);
        return;
    }
    if (!check_term_sane(w, term, "leader"))
        return;
    sim_grow((void **)&c->leader_of_term, &c->terms_cap, term + 1, sizeof *c->leader_of_term);
    uint64_t prev = c->leader_of_term[term];
    if (prev == 0) {
        c->leader_of_term[term] = id;
        c->leaders_count++;
    } else if (prev != id) {
        sim_fail(w, "election safety: term %llu has leaders %llu and %llu (%s)", LLU(term),
                 LLU(prev), LLU(id), how);
    }
}

/* One vote per term per voter, across crashes: a granted vote goes out only after the vote
 * is durable (paper §5.2, Figure 2 "votedFor ... persistent"). */
void check_vote(struct world *w, uint64_t voter, uint64_t term, uint64_t candidate)
{
    struct checker *c = &w->chk;
    if (!check_term_sane(w, term, "vote"))
        return;
    sim_grow((void **)&c->vote_of[voter], &c->votes_cap[voter], term + 1, sizeof(uint64_t));
    uint64_t prev = c->vote_of[voter][term];
    if (prev == 0)
        c->vote_of[voter][term] = candidate;
    else if (prev != candidate)
        sim_fail(w, "double vote: node %llu granted its term-%llu vote to %llu and to %llu",
                 LLU(voter), LLU(term), LLU(prev), LLU(candidate));
}

/* Log Matching, incrementally (paper §5.3): every entry entering any node's log is checked
 * against the first entry ever seen at that (index, term): same content and same term at
 * index - 1. By induction on the index, two logs that share an (index, term) then share
 * every entry up to it. prev_term is the term the entry follows in this node's log. */
void check_persist(struct world *w, struct node *n, const struct raft_entry *e,
                   uint64_t prev_term)
{
    struct checker *c = &w->chk;
    if (!check_index_sane(w, e->index, "persist") || !check_term_sane(w, e->term, "persist"))
        return;
    uint64_t hash = entry_hash(e->type, e->len, e->payload);
    sim_grow((void **)&c->lm, &c->lm_cap, e->index + 1, sizeof *c->lm);
    struct lm_slot *s = &c->lm[e->index];
    for (uint32_t i = 0; i < s->count; i++) {
        struct lm_rec *rec = &s->recs[i];
        if (rec->term != e->term)
            continue;
        if (rec->hash != hash)
            sim_fail(w, "log matching: node %llu persists index %llu term %llu (type %u, "
                     "len %u) with other content than another log has there", LLU(n->id),
                     LLU(e->index), LLU(e->term), e->type, e->len);
        else if (rec->prev_term != prev_term)
            sim_fail(w, "log matching: index %llu term %llu follows term %llu in node %llu's "
                     "log but term %llu in another", LLU(e->index), LLU(e->term),
                     LLU(prev_term), LLU(n->id), LLU(rec->prev_term));
        return;
    }
    if (s->count == s->cap) {
        uint64_t cap = s->cap;
        sim_grow((void **)&s->recs, &cap, (uint64_t)s->count + 1, sizeof *s->recs);
        s->cap = (uint32_t)cap;
    }
    s->recs[s->count++] = (struct lm_rec){.term = e->term, .hash = hash, .prev_term = prev_term};
}

const struct known *check_known(const struct world *w, uint64_t index)
{
    const struct checker *c = &w->chk;
    if (index == 0 || index > c->committed_max)
        return NULL;
    const struct known *k = &c->committed[index];
    return k->set ? k : NULL;
}

/* State Machine Safety (paper §5.4.3): one entry per index, whoever commits or applies it.
 * hash is NULL when we only know the term (a commit index moved past it). */
void check_committed(struct world *w, struct node *n, uint64_t index, uint64_t term,
                     const uint64_t *hash)
{
    struct checker *c = &w->chk;
    const char *what = hash ? "applied" : "committed";
    if (!check_index_sane(w, index, what))
        return;
    sim_grow((void **)&c->committed, &c->committed_cap, index + 1, sizeof *c->committed);
    struct known *k = &c->committed[index];
    if (!k->set) {
        *k = (struct known){.term = term, .set = true};
        if (hash) {
            k->hash = *hash;
            k->has_hash = true;
        }
        if (index > c->committed_max)
            c->committed_max = index;
        return;
    }
    if (k->term != term) {
        sim_fail(w, "state machine safety: node %llu %s index %llu with term %llu, but index "
                 "%llu is known committed with term %llu", LLU(n->id), what, LLU(index),
                 LLU(term), LLU(index), LLU(k->term));
        return;
    }
    if (!hash)
        return;
    if (k->has_hash && k->hash != *hash) {
        sim_fail(w, "state machine safety: node %llu applied index %llu term %llu with other "
                 "content than another node applied there", LLU(n->id), LLU(index), LLU(term));
        return;
    }
    k->hash = *hash;
    k->has_hash = true;
}

/* Leader Completeness (paper §5.4): a new leader's log holds every entry known committed,
 * with its term. Known committed entries form a prefix 1..committed_max. */
void check_leader_complete(struct world *w, struct node *n)
{
    const struct checker *c = &w->chk;
    for (uint64_t i = 1; i <= c->committed_max && !w->failed; i++) {
        const struct known *k = &c->committed[i];
        if (!k->set)
            continue;
        uint64_t term = 0;
        int rc = raft_log_term(n->r, i, &term);
        if (rc == -RAFT_EINVAL) {
            sim_fail(w, "leader completeness: node %llu became leader of term %llu with last "
                     "index %llu, missing committed index %llu (term %llu)", LLU(n->id),
                     LLU(n->st.term), LLU(n->st.last_index), LLU(i), LLU(k->term));
        } else if (rc != 0) {
            sim_fail(w, "node %llu: raft_log_term(%llu) returned %d (%s) with no snapshot",
                     LLU(n->id), LLU(i), rc, raft_strerror(rc));
        } else if (term != k->term) {
            sim_fail(w, "leader completeness: node %llu became leader of term %llu with term "
                     "%llu at index %llu, where term %llu is committed", LLU(n->id),
                     LLU(n->st.term), LLU(term), LLU(i), LLU(k->term));
        }
    }
}

/* A commit index may only pass an entry that a majority holds durably: followers ack only
 * after their fsync, the leader counts itself only after its own (thesis §10.2.1), and
 * nothing removes a committed entry from a log that holds it. Checked whenever any node's
 * commit index moves, against every disk (crashed nodes' too). */
void check_commit_quorum(struct world *w, struct node *n, uint64_t index, uint64_t term)
{
    uint32_t holders = 0;
    for (uint32_t i = 1; i <= w->p.nodes_count; i++) {
        uint64_t t = 0;
        if (disk_term(&w->nodes[i].disk, index, &t) == 0 && t == term)
            holders++;
    }
    if (holders * 2 <= w->p.nodes_count)
        sim_fail(w, "commit without a durable quorum: node %llu has commit index %llu "
                 "(term %llu) but only %u of %u disks hold that entry", LLU(n->id),
                 LLU(index), LLU(term), holders, w->p.nodes_count);
}
