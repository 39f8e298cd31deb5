/* The command header (lum_command_parse/build) and the key-value body encoders. */
#include <criterion/criterion.h>

#include "kv_test.h"

static uint8_t big[2 * RAFT_ENTRY_SIZE];
static uint8_t buf[2 * RAFT_ENTRY_SIZE];
static struct raft_entry e;

/* ---- the command header -------------------------------------------------------------------- */

Test(command, build_then_parse_gives_back_header_and_body)
{
    struct lum_command c;
    e.type = 70;
    cr_assert_eq(lum_command_build(&e, 0x1122334455667788ull, 42, 1700000000123ull, "body", 4), 0);
    cr_assert_eq(e.len, LUM_COMMAND_HEADER_SIZE + 4);
    cr_assert_eq(e.type, 70, "the caller's type is kept");
    cr_assert_eq(lum_command_parse(&e, &c), 0);
    cr_assert_eq(c.client_id, 0x1122334455667788ull);
    cr_assert_eq(c.seq, 42);
    cr_assert_eq(c.time_ms, 1700000000123ull);
    cr_assert_eq(c.len, 4);
    cr_assert(memcmp(c.body, "body", 4) == 0);
    cr_assert_eq(c.body, e.payload + LUM_COMMAND_HEADER_SIZE, "the body points into the entry");
}

Test(command, header_is_little_endian_in_the_payload)
{
    cr_assert_eq(lum_command_build(&e, 1, 2, 3, NULL, 0), 0);
    cr_assert_eq(e.payload[0], 1);
    cr_assert_eq(e.payload[8], 2);
    cr_assert_eq(e.payload[16], 3);
    cr_assert_eq(e.payload[7] | e.payload[15] | e.payload[23], 0);
}

Test(command, parse_refuses_a_payload_shorter_than_the_header)
{
    struct lum_command c;
    for (e.len = 0; e.len < LUM_COMMAND_HEADER_SIZE; e.len++)
        cr_assert_eq(lum_command_parse(&e, &c), -LUM_EMALFORMED, "len %u", e.len);
    cr_assert_eq(lum_command_parse(&e, &c), 0, "a header alone is an empty body");
    cr_assert_eq(c.len, 0);
    e.len = RAFT_PAYLOAD_MAX + 1;
    cr_assert_eq(lum_command_parse(&e, &c), -LUM_EMALFORMED, "len beyond the payload");
}

Test(command, build_accepts_exactly_the_largest_body_and_refuses_one_more)
{
    cr_assert_eq(lum_command_build(&e, 1, 1, 1, big, LUM_COMMAND_BODY_MAX), 0);
    cr_assert_eq(e.len, RAFT_PAYLOAD_MAX);
    e.len = 7;
    cr_assert_eq(lum_command_build(&e, 1, 1, 1, big, LUM_COMMAND_BODY_MAX + 1), -LUM_ETOOBIG);
    cr_assert_eq(e.len, 7, "a refused build leaves the entry alone");
}

Test(command, build_accepts_a_body_already_in_the_payload)
{
    struct lum_command c;
    memcpy(e.payload, "in place", 8);
    cr_assert_eq(lum_command_build(&e, 9, 9, 9, e.payload, 8), 0);
    cr_assert_eq(lum_command_parse(&e, &c), 0);
    cr_assert(memcmp(c.body, "in place", 8) == 0);
    cr_assert_eq(c.client_id, 9);
}

/* ---- encoders ------------------------------------------------------------------------------- */

Test(kv_encode, put_writes_the_documented_layout)
{
    int n = kv_encode_put(buf, sizeof buf, "key", 3, "value", 5, 0x0102030405060708ull);
    cr_assert_eq(n, KV_PUT_OVERHEAD + 8);
    cr_assert_eq(lum_get_u16(buf), 3);
    cr_assert_eq(lum_get_u32(buf + 2), 5);
    cr_assert_eq(lum_get_u64(buf + 6), 0x0102030405060708ull);
    cr_assert(memcmp(buf + 14, "keyvalue", 8) == 0);
}

Test(kv_encode, put_accepts_exactly_the_largest_key_and_data)
{
    const size_t vmax = KV_PUT_DATA_MAX - KV_KEY_MAX;
    cr_assert_eq(kv_encode_put(buf, sizeof buf, big, KV_KEY_MAX, big, vmax, 0),
                 (int)LUM_COMMAND_BODY_MAX);
    cr_assert_eq(kv_encode_put(buf, sizeof buf, big, 1, big, KV_PUT_DATA_MAX - 1, 0),
                 (int)LUM_COMMAND_BODY_MAX);
    /* and exactly that fits an entry */
    cr_assert_eq(lum_command_build(&e, 1, 1, 1, buf, LUM_COMMAND_BODY_MAX), 0);
}

