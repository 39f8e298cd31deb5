/* The simulated client: proposals whose bytes derive from a unique proposal id, sent to the
 * node it believes leads (sometimes to any node), acknowledged when that node applies the
 * entry at the returned index with the term of proposal time; linearizable reads through
 * raft_read_index, checked against every write that completed before the read was asked. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define LLU(x) ((unsigned long long)(x))

void client_init(struct world *w)
{
    struct client *cl = &w->cl;
    memset(cl, 0, sizeof *cl);
    cl->buf = sim_malloc(RAFT_PAYLOAD_MAX + 1);
    cl->leader_guess = 1;
}

void client_free(struct world *w)
{
    struct client *cl = &w->cl;
    free(cl->props);
    free(cl->reads);
    for (uint32_t i = 0; i <= SIM_NODES_MAX; i++) {
        free(cl->pending[i]);
        free(cl->rpending[i]);
    }
    free(cl->buf);
    memset(cl, 0, sizeof *cl);
}

/* The payload of proposal pid: its id first (when it fits), then a stream seeded by it. */
static void payload_fill(uint64_t pid, uint32_t len, uint8_t *buf)
{
    struct rng g = {.state = pid * 0xD1B54A32D192ED03ull};
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = i == 0 ? pid : rng_next(&g);
        for (uint32_t j = 0; j < 8 && i + j < len; j++)
            buf[i + j] = (uint8_t)(v >> (8 * j));
    }
}

static void list_add(uint64_t **list, uint64_t *count, uint64_t *cap, uint64_t pos)
{
    sim_grow((void **)list, cap, *count + 1, sizeof **list);
    (*list)[(*count)++] = pos;
}

/* Where the client sends: mostly where it believes the leader is. NULL: that node is down. */
static struct node *client_pick(struct world *w)
{
    uint64_t r = rng_below(&w->rng, 100);
    uint64_t id = w->cl.leader_guess;
    if (r >= 85)
        id = rng_range(&w->rng, 1, w->p.nodes_count);
    struct node *n = &w->nodes[id];
    return n->r ? n : NULL;
}

/* Proposes one entry on n. 0 and the proposal's position, or the core's error. */
int client_propose(struct world *w, struct node *n, uint64_t *pos_out)
{
    struct client *cl = &w->cl;
    uint32_t len = rng_ppm(&w->rng, w->p.big_payload_ppm)
                       ? (uint32_t)rng_range(&w->rng, 0, RAFT_PAYLOAD_MAX)
                       : (uint32_t)rng_range(&w->rng, 0, 48);
    uint16_t type = rng_below(&w->rng, 20) == 0
                        ? RAFT_ENTRY_SESSION
                        : (uint16_t)rng_range(&w->rng, RAFT_ENTRY_APP_MIN, RAFT_ENTRY_APP_MIN + 7);
    uint64_t pid = cl->props_count + 1;
    payload_fill(pid, len, cl->buf);
    struct raft_status before = n->st;
    uint64_t index = 0;
    int rc = raft_propose(n->r, type, cl->buf, len, &index);
    node_observe(w, n);
    if (w->failed)
        return rc;
    unsigned long long id = LLU(n->id);
    if (rc == 0) {
        if (before.role != RAFT_LEADER) {
            sim_fail(w, "node %llu (%s) accepted a proposal", id, "not leader");
            return rc;
        }
        if (index != before.last_index + 1 || n->st.last_index != index) {
            sim_fail(w, "node %llu: proposal got index %llu; last index was %llu, now %llu",
                     id, LLU(index), LLU(before.last_index), LLU(n->st.last_index));
            return rc;
        }
        sim_grow((void **)&cl->props, &cl->props_cap, cl->props_count + 1, sizeof *cl->props);
        uint64_t pos = cl->props_count++;
        cl->props[pos] = (struct proposal){
            .id = pid, .node = n->id, .incarnation = n->incarnation, .index = index,
            .term = before.term, .hash = entry_hash(type, len, cl->buf), .type = type,
            .state = PROP_PENDING};
        list_add(&cl->pending[n->id], &cl->pending_count[n->id], &cl->pending_cap[n->id], pos);
        cl->leader_guess = n->id;
        if (pos_out)
            *pos_out = pos;
        SIM_TRACE(w, "client propose p%llu to n%llu: index %llu term %llu type %u len %u",
                  LLU(pid), id, LLU(index), LLU(before.term), type, len);
        return 0;
    }
    if (rc == -RAFT_ENOTLEADER && before.role != RAFT_LEADER) {
        cl->leader_guess = before.leader_id ? before.leader_id
                                            : rng_range(&w->rng, 1, w->p.nodes_count);
    } else if (rc == -RAFT_EBUSY && before.role == RAFT_LEADER) {
        SIM_TRACE(w, "client propose to n%llu: busy", id);
    } else {
        sim_fail(w, "node %llu (%s, term %llu): raft_propose returned %d (%s)", id,
                 before.role == RAFT_LEADER ? "leader" : "not leader", LLU(before.term), rc,
                 raft_strerror(rc));
        return rc;
    }
    if (n->st.last_index != before.last_index)
        sim_fail(w, "node %llu: refused proposal changed last index %llu -> %llu", id,
                 LLU(before.last_index), LLU(n->st.last_index));
    return rc;
}

