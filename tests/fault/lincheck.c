/* The linearizability checker (lincheck.h): parse, split by key, and for each key a
 * Wing-Gong depth-first search over a linked list of call/return events, memoizing
 * (linearized set, register value) pairs so each pair is explored once (Lowe). */
#include "lincheck.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum lin_kind { OP_PUT, OP_GET, OP_DEL, OP_CAS };
enum lin_res { R_OK, R_FAIL, R_ERR, R_UNKNOWN }; /* for get: R_OK and value */

#define LIN_TIME_INF UINT64_MAX
#define LIN_ABSENT   (-1)

struct lin_op {
    char    *client, *key, *text; /* text: the original line */
    uint64_t invoke_ns, complete_ns;
    int      kind, res;
    char    *a, *b;               /* put: a=value; get: a=value or NULL; cas: a=old, b=new */
};

struct lin_history {
    struct lin_op *ops;
    size_t         count, cap;
};

struct lin_history *lin_history_new(void)
{
    return calloc(1, sizeof(struct lin_history));
}

void lin_history_free(struct lin_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->count; i++) {
        struct lin_op *o = &h->ops[i];
        free(o->client), free(o->key), free(o->text), free(o->a), free(o->b);
    }
    free(h->ops);
    free(h);
}

static bool lin_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

int lin_history_add_line(struct lin_history *h, const char *line, char *err, size_t err_cap)
{
    char  buf[4096];
    char *tok[10];
    int   n = 0;
    size_t len = strlen(line);
    if (len >= sizeof(buf)) {
        snprintf(err, err_cap, "line too long");
        return -1;
    }
    memcpy(buf, line, len + 1);
    for (char *save = NULL, *t = strtok_r(buf, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == 0 && t[0] == '#')
            return 0;
        if (n == 10) {
            snprintf(err, err_cap, "too many fields");
            return -1;
        }
        tok[n++] = t;
    }
    if (n == 0)
        return 0;
    struct lin_op o = {0};
    int args;
    if (n < 6) {
        snprintf(err, err_cap, "expected: client invoke complete op key args... result");
        return -1;
    }
    if (strcmp(tok[3], "put") == 0)
        o.kind = OP_PUT, args = 1;
    else if (strcmp(tok[3], "get") == 0)
        o.kind = OP_GET, args = 0;
    else if (strcmp(tok[3], "del") == 0)
        o.kind = OP_DEL, args = 0;
    else if (strcmp(tok[3], "cas") == 0)
        o.kind = OP_CAS, args = 2;
    else {
        snprintf(err, err_cap, "unknown op '%s'", tok[3]);
        return -1;
    }
    if (n != 6 + args) {
        snprintf(err, err_cap, "%s takes %d argument(s) and a result", tok[3], args);
        return -1;
    }
    if (!lin_parse_u64(tok[1], &o.invoke_ns)) {
        snprintf(err, err_cap, "bad invoke time '%s'", tok[1]);
        return -1;
    }
    if (strcmp(tok[2], "-") == 0)
        o.complete_ns = LIN_TIME_INF;
    else if (!lin_parse_u64(tok[2], &o.complete_ns) || o.complete_ns < o.invoke_ns) {
        snprintf(err, err_cap, "bad complete time '%s'", tok[2]);
        return -1;
    }
    const char *r = tok[5 + args];
    if (strcmp(r, "?") == 0 || o.complete_ns == LIN_TIME_INF)
        o.res = R_UNKNOWN, o.complete_ns = LIN_TIME_INF;
    else if (strcmp(r, "err") == 0)
        o.res = R_ERR;
    else if (o.kind == OP_GET)
        o.res = R_OK;
    else if (strcmp(r, "ok") == 0)
        o.res = R_OK;
    else if ((o.kind == OP_DEL && strcmp(r, "nf") == 0) ||
             (o.kind == OP_CAS && strcmp(r, "fail") == 0))
        o.res = R_FAIL;
    else {
        snprintf(err, err_cap, "bad result '%s' for %s", r, tok[3]);
        return -1;
    }
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct lin_op *ops = realloc(h->ops, cap * sizeof(*ops));
        if (!ops) {
            snprintf(err, err_cap, "out of memory");
            return -1;
        }
        h->ops = ops, h->cap = cap;
    }
    o.client = strdup(tok[0]);
    o.key = strdup(tok[4]);
    if (o.kind == OP_PUT || o.kind == OP_CAS)
        o.a = strdup(tok[5]);
    if (o.kind == OP_CAS)
        o.b = strdup(tok[6]);
    if (o.kind == OP_GET && o.res == R_OK && strcmp(r, "nil") != 0)
        o.a = strdup(r);
    o.text = strdup(line);
    size_t tl = strlen(o.text);
    while (tl && (o.text[tl - 1] == '\n' || o.text[tl - 1] == '\r'))
        o.text[--tl] = 0;
    h->ops[h->count++] = o;
    return 0;
}

