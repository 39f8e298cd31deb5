/* The consensus core's test harness: in-memory store, contract-following ready drainer,
 * message builders and a deterministic in-process cluster (see raft_harness.h). */
#include "raft_harness.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

typedef unsigned long long harness_ull; /* for printing uint64_t with %llu */

static void *harness_grow(void *p, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    uint64_t cap_new = *cap ? *cap : 16;
    while (cap_new < need)
        cap_new *= 2;
    void *q = realloc(p, (size_t)cap_new * elem);
    cr_assert(q != NULL, "harness: out of memory");
    *cap = cap_new;
    return q;
}

/* ---- the store ----------------------------------------------------------------------------- */

static int harness_store_entry_cb(void *ctx, uint64_t index, struct raft_entry *out)
{
    struct harness_store *s = ctx;
    cr_assert(!s->in_batch, "the core read entry %llu between raft_ready and raft_advance",
              (harness_ull)index);
    cr_assert(index >= 1 && index <= s->last_index,
              "the core read entry %llu; the store holds 1..%llu", (harness_ull)index,
              (harness_ull)s->last_index);
    s->entry_reads++;
    *out = s->ents[index - 1];
    return 0;
}

static int harness_store_term_cb(void *ctx, uint64_t index, uint64_t *term_out)
{
    struct harness_store *s = ctx;
    cr_assert(!s->in_batch, "the core read term %llu between raft_ready and raft_advance",
              (harness_ull)index);
    cr_assert(index >= 1 && index <= s->last_index,
              "the core read term %llu; the store holds 1..%llu", (harness_ull)index,
              (harness_ull)s->last_index);
    s->term_reads++;
    *term_out = s->ents[index - 1].term;
    return 0;
}

static int harness_store_type_cb(void *ctx, uint64_t index, uint16_t *type_out)
{
    struct harness_store *s = ctx;
    cr_assert(index >= 1 && index <= s->last_index,
              "the core read type %llu; the store holds 1..%llu", (harness_ull)index,
              (harness_ull)s->last_index);
    *type_out = s->ents[index - 1].type;
    return 0;
}

void harness_store_init(struct harness_store *s)
{
    memset(s, 0, sizeof *s);
    s->ops = (struct raft_log_store){.ctx = s, .entry = harness_store_entry_cb,
                                     .term = harness_store_term_cb,
                                     .type = harness_store_type_cb};
}

void harness_store_free(struct harness_store *s)
{
    free(s->ents);
    s->ents = NULL;
    s->last_index = s->cap = 0;
}

void harness_store_append(struct harness_store *s, uint64_t term)
{
    cr_assert(s->last_index == 0 || term >= s->ents[s->last_index - 1].term);
    s->ents = harness_grow(s->ents, &s->cap, s->last_index + 1, sizeof *s->ents);
    struct raft_entry *e = &s->ents[s->last_index];
    memset(e, 0, sizeof *e);
    e->index = ++s->last_index;
    e->term = term;
    e->type = RAFT_ENTRY_APP_MIN;
}

void harness_store_append_terms(struct harness_store *s, const uint64_t *terms, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        harness_store_append(s, terms[i]);
}

void harness_store_persist(struct harness_store *s, const struct raft_entry *e, uint32_t n)
{
    cr_assert(n > 0);
    uint64_t first = e[0].index;
    cr_assert(first >= 1 && first <= s->last_index + 1,
              "a batch starting at %llu leaves a hole after the persisted %llu",
              (harness_ull)first, (harness_ull)s->last_index);
    if (first <= s->last_index) {
        s->discards++;
        s->discard_from = first;
        s->last_index = first - 1;
    }
    s->ents = harness_grow(s->ents, &s->cap, s->last_index + n, sizeof *s->ents);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(e[i].index, first + i, "batch entries are not consecutive");
        cr_assert(e[i].len <= RAFT_PAYLOAD_MAX);
        if (s->last_index > 0)
            cr_assert(e[i].term >= s->ents[s->last_index - 1].term,
                      "terms decrease along the persisted log at %llu",
                      (harness_ull)e[i].index);
        s->ents[s->last_index++] = e[i];
    }
}

