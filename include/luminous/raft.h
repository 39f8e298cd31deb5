/* The Luminous consensus core: a pure Raft state machine (no I/O, no clock, no globals).
 *
 * The shell feeds it messages (raft_step), time (raft_tick) and work (raft_propose,
 * raft_read_index) and drains what it wants done as ready batches (raft_ready /
 * raft_advance), the design of etcd-io/raft's Ready/Advance. Section numbers cite the
 * Raft paper ("paper §5.3") or Ongaro's thesis ("thesis §9.6"). */
#ifndef LUMINOUS_RAFT_H
#define LUMINOUS_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits -------------------------------------------------------------------------- */

#define RAFT_ENTRY_SIZE        4096u /* one on-disk log slot, its header included       */
#define RAFT_ENTRY_HEADER_SIZE 32u   /* slot header: crc32c, len, term, index, type, pad */
#define RAFT_PAYLOAD_MAX       (RAFT_ENTRY_SIZE - RAFT_ENTRY_HEADER_SIZE)
#define RAFT_MEMBERS_MAX       16u   /* servers in one configuration, joint phase included */

/* ---- errors (negated on return; 0 is success) ---------------------------------------- */

enum raft_error {
    RAFT_ENOTLEADER = 1, /* only the leader can do that; see raft_status().leader_id   */
    RAFT_ETOOBIG,        /* payload longer than RAFT_PAYLOAD_MAX                        */
    RAFT_EBUSY,          /* a bounded queue (log window, read queue) is full: retry     */
    RAFT_EINVAL,         /* bad argument from the caller (reserved entry type, ...)     */
    RAFT_EMALFORMED,     /* a message that breaks the protocol's rules; it was ignored  */
    RAFT_ECOMPACTED,     /* the log entry was discarded by compaction                   */
    RAFT_ENOMEM,         /* allocation failed at raft_create                            */
    RAFT_ECHANGING,      /* a membership change is already in progress                  */
    RAFT_ETRANSFER,      /* a leadership transfer is in progress: retry shortly          */
    RAFT_ERROR_END_      /* one past the last code; keep last                           */
};

/* A short human description of an error code, positive or negated; never NULL. */
const char *raft_strerror(int error);

/* ---- log entries ----------------------------------------------------------------------- */

/* Entry type tags below 64 are the core's; applications use 64 and above. */
enum raft_entry_type {
    RAFT_ENTRY_NOOP    = 1,  /* a new leader's first entry of its term (paper §8)        */
    RAFT_ENTRY_MEMBERS = 2,  /* a configuration change (paper §6)                        */
    RAFT_ENTRY_SESSION = 3,  /* a client session registration (thesis §6.3), shell-owned */
    RAFT_ENTRY_APP_MIN = 64,
};

/* The generic entry: a type tag and a fixed-size payload of which only len bytes are used
 * (and only those travel on the wire or are checksummed on disk). */
struct raft_entry {
    uint64_t term, index;
    uint16_t type;
    uint32_t len;                       /* bytes used in payload, <= RAFT_PAYLOAD_MAX */
    uint8_t  payload[RAFT_PAYLOAD_MAX];
};

/* ---- membership ----------------------------------------------------------------------- */

enum raft_member_role { RAFT_VOTER = 1, RAFT_LEARNER = 2 };

struct raft_member {
    uint64_t id;   /* nonzero, unique within a configuration */
    uint8_t  role; /* enum raft_member_role                  */
};

struct raft_members {
    uint32_t           count;
    struct raft_member members[RAFT_MEMBERS_MAX];
};

/* A MEMBERS entry's payload: the configuration, during a joint phase (paper §6) the old
 * one (count 0 otherwise), then the shell's opaque context (what it needs to know of new
 * members, such as addresses; the core only carries it). Encode returns the length, or 0
 * if the context does not fit RAFT_PAYLOAD_MAX; decode returns 0 or -RAFT_EMALFORMED and
 * points ctx_out into in. */
#define RAFT_MEMBERS_ENCODED_MAX (2 * (4 + RAFT_MEMBERS_MAX * 9))
#define RAFT_MEMBERS_CONTEXT_MAX (RAFT_PAYLOAD_MAX - RAFT_MEMBERS_ENCODED_MAX)
uint32_t raft_members_encode(const struct raft_members *members,
                             const struct raft_members *old, const void *ctx,
                             uint32_t ctx_len, uint8_t *out);
int      raft_members_decode(const uint8_t *in, uint32_t len, struct raft_members *members_out,
                             struct raft_members *old_out, const uint8_t **ctx_out,
                             uint32_t *ctx_len_out);

/* ---- messages ------------------------------------------------------------------------- */

