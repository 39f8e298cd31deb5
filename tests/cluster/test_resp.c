/* The Redis protocol (resp_listen) through real clusters, with a raw-socket RESP client of
 * the test's own (no redis-cli needed): writes and reads through followers, pipelines
 * answered in order, SET options, INCR errors, multi-key commands, TTLs, INFO, protocol
 * errors closing the connection, and TRYAGAIN when there is no leader. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(resp);

/* ---- a minimal RESP client --------------------------------------------------------------------- */

struct rc {
    int    fd;
    char   buf[1 << 16];
    size_t len, pos;
    char   reply[4096];   /* the last reply, flattened (rc_flatten) */
};

/* Connects to node i's resp port, polling while the node is still starting. */
static struct rc *rc_open(struct cluster *c, uint32_t i)
{
    struct rc *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->nodes[i].resp_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    for (;;) {
        r->fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(r->fd, 0);
        if (connect(r->fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        int e = errno;
        close(r->fd);
        cr_assert(e == ECONNREFUSED && clock_mono_ms() < deadline,
                  "connect to node %u's resp port %u: %s", i + 1, c->nodes[i].resp_port,
                  strerror(e));
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    struct timeval tv = {.tv_sec = CLUSTER_WAIT_MS / 1000};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return r;
}

static void rc_close(struct rc *r)
{
    close(r->fd);
    free(r);
}

static void rc_send_raw(struct rc *r, const char *bytes, size_t n)
{
    while (n > 0) {
        ssize_t w = write(r->fd, bytes, n);
        cr_assert_gt(w, 0, "write: %s", strerror(errno));
        bytes += w;
        n -= (size_t)w;
    }
}

/* Appends a multibulk request of the NULL-terminated arguments to out. */
static void rc_encode(char *out, size_t cap, va_list ap)
{
    const char *args[64];
    int n = 0;
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        args[n++] = a;
    size_t off = strlen(out);
    off += (size_t)snprintf(out + off, cap - off, "*%d\r\n", n);
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(out + off, cap - off, "$%zu\r\n%s\r\n", strlen(args[i]), args[i]);
    cr_assert_lt(off, cap);
}

/* The reply at r->pos, flattened into out: +OK -> "+OK", -ERR x -> "-ERR x", :5 -> ":5",
 * $3 abc -> "$abc", $-1 -> "$nil", *2 of ... -> "*2 <elem> <elem>". Returns false when the
 * buffer does not hold a whole reply yet. */
static bool rc_flatten(struct rc *r, size_t *pos, char *out, size_t cap)
{
    char *line = r->buf + *pos;
    char *crlf = memmem(line, r->len - *pos, "\r\n", 2);
    if (!crlf)
        return false;
    size_t line_len = (size_t)(crlf - line);
    size_t next = *pos + line_len + 2;
    switch (line[0]) {
    case '+':
    case '-':
    case ':':
        snprintf(out, cap, "%.*s", (int)line_len, line);
        *pos = next;
        return true;
    case '$': {
        long n = strtol(line + 1, NULL, 10);
        if (n < 0) {
            snprintf(out, cap, "$nil");
            *pos = next;
            return true;
        }
        if (r->len < next + (size_t)n + 2)
            return false;
        snprintf(out, cap, "$%.*s", (int)n, r->buf + next);
        *pos = next + (size_t)n + 2;
        return true;
    }
    case '*': {
        long n = strtol(line + 1, NULL, 10);
        size_t p = next;
        size_t off = (size_t)snprintf(out, cap, "*%ld", n);
        for (long i = 0; i < n; i++) {
            char elem[1024];
            if (!rc_flatten(r, &p, elem, sizeof elem))
                return false;
            off += (size_t)snprintf(out + off, off < cap ? cap - off : 0, " %s", elem);
        }
        *pos = p;
        return true;
    }
    default:
        cr_assert_fail("not a RESP reply: \"%.*s\"", (int)line_len, line);
        return false;
    }
}

/* Reads the next reply (bounded by the socket timeout); returns it flattened. */
static const char *rc_read(struct rc *r)
{
    for (;;) {
        size_t pos = r->pos;
        if (r->len > r->pos && rc_flatten(r, &pos, r->reply, sizeof r->reply)) {
            r->pos = pos;
            return r->reply;
        }
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        cr_assert_lt(r->len, sizeof r->buf, "reply too large for the test client");
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        cr_assert_gt(n, 0, "reading a reply: %s", n == 0 ? "connection closed" : strerror(errno));
        r->len += (size_t)n;
    }
}

/* Sends one command and returns its reply, flattened. */
static const char *rc_call(struct rc *r, ...)
{
    char req[4096] = "";
    va_list ap;
    va_start(ap, r);
    rc_encode(req, sizeof req, ap);
    va_end(ap);
    rc_send_raw(r, req, strlen(req));
    return rc_read(r);
}

#define EXPECT(r, want, ...)                                                                   \
    do {                                                                                       \
        const char *got_ = rc_call((r), __VA_ARGS__, NULL);                                    \
        cr_assert_str_eq(got_, (want), "%s: got \"%s\", expected \"%s\"", #__VA_ARGS__, got_, \
                         (want));                                                              \
    } while (0)

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A follower of the cluster's leader. */
static uint32_t a_follower(struct cluster *c)
{
    return (cluster_wait_leader(c) + 1) % c->n;
}

/* ---- tests ----------------------------------------------------------------------------------------- */

Test(resp, set_through_a_follower_is_read_through_every_node)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c), f = (leader + 1) % 3;
    struct rc *r = rc_open(c, f);
    EXPECT(r, "+OK", "SET", "k", "v");
    for (uint32_t i = 0; i < c->n; i++) {
        struct rc *ri = rc_open(c, i);
        EXPECT(ri, "$v", "GET", "k");
        rc_close(ri);
    }
    /* the same store as the native protocol: written by RESP, read by a native client */
    char got[16] = "";
    cr_assert_eq(cluster_kv_get(cluster_client(c, UINT32_MAX, 0), "k", false, got, sizeof got),
                 KV_OK);
    cr_assert_str_eq(got, "v");
    /* and written through the leader, read through the follower */
    struct rc *rl = rc_open(c, leader);
    EXPECT(rl, "+OK", "SET", "k", "from the leader");
    EXPECT(r, "$from the leader", "GET", "k");
    rc_close(rl);
    rc_close(r);
    cluster_passed();
}

/* One write of many requests, local ones (PING, ECHO), writes and reads mixed: the replies
 * come in request order, and each read sees the writes sent before it on the connection. */
Test(resp, a_pipeline_of_mixed_commands_is_answered_in_order)
{
    struct cluster *c = cluster_up(3, NULL);
    struct rc *r = rc_open(c, a_follower(c));
    char req[4096] = "";
    static const char *const cmds[][4] = {
        {"PING"}, {"SET", "a", "1"}, {"GET", "a"}, {"INCR", "a"}, {"ECHO", "hi"},
        {"GET", "a"}, {"INCRBY", "a", "40"}, {"PING", "x"}, {"DEL", "a", "nope"},
        {"EXISTS", "a"}, {"SET", "b", "2"}, {"SET", "c", "3"}, {"MGET", "a", "b", "c"},
    };
    static const char *const want[] = {
        "+PONG", "+OK", "$1", ":2", "$hi", "$2", ":42", "$x", ":1", ":0", "+OK", "+OK",
        "*3 $nil $2 $3",
    };
    size_t n = sizeof cmds / sizeof *cmds;
    for (int round = 0; round < 3; round++) {
        req[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            size_t off = strlen(req), argc = 0;
            while (argc < 4 && cmds[i][argc])
                argc++;
            off += (size_t)snprintf(req + off, sizeof req - off, "*%zu\r\n", argc);
            for (size_t a = 0; a < argc; a++)
                off += (size_t)snprintf(req + off, sizeof req - off, "$%zu\r\n%s\r\n",
                                        strlen(cmds[i][a]), cmds[i][a]);
        }
        rc_send_raw(r, req, strlen(req));
        for (size_t i = 0; i < n; i++) {
            const char *got = rc_read(r);
            cr_assert_str_eq(got, want[i], "round %d, reply %zu (%s): \"%s\", expected \"%s\"",
                             round, i, cmds[i][0], got, want[i]);
        }
    }
    rc_close(r);
    cluster_passed();
}

Test(resp, set_honours_nx_xx_ex_px_and_keepttl)
{
    struct cluster *c = cluster_up(3, NULL);
    struct rc *r = rc_open(c, a_follower(c));
    EXPECT(r, "+OK", "SET", "n", "1", "NX");
    EXPECT(r, "$nil", "SET", "n", "2", "NX");
    EXPECT(r, "$1", "GET", "n");
    EXPECT(r, "$nil", "SET", "m", "1", "XX");
    EXPECT(r, "$nil", "GET", "m");
    EXPECT(r, "+OK", "SET", "n", "3", "XX", "PX", "100000");
    const char *pttl = rc_call(r, "PTTL", "n", NULL);
    long ms = strtol(pttl + 1, NULL, 10);
    cr_assert(pttl[0] == ':' && ms > 0 && ms <= 100000, "PTTL n: %s", pttl);
    EXPECT(r, ":100", "TTL", "n");
    EXPECT(r, "+OK", "SET", "n", "4", "KEEPTTL");
    EXPECT(r, ":100", "TTL", "n");
    EXPECT(r, "+OK", "SET", "n", "5");  /* a plain SET clears the expiry */
    EXPECT(r, ":-1", "TTL", "n");
    EXPECT(r, ":-2", "TTL", "missing");
    EXPECT(r, "-ERR invalid expire time in 'set' command", "SET", "n", "6", "EX", "0");
    EXPECT(r, "-ERR value is not an integer or out of range", "SET", "n", "6", "EX", "soon");
    EXPECT(r, "-ERR syntax error", "SET", "n", "6", "NX", "XX");
    EXPECT(r, "-ERR syntax error", "SET", "n", "6", "EX", "10", "PX", "10");
    EXPECT(r, "$5", "GET", "n");
    /* EXPIRE, PERSIST, and a key that really expires */
    EXPECT(r, ":1", "EXPIRE", "n", "100");
    EXPECT(r, ":0", "EXPIRE", "missing", "100");
    EXPECT(r, ":1", "PERSIST", "n");
    EXPECT(r, ":0", "PERSIST", "n");
    EXPECT(r, ":-1", "TTL", "n");
    EXPECT(r, "+OK", "SET", "brief", "x", "PX", "200");
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (strcmp(rc_call(r, "GET", "brief", NULL), "$nil") != 0) {
        cr_assert_lt(clock_mono_ms(), deadline, "a key set with PX 200 never expired");
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    EXPECT(r, ":-2", "PTTL", "brief");
    EXPECT(r, ":1", "PEXPIRE", "n", "-5"); /* a time in the past deletes the key */
    EXPECT(r, "$nil", "GET", "n");
    rc_close(r);
    cluster_passed();
}

Test(resp, incr_counts_and_refuses_what_is_not_an_integer)
{
    struct cluster *c = cluster_up(3, NULL);
    struct rc *r = rc_open(c, a_follower(c));
    EXPECT(r, ":1", "INCR", "cnt");
    EXPECT(r, ":11", "INCRBY", "cnt", "10");
    EXPECT(r, ":6", "DECRBY", "cnt", "5");
    EXPECT(r, ":5", "DECR", "cnt");
    EXPECT(r, "$5", "GET", "cnt");
    EXPECT(r, "+OK", "SET", "word", "abc");
    EXPECT(r, "-ERR value is not an integer or out of range", "INCR", "word");
    EXPECT(r, "$abc", "GET", "word");
    EXPECT(r, "-ERR value is not an integer or out of range", "INCRBY", "cnt", "ten");
    EXPECT(r, "+OK", "SET", "big", "9223372036854775807");
    EXPECT(r, "-ERR increment or decrement would overflow", "INCR", "big");
    EXPECT(r, "$9223372036854775807", "GET", "big");
    rc_close(r);
    cluster_passed();
}

Test(resp, multi_key_commands_and_dbsize)
{
    struct cluster *c = cluster_up(3, NULL);
    struct rc *r = rc_open(c, a_follower(c));
    EXPECT(r, ":0", "DBSIZE");
    EXPECT(r, "+OK", "MSET", "a", "1", "b", "2", "c", "3");
    EXPECT(r, "*4 $1 $2 $nil $3", "MGET", "a", "b", "zz", "c");
    EXPECT(r, ":2", "EXISTS", "a", "b", "zz");
    EXPECT(r, ":3", "DBSIZE");
    EXPECT(r, ":2", "DEL", "a", "zz", "b");
    EXPECT(r, ":0", "DEL", "a");
    EXPECT(r, ":1", "DBSIZE");
    EXPECT(r, "-ERR wrong number of arguments for 'mset' command", "MSET", "a", "1", "b");
    EXPECT(r, "-ERR wrong number of arguments for 'get' command", "GET");
    EXPECT(r, "-ERR unknown command 'NOPE', with args beginning with: 'x' ", "NOPE", "x");
    EXPECT(r, "+OK", "SELECT", "0");
    rc_close(r);
    cluster_passed();
}

Test(resp, info_reports_the_replication_state)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c), f = (leader + 1) % 3;
    struct rc *r = rc_open(c, f);
    EXPECT(r, "+OK", "SET", "k", "v"); /* something committed */
    const char *info = rc_call(r, "INFO", NULL);
    char want[64];
    static const char *const fields[] = {"# Server", "luminous_version:", "# Replication",
                                         "role:slave", "raft_role:follower", "term:",
                                         "commit_index:", "applied_index:"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        cr_assert_not_null(strstr(info, fields[i]), "INFO lacks %s: %s", fields[i], info);
    snprintf(want, sizeof want, "leader_id:%u\r\n", leader + 1);
    cr_assert_not_null(strstr(info, want), "INFO lacks %s: %s", want, info);
    long commit = strtol(strstr(info, "commit_index:") + 13, NULL, 10);
    cr_assert_geq(commit, 2, "the SET's entry is committed: %s", info);
    struct rc *rl = rc_open(c, leader);
    info = rc_call(rl, "INFO", "replication", NULL);
    cr_assert_not_null(strstr(info, "role:master"), "%s", info);
    cr_assert_null(strstr(info, "# Server"), "INFO replication is that section alone");
    rc_close(rl);
    rc_close(r);
    cluster_passed();
}

/* As Redis: a protocol error is answered, then the connection is closed; inline commands
 * work; wrong commands are answered and the connection stays. */
Test(resp, malformed_input_is_answered_with_a_protocol_error_and_closed)
{
    struct cluster *c = cluster_up(3, NULL);
    struct rc *r = rc_open(c, a_follower(c));
    rc_send_raw(r, "PING\r\n", 6);
    cr_assert_str_eq(rc_read(r), "+PONG");
    rc_send_raw(r, "set inline 'two words'\r\nget inline\r\n", 36);
    cr_assert_str_eq(rc_read(r), "+OK");
    cr_assert_str_eq(rc_read(r), "$two words");
    rc_send_raw(r, "*1\r\n$x\r\n", 8);
    cr_assert_str_eq(rc_read(r), "-ERR Protocol error: invalid bulk length");
    char b;
    cr_assert_eq(read(r->fd, &b, 1), 0, "the connection is closed after a protocol error");
    rc_close(r);

    r = rc_open(c, a_follower(c));
    rc_send_raw(r, "*2\r\n:1\r\n", 8);
    cr_assert_str_eq(rc_read(r), "-ERR Protocol error: expected '$', got ':'");
    cr_assert_eq(read(r->fd, &b, 1), 0);
    rc_close(r);

    /* the server is fine */
    r = rc_open(c, a_follower(c));
    EXPECT(r, "+PONG", "PING");
    rc_close(r);
    cluster_passed();
}

/* One node of three: no leader, so the data commands cannot be served. */
Test(resp, a_node_without_a_leader_answers_tryagain)
{
    struct cluster *c = cluster_create(3, NULL);
    cluster_start(c, 0);
    struct rc *r = rc_open(c, 0);
    const char *got = rc_call(r, "SET", "k", "v", NULL);
    cr_assert(starts_with(got, "-TRYAGAIN"), "SET without a leader: %s", got);
    got = rc_call(r, "GET", "k", NULL);
    cr_assert(starts_with(got, "-TRYAGAIN"), "GET without a leader: %s", got);
    EXPECT(r, "+PONG", "PING"); /* local commands still work */
    const char *info = rc_call(r, "INFO", "replication", NULL);
    cr_assert_not_null(strstr(info, "leader_id:0\r\n"), "%s", info);
    rc_close(r);
    cluster_passed();
}

Test(resp, data_commands_need_the_kv_state_machine)
{
    struct cluster *c = cluster_up(1, "state_machine = counter\n");
    struct rc *r = rc_open(c, 0);
    const char *got = rc_call(r, "GET", "k", NULL);
    cr_assert(starts_with(got, "-ERR this server runs the \"counter\" state machine"), "%s", got);
    EXPECT(r, "+PONG", "PING");
    rc_close(r);
    cluster_passed();
}

/* With a cluster secret, the follower's link to the leader authenticates like any client. */
Test(resp, a_follower_forwards_through_the_secret_handshake)
{
    struct cluster *c = cluster_create(3, NULL);
    cluster_set_secret(c, "the resp test's secret");
    cluster_start_all(c);
    struct rc *r = rc_open(c, a_follower(c));
    EXPECT(r, "+OK", "SET", "k", "v");
    EXPECT(r, "$v", "GET", "k");
    rc_close(r);
    cluster_passed();
}

/* ---- a pipeline across a change of leader ------------------------------------------------- */

enum { PIPELINE_SETS = 300 };

/* PIPELINE_SETS writes (k00000.. = v) sent at once, none answered yet. */
static void send_set_pipeline(struct rc *r)
{
    static char req[PIPELINE_SETS * 48];
    size_t off = 0;
    for (int i = 0; i < PIPELINE_SETS; i++)
        off += (size_t)snprintf(req + off, sizeof req - off,
                                "*3\r\n$3\r\nSET\r\n$6\r\nk%05d\r\n$1\r\nv\r\n", i);
    rc_send_raw(r, req, off);
}

/* Every write of the pipeline is answered: done, or TRYAGAIN; nothing else, none dropped. */
static void expect_done_or_tryagain(struct rc *r)
{
    int ok = 0, again = 0;
    for (int i = 0; i < PIPELINE_SETS; i++) {
        const char *got = rc_read(r);
        if (strcmp(got, "+OK") == 0)
            ok++;
        else if (starts_with(got, "-TRYAGAIN"))
            again++;
        else
            cr_assert_fail("reply %d: %s", i, got);
    }
    cr_log_info("%d done, %d TRYAGAIN", ok, again);
}

/* The same connection gets a write through once there is a leader again. */
static void set_until_through(struct rc *r, const char *after)
{
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (strcmp(rc_call(r, "SET", "after", "x", NULL), "+OK") != 0) {
        cr_assert(starts_with(r->reply, "-TRYAGAIN"), "%s", r->reply);
        cr_assert_lt(clock_mono_ms(), deadline, "no SET got through after %s", after);
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
}

/* Requests in flight on a follower when the leader dies are all answered: done, or TRYAGAIN,
 * none dropped; the connection then works with the next leader. */
Test(resp, requests_in_flight_when_the_leader_dies_are_answered)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c), f = (leader + 1) % 3;
    struct rc *r = rc_open(c, f);
    EXPECT(r, "+OK", "SET", "warm", "up"); /* the link to the leader is up */
    send_set_pipeline(r);
    cluster_kill(c, leader);
    expect_done_or_tryagain(r);
    /* a new leader is elected; the same connection gets through again */
    set_until_through(r, "the leader died");
    EXPECT(r, "$x", "GET", "after");
    rc_close(r);
    cluster_passed();
}

