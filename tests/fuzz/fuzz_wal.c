/* libFuzzer target: log recovery (wal_open on a data_dir whose log/ holds fuzzed segments).
 * Whatever the bytes, wal_open must return 0 or a clean error; if it opens, every entry in
 * [first_index, last_index] must read back with the term recovery saw, and one more entry
 * must append after the recovered tail and read back.
 *
 * Input: byte 0 flags (1: prefix segment A with a valid header, 2: make a second segment B,
 * 4: prefix B with a valid header, 8 / 16: give A's / B's records valid checksums), bytes
 * 1-2 where the rest is split between A and B (u16 LE, clamped), byte 3 B's first index
 * minus 2; the rest is the segments' bytes.
 * A is log/00000000000000000001.seg. The valid headers let the fuzzer past the magic and
 * checksum at once; without them it still fuzzes the header checks. Fixed record checksums
 * take it past the crc to the checks behind it (index, term, padding, record length). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luminous/base.h"
#include "luminous/storage.h"
#include "../../src/storage/segment.h"

enum {
    FUZZ_HEADER_A = 1, FUZZ_TWO_SEGMENTS = 2, FUZZ_HEADER_B = 4, FUZZ_CRC_A = 8, FUZZ_CRC_B = 16,
};

static uint8_t fuzz_seg[1 << 20];

/* In memory where there is a /dev/shm: thousands of runs a second rewrite these files. */
static char fuzz_dir[64] = "/dev/shm/luminous-fuzz-wal-XXXXXX";
static int  fuzz_dirfd = -1;
static int  fuzz_logfd = -1;
static struct raft_entry fuzz_entry;

/* No fsync: durability is not what this target checks, and tmpfs makes it moot anyway. */
static int fuzz_no_sync(int fd) { (void)fd; return 0; }
static struct storage_syscalls fuzz_sys;

static void fuzz_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_wal: could not remove %s\n", fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lum_log_set_level(LUM_LOG_ERROR); /* every torn tail is a warning */
    fuzz_sys = storage_syscalls_libc;
    fuzz_sys.fdatasync = fuzz_no_sync;
    fuzz_sys.fsync = fuzz_no_sync;
    bool made = mkdtemp(fuzz_dir) != NULL;
    if (!made) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/luminous-fuzz-wal-XXXXXX");
        made = mkdtemp(fuzz_dir) != NULL;
    }
    if (!made || (fuzz_dirfd = open(fuzz_dir, O_RDONLY | O_DIRECTORY)) < 0 ||
        mkdirat(fuzz_dirfd, "log", 0755) < 0 ||
        (fuzz_logfd = openat(fuzz_dirfd, "log", O_RDONLY | O_DIRECTORY)) < 0) {
        perror("fuzz_wal: temp dir");
        abort();
    }
    atexit(fuzz_cleanup);
    return 0;
}

/* Empties log/ (recovery may have created or removed files in the last run). */
static void fuzz_empty_log(void)
{
    DIR *d = fdopendir(dup(fuzz_logfd));
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            unlinkat(fuzz_logfd, de->d_name, 0) < 0)
            abort();
    closedir(d);
}

/* Gives every record in p[0..n) (records back to back from offset 0, as segment.c lays them
 * out) the checksum it should have, as far as its header and payload are there. */
static void fuzz_fix_crcs(uint8_t *p, size_t n)
{
    for (size_t off = 0; off + RAFT_ENTRY_HEADER_SIZE <= n;) {
        uint8_t *h = p + off;
        uint32_t len = lum_get_u32(h + 4);
        if (len > RAFT_PAYLOAD_MAX || n - off - RAFT_ENTRY_HEADER_SIZE < len)
            return;
        uint32_t crc = lum_crc32c(0, h + 4, RAFT_ENTRY_HEADER_SIZE - 4);
        lum_put_u32(h, lum_crc32c(crc, h + RAFT_ENTRY_HEADER_SIZE, len));
        off += (RAFT_ENTRY_HEADER_SIZE + (size_t)len + 7) & ~(size_t)7;
    }
}

static void fuzz_write_segment(uint64_t first_index, bool header, bool fix_crcs,
                               const uint8_t *p, size_t n)
{
    if (fix_crcs && n <= sizeof fuzz_seg) {
        size_t records = header ? 0 : n < SEG_HEADER_SIZE ? n : SEG_HEADER_SIZE;
        memcpy(fuzz_seg, p, n);
        fuzz_fix_crcs(fuzz_seg + records, n - records);
        p = fuzz_seg;
    }
    char name[SEG_NAME_SIZE];
    seg_name(name, first_index);
    int fd = openat(fuzz_logfd, name + 4, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    size_t off = 0;
    if (header) {
        uint8_t h[SEG_HEADER_SIZE] = {0};
        memcpy(h, "LUMINSEG", 8);
        lum_put_u32(h + 8, SEG_VERSION);
        lum_put_u32(h + 12, RAFT_ENTRY_SIZE);
        lum_put_u64(h + 16, first_index);
        lum_put_u32(h + 24, lum_crc32c(0, h, 24));
        if (write(fd, h, sizeof h) != (ssize_t)sizeof h)
            abort();
        off = sizeof h;
    }
    if (n > 0 && pwrite(fd, p, n, (off_t)off) != (ssize_t)n)
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint8_t flags = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    uint64_t b_first = 2 + (uint64_t)data[3];
    data += 4;
    size -= 4;
    if (!(flags & FUZZ_TWO_SEGMENTS) || split > size)
        split = size;

    fuzz_empty_log();
    fuzz_write_segment(1, flags & FUZZ_HEADER_A, flags & FUZZ_CRC_A, data, split);
    if (flags & FUZZ_TWO_SEGMENTS)
        fuzz_write_segment(b_first, flags & FUZZ_HEADER_B, flags & FUZZ_CRC_B, data + split,
                           size - split);

    struct storage_options opts;
    storage_options_default(&opts);
    opts.segment_entries = 4; /* small, so recovery must grow its arrays */
    opts.sys = &fuzz_sys;
    struct wal *w;
    struct lum_err err = {{0}};
    int rv = wal_open(fuzz_dirfd, &opts, &w, &err);
    if (rv != 0) {
        if (err.msg[0] == '\0')
            abort(); /* an error must say what is wrong */
        return 0;
    }
    uint64_t first = wal_first_index(w), last = wal_last_index(w);
    if (last + 1 < first)
        abort();
    for (uint64_t i = first; i <= last; i++) {
        uint64_t term;
        if (wal_term(w, i, &term) != 0 || wal_entry(w, i, &fuzz_entry, &err) != 0 ||
            fuzz_entry.index != i || fuzz_entry.term != term)
            abort(); /* recovery accepted an entry that does not read back */
    }
    uint64_t term = wal_last_term(w);
    memset(&fuzz_entry, 0, sizeof fuzz_entry);
    fuzz_entry.index = last + 1;
    fuzz_entry.term = term ? term : 1;
    fuzz_entry.type = 64;
    fuzz_entry.len = 3;
    memcpy(fuzz_entry.payload, "new", 3);
    if (wal_append(w, &fuzz_entry, 1, &err) != 0 || wal_entry(w, last + 1, &fuzz_entry, &err) != 0 ||
        fuzz_entry.len != 3 || memcmp(fuzz_entry.payload, "new", 3) != 0)
        abort(); /* the recovered tail cannot be appended to */
    wal_close(w);
    return 0;
}
