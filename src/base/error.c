/* Names for every error code, error context, and the always-on assertion. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "luminous/base.h"

const char *lum_strerror(int error)
{
    if (error < 0)
        error = -error;
    if (error < RAFT_ERROR_END_)
        return raft_strerror(error);
    switch ((enum lum_error)error) {
    case LUM_EAGAIN:       return "not ready yet, try again";
    case LUM_ECORRUPT:     return "corrupt data on disk";
    case LUM_EIO:          return "I/O error";
    case LUM_ENOSPC:       return "no space left on device";
    case LUM_ENOTFOUND:    return "not found";
    case LUM_EVERSION:     return "unsupported format or protocol version";
    case LUM_ECLOSED:      return "connection closed";
    case LUM_ETIMEDOUT:    return "timed out";
    case LUM_EUNAVAILABLE: return "cluster unavailable";
    case LUM_EAUTH:        return "authentication failed";
    default:               return "unknown error";
    }
}

void lum_errf(struct lum_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void lum_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", cond, file, line);
    fflush(stderr);
    abort();
}
