/* The binary codec for everything that crosses a socket: peer (Raft) messages and client
 * requests/responses.
 *
 * Frame: u32 length | u8 version | u8 type | body
 *   length  bytes after the length field (2 + body length); little-endian like every
 *           integer here; a frame longer than the receiver's frame_max is refused (a frame's
 *           size is 4 + length: frame_max counts the whole header)
 *   version WIRE_VERSION
 * Byte strings are u32 len + bytes, short strings (addresses) u16 len + bytes.
 * Decoding checks every length against what remains before reading; a decoder never reads
 * outside the frame it was given. Encoders write into caller-owned buffers. */
#ifndef LUMINOUS_WIRE_H
#define LUMINOUS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/raft.h"

#define WIRE_VERSION           1
#define WIRE_FRAME_HEADER_SIZE 6u          /* u32 length, u8 version, u8 type */
#define WIRE_FRAME_MAX         (1u << 20)  /* default largest frame we accept */
#define WIRE_ADDR_MAX          255u        /* "host:port" strings              */
#define WIRE_ENTRY_OVERHEAD    14u         /* per entry in an append: term, type, len */
#define WIRE_BATCH_MAX         64u         /* entries per append we send or accept */

_Static_assert(WIRE_FRAME_MAX >= WIRE_BATCH_MAX * (RAFT_PAYLOAD_MAX + WIRE_ENTRY_OVERHEAD) + 1024,
               "a frame must carry an append of WIRE_BATCH_MAX full entries");

enum wire_type {
    /* peers */
    WIRE_HELLO = 1,           /* first frame on a peer connection, from the dialer      */
    /* both, only when a cluster secret is configured: before anything else (auth.c) */
    WIRE_AUTH = 2,
    WIRE_SNAP_CHUNK = 8,      /* a piece of a snapshot file, before its SNAPSHOT message */
    WIRE_RAFT_BASE = 16,      /* WIRE_RAFT_BASE + enum raft_msg_type                    */
    /* clients */
    WIRE_CLIENT_REQUEST = 64,
    WIRE_CLIENT_RESPONSE = 65,
    WIRE_STATUS_RESPONSE = 66,
};

/* A whole frame found in a buffer; body points into that buffer. */
struct wire_frame {
    uint8_t        type;
    const uint8_t *body;
    uint32_t       body_len;
    uint32_t       size;     /* header + body: bytes to consume */
};

/* Looks for one frame at the start of buf. Returns 0 and fills out when a whole frame is
 * there; -LUM_EAGAIN when more bytes are needed; -LUM_ETOOBIG when the announced length
 * exceeds frame_max (checked before waiting for the body); -LUM_EVERSION for another
 * version; -LUM_EMALFORMED for a length below 2 or an unknown type. */
int wire_frame_peek(const uint8_t *buf, size_t len, uint32_t frame_max,
                    struct wire_frame *out);

/* ---- authentication -------------------------------------------------------------------------
 * The cluster-secret handshake (src/wire/auth.c has the protocol). One frame type, three
 * steps; every AUTH body is the same 65 bytes: u8 step | nonce[32] | mac[32]. */

#define WIRE_AUTH_NONCE 32u
#define WIRE_AUTH_MAC   32u

enum wire_auth_step {
    WIRE_AUTH_CHALLENGE = 1,  /* acceptor -> dialer: nonce_a, mac all zero               */
    WIRE_AUTH_PROOF = 2,      /* dialer -> acceptor: nonce_d, mac = proof of the dialer   */
    WIRE_AUTH_ACCEPT = 3,     /* acceptor -> dialer: nonce_a again, mac = its own proof   */
};

struct wire_auth {
    uint8_t step;             /* enum wire_auth_step */
    uint8_t nonce[WIRE_AUTH_NONCE];
    uint8_t mac[WIRE_AUTH_MAC];
};

int wire_encode_auth(uint8_t *buf, size_t cap, const struct wire_auth *a);
int wire_decode_auth(const struct wire_frame *f, struct wire_auth *out);

/* A fresh random nonce from getrandom(2): 0, or -LUM_EIO if the kernel gives none. */
int wire_auth_nonce(uint8_t nonce[WIRE_AUTH_NONCE]);
/* The two proofs. The dialer's: HMAC(secret, "luminous auth v1 dialer" | nonce_a | nonce_d);
 * the acceptor's: HMAC(secret, "luminous auth v1 acceptor" | nonce_d | nonce_a). */
