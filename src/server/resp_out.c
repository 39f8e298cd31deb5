/* Building RESP replies, and turning the key-value machine's answers (and the server's
 * refusals) into the replies Redis would give. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp_int.h"

void resp_out_reset(struct resp_out *o)
{
    o->len = 0;
    o->failed = false;
}

/* Room for n more bytes, or NULL (o->failed). */
static uint8_t *resp_out_room(struct resp_out *o, size_t n)
{
    if (o->failed)
        return NULL;
    if (o->cap - o->len < n) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n)
            cap *= 2;
        uint8_t *d = realloc(o->data, cap);
        if (!d) {
            o->failed = true;
            return NULL;
        }
        o->data = d;
        o->cap = cap;
    }
    return o->data + o->len;
}

/* Each encoder says its size first (cap 0), then writes into room for it. */
#define RESP_OUT(o, call_with_buf_cap)                                  \
    do {                                                                \
        uint8_t *buf = NULL;                                            \
        size_t cap = 0;                                                 \
        size_t need = (call_with_buf_cap);                              \
        if ((buf = resp_out_room((o), need)) != NULL) {                 \
            cap = need;                                                 \
            (o)->len += (call_with_buf_cap);                            \
        }                                                               \
    } while (0)

void resp_out_simple(struct resp_out *o, const char *s)
{
    RESP_OUT(o, resp_encode_simple(buf, cap, s));
}

void resp_out_error(struct resp_out *o, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    RESP_OUT(o, resp_encode_error(buf, cap, msg));
}

void resp_out_int(struct resp_out *o, int64_t v)
{
    RESP_OUT(o, resp_encode_int(buf, cap, v));
}

void resp_out_bulk(struct resp_out *o, const void *data, size_t len)
{
    RESP_OUT(o, resp_encode_bulk(buf, cap, data, len));
}

void resp_out_null(struct resp_out *o)
{
    RESP_OUT(o, resp_encode_null(buf, cap));
}

void resp_out_array(struct resp_out *o, uint64_t count)
{
    RESP_OUT(o, resp_encode_array(buf, cap, count));
}

/* A request the server could not take or finish. TRYAGAIN where retrying is the remedy (as
 * Redis Cluster uses it); a write answered so may or may not have taken effect, like a
 * native client's NOT_LEADER after its entry was proposed. */
static void resp_out_status(struct resp_out *o, int status)
{
    switch (status) {
    case -LUM_ENOTLEADER:
        resp_out_error(o, "TRYAGAIN leadership changed before the request was done; "
                          "a write may or may not have taken effect");
        break;
    case -LUM_EUNAVAILABLE:
        resp_out_error(o, "TRYAGAIN no leader known (election in progress, or no quorum)");
        break;
    case -LUM_ECLOSED:
        resp_out_error(o, "TRYAGAIN lost the connection to the leader; a write may or may "
                          "not have taken effect");
        break;
    case -LUM_EBUSY:
        resp_out_error(o, "TRYAGAIN server busy: too many requests waiting (max_pending)");
        break;
    case -LUM_ENOSPC:
        resp_out_error(o, "ERR the leader's disk is full: writes are refused");
        break;
    case -LUM_ETOOBIG:
        resp_out_error(o, "ERR request too large for one log entry (%u bytes of command)",
                       (unsigned)LUM_COMMAND_BODY_MAX);
        break;
    default:
        resp_out_error(o, "ERR %s", lum_strerror(status));
        break;
    }
}

static int64_t resp_i64(const uint8_t *p)
{
    return (int64_t)lum_get_u64(p);
}

static void resp_out_mget(struct resp_out *o, const uint8_t *data, uint32_t len)
{
    /* count x (u8 found | u32 vlen | value); the count is what fits */
    uint64_t n = 0;
    for (uint32_t at = 0; at + 5 <= len; n++)
        at += 5 + lum_get_u32(data + at + 1);
    resp_out_array(o, n);
    for (uint32_t at = 0; at + 5 <= len;) {
        uint32_t vlen = lum_get_u32(data + at + 1);
        if (data[at] && at + 5 + vlen <= len)
            resp_out_bulk(o, data + at + 5, vlen);
        else
            resp_out_null(o);
        at += 5 + vlen;
    }
}

void resp_out_answer(struct resp_out *o, uint8_t kind, int status, int32_t code,
                     const uint8_t *data, uint32_t len)
{
    if (status != 0) {
        resp_out_status(o, status);
        return;
    }
    if (code == KV_NOT_INTEGER) {
        resp_out_error(o, "ERR value is not an integer or out of range");
        return;
    }
    if (code == KV_OVERFLOW) {
        resp_out_error(o, "ERR increment or decrement would overflow");
        return;
    }
    if (code == KV_BAD_REQUEST && kind == RK_MGET) { /* what a client frame carries */
        resp_out_error(o, "ERR MGET answer too large (over %u bytes): ask for fewer keys",
                       KV_ANSWER_MAX);
        return;
    }
    if (code == KV_BAD_REQUEST && (kind == RK_SET || kind == RK_EXPIRE)) {
        /* all we send that it can refuse: an expiry past what its clock can add */
        resp_out_error(o, "ERR invalid expire time in '%s' command",
                       kind == RK_SET ? "set" : "expire");
        return;
    }
    if (code == KV_BAD_REQUEST) {
        resp_out_error(o, "ERR the state machine refused the request as malformed");
        return;
    }
    bool ok = code == KV_OK;
    switch (kind) {
    case RK_SET:
        if (ok)
            resp_out_simple(o, "OK");
        else
            resp_out_null(o); /* NX or XX not met */
        return;
    case RK_MSET:
        resp_out_simple(o, "OK");
        return;
    case RK_GET:
        if (ok)
            resp_out_bulk(o, data, len);
        else
            resp_out_null(o);
        return;
    case RK_INCR:
        if (ok && len == 8)
            resp_out_int(o, resp_i64(data));
        else
            resp_out_error(o, "ERR unexpected answer from the state machine");
        return;
    case RK_EXPIRE:
    case RK_PERSIST:
        resp_out_int(o, ok ? 1 : 0);
        return;
    case RK_DEL:
    case RK_EXISTS:
        resp_out_int(o, ok && len >= 4 ? lum_get_u32(data) : 0);
        return;
    case RK_DBSIZE:
        resp_out_int(o, ok && len >= 8 ? resp_i64(data) : 0);
        return;
    case RK_PTTL:
    case RK_TTL: {
        int64_t ms = ok && len >= 8 ? resp_i64(data) : -2;
        if (kind == RK_TTL && ms >= 0)
            ms = (ms + 500) / 1000; /* Redis rounds to the nearest second */
        resp_out_int(o, ms);
        return;
    }
    case RK_MGET:
        if (ok)
            resp_out_mget(o, data, len);
        else
            resp_out_error(o, "ERR unexpected answer from the state machine");
        return;
    default:
        resp_out_error(o, "ERR internal: a reply of unknown kind %u", kind);
        return;
    }
}
