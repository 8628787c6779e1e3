
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: the synchronised sliding window (sync=), one node's steps
 * and a simulation of several nodes sharing a model of Redis, with merges
 * executed and answered late, that checks the overshoot bound stated in
 * the README: at most rate + (nodes - 1) x quota passes per window.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_ratelimit_sync_algo.h"


#define T0  1700000040000ULL    /* a multiple of 60000 */


static void
test_sync_quota(void **state)
{
    assert_int_equal(ngx_octopus_rl_sync_quota(100, 1000, 100), 10);
    assert_int_equal(ngx_octopus_rl_sync_quota(1, 1000, 100), 1);
    assert_int_equal(ngx_octopus_rl_sync_quota(101, 1000, 100), 11);
    assert_int_equal(ngx_octopus_rl_sync_quota(60, 60000, 10), 1);
    assert_int_equal(ngx_octopus_rl_sync_quota(1000000, 3600000, 10000),
                     2778);
}


/* one node alone, quota off (Redis failing): the plain sliding window */

static void
test_sync_alone(void **state)
{
    int                      i, passed;
    ngx_octopus_rl_sync_t    st;
    ngx_octopus_rl_result_t  res;

    memset(&st, 0, sizeof(st));
    passed = 0;

    for (i = 0; i < 15; i++) {
        if (ngx_octopus_rl_sync_decide(&st, T0 + 100 + i, 10, 1000, 0, &res)
            == NGX_OCTOPUS_RL_SYNC_PASS)
        {
            passed++;
            assert_true(res.allowed);
            assert_int_equal(res.remaining, 10 - passed);

        } else {
            assert_false(res.allowed);
            assert_true(res.retry_ms > 0);
        }
    }

    assert_int_equal(passed, 10);
    assert_int_equal(st.d[0], 10);
    assert_int_equal(st.win, T0);

    /* the next window weighs the previous one */

    ngx_octopus_rl_sync_decide(&st, T0 + 1500, 10, 1000, 0, &res);
    assert_int_equal(st.d[1], 10);
    assert_int_equal(st.win, T0 + 1000);
    /* used 10 x 0.5 + 1 */
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 4);
}


/* the quota of unanswered passes holds the node until Redis answers */

static void
test_sync_held(void **state)
{
    int                          i, rc;
    ngx_octopus_rl_sync_t        st;
    ngx_octopus_rl_result_t      res;
    ngx_octopus_rl_sync_merge_t  m;

    memset(&st, 0, sizeof(st));

    for (i = 0; i < 3; i++) {
        rc = ngx_octopus_rl_sync_decide(&st, T0 + 10, 100, 1000, 3, &res);
        assert_int_equal(rc, NGX_OCTOPUS_RL_SYNC_PASS);
    }

    rc = ngx_octopus_rl_sync_decide(&st, T0 + 10, 100, 1000, 3, &res);
    assert_int_equal(rc, NGX_OCTOPUS_RL_SYNC_HELD);
    assert_false(res.allowed);
    assert_int_equal(st.d[0], 3);

    /* sent: still unanswered, still held */

    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 11, 1000, 5000, &m),
                     1);
    assert_int_equal(m.d[0], 3);
    assert_int_equal(m.d[1], 0);
    assert_int_equal(m.win, T0);
    assert_int_equal(st.s[0], 3);
    assert_int_equal(st.d[0], 0);
    assert_int_equal(st.taken_at, T0 + 11);

    rc = ngx_octopus_rl_sync_decide(&st, T0 + 12, 100, 1000, 3, &res);
    assert_int_equal(rc, NGX_OCTOPUS_RL_SYNC_HELD);

    /* a second merge waits for the first */
    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 12, 1000, 5000, &m),
                     0);

    /* answered: 3 of ours + 40 of other nodes */

    ngx_octopus_rl_sync_ack(&st, &m, 1000, 43, 0);
    assert_int_equal(st.g[0], 43);
    assert_int_equal(st.s[0], 0);
    assert_int_equal(st.sent_at, 0);

    rc = ngx_octopus_rl_sync_decide(&st, T0 + 13, 100, 1000, 3, &res);
    assert_int_equal(rc, NGX_OCTOPUS_RL_SYNC_PASS);
    assert_int_equal(res.remaining, 100 - 44);
}


/* the global count limits this node */

