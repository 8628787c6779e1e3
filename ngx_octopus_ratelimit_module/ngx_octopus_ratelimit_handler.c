
/*
 * Copyright (C) Octopus Guard authors
 *
 * The request side: the PREACCESS handler (read the login body if asked,
 * evaluate every limit and the lockout, wait for Redis without blocking,
 * decide), the header filter (RateLimit headers, Retry-After, counting
 * failed logins) and the asynchronous failure count.
 */


#include "ngx_octopus_ratelimit.h"
#include "ngx_octopus_ratelimit_field.h"
#include "ngx_octopus_ratelimit_login.h"


typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_octopus_rl_lockout_t   *lockout;
    ngx_str_t                   key;
    ngx_str_t                   rkey;
    ngx_str_t                   rid;
} ngx_octopus_rl_fail_t;


static ngx_int_t ngx_octopus_rl_read_body(ngx_http_request_t *r,
    ngx_octopus_rl_ctx_t *ctx);
static void ngx_octopus_rl_body_handler(ngx_http_request_t *r);
static const char *ngx_octopus_rl_login_headers(ngx_http_request_t *r);
static const char *ngx_octopus_rl_login_user(ngx_http_request_t *r,
    ngx_octopus_rl_ctx_t *ctx, ngx_octopus_rl_loc_conf_t *lcf,
    ngx_uint_t *status);
static const char *ngx_octopus_rl_field_reason(int rc);
static const char *ngx_octopus_rl_login_name(ngx_octopus_rl_loc_conf_t *lcf,
    u_char *raw, size_t n, u_char *out, size_t *outlen);
static const char *ngx_octopus_rl_login_basic(ngx_http_request_t *r,
    ngx_octopus_rl_loc_conf_t *lcf, u_char *out, size_t *outlen,
    ngx_uint_t *status);
static ngx_int_t ngx_octopus_rl_body_bytes(ngx_http_request_t *r,
    ngx_octopus_rl_loc_conf_t *lcf, u_char **body, size_t *len);
static ngx_int_t ngx_octopus_rl_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *reason, ngx_uint_t discard);
static ngx_int_t ngx_octopus_rl_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_octopus_rl_start(ngx_http_request_t *r,
    ngx_octopus_rl_ctx_t *ctx, ngx_octopus_rl_loc_conf_t *lcf);
static ngx_int_t ngx_octopus_rl_redis_key(ngx_http_request_t *r,
    ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *zone, ngx_str_t *key,
    ngx_str_t *out);
static void ngx_octopus_rl_start_limit(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item);
static void ngx_octopus_rl_start_lock(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item);
static void ngx_octopus_rl_failure(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_uint_t reason,
    ngx_octopus_rl_item_t *item);
static void ngx_octopus_rl_limit_reply(void *data, redisReply *reply);
static void ngx_octopus_rl_window_reply(void *data, redisReply *reply);
static void ngx_octopus_rl_strike_reply(void *data, redisReply *reply);
static void ngx_octopus_rl_lock_reply(void *data, redisReply *reply);
static void ngx_octopus_rl_lock_local(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item);
static void ngx_octopus_rl_lock_finish(ngx_octopus_rl_ctx_t *ctx,
    ngx_uint_t failed);
static void ngx_octopus_rl_item_done(ngx_octopus_rl_item_t *item);
static void ngx_octopus_rl_cleanup(void *data);
#if (NGX_DEBUG)
static void ngx_octopus_rl_debug_item(ngx_http_request_t *r,
    ngx_octopus_rl_main_conf_t *rmcf, ngx_octopus_rl_item_t *item);
#else
#define ngx_octopus_rl_debug_item(r, rmcf, item)  (void) (rmcf)
#endif
static ngx_int_t ngx_octopus_rl_decide(ngx_http_request_t *r,
    ngx_octopus_rl_ctx_t *ctx, ngx_octopus_rl_loc_conf_t *lcf);
static ngx_int_t ngx_octopus_rl_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_octopus_rl_add_headers(ngx_http_request_t *r,
    ngx_octopus_rl_ctx_t *ctx);
static ngx_int_t ngx_octopus_rl_set_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static void ngx_octopus_rl_quota(ngx_octopus_rl_zone_t *zone, uint64_t *q,
    uint64_t *w);
static void ngx_octopus_rl_count_failure(ngx_http_request_t *r,
    ngx_octopus_rl_ctx_t *ctx);
static void ngx_octopus_rl_fail_reply(void *data, redisReply *reply);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;

static ngx_str_t  ngx_octopus_rl_no_zone = ngx_null_string;


ngx_int_t
ngx_octopus_rl_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_octopus_rl_ctx_t       *ctx;
    ngx_pool_cleanup_t         *cln;
    ngx_octopus_rl_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_octopus_ratelimit_module);

    if (lcf->limits == NULL && lcf->lockout == NULL
        && lcf->login_field.len == 0)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_octopus_rl_get_ctx(r);

    if (ctx == NULL) {
        if (r != r->main) {
            /* subrequests are limited with their parent */
            return NGX_DECLINED;
        }

        ctx = ngx_pcalloc(r->pool, sizeof(ngx_octopus_rl_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->request = r;
        ctx->phase = NGX_OCTOPUS_RL_INIT;

        cln->handler = ngx_octopus_rl_cleanup;
        cln->data = ctx;

        ngx_http_set_ctx(r, ctx, ngx_octopus_ratelimit_module);
    }

    switch (ctx->phase) {

    case NGX_OCTOPUS_RL_INIT:

        if (lcf->login_field.len || lcf->lockout) {
            return ngx_octopus_rl_read_body(r, ctx);
        }

        /* fall through */

    case NGX_OCTOPUS_RL_START:

        rc = ngx_octopus_rl_start(r, ctx, lcf);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ctx->pending) {
            ctx->phase = NGX_OCTOPUS_RL_WAIT;

            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_request_empty_handler;

            return NGX_AGAIN;
        }

        ctx->phase = NGX_OCTOPUS_RL_DONE;

        return ngx_octopus_rl_decide(r, ctx, lcf);

    case NGX_OCTOPUS_RL_DONE:

        if (!ctx->decided) {
            return ngx_octopus_rl_decide(r, ctx, lcf);
        }

        return ctx->rc;

    default: /* NGX_OCTOPUS_RL_BODY, NGX_OCTOPUS_RL_WAIT */
        return NGX_AGAIN;
    }
}


/*
 * An internal redirect (error_page, try_files...) clears the module ctx; the
 * pool cleanup that holds it stays, so the decision made for the request is
 * found again there and a redirected request is not counted twice (as
 * limit_req does), and keeps its headers and variables.
 */

ngx_octopus_rl_ctx_t *
ngx_octopus_rl_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_octopus_rl_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_octopus_ratelimit_module);

    if (ctx || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_octopus_rl_cleanup) {
            ctx = cln->data;

            /* the rejection was answered by the redirect (error_page) */
            ctx->rc = NGX_DECLINED;

            ngx_http_set_ctx(r, ctx, ngx_octopus_ratelimit_module);
            return ctx;
        }
    }

    return NULL;
}


