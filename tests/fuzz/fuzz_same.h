/* Shared by the codec fuzz targets: what a decoder accepted must re-encode to itself. */
#ifndef LUMINOUS_TESTS_FUZZ_SAME_H
#define LUMINOUS_TESTS_FUZZ_SAME_H

#include <stdlib.h>
#include <string.h>

#include "luminous/wire.h"

/* The frame encoded in buf (rc bytes) must be exactly f's header and body. */
static inline void fuzz_check_same(const uint8_t *buf, const struct wire_frame *f, int rc)
{
    if (rc < 0 || (size_t)rc != WIRE_FRAME_HEADER_SIZE + f->body_len || buf[5] != f->type ||
        memcmp(buf + WIRE_FRAME_HEADER_SIZE, f->body, f->body_len) != 0)
        abort(); /* accepted bytes that do not re-encode to themselves */
}

#endif
