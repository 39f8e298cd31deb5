/* libFuzzer target: the client codec (requests, responses, status, a members body, and the
 * AUTH frame every connection starts with when a secret is configured).
 * Input: byte 0 picks the decoder (mod 5), the rest is the body. A decoder must return 0 or
 * an error and never read outside the body; what it accepts must re-encode to the same bytes
 * (client.c promises one encoding per body), else we abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/wire.h"
#include "fuzz_same.h"

static uint8_t fuzz_buf[WIRE_FRAME_MAX];
static struct wire_status fuzz_status;
static struct wire_member fuzz_members[RAFT_MEMBERS_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > WIRE_FRAME_MAX - WIRE_FRAME_HEADER_SIZE)
        return 0;
    static const uint8_t types[] = {WIRE_CLIENT_REQUEST, WIRE_CLIENT_RESPONSE,
                                    WIRE_STATUS_RESPONSE, 0 /* a members body, no frame */,
                                    WIRE_AUTH};
    struct wire_frame f = {
        .type = types[data[0] % 5],
        .body = data + 1,
        .body_len = (uint32_t)(size - 1),
        .size = (uint32_t)(size - 1 + WIRE_FRAME_HEADER_SIZE),
    };
    switch (f.type) {
    case WIRE_CLIENT_REQUEST: {
        struct wire_request rq;
        if (wire_decode_request(&f, &rq) == 0)
            fuzz_check_same(fuzz_buf, &f, wire_encode_request(fuzz_buf, sizeof fuzz_buf, &rq));
        break;
    }
    case WIRE_CLIENT_RESPONSE: {
        struct wire_response rs;
        if (wire_decode_response(&f, &rs) == 0)
            fuzz_check_same(fuzz_buf, &f, wire_encode_response(fuzz_buf, sizeof fuzz_buf, &rs));
        break;
    }
    case WIRE_AUTH: {
        struct wire_auth a;
        if (wire_decode_auth(&f, &a) == 0)
            fuzz_check_same(fuzz_buf, &f, wire_encode_auth(fuzz_buf, sizeof fuzz_buf, &a));
        break;
    }
    case WIRE_STATUS_RESPONSE:
        if (wire_decode_status(&f, &fuzz_status) == 0)
            fuzz_check_same(fuzz_buf, &f,
                            wire_encode_status(fuzz_buf, sizeof fuzz_buf, &fuzz_status));
        break;
    default: {
        uint32_t n;
        if (wire_decode_members(f.body, f.body_len, fuzz_members, &n) == 0) {
            int rc = wire_encode_members(fuzz_buf, sizeof fuzz_buf, fuzz_members, n);
            if (rc < 0 || (uint32_t)rc != f.body_len || memcmp(fuzz_buf, f.body, f.body_len))
                abort();
        }
        break;
    }
    }
    return 0;
}
