/* lincheck HISTORY [--states N]: checks a key-value history for linearizability
 * (tests/fault/lincheck.h has the format). Exit 0 linearizable, 1 not, 2 unknown or error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/fault/lincheck.h"

int main(int argc, char **argv)
{
    const char *path = NULL;
    unsigned long long states = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--states") == 0 && i + 1 < argc)
            states = strtoull(argv[++i], NULL, 10);
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: lincheck HISTORY [--states N]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: lincheck HISTORY [--states N]\n");
        return 2;
    }
    struct lin_history *h = lin_history_new();
    char err[512];
    if (lin_history_load(h, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "lincheck: %s\n", err);
        lin_history_free(h);
        return 2;
    }
    enum lin_verdict v = lin_check(h, states, stdout, NULL);
    lin_history_free(h);
    return v == LIN_OK ? 0 : v == LIN_VIOLATION ? 1 : 2;
}
