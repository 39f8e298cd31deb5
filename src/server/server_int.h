/* The server's internal state, shared by the files of src/server/. */
#ifndef LUMINOUS_SERVER_INT_H
#define LUMINOUS_SERVER_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "luminous/fsm.h"
#include "luminous/io.h"
#include "luminous/server.h"
#include "luminous/storage.h"
#include "http_int.h"

#define SERVER_CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define SERVER_PEER_OUT_MAX   (64u << 20) /* queued bytes to one peer before we drop   */
#define SERVER_INBOUND_MAX    (4 * RAFT_MEMBERS_MAX)
#define SERVER_BACKOFF_MIN_MS 50u
#define SERVER_BACKOFF_MAX_MS 2000u
#define SERVER_HOUSEKEEPING_MS 100u
#define SERVER_HELLO_TIMEOUT_MS 5000u     /* an accepted peer link must say hello by then */
#define SERVER_REFUSAL_LOG_MS  1000u      /* one "max_clients reached" line per this      */
#define SERVER_AUTH_TIMEOUT_MS 5000u      /* a client must authenticate by then (secret)   */
/* A leader refuses new writes up front while data_dir's file system has less free space
 * than this (checked every SERVER_DISK_CHECK_MS), so the log rarely meets ENOSPC at all. */
#define SERVER_DISK_RESERVE_BYTES (16ull << 20)
#define SERVER_DISK_CHECK_MS      1000u
#define SERVER_QUERY_INLINE   64u         /* query bytes kept without an allocation     */
#define SERVER_BOOK_MAX       (2 * RAFT_MEMBERS_MAX) /* addresses we keep                */
#define SERVER_BOOK_ENCODED_MAX (4 + SERVER_BOOK_MAX * (12 + 2 * WIRE_ADDR_MAX))
#define SERVER_PEERS_MAX      SERVER_BOOK_MAX
#define SERVER_ADMIN_MAX      16u         /* admin requests (members, transfer, snapshot) */
#define SERVER_STREAM_AHEAD   (2u << 20)  /* snapshot bytes queued to a peer at once      */
#define SERVER_SESSIONS_MAX   65536u      /* client sessions remembered (session.c)      */
#define SERVER_BACKUP_PINS    4u          /* snapshot files kept open for backups         */
#define SERVER_BACKUP_IDLE_MS 60000u      /* a pin no backup asked for this long is let go */
#define SNAPSHOT_BODY_VERSION 1u          /* of a snapshot's body (snapshot.c)           */

/* ---- the address book (book.c) ------------------------------------------------------------- */

/* Records (or updates) id's addresses; an empty or NULL address leaves that one as it is.
 * 0, -LUM_EINVAL (a bad address), -LUM_EBUSY (the book is full). */
int  book_set(struct server *s, uint64_t id, const char *peer_addr, const char *client_addr);
/* Encodes members' ids and addresses (a MEMBERS entry's context). Its length, 0 if > cap. */
uint32_t book_encode(const struct wire_member *m, uint32_t n, uint8_t *out, uint32_t cap);
/* Records every address of an encoded list. 0 or -LUM_EMALFORMED. */
int  book_apply(struct server *s, const uint8_t *in, uint32_t len);
int  book_save(struct server *s, struct lum_sink *to);
int  book_load(struct server *s, struct lum_source *from);

/* ---- frames (frames.c) ---------------------------------------------------------------------- */

/* on_frame returns 0 (consumed), SERVER_FRAME_LATER (not now: the frame stays buffered
 * and parsing stops) or a negated code (close). */
#define SERVER_FRAME_LATER 1
typedef int server_frame_fn(void *ctx, const struct wire_frame *f);
/* Reads what arrived on c and hands each whole frame to on_frame. 0 while the connection
 * is fine; a negated code when the caller must close it: end of stream, a read error, a
 * bad frame (logged as "<who>: bad frame (...)"), a frame over c->in_max (-LUM_ETOOBIG,
 * logged with its size), or on_frame's refusal. */
