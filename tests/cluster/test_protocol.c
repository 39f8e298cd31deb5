/* The client protocol spoken by hand, beyond what the client library does: pipelined
 * requests, requests the server must answer with an error, redirects, and more connections
 * than max_clients. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(protocol);

#define PROTO_BUF_SIZE (WIRE_FRAME_MAX + 64)

/* A raw client connection and what it has received, not yet consumed. */
struct proto_conn {
    int      fd;
    uint8_t *in;
    size_t   in_len;
};

static void proto_open(struct proto_conn *pc, uint16_t port)
{
    pc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(pc->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(pc->fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s",
                 strerror(errno));
    pc->in = malloc(PROTO_BUF_SIZE);
    cr_assert_not_null(pc->in);
    pc->in_len = 0;
}

static void proto_close(struct proto_conn *pc)
{
    close(pc->fd);
    free(pc->in);
}

static void proto_send(struct proto_conn *pc, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(pc->fd, buf + off, len - off, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        off += (size_t)n;
    }
}

/* Appends one request to buf at *off. */
static void proto_add_request(uint8_t *buf, size_t cap, size_t *off, const struct wire_request *rq)
{
    int n = wire_encode_request(buf + *off, cap - *off, rq);
    cr_assert_gt(n, 0);
    *off += (size_t)n;
}

/* The next frame from the server, decoded into one of rs / st by its type; false if the
 * server closed the connection. Fails the test after CLUSTER_WAIT_MS. */
static bool proto_next(struct proto_conn *pc, uint8_t *type_out, struct wire_response *rs,
                       struct wire_status *st)
{
    static uint8_t frame[PROTO_BUF_SIZE];
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    for (;;) {
        struct wire_frame f;
        int rv = wire_frame_peek(pc->in, pc->in_len, WIRE_FRAME_MAX, &f);
        if (rv == 0) {
            /* keep the frame (rs points into it) and consume it from the input */
            memcpy(frame, pc->in, f.size);
            memmove(pc->in, pc->in + f.size, pc->in_len - f.size);
            pc->in_len -= f.size;
            f.body = frame + WIRE_FRAME_HEADER_SIZE;
            *type_out = f.type;
            if (f.type == WIRE_STATUS_RESPONSE)
                cr_assert_eq(wire_decode_status(&f, st), 0);
            else
                cr_assert_eq(wire_decode_response(&f, rs), 0, "type %u", f.type);
            return true;
        }
        cr_assert_eq(rv, -LUM_EAGAIN, "a bad frame from the server: %s", lum_strerror(rv));
        uint64_t now = clock_mono_ms();
        cr_assert_lt(now, deadline, "no answer from the server in %u ms", CLUSTER_WAIT_MS);
        struct pollfd p = {.fd = pc->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        ssize_t n = recv(pc->fd, pc->in + pc->in_len, PROTO_BUF_SIZE - pc->in_len, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return false;
        cr_assert_gt(n, 0, "recv: %s", strerror(errno));
        pc->in_len += (size_t)n;
    }
}

/* One request, one answer (a client response). */
static void proto_call(struct proto_conn *pc, const struct wire_request *rq,
                       struct wire_response *rs)
{
    static uint8_t buf[8192];
    size_t len = 0;
    proto_add_request(buf, sizeof buf, &len, rq);
    proto_send(pc, buf, len);
    uint8_t type;
    static struct wire_status st;
    cr_assert(proto_next(pc, &type, rs, &st), "the server closed the connection");
    cr_assert_eq(type, WIRE_CLIENT_RESPONSE);
    cr_assert_eq(rs->request_id, rq->request_id);
}

#define PIPE_PUTS 100
#define PIPE_GETS 50

Test(protocol, pipelined_requests_on_one_connection_are_each_answered_once)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c);
    struct proto_conn pc;
    proto_open(&pc, c->nodes[leader].client_port);

    static uint8_t buf[64 * 1024];
    size_t len = 0;
    uint8_t body[256];
    for (int k = 0; k < PIPE_PUTS; k++) {
        char key[16], value[32];
        snprintf(key, sizeof key, "p-%d", k);
        snprintf(value, sizeof value, "pipelined %d", k);
        int n = kv_encode_put(body, sizeof body, key, strlen(key), value, strlen(value), 0);
        cr_assert_gt(n, 0);
        struct wire_request rq = {.request_id = 1000 + (uint64_t)k, .op = WIRE_OP_COMMAND,
                                  .entry_type = KV_PUT, .client_id = 0x5eed0001,
                                  .seq = (uint64_t)k + 1, .body = body, .body_len = (uint32_t)n};
        proto_add_request(buf, sizeof buf, &len, &rq);
    }
    for (int k = 0; k < PIPE_GETS; k++) {
        char key[16];
        snprintf(key, sizeof key, "p-%d", k);
        int n = kv_encode_get(body, sizeof body, key, strlen(key));
        cr_assert_gt(n, 0);
        struct wire_request rq = {.request_id = 2000 + (uint64_t)k, .op = WIRE_OP_QUERY,
                                  .flags = k % 2 ? WIRE_FLAG_STALE : 0, .body = body,
                                  .body_len = (uint32_t)n};
        proto_add_request(buf, sizeof buf, &len, &rq);
    }
    struct wire_request status = {.request_id = 3000, .op = WIRE_OP_STATUS};
    proto_add_request(buf, sizeof buf, &len, &status);
    proto_send(&pc, buf, len); /* all at once */

    bool seen[PIPE_PUTS + PIPE_GETS + 1] = {false};
    static struct wire_status st;
    for (int answers = 0; answers < PIPE_PUTS + PIPE_GETS + 1; answers++) {
        uint8_t type;
        struct wire_response rs;
        cr_assert(proto_next(&pc, &type, &rs, &st), "closed after %d answers", answers);
        uint64_t id = type == WIRE_STATUS_RESPONSE ? st.request_id : rs.request_id;
        int slot = id >= 3000 ? PIPE_PUTS + PIPE_GETS
                   : id >= 2000 ? PIPE_PUTS + (int)(id - 2000) : (int)(id - 1000);
        cr_assert(id >= 1000 && slot >= 0 && slot <= PIPE_PUTS + PIPE_GETS,
                  "an answer to request %llu, never sent", (unsigned long long)id);
        cr_assert_not(seen[slot], "request %llu answered twice", (unsigned long long)id);
        seen[slot] = true;
        if (id == 3000) {
            cr_assert_eq(type, WIRE_STATUS_RESPONSE);
            cr_assert_eq(st.role, RAFT_LEADER);
        } else {
            cr_assert_eq(type, WIRE_CLIENT_RESPONSE);
            cr_assert_eq(rs.status, 0, "request %llu: %s", (unsigned long long)id,
                         lum_strerror(rs.status));
            if (id < 2000)
                cr_assert_eq(rs.code, KV_OK, "put %llu", (unsigned long long)id);
            else
                cr_assert(rs.code == KV_OK || rs.code == KV_NOT_FOUND, "get %llu: code %d",
                          (unsigned long long)id, rs.code);
        }
    }
    proto_close(&pc);

    /* every put took effect, once */
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    for (int k = 0; k < PIPE_PUTS; k++) {
        char key[16], value[32], got[32] = "";
        snprintf(key, sizeof key, "p-%d", k);
        snprintf(value, sizeof value, "pipelined %d", k);
        cr_assert_eq(cluster_kv_get(cl, key, false, got, sizeof got), KV_OK, "%s", key);
        cr_assert_str_eq(got, value);
    }
    cluster_passed();
}

Test(protocol, requests_the_server_cannot_take_are_answered_with_an_error)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c);
    struct proto_conn pc;
    proto_open(&pc, c->nodes[leader].client_port);
    struct wire_response rs;
    uint64_t id = 1;

    /* a command of a type reserved to the core */
    struct wire_request rq = {.request_id = id++, .op = WIRE_OP_COMMAND,
                              .entry_type = RAFT_ENTRY_NOOP};
    proto_call(&pc, &rq, &rs);
    cr_assert_eq(rs.status, -LUM_EINVAL, "status %d", rs.status);

    /* a body larger than an entry can carry */
    static uint8_t big[LUM_COMMAND_BODY_MAX + 1];
    rq = (struct wire_request){.request_id = id++, .op = WIRE_OP_COMMAND, .entry_type = KV_PUT,
                               .body = big, .body_len = sizeof big};
    proto_call(&pc, &rq, &rs);
    cr_assert_eq(rs.status, -LUM_ETOOBIG, "status %d", rs.status);

    /* bodies the state machine cannot parse: answered, changing nothing */
    rq = (struct wire_request){.request_id = id++, .op = WIRE_OP_COMMAND, .entry_type = KV_PUT,
                               .body = (const uint8_t *)"xx", .body_len = 2};
    proto_call(&pc, &rq, &rs);
    cr_assert_eq(rs.status, 0);
    cr_assert_eq(rs.code, KV_BAD_REQUEST);
    rq = (struct wire_request){.request_id = id++, .op = WIRE_OP_QUERY};
    proto_call(&pc, &rq, &rs);
    cr_assert_eq(rs.status, 0);
    cr_assert_eq(rs.code, KV_BAD_REQUEST);
    rq = (struct wire_request){.request_id = id++, .op = WIRE_OP_QUERY, .flags = WIRE_FLAG_STALE,
                               .body = (const uint8_t *)"\x09zz", .body_len = 3};
    proto_call(&pc, &rq, &rs);
    cr_assert_eq(rs.status, 0);
    cr_assert_eq(rs.code, KV_BAD_REQUEST);

    /* the connection still serves */
    uint8_t body[64];
    int n = kv_encode_put(body, sizeof body, "k", 1, "v", 1, 0);
    rq = (struct wire_request){.request_id = id++, .op = WIRE_OP_COMMAND, .entry_type = KV_PUT,
                               .body = body, .body_len = (uint32_t)n};
    proto_call(&pc, &rq, &rs);
    cr_assert_eq(rs.status, 0);
    cr_assert_eq(rs.code, KV_OK);
    proto_close(&pc);
    cluster_passed();
}

