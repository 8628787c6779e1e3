
/*
 * Copyright (C) Octopus Guard authors
 *
 * The early side of ngx_octopus_auth_module, before any location is
 * chosen (post-read phase): the canonical request path
 * (octopus_path_policy, octopus_path_case), and in every server where an
 * Octopus module is active the removal of what a client must not say for
 * the gateway: X-Octopus-* headers in any spelling, method override
 * headers and the "_method" query parameter.  In the access phase the
 * override is honoured where octopus_auth_method_override is on, and RBAC
 * asks here for the effective method.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth.h"
#include "ngx_octopus_path.h"


#define NGX_OCTOPUS_PATH_CASE_SENSITIVE    0
#define NGX_OCTOPUS_PATH_CASE_INSENSITIVE  1


/* what the post-read handler removed, found again after internal redirects */

typedef struct {
    ngx_array_t   overrides;       /* ngx_table_elt_t */
    ngx_str_t     args;            /* as the client sent them */
    ngx_str_t     stripped_args;
    int           method;          /* NGX_OCTOPUS_METHOD_*, -1: none */
    unsigned      conflict:1;
    unsigned      query:1;         /* "_method" was in the query */
    unsigned      restored:1;      /* handed back for an honoured override */
    unsigned      form:1;          /* "_method" in a form body */
    unsigned      json:1;          /* "_method" in a JSON body */
    unsigned      form_read:1;     /* the body was read for it */
    unsigned      form_checked:1;
} ngx_octopus_auth_path_state_t;


static ngx_int_t ngx_octopus_auth_path_handler(ngx_http_request_t *r);
static ngx_int_t ngx_octopus_auth_path_canon(ngx_http_request_t *r,
    ngx_octopus_auth_srv_conf_t *ascf);
static ngx_int_t ngx_octopus_auth_path_query(ngx_http_request_t *r,
    ngx_octopus_auth_path_state_t *state);
static ngx_int_t ngx_octopus_auth_remove_headers(ngx_http_request_t *r,
    ngx_uint_t classes, ngx_octopus_auth_path_state_t *state);
static ngx_octopus_auth_path_state_t *ngx_octopus_auth_path_state(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_octopus_auth_path_cleanup(void *data);
static ngx_int_t ngx_octopus_auth_form(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_octopus_auth_path_state_t *state,
    ngx_uint_t authorized);
static void ngx_octopus_auth_form_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_octopus_auth_form_scan(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_octopus_auth_path_state_t *state,
    ngx_uint_t multipart);
static ngx_int_t ngx_octopus_auth_path_send(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *reason);


ngx_conf_enum_t  ngx_octopus_auth_path_policies[] = {
    { ngx_string("off"), NGX_OCTOPUS_PATH_OFF },
    { ngx_string("strict"), NGX_OCTOPUS_PATH_STRICT },
    { ngx_string("canonical"), NGX_OCTOPUS_PATH_CANONICAL },
    { ngx_null_string, 0 }
};


ngx_conf_enum_t  ngx_octopus_auth_path_cases[] = {
    { ngx_string("sensitive"), NGX_OCTOPUS_PATH_CASE_SENSITIVE },
    { ngx_string("insensitive"), NGX_OCTOPUS_PATH_CASE_INSENSITIVE },
    { ngx_null_string, 0 }
};


/* NGX_OCTOPUS_METHOD_* to nginx's method bits */

static ngx_uint_t  ngx_octopus_auth_path_methods[] = {
    0,
    NGX_HTTP_GET,
    NGX_HTTP_HEAD,
    NGX_HTTP_POST,
    NGX_HTTP_PUT,
    NGX_HTTP_DELETE,
    NGX_HTTP_PATCH,
    NGX_HTTP_OPTIONS
};


void *
ngx_octopus_auth_create_srv_conf(ngx_conf_t *cf)
{
    ngx_octopus_auth_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_auth_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->mark.active = 0;
     *     conf->case_file = NULL;
     */

    conf->path_policy = NGX_CONF_UNSET_UINT;
    conf->path_case = NGX_CONF_UNSET_UINT;

    return conf;
}


char *
ngx_octopus_auth_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_octopus_auth_srv_conf_t *prev = parent;
    ngx_octopus_auth_srv_conf_t *conf = child;

    ngx_conf_merge_uint_value(conf->path_policy, prev->path_policy,
                              NGX_OCTOPUS_PATH_OFF);

    if (conf->path_case == NGX_CONF_UNSET_UINT) {
        conf->path_case = prev->path_case;
        conf->case_file = prev->case_file;
        conf->case_line = prev->case_line;
    }

    if (conf->path_case == NGX_CONF_UNSET_UINT) {
        conf->path_case = NGX_OCTOPUS_PATH_CASE_SENSITIVE;
    }

    if (conf->path_case == NGX_OCTOPUS_PATH_CASE_INSENSITIVE
        && conf->path_policy == NGX_OCTOPUS_PATH_OFF)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"octopus_path_case insensitive\" in %s:%ui needs "
                      "\"octopus_path_policy strict\" or \"canonical\"",
                      conf->case_file, conf->case_line);
        return NGX_CONF_ERROR;
    }

    if (conf->path_policy != NGX_OCTOPUS_PATH_OFF) {
        conf->mark.active = 1;
    }

    return NGX_CONF_OK;
}


