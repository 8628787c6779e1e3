
/*
 * Copyright (C) Octopus Guard authors
 *
 * ngx_octopus_auth_module: JWT and API-key authentication, RBAC, identity
 * to the upstream, CORS.  This file holds the module definition and the
 * configuration; the request side is in ngx_octopus_auth_handler.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth.h"


#define NGX_OCTOPUS_AUTH_MAX_FILE  (1024 * 1024)


static ngx_int_t ngx_octopus_auth_init(ngx_conf_t *cf);
static void *ngx_octopus_auth_create_main_conf(ngx_conf_t *cf);
static char *ngx_octopus_auth_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_octopus_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_octopus_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_octopus_auth_init_process(ngx_cycle_t *cycle);
static void ngx_octopus_auth_exit_process(ngx_cycle_t *cycle);

static char *ngx_octopus_auth_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_api_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_cstr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_octopus_auth_cors_credentials(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_octopus_auth_cors_wildcard(ngx_array_t *origins);

static ngx_int_t ngx_octopus_auth_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out);
static ngx_int_t ngx_octopus_auth_add_key(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf, const ngx_octopus_jwt_key_t *key);
static ngx_int_t ngx_octopus_auth_load_api_keys(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf);
static ngx_int_t ngx_octopus_auth_resolve(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf, ngx_array_t *reqs);
static void ngx_octopus_auth_key_cleanup(void *data);
static void ngx_octopus_auth_rule_cleanup(void *data);
static char *ngx_octopus_auth_header_name(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_enum_t  ngx_octopus_auth_modes[] = {
    { ngx_string("off"), NGX_OCTOPUS_AUTH_OFF },
    { ngx_string("jwt"), NGX_OCTOPUS_AUTH_JWT },
    { ngx_string("api_key"), NGX_OCTOPUS_AUTH_API_KEY },
    { ngx_string("any"), NGX_OCTOPUS_AUTH_ANY },
    { ngx_string("jwt+api_key"), NGX_OCTOPUS_AUTH_JWT_API_KEY },
    { ngx_string("optional"), NGX_OCTOPUS_AUTH_OPTIONAL },
    { ngx_null_string, 0 }
};


static ngx_conf_bitmask_t  ngx_octopus_auth_methods[] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("HEAD"), NGX_HTTP_HEAD },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_string("PUT"), NGX_HTTP_PUT },
    { ngx_string("DELETE"), NGX_HTTP_DELETE },
    { ngx_string("PATCH"), NGX_HTTP_PATCH },
    { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
    { ngx_null_string, 0 }
};


static ngx_conf_post_handler_pt  ngx_octopus_auth_header_name_p =
    ngx_octopus_auth_header_name;


static ngx_command_t  ngx_octopus_auth_commands[] = {

    { ngx_string("octopus_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_mode,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, mode),
      &ngx_octopus_auth_modes },

    { ngx_string("octopus_auth_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_octopus_auth_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_revocation"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_auth_revoke_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_octopus_auth_metrics_conf,
      0,
      0,
      NULL },

    { ngx_string("octopus_auth_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_jwks,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_jwks_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_auth_jwks_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_oidc_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_auth_jwks_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_role"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_octopus_auth_role,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_api_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_api_keys,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_auth_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_cstr,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, issuer),
      NULL },

    { ngx_string("octopus_auth_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_cstr,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, audience),
      NULL },

    { ngx_string("octopus_auth_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, leeway),
      NULL },

    { ngx_string("octopus_auth_max_token_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, max_lifetime),
      NULL },

    { ngx_string("octopus_auth_refresh_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, refresh_tokens),
      NULL },

    { ngx_string("octopus_auth_user_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_cstr,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, user_claim),
      NULL },

    { ngx_string("octopus_auth_role_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_cstr,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, role_claim),
      NULL },

    { ngx_string("octopus_auth_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, token),
      NULL },

    { ngx_string("octopus_auth_api_key_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, api_key_header),
      &ngx_octopus_auth_header_name_p },

    { ngx_string("octopus_auth_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_octopus_auth_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, require),
      NULL },

    { ngx_string("octopus_auth_require_method"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_octopus_auth_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, require_method),
      NULL },

    { ngx_string("octopus_auth_rule"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_octopus_auth_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, rules),
      NULL },

    { ngx_string("octopus_auth_method_override"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, method_override),
      NULL },

    { ngx_string("octopus_auth_form_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, form_body_max),
      NULL },

    { ngx_string("octopus_path_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_octopus_auth_srv_conf_t, path_policy),
      &ngx_octopus_auth_path_policies },

    { ngx_string("octopus_path_case"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_octopus_auth_path_case,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_octopus_auth_srv_conf_t, path_case),
      &ngx_octopus_auth_path_cases },

    { ngx_string("octopus_cors_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_octopus_auth_cors_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("octopus_cors_methods"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, cors_methods),
      NULL },

    { ngx_string("octopus_cors_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, cors_headers),
      NULL },

    { ngx_string("octopus_cors_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_octopus_auth_cors_credentials,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, cors_credentials),
      NULL },

    { ngx_string("octopus_cors_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, cors_max_age),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_octopus_auth_module_ctx = {
    ngx_octopus_auth_add_variables,        /* preconfiguration */
    ngx_octopus_auth_init,                 /* postconfiguration */

    ngx_octopus_auth_create_main_conf,     /* create main configuration */
    ngx_octopus_auth_init_main_conf,       /* init main configuration */

    ngx_octopus_auth_create_srv_conf,      /* create server configuration */
    ngx_octopus_auth_merge_srv_conf,       /* merge server configuration */

    ngx_octopus_auth_create_loc_conf,      /* create location configuration */
    ngx_octopus_auth_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_octopus_auth_module = {
    NGX_MODULE_V1,
    &ngx_octopus_auth_module_ctx,          /* module context */
    ngx_octopus_auth_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_octopus_init_module,               /* init module */
    ngx_octopus_auth_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_octopus_auth_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_octopus_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_auth_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->rbac = NULL;
     *     amcf->apikeys_file = { 0, NULL };
     *     amcf->apikeys_conf_file = NULL;
     *     amcf->apikeys_conf_line = 0;
     *     amcf->revoke = NULL;
     */

    if (ngx_array_init(&amcf->keys, cf->pool, 4,
                       sizeof(ngx_octopus_jwt_key_t))
        != NGX_OK
        || ngx_array_init(&amcf->apikeys, cf->pool, 4,
                          sizeof(ngx_octopus_apikey_t))
           != NGX_OK)
    {
        return NULL;
    }

    amcf->rbac = ngx_palloc(cf->pool, sizeof(ngx_octopus_rbac_t));
    if (amcf->rbac == NULL) {
        return NULL;
    }

    ngx_octopus_rbac_init(amcf->rbac);

    amcf->roles_set = NGX_CONF_UNSET;
    amcf->jwt_cache_size = NGX_CONF_UNSET_SIZE;

    return amcf;
}


