/* The wire codec: round trips of every message type, every malformed-input path, no read
 * outside a frame (exact-size heap copies, every prefix and truncation), encoders that never
 * write past cap, golden layouts, and seeded random and mutated bytes through every decoder. */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/wire.h"

/* cr_assert for hot loops: does nothing at all when the condition holds */
#define CHECK(cond, ...)                  \
    do {                                  \
        if (!(cond))                      \
            cr_assert_fail(__VA_ARGS__);  \
    } while (0)

#define ENTRIES_MAX 64u   /* entries_cap the tests decode with */

static const uint8_t known_types[] = {
    WIRE_HELLO, WIRE_AUTH, WIRE_SNAP_CHUNK,
    WIRE_RAFT_BASE + RAFT_MSG_VOTE,      WIRE_RAFT_BASE + RAFT_MSG_VOTE_RESP,
    WIRE_RAFT_BASE + RAFT_MSG_PREVOTE,   WIRE_RAFT_BASE + RAFT_MSG_PREVOTE_RESP,
    WIRE_RAFT_BASE + RAFT_MSG_APPEND,    WIRE_RAFT_BASE + RAFT_MSG_APPEND_RESP,
    WIRE_RAFT_BASE + RAFT_MSG_HEARTBEAT, WIRE_RAFT_BASE + RAFT_MSG_HEARTBEAT_RESP,
    WIRE_RAFT_BASE + RAFT_MSG_TIMEOUT_NOW, WIRE_RAFT_BASE + RAFT_MSG_SNAPSHOT,
    WIRE_CLIENT_REQUEST, WIRE_CLIENT_RESPONSE, WIRE_STATUS_RESPONSE,
};
#define KNOWN_TYPES_COUNT (sizeof known_types / sizeof known_types[0])

static bool type_is_raft(uint8_t type)
{
    return type > WIRE_RAFT_BASE && type < WIRE_RAFT_BASE + RAFT_MSG_TYPE_END_;
}

static uint8_t *heap_copy(const void *p, size_t n)
{
    uint8_t *h = malloc(n > 0 ? n : 1);
    cr_assert_not_null(h);
    if (n > 0)
        memcpy(h, p, n);
    return h;
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* A deterministic PRNG (xorshift64*): every run sees the same bytes. */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* ---- the corpus: one sample of every message type with edge values ------------------------- */

struct sample {
    uint8_t type;  /* frame type */
    struct wire_hello hello;
    struct wire_snap_chunk chunk;
    struct raft_msg msg;
    struct wire_request rq;
    struct wire_response rs;
    const struct wire_status *st;
};

#define CORPUS_MAX 128
static struct sample corpus[CORPUS_MAX];
static size_t corpus_count;

static struct raft_entry entry_pool[8 * 64 + 16];
static size_t entry_pool_used;
static uint8_t big_bytes[WIRE_FRAME_MAX];   /* request bodies and response data */
static char long_addr[WIRE_ADDR_MAX + 1];   /* WIRE_ADDR_MAX bytes + NUL */
static struct wire_status statuses[3];

static struct sample *corpus_add(uint8_t type)
{
    cr_assert_lt(corpus_count, CORPUS_MAX);
    struct sample *s = &corpus[corpus_count++];
    memset(s, 0, sizeof *s);
    s->type = type;
    return s;
}

enum len_mode { LEN_ZERO, LEN_ONE, LEN_MAX, LEN_MIXED };

static uint32_t entry_len(enum len_mode mode, uint32_t i)
{
    switch (mode) {
    case LEN_ZERO: return 0;
    case LEN_ONE:  return 1;
    case LEN_MAX:  return RAFT_PAYLOAD_MAX;
    default:       return i % 4 == 0 ? 0 : i % 4 == 1 ? RAFT_PAYLOAD_MAX : (i * 613u) % 300u;
    }
}

/* An append of n entries at prev_log_index + 1...; edge: every field at its maximum. */
static void corpus_add_append(uint32_t n, enum len_mode mode, bool edge_max)
{
    struct sample *s = corpus_add(WIRE_RAFT_BASE + RAFT_MSG_APPEND);
    cr_assert_leq(entry_pool_used + n, sizeof entry_pool / sizeof entry_pool[0]);
    struct raft_entry *es = &entry_pool[entry_pool_used];
    entry_pool_used += n;
    struct raft_msg *m = &s->msg;
    m->type = RAFT_MSG_APPEND;
    if (edge_max) {
        m->from = m->to = m->term = UINT64_MAX;
        m->append.prev_log_index = UINT64_MAX - n;  /* the last index is UINT64_MAX */
        m->append.prev_log_term = m->append.leader_commit = UINT64_MAX;
    } else {
        m->from = 1;
        m->to = 2;
        m->term = 7;
        m->append.prev_log_index = 100;
        m->append.prev_log_term = 6;
        m->append.leader_commit = 99;
    }
    for (uint32_t i = 0; i < n; i++) {
        es[i].term = edge_max ? UINT64_MAX : 6 + i / 8;
        es[i].index = m->append.prev_log_index + 1 + i;
        es[i].type = edge_max ? UINT16_MAX : (uint16_t)(64 + i % 3);
        es[i].len = entry_len(mode, i);
        fill_pattern(es[i].payload, es[i].len, i + n);
    }
    m->append.n_entries = n;
    m->append.entries = es;
}

/* Three of each non-append Raft message: all zero, all maximal, and distinct values. */
static void corpus_add_raft_fixed(uint8_t type)
{
    for (int v = 0; v < 3; v++) {
        struct sample *s = corpus_add((uint8_t)(WIRE_RAFT_BASE + type));
        struct raft_msg *m = &s->msg;
        uint64_t x = v == 0 ? 0 : v == 1 ? UINT64_MAX : 0;
        m->type = type;
        m->from = v == 2 ? 3 : x;
        m->to = v == 2 ? 1 : x;
        m->term = v == 2 ? 42 : x;
        switch (type) {
        case RAFT_MSG_VOTE:
        case RAFT_MSG_PREVOTE:
            m->vote.last_log_index = v == 2 ? 1234 : x;
            m->vote.last_log_term = v == 2 ? 41 : x;
            m->vote.transfer = v == 1;
            break;
        case RAFT_MSG_SNAPSHOT:
            m->snapshot.index = v == 2 ? 900 : x;
            m->snapshot.term = v == 2 ? 40 : x;
            if (v == 1) { /* both lists full, every field at its maximum */
                m->snapshot.members.count = m->snapshot.members_old.count = RAFT_MEMBERS_MAX;
                for (uint32_t k = 0; k < RAFT_MEMBERS_MAX; k++) {
                    m->snapshot.members.members[k] = (struct raft_member){UINT64_MAX - k, 0xFF};
                    m->snapshot.members_old.members[k] =
                        (struct raft_member){UINT64_MAX - 100 - k, 0xFF};
                }
            } else if (v == 2) {
                m->snapshot.members.count = 3;
                m->snapshot.members_old.count = 2;
                for (uint32_t k = 0; k < 3; k++)
                    m->snapshot.members.members[k] =
                        (struct raft_member){k + 1, k == 2 ? RAFT_LEARNER : RAFT_VOTER};
                for (uint32_t k = 0; k < 2; k++)
                    m->snapshot.members_old.members[k] = (struct raft_member){k + 1, RAFT_VOTER};
            }
            break;
        case RAFT_MSG_VOTE_RESP:
        case RAFT_MSG_PREVOTE_RESP:
            m->vote_resp.granted = v != 0;
            break;
        case RAFT_MSG_APPEND_RESP:
            m->append_resp.success = v == 1;
            m->append_resp.last_index = v == 2 ? 500 : x;
            m->append_resp.hint_index = v == 2 ? 480 : x;
            m->append_resp.hint_term = v == 2 ? 40 : x;
            break;
        case RAFT_MSG_HEARTBEAT:
            m->heartbeat.commit = v == 2 ? 77 : x;
            m->heartbeat.ctx = v == 2 ? 0x0102030405060708ULL : x;
            break;
        case RAFT_MSG_HEARTBEAT_RESP:
            m->heartbeat_resp.ctx = v == 2 ? 0x8877665544332211ULL : x;
            break;
        }
    }
}

static void corpus_add_request(uint8_t op, uint8_t flags, uint32_t body_len, bool edge_max)
{
    struct sample *s = corpus_add(WIRE_CLIENT_REQUEST);
    struct wire_request *rq = &s->rq;
    rq->request_id = edge_max ? UINT64_MAX : 17;
    rq->op = op;
    rq->flags = flags;
    rq->entry_type = edge_max ? UINT16_MAX : op == WIRE_OP_COMMAND ? 64 : 0;
    rq->client_id = edge_max ? UINT64_MAX : op == WIRE_OP_COMMAND ? 9 : 0;
    rq->seq = edge_max ? UINT64_MAX : op == WIRE_OP_COMMAND ? 3 : 0;
    rq->body = body_len > 0 ? big_bytes : NULL;
    rq->body_len = body_len;
}

static void corpus_add_response(int32_t status, int32_t code, uint64_t leader_id,
                                const char *addr, uint16_t addr_len, uint32_t data_len)
{
    struct sample *s = corpus_add(WIRE_CLIENT_RESPONSE);
    struct wire_response *rs = &s->rs;
    rs->request_id = leader_id == UINT64_MAX ? UINT64_MAX : 5;
    rs->status = status;
    rs->code = code;
    rs->leader_id = leader_id;
    rs->leader_addr = addr;
    rs->leader_addr_len = addr_len;
    rs->data = data_len > 0 ? big_bytes + 3 : NULL;
    rs->data_len = data_len;
}

static void corpus_build(void)
{
    corpus_count = 0;
    entry_pool_used = 0;
    fill_pattern(big_bytes, sizeof big_bytes, 99);
    for (size_t i = 0; i < WIRE_ADDR_MAX; i++)
        long_addr[i] = (char)('a' + i % 26);
    long_addr[WIRE_ADDR_MAX] = '\0';

    struct sample *s = corpus_add(WIRE_HELLO);
    s = corpus_add(WIRE_HELLO);
    s->hello = (struct wire_hello){UINT64_MAX, UINT64_MAX, UINT32_MAX, ""};
    memcpy(s->hello.peer_addr, long_addr, sizeof long_addr);
    s = corpus_add(WIRE_HELLO);
    s->hello = (struct wire_hello){0xC1u, 2, WIRE_VERSION, "10.0.0.2:7001"};

    s = corpus_add(WIRE_SNAP_CHUNK);  /* all zero: an empty file's only chunk */
    s = corpus_add(WIRE_SNAP_CHUNK);
    s->chunk = (struct wire_snap_chunk){UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                                        UINT64_MAX, UINT64_MAX - 3000, UINT64_MAX, big_bytes,
                                        3000};
    s = corpus_add(WIRE_SNAP_CHUNK);
    s->chunk = (struct wire_snap_chunk){1, 2, 7, 500, 6, 4096, 4097, big_bytes + 1, 1};

    for (uint8_t t = RAFT_MSG_VOTE; t < RAFT_MSG_TYPE_END_; t++)
        if (t != RAFT_MSG_APPEND)
            corpus_add_raft_fixed(t);
    /* snapshots with one list empty and the other one or full */
    for (uint32_t k = 0; k < 4; k++) {
        struct raft_msg *m = &corpus_add(WIRE_RAFT_BASE + RAFT_MSG_SNAPSHOT)->msg;
        *m = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 5,
                               .snapshot = {.index = 10, .term = 4}};
        struct raft_members *full = k % 2 ? &m->snapshot.members_old : &m->snapshot.members;
        full->count = k < 2 ? 1 : RAFT_MEMBERS_MAX;
        for (uint32_t i = 0; i < full->count; i++)
            full->members[i] = (struct raft_member){i + 1, RAFT_VOTER};
    }
    corpus_add_append(0, LEN_ZERO, false);
    corpus_add_append(0, LEN_ZERO, true);
    {   /* an all-zero append: a follower's first, heartbeat-like append */
        struct sample *z = corpus_add(WIRE_RAFT_BASE + RAFT_MSG_APPEND);
        z->msg.type = RAFT_MSG_APPEND;
    }
    for (enum len_mode mode = LEN_ZERO; mode <= LEN_MAX; mode++) {
        corpus_add_append(1, mode, false);
        corpus_add_append(64, mode, false);
    }
    corpus_add_append(1, LEN_MAX, true);
    corpus_add_append(64, LEN_MAX, true);
    corpus_add_append(64, LEN_MIXED, false);

    for (uint8_t op = WIRE_OP_COMMAND; op < WIRE_OP_END_; op++) {
        corpus_add_request(op, 0, 0, false);
        corpus_add_request(op, 0, RAFT_PAYLOAD_MAX, false);
        corpus_add_request(op, 0, 0, true);
    }
    corpus_add_request(WIRE_OP_QUERY, WIRE_FLAG_STALE, 1, false);
    corpus_add_request(WIRE_OP_QUERY, WIRE_FLAG_STALE, 0, true);
    /* the largest request a frame_max of WIRE_FRAME_MAX accepts */
    corpus_add_request(WIRE_OP_COMMAND, 0, WIRE_FRAME_MAX - WIRE_FRAME_HEADER_SIZE - 32, true);

    corpus_add_response(0, 0, 0, NULL, 0, 0);
    corpus_add_response(-LUM_ENOTLEADER, 0, 2, "127.0.0.1:7102", 14, 0);
    corpus_add_response(0, 0, 0, "h:1", 3, 0);  /* address, leader unknown */
    corpus_add_response(0, 1, 0, NULL, 0, 1);
    corpus_add_response(-LUM_ENOTFOUND, -1, 3, "x", 1, 7);
    corpus_add_response(INT32_MIN, INT32_MAX, UINT64_MAX, long_addr, WIRE_ADDR_MAX,
                        RAFT_PAYLOAD_MAX);
    corpus_add_response(0, 0, 0, NULL, 0, WIRE_FRAME_MAX - WIRE_FRAME_HEADER_SIZE - 30);

    memset(statuses, 0, sizeof statuses);
    corpus_add(WIRE_STATUS_RESPONSE)->st = &statuses[0];  /* all zero, no members */

    struct wire_status *st = &statuses[1];
    st->request_id = st->id = UINT64_MAX;
    st->role = RAFT_LEADER;
    st->voter = true;
    st->term = st->leader_id = UINT64_MAX;
    st->commit_index = st->applied_index = st->first_index = UINT64_MAX;
    st->last_index = st->snapshot_index = st->db_size = UINT64_MAX;
    st->n_members = RAFT_MEMBERS_MAX;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        struct wire_member *m = &st->members[i];
        m->id = i == 0 ? UINT64_MAX : i + 1;
        m->role = i % 2 ? RAFT_LEARNER : RAFT_VOTER;
        m->match_index = i == 0 ? UINT64_MAX : i * 1000;
        if (i == 0 || i == 5) {
            memcpy(m->peer_addr, long_addr, sizeof long_addr);
            memcpy(m->client_addr, long_addr, sizeof long_addr);
        } else if (i == 1) {
            m->peer_addr[0] = m->client_addr[0] = '\0';
        } else {
            snprintf(m->peer_addr, sizeof m->peer_addr, "10.0.0.%u:7001", i);
            snprintf(m->client_addr, sizeof m->client_addr, "10.0.0.%u:7101", i);
        }
    }
    corpus_add(WIRE_STATUS_RESPONSE)->st = st;

    st = &statuses[2];
    st->request_id = 8;
    st->id = 2;
    st->role = RAFT_FOLLOWER;
    st->voter = false;
    st->term = 3;
    st->leader_id = 1;
    st->commit_index = 10, st->applied_index = 9, st->first_index = 5, st->last_index = 11;
    st->snapshot_index = 4;
    st->n_members = 1;
    st->members[0].id = 1;
    st->members[0].role = RAFT_VOTER;
    strcpy(st->members[0].peer_addr, "127.0.0.1:7001");
    strcpy(st->members[0].client_addr, "127.0.0.1:7101");
    corpus_add(WIRE_STATUS_RESPONSE)->st = st;
}