/* octopus_path_case: the line is kept for the check in merge */

char *
ngx_octopus_auth_path_case(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_srv_conf_t  *ascf = conf;

    ascf->case_file = cf->conf_file->file.name.data;
    ascf->case_line = cf->conf_file->line;

    return ngx_conf_set_enum_slot(cf, cmd, conf);
}


ngx_int_t
ngx_octopus_auth_path_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* post-read: once per request, before server rewrites and locations */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_octopus_auth_path_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_auth_path_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_octopus_auth_srv_conf_t    *ascf;
    ngx_octopus_auth_path_state_t  *state;

    if (r != r->main || r->internal) {
        return NGX_DECLINED;
    }

    ascf = ngx_http_get_module_srv_conf(r, ngx_octopus_auth_module);

    if (!ascf->mark.active) {
        return NGX_DECLINED;
    }

    if (ascf->path_policy != NGX_OCTOPUS_PATH_OFF) {
        rc = ngx_octopus_auth_path_canon(r, ascf);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    state = ngx_octopus_auth_path_state(r, 1);
    if (state == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a client never speaks for the gateway, nor changes the method */

    if (ngx_octopus_auth_remove_headers(r,
                                        (1 << NGX_OCTOPUS_HEADER_IDENTITY)
                                        | (1 << NGX_OCTOPUS_HEADER_OVERRIDE),
                                        state)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->args.len && ngx_octopus_auth_path_query(r, state) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_octopus_auth_path_canon(ngx_http_request_t *r,
    ngx_octopus_auth_srv_conf_t *ascf)
{
    int          rc;
    size_t       len;
    u_char      *out, *q;
    ngx_str_t    raw, uri;
    const char  *reason;

    raw = r->unparsed_uri;

    q = ngx_strlchr(raw.data, raw.data + raw.len, '?');
    if (q) {
        raw.len = q - raw.data;
    }

    out = ngx_pnalloc(r->pool, raw.len + 1);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_octopus_path_canon(raw.data, raw.len, (int) ascf->path_policy,
                                ascf->path_case
                                == NGX_OCTOPUS_PATH_CASE_INSENSITIVE,
                                out, &len, &reason);

    if (rc < 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus path: refused, %s", reason);

        return ngx_octopus_auth_path_send(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_path", reason);
    }

    if (rc == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus path: canonical as sent");
        return NGX_DECLINED;
    }

    uri.data = out;
    uri.len = len;

    if (uri.len != r->uri.len || ngx_memcmp(uri.data, r->uri.data, len) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus path: \"%V\" rewritten to \"%V\"",
                      &r->uri, &uri);

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus path: \"%V\" sent upstream re-encoded", &uri);
    }

    /*
     * the upstream gets the canonical path too: proxy_pass without a URI
     * part sends r->uri (escaped: quoted_uri) and r->args instead of the
     * request line's target once valid_unparsed_uri is off
     */

    r->uri = uri;
    r->valid_unparsed_uri = 0;
    r->quoted_uri = 1;

    ngx_http_set_exten(r);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_octopus_auth_path_query(ngx_http_request_t *r,
    ngx_octopus_auth_path_state_t *state)
{
    int      n, method, conflict;
    size_t   len;
    u_char  *out;

    out = ngx_pnalloc(r->pool, r->args.len);
    if (out == NULL) {
        return NGX_ERROR;
    }

    method = state->method;
    conflict = state->conflict;

    n = ngx_octopus_path_query_strip(r->args.data, r->args.len, out, &len,
                                     &method, &conflict);
    if (n == 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "octopus auth: removed %d \"_method\" query parameter(s)",
                  n);

    state->method = method;
    state->conflict = conflict;
    state->query = 1;
    state->args = r->args;
    state->stripped_args.data = out;
    state->stripped_args.len = len;

    r->args = state->stripped_args;
    r->valid_unparsed_uri = 0;

    return NGX_OK;
}


/* X-Octopus-* in any spelling (a previous location's included) */

ngx_int_t
ngx_octopus_auth_strip(ngx_http_request_t *r)
{
    return ngx_octopus_auth_remove_headers(r,
                                           1 << NGX_OCTOPUS_HEADER_IDENTITY,
                                           NULL);
}


/*
 * The list is rebuilt without the headers of those classes (the elements
 * stay in the pool, so pointers such as headers_in.host remain valid);
 * override headers are kept in the state with the method they name.
 */

static ngx_int_t
ngx_octopus_auth_remove_headers(ngx_http_request_t *r, ngx_uint_t classes,
    ngx_octopus_auth_path_state_t *state)
{
    int               m;
    ngx_uint_t        i, found, c;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    found = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        c = ngx_octopus_path_header_class(h[i].key.data, h[i].key.len);

        if (classes & (1 << c)) {
            found++;
        }
    }

    if (found == 0) {
        return NGX_OK;
    }

    /* the old parts are walked from a copy of the list head */

    headers = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, 20,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        c = ngx_octopus_path_header_class(h[i].key.data, h[i].key.len);

        if (!(classes & (1 << c))) {
            nh = ngx_list_push(&r->headers_in.headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[i];
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: removed client header \"%V: %V\"",
                       &h[i].key, &h[i].value);

        if (c != NGX_OCTOPUS_HEADER_OVERRIDE || state == NULL) {
            continue;
        }

        nh = ngx_array_push(&state->overrides);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];

        m = ngx_octopus_path_method(h[i].value.data, h[i].value.len);

        if (state->method < 0) {
            state->method = m;

        } else if (state->method != m) {
            state->conflict = 1;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "octopus auth: removed %ui client header(s) "
                  "(X-Octopus-* or method override)", found);

    return NGX_OK;
}


/*
 * octopus_auth_method_override on: a POST carrying an override is
 * authorized as the method it names, and the override goes on to the
 * backend (which will execute that method); two different or unknown
 * values are refused.  Off (or not a POST): the override stays removed.
 * Returns NGX_DECLINED to go on.
 */

ngx_int_t
ngx_octopus_auth_override(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i, honour;
    ngx_table_elt_t                *h, *nh;
    ngx_octopus_auth_path_state_t  *state;

    state = ngx_octopus_auth_path_state(r, 0);

    if (state == NULL) {
        return NGX_DECLINED;
    }

    if (r->method == NGX_HTTP_POST && !state->form_checked) {
        rc = ngx_octopus_auth_form(r, alcf, state, 0);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (state->method < 0) {
        return NGX_DECLINED;
    }

    honour = (alcf->method_override == 1 && r->method == NGX_HTTP_POST);

    if ((honour
         && (state->conflict || state->method == NGX_OCTOPUS_METHOD_UNKNOWN))
        || (!honour && state->form))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus auth: method override refused, %s",
                      !honour ? "\"_method\" in a form body"
                      : state->conflict ? "conflicting values"
                                        : "unknown method");

        return ngx_octopus_auth_path_send(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                                          "method_override");
    }

    if (honour && !state->restored) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: POST authorized as method %d",
                       state->method);

        h = state->overrides.elts;

        for (i = 0; i < state->overrides.nelts; i++) {
            nh = ngx_list_push(&r->headers_in.headers);
            if (nh == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *nh = h[i];
        }

        if (state->query) {
            r->args = state->args;
        }

        state->restored = 1;

    } else if (!honour && state->restored) {

        /* an internal redirect to a location that does not honour it */

        if (ngx_octopus_auth_remove_headers(r,
                                            1 << NGX_OCTOPUS_HEADER_OVERRIDE,
                                            NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (state->query) {
            r->args = state->stripped_args;
        }

        state->restored = 0;
    }

    return NGX_DECLINED;
}


/*
 * After authorization: a POST JSON body naming "_method" is refused,
 * whatever octopus_auth_method_override says.  Returns NGX_DECLINED to go
 * on (the body may be read first: NGX_DONE, the phases resume).
 */

ngx_int_t
ngx_octopus_auth_override_json(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf)
{
    ngx_int_t                       rc;
    ngx_octopus_auth_path_state_t  *state;

    if (r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    state = ngx_octopus_auth_path_state(r, 0);

    if (state == NULL) {
        return NGX_DECLINED;
    }

    if (!state->form_checked) {
        rc = ngx_octopus_auth_form(r, alcf, state, 1);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (!state->json) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "octopus auth: method override refused, "
                  "\"_method\" in a JSON body");

    return ngx_octopus_auth_path_send(r, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request", "method_override");
}


/*
 * A POST form body (urlencoded or multipart) may carry "_method", which
 * cannot be removed without rewriting the body: the body is read (up to
 * octopus_auth_form_body_max) and the field found, to be refused or
 * honoured like the headers.  A JSON body is read too and refused when
 * it names "_method" (Laravel reads it there).  A body that cannot be
 * read one way (over the limit, an unknown Content-Encoding, two
 * Content-Type headers, a multipart body without a parsable structure
 * around a "_method") is refused.
 */

static ngx_int_t
ngx_octopus_auth_form(ngx_http_request_t *r, ngx_octopus_auth_loc_conf_t *alcf,
    ngx_octopus_auth_path_state_t *state, ngx_uint_t authorized)
{
    ngx_int_t         rc;
    ngx_str_t         ct;
    ngx_uint_t        multipart;       /* 0 urlencoded, 1 multipart, 2 JSON */
    ngx_table_elt_t  *h;

    if (alcf->form_body_max == 0 || r->headers_in.content_type == NULL) {
        state->form_checked = 1;
        return NGX_DECLINED;
    }

    if (ngx_octopus_body_headers(r, &h) > 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus auth: a POST with two Content-Type headers "
                      "is refused");

        return ngx_octopus_auth_path_send(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                                          "duplicate_content_type");
    }

    ct = r->headers_in.content_type->value;

    while (ct.len && (ct.data[0] == ' ' || ct.data[0] == '\t')) {
        ct.data++;
        ct.len--;
    }

    if (ct.len >= 33
        && ngx_strncasecmp(ct.data,
                           (u_char *) "application/x-www-form-urlencoded", 33)
           == 0)
    {
        multipart = 0;

    } else if (ct.len >= 19
               && ngx_strncasecmp(ct.data, (u_char *) "multipart/form-data",
                                  19)
                  == 0)
    {
        multipart = 1;

    } else if (ngx_strlcasestrn(ct.data, ct.data + ct.len,
                                (u_char *) "/json", 5 - 1)
               || ngx_strlcasestrn(ct.data, ct.data + ct.len,
                                   (u_char *) "+json", 5 - 1))
    {
        /*
         * Laravel's isJson(): the type holds "/json" or "+json"; never
         * honoured, so read only once the request is authorized (an
         * unauthenticated client gets its 401 without the read)
         */

        if (!authorized) {
            return NGX_DECLINED;
        }

        multipart = 2;

    } else {
        state->form_checked = 1;
        return NGX_DECLINED;
    }

    if (h) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus auth: a form body with Content-Encoding "
                      "\"%V\" is refused", &h->value);

        return ngx_octopus_auth_path_send(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                                          "form_encoding");
    }

    if (r->headers_in.content_length_n > (off_t) alcf->form_body_max) {
        goto too_large;
    }

    if (!state->form_read) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: reading the form body for _method");

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                        ngx_octopus_auth_form_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;
    }

    state->form_checked = 1;

    rc = ngx_octopus_auth_form_scan(r, alcf, state, multipart);

    if (rc == NGX_DECLINED) {
        goto too_large;
    }

    if (rc == NGX_ABORT) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus auth: a multipart body that cannot be read "
                      "one way is refused");

        return ngx_octopus_auth_path_send(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                                          "method_override");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;

