/* The HTTP/1.1 endpoint (http_listen): connections on the server's loop, for monitoring.
 * GET and HEAD only; anything else is answered 405 with Allow, a bad head 400, a head over
 * HTTP_HEAD_MAX 431, and each of these closes the connection. Keep-alive is supported
 * (HTTP/1.1 by default, HTTP/1.0 with "Connection: keep-alive"), pipelined requests are
 * answered in order, at most HTTP_OUT_PAUSE bytes of answers queued before we stop reading.
 *
 * Requests are read when they arrive but answered once per loop turn, after the ready
 * drain (http_flush), so /health and /metrics see the state after the turn's work. A
 * connection gets HTTP_IDLE_TIMEOUT_MS from its accept or last answer to complete its next
 * request, whatever it trickles meanwhile; after the last answer of a connection we close,
 * its input is drained for HTTP_LINGER_MS (lingering close) so the answer is not lost to a
 * reset. At most HTTP_CONNS_MAX connections; more are answered 503 and closed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_int.h"

#define HTTP_REFUSAL_LOG_MS 1000u

struct http_conn {
    struct server *srv;
    struct conn conn;
    uint32_t slot;
    uint64_t deadline_ms;   /* monotonic: idle limit, then the linger limit               */
    bool     queued;        /* has input to look at: listed in http_server.ready           */
    bool     out_paused;    /* too many answers queued: not reading until they drain       */
    bool     eof;           /* the client closed its side: answer what is there, close     */
    bool     closing;       /* the last answer is queued: shut down once it is written     */
    bool     lingering;     /* shut down for writing: dropping input until EOF or deadline */
    char     name[64];
};

struct http_server {
    struct server *srv;
    struct loop_watch listen;
    struct http_conn *conns[HTTP_CONNS_MAX];
    uint32_t count;
    uint32_t ready[HTTP_CONNS_MAX], ready_count;
    uint64_t refusal_logged_ms;
    uint32_t refused;
};

uint32_t http_conns_count(const struct server *s)
{
    return s->http ? s->http->count : 0;
}

static void http_conn_close(struct server *s, struct http_conn *h)
{
    struct http_server *hs = s->http;
    for (uint32_t i = 0; h->queued && i < hs->ready_count; i++)
        if (hs->ready[i] == h->slot) /* its slot may be reused before the list is read */
            hs->ready[i] = hs->ready[--hs->ready_count];
    s->http->conns[h->slot] = NULL;
    s->http->count--;
    conn_close(&h->conn);
    free(h);
}

static void http_mark_ready(struct server *s, struct http_conn *h)
{
    if (h->queued)
        return;
    LUM_ASSERT(s->http->ready_count < HTTP_CONNS_MAX); /* one entry per connection at most */
    h->queued = true;
    s->http->ready[s->http->ready_count++] = h->slot;
}

/* Queues one answer. Error statuses and "close" requests end the connection. */
static void http_respond(struct server *s, struct http_conn *h, int status, const char *type,
                         const char *body, size_t body_len, bool send_body, bool keep_alive)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "%s"
                     "Connection: %s\r\n\r\n",
                     status, http_reason(status), type, body_len,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     keep_alive ? "keep-alive" : "close");
    LUM_ASSERT(n > 0 && (size_t)n < sizeof head);
    size_t total = (size_t)n + (send_body ? body_len : 0);
    uint8_t *out = conn_reserve(&h->conn, total);
    metrics_http_response(&s->metrics, status);
    if (!out) { /* it does not read what it asked for: HTTP_OUT_MAX */
        lum_warn("%s: not reading its answers, closing", h->name);
        h->closing = true;
        conn_close(&h->conn);
        return;
    }
    memcpy(out, head, (size_t)n);
    if (send_body)
        memcpy(out + n, body, body_len);
    conn_commit(&h->conn, total);
    if (!keep_alive)
        h->closing = true;
}

static void http_error(struct server *s, struct http_conn *h, int status, const char *why)
{
    char body[160];
    int n = snprintf(body, sizeof body, "%s\n", why);
    http_respond(s, h, status, "text/plain; charset=utf-8", body, (size_t)n, true, false);
}

static void http_answer(struct server *s, struct http_conn *h, const struct http_request *rq)
{
    if (rq->method == HTTP_METHOD_OTHER) {
        char why[96];
        snprintf(why, sizeof why, "method %.*s not allowed: GET or HEAD only",
                 (int)rq->method_len, rq->method_text);
        http_error(s, h, 405, why);
        return;
    }
    if (rq->has_body) { /* we would have to read it to find the next request */
        static const char why[] = "a GET request has no body\n";
        http_respond(s, h, 400, "text/plain; charset=utf-8", why, sizeof why - 1,
                     rq->method == HTTP_METHOD_GET, false);
        return;
    }
    struct strbuf body;
    strbuf_init(&body, HTTP_OUT_MAX / 2);
    const char *type = "text/plain; charset=utf-8";
    int status = http_route(s, rq->path, rq->path_len, &type, &body);
    if (body.failed) {
        strbuf_free(&body);
        http_error(s, h, 500, "out of memory");
        return;
    }
    http_respond(s, h, status, type, body.data ? body.data : "", body.len,
                 rq->method == HTTP_METHOD_GET, rq->keep_alive && !h->eof);
    strbuf_free(&body);
}