enum raft_msg_type {
    RAFT_MSG_VOTE = 1,           /* RequestVote (paper §5.2)                         */
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_PREVOTE,            /* a vote that changes nothing (thesis §9.6)        */
    RAFT_MSG_PREVOTE_RESP,
    RAFT_MSG_APPEND,             /* AppendEntries (paper §5.3)                       */
    RAFT_MSG_APPEND_RESP,
    RAFT_MSG_HEARTBEAT,          /* leader liveness + commit + read-index round      */
    RAFT_MSG_HEARTBEAT_RESP,
    RAFT_MSG_TIMEOUT_NOW,        /* leadership transfer: campaign now (thesis §3.10)  */
    RAFT_MSG_SNAPSHOT,           /* InstallSnapshot, once its data has arrived (§7)   */
    RAFT_MSG_TYPE_END_
};

struct raft_msg {
    uint8_t  type; /* enum raft_msg_type */
    uint64_t from, to;
    uint64_t term; /* the sender's term; PREVOTE: the term it would campaign in */
    union {
        struct raft_msg_vote {          /* VOTE, PREVOTE */
            uint64_t last_log_index, last_log_term;
            bool     transfer;          /* after TIMEOUT_NOW: the leader asked for it, so
                                           the leader-lease rule does not apply          */
        } vote;
        struct raft_msg_vote_resp {     /* VOTE_RESP, PREVOTE_RESP */
            bool granted;
        } vote_resp;
        struct raft_msg_append {        /* APPEND */
            uint64_t prev_log_index, prev_log_term, leader_commit;
            uint32_t n_entries;         /* <= raft_config.max_batch       */
            const struct raft_entry *entries; /* indexes prev_log_index+1... */
        } append;
        struct raft_msg_append_resp {   /* APPEND_RESP */
            bool     success;
            /* success: the follower's log matches the leader's up to last_index.
             * refused: last_index is the prev_log_index that failed the consistency
             * check, and (hint_index, hint_term) is the follower's largest index
             * <= last_index whose term is <= the refused prev_log_term (paper §5.3's
             * conflict hint, in the form that needs no scan on either side). */
            uint64_t last_index, hint_index, hint_term;
        } append_resp;
        struct raft_msg_heartbeat {     /* HEARTBEAT */
            uint64_t commit; /* min(leader commit, follower's match): always safe */
            uint64_t ctx;    /* read-index round, echoed in the response         */
        } heartbeat;
        struct raft_msg_heartbeat_resp { /* HEARTBEAT_RESP */
            uint64_t ctx;
        } heartbeat_resp;
        struct raft_msg_snapshot {      /* SNAPSHOT; answered with an APPEND_RESP      */
            uint64_t index, term;       /* the last entry the snapshot includes        */
            /* On the sender's side left empty: the shell streams the snapshot file for
             * (index, term) and the receiving shell, once all of it has arrived, steps
             * the message with the membership that file records. */
            struct raft_members members, members_old;
        } snapshot;
    };
};

/* ---- configuration, boot state, storage ------------------------------------------------ */

struct raft_config {
    uint64_t id;               /* this server's id, nonzero                                */
    uint32_t election_ticks;   /* election timeout: random in [election_ticks, 2x)         */
    uint32_t heartbeat_ticks;  /* leader heartbeat interval, < election_ticks              */
    uint32_t max_inflight;     /* AppendEntries outstanding per follower (pipelining)      */
    uint32_t max_batch;        /* entries per AppendEntries, and per batch of committed
                                  entries read back from the store (a ready batch persists
                                  every undurable entry in the window at once)            */
    uint32_t log_window;       /* entries kept in memory; >= max_batch. Unpersisted
                                  entries must fit: a full window refuses proposals       */
    uint32_t max_reads;        /* read-index requests queued at once                       */
    bool     pre_vote;         /* thesis §9.6                                              */
    bool     check_quorum;     /* leader steps down without a quorum's contact (§6.2)      */
    uint64_t seed;             /* for the election-timeout PRNG                            */
};

/* Fills cfg with the defaults for id: election 10 ticks, heartbeat 2, inflight 64, batch 64,
 * window 1024, reads 4096, pre_vote and check_quorum on, seed = id. */
void raft_config_default(struct raft_config *cfg, uint64_t id);

struct raft_hard_state {
    uint64_t term;       /* currentTerm (paper Figure 2)                 */
    uint64_t voted_for;  /* votedFor in term, 0 for none                 */
};

/* What was on disk at start: the persisted hard state and the persisted log's bounds.
 * hard_state.term may be below the last entry's term (a crash after writing entries but
 * before the meta): the core then starts at the last entry's term with no vote. */