uint64_t harness_store_term(const struct harness_store *s, uint64_t index)
{
    if (index == 0)
        return 0;
    cr_assert(index <= s->last_index);
    return s->ents[index - 1].term;
}

/* ---- messages ------------------------------------------------------------------------------- */

void harness_msg_copy(struct harness_msg *dst, const struct raft_msg *src, bool now)
{
    dst->m = *src;
    dst->ents = NULL;
    dst->now = now;
    if (src->type == RAFT_MSG_APPEND && src->append.n_entries > 0) {
        size_t size = (size_t)src->append.n_entries * sizeof *dst->ents;
        dst->ents = malloc(size);
        cr_assert(dst->ents != NULL);
        memcpy(dst->ents, src->append.entries, size);
        dst->m.append.entries = dst->ents;
    }
}

void harness_msg_free(struct harness_msg *hm)
{
    free(hm->ents);
    hm->ents = NULL;
}

void harness_entry_set(struct raft_entry *e, uint64_t index, uint64_t term)
{
    memset(e, 0, offsetof(struct raft_entry, payload));
    e->index = index;
    e->term = term;
    e->type = RAFT_ENTRY_APP_MIN;
    e->len = 0;
}

struct raft_msg harness_append(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
                               uint64_t prev_term, uint64_t commit,
                               const struct raft_entry *ents, uint32_t n)
{
    return (struct raft_msg){
        .type = RAFT_MSG_APPEND, .from = from, .to = to, .term = term,
        .append = {.prev_log_index = prev_index, .prev_log_term = prev_term,
                   .leader_commit = commit, .n_entries = n, .entries = ents},
    };
}

struct raft_msg harness_append_resp(uint64_t from, uint64_t to, uint64_t term, bool success,
                                    uint64_t last_index, uint64_t hint_index,
                                    uint64_t hint_term)
{
    return (struct raft_msg){
        .type = RAFT_MSG_APPEND_RESP, .from = from, .to = to, .term = term,
        .append_resp = {.success = success, .last_index = last_index,
                        .hint_index = hint_index, .hint_term = hint_term},
    };
}

struct raft_msg harness_vote(uint64_t from, uint64_t to, uint64_t term, bool pre,
                             uint64_t last_index, uint64_t last_term)
{
    return (struct raft_msg){
        .type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, .from = from, .to = to, .term = term,
        .vote = {.last_log_index = last_index, .last_log_term = last_term},
    };
}

struct raft_msg harness_vote_resp(uint64_t from, uint64_t to, uint64_t term, bool pre,
                                  bool granted)
{
    return (struct raft_msg){
        .type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, .from = from, .to = to,
        .term = term, .vote_resp = {.granted = granted},
    };
}

struct raft_msg harness_heartbeat(uint64_t from, uint64_t to, uint64_t term, uint64_t commit,
                                  uint64_t ctx)
{
    return (struct raft_msg){
        .type = RAFT_MSG_HEARTBEAT, .from = from, .to = to, .term = term,
        .heartbeat = {.commit = commit, .ctx = ctx},
    };
}

struct raft_msg harness_heartbeat_resp(uint64_t from, uint64_t to, uint64_t term, uint64_t ctx)
{
    return (struct raft_msg){
        .type = RAFT_MSG_HEARTBEAT_RESP, .from = from, .to = to, .term = term,
        .heartbeat_resp = {.ctx = ctx},
    };
}

/* ---- one server ----------------------------------------------------------------------------- */

