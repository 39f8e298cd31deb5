/* The storage layer: the durable Raft state of one server under data_dir/.
 *
 *   data_dir/meta                       current term and vote, two alternating slots
 *   data_dir/log/NNNNNNNNNNNNNNNNNNNN.seg log segments, named by their first index (20 digits)
 *
 * Three modules, each usable alone (the tests do), and a handle that ties them together for
 * the server: meta_* (src/storage/meta.c, format described there), wal_* (the whole log across
 * segments, src/storage/wal.c; segment format in src/storage/segment.c) and storage_*
 * (src/storage/storage.c). The log module is "wal" because the core already owns log_*.
 *
 * Errors: every function that can fail returns 0 or a negated LUM_E* code and, when given a
 * struct lum_err, fills it with a message that names the file relative to data_dir and, for
 * log data, the byte offset: "write log/00000000000000000001.seg at offset 8192: No space
 * left on device". -LUM_EIO: a system call failed; -LUM_ENOSPC: the disk (or quota) is full;
 * -LUM_ECORRUPT: bytes on disk that cannot be the result of a crash (refuse to start);
 * -LUM_EVERSION: a file of another format version or slot size (refuse to start).
 *
 * Nothing here is thread-safe: one thread owns a handle. */
#ifndef LUMINOUS_STORAGE_H
#define LUMINOUS_STORAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "luminous/base.h"
#include "luminous/fsm.h"
#include "luminous/raft.h"

struct iovec;

/* ---- options ------------------------------------------------------------------------------ */

#define STORAGE_SEGMENT_ENTRIES_DEFAULT 8192u    /* 32 MiB segments with 4 KiB slots      */
#define STORAGE_SEGMENT_ENTRIES_MAX     (1u << 20) /* a bound on what we trust on disk too */

/* The system calls that can fail for want of space or because the disk broke, in a table so
 * tests can inject faults (as SQLite's os_unix.c does). Every member has libc's signature. */
struct storage_syscalls {
    ssize_t (*pwrite)(int fd, const void *buf, size_t count, off_t offset);
    ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt, off_t offset);
    int     (*ftruncate)(int fd, off_t length);
    int     (*fdatasync)(int fd);
    int     (*fsync)(int fd);
};

/* libc's pwrite, pwritev, ftruncate, fdatasync, fsync. */
extern const struct storage_syscalls storage_syscalls_libc;

struct storage_options {
    uint32_t segment_entries;            /* entries per new log segment, in
                                            [1, STORAGE_SEGMENT_ENTRIES_MAX]. Segments already
                                            on disk keep the size they were made with. */
    const struct storage_syscalls *sys;  /* NULL: storage_syscalls_libc. Borrowed.       */
};

/* segment_entries = STORAGE_SEGMENT_ENTRIES_DEFAULT, sys = NULL. */
void storage_options_default(struct storage_options *opts);

/* ---- meta: the hard state (term, vote) ------------------------------------------------------ */

struct meta;

/* Opens data_dir/meta and loads the hard state: the valid slot with the higher seq.
 * data_dirfd is an open directory (borrowed; it must outlive the meta handle). opts may be
 * NULL (defaults). A missing or empty file is a fresh node: hs_out = {0, 0}, *found_out =
 * false, and the file is created by the first meta_write. On success *meta_out is owned by
 * the caller (meta_close). Returns 0; -LUM_ECORRUPT if the file is not empty and neither
 * slot is valid, or both hold the same seq; -LUM_EVERSION for a slot of another format
 * version; -LUM_EIO; -LUM_ENOMEM. found_out may be NULL. */
int  meta_open(int data_dirfd, const struct storage_options *opts, struct meta **meta_out,
               struct raft_hard_state *hs_out, bool *found_out, struct lum_err *err);

/* Records hs. It is durable after the next meta_sync, except the very first write of a node,
 * which creates the file (temp file, fdatasync, rename, directory fsync) and is durable on
 * return. Until meta_sync, further writes overwrite the same slot, so the last durable slot
 * is never touched before the new one is durable. Returns 0, -LUM_EIO or -LUM_ENOSPC; on
 * error the durable hard state is intact and the write may be retried. */
int  meta_write(struct meta *m, const struct raft_hard_state *hs, struct lum_err *err);

/* Makes the last meta_write durable (fdatasync); does nothing if there is none pending.
 * Returns 0 or -LUM_EIO; after an error the page cache can no longer be trusted: the caller
 * must stop the process (storage_sync does). */
int  meta_sync(struct meta *m, struct lum_err *err);

