/* Bit rot, and the README's way out of it ("Re-seeding a damaged node"): a node whose log
 * holds a corrupt record in the middle refuses to start, naming the file and the offset;
 * the operator removes it from the cluster, wipes its data_dir, starts it with no member
 * lines and adds it back, and it ends with every acknowledged write. (test_disk.c covers the
 * refusal alone; this follows the whole procedure, under load.) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(rot);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)

Test(rot, a_node_with_a_corrupt_log_record_is_reseeded_by_the_readme_procedure, .timeout = 300)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t f = (cluster_wait_leader(c) + 1) % c->n;
    static struct cluster_load ld;
    cluster_load_start(c, &ld, 4, 200000, 15000);
    cluster_load_wait_acked(c, &ld, 300);
    cluster_kill(c, f);

    /* a byte in the middle of a committed record's payload: good records follow it */
    char path[PATH_MAX + 300];
    cluster_segment_path(c, f, false, path, sizeof path);
    cr_assert_geq(cluster_seg_records(path), 3, "%s", path);
    uint64_t off = cluster_seg_record_offset(path, 1);
    cluster_flip_byte(path, (off_t)off + 40, 0x01); /* one bit: the least the crc must see */

    long from = cluster_log_size(c, f);
    cluster_start(c, f);
    int status = cluster_wait_exit(c, f);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
              "a node with a corrupt log must refuse to start (status %d)", status);
    char where[PATH_MAX + 400];
    snprintf(where, sizeof where, "%s at offset %" PRIu64 ": ", strrchr(path, '/') + 1, off);
    cr_assert(cluster_log_has(c, f, from, where), "no line names '%s'", where);
    cr_assert(cluster_log_has(c, f, from, "refusing to start"));
    cluster_load_wait_acked(c, &ld, 200); /* the other two carry the load meanwhile */

    /* the README's procedure, while the writers keep writing */
    static struct cluster_run r;
    char id[16];
    snprintf(id, sizeof id, "%" PRIu64, (uint64_t)c->nodes[f].id);
    cluster_ctl_at(c, &r, NULL, 30000, "members", "remove", id, NULL);
    ctl_expect(&r, 0);
    c->nodes[f].outside = true;
    cluster_remove_data(c, f);
    cluster_config_idle(c, f);
    cluster_start(c, f);
    cluster_ctl_at(c, &r, NULL, 60000, "members", "add", id, c->nodes[f].peer_addr,
                   c->nodes[f].client_addr, NULL);
    ctl_expect(&r, 0);
    cr_assert(strstr(r.out, "is a voter"), "stdout: %s", r.out);
    c->nodes[f].outside = false;
    cluster_load_wait_acked(c, &ld, 200);
    cluster_load_stop(&ld);

    /* every acknowledged write reads back from the cluster, and from the re-seeded node's
     * own state once it has applied the leader's commit index */
    cluster_load_verify(c, &ld, UINT32_MAX, false);
    uint32_t leader = cluster_wait_leader(c);
    struct wire_status st;
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    cluster_wait_applied(c, f, st.commit_index);
    uint32_t n = cluster_load_verify(c, &ld, f, true);
    cr_assert_gt(n, 0);
    cluster_load_free(&ld);
    cluster_passed();
}

/* The newest snapshot file of node i (snap/snap-TERM-INDEX, the highest index). */
static void rot_newest_snapshot(struct cluster *c, uint32_t i, char *path, size_t len)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/snap", c->nodes[i].data_dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    unsigned long long best = 0, term, idx;
    char name[256] = "", tail;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (sscanf(de->d_name, "snap-%20llu-%20llu%c", &term, &idx, &tail) == 2 && idx > best)
            best = idx, snprintf(name, sizeof name, "%s", de->d_name);
    closedir(d);
    cr_assert_neq(name[0], '\0', "no snapshot in %s", dir);
    snprintf(path, len, "%s/%s", dir, name);
}

