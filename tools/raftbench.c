/* raftbench: a load generator for a Luminous cluster, on its own epoll loop.
 *
 * C closed-loop clients (each with P requests outstanding, P = --pipeline, 1 by default)
 * share N nonblocking TCP connections (client i uses connection i % N). Writes are KV_PUT
 * commands; with P = 1 each client has a session (client_id, seq) and a retry keeps its seq,
 * so the cluster applies it at most once; with P > 1 writes carry client_id 0 (a session
 * assumes one outstanding request). Reads are KV_GET queries, linearizable unless
 * --stale-reads. A follower's NOT_LEADER answer moves the whole connection to the leader it
 * names; a lost connection, a timeout or a busy/unavailable answer counts as an error and
 * the request is retried (same key, same seq) after a backoff.
 *
 * Latency is measured per operation from its first attempt to its successful answer
 * (redirects and retries included) into a log-bucketed histogram: 128 sub-buckets per
 * power of two of nanoseconds, so a reported value is within 0.4 % of the truth (the
 * bucket's midpoint; min and max are kept exactly). Percentiles use the rank definition of
 * ../shared/bench/etcd/etcdload (the int(p*n + 0.5)-th smallest), so the two tools'
 * RESULT lines compare field by field. --record FILE writes every measured latency (ns,
 * one per line) for checking the histogram against an exact computation. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "luminous/client.h"
#include "luminous/io.h"
#include "luminous/kv.h"
#include "luminous/wire.h"

#define BENCH_NODES_MAX      LUM_CLIENT_NODES_MAX
#define BENCH_SLOT_BITS      24u                 /* request_id = attempt << 24 | slot     */
#define BENCH_SLOTS_MAX      (1u << BENCH_SLOT_BITS)
#define BENCH_KEY_SIZE_MAX   KV_KEY_MAX
#define BENCH_PREFIX_MAX     (KV_KEY_MAX - 16u)  /* leaves room for the key number         */
#define BENCH_IN_CHUNK_SIZE  (64u * 1024)        /* input buffer beyond one largest answer */
#define BENCH_EVENTS_MAX     256
#define BENCH_TICK_MS        10                  /* epoll timeout: timers' resolution      */
#define BENCH_CHECK_MS       100u                /* timeout scan period                    */
#define BENCH_BACKOFF_MIN_MS 10u
#define BENCH_BACKOFF_MAX_MS 200u                /* an election takes 0.5-1 s by default   */
#define BENCH_NODE_DOWN_MS   300u                /* skip a node that failed this long      */
#define BENCH_RETRY_MS       10u                 /* resend after a BUSY/UNAVAILABLE answer */

/* ---- histogram ------------------------------------------------------------------------------
 * Values below 2*HIST_SUB are exact; above, a value v with highest bit m lands in bucket
 * (m - HIST_SUB_BITS) of width 2^(m - HIST_SUB_BITS), i.e. at most 1/HIST_SUB of v. */
#define HIST_SUB_BITS 7u
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  (2u * HIST_SUB + (63u - HIST_SUB_BITS) * HIST_SUB)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total, min, max;
    long double sum;            /* for the mean (ns) */
};

static uint32_t hist_index(uint64_t v)
{
    if (v < 2u * HIST_SUB)
        return (uint32_t)v;
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
    uint32_t shift = msb - HIST_SUB_BITS;
    return 2u * HIST_SUB + (shift - 1u) * HIST_SUB + (uint32_t)((v >> shift) - HIST_SUB);
}

/* The lowest value of bucket i and its width. */
static void hist_bucket(uint32_t i, uint64_t *lo_out, uint64_t *width_out)
{
    if (i < 2u * HIST_SUB) {
        *lo_out = i;
        *width_out = 1;
        return;
    }
    uint32_t k = i - 2u * HIST_SUB;
    uint32_t shift = k / HIST_SUB + 1u;
    *lo_out = (uint64_t)(k % HIST_SUB + HIST_SUB) << shift;
    *width_out = 1ull << shift;
}

static void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

/* The value of rank int(p*n + 0.5) (1-based, clamped), as etcdload computes it: the
 * midpoint of its bucket, clamped to the exact min and max. 0 when empty. */
static uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->total == 0)
        return 0;
    int64_t rank = (int64_t)(p * (double)h->total + 0.5) - 1;
    if (rank < 0)
        rank = 0;
    if ((uint64_t)rank >= h->total)
        rank = (int64_t)h->total - 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen > (uint64_t)rank) {
            uint64_t lo, width;
            hist_bucket(i, &lo, &width);
            uint64_t v = lo + width / 2;
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}

static uint64_t ns_to_us(uint64_t ns) { return (ns + 500) / 1000; }

/* ---- state ------------------------------------------------------------------------------------ */

struct node {
    char addr[WIRE_ADDR_MAX + 1];
    struct sockaddr_in sa;
    uint64_t down_until_ns;   /* --cluster nodes: failed us recently, skip until then */
};