struct raft_boot {
    struct raft_hard_state hard_state;
    uint64_t snapshot_index, snapshot_term; /* the log starts after this (0, 0: no snapshot) */
    uint64_t last_index;                    /* last persisted entry (>= snapshot_index)     */
    struct raft_members members;            /* configuration at snapshot_index (or the
                                               initial one); MEMBERS entries in the log
                                               after it are found through the store       */
    struct raft_members members_old;        /* count 0 unless that was a joint phase       */
};

/* The core's read access to persisted entries that are not in its memory window.
 * The core reads only indexes in (snapshot_index, last persisted index], and never between
 * raft_ready() and raft_advance() (raft_advance itself may read: the batch is durable
 * then). For those indexes the store must answer: an I/O error is the store's to handle
 * (the server logs it and exits). */
struct raft_log_store {
    void *ctx;
    /* Copies the entry at index into *out. 0, or -RAFT_ECOMPACTED. */
    int (*entry)(void *ctx, uint64_t index, struct raft_entry *out);
    /* The term of the entry at index. 0, or -RAFT_ECOMPACTED. */
    int (*term)(void *ctx, uint64_t index, uint64_t *term_out);
    /* The type of the entry at index, cheaply (the core looks for MEMBERS entries at
     * start). 0, or -RAFT_ECOMPACTED. */
    int (*type)(void *ctx, uint64_t index, uint16_t *type_out);
};

/* ---- the ready batch -------------------------------------------------------------------- */

/* A snapshot the shell must install (it received its data before stepping the message). */
struct raft_snapshot_meta {
    uint64_t index, term;
    struct raft_members members, members_old;
};

struct raft_read {
    uint64_t ctx;    /* as given to raft_read_index                                   */
    uint64_t index;  /* serve the read once the state machine has applied this index */
    int      status; /* 0, or -RAFT_ENOTLEADER: leadership was lost, retry elsewhere  */
};

/* Work for the shell, in this order of obligation. Everything here is read-only and points
 * into the core; it stays valid until raft_advance(). Between raft_ready() and
 * raft_advance() the shell must not call any other raft_* function on this instance, except
 * raft_destroy() (a crash, in the simulator).
 *
 *  1. msgs_now may be sent at once: they depend on nothing of this batch being durable
 *     (the leader's own appends go out before its fsync, thesis §10.2.1).
 *  2. Persist: if snapshot, install it first: the state machine takes the snapshot's
 *     state, and the log is emptied and starts after snapshot->index. Then
 *     if hard_state_changed, the hard state; the entries, after first discarding
 *     every persisted entry with index >= entries[0].index (a conflicting suffix).
 *     Then make both durable (one fdatasync per batch).
 *  3. msgs may be sent only now: votes and acknowledgements that promise durability. They
 *     may be empty while entries are not: when the undurable entries wrap around the
 *     core's ring they come in two batches, and msgs wait for the second.
 *  4. Apply committed entries in order. Reserved types (< RAFT_ENTRY_APP_MIN) other than
 *     SESSION carry nothing for the state machine.
 *  5. Answer each read once the state machine has applied read.index.
 *  6. raft_advance(). Then call raft_ready() again until it returns false. */
struct raft_ready {
    const struct raft_snapshot_meta *snapshot; /* NULL, or one to install */
    bool                     hard_state_changed;
    struct raft_hard_state   hard_state;
    const struct raft_entry *entries;
    uint32_t                 n_entries;
    const struct raft_msg   *msgs_now;
    uint32_t                 n_msgs_now;
    const struct raft_msg   *msgs;
    uint32_t                 n_msgs;
    const struct raft_entry *committed;
    uint32_t                 n_committed;
    const struct raft_read  *reads;
    uint32_t                 n_reads;
};

/* ---- the API ------------------------------------------------------------------------------ */

struct raft;

/* Creates a core. cfg and boot are copied; store must outlive the core. cfg must be valid
 * (id != 0, heartbeat_ticks < election_ticks, limits nonzero, log_window >= max_batch) and
 * boot.members must be a valid configuration (it may be empty: the server then waits to be
 * added and never campaigns). Returns NULL only when out of memory. */
struct raft *raft_create(const struct raft_config *cfg, const struct raft_boot *boot,
                         const struct raft_log_store *store);
void raft_destroy(struct raft *r);

/* A message from a peer arrived. 0, or -RAFT_EMALFORMED (the message was ignored). */
int  raft_step(struct raft *r, const struct raft_msg *m);

/* One logical tick passed. */
void raft_tick(struct raft *r);

