/* lum_secret_load: the trim, and every way a secret file is refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "luminous/secret.h"
#include "storage_test.h"

static char *dir;
static char path[4096];
static struct lum_secret sec;
static struct lum_err err;

static void setup(void)
{
    dir = storage_test_mkdtemp();
    snprintf(path, sizeof path, "%s/secret", dir);
}

static void teardown(void) { storage_test_rmdir(dir); }

static void write_file(const void *p, size_t n, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(p, 1, n, f) == n && fclose(f) == 0);
    cr_assert_eq(chmod(path, mode), 0);
}

TestSuite(secret, .init = setup, .fini = teardown);

Test(secret, one_trailing_newline_is_trimmed)
{
    const char *cases[][2] = {{"s3cret\n", "s3cret"}, {"s3cret\r\n", "s3cret"},
                              {"s3cret", "s3cret"}, {"s3cret\n\n", "s3cret\n"},
                              {"s3cret\r", "s3cret\r"}, {" a b \n", " a b "}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i][0], strlen(cases[i][0]), 0600);
        cr_assert_eq(lum_secret_load(path, &sec, &err), 0, "%s", err.msg);
        cr_assert_eq(sec.len, strlen(cases[i][1]), "case %zu", i);
        cr_assert(memcmp(sec.key, cases[i][1], sec.len) == 0, "case %zu", i);
        cr_assert(!sec.loose_mode);
    }
}

Test(secret, empty_is_refused)
{
    const char *cases[] = {"", "\n", "\r\n"};
    for (size_t i = 0; i < 3; i++) {
        write_file(cases[i], strlen(cases[i]), 0600);
        cr_assert_eq(lum_secret_load(path, &sec, &err), -LUM_EINVAL);
        cr_assert(strstr(err.msg, "empty") && strstr(err.msg, path), "%s", err.msg);
        cr_assert_eq(sec.len, 0);
    }
}

Test(secret, missing_or_not_a_file_is_refused)
{
    cr_assert_eq(lum_secret_load(path, &sec, &err), -LUM_EIO);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);
    cr_assert_eq(lum_secret_load(dir, &sec, &err), -LUM_EIO);
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
}

Test(secret, the_limit_is_exact)
{
    static char big[LUM_SECRET_MAX + 8];
    memset(big, 'k', sizeof big);
    big[LUM_SECRET_MAX] = '\r';
    big[LUM_SECRET_MAX + 1] = '\n';
    write_file(big, LUM_SECRET_MAX + 2, 0600);     /* the longest key, with its \r\n */
    cr_assert_eq(lum_secret_load(path, &sec, &err), 0, "%s", err.msg);
    cr_assert_eq(sec.len, LUM_SECRET_MAX);
    memset(big, 'k', sizeof big);
    big[LUM_SECRET_MAX + 1] = '\n';
    write_file(big, LUM_SECRET_MAX + 2, 0600);     /* one byte too many, then \n */
    cr_assert_eq(lum_secret_load(path, &sec, &err), -LUM_EINVAL);
    cr_assert(strstr(err.msg, "longer than"), "%s", err.msg);
    big[LUM_SECRET_MAX + 6] = '\n';
    for (size_t n = LUM_SECRET_MAX + 3; n <= LUM_SECRET_MAX + 7; n++) {
        write_file(big, n, 0600);                  /* never a truncated prefix */
        cr_assert_eq(lum_secret_load(path, &sec, &err), -LUM_EINVAL, "size %zu", n);
    }
}

Test(secret, group_or_other_readable_is_flagged)
{
    write_file("k\n", 2, 0640);
    cr_assert_eq(lum_secret_load(path, &sec, &err), 0);
    cr_assert(sec.loose_mode);
    write_file("k\n", 2, 0604);
    cr_assert_eq(lum_secret_load(path, &sec, &err), 0);
    cr_assert(sec.loose_mode);
    write_file("k\n", 2, 0400);
    cr_assert_eq(lum_secret_load(path, &sec, &err), 0);
    cr_assert(!sec.loose_mode);
}
