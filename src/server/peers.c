/* Connections between servers. We dial every other member (and every server that dialed
 * us) and write our Raft messages on that connection; we accept their dials and read
 * theirs. With a secret, every link first runs the handshake (auth.c; the acceptor
 * challenges), so a node with another secret never gets as far as the hello. A dialed
 * connection then starts with our hello (cluster, id, our peer address); an
 * accepted one must start with the dialer's, of our cluster and version, or it is closed.
 * Lost connections are redialed with exponential backoff. A message for a peer we cannot
 * reach now is dropped: Raft retransmits. Snapshots stream to a peer in chunks as its
 * connection drains, so a large one never stalls the loop or starves other peers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server_int.h"

static void peer_on_event(struct loop_watch *w, uint32_t events);
static void peer_pump(struct peer *p);

static void peer_stream_end(struct peer *p, bool ok)
{
    if (p->stream.fd < 0)
        return;
    close(p->stream.fd);
    p->stream.fd = -1;
    p->stream.report = true;
    p->stream.ok = ok;
}

static void peer_disconnect(struct peer *p, const char *why)
{
    if (p->ready)
        lum_info("lost connection to node %llu: %s", (unsigned long long)p->id, why);
    conn_close(&p->out);
    peer_stream_end(p, false);
    p->connecting = p->ready = p->authing = false;
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : SERVER_BACKOFF_MIN_MS;
    if (p->backoff_ms > SERVER_BACKOFF_MAX_MS)
        p->backoff_ms = SERVER_BACKOFF_MAX_MS;
    p->retry_at_ms = clock_mono_ms() + p->backoff_ms;
}

static void peer_dial(struct peer *p)
{
    const struct server_member *m = server_member(p->srv, p->id);
    if (!m || !m->peer_addr[0])
        return; /* no address yet */
    struct lum_err err;
    int fd = net_connect(&m->peer, &err);
    if (fd < 0) {
        peer_disconnect(p, err.msg);
        return;
    }
    if (conn_open(&p->out, &p->srv->loop, fd, peer_on_event, 4096, SERVER_PEER_OUT_MAX) != 0) {
        peer_disconnect(p, "cannot watch socket");
        return;
    }
    metrics_conn(&p->srv->metrics, &p->out, METRICS_CONN_PEER_OUT);
    p->connecting = true;
    loop_mod(&p->srv->loop, &p->out.watch, EPOLLOUT | EPOLLRDHUP);
}

static void peer_send_hello(struct peer *p)
{
    struct server *s = p->srv;
    struct wire_hello h = {.cluster_id = s->cfg.cluster_id, .node_id = s->cfg.id,
                           .protocol = WIRE_VERSION};
    snprintf(h.peer_addr, sizeof h.peer_addr, "%s", s->cfg.peer_advertise_addr);
    size_t cap = 64 + WIRE_ADDR_MAX;
    uint8_t *buf = conn_reserve(&p->out, cap);
    int n = buf ? wire_encode_hello(buf, cap, &h) : -LUM_ENOMEM;
    LUM_ASSERT(n > 0);
    conn_commit(&p->out, (size_t)n);
}

/* Connected and, with a secret, authenticated: introduce ourselves and start sending. */
static void peer_ready(struct peer *p)
{
    p->authing = false;
    p->ready = true;
    p->backoff_ms = 0;
    lum_info("connected to node %llu", (unsigned long long)p->id);
    peer_send_hello(p);
    if (conn_flush(&p->out) != 0)
        peer_disconnect(p, "write failed");
}

static int peer_auth_frame(void *ctx, const struct wire_frame *f)
{
    struct peer *p = ctx;
    char who[64];
    snprintf(who, sizeof who, "peer link to node %llu", (unsigned long long)p->id);
    return auth_dial_step(p->srv, &p->out, who, &p->auth, f);
}

/* With a secret, the one thing a dialed connection carries to us: the acceptor's
 * CHALLENGE, then its ACCEPT (auth.c). */