Test(kv_encode, put_refuses_a_long_key_too_much_data_an_empty_key_or_a_small_buffer)
{
    cr_assert_eq(kv_encode_put(buf, sizeof buf, big, KV_KEY_MAX + 1, "v", 1, 0), -LUM_ETOOBIG);
    const size_t vmax = KV_PUT_DATA_MAX - KV_KEY_MAX;
    cr_assert_eq(kv_encode_put(buf, sizeof buf, big, KV_KEY_MAX, big, vmax + 1, 0),
                 -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_put(buf, sizeof buf, big, 1, big, KV_PUT_DATA_MAX, 0), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_put(buf, sizeof buf, big, 1, big, SIZE_MAX, 0), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_put(buf, sizeof buf, "", 0, "v", 1, 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_put(buf, KV_PUT_OVERHEAD + 1, "k", 1, "v", 1, 0), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_put(buf, KV_PUT_OVERHEAD + 2, "k", 1, "v", 1, 0), KV_PUT_OVERHEAD + 2);
}

Test(kv_encode, del_accepts_the_largest_key_and_refuses_one_more_or_none)
{
    cr_assert_eq(kv_encode_del(buf, sizeof buf, big, KV_KEY_MAX), (int)(2 + KV_KEY_MAX));
    cr_assert_eq(lum_get_u16(buf), KV_KEY_MAX);
    cr_assert_eq(kv_encode_del(buf, sizeof buf, big, KV_KEY_MAX + 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_del(buf, sizeof buf, "", 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_del(buf, 3, "ab", 2), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_del(buf, 4, "ab", 2), 4);
}

Test(kv_encode, cas_writes_the_layout_and_accepts_exactly_a_full_body)
{
    int n = kv_encode_cas(buf, sizeof buf, "k", 1, "old", 3, "new!", 4);
    cr_assert_eq(n, 10 + 8);
    cr_assert_eq(lum_get_u16(buf), 1);
    cr_assert_eq(lum_get_u32(buf + 2), 3);
    cr_assert_eq(lum_get_u32(buf + 6), 4);
    cr_assert(memcmp(buf + 10, "koldnew!", 8) == 0);
    size_t room = LUM_COMMAND_BODY_MAX - 10 - KV_KEY_MAX;
    size_t half = room / 2, rest = room - room / 2;
    cr_assert_eq(kv_encode_cas(buf, sizeof buf, big, KV_KEY_MAX, big, half, big, rest),
                 (int)LUM_COMMAND_BODY_MAX);
    cr_assert_eq(kv_encode_cas(buf, sizeof buf, big, KV_KEY_MAX, big, half, big, rest + 1),
                 -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_cas(buf, sizeof buf, big, KV_KEY_MAX + 1, "a", 1, "b", 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_cas(buf, sizeof buf, big, 1, big, SIZE_MAX, big, 2), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_cas(buf, sizeof buf, "", 0, "a", 1, "b", 1), -LUM_EINVAL);
    cr_assert_eq(kv_encode_cas(buf, 12, "k", 1, "a", 1, "b", 1), -LUM_ETOOBIG);
}

Test(kv_encode, get_writes_op_and_key_and_refuses_a_long_key)
{
    int n = kv_encode_get(buf, sizeof buf, "key", 3);
    cr_assert_eq(n, 6);
    cr_assert_eq(buf[0], KV_GET);
    cr_assert_eq(lum_get_u16(buf + 1), 3);
    cr_assert(memcmp(buf + 3, "key", 3) == 0);
    cr_assert_eq(kv_encode_get(buf, sizeof buf, big, KV_KEY_MAX), (int)(3 + KV_KEY_MAX));
    cr_assert_eq(kv_encode_get(buf, sizeof buf, big, KV_KEY_MAX + 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_get(buf, sizeof buf, "", 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_get(buf, 5, "key", 3), -LUM_ETOOBIG);
}

/* ---- encoders of the Redis-shaped commands and queries ------------------------------------- */

Test(kv_encode, set_writes_the_documented_layout)
{
    int n = kv_encode_set(buf, sizeof buf, KV_SET_NX, "key", 3, "value", 5, 0x0102030405060708ull);
    cr_assert_eq(n, 15 + 8);
    cr_assert_eq(buf[0], KV_SET_NX);
    cr_assert_eq(lum_get_u16(buf + 1), 3);
    cr_assert_eq(lum_get_u32(buf + 3), 5);
    cr_assert_eq(lum_get_u64(buf + 7), 0x0102030405060708ull);
    cr_assert(memcmp(buf + 15, "keyvalue", 8) == 0);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, KV_SET_XX | KV_SET_KEEPTTL, "k", 1, "", 0, 0), 16);
    cr_assert_eq(buf[0], KV_SET_XX | KV_SET_KEEPTTL);
}

Test(kv_encode, set_refuses_conflicting_or_unknown_flags)
{
    cr_assert_eq(kv_encode_set(buf, sizeof buf, KV_SET_NX | KV_SET_XX, "k", 1, "v", 1, 0),
                 -LUM_EINVAL);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, KV_SET_KEEPTTL, "k", 1, "v", 1, 5), -LUM_EINVAL);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, 8, "k", 1, "v", 1, 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, KV_SET_KEEPTTL, "k", 1, "v", 1, 0), 17);
}

