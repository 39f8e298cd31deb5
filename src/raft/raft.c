/* The core's public entry points: creation, message dispatch with the term rules every
 * server follows (paper Figure 2, "Rules for Servers"), proposals, and the ready batch. */
#include "raft_int.h"

#if defined(__GLIBC__)
#include <assert.h>
#endif

void raft_assert_fail(const char *cond, const char *file, int line)
{
#if defined(__GLIBC__)
    __assert_fail(cond, file, (unsigned)line, "raft");
#else
    (void)cond, (void)file, (void)line;
    abort();
#endif
}

const char *raft_strerror(int error)
{
    switch (error < 0 ? -error : error) {
    case 0:               return "success";
    case RAFT_ENOTLEADER: return "not the leader";
    case RAFT_ETOOBIG:    return "payload too large (limit " "4064" " bytes)";
    case RAFT_EBUSY:      return "too many requests in flight, try again";
    case RAFT_EINVAL:     return "invalid argument";
    case RAFT_EMALFORMED: return "malformed message";
    case RAFT_ECOMPACTED: return "log entry compacted away";
    case RAFT_ENOMEM:     return "out of memory";
    case RAFT_ECHANGING:  return "a membership change is already in progress";
    case RAFT_ETRANSFER:  return "leadership transfer in progress, try again";
    default:              return "unknown error";
    }
}
_Static_assert(RAFT_PAYLOAD_MAX == 4064, "raft_strerror names the payload limit");

const char *raft_role_name(int role)
{
    switch (role) {
    case RAFT_FOLLOWER:     return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE:    return "candidate";
    case RAFT_LEADER:       return "leader";
    default:                return "unknown";
    }
}

const char *raft_msg_type_name(int type)
{
    switch (type) {
    case RAFT_MSG_VOTE:           return "VOTE";
    case RAFT_MSG_VOTE_RESP:      return "VOTE_RESP";
    case RAFT_MSG_PREVOTE:        return "PREVOTE";
    case RAFT_MSG_PREVOTE_RESP:   return "PREVOTE_RESP";
    case RAFT_MSG_APPEND:         return "APPEND";
    case RAFT_MSG_APPEND_RESP:    return "APPEND_RESP";
    case RAFT_MSG_HEARTBEAT:      return "HEARTBEAT";
    case RAFT_MSG_HEARTBEAT_RESP: return "HEARTBEAT_RESP";
    case RAFT_MSG_TIMEOUT_NOW:    return "TIMEOUT_NOW";
    case RAFT_MSG_SNAPSHOT:       return "SNAPSHOT";
    default:                      return "UNKNOWN";
    }
}

void raft_config_default(struct raft_config *cfg, uint64_t id)
{
    *cfg = (struct raft_config){
        .id = id,
        .election_ticks = 10,
        .heartbeat_ticks = 2,
        .max_inflight = 64,
        .max_batch = 64,
        .log_window = 1024,
        .max_reads = 4096,
        .pre_vote = true,
        .check_quorum = true,
        .seed = id,
    };
}

static bool raft_config_valid(const struct raft_config *c)
{
    return c->id != 0 && c->election_ticks > 1 && c->heartbeat_ticks > 0 &&
           c->heartbeat_ticks < c->election_ticks && c->max_inflight > 0 &&
           c->max_batch > 0 && c->log_window >= c->max_batch && c->max_reads > 0;
}

/* ---- progress table, timers, outbox -------------------------------------------------------- */

struct progress *raft_progress(const struct raft *r, uint64_t id)
{
    for (uint32_t i = 0; i < r->prs_count; i++)
        if (r->prs[i].id == id)
            return (struct progress *)&r->prs[i];
    return NULL;
}

/* One progress per server of the current and previous configurations. Servers that stay
 * keep what we know of them; a newcomer starts probing after our last entry. */
void raft_progress_rebuild(struct raft *r)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < r->prs_count; i++) {
        uint64_t id = r->prs[i].id;
        if (!members_contains(&r->conf.current, id) && !members_contains(&r->conf.previous, id))
            continue;
        if (i != keep) { /* swap whole structs: every slot keeps owning its buffers */
            struct progress t = r->prs[keep];
            r->prs[keep] = r->prs[i];
            r->prs[i] = t;
        }
        keep++;
    }
    r->prs_count = keep;
    const struct raft_members *sets[2] = {&r->conf.current, &r->conf.previous};
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < sets[k]->count; i++) {
            uint64_t id = sets[k]->members[i].id;
            if (raft_progress(r, id))
                continue;
            RAFT_ASSERT(r->prs_count < RAFT_MEMBERS_MAX);
            struct progress *pr = &r->prs[r->prs_count++];
            progress_reset(pr, id, r->log.last_index + 1);
            if (id == r->id)
                pr->match_index = r->log.stable_index;
        }
    }
}

