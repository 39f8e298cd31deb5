/* State machines shipped with Luminous: the key-value store and a counter (which exists to
 * prove the server is generic). Also the encodings clients use to talk to them. */
#ifndef LUMINOUS_KV_H
#define LUMINOUS_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luminous/fsm.h"

/* ---- the key-value machine ------------------------------------------------------------
 *
 * Command bodies (after the lum_command header), little-endian:
 *   KV_PUT     u16 klen | u32 vlen | u64 ttl_ms (0: none) | key | value
 *   KV_DEL     u16 klen | key
 *   KV_CAS     u16 klen | u32 old_len | u32 new_len | key | old | new
 *   KV_EXPIRE  u16 klen | u64 expire_at_ms | key     (proposed by the leader only: deletes
 *                                                     the key if it still has that expiry)
 * Query:
 *   KV_GET     u8 op | u16 klen | key                 -> value bytes
 * A PUT with ttl_ms expires at (command time_ms + ttl_ms); an expired key is invisible to
 * queries at once and removed by the EXPIRE entry the leader proposes for it.
 *
 * Answers (lum_result.code; apply answers carry no data): PUT: KV_OK (a PUT without ttl
 * clears an expiry). DEL: KV_OK, or KV_NOT_FOUND if missing or expired (it is removed
 * then). CAS: KV_OK if the key exists, is not expired at the command's time_ms and its
 * value equals old byte for byte (the key keeps its expiry), else KV_MISMATCH. EXPIRE:
 * KV_OK (deleted), KV_NOT_FOUND, or KV_MISMATCH (the key has another expiry or none).
 * GET: KV_OK with the value, or KV_NOT_FOUND (also when expiry <= now_ms). A body that is
 * not exactly as long as its lengths say, a klen of 0 or > KV_KEY_MAX, an EXPIRE of
 * expiry 0, a ttl that overflows, or an unknown type or op: KV_BAD_REQUEST, and nothing
 * changes.
 * Housekeeping proposes at most 256 EXPIREs per call and proposes one again only if it is
 * still not applied 5 s later; propose() must not apply the entry before returning.
 * snapshot_load() refuses a truncated or damaged stream with -LUM_ECORRUPT (another
 * format version: -LUM_EVERSION) and then keeps the state it had. */
enum kv_entry_type { KV_PUT = 64, KV_DEL, KV_CAS, KV_EXPIRE, KV_SET, KV_INCR, KV_SETTTL,
                     KV_MSET, KV_MDEL };
enum kv_query_op { KV_GET = 1, KV_MGET, KV_EXISTS, KV_PTTL, KV_DBSIZE };
enum kv_code { KV_OK = 0, KV_NOT_FOUND = 1, KV_MISMATCH = 2, KV_BAD_REQUEST = 3,
               KV_NOT_INTEGER = 4, KV_OVERFLOW = 5 };

/* ---- the Redis-shaped commands (what the RESP listener needs) ------------------------------
 * Commands (bodies after the lum_command header):
 *   KV_SET     u8 flags | u16 klen | u32 vlen | u64 ttl_ms (0: none) | key | value
 *              flags: KV_SET_NX (only if absent), KV_SET_XX (only if present), KV_SET_KEEPTTL
 *              (keep the key's expiry; ttl_ms must be 0). KV_OK when set, KV_MISMATCH when NX/XX
 *              was not met (nothing changes). NX and XX together, KEEPTTL with a ttl, or
 *              an unknown flag bit: KV_BAD_REQUEST.
 *   KV_INCR    u16 klen | i64 delta | key        the value must be a decimal integer in
 *              [INT64_MIN, INT64_MAX] (a missing key counts as 0); KV_OK with the new value as
 *              8 bytes little-endian (stored as decimal text, the expiry kept); KV_NOT_INTEGER
 *              when the value is not such an integer; KV_OVERFLOW when the sum would overflow.
 *   KV_SETTTL  u16 klen | i64 ttl_ms | key        ttl_ms > 0: the key expires at time_ms +
 *              ttl_ms; ttl_ms <= 0: the key is deleted (as Redis's EXPIRE with a past time);
 *              ttl_ms == INT64_MIN: the expiry is removed (PERSIST). KV_OK, or KV_NOT_FOUND if
 *              the key is missing or expired, or KV_MISMATCH for PERSIST of a key without one.
 *   KV_MSET    u16 count | count x (u16 klen | u32 vlen | key | value)   all at once, each
 *              without expiry. KV_OK.
 *   KV_MDEL    u16 count | count x (u16 klen | key)  KV_OK with the number deleted (u32 LE).
 * Queries:
 *   KV_MGET    u8 op | u16 count | count x (u16 klen | key)  -> KV_OK with count x (u8 found |
 *              u32 vlen | value) (vlen 0 when not found)
 *   KV_EXISTS  same body as MGET                           -> KV_OK with u32 count found
 *   KV_PTTL    u8 op | u16 klen | key                      -> KV_OK with i64 ms left; -1: no
 *              expiry; -2: no such key
 *   KV_DBSIZE  u8 op                                       -> KV_OK with u64 keys (expired
 *              keys not yet removed are not counted)
 * A count of 0 or a body not exactly as long as its lengths say: KV_BAD_REQUEST. So is an
 * MGET whose answer would be longer than KV_ANSWER_MAX bytes. */
