/* raftctl against real clusters: its output and its exit codes, which scripts rely on
 * (DESIGN.md, "CLI contract"): 0 ok, 1 no such key / no match, 2 usage, 3 unavailable. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "luminous/io.h"
#include "luminous/kv.h"

CLUSTER_SUITE(raftctl);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)

/* A cluster list of free ports with nothing behind them. */
static void ctl_dead_cluster(char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%u,127.0.0.1:%u", cluster_free_port(), cluster_free_port());
}

/* Counts the occurrences of needle in text. */
static int ctl_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(raftctl, put_get_del_and_cas_print_and_exit_as_the_contract_says)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;

    cluster_ctl(c, &r, "put", "greeting", "hello world", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "", "put prints nothing");
    cluster_ctl(c, &r, "get", "greeting", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "hello world\n");
    cluster_ctl(c, &r, "--json", "get", "greeting", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "{\"key\":\"greeting\",\"found\":true,\"value\":\"hello world\"}\n");

    /* a stale read is served by the first node that answers: it converges */
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "greeting", "hello world");
    cluster_ctl(c, &r, "get", "greeting", "--stale", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "hello world\n");

    cluster_ctl(c, &r, "get", "nobody-home", NULL);
    ctl_expect(&r, 1);
    cr_assert_str_eq(r.out, "", "a missing key prints nothing on stdout");
    cr_assert(strstr(r.err, "no such key"), "stderr: %s", r.err);
    cluster_ctl(c, &r, "--json", "get", "nobody-home", NULL);
    ctl_expect(&r, 1);
    cr_assert_str_eq(r.out, "{\"key\":\"nobody-home\",\"found\":false}\n");

    cluster_ctl(c, &r, "cas", "greeting", "wrong", "never", NULL);
    ctl_expect(&r, 1);
    cr_assert(strstr(r.err, "not OLD"), "stderr: %s", r.err);
    cluster_ctl(c, &r, "cas", "nobody-home", "x", "y", NULL);
    ctl_expect(&r, 1);
    cluster_ctl(c, &r, "get", "greeting", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "hello world\n", "a failed cas changed the value");
    cluster_ctl(c, &r, "cas", "greeting", "hello world", "goodbye", NULL);
    ctl_expect(&r, 0);
    cluster_ctl(c, &r, "get", "greeting", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "goodbye\n");

    cluster_ctl(c, &r, "del", "greeting", NULL);
    ctl_expect(&r, 0);
    cluster_ctl(c, &r, "get", "greeting", NULL);
    ctl_expect(&r, 1);
    cluster_ctl(c, &r, "del", "greeting", NULL);
    ctl_expect(&r, 0); /* also when it did not exist */
    cluster_passed();
}

Test(raftctl, a_put_with_a_ttl_disappears_after_it)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;
    cluster_ctl(c, &r, "put", "ephemeral", "soon gone", "--ttl", "1", NULL);
    ctl_expect(&r, 0);
    cluster_ctl(c, &r, "put", "durable", "stays", NULL);
    ctl_expect(&r, 0);
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    do {
        cluster_ctl(c, &r, "get", "ephemeral", NULL);
        if (r.exit_code == 1)
            break;
        ctl_expect(&r, 0);
        cr_assert_str_eq(r.out, "soon gone\n");
    } while (clock_mono_ms() < deadline);
    ctl_expect(&r, 1);
    /* the leader's EXPIRE entry removes it on every node, not just hides it */
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "ephemeral", NULL);
    cluster_ctl(c, &r, "get", "durable", NULL);
    ctl_expect(&r, 0);
    cluster_passed();
}

