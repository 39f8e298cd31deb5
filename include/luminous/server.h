/* The server: configuration, and the glue that drives the consensus core from the event
 * loop, persists through storage, applies to a state machine and answers clients. */
#ifndef LUMINOUS_SERVER_H
#define LUMINOUS_SERVER_H

#include <netinet/in.h>
#include <stdint.h>

#include "luminous/base.h"
#include "luminous/fsm.h"
#include "luminous/raft.h"
#include "luminous/secret.h"
#include "luminous/wire.h"

/* ---- configuration (raft.conf) -------------------------------------------------------------
 * `key = value` lines, `#` comments, blank lines ignored. See raft.conf.example. */

struct server_member {
    uint64_t id;
    char     peer_addr[WIRE_ADDR_MAX + 1];
    char     client_addr[WIRE_ADDR_MAX + 1];
    struct sockaddr_in peer, client;
};

/* Floors of the client limits: max_frame must hold the largest legal request (a full
 * entry's payload plus the request's fields), max_client_output the largest answer (a
 * status with every member, or a full entry's worth of data). */
#define SERVER_CLIENT_FRAME_MIN  (2u * RAFT_ENTRY_SIZE)
#define SERVER_CLIENT_OUTPUT_MIN (64u << 10)

/* Linux's PATH_MAX, spelled out: <limits.h> has PATH_MAX only with POSIX feature macros, and
 * a program on this header may be built with a strict -std=c11 (config.c checks the two). */
#define SERVER_PATH_MAX 4096

struct server_config {
    uint64_t id;
    char     data_dir[SERVER_PATH_MAX];
    char     peer_listen_addr[WIRE_ADDR_MAX + 1], client_listen_addr[WIRE_ADDR_MAX + 1];
    char     peer_advertise_addr[WIRE_ADDR_MAX + 1]; /* our member line's, else listen's */
    struct sockaddr_in peer_listen, client_listen;
    struct server_member members[RAFT_MEMBERS_MAX];
    uint32_t n_members;
    char     cluster[64];            /* name; peers of another cluster are refused   */
    uint64_t cluster_id;             /* derived from the name                        */
    char     state_machine[32];      /* "kv" or "counter"                            */
    uint32_t tick_ms;
    uint32_t election_ticks, heartbeat_ticks;
    uint32_t max_inflight, max_batch, log_window;
    uint32_t segment_entries;        /* log entries per segment file                 */
    uint32_t snapshot_entries;       /* applied entries between snapshots (0: never) */
    uint32_t snapshot_margin;        /* log entries kept behind the newest snapshot  */
    uint32_t catchup_entries;        /* a learner this close to the leader may vote  */
    uint32_t max_clients;            /* client connections at once                   */
    uint32_t max_pending;            /* client requests waiting for commit or apply  */
    uint32_t max_pending_per_conn;   /* ... of one connection; more: stop reading it */
    uint32_t max_frame;              /* largest client frame, header included        */
    uint32_t max_client_output;      /* answers queued to one client before cutting it */
    uint32_t client_idle_timeout_ms; /* close a client silent this long; 0: never    */
    int      log_level;              /* enum lum_log_level                           */
    char     secret_file[SERVER_PATH_MAX]; /* empty: no authentication              */
    struct lum_secret secret;        /* its contents; len 0 when not configured      */
    char     resp_listen_addr[WIRE_ADDR_MAX + 1]; /* the Redis protocol; "" when off */
    struct sockaddr_in resp_listen;
    /* Not from the file: an application's own machine, which replaces state_machine when
     * set (NULL after server_config_load). Must outlive the server. */
    const struct lum_fsm_ops *fsm_ops;
    char     http_listen_addr[WIRE_ADDR_MAX + 1]; /* "": no HTTP endpoint (/metrics ...) */
    struct sockaddr_in http_listen;
};

/* Reads and checks a config file. On error returns -LUM_EINVAL (or -LUM_EIO if the file
 * cannot be read) with "path:line: what is wrong" in err. */
int server_config_load(const char *path, struct server_config *out, struct lum_err *err);

/* ---- the server ------------------------------------------------------------------------------ */

struct server;

/* `raftsrv --restore FILE` (src/server/restore.c): makes cfg->data_dir, which must hold no
 * state, the start of a new single-node cluster (this node the only voter, at its
 * configured addresses) with the data of the backup at path (`raftctl backup`), durably;
 * server_create then starts from it. The backup is checked whole before data_dir is
 * touched, and whatever a failure leaves half made is removed. 0; -LUM_EINVAL (data_dir
 * is not empty), -LUM_ENOTFOUND, -LUM_ECORRUPT, -LUM_EVERSION (the backup), -LUM_EIO,
 * -LUM_ENOSPC, -LUM_EBUSY, -LUM_ENOMEM; err says what is wrong. */
int  server_restore(const struct server_config *cfg, const char *path, struct lum_err *err);

/* Opens storage, recovers, binds the listeners. 0 or a negated LUM_E* code with err. */
int  server_create(const struct server_config *cfg, struct server **out, struct lum_err *err);
/* Runs the loop until server_stop() or SIGTERM/SIGINT. 0 on a clean stop. */
int  server_run(struct server *s);
void server_stop(struct server *s);
void server_destroy(struct server *s);

#endif