void raft_reset_election_timer(struct raft *r)
{
    r->election_elapsed = 0;
    r->election_timeout = r->cfg.election_ticks +
                          (uint32_t)(raft_prng_next(&r->prng) % r->cfg.election_ticks);
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader_id)
{
    RAFT_ASSERT(term >= r->current_term);
    if (term > r->current_term) {
        r->current_term = term;
        r->voted_for = 0;
    }
    if (r->role == RAFT_LEADER)
        readindex_fail_all(r);
    r->transfer_to = 0;
    r->role = RAFT_FOLLOWER;
    r->leader_id = leader_id;
    r->noop_pending = false;
    raft_reset_election_timer(r);
}

static bool outbox_push(struct outbox *box, const struct raft_msg *m)
{
    if (box->count == box->cap)
        return false;
    box->msgs[box->count++] = *m;
    return true;
}

uint32_t raft_outbox_room(const struct raft *r)
{
    return RAFT_MIN(r->out_now.cap - r->out_now.count, r->out_after.cap - r->out_after.count);
}

/* A leader's appends and heartbeats promise nothing about its own disk, so they may leave
 * before this batch is durable, once the term they carry is. Everything else waits. */
bool raft_send(struct raft *r, struct raft_msg *m)
{
    m->from = r->id;
    bool early = r->role == RAFT_LEADER && r->current_term == r->hard_state_durable.term &&
                 (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
                  m->type == RAFT_MSG_TIMEOUT_NOW || m->type == RAFT_MSG_SNAPSHOT);
    if (outbox_push(early ? &r->out_now : &r->out_after, m))
        return true;
    r->msgs_dropped++; /* like a lost packet: Raft retries */
    return false;
}

/* ---- create / destroy ---------------------------------------------------------------------- */

struct raft *raft_create(const struct raft_config *cfg, const struct raft_boot *boot,
                         const struct raft_log_store *store)
{
    RAFT_ASSERT(raft_config_valid(cfg));
    RAFT_ASSERT(members_valid(&boot->members) && members_valid(&boot->members_old));
    RAFT_ASSERT(boot->last_index >= boot->snapshot_index);
    struct raft *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cfg = *cfg;
    r->id = cfg->id;
    r->prng = cfg->seed;
    uint32_t outbox_cap = RAFT_MEMBERS_MAX * (cfg->max_inflight + 4);
    r->out_now.cap = r->out_after.cap = outbox_cap;
    r->out_now.msgs = calloc(outbox_cap, sizeof(struct raft_msg));
    r->out_after.msgs = calloc(outbox_cap, sizeof(struct raft_msg));
    r->reads = calloc(cfg->max_reads, sizeof *r->reads);
    r->reads_out = calloc(cfg->max_reads, sizeof *r->reads_out);
    r->apply_scratch = calloc(cfg->max_batch, sizeof *r->apply_scratch);
    bool ok = r->out_now.msgs && r->out_after.msgs && r->reads && r->reads_out &&
              r->apply_scratch;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX && ok; i++) {
        r->prs[i].inflight.cap = cfg->max_inflight;
        r->prs[i].inflight.last_index = calloc(cfg->max_inflight, sizeof(uint64_t));
        ok = r->prs[i].inflight.last_index != NULL;
    }
    if (!ok || log_init(&r->log, cfg->log_window, boot, store) != 0) {
        raft_destroy(r);
        return NULL;
    }
    membership_init(r, boot);
    raft_progress_rebuild(r);

    /* The log can be ahead of the persisted term when the crash came between writing the
     * entries and the meta: a log entry of term T proves we reached T, and no vote in T
     * was ever made durable, so none was ever sent. */
    r->hard_state_durable = boot->hard_state;
    r->current_term = RAFT_MAX(boot->hard_state.term, r->log.last_term);
    r->voted_for = r->current_term == boot->hard_state.term ? boot->hard_state.voted_for : 0;
    r->commit_index = r->applied_index = boot->snapshot_index;
    r->role = RAFT_FOLLOWER;
    raft_reset_election_timer(r);
    return r;
}