void harness_node_init(struct harness_node *n, uint64_t id, uint32_t voters)
{
    memset(n, 0, sizeof *n);
    cr_assert(voters >= 1 && voters <= RAFT_MEMBERS_MAX);
    n->id = id;
    raft_config_default(&n->cfg, id);
    n->members.count = voters;
    for (uint32_t i = 0; i < voters; i++)
        n->members.members[i] = (struct raft_member){.id = i + 1, .role = RAFT_VOTER};
    harness_store_init(&n->store);
}

void harness_node_start(struct harness_node *n)
{
    cr_assert(n->r == NULL);
    struct raft_boot boot = {
        .hard_state = n->store.hard_state,
        .last_index = n->store.last_index,
        .members = n->members,
    };
    n->store.ops.ctx = &n->store; /* the node may have been moved since init */
    n->r = raft_create(&n->cfg, &boot, &n->store.ops);
    cr_assert(n->r != NULL);
    n->applied_count = 0;
}

void harness_node_crash(struct harness_node *n)
{
    raft_destroy(n->r);
    n->r = NULL;
    n->store.in_batch = false;
}

void harness_node_clear(struct harness_node *n)
{
    for (uint32_t i = 0; i < n->out_count; i++)
        harness_msg_free(&n->out[i]);
    n->out_count = 0;
    n->reads_count = 0;
}

void harness_node_free(struct harness_node *n)
{
    harness_node_crash(n);
    harness_node_clear(n);
    free(n->out);
    free(n->applied);
    free(n->reads);
    harness_store_free(&n->store);
    n->out = NULL;
    n->applied = NULL;
    n->reads = NULL;
}

static void harness_node_push(struct harness_node *n, const struct raft_msg *m, bool now)
{
    uint64_t cap = n->out_cap;
    n->out = harness_grow(n->out, &cap, (uint64_t)n->out_count + 1, sizeof *n->out);
    n->out_cap = (uint32_t)cap;
    harness_msg_copy(&n->out[n->out_count++], m, now);
}

/* What a message in `msgs` promises, checked against what the store holds now that the
 * batch is durable. */
static void harness_check_after_msg(const struct harness_node *n, const struct raft_msg *m)
{
    const struct harness_store *s = &n->store;
    cr_assert_eq(m->from, n->id);
    cr_assert(m->type >= RAFT_MSG_VOTE && m->type < RAFT_MSG_TYPE_END_);
    if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESP)
        cr_assert(m->term <= s->hard_state.term, "%s of term %llu sent in durable term %llu",
                  raft_msg_type_name(m->type), (harness_ull)m->term,
                  (harness_ull)s->hard_state.term);
    if (m->type == RAFT_MSG_VOTE)
        cr_assert(s->hard_state.term == m->term && s->hard_state.voted_for == n->id,
                  "a vote request leaves before the self-vote is durable");
    if (m->type == RAFT_MSG_VOTE_RESP && m->vote_resp.granted)
        cr_assert(s->hard_state.term == m->term && s->hard_state.voted_for == m->to,
                  "a vote grant leaves before the vote is durable");
    if (m->type == RAFT_MSG_APPEND_RESP && m->append_resp.success)
        cr_assert(m->append_resp.last_index <= s->last_index,
                  "acknowledged %llu with only %llu entries durable",
                  (harness_ull)m->append_resp.last_index, (harness_ull)s->last_index);
}

