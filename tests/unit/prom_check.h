/* A strict checker of the Prometheus text format 0.0.4, for the tests (unit: the writer;
 * cluster: a live /metrics). Header-only, so both test binaries include it. Stricter than
 * Prometheus itself, on purpose: every line is one of
 *   # HELP name text                 (text escapes: \\ and \n only)
 *   # TYPE name counter|gauge|histogram|summary|untyped
 *   name{label="value",...} value    (labels optional; value escapes \\ \" \n; value a float,
 *                                     NaN, +Inf or -Inf; an optional integer timestamp)
 * names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not "__..."); a
 * family's TYPE comes before its samples, once, and its samples follow it together; a
 * counter's name ends in _total; a histogram's samples are name_bucket (with le), name_sum
 * and name_count; its buckets per series have ascending le and non-decreasing counts, end
 * at le="+Inf", which equals name_count; no series appears twice; the text ends in \n. */
#ifndef LUMINOUS_TESTS_PROM_CHECK_H
#define LUMINOUS_TESTS_PROM_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_CHECK_NAME_MAX   128u
#define PROM_CHECK_LABELS_MAX 512u
#define PROM_CHECK_SERIES_MAX 64u   /* histogram series per family */

struct prom_check_hseries {
    char   key[PROM_CHECK_LABELS_MAX];  /* the labels but le */
    double last_le, last_count, inf, count;
    bool   any_bucket, has_inf, has_count, has_sum;
};

struct prom_check {
    int    line;
    char  *err;
    size_t errcap;
    char   family[PROM_CHECK_NAME_MAX];   /* the family of the last TYPE                     */
    char   type[16];
    bool   family_has_samples;
    char **seen_families;                 /* every TYPE'd name so far                        */
    size_t n_families;
    char  *helped;                        /* "\nname\n" per HELP, to refuse a second one     */
    size_t helped_len;
    char **series;                        /* "name{labels}" of every sample                  */
    size_t n_series;
    struct prom_check_hseries hs[PROM_CHECK_SERIES_MAX];
    size_t n_hs;
};

__attribute__((format(printf, 2, 3)))
static int prom_check_fail(struct prom_check *pc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(pc->err, pc->errcap, "line %d: %s", pc->line, msg);
    return -1;
}

static bool prom_check_name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Length of the name at s (0 if none). */
static size_t prom_check_name(const char *s, size_t n, bool colon)
{
    size_t i = 0;
    while (i < n && prom_check_name_char(s[i], i == 0, colon))
        i++;
    return i;
}

/* A float as Go's ParseFloat takes it, minus hex and other spellings: [+-]digits[.digits]
 * [e[+-]digits], or NaN, +Inf, -Inf. */
