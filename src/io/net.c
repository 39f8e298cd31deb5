/* TCP sockets: address parsing, listen, nonblocking connect and accept. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "luminous/io.h"

int net_parse_addr(const char *text, struct sockaddr_in *out, struct lum_err *err)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text) {
        lum_errf(err, "bad address \"%s\": expected HOST:PORT", text);
        return -LUM_EINVAL;
    }
    char host[256];
    size_t hlen = (size_t)(colon - text);
    if (hlen >= sizeof host) {
        lum_errf(err, "bad address \"%s\": host name too long", text);
        return -LUM_EINVAL;
    }
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
        lum_errf(err, "bad address \"%s\": port must be 1..65535", text);
        return -LUM_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rv = getaddrinfo(host, NULL, &hints, &res);
    if (rv != 0 || !res) {
        lum_errf(err, "bad address \"%s\": cannot resolve \"%s\": %s", text, host,
                 gai_strerror(rv));
        return -LUM_EINVAL;
    }
    out->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

static void net_addr_name(const struct sockaddr_in *a, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
}

static void net_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int net_listen(const struct sockaddr_in *addr, struct lum_err *err)
{
    char name[64];
    net_addr_name(addr, name, sizeof name);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        lum_errf(err, "socket: %s", strerror(errno));
        return -LUM_EIO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 512) != 0) {
        lum_errf(err, "listen on %s: %s", name, strerror(errno));
        close(fd);
        return -LUM_EIO;
    }
    return fd;
}

int net_connect(const struct sockaddr_in *addr, struct lum_err *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        lum_errf(err, "socket: %s", strerror(errno));
        return -LUM_EIO;
    }
    net_nodelay(fd);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 && errno != EINPROGRESS) {
        char name[64];
        net_addr_name(addr, name, sizeof name);
        lum_errf(err, "connect to %s: %s", name, strerror(errno));
        close(fd);
        return -LUM_EIO;
    }
    return fd;
}

int net_connect_result(int fd)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        return errno;
    return soerr;
}

int net_accept(int listen_fd, struct lum_err *err)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return -LUM_EAGAIN;
        lum_errf(err, "accept: %s", strerror(errno));
        return -LUM_EIO;
    }
    net_nodelay(fd);
    return fd;
}

int net_accept_next(int listen_fd, const char *who)
{
    struct lum_err err;
    int fd = net_accept(listen_fd, &err);
    if (fd == -LUM_EAGAIN)
        return -1;
    if (fd < 0) {
        lum_warn("%s: %s", who, err.msg);
        return -1;
    }
    return fd;
}

void net_refuse(int fd, const void *msg, size_t len)
{
    if (len > 0 && write(fd, msg, len) < 0)
        (void)0; /* only the explanation is lost */
    shutdown(fd, SHUT_WR);
    uint8_t sink[4096];
    while (read(fd, sink, sizeof sink) > 0)
        ;
    close(fd);
}

void net_peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    if (getpeername(fd, (struct sockaddr *)&a, &alen) != 0 || a.sin_family != AF_INET) {
        snprintf(buf, len, "fd %d", fd);
        return;
    }
    net_addr_name(&a, buf, len);
}
