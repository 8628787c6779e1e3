
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: lockout reservations (attempts in flight) in shared memory.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_ratelimit_algo.h"


#define T0       1700000040000ULL    /* a multiple of 60000 */
#define WITHIN   60000
#define FOR      3600000
#define TIMEOUT  60000


typedef struct {
    ngx_octopus_rl_strike_t    sk;
    ngx_octopus_rl_inflight_t  in;
} account_t;


static int
reserve(account_t *a, uint64_t now, uint64_t failures, uint64_t *epoch,
    uint64_t *ms)
{
    return ngx_octopus_rl_inflight_reserve(&a->sk, &a->in, now, failures,
                                           WITHIN, TIMEOUT, epoch, ms);
}


/* 12 attempts at once with failures=3: 3 reserved, 9 busy */

static void
test_parallel_bound(void **state)
{
    int         i, reserved, busy, rc;
    uint64_t    epoch, ms;
    account_t   a;

    memset(&a, 0, sizeof(a));
    reserved = 0;
    busy = 0;

    for (i = 0; i < 12; i++) {
        rc = reserve(&a, T0 + i, 3, &epoch, &ms);

        if (rc == NGX_OCTOPUS_RL_RESERVED) {
            reserved++;
            assert_int_equal(epoch, (T0 + i) / TIMEOUT);

        } else {
            assert_int_equal(rc, NGX_OCTOPUS_RL_RESERVE_BUSY);
            assert_int_equal(ms, NGX_OCTOPUS_RL_BUSY_RETRY);
            busy++;
        }
    }

    assert_int_equal(reserved, 3);
    assert_int_equal(busy, 9);
    assert_int_equal(ngx_octopus_rl_inflight_count(&a.in, T0 + 20, TIMEOUT),
                     3);
}


/* the 3 answers are failures: the third locks, the next attempt is locked */

static void
test_failures_lock(void **state)
{
    int         i;
    uint64_t    epoch[3], ms, left;
    account_t   a;

    memset(&a, 0, sizeof(a));

    for (i = 0; i < 3; i++) {
        assert_int_equal(reserve(&a, T0 + i, 3, &epoch[i], &ms),
                         NGX_OCTOPUS_RL_RESERVED);
    }

    for (i = 0; i < 3; i++) {
        ngx_octopus_rl_inflight_release(&a.in, T0 + 500 + i, TIMEOUT,
                                        epoch[i]);
        left = ngx_octopus_rl_strike_add(&a.sk, T0 + 500 + i, 3, WITHIN, FOR);
        assert_int_equal(left, i == 2 ? FOR : 0);
    }

    assert_int_equal(ngx_octopus_rl_inflight_count(&a.in, T0 + 600, TIMEOUT),
                     0);

    assert_int_equal(reserve(&a, T0 + 600, 3, &epoch[0], &ms),
                     NGX_OCTOPUS_RL_RESERVE_LOCK);
    assert_int_equal(ms, FOR - 98);

    /* the lock over: a fresh start */

    assert_int_equal(reserve(&a, T0 + 502 + FOR, 3, &epoch[0], &ms),
                     NGX_OCTOPUS_RL_RESERVED);
}


/* successes release: the account is never held */

static void
test_release_frees(void **state)
{
    int         i;
    uint64_t    epoch, ms;
    account_t   a;

    memset(&a, 0, sizeof(a));

    for (i = 0; i < 100; i++) {
        assert_int_equal(reserve(&a, T0 + 10 * i, 3, &epoch, &ms),
                         NGX_OCTOPUS_RL_RESERVED);
        ngx_octopus_rl_inflight_release(&a.in, T0 + 10 * i + 5, TIMEOUT,
                                        epoch);
    }

    assert_int_equal(ngx_octopus_rl_inflight_count(&a.in, T0 + 2000, TIMEOUT),
                     0);
}


/* failures counted plus reservations held never pass "failures" */

