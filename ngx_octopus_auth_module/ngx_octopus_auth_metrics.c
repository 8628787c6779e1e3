
/*
 * Copyright (C) Octopus Guard authors
 *
 * octopus_auth_metrics: the location answers GET and HEAD with the auth
 * module's counters as Prometheus text, each part (the verification
 * cache, the key set fetched from a URL, the revocation list) writing its
 * own lines.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth.h"


static ngx_int_t ngx_octopus_auth_metrics_handler(ngx_http_request_t *r);


typedef u_char *(*ngx_octopus_auth_metrics_part_pt)(
    ngx_octopus_auth_main_conf_t *amcf, u_char *p);


static ngx_octopus_auth_metrics_part_pt  ngx_octopus_auth_metrics_parts[] = {
    ngx_octopus_auth_jwt_cache_metrics,
    ngx_octopus_auth_jwks_url_metrics,
    ngx_octopus_auth_revoke_metrics,
};


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
