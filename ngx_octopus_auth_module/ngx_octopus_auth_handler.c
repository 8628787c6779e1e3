
/*
 * Copyright (C) Octopus Guard authors
 *
 * The request side of ngx_octopus_auth_module: the access phase handler,
 * the decision (computed once per request, also on demand by the
 * variables before the access phase), identity headers for the upstream,
 * 401/403 responses and CORS.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth.h"


#define NGX_OCTOPUS_AUTH_MAX_API_KEY  512


static void ngx_octopus_auth_fail(ngx_octopus_auth_ctx_t *ctx,
    ngx_octopus_auth_result_e result, ngx_uint_t status, const char *reason);
static void ngx_octopus_auth_revoked(ngx_octopus_auth_ctx_t *ctx,
    ngx_int_t rc, const char *reason);
static ngx_int_t ngx_octopus_auth_jwt(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_octopus_auth_ctx_t *ctx,
    ngx_str_t *token, uint64_t *perms, uint64_t *roles);
static ngx_int_t ngx_octopus_auth_api_key(ngx_http_request_t *r,
    ngx_octopus_auth_ctx_t *ctx, ngx_str_t *key, uint64_t *perms,
    uint64_t *roles);
static void ngx_octopus_auth_rbac(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_octopus_auth_ctx_t *ctx,
    uint64_t perms, uint64_t roles);
static ngx_int_t ngx_octopus_auth_send(ngx_http_request_t *r,
    ngx_octopus_auth_ctx_t *ctx);


ngx_int_t
ngx_octopus_auth_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_uint_t                    preflight;
    ngx_octopus_auth_ctx_t       *ctx;
    ngx_octopus_auth_loc_conf_t  *alcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_octopus_auth_module);

    if (alcf->mode == NGX_OCTOPUS_AUTH_OFF && alcf->cors_origins == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_octopus_auth_module);

    /*
     * a client never speaks for the gateway: its headers went in the
     * post-read phase; these are a previous location's, before a redirect
     */

    if (ngx_octopus_auth_strip(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (alcf->mode != NGX_OCTOPUS_AUTH_OFF) {
        rc = ngx_octopus_auth_override(r, alcf);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    /* a preflight is answered wherever CORS is set, with or without auth */

    rc = ngx_octopus_auth_cors_preflight(r, alcf, &preflight);
    if (rc != NGX_OK) {
        return rc;
    }

    if (preflight) {
        if (ctx == NULL) {
            ctx = ngx_pcalloc(r->pool, sizeof(ngx_octopus_auth_ctx_t));
            if (ctx == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_http_set_ctx(r, ctx, ngx_octopus_auth_module);
        }

        ngx_memzero(ctx, sizeof(ngx_octopus_auth_ctx_t));
        ctx->alcf = alcf;
        ctx->result = NGX_OCTOPUS_AUTH_R_PREFLIGHT;
        ctx->preflight = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: CORS preflight answered, 204");

        ngx_octopus_auth_count(r, ctx);

        return ngx_octopus_auth_send(r, ctx);
    }

    if (alcf->mode == NGX_OCTOPUS_AUTH_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_octopus_auth_evaluate(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->jwks_wait && ctx->status == NGX_HTTP_UNAUTHORIZED
        && ngx_octopus_auth_jwks_url_wait(r, &ctx->jwks_deadline) == NGX_AGAIN)
    {
        /* an unknown kid and a key set on its way: decide again after it */
        ctx->result = NGX_OCTOPUS_AUTH_R_NONE;
        return NGX_AGAIN;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: result %s, status %ui, reason \"%s\", "
                   "user \"%V\"",
                   ngx_octopus_auth_result_names()[ctx->result].data,
                   ctx->status, ctx->reason ? ctx->reason : "",
                   &ctx->user);

    ngx_octopus_auth_count(r, ctx);

    if (ctx->status) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "octopus auth: %s, %s, user \"%V\"",
                      ngx_octopus_auth_result_names()[ctx->result].data,
                      ctx->reason, &ctx->user);

        return ngx_octopus_auth_send(r, ctx);
    }

    rc = ngx_octopus_auth_override_json(r, alcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->result == NGX_OCTOPUS_AUTH_R_ANONYMOUS) {
        return NGX_DECLINED;
    }

    if (ngx_octopus_auth_set_header(r, &r->headers_in.headers,
                                    "X-Octopus-User", &ctx->user)
           != NGX_OK
        || ngx_octopus_auth_set_header(r, &r->headers_in.headers,
                                       "X-Octopus-Role", &ctx->role)
           != NGX_OK
        || ngx_octopus_auth_set_header(r, &r->headers_in.headers,
                                       "X-Octopus-Auth", &ctx->method)
           != NGX_OK
        || ngx_octopus_auth_set_header(r, &r->headers_in.headers,
                                       "X-Octopus-Key-Id", &ctx->key_id)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


ngx_octopus_auth_ctx_t *
ngx_octopus_auth_evaluate(ngx_http_request_t *r)
{
    size_t                         len;
    uint64_t                       perms, roles, kperms, kroles;
    ngx_uint_t                     n;
    ngx_str_t                      token, key;
    ngx_table_elt_t               *h;
    ngx_msec_t                     deadline;
    ngx_octopus_auth_ctx_t        *ctx;
    ngx_octopus_auth_loc_conf_t   *alcf;
    ngx_octopus_auth_main_conf_t  *amcf;
    char                           names[NGX_OCTOPUS_RBAC_MAX
                                         * (NGX_OCTOPUS_RBAC_NAME_LEN + 1)];

    alcf = ngx_http_get_module_loc_conf(r, ngx_octopus_auth_module);

    ctx = ngx_http_get_module_ctx(r, ngx_octopus_auth_module);

    /*
     * computed once per request and location: a variable evaluated before
     * the location was chosen (server rewrites) does not decide for it
     */

    if (ctx && ctx->result != NGX_OCTOPUS_AUTH_R_NONE && ctx->alcf == alcf) {
        return ctx;
    }

    deadline = 0;

    if (ctx == NULL) {
        ctx = ngx_palloc(r->pool, sizeof(ngx_octopus_auth_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_octopus_auth_module);

    } else {
        deadline = ctx->jwks_deadline;
    }

    ngx_memzero(ctx, sizeof(ngx_octopus_auth_ctx_t));
    ctx->alcf = alcf;
    ctx->jwks_deadline = deadline;

    if (alcf->mode == NGX_OCTOPUS_AUTH_OFF) {
        return ctx;
    }

    /* credentials */

    ngx_str_null(&token);
    ngx_str_null(&key);

    h = r->headers_in.authorization;

    if (h && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        token.data = h->value.data + 7;
        token.len = h->value.len - 7;

        while (token.len && token.data[0] == ' ') {
            token.data++;
            token.len--;
        }

        while (token.len && token.data[token.len - 1] == ' ') {
            token.len--;
        }
    }

    if (token.len == 0 && alcf->token) {
        if (ngx_http_complex_value(r, alcf->token, &token) != NGX_OK) {
            return NULL;
        }
    }

    h = ngx_octopus_auth_find_header(r, alcf->api_key_header.data,
                                     alcf->api_key_header.len, &n);
    if (h) {
        key = h->value;

        /* two keys: which one a later hop would use is anyone's guess */

        if (alcf->mode != NGX_OCTOPUS_AUTH_JWT && n > 1) {
            ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_INVALID,
                                  NGX_HTTP_UNAUTHORIZED,
                                  "duplicate api key header");
            return ctx;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: mode %ui, bearer token %s, api key %s",
                   alcf->mode, token.len ? "found" : "absent",
                   key.len ? "found" : "absent");

    perms = 0;
    roles = 0;
    kperms = 0;
    kroles = 0;

    switch (alcf->mode) {

    case NGX_OCTOPUS_AUTH_JWT:
        if (token.len == 0) {
            ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_MISSING,
                                  NGX_HTTP_UNAUTHORIZED, "missing token");
            return ctx;
        }

        break;

    case NGX_OCTOPUS_AUTH_API_KEY:
        if (key.len == 0) {
            ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_MISSING,
                                  NGX_HTTP_UNAUTHORIZED, "missing api key");
            return ctx;
        }

        ngx_str_null(&token);
        break;

    case NGX_OCTOPUS_AUTH_JWT_API_KEY:
        if (token.len == 0 || key.len == 0) {
            ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_MISSING,
                                  NGX_HTTP_UNAUTHORIZED,
                                  token.len ? "missing api key"
                                            : "missing token");
            return ctx;
        }

        break;

    default: /* any, optional */
        if (token.len == 0 && key.len == 0) {
            if (alcf->mode == NGX_OCTOPUS_AUTH_OPTIONAL) {
                ctx->result = NGX_OCTOPUS_AUTH_R_ANONYMOUS;
                ngx_octopus_auth_rbac(r, alcf, ctx, 0, 0);

                if (ctx->status) {
                    ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_MISSING,
                                          NGX_HTTP_UNAUTHORIZED,
                                          "missing credentials");
                }

                return ctx;
            }

            ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_MISSING,
                                  NGX_HTTP_UNAUTHORIZED,
                                  "missing credentials");
            return ctx;
        }
    }

    if (token.len) {
        if (ngx_octopus_auth_jwt(r, alcf, ctx, &token, &perms, &roles)
            != NGX_OK)
        {
            return ctx;
        }
    }

    if (alcf->mode != NGX_OCTOPUS_AUTH_JWT && key.len) {
        if (ngx_octopus_auth_api_key(r, ctx, &key, &kperms, &kroles)
            != NGX_OK)
        {
            return ctx;
        }

        if (token.len == 0) {
            /* the key is the identity */
            perms = kperms;
            roles = kroles;
            ctx->user = ctx->key_id;
        }
    }

    if (token.len && ctx->key_id.len) {
        ngx_str_set(&ctx->method, "jwt+api_key");

    } else if (token.len) {
        ngx_str_set(&ctx->method, "jwt");

    } else {
        ngx_str_set(&ctx->method, "api_key");
    }

    /* names of the roles and permissions, for headers and variables */

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_auth_module);

    len = ngx_octopus_rbac_format(amcf->rbac, roles, 1, names, sizeof(names));

    ctx->role.data = ngx_pnalloc(r->pool, len);
    if (ctx->role.data == NULL) {
        return NULL;
    }

    ngx_memcpy(ctx->role.data, names, len);
    ctx->role.len = len;

    len = ngx_octopus_rbac_format(amcf->rbac, perms, 0, names, sizeof(names));

    ctx->permissions.data = ngx_pnalloc(r->pool, len);
    if (ctx->permissions.data == NULL) {
        return NULL;
    }

    ngx_memcpy(ctx->permissions.data, names, len);
    ctx->permissions.len = len;

    ctx->result = NGX_OCTOPUS_AUTH_R_OK;

    ngx_octopus_auth_rbac(r, alcf, ctx, perms, roles);

    return ctx;
}


