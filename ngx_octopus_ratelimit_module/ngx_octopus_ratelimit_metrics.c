
/*
 * Copyright (C) Octopus Guard authors
 *
 * Fallbacks are never silent: every decision Redis did not take is counted
 * per zone and reason in the zone's shared memory (all workers, kept over
 * reloads), printed by the "octopus_ratelimit_metrics" handler as
 * octopus_ratelimit_fallback_total{zone,reason}, and reported in error.log
 * at most once per second per worker with the count since the last line.
 *
 * The decisions are counted by the module itself in the
 * "octopus_ratelimit_metrics" zone (8 pages, created whatever else is
 * configured, kept over reloads): every location with octopus_ratelimit or
 * a lockout counts, whether or not the audit module logs it.
 */


#include "ngx_octopus_ratelimit.h"


#define NGX_OCTOPUS_RL_FB_REPORT  1000    /* ms between two report lines */


static void ngx_octopus_rl_fallback_report(ngx_event_t *ev);
static ngx_uint_t ngx_octopus_rl_fallback_log(
    ngx_octopus_rl_main_conf_t *rmcf);
static u_char *ngx_octopus_rl_metrics_zone(u_char *p, ngx_shm_zone_t *zone);
static ngx_int_t ngx_octopus_rl_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_octopus_rl_counters_metrics(u_char *p,
    ngx_octopus_rl_main_conf_t *rmcf);


/* allocated from the zone's slab pool */
typedef struct {
    ngx_atomic_t                results[NGX_OCTOPUS_RL_R_N];
    ngx_atomic_t                failed_logins;
} ngx_octopus_rl_counters_t;


/* the decisions' part of the metrics, at most */
#define NGX_OCTOPUS_RL_COUNTERS_SIZE  2048


static ngx_str_t  ngx_octopus_rl_counters_name =
    ngx_string("octopus_ratelimit_metrics");


static const char  *ngx_octopus_rl_fb_names[NGX_OCTOPUS_RL_FB_N] = {
    "down", "timeout", "queue", "lost", "error"
};


/* why the client failed a command (ngx_octopus_redis_error()) */

ngx_uint_t
ngx_octopus_rl_fallback_reason(ngx_octopus_rl_main_conf_t *rmcf)
{
    switch (ngx_octopus_redis_error(rmcf->conn)) {

    case NGX_OCTOPUS_REDIS_E_DOWN:
        return NGX_OCTOPUS_RL_FB_DOWN;

    case NGX_OCTOPUS_REDIS_E_TIMEOUT:
        return NGX_OCTOPUS_RL_FB_TIMEOUT;

    case NGX_OCTOPUS_REDIS_E_QUEUE:
        return NGX_OCTOPUS_RL_FB_QUEUE;

    case NGX_OCTOPUS_REDIS_E_LOST:
        return NGX_OCTOPUS_RL_FB_LOST;

    default:
        return NGX_OCTOPUS_RL_FB_ERROR;
    }
}


void
ngx_octopus_rl_fallback_init(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_log_t *log)
{
    rmcf->fb_timer.handler = ngx_octopus_rl_fallback_report;
    rmcf->fb_timer.data = rmcf;
    rmcf->fb_timer.log = log;
    rmcf->fb_timer.cancelable = 1;
}


void
ngx_octopus_rl_fallback_done(ngx_octopus_rl_main_conf_t *rmcf)
{
    if (rmcf->fb_timer.timer_set) {
        ngx_del_timer(&rmcf->fb_timer);
    }

    /* the last second's count is not lost at a reload or a stop */

    (void) ngx_octopus_rl_fallback_log(rmcf);
}


/*
 * One decision not taken by Redis, in "zone": counted in shared memory, and
 * reported now if no line was written in the last second, else by the
 * timer with the others of that second.
 */

void
ngx_octopus_rl_fallback(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_shm_zone_t *zone, ngx_uint_t reason)
{
    ngx_octopus_rl_shm_t  *ctx;

    ctx = zone->data;

    (void) ngx_atomic_fetch_add(&ctx->sh->fallback[reason], 1);

    rmcf->fb_count[reason]++;

    if (rmcf->fb_timer.timer_set || rmcf->fb_timer.handler == NULL) {
        return;
    }

    (void) ngx_octopus_rl_fallback_log(rmcf);

    ngx_add_timer(&rmcf->fb_timer, NGX_OCTOPUS_RL_FB_REPORT);
}


