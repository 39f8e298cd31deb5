/* The cluster secret (secret_file, issue 6): clients and peers must prove they know it
 * before anything else is read from them. A client with it is served; raftctl without it,
 * or with another, is refused with a clear message (exit 3); a raw connection that skips
 * the handshake gets the challenge and nothing more; a node with another secret, or of
 * another cluster (the hello's check), never joins and never gets an entry. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(auth);

#define AUTH_SECRET "a test cluster's secret"
#define AUTH_FRAME_BYTES (WIRE_FRAME_HEADER_SIZE + 1 + WIRE_AUTH_NONCE + WIRE_AUTH_MAC)

/* n nodes sharing AUTH_SECRET, started, with a leader. */
static struct cluster *auth_up(uint32_t n)
{
    struct cluster *c = cluster_create(n, NULL);
    cluster_set_secret(c, AUTH_SECRET);
    cluster_start_all(c);
    cluster_wait_leader(c);
    return c;
}

/* A client of the nodes in list (comma-separated) with secret (NULL: none). */
static struct lum_client *auth_client(const char *list, const char *secret)
{
    struct lum_client *cl;
    struct lum_err err;
    cr_assert_eq(lum_client_open(list, 2000, &cl, &err), 0, "%s", err.msg);
    if (secret)
        cr_assert_eq(lum_client_set_secret(cl, secret, strlen(secret)), 0);
    return cl;
}

