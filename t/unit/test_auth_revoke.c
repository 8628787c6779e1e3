
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the revocation entries: sorted-set members and scores,
 * published messages, the expiry and the decision (a jti, a key, a
 * subject's tokens issued at or before a time, a token without iat).
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_auth_revoke_entry.h"


#define NOW  1800000000


static int
member(int type, const char *m, const char *score,
    ngx_octopus_revoke_entry_t *e)
{
    return ngx_octopus_revoke_member(type, m, strlen(m), score, strlen(score),
                                     NOW, e);
}


static int
message(const char *m, ngx_octopus_revoke_entry_t *e)
{
    return ngx_octopus_revoke_message(m, strlen(m), NOW, e);
}


static void
test_types(void **state)
{
    assert_int_equal(ngx_octopus_revoke_type("jti", 3), NGX_OCTOPUS_REVOKE_JTI);
    assert_int_equal(ngx_octopus_revoke_type("sub", 3), NGX_OCTOPUS_REVOKE_SUB);
    assert_int_equal(ngx_octopus_revoke_type("key", 3), NGX_OCTOPUS_REVOKE_KEY);
    assert_int_equal(ngx_octopus_revoke_type("jt", 2), -1);
    assert_int_equal(ngx_octopus_revoke_type("JTI", 3), -1);
    assert_string_equal(ngx_octopus_revoke_type_name(NGX_OCTOPUS_REVOKE_SUB),
                        "sub");
    assert_string_equal(ngx_octopus_revoke_type_name(7), "?");
}


static void
test_scores(void **state)
{
    time_t  t;

    assert_int_equal(ngx_octopus_revoke_score("1800000600", 10, &t), 0);
    assert_int_equal(t, 1800000600);
    assert_int_equal(ngx_octopus_revoke_score("1800000600.5", 12, &t), 0);
    assert_int_equal(t, 1800000600);
    assert_int_equal(ngx_octopus_revoke_score("inf", 3, &t), 0);
    assert_int_equal(t, NGX_OCTOPUS_REVOKE_NEVER);
    assert_int_equal(ngx_octopus_revoke_score("+inf", 4, &t), 0);
    assert_int_equal(t, NGX_OCTOPUS_REVOKE_NEVER);

    /* beyond 2038 is "never" */
    assert_int_equal(ngx_octopus_revoke_score("9999999999", 10, &t), 0);
    assert_int_equal(t, NGX_OCTOPUS_REVOKE_NEVER);

    assert_int_equal(ngx_octopus_revoke_score("", 0, &t), -1);
    assert_int_equal(ngx_octopus_revoke_score("-5", 2, &t), -1);
    assert_int_equal(ngx_octopus_revoke_score("1e9", 3, &t), -1);
    assert_int_equal(ngx_octopus_revoke_score("12.", 3, &t), -1);
    assert_int_equal(ngx_octopus_revoke_score("12.x", 4, &t), -1);
    assert_int_equal(ngx_octopus_revoke_score("-inf", 4, &t), -1);
    assert_int_equal(ngx_octopus_revoke_score("12345678901", 11, &t), -1);
}


static void
test_members(void **state)
{
    char                        big[NGX_OCTOPUS_REVOKE_VALUE_MAX + 2];
    ngx_octopus_revoke_entry_t  e;

    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "abc-1", "1800000600",
                            &e), 0);
    assert_int_equal(e.type, NGX_OCTOPUS_REVOKE_JTI);
    assert_int_equal(e.len, 5);
    assert_memory_equal(e.value, "abc-1", 5);
    assert_int_equal(e.expires, 1800000600);

    assert_int_equal(member(NGX_OCTOPUS_REVOKE_SUB, "1799999000 alice smith",
                            "1800003600", &e), 0);
    assert_int_equal(e.before, 1799999000);
    assert_int_equal(e.len, 11);
    assert_memory_equal(e.value, "alice smith", 11);

    assert_int_equal(member(NGX_OCTOPUS_REVOKE_KEY, "svc-1", "inf", &e), 0);
    assert_int_equal(e.expires, NGX_OCTOPUS_REVOKE_NEVER);

    /* expired: reported, not an error */
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "old", "1800000000", &e),
                     1);
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "old", "17", &e), 1);

    /* malformed */
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "", "1800000600", &e),
                     -1);
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "a\nb", "1800000600",
                            &e), -1);
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "a", "soon", &e), -1);
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_SUB, "alice", "1800000600",
                            &e), -1);
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_SUB, "x1 alice", "1800000600",
                            &e), -1);
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_SUB, "1799999000 ",
                            "1800000600", &e), -1);
    assert_int_equal(member(3, "a", "1800000600", &e), -1);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_KEY, big, "inf", &e), -1);
    big[NGX_OCTOPUS_REVOKE_VALUE_MAX] = '\0';
    assert_int_equal(member(NGX_OCTOPUS_REVOKE_KEY, big, "inf", &e), 0);
}


