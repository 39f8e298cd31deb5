/* The Redis commands we speak: each checks its arguments as Redis does (same error texts),
 * then either answers at once (PING, ECHO, INFO, ...) or encodes a key-value command or
 * query (include/luminous/kv.h) for the log or a read barrier. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "luminous/version.h"
#include "resp_int.h"

struct resp_call {
    struct server *s;
    const uint8_t *base;          /* the request; args are relative to it */
    const struct resp_arg *args;
    uint32_t argc;
    struct resp_out *out;
    struct resp_request *rq;
    bool *quit;
};

static const uint8_t *arg_ptr(const struct resp_call *x, uint32_t i)
{
    return x->base + x->args[i].off;
}

static bool arg_is(const struct resp_call *x, uint32_t i, const char *word)
{
    size_t n = strlen(word);
    return x->args[i].len == n && strncasecmp((const char *)arg_ptr(x, i), word, n) == 0;
}

/* A decimal integer argument as Redis reads one: optional '-', digits, no blanks, in range. */
static bool arg_i64(const struct resp_call *x, uint32_t i, int64_t *out)
{
    char tmp[24];
    uint32_t n = x->args[i].len;
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, arg_ptr(x, i), n);
    tmp[n] = '\0';
    if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static int resp_not_integer(struct resp_call *x)
{
    resp_out_error(x->out, "ERR value is not an integer or out of range");
    return RESP_LOCAL;
}

static int resp_syntax_error(struct resp_call *x)
{
    resp_out_error(x->out, "ERR syntax error");
    return RESP_LOCAL;
}

/* The key-value machine is the only one with Redis's data model. */
static bool resp_kv(struct resp_call *x)
{
    if (strcmp(x->s->cfg.state_machine, "kv") == 0)
        return true;
    resp_out_error(x->out, "ERR this server runs the \"%s\" state machine; data commands need "
                           "state_machine = kv", x->s->cfg.state_machine);
    return false;
}

/* A body the encoder refused (a negated code) becomes the error reply. */
static int resp_encoded(struct resp_call *x, int n, uint8_t cls, uint8_t kind, uint16_t type)
{
    if (n == -LUM_EINVAL) {
        resp_out_error(x->out, "ERR empty keys are not supported");
        return RESP_LOCAL;
    }
    if (n < 0) {
        resp_out_error(x->out, "ERR request too large: keys are at most %u bytes, and a "
                               "command's keys and values must fit %u bytes",
                       KV_KEY_MAX, (unsigned)LUM_COMMAND_BODY_MAX);
        return RESP_LOCAL;
    }
    *x->rq = (struct resp_request){.cls = cls, .kind = kind, .entry_type = type,
                                   .body = x->s->resp->body, .len = (uint32_t)n};
    return cls;
}

#define BODY x->s->resp->body, x->s->resp->body_cap

/* ---- answered here ------------------------------------------------------------------------ */

static int cmd_ping(struct resp_call *x)
{
    if (x->argc == 2)
        resp_out_bulk(x->out, arg_ptr(x, 1), x->args[1].len);
    else
        resp_out_simple(x->out, "PONG");
    return RESP_LOCAL;
}

static int cmd_echo(struct resp_call *x)
{
    resp_out_bulk(x->out, arg_ptr(x, 1), x->args[1].len);
    return RESP_LOCAL;
}

static int cmd_quit(struct resp_call *x)
{
    resp_out_simple(x->out, "OK");
    *x->quit = true;
    return RESP_LOCAL;
}

static int cmd_select(struct resp_call *x)
{
    int64_t db;
    if (!arg_i64(x, 1, &db))
        return resp_not_integer(x);
    if (db != 0)
        resp_out_error(x->out, "ERR DB index is out of range (only database 0 exists)");
    else
        resp_out_simple(x->out, "OK");
    return RESP_LOCAL;
}

/* Only as much as redis-cli and redis-benchmark ask for when they start: COMMAND DOCS and
 * COMMAND (an empty list: the tools then complete nothing), COMMAND COUNT. */
static int cmd_command(struct resp_call *x)
{
    if (x->argc >= 2 && arg_is(x, 1, "COUNT"))
        resp_out_int(x->out, 0);
    else
        resp_out_array(x->out, 0);
    return RESP_LOCAL;
}

