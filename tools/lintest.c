/* lintest: a history recorder for linearizability tests. N client threads run random
 * put/get/del/cas on a few keys against a cluster for a while, each operation recorded
 * with CLOCK_MONOTONIC invoke/complete times in the lincheck format (a write that timed
 * out or failed is indeterminate); then the history is checked and the verdict printed.
 *   lintest [--cluster H:P,...] [--threads N] [--keys K] [--duration S] [--timeout-ms MS]
 *           [--seed S] [--out FILE] [--stale] [--key-seconds S] [--secret-file PATH]
 * --key-seconds S moves the threads to K fresh keys every S seconds (as Jepsen's independent
 * keys): an indeterminate write stays open to the end of its key's history, so on long runs
 * with many faults one key's history would grow past what the checker can search.
 * --stale sends every get as a stale local read, thread i to node i mod n first: the
 * history is then expected NOT to be linearizable (a check of the checker).
 * Exit 0 linearizable, 1 not, 2 unknown or error. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "luminous/client.h"
#include "luminous/secret.h"
#include "luminous/kv.h"
#include "../tests/fault/lincheck.h"

#define LT_BACKOFF_US 200000 /* after a failed or indeterminate operation */

struct lt_cfg {
    const char *cluster, *out;
    char        prefix[32];   /* this run's keys: fresh, so absent at the start */
    int         threads, keys, duration_s, key_seconds;
    uint64_t    start_ns;
    uint32_t    timeout_ms;
    unsigned    seed;
    bool        stale;
    struct lum_secret secret; /* --secret-file; len 0: none */
};

struct lt_thread {
    pthread_t            tid;
    int                  no;
    const struct lt_cfg *cfg;
    char                *log;       /* history lines, malloc'd */
    size_t               log_len, log_cap;
    uint64_t             ops, indeterminate, failed;
};

static uint64_t lt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lt_log(struct lt_thread *t, const char *line)
{
    size_t n = strlen(line);
    if (t->log_len + n + 1 > t->log_cap) {
        t->log_cap = (t->log_cap + n + 1) * 2;
        t->log = realloc(t->log, t->log_cap);
        if (!t->log)
            abort();
    }
    memcpy(t->log + t->log_len, line, n);
    t->log_len += n;
    t->log[t->log_len++] = '\n';
}

/* The cluster list rotated so that node `first` comes first: where stale reads go. */
static void lt_rotate(const char *cluster, int first, char *out, size_t cap)
{
    char  buf[1024], *parts[LUM_CLIENT_NODES_MAX];
    int   n = 0;
    snprintf(buf, sizeof buf, "%s", cluster);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p && n < LUM_CLIENT_NODES_MAX;
         p = strtok_r(NULL, ",", &save))
        parts[n++] = p;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strncat(out, parts[(first + i) % n], cap - strlen(out) - 2);
        if (i + 1 < n)
            strcat(out, ",");
    }
}