void wire_auth_dialer_mac(const void *secret, size_t secret_len,
                          const uint8_t nonce_a[WIRE_AUTH_NONCE],
                          const uint8_t nonce_d[WIRE_AUTH_NONCE], uint8_t mac[WIRE_AUTH_MAC]);
void wire_auth_acceptor_mac(const void *secret, size_t secret_len,
                            const uint8_t nonce_a[WIRE_AUTH_NONCE],
                            const uint8_t nonce_d[WIRE_AUTH_NONCE], uint8_t mac[WIRE_AUTH_MAC]);
/* Constant-time checks of a received proof: true if it is the one the secret gives. */
bool wire_auth_dialer_ok(const void *secret, size_t secret_len,
                         const uint8_t nonce_a[WIRE_AUTH_NONCE],
                         const struct wire_auth *proof);
bool wire_auth_acceptor_ok(const void *secret, size_t secret_len,
                           const uint8_t nonce_a[WIRE_AUTH_NONCE],
                           const uint8_t nonce_d[WIRE_AUTH_NONCE],
                           const struct wire_auth *accept);

/* ---- peers ---------------------------------------------------------------------------------- */

struct wire_hello {
    uint64_t cluster_id;
    uint64_t node_id;
    uint32_t protocol;    /* WIRE_VERSION of the sender */
    char     peer_addr[WIRE_ADDR_MAX + 1]; /* where the sender listens for peers, so a new
                                              node can answer a leader it never heard of */
};

/* Encoders return the frame size written, or -LUM_ETOOBIG when cap is too small. */
int wire_encode_hello(uint8_t *buf, size_t cap, const struct wire_hello *h);
int wire_decode_hello(const struct wire_frame *f, struct wire_hello *out);

/* A piece of the snapshot (index, term) that the leader streams to a follower before the
 * SNAPSHOT message; data points into the frame when decoded. */
#define WIRE_SNAP_CHUNK_MAX (256u * 1024)
struct wire_snap_chunk {
    uint64_t from, to, term;       /* the leader and its term                      */
    uint64_t index, snap_term;     /* which snapshot                                */
    uint64_t offset, total;        /* where this piece goes; the file's whole size  */
    const uint8_t *data;
    uint32_t len;                  /* <= WIRE_SNAP_CHUNK_MAX                         */
};
size_t wire_snap_chunk_size(uint32_t len);
int wire_encode_snap_chunk(uint8_t *buf, size_t cap, const struct wire_snap_chunk *c);
int wire_decode_snap_chunk(const struct wire_frame *f, struct wire_snap_chunk *out);

/* Bytes wire_encode_raft needs for m (exact). */
size_t wire_raft_size(const struct raft_msg *m);
int wire_encode_raft(uint8_t *buf, size_t cap, const struct raft_msg *m);
/* Decodes a Raft message. An append's entries are decoded into entries[] (room for
 * entries_cap; more is -LUM_ETOOBIG) and out->append.entries points there; entry indexes
 * are prev_log_index+1, +2, ... Structural checks only (lengths, payload <= max,
 * type in range); the core checks the rest. 0 or -LUM_EMALFORMED / -LUM_ETOOBIG. */
int wire_decode_raft(const struct wire_frame *f, struct raft_msg *out,
                     struct raft_entry *entries, uint32_t entries_cap);

/* ---- clients -------------------------------------------------------------------------------- */

enum wire_op {
    WIRE_OP_COMMAND = 1,  /* propose an entry to the state machine (a write)           */
    WIRE_OP_QUERY,        /* read the state machine (linearizable unless STALE)         */
    WIRE_OP_STATUS,       /* this node's view: answered with WIRE_STATUS_RESPONSE       */
    WIRE_OP_MEMBERS,      /* leader: change the configuration to body's (wire_members)  */
    WIRE_OP_TRANSFER,     /* leader: hand leadership to the node in body (u64 id)       */
    WIRE_OP_SNAPSHOT,     /* take a snapshot now; answers its index (u64)               */
    WIRE_OP_END_
};
enum wire_flag { WIRE_FLAG_STALE = 1 }; /* QUERY: serve from local state, no ReadIndex */