/* Command lines that are wrong whatever the cluster: each must be refused with exit 2. */
static const char *const *const ctl_usage_errors[] = {
    (const char *const[]){NULL},                                   /* no command        */
    (const char *const[]){"frobnicate", NULL},                     /* unknown command   */
    (const char *const[]){"put", "only-a-key", NULL},              /* too few arguments */
    (const char *const[]){"get", "a", "b", NULL},                  /* too many          */
    (const char *const[]){"del", NULL},
    (const char *const[]){"cas", "k", "old", NULL},
    (const char *const[]){"status", "extra", NULL},
    (const char *const[]){"put", "k", "v", "--stale", NULL},      /* --stale is get's   */
    (const char *const[]){"get", "k", "--ttl", "5", NULL},        /* --ttl is put's     */
    (const char *const[]){"put", "k", "v", "--ttl", "0", NULL},
    (const char *const[]){"put", "k", "v", "--ttl", "soon", NULL},
    (const char *const[]){"--timeout", "0", "get", "k", NULL},
    (const char *const[]){"--timeout", "-5", "get", "k", NULL},
    (const char *const[]){"--timeout", "12ms", "get", "k", NULL},
    (const char *const[]){"--no-such-option", "get", "k", NULL},
    (const char *const[]){"put", "", "empty key", NULL},
    (const char *const[]){"get", "", NULL},
    (const char *const[]){"get", "@LONG_KEY", NULL},             /* KV_KEY_MAX + 1     */
    (const char *const[]){"put", "@LONG_KEY", "v", NULL},
    (const char *const[]){"--cluster", "nonsense", "get", "k", NULL},
    (const char *const[]){"--cluster", "127.0.0.1:0", "get", "k", NULL},
    (const char *const[]){"--cluster", "127.0.0.1:7101,,127.0.0.1:7102", "get", "k", NULL},
    (const char *const[]){"--cluster", "", "get", "k", NULL},
};
#define CTL_USAGE_ERRORS (sizeof ctl_usage_errors / sizeof ctl_usage_errors[0])

/* Runs usage error i against a cluster list with nothing behind it. */
static void ctl_run_usage_error(struct cluster *c, size_t i, const char *dead, struct cluster_run *r,
                                char *line, size_t line_len)
{
    static char long_key[KV_KEY_MAX + 2];
    memset(long_key, 'k', KV_KEY_MAX + 1);
    const char *args[16] = {"--cluster", dead};
    uint32_t n = 2;
    size_t off = 0;
    line[0] = '\0';
    for (const char *const *a = ctl_usage_errors[i]; *a; a++) {
        args[n++] = strcmp(*a, "@LONG_KEY") == 0 ? long_key : *a;
        off += (size_t)snprintf(line + off, line_len - off, " %s", *a);
    }
    args[n] = NULL;
    cluster_exec(c, r, 30000, NULL, "raftctl", args);
}

