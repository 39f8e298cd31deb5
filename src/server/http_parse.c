/* HTTP/1.x request heads (RFC 9112 §2-§5), as much as a GET-only endpoint needs: the request
 * line, header fields one per line, the empty line that ends them. A pure function of the
 * bytes: the connection code (http.c) calls it again on the whole buffer as more arrives,
 * which for heads of at most HTTP_HEAD_MAX bytes costs nothing worth a state machine.
 *
 * Lines end in CRLF; a bare LF is accepted too (RFC 9112 §2.2 allows it), a CR not followed
 * by LF is not. Empty lines before the request line are skipped (§2.2). Refused with 400: a
 * control character anywhere (but HTAB), a method that is not a token, a target that is not
 * origin-form, a version that is not HTTP/<digit>.<digit>, whitespace before a header's colon
 * (§5.1), a folded header line (obs-fold, §5.2), no Host or two of them in HTTP/1.1 (§3.2), a
 * Content-Length that is not a number. */
#include <string.h>
#include <strings.h>

#include "http_int.h"

#define HTTP_METHOD_LEN_MAX 32u

static bool http_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Control characters (and DEL) are never part of a head; HTAB is, inside header values. */
static bool http_is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool http_token_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* METHOD SP TARGET SP HTTP/D.D */
static int http_parse_request_line(const char *s, size_t n, struct http_request *out)
{
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i > HTTP_METHOD_LEN_MAX || i == n || s[i] != ' ')
        return HTTP_PARSE_BAD;
    out->method_text = s;
    out->method_len = i;
    if (i == 3 && memcmp(s, "GET", 3) == 0) /* methods are case-sensitive (RFC 9110 §9.1) */
        out->method = HTTP_METHOD_GET;
    else if (i == 4 && memcmp(s, "HEAD", 4) == 0)
        out->method = HTTP_METHOD_HEAD;
    else
        out->method = HTTP_METHOD_OTHER;
    size_t t = ++i;
    while (i < n && s[i] > 0x20 && s[i] < 0x7f)
        i++;
    if (i == t || i == n || s[i] != ' ' || s[t] != '/')
        return HTTP_PARSE_BAD;
    out->path = s + t;
    out->path_len = i - t;
    const char *q = memchr(out->path, '?', out->path_len);
    if (q)
        out->path_len = (size_t)(q - out->path);
    i++;
    const char *v = s + i;
    if (n - i != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return HTTP_PARSE_BAD;
    if (v[5] == '0')
        return HTTP_PARSE_BAD;
    if (v[5] != '1')
        return HTTP_PARSE_VERSION;
    out->version_minor = (unsigned)(v[7] - '0');
    return 0;
}

struct http_head_state {
    bool host, close, keep_alive;
};

/* "close" / "keep-alive" among a Connection header's comma-separated options. */
static void http_parse_connection(const char *v, size_t n, struct http_head_state *hs)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t t = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (http_token_is(v + t, i - t, "close"))
            hs->close = true;
        else if (http_token_is(v + t, i - t, "keep-alive"))
            hs->keep_alive = true;
    }
}

/* NAME ":" OWS VALUE OWS */
static int http_parse_header(const char *s, size_t n, struct http_request *out,
                             struct http_head_state *hs)
{
    if (n > 0 && (s[0] == ' ' || s[0] == '\t'))
        return HTTP_PARSE_BAD; /* obs-fold */
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ':')
        return HTTP_PARSE_BAD;
    const char *name = s;
    size_t name_len = i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *v = s + i;
    size_t vlen = n - i;
    if (++out->headers_count > HTTP_HEADERS_MAX)
        return HTTP_PARSE_TOO_LARGE;
    if (http_token_is(name, name_len, "host")) {
        if (hs->host)
            return HTTP_PARSE_BAD;
        hs->host = true;
    } else if (http_token_is(name, name_len, "connection")) {
        http_parse_connection(v, vlen, hs);
    } else if (http_token_is(name, name_len, "content-length")) {
        if (vlen == 0)
            return HTTP_PARSE_BAD;
        bool nonzero = false;
        for (size_t k = 0; k < vlen; k++) {
            if (v[k] < '0' || v[k] > '9')
                return HTTP_PARSE_BAD;
            nonzero |= v[k] != '0';
        }
        out->has_body |= nonzero;
    } else if (http_token_is(name, name_len, "transfer-encoding")) {
        out->has_body = true;
    }
    return 0;
}

/* A first line not yet complete: refuse it now if its method can never be a token. */
static int http_check_partial_method(const char *s, size_t n)
{
    for (size_t i = 0; i < n && i <= HTTP_METHOD_LEN_MAX; i++) {
        if (s[i] == ' ')
            return i == 0 ? HTTP_PARSE_BAD : HTTP_PARSE_MORE;
        if (!http_is_tchar((unsigned char)s[i]))
            return HTTP_PARSE_BAD;
    }
    return n > HTTP_METHOD_LEN_MAX ? HTTP_PARSE_BAD : HTTP_PARSE_MORE;
}

int http_parse_request(const char *buf, size_t len, struct http_request *out)
{
    memset(out, 0, sizeof *out);
    struct http_head_state hs = {0};
    size_t limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
    size_t i = 0;
    while (i < limit && (buf[i] == '\r' || buf[i] == '\n')) { /* empty lines first */
        if (buf[i] == '\r' && i + 1 < limit && buf[i + 1] != '\n')
            return HTTP_PARSE_BAD;
        i++;
    }
    size_t line_start = i;
    bool first = true;
    for (; i < limit; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') {
            if (i + 1 < limit && buf[i + 1] != '\n')
                return HTTP_PARSE_BAD;
            continue;
        }
        if (c != '\n') {
            if (http_is_ctl(c))
                return HTTP_PARSE_BAD;
            continue;
        }
        size_t end = i;
        if (end > line_start && buf[end - 1] == '\r')
            end--;
        const char *line = buf + line_start;
        size_t n = end - line_start;
        line_start = i + 1;
        int rv;
        if (first) {
            rv = http_parse_request_line(line, n, out);
            first = false;
        } else if (n == 0) { /* the end of the head */
            if (out->version_minor >= 1 && !hs.host)
                return HTTP_PARSE_BAD;
            out->keep_alive = out->version_minor >= 1 ? !hs.close : hs.keep_alive && !hs.close;
            return (int)(i + 1);
        } else {
            rv = http_parse_header(line, n, out, &hs);
        }
        if (rv != 0)
            return rv;
    }
    if (first) {
        int rv = http_check_partial_method(buf + line_start, limit - line_start);
        if (rv != HTTP_PARSE_MORE)
            return rv;
    }
    return len >= HTTP_HEAD_MAX ? HTTP_PARSE_TOO_LARGE : HTTP_PARSE_MORE;
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}
