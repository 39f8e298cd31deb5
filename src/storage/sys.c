/* System-call plumbing for the storage layer: the replaceable syscall table (libc's by
 * default, a fault injector in tests) and loops that turn short or interrupted I/O into
 * all-or-error. */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "sys.h"

const struct storage_syscalls storage_syscalls_libc = {
    .pwrite    = pwrite,
    .pwritev   = pwritev,
    .ftruncate = ftruncate,
    .fdatasync = fdatasync,
    .fsync     = fsync,
};

const struct storage_syscalls *sys_table(const struct storage_options *opts)
{
    return opts && opts->sys ? opts->sys : &storage_syscalls_libc;
}

int sys_error(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT ? -LUM_ENOSPC : -LUM_EIO;
}

int sys_pwrite_all(const struct storage_syscalls *sys, int fd, const void *buf, size_t len,
                   uint64_t offset)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = sys->pwrite(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int sys_pwritev_all(const struct storage_syscalls *sys, int fd, struct iovec *iov,
                    int iovcnt, uint64_t offset, uint64_t *done_out)
{
    LUM_ASSERT(iovcnt <= IOV_MAX);
    *done_out = 0;
    while (iovcnt > 0 && iov->iov_len == 0) {
        iov++;
        iovcnt--;
    }
    while (iovcnt > 0) {
        ssize_t n = sys->pwritev(fd, iov, iovcnt, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        *done_out += (uint64_t)n;
        offset += (uint64_t)n;
        size_t left = (size_t)n;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (left > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
        while (iovcnt > 0 && iov->iov_len == 0) {
            iov++;
            iovcnt--;
        }
    }
    return 0;
}

ssize_t sys_pread_all(int fd, void *buf, size_t len, uint64_t offset)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int sys_fsync_dir(const struct storage_syscalls *sys, int dirfd)
{
    int rv;
    do
        rv = sys->fsync(dirfd);
    while (rv < 0 && errno == EINTR);
    return rv;
}
