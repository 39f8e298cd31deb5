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
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

CLUSTER_SUITE(rot);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)

/* The path of node i's oldest log segment (NNN.seg, NNN = its first index). */
static void rot_first_segment(struct cluster *c, uint32_t i, char *path, size_t len)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/log", c->nodes[i].data_dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    char best[256] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n >= 5 && strcmp(de->d_name + n - 4, ".seg") == 0 &&
            (!best[0] || strcmp(de->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(d);
    cr_assert_neq(best[0], '\0', "no segment in %s", dir);
    snprintf(path, len, "%s/%s", dir, best);
}

static void rot_flip_byte(const char *path, off_t offset)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0, "%s", path);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, offset), 1, "%s at %lld", path, (long long)offset);
    b ^= 0x01; /* one bit: the smallest damage the crc must still see */
    cr_assert_eq(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

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
    rot_first_segment(c, f, path, sizeof path);
    cr_assert_geq(cluster_seg_records(path), 3, "%s", path);
    uint64_t off = cluster_seg_record_offset(path, 1);
    rot_flip_byte(path, (off_t)off + 40);

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
