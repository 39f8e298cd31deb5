/* Peer messages: the hello a dialer sends first, and the eight Raft message types.
 *
 * Bodies (after the 6-byte frame header, frame.c; every integer little-endian; a bool is one
 * byte, 0 or 1, and any other value is malformed):
 *
 * HELLO (frame type 1), 22 + addr bytes:
 *   u64 cluster_id | u64 node_id | u32 protocol | u16 addr_len | peer_addr[addr_len]
 *
 * SNAP_CHUNK (frame type 8), 60 + len bytes:
 *   u64 from | u64 to | u64 term | u64 index | u64 snap_term | u64 offset | u64 total |
 *   u32 len | data[len]           (len <= WIRE_SNAP_CHUNK_MAX, offset + len <= total)
 *
 * Raft messages (frame type WIRE_RAFT_BASE + enum raft_msg_type, 17..26: the frame type is the
 * message type, it is not repeated in the body). Every one starts with 24 bytes:
 *   u64 from | u64 to | u64 term
 * then, by type:
 *   VOTE, PREVOTE             u64 last_log_index | u64 last_log_term | u8 transfer    = 41
 *   VOTE_RESP, PREVOTE_RESP   u8 granted                                              = 25
 *   APPEND                    u64 prev_log_index | u64 prev_log_term |
 *                             u64 leader_commit | u32 n_entries | entry[n_entries]   >= 52
 *       entry:                u64 term | u16 type | u32 len | payload[len]        14 + len
 *                             (entry i's index is prev_log_index + 1 + i; not sent)
 *   APPEND_RESP               u8 success | u64 last_index | u64 hint_index |
 *                             u64 hint_term                                           = 49
 *   HEARTBEAT                 u64 commit | u64 ctx                                    = 40
 *   HEARTBEAT_RESP            u64 ctx                                                 = 32
 *   TIMEOUT_NOW               nothing more                                            = 24
 *   SNAPSHOT                  u64 index | u64 term | members | members_old            >= 48
 *       members:              u32 count (<= RAFT_MEMBERS_MAX) | count x (u64 id | u8 role)
 *
 * Validity (checked by the decoders; anything else is the core's to judge): the body is
 * exactly as long as its fields say, no shorter and no longer; bools are 0 or 1; an append's
 * n_entries fits in what remains (14 bytes each at least), its indexes do not wrap
 * (prev_log_index + n_entries <= UINT64_MAX) and every payload len <= RAFT_PAYLOAD_MAX.
 * Every accepted body has exactly one encoding: decoding and re-encoding gives the same bytes.
 * The hello's protocol and cluster_id are checked by the server, which says why it refuses. */
#include "wire_int.h"

#define PEER_HELLO_FIXED      22u
#define PEER_CHUNK_FIXED      60u
#define PEER_COMMON_SIZE      24u   /* from, to, term */
#define PEER_APPEND_FIXED     (PEER_COMMON_SIZE + 28u)

_Static_assert(WIRE_ENTRY_OVERHEAD == 8 + 2 + 4, "an entry's header is term, type, len");

/* ---- hello ---------------------------------------------------------------------------------- */

int wire_encode_hello(uint8_t *buf, size_t cap, const struct wire_hello *h)
{
    size_t addr_len = strlen(h->peer_addr);
    LUM_ASSERT(addr_len <= WIRE_ADDR_MAX);
    size_t size = WIRE_FRAME_HEADER_SIZE + PEER_HELLO_FIXED + addr_len;
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, WIRE_HELLO);
    wire_put_u64(&w, h->cluster_id);
    wire_put_u64(&w, h->node_id);
    wire_put_u32(&w, h->protocol);
    wire_put_u16(&w, (uint16_t)addr_len);
    wire_put_bytes(&w, h->peer_addr, addr_len);
    return wire_frame_end(&w, size);
}

size_t wire_snap_chunk_size(uint32_t len)
{
    return WIRE_FRAME_HEADER_SIZE + PEER_CHUNK_FIXED + len;
}

int wire_encode_snap_chunk(uint8_t *buf, size_t cap, const struct wire_snap_chunk *c)
{
    LUM_ASSERT(c->len <= WIRE_SNAP_CHUNK_MAX && c->offset + c->len <= c->total);
    size_t size = wire_snap_chunk_size(c->len);
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, WIRE_SNAP_CHUNK);
    wire_put_u64(&w, c->from);
    wire_put_u64(&w, c->to);
    wire_put_u64(&w, c->term);
    wire_put_u64(&w, c->index);
    wire_put_u64(&w, c->snap_term);
    wire_put_u64(&w, c->offset);
    wire_put_u64(&w, c->total);
    wire_put_u32(&w, c->len);
    wire_put_bytes(&w, c->data, c->len);
    return wire_frame_end(&w, size);
}

