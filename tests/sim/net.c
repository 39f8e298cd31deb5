/* The simulated network: every message is deep-copied when sent (entries keep only their
 * len payload bytes) and delivered after a random delay, so messages reorder; in the chaos
 * phase some are dropped, some duplicated, some held for a long time; partitions cut links
 * (one-way or both) and are applied at delivery time. Messages reach any server, whatever
 * the configuration says.
 *
 * A SNAPSHOT message stands for a snapshot transfer: the sender's data is streamed for a
 * while (longer than a message takes), never duplicated, and lost if the message would be
 * dropped, if either direction of the link is cut when it lands, or if either end is down
 * by then (the sender must be the same incarnation throughout). When it lands the
 * receiver steps the SNAPSHOT with the membership the data records, and the sender, if
 * still up, hears how the transfer went (raft_snapshot_report). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define LLU(x) ((unsigned long long)(x))

void net_init(struct world *w)
{
    struct net *net = &w->net;
    memset(net, 0, sizeof *net);
    /* calloc: bytes past an entry's len are never uninitialised, whatever the core copies */
    net->scratch = calloc(w->p.cfg.max_batch, sizeof *net->scratch);
    if (!net->scratch)
        abort();
}

void net_free(struct world *w)
{
    struct net *net = &w->net;
    for (uint64_t i = 0; i < net->count; i++)
        free(net->heap[i]);
    free(net->heap);
    free(net->scratch);
    memset(net, 0, sizeof *net);
}

/* ---- the delivery queue: a binary min-heap on (at, seq) ------------------------------------- */

static bool msg_before(const struct net_msg *a, const struct net_msg *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct net *net, struct net_msg *q)
{
    sim_grow((void **)&net->heap, &net->cap, net->count + 1, sizeof *net->heap);
    uint64_t i = net->count++;
    while (i > 0) {
        uint64_t parent = (i - 1) / 2;
        if (!msg_before(q, net->heap[parent]))
            break;
        net->heap[i] = net->heap[parent];
        i = parent;
    }
    net->heap[i] = q;
}

static struct net_msg *heap_pop(struct net *net)
{
    struct net_msg *top = net->heap[0];
    struct net_msg *last = net->heap[--net->count];
    uint64_t i = 0;
    for (;;) {
        uint64_t child = 2 * i + 1;
        if (child >= net->count)
            break;
        if (child + 1 < net->count && msg_before(net->heap[child + 1], net->heap[child]))
            child++;
        if (!msg_before(net->heap[child], last))
            break;
        net->heap[i] = net->heap[child];
        i = child;
    }
    if (net->count > 0)
        net->heap[i] = last;
    return top;
}

uint64_t net_last_delivery(const struct world *w)
{
    uint64_t last = w->now;
    for (uint64_t i = 0; i < w->net.count; i++)
        if (w->net.heap[i]->at > last)
            last = w->net.heap[i]->at;
    return last;
}

/* ---- messages ------------------------------------------------------------------------------- */

const char *msg_describe(const struct raft_msg *m, char *buf, size_t size)
{
    const char *name = raft_msg_type_name(m->type);
    int k = snprintf(buf, size, "%s %llu->%llu t%llu", name, LLU(m->from), LLU(m->to),
                     LLU(m->term));
    if (k < 0 || (size_t)k >= size)
        return buf;
    char *p = buf + k;
    size_t left = size - (size_t)k;
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        snprintf(p, left, " last %llu/%llu%s", LLU(m->vote.last_log_index),
                 LLU(m->vote.last_log_term), m->vote.transfer ? " (transfer)" : "");
        break;
    case RAFT_MSG_SNAPSHOT:
        snprintf(p, left, " snapshot %llu/%llu", LLU(m->snapshot.index),
                 LLU(m->snapshot.term));
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        snprintf(p, left, " %s", m->vote_resp.granted ? "granted" : "refused");
        break;
    case RAFT_MSG_APPEND:
        if (m->append.n_entries)
            snprintf(p, left, " prev %llu/%llu entries %llu..%llu commit %llu",
                     LLU(m->append.prev_log_index), LLU(m->append.prev_log_term),
                     LLU(m->append.prev_log_index + 1),
                     LLU(m->append.prev_log_index + m->append.n_entries),
                     LLU(m->append.leader_commit));
        else
            snprintf(p, left, " prev %llu/%llu no entries commit %llu",
                     LLU(m->append.prev_log_index), LLU(m->append.prev_log_term),
                     LLU(m->append.leader_commit));
        break;
    case RAFT_MSG_APPEND_RESP:
        if (m->append_resp.success)
            snprintf(p, left, " ok last %llu", LLU(m->append_resp.last_index));
        else
            snprintf(p, left, " refused at %llu hint %llu/%llu", LLU(m->append_resp.last_index),
                     LLU(m->append_resp.hint_index), LLU(m->append_resp.hint_term));
        break;
    case RAFT_MSG_HEARTBEAT:
        snprintf(p, left, " commit %llu ctx %llu", LLU(m->heartbeat.commit),
                 LLU(m->heartbeat.ctx));
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        snprintf(p, left, " ctx %llu", LLU(m->heartbeat_resp.ctx));
        break;
    default:
        break;
    }
    return buf;
}