enum slot_state { SLOT_IDLE, SLOT_WAIT, SLOT_SENT };

/* One outstanding operation of a client (a client has --pipeline of them). */
struct slot {
    uint64_t request_id;      /* of the attempt in flight (SENT)                     */
    uint64_t seq;             /* session seq of a write; kept across retries         */
    uint64_t first_ns;        /* the operation's first attempt: latency starts here  */
    uint64_t sent_ns;         /* this attempt: for the timeout                       */
    uint32_t key;
    uint8_t  state;           /* enum slot_state                                     */
    bool     get;
    bool     measured;        /* started in the measured phase                       */
};

struct bclient {
    uint64_t client_id;       /* 0: no session (pipelining)                          */
    uint64_t seq;
    uint64_t rng;
};

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_OPEN };

struct bconn {
    uint32_t id;
    int      fd;
    uint8_t  state;               /* enum conn_state                                  */
    struct node target;           /* where it is (or will be) connected               */
    uint64_t retry_at_ns;         /* DOWN: next connect; OPEN: resend WAIT slots      */
    uint64_t connect_ns;          /* CONNECTING since                                 */
    uint32_t backoff_ms;
    bool     resend;              /* OPEN with WAIT slots to send at retry_at_ns      */
    bool     dirty;               /* has output to flush this turn                    */
    bool     want_out;            /* registered for EPOLLOUT                          */
    bool     redirect;            /* move to redirect_to after this read              */
    struct node redirect_to;
    uint8_t *in;
    size_t   in_len, in_cap;
    uint8_t *out;
    size_t   out_pos, out_len, out_cap;
};

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN, PHASE_DONE };

enum err_kind { ERR_CONN, ERR_TIMEOUT, ERR_NO_LEADER, ERR_BUSY, ERR_STATUS, ERR_CODE, ERR_END_ };
static const char *const err_names[ERR_END_] = {
    "connection lost/refused", "timed out", "no leader known", "busy/unavailable",
    "other status", "bad-request answer",
};

struct bench {
    /* options */
    struct node nodes[BENCH_NODES_MAX];
    uint32_t nodes_count;
    uint32_t clients_count, conns_count, pipeline;
    double   duration_s, warmup_s;
    uint64_t ops_target;          /* 0: run for duration_s                             */
    uint32_t value_size, keys;
    double   read_ratio;
    bool     stale;
    bool     sequential;          /* keys 0, 1, 2, ... instead of uniform random      */
    char     prefix[BENCH_PREFIX_MAX + 1];
    const char *record_path;
    uint32_t timeout_ms;
    bool     quiet;

    /* run */
    int      epfd;
    struct bclient *clients;
    struct slot    *slots;        /* clients_count * pipeline                         */
    struct bconn   *conns;
    uint32_t *dirty;              /* conns with output this turn                      */
    uint32_t  dirty_count;
    uint8_t  *value;
    uint8_t  *body;               /* scratch: one request body                        */
    size_t    body_cap, frame_max;
    uint64_t  attempt_next;
    struct node leader;           /* last leader we were told about                   */
    bool      leader_known;
    uint32_t  node_next;          /* rotation when no leader is known                 */
    uint64_t  key_next;           /* --sequential-keys                                */

    enum phase phase;
    uint64_t start_ns, measure_ns, end_ns, drain_ns, last_done_ns;
    uint64_t next_check_ns, next_progress_ns;
    uint64_t issued;              /* measured operations started                      */
    uint64_t done;                /* measured operations answered successfully        */
    uint64_t errors, err_kind[ERR_END_], redirects, stray;
    uint64_t last_progress_done, last_progress_ns;
    struct hist hist;
    FILE    *record;
};

static volatile sig_atomic_t bench_interrupted;

static void bench_on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) /* xorshift64* */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static bool node_same(const struct node *a, const struct node *b)
{
    return a->sa.sin_port == b->sa.sin_port && a->sa.sin_addr.s_addr == b->sa.sin_addr.s_addr;
}

static void bench_count_error(struct bench *b, enum err_kind kind)
{
    b->errors++;
    b->err_kind[kind]++;
}

/* ---- connections ----------------------------------------------------------------------------- */

static void bconn_set_events(struct bench *b, struct bconn *c, bool want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = c->id};
    if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = want_out;
}

static void bconn_mark_dirty(struct bench *b, struct bconn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        b->dirty[b->dirty_count++] = c->id;
    }
}

/* The slots of the clients on connection c: clients c->id, c->id + N, ... */
#define BCONN_FOR_SLOTS(b, c, s)                                                              \
    for (uint32_t cl_ = (c)->id; cl_ < (b)->clients_count; cl_ += (b)->conns_count)          \
        for (struct slot *s = &(b)->slots[(size_t)cl_ * (b)->pipeline];                      \
             s < &(b)->slots[(size_t)(cl_ + 1) * (b)->pipeline]; s++)

static void slot_send(struct bench *b, struct bconn *c, struct slot *s, uint64_t now);

