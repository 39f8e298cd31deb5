/* A simulated server: a core (or none while crashed) over an in-memory disk, driven through
 * the ready loop exactly as raft.h prescribes, and the crash model: a crash may strike
 * between any two steps of a batch; writes not yet fsynced are lost, or partly written
 * back (a prefix of the batch's entries; the hard state independently); nothing fsynced is
 * ever lost. A restart is a fresh raft_create from the disk; applied state is volatile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define LLU(x) ((unsigned long long)(x))
/* Fail the seed and leave the (void) function. */
#define FAIL_RET(w, ...) do { sim_fail((w), __VA_ARGS__); return; } while (0)

/* ---- the disk: what survives a crash -------------------------------------------------------- */

int disk_term(const struct disk *d, uint64_t index, uint64_t *term_out)
{
    if (index == 0) {
        *term_out = 0;
        return 0;
    }
    if (index > d->last_index)
        return -RAFT_EINVAL;
    *term_out = d->log[index - 1].term;
    return 0;
}

static void disk_truncate_from(struct disk *d, uint64_t from)
{
    while (d->last_index > 0 && d->last_index >= from) {
        free(d->log[d->last_index - 1].payload);
        d->last_index--;
    }
}

static void disk_append(struct disk *d, const struct raft_entry *e)
{
    sim_grow((void **)&d->log, &d->cap, d->last_index + 1, sizeof *d->log);
    struct sim_entry *s = &d->log[d->last_index];
    s->term = e->term;
    s->index = e->index;
    s->type = e->type;
    s->len = e->len;
    s->payload = NULL;
    s->hash = entry_hash(e->type, e->len, e->payload);
    if (e->len) {
        s->payload = sim_malloc(e->len);
        memcpy(s->payload, e->payload, e->len);
    }
    d->last_index++;
}

/* Step 2 of a batch: discard the persisted suffix from the first entry, append the rest. */
static void disk_write_entries(struct disk *d, const struct raft_entry *e, uint32_t count)
{
    disk_truncate_from(d, e[0].index);
    for (uint32_t i = 0; i < count; i++)
        disk_append(d, &e[i]);
}

/* ---- the store the core reads through ------------------------------------------------------- */

static bool store_check(struct node *n, uint64_t index, const char *what)
{
    if (n->in_ready)
        sim_fail(n->w, "node %llu read the store (%s %llu) between raft_ready and raft_advance",
                 LLU(n->id), what, LLU(index));
    if (index == 0 || index > n->disk.last_index) {
        sim_fail(n->w, "node %llu read the store (%s %llu) outside the persisted log (1..%llu)",
                 LLU(n->id), what, LLU(index), LLU(n->disk.last_index));
        return false;
    }
    return true;
}

static int store_entry(void *ctx, uint64_t index, struct raft_entry *out)
{
    struct node *n = ctx;
    if (!store_check(n, index, "entry"))
        return -RAFT_ECOMPACTED;
    const struct sim_entry *s = &n->disk.log[index - 1];
    out->term = s->term;
    out->index = s->index;
    out->type = s->type;
    out->len = s->len;
    if (s->len)
        memcpy(out->payload, s->payload, s->len);
    return 0;
}

static int store_term(void *ctx, uint64_t index, uint64_t *term_out)
{
    struct node *n = ctx;
    if (!store_check(n, index, "term"))
        return -RAFT_ECOMPACTED;
    *term_out = n->disk.log[index - 1].term;
    return 0;
}

