/* raftctl: the command-line client of a Luminous cluster. The contract (commands, output,
 * exit codes) is DESIGN.md's "CLI contract"; scripts and tests rely on it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "luminous/client.h"
#include "luminous/io.h"
#include "luminous/kv.h"
#include "luminous/secret.h"
#include "raftctl_status.h"

enum { EXIT_OK = 0, EXIT_NO = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3 };

struct ctl {
    const char *cluster;
    uint32_t    timeout_ms;
    bool        json, stale;
    uint64_t    ttl_s;
    uint32_t    count;        /* watch-status: refreshes, 0 until interrupted */
    const char *secret_file;  /* NULL: no handshake */
    struct lum_client *client;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftctl [--cluster HOST:PORT,...] [--timeout MS] [--json] [--secret-file PATH]\n"
            "               COMMAND\n"
            "  put KEY VALUE [--ttl SECONDS]   store VALUE under KEY\n"
            "  get KEY [--stale]               print KEY's value (exit 1 if absent)\n"
            "  del KEY                         delete KEY\n"
            "  cas KEY OLD NEW                 set KEY to NEW if it is OLD (exit 1 if not)\n"
            "  status                          a table of every node: id, address, role,\n"
            "                                  term, leader, commit, applied, lag, snapshot,\n"
            "                                  db size (or its error); --json for scripts\n"
            "  watch-status [--count N]        the status table every second until Ctrl-C\n"
            "                                  or SIGTERM (or N times); --json: an array a\n"
            "                                  line\n"
            "  members                         the leader's members: role, match, lag\n"
            "  members add ID PEER CLIENT      add a server: as a learner, then a voter once\n"
            "                                  caught up (waits up to --timeout, default 60 s)\n"
            "  members remove ID               remove a server (the leader too)\n"
            "  transfer ID                     hand leadership to voter ID\n"
            "  snapshot                        take a snapshot on the leader now\n"
            "  backup FILE                     write a consistent snapshot of the leader's\n"
            "                                  state to FILE (checked; restore it with\n"
            "                                  raftsrv --restore FILE; default --timeout 60 s\n"
            "                                  per piece)\n"
            "--cluster defaults to $LUMINOUS_CLUSTER, then " LUM_CLUSTER_DEFAULT "\n"
            "--secret-file (the cluster secret, when the servers have secret_file) defaults\n"
            "  to $LUMINOUS_SECRET_FILE\n"
            "exit: 0 ok, 1 no such key / no match / backup FILE not written, 2 usage,\n"
            "  3 cluster unavailable, timed out or authentication refused\n");
}

static void json_string(const void *data, size_t len)
{
    const unsigned char *p = data;
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            printf("\\u%04x", p[i]);
        else
            putchar(p[i]);
    }
    putchar('"');
}

/* A failed call: say what happened and map it to the exit contract. */
static int ctl_failed(const char *what, int rv, const struct lum_err *err)
{
    if (rv == -LUM_ETIMEDOUT)
        fprintf(stderr, "raftctl: %s: timed out (%s); the outcome of a write is unknown\n",
                what, err->msg);
    else if (rv == -LUM_EUNAVAILABLE)
        fprintf(stderr, "raftctl: %s: cluster unavailable: %s\n", what, err->msg);
    else if (rv == -LUM_EAUTH)
        fprintf(stderr, "raftctl: %s: %s\n", what, err->msg);
    else
        fprintf(stderr, "raftctl: %s: %s\n", what, lum_strerror(rv));
    return rv == -LUM_ETOOBIG || rv == -LUM_EINVAL ? EXIT_USAGE : EXIT_UNAVAILABLE;
}

static int ctl_reply_status(const char *what, const struct lum_reply *r)
{
    if (r->status == 0)
        return EXIT_OK;
    if (r->status == -LUM_ENOSPC) { /* exit 3: an earlier attempt of a write may still land */
        fprintf(stderr, "raftctl: %s: no space left on device on node %llu: it refuses writes "
                "and linearizable reads until space returns (get --stale still answers)\n",
                what, (unsigned long long)r->node_id);
        return EXIT_UNAVAILABLE;
    }
    fprintf(stderr, "raftctl: %s: %s\n", what, lum_strerror(r->status));
    if (r->status == -LUM_ETOOBIG || r->status == -LUM_EINVAL)
        return EXIT_USAGE;
    return EXIT_UNAVAILABLE;
}

