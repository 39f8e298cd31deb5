/* The blocking client: one connection at a time, poll() for deadlines. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "luminous/client.h"
#include "luminous/io.h"
#include "luminous/secret.h"

#define CLIENT_ATTEMPT_MS 1000u  /* one node gets this long to answer before we move on */
#define CLIENT_BACKOFF_MS 50u    /* pause when no node knows a leader (an election)     */
#define CLIENT_BUF_SIZE   (WIRE_FRAME_MAX + 64)

struct lum_client {
    char     addrs[LUM_CLIENT_NODES_MAX][WIRE_ADDR_MAX + 1];
    uint32_t n_addrs;
    uint32_t timeout_ms;
    int      fd;              /* connection to current, or -1             */
    char     current[WIRE_ADDR_MAX + 1];
    uint32_t next;            /* next list entry to try                  */
    uint64_t client_id, seq, request_id;
    uint8_t *buf;             /* requests out, responses in              */
    size_t   buf_len;         /* bytes of response received              */
    uint8_t  secret[LUM_SECRET_MAX];
    size_t   secret_len;      /* 0: no handshake                         */
};

int lum_client_open(const char *cluster, uint32_t timeout_ms, struct lum_client **out,
                    struct lum_err *err)
{
    struct lum_client *c = calloc(1, sizeof *c);
    if (!c || !(c->buf = malloc(CLIENT_BUF_SIZE))) {
        free(c);
        lum_errf(err, "out of memory");
        return -LUM_ENOMEM;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    const char *p = cluster;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct sockaddr_in sa;
        char addr[WIRE_ADDR_MAX + 1];
        if (len == 0 || len > WIRE_ADDR_MAX || c->n_addrs == LUM_CLIENT_NODES_MAX) {
            lum_errf(err, "bad cluster list \"%s\"", cluster);
            goto err_free;
        }
        memcpy(addr, p, len);
        addr[len] = '\0';
        if (net_parse_addr(addr, &sa, err) != 0)
            goto err_free;
        strcpy(c->addrs[c->n_addrs++], addr);
        p = end ? end + 1 : p + len;
    }
    if (c->n_addrs == 0) {
        lum_errf(err, "empty cluster list");
        goto err_free;
    }
    if (getrandom(&c->client_id, sizeof c->client_id, 0) != sizeof c->client_id)
        c->client_id = clock_wall_ms() ^ ((uint64_t)getpid() << 40);
    c->client_id |= 1; /* never 0: 0 means "no session" */
    *out = c;
    return 0;

err_free:
    free(c->buf);
    free(c);
    return -LUM_EINVAL;
}

void lum_client_close(struct lum_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    memset(c->secret, 0, sizeof c->secret);
    free(c);
}

int lum_client_set_secret(struct lum_client *c, const void *key, size_t len)
{
    if (len == 0 || len > sizeof c->secret)
        return -LUM_EINVAL;
    memcpy(c->secret, key, len);
    c->secret_len = len;
    return 0;
}

uint32_t lum_client_nodes(const struct lum_client *c) { return c->n_addrs; }
const char *lum_client_node_addr(const struct lum_client *c, uint32_t i) { return c->addrs[i]; }

static void client_disconnect(struct lum_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->current[0] = '\0';
}

static int client_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (now >= deadline)
            return -LUM_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -LUM_EIO;
    }
}

static int client_auth(struct lum_client *c, uint64_t deadline, struct lum_err *err);

static int client_connect(struct lum_client *c, const char *addr, uint64_t deadline,
                          struct lum_err *err)
{
    if (c->fd >= 0 && strcmp(c->current, addr) == 0)
        return 0;
    client_disconnect(c);
    struct sockaddr_in sa;
    if (net_parse_addr(addr, &sa, err) != 0)
        return -LUM_EUNAVAILABLE;
    int fd = net_connect(&sa, err);
    if (fd < 0)
        return -LUM_EUNAVAILABLE;
    int rv = client_wait(fd, POLLOUT, deadline);
    int e = rv == 0 ? net_connect_result(fd) : 0;
    if (rv != 0 || e != 0) {
        lum_errf(err, "connect to %s: %s", addr, rv ? "timed out" : strerror(e));
        close(fd);
        return -LUM_EUNAVAILABLE;
    }
    c->fd = fd;
    snprintf(c->current, sizeof c->current, "%s", addr);
    rv = c->secret_len > 0 ? client_auth(c, deadline, err) : 0;
    if (rv != 0)
        client_disconnect(c);
    return rv;
}