/* `raftctl snapshot` on node leader, then waits until its log is compacted behind it; st is
 * the leader's status then. */
static void rot_snapshot_and_compact(struct cluster *c, uint32_t leader, struct wire_status *st)
{
    static struct cluster_run r;
    cluster_ctl_at(c, &r, c->nodes[leader].client_addr, 30000, "snapshot", NULL);
    ctl_expect(&r, 0);
    uint64_t end = clock_mono_ms() + CLUSTER_WAIT_MS;
    do {
        cr_assert_eq(cluster_status(c, leader, st), 0);
        cr_assert_lt(clock_mono_ms(), end, "the leader's log was not compacted");
        cluster_pause_ms(CLUSTER_POLL_MS);
    } while (st->first_index <= 1 || st->snapshot_index == 0);
}

/* Bit rot in the leader's snapshot file, found when a follower needs that snapshot: the
 * leader does not send it (it names the file), writes a new one, and the follower ends with
 * every acknowledged write; it never installs the damaged one (it would refuse it too). */
Test(rot, a_leader_does_not_send_a_corrupt_snapshot_and_the_follower_still_catches_up,
     .timeout = 300)
{
    struct cluster *c = cluster_up(3, "snapshot_entries = 0\nsnapshot_margin = 0\n"
                                      "segment_entries = 16\n");
    uint32_t leader = cluster_wait_leader(c), f = (leader + 1) % c->n;
    cluster_kill(c, f);
    static struct cluster_load ld;
    cluster_load_start(c, &ld, 2, 200000, 15000);
    cluster_load_wait_acked(c, &ld, 300);

    /* a snapshot on the leader, and its log compacted past what the follower has */
    struct wire_status st;
    rot_snapshot_and_compact(c, leader, &st);

    char path[PATH_MAX + 300];
    rot_newest_snapshot(c, leader, path, sizeof path);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cluster_flip_byte(path, sb.st_size / 2, 0x01);

    long from = cluster_log_size(c, leader);
    cluster_start(c, f);
    char want[PATH_MAX + 400];
    snprintf(want, sizeof want, "not sending snapshot %s", strrchr(path, '/') + 1);
    cr_assert(cluster_wait_log(c, leader, from, want), "the leader's log has no '%s'", want);

    cluster_load_wait_acked(c, &ld, 200);
    cluster_load_stop(&ld);
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    cluster_wait_applied(c, f, st.commit_index);
    cr_assert_gt(cluster_load_verify(c, &ld, f, true), 0);
    cluster_load_verify(c, &ld, UINT32_MAX, false);
    cluster_load_free(&ld);
    cluster_passed();
}

/* The same rot on an idle leader: nothing applied since its snapshot, so a new one has the
 * same index (and name). Before, a backup or a follower needing the snapshot waited for the
 * next write; now the leader rewrites it at that index. A file not yet checked whole is
 * checked before it is sent; one checked before is crc'd as it is sent, and its rot found at
 * the end: both cases, for a backup and for followers. */

/* Writes keys idle-0..299 through node leader (more than log_window: a follower that missed
 * them needs the snapshot), takes a snapshot there, waits until its log is compacted,
 * damages the snapshot file and returns its index; path is the file. */
static uint64_t rot_idle_damaged_snapshot(struct cluster *c, uint32_t leader, char *path,
                                          size_t len)
{
    struct lum_client *cl = cluster_client(c, leader, 0);
    char key[32];
    for (uint32_t i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "idle-%u", i);
        cr_assert_eq(cluster_kv_put(cl, key, "before the snapshot"), KV_OK, "%s", key);
    }
    struct wire_status st;
    rot_snapshot_and_compact(c, leader, &st);
    cr_assert_eq(st.applied_index, st.snapshot_index, "not idle: applied %llu, snapshot %llu",
                 (unsigned long long)st.applied_index, (unsigned long long)st.snapshot_index);
    rot_newest_snapshot(c, leader, path, len);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cluster_flip_byte(path, sb.st_size / 2, 0x01);
    return st.snapshot_index;
}