/* Replaces the first occurrence of from in node i's config with to. */
static void auth_edit_config(struct cluster *c, uint32_t i, const char *from, const char *to)
{
    static char text[16384], out[16384];
    FILE *f = fopen(c->nodes[i].conf_path, "r");
    cr_assert_not_null(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char *at = strstr(text, from);
    cr_assert_not_null(at, "no \"%s\" in %s", from, c->nodes[i].conf_path);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    f = fopen(c->nodes[i].conf_path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(out, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

/* (a) A secured cluster serves a client that has the secret, the library's and raftctl's,
 * given as --secret-file or as LUMINOUS_SECRET_FILE. */
Test(auth, a_client_with_the_secret_is_served)
{
    struct cluster *c = auth_up(3);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "v1"), KV_OK);
    char got[64];
    cr_assert_eq(cluster_kv_get(cl, "k", false, got, sizeof got), KV_OK);
    cr_assert_str_eq(got, "v1");

    struct cluster_run r;
    cluster_ctl(c, &r, "put", "k", "v2", NULL); /* the harness passes --secret-file */
    cr_assert_eq(r.exit_code, 0, "raftctl put: %s", r.err);
    cr_assert_eq(setenv("LUMINOUS_SECRET_FILE", c->secret_path, 1), 0);
    const char *args[] = {"--cluster", c->clients_list, "get", "k", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", args);
    cr_assert_eq(r.exit_code, 0, "raftctl get with LUMINOUS_SECRET_FILE: %s", r.err);
    cr_assert_str_eq(r.out, "v2\n");
    const char *status[] = {"--cluster", c->clients_list, "status", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", status);
    cr_assert_eq(r.exit_code, 0, "raftctl status: %s", r.err);
    cr_assert(strstr(r.out, "leader"), "%s", r.out);
    unsetenv("LUMINOUS_SECRET_FILE");

    char hist[PATH_MAX];
    snprintf(hist, sizeof hist, "%s/lintest.txt", c->dir);
    const char *lt[] = {"--cluster", c->clients_list, "--secret-file", c->secret_path,
                        "--threads", "2", "--duration", "1", "--out", hist, NULL};
    cluster_exec(c, &r, 60000, NULL, "lintest", lt);
    cr_assert_eq(r.exit_code, 0, "lintest: %s%s", r.out, r.err);
    FILE *f = fopen(hist, "r");
    cr_assert_not_null(f);
    static char h[1 << 16];
    h[fread(h, 1, sizeof h - 1, f)] = '\0';
    fclose(f);
    cr_assert(strstr(h, " ok\n"), "lintest's operations were not answered:\n%.400s", h);
    cluster_passed();
}

/* (b) Without the secret, or with another, raftctl is refused at once with exit 3 and a
 * message that says what to do; the library says the same with -LUM_EAUTH. */
Test(auth, raftctl_without_or_with_a_wrong_secret_is_refused)
{
    struct cluster *c = auth_up(3);
    unsetenv("LUMINOUS_SECRET_FILE");
    struct cluster_run r;
    const char *put[] = {"--cluster", c->clients_list, "put", "k", "v", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", put);
    cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "requires authentication: pass --secret-file or set "
                            "LUMINOUS_SECRET_FILE"), "%s", r.err);
    const char *status[] = {"--cluster", c->clients_list, "status", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", status);
    cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "requires authentication"), "%s", r.err);

    long from = cluster_log_size(c, 0);
    const char *wrong = cluster_write_file(c, "wrong-secret", "not " AUTH_SECRET "\n");
    char wrong_path[PATH_MAX];
    snprintf(wrong_path, sizeof wrong_path, "%s", wrong);
    const char *get[] = {"--cluster", c->nodes[0].client_addr, "--secret-file", wrong_path,
                         "get", "k", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", get);
    cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "authentication failed (wrong secret?)"), "%s", r.err);
    cr_assert(cluster_wait_log(c, 0, from, "authentication failed (wrong secret?)"));

    const char *missing[] = {"--cluster", c->clients_list, "--secret-file", "/nonexistent",
                             "get", "k", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", missing);
    cr_assert_eq(r.exit_code, 2, "an unreadable secret file is a usage error: %s", r.err);
    cr_assert(strstr(r.err, "--secret-file"), "%s", r.err);

    struct lum_client *none = auth_client(c->clients_list, NULL);
    struct lum_reply reply;
    struct lum_err err;
    uint8_t body[64];
    int len = kv_encode_get(body, sizeof body, "k", 1);
    cr_assert_eq(lum_client_query(none, body, (uint32_t)len, true, &reply, &err), -LUM_EAUTH);
    cr_assert(strstr(err.msg, "requires authentication"), "%s", err.msg);
    lum_client_close(none);
    struct lum_client *bad = auth_client(c->clients_list, "nope");
    cr_assert_eq(lum_client_query(bad, body, (uint32_t)len, true, &reply, &err), -LUM_EAUTH);
    cr_assert(strstr(err.msg, "authentication failed"), "%s", err.msg);
    lum_client_close(bad);
    cluster_passed();
}

/* Reads fd until end of stream (bounded); the bytes read. */
static size_t auth_read_to_eof(int fd, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    for (;;) {
        uint64_t now = clock_mono_ms();
        cr_assert_lt(now, deadline, "the connection was not closed");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n == 0)
            return len;
        cr_assert_gt(n, 0, "recv: %s", strerror(errno));
        len += (size_t)n;
        cr_assert_lt(len, cap);
    }
}

static int auth_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* The bytes are exactly one AUTH frame, a CHALLENGE. */
static void auth_assert_only_a_challenge(const uint8_t *buf, size_t len)
{
    cr_assert_eq(len, AUTH_FRAME_BYTES, "read %zu bytes, not one AUTH frame", len);
    struct wire_frame f;
    struct wire_auth a;
    cr_assert_eq(wire_frame_peek(buf, len, WIRE_FRAME_MAX, &f), 0);
    cr_assert_eq(f.type, WIRE_AUTH);
    cr_assert_eq(wire_decode_auth(&f, &a), 0);
    cr_assert_eq(a.step, WIRE_AUTH_CHALLENGE);
}

/* (e) A connection that sends a valid request without authenticating gets the challenge
 * and is closed: no answer, no data. One that sends nothing is closed at the deadline. */
Test(auth, a_request_before_authenticating_gets_only_the_challenge)
{
    struct cluster *c = auth_up(1);
    struct lum_client *cl = cluster_client(c, 0, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "secret value"), KV_OK);

    long from = cluster_log_size(c, 0);
    int fd = auth_connect(c->nodes[0].client_port);
    uint8_t body[64], frame[256];
    int blen = kv_encode_get(body, sizeof body, "k", 1);
    struct wire_request rq = {.request_id = 1, .op = WIRE_OP_QUERY, .flags = WIRE_FLAG_STALE,
                              .body = body, .body_len = (uint32_t)blen};
    int n = wire_encode_request(frame, sizeof frame, &rq);
    cr_assert_gt(n, 0);
    cr_assert_eq(send(fd, frame, (size_t)n, MSG_NOSIGNAL), n);
    static uint8_t got[1 << 16];
    auth_assert_only_a_challenge(got, auth_read_to_eof(fd, got, sizeof got));
    close(fd);
    cr_assert(cluster_wait_log(c, 0, from, "before authenticating"));
    cr_assert(cluster_log_has(c, 0, from, "client 127.0.0.1:"), "the log names the address");

    fd = auth_connect(c->nodes[0].client_port); /* silent */
    auth_assert_only_a_challenge(got, auth_read_to_eof(fd, got, sizeof got));
    close(fd);
    cr_assert(cluster_wait_log(c, 0, from, "did not authenticate within"));
    cr_assert_eq(cluster_kv_put(cl, "k2", "v"), KV_OK, "the node still serves");
    cluster_passed();
}

