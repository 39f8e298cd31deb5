/* The HTTP endpoint's pieces that need no server: the request parser (http_parse.c), the
 * Prometheus text writer (prom.c) and the /health rule (health.c). All pure, so the unit
 * tests (tests/unit/test_http.c) drive them with any bytes they like. */
#ifndef LUMINOUS_SERVER_HTTP_INT_H
#define LUMINOUS_SERVER_HTTP_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---------------------------------------------------------------------------------- */

#define HTTP_HEAD_MAX         8192u  /* request line + headers; more is answered 431       */
#define HTTP_HEADERS_MAX      64u    /* header lines in one request; more is answered 431   */
#define HTTP_CONNS_MAX        64u    /* HTTP connections at once; more are refused (503)    */
#define HTTP_OUT_MAX          (4u << 20) /* answers queued to one connection                */
#define HTTP_OUT_PAUSE        (64u << 10) /* queued bytes over this: stop reading requests   */
/* A connection must finish each request (and, kept alive, send the next) this soon after
 * the last answer or its accept: a client that trickles bytes (slowloris) is cut here too,
 * since the clock is not reset by partial input. */
#define HTTP_IDLE_TIMEOUT_MS  5000u
/* After the last answer of a connection we close, input is read and dropped this long, so
 * the client reads the answer before the close can turn into a reset (lingering close). */
#define HTTP_LINGER_MS        2000u

/* ---- the request parser (http_parse.c) ---------------------------------------------------------
 * Only what a GET needs: request line, headers, no body. The returned pointers point into the
 * caller's buffer. */
enum http_method { HTTP_METHOD_GET = 1, HTTP_METHOD_HEAD, HTTP_METHOD_OTHER };

enum http_parse_error {
    HTTP_PARSE_MORE = 0,          /* no end of the head yet, and nothing wrong so far          */
    HTTP_PARSE_BAD = -400,        /* not HTTP/1.x: answer 400 and close                        */
    HTTP_PARSE_TOO_LARGE = -431,  /* head over HTTP_HEAD_MAX or HTTP_HEADERS_MAX               */
    HTTP_PARSE_VERSION = -505,    /* HTTP/2 or later in an HTTP/1 request line                 */
};

struct http_request {
    enum http_method method;
    const char *method_text;      /* the token as sent, method_len bytes                      */
    size_t      method_len;
    const char *path;             /* the target up to '?' (origin form: starts with '/')      */
    size_t      path_len;
    unsigned    version_minor;    /* HTTP/1.<minor>                                           */
    bool        keep_alive;       /* HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive" */
    bool        has_body;         /* Content-Length > 0 or a Transfer-Encoding: we refuse it  */
    uint32_t    headers_count;
};

/* Parses the head of the first request in buf[0..len). Returns its length (> 0: the request
 * is complete and out is filled), HTTP_PARSE_MORE, or a negated status (enum above). Never
 * reads past len; any bytes are safe. Bytes that can never become a valid head (a control
 * character, a bad method token) are refused at once, without waiting for the end. */
int http_parse_request(const char *buf, size_t len, struct http_request *out);

/* The reason phrase of the statuses we send ("OK", "Not Found", ...). */
const char *http_reason(int status);

/* ---- a growing text buffer ------------------------------------------------------------------- */

struct strbuf {
    char  *data;                  /* NUL-terminated while !failed                             */
    size_t len, cap;
    size_t max;                   /* 0: no limit                                              */
    bool   failed;                /* out of memory or over max: the text is incomplete        */
};

void strbuf_init(struct strbuf *b, size_t max);
void strbuf_free(struct strbuf *b);
void strbuf_add(struct strbuf *b, const char *s, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the Prometheus text format 0.0.4 (prom.c) ----------------------------------------------- */

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_HIST_BOUNDS_MAX 24u

struct prom_label {
    const char *name, *value;     /* value is escaped on output (\\, \", \n)                   */
};

/* A histogram with fixed upper bounds (ascending); counts per bucket, not cumulative: the
 * writer sums them. buckets[n_bounds] counts what is above the last bound. */
struct prom_hist {
    const double *bounds;
    uint32_t      n_bounds;
    uint64_t      buckets[PROM_HIST_BOUNDS_MAX + 1];
    uint64_t      count;
    double        sum;
};

void prom_hist_init(struct prom_hist *h, const double *bounds, uint32_t n_bounds);
void prom_hist_observe(struct prom_hist *h, double v);

/* "# HELP name help" (help escaped) and "# TYPE name type" (counter, gauge, histogram). */
void prom_family(struct strbuf *b, const char *name, const char *type, const char *help);
/* One sample: name{labels} value. */
void prom_sample_u64(struct strbuf *b, const char *name, const struct prom_label *labels,
                     size_t n_labels, uint64_t v);
void prom_sample_f64(struct strbuf *b, const char *name, const struct prom_label *labels,
                     size_t n_labels, double v);
/* A whole histogram family: HELP, TYPE, name_bucket{le=...} (cumulative, +Inf last),
 * name_sum, name_count. */
void prom_histogram(struct strbuf *b, const char *name, const char *help,
                    const struct prom_hist *h);

/* ---- /health (health.c) ---------------------------------------------------------------------- */

struct health_input {
    bool     leader;              /* this node is the leader                                  */
    uint64_t leader_id;           /* the leader it knows; 0: none                             */
    uint64_t commit_index, applied_index;
    bool     nospace;             /* the log could not be written: disk full                  */
    uint64_t now_ms;              /* monotonic                                                */
    uint64_t leader_heard_ms;     /* monotonic: the last APPEND/HEARTBEAT from ...            */
    uint64_t leader_heard_from;   /* ... this node                                            */
    uint64_t election_timeout_ms; /* election_ticks x tick_ms                                 */
};

/* Whether the node is fit to serve: it knows a leader and has applied all it knows to be
 * committed; a follower must also have heard from that leader within the election timeout
 * (a leader without a quorum's contact steps down by itself: check_quorum). When not, a
 * one-line reason goes to reason (cap bytes). */
bool health_check(const struct health_input *in, char *reason, size_t cap);

#endif
