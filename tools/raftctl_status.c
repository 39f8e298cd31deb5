/* raftctl's operator view (contract in raftctl_status.h): a node per row, the columns an
 * operator checks first (who leads, who lags, how big), boxed as etcdctl's -w table is, so
 * it reads the same in a terminal, a log or a ticket. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "luminous/io.h"
#include "raftctl_status.h"

#define STATUS_COLS      11u
#define STATUS_CELL_MAX  512u  /* an error message is the widest cell */
#define WATCH_PERIOD_MS  1000u

int ctl_status_collect(struct lum_client *c, struct ctl_status_row *rows, struct lum_err *err)
{
    uint32_t n = lum_client_nodes(c);
    int answered = 0;
    uint64_t top_commit = 0; /* lag is counted from the highest commit index anyone has */
    for (uint32_t i = 0; i < n; i++) {
        struct ctl_status_row *r = &rows[i];
        struct lum_err e = {{0}};
        r->addr = lum_client_node_addr(c, i);
        r->lag = 0;
        r->rv = lum_client_status(c, i, &r->st, &e);
        snprintf(r->error, sizeof r->error, "%s", r->rv == 0 ? "" : e.msg);
        if (r->rv == -LUM_EAUTH) {
            *err = e;
            return r->rv;
        }
        if (r->rv != 0)
            continue;
        answered++;
        if (r->st.commit_index > top_commit)
            top_commit = r->st.commit_index;
    }
    for (uint32_t i = 0; i < n; i++)
        if (rows[i].rv == 0 && top_commit > rows[i].st.applied_index)
            rows[i].lag = top_commit - rows[i].st.applied_index;
    return answered;
}

