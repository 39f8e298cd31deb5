/* server_config_load: the defaults, raft.conf.example, and every way a config is refused,
 * each with -LUM_EINVAL and "path:line: what is wrong" pointing at the right line. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luminous/server.h"
#include "storage_test.h"

static char *config_dir;
static char config_path[4096];
static struct server_config cfg;
static struct lum_err err;

static void config_setup(void)
{
    config_dir = storage_test_mkdtemp();
    snprintf(config_path, sizeof config_path, "%s/raft.conf", config_dir);
    memset(&cfg, 0, sizeof cfg);
    memset(&err, 0, sizeof err);
}

static void config_teardown(void)
{
    storage_test_rmdir(config_dir);
    config_dir = NULL;
}

TestSuite(config, .init = config_setup, .fini = config_teardown);

/* The four required keys, lines 1-4. */
#define CONFIG_REQUIRED                                                                       \
    "id = 1\n"                                                                                \
    "data_dir = /var/lib/luminous\n"                                                          \
    "peer_listen = 127.0.0.1:7001\n"                                                          \
    "client_listen = 127.0.0.1:7101\n"

/* Writes text to the config file and loads it. */
static int config_load_text(const char *text)
{
    FILE *f = fopen(config_path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
    return server_config_load(config_path, &cfg, &err);
}

/* text must be refused with -LUM_EINVAL and "path:line: ...needle...". */
static void config_refused(const char *text, int line, const char *needle)
{
    int rv = config_load_text(text);
    cr_assert_eq(rv, -LUM_EINVAL, "accepted (%d) a config that should fail at line %d with "
                 "\"%s\":\n%s", rv, line, needle, text);
    char where[4200];
    snprintf(where, sizeof where, "%s:%d: ", config_path, line);
    cr_assert_eq(strncmp(err.msg, where, strlen(where)), 0, "expected \"%s...\", got \"%s\"",
                 where, err.msg);
    cr_assert(strstr(err.msg + strlen(where), needle), "expected \"%s\" in \"%s\"", needle,
              err.msg);
}

static void config_accepted(const char *text)
{
    int rv = config_load_text(text);
    cr_assert_eq(rv, 0, "refused (%d): %s\n%s", rv, err.msg, text);
}

/* FNV-1a, 64 bits: what the parser derives the cluster id from. */
static uint64_t config_fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- what parses ------------------------------------------------------------------------- */

Test(config, a_minimal_config_gets_every_default)
{
    config_accepted(CONFIG_REQUIRED);
    cr_assert_eq(cfg.id, 1);
    cr_assert_str_eq(cfg.data_dir, "/var/lib/luminous");
    cr_assert_str_eq(cfg.peer_listen_addr, "127.0.0.1:7001");
    cr_assert_str_eq(cfg.client_listen_addr, "127.0.0.1:7101");
    cr_assert_eq(cfg.peer_listen.sin_family, AF_INET);
    cr_assert_eq(ntohs(cfg.peer_listen.sin_port), 7001);
    cr_assert_eq(ntohs(cfg.client_listen.sin_port), 7101);
    cr_assert_eq(ntohl(cfg.client_listen.sin_addr.s_addr), INADDR_LOOPBACK);
    cr_assert_eq(cfg.n_members, 0, "no members: idle until added");
    cr_assert_str_eq(cfg.cluster, "luminous");
    cr_assert_eq(cfg.cluster_id, config_fnv1a("luminous"));
    cr_assert_str_eq(cfg.state_machine, "kv");
    cr_assert_eq(cfg.tick_ms, 50);
    cr_assert_eq(cfg.election_ticks, 10);
    cr_assert_eq(cfg.heartbeat_ticks, 2);
    cr_assert_eq(cfg.max_inflight, 64);
    cr_assert_eq(cfg.max_batch, 64);
    cr_assert_eq(cfg.log_window, 1024);
    cr_assert_eq(cfg.segment_entries, 8192);
    cr_assert_eq(cfg.max_clients, 4096);
    cr_assert_eq(cfg.max_pending, 65536);
    cr_assert_eq(cfg.max_pending_per_conn, 1024);
    cr_assert_eq(cfg.max_frame, 65536);
    cr_assert_eq(cfg.max_client_output, 8u << 20);
    cr_assert_eq(cfg.client_idle_timeout_ms, 0, "idle clients are kept by default");
    cr_assert_eq(cfg.log_level, LUM_LOG_INFO);
}

Test(config, raft_conf_example_parses_as_node_1_of_three)
{
    /* make runs the tests from the top of the tree */
    int rv = server_config_load("raft.conf.example", &cfg, &err);
    cr_assert_eq(rv, 0, "raft.conf.example: %s", err.msg);
    cr_assert_eq(cfg.id, 1);
    cr_assert_str_eq(cfg.data_dir, "data/node1");
    cr_assert_str_eq(cfg.peer_listen_addr, "127.0.0.1:7001");
    cr_assert_str_eq(cfg.client_listen_addr, "127.0.0.1:7101");
    cr_assert_str_eq(cfg.resp_listen_addr, "127.0.0.1:7201");
    cr_assert_str_eq(cfg.http_listen_addr, "127.0.0.1:7301");
    cr_assert_eq(cfg.n_members, 3);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert_eq(cfg.members[i].id, i + 1);
        cr_assert_eq(ntohs(cfg.members[i].peer.sin_port), 7001 + i);
        cr_assert_eq(ntohs(cfg.members[i].client.sin_port), 7101 + i);
    }
    cr_assert_str_eq(cfg.members[1].peer_addr, "127.0.0.1:7002");
    cr_assert_str_eq(cfg.members[2].client_addr, "127.0.0.1:7103");
    cr_assert_str_eq(cfg.cluster, "luminous");
    cr_assert_str_eq(cfg.state_machine, "kv");
    cr_assert_eq(cfg.tick_ms, 50);
    cr_assert_eq(cfg.election_ticks, 10);
    cr_assert_eq(cfg.heartbeat_ticks, 2);
    cr_assert_eq(cfg.log_level, LUM_LOG_INFO);
}