/*
 * The login body, as the mirror module reads it: read it whole (however it
 * arrives: Content-Length or chunked, HTTP/2 without a length, in memory or
 * in a temporary file), then resume the phases.  The body stays in
 * r->request_body for the upstream.  A request whose login name cannot be
 * read one way is refused here, before the upstream is contacted.
 */

static ngx_int_t
ngx_octopus_rl_read_body(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx)
{
    ngx_int_t                   rc;
    const char                 *reason;
    ngx_octopus_rl_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_octopus_ratelimit_module);

    ctx->phase = NGX_OCTOPUS_RL_BODY;

    if (lcf->login_field.len) {
        reason = ngx_octopus_rl_login_headers(r);

        if (reason) {
            return ngx_octopus_rl_refuse(r, NGX_HTTP_BAD_REQUEST, reason, 1);
        }
    }

    if (r->headers_in.content_length_n > (off_t) lcf->login_body_max) {
        return ngx_octopus_rl_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "body_too_large", 1);
    }

    /* chunked or HTTP/2 without a length: counted while read */

    ctx->count_body = 1;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_octopus_rl_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_octopus_rl_body_handler(ngx_http_request_t *r)
{
    ngx_uint_t                  status;
    const char                 *reason;
    ngx_octopus_rl_ctx_t       *ctx;
    ngx_octopus_rl_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_octopus_ratelimit_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_octopus_ratelimit_module);

    ctx->body_done = 1;
    ctx->count_body = 0;
    ctx->phase = NGX_OCTOPUS_RL_START;

    status = NGX_HTTP_BAD_REQUEST;
    reason = NULL;

    if (ctx->body_too_large) {
        status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        reason = "body_too_large";

    } else if (lcf->login_field.len) {
        reason = ngx_octopus_rl_login_user(r, ctx, lcf, &status);
    }

    if (reason) {
        (void) ngx_octopus_rl_refuse(r, status, reason, 0);
        return;
    }

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * Refused before the body is read: a Content-Encoding we do not decode
 * (Express inflates gzip, we would read the compressed bytes), or two
 * Content-Type headers (nginx keeps the first, a backend may read the last)
 */

static const char *
ngx_octopus_rl_login_headers(ngx_http_request_t *r)
{
    ngx_table_elt_t  *enc;

    if (ngx_octopus_body_headers(r, &enc) > 1) {
        return "duplicate_content_type";
    }

    if (enc) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus_ratelimit: login Content-Encoding \"%V\" "
                       "not decoded", &enc->value);
        return "unsupported_content_encoding";
    }

    return NULL;
}


/*
 * The account a login request is for, from the body (JSON, urlencoded,
 * multipart) and the query string (Spring's getParameter() and PHP's
 * $_REQUEST read both).  Returns NULL, with ctx->login_user set (empty when
 * the field is nowhere), or the reason the request is refused.
 */

static const char *
ngx_octopus_rl_login_user(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx,
    ngx_octopus_rl_loc_conf_t *lcf, ngx_uint_t *status)
{
    int            brc, qrc, type, enc;
    u_char        *body, *p, *utf8, raw[NGX_OCTOPUS_RL_LOGIN_MAX];
    u_char         name[NGX_OCTOPUS_RL_LOGIN_MAX];
    u_char         qname[NGX_OCTOPUS_RL_LOGIN_MAX];
    size_t         len, n, bom, nlen, qnlen, blen;
    ngx_str_t     *field;
    const char    *reason;
    const u_char  *boundary;

    field = &lcf->login_field;

    switch (ngx_octopus_rl_body_bytes(r, lcf, &body, &len)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        *status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        return "body_too_large";

    default:
        *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return "body_unreadable";
    }

    brc = NGX_OCTOPUS_RL_FIELD_ABSENT;
    nlen = 0;
    n = 0;

    if (len) {
        if (r->headers_in.content_type == NULL) {
            return "unsupported_content_type";
        }

        boundary = NULL;
        blen = 0;

        type = ngx_octopus_rl_field_ctype(
                                     r->headers_in.content_type->value.data,
                                     r->headers_in.content_type->value.len,
                                     &boundary, &blen);

        switch (type) {

        case NGX_OCTOPUS_RL_CT_JSON:

            /* a UTF-8 BOM is skipped, UTF-16/32 transcoded (as Python) */

            enc = ngx_octopus_rl_json_encoding(body, len, &bom);
            body += bom;
            len -= bom;

            if (enc != NGX_OCTOPUS_RL_UTF8) {
                utf8 = ngx_pnalloc(r->pool, 2 * len + 1);
                if (utf8 == NULL) {
                    *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
                    return "body_unreadable";
                }

                if (ngx_octopus_rl_json_transcode(body, len, enc, utf8, &len)
                    != 0)
                {
                    return "malformed_body";
                }

                body = utf8;
            }

            brc = ngx_octopus_rl_field_json(body, len, field->data,
                                            field->len, raw, sizeof(raw), &n);
            break;

        case NGX_OCTOPUS_RL_CT_FORM:

            /*
             * JSON sent as a form: no form has a key that starts with '{'
             * or '[', and Flask's get_json(force=True) reads it as JSON
             */

            for (p = body; p < body + len
                           && (*p == ' ' || *p == '\t' || *p == '\r'
                               || *p == '\n');
                 p++)
            { /* void */ }

            if (p < body + len && (*p == '{' || *p == '[')) {
                return "malformed_body";
            }

            brc = ngx_octopus_rl_field_form(body, len, field->data,
                                            field->len, raw, sizeof(raw), &n);
            break;

        case NGX_OCTOPUS_RL_CT_MULTIPART:
            brc = ngx_octopus_rl_field_multipart(body, len, boundary, blen,
                                                 field->data, field->len,
                                                 raw, sizeof(raw), &n);
            break;

        case NGX_OCTOPUS_RL_CT_CHARSET:
            return "unsupported_charset";

        case NGX_OCTOPUS_RL_CT_MALFORMED:
            return "malformed_content_type";

        default: /* NGX_OCTOPUS_RL_CT_OTHER */
            return "unsupported_content_type";
        }

        reason = ngx_octopus_rl_field_reason(brc);
        if (reason) {
            return reason;
        }

        if (brc == NGX_OCTOPUS_RL_FIELD_FOUND) {
            reason = ngx_octopus_rl_login_name(lcf, raw, n, name, &nlen);
            if (reason) {
                return reason;
            }
        }
    }

    qrc = NGX_OCTOPUS_RL_FIELD_ABSENT;

    if (r->args.len) {
        qrc = ngx_octopus_rl_field_query(r->args.data, r->args.len,
                                         field->data, field->len, raw,
                                         sizeof(raw), &n);

        if (qrc == NGX_OCTOPUS_RL_FIELD_MALFORMED) {
            return "malformed_query";
        }

        reason = ngx_octopus_rl_field_reason(qrc);
        if (reason) {
            return reason;
        }

        if (qrc == NGX_OCTOPUS_RL_FIELD_FOUND) {
            reason = ngx_octopus_rl_login_name(lcf, raw, n, qname, &qnlen);
            if (reason) {
                return reason;
            }

            if (brc == NGX_OCTOPUS_RL_FIELD_FOUND) {
                if (nlen != qnlen || ngx_memcmp(name, qname, nlen) != 0) {
                    return "field_in_query_conflict";
                }

            } else {
                ngx_memcpy(name, qname, qnlen);
                nlen = qnlen;
            }
        }
    }

    /*
     * HTTP Basic credentials are an attempt too where the backend checks
     * them on every path (Spring Security's httpBasic()): their user is
     * the name, with the body's and the query's
     */

    reason = ngx_octopus_rl_login_basic(r, lcf, qname, &qnlen, status);
    if (reason) {
        return reason;
    }

    if (qnlen) {
        if (nlen && (nlen != qnlen || ngx_memcmp(name, qname, nlen) != 0)) {
            return "basic_auth_conflict";
        }

        ngx_memcpy(name, qname, qnlen);
        nlen = qnlen;
    }

    if (nlen == 0) {
        /* no name: no lockout key, the other limits still apply */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus_ratelimit: no login name");
        return NULL;
    }

    /*
     * control characters are written as \xHH: the name stays distinct
     * for the lockout, and a CR LF decoded from "\r\n" or "%0d%0a" cannot
     * inject header lines where the variable goes into a header or a log
     */

    ctx->login_user.data = ngx_pnalloc(r->pool, 4 * nlen);
    if (ctx->login_user.data == NULL) {
        *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return "body_unreadable";
    }

    p = ctx->login_user.data;

    for (n = 0; n < nlen; n++) {
        if (name[n] < 0x20 || name[n] == 0x7f) {
            p = ngx_sprintf(p, "\\x%02xd", name[n]);

        } else {
            *p++ = name[n];
        }
    }

    ctx->login_user.len = p - ctx->login_user.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit: login name \"%V\"", &ctx->login_user);

    return NULL;
}


