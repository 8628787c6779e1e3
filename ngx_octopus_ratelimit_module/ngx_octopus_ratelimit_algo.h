
/*
 * Copyright (C) Octopus Guard authors
 *
 * Rate-limit arithmetic in plain C (no nginx headers): the sliding-window
 * counter, GCRA and the fixed-window counter behind bans and lockout.  The
 * Lua scripts run by Redis implement the same formulas, step by step, so a
 * node that falls back to its shared memory answers as Redis would.  The
 * lockout reservations (attempts in flight) give the same bound as the
 * Redis script's sorted set, in constant memory.
 */


#ifndef _NGX_OCTOPUS_RATELIMIT_ALGO_H_INCLUDED_
#define _NGX_OCTOPUS_RATELIMIT_ALGO_H_INCLUDED_


#include <stdint.h>


typedef struct {
    uint64_t    win;         /* sliding window: start of current window, ms */
    uint64_t    cur;         /* requests counted in the current window */
    uint64_t    prev;        /* requests counted in the previous window */
    uint64_t    tat;         /* GCRA: theoretical arrival time, us */
} ngx_octopus_rl_state_t;


typedef struct {
    uint64_t    start;       /* start of the counting window, ms */
    uint64_t    count;
    uint64_t    until;       /* banned / locked until, ms; 0: not */
} ngx_octopus_rl_strike_t;


/*
 * Login attempts in flight (lockout reservations), in two time buckets of
 * "timeout" ms each: a reservation that is never released (its worker
 * died) is forgotten between timeout and 2 * timeout after it was made.
 */

typedef struct {
    uint64_t    epoch;       /* now / timeout when "cur" was started */
    uint64_t    cur;         /* reservations made in epoch */
    uint64_t    prev;        /* reservations made in epoch - 1 */
} ngx_octopus_rl_inflight_t;


#define NGX_OCTOPUS_RL_RESERVED      0
#define NGX_OCTOPUS_RL_RESERVE_LOCK  1    /* locked: *ms is the lock left */
#define NGX_OCTOPUS_RL_RESERVE_BUSY  2    /* failures + in flight is full */

#define NGX_OCTOPUS_RL_BUSY_RETRY    1000 /* ms, Retry-After when busy */


typedef struct {
    int         allowed;
    uint64_t    remaining;   /* requests still allowed right now */
    uint64_t    reset_ms;    /* until the quota is whole again */
    uint64_t    retry_ms;    /* rejected: until a request would pass */
} ngx_octopus_rl_result_t;


void ngx_octopus_rl_sliding_window(ngx_octopus_rl_state_t *st, uint64_t now,
    uint64_t rate, uint64_t period, ngx_octopus_rl_result_t *res);
void ngx_octopus_rl_gcra(ngx_octopus_rl_state_t *st, uint64_t now_us,
    uint64_t rate, uint64_t period, uint64_t burst,
    ngx_octopus_rl_result_t *res);

uint64_t ngx_octopus_rl_strike_check(ngx_octopus_rl_strike_t *sk,
    uint64_t now);
uint64_t ngx_octopus_rl_strike_add(ngx_octopus_rl_strike_t *sk, uint64_t now,
    uint64_t after, uint64_t within, uint64_t duration);

int ngx_octopus_rl_inflight_reserve(ngx_octopus_rl_strike_t *sk,
    ngx_octopus_rl_inflight_t *in, uint64_t now, uint64_t failures,
    uint64_t within, uint64_t timeout, uint64_t *epoch, uint64_t *ms);
void ngx_octopus_rl_inflight_release(ngx_octopus_rl_inflight_t *in,
    uint64_t now, uint64_t timeout, uint64_t epoch);
uint64_t ngx_octopus_rl_inflight_count(ngx_octopus_rl_inflight_t *in,
    uint64_t now, uint64_t timeout);
uint64_t ngx_octopus_rl_inflight_until(ngx_octopus_rl_inflight_t *in,
    uint64_t timeout);

uint64_t ngx_octopus_rl_gcra_interval(uint64_t rate, uint64_t period);


#endif /* _NGX_OCTOPUS_RATELIMIT_ALGO_H_INCLUDED_ */
