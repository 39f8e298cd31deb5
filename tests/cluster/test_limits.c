/* Client and peer-link limits (issue 6): max_clients, max_frame, max_pending_per_conn,
 * client_idle_timeout_ms, max_client_output and the peer hello deadline. Each is met by a
 * raw socket on a one-node cluster: the offender gets its error or is closed, with a log
 * line, and the node keeps serving everyone else. */
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
#include "luminous/io.h"
#include "luminous/kv.h"

CLUSTER_SUITE(limits);

/* A blocking connection to 127.0.0.1:port; rcvbuf > 0 shrinks its receive buffer first. */
static int limits_connect(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    if (rcvbuf > 0)
        cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect to %u: %s", port,
                 strerror(errno));
    return fd;
}

/* A GET of key as a client request frame in buf; its length. */
static size_t limits_get_frame(uint8_t *buf, size_t cap, uint64_t id, const char *key,
                               bool stale)
{
    uint8_t body[128];
    int blen = kv_encode_get(body, sizeof body, key, strlen(key));
    cr_assert_gt(blen, 0);
    struct wire_request rq = {.request_id = id, .op = WIRE_OP_QUERY,
                              .flags = stale ? WIRE_FLAG_STALE : 0, .body = body,
                              .body_len = (uint32_t)blen};
    int n = wire_encode_request(buf, cap, &rq);
    cr_assert_gt(n, 0);
    return (size_t)n;
}

static void limits_send_all(int fd, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        off += (size_t)n;
    }
}

/* A reader of response frames on a blocking socket, bounded by CLUSTER_WAIT_MS. */
struct limits_reader {
    int      fd;
    uint8_t  buf[1 << 16];
    size_t   len;
    size_t   consumed;        /* the frame returned last, dropped on the next call */
    bool     eof;
};

/* The next response into rs (pointing into r->buf, valid until the next call); false at
 * end of stream. Fails the test on a timeout or a bad frame. */
static bool limits_next(struct limits_reader *r, struct wire_response *rs)
{
    if (r->consumed > 0) {
        memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
        r->len -= r->consumed;
        r->consumed = 0;
    }
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    for (;;) {
        struct wire_frame f;
        int rv = wire_frame_peek(r->buf, r->len, sizeof r->buf, &f);
        if (rv == 0) {
            cr_assert_eq(f.type, WIRE_CLIENT_RESPONSE);
            cr_assert_eq(wire_decode_response(&f, rs), 0);
            r->consumed = f.size;
            return true;
        }
        cr_assert_eq(rv, -LUM_EAGAIN, "bad frame from the server: %d", rv);
        if (r->eof)
            return false;
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int left = (int)(deadline - clock_mono_ms());
        cr_assert(left > 0 && poll(&p, 1, left) == 1, "no answer in %u ms", CLUSTER_WAIT_MS);
        ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (n <= 0)
            r->eof = true; /* end of stream or reset: what came before still counts */
        else
            r->len += (size_t)n;
    }
}

/* Waits for the server to close fd (end of stream or reset); false after CLUSTER_WAIT_MS.
 * Whatever arrives before is dropped. */
static bool limits_wait_closed(int fd)
{
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (clock_mono_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, CLUSTER_POLL_MS) != 1)
            continue;
        uint8_t junk[4096];
        ssize_t n = recv(fd, junk, sizeof junk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
    return false;
}

/* A put and a get through a fresh client of node 0. */
static void limits_check_serving(struct cluster *c, const char *key)
{
    cluster_check_alive(c);
    struct lum_client *cl = cluster_client(c, 0, 0);
    char got[64] = "";
    cr_assert_eq(cluster_kv_put(cl, key, "served"), KV_OK, "put %s", key);
    cr_assert_eq(cluster_kv_get(cl, key, false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "served");
}

static long limits_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s: %s", path, strerror(errno));
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    cr_assert_gt(kb, 0);
    return kb;
}

