/* The linearizability checker on hand-made histories and on randomized ones. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "../fault/lincheck.h"

static enum lin_verdict check_lines(const char *const *lines, uint64_t states_max)
{
    struct lin_history *h = lin_history_new();
    char err[256];
    for (int i = 0; lines[i]; i++)
        cr_assert_eq(lin_history_add_line(h, lines[i], err, sizeof(err)), 0, "%s: %s",
                     lines[i], err);
    enum lin_verdict v = lin_check(h, states_max, NULL, NULL);
    lin_history_free(h);
    return v;
}

Test(lincheck, accepts_a_sequential_history)
{
    const char *h[] = {"c1 10 20 put x 1 ok", "c1 30 40 get x 1", "c1 50 60 put x 2 ok",
                       "c1 70 80 get x 2", "c1 90 95 get y nil", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_OK);
}

Test(lincheck, accepts_overlapping_writes_in_the_one_order_the_reads_allow)
{
    /* put 1 and put 2 overlap; the reads after both say 1, so 2 must go first */
    const char *h[] = {"a 10 50 put x 1 ok", "b 20 40 put x 2 ok", "c 30 35 get x 2",
                       "c 60 70 get x 1", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_OK);
}

Test(lincheck, rejects_reads_that_need_two_orders)
{
    const char *h[] = {"a 10 50 put x 1 ok", "b 20 40 put x 2 ok", "c 60 70 get x 1",
                       "d 80 90 get x 2", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_VIOLATION);
}

Test(lincheck, rejects_a_stale_read)
{
    const char *h[] = {"a 10 20 put x 1 ok", "a 30 40 put x 2 ok", "b 50 60 get x 1", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_VIOLATION);
}

Test(lincheck, accepts_an_old_value_from_a_read_concurrent_with_the_write)
{
    const char *h[] = {"a 10 20 put x 1 ok", "a 30 60 put x 2 ok", "b 40 50 get x 1", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_OK);
}

Test(lincheck, rejects_a_lost_acknowledged_write)
{
    const char *h[] = {"a 10 20 put x 1 ok", "b 30 40 get x nil", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_VIOLATION);
}

Test(lincheck, follows_cas_semantics)
{
    const char *ok[] = {"a 10 20 put x 1 ok", "a 30 40 cas x 1 2 ok", "a 50 60 cas x 1 3 fail",
                        "a 70 80 cas y 1 2 fail", "a 90 99 get x 2", NULL};
    cr_assert_eq(check_lines(ok, 0), LIN_OK);
    const char *bad_ok[] = {"a 10 20 put x 1 ok", "a 30 40 cas x 5 2 ok", NULL};
    cr_assert_eq(check_lines(bad_ok, 0), LIN_VIOLATION);
    const char *bad_fail[] = {"a 10 20 put x 1 ok", "a 30 40 cas x 1 2 fail", NULL};
    cr_assert_eq(check_lines(bad_fail, 0), LIN_VIOLATION);
    const char *absent[] = {"a 30 40 cas x 1 2 ok", NULL};
    cr_assert_eq(check_lines(absent, 0), LIN_VIOLATION);
}

Test(lincheck, follows_delete_semantics)
{
    const char *ok[] = {"a 10 20 del x nf", "a 30 40 put x 1 ok", "a 50 60 del x ok",
                        "a 70 80 get x nil", "a 90 99 del x nf", NULL};
    cr_assert_eq(check_lines(ok, 0), LIN_OK);
    const char *twice[] = {"a 10 20 put x 1 ok", "a 30 40 del x ok", "b 50 60 del x ok", NULL};
    cr_assert_eq(check_lines(twice, 0), LIN_VIOLATION);
    const char *gone[] = {"a 10 20 put x 1 ok", "a 30 40 del x ok", "b 50 60 get x 1", NULL};
    cr_assert_eq(check_lines(gone, 0), LIN_VIOLATION);
}