static int ctl_write(struct ctl *ctl, const char *what, uint16_t type, const uint8_t *body,
                     int len)
{
    struct lum_reply r;
    struct lum_err err = {{0}};
    int rv = lum_client_command(ctl->client, type, body, (uint32_t)len, &r, &err);
    if (rv != 0)
        return ctl_failed(what, rv, &err);
    int ex = ctl_reply_status(what, &r);
    if (ex != EXIT_OK)
        return ex;
    if (r.code == KV_BAD_REQUEST) {
        fprintf(stderr, "raftctl: %s: the server refused the request as malformed\n", what);
        return EXIT_USAGE;
    }
    bool ok = r.code == KV_OK;
    if (ctl->json)
        printf("{\"ok\":%s}\n", ok ? "true" : "false");
    else if (!ok && type == KV_CAS)
        fprintf(stderr, "raftctl: cas: the current value is not OLD (or the key is absent)\n");
    return ok || type == KV_DEL ? EXIT_OK : EXIT_NO;
}

static int ctl_encode_failed(const char *what, int len, size_t klen, size_t vlen)
{
    if (len == -LUM_EINVAL)
        fprintf(stderr, "raftctl: %s: the key must not be empty\n", what);
    else if (klen > KV_KEY_MAX)
        fprintf(stderr, "raftctl: %s: key is %zu bytes, the limit is %u bytes\n", what, klen,
                KV_KEY_MAX);
    else
        fprintf(stderr,
                "raftctl: %s: key + value are %zu bytes, the limit is %u bytes "
                "(an entry's payload is at most %u bytes, headers included)\n",
                what, klen + vlen, (unsigned)KV_PUT_DATA_MAX, (unsigned)RAFT_PAYLOAD_MAX);
    return EXIT_USAGE;
}

static int cmd_put(struct ctl *ctl, char **args)
{
    static uint8_t body[RAFT_PAYLOAD_MAX];
    size_t klen = strlen(args[0]), vlen = strlen(args[1]);
    int len = kv_encode_put(body, sizeof body, args[0], klen, args[1], vlen, ctl->ttl_s * 1000);
    if (len < 0)
        return ctl_encode_failed("put", len, klen, vlen);
    return ctl_write(ctl, "put", KV_PUT, body, len);
}

static int cmd_del(struct ctl *ctl, char **args)
{
    static uint8_t body[RAFT_PAYLOAD_MAX];
    size_t klen = strlen(args[0]);
    int len = kv_encode_del(body, sizeof body, args[0], klen);
    if (len < 0)
        return ctl_encode_failed("del", len, klen, 0);
    return ctl_write(ctl, "del", KV_DEL, body, len);
}

static int cmd_cas(struct ctl *ctl, char **args)
{
    static uint8_t body[RAFT_PAYLOAD_MAX];
    size_t klen = strlen(args[0]), olen = strlen(args[1]), nlen = strlen(args[2]);
    int len = kv_encode_cas(body, sizeof body, args[0], klen, args[1], olen, args[2], nlen);
    if (len < 0)
        return ctl_encode_failed("cas", len, klen, olen + nlen);
    return ctl_write(ctl, "cas", KV_CAS, body, len);
}

