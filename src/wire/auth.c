/* The cluster-secret handshake: mutual HMAC-SHA256 challenge-response, run before anything
 * else on a connection when a secret is configured (on peer and client connections alike).
 *
 * AUTH (frame type 2), 65 bytes: u8 step | nonce[32] | mac[32]
 *
 *   acceptor -> dialer   CHALLENGE  nonce_a (fresh, getrandom)       mac = 32 zero bytes
 *   dialer -> acceptor   PROOF      nonce_d (fresh, getrandom)       mac = HMAC(secret,
 *                                   "luminous auth v1 dialer" | nonce_a | nonce_d)
 *   acceptor -> dialer   ACCEPT     nonce_a                          mac = HMAC(secret,
 *                                   "luminous auth v1 acceptor" | nonce_d | nonce_a)
 *
 * Why this shape:
 * - Each side's proof covers a nonce the other side just chose, so a recorded proof is of
 *   no use on another connection (replay), and neither side can pick both nonces.
 * - The role label differs, so the acceptor's proof can never be sent back to it as a
 *   dialer's proof on the same or another connection (reflection), even with nonces swapped.
 * - The acceptor proves itself only after it has checked the dialer, so an unauthenticated
 *   dialer learns nothing but a random challenge; it cannot use the acceptor as an oracle.
 * - Fixed-size fields: no length ambiguity in what is MACed.
 * - Comparisons are constant-time (lum_ct_equal).
 * Not covered: there is no encryption, so an attacker on the path can read traffic or take
 * over a TCP connection after it authenticated, or relay one node's answers to another.
 * The secret keeps out processes that do not know it; TLS would be needed beyond that. */
#include <errno.h>
#include <sys/random.h>

#include "luminous/sha256.h"
#include "wire_int.h"

#define AUTH_BODY_SIZE (1u + WIRE_AUTH_NONCE + WIRE_AUTH_MAC)

_Static_assert(WIRE_AUTH_MAC == LUM_SHA256_LEN, "the mac is one HMAC-SHA256");

static const char AUTH_DIALER[] = "luminous auth v1 dialer";
static const char AUTH_ACCEPTOR[] = "luminous auth v1 acceptor";

int wire_encode_auth(uint8_t *buf, size_t cap, const struct wire_auth *a)
{
    size_t size = WIRE_FRAME_HEADER_SIZE + AUTH_BODY_SIZE;
    int rc = wire_frame_fits(size, cap);
    if (rc != 0)
        return rc;
    struct wire_writer w = wire_frame_begin(buf, size, WIRE_AUTH);
    wire_put_u8(&w, a->step);
    wire_put_bytes(&w, a->nonce, WIRE_AUTH_NONCE);
    wire_put_bytes(&w, a->mac, WIRE_AUTH_MAC);
    return wire_frame_end(&w, size);
}

int wire_decode_auth(const struct wire_frame *f, struct wire_auth *out)
{
    if (f->type != WIRE_AUTH)
        return -LUM_EMALFORMED;
    struct wire_reader r;
    wire_reader_init(&r, f->body, f->body_len);
    out->step = wire_read_u8(&r);
    const uint8_t *nonce = wire_read_bytes(&r, WIRE_AUTH_NONCE);
    const uint8_t *mac = wire_read_bytes(&r, WIRE_AUTH_MAC);
    if (r.bad || out->step < WIRE_AUTH_CHALLENGE || out->step > WIRE_AUTH_ACCEPT)
        return -LUM_EMALFORMED;
    memcpy(out->nonce, nonce, WIRE_AUTH_NONCE);
    memcpy(out->mac, mac, WIRE_AUTH_MAC);
    return wire_reader_finish(&r);
}

int wire_auth_nonce(uint8_t nonce[WIRE_AUTH_NONCE])
{
    size_t got = 0;
    while (got < WIRE_AUTH_NONCE) {
        ssize_t n = getrandom(nonce + got, WIRE_AUTH_NONCE - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -LUM_EIO; /* never fall back to a guessable nonce */
        got += (size_t)n;
    }
    return 0;
}

static void auth_mac(const void *secret, size_t secret_len, const char *label,
                     const uint8_t first[WIRE_AUTH_NONCE], const uint8_t second[WIRE_AUTH_NONCE],
                     uint8_t mac[WIRE_AUTH_MAC])
{
    lum_hmac_t m;
    lum_hmac_init(&m, secret, secret_len);
    lum_hmac_update(&m, label, strlen(label));
    lum_hmac_update(&m, first, WIRE_AUTH_NONCE);
    lum_hmac_update(&m, second, WIRE_AUTH_NONCE);
    lum_hmac_final(&m, mac);
}

void wire_auth_dialer_mac(const void *secret, size_t secret_len,
                          const uint8_t nonce_a[WIRE_AUTH_NONCE],
                          const uint8_t nonce_d[WIRE_AUTH_NONCE], uint8_t mac[WIRE_AUTH_MAC])
{
    auth_mac(secret, secret_len, AUTH_DIALER, nonce_a, nonce_d, mac);
}

void wire_auth_acceptor_mac(const void *secret, size_t secret_len,
                            const uint8_t nonce_a[WIRE_AUTH_NONCE],
                            const uint8_t nonce_d[WIRE_AUTH_NONCE], uint8_t mac[WIRE_AUTH_MAC])
{
    auth_mac(secret, secret_len, AUTH_ACCEPTOR, nonce_d, nonce_a, mac);
}

bool wire_auth_dialer_ok(const void *secret, size_t secret_len,
                         const uint8_t nonce_a[WIRE_AUTH_NONCE], const struct wire_auth *proof)
{
    uint8_t want[WIRE_AUTH_MAC];
    if (proof->step != WIRE_AUTH_PROOF)
        return false;
    wire_auth_dialer_mac(secret, secret_len, nonce_a, proof->nonce, want);
    return lum_ct_equal(want, proof->mac, WIRE_AUTH_MAC);
}

bool wire_auth_acceptor_ok(const void *secret, size_t secret_len,
                           const uint8_t nonce_a[WIRE_AUTH_NONCE],
                           const uint8_t nonce_d[WIRE_AUTH_NONCE], const struct wire_auth *accept)
{
    uint8_t want[WIRE_AUTH_MAC];
    if (accept->step != WIRE_AUTH_ACCEPT || !lum_ct_equal(accept->nonce, nonce_a, WIRE_AUTH_NONCE))
        return false;
    wire_auth_acceptor_mac(secret, secret_len, nonce_a, nonce_d, want);
    return lum_ct_equal(want, accept->mac, WIRE_AUTH_MAC);
}
