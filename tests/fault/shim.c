/* A fault injector for process-level tests, loaded with LD_PRELOAD into raftsrv: makes
 * write, pwrite, pwritev, fsync and fdatasync fail on command, for files under one
 * directory only (sockets, pipes and the node's log file are left alone).
 *
 *   LUMINOUS_FAULT_FILE  a file whose content is the fault now in force:
 *                          ""           none
 *                          "fsync_eio"  fsync and fdatasync fail with EIO
 *                          "enospc"     write, pwrite and pwritev fail with ENOSPC
 *                          "lowspace"   statvfs of the directory says no block is free
 *                        missing file: none. stat'ed on every call (so a fault is in
 *                        force everywhere as soon as the test has written it: a node
 *                        that lags would let the cluster drift into another state), and
 *                        read again when its inode, mtime or size changed.
 *   LUMINOUS_FAULT_DIR   the directory (the node's data_dir) whose files fail.
 *
 * Paths are resolved through /proc/self/fd/N only while a fault is in force, so the shim
 * costs one stat per call otherwise. Without both variables it does nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum shim_fault { SHIM_NONE, SHIM_FSYNC_EIO, SHIM_ENOSPC, SHIM_LOWSPACE };

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_statvfs)(const char *, struct statvfs *);

static bool     shim_ready;
static char     shim_file[PATH_MAX];
static char     shim_dir[PATH_MAX];
static size_t   shim_dir_len;
static enum shim_fault shim_fault;
static struct timespec shim_mtime;
static ino_t    shim_ino;             /* the harness renames a new file over the old */
static off_t    shim_size = -1;

static void shim_init(void)
{
    if (shim_ready)
        return;
    real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_pwritev = (ssize_t (*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT,
                                                                              "pwritev");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_statvfs = (int (*)(const char *, struct statvfs *))dlsym(RTLD_NEXT, "statvfs");
    const char *f = getenv("LUMINOUS_FAULT_FILE"), *d = getenv("LUMINOUS_FAULT_DIR");
    if (f && d && strlen(f) < sizeof shim_file && realpath(d, shim_dir)) {
        snprintf(shim_file, sizeof shim_file, "%s", f);
        shim_dir_len = strlen(shim_dir);
    }
    shim_ready = true;
}

/* The fault in force, re-read when the control file changed. */
static enum shim_fault shim_current(void)
{
    shim_init();
    if (!shim_file[0])
        return SHIM_NONE;
    struct stat st;
    if (stat(shim_file, &st) != 0) {
        shim_fault = SHIM_NONE;
        shim_size = -1;
        return shim_fault;
    }
    if (st.st_ino == shim_ino && st.st_size == shim_size &&
        st.st_mtim.tv_sec == shim_mtime.tv_sec &&
        st.st_mtim.tv_nsec == shim_mtime.tv_nsec)
        return shim_fault;
    shim_size = st.st_size;
    shim_mtime = st.st_mtim;
    shim_ino = st.st_ino;
    char buf[64] = "";
    int fd = open(shim_file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    if (strncmp(buf, "fsync_eio", 9) == 0)
        shim_fault = SHIM_FSYNC_EIO;
    else if (strncmp(buf, "enospc", 6) == 0)
        shim_fault = SHIM_ENOSPC;
    else if (strncmp(buf, "lowspace", 8) == 0)
        shim_fault = SHIM_LOWSPACE;
    else
        shim_fault = SHIM_NONE;
    return shim_fault;
}

/* Whether fd is a file (or the directory itself) under the fault directory. */
static bool shim_targets(int fd)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    return strncmp(path, shim_dir, shim_dir_len) == 0 &&
           (path[shim_dir_len] == '/' || path[shim_dir_len] == '\0');
}

static bool shim_fails(enum shim_fault want, int fd)
{
    int saved = errno;
    bool fail = shim_current() == want && shim_targets(fd);
    errno = saved;
    return fail;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    if (shim_fails(SHIM_ENOSPC, fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (shim_fails(SHIM_ENOSPC, fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    if (shim_fails(SHIM_ENOSPC, fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_pwritev(fd, iov, iovcnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return pwritev(fd, iov, iovcnt, off);
}

int fsync(int fd)
{
    if (shim_fails(SHIM_FSYNC_EIO, fd)) {
        errno = EIO;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    if (shim_fails(SHIM_FSYNC_EIO, fd)) {
        errno = EIO;
        return -1;
    }
    return real_fdatasync(fd);
}

int statvfs(const char *path, struct statvfs *buf)
{
    shim_init();
    int rv = real_statvfs(path, buf);
    char real[PATH_MAX];
    if (rv == 0 && shim_current() == SHIM_LOWSPACE && realpath(path, real) &&
        strncmp(real, shim_dir, shim_dir_len) == 0 &&
        (real[shim_dir_len] == '/' || real[shim_dir_len] == '\0'))
        buf->f_bavail = buf->f_bfree = 0;
    return rv;
}

int statvfs64(const char *path, struct statvfs64 *buf)
{
    return statvfs(path, (struct statvfs *)buf); /* the same layout on 64-bit */
}
