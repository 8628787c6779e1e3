
/*
 * Copyright (C) Octopus Guard authors
 *
 * ngx_octopus_audit_module: every API call and security event recorded,
 * in the log phase, hash-chained, to the configured sinks (the array
 * ngx_octopus_audit_sinks[], see ngx_octopus_audit_sink.h): PostgreSQL
 * (ngx_octopus_audit_pg.c, over the spool of ngx_octopus_audit_spool.c),
 * a JSON lines file (ngx_octopus_audit_file.c) and syslog
 * (ngx_octopus_audit_syslog.c), with Prometheus metrics from shared memory
 * (ngx_octopus_audit_metrics.c).  This file holds the module definition,
 * the directives table and the configuration, the log phase handler, the
 * tick and the checkpoints of the chain.
 */


#include "ngx_octopus_audit.h"
#include "ngx_octopus_secret.h"
#include "ngx_octopus_mark.h"


#define NGX_OCTOPUS_AUDIT_SYNC_MS  1000


static ngx_int_t ngx_octopus_audit_log_handler(ngx_http_request_t *r);
static void ngx_octopus_audit_var(ngx_http_request_t *r,
    ngx_octopus_audit_var_t *v, ngx_str_t *out);
static void ngx_octopus_audit_set(ngx_http_request_t *r,
    ngx_octopus_audit_rec_t *rec, ngx_uint_t i, u_char *data, size_t len);
static ngx_int_t ngx_octopus_audit_path(ngx_http_request_t *r,
    ngx_octopus_audit_main_conf_t *amcf, ngx_str_t *path, ngx_str_t *query);
static ngx_int_t ngx_octopus_audit_redact_re(ngx_http_request_t *r,
    ngx_octopus_audit_main_conf_t *amcf, ngx_str_t *s);
