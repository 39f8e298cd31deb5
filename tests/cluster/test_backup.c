/* Backups: `raftctl backup FILE` from a running cluster (also when pointed at a follower),
 * `raftsrv --restore FILE` into a new node that starts a new one-node cluster holding the
 * same data, which then grows with `raftctl members add`; and what --restore refuses: a
 * damaged or truncated backup, a data_dir with state in it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "luminous/kv.h"
#include "luminous/storage.h"

CLUSTER_SUITE(backup);

#define ctl_expect(r, code)                                                                   \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstdout: %s\nstderr: %s",          \
                 (r)->exit_code, (code), (r)->out, (r)->err)

#define BK_KEYS       300u
#define BK_VALUE_SIZE 1024u  /* 300 of them make a backup of many chunks (below) */

/* Key i's value: its number, then filler up to BK_VALUE_SIZE - 1 bytes. */
static void bk_value(uint32_t i, char *out)
{
    int n = snprintf(out, BK_VALUE_SIZE, "value %u of the original cluster ", i);
    memset(out + n, 'a' + (char)(i % 26), BK_VALUE_SIZE - 1 - (size_t)n);
    out[BK_VALUE_SIZE - 1] = '\0';
}

/* Appends a line to node i's config (a key the harness does not write). */
static void bk_config_add(struct cluster *c, uint32_t i, const char *line)
{
    FILE *f = fopen(c->nodes[i].conf_path, "a");
    cr_assert_not_null(f, "%s: %s", c->nodes[i].conf_path, strerror(errno));
    fputs(line, f);
    cr_assert_eq(fclose(f), 0);
}

/* A client of nodes [from, to) alone: the original cluster and the restored one share
 * nothing, and a client must never wander from one to the other. Closed by the caller. */
static struct lum_client *bk_client(struct cluster *c, uint32_t from, uint32_t to)
{
    char list[CLUSTER_NODES_MAX * 32] = "";
    size_t off = 0;
    for (uint32_t i = from; i < to; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i > from ? "," : "",
                                c->nodes[i].client_addr);
    struct lum_client *cl;
    struct lum_err err;
    cr_assert_eq(lum_client_open(list, CLUSTER_CLIENT_MS, &cl, &err), 0, "%s", err.msg);
    if (c->secret[0])
        cr_assert_eq(lum_client_set_secret(cl, c->secret, strlen(c->secret)), 0);
    return cl;
}

static int bk_put_ttl(struct lum_client *cl, const char *key, const char *value, uint64_t ttl_ms)
{
    uint8_t body[RAFT_PAYLOAD_MAX];
    int len = kv_encode_put(body, sizeof body, key, strlen(key), value, strlen(value), ttl_ms);
    cr_assert_gt(len, 0);
    struct lum_reply r;
    struct lum_err err;
    int rv = lum_client_command(cl, KV_PUT, body, (uint32_t)len, &r, &err);
    return rv != 0 ? rv : r.status != 0 ? r.status : r.code;
}

/* Key i: every 7th is deleted after it was written, every 10th has a TTL of an hour (it
 * must survive the round trip), every 25th one of 300 ms (gone on both sides by the time
 * they are compared); the rest are plain. */
enum bk_kind { BK_PLAIN, BK_DELETED, BK_TTL_LONG, BK_TTL_SHORT };

static enum bk_kind bk_kind(uint32_t i)
{
    if (i % 7 == 3)
        return BK_DELETED;
    if (i % 25 == 0)
        return BK_TTL_SHORT;
    if (i % 10 == 1)
        return BK_TTL_LONG;
    return BK_PLAIN;
}

static void bk_write_keys(struct lum_client *cl)
{
    for (uint32_t i = 0; i < BK_KEYS; i++) {
        char key[32], value[BK_VALUE_SIZE];
        snprintf(key, sizeof key, "key-%03u", i);
        bk_value(i, value);
        enum bk_kind k = bk_kind(i);
        uint64_t ttl = k == BK_TTL_LONG ? 3600000 : k == BK_TTL_SHORT ? 300 : 0;
        cr_assert_eq(bk_put_ttl(cl, key, value, ttl), KV_OK, "put %s", key);
        if (k == BK_DELETED)
            cr_assert_eq(cluster_kv_del(cl, key), KV_OK, "del %s", key);
    }
}

