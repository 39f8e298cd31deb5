/* The guestbook's state machine: what every replica applies, in log order, once each.
 *
 * Snapshot format (little-endian), written oldest signature first:
 *   u64 total | u32 n | n x (u64 number | u64 time_ms | u8 name_len | u8 message_len |
 *   name | message) | u32 crc32c of every byte before it
 * Valid when the crc matches, n <= GB_KEEP, each length is within its limit and the numbers
 * run consecutively up to total. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <luminous/base.h>

#include "guestbook.h"

struct gb_signature {
    uint64_t number;  /* 1 for the first signature ever */
    uint64_t time_ms; /* the leader's clock when it was proposed: the same on every replica */
    uint8_t  name_len, message_len;
    char     name[GB_NAME_MAX];
    char     message[GB_MESSAGE_MAX];
};

struct guestbook {
    uint64_t total;                    /* signatures ever; the newest has this number */
    struct gb_signature ring[GB_KEEP]; /* number k lives at ring[(k - 1) % GB_KEEP]   */
    char     answer[GB_READ_MAX * (GB_NAME_MAX + GB_MESSAGE_MAX + 32) + 64];
};

static uint64_t gb_kept(const struct guestbook *g)
{
    return g->total < GB_KEEP ? g->total : GB_KEEP;
}

static struct gb_signature *gb_slot(struct guestbook *g, uint64_t number)
{
    return &g->ring[(number - 1) % GB_KEEP];
}

static void *gb_create(void) { return calloc(1, sizeof(struct guestbook)); }
static void gb_destroy(void *fsm) { free(fsm); }

/* The checks are on the bytes alone, so every replica accepts or refuses alike. */
static bool gb_valid(const uint8_t *name, uint32_t name_len, const uint8_t *message,
                     uint32_t message_len)
{
    if (name_len == 0 || name_len > GB_NAME_MAX || message_len > GB_MESSAGE_MAX)
        return false;
    for (uint32_t i = 0; i < name_len; i++)
        if (name[i] < 0x20 || name[i] > 0x7e)
            return false;
    for (uint32_t i = 0; i < message_len; i++)
        if (message[i] < 0x20 || message[i] == 0x7f)
            return false;
    return true;
}

static int gb_apply(void *fsm, const struct raft_entry *e, struct lum_result *out)
{
    struct guestbook *g = fsm;
    struct lum_command cmd;
    *out = (struct lum_result){.code = GB_BAD_REQUEST};
    if (e->type != GB_SIGN || lum_command_parse(e, &cmd) != 0 || cmd.len < 1)
        return 0;
    uint32_t name_len = cmd.body[0];
    if (1 + name_len > cmd.len)
        return 0;
    const uint8_t *name = cmd.body + 1, *message = name + name_len;
    uint32_t message_len = cmd.len - 1 - name_len;
    if (!gb_valid(name, name_len, message, message_len))
        return 0;
    struct gb_signature *s = gb_slot(g, ++g->total);
    *s = (struct gb_signature){.number = g->total, .time_ms = cmd.time_ms,
                               .name_len = (uint8_t)name_len, .message_len = (uint8_t)message_len};
    memcpy(s->name, name, name_len);
    memcpy(s->message, message, message_len);
    /* the answer's bytes live in the machine until its next call, as fsm.h asks */
    lum_put_u64((uint8_t *)g->answer, g->total);
    *out = (struct lum_result){.code = GB_OK, .data = g->answer, .len = 8};
    return 0;
}

static int gb_query(void *fsm, const void *req, uint32_t len, uint64_t now_ms,
                    struct lum_result *out)
{
    struct guestbook *g = fsm;
    (void)now_ms;
    uint32_t n = len == 4 ? lum_get_u32(req) : 0;
    if (n == 0 || n > GB_READ_MAX) {
        *out = (struct lum_result){.code = GB_BAD_REQUEST};
        return 0;
    }
    if (n > gb_kept(g))
        n = (uint32_t)gb_kept(g);
    size_t off = (size_t)snprintf(g->answer, sizeof g->answer, "signatures: %llu\n",
                                  (unsigned long long)g->total);
    for (uint64_t k = g->total - n + 1; k <= g->total; k++) {
        const struct gb_signature *s = gb_slot(g, k);
        off += (size_t)snprintf(g->answer + off, sizeof g->answer - off, "#%llu %.*s: %.*s\n",
                                (unsigned long long)s->number, s->name_len, s->name,
                                s->message_len, s->message);
    }
    LUM_ASSERT(off < sizeof g->answer);
    *out = (struct lum_result){.code = GB_OK, .data = g->answer, .len = (uint32_t)off};
    return 0;
}

