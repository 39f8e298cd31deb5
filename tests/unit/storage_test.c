/* Helpers for the storage tests: temp dirs, deterministic entries, file surgery. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_test.h"

static void storage_test_die(const char *what, const char *path)
{
    fprintf(stderr, "storage_test: %s %s failed\n", what, path);
    abort();
}

char *storage_test_mkdtemp(void)
{
    char *dir = strdup("/tmp/luminous-storage-XXXXXX");
    if (!dir || !mkdtemp(dir))
        storage_test_die("mkdtemp", "/tmp");
    return dir;
}

static int storage_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void storage_test_rmdir(char *dir)
{
    if (!dir)
        return;
    nftw(dir, storage_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

int storage_test_open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        storage_test_die("open", dir);
    return fd;
}

const char *storage_test_path(const char *dir, const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    return buf;
}

const char *storage_test_seg_path(const char *dir, uint64_t first_index)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/log/%020" PRIu64 ".seg", dir, first_index);
    return buf;
}

uint32_t storage_test_entry_len(uint64_t index)
{
    if (index % 13 == 0)
        return RAFT_PAYLOAD_MAX;
    if (index % 11 == 0)
        return 0;
    return (uint32_t)((index * 131) % 300);
}

void storage_test_entry(struct raft_entry *e, uint64_t index, uint64_t term)
{
    memset(e, 0, sizeof *e);
    e->index = index;
    e->term = term;
    e->type = (uint16_t)(RAFT_ENTRY_APP_MIN + index % 5);
    e->len = storage_test_entry_len(index);
    for (uint32_t i = 0; i < e->len; i++)
        e->payload[i] = (uint8_t)(index * 7 + term * 3 + i);
}

struct raft_entry *storage_test_entries(uint64_t first, uint32_t n, uint64_t term)
{
    struct raft_entry *es = malloc((size_t)(n ? n : 1) * sizeof *es);
    if (!es)
        storage_test_die("malloc", "entries");
    for (uint32_t i = 0; i < n; i++)
        storage_test_entry(&es[i], first + i, term);
    return es;
}

int storage_test_entry_equal(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->index == b->index && a->term == b->term && a->type == b->type &&
           a->len == b->len && memcmp(a->payload, b->payload, a->len) == 0;
}

uint64_t storage_test_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        storage_test_die("stat", path);
    return (uint64_t)st.st_size;
}

int storage_test_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void storage_test_truncate(const char *path, uint64_t size)
{
    if (truncate(path, (off_t)size) < 0)
        storage_test_die("truncate", path);
}

void storage_test_write(const char *path, uint64_t offset, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || pwrite(fd, buf, len, (off_t)offset) != (ssize_t)len)
        storage_test_die("write", path);
    close(fd);
}

void storage_test_read(const char *path, uint64_t offset, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, buf, len, (off_t)offset) != (ssize_t)len)
        storage_test_die("read", path);
    close(fd);
}

void storage_test_flip(const char *path, uint64_t offset)
{
    uint8_t b;
    storage_test_read(path, offset, &b, 1);
    b ^= 0xFF;
    storage_test_write(path, offset, &b, 1);
}

void storage_test_copy(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0)
        storage_test_die("copy", from);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            storage_test_die("copy", to);
    if (n < 0)
        storage_test_die("copy", from);
    close(in);
    close(out);
}

int storage_test_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        storage_test_die("opendir", dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}