static int sample_encode(const struct sample *s, uint8_t *to, size_t cap)
{
    switch (s->type) {
    case WIRE_HELLO:           return wire_encode_hello(to, cap, &s->hello);
    case WIRE_SNAP_CHUNK:      return wire_encode_snap_chunk(to, cap, &s->chunk);
    case WIRE_CLIENT_REQUEST:  return wire_encode_request(to, cap, &s->rq);
    case WIRE_CLIENT_RESPONSE: return wire_encode_response(to, cap, &s->rs);
    case WIRE_STATUS_RESPONSE: return wire_encode_status(to, cap, s->st);
    default:                   return wire_encode_raft(to, cap, &s->msg);
    }
}

/* ---- decoding anything, and re-encoding what was decoded ----------------------------------- */

static struct {
    struct wire_hello hello;
    struct wire_snap_chunk chunk;
    struct raft_msg msg;
    struct wire_request rq;
    struct wire_response rs;
    struct wire_status st;
} dec;
static struct raft_entry dec_entries[ENTRIES_MAX];
static uint8_t scratch[WIRE_FRAME_MAX];

static int decode_any(const struct wire_frame *f, uint32_t entries_cap)
{
    switch (f->type) {
    case WIRE_HELLO:           return wire_decode_hello(f, &dec.hello);
    case WIRE_SNAP_CHUNK:      return wire_decode_snap_chunk(f, &dec.chunk);
    case WIRE_CLIENT_REQUEST:  return wire_decode_request(f, &dec.rq);
    case WIRE_CLIENT_RESPONSE: return wire_decode_response(f, &dec.rs);
    case WIRE_STATUS_RESPONSE: return wire_decode_status(f, &dec.st);
    default:                   return wire_decode_raft(f, &dec.msg, dec_entries, entries_cap);
    }
}

static int encode_decoded(uint8_t type, uint8_t *to, size_t cap)
{
    switch (type) {
    case WIRE_HELLO:           return wire_encode_hello(to, cap, &dec.hello);
    case WIRE_SNAP_CHUNK:      return wire_encode_snap_chunk(to, cap, &dec.chunk);
    case WIRE_CLIENT_REQUEST:  return wire_encode_request(to, cap, &dec.rq);
    case WIRE_CLIENT_RESPONSE: return wire_encode_response(to, cap, &dec.rs);
    case WIRE_STATUS_RESPONSE: return wire_encode_status(to, cap, &dec.st);
    default:                   return wire_encode_raft(to, cap, &dec.msg);
    }
}

/* Every accepted frame has one encoding: re-encoding what f decoded to gives f's bytes. */
static void check_reencodes_to(const struct wire_frame *f)
{
    int n = encode_decoded(f->type, scratch, sizeof scratch);
    CHECK(n == (int)f->size, "type %u: re-encoded to %d bytes, not %u", f->type, n, f->size);
    CHECK(scratch[5] == f->type, "type %u: re-encoded as type %u", f->type, scratch[5]);
    CHECK(memcmp(scratch + WIRE_FRAME_HEADER_SIZE, f->body, f->body_len) == 0,
          "type %u: re-encoded body differs", f->type);
}

