
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: the shared memory ring of queued audit records (append,
 * wrap-around, consume, room, copy of whole records, a damaged header;
 * the queue file's header, ring checks, owner claims, torn records).
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


static void
test_file_header(void **state)
{
    uint64_t                        size;
    ngx_octopus_audit_rings_file_t  h;

    size = NGX_OCTOPUS_AUDIT_RINGS_HEADER + 4 * 16384;

    ngx_octopus_audit_rings_file_init(&h, 4, 16384, 7);
    assert_null(ngx_octopus_audit_rings_file_check(&h, size));

    /* a file cut short, a header overwritten */
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, size - 1),
                        "shorter than its rings");
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, 100),
                        "shorter than its header");

    h.generation = 8;
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, size),
                        "bad header checksum");

    ngx_octopus_audit_rings_file_init(&h, 4, 16384, 7);
    h.magic = 0;
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, size),
                        "bad magic");

    ngx_octopus_audit_rings_file_init(&h, 4, 16384, 7);
    h.version = 2;
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, size),
                        "unknown version");

    ngx_octopus_audit_rings_file_init(&h, 0, 16384, 7);
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, size),
                        "bad geometry");

    ngx_octopus_audit_rings_file_init(&h, 4, 16385, 7);
    assert_string_equal(ngx_octopus_audit_rings_file_check(&h, size * 2),
                        "bad geometry");
}


static void
test_valid_claim(void **state)
{
    ngx_octopus_audit_ring_t  *r;

    r = ring(16);

    assert_true(ngx_octopus_audit_ring_valid(r, 16));
    assert_false(ngx_octopus_audit_ring_valid(r, 32));

    r->head = 20;
    r->tail = 2;
    assert_false(ngx_octopus_audit_ring_valid(r, 16));

    r->head = 1;
    assert_false(ngx_octopus_audit_ring_valid(r, 16));

    /* one claim of a dead owner wins, the second sees the new owner */
    r->owner = (1ULL << 32) | 100;
    assert_true(ngx_octopus_audit_ring_claim(r, (1ULL << 32) | 100,
                                             (2ULL << 32) | 200));
    assert_false(ngx_octopus_audit_ring_claim(r, (1ULL << 32) | 100,
                                              (2ULL << 32) | 300));
    assert_int_equal(r->owner, (2ULL << 32) | 200);

    free(r);
}


static void
test_torn(void **state)
{
    static const unsigned char  ok[] = "a\tb\nc\td\n";
    static const unsigned char  torn[] = "a\tb\nc\0\0\0d\ne\n";
    static const unsigned char  zero[] = "\0\0\0a\n";
    static const unsigned char  lap[] = "a\tb\nc\td\ne\nf\tg\n";

    assert_int_equal(ngx_octopus_audit_ring_good(ok, sizeof(ok) - 1, 2), 8);
    assert_int_equal(ngx_octopus_audit_ring_good(torn, sizeof(torn) - 1, 2),
                     4);
    assert_int_equal(ngx_octopus_audit_ring_good(zero, sizeof(zero) - 1, 0),
                     0);
    assert_int_equal(ngx_octopus_audit_ring_good(ok, 6, 2), 4);

    /* a line with another number of fields: the end of the good ones */
    assert_int_equal(ngx_octopus_audit_ring_good(lap, sizeof(lap) - 1, 2),
                     8);
    assert_int_equal(ngx_octopus_audit_ring_good(lap, sizeof(lap) - 1, 3),
                     0);
    assert_int_equal(ngx_octopus_audit_ring_good(lap, sizeof(lap) - 1, 0),
                     sizeof(lap) - 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_put_consume),
        cmocka_unit_test(test_whole_records),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_file_header),
        cmocka_unit_test(test_valid_claim),
        cmocka_unit_test(test_torn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