struct wire_request {
    uint64_t request_id;      /* chosen by the client, echoed in the response            */
    uint8_t  op;              /* enum wire_op                                            */
    uint8_t  flags;           /* enum wire_flag                                          */
    uint16_t entry_type;      /* COMMAND: the state machine's entry type (>= 64)        */
    uint64_t client_id, seq;  /* COMMAND: session, for at-most-once (thesis §6.3)        */
    const uint8_t *body;      /* COMMAND/QUERY: points into the frame                    */
    uint32_t body_len;
};

/* Response status: 0, or a negated LUM_E* code (-LUM_ENOTLEADER with the leader's client
 * address when known, -LUM_ETOOBIG, -LUM_EBUSY, -LUM_EUNAVAILABLE, -LUM_ENOSPC, ...). */
struct wire_response {
    uint64_t request_id;
    int32_t  status;
    int32_t  code;            /* the state machine's answer code (enum kv_code, ...)     */
    uint64_t leader_id;       /* 0: unknown; with -LUM_ENOSPC the answering leader itself */
    const char *leader_addr;  /* client address of the leader, not NUL-terminated        */
    uint16_t leader_addr_len;
    const uint8_t *data;      /* the answer's bytes (a GET's value, ...)                 */
    uint32_t data_len;
};

int wire_encode_request(uint8_t *buf, size_t cap, const struct wire_request *rq);
int wire_decode_request(const struct wire_frame *f, struct wire_request *out);
int wire_encode_response(uint8_t *buf, size_t cap, const struct wire_response *rs);
int wire_decode_response(const struct wire_frame *f, struct wire_response *out);

/* A node's view of itself and the cluster, for `raftctl status`. */
struct wire_member {
    uint64_t id;
    uint8_t  role;                        /* enum raft_member_role                     */
    uint64_t match_index;                 /* leader only: replication progress; else 0 */
    char     peer_addr[WIRE_ADDR_MAX + 1];   /* NUL-terminated                         */
    char     client_addr[WIRE_ADDR_MAX + 1];
};

struct wire_status {
    uint64_t request_id;
    uint64_t id;
    uint8_t  role;                        /* enum raft_role                            */
    bool     voter;
    uint64_t term, leader_id;
    uint64_t commit_index, applied_index, first_index, last_index, snapshot_index;
    uint64_t db_size;                     /* bytes of data_dir's files (storage_disk_bytes) */
    uint32_t n_members;
    struct wire_member members[RAFT_MEMBERS_MAX];
};

int wire_encode_status(uint8_t *buf, size_t cap, const struct wire_status *st);
int wire_decode_status(const struct wire_frame *f, struct wire_status *out);

/* The role as `raftctl status` names it: leader, follower, candidate (pre-vote included) or
 * learner. */
const char *wire_status_role(const struct wire_status *st);
/* One node's status as a JSON object, the element of `raftctl status --json` and the body
 * of the HTTP /status: {"id","addr","role","term","leader","commit_index","applied_index",
 * "first_index","last_index","snapshot_index","db_size","lag","members":[{"id","role",
 * "peer","client","match_index"}]}. lag is how many entries the node's applied index is
 * behind the highest commit index the caller knows (raftctl: of all nodes that answered; a
 * node itself: its own). addr may be NULL (then the node's own client address from members,
 * or ""). Returns the length it needed, like snprintf (the text is cut if >= cap). */
size_t wire_status_json(char *buf, size_t cap, const struct wire_status *st, const char *addr,
                        uint64_t lag);
/* text as a JSON string (quotes included), bytes outside printable ASCII as \u00XX. Returns
 * the length it needed, like snprintf. */
size_t wire_json_string(char *buf, size_t cap, const void *text, size_t len);

/* A whole configuration with addresses, the body of WIRE_OP_MEMBERS:
 *   u32 count | count x (u64 id | u8 role | u16 len | peer_addr | u16 len | client_addr)
 * (match_index is not sent). Returns the length or -LUM_ETOOBIG; decode 0 or
 * -LUM_EMALFORMED. */
int wire_encode_members(uint8_t *buf, size_t cap, const struct wire_member *m, uint32_t n);
int wire_decode_members(const uint8_t *buf, size_t len, struct wire_member *out,
                        uint32_t *n_out);

#endif
