/* The epoll loop: watches carry their own callback, so dispatch is one indirect call. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "luminous/io.h"

#define LOOP_EVENTS_MAX 256

int loop_init(struct loop *l, struct lum_err *err)
{
    memset(l, 0, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        lum_errf(err, "epoll_create1: %s", strerror(errno));
        return -LUM_EIO;
    }
    l->events_max = LOOP_EVENTS_MAX;
    return 0;
}

void loop_close(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

static int loop_ctl(struct loop *l, int op, struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, op, w->fd, &ev) != 0) {
        lum_error("epoll_ctl(fd %d): %s", w->fd, strerror(errno));
        return -LUM_EIO;
    }
    w->events = events;
    return 0;
}

int loop_add(struct loop *l, struct loop_watch *w, uint32_t events)
{
    return loop_ctl(l, EPOLL_CTL_ADD, w, events);
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    if (w->events == events)
        return 0;
    return loop_ctl(l, EPOLL_CTL_MOD, w, events);
}

void loop_del(struct loop *l, struct loop_watch *w)
{
    if (w->fd >= 0)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->events = 0;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[LOOP_EVENTS_MAX];
    int n = epoll_wait(l->epfd, evs, (int)l->events_max, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        lum_error("epoll_wait: %s", strerror(errno));
        return -LUM_EIO;
    }
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = evs[i].data.ptr;
        w->fn(w, evs[i].events);
    }
    return 0;
}

uint64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int timer_open(uint32_t period_ms, struct lum_err *err)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        lum_errf(err, "timerfd_create: %s", strerror(errno));
        return -LUM_EIO;
    }
    struct itimerspec its = {
        .it_interval = {.tv_sec = period_ms / 1000, .tv_nsec = (long)(period_ms % 1000) * 1000000},
    };
    its.it_value = its.it_interval;
    if (timerfd_settime(fd, 0, &its, NULL) != 0) {
        lum_errf(err, "timerfd_settime: %s", strerror(errno));
        close(fd);
        return -LUM_EIO;
    }
    return fd;
}

uint64_t timer_read_expirations(int fd)
{
    uint64_t n = 0;
    if (read(fd, &n, sizeof n) != (ssize_t)sizeof n)
        return 0;
    return n;
}