static void
ngx_octopus_auth_fail(ngx_octopus_auth_ctx_t *ctx,
    ngx_octopus_auth_result_e result, ngx_uint_t status, const char *reason)
{
    ctx->result = result;
    ctx->status = status;
    ctx->reason = reason;
    ctx->token_error = (result == NGX_OCTOPUS_AUTH_R_INVALID
                        || result == NGX_OCTOPUS_AUTH_R_EXPIRED);
}


/*
 * revoked: 401 invalid_token; the list not known to be current with
 * failure=closed: 401 with the reason, result "error" (not the client's)
 */

static void
ngx_octopus_auth_revoked(ngx_octopus_auth_ctx_t *ctx, ngx_int_t rc,
    const char *reason)
{
    ngx_octopus_auth_fail(ctx, rc == NGX_BUSY ? NGX_OCTOPUS_AUTH_R_ERROR
                                              : NGX_OCTOPUS_AUTH_R_INVALID,
                          NGX_HTTP_UNAUTHORIZED, reason);
}


/* a claim value that may travel in a header: printable, bounded */

static ngx_int_t
ngx_octopus_auth_header_safe(ngx_http_request_t *r,
    ngx_octopus_auth_json_t *claims, int tok, ngx_str_t *out)
{
    long     len;
    u_char  *p, *last;
    size_t   size;

    if (ngx_octopus_auth_json_type(claims, tok)
        != NGX_OCTOPUS_AUTH_JSON_STRING)
    {
        return NGX_DECLINED;
    }

    size = claims->toks[tok].end - claims->toks[tok].start + 1;

    if (size > 257) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_octopus_auth_json_string(claims, tok, (char *) p, size);

    if (len <= 0) {
        return NGX_DECLINED;
    }

    out->data = p;
    out->len = (size_t) len;

    for (last = p + len; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static uint64_t
ngx_octopus_auth_mix_generation(uint64_t conf, ngx_uint_t fetched)
{
    uint64_t  g;

    if (conf == 0) {
        return 0;
    }

    /* an odd multiplier: each fetched generation its own value; 0 bypasses */
    g = conf ^ ((uint64_t) fetched * 0x9e3779b97f4a7c15ULL);

    return g;
}


static ngx_int_t
ngx_octopus_auth_jwt(ngx_http_request_t *r, ngx_octopus_auth_loc_conf_t *alcf,
    ngx_octopus_auth_ctx_t *ctx, ngx_str_t *token, uint64_t *perms,
    uint64_t *roles)
{
    ngx_int_t                       rc;
    const char                     *reason;
    ngx_octopus_auth_json_t        *claims;
    ngx_octopus_jwt_result_t        res;
    ngx_octopus_jwt_policy_t        fetched;
    ngx_octopus_auth_main_conf_t   *amcf;
    const ngx_octopus_jwt_policy_t *policy;

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_auth_module);

    policy = &alcf->policy;

    if (amcf->jwks_url) {
        ngx_octopus_auth_jwks_url_sync(amcf->jwks_url, r->connection->log);

        /*
         * the shared cache serves a token only to a worker verifying with
         * the key set it was verified under: the configured keys'
         * fingerprint mixed with the fetched set's generation (0 still
         * bypasses the cache)
         */

        fetched = alcf->policy;
        fetched.generation = ngx_octopus_auth_mix_generation(
                                 alcf->policy.generation,
                                 ngx_octopus_auth_keys_generation(amcf));
        policy = &fetched;
    }

    ngx_octopus_jwt_verify_cached(policy, amcf->jwt_cache,
                                  (char *) token->data, token->len,
                                  ngx_time(), &res);

    if (amcf->jwks_url && res.status == NGX_OCTOPUS_JWT_INVALID
        && res.reason && ngx_strcmp(res.reason, "unknown key") == 0)
    {
        /* a key rotated at the identity provider: fetch the set now */
        res.reason = ngx_octopus_auth_jwks_url_unknown(amcf->jwks_url,
                                                       r->connection->log);
        ctx->jwks_wait = ngx_octopus_auth_jwks_url_fetching(amcf->jwks_url);
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: token %s, status %d, kid \"%s\", "
                   "alg %s, reason \"%s\"",
                   res.cached ? "from the verification cache" : "verified",
                   (int) res.status,
                   (res.key && res.key->kid) ? res.key->kid : "",
                   res.key ? ngx_octopus_jwt_alg_name(res.key->alg) : "none",
                   res.reason ? res.reason : "");

    switch (res.status) {

    case NGX_OCTOPUS_JWT_OK:
        break;

    case NGX_OCTOPUS_JWT_EXPIRED:
        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_EXPIRED,
                              NGX_HTTP_UNAUTHORIZED, res.reason);
        return NGX_DECLINED;

    case NGX_OCTOPUS_JWT_INVALID:
        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_INVALID,
                              NGX_HTTP_UNAUTHORIZED, res.reason);
        return NGX_DECLINED;

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "octopus auth: JWT verification failed internally");
        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_ERROR,
                              NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "internal error");
        return NGX_ERROR;
    }

    /* the claims of a verified token are kept for the variables */

    claims = ngx_palloc(r->pool, sizeof(ngx_octopus_auth_json_t));
    if (claims == NULL) {
        goto failed;
    }

    *claims = res.claims;

    claims->src = ngx_pnalloc(r->pool, res.claims.len);
    claims->toks = ngx_palloc(r->pool,
                              res.claims.ntoks
                              * sizeof(ngx_octopus_auth_json_tok_t));
    if (claims->src == NULL || claims->toks == NULL) {
        goto failed;
    }

    ngx_memcpy((char *) claims->src, res.claims.src, res.claims.len);
    ngx_memcpy(claims->toks, res.claims.toks,
               res.claims.ntoks * sizeof(ngx_octopus_auth_json_tok_t));

    rc = ngx_octopus_auth_header_safe(r, claims,
                                      ngx_octopus_auth_json_get(claims, 0,
                                          (char *) alcf->user_claim.data),
                                      &ctx->user);
    if (rc == NGX_ERROR) {
        goto failed;
    }

    if (rc != NGX_OK) {
        ngx_str_null(&ctx->user);
        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_INVALID,
                              NGX_HTTP_UNAUTHORIZED, "invalid subject claim");
        return NGX_DECLINED;
    }

    rc = ngx_octopus_auth_header_safe(r, claims,
                                      ngx_octopus_auth_json_get(claims, 0,
                                                                "jti"),
                                      &ctx->jti);
    if (rc == NGX_ERROR) {
        goto failed;
    }

    if (rc != NGX_OK) {
        ngx_str_null(&ctx->jti);
    }

    /* revoked: by jti, or the subject's tokens issued before a time */

    rc = ngx_octopus_auth_revoke_check(amcf->revoke, &ctx->jti, &ctx->user,
                                       claims, NULL, r->connection->log,
                                       &reason);
    if (rc != NGX_OK) {
        ngx_octopus_auth_revoked(ctx, rc, reason);
        return NGX_DECLINED;
    }

    ctx->claims = claims;

    *perms = ngx_octopus_rbac_claims(amcf->rbac, claims,
                                     alcf->role_claim.len
                                     ? (char *) alcf->role_claim.data : NULL,
                                     roles);

    return NGX_OK;