static void ngx_octopus_audit_checkpoint(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_tick(ngx_event_t *ev);

static ngx_int_t ngx_octopus_audit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_octopus_audit_init_process(ngx_cycle_t *cycle);
static void ngx_octopus_audit_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_octopus_audit_postconfiguration(ngx_conf_t *cf);
static void *ngx_octopus_audit_create_main_conf(ngx_conf_t *cf);
static char *ngx_octopus_audit_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_octopus_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_octopus_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_octopus_audit_cleanup_re(void *data);

static char *ngx_octopus_audit_node_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_audit_chain_key_cmd(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_octopus_audit_redact_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_audit_anomaly_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_octopus_audit_commands[] = {

    { ngx_string("octopus_audit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_audit_loc_conf_t, enable),
      NULL },

    { ngx_string("octopus_audit_login"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_audit_loc_conf_t, login),
      NULL },

    { ngx_string("octopus_audit_node"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_octopus_audit_node_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_octopus_audit_main_conf_t, node),
      NULL },

    { ngx_string("octopus_audit_pg"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_octopus_audit_pg_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_table"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_octopus_audit_table_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_audit_batch_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_audit_spool_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_octopus_audit_file_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_syslog"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_audit_syslog_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_chain_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_octopus_audit_chain_key_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_redact"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_octopus_audit_redact_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_audit_anomaly"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_audit_anomaly_cmd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_octopus_audit_metrics_cmd,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_octopus_audit_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_octopus_audit_postconfiguration,   /* postconfiguration */

    ngx_octopus_audit_create_main_conf,    /* create main configuration */
    ngx_octopus_audit_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_octopus_audit_create_loc_conf,     /* create location configuration */
    ngx_octopus_audit_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_octopus_audit_module = {
    NGX_MODULE_V1,
    &ngx_octopus_audit_module_ctx,         /* module context */
    ngx_octopus_audit_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_octopus_init_module,               /* init module */
    ngx_octopus_audit_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_octopus_audit_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the writer of this worker process; NULL in the master */
static ngx_octopus_audit_worker_t  *ngx_octopus_audit_worker;


static ngx_int_t
ngx_octopus_audit_log_handler(ngx_http_request_t *r)
{
    int                             event, anomaly;
    u_char                         *p, *buf, *end;
    const char                     *ev;
    size_t                          len;
    ngx_str_t                       s, auth, rl, user, path, query;
    ngx_uint_t                      status, i;
    struct timeval                  tv;
    ngx_time_t                     *tp;
    ngx_msec_int_t                  ms;
    ngx_octopus_audit_rec_t         rec;
    ngx_octopus_audit_out_t         out;
    ngx_octopus_audit_worker_t     *w;
    ngx_octopus_audit_loc_conf_t   *alcf;
    ngx_octopus_audit_main_conf_t  *amcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_octopus_audit_module);

    w = ngx_octopus_audit_worker;

    if (!alcf->enable || w == NULL) {
        return NGX_OK;
    }

    amcf = w->amcf;

    ngx_memzero(&rec, sizeof(ngx_octopus_audit_rec_t));

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        rec.f[i].data = (const unsigned char *) "";
    }

    ngx_gettimeofday(&tv);
    rec.ts_us = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;

    p = ngx_pnalloc(r->pool, 6 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = ngx_sprintf(p, "%L", (int64_t) rec.ts_us);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_TS, p, end - p);

    ngx_octopus_audit_var(r, &amcf->var_request_id, &s);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_REQUEST_ID, s.data,
                          s.len);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_NODE, amcf->node.data,
                          amcf->node.len);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_CLIENT,
                          r->connection->addr_text.data,
                          r->connection->addr_text.len);

    ngx_octopus_audit_var(r, &amcf->var_user, &user);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_USER, user.data,
                          user.len);
    ngx_octopus_audit_var(r, &amcf->var_role, &s);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_ROLE, s.data, s.len);
    ngx_octopus_audit_var(r, &amcf->var_auth_method, &s);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_AUTH_METHOD, s.data,
                          s.len);
    ngx_octopus_audit_var(r, &amcf->var_api_key_id, &s);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_API_KEY_ID, s.data,
                          s.len);

    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_METHOD,
                          r->method_name.data, r->method_name.len);

    if (r->headers_in.server.len) {
        ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_HOST,
                              r->headers_in.server.data,
                              r->headers_in.server.len);
    }

    if (ngx_octopus_audit_path(r, amcf, &path, &query) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_PATH, path.data,
                          path.len);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_QUERY, query.data,
                          query.len);

    if (r->err_status) {
        status = r->err_status;

    } else if (r->headers_out.status) {
        status = r->headers_out.status;

    } else if (r->http_version == NGX_HTTP_VERSION_9) {
        status = 9;

    } else {
        status = 0;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    end = ngx_sprintf(p + NGX_INT64_LEN, "%ui", status);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_STATUS,
                          p + NGX_INT64_LEN, end - p - NGX_INT64_LEN);
    end = ngx_sprintf(p + 2 * NGX_INT64_LEN, "%O", r->connection->sent);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_BYTES_SENT,
                          p + 2 * NGX_INT64_LEN,
                          end - p - 2 * NGX_INT64_LEN);
    end = ngx_sprintf(p + 3 * NGX_INT64_LEN, "%O", r->request_length);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_REQUEST_LENGTH,
                          p + 3 * NGX_INT64_LEN,
                          end - p - 3 * NGX_INT64_LEN);
    end = ngx_sprintf(p + 4 * NGX_INT64_LEN, "%M", (ngx_msec_t) ms);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_REQUEST_TIME_MS,
                          p + 4 * NGX_INT64_LEN,
                          end - p - 4 * NGX_INT64_LEN);

    ngx_octopus_audit_var(r, &amcf->var_upstream_status, &s);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_UPSTREAM_STATUS,
                          s.data, s.len);
    ngx_octopus_audit_var(r, &amcf->var_upstream_time, &s);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_UPSTREAM_TIME,
                          s.data, s.len);

    if (r->headers_in.user_agent) {
        ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_USER_AGENT,
                              r->headers_in.user_agent->value.data,
                              r->headers_in.user_agent->value.len);
    }

    ngx_octopus_audit_var(r, &amcf->var_auth_result, &auth);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_AUTH_RESULT,
                          auth.data, auth.len);
    ngx_octopus_audit_var(r, &amcf->var_ratelimit_result, &rl);
    ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_RATELIMIT_RESULT,
                          rl.data, rl.len);

    /* data access anomaly: per user, across workers */

    anomaly = 0;

    if (user.len && amcf->sh->nslots
        && (amcf->anomaly_bytes || amcf->anomaly_requests))
    {
        ngx_shmtx_lock(&amcf->shpool->mutex);

        anomaly = ngx_octopus_audit_anomaly_add(amcf->sh->slots,
                      amcf->sh->nslots,
                      ngx_octopus_audit_user_key(user.data, user.len),
                      (uint64_t) ngx_current_msec,
                      (uint64_t) amcf->anomaly_within,
                      (uint64_t) r->connection->sent,
                      (uint64_t) amcf->anomaly_bytes,
                      (uint64_t) amcf->anomaly_requests);

        ngx_shmtx_unlock(&amcf->shpool->mutex);
    }

    event = ngx_octopus_audit_classify(auth.data, auth.len, rl.data, rl.len,
                                       status, alcf->login == 1, anomaly);

    ev = ngx_octopus_audit_event_names[event];

    rec.f[NGX_OCTOPUS_AUDIT_F_EVENT_TYPE].data = (const unsigned char *) ev;
    rec.f[NGX_OCTOPUS_AUDIT_F_EVENT_TYPE].len = ngx_strlen(ev);

    /*
     * A failed login or a lockout names the targeted account: nobody is
     * authenticated there, so user_name gets the login name the ratelimit
     * module read from the body ($octopus_login_user, never the password;
     * empty when that module is not loaded).  The anomaly count above
     * stays keyed on authenticated users only.
     */

    if (user.len == 0
        && (event == NGX_OCTOPUS_AUDIT_EV_FAILED_LOGIN
            || event == NGX_OCTOPUS_AUDIT_EV_ACCOUNT_LOCKOUT))
    {
        ngx_octopus_audit_var(r, &amcf->var_login_user, &s);
        ngx_octopus_audit_set(r, &rec, NGX_OCTOPUS_AUDIT_F_USER, s.data,
                              s.len);
    }

    /* hash chain */

    w->seq++;

    rec.f[NGX_OCTOPUS_AUDIT_F_CHAIN_ID].data = w->chain_id;
    rec.f[NGX_OCTOPUS_AUDIT_F_CHAIN_ID].len = w->chain_id_len;

    end = ngx_sprintf(p + 5 * NGX_INT64_LEN, "%uL", (uint64_t) w->seq);
    rec.f[NGX_OCTOPUS_AUDIT_F_SEQ].data = p + 5 * NGX_INT64_LEN;
    rec.f[NGX_OCTOPUS_AUDIT_F_SEQ].len = end - p - 5 * NGX_INT64_LEN;

    len = NGX_OCTOPUS_AUDIT_HASH_LEN + ngx_octopus_audit_canonical_len(&rec);

    buf = ngx_pnalloc(r->pool, len + 2 * NGX_OCTOPUS_AUDIT_HASH_LEN);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, w->prev_hash, NGX_OCTOPUS_AUDIT_HASH_LEN);
    end = ngx_octopus_audit_canonical(buf + NGX_OCTOPUS_AUDIT_HASH_LEN, &rec);

    /* prev_hash and hash are kept after the canonical bytes */

    p = end;
    ngx_memcpy(p, w->prev_hash, NGX_OCTOPUS_AUDIT_HASH_LEN);

    if (ngx_octopus_audit_mac(w->mac, buf, end - buf,
                              p + NGX_OCTOPUS_AUDIT_HASH_LEN)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "octopus audit: HMAC failed");
        return NGX_ERROR;
    }

    rec.f[NGX_OCTOPUS_AUDIT_F_PREV_HASH].data = p;
    rec.f[NGX_OCTOPUS_AUDIT_F_PREV_HASH].len = NGX_OCTOPUS_AUDIT_HASH_LEN;
    rec.f[NGX_OCTOPUS_AUDIT_F_HASH].data = p + NGX_OCTOPUS_AUDIT_HASH_LEN;
    rec.f[NGX_OCTOPUS_AUDIT_F_HASH].len = NGX_OCTOPUS_AUDIT_HASH_LEN;

    ngx_memcpy(w->prev_hash, p + NGX_OCTOPUS_AUDIT_HASH_LEN,
               NGX_OCTOPUS_AUDIT_HASH_LEN);

    /* sinks */

    out.rec = &rec;
    out.event = event;
    out.pool = r->pool;
    out.json = NULL;
    out.json_len = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus audit: record %uL, event %s, to %ui sinks",
                   (uint64_t) w->seq, ev, w->nsinks);

    for (i = 0; i < w->nsinks; i++) {
        (void) w->sinks[i]->write(w, w->ctx[i], &out);
    }

    ngx_octopus_audit_metrics_count(amcf, &auth, &rl, event, ms);

    return NGX_OK;
}


