/* Snapshots and log compaction in real clusters: the log stays bounded under a long write
 * load, a node that lost its data catches up through InstallSnapshot, `raftctl snapshot`
 * takes one on demand, and nodes restart from their snapshots without losing a write.
 *
 * The long load runs 30,000 puts by default; LUMINOUS_LONG_TESTS=1 makes it 200,000. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "luminous/io.h"
#include "luminous/kv.h"

CLUSTER_SUITE(snapshot);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)


static bool snap_long_tests(void)
{
    const char *v = getenv("LUMINOUS_LONG_TESTS");
    return v && *v && strcmp(v, "0") != 0;
}

/* What node i's log/ holds on disk: segment files, the entries in them, and the lowest and
 * highest first index among them. */
struct snap_disk_log {
    uint32_t segments;
    uint64_t entries;
    uint64_t first_min, first_max;
};

static void snap_disk_log(struct cluster *c, uint32_t i, struct snap_disk_log *out)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/log", c->nodes[i].data_dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    memset(out, 0, sizeof *out);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".seg") != 0)
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        out->entries += cluster_seg_records(path);
        uint64_t first = strtoull(de->d_name, NULL, 10);
        if (out->segments == 0 || first < out->first_min)
            out->first_min = first;
        if (first > out->first_max)
            out->first_max = first;
        out->segments++;
    }
    closedir(d);
}

/* The indexes of node i's snapshot files, newest first (snap-TERM-INDEX); returns how many. */
static uint32_t snap_files(struct cluster *c, uint32_t i, uint64_t *index, uint32_t cap)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/snap", c->nodes[i].data_dir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint32_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long term, idx;
        char tail;
        if (sscanf(de->d_name, "snap-%20llu-%20llu%c", &term, &idx, &tail) != 2 || n == cap)
            continue;
        uint32_t k = n++;
        while (k > 0 && index[k - 1] < idx) { /* insertion: newest first */
            index[k] = index[k - 1];
            k--;
        }
        index[k] = idx;
    }
    closedir(d);
    return n;
}

static void snap_status(struct cluster *c, uint32_t i, struct wire_status *st)
{
    int rv = cluster_status(c, i, st);
    cr_assert_eq(rv, 0, "status of node %u: %s", i + 1, lum_strerror(rv));
}

