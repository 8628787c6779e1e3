
/*
 * Copyright (C) Octopus Guard authors
 *
 * Types shared by the files of ngx_octopus_ratelimit_module.
 */


#ifndef _NGX_OCTOPUS_RATELIMIT_H_INCLUDED_
#define _NGX_OCTOPUS_RATELIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"
#include "ngx_octopus_result.h"
#include "ngx_octopus_redis.h"
#include "ngx_octopus_ratelimit_algo.h"
#include "ngx_octopus_ratelimit_sync_algo.h"


#define NGX_OCTOPUS_RL_SLIDING_WINDOW  0
#define NGX_OCTOPUS_RL_GCRA            1

#define NGX_OCTOPUS_RL_FAIL_LOCAL      0
#define NGX_OCTOPUS_RL_FAIL_OPEN       1
#define NGX_OCTOPUS_RL_FAIL_CLOSED     2

/* outcome of one limit for one request */
#define NGX_OCTOPUS_RL_SKIP            0    /* empty key, not limited */
#define NGX_OCTOPUS_RL_PASS            1
#define NGX_OCTOPUS_RL_LIMITED         2
#define NGX_OCTOPUS_RL_BANNED          3
#define NGX_OCTOPUS_RL_LOCKED          4
#define NGX_OCTOPUS_RL_OPEN            5    /* redis down, policy open */
#define NGX_OCTOPUS_RL_ERROR           6    /* redis down, policy closed */

/* $octopus_ratelimit_result: NGX_OCTOPUS_RL_R_* (ngx_octopus_result.h) */

/* where the lockout reservation of a request is held */
#define NGX_OCTOPUS_RL_RES_NONE        0
#define NGX_OCTOPUS_RL_RES_SHM         1
#define NGX_OCTOPUS_RL_RES_REDIS       2

/* request ctx phases */
#define NGX_OCTOPUS_RL_INIT            0
#define NGX_OCTOPUS_RL_BODY            1
#define NGX_OCTOPUS_RL_START           2
#define NGX_OCTOPUS_RL_WAIT            3
#define NGX_OCTOPUS_RL_DONE            4

/* why a decision fell back: octopus_ratelimit_fallback_total{reason} */
#define NGX_OCTOPUS_RL_FB_DOWN         0    /* not connected */
#define NGX_OCTOPUS_RL_FB_TIMEOUT      1    /* Redis silent for timeout */
#define NGX_OCTOPUS_RL_FB_QUEUE        2    /* unanswered in 10 x timeout */
#define NGX_OCTOPUS_RL_FB_LOST         3    /* connection lost */
#define NGX_OCTOPUS_RL_FB_ERROR        4    /* error or unexpected reply */
#define NGX_OCTOPUS_RL_FB_N            5

#define NGX_OCTOPUS_RL_MAX_COUNT       1000000
#define NGX_OCTOPUS_RL_LOGIN_MAX       256
#define NGX_OCTOPUS_RL_BODY_MAX        65536    /* login_body_max default */


typedef struct {
    ngx_str_t                   name;
    ngx_http_complex_value_t    key;
    ngx_uint_t                  rate;        /* requests per period */
    ngx_msec_t                  period;
    ngx_uint_t                  burst;
    ngx_uint_t                  algorithm;
    size_t                      size;
    ngx_uint_t                  ban_after;   /* 0: no ban */
    ngx_msec_t                  ban_within;
    ngx_msec_t                  ban_for;
    ngx_msec_t                  ban_recheck; /* a cached ban asked of Redis
                                                again after; 0: never */
    ngx_shm_zone_t             *shm_zone;
    ngx_str_t                   file;
    ngx_uint_t                  line;

    /* sync=: counted here, merged with Redis every "sync" ms */
    ngx_msec_t                  sync;        /* 0: every request to Redis */
    uint64_t                    sync_quota;
    ngx_event_t                 sync_timer;  /* per worker */
    ngx_uint_t                  sync_todo;   /* per worker: pass left */
    time_t                      sync_logged; /* per worker: last error */
    u_char                      sync_sha[41];
    u_char                      sync_strike_sha[41];
} ngx_octopus_rl_zone_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;
    ngx_atomic_t                fallback[NGX_OCTOPUS_RL_FB_N];

    /* sync=: keys touched since their last merge, the next pass */
    ngx_queue_t                 sync_queue;
    ngx_uint_t                  sync_queued;
    uint64_t                    sync_next;   /* ms */
    ngx_atomic_t                sync_down;   /* 0, or FB reason + 1 */
} ngx_octopus_rl_shctx_t;


