/* Admin requests: membership changes, leadership transfer, snapshots, backups. Each is
 * started at once and answered when it is done, which the server checks after every ready
 * drain. */
#include <string.h>

#include "server_int.h"

static uint64_t admin_read_seq; /* read barrier contexts of admin requests */

static struct admin *admin_new(struct server *s, struct client *c, const struct wire_request *rq,
                               uint8_t kind, uint64_t arg)
{
    for (uint32_t i = 0; i < SERVER_ADMIN_MAX; i++) {
        struct admin *a = &s->admins[i];
        if (a->kind)
            continue;
        *a = (struct admin){.kind = kind, .client_slot = c->slot, .client_gen = c->gen,
                            .request_id = rq->request_id, .arg = arg};
        return a;
    }
    return NULL;
}

static void admin_answer(struct server *s, struct admin *a, int status, const void *data,
                         uint32_t len)
{
    struct client *c = clients_get(s, a->client_slot, a->client_gen);
    if (c) {
        struct wire_response rs = {.request_id = a->request_id, .status = status,
                                   .data = data, .data_len = len};
        if (status == -LUM_ENOTLEADER || status == -LUM_ENOSPC)
            clients_leader_hint(s, &rs);
        clients_respond(s, c, &rs);
    }
    a->kind = 0;
}

/* The configuration the client asks for, checked: addresses for every newcomer, and a
 * learner becomes a voter only once it is nearly caught up (thesis §4.2.1). */
static int admin_members(struct server *s, const struct wire_request *rq, uint64_t *index_out)
{
    struct wire_member want[RAFT_MEMBERS_MAX];
    uint32_t n;
    if (wire_decode_members(rq->body, rq->body_len, want, &n) != 0)
        return -LUM_EINVAL;
    struct raft_members now, old, next = {.count = n};
    raft_members(s->raft, &now, &old);
    struct raft_status st;
    raft_status(s->raft, &st);
    if (st.changing)
        return -RAFT_ECHANGING; /* before anything else: the clearest answer */
    for (uint32_t i = 0; i < n; i++) {
        next.members[i] = (struct raft_member){.id = want[i].id, .role = want[i].role};
        bool known = server_member(s, want[i].id) != NULL;
        if (!known && (!want[i].peer_addr[0] || !want[i].client_addr[0]))
            return -LUM_EINVAL; /* a newcomer needs its addresses */
        bool was_learner = false;
        for (uint32_t k = 0; k < now.count; k++)
            was_learner |= now.members[k].id == want[i].id && now.members[k].role == RAFT_LEARNER;
        uint64_t match = 0;
        if (was_learner && want[i].role == RAFT_VOTER &&
            (raft_match_index(s->raft, want[i].id, &match) != 0 ||
             match + s->cfg.catchup_entries < st.last_index))
            return -LUM_EAGAIN; /* not caught up yet: ask again */
    }
    uint8_t ctx[RAFT_MEMBERS_CONTEXT_MAX];
    uint32_t len = book_encode(want, n, ctx, sizeof ctx);
    if (len == 0)
        return -LUM_ETOOBIG;
    int rv = raft_change_members(s->raft, &next, ctx, len);
    if (rv != 0)
        return rv;
    /* the leader dials newcomers now, and shows their addresses while the change runs */
    for (uint32_t i = 0; i < n; i++) {
        book_set(s, want[i].id, want[i].peer_addr, want[i].client_addr);
        peers_ensure(s, want[i].id);
    }
    raft_status(s->raft, &st);
    *index_out = st.last_index; /* the MEMBERS entry just appended */
    return 0;
}

/* A backup's ask answered now: a chunk, or why not. */
static void admin_backup_answer(struct server *s, struct admin *a,
                                const struct wire_backup_ask *ask)
{
    struct wire_response rs = {0};
    int rv = backup_serve(s, ask, &rs);
    admin_answer(s, a, rv, rv == 0 ? rs.data : NULL, rv == 0 ? rs.data_len : 0);
}

/* A backup start waits for a snapshot that includes a->arg, the index of its read barrier:
 * every write acknowledged anywhere before the backup was asked (thesis §6.4; a leader that
 * was deposed without knowing it fails the barrier instead of saving a stale state). The
 * snapshot is started here if none is being written. */
static void admin_backup_snapshot(struct server *s, struct admin *a)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    if (s->snap_child || s->nospace || st.applied_index < a->arg)
        return; /* the running one may do; else the next drain starts one */
    /* here the newest snapshot is older than a->arg, or damaged: either way a new one */
    int rv = snapshot_start(s);
    if (rv != 0 && rv != -LUM_EBUSY)
        admin_answer(s, a, rv, NULL, 0);
}

void admin_read_done(struct server *s, const struct raft_read *r)
{
    for (uint32_t i = 0; i < SERVER_ADMIN_MAX; i++) {
        struct admin *a = &s->admins[i];
        if (a->kind != ADMIN_BACKUP || a->arg != 0 || a->read_ctx != r->ctx)
            continue;
        if (r->status != 0)
            admin_answer(s, a, r->status, NULL, 0); /* not the leader after all */
        else
            a->arg = r->index > 0 ? r->index : 1; /* admin_progress takes it from here */
        return;
    }
}