/* Proposals the core must refuse: a payload one byte too long, a reserved type. */
static void client_propose_bad(struct world *w, struct node *n)
{
    bool too_big = rng_below(&w->rng, 2);
    uint32_t len = too_big ? RAFT_PAYLOAD_MAX + 1 : 8;
    uint16_t type = too_big ? RAFT_ENTRY_APP_MIN
                            : (uint16_t)(rng_below(&w->rng, 2) ? RAFT_ENTRY_NOOP
                                                               : rng_range(&w->rng, 4, 63));
    memset(w->cl.buf, 0xEE, len);
    struct raft_status before = n->st;
    uint64_t index = 0;
    int rc = raft_propose(n->r, type, w->cl.buf, len, &index);
    node_observe(w, n);
    int want = too_big ? -RAFT_ETOOBIG : -RAFT_EINVAL;
    bool ok = rc == want || (rc == -RAFT_ENOTLEADER && before.role != RAFT_LEADER);
    SIM_TRACE(w, "client propose %s to n%llu: %d", too_big ? "oversized" : "reserved type",
              LLU(n->id), rc);
    if (!ok && !w->failed)
        sim_fail(w, "node %llu (%s): raft_propose(type %u, len %u) returned %d (%s), want %d",
                 LLU(n->id), before.role == RAFT_LEADER ? "leader" : "not leader", type, len,
                 rc, raft_strerror(rc), want);
    else if (n->st.last_index != before.last_index && !w->failed)
        sim_fail(w, "node %llu: refused proposal changed last index", LLU(n->id));
}

/* Asks n for a read barrier. 0, or the core's error. */
int client_read(struct world *w, struct node *n)
{
    struct client *cl = &w->cl;
    sim_grow((void **)&cl->reads, &cl->reads_cap, cl->reads_count + 1, sizeof *cl->reads);
    uint64_t pos = cl->reads_count++;
    uint64_t ctx = pos + 1;
    struct read_req *r = &cl->reads[pos];
    *r = (struct read_req){.node = n->id, .incarnation = n->incarnation,
                           .need_acked = cl->acked_max,
                           .need_committed = w->chk.committed_max, .state = READ_ASKED};
    struct raft_status before = n->st;
    int rc = raft_read_index(n->r, ctx);
    node_observe(w, n);
    if (w->failed)
        return rc;
    SIM_TRACE(w, "client read r%llu on n%llu: %d (needs >= %llu acked, %llu committed)",
              LLU(ctx), LLU(n->id), rc, LLU(r->need_acked), LLU(r->need_committed));
    if (rc == 0 && before.role == RAFT_LEADER) {
        list_add(&cl->rpending[n->id], &cl->rpending_count[n->id], &cl->rpending_cap[n->id],
                 pos);
        return 0;
    }
    r->state = READ_FAILED;
    if ((rc == -RAFT_ENOTLEADER && before.role != RAFT_LEADER) ||
        (rc == -RAFT_EBUSY && before.role == RAFT_LEADER))
        return rc;
    sim_fail(w, "node %llu (%s): raft_read_index returned %d (%s)", LLU(n->id),
             before.role == RAFT_LEADER ? "leader" : "not leader", rc, raft_strerror(rc));
    return rc;
}