/* Sends every slot of c that waits; c is open. */
static void bconn_send_waiting(struct bench *b, struct bconn *c, uint64_t now)
{
    c->resend = false;
    BCONN_FOR_SLOTS(b, c, s)
        if (s->state == SLOT_WAIT)
            slot_send(b, c, s, now);
}

static void bconn_connect(struct bench *b, struct bconn *c, uint64_t now)
{
    struct lum_err err;
    c->in_len = 0;
    c->out_pos = c->out_len = 0;
    c->want_out = true;
    c->fd = net_connect(&c->target.sa, &err);
    if (c->fd < 0) {
        c->state = CONN_DOWN;
        c->retry_at_ns = now + (uint64_t)c->backoff_ms * 1000000u;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = c->id};
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        fprintf(stderr, "raftbench: epoll_ctl: %s\n", strerror(errno));
        exit(1);
    }
    c->state = CONN_CONNECTING;
    c->connect_ns = now;
}

/* Closes c; its requests in flight wait for the next connection. */
static void bconn_close(struct bench *b, struct bconn *c, bool count_errors)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = CONN_DOWN;
    c->resend = false;
    BCONN_FOR_SLOTS(b, c, s) {
        if (s->state == SLOT_SENT) {
            s->state = SLOT_WAIT;
            if (count_errors)
                bench_count_error(b, ERR_CONN);
        }
    }
}

/* Where a connection goes next: the leader if we know one, else the next node that has
 * not failed us lately (or simply the next if all have). */
static void bconn_pick_target(struct bench *b, struct bconn *c, uint64_t now)
{
    if (b->leader_known) {
        c->target = b->leader;
        return;
    }
    for (uint32_t i = 0; i < b->nodes_count; i++) {
        const struct node *n = &b->nodes[(b->node_next + i) % b->nodes_count];
        if (n->down_until_ns <= now) {
            b->node_next += i + 1;
            c->target = *n;
            return;
        }
    }
    c->target = b->nodes[b->node_next++ % b->nodes_count];
}

/* c failed (refused, reset, closed, timed out, or its node knows no leader): forget that
 * node as leader, back off, then try the leader or the next node. */
static void bconn_fail(struct bench *b, struct bconn *c, uint64_t now)
{
    bconn_close(b, c, true);
    if (b->leader_known && node_same(&b->leader, &c->target))
        b->leader_known = false;
    for (uint32_t i = 0; i < b->nodes_count; i++)
        if (node_same(&b->nodes[i], &c->target))
            b->nodes[i].down_until_ns = now + BENCH_NODE_DOWN_MS * 1000000ull;
    bconn_pick_target(b, c, now);
    c->retry_at_ns = now + (uint64_t)c->backoff_ms * 1000000u;
    c->backoff_ms = c->backoff_ms * 2 > BENCH_BACKOFF_MAX_MS ? BENCH_BACKOFF_MAX_MS
                                                             : c->backoff_ms * 2;
}

static void bconn_flush(struct bench *b, struct bconn *c, uint64_t now)
{
    c->dirty = false;
    if (c->state != CONN_OPEN)
        return;
    while (c->out_pos < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            bconn_set_events(b, c, true);
            return;
        }
        bconn_fail(b, c, now);
        return;
    }
    c->out_pos = c->out_len = 0;
    bconn_set_events(b, c, false);
}

/* ---- operations ------------------------------------------------------------------------------- */

static int bench_key(const struct bench *b, uint32_t key, char *out)
{
    return snprintf(out, BENCH_KEY_SIZE_MAX + 1, "%s%08u", b->prefix, key);
}

/* Encodes s's request at the end of c's output. */
static void slot_send(struct bench *b, struct bconn *c, struct slot *s, uint64_t now)
{
    if (c->state != CONN_OPEN) {
        s->state = SLOT_WAIT;
        return;
    }
    uint32_t index = (uint32_t)(s - b->slots);
    struct bclient *cl = &b->clients[index / b->pipeline];
    char key[BENCH_KEY_SIZE_MAX + 1];
    int klen = bench_key(b, s->key, key);
    int blen = s->get ? kv_encode_get(b->body, b->body_cap, key, (size_t)klen)
                      : kv_encode_put(b->body, b->body_cap, key, (size_t)klen, b->value,
                                      b->value_size, 0);
    LUM_ASSERT(blen > 0);
    s->request_id = ++b->attempt_next << BENCH_SLOT_BITS | index;
    struct wire_request rq = {
        .request_id = s->request_id,
        .op = s->get ? WIRE_OP_QUERY : WIRE_OP_COMMAND,
        .flags = s->get && b->stale ? WIRE_FLAG_STALE : 0,
        .entry_type = s->get ? 0 : KV_PUT,
        .client_id = s->get ? 0 : cl->client_id,
        .seq = s->get ? 0 : s->seq,
        .body = b->body,
        .body_len = (uint32_t)blen,
    };
    if (c->out_cap - c->out_len < b->frame_max) { /* room is guaranteed once compacted */
        memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
        c->out_len -= c->out_pos;
        c->out_pos = 0;
    }
    int n = wire_encode_request(c->out + c->out_len, c->out_cap - c->out_len, &rq);
    LUM_ASSERT(n > 0);
    c->out_len += (size_t)n;
    s->state = SLOT_SENT;
    s->sent_ns = now;
    bconn_mark_dirty(b, c);
}