/* CONFIG GET for the two parameters redis-benchmark reads at start (it warns when it cannot):
 * no RDB saving, and every write is in an fsync'd log, which is what appendonly means. */
static int cmd_config(struct resp_call *x)
{
    if (!arg_is(x, 1, "GET") || x->argc != 3) {
        resp_out_error(x->out, "ERR CONFIG: only CONFIG GET save|appendonly is supported");
        return RESP_LOCAL;
    }
    if (arg_is(x, 2, "save")) {
        resp_out_array(x->out, 2);
        resp_out_bulk(x->out, "save", 4);
        resp_out_bulk(x->out, "", 0);
    } else if (arg_is(x, 2, "appendonly")) {
        resp_out_array(x->out, 2);
        resp_out_bulk(x->out, "appendonly", 10);
        resp_out_bulk(x->out, "yes", 3);
    } else {
        resp_out_array(x->out, 0);
    }
    return RESP_LOCAL;
}

static const char *resp_role_name(uint8_t role)
{
    switch (role) {
    case RAFT_LEADER:       return "leader";
    case RAFT_FOLLOWER:     return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE:    return "candidate";
    default:                return "unknown";
    }
}

static int cmd_info(struct resp_call *x)
{
    struct server *s = x->s;
    struct raft_status st;
    raft_status(s->raft, &st);
    const struct server_member *lm = st.leader_id ? server_member(s, st.leader_id) : NULL;
    bool all = x->argc == 1 || arg_is(x, 1, "all") || arg_is(x, 1, "everything") ||
               arg_is(x, 1, "default");
    char text[2048];
    size_t n = 0;
#define INFO_ADD(...) \
    n += (size_t)snprintf(text + n, n < sizeof text ? sizeof text - n : 0, __VA_ARGS__)
    if (all || arg_is(x, 1, "server"))
        INFO_ADD("# Server\r\nluminous_version:%s\r\nredis_mode:standalone\r\n"
                 "process_id:%ld\r\nnode_id:%llu\r\nresp_listen:%s\r\nclient_listen:%s\r\n"
                 "state_machine:%s\r\n\r\n",
                 LUM_VERSION, (long)getpid(), (unsigned long long)s->cfg.id,
                 s->cfg.resp_listen_addr, s->cfg.client_listen_addr, s->cfg.state_machine);
    if (all || arg_is(x, 1, "clients"))
        INFO_ADD("# Clients\r\nconnected_clients:%u\r\nmaxclients:%u\r\n\r\n",
                 s->clients_count, s->cfg.max_clients);
    if (all || arg_is(x, 1, "replication"))
        INFO_ADD("# Replication\r\nrole:%s\r\nraft_role:%s\r\nterm:%llu\r\nleader_id:%llu\r\n"
                 "leader_addr:%s\r\ncommit_index:%llu\r\napplied_index:%llu\r\n"
                 "last_index:%llu\r\nsnapshot_index:%llu\r\n\r\n",
                 st.role == RAFT_LEADER ? "master" : "slave", resp_role_name(st.role),
                 (unsigned long long)st.term, (unsigned long long)st.leader_id,
                 lm ? lm->client_addr : "", (unsigned long long)st.commit_index,
                 (unsigned long long)st.applied_index, (unsigned long long)st.last_index,
                 (unsigned long long)st.snapshot_index);
#undef INFO_ADD
    if (n >= sizeof text)
        n = sizeof text - 1;
    resp_out_bulk(x->out, text, n);
    return RESP_LOCAL;
}

/* ---- the key-value commands --------------------------------------------------------------- */

static int cmd_get(struct resp_call *x)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_get(BODY, arg_ptr(x, 1), x->args[1].len);
    return resp_encoded(x, n, RESP_READ, RK_GET, 0);
}

/* SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL] */
static int cmd_set(struct resp_call *x)
{
    uint8_t flags = 0;
    uint64_t ttl_ms = 0;
    bool expiry = false;
    for (uint32_t i = 3; i < x->argc; i++) {
        if (arg_is(x, i, "NX") && !(flags & KV_SET_XX)) {
            flags |= KV_SET_NX;
        } else if (arg_is(x, i, "XX") && !(flags & KV_SET_NX)) {
            flags |= KV_SET_XX;
        } else if (arg_is(x, i, "KEEPTTL") && !expiry) {
            flags |= KV_SET_KEEPTTL;
            expiry = true;
        } else if ((arg_is(x, i, "EX") || arg_is(x, i, "PX")) && !expiry && i + 1 < x->argc) {
            bool ex = arg_is(x, i, "EX");
            int64_t v;
            if (!arg_i64(x, i + 1, &v))
                return resp_not_integer(x);
            if (v <= 0 || (ex && v > INT64_MAX / 1000)) {
                resp_out_error(x->out, "ERR invalid expire time in 'set' command");
                return RESP_LOCAL;
            }
            ttl_ms = (uint64_t)v * (ex ? 1000u : 1u);
            expiry = true;
            i++;
        } else {
            return resp_syntax_error(x);
        }
    }
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_set(BODY, flags, arg_ptr(x, 1), x->args[1].len, arg_ptr(x, 2),
                          x->args[2].len, ttl_ms);
    return resp_encoded(x, n, RESP_WRITE, RK_SET, KV_SET);
}

static int resp_incr_by(struct resp_call *x, int64_t delta)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_incr(BODY, arg_ptr(x, 1), x->args[1].len, delta);
    return resp_encoded(x, n, RESP_WRITE, RK_INCR, KV_INCR);
}

static int cmd_incr(struct resp_call *x) { return resp_incr_by(x, 1); }
static int cmd_decr(struct resp_call *x) { return resp_incr_by(x, -1); }

static int cmd_incrby(struct resp_call *x)
{
    int64_t d;
    return arg_i64(x, 2, &d) ? resp_incr_by(x, d) : resp_not_integer(x);
}

static int cmd_decrby(struct resp_call *x)
{
    int64_t d;
    if (!arg_i64(x, 2, &d))
        return resp_not_integer(x);
    if (d == INT64_MIN) {
        resp_out_error(x->out, "ERR decrement would overflow");
        return RESP_LOCAL;
    }
    return resp_incr_by(x, -d);
}

static int resp_setttl(struct resp_call *x, int64_t ttl_ms, uint8_t kind)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_setttl(BODY, arg_ptr(x, 1), x->args[1].len, ttl_ms);
    return resp_encoded(x, n, RESP_WRITE, kind, KV_SETTTL);
}

/* EXPIRE key seconds / PEXPIRE key milliseconds: a time <= 0 deletes the key (as Redis). */
static int resp_expire(struct resp_call *x, int64_t unit_ms, const char *name)
{
    if (x->argc > 3)
        return resp_syntax_error(x); /* Redis 7's NX/XX/GT/LT options are not supported */
    int64_t v;
    if (!arg_i64(x, 2, &v))
        return resp_not_integer(x);
    if (v > INT64_MAX / unit_ms || v < -(INT64_MAX / unit_ms)) {
        resp_out_error(x->out, "ERR invalid expire time in '%s' command", name);
        return RESP_LOCAL;
    }
    int64_t ms = v * unit_ms;
    return resp_setttl(x, ms <= 0 ? -1 : ms, RK_EXPIRE);
}

static int cmd_expire(struct resp_call *x) { return resp_expire(x, 1000, "expire"); }
static int cmd_pexpire(struct resp_call *x) { return resp_expire(x, 1, "pexpire"); }
static int cmd_persist(struct resp_call *x) { return resp_setttl(x, INT64_MIN, RK_PERSIST); }

static int resp_ttl(struct resp_call *x, uint8_t kind)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_pttl(BODY, arg_ptr(x, 1), x->args[1].len);
    return resp_encoded(x, n, RESP_READ, kind, 0);
}

static int cmd_ttl(struct resp_call *x) { return resp_ttl(x, RK_TTL); }
static int cmd_pttl(struct resp_call *x) { return resp_ttl(x, RK_PTTL); }

/* The keys args[1..argc) of a multi-key command. */
static struct kv_key *resp_keys(struct resp_call *x)
{
    struct kv_key *keys = x->s->resp->keys;
    for (uint32_t i = 1; i < x->argc; i++)
        keys[i - 1] = (struct kv_key){.key = arg_ptr(x, i), .len = x->args[i].len};
    return keys;
}

static int cmd_del(struct resp_call *x)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_mdel(BODY, resp_keys(x), x->argc - 1);
    return resp_encoded(x, n, RESP_WRITE, RK_DEL, KV_MDEL);
}

static int cmd_exists(struct resp_call *x)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_mquery(BODY, KV_EXISTS, resp_keys(x), x->argc - 1);
    return resp_encoded(x, n, RESP_READ, RK_EXISTS, 0);
}

