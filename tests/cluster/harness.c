/* The process-level test harness (see harness.h): starts real raftsrv processes on loopback
 * ports chosen here, drives them with signals and the client library, runs raftctl, and
 * always cleans up what it started. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <pthread.h>

#include "harness.h"
#include "luminous/io.h"
#include "luminous/kv.h"

#define CLUSTER_TMP_PREFIX  "/tmp/luminous-cluster-"
#define CLUSTER_PIDS_MAX    64u
#define CLUSTER_STOP_MS     15000u  /* SIGTERM to exit, before we call it hung */
#define CLUSTER_ENV_MAX     512u

extern char **environ;

/* The test's cluster, torn down by cluster_fini(). */
static struct cluster *cluster_current;
/* The test's write load, if any: stopped by cluster_fini() before the clients it uses close. */
static struct cluster_load *cluster_load_current;

/* Every child we started and have not reaped, for the exit and signal paths. */
static volatile pid_t cluster_pids[CLUSTER_PIDS_MAX];

static void cluster_pids_add(pid_t pid)
{
    for (uint32_t i = 0; i < CLUSTER_PIDS_MAX; i++) {
        if (cluster_pids[i] == 0) {
            cluster_pids[i] = pid;
            return;
        }
    }
    kill(pid, SIGKILL);
    cr_assert_fail("harness: more than %u children at once", CLUSTER_PIDS_MAX);
}

static void cluster_pids_remove(pid_t pid)
{
    for (uint32_t i = 0; i < CLUSTER_PIDS_MAX; i++)
        if (cluster_pids[i] == pid)
            cluster_pids[i] = 0;
}

/* Async-signal-safe: kill, no reaping (we are on our way out). */
static void cluster_pids_kill(void)
{
    for (uint32_t i = 0; i < CLUSTER_PIDS_MAX; i++)
        if (cluster_pids[i] > 0)
            kill(cluster_pids[i], SIGKILL);
}

static void cluster_on_fatal_signal(int sig)
{
    cluster_pids_kill();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cluster_install_guards(void)
{
    static bool installed;
    if (installed)
        return;
    installed = true;
    atexit(cluster_pids_kill);
    struct sigaction sa = {.sa_handler = cluster_on_fatal_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void cluster_pause_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- files ---------------------------------------------------------------------------------- */

static void cluster_write_path(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "harness: cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    cr_assert_eq(fwrite(text, 1, len, f), len, "harness: cannot write %s", path);
    cr_assert_eq(fclose(f), 0, "harness: cannot write %s", path);
}

const char *cluster_write_file(struct cluster *c, const char *name, const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    cluster_write_path(path, text);
    return path;
}

/* The whole file from byte from on (NUL-terminated, malloc'd), or NULL if unreadable. */
static char *cluster_read_from(const char *path, long from, size_t *len_out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long end = ftell(f);
    if (from > end)
        from = end;
    size_t len = (size_t)(end - from);
    char *buf = malloc(len + 1);
    if (!buf || fseek(f, from, SEEK_SET) != 0) {
        free(buf);
        fclose(f);
        return NULL;
    }
    len = fread(buf, 1, len, f);
    buf[len] = '\0';
    fclose(f);
    if (len_out)
        *len_out = len;
    return buf;
}

static int cluster_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -r of our own temp dir, and only of that. */
static void cluster_remove_dir(const char *dir)
{
    if (strncmp(dir, CLUSTER_TMP_PREFIX, strlen(CLUSTER_TMP_PREFIX)) != 0 ||
        strstr(dir, "..") != NULL)
        return;
    nftw(dir, cluster_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint16_t cluster_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "harness: socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    int rv = bind(fd, (struct sockaddr *)&a, sizeof a);
    if (rv == 0)
        rv = getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    cr_assert_eq(rv, 0, "harness: cannot find a free port: %s", strerror(errno));
    return ntohs(a.sin_port);
}

/* Ports per node: peer, client, http, resp. */
#define CLUSTER_PORTS_PER_NODE 4u

/* n distinct free ports: all are bound at once before any is released. */
static void cluster_free_ports(uint16_t *ports, uint32_t n)
{
    int fds[CLUSTER_PORTS_PER_NODE * CLUSTER_NODES_MAX];
    cr_assert_leq(n, CLUSTER_PORTS_PER_NODE * CLUSTER_NODES_MAX);
    for (uint32_t i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[i], 0, "harness: socket: %s", strerror(errno));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t alen = sizeof a;
        cr_assert_eq(bind(fds[i], (struct sockaddr *)&a, sizeof a), 0,
                     "harness: bind 127.0.0.1:0: %s", strerror(errno));
        cr_assert_eq(getsockname(fds[i], (struct sockaddr *)&a, &alen), 0);
        ports[i] = ntohs(a.sin_port);
    }
    for (uint32_t i = 0; i < n; i++)
        close(fds[i]);
}

/* ---- life cycle ------------------------------------------------------------------------------- */

/* Whether extra sets key (a line "key = ..."): then it replaces the harness's default. */
static bool cluster_extra_sets(const char *extra, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = extra; line && *line;) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, key, klen) == 0) {
            const char *p = line + klen;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '=')
                return true;
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

/* Node i's config: with member lines for the cluster's initial members, or with none (a
 * server that idles until a leader adds it). */
static void cluster_write_config(struct cluster *c, uint32_t i, bool with_members)
{
    struct cluster_node *nd = &c->nodes[i];
    char text[8192];
    int off = snprintf(text, sizeof text,
                       "# node %llu of a test cluster, written by tests/cluster/harness.c\n"
                       "id = %llu\n"
                       "data_dir = %s\n"
                       "peer_listen = %s\n"
                       "client_listen = %s\n"
                       "resp_listen = 127.0.0.1:%u\n"
                       "http_listen = %s\n",
                       (unsigned long long)nd->id, (unsigned long long)nd->id, nd->data_dir,
                       nd->peer_addr, nd->client_addr, nd->resp_port, nd->http_addr);
    for (uint32_t m = 0; with_members && m < c->members; m++)
        off += snprintf(text + off, sizeof text - (size_t)off, "member = %llu %s %s\n",
                        (unsigned long long)c->nodes[m].id, c->nodes[m].peer_addr,
                        c->nodes[m].client_addr);
    /* Faster than the defaults, still far from the noise of a loaded machine. A window of
     * 128 entries makes a lagging follower's catch-up read the leader's log from disk.
     * A test's extra lines may replace any of these. */
    static const char *const defaults[][2] = {
        {"tick_ms", "25"},         {"election_ticks", "12"}, {"heartbeat_ticks", "2"},
        {"log_window", "128"},     {"segment_entries", "256"}, {"max_clients", "256"},
        {"max_pending", "4096"},   {"log_level", "info"},
    };
    for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++)
        if (!cluster_extra_sets(c->extra, defaults[k][0]))
            off += snprintf(text + off, sizeof text - (size_t)off, "%s = %s\n", defaults[k][0],
                            defaults[k][1]);
    off += snprintf(text + off, sizeof text - (size_t)off, "%s", c->extra);
    cr_assert_lt((size_t)off, sizeof text);
    cluster_write_path(nd->conf_path, text);
}