/* Waits until node i's newest snapshot is within entries of index. */
static void snap_wait_snapshot_near(struct cluster *c, uint32_t i, uint64_t index,
                                    uint64_t entries)
{
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    struct wire_status st = {0};
    while (clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        snap_status(c, i, &st);
        if (st.snapshot_index + entries > index)
            return;
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("node %u: newest snapshot %" PRIu64 ", more than %" PRIu64 " entries "
                   "behind %" PRIu64, i + 1, st.snapshot_index, entries, index);
}

/* ---- a long write load: the log stays bounded --------------------------------------------- */

#define LONG_SNAPSHOT_ENTRIES 10000u
#define LONG_SNAPSHOT_MARGIN  1000u
/* Small segments keep the log close to what compaction must keep: it deletes whole
 * segments only, so up to one segment's worth of entries below the point it may cut to
 * stays on disk (the segment holding that point), whatever the size. */
#define LONG_SEGMENT_ENTRIES  1024u
#define LONG_WRITERS          16u

Test(snapshot, a_long_write_load_keeps_the_log_bounded_and_every_key_readable, .timeout = 900)
{
    uint32_t total = snap_long_tests() ? 200000u : 30000u;
    char extra[512];
    snprintf(extra, sizeof extra,
             "snapshot_entries = %u\nsnapshot_margin = %u\nsegment_entries = %u\n"
             "log_window = 4096\n",
             LONG_SNAPSHOT_ENTRIES, LONG_SNAPSHOT_MARGIN, LONG_SEGMENT_ENTRIES);
    struct cluster *c = cluster_up(3, extra);
    static struct cluster_load ld;
    uint64_t t0 = clock_mono_ms();
    cluster_load_start(c, &ld, LONG_WRITERS, total / LONG_WRITERS, 15000);
    cluster_load_wait_done(c, &ld, 800000);
    uint64_t write_ms = clock_mono_ms() - t0;
    cr_assert_eq(atomic_load(&ld.acked), total, "%u of %u puts acknowledged",
                 atomic_load(&ld.acked), total);
    /* the last write, to find on a restarted node */
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "the-last-key", "the last value"), KV_OK);

    uint32_t leader = cluster_wait_leader(c);
    struct wire_status st;
    snap_status(c, leader, &st);
    uint64_t commit = st.commit_index;
    cr_assert_gt(commit, total);
    for (uint32_t i = 0; i < c->n; i++) {
        cluster_wait_applied(c, i, commit);
        snap_wait_snapshot_near(c, i, commit, LONG_SNAPSHOT_ENTRIES);
    }
    /* The bound on log/: compaction keeps snapshot_margin entries behind the newest
     * snapshot, and after it there are fewer than snapshot_entries (at that many a new one
     * starts). Compaction deletes whole segments only, so the segment holding the cut
     * point stays: up to a segment more, whatever its size. Hence small segments. */
    uint64_t bound = LONG_SNAPSHOT_ENTRIES + LONG_SNAPSHOT_MARGIN + LONG_SEGMENT_ENTRIES;
    for (uint32_t i = 0; i < c->n; i++) {
        /* compacted segment files are deleted one per tick after the snapshot: wait */
        struct snap_disk_log dl;
        for (uint32_t tries = 0;; tries++) {
            snap_status(c, i, &st);
            snap_disk_log(c, i, &dl);
            if (dl.first_min == st.first_index || tries == 400)
                break;
            cluster_pause_ms(50);
        }
        uint64_t snaps[8];
        uint32_t n_snaps = snap_files(c, i, snaps, 8);
        cr_log_info("node %u: commit %" PRIu64 ", snapshot %" PRIu64 " (files: %u, previous %"
                    PRIu64 "), log %" PRIu64 "..%" PRIu64 " = %" PRIu64 " entries in %u "
                    "segments; bound %" PRIu64, i + 1, st.commit_index, st.snapshot_index,
                    n_snaps, n_snaps > 1 ? snaps[1] : 0, st.first_index, st.last_index,
                    dl.entries, dl.segments, bound);
        fprintf(stderr, "snapshot-bound: node %u: commit %" PRIu64 " snapshot %" PRIu64
                " previous %" PRIu64 " log %" PRIu64 "..%" PRIu64 " = %" PRIu64
                " entries in %u segments; bound %" PRIu64 "\n",
                i + 1, st.commit_index, st.snapshot_index, n_snaps > 1 ? snaps[1] : 0,
                st.first_index, st.last_index, dl.entries, dl.segments, bound);
        /* the files agree with what the node says it holds */
        cr_assert_eq(dl.first_min, st.first_index, "node %u: first segment %" PRIu64
                     ", status first_index %" PRIu64, i + 1, dl.first_min, st.first_index);
        cr_assert_eq(dl.entries, st.last_index - st.first_index + 1);
        cr_assert_geq(n_snaps, 1u);
        cr_assert_leq(n_snaps, 2u, "node %u keeps %u snapshots", i + 1, n_snaps);
        cr_assert_eq(snaps[0], st.snapshot_index);
        cr_assert_lt(st.commit_index - st.snapshot_index, LONG_SNAPSHOT_ENTRIES);
        /* Compaction cuts snapshot_margin entries behind the newest snapshot, deleting
         * every whole segment at or below that point. */
        uint64_t cut = st.snapshot_index - LONG_SNAPSHOT_MARGIN;
        cr_assert_leq(st.first_index, cut + 1, "node %u: compaction went past %" PRIu64, i + 1,
                      cut);
        cr_assert_gt(st.first_index + LONG_SEGMENT_ENTRIES, cut + 1,
                     "node %u: the log starts at %" PRIu64 ", more than a segment below %"
                     PRIu64, i + 1, st.first_index, cut + 1);
        cr_assert_leq(dl.entries, bound,
                      "node %u: log/ holds %" PRIu64 " entries, more than snapshot_entries"
                      " + snapshot_margin + segment_entries = %" PRIu64, i + 1, dl.entries,
                      bound);
    }

    uint64_t t1 = clock_mono_ms();
    cluster_load_verify(c, &ld, UINT32_MAX, false);
    uint64_t verify_ms = clock_mono_ms() - t1;

    /* restart a follower: it loads its snapshot and replays the rest of its log */
    uint32_t f = (leader + 1) % c->n;
    cluster_kill(c, f);
    long from = cluster_log_size(c, f);
    uint64_t t2 = clock_mono_ms();
    cluster_start(c, f);
    struct lum_client *fcl = cluster_client(c, f, 500);
    char got[64] = "";
    int code = 0;
    while (clock_mono_ms() - t2 < CLUSTER_WAIT_MS) {
        code = cluster_kv_get(fcl, "the-last-key", true, got, sizeof got);
        if (code == KV_OK && strcmp(got, "the last value") == 0)
            break;
        cluster_pause_ms(5);
    }
    uint64_t restart_ms = clock_mono_ms() - t2;
    cr_assert_eq(code, KV_OK, "the restarted node does not serve the last key");
    cr_assert_str_eq(got, "the last value");
    cr_assert(cluster_log_has(c, f, from, "started: term"), "no start line");
    snap_status(c, f, &st);
    cr_assert_gt(st.snapshot_index, 0, "the node did not start from its snapshot");
    fprintf(stderr, "snapshot-numbers: %u puts by %u writers in %" PRIu64 " ms (%.0f/s); "
            "verified in %" PRIu64 " ms; a restarted follower served the last key after %"
            PRIu64 " ms\n", total, LONG_WRITERS, write_ms,
            write_ms ? total * 1000.0 / (double)write_ms : 0.0, verify_ms, restart_ms);
    cr_assert_lt(restart_ms, 10000u, "a restart took %" PRIu64 " ms", restart_ms);
    cluster_load_free(&ld);
    cluster_passed();
}

