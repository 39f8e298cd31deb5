/* A linearizability checker for key-value histories: Wing & Gong's search with Lowe's
 * memoization (as in Porcupine and Knossos), run on each key as an independent register.
 *
 * History format, one operation per line ('#' starts a comment line):
 *   <client> <invoke_ns> <complete_ns|-> <op> <key> <args...> <result>
 *     put KEY VALUE        ok | err | ?
 *     get KEY              VALUE | nil (absent) | err | ?
 *     del KEY              ok | nf (was absent) | err | ?
 *     cas KEY OLD NEW      ok | fail | err | ?
 * Values are tokens without blanks; "nil" means absent. "err" means the operation certainly
 * did not take effect (it is left out of the check). A complete time of "-" or a result of
 * "?" makes the operation indeterminate: it may take effect at any time after its
 * invocation, or never, with any result (its completion is at +infinity). */
#ifndef LUMINOUS_LINCHECK_H
#define LUMINOUS_LINCHECK_H

#include <stdint.h>
#include <stdio.h>

enum lin_verdict { LIN_OK = 0, LIN_VIOLATION = 1, LIN_UNKNOWN = 2 };

struct lin_history;

struct lin_history *lin_history_new(void);
void lin_history_free(struct lin_history *h);
/* Adds one line of the format above. 0, or -1 with a message in err (the line is ignored).
 * Blank and comment lines are accepted and ignored. */
int lin_history_add_line(struct lin_history *h, const char *line, char *err, size_t err_cap);
/* Reads a whole file. 0, or -1 with err ("path:line: why"). */
int lin_history_load(struct lin_history *h, const char *path, char *err, size_t err_cap);

struct lin_counts {
    uint64_t ok, failed, indeterminate;
};

/* Checks every key; states_max caps the memoized states explored per key (0: 10 million),
 * beyond which that key's verdict is LIN_UNKNOWN. Writes per-key and overall lines to out
 * (may be NULL). Returns the overall verdict: a violation wins over unknown. counts_out
 * (may be NULL) receives the totals. */
enum lin_verdict lin_check(const struct lin_history *h, uint64_t states_max, FILE *out,
                           struct lin_counts *counts_out);

#endif