int wire_decode_snap_chunk(const struct wire_frame *f, struct wire_snap_chunk *out)
{
    if (f->type != WIRE_SNAP_CHUNK)
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    out->from = wire_read_u64(&r);
    out->to = wire_read_u64(&r);
    out->term = wire_read_u64(&r);
    out->index = wire_read_u64(&r);
    out->snap_term = wire_read_u64(&r);
    out->offset = wire_read_u64(&r);
    out->total = wire_read_u64(&r);
    out->len = wire_read_u32(&r);
    if (r.bad || out->len > WIRE_SNAP_CHUNK_MAX || out->offset > out->total ||
        out->len > out->total - out->offset)
        return -LUM_EMALFORMED;
    out->data = wire_read_bytes(&r, out->len);
    return wire_reader_finish(&r);
}

int wire_decode_hello(const struct wire_frame *f, struct wire_hello *out)
{
    if (f->type != WIRE_HELLO)
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    out->cluster_id = wire_read_u64(&r);
    out->node_id = wire_read_u64(&r);
    out->protocol = wire_read_u32(&r);
    uint16_t addr_len = wire_read_u16(&r);
    if (addr_len > WIRE_ADDR_MAX)
        return -LUM_EMALFORMED;
    const uint8_t *addr = wire_read_bytes(&r, addr_len);
    if (r.bad || memchr(addr, 0, addr_len))
        return -LUM_EMALFORMED;
    memcpy(out->peer_addr, addr, addr_len);
    out->peer_addr[addr_len] = '\0';
    return wire_reader_finish(&r);
}

/* ---- raft messages -------------------------------------------------------------------------- */

static bool peer_msg_type_valid(unsigned type)
{
    return type >= RAFT_MSG_VOTE && type < RAFT_MSG_TYPE_END_;
}

size_t wire_raft_size(const struct raft_msg *m)
{
    size_t body = PEER_COMMON_SIZE;
    switch ((enum raft_msg_type)m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        body += 17;
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        body += 16 + 8 + 9 * (m->snapshot.members.count + m->snapshot.members_old.count);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        body += 1;
        break;
    case RAFT_MSG_APPEND:
        body = PEER_APPEND_FIXED;
        for (uint32_t i = 0; i < m->append.n_entries; i++) {
            LUM_ASSERT(m->append.entries[i].len <= RAFT_PAYLOAD_MAX);
            body += WIRE_ENTRY_OVERHEAD + m->append.entries[i].len;
        }
        break;
    case RAFT_MSG_APPEND_RESP:
        body += 25;
        break;
    case RAFT_MSG_HEARTBEAT:
        body += 16;
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        body += 8;
        break;
    default:
        LUM_ASSERT(peer_msg_type_valid(m->type));
    }
    return WIRE_FRAME_HEADER_SIZE + body;
}

static void peer_encode_members(struct wire_writer *w, const struct raft_members *m)
{
    LUM_ASSERT(m->count <= RAFT_MEMBERS_MAX);
    wire_put_u32(w, m->count);
    for (uint32_t i = 0; i < m->count; i++) {
        wire_put_u64(w, m->members[i].id);
        wire_put_u8(w, m->members[i].role);
    }
}

static void peer_decode_members(struct wire_reader *r, struct raft_members *m)
{
    m->count = wire_read_u32(r);
    if (m->count > RAFT_MEMBERS_MAX) {
        r->bad = true;
        m->count = 0;
        return;
    }
    for (uint32_t i = 0; i < m->count; i++) {
        m->members[i].id = wire_read_u64(r);
        m->members[i].role = wire_read_u8(r);
    }
}

static void peer_encode_append(struct wire_writer *w, const struct raft_msg_append *a)
{
    /* the receiver derives the indexes, so they must be the contiguous run it will derive */
    LUM_ASSERT(a->n_entries <= UINT64_MAX - a->prev_log_index);
    wire_put_u64(w, a->prev_log_index);
    wire_put_u64(w, a->prev_log_term);
    wire_put_u64(w, a->leader_commit);
    wire_put_u32(w, a->n_entries);
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *e = &a->entries[i];
        LUM_ASSERT(e->index == a->prev_log_index + 1 + i);
        LUM_ASSERT(e->len <= RAFT_PAYLOAD_MAX);
        LUM_ASSERT((size_t)(w->end - w->pos) >= WIRE_ENTRY_OVERHEAD + (size_t)e->len);
        uint8_t *p = w->pos;
        wire_store_u64(p, e->term);
        wire_store_u16(p + 8, e->type);
        wire_store_u32(p + 10, e->len);
        memcpy(p + WIRE_ENTRY_OVERHEAD, e->payload, e->len);
        w->pos = p + WIRE_ENTRY_OVERHEAD + e->len;
    }
}