/* Sends buf[0..len). */
static int client_send(struct lum_client *c, size_t len, uint64_t deadline,
                       struct lum_err *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, c->buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (client_wait(c->fd, POLLOUT, deadline) != 0) {
                lum_errf(err, "%s did not answer in time", c->current);
                return -LUM_ETIMEDOUT;
            }
            continue;
        }
        lum_errf(err, "send to %s: %s", c->current, strerror(errno));
        return -LUM_ECLOSED;
    }
    return 0;
}

/* Reads one frame (of any type) into buf. */
static int client_read_frame(struct lum_client *c, uint64_t deadline, struct wire_frame *f,
                             struct lum_err *err)
{
    c->buf_len = 0;
    for (;;) {
        int rv = wire_frame_peek(c->buf, c->buf_len, WIRE_FRAME_MAX, f);
        if (rv == 0)
            return 0;
        if (rv != -LUM_EAGAIN) {
            lum_errf(err, "bad answer from %s: %s", c->current, lum_strerror(rv));
            return -LUM_EMALFORMED;
        }
        if (client_wait(c->fd, POLLIN, deadline) != 0) {
            lum_errf(err, "%s did not answer in time", c->current);
            return -LUM_ETIMEDOUT;
        }
        ssize_t n = recv(c->fd, c->buf + c->buf_len, CLIENT_BUF_SIZE - c->buf_len, 0);
        if (n > 0) {
            c->buf_len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        lum_errf(err, "%s closed the connection", c->current);
        return -LUM_ECLOSED;
    }
}

/* Sends buf[0..len) and reads one response frame (of any type) into buf. */
static int client_roundtrip(struct lum_client *c, size_t len, uint64_t deadline,
                            struct wire_frame *f, struct lum_err *err)
{
    int rv = client_send(c, len, deadline, err);
    return rv == 0 ? client_read_frame(c, deadline, f, err) : rv;
}

/* The dialer's side of the cluster-secret handshake (src/wire/auth.c) on a new connection:
 * the node's CHALLENGE, our PROOF, its ACCEPT, whose proof we check too. 0, -LUM_EAUTH
 * (refused or not proven: trying other nodes will not help), or another negated code. */
static int client_auth(struct lum_client *c, uint64_t deadline, struct lum_err *err)
{
    struct wire_frame f;
    struct wire_auth ch, pr = {.step = WIRE_AUTH_PROOF}, ac;
    int rv = client_read_frame(c, deadline, &f, err);
    if (rv == -LUM_ETIMEDOUT)
        lum_errf(err, "%s sent no authentication challenge in time (no secret_file there?)",
                 c->current);
    if (rv != 0)
        return rv == -LUM_ECLOSED || rv == -LUM_ETIMEDOUT ? -LUM_EUNAVAILABLE : rv;
    if (f.type != WIRE_AUTH || wire_decode_auth(&f, &ch) != 0 ||
        ch.step != WIRE_AUTH_CHALLENGE) {
        lum_errf(err, "%s did not ask for authentication (no secret_file there?)", c->current);
        return -LUM_EAUTH;
    }
    if (wire_auth_nonce(pr.nonce) != 0) {
        lum_errf(err, "cannot get random bytes for a nonce");
        return -LUM_EIO;
    }
    wire_auth_dialer_mac(c->secret, c->secret_len, ch.nonce, pr.nonce, pr.mac);
    int n = wire_encode_auth(c->buf, CLIENT_BUF_SIZE, &pr);
    LUM_ASSERT(n > 0);
    rv = client_roundtrip(c, (size_t)n, deadline, &f, err);
    bool accepted = rv == 0 && f.type == WIRE_AUTH && wire_decode_auth(&f, &ac) == 0 &&
                    wire_auth_acceptor_ok(c->secret, c->secret_len, ch.nonce, pr.nonce, &ac);
    /* a node closes the connection on a wrong proof, without a word: that is the answer */
    if (rv == -LUM_ECLOSED || (rv == 0 && !accepted)) {
        lum_errf(err, "%s: authentication failed (wrong secret?)", c->current);
        return -LUM_EAUTH;
    }
    return rv;
}

/* A response with request id 0 is the server refusing the connection (max_clients, a
 * frame over max_frame); its data says why. 0 if f is not one, else -LUM_EBUSY (worth a
 * retry) or -LUM_ECLOSED, with the server's words in err. An AUTH frame in place of an
 * answer is a node with a secret challenging a client without one: -LUM_EAUTH. */
static int client_refusal(struct lum_client *c, const struct wire_frame *f, struct lum_err *err)
{
    if (f->type == WIRE_AUTH) {
        lum_errf(err, "%s requires authentication: pass --secret-file or set "
                 "LUMINOUS_SECRET_FILE", c->current);
        return -LUM_EAUTH;
    }
    struct wire_response rs;
    if (f->type != WIRE_CLIENT_RESPONSE || wire_decode_response(f, &rs) != 0 ||
        rs.request_id != 0 || rs.status == 0)
        return 0;
    lum_errf(err, "%s: %.*s", c->current, (int)(rs.data_len < 200 ? rs.data_len : 200),
             (const char *)rs.data);
    return rs.status == -LUM_EBUSY ? -LUM_EBUSY : -LUM_ECLOSED;
}

static void client_pause(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int client_status_at(struct lum_client *c, const char *addr, struct wire_status *out,
                            struct lum_err *err);

/* One request to the cluster, redirected and retried until the deadline. */
static int client_request(struct lum_client *c, struct wire_request *rq, bool follow_leader,
                          struct lum_reply *out, struct lum_err *err)
{
    bool admin = rq->op >= WIRE_OP_MEMBERS;
    uint64_t deadline = clock_mono_ms() + c->timeout_ms;
    char target[WIRE_ADDR_MAX + 1];
    snprintf(target, sizeof target, "%s", c->current[0] ? c->current : c->addrs[c->next]);
    bool answered_once = false;
    lum_errf(err, "no node answered");
    while (clock_mono_ms() < deadline) {
        uint64_t attempt = clock_mono_ms() + CLIENT_ATTEMPT_MS;
        if (attempt > deadline || admin)
            attempt = deadline;
        int rv = client_connect(c, target, attempt, err);
        if (rv == 0) {
            rq->request_id = ++c->request_id;
            int n = wire_encode_request(c->buf, CLIENT_BUF_SIZE, rq);
            if (n < 0) {
                lum_errf(err, "request too large");
                return n;
            }
            struct wire_frame f;
            struct wire_response rs;
            rv = client_roundtrip(c, (size_t)n, attempt, &f, err);
            if (rv == 0)
                rv = client_refusal(c, &f, err);
            if (rv == 0 && (f.type != WIRE_CLIENT_RESPONSE ||
                                   wire_decode_response(&f, &rs) != 0 ||
                                   rs.request_id != rq->request_id)) {
                lum_errf(err, "bad answer from %s", c->current);
                rv = -LUM_EMALFORMED;
            }
            if (rv == 0)
                answered_once = true;
            if (rv == 0 && rs.status == -LUM_ENOTLEADER && follow_leader) {
                if (rs.leader_addr_len > 0 && rs.leader_addr_len <= WIRE_ADDR_MAX &&
                    memcmp(rs.leader_addr, c->current, rs.leader_addr_len) != 0) {
                    memcpy(target, rs.leader_addr, rs.leader_addr_len);
                    target[rs.leader_addr_len] = '\0';
                    continue;
                }
                lum_errf(err, "%s knows no leader (an election?)", c->current);
                rv = -LUM_EUNAVAILABLE;
            } else if (rv == 0 && rs.status == -LUM_EBUSY) {
                lum_errf(err, "%s is busy", c->current);
                rv = -LUM_EBUSY;
            } else if (rv == 0) {
                *out = (struct lum_reply){.status = rs.status, .code = rs.code,
                                          .data = rs.data, .len = rs.data_len,
                                          .node_id = rs.leader_id};
                return 0;
            }
        }
        client_disconnect(c);
        if (rv == -LUM_EAUTH)
            return rv; /* the nodes share one secret: the others would refuse us too */
        c->next = (c->next + 1) % c->n_addrs;
        snprintf(target, sizeof target, "%s", c->addrs[c->next]);
        if (rv == -LUM_EUNAVAILABLE || rv == -LUM_EBUSY)
            client_pause(CLIENT_BACKOFF_MS);
    }
    return answered_once ? -LUM_ETIMEDOUT : -LUM_EUNAVAILABLE;
}

int lum_client_command(struct lum_client *c, uint16_t entry_type, const void *body,
                       uint32_t len, struct lum_reply *out, struct lum_err *err)
{
    struct wire_request rq = {.op = WIRE_OP_COMMAND, .entry_type = entry_type,
                              .client_id = c->client_id, .seq = ++c->seq,
                              .body = body, .body_len = len};
    return client_request(c, &rq, true, out, err);
}

int lum_client_query(struct lum_client *c, const void *body, uint32_t len, bool stale,
                     struct lum_reply *out, struct lum_err *err)
{
    struct wire_request rq = {.op = WIRE_OP_QUERY, .flags = stale ? WIRE_FLAG_STALE : 0,
                              .body = body, .body_len = len};
    return client_request(c, &rq, !stale, out, err);
}

int lum_client_admin(struct lum_client *c, uint8_t op, const void *body, uint32_t len,
                     struct lum_reply *out, struct lum_err *err)
{
    struct wire_request rq = {.op = op, .body = body, .body_len = len};
    return client_request(c, &rq, true, out, err);
}

int lum_client_leader_status(struct lum_client *c, struct wire_status *out,
                             struct lum_err *err)
{
    uint64_t deadline = clock_mono_ms() + c->timeout_ms;
    lum_errf(err, "no node says it is the leader");
    do {
        for (uint32_t i = 0; i < c->n_addrs; i++) {
            struct lum_err e;
            int rv = lum_client_status(c, i, out, &e);
            if (rv == -LUM_EAUTH) {
                *err = e;
                return rv;
            }
            if (rv != 0)
                continue;
            if (out->role == RAFT_LEADER)
                return 0;
            /* a follower knows the leader, which may not be in our list (it was added) */
            for (uint32_t k = 0; out->leader_id && k < out->n_members; k++) {
                if (out->members[k].id != out->leader_id || !out->members[k].client_addr[0])
                    continue;
                char addr[WIRE_ADDR_MAX + 1];
                snprintf(addr, sizeof addr, "%s", out->members[k].client_addr);
                if (client_status_at(c, addr, out, &e) == 0 && out->role == RAFT_LEADER)
                    return 0;
                break;
            }
        }
        client_pause(CLIENT_BACKOFF_MS * 4);
    } while (clock_mono_ms() < deadline);
    return -LUM_EUNAVAILABLE;
}

int lum_client_status(struct lum_client *c, uint32_t i, struct wire_status *out,
                      struct lum_err *err)
{
    return client_status_at(c, c->addrs[i], out, err);
}

static int client_status_at(struct lum_client *c, const char *addr, struct wire_status *out,
                            struct lum_err *err)
{
    uint64_t deadline = clock_mono_ms() + c->timeout_ms;
    int rv = client_connect(c, addr, deadline, err);
    if (rv != 0)
        return rv;
    struct wire_request rq = {.op = WIRE_OP_STATUS, .request_id = ++c->request_id};
    int n = wire_encode_request(c->buf, CLIENT_BUF_SIZE, &rq);
    LUM_ASSERT(n > 0);
    struct wire_frame f;
    rv = client_roundtrip(c, (size_t)n, deadline, &f, err);
    if (rv == 0)
        rv = client_refusal(c, &f, err);
    if (rv == 0 && (f.type != WIRE_STATUS_RESPONSE || wire_decode_status(&f, out) != 0)) {
        lum_errf(err, "bad status answer from %s", addr);
        rv = -LUM_EMALFORMED;
    }
    if (rv != 0)
        client_disconnect(c);
    return rv == -LUM_ECLOSED ? -LUM_EUNAVAILABLE : rv;
}
