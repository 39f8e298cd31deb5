/* The RESP2 parser and reply encoders: whole and split requests (at every byte), pipelines,
 * inline commands, every limit, every malformed-input message, and exact reply bytes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/resp.h"

static const struct resp_limits limits = {.args_max = 8, .bulk_max = 64, .request_max = 256};

/* Parses a whole buffer (exactly one request) with a fresh parser; returns the result. */
static int parse_once(struct resp_parser *p, const char *text)
{
    resp_parser_init(p, &limits);
    return resp_parse(p, (const uint8_t *)text, strlen(text));
}

static void expect_args(const struct resp_parser *p, const char *buf, uint32_t argc,
                        const char *const *want)
{
    cr_assert_eq(p->argc, argc, "argc %u, expected %u", p->argc, argc);
    for (uint32_t i = 0; i < argc; i++) {
        cr_assert_eq(p->args[i].len, strlen(want[i]), "arg %u length", i);
        cr_assert(memcmp(buf + p->args[i].off, want[i], p->args[i].len) == 0,
                  "arg %u is \"%.*s\", expected \"%s\"", i, (int)p->args[i].len,
                  buf + p->args[i].off, want[i]);
    }
}

Test(resp, parses_a_whole_multibulk_request)
{
    struct resp_parser p;
    const char *req = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    cr_assert_eq(parse_once(&p, req), (int)strlen(req));
    expect_args(&p, req, 3, (const char *[]){"SET", "k", "value"});
    resp_parser_free(&p);
}

Test(resp, bulk_arguments_are_binary_safe)
{
    struct resp_parser p;
    const char req[] = "*2\r\n$3\r\nGET\r\n$4\r\na\r\n\0\r\n";
    resp_parser_init(&p, &limits);
    cr_assert_eq(resp_parse(&p, (const uint8_t *)req, sizeof req - 1), (int)sizeof req - 1);
    cr_assert_eq(p.argc, 2);
    cr_assert_eq(p.args[1].len, 4);
    cr_assert(memcmp(req + p.args[1].off, "a\r\n\0", 4) == 0);
    resp_parser_free(&p);
}

/* A pipeline of requests fed one byte more at a time, as the slowest network would: each
 * prefix short of a whole request says "need more", and each request comes out whole at
 * exactly its last byte, with the same arguments as when it came in one piece. */
Test(resp, a_pipeline_split_at_every_byte_parses_the_same)
{
    const char *reqs[] = {
        "*1\r\n$4\r\nPING\r\n",
        "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n",
        "GET   key\r\n",
        "\r\n",
        "*0\r\n",
        "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n",
        "echo 'two words' \"and more\"\n",
    };
    char pipeline[1024] = "";
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++)
        strcat(pipeline, reqs[i]);
    struct resp_parser p;
    resp_parser_init(&p, &limits);
    size_t start = 0, total = strlen(pipeline), seen = 0;
    for (size_t end = start + 1; end <= total; end++) {
        int rv = resp_parse(&p, (const uint8_t *)pipeline + start, end - start);
        size_t want = strlen(reqs[seen]);
        if (end - start < want) {
            cr_assert_eq(rv, -LUM_EAGAIN, "request %zu, %zu of %zu bytes: %d", seen,
                         end - start, want, rv);
            continue;
        }
        cr_assert_eq(rv, (int)want, "request %zu: %d, expected %zu", seen, rv, want);
        struct resp_parser whole;
        cr_assert_eq(parse_once(&whole, reqs[seen]), (int)want);
        cr_assert_eq(p.argc, whole.argc);
        for (uint32_t a = 0; a < p.argc; a++) {
            cr_assert_eq(p.args[a].off, whole.args[a].off);
            cr_assert_eq(p.args[a].len, whole.args[a].len);
        }
        resp_parser_free(&whole);
        start = end;
        seen++;
    }
    cr_assert_eq(seen, sizeof reqs / sizeof *reqs);
    resp_parser_free(&p);
}

Test(resp, inline_commands_split_on_blanks_and_group_quotes)
{
    struct resp_parser p;
    const char *req = "  set\tk  \"hello world\" 'x y'\r\n";
    cr_assert_eq(parse_once(&p, req), (int)strlen(req));
    expect_args(&p, req, 4, (const char *[]){"set", "k", "hello world", "x y"});
    resp_parser_free(&p);

    const char *bare = "PING\n"; /* \n alone ends a line too */
    cr_assert_eq(parse_once(&p, bare), 5);
    expect_args(&p, bare, 1, (const char *[]){"PING"});
    resp_parser_free(&p);
}

Test(resp, empty_requests_are_skipped_with_no_arguments)
{
    struct resp_parser p;
    cr_assert_eq(parse_once(&p, "\r\n"), 2);
    cr_assert_eq(p.argc, 0);
    cr_assert_eq(parse_once(&p, "*0\r\n"), 4);
    cr_assert_eq(p.argc, 0);
    cr_assert_eq(parse_once(&p, "*-1\r\n"), 5);
    cr_assert_eq(p.argc, 0);
    resp_parser_free(&p);
}

