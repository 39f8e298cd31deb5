/* Log replication (paper §5.3): the leader's side (sending appends with flow control,
 * following acknowledgements, committing by majority) and the follower's side (the
 * consistency check, conflict truncation, the conflict hint for fast backtracking). */
#include "raft_int.h"

void replication_become_leader(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_CANDIDATE);
    r->role = RAFT_LEADER;
    r->leader_id = r->id;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    r->committed_in_term = false;
    r->transfer_to = 0;
    for (uint32_t i = 0; i < r->prs_count; i++)
        progress_reset(&r->prs[i], r->prs[i].id, r->log.last_index + 1);
    struct progress *self = raft_progress(r, r->id);
    if (self) { /* absent for a leader elected from outside its configuration (election.c) */
        self->match_index = r->log.stable_index; /* only what is durable counts (§10.2.1) */
        self->read_acked = r->read_round;
    }
    /* A leader commits entries of earlier terms only by committing one of its own (paper
     * §5.4.2), so it starts its term with an empty entry (paper §8). */
    r->noop_pending = true;
    replication_append_noop(r);
}

struct raft_entry *replication_append(struct raft *r, uint16_t type, const void *payload,
                                      uint32_t len)
{
    RAFT_ASSERT(r->role == RAFT_LEADER);
    struct raft_entry *e = log_append_slot(&r->log, r->current_term);
    e->type = type;
    e->len = len;
    if (len > 0)
        memcpy(e->payload, payload, len);
    membership_on_append(r, e);
    return e;
}

void replication_append_noop(struct raft *r)
{
    if (!r->noop_pending || log_room(&r->log) == 0)
        return; /* the window is full of undurable entries: try again at the next flush */
    replication_append(r, RAFT_ENTRY_NOOP, NULL, 0);
    r->noop_pending = false;
}

/* Commit the highest index a majority has durable, if it is of our term (paper §5.4.2,
 * Figure 8: counting replicas of an older term's entry is not enough). */
void replication_maybe_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    uint64_t q = RAFT_MIN(quorum_match_index(r), r->log.last_index);
    if (q > r->commit_index && log_term_of(&r->log, q) == r->current_term) {
        r->commit_index = q;
        r->committed_in_term = true;
    }
}

/* It needs entries we compacted: the shell sends it our latest snapshot (paper §7), and
 * reports how that went (raft_snapshot_report). */
static void replication_send_snapshot(struct raft *r, struct progress *pr)
{
    RAFT_ASSERT(r->log.snapshot_index > 0); /* the store compacts only below a snapshot */
    pr->state = PROGRESS_SNAPSHOT;
    pr->snapshot_index = r->log.snapshot_index;
    struct raft_msg m = {
        .type = RAFT_MSG_SNAPSHOT,
        .to = pr->id,
        .term = r->current_term,
        .snapshot = {.index = r->log.snapshot_index, .term = r->log.snapshot_term},
    };
    raft_send(r, &m);
}

static struct raft_entry *replication_scratch(struct raft *r, struct progress *pr)
{
    if (!pr->scratch)
        pr->scratch = malloc((size_t)r->cfg.max_batch * sizeof *pr->scratch);
    return pr->scratch;
}

/* Sends a follower everything it may have: in PROBE one append and wait; in REPLICATE
 * appends back to back until max_inflight are unacknowledged. Runs at raft_ready time, so
 * all proposals of a loop turn leave in the same messages and nothing in the log moves
 * while the messages point into it. */
