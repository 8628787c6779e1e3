
/*
 * Copyright (C) Octopus Guard authors
 *
 * The synchronised sliding window (octopus_ratelimit_zone ... sync=) in
 * plain C, no nginx headers: the state one node keeps per key in its
 * shared memory, and the steps on it (decide, take a merge, its answer or
 * its failure).  The nginx side (timer, Redis, locking) is in
 * ngx_octopus_ratelimit_sync.c.
 *
 * Counts per fixed window of "period" ms, two windows kept (the current
 * and the previous one), each split in three:
 *
 *     g   the global count as Redis last returned it (every node's merged
 *         passes, this node's included)
 *     s   this node's passes sent to Redis, not answered yet
 *     d   this node's passes not sent yet
 *
 * The estimate of a window is g + s + d; the sliding-window formula of
 * ngx_octopus_ratelimit_algo.c runs on the estimates.  A node passes at
 * most "quota" requests of the current window that Redis has not
 * answered for (s + d of the current window): this bounds what the other
 * nodes cannot see, hence the overshoot (README: rate + (nodes - 1) x
 * quota per window).
 */


#ifndef _NGX_OCTOPUS_RATELIMIT_SYNC_ALGO_H_INCLUDED_
#define _NGX_OCTOPUS_RATELIMIT_SYNC_ALGO_H_INCLUDED_


#include <stdint.h>

#include "ngx_octopus_ratelimit_algo.h"


typedef struct {
    uint64_t    win;         /* start of the current window, ms */
    uint64_t    g[2];        /* global counts: current, previous window */
    uint64_t    s[2];        /* sent, not answered */
    uint64_t    d[2];        /* not sent */
    uint64_t    sent_win;    /* window of the merge in flight */
    uint64_t    sent_at;     /* ms; 0: no merge in flight */
    uint64_t    taken_at;    /* ms: when the last merge was taken */
    uint32_t    seq;         /* of the last merge taken */
    uint32_t    queued;      /* touched since its last merge */
} ngx_octopus_rl_sync_t;


/* one merge: what is sent to Redis, and what identifies its answer */

typedef struct {
    uint64_t    win;
    uint64_t    d[2];        /* added to windows win and win - period */
    uint32_t    seq;
} ngx_octopus_rl_sync_merge_t;


#define NGX_OCTOPUS_RL_SYNC_PASS     0
#define NGX_OCTOPUS_RL_SYNC_LIMITED  1    /* the estimate is at the rate */
#define NGX_OCTOPUS_RL_SYNC_HELD     2    /* quota unanswered by Redis */


uint64_t ngx_octopus_rl_sync_quota(uint64_t rate, uint64_t period,
    uint64_t sync);
void ngx_octopus_rl_sync_advance(ngx_octopus_rl_sync_t *st, uint64_t now,
    uint64_t period);
int ngx_octopus_rl_sync_decide(ngx_octopus_rl_sync_t *st, uint64_t now,
    uint64_t rate, uint64_t period, uint64_t quota,
    ngx_octopus_rl_result_t *res);
uint64_t ngx_octopus_rl_sync_unanswered(ngx_octopus_rl_sync_t *st);
int ngx_octopus_rl_sync_take(ngx_octopus_rl_sync_t *st, uint64_t now,
    uint64_t period, uint64_t deadline, ngx_octopus_rl_sync_merge_t *m);
void ngx_octopus_rl_sync_ack(ngx_octopus_rl_sync_t *st,
    ngx_octopus_rl_sync_merge_t *m, uint64_t period, uint64_t cur,
    uint64_t prev);
void ngx_octopus_rl_sync_fail(ngx_octopus_rl_sync_t *st,
    ngx_octopus_rl_sync_merge_t *m, uint64_t period);


#endif /* _NGX_OCTOPUS_RATELIMIT_SYNC_ALGO_H_INCLUDED_ */
