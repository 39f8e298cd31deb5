/* The config file parser. Every error names the file and line and what is wrong, because
 * an operator reads it at 3 a.m.: "raft.conf:7: unknown key \"tick\"". */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/io.h"
#include "luminous/kv.h"
#include "luminous/secret.h"
#include "luminous/server.h"

struct config_parse {
    const char *path;
    int         line;
    struct lum_err *err;
    uint64_t    seen;  /* bit per config_key: set keys (duplicates are refused) */
};

__attribute__((format(printf, 2, 3)))
static int config_fail(struct config_parse *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lum_errf(p->err, "%s:%d: %s", p->path, p->line, msg);
    return -LUM_EINVAL;
}

static int config_u64(struct config_parse *p, const char *key, const char *v, uint64_t min,
                      uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-' || n < min || n > max)
        return config_fail(p, "%s must be a whole number in %llu..%llu, not \"%s\"", key,
                           (unsigned long long)min, (unsigned long long)max, v);
    *out = n;
    return 0;
}

static int config_u32(struct config_parse *p, const char *key, const char *v, uint32_t min,
                      uint32_t max, uint32_t *out)
{
    uint64_t n = 0; /* set when rv == 0; gcc -O3 cannot tell */
    int rv = config_u64(p, key, v, min, max, &n);
    if (rv == 0)
        *out = (uint32_t)n;
    return rv;
}

static int config_addr(struct config_parse *p, const char *key, const char *v, char *text,
                       struct sockaddr_in *addr)
{
    struct lum_err e;
    if (strlen(v) > WIRE_ADDR_MAX)
        return config_fail(p, "%s: address too long", key);
    if (net_parse_addr(v, addr, &e) != 0)
        return config_fail(p, "%s: %s", key, e.msg);
    strcpy(text, v);
    return 0;
}

/* Addresses compare resolved: "localhost:7001" and "127.0.0.1:7001" are one. */
static bool config_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* member = ID PEER_ADDR CLIENT_ADDR */
static int config_member(struct config_parse *p, struct server_config *c, char *v)
{
    char *save = NULL;
    char *id = strtok_r(v, " \t", &save);
    char *peer = strtok_r(NULL, " \t", &save);
    char *client = strtok_r(NULL, " \t", &save);
    if (!id || !peer || !client || strtok_r(NULL, " \t", &save))
        return config_fail(p, "member must be \"ID PEER_HOST:PORT CLIENT_HOST:PORT\"");
    if (c->n_members == RAFT_MEMBERS_MAX)
        return config_fail(p, "too many members (at most %u)", RAFT_MEMBERS_MAX);
    struct server_member *m = &c->members[c->n_members];
    int rv = config_u64(p, "member id", id, 1, UINT64_MAX, &m->id);
    if (rv == 0)
        rv = config_addr(p, "member peer address", peer, m->peer_addr, &m->peer);
    if (rv == 0)
        rv = config_addr(p, "member client address", client, m->client_addr, &m->client);
    if (rv != 0)
        return rv;
    if (config_same_addr(&m->peer, &m->client))
        return config_fail(p, "member %llu: peer and client addresses are the same",
                           (unsigned long long)m->id);
    for (uint32_t i = 0; i < c->n_members; i++) {
        const struct server_member *o = &c->members[i];
        if (o->id == m->id)
            return config_fail(p, "duplicate member id %llu", (unsigned long long)m->id);
        if (config_same_addr(&o->peer, &m->peer) || config_same_addr(&o->peer, &m->client) ||
            config_same_addr(&o->client, &m->peer) || config_same_addr(&o->client, &m->client))
            return config_fail(p, "member %llu reuses an address of member %llu",
                               (unsigned long long)m->id, (unsigned long long)o->id);
    }
    c->n_members++;
    return 0;
}