/* Appends an entry to the leader's log. index_out gets its index; it is committed and
 * ours when an entry with that index and the term of raft_status() at proposal time is
 * applied. 0, -RAFT_ENOTLEADER, -RAFT_ETOOBIG, -RAFT_EINVAL (reserved type other than
 * SESSION), -RAFT_EBUSY (the log window is full of unpersisted entries). */
int  raft_propose(struct raft *r, uint16_t type, const void *payload, uint32_t len,
                  uint64_t *index_out);

/* Asks for a linearizable read barrier (ReadIndex, thesis §6.4). The answer comes in a
 * later ready batch as a raft_read with this ctx. All reads asked in one loop turn share
 * one heartbeat round. 0, -RAFT_ENOTLEADER, -RAFT_EBUSY (max_reads pending). */
int  raft_read_index(struct raft *r, uint64_t ctx);

/* True if there is work; then rd describes it (see struct raft_ready). */
bool raft_ready(struct raft *r, struct raft_ready *rd);

/* The shell did everything rd asked. */
void raft_advance(struct raft *r, const struct raft_ready *rd);

enum raft_role { RAFT_FOLLOWER = 1, RAFT_PRECANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

struct raft_status {
    uint64_t id;
    uint8_t  role;            /* enum raft_role                                  */
    bool     voter;           /* a voter in the current configuration            */
    uint64_t term, voted_for, leader_id;
    uint64_t commit_index, applied_index;
    uint64_t first_index;     /* first entry still in the log (snapshot_index+1) */
    uint64_t last_index, last_term;
    uint64_t stable_index;    /* last entry the shell has made durable           */
    uint64_t snapshot_index;
    uint64_t transfer_to;     /* leader: the transfer target, 0 for none         */
    bool     changing;        /* a membership change is not yet committed        */
    uint64_t msgs_dropped;    /* messages dropped because the outbox was full    */
};

void raft_status(const struct raft *r, struct raft_status *st);

/* Leader only: changes the configuration to next (paper §6). When the voters change, the
 * cluster goes through the joint configuration C_old,new first and on to next by itself
 * once that commits; a change of learners alone takes one step. A new server should join
 * as a learner and become a voter once caught up (thesis §4.2.1). A leader that is not a
 * voter of next steps down once next commits. ctx (up to RAFT_MEMBERS_CONTEXT_MAX bytes)
 * rides in the entry for the shell. 0, -RAFT_ENOTLEADER, -RAFT_ECHANGING (a change is in
 * progress: one at a time), -RAFT_ETRANSFER, -RAFT_EINVAL (invalid, no voters, ctx too
 * long), -RAFT_EBUSY
 * (log window full, or no entry of this term committed yet: retry). */
int  raft_change_members(struct raft *r, const struct raft_members *next, const void *ctx,
                         uint32_t ctx_len);

/* Leader only: hands leadership to voter to (thesis §3.10): brings it up to date, sends it
 * TIMEOUT_NOW, and refuses proposals meanwhile (-RAFT_ETRANSFER) for at most an election
 * timeout. 0, -RAFT_ENOTLEADER, -RAFT_EINVAL (not a voter, or ourselves). */
int  raft_transfer_leader(struct raft *r, uint64_t to);

/* The shell saved a snapshot that includes every entry up to index (<= applied). The core
 * may now tell followers that need older entries to install it, and the shell may delete
 * log entries up to index. */
void raft_snapshot_taken(struct raft *r, uint64_t index);

/* The shell's transfer of a snapshot to id ended: ok, or failed (then it is retried). */
void raft_snapshot_report(struct raft *r, uint64_t id, bool ok);

/* The memory of the in-memory log window (cfg.log_window entries of RAFT_ENTRY_SIZE bytes,
 * written at every append). The shell may keep it out of a forked snapshot writer
 * (madvise MADV_DONTFORK), which never reads it: else every append after a fork pays a
 * copy-on-write fault. */
void raft_log_window_memory(const struct raft *r, void **base_out, size_t *len_out);

/* The configuration in force: the latest in the log, committed or not. */
void raft_members(const struct raft *r, struct raft_members *members_out,
                  struct raft_members *old_out);

/* Leader only: how far member id's log is known to match ours. 0, -RAFT_ENOTLEADER, or
 * -RAFT_EINVAL for an id outside the configuration. */
int  raft_match_index(const struct raft *r, uint64_t id, uint64_t *match_out);

/* The term of the entry at index (0 for index 0). 0, -RAFT_ECOMPACTED, or -RAFT_EINVAL
 * when index is past the last entry. */
int  raft_log_term(const struct raft *r, uint64_t index, uint64_t *term_out);

const char *raft_role_name(int role);
const char *raft_msg_type_name(int type);

#endif