typedef struct {
    ngx_octopus_rl_shctx_t     *sh;
    ngx_slab_pool_t            *shpool;
    ngx_msec_t                  ttl;         /* idle node lifetime */
    ngx_str_t                   name;
} ngx_octopus_rl_shm_t;


/*
 * A ban or a lock Redis reported is kept in the node's shared memory, and
 * asked again of Redis at most once per this interval by one request: one
 * lifted in Redis (DEL) is lifted on every node within it, and a flood
 * from a banned client costs Redis one command per interval and node.
 */
#define NGX_OCTOPUS_RL_RECHECK  1000         /* ms */


typedef struct {
    u_char                      color;
    u_char                      dummy;
    u_short                     len;
    ngx_queue_t                 queue;
    uint64_t                    expires;     /* ms */
    ngx_octopus_rl_state_t      state;
    ngx_octopus_rl_strike_t     strike;
    uint64_t                    confirmed;   /* ms: Redis last reported the
                                                cached ban or lock */
    ngx_octopus_rl_inflight_t   inflight;    /* lockout reservations */
    ngx_queue_t                 sync_queue;  /* sync=: when touched */
    ngx_octopus_rl_sync_t       sync;
    u_char                      data[1];
} ngx_octopus_rl_node_t;


typedef struct {
    ngx_array_t                 zones;       /* ngx_octopus_rl_zone_t * */
    ngx_octopus_redis_conf_t    redis;
    ngx_str_t                   prefix;
    ngx_uint_t                  failure;
    ngx_shm_zone_t             *lockout_zone;
    ngx_msec_t                  lock_recheck; /* as a zone's ban_recheck */
    ngx_shm_zone_t             *counters;    /* "octopus_ratelimit_metrics" */
    ngx_octopus_redis_t        *conn;        /* per worker, after fork */
    uint64_t                    rid_base;    /* per worker, random */
    uint64_t                    rid_seq;     /* per worker */
    ngx_queue_t                 orphans;     /* per worker: releases due */
    ngx_uint_t                  norphans;
    ngx_event_t                 orphan_timer;
    ngx_uint_t                  fb_count[NGX_OCTOPUS_RL_FB_N];  /* worker */
    ngx_event_t                 fb_timer;    /* per worker: the report */
    u_char                      sha_limit[41];
    u_char                      sha_reserve[41];
    u_char                      sha_strike[41];
    int64_t                     clock_offset;  /* worker: Redis - ours, ms */
} ngx_octopus_rl_main_conf_t;


typedef struct {
    ngx_octopus_rl_zone_t      *zone;
    ngx_flag_t                  dry_run;
} ngx_octopus_rl_limit_t;


typedef struct {
    ngx_http_complex_value_t    key;
    ngx_uint_t                  failures;
    ngx_msec_t                  within;
    ngx_msec_t                  duration;
    ngx_msec_t                  inflight_timeout;
    ngx_array_t                 status;      /* ngx_uint_t */
} ngx_octopus_rl_lockout_t;


typedef struct {
    ngx_array_t                *limits;      /* ngx_octopus_rl_limit_t */
    ngx_uint_t                  status;
    ngx_str_t                   login_field;
    size_t                      login_body_max;
    ngx_flag_t                  login_normalize;
    ngx_octopus_rl_lockout_t   *lockout;
} ngx_octopus_rl_loc_conf_t;