static void
ngx_octopus_audit_var(ngx_http_request_t *r, ngx_octopus_audit_var_t *v,
    ngx_str_t *out)
{
    ngx_http_variable_value_t  *vv;

    /* a variable of a module that is not loaded is just empty */

    if (v->index == NGX_ERROR) {
        out->len = 0;
        out->data = (u_char *) "";
        return;
    }

    vv = ngx_http_get_flushed_variable(r, v->index);

    if (vv == NULL || vv->not_found || !vv->valid) {
        out->len = 0;
        out->data = (u_char *) "";
        return;
    }

    out->len = vv->len;
    out->data = vv->data;
}


static void
ngx_octopus_audit_set(ngx_http_request_t *r, ngx_octopus_audit_rec_t *rec,
    ngx_uint_t i, u_char *data, size_t len)
{
    u_char  *p;

    if (len == 0) {
        return;
    }

    if (!ngx_octopus_utf8_clean(data, len)) {
        p = ngx_pnalloc(r->pool, ngx_octopus_sanitize_max(len));
        if (p == NULL) {
            return;
        }

        len = ngx_octopus_sanitize(p, data, len);
        data = p;
    }

    rec->f[i].data = data;
    rec->f[i].len = len;
}


/*
 * The path is the request line's one, percent-decoded (the URI as the
 * client sent it, before rewrites); the query string is kept as sent.
 * Card numbers, secret parameters and the configured patterns are
 * redacted in both.
 */

