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
