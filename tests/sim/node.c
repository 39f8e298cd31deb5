/* A simulated server: a core (or none while crashed) over an in-memory disk, driven through
 * the ready loop exactly as raft.h prescribes, and the crash model: a crash may strike
 * between any two steps of a batch; writes not yet fsynced are lost, or partly written
 * back (a prefix of the batch's entries; the hard state independently); nothing fsynced is
 * ever lost. A restart is a fresh raft_create from the disk: its latest snapshot and the
 * log after it; the state machine is volatile and restarts from that snapshot.
 *
 * Snapshots: every snap_every applied entries a node saves its state machine (durably, at
 * once: a file written, fsynced and renamed), tells the core (raft_snapshot_taken) and
 * compacts its log up to the snapshot's index minus a random margin. A snapshot received
 * from a leader is installed when a ready batch says so: the snapshot file first, then the
 * log reset, each durable; a crash may come between the two, and the start-up rule then
 * drops an old log that does not continue the snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define LLU(x) ((unsigned long long)(x))
/* Fail the seed and leave the (void) function. */
#define FAIL_RET(w, ...) do { sim_fail((w), __VA_ARGS__); return; } while (0)

/* ---- membership helpers ------------------------------------------------------------------- */

uint8_t members_role(const struct raft_members *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (m->members[i].id == id)
            return m->members[i].role;
    return 0;
}

uint32_t members_voter_count(const struct raft_members *m)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++)
        n += m->members[i].role == RAFT_VOTER;
    return n;
}

/* The same servers with the same roles, in any order. */
bool members_equal(const struct raft_members *a, const struct raft_members *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++)
        if (members_role(b, a->members[i].id) != a->members[i].role)
            return false;
    return true;
}

/* "{1,2,3,5L}" (L: learner), then " old {...}" during a joint phase. */
void members_describe(const struct raft_members *m, const struct raft_members *old, char *buf,
                      size_t size)
{
    const struct raft_members *sets[2] = {m, old};
    size_t k = 0;
    buf[0] = '\0';
    for (int s = 0; s < 2 && k < size; s++) {
        if (s == 1 && (!old || old->count == 0))
            break;
        k += (size_t)snprintf(buf + k, size - k, "%s{", s ? " old " : "");
        for (uint32_t i = 0; i < sets[s]->count && k < size; i++)
            k += (size_t)snprintf(buf + k, size - k, "%s%llu%s", i ? "," : "",
                                  LLU(sets[s]->members[i].id),
                                  sets[s]->members[i].role == RAFT_VOTER ? "" : "L");
        if (k < size)
            k += (size_t)snprintf(buf + k, size - k, "}");
    }
}

void members_ctx_fill(const struct raft_members *m, uint32_t len, uint8_t *out)
{
    uint64_t seed = 0xA0761D6478BD642Full ^ len;
    for (uint32_t i = 0; i < m->count; i++)
        seed = (seed ^ (m->members[i].id << 8 | m->members[i].role)) * 0xE7037ED1A0B428DBull;
    struct rng g = {.state = seed};
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = rng_next(&g);
        for (uint32_t j = 0; j < 8 && i + j < len; j++)
            out[i + j] = (uint8_t)(v >> (8 * j));
    }
}

/* ---- the disk: what survives a crash -------------------------------------------------------- */

const struct sim_entry *disk_entry(const struct disk *d, uint64_t index)
{
    if (index == 0 || index < d->first_index || index > d->last_index)
        return NULL;
    return &d->log[index - d->first_index];
}

int disk_term(const struct disk *d, uint64_t index, uint64_t *term_out)
{
    if (index == 0) {
        *term_out = 0;
        return 0;
    }
    const struct sim_entry *e = disk_entry(d, index);
    if (e) {
        *term_out = e->term;
        return 0;
    }
    if (d->snap.set && index == d->snap.index) {
        *term_out = d->snap.term;
        return 0;
    }
    return index > d->last_index ? -RAFT_EINVAL : -RAFT_ECOMPACTED;
}

bool disk_holds(const struct disk *d, uint64_t index, uint64_t term)
{
    if (d->snap.set && index <= d->snap.index)
        return true; /* a snapshot holds only committed entries (check_fsm) */
    const struct sim_entry *e = disk_entry(d, index);
    return e && e->term == term;
}

static void disk_truncate_from(struct disk *d, uint64_t from)
{
    while (d->last_index >= d->first_index && d->last_index >= from) {
        free(d->log[d->last_index - d->first_index].payload);
        d->last_index--;
    }
}