/* Starts the next operation on s, if the phase still issues. */
static void slot_start(struct bench *b, struct slot *s, uint64_t now)
{
    s->state = SLOT_IDLE;
    if (b->phase != PHASE_WARMUP && b->phase != PHASE_MEASURE)
        return;
    if (b->phase == PHASE_MEASURE && b->ops_target && b->issued >= b->ops_target)
        return;
    uint32_t index = (uint32_t)(s - b->slots);
    struct bclient *cl = &b->clients[index / b->pipeline];
    s->get = b->read_ratio > 0 && rng_unit(&cl->rng) < b->read_ratio;
    s->key = b->sequential ? (uint32_t)(b->key_next++ % b->keys)
                           : (uint32_t)(rng_next(&cl->rng) % b->keys);
    if (!s->get && cl->client_id)
        s->seq = ++cl->seq;
    s->first_ns = now;
    s->measured = b->phase == PHASE_MEASURE;
    if (s->measured)
        b->issued++;
    slot_send(b, &b->conns[(index / b->pipeline) % b->conns_count], s, now);
}

static void slot_done(struct bench *b, struct slot *s, uint64_t now)
{
    if (s->measured && b->phase != PHASE_WARMUP) {
        uint64_t lat = now - s->first_ns;
        hist_add(&b->hist, lat);
        b->done++;
        b->last_done_ns = now;
        if (b->record)
            fprintf(b->record, "%llu\n", (unsigned long long)lat);
    }
    slot_start(b, s, now);
}

/* One response on c. */
static void bench_on_response(struct bench *b, struct bconn *c, const struct wire_response *rs,
                              uint64_t now)
{
    uint32_t index = (uint32_t)(rs->request_id & (BENCH_SLOTS_MAX - 1));
    struct slot *s = index < b->clients_count * b->pipeline ? &b->slots[index] : NULL;
    if (!s || s->state != SLOT_SENT || s->request_id != rs->request_id) {
        b->stray++;
        return;
    }
    if (rs->status == 0) {
        c->backoff_ms = BENCH_BACKOFF_MIN_MS;
        if (rs->code == KV_BAD_REQUEST) {
            bench_count_error(b, ERR_CODE);
            slot_start(b, s, now); /* our bug, not the server's: don't retry forever */
            return;
        }
        slot_done(b, s, now);
        return;
    }
    s->state = SLOT_WAIT;
    if (rs->status == -LUM_ENOTLEADER) {
        struct node to;
        struct lum_err err;
        bool named = rs->leader_addr_len > 0;
        if (named) {
            memcpy(to.addr, rs->leader_addr, rs->leader_addr_len);
            to.addr[rs->leader_addr_len] = '\0';
            named = net_parse_addr(to.addr, &to.sa, &err) == 0 && !node_same(&to, &c->target);
        }
        if (named) {
            b->redirects++;
            b->leader = to;
            b->leader_known = true;
            c->redirect = true;
            c->redirect_to = to;
        } else if (!c->redirect) {
            bench_count_error(b, ERR_NO_LEADER);
            c->redirect = true; /* bconn_fail after this read: back off, try another node */
            c->redirect_to.addr[0] = '\0';
        }
        return;
    }
    if (rs->status == -LUM_EBUSY || rs->status == -LUM_EUNAVAILABLE ||
        rs->status == -LUM_ETIMEDOUT) {
        bench_count_error(b, ERR_BUSY);
        if (!c->resend) {
            c->resend = true;
            c->retry_at_ns = now + BENCH_RETRY_MS * 1000000ull;
        }
        return;
    }
    if (b->err_kind[ERR_STATUS] < 5)
        fprintf(stderr, "raftbench: %s answered %s\n", c->target.addr,
                lum_strerror(rs->status));
    bench_count_error(b, ERR_STATUS);
    slot_start(b, s, now); /* not retriable: next operation */
}

static void bconn_on_readable(struct bench *b, struct bconn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    uint64_t now = now_ns();
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        bconn_fail(b, c, now);
        return;
    }
    if (n < 0)
        return;
    c->in_len += (size_t)n;
    size_t off = 0;
    c->redirect = false;
    for (;;) {
        struct wire_frame f;
        int rv = wire_frame_peek(c->in + off, c->in_len - off, (uint32_t)c->in_cap, &f);
        if (rv == -LUM_EAGAIN)
            break;
        struct wire_response rs;
        if (rv == 0 && f.type == WIRE_CLIENT_RESPONSE && wire_decode_response(&f, &rs) == 0) {
            bench_on_response(b, c, &rs, now);
            off += f.size;
            continue;
        }
        fprintf(stderr, "raftbench: bad frame from %s (%s), reconnecting\n", c->target.addr,
                rv ? lum_strerror(rv) : "not a response");
        bconn_fail(b, c, now);
        return;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if (c->redirect) {
        c->redirect = false;
        if (c->redirect_to.addr[0]) { /* follow the leader now: not an error */
            bconn_close(b, c, false);
            c->target = c->redirect_to;
            bconn_connect(b, c, now);
        } else {
            bconn_fail(b, c, now);
        }
    }
}

