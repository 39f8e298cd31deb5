/* A test harness for the consensus core, driven through raft.h only: an in-memory persisted
 * log (struct raft_log_store), a drainer that follows the ready-batch contract to the letter
 * and checks the core's side of it, message builders, and an in-process cluster over a
 * deterministic network (FIFO delivery, cut links, a drop filter). No sleeps, no threads.
 *
 * Every symbol is prefixed harness_: this file is linked into every unit test binary. */
#ifndef RAFT_HARNESS_H
#define RAFT_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "luminous/raft.h"

#define HARNESS_NODES_MAX   7u     /* ids 1..count                                      */
#define HARNESS_DRAIN_MAX   10000u /* ready batches in one drain before we call it a loop */
#define HARNESS_ROUNDS_MAX  10000u /* delivery rounds before we call the cluster unquiet */

/* ---- the persisted log: what survives a crash ----------------------------------------- */

struct harness_store {
    struct raft_log_store ops;        /* given to raft_create; ops.ctx is this store       */
    struct raft_entry *ents;          /* ents[i] holds index i + 1                         */
    uint64_t last_index, cap;
    struct raft_hard_state hard_state;
    bool     in_batch;                /* between raft_ready and raft_advance: no reads      */
    uint64_t entry_reads, term_reads; /* calls through ops, counted                         */
    uint64_t discards;                /* persists that discarded persisted entries          */
    uint64_t discard_from;            /* first index the last such persist discarded        */
    uint64_t type_reads;              /* calls to ops.type, counted                         */
    /* The snapshot file, if any (snap.index 0: none): what a restart boots from. Entries up
     * to compacted_index (<= snap.index) are gone: the callbacks answer -RAFT_ECOMPACTED. */
    struct raft_snapshot_meta snap;
    uint64_t compacted_index;
};

void harness_store_init(struct harness_store *s);
void harness_store_free(struct harness_store *s);
/* Preloads one entry (type RAFT_ENTRY_APP_MIN, empty) of term as if persisted long ago. */
void harness_store_append(struct harness_store *s, uint64_t term);
/* Preloads entries first.. with the given terms (indexes continue the stored log). */
void harness_store_append_terms(struct harness_store *s, const uint64_t *terms, uint32_t n);
/* Follows the contract's step 2: discards every persisted entry with index >=
 * e[0].index, then appends e[0..n). */
void harness_store_persist(struct harness_store *s, const struct raft_entry *e, uint32_t n);
uint64_t harness_store_term(const struct harness_store *s, uint64_t index);
/* Preloads a MEMBERS entry of term (see raft_members_encode; old may be NULL). */
void harness_store_append_members(struct harness_store *s, uint64_t term,
                                  const struct raft_members *members,
                                  const struct raft_members *old, const void *ctx,
                                  uint32_t ctx_len);
/* Records a snapshot file meta and deletes the entries up to compact_to (<= meta->index). */
void harness_store_compact(struct harness_store *s, const struct raft_snapshot_meta *meta,
                           uint64_t compact_to);

/* ---- messages ---------------------------------------------------------------------------- */

/* A message the harness owns: an APPEND's entries are copied, since the core's pointers die
 * at raft_advance. */
struct harness_msg {
    struct raft_msg m;
    struct raft_entry *ents; /* owned copy of m.append.entries, or NULL */
    bool now;                /* it came in msgs_now (sent before the batch was durable) */
};

void harness_msg_copy(struct harness_msg *dst, const struct raft_msg *src, bool now);
void harness_msg_free(struct harness_msg *hm);

/* Builders for messages a test feeds to a core. */
void harness_entry_set(struct raft_entry *e, uint64_t index, uint64_t term);
/* A MEMBERS entry (old may be NULL: not joint). */
void harness_entry_members(struct raft_entry *e, uint64_t index, uint64_t term,
                           const struct raft_members *members, const struct raft_members *old,
                           const void *ctx, uint32_t ctx_len);
/* A configuration written as text: ids separated by spaces, an 'L' after an id makes it a
 * learner: "1 2 3 4L". "" is the empty configuration. */
struct raft_members harness_members(const char *spec);
/* Same servers with the same roles, in any order. */
bool harness_members_equal(const struct raft_members *a, const struct raft_members *b);
/* Decodes a MEMBERS entry's payload (asserting it is valid). */
void harness_entry_decode_members(const struct raft_entry *e, struct raft_members *members_out,
                                  struct raft_members *old_out);
struct raft_msg harness_snapshot(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
                                 uint64_t snap_term, const struct raft_members *members,
                                 const struct raft_members *old);
struct raft_msg harness_append(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
                               uint64_t prev_term, uint64_t commit,
                               const struct raft_entry *ents, uint32_t n);
struct raft_msg harness_append_resp(uint64_t from, uint64_t to, uint64_t term, bool success,
                                    uint64_t last_index, uint64_t hint_index,
                                    uint64_t hint_term);
struct raft_msg harness_vote(uint64_t from, uint64_t to, uint64_t term, bool pre,
                             uint64_t last_index, uint64_t last_term);
struct raft_msg harness_vote_resp(uint64_t from, uint64_t to, uint64_t term, bool pre,
                                  bool granted);
struct raft_msg harness_heartbeat(uint64_t from, uint64_t to, uint64_t term, uint64_t commit,
                                  uint64_t ctx);
struct raft_msg harness_heartbeat_resp(uint64_t from, uint64_t to, uint64_t term,
                                       uint64_t ctx);

/* ---- one server: a core, its store, and what its ready batches handed out --------------- */

struct harness_node {
    uint64_t id;
    struct raft_config cfg;           /* tests may edit it before harness_node_start        */
    struct raft_members members;      /* likewise; the boot configuration when the store    */
    struct raft_members members_old;  /* has no snapshot (members_old: count 0 unless joint) */
    struct harness_store store;
    struct raft *r;                   /* NULL while crashed                                 */

