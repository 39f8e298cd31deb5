/* The body of a WIRE_OP_BACKUP request (an ask) and the data of its answer (a chunk): a
 * snapshot file fetched piece by piece by `raftctl backup` (server side: src/server/backup.c).
 *
 * Little-endian, like every integer on the wire:
 *   ask,   24 bytes:        u64 index | u64 term | u64 offset
 *   chunk, 40 + len bytes:  u64 index | u64 term | u64 size | u64 offset | u32 body_crc |
 *                           u32 len | data[len]
 *
 * Validity (the decoders check it): the buffer is exactly as long as the fields say; an ask
 * with index 0 (start a backup) has term 0 and offset 0; a chunk has index >= 1,
 * len <= WIRE_BACKUP_CHUNK_MAX, offset + len <= size, and len 0 only when offset == size. */
#include "wire_int.h"

int wire_encode_backup_ask(uint8_t *buf, size_t cap, const struct wire_backup_ask *a)
{
    LUM_ASSERT(a->index != 0 || (a->term == 0 && a->offset == 0));
    if (cap < WIRE_BACKUP_ASK_SIZE)
        return -LUM_ETOOBIG;
    struct wire_writer w = {.pos = buf, .end = buf + WIRE_BACKUP_ASK_SIZE};
    wire_put_u64(&w, a->index);
    wire_put_u64(&w, a->term);
    wire_put_u64(&w, a->offset);
    return (int)WIRE_BACKUP_ASK_SIZE;
}

int wire_decode_backup_ask(const uint8_t *buf, size_t len, struct wire_backup_ask *out)
{
    struct wire_reader r;
    wire_reader_init(&r, buf, len);
    out->index = wire_read_u64(&r);
    out->term = wire_read_u64(&r);
    out->offset = wire_read_u64(&r);
    if (wire_reader_finish(&r) != 0)
        return -LUM_EMALFORMED;
    if (out->index == 0 && (out->term != 0 || out->offset != 0))
        return -LUM_EMALFORMED;
    return 0;
}

int wire_encode_backup_chunk(uint8_t *buf, size_t cap, const struct wire_backup_chunk *c)
{
    LUM_ASSERT(c->index >= 1);
    LUM_ASSERT(c->len <= WIRE_BACKUP_CHUNK_MAX);
    LUM_ASSERT(c->offset <= c->size && c->len <= c->size - c->offset);
    LUM_ASSERT(c->len > 0 || c->offset == c->size);
    LUM_ASSERT(c->data != NULL || c->len == 0);
    size_t size = WIRE_BACKUP_CHUNK_FIXED + (size_t)c->len;
    if (size > cap)
        return -LUM_ETOOBIG;
    struct wire_writer w = {.pos = buf, .end = buf + size};
    wire_put_u64(&w, c->index);
    wire_put_u64(&w, c->term);
    wire_put_u64(&w, c->size);
    wire_put_u64(&w, c->offset);
    wire_put_u32(&w, c->body_crc);
    wire_put_u32(&w, c->len);
    wire_put_bytes(&w, c->data, c->len);
    return (int)size;
}

int wire_decode_backup_chunk(const uint8_t *buf, size_t len, struct wire_backup_chunk *out)
{
    struct wire_reader r;
    wire_reader_init(&r, buf, len);
    out->index = wire_read_u64(&r);
    out->term = wire_read_u64(&r);
    out->size = wire_read_u64(&r);
    out->offset = wire_read_u64(&r);
    out->body_crc = wire_read_u32(&r);
    out->len = wire_read_u32(&r);
    if (r.bad || out->len > WIRE_BACKUP_CHUNK_MAX)
        return -LUM_EMALFORMED;
    out->data = wire_read_bytes(&r, out->len);
    if (wire_reader_finish(&r) != 0 || out->index == 0 || out->offset > out->size ||
        out->len > out->size - out->offset || (out->len == 0 && out->offset != out->size))
        return -LUM_EMALFORMED;
    return 0;
}