/* ---- a node re-seeded from nothing ---------------------------------------------------------- */

Test(snapshot, a_node_whose_data_was_deleted_catches_up_through_install_snapshot)
{
    struct cluster *c = cluster_up(3, "snapshot_entries = 500\nsnapshot_margin = 100\n"
                                      "segment_entries = 64\n");
    static struct cluster_load ld;
    cluster_load_start(c, &ld, 8, 400, 10000);
    cluster_load_wait_done(c, &ld, 120000);
    uint32_t leader = cluster_wait_leader(c);
    struct wire_status st;
    snap_status(c, leader, &st);
    cr_assert_gt(st.snapshot_index, 0, "the leader has no snapshot yet");
    cr_assert_gt(st.first_index, 1, "the leader's log was not compacted");

    /* the node loses everything */
    uint32_t f = (leader + 1) % c->n;
    cluster_kill(c, f);
    cluster_remove_data(c, f);
    static struct cluster_run r;
    char id[16];
    snprintf(id, sizeof id, "%llu", (unsigned long long)c->nodes[f].id);
    cluster_ctl(c, &r, "members", "remove", id, NULL);
    ctl_expect(&r, 0);
    c->nodes[f].outside = true;

    /* and comes back as a new server, with no member lines, to be added */
    cluster_config_idle(c, f);
    long from = cluster_log_size(c, f);
    cluster_start(c, f);
    cr_assert(cluster_wait_log(c, f, from, "idle until added"), "no idle line");
    /* more writes meanwhile: the leader's snapshot moves past the removal */
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "after-the-loss", "still here"), KV_OK);
    cluster_ctl_at(c, &r, NULL, 60000, "members", "add", id, c->nodes[f].peer_addr,
                   c->nodes[f].client_addr, NULL);
    ctl_expect(&r, 0);
    cr_assert(strstr(r.out, "is a voter"), "stdout: %s", r.out);
    c->nodes[f].outside = false;

    cr_assert(cluster_wait_log(c, f, from, "installed the leader's snapshot"),
              "node %u did not install a snapshot", f + 1);
    leader = cluster_wait_leader(c);
    snap_status(c, leader, &st);
    cluster_wait_applied(c, f, st.commit_index);
    cluster_wait_stale_value(c, f, "after-the-loss", "still here");
    cluster_load_verify(c, &ld, f, true);
    snap_status(c, f, &st);
    cr_assert(st.voter, "node %u is not a voter", f + 1);
    cr_assert_gt(st.snapshot_index, 0);
    cluster_load_free(&ld);
    cluster_passed();
}

/* ---- raftctl snapshot ----------------------------------------------------------------------- */

/* In raftctl's `--json status` output, the number field of node id's object (not of its
 * members list). */