/* Answers the whole requests buffered on h, as far as the output limit allows. */
static void http_serve(struct server *s, struct http_conn *h)
{
    struct conn *c = &h->conn;
    while (conn_is_open(c) && !h->closing && !h->lingering &&
           conn_pending_out(c) < HTTP_OUT_PAUSE && c->in.last > c->in.pos) {
        struct http_request rq;
        int rv = http_parse_request((const char *)c->in.data + c->in.pos, c->in.last - c->in.pos,
                                    &rq);
        if (rv == HTTP_PARSE_MORE) {
            if (h->eof) /* it will never finish this one */
                h->closing = true;
            break;
        }
        if (rv < 0) {
            http_error(s, h, -rv, rv == HTTP_PARSE_TOO_LARGE ? "request head too large"
                                  : rv == HTTP_PARSE_VERSION ? "HTTP/1.x only"
                                                             : "bad request");
            break;
        }
        http_answer(s, h, &rq);
        if (conn_is_open(c))
            conn_consume(c, (size_t)rv);
        h->deadline_ms = clock_mono_ms() + HTTP_IDLE_TIMEOUT_MS;
    }
    if (!conn_is_open(c))
        return;
    if (h->eof && c->in.last == c->in.pos)
        h->closing = true;
    bool pause = conn_pending_out(c) >= HTTP_OUT_PAUSE;
    if (pause != h->out_paused && !h->eof && !h->lingering) {
        h->out_paused = pause;
        if (conn_pause_reading(c, pause) != 0)
            conn_close(c);
    }
}

/* After a write: a closing connection whose last answer is out is shut down for writing
 * and drained for a while; a paused one reads again. */
static void http_after_write(struct server *s, struct http_conn *h)
{
    struct conn *c = &h->conn;
    if (!conn_is_open(c) || conn_pending_out(c) > 0)
        return;
    if (h->closing && !h->lingering) {
        shutdown(c->watch.fd, SHUT_WR);
        h->lingering = true;
        h->deadline_ms = clock_mono_ms() + HTTP_LINGER_MS;
        if (h->eof) /* nothing more will come */
            conn_close(c);
        else if (h->out_paused && conn_pause_reading(c, false) != 0)
            conn_close(c);
        h->out_paused = false;
    } else if (h->out_paused) {
        http_mark_ready(s, h); /* answer what waits, then read again (http_serve) */
    }
}

static void http_on_event(struct loop_watch *w, uint32_t events)
{
    struct http_conn *h = SERVER_CONTAINER_OF(w, struct http_conn, conn.watch);
    struct server *s = h->srv;
    struct conn *c = &h->conn;
    if ((events & EPOLLOUT) && conn_flush(c) != 0) {
        http_conn_close(s, h);
        return;
    }
    http_after_write(s, h);
    if (!conn_is_open(c)) {
        http_conn_close(s, h);
        return;
    }
    if ((h->out_paused || h->eof) && (events & (EPOLLHUP | EPOLLERR))) {
        http_conn_close(s, h); /* reported while we do not read: our answers cannot arrive */
        return;
    }
    if (h->out_paused || h->eof || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    int rv = conn_read(c);
    if (h->lingering) { /* only waiting for its EOF now */
        conn_consume(c, c->in.last - c->in.pos);
        if (rv != -LUM_EAGAIN && rv <= 0)
            http_conn_close(s, h);
        return;
    }
    if (rv == -LUM_ECLOSED && (c->in.last > c->in.pos || conn_pending_out(c) > 0)) {
        h->eof = true; /* requests, then a half-close: answer them first */
        if (conn_pause_reading(c, true) != 0) {
            http_conn_close(s, h);
            return;
        }
    } else if (rv < 0 && rv != -LUM_EAGAIN && rv != -LUM_ETOOBIG) {
        http_conn_close(s, h);
        return;
    }
    http_mark_ready(s, h);
}

void http_flush(struct server *s)
{
    struct http_server *hs = s->http;
    if (!hs)
        return;
    uint32_t n = hs->ready_count, slots[HTTP_CONNS_MAX];
    memcpy(slots, hs->ready, n * sizeof slots[0]); /* serving one may list it again */
    hs->ready_count = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct http_conn *h = hs->conns[slots[i]];
        if (!h || !h->queued)
            continue;
        h->queued = false;
        http_serve(s, h);
        if (conn_is_open(&h->conn) && conn_flush(&h->conn) != 0)
            conn_close(&h->conn);
        http_after_write(s, h);
        if (!conn_is_open(&h->conn))
            http_conn_close(s, h);
    }
}

