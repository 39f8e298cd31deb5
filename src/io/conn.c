/* Nonblocking TCP connections with bounded input and output buffers. Input is compacted
 * lazily (only when the free tail is too small), output is written as one write() of
 * everything queued, so a turn's many messages to a peer cost one syscall. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "luminous/io.h"

#define CONN_BUF_INITIAL (64u * 1024)
#define CONN_READ_MAX    (4u * 1024 * 1024) /* bytes read per wakeup: others get a turn */

static int buf_reserve(struct buf *b, size_t n, size_t max)
{
    if (b->cap - b->last >= n)
        return 0;
    if (b->pos > 0) { /* compact: drop what was consumed */
        memmove(b->data, b->data + b->pos, b->last - b->pos);
        b->last -= b->pos;
        b->pos = 0;
        if (b->cap - b->last >= n)
            return 0;
    }
    if (b->last + n > max)
        return -LUM_ETOOBIG;
    size_t cap = b->cap ? b->cap : CONN_BUF_INITIAL;
    while (cap < b->last + n)
        cap *= 2;
    if (cap > max)
        cap = max;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return -LUM_ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int conn_open(struct conn *c, struct loop *l, int fd, loop_fn *fn, size_t in_max,
              size_t out_max)
{
    memset(c, 0, sizeof *c);
    c->watch.fd = fd;
    c->watch.fn = fn;
    c->loop = l;
    c->in_max = in_max;
    c->out_max = out_max;
    if (loop_add(l, &c->watch, EPOLLIN | EPOLLRDHUP) != 0) {
        close(fd);
        c->watch.fd = -1;
        return -LUM_EIO;
    }
    return 0;
}

void conn_close(struct conn *c)
{
    if (c->watch.fd >= 0) {
        loop_del(c->loop, &c->watch);
        close(c->watch.fd);
        c->watch.fd = -1;
    }
    free(c->in.data);
    free(c->out.data);
    c->in = c->out = (struct buf){0};
    c->want_write = false;
    c->read_paused = false;
}

bool conn_is_open(const struct conn *c)
{
    return c->watch.fd >= 0;
}

int conn_read(struct conn *c)
{
    size_t total = 0;
    while (total < CONN_READ_MAX) {
        size_t unread = c->in.last - c->in.pos;
        if (unread >= c->in_max) /* a frame larger than we accept: the caller gives up */
            return total > 0 ? (int)total : -LUM_ETOOBIG;
        size_t want = c->in_max - unread < 16 * 1024 ? c->in_max - unread : 16 * 1024;
        if (buf_reserve(&c->in, want, c->in_max) != 0)
            return total > 0 ? (int)total : -LUM_ENOMEM;
        size_t room = c->in.cap - c->in.last;
        ssize_t n = read(c->watch.fd, c->in.data + c->in.last, room);
        if (n > 0) {
            c->in.last += (size_t)n;
            c->bytes_in += (uint64_t)n;
            if (c->sum_in)
                *c->sum_in += (uint64_t)n;
            total += (size_t)n;
            if ((size_t)n < room)
                break; /* a short read: the socket is drained */
            continue;
        }
        if (n == 0)
            return total > 0 ? (int)total : -LUM_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        return total > 0 ? (int)total : -LUM_EIO;
    }
    return total > 0 ? (int)total : -LUM_EAGAIN;
}

void conn_consume(struct conn *c, size_t n)
{
    LUM_ASSERT(n <= c->in.last - c->in.pos);
    c->in.pos += n;
    if (c->in.pos == c->in.last)
        c->in.pos = c->in.last = 0;
}

uint8_t *conn_reserve(struct conn *c, size_t n)
{
    if (c->watch.fd < 0 || buf_reserve(&c->out, n, c->out_max) != 0)
        return NULL;
    return c->out.data + c->out.last;
}

void conn_commit(struct conn *c, size_t n)
{
    LUM_ASSERT(c->out.last + n <= c->out.cap);
    c->out.last += n;
}

size_t conn_pending_out(const struct conn *c)
{
    return c->out.last - c->out.pos;
}

/* EPOLLRDHUP goes with EPOLLIN: level-triggered, a half-closed sender we are not reading
 * from would wake the loop on every turn. */
static int conn_watch(struct conn *c, bool read_paused, bool want_write)
{
    uint32_t ev = (read_paused ? 0 : EPOLLIN | EPOLLRDHUP) | (want_write ? EPOLLOUT : 0);
    if (loop_mod(c->loop, &c->watch, ev) != 0)
        return -LUM_EIO;
    c->read_paused = read_paused;
    c->want_write = want_write;
    return 0;
}

int conn_pause_reading(struct conn *c, bool paused)
{
    if (c->watch.fd < 0 || paused == c->read_paused)
        return 0;
    return conn_watch(c, paused, c->want_write);
}

int conn_flush(struct conn *c)
{
    while (c->out.pos < c->out.last) {
        ssize_t n = write(c->watch.fd, c->out.data + c->out.pos, c->out.last - c->out.pos);
        if (n > 0) {
            c->out.pos += (size_t)n;
            c->bytes_out += (uint64_t)n;
            if (c->sum_out)
                *c->sum_out += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return n < 0 && errno != EPIPE && errno != ECONNRESET ? -LUM_EIO : -LUM_ECLOSED;
    }
    if (c->out.pos == c->out.last)
        c->out.pos = c->out.last = 0;
    bool want = c->out.pos < c->out.last;
    if (want != c->want_write)
        return conn_watch(c, c->read_paused, want);
    return 0;
}