/* A pipeline far longer than max_pending_per_conn: the connection is not read from while its
 * requests wait (backpressure, as for native clients), then resumes; every request is
 * answered, in order, the reads seeing the writes before them. */
Test(resp, a_pipeline_beyond_max_pending_per_conn_is_answered_in_order)
{
    struct cluster *c = cluster_up(3, "max_pending_per_conn = 4\n");
    for (int via = 0; via < 2; via++) {
        uint32_t leader = cluster_wait_leader(c);
        struct rc *r = rc_open(c, via ? leader : (leader + 1) % 3);
        enum { N = 200 };
        static char req[N * 64];
        size_t off = 0;
        for (int i = 0; i < N; i++) {
            if (i % 3 == 2)
                off += (size_t)snprintf(req + off, sizeof req - off, "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
            else if (i % 3 == 1)
                off += (size_t)snprintf(req + off, sizeof req - off, "*2\r\n$3\r\nGET\r\n$1\r\nn\r\n");
            else
                off += (size_t)snprintf(req + off, sizeof req - off, "*1\r\n$4\r\nPING\r\n");
        }
        rc_send_raw(r, req, off);
        long n = 0; /* INCRs of this round so far; the first round left N / 3 */
        for (int i = 0; i < N; i++) {
            const char *got = rc_read(r);
            char want[32];
            if (i % 3 == 2)
                snprintf(want, sizeof want, ":%ld", ++n + via * (N / 3));
            else if (i % 3 == 1)
                snprintf(want, sizeof want, n + via * (N / 3) ? "$%ld" : "$nil",
                         n + via * (N / 3));
            else
                snprintf(want, sizeof want, "+PONG");
            cr_assert_str_eq(got, want, "via the %s, reply %d", via ? "leader" : "follower", i);
        }
        rc_close(r);
    }
    cluster_passed();
}

Test(resp, a_connection_over_max_clients_is_refused_in_redis_words)
{
    struct cluster *c = cluster_up(1, "max_clients = 2\n");
    struct rc *a = rc_open(c, 0), *b = rc_open(c, 0);
    EXPECT(a, "+PONG", "PING");
    EXPECT(b, "+PONG", "PING");
    struct rc *r = rc_open(c, 0);
    cr_assert_str_eq(rc_read(r), "-ERR max number of clients reached");
    char byte;
    cr_assert_eq(read(r->fd, &byte, 1), 0, "closed after the refusal");
    rc_close(r);
    rc_close(a);
    cluster_pause_ms(100); /* the slot is free again once the server saw the close */
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    for (;;) {
        r = rc_open(c, 0);
        rc_send_raw(r, "PING\r\n", 6);
        if (strcmp(rc_read(r), "+PONG") == 0)
            break;
        rc_close(r);
        cr_assert_lt(clock_mono_ms(), deadline, "the slot of a closed connection is not freed");
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    rc_close(r);
    rc_close(b);
    cluster_passed();
}

/* The leader closes the follower's idle link (client_idle_timeout_ms) like any idle client;
 * the next request through the follower dials again and gets through, no TRYAGAIN. */
Test(resp, a_link_the_leader_closed_for_idleness_is_redialed)
{
    struct cluster *c = cluster_up(3, "client_idle_timeout_ms = 400\n");
    uint32_t leader = cluster_wait_leader(c), f = (leader + 1) % 3;
    long from = cluster_log_size(c, f);
    struct rc *r = rc_open(c, f);
    EXPECT(r, "+OK", "SET", "k", "1");
    rc_close(r);
    char line[96];
    snprintf(line, sizeof line, "Redis forwarding link to node %u closed", leader + 1);
    cr_assert(cluster_wait_log(c, f, from, line), "the leader never closed the idle link");
    r = rc_open(c, f);
    EXPECT(r, "+OK", "SET", "k", "2");
    EXPECT(r, "$2", "GET", "k");
    rc_close(r);
    cluster_passed();
}

/* The leader hands leadership over while a pipeline of writes waits on it: every request is
 * answered (applied, or TRYAGAIN as a native client would hear NOT_LEADER), and the same
 * connection, now to a follower, goes on through the new leader. */
Test(resp, a_leader_that_steps_down_answers_its_waiting_requests)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c), next = (leader + 1) % 3;
    struct rc *r = rc_open(c, leader);
    send_set_pipeline(r);
    char id[16];
    snprintf(id, sizeof id, "%u", next + 1);
    struct cluster_run run;
    cluster_ctl(c, &run, "transfer", id, NULL);
    cr_assert_eq(run.exit_code, 0, "transfer: %s", run.err);
    expect_done_or_tryagain(r);
    cr_assert_eq(cluster_wait_leader(c), next);
    set_until_through(r, "the transfer");
    EXPECT(r, "$x", "GET", "after");
    const char *info = rc_call(r, "INFO", "replication", NULL);
    cr_assert_not_null(strstr(info, "role:slave"), "%s", info);
    rc_close(r);
    cluster_passed();
}
