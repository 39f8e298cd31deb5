/* The HTTP endpoint of real nodes (http_listen; the harness gives every node one), spoken
 * to over raw sockets: /metrics is valid Prometheus text (our strict checker, and promtool
 * when installed) and moves with writes; /health is 200 on a healthy node and 503 with a
 * reason on one without a leader; /status is JSON naming the node; bad requests get 400,
 * other methods 405, oversized heads 431, slow ones are cut, and the node keeps serving. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "../unit/prom_check.h"
#include "json_check.h"

CLUSTER_SUITE(http);

#define HTTP_TEST_REPLY_MAX (1u << 20)

struct http_reply {
    int    status;             /* 0: no status line came                                 */
    bool   closed;             /* the server closed the connection (EOF or reset)        */
    size_t len;
    char  *text;               /* everything received, NUL-terminated                    */
    char  *body;               /* after the head, or NULL                                */
};

/* A connection to the port; a node just started may not listen yet: retried a while. */
static int http_connect(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (uint64_t end = clock_mono_ms() + CLUSTER_WAIT_MS;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        int e = errno;
        close(fd);
        cr_assert(e == ECONNREFUSED && clock_mono_ms() < end, "connect to http port %u: %s",
                  port, strerror(e));
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
}

static void http_send(int fd, const void *data, size_t len)
{
    cr_assert_eq(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len, "send: %s", strerror(errno));
}

/* Reads until the server closes or limit_ms pass. */
static void http_read_all(int fd, struct http_reply *r, uint32_t limit_ms)
{
    *r = (struct http_reply){.text = calloc(1, HTTP_TEST_REPLY_MAX + 1)};
    uint64_t end = clock_mono_ms() + limit_ms;
    while (r->len < HTTP_TEST_REPLY_MAX) {
        uint64_t now = clock_mono_ms();
        if (now >= end)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            continue;
        ssize_t n = recv(fd, r->text + r->len, HTTP_TEST_REPLY_MAX - r->len, 0);
        if (n <= 0) {
            r->closed = n == 0 || errno == ECONNRESET;
            break;
        }
        r->len += (size_t)n;
    }
    r->text[r->len] = '\0';
    sscanf(r->text, "HTTP/1.1 %d ", &r->status);
    char *end_of_head = strstr(r->text, "\r\n\r\n");
    r->body = end_of_head ? end_of_head + 4 : NULL;
}

static void http_reply_free(struct http_reply *r)
{
    free(r->text);
    r->text = r->body = NULL;
}

/* One request on a new connection; the server closes it after the answer (close asked). */
static void http_raw(uint16_t port, const char *request, struct http_reply *r)
{
    int fd = http_connect(port);
    http_send(fd, request, strlen(request));
    http_read_all(fd, r, 10000);
    close(fd);
    cr_assert(r->closed, "the server did not close after answering %.40s", request);
}

static void http_get(struct cluster *c, uint32_t i, const char *path, struct http_reply *r)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
             c->nodes[i].http_addr);
    http_raw(c->nodes[i].http_port, req, r);
    cr_assert_not_null(r->body, "no complete head from GET %s: %s", path, r->text);
}

/* The value of the sample whose line starts with series + " " (e.g. "luminous_term" or
 * "luminous_role{role=\"leader\"}"); fails the test if there is none. */
static double metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    cr_assert_fail("no sample %s in /metrics", series);
    return 0;
}

static void assert_prom_valid(const struct http_reply *r)
{
    cr_assert_eq(r->status, 200);
    cr_assert(strstr(r->text, "Content-Type: text/plain; version=0.0.4"), "%.300s", r->text);
    char err[512];
    cr_assert_eq(prom_check_text(r->body, strlen(r->body), err, sizeof err), 0,
                 "/metrics is not valid: %s", err);
}

