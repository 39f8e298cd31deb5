/* libFuzzer target: the HTTP request parser (src/server/http_parse.c). Any bytes must get an
 * answer that makes sense (a whole request inside the input, or MORE, or an error status),
 * and once a prefix of the input is decided, every longer prefix gets the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/server/http_int.h"

#define FUZZ_HTTP_PREFIXES_MAX 2048u /* inputs up to this long: every prefix checked too */

static int fuzz_http_parse(const uint8_t *data, size_t len)
{
    /* an exact-size copy: ASan catches a read past len */
    char *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    memcpy(buf, data, len);
    struct http_request rq;
    int rv = http_parse_request(buf, len, &rq);
    if (rv > 0) {
        if ((size_t)rv > len || (size_t)rv > HTTP_HEAD_MAX || rq.path < buf ||
            rq.path + rq.path_len > buf + rv || rq.path_len == 0 || rq.path[0] != '/' ||
            rq.method_len == 0 || rq.method < HTTP_METHOD_GET || rq.method > HTTP_METHOD_OTHER)
            abort();
    } else if (rv != HTTP_PARSE_MORE && rv != HTTP_PARSE_BAD && rv != HTTP_PARSE_TOO_LARGE &&
               rv != HTTP_PARSE_VERSION) {
        abort();
    }
    free(buf);
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int whole = fuzz_http_parse(data, size);
    if (size > FUZZ_HTTP_PREFIXES_MAX)
        return 0;
    int decided = HTTP_PARSE_MORE;
    for (size_t k = 0; k <= size; k++) {
        int rv = fuzz_http_parse(data, k);
        if (decided != HTTP_PARSE_MORE && rv != decided)
            abort();
        decided = rv;
    }
    if (decided != whole)
        abort();
    return 0;
}
