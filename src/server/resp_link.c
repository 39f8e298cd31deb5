/* A follower's link to the leader for its Redis clients, which do not follow redirects: one
 * native client connection to the leader's client address (with the cluster-secret handshake
 * when a secret is configured), shared by every RESP connection of this node, requests
 * multiplexed by request id. Requests wait in a side buffer while the link connects and
 * authenticates. Whatever cannot be sent or answered any more (no leader, the leader moved,
 * the link broke) is answered -TRYAGAIN at once, never dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "resp_int.h"

#define RESP_LINK_HEADER_MAX 64u /* a request frame's bytes besides its body */

static void resp_link_on_event(struct loop_watch *w, uint32_t events);

int resp_link_init(struct server *s)
{
    struct resp_link *l = &s->resp->link;
    l->conn.watch.fd = -1;
    l->fwd_cap = s->cfg.max_pending;
    l->fwd = calloc(l->fwd_cap, sizeof *l->fwd);
    l->free_list = calloc(l->fwd_cap, sizeof *l->free_list);
    if (!l->fwd || !l->free_list)
        return -LUM_ENOMEM;
    for (uint32_t i = 0; i < l->fwd_cap; i++)
        l->free_list[i] = l->fwd_cap - 1 - i;
    l->free_count = l->fwd_cap;
    return 0;
}

void resp_link_free(struct server *s)
{
    struct resp_link *l = &s->resp->link;
    conn_close(&l->conn);
    free(l->fwd);
    free(l->free_list);
    free(l->held);
}

/* Request ids: slot + 1 in the low half (0 is the server's connection-level error), the
 * slot's generation in the high half, so a late answer for a reused slot is recognised. */
static uint64_t resp_fwd_id(const struct resp_link *l, uint32_t slot)
{
    return (uint64_t)l->fwd[slot].gen << 32 | (slot + 1u);
}

static struct resp_fwd *resp_fwd_find(struct resp_link *l, uint64_t id, uint32_t *slot_out)
{
    uint32_t low = (uint32_t)id;
    if (low == 0 || low > l->fwd_cap)
        return NULL;
    struct resp_fwd *f = &l->fwd[low - 1];
    if (f->gen == 0 || f->gen != (uint32_t)(id >> 32))
        return NULL;
    *slot_out = low - 1;
    return f;
}

/* Answers one forwarded request and frees its slot. */
static void resp_fwd_answer(struct server *s, uint32_t slot, int status, int32_t code,
                            const uint8_t *data, uint32_t len)
{
    struct resp_link *l = &s->resp->link;
    struct resp_fwd *f = &l->fwd[slot];
    struct client *c = clients_get(s, f->client_slot, f->client_gen);
    uint64_t seq = f->seq;
    f->gen = 0;
    l->free_list[l->free_count++] = slot;
    l->fwd_used--;
    if (!c)
        return; /* gone; a write still took effect if the leader applied it */
    c->pending--;
    resp_deliver(s, c, seq, status, code, data, len);
}

/* Closes the link; every request still waiting on it is answered with status. */
static void resp_link_reset(struct server *s, int status, const char *why)
{
    struct resp_link *l = &s->resp->link;
    if (l->leader_id && (l->ready || l->fwd_used))
        lum_info("Redis forwarding link to node %llu closed: %s (%u requests answered "
                 "TRYAGAIN)", (unsigned long long)l->leader_id, why, l->fwd_used);
    conn_close(&l->conn);
    l->leader_id = 0;
    l->connecting = l->authing = l->ready = false;
    l->held_len = 0;
    for (uint32_t i = 0; i < l->fwd_cap && l->fwd_used > 0; i++)
        if (l->fwd[i].gen != 0)
            resp_fwd_answer(s, i, status, 0, NULL, 0);
}

