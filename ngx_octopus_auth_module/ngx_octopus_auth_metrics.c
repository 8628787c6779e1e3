
/*
 * Copyright (C) Octopus Guard authors
 *
 * octopus_auth_metrics: the location answers GET and HEAD with the auth
 * module's counters as Prometheus text, each part (the decisions, the
 * verification cache, the key set fetched from a URL, the revocation list)
 * writing its own lines.
 *
 * The decisions are counted by the access handler in the
 * "octopus_auth_metrics" zone (8 pages, created with the module whatever
 * else is configured, kept over reloads): every location with octopus_auth
 * counts, whether or not the audit module logs it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth.h"


static u_char *ngx_octopus_auth_counters_metrics(
    ngx_octopus_auth_main_conf_t *amcf, u_char *p);
static ngx_int_t ngx_octopus_auth_metrics_handler(ngx_http_request_t *r);


/* allocated from the zone's slab pool */
typedef struct {
    ngx_atomic_t                  results[NGX_OCTOPUS_AUTH_R_N];
} ngx_octopus_auth_counters_t;


typedef u_char *(*ngx_octopus_auth_metrics_part_pt)(
    ngx_octopus_auth_main_conf_t *amcf, u_char *p);


static ngx_octopus_auth_metrics_part_pt  ngx_octopus_auth_metrics_parts[] = {
    ngx_octopus_auth_counters_metrics,
    ngx_octopus_auth_jwt_cache_metrics,
    ngx_octopus_auth_jwks_url_metrics,
    ngx_octopus_auth_revoke_metrics,
};


static ngx_str_t  ngx_octopus_auth_counters_name =
    ngx_string("octopus_auth_metrics");


/* from init_main_conf */

ngx_int_t
ngx_octopus_auth_counters_conf(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf)
{
    ngx_shm_zone_t  *zone;

    zone = ngx_octopus_counters_zone(cf, &ngx_octopus_auth_counters_name,
                                     sizeof(ngx_octopus_auth_counters_t),
                                     &ngx_octopus_auth_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    amcf->counters = zone;

    return NGX_OK;
}


/* one decision of the access handler */

void
ngx_octopus_auth_count(ngx_http_request_t *r, ngx_octopus_auth_ctx_t *ctx)
{
    ngx_octopus_auth_counters_t   *c;
    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_auth_module);

    if (amcf->counters == NULL || amcf->counters->data == NULL
        || ctx->result >= NGX_OCTOPUS_AUTH_R_N)
    {
        return;
    }

    c = amcf->counters->data;

    (void) ngx_atomic_fetch_add(&c->results[ctx->result], 1);
}


/* the decisions' part: about 1100 bytes */

static u_char *
ngx_octopus_auth_counters_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p)
{
    ngx_uint_t                        i;
    ngx_octopus_auth_counters_t      *c;
    const ngx_octopus_result_name_t  *names;

    if (amcf->counters == NULL || amcf->counters->data == NULL) {
        return p;
    }

    c = amcf->counters->data;
    names = ngx_octopus_auth_result_names();

    p = ngx_sprintf(p, "# HELP octopus_auth_requests_total Access decisions "
                    "of the auth module, by result.\n"
                    "# TYPE octopus_auth_requests_total counter\n");

    for (i = 1; i < NGX_OCTOPUS_AUTH_R_N; i++) {
        p = ngx_sprintf(p, "octopus_auth_requests_total{result=\"%s\"} %uA\n",
                        names[i].data, c->results[i]);
    }

    p = ngx_sprintf(p, "# HELP octopus_rbac_denials_total Requests denied "
                    "by RBAC (403, auth result forbidden).\n"
                    "# TYPE octopus_rbac_denials_total counter\n"
                    "octopus_rbac_denials_total %uA\n",
                    c->results[NGX_OCTOPUS_AUTH_R_FORBIDDEN]);

    return p;
}


char *
ngx_octopus_auth_metrics_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_octopus_auth_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_octopus_auth_metrics_handler(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_uint_t                     i, n;
    ngx_octopus_auth_main_conf_t  *amcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_auth_module);

    n = sizeof(ngx_octopus_auth_metrics_parts)
        / sizeof(ngx_octopus_auth_metrics_parts[0]);

    b = ngx_create_temp_buf(r->pool, n * NGX_OCTOPUS_AUTH_METRICS_PART);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    for (i = 0; i < n; i++) {
        p = ngx_octopus_auth_metrics_parts[i](amcf, p);
    }

    b->last = p;
    return ngx_octopus_send_metrics(r, b);
}