static void bconn_on_event(struct bench *b, struct bconn *c, uint32_t events)
{
    uint64_t now = now_ns();
    if (c->state == CONN_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (net_connect_result(c->fd) != 0) {
            bconn_fail(b, c, now);
            return;
        }
        c->state = CONN_OPEN;
        bconn_set_events(b, c, false);
        bconn_send_waiting(b, c, now);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        bconn_on_readable(b, c);
        if (c->state != CONN_OPEN)
            return;
    }
    if (events & EPOLLOUT)
        bconn_mark_dirty(b, c);
}

/* ---- timers, phases, progress ------------------------------------------------------------------ */

static void bench_check(struct bench *b, uint64_t now)
{
    uint64_t timeout_ns = (uint64_t)b->timeout_ms * 1000000u;
    for (uint32_t i = 0; i < b->conns_count; i++) {
        struct bconn *c = &b->conns[i];
        if (c->state == CONN_DOWN && now >= c->retry_at_ns) {
            bconn_connect(b, c, now);
        } else if (c->state == CONN_CONNECTING && now - c->connect_ns > timeout_ns) {
            bench_count_error(b, ERR_TIMEOUT);
            bconn_fail(b, c, now);
        } else if (c->state == CONN_OPEN) {
            if (c->resend && now >= c->retry_at_ns)
                bconn_send_waiting(b, c, now);
            bool late = false;
            BCONN_FOR_SLOTS(b, c, s)
                if (s->state == SLOT_SENT && now - s->sent_ns > timeout_ns)
                    late = true;
            if (late) {
                bench_count_error(b, ERR_TIMEOUT);
                bconn_fail(b, c, now); /* the requests wait for the next connection */
            }
        }
    }
}

static bool bench_idle(const struct bench *b)
{
    for (uint32_t i = 0; i < b->clients_count * b->pipeline; i++)
        if (b->slots[i].state != SLOT_IDLE)
            return false;
    return true;
}

static void bench_start_measure(struct bench *b, uint64_t now)
{
    b->phase = PHASE_MEASURE;
    b->measure_ns = now;
    b->end_ns = now + (uint64_t)(b->duration_s * 1e9);
    b->issued = b->done = b->errors = b->redirects = 0;
    memset(b->err_kind, 0, sizeof b->err_kind);
    hist_reset(&b->hist);
    b->last_progress_done = 0;
    b->last_progress_ns = now;
    b->last_done_ns = now;
    b->next_progress_ns = now + 1000000000ull;
}

static void bench_phases(struct bench *b, uint64_t now)
{
    if (b->phase == PHASE_WARMUP && (now - b->start_ns >= (uint64_t)(b->warmup_s * 1e9) ||
                                     bench_interrupted)) {
        bench_start_measure(b, now);
        /* slots idle after a warm-up answer would stay idle: none are, all keep cycling */
    }
    if (b->phase == PHASE_MEASURE &&
        (bench_interrupted || (b->ops_target ? b->issued >= b->ops_target : now >= b->end_ns))) {
        b->phase = PHASE_DRAIN;
        b->drain_ns = now;
    }
    if (b->phase == PHASE_DRAIN) {
        /* requests still in flight are answered or retried until --timeout; what is left
         * then counts as timed out */
        if (bench_idle(b)) {
            b->phase = PHASE_DONE;
        } else if (now - b->drain_ns > (uint64_t)b->timeout_ms * 1000000u) {
            for (uint32_t i = 0; i < b->clients_count * b->pipeline; i++)
                if (b->slots[i].state != SLOT_IDLE) {
                    b->slots[i].state = SLOT_IDLE;
                    bench_count_error(b, ERR_TIMEOUT);
                }
            b->phase = PHASE_DONE;
        }
    }
}

static void bench_progress(struct bench *b, uint64_t now)
{
    if (b->quiet)
        return;
    if (b->phase == PHASE_WARMUP) {
        fprintf(stderr, "raftbench: %5.1fs warm-up, leader %s, redirects %llu, errors %llu\n",
                (double)(now - b->start_ns) / 1e9, b->leader_known ? b->leader.addr : "?",
                (unsigned long long)b->redirects, (unsigned long long)b->errors);
        return;
    }
    double secs = (double)(now - b->measure_ns) / 1e9;
    double last = (double)(now - b->last_progress_ns) / 1e9;
    fprintf(stderr,
            "raftbench: %5.1fs ops %llu  %.0f ops/s (last 1 s %.0f)  p99 %llu us  max %llu us"
            "  errors %llu  leader %s\n",
            secs, (unsigned long long)b->done, secs > 0 ? (double)b->done / secs : 0.0,
            last > 0 ? (double)(b->done - b->last_progress_done) / last : 0.0,
            (unsigned long long)ns_to_us(hist_percentile(&b->hist, 0.99)),
            (unsigned long long)ns_to_us(b->hist.total ? b->hist.max : 0),
            (unsigned long long)b->errors, b->leader_known ? b->leader.addr : "?");
    b->last_progress_done = b->done;
    b->last_progress_ns = now;
}

