/* The counter machine: one signed 64-bit value that COUNTER_ADD entries add to. It exists
 * to prove the server and core are generic; it is also the smallest example of an FSM.
 * Snapshot: u64 value | u32 crc32c(value bytes), little-endian. */
#include <stdlib.h>

#include "luminous/base.h"
#include "luminous/kv.h"

#define COUNTER_SNAP_SIZE 12u

struct counter {
    uint64_t value;     /* an int64_t; kept unsigned so that overflow wraps, defined */
    uint8_t  answer[8]; /* the last answer's bytes: lum_result.data points here */
};

static void *counter_create(void) { return calloc(1, sizeof(struct counter)); }
static void counter_destroy(void *fsm) { free(fsm); }

static void counter_answer(struct counter *c, struct lum_result *out)
{
    lum_put_u64(c->answer, c->value);
    *out = (struct lum_result){.code = KV_OK, .data = c->answer, .len = sizeof c->answer};
}

static int counter_apply(void *fsm, const struct raft_entry *e, struct lum_result *out)
{
    struct counter *c = fsm;
    struct lum_command cmd;
    *out = (struct lum_result){.code = KV_BAD_REQUEST, .data = NULL, .len = 0};
    if (lum_command_parse(e, &cmd) != 0 || e->type != COUNTER_ADD || cmd.len != 8)
        return 0;
    c->value += lum_get_u64(cmd.body);
    counter_answer(c, out);
    return 0;
}

static int counter_query(void *fsm, const void *req, uint32_t len, uint64_t now_ms,
                         struct lum_result *out)
{
    (void)req;
    (void)len;
    (void)now_ms;
    counter_answer(fsm, out);
    return 0;
}

static int counter_snapshot_save(void *fsm, struct lum_sink *to)
{
    const struct counter *c = fsm;
    uint8_t b[COUNTER_SNAP_SIZE];
    lum_put_u64(b, c->value);
    lum_put_u32(b + 8, lum_crc32c(0, b, 8));
    return to->write(to->ctx, b, sizeof b);
}

static int counter_snapshot_load(void *fsm, struct lum_source *from)
{
    struct counter *c = fsm;
    uint8_t b[COUNTER_SNAP_SIZE];
    int rc = from->read(from->ctx, b, sizeof b);
    if (rc)
        return rc;
    if (lum_get_u32(b + 8) != lum_crc32c(0, b, 8))
        return -LUM_ECORRUPT;
    c->value = lum_get_u64(b);
    return 0;
}

static uint64_t counter_size(void *fsm)
{
    (void)fsm;
    return sizeof(struct counter);
}

const struct lum_fsm_ops counter_fsm_ops = {
    .name = "counter",
    .create = counter_create,
    .destroy = counter_destroy,
    .apply = counter_apply,
    .query = counter_query,
    .snapshot_save = counter_snapshot_save,
    .snapshot_load = counter_snapshot_load,
    .housekeeping = NULL,
    .size = counter_size,
};