static void
test_sync_global(void **state)
{
    int                          rc;
    ngx_octopus_rl_sync_t        st;
    ngx_octopus_rl_result_t      res;
    ngx_octopus_rl_sync_merge_t  m;

    memset(&st, 0, sizeof(st));

    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 1, 1000, 5000, &m),
                     1);
    assert_int_equal(m.d[0], 0);

    ngx_octopus_rl_sync_ack(&st, &m, 1000, 99, 0);

    rc = ngx_octopus_rl_sync_decide(&st, T0 + 2, 100, 1000, 10, &res);
    assert_int_equal(rc, NGX_OCTOPUS_RL_SYNC_PASS);
    assert_int_equal(res.remaining, 0);

    rc = ngx_octopus_rl_sync_decide(&st, T0 + 3, 100, 1000, 10, &res);
    assert_int_equal(rc, NGX_OCTOPUS_RL_SYNC_LIMITED);
    assert_true(res.retry_ms > 0);

    /* a late, smaller answer never lowers the count */

    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 4, 1000, 5000, &m),
                     1);
    ngx_octopus_rl_sync_ack(&st, &m, 1000, 50, 0);
    assert_int_equal(st.g[0], 99);
}


/* a failed merge: its deltas go with the next one */

static void
test_sync_fail(void **state)
{
    ngx_octopus_rl_sync_t        st;
    ngx_octopus_rl_result_t      res;
    ngx_octopus_rl_sync_merge_t  m, m2;

    memset(&st, 0, sizeof(st));

    ngx_octopus_rl_sync_decide(&st, T0 + 1, 100, 1000, 10, &res);
    ngx_octopus_rl_sync_decide(&st, T0 + 1, 100, 1000, 10, &res);

    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 2, 1000, 5000, &m),
                     1);
    ngx_octopus_rl_sync_decide(&st, T0 + 3, 100, 1000, 10, &res);

    ngx_octopus_rl_sync_fail(&st, &m, 1000);
    assert_int_equal(st.d[0], 3);
    assert_int_equal(st.s[0], 0);
    assert_int_equal(st.sent_at, 0);

    /* a stale answer of the failed merge changes nothing */

    ngx_octopus_rl_sync_ack(&st, &m, 1000, 500, 500);
    assert_int_equal(st.g[0], 0);

    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 4, 1000, 5000, &m2),
                     1);
    assert_int_equal(m2.d[0], 3);
    assert_int_equal(m2.seq, m.seq + 1);

    /* failed after the window rolled: the deltas count for the previous */

    ngx_octopus_rl_sync_advance(&st, T0 + 1004, 1000);
    assert_int_equal(st.s[1], 3);
    ngx_octopus_rl_sync_fail(&st, &m2, 1000);
    assert_int_equal(st.d[1], 3);
    assert_int_equal(st.d[0], 0);

    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 1005, 1000, 5000,
                                              &m),
                     1);
    assert_int_equal(m.win, T0 + 1000);
    assert_int_equal(m.d[0], 0);
    assert_int_equal(m.d[1], 3);
}


/* the window rolls while a merge is in flight, or twice */

static void
test_sync_roll(void **state)
{
    ngx_octopus_rl_sync_t        st;
    ngx_octopus_rl_result_t      res;
    ngx_octopus_rl_sync_merge_t  m;

    memset(&st, 0, sizeof(st));

    ngx_octopus_rl_sync_decide(&st, T0 + 990, 100, 1000, 10, &res);
    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 995, 1000, 5000, &m),
                     1);

    ngx_octopus_rl_sync_decide(&st, T0 + 1001, 100, 1000, 10, &res);
    assert_int_equal(st.d[0], 1);
    assert_int_equal(st.s[1], 1);

    ngx_octopus_rl_sync_ack(&st, &m, 1000, 70, 30);
    assert_int_equal(st.g[1], 70);
    assert_int_equal(st.g[0], 0);
    assert_int_equal(st.s[1], 0);
    assert_int_equal(st.d[0], 1);

    /* two periods later nothing is left */

    ngx_octopus_rl_sync_advance(&st, T0 + 3000, 1000);
    assert_int_equal(st.g[1], 0);
    assert_int_equal(st.d[1], 0);
    assert_int_equal(st.d[0], 0);
}


/* a merge whose worker died is failed after the deadline */

