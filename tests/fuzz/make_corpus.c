/* Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) with the library's own
 * encoders and log, so every seed is valid by construction: `make fuzz-corpus`. Each seed is
 * in its target's input format (see the comment at the top of tests/fuzz/fuzz_<target>.c).
 * Usage: make_corpus DIR (DIR/peer, DIR/client, DIR/config, DIR/wal, DIR/kv are made). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luminous/base.h"
#include "luminous/kv.h"
#include "luminous/storage.h"
#include "luminous/wire.h"

static const char *corpus_root;
static uint8_t corpus_buf[1 << 16];
static struct raft_entry corpus_entries[4];

static void corpus_fail(const char *what)
{
    perror(what);
    exit(1);
}

/* DIR/target/name := prefix (prefix_len bytes, may be 0) + p[0..n). */
static void corpus_put(const char *target, const char *name, const void *prefix,
                       size_t prefix_len, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", corpus_root, target);
    if (mkdir(path, 0755) < 0 && access(path, F_OK) < 0)
        corpus_fail(path);
    snprintf(path, sizeof path, "%s/%s/%s", corpus_root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(prefix, 1, prefix_len, f) != prefix_len || fwrite(p, 1, n, f) != n ||
        fclose(f) != 0)
        corpus_fail(path);
}

/* A peer seed: the frame's type byte and body, the header's length and version dropped. */
static void corpus_frame(const char *target, const char *name, int size)
{
    if (size < (int)WIRE_FRAME_HEADER_SIZE)
        corpus_fail(name);
    corpus_put(target, name, NULL, 0, corpus_buf + 5, (size_t)size - 5);
}