Test(rot, an_idle_leader_rewrites_a_damaged_snapshot_for_a_backup)
{
    struct cluster *c = cluster_up(1, "snapshot_entries = 0\nsnapshot_margin = 0\n"
                                      "segment_entries = 16\n");
    char path[PATH_MAX + 300], want[PATH_MAX + 400], backup[PATH_MAX];
    uint64_t index = rot_idle_damaged_snapshot(c, 0, path, sizeof path);
    long from = cluster_log_size(c, 0);
    snprintf(backup, sizeof backup, "%s/idle.snap", c->dir);
    static struct cluster_run r;
    cluster_ctl(c, &r, "backup", backup, NULL);
    ctl_expect(&r, 0);
    snprintf(want, sizeof want, "backup: not sending snapshot %s", strrchr(path, '/') + 1);
    cr_assert(cluster_log_has(c, 0, from, want), "the leader's log has no '%s'", want);
    snprintf(want, sizeof want, "backup of snapshot %llu ", (unsigned long long)index);
    cr_assert(strstr(r.out, want), "not a backup of index %llu: %s", (unsigned long long)index,
              r.out);
    char again[PATH_MAX + 300];
    rot_newest_snapshot(c, 0, again, sizeof again);
    cr_assert_str_eq(again, path, "the rewrite has another name");

    /* the rewrite was checked whole when it was sent: rot now is found by the sent bytes' crc */
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cluster_flip_byte(path, sb.st_size / 2, 0x01);
    from = cluster_log_size(c, 0);
    cluster_ctl(c, &r, "backup", backup, NULL);
    ctl_expect(&r, 0);
    snprintf(want, sizeof want, "backup: snapshot %s changed on disk after it was checked",
             strrchr(path, '/') + 1);
    cr_assert(cluster_log_has(c, 0, from, want), "the leader's log has no '%s'", want);
    snprintf(want, sizeof want, "backup of snapshot %llu ", (unsigned long long)index);
    cr_assert(strstr(r.out, want), "not a backup of index %llu: %s", (unsigned long long)index,
              r.out);
    cluster_passed();
}

/* Five nodes, two of them down while the snapshot is taken and damaged: the first to come
 * back makes the leader find the damage before sending, the second (after the rewrite was
 * checked, sent, and damaged again) makes it find it by the crc of what it sent. */
Test(rot, an_idle_leader_rewrites_a_damaged_snapshot_for_followers, .timeout = 300)
{
    struct cluster *c = cluster_up(5, "snapshot_entries = 0\nsnapshot_margin = 0\n"
                                      "segment_entries = 16\n");
    uint32_t leader = cluster_wait_leader(c);
    uint32_t f[2] = {(leader + 1) % c->n, (leader + 2) % c->n};
    cluster_kill(c, f[0]);
    cluster_kill(c, f[1]);
    char path[PATH_MAX + 300], want[PATH_MAX + 400];
    uint64_t index = rot_idle_damaged_snapshot(c, leader, path, sizeof path);
    static const char *const found[2] = {"not sending snapshot %s",
                                         "snapshot %s changed on disk after it was checked"};
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            struct stat sb;
            cr_assert_eq(stat(path, &sb), 0, "the rewrite has another name than %s", path);
            cluster_flip_byte(path, sb.st_size / 2, 0x01);
        }
        long from = cluster_log_size(c, leader);
        cluster_start(c, f[k]);
        snprintf(want, sizeof want, found[k], strrchr(path, '/') + 1);
        cr_assert(cluster_wait_log(c, leader, from, want), "the leader's log has no '%s'",
                  want);
        cluster_wait_applied(c, f[k], index);
        char value[64];
        cr_assert_eq(cluster_kv_get(cluster_client(c, f[k], 0), "idle-299", true, value,
                                    sizeof value), KV_OK);
        cr_assert_str_eq(value, "before the snapshot");
    }
    cluster_passed();
}