void harness_node_handle(struct harness_node *n, const struct raft_ready *rd)
{
    struct harness_store *s = &n->store;
    s->in_batch = true;
    const struct raft_hard_state durable = s->hard_state;

    /* 1. msgs_now go at once: they may depend on nothing of this batch */
    for (uint32_t i = 0; i < rd->n_msgs_now; i++) {
        const struct raft_msg *m = &rd->msgs_now[i];
        cr_assert(m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT,
                  "%s in msgs_now", raft_msg_type_name(m->type));
        cr_assert_eq(m->from, n->id);
        cr_assert_eq(m->term, durable.term, "msgs_now carries term %llu while %llu is durable",
                     (harness_ull)m->term, (harness_ull)durable.term);
        harness_node_push(n, m, true);
    }

    /* 2. persist the hard state and the entries (discarding a conflicting suffix) */
    if (rd->hard_state_changed) {
        cr_assert(rd->hard_state.term >= durable.term, "the term went back");
        if (rd->hard_state.term == durable.term && durable.voted_for != 0)
            cr_assert_eq(rd->hard_state.voted_for, durable.voted_for,
                         "a second vote in term %llu", (harness_ull)durable.term);
        s->hard_state = rd->hard_state;
        n->hard_state_writes++;
    } else {
        cr_assert(rd->hard_state.term == durable.term &&
                      rd->hard_state.voted_for == durable.voted_for,
                  "the hard state differs from the durable one but is not marked changed");
    }
    if (rd->n_entries > 0) {
        harness_store_persist(s, rd->entries, rd->n_entries);
        n->last_batch_entries = rd->n_entries;
        n->last_batch_first_index = rd->entries[0].index;
    }

    /* 3. msgs: only now, the batch being durable */
    for (uint32_t i = 0; i < rd->n_msgs; i++) {
        harness_check_after_msg(n, &rd->msgs[i]);
        harness_node_push(n, &rd->msgs[i], false);
    }

    /* 4. committed entries, in order, each one durable here */
    n->applied = harness_grow(n->applied, &n->applied_cap, n->applied_count + rd->n_committed,
                              sizeof *n->applied);
    for (uint32_t i = 0; i < rd->n_committed; i++) {
        const struct raft_entry *e = &rd->committed[i];
        cr_assert_eq(e->index, n->applied_count + 1, "applied out of order");
        cr_assert(e->index <= s->last_index && s->ents[e->index - 1].term == e->term,
                  "entry %llu committed but not durable here", (harness_ull)e->index);
        n->applied[n->applied_count++] = *e;
    }

    /* 5. reads */
    uint64_t cap = n->reads_cap;
    n->reads = harness_grow(n->reads, &cap, (uint64_t)n->reads_count + rd->n_reads,
                            sizeof *n->reads);
    n->reads_cap = (uint32_t)cap;
    for (uint32_t i = 0; i < rd->n_reads; i++)
        n->reads[n->reads_count++] = rd->reads[i];

    /* 6. advance */
    s->in_batch = false;
    raft_advance(n->r, rd);
    n->batches++;
}

uint32_t harness_node_drain(struct harness_node *n)
{
    cr_assert(n->r != NULL);
    struct raft_ready rd;
    uint32_t batches = 0;
    while (raft_ready(n->r, &rd)) {
        cr_assert(++batches < HARNESS_DRAIN_MAX, "node %llu: the ready batches never end",
                  (harness_ull)n->id);
        harness_node_handle(n, &rd);
    }
    return batches;
}

int harness_node_step(struct harness_node *n, const struct raft_msg *m)
{
    return raft_step(n->r, m);
}

void harness_node_tick(struct harness_node *n, uint32_t ticks)
{
    for (uint32_t i = 0; i < ticks; i++)
        raft_tick(n->r);
}

struct raft_status harness_node_status(const struct harness_node *n)
{
    struct raft_status st;
    raft_status(n->r, &st);
    return st;
}

int harness_node_propose(struct harness_node *n, uint64_t value, uint64_t *index_out)
{
    return raft_propose(n->r, RAFT_ENTRY_APP_MIN, &value, sizeof value, index_out);
}

uint64_t harness_entry_value(const struct raft_entry *e)
{
    uint64_t v = 0;
    if (e->len == sizeof v)
        memcpy(&v, e->payload, sizeof v);
    return v;
}