static const char *
ngx_octopus_rl_field_reason(int rc)
{
    switch (rc) {

    case NGX_OCTOPUS_RL_FIELD_DUPLICATE:
        return "duplicate_field";

    case NGX_OCTOPUS_RL_FIELD_NOT_STRING:
        return "field_not_string";

    case NGX_OCTOPUS_RL_FIELD_TOO_LONG:
        return "field_too_long";

    case NGX_OCTOPUS_RL_FIELD_MALFORMED:
        return "malformed_body";

    case NGX_OCTOPUS_RL_FIELD_ENCODING:
        return "unsupported_content_encoding";

    default: /* FOUND, ABSENT */
        return NULL;
    }
}


/* the name as the key: well-formed UTF-8, canonical unless normalize off */

static const char *
ngx_octopus_rl_login_name(ngx_octopus_rl_loc_conf_t *lcf, u_char *raw,
    size_t n, u_char *out, size_t *outlen)
{
    if (!lcf->login_normalize) {
        if (!ngx_octopus_rl_login_utf8(raw, n)) {
            return "invalid_utf8";
        }

        ngx_memcpy(out, raw, n);
        *outlen = n;

        return NULL;
    }

    switch (ngx_octopus_rl_login_canon(raw, n, out, NGX_OCTOPUS_RL_LOGIN_MAX,
                                       outlen))
    {
    case NGX_OCTOPUS_RL_LOGIN_OK:
        return NULL;

    case NGX_OCTOPUS_RL_LOGIN_UTF8:
        return "invalid_utf8";

    case NGX_OCTOPUS_RL_LOGIN_TOO_LONG:
        return "field_too_long";

    default:
        return "normalization_failed";
    }
}


/* the user of an "Authorization: Basic" header, canonical; *outlen 0: none */

static const char *
ngx_octopus_rl_login_basic(ngx_http_request_t *r,
    ngx_octopus_rl_loc_conf_t *lcf, u_char *out, size_t *outlen,
    ngx_uint_t *status)
{
    u_char     *colon;
    size_t      n;
    ngx_str_t   v, dec;

    *outlen = 0;

    if (r->headers_in.authorization == NULL) {
        return NULL;
    }

    v = r->headers_in.authorization->value;

    if (v.len < 6 || ngx_strncasecmp(v.data, (u_char *) "Basic ", 6) != 0) {
        return NULL;
    }

    v.data += 6;
    v.len -= 6;

    while (v.len && (v.data[0] == ' ' || v.data[0] == '\t')) {
        v.data++;
        v.len--;
    }

    while (v.len && (v.data[v.len - 1] == ' ' || v.data[v.len - 1] == '\t')) {
        v.len--;
    }

    dec.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(v.len) + 1);
    if (dec.data == NULL) {
        *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return "body_unreadable";
    }

    if (ngx_decode_base64(&dec, &v) != NGX_OK) {
        return "malformed_authorization";
    }

    colon = ngx_strlchr(dec.data, dec.data + dec.len, ':');
    n = colon ? (size_t) (colon - dec.data) : dec.len;

    if (n > NGX_OCTOPUS_RL_LOGIN_MAX) {
        return "field_too_long";
    }

    if (n == 0) {
        return NULL;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit: login name from Basic credentials");

    return ngx_octopus_rl_login_name(lcf, dec.data, n, out, outlen);
}


/*
 * The body in one piece, from memory and from the temporary file; the
 * file's offset is restored, r->request_body is left as it is.
 */

static ngx_int_t
ngx_octopus_rl_body_bytes(ngx_http_request_t *r,
    ngx_octopus_rl_loc_conf_t *lcf, u_char **body, size_t *len)
{
    ngx_int_t  rc;

    /* NGX_DECLINED: a body read before this phase, without the filter */

    rc = ngx_octopus_body_bytes(r, lcf->login_body_max, body, len);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit: login body %uz bytes, rc %i",
                   *len, rc);

    return rc;
}


/*
 * The answer to a login request refused before the upstream:
 * {"error":"invalid_login_request","reason":"..."}.  "discard": the body
 * was not read (refused on its headers).
 */

static ngx_int_t
ngx_octopus_rl_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason, ngx_uint_t discard)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "octopus_ratelimit: login request refused (%ui): %s",
                  status, reason);

    if (discard) {
        r->expect_tested = 1;

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }
    }

    if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE || discard) {
        r->keepalive = 0;
    }

    return ngx_octopus_send_json_error(r, status, "invalid_login_request",
                                       reason);
}


/*
 * Request body filter: counts a login body while it is read (chunked,
 * HTTP/2 without Content-Length); past octopus_ratelimit_login_body_max
 * the rest is read and dropped, and the request is answered 413.
 */

