/* SHA-256 per FIPS 180-4 section 6.2, and HMAC per RFC 2104. Written for clarity over speed:
 * it only runs a handful of times per connection, in the authentication handshake. */
#include <string.h>

#include "luminous/sha256.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void compress(uint32_t h[8], const uint8_t block[LUM_SHA256_BLOCK])
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)    /* the message words are big-endian */
        w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
               (uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      K[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void lum_sha256_init(lum_sha256_t *s)
{
    static const uint32_t H0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, H0, sizeof H0);
    s->total = 0;
    s->used = 0;
}

void lum_sha256_update(lum_sha256_t *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->total += len;
    while (len > 0) {
        size_t n = LUM_SHA256_BLOCK - s->used;
        if (n > len)
            n = len;
        memcpy(s->buf + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used == LUM_SHA256_BLOCK) {
            compress(s->h, s->buf);
            s->used = 0;
        }
    }
}

void lum_sha256_final(lum_sha256_t *s, uint8_t out[LUM_SHA256_LEN])
{
    /* Padding: a 1 bit, zeros up to 56 mod 64, then the bit length as a big-endian u64. */
    uint64_t bits = s->total * 8;
    s->buf[s->used++] = 0x80;
    if (s->used > 56) {
        memset(s->buf + s->used, 0, LUM_SHA256_BLOCK - s->used);
        compress(s->h, s->buf);
        s->used = 0;
    }
    memset(s->buf + s->used, 0, 56 - s->used);
    for (int i = 0; i < 8; i++)
        s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(s->h, s->buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
    memset(s, 0, sizeof *s);    /* the state of an HMAC holds key material */
}

void lum_sha256(const void *data, size_t len, uint8_t out[LUM_SHA256_LEN])
{
    lum_sha256_t s;
    lum_sha256_init(&s);
    lum_sha256_update(&s, data, len);
    lum_sha256_final(&s, out);
}

void lum_hmac_init(lum_hmac_t *m, const void *key, size_t key_len)
{
    uint8_t k[LUM_SHA256_BLOCK] = { 0 }, pad[LUM_SHA256_BLOCK];
    if (key_len > LUM_SHA256_BLOCK)
        lum_sha256(key, key_len, k);
    else if (key_len > 0)
        memcpy(k, key, key_len);
    for (int i = 0; i < LUM_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    lum_sha256_init(&m->inner);
    lum_sha256_update(&m->inner, pad, sizeof pad);
    for (int i = 0; i < LUM_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    lum_sha256_init(&m->outer);
    lum_sha256_update(&m->outer, pad, sizeof pad);
    memset(k, 0, sizeof k);
    memset(pad, 0, sizeof pad);
}

void lum_hmac_update(lum_hmac_t *m, const void *data, size_t len)
{
    lum_sha256_update(&m->inner, data, len);
}

void lum_hmac_final(lum_hmac_t *m, uint8_t out[LUM_SHA256_LEN])
{
    uint8_t ih[LUM_SHA256_LEN];
    lum_sha256_final(&m->inner, ih);
    lum_sha256_update(&m->outer, ih, sizeof ih);
    lum_sha256_final(&m->outer, out);
}

void lum_hmac(const void *key, size_t key_len, const void *data, size_t len,
              uint8_t out[LUM_SHA256_LEN])
{
    lum_hmac_t m;
    lum_hmac_init(&m, key, key_len);
    lum_hmac_update(&m, data, len);
    lum_hmac_final(&m, out);
}

bool lum_ct_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}
