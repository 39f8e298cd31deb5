/* The deterministic cluster simulator: shared types. One struct world holds everything a
 * seed's run touches (nodes and their disks, network, client, checker), so many seeds run
 * in one process and nothing leaks from one to the next. One seeded PRNG drives it all. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/raft.h"

#define SIM_NODES_MAX    7u       /* --nodes: the initial voters, ids 1..nodes_count       */
#define SIM_EXTRA_MAX    2u       /* spare servers that may be added later                 */
#define SIM_POOL_MAX     (SIM_NODES_MAX + SIM_EXTRA_MAX) /* ids 1..pool_count              */
#define SIM_MICROSTEPS   4u       /* microsteps per tick: messages land between ticks     */
#define SIM_DRAIN_MAX    10000u   /* ready batches in one drain before we call it a loop  */
#define SIM_TERM_MAX     (1u << 20) /* a term above this is a runaway, not a real election */
#define SIM_INDEX_MAX    (1u << 22) /* likewise for log indexes                            */
#define SIM_FAIL_SIZE    512u

/* ---- the run's one PRNG: splitmix64 --------------------------------------------------------- */

struct rng {
    uint64_t state;
};

static inline uint64_t rng_next(struct rng *g)
{
    uint64_t z = (g->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (0 when n is 0); the modulo bias is irrelevant here. */
static inline uint64_t rng_below(struct rng *g, uint64_t n) { return n ? rng_next(g) % n : 0; }
/* Uniform in [lo, hi], lo <= hi. */
static inline uint64_t rng_range(struct rng *g, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(g, hi - lo + 1);
}
/* True with probability ppm / 1e6. */
static inline bool rng_ppm(struct rng *g, uint32_t ppm) { return rng_below(g, 1000000) < ppm; }

/* ---- entries as the simulator keeps them: only len payload bytes ---------------------------- */

struct sim_entry {
    uint64_t term, index;
    uint16_t type;
    uint32_t len;
    uint8_t *payload; /* len bytes, NULL when len is 0; ownership: the container's */
    uint64_t hash;    /* entry_hash of it; kept on disk entries only               */
};

/* A content hash of (type, len, payload): what "identical entries" compares. */
uint64_t entry_hash(uint16_t type, uint32_t len, const uint8_t *payload);

/* Grows *p (elements of size elem, *cap of them) to hold at least need, zeroing the new
 * part. Aborts when out of memory: the simulator's own allocations are not under test. */
void sim_grow(void **p, uint64_t *cap, uint64_t need, size_t elem);
void *sim_malloc(size_t size);

/* ---- per-seed parameters (drawn from the seed in sim.c) ------------------------------------- */

struct sim_params {
    bool membership;            /* spares and membership changes (else: fixed voters)    */
    bool quorum_check;          /* check_commit_quorum (off: end-to-end invariants only) */
    uint32_t nodes_count;       /* initial voters, ids 1..nodes_count                    */
    uint32_t pool_count;        /* every server id, nodes_count + spares; the spares
                                   start with an empty configuration                    */
    uint64_t chaos_ticks;
    struct raft_config cfg;     /* template: id and seed are set per node incarnation   */
    /* network: delays in microsteps, probabilities in ppm */
    uint32_t delay_max;         /* a message takes 1..delay_max microsteps               */
    uint32_t long_delay_ppm;    /* ... or, rarely, up to long_delay_max                  */
    uint32_t long_delay_max;
    uint32_t drop_ppm, dup_ppm;
    uint32_t partition_ppm;     /* per tick: change the partition                        */
    /* faults */
    uint32_t crash_ppm;         /* per tick: crash a node between batches                */
    uint32_t crash_ready_ppm;   /* per ready batch: crash in the middle of it            */
    uint32_t restart_ticks_max; /* a crashed node stays down 1..this many ticks          */
    uint32_t drain_ppm;         /* per microstep: a node drains its ready batches        */
    /* client, per microstep */
    uint32_t propose_ppm, burst_ppm, read_ppm;
    uint32_t big_payload_ppm;   /* a proposal's payload is long (up to RAFT_PAYLOAD_MAX) */
    uint32_t member_ppm;        /* a membership change asked of the leader               */
    uint32_t transfer_ppm;      /* a leadership transfer asked of the leader             */
    /* snapshots: every snap_every applied entries a node saves one and compacts its log
     * up to its index minus 0..snap_margin_max entries; 0: never */
    uint32_t snap_every, snap_margin_max;
    uint32_t snap_delay_max;    /* a snapshot transfer takes up to this many microsteps  */
};

/* ---- a node: its core (or none while crashed), its disk, its volatile state ----------------- */

/* The state machine: a running hash of every committed entry applied (its index, term
 * and content) and a count of the application's entries, plus the configuration at the
 * applied index (MEMBERS entries decoded as they are applied). Equal states at the same
 * index mean equal histories, so a snapshot is checked against the committed prefix. */
struct fsm {
    uint64_t hash, count;
    struct raft_members members, members_old;
};

/* A snapshot: the state machine at (index, term). set: it exists. */
struct sim_snap {
    bool set;
    uint64_t index, term;
    struct fsm fsm;
};

/* What survives a crash. Everything here is durable: unsynced writes of a batch in progress
 * are held aside in node.c until the batch's "fsync". The log holds [first_index,
 * last_index] (empty when last_index < first_index); entries below first_index were
 * compacted, and the snapshot covers at least every index below first_index. */
struct disk {
    struct raft_hard_state hs;
    struct sim_snap snap;       /* the latest one saved or installed                     */
    struct sim_entry *log;      /* log[i - first_index] is index i; payloads owned here  */
    uint64_t first_index, last_index;
    uint64_t cap;
};

struct world;

struct node {
    uint64_t id;
    struct world *w;            /* for the store callbacks                               */
    struct raft *r;             /* NULL while crashed                                    */
    uint32_t incarnation;       /* bumps at every restart                                */
    struct disk disk;
    struct raft_log_store store;
    bool in_ready;              /* between raft_ready and raft_advance                   */
    uint64_t applied;           /* volatile: last index applied by this incarnation      */
    uint64_t commit_seen;       /* commit index already checked, this incarnation        */
    struct raft_status st;      /* last observed status, this incarnation                */
    uint64_t restart_tick;      /* while crashed: when it comes back                     */
    uint32_t phase;             /* the microstep of each tick at which it is ticked      */
    uint64_t crashes_count;
    /* the state machine, volatile: rebuilt from the snapshot at each start */
    struct fsm fsm;
    uint64_t applied_term;      /* term of the entry at applied                          */
    /* a snapshot received from a leader (its data is here, as a shell would have the file)
     * that the core took for installation: install_index until it comes out of a ready
     * batch; volatile, as is an incoming transfer's temporary file */
    struct sim_snap incoming;
    uint64_t install_index;
};

/* ---- the network (net.c) -------------------------------------------------------------------- */

struct net_msg {
    uint64_t at, seq;           /* delivery microstep; ties broken by send order         */
    struct raft_msg m;          /* m.append.entries is unused: see ents                  */
    struct sim_entry *ents;     /* m.append.n_entries, in the same allocation            */
    /* a snapshot transfer (m is the SNAPSHOT message): the data streamed from the sender,
     * which must stay up (same incarnation) until it lands; lost: it will not land */
    bool transfer, lost;
    uint32_t src_incarnation;
    struct sim_snap snap;
};

struct net {
    struct net_msg **heap;      /* min-heap on (at, seq)                                 */
    uint64_t count, cap;
    uint64_t seq;
    bool cut[SIM_POOL_MAX + 1][SIM_POOL_MAX + 1]; /* cut[a][b]: a's messages to b lost    */
    struct raft_entry *scratch; /* max_batch entries: an APPEND as the core reads it     */
    uint64_t sent_count, delivered_count, dropped_count, dup_count;
    uint64_t snaps_sent_count, snaps_landed_count;
};

/* ---- the client (client.c) ------------------------------------------------------------------ */

enum prop_state { PROP_PENDING = 1, PROP_ACKED, PROP_LOST, PROP_ABANDONED };

struct proposal {
    uint64_t id;
    uint64_t node;
    uint32_t incarnation;
    uint64_t index, term, hash;
    uint16_t type;
    uint8_t  state;             /* enum prop_state                                       */
};

enum read_state { READ_ASKED = 1, READ_WAIT_APPLY, READ_DONE, READ_FAILED, READ_ABANDONED };

struct read_req {
    uint64_t node;
    uint32_t incarnation;
    uint64_t need_acked;        /* highest acknowledged proposal index when asked        */
    uint64_t need_committed;    /* highest index known committed when asked              */
    uint64_t index;             /* as answered                                           */
    uint8_t  state;             /* enum read_state                                       */
};

struct client {
    struct proposal *props;
    uint64_t props_count, props_cap;
    struct read_req *reads;     /* ctx is the position + 1                               */
    uint64_t reads_count, reads_cap;
    uint64_t *pending[SIM_POOL_MAX + 1]; /* positions in props still pending, per node    */
    uint64_t pending_count[SIM_POOL_MAX + 1], pending_cap[SIM_POOL_MAX + 1];
    uint64_t *rpending[SIM_POOL_MAX + 1]; /* positions in reads not finished, per node    */
    uint64_t rpending_count[SIM_POOL_MAX + 1], rpending_cap[SIM_POOL_MAX + 1];
    uint64_t leader_guess;
    uint64_t acked_max, acked_count, reads_done_count;
    uint8_t *buf;               /* RAFT_PAYLOAD_MAX + 1 bytes for building payloads      */
    /* membership: the number of voters the client steers toward, for a while */
    uint32_t voters_target;
    uint64_t changes_count;     /* raft_change_members calls accepted                    */
    /* the leadership transfer last asked for, while its leader still leads */
    struct {
        bool active;            /* the leader still transfers (else: watching the target) */
        uint64_t leader, term, to, start_tick, watch_until;
        uint32_t incarnation;
    } xfer;
    uint64_t transfers_count, transfers_done_count;
};

/* ---- the checker (check.c) ------------------------------------------------------------------ */

struct lm_rec {                 /* an (index, term) entry as first seen in any log       */
    uint64_t term, hash, prev_term;
};

struct lm_slot {
    struct lm_rec *recs;
    uint32_t count, cap;
};

struct known {                  /* an index known committed                              */
    uint64_t term, hash;
    uint16_t type;              /* with hash                                             */
    bool has_hash;              /* set once a node applied it (commit alone: term only)  */
    bool set;
};

struct checker {
    uint64_t *leader_of_term;   /* term -> leader id, 0: none seen                       */
    uint64_t terms_cap;
    uint64_t *vote_of[SIM_POOL_MAX + 1]; /* per voter: term -> granted candidate         */
    uint64_t votes_cap[SIM_POOL_MAX + 1];
    struct lm_slot *lm;         /* index -> the distinct terms seen there                */
    uint64_t lm_cap;
    struct known *committed;    /* index -> what is known committed there                */
    uint64_t committed_cap, committed_max;
    uint64_t leaders_count;     /* leaderships observed, for the summary                 */
    /* the state machine over the known-committed prefix: chain[i] is the fsm hash after
     * applying 1..i (chain[0] the initial one), for i <= chain_len */
    uint64_t *chain, *chain_count;
    uint64_t chain_cap, chain_len;
    uint64_t snaps_taken_count, snaps_installed_count;
};

/* ---- the world ------------------------------------------------------------------------------ */

struct world {
    uint64_t seed;
    bool verbose;
    struct sim_params p;
    struct rng rng;
    uint64_t now;               /* microsteps since the start                            */
    bool liveness;              /* the final phase: healed, no faults                    */
    bool failed;
    uint64_t fail_tick;
    char fail_msg[SIM_FAIL_SIZE];
    struct node nodes[SIM_POOL_MAX + 1]; /* nodes[1..pool_count]                         */
    struct raft_members initial;         /* voters 1..nodes_count: the configuration at 0 */
    uint64_t timeout_now_at;             /* microstep of the last TIMEOUT_NOW delivered   */
    struct net net;
    struct client cl;
    struct checker chk;
};

static inline uint64_t world_tick(const struct world *w) { return w->now / SIM_MICROSTEPS; }

/* sim.c: the first failure of a seed wins; later ones are ignored. */
__attribute__((format(printf, 2, 3)))
void sim_fail(struct world *w, const char *fmt, ...);
/* One readable line per event, only with -v. Use SIM_TRACE to skip the formatting. */
__attribute__((format(printf, 2, 3)))
void sim_trace(struct world *w, const char *fmt, ...);
#define SIM_TRACE(w, ...) do { if ((w)->verbose) sim_trace((w), __VA_ARGS__); } while (0)

/* node.c */
void node_init(struct world *w, struct node *n, uint64_t id);
void node_free(struct node *n);
void node_start(struct world *w, struct node *n);        /* (re)start from its disk      */
void node_crash(struct world *w, struct node *n, const char *why); /* between batches  */
void node_tick(struct world *w, struct node *n);
void node_step(struct world *w, struct node *n, const struct raft_msg *m);
void node_drain(struct world *w, struct node *n);        /* process every ready batch    */
void node_observe(struct world *w, struct node *n);      /* after every raft_* call      */
/* A SNAPSHOT whose data has arrived (snap): the node takes it, as a shell would. */
void node_step_snapshot(struct world *w, struct node *n, const struct raft_msg *m,
                        const struct sim_snap *snap);
int  disk_term(const struct disk *d, uint64_t index, uint64_t *term_out);
const struct sim_entry *disk_entry(const struct disk *d, uint64_t index); /* NULL: none */
/* The disk holds (index, term): in its log, or inside its snapshot (committed entries). */
bool disk_holds(const struct disk *d, uint64_t index, uint64_t term);
bool node_is_leader(const struct node *n);
/* membership helpers: the role of id in m (0: not a member) */
uint8_t members_role(const struct raft_members *m, uint64_t id);
uint32_t members_voter_count(const struct raft_members *m);
bool members_equal(const struct raft_members *a, const struct raft_members *b);
void members_describe(const struct raft_members *m, const struct raft_members *old, char *buf,
                      size_t size);
/* The opaque context the client puts in a change to m: len bytes derived from m. */
void members_ctx_fill(const struct raft_members *m, uint32_t len, uint8_t *out);

/* net.c */
void net_init(struct world *w);
void net_free(struct world *w);
void net_send(struct world *w, const struct raft_msg *m);
void net_send_snapshot(struct world *w, const struct raft_msg *m, const struct sim_snap *snap,
                       uint32_t src_incarnation);
void net_deliver_due(struct world *w);
void net_heal(struct world *w);
void net_chaos(struct world *w);                         /* a random partition change    */
uint64_t net_last_delivery(const struct world *w);       /* latest queued delivery time  */
const char *msg_describe(const struct raft_msg *m, char *buf, size_t size);

/* client.c */
void client_init(struct world *w);
void client_free(struct world *w);
void client_act(struct world *w);                        /* random traffic, chaos phase  */
void client_change_members(struct world *w);
void client_transfer(struct world *w);
int  client_propose(struct world *w, struct node *n, uint64_t *pos_out);
int  client_read(struct world *w, struct node *n);
void client_on_applied(struct world *w, struct node *n); /* after a batch was applied    */
void client_on_read(struct world *w, struct node *n, const struct raft_read *rd);
void client_on_crash(struct world *w, struct node *n);
void client_check_transfer(struct world *w);             /* once per tick                */
void client_check_final(struct world *w, const bool *members);

/* check.c */
void check_init(struct world *w);
void check_free(struct world *w);
void check_leader(struct world *w, uint64_t term, uint64_t id, const char *how);
void check_vote(struct world *w, uint64_t voter, uint64_t term, uint64_t candidate);
void check_persist(struct world *w, struct node *n, const struct raft_entry *e,
                   uint64_t prev_term, bool record);
void check_committed(struct world *w, struct node *n, uint64_t index, uint64_t term,
                     const uint64_t *hash, uint16_t type);
void check_leader_complete(struct world *w, struct node *n);
void check_commit_quorum(struct world *w, struct node *n, uint64_t index, uint64_t term,
                         const struct raft_members *cur, const struct raft_members *old);
const struct known *check_known(const struct world *w, uint64_t index);
/* State machine safety for whole states: the fsm after applying 1..index must be what
 * the known-committed prefix gives. what names the occasion in the failure. */
void check_fsm(struct world *w, struct node *n, uint64_t index, const struct fsm *f,
               const char *what);
/* The fsm step: the state after applying e (whose content hash is ehash). */
void fsm_apply(struct fsm *f, uint64_t index, uint64_t term, uint16_t type, uint64_t ehash);
uint64_t fsm_initial_hash(void);

#endif