Test(lincheck, accepts_both_outcomes_of_an_indeterminate_put)
{
    const char *happened[] = {"a 10 20 put x 1 ok", "b 30 - put x 2 ?", "c 50 60 get x 2",
                              NULL};
    cr_assert_eq(check_lines(happened, 0), LIN_OK);
    const char *not_happened[] = {"a 10 20 put x 1 ok", "b 30 - put x 2 ?",
                                  "c 50 60 get x 1", NULL};
    cr_assert_eq(check_lines(not_happened, 0), LIN_OK);
    /* but once seen, it cannot un-happen */
    const char *flicker[] = {"a 10 20 put x 1 ok", "b 30 - put x 2 ?", "c 50 60 get x 2",
                             "c 70 80 get x 1", NULL};
    cr_assert_eq(check_lines(flicker, 0), LIN_VIOLATION);
    /* nor take effect before it was invoked */
    const char *early[] = {"c 5 8 get x 2", "b 30 - put x 2 ?", NULL};
    cr_assert_eq(check_lines(early, 0), LIN_VIOLATION);
}

Test(lincheck, leaves_out_operations_that_failed)
{
    const char *h[] = {"a 10 20 put x 1 err", "b 30 40 get x nil", "b 50 60 get x err", NULL};
    struct lin_history *hist = lin_history_new();
    char err[256];
    for (int i = 0; h[i]; i++)
        cr_assert_eq(lin_history_add_line(hist, h[i], err, sizeof(err)), 0);
    struct lin_counts c;
    cr_assert_eq(lin_check(hist, 0, NULL, &c), LIN_OK);
    cr_assert_eq(c.ok, 1);
    cr_assert_eq(c.failed, 2);
    lin_history_free(hist);
}

Test(lincheck, refuses_malformed_lines)
{
    struct lin_history *h = lin_history_new();
    char err[256];
    cr_assert_neq(lin_history_add_line(h, "a 10 20 put x ok", err, sizeof(err)), 0);
    cr_assert_neq(lin_history_add_line(h, "a 10 5 get x 1", err, sizeof(err)), 0);
    cr_assert_neq(lin_history_add_line(h, "a 10 20 inc x 1", err, sizeof(err)), 0);
    cr_assert_neq(lin_history_add_line(h, "a 10 20 del x maybe", err, sizeof(err)), 0);
    cr_assert_eq(lin_history_add_line(h, "# comment", err, sizeof(err)), 0);
    lin_history_free(h);
}

/* A random linearizable history: each op takes effect at a distinct instant on a simulated
 * register; its invoke and complete times are drawn around that instant, so ops overlap. */
struct gen_op {
    char line[128];
    int  kind, key;     /* kind 0 put, 1 get, 2 del, 3 cas */
};

static int gen_history(struct lin_history *h, unsigned seed, int n, int keys, int corrupt)
{
    srand(seed);
    int reg[8];
    for (int k = 0; k < keys; k++)
        reg[k] = -1;
    int gets = 0, corrupted = 0;
    char err[256], line[160];
    for (int i = 0; i < n; i++) {
        uint64_t at = (uint64_t)(i + 1) * 100;            /* the linearization point */
        uint64_t inv = at - (uint64_t)(rand() % 400);      /* overlaps up to 4 neighbours */
        uint64_t com = at + (uint64_t)(rand() % 400);
        if (inv > at)
            inv = 0;
        int k = rand() % keys, kind = rand() % 4, v = rand() % 5;
        char res[32];
        switch (kind) {
        case 0:
            snprintf(line, sizeof(line), "c%d %lu %lu put k%d %d ok", i % 7,
                     (unsigned long)inv, (unsigned long)com, k, v);
            reg[k] = v;
            break;
        case 1: {
            int r = reg[k];
            if (corrupt >= 0 && gets == corrupt) {
                /* a value never written: an overlapping read of another written value or
                 * of absence could be legal, this one never is */
                r = 9;
                corrupted = 1;
            }
            gets++;
            if (r == -1)
                snprintf(res, sizeof(res), "nil");
            else
                snprintf(res, sizeof(res), "%d", r);
            snprintf(line, sizeof(line), "c%d %lu %lu get k%d %s", i % 7, (unsigned long)inv,
                     (unsigned long)com, k, res);
            break;
        }
        case 2:
            snprintf(line, sizeof(line), "c%d %lu %lu del k%d %s", i % 7, (unsigned long)inv,
                     (unsigned long)com, k, reg[k] == -1 ? "nf" : "ok");
            reg[k] = -1;
            break;
        default: {
            int old = rand() % 2 ? reg[k] : v;
            bool ok = old != -1 && reg[k] == old;
            snprintf(line, sizeof(line), "c%d %lu %lu cas k%d %d %d %s", i % 7,
                     (unsigned long)inv, (unsigned long)com, k, old == -1 ? 0 : old,
                     (v + 1) % 5, ok ? "ok" : "fail");
            if (old == -1)
                ok = false;
            if (ok)
                reg[k] = (v + 1) % 5;
            break;
        }
        }
        cr_assert_eq(lin_history_add_line(h, line, err, sizeof(err)), 0, "%s: %s", line, err);
    }
    return corrupted;
}

