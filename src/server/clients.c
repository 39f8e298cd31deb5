/* Client connections: decode requests, turn writes into proposals and linearizable reads
 * into read barriers, answer stale reads and status at once. Followers answer writes and
 * linearizable reads with NOT_LEADER and the leader's address; the client follows it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server_int.h"

#define CLIENT_STATUS_SIZE_MAX (32u * 1024)

int clients_init(struct server *s, struct lum_err *err)
{
    s->clients = calloc(s->cfg.max_clients, sizeof *s->clients);
    s->dirty_clients = calloc(s->cfg.max_clients, sizeof *s->dirty_clients);
    if (!s->clients || !s->dirty_clients) {
        lum_errf(err, "out of memory for %u client slots", s->cfg.max_clients);
        return -LUM_ENOMEM;
    }
    return 0;
}

void client_close(struct server *s, struct client *c)
{
    s->clients[c->slot] = NULL;
    s->clients_count--;
    conn_close(&c->conn);
    resp_conn_free(c);
    free(c);
}

void clients_close(struct server *s)
{
    for (uint32_t i = 0; s->clients && i < s->cfg.max_clients; i++)
        if (s->clients[i])
            client_close(s, s->clients[i]);
    free(s->clients);
    free(s->dirty_clients);
    s->clients = NULL;
    s->dirty_clients = NULL;
}

struct client *clients_get(struct server *s, uint32_t slot, uint32_t gen)
{
    if (slot >= s->cfg.max_clients || !s->clients[slot] || s->clients[slot]->gen != gen)
        return NULL;
    return s->clients[slot];
}

void clients_leader_hint(struct server *s, struct wire_response *rs)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    const struct server_member *m = st.leader_id ? server_member(s, st.leader_id) : NULL;
    rs->leader_id = st.leader_id;
    if (m) {
        rs->leader_addr = m->client_addr;
        rs->leader_addr_len = (uint16_t)strlen(m->client_addr);
    }
}

void clients_mark_dirty(struct server *s, struct client *c)
{
    if (c->dirty)
        return;
    if (s->dirty_count == s->cfg.max_clients) { /* slots reused within a turn: rare */
        if (conn_flush(&c->conn) != 0)
            conn_close(&c->conn);
        return;
    }
    c->dirty = true;
    s->dirty_clients[s->dirty_count++] = c->slot;
}

void clients_respond(struct server *s, struct client *c, const struct wire_response *rs)
{
    if (!conn_is_open(&c->conn))
        return; /* cut off for not reading; freed at the next flush */
    if (c->resp) { /* a Redis-protocol client: the answer becomes RESP (resp_conn.c) */
        resp_respond(s, c, rs);
        return;
    }
    size_t cap = 64 + (size_t)rs->leader_addr_len + rs->data_len;
    uint8_t *buf = conn_reserve(&c->conn, cap);
    if (!buf) {
        lum_warn("%s: not reading its answers (max_client_output %u), closing", c->name,
                 s->cfg.max_client_output);
        conn_close(&c->conn);
        clients_mark_dirty(s, c); /* the flush frees it */
        return;
    }
    int n = wire_encode_response(buf, cap, rs);
    LUM_ASSERT(n > 0);
    conn_commit(&c->conn, (size_t)n);
    clients_mark_dirty(s, c);
}

static void client_error(struct server *s, struct client *c, uint64_t request_id, int status)
{
    struct wire_response rs = {.request_id = request_id, .status = status};
    if (status == -LUM_ENOTLEADER || status == -LUM_ENOSPC) /* ENOSPC: names this node */
        clients_leader_hint(s, &rs);
    clients_respond(s, c, &rs);
}

int clients_propose(struct server *s, struct client *c, uint64_t request_id, uint16_t type,
                    uint64_t client_id, uint64_t seq, const uint8_t *body, uint32_t len)
{
    uint32_t slot;
    struct pending *pd = pending_alloc(&s->pending, &slot);
    if (!pd)
        return -LUM_EBUSY;
    uint64_t index;
    int rv = server_propose(s, type, client_id, seq, body, len, &index);
    if (rv != 0) {
        pending_release(&s->pending, slot);
        return rv;
    }
    struct raft_status st;
    raft_status(s->raft, &st);
    pd->kind = PENDING_WRITE;
    pd->client_slot = c->slot;
    pd->client_gen = c->gen;
    pd->request_id = request_id;
    pd->index = index;
    pd->term = st.term;
    pending_heap_push(&s->pending, slot);
    c->pending++;
    return 0;
}