static void
test_failures_plus_inflight(void **state)
{
    uint64_t    epoch, e2, ms;
    account_t   a;

    memset(&a, 0, sizeof(a));

    ngx_octopus_rl_strike_add(&a.sk, T0, 3, WITHIN, FOR);
    ngx_octopus_rl_strike_add(&a.sk, T0 + 1, 3, WITHIN, FOR);

    assert_int_equal(reserve(&a, T0 + 2, 3, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_equal(reserve(&a, T0 + 3, 3, &e2, &ms),
                     NGX_OCTOPUS_RL_RESERVE_BUSY);

    /* the failures leave the window: room again */

    assert_int_equal(reserve(&a, T0 + WITHIN, 3, &e2, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_equal(a.sk.count, 0);
}


/*
 * A reservation never released (its worker died) is forgotten between
 * timeout and 2 * timeout after it was made, never before timeout.
 */

static void
test_expiry(void **state)
{
    uint64_t    epoch, ms, t;
    account_t   a;

    memset(&a, 0, sizeof(a));

    t = T0 + TIMEOUT - 1;    /* the last ms of a bucket: shortest life */

    assert_int_equal(reserve(&a, t, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_equal(reserve(&a, t + TIMEOUT - 1, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVE_BUSY);
    assert_int_equal(reserve(&a, t + TIMEOUT + 1, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVED);

    memset(&a, 0, sizeof(a));

    t = T0;                  /* the first ms of a bucket: longest life */

    assert_int_equal(reserve(&a, t, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_equal(ngx_octopus_rl_inflight_until(&a.in, TIMEOUT),
                     t + 2 * TIMEOUT);
    assert_int_equal(reserve(&a, t + 2 * TIMEOUT - 1, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVE_BUSY);
    assert_int_equal(reserve(&a, t + 2 * TIMEOUT, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVED);

    /* long idle: both buckets empty */

    assert_int_equal(ngx_octopus_rl_inflight_count(&a.in, t + 10 * TIMEOUT,
                                                   TIMEOUT), 0);
    assert_int_equal(ngx_octopus_rl_inflight_until(&a.in, TIMEOUT), 0);
}


/* a release after the bucket moved on, or after expiry, is exact or void */

static void
test_release_across_buckets(void **state)
{
    uint64_t    e1, e2, ms;
    account_t   a;

    memset(&a, 0, sizeof(a));

    assert_int_equal(reserve(&a, T0 + TIMEOUT - 10, 2, &e1, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_equal(reserve(&a, T0 + TIMEOUT + 10, 2, &e2, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_not_equal(e1, e2);
    assert_int_equal(a.in.prev, 1);
    assert_int_equal(a.in.cur, 1);

    ngx_octopus_rl_inflight_release(&a.in, T0 + TIMEOUT + 20, TIMEOUT, e1);
    assert_int_equal(a.in.prev, 0);
    assert_int_equal(a.in.cur, 1);

    /* released twice (a bug elsewhere) or expired: never below zero */

    ngx_octopus_rl_inflight_release(&a.in, T0 + TIMEOUT + 30, TIMEOUT, e1);
    assert_int_equal(a.in.prev, 0);
    assert_int_equal(a.in.cur, 1);

    /* e2 expired with its bucket: its release is void */

    ngx_octopus_rl_inflight_release(&a.in, T0 + 4 * TIMEOUT, TIMEOUT, e2);
    assert_int_equal(ngx_octopus_rl_inflight_count(&a.in, T0 + 4 * TIMEOUT,
                                                   TIMEOUT), 0);
}


/* the wall clock stepping back keeps what is held */

static void
test_clock_back(void **state)
{
    uint64_t    epoch, ms;
    account_t   a;

    memset(&a, 0, sizeof(a));

    assert_int_equal(reserve(&a, T0 + 5 * TIMEOUT, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVED);
    assert_int_equal(reserve(&a, T0 + TIMEOUT, 1, &epoch, &ms),
                     NGX_OCTOPUS_RL_RESERVE_BUSY);
    assert_int_equal(ngx_octopus_rl_inflight_count(&a.in, T0, TIMEOUT), 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parallel_bound),
        cmocka_unit_test(test_failures_lock),
        cmocka_unit_test(test_release_frees),
        cmocka_unit_test(test_failures_plus_inflight),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_release_across_buckets),
        cmocka_unit_test(test_clock_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
