/* The state machine interface: what an application plugs into the server (the seed's
 * "handler" idea). The core never looks inside entries; the server hands committed
 * application entries (type >= RAFT_ENTRY_APP_MIN) to apply(), in log order, once each. */
#ifndef LUMINOUS_FSM_H
#define LUMINOUS_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "luminous/raft.h"

/* Every application entry's payload starts with this header, written by the leader:
 *   u64 client_id | u64 seq | u64 time_ms | body
 * (client_id, seq) identify the client's request for at-most-once application (thesis
 * §6.3; client_id 0 means no session). time_ms is the leader's wall clock at proposal:
 * apply() must take "now" from here, never from a clock, so replicas agree. */
#define LUM_COMMAND_HEADER_SIZE 24u
#define LUM_COMMAND_BODY_MAX    (RAFT_PAYLOAD_MAX - LUM_COMMAND_HEADER_SIZE)

struct lum_command {
    uint64_t client_id, seq, time_ms;
    const uint8_t *body; /* points into the entry */
    uint32_t len;
};

/* Splits an entry into header and body. 0, or -LUM_EMALFORMED if too short. */
int  lum_command_parse(const struct raft_entry *e, struct lum_command *out);
/* Builds an entry payload; e->type is set by the caller. 0 or -LUM_ETOOBIG. */
int  lum_command_build(struct raft_entry *e, uint64_t client_id, uint64_t seq,
                       uint64_t time_ms, const void *body, uint32_t len);

/* An answer from the state machine. data points into the machine's memory and stays valid
 * until the next call on that machine. */
struct lum_result {
    int32_t     code;  /* machine-defined: 0 ok; e.g. KV_NOT_FOUND */
    const void *data;
    uint32_t    len;
};

/* Byte streams for snapshots. write/read return 0 or a negated LUM_E* code; read fills
 * exactly len bytes or fails (-LUM_ECORRUPT at a premature end). */
struct lum_sink {
    void *ctx;
    int (*write)(void *ctx, const void *buf, size_t len);
};
struct lum_source {
    void *ctx;
    int (*read)(void *ctx, void *buf, size_t len);
};

/* Lets a machine propose entries of its own on the leader (housekeeping). Returns 0 or a
 * negated LUM_E* code; the entry gets client_id 0. */
struct lum_proposer {
    void *ctx;
    int (*propose)(void *ctx, uint16_t type, const void *body, uint32_t len);
};

struct lum_fsm_ops {
    const char *name;
    void *(*create)(void);
    void  (*destroy)(void *fsm);
    /* Applies one committed entry. Must be deterministic: same entries, same state, on
     * every replica. A malformed body is answered with an error code, never a crash.
     * Returns 0, or a negated LUM_E* code only for failures that must stop the server. */
    int   (*apply)(void *fsm, const struct raft_entry *e, struct lum_result *out);
    /* Answers a read-only request from local state; now_ms is the local clock. */
    int   (*query)(void *fsm, const void *req, uint32_t len, uint64_t now_ms,
                   struct lum_result *out);
    int   (*snapshot_save)(void *fsm, struct lum_sink *to);
    int   (*snapshot_load)(void *fsm, struct lum_source *from);
    /* Optional (NULL): called on the leader about every 100 ms. */
    void  (*housekeeping)(void *fsm, uint64_t now_ms, struct lum_proposer *p);
    /* Optional (NULL): approximate bytes held, for status. */
    uint64_t (*size)(void *fsm);
};

#endif