void client_act(struct world *w)
{
    struct rng *g = &w->rng;
    if (rng_ppm(g, w->p.propose_ppm)) {
        struct node *n = client_pick(w);
        uint64_t count = rng_ppm(g, w->p.burst_ppm) ? rng_range(g, 2, 24) : 1;
        for (uint64_t i = 0; i < count && n && n->r && !w->failed; i++)
            if (client_propose(w, n, NULL) != 0)
                break;
    }
    if (rng_ppm(g, w->p.read_ppm) && !w->failed) {
        struct node *n = client_pick(w);
        if (n)
            client_read(w, n);
    }
    if (rng_ppm(g, 3000) && !w->failed) {
        struct node *n = &w->nodes[rng_range(g, 1, w->p.nodes_count)];
        if (n->r)
            client_propose_bad(w, n);
    }
}

/* Resolves n's pending proposals at indexes it has now applied, and completes its reads. */
void client_on_applied(struct world *w, struct node *n)
{
    struct client *cl = &w->cl;
    uint64_t id = n->id;
    uint64_t kept = 0;
    for (uint64_t i = 0; i < cl->pending_count[id]; i++) {
        uint64_t pos = cl->pending[id][i];
        struct proposal *p = &cl->props[pos];
        if (p->index > n->applied) {
            cl->pending[id][kept++] = pos;
            continue;
        }
        const struct known *k = check_known(w, p->index);
        if (!k || !k->has_hash) {
            sim_fail(w, "node %llu applied %llu but it is not known committed", LLU(id),
                     LLU(p->index));
            return;
        }
        if (k->term != p->term) {
            p->state = PROP_LOST;
            SIM_TRACE(w, "client p%llu lost: index %llu has term %llu, not %llu", LLU(p->id),
                      LLU(p->index), LLU(k->term), LLU(p->term));
        } else if (k->hash != p->hash) {
            sim_fail(w, "node %llu applied %llu/%llu with other content than proposal p%llu "
                     "it accepted there", LLU(id), LLU(p->index), LLU(p->term), LLU(p->id));
            return;
        } else {
            p->state = PROP_ACKED;
            cl->acked_count++;
            if (p->index > cl->acked_max)
                cl->acked_max = p->index;
            SIM_TRACE(w, "client p%llu ACKED at %llu/%llu", LLU(p->id), LLU(p->index),
                      LLU(p->term));
        }
    }
    cl->pending_count[id] = kept;

    kept = 0;
    for (uint64_t i = 0; i < cl->rpending_count[id]; i++) {
        uint64_t pos = cl->rpending[id][i];
        struct read_req *r = &cl->reads[pos];
        if (r->state == READ_WAIT_APPLY && r->index <= n->applied) {
            r->state = READ_DONE;
            cl->reads_done_count++;
            SIM_TRACE(w, "client read r%llu DONE at index %llu", LLU(pos + 1), LLU(r->index));
        } else {
            cl->rpending[id][kept++] = pos;
        }
    }
    cl->rpending_count[id] = kept;
}