int clients_read(struct server *s, struct client *c, uint64_t request_id, const uint8_t *query,
                 uint32_t len)
{
    uint32_t slot;
    struct pending *pd = pending_alloc(&s->pending, &slot);
    if (!pd)
        return -LUM_EBUSY;
    int rv = server_refusal(s); /* a full disk: the barrier needs the core */
    if (rv == 0)
        rv = pending_set_query(pd, query, len);
    if (rv == 0)
        rv = raft_read_index(s->raft, pending_ctx(&s->pending, slot));
    if (rv != 0) {
        pending_release(&s->pending, slot);
        return rv;
    }
    pd->kind = PENDING_READ_BARRIER;
    pd->client_slot = c->slot;
    pd->client_gen = c->gen;
    pd->request_id = request_id;
    c->pending++;
    return 0;
}

static void client_command(struct server *s, struct client *c, const struct wire_request *rq)
{
    int rv = rq->entry_type < RAFT_ENTRY_APP_MIN
                 ? -LUM_EINVAL
                 : clients_propose(s, c, rq->request_id, rq->entry_type, rq->client_id,
                                   rq->seq, rq->body, rq->body_len);
    if (rv != 0)
        client_error(s, c, rq->request_id, rv);
}

static void client_query(struct server *s, struct client *c, const struct wire_request *rq)
{
    if (rq->flags & WIRE_FLAG_STALE) {
        struct lum_result res = {0};
        int rv = s->fsm_ops->query(s->fsm, rq->body, rq->body_len, clock_wall_ms(), &res);
        struct wire_response rs = {.request_id = rq->request_id, .status = rv,
                                   .code = res.code, .data = res.data, .data_len = res.len};
        clients_respond(s, c, &rs);
        return;
    }
    int rv = clients_read(s, c, rq->request_id, rq->body, rq->body_len);
    if (rv != 0)
        client_error(s, c, rq->request_id, rv);
}

static void client_status(struct server *s, struct client *c, const struct wire_request *rq)
{
    struct wire_status *st = calloc(1, sizeof *st);
    if (!st) {
        client_error(s, c, rq->request_id, -LUM_ENOMEM);
        return;
    }
    server_fill_status(s, st);
    st->request_id = rq->request_id;
    uint8_t *buf = conn_reserve(&c->conn, CLIENT_STATUS_SIZE_MAX);
    int n = buf ? wire_encode_status(buf, CLIENT_STATUS_SIZE_MAX, st) : -LUM_ENOMEM;
    if (n > 0) {
        conn_commit(&c->conn, (size_t)n);
    } else if (!buf && conn_is_open(&c->conn)) {
        lum_warn("%s: not reading its answers (max_client_output %u), closing", c->name,
                 s->cfg.max_client_output);
        conn_close(&c->conn);
    }
    clients_mark_dirty(s, c); /* the flush sends it, or frees a closed client */
    free(st);
}

static enum metrics_request clients_request_kind(const struct wire_request *rq)
{
    switch (rq->op) {
    case WIRE_OP_COMMAND:  return METRICS_REQ_COMMAND;
    case WIRE_OP_QUERY:
        return rq->flags & WIRE_FLAG_STALE ? METRICS_REQ_QUERY_STALE : METRICS_REQ_QUERY;
    case WIRE_OP_STATUS:   return METRICS_REQ_STATUS;
    case WIRE_OP_MEMBERS:  return METRICS_REQ_MEMBERS;
    case WIRE_OP_TRANSFER: return METRICS_REQ_TRANSFER;
    case WIRE_OP_SNAPSHOT: return METRICS_REQ_SNAPSHOT;
    case WIRE_OP_BACKUP:   return METRICS_REQ_BACKUP;
    default:               return METRICS_REQ_INVALID;
    }
}