Test(config, every_key_can_be_set)
{
    config_accepted(CONFIG_REQUIRED
                    "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                    "member = 7 localhost:7007 127.0.0.1:7107\n"
                    "cluster = blue\n"
                    "state_machine = counter\n"
                    "tick_ms = 20\n"
                    "election_ticks = 30\n"
                    "heartbeat_ticks = 3\n"
                    "max_inflight = 8\n"
                    "max_batch = 16\n"
                    "log_window = 64\n"
                    "segment_entries = 16\n"
                    "max_clients = 10\n"
                    "max_pending = 100\n"
                    "max_pending_per_conn = 7\n"
                    "max_frame = 8192\n"
                    "max_client_output = 65536\n"
                    "client_idle_timeout_ms = 300\n"
                    "log_level = WARN\n");
    cr_assert_eq(cfg.n_members, 2);
    cr_assert_eq(cfg.members[1].id, 7);
    cr_assert_eq(ntohl(cfg.members[1].peer.sin_addr.s_addr), INADDR_LOOPBACK,
                 "localhost resolves");
    cr_assert_str_eq(cfg.cluster, "blue");
    cr_assert_eq(cfg.cluster_id, config_fnv1a("blue"));
    cr_assert_neq(cfg.cluster_id, config_fnv1a("luminous"));
    cr_assert_str_eq(cfg.state_machine, "counter");
    cr_assert_eq(cfg.tick_ms, 20);
    cr_assert_eq(cfg.election_ticks, 30);
    cr_assert_eq(cfg.heartbeat_ticks, 3);
    cr_assert_eq(cfg.max_inflight, 8);
    cr_assert_eq(cfg.max_batch, 16);
    cr_assert_eq(cfg.log_window, 64);
    cr_assert_eq(cfg.segment_entries, 16);
    cr_assert_eq(cfg.max_clients, 10);
    cr_assert_eq(cfg.max_pending, 100);
    cr_assert_eq(cfg.max_pending_per_conn, 7);
    cr_assert_eq(cfg.max_frame, 8192);
    cr_assert_eq(cfg.max_client_output, 65536);
    cr_assert_eq(cfg.client_idle_timeout_ms, 300);
    cr_assert_eq(cfg.log_level, LUM_LOG_WARN);
}

Test(config, comments_blank_lines_spaces_and_crlf_are_ignored)
{
    config_accepted("# a comment\n"
                    "\n"
                    "   \t \n"
                    "  id=1   # after a value\n"
                    "data_dir\t=\t/srv/with space\r\n"
                    "peer_listen = 127.0.0.1:7001\r\n"
                    "client_listen = 127.0.0.1:7101"); /* no newline at the end */
    cr_assert_eq(cfg.id, 1);
    cr_assert_str_eq(cfg.data_dir, "/srv/with space");
    cr_assert_str_eq(cfg.peer_listen_addr, "127.0.0.1:7001");
    cr_assert_str_eq(cfg.client_listen_addr, "127.0.0.1:7101");
}