void http_tick(struct server *s, uint64_t now_ms)
{
    struct http_server *hs = s->http;
    for (uint32_t i = 0; hs && hs->count > 0 && i < HTTP_CONNS_MAX; i++) {
        struct http_conn *h = hs->conns[i];
        if (!h || now_ms < h->deadline_ms)
            continue;
        struct conn *c = &h->conn;
        if (!h->lingering && !h->closing && c->in.last > c->in.pos) {
            /* a request begun but not finished in time: say so, then close */
            lum_info("%s: request not complete within %u ms, closing", h->name,
                     HTTP_IDLE_TIMEOUT_MS);
            http_error(s, h, 408, "request not complete in time");
            h->deadline_ms = now_ms + HTTP_LINGER_MS;
            if (conn_is_open(c) && conn_flush(c) != 0)
                conn_close(c);
            http_after_write(s, h);
            if (conn_is_open(c))
                continue;
        }
        http_conn_close(s, h);
    }
}

/* Over HTTP_CONNS_MAX: one best-effort answer on the new socket, then close it. */
static void http_refuse(struct server *s, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 21\r\nConnection: close\r\n\r\n"
                               "too many connections\n";
    net_refuse(fd, busy, sizeof busy - 1);
    metrics_http_response(&s->metrics, 503);
    struct http_server *hs = s->http;
    hs->refused++;
    uint64_t now = clock_mono_ms();
    if (now - hs->refusal_logged_ms >= HTTP_REFUSAL_LOG_MS) {
        lum_warn("http: %u connections refused: %u open (the limit)", hs->refused,
                 HTTP_CONNS_MAX);
        hs->refusal_logged_ms = now;
        hs->refused = 0;
    }
}

static void http_on_accept(struct loop_watch *w, uint32_t events)
{
    struct http_server *hs = SERVER_CONTAINER_OF(w, struct http_server, listen);
    struct server *s = hs->srv;
    (void)events;
    for (int fd; (fd = net_accept_next(w->fd, "http_listen")) >= 0;) {
        if (hs->count >= HTTP_CONNS_MAX) {
            http_refuse(s, fd);
            continue;
        }
        uint32_t slot = 0;
        while (hs->conns[slot])
            slot++;
        struct http_conn *h = calloc(1, sizeof *h);
        if (!h) {
            close(fd);
            continue;
        }
        h->srv = s;
        h->slot = slot;
        h->deadline_ms = clock_mono_ms() + HTTP_IDLE_TIMEOUT_MS;
        char addr[48];
        net_peer_name(fd, addr, sizeof addr);
        snprintf(h->name, sizeof h->name, "http %s", addr);
        if (conn_open(&h->conn, &s->loop, fd, http_on_event, HTTP_HEAD_MAX, HTTP_OUT_MAX) != 0) {
            free(h);
            continue;
        }
        metrics_conn(&s->metrics, &h->conn, METRICS_CONN_HTTP);
        hs->conns[slot] = h;
        hs->count++;
    }
}

int http_init(struct server *s, struct lum_err *err)
{
    if (!s->cfg.http_listen_addr[0])
        return 0;
    struct http_server *hs = calloc(1, sizeof *hs);
    if (!hs) {
        lum_errf(err, "out of memory for the HTTP endpoint");
        return -LUM_ENOMEM;
    }
    hs->srv = s;
    hs->listen.fd = -1;
    s->http = hs;
    int fd = net_listen(&s->cfg.http_listen, err);
    if (fd < 0)
        return -LUM_EIO;
    hs->listen.fd = fd;
    hs->listen.fn = http_on_accept;
    if (loop_add(&s->loop, &hs->listen, EPOLLIN) != 0) {
        lum_errf(err, "http_listen %s: cannot watch the socket", s->cfg.http_listen_addr);
        return -LUM_EIO;
    }
    lum_info("http: serving /metrics, /health and /status on %s", s->cfg.http_listen_addr);
    return 0;
}

void http_close(struct server *s)
{
    struct http_server *hs = s->http;
    if (!hs)
        return;
    for (uint32_t i = 0; i < HTTP_CONNS_MAX; i++)
        if (hs->conns[i])
            http_conn_close(s, hs->conns[i]);
    if (hs->listen.fd >= 0) {
        loop_del(&s->loop, &hs->listen);
        close(hs->listen.fd);
    }
    free(hs);
    s->http = NULL;
}