static int store_type(void *ctx, uint64_t index, uint16_t *type_out)
{
    struct node *n = ctx;
    if (!store_check(n, index, "type"))
        return -RAFT_ECOMPACTED;
    *type_out = n->disk.log[index - 1].type;
    return 0;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

void node_init(struct world *w, struct node *n, uint64_t id)
{
    memset(n, 0, sizeof *n);
    n->id = id;
    n->w = w;
    n->store.ctx = n;
    n->store.entry = store_entry;
    n->store.term = store_term;
    n->store.type = store_type;
}

void node_free(struct node *n)
{
    if (n->r)
        raft_destroy(n->r);
    n->r = NULL;
    disk_truncate_from(&n->disk, 1);
    free(n->disk.log);
    n->disk.log = NULL;
}

bool node_is_leader(const struct node *n)
{
    return n->r && n->st.role == RAFT_LEADER;
}

void node_start(struct world *w, struct node *n)
{
    struct raft_config cfg = w->p.cfg;
    cfg.id = n->id;
    cfg.seed = rng_next(&w->rng);
    struct raft_boot boot;
    memset(&boot, 0, sizeof boot);
    boot.hard_state = n->disk.hs;
    boot.last_index = n->disk.last_index;
    boot.members.count = w->p.nodes_count;
    for (uint32_t i = 0; i < w->p.nodes_count; i++)
        boot.members.members[i] = (struct raft_member){.id = i + 1, .role = RAFT_VOTER};

    n->incarnation++;
    n->applied = 0;
    n->commit_seen = 0;
    n->in_ready = false;
    memset(&n->st, 0, sizeof n->st);
    n->phase = (uint32_t)rng_below(&w->rng, SIM_MICROSTEPS);
    n->r = raft_create(&cfg, &boot, &n->store);
    if (!n->r) {
        sim_fail(w, "raft_create returned NULL for node %llu", LLU(n->id));
        return;
    }
    SIM_TRACE(w, "n%llu START #%u: disk term %llu vote %llu last %llu", LLU(n->id),
              n->incarnation, LLU(boot.hard_state.term), LLU(boot.hard_state.voted_for),
              LLU(boot.last_index));
    node_observe(w, n);
}

void node_crash(struct world *w, struct node *n, const char *why)
{
    raft_destroy(n->r);
    n->r = NULL;
    n->in_ready = false;
    n->crashes_count++;
    n->restart_tick = world_tick(w) + rng_range(&w->rng, 1, w->p.restart_ticks_max);
    n->applied = 0;
    n->commit_seen = 0;
    memset(&n->st, 0, sizeof n->st);
    client_on_crash(w, n);
    SIM_TRACE(w, "n%llu CRASH%s%s; disk term %llu vote %llu last %llu; back at tick %llu",
              LLU(n->id), why[0] ? " " : "", why, LLU(n->disk.hs.term), LLU(n->disk.hs.voted_for),
              LLU(n->disk.last_index), LLU(n->restart_tick));
}

/* ---- observation: after every raft_* call on a node ----------------------------------------- */

static const char *role_name(int role)
{
    switch (role) {
    case RAFT_FOLLOWER:     return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE:    return "candidate";
    case RAFT_LEADER:       return "leader";
    default:                return "?";
    }
}

/* raft_status sanity, term monotonicity, role changes, commit advances. */
void node_observe(struct world *w, struct node *n)
{
    if (!n->r || w->failed)
        return;
    struct raft_status st;
    raft_status(n->r, &st);
    const struct raft_status *old = &n->st;
    bool first = old->id == 0;
    unsigned long long id = LLU(n->id);

    if (st.id != n->id)
        FAIL_RET(w, "node %llu: raft_status says id %llu", id, LLU(st.id));
    if (st.role < RAFT_FOLLOWER || st.role > RAFT_LEADER)
        FAIL_RET(w, "node %llu: bad role %u", id, st.role);
    if (!first && st.term < old->term)
        FAIL_RET(w, "node %llu: term went back from %llu to %llu", id, LLU(old->term),
                        LLU(st.term));
    if (st.term < n->disk.hs.term)
        FAIL_RET(w, "node %llu: term %llu is below its durable term %llu", id,
                        LLU(st.term), LLU(n->disk.hs.term));
    if (st.commit_index > st.last_index)
        FAIL_RET(w, "node %llu: commit index %llu past last index %llu", id,
                        LLU(st.commit_index), LLU(st.last_index));
    if (st.applied_index > st.commit_index)
        FAIL_RET(w, "node %llu: applied index %llu past commit index %llu", id,
                        LLU(st.applied_index), LLU(st.commit_index));
    if (st.applied_index != n->applied)
        FAIL_RET(w, "node %llu: status applied index %llu but the shell applied %llu",
                        id, LLU(st.applied_index), LLU(n->applied));
    if (!first && st.commit_index < old->commit_index)
        FAIL_RET(w, "node %llu: commit index went back from %llu to %llu", id,
                        LLU(old->commit_index), LLU(st.commit_index));
    if (st.first_index != 1 || st.snapshot_index != 0)
        FAIL_RET(w, "node %llu: first index %llu, snapshot index %llu with no snapshot",
                        id, LLU(st.first_index), LLU(st.snapshot_index));
    if (st.stable_index > st.last_index || st.stable_index > n->disk.last_index)
        FAIL_RET(w, "node %llu: stable index %llu, but last index %llu and %llu on disk",
                        id, LLU(st.stable_index), LLU(st.last_index), LLU(n->disk.last_index));
    if (!st.voter)
        FAIL_RET(w, "node %llu: not a voter in a fixed all-voter configuration", id);
    if (st.voted_for > w->p.nodes_count || st.leader_id > w->p.nodes_count)
        FAIL_RET(w, "node %llu: voted_for %llu, leader_id %llu: no such node", id,
                        LLU(st.voted_for), LLU(st.leader_id));
    if (st.role == RAFT_LEADER && st.leader_id != n->id)
        FAIL_RET(w, "node %llu: leader, but leader_id is %llu", id, LLU(st.leader_id));
    if (st.role == RAFT_CANDIDATE && st.voted_for != n->id)
        FAIL_RET(w, "node %llu: candidate in term %llu that voted for %llu", id,
                        LLU(st.term), LLU(st.voted_for));

    uint64_t t = 0, dt = 0;
    int rc = raft_log_term(n->r, st.last_index, &t);
    if (rc != 0 || t != st.last_term)
        FAIL_RET(w, "node %llu: last index %llu has term %llu (rc %d), status says %llu",
                        id, LLU(st.last_index), LLU(t), rc, LLU(st.last_term));
    if (st.stable_index > 0) {
        rc = raft_log_term(n->r, st.stable_index, &t);
        disk_term(&n->disk, st.stable_index, &dt);
        if (rc != 0 || t != dt)
            FAIL_RET(w, "node %llu: stable index %llu has term %llu in the core but "
                            "%llu on disk", id, LLU(st.stable_index), LLU(t), LLU(dt));
    }

    if (first || st.role != old->role || st.term != old->term)
        SIM_TRACE(w, "n%llu %s term %llu (vote %llu, leader %llu, last %llu/%llu, commit %llu)",
                  id, role_name(st.role), LLU(st.term), LLU(st.voted_for), LLU(st.leader_id),
                  LLU(st.last_index), LLU(st.last_term), LLU(st.commit_index));
    bool new_leader = st.role == RAFT_LEADER &&
                      (first || old->role != RAFT_LEADER || old->term != st.term);
    n->st = st;
    if (st.role == RAFT_LEADER)
        check_leader(w, st.term, n->id, "its status");
    if (new_leader && !w->failed)
        check_leader_complete(w, n);

    if (st.commit_index > n->commit_seen && !w->failed) {
        if (w->verbose)
            sim_trace(w, "n%llu commit %llu", id, LLU(st.commit_index));
        uint64_t term = 0;
        for (uint64_t i = n->commit_seen + 1; i <= st.commit_index && !w->failed; i++) {
            rc = raft_log_term(n->r, i, &term);
            if (rc != 0)
                FAIL_RET(w, "node %llu: raft_log_term(%llu) = %d below commit %llu", id,
                                LLU(i), rc, LLU(st.commit_index));
            check_committed(w, n, i, term, NULL);
        }
        if (!w->failed)
            check_commit_quorum(w, n, st.commit_index, term);
        n->commit_seen = st.commit_index;
    }
}

/* ---- inputs --------------------------------------------------------------------------------- */

void node_tick(struct world *w, struct node *n)
{
    raft_tick(n->r);
    node_observe(w, n);
}

void node_step(struct world *w, struct node *n, const struct raft_msg *m)
{
    int rc = raft_step(n->r, m);
    if (rc != 0) {
        char buf[160];
        sim_fail(w, "node %llu: raft_step returned %d (%s) for %s", LLU(n->id), rc,
                 raft_strerror(rc), msg_describe(m, buf, sizeof buf));
        return;
    }
    node_observe(w, n);
}

/* ---- the ready loop ------------------------------------------------------------------------- */

/* Writes of the batch in progress that have not been fsynced yet. */
struct unsynced {
    bool hs_written;
    struct raft_hard_state hs;
    bool entries_written;
    const struct raft_entry *entries; /* into the ready batch: valid until raft_advance */
    uint32_t n_entries;
};

/* Check one outgoing message against the sender's durable state and send it. "now": from
 * msgs_now, which must depend on nothing of this batch being durable. */
static void node_send(struct world *w, struct node *n, const struct raft_msg *m, bool now)
{
    char buf[160];
    unsigned long long id = LLU(n->id);
    const char *list = now ? "msgs_now" : "msgs";
    if (m->from != n->id || m->to == 0 || m->to > w->p.nodes_count || m->to == n->id)
        FAIL_RET(w, "node %llu sends a message from %llu to %llu (%s)", id,
                        LLU(m->from), LLU(m->to), list);
    if (m->type < RAFT_MSG_VOTE || m->type >= RAFT_MSG_TYPE_END_)
        FAIL_RET(w, "node %llu sends a message of type %u", id, m->type);
    switch (m->type) {
    case RAFT_MSG_APPEND: {
        const struct raft_msg_append *a = &m->append;
        if (a->n_entries > w->p.cfg.max_batch || (a->n_entries && !a->entries))
            FAIL_RET(w, "node %llu: append with %u entries (max_batch %u)", id,
                            a->n_entries, w->p.cfg.max_batch);
        uint64_t prev_term = a->prev_log_term;
        for (uint32_t i = 0; i < a->n_entries; i++) {
            const struct raft_entry *e = &a->entries[i];
            if (e->index != a->prev_log_index + 1 + i || e->term < prev_term ||
                e->term > m->term || e->len > RAFT_PAYLOAD_MAX)
                FAIL_RET(w, "node %llu: malformed %s: entry %u is %llu/%llu len %u", id,
                                msg_describe(m, buf, sizeof buf), i, LLU(e->index),
                                LLU(e->term), e->len);
            prev_term = e->term;
        }
        check_leader(w, m->term, n->id, "it sent an append");
        break;
    }
    case RAFT_MSG_HEARTBEAT:
        check_leader(w, m->term, n->id, "it sent a heartbeat");
        break;
    case RAFT_MSG_VOTE_RESP:
        if (m->vote_resp.granted) {
            /* the vote must be durable before it is sent (paper Figure 2); a durable
             * later term also does: this node can never vote in m->term again */
            if (n->disk.hs.term < m->term ||
                (n->disk.hs.term == m->term && n->disk.hs.voted_for != m->to))
                FAIL_RET(w, "node %llu grants its term-%llu vote to %llu in %s, but "
                                "its disk has term %llu vote %llu", id, LLU(m->term),
                                LLU(m->to), list, LLU(n->disk.hs.term),
                                LLU(n->disk.hs.voted_for));
            check_vote(w, n->id, m->term, m->to);
        }
        break;
    case RAFT_MSG_APPEND_RESP:
        /* An acknowledgement promises the entries are durable. Exception: an ack of an
         * older term, when this same batch moved to a later term and a new leader cut the
         * acked entries. It cannot complete a commit quorum: that leader's election
         * quorum holds a node that durably acked the entries first, so it would have
         * them. (etcd-io/raft sends the same stale acks.) */
        if (m->append_resp.success && m->append_resp.last_index > n->disk.last_index &&
            n->disk.hs.term == m->term)
            FAIL_RET(w, "node %llu acks index %llu in %s, but only %llu are on its disk",
                            id, LLU(m->append_resp.last_index), list,
                            LLU(n->disk.last_index));
        break;
    default:
        break;
    }
    if (!w->failed)
        net_send(w, m);
}

/* What of the batch's unsynced writes reaches the disk when the node dies before fsync:
 * mostly nothing, sometimes everything, sometimes a prefix of the entries (with the
 * truncation of the old suffix); the hard state independently. */
static void node_crash_in_batch(struct world *w, struct node *n, const struct unsynced *u,
                                int step)
{
    struct disk *d = &n->disk;
    bool hs_kept = false;
    uint32_t kept = 0;
    bool truncated = false;
    if (u->hs_written && rng_below(&w->rng, 100) < 40) {
        d->hs = u->hs;
        hs_kept = true;
    }
    if (u->entries_written) {
        uint64_t r = rng_below(&w->rng, 100);
        if (r < 55) {
            kept = 0;
        } else if (r < 75) {
            kept = u->n_entries;
            truncated = true;
        } else {
            kept = (uint32_t)rng_below(&w->rng, (uint64_t)u->n_entries + 1);
            truncated = kept > 0 || rng_below(&w->rng, 2);
        }
        if (truncated) {
            disk_truncate_from(d, u->entries[0].index);
            for (uint32_t i = 0; i < kept; i++)
                disk_append(d, &u->entries[i]);
        }
    }
    char why[160];
    if (u->hs_written || u->entries_written)
        snprintf(why, sizeof why, "in batch step %d: unsynced hard state %s, %u of %u "
                 "unsynced entries kept%s", step, !u->hs_written ? "none" : hs_kept ? "kept" :
                 "lost", kept, u->entries_written ? u->n_entries : 0,
                 truncated ? " (old suffix cut)" : "");
    else
        snprintf(why, sizeof why, "in batch step %d", step);
    node_crash(w, n, why);
}

/* Checks a batch's entries before they are written: contiguous with the disk, terms in
 * order and not above the node's term, log matching for each. */
static void node_check_entries(struct world *w, struct node *n, const struct raft_ready *rd,
                               uint64_t term)
{
    unsigned long long id = LLU(n->id);
    const struct disk *d = &n->disk;
    const struct raft_entry *e = rd->entries;
    if (!e)
        FAIL_RET(w, "node %llu: ready has %u entries and a NULL pointer", id,
                        rd->n_entries);
    uint64_t first = e[0].index;
    if (first == 0 || first > d->last_index + 1)
        FAIL_RET(w, "node %llu: ready entries start at %llu, the disk ends at %llu", id,
                        LLU(first), LLU(d->last_index));
    if (first <= d->last_index) {
        const struct sim_entry *s = &d->log[first - 1];
        if (s->term == e[0].term &&
            s->hash == entry_hash(e[0].type, e[0].len, e[0].payload))
            FAIL_RET(w, "node %llu: ready entries start at %llu/%llu, already durable: "
                            "persisting them discards fsynced entries after it", id, LLU(first),
                            LLU(e[0].term));
    }
    uint64_t prev_term = 0;
    disk_term(d, first - 1, &prev_term);
    for (uint32_t i = 0; i < rd->n_entries && !w->failed; i++) {
        if (e[i].index != first + i || e[i].term < prev_term || e[i].term > term ||
            e[i].len > RAFT_PAYLOAD_MAX || e[i].type == 0)
            FAIL_RET(w, "node %llu: ready entry %u is %llu/%llu type %u len %u after "
                            "term %llu (node term %llu)", id, i, LLU(e[i].index),
                            LLU(e[i].term), e[i].type, e[i].len, LLU(prev_term), LLU(term));
        check_persist(w, n, &e[i], prev_term);
        prev_term = e[i].term;
    }
}

static void node_apply(struct world *w, struct node *n, const struct raft_entry *e)
{
    unsigned long long id = LLU(n->id);
    if (e->index != n->applied + 1)
        FAIL_RET(w, "state machine safety: node %llu applies index %llu after %llu", id,
                        LLU(e->index), LLU(n->applied));
    uint64_t hash = entry_hash(e->type, e->len, e->payload);
    const struct disk *d = &n->disk;
    if (e->index > d->last_index || d->log[e->index - 1].term != e->term ||
        d->log[e->index - 1].hash != hash)
        FAIL_RET(w, "node %llu applies %llu/%llu, which its own disk does not hold", id,
                        LLU(e->index), LLU(e->term));
    check_committed(w, n, e->index, e->term, &hash);
    n->applied = e->index;
    SIM_TRACE(w, "n%llu apply %llu/%llu type %u len %u", id, LLU(e->index), LLU(e->term),
              e->type, e->len);
}

/* Processes ready batches until raft_ready says there is no more work, in the order of
 * obligation of struct raft_ready; in the chaos phase a crash may strike between steps. */
void node_drain(struct world *w, struct node *n)
{
    unsigned long long id = LLU(n->id);
    for (uint32_t batches = 0; n->r && !w->failed; batches++) {
        if (batches == SIM_DRAIN_MAX)
            FAIL_RET(w, "node %llu: raft_ready still has work after %u batches", id,
                            batches);
        struct raft_ready rd;
        if (!raft_ready(n->r, &rd))
            return;
        n->in_ready = true;
        /* Where a crash strikes, if one does: at any step, but most often while a batch
         * that writes something is not yet durable, the interesting window. */
        int crash_at = -1;
        bool writes = rd.hard_state_changed || rd.n_entries > 0;
        if (!w->liveness && rng_ppm(&w->rng, w->p.crash_ready_ppm * (writes ? 2 : 1)))
            crash_at = writes && rng_below(&w->rng, 2) ? 2 + (int)rng_below(&w->rng, 2)
                                                       : (int)rng_below(&w->rng, 8);
        struct unsynced u = {0};

        if (crash_at == 0) {
            node_crash_in_batch(w, n, &u, 0);
            return;
        }
        /* 1. messages that depend on nothing of this batch */
        for (uint32_t i = 0; i < rd.n_msgs_now && !w->failed; i++)
            node_send(w, n, &rd.msgs_now[i], true);
        if (crash_at == 1) {
            node_crash_in_batch(w, n, &u, 1);
            return;
        }
        /* 2. write the hard state and the entries (not durable yet) */
        uint64_t term = n->disk.hs.term;
        if (rd.hard_state_changed) {
            const struct raft_hard_state *hs = &rd.hard_state;
            if (hs->term < n->disk.hs.term)
                FAIL_RET(w, "node %llu: hard state term goes back from %llu to %llu",
                                id, LLU(n->disk.hs.term), LLU(hs->term));
            if (hs->term == n->disk.hs.term && n->disk.hs.voted_for != 0 &&
                hs->voted_for != n->disk.hs.voted_for)
                FAIL_RET(w, "node %llu: vote in term %llu changes from %llu to %llu", id,
                                LLU(hs->term), LLU(n->disk.hs.voted_for), LLU(hs->voted_for));
            if (hs->voted_for > w->p.nodes_count)
                FAIL_RET(w, "node %llu: votes for unknown node %llu", id,
                                LLU(hs->voted_for));
            u.hs_written = true;
            u.hs = *hs;
            term = hs->term;
            SIM_TRACE(w, "n%llu write hard state term %llu vote %llu", id, LLU(hs->term),
                      LLU(hs->voted_for));
        }
        if (crash_at == 2) {
            node_crash_in_batch(w, n, &u, 2);
            return;
        }
        if (rd.n_entries) {
            node_check_entries(w, n, &rd, term);
            if (w->failed)
                return;
            u.entries_written = true;
            u.entries = rd.entries;
            u.n_entries = rd.n_entries;
            SIM_TRACE(w, "n%llu write entries %llu..%llu (terms %llu..%llu)%s", id,
                      LLU(rd.entries[0].index), LLU(rd.entries[rd.n_entries - 1].index),
                      LLU(rd.entries[0].term), LLU(rd.entries[rd.n_entries - 1].term),
                      rd.entries[0].index <= n->disk.last_index ? ", cutting a suffix" : "");
        }
        if (crash_at == 3) {
            node_crash_in_batch(w, n, &u, 3);
            return;
        }
        /* "fsync": the writes are durable */
        if (u.hs_written)
            n->disk.hs = u.hs;
        if (u.entries_written)
            disk_write_entries(&n->disk, u.entries, u.n_entries);
        u = (struct unsynced){0};
        if (crash_at == 4) {
            node_crash_in_batch(w, n, &u, 4);
            return;
        }
        /* 3. messages that promise durability */
        for (uint32_t i = 0; i < rd.n_msgs && !w->failed; i++)
            node_send(w, n, &rd.msgs[i], false);
        if (crash_at == 5) {
            node_crash_in_batch(w, n, &u, 5);
            return;
        }
        /* 4. apply */
        for (uint32_t i = 0; i < rd.n_committed && !w->failed; i++)
            node_apply(w, n, &rd.committed[i]);
        if (rd.n_committed && !w->failed)
            client_on_applied(w, n);
        if (crash_at == 6) {
            node_crash_in_batch(w, n, &u, 6);
            return;
        }
        /* 5. reads */
        uint64_t read_index_max = 0;
        for (uint32_t i = 0; i < rd.n_reads && !w->failed; i++) {
            client_on_read(w, n, &rd.reads[i]);
            if (rd.reads[i].status == 0 && rd.reads[i].index > read_index_max)
                read_index_max = rd.reads[i].index;
        }
        if (crash_at == 7) {
            node_crash_in_batch(w, n, &u, 7);
            return;
        }
        if (w->failed)
            return;
        /* 6. done: everything is durable again, so the core may read the store in here */
        n->in_ready = false;
        raft_advance(n->r, &rd);
        node_observe(w, n);
        if (read_index_max > n->st.commit_index && !w->failed)
            FAIL_RET(w, "node %llu answered a read at index %llu above its commit "
                            "index %llu", id, LLU(read_index_max), LLU(n->st.commit_index));
    }
}