void ctl_human_size(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* ---- the table ------------------------------------------------------------------------------ */

static const char *const status_heads[STATUS_COLS] = {
    "ID", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG", "SNAPSHOT",
    "DB SIZE", "ERRORS",
};
/* numbers and sizes line up on the right, words on the left */
static const bool status_right[STATUS_COLS] = {
    true, false, false, true, true, true, true, true, true, true, false,
};

static void status_cells(const struct ctl_status_row *r, char cells[STATUS_COLS][STATUS_CELL_MAX])
{
    for (uint32_t k = 0; k < STATUS_COLS; k++)
        cells[k][0] = '\0';
    snprintf(cells[1], STATUS_CELL_MAX, "%s", r->addr);
    if (r->rv != 0) {
        snprintf(cells[0], STATUS_CELL_MAX, "-");
        snprintf(cells[2], STATUS_CELL_MAX, "unreachable");
        snprintf(cells[10], STATUS_CELL_MAX, "%s", r->error);
        return;
    }
    const struct wire_status *st = &r->st;
    snprintf(cells[0], STATUS_CELL_MAX, "%llu", (unsigned long long)st->id);
    snprintf(cells[2], STATUS_CELL_MAX, "%s", wire_status_role(st));
    snprintf(cells[3], STATUS_CELL_MAX, "%llu", (unsigned long long)st->term);
    snprintf(cells[4], STATUS_CELL_MAX, "%llu", (unsigned long long)st->leader_id);
    snprintf(cells[5], STATUS_CELL_MAX, "%llu", (unsigned long long)st->commit_index);
    snprintf(cells[6], STATUS_CELL_MAX, "%llu", (unsigned long long)st->applied_index);
    snprintf(cells[7], STATUS_CELL_MAX, "%llu", (unsigned long long)r->lag);
    snprintf(cells[8], STATUS_CELL_MAX, "%llu", (unsigned long long)st->snapshot_index);
    ctl_human_size(cells[9], STATUS_CELL_MAX, st->db_size);
}

static void status_rule(FILE *out, const size_t *width)
{
    for (uint32_t k = 0; k < STATUS_COLS; k++) {
        fputc('+', out);
        for (size_t i = 0; i < width[k] + 2; i++)
            fputc('-', out);
    }
    fputs("+\n", out);
}

static void status_line(FILE *out, const size_t *width, char cells[STATUS_COLS][STATUS_CELL_MAX],
                        bool head)
{
    for (uint32_t k = 0; k < STATUS_COLS; k++) {
        int w = (int)width[k];
        if (head) { /* centred, as etcdctl's */
            size_t pad = width[k] - strlen(cells[k]);
            fprintf(out, "| %*s%s%*s ", (int)(pad / 2), "", cells[k], (int)(pad - pad / 2), "");
        } else if (status_right[k]) {
            fprintf(out, "| %*s ", w, cells[k]);
        } else {
            fprintf(out, "| %-*s ", w, cells[k]);
        }
    }
    fputs("|\n", out);
}

void ctl_status_table(FILE *out, const struct ctl_status_row *rows, uint32_t n)
{
    static char cells[LUM_CLIENT_NODES_MAX + 1][STATUS_COLS][STATUS_CELL_MAX];
    size_t width[STATUS_COLS];
    for (uint32_t k = 0; k < STATUS_COLS; k++) {
        snprintf(cells[0][k], STATUS_CELL_MAX, "%s", status_heads[k]);
        width[k] = strlen(status_heads[k]);
    }
    for (uint32_t i = 0; i < n && i < LUM_CLIENT_NODES_MAX; i++) {
        status_cells(&rows[i], cells[i + 1]);
        for (uint32_t k = 0; k < STATUS_COLS; k++)
            if (strlen(cells[i + 1][k]) > width[k])
                width[k] = strlen(cells[i + 1][k]);
    }
    status_rule(out, width);
    status_line(out, width, cells[0], true);
    status_rule(out, width);
    for (uint32_t i = 0; i < n && i < LUM_CLIENT_NODES_MAX; i++)
        status_line(out, width, cells[i + 1], false);
    status_rule(out, width);
}

/* ---- JSON ------------------------------------------------------------------------------------- */

static void status_json_text(FILE *out, const char *text)
{
    char buf[2 * STATUS_CELL_MAX * 3];
    wire_json_string(buf, sizeof buf, text, strlen(text));
    fputs(buf, out);
}

void ctl_status_json(FILE *out, const struct ctl_status_row *rows, uint32_t n)
{
    fputc('[', out);
    for (uint32_t i = 0; i < n; i++) {
        const struct ctl_status_row *r = &rows[i];
        if (i > 0)
            fputc(',', out);
        if (r->rv != 0) {
            fputs("{\"id\":0,\"addr\":", out);
            status_json_text(out, r->addr);
            fputs(",\"error\":", out);
            status_json_text(out, r->error);
            fputc('}', out);
            continue;
        }
        size_t len = wire_status_json(NULL, 0, &r->st, r->addr, r->lag);
        char *buf = malloc(len + 1);
        if (!buf) {
            fprintf(out, "{\"id\":%llu,\"addr\":", (unsigned long long)r->st.id);
            status_json_text(out, r->addr);
            fputs(",\"error\":\"out of memory\"}", out);
            continue;
        }
        wire_status_json(buf, len + 1, &r->st, r->addr, r->lag);
        fputs(buf, out);
        free(buf);
    }
    fputs("]\n", out);
}

/* ---- watch-status ------------------------------------------------------------------------------ */

static volatile sig_atomic_t watch_stop;

static void watch_on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* Sleeps until the monotonic time until_ms, or a signal said stop. */
static void watch_sleep_until(uint64_t until_ms)
{
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (watch_stop || now >= until_ms)
            return;
        uint64_t ms = until_ms - now;
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* EINTR: the loop looks at watch_stop */
    }
}

int ctl_watch_status(struct lum_client *c, FILE *out, bool json, uint32_t count,
                     struct lum_err *err)
{
    /* no SA_RESTART: a signal cuts the sleep short, and the loop ends after the refresh */
    struct sigaction sa = {.sa_handler = watch_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(fileno(out));
    static struct ctl_status_row rows[LUM_CLIENT_NODES_MAX];
    uint32_t n = lum_client_nodes(c);
    int answered = 0;
    for (uint32_t i = 0; !watch_stop && (count == 0 || i < count); i++) {
        uint64_t next = clock_mono_ms() + WATCH_PERIOD_MS;
        answered = ctl_status_collect(c, rows, err);
        if (answered < 0)
            return answered;
        if (watch_stop)
            break; /* interrupted while asking: no half-fresh table */
        if (json) {
            ctl_status_json(out, rows, n);
        } else {
            if (tty)
                fputs("\033[H\033[2J", out); /* home, clear the screen */
            else if (i > 0)
                fputc('\n', out);
            time_t now = time(NULL);
            struct tm tm;
            char when[32];
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
            fprintf(out, "%s  every %u s, Ctrl-C to stop; %d of %u nodes answered\n", when,
                    WATCH_PERIOD_MS / 1000, answered, n);
            ctl_status_table(out, rows, n);
        }
        fflush(out);
        if (count == 0 || i + 1 < count)
            watch_sleep_until(next);
    }
    return answered;
}