/* True if a meta_write is waiting for meta_sync. */
bool meta_dirty(const struct meta *m);

/* The hard state last given to meta_write, or loaded. */
void meta_hard_state(const struct meta *m, struct raft_hard_state *hs_out);

/* Closes the file and frees m (NULL is fine). A pending write is not synced. */
void meta_close(struct meta *m);

/* ---- wal: the log, across segments ---------------------------------------------------------- */

struct wal;

/* Opens data_dir/log (creating it, and fsyncing data_dir, if missing) and recovers it:
 * every segment is read and every slot checked (checksum, index continuity, terms never
 * decreasing). A bad slot after which nothing valid follows is a torn write: it and
 * everything after it are cut off (ftruncate, unlink of later segments, then fdatasync and
 * directory fsync), with one lum_warn line naming the file and offset. A bad slot followed
 * by a valid one, a gap or overlap between segments, a bad segment header: -LUM_ECORRUPT,
 * with the file and byte offset in err. A segment made with another slot size or format
 * version: -LUM_EVERSION, saying so. Leftover temp files are removed; unknown files are left
 * alone with a warning. data_dirfd is borrowed (it must outlive the wal). opts may be NULL.
 * On success *wal_out is owned by the caller (wal_close). Returns 0, -LUM_ECORRUPT,
 * -LUM_EVERSION, -LUM_EIO, -LUM_ENOMEM. */
int  wal_open(int data_dirfd, const struct storage_options *opts, struct wal **wal_out,
              struct lum_err *err);

/* First index held (last_index + 1 when the log is empty; 1 for a fresh log). */
uint64_t wal_first_index(const struct wal *w);
/* Last index held (first_index - 1 when empty; 0 for a fresh log). */
uint64_t wal_last_index(const struct wal *w);
/* Term of the last entry, 0 when empty. */
uint64_t wal_last_term(const struct wal *w);

/* Appends entries[0..n), which must be consecutive (entries[i].index ==
 * entries[0].index + i), with terms that never decrease, len <= RAFT_PAYLOAD_MAX, and
 * first_index <= entries[0].index <= last_index + 1 (programmer errors: they abort).
 * If entries[0].index <= last_index, every entry from entries[0].index on is first removed
 * (the conflicting suffix, paper §5.3): ftruncate within a segment, unlink of whole later
 * segments, made durable at once (fdatasync / directory fsync) so a crash cannot bring back
 * removed entries after new ones. Then entries[0].term must be >= the term before it.
 * Writes are one pwritev per up to 256 entries and per segment; no allocation except a new
 * segment's. Data is durable after the next wal_sync. entries are read, not kept.
 * Returns 0; -LUM_ENOSPC or -LUM_EIO: what this call wrote is rolled back (the log ends
 * at entries[0].index - 1, the removed suffix stays removed) and the call may be retried
 * (after ENOSPC, once there is space again). If even the rollback fails the wal refuses
 * every later append with -LUM_EIO. */
int  wal_append(struct wal *w, const struct raft_entry *entries, uint32_t n,
                struct lum_err *err);

/* Makes every append since the last wal_sync durable: fdatasync of each segment written,
 * then fsync of log/ if segments were created. Returns 0 or -LUM_EIO; after an error the
 * page cache can no longer be trusted: the caller must stop the process (storage_sync
 * does). */
int  wal_sync(struct wal *w, struct lum_err *err);

/* The term of the entry at index, from memory (no system call). Index 0 has term 0.
 * Returns 0; -LUM_ECOMPACTED if 0 < index < first_index; -LUM_EINVAL if index > last_index. */
int  wal_term(const struct wal *w, uint64_t index, uint64_t *term_out);

/* Copies the entry at index into *out (one preadv) and checks it: checksum, index, and the
 * term recovery saw. Returns 0; -LUM_ECOMPACTED if index < first_index; -LUM_EINVAL if
 * index is 0 or > last_index; -LUM_ECORRUPT if the slot no longer checks (the disk changed
 * under us); -LUM_EIO. */
int  wal_entry(struct wal *w, uint64_t index, struct raft_entry *out, struct lum_err *err);

/* Fills *out with the core's read access to this log (struct raft_log_store). Its entry()
 * and term() answer -RAFT_ECOMPACTED below first_index; an index past last_index is a core
 * bug (abort); an I/O error or corruption is logged with lum_error and ends the process
 * (exit 1), since the core cannot go on without the entry. w must outlive the core. */
void wal_log_store(struct wal *w, struct raft_log_store *out);