static void expect_malformed(const char *req, const char *error)
{
    struct resp_parser p;
    cr_assert_eq(parse_once(&p, req), -LUM_EMALFORMED, "\"%s\" was accepted", req);
    cr_assert_str_eq(p.error, error);
    resp_parser_free(&p);
}

Test(resp, malformed_requests_say_what_is_wrong)
{
    expect_malformed("*2\r\n:1\r\n", "expected '$', got ':'");
    expect_malformed("*x\r\n", "invalid multibulk length");
    expect_malformed("*\r\n", "invalid multibulk length");
    expect_malformed("*1\r\n$-3\r\n", "invalid bulk length (the limit is 64 bytes)");
    expect_malformed("*1\r\n$1x\r\n", "invalid bulk length");
    expect_malformed("*1\r\n$3\r\nabcd\r\n", "expected CRLF after a bulk of 3 bytes");
    expect_malformed("*1\r\n$1234567890123456789012345678901234567890\r\n",
                     "invalid bulk length");
    expect_malformed("*1234567890123456789012345678901234567890", "invalid multibulk length");
    expect_malformed("*1\r\n$1\rx", "invalid bulk length");
    expect_malformed("get \"k\n", "unbalanced quotes in request");
    expect_malformed("get \"k\"x\n", "unbalanced quotes in request");
}

/* Limits are enforced from the header alone: nothing is waited for or buffered first. */
Test(resp, limits_are_checked_as_soon_as_the_header_is_in)
{
    expect_malformed("*9\r\n", "invalid multibulk length (more than 8 arguments)");
    expect_malformed("*1\r\n$65\r\n", "invalid bulk length (the limit is 64 bytes)");
    /* 4 bulks of 64 bytes are each allowed, together over the 256-byte request limit */
    char req[512] = "*4\r\n";
    char bulk[80];
    memset(bulk, 'v', 64);
    bulk[64] = '\0';
    for (int i = 0; i < 3; i++)
        sprintf(req + strlen(req), "$64\r\n%s\r\n", bulk);
    strcat(req, "$64\r\n");
    expect_malformed(req, "request larger than 256 bytes");
    /* an inline line with no end is refused once it passes the request limit */
    char line[300];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    expect_malformed(line, "too big inline request (over 256 bytes)");
    /* and as many inline words as arguments allowed */
    expect_malformed("a b c d e f g h i\n", "more than 8 arguments");
    struct resp_parser p;
    cr_assert_eq(parse_once(&p, "a b c d e f g h\n"), 16);
    cr_assert_eq(p.argc, 8);
    resp_parser_free(&p);
}

Test(resp, a_partial_request_needs_more)
{
    const char *partial[] = {"*", "*2", "*2\r", "*2\r\n$", "*2\r\n$3\r\nGE",
                             "*2\r\n$3\r\nGET\r", "PING", "PING\r"};
    for (size_t i = 0; i < sizeof partial / sizeof *partial; i++) {
        struct resp_parser p;
        cr_assert_eq(parse_once(&p, partial[i]), -LUM_EAGAIN, "\"%s\"", partial[i]);
        resp_parser_free(&p);
    }
}

static void expect_bytes(const uint8_t *buf, size_t n, const char *want)
{
    cr_assert_eq(n, strlen(want), "length %zu, expected %zu", n, strlen(want));
    cr_assert(memcmp(buf, want, n) == 0, "\"%.*s\", expected \"%s\"", (int)n, buf, want);
}

Test(resp, encoders_write_exact_replies)
{
    uint8_t buf[64];
    expect_bytes(buf, resp_encode_simple(buf, sizeof buf, "OK"), "+OK\r\n");
    expect_bytes(buf, resp_encode_error(buf, sizeof buf, "ERR bad\r\nthing"),
                 "-ERR bad  thing\r\n");
    expect_bytes(buf, resp_encode_int(buf, sizeof buf, -42), ":-42\r\n");
    expect_bytes(buf, resp_encode_int(buf, sizeof buf, INT64_MIN),
                 ":-9223372036854775808\r\n");
    expect_bytes(buf, resp_encode_bulk(buf, sizeof buf, "a\r\nb", 4), "$4\r\na\r\nb\r\n");
    expect_bytes(buf, resp_encode_bulk(buf, sizeof buf, NULL, 0), "$0\r\n\r\n");
    expect_bytes(buf, resp_encode_null(buf, sizeof buf), "$-1\r\n");
    expect_bytes(buf, resp_encode_array(buf, sizeof buf, 3), "*3\r\n");
}

Test(resp, encoders_say_the_size_and_write_nothing_when_it_does_not_fit)
{
    uint8_t buf[8];
    memset(buf, 'z', sizeof buf);
    cr_assert_eq(resp_encode_bulk(buf, 8, "0123456789", 10), 17);
    cr_assert_eq(resp_encode_simple(buf, 4, "OK!"), 6);
    cr_assert_eq(resp_encode_int(buf, 3, 1000), 7);
    cr_assert_eq(resp_encode_null(buf, 4), 5);
    cr_assert_eq(resp_encode_array(buf, 0, 12), 5);
    for (size_t i = 0; i < sizeof buf; i++)
        cr_assert_eq(buf[i], 'z', "byte %zu written", i);
}
