/* Leveled logging to stderr, one line per call, with a UTC timestamp. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "luminous/base.h"

static enum lum_log_level log_level = LUM_LOG_INFO;
static char log_prefix[64];

void lum_log_set_level(enum lum_log_level level) { log_level = level; }

void lum_log_set_prefix(const char *prefix)
{
    snprintf(log_prefix, sizeof log_prefix, "%s", prefix ? prefix : "");
}

int lum_log_level_parse(const char *name, enum lum_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (enum lum_log_level)i;
            return 0;
        }
    }
    return -LUM_EINVAL;
}

void lum_log(enum lum_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %c %s%s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), "DIWE"[level],
                     log_prefix[0] ? "[" : "", log_prefix, log_prefix[0] ? "] " : "");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
