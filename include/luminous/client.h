/* The client library: talk to a Luminous cluster the way raftctl does. Blocking, with one
 * overall deadline per call; follows NOT_LEADER redirects, retries other nodes when one
 * fails, and keeps a write's (client_id, seq) across retries so the cluster applies it at
 * most once (thesis §6.3). One request outstanding per client. */
#ifndef LUMINOUS_CLIENT_H
#define LUMINOUS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/base.h"
#include "luminous/wire.h"

#define LUM_CLUSTER_DEFAULT "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
#define LUM_CLIENT_NODES_MAX 16

struct lum_client;

/* An answer: status 0 or a negated LUM_E* code from the server; code and data from the
 * state machine. data belongs to the client and lives until its next call. */
struct lum_reply {
    int32_t  status;
    int32_t  code;
    const uint8_t *data;
    uint32_t len;
    uint64_t node_id;   /* with -LUM_ENOSPC: the node whose disk is full (0: unknown) */
};

/* cluster: "host:port,host:port,..." (client addresses). 0 or -LUM_EINVAL with err. */
int  lum_client_open(const char *cluster, uint32_t timeout_ms, struct lum_client **out,
                     struct lum_err *err);
void lum_client_close(struct lum_client *c);
/* Sets the cluster secret (at most LUM_SECRET_MAX bytes; copied): every new connection
 * then runs the handshake before its first request. Without one, a node that asks for it
 * fails the call with -LUM_EAUTH ("NODE requires authentication: ..."), as does a node
 * with another secret ("NODE: authentication failed (wrong secret?)"). 0 or -LUM_EINVAL. */
int  lum_client_set_secret(struct lum_client *c, const void *key, size_t len);

/* A write. 0 with *out filled when the cluster answered; -LUM_ETIMEDOUT when the deadline
 * passed without an answer (the write may or may not have happened); -LUM_EUNAVAILABLE when
 * no node could be reached at all; -LUM_EAUTH (see lum_client_set_secret). err says what
 * happened last. */
int  lum_client_command(struct lum_client *c, uint16_t entry_type, const void *body,
                        uint32_t len, struct lum_reply *out, struct lum_err *err);
/* A read: linearizable through the leader, or with stale from the first node that answers. */
int  lum_client_query(struct lum_client *c, const void *body, uint32_t len, bool stale,
                      struct lum_reply *out, struct lum_err *err);
/* An admin request (WIRE_OP_MEMBERS, _TRANSFER, _SNAPSHOT) to the leader, followed there
 * through redirects; one node may take until the deadline to answer (a change waits for
 * its commit). Returns as lum_client_command. */
int  lum_client_admin(struct lum_client *c, uint8_t op, const void *body, uint32_t len,
                      struct lum_reply *out, struct lum_err *err);
/* The leader's status (asking every node until one says it leads). 0, -LUM_EUNAVAILABLE. */
int  lum_client_leader_status(struct lum_client *c, struct wire_status *out,
                              struct lum_err *err);
/* The status of the node at index i of the cluster list. 0, -LUM_ETIMEDOUT, -LUM_EUNAVAILABLE. */
int  lum_client_status(struct lum_client *c, uint32_t i, struct wire_status *out,
                       struct lum_err *err);
/* A backup (src/client/backup.c): the leader's newest snapshot, taken first if older than
 * its applied state, fetched in pieces into path.tmp, fsync'd, checked end to end (the
 * snapshot's own crcs, snap_file_check), then renamed to path and the directory fsync'd:
 * path is a whole, valid snapshot or untouched. Each piece gets the client's timeout; a
 * backup whose snapshot vanished (a leader change) starts over, a few times. On failure
 * path.tmp is removed and file_error says whether the cause was local (writing or checking
 * the file) or the cluster's. 0; the call errors of lum_client_admin; a status the leader
 * answered (-LUM_ENOTLEADER when no leader took it, -LUM_EIO when its snapshot failed, ...);
 * -LUM_EIO / -LUM_ENOSPC / -LUM_ECORRUPT with file_error. err says what happened. */
struct lum_backup {
    uint64_t index, term;   /* the snapshot's last entry          */
    uint64_t size;          /* bytes written to path              */
    bool     file_error;    /* on failure: the local file's fault */
};
int  lum_client_backup(struct lum_client *c, const char *path, struct lum_backup *out,
                       struct lum_err *err);

uint32_t    lum_client_nodes(const struct lum_client *c);
const char *lum_client_node_addr(const struct lum_client *c, uint32_t i);

#endif