static void corpus_peer(void)
{
    struct wire_hello h = {.cluster_id = 7, .node_id = 2, .protocol = WIRE_VERSION};
    strcpy(h.peer_addr, "127.0.0.1:7002");
    corpus_frame("peer", "hello", wire_encode_hello(corpus_buf, sizeof corpus_buf, &h));
    struct wire_auth a = {.step = WIRE_AUTH_PROOF};
    for (size_t i = 0; i < WIRE_AUTH_NONCE; i++)
        a.nonce[i] = a.mac[i] = (uint8_t)(i * 37 + 1);
    corpus_frame("peer", "auth", wire_encode_auth(corpus_buf, sizeof corpus_buf, &a));
    struct wire_snap_chunk c = {.from = 1, .to = 2, .term = 3, .index = 10, .snap_term = 3,
                                .offset = 0, .total = 5, .data = (const uint8_t *)"abcde",
                                .len = 5};
    corpus_frame("peer", "snap_chunk", wire_encode_snap_chunk(corpus_buf, sizeof corpus_buf, &c));

    struct raft_msg m = {.from = 1, .to = 2, .term = 3};
    static const char *const names[RAFT_MSG_TYPE_END_] = {
        [RAFT_MSG_VOTE] = "vote", [RAFT_MSG_VOTE_RESP] = "vote_resp",
        [RAFT_MSG_PREVOTE] = "prevote", [RAFT_MSG_PREVOTE_RESP] = "prevote_resp",
        [RAFT_MSG_APPEND] = "append", [RAFT_MSG_APPEND_RESP] = "append_resp",
        [RAFT_MSG_HEARTBEAT] = "heartbeat", [RAFT_MSG_HEARTBEAT_RESP] = "heartbeat_resp",
        [RAFT_MSG_TIMEOUT_NOW] = "timeout_now", [RAFT_MSG_SNAPSHOT] = "snapshot",
    };
    for (int i = 0; i < 2; i++) {
        corpus_entries[i] = (struct raft_entry){.term = 3, .index = 5 + (uint64_t)i,
                                                .type = 64, .len = 4};
        memcpy(corpus_entries[i].payload, i ? "put2" : "put1", 4);
    }
    for (uint8_t t = RAFT_MSG_VOTE; t < RAFT_MSG_TYPE_END_; t++) {
        memset(&m.vote, 0, sizeof m - offsetof(struct raft_msg, vote));
        m.type = t;
        switch ((enum raft_msg_type)t) {
        case RAFT_MSG_VOTE:
        case RAFT_MSG_PREVOTE:
            m.vote = (struct raft_msg_vote){.last_log_index = 9, .last_log_term = 2,
                                            .transfer = true};
            break;
        case RAFT_MSG_VOTE_RESP:
        case RAFT_MSG_PREVOTE_RESP:
            m.vote_resp.granted = true;
            break;
        case RAFT_MSG_APPEND:
            m.append = (struct raft_msg_append){.prev_log_index = 4, .prev_log_term = 2,
                                                .leader_commit = 4, .n_entries = 2,
                                                .entries = corpus_entries};
            break;
        case RAFT_MSG_APPEND_RESP:
            m.append_resp = (struct raft_msg_append_resp){.success = true, .last_index = 6,
                                                          .hint_index = 6, .hint_term = 3};
            break;
        case RAFT_MSG_HEARTBEAT:
            m.heartbeat = (struct raft_msg_heartbeat){.commit = 6, .ctx = 11};
            break;
        case RAFT_MSG_HEARTBEAT_RESP:
            m.heartbeat_resp.ctx = 11;
            break;
        case RAFT_MSG_SNAPSHOT:
            m.snapshot.index = 10;
            m.snapshot.term = 3;
            m.snapshot.members.count = 2;
            m.snapshot.members.members[0] = (struct raft_member){.id = 1, .role = 1};
            m.snapshot.members.members[1] = (struct raft_member){.id = 2, .role = 1};
            m.snapshot.members_old.count = 1;
            m.snapshot.members_old.members[0] = (struct raft_member){.id = 1, .role = 1};
            break;
        case RAFT_MSG_TIMEOUT_NOW:
        case RAFT_MSG_TYPE_END_:
            break;
        }
        corpus_frame("peer", names[t], wire_encode_raft(corpus_buf, sizeof corpus_buf, &m));
    }
    /* type 0: a MEMBERS entry's payload, a joint configuration and a context */
    corpus_buf[0] = 0;
    uint32_t n = raft_members_encode(&m.snapshot.members, &m.snapshot.members_old, "ctx", 3,
                                     corpus_buf + 1);
    corpus_put("peer", "members_entry", NULL, 0, corpus_buf, n + 1);
}

static void corpus_client(void)
{
    /* byte 0 picks the decoder in fuzz_client.c: 0 request, 1 response, 2 status, 3 members,
     * 4 auth */
    struct wire_request rq = {.request_id = 1, .op = WIRE_OP_COMMAND, .entry_type = 64,
                              .client_id = 5, .seq = 1, .body = (const uint8_t *)"k=v",
                              .body_len = 3};
    int n = wire_encode_request(corpus_buf, sizeof corpus_buf, &rq);
    corpus_buf[5] = 0;
    corpus_frame("client", "request_command", n);
    rq = (struct wire_request){.request_id = 2, .op = WIRE_OP_QUERY, .flags = WIRE_FLAG_STALE,
                               .body = (const uint8_t *)"k", .body_len = 1};
    n = wire_encode_request(corpus_buf, sizeof corpus_buf, &rq);
    corpus_buf[5] = 0;
    corpus_frame("client", "request_query", n);

    struct wire_response rs = {.request_id = 1, .status = -LUM_ENOTLEADER, .leader_id = 2,
                               .leader_addr = "127.0.0.1:7102", .leader_addr_len = 14,
                               .data = (const uint8_t *)"v", .data_len = 1};
    n = wire_encode_response(corpus_buf, sizeof corpus_buf, &rs);
    corpus_buf[5] = 1;
    corpus_frame("client", "response", n);

    static struct wire_status st = {.request_id = 3, .id = 1, .role = 2, .voter = true,
                                    .db_size = 4096, .term = 3, .leader_id = 1, .commit_index = 6,
                                    .applied_index = 6, .first_index = 1, .last_index = 6,
                                    .n_members = 2};
    for (uint32_t i = 0; i < 2; i++) {
        st.members[i].id = i + 1;
        st.members[i].role = 1;
        st.members[i].match_index = 6;
        snprintf(st.members[i].peer_addr, WIRE_ADDR_MAX + 1, "127.0.0.1:700%u", i + 1);
        snprintf(st.members[i].client_addr, WIRE_ADDR_MAX + 1, "127.0.0.1:710%u", i + 1);
    }
    n = wire_encode_status(corpus_buf, sizeof corpus_buf, &st);
    corpus_buf[5] = 2;
    corpus_frame("client", "status", n);

    n = wire_encode_members(corpus_buf + 1, sizeof corpus_buf - 1, st.members, 2);
    if (n < 0)
        corpus_fail("members");
    corpus_buf[0] = 3;
    corpus_put("client", "members", NULL, 0, corpus_buf, (size_t)n + 1);

    struct wire_auth a = {.step = WIRE_AUTH_PROOF};
    for (uint32_t i = 0; i < WIRE_AUTH_NONCE; i++)
        a.nonce[i] = (uint8_t)i;
    n = wire_encode_auth(corpus_buf, sizeof corpus_buf, &a);
    corpus_buf[5] = 4;
    corpus_frame("client", "auth_proof", n);
}