failed:

    ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_ERROR,
                          NGX_HTTP_INTERNAL_SERVER_ERROR, "internal error");
    return NGX_ERROR;
}


static ngx_int_t
ngx_octopus_auth_api_key(ngx_http_request_t *r, ngx_octopus_auth_ctx_t *ctx,
    ngx_str_t *key, uint64_t *perms, uint64_t *roles)
{
    int                            i;
    ngx_int_t                      rc;
    const char                    *reason;
    ngx_octopus_apikey_t          *k;
    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_auth_module);

    if (key->len > NGX_OCTOPUS_AUTH_MAX_API_KEY) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: api key of %uz bytes, too long",
                       key->len);

        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_INVALID,
                              NGX_HTTP_UNAUTHORIZED, "invalid api key");
        return NGX_DECLINED;
    }

    k = amcf->apikeys.elts;
    i = ngx_octopus_apikey_lookup(k, amcf->apikeys.nelts, (char *) key->data,
                                  key->len);
    if (i < 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "octopus auth: api key matches no configured key");

        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_INVALID,
                              NGX_HTTP_UNAUTHORIZED, "invalid api key");
        return NGX_DECLINED;
    }

    ctx->key_id.data = (u_char *) k[i].id;
    ctx->key_id.len = ngx_strlen(k[i].id);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: api key id \"%V\"", &ctx->key_id);

    if (k[i].expires && k[i].expires <= ngx_time()) {
        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_EXPIRED,
                              NGX_HTTP_UNAUTHORIZED, "api key expired");
        return NGX_DECLINED;
    }

    rc = ngx_octopus_auth_revoke_check(amcf->revoke, NULL, NULL, NULL,
                                       &ctx->key_id, r->connection->log,
                                       &reason);
    if (rc != NGX_OK) {
        ngx_octopus_auth_revoked(ctx, rc, reason);
        return NGX_DECLINED;
    }

    *roles = (uint64_t) 1 << k[i].role;
    *perms = amcf->rbac->role_perms[k[i].role];

    return NGX_OK;
}


