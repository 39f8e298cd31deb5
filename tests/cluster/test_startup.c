/* raftsrv's start: a bad config stops it with exit status 2 and "path:LINE: what is wrong";
 * what it cannot start with (a port in use, a data dir in use) with exit status 1. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"

CLUSTER_SUITE(startup);

#define startup_expect(r, code)                                                               \
    cr_assert_eq((r)->exit_code, (code), "exit %d, not %d\nstderr: %s", (r)->exit_code,      \
                 (code), (r)->err)

/* The head of a valid config of a one-node cluster on free ports, ending at line 5. */
static void startup_valid_head(struct cluster *c, char *buf, size_t len)
{
    uint16_t peer = cluster_free_port(), client = cluster_free_port();
    snprintf(buf, len,
             "id = 1\n"                                          /* line 1 */
             "data_dir = %s/data\n"                              /* line 2 */
             "peer_listen = 127.0.0.1:%u\n"                      /* line 3 */
             "client_listen = 127.0.0.1:%u\n"                    /* line 4 */
             "member = 1 127.0.0.1:%u 127.0.0.1:%u\n",           /* line 5 */
             c->dir, peer, client, peer, client);
}

/* Runs raftsrv -c on text written to name; it must exit 2 with "path:line: needle". */
static void startup_refused(struct cluster *c, const char *name, const char *text, int line,
                            const char *needle)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", cluster_write_file(c, name, text));
    static struct cluster_run r;
    const char *args[] = {"-c", path, NULL};
    cluster_exec(c, &r, 10000, NULL, "raftsrv", args);
    startup_expect(&r, 2);
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "%s:%d: %s", path, line, needle);
    cr_assert(strstr(r.err, where), "%s: expected \"%s\" in stderr: %s", name, where, r.err);
    char data[PATH_MAX];
    snprintf(data, sizeof data, "%s/data", c->dir);
    cr_assert_neq(access(data, F_OK), 0, "%s: a refused config created %s", name, data);
}

Test(startup, a_config_with_an_unknown_key_is_refused_at_its_line)
{
    struct cluster *c = cluster_create(0, NULL);
    char text[1024];
    startup_valid_head(c, text, sizeof text);
    strcat(text, "# a comment, then a blank line\n\ntick = 5\n");
    startup_refused(c, "unknown.conf", text, 8, "unknown key \"tick\"");
    cluster_passed();
}

Test(startup, a_config_without_an_id_is_refused_at_its_end)
{
    struct cluster *c = cluster_create(0, NULL);
    char text[1024];
    startup_valid_head(c, text, sizeof text);
    /* comment out line 1: the error points at the end of the file */
    memmove(text + 1, text, strlen(text) + 1);
    text[0] = '#';
    strcat(text, "log_level = info\n");
    startup_refused(c, "noid.conf", text, 6, "missing required key \"id\"");
    cluster_passed();
}

Test(startup, a_config_with_a_bad_address_is_refused_at_its_line)
{
    struct cluster *c = cluster_create(0, NULL);
    const char *bad[] = {
        "peer_listen = 127.0.0.1\n",            /* no port     */
        "peer_listen = 127.0.0.1:99999\n",      /* port range  */
        "peer_listen = 127.0.0.1:http\n",
        "peer_listen = :7001\n",                /* no host     */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "id = 1\n"
                 "data_dir = %s/data\n"
                 "%s"
                 "client_listen = 127.0.0.1:%u\n",
                 c->dir, bad[i], cluster_free_port());
        startup_refused(c, "badaddr.conf", text, 3, "peer_listen: bad address");
    }
    cluster_passed();
}

Test(startup, a_config_with_a_duplicate_member_is_refused_at_its_line)
{
    struct cluster *c = cluster_create(0, NULL);
    char text[1024];
    startup_valid_head(c, text, sizeof text);
    char more[256];
    snprintf(more, sizeof more, "member = 2 127.0.0.1:%u 127.0.0.1:%u\n"
                                "member = 1 127.0.0.1:%u 127.0.0.1:%u\n",
             cluster_free_port(), cluster_free_port(), cluster_free_port(), cluster_free_port());
    strcat(text, more);
    startup_refused(c, "dup.conf", text, 7, "duplicate member id 1");
    cluster_passed();
}

Test(startup, a_missing_config_or_no_config_exits_2)
{
    struct cluster *c = cluster_create(0, NULL);
    static struct cluster_run r;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/no-such.conf", c->dir);
    const char *missing[] = {"-c", path, NULL};
    cluster_exec(c, &r, 10000, NULL, "raftsrv", missing);
    startup_expect(&r, 2);
    cr_assert(strstr(r.err, path), "stderr names the file: %s", r.err);

    const char *none[] = {NULL};
    cluster_exec(c, &r, 10000, NULL, "raftsrv", none);
    startup_expect(&r, 2);
    cr_assert(strstr(r.err, "usage"), "stderr: %s", r.err);
    const char *extra[] = {"-c", path, "surplus", NULL};
    cluster_exec(c, &r, 10000, NULL, "raftsrv", extra);
    startup_expect(&r, 2);
    cluster_passed();
}

Test(startup, a_port_in_use_stops_the_server_with_exit_1_naming_it)
{
    struct cluster *c = cluster_create(0, NULL);
    /* hold a listening socket on the port the config asks for */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char text[1024], taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", ntohs(a.sin_port));
    snprintf(text, sizeof text,
             "id = 1\ndata_dir = %s/data\nclient_listen = %s\npeer_listen = 127.0.0.1:%u\n",
             c->dir, taken, cluster_free_port());
    const char *path = cluster_write_file(c, "busy.conf", text);
    static struct cluster_run r;
    const char *args[] = {"-c", path, NULL};
    cluster_exec(c, &r, 10000, NULL, "raftsrv", args);
    close(fd);
    startup_expect(&r, 1);
    cr_assert(strstr(r.err, taken), "stderr names the address: %s", r.err);
    cluster_passed();
}

Test(startup, a_second_server_on_a_data_dir_in_use_is_refused)
{
    struct cluster *c = cluster_up(1, NULL);
    /* the same node again: same data dir, ports of its own */
    char text[PATH_MAX + 256];
    uint16_t peer = cluster_free_port(), client = cluster_free_port();
    snprintf(text, sizeof text,
             "id = 1\ndata_dir = %s\npeer_listen = 127.0.0.1:%u\nclient_listen = 127.0.0.1:%u\n"
             "member = 1 127.0.0.1:%u 127.0.0.1:%u\n",
             c->nodes[0].data_dir, peer, client, peer, client);
    const char *path = cluster_write_file(c, "twin.conf", text);
    static struct cluster_run r;
    const char *args[] = {"-c", path, NULL};
    cluster_exec(c, &r, 10000, NULL, "raftsrv", args);
    startup_expect(&r, 1);
    cr_assert(strstr(r.err, c->nodes[0].data_dir), "stderr names the data dir: %s", r.err);
    cluster_check_alive(c);
    cluster_passed();
}