/* Log compaction: drops whole segments that hold only entries <= upto (never the last
 * segment); first_index rises accordingly. Their files are deleted later, one per
 * wal_trim_step, because freeing a file's blocks stalls the caller (6 ms per segment
 * under write load, 70 ms for twelve at once): a crash before that leaves files that only
 * lengthen the log at the next start. 0 (it only does bookkeeping). */
int  wal_compact(struct wal *w, uint64_t upto, struct lum_err *err);

/* Deletes one segment file that wal_compact dropped; true if more are waiting. An error is
 * reported in err and the file left (it is only space). */
bool wal_trim_step(struct wal *w, struct lum_err *err, bool *failed_out);

/* Empties the log, durably: it now starts after index (a snapshot was installed that
 * includes everything up to index). 0 or -LUM_EIO. */
int  wal_reset(struct wal *w, uint64_t index, struct lum_err *err);

/* Closes every segment and frees w (NULL is fine). Unsynced appends are not synced. */
void wal_close(struct wal *w);

/* ---- snapshots (src/storage/snap.c; format described there) ------------------------------- */

#define SNAP_HEADER_SIZE 4096u
#define SNAP_KEEP        2u     /* snapshots kept; older ones are deleted */

struct snap_meta {
    uint64_t index, term;               /* the last entry the snapshot includes */
    struct raft_members members, members_old;
    uint64_t body_size;
    uint32_t body_crc;
    char     name[64];                  /* file name in snap/                    */
};

struct snap_writer;
struct snap_reader;

/* Starts snapshot (index, term) under a temporary name in data_dir/snap/. The body is
 * written with snap_writer_write (or through snap_writer_sink); snap_writer_finish makes it
 * durable under its final name (fdatasync, rename, directory fsync) and frees w; on any
 * error it removes the temporary file. 0, -LUM_EIO, -LUM_ENOSPC, -LUM_ENOMEM. */
int  snap_writer_open(int data_dirfd, uint64_t index, uint64_t term,
                      const struct raft_members *members, const struct raft_members *old,
                      struct snap_writer **out, struct lum_err *err);
int  snap_writer_write(struct snap_writer *w, const void *data, size_t len);
struct lum_sink snap_writer_sink(struct snap_writer *w);
int  snap_writer_finish(struct snap_writer *w, struct lum_err *err);
void snap_writer_abort(struct snap_writer *w);

/* The snapshots in data_dir/snap/ by name, newest (highest index) first; only index, term
 * and name are filled: nothing is checked. Removes leftover temporary files. */
int  snap_list(int data_dirfd, struct snap_meta *out, uint32_t cap, uint32_t *n_out,
               struct lum_err *err);
/* Reads the whole file and checks both checksums. 0, -LUM_ECORRUPT / -LUM_EVERSION with
 * the file and what is wrong in err, -LUM_ENOTFOUND, -LUM_EIO. */
int  snap_check(int data_dirfd, const char *name, struct snap_meta *meta_out,
                struct lum_err *err);
/* The same checks for a snapshot file anywhere (a backup, `raftctl backup`, `raftsrv
 * --restore`): messages name path. meta_out->name is path's last component. */
int  snap_file_check(const char *path, struct snap_meta *meta_out, struct lum_err *err);
/* Opens a snapshot's body for reading (the header is checked; check the body with
 * snap_check first). snap_read fills exactly len bytes or fails (-LUM_ECORRUPT past the
 * end). */
int  snap_reader_open(int data_dirfd, const char *name, struct snap_meta *meta_out,
                      struct snap_reader **out, struct lum_err *err);
/* The same for a snapshot file anywhere (messages name path). */
int  snap_reader_open_file(const char *path, struct snap_meta *meta_out,
                           struct snap_reader **out, struct lum_err *err);
int  snap_read(struct snap_reader *r, void *buf, size_t len);
struct lum_source snap_reader_source(struct snap_reader *r);
uint64_t snap_reader_left(const struct snap_reader *r);
/* After the whole body was read: 0 if it matches the header's body crc, else -LUM_ECORRUPT
 * (the file changed since snap_check, or was never checked). Bytes left unread are
 * -LUM_ECORRUPT too: the state did not take the whole body. */
int  snap_reader_verify(const struct snap_reader *r);
void snap_reader_close(struct snap_reader *r);
/* Deletes every snapshot whose index is below keep_from_index. */
void snap_remove_older(int data_dirfd, uint64_t keep_from_index);
/* The file name of snapshot (term, index). */
void snap_name(char *buf, size_t len, uint64_t term, uint64_t index);
/* A snapshot file opened for sending its bytes: the fd (caller closes) and its size. */
int  snap_file_open(int data_dirfd, const char *name, uint64_t *size_out, struct lum_err *err);