struct cluster *cluster_create_with_idle(uint32_t n, uint32_t members, const char *extra)
{
    cr_assert_leq(n, CLUSTER_NODES_MAX);
    cr_assert_leq(members, n);
    cr_assert_null(cluster_current, "harness: one cluster per test");
    cluster_install_guards();
    struct cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    snprintf(c->dir, sizeof c->dir, "%sXXXXXX", CLUSTER_TMP_PREFIX);
    cr_assert_not_null(mkdtemp(c->dir), "harness: mkdtemp: %s", strerror(errno));
    cluster_current = c;

    const char *bin = getenv("LUMINOUS_BIN_DIR");
    if (!bin || !*bin)
        bin = "build";
    if (!realpath(bin, c->bin_dir))
        cr_assert_fail("harness: LUMINOUS_BIN_DIR %s: %s (run make all first)", bin,
                       strerror(errno));

    c->n = n;
    c->members = members;
    cr_assert_lt(strlen(extra ? extra : ""), sizeof c->extra, "harness: extra config too long");
    snprintf(c->extra, sizeof c->extra, "%s", extra ? extra : "");
    uint16_t ports[CLUSTER_PORTS_PER_NODE * CLUSTER_NODES_MAX];
    cluster_free_ports(ports, CLUSTER_PORTS_PER_NODE * n);
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct cluster_node *nd = &c->nodes[i];
        nd->id = i + 1;
        nd->peer_port = ports[CLUSTER_PORTS_PER_NODE * i];
        nd->client_port = ports[CLUSTER_PORTS_PER_NODE * i + 1];
        nd->http_port = ports[CLUSTER_PORTS_PER_NODE * i + 2];
        nd->resp_port = ports[CLUSTER_PORTS_PER_NODE * i + 3];
        snprintf(nd->http_addr, sizeof nd->http_addr, "127.0.0.1:%u", nd->http_port);
        snprintf(nd->peer_addr, sizeof nd->peer_addr, "127.0.0.1:%u", nd->peer_port);
        snprintf(nd->client_addr, sizeof nd->client_addr, "127.0.0.1:%u", nd->client_port);
        snprintf(nd->conf_path, sizeof nd->conf_path, "%s/node%u.conf", c->dir, i + 1);
        snprintf(nd->log_path, sizeof nd->log_path, "%s/node%u.log", c->dir, i + 1);
        snprintf(nd->data_dir, sizeof nd->data_dir, "%s/node%u", c->dir, i + 1);
        off += (size_t)snprintf(c->clients_list + off, sizeof c->clients_list - off, "%s%s",
                                i ? "," : "", nd->client_addr);
    }
    for (uint32_t i = 0; i < n; i++) {
        c->nodes[i].outside = i >= members;
        cluster_write_config(c, i, i < members);
    }
    return c;
}

struct cluster *cluster_create(uint32_t n, const char *extra)
{
    return cluster_create_with_idle(n, n, extra);
}

void cluster_set_secret(struct cluster *c, const char *secret)
{
    cr_assert_lt(strlen(secret), sizeof c->secret);
    snprintf(c->secret, sizeof c->secret, "%s", secret);
    snprintf(c->secret_path, sizeof c->secret_path, "%s",
             cluster_write_file(c, "secret", secret));
    cr_assert_eq(chmod(c->secret_path, 0600), 0);
    size_t len = strlen(c->extra);
    int n = snprintf(c->extra + len, sizeof c->extra - len, "secret_file = %s\n",
                     c->secret_path);
    cr_assert_lt((size_t)n, sizeof c->extra - len, "harness: extra config too long");
    for (uint32_t i = 0; i < c->n; i++)
        cluster_write_config(c, i, i < c->members);
}

/* Gives cl the cluster's secret, if it has one. */
static void cluster_client_secret(struct cluster *c, struct lum_client *cl)
{
    if (c->secret[0])
        cr_assert_eq(lum_client_set_secret(cl, c->secret, strlen(c->secret)), 0);
}

