/* The consensus core's test harness: in-memory store, contract-following ready drainer,
 * message builders and a deterministic in-process cluster (see raft_harness.h). */
#include "raft_harness.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

typedef unsigned long long harness_ull; /* for printing uint64_t with %llu */

static void harness_node_applied_skip(struct harness_node *n, uint64_t index);

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
    if (index >= 1 && index <= s->compacted_index)
        return -RAFT_ECOMPACTED;
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
    if (index >= 1 && index <= s->compacted_index)
        return -RAFT_ECOMPACTED;
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
    if (index >= 1 && index <= s->compacted_index)
        return -RAFT_ECOMPACTED;
    cr_assert(index >= 1 && index <= s->last_index,
              "the core read type %llu; the store holds 1..%llu", (harness_ull)index,
              (harness_ull)s->last_index);
    s->type_reads++;
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
    cr_assert(term >= harness_store_term(s, s->last_index));
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
    cr_assert(first > s->compacted_index, "a batch at %llu rewrites the compacted log",
              (harness_ull)first);
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
        cr_assert(e[i].term >= harness_store_term(s, s->last_index),
                  "terms decrease along the persisted log at %llu", (harness_ull)e[i].index);
        s->ents[s->last_index++] = e[i];
    }
}

uint64_t harness_store_term(const struct harness_store *s, uint64_t index)
{
    if (index == 0)
        return 0;
    if (s->snap.index > 0 && index == s->snap.index)
        return s->snap.term;
    cr_assert(index > s->compacted_index, "entry %llu was compacted", (harness_ull)index);
    cr_assert(index <= s->last_index);
    return s->ents[index - 1].term;
}

void harness_store_append_members(struct harness_store *s, uint64_t term,
                                  const struct raft_members *members,
                                  const struct raft_members *old, const void *ctx,
                                  uint32_t ctx_len)
{
    harness_store_append(s, term);
    struct raft_entry *e = &s->ents[s->last_index - 1];
    harness_entry_members(e, e->index, term, members, old, ctx, ctx_len);
}

void harness_store_compact(struct harness_store *s, const struct raft_snapshot_meta *meta,
                           uint64_t compact_to)
{
    cr_assert(meta->index > 0 && compact_to <= meta->index);
    cr_assert(meta->index >= s->snap.index, "the snapshot went back");
    s->snap = *meta;
    if (compact_to > s->compacted_index)
        s->compacted_index = compact_to;
    if (s->last_index < meta->index) { /* an installed snapshot: the log restarts after it */
        s->ents = harness_grow(s->ents, &s->cap, meta->index, sizeof *s->ents);
        s->last_index = meta->index;
    }
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

void harness_entry_members(struct raft_entry *e, uint64_t index, uint64_t term,
                           const struct raft_members *members, const struct raft_members *old,
                           const void *ctx, uint32_t ctx_len)
{
    struct raft_members none = {0};
    harness_entry_set(e, index, term);
    e->type = RAFT_ENTRY_MEMBERS;
    e->len = raft_members_encode(members, old ? old : &none, ctx, ctx_len, e->payload);
    cr_assert(e->len > 0, "the context does not fit");
}

struct raft_members harness_members(const char *spec)
{
    struct raft_members m = {0};
    const char *p = spec;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        char *end;
        unsigned long long id = strtoull(p, &end, 10);
        cr_assert(end != p, "bad members spec \"%s\"", spec);
        cr_assert(m.count < RAFT_MEMBERS_MAX, "too many members in \"%s\"", spec);
        uint8_t role = RAFT_VOTER;
        if (*end == 'L') {
            role = RAFT_LEARNER;
            end++;
        }
        m.members[m.count++] = (struct raft_member){.id = id, .role = role};
        p = end;
    }
    return m;
}