static void expect_raft_eq(size_t i, const struct raft_msg *a, const struct raft_msg *b)
{
    cr_assert_eq(a->type, b->type, "sample %zu", i);
    cr_assert_eq(a->from, b->from, "sample %zu", i);
    cr_assert_eq(a->to, b->to, "sample %zu", i);
    cr_assert_eq(a->term, b->term, "sample %zu", i);
    switch (a->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        cr_assert_eq(a->vote.last_log_index, b->vote.last_log_index, "sample %zu", i);
        cr_assert_eq(a->vote.last_log_term, b->vote.last_log_term, "sample %zu", i);
        cr_assert_eq(a->vote.transfer, b->vote.transfer, "sample %zu", i);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT: {
        cr_assert_eq(a->snapshot.index, b->snapshot.index, "sample %zu", i);
        cr_assert_eq(a->snapshot.term, b->snapshot.term, "sample %zu", i);
        const struct raft_members *x[2] = {&a->snapshot.members, &a->snapshot.members_old};
        const struct raft_members *y[2] = {&b->snapshot.members, &b->snapshot.members_old};
        for (int l = 0; l < 2; l++) {
            cr_assert_eq(x[l]->count, y[l]->count, "sample %zu list %d", i, l);
            for (uint32_t k = 0; k < x[l]->count; k++) {
                cr_assert_eq(x[l]->members[k].id, y[l]->members[k].id, "sample %zu", i);
                cr_assert_eq(x[l]->members[k].role, y[l]->members[k].role, "sample %zu", i);
            }
        }
        break;
    }
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        cr_assert_eq(a->vote_resp.granted, b->vote_resp.granted, "sample %zu", i);
        break;
    case RAFT_MSG_APPEND: {
        const struct raft_msg_append *x = &a->append, *y = &b->append;
        cr_assert_eq(x->prev_log_index, y->prev_log_index, "sample %zu", i);
        cr_assert_eq(x->prev_log_term, y->prev_log_term, "sample %zu", i);
        cr_assert_eq(x->leader_commit, y->leader_commit, "sample %zu", i);
        cr_assert_eq(x->n_entries, y->n_entries, "sample %zu", i);
        cr_assert_eq(y->entries, dec_entries, "sample %zu: entries go to the caller's array", i);
        for (uint32_t k = 0; k < x->n_entries; k++) {
            const struct raft_entry *e = &x->entries[k], *g = &y->entries[k];
            cr_assert_eq(e->term, g->term, "sample %zu entry %u", i, k);
            cr_assert_eq(e->index, g->index, "sample %zu entry %u", i, k);
            cr_assert_eq(e->type, g->type, "sample %zu entry %u", i, k);
            cr_assert_eq(e->len, g->len, "sample %zu entry %u", i, k);
            cr_assert(memcmp(e->payload, g->payload, e->len) == 0, "sample %zu entry %u", i, k);
        }
        break;
    }
    case RAFT_MSG_APPEND_RESP:
        cr_assert_eq(a->append_resp.success, b->append_resp.success, "sample %zu", i);
        cr_assert_eq(a->append_resp.last_index, b->append_resp.last_index, "sample %zu", i);
        cr_assert_eq(a->append_resp.hint_index, b->append_resp.hint_index, "sample %zu", i);
        cr_assert_eq(a->append_resp.hint_term, b->append_resp.hint_term, "sample %zu", i);
        break;
    case RAFT_MSG_HEARTBEAT:
        cr_assert_eq(a->heartbeat.commit, b->heartbeat.commit, "sample %zu", i);
        cr_assert_eq(a->heartbeat.ctx, b->heartbeat.ctx, "sample %zu", i);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        cr_assert_eq(a->heartbeat_resp.ctx, b->heartbeat_resp.ctx, "sample %zu", i);
        break;
    default:
        cr_assert_fail("sample %zu: raft type %u", i, a->type);
    }
}

static void expect_bytes_eq(size_t i, const void *a, uint32_t a_len, const void *b,
                            uint32_t b_len)
{
    cr_assert_eq(a_len, b_len, "sample %zu", i);
    if (a_len > 0)
        cr_assert(memcmp(a, b, a_len) == 0, "sample %zu", i);
}

static void expect_status_eq(size_t i, const struct wire_status *a, const struct wire_status *b)
{
    cr_assert_eq(a->request_id, b->request_id, "sample %zu", i);
    cr_assert_eq(a->id, b->id, "sample %zu", i);
    cr_assert_eq(a->role, b->role, "sample %zu", i);
    cr_assert_eq(a->voter, b->voter, "sample %zu", i);
    cr_assert_eq(a->term, b->term, "sample %zu", i);
    cr_assert_eq(a->leader_id, b->leader_id, "sample %zu", i);
    cr_assert_eq(a->commit_index, b->commit_index, "sample %zu", i);
    cr_assert_eq(a->applied_index, b->applied_index, "sample %zu", i);
    cr_assert_eq(a->first_index, b->first_index, "sample %zu", i);
    cr_assert_eq(a->last_index, b->last_index, "sample %zu", i);
    cr_assert_eq(a->snapshot_index, b->snapshot_index, "sample %zu", i);
    cr_assert_eq(a->db_size, b->db_size, "sample %zu", i);
    cr_assert_eq(a->n_members, b->n_members, "sample %zu", i);
    for (uint32_t k = 0; k < a->n_members; k++) {
        const struct wire_member *x = &a->members[k], *y = &b->members[k];
        cr_assert_eq(x->id, y->id, "sample %zu member %u", i, k);
        cr_assert_eq(x->role, y->role, "sample %zu member %u", i, k);
        cr_assert_eq(x->match_index, y->match_index, "sample %zu member %u", i, k);
        cr_assert_str_eq(x->peer_addr, y->peer_addr, "sample %zu member %u", i, k);
        cr_assert_str_eq(x->client_addr, y->client_addr, "sample %zu member %u", i, k);
    }
}

/* Compares corpus[i] with what decode_any() put in dec. */
static void expect_decoded_is_sample(size_t i)
{
    const struct sample *s = &corpus[i];
    switch (s->type) {
    case WIRE_HELLO:
        cr_assert_eq(dec.hello.cluster_id, s->hello.cluster_id, "sample %zu", i);
        cr_assert_eq(dec.hello.node_id, s->hello.node_id, "sample %zu", i);
        cr_assert_eq(dec.hello.protocol, s->hello.protocol, "sample %zu", i);
        cr_assert_str_eq(dec.hello.peer_addr, s->hello.peer_addr, "sample %zu", i);
        break;
    case WIRE_SNAP_CHUNK:
        cr_assert_eq(dec.chunk.from, s->chunk.from, "sample %zu", i);
        cr_assert_eq(dec.chunk.to, s->chunk.to, "sample %zu", i);
        cr_assert_eq(dec.chunk.term, s->chunk.term, "sample %zu", i);
        cr_assert_eq(dec.chunk.index, s->chunk.index, "sample %zu", i);
        cr_assert_eq(dec.chunk.snap_term, s->chunk.snap_term, "sample %zu", i);
        cr_assert_eq(dec.chunk.offset, s->chunk.offset, "sample %zu", i);
        cr_assert_eq(dec.chunk.total, s->chunk.total, "sample %zu", i);
        expect_bytes_eq(i, s->chunk.data, s->chunk.len, dec.chunk.data, dec.chunk.len);
        break;
    case WIRE_CLIENT_REQUEST:
        cr_assert_eq(dec.rq.request_id, s->rq.request_id, "sample %zu", i);
        cr_assert_eq(dec.rq.op, s->rq.op, "sample %zu", i);
        cr_assert_eq(dec.rq.flags, s->rq.flags, "sample %zu", i);
        cr_assert_eq(dec.rq.entry_type, s->rq.entry_type, "sample %zu", i);
        cr_assert_eq(dec.rq.client_id, s->rq.client_id, "sample %zu", i);
        cr_assert_eq(dec.rq.seq, s->rq.seq, "sample %zu", i);
        expect_bytes_eq(i, s->rq.body, s->rq.body_len, dec.rq.body, dec.rq.body_len);
        break;
    case WIRE_CLIENT_RESPONSE:
        cr_assert_eq(dec.rs.request_id, s->rs.request_id, "sample %zu", i);
        cr_assert_eq(dec.rs.status, s->rs.status, "sample %zu", i);
        cr_assert_eq(dec.rs.code, s->rs.code, "sample %zu", i);
        cr_assert_eq(dec.rs.leader_id, s->rs.leader_id, "sample %zu", i);
        expect_bytes_eq(i, s->rs.leader_addr, s->rs.leader_addr_len, dec.rs.leader_addr,
                        dec.rs.leader_addr_len);
        expect_bytes_eq(i, s->rs.data, s->rs.data_len, dec.rs.data, dec.rs.data_len);
        break;
    case WIRE_STATUS_RESPONSE:
        expect_status_eq(i, s->st, &dec.st);
        break;
    default:
        expect_raft_eq(i, &s->msg, &dec.msg);
    }
}

/* Encodes corpus[i], decodes it from a heap buffer of exactly the frame's size (so ASan and
 * valgrind see any read past it), and checks the result and the re-encoding. */
static void check_round_trip(size_t i)
{
    const struct sample *s = &corpus[i];
    int n = sample_encode(s, scratch, sizeof scratch);
    cr_assert_gt(n, (int)WIRE_FRAME_HEADER_SIZE, "sample %zu: encode gave %d", i, n);
    if (type_is_raft(s->type))
        cr_assert_eq((size_t)n, wire_raft_size(&s->msg), "sample %zu", i);
    uint8_t *frame = heap_copy(scratch, (size_t)n);
    struct wire_frame f;
    cr_assert_eq(wire_frame_peek(frame, (size_t)n, WIRE_FRAME_MAX, &f), 0, "sample %zu", i);
    cr_assert_eq(f.type, s->type, "sample %zu", i);
    cr_assert_eq(f.size, (uint32_t)n, "sample %zu", i);
    cr_assert_eq(f.body, frame + WIRE_FRAME_HEADER_SIZE, "sample %zu", i);
    cr_assert_eq(f.body_len, (uint32_t)n - WIRE_FRAME_HEADER_SIZE, "sample %zu", i);
    cr_assert_eq(lum_get_u32(frame), (uint32_t)n - 4, "sample %zu: length field", i);
    cr_assert_eq(frame[4], WIRE_VERSION, "sample %zu", i);
    cr_assert_eq(decode_any(&f, ENTRIES_MAX), 0, "sample %zu", i);
    expect_decoded_is_sample(i);
    check_reencodes_to(&f);
    free(frame);
}

static size_t round_trip_all(bool (*pick)(const struct sample *))
{
    corpus_build();
    size_t count = 0;
    for (size_t i = 0; i < corpus_count; i++) {
        if (pick(&corpus[i])) {
            check_round_trip(i);
            count++;
        }
    }
    return count;
}

/* Encodes corpus[i] into a heap copy of exactly its size; *n_out gets the size. */
static uint8_t *sample_frame(size_t i, size_t *n_out)
{
    int n = sample_encode(&corpus[i], scratch, sizeof scratch);
    cr_assert_gt(n, 0, "sample %zu", i);
    *n_out = (size_t)n;
    return heap_copy(scratch, (size_t)n);
}

/* ---- round trips ----------------------------------------------------------------------------- */

static bool pick_raft_fixed(const struct sample *s)
{
    return type_is_raft(s->type) && s->msg.type != RAFT_MSG_APPEND;
}
static bool pick_append(const struct sample *s)
{
    return s->type == WIRE_RAFT_BASE + RAFT_MSG_APPEND;
}
static bool pick_hello(const struct sample *s) { return s->type == WIRE_HELLO; }
static bool pick_chunk(const struct sample *s) { return s->type == WIRE_SNAP_CHUNK; }
static bool pick_request(const struct sample *s) { return s->type == WIRE_CLIENT_REQUEST; }
static bool pick_response(const struct sample *s) { return s->type == WIRE_CLIENT_RESPONSE; }
static bool pick_status(const struct sample *s) { return s->type == WIRE_STATUS_RESPONSE; }

