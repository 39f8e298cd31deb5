/* The deterministic cluster simulator: shared types. One struct world holds everything a
 * seed's run touches (nodes and their disks, network, client, checker), so many seeds run
 * in one process and nothing leaks from one to the next. One seeded PRNG drives it all. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/raft.h"

#define SIM_NODES_MAX    7u       /* ids 1..nodes_count                                   */
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
    uint32_t nodes_count;
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
};

/* ---- a node: its core (or none while crashed), its disk, its volatile state ----------------- */

/* What survives a crash. Everything here is durable: unsynced writes of a batch in progress
 * are held aside in node.c until the batch's "fsync". */
struct disk {
    struct raft_hard_state hs;
    struct sim_entry *log;      /* log[i - 1] is index i; payloads owned here            */
    uint64_t last_index;
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
};

/* ---- the network (net.c) -------------------------------------------------------------------- */

struct net_msg {
    uint64_t at, seq;           /* delivery microstep; ties broken by send order         */
    struct raft_msg m;          /* m.append.entries is unused: see ents                  */
    struct sim_entry *ents;     /* m.append.n_entries, in the same allocation            */
};

struct net {
    struct net_msg **heap;      /* min-heap on (at, seq)                                 */
    uint64_t count, cap;
    uint64_t seq;
    bool cut[SIM_NODES_MAX + 1][SIM_NODES_MAX + 1]; /* cut[a][b]: a's messages to b lost  */
    struct raft_entry *scratch; /* max_batch entries: an APPEND as the core reads it     */
    uint64_t sent_count, delivered_count, dropped_count, dup_count;
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
    uint64_t *pending[SIM_NODES_MAX + 1]; /* positions in props still pending, per node   */
    uint64_t pending_count[SIM_NODES_MAX + 1], pending_cap[SIM_NODES_MAX + 1];
    uint64_t *rpending[SIM_NODES_MAX + 1]; /* positions in reads not finished, per node   */
    uint64_t rpending_count[SIM_NODES_MAX + 1], rpending_cap[SIM_NODES_MAX + 1];
    uint64_t leader_guess;
    uint64_t acked_max, acked_count, reads_done_count;
    uint8_t *buf;               /* RAFT_PAYLOAD_MAX + 1 bytes for building payloads      */
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
    bool has_hash;              /* set once a node applied it (commit alone: term only)  */
    bool set;
};

struct checker {
    uint64_t *leader_of_term;   /* term -> leader id, 0: none seen                       */
    uint64_t terms_cap;
    uint64_t *vote_of[SIM_NODES_MAX + 1]; /* per voter: term -> granted candidate        */
    uint64_t votes_cap[SIM_NODES_MAX + 1];
    struct lm_slot *lm;         /* index -> the distinct terms seen there                */
    uint64_t lm_cap;
    struct known *committed;    /* index -> what is known committed there                */
    uint64_t committed_cap, committed_max;
    uint64_t leaders_count;     /* leaderships observed, for the summary                 */
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
    struct node nodes[SIM_NODES_MAX + 1]; /* nodes[1..nodes_count]                       */
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
int  disk_term(const struct disk *d, uint64_t index, uint64_t *term_out);
bool node_is_leader(const struct node *n);

/* net.c */
void net_init(struct world *w);
void net_free(struct world *w);
void net_send(struct world *w, const struct raft_msg *m);
void net_deliver_due(struct world *w);
void net_heal(struct world *w);
void net_chaos(struct world *w);                         /* a random partition change    */
uint64_t net_last_delivery(const struct world *w);       /* latest queued delivery time  */
const char *msg_describe(const struct raft_msg *m, char *buf, size_t size);

/* client.c */
void client_init(struct world *w);
void client_free(struct world *w);
void client_act(struct world *w);                        /* random traffic, chaos phase  */
int  client_propose(struct world *w, struct node *n, uint64_t *pos_out);
int  client_read(struct world *w, struct node *n);
void client_on_applied(struct world *w, struct node *n); /* after a batch was applied    */
void client_on_read(struct world *w, struct node *n, const struct raft_read *rd);
void client_on_crash(struct world *w, struct node *n);
void client_check_final(struct world *w);

/* check.c */
void check_init(struct world *w);
void check_free(struct world *w);
void check_leader(struct world *w, uint64_t term, uint64_t id, const char *how);
void check_vote(struct world *w, uint64_t voter, uint64_t term, uint64_t candidate);
void check_persist(struct world *w, struct node *n, const struct raft_entry *e,
                   uint64_t prev_term);
void check_committed(struct world *w, struct node *n, uint64_t index, uint64_t term,
                     const uint64_t *hash);
void check_leader_complete(struct world *w, struct node *n);
void check_commit_quorum(struct world *w, struct node *n, uint64_t index, uint64_t term);
const struct known *check_known(const struct world *w, uint64_t index);

#endif