static ngx_int_t
ngx_octopus_rl_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                *cl, out;
    ngx_octopus_rl_ctx_t       *ctx;
    ngx_octopus_rl_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_octopus_ratelimit_module);

    if (ctx == NULL || !ctx->count_body) {
        return ngx_http_next_request_body_filter(r, in);
    }

    if (!ctx->body_too_large) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_octopus_ratelimit_module);

        for (cl = in; cl; cl = cl->next) {
            ctx->body_received += ngx_buf_size(cl->buf);
        }

        if (ctx->body_received <= (off_t) lcf->login_body_max) {
            return ngx_http_next_request_body_filter(r, in);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus_ratelimit: login body over %uz bytes",
                       lcf->login_body_max);

        ctx->body_too_large = 1;
    }

    /* over the limit: consumed, not kept; only the end of the body goes on */

    out.buf = NULL;
    out.next = NULL;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf) {
            out.buf = cl->buf;
        }
    }

    if (out.buf) {
        return ngx_http_next_request_body_filter(r, &out);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_rl_start(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx,
    ngx_octopus_rl_loc_conf_t *lcf)
{
    ngx_uint_t                   i, n;
    ngx_octopus_rl_item_t       *item;
    ngx_octopus_rl_limit_t      *limits;
    ngx_octopus_rl_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    n = lcf->limits ? lcf->limits->nelts : 0;

    if (n) {
        ctx->items = ngx_pcalloc(r->pool, n * sizeof(ngx_octopus_rl_item_t));
        if (ctx->items == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        limits = lcf->limits->elts;

        for (i = 0; i < n; i++) {
            item = &ctx->items[i];
            item->ctx = ctx;
            item->limit = &limits[i];

            if (ngx_http_complex_value(r, &limits[i].zone->key, &item->key)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (item->key.len == 0) {
                item->outcome = NGX_OCTOPUS_RL_SKIP;
                continue;
            }

            if (item->key.len > 65535) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "octopus_ratelimit key of zone \"%V\" is "
                              "longer than 65535 bytes",
                              &limits[i].zone->name);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (ngx_octopus_rl_redis_key(r, rmcf, &limits[i].zone->name,
                                         &item->key, &item->rkey)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ctx->nitems = i + 1;
            ngx_octopus_rl_start_limit(rmcf, item);
        }

        ctx->nitems = n;
    }

    if (lcf->lockout) {
        item = &ctx->lock;
        item->ctx = ctx;

        if (ngx_http_complex_value(r, &lcf->lockout->key, &item->key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (item->key.len > 65535) {
            item->key.len = 0;
        }

        if (item->key.len) {
            static ngx_str_t  lockout = ngx_string("lockout");

            if (ngx_octopus_rl_redis_key(r, rmcf, &lockout, &item->key,
                                         &item->rkey)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_octopus_rl_start_lock(rmcf, item);
        }
    }

    return NGX_OK;
}


/* prefix{zone:key} */

static ngx_int_t
ngx_octopus_rl_redis_key(ngx_http_request_t *r,
    ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *zone, ngx_str_t *key,
    ngx_str_t *out)
{
    u_char  *p;

    out->len = rmcf->prefix.len + zone->len + key->len + 3;
    out->data = ngx_pnalloc(r->pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, rmcf->prefix.data, rmcf->prefix.len);
    *p++ = '{';
    p = ngx_cpymem(p, zone->data, zone->len);
    *p++ = ':';
    p = ngx_cpymem(p, key->data, key->len);
    *p = '}';

    return NGX_OK;
}


static void
ngx_octopus_rl_start_limit(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item)
{
    uint64_t                left;
    ngx_uint_t              ask;
    ngx_octopus_rl_zone_t  *zone;

    zone = item->limit->zone;

    /*
     * a ban known to this node costs no round trip; one Redis reported is
     * asked again once per ban_recheck, so a lifted one ends
     */

    if (zone->ban_after && !item->limit->dry_run) {
        ask = 0;
        left = ngx_octopus_rl_shm_strike_left(zone->shm_zone, &item->key,
                                              zone->ban_recheck, &ask);
        item->recheck = ask;

        if (left) {
            item->outcome = NGX_OCTOPUS_RL_BANNED;
            item->res.reset_ms = left;
            item->res.retry_ms = left;
            return;
        }
    }

    if (zone->sync) {
        /* sync=: decided on this node, merged with Redis by a timer */
        ngx_octopus_rl_sync_limit(rmcf, item);
        return;
    }

    if (rmcf->redis.name.len == 0) {
        ngx_octopus_rl_shm_limit(zone, &item->key, item->limit->dry_run, item);
        return;
    }

    if ((ngx_octopus_rl_lua_native(item->limit)
         ? ngx_octopus_rl_lua_window(rmcf, item, ngx_octopus_rl_window_reply)
         : ngx_octopus_rl_lua_limit(rmcf, item, ngx_octopus_rl_limit_reply))
        == NGX_OK)
    {
        item->ctx->pending++;
        return;
    }

    ngx_octopus_rl_failure(rmcf, ngx_octopus_rl_fallback_reason(rmcf), item);
}


/*
 * Lockout: the attempt is let through only with a reservation (Redis, or
 * this node's shared memory when Redis is not configured or fails), so
 * failures counted plus attempts in flight never exceed "failures".
 */

static void
ngx_octopus_rl_start_lock(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item)
{
    uint64_t                    left;
    ngx_uint_t                  ask;
    ngx_http_request_t         *r;
    ngx_octopus_rl_ctx_t       *ctx;
    ngx_octopus_rl_loc_conf_t  *lcf;

    ctx = item->ctx;
    r = ctx->request;

    lcf = ngx_http_get_module_loc_conf(r, ngx_octopus_ratelimit_module);

    ctx->lockout = lcf->lockout;
    item->outcome = NGX_OCTOPUS_RL_PASS;

    /* a lock known to this node costs no round trip (see start_limit) */

    ask = 0;
    left = ngx_octopus_rl_shm_strike_left(rmcf->lockout_zone, &item->key,
                                          rmcf->lock_recheck, &ask);
    item->recheck = ask;

    if (left) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus_ratelimit lockout: locked for %uL ms (cached)",
                       left);

        item->outcome = NGX_OCTOPUS_RL_LOCKED;
        item->res.retry_ms = left;
        return;
    }

    if (rmcf->redis.name.len == 0) {
        ngx_octopus_rl_lock_local(rmcf, item);
        return;
    }

    /* a reservation id unique across nodes: worker's random base, seq */

    ctx->rid.data = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN);

    if (ctx->rid.data) {
        ctx->rid.len = ngx_sprintf(ctx->rid.data, "%016xL-%P-%uL",
                                   rmcf->rid_base, ngx_pid, ++rmcf->rid_seq)
                       - ctx->rid.data;

        if (ngx_octopus_rl_lua_reserve(rmcf, item, ctx->lockout, &ctx->rid,
                                       ngx_octopus_rl_lock_reply)
            == NGX_OK)
        {
            ctx->pending++;
            return;
        }
    }

    /* Redis unavailable: this node's shared memory reserves */

    item->fallback = 1;
    ngx_octopus_rl_fallback(rmcf, rmcf->lockout_zone,
                            ctx->rid.data ? ngx_octopus_rl_fallback_reason(rmcf)
                                          : NGX_OCTOPUS_RL_FB_ERROR);
    ngx_octopus_rl_lock_local(rmcf, item);
}


static void
ngx_octopus_rl_lock_local(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item)
{
    uint64_t               ms;
    ngx_int_t              rc;
    ngx_octopus_rl_ctx_t  *ctx;

    ctx = item->ctx;
    ms = 0;

    rc = ngx_octopus_rl_shm_reserve(rmcf->lockout_zone, &item->key,
                                    ctx->lockout, &ctx->epoch, &ms);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "octopus_ratelimit lockout: shared memory %i, %uL ms",
                   rc, ms);

    switch (rc) {

    case NGX_OCTOPUS_RL_RESERVED:
        ctx->reserved = NGX_OCTOPUS_RL_RES_SHM;
        break;

    case NGX_OCTOPUS_RL_RESERVE_LOCK:
    case NGX_OCTOPUS_RL_RESERVE_BUSY:
        item->outcome = NGX_OCTOPUS_RL_LOCKED;
        item->res.retry_ms = ms;
        break;

    default: /* NGX_DECLINED: the zone is full, passes unreserved */
        break;
    }
}


/*
 * Redis unreachable, refusing or late: octopus_ratelimit_redis_failure,
 * counted and reported ("reason": NGX_OCTOPUS_RL_FB_*)
 */

static void
ngx_octopus_rl_failure(ngx_octopus_rl_main_conf_t *rmcf, ngx_uint_t reason,
    ngx_octopus_rl_item_t *item)
{
    uint64_t    left;
    ngx_uint_t  ask;

    item->fallback = 1;

    ngx_octopus_rl_fallback(rmcf, item->limit->zone->shm_zone, reason);

    /* Redis could not say whether the cached ban stands: it does */

    if (item->recheck) {
        ask = 0;
        left = ngx_octopus_rl_shm_strike_left(item->limit->zone->shm_zone,
                                              &item->key, 0, &ask);
        if (left) {
            item->outcome = NGX_OCTOPUS_RL_BANNED;
            item->res.reset_ms = left;
            item->res.retry_ms = left;
            return;
        }
    }

    switch (rmcf->failure) {

    case NGX_OCTOPUS_RL_FAIL_OPEN:
        item->outcome = NGX_OCTOPUS_RL_OPEN;
        break;

    case NGX_OCTOPUS_RL_FAIL_CLOSED:
        item->outcome = NGX_OCTOPUS_RL_ERROR;
        break;

    default: /* NGX_OCTOPUS_RL_FAIL_LOCAL */
        ngx_octopus_rl_shm_limit(item->limit->zone, &item->key,
                                 item->limit->dry_run, item);
        break;
    }
}


static void
ngx_octopus_rl_limit_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_item_t  *item = data;

    ngx_http_request_t          *r;
    ngx_octopus_rl_main_conf_t  *rmcf;

    r = item->ctx->request;
    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    item->cmd = NULL;

    if (reply == NULL) {
        ngx_octopus_rl_failure(rmcf, ngx_octopus_rl_fallback_reason(rmcf),
                               item);
        ngx_octopus_rl_item_done(item);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        if (!item->eval && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            /* script cache empty (restart, failover): send the source */

            item->eval = 1;

            if (ngx_octopus_rl_lua_limit(rmcf, item,
                                         ngx_octopus_rl_limit_reply)
                == NGX_OK)
            {
                return;
            }

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus_ratelimit zone \"%V\": redis error: %*s",
                          &item->limit->zone->name, (size_t) reply->len,
                          reply->str);
        }

        ngx_octopus_rl_failure(rmcf, NGX_OCTOPUS_RL_FB_ERROR, item);
        ngx_octopus_rl_item_done(item);
        return;
    }

    if (ngx_octopus_rl_lua_parse(item, reply) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "octopus_ratelimit zone \"%V\": unexpected redis "
                      "reply", &item->limit->zone->name);

        ngx_octopus_rl_failure(rmcf, NGX_OCTOPUS_RL_FB_ERROR, item);
        ngx_octopus_rl_item_done(item);
        return;
    }

    if (item->outcome == NGX_OCTOPUS_RL_BANNED || item->recheck) {
        /* a ban reported, or the cached one lifted in Redis */
        ngx_octopus_rl_shm_strike_set(item->limit->zone->shm_zone, &item->key,
                                      item->outcome == NGX_OCTOPUS_RL_BANNED
                                      ? item->res.retry_ms : 0);
    }

    ngx_octopus_rl_item_done(item);
}