int lin_history_load(struct lin_history *h, const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_cap, "%s: cannot open", path);
        return -1;
    }
    char line[4096], why[256];
    unsigned long no = 0;
    while (fgets(line, sizeof(line), f)) {
        no++;
        if (lin_history_add_line(h, line, why, sizeof(why)) != 0) {
            snprintf(err, err_cap, "%s:%lu: %s", path, no, why);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* ---- one key ------------------------------------------------------------------------- */

struct lin_kop { /* an operation of one key, values interned as small integers */
    const struct lin_op *op;
    int kind, res, a, b;  /* a, b: value ids, LIN_ABSENT for a get of nil */
};

struct lin_event {
    struct lin_event *prev, *next, *match; /* match: a call's return event */
    int  id;                               /* index into the key's ops */
    bool is_call;
    uint64_t t;
};

struct lin_cache { /* open addressing set of (bitset, value) */
    uint64_t *words;   /* slots * (nwords + 1): the bitset then the value (+2) */
    uint8_t  *used;
    size_t    slots, count, nwords;
};

static uint64_t lin_hash(const uint64_t *bits, size_t nwords, int64_t v)
{
    uint64_t x = 1469598103934665603ull ^ (uint64_t)v;
    for (size_t i = 0; i < nwords; i++)
        x = (x ^ bits[i]) * 1099511628211ull, x ^= x >> 29;
    return x;
}

static bool lin_cache_insert(struct lin_cache *c, const uint64_t *bits, int64_t v);

static bool lin_cache_grow(struct lin_cache *c)
{
    struct lin_cache n = {.slots = c->slots ? c->slots * 2 : 1024, .nwords = c->nwords};
    n.words = malloc(n.slots * (n.nwords + 1) * sizeof(uint64_t));
    n.used = calloc(n.slots, 1);
    if (!n.words || !n.used) {
        free(n.words), free(n.used);
        return false;
    }
    for (size_t i = 0; i < c->slots; i++)
        if (c->used[i]) {
            uint64_t *w = c->words + i * (c->nwords + 1);
            lin_cache_insert(&n, w, (int64_t)w[c->nwords]);
        }
    free(c->words), free(c->used);
    *c = n;
    return true;
}

/* true if newly inserted, false if already there (or out of memory: treated as seen
 * would be unsound, so the caller checks count against its cap first). */
static bool lin_cache_insert(struct lin_cache *c, const uint64_t *bits, int64_t v)
{
    if ((c->count + 1) * 2 > c->slots && !lin_cache_grow(c))
        abort();
    size_t stride = c->nwords + 1;
    size_t i = lin_hash(bits, c->nwords, v) & (c->slots - 1);
    for (;; i = (i + 1) & (c->slots - 1)) {
        uint64_t *w = c->words + i * stride;
        if (!c->used[i]) {
            memcpy(w, bits, c->nwords * sizeof(uint64_t));
            w[c->nwords] = (uint64_t)v;
            c->used[i] = 1;
            c->count++;
            return true;
        }
        if (w[c->nwords] == (uint64_t)v && memcmp(w, bits, c->nwords * sizeof(uint64_t)) == 0)
            return false;
    }
}

/* The register's transition: true and *next if op may take effect in state s. */
static bool lin_step(const struct lin_kop *o, int s, int *next)
{
    *next = s;
    switch (o->kind) {
    case OP_PUT:
        *next = o->a;
        return true;
    case OP_GET:
        return o->res == R_UNKNOWN || o->a == s;
    case OP_DEL:
        *next = LIN_ABSENT;
        if (o->res == R_OK)
            return s != LIN_ABSENT;
        if (o->res == R_FAIL)
            return s == LIN_ABSENT;
        return true;
    case OP_CAS:
        if (o->res == R_OK) {
            *next = o->b;
            return s == o->a;
        }
        if (o->res == R_FAIL)
            return s != o->a;
        if (s == o->a)
            *next = o->b;
        return true;
    }
    return false;
}

static int lin_event_cmp(const void *x, const void *y)
{
    const struct lin_event *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->is_call != b->is_call) /* at equal times calls first: the more lenient order */
        return a->is_call ? -1 : 1;
    return a->id - b->id;
}

struct lin_key_report {
    enum lin_verdict verdict;
    uint64_t states;
    int stuck;        /* the op whose return could not be passed, at the deepest point */
    int depth_best;
    int last_lin;     /* the last op linearized on that deepest path, or -1 */
};

static enum lin_verdict lin_check_key(struct lin_kop *ops, int n, uint64_t states_max,
                                      struct lin_key_report *rep)
{
    struct lin_event *ev = calloc((size_t)(2 * n + 1), sizeof(*ev));
    struct lin_event **stack_e = calloc((size_t)n + 1, sizeof(*stack_e));
    int *stack_s = calloc((size_t)n + 1, sizeof(int));
    size_t nwords = ((size_t)n + 63) / 64 + 1;
    uint64_t *bits = calloc(nwords, sizeof(uint64_t));
    struct lin_cache cache = {.nwords = nwords};
    if (!ev || !stack_e || !stack_s || !bits)
        abort();
    for (int i = 0; i < n; i++) {
        ev[2 * i] = (struct lin_event){.id = i, .is_call = true, .t = ops[i].op->invoke_ns};
        ev[2 * i + 1] = (struct lin_event){.id = i, .is_call = false,
                                           .t = ops[i].op->complete_ns};
    }
    qsort(ev, (size_t)2 * n, sizeof(*ev), lin_event_cmp);
    struct lin_event **ret = calloc((size_t)n + 1, sizeof(*ret));
    for (int i = 0; i < 2 * n; i++)
        if (!ev[i].is_call)
            ret[ev[i].id] = &ev[i];
    struct lin_event head = {0};
    struct lin_event *prev = &head;
    for (int i = 0; i < 2 * n; i++) {
        ev[i].prev = prev, prev->next = &ev[i], prev = &ev[i];
        if (ev[i].is_call)
            ev[i].match = ret[ev[i].id];
    }
    rep->verdict = LIN_OK, rep->stuck = -1, rep->depth_best = -1, rep->last_lin = -1;
    int depth = 0, state = LIN_ABSENT;
    struct lin_event *e = head.next;
    while (head.next) {
        if (e->is_call) {
            int next;
            if (lin_step(&ops[e->id], state, &next)) {
                bits[e->id / 64] |= 1ull << (e->id % 64);
                if (cache.count >= states_max) {
                    rep->verdict = LIN_UNKNOWN;
                    break;
                }
                if (lin_cache_insert(&cache, bits, next)) {
                    stack_e[depth] = e, stack_s[depth] = state, depth++;
                    state = next;
                    /* lift the call and its return out of the list */
                    e->prev->next = e->next;
                    if (e->next)
                        e->next->prev = e->prev;
                    struct lin_event *m = e->match;
                    m->prev->next = m->next;
                    if (m->next)
                        m->next->prev = m->prev;
                    e = head.next;
                    continue;
                }
                bits[e->id / 64] &= ~(1ull << (e->id % 64));
            }
            e = e->next;
        } else {
            if (depth > rep->depth_best) {
                rep->depth_best = depth, rep->stuck = e->id;
                rep->last_lin = depth ? stack_e[depth - 1]->id : -1;
            }
            if (depth == 0) {
                rep->verdict = LIN_VIOLATION;
                break;
            }
            depth--;
            e = stack_e[depth], state = stack_s[depth];
            bits[e->id / 64] &= ~(1ull << (e->id % 64));
            struct lin_event *m = e->match; /* unlift, return first */
            m->prev->next = m;
            if (m->next)
                m->next->prev = m;
            e->prev->next = e;
            if (e->next)
                e->next->prev = e;
            e = e->next;
        }
    }
    rep->states = cache.count;
    free(cache.words), free(cache.used), free(ev), free(stack_e), free(stack_s), free(bits);
    free(ret);
    return rep->verdict;
}

/* ---- all keys ------------------------------------------------------------------------ */

static int lin_cmp_key(const void *x, const void *y)
{
    const struct lin_op *const *a = x, *const *b = y;
    int c = strcmp((*a)->key, (*b)->key);
    if (c)
        return c;
    return (*a)->invoke_ns < (*b)->invoke_ns ? -1 : (*a)->invoke_ns > (*b)->invoke_ns;
}

static int lin_intern(const char ***vals, int *count, const char *v)
{
    if (!v)
        return LIN_ABSENT;
    for (int i = 0; i < *count; i++)
        if (strcmp((*vals)[i], v) == 0)
            return i;
    *vals = realloc(*vals, (size_t)(*count + 1) * sizeof(char *));
    (*vals)[*count] = v;
    return (*count)++;
}

static void lin_print_op(FILE *out, const struct lin_op *o, const char *mark)
{
    fprintf(out, "    %s %s\n", mark, o->text);
}

enum lin_verdict lin_check(const struct lin_history *h, uint64_t states_max, FILE *out,
                           struct lin_counts *counts_out)
{
    if (states_max == 0)
        states_max = 10000000;
    const struct lin_op **sorted = malloc((h->count + 1) * sizeof(*sorted));
    struct lin_kop *kops = malloc((h->count + 1) * sizeof(*kops));
    for (size_t i = 0; i < h->count; i++)
        sorted[i] = &h->ops[i];
    qsort(sorted, h->count, sizeof(*sorted), lin_cmp_key);
    struct lin_counts total = {0};
    enum lin_verdict overall = LIN_OK;
    size_t keys = 0, keys_bad = 0, keys_unknown = 0;
    for (size_t i = 0; i < h->count;) {
        size_t j = i;
        while (j < h->count && strcmp(sorted[j]->key, sorted[i]->key) == 0)
            j++;
        struct lin_counts c = {0};
        const char **vals = NULL;
        int nvals = 0, n = 0;
        for (size_t k = i; k < j; k++) {
            const struct lin_op *o = sorted[k];
            if (o->res == R_ERR) {
                c.failed++;
                continue;
            }
            if (o->res == R_UNKNOWN)
                c.indeterminate++;
            else
                c.ok++;
            if (o->kind == OP_GET && o->res == R_UNKNOWN)
                continue; /* constrains nothing and changes nothing */
            kops[n++] = (struct lin_kop){.op = o, .kind = o->kind, .res = o->res,
                                         .a = lin_intern(&vals, &nvals, o->a),
                                         .b = lin_intern(&vals, &nvals, o->b)};
        }
        /* An indeterminate put or cas whose new value nobody ever read (nor expected) may be
         * taken not to have happened: a linearization without it is one of the history with
         * it. Dropping them first keeps long faulty histories checkable (each open write
         * otherwise doubles the search); only when that finds no order is the full set
         * searched, so a violation is never reported on the reduced history alone. */
        bool *seen = calloc((size_t)nvals + 1, sizeof(bool));
        for (int k = 0; k < n; k++)
            if ((kops[k].kind == OP_GET || kops[k].kind == OP_CAS) && kops[k].a >= 0)
                seen[kops[k].a] = true;
        struct lin_kop *red = malloc(((size_t)n + 1) * sizeof(*red));
        int nr = 0;
        for (int k = 0; k < n; k++) {
            const struct lin_kop *o = &kops[k];
            int wrote = o->kind == OP_PUT ? o->a : o->kind == OP_CAS ? o->b : -1;
            if (o->res == R_UNKNOWN && wrote >= 0 && !seen[wrote])
                continue;
            red[nr++] = *o;
        }
        struct lin_key_report rep;
        enum lin_verdict v = lin_check_key(red, nr, states_max, &rep);
        if (v == LIN_OK || nr == n) {
            memcpy(kops, red, (size_t)nr * sizeof(*red)); /* rep's indices are into red */
            n = nr;
        } else {
            v = lin_check_key(kops, n, states_max, &rep);
        }
        free(seen), free(red);
        keys++;
        total.ok += c.ok, total.failed += c.failed, total.indeterminate += c.indeterminate;
        if (out) {
            fprintf(out, "key %s: ops ok %" PRIu64 " failed %" PRIu64
                         " indeterminate %" PRIu64 ", states %" PRIu64 ": %s\n",
                    sorted[i]->key, c.ok, c.failed, c.indeterminate, rep.states,
                    v == LIN_OK ? "linearizable"
                    : v == LIN_UNKNOWN ? "unknown (search limit)" : "NOT linearizable");
        }
        if (v == LIN_VIOLATION) {
            keys_bad++;
            overall = LIN_VIOLATION;
            if (out) {
                /* The window: at the deepest point the search reached, the operation whose
                 * completion no order could pass, the last one linearized before it, and
                 * every operation concurrent with the stuck one. */
                const struct lin_op *s = kops[rep.stuck].op;
                fprintf(out, "NOT linearizable: key %s: minimal failing window "
                             "(%d ops linearized before it):\n", s->key, rep.depth_best);
                if (rep.last_lin >= 0)
                    lin_print_op(out, kops[rep.last_lin].op, "last linearized:");
                lin_print_op(out, s, "cannot linearize:");
                for (int k = 0; k < n; k++) {
                    const struct lin_op *o = kops[k].op;
                    if (k != rep.stuck && k != rep.last_lin && o->invoke_ns <= s->complete_ns &&
                        o->complete_ns >= s->invoke_ns)
                        lin_print_op(out, o, "concurrent:");
                }
            }
        } else if (v == LIN_UNKNOWN) {
            keys_unknown++;
            if (overall == LIN_OK)
                overall = LIN_UNKNOWN;
        }
        free(vals);
        i = j;
    }
    if (out) {
        fprintf(out, "overall: %zu keys, ops ok %" PRIu64 " failed %" PRIu64
                     " indeterminate %" PRIu64 ": %s\n",
                keys, total.ok, total.failed, total.indeterminate,
                overall == LIN_OK ? "linearizable"
                : overall == LIN_UNKNOWN ? "unknown (search limit)" : "NOT linearizable");
        (void)keys_bad;
    }
    if (counts_out)
        *counts_out = total;
    free(sorted), free(kops);
    return overall;
}