static void
ngx_octopus_rl_fallback_report(ngx_event_t *ev)
{
    ngx_octopus_rl_main_conf_t  *rmcf = ev->data;

    /* a quiet second stops the timer: the next fallback logs at once */

    if (ngx_octopus_rl_fallback_log(rmcf)) {
        ngx_add_timer(&rmcf->fb_timer, NGX_OCTOPUS_RL_FB_REPORT);
    }
}


static ngx_uint_t
ngx_octopus_rl_fallback_log(ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_uint_t  i, n, *c;

    c = rmcf->fb_count;
    n = 0;

    for (i = 0; i < NGX_OCTOPUS_RL_FB_N; i++) {
        n += c[i];
    }

    if (n == 0) {
        return 0;
    }

    ngx_log_error(NGX_LOG_WARN, rmcf->fb_timer.log, 0,
                  "octopus_ratelimit: %ui decisions fell back to the "
                  "octopus_ratelimit_redis_failure policy since the last "
                  "report (down %ui, timeout %ui, queue %ui, lost %ui, "
                  "error %ui)", n,
                  c[NGX_OCTOPUS_RL_FB_DOWN], c[NGX_OCTOPUS_RL_FB_TIMEOUT],
                  c[NGX_OCTOPUS_RL_FB_QUEUE], c[NGX_OCTOPUS_RL_FB_LOST],
                  c[NGX_OCTOPUS_RL_FB_ERROR]);

    ngx_memzero(c, NGX_OCTOPUS_RL_FB_N * sizeof(ngx_uint_t));

    return n;
}


/* from init_main_conf */

ngx_int_t
ngx_octopus_rl_counters_conf(ngx_conf_t *cf, ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_shm_zone_t  *zone;

    /* user zones are named "octopus_ratelimit:NAME": no clash */

    zone = ngx_octopus_counters_zone(cf, &ngx_octopus_rl_counters_name,
                                     sizeof(ngx_octopus_rl_counters_t),
                                     &ngx_octopus_ratelimit_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    rmcf->counters = zone;

    return NGX_OK;
}


static ngx_octopus_rl_counters_t *
ngx_octopus_rl_counters(ngx_http_request_t *r)
{
    ngx_octopus_rl_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    return rmcf->counters ? rmcf->counters->data : NULL;
}


/* the decision of a request, once (ngx_octopus_rl_decide()) */

void
ngx_octopus_rl_count(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx)
{
    ngx_octopus_rl_counters_t  *c;

    c = ngx_octopus_rl_counters(r);

    if (c == NULL || ctx->result >= NGX_OCTOPUS_RL_R_N) {
        return;
    }

    (void) ngx_atomic_fetch_add(&c->results[ctx->result], 1);
}


/* a login attempt answered with a status of the lockout's status= */

void
ngx_octopus_rl_count_failed_login(ngx_http_request_t *r)
{
    ngx_octopus_rl_counters_t  *c;

    c = ngx_octopus_rl_counters(r);

    if (c) {
        (void) ngx_atomic_fetch_add(&c->failed_logins, 1);
    }
}


static u_char *
ngx_octopus_rl_counters_metrics(u_char *p, ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_atomic_uint_t                *n;
    ngx_uint_t                        i;
    ngx_octopus_rl_counters_t        *c;
    const ngx_octopus_result_name_t  *names;

    if (rmcf->counters == NULL || rmcf->counters->data == NULL) {
        return p;
    }

    c = rmcf->counters->data;
    n = (ngx_atomic_uint_t *) c->results;
    names = ngx_octopus_rl_result_names();

    p = ngx_sprintf(p, "# HELP octopus_ratelimit_requests_total Requests "
                    "decided by the rate limit module, by result.\n"
                    "# TYPE octopus_ratelimit_requests_total counter\n");

    for (i = 1; i < NGX_OCTOPUS_RL_R_N; i++) {
        p = ngx_sprintf(p, "octopus_ratelimit_requests_total"
                        "{result=\"%s\"} %uA\n", names[i].data, n[i]);
    }

    p = ngx_sprintf(p, "# HELP octopus_ratelimit_rejections_total Requests "
                    "limited, banned or locked.\n"
                    "# TYPE octopus_ratelimit_rejections_total counter\n"
                    "octopus_ratelimit_rejections_total %uA\n"
                    "# HELP octopus_account_lockouts_total Requests refused "
                    "by a login lockout.\n"
                    "# TYPE octopus_account_lockouts_total counter\n"
                    "octopus_account_lockouts_total %uA\n"
                    "# HELP octopus_failed_login_total Login attempts "
                    "answered with a status of octopus_ratelimit_lockout "
                    "status=.\n"
                    "# TYPE octopus_failed_login_total counter\n"
                    "octopus_failed_login_total %uA\n"
                    "# HELP octopus_redis_errors_total Requests whose rate "
                    "limit fell back because of Redis (result error or "
                    "fallback).\n"
                    "# TYPE octopus_redis_errors_total counter\n"
                    "octopus_redis_errors_total %uA\n",
                    n[NGX_OCTOPUS_RL_R_LIMITED] + n[NGX_OCTOPUS_RL_R_BANNED]
                    + n[NGX_OCTOPUS_RL_R_LOCKED],
                    n[NGX_OCTOPUS_RL_R_LOCKED], c->failed_logins,
                    n[NGX_OCTOPUS_RL_R_ERROR] + n[NGX_OCTOPUS_RL_R_FALLBACK]);

    return p;
}


char *
ngx_octopus_rl_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_octopus_rl_metrics_handler;

    return NGX_CONF_OK;
}