Test(config, a_line_of_1022_bytes_is_accepted)
{
    static char text[2048];
    strcpy(text, CONFIG_REQUIRED);
    size_t off = strlen(text);
    text[off++] = '#';
    memset(text + off, 'c', 1021);
    strcpy(text + off + 1021, "\n");
    config_accepted(text);
}

/* ---- each line that is wrong -------------------------------------------------------------- */

Test(config, an_unknown_key_is_refused)
{
    config_refused(CONFIG_REQUIRED "# fine so far\ntick = 5\n", 6, "unknown key \"tick\"");
    config_refused("ID = 1\n", 1, "unknown key \"ID\"");
}

Test(config, a_line_without_equals_is_refused)
{
    config_refused("id = 1\n\ndata_dir /tmp\n", 3, "expected \"key = value\"");
}

Test(config, a_key_without_a_value_is_refused)
{
    config_refused("id = 1\ndata_dir =\n", 2, "data_dir has no value");
    config_refused("id =    # only a comment\n", 1, "id has no value");
}

Test(config, a_key_set_twice_is_refused_at_the_second)
{
    config_refused(CONFIG_REQUIRED "tick_ms = 20\n# again:\ntick_ms = 30\n", 7,
                   "tick_ms is set twice");
    config_refused("id = 1\nid = 1\n", 2, "id is set twice");
}

Test(config, a_bad_number_is_refused)
{
    const char *bad[] = {"5x", "-1", "0x10", "1.5", "ten", "1 2", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, CONFIG_REQUIRED "tick_ms = %s\n", bad[i]);
        config_refused(text, 5, "tick_ms must be a whole number in 1..60000");
        snprintf(text, sizeof text, "id = %s\n", bad[i]);
        config_refused(text, 1, "id must be a whole number");
    }
}