Test(kv_encode, set_accepts_exactly_a_full_body_and_refuses_more_or_bad_keys)
{
    size_t vmax = LUM_COMMAND_BODY_MAX - 15 - KV_KEY_MAX;
    cr_assert_eq(kv_encode_set(buf, sizeof buf, 0, big, KV_KEY_MAX, big, vmax, 0),
                 (int)LUM_COMMAND_BODY_MAX);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, 0, big, KV_KEY_MAX, big, vmax + 1, 0),
                 -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, 0, big, 1, big, SIZE_MAX, 0), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, 0, big, KV_KEY_MAX + 1, "v", 1, 0), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_set(buf, sizeof buf, 0, "", 0, "v", 1, 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_set(buf, 16, 0, "k", 1, "v", 1, 0), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_set(buf, 17, 0, "k", 1, "v", 1, 0), 17);
}

Test(kv_encode, incr_and_setttl_write_klen_signed_value_key)
{
    cr_assert_eq(kv_encode_incr(buf, sizeof buf, "ctr", 3, -5), 13);
    cr_assert_eq(lum_get_u16(buf), 3);
    cr_assert_eq((int64_t)lum_get_u64(buf + 2), -5);
    cr_assert(memcmp(buf + 10, "ctr", 3) == 0);
    cr_assert_eq(kv_encode_setttl(buf, sizeof buf, "k", 1, INT64_MIN), 11);
    cr_assert_eq((int64_t)lum_get_u64(buf + 2), INT64_MIN);
    cr_assert_eq(buf[10], 'k');
    cr_assert_eq(kv_encode_incr(buf, sizeof buf, big, KV_KEY_MAX, 1), (int)(10 + KV_KEY_MAX));
    cr_assert_eq(kv_encode_incr(buf, sizeof buf, big, KV_KEY_MAX + 1, 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_setttl(buf, sizeof buf, big, KV_KEY_MAX + 1, 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_incr(buf, sizeof buf, "", 0, 1), -LUM_EINVAL);
    cr_assert_eq(kv_encode_setttl(buf, sizeof buf, "", 0, 1), -LUM_EINVAL);
    cr_assert_eq(kv_encode_incr(buf, 10, "k", 1, 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_setttl(buf, 10, "k", 1, 1), -LUM_ETOOBIG);
}

Test(kv_encode, mset_writes_count_then_pairs)
{
    struct kv_pair p[2] = {{"a", "xyz", 1, 3}, {"bb", "", 2, 0}};
    int n = kv_encode_mset(buf, sizeof buf, p, 2);
    cr_assert_eq(n, 2 + (6 + 4) + (6 + 2));
    cr_assert_eq(lum_get_u16(buf), 2);
    cr_assert_eq(lum_get_u16(buf + 2), 1);
    cr_assert_eq(lum_get_u32(buf + 4), 3);
    cr_assert(memcmp(buf + 8, "axyz", 4) == 0);
    cr_assert_eq(lum_get_u16(buf + 12), 2);
    cr_assert_eq(lum_get_u32(buf + 14), 0);
    cr_assert(memcmp(buf + 18, "bb", 2) == 0);
}

Test(kv_encode, mset_refuses_no_pairs_bad_keys_and_too_much)
{
    struct kv_pair p[2] = {{"a", "v", 1, 1}, {"", "v", 0, 1}};
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 2), -LUM_EINVAL, "the second key is empty");
    p[1] = (struct kv_pair){big, "v", KV_KEY_MAX + 1, 1};
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 2), -LUM_ETOOBIG);
    p[1] = (struct kv_pair){"b", big, 1, SIZE_MAX};
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 2), -LUM_ETOOBIG);
    /* exactly a full body, then one byte more */
    size_t v2 = LUM_COMMAND_BODY_MAX - 2 - (6 + 1 + 1) - (6 + 1);
    p[1] = (struct kv_pair){"b", big, 1, v2};
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 2), (int)LUM_COMMAND_BODY_MAX);
    p[1].vlen++;
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 2), -LUM_ETOOBIG);
    p[1].vlen = 1;
    cr_assert_eq(kv_encode_mset(buf, 2 + 8 + 7, p, 2), -LUM_ETOOBIG, "cap");
    cr_assert_eq(kv_encode_mset(buf, 2 + 8 + 8, p, 2), 18);
    cr_assert_eq(kv_encode_mset(buf, sizeof buf, p, 65536), -LUM_ETOOBIG, "count > u16");
}