void cluster_config_idle(struct cluster *c, uint32_t i)
{
    cr_assert_lt(i, c->n);
    cluster_write_config(c, i, false);
}

void cluster_remove_data(struct cluster *c, uint32_t i)
{
    cr_assert_lt(i, c->n);
    cr_assert_eq(c->nodes[i].pid, 0, "harness: node %u is running", i + 1);
    cluster_remove_dir(c->nodes[i].data_dir);
    struct stat sb;
    cr_assert_neq(stat(c->nodes[i].data_dir, &sb), 0, "harness: %s is still there",
                  c->nodes[i].data_dir);
}

struct cluster *cluster_up(uint32_t n, const char *extra)
{
    struct cluster *c = cluster_create(n, extra);
    cluster_start_all(c);
    cluster_wait_leader(c);
    return c;
}

void cluster_passed(void)
{
    if (!cluster_current)
        return;
    cluster_check_alive(cluster_current); /* a node that crashed late fails the test too */
    cluster_current->passed = true;
}

void cluster_fini(void)
{
    struct cluster *c = cluster_current;
    if (!c)
        return;
    if (!c->passed) {
        fprintf(stderr, "harness: the test failed; its cluster ran in %s\n", c->dir);
        cluster_dump_logs(c);
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (c->nodes[i].pid > 0)
            kill(c->nodes[i].pid, SIGKILL);
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].pid > 0) {
            waitpid(c->nodes[i].pid, NULL, 0);
            cluster_pids_remove(c->nodes[i].pid);
            c->nodes[i].pid = 0;
        }
    }
    if (cluster_load_current) {
        cluster_load_free(cluster_load_current);
        cluster_load_current = NULL;
    }
    for (uint32_t i = 0; i < c->clients_count; i++)
        lum_client_close(c->clients[i]);
    const char *keep = getenv("LUMINOUS_KEEP_TMP");
    if (keep && *keep)
        fprintf(stderr, "harness: kept %s (LUMINOUS_KEEP_TMP)\n", c->dir);
    else
        cluster_remove_dir(c->dir);
    free(c);
    cluster_current = NULL;
}

/* ---- processes --------------------------------------------------------------------------------- */

/* fork + exec with stdin from /dev/null and the given stdout/stderr. Between fork and exec
 * the child calls only async-signal-safe functions: the parent may have threads. */
static pid_t cluster_spawn(const char *path, char *const argv[], char *const envp[], int out_fd,
                           int err_fd)
{
    cr_assert_eq(access(path, X_OK), 0, "harness: %s: %s (run make all first)", path,
                 strerror(errno));
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(null_fd, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "harness: fork: %s", strerror(errno));
    if (pid == 0) {
        /* die with the test, whatever kills it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
            _exit(127);
        /* nothing of the test runner (its pipes) may live on in the child */
        if (close_range(3, ~0u, 0) != 0)
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
        execve(path, argv, envp);
        _exit(127);
    }
    close(null_fd);
    cluster_pids_add(pid);
    return pid;
}

/* A line in node i's log from the harness, to read the log against the test's actions. */
static void cluster_log_note(struct cluster *c, uint32_t i, const char *what)
{
    int fd = open(c->nodes[i].log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[256];
    int n = snprintf(line, sizeof line, "=== harness: %s\n", what);
    if (write(fd, line, (size_t)n) < 0) {
        /* only a note */
    }
    close(fd);
}

void cluster_start(struct cluster *c, uint32_t i)
{
    cluster_start_args(c, i, NULL);
}

void cluster_start_args(struct cluster *c, uint32_t i, const char *const args[])
{
    cr_assert_lt(i, c->n);
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_eq(nd->pid, 0, "harness: node %u is already running", i + 1);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/raftsrv", c->bin_dir);
    char *argv[16] = {path, "-c", nd->conf_path};
    for (size_t k = 0; args && args[k]; k++) {
        cr_assert_lt(k + 4, sizeof argv / sizeof argv[0], "harness: too many arguments");
        argv[3 + k] = (char *)args[k];
    }
    char note[64];
    snprintf(note, sizeof note, "start #%d of node %u", nd->starts + 1, i + 1);
    cluster_log_note(c, i, note);
    int fd = open(nd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0, "harness: %s: %s", nd->log_path, strerror(errno));
    char *envp[512];
    size_t n = 0;
    for (char **e = environ; *e && n < 500; e++)
        if (!nd->fault_path[0] || (strncmp(*e, "LD_PRELOAD=", 11) != 0 &&
                                   strncmp(*e, "ASAN_OPTIONS=", 13) != 0))
            envp[n++] = *e;
    char preload[PATH_MAX + 32], file[PATH_MAX + 32], dir[PATH_MAX + 32], asan_opts[1024];
    if (nd->fault_path[0]) {
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s/libfaultshim.so", c->bin_dir);
        cr_assert_eq(access(preload + 11, R_OK), 0, "harness: %s missing (make it first)",
                     preload + 11);
        snprintf(file, sizeof file, "LUMINOUS_FAULT_FILE=%s", nd->fault_path);
        snprintf(dir, sizeof dir, "LUMINOUS_FAULT_DIR=%s", nd->data_dir);
        envp[n++] = preload;
        envp[n++] = file;
        envp[n++] = dir;
        /* under AddressSanitizer the shim loads ahead of its runtime: allow that */
        const char *asan = getenv("ASAN_OPTIONS");
        snprintf(asan_opts, sizeof asan_opts, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 asan ? asan : "", asan && asan[0] ? ":" : "");
        envp[n++] = asan_opts;
    }
    envp[n] = NULL;
    nd->pid = cluster_spawn(path, argv, envp, fd, fd);
    close(fd);
    nd->starts++;
}

void cluster_fault_shim(struct cluster *c, uint32_t i)
{
    cr_assert_lt(i, c->n);
    struct cluster_node *nd = &c->nodes[i];
    char path[sizeof c->dir + 24];
    snprintf(path, sizeof path, "%s/fault-%u", c->dir, i + 1);
    memcpy(nd->fault_path, path, strlen(path) + 1); /* sizeof path < PATH_MAX */
    cluster_set_fault(c, i, "");
}

void cluster_set_fault(struct cluster *c, uint32_t i, const char *fault)
{
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_neq(nd->fault_path[0], '\0', "harness: node %u runs without the fault shim",
                  i + 1);
    /* a new file renamed over the old: the shim never reads half of one */
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", nd->fault_path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f, "harness: %s: %s", tmp, strerror(errno));
    fputs(fault, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, nd->fault_path), 0, "harness: %s: %s", nd->fault_path,
                 strerror(errno));
    char note[96];
    snprintf(note, sizeof note, "disk fault now \"%s\"", fault);
    cluster_log_note(c, i, note);
}

