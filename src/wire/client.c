/* Client messages: requests, their responses, and a node's status for `raftctl status`.
 *
 * Bodies (after the 6-byte frame header, frame.c; every integer little-endian; an i32 is its
 * two's-complement u32; a bool is one byte, 0 or 1):
 *
 * CLIENT_REQUEST (frame type 64), 32 + body_len bytes; the same layout for every op, the
 * fields an op does not use are sent as the client set them (normally 0):
 *   u64 request_id | u8 op | u8 flags | u16 entry_type | u64 client_id | u64 seq |
 *   u32 body_len | body[body_len]
 *
 * CLIENT_RESPONSE (frame type 65), 30 + leader_addr_len + data_len bytes:
 *   u64 request_id | i32 status | i32 code | u64 leader_id |
 *   u16 leader_addr_len | leader_addr[leader_addr_len] | u32 data_len | data[data_len]
 *
 * STATUS_RESPONSE (frame type 66), 86 bytes + the members:
 *   u64 request_id | u64 id | u8 role | u8 voter | u64 term | u64 leader_id |
 *   u64 commit_index | u64 applied_index | u64 first_index | u64 last_index |
 *   u64 snapshot_index | u64 db_size | u32 n_members | member[n_members]
 *   member, 21 + the addresses' lengths:
 *     u64 id | u8 role | u64 match_index | u16 peer_addr_len | peer_addr[peer_addr_len] |
 *     u16 client_addr_len | client_addr[client_addr_len]
 *
 * Validity (checked by the decoders): the body is exactly as long as its fields say; op is
 * COMMAND ... SNAPSHOT (enum wire_op); flags has no bit but WIRE_FLAG_STALE; bools are 0 or 1; an address
 * is at most WIRE_ADDR_MAX bytes, and a status member's addresses contain no NUL (they become
 * C strings); n_members <= RAFT_MEMBERS_MAX. Every accepted body has exactly one encoding.
 * What the server judges (and answers with a status rather than closing the connection) is
 * left to it: an entry_type below RAFT_ENTRY_APP_MIN, a body longer than RAFT_PAYLOAD_MAX,
 * flags that do not apply to the op. Roles are passed through as numbers. */
#include "wire_int.h"

#define CLIENT_REQUEST_FIXED   32u
#define CLIENT_RESPONSE_FIXED  30u
#define CLIENT_STATUS_FIXED    86u
#define CLIENT_MEMBER_FIXED    21u

#define CLIENT_FLAGS_KNOWN     ((uint8_t)WIRE_FLAG_STALE)

/* ---- request -------------------------------------------------------------------------------- */

int wire_encode_request(uint8_t *buf, size_t cap, const struct wire_request *rq)
{
    LUM_ASSERT(rq->op >= WIRE_OP_COMMAND && rq->op < WIRE_OP_END_);
    LUM_ASSERT((rq->flags & ~CLIENT_FLAGS_KNOWN) == 0);
    LUM_ASSERT(rq->body != NULL || rq->body_len == 0);
    size_t size = WIRE_FRAME_HEADER_SIZE + CLIENT_REQUEST_FIXED + (size_t)rq->body_len;
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, WIRE_CLIENT_REQUEST);
    wire_put_u64(&w, rq->request_id);
    wire_put_u8(&w, rq->op);
    wire_put_u8(&w, rq->flags);
    wire_put_u16(&w, rq->entry_type);
    wire_put_u64(&w, rq->client_id);
    wire_put_u64(&w, rq->seq);
    wire_put_u32(&w, rq->body_len);
    wire_put_bytes(&w, rq->body, rq->body_len);
    return wire_frame_end(&w, size);
}

int wire_decode_request(const struct wire_frame *f, struct wire_request *out)
{
    if (f->type != WIRE_CLIENT_REQUEST)
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    out->request_id = wire_read_u64(&r);
    out->op = wire_read_u8(&r);
    out->flags = wire_read_u8(&r);
    out->entry_type = wire_read_u16(&r);
    out->client_id = wire_read_u64(&r);
    out->seq = wire_read_u64(&r);
    out->body_len = wire_read_u32(&r);
    out->body = wire_read_bytes(&r, out->body_len);
    if (r.bad)
        return -LUM_EMALFORMED;
    if (out->op < WIRE_OP_COMMAND || out->op >= WIRE_OP_END_)
        return -LUM_EMALFORMED;
    if ((out->flags & ~CLIENT_FLAGS_KNOWN) != 0)
        return -LUM_EMALFORMED;
    return wire_reader_finish(&r);
}