void raft_destroy(struct raft *r)
{
    if (!r)
        return;
    log_free(&r->log);
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        free(r->prs[i].inflight.last_index);
        free(r->prs[i].scratch);
    }
    free(r->out_now.msgs);
    free(r->out_after.msgs);
    free(r->reads);
    free(r->reads_out);
    free(r->apply_scratch);
    free(r);
}

/* ---- input --------------------------------------------------------------------------------- */

/* Structural checks on a message from the network; what it means is checked by its handler. */
static bool raft_msg_valid(const struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->id || m->from == 0 || m->from == r->id || m->term == 0)
        return false;
    if (m->type < RAFT_MSG_VOTE || m->type >= RAFT_MSG_TYPE_END_)
        return false;
    if (m->type == RAFT_MSG_SNAPSHOT)
        return m->snapshot.index > 0 && m->snapshot.term > 0 && m->snapshot.term <= m->term &&
               members_valid(&m->snapshot.members) && members_valid(&m->snapshot.members_old) &&
               members_voters(&m->snapshot.members) > 0;
    if (m->type != RAFT_MSG_APPEND)
        return true;
    const struct raft_msg_append *a = &m->append;
    if (a->n_entries > 0 && !a->entries)
        return false;
    if (a->prev_log_term > m->term || (a->prev_log_index == 0 && a->prev_log_term != 0))
        return false;
    uint64_t term = a->prev_log_term;
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *e = &a->entries[i];
        if (e->index != a->prev_log_index + 1 + i || e->term < term || e->term > m->term ||
            e->len > RAFT_PAYLOAD_MAX ||
            (e->type == RAFT_ENTRY_MEMBERS && !membership_entry_valid(e)))
            return false;
        term = e->term;
    }
    return true;
}

static bool raft_msg_from_leader(const struct raft_msg *m)
{
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
           m->type == RAFT_MSG_TIMEOUT_NOW || m->type == RAFT_MSG_SNAPSHOT;
}

static bool raft_msg_is_response(const struct raft_msg *m)
{
    return m->type == RAFT_MSG_APPEND_RESP || m->type == RAFT_MSG_HEARTBEAT_RESP ||
           m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP;
}

/* Paper Figure 2: a newer term makes us a follower; an older one gets the message ignored.
 * Returns false when the message needs no further handling. */
static bool raft_step_term(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->current_term) {
        bool vote_request = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
        /* thesis §4.2.3 / §9.6: while we trust a live leader, a server asking for votes is
         * partitioned or removed; it must not depose the leader or bump our term */
        if (vote_request && !m->vote.transfer &&
            (m->type == RAFT_MSG_PREVOTE || r->cfg.check_quorum) && election_in_lease(r))
            return false;
        /* An answer from a server outside our configuration: a removed one, whose term grew
         * in campaigns nobody needs, answering something sent before its removal. Dropping
         * an answer only costs liveness, and that server is in no quorum of ours. */
        if (raft_msg_is_response(m) && !raft_progress(r, m->from))
            return false;
        bool future_term_only = m->type == RAFT_MSG_PREVOTE ||
                                (m->type == RAFT_MSG_PREVOTE_RESP && m->vote_resp.granted);
        if (!future_term_only)
            raft_become_follower(r, m->term, raft_msg_from_leader(m) ? m->from : 0);
        return true;
    }
    if (m->term < r->current_term) {
        /* A deposed leader may never hear of the new term if pre-vote keeps everyone else
         * quiet: answer it, and it steps down. A pre-candidate learns it is behind. */
        struct raft_msg resp = {.to = m->from, .term = r->current_term};
        if (raft_msg_from_leader(m) && m->type != RAFT_MSG_TIMEOUT_NOW) {
            resp.type = RAFT_MSG_APPEND_RESP;
            raft_send(r, &resp);
        } else if (m->type == RAFT_MSG_PREVOTE) {
            resp.type = RAFT_MSG_PREVOTE_RESP;
            raft_send(r, &resp);
        }
        return false;
    }
    return true;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    RAFT_ASSERT(!r->ready_pending);
    if (!raft_msg_valid(r, m))
        return -RAFT_EMALFORMED;
    if (!raft_step_term(r, m))
        return 0;
    if (r->role == RAFT_LEADER && raft_msg_is_response(m)) {
        struct progress *pr = raft_progress(r, m->from);
        if (pr)
            pr->recent_active = true; /* for check-quorum */
    }
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        election_on_vote_request(r, m);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        election_on_vote_response(r, m);
        break;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
    case RAFT_MSG_TIMEOUT_NOW:
        if (r->role == RAFT_LEADER)
            return -RAFT_EMALFORMED; /* a second leader in our term cannot exist */
        if (r->role != RAFT_FOLLOWER)
            raft_become_follower(r, m->term, m->from); /* paper §5.2 */
        r->leader_id = m->from;
        r->election_elapsed = 0;
        if (m->type == RAFT_MSG_APPEND)
            replication_on_append(r, m);
        else if (m->type == RAFT_MSG_HEARTBEAT)
            replication_on_heartbeat(r, m);
        else if (m->type == RAFT_MSG_SNAPSHOT)
            replication_on_snapshot(r, m);
        else if (config_is_voter(&r->conf, r->id))
            election_campaign(r, false, true); /* the leader hands over (thesis §3.10) */
        break;
    case RAFT_MSG_APPEND_RESP:
        if (r->role == RAFT_LEADER)
            replication_on_append_response(r, m);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (r->role == RAFT_LEADER)
            replication_on_heartbeat_response(r, m);
        break;
    }
    return 0;
}

