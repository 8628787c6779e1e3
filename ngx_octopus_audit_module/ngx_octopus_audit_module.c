
/*
 * Copyright (C) Octopus Guard authors
 *
 * ngx_octopus_audit_module: every API call and security event recorded in
 * PostgreSQL without blocking nginx.  This file holds the configuration;
 * the log phase handler and the sinks arrive with the audit features.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"


typedef struct {
    ngx_str_t   node;
} ngx_octopus_audit_main_conf_t;


typedef struct {
    ngx_flag_t  enable;
} ngx_octopus_audit_loc_conf_t;


static void *ngx_octopus_audit_create_main_conf(ngx_conf_t *cf);
static char *ngx_octopus_audit_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_octopus_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_octopus_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ngx_octopus_audit_commands[] = {

    { ngx_string("octopus_audit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_octopus_audit_loc_conf_t, enable),
      NULL },

    { ngx_string("octopus_audit_node"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_octopus_audit_main_conf_t, node),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_octopus_audit_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

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
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_octopus_audit_create_main_conf(ngx_conf_t *cf)
{
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->node = { 0, NULL };
     */

    return amcf;
}


static char *
ngx_octopus_audit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    if (amcf->node.data == NULL) {
        amcf->node = cf->cycle->hostname;
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

    return conf;
}


static char *
ngx_octopus_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_octopus_audit_loc_conf_t *prev = parent;
    ngx_octopus_audit_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    return NGX_CONF_OK;
}