static char *
ngx_octopus_auth_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    if (amcf->roles_set == NGX_CONF_UNSET) {
        ngx_octopus_rbac_defaults(amcf->rbac);
        amcf->roles_set = 0;
    }

    if (ngx_octopus_auth_jwt_cache_conf(cf, amcf) != NGX_OK
        || ngx_octopus_auth_counters_conf(cf, amcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* after every key directive: the fetched keys go after the others */

    if (amcf->jwks_url
        && ngx_octopus_auth_jwks_url_init_conf(cf, amcf->jwks_url,
                                               &amcf->keys)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (amcf->apikeys_file.len
        && ngx_octopus_auth_load_api_keys(cf, amcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the revocation list's and the key set's clients, in every worker */

static ngx_int_t
ngx_octopus_auth_init_process(ngx_cycle_t *cycle)
{
    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_octopus_auth_module);

    if (amcf == NULL) {
        return NGX_OK;
    }

    ngx_octopus_auth_revoke_init_process(amcf->revoke, cycle);

    if (amcf->jwks_url
        && ngx_octopus_auth_jwks_url_init_process(cycle, amcf->jwks_url)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_octopus_auth_exit_process(ngx_cycle_t *cycle)
{
    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_octopus_auth_module);

    if (amcf == NULL) {
        return;
    }

    ngx_octopus_auth_revoke_exit_process(amcf->revoke);

    if (amcf->jwks_url) {
        ngx_octopus_auth_jwks_url_exit_process(amcf->jwks_url);
    }
}


static void *
ngx_octopus_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_octopus_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->issuer = { 0, NULL };
     *     conf->audience = { 0, NULL };
     *     conf->user_claim = { 0, NULL };
     *     conf->role_claim = { 0, NULL };
     *     conf->api_key_header = { 0, NULL };
     *     conf->cors_origins = NULL;
     *     conf->cors_methods = { 0, NULL };
     *     conf->cors_headers = { 0, NULL };
     *     conf->policy = { 0 };
     */

    conf->mode = NGX_CONF_UNSET_UINT;
    conf->leeway = NGX_CONF_UNSET;
    conf->max_lifetime = NGX_CONF_UNSET;
    conf->refresh_tokens = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->require = NGX_CONF_UNSET_PTR;
    conf->require_method = NGX_CONF_UNSET_PTR;
    conf->rules = NGX_CONF_UNSET_PTR;
    conf->cors_origins = NGX_CONF_UNSET_PTR;
    conf->cors_credentials = NGX_CONF_UNSET;
    conf->cors_max_age = NGX_CONF_UNSET;
    conf->method_override = NGX_CONF_UNSET;
    conf->form_body_max = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_octopus_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_octopus_auth_loc_conf_t *prev = parent;
    ngx_octopus_auth_loc_conf_t *conf = child;

    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_octopus_auth_module);

    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");

    /* octopus_auth_oidc_issuer is the required issuer unless one is set */

    if (conf->issuer.len == 0
        && ngx_octopus_auth_jwks_url_issuer(amcf->jwks_url))
    {
        conf->issuer = *ngx_octopus_auth_jwks_url_issuer(amcf->jwks_url);
    }
    ngx_conf_merge_str_value(conf->audience, prev->audience, "");
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_sec_value(conf->max_lifetime, prev->max_lifetime, 3600);
    ngx_conf_merge_value(conf->refresh_tokens, prev->refresh_tokens, 0);
    ngx_conf_merge_str_value(conf->user_claim, prev->user_claim, "sub");
    ngx_conf_merge_str_value(conf->role_claim, prev->role_claim, "");
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_str_value(conf->api_key_header, prev->api_key_header,
                             "X-API-Key");

    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);
    ngx_conf_merge_ptr_value(conf->require_method, prev->require_method,
                             NULL);
    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_value(conf->method_override, prev->method_override, 0);
    ngx_conf_merge_size_value(conf->form_body_max, prev->form_body_max,
                              64 * 1024);

    if (conf->cors_origins == NGX_CONF_UNSET_PTR) {
        conf->cors_origins = (prev->cors_origins == NGX_CONF_UNSET_PTR)
                             ? NULL : prev->cors_origins;
        conf->cors_file = prev->cors_file;
        conf->cors_line = prev->cors_line;
    }

    ngx_conf_merge_str_value(conf->cors_methods, prev->cors_methods,
                             "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    ngx_conf_merge_str_value(conf->cors_headers, prev->cors_headers,
                             "Authorization, Content-Type, X-API-Key");
    ngx_conf_merge_value(conf->cors_credentials, prev->cors_credentials, 0);
    ngx_conf_merge_sec_value(conf->cors_max_age, prev->cors_max_age, 0);

    if (conf->cors_credentials
        && ngx_octopus_auth_cors_wildcard(conf->cors_origins))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "octopus_cors_origins \"*\" cannot be used "
                      "with \"octopus_cors_credentials on\" in %s:%ui",
                      conf->cors_file, conf->cors_line);
        return NGX_CONF_ERROR;
    }

    /* the http-level conf is never a child: resolve the parent as well */

    if (ngx_octopus_auth_resolve(cf, amcf, prev->require) != NGX_OK
        || ngx_octopus_auth_resolve(cf, amcf, prev->require_method) != NGX_OK
        || ngx_octopus_auth_resolve(cf, amcf, prev->rules) != NGX_OK
        || ngx_octopus_auth_resolve(cf, amcf, conf->require) != NGX_OK
        || ngx_octopus_auth_resolve(cf, amcf, conf->require_method) != NGX_OK
        || ngx_octopus_auth_resolve(cf, amcf, conf->rules) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if ((conf->mode == NGX_OCTOPUS_AUTH_API_KEY
         || conf->mode == NGX_OCTOPUS_AUTH_JWT_API_KEY)
        && amcf->apikeys_file.len == 0)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "octopus_auth needs API keys in %s:%ui: no "
                      "\"octopus_auth_api_keys\" in the http block",
                      conf->mode_file, conf->mode_line);
        return NGX_CONF_ERROR;
    }

    conf->policy.keys = amcf->keys.elts;
    conf->policy.nkeys = amcf->keys.nelts;
    conf->policy.issuer = conf->issuer.len ? (char *) conf->issuer.data : NULL;
    conf->policy.audience = conf->audience.len ? (char *) conf->audience.data
                                               : NULL;
    conf->policy.leeway = (long) conf->leeway;
    conf->policy.max_lifetime = (long) conf->max_lifetime;
    conf->policy.allow_refresh = conf->refresh_tokens ? 1 : 0;
    conf->policy.generation = amcf->jwt_generation;

    if (conf->mode == NGX_CONF_UNSET_UINT) {
        conf->mode = prev->mode;
        conf->mode_file = prev->mode_file;
        conf->mode_line = prev->mode_line;
    }

    if (conf->mode == NGX_CONF_UNSET_UINT) {
        conf->mode = NGX_OCTOPUS_AUTH_OFF;
    }

    /* the server strips client identity headers in every location */

    if (conf->mode != NGX_OCTOPUS_AUTH_OFF || conf->cors_origins
        || conf->method_override)
    {
        ngx_octopus_mark_server(cf);
    }

    if ((conf->mode == NGX_OCTOPUS_AUTH_JWT
         || conf->mode == NGX_OCTOPUS_AUTH_JWT_API_KEY
         || ((conf->mode == NGX_OCTOPUS_AUTH_ANY
              || conf->mode == NGX_OCTOPUS_AUTH_OPTIONAL)
             && amcf->apikeys_file.len == 0))
        && amcf->keys.nelts == 0)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "octopus_auth needs JWT keys in %s:%ui: no "
                      "\"octopus_auth_key\", \"octopus_auth_jwks\", "
                      "\"octopus_auth_jwks_url\" or "
                      "\"octopus_auth_oidc_issuer\" in the http block",
                      conf->mode_file, conf->mode_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_octopus_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_octopus_auth_handler;

    if (ngx_octopus_auth_cors_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_octopus_auth_path_init(cf);
}


