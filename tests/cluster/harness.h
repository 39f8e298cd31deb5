/* The process-level test harness: real raftsrv processes on loopback, each with its own
 * config, data dir and log file in a temp dir of the test; free ports picked by the test;
 * kill -9 / SIGTERM / restart; bounded polling; raftctl runs with their exit codes.
 *
 * One cluster per test (Criterion runs each test in a process of its own). A cluster made by
 * cluster_create() is torn down by cluster_fini(), the suites' .fini: every process it
 * started is killed and reaped, its clients closed, its temp dir removed. A test that does
 * not reach cluster_passed() gets the tail of every node's log on stderr first. Processes
 * are also killed at exit and on SIGINT/SIGTERM/SIGHUP of the test, and die with it
 * (PR_SET_PDEATHSIG) if it is killed outright, e.g. by a Criterion timeout.
 *
 * Threads: start, stop and kill nodes from the test's main thread only (the death signal
 * follows the thread that forked). Clients may be used from any thread, one per thread. */
#ifndef LUMINOUS_TESTS_CLUSTER_HARNESS_H
#define LUMINOUS_TESTS_CLUSTER_HARNESS_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "luminous/client.h"
#include "luminous/io.h"  /* clock_mono_ms(), for the tests' own polling loops */
#include "luminous/wire.h"

#define CLUSTER_NODES_MAX   5u
#define CLUSTER_CLIENTS_MAX 64u
#define CLUSTER_WAIT_MS     30000u  /* any condition we poll for: generous, a loaded 2-core box */
#define CLUSTER_POLL_MS     20u     /* between two polls                                        */
#define CLUSTER_CLIENT_MS   5000u   /* one client call's deadline, redirects and retries included */
#define CLUSTER_RUN_OUT_MAX 16384u  /* bytes of a child's stdout / stderr kept                  */
#define CLUSTER_LOG_TAIL    30u     /* log lines shown per node when a test fails               */

/* Every test file uses these; tests end with cluster_passed(). */
#define CLUSTER_SUITE(name) TestSuite(name, .fini = cluster_fini, .timeout = 150)

struct cluster_node {
    uint64_t id;                      /* 1..n                                              */
    uint16_t peer_port, client_port;
    uint16_t resp_port;               /* resp_listen (the Redis protocol), in every config */
    char     peer_addr[32], client_addr[32];
    uint16_t http_port;               /* http_listen: GET /metrics, /health, /status       */
    char     http_addr[32];
    char     conf_path[PATH_MAX], log_path[PATH_MAX], data_dir[PATH_MAX];
    pid_t    pid;                     /* 0 when not running                                */
    int      starts;                  /* how many times started                            */
    int      wait_status;             /* of the last exit, from waitpid()                  */
    bool     paused;                  /* stopped with SIGSTOP: left alone by the waits     */
    char     fault_path[PATH_MAX];    /* the fault shim's control file; "" without it  */
    bool     outside;                 /* not a member (idle, removed): left alone by
                                         cluster_wait_leader; tests set and clear it      */
};

struct cluster {
    char     dir[64];                 /* mkdtemp; everything of the test lives here        */
    char     bin_dir[PATH_MAX];       /* $LUMINOUS_BIN_DIR, default "build"                */
    uint32_t n;
    uint32_t members;                 /* nodes 0..members-1 are the initial members       */
    char     extra[2048];             /* config lines of the test, after the defaults     */
    char     secret[128];             /* the cluster secret; "" none (cluster_set_secret) */
    char     secret_path[PATH_MAX];
    struct cluster_node nodes[CLUSTER_NODES_MAX];
    char     clients_list[CLUSTER_NODES_MAX * 32]; /* "127.0.0.1:P1,127.0.0.1:P2,..."  */
    struct lum_client *clients[CLUSTER_CLIENTS_MAX];
    uint32_t clients_count;
    bool     passed;
};

/* ---- life cycle ---------------------------------------------------------------------------- */

/* A temp dir and n nodes' configs (not started; n may be 0 for a bare workspace). extra is
 * appended to every config (e.g. "state_machine = counter\n"), may be NULL; a key it sets
 * replaces the harness's default for that key (tick_ms, segment_entries, ...). */
struct cluster *cluster_create(uint32_t n, const char *extra);
/* Like cluster_create, but only nodes 0..members-1 are the initial members (their configs
 * list each other); nodes members..n-1 get configs with no member lines, so they idle until
 * a leader adds them, and are marked outside. */
struct cluster *cluster_create_with_idle(uint32_t n, uint32_t members, const char *extra);
/* cluster_create + start every node + wait for a leader. Returns the cluster. */
struct cluster *cluster_up(uint32_t n, const char *extra);
/* Before the nodes start: writes secret to a file of the test's dir (mode 0600) and puts
 * secret_file into every node's config; the harness's clients, status polls and raftctl
 * runs (cluster_ctl) use it from then on. */