static uint64_t snap_json_field(const char *json, uint64_t id, const char *field)
{
    char head[64], key[64];
    snprintf(head, sizeof head, "{\"id\":%llu,\"addr\":", (unsigned long long)id);
    snprintf(key, sizeof key, "\"%s\":", field);
    const char *obj = strstr(json, head);
    cr_assert_not_null(obj, "node %llu is not in %s", (unsigned long long)id, json);
    const char *members = strstr(obj, "\"members\":");
    const char *p = strstr(obj, key);
    cr_assert(p && (!members || p < members), "no %s for node %llu in %s", field,
              (unsigned long long)id, json);
    return strtoull(p + strlen(key), NULL, 10);
}

static uint64_t snap_ctl_snapshot(struct cluster *c, const char *list)
{
    static struct cluster_run r;
    cluster_ctl_at(c, &r, list, 10000, "snapshot", NULL);
    ctl_expect(&r, 0);
    unsigned long long index = 0;
    cr_assert_eq(sscanf(r.out, "snapshot at index %llu", &index), 1, "stdout: %s", r.out);
    return index;
}

static void snap_put_many(struct cluster *c, const char *prefix, int n)
{
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    for (int k = 0; k < n; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s-%d", prefix, k);
        cr_assert_eq(cluster_kv_put(cl, key, key), KV_OK, "put %s", key);
    }
}

Test(snapshot, raftctl_snapshot_returns_an_index_past_the_last_write_and_status_shows_it)
{
    /* no snapshot of their own: every one here is asked for */
    struct cluster *c = cluster_up(3, "snapshot_entries = 0\nsnapshot_margin = 0\n"
                                      "segment_entries = 16\n");
    uint32_t leader = cluster_wait_leader(c);
    uint64_t lid = c->nodes[leader].id;
    const char *via = c->nodes[leader].client_addr;

    snap_put_many(c, "first", 100);
    struct wire_status st;
    snap_status(c, leader, &st);
    uint64_t written = st.commit_index;
    uint64_t s1 = snap_ctl_snapshot(c, via);
    cr_assert_geq(s1, written, "snapshot at %" PRIu64 ", the last write is at %" PRIu64, s1,
                  written);
    static struct cluster_run r;
    cluster_ctl(c, &r, "--json", "status", NULL);
    ctl_expect(&r, 0);
    cr_assert_eq(snap_json_field(r.out, lid, "snapshot_index"), s1, "%s", r.out);
    /* snapshot_margin 0: the log is compacted to the segment holding the snapshot */
    uint64_t first1 = snap_json_field(r.out, lid, "first_index");
    cr_assert_leq(first1, s1 + 1, "%s", r.out);
    cr_assert_gt(first1 + 16, s1 + 1, "%s", r.out);

    /* nothing new: the same snapshot */
    cr_assert_eq(snap_ctl_snapshot(c, via), s1);

    snap_put_many(c, "second", 100);
    snap_status(c, leader, &st);
    written = st.commit_index;
    uint64_t s2 = snap_ctl_snapshot(c, via);
    cr_assert_geq(s2, written);
    cr_assert_gt(s2, s1);
    cluster_ctl(c, &r, "--json", "status", NULL);
    ctl_expect(&r, 0);
    cr_assert_eq(snap_json_field(r.out, lid, "snapshot_index"), s2, "%s", r.out);
    uint64_t first = snap_json_field(r.out, lid, "first_index");
    /* compacted to s2, in whole segments of 16 */
    cr_assert_leq(first, s2 + 1, "first_index %" PRIu64 " is past the snapshot %" PRIu64,
                  first, s2);
    cr_assert_gt(first + 16, s2 + 1, "first_index %" PRIu64 " lags the snapshot %" PRIu64
                 " by more than a segment", first, s2);
    cr_assert_gt(first, first1, "the log did not move");
    /* and the table says it too */
    cluster_ctl(c, &r, "status", NULL);
    ctl_expect(&r, 0);
    cr_assert(strstr(r.out, "SNAPSHOT") && strstr(r.out, "DB SIZE"), "%s", r.out);

    /* a follower that needs entries the leader compacted away gets its snapshot (more
     * entries than the leader's in-memory window of 128, which would serve it otherwise) */
    uint32_t f = (leader + 1) % c->n;
    cluster_kill(c, f);
    snap_put_many(c, "third", 150);
    uint64_t s3 = snap_ctl_snapshot(c, via);
    snap_put_many(c, "fourth", 150);
    uint64_t s4 = snap_ctl_snapshot(c, via);
    cr_assert_gt(s4, s3);
    long from = cluster_log_size(c, f);
    cluster_start(c, f);
    cluster_wait_stale_value(c, f, "fourth-149", "fourth-149");
    cluster_wait_stale_value(c, f, "first-0", "first-0");
    cr_assert(cluster_log_has(c, f, from, "installed the leader's snapshot"),
              "node %u caught up without the snapshot", f + 1);
    cluster_passed();
}

