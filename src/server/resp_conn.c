/* Redis-protocol connections: accept, parse requests, run them (here, through the log or a
 * read barrier, or on the leader for a follower), and answer in request order from a
 * per-connection reply queue (resp_int.h). A protocol error is answered with
 * "-ERR Protocol error: ..." and the connection closed after it, as Redis does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resp_int.h"

static void resp_on_event(struct loop_watch *w, uint32_t events);

/* ---- the reply queue ------------------------------------------------------------------------ */

static struct resp_reply *resp_queue_at(struct resp_conn *r, uint64_t seq)
{
    LUM_ASSERT(seq >= r->seq_head && seq < r->seq_head + r->queue_count);
    return &r->queue[(r->queue_head + (uint32_t)(seq - r->seq_head)) % r->queue_cap];
}

/* A place for the next request; its sequence number, or -1 (out of memory). The caller
 * checked that fewer than RESP_QUEUE_MAX wait. */
static int64_t resp_queue_push(struct resp_conn *r, uint8_t kind)
{
    LUM_ASSERT(r->queue_count < RESP_QUEUE_MAX);
    if (r->queue_count == r->queue_cap) {
        uint32_t cap = r->queue_cap ? r->queue_cap * 2 : 16;
        struct resp_reply *q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (uint32_t i = 0; i < r->queue_count; i++)
            q[i] = r->queue[(r->queue_head + i) % r->queue_cap];
        free(r->queue);
        r->queue = q;
        r->queue_cap = cap;
        r->queue_head = 0;
    }
    uint64_t seq = r->seq_head + r->queue_count++;
    struct resp_reply *p = resp_queue_at(r, seq);
    *p = (struct resp_reply){.kind = kind};
    return (int64_t)seq;
}

/* After QUIT or a protocol error, once the last reply is written: FIN first, so the client
 * reads the reply before the close (and what it sent after is dropped, so the close does not
 * reset the connection). The client is freed by the flush. true if it was closed. */
static bool resp_close_if_done(struct server *s, struct client *c)
{
    struct resp_conn *r = c->resp;
    if (!r->closing || r->queue_count > 0 || !conn_is_open(&c->conn))
        return false;
    if (conn_flush(&c->conn) == 0 && conn_pending_out(&c->conn) > 0)
        return false; /* the rest goes out on EPOLLOUT, then we come back here */
    shutdown(c->conn.watch.fd, SHUT_WR);
    uint8_t sink[4096];
    while (read(c->conn.watch.fd, sink, sizeof sink) > 0)
        ;
    conn_close(&c->conn);
    clients_mark_dirty(s, c);
    return true;
}

/* Writes the answered replies at the head of the queue to the connection. false if the
 * client does not read its replies (max_client_output): it was cut off. */
static bool resp_queue_drain(struct server *s, struct client *c)
{
    struct resp_conn *r = c->resp;
    bool wrote = false;
    while (r->queue_count > 0) {
        struct resp_reply *p = &r->queue[r->queue_head];
        if (!p->done)
            break;
        uint8_t *buf = conn_is_open(&c->conn) ? conn_reserve(&c->conn, p->len) : NULL;
        if (buf)
            memcpy(buf, p->heap ? p->heap : p->small, p->len);
        free(p->heap);
        p->heap = NULL;
        if (!buf) {
            if (conn_is_open(&c->conn))
                lum_warn("%s: not reading its replies (max_client_output %u), closing",
                         c->name, s->cfg.max_client_output);
            conn_close(&c->conn);
            clients_mark_dirty(s, c); /* the flush frees it */
            return false;
        }
        conn_commit(&c->conn, p->len);
        wrote = true;
        r->queue_head = (r->queue_head + 1) % r->queue_cap;
        r->queue_count--;
        r->seq_head++;
    }
    if (wrote)
        clients_mark_dirty(s, c);
    resp_close_if_done(s, c);
    return true;
}

/* Puts the reply in s->resp->out into request seq's place. */
static void resp_queue_fill(struct server *s, struct client *c, uint64_t seq)
{
    struct resp_out *o = &s->resp->out;
    struct resp_reply *p = resp_queue_at(c->resp, seq);
    LUM_ASSERT(!p->done);
    if (o->failed) { /* out of memory building it: say so rather than nothing */
        resp_out_reset(o);
        resp_out_error(o, "ERR out of memory");
    }
    p->done = true;
    p->len = (uint32_t)o->len;
    if (o->len <= RESP_REPLY_INLINE) {
        memcpy(p->small, o->data, o->len);
    } else if ((p->heap = malloc(o->len)) != NULL) {
        memcpy(p->heap, o->data, o->len);
    } else {
        static const char oom[] = "-ERR out of memory\r\n";
        memcpy(p->small, oom, sizeof oom - 1);
        p->len = sizeof oom - 1;
    }
}

