/* The HTTP endpoint's pure parts: the request parser (with random and truncated input),
 * the Prometheus text writer (checked by a strict line checker, itself tested on bad text),
 * the metrics' counter families, and the /health rule. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/server/server_int.h"
#include "prom_check.h"

static int parse(const char *text, struct http_request *rq)
{
    return http_parse_request(text, strlen(text), rq);
}

/* ---- the request parser ---------------------------------------------------------------------- */

Test(http_parse, reads_a_get_with_its_path_and_keep_alive)
{
    const char *req = "GET /metrics HTTP/1.1\r\nHost: a:1\r\nAccept: */*\r\n\r\n";
    struct http_request rq;
    cr_assert_eq(parse(req, &rq), (int)strlen(req));
    cr_assert_eq(rq.method, HTTP_METHOD_GET);
    cr_assert_eq(rq.path_len, 8);
    cr_assert_eq(memcmp(rq.path, "/metrics", 8), 0);
    cr_assert_eq(rq.version_minor, 1);
    cr_assert(rq.keep_alive);
    cr_assert_not(rq.has_body);
    cr_assert_eq(rq.headers_count, 2);
}

Test(http_parse, drops_the_query_and_stops_at_the_first_request)
{
    const char *req = "HEAD /health?verbose=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n";
    struct http_request rq;
    int n = parse(req, &rq);
    cr_assert_eq(n, (int)(strstr(req, "GET") - req));
    cr_assert_eq(rq.method, HTTP_METHOD_HEAD);
    cr_assert_eq(rq.path_len, 7);
    cr_assert_eq(memcmp(rq.path, "/health", 7), 0);
}

Test(http_parse, keep_alive_follows_the_version_and_the_connection_header)
{
    struct http_request rq;
    cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n", &rq), 0); /* 1.0 needs no Host */
    cr_assert_not(rq.keep_alive);
    cr_assert_gt(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq), 0);
    cr_assert(rq.keep_alive);
    cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &rq), 0);
    cr_assert_not(rq.keep_alive);
    cr_assert_gt(parse("GET / HTTP/1.1\nHost: a\n\n", &rq), 0); /* bare LF lines */
    cr_assert(rq.keep_alive);
    cr_assert_gt(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &rq), 0); /* leading CRLFs */
}

Test(http_parse, other_methods_are_parsed_for_a_405)
{
    struct http_request rq;
    cr_assert_gt(parse("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", &rq), 0);
    cr_assert_eq(rq.method, HTTP_METHOD_OTHER);
    cr_assert_eq(rq.method_len, 4);
    cr_assert(rq.has_body);
    cr_assert_gt(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &rq), 0); /* case-sensitive */
    cr_assert_eq(rq.method, HTTP_METHOD_OTHER);
    cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n", &rq), 0);
    cr_assert_not(rq.has_body);
    cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &rq), 0);
    cr_assert(rq.has_body);
}

Test(http_parse, refuses_what_is_not_http_1)
{
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", HTTP_PARSE_BAD},                          /* no Host     */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_PARSE_BAD},    /* two Hosts   */
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_PARSE_BAD},              /* space, colon*/
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP_PARSE_BAD},    /* obs-fold    */
        {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", HTTP_PARSE_BAD},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", HTTP_PARSE_BAD},
        {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", HTTP_PARSE_BAD},
        {"GET / HTTP/0.9\r\n\r\n", HTTP_PARSE_BAD},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTP_PARSE_VERSION},
        {"GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_BAD},          /* not origin  */
        {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_BAD},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_BAD},              /* two spaces  */
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_BAD},           /* control     */
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", HTTP_PARSE_BAD},                 /* CR alone    */
        {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", HTTP_PARSE_BAD},           /* DEL         */
        {"\x16\x03\x01\x02", HTTP_PARSE_BAD},          /* a TLS hello: refused before its end */
        {"G(T", HTTP_PARSE_BAD},
        {" GET / HTTP/1.1", HTTP_PARSE_BAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_request rq;
        cr_expect_eq(parse(cases[i].text, &rq), cases[i].want, "case %zu: %s", i, cases[i].text);
    }
}