Test(config, a_number_out_of_range_is_refused_naming_the_range)
{
    const struct {
        const char *line, *needle;
    } cases[] = {
        {"tick_ms = 0", "tick_ms must be a whole number in 1..60000"},
        {"tick_ms = 60001", "in 1..60000"},
        {"election_ticks = 1", "election_ticks must be a whole number in 2..100000"},
        {"heartbeat_ticks = 0", "heartbeat_ticks must be a whole number in 1..100000"},
        {"max_inflight = 4097", "max_inflight must be a whole number in 1..4096"},
        {"max_batch = 65", "max_batch must be a whole number in 1..64"},
        {"max_batch = 0", "in 1..64"},
        {"log_window = 63", "log_window must be a whole number in 64..1048576"},
        {"segment_entries = 15", "segment_entries must be a whole number in 16..1048576"},
        {"max_clients = 0", "max_clients must be a whole number in 1..1000000"},
        {"max_pending = 4194305", "max_pending must be a whole number in 1..4194304"},
        {"tick_ms = 4294967297", "in 1..60000"}, /* 2^32 + 1: no wrap to 1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, CONFIG_REQUIRED "%s\n", cases[i].line);
        config_refused(text, 5, cases[i].needle);
    }
    config_refused("id = 0\n", 1, "id must be a whole number in 1..");
}

Test(config, a_bad_address_is_refused)
{
    const struct {
        const char *addr, *needle;
    } cases[] = {
        {"127.0.0.1", "expected HOST:PORT"},
        {":7001", "expected HOST:PORT"},
        {"127.0.0.1:0", "port must be 1..65535"},
        {"127.0.0.1:65536", "port must be 1..65535"},
        {"127.0.0.1:http", "port must be 1..65535"},
        {"127.0.0.1:", "port must be 1..65535"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "id = 1\ndata_dir = /d\npeer_listen = %s\n", cases[i].addr);
        config_refused(text, 3, "peer_listen: bad address");
        config_refused(text, 3, cases[i].needle);
        snprintf(text, sizeof text, "id = 1\nclient_listen = %s\n", cases[i].addr);
        config_refused(text, 2, "client_listen: bad address");
    }
}

Test(config, an_overlong_address_is_refused)
{
    static char text[1024];
    char host[300];
    memset(host, 'h', 290);
    host[290] = '\0';
    snprintf(text, sizeof text, "id = 1\npeer_listen = %s:7001\n", host);
    config_refused(text, 2, "peer_listen: address too long");
}

Test(config, an_unresolvable_host_is_refused)
{
    config_refused("id = 1\npeer_listen = no-such-host.invalid:7001\n", 2, "cannot resolve");
}

Test(config, a_malformed_member_line_is_refused)
{
    config_refused(CONFIG_REQUIRED "member = 1 127.0.0.1:7001\n", 5,
                   "member must be \"ID PEER_HOST:PORT CLIENT_HOST:PORT\"");
    config_refused(CONFIG_REQUIRED "member = 1 127.0.0.1:7001 127.0.0.1:7101 extra\n", 5,
                   "member must be");
    config_refused(CONFIG_REQUIRED "member = 0 127.0.0.1:7001 127.0.0.1:7101\n", 5,
                   "member id must be a whole number");
    config_refused(CONFIG_REQUIRED "member = one 127.0.0.1:7001 127.0.0.1:7101\n", 5,
                   "member id must be a whole number");
    config_refused(CONFIG_REQUIRED "member = 1 127.0.0.1 127.0.0.1:7101\n", 5,
                   "member peer address: bad address");
    config_refused(CONFIG_REQUIRED "member = 1 127.0.0.1:7001 nowhere.invalid:1\n", 5,
                   "member client address: bad address");
}

Test(config, a_duplicate_member_id_is_refused)
{
    config_refused(CONFIG_REQUIRED
                   "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                   "member = 2 127.0.0.1:7002 127.0.0.1:7102\n"
                   "member = 1 127.0.0.1:7003 127.0.0.1:7103\n",
                   7, "duplicate member id 1");
}

Test(config, a_member_address_used_twice_is_refused)
{
    config_refused(CONFIG_REQUIRED
                   "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                   "member = 2 127.0.0.1:7001 127.0.0.1:7102\n",
                   6, "member 2 reuses an address of member 1");
    config_refused(CONFIG_REQUIRED
                   "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                   "member = 2 127.0.0.1:7002 127.0.0.1:7103\n"
                   "member = 3 127.0.0.1:7003 127.0.0.1:7101\n",
                   7, "member 3 reuses an address of member 1");
}

Test(config, addresses_are_compared_resolved_and_across_peer_and_client)
{
    config_refused(CONFIG_REQUIRED
                   "member = 1 127.0.0.1:7001 127.0.0.1:7001\n",
                   5, "member 1: peer and client addresses are the same");
    config_refused(CONFIG_REQUIRED
                   "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                   "member = 2 127.0.0.1:7002 127.0.0.1:7001\n",
                   6, "member 2 reuses an address of member 1");
    config_refused(CONFIG_REQUIRED
                   "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                   "member = 2 localhost:7001 127.0.0.1:7102\n",
                   6, "member 2 reuses an address of member 1");
}

Test(config, more_members_than_raft_members_max_are_refused)
{
    static char text[8192];
    size_t off = (size_t)snprintf(text, sizeof text, "%s", CONFIG_REQUIRED);
    for (uint32_t i = 1; i <= RAFT_MEMBERS_MAX + 1; i++)
        off += (size_t)snprintf(text + off, sizeof text - off,
                                "member = %u 127.0.0.1:%u 127.0.0.1:%u\n", i, 7000 + i, 7100 + i);
    char needle[64];
    snprintf(needle, sizeof needle, "too many members (at most %u)", RAFT_MEMBERS_MAX);
    config_refused(text, 4 + (int)RAFT_MEMBERS_MAX + 1, needle);

    /* exactly RAFT_MEMBERS_MAX is fine */
    char last[32];
    snprintf(last, sizeof last, "member = %u ", RAFT_MEMBERS_MAX + 1);
    *strstr(text, last) = '\0';
    config_accepted(text);
    cr_assert_eq(cfg.n_members, RAFT_MEMBERS_MAX);
}

Test(config, a_bad_state_machine_is_refused)
{
    config_refused(CONFIG_REQUIRED "state_machine = sql\n", 5,
                   "state_machine must be \"kv\" or \"counter\", not \"sql\"");
}

Test(config, a_bad_log_level_is_refused)
{
    config_refused(CONFIG_REQUIRED "log_level = verbose\n", 5,
                   "log_level must be debug, info, warn or error, not \"verbose\"");
}

Test(config, an_overlong_cluster_name_is_refused)
{
    char text[512];
    char name[80];
    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(text, sizeof text, CONFIG_REQUIRED "cluster = %s\n", name);
    config_refused(text, 5, "cluster is longer than 63 bytes");
    name[63] = '\0';
    snprintf(text, sizeof text, CONFIG_REQUIRED "cluster = %s\n", name);
    config_accepted(text);
}

Test(config, an_overlong_line_is_refused_at_its_line)
{
    static char text[4096];
    strcpy(text, "id = 1\n# next: a line of 1023 bytes\n#");
    size_t off = strlen(text);
    memset(text + off, 'c', 1022);
    strcpy(text + off + 1022, "\ndata_dir = /d\n");
    config_refused(text, 3, "line longer than 1022 bytes");
}

/* ---- rules between keys, checked at the end of the file ------------------------------------- */

Test(config, each_missing_required_key_is_named_at_the_end_of_the_file)
{
    const char *keys[] = {"id", "data_dir", "peer_listen", "client_listen"};
    const char *lines[] = {"id = 1\n", "data_dir = /d\n", "peer_listen = 127.0.0.1:7001\n",
                           "client_listen = 127.0.0.1:7101\n"};
    for (size_t miss = 0; miss < 4; miss++) {
        char text[512] = "# the config\n";
        for (size_t k = 0; k < 4; k++)
            if (k != miss)
                strcat(text, lines[k]);
        strcat(text, "\n# the end\n"); /* lines 5 and 6 */
        char needle[64];
        snprintf(needle, sizeof needle, "missing required key \"%s\"", keys[miss]);
        config_refused(text, 6, needle);
    }
    config_refused("", 1, "missing required key \"id\"");
}

Test(config, heartbeat_ticks_at_or_above_election_ticks_is_refused)
{
    config_refused(CONFIG_REQUIRED "election_ticks = 4\nheartbeat_ticks = 4\n", 6,
                   "heartbeat_ticks (4) must be below election_ticks (4)");
    config_refused(CONFIG_REQUIRED "heartbeat_ticks = 11\n", 5,
                   "heartbeat_ticks (11) must be below election_ticks (10)");
    config_refused(CONFIG_REQUIRED "election_ticks = 2\n", 5,
                   "heartbeat_ticks (2) must be below election_ticks (2)");
    config_accepted(CONFIG_REQUIRED "election_ticks = 3\n");
}

Test(config, a_log_window_below_twice_max_batch_is_refused)
{
    config_refused(CONFIG_REQUIRED "log_window = 100\n", 5,
                   "log_window (100) must be at least twice max_batch (64)");
    config_refused(CONFIG_REQUIRED "max_batch = 51\nlog_window = 101\n", 6,
                   "log_window (101) must be at least twice max_batch (51)");
    config_accepted(CONFIG_REQUIRED "max_batch = 50\nlog_window = 100\n");
}

Test(config, an_id_that_is_not_a_member_is_refused)
{
    config_refused("id = 3\n"
                   "data_dir = /d\n"
                   "peer_listen = 127.0.0.1:7003\n"
                   "client_listen = 127.0.0.1:7103\n"
                   "member = 1 127.0.0.1:7001 127.0.0.1:7101\n"
                   "member = 2 127.0.0.1:7002 127.0.0.1:7102\n",
                   6, "id 3 is not one of the members");
}

Test(config, a_missing_file_is_an_io_error_naming_it)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/no-such.conf", config_dir);
    cr_assert_eq(server_config_load(path, &cfg, &err), -LUM_EIO);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file"), "%s", err.msg);
}