enum config_key {
    KEY_ID, KEY_DATA_DIR, KEY_PEER_LISTEN, KEY_CLIENT_LISTEN, KEY_MEMBER, KEY_CLUSTER,
    KEY_STATE_MACHINE, KEY_TICK_MS, KEY_ELECTION_TICKS, KEY_HEARTBEAT_TICKS,
    KEY_MAX_INFLIGHT, KEY_MAX_BATCH, KEY_LOG_WINDOW, KEY_SEGMENT_ENTRIES, KEY_MAX_CLIENTS,
    KEY_MAX_PENDING, KEY_LOG_LEVEL, KEY_SNAPSHOT_ENTRIES, KEY_SNAPSHOT_MARGIN,
    KEY_CATCHUP_ENTRIES, KEY_MAX_PENDING_PER_CONN, KEY_MAX_FRAME, KEY_MAX_CLIENT_OUTPUT,
    KEY_CLIENT_IDLE_TIMEOUT_MS, KEY_SECRET_FILE, KEY_RESP_LISTEN, KEY_HTTP_LISTEN, KEY_COUNT_
};

_Static_assert(KEY_COUNT_ <= 64, "config_parse.seen has a bit per key");
_Static_assert(SERVER_PATH_MAX == PATH_MAX, "server.h's path buffers are the system's");
static const char *const config_keys[KEY_COUNT_] = {
    "id", "data_dir", "peer_listen", "client_listen", "member", "cluster", "state_machine",
    "tick_ms", "election_ticks", "heartbeat_ticks", "max_inflight", "max_batch",
    "log_window", "segment_entries", "max_clients", "max_pending", "log_level",
    "snapshot_entries", "snapshot_margin", "catchup_entries", "max_pending_per_conn",
    "max_frame", "max_client_output", "client_idle_timeout_ms", "secret_file",
    "resp_listen", "http_listen",
};

static int config_string(struct config_parse *p, const char *key, const char *v, char *out,
                         size_t size)
{
    if (strlen(v) >= size)
        return config_fail(p, "%s is longer than %zu bytes", key, size - 1);
    strcpy(out, v);
    return 0;
}

/* The secret is read now, not at first use: a missing or empty file is a config error the
 * operator sees at startup, with the line that names it. */
static int config_secret(struct config_parse *p, struct server_config *c, const char *v)
{
    int rv = config_string(p, "secret_file", v, c->secret_file, sizeof c->secret_file);
    if (rv != 0)
        return rv;
    struct lum_err e;
    if (lum_secret_load(v, &c->secret, &e) != 0)
        return config_fail(p, "secret_file: %s", e.msg);
    if (c->secret.loose_mode)
        lum_warn("%s:%d: secret_file %s is readable by group or others (chmod 600 it)",
                 p->path, p->line, v);
    return 0;
}