/* Every key, read linearizably from both clusters: the same answer, and the one its kind
 * says. Returns how many were present. */
static uint32_t bk_compare(struct lum_client *orig, struct lum_client *copy)
{
    uint32_t present = 0;
    for (uint32_t i = 0; i < BK_KEYS; i++) {
        char key[32], want[BK_VALUE_SIZE];
        static char a[2 * BK_VALUE_SIZE], b[2 * BK_VALUE_SIZE];
        a[0] = b[0] = '\0';
        snprintf(key, sizeof key, "key-%03u", i);
        bk_value(i, want);
        int ra = cluster_kv_get(orig, key, false, a, sizeof a);
        int rb = cluster_kv_get(copy, key, false, b, sizeof b);
        cr_assert_eq(ra, rb, "%s: the original says %d, the restored cluster %d", key, ra, rb);
        cr_assert_str_eq(a, b, "%s: \"%s\" in the original, \"%s\" restored", key, a, b);
        enum bk_kind k = bk_kind(i);
        if (k == BK_DELETED || k == BK_TTL_SHORT) {
            cr_assert_eq(rb, KV_NOT_FOUND, "%s (deleted or expired) is there: %d", key, rb);
        } else {
            cr_assert_eq(rb, KV_OK, "%s is missing: %d", key, rb);
            cr_assert_str_eq(b, want, "%s", key);
            present++;
        }
    }
    return present;
}

/* Waits until one of nodes [from, to) says it leads; returns which, and its status. */
static uint32_t bk_wait_leader(struct cluster *c, uint32_t from, uint32_t to,
                               struct wire_status *st)
{
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (clock_mono_ms() < deadline) {
        cluster_check_alive(c);
        for (uint32_t i = from; i < to; i++)
            if (cluster_status(c, i, st) == 0 && st->role == RAFT_LEADER)
                return i;
        cluster_pause_ms(CLUSTER_POLL_MS);
    }
    cr_assert_fail("none of nodes %u..%u became the leader", from + 1, to);
    return UINT32_MAX;
}

static bool bk_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Entries in dir (0 if it is empty; -1 if it does not exist). */
static int bk_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