int wire_encode_raft(uint8_t *buf, size_t cap, const struct raft_msg *m)
{
    LUM_ASSERT(peer_msg_type_valid(m->type));
    size_t size = wire_raft_size(m);
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, (uint8_t)(WIRE_RAFT_BASE + m->type));
    wire_put_u64(&w, m->from);
    wire_put_u64(&w, m->to);
    wire_put_u64(&w, m->term);
    switch ((enum raft_msg_type)m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        wire_put_u64(&w, m->vote.last_log_index);
        wire_put_u64(&w, m->vote.last_log_term);
        wire_put_u8(&w, m->vote.transfer ? 1 : 0);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        wire_put_u64(&w, m->snapshot.index);
        wire_put_u64(&w, m->snapshot.term);
        peer_encode_members(&w, &m->snapshot.members);
        peer_encode_members(&w, &m->snapshot.members_old);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        wire_put_u8(&w, m->vote_resp.granted ? 1 : 0);
        break;
    case RAFT_MSG_APPEND:
        peer_encode_append(&w, &m->append);
        break;
    case RAFT_MSG_APPEND_RESP:
        wire_put_u8(&w, m->append_resp.success ? 1 : 0);
        wire_put_u64(&w, m->append_resp.last_index);
        wire_put_u64(&w, m->append_resp.hint_index);
        wire_put_u64(&w, m->append_resp.hint_term);
        break;
    case RAFT_MSG_HEARTBEAT:
        wire_put_u64(&w, m->heartbeat.commit);
        wire_put_u64(&w, m->heartbeat.ctx);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        wire_put_u64(&w, m->heartbeat_resp.ctx);
        break;
    case RAFT_MSG_TYPE_END_:
        break; /* asserted above */
    }
    return wire_frame_end(&w, size);
}

static int peer_decode_append(struct wire_reader *r, struct raft_msg_append *a,
                              struct raft_entry *entries, uint32_t entries_cap)
{
    a->prev_log_index = wire_read_u64(r);
    a->prev_log_term = wire_read_u64(r);
    a->leader_commit = wire_read_u64(r);
    uint32_t n = wire_read_u32(r);
    if (r->bad)
        return -LUM_EMALFORMED;
    /* a count that cannot fit is a lie: refuse it before looking at entries_cap */
    if (n > wire_reader_left(r) / WIRE_ENTRY_OVERHEAD)
        return -LUM_EMALFORMED;
    if (n > UINT64_MAX - a->prev_log_index)
        return -LUM_EMALFORMED;
    if (n > entries_cap)
        return -LUM_ETOOBIG;

    /* the hot loop: one bounds check per field group, one memcpy per payload */
    const uint8_t *p = r->pos;
    const uint8_t *end = r->end;
    for (uint32_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < WIRE_ENTRY_OVERHEAD)
            return -LUM_EMALFORMED;
        uint32_t len = wire_load_u32(p + 10);
        if (len > RAFT_PAYLOAD_MAX || (size_t)(end - p) - WIRE_ENTRY_OVERHEAD < len)
            return -LUM_EMALFORMED;
        struct raft_entry *e = &entries[i];
        e->term = wire_load_u64(p);
        e->index = a->prev_log_index + 1 + i;
        e->type = wire_load_u16(p + 8);
        e->len = len;
        memcpy(e->payload, p + WIRE_ENTRY_OVERHEAD, len);
        p += WIRE_ENTRY_OVERHEAD + len;
    }
    r->pos = p;
    a->n_entries = n;
    a->entries = entries;
    return 0;
}

int wire_decode_raft(const struct wire_frame *f, struct raft_msg *out,
                     struct raft_entry *entries, uint32_t entries_cap)
{
    if (f->type <= WIRE_RAFT_BASE || !peer_msg_type_valid(f->type - WIRE_RAFT_BASE))
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    memset(out, 0, sizeof *out);
    out->type = (uint8_t)(f->type - WIRE_RAFT_BASE);
    out->from = wire_read_u64(&r);
    out->to = wire_read_u64(&r);
    out->term = wire_read_u64(&r);
    switch ((enum raft_msg_type)out->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        out->vote.last_log_index = wire_read_u64(&r);
        out->vote.last_log_term = wire_read_u64(&r);
        out->vote.transfer = wire_read_bool(&r);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        out->snapshot.index = wire_read_u64(&r);
        out->snapshot.term = wire_read_u64(&r);
        peer_decode_members(&r, &out->snapshot.members);
        peer_decode_members(&r, &out->snapshot.members_old);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        out->vote_resp.granted = wire_read_bool(&r);
        break;
    case RAFT_MSG_APPEND: {
        int rc = peer_decode_append(&r, &out->append, entries, entries_cap);
        if (rc != 0)
            return rc;
        break;
    }
    case RAFT_MSG_APPEND_RESP:
        out->append_resp.success = wire_read_bool(&r);
        out->append_resp.last_index = wire_read_u64(&r);
        out->append_resp.hint_index = wire_read_u64(&r);
        out->append_resp.hint_term = wire_read_u64(&r);
        break;
    case RAFT_MSG_HEARTBEAT:
        out->heartbeat.commit = wire_read_u64(&r);
        out->heartbeat.ctx = wire_read_u64(&r);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        out->heartbeat_resp.ctx = wire_read_u64(&r);
        break;
    case RAFT_MSG_TYPE_END_:
        return -LUM_EMALFORMED; /* excluded above */
    }
    return wire_reader_finish(&r);
}