Test(wire, round_trips_every_raft_message_type_with_zero_and_max_values)
{
    cr_assert_eq(round_trip_all(pick_raft_fixed), 9 * 3 + 4);
    /* and the tenth type, append, in its own tests below; every type is in the corpus */
    for (uint8_t t = RAFT_MSG_VOTE; t < RAFT_MSG_TYPE_END_; t++) {
        size_t found = 0;
        for (size_t i = 0; i < corpus_count; i++)
            found += corpus[i].type == WIRE_RAFT_BASE + t;
        cr_assert_geq(found, 3, "raft type %u", t);
    }
}

Test(wire, round_trips_appends_of_0_1_and_64_entries_of_payload_0_1_and_max)
{
    cr_assert_eq(round_trip_all(pick_append), 12);
}

Test(wire, round_trips_hello)
{
    cr_assert_eq(round_trip_all(pick_hello), 3);
}

Test(wire, round_trips_snapshot_chunks)
{
    cr_assert_eq(round_trip_all(pick_chunk), 3);
}

Test(wire, round_trips_requests_of_every_op_with_empty_and_max_bodies)
{
    cr_assert_eq(round_trip_all(pick_request), 3 * (WIRE_OP_END_ - WIRE_OP_COMMAND) + 3);
}

Test(wire, round_trips_responses_with_and_without_leader_address_and_data)
{
    cr_assert_eq(round_trip_all(pick_response), 7);
}

Test(wire, round_trips_status_with_no_members_and_with_raft_members_max)
{
    cr_assert_eq(round_trip_all(pick_status), 3);
}

Test(wire, decoded_entries_get_consecutive_indexes_after_prev_log_index)
{
    corpus_build();
    corpus_count = 0;
    corpus_add_append(64, LEN_ONE, false);
    check_round_trip(0);
    for (uint32_t k = 0; k < 64; k++)
        cr_assert_eq(dec_entries[k].index, 100 + 1 + k);
}

Test(wire, a_frame_of_exactly_frame_max_round_trips)
{
    corpus_build();
    size_t found = 0;
    for (size_t i = 0; i < corpus_count; i++) {
        size_t n;
        uint8_t *frame = sample_frame(i, &n);
        if (n == WIRE_FRAME_MAX) {
            struct wire_frame f;
            cr_assert_eq(wire_frame_peek(frame, n, WIRE_FRAME_MAX, &f), 0);
            cr_assert_eq(wire_frame_peek(frame, n, WIRE_FRAME_MAX - 1, &f), -LUM_ETOOBIG);
            found++;
        }
        free(frame);
    }
    cr_assert_eq(found, 2, "a request and a response fill a frame exactly");
}

/* ---- no read outside the frame, no write outside the buffer --------------------------------- */

Test(wire, every_prefix_of_every_frame_is_eagain_and_never_a_frame)
{
    corpus_build();
    for (size_t i = 0; i < corpus_count; i++) {
        size_t n;
        uint8_t *frame = sample_frame(i, &n);
        /* the prefix of length k sits at the end of an n-byte heap block, so a read past it
         * is a read past the block; peek needs the header only, so only that much is copied
         * for long frames (the rest of the block is other bytes of the same frame) */
        uint8_t *h = heap_copy(frame, n);
        for (size_t k = 0; k < n; k++) {
            memmove(h + n - k, frame, k < 64 ? k : 64);
            struct wire_frame f, before;
            memset(&f, 0x5A, sizeof f);
            before = f;
            int rc = wire_frame_peek(h + n - k, k, WIRE_FRAME_MAX, &f);
            CHECK(rc == -LUM_EAGAIN, "sample %zu prefix %zu: %d", i, k, rc);
            CHECK(memcmp(&f, &before, sizeof f) == 0, "sample %zu prefix %zu: out written", i, k);
        }
        free(h);
        free(frame);
    }
}

/* Which truncations of a body to try: every one for bodies up to 20 KB; for the few larger
 * ones, all of the first 4200 bytes (the fixed part and a whole first entry), the last 64,
 * 16 bytes each side of every append entry's start, and a stride through the rest. */
static uint8_t trunc_wanted[WIRE_FRAME_MAX];

static void trunc_plan(const struct sample *s, size_t body_len)
{
    if (body_len <= 20000) {
        memset(trunc_wanted, 1, body_len);
        return;
    }
    memset(trunc_wanted, 0, body_len);
    size_t stride = body_len / 256;
    for (size_t k = 0; k < body_len; k++)
        trunc_wanted[k] = k < 4200 || body_len - k <= 64 || k % stride == 0;
    if (pick_append(s)) {
        size_t off = 52;
        for (uint32_t e = 0; e < s->msg.append.n_entries; e++) {
            for (size_t k = off >= 16 ? off - 16 : 0; k <= off + 16 && k < body_len; k++)
                trunc_wanted[k] = 1;
            off += WIRE_ENTRY_OVERHEAD + s->msg.append.entries[e].len;
        }
    }
}

Test(wire, every_truncated_body_is_malformed_and_read_only_within_its_length)
{
    corpus_build();
    size_t tried = 0;
    for (size_t i = 0; i < corpus_count; i++) {
        size_t n;
        uint8_t *frame = sample_frame(i, &n);
        size_t body_len = n - WIRE_FRAME_HEADER_SIZE;
        uint8_t *h = malloc(body_len);
        cr_assert_not_null(h);
        trunc_plan(&corpus[i], body_len);
        for (size_t k = 0; k < body_len; k++) {
            if (!trunc_wanted[k])
                continue;
            /* the truncated body ends where the heap block ends */
            memcpy(h + body_len - k, frame + WIRE_FRAME_HEADER_SIZE, k);
            struct wire_frame f = {corpus[i].type, h + body_len - k, (uint32_t)k,
                                   (uint32_t)(k + WIRE_FRAME_HEADER_SIZE)};
            int rc = decode_any(&f, ENTRIES_MAX);
            CHECK(rc == -LUM_EMALFORMED, "sample %zu (type %u) cut to %zu of %zu: %d", i,
                  corpus[i].type, k, body_len, rc);
            tried++;
        }
        free(h);
        free(frame);
    }
    cr_log_info("%zu truncations tried", tried);
}

Test(wire, a_byte_after_the_last_field_is_malformed_for_every_message)
{
    corpus_build();
    for (size_t i = 0; i < corpus_count; i++) {
        size_t n;
        uint8_t *frame = sample_frame(i, &n);
        uint8_t *h = malloc(n + 1);
        cr_assert_not_null(h);
        for (int garbage = 0; garbage < 256; garbage += 85) {
            memcpy(h, frame, n);
            h[n] = (uint8_t)garbage;
            lum_put_u32(h, (uint32_t)(n + 1 - 4));
            struct wire_frame f;
            cr_assert_eq(wire_frame_peek(h, n + 1, (uint32_t)n + 1, &f), 0, "sample %zu", i);
            cr_assert_eq(f.size, n + 1);
            cr_assert_eq(decode_any(&f, ENTRIES_MAX), -LUM_EMALFORMED, "sample %zu", i);
        }
        free(h);
        free(frame);
    }
}

Test(wire, encoders_refuse_every_cap_below_the_frame_size_and_write_nothing)
{
    corpus_build();
    uint8_t *untouched = malloc(WIRE_FRAME_MAX);
    cr_assert_not_null(untouched);
    memset(untouched, 0xA5, WIRE_FRAME_MAX);
    for (size_t i = 0; i < corpus_count; i++) {
        size_t n;
        uint8_t *frame = sample_frame(i, &n);
        for (size_t cap = 0; cap < n; cap++) {
            if (n > 20000 && cap > 64 && n - cap > 64 && cap % (n / 128) != 0)
                continue;
            /* a heap block of exactly cap bytes: a write past cap is a write past the block */
            uint8_t *h = heap_copy(untouched, cap);
            int rc = sample_encode(&corpus[i], h, cap);
            CHECK(rc == -LUM_ETOOBIG, "sample %zu cap %zu of %zu: %d", i, cap, n, rc);
            CHECK(memcmp(h, untouched, cap) == 0, "sample %zu cap %zu: bytes written", i, cap);
            free(h);
        }
        uint8_t *h = heap_copy(untouched, n);
        cr_assert_eq(sample_encode(&corpus[i], h, n), (int)n, "sample %zu", i);
        cr_assert(memcmp(h, frame, n) == 0, "sample %zu", i);
        free(h);
        free(frame);
    }
    free(untouched);
}

/* ---- the frame header --------------------------------------------------------------------- */

static uint8_t hdr[8];

static int peek_header(uint32_t length, uint8_t version, uint8_t type, size_t have,
                       uint32_t frame_max)
{
    lum_put_u32(hdr, length);
    hdr[4] = version;
    hdr[5] = type;
    uint8_t *h = heap_copy(hdr, have);
    struct wire_frame f;
    int rc = wire_frame_peek(h, have, frame_max, &f);
    free(h);
    return rc;
}

Test(wire, a_length_below_2_is_malformed)
{
    for (size_t have = 4; have <= 6; have++) {
        cr_assert_eq(peek_header(0, WIRE_VERSION, WIRE_HELLO, have, WIRE_FRAME_MAX),
                     -LUM_EMALFORMED);
        cr_assert_eq(peek_header(1, WIRE_VERSION, WIRE_HELLO, have, WIRE_FRAME_MAX),
                     -LUM_EMALFORMED);
    }
    /* length 2: an empty body is a frame; it is the decoder that refuses it */
    struct wire_frame f;
    lum_put_u32(hdr, 2);
    hdr[4] = WIRE_VERSION;
    hdr[5] = WIRE_HELLO;
    uint8_t *h = heap_copy(hdr, 6);
    cr_assert_eq(wire_frame_peek(h, 6, WIRE_FRAME_MAX, &f), 0);
    cr_assert_eq(f.body_len, 0);
    cr_assert_eq(f.size, 6);
    cr_assert_eq(wire_decode_hello(&f, &dec.hello), -LUM_EMALFORMED);
    free(h);
}

