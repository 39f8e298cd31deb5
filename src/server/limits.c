/* Client and peer-link limits (issue 6): connections over max_clients, frames over
 * max_frame, clients pipelining past max_pending_per_conn, idle clients, clients that never
 * authenticate (with a secret), and accepted peer links that never introduce themselves.
 * Each is refused with a log line, and with an error frame where the client can still
 * read one, so no client can make the server hold more than max_frame of its input,
 * max_client_output of its answers, or a slot forever. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_int.h"

/* A connection-level error: request id 0 (clients number requests from 1), the message in
 * the data, so the client library can print it. */
static int limits_error_frame(uint8_t *buf, size_t cap, int status, const char *msg)
{
    struct wire_response rs = {.request_id = 0, .status = status,
                               .data = (const uint8_t *)msg, .data_len = (uint32_t)strlen(msg)};
    return wire_encode_response(buf, cap, &rs);
}

void limits_refuse_client(struct server *s, int fd)
{
    char msg[96];
    snprintf(msg, sizeof msg, "server busy: max_clients (%u) reached", s->cfg.max_clients);
    uint8_t buf[192];
    int n = limits_error_frame(buf, sizeof buf, -LUM_EBUSY, msg);
    net_refuse(fd, buf, n > 0 ? (size_t)n : 0);
    /* A flood of connections must not flood the log: one line a second with a count. */
    s->refused++;
    uint64_t now = clock_mono_ms();
    if (s->refusal_logged_ms == 0 || now - s->refusal_logged_ms >= SERVER_REFUSAL_LOG_MS) {
        lum_warn("max_clients (%u) reached: refused %u connection(s)", s->cfg.max_clients,
                 s->refused);
        s->refusal_logged_ms = now;
        s->refused = 0;
    }
}

/* Backpressure rather than an error answer for the excess: a pipelining client is not
 * misbehaving, only faster than the log, and an EBUSY per extra request would have it
 * resend them in a loop. Not reading its socket bounds what it costs us (max_frame of
 * input, max_pending_per_conn waiting requests) and lets TCP slow it down; it resumes as
 * soon as answers go out (clients_flush). */
int limits_pause_client(struct server *s, struct client *c)
{
    if (!c->paused) {
        lum_debug("%s: %u requests waiting (max_pending_per_conn %u), not reading it for now",
                  c->name, c->pending, s->cfg.max_pending_per_conn);
        c->paused = true;
    }
    return conn_pause_reading(&c->conn, true) == 0 ? SERVER_FRAME_LATER : -LUM_EIO;
}

void limits_frame_too_big(struct server *s, struct client *c)
{
    char msg[96];
    snprintf(msg, sizeof msg, "request frame larger than max_frame (%u bytes)",
             s->cfg.max_frame);
    uint8_t *buf = conn_reserve(&c->conn, 192);
    int n = buf ? limits_error_frame(buf, 192, -LUM_ETOOBIG, msg) : -1;
    if (n <= 0)
        return;
    conn_commit(&c->conn, (size_t)n);
    if (conn_flush(&c->conn) == 0)
        shutdown(c->conn.watch.fd, SHUT_WR); /* the frame, then FIN, before the close */
}

static void limits_idle_clients(struct server *s, uint64_t now)
{
    uint32_t timeout = s->cfg.client_idle_timeout_ms;
    for (uint32_t i = 0; i < s->cfg.max_clients && s->clients_count > 0; i++) {
        struct client *c = s->clients[i];
        /* active_ms is its accept time until it authenticates */
        if (c && !c->authed && now - c->active_ms >= SERVER_AUTH_TIMEOUT_MS) {
            auth_warn(s, "%s: did not authenticate within %u ms, closing", c->name,
                      SERVER_AUTH_TIMEOUT_MS);
            client_close(s, c);
            continue;
        }
        if (timeout == 0)
            continue;
        /* waiting for its answers, or for us to send them, is not idle */
        if (!c || c->pending > 0 || conn_pending_out(&c->conn) > 0 ||
            now - c->active_ms < timeout)
            continue;
        lum_info("%s: idle for %llu ms (client_idle_timeout_ms %u), closing", c->name,
                 (unsigned long long)(now - c->active_ms), timeout);
        client_close(s, c);
    }
}

void limits_tick(struct server *s, uint64_t now)
{
    if ((s->cfg.client_idle_timeout_ms > 0 || auth_enabled(s)) &&
        now - s->limits_scan_ms >= SERVER_HOUSEKEEPING_MS / 2) {
        s->limits_scan_ms = now;
        limits_idle_clients(s, now);
    }
    /* Inbound peer slots are few (SERVER_INBOUND_MAX): a port scanner or a stuck dialer
     * must not keep them from real peers. */
    for (uint32_t i = 0; i < SERVER_INBOUND_MAX; i++) {
        struct inbound *in = s->inbound[i];
        if (in && !in->hello_done && now - in->opened_ms >= SERVER_HELLO_TIMEOUT_MS) {
            lum_warn("%s: no %s within %u ms, closing", in->name,
                     in->authed ? "hello" : "authentication", SERVER_HELLO_TIMEOUT_MS);
            inbound_close(s, in);
        }
    }
}