Test(raftctl, usage_errors_exit_2_before_touching_any_node)
{
    struct cluster *c = cluster_create(0, NULL);
    char dead[64], line[256], failures[4096] = "";
    size_t off = 0;
    ctl_dead_cluster(dead, sizeof dead);
    static struct cluster_run r;
    for (size_t i = 0; i < CTL_USAGE_ERRORS; i++) {
        ctl_run_usage_error(c, i, dead, &r, line, sizeof line);
        if (r.exit_code != 2 && off < sizeof failures - 200)
            off += (size_t)snprintf(failures + off, sizeof failures - off,
                                    "\n  raftctl%s: exit %d (%s)", line, r.exit_code, r.err);
    }
    cr_assert_eq(off, 0, "usage errors that did not exit 2:%s", failures);

    /* --help is not an error */
    const char *help[] = {"--help", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", help);
    ctl_expect(&r, 0);
    cr_assert(strstr(r.out, "usage: raftctl"), "stdout: %s", r.out);
    cluster_passed();
}

Test(raftctl, every_usage_error_says_what_is_wrong)
{
    struct cluster *c = cluster_create(0, NULL);
    char dead[64], line[256], failures[4096] = "";
    size_t off = 0;
    ctl_dead_cluster(dead, sizeof dead);
    static struct cluster_run r;
    for (size_t i = 0; i < CTL_USAGE_ERRORS; i++) {
        ctl_run_usage_error(c, i, dead, &r, line, sizeof line);
        if (r.err[0] == '\0' && off < sizeof failures - 200)
            off += (size_t)snprintf(failures + off, sizeof failures - off,
                                    "\n  raftctl%s: exit %d and nothing on stderr", line,
                                    r.exit_code);
    }
    cr_assert_eq(off, 0, "silent usage errors:%s", failures);
    cluster_passed();
}

Test(raftctl, a_put_over_the_size_limit_exits_2_naming_the_limit_and_writes_nothing)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;
    static char value[KV_PUT_DATA_MAX + 2];
    const char *key = "big";
    size_t fits = KV_PUT_DATA_MAX - strlen(key);

    memset(value, 'v', fits + 1);
    cluster_ctl(c, &r, "put", key, value, NULL);
    ctl_expect(&r, 2);
    char limit[32];
    snprintf(limit, sizeof limit, "%u bytes", (unsigned)KV_PUT_DATA_MAX);
    cr_assert(strstr(r.err, limit), "the message names the limit (%s): %s", limit, r.err);
    cluster_ctl(c, &r, "get", key, NULL);
    ctl_expect(&r, 1);

    /* exactly at the limit is fine, and reads back whole */
    value[fits] = '\0';
    cluster_ctl(c, &r, "put", key, value, NULL);
    ctl_expect(&r, 0);
    cluster_ctl(c, &r, "get", key, NULL);
    ctl_expect(&r, 0);
    cr_assert_eq(strlen(r.out), fits + 1);
    cr_assert_eq(strncmp(r.out, value, fits), 0);
    cluster_passed();
}

Test(raftctl, commands_exit_3_when_the_quorum_or_the_whole_cluster_is_down)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;
    cluster_ctl(c, &r, "put", "k", "v", NULL);
    ctl_expect(&r, 0);
    for (uint32_t j = 0; j < c->n; j++)
        cluster_wait_stale_value(c, j, "k", "v");

    /* one node of three: no quorum, no leader */
    cluster_kill(c, 1);
    cluster_kill(c, 2);
    cluster_ctl(c, &r, "--timeout", "1500", "put", "k", "v2", NULL);
    ctl_expect(&r, 3);
    cr_assert(strstr(r.err, "unavailable") || strstr(r.err, "timed out"), "stderr: %s", r.err);
    cluster_ctl(c, &r, "--timeout", "1500", "get", "k", NULL);
    ctl_expect(&r, 3);
    /* a stale read needs no quorum */
    cluster_ctl(c, &r, "--timeout", "1500", "get", "k", "--stale", NULL);
    ctl_expect(&r, 0);
    cr_assert_str_eq(r.out, "v\n");

    /* nothing at all */
    cluster_kill(c, 0);
    const char *const cmds[][5] = {
        {"put", "k", "v3", NULL}, {"get", "k", NULL}, {"get", "k", "--stale", NULL},
        {"del", "k", NULL},       {"cas", "k", "v", "w"}, {"status", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *args[12] = {"--cluster", c->clients_list, "--timeout", "1000"};
        uint32_t n = 4;
        for (uint32_t a = 0; a < 5 && cmds[i][a]; a++)
            args[n++] = cmds[i][a];
        args[n] = NULL;
        cluster_exec(c, &r, 30000, NULL, "raftctl", args);
        cr_assert_eq(r.exit_code, 3, "%s with the cluster down: exit %d, stderr: %s", cmds[i][0],
                     r.exit_code, r.err);
        cr_assert_neq(r.err[0], '\0', "%s says why", cmds[i][0]);
    }
    cluster_passed();
}