    /* collected by harness_node_drain */
    struct harness_msg *out;          /* messages to send, in order                         */
    uint32_t out_count, out_cap;
    struct raft_entry *applied;       /* committed entries handed out since the last start  */
    uint64_t applied_count, applied_cap;
    struct raft_read *reads;          /* read results, in order                             */
    uint32_t reads_count, reads_cap;
    uint32_t batches;                 /* ready batches drained                              */
    uint32_t hard_state_writes;
    uint32_t last_batch_entries;      /* n_entries of the last batch that had entries       */
    uint64_t last_batch_first_index;  /* entries[0].index of that batch                      */
    uint32_t snapshots_installed;     /* ready batches that carried a snapshot              */
};

/* Server id of `voters` voters 1..voters, default config (raft_config_default), empty store. */
void harness_node_init(struct harness_node *n, uint64_t id, uint32_t voters);
/* Boots a core from the store (as a restart would). */
void harness_node_start(struct harness_node *n);
/* Destroys the core; only the store survives. */
void harness_node_crash(struct harness_node *n);
void harness_node_free(struct harness_node *n);
/* Does what one ready batch asks, in the contract's order, checking the core's promises
 * (msgs_now carry only a durable term, a granted vote leaves after it is durable, ...),
 * then raft_advance. For tests that look at a batch before it is handled. */
void harness_node_handle(struct harness_node *n, const struct raft_ready *rd);
/* Drains ready batches following the contract until raft_ready is false; returns how many. */
uint32_t harness_node_drain(struct harness_node *n);
/* Forgets the collected messages and reads (keeps the applied entries). */
void harness_node_clear(struct harness_node *n);
int  harness_node_step(struct harness_node *n, const struct raft_msg *m);
/* harness_node_step, asserting it returned 0. */
void harness_node_step_ok(struct harness_node *n, struct raft_msg m);
/* The leader's match index for id (asserting it has progress for id). */
uint64_t harness_node_match(const struct harness_node *leader, uint64_t id);
void harness_node_tick(struct harness_node *n, uint32_t ticks);
struct raft_status harness_node_status(const struct harness_node *n);
/* Proposes an application entry whose payload is the 8 bytes of value. */
int  harness_node_propose(struct harness_node *n, uint64_t value, uint64_t *index_out);
/* The nth (0-based) collected message of type to `to` (0: anyone), or NULL. */
const struct harness_msg *harness_node_msg(const struct harness_node *n, uint8_t type,
                                           uint64_t to, uint32_t nth);
uint32_t harness_node_count(const struct harness_node *n, uint8_t type, uint64_t to);
/* For a core that is one of 3 voters: ticks it into a pre-vote, feeds it a granted pre-vote
 * and a granted vote from peer, and drains; it is then the leader of term+1. */
void harness_node_make_leader(struct harness_node *n, uint64_t peer);
/* The payload value of an applied entry (see harness_node_propose). */
uint64_t harness_entry_value(const struct raft_entry *e);
/* The shell took a snapshot at index (<= applied): the core is told (raft_snapshot_taken),
 * the store records the snapshot file, with the configuration in force at index, and
 * deletes the entries up to compact_to (0: keep them all). */
void harness_node_snapshot(struct harness_node *n, uint64_t index, uint64_t compact_to);
/* The configuration in force on a node (raft_members). */
struct raft_members harness_node_members(const struct harness_node *n,
                                         struct raft_members *old_out);

/* ---- a cluster over a deterministic network --------------------------------------------- */

/* Says whether to deliver m (false: drop it); may count what it sees. */
typedef bool harness_filter_fn(void *arg, const struct raft_msg *m);

struct harness_cluster {
    uint32_t count;
    struct harness_node nodes[HARNESS_NODES_MAX]; /* nodes[i].id == i + 1 */
    bool cut[HARNESS_NODES_MAX + 1][HARNESS_NODES_MAX + 1]; /* cut[from][to] */
    struct harness_msg *queue;
    uint32_t queue_count, queue_cap;
    harness_filter_fn *filter;
    void *filter_arg;
    uint64_t delivered, dropped;
};

/* count voters with ids 1..count and default configs; edit nodes[i].cfg, then start. */
void harness_cluster_init(struct harness_cluster *c, uint32_t count);
void harness_cluster_start(struct harness_cluster *c);
void harness_cluster_free(struct harness_cluster *c);
struct harness_node *harness_cluster_node(struct harness_cluster *c, uint64_t id);
/* Drains every node and delivers every message, round after round, until nothing moves.
 * Returns the number of delivery rounds. A SNAPSHOT message plays the shell's transfer: it
 * is stepped with the configuration the sender's snapshot file records, then the sender
 * gets raft_snapshot_report(ok); one lost to a cut link or a crashed node is reported
 * failed; one the filter drops is not reported (the test plays the transfer itself). */
uint32_t harness_cluster_deliver(struct harness_cluster *c);
/* ticks times: tick every running node once, then deliver until quiet. */
void harness_cluster_tick_all(struct harness_cluster *c, uint32_t ticks);
/* Ticks only node id (delivering after each tick) until it is the leader. */
void harness_cluster_elect(struct harness_cluster *c, uint64_t id);
/* The id of the leader of the highest term among running nodes, or 0. Asserts election
 * safety: never two leaders in one term. */
uint64_t harness_cluster_leader(struct harness_cluster *c);
void harness_cluster_isolate(struct harness_cluster *c, uint64_t id);
void harness_cluster_heal(struct harness_cluster *c);
/* Asserts that every pair of nodes applied the same entries at the same indexes. */
void harness_cluster_check_applied(struct harness_cluster *c);

#endif