Test(backup, backup_restore_compare_then_grow_the_restored_cluster)
{
    /* nodes 1-3 the original cluster; 4 is restored into, 5 joins it: both with configs of
     * another cluster name and no member lines */
    /* a small max_client_output makes small chunks (half of it): a backup of many */
    struct cluster *c = cluster_create_with_idle(5, 3, "snapshot_entries = 100\n"
                                                       "snapshot_margin = 10\n"
                                                       "max_client_output = 65536\n");
    for (uint32_t i = 3; i < 5; i++)
        bk_config_add(c, i, "cluster = restored\n");
    for (uint32_t i = 0; i < 3; i++)
        cluster_start(c, i);
    uint32_t leader = cluster_wait_leader(c);
    struct lum_client *orig = bk_client(c, 0, 3);
    bk_write_keys(orig);
    static struct wire_status st;
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    cr_assert_gt(st.snapshot_index, 0, "the writes crossed a snapshot");
    /* the short TTLs run out (they are deleted by the leader's housekeeping) */
    cluster_pause_ms(400);

    /* through a follower: it says NOT_LEADER and raftctl follows it to the leader */
    uint32_t follower = (leader + 1) % 3;
    static struct cluster_run r;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/backup-1.snap", c->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cluster_ctl_at(c, &r, c->nodes[follower].client_addr, 60000, "backup", path, NULL);
    ctl_expect(&r, 0);
    cr_assert(strstr(r.out, "written to"), "stdout: %s", r.out);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    cr_assert_gt(sb.st_size, 5 * 32768, "a backup of several chunks: %lld bytes",
                 (long long)sb.st_size);
    cr_assert_not(bk_exists(tmp), "%s is left behind", tmp);
    /* and through the whole list, as JSON */
    char path2[PATH_MAX];
    snprintf(path2, sizeof path2, "%s/backup-2.snap", c->dir);
    cluster_ctl_at(c, &r, NULL, 60000, "--json", "backup", path2, NULL);
    ctl_expect(&r, 0);
    cr_assert(strstr(r.out, "\"index\":") && strstr(r.out, "\"size\":"), "stdout: %s", r.out);

    /* node 4 restores backup 1 and leads a cluster of one */
    cluster_start_args(c, 3, (const char *const[]){"--restore", path, NULL});
    bk_wait_leader(c, 3, 4, &st);
    cr_assert_eq(st.n_members, 1, "only the restored node is a member: %u", st.n_members);
    cr_assert_eq(st.members[0].id, 4);
    cr_assert_str_eq(st.members[0].client_addr, c->nodes[3].client_addr,
                     "its own address, not the old cluster's");
    cr_assert_str_eq(st.members[0].peer_addr, c->nodes[3].peer_addr);
    cr_assert(cluster_log_has(c, 3, 0, "restored"), "a log line says it was restored");
    cr_assert(cluster_log_has(c, 3, 0, ", 1 members"), "it starts with one member");

    struct lum_client *copy = bk_client(c, 3, 4);
    uint32_t present = bk_compare(orig, copy);
    cr_assert_gt(present, BK_KEYS / 2);

    /* the restored cluster takes writes and grows: node 5 joins and gets everything */
    cr_assert_eq(cluster_kv_put(copy, "after-restore", "yes"), KV_OK);
    cluster_start(c, 4);
    cluster_ctl_at(c, &r, c->nodes[3].client_addr, 60000, "members", "add", "5",
                   c->nodes[4].peer_addr, c->nodes[4].client_addr, NULL);
    ctl_expect(&r, 0);
    cluster_wait_stale_value(c, 4, "after-restore", "yes");
    for (uint32_t i = 0; i < BK_KEYS; i += 9) {
        char key[32], want[BK_VALUE_SIZE];
        snprintf(key, sizeof key, "key-%03u", i);
        bk_value(i, want);
        enum bk_kind k = bk_kind(i);
        cluster_wait_stale_value(c, 4, key, k == BK_DELETED || k == BK_TTL_SHORT ? NULL : want);
    }
    cr_assert_eq(cluster_status(c, 3, &st), 0);
    cr_assert_eq(st.n_members, 2, "the restored cluster has grown to two: %u", st.n_members);
    /* the original cluster did not hear of any of it */
    cr_assert_eq(cluster_kv_get(orig, "after-restore", false, NULL, 0), KV_NOT_FOUND);
    cr_assert_eq(cluster_status(c, leader, &st), 0);
    cr_assert_eq(st.n_members, 3);

    /* a restart of the restored node comes back from its own data, without --restore */
    cluster_stop(c, 4);
    cluster_stop(c, 3);
    cluster_start(c, 3);
    cluster_start(c, 4);
    bk_wait_leader(c, 3, 5, &st);
    cr_assert_eq(st.n_members, 2);
    cr_assert_eq(cluster_kv_get(copy, "key-002", false, NULL, 0), KV_OK);
    cr_assert_eq(cluster_kv_get(copy, "key-003", false, NULL, 0), KV_NOT_FOUND);
    lum_client_close(orig);
    lum_client_close(copy);
    cluster_passed();
}

/* Copies the file at from to to, then applies damage: truncate to size bytes (if size is
 * not UINT64_MAX), flip the byte at flip (if not UINT64_MAX). */
static void bk_copy(const char *from, const char *to, uint64_t size, uint64_t flip)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "%s, %s: %s", from, to, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
    if (size != UINT64_MAX)
        cr_assert_eq(truncate(to, (off_t)size), 0);
    if (flip != UINT64_MAX)
        cluster_flip_byte(to, (off_t)flip, 0x40);
}

/* raftsrv --restore FILE for node i, which must refuse at once (else it would serve, and
 * the run would time out). */
static void bk_restore_refused(struct cluster *c, uint32_t i, const char *file,
                               const char *needle)
{
    static struct cluster_run r;
    cluster_exec(c, &r, 20000, NULL, "raftsrv",
                 (const char *const[]){"-c", c->nodes[i].conf_path, "--restore", file, NULL});
    cr_assert_eq(r.exit_code, 1, "exit %d\nstderr: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "cannot restore"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, needle), "stderr says \"%s\": %s", needle, r.err);
}