void client_on_read(struct world *w, struct node *n, const struct raft_read *rd)
{
    struct client *cl = &w->cl;
    unsigned long long id = LLU(n->id);
    if (rd->ctx == 0 || rd->ctx > cl->reads_count) {
        sim_fail(w, "node %llu answered read ctx %llu, which was never asked", id,
                 LLU(rd->ctx));
        return;
    }
    struct read_req *r = &cl->reads[rd->ctx - 1];
    if (r->node != n->id || r->incarnation != n->incarnation) {
        sim_fail(w, "node %llu answered read r%llu asked of node %llu (incarnation %u, now %u)",
                 id, LLU(rd->ctx), LLU(r->node), r->incarnation, n->incarnation);
        return;
    }
    if (r->state != READ_ASKED) {
        sim_fail(w, "node %llu answered read r%llu twice", id, LLU(rd->ctx));
        return;
    }
    if (rd->status == -RAFT_ENOTLEADER) {
        r->state = READ_FAILED;
        SIM_TRACE(w, "client read r%llu on n%llu failed: not leader", LLU(rd->ctx), id);
    } else if (rd->status != 0) {
        sim_fail(w, "node %llu answered read r%llu with status %d", id, LLU(rd->ctx),
                 rd->status);
        return;
    } else if (rd->index < r->need_acked) {
        sim_fail(w, "linearizability: read r%llu on node %llu got index %llu, but a write "
                 "acknowledged before it was asked is at %llu", LLU(rd->ctx), id,
                 LLU(rd->index), LLU(r->need_acked));
        return;
    } else if (rd->index < r->need_committed) {
        sim_fail(w, "linearizability: read r%llu on node %llu got index %llu, but index %llu "
                 "was known committed before it was asked", LLU(rd->ctx), id, LLU(rd->index),
                 LLU(r->need_committed));
        return;
    } else {
        r->index = rd->index;
        r->state = READ_WAIT_APPLY;
        SIM_TRACE(w, "client read r%llu on n%llu: index %llu", LLU(rd->ctx), id,
                  LLU(rd->index));
    }
    /* drop it from the node's list if finished; complete it if already applied */
    client_on_applied(w, n);
    if (r->state == READ_FAILED) {
        uint64_t kept = 0;
        for (uint64_t i = 0; i < cl->rpending_count[n->id]; i++)
            if (cl->rpending[n->id][i] != rd->ctx - 1)
                cl->rpending[n->id][kept++] = cl->rpending[n->id][i];
        cl->rpending_count[n->id] = kept;
    }
}

/* A crash drops the connections: outcomes of pending work become unknown. */
void client_on_crash(struct world *w, struct node *n)
{
    struct client *cl = &w->cl;
    for (uint64_t i = 0; i < cl->pending_count[n->id]; i++)
        cl->props[cl->pending[n->id][i]].state = PROP_ABANDONED;
    cl->pending_count[n->id] = 0;
    for (uint64_t i = 0; i < cl->rpending_count[n->id]; i++)
        cl->reads[cl->rpending[n->id][i]].state = READ_ABANDONED;
    cl->rpending_count[n->id] = 0;
}

/* After liveness: every acknowledged entry is still known committed with its term, on
 * every disk and in every node's applied sequence; every read on a live node answered. */
void client_check_final(struct world *w)
{
    struct client *cl = &w->cl;
    for (uint64_t i = 0; i < cl->props_count && !w->failed; i++) {
        const struct proposal *p = &cl->props[i];
        if (p->state != PROP_ACKED)
            continue;
        const struct known *k = check_known(w, p->index);
        if (!k || k->term != p->term || !k->has_hash || k->hash != p->hash) {
            sim_fail(w, "acknowledged p%llu (%llu/%llu) is no longer known committed",
                     LLU(p->id), LLU(p->index), LLU(p->term));
            return;
        }
        for (uint32_t j = 1; j <= w->p.nodes_count; j++) {
            const struct node *n = &w->nodes[j];
            const struct disk *d = &n->disk;
            if (p->index > d->last_index || d->log[p->index - 1].term != p->term ||
                d->log[p->index - 1].hash != p->hash) {
                sim_fail(w, "acknowledged p%llu (%llu/%llu) is missing from node %u's disk",
                         LLU(p->id), LLU(p->index), LLU(p->term), j);
                return;
            }
            if (n->applied < p->index) {
                sim_fail(w, "acknowledged p%llu (%llu/%llu) not applied by node %u (at %llu)",
                         LLU(p->id), LLU(p->index), LLU(p->term), j, LLU(n->applied));
                return;
            }
        }
    }
    for (uint32_t j = 1; j <= w->p.nodes_count && !w->failed; j++) {
        for (uint64_t i = 0; i < cl->rpending_count[j]; i++) {
            const struct read_req *r = &cl->reads[cl->rpending[j][i]];
            sim_fail(w, "read r%llu on node %u was never %s", LLU(cl->rpending[j][i] + 1), j,
                     r->state == READ_ASKED ? "answered" : "served (index not applied)");
            return;
        }
    }
}
