/* The storage layer's system-call wrappers (internal): the fault-injection table, whole
 * reads and writes that survive EINTR and short counts, and errno -> LUM_E* mapping. */
#ifndef LUMINOUS_STORAGE_SYS_H
#define LUMINOUS_STORAGE_SYS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "luminous/storage.h"

/* opts->sys, or libc's table when opts or opts->sys is NULL. */
const struct storage_syscalls *sys_table(const struct storage_options *opts);

/* -LUM_ENOSPC for ENOSPC and EDQUOT, -LUM_EIO for anything else. */
int sys_error(int errnum);

/* Writes all of buf at offset, retrying EINTR and short writes. 0, or -1 with errno set
 * (a write of 0 bytes sets EIO). On error some prefix may have been written. */
int sys_pwrite_all(const struct storage_syscalls *sys, int fd, const void *buf, size_t len,
                   uint64_t offset);

/* The same for an iovec array, which it modifies (it advances past what was written);
 * iovcnt <= IOV_MAX. *done_out gets the bytes written, also on error. */
int sys_pwritev_all(const struct storage_syscalls *sys, int fd, struct iovec *iov,
                    int iovcnt, uint64_t offset, uint64_t *done_out);

/* Reads up to len bytes at offset, stopping early only at end of file. Returns the bytes
 * read, or -1 with errno set. */
ssize_t sys_pread_all(int fd, void *buf, size_t len, uint64_t offset);

/* fsync of an open directory (after creating, renaming or unlinking in it). 0 or -1. */
int sys_fsync_dir(const struct storage_syscalls *sys, int dirfd);

#endif
