/* Membership changes by joint consensus (paper §6, thesis §4.3).
 *
 * A configuration takes effect as soon as its MEMBERS entry is in the log, committed or
 * not. So a server keeps the configurations of MEMBERS entries above its commit index, to
 * fall back to the one before when a conflicting suffix is cut. A leader goes from C_old to
 * C_old,new (both majorities needed) and, once that commits, appends C_new by itself; a
 * leader that is not a voter in C_new steps down once C_new commits. */
#include "raft_int.h"

/* MEMBERS payload: for the configuration, then the old one (count 0 unless joint):
 *   u32 count | count x (u64 id | u8 role), little-endian. */
static uint8_t *members_put(uint8_t *p, const struct raft_members *m)
{
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(m->count >> (8 * i));
    for (uint32_t k = 0; k < m->count; k++) {
        for (int i = 0; i < 8; i++)
            *p++ = (uint8_t)(m->members[k].id >> (8 * i));
        *p++ = m->members[k].role;
    }
    return p;
}

static const uint8_t *members_get(const uint8_t *p, const uint8_t *end, struct raft_members *m)
{
    if (end - p < 4)
        return NULL;
    uint32_t count = 0;
    for (int i = 0; i < 4; i++)
        count |= (uint32_t)*p++ << (8 * i);
    if (count > RAFT_MEMBERS_MAX || end - p < (ptrdiff_t)(count * 9))
        return NULL;
    memset(m, 0, sizeof *m);
    m->count = count;
    for (uint32_t k = 0; k < count; k++) {
        uint64_t id = 0;
        for (int i = 0; i < 8; i++)
            id |= (uint64_t)*p++ << (8 * i);
        m->members[k].id = id;
        m->members[k].role = *p++;
    }
    return p;
}

uint32_t raft_members_encode(const struct raft_members *members,
                             const struct raft_members *old, const void *ctx,
                             uint32_t ctx_len, uint8_t *out)
{
    RAFT_ASSERT(members->count <= RAFT_MEMBERS_MAX && old->count <= RAFT_MEMBERS_MAX);
    uint8_t *end = members_put(members_put(out, members), old);
    uint32_t len = (uint32_t)(end - out);
    if (ctx_len > RAFT_PAYLOAD_MAX - len)
        return 0;
    if (ctx_len > 0)
        memcpy(end, ctx, ctx_len);
    return len + ctx_len;
}

int raft_members_decode(const uint8_t *in, uint32_t len, struct raft_members *members_out,
                        struct raft_members *old_out, const uint8_t **ctx_out,
                        uint32_t *ctx_len_out)
{
    const uint8_t *end = in + len;
    const uint8_t *p = members_get(in, end, members_out);
    if (p)
        p = members_get(p, end, old_out);
    if (!p || !members_valid(members_out) || !members_valid(old_out) ||
        members_voters(members_out) == 0)
        return -RAFT_EMALFORMED;
    if (ctx_out)
        *ctx_out = p;
    if (ctx_len_out)
        *ctx_len_out = (uint32_t)(end - p);
    return 0;
}

bool membership_entry_valid(const struct raft_entry *e)
{
    struct raft_members m, old;
    return raft_members_decode(e->payload, e->len, &m, &old, NULL, NULL) == 0;
}

/* ---- the configurations in the log ------------------------------------------------------- */

static void membership_set(struct raft *r)
{
    r->conf = r->conf_changes_count ? r->conf_changes[r->conf_changes_count - 1].conf
                                    : r->conf_committed;
    raft_progress_rebuild(r);
}

static void membership_push(struct raft *r, uint64_t index, const struct raft_config_state *c)
{
    if (r->conf_changes_count == RAFT_CONF_HISTORY) {
        /* Only the newest one or two can be uncommitted (a leader appends a MEMBERS entry
         * only once the previous one committed), so the oldest is committed: fold it. */
        r->conf_committed = r->conf_changes[0].conf;
        memmove(&r->conf_changes[0], &r->conf_changes[1],
                (RAFT_CONF_HISTORY - 1) * sizeof r->conf_changes[0]);
        r->conf_changes_count--;
    }
    r->conf_changes[r->conf_changes_count++] = (struct conf_change){.index = index, .conf = *c};
}

void membership_on_append(struct raft *r, const struct raft_entry *e)
{
    if (e->type != RAFT_ENTRY_MEMBERS)
        return;
    struct raft_config_state c;
    int rv = raft_members_decode(e->payload, e->len, &c.current, &c.previous, NULL, NULL);
    RAFT_ASSERT(rv == 0); /* checked when the message or proposal came in */
    membership_push(r, e->index, &c);
    membership_set(r);
}

void membership_on_truncate(struct raft *r, uint64_t from)
{
    uint32_t n = r->conf_changes_count;
    while (r->conf_changes_count > 0 &&
           r->conf_changes[r->conf_changes_count - 1].index >= from)
        r->conf_changes_count--;
    if (n != r->conf_changes_count)
        membership_set(r);
}

