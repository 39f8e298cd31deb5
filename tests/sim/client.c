/* The simulated client: proposals whose bytes derive from a unique proposal id, sent to the
 * node it believes leads (sometimes to any node), acknowledged when that node applies the
 * entry at the returned index with the term of proposal time; linearizable reads through
 * raft_read_index, checked against every write that completed before the read was asked;
 * and an operator who changes the membership and hands leadership over, checking what the
 * core answers and that a transfer ends in time. */
#include <stdio.h>
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
    for (uint32_t i = 0; i <= SIM_POOL_MAX; i++) {
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
        id = rng_range(&w->rng, 1, w->p.pool_count);
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
        if (before.transfer_to) {
            sim_fail(w, "node %llu accepted a proposal while transferring leadership to %llu",
                     id, LLU(before.transfer_to));
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
                                            : rng_range(&w->rng, 1, w->p.pool_count);
    } else if (rc == -RAFT_EBUSY && before.role == RAFT_LEADER && !before.transfer_to) {
        SIM_TRACE(w, "client propose to n%llu: busy", id);
    } else if (rc == -RAFT_ETRANSFER && before.role == RAFT_LEADER && before.transfer_to) {
        SIM_TRACE(w, "client propose to n%llu: transferring to %llu", id,
                  LLU(before.transfer_to));
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

/* ---- membership changes and leadership transfers ------------------------------------------ */

/* Where membership requests go: mostly the current leader, sometimes anyone. */
static struct node *client_pick_admin(struct world *w)
{
    struct node *best = NULL;
    for (uint32_t i = 1; i <= w->p.pool_count; i++) {
        struct node *n = &w->nodes[i];
        if (node_is_leader(n) && (!best || n->st.term > best->st.term))
            best = n;
    }
    if (!best || rng_below(&w->rng, 10) == 0) {
        best = &w->nodes[rng_range(&w->rng, 1, w->p.pool_count)];
        if (!best->r)
            return NULL;
    }
    return best;
}

static void members_put(struct raft_members *m, uint64_t id, uint8_t role)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (m->members[i].id == id) {
            m->members[i].role = role;
            return;
        }
    m->members[m->count++] = (struct raft_member){.id = id, .role = role};
}

static void members_drop(struct raft_members *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (m->members[i].id == id) {
            m->members[i] = m->members[--m->count];
            return;
        }
}

/* A random member of m with the given role (0: any role), or 0. */
static uint64_t members_pick(struct world *w, const struct raft_members *m, uint8_t role)
{
    uint64_t ids[RAFT_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++)
        if (!role || m->members[i].role == role)
            ids[n++] = m->members[i].id;
    return n ? ids[rng_below(&w->rng, n)] : 0;
}

/* A learner of m that is caught up with the leader (match within a few entries of its
 * last index), or 0. */
static uint64_t client_caught_up_learner(struct world *w, struct node *leader,
                                         const struct raft_members *m)
{
    uint64_t slack = rng_below(&w->rng, 5);
    for (uint32_t k = 0, start = (uint32_t)rng_below(&w->rng, m->count + 1); k < m->count; k++) {
        const struct raft_member *x = &m->members[(start + k) % m->count];
        uint64_t match = 0;
        if (x->role == RAFT_LEARNER && raft_match_index(leader->r, x->id, &match) == 0 &&
            match + slack >= leader->st.last_index)
            return x->id;
    }
    return 0;
}

/* The client asks for a membership change: toward a number of voters it picks now and
 * then (1 to the number of servers, so the cluster shrinks to one voter and grows again), by
 * adding spares as learners, promoting caught-up learners, removing or demoting voters
 * (the leader too), several at once (a joint change), or something invalid. */
void client_change_members(struct world *w)
{
    struct client *cl = &w->cl;
    struct rng *g = &w->rng;
    struct node *n = client_pick_admin(w);
    if (!n)
        return;
    if (cl->voters_target == 0 || rng_below(g, 50) == 0)
        cl->voters_target = (uint32_t)rng_range(g, 1, w->p.pool_count);
    struct raft_members cur, old, next;
    raft_members(n->r, &cur, &old);
    next = cur;
    uint32_t voters = members_voter_count(&cur);
    bool is_leader = n->st.role == RAFT_LEADER;
    bool want_invalid = rng_below(g, 40) == 0;
    const char *what = "";
    uint64_t spare = 0;
    uint64_t spares[SIM_POOL_MAX];
    uint32_t spares_count = 0;
    for (uint64_t id = 1; id <= w->p.pool_count; id++)
        if (!members_role(&cur, id))
            spares[spares_count++] = id;
    if (spares_count)
        spare = spares[rng_below(g, spares_count)];
    uint64_t learner = is_leader ? client_caught_up_learner(w, n, &cur) : 0;

    if (want_invalid) {
        uint64_t k = rng_below(g, 3);
        if (k == 0) { /* no voter left */
            for (uint32_t i = 0; i < next.count; i++)
                next.members[i].role = RAFT_LEARNER;
            what = "invalid: no voters";
        } else if (k == 1 && next.count > 0 && next.count < RAFT_MEMBERS_MAX) {
            next.members[next.count] = next.members[0];
            next.members[next.count].role = RAFT_LEARNER;
            next.count++;
            what = "invalid: a server twice";
        } else {
            next.members[0].role = 7;
            what = "invalid: a bad role";
        }
    } else if (rng_below(g, 8) == 0 && voters >= 2 && (learner || spare)) {
        /* replace up to two voters at once: a joint change */
        uint32_t out = (uint32_t)rng_range(g, 1, voters >= 3 ? 2 : 1);
        for (uint32_t i = 0; i < out; i++)
            members_drop(&next, members_pick(w, &next, RAFT_VOTER));
        if (learner)
            members_put(&next, learner, RAFT_VOTER);
        else
            members_put(&next, spare, RAFT_VOTER); /* straight in as a voter: allowed */
        if (out == 2 && spare && spare != learner && rng_below(g, 2))
            members_put(&next, spare, RAFT_VOTER);
        if (members_voter_count(&next) == 0)
            return;
        what = "replace voters";
    } else if (voters < cl->voters_target || (voters == cl->voters_target && rng_below(g, 2))) {
        /* grow: promote a caught-up learner, else add a spare as a learner */
        if (learner && voters < cl->voters_target) {
            members_put(&next, learner, RAFT_VOTER);
            what = "promote a learner";
        } else if (spare) {
            members_put(&next, spare, rng_below(g, 16) == 0 ? RAFT_VOTER : RAFT_LEARNER);
            what = "add a spare";
        } else {
            uint64_t x = members_pick(w, &next, RAFT_LEARNER);
            if (!x)
                return;
            members_drop(&next, x);
            what = "remove a learner";
        }
    } else {
        /* shrink: remove or demote a voter (sometimes the leader itself), or a learner */
        uint64_t x = members_pick(w, &next, rng_below(g, 4) ? RAFT_VOTER : 0);
        if (rng_below(g, 6) == 0 && members_role(&next, n->id) == RAFT_VOTER)
            x = n->id;
        if (!x)
            return;
        if (members_role(&next, x) == RAFT_VOTER && voters <= 1)
            return; /* keep one voter */
        if (members_role(&next, x) == RAFT_VOTER && rng_below(g, 4) == 0) {
            members_put(&next, x, RAFT_LEARNER);
            what = "demote a voter";
        } else {
            members_drop(&next, x);
            what = x == n->id ? "remove the leader" : "remove a member";
        }
    }

    uint32_t ctx_len = rng_below(g, 4) == 0 ? 0
                     : rng_below(g, 50) == 0 ? (uint32_t)rng_range(g, 0, RAFT_MEMBERS_CONTEXT_MAX)
                                              : (uint32_t)rng_range(g, 1, 40);
    members_ctx_fill(&next, ctx_len, cl->buf);
    struct raft_status before = n->st;
    int rc = raft_change_members(n->r, &next, cl->buf, ctx_len);
    node_observe(w, n);
    if (w->failed)
        return;
    char a[200], b[200];
    members_describe(&cur, &old, a, sizeof a);
    members_describe(&next, NULL, b, sizeof b);
    SIM_TRACE(w, "client members on n%llu (%s): %s -> %s (%s): %d", LLU(n->id),
              raft_role_name(before.role), a, b, what, rc);
    int want = before.role != RAFT_LEADER ? -RAFT_ENOTLEADER
             : before.changing            ? -RAFT_ECHANGING
             : before.transfer_to         ? -RAFT_ETRANSFER
             : want_invalid               ? -RAFT_EINVAL
                                          : 0;
    if (rc != want && !(want == 0 && rc == -RAFT_EBUSY)) {
        sim_fail(w, "node %llu (%s, term %llu%s%s): raft_change_members(%s -> %s) returned %d "
                 "(%s), want %d", LLU(n->id), raft_role_name(before.role), LLU(before.term),
                 before.changing ? ", changing" : "", before.transfer_to ? ", transferring" : "",
                 a, b, rc, raft_strerror(rc), want);
        return;
    }
    if (rc != 0) {
        if (n->st.last_index != before.last_index)
            sim_fail(w, "node %llu: refused membership change changed last index %llu -> %llu",
                     LLU(n->id), LLU(before.last_index), LLU(n->st.last_index));
        return;
    }
    struct raft_members now, now_old;
    raft_members(n->r, &now, &now_old);
    bool joint = members_voter_count(&next) != voters;
    for (uint32_t i = 0; i < next.count && !joint; i++)
        joint = (next.members[i].role == RAFT_VOTER) !=
                (members_role(&cur, next.members[i].id) == RAFT_VOTER);
    struct raft_members none = {0};
    if (!members_equal(&now, &next) || !members_equal(&now_old, joint ? &cur : &none) ||
        n->st.last_index != before.last_index + 1 || !n->st.changing) {
        members_describe(&now, &now_old, a, sizeof a);
        sim_fail(w, "node %llu: after raft_change_members(%s) its configuration is %s (last "
                 "index %llu -> %llu, changing %d)", LLU(n->id), b, a, LLU(before.last_index),
                 LLU(n->st.last_index), n->st.changing);
        return;
    }
    cl->changes_count++;
}

/* The client asks the leader to hand over to a voter (sometimes to something it must
 * refuse: itself, a learner, a stranger). */
void client_transfer(struct world *w)
{
    struct client *cl = &w->cl;
    struct node *n = client_pick_admin(w);
    if (!n)
        return;
    struct raft_members cur, old;
    raft_members(n->r, &cur, &old);
    uint64_t to = members_pick(w, rng_below(&w->rng, 2) || old.count == 0 ? &cur : &old, 0);
    if (rng_below(&w->rng, 10) == 0 || !to)
        to = rng_range(&w->rng, 1, w->p.pool_count);
    bool voter = members_role(&cur, to) == RAFT_VOTER || members_role(&old, to) == RAFT_VOTER;
    struct raft_status before = n->st;
    int rc = raft_transfer_leader(n->r, to);
    node_observe(w, n);
    if (w->failed)
        return;
    SIM_TRACE(w, "client transfer on n%llu (%s) to %llu: %d", LLU(n->id),
              raft_role_name(before.role), LLU(to), rc);
    int want = before.role != RAFT_LEADER ? -RAFT_ENOTLEADER
             : to == n->id || !voter      ? -RAFT_EINVAL
                                          : 0;
    if (rc != want) {
        sim_fail(w, "node %llu (%s): raft_transfer_leader(%llu) returned %d (%s), want %d",
                 LLU(n->id), raft_role_name(before.role), LLU(to), rc, raft_strerror(rc), want);
        return;
    }
    if (rc != 0)
        return;
    if (n->st.transfer_to != to) {
        sim_fail(w, "node %llu: transferring to %llu, but its status says %llu", LLU(n->id),
                 LLU(to), LLU(n->st.transfer_to));
        return;
    }
    cl->transfers_count++;
    cl->xfer.active = true;
    cl->xfer.leader = n->id;
    cl->xfer.incarnation = n->incarnation;
    cl->xfer.term = n->st.term;
    cl->xfer.to = to;
    cl->xfer.start_tick = world_tick(w);
}

/* A transfer ends within an election timeout of the leader's (thesis §3.10): the target
 * leads, or the leader gave up and serves again; it may also lose leadership. After it
 * ended, the target taking over within a while counts as done (for the summary). */
void client_check_transfer(struct world *w)
{
    struct client *cl = &w->cl;
    if (!cl->xfer.leader)
        return;
    const struct node *t = &w->nodes[cl->xfer.to];
    if (node_is_leader(t) && t->st.term > cl->xfer.term) {
        cl->transfers_done_count++;
        SIM_TRACE(w, "client transfer to %llu DONE in term %llu", LLU(t->id), LLU(t->st.term));
        memset(&cl->xfer, 0, sizeof cl->xfer);
        return;
    }
    uint64_t now = world_tick(w), election = w->p.cfg.election_ticks;
    if (!cl->xfer.active) {
        if (now > cl->xfer.watch_until)
            memset(&cl->xfer, 0, sizeof cl->xfer);
        return;
    }
    const struct node *n = &w->nodes[cl->xfer.leader];
    if (!n->r || n->incarnation != cl->xfer.incarnation || n->st.role != RAFT_LEADER ||
        n->st.term != cl->xfer.term || n->st.transfer_to != cl->xfer.to) {
        cl->xfer.active = false; /* abandoned, or the leader stepped down */
        cl->xfer.watch_until = now + 2 * election;
        SIM_TRACE(w, "client transfer to %llu over at n%llu after %llu ticks", LLU(cl->xfer.to),
                  LLU(n->id), LLU(now - cl->xfer.start_tick));
        return;
    }
    if (now - cl->xfer.start_tick > 2 * election + 2)
        sim_fail(w, "leadership transfer: node %llu still transfers to %llu after %llu ticks "
                 "(term %llu): neither done nor abandoned", LLU(n->id), LLU(cl->xfer.to),
                 LLU(now - cl->xfer.start_tick), LLU(cl->xfer.term));
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
        struct node *n = &w->nodes[rng_range(g, 1, w->p.pool_count)];
        if (n->r)
            client_propose_bad(w, n);
    }
    /* (no draw for a feature that is off: with all off, the seeds of the simulator before
     * membership, snapshots and transfers replay exactly) */
    if (w->p.member_ppm && rng_ppm(g, w->p.member_ppm) && !w->failed)
        client_change_members(w);
    if (w->p.transfer_ppm && rng_ppm(g, w->p.transfer_ppm) && !w->failed)
        client_transfer(w);
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
 * the disk (in the log or inside the snapshot) and in the applied sequence of every member
 * of the final configuration; every read on a live node answered. */
void client_check_final(struct world *w, const bool *members)
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
        for (uint32_t j = 1; j <= w->p.pool_count; j++) {
            if (!members[j])
                continue; /* removed servers are exempt */
            const struct node *n = &w->nodes[j];
            const struct disk *d = &n->disk;
            const struct sim_entry *e = disk_entry(d, p->index);
            bool in_snapshot = d->snap.set && p->index <= d->snap.index;
            if (!in_snapshot && (!e || e->term != p->term || e->hash != p->hash)) {
                sim_fail(w, "acknowledged p%llu (%llu/%llu) is missing from node %u's disk "
                         "(snapshot %llu, log %llu..%llu)", LLU(p->id), LLU(p->index),
                         LLU(p->term), j, LLU(d->snap.index), LLU(d->first_index),
                         LLU(d->last_index));
                return;
            }
            if (n->applied < p->index) {
                sim_fail(w, "acknowledged p%llu (%llu/%llu) not applied by node %u (at %llu)",
                         LLU(p->id), LLU(p->index), LLU(p->term), j, LLU(n->applied));
                return;
            }
        }
    }
    for (uint32_t j = 1; j <= w->p.pool_count && !w->failed; j++) {
        for (uint64_t i = 0; i < cl->rpending_count[j]; i++) {
            const struct read_req *r = &cl->reads[cl->rpending[j][i]];
            sim_fail(w, "read r%llu on node %u was never %s", LLU(cl->rpending[j][i] + 1), j,
                     r->state == READ_ASKED ? "answered" : "served (index not applied)");
            return;
        }
    }
}
