
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: the shared memory ring of queued audit records (append,
 * wrap-around, consume, room, copy of whole records, a damaged header).
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_audit_ring.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static ngx_octopus_audit_ring_t *
ring(size_t size)
{
    ngx_octopus_audit_ring_t  *r;

    r = calloc(1, ngx_octopus_audit_ring_bytes(size));
    assert_non_null(r);
    ngx_octopus_audit_ring_init(r, size);

    return r;
}


static void
test_put_consume(void **state)
{
    size_t                     n;
    unsigned char              out[32];
    ngx_octopus_audit_ring_t  *r;

    r = ring(16);

    assert_int_equal(ngx_octopus_audit_ring_room(r), 16);
    assert_int_equal(ngx_octopus_audit_ring_put(r, S("abc\n")), 0);
    assert_int_equal(ngx_octopus_audit_ring_put(r, S("defgh\n")), 0);
    assert_int_equal(ngx_octopus_audit_ring_used(r), 10);
    assert_int_equal(ngx_octopus_audit_ring_room(r), 6);

    /* no room: nothing written */
    assert_int_equal(ngx_octopus_audit_ring_put(r, S("0123456\n")), -1);
    assert_int_equal(ngx_octopus_audit_ring_used(r), 10);

    n = ngx_octopus_audit_ring_copy(r, out);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "abc\ndefgh\n", 10);

    /* the first batch committed */
    ngx_octopus_audit_ring_consume(r, 4);
    n = ngx_octopus_audit_ring_copy(r, out);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "defgh\n", 6);

    /* wraps around the end */
    assert_int_equal(ngx_octopus_audit_ring_put(r, S("ijklmnop\n")), 0);
    n = ngx_octopus_audit_ring_copy(r, out);
    assert_int_equal(n, 15);
    assert_memory_equal(out, "defgh\nijklmnop\n", 15);

    /* consuming more than is there stops at head */
    ngx_octopus_audit_ring_consume(r, 100);
    assert_int_equal(ngx_octopus_audit_ring_used(r), 0);
    assert_int_equal(ngx_octopus_audit_ring_room(r), 16);

    assert_int_equal(ngx_octopus_audit_ring_put(r, S("q\n")), 0);
    ngx_octopus_audit_ring_clear(r);
    assert_int_equal(ngx_octopus_audit_ring_copy(r, out), 0);

    free(r);
}


static void
test_whole_records(void **state)
{
    unsigned char              out[32];
    ngx_octopus_audit_ring_t  *r;

    r = ring(16);

    /* a record without its end (cannot be written by put) is left out */
    assert_int_equal(ngx_octopus_audit_ring_put(r, S("ab\ncd")), 0);
    assert_int_equal(ngx_octopus_audit_ring_copy(r, out), 3);

    free(r);
}


static void
test_damaged(void **state)
{
    unsigned char              out[32];
    ngx_octopus_audit_ring_t  *r;

    r = ring(16);

    /* head behind tail, or further than size ahead: empty, no overread */
    r->head = 5;
    r->tail = 9;
    assert_int_equal(ngx_octopus_audit_ring_used(r), 0);
    assert_int_equal(ngx_octopus_audit_ring_copy(r, out), 0);

    r->head = 100;
    r->tail = 9;
    assert_int_equal(ngx_octopus_audit_ring_used(r), 0);

    free(r);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_put_consume),
        cmocka_unit_test(test_whole_records),
        cmocka_unit_test(test_damaged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