too_large:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "octopus auth: a form body over %uz bytes is refused",
                  alcf->form_body_max);

    return ngx_octopus_auth_path_send(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "request_too_large", "form_body");
}


static void
ngx_octopus_auth_form_body_handler(ngx_http_request_t *r)
{
    ngx_octopus_auth_path_state_t  *state;

    state = ngx_octopus_auth_path_state(r, 0);

    if (state) {
        state->form_read = 1;
    }

    /* the body goes on to the upstream (proxy_pass reuses it) */

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * NGX_OK: scanned; NGX_DECLINED: over the limit; NGX_ABORT: a multipart
 * body without one reading; NGX_ERROR.
 */

static ngx_int_t
ngx_octopus_auth_form_scan(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_octopus_auth_path_state_t *state,
    ngx_uint_t multipart)
{
    int           n, method, conflict;
    size_t        len, blen;
    u_char       *data, *out;
    const u_char *boundary;

    switch (ngx_octopus_body_bytes(r, alcf->form_body_max, &data, &len)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return NGX_DECLINED;

    default:
        return NGX_ERROR;
    }

    if (len == 0) {
        return NGX_OK;
    }

    method = state->method;
    conflict = state->conflict;

    if (multipart == 2) {
        n = ngx_octopus_path_json_method(data, len);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: %d \"_method\" string(s) in the "
                       "JSON body", n);

        if (n > 0) {
            state->json = 1;
        }

        return NGX_OK;
    }

    if (multipart) {
        blen = ngx_octopus_path_multipart_boundary(
                   r->headers_in.content_type->value.data,
                   r->headers_in.content_type->value.len, &boundary);

        n = (blen == 0) ? -1
            : ngx_octopus_path_multipart_method(data, len, boundary, blen,
                                                &method, &conflict);
        if (n < 0) {
            return NGX_ABORT;
        }

    } else {
        out = ngx_pnalloc(r->pool, len);
        if (out == NULL) {
            return NGX_ERROR;
        }

        n = ngx_octopus_path_query_strip(data, len, out, &blen, &method,
                                         &conflict);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: %d \"_method\" field(s) in the form body",
                   n);

    if (n > 0) {
        state->form = 1;
        state->method = method;
        state->conflict = conflict;
    }

    return NGX_OK;
}


