/* A node's log damaged while it was down: a torn tail is cut and the node catches up from
 * the leader; a bad entry followed by good ones is corruption, and the node refuses to
 * start, saying where. (The file layout is src/storage/segment.c's.) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "luminous/kv.h"

CLUSTER_SUITE(disk);



/* Puts n keys and waits until node i has them all. */
static void disk_fill(struct cluster *c, uint32_t i, int n)
{
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    char key[32] = "";
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "fill-%d", k);
        cr_assert_eq(cluster_kv_put(cl, key, key), KV_OK);
    }
    cluster_wait_stale_value(c, i, key, key);
}

/* A torn write only ever hits entries a node had not made durable, hence not acknowledged:
 * to stay within that, every node goes down together, so that no leader remembers this
 * node's progress. The torn entry is still on the other two. */
Test(disk, a_torn_tail_is_cut_and_the_node_catches_up_from_the_leader)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t f = (cluster_wait_leader(c) + 1) % c->n;
    disk_fill(c, f, 20);
    cluster_kill_all(c);

    /* cut the last entry in the middle of its record header: a write the crash interrupted */
    char path[PATH_MAX + 300];
    cluster_segment_path(c, f, true, path, sizeof path);
    uint32_t records = cluster_seg_records(path);
    cr_assert_gt(records, 0, "%s holds no entry", path);
    off_t last = (off_t)cluster_seg_record_offset(path, records - 1);
    cr_assert_eq(truncate(path, last + 20), 0);

    long from = cluster_log_size(c, f);
    cluster_start_all(c);
    cluster_wait_leader(c);
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "after", "the tear"), KV_OK);
    cluster_wait_stale_value(c, f, "after", "the tear");
    cluster_wait_stale_value(c, f, "fill-19", "fill-19");
    cr_assert(cluster_log_has(c, f, from, "a torn write; cutting the log"),
              "the node did not say it cut its log");
    cluster_passed();
}

Test(disk, a_bad_entry_before_good_ones_stops_the_node_saying_where)
{
    struct cluster *c = cluster_up(3, NULL);
    uint32_t f = (cluster_wait_leader(c) + 1) % c->n;
    disk_fill(c, f, 10);
    cluster_kill(c, f);

    /* the term of the second entry: its crc no longer checks, and good entries follow */
    char path[PATH_MAX + 300];
    cluster_segment_path(c, f, false, path, sizeof path);
    cluster_flip_byte(path, (off_t)cluster_seg_record_offset(path, 1) + 8, 0xff);

    long from = cluster_log_size(c, f);
    cluster_start(c, f);
    int status = cluster_wait_exit(c, f);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
              "a node with a corrupt log must exit with an error (status %d)", status);
    const char *name = strrchr(path, '/') + 1;
    cr_assert(cluster_log_has(c, f, from, name), "the log line names %s", name);
    cr_assert(cluster_log_has(c, f, from, "corrupt"), "the log line says it is corrupt");

    /* the others carry on */
    struct lum_client *cl = cluster_client(c, UINT32_MAX, 0);
    cr_assert_eq(cluster_kv_put(cl, "still", "writable"), KV_OK);
    cluster_passed();
}