void cluster_start_all(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        cluster_start(c, i);
}

static void cluster_reaped(struct cluster *c, uint32_t i, int status)
{
    cluster_pids_remove(c->nodes[i].pid);
    c->nodes[i].pid = 0;
    c->nodes[i].paused = false;
    c->nodes[i].wait_status = status;
}

void cluster_kill(struct cluster *c, uint32_t i)
{
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_gt(nd->pid, 0, "harness: node %u is not running", i + 1);
    kill(nd->pid, SIGKILL);
    int status;
    cr_assert_eq(waitpid(nd->pid, &status, 0), nd->pid);
    cluster_reaped(c, i, status);
    cluster_log_note(c, i, "killed with SIGKILL");
}

void cluster_kill_all(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->nodes[i].pid > 0)
            kill(c->nodes[i].pid, SIGKILL);
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].pid > 0) {
            int status;
            cr_assert_eq(waitpid(c->nodes[i].pid, &status, 0), c->nodes[i].pid);
            cluster_reaped(c, i, status);
            cluster_log_note(c, i, "killed with SIGKILL");
        }
    }
}

int cluster_stop(struct cluster *c, uint32_t i)
{
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_gt(nd->pid, 0, "harness: node %u is not running", i + 1);
    cluster_log_note(c, i, "sending SIGTERM");
    kill(nd->pid, SIGTERM);
    uint64_t deadline = clock_mono_ms() + CLUSTER_STOP_MS;
    for (;;) {
        int status;
        pid_t r = waitpid(nd->pid, &status, WNOHANG);
        if (r == nd->pid) {
            cluster_reaped(c, i, status);
            return status;
        }
        if (clock_mono_ms() >= deadline) {
            kill(nd->pid, SIGKILL);
            waitpid(nd->pid, &status, 0);
            cluster_reaped(c, i, status);
            cr_assert_fail("node %u did not exit within %u ms of SIGTERM", i + 1,
                           CLUSTER_STOP_MS);
        }
        cluster_pause_ms(10);
    }
}

void cluster_pause(struct cluster *c, uint32_t i)
{
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_gt(nd->pid, 0, "harness: node %u is not running", i + 1);
    cluster_log_note(c, i, "paused with SIGSTOP");
    kill(nd->pid, SIGSTOP);
    nd->paused = true;
}

void cluster_resume(struct cluster *c, uint32_t i)
{
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_gt(nd->pid, 0, "harness: node %u is not running", i + 1);
    kill(nd->pid, SIGCONT);
    nd->paused = false;
    cluster_log_note(c, i, "resumed with SIGCONT");
}

int cluster_wait_exit(struct cluster *c, uint32_t i)
{
    struct cluster_node *nd = &c->nodes[i];
    cr_assert_gt(nd->pid, 0, "harness: node %u is not running", i + 1);
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (clock_mono_ms() < deadline) {
        int status;
        if (waitpid(nd->pid, &status, WNOHANG) == nd->pid) {
            cluster_reaped(c, i, status);
            return status;
        }
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("node %u still runs after %u ms", i + 1, CLUSTER_WAIT_MS);
    return 0;
}

bool cluster_running(struct cluster *c, uint32_t i)
{
    struct cluster_node *nd = &c->nodes[i];
    if (nd->pid <= 0)
        return false;
    int status;
    if (waitpid(nd->pid, &status, WNOHANG) == nd->pid) {
        cluster_reaped(c, i, status);
        return false;
    }
    return true;
}

static void cluster_describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "wait status %d", status);
}

void cluster_check_alive(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].pid > 0 && !cluster_running(c, i)) {
            char how[128];
            cluster_describe_status(c->nodes[i].wait_status, how, sizeof how);
            cr_assert_fail("node %u exited on its own: %s", i + 1, how);
        }
    }
}

/* ---- observing ------------------------------------------------------------------------------------ */

int cluster_status(struct cluster *c, uint32_t i, struct wire_status *out)
{
    struct lum_client *cl;
    struct lum_err err;
    int rv = lum_client_open(c->nodes[i].client_addr, 1000, &cl, &err);
    cr_assert_eq(rv, 0, "harness: %s", err.msg);
    cluster_client_secret(c, cl);
    rv = lum_client_status(cl, 0, out, &err);
    lum_client_close(cl);
    return rv;
}

