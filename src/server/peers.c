/* Connections between servers. We dial every other member and write our Raft messages on
 * that connection; we accept their dials and read theirs. A dialed connection starts with
 * our hello; an accepted one must start with the dialer's, of our cluster and version, or
 * it is closed. Lost connections are redialed with exponential backoff. A message for a
 * peer we cannot reach now is dropped: Raft retransmits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server_int.h"

static void peer_on_event(struct loop_watch *w, uint32_t events);

static void peer_disconnect(struct peer *p, const char *why)
{
    if (p->ready)
        lum_info("lost connection to node %llu (%s): %s", (unsigned long long)p->member->id,
                 p->member->peer_addr, why);
    conn_close(&p->out);
    p->connecting = p->ready = false;
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : SERVER_BACKOFF_MIN_MS;
    if (p->backoff_ms > SERVER_BACKOFF_MAX_MS)
        p->backoff_ms = SERVER_BACKOFF_MAX_MS;
    p->retry_at_ms = clock_mono_ms() + p->backoff_ms;
}

static void peer_dial(struct peer *p)
{
    struct lum_err err;
    int fd = net_connect(&p->member->peer, &err);
    if (fd < 0) {
        peer_disconnect(p, err.msg);
        return;
    }
    if (conn_open(&p->out, &p->srv->loop, fd, peer_on_event, 4096, SERVER_PEER_OUT_MAX) != 0) {
        peer_disconnect(p, "cannot watch socket");
        return;
    }
    p->connecting = true;
    loop_mod(&p->srv->loop, &p->out.watch, EPOLLOUT | EPOLLRDHUP);
}

static void peer_send_hello(struct peer *p)
{
    struct server *s = p->srv;
    struct wire_hello h = {.cluster_id = s->cfg.cluster_id, .node_id = s->cfg.id,
                           .protocol = WIRE_VERSION};
    uint8_t *buf = conn_reserve(&p->out, 64);
    int n = buf ? wire_encode_hello(buf, 64, &h) : -LUM_ENOMEM;
    LUM_ASSERT(n > 0);
    conn_commit(&p->out, (size_t)n);
}

/* Dialed connections carry nothing to us: readable means closed (or an error). */
static void peer_on_event(struct loop_watch *w, uint32_t events)
{
    struct peer *p = SERVER_CONTAINER_OF(w, struct peer, out.watch);
    if (p->connecting) {
        int e = net_connect_result(p->out.watch.fd);
        if (e != 0) {
            peer_disconnect(p, strerror(e));
            return;
        }
        p->connecting = false;
        p->ready = true;
        p->backoff_ms = 0;
        lum_info("connected to node %llu (%s)", (unsigned long long)p->member->id,
                 p->member->peer_addr);
        loop_mod(&p->srv->loop, &p->out.watch, EPOLLIN | EPOLLRDHUP);
        p->out.want_write = false;
        peer_send_hello(p);
        if (conn_flush(&p->out) != 0)
            peer_disconnect(p, "write failed");
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        uint8_t junk[256];
        ssize_t n = read(w->fd, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            peer_disconnect(p, n == 0 ? "closed by peer" : strerror(errno));
            return;
        }
    }
    if ((events & EPOLLOUT) && conn_flush(&p->out) != 0)
        peer_disconnect(p, "write failed");
}

int peers_init(struct server *s, struct lum_err *err)
{
    (void)err;
    s->n_peers = 0;
    for (uint32_t i = 0; i < s->cfg.n_members; i++) {
        const struct server_member *m = &s->cfg.members[i];
        if (m->id == s->cfg.id)
            continue;
        struct peer *p = &s->peers[s->n_peers++];
        memset(p, 0, sizeof *p);
        p->srv = s;
        p->member = m;
        p->out.watch.fd = -1;
    }
    return 0;
}

void peers_close(struct server *s)
{
    for (uint32_t i = 0; i < s->n_peers; i++)
        conn_close(&s->peers[i].out);
    for (uint32_t i = 0; i < SERVER_INBOUND_MAX; i++) {
        if (s->inbound[i]) {
            conn_close(&s->inbound[i]->conn);
            free(s->inbound[i]);
            s->inbound[i] = NULL;
        }
    }
}

void peers_maintain(struct server *s)
{
    uint64_t now = clock_mono_ms();
    for (uint32_t i = 0; i < s->n_peers; i++) {
        struct peer *p = &s->peers[i];
        if (!conn_is_open(&p->out) && now >= p->retry_at_ms)
            peer_dial(p);
    }
}

static struct peer *peers_find(struct server *s, uint64_t id)
{
    for (uint32_t i = 0; i < s->n_peers; i++)
        if (s->peers[i].member->id == id)
            return &s->peers[i];
    return NULL;
}

