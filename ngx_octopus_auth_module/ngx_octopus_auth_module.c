
/*
 * Copyright (C) Octopus Guard authors
 *
 * ngx_octopus_auth_module: JWT and API-key authentication, RBAC, identity
 * to the upstream, CORS.  This file holds the configuration; the access
 * phase handler arrives with the authentication features.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"


#define NGX_OCTOPUS_AUTH_OFF         0
#define NGX_OCTOPUS_AUTH_JWT         1
#define NGX_OCTOPUS_AUTH_API_KEY     2
#define NGX_OCTOPUS_AUTH_ANY         3
#define NGX_OCTOPUS_AUTH_JWT_API_KEY 4
#define NGX_OCTOPUS_AUTH_OPTIONAL    5


typedef struct {
    ngx_uint_t  mode;
} ngx_octopus_auth_loc_conf_t;


static void *ngx_octopus_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_octopus_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_conf_enum_t  ngx_octopus_auth_modes[] = {
    { ngx_string("off"), NGX_OCTOPUS_AUTH_OFF },
    { ngx_string("jwt"), NGX_OCTOPUS_AUTH_JWT },
    { ngx_string("api_key"), NGX_OCTOPUS_AUTH_API_KEY },
    { ngx_string("any"), NGX_OCTOPUS_AUTH_ANY },
    { ngx_string("jwt+api_key"), NGX_OCTOPUS_AUTH_JWT_API_KEY },
    { ngx_string("optional"), NGX_OCTOPUS_AUTH_OPTIONAL },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_octopus_auth_commands[] = {

    { ngx_string("octopus_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_auth_loc_conf_t, mode),
      &ngx_octopus_auth_modes },

      ngx_null_command
};


static ngx_http_module_t  ngx_octopus_auth_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_octopus_auth_create_loc_conf,      /* create location configuration */
    ngx_octopus_auth_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_octopus_auth_module = {
    NGX_MODULE_V1,
    &ngx_octopus_auth_module_ctx,          /* module context */
    ngx_octopus_auth_commands,             /* module directives */
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


static void *
ngx_octopus_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_octopus_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->mode = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_octopus_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_octopus_auth_loc_conf_t *prev = parent;
    ngx_octopus_auth_loc_conf_t *conf = child;

    ngx_conf_merge_uint_value(conf->mode, prev->mode, NGX_OCTOPUS_AUTH_OFF);

    return NGX_CONF_OK;
}