#define NGX_OCTOPUS_RL_METRIC   "octopus_ratelimit_fallback_total"
#define NGX_OCTOPUS_RL_HEAD                                                  \
    "# HELP " NGX_OCTOPUS_RL_METRIC " Rate-limit decisions not taken by "   \
    "Redis (octopus_ratelimit_redis_failure applied), by zone and "         \
    "reason.\n"                                                              \
    "# TYPE " NGX_OCTOPUS_RL_METRIC " counter\n"
#define NGX_OCTOPUS_RL_LINE                                                  \
    (sizeof(NGX_OCTOPUS_RL_METRIC "{zone=\"\",reason=\"timeout\"} \n") - 1 \
     + NGX_ATOMIC_T_LEN)


static u_char *
ngx_octopus_rl_metrics_zone(u_char *p, ngx_shm_zone_t *zone)
{
    u_char                *s, *end;
    ngx_uint_t             i;
    ngx_octopus_rl_shm_t  *ctx;

    ctx = zone->data;

    for (i = 0; i < NGX_OCTOPUS_RL_FB_N; i++) {
        p = ngx_cpymem(p, NGX_OCTOPUS_RL_METRIC "{zone=\"",
                       sizeof(NGX_OCTOPUS_RL_METRIC "{zone=\"") - 1);

        /* a label value escapes \ and " (zone names are tokens anyway) */

        end = ctx->name.data + ctx->name.len;

        for (s = ctx->name.data; s < end; s++) {
            if (*s == '\\' || *s == '"') {
                *p++ = '\\';
            }

            *p++ = *s;
        }

        p = ngx_sprintf(p, "\",reason=\"%s\"} %uA\n",
                        ngx_octopus_rl_fb_names[i], ctx->sh->fallback[i]);
    }

    return p;
}


static ngx_int_t
ngx_octopus_rl_metrics_handler(ngx_http_request_t *r)
{
    u_char                       *p;
    size_t                        size;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    i;
    ngx_octopus_rl_zone_t       **zones;
    ngx_octopus_rl_main_conf_t   *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);
    zones = rmcf->zones.elts;

    size = NGX_OCTOPUS_RL_COUNTERS_SIZE + sizeof(NGX_OCTOPUS_RL_HEAD) - 1;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        size += NGX_OCTOPUS_RL_FB_N
                * (NGX_OCTOPUS_RL_LINE + 2 * zones[i]->name.len);
    }

    if (rmcf->lockout_zone) {
        size += NGX_OCTOPUS_RL_FB_N
                * (NGX_OCTOPUS_RL_LINE + 2 * sizeof("(lockout)"));
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_octopus_rl_counters_metrics(b->last, rmcf);

    p = ngx_cpymem(p, NGX_OCTOPUS_RL_HEAD, sizeof(NGX_OCTOPUS_RL_HEAD) - 1);

    for (i = 0; i < rmcf->zones.nelts; i++) {
        p = ngx_octopus_rl_metrics_zone(p, zones[i]->shm_zone);
    }

    if (rmcf->lockout_zone) {
        p = ngx_octopus_rl_metrics_zone(p, rmcf->lockout_zone);
    }

    b->last = p;
    return ngx_octopus_send_metrics(r, b);
}