enum kv_set_flag { KV_SET_NX = 1, KV_SET_XX = 2, KV_SET_KEEPTTL = 4 };

/* One key of a multi-key command or query. */
struct kv_key {
    const void *key;
    size_t      len;
};
/* One key and value of an MSET. */
struct kv_pair {
    const void *key, *value;
    size_t      klen, vlen;
};

#define KV_KEY_MAX       1024u
/* Longest answer a query gives (an MGET's): 1 MiB less 4 KiB, so that a client response
 * carrying it (its header and a leader address included) fits WIRE_FRAME_MAX, the largest
 * frame the client library reads. A server whose max_client_output is below this may cut
 * off a client for such an answer. */
#define KV_ANSWER_MAX    ((1u << 20) - 4096u)
#define KV_PUT_OVERHEAD  14u  /* u16 + u32 + u64 */
/* Largest key+value a PUT can carry: the entry payload minus both headers. */
#define KV_PUT_DATA_MAX  (LUM_COMMAND_BODY_MAX - KV_PUT_OVERHEAD)

/* Encoders return the body length, or -LUM_ETOOBIG (key > KV_KEY_MAX, more than 65535 keys,
 * or the body would not fit LUM_COMMAND_BODY_MAX / cap), or -LUM_EINVAL (an empty key, no
 * keys, SET flags that apply() would refuse, an mquery op other than KV_MGET / KV_EXISTS). */
int kv_encode_put(uint8_t *buf, size_t cap, const void *key, size_t klen,
                  const void *value, size_t vlen, uint64_t ttl_ms);
int kv_encode_del(uint8_t *buf, size_t cap, const void *key, size_t klen);
int kv_encode_cas(uint8_t *buf, size_t cap, const void *key, size_t klen,
                  const void *old, size_t old_len, const void *new_value, size_t new_len);
int kv_encode_get(uint8_t *buf, size_t cap, const void *key, size_t klen);
int kv_encode_set(uint8_t *buf, size_t cap, uint8_t flags, const void *key, size_t klen,
                  const void *value, size_t vlen, uint64_t ttl_ms);
int kv_encode_incr(uint8_t *buf, size_t cap, const void *key, size_t klen, int64_t delta);
int kv_encode_setttl(uint8_t *buf, size_t cap, const void *key, size_t klen, int64_t ttl_ms);
int kv_encode_mset(uint8_t *buf, size_t cap, const struct kv_pair *pairs, size_t n);
int kv_encode_mdel(uint8_t *buf, size_t cap, const struct kv_key *keys, size_t n);
/* op is KV_MGET or KV_EXISTS. */
int kv_encode_mquery(uint8_t *buf, size_t cap, uint8_t op, const struct kv_key *keys, size_t n);
int kv_encode_pttl(uint8_t *buf, size_t cap, const void *key, size_t klen);
int kv_encode_dbsize(uint8_t *buf, size_t cap);

extern const struct lum_fsm_ops kv_fsm_ops;

/* ---- the counter machine -------------------------------------------------------------------
 *   COUNTER_ADD  i64 delta   -> the new value (8 bytes, little-endian); wraps on overflow
 *   query (any body)         -> the value
 * Another body length or entry type answers KV_BAD_REQUEST. A damaged snapshot is refused
 * with -LUM_ECORRUPT and the value kept. */
enum counter_entry_type { COUNTER_ADD = 64 };
extern const struct lum_fsm_ops counter_fsm_ops;

/* The machine named name ("kv", "counter"), or NULL. */
const struct lum_fsm_ops *lum_fsm_find(const char *name);

#endif
