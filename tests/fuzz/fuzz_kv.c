/* libFuzzer target: the key-value state machine, which decodes bytes from outside: a
 * client's COMMAND body becomes an entry that every replica applies, a QUERY body is read
 * by the node that serves it, and a snapshot stream arrives from the leader. None of them
 * may crash a node (fsm.h: "a malformed body is answered with an error code").
 *
 * Input: a run of operations, each a byte op (mod 5) and its arguments:
 *   0 apply     u8 type (KV_PUT + n % 10: the nine types and an unknown one) | u16 len |
 *               payload[len] (the command header, client_id seq time_ms, is fuzzed too)
 *   1 query     u32 now_s | u16 len | request[len]
 *   2 snapshot  save, load into a fresh machine, save again: the bytes must be equal
 *   3 load      u16 len | stream[len]: refused or accepted, never a crash; refused, the
 *               machine must keep its state (its snapshot is unchanged)
 *   4 expire    u32 now_s: housekeeping proposes EXPIREs, which are then applied
 * A field cut short by the end of the input ends the run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/base.h"
#include "luminous/kv.h"

struct fuzz_in {
    const uint8_t *p;
    size_t left;
};

static bool fuzz_take(struct fuzz_in *in, void *out, size_t n)
{
    if (in->left < n)
        return false;
    memcpy(out, in->p, n);
    in->p += n;
    in->left -= n;
    return true;
}

/* A growable byte buffer, as a snapshot sink and source. */
struct fuzz_bytes {
    uint8_t *data;
    size_t len, cap, pos;
};

static int fuzz_bytes_write(void *ctx, const void *buf, size_t len)
{
    struct fuzz_bytes *b = ctx;
    if (b->len + len > b->cap) {
        size_t cap = (b->len + len) * 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            abort();
        b->data = d;
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

static int fuzz_bytes_read(void *ctx, void *buf, size_t len)
{
    struct fuzz_bytes *b = ctx;
    if (b->len - b->pos < len)
        return -LUM_ECORRUPT;
    if (len)
        memcpy(buf, b->data + b->pos, len);
    b->pos += len;
    return 0;
}

static void fuzz_save(void *fsm, struct fuzz_bytes *b)
{
    b->len = b->pos = 0;
    struct lum_sink to = {b, fuzz_bytes_write};
    if (kv_fsm_ops.snapshot_save(fsm, &to) != 0)
        abort();
}

static bool fuzz_same(const struct fuzz_bytes *a, const struct fuzz_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* EXPIREs proposed by housekeeping, applied once it returns (as the log would). */
struct fuzz_proposals {
    struct raft_entry e[300];
    uint32_t n;
};

static int fuzz_propose(void *ctx, uint16_t type, const void *body, uint32_t len)
{
    struct fuzz_proposals *ps = ctx;
    if (ps->n == sizeof ps->e / sizeof ps->e[0])
        return -LUM_EBUSY;
    struct raft_entry *e = &ps->e[ps->n++];
    e->type = type;
    if (lum_command_build(e, 0, 0, 0, body, len) != 0)
        abort();
    return 0;
}

static struct raft_entry fuzz_entry;
static struct fuzz_proposals fuzz_proposals;
static struct fuzz_bytes fuzz_a, fuzz_b, fuzz_c;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    void *kv = kv_fsm_ops.create();
    if (!kv)
        abort();
    struct lum_result res;
    uint8_t op;
    while (fuzz_take(&in, &op, 1)) {
        uint8_t t;
        uint16_t len;
        uint32_t now_s;
        switch (op % 5) {
        case 0:
            if (!fuzz_take(&in, &t, 1) || !fuzz_take(&in, &len, 2))
                goto out;
            memset(&fuzz_entry, 0, sizeof fuzz_entry);
            fuzz_entry.type = (uint16_t)(KV_PUT + t % 10);
            fuzz_entry.len = len % (RAFT_PAYLOAD_MAX + 1);
            if (!fuzz_take(&in, fuzz_entry.payload, fuzz_entry.len))
                goto out;
            if (kv_fsm_ops.apply(kv, &fuzz_entry, &res) != 0)
                abort();
            break;
        case 1: {
            if (!fuzz_take(&in, &now_s, 4) || !fuzz_take(&in, &len, 2) || in.left < len)
                goto out;
            const uint8_t *req = in.p;
            in.p += len;
            in.left -= len;
            if (kv_fsm_ops.query(kv, req, len, (uint64_t)now_s * 1000, &res) != 0)
                abort();
            if (res.len && res.data)
                (void)((volatile const uint8_t *)res.data)[res.len - 1];
            break;
        }
        case 2: {
            fuzz_save(kv, &fuzz_a);
            void *copy = kv_fsm_ops.create();
            struct lum_source from = {&fuzz_a, fuzz_bytes_read};
            if (!copy || kv_fsm_ops.snapshot_load(copy, &from) != 0)
                abort(); /* a snapshot we wrote must load */
            fuzz_save(copy, &fuzz_b);
            if (!fuzz_same(&fuzz_a, &fuzz_b))
                abort(); /* the state did not survive the round trip */
            kv_fsm_ops.destroy(copy);
            break;
        }
        case 3: {
            if (!fuzz_take(&in, &len, 2) || in.left < len)
                goto out;
            fuzz_c.len = fuzz_c.pos = 0;
            fuzz_bytes_write(&fuzz_c, in.p, len);
            in.p += len;
            in.left -= len;
            fuzz_save(kv, &fuzz_a);
            struct lum_source from = {&fuzz_c, fuzz_bytes_read};
            if (kv_fsm_ops.snapshot_load(kv, &from) != 0) {
                fuzz_save(kv, &fuzz_b);
                if (!fuzz_same(&fuzz_a, &fuzz_b))
                    abort(); /* a refused snapshot changed the state */
            }
            break;
        }
        case 4: {
            if (!fuzz_take(&in, &now_s, 4))
                goto out;
            fuzz_proposals.n = 0;
            struct lum_proposer p = {&fuzz_proposals, fuzz_propose};
            kv_fsm_ops.housekeeping(kv, (uint64_t)now_s * 1000, &p);
            for (uint32_t i = 0; i < fuzz_proposals.n; i++)
                if (kv_fsm_ops.apply(kv, &fuzz_proposals.e[i], &res) != 0)
                    abort();
            break;
        }
        }
    }
out:
    kv_fsm_ops.destroy(kv);
    return 0;
}