/* ---- response ------------------------------------------------------------------------------- */

int wire_encode_response(uint8_t *buf, size_t cap, const struct wire_response *rs)
{
    LUM_ASSERT(rs->leader_addr_len <= WIRE_ADDR_MAX);
    LUM_ASSERT(rs->leader_addr != NULL || rs->leader_addr_len == 0);
    LUM_ASSERT(rs->data != NULL || rs->data_len == 0);
    size_t size = WIRE_FRAME_HEADER_SIZE + CLIENT_RESPONSE_FIXED + rs->leader_addr_len +
                  (size_t)rs->data_len;
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, WIRE_CLIENT_RESPONSE);
    wire_put_u64(&w, rs->request_id);
    wire_put_u32(&w, (uint32_t)rs->status);
    wire_put_u32(&w, (uint32_t)rs->code);
    wire_put_u64(&w, rs->leader_id);
    wire_put_u16(&w, rs->leader_addr_len);
    wire_put_bytes(&w, rs->leader_addr, rs->leader_addr_len);
    wire_put_u32(&w, rs->data_len);
    wire_put_bytes(&w, rs->data, rs->data_len);
    return wire_frame_end(&w, size);
}

int wire_decode_response(const struct wire_frame *f, struct wire_response *out)
{
    if (f->type != WIRE_CLIENT_RESPONSE)
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    out->request_id = wire_read_u64(&r);
    out->status = (int32_t)wire_read_u32(&r);
    out->code = (int32_t)wire_read_u32(&r);
    out->leader_id = wire_read_u64(&r);
    out->leader_addr_len = wire_read_u16(&r);
    if (out->leader_addr_len > WIRE_ADDR_MAX)
        return -LUM_EMALFORMED;
    out->leader_addr = (const char *)wire_read_bytes(&r, out->leader_addr_len);
    out->data_len = wire_read_u32(&r);
    out->data = wire_read_bytes(&r, out->data_len);
    return wire_reader_finish(&r);
}

/* ---- status --------------------------------------------------------------------------------- */

/* The length of a NUL-terminated address field; asserts it is terminated and short enough. */
static uint16_t client_addr_len(const char addr[WIRE_ADDR_MAX + 1])
{
    size_t n = strnlen(addr, WIRE_ADDR_MAX + 1);
    LUM_ASSERT(n <= WIRE_ADDR_MAX);
    return (uint16_t)n;
}

static void client_put_addr(struct wire_writer *w, const char *addr, uint16_t len)
{
    wire_put_u16(w, len);
    wire_put_bytes(w, addr, len);
}

/* Reads a u16-prefixed address into a NUL-terminated field; marks r bad if it is too long,
 * runs past the end or holds a NUL. */
static void client_read_addr(struct wire_reader *r, char to[WIRE_ADDR_MAX + 1])
{
    uint16_t len = wire_read_u16(r);
    if (len > WIRE_ADDR_MAX) {
        wire_reader_fail(r);
        len = 0;
    }
    const uint8_t *p = wire_read_bytes(r, len);
    if (p == NULL || memchr(p, '\0', len) != NULL) {
        wire_reader_fail(r);
        len = 0;
    }
    if (len > 0)
        memcpy(to, p, len);
    to[len] = '\0';
}