typedef struct ngx_octopus_rl_ctx_s  ngx_octopus_rl_ctx_t;


#define NGX_OCTOPUS_RL_WCMDS  5    /* INCR, PEXPIRE, PEXPIRETIME, GET, PTTL */


typedef struct {
    ngx_octopus_rl_ctx_t       *ctx;
    ngx_octopus_rl_limit_t     *limit;       /* NULL: the lockout check */
    ngx_str_t                   key;
    ngx_str_t                   rkey;        /* prefix{zone:key} */
    ngx_octopus_redis_cmd_t    *cmd;
    ngx_uint_t                  outcome;
    ngx_octopus_rl_result_t     res;
    unsigned                    fallback:1;
    unsigned                    eval:1;
    unsigned                    recheck:1;   /* a cached ban or lock: asked
                                                Redis whether it stands */

    /* the sliding window without a script (ngx_octopus_rl_lua_window) */
    ngx_octopus_redis_cmd_t    *wcmd[NGX_OCTOPUS_RL_WCMDS];
    int64_t                     wval[NGX_OCTOPUS_RL_WCMDS];
    ngx_uint_t                  wsent;       /* commands of this round */
    ngx_uint_t                  wgot;        /* replies of this round */
    ngx_uint_t                  wfail;       /* NGX_OCTOPUS_RL_FB_*, 0 */
    ngx_uint_t                  wtries;
    uint64_t                    win;         /* its window, Redis ms */
    uint64_t                    wsent_at;    /* our clock when sent, ms */
    ngx_str_t                   wkey;        /* prefix{zone:key}:s<win> */
} ngx_octopus_rl_item_t;


struct ngx_octopus_rl_ctx_s {
    ngx_http_request_t         *request;
    ngx_uint_t                  phase;
    ngx_uint_t                  pending;
    ngx_octopus_rl_item_t      *items;
    ngx_uint_t                  nitems;
    ngx_octopus_rl_item_t       lock;
    ngx_str_t                   login_user;
    off_t                       body_received;   /* login body, counted */
    unsigned                    count_body:1;
    unsigned                    body_too_large:1;
    ngx_octopus_rl_lockout_t   *lockout;     /* of ctx->lock */
    ngx_str_t                   rid;         /* lockout reservation id */
    uint64_t                    epoch;       /* its bucket, shared memory */
    ngx_uint_t                  reserved;    /* NGX_OCTOPUS_RL_RES_* */
    ngx_octopus_rl_item_t      *tightest;
    ngx_uint_t                  result;      /* index into result names */
    ngx_int_t                   rc;
    uint64_t                    retry_ms;
    unsigned                    body_done:1;
    unsigned                    decided:1;
    unsigned                    rejected:1;
    unsigned                    filtered:1;
};


extern ngx_module_t  ngx_octopus_ratelimit_module;


/* ngx_octopus_ratelimit_shm.c */
ngx_int_t ngx_octopus_rl_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data);
uint64_t ngx_octopus_rl_now(void);
ngx_octopus_rl_node_t *ngx_octopus_rl_shm_lookup(ngx_octopus_rl_shm_t *ctx,
    ngx_str_t *key, ngx_flag_t create, uint64_t now);
void ngx_octopus_rl_shm_touch(ngx_octopus_rl_shm_t *ctx,
    ngx_octopus_rl_node_t *lr, uint64_t now, uint64_t until);
void ngx_octopus_rl_shm_limit(ngx_octopus_rl_zone_t *zone, ngx_str_t *key,
    ngx_flag_t dry_run, ngx_octopus_rl_item_t *item);
uint64_t ngx_octopus_rl_shm_strike_left(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, uint64_t recheck, ngx_uint_t *ask);
void ngx_octopus_rl_shm_strike_set(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint64_t ms);
ngx_int_t ngx_octopus_rl_shm_reserve(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_octopus_rl_lockout_t *lo, uint64_t *epoch,
    uint64_t *ms);
uint64_t ngx_octopus_rl_shm_finish(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_octopus_rl_lockout_t *lo, ngx_uint_t reserved, uint64_t epoch,
    ngx_uint_t failed);