static int client_on_frame(struct server *s, struct client *c, const struct wire_frame *f)
{
    if (!c->authed) { /* a secret is configured: the first frame must prove it (auth.c) */
        int rv = auth_accept(s, &c->conn, c->name, c->nonce_a, f);
        if (rv != 0)
            return rv;
        c->authed = true;
        c->active_ms = clock_mono_ms();
        return 0;
    }
    struct wire_request rq;
    int rv = f->type == WIRE_CLIENT_REQUEST ? wire_decode_request(f, &rq) : -LUM_EMALFORMED;
    if (rv != 0) {
        metrics_request(&s->metrics, METRICS_REQ_INVALID);
        lum_warn("%s: malformed request (%s), closing", c->name, lum_strerror(rv));
        return rv;
    }
    if (c->pending >= s->cfg.max_pending_per_conn)
        return limits_pause_client(s, c); /* this frame is read again on resume */
    c->active_ms = clock_mono_ms();
    metrics_request(&s->metrics, clients_request_kind(&rq));
    switch (rq.op) {
    case WIRE_OP_COMMAND:
        client_command(s, c, &rq);
        break;
    case WIRE_OP_QUERY:
        client_query(s, c, &rq);
        break;
    case WIRE_OP_STATUS:
        client_status(s, c, &rq);
        break;
    case WIRE_OP_MEMBERS:
    case WIRE_OP_TRANSFER:
    case WIRE_OP_SNAPSHOT:
    case WIRE_OP_BACKUP:
        admin_request(s, c, &rq);
        break;
    default:
        client_error(s, c, rq.request_id, -LUM_EINVAL);
        break;
    }
    return 0;
}

static int client_frame(void *ctx, const struct wire_frame *f)
{
    struct client *c = ctx;
    return client_on_frame(c->srv, c, f);
}

static void client_on_event(struct loop_watch *w, uint32_t events)
{
    struct client *c = SERVER_CONTAINER_OF(w, struct client, conn.watch);
    struct server *s = c->srv;
    if ((events & EPOLLOUT) && conn_flush(&c->conn) != 0) {
        client_close(s, c);
        return;
    }
    if (c->paused && (events & (EPOLLHUP | EPOLLERR))) {
        client_close(s, c); /* reported even while not reading: its answers can't arrive */
        return;
    }
    if (c->paused || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    int rv = server_read_frames(&c->conn, c->name, client_frame, c);
    if (rv == -LUM_ETOOBIG && c->authed) /* the unauthenticated get no word from us */
        limits_frame_too_big(s, c);
    if (rv != 0)
        client_close(s, c);
}

/* Requests of a paused client were answered: take the frames it has buffered, then its
 * socket again. 0, or a negated code (close it). */
static int client_resume(struct client *c)
{
    c->paused = false;
    int rv = server_parse_frames(&c->conn, c->name, client_frame, c);
    if (rv == -LUM_ETOOBIG)
        limits_frame_too_big(c->srv, c);
    if (rv == 0 && !c->paused)
        rv = conn_pause_reading(&c->conn, false);
    return rv;
}

struct client *clients_add(struct server *s, int fd, loop_fn *fn, size_t in_max,
                           const char *kind)
{
    uint32_t slot = 0;
    while (s->clients[slot])
        slot++;
    struct client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->srv = s;
    c->slot = slot;
    c->gen = ++s->client_gen;
    char addr[48];
    net_peer_name(fd, addr, sizeof addr);
    snprintf(c->name, sizeof c->name, "%s %s", kind, addr);
    c->active_ms = clock_mono_ms();
    c->authed = !auth_enabled(s);
    if (conn_open(&c->conn, &s->loop, fd, fn, in_max, s->cfg.max_client_output) != 0) {
        free(c);
        return NULL;
    }
    metrics_conn(&s->metrics, &c->conn, METRICS_CONN_CLIENT);
    s->clients[slot] = c;
    s->clients_count++;
    return c;
}

void clients_on_accept(struct loop_watch *w, uint32_t events)
{
    struct server *s = SERVER_CONTAINER_OF(w, struct server, client_listen);
    (void)events;
    for (int fd; (fd = net_accept_next(w->fd, "client_listen")) >= 0;) {
        if (s->clients_count >= s->cfg.max_clients) {
            limits_refuse_client(s, fd);
            continue;
        }
        struct client *c = clients_add(s, fd, client_on_event, s->cfg.max_frame, "client");
        /* A secret: the challenge goes first, before the client can ask anything. */
        if (c && !c->authed && auth_challenge(&c->conn, c->nonce_a) != 0) {
            lum_warn("%s: cannot send the authentication challenge, closing", c->name);
            client_close(s, c);
        }
    }
}

void clients_flush(struct server *s)
{
    for (uint32_t i = 0; i < s->dirty_count; i++) {
        struct client *c = s->clients[s->dirty_clients[i]];
        if (!c)
            continue; /* closed since */
        c->dirty = false;
        if (conn_is_open(&c->conn) && c->paused &&
            c->pending < s->cfg.max_pending_per_conn &&
            (c->resp ? resp_resume(s, c) : client_resume(c)) != 0) {
            client_close(s, c);
            continue;
        }
        if (!conn_is_open(&c->conn) || conn_flush(&c->conn) != 0)
            client_close(s, c);
    }
    s->dirty_count = 0;
}
