/* RESP2 requests and replies (the format is described in include/luminous/resp.h).
 *
 * The parser is a small state machine over the request at the head of the input. It keeps
 * how far it got (scanned) and what it found (argument offsets), so bytes are looked at once
 * however the request is split across reads: a client trickling a large request in byte by
 * byte costs linear time, not quadratic. Every count and length is checked against the
 * limits as soon as its header line is complete, before any of its bytes are waited for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/resp.h"

/* A header line (*<n> or $<n>) longer than this is not a number we would accept. */
#define RESP_HEADER_LINE_MAX 32u

enum resp_state { RESP_S_START = 0, RESP_S_ARGC, RESP_S_BULK_HEADER, RESP_S_BULK,
                  RESP_S_INLINE };

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->lim = *lim;
}

void resp_parser_free(struct resp_parser *p)
{
    free(p->args);
    p->args = NULL;
    p->args_cap = 0;
}

static int resp_fail(struct resp_parser *p, const char *fmt, unsigned long long v)
{
    snprintf(p->error, sizeof p->error, fmt, v);
    return -LUM_EMALFORMED;
}

static int resp_add_arg(struct resp_parser *p, uint32_t off, uint32_t len)
{
    if (p->argc == p->lim.args_max)
        return resp_fail(p, "more than %llu arguments", p->lim.args_max);
    if (p->argc == p->args_cap) {
        uint32_t cap = p->args_cap ? p->args_cap * 2 : 8;
        if (cap > p->lim.args_max)
            cap = p->lim.args_max;
        struct resp_arg *a = realloc(p->args, cap * sizeof *a);
        if (!a)
            return -LUM_ENOMEM;
        p->args = a;
        p->args_cap = cap;
    }
    p->args[p->argc++] = (struct resp_arg){.off = off, .len = len};
    return 0;
}

/* The header line that starts at p->scanned: its number in *v_out, and the scan moved past
 * its \r\n. 0, -LUM_EAGAIN (the line is not complete), or -LUM_EMALFORMED (what says which
 * header, for the message). */
static int resp_header(struct resp_parser *p, const uint8_t *buf, size_t len, const char *what,
                       long long *v_out)
{
    size_t start = p->scanned + 1; /* after the '*' or '$' */
    size_t end = start;
    while (end < len && buf[end] != '\r') {
        if (end - start >= RESP_HEADER_LINE_MAX)
            break;
        end++;
    }
    if (end - start >= RESP_HEADER_LINE_MAX) {
        snprintf(p->error, sizeof p->error, "invalid %s length", what);
        return -LUM_EMALFORMED;
    }
    if (end + 1 >= len)
        return -LUM_EAGAIN; /* the \r or the \n after it is still to come */
    bool neg = buf[start] == '-';
    size_t i = start + (neg ? 1 : 0);
    long long v = 0;
    bool ok = buf[end + 1] == '\n' && i < end && end - i <= 10;
    for (; ok && i < end; i++) {
        ok = buf[i] >= '0' && buf[i] <= '9';
        v = v * 10 + (buf[i] - '0');
    }
    if (!ok) {
        snprintf(p->error, sizeof p->error, "invalid %s length", what);
        return -LUM_EMALFORMED;
    }
    *v_out = neg ? -v : v;
    p->scanned = (uint32_t)(end + 2);
    return 0;
}

/* A request is done: reset for the next one and say its size. */
static int resp_done(struct resp_parser *p)
{
    int size = (int)p->scanned;
    p->state = RESP_S_START;
    p->scanned = 0;
    return size;
}

static int resp_parse_multibulk(struct resp_parser *p, const uint8_t *buf, size_t len)
{
    for (;;) {
        long long v;
        int rv;
        switch (p->state) {
        case RESP_S_ARGC:
            if ((rv = resp_header(p, buf, len, "multibulk", &v)) != 0)
                return rv;
            if (v > (long long)p->lim.args_max)
                return resp_fail(p, "invalid multibulk length (more than %llu arguments)",
                                 p->lim.args_max);
            if (v <= 0)
                return resp_done(p); /* an empty request: argc 0 */
            p->argc_want = (uint32_t)v;
            p->state = RESP_S_BULK_HEADER;
            break;
        case RESP_S_BULK_HEADER:
            if (p->scanned >= len)
                return -LUM_EAGAIN;
            if (buf[p->scanned] != '$') {
                snprintf(p->error, sizeof p->error, "expected '$', got '%c'",
                         buf[p->scanned] >= 32 && buf[p->scanned] < 127 ? buf[p->scanned]
                                                                        : '?');
                return -LUM_EMALFORMED;
            }
            if ((rv = resp_header(p, buf, len, "bulk", &v)) != 0)
                return rv;
            if (v < 0 || v > (long long)p->lim.bulk_max)
                return resp_fail(p, "invalid bulk length (the limit is %llu bytes)",
                                 p->lim.bulk_max);
            if ((uint64_t)p->scanned + (uint64_t)v + 2 > p->lim.request_max)
                return resp_fail(p, "request larger than %llu bytes", p->lim.request_max);
            p->bulk_len = (uint32_t)v;
            p->state = RESP_S_BULK;
            break;
        case RESP_S_BULK: {
            size_t end = (size_t)p->scanned + p->bulk_len;
            if (len < end + 2)
                return -LUM_EAGAIN;
            if (buf[end] != '\r' || buf[end + 1] != '\n')
                return resp_fail(p, "expected CRLF after a bulk of %llu bytes", p->bulk_len);
            if ((rv = resp_add_arg(p, p->scanned, p->bulk_len)) != 0)
                return rv;
            p->scanned = (uint32_t)(end + 2);
            if (p->argc == p->argc_want)
                return resp_done(p);
            p->state = RESP_S_BULK_HEADER;
            break;
        }
        default:
            LUM_ASSERT(0);
        }
    }
}