static void
ngx_octopus_auth_rbac(ngx_http_request_t *r, ngx_octopus_auth_loc_conf_t *alcf,
    ngx_octopus_auth_ctx_t *ctx, uint64_t perms, uint64_t roles)
{
    ngx_int_t                rc;
    uint64_t                 need, need_roles;
    ngx_uint_t               i, method, denied;
    ngx_octopus_auth_req_t  *req;

    need = 0;
    need_roles = 0;

    /* HEAD as GET, an honoured method override as its method */

    method = ngx_octopus_auth_effective_method(r, alcf);

    if (alcf->require) {
        req = alcf->require->elts;

        for (i = 0; i < alcf->require->nelts; i++) {
            need |= req[i].rule.perms;
            need_roles |= req[i].roles;
        }
    }

    if (alcf->require_method) {
        req = alcf->require_method->elts;

        for (i = 0; i < alcf->require_method->nelts; i++) {
            if (req[i].rule.methods & method) {
                need |= req[i].rule.perms;
                need_roles |= req[i].roles;
            }
        }
    }

    if (alcf->rules) {
        req = alcf->rules->elts;

        for (i = 0; i < alcf->rules->nelts; i++) {
            rc = ngx_octopus_rbac_rule_match(&req[i].rule,
                                             (char *) r->uri.data, r->uri.len,
                                             (uint32_t) method);
            if (rc < 0) {
                ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_ERROR,
                                      NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal error");
                return;
            }

            if (rc) {
                ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "octopus auth: rbac rule %ui matched (%s:%ui)",
                               i, req[i].file, req[i].line);

                need |= req[i].rule.perms;
                need_roles |= req[i].roles;
            }
        }
    }

    denied = ((perms & need) != need || (roles & need_roles) != need_roles);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: rbac needs perms %016xL roles %016xL, "
                   "has perms %016xL roles %016xL: %s",
                   need, need_roles, perms, roles,
                   denied ? "denied" : "allowed");

    if (denied) {
        ngx_octopus_auth_fail(ctx, NGX_OCTOPUS_AUTH_R_FORBIDDEN,
                              NGX_HTTP_FORBIDDEN, "insufficient permissions");
    }
}