/* ngx_octopus_ratelimit_lua.c */
ngx_int_t ngx_octopus_rl_lua_init(ngx_octopus_rl_main_conf_t *rmcf);
ngx_int_t ngx_octopus_rl_lua_limit(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_redis_handler_pt handler);
ngx_int_t ngx_octopus_rl_lua_parse(ngx_octopus_rl_item_t *item,
    redisReply *reply);
ngx_uint_t ngx_octopus_rl_lua_native(ngx_octopus_rl_limit_t *limit);
ngx_int_t ngx_octopus_rl_lua_window(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_redis_handler_pt handler);
ngx_int_t ngx_octopus_rl_lua_window_value(ngx_octopus_rl_item_t *item,
    ngx_uint_t i, redisReply *reply);
ngx_int_t ngx_octopus_rl_lua_window_decide(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item);
void ngx_octopus_rl_lua_window_undo(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item);
ngx_int_t ngx_octopus_rl_lua_strike(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_redis_handler_pt handler);
ngx_int_t ngx_octopus_rl_lua_reserve(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_rl_lockout_t *lo,
    ngx_str_t *rid, ngx_octopus_redis_handler_pt handler);
ngx_int_t ngx_octopus_rl_lua_reserve_parse(redisReply *reply, uint64_t *ms);
ngx_int_t ngx_octopus_rl_lua_release(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_str_t *rkey, ngx_str_t *rid, ngx_msec_t ttl);
void ngx_octopus_rl_lua_orphan(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_str_t *rkey, ngx_str_t *rid, ngx_msec_t ttl);
void ngx_octopus_rl_lua_orphans_init(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_log_t *log);
void ngx_octopus_rl_lua_orphans_free(ngx_octopus_rl_main_conf_t *rmcf);
ngx_int_t ngx_octopus_rl_lua_lock_fail(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_str_t *rkey, ngx_str_t *rid, ngx_octopus_rl_lockout_t *lo,
    ngx_octopus_redis_handler_pt handler, void *data);

/* ngx_octopus_ratelimit_handler.c */
ngx_int_t ngx_octopus_rl_handler(ngx_http_request_t *r);
ngx_octopus_rl_ctx_t *ngx_octopus_rl_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_octopus_rl_filter_init(ngx_conf_t *cf);

/* ngx_octopus_ratelimit_metrics.c */
ngx_uint_t ngx_octopus_rl_fallback_reason(ngx_octopus_rl_main_conf_t *rmcf);
void ngx_octopus_rl_fallback(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_shm_zone_t *zone, ngx_uint_t reason);
void ngx_octopus_rl_fallback_init(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_log_t *log);
void ngx_octopus_rl_fallback_done(ngx_octopus_rl_main_conf_t *rmcf);
char *ngx_octopus_rl_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_octopus_rl_counters_conf(ngx_conf_t *cf,
    ngx_octopus_rl_main_conf_t *rmcf);
void ngx_octopus_rl_count(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx);
void ngx_octopus_rl_count_failed_login(ngx_http_request_t *r);

/* ngx_octopus_ratelimit_sync.c */
char *ngx_octopus_rl_sync_parse(ngx_conf_t *cf, ngx_octopus_rl_zone_t *zone,
    ngx_str_t *value);
char *ngx_octopus_rl_sync_check_zone(ngx_conf_t *cf,
    ngx_octopus_rl_zone_t *zone);
char *ngx_octopus_rl_sync_check(ngx_conf_t *cf,
    ngx_octopus_rl_main_conf_t *rmcf);
void ngx_octopus_rl_sync_limit(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item);
void ngx_octopus_rl_sync_init_process(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_log_t *log);
void ngx_octopus_rl_sync_exit_process(ngx_octopus_rl_main_conf_t *rmcf);

/* ngx_octopus_ratelimit_module.c */


#endif /* _NGX_OCTOPUS_RATELIMIT_H_INCLUDED_ */