Test(wire, a_length_beyond_frame_max_is_toobig_before_the_body_arrives)
{
    /* only the 4 length bytes are there */
    cr_assert_eq(peek_header(WIRE_FRAME_MAX - 3, 0, 0, 4, WIRE_FRAME_MAX), -LUM_ETOOBIG);
    cr_assert_eq(peek_header(UINT32_MAX, 0, 0, 4, WIRE_FRAME_MAX), -LUM_ETOOBIG);
    cr_assert_eq(peek_header(UINT32_MAX, 0, 0, 4, UINT32_MAX), -LUM_ETOOBIG);
    cr_assert_eq(peek_header(UINT32_MAX - 4, WIRE_VERSION, WIRE_HELLO, 6, UINT32_MAX),
                 -LUM_EAGAIN);
    cr_assert_eq(peek_header(100, 0, 0, 4, 103), -LUM_ETOOBIG);
    /* a frame of exactly frame_max bytes is fine: wait for it */
    cr_assert_eq(peek_header(WIRE_FRAME_MAX - 4, 0, 0, 4, WIRE_FRAME_MAX), -LUM_EAGAIN);
    cr_assert_eq(peek_header(99, 0, 0, 4, 103), -LUM_EAGAIN);
    /* a frame_max below a header's size refuses everything */
    cr_assert_eq(peek_header(2, WIRE_VERSION, WIRE_HELLO, 6, 5), -LUM_ETOOBIG);
}

Test(wire, another_version_is_refused_as_soon_as_its_byte_arrives)
{
    for (int v = 0; v < 256; v++) {
        if (v == WIRE_VERSION)
            continue;
        cr_assert_eq(peek_header(22, (uint8_t)v, WIRE_HELLO, 5, WIRE_FRAME_MAX), -LUM_EVERSION);
        cr_assert_eq(peek_header(22, (uint8_t)v, WIRE_HELLO, 6, WIRE_FRAME_MAX), -LUM_EVERSION);
    }
    cr_assert_eq(peek_header(22, WIRE_VERSION, WIRE_HELLO, 5, WIRE_FRAME_MAX), -LUM_EAGAIN);
}

Test(wire, only_the_sixteen_known_types_are_accepted_and_before_the_body_arrives)
{
    for (int t = 0; t < 256; t++) {
        bool known = memchr(known_types, t, KNOWN_TYPES_COUNT) != NULL;
        int rc = peek_header(100, WIRE_VERSION, (uint8_t)t, 6, WIRE_FRAME_MAX);
        cr_assert_eq(rc, known ? -LUM_EAGAIN : -LUM_EMALFORMED, "type %d", t);
    }
    cr_assert_eq(peek_header(100, WIRE_VERSION, WIRE_RAFT_BASE, 6, WIRE_FRAME_MAX),
                 -LUM_EMALFORMED, "raft type 0 is not a message");
    cr_assert_eq(peek_header(100, WIRE_VERSION, WIRE_RAFT_BASE + RAFT_MSG_TYPE_END_, 6,
                             WIRE_FRAME_MAX), -LUM_EMALFORMED);
}

Test(wire, peek_finds_back_to_back_frames_one_at_a_time)
{
    corpus_build();
    size_t at = 0;
    size_t sizes[CORPUS_MAX];
    static uint8_t stream[4 * WIRE_FRAME_MAX];
    size_t used = 0;
    for (size_t i = 0; i < corpus_count; i++) {
        int n = sample_encode(&corpus[i], stream + used, sizeof stream - used);
        cr_assert_gt(n, 0);
        sizes[i] = (size_t)n;
        used += (size_t)n;
    }
    for (size_t i = 0; i < corpus_count; i++) {
        struct wire_frame f;
        cr_assert_eq(wire_frame_peek(stream + at, used - at, WIRE_FRAME_MAX, &f), 0);
        cr_assert_eq(f.size, sizes[i]);
        cr_assert_eq(decode_any(&f, ENTRIES_MAX), 0, "sample %zu", i);
        expect_decoded_is_sample(i);
        at += f.size;
    }
    cr_assert_eq(at, used);
}

Test(wire, decoders_refuse_frames_of_another_type)
{
    static const uint8_t body[64];
    static const uint8_t auth_body[65] = {WIRE_AUTH_PROOF};
    for (size_t i = 0; i < KNOWN_TYPES_COUNT; i++) {
        struct wire_frame f = {known_types[i], body, sizeof body, sizeof body + 6};
        if (known_types[i] != WIRE_HELLO)
            cr_assert_eq(wire_decode_hello(&f, &dec.hello), -LUM_EMALFORMED);
        if (known_types[i] != WIRE_SNAP_CHUNK)
            cr_assert_eq(wire_decode_snap_chunk(&f, &dec.chunk), -LUM_EMALFORMED);
        struct wire_auth auth;
        struct wire_frame f65 = {known_types[i], auth_body, sizeof auth_body, sizeof auth_body + 6};
        if (known_types[i] != WIRE_AUTH) /* a well-formed AUTH body: only the type is wrong */
            cr_assert_eq(wire_decode_auth(&f65, &auth), -LUM_EMALFORMED);
        if (!type_is_raft(known_types[i]))
            cr_assert_eq(wire_decode_raft(&f, &dec.msg, dec_entries, ENTRIES_MAX),
                         -LUM_EMALFORMED);
        if (known_types[i] != WIRE_CLIENT_REQUEST)
            cr_assert_eq(wire_decode_request(&f, &dec.rq), -LUM_EMALFORMED);
        if (known_types[i] != WIRE_CLIENT_RESPONSE)
            cr_assert_eq(wire_decode_response(&f, &dec.rs), -LUM_EMALFORMED);
        if (known_types[i] != WIRE_STATUS_RESPONSE)
            cr_assert_eq(wire_decode_status(&f, &dec.st), -LUM_EMALFORMED);
    }
    /* raft types out of range, should a caller build a frame by hand */
    int bad[] = {0, WIRE_RAFT_BASE, WIRE_RAFT_BASE + RAFT_MSG_TYPE_END_, 255};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wire_frame f = {(uint8_t)bad[i], body, sizeof body, sizeof body + 6};
        cr_assert_eq(wire_decode_raft(&f, &dec.msg, dec_entries, ENTRIES_MAX), -LUM_EMALFORMED);
    }
}

/* ---- hand-built frames: the layouts, byte for byte ------------------------------------------ */

/* Builds frames with base.h's byte helpers, independently of the codec. */
static struct {
    uint8_t b[WIRE_FRAME_MAX + 64];
    size_t n;
} tb;

static void tb_u8(uint8_t v) { tb.b[tb.n++] = v; }
static void tb_u16(uint16_t v) { lum_put_u16(tb.b + tb.n, v); tb.n += 2; }
static void tb_u32(uint32_t v) { lum_put_u32(tb.b + tb.n, v); tb.n += 4; }
static void tb_u64(uint64_t v) { lum_put_u64(tb.b + tb.n, v); tb.n += 8; }
static void tb_bytes(const void *p, size_t n) { memcpy(tb.b + tb.n, p, n); tb.n += n; }
static void tb_fill(uint8_t v, size_t n) { memset(tb.b + tb.n, v, n); tb.n += n; }
static void tb_start(uint8_t type)
{
    tb.n = 0;
    tb_u32(0);
    tb_u8(WIRE_VERSION);
    tb_u8(type);
}
static void tb_finish(void) { lum_put_u32(tb.b, (uint32_t)(tb.n - 4)); }

/* Decodes tb's frame from an exact-size heap copy; returns the decoder's answer. */
static int tb_decode(uint32_t entries_cap)
{
    tb_finish();
    uint8_t *h = heap_copy(tb.b, tb.n);
    struct wire_frame f;
    int rc = wire_frame_peek(h, tb.n, WIRE_FRAME_MAX, &f);
    cr_assert_eq(rc, 0, "peek: %d", rc);
    rc = decode_any(&f, entries_cap);
    if (rc == 0)
        check_reencodes_to(&f);
    free(h);
    return rc;
}

static void tb_expect_encoding(int n)
{
    tb_finish();
    cr_assert_eq(n, (int)tb.n);
    cr_assert(memcmp(scratch, tb.b, tb.n) == 0, "layout differs");
}

Test(wire, hello_layout_is_pinned_byte_for_byte)
{
    struct wire_hello h = {0x0102030405060708ULL, 9, WIRE_VERSION, "h:7"};
    static const uint8_t golden[] = {
        27, 0, 0, 0, 1, 1,                /* length 27, version 1, HELLO */
        8, 7, 6, 5, 4, 3, 2, 1,           /* cluster_id */
        9, 0, 0, 0, 0, 0, 0, 0,           /* node_id */
        1, 0, 0, 0,                       /* protocol */
        3, 0, 'h', ':', '7',              /* peer_addr */
    };
    cr_assert_eq(wire_encode_hello(scratch, sizeof scratch, &h), (int)sizeof golden);
    cr_assert(memcmp(scratch, golden, sizeof golden) == 0);
}