/*
 * the first header of that name; with count, every one is counted too
 * (one walk of the list)
 */

ngx_table_elt_t *
ngx_octopus_auth_find_header(ngx_http_request_t *r, u_char *name, size_t len,
    ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *first;

    first = NULL;

    if (count) {
        *count = 0;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return first;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != len
            || ngx_strncasecmp(h[i].key.data, name, len) != 0)
        {
            continue;
        }

        if (first == NULL) {
            first = &h[i];
        }

        if (count == NULL) {
            return first;
        }

        (*count)++;
    }
}


ngx_int_t
ngx_octopus_auth_set_header(ngx_http_request_t *r, ngx_list_t *headers,
    char *name, ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    if (value->len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(name);

    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, len);

    return NGX_OK;
}


/*
 * 204 for a preflight, else a JSON error with WWW-Authenticate.  The
 * response is finished here: NGX_DONE stops the phase engine.
 */

static ngx_int_t
ngx_octopus_auth_send(ngx_http_request_t *r, ngx_octopus_auth_ctx_t *ctx)
{
    u_char      *p;
    size_t       len;
    ngx_int_t    rc;
    ngx_str_t    www;
    const char  *error, *reason;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (ctx->preflight) {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->headers_out.content_length_n = 0;
        r->header_only = 1;

        rc = ngx_http_send_header(r);
        ngx_http_finalize_request(r, rc);

        return NGX_DONE;
    }

    reason = ctx->reason ? ctx->reason : "unauthorized";

    switch (ctx->status) {

    case NGX_HTTP_FORBIDDEN:
        error = "insufficient_scope";
        break;

    case NGX_HTTP_UNAUTHORIZED:
        error = ctx->token_error ? "invalid_token" : "unauthorized";
        break;

    default:
        error = "internal_error";
        reason = "internal error";
    }

    if (ctx->status == NGX_HTTP_UNAUTHORIZED
        || ctx->status == NGX_HTTP_FORBIDDEN)
    {
        len = sizeof("Bearer realm=\"octopus\", error=\"\", "
                     "error_description=\"\"") - 1
              + ngx_strlen(error) + ngx_strlen(reason);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        www.data = p;

        if (ctx->status == NGX_HTTP_UNAUTHORIZED && !ctx->token_error) {
            p = ngx_cpymem(p, "Bearer realm=\"octopus\"",
                           sizeof("Bearer realm=\"octopus\"") - 1);

        } else {
            p = ngx_sprintf(p, "Bearer realm=\"octopus\", error=\"%s\", "
                            "error_description=\"%s\"", error, reason);
        }

        www.len = p - www.data;

        if (ngx_octopus_auth_set_header(r, &r->headers_out.headers,
                                        "WWW-Authenticate", &www)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_octopus_send_json_error(r, ctx->status, error, reason);
}


/* variables */


static ngx_int_t
ngx_octopus_auth_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t                        *s, value;
    ngx_octopus_auth_ctx_t           *ctx;
    const ngx_octopus_result_name_t  *name;

    ctx = ngx_octopus_auth_evaluate(r);

    if (ctx == NULL || ctx->result == NGX_OCTOPUS_AUTH_R_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == (uintptr_t) -1) {
        name = &ngx_octopus_auth_result_names()[ctx->result];
        value.len = name->len;
        value.data = (u_char *) name->data;
        s = &value;

    } else {
        s = (ngx_str_t *) ((char *) ctx + data);
    }

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    int                       tok;
    long                      n;
    size_t                    len;
    u_char                   *p;
    ngx_octopus_auth_json_t  *claims;
    ngx_octopus_auth_ctx_t   *ctx;

    ctx = ngx_octopus_auth_evaluate(r);

    if (ctx == NULL || ctx->claims == NULL
        || name->len <= sizeof("octopus_jwt_claim_") - 1)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    claims = ctx->claims;
    len = name->len - (sizeof("octopus_jwt_claim_") - 1);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, name->data + sizeof("octopus_jwt_claim_") - 1, len + 1);

    tok = ngx_octopus_auth_json_get(claims, 0, (char *) p);

    switch (ngx_octopus_auth_json_type(claims, tok)) {

    case NGX_OCTOPUS_AUTH_JSON_NONE:
    case NGX_OCTOPUS_AUTH_JSON_NULL:
        v->not_found = 1;
        return NGX_OK;

    case NGX_OCTOPUS_AUTH_JSON_STRING:
        len = claims->toks[tok].end - claims->toks[tok].start + 1;

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        n = ngx_octopus_auth_json_string(claims, tok, (char *) p, len);
        if (n < 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        /*
         * the value may go into a header (proxy_set_header): a control
         * character such as an unescaped CR LF would inject header lines
         */

        for (len = 0; len < (size_t) n; len++) {
            if (p[len] < 0x20 || p[len] == 0x7f) {
                v->not_found = 1;
                return NGX_OK;
            }
        }

        v->data = p;
        v->len = (size_t) n;
        break;

    default:
        /* numbers, booleans, arrays and objects: their JSON text */
        v->data = (u_char *) claims->src + claims->toks[tok].start;
        v->len = claims->toks[tok].end - claims->toks[tok].start;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_http_variable_t  ngx_octopus_auth_vars[] = {

    { ngx_string("octopus_user"), NULL, ngx_octopus_auth_variable,
      offsetof(ngx_octopus_auth_ctx_t, user), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_role"), NULL, ngx_octopus_auth_variable,
      offsetof(ngx_octopus_auth_ctx_t, role), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_permissions"), NULL, ngx_octopus_auth_variable,
      offsetof(ngx_octopus_auth_ctx_t, permissions),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_auth_method"), NULL, ngx_octopus_auth_variable,
      offsetof(ngx_octopus_auth_ctx_t, method), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_api_key_id"), NULL, ngx_octopus_auth_variable,
      offsetof(ngx_octopus_auth_ctx_t, key_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_jwt_jti"), NULL, ngx_octopus_auth_variable,
      offsetof(ngx_octopus_auth_ctx_t, jti), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_auth_result"), NULL, ngx_octopus_auth_variable,
      (uintptr_t) -1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("octopus_jwt_claim_"), NULL,
      ngx_octopus_auth_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_octopus_auth_add_variables(ngx_conf_t *cf)
{
    return ngx_octopus_add_variables(cf, ngx_octopus_auth_vars);
}
