/* guestbook: one program for both sides of the example. `guestbook serve CONFIG` runs a
 * Luminous server whose state machine is the guestbook (guestbook_fsm.c); `sign` and `read`
 * talk to a cluster of them through the client library. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <luminous/client.h>
#include <luminous/server.h>
#include <luminous/version.h>

#include "guestbook.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: guestbook serve CONFIG                 run a server (a raft.conf file)\n"
            "       guestbook [--cluster HOST:PORT,...] sign NAME MESSAGE\n"
            "       guestbook [--cluster HOST:PORT,...] [--stale] read [COUNT]\n"
            "--cluster defaults to $LUMINOUS_CLUSTER, then " LUM_CLUSTER_DEFAULT "\n"
            "exit: 0 ok, 1 refused (bad name or message), 2 usage, 3 cluster unavailable\n");
}

static int gb_serve(const char *path)
{
    struct server_config cfg;
    struct lum_err err = {{0}};
    if (server_config_load(path, &cfg, &err) != 0) {
        fprintf(stderr, "guestbook: %s\n", err.msg);
        return EXIT_USAGE;
    }
    /* The one line that makes it our server: our machine instead of state_machine's. */
    cfg.fsm_ops = &guestbook_fsm_ops;
    char prefix[40];
    snprintf(prefix, sizeof prefix, "guestbook %llu", (unsigned long long)cfg.id);
    lum_log_set_prefix(prefix);
    lum_log_set_level((enum lum_log_level)cfg.log_level);
    struct server *s;
    if (server_create(&cfg, &s, &err) != 0) {
        lum_error("cannot start: %s", err.msg);
        return 1;
    }
    int rv = server_run(s); /* until SIGTERM or SIGINT */
    server_destroy(s);
    return rv;
}

static int gb_failed(const char *what, int rv, const struct lum_err *err)
{
    fprintf(stderr, "guestbook: %s: %s (%s)\n", what, lum_strerror(rv), err->msg);
    return EXIT_UNAVAILABLE;
}

static int gb_sign(struct lum_client *c, const char *name, const char *message)
{
    size_t name_len = strlen(name), message_len = strlen(message);
    if (name_len == 0 || name_len > GB_NAME_MAX || message_len > GB_MESSAGE_MAX) {
        fprintf(stderr, "guestbook: sign: a name has 1..%u bytes, a message at most %u\n",
                GB_NAME_MAX, GB_MESSAGE_MAX);
        return EXIT_USAGE;
    }
    uint8_t body[1 + GB_NAME_MAX + GB_MESSAGE_MAX];
    body[0] = (uint8_t)name_len;
    memcpy(body + 1, name, name_len);
    memcpy(body + 1 + name_len, message, message_len);
    struct lum_reply r;
    struct lum_err err = {{0}};
    int rv = lum_client_command(c, GB_SIGN, body, (uint32_t)(1 + name_len + message_len), &r,
                                &err);
    if (rv != 0)
        return gb_failed("sign", rv, &err);
    if (r.status != 0) {
        fprintf(stderr, "guestbook: sign: %s\n", lum_strerror(r.status));
        return EXIT_UNAVAILABLE;
    }
    if (r.code != GB_OK || r.len != 8) {
        fprintf(stderr, "guestbook: sign: refused (names are printable ASCII, messages have "
                        "no control characters)\n");
        return EXIT_REFUSED;
    }
    printf("signature #%llu\n", (unsigned long long)lum_get_u64(r.data));
    return EXIT_OK;
}

static int gb_read_book(struct lum_client *c, const char *count, bool stale)
{
    char *end;
    unsigned long n = count ? strtoul(count, &end, 10) : 10;
    if ((count && (*end || end == count)) || n == 0 || n > GB_READ_MAX) {
        fprintf(stderr, "guestbook: read: COUNT is 1..%u\n", GB_READ_MAX);
        return EXIT_USAGE;
    }
    uint8_t req[4];
    lum_put_u32(req, (uint32_t)n);
    struct lum_reply r;
    struct lum_err err = {{0}};
    int rv = lum_client_query(c, req, sizeof req, stale, &r, &err);
    if (rv != 0)
        return gb_failed("read", rv, &err);
    if (r.status != 0) {
        fprintf(stderr, "guestbook: read: %s\n", lum_strerror(r.status));
        return EXIT_UNAVAILABLE;
    }
    if (r.code != GB_OK) {
        fprintf(stderr, "guestbook: read: refused\n");
        return EXIT_REFUSED;
    }
    fwrite(r.data, 1, r.len, stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *cluster = getenv("LUMINOUS_CLUSTER");
    bool stale = false;
    static const struct option longopts[] = {
        {"cluster", required_argument, NULL, 'c'}, {"stale", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': cluster = optarg; break;
        case 's': stale = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("guestbook on Luminous %s\n", LUM_VERSION); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (nargs == 2 && strcmp(args[0], "serve") == 0)
        return gb_serve(args[1]);
    bool sign = nargs == 3 && strcmp(args[0], "sign") == 0;
    bool reading = (nargs == 1 || nargs == 2) && strcmp(args[0], "read") == 0;
    if (!sign && !reading) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!cluster || !*cluster)
        cluster = LUM_CLUSTER_DEFAULT;
    struct lum_client *c;
    struct lum_err err = {{0}};
    if (lum_client_open(cluster, 5000, &c, &err) != 0) {
        fprintf(stderr, "guestbook: --cluster: %s\n", err.msg);
        return EXIT_USAGE;
    }
    int rv = sign ? gb_sign(c, args[1], args[2]) : gb_read_book(c, nargs == 2 ? args[1] : NULL, stale);
    lum_client_close(c);
    return rv;
}