static int config_set(struct config_parse *p, struct server_config *c, enum config_key k,
                      char *v)
{
    const char *name = config_keys[k];
    switch (k) {
    case KEY_ID:            return config_u64(p, name, v, 1, UINT64_MAX, &c->id);
    case KEY_DATA_DIR:      return config_string(p, name, v, c->data_dir, sizeof c->data_dir);
    case KEY_PEER_LISTEN:   return config_addr(p, name, v, c->peer_listen_addr, &c->peer_listen);
    case KEY_CLIENT_LISTEN:
        return config_addr(p, name, v, c->client_listen_addr, &c->client_listen);
    case KEY_MEMBER:        return config_member(p, c, v);
    case KEY_CLUSTER:       return config_string(p, name, v, c->cluster, sizeof c->cluster);
    case KEY_STATE_MACHINE:
        if (!lum_fsm_find(v))
            return config_fail(p, "state_machine must be \"kv\" or \"counter\", not \"%s\"", v);
        return config_string(p, name, v, c->state_machine, sizeof c->state_machine);
    case KEY_TICK_MS:         return config_u32(p, name, v, 1, 60000, &c->tick_ms);
    case KEY_ELECTION_TICKS:  return config_u32(p, name, v, 2, 100000, &c->election_ticks);
    case KEY_HEARTBEAT_TICKS: return config_u32(p, name, v, 1, 100000, &c->heartbeat_ticks);
    case KEY_MAX_INFLIGHT:    return config_u32(p, name, v, 1, 4096, &c->max_inflight);
    case KEY_MAX_BATCH:       return config_u32(p, name, v, 1, WIRE_BATCH_MAX, &c->max_batch);
    case KEY_LOG_WINDOW:      return config_u32(p, name, v, 64, 1u << 20, &c->log_window);
    case KEY_SEGMENT_ENTRIES: return config_u32(p, name, v, 16, 1u << 20, &c->segment_entries);
    case KEY_MAX_CLIENTS:     return config_u32(p, name, v, 1, 1000000, &c->max_clients);
    case KEY_MAX_PENDING:     return config_u32(p, name, v, 1, 1u << 22, &c->max_pending);
    case KEY_SNAPSHOT_ENTRIES:
        return config_u32(p, name, v, 0, UINT32_MAX, &c->snapshot_entries);
    case KEY_SNAPSHOT_MARGIN:
        return config_u32(p, name, v, 0, UINT32_MAX, &c->snapshot_margin);
    case KEY_CATCHUP_ENTRIES:
        return config_u32(p, name, v, 0, UINT32_MAX, &c->catchup_entries);
    case KEY_MAX_PENDING_PER_CONN:
        return config_u32(p, name, v, 1, 1u << 22, &c->max_pending_per_conn);
    case KEY_MAX_FRAME:
        return config_u32(p, name, v, SERVER_CLIENT_FRAME_MIN, WIRE_FRAME_MAX, &c->max_frame);
    case KEY_MAX_CLIENT_OUTPUT:
        return config_u32(p, name, v, SERVER_CLIENT_OUTPUT_MIN, 1u << 30, &c->max_client_output);
    case KEY_CLIENT_IDLE_TIMEOUT_MS:
        return config_u32(p, name, v, 0, 86400000, &c->client_idle_timeout_ms);
    case KEY_SECRET_FILE:     return config_secret(p, c, v);
    case KEY_RESP_LISTEN:     return config_addr(p, name, v, c->resp_listen_addr, &c->resp_listen);
    case KEY_HTTP_LISTEN:     return config_addr(p, name, v, c->http_listen_addr, &c->http_listen);
    case KEY_LOG_LEVEL: {
        enum lum_log_level level;
        if (lum_log_level_parse(v, &level) != 0)
            return config_fail(p, "log_level must be debug, info, warn or error, not \"%s\"", v);
        c->log_level = (int)level;
        return 0;
    }
    case KEY_COUNT_:
        break;
    }
    return config_fail(p, "internal: unhandled key");
}

static char *config_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static void config_defaults(struct server_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->cluster, "luminous");
    strcpy(c->state_machine, "kv");
    c->tick_ms = 50;
    c->election_ticks = 10;
    c->heartbeat_ticks = 2;
    c->max_inflight = 64;
    c->max_batch = 64;
    c->log_window = 1024;
    c->segment_entries = 8192;
    c->max_clients = 4096;
    c->max_pending = 65536;
    c->max_pending_per_conn = 1024;
    c->max_frame = 64u << 10;
    c->max_client_output = 8u << 20;
    c->client_idle_timeout_ms = 0;
    c->snapshot_entries = 100000;
    c->snapshot_margin = 1000;
    c->catchup_entries = 64;
    c->log_level = LUM_LOG_INFO;
}