static void resp_link_failed(struct server *s, const char *why)
{
    struct resp_link *l = &s->resp->link;
    if (!l->ready) { /* never got through: do not redial at once; a link that worked and
                        was closed (the leader's client_idle_timeout_ms) may redial now */
        l->failed_id = l->leader_id;
        l->failed_ms = clock_mono_ms();
    }
    resp_link_reset(s, -LUM_ECLOSED, why);
}

static int resp_link_dial(struct server *s, uint64_t leader_id)
{
    struct resp_link *l = &s->resp->link;
    const struct server_member *m = server_member(s, leader_id);
    if (!m || !m->client_addr[0])
        return -LUM_EUNAVAILABLE;
    if (l->failed_id == leader_id && clock_mono_ms() - l->failed_ms < RESP_DIAL_RETRY_MS)
        return -LUM_EUNAVAILABLE; /* it just failed: no connect storm */
    struct lum_err err;
    int fd = net_connect(&m->client, &err);
    if (fd < 0)
        return -LUM_EUNAVAILABLE;
    if (conn_open(&l->conn, &s->loop, fd, resp_link_on_event, WIRE_FRAME_MAX,
                  s->cfg.max_client_output) != 0)
        return -LUM_EUNAVAILABLE;
    l->leader_id = leader_id;
    l->connecting = true;
    loop_mod(&s->loop, &l->conn.watch, EPOLLOUT | EPOLLRDHUP);
    return 0;
}

/* Connected and authenticated: what waited goes first, in order. */
static void resp_link_ready(struct server *s)
{
    struct resp_link *l = &s->resp->link;
    l->ready = true;
    l->authing = false;
    lum_info("Redis forwarding link to node %llu up", (unsigned long long)l->leader_id);
    if (l->held_len > 0) {
        uint8_t *buf = conn_reserve(&l->conn, l->held_len);
        if (!buf) {
            resp_link_failed(s, "too many requests waiting to be sent");
            return;
        }
        memcpy(buf, l->held, l->held_len);
        conn_commit(&l->conn, l->held_len);
        l->held_len = 0;
    }
    if (conn_flush(&l->conn) != 0)
        resp_link_failed(s, "write failed");
}

int resp_link_forward(struct server *s, struct client *c, uint64_t seq,
                      const struct resp_request *rq)
{
    struct resp_link *l = &s->resp->link;
    struct raft_status st;
    raft_status(s->raft, &st);
    if (st.leader_id == 0 || st.leader_id == s->cfg.id)
        return -LUM_EUNAVAILABLE;
    if (l->leader_id != st.leader_id) {
        if (l->leader_id)
            resp_link_reset(s, -LUM_ENOTLEADER, "the leader changed");
        int rv = resp_link_dial(s, st.leader_id);
        if (rv != 0)
            return rv;
    }
    if (l->free_count == 0)
        return -LUM_EBUSY;
    struct wire_request wr = {.op = rq->cls == RESP_WRITE ? WIRE_OP_COMMAND : WIRE_OP_QUERY,
                              .entry_type = rq->entry_type, .body = rq->body,
                              .body_len = rq->len};
    size_t cap = RESP_LINK_HEADER_MAX + rq->len;
    uint8_t *buf;
    if (l->ready) {
        buf = conn_reserve(&l->conn, cap);
    } else {
        buf = NULL;
        if (l->held_len + cap <= s->cfg.max_client_output) {
            if (l->held_cap - l->held_len < cap) {
                size_t ncap = l->held_cap ? l->held_cap : 4096;
                while (ncap - l->held_len < cap)
                    ncap *= 2;
                uint8_t *h = realloc(l->held, ncap);
                if (h) {
                    l->held = h;
                    l->held_cap = ncap;
                }
            }
            if (l->held_cap - l->held_len >= cap)
                buf = l->held + l->held_len;
        }
    }
    if (!buf)
        return -LUM_EBUSY; /* the leader does not read as fast as we send */
    uint32_t slot = l->free_list[--l->free_count];
    struct resp_fwd *f = &l->fwd[slot];
    if (++l->fwd_gen == 0)
        l->fwd_gen = 1;
    *f = (struct resp_fwd){.gen = l->fwd_gen, .client_slot = c->slot, .client_gen = c->gen,
                           .seq = seq};
    l->fwd_used++;
    wr.request_id = resp_fwd_id(l, slot);
    int n = wire_encode_request(buf, cap, &wr);
    LUM_ASSERT(n > 0);
    if (l->ready)
        conn_commit(&l->conn, (size_t)n);
    else
        l->held_len += (size_t)n;
    c->pending++;
    return 0;
}

