/* The simulator's safety invariants (Raft paper Figure 3), checked incrementally as events
 * happen: election safety, log matching, leader completeness, state machine safety (for
 * entries, and for whole state machine states, which is how snapshots are checked), and
 * "a commit rests on a durable quorum of every configuration in force". Liveness and client
 * checks live in sim.c and client.c. Every check names the first violation precisely and
 * fails the seed. */
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
    for (uint32_t i = 0; i <= SIM_POOL_MAX; i++)
        free(c->vote_of[i]);
    free(c->chain);
    free(c->chain_count);
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
 * against the first durable entry seen at that (index, term): same content and same term at
 * index - 1. By induction on the index, two logs that share an (index, term) then share
 * every entry up to it. prev_term is the term the entry follows in this node's log. An
 * entry is recorded (record) once durable: a leader whose vote in its term was not durable
 * yet has sent nothing, and after a crash it may lead that term again with other entries;
 * the lost ones never existed for anyone else. */
void check_persist(struct world *w, struct node *n, const struct raft_entry *e,
                   uint64_t prev_term, bool record)
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
    if (!record)
        return;
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
                     const uint64_t *hash, uint16_t type)
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
            k->type = type;
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
    k->type = type;
    k->has_hash = true;
}

/* Leader Completeness (paper §5.4): a new leader's log holds every entry known committed,
 * with its term. Known committed entries form a prefix 1..committed_max. Entries inside
 * the leader's snapshot are not in its log any more: the snapshot's state was checked
 * against the committed prefix when it was saved or installed (check_fsm). */
void check_leader_complete(struct world *w, struct node *n)
{
    const struct checker *c = &w->chk;
    for (uint64_t i = n->st.snapshot_index + 1; i <= c->committed_max && !w->failed; i++) {
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
            sim_fail(w, "node %llu: raft_log_term(%llu) returned %d (%s) above its snapshot "
                     "index %llu", LLU(n->id), LLU(i), rc, raft_strerror(rc),
                     LLU(n->st.snapshot_index));
        } else if (term != k->term) {
            sim_fail(w, "leader completeness: node %llu became leader of term %llu with term "
                     "%llu at index %llu, where term %llu is committed", LLU(n->id),
                     LLU(n->st.term), LLU(term), LLU(i), LLU(k->term));
        }
    }
}

/* Holders of (index, term) among m's voters; *voters_out gets their count. */
static uint32_t check_holders(const struct world *w, const struct raft_members *m,
                              uint64_t index, uint64_t term, uint32_t *voters_out)
{
    uint32_t holders = 0, voters = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        uint64_t id = m->members[i].id;
        if (m->members[i].role != RAFT_VOTER)
            continue;
        voters++;
        if (id >= 1 && id <= w->p.pool_count && disk_holds(&w->nodes[id].disk, index, term))
            holders++;
    }
    *voters_out = voters;
    return holders;
}

/* A commit index may only pass an entry that a majority holds durably: followers ack only
 * after their fsync, the leader counts itself only after its own (thesis §10.2.1), and
 * nothing removes a committed entry from a log that holds it (a snapshot that covers it
 * holds it too). The majority is of the voters of the configuration the leader decides
 * with (cur), and during a joint phase also of the old one (old; paper §6). Checked
 * whenever a leader's commit index moves (cur and old are its configuration), or, with a
 * fixed membership, any node's (cur is then every node), against every disk, crashed
 * nodes' too. */
void check_commit_quorum(struct world *w, struct node *n, uint64_t index, uint64_t term,
                         const struct raft_members *cur, const struct raft_members *old)
{
    const struct raft_members *sets[2] = {cur, old};
    for (int k = 0; k < 2 && !w->failed; k++) {
        uint32_t voters = 0;
        uint32_t holders = check_holders(w, sets[k], index, term, &voters);
        if (voters > 0 && holders * 2 <= voters) {
            char buf[256];
            members_describe(cur, old, buf, sizeof buf);
            sim_fail(w, "commit without a durable quorum: node %llu has commit index %llu "
                     "(term %llu) but only %u of the %u voters of its %s configuration hold "
                     "that entry (configuration %s)", LLU(n->id), LLU(index), LLU(term),
                     holders, voters, k ? "old" : "current", buf);
        }
    }
}

/* ---- whole state machine states ---------------------------------------------------------- */

static uint64_t fsm_mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9E3779B97F4A7C15ull;
    h = (h << 29 | h >> 35) * 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

uint64_t fsm_initial_hash(void)
{
    return 0x3C6EF372FE94F82Bull;
}

void fsm_apply(struct fsm *f, uint64_t index, uint64_t term, uint16_t type, uint64_t ehash)
{
    f->hash = fsm_mix(fsm_mix(fsm_mix(f->hash, index), term), ehash);
    if (type >= RAFT_ENTRY_APP_MIN || type == RAFT_ENTRY_SESSION)
        f->count++;
}

/* Extends the chain over the known-committed prefix up to index; false if some entry
 * below it was never applied anywhere (so nothing can hold a state that includes it). */
static bool check_chain_to(struct world *w, uint64_t index, uint64_t *missing_out)
{
    struct checker *c = &w->chk;
    if (c->chain_cap == 0) {
        sim_grow((void **)&c->chain, &c->chain_cap, 64, sizeof *c->chain);
        uint64_t cap = 0;
        sim_grow((void **)&c->chain_count, &cap, 64, sizeof *c->chain_count);
        c->chain[0] = fsm_initial_hash();
        c->chain_count[0] = 0;
    }
    while (c->chain_len < index) {
        uint64_t i = c->chain_len + 1;
        const struct known *k = check_known(w, i);
        if (!k || !k->has_hash) {
            *missing_out = i;
            return false;
        }
        if (i >= c->chain_cap) {
            uint64_t cap = c->chain_cap;
            sim_grow((void **)&c->chain, &c->chain_cap, i + 1, sizeof *c->chain);
            sim_grow((void **)&c->chain_count, &cap, i + 1, sizeof *c->chain_count);
        }
        struct fsm f = {.hash = c->chain[i - 1], .count = c->chain_count[i - 1]};
        fsm_apply(&f, i, k->term, k->type, k->hash);
        c->chain[i] = f.hash;
        c->chain_count[i] = f.count;
        c->chain_len = i;
    }
    return true;
}

void check_fsm(struct world *w, struct node *n, uint64_t index, const struct fsm *f,
               const char *what)
{
    uint64_t missing = 0;
    if (!check_chain_to(w, index, &missing)) {
        sim_fail(w, "state machine safety: node %llu has a state at index %llu (%s), but index "
                 "%llu below it was never applied by anyone", LLU(n->id), LLU(index), what,
                 LLU(missing));
        return;
    }
    const struct checker *c = &w->chk;
    if (c->chain[index] != f->hash || c->chain_count[index] != f->count)
        sim_fail(w, "state machine safety: node %llu's state at index %llu (%s: %llu entries, "
                 "hash %016llx) is not the committed prefix's (%llu entries, hash %016llx)",
                 LLU(n->id), LLU(index), what, LLU(f->count), LLU(f->hash),
                 LLU(c->chain_count[index]), LLU(c->chain[index]));
}