/* Writes through the sink and chains the crc over what it wrote. */
static int gb_write(struct lum_sink *to, uint32_t *crc, const void *buf, size_t len)
{
    *crc = lum_crc32c(*crc, buf, len);
    return to->write(to->ctx, buf, len);
}

static int gb_read(struct lum_source *from, uint32_t *crc, void *buf, size_t len)
{
    int rv = from->read(from->ctx, buf, len);
    if (rv == 0)
        *crc = lum_crc32c(*crc, buf, len);
    return rv;
}

static int gb_snapshot_save(void *fsm, struct lum_sink *to)
{
    struct guestbook *g = fsm;
    uint32_t crc = 0, n = (uint32_t)gb_kept(g);
    uint8_t head[12];
    lum_put_u64(head, g->total);
    lum_put_u32(head + 8, n);
    int rv = gb_write(to, &crc, head, sizeof head);
    for (uint64_t k = g->total - n + 1; rv == 0 && k <= g->total; k++) {
        const struct gb_signature *s = gb_slot(g, k);
        uint8_t rec[18];
        lum_put_u64(rec, s->number);
        lum_put_u64(rec + 8, s->time_ms);
        rec[16] = s->name_len;
        rec[17] = s->message_len;
        rv = gb_write(to, &crc, rec, sizeof rec);
        if (rv == 0)
            rv = gb_write(to, &crc, s->name, s->name_len);
        if (rv == 0)
            rv = gb_write(to, &crc, s->message, s->message_len);
    }
    if (rv == 0) {
        uint8_t tail[4];
        lum_put_u32(tail, crc);
        rv = to->write(to->ctx, tail, sizeof tail);
    }
    return rv;
}

/* Replaces the whole state (a follower may load a snapshot over a book it already has). */
static int gb_snapshot_load(void *fsm, struct lum_source *from)
{
    struct guestbook *g = fsm;
    uint32_t crc = 0;
    uint8_t head[12];
    int rv = gb_read(from, &crc, head, sizeof head);
    if (rv != 0)
        return rv;
    uint64_t total = lum_get_u64(head);
    uint32_t n = lum_get_u32(head + 8);
    if (n > GB_KEEP || n > total || (total > GB_KEEP && n != GB_KEEP) ||
        (total <= GB_KEEP && n != total))
        return -LUM_ECORRUPT;
    memset(g, 0, sizeof *g);
    g->total = total;
    for (uint64_t k = total - n + 1; k <= total; k++) {
        struct gb_signature *s = gb_slot(g, k);
        uint8_t rec[18];
        if ((rv = gb_read(from, &crc, rec, sizeof rec)) != 0)
            return rv;
        s->number = lum_get_u64(rec);
        s->time_ms = lum_get_u64(rec + 8);
        s->name_len = rec[16];
        s->message_len = rec[17];
        if (s->number != k || s->name_len == 0 || s->name_len > GB_NAME_MAX ||
            s->message_len > GB_MESSAGE_MAX)
            return -LUM_ECORRUPT;
        if ((rv = gb_read(from, &crc, s->name, s->name_len)) != 0 ||
            (rv = gb_read(from, &crc, s->message, s->message_len)) != 0)
            return rv;
    }
    uint8_t tail[4];
    if ((rv = from->read(from->ctx, tail, sizeof tail)) != 0)
        return rv;
    return lum_get_u32(tail) == crc ? 0 : -LUM_ECORRUPT;
}

static uint64_t gb_size(void *fsm)
{
    (void)fsm;
    return sizeof(struct guestbook);
}

const struct lum_fsm_ops guestbook_fsm_ops = {
    .name = "guestbook",
    .create = gb_create,
    .destroy = gb_destroy,
    .apply = gb_apply,
    .query = gb_query,
    .snapshot_save = gb_snapshot_save,
    .snapshot_load = gb_snapshot_load,
    .housekeeping = NULL,
    .size = gb_size,
};