static void peer_on_auth(struct peer *p)
{
    int rv = server_read_frames(&p->out, "peer link", peer_auth_frame, p);
    if (rv == -LUM_ECLOSED || rv == -LUM_EIO)
        auth_warn(p->srv, "peer link to node %llu: closed during authentication "
                  "(wrong secret there, or none configured?)", (unsigned long long)p->id);
    if (rv != 0)
        peer_disconnect(p, "authentication failed");
    else if (p->auth.done)
        peer_ready(p);
}

/* Dialed connections carry nothing to us after the handshake: readable means closed (or
 * an error). */
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
        loop_mod(&p->srv->loop, &p->out.watch, EPOLLIN | EPOLLRDHUP);
        p->out.want_write = false;
        if (!auth_enabled(p->srv)) {
            peer_ready(p);
            return;
        }
        p->authing = true; /* the backoff stays until it passes: a wrong secret redials slowly */
        memset(&p->auth, 0, sizeof p->auth);
        return;
    }
    if (p->authing) {
        if ((events & EPOLLOUT) && conn_flush(&p->out) != 0) {
            peer_disconnect(p, "write failed");
            return;
        }
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            peer_on_auth(p);
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
    if (events & EPOLLOUT) {
        if (conn_flush(&p->out) != 0) {
            peer_disconnect(p, "write failed");
            return;
        }
        peer_pump(p);
    }
}

int peers_init(struct server *s, struct lum_err *err)
{
    (void)err;
    s->n_peers = 0;
    for (uint32_t i = 0; i < s->book_count; i++)
        peers_ensure(s, s->book[i].id);
    return 0;
}

void peers_ensure(struct server *s, uint64_t id)
{
    if (id == s->cfg.id || s->n_peers == SERVER_PEERS_MAX)
        return;
    for (uint32_t i = 0; i < s->n_peers; i++)
        if (s->peers[i].id == id)
            return;
    struct peer *p = &s->peers[s->n_peers++];
    memset(p, 0, sizeof *p);
    p->srv = s;
    p->id = id;
    p->out.watch.fd = -1;
    p->stream.fd = -1;
}

void peers_close(struct server *s)
{
    for (uint32_t i = 0; i < s->n_peers; i++) {
        conn_close(&s->peers[i].out);
        peer_stream_end(&s->peers[i], false);
    }
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
        if (s->peers[i].id == id)
            return &s->peers[i];
    return NULL;
}

/* The core wants a snapshot sent: stream the file it names, then the message. */
static void peer_stream_start(struct server *s, struct peer *p, const struct raft_msg *m)
{
    peer_stream_end(p, false);
    p->stream.report = false;
    char name[64];
    snap_name(name, sizeof name, m->snapshot.term, m->snapshot.index);
    struct lum_err err;
    int fd = -1;
    /* bit rot on the leader's disk must not reach a follower (it would refuse it anyway):
     * a damaged file makes the leader write a new snapshot instead of sending it forever */
    struct snap_meta meta;
    int rv = p->ready ? snapshot_check_to_send(s, name, "", &meta) : 0;
    if (rv == -LUM_ENOTFOUND) {
        lum_error("not sending snapshot %s: it is gone; writing a new snapshot", name);
        snapshot_damaged(s, name);
    }
    if (rv != 0) {
        p->stream.report = true; /* failed: the core tries again later */
        p->stream.ok = false;
        return;
    }
    fd = snap_file_open(storage_dirfd(s->storage), name, &p->stream.size, &err);
    if (fd < 0 || !p->ready) {
        if (fd >= 0)
            close(fd);
        if (fd < 0)
            lum_warn("cannot send snapshot to node %llu: %s", (unsigned long long)p->id, err.msg);
        p->stream.report = true; /* failed: the core tries again later */
        p->stream.ok = false;
        return;
    }
    lum_info("sending snapshot %s (%llu bytes) to node %llu", name,
             (unsigned long long)p->stream.size, (unsigned long long)p->id);
    p->stream.fd = fd;
    p->stream.offset = 0;
    p->stream.crc = 0;
    p->stream.body_crc = meta.body_crc;
    p->stream.msg = *m;
}