static int cmd_get(struct ctl *ctl, char **args)
{
    uint8_t body[KV_KEY_MAX + 16];
    size_t klen = strlen(args[0]);
    int len = kv_encode_get(body, sizeof body, args[0], klen);
    if (len < 0)
        return ctl_encode_failed("get", len, klen, 0);
    struct lum_reply r;
    struct lum_err err = {{0}};
    int rv = lum_client_query(ctl->client, body, (uint32_t)len, ctl->stale, &r, &err);
    if (rv != 0)
        return ctl_failed("get", rv, &err);
    int ex = ctl_reply_status("get", &r);
    if (ex != EXIT_OK)
        return ex;
    if (r.code == KV_NOT_FOUND) {
        if (ctl->json)
            printf("{\"key\":"), json_string(args[0], klen), printf(",\"found\":false}\n");
        else
            fprintf(stderr, "raftctl: get: %s: no such key\n", args[0]);
        return EXIT_NO;
    }
    if (ctl->json) {
        printf("{\"key\":");
        json_string(args[0], klen);
        printf(",\"found\":true,\"value\":");
        json_string(r.data, r.len);
        printf("}\n");
    } else {
        fwrite(r.data, 1, r.len, stdout);
        putchar('\n');
    }
    return EXIT_OK;
}

/* One node's element of `status --json`: its status, or the error it answered with. */
/* The answers of every node: the table or JSON; exit 3 if none answered. */
static int cmd_status(struct ctl *ctl, char **args)
{
    (void)args;
    static struct ctl_status_row rows[LUM_CLIENT_NODES_MAX];
    struct lum_err err = {{0}};
    int answered = ctl_status_collect(ctl->client, rows, &err);
    if (answered < 0)
        return ctl_failed("status", answered, &err);
    if (ctl->json)
        ctl_status_json(stdout, rows, lum_client_nodes(ctl->client));
    else
        ctl_status_table(stdout, rows, lum_client_nodes(ctl->client));
    if (answered == 0) {
        fprintf(stderr, "raftctl: status: no node of the cluster answered (%s); is it running? "
                        "`make run` starts a local one\n", ctl->cluster);
        return EXIT_UNAVAILABLE;
    }
    return EXIT_OK;
}

static int cmd_watch_status(struct ctl *ctl, char **args)
{
    (void)args;
    struct lum_err err = {{0}};
    int answered = ctl_watch_status(ctl->client, stdout, ctl->json, ctl->count, &err);
    if (answered < 0)
        return ctl_failed("watch-status", answered, &err);
    return answered > 0 ? EXIT_OK : EXIT_UNAVAILABLE;
}

