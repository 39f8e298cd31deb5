/* The consensus core's internal state, shared by the files of src/raft/. Nothing here
 * reaches the public API. Field names follow the paper's Figure 2 where it has one. */
#ifndef LUMINOUS_RAFT_INT_H
#define LUMINOUS_RAFT_INT_H

#include <stdlib.h>
#include <string.h>

#include "luminous/raft.h"

/* Always-on assertions: a broken invariant in consensus code must stop the node. */
#define RAFT_ASSERT(cond) ((cond) ? (void)0 : raft_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void raft_assert_fail(const char *cond, const char *file, int line);

#define RAFT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RAFT_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- the log: a memory window over the persisted log (log.c) ----------------------------
 *
 * Indexes (snapshot_index, last_index] exist. The window ring holds [window_first,
 * last_index]; older entries are read through the store. Every entry not yet durable,
 * (stable_index, last_index], is always in the window: the store cannot serve it. */
struct raft_log {
    struct raft_entry *ring;          /* window_cap slots; entry i lives at i % window_cap */
    uint64_t window_cap;
    uint64_t window_first;            /* first index in the ring (last_index+1 if empty)  */
    uint64_t last_index, last_term;
    uint64_t stable_index;            /* entries the shell has made durable               */
    uint64_t snapshot_index, snapshot_term;
    const struct raft_log_store *store;
};

int  log_init(struct raft_log *log, uint64_t window_cap, const struct raft_boot *boot,
              const struct raft_log_store *store);
void log_free(struct raft_log *log);
/* 0, -RAFT_ECOMPACTED (below the snapshot), -RAFT_EINVAL (past the end). */
int  log_term(const struct raft_log *log, uint64_t index, uint64_t *term_out);
/* The term at an index known to exist (asserts). */
uint64_t log_term_of(const struct raft_log *log, uint64_t index);
/* Entries that can be appended without evicting anything not yet durable. */
uint64_t log_room(const struct raft_log *log);
/* Appends one entry at last_index+1; the caller checked log_room() > 0. */
struct raft_entry *log_append_slot(struct raft_log *log, uint64_t term);
/* Drops every entry with index >= from (from > snapshot_index). */
void log_truncate_from(struct raft_log *log, uint64_t from);
/* Up to max entries starting at from (<= last_index), contiguous: a pointer into the ring,
 * or, for indexes below the window, at most scratch_cap copies read from the store into
 * scratch. Returns the count (>= 1) and sets *out; -RAFT_ECOMPACTED if from is gone. */
int  log_slice(const struct raft_log *log, uint64_t from, uint64_t max,
               struct raft_entry *scratch, uint32_t scratch_cap,
               const struct raft_entry **out);
/* The largest index in [lo, hi] whose term is <= term, given that log_term(lo) <= term.
 * Terms never decrease along a log, so this is a binary search. */
uint64_t log_find_term_le(const struct raft_log *log, uint64_t lo, uint64_t hi, uint64_t term);
/* Empties the log: it now starts after (index, term), a snapshot's last entry. */
void log_reset(struct raft_log *log, uint64_t index, uint64_t term);
/* The shell made entries up to index durable. */
void log_stable_to(struct raft_log *log, uint64_t index, uint64_t term);
/* Is (term, index) at least as up to date as our last entry? (paper §5.4.1) */
bool log_is_up_to_date(const struct raft_log *log, uint64_t last_index, uint64_t last_term);

/* ---- membership and quorums (quorum.c) --------------------------------------------------
 *
 * Outside a joint phase only `current` counts. During a joint phase (paper §6) decisions
 * need a majority of `current` and, separately, of `previous`. */
struct raft_config_state {
    struct raft_members current;
    struct raft_members previous;     /* count 0 unless joint */
};

bool members_is_voter(const struct raft_members *m, uint64_t id);
bool members_contains(const struct raft_members *m, uint64_t id);
uint32_t members_voters(const struct raft_members *m);
bool members_same_voters(const struct raft_members *a, const struct raft_members *b);
bool config_is_voter(const struct raft_config_state *c, uint64_t id);
bool members_valid(const struct raft_members *m);

/* A configuration from a MEMBERS entry not yet known committed (membership.c). Followers
 * keep them to fall back to the one before when a conflicting suffix is cut. */
#define RAFT_CONF_HISTORY 8u
struct conf_change {
    uint64_t index;
    struct raft_config_state conf;
};

enum vote_result { VOTE_PENDING, VOTE_WON, VOTE_LOST };

/* ---- per-follower replication progress (progress.c) ------------------------------------ */

enum progress_state {
    PROGRESS_PROBE,     /* next_index is a guess: one append at a time until one lands   */
    PROGRESS_REPLICATE, /* pipelining: next_index runs ahead, up to max_inflight appends */
    PROGRESS_SNAPSHOT,  /* needs entries we compacted: the shell is sending a snapshot    */
};

/* Appends in flight to one follower, as the last index each carried (etcd's Inflights). */
struct inflights {
    uint64_t *last_index; /* ring of cap                                       */
    uint32_t  start, count, cap;
};

struct progress {
    uint64_t id;
    uint64_t match_index, next_index;
    uint8_t  state;          /* enum progress_state                                   */
    bool     probe_sent;     /* PROBE: an append is out; wait for its answer           */
    bool     append_due;     /* send an append at the next flush, even an empty one   */
    bool     recent_active;  /* heard from it since the last check-quorum             */
    bool     voted, granted; /* candidate: it answered, and how                       */
    uint64_t read_acked;     /* highest read-index round it has acknowledged          */
    uint64_t commit_sent;    /* leader commit last sent to it                         */
    uint64_t snapshot_index; /* SNAPSHOT: the snapshot being sent                      */
    struct inflights inflight;
    struct raft_entry *scratch; /* max_batch entries read from the store, or NULL     */
};

