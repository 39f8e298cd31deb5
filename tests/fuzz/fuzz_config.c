/* libFuzzer target: the config parser. The input is the text of a config file; loading it
 * must return 0 or an error with a message, never crash or read out of bounds. The text
 * goes to a memfd (no disk per run) that server_config_load opens by /proc/self/fd/N. */
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luminous/base.h"
#include "luminous/server.h"

/* Host names in fuzzed addresses must not reach DNS: a lookup can take seconds and depends
 * on the network. This definition replaces libc's in this binary only; it resolves
 * "localhost" (so the name path is still taken) and refuses the rest, as a failed lookup. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    (void)service;
    (void)hints;
    if (!node || strcmp(node, "localhost") != 0)
        return EAI_NONAME;
    struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_in));
    if (!ai)
        return EAI_MEMORY;
    struct sockaddr_in *sin = (struct sockaddr_in *)(ai + 1);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ai->ai_family = AF_INET;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_addrlen = sizeof *sin;
    ai->ai_addr = (struct sockaddr *)sin;
    *res = ai;
    return 0;
}

void freeaddrinfo(struct addrinfo *res)
{
    free(res); /* one block, made above */
}

static int  fuzz_fd = -1;
static char fuzz_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lum_log_set_level(LUM_LOG_ERROR);
    fuzz_fd = memfd_create("fuzz-raft.conf", MFD_CLOEXEC);
    if (fuzz_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fuzz_fd, 0) < 0 || pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
        abort();
    static struct server_config cfg;
    struct lum_err err = {{0}};
    int rv = server_config_load(fuzz_path, &cfg, &err);
    if (rv != 0 && (rv != -LUM_EINVAL || err.msg[0] == '\0'))
        abort(); /* text is refused as EINVAL with a message; EIO would mean our memfd broke */
    return 0;
}