Test(wire, raft_layouts_are_pinned_byte_for_byte)
{
    static struct raft_entry es[2];
    es[0] = (struct raft_entry){.term = 5, .index = 11, .type = 64, .len = 3};
    memcpy(es[0].payload, "abc", 3);
    es[1] = (struct raft_entry){.term = 6, .index = 12, .type = 1, .len = 0};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 6};
    m.append = (struct raft_msg_append){10, 5, 9, 2, es};
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_APPEND);
    tb_u64(1), tb_u64(2), tb_u64(6);
    tb_u64(10), tb_u64(5), tb_u64(9), tb_u32(2);
    tb_u64(5), tb_u16(64), tb_u32(3), tb_bytes("abc", 3);
    tb_u64(6), tb_u16(1), tb_u32(0);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_VOTE, .from = 3, .to = 4, .term = 8};
    m.vote = (struct raft_msg_vote){100, 7, false};
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_VOTE);
    tb_u64(3), tb_u64(4), tb_u64(8), tb_u64(100), tb_u64(7), tb_u8(0);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m.vote.transfer = true;
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_VOTE);
    tb_u64(3), tb_u64(4), tb_u64(8), tb_u64(100), tb_u64(7), tb_u8(1);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 3, .term = 8};
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_TIMEOUT_NOW);
    tb_u64(1), tb_u64(3), tb_u64(8);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 3, .term = 8};
    m.snapshot.index = 70;
    m.snapshot.term = 7;
    m.snapshot.members.count = 2;
    m.snapshot.members.members[0] = (struct raft_member){1, RAFT_VOTER};
    m.snapshot.members.members[1] = (struct raft_member){4, RAFT_LEARNER};
    m.snapshot.members_old.count = 1;
    m.snapshot.members_old.members[0] = (struct raft_member){2, RAFT_VOTER};
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_SNAPSHOT);
    tb_u64(1), tb_u64(3), tb_u64(8), tb_u64(70), tb_u64(7);
    tb_u32(2), tb_u64(1), tb_u8(RAFT_VOTER), tb_u64(4), tb_u8(RAFT_LEARNER);
    tb_u32(1), tb_u64(2), tb_u8(RAFT_VOTER);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_PREVOTE_RESP, .from = 3, .to = 4, .term = 8};
    m.vote_resp.granted = true;
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_PREVOTE_RESP);
    tb_u64(3), tb_u64(4), tb_u64(8), tb_u8(1);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 8};
    m.append_resp = (struct raft_msg_append_resp){false, 20, 15, 6};
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_APPEND_RESP);
    tb_u64(2), tb_u64(1), tb_u64(8), tb_u8(0), tb_u64(20), tb_u64(15), tb_u64(6);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 8};
    m.heartbeat = (struct raft_msg_heartbeat){30, 31};
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_HEARTBEAT);
    tb_u64(1), tb_u64(2), tb_u64(8), tb_u64(30), tb_u64(31);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));

    m = (struct raft_msg){.type = RAFT_MSG_HEARTBEAT_RESP, .from = 2, .to = 1, .term = 8};
    m.heartbeat_resp.ctx = 31;
    tb_start(WIRE_RAFT_BASE + RAFT_MSG_HEARTBEAT_RESP);
    tb_u64(2), tb_u64(1), tb_u64(8), tb_u64(31);
    tb_expect_encoding(wire_encode_raft(scratch, sizeof scratch, &m));
}

Test(wire, client_layouts_are_pinned_byte_for_byte)
{
    struct wire_request rq = {7, WIRE_OP_COMMAND, 0, 65, 3, 4, (const uint8_t *)"kv", 2};
    tb_start(WIRE_CLIENT_REQUEST);
    tb_u64(7), tb_u8(WIRE_OP_COMMAND), tb_u8(0), tb_u16(65), tb_u64(3), tb_u64(4);
    tb_u32(2), tb_bytes("kv", 2);
    tb_expect_encoding(wire_encode_request(scratch, sizeof scratch, &rq));

    struct wire_response rs = {7, -LUM_ENOTLEADER, 2, 3, "h:1", 3, (const uint8_t *)"xyz", 3};
    tb_start(WIRE_CLIENT_RESPONSE);
    tb_u64(7), tb_u32((uint32_t)-LUM_ENOTLEADER), tb_u32(2), tb_u64(3);
    tb_u16(3), tb_bytes("h:1", 3), tb_u32(3), tb_bytes("xyz", 3);
    tb_expect_encoding(wire_encode_response(scratch, sizeof scratch, &rs));

    static struct wire_status st;
    st = (struct wire_status){.request_id = 1, .id = 2, .role = RAFT_LEADER, .voter = true,
                              .term = 3, .leader_id = 2, .commit_index = 4,
                              .applied_index = 5, .first_index = 6, .last_index = 7,
                              .snapshot_index = 8, .db_size = 9, .n_members = 1};
    st.members[0] = (struct wire_member){.id = 2, .role = RAFT_VOTER, .match_index = 7};
    strcpy(st.members[0].peer_addr, "p:1");
    strcpy(st.members[0].client_addr, "c:22");
    tb_start(WIRE_STATUS_RESPONSE);
    tb_u64(1), tb_u64(2), tb_u8(RAFT_LEADER), tb_u8(1), tb_u64(3), tb_u64(2);
    tb_u64(4), tb_u64(5), tb_u64(6), tb_u64(7), tb_u64(8), tb_u64(9), tb_u32(1);
    tb_u64(2), tb_u8(RAFT_VOTER), tb_u64(7), tb_u16(3), tb_bytes("p:1", 3);
    tb_u16(4), tb_bytes("c:22", 4);
    tb_expect_encoding(wire_encode_status(scratch, sizeof scratch, &st));
}

/* ---- malformed bodies, one rule at a time ------------------------------------------------- */

Test(wire, a_hello_of_the_wrong_size_is_malformed)
{
    /* 22 fixed bytes and a 3-byte address: every other size is malformed */
    for (size_t len = 0; len <= 30; len++) {
        tb_start(WIRE_HELLO);
        tb_u64(1), tb_u64(2), tb_u32(WIRE_VERSION), tb_u16(3), tb_bytes("a:1", 3);
        tb_fill('x', 5);
        tb.n = WIRE_FRAME_HEADER_SIZE + len;
        cr_assert_eq(tb_decode(ENTRIES_MAX), len == 25 ? 0 : -LUM_EMALFORMED, "len %zu", len);
    }
}

static void tb_raft_common(uint8_t type)
{
    tb_start((uint8_t)(WIRE_RAFT_BASE + type));
    tb_u64(1), tb_u64(2), tb_u64(3);
}

Test(wire, a_bool_byte_other_than_0_or_1_is_malformed)
{
    for (int b = 0; b < 256; b++) {
        int want = b <= 1 ? 0 : -LUM_EMALFORMED;
        tb_raft_common(RAFT_MSG_VOTE_RESP);
        tb_u8((uint8_t)b);
        cr_assert_eq(tb_decode(ENTRIES_MAX), want, "vote granted %d", b);
        tb_raft_common(RAFT_MSG_PREVOTE_RESP);
        tb_u8((uint8_t)b);
        cr_assert_eq(tb_decode(ENTRIES_MAX), want, "prevote granted %d", b);
        tb_raft_common(RAFT_MSG_APPEND_RESP);
        tb_u8((uint8_t)b), tb_u64(4), tb_u64(5), tb_u64(6);
        cr_assert_eq(tb_decode(ENTRIES_MAX), want, "append success %d", b);
        tb_raft_common(RAFT_MSG_VOTE);
        tb_u64(4), tb_u64(5), tb_u8((uint8_t)b);
        cr_assert_eq(tb_decode(ENTRIES_MAX), want, "vote transfer %d", b);
        tb_raft_common(RAFT_MSG_PREVOTE);
        tb_u64(4), tb_u64(5), tb_u8((uint8_t)b);
        cr_assert_eq(tb_decode(ENTRIES_MAX), want, "prevote transfer %d", b);
        tb_start(WIRE_STATUS_RESPONSE);
        tb_u64(1), tb_u64(2), tb_u8(RAFT_FOLLOWER), tb_u8((uint8_t)b);
        tb_fill(0, 8 * 8), tb_u32(0);
        cr_assert_eq(tb_decode(ENTRIES_MAX), want, "status voter %d", b);
    }
}

/* An append with prev_log_index 10 and the given entry lengths; n_entries as given. */
static void tb_append(uint64_t prev, uint32_t n_entries, const uint32_t *lens, uint32_t count)
{
    tb_raft_common(RAFT_MSG_APPEND);
    tb_u64(prev), tb_u64(2), tb_u64(9), tb_u32(n_entries);
    for (uint32_t i = 0; i < count; i++) {
        tb_u64(2), tb_u16(64), tb_u32(lens[i]);
        tb_fill((uint8_t)i, lens[i]);
    }
}

Test(wire, a_payload_longer_than_raft_payload_max_is_malformed)
{
    uint32_t lens[] = {RAFT_PAYLOAD_MAX};
    tb_append(10, 1, lens, 1);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    lens[0] = RAFT_PAYLOAD_MAX + 1;  /* and the bytes are all there */
    tb_append(10, 1, lens, 1);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_append(10, 1, lens, 0);
    tb_u64(2), tb_u16(64), tb_u32(UINT32_MAX);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, an_entry_length_past_the_end_is_malformed)
{
    uint32_t lens[] = {5, 7};
    tb_append(10, 2, lens, 2);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    lum_put_u32(tb.b + tb.n - 7 - 4, 8);  /* the last entry claims one byte more */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    lum_put_u32(tb.b + tb.n - 7 - 4, 6);  /* one byte less: a trailing byte */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, an_entry_count_that_does_not_match_the_entries_is_malformed)
{
    uint32_t lens[] = {0, 1, 2};
    uint32_t counts[] = {0, 1, 2, 4, 5, 64, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        tb_append(10, counts[i], lens, 3);
        cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED, "count %u", counts[i]);
    }
    tb_append(10, 3, lens, 3);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    /* a count no body of this size could hold is refused before entries_cap is looked at */
    tb_append(10, 4, lens, 3);
    cr_assert_eq(tb_decode(0), -LUM_EMALFORMED);
}

Test(wire, more_entries_than_entries_cap_is_toobig)
{
    static uint32_t lens[65];
    tb_append(10, 65, lens, 65);
    cr_assert_eq(tb_decode(64), -LUM_ETOOBIG);
    tb_append(10, 64, lens, 64);
    cr_assert_eq(tb_decode(64), 0);
    cr_assert_eq(tb_decode(63), -LUM_ETOOBIG);
    tb_append(10, 1, lens, 1);
    cr_assert_eq(tb_decode(0), -LUM_ETOOBIG);
    tb_append(10, 0, lens, 0);
    struct wire_frame f;
    tb_finish();
    cr_assert_eq(wire_frame_peek(tb.b, tb.n, WIRE_FRAME_MAX, &f), 0);
    cr_assert_eq(wire_decode_raft(&f, &dec.msg, NULL, 0), 0, "no entries, no array needed");
}

Test(wire, entry_indexes_that_would_wrap_past_uint64_max_are_malformed)
{
    uint32_t lens[] = {1, 1};
    tb_append(UINT64_MAX - 2, 2, lens, 2);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    cr_assert_eq(dec_entries[1].index, UINT64_MAX);
    tb_append(UINT64_MAX - 1, 2, lens, 2);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_append(UINT64_MAX, 1, lens, 1);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_append(UINT64_MAX, 0, lens, 0);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
}