static void *lt_run(void *arg)
{
    struct lt_thread *t = arg;
    const struct lt_cfg *cfg = t->cfg;
    struct lum_client *c = NULL, *rc = NULL;
    struct lum_err err = {{0}};
    char rot[1024];
    if (lum_client_open(cfg->cluster, cfg->timeout_ms, &c, &err) != 0) {
        fprintf(stderr, "lintest: open: %s\n", err.msg);
        return NULL;
    }
    if (cfg->secret.len > 0)
        lum_client_set_secret(c, cfg->secret.key, cfg->secret.len);
    lt_rotate(cfg->cluster, t->no, rot, sizeof rot);
    if (cfg->stale && lum_client_open(rot, cfg->timeout_ms, &rc, &err) != 0) {
        fprintf(stderr, "lintest: open: %s\n", err.msg);
        lum_client_close(c);
        return NULL;
    }
    if (rc && cfg->secret.len > 0)
        lum_client_set_secret(rc, cfg->secret.key, cfg->secret.len);
    unsigned seed = cfg->seed * 7919u + (unsigned)t->no;
    char last[16][64];  /* the last value this thread saw per key: cas's expected value */
    int  last_gen = -1;
    uint64_t end = lt_now_ns() + (uint64_t)cfg->duration_s * 1000000000ull;
    static __thread uint8_t body[4096];
    for (uint64_t seq = 0; lt_now_ns() < end; seq++) {
        int k = rand_r(&seed) % cfg->keys, what = rand_r(&seed) % 10;
        char key[48], val[64], line[512], res[80];
        int gen = cfg->key_seconds
                      ? (int)((lt_now_ns() - cfg->start_ns) / (cfg->key_seconds * 1000000000ull))
                      : 0;
        if (gen != last_gen) { /* fresh keys: absent, as far as this thread knows */
            last_gen = gen;
            for (int i = 0; i < 16; i++)
                snprintf(last[i], sizeof last[i], "none");
        }
        snprintf(key, sizeof key, "%s.g%d.k%d", cfg->prefix, gen, k);
        snprintf(val, sizeof val, "t%d.%llu", t->no, (unsigned long long)seq);
        struct lum_reply r;
        int len, rv;
        uint64_t inv, com;
        if (what < 4) { /* get */
            len = kv_encode_get(body, sizeof body, key, strlen(key));
            inv = lt_now_ns();
            rv = lum_client_query(cfg->stale ? rc : c, body, (uint32_t)len, cfg->stale, &r,
                                  &err);
            com = lt_now_ns();
            if (rv != 0 || r.status != 0 || (r.code != KV_OK && r.code != KV_NOT_FOUND)) {
                snprintf(res, sizeof res, "err"); /* a failed read changes nothing */
                t->failed++;
                usleep(LT_BACKOFF_US);
            } else if (r.code == KV_NOT_FOUND) {
                snprintf(res, sizeof res, "nil");
            } else {
                snprintf(res, sizeof res, "%.*s", (int)(r.len < 63 ? r.len : 63),
                         (const char *)r.data);
                snprintf(last[k], sizeof last[k], "%.63s", res);
            }
            snprintf(line, sizeof line, "c%d %llu %llu get %s %s", t->no,
                     (unsigned long long)inv, (unsigned long long)com, key, res);
        } else {
            const char *op;
            char args[160];
            uint16_t type;
            if (what < 7) {
                op = "put", type = KV_PUT;
                len = kv_encode_put(body, sizeof body, key, strlen(key), val, strlen(val), 0);
                snprintf(args, sizeof args, "%s", val);
            } else if (what < 8) {
                op = "del", type = KV_DEL;
                len = kv_encode_del(body, sizeof body, key, strlen(key));
                snprintf(args, sizeof args, "%s", "");
            } else {
                op = "cas", type = KV_CAS;
                len = kv_encode_cas(body, sizeof body, key, strlen(key), last[k],
                                    strlen(last[k]), val, strlen(val));
                snprintf(args, sizeof args, "%s %s", last[k], val);
            }
            inv = lt_now_ns();
            rv = lum_client_command(c, type, body, (uint32_t)len, &r, &err);
            com = lt_now_ns();
            if (rv != 0 || r.status != 0) {
                /* timed out, unreachable or refused after sending: it may have happened */
                snprintf(line, sizeof line, "c%d %llu - %s %s%s%s ?", t->no,
                         (unsigned long long)inv, op, key, args[0] ? " " : "", args);
                t->indeterminate++;
                /* back off, as a real client would: while the cluster is unavailable an
                 * error can come back at once, and every open write multiplies the
                 * checker's search */
                usleep(LT_BACKOFF_US);
            } else {
                const char *rs = r.code == KV_OK ? "ok"
                                 : type == KV_DEL && r.code == KV_NOT_FOUND ? "nf"
                                 : type == KV_CAS && r.code == KV_MISMATCH  ? "fail"
                                                                            : "err";
                if (type == KV_PUT || (type == KV_CAS && r.code == KV_OK))
                    snprintf(last[k], sizeof last[k], "%s", val);
                snprintf(line, sizeof line, "c%d %llu %llu %s %s%s%s %s", t->no,
                         (unsigned long long)inv, (unsigned long long)com, op, key,
                         args[0] ? " " : "", args, rs);
            }
        }
        t->ops++;
        lt_log(t, line);
    }
    lum_client_close(c);
    if (rc)
        lum_client_close(rc);
    return NULL;
}

