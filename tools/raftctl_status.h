/* raftctl's operator view: `status` (a boxed table, one row per node, or --json) and
 * `watch-status` (the table again every second until SIGINT/SIGTERM or --count N). */
#ifndef LUMINOUS_TOOLS_RAFTCTL_STATUS_H
#define LUMINOUS_TOOLS_RAFTCTL_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "luminous/client.h"

/* One node of the --cluster list, as it answered (or did not). */
struct ctl_status_row {
    const char *addr;         /* the list's address for it (the client's)              */
    int      rv;              /* 0: st holds its answer; else error says why not      */
    char     error[512];
    uint64_t lag;             /* entries its applied index is behind the highest commit
                                 index any node answered with                         */
    struct wire_status st;
};

/* Asks every node of c's list (lum_client_nodes rows, filled in list order). Returns how
 * many answered, or -LUM_EAUTH with err (every node would refuse the same way). */
int  ctl_status_collect(struct lum_client *c, struct ctl_status_row *rows, struct lum_err *err);

/* The table: ID, ADDRESS, ROLE, TERM, LEADER, COMMIT, APPLIED, LAG, SNAPSHOT, DB SIZE,
 * ERRORS, boxed like `etcdctl endpoint status -w table`; a node that did not answer has
 * ROLE "unreachable" and its error under ERRORS. */
void ctl_status_table(FILE *out, const struct ctl_status_row *rows, uint32_t n);
/* The JSON array of the CLI contract (DESIGN.md): wire_status_json per node, and
 * {"id":0,"addr","error"} for one that did not answer. One line. */
void ctl_status_json(FILE *out, const struct ctl_status_row *rows, uint32_t n);

/* bytes for people: "512 B", "1.2 KiB", "3.0 MiB", ... (IEC units, one decimal). */
void ctl_human_size(char *buf, size_t len, uint64_t bytes);

/* watch-status: collect and print (table, or one JSON array per line) every second until
 * SIGINT or SIGTERM, or count refreshes (0: no limit). The screen is cleared (ANSI) before
 * each table only when out is a terminal. Returns how many nodes answered the last refresh,
 * or -LUM_EAUTH with err. */
int  ctl_watch_status(struct lum_client *c, FILE *out, bool json, uint32_t count,
                      struct lum_err *err);

#endif