void resp_deliver(struct server *s, struct client *c, uint64_t seq, int status, int32_t code,
                  const uint8_t *data, uint32_t len)
{
    if (!conn_is_open(&c->conn))
        return;
    struct resp_out *o = &s->resp->out;
    resp_out_reset(o);
    resp_out_answer(o, resp_queue_at(c->resp, seq)->kind, status, code, data, len);
    resp_queue_fill(s, c, seq);
    resp_queue_drain(s, c);
}

void resp_respond(struct server *s, struct client *c, const struct wire_response *rs)
{
    resp_deliver(s, c, rs->request_id, rs->status, rs->code, rs->data, rs->data_len);
}

/* ---- running requests ------------------------------------------------------------------------ */

/* On the leader: the native write and read paths (clients.c), so a RESP write is proposed,
 * made durable, replicated and answered after apply exactly like a native one. Elsewhere:
 * to the leader over the shared link. 0 or the status to answer now. */
static int resp_execute(struct server *s, struct client *c, uint64_t seq,
                        const struct resp_request *rq)
{
    struct raft_status st;
    raft_status(s->raft, &st);
    if (st.role != RAFT_LEADER)
        return resp_link_forward(s, c, seq, rq);
    if (rq->cls == RESP_WRITE) /* client_id 0: RESP has no sessions to retry in */
        return clients_propose(s, c, seq, rq->entry_type, 0, 0, rq->body, rq->len);
    return clients_read(s, c, seq, rq->body, rq->len);
}

/* Stops taking requests from c until its waiting ones are answered (resp_resume). */
static int resp_block(struct client *c)
{
    c->paused = true;
    return conn_pause_reading(&c->conn, true);
}

/* Runs the whole requests buffered in c's input, as far as it may go on. 0, or a negated
 * code: close the connection. */
static int resp_process(struct server *s, struct client *c)
{
    struct resp_conn *r = c->resp;
    int blocked = 0;
    while (!r->closing && !c->paused) {
        const uint8_t *in = c->conn.in.data + c->conn.in.pos;
        size_t avail = c->conn.in.last - c->conn.in.pos;
        int n = resp_parse(&r->parser, in, avail);
        if (n == -LUM_EAGAIN)
            break;
        if (n == -LUM_EMALFORMED) {
            lum_info("%s: protocol error (%s), closing", c->name, r->parser.error);
            int64_t seq = r->queue_count < RESP_QUEUE_MAX ? resp_queue_push(r, RK_NONE) : -1;
            if (seq < 0)
                return -LUM_EMALFORMED;
            resp_out_reset(&s->resp->out);
            resp_out_error(&s->resp->out, "ERR Protocol error: %s", r->parser.error);
            resp_queue_fill(s, c, (uint64_t)seq);
            r->closing = true;
            conn_pause_reading(&c->conn, true);
            break;
        }
        if (n < 0)
            return n;
        if (r->parser.argc == 0) {
            conn_consume(&c->conn, (size_t)n);
            continue;
        }
        /* a blocked request stays in the input and is parsed again on resume */
        if (r->queue_count == RESP_QUEUE_MAX || c->pending >= s->cfg.max_pending_per_conn) {
            blocked = resp_block(c);
            break;
        }
        struct resp_request rq;
        bool quit = false;
        resp_out_reset(&s->resp->out);
        int cls = resp_command(s, in, r->parser.args, r->parser.argc, &rq, &quit);
        if (cls != RESP_LOCAL && c->pending > 0 && cls != r->waiting_class) {
            blocked = resp_block(c); /* a read after writes, or a write after reads */
            break;
        }
        conn_consume(&c->conn, (size_t)n);
        c->active_ms = clock_mono_ms();
        int64_t seq = resp_queue_push(r, cls == RESP_LOCAL ? RK_NONE : rq.kind);
        if (seq < 0)
            return -LUM_ENOMEM;
        if (cls == RESP_LOCAL) {
            resp_queue_fill(s, c, (uint64_t)seq);
            if (quit) {
                r->closing = true;
                conn_pause_reading(&c->conn, true);
            }
            continue;
        }
        r->waiting_class = (uint8_t)cls;
        int rv = resp_execute(s, c, (uint64_t)seq, &rq);
        if (rv != 0) {
            resp_out_reset(&s->resp->out);
            resp_out_answer(&s->resp->out, rq.kind, rv, 0, NULL, 0);
            resp_queue_fill(s, c, (uint64_t)seq);
        }
    }
    resp_queue_drain(s, c); /* the replies made so far; if it cut c off, the flush frees it */
    return blocked;
}

int resp_resume(struct server *s, struct client *c)
{
    c->paused = false;
    int rv = resp_process(s, c);
    if (rv == 0 && !c->paused && !c->resp->closing)
        rv = conn_pause_reading(&c->conn, false);
    return rv;
}