const struct harness_msg *harness_node_msg(const struct harness_node *n, uint8_t type,
                                           uint64_t to, uint32_t nth)
{
    for (uint32_t i = 0; i < n->out_count; i++) {
        const struct harness_msg *hm = &n->out[i];
        if (hm->m.type == type && (to == 0 || hm->m.to == to) && nth-- == 0)
            return hm;
    }
    return NULL;
}

uint32_t harness_node_count(const struct harness_node *n, uint8_t type, uint64_t to)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < n->out_count; i++)
        if (n->out[i].m.type == type && (to == 0 || n->out[i].m.to == to))
            count++;
    return count;
}

void harness_node_make_leader(struct harness_node *n, uint64_t peer)
{
    uint64_t term = harness_node_status(n).term;
    for (uint32_t i = 0; i < 2 * n->cfg.election_ticks; i++) {
        if (harness_node_status(n).role != RAFT_FOLLOWER)
            break;
        harness_node_tick(n, 1);
    }
    harness_node_drain(n);
    if (n->cfg.pre_vote) {
        cr_assert_eq(harness_node_status(n).role, RAFT_PRECANDIDATE);
        struct raft_msg m = harness_vote_resp(peer, n->id, term + 1, true, true);
        cr_assert_eq(harness_node_step(n, &m), 0);
        harness_node_drain(n);
    }
    cr_assert_eq(harness_node_status(n).role, RAFT_CANDIDATE);
    cr_assert_eq(harness_node_status(n).term, term + 1);
    struct raft_msg m = harness_vote_resp(peer, n->id, term + 1, false, true);
    cr_assert_eq(harness_node_step(n, &m), 0);
    cr_assert_eq(harness_node_status(n).role, RAFT_LEADER);
    harness_node_drain(n);
    harness_node_clear(n);
}

/* ---- the cluster ---------------------------------------------------------------------------- */

void harness_cluster_init(struct harness_cluster *c, uint32_t count)
{
    memset(c, 0, sizeof *c);
    cr_assert(count >= 1 && count <= HARNESS_NODES_MAX);
    c->count = count;
    for (uint32_t i = 0; i < count; i++)
        harness_node_init(&c->nodes[i], i + 1, count);
}

void harness_cluster_start(struct harness_cluster *c)
{
    for (uint32_t i = 0; i < c->count; i++)
        harness_node_start(&c->nodes[i]);
}

void harness_cluster_free(struct harness_cluster *c)
{
    for (uint32_t i = 0; i < c->count; i++)
        harness_node_free(&c->nodes[i]);
    for (uint32_t i = 0; i < c->queue_count; i++)
        harness_msg_free(&c->queue[i]);
    free(c->queue);
    c->queue = NULL;
    c->queue_count = c->queue_cap = 0;
}

struct harness_node *harness_cluster_node(struct harness_cluster *c, uint64_t id)
{
    cr_assert(id >= 1 && id <= c->count);
    return &c->nodes[id - 1];
}

/* Moves what node n has to send into the network queue (ownership of entries included). */
static void harness_cluster_collect(struct harness_cluster *c, struct harness_node *n)
{
    if (n->out_count == 0)
        return;
    uint64_t cap = c->queue_cap;
    c->queue = harness_grow(c->queue, &cap, (uint64_t)c->queue_count + n->out_count,
                            sizeof *c->queue);
    c->queue_cap = (uint32_t)cap;
    memcpy(&c->queue[c->queue_count], n->out, n->out_count * sizeof *n->out);
    c->queue_count += n->out_count;
    n->out_count = 0;
}

static void harness_cluster_deliver_one(struct harness_cluster *c, const struct raft_msg *m)
{
    bool ok = m->to >= 1 && m->to <= c->count && m->from >= 1 && m->from <= c->count;
    cr_assert(ok, "message to %llu from %llu", (harness_ull)m->to, (harness_ull)m->from);
    struct harness_node *to = &c->nodes[m->to - 1];
    if (!to->r || c->cut[m->from][m->to] || (c->filter && !c->filter(c->filter_arg, m))) {
        c->dropped++;
        return;
    }
    c->delivered++;
    int rv = raft_step(to->r, m);
    cr_assert_eq(rv, 0, "node %llu refused %s from %llu: %s", (harness_ull)m->to,
                 raft_msg_type_name(m->type), (harness_ull)m->from, raft_strerror(rv));
}

