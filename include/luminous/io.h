/* The event loop and sockets: one epoll set, a periodic timerfd, nonblocking TCP
 * connections with bounded buffers. Single-threaded; nothing here knows about Raft. */
#ifndef LUMINOUS_IO_H
#define LUMINOUS_IO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/base.h"

/* ---- the loop ------------------------------------------------------------------------------
 * Everything the loop watches embeds a struct loop_watch; epoll hands it back on events. */
struct loop_watch;
typedef void loop_fn(struct loop_watch *w, uint32_t events);
struct loop_watch {
    int      fd;
    loop_fn *fn;
    uint32_t events; /* EPOLLIN | EPOLLOUT ... currently registered */
};

struct loop {
    int      epfd;
    bool     stop;
    uint32_t events_max; /* per epoll_wait */
};

int  loop_init(struct loop *l, struct lum_err *err);
void loop_close(struct loop *l);
/* Registers / changes / removes a watch. 0 or -LUM_EIO. */
int  loop_add(struct loop *l, struct loop_watch *w, uint32_t events);
int  loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
void loop_del(struct loop *l, struct loop_watch *w);
/* Waits up to timeout_ms (-1: forever) and dispatches what is ready. 0 or -LUM_EIO. */
int  loop_run_once(struct loop *l, int timeout_ms);

/* Monotonic milliseconds, and wall-clock milliseconds since the epoch. */
uint64_t clock_mono_ms(void);
uint64_t clock_wall_ms(void);

/* A periodic timerfd. read_expirations() returns how many periods passed (0 if none). */
int      timer_open(uint32_t period_ms, struct lum_err *err);
uint64_t timer_read_expirations(int fd);

/* ---- addresses and sockets -------------------------------------------------------------- */

/* Parses "host:port" (host: an IPv4 address, "localhost", or a name resolvable now; port
 * 1..65535). 0, or -LUM_EINVAL with the reason in err. */
int net_parse_addr(const char *text, struct sockaddr_in *out, struct lum_err *err);
/* A nonblocking listening socket with SO_REUSEADDR. The fd, or -LUM_EIO. */
int net_listen(const struct sockaddr_in *addr, struct lum_err *err);
/* Starts a nonblocking connect (TCP_NODELAY set). The fd, or -LUM_EIO. Completion is
 * signalled by writability; check net_connect_result(). */
int net_connect(const struct sockaddr_in *addr, struct lum_err *err);
int net_connect_result(int fd); /* 0 or the errno of the failed connect */
/* Accepts one connection, nonblocking, TCP_NODELAY. The fd, -LUM_EAGAIN, or -LUM_EIO. */
int net_accept(int listen_fd, struct lum_err *err);
/* The next connection waiting on a listening socket, or -1 when there is none now (an
 * error is logged as "<who>: accept: ..."): for (fd; (fd = net_accept_next(...)) >= 0;). */
int net_accept_next(int listen_fd, const char *who);
/* Turns away a connection just accepted: writes msg (as much as the fresh socket takes at
 * once: never blocks), FIN, drops what the peer already sent so close() does not reset the
 * connection before msg is read, and closes fd. */
void net_refuse(int fd, const void *msg, size_t len);
/* "a.b.c.d:port" of a socket's peer, for log lines. */
void net_peer_name(int fd, char *buf, size_t len);

/* ---- buffered connections ------------------------------------------------------------------
 * A connection owns an input and an output buffer (nginx-style pos/last). Input grows up to
 * in_max (a frame never needs more); output is capped by out_max: a peer that does not read
 * stops getting data, the loop never blocks on it. */
struct buf {
    uint8_t *data;
    size_t   pos, last, cap;
};

struct conn {
    struct loop_watch watch;   /* fd lives here; -1 when closed */
    struct loop      *loop;
    struct buf        in, out;
    size_t            in_max, out_max;
    bool              want_write;  /* registered for EPOLLOUT */
    bool              read_paused; /* not registered for EPOLLIN (backpressure) */
    uint64_t          bytes_in, bytes_out;
    uint64_t         *sum_in, *sum_out; /* also added to these, if set (after conn_open):
                                           the server's totals per kind of connection */
};

/* Takes ownership of fd and registers it for input. 0 or -LUM_EIO / -LUM_ENOMEM. */
int  conn_open(struct conn *c, struct loop *l, int fd, loop_fn *fn, size_t in_max,
               size_t out_max);
void conn_close(struct conn *c);     /* idempotent; frees the buffers */
bool conn_is_open(const struct conn *c);

/* Reads what the socket has (bounded per call). Returns bytes read (> 0), -LUM_EAGAIN when
 * nothing is there, -LUM_ECLOSED at end of stream, -LUM_EIO on error, -LUM_ETOOBIG when
 * the input buffer is full (a frame larger than in_max). */
int  conn_read(struct conn *c);
/* Unread input: [in.data + in.pos, in.data + in.last). conn_consume drops n bytes of it. */
void conn_consume(struct conn *c, size_t n);

/* Room for n bytes of output, or NULL if that would pass out_max. Commit what you wrote. */
uint8_t *conn_reserve(struct conn *c, size_t n);
void     conn_commit(struct conn *c, size_t n);
/* Writes queued output; registers for EPOLLOUT while some remains. 0, or -LUM_EIO /
 * -LUM_ECLOSED when the connection broke (the caller closes it). */
int  conn_flush(struct conn *c);
size_t conn_pending_out(const struct conn *c);
/* Stops (or resumes) watching for input, so TCP flow control pushes back on the sender
 * while what it sent waits; hangups and errors are still reported. 0 or -LUM_EIO. */
int  conn_pause_reading(struct conn *c, bool paused);

#endif