/* One allocation: the header, the compact entries, then their payload bytes. */
static struct net_msg *net_msg_copy(const struct raft_msg *m)
{
    uint32_t count = m->type == RAFT_MSG_APPEND ? m->append.n_entries : 0;
    size_t bytes = 0;
    for (uint32_t i = 0; i < count; i++)
        bytes += m->append.entries[i].len;
    struct net_msg *q = sim_malloc(sizeof *q + count * sizeof(struct sim_entry) + bytes);
    q->m = *m;
    q->ents = NULL;
    q->transfer = q->lost = false;
    if (m->type == RAFT_MSG_APPEND)
        q->m.append.entries = NULL;
    if (count == 0)
        return q;
    q->ents = (struct sim_entry *)(q + 1);
    uint8_t *p = (uint8_t *)(q->ents + count);
    for (uint32_t i = 0; i < count; i++) {
        const struct raft_entry *e = &m->append.entries[i];
        q->ents[i] = (struct sim_entry){.term = e->term, .index = e->index, .type = e->type,
                                        .len = e->len, .payload = e->len ? p : NULL};
        memcpy(p, e->payload, e->len);
        p += e->len;
    }
    return q;
}

static uint64_t net_delay(struct world *w)
{
    if (!w->liveness && rng_ppm(&w->rng, w->p.long_delay_ppm))
        return rng_range(&w->rng, 1, w->p.long_delay_max);
    return rng_range(&w->rng, 1, w->p.delay_max);
}

/* m was checked by the sender (node.c). */
void net_send(struct world *w, const struct raft_msg *m)
{
    struct net *net = &w->net;
    char buf[160];
    net->sent_count++;
    if (!w->liveness && rng_ppm(&w->rng, w->p.drop_ppm)) {
        net->dropped_count++;
        SIM_TRACE(w, "send %s: DROPPED", msg_describe(m, buf, sizeof buf));
        return;
    }
    uint32_t copies = 1;
    if (!w->liveness && rng_ppm(&w->rng, w->p.dup_ppm)) {
        copies = 2;
        net->dup_count++;
    }
    for (uint32_t c = 0; c < copies; c++) {
        struct net_msg *q = net_msg_copy(m);
        q->at = w->now + net_delay(w);
        q->seq = net->seq++;
        heap_push(net, q);
        SIM_TRACE(w, "send %s%s, lands at %llu.%llu", msg_describe(m, buf, sizeof buf),
                  c ? " DUPLICATE" : "", LLU(q->at / SIM_MICROSTEPS),
                  LLU(q->at % SIM_MICROSTEPS));
    }
}

void net_send_snapshot(struct world *w, const struct raft_msg *m, const struct sim_snap *snap,
                       uint32_t src_incarnation)
{
    struct net *net = &w->net;
    char buf[160];
    net->sent_count++;
    net->snaps_sent_count++;
    struct net_msg *q = net_msg_copy(m);
    q->transfer = true;
    q->lost = !w->liveness && rng_ppm(&w->rng, w->p.drop_ppm);
    q->src_incarnation = src_incarnation;
    q->snap = *snap;
    uint64_t stream = w->liveness ? SIM_MICROSTEPS : w->p.snap_delay_max;
    q->at = w->now + net_delay(w) + rng_range(&w->rng, 1, stream);
    q->seq = net->seq++;
    heap_push(net, q);
    SIM_TRACE(w, "send %s: transfer%s, lands at %llu.%llu", msg_describe(m, buf, sizeof buf),
              q->lost ? " that will fail" : "", LLU(q->at / SIM_MICROSTEPS),
              LLU(q->at % SIM_MICROSTEPS));
}

/* A snapshot transfer ends: the receiver takes it, and the sender hears how it went. */
static void net_deliver_snapshot(struct world *w, struct net_msg *q)
{
    struct net *net = &w->net;
    char buf[160];
    struct node *src = &w->nodes[q->m.from], *dst = &w->nodes[q->m.to];
    bool src_up = src->r && src->incarnation == q->src_incarnation;
    const char *why = q->lost ? "dropped"
                    : net->cut[q->m.from][q->m.to] || net->cut[q->m.to][q->m.from] ? "partition"
                    : !dst->r ? "receiver down"
                    : !src_up ? "sender down"
                    : NULL;
    if (why) {
        net->dropped_count++;
        SIM_TRACE(w, "lost %s: %s", msg_describe(&q->m, buf, sizeof buf), why);
    } else {
        struct raft_msg m = q->m;
        m.snapshot.members = q->snap.fsm.members;
        m.snapshot.members_old = q->snap.fsm.members_old;
        net->delivered_count++;
        net->snaps_landed_count++;
        SIM_TRACE(w, "deliver %s", msg_describe(&m, buf, sizeof buf));
        node_step_snapshot(w, dst, &m, &q->snap);
    }
    if (src_up && !w->failed) {
        SIM_TRACE(w, "n%llu hears the transfer to %llu %s", LLU(src->id), LLU(dst->id),
                  why ? "failed" : "succeeded");
        raft_snapshot_report(src->r, q->m.to, why == NULL);
        node_observe(w, src);
    }
}