/* configuration files */


/*
 * a header name is an RFC 9110 token: an empty or odd name would match no
 * header, and every request of an api_key location would be refused
 */

static char *
ngx_octopus_auth_header_name(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    u_char  *p;

    if (name->len == 0) {
        return "is empty";
    }

    for (p = name->data; p < name->data + name->len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_octopus_auth_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *out)
{
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\"", name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot stat \"%V\"", name);
        goto failed;
    }

    if (!ngx_is_file(&fi) || ngx_file_size(&fi) > NGX_OCTOPUS_AUTH_MAX_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a regular file of at most 1M",
                           name);
        goto failed;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->temp_pool, out->len + 1);
    if (out->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, out->data, out->len, 0);
    if (n != (ssize_t) out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\"", name);
        goto failed;
    }

    out->data[out->len] = '\0';

    ngx_close_file(file.fd);

    return NGX_OK;

failed:

    ngx_close_file(file.fd);

    return NGX_ERROR;
}


static ngx_int_t
ngx_octopus_auth_add_key(ngx_conf_t *cf, ngx_octopus_auth_main_conf_t *amcf,
    const ngx_octopus_jwt_key_t *key)
{
    u_char                 *p;
    ngx_uint_t              i;
    ngx_pool_cleanup_t     *cln;
    ngx_octopus_jwt_key_t  *k;

    k = amcf->keys.elts;

    for (i = 0; key->kid && i < amcf->keys.nelts; i++) {
        if (k[i].kid && ngx_strcmp(k[i].kid, key->kid) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate key id \"%s\"", key->kid);
            return NGX_ERROR;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_octopus_jwt_key_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    k = ngx_array_push(&amcf->keys);
    if (k == NULL) {
        return NGX_ERROR;
    }

    *k = *key;

    if (key->kid) {
        p = ngx_pnalloc(cf->pool, ngx_strlen(key->kid) + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(p, (u_char *) key->kid, ngx_strlen(key->kid) + 1);
        k->kid = (char *) p;
    }

    if (key->secret) {
        p = ngx_pnalloc(cf->pool, key->secret_len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, key->secret, key->secret_len);
        k->secret = p;
    }

    if (ngx_octopus_jwt_key_prepare(k) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot prepare the %s key",
                           ngx_octopus_jwt_alg_name(k->alg));
        amcf->keys.nelts--;
        return NGX_ERROR;
    }

    /* the array may move: the cleanup keeps its own copy of the pointers */

    ngx_memcpy(cln->data, k, sizeof(ngx_octopus_jwt_key_t));
    cln->handler = ngx_octopus_auth_key_cleanup;

    return NGX_OK;
}


static void
ngx_octopus_auth_key_cleanup(void *data)
{
    ngx_octopus_jwt_key_t  *key = data;

    if (key->secret) {
        OPENSSL_cleanse((void *) key->secret, key->secret_len);
    }

    ngx_octopus_jwt_key_release(key);
}


static char *
ngx_octopus_auth_mode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_loc_conf_t  *alcf = conf;

    alcf->mode_file = cf->conf_file->file.name.data;
    alcf->mode_line = cf->conf_file->line;

    return ngx_conf_set_enum_slot(cf, cmd, conf);
}