/*
 * One reply of the sliding window's native commands (in send order); the
 * last one decides, sends the window again when Redis was in another one,
 * and takes back the count of a rejected request.
 */

static void
ngx_octopus_rl_window_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_item_t  *item = data;

    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_http_request_t          *r;
    ngx_octopus_rl_main_conf_t  *rmcf;

    r = item->ctx->request;
    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    i = item->wgot++;
    item->wcmd[i] = NULL;

    if (item->wfail == 0) {

        if (reply == NULL) {
            item->wfail = ngx_octopus_rl_fallback_reason(rmcf);

        } else if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus_ratelimit zone \"%V\": redis error: %*s",
                          &item->limit->zone->name, (size_t) reply->len,
                          reply->str);
            item->wfail = NGX_OCTOPUS_RL_FB_ERROR;

        } else if (ngx_octopus_rl_lua_window_value(item, i, reply) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus_ratelimit zone \"%V\": unexpected redis "
                          "reply", &item->limit->zone->name);
            item->wfail = NGX_OCTOPUS_RL_FB_ERROR;
        }
    }

    if (item->wgot < item->wsent) {
        return;
    }

    if (item->wfail) {
        ngx_octopus_rl_failure(rmcf, item->wfail, item);
        ngx_octopus_rl_item_done(item);
        return;
    }

    rc = ngx_octopus_rl_lua_window_decide(rmcf, item);

    if (rc == NGX_AGAIN) {

        /* counted in a window Redis was not in: take it back, again */

        ngx_octopus_rl_lua_window_undo(rmcf, item);

        if (++item->wtries < 3
            && ngx_octopus_rl_lua_window(rmcf, item,
                                         ngx_octopus_rl_window_reply)
               == NGX_OK)
        {
            return;
        }

        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "octopus_ratelimit zone \"%V\": unexpected redis "
                      "reply", &item->limit->zone->name);

        ngx_octopus_rl_failure(rmcf, NGX_OCTOPUS_RL_FB_ERROR, item);
        ngx_octopus_rl_item_done(item);
        return;
    }

    if (item->recheck && item->outcome != NGX_OCTOPUS_RL_BANNED) {
        /* the cached ban was lifted in Redis */
        ngx_octopus_rl_shm_strike_set(item->limit->zone->shm_zone, &item->key,
                                      0);
    }

    if (item->res.allowed) {
        ngx_octopus_rl_item_done(item);
        return;
    }

    ngx_octopus_rl_lua_window_undo(rmcf, item);

    if (item->outcome == NGX_OCTOPUS_RL_BANNED) {
        ngx_octopus_rl_shm_strike_set(item->limit->zone->shm_zone, &item->key,
                                      item->res.retry_ms);
        ngx_octopus_rl_item_done(item);
        return;
    }

    /* rejected in a zone with a ban: one strike, the request waits */

    if (ngx_octopus_rl_lua_strike(rmcf, item, ngx_octopus_rl_strike_reply)
        == NGX_OK)
    {
        return;
    }

    ngx_octopus_rl_item_done(item);
}


