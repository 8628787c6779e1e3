
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of Redis Cluster's key slots and of the MOVED / ASK parse.
 * The expected slots are Redis 7.0's own answers to CLUSTER KEYSLOT (and
 * the specification's CRC16 check value, "123456789" -> 0x31c3).
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_redis_slot.h"


static unsigned
slot(const char *key)
{
    return ngx_octopus_redis_slot((const unsigned char *) key, strlen(key));
}


static void
test_crc16(void **state)
{
    (void) state;

    assert_int_equal(ngx_octopus_redis_crc16((const unsigned char *)
                                             "123456789", 9), 0x31c3);
    assert_int_equal(ngx_octopus_redis_crc16((const unsigned char *) "", 0),
                     0);
}


static void
test_plain_keys(void **state)
{
    (void) state;

    assert_int_equal(slot("123456789"), 12739);
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot(""), 0);
    assert_int_equal(ngx_octopus_redis_slot((const unsigned char *)
                                            "x\xffy", 3), 7656);
}


static void
test_hash_tags(void **state)
{
    (void) state;

    assert_int_equal(slot("{user1000}.following"), 3443);
    assert_int_equal(slot("{user1000}.followers"), 3443);
    assert_int_equal(slot("foo{bar}{zap}"), 5061);   /* the first tag */
    assert_int_equal(slot("a{b}c"), 3300);
    assert_int_equal(slot("a{b}c"), slot("b"));

    /* an empty tag or an open one: the whole key */
    assert_int_equal(slot("foo{}{bar}"), 8363);
    assert_int_equal(slot("{}"), 15257);
    assert_int_equal(slot("{bar"), 4015);
    assert_int_equal(slot("bar}"), 6624);

    /* the tag ends at the first "}" after the first "{" */
    assert_int_equal(slot("foo{{bar}}zap"), 4015);
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
}


static void
test_our_keys(void **state)
{
    (void) state;

    /* prefix{zone:key}:suffix: every key of one limit in one slot */

    assert_int_equal(slot("octo:{sw:shared}:w"), 2614);
    assert_int_equal(slot("octo:{sw:shared}:b"), 2614);
    assert_int_equal(slot("octo:{sw:shared}:n"), 2614);
    assert_int_equal(slot("other:{sw:shared}:g"), 2614);
    assert_int_equal(slot("octo:{probe:p1}:b"), 6674);
}


static unsigned
cmd_slot(int argc, const char **argv)
{
    int     i;
    size_t  len[16];

    for (i = 0; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }

    return ngx_octopus_redis_command_slot(argc, argv, len);
}


static void
test_command_slot(void **state)
{
    const char  *evalsha[] = { "EVALSHA", "0123abcd", "3",
                               "octo:{sw:shared}:w", "octo:{probe:p1}:b",
                               "x", "10" };
    const char  *eval[] = { "eval", "return 1", "2", "foo", "bar" };
    const char  *eval0[] = { "EVAL", "return 1", "0", "foo" };
    const char  *evalbad[] = { "EVAL", "return 1", "1x", "foo" };
    const char  *evalnone[] = { "EVAL", "return 1", "1" };
    const char  *hmget[] = { "HMGET", "octo:{sw:shared}:w", "w", "c" };
    const char  *zrem[] = { "ZREM", "octo:{probe:p1}:r", "id" };
    const char  *evalish[] = { "EVALX", "123456789", "1", "foo" };
    const char  *ping[] = { "PING" };
    const char  *slots[] = { "CLUSTER", "SLOTS" };

    (void) state;

    /* EVAL and EVALSHA: KEYS[1], whatever the case */
    assert_int_equal(cmd_slot(7, evalsha), 2614);
    assert_int_equal(cmd_slot(5, eval), 12182);

    /* no keys, or a bad count: slot 0 (any primary) */
    assert_int_equal(cmd_slot(4, eval0), 0);
    assert_int_equal(cmd_slot(4, evalbad), 0);
    assert_int_equal(cmd_slot(3, evalnone), 0);
    assert_int_equal(cmd_slot(1, ping), 0);

    /* any other command: its first argument */
    assert_int_equal(cmd_slot(4, hmget), 2614);
    assert_int_equal(cmd_slot(3, zrem), 6674);
    assert_int_equal(cmd_slot(4, evalish), 12739);
    assert_int_equal(cmd_slot(2, slots), slot("SLOTS"));
}


static void
test_redirect(void **state)
{
    ngx_octopus_redis_redirect_t  r;

    (void) state;

#define REDIRECT(s)  ngx_octopus_redis_redirect(s, strlen(s), &r)

    assert_int_equal(REDIRECT("MOVED 3999 127.0.0.1:6381"),
                     NGX_OCTOPUS_REDIS_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_int_equal(r.host_len, 9);
    assert_memory_equal(r.host, "127.0.0.1", 9);
    assert_int_equal(r.port, 6381);

    assert_int_equal(REDIRECT("ASK 16383 10.1.2.3:7000"),
                     NGX_OCTOPUS_REDIS_ASK);
    assert_int_equal(r.slot, 16383);
    assert_int_equal(r.host_len, 8);
    assert_memory_equal(r.host, "10.1.2.3", 8);
    assert_int_equal(r.port, 7000);

    assert_int_equal(REDIRECT("MOVED 0 ::1:7001"), NGX_OCTOPUS_REDIS_MOVED);
    assert_int_equal(r.slot, 0);
    assert_int_equal(r.host_len, 3);
    assert_memory_equal(r.host, "::1", 3);
    assert_int_equal(r.port, 7001);

    assert_int_equal(REDIRECT("ASK 7 [fe80::1]:7002"), NGX_OCTOPUS_REDIS_ASK);
    assert_int_equal(r.host_len, 7);
    assert_memory_equal(r.host, "fe80::1", 7);
    assert_int_equal(r.port, 7002);

    /* a host name is parsed here, refused by the caller */
    assert_int_equal(REDIRECT("MOVED 12 redis-1.example:6379"),
                     NGX_OCTOPUS_REDIS_MOVED);
    assert_int_equal(r.host_len, 15);

    /* not redirections, or malformed ones */
    assert_int_equal(REDIRECT("NOSCRIPT No matching script"), 0);
    assert_int_equal(REDIRECT("TRYAGAIN Multiple keys request"), 0);
    assert_int_equal(REDIRECT("MOVED"), 0);
    assert_int_equal(REDIRECT("MOVED 16384 127.0.0.1:6381"), 0);
    assert_int_equal(REDIRECT("MOVED 123456 127.0.0.1:6381"), 0);
    assert_int_equal(REDIRECT("MOVED x 127.0.0.1:6381"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1:"), 0);
    assert_int_equal(REDIRECT("MOVED 1 :6379"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1:0"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1:65536"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1:123456"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1:63x9"), 0);
    assert_int_equal(REDIRECT("MOVED 1 127.0.0.1:6379 extra"), 0);
    assert_int_equal(REDIRECT("MOVED 1  127.0.0.1:6379"), 0);
    assert_int_equal(REDIRECT("ASK 1"), 0);
    assert_int_equal(REDIRECT("ASKING"), 0);

#undef REDIRECT
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_plain_keys),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_our_keys),
        cmocka_unit_test(test_command_slot),
        cmocka_unit_test(test_redirect),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