bool harness_members_equal(const struct raft_members *a, const struct raft_members *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++) {
        bool found = false;
        for (uint32_t j = 0; j < b->count && !found; j++)
            found = a->members[i].id == b->members[j].id &&
                    a->members[i].role == b->members[j].role;
        if (!found)
            return false;
    }
    return true;
}

void harness_entry_decode_members(const struct raft_entry *e, struct raft_members *members_out,
                                  struct raft_members *old_out)
{
    cr_assert_eq(e->type, RAFT_ENTRY_MEMBERS, "entry %llu is not a MEMBERS entry",
                 (harness_ull)e->index);
    int rv = raft_members_decode(e->payload, e->len, members_out, old_out, NULL, NULL);
    cr_assert_eq(rv, 0, "entry %llu: a MEMBERS payload that does not decode",
                 (harness_ull)e->index);
}

struct raft_msg harness_snapshot(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
                                 uint64_t snap_term, const struct raft_members *members,
                                 const struct raft_members *old)
{
    struct raft_msg m = {
        .type = RAFT_MSG_SNAPSHOT, .from = from, .to = to, .term = term,
        .snapshot = {.index = index, .term = snap_term},
    };
    if (members)
        m.snapshot.members = *members;
    if (old)
        m.snapshot.members_old = *old;
    return m;
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
        .members_old = n->members_old,
    };
    const struct raft_snapshot_meta *snap = &n->store.snap;
    if (snap->index > 0) {
        boot.snapshot_index = snap->index;
        boot.snapshot_term = snap->term;
        boot.members = snap->members;
        boot.members_old = snap->members_old;
    }
    n->store.ops.ctx = &n->store; /* the node may have been moved since init */
    n->r = raft_create(&n->cfg, &boot, &n->store.ops);
    cr_assert(n->r != NULL);
    n->applied_count = 0;
    harness_node_applied_skip(n, snap->index);
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

/* Entries up to index came with a snapshot: the applied list gets placeholders (type 0,
 * which no entry has) that harness_cluster_check_applied skips. */
