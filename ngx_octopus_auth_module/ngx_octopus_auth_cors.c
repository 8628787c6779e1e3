
/*
 * Copyright (C) Octopus Guard authors
 *
 * CORS: the preflight answer (access phase) and a header filter that gives
 * every response of a location with octopus_cors_origins, whoever made it
 * (the upstream, this module's 401/403, the rate limiter's 429/403/503,
 * its 400/413 for a login body, nginx's own errors), the same CORS
 * headers for a listed origin, so a browser application reads a refusal
 * as the refusal it is and not as a network error.
 */


#include "ngx_octopus_auth.h"


static ngx_table_elt_t *ngx_octopus_auth_cors_origin(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_table_elt_t *origin);
static ngx_int_t ngx_octopus_auth_cors_header_filter(ngx_http_request_t *r);
static void ngx_octopus_auth_cors_drop(ngx_http_request_t *r);


/* what a script may read of a refusal: the wait, the quota, the reason */

static ngx_str_t  ngx_octopus_auth_cors_expose = ngx_string(
    "Retry-After, RateLimit, RateLimit-Policy, RateLimit-Limit, "
    "RateLimit-Remaining, RateLimit-Reset, WWW-Authenticate");


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* the request's Origin header when it is listed, else NULL */

static ngx_table_elt_t *
ngx_octopus_auth_cors_origin(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_table_elt_t *origin)
{
    ngx_str_t   *origins;
    ngx_uint_t   i;

    if (origin == NULL) {
        return NULL;
    }

    origins = alcf->cors_origins->elts;

    for (i = 0; i < alcf->cors_origins->nelts; i++) {
        if ((origins[i].len == 1 && origins[i].data[0] == '*')
            || (origins[i].len == origin->value.len
                && ngx_strncasecmp(origins[i].data, origin->value.data,
                                   origins[i].len)
                   == 0))
        {
            return origin;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus cors: origin \"%V\" not listed", &origin->value);

    return NULL;
}


/*
 * A preflight (OPTIONS with Access-Control-Request-Method) from a listed
 * origin: the allowed methods, headers and max age; the filter adds the
 * origin.  Answered without authentication.
 */

ngx_int_t
ngx_octopus_auth_cors_preflight(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_uint_t *preflight)
{
    u_char           *p;
    ngx_str_t         age;
    ngx_table_elt_t  *origin;

    *preflight = 0;

    if (alcf->cors_origins == NULL
        || r->method != NGX_HTTP_OPTIONS
        || ngx_octopus_auth_find_header(r,
                                   (u_char *) "Access-Control-Request-Method",
                                   29, NULL)
           == NULL)
    {
        return NGX_OK;
    }

    origin = ngx_octopus_auth_find_header(r, (u_char *) "Origin", 6, NULL);

    if (ngx_octopus_auth_cors_origin(r, alcf, origin) == NULL) {
        return NGX_OK;
    }

    *preflight = 1;

    if (ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                    "Access-Control-Allow-Methods",
                                    &alcf->cors_methods)
           != NGX_OK
        || ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                       "Access-Control-Allow-Headers",
                                       &alcf->cors_headers)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (alcf->cors_max_age > 0) {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        age.data = p;
        age.len = ngx_sprintf(p, "%T", alcf->cors_max_age) - p;

        if (ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                        "Access-Control-Max-Age", &age)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_octopus_auth_cors_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_octopus_auth_cors_header_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_auth_cors_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                     vary, yes;
    ngx_table_elt_t              *origin;
    ngx_octopus_auth_loc_conf_t  *alcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_octopus_auth_module);

    if (alcf->cors_origins == NULL) {
        return ngx_http_next_header_filter(r);
    }

    /* the policy is ours: an upstream cannot allow another origin */

    ngx_octopus_auth_cors_drop(r);

    origin = ngx_octopus_auth_find_header(r, (u_char *) "Origin", 6, NULL);
    if (origin == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ngx_str_set(&vary, "Origin");

    if (ngx_octopus_auth_set_header(r, &r->headers_out.headers, "Vary",
                                    &vary)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    origin = ngx_octopus_auth_cors_origin(r, alcf, origin);

    if (origin == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                    "Access-Control-Allow-Origin",
                                    &origin->value)
           != NGX_OK
        || ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                       "Access-Control-Expose-Headers",
                                       &ngx_octopus_auth_cors_expose)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (alcf->cors_credentials) {
        ngx_str_set(&yes, "true");

        if (ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                        "Access-Control-Allow-Credentials",
                                        &yes)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


/* Access-Control-Allow-Origin, -Allow-Credentials, -Expose-Headers go */

static void
ngx_octopus_auth_cors_drop(ngx_http_request_t *r)
{
    ngx_str_t        *name;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("Access-Control-Allow-Origin"),
        ngx_string("Access-Control-Allow-Credentials"),
        ngx_string("Access-Control-Expose-Headers"),
        ngx_null_string
    };

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        for (name = names; name->len; name++) {
            if (h[i].key.len == name->len
                && ngx_strncasecmp(h[i].key.data, name->data, name->len)
                   == 0)
            {
                h[i].hash = 0;
                break;
            }
        }
    }
}