/* raftctl's help says "take a snapshot on the leader now": with a follower first in the
 * list, the leader must still be the one that takes it (a follower may not even have
 * applied the last write yet). */
Test(snapshot, raftctl_snapshot_takes_it_on_the_leader_whichever_node_it_asks_first)
{
    struct cluster *c = cluster_up(3, "snapshot_entries = 0\n");
    uint32_t leader = cluster_wait_leader(c);
    char list[256];
    size_t off = 0;
    for (uint32_t k = 1; k <= c->n; k++) { /* the leader last */
        uint32_t i = (leader + k) % c->n;
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", k > 1 ? "," : "",
                                c->nodes[i].client_addr);
    }
    snap_put_many(c, "k", 20);
    struct wire_status st;
    snap_status(c, leader, &st);
    uint64_t written = st.commit_index;
    uint64_t s = snap_ctl_snapshot(c, list);
    cr_assert_geq(s, written);
    snap_status(c, leader, &st);
    cr_assert_eq(st.snapshot_index, s, "raftctl snapshot answered %" PRIu64 ", but the "
                 "leader's snapshot is %" PRIu64 ": another node took it", s,
                 st.snapshot_index);
    cluster_passed();
}

/* ---- restart of every node ------------------------------------------------------------------ */

Test(snapshot, every_acknowledged_write_survives_kill_9_of_every_node_after_snapshots)
{
    struct cluster *c = cluster_up(3, "snapshot_entries = 700\nsnapshot_margin = 100\n"
                                      "segment_entries = 64\n");
    static struct cluster_load ld;
    cluster_load_start(c, &ld, 8, 100000, 2000);
    /* until every node has a snapshot and has compacted its log */
    uint64_t deadline = clock_mono_ms() + 2 * CLUSTER_WAIT_MS;
    bool all = false;
    while (!all && clock_mono_ms() < deadline) {
        cluster_load_wait_acked(c, &ld, 200);
        all = true;
        for (uint32_t i = 0; i < c->n; i++) {
            struct wire_status st;
            all = all && cluster_status(c, i, &st) == 0 && st.snapshot_index > 700 &&
                  st.first_index > 1;
        }
    }
    cr_assert(all, "not every node took two snapshots with %u writes", atomic_load(&ld.acked));
    cluster_kill_all(c); /* while the writers write */
    cluster_load_stop(&ld);

    cluster_start_all(c);
    cluster_wait_leader(c);
    for (uint32_t i = 0; i < c->n; i++) {
        struct wire_status st;
        snap_status(c, i, &st);
        cr_assert_gt(st.snapshot_index, 0, "node %u did not start from a snapshot", i + 1);
    }
    cluster_load_verify(c, &ld, UINT32_MAX, false);
    /* and each node on its own has them too */
    uint32_t leader = cluster_wait_leader(c);
    struct wire_status st;
    snap_status(c, leader, &st);
    for (uint32_t i = 0; i < c->n; i++)
        cluster_wait_applied(c, i, st.commit_index);
    cluster_load_verify(c, &ld, (leader + 1) % c->n, true);
    cluster_load_free(&ld);
    cluster_passed();
}

/* ---- a crash while the snapshot child writes ------------------------------------------------ */

#define BIG_WRITERS 8
#define BIG_PUTS    800 /* per writer: 6,400 values of ~4 KiB, about 25 MiB of state */

struct snap_big_writer {
    struct lum_client *client;
    int id, failed;
};