static int resp_link_auth_frame(void *ctx, const struct wire_frame *f)
{
    struct server *s = ctx;
    struct resp_link *l = &s->resp->link;
    return auth_dial_step(s, &l->conn, "Redis forwarding link", &l->auth, f);
}

static int resp_link_frame(void *ctx, const struct wire_frame *f)
{
    struct server *s = ctx;
    struct resp_link *l = &s->resp->link;
    struct wire_response rs;
    if (f->type != WIRE_CLIENT_RESPONSE || wire_decode_response(f, &rs) != 0)
        return -LUM_EMALFORMED;
    uint32_t slot;
    if (rs.request_id == 0) { /* the leader refused the connection itself (busy, ...) */
        lum_warn("Redis forwarding link: the leader says: %.*s (%s)", (int)rs.data_len,
                 (const char *)rs.data, lum_strerror(rs.status));
        return -LUM_ECLOSED;
    }
    if (resp_fwd_find(l, rs.request_id, &slot))
        resp_fwd_answer(s, slot, rs.status, rs.code, rs.data, rs.data_len);
    return 0;
}

static void resp_link_on_event(struct loop_watch *w, uint32_t events)
{
    struct resp_server *rsv = SERVER_CONTAINER_OF(w, struct resp_server, link.conn.watch);
    struct server *s = rsv->srv;
    struct resp_link *l = &rsv->link;
    if (l->connecting) {
        int e = net_connect_result(w->fd);
        if (e != 0) {
            resp_link_failed(s, strerror(e));
            return;
        }
        l->connecting = false;
        loop_mod(&s->loop, &l->conn.watch, EPOLLIN | EPOLLRDHUP);
        l->conn.want_write = false;
        if (auth_enabled(s)) {
            l->authing = true;
            memset(&l->auth, 0, sizeof l->auth);
        } else {
            resp_link_ready(s);
        }
        return;
    }
    if ((events & EPOLLOUT) && conn_flush(&l->conn) != 0) {
        resp_link_failed(s, "write failed");
        return;
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    if (l->authing) {
        int rv = server_read_frames(&l->conn, "Redis forwarding link", resp_link_auth_frame, s);
        if (rv != 0)
            resp_link_failed(s, "authentication failed (another secret there?)");
        else if (l->auth.done)
            resp_link_ready(s);
        return;
    }
    int rv = server_read_frames(&l->conn, "Redis forwarding link", resp_link_frame, s);
    if (rv != 0)
        resp_link_failed(s, rv == -LUM_ECLOSED ? "closed by the leader" : lum_strerror(rv));
}

void resp_link_flush(struct server *s)
{
    struct resp_link *l = &s->resp->link;
    if (!l->leader_id)
        return;
    struct raft_status st;
    raft_status(s->raft, &st);
    if (st.leader_id != l->leader_id) {
        /* its waiting requests may still be applied there, but nothing bounds the wait on
         * a node that is no longer the leader: the clients hear TRYAGAIN now */
        resp_link_reset(s, -LUM_ENOTLEADER, "the leader changed");
        return;
    }
    if (l->ready && conn_pending_out(&l->conn) > 0 && conn_flush(&l->conn) != 0)
        resp_link_failed(s, "write failed");
}