/*
 * The strike script's answer: the ban in ms when this rejection bans the
 * key.  The rejection stands whatever the answer (a lost strike only
 * delays a ban).
 */

static void
ngx_octopus_rl_strike_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_item_t  *item = data;

    ngx_http_request_t          *r;
    ngx_octopus_rl_main_conf_t  *rmcf;

    r = item->ctx->request;
    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    item->cmd = NULL;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {

        if (!item->eval && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            item->eval = 1;

            if (ngx_octopus_rl_lua_strike(rmcf, item,
                                          ngx_octopus_rl_strike_reply)
                == NGX_OK)
            {
                return;
            }

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus_ratelimit zone \"%V\": redis error: %*s",
                          &item->limit->zone->name, (size_t) reply->len,
                          reply->str);
        }

    } else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER
               && reply->integer > 0)
    {
        item->outcome = NGX_OCTOPUS_RL_BANNED;
        item->res.reset_ms = reply->integer;
        item->res.retry_ms = reply->integer;

        ngx_octopus_rl_shm_strike_set(item->limit->zone->shm_zone, &item->key,
                                      item->res.retry_ms);
    }

    ngx_octopus_rl_item_done(item);
}


static void
ngx_octopus_rl_lock_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_item_t  *item = data;

    uint64_t                     ms;
    ngx_int_t                    rc;
    ngx_uint_t                   reason;
    ngx_http_request_t          *r;
    ngx_octopus_rl_ctx_t        *ctx;
    ngx_octopus_rl_main_conf_t  *rmcf;

    ctx = item->ctx;
    r = ctx->request;
    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    item->cmd = NULL;
    reason = NGX_OCTOPUS_RL_FB_ERROR;

    if (reply == NULL) {
        reason = ngx_octopus_rl_fallback_reason(rmcf);

        /* late or lost: released once Redis answers, if the script ran */
        ngx_octopus_rl_lua_orphan(rmcf, &ctx->lock.rkey, &ctx->rid,
                                  ctx->lockout->inflight_timeout);
        goto local;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        if (!item->eval && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            item->eval = 1;

            if (ngx_octopus_rl_lua_reserve(rmcf, item, ctx->lockout,
                                           &ctx->rid,
                                           ngx_octopus_rl_lock_reply)
                == NGX_OK)
            {
                return;
            }

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus_ratelimit lockout: redis error: %*s",
                          (size_t) reply->len, reply->str);
        }

        goto local;
    }

    ms = 0;
    rc = ngx_octopus_rl_lua_reserve_parse(reply, &ms);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit lockout: redis %i, %uL ms, id %V",
                   rc, ms, &ctx->rid);

    switch (rc) {

    case NGX_OCTOPUS_RL_RESERVED:
        ctx->reserved = NGX_OCTOPUS_RL_RES_REDIS;

        if (item->recheck) {
            /* the cached lock was lifted in Redis */
            ngx_octopus_rl_shm_strike_set(rmcf->lockout_zone, &item->key, 0);
        }

        break;

    case NGX_OCTOPUS_RL_RESERVE_LOCK:
        item->outcome = NGX_OCTOPUS_RL_LOCKED;
        item->res.retry_ms = ms;

        ngx_octopus_rl_shm_strike_set(rmcf->lockout_zone, &item->key, ms);
        break;

    case NGX_OCTOPUS_RL_RESERVE_BUSY:
        item->outcome = NGX_OCTOPUS_RL_LOCKED;
        item->res.retry_ms = ms;

        if (item->recheck) {
            ngx_octopus_rl_shm_strike_set(rmcf->lockout_zone, &item->key, 0);
        }

        break;

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "octopus_ratelimit lockout: unexpected redis reply");
        goto local;
    }

    ngx_octopus_rl_item_done(item);
    return;

local:

    item->fallback = 1;
    ngx_octopus_rl_fallback(rmcf, rmcf->lockout_zone, reason);
    ngx_octopus_rl_lock_local(rmcf, item);
    ngx_octopus_rl_item_done(item);
}


static void
ngx_octopus_rl_item_done(ngx_octopus_rl_item_t *item)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_octopus_rl_ctx_t  *ctx;

    ctx = item->ctx;

    if (--ctx->pending || ctx->phase != NGX_OCTOPUS_RL_WAIT) {
        return;
    }

    r = ctx->request;
    c = r->connection;

    ctx->phase = NGX_OCTOPUS_RL_DONE;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


/* the request goes away (client closed, timeout): forget its commands */

static void
ngx_octopus_rl_cleanup(void *data)
{
    ngx_octopus_rl_ctx_t  *ctx = data;

    ngx_uint_t  i, j;

    for (i = 0; i < ctx->nitems; i++) {
        if (ctx->items[i].cmd) {
            ngx_octopus_redis_cancel(ctx->items[i].cmd);
            ctx->items[i].cmd = NULL;
        }

        for (j = 0; j < NGX_OCTOPUS_RL_WCMDS; j++) {
            if (ctx->items[i].wcmd[j]) {
                ngx_octopus_redis_cancel(ctx->items[i].wcmd[j]);
                ctx->items[i].wcmd[j] = NULL;
            }
        }
    }

    if (ctx->lock.cmd) {
        ngx_octopus_redis_cancel(ctx->lock.cmd);
        ctx->lock.cmd = NULL;

        /* the script may have run: release what it may have reserved */
        ctx->reserved = NGX_OCTOPUS_RL_RES_REDIS;
    }

    ctx->pending = 0;

    /* no answer was sent (client closed, timeout...): release, not count */

    ngx_octopus_rl_lock_finish(ctx, 0);
}


/*
 * error_log debug: one line per limit, as limit_req's "limit_req[%ui]":
 * the zone, a hash of the key (a key may be a credential: never the key),
 * what was left of the limit, the outcome and who decided it
 */

#if (NGX_DEBUG)

