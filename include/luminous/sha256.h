/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the cluster-secret handshake.
 * Incremental: init, update any number of times, final. No allocation, no global state. */
#ifndef LUMINOUS_SHA256_H
#define LUMINOUS_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LUM_SHA256_LEN 32
#define LUM_SHA256_BLOCK 64

typedef struct {
    uint32_t h[8];
    uint64_t total;                 /* bytes hashed so far */
    uint8_t buf[LUM_SHA256_BLOCK];  /* partial block */
    size_t used;
} lum_sha256_t;

void lum_sha256_init(lum_sha256_t *s);
void lum_sha256_update(lum_sha256_t *s, const void *data, size_t len);
void lum_sha256_final(lum_sha256_t *s, uint8_t out[LUM_SHA256_LEN]);
void lum_sha256(const void *data, size_t len, uint8_t out[LUM_SHA256_LEN]);

typedef struct {
    lum_sha256_t inner, outer;
} lum_hmac_t;

/* Any key length: keys longer than a block are hashed first, as RFC 2104 says. */
void lum_hmac_init(lum_hmac_t *m, const void *key, size_t key_len);
void lum_hmac_update(lum_hmac_t *m, const void *data, size_t len);
void lum_hmac_final(lum_hmac_t *m, uint8_t out[LUM_SHA256_LEN]);
void lum_hmac(const void *key, size_t key_len, const void *data, size_t len,
              uint8_t out[LUM_SHA256_LEN]);

/* Compares without an early exit, so the time taken does not reveal where a MAC differs. */
bool lum_ct_equal(const void *a, const void *b, size_t len);

#endif