Test(protocol, a_follower_answers_writes_and_reads_with_the_leaders_address)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c);
    const struct cluster_node *ld = &c->nodes[leader];
    for (uint32_t f = 0; f < c->n; f++) {
        if (f == leader)
            continue;
        struct proto_conn pc;
        proto_open(&pc, c->nodes[f].client_port);
        uint8_t body[64];
        int n = kv_encode_put(body, sizeof body, "k", 1, "v", 1, 0);
        struct wire_request rq = {.request_id = 7, .op = WIRE_OP_COMMAND, .entry_type = KV_PUT,
                                  .client_id = 99, .seq = 1, .body = body,
                                  .body_len = (uint32_t)n};
        struct wire_response rs;
        proto_call(&pc, &rq, &rs);
        cr_assert_eq(rs.status, -LUM_ENOTLEADER, "node %u: status %d", f + 1, rs.status);
        cr_assert_eq(rs.leader_id, ld->id);
        cr_assert_eq(rs.leader_addr_len, strlen(ld->client_addr));
        cr_assert_eq(memcmp(rs.leader_addr, ld->client_addr, rs.leader_addr_len), 0,
                     "the redirect names the leader's client address");

        n = kv_encode_get(body, sizeof body, "k", 1);
        rq = (struct wire_request){.request_id = 8, .op = WIRE_OP_QUERY, .body = body,
                                   .body_len = (uint32_t)n};
        proto_call(&pc, &rq, &rs);
        cr_assert_eq(rs.status, -LUM_ENOTLEADER);
        cr_assert_eq(rs.leader_id, ld->id);
        proto_close(&pc);
    }
    /* and the redirected write was not applied by the follower behind our back */
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_get(cl, "k", false, NULL, 0), KV_NOT_FOUND);
    cluster_passed();
}

