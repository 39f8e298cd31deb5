/* The server's side of the cluster-secret handshake (the protocol is in src/wire/auth.c).
 * Client connections and accepted peer links are acceptors: they send CHALLENGE on accept
 * and take nothing but a valid PROOF before they answer ACCEPT and go on as usual. Our own
 * peer dials are dialers. A connection that fails is closed by the caller; the reason is
 * logged here, at most a few lines a second (a misconfigured node redials forever, a scanner may
 * connect in a loop: neither may flood the log). Without a secret none of this runs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server_int.h"

#define AUTH_FRAME_SIZE (WIRE_FRAME_HEADER_SIZE + 1 + WIRE_AUTH_NONCE + WIRE_AUTH_MAC)
#define AUTH_LOG_BURST  5u  /* warnings per SERVER_REFUSAL_LOG_MS; the rest are counted */

bool auth_enabled(const struct server *s)
{
    return s->cfg.secret.len > 0;
}

void auth_warn(struct server *s, const char *fmt, ...)
{
    uint64_t now = clock_mono_ms();
    if (now - s->auth_window_ms >= SERVER_REFUSAL_LOG_MS) {
        s->auth_window_ms = now;
        s->auth_logged = 0;
    }
    if (s->auth_logged >= AUTH_LOG_BURST) {
        s->auth_unlogged++;
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->auth_unlogged > 0)
        lum_warn("%s (and %u more authentication failures not logged)", msg, s->auth_unlogged);
    else
        lum_warn("%s", msg);
    s->auth_logged++;
    s->auth_unlogged = 0;
}

static int auth_send(struct conn *c, const struct wire_auth *a)
{
    uint8_t *buf = conn_reserve(c, AUTH_FRAME_SIZE);
    if (!buf)
        return -LUM_ENOMEM;
    int n = wire_encode_auth(buf, AUTH_FRAME_SIZE, a);
    LUM_ASSERT(n == (int)AUTH_FRAME_SIZE);
    conn_commit(c, (size_t)n);
    return conn_flush(c);
}

int auth_challenge(struct conn *c, uint8_t nonce_a[WIRE_AUTH_NONCE])
{
    struct wire_auth ch = {.step = WIRE_AUTH_CHALLENGE};
    int rv = wire_auth_nonce(ch.nonce);
    if (rv != 0)
        return rv;
    memcpy(nonce_a, ch.nonce, WIRE_AUTH_NONCE);
    return auth_send(c, &ch);
}

int auth_accept(struct server *s, struct conn *c, const char *who,
                const uint8_t nonce_a[WIRE_AUTH_NONCE], const struct wire_frame *f)
{
    struct wire_auth pr;
    if (f->type != WIRE_AUTH || wire_decode_auth(f, &pr) != 0 || pr.step != WIRE_AUTH_PROOF) {
        auth_warn(s, "%s: sent a frame of type %u before authenticating "
                  "(no secret configured there?), closing", who, f->type);
        return -LUM_EMALFORMED;
    }
    if (!wire_auth_dialer_ok(s->cfg.secret.key, s->cfg.secret.len, nonce_a, &pr)) {
        auth_warn(s, "%s: authentication failed (wrong secret?), closing", who);
        return -LUM_EMALFORMED;
    }
    struct wire_auth ac = {.step = WIRE_AUTH_ACCEPT};
    memcpy(ac.nonce, nonce_a, WIRE_AUTH_NONCE);
    wire_auth_acceptor_mac(s->cfg.secret.key, s->cfg.secret.len, nonce_a, pr.nonce, ac.mac);
    return auth_send(c, &ac);
}

int auth_dial_step(struct server *s, struct conn *c, const char *who, struct auth_dial *d,
                   const struct wire_frame *f)
{
    struct wire_auth a;
    if (f->type != WIRE_AUTH || wire_decode_auth(f, &a) != 0 ||
        a.step != (d->challenged ? WIRE_AUTH_ACCEPT : WIRE_AUTH_CHALLENGE)) {
        auth_warn(s, "%s: unexpected frame of type %u during authentication, closing", who,
                  f->type);
        return -LUM_EMALFORMED;
    }
    if (!d->challenged) {
        struct wire_auth pr = {.step = WIRE_AUTH_PROOF};
        int rv = wire_auth_nonce(pr.nonce);
        if (rv != 0)
            return rv;
        memcpy(d->nonce_a, a.nonce, WIRE_AUTH_NONCE);
        memcpy(d->nonce_d, pr.nonce, WIRE_AUTH_NONCE);
        wire_auth_dialer_mac(s->cfg.secret.key, s->cfg.secret.len, d->nonce_a, d->nonce_d,
                             pr.mac);
        d->challenged = true;
        return auth_send(c, &pr);
    }
    /* It accepted us; it must also show it knows the secret, or it could be anyone who
     * answers on that address. */
    if (!wire_auth_acceptor_ok(s->cfg.secret.key, s->cfg.secret.len, d->nonce_a, d->nonce_d,
                               &a)) {
        auth_warn(s, "%s: the other side failed to prove the cluster secret (wrong secret?), "
                  "closing", who);
        return -LUM_EMALFORMED;
    }
    d->done = true;
    return 0;
}