/* (c) A node restarted with another secret cannot rejoin: the handshakes fail both ways
 * (logged), the other two keep committing, and it gets none of the new entries. With the
 * right secret again it catches up. */
Test(auth, a_node_with_a_wrong_secret_cannot_join)
{
    struct cluster *c = auth_up(3);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "before", "1"), KV_OK);
    cluster_wait_stale_value(c, 2, "before", "1");

    cluster_kill(c, 2);
    char wrong_path[PATH_MAX];
    snprintf(wrong_path, sizeof wrong_path, "%s",
             cluster_write_file(c, "wrong-secret", "another secret\n"));
    auth_edit_config(c, 2, c->secret_path, wrong_path);
    long from3 = cluster_log_size(c, 2), from1 = cluster_log_size(c, 0);
    c->nodes[2].outside = true; /* the harness's status polls would be refused by it */
    cluster_start(c, 2);
    cluster_wait_leader(c);

    char two[80];
    snprintf(two, sizeof two, "%s,%s", c->nodes[0].client_addr, c->nodes[1].client_addr);
    struct lum_client *pair = auth_client(two, AUTH_SECRET);
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "after%d", i);
        struct lum_err err;
        uint8_t body[64];
        int len = kv_encode_put(body, sizeof body, key, strlen(key), "x", 1, 0);
        struct lum_reply r;
        cr_assert_eq(lum_client_command(pair, KV_PUT, body, (uint32_t)len, &r, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(r.status, 0);
    }
    /* it tried, and failed, after the writes were committed */
    cr_assert(cluster_wait_log(c, 2, from3, "authentication failed (wrong secret?)"));
    cr_assert(cluster_wait_log(c, 0, from1, "authentication"));
    long again = cluster_log_size(c, 2);
    cr_assert(cluster_wait_log(c, 2, again, "authentication"));

    struct lum_client *own = auth_client(c->nodes[2].client_addr, "another secret");
    struct wire_status st3, st1;
    struct lum_err err;
    cr_assert_eq(lum_client_status(own, 0, &st3, &err), 0, "%s", err.msg);
    cr_assert_eq(cluster_status(c, cluster_wait_leader(c), &st1), 0);
    cr_assert_lt(st3.applied_index, st1.commit_index, "node 3 applied %llu, the cluster %llu",
                 (unsigned long long)st3.applied_index, (unsigned long long)st1.commit_index);
    char got[16];
    cr_assert_eq(cluster_kv_get(own, "after4", true, got, sizeof got), KV_NOT_FOUND);
    lum_client_close(own);
    lum_client_close(pair);

    cluster_kill(c, 2);
    auth_edit_config(c, 2, wrong_path, c->secret_path);
    c->nodes[2].outside = false;
    cluster_start(c, 2);
    cluster_wait_stale_value(c, 2, "after4", "x");
    cluster_passed();
}

/* (d) A node of another cluster (its hello's cluster id) is refused by the others and
 * refuses them; it gets no entries. */
Test(auth, a_node_of_another_cluster_is_refused)
{
    struct cluster *c = cluster_create(3, NULL);
    auth_edit_config(c, 2, "id = 3\n", "id = 3\ncluster = another\n");
    c->nodes[2].outside = true;
    cluster_start_all(c);
    cluster_wait_leader(c);
    struct lum_client *cl = cluster_client(c, 0, 0);
    cr_assert_eq(cluster_kv_put(cl, "k", "v"), KV_OK);
    cr_assert(cluster_wait_log(c, 0, 0, "another cluster, closing"));
    cr_assert(cluster_wait_log(c, 2, 0, "another cluster, closing"));
    struct wire_status st, lst;
    cr_assert_eq(cluster_status(c, 2, &st), 0);
    cr_assert_eq(cluster_status(c, cluster_wait_leader(c), &lst), 0);
    cr_assert_lt(st.applied_index, lst.commit_index, "it got entries: applied %llu of %llu",
                 (unsigned long long)st.applied_index, (unsigned long long)lst.commit_index);
    char got[16];
    cr_assert_eq(cluster_kv_get(cluster_client(c, 2, 0), "k", true, got, sizeof got),
                 KV_NOT_FOUND);
    cluster_passed();
}
