/* The codec's internals: little-endian loads and stores, a bounds-checked reader with a
 * sticky error, and a writer that asserts it stays inside the size its encoder computed. */
#ifndef LUMINOUS_WIRE_INT_H
#define LUMINOUS_WIRE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/wire.h"

/* ---- loads and stores ----------------------------------------------------------------------
 * base.h's lum_get_u* and lum_put_u* are byte loops that gcc -O2 keeps as loops; on the hot path
 * (an append of 64 entries) one unaligned move per field is what we want. On a little-endian
 * host that is a memcpy; elsewhere we fall back to the byte helpers. */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WIRE_HOST_LE 1
#else
#define WIRE_HOST_LE 0
#endif

static inline uint16_t wire_load_u16(const uint8_t *p)
{
#if WIRE_HOST_LE
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
#else
    return lum_get_u16(p);
#endif
}

static inline uint32_t wire_load_u32(const uint8_t *p)
{
#if WIRE_HOST_LE
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
#else
    return lum_get_u32(p);
#endif
}

static inline uint64_t wire_load_u64(const uint8_t *p)
{
#if WIRE_HOST_LE
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
#else
    return lum_get_u64(p);
#endif
}

static inline void wire_store_u16(uint8_t *p, uint16_t v)
{
#if WIRE_HOST_LE
    memcpy(p, &v, sizeof v);
#else
    lum_put_u16(p, v);
#endif
}

static inline void wire_store_u32(uint8_t *p, uint32_t v)
{
#if WIRE_HOST_LE
    memcpy(p, &v, sizeof v);
#else
    lum_put_u32(p, v);
#endif
}

static inline void wire_store_u64(uint8_t *p, uint64_t v)
{
#if WIRE_HOST_LE
    memcpy(p, &v, sizeof v);
#else
    lum_put_u64(p, v);
#endif
}

/* ---- reader --------------------------------------------------------------------------------
 * Every read checks what remains. A read that does not fit (or a bad bool byte) marks the
 * reader bad and moves it to the end, so later reads return 0 and the decoder can check once,
 * at wire_reader_finish(), instead of after every field. */

struct wire_reader {
    const uint8_t *pos;
    const uint8_t *end;
    bool           bad;  /* a read ran past end, or a value broke a validity rule */
};

static inline void wire_reader_init(struct wire_reader *r, const uint8_t *p, size_t len)
{
    r->pos = p;
    r->end = p + len;
    r->bad = false;
}

static inline size_t wire_reader_left(const struct wire_reader *r)
{
    return (size_t)(r->end - r->pos);
}

static inline void wire_reader_fail(struct wire_reader *r)
{
    r->bad = true;
    r->pos = r->end;
}

/* True if n more bytes are there; else marks r bad. */
static inline bool wire_reader_need(struct wire_reader *r, size_t n)
{
    if (wire_reader_left(r) >= n)
        return true;
    wire_reader_fail(r);
    return false;
}

static inline uint8_t wire_read_u8(struct wire_reader *r)
{
    if (!wire_reader_need(r, 1))
        return 0;
    return *r->pos++;
}

static inline uint16_t wire_read_u16(struct wire_reader *r)
{
    if (!wire_reader_need(r, 2))
        return 0;
    uint16_t v = wire_load_u16(r->pos);
    r->pos += 2;
    return v;
}

static inline uint32_t wire_read_u32(struct wire_reader *r)
{
    if (!wire_reader_need(r, 4))
        return 0;
    uint32_t v = wire_load_u32(r->pos);
    r->pos += 4;
    return v;
}

static inline uint64_t wire_read_u64(struct wire_reader *r)
{
    if (!wire_reader_need(r, 8))
        return 0;
    uint64_t v = wire_load_u64(r->pos);
    r->pos += 8;
    return v;
}

/* A bool is one byte, 0 or 1; anything else is malformed (so every value has one encoding). */
static inline bool wire_read_bool(struct wire_reader *r)
{
    uint8_t b = wire_read_u8(r);
    if (b > 1)
        wire_reader_fail(r);
    return b == 1;
}

/* n bytes in place: a pointer into the frame, or NULL (and r bad) if they are not there. */
static inline const uint8_t *wire_read_bytes(struct wire_reader *r, size_t n)
{
    if (!wire_reader_need(r, n))
        return NULL;
    const uint8_t *p = r->pos;
    r->pos += n;
    return p;
}

/* 0 if every read fitted and the body was consumed exactly; trailing bytes are malformed. */
static inline int wire_reader_finish(const struct wire_reader *r)
{
    return !r->bad && r->pos == r->end ? 0 : -LUM_EMALFORMED;
}

/* ---- writer --------------------------------------------------------------------------------
 * Encoders compute the exact frame size first and return -LUM_ETOOBIG before writing a byte
 * when it does not fit, so running out of room here is a bug in that computation: assert. */

struct wire_writer {
    uint8_t *pos;
    uint8_t *end;
};

static inline void wire_put_u8(struct wire_writer *w, uint8_t v)
{
    LUM_ASSERT(w->pos < w->end);
    *w->pos++ = v;
}

static inline void wire_put_u16(struct wire_writer *w, uint16_t v)
{
    LUM_ASSERT(w->end - w->pos >= 2);
    wire_store_u16(w->pos, v);
    w->pos += 2;
}

static inline void wire_put_u32(struct wire_writer *w, uint32_t v)
{
    LUM_ASSERT(w->end - w->pos >= 4);
    wire_store_u32(w->pos, v);
    w->pos += 4;
}

static inline void wire_put_u64(struct wire_writer *w, uint64_t v)
{
    LUM_ASSERT(w->end - w->pos >= 8);
    wire_store_u64(w->pos, v);
    w->pos += 8;
}

static inline void wire_put_bytes(struct wire_writer *w, const void *p, size_t n)
{
    LUM_ASSERT((size_t)(w->end - w->pos) >= n);
    if (n > 0) /* memcpy's pointers must be valid even for 0 bytes; p may be NULL then */
        memcpy(w->pos, p, n);
    w->pos += n;
}

/* ---- frames (frame.c) ---------------------------------------------------------------------- */

/* Checks that a frame of size bytes (header included) fits in cap and can be described by
 * the u32 length field and the encoders' int return. 0 or -LUM_ETOOBIG. */
int wire_frame_fits(size_t size, size_t cap);

/* Starts a frame of size bytes (header included) of the given type at buf: writes the header
 * and returns a writer positioned at the body, ending at buf + size. */
struct wire_writer wire_frame_begin(uint8_t *buf, size_t size, uint8_t type);

/* Ends the frame begun with w: asserts the encoder wrote exactly the size it computed. */
static inline int wire_frame_end(const struct wire_writer *w, size_t size)
{
    LUM_ASSERT(w->pos == w->end);
    return (int)size;
}

#endif