void raft_tick(struct raft *r)
{
    RAFT_ASSERT(!r->ready_pending);
    if (r->role == RAFT_LEADER)
        replication_tick(r);
    else
        election_tick(r);
}

int raft_propose(struct raft *r, uint16_t type, const void *payload, uint32_t len,
                 uint64_t *index_out)
{
    RAFT_ASSERT(!r->ready_pending);
    if (r->role != RAFT_LEADER)
        return -RAFT_ENOTLEADER;
    if (len > RAFT_PAYLOAD_MAX)
        return -RAFT_ETOOBIG;
    if ((type < RAFT_ENTRY_APP_MIN && type != RAFT_ENTRY_SESSION) || (len > 0 && !payload))
        return -RAFT_EINVAL;
    if (r->transfer_to)
        return -RAFT_ETRANSFER;
    replication_append_noop(r); /* the term's first entry goes first */
    if (log_room(&r->log) == 0)
        return -RAFT_EBUSY;
    struct raft_entry *e = replication_append(r, type, payload, len);
    if (index_out)
        *index_out = e->index;
    return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    RAFT_ASSERT(!r->ready_pending);
    return readindex_request(r, ctx);
}

/* ---- the ready batch ------------------------------------------------------------------------ */

bool raft_ready(struct raft *r, struct raft_ready *rd)
{
    RAFT_ASSERT(!r->ready_pending);
    membership_on_commit(r);
    if (r->role == RAFT_LEADER) {
        replication_flush(r);
        readindex_flush(r);
    }
    memset(rd, 0, sizeof *rd);
    if (r->install_pending)
        rd->snapshot = &r->snapshot_install;
    rd->hard_state = (struct raft_hard_state){.term = r->current_term,
                                              .voted_for = r->voted_for};
    rd->hard_state_changed = rd->hard_state.term != r->hard_state_durable.term ||
                             rd->hard_state.voted_for != r->hard_state_durable.voted_for;
    if (r->log.stable_index < r->log.last_index) {
        /* undurable entries are always in the ring, so this needs no scratch */
        int n = log_slice(&r->log, r->log.stable_index + 1, r->log.window_cap, NULL, 0,
                          &rd->entries);
        RAFT_ASSERT(n > 0);
        rd->n_entries = (uint32_t)n;
    }
    if (r->applied_index < r->commit_index) {
        int n = log_slice(&r->log, r->applied_index + 1, r->commit_index - r->applied_index,
                          r->apply_scratch, r->cfg.max_batch, &rd->committed);
        RAFT_ASSERT(n > 0);
        rd->n_committed = (uint32_t)n;
    }
    rd->msgs_now = r->out_now.msgs;
    rd->n_msgs_now = r->out_now.count;
    /* msgs promise that everything appended so far is durable. Undurable entries that
     * wrap around the ring take two batches: hold msgs back until the one that persists
     * the last of them. (Found by the simulator, seed 1 with the held-back rule removed.) */
    if (r->log.stable_index + rd->n_entries == r->log.last_index) {
        rd->msgs = r->out_after.msgs;
        rd->n_msgs = r->out_after.count;
    }
    rd->reads = r->reads_out;
    rd->n_reads = r->reads_out_count;
    r->ready_pending = rd->snapshot || rd->hard_state_changed || rd->n_entries ||
                       rd->n_committed || rd->n_msgs_now || rd->n_msgs || rd->n_reads;
    return r->ready_pending;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
    RAFT_ASSERT(r->ready_pending);
    if (rd->snapshot)
        r->install_pending = false;
    if (rd->hard_state_changed)
        r->hard_state_durable = rd->hard_state;
    if (rd->n_entries > 0) {
        const struct raft_entry *last = &rd->entries[rd->n_entries - 1];
        log_stable_to(&r->log, last->index, last->term);
    }
    if (rd->n_committed > 0) {
        RAFT_ASSERT(rd->committed[0].index == r->applied_index + 1);
        r->applied_index += rd->n_committed;
    }
    r->out_now.count = 0;
    if (rd->msgs)
        r->out_after.count = 0;
    r->reads_out_count = 0;
    r->ready_pending = false;
    if (r->role == RAFT_LEADER) {
        struct progress *self = raft_progress(r, r->id);
        if (self) /* absent once a leader removed itself, before it steps down */
            self->match_index = r->log.stable_index;
        replication_maybe_commit(r);
    }
}

