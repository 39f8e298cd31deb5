/* The cluster secret's file: read once at startup by raftsrv (secret_file) and by clients
 * (raftctl --secret-file), so both sides trim and check it the same way. */
#ifndef LUMINOUS_SECRET_H
#define LUMINOUS_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/base.h"

#define LUM_SECRET_MAX 1024u   /* bytes; a secret is a key, not a document */

struct lum_secret {
    uint8_t key[LUM_SECRET_MAX];
    size_t  len;              /* > 0 once loaded */
    bool    loose_mode;       /* the file is readable by group or others (a warning) */
};

/* Reads path into s: the whole file less one trailing "\n" or "\r\n". 0, or -LUM_EIO when
 * it cannot be read, -LUM_EINVAL when it is empty (after the trim) or over LUM_SECRET_MAX;
 * err says which and names the file. A file mode with group/other read bits is accepted but
 * sets loose_mode, so the caller can warn. */
int lum_secret_load(const char *path, struct lum_secret *s, struct lum_err *err);

#endif
