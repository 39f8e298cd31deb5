/* Helpers for the storage tests (test_storage*.c): temp dirs, deterministic entries, file
 * surgery. libc only, since every unit test binary links them. */
#ifndef LUMINOUS_TESTS_STORAGE_TEST_H
#define LUMINOUS_TESTS_STORAGE_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "luminous/raft.h"

/* A fresh directory under /tmp (mkdtemp); free with storage_test_rmdir. */
char *storage_test_mkdtemp(void);
/* rm -rf dir, then free(dir). */
void  storage_test_rmdir(char *dir);
/* open(dir, O_DIRECTORY); aborts on failure. */
int   storage_test_open_dir(const char *dir);

/* dir/rel, in a static buffer (one at a time). */
const char *storage_test_path(const char *dir, const char *rel);
/* dir/log/NNNNNNNNNNNNNNNNNNNN.seg, in a static buffer. */
const char *storage_test_seg_path(const char *dir, uint64_t first_index);

/* The deterministic entry for (index, term): a payload length that varies with the index
 * (0, small, and RAFT_PAYLOAD_MAX all occur) and bytes derived from both. */
void  storage_test_entry(struct raft_entry *e, uint64_t index, uint64_t term);
uint32_t storage_test_entry_len(uint64_t index);
/* n entries from first, all of term; malloc'd. */
struct raft_entry *storage_test_entries(uint64_t first, uint32_t n, uint64_t term);
/* 1 if a equals b in every used field and payload byte. */
int   storage_test_entry_equal(const struct raft_entry *a, const struct raft_entry *b);

/* File surgery; each aborts on a failed system call. */
uint64_t storage_test_file_size(const char *path);
int   storage_test_file_exists(const char *path);
void  storage_test_truncate(const char *path, uint64_t size);
void  storage_test_flip(const char *path, uint64_t offset);       /* xor 0xFF */
void  storage_test_write(const char *path, uint64_t offset, const void *buf, size_t len);
void  storage_test_read(const char *path, uint64_t offset, void *buf, size_t len);
void  storage_test_copy(const char *from, const char *to);

/* Counts the files in dir (no recursion), "." and ".." excluded. */
int   storage_test_count_files(const char *dir);

#endif
