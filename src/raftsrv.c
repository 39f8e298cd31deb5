/* raftsrv: one Luminous server. `raftsrv -c raft.conf`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "luminous/server.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: raftsrv -c CONFIG [--restore FILE]\n"
               "  Runs one Luminous server with the settings in CONFIG (see raft.conf.example).\n"
               "  --restore FILE  first make CONFIG's data_dir, which must be empty, a new\n"
               "                  one-node cluster holding the backup FILE (raftctl backup);\n"
               "                  grow it with raftctl members add\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL, *restore = NULL;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"restore", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            restore = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!config || optind != argc) {
        usage(stderr);
        return 2;
    }
    struct server_config cfg;
    struct lum_err err = {{0}};
    int rv = server_config_load(config, &cfg, &err);
    if (rv != 0) {
        fprintf(stderr, "raftsrv: %s\n", err.msg);
        return 2;
    }
    char prefix[32];
    snprintf(prefix, sizeof prefix, "node %llu", (unsigned long long)cfg.id);
    lum_log_set_prefix(prefix);
    lum_log_set_level(cfg.log_level);
    if (restore && (rv = server_restore(&cfg, restore, &err)) != 0) {
        lum_error("cannot restore: %s", err.msg);
        return 1;
    }
    struct server *s;
    rv = server_create(&cfg, &s, &err);
    if (rv != 0) {
        lum_error("cannot start: %s", err.msg);
        return 1;
    }
    rv = server_run(s);
    server_destroy(s);
    lum_info("stopped");
    return rv;
}