static void resp_on_event(struct loop_watch *w, uint32_t events)
{
    struct client *c = SERVER_CONTAINER_OF(w, struct client, conn.watch);
    struct server *s = c->srv;
    if ((events & EPOLLOUT) && conn_flush(&c->conn) != 0) {
        client_close(s, c);
        return;
    }
    if (resp_close_if_done(s, c))
        return;
    if ((c->paused || c->resp->closing) && (events & (EPOLLHUP | EPOLLERR))) {
        client_close(s, c); /* reported even while not reading: its replies can't arrive */
        return;
    }
    if (c->paused || c->resp->closing ||
        !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    int rv = conn_read(&c->conn);
    if (rv == -LUM_EAGAIN)
        return;
    if (rv < 0) { /* closed (redis-cli after its reply), an error, or a full buffer */
        client_close(s, c);
        return;
    }
    if (resp_process(s, c) != 0)
        client_close(s, c);
}

void resp_conn_free(struct client *c)
{
    struct resp_conn *r = c->resp;
    if (!r)
        return;
    for (uint32_t i = 0; i < r->queue_count; i++)
        free(r->queue[(r->queue_head + i) % r->queue_cap].heap);
    free(r->queue);
    resp_parser_free(&r->parser);
    free(r);
    c->resp = NULL;
    c->srv->resp->conns--;
}

uint32_t resp_clients_count(const struct server *s)
{
    return s->resp ? s->resp->conns : 0;
}

/* Over max_clients: Redis's own words, then FIN (see limits_refuse_client). */
static void resp_refuse(struct server *s, int fd)
{
    static const char msg[] = "-ERR max number of clients reached\r\n";
    net_refuse(fd, msg, sizeof msg - 1);
    s->refused++;
}

void resp_on_accept(struct loop_watch *w, uint32_t events)
{
    struct resp_server *rs = SERVER_CONTAINER_OF(w, struct resp_server, listen);
    struct server *s = rs->srv;
    (void)events;
    for (int fd; (fd = net_accept_next(w->fd, "resp_listen")) >= 0;) {
        if (s->clients_count >= s->cfg.max_clients) {
            resp_refuse(s, fd);
            continue;
        }
        struct resp_conn *r = calloc(1, sizeof *r);
        if (!r) {
            close(fd);
            continue;
        }
        resp_parser_init(&r->parser, &rs->limits);
        /* room for one whole request and the start of the next */
        struct client *c = clients_add(s, fd, resp_on_event, 2 * (size_t)rs->limits.request_max,
                                       "redis client");
        if (!c) {
            resp_parser_free(&r->parser);
            free(r);
            continue;
        }
        c->resp = r;
        rs->conns++;
        metrics_conn(&s->metrics, &c->conn, METRICS_CONN_RESP);
        c->authed = true; /* RESP has no handshake: resp_listen must be a trusted interface */
    }
}

/* ---- the listener ----------------------------------------------------------------------------- */

int resp_init(struct server *s, struct lum_err *err)
{
    if (!s->cfg.resp_listen_addr[0])
        return 0;
    struct resp_server *rs = calloc(1, sizeof *rs);
    if (!rs) {
        lum_errf(err, "out of memory");
        return -LUM_ENOMEM;
    }
    s->resp = rs;
    rs->srv = s;
    rs->listen.fd = -1;
    rs->limits = (struct resp_limits){.args_max = RESP_ARGS_MAX_DEFAULT,
                                      .bulk_max = s->cfg.max_frame,
                                      .request_max = s->cfg.max_frame};
    rs->body_cap = LUM_COMMAND_BODY_MAX;
    rs->body = malloc(rs->body_cap);
    rs->keys = calloc(RESP_ARGS_MAX_DEFAULT, sizeof *rs->keys);
    rs->pairs = calloc(RESP_ARGS_MAX_DEFAULT / 2, sizeof *rs->pairs);
    if (!rs->body || !rs->keys || !rs->pairs || resp_link_init(s) != 0) {
        lum_errf(err, "out of memory");
        return -LUM_ENOMEM;
    }
    int fd = net_listen(&s->cfg.resp_listen, err);
    if (fd < 0)
        return -LUM_EIO;
    rs->listen.fd = fd;
    rs->listen.fn = resp_on_accept;
    if (loop_add(&s->loop, &rs->listen, EPOLLIN) != 0) {
        lum_errf(err, "cannot watch the resp_listen socket");
        return -LUM_EIO;
    }
    lum_info("Redis protocol (RESP2) on %s", s->cfg.resp_listen_addr);
    return 0;
}

void resp_close(struct server *s)
{
    struct resp_server *rs = s->resp;
    if (!rs)
        return;
    if (rs->listen.fd >= 0) {
        loop_del(&s->loop, &rs->listen);
        close(rs->listen.fd);
    }
    resp_link_free(s);
    free(rs->out.data);
    free(rs->body);
    free(rs->keys);
    free(rs->pairs);
    free(rs);
    s->resp = NULL;
}

void resp_flush(struct server *s)
{
    if (s->resp)
        resp_link_flush(s);
}