/* ---- introspection ---------------------------------------------------------------------------- */

void raft_log_window_memory(const struct raft *r, void **base_out, size_t *len_out)
{
    *base_out = r->log.ring;
    *len_out = (size_t)r->log.window_cap * sizeof *r->log.ring;
}

void raft_status(const struct raft *r, struct raft_status *st)
{
    *st = (struct raft_status){
        .id = r->id,
        .role = r->role,
        .voter = config_is_voter(&r->conf, r->id),
        .term = r->current_term,
        .voted_for = r->voted_for,
        .leader_id = r->leader_id,
        .commit_index = r->commit_index,
        .applied_index = r->applied_index,
        .first_index = r->log.snapshot_index + 1,
        .last_index = r->log.last_index,
        .last_term = r->log.last_term,
        .stable_index = r->log.stable_index,
        .snapshot_index = r->log.snapshot_index,
        .transfer_to = r->transfer_to,
        .changing = membership_changing(r),
        .msgs_dropped = r->msgs_dropped,
    };
}

int raft_log_term(const struct raft *r, uint64_t index, uint64_t *term_out)
{
    return log_term(&r->log, index, term_out);
}

int raft_match_index(const struct raft *r, uint64_t id, uint64_t *match_out)
{
    if (r->role != RAFT_LEADER)
        return -RAFT_ENOTLEADER;
    const struct progress *pr = raft_progress(r, id);
    if (!pr)
        return -RAFT_EINVAL;
    *match_out = pr->match_index;
    return 0;
}

int raft_transfer_leader(struct raft *r, uint64_t to)
{
    RAFT_ASSERT(!r->ready_pending);
    if (r->role != RAFT_LEADER)
        return -RAFT_ENOTLEADER;
    if (to == r->id || !config_is_voter(&r->conf, to))
        return -RAFT_EINVAL;
    r->transfer_to = to;
    r->transfer_elapsed = 0;
    r->transfer_sent = false;
    raft_progress(r, to)->append_due = true;
    return 0;
}

void raft_snapshot_taken(struct raft *r, uint64_t index)
{
    RAFT_ASSERT(!r->ready_pending);
    RAFT_ASSERT(index <= r->applied_index);
    if (index <= r->log.snapshot_index)
        return;
    r->log.snapshot_term = log_term_of(&r->log, index);
    r->log.snapshot_index = index;
}

void raft_snapshot_report(struct raft *r, uint64_t id, bool ok)
{
    RAFT_ASSERT(!r->ready_pending);
    struct progress *pr = r->role == RAFT_LEADER ? raft_progress(r, id) : NULL;
    if (!pr || pr->state != PROGRESS_SNAPSHOT)
        return;
    /* On success its answer moves it on; either way, probe from after the snapshot and
     * wait for an answer or a heartbeat reply before sending anything else. */
    uint64_t sent = pr->snapshot_index;
    progress_become_probe(pr);
    if (ok)
        pr->next_index = RAFT_MAX(pr->next_index, sent + 1);
    pr->probe_sent = true;
}
