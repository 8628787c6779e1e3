
/*
 * Copyright (C) Octopus Guard authors
 *
 * Fallbacks are never silent: every decision Redis did not take is counted
 * per zone and reason in the zone's shared memory (all workers, kept over
 * reloads), printed by the "octopus_ratelimit_metrics" handler as
 * octopus_ratelimit_fallback_total{zone,reason}, and reported in error.log
 * at most once per second per worker with the count since the last line.
 */


#include "ngx_octopus_ratelimit.h"


#define NGX_OCTOPUS_RL_FB_REPORT  1000    /* ms between two report lines */


static void ngx_octopus_rl_fallback_report(ngx_event_t *ev);
static ngx_uint_t ngx_octopus_rl_fallback_log(
    ngx_octopus_rl_main_conf_t *rmcf);
static u_char *ngx_octopus_rl_metrics_zone(u_char *p, ngx_shm_zone_t *zone);
static ngx_int_t ngx_octopus_rl_metrics_handler(ngx_http_request_t *r);


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

    size = sizeof(NGX_OCTOPUS_RL_HEAD) - 1;

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

    p = ngx_cpymem(b->last, NGX_OCTOPUS_RL_HEAD,
                   sizeof(NGX_OCTOPUS_RL_HEAD) - 1);

    for (i = 0; i < rmcf->zones.nelts; i++) {
        p = ngx_octopus_rl_metrics_zone(p, zones[i]->shm_zone);
    }

    if (rmcf->lockout_zone) {
        p = ngx_octopus_rl_metrics_zone(p, rmcf->lockout_zone);
    }

    b->last = p;
    return ngx_octopus_send_metrics(r, b);
}
