/* The address book: where each server listens for peers and for clients. It is part of the
 * replicated state: seeded from the config file's member lines, extended by the context of
 * every applied MEMBERS entry (the addresses of the servers it adds), saved in snapshots.
 * A dialer's hello also tells us its peer address, so a new server can answer a leader it
 * has not heard of yet.
 *
 * Context / snapshot encoding, little-endian:
 *   u32 count | count x (u64 id | u16 len | peer_addr | u16 len | client_addr) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

const struct server_member *server_member(const struct server *s, uint64_t id)
{
    for (uint32_t i = 0; i < s->book_count; i++)
        if (s->book[i].id == id)
            return &s->book[i];
    return NULL;
}

int book_set(struct server *s, uint64_t id, const char *peer_addr, const char *client_addr)
{
    struct server_member *m = (struct server_member *)server_member(s, id);
    if (!m) {
        if (s->book_count == SERVER_BOOK_MAX)
            return -LUM_EBUSY;
        m = &s->book[s->book_count++];
        memset(m, 0, sizeof *m);
        m->id = id;
    }
    struct lum_err err;
    if (peer_addr && *peer_addr && strcmp(peer_addr, m->peer_addr) != 0) {
        struct sockaddr_in a;
        if (strlen(peer_addr) > WIRE_ADDR_MAX || net_parse_addr(peer_addr, &a, &err) != 0)
            return -LUM_EINVAL;
        snprintf(m->peer_addr, sizeof m->peer_addr, "%s", peer_addr);
        m->peer = a;
    }
    if (client_addr && *client_addr && strcmp(client_addr, m->client_addr) != 0) {
        struct sockaddr_in a;
        if (strlen(client_addr) > WIRE_ADDR_MAX || net_parse_addr(client_addr, &a, &err) != 0)
            return -LUM_EINVAL;
        snprintf(m->client_addr, sizeof m->client_addr, "%s", client_addr);
        m->client = a;
    }
    return 0;
}

static uint8_t *book_put_addr(uint8_t *p, const char *addr)
{
    size_t len = strlen(addr);
    lum_put_u16(p, (uint16_t)len);
    memcpy(p + 2, addr, len);
    return p + 2 + len;
}

uint32_t book_encode(const struct wire_member *m, uint32_t n, uint8_t *out, uint32_t cap)
{
    uint32_t size = 4;
    for (uint32_t i = 0; i < n; i++)
        size += 8 + 2 + (uint32_t)strlen(m[i].peer_addr) + 2 + (uint32_t)strlen(m[i].client_addr);
    if (size > cap)
        return 0;
    uint8_t *p = out;
    lum_put_u32(p, n);
    p += 4;
    for (uint32_t i = 0; i < n; i++) {
        lum_put_u64(p, m[i].id);
        p = book_put_addr(book_put_addr(p + 8, m[i].peer_addr), m[i].client_addr);
    }
    return size;
}

static const uint8_t *book_get_addr(const uint8_t *p, const uint8_t *end, char *out)
{
    if (end - p < 2)
        return NULL;
    uint16_t len = lum_get_u16(p);
    if (len > WIRE_ADDR_MAX || end - p - 2 < len || memchr(p + 2, 0, len))
        return NULL;
    memcpy(out, p + 2, len);
    out[len] = '\0';
    return p + 2 + len;
}

int book_apply(struct server *s, const uint8_t *in, uint32_t len)
{
    const uint8_t *p = in, *end = in + len;
    if (len == 0)
        return 0; /* a MEMBERS entry the core appended by itself (joint -> new) */
    if (len < 4)
        return -LUM_EMALFORMED;
    uint32_t n = lum_get_u32(p);
    p += 4;
    for (uint32_t i = 0; i < n; i++) {
        char peer[WIRE_ADDR_MAX + 1], client[WIRE_ADDR_MAX + 1];
        if (end - p < 8)
            return -LUM_EMALFORMED;
        uint64_t id = lum_get_u64(p);
        p = book_get_addr(p + 8, end, peer);
        if (p)
            p = book_get_addr(p, end, client);
        if (!p)
            return -LUM_EMALFORMED;
        int rv = book_set(s, id, peer, client);
        if (rv != 0)
            lum_warn("address book: cannot record node %llu (%s, %s): %s",
                     (unsigned long long)id, peer, client, lum_strerror(rv));
    }
    return p == end ? 0 : -LUM_EMALFORMED;
}

int book_save(struct server *s, struct lum_sink *to)
{
    struct wire_member *all = calloc(SERVER_BOOK_MAX, sizeof *all);
    uint8_t *buf = malloc(SERVER_BOOK_ENCODED_MAX);
    int rv = all && buf ? 0 : -LUM_ENOMEM;
    for (uint32_t i = 0; rv == 0 && i < s->book_count; i++) {
        all[i].id = s->book[i].id;
        snprintf(all[i].peer_addr, sizeof all[i].peer_addr, "%s", s->book[i].peer_addr);
        snprintf(all[i].client_addr, sizeof all[i].client_addr, "%s", s->book[i].client_addr);
    }
    uint32_t len = rv == 0 ? book_encode(all, s->book_count, buf, SERVER_BOOK_ENCODED_MAX) : 0;
    uint8_t head[4];
    lum_put_u32(head, len);
    if (rv == 0)
        rv = to->write(to->ctx, head, 4);
    if (rv == 0)
        rv = to->write(to->ctx, buf, len);
    free(all);
    free(buf);
    return rv;
}

int book_load(struct server *s, struct lum_source *from)
{
    uint8_t head[4];
    int rv = from->read(from->ctx, head, 4);
    if (rv != 0)
        return rv;
    uint32_t len = lum_get_u32(head);
    if (len > SERVER_BOOK_ENCODED_MAX)
        return -LUM_ECORRUPT;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -LUM_ENOMEM;
    rv = from->read(from->ctx, buf, len);
    s->book_count = 0;
    if (rv == 0 && book_apply(s, buf, len) != 0)
        rv = -LUM_ECORRUPT;
    free(buf);
    return rv;
}
