/* A node's status as JSON: one writer for `raftctl status --json` and the HTTP /status, so
 * scripts see the same fields from both. snprintf-style: the text is cut at cap, the return
 * says how long it wanted to be. */
#include <stdarg.h>
#include <stdio.h>

#include "wire_int.h"

/* Appends to buf at *off, counting what did not fit. */
struct json_out {
    char  *buf;
    size_t cap, off;
};

static void json_printf(struct json_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void json_printf(struct json_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->off < o->cap ? o->cap - o->off : 0;
    int n = vsnprintf(room ? o->buf + o->off : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->off += (size_t)n;
}

static void json_text(struct json_out *o, const void *text, size_t len)
{
    size_t room = o->off < o->cap ? o->cap - o->off : 0;
    o->off += wire_json_string(room ? o->buf + o->off : NULL, room, text, len);
}

size_t wire_json_string(char *buf, size_t cap, const void *text, size_t len)
{
    const unsigned char *p = text;
    size_t n = 0;
#define JSON_PUT(ch) do { if (n + 1 < cap) buf[n] = (char)(ch); n++; } while (0)
    JSON_PUT('"');
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"' || p[i] == '\\') {
            JSON_PUT('\\');
            JSON_PUT(p[i]);
        } else if (p[i] < 0x20 || p[i] >= 0x7f) {
            char esc[7];
            snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            for (int k = 0; k < 6; k++)
                JSON_PUT(esc[k]);
        } else {
            JSON_PUT(p[i]);
        }
    }
    JSON_PUT('"');
#undef JSON_PUT
    if (cap > 0)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

const char *wire_status_role(const struct wire_status *st)
{
    if (!st->voter && st->role == RAFT_FOLLOWER)
        return "learner";
    if (st->role == RAFT_PRECANDIDATE)
        return "candidate"; /* the contract's roles: a pre-vote campaign is a candidacy */
    return raft_role_name(st->role);
}

size_t wire_status_json(char *buf, size_t cap, const struct wire_status *st, const char *addr,
                        uint64_t lag)
{
    struct json_out o = {.buf = buf, .cap = cap};
    if (!addr) {
        addr = "";
        for (uint32_t i = 0; i < st->n_members; i++)
            if (st->members[i].id == st->id)
                addr = st->members[i].client_addr;
    }
    json_printf(&o, "{\"id\":%llu,\"addr\":", (unsigned long long)st->id);
    json_text(&o, addr, strlen(addr));
    json_printf(&o, ",\"role\":\"%s\",\"term\":%llu,\"leader\":%llu,\"commit_index\":%llu,"
                    "\"applied_index\":%llu,\"first_index\":%llu,\"last_index\":%llu,"
                    "\"snapshot_index\":%llu,\"db_size\":%llu,\"lag\":%llu,\"members\":[",
                wire_status_role(st), (unsigned long long)st->term,
                (unsigned long long)st->leader_id, (unsigned long long)st->commit_index,
                (unsigned long long)st->applied_index, (unsigned long long)st->first_index,
                (unsigned long long)st->last_index, (unsigned long long)st->snapshot_index,
                (unsigned long long)st->db_size, (unsigned long long)lag);
    for (uint32_t i = 0; i < st->n_members; i++) {
        const struct wire_member *m = &st->members[i];
        json_printf(&o, "%s{\"id\":%llu,\"role\":\"%s\",\"peer\":", i ? "," : "",
                    (unsigned long long)m->id, m->role == RAFT_LEARNER ? "learner" : "voter");
        json_text(&o, m->peer_addr, strlen(m->peer_addr));
        json_printf(&o, ",\"client\":");
        json_text(&o, m->client_addr, strlen(m->client_addr));
        json_printf(&o, ",\"match_index\":%llu}", (unsigned long long)m->match_index);
    }
    json_printf(&o, "]}");
    return o.off;
}