int server_read_frames(struct conn *c, const char *who, server_frame_fn *on_frame, void *ctx);
/* The same for the frames already buffered, without reading. */
int server_parse_frames(struct conn *c, const char *who, server_frame_fn *on_frame, void *ctx);

/* ---- the cluster-secret handshake (auth.c) ----------------------------------------------------
 * Only when secret_file is configured (auth_enabled). Each returns 0 or a negated code,
 * after logging why (auth_warn), and the caller closes the connection. */
struct server;
/* The dialer's progress on one connection. */
struct auth_dial {
    bool    challenged, done;
    uint8_t nonce_a[WIRE_AUTH_NONCE], nonce_d[WIRE_AUTH_NONCE];
};
bool auth_enabled(const struct server *s);
/* Sends CHALLENGE with a fresh nonce, kept in nonce_a. */
int  auth_challenge(struct conn *c, uint8_t nonce_a[WIRE_AUTH_NONCE]);
/* The first frame on an acceptor's connection: must be a valid PROOF; answers ACCEPT. */
int  auth_accept(struct server *s, struct conn *c, const char *who,
                 const uint8_t nonce_a[WIRE_AUTH_NONCE], const struct wire_frame *f);
/* A frame on a connection we dialed, before d->done: CHALLENGE (we send PROOF), then
 * ACCEPT (checked; d->done is set). */
int  auth_dial_step(struct server *s, struct conn *c, const char *who, struct auth_dial *d,
                    const struct wire_frame *f);
