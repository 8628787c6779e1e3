
/*
 * Copyright (C) Octopus Guard authors
 *
 * ngx_octopus_ratelimit_module: sliding-window rate limits shared through
 * Redis, bans and login lockout.  This file holds the configuration; the
 * limiting itself arrives with the rate-limit features.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"


#define NGX_OCTOPUS_RL_SLIDING_WINDOW  0
#define NGX_OCTOPUS_RL_GCRA            1


typedef struct {
    ngx_str_t                   name;
    ngx_http_complex_value_t    key;
    ngx_uint_t                  rate;        /* requests per period */
    ngx_msec_t                  period;
    ngx_uint_t                  burst;
    ngx_uint_t                  algorithm;
    size_t                      size;
    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_octopus_rl_zone_t;


typedef struct {
    ngx_array_t                 zones;       /* ngx_octopus_rl_zone_t * */
} ngx_octopus_rl_main_conf_t;


typedef struct {
    ngx_octopus_rl_zone_t      *zone;
    ngx_flag_t                  dry_run;
} ngx_octopus_rl_limit_t;


typedef struct {
    ngx_array_t                *limits;      /* ngx_octopus_rl_limit_t */
} ngx_octopus_rl_loc_conf_t;


static char *ngx_octopus_rl_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_rl_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_octopus_rl_create_main_conf(ngx_conf_t *cf);
static void *ngx_octopus_rl_create_loc_conf(ngx_conf_t *cf);
static char *ngx_octopus_rl_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_octopus_rl_zone_t *ngx_octopus_rl_find_zone(
    ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *name);
static ngx_int_t ngx_octopus_rl_parse_rate(ngx_str_t *value,
    ngx_uint_t *rate, ngx_msec_t *period);


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

      ngx_null_command
};


static ngx_http_module_t  ngx_octopus_ratelimit_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_octopus_rl_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */

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
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
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

    zone = ngx_octopus_rl_find_zone(rmcf, &value[1]);
    if (zone != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate octopus_ratelimit_zone \"%V\", "
                           "first defined in %V:%ui",
                           &value[1], &zone->file, zone->line);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zp = ngx_array_push(&rmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    zone->name = value[1];
    zone->size = 10 * 1024 * 1024;
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

        if (k.len == 5 && ngx_strncmp(k.data, "burst", 5) == 0) {
            zone->burst = ngx_atoi(v.data, v.len);
            if (zone->burst == (ngx_uint_t) NGX_ERROR) {
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

    return NGX_CONF_OK;

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


/* "100r/s", "60r/m", "5000r/h"; a rate of zero is refused */

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
    if (n == NGX_ERROR || n == 0) {
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

    zone = ngx_octopus_rl_find_zone(rmcf, &value[1]);
    if (zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown octopus_ratelimit_zone \"%V\"", &value[1]);
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


static void *
ngx_octopus_rl_create_main_conf(ngx_conf_t *cf)
{
    ngx_octopus_rl_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_rl_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->zones, cf->pool, 4,
                       sizeof(ngx_octopus_rl_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
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

    return NGX_CONF_OK;
}