Test(wire, raft_bodies_of_the_wrong_size_are_malformed)
{
    /* the smallest snapshot (48) has two empty member lists */
    static const size_t sizes[] = {0, 41, 25, 41, 25, 52, 49, 40, 32, 24, 48};
    _Static_assert(sizeof sizes / sizeof sizes[0] == RAFT_MSG_TYPE_END_, "a size per type");
    for (uint8_t t = RAFT_MSG_VOTE; t < RAFT_MSG_TYPE_END_; t++) {
        for (size_t len = 0; len <= 60; len++) {
            tb_start((uint8_t)(WIRE_RAFT_BASE + t));
            tb_fill(0, len);
            cr_assert_eq(tb_decode(ENTRIES_MAX), len == sizes[t] ? 0 : -LUM_EMALFORMED,
                         "type %u len %zu", t, len);
        }
    }
}

static void tb_request(uint8_t op, uint8_t flags, uint32_t body_len, uint32_t present)
{
    tb_start(WIRE_CLIENT_REQUEST);
    tb_u64(1), tb_u8(op), tb_u8(flags), tb_u16(64), tb_u64(2), tb_u64(3), tb_u32(body_len);
    tb_fill('v', present);
}

Test(wire, a_request_op_out_of_range_is_malformed)
{
    for (int op = 0; op < 256; op++) {
        tb_request((uint8_t)op, 0, 3, 3);
        bool valid = op >= WIRE_OP_COMMAND && op < WIRE_OP_END_;
        cr_assert_eq(tb_decode(ENTRIES_MAX), valid ? 0 : -LUM_EMALFORMED, "op %d", op);
    }
}

Test(wire, a_request_flag_we_do_not_know_is_malformed)
{
    for (int flags = 0; flags < 256; flags++) {
        tb_request(WIRE_OP_QUERY, (uint8_t)flags, 0, 0);
        bool valid = (flags & ~WIRE_FLAG_STALE) == 0;
        cr_assert_eq(tb_decode(ENTRIES_MAX), valid ? 0 : -LUM_EMALFORMED, "flags %d", flags);
    }
}

Test(wire, a_request_body_length_past_the_end_is_malformed)
{
    tb_request(WIRE_OP_COMMAND, 0, 4, 3);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_request(WIRE_OP_COMMAND, 0, UINT32_MAX, 3);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_request(WIRE_OP_COMMAND, 0, 2, 3);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_request(WIRE_OP_COMMAND, 0, 3, 3);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
}

static void tb_response(uint16_t addr_len, uint32_t addr_present, uint32_t data_len,
                        uint32_t data_present)
{
    tb_start(WIRE_CLIENT_RESPONSE);
    tb_u64(1), tb_u32((uint32_t)-LUM_ENOTLEADER), tb_u32(0), tb_u64(2);
    tb_u16(addr_len), tb_fill('a', addr_present);
    tb_u32(data_len), tb_fill('d', data_present);
}