static void bench_run(struct bench *b)
{
    uint64_t now = now_ns();
    b->start_ns = now;
    b->phase = PHASE_WARMUP;
    b->next_check_ns = now;
    b->next_progress_ns = now + 1000000000ull;
    if (b->warmup_s <= 0)
        bench_start_measure(b, now);
    for (uint32_t i = 0; i < b->conns_count; i++) {
        bconn_pick_target(b, &b->conns[i], now);
        bconn_connect(b, &b->conns[i], now);
    }
    for (uint32_t i = 0; i < b->clients_count * b->pipeline; i++)
        slot_start(b, &b->slots[i], now);

    struct epoll_event events[BENCH_EVENTS_MAX];
    while (b->phase != PHASE_DONE) {
        int n = epoll_wait(b->epfd, events, BENCH_EVENTS_MAX, BENCH_TICK_MS);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "raftbench: epoll_wait: %s\n", strerror(errno));
            exit(1);
        }
        for (int i = 0; i < n; i++)
            bconn_on_event(b, &b->conns[events[i].data.u32], events[i].events);
        now = now_ns();
        if (now >= b->next_check_ns) {
            bench_check(b, now);
            b->next_check_ns = now + BENCH_CHECK_MS * 1000000ull;
        }
        bench_phases(b, now);
        if (now >= b->next_progress_ns && b->phase != PHASE_DONE) {
            bench_progress(b, now);
            b->next_progress_ns += 1000000000ull;
        }
        for (uint32_t i = 0; i < b->dirty_count; i++)
            bconn_flush(b, &b->conns[b->dirty[i]], now);
        b->dirty_count = 0;
    }
}