/* Receiving a snapshot from the leader: its bytes, in order, go to snap/recv.tmp
 * (offset 0 starts over; any other offset must be where the file ends, else
 * -LUM_EMALFORMED); snap_recv_finish checks the whole file and renames it into place. */
int  snap_recv_write(int data_dirfd, uint64_t offset, const void *data, size_t len,
                     struct lum_err *err);
int  snap_recv_finish(int data_dirfd, struct snap_meta *meta_out, struct lum_err *err);

/* ---- storage: the server's handle ------------------------------------------------------------ */

struct storage;

/* Opens (creating if needed: every missing directory of data_dir, and log/, each followed by
 * an fsync of its parent) and recovers data_dir, and takes an exclusive flock on it so a
 * second server cannot use it. boot_out gets the hard state from meta, last_index from the
 * log, snapshot_index = snapshot_term = 0 (no snapshots yet) and members zeroed: the caller
 * fills boot_out->members. If the log holds entries of a term above meta's (possible only
 * when a crash lost a meta update that a log write outlived), the term is raised to the
 * last log term with no vote, durably, with a lum_warn line: the node cannot have voted in
 * a term whose vote was not durable. opts may be NULL (defaults). On success *st_out is
 * owned by the caller (storage_close). Returns 0; -LUM_EINVAL for an empty or too long
 * path; -LUM_EBUSY if another process holds data_dir; -LUM_ECORRUPT (also: log entries but
 * no meta file, so a vote may have been lost); -LUM_EVERSION; -LUM_EIO; -LUM_ENOSPC;
 * -LUM_ENOMEM. */
int  storage_open(const char *data_dir, const struct storage_options *opts,
                  struct storage **st_out, struct raft_boot *boot_out, struct lum_err *err);
/* (storage_open also picks the snapshot to start from: the newest whose checksums hold.
 * A damaged newest one is reported with lum_error; an older one is used only if the log
 * still holds every entry after it, else -LUM_ECORRUPT says so. boot_out gets its index,
 * term and membership, and the log is made to start right after it if it ended before.) */

/* Records the hard state (a no-op if it equals the last one recorded); durable after
 * storage_sync. Returns as meta_write. */
int  storage_save_hard_state(struct storage *st, const struct raft_hard_state *hs,
                             struct lum_err *err);

/* Appends entries, with the suffix-conflict rule; durable after storage_sync. Preconditions,
 * rollback and returns as wal_append. */
int  storage_append(struct storage *st, const struct raft_entry *entries, uint32_t n,
                    struct lum_err *err);

/* Makes everything recorded since the last call durable: fdatasync of the segments written
 * (and fsync of log/ if segments were created), then fdatasync of meta if it changed; one
 * call per ready batch (group commit). If any of these fails the process cannot go on (the
 * page cache can no longer be trusted): it logs the error with lum_error and calls exit(1).
 * So when it returns, everything is durable. */
void storage_sync(struct storage *st);
/* How long the last storage_sync took, in nanoseconds of the monotonic clock (for the
 * server's fsync latency histogram); 0 before the first. */
uint64_t storage_last_sync_ns(const struct storage *st);

/* Step 2 of the ready contract (raft.h) for one batch: the hard state if
 * rd->hard_state_changed, the entries, then storage_sync. Returns 0 or an error of
 * storage_save_hard_state / storage_append (then nothing was synced and the messages of rd
 * must not be sent; after -LUM_ENOSPC the same batch may be persisted again later: the
 * server keeps it pending and retries every tick, see server.c server_finish_ready). */
int  storage_persist(struct storage *st, const struct raft_ready *rd, struct lum_err *err);

/* The log, for reads (wal_entry, wal_term, wal_*_index) and wal_log_store. Owned by st. */
struct wal *storage_wal(struct storage *st);

/* data_dir, open (for the snap_* functions). Owned by st. */
int  storage_dirfd(const struct storage *st);

/* Bytes of the files in data_dir, log/ and snap/ (segments, snapshots, meta): the node's
 * footprint on disk, as `raftctl status` shows it. A file that vanishes while it is counted
 * (compaction) is skipped. */
uint64_t storage_disk_bytes(const struct storage *st);

/* The snapshot storage_open chose to start from (index 0: none). */
const struct snap_meta *storage_snapshot(const struct storage *st);

/* Closes everything and releases the lock (NULL is fine). Does not sync. */
void storage_close(struct storage *st);

#endif