uint32_t cluster_wait_leader(struct cluster *c)
{
    /* static, not malloc'd: a failed assertion below leaves the function by a long jump */
    static struct wire_status st[CLUSTER_NODES_MAX];
    memset(st, 0, sizeof st);
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    char seen[256] = "no node answered";
    while (clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        int leader = -1;
        bool ok = true;
        for (uint32_t i = 0; i < c->n && ok; i++) {
            if (c->nodes[i].pid <= 0 || c->nodes[i].paused || c->nodes[i].outside)
                continue;
            if (cluster_status(c, i, &st[i]) != 0) {
                snprintf(seen, sizeof seen, "node %u does not answer status", i + 1);
                ok = false;
            } else if (st[i].role == RAFT_LEADER) {
                if (leader >= 0 && st[leader].term == st[i].term)
                    cr_assert_fail("nodes %d and %u both lead term %llu", leader + 1, i + 1,
                                   (unsigned long long)st[i].term);
                if (leader < 0 || st[i].term > st[leader].term)
                    leader = (int)i;
            }
        }
        for (uint32_t i = 0; i < c->n && ok && leader >= 0; i++) {
            if (c->nodes[i].pid > 0 && !c->nodes[i].paused && !c->nodes[i].outside &&
                st[i].leader_id != c->nodes[leader].id) {
                snprintf(seen, sizeof seen, "node %u follows %llu, not %d", i + 1,
                         (unsigned long long)st[i].leader_id, leader + 1);
                ok = false;
            }
        }
        if (ok && leader >= 0)
            return (uint32_t)leader;
        if (ok)
            snprintf(seen, sizeof seen, "no leader");
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("no leader that every running node follows within %u ms (last: %s)",
                   CLUSTER_WAIT_MS, seen);
    return 0;
}

void cluster_wait_applied(struct cluster *c, uint32_t i, uint64_t index)
{
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    uint64_t applied = 0;
    struct wire_status st;
    while (clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        if (cluster_status(c, i, &st) == 0) {
            applied = st.applied_index;
            if (applied >= index)
                return;
        }
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("node %u applied only up to %llu, not %llu, within %u ms", i + 1,
                   (unsigned long long)applied, (unsigned long long)index, CLUSTER_WAIT_MS);
}

/* Walks the records of a segment: stops at record k, at a zero header or at the end. */
static uint32_t cluster_seg_walk(const char *path, uint32_t k, uint64_t *off_out)
{
    const uint64_t header = 4096;
    uint64_t off = header;
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT) { /* deleted since it was listed: compaction */
        *off_out = off;
        return 0;
    }
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    uint32_t count = 0;
    for (; count < k; count++) {
        uint8_t h[32];
        if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(h, 1, sizeof h, f) != sizeof h)
            break;
        bool zero = true;
        for (size_t i = 0; i < sizeof h; i++)
            zero &= h[i] == 0;
        if (zero)
            break;
        uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
                       (uint32_t)h[7] << 24;
        off += (32u + (uint64_t)len + 7) & ~(uint64_t)7;
    }
    fclose(f);
    *off_out = off;
    return count;
}

