
/*
 * Copyright (C) Octopus Guard authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"


static ngx_int_t ngx_octopus_counters_init_zone(ngx_shm_zone_t *zone,
    void *data);


/*
 * Splits a "name=value" directive argument.  Returns NGX_DECLINED when the
 * argument has no '=' (a positional argument), NGX_OK otherwise.
 */

ngx_int_t
ngx_octopus_parse_kv(ngx_str_t *arg, ngx_str_t *key, ngx_str_t *value)
{
    u_char  *eq;

    eq = ngx_strlchr(arg->data, arg->data + arg->len, '=');

    if (eq == NULL) {
        return NGX_DECLINED;
    }

    key->data = arg->data;
    key->len = eq - arg->data;

    value->data = eq + 1;
    value->len = arg->data + arg->len - value->data;

    return NGX_OK;
}


/* registers a module's variables, a table ended by ngx_http_null_variable */

ngx_int_t
ngx_octopus_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->set_handler = v->set_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * init_module of each module: one line in the error log naming the build,
 * once per configuration cycle, in the master (and in nginx -t), after the
 * new cycle's error logs are open; not in every worker, as init_process
 * would be.  A reload logs it again: after an upgrade it names the build
 * now loaded.
 */

ngx_int_t
ngx_octopus_init_module(ngx_cycle_t *cycle)
{
    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0, "%V %V (commit %V) loaded",
                  &ngx_octopus_build.module, &ngx_octopus_build.version,
                  &ngx_octopus_build.commit);

    return NGX_OK;
}


/*
 * A metrics location's answer: b holds the module's Prometheus text (the
 * body may be empty), followed here by octopus_build_info, the build of
 * the module answering; the phase handler returns what this returns
 */

static const char  ngx_octopus_build_info[] =
    "# HELP octopus_build_info The Octopus Guard module build answering.\n"
    "# TYPE octopus_build_info gauge\n"
    "octopus_build_info{module=\"%V\",version=\"%V\",commit=\"%V\"} 1\n";


ngx_int_t
ngx_octopus_send_metrics(ngx_http_request_t *r, ngx_buf_t *b)
{
    size_t        len;
    ngx_int_t     rc;
    ngx_buf_t    *info;
    ngx_chain_t   out[2];

    len = sizeof(ngx_octopus_build_info) - 1
          + ngx_octopus_build.module.len + ngx_octopus_build.version.len
          + ngx_octopus_build.commit.len;

    info = ngx_create_temp_buf(r->pool, len);
    if (info == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    info->last = ngx_sprintf(info->last, ngx_octopus_build_info,
                             &ngx_octopus_build.module,
                             &ngx_octopus_build.version,
                             &ngx_octopus_build.commit);
    info->last_buf = (r == r->main) ? 1 : 0;
    info->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = (b->last - b->pos)
                                      + (info->last - info->pos);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out[1].buf = info;
    out[1].next = NULL;

    if (b->last == b->pos) {
        /* an empty buffer in the chain would be a "zero size buf" alert */
        return ngx_http_output_filter(r, &out[1]);
    }

    out[0].buf = b;
    out[0].next = &out[1];

    return ngx_http_output_filter(r, &out[0]);
}


/*
 * Answers {"error":"...","reason":"..."} with the status and finishes the
 * request (the phase handler returns what this returns: NGX_DONE).  Both
 * strings are static ASCII without quotes or backslashes.  The caller has
 * dealt with the request body.
 */

ngx_int_t
ngx_octopus_send_json_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *reason)
{
    size_t        len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_str_t     type;
    ngx_chain_t   out;

    len = sizeof("{\"error\":\"\",\"reason\":\"\"}\n") - 1
          + ngx_strlen(error) + ngx_strlen(reason);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    b->last = ngx_sprintf(b->last, "{\"error\":\"%s\",\"reason\":\"%s\"}\n",
                          error, reason);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_str_set(&type, "application/json");

    r->headers_out.status = status;
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_length_n = b->last - b->pos;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


/*
 * The request body read so far as one buffer of the pool, from memory and
 * from the temporary file it spilled into (the file's offset is left as it
 * was: the body still goes to the upstream).  NGX_DECLINED: over max bytes.
 */

ngx_int_t
ngx_octopus_body_bytes(ngx_http_request_t *r, size_t max, u_char **body,
    size_t *len)
{
    off_t                     size, offset;
    u_char                   *p;
    ssize_t                   n;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    *len = 0;
    *body = NULL;

    rb = r->request_body;

    if (rb == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        return NGX_OK;
    }

    if (size > (off_t) max) {
        return NGX_DECLINED;
    }

    *body = ngx_pnalloc(r->pool, (size_t) size);
    if (*body == NULL) {
        return NGX_ERROR;
    }

    p = *body;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file || b->file_last <= b->file_pos) {
            continue;
        }

        offset = b->file->offset;

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        b->file->offset = offset;

        if (n != (ssize_t) (b->file_last - b->file_pos)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus: request body: read %z of %O bytes from "
                          "\"%V\"", n, b->file_last - b->file_pos,
                          &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    *len = p - *body;

    return NGX_OK;
}


/*
 * The headers that decide how a body reads: returns how many Content-Type
 * headers the request has (nginx keeps the first, a backend may read the
 * last) and sets *encoding to the first Content-Encoding other than
 * "identity" (a body we would read still compressed), or NULL.
 */

ngx_uint_t
ngx_octopus_body_headers(ngx_http_request_t *r, ngx_table_elt_t **encoding)
{
    u_char           *p, *last;
    ngx_uint_t        i, ctypes;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ctypes = 0;
    *encoding = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return ctypes;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Content-Type") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Type",
                               sizeof("Content-Type") - 1) == 0)
        {
            ctypes++;
            continue;
        }

        if (*encoding
            || h[i].key.len != sizeof("Content-Encoding") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Encoding",
                               sizeof("Content-Encoding") - 1) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }

        if (last - p != sizeof("identity") - 1
            || ngx_strncasecmp(p, (u_char *) "identity",
                               sizeof("identity") - 1) != 0)
        {
            *encoding = &h[i];
        }
    }
}


/*
 * A module's counters: "size" zeroed bytes in a small zone of their own
 * (8 pages), created with the configuration whatever else it declares, and
 * kept over reloads.  zone->data is the counters once the zone is up.
 */

ngx_shm_zone_t *
ngx_octopus_counters_zone(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    size_t          *sz;
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, name, 8 * ngx_pagesize, tag);
    if (zone == NULL) {
        return NULL;
    }

    sz = ngx_palloc(cf->pool, sizeof(size_t));
    if (sz == NULL) {
        return NULL;
    }

    *sz = size;

    /* until the zone is initialised, its data is the counters' size */
    zone->init = ngx_octopus_counters_init_zone;
    zone->data = sz;

    return zone;
}


static ngx_int_t
ngx_octopus_counters_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t            size;
    void             *c;
    ngx_slab_pool_t  *shpool;

    if (data) {
        /* a reload: the counters go on */
        zone->data = data;
        return NGX_OK;
    }

    size = *(size_t *) zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    c = ngx_slab_calloc(shpool, size);
    if (c == NULL) {
        return NGX_ERROR;
    }

    shpool->data = c;
    zone->data = c;

    return NGX_OK;
}