void membership_reset(struct raft *r, const struct raft_members *members,
                      const struct raft_members *old)
{
    r->conf_committed = (struct raft_config_state){.current = *members, .previous = *old};
    r->conf_changes_count = 0;
    membership_set(r);
}

/* At start: the configuration at the snapshot, then every MEMBERS entry after it. */
void membership_init(struct raft *r, const struct raft_boot *boot)
{
    r->conf_committed = (struct raft_config_state){.current = boot->members,
                                                   .previous = boot->members_old};
    r->conf_changes_count = 0;
    const struct raft_log_store *store = r->log.store;
    for (uint64_t i = boot->snapshot_index + 1; i <= boot->last_index; i++) {
        uint16_t type = 0;
        int rv = store->type(store->ctx, i, &type);
        RAFT_ASSERT(rv == 0);
        if (type != RAFT_ENTRY_MEMBERS)
            continue;
        struct raft_entry *e = &r->apply_scratch[0];
        rv = store->entry(store->ctx, i, e);
        RAFT_ASSERT(rv == 0);
        struct raft_config_state c;
        rv = raft_members_decode(e->payload, e->len, &c.current, &c.previous, NULL, NULL);
        RAFT_ASSERT(rv == 0);
        membership_push(r, i, &c);
    }
    r->conf = r->conf_changes_count ? r->conf_changes[r->conf_changes_count - 1].conf
                                    : r->conf_committed;
}

bool membership_changing(const struct raft *r)
{
    return r->conf.previous.count > 0 ||
           (r->conf_changes_count > 0 &&
            r->conf_changes[r->conf_changes_count - 1].index > r->commit_index);
}

/* Called once per ready batch: forget what is committed; as the leader, move on from a
 * committed joint configuration, and step down from one we are not a voter of. */
void membership_on_commit(struct raft *r)
{
    uint32_t committed = 0;
    while (committed < r->conf_changes_count &&
           r->conf_changes[committed].index <= r->commit_index)
        committed++;
    if (committed > 0) {
        r->conf_committed = r->conf_changes[committed - 1].conf;
        memmove(&r->conf_changes[0], &r->conf_changes[committed],
                (r->conf_changes_count - committed) * sizeof r->conf_changes[0]);
        r->conf_changes_count -= committed;
    }
    if (r->role != RAFT_LEADER || r->conf_changes_count > 0)
        return; /* the newest configuration is not committed yet */
    if (r->conf.previous.count > 0) {
        if (log_room(&r->log) == 0)
            return; /* next flush */
        uint8_t payload[RAFT_MEMBERS_ENCODED_MAX];
        struct raft_members none = {0};
        uint32_t len = raft_members_encode(&r->conf.current, &none, NULL, 0, payload);
        replication_append(r, RAFT_ENTRY_MEMBERS, payload, len);
    } else if (!config_is_voter(&r->conf, r->id)) {
        raft_become_follower(r, r->current_term, 0); /* thesis §4.2.2 */
    }
}

int raft_change_members(struct raft *r, const struct raft_members *next, const void *ctx,
                        uint32_t ctx_len)
{
    RAFT_ASSERT(!r->ready_pending);
    if (r->role != RAFT_LEADER)
        return -RAFT_ENOTLEADER;
    if (membership_changing(r))
        return -RAFT_ECHANGING;
    if (r->transfer_to)
        return -RAFT_ETRANSFER;
    if (!members_valid(next) || members_voters(next) == 0 || ctx_len > RAFT_MEMBERS_CONTEXT_MAX)
        return -RAFT_EINVAL;
    uint32_t ids = r->conf.current.count;
    for (uint32_t i = 0; i < next->count; i++)
        ids += !members_contains(&r->conf.current, next->members[i].id);
    if (ids > RAFT_MEMBERS_MAX)
        return -RAFT_EINVAL; /* the joint configuration would not fit */
    /* Until an entry of its term commits, a new leader may not know the latest committed
     * configuration (the single-server change bug, raft-dev 2015); wait for it. */
    if (!r->committed_in_term || log_room(&r->log) == 0)
        return -RAFT_EBUSY;
    bool joint = !members_same_voters(&r->conf.current, next);
    uint8_t payload[RAFT_PAYLOAD_MAX];
    struct raft_members none = {0};
    uint32_t len = raft_members_encode(next, joint ? &r->conf.current : &none, ctx, ctx_len,
                                       payload);
    RAFT_ASSERT(len > 0);
    replication_append(r, RAFT_ENTRY_MEMBERS, payload, len);
    return 0;
}

void raft_members(const struct raft *r, struct raft_members *members_out,
                  struct raft_members *old_out)
{
    *members_out = r->conf.current;
    if (old_out)
        *old_out = r->conf.previous;
}