/* Queues chunks while the connection has room; the message follows the last one. */
static void peer_pump(struct peer *p)
{
    struct snap_stream *st = &p->stream;
    while (st->fd >= 0 && p->ready && conn_pending_out(&p->out) < SERVER_STREAM_AHEAD) {
        if (st->offset == st->size && st->crc != st->body_crc) {
            char name[64];
            snap_name(name, sizeof name, st->msg.snapshot.term, st->msg.snapshot.index);
            lum_error("snapshot %s changed on disk after it was checked (its body fails its "
                      "checksum): not finishing its send to node %llu; writing a new snapshot",
                      name, (unsigned long long)p->id);
            peer_stream_end(p, false);
            snapshot_damaged(p->srv, name);
            break;
        }
        if (st->offset == st->size) {
            size_t size = wire_raft_size(&st->msg);
            uint8_t *buf = conn_reserve(&p->out, size);
            if (!buf)
                return;
            conn_commit(&p->out, (size_t)wire_encode_raft(buf, size, &st->msg));
            peer_stream_end(p, true);
            break;
        }
        uint64_t left = st->size - st->offset;
        uint32_t len = left < WIRE_SNAP_CHUNK_MAX ? (uint32_t)left : WIRE_SNAP_CHUNK_MAX;
        size_t size = wire_snap_chunk_size(len);
        uint8_t *buf = conn_reserve(&p->out, size);
        if (!buf)
            return;
        uint8_t *data = p->srv->chunk_buf;
        ssize_t got = pread(st->fd, data, len, (off_t)st->offset);
        if (got != (ssize_t)len) {
            lum_warn("reading the snapshot for node %llu: %s", (unsigned long long)p->id,
                     got < 0 ? strerror(errno) : "short read");
            peer_stream_end(p, false);
            return;
        }
        st->crc = snapshot_body_crc(st->crc, data, st->offset, len);
        struct wire_snap_chunk c = {
            .from = p->srv->cfg.id, .to = p->id, .term = st->msg.term,
            .index = st->msg.snapshot.index, .snap_term = st->msg.snapshot.term,
            .offset = st->offset, .total = st->size, .data = data, .len = len};
        int n = wire_encode_snap_chunk(buf, size, &c);
        LUM_ASSERT(n == (int)size);
        conn_commit(&p->out, size);
        st->offset += len;
    }
    if (p->ready && conn_pending_out(&p->out) > 0 && conn_flush(&p->out) != 0)
        peer_disconnect(p, "write failed");
}

bool peers_pump_snapshots(struct server *s)
{
    bool told = false;
    for (uint32_t i = 0; i < s->n_peers; i++) {
        struct peer *p = &s->peers[i];
        peer_pump(p);
        if (p->stream.report) {
            p->stream.report = false;
            raft_snapshot_report(s->raft, p->id, p->stream.ok);
            told = true;
        }
    }
    return told;
}