static void
test_sync_deadline(void **state)
{
    ngx_octopus_rl_sync_t        st;
    ngx_octopus_rl_result_t      res;
    ngx_octopus_rl_sync_merge_t  m;

    memset(&st, 0, sizeof(st));

    ngx_octopus_rl_sync_decide(&st, T0 + 1, 100, 1000, 10, &res);
    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 2, 1000, 500, &m),
                     1);
    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 400, 1000, 500, &m),
                     0);
    assert_int_equal(ngx_octopus_rl_sync_take(&st, T0 + 600, 1000, 500, &m),
                     1);
    assert_int_equal(m.d[0], 1);
}


/*
 * Several nodes, one model Redis.  Every millisecond each node receives a
 * random number of requests; a node merges every "sync" ms and as soon as
 * its quota is unanswered; a merge executes in Redis and is answered after
 * random delays.  In every window, the passes of all nodes stay within
 * rate + (nodes - 1) x quota, and reach the rate (the nodes share).
 */

#define SIM_NODES    3
#define SIM_WINDOWS  40

typedef struct {
    ngx_octopus_rl_sync_t        st;
    ngx_octopus_rl_sync_merge_t  m;
    int                          pending;
    int                          executed;
    uint64_t                     exec_at;
    uint64_t                     reply_at;
    uint64_t                     cur;
    uint64_t                     prev;
    uint64_t                     next_sync;
} sim_node_t;


static void
sim_run(int nodes, uint64_t rate, uint64_t period, uint64_t sync,
    int max_arrivals, int max_delay, unsigned seed)
{
    int                      n, k, a, w;
    uint64_t                 t, quota, redis[SIM_WINDOWS + 2];
    uint64_t                 passes[SIM_WINDOWS + 2];
    sim_node_t               node[SIM_NODES];
    ngx_octopus_rl_result_t  res;

    srand(seed);
    memset(node, 0, sizeof(node));
    memset(redis, 0, sizeof(redis));
    memset(passes, 0, sizeof(passes));

    quota = ngx_octopus_rl_sync_quota(rate, period, sync);

    for (t = T0; t < T0 + SIM_WINDOWS * period; t++) {
        w = (int) ((t - T0) / period) + 1;

        for (n = 0; n < nodes; n++) {
            sim_node_t  *nd = &node[n];

            if (nd->pending && !nd->executed && t >= nd->exec_at) {
                k = (int) ((nd->m.win - T0) / period) + 1;
                redis[k] += nd->m.d[0];
                redis[k - 1] += nd->m.d[1];
                nd->cur = redis[k];
                nd->prev = redis[k - 1];
                nd->executed = 1;
            }

            if (nd->pending && nd->executed && t >= nd->reply_at) {
                ngx_octopus_rl_sync_ack(&nd->st, &nd->m, period, nd->cur,
                                        nd->prev);
                nd->pending = 0;
            }

            a = rand() % (max_arrivals + 1);

            for (k = 0; k < a; k++) {
                if (ngx_octopus_rl_sync_decide(&nd->st, t, rate, period,
                                               quota, &res)
                    == NGX_OCTOPUS_RL_SYNC_PASS)
                {
                    passes[w]++;
                }
            }

            if (!nd->pending
                && (t >= nd->next_sync
                    || ngx_octopus_rl_sync_unanswered(&nd->st) >= quota)
                && ngx_octopus_rl_sync_take(&nd->st, t, period, 1000000,
                                            &nd->m))
            {
                nd->pending = 1;
                nd->executed = 0;
                nd->exec_at = t + rand() % (max_delay + 1);
                nd->reply_at = nd->exec_at + rand() % (max_delay + 1);
                nd->next_sync = t + sync;
            }
        }
    }

    for (w = 2; w <= SIM_WINDOWS; w++) {
        assert_true(passes[w] <= rate + (nodes - 1) * quota);
        assert_true(passes[w] >= rate / 2);
    }
}


static void
test_sync_sim(void **state)
{
    unsigned  seed;

    for (seed = 1; seed <= 20; seed++) {
        sim_run(2, 100, 1000, 100, 1, 5, seed);
        sim_run(2, 100, 1000, 100, 8, 40, seed);
        sim_run(3, 100, 1000, 100, 3, 60, seed);
        sim_run(3, 20, 1000, 50, 2, 20, seed);
        sim_run(2, 1000, 1000, 10, 5, 3, seed);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_quota),
        cmocka_unit_test(test_sync_alone),
        cmocka_unit_test(test_sync_held),
        cmocka_unit_test(test_sync_global),
        cmocka_unit_test(test_sync_fail),
        cmocka_unit_test(test_sync_roll),
        cmocka_unit_test(test_sync_deadline),
        cmocka_unit_test(test_sync_sim),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