/* the method bits RBAC authorizes: HEAD as GET too, an honoured override */

ngx_uint_t
ngx_octopus_auth_effective_method(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf)
{
    ngx_uint_t                      m;
    ngx_octopus_auth_path_state_t  *state;

    m = r->method;

    if (alcf->method_override == 1 && m == NGX_HTTP_POST) {
        state = ngx_octopus_auth_path_state(r, 0);

        if (state && state->method > 0 && !state->conflict) {
            m = ngx_octopus_auth_path_methods[state->method];
        }
    }

    if (m == NGX_HTTP_HEAD) {
        m |= NGX_HTTP_GET;
    }

    return m;
}


/*
 * The state hangs on a pool cleanup, as the realip module keeps its
 * context: r->ctx is cleared by an internal redirect, the pool is not.
 */

static ngx_octopus_auth_path_state_t *
ngx_octopus_auth_path_state(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t             *cln;
    ngx_octopus_auth_path_state_t  *state;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_octopus_auth_path_cleanup) {
            return cln->data;
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_octopus_auth_path_state_t));
    if (cln == NULL) {
        return NULL;
    }

    state = cln->data;
    ngx_memzero(state, sizeof(ngx_octopus_auth_path_state_t));

    if (ngx_array_init(&state->overrides, r->pool, 1,
                       sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NULL;
    }

    state->method = -1;

    cln->handler = ngx_octopus_auth_path_cleanup;

    return state;
}


static void
ngx_octopus_auth_path_cleanup(void *data)
{
    /* nothing to free: the handler only marks the state */
}


/* 400 or 413 with a JSON reason; the request is finished here */

static ngx_int_t
ngx_octopus_auth_path_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *reason)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_octopus_send_json_error(r, status, error, reason);
}