/* ---- options and set-up ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftbench [options]\n"
            "  --cluster HOST:PORT,...  client addresses (default $LUMINOUS_CLUSTER, then\n"
            "                           " LUM_CLUSTER_DEFAULT ")\n"
            "  --clients C              closed-loop clients (default 1)\n"
            "  --conns N                connections they share, client i on i %% N (0 or\n"
            "                           default: one per client)\n"
            "  --pipeline P             requests outstanding per client (default 1; > 1\n"
            "                           sends writes without a session)\n"
            "  --duration S             measured seconds (default 15)\n"
            "  --ops N                  measure N operations instead of a duration\n"
            "  --warmup S               unmeasured seconds first (default 0)\n"
            "  --value-size BYTES       put value size (default 256)\n"
            "  --keys K                 keys, chosen uniformly (default 10000)\n"
            "  --prefix P               key prefix (default bench/); keys are P%%08u\n"
            "  --sequential-keys        keys 0, 1, 2, ... (wrapping at K), e.g. to load K keys\n"
            "                           with --ops K\n"
            "  --read-ratio R           fraction of operations that are gets (default 0)\n"
            "  --stale-reads            gets read local state (no ReadIndex)\n"
            "  --timeout MS             a request unanswered this long is an error and is\n"
            "                           retried on a new connection (default 5000)\n"
            "  --record FILE            write every measured latency (ns), one per line\n"
            "  --quiet                  no progress lines\n"
            "stdout: one line\n"
            "  RESULT op=put conc=C conns=N keys=K vsize=V get=R ops=.. secs=.. ops_s=.. p50_us=..\n"
            "  p90_us=.. p99_us=.. p999_us=.. max_us=.. errors=.. client_cpu_s=..\n");
}

static int parse_u32(const char *name, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-' || n < min || n > max) {
        fprintf(stderr, "raftbench: --%s must be a whole number in %u..%u, not \"%s\"\n", name,
                min, max, v);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

static int parse_double(const char *name, const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || end == v || !(d >= min && d <= max)) {
        fprintf(stderr, "raftbench: --%s must be a number in %g..%g, not \"%s\"\n", name, min,
                max, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_cluster(struct bench *b, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct lum_err err;
        if (len == 0 || len > WIRE_ADDR_MAX || b->nodes_count == BENCH_NODES_MAX) {
            fprintf(stderr, "raftbench: bad --cluster \"%s\"\n", list);
            return -1;
        }
        struct node *n = &b->nodes[b->nodes_count];
        memcpy(n->addr, p, len);
        n->addr[len] = '\0';
        if (net_parse_addr(n->addr, &n->sa, &err) != 0) {
            fprintf(stderr, "raftbench: %s\n", err.msg);
            return -1;
        }
        b->nodes_count++;
        p = end ? end + 1 : p + len;
    }
    if (b->nodes_count == 0) {
        fprintf(stderr, "raftbench: empty --cluster\n");
        return -1;
    }
    return 0;
}

static int bench_parse(struct bench *b, int argc, char **argv)
{
    enum { O_CLUSTER = 1, O_CLIENTS, O_CONNS, O_PIPELINE, O_DURATION, O_OPS, O_WARMUP, O_VSIZE,
           O_KEYS, O_PREFIX, O_SEQ, O_READS, O_STALE, O_TIMEOUT, O_RECORD, O_QUIET, O_HELP };
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, O_CLUSTER},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"conns", required_argument, NULL, O_CONNS},
        {"pipeline", required_argument, NULL, O_PIPELINE},
        {"duration", required_argument, NULL, O_DURATION},
        {"ops", required_argument, NULL, O_OPS},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"value-size", required_argument, NULL, O_VSIZE},
        {"keys", required_argument, NULL, O_KEYS},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"sequential-keys", no_argument, NULL, O_SEQ},
        {"read-ratio", required_argument, NULL, O_READS},
        {"stale-reads", no_argument, NULL, O_STALE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"record", required_argument, NULL, O_RECORD},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *cluster = getenv("LUMINOUS_CLUSTER");
    if (!cluster || !*cluster)
        cluster = LUM_CLUSTER_DEFAULT;
    b->clients_count = 1;
    b->pipeline = 1;
    b->duration_s = 15;
    b->value_size = 256;
    b->keys = 10000;
    b->timeout_ms = 5000;
    strcpy(b->prefix, "bench/");
    int o;
    double ops_d;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rv = 0;
        switch (o) {
        case O_CLUSTER: cluster = optarg; break;
        case O_CLIENTS: rv = parse_u32("clients", optarg, 1, 1u << 20, &b->clients_count); break;
        case O_CONNS: rv = parse_u32("conns", optarg, 0, 1u << 20, &b->conns_count); break;
        case O_PIPELINE: rv = parse_u32("pipeline", optarg, 1, 4096, &b->pipeline); break;
        case O_DURATION: rv = parse_double("duration", optarg, 0.001, 1e6, &b->duration_s); break;
        case O_OPS:
            rv = parse_double("ops", optarg, 1, 1e15, &ops_d);
            b->ops_target = (uint64_t)ops_d;
            break;
        case O_WARMUP: rv = parse_double("warmup", optarg, 0, 1e6, &b->warmup_s); break;
        case O_VSIZE: rv = parse_u32("value-size", optarg, 0, KV_PUT_DATA_MAX, &b->value_size); break;
        case O_KEYS: rv = parse_u32("keys", optarg, 1, 1000000000u, &b->keys); break;
        case O_PREFIX:
            if (strlen(optarg) > BENCH_PREFIX_MAX) {
                fprintf(stderr, "raftbench: --prefix is longer than %u bytes\n", BENCH_PREFIX_MAX);
                rv = -1;
            } else {
                strcpy(b->prefix, optarg);
            }
            break;
        case O_READS: rv = parse_double("read-ratio", optarg, 0, 1, &b->read_ratio); break;
        case O_STALE: b->stale = true; break;
        case O_SEQ: b->sequential = true; break;
        case O_TIMEOUT: rv = parse_u32("timeout", optarg, 1, 3600000, &b->timeout_ms); break;
        case O_RECORD: b->record_path = optarg; break;
        case O_QUIET: b->quiet = true; break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (rv != 0)
            return -1;
    }
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    if (b->conns_count == 0 || b->conns_count > b->clients_count)
        b->conns_count = b->clients_count;
    if ((uint64_t)b->clients_count * b->pipeline > BENCH_SLOTS_MAX) {
        fprintf(stderr, "raftbench: clients x pipeline must be at most %u\n", BENCH_SLOTS_MAX);
        return -1;
    }
    return parse_cluster(b, cluster);
}

static void *bench_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "raftbench: out of memory\n");
        exit(1);
    }
    return p;
}

static int bench_setup(struct bench *b)
{
    /* the largest request: a put of the longest key; checked once here so the encoders
     * cannot fail later */
    size_t klen_max = strlen(b->prefix) + 10;
    b->body_cap = KV_PUT_OVERHEAD + klen_max + b->value_size + 64;
    b->body = bench_calloc(1, b->body_cap);
    b->value = bench_calloc(1, b->value_size + 1);
    memset(b->value, 'x', b->value_size);
    char key[BENCH_KEY_SIZE_MAX + 1];
    int klen = bench_key(b, b->keys - 1, key);
    int blen = kv_encode_put(b->body, b->body_cap, key, (size_t)klen, b->value, b->value_size, 0);
    if (blen < 0) {
        fprintf(stderr, "raftbench: a put of a %d-byte key and a %u-byte value does not fit an "
                "entry (key + value at most %u bytes)\n", klen, b->value_size,
                (unsigned)KV_PUT_DATA_MAX);
        return -1;
    }
    b->frame_max = WIRE_FRAME_HEADER_SIZE + 32 + b->body_cap;

    uint8_t seed[8];
    uint64_t base;
    if (getrandom(seed, sizeof seed, 0) == sizeof seed)
        memcpy(&base, seed, sizeof base);
    else
        base = now_ns() ^ ((uint64_t)getpid() << 32);
    b->clients = bench_calloc(b->clients_count, sizeof *b->clients);
    for (uint32_t i = 0; i < b->clients_count; i++) {
        struct bclient *cl = &b->clients[i];
        /* distinct, nonzero ids: a random base plus the client's number */
        cl->client_id = b->pipeline == 1 ? ((base << 20) + i) | (1ull << 63) : 0;
        cl->rng = (base ^ (0x9E3779B97F4A7C15ull * (i + 1))) | 1;
    }
    b->slots = bench_calloc((size_t)b->clients_count * b->pipeline, sizeof *b->slots);
    b->conns = bench_calloc(b->conns_count, sizeof *b->conns);
    b->dirty = bench_calloc(b->conns_count, sizeof *b->dirty);
    uint32_t per_conn = (b->clients_count + b->conns_count - 1) / b->conns_count;
    for (uint32_t i = 0; i < b->conns_count; i++) {
        struct bconn *c = &b->conns[i];
        c->id = i;
        c->fd = -1;
        c->backoff_ms = BENCH_BACKOFF_MIN_MS;
        /* answers: a GET's value plus a redirect address, at most */
        c->in_cap = BENCH_IN_CHUNK_SIZE + WIRE_FRAME_HEADER_SIZE + 64 + WIRE_ADDR_MAX +
                    b->value_size;
        c->in = bench_calloc(1, c->in_cap);
        /* at most one request per slot is queued at a time, plus one compaction's slack */
        c->out_cap = ((size_t)per_conn * b->pipeline + 1) * b->frame_max;
        c->out = bench_calloc(1, c->out_cap);
    }
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        fprintf(stderr, "raftbench: epoll_create1: %s\n", strerror(errno));
        return -1;
    }
    hist_reset(&b->hist);
    if (b->record_path) {
        b->record = fopen(b->record_path, "w");
        if (!b->record) {
            fprintf(stderr, "raftbench: %s: %s\n", b->record_path, strerror(errno));
            return -1;
        }
        setvbuf(b->record, NULL, _IOFBF, 1 << 20);
    }
    return 0;
}

