/* Reading frames off a connection, for client and peer connections alike. */
#include "server_int.h"

int server_read_frames(struct conn *c, const char *who, server_frame_fn *on_frame, void *ctx)
{
    int rv = conn_read(c);
    if (rv == -LUM_EAGAIN)
        return 0;
    if (rv < 0 && rv != -LUM_ETOOBIG) { /* a too big frame is refused by the peek below */
        size_t partial = c->in.last - c->in.pos;
        if (partial > 0)
            lum_warn("%s: %s in the middle of a frame (%zu bytes of it came), closing", who,
                     rv == -LUM_ECLOSED ? "closed" : lum_strerror(rv), partial);
        return rv;
    }
    for (;;) {
        struct wire_frame f;
        int fr = wire_frame_peek(c->in.data + c->in.pos, c->in.last - c->in.pos,
                                 WIRE_FRAME_MAX, &f);
        if (fr == -LUM_EAGAIN)
            return 0;
        if (fr != 0) {
            lum_warn("%s: bad frame (%s), closing", who, lum_strerror(fr));
            return fr;
        }
        rv = on_frame(ctx, &f);
        if (rv != 0)
            return rv;
        if (!conn_is_open(c))
            return -LUM_ECLOSED;
        conn_consume(c, f.size);
    }
}