static void
test_messages(void **state)
{
    ngx_octopus_revoke_entry_t  e;

    assert_int_equal(message("add jti 1800000600 t-1", &e),
                     NGX_OCTOPUS_REVOKE_MSG_ADD);
    assert_int_equal(e.type, NGX_OCTOPUS_REVOKE_JTI);
    assert_memory_equal(e.value, "t-1", 3);

    assert_int_equal(message("add sub 1800003600 1800000000 bob", &e),
                     NGX_OCTOPUS_REVOKE_MSG_ADD);
    assert_int_equal(e.before, 1800000000);
    assert_int_equal(e.len, 3);

    assert_int_equal(message("add key inf k 1", &e),
                     NGX_OCTOPUS_REVOKE_MSG_ADD);
    assert_int_equal(e.len, 3);

    assert_int_equal(message("del jti t-1", &e),
                     NGX_OCTOPUS_REVOKE_MSG_RESYNC);
    assert_int_equal(message("add jti 1 t-1", &e),
                     NGX_OCTOPUS_REVOKE_MSG_RESYNC);

    assert_int_equal(message("add", &e), NGX_OCTOPUS_REVOKE_MSG_BAD);
    assert_int_equal(message("add foo 1800000600 x", &e),
                     NGX_OCTOPUS_REVOKE_MSG_BAD);
    assert_int_equal(message("add jti 1800000600", &e),
                     NGX_OCTOPUS_REVOKE_MSG_BAD);
    assert_int_equal(message("add jti", &e), NGX_OCTOPUS_REVOKE_MSG_BAD);
    assert_int_equal(message("put jti 1800000600 x", &e),
                     NGX_OCTOPUS_REVOKE_MSG_BAD);
    assert_int_equal(message("add jti never x", &e),
                     NGX_OCTOPUS_REVOKE_MSG_BAD);
}


static void
test_applies(void **state)
{
    ngx_octopus_revoke_entry_t  e;

    assert_int_equal(member(NGX_OCTOPUS_REVOKE_JTI, "t", "1800000600", &e),
                     0);
    assert_int_equal(ngx_octopus_revoke_applies(&e, 0, 0, NOW), 1);
    assert_int_equal(ngx_octopus_revoke_applies(&e, 0, 0, 1800000599), 1);

    /* expiry: the entry goes when the token would have */
    assert_int_equal(ngx_octopus_revoke_applies(&e, 0, 0, 1800000600), 0);

    assert_int_equal(member(NGX_OCTOPUS_REVOKE_SUB, "1800000000 bob",
                            "1800003600", &e), 0);

    /* issued before or in the second of the revocation: refused */
    assert_int_equal(ngx_octopus_revoke_applies(&e, 1, 1799990000, NOW), 1);
    assert_int_equal(ngx_octopus_revoke_applies(&e, 1, 1800000000, NOW), 1);

    /* issued after: accepted */
    assert_int_equal(ngx_octopus_revoke_applies(&e, 1, 1800000001, NOW), 0);

    /* no iat: cannot show it is newer */
    assert_int_equal(ngx_octopus_revoke_applies(&e, 0, 0, NOW), 1);

    assert_int_equal(ngx_octopus_revoke_applies(&e, 0, 0, 1800003600), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_applies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