static ngx_int_t
ngx_octopus_audit_path(ngx_http_request_t *r,
    ngx_octopus_audit_main_conf_t *amcf, ngx_str_t *path, ngx_str_t *query)
{
    u_char     *src, *dst, *q;
    size_t      len;
    ngx_str_t   uri;

    uri = r->unparsed_uri;

    /*
     * A request refused while nginx parsed its URI (a "%00", a "/../"
     * above the root: 400) has no unparsed_uri yet, but its request line
     * was read whole and the URI is in it.  Only then: after a request
     * line too long (414) uri_end may be stale, even far outside the
     * buffer, so both ends must lie within the request line.
     */

    if (uri.len == 0
        && r->request_line.len
        && r->uri_start >= r->request_line.data
        && r->uri_end > r->uri_start
        && r->uri_end <= r->request_line.data + r->request_line.len)
    {
        uri.data = r->uri_start;
        uri.len = r->uri_end - r->uri_start;
    }

    len = uri.len;
    q = ngx_strlchr(uri.data, uri.data + len, '?');

    if (q) {
        len = q - uri.data;
    }

    path->data = ngx_pnalloc(r->pool, len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    src = uri.data;
    dst = path->data;
    ngx_unescape_uri(&dst, &src, len, 0);
    path->len = dst - path->data;

    path->len = ngx_octopus_audit_redact_cards(path->data, path->len);

    query->len = 0;
    query->data = (u_char *) "";

    if (q && uri.data + uri.len > q + 1) {
        len = uri.data + uri.len - (q + 1);

        query->data = ngx_pnalloc(r->pool,
                          ngx_octopus_audit_redact_params_max(q + 1, len));
        if (query->data == NULL) {
            return NGX_ERROR;
        }

        query->len = ngx_octopus_audit_redact_params(query->data, q + 1, len);
        query->len = ngx_octopus_audit_redact_cards(query->data, query->len);
    }

    if (amcf->redact.nelts) {
        if (ngx_octopus_audit_redact_re(r, amcf, path) != NGX_OK
            || ngx_octopus_audit_redact_re(r, amcf, query) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_redact_re(ngx_http_request_t *r,
    ngx_octopus_audit_main_conf_t *amcf, ngx_str_t *s)
{
    int                       rc;
    u_char                   *out;
    size_t                    size, len;
    ngx_uint_t                i;
    ngx_octopus_audit_re_t  **re;

    re = amcf->redact.elts;

    for (i = 0; i < amcf->redact.nelts; i++) {
        size = s->len * 2 + 64;

        for ( ;; ) {
            out = ngx_pnalloc(r->pool, size);
            if (out == NULL) {
                return NGX_ERROR;
            }

            len = size;
            rc = ngx_octopus_audit_re_apply(re[i], s->data, s->len, out,
                                            &len);

            if (rc == 1 && len > size) {
                size = len;
                continue;
            }

            break;
        }

        if (rc != 0) {
            /* fail closed: never record what a pattern could not redact */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus audit: redaction pattern failed, "
                          "field dropped");
            s->len = 0;
            return NGX_OK;
        }

        s->data = out;
        s->len = len;
    }

    return NGX_OK;
}

/* a checkpoint: the head of this worker's chain, to the sinks taking it */

static void
ngx_octopus_audit_checkpoint(ngx_octopus_audit_worker_t *w)
{
    u_char          *p, buf[512];
    int64_t          ts_us;
    ngx_uint_t       i;
    struct timeval   tv;

    if (w->seq == w->checkpoint_seq) {
        return;
    }

    ngx_gettimeofday(&tv);
    ts_us = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;

    p = ngx_snprintf(buf, sizeof(buf),
                     "{\"checkpoint\":{\"chain_id\":\"%*s\",\"seq\":%uL,"
                     "\"hash\":\"%*s\",\"ts_us\":%L}}\n",
                     w->chain_id_len, w->chain_id, (uint64_t) w->seq,
                     (size_t) NGX_OCTOPUS_AUDIT_HASH_LEN, w->prev_hash,
                     ts_us);

    for (i = 0; i < w->nsinks; i++) {
        if (w->sinks[i]->checkpoint) {
            w->sinks[i]->checkpoint(w, w->ctx[i], ts_us, buf, p - buf);
        }
    }

    w->checkpoint_seq = w->seq;
}


static void
ngx_octopus_audit_tick(ngx_event_t *ev)
{
    ngx_uint_t                   i;
    ngx_octopus_audit_worker_t  *w;

    w = ev->data;

    if (ngx_exiting) {
        /*
         * reload or quit: the tick is not cancelable while a sink holds
         * queued records, so the worker waits for it; the sinks send
         * their queues now, what is left at exit is kept or counted
         */

        for (i = 0; i < w->nsinks; i++) {
            if (w->sinks[i]->exiting) {
                w->sinks[i]->exiting(w, w->ctx[i]);
            }
        }

        return;
    }

    /*
     * every second: the sinks' work (spool fsync, the queues of dead
     * workers, syslog acknowledgements), the counts of throttled error
     * lines; every "checkpoint": the chain head
     */

    for (i = 0; i < w->nsinks; i++) {
        if (w->sinks[i]->tick) {
            w->sinks[i]->tick(w, w->ctx[i]);
        }
    }

    ngx_octopus_audit_log_flush(w, 0);

    /* never later than "checkpoint" after the previous one */

    if (ngx_current_msec - w->checkpoint_time + NGX_OCTOPUS_AUDIT_SYNC_MS
        >= w->amcf->checkpoint)
    {
        ngx_octopus_audit_checkpoint(w);
        w->checkpoint_time = ngx_current_msec;
    }

    ngx_add_timer(ev, NGX_OCTOPUS_AUDIT_SYNC_MS);
}


static ngx_int_t
ngx_octopus_audit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_octopus_audit_main_conf_t  *oamcf = data;

    size_t                          len;
    ngx_slab_pool_t                *shpool;
    ngx_octopus_audit_shm_t        *sh;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = shm_zone->data;

    /*
     * the zone is initialized after nginx created its paths, with "user"
     * known, also for "nginx -t" and a reload (which then fails, the old
     * workers going on): the place to check the spool folder
     */

    if (amcf->enabled && amcf->spool
        && ngx_octopus_audit_spool_check_conf(amcf->cycle, amcf->spool,
                                              shm_zone->shm.log)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (oamcf) {
        /* reload with the same size: counters go on */
        amcf->shpool = oamcf->shpool;
        amcf->sh = oamcf->sh;
        return NGX_OK;
    }

    /*
     * the zone is a slab pool (the master unlocks its mutex when a worker
     * dies): the counters are allocated from it
     */

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    len = offsetof(ngx_octopus_audit_shm_t, slots)
          + amcf->anomaly_users * sizeof(ngx_octopus_audit_anomaly_slot_t);

    sh = ngx_slab_calloc(shpool, len);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->nslots = amcf->anomaly_users;

    if (amcf->spool) {
        sh->spool_bytes = (ngx_atomic_uint_t)
                          ngx_octopus_audit_spool_size(&amcf->spool->name);
    }

    shpool->log_ctx = (u_char *) " in octopus_audit zone";

    amcf->shpool = shpool;
    amcf->sh = sh;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_init_process(ngx_cycle_t *cycle)
{
    u_char                         *p;
    struct timeval                  tv;
    ngx_octopus_audit_sink_t      **s;
    ngx_octopus_audit_worker_t     *w;
    ngx_octopus_audit_main_conf_t  *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_octopus_audit_module);

    if (amcf == NULL || !amcf->enabled) {
        return NGX_OK;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_octopus_audit_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->amcf = amcf;
    w->log = cycle->log;
    w->pid = ngx_pid;

    /* a predecessor killed in this slot left its count: it is not ours */

    w->slot = (ngx_process_slot >= 0 && ngx_process_slot < NGX_MAX_PROCESSES)
              ? ngx_process_slot : 0;
    w->queue_depth = &amcf->sh->queue_depth[w->slot];
    *w->queue_depth = 0;
    amcf->sh->queue_pid[w->slot] = ngx_pid;

    /* one chain per worker process: node, pid and start time */

    ngx_gettimeofday(&tv);

    p = ngx_snprintf(w->chain_id, sizeof(w->chain_id) - 1, "%V:%P:%L",
                     &amcf->node, ngx_pid,
                     (int64_t) tv.tv_sec * 1000000 + tv.tv_usec);
    w->chain_id_len = p - w->chain_id;

    ngx_memset(w->prev_hash, '0', NGX_OCTOPUS_AUDIT_HASH_LEN);

    w->mac = ngx_octopus_audit_mac_create(amcf->chain_key.data,
                                          amcf->chain_key.len);
    if (w->mac == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "octopus audit: HMAC-SHA256 unavailable");
        return NGX_ERROR;
    }

    w->tick.handler = ngx_octopus_audit_tick;
    w->tick.data = w;
    w->tick.log = cycle->log;
    w->tick.cancelable = 1;

    ngx_add_timer(&w->tick, NGX_OCTOPUS_AUDIT_SYNC_MS);

    /* the configured sinks, each with its state */

    for (s = ngx_octopus_audit_sinks; *s; s++) {
        if (!(*s)->enabled(amcf)) {
            continue;
        }

        w->sinks[w->nsinks] = *s;

        if ((*s)->init(w, &w->ctx[w->nsinks]) != NGX_OK) {
            return NGX_ERROR;
        }

        w->nsinks++;
    }

    ngx_octopus_audit_worker = w;

    return NGX_OK;
}


static void
ngx_octopus_audit_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_octopus_audit_worker_t  *w;

    w = ngx_octopus_audit_worker;

    if (w == NULL) {
        return;
    }

    ngx_octopus_audit_worker = NULL;

    /* the last chain head first, while every sink still takes it */

    ngx_octopus_audit_checkpoint(w);

    for (i = 0; i < w->nsinks; i++) {
        if (w->sinks[i]->exit) {
            w->sinks[i]->exit(w, w->ctx[i]);
        }
    }

    ngx_octopus_audit_log_flush(w, 1);

    if (w->amcf->sh->queue_pid[w->slot] == w->pid) {
        w->amcf->sh->queue_pid[w->slot] = 0;
        *w->queue_depth = 0;
    }

    ngx_octopus_audit_mac_free(w->mac);
    w->mac = NULL;
}


static ngx_int_t
ngx_octopus_audit_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                       name;
    ngx_uint_t                      i;
    ngx_array_t                    *handlers;
    ngx_http_handler_pt            *h;
    ngx_octopus_audit_sink_t      **s;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_octopus_audit_module);

    /* a sink's counters are at its position in the registration */

    for (i = 0; ngx_octopus_audit_sinks[i]; i++) {
        if (i == NGX_OCTOPUS_AUDIT_SINK_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "octopus audit: more than %d sinks",
                               NGX_OCTOPUS_AUDIT_SINK_MAX);
            return NGX_ERROR;
        }

        ngx_octopus_audit_sinks[i]->index = i;
    }

    if (!amcf->enabled && !amcf->metrics) {
        return NGX_OK;
    }

    /* shared memory: metrics and anomaly counters, kept over reloads */

    ngx_str_set(&name, "octopus_audit");

    amcf->shm_zone = ngx_shared_memory_add(cf, &name,
                         ngx_align(offsetof(ngx_octopus_audit_shm_t, slots)
                                   + amcf->anomaly_users
                                     * sizeof(ngx_octopus_audit_anomaly_slot_t),
                                   ngx_pagesize)
                         + 16 * ngx_pagesize,
                         &ngx_octopus_audit_module);
    if (amcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    amcf->shm_zone->init = ngx_octopus_audit_init_zone;
    amcf->shm_zone->data = amcf;
    amcf->cycle = cf->cycle;

    if (!amcf->enabled) {
        return NGX_OK;
    }

    /* the sinks: defaults, their shared memory */

    for (s = ngx_octopus_audit_sinks; *s; s++) {
        if ((*s)->postconf && (*s)->postconf(cf, amcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * first in the log phase, before the access_log: a worker killed
     * between the two leaves a record without its access_log line, never
     * an access_log line without its record
     */

    if (ngx_octopus_audit_vars_init(cf, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    handlers = &cmcf->phases[NGX_HTTP_LOG_PHASE].handlers;

    h = ngx_array_push(handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = handlers->elts;
    ngx_memmove(&h[1], &h[0], (handlers->nelts - 1) * sizeof(*h));

    h[0] = ngx_octopus_audit_log_handler;

    return NGX_OK;
}


#define ngx_octopus_audit_var_init(v, n)                                      \
    ngx_str_set(&(v)->name, n);                                               \
    (v)->index = NGX_ERROR


static void *
ngx_octopus_audit_create_main_conf(ngx_conf_t *cf)
{
    ngx_octopus_audit_sink_t      **s;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->node = { 0, NULL };
     *     amcf->pg_conninfo = { 0, NULL };
     *     amcf->pg_password = { 0, NULL };
     *     amcf->table = { 0, NULL };
     *     amcf->spool = NULL;
     *     amcf->file = NULL;
     *     amcf->syslog = NULL;
     *     amcf->chain_key = { 0, NULL };
     *     amcf->anomaly_bytes = 0;
     *     amcf->anomaly_requests = 0;
     *     amcf->enabled = 0;
     */

    /* the sinks' fields */

    for (s = ngx_octopus_audit_sinks; *s; s++) {
        if ((*s)->create_conf) {
            (*s)->create_conf(amcf);
        }
    }

    amcf->checkpoint = NGX_CONF_UNSET_MSEC;
    amcf->anomaly_within = NGX_CONF_UNSET_MSEC;
    amcf->anomaly_users = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&amcf->redact, cf->pool, 2,
                       sizeof(ngx_octopus_audit_re_t *))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_octopus_audit_var_init(&amcf->var_user, "octopus_user");
    ngx_octopus_audit_var_init(&amcf->var_login_user, "octopus_login_user");
    ngx_octopus_audit_var_init(&amcf->var_role, "octopus_role");
    ngx_octopus_audit_var_init(&amcf->var_auth_method, "octopus_auth_method");
    ngx_octopus_audit_var_init(&amcf->var_api_key_id, "octopus_api_key_id");
    ngx_octopus_audit_var_init(&amcf->var_auth_result, "octopus_auth_result");
    ngx_octopus_audit_var_init(&amcf->var_ratelimit_result,
                               "octopus_ratelimit_result");
    ngx_octopus_audit_var_init(&amcf->var_request_id, "request_id");
    ngx_octopus_audit_var_init(&amcf->var_upstream_status, "upstream_status");
    ngx_octopus_audit_var_init(&amcf->var_upstream_time,
                               "upstream_response_time");

    return amcf;
}


static char *
ngx_octopus_audit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    char                       *rv;
    ngx_octopus_audit_sink_t  **s;

    if (amcf->node.data == NULL) {
        amcf->node = cf->cycle->hostname;
    }

    ngx_conf_init_msec_value(amcf->checkpoint, 10000);
    ngx_conf_init_msec_value(amcf->anomaly_within, 60000);
    ngx_conf_init_uint_value(amcf->anomaly_users, 0);

    /* the sinks' defaults */

    for (s = ngx_octopus_audit_sinks; *s; s++) {
        if ((*s)->init_conf) {
            rv = (*s)->init_conf(cf, amcf);

            if (rv != NGX_CONF_OK) {
                return rv;
            }
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_octopus_audit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_octopus_audit_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_audit_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->login = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_octopus_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_octopus_audit_loc_conf_t *prev = parent;
    ngx_octopus_audit_loc_conf_t *conf = child;

    ngx_octopus_audit_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->login, prev->login, 0);

    if (conf->enable) {
        amcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_octopus_audit_module);
        amcf->enabled = 1;
    }

    /* the auth module strips client identity headers in this server */

    if (conf->enable || conf->login) {
        ngx_octopus_mark_server(cf);
    }

    return NGX_CONF_OK;
}


static void
ngx_octopus_audit_cleanup_re(void *data)
{
    ngx_octopus_audit_re_free(data);
}


/* the node goes into syslog headers and chain ids: no space, printable */

static char *
ngx_octopus_audit_node_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (amcf->node.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 64) {
        goto invalid;
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= 0x20 || value[1].data[i] >= 0x7f
            || value[1].data[i] == '"' || value[1].data[i] == '\\'
            || value[1].data[i] == '\'')
        {
            goto invalid;
        }
    }

    amcf->node = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid node name \"%V\", expected 1 to 64 "
                       "printable characters without space", &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_octopus_audit_chain_key_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    ngx_str_t   *value, key, val;
    ngx_msec_t   ms;

    if (amcf->chain_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_octopus_audit_read_secret(cf, &value[1], &amcf->chain_key)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (amcf->chain_key.len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "chain key in \"%V\" is shorter than 16 bytes",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* whoever cracks the key can rewrite history: it must be random */

    if (ngx_octopus_secret_bits(amcf->chain_key.data, amcf->chain_key.len)
        < NGX_OCTOPUS_SECRET_MIN_BITS)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "chain key in \"%V\" looks made by a person, not "
                           "random (words, repeats or sequences: under 128 "
                           "bits of estimated entropy); create one with "
                           "\"octopus-keygen chain-key\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_octopus_parse_kv(&value[2], &key, &val) != NGX_OK
            || key.len != sizeof("checkpoint") - 1
            || ngx_strncmp(key.data, "checkpoint", key.len) != 0)
        {
            goto invalid;
        }

        ms = ngx_parse_time(&val, 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms < 1000 || ms > 10000) {
            goto invalid;
        }

        amcf->checkpoint = ms;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected "
                       "checkpoint=1s..10s", &value[2]);
    return NGX_CONF_ERROR;
}


static char *
ngx_octopus_audit_redact_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    char                      err[256];
    ngx_str_t                *value;
    ngx_pool_cleanup_t       *cln;
    ngx_octopus_audit_re_t  **re;

    value = cf->args->elts;

    re = ngx_array_push(&amcf->redact);
    if (re == NULL) {
        return NGX_CONF_ERROR;
    }

    *re = ngx_octopus_audit_re_compile(value[1].data, value[1].len,
                                       value[2].data, value[2].len,
                                       err, sizeof(err));
    if (*re == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redaction pattern \"%V\" -> \"%V\": %s",
                           &value[1], &value[2], err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_octopus_audit_re_free(*re);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_octopus_audit_cleanup_re;
    cln->data = *re;

    return NGX_CONF_OK;
}


static char *
ngx_octopus_audit_anomaly_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    off_t        size;
    ngx_int_t    n;
    ngx_str_t   *value, key, val;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (amcf->anomaly_users != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->anomaly_users = 10000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &key, &val) != NGX_OK) {
            goto invalid;
        }

        if (key.len == 5 && ngx_strncmp(key.data, "bytes", 5) == 0) {
            size = ngx_parse_offset(&val);
            if (size == NGX_ERROR || size <= 0) {
                goto invalid;
            }

            amcf->anomaly_bytes = size;

        } else if (key.len == 8
                   && ngx_strncmp(key.data, "requests", 8) == 0)
        {
            n = ngx_atoi(val.data, val.len);
            if (n <= 0) {
                goto invalid;
            }

            amcf->anomaly_requests = n;

        } else if (key.len == 6 && ngx_strncmp(key.data, "within", 6) == 0) {
            ms = ngx_parse_time(&val, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            amcf->anomaly_within = ms;

        } else if (key.len == 5 && ngx_strncmp(key.data, "users", 5) == 0) {
            n = ngx_atoi(val.data, val.len);
            if (n < 16 || n > 10000000) {
                goto invalid;
            }

            amcf->anomaly_users = n;

        } else {
            goto invalid;
        }
    }

    if (amcf->anomaly_bytes == 0 && amcf->anomaly_requests == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs bytes= or requests=", &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* a secret from a file, trailing white space removed; never logged */

ngx_int_t
ngx_octopus_audit_read_secret(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *out)
{
    ssize_t          n;
    ngx_str_t        name;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open secret file \"%V\"", path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 65536)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" unreadable or too large",
                           path);
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
    if (out->data == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, out->data, ngx_file_size(&fi), 0);

    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    while (n > 0 && (out->data[n - 1] == '\n' || out->data[n - 1] == '\r'
                     || out->data[n - 1] == ' ' || out->data[n - 1] == '\t'))
    {
        n--;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "secret file \"%V\" is empty",
                           path);
        return NGX_ERROR;
    }

    out->len = n;
    out->data[n] = '\0';

    return NGX_OK;
}