int wire_encode_status(uint8_t *buf, size_t cap, const struct wire_status *st)
{
    LUM_ASSERT(st->n_members <= RAFT_MEMBERS_MAX);
    uint16_t peer_len[RAFT_MEMBERS_MAX], client_len[RAFT_MEMBERS_MAX];
    size_t size = WIRE_FRAME_HEADER_SIZE + CLIENT_STATUS_FIXED;
    for (uint32_t i = 0; i < st->n_members; i++) {
        peer_len[i] = client_addr_len(st->members[i].peer_addr);
        client_len[i] = client_addr_len(st->members[i].client_addr);
        size += CLIENT_MEMBER_FIXED + peer_len[i] + client_len[i];
    }
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, WIRE_STATUS_RESPONSE);
    wire_put_u64(&w, st->request_id);
    wire_put_u64(&w, st->id);
    wire_put_u8(&w, st->role);
    wire_put_u8(&w, st->voter ? 1 : 0);
    wire_put_u64(&w, st->term);
    wire_put_u64(&w, st->leader_id);
    wire_put_u64(&w, st->commit_index);
    wire_put_u64(&w, st->applied_index);
    wire_put_u64(&w, st->first_index);
    wire_put_u64(&w, st->last_index);
    wire_put_u64(&w, st->snapshot_index);
    wire_put_u64(&w, st->db_size);
    wire_put_u32(&w, st->n_members);
    for (uint32_t i = 0; i < st->n_members; i++) {
        const struct wire_member *m = &st->members[i];
        wire_put_u64(&w, m->id);
        wire_put_u8(&w, m->role);
        wire_put_u64(&w, m->match_index);
        client_put_addr(&w, m->peer_addr, peer_len[i]);
        client_put_addr(&w, m->client_addr, client_len[i]);
    }
    return wire_frame_end(&w, size);
}

int wire_decode_status(const struct wire_frame *f, struct wire_status *out)
{
    if (f->type != WIRE_STATUS_RESPONSE)
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    out->request_id = wire_read_u64(&r);
    out->id = wire_read_u64(&r);
    out->role = wire_read_u8(&r);
    out->voter = wire_read_bool(&r);
    out->term = wire_read_u64(&r);
    out->leader_id = wire_read_u64(&r);
    out->commit_index = wire_read_u64(&r);
    out->applied_index = wire_read_u64(&r);
    out->first_index = wire_read_u64(&r);
    out->last_index = wire_read_u64(&r);
    out->snapshot_index = wire_read_u64(&r);
    out->db_size = wire_read_u64(&r);
    out->n_members = wire_read_u32(&r);
    if (r.bad || out->n_members > RAFT_MEMBERS_MAX)
        return -LUM_EMALFORMED;
    for (uint32_t i = 0; i < out->n_members && !r.bad; i++) {
        struct wire_member *m = &out->members[i];
        m->id = wire_read_u64(&r);
        m->role = wire_read_u8(&r);
        m->match_index = wire_read_u64(&r);
        client_read_addr(&r, m->peer_addr);
        client_read_addr(&r, m->client_addr);
    }
    return wire_reader_finish(&r);
}

/* ---- a configuration with addresses (the body of WIRE_OP_MEMBERS) ----------------------------- */

int wire_encode_members(uint8_t *buf, size_t cap, const struct wire_member *m, uint32_t n)
{
    LUM_ASSERT(n <= RAFT_MEMBERS_MAX);
    size_t size = 4;
    for (uint32_t i = 0; i < n; i++)
        size += 8 + 1 + 2 + strlen(m[i].peer_addr) + 2 + strlen(m[i].client_addr);
    if (size > cap)
        return -LUM_ETOOBIG;
    struct wire_writer w = {.pos = buf, .end = buf + size};
    wire_put_u32(&w, n);
    for (uint32_t i = 0; i < n; i++) {
        size_t pl = strlen(m[i].peer_addr), cl = strlen(m[i].client_addr);
        LUM_ASSERT(pl <= WIRE_ADDR_MAX && cl <= WIRE_ADDR_MAX);
        wire_put_u64(&w, m[i].id);
        wire_put_u8(&w, m[i].role);
        wire_put_u16(&w, (uint16_t)pl);
        wire_put_bytes(&w, m[i].peer_addr, pl);
        wire_put_u16(&w, (uint16_t)cl);
        wire_put_bytes(&w, m[i].client_addr, cl);
    }
    return (int)size;
}

int wire_decode_members(const uint8_t *buf, size_t len, struct wire_member *out,
                        uint32_t *n_out)
{
    struct wire_reader r;
    wire_reader_init(&r, buf, len);
    uint32_t n = wire_read_u32(&r);
    if (r.bad || n > RAFT_MEMBERS_MAX)
        return -LUM_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].id = wire_read_u64(&r);
        out[i].role = wire_read_u8(&r);
        client_read_addr(&r, out[i].peer_addr);
        client_read_addr(&r, out[i].client_addr);
        if (r.bad)
            return -LUM_EMALFORMED;
    }
    *n_out = n;
    return wire_reader_finish(&r);
}