#define PROTO_CONNS 300  /* more than the harness's max_clients (256) */

Test(protocol, connections_beyond_max_clients_are_refused_and_the_node_keeps_serving)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t node = (cluster_wait_leader(c) + 1) % c->n;
    long from = cluster_log_size(c, node);
    static int fds[PROTO_CONNS];
    for (int k = 0; k < PROTO_CONNS; k++) {
        fds[k] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[k], 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->nodes[node].client_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(fds[k], (struct sockaddr *)&a, sizeof a), 0, "connect %d: %s", k,
                     strerror(errno));
    }
    cr_assert(cluster_wait_log(c, node, from, "max_clients (256) reached"),
              "no log line about the refused connections");
    /* the refused ones were closed, not left hanging */
    int closed = 0;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (closed < PROTO_CONNS - 256 && clock_mono_ms() < deadline) {
        closed = 0;
        for (int k = 0; k < PROTO_CONNS; k++) {
            struct pollfd p = {.fd = fds[k], .events = POLLIN};
            if (poll(&p, 1, 0) > 0)
                closed++;
        }
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_geq(closed, PROTO_CONNS - 256, "only %d connections were closed", closed);
    for (int k = 0; k < PROTO_CONNS; k++)
        close(fds[k]);
    /* once they are gone, the node takes clients again */
    struct lum_client *cl = cluster_client(c, node, 0);
    uint64_t until = clock_mono_ms() + CLUSTER_WAIT_MS;
    int code;
    do {
        code = cluster_kv_put(cl, "after", "the flood");
        if (code == KV_OK)
            break;
        cluster_pause_ms(100);
    } while (clock_mono_ms() < until);
    cr_assert_eq(code, KV_OK);
    cluster_wait_stale_value(c, node, "after", "the flood");
    cluster_passed();
}