Test(limits, a_client_over_max_clients_gets_an_error_and_the_others_keep_working)
{
    struct cluster *c = cluster_up(1, "max_clients = 2\n");
    /* two clients that keep their connections open between calls */
    struct lum_client *a = cluster_client(c, 0, 0), *b = cluster_client(c, 0, 0);
    cr_assert_eq(cluster_kv_put(a, "a", "1"), KV_OK);
    cr_assert_eq(cluster_kv_put(b, "b", "2"), KV_OK);
    long from = cluster_log_size(c, 0);

    /* a third, raw: the error frame comes before the close */
    int fd = limits_connect(c->nodes[0].client_port, 0);
    uint8_t req[256];
    limits_send_all(fd, req, limits_get_frame(req, sizeof req, 1, "a", true));
    struct limits_reader *r = calloc(1, sizeof *r);
    r->fd = fd;
    struct wire_response rs;
    cr_assert(limits_next(r, &rs), "closed without an answer");
    cr_assert_eq(rs.request_id, 0);
    cr_assert_eq(rs.status, -LUM_EBUSY);
    cr_assert_eq(rs.data_len, strlen("server busy: max_clients (2) reached"));
    cr_assert_eq(memcmp(rs.data, "server busy: max_clients (2) reached", rs.data_len), 0);
    cr_assert(limits_wait_closed(fd));
    close(fd);
    free(r);
    cr_assert(cluster_wait_log(c, 0, from, "max_clients (2) reached: refused"));

    /* raftctl says why */
    struct cluster_run run;
    cluster_ctl_at(c, &run, NULL, 1000, "get", "a", NULL);
    cr_assert_neq(run.exit_code, 0);
    cr_assert(strstr(run.err, "server busy: max_clients (2) reached"), "stderr: %s", run.err);

    /* the two in keep working */
    char got[16] = "";
    cr_assert_eq(cluster_kv_get(a, "b", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "2");
    cr_assert_eq(cluster_kv_put(b, "b", "3"), KV_OK);
    cluster_check_alive(c);
    cluster_passed();
}

Test(limits, a_frame_over_max_frame_is_refused_before_it_is_buffered)
{
    struct cluster *c = cluster_up(1, "max_frame = 8192\n");
    /* the largest legal request still fits the smallest max_frame */
    struct lum_client *cl = cluster_client(c, 0, 0);
    static char big[KV_PUT_DATA_MAX - 8 + 1];
    memset(big, 'v', sizeof big - 1);
    cr_assert_eq(cluster_kv_put(cl, "bigkey", big), KV_OK);
    long from = cluster_log_size(c, 0);

    int fd = limits_connect(c->nodes[0].client_port, 0);
    static uint8_t frame[20000];
    lum_put_u32(frame, 100000); /* announces 100004 bytes; 20000 of them come */
    frame[4] = WIRE_VERSION;
    frame[5] = WIRE_CLIENT_REQUEST;
    limits_send_all(fd, frame, sizeof frame);
    struct limits_reader *r = calloc(1, sizeof *r);
    r->fd = fd;
    struct wire_response rs;
    cr_assert(limits_next(r, &rs), "closed without an answer");
    cr_assert_eq(rs.request_id, 0);
    cr_assert_eq(rs.status, -LUM_ETOOBIG);
    const char *want = "request frame larger than max_frame (8192 bytes)";
    cr_assert(rs.data_len == strlen(want) && memcmp(rs.data, want, rs.data_len) == 0,
              "got \"%.*s\"", (int)rs.data_len, (const char *)rs.data);
    cr_assert(limits_wait_closed(fd));
    close(fd);
    free(r);
    cr_assert(cluster_wait_log(c, 0, from, "frame of 100004 bytes is over the limit of 8192"));
    limits_check_serving(c, "after-big-frame");
    cluster_passed();
}

Test(limits, a_pipelining_client_is_throttled_not_refused)
{
    /* debug: the pause is a debug line */
    struct cluster *c = cluster_up(1, "max_pending_per_conn = 4\nlog_level = debug\n");
    struct lum_client *cl = cluster_client(c, 0, 0);
    cr_assert_eq(cluster_kv_put(cl, "p", "pipelined"), KV_OK);
    long from = cluster_log_size(c, 0);

    enum { N = 300 };
    int fd = limits_connect(c->nodes[0].client_port, 0);
    static uint8_t reqs[N * 64];
    size_t len = 0;
    for (uint64_t i = 1; i <= N; i++) /* linearizable reads: each waits on a read barrier */
        len += limits_get_frame(reqs + len, sizeof reqs - len, i, "p", false);
    limits_send_all(fd, reqs, len);
    struct limits_reader *r = calloc(1, sizeof *r);
    r->fd = fd;
    for (uint64_t i = 1; i <= N; i++) {
        struct wire_response rs;
        cr_assert(limits_next(r, &rs), "closed after %llu answers", (unsigned long long)i - 1);
        cr_assert_eq(rs.request_id, i, "answers come in order");
        cr_assert_eq(rs.status, 0, "request %llu: status %d", (unsigned long long)i, rs.status);
        cr_assert_eq(rs.code, KV_OK);
        cr_assert(rs.data_len == 9 && memcmp(rs.data, "pipelined", 9) == 0);
    }
    close(fd);
    free(r);
    cr_assert(cluster_log_has(c, 0, from, "(max_pending_per_conn 4), not reading it for now"),
              "the client was never paused");
    limits_check_serving(c, "after-pipeline");
    cluster_passed();
}

Test(limits, an_idle_client_is_closed_after_the_timeout_and_a_busy_one_is_not)
{
    struct cluster *c = cluster_up(1, "client_idle_timeout_ms = 1000\n");
    long from = cluster_log_size(c, 0);
    uint8_t req[256];

    /* busy: a request every 50 ms for 2.5 s, far inside the timeout each time */
    int busy = limits_connect(c->nodes[0].client_port, 0);
    struct limits_reader *r = calloc(1, sizeof *r);
    r->fd = busy;
    uint64_t until = clock_mono_ms() + 2500;
    for (uint64_t i = 1; clock_mono_ms() < until; i++) {
        limits_send_all(busy, req, limits_get_frame(req, sizeof req, i, "k", true));
        struct wire_response rs;
        cr_assert(limits_next(r, &rs), "a busy client was closed");
        cr_assert_eq(rs.request_id, i);
        cluster_pause_ms(50);
    }
    close(busy);
    free(r);

    /* idle: one request, then silence until the server closes it */
    int fd = limits_connect(c->nodes[0].client_port, 0);
    uint64_t start = clock_mono_ms();
    limits_send_all(fd, req, limits_get_frame(req, sizeof req, 1, "k", true));
    cr_assert(limits_wait_closed(fd), "an idle client was not closed");
    cr_assert_geq(clock_mono_ms() - start, 1000, "closed before the timeout");
    close(fd);
    cr_assert(cluster_wait_log(c, 0, from, "(client_idle_timeout_ms 1000), closing"));
    limits_check_serving(c, "after-idle");
    cluster_passed();
}

Test(limits, a_client_that_does_not_read_is_cut_off_at_max_client_output)
{
    struct cluster *c = cluster_up(1, "max_client_output = 65536\n");
    struct lum_client *cl = cluster_client(c, 0, 0);
    static char value[3000];
    memset(value, 'x', sizeof value - 1);
    cr_assert_eq(cluster_kv_put(cl, "fat", value), KV_OK);
    long from = cluster_log_size(c, 0);
    long rss_before = limits_rss_kb(c->nodes[0].pid);

    /* stale gets of a 3 KB value, never reading: answers pile up in the kernel buffers,
     * then in the server's output buffer, until it cuts us off */
    int fd = limits_connect(c->nodes[0].client_port, 4096);
    static uint8_t batch[100 * 64];
    size_t len = 0;
    for (uint64_t i = 0; i < 100; i++)
        len += limits_get_frame(batch + len, sizeof batch - len, i + 1, "fat", true);
    bool cut = false;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    size_t sent = 0;
    while (!cut && clock_mono_ms() < deadline && sent < (64u << 20)) {
        ssize_t n = send(fd, batch, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            cut = true; /* reset: the server closed us */
        if (cluster_log_has(c, 0, from, "(max_client_output 65536), closing"))
            cut = true;
        if (n <= 0 && !cut)
            cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert(cut, "not cut off after %zu bytes of requests", sent);
    cr_assert(cluster_wait_log(c, 0, from, "not reading its answers (max_client_output 65536)"));
    close(fd);
    limits_check_serving(c, "after-slow-reader");
    long rss_after = limits_rss_kb(c->nodes[0].pid);
    cr_log_info("slow reader: %zu bytes of requests sent; server VmRSS %ld -> %ld kB", sent,
                rss_before, rss_after);
    cr_assert_lt(rss_after - rss_before, 32 * 1024, "VmRSS grew from %ld to %ld kB",
                 rss_before, rss_after);
    cluster_passed();
}

Test(limits, a_peer_link_without_hello_is_closed)
{
    struct cluster *c = cluster_up(1, NULL);
    long from = cluster_log_size(c, 0);
    int fd = limits_connect(c->nodes[0].peer_port, 0);
    uint64_t start = clock_mono_ms();
    cr_assert(limits_wait_closed(fd), "a silent peer link was kept");
    cr_assert_geq(clock_mono_ms() - start, 4000, "closed long before the hello deadline");
    close(fd);
    cr_assert(cluster_wait_log(c, 0, from, "no hello within 5000 ms, closing"));
    limits_check_serving(c, "after-silent-peer");
    cluster_passed();
}