static void corpus_config(const char *example)
{
    FILE *f = fopen(example, "rb");
    if (!f)
        corpus_fail(example);
    size_t n = fread(corpus_buf, 1, sizeof corpus_buf, f);
    fclose(f);
    corpus_put("config", "raft.conf.example", NULL, 0, corpus_buf, n);
    static const char minimal[] = "id = 1\ndata_dir = d\npeer_listen = 127.0.0.1:7001\n"
                                  "client_listen = localhost:7101\n";
    corpus_put("config", "minimal", NULL, 0, minimal, sizeof minimal - 1);
}

/* The bytes of log/<first>.seg under dir, into corpus_buf; returns the length. */
static size_t corpus_read_seg(const char *dir, uint64_t first)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/log/%020llu.seg", dir, (unsigned long long)first);
    FILE *f = fopen(path, "rb");
    if (!f)
        corpus_fail(path);
    size_t n = fread(corpus_buf, 1, sizeof corpus_buf, f);
    fclose(f);
    return n;
}

static void corpus_wal(void)
{
    char dir[] = "/tmp/luminous-corpus-XXXXXX";
    if (!mkdtemp(dir))
        corpus_fail("mkdtemp");
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    struct storage_options opts;
    storage_options_default(&opts);
    opts.segment_entries = 4;
    struct wal *w;
    struct lum_err err;
    if (dirfd < 0 || wal_open(dirfd, &opts, &w, &err) != 0)
        corpus_fail("wal_open");
    for (uint64_t i = 1; i <= 6; i++) {
        struct raft_entry *e = &corpus_entries[0];
        *e = (struct raft_entry){.term = 1 + i / 3, .index = i, .type = 64,
                                 .len = (uint32_t)(i % 3) * 5};
        memset(e->payload, 'a' + (int)i, e->len);
        if (wal_append(w, e, 1, &err) != 0)
            corpus_fail(err.msg);
    }
    if (wal_sync(w, &err) != 0)
        corpus_fail(err.msg);
    wal_close(w);

    /* flags, split (u16), b_first - 2: see fuzz_wal.c */
    size_t a = corpus_read_seg(dir, 1);
    uint8_t one[4] = {0, 0, 0, 0};
    corpus_put("wal", "one_segment_whole", one, 4, corpus_buf, a);
    one[0] = 1 | 8; /* A's header comes from the target, which fixes record checksums */
    corpus_put("wal", "one_segment_body", one, 4, corpus_buf + 4096, a - 4096);
    static uint8_t both[1 << 16];
    memcpy(both, corpus_buf + 4096, a - 4096);
    size_t b = corpus_read_seg(dir, 5);
    memcpy(both + a - 4096, corpus_buf + 4096, b - 4096);
    uint8_t two[4] = {1 | 2 | 4 | 8 | 16, (uint8_t)(a - 4096), (uint8_t)((a - 4096) >> 8), 5 - 2};
    corpus_put("wal", "two_segments_bodies", two, 4, both, a - 4096 + b - 4096);

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    close(dirfd);
    if (system(cmd) != 0)
        corpus_fail(cmd);
}

