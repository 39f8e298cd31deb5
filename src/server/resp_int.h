/* The Redis-protocol listener's shared state (resp_conn.c, resp_cmd.c, resp_link.c).
 *
 * A RESP connection is a struct client (so max_clients, the idle timeout and output limits
 * apply as to native clients) with a struct resp_conn. Each request gets the next sequence
 * number and a place in the connection's reply queue; its answer, whenever it comes (at
 * once for PING, after apply for a write, after the read barrier for a read, from the leader
 * for a follower's forwarded request), is written in that place, and replies leave from the
 * head of the queue only, so a pipeline is answered in request order. */
#ifndef LUMINOUS_SERVER_RESP_INT_H
#define LUMINOUS_SERVER_RESP_INT_H

#include "luminous/kv.h"
#include "luminous/resp.h"
#include "server_int.h"

#define RESP_QUEUE_MAX    1024u /* requests of one connection not yet answered, in order */
#define RESP_REPLY_INLINE 40u   /* reply bytes kept in the queue without an allocation   */
#define RESP_DIAL_RETRY_MS 100u /* after a failed dial to the leader, TRYAGAIN this long  */

/* What a request needs to be answered: nothing (answered now), a read barrier, a log entry.
 * A connection's requests wait together only if they are of one class: a read never passes
 * an earlier write of its connection, nor a write an earlier read, as Redis's own sequential
 * execution promises a pipelining client. */
enum resp_class { RESP_LOCAL = 0, RESP_READ, RESP_WRITE };

/* How the state machine's answer becomes a reply. */
enum resp_kind { RK_NONE = 0, RK_SET, RK_GET, RK_INCR, RK_EXPIRE, RK_PERSIST, RK_DEL,
                 RK_EXISTS, RK_MGET, RK_TTL, RK_PTTL, RK_DBSIZE, RK_MSET };

struct resp_reply {
    uint8_t  kind;      /* enum resp_kind                                  */
    bool     done;      /* the reply is in small/heap                      */
    uint32_t len;
    uint8_t *heap;      /* a reply longer than RESP_REPLY_INLINE           */
    uint8_t  small[RESP_REPLY_INLINE];
};

struct resp_conn {
    struct resp_parser parser;
    struct resp_reply *queue;   /* a ring of queue_cap, grown up to RESP_QUEUE_MAX     */
    uint32_t queue_cap, queue_head, queue_count;
    uint64_t seq_head;          /* the sequence number of the request at the head      */
    uint8_t  waiting_class;     /* of the requests counted in client.pending           */
    bool     closing;           /* QUIT or a protocol error: close once it is answered */
};

/* A reply being built: grows as needed; failed if memory ran out. */
struct resp_out {
    uint8_t *data;
    size_t   len, cap;
    bool     failed;
};

/* A data command, encoded for the key-value machine. */
struct resp_request {
    uint8_t  cls;          /* RESP_READ (a query) or RESP_WRITE (an entry)       */
    uint8_t  kind;
    uint16_t entry_type;   /* RESP_WRITE                                          */
    const uint8_t *body;   /* the entry's body or the query; in resp_server.body  */
    uint32_t len;
};

/* A request forwarded to the leader, waiting for its answer. */
struct resp_fwd {
    uint32_t gen;                   /* 0: free; request ids carry it (stale answers)  */
    uint32_t client_slot, client_gen;
    uint64_t seq;
};

/* A follower's one connection to the leader's client port, shared by all its RESP clients,
 * requests multiplexed by request id. */
struct resp_link {
    struct conn conn;
    uint64_t leader_id;        /* the node it is to; 0: closed                        */
    bool     connecting, authing, ready;
    struct auth_dial auth;
    uint8_t *held;             /* requests encoded before the link is ready           */
    size_t   held_len, held_cap;
    struct resp_fwd *fwd;      /* max_pending slots                                   */
    uint32_t fwd_cap, fwd_used, fwd_gen;
    uint32_t *free_list, free_count;
    uint64_t failed_ms;        /* the last dial that failed, and to whom               */
    uint64_t failed_id;
};

struct resp_server {
    struct server *srv;
    struct loop_watch listen;
    struct resp_limits limits;
    struct resp_out out;          /* the reply being built                              */
    uint8_t *body;                /* the command or query being built (body_cap bytes)  */
    uint32_t body_cap;
    struct kv_key *keys;          /* args_max: a multi-key command's keys               */
    struct kv_pair *pairs;        /* args_max / 2: MSET                                 */
    struct resp_link link;
    uint32_t conns;               /* open RESP clients (the connections gauge)          */
};

/* resp_out.c: building replies */
void resp_out_reset(struct resp_out *o);
void resp_out_simple(struct resp_out *o, const char *s);
void resp_out_error(struct resp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void resp_out_int(struct resp_out *o, int64_t v);
void resp_out_bulk(struct resp_out *o, const void *data, size_t len);
void resp_out_null(struct resp_out *o);
void resp_out_array(struct resp_out *o, uint64_t count);
/* The reply for a request of kind whose answer was (status, code, data). */
void resp_out_answer(struct resp_out *o, uint8_t kind, int status, int32_t code,
                     const uint8_t *data, uint32_t len);

/* resp_cmd.c: one request. Either writes its reply to s->resp->out and returns RESP_LOCAL,
 * or encodes a data command into *rq and returns its class. *quit is set for QUIT. */
int  resp_command(struct server *s, const uint8_t *base, const struct resp_arg *args,
                  uint32_t argc, struct resp_request *rq, bool *quit);

/* resp_conn.c */
/* The answer to request seq of c: formatted by the request's kind and queued in order. */
void resp_deliver(struct server *s, struct client *c, uint64_t seq, int status, int32_t code,
                  const uint8_t *data, uint32_t len);
void resp_on_accept(struct loop_watch *w, uint32_t events);

/* resp_link.c */
int  resp_link_init(struct server *s);
void resp_link_free(struct server *s);
/* Sends rq to the leader for request seq of c (counted in c->pending until answered).
 * 0, or the status to answer at once (-LUM_EUNAVAILABLE: no leader; -LUM_EBUSY). */
int  resp_link_forward(struct server *s, struct client *c, uint64_t seq,
                       const struct resp_request *rq);
/* Per loop turn: closes the link when leadership moved, sends what was queued. */
void resp_link_flush(struct server *s);

#endif
