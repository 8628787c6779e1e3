
/*
 * Copyright (C) Octopus Guard authors
 *
 * The synchronised sliding window: see ngx_octopus_ratelimit_sync_algo.h.
 * Every count only grows within a window, so an answer older than what is
 * known already (a late reply) never lowers a global count.
 */


#include "ngx_octopus_ratelimit_sync_algo.h"


#define ngx_octopus_rl_sync_max(a, b)  ((a) > (b) ? (a) : (b))


/*
 * quota = ceil(rate x sync / period), at least 1: the share of the rate
 * that one sync interval carries
 */

uint64_t
ngx_octopus_rl_sync_quota(uint64_t rate, uint64_t period, uint64_t sync)
{
    uint64_t  q;

    q = (rate * sync + period - 1) / period;

    return q ? q : 1;
}


/*
 * The window of "now": one period later the current window becomes the
 * previous one; later than that (or the clock stepped back) both are
 * forgotten.  A merge in flight keeps its place: its answer is matched
 * by the window it was taken in.
 */

void
ngx_octopus_rl_sync_advance(ngx_octopus_rl_sync_t *st, uint64_t now,
    uint64_t period)
{
    uint64_t  win;

    win = now - now % period;

    if (st->win == win) {
        return;
    }

    if (st->win + period == win) {
        st->g[1] = st->g[0];
        st->s[1] = st->s[0];
        st->d[1] = st->d[0];

    } else {
        st->g[1] = 0;
        st->s[1] = 0;
        st->d[1] = 0;
    }

    st->g[0] = 0;
    st->s[0] = 0;
    st->d[0] = 0;
    st->win = win;
}


/* this node's passes in the current window that Redis has not answered */

uint64_t
ngx_octopus_rl_sync_unanswered(ngx_octopus_rl_sync_t *st)
{
    return st->s[0] + st->d[0];
}


/*
 * Decides one request on the estimates (the sliding-window formula of
 * ngx_octopus_rl_sliding_window()) and counts it in d when it passes.
 * quota 0: no quota (Redis is failing, the node counts alone).
 */

int
ngx_octopus_rl_sync_decide(ngx_octopus_rl_sync_t *st, uint64_t now,
    uint64_t rate, uint64_t period, uint64_t quota,
    ngx_octopus_rl_result_t *res)
{
    ngx_octopus_rl_state_t  est;

    ngx_octopus_rl_sync_advance(st, now, period);

    est.win = st->win;
    est.cur = st->g[0] + st->s[0] + st->d[0];
    est.prev = st->g[1] + st->s[1] + st->d[1];
    est.tat = 0;

    ngx_octopus_rl_sliding_window(&est, now, rate, period, res);

    if (!res->allowed) {
        return NGX_OCTOPUS_RL_SYNC_LIMITED;
    }

    if (quota && ngx_octopus_rl_sync_unanswered(st) >= quota) {
        /* the others may not see this node's last quota yet: wait */
        res->allowed = 0;
        res->remaining = 0;
        res->retry_ms = 1;
        return NGX_OCTOPUS_RL_SYNC_HELD;
    }

    st->d[0]++;

    return NGX_OCTOPUS_RL_SYNC_PASS;
}


/*
 * Takes the deltas into a merge; 0 when a merge is in flight.  A merge
 * unanswered past "deadline" ms (its worker died: the Redis client
 * answers every command well before) is taken as failed.
 */

int
ngx_octopus_rl_sync_take(ngx_octopus_rl_sync_t *st, uint64_t now,
    uint64_t period, uint64_t deadline, ngx_octopus_rl_sync_merge_t *m)
{
    ngx_octopus_rl_sync_merge_t  lost;

    if (st->sent_at) {
        if (now < st->sent_at + deadline && now >= st->sent_at) {
            return 0;
        }

        lost.win = st->sent_win;
        lost.seq = st->seq;
        ngx_octopus_rl_sync_fail(st, &lost, period);
    }

    ngx_octopus_rl_sync_advance(st, now, period);

    m->win = st->win;
    m->d[0] = st->d[0];
    m->d[1] = st->d[1];
    m->seq = ++st->seq;

    st->s[0] = st->d[0];
    st->s[1] = st->d[1];
    st->d[0] = 0;
    st->d[1] = 0;
    st->sent_win = st->win;
    st->sent_at = now ? now : 1;
    st->taken_at = now;

    return 1;
}


/*
 * Redis answered: "cur" and "prev" are the global counts of the merge's
 * window and of the one before, this node's sent deltas included.
 */

void
ngx_octopus_rl_sync_ack(ngx_octopus_rl_sync_t *st,
    ngx_octopus_rl_sync_merge_t *m, uint64_t period, uint64_t cur,
    uint64_t prev)
{
    if (st->sent_at == 0 || st->seq != m->seq) {
        return;
    }

    if (st->win == m->win) {
        st->g[0] = ngx_octopus_rl_sync_max(st->g[0], cur);
        st->g[1] = ngx_octopus_rl_sync_max(st->g[1], prev);

    } else if (st->win == m->win + period) {
        /* the window rolled while the merge was in flight */
        st->g[1] = ngx_octopus_rl_sync_max(st->g[1], cur);
    }

    st->s[0] = 0;
    st->s[1] = 0;
    st->sent_at = 0;
}


/* no answer (or an error): the deltas are sent again with the next merge */

void
ngx_octopus_rl_sync_fail(ngx_octopus_rl_sync_t *st,
    ngx_octopus_rl_sync_merge_t *m, uint64_t period)
{
    if (st->sent_at == 0 || st->seq != m->seq) {
        return;
    }

    if (st->win == m->win) {
        st->d[0] += st->s[0];
        st->d[1] += st->s[1];

    } else if (st->win == m->win + period) {
        st->d[1] += st->s[1];
    }

    st->s[0] = 0;
    st->s[1] = 0;
    st->sent_at = 0;
}
