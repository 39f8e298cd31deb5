/* The header every application entry starts with (luminous/fsm.h):
 *   u64 client_id | u64 seq | u64 time_ms | body        little-endian */
#include <string.h>

#include "luminous/base.h"
#include "luminous/fsm.h"

int lum_command_parse(const struct raft_entry *e, struct lum_command *out)
{
    if (e->len < LUM_COMMAND_HEADER_SIZE || e->len > RAFT_PAYLOAD_MAX)
        return -LUM_EMALFORMED;
    out->client_id = lum_get_u64(e->payload);
    out->seq = lum_get_u64(e->payload + 8);
    out->time_ms = lum_get_u64(e->payload + 16);
    out->body = e->payload + LUM_COMMAND_HEADER_SIZE;
    out->len = e->len - LUM_COMMAND_HEADER_SIZE;
    return 0;
}

int lum_command_build(struct raft_entry *e, uint64_t client_id, uint64_t seq,
                      uint64_t time_ms, const void *body, uint32_t len)
{
    if (len > LUM_COMMAND_BODY_MAX)
        return -LUM_ETOOBIG;
    /* body may point into e->payload itself (a body encoded in place): move it first */
    if (len)
        memmove(e->payload + LUM_COMMAND_HEADER_SIZE, body, len);
    lum_put_u64(e->payload, client_id);
    lum_put_u64(e->payload + 8, seq);
    lum_put_u64(e->payload + 16, time_ms);
    e->len = LUM_COMMAND_HEADER_SIZE + len;
    return 0;
}
