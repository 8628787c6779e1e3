
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: the framing of spooled records (whole records of a chunk,
 * a torn last record, a chunk without any end, empty records).
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_audit_frame.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static void
test_whole(void **state)
{
    size_t  n;

    assert_int_equal(ngx_octopus_audit_frame_whole(S("a\tb\n"), &n), 4);
    assert_int_equal(n, 1);

    assert_int_equal(ngx_octopus_audit_frame_whole(S("a\nbb\nccc\n"), &n),
                     9);
    assert_int_equal(n, 3);
}


static void
test_torn(void **state)
{
    size_t  n;

    /* the last record lost its end: the chunk stops before it */

    assert_int_equal(ngx_octopus_audit_frame_whole(S("a\nbb\ncc"), &n), 5);
    assert_int_equal(n, 2);

    assert_int_equal(ngx_octopus_audit_frame_whole(S("abc"), &n), 0);
    assert_int_equal(n, 0);

    assert_int_equal(ngx_octopus_audit_frame_whole(S(""), &n), 0);
    assert_int_equal(n, 0);
}


static void
test_opaque(void **state)
{
    size_t  n;

    /* bytes are opaque: NUL, tabs, JSON, UTF-8 are all record bytes */

    assert_int_equal(ngx_octopus_audit_frame_whole(
                         S("\0\t{\"k\":\"\xc3\xa9\"}\n\n"), &n), 14);
    assert_int_equal(n, 2);
}


static void
test_big(void **state)
{
    size_t          n, i;
    unsigned char  *p;

    p = test_malloc(1 << 20);

    for (i = 0; i < (1 << 20); i++) {
        p[i] = (i % 100 == 99) ? '\n' : 'x';
    }

    /* the last 76 bytes (1048576 % 100) are a torn record */

    assert_int_equal(ngx_octopus_audit_frame_whole(p, 1 << 20, &n),
                     (1 << 20) - (1 << 20) % 100);
    assert_int_equal(n, (1 << 20) / 100);

    test_free(p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_torn),
        cmocka_unit_test(test_opaque),
        cmocka_unit_test(test_big),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