/* promtool, if installed, must agree with our checker. */
static void promtool_check(struct cluster *c, const char *text)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        cr_log_warn("promtool not installed (apt-get install prometheus): skipping its check");
        return;
    }
    char in[PATH_MAX], out[PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(in, sizeof in, "%s/metrics.txt", c->dir);
    snprintf(out, sizeof out, "%s/promtool.out", c->dir);
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s > %s 2>&1", in, out);
    int rv = system(cmd);
    char said[4096] = "";
    f = fopen(out, "r");
    if (f) {
        size_t n = fread(said, 1, sizeof said - 1, f);
        said[n] = '\0';
        fclose(f);
    }
    cr_log_info("promtool check metrics: exit %d, said: \"%s\"", rv, said);
    cr_assert_eq(rv, 0, "promtool check metrics failed: %s", said);
    cr_assert_eq(said[0], '\0', "promtool has remarks: %s", said);
}

Test(http, metrics_are_valid_prometheus_text_and_move_with_writes)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c), follower = (leader + 1) % 3;
    struct http_reply r;
    http_get(c, leader, "/metrics", &r);
    assert_prom_valid(&r);
    promtool_check(c, r.body);
    cr_assert_eq(metric(r.body, "luminous_role{role=\"leader\"}"), 1);
    cr_assert_eq(metric(r.body, "luminous_role{role=\"follower\"}"), 0);
    cr_assert_eq(metric(r.body, "luminous_leader_id"), leader + 1);
    double commit0 = metric(r.body, "luminous_commit_index");
    double accepted0 = metric(r.body, "luminous_proposals_total{result=\"accepted\"}");
    char peer[64];
    snprintf(peer, sizeof peer, "luminous_peer_match_index{peer=\"%u\"}", follower + 1);
    metric(r.body, peer); /* the leader reports each follower */
    http_reply_free(&r);

    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(cluster_kv_put(cl, key, "v"), 0);
    }
    /* the leader counted the writes; every node's commit index moved past them */
    http_get(c, leader, "/metrics", &r);
    assert_prom_valid(&r);
    cr_assert_geq(metric(r.body, "luminous_proposals_total{result=\"accepted\"}"), accepted0 + 20);
    cr_assert_geq(metric(r.body, "luminous_client_requests_total{type=\"command\"}"), 20);
    cr_assert_geq(metric(r.body, "luminous_proposal_outcomes_total{outcome=\"applied\"}"), 20);
    cr_assert_geq(metric(r.body, "luminous_commit_index"), commit0 + 20);
    cr_assert_gt(metric(r.body, "luminous_fsync_duration_seconds_count"), 0);
    cr_assert_gt(metric(r.body, "luminous_append_batch_entries_sum"), 0);
    cr_assert_gt(metric(r.body, "luminous_received_bytes_total{kind=\"client\"}"), 0);
    cr_assert_gt(metric(r.body, "luminous_sent_bytes_total{kind=\"peer_out\"}"), 0);
    cr_assert_geq(metric(r.body, "luminous_connections{kind=\"http\"}"), 1);
    promtool_check(c, r.body);
    http_reply_free(&r);
    bool moved = false;
    for (uint64_t end = clock_mono_ms() + CLUSTER_WAIT_MS; !moved && clock_mono_ms() < end;) {
        http_get(c, follower, "/metrics", &r);
        assert_prom_valid(&r);
        moved = metric(r.body, "luminous_commit_index") >= commit0 + 20 &&
                metric(r.body, "luminous_applied_index") >= commit0 + 20;
        http_reply_free(&r);
        if (!moved)
            cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert(moved, "the follower's commit and applied index did not move with the writes");
    cluster_passed();
}