static void harness_node_applied_skip(struct harness_node *n, uint64_t index)
{
    if (index <= n->applied_count)
        return;
    n->applied = harness_grow(n->applied, &n->applied_cap, index, sizeof *n->applied);
    for (uint64_t i = n->applied_count; i < index; i++) {
        memset(&n->applied[i], 0, offsetof(struct raft_entry, payload));
        n->applied[i].index = i + 1;
    }
    n->applied_count = index;
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
        cr_assert(m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
                      m->type == RAFT_MSG_TIMEOUT_NOW || m->type == RAFT_MSG_SNAPSHOT,
                  "%s in msgs_now", raft_msg_type_name(m->type));
        cr_assert_eq(m->from, n->id);
        cr_assert_eq(m->term, durable.term, "msgs_now carries term %llu while %llu is durable",
                     (harness_ull)m->term, (harness_ull)durable.term);
        harness_node_push(n, m, true);
    }

    /* 2. install the snapshot (the log now starts after it), then persist the hard state
     * and the entries (discarding a conflicting suffix) */
    if (rd->snapshot) {
        const struct raft_snapshot_meta *sn = rd->snapshot;
        cr_assert(sn->index > 0 && sn->term > 0);
        cr_assert(sn->index > n->applied_count, "a snapshot at %llu, %llu already applied",
                  (harness_ull)sn->index, (harness_ull)n->applied_count);
        s->snap = *sn;
        s->compacted_index = s->last_index = sn->index;
        s->ents = harness_grow(s->ents, &s->cap, sn->index, sizeof *s->ents);
        harness_node_applied_skip(n, sn->index);
        n->snapshots_installed++;
    }
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
        cr_assert(e->index <= s->last_index && harness_store_term(s, e->index) == e->term,
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

void harness_node_step_ok(struct harness_node *n, struct raft_msg m)
{
    int rv = harness_node_step(n, &m);
    cr_assert_eq(rv, 0, "raft_step(%s) = %d", raft_msg_type_name(m.type), rv);
}

uint64_t harness_node_match(const struct harness_node *leader, uint64_t id)
{
    uint64_t match = 0;
    cr_assert_eq(raft_match_index(leader->r, id, &match), 0, "no progress for %llu",
                 (unsigned long long)id);
    return match;
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

static void harness_node_snapshot_members(const struct harness_node *n, uint64_t index,
                                          struct raft_snapshot_meta *meta)
{
    /* the configuration in force at index: the last MEMBERS entry applied up to it, else
     * the one the node booted with */
    const struct raft_snapshot_meta *snap = &n->store.snap;
    if (snap->index > 0) {
        meta->members = snap->members;
        meta->members_old = snap->members_old;
    } else {
        meta->members = n->members;
        meta->members_old = n->members_old;
    }
    for (uint64_t i = 0; i < n->applied_count && n->applied[i].index <= index; i++)
        if (n->applied[i].type == RAFT_ENTRY_MEMBERS)
            harness_entry_decode_members(&n->applied[i], &meta->members, &meta->members_old);
}

void harness_node_snapshot(struct harness_node *n, uint64_t index, uint64_t compact_to)
{
    cr_assert(index > 0 && index <= n->applied_count, "a snapshot at %llu, %llu applied",
              (harness_ull)index, (harness_ull)n->applied_count);
    struct raft_snapshot_meta meta = {.index = index};
    cr_assert_eq(raft_log_term(n->r, index, &meta.term), 0);
    harness_node_snapshot_members(n, index, &meta);
    raft_snapshot_taken(n->r, index);
    harness_store_compact(&n->store, &meta, compact_to);
}

struct raft_members harness_node_members(const struct harness_node *n,
                                         struct raft_members *old_out)
{
    struct raft_members m, old;
    raft_members(n->r, &m, &old);
    if (old_out)
        *old_out = old;
    return m;
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
    struct harness_node *from = &c->nodes[m->from - 1];
    bool snapshot = m->type == RAFT_MSG_SNAPSHOT;
    if (!to->r || c->cut[m->from][m->to]) {
        c->dropped++;
        if (snapshot && from->r)
            raft_snapshot_report(from->r, m->to, false);
        return;
    }
    if (c->filter && !c->filter(c->filter_arg, m)) {
        c->dropped++;
        return;
    }
    c->delivered++;
    struct raft_msg sm;
    if (snapshot) { /* the shell streamed the file: the receiver learns what it records */
        const struct raft_snapshot_meta *file = &from->store.snap;
        cr_assert(file->index == m->snapshot.index && file->term == m->snapshot.term,
                  "node %llu sent a SNAPSHOT of (%llu, %llu) but its file is (%llu, %llu)",
                  (harness_ull)m->from, (harness_ull)m->snapshot.index,
                  (harness_ull)m->snapshot.term, (harness_ull)file->index,
                  (harness_ull)file->term);
        sm = *m;
        sm.snapshot.members = file->members;
        sm.snapshot.members_old = file->members_old;
        m = &sm;
    }
    int rv = raft_step(to->r, m);
    cr_assert_eq(rv, 0, "node %llu refused %s from %llu: %s", (harness_ull)m->to,
                 raft_msg_type_name(m->type), (harness_ull)m->from, raft_strerror(rv));
    if (snapshot && from->r)
        raft_snapshot_report(from->r, m->to, true);
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
                if (ex->type == 0 || ey->type == 0)
                    continue; /* came with a snapshot */
                cr_assert(ex->index == ey->index && ex->term == ey->term &&
                              ex->type == ey->type && ex->len == ey->len &&
                              memcmp(ex->payload, ey->payload, ex->len) == 0,
                          "nodes %llu and %llu applied different entries at %llu",
                          (harness_ull)x->id, (harness_ull)y->id, (harness_ull)ex->index);
            }
        }
    }
}