/* ---- kv: operations in fuzz_kv.c's format ---- */

static uint8_t kv_seed[1 << 16];
static size_t  kv_seed_len;

static void kv_seed_bytes(const void *p, size_t n)
{
    if (kv_seed_len + n > sizeof kv_seed)
        corpus_fail("kv seed");
    memcpy(kv_seed + kv_seed_len, p, n);
    kv_seed_len += n;
}

static void kv_seed_u16(uint16_t v) { uint8_t b[2]; lum_put_u16(b, v); kv_seed_bytes(b, 2); }
static void kv_seed_u32(uint32_t v) { uint8_t b[4]; lum_put_u32(b, v); kv_seed_bytes(b, 4); }

/* op 0: apply an entry of type KV_PUT + t with this body, at time_s */
static void kv_seed_apply(uint8_t t, uint64_t time_s, const uint8_t *body, int n)
{
    if (n < 0)
        corpus_fail("kv encode");
    uint8_t head[LUM_COMMAND_HEADER_SIZE] = {0};
    lum_put_u64(head, 9);               /* client_id */
    lum_put_u64(head + 8, kv_seed_len); /* seq       */
    lum_put_u64(head + 16, time_s * 1000);
    uint8_t op[2] = {0, t};
    kv_seed_bytes(op, 2);
    kv_seed_u16((uint16_t)(LUM_COMMAND_HEADER_SIZE + n));
    kv_seed_bytes(head, sizeof head);
    kv_seed_bytes(body, (size_t)n);
}

static int kv_sink_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    kv_seed_bytes(buf, len);
    return 0;
}

