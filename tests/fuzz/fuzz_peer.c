/* libFuzzer target: the peer codec (frame peek, hello, auth, snapshot chunk, the Raft messages)
 * and the payload of a MEMBERS entry, which arrives inside an append (raft_members_decode).
 * Input: byte 0 is the frame type (0: a MEMBERS payload), the rest the body, so the fuzzer
 * needs no valid header to reach the decoders; the whole input is also offered to
 * wire_frame_peek. A decoder must
 * return 0 or an error and never read outside the body; what it accepts must re-encode to
 * the same bytes (peer.c promises one encoding per body), else we abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/wire.h"
#include "fuzz_same.h"

static struct raft_entry fuzz_entries[WIRE_BATCH_MAX];
static uint8_t fuzz_buf[WIRE_FRAME_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_frame f;
    (void)wire_frame_peek(data, size, WIRE_FRAME_MAX, &f);
    if (size < 1 || size - 1 > WIRE_FRAME_MAX - WIRE_FRAME_HEADER_SIZE)
        return 0;
    f.type = data[0];
    f.body = data + 1;
    f.body_len = (uint32_t)(size - 1);
    f.size = (uint32_t)(size - 1 + WIRE_FRAME_HEADER_SIZE);

    if (f.type == 0) { /* a MEMBERS entry's payload is at most RAFT_PAYLOAD_MAX bytes */
        static struct raft_members m, old;
        const uint8_t *ctx;
        uint32_t ctx_len;
        if (f.body_len <= RAFT_PAYLOAD_MAX &&
            raft_members_decode(f.body, f.body_len, &m, &old, &ctx, &ctx_len) == 0) {
            uint32_t n = raft_members_encode(&m, &old, ctx, ctx_len, fuzz_buf);
            if (n != f.body_len || memcmp(fuzz_buf, f.body, n) != 0)
                abort(); /* a configuration with two encodings */
        }
    } else if (f.type == WIRE_HELLO) {
        struct wire_hello h;
        if (wire_decode_hello(&f, &h) == 0)
            fuzz_check_same(fuzz_buf, &f, wire_encode_hello(fuzz_buf, sizeof fuzz_buf, &h));
    } else if (f.type == WIRE_AUTH) {
        struct wire_auth a;
        if (wire_decode_auth(&f, &a) == 0)
            fuzz_check_same(fuzz_buf, &f, wire_encode_auth(fuzz_buf, sizeof fuzz_buf, &a));
    } else if (f.type == WIRE_SNAP_CHUNK) {
        struct wire_snap_chunk c;
        if (wire_decode_snap_chunk(&f, &c) == 0)
            fuzz_check_same(fuzz_buf, &f, wire_encode_snap_chunk(fuzz_buf, sizeof fuzz_buf, &c));
    } else {
        struct raft_msg m;
        if (wire_decode_raft(&f, &m, fuzz_entries, WIRE_BATCH_MAX) == 0) {
            if (wire_raft_size(&m) != f.size)
                abort();
            fuzz_check_same(fuzz_buf, &f, wire_encode_raft(fuzz_buf, sizeof fuzz_buf, &m));
        }
    }
    return 0;
}