static void replication_send_appends(struct raft *r, struct progress *pr)
{
    while (!progress_paused(pr) && raft_outbox_room(r) > 0) {
        uint64_t prev = pr->next_index - 1;
        uint64_t prev_term;
        if (log_term(&r->log, prev, &prev_term) == -RAFT_ECOMPACTED) {
            replication_send_snapshot(r, pr);
            return;
        }
        const struct raft_entry *ents = NULL;
        uint32_t n = 0;
        if (pr->next_index <= r->log.last_index) {
            struct raft_entry *scratch = replication_scratch(r, pr);
            if (!scratch)
                return;
            int got = log_slice(&r->log, pr->next_index, r->cfg.max_batch, scratch,
                                r->cfg.max_batch, &ents);
            if (got == -RAFT_ECOMPACTED) {
                replication_send_snapshot(r, pr);
                return;
            }
            RAFT_ASSERT(got > 0);
            n = (uint32_t)got;
        } else if (pr->state == PROGRESS_REPLICATE && pr->commit_sent >= r->commit_index &&
                   !pr->append_due) {
            return; /* up to date, and knows our commit index */
        }
        struct raft_msg m = {
            .type = RAFT_MSG_APPEND,
            .to = pr->id,
            .term = r->current_term,
            .append = {.prev_log_index = prev, .prev_log_term = prev_term,
                       .leader_commit = r->commit_index, .n_entries = n, .entries = ents},
        };
        raft_send(r, &m);
        pr->commit_sent = r->commit_index;
        pr->append_due = false;
        if (pr->state == PROGRESS_PROBE) {
            pr->probe_sent = true;
            return;
        }
        if (n == 0)
            return;
        pr->next_index = ents[n - 1].index + 1;
        inflights_add(&pr->inflight, ents[n - 1].index);
        if (ents == pr->scratch)
            return; /* one message per batch may borrow the scratch */
    }
}

/* Leadership transfer (thesis §3.10): once the target has everything, tell it to run. */
static void replication_flush_transfer(struct raft *r)
{
    struct progress *pr = r->transfer_to ? raft_progress(r, r->transfer_to) : NULL;
    if (!pr || r->transfer_sent || pr->match_index != r->log.last_index)
        return;
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = pr->id, .term = r->current_term};
    r->transfer_sent = raft_send(r, &m);
}

void replication_flush(struct raft *r)
{
    RAFT_ASSERT(r->role == RAFT_LEADER);
    replication_append_noop(r);
    replication_maybe_commit(r);
    for (uint32_t i = 0; i < r->prs_count; i++)
        if (r->prs[i].id != r->id)
            replication_send_appends(r, &r->prs[i]);
    replication_flush_transfer(r);
}

void replication_broadcast_heartbeat(struct raft *r)
{
    for (uint32_t i = 0; i < r->prs_count; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id == r->id)
            continue;
        struct raft_msg m = {
            .type = RAFT_MSG_HEARTBEAT,
            .to = pr->id,
            .term = r->current_term,
            .heartbeat = {.commit = RAFT_MIN(pr->match_index, r->commit_index),
                          .ctx = r->read_round},
        };
        raft_send(r, &m);
    }
}

void replication_tick(struct raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->transfer_to && ++r->transfer_elapsed >= r->cfg.election_ticks)
        r->transfer_to = 0; /* it did not take over in time: serve again */
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum) {
            /* A leader cut off from a majority steps down rather than serve (§6.2). */
            if (!quorum_active(r)) {
                raft_become_follower(r, r->current_term, 0);
                return;
            }
            for (uint32_t i = 0; i < r->prs_count; i++)
                if (r->prs[i].id != r->id)
                    r->prs[i].recent_active = false;
        }
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        replication_broadcast_heartbeat(r);
    }
}

/* The follower's largest index <= at whose term is <= term: where the leader should look
 * next. Entries up to our commit index match any leader's, so the search starts there. */
static uint64_t replication_conflict_hint(const struct raft *r, uint64_t at, uint64_t term)
{
    uint64_t hi = RAFT_MIN(at, r->log.last_index);
    uint64_t lo = RAFT_MIN(r->commit_index, hi);
    return log_find_term_le(&r->log, lo, hi, term);
}

