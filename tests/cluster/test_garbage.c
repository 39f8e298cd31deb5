/* Bad bytes on the wire: on the peer and the client port of every node, each kind of garbage
 * closes that connection with a log line naming it, and the node keeps serving. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"
#include "luminous/io.h"
#include "luminous/kv.h"

CLUSTER_SUITE(garbage);

enum garbage_kind {
    GARBAGE_RANDOM,          /* bytes from a fixed-seed PRNG                          */
    GARBAGE_HUGE_LENGTH,     /* a header announcing a 4 GiB frame                     */
    GARBAGE_WRONG_VERSION,
    GARBAGE_UNKNOWN_TYPE,
    GARBAGE_BAD_BODY,        /* a known type whose body does not decode               */
    GARBAGE_OTHER_CLUSTER,   /* a valid hello, of another cluster                     */
    GARBAGE_RAFT_FIRST,      /* a valid Raft message, without a hello first           */
    GARBAGE_TRUNCATED,       /* half a frame, then we close                           */
    GARBAGE_KINDS_
};

static const char *const garbage_names[GARBAGE_KINDS_] = {
    "random bytes", "a huge announced length", "a wrong version", "an unknown type",
    "a body that does not decode", "a hello of another cluster", "a raft message before hello",
    "a truncated frame then close",
};

/* The bytes of one kind of garbage for a peer or a client port; returns their count. */
static size_t garbage_bytes(enum garbage_kind kind, bool peer, uint8_t *buf, size_t cap)
{
    switch (kind) {
    case GARBAGE_RANDOM: {
        uint64_t x = 0x5eed5eed5eed5eedull; /* xorshift64: the same bytes every run */
        for (size_t i = 0; i < 512; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        return 512;
    }
    case GARBAGE_HUGE_LENGTH:
        lum_put_u32(buf, 0xfffffff0u);
        buf[4] = WIRE_VERSION;
        buf[5] = WIRE_CLIENT_REQUEST;
        return 6;
    case GARBAGE_WRONG_VERSION:
        lum_put_u32(buf, 2 + 8);
        buf[4] = WIRE_VERSION + 7;
        buf[5] = WIRE_HELLO;
        memset(buf + 6, 0, 8);
        return 14;
    case GARBAGE_UNKNOWN_TYPE:
        lum_put_u32(buf, 2 + 4);
        buf[4] = WIRE_VERSION;
        buf[5] = 250;
        memset(buf + 6, 0xab, 4);
        return 10;
    case GARBAGE_BAD_BODY:
        lum_put_u32(buf, 2 + 3); /* three bytes: too short for a hello or a request */
        buf[4] = WIRE_VERSION;
        buf[5] = peer ? WIRE_HELLO : WIRE_CLIENT_REQUEST;
        memset(buf + 6, 0xff, 3);
        return 9;
    case GARBAGE_OTHER_CLUSTER: {
        struct wire_hello h = {.cluster_id = 0x0123456789abcdefull, .node_id = 2,
                               .protocol = WIRE_VERSION};
        int n = wire_encode_hello(buf, cap, &h);
        cr_assert_gt(n, 0);
        return (size_t)n;
    }
    case GARBAGE_RAFT_FIRST: {
        struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 1};
        int n = wire_encode_raft(buf, cap, &m);
        cr_assert_gt(n, 0);
        return (size_t)n;
    }
    case GARBAGE_TRUNCATED:
        lum_put_u32(buf, 2 + 100);
        buf[4] = WIRE_VERSION;
        buf[5] = peer ? WIRE_HELLO : WIRE_CLIENT_REQUEST;
        memset(buf + 6, 0, 20);
        return 26;
    case GARBAGE_KINDS_:
        break;
    }
    cr_assert_fail("no such garbage");
    return 0;
}

/* A blocking connection to 127.0.0.1:port; its local address, as the server names it in
 * its log, goes to name. */
static int garbage_connect(uint16_t port, char *name, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect to %u: %s", port,
                 strerror(errno));
    socklen_t alen = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(name, len, "127.0.0.1:%u", ntohs(a.sin_port));
    return fd;
}

/* One bad connection, sent and watched. */
struct garbage_conn {
    uint32_t node;
    bool     peer;            /* to the peer port, else the client port            */
    enum garbage_kind kind;
    int      fd;              /* -1 once closed (by the server, or by us)          */
    char     name[64];        /* our end, "127.0.0.1:PORT": the server logs this   */
    long     log_from;        /* the node's log size before we connected           */
    bool     logged;
};

/* Connects to node g->node's peer or client port and sends one kind of garbage. After a
 * truncated frame we close at once; else the server is to close. */
