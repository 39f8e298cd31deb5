/* SHA-256 against the FIPS 180-4 / NIST example vectors, HMAC-SHA256 against every RFC 4231
 * test case, and the incremental API against the one-shot one at every split point. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "luminous/sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_sha(const void *data, size_t len, const char *want)
{
    uint8_t d[LUM_SHA256_LEN];
    char got[2 * LUM_SHA256_LEN + 1];
    lum_sha256(data, len, d);
    hex(d, sizeof d, got);
    cr_assert_str_eq(got, want);
}

Test(sha256, fips_vectors)
{
    check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, one_million_a_incremental)
{
    uint8_t chunk[1000], d[LUM_SHA256_LEN];
    char got[2 * LUM_SHA256_LEN + 1];
    memset(chunk, 'a', sizeof chunk);
    lum_sha256_t s;
    lum_sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        lum_sha256_update(&s, chunk, sizeof chunk);
    lum_sha256_final(&s, d);
    hex(d, sizeof d, got);
    cr_assert_str_eq(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every split of a 130-byte message (crossing two block boundaries and the 56-byte padding
 * edge) hashes the same as the one-shot call. */
Test(sha256, split_points)
{
    uint8_t msg[130], want[LUM_SHA256_LEN], got[LUM_SHA256_LEN];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof msg; len++) {
        lum_sha256(msg, len, want);
        for (size_t cut = 0; cut <= len; cut++) {
            lum_sha256_t s;
            lum_sha256_init(&s);
            lum_sha256_update(&s, msg, cut);
            lum_sha256_update(&s, msg + cut, len - cut);
            lum_sha256_final(&s, got);
            cr_assert(memcmp(got, want, sizeof got) == 0, "len %zu cut %zu", len, cut);
        }
    }
}

static void check_hmac(const uint8_t *key, size_t klen, const void *data, size_t dlen,
                       const char *want)
{
    uint8_t d[LUM_SHA256_LEN];
    char got[2 * LUM_SHA256_LEN + 1];
    lum_hmac(key, klen, data, dlen, d);
    hex(d, sizeof d, got);
    /* RFC 4231 case 5 gives only the first 128 bits: compare as many digits as given. */
    cr_assert(strncmp(got, want, strlen(want)) == 0, "got %s want %s", got, want);
}

Test(hmac, rfc4231)
{
    uint8_t key[131], data[50];

    memset(key, 0x0b, 20);                                                      /* case 1 */
    check_hmac(key, 20, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *d2 = "what do ya want for nothing?";                            /* case 2 */
    check_hmac((const uint8_t *)"Jefe", 4, d2, strlen(d2),
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 20);                                                      /* case 3 */
    memset(data, 0xdd, 50);
    check_hmac(key, 20, data, 50,
               "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (int i = 0; i < 25; i++)                                                /* case 4 */
        key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, 50);
    check_hmac(key, 25, data, 50,
               "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(key, 0x0c, 20);                                                      /* case 5 */
    check_hmac(key, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b");
    memset(key, 0xaa, 131);                                                     /* case 6 */
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(key, 131, d6, strlen(d6),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* case 7 */
    const char *d7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    check_hmac(key, 131, d7, strlen(d7),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

Test(hmac, incremental_matches_one_shot)
{
    const char *msg = "client|nonce-s|nonce-c|cluster";
    uint8_t want[LUM_SHA256_LEN], got[LUM_SHA256_LEN];
    lum_hmac("k", 1, msg, strlen(msg), want);
    lum_hmac_t m;
    lum_hmac_init(&m, "k", 1);
    for (const char *p = msg; *p; p++)
        lum_hmac_update(&m, p, 1);
    lum_hmac_final(&m, got);
    cr_assert(memcmp(got, want, sizeof got) == 0);
}

Test(ct_equal, compares)
{
    cr_assert(lum_ct_equal("abcd", "abcd", 4));
    cr_assert(!lum_ct_equal("abcd", "abce", 4));
    cr_assert(!lum_ct_equal("xbcd", "abcd", 4));
    cr_assert(lum_ct_equal("a", "b", 0));
}