static void *snap_big_run(void *arg)
{
    struct snap_big_writer *w = arg;
    static char value[BIG_WRITERS][KV_PUT_DATA_MAX];
    char key[32];
    snprintf(key, sizeof key, "big-%d-", w->id);
    size_t vlen = KV_PUT_DATA_MAX - 64;
    for (int i = 0; i < BIG_PUTS; i++) {
        memset(value[w->id], 'a' + (i + w->id) % 26, vlen);
        value[w->id][vlen] = '\0';
        snprintf(key, sizeof key, "big-%d-%d", w->id, i);
        if (cluster_kv_put(w->client, key, value[w->id]) != KV_OK)
            w->failed++;
    }
    return NULL;
}

struct snap_admin_call {
    struct lum_client *client;
    int rv;
};

static void *snap_admin_run(void *arg)
{
    struct snap_admin_call *a = arg;
    struct lum_reply r;
    struct lum_err err;
    a->rv = lum_client_admin(a->client, WIRE_OP_SNAPSHOT, NULL, 0, &r, &err);
    return NULL;
}

/* The pid in node i's "writing from child PID" line after from, or 0. */
static int snap_child_pid(struct cluster *c, uint32_t i, long from)
{
    FILE *f = fopen(c->nodes[i].log_path, "r");
    cr_assert_not_null(f);
    fseek(f, from, SEEK_SET);
    char line[1024];
    int pid = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "writing from child ");
        if (p)
            pid = atoi(p + strlen("writing from child "));
    }
    fclose(f);
    return pid;
}

/* Sockets among pid's open files (listening or connected), -1 if unreadable. */
static int snap_count_sockets(int pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[400], target[128];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strncmp(target, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return n;
}

/* The snapshot is written by a forked child. When the server dies (kill -9) while the
 * child still writes, a new server on the same data dir must start at once: the child
 * must neither keep the data dir locked nor outlive its parent for long. */
Test(snapshot, a_node_killed_while_its_snapshot_is_written_restarts_at_once)
{
    struct cluster *c = cluster_up(3, "snapshot_entries = 0\n");
    struct snap_big_writer w[BIG_WRITERS];
    pthread_t threads[BIG_WRITERS];
    for (int t = 0; t < BIG_WRITERS; t++) {
        w[t] = (struct snap_big_writer){.client = cluster_client(c, UINT32_MAX, 10000), .id = t};
        cr_assert_eq(pthread_create(&threads[t], NULL, snap_big_run, &w[t]), 0);
    }
    for (int t = 0; t < BIG_WRITERS; t++) {
        pthread_join(threads[t], NULL);
        cr_assert_eq(w[t].failed, 0);
    }
    /* snapshots are taken on the leader: ask it, and kill it as soon as its child writes */
    uint32_t f = cluster_wait_leader(c);
    long from = cluster_log_size(c, f);
    struct snap_admin_call call = {.client = cluster_client(c, f, 2000)};
    pthread_t admin;
    cr_assert_eq(pthread_create(&admin, NULL, snap_admin_run, &call), 0);
    bool forked = cluster_wait_log(c, f, from, "writing from child");
    long restart_from = 0;
    bool finished = false;
    int child = 0, child_sockets = -1;
    bool child_alive = false;
    if (forked) {
        cluster_kill(c, f);
        finished = cluster_log_has(c, f, from, "written; the log now starts");
        child = snap_child_pid(c, f, from);
        child_alive = child > 0 && kill(child, 0) == 0;
        child_sockets = child_alive ? snap_count_sockets(child) : -1;
        restart_from = cluster_log_size(c, f);
        cluster_start(c, f); /* at once, while the child may still write */
    }
    pthread_join(admin, NULL);
    cr_assert(forked, "node %u did not start a snapshot", f + 1);
    cr_log_info("the snapshot %s before the kill; its child %d %s after it (%d sockets open)",
                finished ? "was finished" : "was not finished", child,
                child_alive ? "was still running" : "was gone", child_sockets);
    from = restart_from;
    cluster_wait_leader(c); /* fails if node f exits: "in use by another process" */
    cr_assert_not(cluster_log_has(c, f, from, "in use by another process"));
    cr_assert_eq(cluster_kv_put(cluster_client(c, UINT32_MAX, 0), "after", "restart"), KV_OK);
    cluster_wait_stale_value(c, f, "after", "restart");
    cluster_passed();
}
