
/*
 * Copyright (C) Octopus Guard authors
 *
 * Rate-limit arithmetic.  Keep every formula here in step with the Lua in
 * ngx_octopus_ratelimit_lua.c: Redis and the shared-memory fallback must
 * give the same answers.  All values are unsigned integers; products stay
 * below 2^53 for every configuration the directives accept, so the Lua
 * (doubles) computes the same numbers.
 */


#include "ngx_octopus_ratelimit_algo.h"


#define ngx_octopus_rl_ceil_ms(us)  (((us) + 999) / 1000)


/*
 * Sliding-window counter: the previous fixed window's count, weighted by
 * the part of it that still overlaps the trailing window, plus the current
 * count.  Scaled by period to stay in integers:
 *
 *     used = prev * (period - elapsed) + cur * period <= rate * period
 */

void
ngx_octopus_rl_sliding_window(ngx_octopus_rl_state_t *st, uint64_t now,
    uint64_t rate, uint64_t period, ngx_octopus_rl_result_t *res)
{
    uint64_t  win, el, used, cap, cur, prev, e;

    win = now - now % period;
    cur = st->cur;
    prev = st->prev;

    if (st->win != win) {
        prev = (st->win + period == win) ? cur : 0;
        cur = 0;
    }

    el = now - win;
    used = prev * (period - el) + cur * period;
    cap = rate * period;

    res->reset_ms = period - el;

    if (used + period <= cap) {
        cur++;
        used += period;

        res->allowed = 1;
        res->remaining = (cap - used) / period;
        res->retry_ms = 0;

    } else {
        res->allowed = 0;
        res->remaining = 0;

        if (cur + 1 <= rate) {
            /* only the previous window's weight has to decay */
            e = period - (rate - cur - 1) * period / prev;
            res->retry_ms = e - el;

        } else {
            /* the current window becomes the previous one first */
            e = period - (rate - 1) * period / cur;
            res->retry_ms = (period - el) + e;
        }
    }

    st->win = win;
    st->cur = cur;
    st->prev = prev;
}


uint64_t
ngx_octopus_rl_gcra_interval(uint64_t rate, uint64_t period)
{
    uint64_t  t;

    t = period * 1000 / rate;

    return t ? t : 1;
}


/*
 * GCRA with emission interval T = period / rate and tolerance burst * T:
 * a fresh key passes burst + 1 requests back to back, then one every T.
 */

void
ngx_octopus_rl_gcra(ngx_octopus_rl_state_t *st, uint64_t now_us,
    uint64_t rate, uint64_t period, uint64_t burst,
    ngx_octopus_rl_result_t *res)
{
    uint64_t  t, tau, tat, next;

    t = ngx_octopus_rl_gcra_interval(rate, period);
    tau = burst * t;

    tat = st->tat;
    if (tat < now_us) {
        tat = now_us;
    }

    if (tat - now_us > tau) {
        res->allowed = 0;
        res->remaining = 0;
        res->retry_ms = ngx_octopus_rl_ceil_ms(tat - now_us - tau);
        res->reset_ms = ngx_octopus_rl_ceil_ms(tat - now_us);
        return;
    }

    next = tat + t;
    st->tat = next;

    res->allowed = 1;
    res->remaining = (tau + t - (next - now_us)) / t;
    res->retry_ms = 0;
    res->reset_ms = ngx_octopus_rl_ceil_ms(next - now_us);
}


/* returns the ms left of a ban / lock, 0 when there is none */

uint64_t
ngx_octopus_rl_strike_check(ngx_octopus_rl_strike_t *sk, uint64_t now)
{
    return sk->until > now ? sk->until - now : 0;
}


/*
 * Counts one strike (a rejection, a failed login) in a window that starts
 * at the first strike, like INCR + PEXPIRE on first increment in Redis.
 * Returns the ban duration when this strike reaches "after", 0 otherwise.
 */

uint64_t
ngx_octopus_rl_strike_add(ngx_octopus_rl_strike_t *sk, uint64_t now,
    uint64_t after, uint64_t within, uint64_t duration)
{
    if (sk->count == 0 || now >= sk->start + within) {
        sk->start = now;
        sk->count = 0;
    }

    sk->count++;

    if (sk->count >= after) {
        sk->count = 0;
        sk->until = now + duration;
        return duration;
    }

    return 0;
}


/*
 * Lockout reservations.  An attempt let through to the backend holds a
 * reservation until its answer comes; failures counted plus reservations
 * held never exceed "failures", so at most that many guesses per account
 * are ever in flight or counted.  The Redis script keeps the reservations
 * in a sorted set scored by expiry; here two buckets of "timeout" ms give
 * the same bound with constant memory.
 */

static void
ngx_octopus_rl_inflight_advance(ngx_octopus_rl_inflight_t *in, uint64_t now,
    uint64_t timeout)
{
    uint64_t  e;

    e = now / timeout;

    if (e <= in->epoch) {
        /* the same bucket, or the clock stepped back: keep what is held */
        return;
    }

    in->prev = (e == in->epoch + 1) ? in->cur : 0;
    in->cur = 0;
    in->epoch = e;
}


uint64_t
ngx_octopus_rl_inflight_count(ngx_octopus_rl_inflight_t *in, uint64_t now,
    uint64_t timeout)
{
    ngx_octopus_rl_inflight_advance(in, now, timeout);

    return in->cur + in->prev;
}


/*
 * Returns NGX_OCTOPUS_RL_RESERVED (and the reservation's bucket in *epoch),
 * NGX_OCTOPUS_RL_RESERVE_LOCK (*ms: the lock left) or
 * NGX_OCTOPUS_RL_RESERVE_BUSY (*ms: NGX_OCTOPUS_RL_BUSY_RETRY).
 */

int
ngx_octopus_rl_inflight_reserve(ngx_octopus_rl_strike_t *sk,
    ngx_octopus_rl_inflight_t *in, uint64_t now, uint64_t failures,
    uint64_t within, uint64_t timeout, uint64_t *epoch, uint64_t *ms)
{
    uint64_t  left;

    left = ngx_octopus_rl_strike_check(sk, now);

    if (left) {
        *ms = left;
        return NGX_OCTOPUS_RL_RESERVE_LOCK;
    }

    /* failures older than "within" no longer count (as in strike_add) */

    if (sk->count && now >= sk->start + within) {
        sk->count = 0;
    }

    if (sk->count + ngx_octopus_rl_inflight_count(in, now, timeout)
        >= failures)
    {
        *ms = NGX_OCTOPUS_RL_BUSY_RETRY;
        return NGX_OCTOPUS_RL_RESERVE_BUSY;
    }

    in->cur++;
    *epoch = in->epoch;

    return NGX_OCTOPUS_RL_RESERVED;
}


/* a reservation whose bucket is gone has expired: nothing to release */

void
ngx_octopus_rl_inflight_release(ngx_octopus_rl_inflight_t *in, uint64_t now,
    uint64_t timeout, uint64_t epoch)
{
    ngx_octopus_rl_inflight_advance(in, now, timeout);

    if (epoch == in->epoch) {
        if (in->cur) {
            in->cur--;
        }

    } else if (epoch + 1 == in->epoch) {
        if (in->prev) {
            in->prev--;
        }
    }
}


/* until when the buckets may hold a reservation, ms */

uint64_t
ngx_octopus_rl_inflight_until(ngx_octopus_rl_inflight_t *in,
    uint64_t timeout)
{
    if (in->cur == 0 && in->prev == 0) {
        return 0;
    }

    return (in->epoch + 2) * timeout;
}
