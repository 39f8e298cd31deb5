/* What every layer above the core shares: the error codes, assertions, logging, crc32c. */
#ifndef LUMINOUS_BASE_H
#define LUMINOUS_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/raft.h"

/* One error space: the core's codes (RAFT_E*, 1..31) and the rest (LUM_E*, 32..).
 * Functions return 0 or a negated code. */
enum lum_error {
    LUM_ENOTLEADER = RAFT_ENOTLEADER,
    LUM_ETOOBIG    = RAFT_ETOOBIG,
    LUM_EBUSY      = RAFT_EBUSY,
    LUM_EINVAL     = RAFT_EINVAL,
    LUM_EMALFORMED = RAFT_EMALFORMED, /* bad bytes from outside (network, config)  */
    LUM_ECOMPACTED = RAFT_ECOMPACTED,
    LUM_ENOMEM     = RAFT_ENOMEM,
    LUM_EAGAIN     = 32,              /* not yet: need more bytes / try again      */
    LUM_ECORRUPT,                     /* bad bytes on our own disk                 */
    LUM_EIO,                          /* a system call failed                      */
    LUM_ENOSPC,                       /* the disk is full                          */
    LUM_ENOTFOUND,                    /* no such key / file                        */
    LUM_EVERSION,                     /* a format or protocol version we can't read */
    LUM_ECLOSED,                      /* the peer closed the connection            */
    LUM_ETIMEDOUT,
    LUM_EUNAVAILABLE,                 /* no leader / cluster unreachable           */
    LUM_EAUTH,                        /* the cluster secret handshake failed       */
    LUM_ERROR_END_
};

/* A short description of any code above (or RAFT_E*), positive or negated; never NULL. */
const char *lum_strerror(int error);

/* Context for an operating error, filled on the way up: "open log/0001.seg: No such file".
 * Functions that take one write a message when they return an error; err may be NULL. */
struct lum_err {
    char msg[512];
};
__attribute__((format(printf, 2, 3)))
void lum_errf(struct lum_err *err, const char *fmt, ...);

/* Programmer errors abort, always on, NDEBUG or not. One fact per assertion. */
#define LUM_ASSERT(cond) \
    ((cond) ? (void)0 : lum_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void lum_assert_fail(const char *cond, const char *file, int line);

/* Logging to stderr: "2026-11-28T00:00:00.123Z E [node 1] message". */
enum lum_log_level { LUM_LOG_DEBUG, LUM_LOG_INFO, LUM_LOG_WARN, LUM_LOG_ERROR };
void lum_log_set_level(enum lum_log_level level);
void lum_log_set_prefix(const char *prefix); /* e.g. "node 1"; copied */
int  lum_log_level_parse(const char *name, enum lum_log_level *out); /* 0 or -LUM_EINVAL */
__attribute__((format(printf, 2, 3)))
void lum_log(enum lum_log_level level, const char *fmt, ...);
#define lum_debug(...) lum_log(LUM_LOG_DEBUG, __VA_ARGS__)
#define lum_info(...)  lum_log(LUM_LOG_INFO, __VA_ARGS__)
#define lum_warn(...)  lum_log(LUM_LOG_WARN, __VA_ARGS__)
#define lum_error(...) lum_log(LUM_LOG_ERROR, __VA_ARGS__)

/* CRC-32C (Castagnoli), as used by iSCSI/ext4: crc32c(0, "123456789", 9) == 0xE3069283.
 * Chain calls by passing the previous result as crc. */
uint32_t lum_crc32c(uint32_t crc, const void *data, size_t len);

/* Little-endian fixed-width integers, for every on-disk and on-wire format. */
static inline void lum_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void lum_put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void lum_put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t lum_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t lum_get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static inline uint64_t lum_get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

#endif