static void
ngx_octopus_rl_debug_item(ngx_http_request_t *r,
    ngx_octopus_rl_main_conf_t *rmcf, ngx_octopus_rl_item_t *item)
{
    ngx_str_t               *zone;
    ngx_uint_t               rate;
    const char              *by;
    ngx_octopus_rl_zone_t   *z;

    static ngx_str_t         lockout = ngx_string("(lockout)");
    static const char       *outcomes[] = {
        [NGX_OCTOPUS_RL_SKIP] = "skip",
        [NGX_OCTOPUS_RL_PASS] = "pass",
        [NGX_OCTOPUS_RL_LIMITED] = "limited",
        [NGX_OCTOPUS_RL_BANNED] = "banned",
        [NGX_OCTOPUS_RL_LOCKED] = "locked",
        [NGX_OCTOPUS_RL_OPEN] = "open",
        [NGX_OCTOPUS_RL_ERROR] = "error"
    };

    z = item->limit ? item->limit->zone : NULL;
    zone = z ? &z->name : &lockout;
    rate = z ? z->rate : 0;

    if (item->fallback) {
        by = "octopus_ratelimit_redis_failure (redis failed)";

    } else if (z && z->sync) {
        by = "shared memory, synchronised with redis";

    } else if (rmcf->redis.name.len) {
        by = "redis";

    } else {
        by = "shared memory";
    }

    ngx_log_debug8(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit[\"%V\"]: key hash %08xD, "
                   "remaining %uL of %ui, retry %uL ms, %s%s, by %s",
                   zone, ngx_crc32_short(item->key.data, item->key.len),
                   item->res.remaining, rate, item->res.retry_ms,
                   item->outcome < sizeof(outcomes) / sizeof(outcomes[0])
                   ? outcomes[item->outcome] : "?",
                   (item->limit && item->limit->dry_run) ? " (dry run)" : "",
                   by);
}

#endif


/*
 * banned (403) > locked (429) > limited (octopus_ratelimit_status) >
 * Redis down with policy closed (503); dry_run limits never reject.  The
 * headers describe the tightest limit: a rejecting one with the longest
 * wait, else the one with the fewest requests left.
 */

static ngx_int_t
ngx_octopus_rl_decide(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx,
    ngx_octopus_rl_loc_conf_t *lcf)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, result, fallback, dry, error, want, any;
    ngx_octopus_rl_item_t       *item, *t;
    ngx_octopus_rl_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    if (ctx->lock.key.len) {
        ngx_octopus_rl_debug_item(r, rmcf, &ctx->lock);
    }

    rc = NGX_DECLINED;
    result = NGX_OCTOPUS_RL_R_NONE;
    fallback = ctx->lock.fallback;
    dry = 0;
    error = 0;
    any = (ctx->lock.key.len != 0);

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        ngx_octopus_rl_debug_item(r, rmcf, item);

        fallback |= item->fallback;
        any |= (item->outcome != NGX_OCTOPUS_RL_SKIP);

        switch (item->outcome) {

        case NGX_OCTOPUS_RL_ERROR:
            error = 1;
            break;

        case NGX_OCTOPUS_RL_LIMITED:
        case NGX_OCTOPUS_RL_BANNED:

            if (item->limit->dry_run) {
                dry = 1;

            } else if (item->outcome == NGX_OCTOPUS_RL_BANNED) {
                rc = NGX_HTTP_FORBIDDEN;
                result = NGX_OCTOPUS_RL_R_BANNED;

            } else if (rc == NGX_DECLINED) {
                rc = lcf->status;
                result = NGX_OCTOPUS_RL_R_LIMITED;
            }

            break;

        default:
            break;
        }
    }

    if (rc == NGX_DECLINED) {

        if (ctx->lock.outcome == NGX_OCTOPUS_RL_LOCKED) {
            rc = lcf->status;
            result = NGX_OCTOPUS_RL_R_LOCKED;

        } else if (error) {
            rc = NGX_HTTP_SERVICE_UNAVAILABLE;
            result = NGX_OCTOPUS_RL_R_ERROR;

        } else if (dry) {
            result = NGX_OCTOPUS_RL_R_DRY_RUN;

        } else if (fallback) {
            result = NGX_OCTOPUS_RL_R_FALLBACK;

        } else if (any) {
            result = NGX_OCTOPUS_RL_R_PASS;
        }
    }

    /*
     * The headers describe the tightest limit: among the rejecting ones the
     * longest wait, otherwise the fewest requests left.
     */

    want = (result == NGX_OCTOPUS_RL_R_BANNED) ? NGX_OCTOPUS_RL_BANNED
           : (result == NGX_OCTOPUS_RL_R_LIMITED) ? NGX_OCTOPUS_RL_LIMITED
           : 0;

    t = NULL;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        if (want) {
            if (item->outcome != want || item->limit->dry_run) {
                continue;
            }

            if (t == NULL || item->res.retry_ms > t->res.retry_ms) {
                t = item;
            }

            continue;
        }

        if (item->outcome != NGX_OCTOPUS_RL_PASS
            && item->outcome != NGX_OCTOPUS_RL_LIMITED
            && item->outcome != NGX_OCTOPUS_RL_BANNED)
        {
            continue;
        }

        if (t == NULL || item->res.remaining < t->res.remaining) {
            t = item;
        }
    }

    if (result == NGX_OCTOPUS_RL_R_LOCKED) {
        ctx->retry_ms = ctx->lock.res.retry_ms;

    } else if (t) {
        ctx->retry_ms = t->res.retry_ms;
    }

    ctx->tightest = t;
    ctx->result = result;
    ctx->rc = rc;
    ctx->rejected = (rc != NGX_DECLINED);
    ctx->decided = 1;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit: result %s, status %i, zone \"%V\", "
                   "retry %uL ms",
                   ngx_octopus_rl_result_names()[result].data,
                   rc == NGX_DECLINED ? (ngx_int_t) 0 : rc,
                   t ? &t->limit->zone->name : &ngx_octopus_rl_no_zone,
                   ctx->retry_ms);

    ngx_octopus_rl_count(r, ctx);

    if (ctx->rejected) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus_ratelimit: request %s%s%V",
                      ngx_octopus_rl_result_names()[result].data,
                      t ? " by zone " : "",
                      t ? &t->limit->zone->name : &ngx_octopus_rl_no_zone);
    }

    return rc;
}


