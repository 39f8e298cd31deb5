/* The cluster-secret handshake's pieces (src/wire/auth.c): the AUTH frame codec, nonces,
 * and the two proofs, run as a whole exchange with the right secret, a wrong one, a replayed
 * proof, a reflected proof and tampered fields. */
#include <criterion/criterion.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/wire.h"

static const char SECRET[] = "correct horse battery staple";
static const char WRONG[] = "correct horse battery stapler";

static uint8_t frame_buf[256];

/* Encodes a, peeks it back as a frame and decodes it: what the other side would see. */
static struct wire_auth over_the_wire(const struct wire_auth *a)
{
    int n = wire_encode_auth(frame_buf, sizeof frame_buf, a);
    cr_assert_eq(n, (int)WIRE_FRAME_HEADER_SIZE + 65);
    struct wire_frame f;
    cr_assert_eq(wire_frame_peek(frame_buf, (size_t)n, WIRE_FRAME_MAX, &f), 0);
    cr_assert_eq(f.type, WIRE_AUTH);
    struct wire_auth out;
    cr_assert_eq(wire_decode_auth(&f, &out), 0);
    return out;
}

/* One whole exchange; the dialer uses dsec, the acceptor asec. Returns whether each side
 * accepted the other. */
static void handshake(const char *dsec, const char *asec, bool *acceptor_ok, bool *dialer_ok)
{
    struct wire_auth ch = {.step = WIRE_AUTH_CHALLENGE};
    cr_assert_eq(wire_auth_nonce(ch.nonce), 0);
    uint8_t nonce_a[WIRE_AUTH_NONCE];
    memcpy(nonce_a, ch.nonce, sizeof nonce_a);
    struct wire_auth got_ch = over_the_wire(&ch);

    struct wire_auth pr = {.step = WIRE_AUTH_PROOF};
    cr_assert_eq(wire_auth_nonce(pr.nonce), 0);
    uint8_t nonce_d[WIRE_AUTH_NONCE];
    memcpy(nonce_d, pr.nonce, sizeof nonce_d);
    wire_auth_dialer_mac(dsec, strlen(dsec), got_ch.nonce, pr.nonce, pr.mac);
    struct wire_auth got_pr = over_the_wire(&pr);

    *acceptor_ok = wire_auth_dialer_ok(asec, strlen(asec), nonce_a, &got_pr);
    /* The acceptor answers anyway here, to see what a dialer makes of a wrong secret. */
    struct wire_auth ac = {.step = WIRE_AUTH_ACCEPT};
    memcpy(ac.nonce, nonce_a, sizeof ac.nonce);
    wire_auth_acceptor_mac(asec, strlen(asec), nonce_a, got_pr.nonce, ac.mac);
    struct wire_auth got_ac = over_the_wire(&ac);
    *dialer_ok = wire_auth_acceptor_ok(dsec, strlen(dsec), got_ch.nonce, nonce_d, &got_ac);
}

Test(auth, same_secret_both_sides_accept)
{
    bool a, d;
    handshake(SECRET, SECRET, &a, &d);
    cr_assert(a && d);
}

Test(auth, wrong_secret_refused_both_ways)
{
    bool a, d;
    handshake(WRONG, SECRET, &a, &d);
    cr_assert(!a && !d);
    handshake(SECRET, WRONG, &a, &d);
    cr_assert(!a && !d);
}

Test(auth, nonces_are_fresh)
{
    uint8_t x[WIRE_AUTH_NONCE], y[WIRE_AUTH_NONCE], zero[WIRE_AUTH_NONCE] = {0};
    cr_assert_eq(wire_auth_nonce(x), 0);
    cr_assert_eq(wire_auth_nonce(y), 0);
    cr_assert(memcmp(x, y, sizeof x) != 0);
    cr_assert(memcmp(x, zero, sizeof x) != 0);
}

/* A proof recorded on one connection does not pass on another: the challenge differs. */
Test(auth, replayed_proof_refused)
{
    uint8_t na1[WIRE_AUTH_NONCE], na2[WIRE_AUTH_NONCE];
    cr_assert_eq(wire_auth_nonce(na1), 0);
    cr_assert_eq(wire_auth_nonce(na2), 0);
    struct wire_auth pr = {.step = WIRE_AUTH_PROOF};
    cr_assert_eq(wire_auth_nonce(pr.nonce), 0);
    wire_auth_dialer_mac(SECRET, strlen(SECRET), na1, pr.nonce, pr.mac);
    cr_assert(wire_auth_dialer_ok(SECRET, strlen(SECRET), na1, &pr));
    cr_assert(!wire_auth_dialer_ok(SECRET, strlen(SECRET), na2, &pr));
}

/* An acceptor's proof sent back to an acceptor as a dialer's proof, with the nonces in
 * either order, is refused: the role labels differ. */