/* A warning, at most a few a second (the rest are counted in the next). */
void auth_warn(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- peers (peers.c) ------------------------------------------------------------------------
 * Each pair of servers uses two TCP connections: each side dials the other and only
 * writes on the connection it dialed, and only reads on the ones it accepted. */
/* A snapshot being streamed to a peer (InstallSnapshot, paper §7): file chunks as the
 * connection drains, then the SNAPSHOT message; the core hears how it went. */
struct snap_stream {
    int      fd;              /* -1: none                                 */
    uint64_t size, offset;
    uint32_t crc, body_crc;   /* of the body sent so far; the header's    */
    struct raft_msg msg;      /* sent after the last chunk                */
    bool     report;          /* tell the core: ...                       */
    bool     ok;              /* ... this                                 */
};

struct peer {
    struct server *srv;
    uint64_t id;              /* addresses come from the book             */
    struct conn out;
    bool     connecting;      /* connect() in progress                   */
    bool     ready;           /* connected, authenticated, hello sent    */
    bool     authing;         /* connected, the handshake under way       */
    struct auth_dial auth;
    uint64_t retry_at_ms;     /* next dial, monotonic                    */
    uint32_t backoff_ms;
    uint64_t dropped;         /* messages dropped: not connected or full */
    struct snap_stream stream;
};

struct inbound {
    struct server *srv;
    struct conn conn;
    bool     hello_done;
    bool     authed;          /* passed the handshake (or none is needed) */
    uint8_t  nonce_a[WIRE_AUTH_NONCE];
    uint64_t node_id;
    uint64_t opened_ms;       /* monotonic: for the hello deadline        */
    char     name[64];
};

int  peers_init(struct server *s, struct lum_err *err);
void peers_close(struct server *s);
void peers_send(struct server *s, const struct raft_msg *m);
void peers_flush(struct server *s);
void peers_maintain(struct server *s);      /* dial / redial with backoff */
void peers_on_accept(struct loop_watch *w, uint32_t events);
/* Makes sure we have a peer for id (it is a member, or it dialed us). */
void peers_ensure(struct server *s, uint64_t id);
void inbound_close(struct server *s, struct inbound *in);
/* Feeds snapshot streams and tells the core how finished ones went. True if it told the
 * core anything (its ready batch may have changed). Not between ready and advance. */
bool peers_pump_snapshots(struct server *s);

/* ---- clients (clients.c) -------------------------------------------------------------------- */

struct client {
    struct server *srv;
    struct conn conn;
    uint32_t slot, gen;
    uint32_t pending;   /* requests waiting on the log or a read barrier */
    bool     dirty;     /* has answers queued: listed in server.dirty_clients */
    bool     paused;    /* max_pending_per_conn reached: not reading (limits.c) */
    bool     authed;    /* passed the handshake (or none is needed) */
    uint8_t  nonce_a[WIRE_AUTH_NONCE];
    uint64_t active_ms; /* monotonic: the last frame from it, for the idle timeout */
    char     name[64];
    struct resp_conn *resp; /* a Redis-protocol client (resp_conn.c); NULL: native */
};

int  clients_init(struct server *s, struct lum_err *err);
void clients_close(struct server *s);
void clients_on_accept(struct loop_watch *w, uint32_t events);
void clients_flush(struct server *s);
/* The client in slot with generation gen, if it is still connected. */
struct client *clients_get(struct server *s, uint32_t slot, uint32_t gen);
void clients_respond(struct server *s, struct client *c, const struct wire_response *rs);
/* Fills the redirect fields of rs with the leader we know, if any. */
void clients_leader_hint(struct server *s, struct wire_response *rs);
void client_close(struct server *s, struct client *c);
/* A new client in a free slot (the caller checked max_clients), reading with fn; NULL if it
 * could not be set up (fd is closed then). kind names it in log lines. */
struct client *clients_add(struct server *s, int fd, loop_fn *fn, size_t in_max,
                           const char *kind);
/* Answers leave in one write per client per loop turn (clients_flush). */
void clients_mark_dirty(struct server *s, struct client *c);
/* The native paths, shared with the Redis protocol: a write proposed (answered with
 * request_id once applied) and a linearizable read (a ReadIndex barrier). 0 or the status to
 * answer at once (-LUM_EBUSY, -LUM_ENOTLEADER, -LUM_ENOSPC, ...). */
int  clients_propose(struct server *s, struct client *c, uint64_t request_id, uint16_t type,
                     uint64_t client_id, uint64_t seq, const uint8_t *body, uint32_t len);
int  clients_read(struct server *s, struct client *c, uint64_t request_id, const uint8_t *query,
                  uint32_t len);

/* ---- the Redis protocol (resp_*.c; resp_int.h) ---------------------------------------------- */
struct resp_conn;
struct resp_server;
/* Listens on resp_listen when it is configured. 0 or -LUM_EIO / -LUM_ENOMEM. */
int  resp_init(struct server *s, struct lum_err *err);
void resp_close(struct server *s);
/* Open Redis-protocol clients (they are among s->clients_count). */
uint32_t resp_clients_count(const struct server *s);
/* Once per loop turn, before clients_flush: the follower's link to the leader. */
void resp_flush(struct server *s);
/* The answer to a Redis client's request (request_id is its place in the pipeline). */
void resp_respond(struct server *s, struct client *c, const struct wire_response *rs);
/* A paused Redis client may go on: 0, or a negated code (close it). */
int  resp_resume(struct server *s, struct client *c);
void resp_conn_free(struct client *c);

/* ---- client and peer-link limits (limits.c) --------------------------------------------------- */

/* Answers a connection over max_clients with an error frame and closes it. */
void limits_refuse_client(struct server *s, int fd);
/* The client sent a frame while max_pending_per_conn of its requests wait: stop reading it.
 * Returns SERVER_FRAME_LATER (the frame waits in the input buffer), or a negated code. */
int  limits_pause_client(struct server *s, struct client *c);
/* Answers a client whose frame was over max_frame (request id 0) before it is closed. */
void limits_frame_too_big(struct server *s, struct client *c);
/* Every timer tick: closes idle clients and peer links that never said hello. */
void limits_tick(struct server *s, uint64_t now_ms);

/* ---- requests waiting for the log (pending.c) -------------------------------------------------
 * A write waits for its entry to be applied; a linearizable read first for the core's read
 * barrier, then for the state machine to reach the barrier's index. Waiting requests sit in
 * a pool; those waiting on an index also in a min-heap by index. */
enum pending_kind { PENDING_WRITE = 1, PENDING_READ_BARRIER, PENDING_READ_APPLY };

struct pending {
    uint8_t  kind;            /* 0: free */
    uint32_t gen;
    uint32_t client_slot, client_gen;
    uint64_t request_id;
    uint64_t index, term;     /* WRITE: the entry; READ_APPLY: the read index */
    uint64_t order;           /* FIFO among equal indexes                      */
    uint32_t query_len;
    uint8_t  query_inline[SERVER_QUERY_INLINE];
    uint8_t *query_heap;      /* a longer query, malloc'd                      */
};

struct pending_pool {
    struct pending *slots;
    uint32_t cap, used;
    uint32_t *free_list, free_count;
    uint32_t *heap, heap_count;   /* slot numbers, ordered by (index, order) */
    uint64_t order_next;
};

int  pending_init(struct pending_pool *p, uint32_t cap);
void pending_free_all(struct pending_pool *p);
/* A new request slot or NULL when cap are waiting. */
struct pending *pending_alloc(struct pending_pool *p, uint32_t *slot_out);
void pending_release(struct pending_pool *p, uint32_t slot);
struct pending *pending_get(struct pending_pool *p, uint64_t ctx); /* NULL if stale */
uint64_t pending_ctx(const struct pending_pool *p, uint32_t slot);
const uint8_t *pending_query(const struct pending *pd);
int  pending_set_query(struct pending *pd, const uint8_t *q, uint32_t len);
void pending_heap_push(struct pending_pool *p, uint32_t slot);
/* The slot with the lowest index if that index is <= upto; removed from the heap. */
bool pending_heap_pop_upto(struct pending_pool *p, uint64_t upto, uint32_t *slot_out);

/* ---- client sessions (session.c): at-most-once writes (thesis §6.3) ---------------------------
 * Part of the replicated state: every server applies the same entries to its table, so
 * eviction (least recently used, by apply order) is the same everywhere. */
#define SESSION_DATA_MAX 16u

struct session {
    uint64_t client_id, seq;
    int32_t  code;
    uint8_t  data_len;
    uint8_t  data[SESSION_DATA_MAX];
    uint32_t lru_prev, lru_next;  /* slot numbers; UINT32_MAX ends */
};

struct session_table {
    struct session *slots;
    uint32_t *index;              /* open addressing: slot+1, 0 empty */
    uint32_t cap, index_cap, count;
    uint32_t lru_head, lru_tail;  /* head: most recent */
};

int  session_init(struct session_table *t, uint32_t cap);
void session_free(struct session_table *t);
struct session *session_find(struct session_table *t, uint64_t client_id);
/* Records the answer to (client_id, seq), evicting the least recently used if full. An
 * answer's data is kept only up to SESSION_DATA_MAX bytes (a retry gets the code alone). */
void session_record(struct session_table *t, uint64_t client_id, uint64_t seq,
                    const struct lum_result *res);

int  session_save(struct session_table *t, struct lum_sink *to);
int  session_load(struct session_table *t, struct lum_source *from);

/* ---- admin requests waiting (admin.c) -------------------------------------------------------- */

enum admin_kind { ADMIN_MEMBERS = 1, ADMIN_TRANSFER, ADMIN_SNAPSHOT, ADMIN_BACKUP };

struct admin {
    uint8_t  kind;            /* 0: free                                                 */
    uint32_t client_slot, client_gen;
    uint64_t request_id;
    uint64_t arg;             /* MEMBERS: index of its entry; TRANSFER: the target;
                                 BACKUP: the index its snapshot must include (the read
                                 barrier's; 0 until the barrier answers)                 */
    uint64_t read_ctx;        /* BACKUP: its read barrier (ADMIN_READ_CTX set)           */
};

/* A read barrier's ctx with this bit is an admin request's, not a pending read's. */
#define ADMIN_READ_CTX (1ull << 63)

int  admin_request(struct server *s, struct client *c, const struct wire_request *rq);
/* Answers the admin requests that are done (called after every ready drain). */
void admin_progress(struct server *s);
/* A snapshot finished (index, or 0 if it failed). */
void admin_snapshot_done(struct server *s, uint64_t index);
/* A read barrier of an admin request (ctx with ADMIN_READ_CTX) is through, or failed. Called
 * between raft_ready and raft_advance: it only records and answers. */
void admin_read_done(struct server *s, const struct raft_read *r);

/* ---- snapshots (snapshot.c) --------------------------------------------------------------------- */

/* Keeps memory the snapshot writer never reads (the core's log window) out of its fork, so
 * the loop takes no copy-on-write fault per append while a child lives. */
void snapshot_exclude_from_child(struct server *s);
/* Starts writing a snapshot of the applied state from a forked child (copy-on-write: the
 * loop is stalled only by fork itself). 0, -LUM_EBUSY (one is being written), -LUM_EIO. */
int  snapshot_start(struct server *s);
/* The newest snapshot failed its check (bit rot) before a send or a backup: write it anew,
 * at the same index if nothing was applied since, and let nothing use it meanwhile.
 * Without this an idle leader would offer the damaged file until the next write. */
void snapshot_damaged(struct server *s, const char *name);
/* Before snapshot name is sent (to a follower, or as a backup; who prefixes the log line):
 * its header is read, and its body too unless this file was checked whole before (the
 * senders crc what they send, snapshot_body_crc, for rot since then). 0 with meta;
 * -LUM_ENOTFOUND; -LUM_ECORRUPT: damaged, logged, and a new one is being written. */
int  snapshot_check_to_send(struct server *s, const char *name, const char *who,
                            struct snap_meta *meta);
/* crc extended over the body bytes of a piece of a snapshot file at offset (the header's
 * bytes are not the body's): fed every piece in order, it ends at the header's body_crc. */
uint32_t snapshot_body_crc(uint32_t crc, const uint8_t *data, uint64_t offset, uint32_t len);
/* The child exited with status. */
void snapshot_reaped(struct server *s, int status);
/* Loads the server's state (address book, sessions, state machine) from a snapshot. */
int  snapshot_load(struct server *s, const struct snap_meta *meta, struct lum_err *err);
/* Installs the snapshot the leader sent (ready.snapshot). */
void snapshot_install(struct server *s, const struct raft_snapshot_meta *sm);
/* A SNAPSHOT message arrived after its chunks: check what we received and fill in the
 * membership it records. 0, or the file is not good (the message is dropped). */
int  snapshot_received(struct server *s, struct raft_msg *m);

/* ---- backups (backup.c) -----------------------------------------------------------------------
 * `raftctl backup` reads a snapshot file of the leader in pieces (WIRE_OP_BACKUP, wire.h).
 * The file is pinned by an open descriptor: compaction may unlink its name meanwhile, but
 * its bytes stay readable until the pin is let go (idle SERVER_BACKUP_IDLE_MS, or its slot
 * is needed for a newer backup), so a backup never sees a file vanish under it. */
struct backup;
/* Fills rs's data with the chunk ask wants (valid until the next call). A start (index 0)
 * gets the newest snapshot, which the caller made sure is recent enough. 0, or
 * -LUM_ENOTFOUND (that snapshot is gone: start over), -LUM_ECORRUPT (it fails its crc; a
 * new one is being written), -LUM_EINVAL, -LUM_EIO, -LUM_ENOMEM. */
int  backup_serve(struct server *s, const struct wire_backup_ask *ask, struct wire_response *rs);
/* Lets go of pins idle for SERVER_BACKUP_IDLE_MS (every timer tick). */
void backup_tick(struct server *s, uint64_t now_ms);
void backup_close(struct server *s);

/* ---- metrics (metrics.c): what GET /metrics reports ------------------------------------------
 * Counters the server bumps where things happen (small calls, no I/O); gauges (role, indexes,
 * peers, connections) are read from the server when a scrape asks (http_routes.c). */
enum metrics_conn { METRICS_CONN_PEER_OUT, METRICS_CONN_PEER_IN, METRICS_CONN_CLIENT,
                    METRICS_CONN_RESP, METRICS_CONN_HTTP, METRICS_CONN_KINDS };
/* Their label values ("peer_out", ..., "resp", "http"). */
extern const char *const metrics_conn_names[METRICS_CONN_KINDS];
enum metrics_request { METRICS_REQ_COMMAND, METRICS_REQ_QUERY, METRICS_REQ_QUERY_STALE,
                       METRICS_REQ_STATUS, METRICS_REQ_MEMBERS, METRICS_REQ_TRANSFER,
                       METRICS_REQ_SNAPSHOT, METRICS_REQ_BACKUP, METRICS_REQ_INVALID,
                       METRICS_REQ_KINDS };
/* raft_propose's answer to a proposal (a client write or housekeeping). */
enum metrics_proposal { METRICS_PROP_ACCEPTED, METRICS_PROP_NOT_LEADER, METRICS_PROP_NO_SPACE,
                        METRICS_PROP_TOO_BIG, METRICS_PROP_BUSY, METRICS_PROP_OTHER,
                        METRICS_PROP_KINDS };
/* What became of a client write that was accepted: its entry was applied, another leader's
 * entry took its index (lost), or a snapshot covered it (unknown: the client retries). */
enum metrics_outcome { METRICS_OUT_APPLIED, METRICS_OUT_LOST, METRICS_OUT_UNKNOWN,
                       METRICS_OUT_KINDS };
#define METRICS_HTTP_CODES 10u

struct server_metrics {
    uint64_t requests[METRICS_REQ_KINDS];       /* client requests, by op               */
    uint64_t proposals[METRICS_PROP_KINDS];
    uint64_t outcomes[METRICS_OUT_KINDS];
    uint64_t entries_applied;                   /* committed entries applied, any type  */
    uint64_t bytes_in[METRICS_CONN_KINDS], bytes_out[METRICS_CONN_KINDS]; /* conn sum_* */
    uint64_t http_responses[METRICS_HTTP_CODES]; /* by status, see metrics_http_codes   */
    struct prom_hist fsync_seconds;             /* storage_sync, one per ready batch    */
    struct prom_hist append_entries;            /* entries persisted per ready batch    */
    struct prom_hist snapshot_seconds;          /* fork to a reaped child, written ones */
    uint64_t snapshots_ok, snapshots_failed, snapshots_installed;
    uint64_t snapshot_started_ns;               /* monotonic; 0: none being written     */
    uint64_t leader_heard_ms, leader_heard_from; /* the last APPEND/HEARTBEAT, for /health */
};

void metrics_init(struct server_metrics *m);
/* raft_propose's (or server_propose's refusal's) return code. */
void metrics_proposal(struct server_metrics *m, int rv);
void metrics_fsync(struct server_metrics *m, uint64_t ns);
void metrics_snapshot_started(struct server_metrics *m);
void metrics_snapshot_done(struct server_metrics *m, bool ok);
void metrics_leader_heard(struct server_metrics *m, uint64_t from);
void metrics_http_response(struct server_metrics *m, int status);
/* The counter and histogram families, in the text format. */
void metrics_render_counters(const struct server_metrics *m, struct strbuf *b);

static inline void metrics_request(struct server_metrics *m, enum metrics_request k)
{
    m->requests[k]++;
}
static inline void metrics_outcome(struct server_metrics *m, enum metrics_outcome k)
{
    m->outcomes[k]++;
}
static inline void metrics_append_batch(struct server_metrics *m, uint32_t entries)
{
    prom_hist_observe(&m->append_entries, entries);
}
/* Counts c's traffic in the totals of its kind (after conn_open). */
static inline void metrics_conn(struct server_metrics *m, struct conn *c, enum metrics_conn k)
{
    c->sum_in = &m->bytes_in[k];
    c->sum_out = &m->bytes_out[k];
}

/* ---- the HTTP endpoint (http.c, http_routes.c) -------------------------------------------------
 * Only when http_listen is configured. GET/HEAD /metrics, /health, /status (README). */
struct http_server;
int  http_init(struct server *s, struct lum_err *err);   /* 0 also when not configured */
void http_close(struct server *s);
/* Answers the requests that arrived this loop turn (after the ready drain, so what they
 * report is the state after it: applied caught up with commit where it can). */
void http_flush(struct server *s);
/* Every timer tick: closes idle and lingering connections. */
void http_tick(struct server *s, uint64_t now_ms);
uint32_t http_conns_count(const struct server *s);
/* The answer to GET path: status, content type and body (routes, http_routes.c). */
int  http_route(struct server *s, const char *path, size_t path_len, const char **type_out,
                struct strbuf *body);

/* ---- the server ---------------------------------------------------------------------------------- */

struct server {
    struct server_config cfg;
    struct loop loop;
    struct raft *raft;
    struct storage *storage;
    struct raft_log_store log_store;
    const struct lum_fsm_ops *fsm_ops;
    void *fsm;
    struct session_table sessions;
    struct pending_pool pending;
    struct resp_server *resp;          /* the Redis protocol; NULL when off   */

    struct loop_watch timer, signals, peer_listen, client_listen;
    struct server_member book[SERVER_BOOK_MAX]; /* addresses; see book.c */
    uint32_t book_count;
    struct peer peers[SERVER_PEERS_MAX];
    uint32_t n_peers;
    struct raft_members members, members_old; /* the configuration at the applied index */
    struct admin admins[SERVER_ADMIN_MAX];
    pid_t    snap_child;                /* writing a snapshot, or 0              */
    uint64_t snap_child_index;
    uint64_t snap_index, snap_prev_index; /* the newest snapshot and the one before */
    char     snap_verified[64];         /* the snapshot file last checked whole before a send */
    bool     snap_damaged;              /* the newest failed its check: being rewritten  */
    struct backup *backup;              /* backup.c: pinned snapshots; NULL until one asks */
    bool     stopping;                  /* SIGTERM: handing leadership over      */
    uint64_t stop_deadline_ms;
    struct inbound *inbound[SERVER_INBOUND_MAX];
    struct client **clients;      /* max_clients slots */
    uint32_t clients_count, client_gen;
    uint32_t *dirty_clients, dirty_count; /* slots with queued answers */
    uint64_t refusal_logged_ms;           /* max_clients: the last log line ...  */
    uint32_t refused;                     /* ... and connections refused since   */
    uint64_t limits_scan_ms;              /* the last idle-client scan           */
    uint64_t auth_window_ms;              /* authentication warnings: this second, */
    uint32_t auth_logged, auth_unlogged;  /* lines logged in it, failures not    */

    struct raft_entry *decode_entries; /* WIRE_BATCH_MAX: one append's entries, decoded */
    uint8_t *chunk_buf;                /* WIRE_SNAP_CHUNK_MAX: a snapshot piece read    */
    struct raft_entry propose_entry;   /* building a proposal                 */
    uint64_t last_housekeeping_ms;
    uint64_t last_leader_id;           /* for the "leader is now" log line    */
    uint8_t  last_role;
    int      exit_code;
    /* The disk is full (DESIGN, storage): the ready batch whose persist failed with
     * -LUM_ENOSPC stays pending, untouched, and no core call is made (raft.h: nothing but
     * raft_status and friends between raft_ready and raft_advance) until a retry on a timer
     * tick gets it through. Meanwhile writes and linearizable reads are refused, stale reads
     * answered, peer messages dropped (Raft tolerates loss). */
    bool     nospace;
    struct raft_ready nospace_rd;      /* its pointers stay valid: the core is not called */
    uint64_t nospace_since_ms;
    bool     nospace_reap;             /* a SIGCHLD came meanwhile: reap once free again  */
    bool     disk_low;                 /* free space below SERVER_DISK_RESERVE_BYTES     */
    uint64_t disk_checked_ms;
    struct server_metrics metrics;     /* GET /metrics (metrics.c)              */
    struct http_server *http;          /* NULL without http_listen (http.c)     */
};

/* server.c */
int  server_propose(struct server *s, uint16_t type, uint64_t client_id, uint64_t seq,
                    const void *body, uint32_t len, uint64_t *index_out);
const struct server_member *server_member(const struct server *s, uint64_t id);
void server_fill_status(struct server *s, struct wire_status *st);
/* 0 when the core may take a request now; while the disk is full, -LUM_ENOSPC on the
 * leader and -LUM_ENOTLEADER elsewhere (the client looks for the leader). */
int  server_refusal(struct server *s);

#endif