/* AppendEntries receiver (paper Figure 2). */
void replication_on_append(struct raft *r, const struct raft_msg *m)
{
    const struct raft_msg_append *a = &m->append;
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->current_term};
    uint64_t prev = a->prev_log_index, prev_term = a->prev_log_term;
    const struct raft_entry *ents = a->entries;
    uint64_t n = a->n_entries;

    /* Entries up to our commit index are committed, hence already ours: skip them. */
    if (prev < r->commit_index) {
        uint64_t skip = RAFT_MIN(n, r->commit_index - prev);
        if (skip == n) {
            resp.append_resp = (struct raft_msg_append_resp){.success = true,
                                                            .last_index = r->commit_index};
            raft_send(r, &resp);
            return;
        }
        prev += skip;
        prev_term = ents[skip - 1].term;
        ents += skip;
        n -= skip;
    }

    uint64_t our_term = 0;
    if (prev > r->log.last_index || log_term(&r->log, prev, &our_term) != 0 ||
        our_term != prev_term) {
        uint64_t hint = replication_conflict_hint(r, prev, prev_term);
        resp.append_resp = (struct raft_msg_append_resp){
            .success = false,
            .last_index = a->prev_log_index,
            .hint_index = hint,
            .hint_term = log_term_of(&r->log, hint),
        };
        raft_send(r, &resp);
        return;
    }

    uint64_t i = 0;
    for (; i < n; i++) {
        const struct raft_entry *e = &ents[i];
        if (e->index <= r->log.last_index) {
            if (log_term_of(&r->log, e->index) == e->term)
                continue;
            RAFT_ASSERT(e->index > r->commit_index); /* never truncate committed entries */
            log_truncate_from(&r->log, e->index);
            membership_on_truncate(r, e->index);
        }
        if (log_room(&r->log) == 0)
            break; /* accept a prefix; the leader resends the rest */
        struct raft_entry *slot = log_append_slot(&r->log, e->term);
        slot->type = e->type;
        slot->len = e->len;
        memcpy(slot->payload, e->payload, e->len);
        membership_on_append(r, slot);
    }
    uint64_t match = prev + i;
    /* Commit no further than what this message proved we share with the leader. */
    uint64_t commit = RAFT_MIN(a->leader_commit, match);
    if (commit > r->commit_index)
        r->commit_index = commit;
    resp.append_resp = (struct raft_msg_append_resp){.success = true, .last_index = match};
    raft_send(r, &resp);
}

static void replication_on_refusal(struct raft *r, struct progress *pr,
                                   const struct raft_msg_append_resp *ar)
{
    /* An answer to an append we have since given up on tells nothing new. (In REPLICATE
     * every append we send has prev_log_index >= match: a refusal of one at match itself
     * is taken seriously, see below.) */
    if (pr->state == PROGRESS_REPLICATE ? ar->last_index < pr->match_index
                                        : ar->last_index != pr->next_index - 1)
        return;
    uint64_t next;
    if (ar->hint_index < r->log.snapshot_index) {
        /* It ends before our snapshot: send from right after its end; if the log no longer
         * holds that (compacted), the snapshot goes instead. No walking back. */
        next = ar->hint_index + 1;
    } else if (ar->hint_index < pr->match_index) {
        /* It lacks entries it acknowledged: its disk lost them (a damaged last slot is cut
         * like a torn one at restart), or this answer was overtaken by its ack. Either
         * way, sending from its hint is safe; match stays, other disks hold the entries. */
        next = ar->hint_index + 1;
    } else {
        /* Our largest index <= the follower's hint with a term <= its term there: every
         * entry between that and the refused one is known not to match (paper §5.3). */
        uint64_t lo = RAFT_MAX(pr->match_index, r->log.snapshot_index);
        uint64_t hi = RAFT_MIN(ar->hint_index, r->log.last_index);
        next = lo + 1;
        if (hi > lo)
            next = log_find_term_le(&r->log, lo, hi, ar->hint_term) + 1;
    }
    next = RAFT_MIN(next, ar->last_index); /* always move back: no probe loop */
    progress_become_probe(pr);
    pr->next_index = RAFT_MAX(next, 1);
}