Test(wire, a_leader_address_longer_than_wire_addr_max_is_malformed)
{
    tb_response(WIRE_ADDR_MAX, WIRE_ADDR_MAX, 0, 0);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    tb_response(WIRE_ADDR_MAX + 1, WIRE_ADDR_MAX + 1, 0, 0);  /* the bytes are all there */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_response(UINT16_MAX, 10, 0, 0);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, a_response_length_past_the_end_is_malformed)
{
    tb_response(5, 5, 9, 9);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    tb_response(5, 5, 10, 9);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_response(5, 5, UINT32_MAX, 9);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_response(20, 5, 0, 0);  /* the address runs past the end */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_response(5, 5, 8, 9);   /* a trailing byte */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

static void tb_status(uint32_t n_members, uint32_t present, uint16_t addr_len,
                      uint16_t addr_present, uint8_t addr_byte)
{
    tb_start(WIRE_STATUS_RESPONSE);
    tb_u64(1), tb_u64(2), tb_u8(RAFT_LEADER), tb_u8(1);
    tb_fill(0, 8 * 8);
    tb_u32(n_members);
    for (uint32_t i = 0; i < present; i++) {
        tb_u64(i + 1), tb_u8(RAFT_VOTER), tb_u64(i);
        tb_u16(addr_len), tb_fill(addr_byte, addr_present);
        tb_u16(3), tb_bytes("c:1", 3);
    }
}

Test(wire, more_members_than_raft_members_max_is_malformed)
{
    tb_status(RAFT_MEMBERS_MAX, RAFT_MEMBERS_MAX, 3, 3, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    tb_status(RAFT_MEMBERS_MAX + 1, RAFT_MEMBERS_MAX + 1, 3, 3, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_status(UINT32_MAX, 2, 3, 3, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_status(3, 2, 3, 3, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_status(1, 2, 3, 3, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, a_member_address_longer_than_wire_addr_max_or_past_the_end_is_malformed)
{
    tb_status(2, 2, WIRE_ADDR_MAX, WIRE_ADDR_MAX, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    cr_assert_eq(strlen(dec.st.members[1].peer_addr), WIRE_ADDR_MAX);
    tb_status(2, 2, WIRE_ADDR_MAX + 1, WIRE_ADDR_MAX + 1, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_status(1, 1, 50, 10, 'p');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, a_member_address_holding_a_nul_is_malformed)
{
    tb_status(1, 1, 3, 3, '\0');
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

/* ---- the messages of membership, transfer and snapshots ------------------------------------ */

/* Encodes m, checks the size, decodes from an exact-size heap copy, compares, re-encodes. */
static void raft_round_trip(const struct raft_msg *m, size_t body_size)
{
    int n = wire_encode_raft(scratch, sizeof scratch, m);
    cr_assert_eq(n, (int)(WIRE_FRAME_HEADER_SIZE + body_size), "%s: %d bytes",
                 raft_msg_type_name(m->type), n);
    cr_assert_eq(wire_raft_size(m), (size_t)n);
    uint8_t *frame = heap_copy(scratch, (size_t)n);
    struct wire_frame f;
    cr_assert_eq(wire_frame_peek(frame, (size_t)n, WIRE_FRAME_MAX, &f), 0);
    cr_assert_eq(f.type, WIRE_RAFT_BASE + m->type);
    memset(&dec.msg, 0xA5, sizeof dec.msg);
    cr_assert_eq(wire_decode_raft(&f, &dec.msg, dec_entries, ENTRIES_MAX), 0);
    expect_raft_eq(0, m, &dec.msg);
    check_reencodes_to(&f);
    free(frame);
}

Test(wire, round_trips_snapshot_with_0_to_members_max_members_in_both_lists)
{
    for (uint32_t a = 0; a <= RAFT_MEMBERS_MAX; a++) {
        for (uint32_t b = 0; b <= RAFT_MEMBERS_MAX; b++) {
            struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 2, .to = 5, .term = 9};
            m.snapshot.index = 1000 + a;
            m.snapshot.term = 8 - b % 3;
            m.snapshot.members.count = a;
            m.snapshot.members_old.count = b;
            for (uint32_t k = 0; k < a; k++)
                m.snapshot.members.members[k] =
                    (struct raft_member){(uint64_t)k << 40 | (k + 1), k % 2 ? RAFT_LEARNER
                                                                             : RAFT_VOTER};
            for (uint32_t k = 0; k < b; k++)
                m.snapshot.members_old.members[k] = (struct raft_member){UINT64_MAX - k,
                                                                         RAFT_VOTER};
            raft_round_trip(&m, 24 + 16 + 4 + 9 * a + 4 + 9 * b);
        }
    }
}

Test(wire, round_trips_vote_and_prevote_with_transfer_true_and_false)
{
    for (int pre = 0; pre < 2; pre++) {
        for (int transfer = 0; transfer < 2; transfer++) {
            struct raft_msg m = {.type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
                                 .from = 3, .to = 1, .term = 12};
            m.vote = (struct raft_msg_vote){.last_log_index = 77, .last_log_term = 11,
                                            .transfer = transfer};
            raft_round_trip(&m, 41);
            cr_assert_eq(dec.msg.vote.transfer, (bool)transfer);
        }
    }
}

Test(wire, round_trips_timeout_now_as_the_common_fields_alone)
{
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 3};
    raft_round_trip(&m, 24);
    m = (struct raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = UINT64_MAX, .to = UINT64_MAX,
                          .term = UINT64_MAX};
    raft_round_trip(&m, 24);
}

/* A SNAPSHOT body: index 70, term 7, then each list's count and `present` members. */
static void tb_snapshot(uint32_t count, uint32_t present, uint32_t old_count,
                        uint32_t old_present)
{
    tb_raft_common(RAFT_MSG_SNAPSHOT);
    tb_u64(70), tb_u64(7);
    tb_u32(count);
    for (uint32_t k = 0; k < present; k++)
        tb_u64(k + 1), tb_u8(RAFT_VOTER);
    tb_u32(old_count);
    for (uint32_t k = 0; k < old_present; k++)
        tb_u64(k + 1), tb_u8(RAFT_VOTER);
}

Test(wire, a_snapshot_member_count_above_raft_members_max_is_malformed)
{
    const uint32_t max = RAFT_MEMBERS_MAX;
    tb_snapshot(max, max, max, max);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    tb_snapshot(max + 1, max + 1, 0, 0); /* and the bytes are all there */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(0, 0, max + 1, max + 1);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(UINT32_MAX, 3, 0, 0);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(1, 1, UINT32_MAX, 3);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, a_truncated_or_overlong_snapshot_member_list_is_malformed)
{
    tb_snapshot(3, 3, 2, 2);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    tb_snapshot(3, 2, 0, 0);  /* members cut short; the old count is read as a member */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(3, 2, 2, 2);
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(2, 2, 2, 1);  /* old members cut short */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(2, 2, 1, 2);  /* one old member too many */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(2, 3, 0, 0);  /* one member too many: 9 bytes where the old count goes */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(2, 2, 0, 0);
    tb.n -= 4;                /* the old list missing entirely */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
    tb_snapshot(2, 2, 0, 0);
    tb.n -= 1;                /* the old count cut */
    cr_assert_eq(tb_decode(ENTRIES_MAX), -LUM_EMALFORMED);
}

Test(wire, snapshot_member_ids_and_roles_are_left_for_the_core_to_judge)
{
    /* the codec checks lengths only: id 0, an unknown role and duplicates decode as sent */
    tb_raft_common(RAFT_MSG_SNAPSHOT);
    tb_u64(70), tb_u64(7);
    tb_u32(3), tb_u64(0), tb_u8(9), tb_u64(5), tb_u8(RAFT_VOTER), tb_u64(5), tb_u8(0);
    tb_u32(0);
    cr_assert_eq(tb_decode(ENTRIES_MAX), 0);
    cr_assert_eq(dec.msg.snapshot.members.count, 3);
    cr_assert_eq(dec.msg.snapshot.members.members[0].id, 0);
    cr_assert_eq(dec.msg.snapshot.members.members[0].role, 9);
    cr_assert_eq(dec.msg.snapshot.members.members[2].id, 5);
}

/* ---- random and mutated bytes ----------------------------------------------------------------- */

static size_t fuzz_ok;

/* Any decoder on any frame: 0 (and then the bytes are canonical) or a clean error. */
static void fuzz_decode(const struct wire_frame *f, uint32_t entries_cap)
{
    int rc = decode_any(f, entries_cap);
    CHECK(rc == 0 || rc == -LUM_EMALFORMED || (rc == -LUM_ETOOBIG && type_is_raft(f->type)),
          "type %u: decoder returned %d", f->type, rc);
    if (rc == 0) {
        fuzz_ok++;
        check_reencodes_to(f);
    }
}

static void fuzz_peek_and_decode(const uint8_t *h, size_t len, uint32_t frame_max)
{
    struct wire_frame f;
    int rc = wire_frame_peek(h, len, frame_max, &f);
    CHECK(rc == 0 || rc == -LUM_EAGAIN || rc == -LUM_ETOOBIG || rc == -LUM_EVERSION ||
          rc == -LUM_EMALFORMED, "peek returned %d", rc);
    if (rc != 0)
        return;
    CHECK(f.size <= len && f.size <= frame_max, "frame of %u bytes from %zu", f.size, len);
    CHECK(f.body == h + WIRE_FRAME_HEADER_SIZE, "body");
    CHECK(f.body_len + WIRE_FRAME_HEADER_SIZE == f.size, "body_len");
    uint32_t caps[] = {0, 1, ENTRIES_MAX};
    fuzz_decode(&f, caps[rng_next() % 3]);
}

Test(wire, seeded_random_bytes_through_peek_and_every_decoder_never_crash)
{
    rng_state = 0x5EED0001ULL;
    static uint8_t raw[4200];
    size_t frames = 0;
    for (int it = 0; it < 100000; it++) {
        size_t len = rng_next() % 8 == 0 ? rng_next() % sizeof raw : rng_next() % 160;
        for (size_t i = 0; i < len; i++)
            raw[i] = (uint8_t)rng_next();
        /* half of them get a plausible header, so the bodies reach the decoders */
        if (len >= WIRE_FRAME_HEADER_SIZE && rng_next() % 2 == 0) {
            lum_put_u32(raw, (uint32_t)(len - 4 - (rng_next() % 4 == 0 ? rng_next() % 3 : 0)));
            raw[4] = WIRE_VERSION;
            raw[5] = known_types[rng_next() % KNOWN_TYPES_COUNT];
        }
        uint8_t *h = heap_copy(raw, len);
        uint32_t frame_max = rng_next() % 4 == 0 ? (uint32_t)(rng_next() % 300) : WIRE_FRAME_MAX;
        size_t before = fuzz_ok;
        fuzz_peek_and_decode(h, len, frame_max);
        frames += fuzz_ok != before;
        /* and the same bytes as the body of every type, past peek's checks */
        if (len >= WIRE_FRAME_HEADER_SIZE) {
            for (size_t t = 0; t < KNOWN_TYPES_COUNT; t++) {
                struct wire_frame f = {known_types[t], h + WIRE_FRAME_HEADER_SIZE,
                                       (uint32_t)(len - WIRE_FRAME_HEADER_SIZE), (uint32_t)len};
                fuzz_decode(&f, ENTRIES_MAX);
            }
        }
        free(h);
    }
    cr_log_info("random: %zu decoded through peek, %zu decoded in all", frames, fuzz_ok);
    cr_assert_gt(fuzz_ok, 1000, "random bodies should sometimes be valid");
}

Test(wire, seeded_mutations_of_valid_frames_decode_or_fail_cleanly)
{
    corpus_build();
    rng_state = 0x5EED0002ULL;
    /* the corpus frames up to 20 KB, encoded once */
    static uint8_t frames[CORPUS_MAX][20000];
    size_t sizes[CORPUS_MAX], n_picks = 0;
    for (size_t i = 0; i < corpus_count; i++) {
        int n = sample_encode(&corpus[i], frames[n_picks], sizeof frames[0]);
        if (n > 0) {
            sizes[n_picks++] = (size_t)n;
        }
    }
    cr_assert_gt(n_picks, 50);
    static uint8_t raw[20000 + 8];
    size_t failed = 0;
    for (int it = 0; it < 50000; it++) {
        size_t p = rng_next() % n_picks;
        size_t len = sizes[p];
        memcpy(raw, frames[p], len);
        int edits = 1 + (int)(rng_next() % 3);
        for (int e = 0; e < edits && len > WIRE_FRAME_HEADER_SIZE; e++) {
            size_t at = WIRE_FRAME_HEADER_SIZE + rng_next() % (len - WIRE_FRAME_HEADER_SIZE);
            switch (rng_next() % 6) {
            case 0: raw[at] ^= (uint8_t)(1u << (rng_next() % 8)); break;
            case 1: raw[at] = (uint8_t)rng_next(); break;
            case 2: raw[at] = (uint8_t)(rng_next() % 3); break;       /* 0, 1, 2 */
            case 3: raw[at] = 0xFF; break;
            case 4: raw[5] = known_types[rng_next() % KNOWN_TYPES_COUNT]; break;
            case 5:                                                    /* shorter or longer */
                len = WIRE_FRAME_HEADER_SIZE + rng_next() % (len - WIRE_FRAME_HEADER_SIZE + 9);
                lum_put_u32(raw, (uint32_t)(len - 4));
                break;
            }
        }
        uint8_t *h = heap_copy(raw, len);
        size_t before = fuzz_ok;
        fuzz_peek_and_decode(h, len, WIRE_FRAME_MAX);
        failed += fuzz_ok == before;
        free(h);
    }
    cr_log_info("mutations: %zu decoded, %zu refused", fuzz_ok, failed);
    cr_assert_gt(fuzz_ok, 1000);
    cr_assert_gt(failed, 1000);
}

/* ---- encoder preconditions are assertions ----------------------------------------------------- */

Test(wire, encoder_aborts_on_entries_with_a_gap_in_their_indexes, .signal = SIGABRT)
{
    static struct raft_entry es[2];
    es[0].index = 11;
    es[1].index = 13;
    struct raft_msg m = {.type = RAFT_MSG_APPEND};
    m.append = (struct raft_msg_append){.prev_log_index = 10, .n_entries = 2, .entries = es};
    wire_encode_raft(scratch, sizeof scratch, &m);
}

Test(wire, encoder_aborts_on_an_unknown_raft_message_type, .signal = SIGABRT)
{
    struct raft_msg m = {.type = RAFT_MSG_TYPE_END_};
    wire_encode_raft(scratch, sizeof scratch, &m);
}

Test(wire, encoder_aborts_on_an_unknown_op, .signal = SIGABRT)
{
    struct wire_request rq = {.op = WIRE_OP_END_};
    wire_encode_request(scratch, sizeof scratch, &rq);
}

Test(wire, encoder_aborts_on_a_leader_address_longer_than_wire_addr_max, .signal = SIGABRT)
{
    struct wire_response rs = {.leader_addr = long_addr, .leader_addr_len = WIRE_ADDR_MAX + 1};
    wire_encode_response(scratch, sizeof scratch, &rs);
}

/* ---- a status as JSON (raftctl status --json, HTTP /status) ------------------------------ */

Test(wire, status_json_has_every_field_and_escapes_addresses)
{
    static struct wire_status st;
    st.id = 2;
    st.role = RAFT_FOLLOWER;
    st.voter = true;
    st.term = 7;
    st.leader_id = 1;
    st.commit_index = 100;
    st.applied_index = 90;
    st.first_index = 1;
    st.last_index = 101;
    st.snapshot_index = 64;
    st.db_size = 123456;
    st.n_members = 2;
    st.members[0] = (struct wire_member){.id = 1, .role = RAFT_VOTER, .match_index = 101};
    strcpy(st.members[0].peer_addr, "a\"b\\c\x01:1");
    strcpy(st.members[0].client_addr, "127.0.0.1:7101");
    st.members[1] = (struct wire_member){.id = 2, .role = RAFT_LEARNER};
    strcpy(st.members[1].client_addr, "127.0.0.1:7102");
    char buf[2048];
    size_t n = wire_status_json(buf, sizeof buf, &st, NULL, 10);
    cr_assert_eq(n, strlen(buf));
    cr_assert_str_eq(buf,
        "{\"id\":2,\"addr\":\"127.0.0.1:7102\",\"role\":\"follower\",\"term\":7,"
        "\"leader\":1,\"commit_index\":100,\"applied_index\":90,\"first_index\":1,"
        "\"last_index\":101,\"snapshot_index\":64,\"db_size\":123456,\"lag\":10,"
        "\"members\":[{\"id\":1,\"role\":\"voter\",\"peer\":\"a\\\"b\\\\c\\u0001:1\","
        "\"client\":\"127.0.0.1:7101\",\"match_index\":101},{\"id\":2,\"role\":\"learner\","
        "\"peer\":\"\",\"client\":\"127.0.0.1:7102\",\"match_index\":0}]}");
    /* a non-voting follower is a learner; a pre-candidate a candidate */
    st.voter = false;
    cr_assert_str_eq(wire_status_role(&st), "learner");
    st.voter = true;
    st.role = RAFT_PRECANDIDATE;
    cr_assert_str_eq(wire_status_role(&st), "candidate");
}

Test(wire, status_json_is_cut_at_cap_and_says_how_long_it_wanted)
{
    static struct wire_status st;
    st.id = 1;
    st.role = RAFT_LEADER;
    st.voter = true;
    char full[512], small[16];
    size_t n = wire_status_json(full, sizeof full, &st, "x", 0);
    cr_assert_eq(wire_status_json(NULL, 0, &st, "x", 0), n);
    cr_assert_eq(wire_status_json(small, sizeof small, &st, "x", 0), n);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(strncmp(small, full, sizeof small - 1), 0);
    cr_assert_eq(wire_json_string(small, sizeof small, "\n", 1), 8); /* "\u000a" */
    cr_assert_str_eq(small, "\"\\u000a\"");
}