uint32_t harness_cluster_deliver(struct harness_cluster *c)
{
    for (uint32_t round = 0;; round++) {
        cr_assert(round < HARNESS_ROUNDS_MAX, "the cluster never goes quiet");
        for (uint32_t i = 0; i < c->count; i++) {
            struct harness_node *n = &c->nodes[i];
            if (!n->r)
                continue;
            harness_node_drain(n);
            harness_cluster_collect(c, n);
        }
        if (c->queue_count == 0)
            return round;
        struct harness_msg *batch = c->queue;
        uint32_t count = c->queue_count;
        c->queue = NULL;
        c->queue_count = c->queue_cap = 0;
        for (uint32_t i = 0; i < count; i++) {
            harness_cluster_deliver_one(c, &batch[i].m);
            harness_msg_free(&batch[i]);
        }
        free(batch);
    }
}

void harness_cluster_tick_all(struct harness_cluster *c, uint32_t ticks)
{
    for (uint32_t t = 0; t < ticks; t++) {
        for (uint32_t i = 0; i < c->count; i++)
            if (c->nodes[i].r)
                raft_tick(c->nodes[i].r);
        harness_cluster_deliver(c);
    }
}

void harness_cluster_elect(struct harness_cluster *c, uint64_t id)
{
    struct harness_node *n = harness_cluster_node(c, id);
    harness_cluster_deliver(c);
    for (uint32_t i = 0; i < 8 * n->cfg.election_ticks; i++) {
        if (harness_node_status(n).role == RAFT_LEADER)
            break;
        raft_tick(n->r);
        harness_cluster_deliver(c);
    }
    cr_assert_eq(harness_node_status(n).role, RAFT_LEADER, "node %llu was not elected",
                 (harness_ull)id);
}

uint64_t harness_cluster_leader(struct harness_cluster *c)
{
    uint64_t leader = 0, leader_term = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        if (!c->nodes[i].r)
            continue;
        struct raft_status st = harness_node_status(&c->nodes[i]);
        if (st.role != RAFT_LEADER)
            continue;
        cr_assert(leader == 0 || leader_term != st.term, "two leaders in term %llu",
                  (harness_ull)st.term);
        if (st.term > leader_term) {
            leader = st.id;
            leader_term = st.term;
        }
    }
    return leader;
}

void harness_cluster_isolate(struct harness_cluster *c, uint64_t id)
{
    for (uint64_t other = 1; other <= c->count; other++)
        if (other != id)
            c->cut[id][other] = c->cut[other][id] = true;
}

void harness_cluster_heal(struct harness_cluster *c)
{
    memset(c->cut, 0, sizeof c->cut);
}

void harness_cluster_check_applied(struct harness_cluster *c)
{
    for (uint32_t a = 0; a < c->count; a++) {
        for (uint32_t b = a + 1; b < c->count; b++) {
            const struct harness_node *x = &c->nodes[a], *y = &c->nodes[b];
            uint64_t n = x->applied_count < y->applied_count ? x->applied_count
                                                             : y->applied_count;
            for (uint64_t i = 0; i < n; i++) {
                const struct raft_entry *ex = &x->applied[i], *ey = &y->applied[i];
                cr_assert(ex->index == ey->index && ex->term == ey->term &&
                              ex->type == ey->type && ex->len == ey->len &&
                              memcmp(ex->payload, ey->payload, ex->len) == 0,
                          "nodes %llu and %llu applied different entries at %llu",
                          (harness_ull)x->id, (harness_ull)y->id, (harness_ull)ex->index);
            }
        }
    }
}