Test(raftctl, status_with_nothing_running_exits_3_with_a_clear_message)
{
    struct cluster *c = cluster_create(0, NULL);
    static struct cluster_run r;
    char dead[64];
    ctl_dead_cluster(dead, sizeof dead);

    const char *args[] = {"--cluster", dead, "--timeout", "1000", "status", NULL};
    cluster_exec(c, &r, 30000, NULL, "raftctl", args);
    ctl_expect(&r, 3);
    cr_assert(strstr(r.err, "no node of the cluster answered"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, dead), "the message names the addresses tried: %s", r.err);

    /* the same through $LUMINOUS_CLUSTER, and with --json: one error object per node */
    const char *json[] = {"--timeout", "1000", "--json", "status", NULL};
    cluster_exec(c, &r, 30000, dead, "raftctl", json);
    ctl_expect(&r, 3);
    cr_assert(strstr(r.err, dead), "LUMINOUS_CLUSTER was not used: %s", r.err);
    cr_assert_eq(r.out[0], '[', "stdout: %s", r.out);
    cr_assert_eq(ctl_count(r.out, "\"error\":"), 2, "stdout: %s", r.out);
    cluster_passed();
}

Test(raftctl, status_shows_every_node_one_leader_and_the_node_that_is_down)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;
    uint32_t leader = cluster_wait_leader(c);
    uint32_t down = (leader + 1) % c->n;
    cluster_kill(c, down);

    cluster_ctl(c, &r, "--json", "status", NULL);
    ctl_expect(&r, 0);
    cr_assert_eq(ctl_count(r.out, "\"role\":\"leader\""), 1, "stdout: %s", r.out);
    cr_assert_eq(ctl_count(r.out, "\"role\":\"follower\""), 1, "stdout: %s", r.out);
    cr_assert_eq(ctl_count(r.out, "\"error\":"), 1, "stdout: %s", r.out);
    char addr[64];
    snprintf(addr, sizeof addr, "\"addr\":\"%s\",\"error\":", c->nodes[down].client_addr);
    cr_assert(strstr(r.out, addr), "the node that is down is named: %s", r.out);
    const char *fields[] = {"\"id\":", "\"term\":", "\"leader\":", "\"commit_index\":",
                            "\"applied_index\":", "\"first_index\":", "\"last_index\":",
                            "\"snapshot_index\":", "\"db_size\":", "\"lag\":",
                            "\"members\":["};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        cr_assert_geq(ctl_count(r.out, fields[i]), 2, "%s missing: %s", fields[i], r.out);

    cluster_ctl(c, &r, "status", NULL);
    ctl_expect(&r, 0);
    for (uint32_t i = 0; i < c->n; i++)
        cr_assert(strstr(r.out, c->nodes[i].client_addr), "row of node %u: %s", i + 1, r.out);
    cr_assert(strstr(r.out, "leader"), "stdout: %s", r.out);
    cluster_passed();
}

/* DESIGN.md: "role" is one of "leader", "follower", "candidate", "learner". */
Test(raftctl, status_roles_stay_within_the_contract_when_the_quorum_is_lost)
{
    struct cluster *c = cluster_up(3, NULL);
    static struct cluster_run r;
    cluster_kill(c, 1);
    cluster_kill(c, 2);
    /* give the survivor time to time out and campaign (and fail) a few times: poll its
     * status until its term moved or its role changed from what it had */
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    struct wire_status st;
    do {
        cr_assert_eq(cluster_status(c, 0, &st), 0);
        if (st.role != RAFT_LEADER && st.role != RAFT_FOLLOWER)
            break;
        cluster_pause_ms(CLUSTER_POLL_MS);
    } while (clock_mono_ms() < deadline);
    cluster_ctl(c, &r, "--json", "status", NULL);
    ctl_expect(&r, 0);
    const char *p = strstr(r.out, "\"role\":\"");
    cr_assert_not_null(p, "stdout: %s", r.out);
    p += strlen("\"role\":\"");
    const char *allowed[] = {"leader\"", "follower\"", "candidate\"", "learner\""};
    bool ok = false;
    for (size_t i = 0; i < 4; i++)
        ok |= strncmp(p, allowed[i], strlen(allowed[i])) == 0;
    cr_assert(ok, "a role outside the contract: %s", r.out);
    cluster_passed();
}