Test(auth, reflected_proof_refused)
{
    uint8_t na[WIRE_AUTH_NONCE], nd[WIRE_AUTH_NONCE], mac[WIRE_AUTH_MAC];
    cr_assert_eq(wire_auth_nonce(na), 0);
    cr_assert_eq(wire_auth_nonce(nd), 0);
    wire_auth_acceptor_mac(SECRET, strlen(SECRET), na, nd, mac);
    struct wire_auth pr = {.step = WIRE_AUTH_PROOF};
    memcpy(pr.nonce, nd, sizeof pr.nonce);
    memcpy(pr.mac, mac, sizeof pr.mac);
    cr_assert(!wire_auth_dialer_ok(SECRET, strlen(SECRET), na, &pr));
    wire_auth_acceptor_mac(SECRET, strlen(SECRET), nd, na, mac);
    memcpy(pr.mac, mac, sizeof pr.mac);
    cr_assert(!wire_auth_dialer_ok(SECRET, strlen(SECRET), na, &pr));
    /* and the dialer's proof does not pass as an acceptor's */
    struct wire_auth ac = {.step = WIRE_AUTH_ACCEPT};
    memcpy(ac.nonce, na, sizeof ac.nonce);
    wire_auth_dialer_mac(SECRET, strlen(SECRET), na, nd, ac.mac);
    cr_assert(!wire_auth_acceptor_ok(SECRET, strlen(SECRET), na, nd, &ac));
}

Test(auth, tampered_fields_refused)
{
    uint8_t na[WIRE_AUTH_NONCE], nd[WIRE_AUTH_NONCE];
    cr_assert_eq(wire_auth_nonce(na), 0);
    cr_assert_eq(wire_auth_nonce(nd), 0);
    struct wire_auth pr = {.step = WIRE_AUTH_PROOF};
    memcpy(pr.nonce, nd, sizeof pr.nonce);
    wire_auth_dialer_mac(SECRET, strlen(SECRET), na, nd, pr.mac);
    cr_assert(wire_auth_dialer_ok(SECRET, strlen(SECRET), na, &pr));
    for (size_t i = 0; i < WIRE_AUTH_NONCE; i++) {   /* any bit of the nonce or mac */
        struct wire_auth t = pr;
        t.nonce[i] ^= 1;
        cr_assert(!wire_auth_dialer_ok(SECRET, strlen(SECRET), na, &t));
        t = pr;
        t.mac[i] ^= 0x80;
        cr_assert(!wire_auth_dialer_ok(SECRET, strlen(SECRET), na, &t));
    }
    struct wire_auth t = pr;                         /* the right mac at the wrong step */
    t.step = WIRE_AUTH_ACCEPT;
    cr_assert(!wire_auth_dialer_ok(SECRET, strlen(SECRET), na, &t));
    /* an ACCEPT must echo the acceptor's own nonce */
    struct wire_auth ac = {.step = WIRE_AUTH_ACCEPT};
    memcpy(ac.nonce, nd, sizeof ac.nonce);
    wire_auth_acceptor_mac(SECRET, strlen(SECRET), na, nd, ac.mac);
    cr_assert(!wire_auth_acceptor_ok(SECRET, strlen(SECRET), na, nd, &ac));
    memcpy(ac.nonce, na, sizeof ac.nonce);
    cr_assert(wire_auth_acceptor_ok(SECRET, strlen(SECRET), na, nd, &ac));
}

Test(auth, decode_refuses_bad_bodies)
{
    uint8_t body[70] = {WIRE_AUTH_PROOF};
    struct wire_frame f = {.type = WIRE_AUTH, .body = body};
    struct wire_auth a;
    for (uint32_t len = 0; len <= sizeof body; len++) { /* exactly 65 bytes, no more, no less */
        f.body_len = len;
        cr_assert_eq(wire_decode_auth(&f, &a), len == 65 ? 0 : -LUM_EMALFORMED, "len %u", len);
    }
    f.body_len = 65;
    for (unsigned step = 0; step < 256; step++) {       /* steps 1..3 only */
        body[0] = (uint8_t)step;
        bool want = step >= WIRE_AUTH_CHALLENGE && step <= WIRE_AUTH_ACCEPT;
        cr_assert_eq(wire_decode_auth(&f, &a) == 0, want, "step %u", step);
    }
    body[0] = WIRE_AUTH_PROOF;
    f.type = WIRE_HELLO;                                /* not an AUTH frame */
    cr_assert_eq(wire_decode_auth(&f, &a), -LUM_EMALFORMED);
    struct wire_auth big = {.step = WIRE_AUTH_CHALLENGE};
    cr_assert_eq(wire_encode_auth(frame_buf, WIRE_FRAME_HEADER_SIZE + 64, &big), -LUM_ETOOBIG);
}