Test(backup, restore_refuses_a_damaged_backup_and_a_data_dir_with_state)
{
    /* a one-node cluster with a secret: a backup needs it, as every request does */
    struct cluster *c = cluster_create_with_idle(2, 1, NULL);
    cluster_set_secret(c, "backups are data too");
    cluster_start(c, 0);
    cluster_wait_leader(c);
    struct lum_client *cl = bk_client(c, 0, 1);
    for (uint32_t i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u", i);
        cr_assert_eq(cluster_kv_put(cl, key, "some value"), KV_OK);
    }
    lum_client_close(cl);

    char good[PATH_MAX], bad[PATH_MAX];
    snprintf(good, sizeof good, "%s/good.snap", c->dir);
    snprintf(bad, sizeof bad, "%s/bad.snap", c->dir);
    static struct cluster_run r;
    /* without the secret the node does not take the request */
    cluster_exec(c, &r, 20000, NULL, "raftctl",
                 (const char *const[]){"--cluster", c->nodes[0].client_addr, "backup", good,
                                       NULL});
    cr_assert_eq(r.exit_code, 3, "exit %d\nstderr: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "requires authentication"), "stderr: %s", r.err);
    cr_assert_not(bk_exists(good));
    /* a directory that does not exist: the local file's fault, exit 1 */
    char nowhere[PATH_MAX + 16];
    snprintf(nowhere, sizeof nowhere, "%s/no/such/dir.snap", c->dir);
    cluster_ctl(c, &r, "backup", nowhere, NULL);
    ctl_expect(&r, 1);
    cr_assert(strstr(r.err, "no/such/dir.snap.tmp"), "stderr: %s", r.err);
    cluster_ctl(c, &r, "backup", good, NULL);
    ctl_expect(&r, 0);
    struct stat sb;
    cr_assert_eq(stat(good, &sb), 0);
    uint64_t size = (uint64_t)sb.st_size;
    cr_assert_gt(size, 4096u, "a header and a body");

    /* node 2's data_dir exists, empty: every refusal leaves it so */
    const char *dir = c->nodes[1].data_dir;
    cr_assert_eq(mkdir(dir, 0755), 0, "%s: %s", dir, strerror(errno));
    bk_copy(good, bad, UINT64_MAX, size - 10); /* a bit flipped in the body */
    bk_restore_refused(c, 1, bad, "the body fails its checksum");
    cr_assert_eq(bk_dir_entries(dir), 0, "%s is empty", dir);
    bk_copy(good, bad, UINT64_MAX, 20); /* in the header */
    bk_restore_refused(c, 1, bad, "the header fails its checksum");
    cr_assert_eq(bk_dir_entries(dir), 0);
    bk_copy(good, bad, size - 100, UINT64_MAX); /* cut short */
    bk_restore_refused(c, 1, bad, "the header says");
    cr_assert_eq(bk_dir_entries(dir), 0);
    bk_copy(good, bad, 1000, UINT64_MAX); /* not even a header */
    bk_restore_refused(c, 1, bad, "shorter than its header");
    cr_assert_eq(bk_dir_entries(dir), 0);
    bk_restore_refused(c, 1, "/nonexistent/backup.snap", "No such file");
    cr_assert_eq(bk_dir_entries(dir), 0);

    /* a data_dir with state: refused before the backup is even read; nothing is touched */
    cluster_start(c, 1); /* an idle node: it makes its log/ once it is up */
    static struct wire_status st;
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (cluster_status(c, 1, &st) != 0 && clock_mono_ms() < deadline)
        cluster_pause_ms(CLUSTER_POLL_MS);
    cluster_stop(c, 1);
    int before = bk_dir_entries(dir);
    cr_assert_gt(before, 0, "the idle node made its state");
    bk_restore_refused(c, 1, good, "is not empty");
    cr_assert_eq(bk_dir_entries(dir), before);
    /* the node it refused still starts as it was: idle, not a member of anything */
    cluster_start(c, 1);
    deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    int rv;
    while ((rv = cluster_status(c, 1, &st)) != 0 && clock_mono_ms() < deadline)
        cluster_pause_ms(CLUSTER_POLL_MS);
    cr_assert_eq(rv, 0, "the node answers");
    cr_assert_eq(st.snapshot_index, 0, "no snapshot was installed");
    cr_assert_eq(st.n_members, 0);
    cluster_passed();
}

/* One WIRE_OP_BACKUP ask through the client library; the answer's chunk in *ch (its data
 * lives until the client's next call). */
static void bk_ask(struct lum_client *cl, uint64_t index, uint64_t term, uint64_t offset,
                   struct wire_backup_chunk *ch)
{
    uint8_t body[WIRE_BACKUP_ASK_SIZE];
    struct wire_backup_ask a = {.index = index, .term = term, .offset = offset};
    cr_assert_eq(wire_encode_backup_ask(body, sizeof body, &a), (int)sizeof body);
    struct lum_reply r;
    struct lum_err err;
    cr_assert_eq(lum_client_admin(cl, WIRE_OP_BACKUP, body, sizeof body, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.status, 0, "ask %llu/%llu at %llu: %s", (unsigned long long)index,
                 (unsigned long long)term, (unsigned long long)offset, lum_strerror(r.status));
    cr_assert_eq(wire_decode_backup_chunk(r.data, r.len, ch), 0);
    cr_assert_eq(ch->offset, offset);
}

Test(backup, a_snapshot_being_backed_up_survives_compaction_deleting_its_file)
{
    struct cluster *c = cluster_up(1, "snapshot_entries = 40\nsnapshot_margin = 0\n"
                                      "max_client_output = 65536\n");
    struct lum_client *cl = bk_client(c, 0, 1);
    char key[32], value[BK_VALUE_SIZE];
    for (uint32_t i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "before-%u", i);
        bk_value(i, value);
        cr_assert_eq(cluster_kv_put(cl, key, value), KV_OK);
    }
    /* the first piece pins the snapshot */
    struct wire_backup_chunk ch;
    bk_ask(cl, 0, 0, 0, &ch);
    uint64_t index = ch.index, term = ch.term, size = ch.size;
    cr_assert_lt(ch.len, size, "more than one piece: %u of %llu", ch.len,
                 (unsigned long long)size);
    char path[PATH_MAX], snap[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/pinned.snap", c->dir);
    snprintf(snap, sizeof snap, "%s/snap/snap-%020llu-%020llu", c->nodes[0].data_dir,
             (unsigned long long)term, (unsigned long long)index);
    cr_assert(bk_exists(snap), "%s", snap);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(ch.data, 1, ch.len, f), ch.len);
    uint64_t offset = ch.len;
    /* more writes, more snapshots: the pinned one's file is deleted */
    for (uint32_t i = 0; i < 200 && bk_exists(snap); i++) {
        snprintf(key, sizeof key, "after-%u", i);
        bk_value(i, value);
        cr_assert_eq(cluster_kv_put(cl, key, value), KV_OK);
    }
    uint64_t deadline = clock_mono_ms() + CLUSTER_WAIT_MS;
    while (bk_exists(snap) && clock_mono_ms() < deadline)
        cluster_pause_ms(CLUSTER_POLL_MS);
    cr_assert_not(bk_exists(snap), "compaction never deleted %s", snap);
    /* the rest of the pieces still come, from the open file */
    while (offset < size) {
        bk_ask(cl, index, term, offset, &ch);
        cr_assert(ch.index == index && ch.term == term && ch.size == size);
        cr_assert_gt(ch.len, 0);
        cr_assert_eq(fwrite(ch.data, 1, ch.len, f), ch.len);
        offset += ch.len;
    }
    cr_assert_eq(fclose(f), 0);
    struct snap_meta meta;
    struct lum_err err;
    cr_assert_eq(snap_file_check(path, &meta, &err), 0, "%s", err.msg);
    cr_assert_eq(meta.index, index);
    /* an ask for a snapshot that is neither pinned nor on disk: start over */
    uint8_t body[WIRE_BACKUP_ASK_SIZE];
    struct wire_backup_ask a = {.index = index - 1, .term = term, .offset = 4096};
    wire_encode_backup_ask(body, sizeof body, &a);
    struct lum_reply r;
    cr_assert_eq(lum_client_admin(cl, WIRE_OP_BACKUP, body, sizeof body, &r, &err), 0);
    cr_assert_eq(r.status, -LUM_ENOTFOUND, "%s", lum_strerror(r.status));
    lum_client_close(cl);
    cluster_passed();
}