static int cmd_mget(struct resp_call *x)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_mquery(BODY, KV_MGET, resp_keys(x), x->argc - 1);
    return resp_encoded(x, n, RESP_READ, RK_MGET, 0);
}

static int cmd_mset(struct resp_call *x)
{
    if (x->argc % 2 == 0) {
        resp_out_error(x->out, "ERR wrong number of arguments for 'mset' command");
        return RESP_LOCAL;
    }
    if (!resp_kv(x))
        return RESP_LOCAL;
    struct kv_pair *pairs = x->s->resp->pairs;
    uint32_t n_pairs = (x->argc - 1) / 2;
    for (uint32_t i = 0; i < n_pairs; i++)
        pairs[i] = (struct kv_pair){.key = arg_ptr(x, 1 + 2 * i), .klen = x->args[1 + 2 * i].len,
                                    .value = arg_ptr(x, 2 + 2 * i),
                                    .vlen = x->args[2 + 2 * i].len};
    int n = kv_encode_mset(BODY, pairs, n_pairs);
    return resp_encoded(x, n, RESP_WRITE, RK_MSET, KV_MSET);
}

static int cmd_dbsize(struct resp_call *x)
{
    if (!resp_kv(x))
        return RESP_LOCAL;
    int n = kv_encode_dbsize(BODY);
    return resp_encoded(x, n, RESP_READ, RK_DBSIZE, 0);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

struct resp_cmd {
    const char *name;
    int arity; /* Redis's convention: n exactly n arguments (the name included), -n at least n */
    int (*fn)(struct resp_call *x);
};

static const struct resp_cmd resp_cmds[] = {
    {"get", 2, cmd_get},         {"set", -3, cmd_set},         {"ping", -1, cmd_ping},
    {"echo", 2, cmd_echo},       {"del", -2, cmd_del},         {"exists", -2, cmd_exists},
    {"incr", 2, cmd_incr},       {"decr", 2, cmd_decr},        {"incrby", 3, cmd_incrby},
    {"decrby", 3, cmd_decrby},   {"expire", -3, cmd_expire},   {"pexpire", -3, cmd_pexpire},
    {"ttl", 2, cmd_ttl},         {"pttl", 2, cmd_pttl},        {"persist", 2, cmd_persist},
    {"mget", -2, cmd_mget},      {"mset", -3, cmd_mset},       {"dbsize", 1, cmd_dbsize},
    {"info", -1, cmd_info},      {"command", -1, cmd_command}, {"config", -2, cmd_config},
    {"quit", -1, cmd_quit},      {"select", 2, cmd_select},
};

/* Redis's reply to an unknown command quotes it and its first arguments. */
static int resp_unknown(struct resp_call *x)
{
    char msg[400];
    size_t n = (size_t)snprintf(msg, sizeof msg, "ERR unknown command '%.*s', with args "
                                "beginning with: ", (int)(x->args[0].len > 128 ? 128 : x->args[0].len),
                                (const char *)arg_ptr(x, 0));
    for (uint32_t i = 1; i < x->argc && n < sizeof msg; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "'%.*s' ",
                              (int)(x->args[i].len > 32 ? 32 : x->args[i].len),
                              (const char *)arg_ptr(x, i));
    resp_out_error(x->out, "%s", msg);
    return RESP_LOCAL;
}

int resp_command(struct server *s, const uint8_t *base, const struct resp_arg *args,
                 uint32_t argc, struct resp_request *rq, bool *quit)
{
    LUM_ASSERT(argc > 0);
    struct resp_call x = {.s = s, .base = base, .args = args, .argc = argc,
                          .out = &s->resp->out, .rq = rq, .quit = quit};
    for (size_t i = 0; i < sizeof resp_cmds / sizeof *resp_cmds; i++) {
        const struct resp_cmd *c = &resp_cmds[i];
        if (!arg_is(&x, 0, c->name))
            continue;
        if ((c->arity > 0 && argc != (uint32_t)c->arity) ||
            (c->arity < 0 && argc < (uint32_t)-c->arity) ||
            (c->fn == cmd_ping && argc > 2)) {
            resp_out_error(x.out, "ERR wrong number of arguments for '%s' command", c->name);
            return RESP_LOCAL;
        }
        return c->fn(&x);
    }
    return resp_unknown(&x);
}
