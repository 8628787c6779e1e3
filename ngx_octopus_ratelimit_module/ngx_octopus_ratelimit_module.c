
/*
 * Copyright (C) Octopus Guard authors
 *
 * ngx_octopus_ratelimit_module: sliding-window and GCRA rate limits shared
 * through Redis (or kept in shared memory), bans and login lockout.  This
 * file holds the directives, the configuration and the variables; the
 * request side is in ngx_octopus_ratelimit_handler.c, the shared memory in
 * ngx_octopus_ratelimit_shm.c, the Redis scripts in
 * ngx_octopus_ratelimit_lua.c, the arithmetic in
 * ngx_octopus_ratelimit_algo.c, the synchronised mode (sync=) in
 * ngx_octopus_ratelimit_sync.c.
 */


#include "ngx_octopus_ratelimit.h"
#include "ngx_octopus_mark.h"


static char *ngx_octopus_rl_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_rl_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_rl_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_rl_ban(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_rl_lockout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_rl_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_octopus_rl_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_octopus_rl_init(ngx_conf_t *cf);
static void *ngx_octopus_rl_create_main_conf(ngx_conf_t *cf);
static char *ngx_octopus_rl_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_octopus_rl_create_loc_conf(ngx_conf_t *cf);
static char *ngx_octopus_rl_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_octopus_rl_init_process(ngx_cycle_t *cycle);
static void ngx_octopus_rl_exit_process(ngx_cycle_t *cycle);
static char *ngx_octopus_rl_add_shm(ngx_conf_t *cf,
    ngx_shm_zone_t **shm_zone, ngx_str_t *name, size_t size);
static ngx_octopus_rl_zone_t *ngx_octopus_rl_find_zone(
    ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *name);
static ngx_octopus_rl_zone_t *ngx_octopus_rl_zone_ref(ngx_conf_t *cf,
    ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *name);
static ngx_int_t ngx_octopus_rl_parse_rate(ngx_str_t *value,
    ngx_uint_t *rate, ngx_msec_t *period);
static ngx_int_t ngx_octopus_rl_parse_ms(ngx_str_t *value, ngx_msec_t *ms);
static ngx_int_t ngx_octopus_rl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_octopus_rl_login_field_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_octopus_rl_login_body_max(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* the body is held in memory while it is read: at most 16m */
#define NGX_OCTOPUS_RL_LOGIN_BODY_LIMIT  (16 * 1024 * 1024)


static ngx_conf_post_t  ngx_octopus_rl_login_field_post =
    { ngx_octopus_rl_login_field_check };


static ngx_conf_enum_t  ngx_octopus_rl_failure_modes[] = {
    { ngx_string("local"), NGX_OCTOPUS_RL_FAIL_LOCAL },
    { ngx_string("open"), NGX_OCTOPUS_RL_FAIL_OPEN },
    { ngx_string("closed"), NGX_OCTOPUS_RL_FAIL_CLOSED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_octopus_ratelimit_commands[] = {

    { ngx_string("octopus_ratelimit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_octopus_rl_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_octopus_rl_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_rl_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit_redis_failure"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_octopus_rl_main_conf_t, failure),
      &ngx_octopus_rl_failure_modes },

    { ngx_string("octopus_ratelimit_ban"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_rl_ban,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_rl_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit_login_field"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_rl_loc_conf_t, login_field),
      &ngx_octopus_rl_login_field_post },

    { ngx_string("octopus_ratelimit_login_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_rl_login_body_max,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit_login_normalize"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_rl_loc_conf_t, login_normalize),
      NULL },

    { ngx_string("octopus_ratelimit_lockout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_octopus_rl_lockout,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_ratelimit_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_octopus_rl_metrics,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_octopus_ratelimit_module_ctx = {
    ngx_octopus_rl_add_variables,          /* preconfiguration */
    ngx_octopus_rl_init,                   /* postconfiguration */

    ngx_octopus_rl_create_main_conf,       /* create main configuration */
    ngx_octopus_rl_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_octopus_rl_create_loc_conf,        /* create location configuration */
    ngx_octopus_rl_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_octopus_ratelimit_module = {
    NGX_MODULE_V1,
    &ngx_octopus_ratelimit_module_ctx,     /* module context */
    ngx_octopus_ratelimit_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_octopus_init_module,               /* init module */
    ngx_octopus_rl_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_octopus_rl_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_OCTOPUS_RL_VAR_RESULT     0
#define NGX_OCTOPUS_RL_VAR_ZONE       1
#define NGX_OCTOPUS_RL_VAR_REMAINING  2
#define NGX_OCTOPUS_RL_VAR_LOGIN      3


static ngx_http_variable_t  ngx_octopus_rl_vars[] = {

    { ngx_string("octopus_ratelimit_result"), NULL,
      ngx_octopus_rl_variable, NGX_OCTOPUS_RL_VAR_RESULT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_ratelimit_zone"), NULL,
      ngx_octopus_rl_variable, NGX_OCTOPUS_RL_VAR_ZONE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_ratelimit_remaining"), NULL,
      ngx_octopus_rl_variable, NGX_OCTOPUS_RL_VAR_REMAINING,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_login_user"), NULL,
      ngx_octopus_rl_variable, NGX_OCTOPUS_RL_VAR_LOGIN,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static char *
ngx_octopus_rl_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_main_conf_t *rmcf = conf;

    ssize_t                            size;
    ngx_str_t                         *value, k, v;
    ngx_uint_t                         i, have_burst;
    ngx_octopus_rl_zone_t             *zone, **zp;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    /* a zone referenced before (octopus_ratelimit, ban) is declared here */

    zone = ngx_octopus_rl_find_zone(rmcf, &value[1]);
    if (zone != NULL && zone->shm_zone != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate octopus_ratelimit_zone \"%V\", "
                           "first defined in %V:%ui",
                           &value[1], &zone->file, zone->line);
        return NGX_CONF_ERROR;
    }

    if (zone == NULL) {
        zone = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_zone_t));
        if (zone == NULL) {
            return NGX_CONF_ERROR;
        }

        zp = ngx_array_push(&rmcf->zones);
        if (zp == NULL) {
            return NGX_CONF_ERROR;
        }

        *zp = zone;
    }

    zone->name = value[1];
    zone->size = 10 * 1024 * 1024;
    zone->algorithm = NGX_OCTOPUS_RL_SLIDING_WINDOW;
    zone->file = cf->conf_file->file.name;
    zone->line = cf->conf_file->line;
    have_burst = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &k, &v) != NGX_OK) {
            goto invalid;
        }

        if (k.len == 3 && ngx_strncmp(k.data, "key", 3) == 0) {
            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &v;
            ccv.complex_value = &zone->key;

            if (v.len == 0 || ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (k.len == 4 && ngx_strncmp(k.data, "rate", 4) == 0) {
            if (ngx_octopus_rl_parse_rate(&v, &zone->rate, &zone->period)
                != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if (k.len == 4 && ngx_strncmp(k.data, "sync", 4) == 0) {
            if (ngx_octopus_rl_sync_parse(cf, zone, &v) != NGX_CONF_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (k.len == 5 && ngx_strncmp(k.data, "burst", 5) == 0) {
            zone->burst = ngx_atoi(v.data, v.len);
            if (zone->burst == (ngx_uint_t) NGX_ERROR
                || zone->burst > NGX_OCTOPUS_RL_MAX_COUNT)
            {
                goto invalid;
            }

            have_burst = 1;
            continue;
        }

        if (k.len == 4 && ngx_strncmp(k.data, "size", 4) == 0) {
            size = ngx_parse_size(&v);
            if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                goto invalid;
            }

            zone->size = size;
            continue;
        }

        if (k.len == 9 && ngx_strncmp(k.data, "algorithm", 9) == 0) {
            if (v.len == 14
                && ngx_strncmp(v.data, "sliding_window", 14) == 0)
            {
                zone->algorithm = NGX_OCTOPUS_RL_SLIDING_WINDOW;

            } else if (v.len == 4 && ngx_strncmp(v.data, "gcra", 4) == 0) {
                zone->algorithm = NGX_OCTOPUS_RL_GCRA;

            } else {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (zone->key.value.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_zone \"%V\" needs key=",
                           &zone->name);
        return NGX_CONF_ERROR;
    }

    if (zone->rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_zone \"%V\" needs rate=",
                           &zone->name);
        return NGX_CONF_ERROR;
    }

    if (have_burst && zone->algorithm != NGX_OCTOPUS_RL_GCRA) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_zone \"%V\": burst= needs "
                           "algorithm=gcra", &zone->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_rl_sync_check_zone(cf, zone) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_octopus_rl_add_shm(cf, &zone->shm_zone, &zone->name,
                                  zone->size);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid octopus_ratelimit_zone parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_octopus_rl_zone_t *
ngx_octopus_rl_find_zone(ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_octopus_rl_zone_t  **zone;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->name.len == name->len
            && ngx_strncmp(zone[i]->name.data, name->data, name->len) == 0)
        {
            return zone[i];
        }
    }

    return NULL;
}


/*
 * A zone named by octopus_ratelimit or octopus_ratelimit_ban: the zone, or
 * one to be declared later in the configuration (as limit_req allows),
 * with no shared memory yet and the place of its first reference, checked
 * in init_main_conf.
 */

static ngx_octopus_rl_zone_t *
ngx_octopus_rl_zone_ref(ngx_conf_t *cf, ngx_octopus_rl_main_conf_t *rmcf,
    ngx_str_t *name)
{
    ngx_octopus_rl_zone_t  *zone, **zp;

    zone = ngx_octopus_rl_find_zone(rmcf, name);
    if (zone) {
        return zone;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zp = ngx_array_push(&rmcf->zones);
    if (zp == NULL) {
        return NULL;
    }

    *zp = zone;

    zone->name = *name;
    zone->file = cf->conf_file->file.name;
    zone->line = cf->conf_file->line;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "octopus_ratelimit: zone \"%V\" referenced before its "
                   "declaration", name);

    return zone;
}


/*
 * "100r/s", "60r/m", "5000r/h"; a rate of zero is refused, and so is one
 * above a million per period (the arithmetic stays exact in Lua's doubles)
 */

static ngx_int_t
ngx_octopus_rl_parse_rate(ngx_str_t *value, ngx_uint_t *rate,
    ngx_msec_t *period)
{
    ngx_int_t  n;

    if (value->len < 4
        || ngx_strncmp(value->data + value->len - 3, "r/", 2) != 0)
    {
        return NGX_ERROR;
    }

    switch (value->data[value->len - 1]) {
    case 's':
        *period = 1000;
        break;
    case 'm':
        *period = 60 * 1000;
        break;
    case 'h':
        *period = 60 * 60 * 1000;
        break;
    default:
        return NGX_ERROR;
    }

    n = ngx_atoi(value->data, value->len - 3);
    if (n == NGX_ERROR || n == 0 || n > NGX_OCTOPUS_RL_MAX_COUNT) {
        return NGX_ERROR;
    }

    *rate = n;

    return NGX_OK;
}


static char *
ngx_octopus_rl_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_loc_conf_t *rlcf = conf;

    ngx_str_t                   *value;
    ngx_octopus_rl_zone_t       *zone;
    ngx_octopus_rl_limit_t      *limit;
    ngx_octopus_rl_main_conf_t  *rmcf;

    value = cf->args->elts;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_octopus_ratelimit_module);

    zone = ngx_octopus_rl_zone_ref(cf, rmcf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rlcf->limits == NULL) {
        rlcf->limits = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_octopus_rl_limit_t));
        if (rlcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(rlcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->zone = zone;
    limit->dry_run = 0;

    if (cf->args->nelts == 3) {
        if (value[2].len != 7 || ngx_strncmp(value[2].data, "dry_run", 7) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid octopus_ratelimit parameter \"%V\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        limit->dry_run = 1;
    }

    return NGX_CONF_OK;
}



static char *
ngx_octopus_rl_add_shm(ngx_conf_t *cf, ngx_shm_zone_t **shm_zone,
    ngx_str_t *name, size_t size)
{
    u_char                *p;
    ngx_str_t              shm_name;
    ngx_octopus_rl_shm_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_shm_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a prefix keeps the name apart from limit_req's and others' zones */

    shm_name.len = sizeof("octopus_ratelimit:") - 1 + name->len;
    shm_name.data = ngx_pnalloc(cf->pool, shm_name.len);
    if (shm_name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(shm_name.data, "octopus_ratelimit:",
                   sizeof("octopus_ratelimit:") - 1);
    ngx_memcpy(p, name->data, name->len);

    ctx->name = *name;

    *shm_zone = ngx_shared_memory_add(cf, &shm_name, size,
                                      &ngx_octopus_ratelimit_module);
    if (*shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if ((*shm_zone)->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate octopus_ratelimit zone \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    (*shm_zone)->init = ngx_octopus_rl_shm_init_zone;
    (*shm_zone)->data = ctx;

    return NGX_CONF_OK;
}


/* a positive time: "100ms", "1m", "15m", "1h" */

static ngx_int_t
ngx_octopus_rl_parse_ms(ngx_str_t *value, ngx_msec_t *ms)
{
    ngx_msec_t  t;

    if (value->len == 0 || value->data[0] == '-') {
        return NGX_ERROR;
    }

    t = ngx_parse_time(value, 0);

    if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
        return NGX_ERROR;
    }

    *ms = t;

    return NGX_OK;
}


static char *
ngx_octopus_rl_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_main_conf_t *rmcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value, k, v;
    ngx_uint_t   i;

    if (rmcf->redis.name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_octopus_redis_conf_address(cf, &rmcf->redis, &value[1])
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        rc = ngx_octopus_redis_conf_option(cf, &rmcf->redis, &value[i]);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (ngx_octopus_parse_kv(&value[i], &k, &v) == NGX_OK
            && k.len == 6 && ngx_strncmp(k.data, "prefix", 6) == 0
            && v.len > 0
            && ngx_strlchr(v.data, v.data + v.len, '{') == NULL
            && ngx_strlchr(v.data, v.data + v.len, '}') == NULL)
        {
            rmcf->prefix = v;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid octopus_ratelimit_redis parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_redis_conf_done(cf, &rmcf->redis) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* octopus_ratelimit_ban zone=ip after=5 within=1m for=15m */

static char *
ngx_octopus_rl_ban(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_main_conf_t *rmcf = conf;

    ngx_int_t               n;
    ngx_str_t              *value, k, v, name;
    ngx_uint_t              i, after;
    ngx_msec_t              within, dur;
    ngx_octopus_rl_zone_t  *zone;

    value = cf->args->elts;

    ngx_str_null(&name);
    after = 0;
    within = 0;
    dur = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &k, &v) != NGX_OK) {
            goto invalid;
        }

        if (k.len == 4 && ngx_strncmp(k.data, "zone", 4) == 0) {
            name = v;
            continue;
        }

        if (k.len == 5 && ngx_strncmp(k.data, "after", 5) == 0) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR || n == 0 || n > NGX_OCTOPUS_RL_MAX_COUNT) {
                goto invalid;
            }

            after = n;
            continue;
        }

        if (k.len == 6 && ngx_strncmp(k.data, "within", 6) == 0) {
            if (ngx_octopus_rl_parse_ms(&v, &within) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (k.len == 3 && ngx_strncmp(k.data, "for", 3) == 0) {
            if (ngx_octopus_rl_parse_ms(&v, &dur) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (name.len == 0 || after == 0 || within == 0 || dur == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_ban needs zone=, after=, "
                           "within= and for=");
        return NGX_CONF_ERROR;
    }

    zone = ngx_octopus_rl_zone_ref(cf, rmcf, &name);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->ban_after) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate octopus_ratelimit_ban for zone \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    zone->ban_after = after;
    zone->ban_within = within;
    zone->ban_for = dur;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid octopus_ratelimit_ban parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * octopus_ratelimit_lockout key=$octopus_login_user failures=5 within=15m
 *                           for=15m status=401[,403...]
 *                           [inflight_timeout=60s]
 */

static char *
ngx_octopus_rl_lockout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_loc_conf_t *rlcf = conf;

    u_char                            *p, *last, *comma;
    ngx_int_t                          n;
    ngx_str_t                         *value, k, v;
    ngx_uint_t                         i, *st;
    ngx_octopus_rl_lockout_t          *lo;
    ngx_octopus_rl_main_conf_t        *rmcf;
    ngx_http_compile_complex_value_t   ccv;

    if (rlcf->lockout != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    lo = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_lockout_t));
    if (lo == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&lo->status, cf->pool, 2, sizeof(ngx_uint_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &k, &v) != NGX_OK) {
            goto invalid;
        }

        if (k.len == 3 && ngx_strncmp(k.data, "key", 3) == 0) {
            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &v;
            ccv.complex_value = &lo->key;

            if (v.len == 0 || ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (k.len == 8 && ngx_strncmp(k.data, "failures", 8) == 0) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR || n == 0 || n > NGX_OCTOPUS_RL_MAX_COUNT) {
                goto invalid;
            }

            lo->failures = n;
            continue;
        }

        if (k.len == 6 && ngx_strncmp(k.data, "within", 6) == 0) {
            if (ngx_octopus_rl_parse_ms(&v, &lo->within) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (k.len == 3 && ngx_strncmp(k.data, "for", 3) == 0) {
            if (ngx_octopus_rl_parse_ms(&v, &lo->duration) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (k.len == 16 && ngx_strncmp(k.data, "inflight_timeout", 16) == 0) {
            if (ngx_octopus_rl_parse_ms(&v, &lo->inflight_timeout) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (k.len == 6 && ngx_strncmp(k.data, "status", 6) == 0) {
            p = v.data;
            last = v.data + v.len;

            while (p < last) {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                n = ngx_atoi(p, comma - p);
                if (n < 100 || n > 599) {
                    goto invalid;
                }

                st = ngx_array_push(&lo->status);
                if (st == NULL) {
                    return NGX_CONF_ERROR;
                }

                *st = n;
                p = comma + 1;
            }

            if (lo->status.nelts == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (lo->key.value.data == NULL || lo->failures == 0 || lo->within == 0
        || lo->duration == 0 || lo->status.nelts == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_lockout needs key=, failures=, "
                           "within=, for= and status=");
        return NGX_CONF_ERROR;
    }

    if (lo->inflight_timeout == 0) {
        lo->inflight_timeout = 60000;
    }

    rlcf->lockout = lo;

    /* one zone for every lockout: the key is the account, not the place */

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_octopus_ratelimit_module);

    if (rmcf->lockout_zone == NULL) {
        static ngx_str_t  name = ngx_string("(lockout)");

        if (ngx_octopus_rl_add_shm(cf, &rmcf->lockout_zone, &name,
                                   4 * 1024 * 1024)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid octopus_ratelimit_lockout parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_octopus_rl_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_loc_conf_t *rlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (rlcf->status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 400 || n > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid octopus_ratelimit_status \"%V\", "
                           "must be between 400 and 599", &value[1]);
        return NGX_CONF_ERROR;
    }

    rlcf->status = n;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_octopus_rl_add_variables(ngx_conf_t *cf)
{
    return ngx_octopus_add_variables(cf, ngx_octopus_rl_vars);
}


static ngx_int_t
ngx_octopus_rl_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                           *p;
    ngx_str_t                        *s, value;
    ngx_octopus_rl_ctx_t             *ctx;
    const ngx_octopus_result_name_t  *name;

    ctx = ngx_octopus_rl_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_OCTOPUS_RL_VAR_LOGIN:
        s = &ctx->login_user;
        break;

    case NGX_OCTOPUS_RL_VAR_RESULT:
        s = NULL;

        if (ctx->decided) {
            name = &ngx_octopus_rl_result_names()[ctx->result];
            value.len = name->len;
            value.data = (u_char *) name->data;
            s = &value;
        }

        break;

    case NGX_OCTOPUS_RL_VAR_ZONE:
        s = (ctx->decided && ctx->tightest)
            ? &ctx->tightest->limit->zone->name : NULL;
        break;

    default: /* NGX_OCTOPUS_RL_VAR_REMAINING */

        if (!ctx->decided || ctx->tightest == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(p, "%uL", ctx->tightest->res.remaining) - p;
        v->data = p;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_rl_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_octopus_rl_handler;

    return ngx_octopus_rl_filter_init(cf);
}


static void *
ngx_octopus_rl_create_main_conf(ngx_conf_t *cf)
{
    ngx_octopus_rl_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->prefix = { 0, NULL };
     *     rmcf->lockout_zone = NULL;
     *     rmcf->lock_recheck = 0;
     *     rmcf->conn = NULL;
     */

    if (ngx_array_init(&rmcf->zones, cf->pool, 4,
                       sizeof(ngx_octopus_rl_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_octopus_redis_conf_init(&rmcf->redis);

    rmcf->failure = NGX_CONF_UNSET_UINT;

    return rmcf;
}


static char *
ngx_octopus_rl_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_octopus_rl_main_conf_t *rmcf = conf;

    ngx_uint_t               i;
    ngx_octopus_rl_shm_t    *ctx;
    ngx_octopus_rl_zone_t  **zone;

    ngx_conf_init_uint_value(rmcf->failure, NGX_OCTOPUS_RL_FAIL_LOCAL);

    if (rmcf->prefix.data == NULL) {
        ngx_str_set(&rmcf->prefix, "octopus:rl:");
    }

    /* every zone referenced is declared, before or after its references */

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->shm_zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown octopus_ratelimit_zone \"%V\" in %V:%ui",
                          &zone[i]->name, &zone[i]->file, zone[i]->line);
            return NGX_CONF_ERROR;
        }
    }

    /* how long an idle key is worth keeping in shared memory */

    for (i = 0; i < rmcf->zones.nelts; i++) {
        ctx = zone[i]->shm_zone->data;
        ctx->ttl = 2 * zone[i]->period + zone[i]->ban_within;
    }

    if (rmcf->lockout_zone) {
        ctx = rmcf->lockout_zone->data;
        ctx->ttl = 1000;
    }

    /*
     * a ban or lock Redis reported is asked of it again, so one lifted
     * there ends; a synchronised zone's come with its merges, and without
     * Redis shared memory is the only record
     */

    if (rmcf->redis.name.len) {
        rmcf->lock_recheck = NGX_OCTOPUS_RL_RECHECK;

        for (i = 0; i < rmcf->zones.nelts; i++) {
            if (zone[i]->sync == 0) {
                zone[i]->ban_recheck = NGX_OCTOPUS_RL_RECHECK;
            }
        }
    }

    if (ngx_octopus_rl_counters_conf(cf, rmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_rl_lua_init(rmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_rl_sync_check(cf, rmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_octopus_rl_create_loc_conf(ngx_conf_t *cf)
{
    ngx_octopus_rl_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->limits = NULL;
     */

    conf->status = NGX_CONF_UNSET_UINT;
    conf->lockout = NGX_CONF_UNSET_PTR;
    conf->login_body_max = NGX_CONF_UNSET_SIZE;
    conf->login_normalize = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_octopus_rl_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_octopus_rl_loc_conf_t *prev = parent;
    ngx_octopus_rl_loc_conf_t *conf = child;

    if (conf->limits == NULL) {
        conf->limits = prev->limits;
    }

    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_str_value(conf->login_field, prev->login_field, "");
    ngx_conf_merge_size_value(conf->login_body_max, prev->login_body_max,
                              NGX_OCTOPUS_RL_BODY_MAX);
    ngx_conf_merge_value(conf->login_normalize, prev->login_normalize, 1);
    ngx_conf_merge_ptr_value(conf->lockout, prev->lockout, NULL);

    /* the auth module strips client identity headers in this server */

    if (conf->limits || conf->lockout || conf->login_field.len) {
        ngx_octopus_mark_server(cf);
    }

    return NGX_CONF_OK;
}


/* the field name is compared with keys decoded into 256 bytes */

static char *
ngx_octopus_rl_login_field_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *field = data;

    if (field->len == 0 || field->len >= NGX_OCTOPUS_RL_LOGIN_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid octopus_ratelimit_login_field \"%V\": "
                           "1 to %d bytes", field,
                           NGX_OCTOPUS_RL_LOGIN_MAX - 1);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_octopus_rl_login_body_max(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_rl_loc_conf_t *rlcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (rlcf->login_body_max != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size <= 0 || size > NGX_OCTOPUS_RL_LOGIN_BODY_LIMIT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid octopus_ratelimit_login_body_max \"%V\": "
                           "1 to 16m", &value[1]);
        return NGX_CONF_ERROR;
    }

    rlcf->login_body_max = (size_t) size;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_octopus_rl_init_process(ngx_cycle_t *cycle)
{
    ngx_octopus_rl_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_octopus_ratelimit_module);

    if (rmcf == NULL || rmcf->redis.name.len == 0) {
        return NGX_OK;
    }

    /* lockout reservation ids: a random base per worker, then a counter */

    rmcf->rid_base = ((uint64_t) ngx_random() << 32)
                     ^ (uint64_t) ngx_random() ^ ngx_octopus_rl_now();
    rmcf->rid_seq = 0;

    ngx_octopus_rl_lua_orphans_init(rmcf, cycle->log);
    ngx_octopus_rl_fallback_init(rmcf, cycle->log);

    /* one connection per worker, shared by all its requests */

    rmcf->conn = ngx_octopus_redis_create(&rmcf->redis, cycle->pool,
                                          cycle->log);

    ngx_octopus_rl_sync_init_process(rmcf, cycle->log);

    return NGX_OK;
}


static void
ngx_octopus_rl_exit_process(ngx_cycle_t *cycle)
{
    ngx_octopus_rl_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_octopus_ratelimit_module);

    if (rmcf && rmcf->conn) {
        ngx_octopus_rl_sync_exit_process(rmcf);
        ngx_octopus_redis_destroy(rmcf->conn);
        rmcf->conn = NULL;
        ngx_octopus_rl_lua_orphans_free(rmcf);
        ngx_octopus_rl_fallback_done(rmcf);
    }
}