Test(http_parse, every_prefix_of_a_request_asks_for_more)
{
    const char *req = "GET /status HTTP/1.1\r\nHost: localhost:9000\r\nUser-Agent: t/1\r\n"
                      "Connection: keep-alive\r\n\r\n";
    size_t len = strlen(req);
    for (size_t k = 0; k < len; k++) {
        char *buf = malloc(k ? k : 1); /* exact size: a read past it is a heap overflow */
        memcpy(buf, req, k);
        struct http_request rq;
        cr_assert_eq(http_parse_request(buf, k, &rq), HTTP_PARSE_MORE, "prefix of %zu bytes", k);
        free(buf);
    }
    struct http_request rq;
    cr_assert_eq(http_parse_request(req, len, &rq), (int)len);
}

Test(http_parse, a_head_over_the_limit_is_too_large)
{
    char *buf = malloc(HTTP_HEAD_MAX + 64);
    int n = snprintf(buf, HTTP_HEAD_MAX, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    memset(buf + n, 'a', HTTP_HEAD_MAX + 64 - (size_t)n);
    struct http_request rq;
    cr_assert_eq(http_parse_request(buf, HTTP_HEAD_MAX - 1, &rq), HTTP_PARSE_MORE);
    cr_assert_eq(http_parse_request(buf, HTTP_HEAD_MAX, &rq), HTTP_PARSE_TOO_LARGE);
    cr_assert_eq(http_parse_request(buf, HTTP_HEAD_MAX + 64, &rq), HTTP_PARSE_TOO_LARGE);
    free(buf);

    struct strbuf b;
    strbuf_init(&b, 0);
    strbuf_printf(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (uint32_t i = 0; i < HTTP_HEADERS_MAX; i++)
        strbuf_printf(&b, "X-%u: 1\r\n", i);
    strbuf_printf(&b, "\r\n");
    cr_assert_eq(http_parse_request(b.data, b.len, &rq), HTTP_PARSE_TOO_LARGE);
    strbuf_free(&b);
}

/* xorshift64*: the fuzz below replays exactly. */
static uint64_t fuzz_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Parses buf[0..len) from an exact-size copy and checks what any answer must satisfy. */
static int fuzz_parse(const char *src, size_t len)
{
    char *buf = malloc(len ? len : 1);
    memcpy(buf, src, len);
    struct http_request rq;
    int rv = http_parse_request(buf, len, &rq);
    if (rv > 0) {
        cr_assert_leq((size_t)rv, len);
        cr_assert_leq((size_t)rv, HTTP_HEAD_MAX);
        cr_assert(rq.method >= HTTP_METHOD_GET && rq.method <= HTTP_METHOD_OTHER);
        cr_assert(rq.path >= buf && rq.path + rq.path_len <= buf + rv);
        cr_assert(rq.path_len > 0 && rq.path[0] == '/');
        cr_assert(rq.method_len > 0 && rq.method_text >= buf);
    } else {
        cr_assert(rv == HTTP_PARSE_MORE || rv == HTTP_PARSE_BAD || rv == HTTP_PARSE_TOO_LARGE ||
                  rv == HTTP_PARSE_VERSION, "unexpected %d", rv);
    }
    free(buf);
    return rv;
}

/* Once a prefix of the input gets an answer (a request, or an error), every longer prefix
 * gets the same one: more bytes never change what was already decided. */
static void fuzz_check_prefixes(const char *buf, size_t len)
{
    int decided = HTTP_PARSE_MORE;
    for (size_t k = 0; k <= len; k++) {
        int rv = fuzz_parse(buf, k);
        if (decided != HTTP_PARSE_MORE)
            cr_assert_eq(rv, decided, "prefix %zu: %d after %d", k, rv, decided);
        decided = rv;
    }
}

Test(http_parse, survives_random_and_mutated_input, .timeout = 120)
{
    static const char *const pieces[] = {
        "GET", "HEAD", "POST", " ", "/", "/metrics", "?a=b", " HTTP/1.1", " HTTP/1.0",
        " HTTP/2.0", "\r\n", "\n", "\r", "Host: a", "Host:", ":", "Connection: close",
        "Content-Length: 0", "Content-Length: 12", "\t", "\x00", "\x7f", "\xff", "x", ",",
    };
    const char *valid = "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char buf[512];
    uint32_t requests = 0, bads = 0;
    for (int iter = 0; iter < 100000; iter++) {
        size_t len = 0;
        uint64_t kind = fuzz_next(&seed) % 3;
        if (kind == 0) { /* random bytes */
            len = fuzz_next(&seed) % sizeof buf;
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)fuzz_next(&seed);
        } else if (kind == 1) { /* random pieces of HTTP */
            uint64_t n = fuzz_next(&seed) % 24;
            for (uint64_t i = 0; i < n; i++) {
                const char *p = pieces[fuzz_next(&seed) % (sizeof pieces / sizeof pieces[0])];
                size_t pl = p[0] ? strlen(p) : 1;
                if (len + pl > sizeof buf)
                    break;
                memcpy(buf + len, p, pl);
                len += pl;
            }
        } else { /* a valid request with a few bytes changed, inserted or removed */
            len = strlen(valid);
            memcpy(buf, valid, len);
            uint64_t edits = 1 + fuzz_next(&seed) % 3;
            for (uint64_t e = 0; e < edits && len > 0; e++) {
                size_t at = fuzz_next(&seed) % len;
                uint64_t op = fuzz_next(&seed) % 3;
                if (op == 0) {
                    buf[at] = (char)fuzz_next(&seed);
                } else if (op == 1 && len < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (char)fuzz_next(&seed);
                    len++;
                } else {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        int rv = fuzz_parse(buf, len);
        requests += rv > 0;
        bads += rv == HTTP_PARSE_BAD;
        if (iter % 16 == 0)
            fuzz_check_prefixes(buf, len);
    }
    /* the generator reaches both sides of the parser */
    cr_assert_gt(requests, 500);
    cr_assert_gt(bads, 5000);
}

/* ---- the Prometheus text writer -------------------------------------------------------------- */

static void assert_valid_prom(const struct strbuf *b)
{
    char err[512];
    cr_assert_not(b->failed);
    cr_assert_eq(prom_check_text(b->data, b->len, err, sizeof err), 0, "%s\n---\n%s", err,
                 b->data);
}

Test(prom, escapes_help_text_and_label_values)
{
    struct strbuf b;
    strbuf_init(&b, 0);
    prom_family(&b, "luminous_x_total", "counter", "a \\ back\nslash");
    struct prom_label l[] = {{"peer", "a\"b\\c\nd"}, {"kind", "ok"}};
    prom_sample_u64(&b, "luminous_x_total", l, 2, 7);
    cr_assert_str_eq(b.data, "# HELP luminous_x_total a \\\\ back\\nslash\n"
                             "# TYPE luminous_x_total counter\n"
                             "luminous_x_total{peer=\"a\\\"b\\\\c\\nd\",kind=\"ok\"} 7\n");
    assert_valid_prom(&b);
    strbuf_free(&b);
}

Test(prom, writes_floats_nan_and_infinities)
{
    struct strbuf b;
    strbuf_init(&b, 0);
    prom_family(&b, "g", "gauge", "h");
    struct prom_label l = {"v", "a"};
    prom_sample_f64(&b, "g", &l, 1, 0.25);
    l.value = "b";
    prom_sample_f64(&b, "g", &l, 1, NAN);
    l.value = "c";
    prom_sample_f64(&b, "g", &l, 1, INFINITY);
    l.value = "d";
    prom_sample_f64(&b, "g", &l, 1, -INFINITY);
    l.value = "e";
    prom_sample_f64(&b, "g", &l, 1, 1e-7);
    cr_assert(strstr(b.data, "g{v=\"a\"} 0.25\n"));
    cr_assert(strstr(b.data, "g{v=\"b\"} NaN\n"));
    cr_assert(strstr(b.data, "g{v=\"c\"} +Inf\n"));
    cr_assert(strstr(b.data, "g{v=\"d\"} -Inf\n"));
    cr_assert(strstr(b.data, "g{v=\"e\"} 1e-07\n"));
    assert_valid_prom(&b);
    strbuf_free(&b);
}

Test(prom, histogram_buckets_are_cumulative_and_end_at_inf)
{
    static const double bounds[] = {0.5, 1, 2};
    struct prom_hist h;
    prom_hist_init(&h, bounds, 3);
    double obs[] = {0.1, 0.5, 0.7, 3, 9, 1};
    for (size_t i = 0; i < 6; i++)
        prom_hist_observe(&h, obs[i]);
    struct strbuf b;
    strbuf_init(&b, 0);
    prom_histogram(&b, "luminous_t_seconds", "t", &h);
    cr_assert_str_eq(b.data, "# HELP luminous_t_seconds t\n"
                             "# TYPE luminous_t_seconds histogram\n"
                             "luminous_t_seconds_bucket{le=\"0.5\"} 2\n"
                             "luminous_t_seconds_bucket{le=\"1\"} 4\n"
                             "luminous_t_seconds_bucket{le=\"2\"} 4\n"
                             "luminous_t_seconds_bucket{le=\"+Inf\"} 6\n"
                             "luminous_t_seconds_sum 14.3\n"
                             "luminous_t_seconds_count 6\n");
    assert_valid_prom(&b);
    strbuf_free(&b);
}

Test(prom, strbuf_stops_at_its_limit)
{
    struct strbuf b;
    strbuf_init(&b, 64);
    for (int i = 0; i < 100; i++)
        strbuf_printf(&b, "line %d\n", i);
    cr_assert(b.failed);
    cr_assert_leq(b.len, 64);
    strbuf_free(&b);
    strbuf_init(&b, 0);
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    strbuf_printf(&b, "%s|%s", big, big); /* longer than printf's stack buffer */
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, 2 * (sizeof big - 1) + 1);
    cr_assert_eq(b.data[sizeof big - 1], '|');
    strbuf_free(&b);
}

Test(prom, server_counters_are_valid_text)
{
    struct server_metrics m;
    metrics_init(&m);
    metrics_request(&m, METRICS_REQ_COMMAND);
    metrics_request(&m, METRICS_REQ_QUERY_STALE);
    metrics_proposal(&m, 0);
    metrics_proposal(&m, -LUM_ENOTLEADER);
    metrics_outcome(&m, METRICS_OUT_APPLIED);
    metrics_fsync(&m, 1500000);       /* 1.5 ms */
    metrics_fsync(&m, 5000000000ull); /* 5 s: above every bound */
    metrics_append_batch(&m, 64);
    metrics_snapshot_started(&m);
    metrics_snapshot_done(&m, true);
    metrics_http_response(&m, 404);
    metrics_http_response(&m, 302); /* not one we name: "other" */
    struct strbuf b;
    strbuf_init(&b, 0);
    metrics_render_counters(&m, &b);
    assert_valid_prom(&b);
    cr_assert(strstr(b.data, "luminous_client_requests_total{type=\"command\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_client_requests_total{type=\"query_stale\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_proposals_total{result=\"not_leader\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_proposal_outcomes_total{outcome=\"applied\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_fsync_duration_seconds_bucket{le=\"0.001\"} 0\n"));
    cr_assert(strstr(b.data, "luminous_fsync_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_fsync_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    cr_assert(strstr(b.data, "luminous_append_batch_entries_bucket{le=\"32\"} 0\n"));
    cr_assert(strstr(b.data, "luminous_append_batch_entries_bucket{le=\"64\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_snapshots_total{result=\"ok\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_snapshot_duration_seconds_count 1\n"));
    cr_assert(strstr(b.data, "luminous_http_responses_total{code=\"404\"} 1\n"));
    cr_assert(strstr(b.data, "luminous_http_responses_total{code=\"other\"} 1\n"));
    strbuf_free(&b);
}

/* The checker must refuse what it is there to catch, or the tests above prove nothing. */
Test(prom_check, refuses_invalid_text)
{
    static const char *const bad[] = {
        "x 1",                                                          /* no newline      */
        "x 1\n",                                                        /* no TYPE         */
        "# TYPE x gauge\n\nx 1\n",                                      /* empty line      */
        "# TYPE x gauge\n# just a comment\nx 1\n",
        "# TYPE x gauge\nx 1.2.3\n",
        "# TYPE x gauge\nx inf\n",
        "# TYPE x gauge\nx 0x10\n",
        "# TYPE x gauge\nx{a=\"b\"c=\"d\"} 1\n",
        "# TYPE x gauge\nx{a=\"b\\q\"} 1\n",                           /* bad escape      */
        "# TYPE x gauge\nx{a=\"b} 1\n",
        "# TYPE x gauge\nx{1a=\"b\"} 1\n",
        "# TYPE x gauge\nx{__a=\"b\"} 1\n",
        "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",
        "# TYPE x gauge\nx 1\nx 2\n",                                  /* series twice    */
        "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
        "# TYPE x nonsense\nx 1\n",
        "# TYPE x_total counter\nx_total -1\n",
        "# TYPE x counter\nx 1\n",                                      /* no _total       */
        "# TYPE 1x gauge\n1x 1\n",
        "# TYPE x gauge\ny 1\n",                                        /* outside family  */
        "# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n",                   /* family split    */
        "# HELP x a\\tb\n# TYPE x gauge\nx 1\n",
        "# HELP x a\n# HELP x b\n# TYPE x gauge\nx 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
        "h_count 1\n",                                                  /* not cumulative  */
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n",                                         /* le descending   */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", /* no +Inf       */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", /* +Inf!=count */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",     /* no _sum         */
        "# TYPE h histogram\nh 2\n",
        "# TYPE x gauge\nx 1 12.5\n",                                   /* bad timestamp   */
        "# TYPE x gauge\nx\t1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256];
        cr_expect_neq(prom_check_text(bad[i], strlen(bad[i]), err, sizeof err), 0,
                      "case %zu accepted:\n%s", i, bad[i]);
    }
    const char *good = "# HELP h a \\\\ b\\n\n# TYPE h histogram\n"
                       "h_bucket{x=\"1\",le=\"0.5\"} 1\nh_bucket{x=\"1\",le=\"+Inf\"} 2\n"
                       "h_sum{x=\"1\"} 3\nh_count{x=\"1\"} 2\n"
                       "h_bucket{x=\"2\",le=\"+Inf\"} 0\nh_sum{x=\"2\"} 0\nh_count{x=\"2\"} 0\n"
                       "# TYPE g gauge\ng{a=\"q\\\"\"} -1.5e3 1700000000000\ng{a=\"b\"} NaN\n";
    char err[256];
    cr_assert_eq(prom_check_text(good, strlen(good), err, sizeof err), 0, "%s", err);
}

/* ---- /health --------------------------------------------------------------------------------- */

static struct health_input healthy_follower(void)
{
    return (struct health_input){
        .leader = false, .leader_id = 2, .commit_index = 10, .applied_index = 10,
        .now_ms = 100000, .leader_heard_ms = 99900, .leader_heard_from = 2,
        .election_timeout_ms = 500,
    };
}

Test(health, ok_when_following_a_live_leader_and_caught_up)
{
    struct health_input in = healthy_follower();
    char why[128];
    cr_assert(health_check(&in, why, sizeof why));
    cr_assert_str_eq(why, "ok");
    in = (struct health_input){.leader = true, .leader_id = 1, .commit_index = 5,
                               .applied_index = 5, .now_ms = 7};
    cr_assert(health_check(&in, why, sizeof why), "%s", why); /* a leader hears itself */
}

Test(health, says_why_when_not)
{
    char why[128];
    struct health_input in = healthy_follower();
    in.leader_id = 0;
    cr_assert_not(health_check(&in, why, sizeof why));
    cr_assert_str_eq(why, "no leader");

    in = healthy_follower();
    in.applied_index = 7;
    cr_assert_not(health_check(&in, why, sizeof why));
    cr_assert_str_eq(why, "applying: 3 entries behind");

    in = healthy_follower();
    in.leader_heard_ms = in.now_ms - 501;
    cr_assert_not(health_check(&in, why, sizeof why));
    cr_assert_str_eq(why, "no contact with leader 2 for 501 ms");

    in = healthy_follower();
    in.leader_heard_from = 3; /* the last we heard was the old leader */
    cr_assert_not(health_check(&in, why, sizeof why));
    cr_assert_str_eq(why, "no contact with leader 2 yet");

    in = healthy_follower();
    in.nospace = true;
    cr_assert_not(health_check(&in, why, sizeof why));
    cr_assert_str_eq(why, "disk full: the log cannot be written");
}