Test(config, client_limits_are_range_checked)
{
    /* CONFIG_REQUIRED is 4 lines: the bad one is line 5 */
    config_refused(CONFIG_REQUIRED "max_pending_per_conn = 0\n", 5,
                   "max_pending_per_conn must be a whole number in 1..4194304");
    config_refused(CONFIG_REQUIRED "max_frame = 8191\n", 5,
                   "max_frame must be a whole number in 8192..1048576, not \"8191\"");
    config_refused(CONFIG_REQUIRED "max_frame = 1048577\n", 5, "max_frame must be");
    config_refused(CONFIG_REQUIRED "max_client_output = 65535\n", 5,
                   "max_client_output must be a whole number in 65536..1073741824");
    config_refused(CONFIG_REQUIRED "client_idle_timeout_ms = -1\n", 5,
                   "client_idle_timeout_ms must be a whole number in 0..86400000");
    config_refused(CONFIG_REQUIRED "client_idle_timeout_ms = 86400001\n", 5,
                   "client_idle_timeout_ms must be");
    config_accepted(CONFIG_REQUIRED "max_frame = 1048576\nclient_idle_timeout_ms = 0\n"
                    "max_pending_per_conn = 4194304\nmax_client_output = 1073741824\n");
    cr_assert_eq(cfg.max_frame, 1048576);
    cr_assert_eq(cfg.max_pending_per_conn, 4194304);
}