void cluster_set_secret(struct cluster *c, const char *secret);
/* The .fini of every suite: tears down the test's cluster, if any. */
void cluster_fini(void);
/* The last line of every test: checks that no node died on its own, and marks the test as
 * having reached its end (no log dump at teardown). */
void cluster_passed(void);

/* ---- nodes (i is 0-based: node id i+1) ------------------------------------------------------ */

void cluster_start(struct cluster *c, uint32_t i);
/* The same with more arguments after "-c CONF" (NULL-ended), e.g. --restore FILE. */
void cluster_start_args(struct cluster *c, uint32_t i, const char *const args[]);
void cluster_start_all(struct cluster *c);
/* kill -9 and reap. */
void cluster_kill(struct cluster *c, uint32_t i);
/* kill -9 every running node first, then reap them: they die together. */
void cluster_kill_all(struct cluster *c);
/* SIGTERM and wait (bounded) for the exit; returns the wait status. */
int  cluster_stop(struct cluster *c, uint32_t i);
/* SIGSTOP / SIGCONT: a node that is alive but silent, as behind a partition. */
void cluster_pause(struct cluster *c, uint32_t i);
void cluster_resume(struct cluster *c, uint32_t i);
/* Waits (bounded) for node i to exit on its own; returns the wait status. */
int  cluster_wait_exit(struct cluster *c, uint32_t i);
/* Fails the test (with logs) if a node we started has exited on its own. */
void cluster_check_alive(struct cluster *c);
bool cluster_running(struct cluster *c, uint32_t i);
/* Rewrites node i's config with no member lines (a server that waits to be added). */
void cluster_config_idle(struct cluster *c, uint32_t i);
/* Node i runs under the disk fault shim (tests/fault/shim.c, bin_dir/libfaultshim.so) from
 * its next start on, with no fault in force. */
void cluster_fault_shim(struct cluster *c, uint32_t i);
/* The fault in force for node i's data_dir from now on (within milliseconds, also while it
 * runs): "" none, "fsync_eio" fsync/fdatasync fail with EIO, "enospc" writes fail with
 * ENOSPC. */
void cluster_set_fault(struct cluster *c, uint32_t i, const char *fault);
/* rm -r of node i's data dir (the node must not be running). */
void cluster_remove_data(struct cluster *c, uint32_t i);

/* ---- observing -------------------------------------------------------------------------------- */

/* Node i's status through the client protocol; 0 or a negated LUM_E* code. */
int  cluster_status(struct cluster *c, uint32_t i, struct wire_status *out);
/* Waits until one running node is leader and every other running node follows it (paused
 * nodes are not asked); returns its index. Fails the test after CLUSTER_WAIT_MS. */
uint32_t cluster_wait_leader(struct cluster *c);
/* Waits until node i has applied at least index. */
void cluster_wait_applied(struct cluster *c, uint32_t i, uint64_t index);

/* Bytes in node i's log file now (a position for cluster_log_*). */
long cluster_log_size(struct cluster *c, uint32_t i);
/* Whether node i's log, from byte from on, has a line containing needle. */
bool cluster_log_has(struct cluster *c, uint32_t i, long from, const char *needle);
/* Waits for such a line; false after CLUSTER_WAIT_MS (the caller asserts). */
bool cluster_wait_log(struct cluster *c, uint32_t i, long from, const char *needle);
/* Prints the last CLUSTER_LOG_TAIL lines of every node's log to stderr. */
void cluster_dump_logs(struct cluster *c);

/* ---- files -------------------------------------------------------------------------------------- */

/* Writes text to dir/name; returns the path (static buffer, one at a time). */
const char *cluster_write_file(struct cluster *c, const char *name, const char *text);
/* The records of the log segment at path (format in src/storage/segment.c, read here
 * independently): how many there are, walking from the header while a record header is
 * not all zeros, and the byte offset of record k (k == count: where the next would go). A
 * file deleted meanwhile (compaction) has no records. */
uint32_t cluster_seg_records(const char *path);
/* The path of node i's first or last log segment (by name: NNN.seg, NNN = its first index). */
void cluster_segment_path(struct cluster *c, uint32_t i, bool last, char *path, size_t len);
/* XORs the byte at offset of the file at path with mask: bit rot, on purpose. */
void cluster_flip_byte(const char *path, off_t offset, uint8_t mask);
uint64_t cluster_seg_record_offset(const char *path, uint32_t k);
/* A free loopback port: bound to 127.0.0.1:0, read, closed. */
uint16_t cluster_free_port(void);
/* The pause between two polls of a condition (never a substitute for polling one). */
void cluster_pause_ms(uint32_t ms);

/* ---- clients ------------------------------------------------------------------------------------ */

/* A client of node i alone (i < c->n), or of every node (i == UINT32_MAX); closed at
 * teardown. timeout_ms 0: CLUSTER_CLIENT_MS. */
struct lum_client *cluster_client(struct cluster *c, uint32_t i, uint32_t timeout_ms);

