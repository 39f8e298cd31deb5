/* The Prometheus text exposition format, version 0.0.4: what /metrics writes, one family at
 * a time (# HELP, # TYPE, then its samples), and the growing buffer it writes into.
 *   # HELP name text          text: \\ and \n escaped
 *   # TYPE name counter|gauge|histogram
 *   name{label="value",...} number        label values: \\, \" and \n escaped
 * Histogram buckets are cumulative, the last is le="+Inf" and equals name_count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/base.h"
#include "http_int.h"

/* ---- strbuf ---------------------------------------------------------------------------------- */

void strbuf_init(struct strbuf *b, size_t max)
{
    *b = (struct strbuf){.max = max};
}

void strbuf_free(struct strbuf *b)
{
    free(b->data);
    *b = (struct strbuf){0};
}

static bool strbuf_room(struct strbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->max && b->len + n + 1 > b->max) {
        b->failed = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    if (b->max && cap > b->max)
        cap = b->max;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void strbuf_add(struct strbuf *b, const char *s, size_t n)
{
    if (!strbuf_room(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        strbuf_add(b, small, (size_t)n);
        return;
    }
    if (!strbuf_room(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- histograms ------------------------------------------------------------------------------ */

void prom_hist_init(struct prom_hist *h, const double *bounds, uint32_t n_bounds)
{
    LUM_ASSERT(n_bounds <= PROM_HIST_BOUNDS_MAX);
    *h = (struct prom_hist){.bounds = bounds, .n_bounds = n_bounds};
}

void prom_hist_observe(struct prom_hist *h, double v)
{
    uint32_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* HELP text: backslash and newline escaped; label values also the double quote. */
static void prom_escaped(struct strbuf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            strbuf_add(b, "\\\\", 2);
        else if (*s == '\n')
            strbuf_add(b, "\\n", 2);
        else if (quote && *s == '"')
            strbuf_add(b, "\\\"", 2);
        else
            strbuf_add(b, s, 1);
    }
}

void prom_family(struct strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s ", name);
    prom_escaped(b, help, false);
    strbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void prom_name_labels(struct strbuf *b, const char *name, const struct prom_label *labels,
                             size_t n_labels)
{
    strbuf_add(b, name, strlen(name));
    if (n_labels == 0)
        return;
    strbuf_add(b, "{", 1);
    for (size_t i = 0; i < n_labels; i++) {
        strbuf_printf(b, "%s%s=\"", i ? "," : "", labels[i].name);
        prom_escaped(b, labels[i].value, true);
        strbuf_add(b, "\"", 1);
    }
    strbuf_add(b, "}", 1);
}

void prom_sample_u64(struct strbuf *b, const char *name, const struct prom_label *labels,
                     size_t n_labels, uint64_t v)
{
    prom_name_labels(b, name, labels, n_labels);
    strbuf_printf(b, " %llu\n", (unsigned long long)v);
}

/* Go's ParseFloat reads these: "NaN", "+Inf", "-Inf"; %.15g keeps 15 significant digits
 * without the binary noise of %.17g. */
static void prom_number(struct strbuf *b, double v)
{
    if (isnan(v))
        strbuf_add(b, "NaN", 3);
    else if (isinf(v))
        strbuf_printf(b, "%cInf", v > 0 ? '+' : '-');
    else
        strbuf_printf(b, "%.15g", v);
}

void prom_sample_f64(struct strbuf *b, const char *name, const struct prom_label *labels,
                     size_t n_labels, double v)
{
    prom_name_labels(b, name, labels, n_labels);
    strbuf_add(b, " ", 1);
    prom_number(b, v);
    strbuf_add(b, "\n", 1);
}

void prom_histogram(struct strbuf *b, const char *name, const char *help,
                    const struct prom_hist *h)
{
    char series[128];
    prom_family(b, name, "histogram", help);
    snprintf(series, sizeof series, "%s_bucket", name);
    uint64_t cumulative = 0;
    for (uint32_t i = 0; i <= h->n_bounds; i++) {
        cumulative += h->buckets[i];
        char le[40];
        if (i == h->n_bounds)
            snprintf(le, sizeof le, "+Inf");
        else
            snprintf(le, sizeof le, "%g", h->bounds[i]);
        struct prom_label l = {"le", le};
        prom_sample_u64(b, series, &l, 1, cumulative);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    prom_sample_f64(b, series, NULL, 0, h->sum);
    snprintf(series, sizeof series, "%s_count", name);
    prom_sample_u64(b, series, NULL, 0, h->count);
}
