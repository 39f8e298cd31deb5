/* Frames: finding one whole frame at the start of a byte stream, and writing a frame header.
 *
 * Layout (every integer little-endian):
 *   offset 0  u32 length   bytes after this field: 2 + body length. At least 2.
 *   offset 4  u8  version  WIRE_VERSION (1)
 *   offset 5  u8  type     enum wire_type: 1 HELLO, 2 AUTH, 8 SNAP_CHUNK, 17..26 Raft
 *                          (WIRE_RAFT_BASE + enum raft_msg_type), 64 CLIENT_REQUEST,
 *                          65 CLIENT_RESPONSE, 66 STATUS_RESPONSE. Nothing else.
 *   offset 6  body         length - 2 bytes; each type's layout is described in the file
 *                          that owns it (peer.c, client.c, auth.c)
 * Validity: the frame size, 4 + length, is at most the receiver's frame_max (so a receive
 * buffer of frame_max bytes holds any frame we accept); version and type are known.
 * Each check runs as soon as the bytes it needs are there: an oversized frame, another
 * version or an unknown type is refused without waiting for the body. Whether the body is
 * well formed is the decoder's business. */
#include <limits.h>

#include "wire_int.h"

static bool frame_type_known(uint8_t type)
{
    switch (type) {
    case WIRE_HELLO:
    case WIRE_AUTH:
    case WIRE_SNAP_CHUNK:
    case WIRE_CLIENT_REQUEST:
    case WIRE_CLIENT_RESPONSE:
    case WIRE_STATUS_RESPONSE:
        return true;
    default:
        return type > WIRE_RAFT_BASE && type < WIRE_RAFT_BASE + RAFT_MSG_TYPE_END_;
    }
}

int wire_frame_peek(const uint8_t *buf, size_t len, uint32_t frame_max,
                    struct wire_frame *out)
{
    if (len < 4)
        return -LUM_EAGAIN;
    uint32_t length = wire_load_u32(buf);
    if (length < 2)
        return -LUM_EMALFORMED;
    uint64_t size = 4 + (uint64_t)length;
    if (size > frame_max)
        return -LUM_ETOOBIG;
    if (len < 5)
        return -LUM_EAGAIN;
    if (buf[4] != WIRE_VERSION)
        return -LUM_EVERSION;
    if (len < 6)
        return -LUM_EAGAIN;
    if (!frame_type_known(buf[5]))
        return -LUM_EMALFORMED;
    if (len < size)
        return -LUM_EAGAIN;
    out->type = buf[5];
    out->body = buf + WIRE_FRAME_HEADER_SIZE;
    out->body_len = length - 2;
    out->size = (uint32_t)size; /* <= frame_max */
    return 0;
}

int wire_frame_fits(size_t size, size_t cap)
{
    /* INT_MAX also bounds the length field (u32) */
    return size <= cap && size <= INT_MAX ? 0 : -LUM_ETOOBIG;
}

struct wire_writer wire_frame_begin(uint8_t *buf, size_t size, uint8_t type)
{
    LUM_ASSERT(size >= WIRE_FRAME_HEADER_SIZE);
    LUM_ASSERT(size <= INT_MAX);
    struct wire_writer w = {buf, buf + size};
    wire_put_u32(&w, (uint32_t)(size - 4));
    wire_put_u8(&w, WIRE_VERSION);
    wire_put_u8(&w, type);
    return w;
}