static void bench_report(struct bench *b)
{
    uint64_t end = b->last_done_ns > b->measure_ns ? b->last_done_ns : now_ns();
    double secs = (double)(end - b->measure_ns) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    const char *op = b->read_ratio >= 1 ? "get" : b->read_ratio > 0 ? "mix" : "put";
    const struct hist *h = &b->hist;
    if (!b->quiet || b->errors) {
        fprintf(stderr, "raftbench: done: %llu ops, mean %.0f us, min %llu us, redirects %llu, "
                "errors %llu", (unsigned long long)b->done,
                h->total ? (double)(h->sum / h->total) / 1e3 : 0.0,
                (unsigned long long)ns_to_us(h->total ? h->min : 0),
                (unsigned long long)b->redirects, (unsigned long long)b->errors);
        for (int k = 0; k < ERR_END_; k++)
            if (b->err_kind[k])
                fprintf(stderr, "%s%llu %s", k == 0 || !b->errors ? " (" : ", ",
                        (unsigned long long)b->err_kind[k], err_names[k]);
        fprintf(stderr, "%s\n", b->errors ? ")" : "");
    }
    printf("RESULT op=%s conc=%u conns=%u keys=%u vsize=%u get=%.2f ops=%llu secs=%.3f "
           "ops_s=%.1f p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu errors=%llu "
           "client_cpu_s=%.2f\n",
           op, b->clients_count, b->conns_count, b->keys, b->value_size, b->read_ratio,
           (unsigned long long)b->done, secs, secs > 0 ? (double)b->done / secs : 0.0,
           (unsigned long long)ns_to_us(hist_percentile(h, 0.50)),
           (unsigned long long)ns_to_us(hist_percentile(h, 0.90)),
           (unsigned long long)ns_to_us(hist_percentile(h, 0.99)),
           (unsigned long long)ns_to_us(hist_percentile(h, 0.999)),
           (unsigned long long)ns_to_us(h->total ? h->max : 0), (unsigned long long)b->errors,
           cpu);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static struct bench bench; /* large (the histogram): not on the stack */
    struct bench *b = &bench;
    if (bench_parse(b, argc, argv) != 0)
        return 2;
    if (bench_setup(b) != 0)
        return 1;
    struct sigaction sa = {.sa_handler = bench_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    bench_run(b);
    if (b->record && fclose(b->record) != 0) {
        fprintf(stderr, "raftbench: %s: %s\n", b->record_path, strerror(errno));
        return 1;
    }
    bench_report(b);
    return b->done > 0 ? 0 : 1;
}