Test(kv_encode, mdel_and_mquery_write_count_then_keys)
{
    struct kv_key k[3] = {{"a", 1}, {"bcd", 3}, {"a", 1}};
    int n = kv_encode_mdel(buf, sizeof buf, k, 3);
    cr_assert_eq(n, 2 + 3 + 5 + 3);
    cr_assert_eq(lum_get_u16(buf), 3);
    cr_assert_eq(lum_get_u16(buf + 2), 1);
    cr_assert_eq(buf[4], 'a');
    cr_assert_eq(lum_get_u16(buf + 5), 3);
    cr_assert(memcmp(buf + 7, "bcd", 3) == 0);
    n = kv_encode_mquery(buf, sizeof buf, KV_MGET, k, 3);
    cr_assert_eq(n, 3 + 3 + 5 + 3);
    cr_assert_eq(buf[0], KV_MGET);
    cr_assert_eq(lum_get_u16(buf + 1), 3);
    cr_assert_eq(lum_get_u16(buf + 3), 1);
    cr_assert_eq(buf[5], 'a');
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_EXISTS, k, 1), 6);
    cr_assert_eq(buf[0], KV_EXISTS);
}

Test(kv_encode, mdel_and_mquery_refuse_no_keys_bad_keys_bad_ops_and_too_much)
{
    static struct kv_key many[65536];
    struct kv_key k[2] = {{"a", 1}, {"", 0}};
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, k, 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_MGET, k, 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, k, 2), -LUM_EINVAL);
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_EXISTS, k, 2), -LUM_EINVAL);
    k[1] = (struct kv_key){big, KV_KEY_MAX + 1};
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, k, 2), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_MGET, k, 2), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_GET, k, 1), -LUM_EINVAL);
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_PTTL, k, 1), -LUM_EINVAL);
    cr_assert_eq(kv_encode_mdel(buf, 2 + 2, k, 1), -LUM_ETOOBIG, "cap");
    cr_assert_eq(kv_encode_mdel(buf, 2 + 3, k, 1), 5);
    cr_assert_eq(kv_encode_mquery(buf, 3 + 2, KV_MGET, k, 1), -LUM_ETOOBIG, "cap");
    for (size_t i = 0; i < 65536; i++)
        many[i] = (struct kv_key){"k", 1};
    /* an entry holds far fewer than 65535 keys, so the count's limit never binds first */
    size_t fit = (LUM_COMMAND_BODY_MAX - 2) / 3;
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, many, fit), (int)(2 + 3 * fit));
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, many, fit + 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, many, 65536), -LUM_ETOOBIG, "count > u16");
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_MGET, many, 65536), -LUM_ETOOBIG);
    /* keys that add up past a body */
    size_t nbig = LUM_COMMAND_BODY_MAX / (2 + KV_KEY_MAX) + 1;
    for (size_t i = 0; i < nbig; i++)
        many[i] = (struct kv_key){big, KV_KEY_MAX};
    cr_assert_eq(kv_encode_mdel(buf, sizeof buf, many, nbig), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_mquery(buf, sizeof buf, KV_EXISTS, many, nbig), -LUM_ETOOBIG);
}

Test(kv_encode, pttl_and_dbsize_write_the_op)
{
    cr_assert_eq(kv_encode_pttl(buf, sizeof buf, "key", 3), 6);
    cr_assert_eq(buf[0], KV_PTTL);
    cr_assert_eq(lum_get_u16(buf + 1), 3);
    cr_assert(memcmp(buf + 3, "key", 3) == 0);
    cr_assert_eq(kv_encode_pttl(buf, sizeof buf, big, KV_KEY_MAX + 1), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_pttl(buf, sizeof buf, "", 0), -LUM_EINVAL);
    cr_assert_eq(kv_encode_pttl(buf, 5, "key", 3), -LUM_ETOOBIG);
    cr_assert_eq(kv_encode_dbsize(buf, sizeof buf), 1);
    cr_assert_eq(buf[0], KV_DBSIZE);
    cr_assert_eq(kv_encode_dbsize(buf, 0), -LUM_ETOOBIG);
}