static void disk_append(struct disk *d, const struct raft_entry *e)
{
    uint64_t pos = d->last_index + 1 - d->first_index;
    sim_grow((void **)&d->log, &d->cap, pos + 1, sizeof *d->log);
    struct sim_entry *s = &d->log[pos];
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

/* The fsync of step 2 of a batch, or a crash that wrote back a prefix of its entries:
 * discard the persisted suffix from the first entry, append the rest (now durable: they
 * count for log matching). */
static void node_write_entries(struct world *w, struct node *n, const struct raft_entry *e,
                               uint32_t count)
{
    struct disk *d = &n->disk;
    disk_truncate_from(d, e[0].index);
    uint64_t prev_term = 0;
    disk_term(d, e[0].index - 1, &prev_term);
    for (uint32_t i = 0; i < count; i++) {
        check_persist(w, n, &e[i], prev_term, true);
        disk_append(d, &e[i]);
        prev_term = e[i].term;
    }
}

/* The log is emptied: it now starts after index (a snapshot's). */
static void disk_reset(struct disk *d, uint64_t index)
{
    disk_truncate_from(d, d->first_index);
    d->first_index = index + 1;
    d->last_index = index;
}

/* Compaction: entries up to index (<= last_index) are discarded. */
static void disk_compact_to(struct disk *d, uint64_t index)
{
    if (index < d->first_index)
        return;
    uint64_t k = index - d->first_index + 1;
    for (uint64_t i = 0; i < k; i++)
        free(d->log[i].payload);
    memmove(d->log, d->log + k, (d->last_index - index) * sizeof *d->log);
    d->first_index = index + 1;
}

/* ---- the store the core reads through ------------------------------------------------------- */

/* The core reads only durable entries after its snapshot (raft.h), never during a batch.
 * Below the log's first entry the answer is -RAFT_ECOMPACTED, as it is, while a received
 * snapshot waits to be installed, up to that snapshot's index: the shell has given the old
 * log up. Past the end of the disk's log is a bug. */
static const struct sim_entry *store_lookup(struct node *n, uint64_t index, const char *what)
{
    if (n->in_ready)
        sim_fail(n->w, "node %llu read the store (%s %llu) between raft_ready and raft_advance",
                 LLU(n->id), what, LLU(index));
    if (n->install_index && index <= n->install_index)
        return NULL;
    if (index == 0 || index > n->disk.last_index) {
        sim_fail(n->w, "node %llu read the store (%s %llu) outside the persisted log (%llu..%llu)",
                 LLU(n->id), what, LLU(index), LLU(n->disk.first_index),
                 LLU(n->disk.last_index));
        return NULL;
    }
    return disk_entry(&n->disk, index);
}

static int store_entry(void *ctx, uint64_t index, struct raft_entry *out)
{
    struct node *n = ctx;
    const struct sim_entry *s = store_lookup(n, index, "entry");
    if (!s)
        return -RAFT_ECOMPACTED;
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
    const struct sim_entry *s = store_lookup(n, index, "term");
    if (!s)
        return -RAFT_ECOMPACTED;
    *term_out = s->term;
    return 0;
}

static int store_type(void *ctx, uint64_t index, uint16_t *type_out)
{
    struct node *n = ctx;
    const struct sim_entry *s = store_lookup(n, index, "type");
    if (!s)
        return -RAFT_ECOMPACTED;
    *type_out = s->type;
    return 0;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

void node_init(struct world *w, struct node *n, uint64_t id)
{
    memset(n, 0, sizeof *n);
    n->id = id;
    n->w = w;
    n->disk.first_index = 1;
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
    disk_truncate_from(&n->disk, n->disk.first_index);
    free(n->disk.log);
    n->disk.log = NULL;
}

bool node_is_leader(const struct node *n)
{
    return n->r && n->st.role == RAFT_LEADER;
}

/* The shell's start-up rule: the log must continue the snapshot. It does when it starts
 * right after it, or holds its last entry with its term; otherwise (a crash between
 * installing a leader's snapshot and resetting the log) the old log is another history
 * past the snapshot and is dropped. */
static void node_recover(struct world *w, struct node *n)
{
    struct disk *d = &n->disk;
    if (!d->snap.set)
        return;
    uint64_t s = d->snap.index;
    if (d->first_index > s + 1)
        FAIL_RET(w, "node %llu: the log starts at %llu, after the snapshot at %llu", LLU(n->id),
                 LLU(d->first_index), LLU(s));
    if (d->first_index == s + 1)
        return;
    const struct sim_entry *e = disk_entry(d, s);
    if (e && e->term == d->snap.term)
        return;
    SIM_TRACE(w, "n%llu recovery: the log %llu..%llu does not continue snapshot %llu/%llu: "
              "dropped", LLU(n->id), LLU(d->first_index), LLU(d->last_index), LLU(s),
              LLU(d->snap.term));
    disk_reset(d, s);
}

/* The configuration a start from this disk must give: the last MEMBERS entry after the
 * snapshot, else the boot one. */
static void node_expected_members(struct world *w, struct node *n, const struct raft_boot *b,
                                  struct raft_members *cur, struct raft_members *old)
{
    const struct disk *d = &n->disk;
    *cur = b->members;
    *old = b->members_old;
    for (uint64_t i = d->last_index; i > b->snapshot_index && i >= d->first_index; i--) {
        const struct sim_entry *e = disk_entry(d, i);
        if (e->type != RAFT_ENTRY_MEMBERS)
            continue;
        if (raft_members_decode(e->payload, e->len, cur, old, NULL, NULL) != 0)
            sim_fail(w, "node %llu: MEMBERS entry %llu on its disk does not decode", LLU(n->id),
                     LLU(i));
        return;
    }
}

void node_start(struct world *w, struct node *n)
{
    struct raft_config cfg = w->p.cfg;
    cfg.id = n->id;
    cfg.seed = rng_next(&w->rng);
    node_recover(w, n);
    if (w->failed)
        return;
    const struct disk *d = &n->disk;
    struct raft_boot boot;
    memset(&boot, 0, sizeof boot);
    boot.hard_state = d->hs;
    boot.last_index = d->last_index;
    n->fsm = (struct fsm){.hash = fsm_initial_hash(), .members = w->initial};
    n->applied = n->applied_term = 0;
    if (d->snap.set) {
        boot.snapshot_index = d->snap.index;
        boot.snapshot_term = d->snap.term;
        boot.members = d->snap.fsm.members;
        boot.members_old = d->snap.fsm.members_old;
        n->fsm = d->snap.fsm;
        n->applied = d->snap.index;
        n->applied_term = d->snap.term;
    } else if (n->id <= w->p.nodes_count) {
        boot.members = w->initial;
    } /* else a spare: an empty configuration, it waits to be added */

    n->incarnation++;
    n->commit_seen = n->applied;
    n->in_ready = false;
    n->install_index = 0;
    n->incoming.set = false;
    memset(&n->st, 0, sizeof n->st);
    n->phase = (uint32_t)rng_below(&w->rng, SIM_MICROSTEPS);
    n->r = raft_create(&cfg, &boot, &n->store);
    if (!n->r) {
        sim_fail(w, "raft_create returned NULL for node %llu", LLU(n->id));
        return;
    }
    SIM_TRACE(w, "n%llu START #%u: disk term %llu vote %llu snapshot %llu/%llu log %llu..%llu",
              LLU(n->id), n->incarnation, LLU(boot.hard_state.term),
              LLU(boot.hard_state.voted_for), LLU(boot.snapshot_index),
              LLU(boot.snapshot_term), LLU(d->first_index), LLU(boot.last_index));
    struct raft_members want, want_old, got, got_old;
    node_expected_members(w, n, &boot, &want, &want_old);
    raft_members(n->r, &got, &got_old);
    if (!w->failed && (!members_equal(&want, &got) || !members_equal(&want_old, &got_old))) {
        char a[200], b[200];
        members_describe(&got, &got_old, a, sizeof a);
        members_describe(&want, &want_old, b, sizeof b);
        FAIL_RET(w, "node %llu starts with configuration %s, but its disk says %s", LLU(n->id),
                 a, b);
    }
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
    n->install_index = 0;
    n->incoming.set = false;
    memset(&n->st, 0, sizeof n->st);
    client_on_crash(w, n);
    SIM_TRACE(w, "n%llu CRASH%s%s; disk term %llu vote %llu snapshot %llu log %llu..%llu; back "
              "at tick %llu", LLU(n->id), why[0] ? " " : "", why, LLU(n->disk.hs.term),
              LLU(n->disk.hs.voted_for), LLU(n->disk.snap.index), LLU(n->disk.first_index),
              LLU(n->disk.last_index), LLU(n->restart_tick));
}

/* ---- observation: after every raft_* call on a node ----------------------------------------- */

/* Is n a voter in some configuration it holds: the initial one (ids 1..nodes_count), its
 * snapshot's, or one in its log? A server that is not in its latest configuration may
 * still be needed to elect a leader while that one is not committed (thesis §4.2.2); a
 * spare that was never added must never campaign. */
static bool node_ever_voter(const struct world *w, const struct node *n)
{
    const struct disk *d = &n->disk;
    if (n->id <= w->p.nodes_count)
        return true;
    if (d->snap.set && (members_role(&d->snap.fsm.members, n->id) == RAFT_VOTER ||
                        members_role(&d->snap.fsm.members_old, n->id) == RAFT_VOTER))
        return true;
    for (uint64_t i = d->first_index; i <= d->last_index; i++) {
        const struct sim_entry *e = disk_entry(d, i);
        struct raft_members cur, old;
        if (e->type == RAFT_ENTRY_MEMBERS &&
            raft_members_decode(e->payload, e->len, &cur, &old, NULL, NULL) == 0 &&
            (members_role(&cur, n->id) == RAFT_VOTER || members_role(&old, n->id) == RAFT_VOTER))
            return true;
    }
    return false;
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
    uint64_t pool = w->p.pool_count;

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
    /* a received snapshot counts as applied in the core from the moment it is taken */
    uint64_t applied = n->install_index ? n->install_index : n->applied;
    if (st.applied_index != applied)
        FAIL_RET(w, "node %llu: status applied index %llu but the shell applied %llu%s",
                        id, LLU(st.applied_index), LLU(n->applied),
                        n->install_index ? " (a snapshot waits to be installed)" : "");
    if (!first && st.commit_index < old->commit_index)
        FAIL_RET(w, "node %llu: commit index went back from %llu to %llu", id,
                        LLU(old->commit_index), LLU(st.commit_index));
    uint64_t snap = n->install_index ? n->install_index : n->disk.snap.index;
    if (st.snapshot_index != snap || st.first_index != snap + 1)
        FAIL_RET(w, "node %llu: first index %llu, snapshot index %llu, but the shell's "
                        "snapshot is at %llu", id, LLU(st.first_index), LLU(st.snapshot_index),
                        LLU(snap));
    if (st.snapshot_index > st.applied_index)
        FAIL_RET(w, "node %llu: snapshot index %llu past applied index %llu", id,
                        LLU(st.snapshot_index), LLU(st.applied_index));
    if (st.stable_index > st.last_index ||
        (!n->install_index && st.stable_index > n->disk.last_index))
        FAIL_RET(w, "node %llu: stable index %llu, but last index %llu and %llu on disk",
                        id, LLU(st.stable_index), LLU(st.last_index), LLU(n->disk.last_index));
    if (!w->p.membership && !st.voter)
        FAIL_RET(w, "node %llu: not a voter in a fixed all-voter configuration", id);
    if ((st.role == RAFT_PRECANDIDATE || st.role == RAFT_CANDIDATE) && !st.voter &&
        !node_ever_voter(w, n))
        FAIL_RET(w, "node %llu campaigns (%s, term %llu) but is a voter in no configuration "
                        "it holds", id, st.role == RAFT_CANDIDATE ? "candidate" : "pre-candidate",
                        LLU(st.term));
    if (st.voted_for > pool || st.leader_id > pool)
        FAIL_RET(w, "node %llu: voted_for %llu, leader_id %llu: no such node", id,
                        LLU(st.voted_for), LLU(st.leader_id));
    if (st.role == RAFT_LEADER && st.leader_id != n->id)
        FAIL_RET(w, "node %llu: leader, but leader_id is %llu", id, LLU(st.leader_id));
    if (st.role == RAFT_CANDIDATE && st.voted_for != n->id)
        FAIL_RET(w, "node %llu: candidate in term %llu that voted for %llu", id,
                        LLU(st.term), LLU(st.voted_for));
    if (st.transfer_to && (st.role != RAFT_LEADER || st.transfer_to == n->id ||
                           st.transfer_to > pool))
        FAIL_RET(w, "node %llu (%s): transferring leadership to %llu", id,
                        raft_role_name(st.role), LLU(st.transfer_to));

    uint64_t t = 0, dt = 0;
    int rc = raft_log_term(n->r, st.last_index, &t);
    if (rc != 0 || t != st.last_term)
        FAIL_RET(w, "node %llu: last index %llu has term %llu (rc %d), status says %llu",
                        id, LLU(st.last_index), LLU(t), rc, LLU(st.last_term));
    if (st.stable_index > 0 && !n->install_index) {
        rc = raft_log_term(n->r, st.stable_index, &t);
        int drc = disk_term(&n->disk, st.stable_index, &dt);
        if (rc != 0 || drc != 0 || t != dt)
            FAIL_RET(w, "node %llu: stable index %llu has term %llu in the core but "
                            "%llu on disk (rc %d, %d)", id, LLU(st.stable_index), LLU(t),
                            LLU(dt), rc, drc);
    }

    if (first || st.role != old->role || st.term != old->term)
        SIM_TRACE(w, "n%llu %s term %llu (vote %llu, leader %llu, last %llu/%llu, commit %llu)",
                  id, raft_role_name(st.role), LLU(st.term), LLU(st.voted_for),
                  LLU(st.leader_id), LLU(st.last_index), LLU(st.last_term),
                  LLU(st.commit_index));
    bool new_leader = st.role == RAFT_LEADER &&
                      (first || old->role != RAFT_LEADER || old->term != st.term);
    n->st = st;
    /* A leader whose vote is not durable yet has sent nothing as leader (its messages wait
     * for the batch's fsync); if it crashes now it may forget it ever led that term. */
    if (st.role == RAFT_LEADER && n->disk.hs.term == st.term && n->disk.hs.voted_for == n->id)
        check_leader(w, st.term, n->id, "its status");
    if (new_leader && !w->failed)
        check_leader_complete(w, n);

    if (st.commit_index > n->commit_seen && !w->failed) {
        if (w->verbose)
            sim_trace(w, "n%llu commit %llu", id, LLU(st.commit_index));
        /* what a received snapshot covers is checked when it is installed (check_fsm) */
        uint64_t from = n->commit_seen > st.snapshot_index ? n->commit_seen : st.snapshot_index;
        uint64_t term = 0;
        for (uint64_t i = from + 1; i <= st.commit_index && !w->failed; i++) {
            rc = raft_log_term(n->r, i, &term);
            if (rc != 0)
                FAIL_RET(w, "node %llu: raft_log_term(%llu) = %d below commit %llu", id,
                                LLU(i), rc, LLU(st.commit_index));
            check_committed(w, n, i, term, NULL, 0);
        }
        rc = raft_log_term(n->r, st.commit_index, &term);
        if (rc != 0)
            FAIL_RET(w, "node %llu: raft_log_term(%llu) = %d at its commit index", id,
                            LLU(st.commit_index), rc);
        if (w->failed || !w->p.quorum_check) {
            /* off: see whether the end-to-end invariants alone catch a bug */
        } else if (!w->p.membership) {
            struct raft_members none = {0};
            check_commit_quorum(w, n, st.commit_index, term, &w->initial, &none);
        } else if (st.role == RAFT_LEADER) {
            struct raft_members cur, prev;
            raft_members(n->r, &cur, &prev);
            check_commit_quorum(w, n, st.commit_index, term, &cur, &prev);
        }
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

/* The core either takes the snapshot (its log now starts after it: it will ask for the
 * installation in a ready batch) or has all of it already; the shell keeps the data of one
 * it took, as it would keep the received file. */
void node_step_snapshot(struct world *w, struct node *n, const struct raft_msg *m,
                        const struct sim_snap *snap)
{
    uint64_t before = n->st.snapshot_index;
    int rc = raft_step(n->r, m);
    if (rc != 0) {
        char buf[160];
        sim_fail(w, "node %llu: raft_step returned %d (%s) for %s", LLU(n->id), rc,
                 raft_strerror(rc), msg_describe(m, buf, sizeof buf));
        return;
    }
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.snapshot_index == snap->index && before < snap->index) {
        n->incoming = *snap;
        n->install_index = snap->index;
        SIM_TRACE(w, "n%llu takes snapshot %llu/%llu (applied %llu, commit was %llu)",
                  LLU(n->id), LLU(snap->index), LLU(snap->term), LLU(n->applied),
                  LLU(n->st.commit_index));
    } else if (st.snapshot_index != before) {
        FAIL_RET(w, "node %llu: stepping snapshot %llu moved its snapshot index from %llu "
                 "to %llu", LLU(n->id), LLU(snap->index), LLU(before),
                 LLU(st.snapshot_index));
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

/* The sender's copy of the snapshot a SNAPSHOT message names: its latest one, or one it
 * received and has yet to install. NULL: it has none such. */
static const struct sim_snap *node_snapshot_data(const struct node *n, uint64_t index,
                                                 uint64_t term)
{
    const struct sim_snap *s = &n->disk.snap;
    if (s->set && s->index == index && s->term == term)
        return s;
    s = &n->incoming;
    if (n->install_index && s->set && s->index == index && s->term == term)
        return s;
    return NULL;
}

/* Check one outgoing message against the sender's durable state and send it. "now": from
 * msgs_now, which must depend on nothing of this batch being durable. */
static void node_send(struct world *w, struct node *n, const struct raft_msg *m, bool now)
{
    char buf[160];
    unsigned long long id = LLU(n->id);
    const char *list = now ? "msgs_now" : "msgs";
    if (m->from != n->id || m->to == 0 || m->to > w->p.pool_count || m->to == n->id)
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
    case RAFT_MSG_TIMEOUT_NOW:
        check_leader(w, m->term, n->id, "it sent TIMEOUT_NOW");
        break;
    case RAFT_MSG_SNAPSHOT: {
        check_leader(w, m->term, n->id, "it sent a snapshot");
        const struct sim_snap *snap = node_snapshot_data(n, m->snapshot.index,
                                                         m->snapshot.term);
        if (!snap)
            FAIL_RET(w, "node %llu sends snapshot %llu/%llu, but its latest is %llu/%llu", id,
                     LLU(m->snapshot.index), LLU(m->snapshot.term), LLU(n->disk.snap.index),
                     LLU(n->disk.snap.term));
        const struct known *k = check_known(w, snap->index);
        if (!k || k->term != snap->term)
            FAIL_RET(w, "node %llu sends snapshot %llu/%llu, but that index is not known "
                     "committed with that term", id, LLU(snap->index), LLU(snap->term));
        check_fsm(w, n, snap->index, &snap->fsm, "a snapshot it sends");
        if (!w->failed)
            net_send_snapshot(w, m, snap, n->incarnation);
        return;
    }
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
 * truncation of the old suffix); the hard state independently. (A snapshot install is
 * durable step by step: see node_install.) */
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
        if (truncated && kept == 0)
            disk_truncate_from(d, u->entries[0].index);
        else if (truncated)
            node_write_entries(w, n, u->entries, kept);
    }
    char why[160];
    if (u->hs_written || u->entries_written)
        snprintf(why, sizeof why, "in batch step %d: unsynced hard state %s, %u of %u "
                 "unsynced entries kept%s", step, !u->hs_written ? "none" : hs_kept ? "kept" :
                 "lost", kept, u->entries_written ? u->n_entries : 0,
                 truncated ? " (old suffix cut)" : "");
    else
        snprintf(why, sizeof why, "in batch step %d%s", step,
                 step == 8 ? " (between saving a received snapshot and resetting the log)"
                           : "");
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
    if (first == 0 || first > d->last_index + 1 || first < d->first_index ||
        (d->snap.set && first <= d->snap.index))
        FAIL_RET(w, "node %llu: ready entries start at %llu, the disk holds %llu..%llu after "
                        "snapshot %llu", id, LLU(first), LLU(d->first_index),
                        LLU(d->last_index), LLU(d->snap.index));
    const struct sim_entry *s = disk_entry(d, first);
    if (s && s->term == e[0].term && s->hash == entry_hash(e[0].type, e[0].len, e[0].payload))
        FAIL_RET(w, "node %llu: ready entries start at %llu/%llu, already durable: "
                        "persisting them discards fsynced entries after it", id, LLU(first),
                        LLU(e[0].term));
    uint64_t prev_term = 0;
    if (disk_term(d, first - 1, &prev_term) != 0)
        FAIL_RET(w, "node %llu: ready entries start at %llu, but the disk has no term at "
                        "%llu", id, LLU(first), LLU(first - 1));
    for (uint32_t i = 0; i < rd->n_entries && !w->failed; i++) {
        if (e[i].index != first + i || e[i].term < prev_term || e[i].term > term ||
            e[i].len > RAFT_PAYLOAD_MAX || e[i].type == 0)
            FAIL_RET(w, "node %llu: ready entry %u is %llu/%llu type %u len %u after "
                            "term %llu (node term %llu)", id, i, LLU(e[i].index),
                            LLU(e[i].term), e[i].type, e[i].len, LLU(prev_term), LLU(term));
        check_persist(w, n, &e[i], prev_term, false);
        prev_term = e[i].term;
    }
}

/* A committed MEMBERS entry: the configurations must follow one another as joint
 * consensus allows (paper §6): from C to C_old,new (old == C, other voters), from there to
 * exactly C_new, or from C to C' with the same voters (learners changed); and its context
 * is the client's, or empty (an entry the core appends by itself). */
static void node_apply_members(struct world *w, struct node *n, const struct raft_entry *e)
{
    unsigned long long id = LLU(n->id);
    struct raft_members cur, old;
    const uint8_t *ctx = NULL;
    uint32_t ctx_len = 0;
    if (raft_members_decode(e->payload, e->len, &cur, &old, &ctx, &ctx_len) != 0)
        FAIL_RET(w, "node %llu applies MEMBERS entry %llu/%llu that does not decode", id,
                 LLU(e->index), LLU(e->term));
    const struct fsm *f = &n->fsm;
    bool ok;
    if (old.count > 0)
        ok = f->members_old.count == 0 && members_equal(&old, &f->members) &&
             members_voter_count(&cur) > 0;
    else if (f->members_old.count > 0)
        ok = members_equal(&cur, &f->members);
    else {
        ok = members_voter_count(&cur) == members_voter_count(&f->members);
        for (uint32_t i = 0; i < cur.count && ok; i++)
            ok = (cur.members[i].role == RAFT_VOTER) ==
                 (members_role(&f->members, cur.members[i].id) == RAFT_VOTER);
    }
    if (!ok) {
        char a[200], b[200];
        members_describe(&f->members, &f->members_old, a, sizeof a);
        members_describe(&cur, &old, b, sizeof b);
        FAIL_RET(w, "membership: node %llu applies configuration %s at %llu/%llu after %s, "
                 "which joint consensus does not allow", id, b, LLU(e->index), LLU(e->term), a);
    }
    if (ctx_len > 0) {
        uint8_t want[RAFT_PAYLOAD_MAX];
        members_ctx_fill(&cur, ctx_len, want);
        if (memcmp(want, ctx, ctx_len) != 0)
            FAIL_RET(w, "node %llu: MEMBERS entry %llu/%llu carries a context of %u bytes that "
                     "is not the one given to raft_change_members", id, LLU(e->index),
                     LLU(e->term), ctx_len);
    }
    n->fsm.members = cur;
    n->fsm.members_old = old;
    if (w->verbose) {
        char b[200];
        members_describe(&cur, &old, b, sizeof b);
        sim_trace(w, "n%llu configuration %s at %llu", id, b, LLU(e->index));
    }
}

static void node_apply(struct world *w, struct node *n, const struct raft_entry *e)
{
    unsigned long long id = LLU(n->id);
    if (e->index != n->applied + 1)
        FAIL_RET(w, "state machine safety: node %llu applies index %llu after %llu", id,
                        LLU(e->index), LLU(n->applied));
    uint64_t hash = entry_hash(e->type, e->len, e->payload);
    const struct sim_entry *s = disk_entry(&n->disk, e->index);
    if (!s || s->term != e->term || s->hash != hash)
        FAIL_RET(w, "node %llu applies %llu/%llu, which its own disk does not hold", id,
                        LLU(e->index), LLU(e->term));
    check_committed(w, n, e->index, e->term, &hash, e->type);
    if (e->type == RAFT_ENTRY_MEMBERS && !w->failed)
        node_apply_members(w, n, e);
    if (w->failed)
        return;
    fsm_apply(&n->fsm, e->index, e->term, e->type, hash);
    n->applied = e->index;
    n->applied_term = e->term;
    check_fsm(w, n, e->index, &n->fsm, "applied");
    SIM_TRACE(w, "n%llu apply %llu/%llu type %u len %u", id, LLU(e->index), LLU(e->term),
              e->type, e->len);
}

/* Installs the snapshot a ready batch asks for: the shell saves the received file (durable
 * at once), then empties the log (durable too). crash_mid: die between the two. False if
 * the node crashed. */
static bool node_install(struct world *w, struct node *n, const struct raft_snapshot_meta *sm,
                         bool crash_mid, struct unsynced *u)
{
    unsigned long long id = LLU(n->id);
    const struct sim_snap *in = &n->incoming;
    if (!n->install_index || !in->set || sm->index != n->install_index ||
        sm->term != in->term || !members_equal(&sm->members, &in->fsm.members) ||
        !members_equal(&sm->members_old, &in->fsm.members_old)) {
        sim_fail(w, "node %llu: ready asks to install snapshot %llu/%llu, but the snapshot it "
                 "took is %llu/%llu", id, LLU(sm->index), LLU(sm->term),
                 LLU(n->install_index), LLU(in->term));
        return false;
    }
    if (sm->index <= n->applied || (n->disk.snap.set && sm->index <= n->disk.snap.index)) {
        sim_fail(w, "node %llu: ready asks to install snapshot %llu, but it applied %llu and "
                 "holds a snapshot at %llu", id, LLU(sm->index), LLU(n->applied),
                 LLU(n->disk.snap.index));
        return false;
    }
    n->disk.snap = *in;
    if (crash_mid) {
        node_crash_in_batch(w, n, u, 8);
        return false;
    }
    disk_reset(&n->disk, sm->index);
    n->fsm = in->fsm;
    n->applied = sm->index;
    n->applied_term = sm->term;
    n->install_index = 0;
    n->incoming.set = false;
    if (n->commit_seen < sm->index)
        n->commit_seen = sm->index;
    w->chk.snaps_installed_count++;
    SIM_TRACE(w, "n%llu INSTALL snapshot %llu/%llu; the log now starts after it", id,
              LLU(sm->index), LLU(sm->term));
    check_fsm(w, n, sm->index, &n->fsm, "installed from a snapshot");
    return !w->failed;
}

/* Every snap_every applied entries: save a snapshot, tell the core, compact the log. */
static void node_maybe_snapshot(struct world *w, struct node *n)
{
    struct disk *d = &n->disk;
    uint64_t last = d->snap.set ? d->snap.index : 0;
    if (!w->p.snap_every || n->install_index || n->applied < last + w->p.snap_every)
        return;
    d->snap = (struct sim_snap){.set = true, .index = n->applied, .term = n->applied_term,
                                .fsm = n->fsm};
    w->chk.snaps_taken_count++;
    raft_snapshot_taken(n->r, n->applied);
    uint64_t margin = rng_below(&w->rng, (uint64_t)w->p.snap_margin_max + 1);
    uint64_t upto = n->applied > margin ? n->applied - margin : 0;
    if (upto > d->last_index) /* cannot be: applied entries are on the disk */
        FAIL_RET(w, "node %llu: applied %llu but its disk ends at %llu", LLU(n->id),
                 LLU(n->applied), LLU(d->last_index));
    disk_compact_to(d, upto);
    SIM_TRACE(w, "n%llu SNAPSHOT at %llu/%llu; log now %llu..%llu", LLU(n->id),
              LLU(d->snap.index), LLU(d->snap.term), LLU(d->first_index), LLU(d->last_index));
    node_observe(w, n);
}

/* Processes ready batches until raft_ready says there is no more work, in the order of
 * obligation of struct raft_ready; in the chaos phase a crash may strike between steps. */
/* A leader whose latest configuration is committed and leaves it out steps down at the
 * next raft_ready (thesis §4.2.2). step_term: the term it led in before, 0: nothing due. */
static void node_check_stepped_down(struct world *w, struct node *n, uint64_t step_term)
{
    const struct raft_status *st = &n->st;
    if (step_term && n->r && st->role == RAFT_LEADER && st->term == step_term && !st->voter &&
        !st->changing)
        FAIL_RET(w, "membership: node %llu still leads term %llu although its configuration, "
                 "committed, does not have it as a voter", LLU(n->id), LLU(step_term));
}

void node_drain(struct world *w, struct node *n)
{
    unsigned long long id = LLU(n->id);
    uint64_t step_term = n->r && n->st.role == RAFT_LEADER && !n->st.voter && !n->st.changing
                             ? n->st.term : 0;
    for (uint32_t batches = 0; n->r && !w->failed; batches++) {
        if (batches == SIM_DRAIN_MAX)
            FAIL_RET(w, "node %llu: raft_ready still has work after %u batches", id,
                            batches);
        struct raft_ready rd;
        if (!raft_ready(n->r, &rd)) {
            if (step_term) {
                node_observe(w, n);
                node_check_stepped_down(w, n, step_term);
            }
            return;
        }
        n->in_ready = true;
        /* Where a crash strikes, if one does: at any step, but most often while a batch
         * that writes something is not yet durable, the interesting window, or in the
         * middle of installing a snapshot (8). */
        int crash_at = -1;
        bool writes = rd.hard_state_changed || rd.n_entries > 0 || rd.snapshot;
        if (!w->liveness && rng_ppm(&w->rng, w->p.crash_ready_ppm * (writes ? 2 : 1))) {
            if (rd.snapshot && rng_below(&w->rng, 3) == 0)
                crash_at = 8;
            else
                crash_at = writes && rng_below(&w->rng, 2) ? 2 + (int)rng_below(&w->rng, 2)
                                                           : (int)rng_below(&w->rng, 8);
        }
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
        /* 2. install a snapshot, write the hard state and the entries (not durable yet) */
        bool installed = false;
        if (rd.snapshot) {
            if (!node_install(w, n, rd.snapshot, crash_at == 8, &u))
                return;
            installed = true;
        }
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
            if (hs->voted_for > w->p.pool_count)
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
            node_write_entries(w, n, u.entries, u.n_entries);
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
        if ((rd.n_committed || installed) && !w->failed)
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
        node_check_stepped_down(w, n, step_term);
        step_term = 0;
        if (read_index_max > n->st.commit_index && !w->failed)
            FAIL_RET(w, "node %llu answered a read at index %llu above its commit "
                            "index %llu", id, LLU(read_index_max), LLU(n->st.commit_index));
        if (!w->failed)
            node_maybe_snapshot(w, n);
    }
}