Test(lincheck, accepts_random_linearizable_histories)
{
    for (unsigned seed = 1; seed <= 20; seed++) {
        struct lin_history *h = lin_history_new();
        gen_history(h, seed, 3000, 3, -1);
        cr_assert_eq(lin_check(h, 0, NULL, NULL), LIN_OK, "seed %u", seed);
        lin_history_free(h);
    }
}

Test(lincheck, rejects_a_random_history_with_one_corrupted_read)
{
    for (unsigned seed = 1; seed <= 20; seed++) {
        struct lin_history *h = lin_history_new();
        /* corrupt a read late enough that the register has been written */
        cr_assert(gen_history(h, seed, 3000, 3, 300), "seed %u", seed);
        cr_assert_eq(lin_check(h, 0, NULL, NULL), LIN_VIOLATION, "seed %u", seed);
        lin_history_free(h);
    }
}

Test(lincheck, says_unknown_when_the_search_limit_is_reached)
{
    /* many overlapping puts then a read of a value no order produces: exhaustive search */
    struct lin_history *h = lin_history_new();
    char line[128], err[256];
    for (int i = 0; i < 40; i++) {
        snprintf(line, sizeof(line), "c%d 10 1000 put x %d ok", i, i);
        cr_assert_eq(lin_history_add_line(h, line, err, sizeof(err)), 0);
    }
    cr_assert_eq(lin_history_add_line(h, "z 2000 2010 get x 99", err, sizeof(err)), 0);
    cr_assert_eq(lin_check(h, 1000, NULL, NULL), LIN_UNKNOWN);
    lin_history_free(h);
}

Test(lincheck, unread_indeterminate_writes_do_not_blow_up_the_search)
{
    /* 40 timed-out puts nobody read, open to the end: each may or may not have happened,
     * 2^40 subsets; the checker drops them (not happening is allowed) and stays small. */
    static char lines[64][64];
    const char *h[64];
    int n = 0;
    for (int i = 0; i < 40; i++, n++) {
        snprintf(lines[n], sizeof lines[n], "t%d %d - put x lost%d ?", i, 10 + i, i);
        h[n] = lines[n];
    }
    h[n++] = "r 100 110 put x 1 ok";
    h[n++] = "r 120 130 get x 1";
    h[n] = NULL;
    cr_assert_eq(check_lines(h, 1000), LIN_OK);
}

Test(lincheck, a_read_indeterminate_write_is_still_searched)
{
    /* the timed-out put of 2 was read, so it happened: accepted only with it kept */
    const char *h[] = {"a 10 - put x 2 ?", "b 20 30 put x 1 ok", "c 40 50 get x 2", NULL};
    cr_assert_eq(check_lines(h, 0), LIN_OK);
    /* and a stale read after it is still caught */
    const char *bad[] = {"a 10 - put x 2 ?", "b 20 30 get x 2",  "c 40 50 put x 1 ok",
                         "c 60 70 get x 2",  NULL};
    cr_assert_eq(check_lines(bad, 0), LIN_VIOLATION);
}