static bool resp_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits the line [0, end) into arguments. */
static int resp_split_inline(struct resp_parser *p, const uint8_t *buf, size_t end)
{
    size_t i = 0;
    for (;;) {
        while (i < end && resp_space(buf[i]))
            i++;
        if (i == end)
            return 0;
        size_t start = i, stop;
        if (buf[i] == '"' || buf[i] == '\'') {
            uint8_t q = buf[i];
            start = ++i;
            while (i < end && buf[i] != q)
                i++;
            if (i == end || (i + 1 < end && !resp_space(buf[i + 1]))) {
                snprintf(p->error, sizeof p->error, "unbalanced quotes in request");
                return -LUM_EMALFORMED;
            }
            stop = i++;
        } else {
            while (i < end && !resp_space(buf[i]))
                i++;
            stop = i;
        }
        int rv = resp_add_arg(p, (uint32_t)start, (uint32_t)(stop - start));
        if (rv != 0)
            return rv;
    }
}

static int resp_parse_inline(struct resp_parser *p, const uint8_t *buf, size_t len)
{
    const uint8_t *nl = memchr(buf + p->scanned, '\n', len - p->scanned);
    if (!nl) {
        if (len > p->lim.request_max)
            return resp_fail(p, "too big inline request (over %llu bytes)",
                             p->lim.request_max);
        p->scanned = (uint32_t)len;
        return -LUM_EAGAIN;
    }
    size_t end = (size_t)(nl - buf);
    if (end + 1 > p->lim.request_max)
        return resp_fail(p, "too big inline request (over %llu bytes)", p->lim.request_max);
    int rv = resp_split_inline(p, buf, end);
    if (rv != 0)
        return rv;
    p->scanned = (uint32_t)(end + 1);
    return resp_done(p);
}

int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len)
{
    if (p->state == RESP_S_START) {
        if (len == 0)
            return -LUM_EAGAIN;
        p->argc = 0;
        p->scanned = 0;
        p->error[0] = '\0';
        p->state = buf[0] == '*' ? RESP_S_ARGC : RESP_S_INLINE;
    }
    int rv = p->state == RESP_S_INLINE ? resp_parse_inline(p, buf, len)
                                       : resp_parse_multibulk(p, buf, len);
    if (rv < 0 && rv != -LUM_EAGAIN)
        p->state = RESP_S_START; /* p->error stays for the reply */
    return rv;
}

/* ---- replies ----------------------------------------------------------------------------------- */

static size_t resp_encode_line(uint8_t *buf, size_t cap, char type, const char *s)
{
    size_t n = strlen(s), size = n + 3;
    if (size > cap)
        return size;
    buf[0] = (uint8_t)type;
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = s[i] == '\r' || s[i] == '\n' ? ' ' : (uint8_t)s[i];
    buf[n + 1] = '\r';
    buf[n + 2] = '\n';
    return size;
}

size_t resp_encode_simple(uint8_t *buf, size_t cap, const char *s)
{
    return resp_encode_line(buf, cap, '+', s);
}

size_t resp_encode_error(uint8_t *buf, size_t cap, const char *msg)
{
    return resp_encode_line(buf, cap, '-', msg);
}

/* "<type><v>\r\n" */
static size_t resp_encode_number(uint8_t *buf, size_t cap, char type, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%c%lld\r\n", type, v);
    if ((size_t)n <= cap)
        memcpy(buf, tmp, (size_t)n);
    return (size_t)n;
}

size_t resp_encode_int(uint8_t *buf, size_t cap, int64_t v)
{
    return resp_encode_number(buf, cap, ':', (long long)v);
}

size_t resp_encode_bulk(uint8_t *buf, size_t cap, const void *data, size_t len)
{
    char head[32];
    int h = snprintf(head, sizeof head, "$%zu\r\n", len);
    size_t size = (size_t)h + len + 2;
    if (size > cap)
        return size;
    memcpy(buf, head, (size_t)h);
    if (len)
        memcpy(buf + h, data, len);
    buf[h + len] = '\r';
    buf[h + len + 1] = '\n';
    return size;
}

size_t resp_encode_null(uint8_t *buf, size_t cap)
{
    if (cap >= 5)
        memcpy(buf, "$-1\r\n", 5);
    return 5;
}

size_t resp_encode_array(uint8_t *buf, size_t cap, uint64_t count)
{
    return resp_encode_number(buf, cap, '*', (long long)count);
}