ngx_int_t
ngx_octopus_rl_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_octopus_rl_header_filter;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_octopus_rl_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_rl_header_filter(ngx_http_request_t *r)
{
    ngx_octopus_rl_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_octopus_rl_get_ctx(r);

    if (ctx == NULL || !ctx->decided || ctx->filtered) {
        return ngx_http_next_header_filter(r);
    }

    ctx->filtered = 1;

    /*
     * the lockout of the location that reserved the attempt, also when an
     * error_page or another internal redirect answers
     */

    if (ctx->lockout) {
        ngx_octopus_rl_count_failure(r, ctx);
    }

    if (ngx_octopus_rl_add_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_octopus_rl_add_headers(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx)
{
    u_char                 *p;
    size_t                  len;
    uint64_t                q, w, reset;
    ngx_str_t               v;
    ngx_uint_t              i;
    ngx_octopus_rl_item_t  *t, *item;

    if (ctx->rejected) {
        v.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (v.data == NULL) {
            return NGX_ERROR;
        }

        v.len = ngx_sprintf(v.data, "%uL",
                            ngx_max((ctx->retry_ms + 999) / 1000, 1))
                - v.data;

        if (ngx_octopus_rl_set_header(r, "Retry-After", &v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    t = ctx->tightest;

    if (t == NULL) {
        return NGX_OK;
    }

    reset = ngx_max((t->res.reset_ms + 999) / 1000, 1);
    ngx_octopus_rl_quota(t->limit->zone, &q, &w);

    len = 3 * NGX_INT64_LEN + t->limit->zone->name.len + 16;

    for (i = 0; i < ctx->nitems; i++) {
        len += ctx->items[i].limit->zone->name.len + 2 * NGX_INT64_LEN + 16;
    }

    p = ngx_pnalloc(r->pool, len + 4 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%uL", q) - p;
    p += v.len;

    if (ngx_octopus_rl_set_header(r, "RateLimit-Limit", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%uL", t->res.remaining) - p;
    p += v.len;

    if (ngx_octopus_rl_set_header(r, "RateLimit-Remaining", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%uL", reset) - p;
    p += v.len;

    if (ngx_octopus_rl_set_header(r, "RateLimit-Reset", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    /* draft-ietf-httpapi-ratelimit-headers: every policy of the location */

    v.data = p;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        ngx_octopus_rl_quota(item->limit->zone, &q, &w);

        p = ngx_sprintf(p, "%s\"%V\";q=%uL;w=%uL", p == v.data ? "" : ", ",
                        &item->limit->zone->name, q, w);
    }

    v.len = p - v.data;

    if (ngx_octopus_rl_set_header(r, "RateLimit-Policy", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "\"%V\";r=%uL;t=%uL", &t->limit->zone->name,
                        t->res.remaining, reset)
            - p;

    return ngx_octopus_rl_set_header(r, "RateLimit", &v);
}


static ngx_int_t
ngx_octopus_rl_set_header(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/* the quota a policy advertises: q requests per w seconds */

static void
ngx_octopus_rl_quota(ngx_octopus_rl_zone_t *zone, uint64_t *q, uint64_t *w)
{
    uint64_t  t;

    if (zone->algorithm == NGX_OCTOPUS_RL_GCRA) {
        t = ngx_octopus_rl_gcra_interval(zone->rate, zone->period);
        *q = zone->burst + 1;
        *w = ngx_max((*q * t + 999999) / 1000000, 1);
        return;
    }

    *q = zone->rate;
    *w = ngx_max(zone->period / 1000, 1);
}


/*
 * Lockout: the answer to an attempt.  A status listed in status= turns the
 * reservation into a failure; any other answer (success, 502/504 from an
 * upstream error, a rejection by another limit) releases it.  The request
 * does not wait for Redis: the command is sent and its reply handled on
 * its own; without Redis the shared memory counts.
 */

static void
ngx_octopus_rl_count_failure(ngx_http_request_t *r, ngx_octopus_rl_ctx_t *ctx)
{
    ngx_uint_t                 i, *status, failed;
    ngx_octopus_rl_lockout_t  *lo;

    lo = ctx->lockout;
    failed = 0;

    if (!ctx->rejected && ctx->lock.key.len) {
        status = lo->status.elts;

        for (i = 0; i < lo->status.nelts; i++) {
            if (status[i] == r->headers_out.status) {
                failed = 1;
                break;
            }
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus_ratelimit lockout: status %ui, failed %ui",
                   r->headers_out.status, failed);

    if (failed) {
        ngx_octopus_rl_count_failed_login(r);
    }

    ngx_octopus_rl_lock_finish(ctx, failed);
}


/*
 * Releases the attempt's reservation, exactly once (the header filter or,
 * when no answer was sent, the pool cleanup), and counts a failure.
 */

static void
ngx_octopus_rl_lock_finish(ngx_octopus_rl_ctx_t *ctx, ngx_uint_t failed)
{
    size_t                       size;
    uint64_t                     left;
    ngx_uint_t                   reserved;
    ngx_http_request_t          *r;
    ngx_octopus_rl_fail_t       *f;
    ngx_octopus_rl_lockout_t    *lo;
    ngx_octopus_rl_main_conf_t  *rmcf;

    reserved = ctx->reserved;
    ctx->reserved = NGX_OCTOPUS_RL_RES_NONE;

    lo = ctx->lockout;

    if (lo == NULL || (!failed && reserved == NGX_OCTOPUS_RL_RES_NONE)) {
        return;
    }

    r = ctx->request;
    rmcf = ngx_http_get_module_main_conf(r, ngx_octopus_ratelimit_module);

    if (reserved == NGX_OCTOPUS_RL_RES_SHM) {
        left = ngx_octopus_rl_shm_finish(rmcf->lockout_zone, &ctx->lock.key,
                                         lo, 1, ctx->epoch,
                                         failed && rmcf->conn == NULL);
        if (left) {
            goto locked;
        }

        if (!failed || rmcf->conn == NULL) {
            return;
        }
    }

    if (!failed) {
        /* NGX_OCTOPUS_RL_RES_REDIS */

        if (ngx_octopus_rl_lua_release(rmcf, &ctx->lock.rkey, &ctx->rid,
                                       lo->inflight_timeout)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "octopus_ratelimit: a lockout reservation was not "
                          "released in redis, it expires by itself");
        }

        return;
    }

    if (rmcf->conn) {
        if (reserved != NGX_OCTOPUS_RL_RES_REDIS) {
            ctx->rid.len = 0;
        }

        size = sizeof(ngx_octopus_rl_fail_t) + ctx->lock.key.len
               + ctx->lock.rkey.len + ctx->rid.len;

        f = ngx_alloc(size, r->connection->log);

        if (f) {
            f->shm_zone = rmcf->lockout_zone;
            f->lockout = lo;
            f->key.len = ctx->lock.key.len;
            f->key.data = (u_char *) (f + 1);
            ngx_memcpy(f->key.data, ctx->lock.key.data, f->key.len);
            f->rkey.len = ctx->lock.rkey.len;
            f->rkey.data = f->key.data + f->key.len;
            ngx_memcpy(f->rkey.data, ctx->lock.rkey.data, f->rkey.len);
            f->rid.len = ctx->rid.len;
            f->rid.data = f->rkey.data + f->rkey.len;
            ngx_memcpy(f->rid.data, ctx->rid.data, f->rid.len);

            if (ngx_octopus_rl_lua_lock_fail(rmcf, &f->rkey, &f->rid, lo,
                                             ngx_octopus_rl_fail_reply, f)
                == NGX_OK)
            {
                return;
            }

            ngx_free(f);
        }

        /* a Redis reservation not released expires by itself */
    }

    left = ngx_octopus_rl_shm_finish(rmcf->lockout_zone, &ctx->lock.key, lo,
                                     0, 0, 1);
    if (left == 0) {
        return;
    }

locked:

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "octopus_ratelimit: login locked for %uL ms after %ui "
                  "failures", left, lo->failures);
}


static void
ngx_octopus_rl_fail_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_fail_t  *f = data;

    uint64_t  left;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        /* count on this node rather than lose the failure */
        left = ngx_octopus_rl_shm_finish(f->shm_zone, &f->key, f->lockout,
                                         0, 0, 1);

        /* and free the reservation it held, once Redis answers */
        ngx_octopus_rl_lua_orphan(ngx_http_cycle_get_module_main_conf(
                                      ngx_cycle, ngx_octopus_ratelimit_module),
                                  &f->rkey, &f->rid,
                                  f->lockout->inflight_timeout);

    } else {
        left = reply->integer > 0 ? (uint64_t) reply->integer : 0;

        if (left) {
            ngx_octopus_rl_shm_strike_set(f->shm_zone, &f->key, left);
        }
    }

    if (left) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "octopus_ratelimit: login locked for %uL ms after %ui "
                      "failures", left, f->lockout->failures);
    }

    ngx_free(f);
}
