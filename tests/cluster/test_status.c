/* The operator view: `raftctl status` as a table (a row per node, the right roles, an
 * unreachable node's error), `--json` that a JSON parser takes (checked here by a small
 * strict one) with every field, and `watch-status`: --count N tables, and a clean exit on
 * SIGTERM / SIGINT. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json_check.h"

CLUSTER_SUITE(status);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)

static int st_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(status, the_json_checker_can_say_no)
{
    const char *good = "[{\"a\":1,\"b\":[true,null,\"x\\u00e9\"],\"c\":-0.5e3}]";
    cr_assert(json_valid(good, strlen(good)));
    const char *bad[] = {"[", "{\"a\":}", "[1,]", "{a:1}", "\"\\x\"", "01", "[1 2]", "{}x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(json_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
}

/* ---- status ------------------------------------------------------------------------------ */

/* The table row (a line starting "| ") that holds needle; NULL if none. Copied to row. */
static bool st_row_with(const char *table, const char *needle, char *row, size_t cap)
{
    for (const char *line = table; line && *line; line = strchr(line, '\n'), line += !!line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len < 2 || strncmp(line, "| ", 2) != 0)
            continue;
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
        if (strstr(buf, needle)) {
            snprintf(row, cap, "%s", buf);
            return true;
        }
    }
    return false;
}

Test(status, the_table_has_a_row_per_node_with_roles_sizes_and_the_error_of_one_that_is_down)
{
    struct cluster *c = cluster_up(3, NULL);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(cluster_kv_put(cl, "key", "value"), 0);
    uint32_t leader = cluster_wait_leader(c);
    uint32_t down = (leader + 2) % c->n;
    cluster_kill(c, down);
    static struct cluster_run r;
    cluster_ctl(c, &r, "status", NULL);
    ctl_expect(&r, 0);
    /* boxed: rules, a head, one row per node */
    cr_assert_eq(strncmp(r.out, "+--", 3), 0, "stdout: %s", r.out);
    cr_assert_eq(st_count(r.out, "\n+--") + 1, 3, "three rules: %s", r.out);
    cr_assert_eq(st_count(r.out, "\n| "), 1 + 3, "a head and three rows: %s", r.out);
    const char *heads[] = {"ID", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED",
                           "LAG", "SNAPSHOT", "DB SIZE", "ERRORS"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        cr_assert(strstr(r.out, heads[i]), "no %s column: %s", heads[i], r.out);
    char row[2048];
    for (uint32_t i = 0; i < c->n; i++) {
        cr_assert(st_row_with(r.out, c->nodes[i].client_addr, row, sizeof row),
                  "no row for node %u: %s", i + 1, r.out);
        const char *role = i == leader ? "| leader " : i == down ? "| unreachable " : "| follower ";
        cr_assert(strstr(row, role), "node %u should say %s: %s", i + 1, role, row);
        if (i == down) {
            cr_assert(strstr(row, "Connection refused"), "its error: %s", row);
        } else {
            /* a size for people: a number and an IEC unit */
            cr_assert(strstr(row, " KiB |") || strstr(row, " MiB |") || strstr(row, " B |"),
                      "db size: %s", row);
        }
    }
    /* every line of the box is as wide as the first */
    size_t width = strcspn(r.out, "\n");
    for (const char *p = r.out; *p; p += strcspn(p, "\n") + 1)
        cr_assert_eq(strcspn(p, "\n"), width, "a ragged line: %s", r.out);
    cluster_passed();
}

Test(status, json_parses_and_has_every_field_for_every_node)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t leader = cluster_wait_leader(c);
    uint32_t down = (leader + 1) % c->n;
    cluster_kill(c, down);
    static struct cluster_run r;
    cluster_ctl(c, &r, "--json", "status", NULL);
    ctl_expect(&r, 0);
    cr_assert(json_valid(r.out, strlen(r.out)), "not JSON: %s", r.out);
    cr_assert_eq(r.out[0], '[');
    const char *fields[] = {"\"id\":", "\"addr\":", "\"role\":", "\"term\":", "\"leader\":",
                            "\"commit_index\":", "\"applied_index\":", "\"snapshot_index\":",
                            "\"db_size\":", "\"lag\":", "\"members\":["};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        cr_assert_geq(st_count(r.out, fields[i]), 2, "%s for both nodes that answered: %s",
                      fields[i], r.out);
    cr_assert_eq(st_count(r.out, "\"error\":"), 1, "%s", r.out);
    cr_assert_eq(st_count(r.out, "\"role\":\"leader\""), 1, "%s", r.out);
    cr_assert_eq(st_count(r.out, "\"lag\":0"), 2, "caught up: %s", r.out);
    cluster_passed();
}

/* ---- watch-status ---------------------------------------------------------------------- */

Test(status, watch_status_count_prints_that_many_tables_and_json_lines)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;
    uint64_t t0 = clock_mono_ms();
    cluster_ctl(c, &r, "watch-status", "--count", "2", NULL);
    ctl_expect(&r, 0);
    cr_assert_eq(st_count(r.out, "| ID "), 2, "two tables: %s", r.out);
    cr_assert_geq(clock_mono_ms() - t0, 1000, "a second between two refreshes");
    cr_assert_null(strstr(r.out, "\033["), "no ANSI codes when stdout is not a terminal");
    for (uint32_t i = 0; i < c->n; i++)
        cr_assert_eq(st_count(r.out, c->nodes[i].client_addr), 2,
                     "node %u: a row in each table: %s", i + 1, r.out);

    cluster_ctl(c, &r, "--json", "watch-status", "--count", "3", NULL);
    ctl_expect(&r, 0);
    int lines = 0;
    for (const char *p = r.out; *p; p += strcspn(p, "\n") + 1, lines++)
        cr_assert(json_valid(p, strcspn(p, "\n")), "line %d is not JSON: %s", lines + 1, r.out);
    cr_assert_eq(lines, 3, "one array a refresh: %s", r.out);

    cluster_ctl(c, &r, "status", "--count", "2", NULL);
    ctl_expect(&r, 2);
    cluster_ctl(c, &r, "watch-status", "--count", "0", NULL);
    ctl_expect(&r, 2);
    cluster_passed();
}

static int st_file_count(const char *path, const char *needle)
{
    static char buf[CLUSTER_RUN_OUT_MAX * 4];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
    fclose(f);
    return st_count(buf, needle);
}

Test(status, watch_status_runs_until_sigterm_or_sigint_and_exits_0)
{
    struct cluster *c = cluster_up(3, NULL);
    const int sigs[] = {SIGTERM, SIGINT};
    for (size_t k = 0; k < 2; k++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/watch-%zu.out", c->dir, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
        pid_t pid = cluster_ctl_spawn(c, fd, "watch-status", (char *)NULL);
        close(fd);
        /* it keeps refreshing: wait for a third table */
        uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
        while (st_file_count(path, "| ID ") < 3 && clock_mono_ms() < deadline)
            cluster_pause_ms(CLUSTER_POLL_MS);
        cr_assert_geq(st_file_count(path, "| ID "), 3, "it stopped refreshing");
        cr_assert_eq(kill(pid, sigs[k]), 0);
        int status = 0;
        cr_assert(cluster_reap(pid, CLUSTER_WAIT_MS, &status),
                  "watch-status did not stop on signal %d", sigs[k]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "signal %d: wait status %d", sigs[k], status);
    }
    cluster_passed();
}