void peers_send(struct server *s, const struct raft_msg *m)
{
    peers_ensure(s, m->to);
    struct peer *p = peers_find(s, m->to);
    if (!p)
        return;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        peer_stream_start(s, p, m);
        return;
    }
    if (!p->ready) {
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

void inbound_close(struct server *s, struct inbound *in)
{
    for (uint32_t i = 0; i < SERVER_INBOUND_MAX; i++)
        if (s->inbound[i] == in)
            s->inbound[i] = NULL;
    conn_close(&in->conn);
    free(in);
}

static struct peer *peers_find(struct server *s, uint64_t id);

static int inbound_on_hello(struct inbound *in, const struct wire_frame *f)
{
    struct server *s = in->srv;
    struct wire_hello h;
    if (f->type != WIRE_HELLO || wire_decode_hello(f, &h) != 0) {
        lum_warn("%s: no hello, closing", in->name);
        return -LUM_EMALFORMED;
    }
    if (h.cluster_id != s->cfg.cluster_id || h.protocol != WIRE_VERSION) {
        lum_warn("%s (node %llu): %s, closing", in->name, (unsigned long long)h.node_id,
                 h.protocol != WIRE_VERSION ? "another protocol version" : "another cluster");
        return -LUM_EMALFORMED;
    }
    if (h.node_id == 0 || h.node_id == s->cfg.id) {
        lum_warn("%s: claims node id %llu, closing", in->name, (unsigned long long)h.node_id);
        return -LUM_EMALFORMED;
    }
    in->hello_done = true;
    in->node_id = h.node_id;
    /* a server we may not know yet (we were just added): answer it where it listens */
    if (!server_member(s, h.node_id) && h.peer_addr[0])
        book_set(s, h.node_id, h.peer_addr, NULL);
    peers_ensure(s, h.node_id);
    struct peer *p = peers_find(s, h.node_id);
    if (p && !conn_is_open(&p->out)) { /* it is up again: no need to wait out the backoff */
        p->backoff_ms = 0;
        p->retry_at_ms = 0;
        peer_dial(p);
    }
    return 0;
}

static int inbound_on_chunk(struct inbound *in, const struct wire_frame *f)
{
    struct server *s = in->srv;
    struct wire_snap_chunk c;
    int rv = wire_decode_snap_chunk(f, &c);
    if (rv == 0 && (c.from != in->node_id || c.to != s->cfg.id))
        rv = -LUM_EMALFORMED;
    struct lum_err err;
    if (rv == 0 && snap_recv_write(storage_dirfd(s->storage), c.offset, c.data, c.len, &err) != 0)
        lum_warn("%s (node %llu): snapshot chunk at %llu: %s", in->name,
                 (unsigned long long)in->node_id, (unsigned long long)c.offset, err.msg);
    return rv;
}

static int inbound_on_frame(struct inbound *in, const struct wire_frame *f)
{
    struct server *s = in->srv;
    if (!in->authed) { /* a secret is configured: first the handshake (auth.c) */
        int rv = auth_accept(s, &in->conn, in->name, in->nonce_a, f);
        in->authed = rv == 0;
        return rv;
    }
    if (!in->hello_done)
        return inbound_on_hello(in, f);
    if (f->type == WIRE_SNAP_CHUNK) {
        int rv = inbound_on_chunk(in, f);
        if (rv != 0)
            lum_warn("%s (node %llu): bad snapshot chunk (%s), closing", in->name,
                     (unsigned long long)in->node_id, lum_strerror(rv));
        return rv;
    }
    int rv = -LUM_EMALFORMED;
    struct raft_msg m;
    if (f->type > WIRE_RAFT_BASE && f->type < WIRE_RAFT_BASE + RAFT_MSG_TYPE_END_)
        rv = wire_decode_raft(f, &m, s->decode_entries, WIRE_BATCH_MAX);
    if (rv == 0 && m.from != in->node_id)
        rv = -LUM_EMALFORMED; /* a peer speaks for itself only */
    if (rv == 0 && s->nospace)
        return 0; /* the core holds a batch it cannot persist: a lost message, for Raft */
    if (rv == 0 && m.type == RAFT_MSG_SNAPSHOT && snapshot_received(s, &m) != 0)
        return 0; /* not what it announced: drop it, the leader will try again */
    if (rv == 0 && (m.type == RAFT_MSG_APPEND || m.type == RAFT_MSG_HEARTBEAT))
        metrics_leader_heard(&s->metrics, m.from); /* only a leader sends these: /health */
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
    /* the handshake's frames are all we ever write here */
    if ((events & EPOLLOUT) && conn_flush(&in->conn) != 0) {
        inbound_close(in->srv, in);
        return;
    }
    if (server_read_frames(&in->conn, in->name, inbound_frame, in) != 0)
        inbound_close(in->srv, in);
}

void peers_on_accept(struct loop_watch *w, uint32_t events)
{
    struct server *s = SERVER_CONTAINER_OF(w, struct server, peer_listen);
    (void)events;
    for (int fd; (fd = net_accept_next(w->fd, "peer_listen")) >= 0;) {
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
        in->opened_ms = clock_mono_ms();
        in->authed = !auth_enabled(s);
        if (conn_open(&in->conn, &s->loop, fd, inbound_on_event, WIRE_FRAME_MAX, 4096) != 0) {
            free(in);
            continue;
        }
        metrics_conn(&s->metrics, &in->conn, METRICS_CONN_PEER_IN);
        s->inbound[slot] = in;
        if (!in->authed && auth_challenge(&in->conn, in->nonce_a) != 0) {
            lum_warn("%s: cannot send the authentication challenge, closing", in->name);
            inbound_close(s, in);
        }
    }
}