static void garbage_send(struct cluster *c, struct garbage_conn *g)
{
    static uint8_t buf[4096];
    size_t len = garbage_bytes(g->kind, g->peer, buf, sizeof buf);
    uint16_t port = g->peer ? c->nodes[g->node].peer_port : c->nodes[g->node].client_port;
    g->log_from = cluster_log_size(c, g->node);
    g->fd = garbage_connect(port, g->name, sizeof g->name);
    ssize_t n = send(g->fd, buf, len, MSG_NOSIGNAL);
    cr_assert_eq(n, (ssize_t)len, "send: %s", strerror(errno));
    if (g->kind == GARBAGE_TRUNCATED) {
        close(g->fd);
        g->fd = -1;
    }
}

/* Whether the node logged a line naming g's connection: "127.0.0.1:PORT" followed by ':' or
 * ' ', so that port 4012 is not taken for 40123. */
static bool garbage_logged(struct cluster *c, const struct garbage_conn *g)
{
    char needle[80];
    snprintf(needle, sizeof needle, "%s:", g->name);
    if (cluster_log_has(c, g->node, g->log_from, needle))
        return true;
    snprintf(needle, sizeof needle, "%s ", g->name);
    return cluster_log_has(c, g->node, g->log_from, needle);
}

/* Closes g->fd if the server closed its end (end of stream or reset). */
static void garbage_poll_closed(struct garbage_conn *g)
{
    struct pollfd p = {.fd = g->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return;
    uint8_t junk[256];
    ssize_t n = recv(g->fd, junk, sizeof junk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(g->fd);
        g->fd = -1;
    }
}

/* Writes and reads through every node, and each node is still running. */
static void garbage_check_serving(struct cluster *c, const char *tag)
{
    cluster_check_alive(c);
    for (uint32_t i = 0; i < c->n; i++) {
        char key[64], value[64], got[64] = "";
        snprintf(key, sizeof key, "%s-%u", tag, i + 1);
        snprintf(value, sizeof value, "still serving through node %u", i + 1);
        struct lum_client *cl = cluster_client(c, i, 0);
        cr_assert_eq(cluster_kv_put(cl, key, value), KV_OK, "put via node %u", i + 1);
        cr_assert_eq(cluster_kv_get(cl, key, false, got, sizeof got), KV_OK);
        cr_assert_str_eq(got, value);
        for (uint32_t j = 0; j < c->n; j++)
            cluster_wait_stale_value(c, j, key, value);
    }
}

/* Every kind in kinds, on both ports of every node, all at once; then one bounded wait for
 * every connection to be closed and logged. The failures are listed in one message. */
static void garbage_run(const enum garbage_kind *kinds, size_t count)
{
    struct cluster *c = cluster_up(3, NULL);
    garbage_check_serving(c, "before");
    static struct garbage_conn conns[3 * 2 * GARBAGE_KINDS_];
    size_t n = 0;
    for (uint32_t i = 0; i < c->n; i++)
        for (int side = 0; side < 2; side++)
            for (size_t k = 0; k < count; k++) {
                conns[n] = (struct garbage_conn){.node = i, .peer = side == 0, .kind = kinds[k]};
                garbage_send(c, &conns[n++]);
            }

    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    size_t done;
    do {
        cluster_check_alive(c);
        done = 0;
        for (size_t j = 0; j < n; j++) {
            struct garbage_conn *g = &conns[j];
            if (g->fd >= 0)
                garbage_poll_closed(g);
            if (!g->logged)
                g->logged = garbage_logged(c, g);
            done += g->fd < 0 && g->logged;
        }
        if (done < n)
            cluster_pause_ms(CLUSTER_POLL_MS);
    } while (done < n && clock_mono_ms() < deadline);

    char failures[8192] = "";
    size_t off = 0;
    for (size_t j = 0; j < n; j++) {
        struct garbage_conn *g = &conns[j];
        if ((g->fd >= 0 || !g->logged) && off < sizeof failures - 200)
            off += (size_t)snprintf(failures + off, sizeof failures - off,
                                    "\n  node %u, %s port, %s: %s", g->node + 1,
                                    g->peer ? "peer" : "client", garbage_names[g->kind],
                                    g->fd >= 0 ? "the connection stayed open"
                                               : "no log line names the connection");
        if (g->fd >= 0)
            close(g->fd);
    }
    garbage_check_serving(c, "after");
    cr_assert_eq(off, 0, "garbage handled badly:%s", failures);
    cluster_passed();
}

Test(garbage, every_node_refuses_bad_frames_on_both_ports_logs_them_and_keeps_serving)
{
    static const enum garbage_kind kinds[] = {
        GARBAGE_RANDOM,   GARBAGE_HUGE_LENGTH,   GARBAGE_WRONG_VERSION, GARBAGE_UNKNOWN_TYPE,
        GARBAGE_BAD_BODY, GARBAGE_OTHER_CLUSTER, GARBAGE_RAFT_FIRST,
    };
    garbage_run(kinds, sizeof kinds / sizeof kinds[0]);
}

Test(garbage, a_truncated_frame_then_close_is_logged_and_the_node_keeps_serving)
{
    static const enum garbage_kind kinds[] = {GARBAGE_TRUNCATED};
    garbage_run(kinds, 1);
}