/* secret_file is read while parsing: the key itself lands in the config, and a file that
 * cannot be used is refused at its line, naming the file. */
Test(config, secret_file_is_loaded_or_refused_at_its_line)
{
    char secret_path[4200], text[8600];
    snprintf(secret_path, sizeof secret_path, "%s/secret", config_dir);
    FILE *f = fopen(secret_path, "w");
    cr_assert_not_null(f);
    fputs("s3cret\n", f);
    cr_assert_eq(fclose(f), 0);
    snprintf(text, sizeof text, CONFIG_REQUIRED "secret_file = %s\n", secret_path);
    config_accepted(text);
    cr_assert_str_eq(cfg.secret_file, secret_path);
    cr_assert_eq(cfg.secret.len, 6);
    cr_assert_eq(memcmp(cfg.secret.key, "s3cret", 6), 0);

    config_accepted(CONFIG_REQUIRED);
    cr_assert_eq(cfg.secret.len, 0, "no secret_file: no authentication");

    snprintf(text, sizeof text, CONFIG_REQUIRED "secret_file = %s/none\n", config_dir);
    config_refused(text, 5, "secret_file: ");
    cr_assert(strstr(err.msg, "/none"), "names the file: %s", err.msg);

    f = fopen(secret_path, "w");
    cr_assert_not_null(f);
    fputs("\n", f);
    cr_assert_eq(fclose(f), 0);
    snprintf(text, sizeof text, CONFIG_REQUIRED "secret_file = %s\n", secret_path);
    config_refused(text, 5, "secret_file: ");
}

/* The Redis protocol is off unless resp_listen is set; when set it is an address like the
 * others, checked the same way. */
Test(config, resp_listen_is_off_by_default_and_parsed_as_an_address)
{
    config_accepted(CONFIG_REQUIRED);
    cr_assert_str_eq(cfg.resp_listen_addr, "", "off when absent");
    config_accepted(CONFIG_REQUIRED "resp_listen = 127.0.0.1:7201\n");
    cr_assert_str_eq(cfg.resp_listen_addr, "127.0.0.1:7201");
    cr_assert_eq(ntohs(cfg.resp_listen.sin_port), 7201);
    cr_assert_eq(ntohl(cfg.resp_listen.sin_addr.s_addr), INADDR_LOOPBACK);
    config_refused(CONFIG_REQUIRED "resp_listen = 127.0.0.1:0\n", 5, "resp_listen: bad address");
    cr_assert_eq(server_config_load("raft.conf.example", &cfg, &err), 0, "%s", err.msg);
    cr_assert_str_eq(cfg.resp_listen_addr, "127.0.0.1:7201", "raft.conf.example turns it on");
}

Test(config, http_listen_is_off_by_default_and_must_not_reuse_a_listen_address)
{
    config_accepted(CONFIG_REQUIRED);
    cr_assert_str_eq(cfg.http_listen_addr, "", "no HTTP endpoint unless asked for");
    config_accepted(CONFIG_REQUIRED "http_listen = 127.0.0.1:7301\n");
    cr_assert_str_eq(cfg.http_listen_addr, "127.0.0.1:7301");
    cr_assert_eq(ntohs(cfg.http_listen.sin_port), 7301);
    config_refused(CONFIG_REQUIRED "http_listen = nowhere\n", 5, "http_listen");
    config_refused(CONFIG_REQUIRED "http_listen = 127.0.0.1:7101\n", 5,
                   "http_listen 127.0.0.1:7101 is also client_listen");
    config_refused(CONFIG_REQUIRED "resp_listen = 127.0.0.1:7301\nhttp_listen = 127.0.0.1:7301\n",
                   6, "http_listen 127.0.0.1:7301 is also resp_listen");
}