void net_deliver_due(struct world *w)
{
    struct net *net = &w->net;
    char buf[160];
    while (net->count > 0 && net->heap[0]->at <= w->now && !w->failed) {
        struct net_msg *q = heap_pop(net);
        struct node *dst = &w->nodes[q->m.to];
        if (q->transfer) {
            net_deliver_snapshot(w, q);
        } else if (net->cut[q->m.from][q->m.to]) {
            net->dropped_count++;
            SIM_TRACE(w, "lost %s: partition", msg_describe(&q->m, buf, sizeof buf));
        } else if (!dst->r) {
            net->dropped_count++;
            SIM_TRACE(w, "lost %s: node down", msg_describe(&q->m, buf, sizeof buf));
        } else {
            struct raft_msg m = q->m;
            if (m.type == RAFT_MSG_APPEND) {
                for (uint32_t i = 0; i < m.append.n_entries; i++) {
                    struct raft_entry *e = &net->scratch[i];
                    const struct sim_entry *s = &q->ents[i];
                    e->term = s->term;
                    e->index = s->index;
                    e->type = s->type;
                    e->len = s->len;
                    if (s->len)
                        memcpy(e->payload, s->payload, s->len);
                }
                m.append.entries = m.append.n_entries ? net->scratch : NULL;
            }
            net->delivered_count++;
            if (m.type == RAFT_MSG_TIMEOUT_NOW)
                w->timeout_now_at = w->now;
            SIM_TRACE(w, "deliver %s", msg_describe(&m, buf, sizeof buf));
            node_step(w, dst, &m);
        }
        free(q);
    }
}

/* ---- partitions ----------------------------------------------------------------------------- */

void net_heal(struct world *w)
{
    memset(w->net.cut, 0, sizeof w->net.cut);
}

/* Cuts every link between side[a] != side[b], both ways, and traces the two groups. */
static void net_split(struct world *w, const bool *side, const char *what)
{
    uint32_t n = w->p.pool_count;
    net_heal(w);
    for (uint32_t a = 1; a <= n; a++)
        for (uint32_t b = 1; b <= n; b++)
            if (side[a] != side[b])
                w->net.cut[a][b] = true;
    if (w->verbose) {
        char buf[128];
        size_t k = 0;
        for (int s = 1; s >= 0; s--) {
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s{", s ? "" : " | ");
            bool first = true;
            for (uint32_t a = 1; a <= n; a++)
                if (side[a] == (bool)s) {
                    k += (size_t)snprintf(buf + k, sizeof buf - k, first ? "%u" : ",%u", a);
                    first = false;
                }
            k += (size_t)snprintf(buf + k, sizeof buf - k, "}");
        }
        sim_trace(w, "PARTITION %s: %s", what, buf);
    }
}

static uint64_t net_find_leader(struct world *w)
{
    uint64_t best = 0, best_term = 0;
    for (uint32_t i = 1; i <= w->p.pool_count; i++) {
        const struct node *n = &w->nodes[i];
        if (node_is_leader(n) && n->st.term >= best_term) {
            best = i;
            best_term = n->st.term;
        }
    }
    return best;
}

void net_chaos(struct world *w)
{
    uint32_t n = w->p.pool_count;
    bool side[SIM_POOL_MAX + 1] = {false};
    uint64_t kind = rng_below(&w->rng, 100);
    uint64_t leader = net_find_leader(w);
    if (kind < 30 || n < 2) {
        net_heal(w);
        SIM_TRACE(w, "PARTITION healed");
    } else if (kind < 55) {
        for (uint32_t a = 1; a <= n; a++)
            side[a] = rng_below(&w->rng, 2);
        net_split(w, side, "random split");
    } else if (kind < 70) {
        uint64_t x = leader ? leader : rng_range(&w->rng, 1, n);
        side[x] = true;
        net_split(w, side, leader ? "isolate the leader" : "isolate a node");
    } else if (kind < 85) {
        /* the leader (or anyone) with a minority, the rest a majority */
        uint32_t minority = n / 2;
        uint64_t x = leader ? leader : rng_range(&w->rng, 1, n);
        side[x] = true;
        for (uint32_t placed = 1; placed < minority;) {
            uint64_t y = rng_range(&w->rng, 1, n);
            if (!side[y]) {
                side[y] = true;
                placed++;
            }
        }
        net_split(w, side, "leader in a minority");
    } else {
        /* one-way cuts: a hears b but b does not hear a */
        net_heal(w);
        uint64_t links = rng_range(&w->rng, 1, n);
        for (uint64_t i = 0; i < links; i++) {
            uint64_t a = rng_range(&w->rng, 1, n), b = rng_range(&w->rng, 1, n);
            if (a != b) {
                w->net.cut[a][b] = true;
                SIM_TRACE(w, "PARTITION one-way: %llu->%llu cut", LLU(a), LLU(b));
            }
        }
    }
}
