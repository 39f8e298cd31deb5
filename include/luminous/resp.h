/* RESP2, the Redis protocol, as redis-cli and redis-benchmark speak it: an incremental
 * request parser and reply encoders. Pure: no I/O, no allocation but the parser's argument
 * table. The server's RESP listener (src/server/resp*.c) is built on it.
 *
 * Requests, as Redis accepts them:
 *   multibulk  *<argc>\r\n then argc x ($<len>\r\n<len bytes>\r\n)
 *              (argc <= 0: an empty request, skipped, as Redis does)
 *   inline     a line ending in \n (a \r before it is dropped), split on spaces and tabs;
 *              "..." and '...' group words, without escapes; an empty line is skipped
 * Replies: +simple\r\n  -error\r\n  :integer\r\n  $<len>\r\n<bytes>\r\n  $-1\r\n (null)
 *          *<count>\r\n followed by count replies. */
#ifndef LUMINOUS_RESP_H
#define LUMINOUS_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/base.h"

/* Bounds on what one request may make us hold. */
struct resp_limits {
    uint32_t args_max;    /* arguments in one request                            */
    uint32_t bulk_max;    /* bytes of one argument                               */
    uint32_t request_max; /* bytes of one whole request, headers included        */
};
#define RESP_ARGS_MAX_DEFAULT    1024u
#define RESP_REQUEST_MAX_DEFAULT (64u << 10)

/* One argument: offset and length relative to the request's first byte. Offsets rather
 * than pointers, because the input buffer may move between two calls. */
struct resp_arg {
    uint32_t off, len;
};

/* Progress through the request at the head of the caller's input, so one that arrives in
 * pieces is scanned once, whatever the pieces. */
struct resp_parser {
    struct resp_limits lim;
    uint8_t  state;         /* internal                                           */
    uint32_t scanned;       /* bytes of the request consumed by the scan so far   */
    uint32_t argc_want;     /* multibulk: the count announced                     */
    uint32_t bulk_len;      /* multibulk: the argument being read                 */
    uint32_t argc;          /* arguments found (complete after a request)         */
    struct resp_arg *args;  /* args_cap entries, grown on demand up to args_max   */
    uint32_t args_cap;
    char     error[96];     /* after -LUM_EMALFORMED: what was wrong, for the reply
                               "-ERR Protocol error: <error>"                      */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);
void resp_parser_free(struct resp_parser *p);

/* Parses the request at the start of buf (len bytes of unread input). Returns:
 *   > 0             a whole request of that many bytes: p->argc arguments in p->args,
 *                   relative to buf (argc 0: an empty request, skip it). The caller
 *                   consumes that many bytes; the next call starts a new request.
 *   -LUM_EAGAIN     need more bytes. Call again with the same start and more after it.
 *   -LUM_EMALFORMED not RESP, or over a limit: p->error says what. Answer it and close.
 *   -LUM_ENOMEM     the argument table could not grow.
 * After a request or an error, the parser starts afresh: the next call's buf begins where the
 * returned request ended (after an error, drop the connection). */
int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len);

/* ---- replies ----------------------------------------------------------------------------------
 * Each writes its reply to buf if it fits in cap and returns its length either way (as
 * snprintf), so the caller can size first (cap 0) or check. Simple strings and errors must
 * be one line: a \r or \n in them is written as a space. */
size_t resp_encode_simple(uint8_t *buf, size_t cap, const char *s);
size_t resp_encode_error(uint8_t *buf, size_t cap, const char *msg);
size_t resp_encode_int(uint8_t *buf, size_t cap, int64_t v);
size_t resp_encode_bulk(uint8_t *buf, size_t cap, const void *data, size_t len);
size_t resp_encode_null(uint8_t *buf, size_t cap);
/* The header of an array of count replies (the replies follow). */
size_t resp_encode_array(uint8_t *buf, size_t cap, uint64_t count);

#endif
