
/*
 * Copyright (C) Octopus Guard authors
 *
 * Which servers have an Octopus module active, known at configuration
 * time: in those servers ngx_octopus_auth_module removes every client
 * X-Octopus-* header (and the method override headers) before any
 * location is chosen.  The auth module's server configuration starts with
 * an ngx_octopus_srv_mark_t; each module marks the server whose
 * configuration is being merged (cf->ctx->srv_conf) when one of its
 * directives applies there.  The auth module is found by name, so the
 * ratelimit and audit modules work without it.
 */


#ifndef _NGX_OCTOPUS_MARK_H_INCLUDED_
#define _NGX_OCTOPUS_MARK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_flag_t  active;
} ngx_octopus_srv_mark_t;


void ngx_octopus_mark_server(ngx_conf_t *cf);


#endif /* _NGX_OCTOPUS_MARK_H_INCLUDED_ */