void progress_reset(struct progress *pr, uint64_t id, uint64_t next_index);
void progress_become_probe(struct progress *pr);
void progress_become_replicate(struct progress *pr);
bool progress_paused(const struct progress *pr);
bool inflights_full(const struct inflights *in);
void inflights_add(struct inflights *in, uint64_t last_index);
void inflights_free_to(struct inflights *in, uint64_t index);
void inflights_free_first(struct inflights *in);

/* ---- the core ------------------------------------------------------------------------------ */

struct raft_pending_read {
    uint64_t ctx;
    uint64_t index;  /* commit index when the round was assigned  */
    uint64_t round;  /* heartbeat round that confirms it, 0: none */
};

struct outbox {
    struct raft_msg *msgs;
    uint32_t count, cap;
};

struct raft {
    struct raft_config cfg;
    uint64_t id;
    uint8_t  role;

    /* persistent state (paper Figure 2) and what the shell has made durable of it */
    uint64_t current_term, voted_for;
    struct raft_hard_state hard_state_durable;

    /* volatile state */
    uint64_t leader_id;
    uint64_t commit_index;
    uint64_t applied_index;     /* handed out for applying (and advanced) */
    struct raft_log log;
    struct raft_config_state conf;            /* in force: the latest in the log      */
    struct raft_config_state conf_committed;  /* in force before conf_changes[0]      */
    struct conf_change conf_changes[RAFT_CONF_HISTORY]; /* by index, oldest first     */
    uint32_t conf_changes_count;
    struct raft_snapshot_meta snapshot_install;  /* for the shell, when install_pending */
    bool     install_pending;

    /* timers, in ticks */
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t election_timeout;  /* randomized: [election_ticks, 2 * election_ticks) */
    uint64_t prng;

    /* leader state: one progress per member of current and previous configurations */
    struct progress prs[RAFT_MEMBERS_MAX];
    uint32_t prs_count;
    bool     committed_in_term; /* an entry of current_term is committed: reads may go */
    bool     noop_pending;      /* the term's first entry waits for room in the window */
    uint64_t transfer_to;       /* leadership transfer target, 0 for none (§3.10)     */
    uint32_t transfer_elapsed;  /* ticks since it started                             */
    bool     transfer_sent;     /* TIMEOUT_NOW is out                                 */

    /* read index (thesis §6.4) */
    struct raft_pending_read *reads;  /* FIFO ring of max_reads            */
    uint32_t reads_start, reads_count;
    uint64_t read_round;              /* last heartbeat round broadcast    */
    struct raft_read *reads_out;      /* answered in this ready batch      */
    uint32_t reads_out_count;

    /* ready batch */
    struct outbox out_now, out_after;
    struct raft_entry *apply_scratch; /* max_batch entries read from store */
    bool     ready_pending;           /* between raft_ready and raft_advance */
    uint64_t msgs_dropped;
};

/* raft.c */
struct progress *raft_progress(const struct raft *r, uint64_t id); /* NULL: not a member */
void raft_progress_rebuild(struct raft *r);  /* after the configuration changed */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader_id);
void raft_reset_election_timer(struct raft *r);
bool raft_send(struct raft *r, struct raft_msg *m);  /* false: the outbox was full */
uint32_t raft_outbox_room(const struct raft *r);

/* quorum.c: the core's view over its progress table */
enum vote_result quorum_vote_result(const struct raft *r);
uint64_t quorum_match_index(const struct raft *r);
uint64_t quorum_read_round(const struct raft *r);
bool     quorum_active(const struct raft *r);

/* membership.c */
void membership_init(struct raft *r, const struct raft_boot *boot);
void membership_on_append(struct raft *r, const struct raft_entry *e);
void membership_on_truncate(struct raft *r, uint64_t from);
void membership_reset(struct raft *r, const struct raft_members *members,
                      const struct raft_members *old);
void membership_on_commit(struct raft *r);  /* forget history, finish joint phases */
bool membership_changing(const struct raft *r);
bool membership_entry_valid(const struct raft_entry *e);

/* election.c */
void election_tick(struct raft *r);
bool election_may_campaign(const struct raft *r);
void election_campaign(struct raft *r, bool pre_vote, bool transfer);
void election_on_vote_request(struct raft *r, const struct raft_msg *m);
void election_on_vote_response(struct raft *r, const struct raft_msg *m);
bool election_in_lease(const struct raft *r);

/* replication.c */
void replication_become_leader(struct raft *r);
void replication_append_noop(struct raft *r);
void replication_tick(struct raft *r);
void replication_flush(struct raft *r);
void replication_on_append(struct raft *r, const struct raft_msg *m);
void replication_on_append_response(struct raft *r, const struct raft_msg *m);
void replication_on_heartbeat(struct raft *r, const struct raft_msg *m);
void replication_on_heartbeat_response(struct raft *r, const struct raft_msg *m);
void replication_on_snapshot(struct raft *r, const struct raft_msg *m);
/* Appends an entry of ours (leader); the caller checked log_room(). */
struct raft_entry *replication_append(struct raft *r, uint16_t type, const void *payload,
                                      uint32_t len);
void replication_maybe_commit(struct raft *r);
void replication_broadcast_heartbeat(struct raft *r);

/* readindex.c */
int  readindex_request(struct raft *r, uint64_t ctx);
void readindex_flush(struct raft *r);
void readindex_fail_all(struct raft *r);

/* prng: splitmix64, seeded per instance (no global state) */
static inline uint64_t raft_prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
