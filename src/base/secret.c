/* Loading the cluster secret: strict about content (an empty key would authenticate anyone
 * who also has an empty one) and about size, lenient but loud about permissions. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luminous/secret.h"

int lum_secret_load(const char *path, struct lum_secret *s, struct lum_err *err)
{
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lum_errf(err, "secret file %s: %s", path, strerror(errno));
        return -LUM_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        lum_errf(err, "secret file %s: not a regular file", path);
        close(fd);
        return -LUM_EIO;
    }
    s->loose_mode = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    /* Room for the longest secret, its "\r\n", and one byte more: a full buffer means the
     * file is too long, whatever its end looks like. */
    uint8_t buf[LUM_SECRET_MAX + 3];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lum_errf(err, "secret file %s: %s", path, strerror(errno));
            close(fd);
            return -LUM_EIO;
        }
        if (n == 0 || (got += (size_t)n) == sizeof buf)
            break;
    }
    close(fd);
    bool full = got == sizeof buf;
    if (!full && got > 0 && buf[got - 1] == '\n') {
        got--;
        if (got > 0 && buf[got - 1] == '\r')
            got--;
    }
    int rv = 0;
    if (got == 0) {
        lum_errf(err, "secret file %s is empty", path);
        rv = -LUM_EINVAL;
    } else if (full || got > LUM_SECRET_MAX) {
        lum_errf(err, "secret file %s is longer than %u bytes", path, LUM_SECRET_MAX);
        rv = -LUM_EINVAL;
    } else {
        memcpy(s->key, buf, got);
        s->len = got;
    }
    memset(buf, 0, sizeof buf);
    return rv;
}