int main(int argc, char **argv)
{
    struct lt_cfg cfg = {.cluster = LUM_CLUSTER_DEFAULT, .out = "lintest-history.txt",
                         .threads = 4, .keys = 5, .duration_s = 10, .timeout_ms = 1000,
                         .seed = 1};
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'}, {"threads", required_argument, NULL, 't'},
        {"keys", required_argument, NULL, 'k'},    {"duration", required_argument, NULL, 'd'},
        {"timeout-ms", required_argument, NULL, 'T'}, {"seed", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},     {"stale", no_argument, NULL, 'S'},
        {"key-seconds", required_argument, NULL, 'K'},
        {"secret-file", required_argument, NULL, 'F'}, {0, 0, 0, 0}};
    struct lum_err err;
    for (int ch; (ch = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (ch) {
        case 'c': cfg.cluster = optarg; break;
        case 't': cfg.threads = atoi(optarg); break;
        case 'k': cfg.keys = atoi(optarg); break;
        case 'd': cfg.duration_s = atoi(optarg); break;
        case 'T': cfg.timeout_ms = (uint32_t)atoi(optarg); break;
        case 's': cfg.seed = (unsigned)atoi(optarg); break;
        case 'o': cfg.out = optarg; break;
        case 'S': cfg.stale = true; break;
        case 'K': cfg.key_seconds = atoi(optarg); break;
        case 'F':
            if (lum_secret_load(optarg, &cfg.secret, &err) != 0) {
                fprintf(stderr, "lintest: --secret-file: %s\n", err.msg);
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: lintest [--cluster H:P,...] [--threads N] [--keys K] "
                            "[--duration S] [--timeout-ms MS] [--seed S] [--out FILE] "
                            "[--stale] [--key-seconds S] [--secret-file PATH]\n");
            return 2;
        }
    }
    if (cfg.threads < 1 || cfg.threads > 256 || cfg.keys < 1 || cfg.keys > 16 ||
        cfg.duration_s < 1 || cfg.timeout_ms < 1 || cfg.key_seconds < 0) {
        fprintf(stderr, "lintest: threads 1..256, keys 1..16, duration >= 1, timeout >= 1, "
                        "key-seconds >= 0\n");
        return 2;
    }
    /* A run's own keys: the checker's register starts absent, a reused cluster may hold
     * keys from an earlier run. */
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    snprintf(cfg.prefix, sizeof cfg.prefix, "lt%lx.%d", (unsigned long)rt.tv_sec, (int)getpid());
    cfg.start_ns = lt_now_ns();
    struct lt_thread *ts = calloc((size_t)cfg.threads, sizeof(*ts));
    for (int i = 0; i < cfg.threads; i++) {
        ts[i].no = i, ts[i].cfg = &cfg;
        pthread_create(&ts[i].tid, NULL, lt_run, &ts[i]);
    }
    FILE *f = fopen(cfg.out, "w");
    if (!f) {
        fprintf(stderr, "lintest: cannot write %s\n", cfg.out);
        return 2;
    }
    struct lin_history *h = lin_history_new();
    uint64_t ops = 0;
    for (int i = 0; i < cfg.threads; i++) {
        pthread_join(ts[i].tid, NULL);
        ops += ts[i].ops;
        fwrite(ts[i].log, 1, ts[i].log_len, f);
        char *p = ts[i].log, *e = ts[i].log + ts[i].log_len, errbuf[256];
        while (p < e) {
            char *nl = memchr(p, '\n', (size_t)(e - p));
            *nl = 0;
            if (lin_history_add_line(h, p, errbuf, sizeof errbuf) != 0)
                fprintf(stderr, "lintest: recorded a bad line (%s): %s\n", errbuf, p);
            p = nl + 1;
        }
        free(ts[i].log);
    }
    fclose(f);
    printf("lintest: %llu ops by %d threads in %d s, history in %s%s\n",
           (unsigned long long)ops, cfg.threads, cfg.duration_s, cfg.out,
           cfg.stale ? " (stale gets)" : "");
    /* Bounded at 1M states per key: a key whose search explodes (many writes left open by
     * timeouts) is reported unknown rather than hanging the run. */
    uint64_t c0 = lt_now_ns();
    enum lin_verdict v = lin_check(h, 1000000, stdout, NULL);
    printf("lintest: checker time %.2f s\n", (double)(lt_now_ns() - c0) / 1e9);
    lin_history_free(h);
    free(ts);
    return v == LIN_OK ? 0 : v == LIN_VIOLATION ? 1 : 2;
}