/* Polls node i's /health until its status is want; returns the last body. */
static void health_wait(struct cluster *c, uint32_t i, int want, char *body, size_t cap)
{
    struct http_reply r = {0};
    for (uint64_t end = clock_mono_ms() + CLUSTER_WAIT_MS;;) {
        http_get(c, i, "/health", &r);
        snprintf(body, cap, "%s", r.body);
        int status = r.status;
        http_reply_free(&r);
        if (status == want)
            return;
        cr_assert_lt(clock_mono_ms(), end, "node %u /health stayed %d (%s), not %d", i + 1,
                     status, body, want);
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
}

Test(http, health_is_200_when_caught_up_and_503_with_a_reason_without_a_leader)
{
    struct cluster *c = cluster_create(3, NULL);
    cluster_start(c, 0); /* alone: one vote of three, no leader can be */
    char body[256];
    health_wait(c, 0, 503, body, sizeof body);
    cr_assert_str_eq(body, "no leader\n");

    cluster_start(c, 1);
    cluster_start(c, 2);
    uint32_t leader = cluster_wait_leader(c);
    for (uint32_t i = 0; i < 3; i++) {
        health_wait(c, i, 200, body, sizeof body);
        cr_assert_str_eq(body, "ok\n");
    }
    /* the two others die: node 1 loses its leader, or its quorum if it led */
    uint32_t keep = (leader + 1) % 3;
    for (uint32_t i = 0; i < 3; i++)
        if (i != keep)
            cluster_kill(c, i);
    health_wait(c, keep, 503, body, sizeof body);
    cr_assert(strncmp(body, "no leader", 9) == 0 ||
              strncmp(body, "no contact with leader", 22) == 0,
              "503 with an unexpected reason: %s", body);
    cr_assert_eq(strchr(body, '\n'), body + strlen(body) - 1, "not one line: %s", body);
    cluster_passed();
}

Test(http, status_is_the_json_of_raftctl_status_for_this_node)
{
    struct cluster *c = cluster_up(3, NULL);
    cluster_wait_leader(c);
    for (uint32_t i = 0; i < 3; i++) {
        struct http_reply r;
        http_get(c, i, "/status", &r);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.text, "Content-Type: application/json"), "%.300s", r.text);
        cr_assert(json_valid(r.body, strlen(r.body)), "/status is not JSON: %s", r.body);
        char want[64];
        snprintf(want, sizeof want, "{\"id\":%u,", i + 1);
        cr_assert(strncmp(r.body, want, strlen(want)) == 0, "%s", r.body);
        snprintf(want, sizeof want, "\"addr\":\"%s\"", c->nodes[i].client_addr);
        cr_assert(strstr(r.body, want), "%s", r.body);
        cr_assert(strstr(r.body, "\"commit_index\":") && strstr(r.body, "\"members\":[{"),
                  "%s", r.body);
        http_reply_free(&r);
    }
    cluster_passed();
}