/* Rules between keys, checked once the whole file is read; errors point at its end. */
static int config_check(struct config_parse *p, struct server_config *c)
{
    static const enum config_key required[] = {KEY_ID, KEY_DATA_DIR, KEY_PEER_LISTEN,
                                               KEY_CLIENT_LISTEN};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(p->seen & (1ull << required[i])))
            return config_fail(p, "missing required key \"%s\"", config_keys[required[i]]);
    if (c->heartbeat_ticks >= c->election_ticks)
        return config_fail(p, "heartbeat_ticks (%u) must be below election_ticks (%u)",
                           c->heartbeat_ticks, c->election_ticks);
    if (c->log_window < c->max_batch * 2)
        return config_fail(p, "log_window (%u) must be at least twice max_batch (%u)",
                           c->log_window, c->max_batch);
    /* Two listeners on one address would fail at bind with a vaguer message. */
    const struct { const char *key, *addr; const struct sockaddr_in *sa; } listens[] = {
        {"peer_listen", c->peer_listen_addr, &c->peer_listen},
        {"client_listen", c->client_listen_addr, &c->client_listen},
        {"resp_listen", c->resp_listen_addr, &c->resp_listen},
        {"http_listen", c->http_listen_addr, &c->http_listen},
    };
    for (size_t i = 0; i < sizeof listens / sizeof listens[0]; i++)
        for (size_t j = i + 1; j < sizeof listens / sizeof listens[0]; j++)
            if (listens[i].addr[0] && listens[j].addr[0] &&
                config_same_addr(listens[i].sa, listens[j].sa))
                return config_fail(p, "%s %s is also %s", listens[j].key, listens[j].addr,
                                   listens[i].key);
    snprintf(c->peer_advertise_addr, sizeof c->peer_advertise_addr, "%s", c->peer_listen_addr);
    if (c->n_members > 0) {
        bool self = false;
        for (uint32_t i = 0; i < c->n_members; i++) {
            if (c->members[i].id != c->id)
                continue;
            self = true;
            snprintf(c->peer_advertise_addr, sizeof c->peer_advertise_addr, "%s",
                     c->members[i].peer_addr);
        }
        if (!self)
            return config_fail(p, "id %llu is not one of the members", (unsigned long long)c->id);
    }
    /* FNV-1a of the name: peers compare it in their hello */
    c->cluster_id = 1469598103934665603ull;
    for (const char *s = c->cluster; *s; s++)
        c->cluster_id = (c->cluster_id ^ (uint8_t)*s) * 1099511628211ull;
    return 0;
}

int server_config_load(const char *path, struct server_config *c, struct lum_err *err)
{
    config_defaults(c);
    struct config_parse p = {.path = path, .err = err};
    FILE *f = fopen(path, "r");
    if (!f) {
        lum_errf(err, "%s: %s", path, strerror(errno));
        return -LUM_EIO;
    }
    char raw[1024];
    int rv = 0;
    while (rv == 0 && fgets(raw, sizeof raw, f)) {
        p.line++;
        if (!strchr(raw, '\n') && !feof(f)) {
            rv = config_fail(&p, "line longer than %zu bytes", sizeof raw - 2);
            break;
        }
        char *hash = strchr(raw, '#');
        if (hash)
            *hash = '\0';
        char *line = config_trim(raw);
        if (!*line)
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            rv = config_fail(&p, "expected \"key = value\", got \"%s\"", line);
            break;
        }
        *eq = '\0';
        char *key = config_trim(line), *value = config_trim(eq + 1);
        int k = 0;
        while (k < KEY_COUNT_ && strcmp(config_keys[k], key) != 0)
            k++;
        if (k == KEY_COUNT_)
            rv = config_fail(&p, "unknown key \"%s\"", key);
        else if (!*value)
            rv = config_fail(&p, "%s has no value", key);
        else if ((p.seen & (1ull << k)) && k != KEY_MEMBER)
            rv = config_fail(&p, "%s is set twice", key);
        else {
            p.seen |= 1ull << k;
            rv = config_set(&p, c, (enum config_key)k, value);
        }
    }
    if (rv == 0 && ferror(f)) {
        lum_errf(err, "%s: read error", path);
        rv = -LUM_EIO;
    }
    fclose(f);
    if (rv == 0) {
        p.line = p.line > 0 ? p.line : 1;
        rv = config_check(&p, c);
    }
    return rv;
}