/* The path of node i's first or last log segment (by name: NNN.seg, NNN = first index). */
void cluster_segment_path(struct cluster *c, uint32_t i, bool last, char *path, size_t len)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/log", c->nodes[i].data_dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    char best[256] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".seg") != 0)
            continue;
        if (!best[0] || (last ? strcmp(de->d_name, best) > 0 : strcmp(de->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(d);
    cr_assert_neq(best[0], '\0', "no segment in %s", dir);
    snprintf(path, len, "%s/%s", dir, best);
}

void cluster_flip_byte(const char *path, off_t offset, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0, "%s", path);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, offset), 1, "%s at %lld", path, (long long)offset);
    b ^= mask;
    cr_assert_eq(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

uint32_t cluster_seg_records(const char *path)
{
    uint64_t off;
    return cluster_seg_walk(path, UINT32_MAX, &off);
}

uint64_t cluster_seg_record_offset(const char *path, uint32_t k)
{
    uint64_t off;
    uint32_t n = cluster_seg_walk(path, k, &off);
    cr_assert_eq(n, k, "%s has %u records, not %u", path, n, k);
    return off;
}

long cluster_log_size(struct cluster *c, uint32_t i)
{
    struct stat sb;
    return stat(c->nodes[i].log_path, &sb) == 0 ? (long)sb.st_size : 0;
}

bool cluster_log_has(struct cluster *c, uint32_t i, long from, const char *needle)
{
    char *text = cluster_read_from(c->nodes[i].log_path, from, NULL);
    bool found = text && strstr(text, needle) != NULL;
    free(text);
    return found;
}

bool cluster_wait_log(struct cluster *c, uint32_t i, long from, const char *needle)
{
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (clock_mono_ms() < deadline) {
        if (cluster_log_has(c, i, from, needle))
            return true;
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    return cluster_log_has(c, i, from, needle);
}

void cluster_dump_logs(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        size_t len;
        char *text = cluster_read_from(c->nodes[i].log_path, 0, &len);
        fprintf(stderr, "---- node %u (%s, client %s): last %u lines of %s ----\n", i + 1,
                c->nodes[i].pid > 0 ? "running" : "not running", c->nodes[i].client_addr,
                CLUSTER_LOG_TAIL, c->nodes[i].log_path);
        if (!text) {
            fprintf(stderr, "(no log)\n");
            continue;
        }
        const char *start = text + len;
        uint32_t lines = 0;
        while (start > text && lines <= CLUSTER_LOG_TAIL) {
            start--;
            if (*start == '\n' && start + 1 < text + len)
                lines++;
        }
        if (lines > CLUSTER_LOG_TAIL)
            start++; /* past the newline that ends the line before the tail */
        fputs(start, stderr);
        if (len > 0 && text[len - 1] != '\n')
            fputc('\n', stderr);
        free(text);
    }
}

/* ---- clients ------------------------------------------------------------------------------------ */

struct lum_client *cluster_client(struct cluster *c, uint32_t i, uint32_t timeout_ms)
{
    cr_assert(i < c->n || i == UINT32_MAX);
    cr_assert_lt(c->clients_count, CLUSTER_CLIENTS_MAX, "harness: too many clients");
    const char *list = i == UINT32_MAX ? c->clients_list : c->nodes[i].client_addr;
    struct lum_client *cl;
    struct lum_err err;
    int rv = lum_client_open(list, timeout_ms ? timeout_ms : CLUSTER_CLIENT_MS, &cl, &err);
    cr_assert_eq(rv, 0, "harness: client of %s: %s", list, err.msg);
    cluster_client_secret(c, cl);
    c->clients[c->clients_count++] = cl;
    return cl;
}

static int cluster_kv_reply(int rv, const struct lum_reply *r)
{
    if (rv != 0)
        return rv;
    if (r->status != 0)
        return r->status;
    return r->code;
}

int cluster_kv_put(struct lum_client *cl, const char *key, const char *value)
{
    uint8_t body[RAFT_PAYLOAD_MAX];
    int len = kv_encode_put(body, sizeof body, key, strlen(key), value, strlen(value), 0);
    if (len < 0)
        return len;
    struct lum_reply r;
    struct lum_err err;
    return cluster_kv_reply(lum_client_command(cl, KV_PUT, body, (uint32_t)len, &r, &err), &r);
}

int cluster_kv_del(struct lum_client *cl, const char *key)
{
    uint8_t body[RAFT_PAYLOAD_MAX];
    int len = kv_encode_del(body, sizeof body, key, strlen(key));
    if (len < 0)
        return len;
    struct lum_reply r;
    struct lum_err err;
    return cluster_kv_reply(lum_client_command(cl, KV_DEL, body, (uint32_t)len, &r, &err), &r);
}

int cluster_kv_cas(struct lum_client *cl, const char *key, const char *old, const char *new_value)
{
    uint8_t body[RAFT_PAYLOAD_MAX];
    int len = kv_encode_cas(body, sizeof body, key, strlen(key), old, strlen(old), new_value,
                            strlen(new_value));
    if (len < 0)
        return len;
    struct lum_reply r;
    struct lum_err err;
    return cluster_kv_reply(lum_client_command(cl, KV_CAS, body, (uint32_t)len, &r, &err), &r);
}

int cluster_kv_get(struct lum_client *cl, const char *key, bool stale, char *value, size_t cap)
{
    uint8_t body[KV_KEY_MAX + 16];
    int len = kv_encode_get(body, sizeof body, key, strlen(key));
    if (len < 0)
        return len;
    struct lum_reply r;
    struct lum_err err;
    int rv = cluster_kv_reply(lum_client_query(cl, body, (uint32_t)len, stale, &r, &err), &r);
    if (rv == KV_OK && value && cap > 0) {
        size_t n = r.len < cap - 1 ? r.len : cap - 1;
        memcpy(value, r.data, n);
        value[n] = '\0';
    }
    return rv;
}

void cluster_wait_stale_value(struct cluster *c, uint32_t i, const char *key, const char *value)
{
    struct lum_client *cl = cluster_client(c, i, 1000);
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    char got[4096] = "";
    int rv = 0;
    while (clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        rv = cluster_kv_get(cl, key, true, got, sizeof got);
        if (value ? rv == KV_OK && strcmp(got, value) == 0 : rv == KV_NOT_FOUND)
            return;
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("node %u: a stale get of \"%s\" gave %d \"%s\", not %s \"%s\", for %u ms",
                   i + 1, key, rv, rv == KV_OK ? got : "", value ? "the value" : "absent",
                   value ? value : "", CLUSTER_WAIT_MS);
}

/* ---- child programs ------------------------------------------------------------------------------ */

bool cluster_reap(pid_t pid, uint32_t limit_ms, int *status)
{
    uint64_t deadline = clock_mono_ms() + limit_ms;
    bool exited = true;
    while (waitpid(pid, status, WNOHANG) != pid) {
        if (clock_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            exited = false;
            break;
        }
        cluster_pause_ms(5);
    }
    cluster_pids_remove(pid);
    return exited;
}

static void cluster_read_output(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    char *text = cluster_read_from(path, 0, &len);
    buf[0] = '\0';
    if (!text)
        return;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    free(text);
}

void cluster_exec(struct cluster *c, struct cluster_run *r, uint32_t limit_ms,
                  const char *env_cluster, const char *prog, const char *const args[])
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", c->bin_dir, prog);
    char *argv[64];
    uint32_t argc = 0;
    argv[argc++] = path;
    for (uint32_t i = 0; args[i]; i++) {
        cr_assert_lt(argc, 63u);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;

    /* our environment, with LUMINOUS_CLUSTER as the test wants it */
    static char *envp[CLUSTER_ENV_MAX + 2];
    static char env_line[1024];
    uint32_t envc = 0;
    for (char **e = environ; *e && envc < CLUSTER_ENV_MAX; e++)
        if (strncmp(*e, "LUMINOUS_CLUSTER=", 17) != 0)
            envp[envc++] = *e;
    if (env_cluster) {
        snprintf(env_line, sizeof env_line, "LUMINOUS_CLUSTER=%s", env_cluster);
        envp[envc++] = env_line;
    }
    envp[envc] = NULL;

    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/run.out", c->dir);
    snprintf(err_path, sizeof err_path, "%s/run.err", c->dir);
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(out_fd >= 0 && err_fd >= 0, "harness: cannot create %s: %s", out_path,
              strerror(errno));
    pid_t pid = cluster_spawn(path, argv, envp, out_fd, err_fd);
    close(out_fd);
    close(err_fd);

    int status;
    if (!cluster_reap(pid, limit_ms, &status))
        cr_assert_fail("%s did not finish within %u ms", prog, limit_ms);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    cluster_read_output(out_path, r->out, sizeof r->out);
    cluster_read_output(err_path, r->err, sizeof r->err);
}

#define CLUSTER_CTL_ARGS 48u

/* raftctl's arguments, program name first: --cluster list --timeout timeout_ms, the
 * cluster's secret if it has one, then ap's (NULL-ended). timeout holds the number. */
static void cluster_ctl_argv(struct cluster *c, const char *list, uint32_t timeout_ms,
                             va_list ap, char *path, char timeout[16],
                             char *argv[CLUSTER_CTL_ARGS])
{
    snprintf(timeout, 16, "%u", timeout_ms);
    uint32_t n = 0;
    argv[n++] = path;
    argv[n++] = "--cluster";
    argv[n++] = (char *)list;
    argv[n++] = "--timeout";
    argv[n++] = timeout;
    if (c->secret[0]) {
        argv[n++] = "--secret-file";
        argv[n++] = c->secret_path;
    }
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
        cr_assert_lt(n, CLUSTER_CTL_ARGS - 1);
        argv[n++] = (char *)a;
    }
    argv[n] = NULL;
}

static void cluster_ctl_va(struct cluster *c, struct cluster_run *r, const char *list,
                           uint32_t timeout_ms, va_list ap)
{
    char timeout[16], *argv[CLUSTER_CTL_ARGS];
    cluster_ctl_argv(c, list, timeout_ms, ap, "raftctl", timeout, argv);
    /* raftctl keeps its own deadline; this one only catches a hang */
    cluster_exec(c, r, timeout_ms + 25000, NULL, "raftctl", (const char *const *)argv + 1);
}

pid_t cluster_ctl_spawn(struct cluster *c, int out_fd, ...)
{
    char path[PATH_MAX + 16], timeout[16], *argv[CLUSTER_CTL_ARGS];
    snprintf(path, sizeof path, "%s/raftctl", c->bin_dir);
    va_list ap;
    va_start(ap, out_fd);
    cluster_ctl_argv(c, c->clients_list, 5000, ap, path, timeout, argv);
    va_end(ap);
    return cluster_spawn(path, argv, environ, out_fd, out_fd);
}

void cluster_ctl(struct cluster *c, struct cluster_run *r, ...)
{
    va_list ap;
    va_start(ap, r);
    cluster_ctl_va(c, r, c->clients_list, 5000, ap);
    va_end(ap);
}

void cluster_ctl_at(struct cluster *c, struct cluster_run *r, const char *list,
                    uint32_t timeout_ms, ...)
{
    va_list ap;
    va_start(ap, timeout_ms);
    cluster_ctl_va(c, r, list ? list : c->clients_list, timeout_ms, ap);
    va_end(ap);
}

/* ---- a write load --------------------------------------------------------------------------- */

void cluster_load_kv(uint32_t writer, uint32_t i, char *key, size_t klen, char *value,
                     size_t vlen)
{
    snprintf(key, klen, "w%u-%u", writer, i);
    snprintf(value, vlen, "v%u.%u", writer, i);
}

/* Puts its keys one after another until told to stop or done; records every acknowledged
 * one. No Criterion assertions: they may only fail on the test's main thread. */
static void *cluster_load_run(void *arg)
{
    struct cluster_load_writer *w = arg;
    struct cluster_load *ld = w->load;
    while (!atomic_load(&ld->stop) && w->attempted < ld->keys_per_writer) {
        char key[32], value[32];
        uint32_t i = w->attempted;
        cluster_load_kv(w->id, i, key, sizeof key, value, sizeof value);
        w->attempted = i + 1;
        int code = cluster_kv_put(w->client, key, value);
        if (code == KV_OK) {
            w->ok[i] = true;
            atomic_fetch_add(&ld->acked, 1);
        } else {
            atomic_fetch_add(&ld->failed, 1);
        }
        atomic_fetch_add(&ld->done, 1);
    }
    return NULL;
}

void cluster_load_start(struct cluster *c, struct cluster_load *ld, uint32_t writers,
                        uint32_t keys_per_writer, uint32_t client_timeout_ms)
{
    cr_assert_leq(writers, CLUSTER_LOAD_WRITERS_MAX);
    memset(ld, 0, sizeof *ld);
    atomic_init(&ld->stop, false);
    atomic_init(&ld->acked, 0);
    atomic_init(&ld->failed, 0);
    atomic_init(&ld->done, 0);
    ld->writers = writers;
    ld->keys_per_writer = keys_per_writer;
    for (uint32_t t = 0; t < writers; t++) {
        struct cluster_load_writer *w = &ld->w[t];
        w->load = ld;
        w->id = t;
        w->client = cluster_client(c, UINT32_MAX, client_timeout_ms);
        w->ok = calloc(keys_per_writer, sizeof(bool));
        cr_assert_not_null(w->ok);
    }
    cluster_load_current = ld;
    for (uint32_t t = 0; t < writers; t++) {
        cr_assert_eq(pthread_create(&ld->w[t].thread, NULL, cluster_load_run, &ld->w[t]), 0);
        ld->started = t + 1;
        ld->running = true;
    }
}

uint32_t cluster_load_wait_acked(struct cluster *c, struct cluster_load *ld, uint32_t more)
{
    uint32_t target = atomic_load(&ld->acked) + more;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (atomic_load(&ld->acked) < target && clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        cluster_pause_ms(5);
    }
    uint32_t acked = atomic_load(&ld->acked);
    cr_assert_geq(acked, target, "only %u writes acknowledged, not %u, in %u ms", acked, target,
                  CLUSTER_WAIT_MS);
    return acked;
}

void cluster_load_wait_done(struct cluster *c, struct cluster_load *ld, uint32_t limit_ms)
{
    uint32_t total = ld->writers * ld->keys_per_writer;
    uint64_t deadline = clock_mono_ms() + limit_ms;
    uint32_t last = 0;
    uint64_t progress_at = clock_mono_ms();
    while (atomic_load(&ld->done) < total && clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        uint32_t done = atomic_load(&ld->done);
        if (done != last) {
            last = done;
            progress_at = clock_mono_ms();
        }
        /* no write finished for a whole client deadline and more: the cluster is stuck */
        cr_assert_lt(clock_mono_ms() - progress_at, (uint64_t)CLUSTER_WAIT_MS,
                     "no write finished for %u ms (%u of %u done)", CLUSTER_WAIT_MS, done,
                     total);
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_eq(atomic_load(&ld->done), total, "only %u of %u writes done in %u ms",
                 atomic_load(&ld->done), total, limit_ms);
    cluster_load_stop(ld);
}

void cluster_load_stop(struct cluster_load *ld)
{
    if (!ld->running)
        return;
    atomic_store(&ld->stop, true);
    for (uint32_t t = 0; t < ld->started; t++)
        pthread_join(ld->w[t].thread, NULL);
    ld->running = false;
}

struct cluster_verify {
    struct cluster_load_writer *w;
    struct lum_client *client;
    bool     stale;
    uint32_t checked, unacked_present;
    char     failure[256];    /* the first thing wrong, empty if none */
};

static void *cluster_verify_run(void *arg)
{
    struct cluster_verify *v = arg;
    struct cluster_load_writer *w = v->w;
    /* one past the last attempted: never written, never there */
    for (uint32_t i = 0; i <= w->attempted && !v->failure[0]; i++) {
        char key[32], value[32], got[64] = "";
        cluster_load_kv(w->id, i, key, sizeof key, value, sizeof value);
        int code = cluster_kv_get(v->client, key, v->stale, got, sizeof got);
        if (i < w->attempted && w->ok[i]) {
            if (code != KV_OK || strcmp(got, value) != 0)
                snprintf(v->failure, sizeof v->failure,
                         "acknowledged put %s: get answered %d \"%s\", not \"%s\"", key, code,
                         code == KV_OK ? got : "", value);
            v->checked++;
        } else if (i < w->attempted) {
            if (code == KV_OK && strcmp(got, value) != 0)
                snprintf(v->failure, sizeof v->failure,
                         "unacknowledged put %s has another value \"%s\"", key, got);
            else if (code != KV_OK && code != KV_NOT_FOUND)
                snprintf(v->failure, sizeof v->failure, "get %s: %d", key, code);
            v->unacked_present += code == KV_OK;
        } else if (code != KV_NOT_FOUND) {
            snprintf(v->failure, sizeof v->failure, "%s was never written, yet get says %d",
                     key, code);
        }
    }
    return NULL;
}

uint32_t cluster_load_verify(struct cluster *c, struct cluster_load *ld, uint32_t i, bool stale)
{
    cr_assert_not(ld->running, "harness: stop the load first");
    struct cluster_verify v[CLUSTER_LOAD_WRITERS_MAX];
    pthread_t threads[CLUSTER_LOAD_WRITERS_MAX];
    memset(v, 0, sizeof v);
    for (uint32_t t = 0; t < ld->writers; t++) {
        v[t].w = &ld->w[t];
        v[t].client = cluster_client(c, i, 0);
        v[t].stale = stale;
    }
    for (uint32_t t = 0; t < ld->writers; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, cluster_verify_run, &v[t]), 0);
    for (uint32_t t = 0; t < ld->writers; t++)
        pthread_join(threads[t], NULL);
    const char *kind = stale ? "stale" : "linearizable";
    char where[64];
    if (i == UINT32_MAX)
        snprintf(where, sizeof where, "%s reads through the cluster", kind);
    else
        snprintf(where, sizeof where, "%s reads through node %u", kind, i + 1);
    uint32_t checked = 0, present = 0;
    for (uint32_t t = 0; t < ld->writers; t++) {
        cr_assert_eq(v[t].failure[0], '\0', "%s: %s", where, v[t].failure);
        checked += v[t].checked;
        present += v[t].unacked_present;
    }
    cr_assert_eq(checked, atomic_load(&ld->acked), "checked %u acknowledged writes of %u",
                 checked, atomic_load(&ld->acked));
    cr_log_info("%s: %u acknowledged writes all there; %u unacknowledged, %u of them there",
                where, checked, atomic_load(&ld->failed), present);
    return checked;
}

void cluster_load_free(struct cluster_load *ld)
{
    cluster_load_stop(ld);
    for (uint32_t t = 0; t < ld->writers; t++) {
        free(ld->w[t].ok);
        ld->w[t].ok = NULL;
    }
    if (cluster_load_current == ld)
        cluster_load_current = NULL;
}