static bool prom_check_value(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "NaN") == 0) {
        *out = NAN;
        return true;
    }
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0) {
        *out = buf[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    size_t i = 0;
    if (buf[i] == '+' || buf[i] == '-')
        i++;
    size_t digits = 0;
    while (buf[i] >= '0' && buf[i] <= '9')
        i++, digits++;
    if (buf[i] == '.') {
        i++;
        while (buf[i] >= '0' && buf[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (buf[i] == 'e' || buf[i] == 'E') {
        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        size_t exp = 0;
        while (buf[i] >= '0' && buf[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    if (buf[i] != '\0')
        return false;
    *out = strtod(buf, NULL);
    return true;
}

static bool prom_check_has_suffix(const char *s, const char *suffix, size_t *stem_len)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix) != 0)
        return false;
    *stem_len = n - k;
    return true;
}

/* The histogram series of the current family with these labels (le taken out). */
static struct prom_check_hseries *prom_check_hseries(struct prom_check *pc, const char *key)
{
    for (size_t i = 0; i < pc->n_hs; i++)
        if (strcmp(pc->hs[i].key, key) == 0)
            return &pc->hs[i];
    if (pc->n_hs == PROM_CHECK_SERIES_MAX)
        return NULL;
    struct prom_check_hseries *h = &pc->hs[pc->n_hs++];
    memset(h, 0, sizeof *h);
    snprintf(h->key, sizeof h->key, "%s", key);
    return h;
}

/* The end of a family: its histogram series must be whole. */
static int prom_check_end_family(struct prom_check *pc)
{
    if (strcmp(pc->type, "histogram") == 0) {
        for (size_t i = 0; i < pc->n_hs; i++) {
            struct prom_check_hseries *h = &pc->hs[i];
            if (!h->has_inf)
                return prom_check_fail(pc, "histogram %s{%s}: no le=\"+Inf\" bucket", pc->family,
                                       h->key);
            if (!h->has_count || !h->has_sum)
                return prom_check_fail(pc, "histogram %s{%s}: no _count or _sum", pc->family,
                                       h->key);
            if (h->inf != h->count)
                return prom_check_fail(pc, "histogram %s{%s}: +Inf bucket %g != _count %g",
                                       pc->family, h->key, h->inf, h->count);
        }
    }
    pc->n_hs = 0;
    return 0;
}

static int prom_check_comment(struct prom_check *pc, const char *s, size_t n)
{
    bool help = n >= 7 && memcmp(s, "# HELP ", 7) == 0;
    bool type = n >= 7 && memcmp(s, "# TYPE ", 7) == 0;
    if (!help && !type)
        return prom_check_fail(pc, "a comment that is not # HELP or # TYPE");
    s += 7, n -= 7;
    size_t k = prom_check_name(s, n, true);
    if (k == 0 || k >= PROM_CHECK_NAME_MAX)
        return prom_check_fail(pc, "bad metric name");
    char name[PROM_CHECK_NAME_MAX];
    memcpy(name, s, k);
    name[k] = '\0';
    if (help) {
        if (k == n) /* "# HELP name" with no text is allowed */
            return 0;
        if (s[k] != ' ')
            return prom_check_fail(pc, "HELP %s: no space after the name", name);
        for (size_t i = k + 1; i < n; i++)
            if (s[i] == '\\' && (i + 1 == n || (s[i + 1] != '\\' && s[i + 1] != 'n')))
                return prom_check_fail(pc, "HELP %s: bad escape", name);
            else if (s[i] == '\\')
                i++;
        char key[PROM_CHECK_NAME_MAX + 2];
        snprintf(key, sizeof key, "\n%s\n", name);
        if (pc->helped && strstr(pc->helped, key))
            return prom_check_fail(pc, "second HELP for %s", name);
        pc->helped = realloc(pc->helped, pc->helped_len + strlen(key) + 1);
        strcpy(pc->helped + pc->helped_len, key);
        pc->helped_len += strlen(key) - 1; /* the newlines are shared between entries */
        return 0;
    }
    if (k == n || s[k] != ' ')
        return prom_check_fail(pc, "TYPE %s: no type", name);
    const char *t = s + k + 1;
    size_t tn = n - k - 1;
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    size_t ti = 0;
    while (ti < 5 && !(strlen(types[ti]) == tn && memcmp(t, types[ti], tn) == 0))
        ti++;
    if (ti == 5)
        return prom_check_fail(pc, "TYPE %s: unknown type \"%.*s\"", name, (int)tn, t);
    for (size_t i = 0; i < pc->n_families; i++)
        if (strcmp(pc->seen_families[i], name) == 0)
            return prom_check_fail(pc, "second TYPE for %s", name);
    size_t stem;
    if (ti == 0 && !prom_check_has_suffix(name, "_total", &stem))
        return prom_check_fail(pc, "counter %s: name does not end in _total", name);
    if (prom_check_end_family(pc) != 0)
        return -1;
    pc->seen_families = realloc(pc->seen_families, (pc->n_families + 1) * sizeof(char *));
    pc->seen_families[pc->n_families++] = strdup(name);
    snprintf(pc->family, sizeof pc->family, "%s", name);
    snprintf(pc->type, sizeof pc->type, "%s", types[ti]);
    pc->family_has_samples = false;
    return 0;
}

/* {name="value",...}: checks it, and writes the labels but le to key (sorted as sent) and
 * le's value to le (or "" if none). Returns the length of the braces, or -1. */
static long prom_check_labels(struct prom_check *pc, const char *s, size_t n, char *key,
                              size_t keycap, char *le, size_t lecap)
{
    key[0] = le[0] = '\0';
    size_t keylen = 0;
    if (n == 0 || s[0] != '{')
        return 0;
    size_t i = 1;
    char names[16][PROM_CHECK_NAME_MAX];
    size_t n_names = 0;
    if (i < n && s[i] == '}')
        return 2;
    for (;;) {
        size_t k = prom_check_name(s + i, n - i, false);
        if (k == 0 || k >= PROM_CHECK_NAME_MAX)
            return prom_check_fail(pc, "bad label name");
        if (k >= 2 && s[i] == '_' && s[i + 1] == '_')
            return prom_check_fail(pc, "label names starting with __ are reserved");
        char lname[PROM_CHECK_NAME_MAX];
        memcpy(lname, s + i, k);
        lname[k] = '\0';
        for (size_t j = 0; j < n_names; j++)
            if (strcmp(names[j], lname) == 0)
                return prom_check_fail(pc, "label %s twice", lname);
        if (n_names == 16)
            return prom_check_fail(pc, "too many labels");
        snprintf(names[n_names++], PROM_CHECK_NAME_MAX, "%s", lname);
        i += k;
        if (i + 1 >= n || s[i] != '=' || s[i + 1] != '"')
            return prom_check_fail(pc, "label %s: expected =\"", lname);
        i += 2;
        size_t v = i;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\') {
                if (i + 1 >= n || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n'))
                    return prom_check_fail(pc, "label %s: bad escape", lname);
                i++;
            }
            i++;
        }
        if (i >= n)
            return prom_check_fail(pc, "label %s: unterminated value", lname);
        if (strcmp(lname, "le") == 0)
            snprintf(le, lecap, "%.*s", (int)(i - v), s + v);
        else
            keylen += (size_t)snprintf(key + keylen, keycap > keylen ? keycap - keylen : 0,
                                       "%s%s=\"%.*s\"", keylen ? "," : "", lname, (int)(i - v),
                                       s + v);
        i++;
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}')
            return (long)(i + 1);
        return prom_check_fail(pc, "labels: expected , or }");
    }
}

static int prom_check_histogram_sample(struct prom_check *pc, const char *name, const char *key,
                                       const char *le, double v)
{
    size_t stem;
    const char *f = pc->family;
    bool bucket = prom_check_has_suffix(name, "_bucket", &stem) && stem == strlen(f) &&
                  strncmp(name, f, stem) == 0;
    bool sum = prom_check_has_suffix(name, "_sum", &stem) && stem == strlen(f) &&
               strncmp(name, f, stem) == 0;
    bool count = prom_check_has_suffix(name, "_count", &stem) && stem == strlen(f) &&
                 strncmp(name, f, stem) == 0;
    if (!bucket && !sum && !count)
        return prom_check_fail(pc, "%s is not a sample of histogram %s", name, f);
    struct prom_check_hseries *h = prom_check_hseries(pc, key);
    if (!h)
        return prom_check_fail(pc, "too many series in histogram %s", f);
    if (!bucket) {
        if (le[0])
            return prom_check_fail(pc, "%s has an le label", name);
        if (sum)
            h->has_sum = true;
        else {
            if (v < 0 || v != floor(v))
                return prom_check_fail(pc, "%s: a count must be a whole number", name);
            h->has_count = true;
            h->count = v;
        }
        return 0;
    }
    double bound;
    if (!le[0] || !prom_check_value(le, strlen(le), &bound) || isnan(bound))
        return prom_check_fail(pc, "%s: bad or missing le", name);
    if (h->has_inf)
        return prom_check_fail(pc, "%s: a bucket after le=\"+Inf\"", name);
    if (h->any_bucket && bound <= h->last_le)
        return prom_check_fail(pc, "%s: le %s not above the previous bucket's", name, le);
    if (h->any_bucket && v < h->last_count)
        return prom_check_fail(pc, "%s{le=\"%s\"}: %g below the previous bucket's %g (not "
                               "cumulative)", name, le, v, h->last_count);
    h->any_bucket = true;
    h->last_le = bound;
    h->last_count = v;
    if (isinf(bound) && bound > 0) {
        h->has_inf = true;
        h->inf = v;
    }
    return 0;
}

static int prom_check_sample(struct prom_check *pc, const char *s, size_t n)
{
    size_t k = prom_check_name(s, n, true);
    if (k == 0 || k >= PROM_CHECK_NAME_MAX)
        return prom_check_fail(pc, "bad metric name");
    char name[PROM_CHECK_NAME_MAX];
    memcpy(name, s, k);
    name[k] = '\0';
    char key[PROM_CHECK_LABELS_MAX], le[64];
    long lb = prom_check_labels(pc, s + k, n - k, key, sizeof key, le, sizeof le);
    if (lb < 0)
        return -1;
    size_t i = k + (size_t)lb;
    if (i >= n || s[i] != ' ')
        return prom_check_fail(pc, "%s: expected a space before the value", name);
    i++;
    size_t v0 = i;
    while (i < n && s[i] != ' ')
        i++;
    double v;
    if (!prom_check_value(s + v0, i - v0, &v))
        return prom_check_fail(pc, "%s: bad value \"%.*s\"", name, (int)(i - v0), s + v0);
    if (i < n) { /* a timestamp: an integer of milliseconds */
        i++;
        size_t t0 = i;
        if (i < n && s[i] == '-')
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i != n || i == t0)
            return prom_check_fail(pc, "%s: bad timestamp", name);
    }
    if (!pc->family[0])
        return prom_check_fail(pc, "sample %s before any TYPE", name);
    char series[PROM_CHECK_NAME_MAX + PROM_CHECK_LABELS_MAX + 80];
    snprintf(series, sizeof series, "%s{%s,le=%s}", name, key, le);
    for (size_t j = 0; j < pc->n_series; j++)
        if (strcmp(pc->series[j], series) == 0)
            return prom_check_fail(pc, "series %s twice", series);
    pc->series = realloc(pc->series, (pc->n_series + 1) * sizeof(char *));
    pc->series[pc->n_series++] = strdup(series);
    pc->family_has_samples = true;
    if (strcmp(pc->type, "histogram") == 0)
        return prom_check_histogram_sample(pc, name, key, le, v);
    size_t stem;
    if (strcmp(pc->type, "summary") == 0 &&
        (prom_check_has_suffix(name, "_sum", &stem) ||
         prom_check_has_suffix(name, "_count", &stem)) &&
        stem == strlen(pc->family) && strncmp(name, pc->family, stem) == 0)
        return 0;
    if (strcmp(name, pc->family) != 0)
        return prom_check_fail(pc, "sample %s outside its family (the last TYPE was %s)", name,
                               pc->family);
    if (strcmp(pc->type, "counter") == 0 && (v < 0 || isnan(v)))
        return prom_check_fail(pc, "counter %s is negative or NaN", name);
    return 0;
}

static void prom_check_free(struct prom_check *pc)
{
    for (size_t i = 0; i < pc->n_families; i++)
        free(pc->seen_families[i]);
    for (size_t i = 0; i < pc->n_series; i++)
        free(pc->series[i]);
    free(pc->seen_families);
    free(pc->series);
    free(pc->helped);
}

/* 0 if text[0..len) is valid, else -1 with "line N: why" in err. */
static inline int prom_check_text(const char *text, size_t len, char *err, size_t errcap)
{
    struct prom_check pc = {.err = err, .errcap = errcap};
    int rv = 0;
    err[0] = '\0';
    size_t pos = 0;
    while (rv == 0 && pos < len) {
        pc.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) {
            rv = prom_check_fail(&pc, "the text does not end in a newline");
            break;
        }
        const char *s = text + pos;
        size_t n = (size_t)(nl - s);
        pos += n + 1;
        if (n == 0)
            rv = prom_check_fail(&pc, "an empty line");
        else if (memchr(s, '\0', n) || memchr(s, '\r', n))
            rv = prom_check_fail(&pc, "a NUL or CR in a line");
        else if (s[0] == '#')
            rv = prom_check_comment(&pc, s, n);
        else
            rv = prom_check_sample(&pc, s, n);
    }
    if (rv == 0)
        rv = prom_check_end_family(&pc);
    if (rv == 0 && pc.n_series == 0)
        rv = prom_check_fail(&pc, "no samples at all");
    prom_check_free(&pc);
    return rv;
}

#endif