void peers_send(struct server *s, const struct raft_msg *m)
{
    struct peer *p = peers_find(s, m->to);
    if (!p || !p->ready) {
        if (p)
            p->dropped++;
        return;
    }
    size_t size = wire_raft_size(m);
    uint8_t *buf = conn_reserve(&p->out, size);
    if (!buf) {
        p->dropped++; /* it is not reading: flow control by loss, Raft resends */
        return;
    }
    int n = wire_encode_raft(buf, size, m);
    LUM_ASSERT(n == (int)size);
    conn_commit(&p->out, size);
}

void peers_flush(struct server *s)
{
    for (uint32_t i = 0; i < s->n_peers; i++) {
        struct peer *p = &s->peers[i];
        if (p->ready && conn_pending_out(&p->out) > 0 && conn_flush(&p->out) != 0)
            peer_disconnect(p, "write failed");
    }
}

/* ---- accepted connections ----------------------------------------------------------------- */

static void inbound_close(struct server *s, struct inbound *in)
{
    for (uint32_t i = 0; i < SERVER_INBOUND_MAX; i++)
        if (s->inbound[i] == in)
            s->inbound[i] = NULL;
    conn_close(&in->conn);
    free(in);
}

static int inbound_on_hello(struct inbound *in, const struct wire_frame *f)
{
    struct server *s = in->srv;
    struct wire_hello h;
    if (f->type != WIRE_HELLO || wire_decode_hello(f, &h) != 0) {
        lum_warn("%s: no hello, closing", in->name);
        return -LUM_EMALFORMED;
    }
    if (h.cluster_id != s->cfg.cluster_id || h.protocol != WIRE_VERSION) {
        lum_warn("%s (node %llu): %s, closing", in->name,
                 (unsigned long long)h.node_id,
                 h.protocol != WIRE_VERSION ? "another protocol version" : "another cluster");
        return -LUM_EMALFORMED;
    }
    if (h.node_id == 0 || h.node_id == s->cfg.id) {
        lum_warn("%s: claims node id %llu, closing", in->name,
                 (unsigned long long)h.node_id);
        return -LUM_EMALFORMED;
    }
    in->hello_done = true;
    in->node_id = h.node_id;
    return 0;
}

static int inbound_on_frame(struct inbound *in, const struct wire_frame *f)
{
    struct server *s = in->srv;
    if (!in->hello_done)
        return inbound_on_hello(in, f);
    int rv = -LUM_EMALFORMED;
    struct raft_msg m;
    if (f->type > WIRE_RAFT_BASE && f->type < WIRE_RAFT_BASE + RAFT_MSG_TYPE_END_)
        rv = wire_decode_raft(f, &m, s->decode_entries, WIRE_BATCH_MAX);
    if (rv == 0 && m.from != in->node_id)
        rv = -LUM_EMALFORMED; /* a peer speaks for itself only */
    if (rv == 0)
        rv = raft_step(s->raft, &m);
    if (rv != 0)
        lum_warn("%s (node %llu): bad message of type %u (%s), closing", in->name,
                 (unsigned long long)in->node_id, f->type, lum_strerror(rv));
    return rv;
}

static int inbound_frame(void *ctx, const struct wire_frame *f)
{
    return inbound_on_frame(ctx, f);
}

static void inbound_on_event(struct loop_watch *w, uint32_t events)
{
    struct inbound *in = SERVER_CONTAINER_OF(w, struct inbound, conn.watch);
    (void)events;
    if (server_read_frames(&in->conn, in->name, inbound_frame, in) != 0)
        inbound_close(in->srv, in);
}

void peers_on_accept(struct loop_watch *w, uint32_t events)
{
    struct server *s = SERVER_CONTAINER_OF(w, struct server, peer_listen);
    (void)events;
    for (;;) {
        struct lum_err err;
        int fd = net_accept(w->fd, &err);
        if (fd == -LUM_EAGAIN)
            return;
        if (fd < 0) {
            lum_warn("%s", err.msg);
            return;
        }
        uint32_t slot = 0;
        while (slot < SERVER_INBOUND_MAX && s->inbound[slot])
            slot++;
        struct inbound *in = slot < SERVER_INBOUND_MAX ? calloc(1, sizeof *in) : NULL;
        if (!in) {
            lum_warn("too many peer connections, refusing one");
            close(fd);
            continue;
        }
        in->srv = s;
        char addr[48];
        net_peer_name(fd, addr, sizeof addr);
        snprintf(in->name, sizeof in->name, "peer link from %s", addr);
        if (conn_open(&in->conn, &s->loop, fd, inbound_on_event, WIRE_FRAME_MAX, 4096) != 0) {
            free(in);
            continue;
        }
        s->inbound[slot] = in;
    }
}
