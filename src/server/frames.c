/* Reading frames off a connection, for client and peer connections alike. */
#include "server_int.h"

int server_parse_frames(struct conn *c, const char *who, server_frame_fn *on_frame, void *ctx)
{
    for (;;) {
        struct wire_frame f;
        const uint8_t *at = c->in.data + c->in.pos;
        size_t len = c->in.last - c->in.pos;
        /* the connection's input bound is its frame bound: nothing larger is ever buffered */
        int fr = wire_frame_peek(at, len, (uint32_t)c->in_max, &f);
        if (fr == -LUM_EAGAIN)
            return 0;
        if (fr == -LUM_ETOOBIG) {
            lum_warn("%s: frame of %llu bytes is over the limit of %zu, closing", who,
                     4 + (unsigned long long)lum_get_u32(at), c->in_max);
            return fr;
        }
        if (fr != 0) {
            lum_warn("%s: bad frame (%s), closing", who, lum_strerror(fr));
            return fr;
        }
        int rv = on_frame(ctx, &f);
        if (rv == SERVER_FRAME_LATER)
            return 0; /* stays unread until the caller parses again */
        if (rv != 0)
            return rv;
        if (!conn_is_open(c))
            return -LUM_ECLOSED;
        conn_consume(c, f.size);
    }
}

int server_read_frames(struct conn *c, const char *who, server_frame_fn *on_frame, void *ctx)
{
    int rv = conn_read(c);
    if (rv == -LUM_EAGAIN)
        return 0;
    if (rv < 0 && rv != -LUM_ETOOBIG) { /* a too big frame is refused by the peek */
        size_t partial = c->in.last - c->in.pos;
        if (partial > 0)
            lum_warn("%s: %s in the middle of a frame (%zu bytes of it came), closing", who,
                     rv == -LUM_ECLOSED ? "closed" : lum_strerror(rv), partial);
        return rv;
    }
    return server_parse_frames(c, who, on_frame, ctx);
}
