/* libFuzzer target: the RESP2 request parser (src/wire/resp.c).
 * Input: byte 0 picks where the stream is cut in two (as two reads would), the rest is the
 * stream. The stream is parsed twice, whole and in the two pieces (the second piece only
 * after the first says "need more"); both runs must find the same requests with the same
 * arguments, every argument must lie inside the request, and an error must come with its
 * message. Tight limits, so the fuzzer reaches them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/resp.h"

#define FUZZ_REQS_MAX 64

struct fuzz_req {
    int      size;
    uint32_t argc;
    uint64_t args_hash;
};

static const struct resp_limits fuzz_limits = {.args_max = 16, .bulk_max = 256,
                                               .request_max = 1024};

static uint64_t fuzz_hash(const struct resp_parser *p, const uint8_t *req, int size)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < p->argc; i++) {
        if ((uint64_t)p->args[i].off + p->args[i].len > (uint64_t)size)
            abort(); /* an argument outside its request */
        for (uint32_t k = 0; k < p->args[i].len; k++)
            h = (h ^ req[p->args[i].off + k]) * 1099511628211ull;
        h = (h ^ 0x100) * 1099511628211ull;
    }
    return h;
}

/* Parses stream[0, len), with only [0, cut) visible until it needs more. Returns the number
 * of requests found; the last result (an error or -LUM_EAGAIN) in *end. */
static int fuzz_run(const uint8_t *stream, size_t len, size_t cut, struct fuzz_req *out,
                    int *end)
{
    struct resp_parser p;
    resp_parser_init(&p, &fuzz_limits);
    size_t pos = 0, visible = cut;
    int n = 0;
    for (;;) {
        int rv = resp_parse(&p, stream + pos, visible - pos);
        if (rv == -LUM_EAGAIN && visible < len) {
            visible = len;
            continue;
        }
        if (rv <= 0) {
            if (rv == -LUM_EMALFORMED && p.error[0] == '\0')
                abort(); /* an error without a message */
            *end = rv;
            break;
        }
        if ((size_t)rv > visible - pos || (uint32_t)rv > fuzz_limits.request_max + 64)
            abort();
        if (n < FUZZ_REQS_MAX)
            out[n] = (struct fuzz_req){.size = rv, .argc = p.argc,
                                       .args_hash = fuzz_hash(&p, stream + pos, rv)};
        n++;
        pos += (size_t)rv;
    }
    resp_parser_free(&p);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *stream = data + 1;
    size_t len = size - 1;
    size_t cut = len ? data[0] % (len + 1) : 0;
    struct fuzz_req whole[FUZZ_REQS_MAX], split[FUZZ_REQS_MAX];
    int end_whole, end_split;
    int n = fuzz_run(stream, len, len, whole, &end_whole);
    int m = fuzz_run(stream, len, cut, split, &end_split);
    if (n != m || end_whole != end_split)
        abort();
    for (int i = 0; i < n && i < FUZZ_REQS_MAX; i++)
        if (whole[i].size != split[i].size || whole[i].argc != split[i].argc ||
            whole[i].args_hash != split[i].args_hash)
            abort();
    return 0;
}