static void corpus_kv(void)
{
    uint8_t body[256];
    kv_seed_len = 0;
    kv_seed_apply(0, 1, body, kv_encode_put(body, sizeof body, "k1", 2, "v1", 2, 0));
    kv_seed_apply(0, 1, body, kv_encode_put(body, sizeof body, "k2", 2, "v2", 2, 5000));
    kv_seed_apply(2, 2, body, kv_encode_cas(body, sizeof body, "k1", 2, "v1", 2, "v3", 2));
    kv_seed_apply(1, 2, body, kv_encode_del(body, sizeof body, "k3", 2));
    int n = kv_encode_get(body, sizeof body, "k1", 2);
    uint8_t op = 1;
    kv_seed_bytes(&op, 1);
    kv_seed_u32(3);
    kv_seed_u16((uint16_t)n);
    kv_seed_bytes(body, (size_t)n);
    op = 2;                      /* snapshot round trip */
    kv_seed_bytes(&op, 1);
    op = 4;                      /* housekeeping after k2 expired */
    kv_seed_bytes(&op, 1);
    kv_seed_u32(10);
    corpus_put("kv", "put_cas_del_get_snapshot_expire", NULL, 0, kv_seed, kv_seed_len);

    /* the Redis-shaped commands (types KV_PUT + 4 .. + 8) and queries */
    kv_seed_len = 0;
    kv_seed_apply(4, 1, body, kv_encode_set(body, sizeof body, KV_SET_NX, "s", 1, "7", 1, 3000));
    kv_seed_apply(4, 1, body, kv_encode_set(body, sizeof body, KV_SET_XX | KV_SET_KEEPTTL, "s", 1,
                                            "8", 1, 0));
    kv_seed_apply(5, 1, body, kv_encode_incr(body, sizeof body, "s", 1, 5));
    kv_seed_apply(5, 1, body, kv_encode_incr(body, sizeof body, "n", 1, INT64_MAX));
    kv_seed_apply(6, 2, body, kv_encode_setttl(body, sizeof body, "n", 1, 2000));
    kv_seed_apply(6, 2, body, kv_encode_setttl(body, sizeof body, "s", 1, INT64_MIN));
    const struct kv_pair pairs[] = {{"a", "1", 1, 1}, {"b", "", 1, 0}, {"a", "2", 1, 1}};
    kv_seed_apply(7, 2, body, kv_encode_mset(body, sizeof body, pairs, 3));
    const struct kv_key keys[] = {{"a", 1}, {"n", 1}, {"zz", 2}, {"a", 1}};
    kv_seed_apply(8, 2, body, kv_encode_mdel(body, sizeof body, keys, 2));
    int queries[4];
    queries[0] = kv_encode_mquery(body, sizeof body, KV_MGET, keys, 4);
    queries[1] = kv_encode_mquery(body + 64, sizeof body - 64, KV_EXISTS, keys, 4);
    queries[2] = kv_encode_pttl(body + 128, sizeof body - 128, "n", 1);
    queries[3] = kv_encode_dbsize(body + 192, sizeof body - 192);
    for (int i = 0; i < 4; i++) {
        if (queries[i] < 0)
            corpus_fail("kv encode query");
        op = 1;
        kv_seed_bytes(&op, 1);
        kv_seed_u32(3);
        kv_seed_u16((uint16_t)queries[i]);
        kv_seed_bytes(body + 64 * i, (size_t)queries[i]);
    }
    op = 2;                      /* snapshot round trip */
    kv_seed_bytes(&op, 1);
    op = 4;                      /* housekeeping after n expired */
    kv_seed_bytes(&op, 1);
    kv_seed_u32(10);
    corpus_put("kv", "set_incr_setttl_mset_mdel_queries", NULL, 0, kv_seed, kv_seed_len);

    /* op 3: load a snapshot that the machine itself wrote */
    void *kv = kv_fsm_ops.create();
    struct raft_entry e = {.type = KV_PUT};
    n = kv_encode_put(body, sizeof body, "key", 3, "value", 5, 0);
    struct lum_result res;
    if (!kv || n < 0 || lum_command_build(&e, 0, 0, 1000, body, (uint32_t)n) != 0 ||
        kv_fsm_ops.apply(kv, &e, &res) != 0 || res.code != KV_OK)
        corpus_fail("kv apply");
    kv_seed_len = 3; /* op and u16 len, filled in below */
    struct lum_sink to = {NULL, kv_sink_write};
    if (kv_fsm_ops.snapshot_save(kv, &to) != 0)
        corpus_fail("kv snapshot");
    kv_fsm_ops.destroy(kv);
    kv_seed[0] = 3;
    lum_put_u16(kv_seed + 1, (uint16_t)(kv_seed_len - 3));
    corpus_put("kv", "load_snapshot", NULL, 0, kv_seed, kv_seed_len);
}

/* HTTP requests as a scraper, a health check and a browser send them (fuzz_http). */
static void corpus_http(void)
{
    static const char scrape[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:7201\r\n"
                                 "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain;"
                                 "version=0.0.4;q=1,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n"
                                 "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
    static const char health[] = "HEAD /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                 "GET /status?x=1 HTTP/1.1\nHost: a\nConnection: close\n\n";
    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                               "Transfer-Encoding: chunked\r\n\r\nhi";
    corpus_put("http", "scrape", NULL, 0, scrape, sizeof scrape - 1);
    corpus_put("http", "health_pipelined", NULL, 0, health, sizeof health - 1);
    corpus_put("http", "post_with_body", NULL, 0, post, sizeof post - 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    corpus_root = argv[1];
    if (mkdir(corpus_root, 0755) < 0 && access(corpus_root, F_OK) < 0)
        corpus_fail(corpus_root);
    corpus_peer();
    corpus_client();
    corpus_config("raft.conf.example");
    corpus_wal();
    corpus_kv();
    corpus_http();
    return 0;
}