Test(http, bad_requests_get_400_other_methods_405_and_unknown_paths_404)
{
    struct cluster *c = cluster_up(3, NULL);
    uint16_t port = c->nodes[0].http_port;
    struct http_reply r;
    http_raw(port, "HELLO THERE\r\n\r\n", &r);
    cr_assert_eq(r.status, 400, "%s", r.text);
    cr_assert(r.body && strstr(r.body, "bad request"));
    http_reply_free(&r);
    http_raw(port, "GET /metrics HTTP/1.1\r\n\r\n", &r); /* HTTP/1.1 without Host */
    cr_assert_eq(r.status, 400, "%s", r.text);
    http_reply_free(&r);
    http_raw(port, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", &r); /* TLS to plain HTTP */
    cr_assert_eq(r.status, 400, "%s", r.text);
    http_reply_free(&r);
    http_raw(port, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", &r);
    cr_assert_eq(r.status, 405, "%s", r.text);
    cr_assert(strstr(r.text, "\r\nAllow: GET, HEAD\r\n"), "%s", r.text);
    http_reply_free(&r);
    http_raw(port, "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
    cr_assert_eq(r.status, 404, "%s", r.text);
    http_reply_free(&r);
    http_raw(port, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", &r);
    cr_assert_eq(r.status, 505, "%s", r.text);
    http_reply_free(&r);
    /* HEAD: the head of a GET, no body */
    http_raw(port, "HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(strstr(r.text, "Content-Length: ") && r.body && r.body[0] == '\0', "%s", r.text);
    http_reply_free(&r);
    /* keep-alive: two pipelined requests, two answers in order, then close as asked */
    http_raw(port, "GET /status HTTP/1.1\r\nHost: a\r\n\r\n"
                   "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(strstr(r.text, "HTTP/1.1 404 Not Found"), "%s", r.text);
    cr_assert_lt(strstr(r.text, "200 OK"), strstr(r.text, "404 Not Found"));
    http_reply_free(&r);
    /* a request, then a half-close (printf ... | nc -N): still answered, then closed */
    int fd = http_connect(c->nodes[cluster_wait_leader(c)].http_port); /* its health: ok */
    const char *req = "GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
    http_send(fd, req, strlen(req));
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    http_read_all(fd, &r, 10000);
    close(fd);
    cr_assert(r.closed);
    cr_assert(r.body && strcmp(r.body, "ok\n") == 0, "%s", r.text);
    http_reply_free(&r);
    http_get(c, 0, "/metrics", &r); /* counted, and the node still serves */
    assert_prom_valid(&r);
    cr_assert_geq(metric(r.body, "luminous_http_responses_total{code=\"400\"}"), 3);
    cr_assert_geq(metric(r.body, "luminous_http_responses_total{code=\"405\"}"), 1);
    http_reply_free(&r);
    cluster_passed();
}

Test(http, oversized_and_slow_requests_are_cut_and_connections_capped)
{
    struct cluster *c = cluster_up(3, NULL);
    uint16_t port = c->nodes[0].http_port;
    /* a head over 8 KiB: 431, closed */
    size_t big_len = 12000;
    char *big = malloc(big_len);
    memset(big, 'a', big_len);
    const char *start = "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    memcpy(big, start, strlen(start));
    struct http_reply r;
    int fd = http_connect(port);
    http_send(fd, big, big_len);
    http_read_all(fd, &r, 10000);
    close(fd);
    free(big);
    cr_assert_eq(r.status, 431, "%s", r.text);
    cr_assert(r.closed);
    http_reply_free(&r);

    /* slowloris: a byte of a head every 300 ms is cut within the idle timeout (5 s) */
    fd = http_connect(port);
    const char *slow = "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
    uint64_t t0 = clock_mono_ms();
    bool cut = false;
    for (size_t i = 0; slow[i] && !cut; i++) {
        if (send(fd, slow + i, 1, MSG_NOSIGNAL) != 1)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cut = poll(&p, 1, 300) > 0;
    }
    http_read_all(fd, &r, 15000);
    close(fd);
    uint64_t took = clock_mono_ms() - t0;
    cr_assert(r.closed, "a slow request was not cut after %llu ms", (unsigned long long)took);
    cr_assert_eq(r.status, 408, "%s", r.text);
    cr_assert_lt(took, 15000);
    http_reply_free(&r);

    /* HTTP_CONNS_MAX (64) idle connections; the next is answered 503 and closed */
    int fds[64];
    for (int i = 0; i < 64; i++)
        fds[i] = http_connect(port);
    struct http_reply refused = {0};
    bool got503 = false;
    for (uint64_t end = clock_mono_ms() + 5000; !got503 && clock_mono_ms() < end;) {
        fd = http_connect(port);
        http_read_all(fd, &refused, 2000);
        close(fd);
        got503 = refused.status == 503;
        http_reply_free(&refused);
    }
    for (int i = 0; i < 64; i++)
        close(fds[i]);
    cr_assert(got503, "the 65th connection was not refused");
    /* and the node still answers */
    char body[256];
    health_wait(c, 0, 200, body, sizeof body);
    cluster_passed();
}