/* octopus_auth_key alg [kid=id] file=path | env=NAME */

static char *
ngx_octopus_auth_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    char                   *env;
    u_char                 *kid;
    ngx_str_t              *value, k, v, file, data;
    ngx_uint_t              i;
    const char             *reason;
    ngx_octopus_jwt_key_t   key;

    value = cf->args->elts;

    ngx_memzero(&key, sizeof(ngx_octopus_jwt_key_t));

    key.alg = ngx_octopus_jwt_alg_parse((char *) value[1].data, value[1].len,
                                        1);
    if (key.alg == NGX_OCTOPUS_JWT_ALG_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unsupported algorithm \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&file);
    env = NULL;
    kid = NULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &k, &v) != NGX_OK || v.len == 0) {
            goto invalid;
        }

        if (k.len == 3 && ngx_strncmp(k.data, "kid", 3) == 0) {
            kid = v.data;          /* NUL-terminated: the argument's end */
            continue;
        }

        if (k.len == 4 && ngx_strncmp(k.data, "file", 4) == 0 && !env) {
            file = v;
            continue;
        }

        if (k.len == 3 && ngx_strncmp(k.data, "env", 3) == 0
            && file.len == 0)
        {
            env = (char *) v.data;
            continue;
        }

        goto invalid;
    }

    key.kid = (char *) kid;

    if (file.len) {
        if (ngx_octopus_auth_read_file(cf, &file, &data) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (env) {
        data.data = (u_char *) getenv(env);

        if (data.data == NULL || data.data[0] == '\0') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "environment variable \"%s\" is not set", env);
            return NGX_CONF_ERROR;
        }

        data.len = ngx_strlen(data.data);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_auth_key needs \"file=\" or \"env=\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_jwt_alg_is_hmac(key.alg)) {
        /* a trailing newline of a secret file is not part of the secret */

        while (data.len && (data.data[data.len - 1] == '\n'
                            || data.data[data.len - 1] == '\r'))
        {
            data.len--;
        }

        key.secret = data.data;
        key.secret_len = data.len;

    } else {
        if (env) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"env=\" holds HMAC secrets only, "
                               "use \"file=\" for a PEM public key");
            return NGX_CONF_ERROR;
        }

        key.pkey = ngx_octopus_jwt_pem_load((char *) data.data, data.len);

        if (key.pkey == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid PEM public key in \"%V\"", &file);
            return NGX_CONF_ERROR;
        }
    }

    reason = ngx_octopus_jwt_key_check(&key);

    if (reason) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %V key \"%s\": %s",
                           &value[1], file.len ? (char *) file.data : env,
                           reason);
        EVP_PKEY_free(key.pkey);
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_auth_add_key(cf, amcf, &key) != NGX_OK) {
        EVP_PKEY_free(key.pkey);
        return NGX_CONF_ERROR;
    }

    if (file.len && key.secret) {
        ngx_explicit_memzero(data.data, data.len);
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


typedef struct {
    ngx_conf_t                    *cf;
    ngx_octopus_auth_main_conf_t  *amcf;
} ngx_octopus_auth_jwks_ctx_t;


static int
ngx_octopus_auth_jwks_add(void *data, const ngx_octopus_jwt_key_t *key)
{
    ngx_octopus_auth_jwks_ctx_t  *ctx = data;

    return ngx_octopus_auth_add_key(ctx->cf, ctx->amcf, key) == NGX_OK
           ? 0 : -1;
}


static char *
ngx_octopus_auth_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    char                          err[256];
    ngx_str_t                    *value, name, data;
    ngx_octopus_auth_jwks_ctx_t   ctx;

    value = cf->args->elts;
    name = value[1];

    if (ngx_octopus_auth_read_file(cf, &name, &data) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ctx.cf = cf;
    ctx.amcf = amcf;

    if (ngx_octopus_jwks_parse((char *) data.data, data.len,
                               ngx_octopus_auth_jwks_add, &ctx,
                               err, sizeof(err))
        != 0)
    {
        ngx_explicit_memzero(data.data, data.len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid JWKS \"%V\": %s",
                           &name, err);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(data.data, data.len);

    return NGX_CONF_OK;
}


/* octopus_auth_role name permission ... */

static char *
ngx_octopus_auth_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    int          role;
    ngx_str_t   *value;
    ngx_uint_t   i;
    const char  *reason;

    value = cf->args->elts;

    amcf->roles_set = 1;

    role = ngx_octopus_rbac_add_role(amcf->rbac, (char *) value[1].data,
                                     value[1].len, &reason);
    if (role < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s \"%V\"", reason,
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_octopus_rbac_grant(amcf->rbac, role, (char *) value[i].data,
                                   value[i].len, &reason)
            < 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s \"%V\"", reason,
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_octopus_auth_api_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    ngx_str_t  *value;

    if (amcf->apikeys_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    amcf->apikeys_file = value[1];
    amcf->apikeys_conf_file = cf->conf_file->file.name.data;
    amcf->apikeys_conf_line = cf->conf_file->line;

    if (ngx_conf_full_name(cf->cycle, &amcf->apikeys_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* read after the roles are known: errors name the directive's line */

static ngx_int_t
ngx_octopus_auth_load_api_keys(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf)
{
    u_char                *p, *last, *eol;
    ngx_int_t              rc;
    ngx_str_t              data;
    ngx_uint_t             line, i;
    const char            *reason;
    ngx_octopus_apikey_t   key, *k;

    /* ngx_conf_log_error() would name the end of the http block */

    if (ngx_octopus_auth_read_file(cf, &amcf->apikeys_file, &data) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "octopus_auth_api_keys \"%V\" in %s:%ui is unusable",
                      &amcf->apikeys_file, amcf->apikeys_conf_file,
                      amcf->apikeys_conf_line);
        return NGX_ERROR;
    }

    p = data.data;
    last = p + data.len;
    line = 0;

    while (p < last) {
        line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        rc = ngx_octopus_apikey_parse_line(amcf->rbac, (char *) p, eol - p,
                                           &key, &reason);
        if (rc < 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "invalid API key file \"%V\" line %ui: %s "
                          "(octopus_auth_api_keys in %s:%ui)",
                          &amcf->apikeys_file, line, reason,
                          amcf->apikeys_conf_file, amcf->apikeys_conf_line);
            return NGX_ERROR;
        }

        if (rc == 1) {
            k = amcf->apikeys.elts;

            for (i = 0; i < amcf->apikeys.nelts; i++) {
                if (ngx_strcmp(k[i].id, key.id) == 0) {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "invalid API key file \"%V\" line %ui: "
                                  "duplicate key id \"%s\"",
                                  &amcf->apikeys_file, line, key.id);
                    return NGX_ERROR;
                }
            }

            k = ngx_array_push(&amcf->apikeys);
            if (k == NULL) {
                return NGX_ERROR;
            }

            *k = key;
        }

        p = eol + 1;
    }

    return NGX_OK;
}


/* a string argument kept NUL-terminated for the plain C code */

static char *
ngx_octopus_auth_cstr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty value in \"%V\"",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* configuration arguments are NUL-terminated by the parser */

    *field = value[1];

    return NGX_CONF_OK;
}


/*
 * octopus_auth_require perm|role=name ...
 * octopus_auth_require_method METHOD ... perm ...
 * octopus_auth_rule ~|~* regex [METHOD ...] perm ...
 */

static char *
ngx_octopus_auth_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char                     err[256];
    ngx_str_t               *value, *name;
    ngx_uint_t               i, m, first, is_rule;
    ngx_array_t            **reqs;
    ngx_pool_cleanup_t      *cln;
    ngx_octopus_auth_req_t  *req;

    reqs = (ngx_array_t **) (p + cmd->offset);
    value = cf->args->elts;

    if (*reqs == NGX_CONF_UNSET_PTR) {
        *reqs = ngx_array_create(cf->pool, 2, sizeof(ngx_octopus_auth_req_t));
        if (*reqs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(*reqs);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(req, sizeof(ngx_octopus_auth_req_t));

    req->file = cf->conf_file->file.name.data;
    req->line = cf->conf_file->line;

    req->names = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (req->names == NULL) {
        return NGX_CONF_ERROR;
    }

    is_rule = (cmd->offset == offsetof(ngx_octopus_auth_loc_conf_t, rules));
    first = 1;

    if (is_rule) {
        if (cf->args->nelts < 4
            || !((value[1].len == 1 && value[1].data[0] == '~')
                 || (value[1].len == 2 && value[1].data[0] == '~'
                     && value[1].data[1] == '*')))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "expected \"~ regex [METHOD ...] permission "
                               "...\" instead of \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_octopus_rbac_rule_compile(&req->rule, (char *) value[2].data,
                                          value[2].len, value[1].len == 2,
                                          err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid regex \"%V\": %s", &value[2], err);
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_octopus_rbac_rule_free(&req->rule);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_octopus_auth_rule_cleanup;
        cln->data = req->rule.re;

        first = 3;
    }

    for (i = first; i < cf->args->nelts; i++) {

        if (cmd->offset != offsetof(ngx_octopus_auth_loc_conf_t, require)) {
            for (m = 0; ngx_octopus_auth_methods[m].name.len; m++) {
                if (value[i].len == ngx_octopus_auth_methods[m].name.len
                    && ngx_strncmp(value[i].data,
                                   ngx_octopus_auth_methods[m].name.data,
                                   value[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (ngx_octopus_auth_methods[m].name.len) {
                if (req->names->nelts) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "method \"%V\" after a permission",
                                       &value[i]);
                    return NGX_CONF_ERROR;
                }

                req->rule.methods |= ngx_octopus_auth_methods[m].mask;
                continue;
            }
        }

        name = ngx_array_push(req->names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    if (req->names->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs at least one permission", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (!is_rule && cmd->offset != offsetof(ngx_octopus_auth_loc_conf_t,
                                            require)
        && req->rule.methods == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs at least one method before the "
                           "permissions", &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_octopus_auth_rule_cleanup(void *data)
{
    pcre2_code_free(data);
}


/* permission and role names are checked once the role table is complete */

static ngx_int_t
ngx_octopus_auth_resolve(ngx_conf_t *cf, ngx_octopus_auth_main_conf_t *amcf,
    ngx_array_t *reqs)
{
    int                      idx;
    ngx_str_t               *name, role;
    ngx_uint_t               i, j;
    ngx_octopus_auth_req_t  *req;

    if (reqs == NULL || reqs == NGX_CONF_UNSET_PTR) {
        return NGX_OK;
    }

    req = reqs->elts;

    for (i = 0; i < reqs->nelts; i++) {

        if (req[i].resolved) {
            continue;
        }

        name = req[i].names->elts;

        for (j = 0; j < req[i].names->nelts; j++) {

            if (name[j].len > 5 && ngx_strncmp(name[j].data, "role=", 5) == 0)
            {
                role.data = name[j].data + 5;
                role.len = name[j].len - 5;

                idx = ngx_octopus_rbac_role_index(amcf->rbac,
                                                  (char *) role.data,
                                                  role.len);
                if (idx < 0) {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "unknown role \"%V\" in %s:%ui",
                                  &role, req[i].file, req[i].line);
                    return NGX_ERROR;
                }

                req[i].roles |= (uint64_t) 1 << idx;
                continue;
            }

            idx = ngx_octopus_rbac_perm_index(amcf->rbac, (char *) name[j].data,
                                              name[j].len);
            if (idx < 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "unknown permission \"%V\" in %s:%ui "
                              "(no octopus_auth_role grants it)",
                              &name[j], req[i].file, req[i].line);
                return NGX_ERROR;
            }

            req[i].rule.perms |= (uint64_t) 1 << idx;
        }

        req[i].resolved = 1;
    }

    return NGX_OK;
}


static char *
ngx_octopus_auth_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_loc_conf_t  *alcf = conf;

    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    if (alcf->cors_origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* "off": no CORS in this location, whatever the levels above say */

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        alcf->cors_origins = NULL;
        return NGX_CONF_OK;
    }

    alcf->cors_origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (alcf->cors_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    alcf->cors_file = cf->conf_file->file.name.data;
    alcf->cors_line = cf->conf_file->line;

    for (i = 1; i < cf->args->nelts; i++) {

        if (!(value[i].len == 1 && value[i].data[0] == '*')
            && !((value[i].len > 7
                  && ngx_strncmp(value[i].data, "http://", 7) == 0)
                 || (value[i].len > 8
                     && ngx_strncmp(value[i].data, "https://", 8) == 0))
            )
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\" (expected "
                               "\"https://host[:port]\" or \"*\")",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (value[i].data[value[i].len - 1] == '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\" (no trailing slash)",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        origin = ngx_array_push(alcf->cors_origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    if (alcf->cors_credentials == 1
        && ngx_octopus_auth_cors_wildcard(alcf->cors_origins))
    {
        return "\"*\" cannot be used with \"octopus_cors_credentials on\"";
    }

    return NGX_CONF_OK;
}


static char *
ngx_octopus_auth_cors_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_octopus_auth_loc_conf_t  *alcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (alcf->cors_credentials == 1
        && alcf->cors_origins != NGX_CONF_UNSET_PTR
        && ngx_octopus_auth_cors_wildcard(alcf->cors_origins))
    {
        return "\"on\" cannot be used with octopus_cors_origins \"*\"";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_octopus_auth_cors_wildcard(ngx_array_t *origins)
{
    ngx_str_t   *origin;
    ngx_uint_t   i;

    if (origins == NULL || origins == NGX_CONF_UNSET_PTR) {
        return 0;
    }

    origin = origins->elts;

    for (i = 0; i < origins->nelts; i++) {
        if (origin[i].len == 1 && origin[i].data[0] == '*') {
            return 1;
        }
    }

    return 0;
}
