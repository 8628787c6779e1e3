
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: sliding window, GCRA, strikes (bans, lockout).  The login
 * body fields are in test_ratelimit_login.c.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_ratelimit_algo.h"


#define T0  1700000040000ULL    /* a multiple of 60000 */


static void
test_sw_exact_first_window(void **state)
{
    int                      i, passed;
    ngx_octopus_rl_state_t   st;
    ngx_octopus_rl_result_t  res;

    memset(&st, 0, sizeof(st));
    passed = 0;

    for (i = 0; i < 12; i++) {
        ngx_octopus_rl_sliding_window(&st, T0 + 5000 + i, 10, 60000, &res);

        if (res.allowed) {
            passed++;
            assert_int_equal(res.remaining, 10 - passed);

        } else {
            assert_int_equal(res.remaining, 0);
            /* current window full: the next window must decay it */
            assert_true(res.retry_ms > 55000 - (uint64_t) i);
        }

        assert_int_equal(res.reset_ms, 55000 - i);
    }

    assert_int_equal(passed, 10);
    assert_int_equal(st.cur, 10);
}


static void
test_sw_weighted_previous(void **state)
{
    ngx_octopus_rl_state_t   st;
    ngx_octopus_rl_result_t  res;

    /* 10 in the previous window, now a quarter into the next: weight 0.75 */
    memset(&st, 0, sizeof(st));
    st.win = T0 - 60000;
    st.cur = 10;

    ngx_octopus_rl_sliding_window(&st, T0 + 15000, 10, 60000, &res);
    assert_true(res.allowed);               /* 7.5 + 1 <= 10 */
    assert_int_equal(st.prev, 10);
    assert_int_equal(st.cur, 1);
    assert_int_equal(res.remaining, 1);     /* 10 - 8.5 */

    ngx_octopus_rl_sliding_window(&st, T0 + 15000, 10, 60000, &res);
    assert_true(res.allowed);               /* 8.5 + 1 <= 10 */
    assert_int_equal(res.remaining, 0);

    ngx_octopus_rl_sliding_window(&st, T0 + 15000, 10, 60000, &res);
    assert_false(res.allowed);              /* 9.5 + 1 > 10 */

    /* prev * (60000 - e) <= (10 - 2 - 1) * 60000: e >= 18000 */
    assert_int_equal(res.retry_ms, 3000);

    ngx_octopus_rl_sliding_window(&st, T0 + 17999, 10, 60000, &res);
    assert_false(res.allowed);
    ngx_octopus_rl_sliding_window(&st, T0 + 18000, 10, 60000, &res);
    assert_true(res.allowed);
}


static void
test_sw_old_windows_forgotten(void **state)
{
    ngx_octopus_rl_state_t   st;
    ngx_octopus_rl_result_t  res;

    memset(&st, 0, sizeof(st));
    st.win = T0 - 120000;
    st.cur = 10;
    st.prev = 10;

    ngx_octopus_rl_sliding_window(&st, T0, 10, 60000, &res);
    assert_true(res.allowed);
    assert_int_equal(st.prev, 0);
    assert_int_equal(res.remaining, 9);
}


static void
test_sw_rate_one(void **state)
{
    ngx_octopus_rl_state_t   st;
    ngx_octopus_rl_result_t  res;

    memset(&st, 0, sizeof(st));

    ngx_octopus_rl_sliding_window(&st, T0 + 100, 1, 1000, &res);
    assert_true(res.allowed);
    ngx_octopus_rl_sliding_window(&st, T0 + 200, 1, 1000, &res);
    assert_false(res.allowed);
    assert_int_equal(res.retry_ms, 800 + 1000);
}


static void
test_gcra_burst(void **state)
{
    int                      i;
    uint64_t                 now;
    ngx_octopus_rl_state_t   st;
    ngx_octopus_rl_result_t  res;

    /* 2r/s burst=3: four back to back, then one every 500 ms */
    memset(&st, 0, sizeof(st));
    now = T0 * 1000;

    for (i = 0; i < 4; i++) {
        ngx_octopus_rl_gcra(&st, now, 2, 1000, 3, &res);
        assert_true(res.allowed);
        assert_int_equal(res.remaining, 3 - i);
    }

    ngx_octopus_rl_gcra(&st, now, 2, 1000, 3, &res);
    assert_false(res.allowed);
    assert_int_equal(res.retry_ms, 500);
    assert_int_equal(res.reset_ms, 2000);

    ngx_octopus_rl_gcra(&st, now + 499999, 2, 1000, 3, &res);
    assert_false(res.allowed);
    ngx_octopus_rl_gcra(&st, now + 500000, 2, 1000, 3, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 0);

    /* idle long enough: the whole burst is back */
    ngx_octopus_rl_gcra(&st, now + 10000000, 2, 1000, 3, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 3);
}


static void
test_gcra_no_burst(void **state)
{
    ngx_octopus_rl_state_t   st;
    ngx_octopus_rl_result_t  res;

    memset(&st, 0, sizeof(st));

    ngx_octopus_rl_gcra(&st, 1000000, 60, 60000, 0, &res);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 0);
    ngx_octopus_rl_gcra(&st, 1000001, 60, 60000, 0, &res);
    assert_false(res.allowed);
    assert_int_equal(res.retry_ms, 1000);

    assert_int_equal(ngx_octopus_rl_gcra_interval(3, 1000), 333333);
    assert_int_equal(ngx_octopus_rl_gcra_interval(5000000, 1000), 1);
}


static void
test_strikes(void **state)
{
    ngx_octopus_rl_strike_t  sk;

    memset(&sk, 0, sizeof(sk));

    assert_int_equal(ngx_octopus_rl_strike_add(&sk, 1000, 3, 500, 9000), 0);
    assert_int_equal(ngx_octopus_rl_strike_add(&sk, 1200, 3, 500, 9000), 0);

    /* the window started at 1000 is over: counting starts again */
    assert_int_equal(ngx_octopus_rl_strike_add(&sk, 1500, 3, 500, 9000), 0);
    assert_int_equal(sk.count, 1);
    assert_int_equal(ngx_octopus_rl_strike_add(&sk, 1600, 3, 500, 9000), 0);
    assert_int_equal(ngx_octopus_rl_strike_check(&sk, 1600), 0);
    assert_int_equal(ngx_octopus_rl_strike_add(&sk, 1700, 3, 500, 9000),
                     9000);

    assert_int_equal(ngx_octopus_rl_strike_check(&sk, 1700), 9000);
    assert_int_equal(ngx_octopus_rl_strike_check(&sk, 10699), 1);
    assert_int_equal(ngx_octopus_rl_strike_check(&sk, 10700), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sw_exact_first_window),
        cmocka_unit_test(test_sw_weighted_previous),
        cmocka_unit_test(test_sw_old_windows_forgotten),
        cmocka_unit_test(test_sw_rate_one),
        cmocka_unit_test(test_gcra_burst),
        cmocka_unit_test(test_gcra_no_burst),
        cmocka_unit_test(test_strikes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