static int ctl_number(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*text == '-' || *end || end == text || v > max) {
        fprintf(stderr, "raftctl: %s must be a number up to %llu, not \"%s\"\n", opt,
                (unsigned long long)max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- admin ---------------------------------------------------------------------------------- */

static int ctl_admin(struct ctl *ctl, const char *what, uint8_t op, const void *body,
                     uint32_t len, struct lum_reply *r)
{
    struct lum_err err = {{0}};
    int rv = lum_client_admin(ctl->client, op, body, len, r, &err);
    if (rv != 0)
        return ctl_failed(what, rv, &err);
    return ctl_reply_status(what, r);
}

static int ctl_leader(struct ctl *ctl, const char *what, struct wire_status *st)
{
    struct lum_err err = {{0}};
    int rv = lum_client_leader_status(ctl->client, st, &err);
    return rv == 0 ? EXIT_OK : ctl_failed(what, rv, &err);
}

static int ctl_id(const char *text, uint64_t *id)
{
    if (ctl_number("ID", text, UINT64_MAX, id) != 0 || *id == 0)
        return EXIT_USAGE;
    return EXIT_OK;
}

static int members_show(struct ctl *ctl)
{
    static struct wire_status st;
    int ex = ctl_leader(ctl, "members", &st);
    if (ex != EXIT_OK)
        return ex;
    if (!ctl->json)
        printf("%-6s %-8s %-21s %-21s %10s %8s\n", "ID", "ROLE", "PEER", "CLIENT", "MATCH",
               "LAG");
    else
        printf("[");
    for (uint32_t i = 0; i < st.n_members; i++) {
        const struct wire_member *m = &st.members[i];
        uint64_t match = m->id == st.id ? st.last_index : m->match_index;
        uint64_t lag = st.last_index > match ? st.last_index - match : 0;
        const char *role = m->role == RAFT_LEARNER ? "learner" : "voter";
        if (ctl->json) {
            printf("%s{\"id\":%llu,\"role\":\"%s\",\"leader\":%s,\"peer\":", i ? "," : "",
                   (unsigned long long)m->id, role, m->id == st.id ? "true" : "false");
            json_string(m->peer_addr, strlen(m->peer_addr));
            printf(",\"client\":");
            json_string(m->client_addr, strlen(m->client_addr));
            printf(",\"match_index\":%llu,\"lag\":%llu}", (unsigned long long)match,
                   (unsigned long long)lag);
        } else {
            printf("%-6llu %-8s %-21s %-21s %10llu %8llu%s\n", (unsigned long long)m->id, role,
                   m->peer_addr, m->client_addr, (unsigned long long)match,
                   (unsigned long long)lag, m->id == st.id ? "  (leader)" : "");
        }
    }
    if (ctl->json)
        printf("]\n");
    return EXIT_OK;
}

/* Sends the leader's configuration with `id` set to role (0: removed). */
static int members_change(struct ctl *ctl, const char *what, uint64_t id, uint8_t role,
                          const char *peer, const char *client, bool *retry_out)
{
    static struct wire_status st;
    int ex = ctl_leader(ctl, what, &st);
    if (ex != EXIT_OK)
        return ex;
    struct wire_member want[RAFT_MEMBERS_MAX];
    uint32_t n = 0;
    bool found = false;
    for (uint32_t i = 0; i < st.n_members; i++) {
        if (st.members[i].id == id) {
            found = true;
            if (!role)
                continue;
            want[n] = st.members[i];
            want[n++].role = role;
        } else {
            want[n++] = st.members[i];
        }
    }
    if (!found && role) {
        if (n == RAFT_MEMBERS_MAX) {
            fprintf(stderr, "raftctl: %s: the cluster has %u members, the most it can have\n",
                    what, RAFT_MEMBERS_MAX);
            return EXIT_USAGE;
        }
        want[n] = (struct wire_member){.id = id, .role = role};
        snprintf(want[n].peer_addr, sizeof want[n].peer_addr, "%s", peer);
        snprintf(want[n++].client_addr, sizeof want[n].client_addr, "%s", client);
    }
    if (!found && !role) {
        fprintf(stderr, "raftctl: %s: node %llu is not a member\n", what, (unsigned long long)id);
        return EXIT_NO;
    }
    uint8_t body[RAFT_PAYLOAD_MAX];
    int len = wire_encode_members(body, sizeof body, want, n);
    if (len < 0)
        return ctl_failed(what, len, &(struct lum_err){{0}});
    struct lum_reply r;
    struct lum_err err = {{0}};
    int rv = lum_client_admin(ctl->client, WIRE_OP_MEMBERS, body, (uint32_t)len, &r, &err);
    if (rv != 0)
        return ctl_failed(what, rv, &err);
    if (retry_out && (r.status == -LUM_EAGAIN || r.status == -RAFT_EBUSY)) {
        *retry_out = true;
        return EXIT_OK;
    }
    return ctl_reply_status(what, &r);
}

static int members_add(struct ctl *ctl, char **args)
{
    uint64_t id;
    if (ctl_id(args[0], &id) != EXIT_OK)
        return EXIT_USAGE;
    struct sockaddr_in sa;
    struct lum_err err;
    for (int i = 1; i <= 2; i++) {
        if (strlen(args[i]) > WIRE_ADDR_MAX || net_parse_addr(args[i], &sa, &err) != 0) {
            fprintf(stderr, "raftctl: members add: %s\n", err.msg);
            return EXIT_USAGE;
        }
    }
    uint64_t deadline = clock_mono_ms() + ctl->timeout_ms;
    int ex = members_change(ctl, "members add", id, RAFT_LEARNER, args[1], args[2], NULL);
    if (ex != EXIT_OK)
        return ex;
    printf("node %llu added as a learner; waiting for it to catch up\n", (unsigned long long)id);
    fflush(stdout);
    while (clock_mono_ms() < deadline) {
        bool retry = false;
        ex = members_change(ctl, "members add", id, RAFT_VOTER, args[1], args[2], &retry);
        if (ex != EXIT_OK)
            return ex;
        if (!retry) {
            printf("node %llu is a voter\n", (unsigned long long)id);
            return EXIT_OK;
        }
        struct timespec ts = {.tv_nsec = 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "raftctl: members add: node %llu is a learner and has not caught up within "
                    "the timeout; run the command again to make it a voter\n",
            (unsigned long long)id);
    return EXIT_UNAVAILABLE;
}

static int cmd_members(struct ctl *ctl, char **args)
{
    if (!args[0])
        return members_show(ctl);
    if (strcmp(args[0], "add") == 0 && args[1] && args[2] && args[3] && !args[4])
        return members_add(ctl, args + 1);
    if (strcmp(args[0], "remove") == 0 && args[1] && !args[2]) {
        uint64_t id;
        if (ctl_id(args[1], &id) != EXIT_OK)
            return EXIT_USAGE;
        int ex = members_change(ctl, "members remove", id, 0, NULL, NULL, NULL);
        if (ex == EXIT_OK)
            printf("node %llu removed\n", (unsigned long long)id);
        return ex;
    }
    fprintf(stderr, "raftctl: members takes no arguments, add ID PEER CLIENT, or remove ID\n");
    return EXIT_USAGE;
}

static int cmd_transfer(struct ctl *ctl, char **args)
{
    uint64_t id;
    if (ctl_id(args[0], &id) != EXIT_OK)
        return EXIT_USAGE;
    uint8_t body[8];
    lum_put_u64(body, id);
    struct lum_reply r;
    int ex = ctl_admin(ctl, "transfer", WIRE_OP_TRANSFER, body, 8, &r);
    if (ex == EXIT_OK)
        printf("node %llu is the leader\n", (unsigned long long)id);
    return ex;
}

static int cmd_snapshot(struct ctl *ctl, char **args)
{
    (void)args;
    struct lum_reply r;
    int ex = ctl_admin(ctl, "snapshot", WIRE_OP_SNAPSHOT, NULL, 0, &r);
    if (ex == EXIT_OK && r.len == 8)
        printf("snapshot at index %llu\n", (unsigned long long)lum_get_u64(r.data));
    return ex;
}

static int cmd_backup(struct ctl *ctl, char **args)
{
    struct lum_backup b;
    struct lum_err err = {{0}};
    int rv = lum_client_backup(ctl->client, args[0], &b, &err);
    if (rv != 0 && b.file_error) {
        fprintf(stderr, "raftctl: backup: %s; %s not written\n", err.msg, args[0]);
        return rv == -LUM_EINVAL ? EXIT_USAGE : EXIT_NO;
    }
    if (rv != 0)
        return ctl_failed("backup", rv, &err);
    if (ctl->json)
        printf("{\"file\":"), json_string(args[0], strlen(args[0])),
            printf(",\"index\":%llu,\"term\":%llu,\"size\":%llu}\n",
                   (unsigned long long)b.index, (unsigned long long)b.term,
                   (unsigned long long)b.size);
    else
        printf("backup of snapshot %llu (term %llu), %llu bytes, written to %s\n",
               (unsigned long long)b.index, (unsigned long long)b.term,
               (unsigned long long)b.size, args[0]);
    return EXIT_OK;
}

/* --secret-file (or $LUMINOUS_SECRET_FILE): read it, hand it to the client, forget it. */
static int ctl_secret(struct ctl *ctl)
{
    if (!ctl->secret_file || !*ctl->secret_file)
        return 0;
    static struct lum_secret secret;
    struct lum_err err;
    int rv = lum_secret_load(ctl->secret_file, &secret, &err);
    if (rv == 0)
        rv = lum_client_set_secret(ctl->client, secret.key, secret.len);
    else
        fprintf(stderr, "raftctl: --secret-file: %s\n", err.msg);
    memset(&secret, 0, sizeof secret);
    return rv;
}

static const struct {
    const char *name;
    int         args;  /* -1: the command checks its own */
    int       (*fn)(struct ctl *ctl, char **args);
} commands[] = {
    {"put", 2, cmd_put}, {"get", 1, cmd_get}, {"del", 1, cmd_del},
    {"cas", 3, cmd_cas}, {"status", 0, cmd_status}, {"members", -1, cmd_members},
    {"transfer", 1, cmd_transfer}, {"snapshot", 0, cmd_snapshot},
    {"backup", 1, cmd_backup}, {"watch-status", 0, cmd_watch_status},
};


int main(int argc, char **argv)
{
    struct ctl ctl = {.timeout_ms = 0}; /* 0: the command's default */
    ctl.cluster = getenv("LUMINOUS_CLUSTER");
    ctl.secret_file = getenv("LUMINOUS_SECRET_FILE");
    if (!ctl.cluster || !*ctl.cluster)
        ctl.cluster = LUM_CLUSTER_DEFAULT;
    static const struct option longopts[] = {
        {"cluster", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},          {"stale", no_argument, NULL, 's'},
        {"ttl", required_argument, NULL, 'T'},     {"help", no_argument, NULL, 'h'},
        {"secret-file", required_argument, NULL, 'S'},
        {"count", required_argument, NULL, 'n'},
        {0, 0, 0, 0},
    };
    int opt;
    uint64_t v;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': ctl.cluster = optarg; break;
        case 't':
            if (ctl_number("--timeout", optarg, 86400000, &v) != 0)
                return EXIT_USAGE;
            if (v == 0) {
                fprintf(stderr, "raftctl: --timeout must be at least 1 ms\n");
                return EXIT_USAGE;
            }
            ctl.timeout_ms = (uint32_t)v;
            break;
        case 'j': ctl.json = true; break;
        case 's': ctl.stale = true; break;
        case 'T':
            if (ctl_number("--ttl", optarg, 100ull * 365 * 86400, &ctl.ttl_s) != 0)
                return EXIT_USAGE;
            if (ctl.ttl_s == 0) {
                fprintf(stderr, "raftctl: --ttl must be at least 1 second\n");
                return EXIT_USAGE;
            }
            break;
        case 'S': ctl.secret_file = optarg; break;
        case 'n':
            if (ctl_number("--count", optarg, UINT32_MAX, &v) != 0)
                return EXIT_USAGE;
            if (v == 0) {
                fprintf(stderr, "raftctl: --count must be at least 1\n");
                return EXIT_USAGE;
            }
            ctl.count = (uint32_t)v;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        if (commands[i].args >= 0 && argc - optind - 1 != commands[i].args) {
            fprintf(stderr, "raftctl: %s takes %d argument%s\n", name, commands[i].args,
                    commands[i].args == 1 ? "" : "s");
            usage(stderr);
            return EXIT_USAGE;
        }
        if ((ctl.stale && strcmp(name, "get") != 0) || (ctl.ttl_s && strcmp(name, "put") != 0) ||
            (ctl.count && strcmp(name, "watch-status") != 0)) {
            fprintf(stderr, "raftctl: --stale goes with get, --ttl with put, --count with "
                            "watch-status\n");
            return EXIT_USAGE;
        }
        if (ctl.timeout_ms == 0) /* adding a server waits for it to catch up, a backup
                                    for a snapshot to be written */
            ctl.timeout_ms = strcmp(name, "members") == 0 || strcmp(name, "backup") == 0
                                 ? 60000
                             : strcmp(name, "watch-status") == 0 ? 1000 /* keep the beat */
                                                                 : 5000;
        struct lum_err err = {{0}};
        if (lum_client_open(ctl.cluster, ctl.timeout_ms, &ctl.client, &err) != 0) {
            fprintf(stderr, "raftctl: --cluster: %s\n", err.msg);
            return EXIT_USAGE;
        }
        if (ctl_secret(&ctl) != 0) {
            lum_client_close(ctl.client);
            return EXIT_USAGE;
        }
        int rv = commands[i].fn(&ctl, argv + optind + 1);
        lum_client_close(ctl.client);
        return rv;
    }
    fprintf(stderr, "raftctl: unknown command \"%s\"\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