int admin_request(struct server *s, struct client *c, const struct wire_request *rq)
{
    int refused = server_refusal(s); /* a full disk: the core cannot take a change now */
    if (refused != 0) {
        struct admin tmp = {.client_slot = c->slot, .client_gen = c->gen,
                            .request_id = rq->request_id};
        admin_answer(s, &tmp, refused, NULL, 0);
        return 0;
    }
    struct raft_status st;
    raft_status(s->raft, &st);
    int rv = 0;
    uint64_t arg = 0, read_ctx = 0;
    uint8_t kind = 0;
    switch (rq->op) {
    case WIRE_OP_MEMBERS:
        kind = ADMIN_MEMBERS;
        rv = st.role != RAFT_LEADER ? -LUM_ENOTLEADER : admin_members(s, rq, &arg);
        break;
    case WIRE_OP_TRANSFER:
        kind = ADMIN_TRANSFER;
        if (rq->body_len != 8)
            rv = -LUM_EINVAL;
        else if (st.role != RAFT_LEADER)
            rv = -LUM_ENOTLEADER;
        else
            rv = raft_transfer_leader(s->raft, arg = lum_get_u64(rq->body));
        break;
    case WIRE_OP_SNAPSHOT:
        kind = ADMIN_SNAPSHOT;
        if (st.role != RAFT_LEADER)
            rv = -LUM_ENOTLEADER; /* "on the leader": the client follows the hint */
        break;
    case WIRE_OP_BACKUP: {
        kind = ADMIN_BACKUP;
        struct wire_backup_ask ask;
        if (wire_decode_backup_ask(rq->body, rq->body_len, &ask) != 0) {
            rv = -LUM_EINVAL;
        } else if (st.role != RAFT_LEADER) {
            rv = -LUM_ENOTLEADER;
        } else if (ask.index != 0) { /* the next piece of a pinned snapshot */
            struct admin now = {.client_slot = c->slot, .client_gen = c->gen,
                                .request_id = rq->request_id};
            admin_backup_answer(s, &now, &ask);
            return 0;
        } else { /* a start: first make sure we lead, and learn the index to include */
            read_ctx = ADMIN_READ_CTX | ++admin_read_seq;
            rv = raft_read_index(s->raft, read_ctx);
        }
        break;
    }
    default:
        rv = -LUM_EINVAL;
    }
    struct admin *a = rv == 0 ? admin_new(s, c, rq, kind, arg) : NULL;
    if (rv == 0 && !a)
        rv = -LUM_EBUSY; /* a barrier asked for meanwhile finds no admin: ignored */
    if (a)
        a->read_ctx = read_ctx;
    if (rv != 0) {
        struct admin tmp = {.client_slot = c->slot, .client_gen = c->gen,
                            .request_id = rq->request_id};
        admin_answer(s, &tmp, rv, NULL, 0);
        return 0;
    }
    if (kind == ADMIN_SNAPSHOT) {
        rv = snapshot_start(s);
        if (rv != 0 && rv != -LUM_EBUSY) /* busy: it is answered when the running one ends */
            admin_answer(s, a, rv, NULL, 0);
    }
    return 0;
}

void admin_progress(struct server *s)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    for (uint32_t i = 0; i < SERVER_ADMIN_MAX; i++) {
        struct admin *a = &s->admins[i];
        if (a->kind == ADMIN_MEMBERS) {
            if (st.applied_index >= a->arg && !st.changing)
                admin_answer(s, a, 0, NULL, 0);
            else if (st.role != RAFT_LEADER)
                admin_answer(s, a, -LUM_ENOTLEADER, NULL, 0); /* outcome unknown */
        } else if (a->kind == ADMIN_BACKUP) {
            if (st.role != RAFT_LEADER) {
                admin_answer(s, a, -LUM_ENOTLEADER, NULL, 0);
            } else if (a->arg == 0) {
                /* the barrier has not answered yet */
            } else if (s->snap_index >= a->arg && !s->snap_damaged) {
                struct wire_backup_ask start = {0};
                admin_backup_answer(s, a, &start);
            } else {
                admin_backup_snapshot(s, a);
            }
        } else if (a->kind == ADMIN_TRANSFER) {
            if (st.leader_id == a->arg)
                admin_answer(s, a, 0, NULL, 0);
            else if ((st.role == RAFT_LEADER && st.transfer_to == 0) ||
                     (st.leader_id != 0 && st.leader_id != s->cfg.id))
                admin_answer(s, a, -LUM_ETIMEDOUT, NULL, 0);
        }
    }
}

void admin_snapshot_done(struct server *s, uint64_t index)
{
    uint8_t data[8];
    lum_put_u64(data, index);
    for (uint32_t i = 0; i < SERVER_ADMIN_MAX; i++) {
        if (s->admins[i].kind == ADMIN_SNAPSHOT)
            admin_answer(s, &s->admins[i], index ? 0 : -LUM_EIO, data, index ? 8 : 0);
        else if (s->admins[i].kind == ADMIN_BACKUP && s->admins[i].arg != 0 && index == 0)
            admin_answer(s, &s->admins[i], -LUM_EIO, NULL, 0); /* the snapshot failed */
    }
}