void replication_on_append_response(struct raft *r, const struct raft_msg *m)
{
    const struct raft_msg_append_resp *ar = &m->append_resp;
    struct progress *pr = raft_progress(r, m->from);
    if (!pr)
        return;
    if (!ar->success) {
        replication_on_refusal(r, pr, ar);
        return;
    }
    if (ar->last_index > r->log.last_index)
        return; /* claims entries we never had: not an answer to us */
    bool advanced = ar->last_index > pr->match_index;
    if (advanced)
        pr->match_index = ar->last_index;
    if (pr->state == PROGRESS_SNAPSHOT) {
        if (pr->match_index >= pr->snapshot_index)
            progress_become_replicate(pr); /* it installed the snapshot */
    } else if (pr->state == PROGRESS_PROBE) {
        /* an answer to the probe out (it may be below match after a repair from a hint
         * below match; simulator seed 2231, 5 nodes) or news of a higher match */
        if (ar->last_index >= pr->match_index || ar->last_index + 1 >= pr->next_index)
            progress_become_replicate(pr);
    } else {
        inflights_free_to(&pr->inflight, ar->last_index);
        if (pr->next_index <= pr->match_index)
            pr->next_index = pr->match_index + 1;
    }
    if (advanced)
        replication_maybe_commit(r);
}

void replication_on_heartbeat(struct raft *r, const struct raft_msg *m)
{
    uint64_t commit = RAFT_MIN(m->heartbeat.commit, r->log.last_index);
    if (commit > r->commit_index)
        r->commit_index = commit;
    struct raft_msg resp = {
        .type = RAFT_MSG_HEARTBEAT_RESP,
        .to = m->from,
        .term = r->current_term,
        .heartbeat_resp = {.ctx = m->heartbeat.ctx},
    };
    raft_send(r, &resp);
}

void replication_on_heartbeat_response(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = raft_progress(r, m->from);
    if (!pr)
        return;
    if (m->heartbeat_resp.ctx > pr->read_acked && m->heartbeat_resp.ctx <= r->read_round)
        pr->read_acked = m->heartbeat_resp.ctx;
    /* It is alive: whatever we were waiting for from it may have been lost. If it is
     * behind, an append must go out even if it carries nothing: its answer, or refusal,
     * resynchronizes the pipe (an append refused after a later ack was taken for stale
     * would otherwise stall it; simulator seed 50). */
    pr->probe_sent = false;
    if (pr->match_index < r->log.last_index) {
        if (pr->state == PROGRESS_REPLICATE && inflights_full(&pr->inflight))
            inflights_free_first(&pr->inflight);
        pr->append_due = true;
    }
}

/* InstallSnapshot receiver (paper §7), called once the shell has the snapshot's data. */
void replication_on_snapshot(struct raft *r, const struct raft_msg *m)
{
    const struct raft_msg_snapshot *sn = &m->snapshot;
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->current_term};
    uint64_t term = 0;
    if (sn->index <= r->commit_index) {
        /* we have all it holds: nothing to install */
    } else if (log_term(&r->log, sn->index, &term) == 0 && term == sn->term) {
        r->commit_index = sn->index; /* our log holds its last entry: keep what follows */
    } else {
        log_reset(&r->log, sn->index, sn->term);
        r->commit_index = r->applied_index = sn->index;
        membership_reset(r, &sn->members, &sn->members_old);
        r->snapshot_install = (struct raft_snapshot_meta){
            .index = sn->index, .term = sn->term,
            .members = sn->members, .members_old = sn->members_old};
        r->install_pending = true;
    }
    resp.append_resp = (struct raft_msg_append_resp){
        .success = true, .last_index = RAFT_MAX(sn->index, r->commit_index)};
    if (resp.append_resp.last_index > r->log.last_index)
        resp.append_resp.last_index = r->log.last_index;
    raft_send(r, &resp);
}