/* Key-value helpers. Each returns the state machine's code (KV_OK, KV_NOT_FOUND, ...) when
 * the cluster answered with status 0, else the negated LUM_E* code of the call or of the
 * answer's status. */
int cluster_kv_put(struct lum_client *cl, const char *key, const char *value);
int cluster_kv_del(struct lum_client *cl, const char *key);
int cluster_kv_cas(struct lum_client *cl, const char *key, const char *old, const char *new_value);
/* value (NUL-terminated, up to cap-1 bytes) is filled on KV_OK. */
int cluster_kv_get(struct lum_client *cl, const char *key, bool stale, char *value, size_t cap);
/* Polls a --stale get on node i until it returns value (NULL: until the key is absent). */
void cluster_wait_stale_value(struct cluster *c, uint32_t i, const char *key, const char *value);

/* ---- child programs ------------------------------------------------------------------------------ */

struct cluster_run {
    int  exit_code;                   /* the exit status; 128 + signal if killed by one */
    char out[CLUSTER_RUN_OUT_MAX];    /* stdout, NUL-terminated, truncated               */
    char err[CLUSTER_RUN_OUT_MAX];    /* stderr, likewise                                */
};

/* Runs bin_dir/prog with args (NULL-terminated) and waits (bounded by limit_ms, then it is
 * killed and the test fails). LUMINOUS_CLUSTER is set to env_cluster, or removed if NULL. */
void cluster_exec(struct cluster *c, struct cluster_run *r, uint32_t limit_ms,
                  const char *env_cluster, const char *prog, const char *const args[]);
/* raftctl --cluster <the cluster's client addresses> --timeout 5000 args... (NULL-ended). */
void cluster_ctl(struct cluster *c, struct cluster_run *r, ...) __attribute__((sentinel));
/* raftctl --cluster list (NULL: every node) --timeout timeout_ms args... (NULL-ended). */
void cluster_ctl_at(struct cluster *c, struct cluster_run *r, const char *list,
                    uint32_t timeout_ms, ...) __attribute__((sentinel));
/* Starts raftctl --cluster <every node> --timeout 5000 args... (NULL-ended), stdout and
 * stderr to out_fd, without waiting: for commands that run until stopped (watch-status). A
 * failing test kills it with its cluster; cluster_reap() waits for it. */
pid_t cluster_ctl_spawn(struct cluster *c, int out_fd, ...) __attribute__((sentinel));
/* Waits up to limit_ms for a child the harness started; true with its wait status, false
 * if it had to be killed (and was reaped: status is then the kill's). */
bool cluster_reap(pid_t pid, uint32_t limit_ms, int *status);

/* ---- a write load --------------------------------------------------------------------------- */

/* writers threads, each with its own client of every node, each putting keys w<t>-<i>
 * (i = 0..keys_per_writer-1) one after another, recording which were acknowledged. */
#define CLUSTER_LOAD_WRITERS_MAX 32u

struct cluster_load;

struct cluster_load_writer {
    struct cluster_load *load;
    uint32_t  id;
    struct lum_client *client;
    pthread_t thread;
    uint32_t  attempted;          /* puts started: keys 0..attempted-1                 */
    bool     *ok;                 /* [i]: put i was acknowledged                       */
};

struct cluster_load {
    atomic_bool stop;
    atomic_uint acked, failed, done;
    uint32_t writers, keys_per_writer;
    uint32_t started;             /* threads created                                   */
    bool     running;
    struct cluster_load_writer w[CLUSTER_LOAD_WRITERS_MAX];
};

/* Key and value of writer's put i. */
void cluster_load_kv(uint32_t writer, uint32_t i, char *key, size_t klen, char *value,
                     size_t vlen);
void cluster_load_start(struct cluster *c, struct cluster_load *ld, uint32_t writers,
                        uint32_t keys_per_writer, uint32_t client_timeout_ms);
/* Waits until more writes than now are acknowledged; returns the total. */
uint32_t cluster_load_wait_acked(struct cluster *c, struct cluster_load *ld, uint32_t more);
/* Waits (up to limit_ms, and failing if no write finishes for CLUSTER_WAIT_MS) until every
 * writer has done all its puts, then joins them. */
void cluster_load_wait_done(struct cluster *c, struct cluster_load *ld, uint32_t limit_ms);
/* Stops the writers (after the put each is doing) and joins them. */
void cluster_load_stop(struct cluster_load *ld);
/* Reads every key back, one thread per writer, through node i (UINT32_MAX: any node;
 * stale: from that node's own state): every acknowledged put is there with its value, an
 * unacknowledged one is there with its value or absent, the next one was never written.
 * Returns the number of acknowledged puts checked. */
uint32_t cluster_load_verify(struct cluster *c, struct cluster_load *ld, uint32_t i, bool stale);
/* Stops the writers and frees what the load allocated; cluster_fini does it for a test that
 * failed before it could (one load per test). */
void cluster_load_free(struct cluster_load *ld);

#endif
