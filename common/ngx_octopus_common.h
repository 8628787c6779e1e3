
/*
 * Copyright (C) Octopus Guard authors
 *
 * Declarations shared by the three Octopus Guard modules.  Every module
 * carries its own copy of common/, so nothing here keeps mutable globals.
 */


#ifndef _NGX_OCTOPUS_COMMON_H_INCLUDED_
#define _NGX_OCTOPUS_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The build a module is: its name, VERSION and the git commit.  Defined
 * once in each .so, by a file the config generates in objs/ (the version
 * is never written into the source tree); the common code of that .so
 * reads its own (each .so exports only what nginx dlsym()s).
 */

typedef struct {
    ngx_str_t                  module;
    ngx_str_t                  version;
    ngx_str_t                  commit;
} ngx_octopus_build_t;


extern const ngx_octopus_build_t  ngx_octopus_build;


ngx_int_t ngx_octopus_parse_kv(ngx_str_t *arg, ngx_str_t *key,
    ngx_str_t *value);
ngx_int_t ngx_octopus_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);
ngx_int_t ngx_octopus_body_bytes(ngx_http_request_t *r, size_t max,
    u_char **body, size_t *len);
ngx_uint_t ngx_octopus_body_headers(ngx_http_request_t *r,
    ngx_table_elt_t **encoding);
ngx_int_t ngx_octopus_send_json_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *reason);
ngx_int_t ngx_octopus_send_metrics(ngx_http_request_t *r, ngx_buf_t *b);
ngx_shm_zone_t *ngx_octopus_counters_zone(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, void *tag);
ngx_int_t ngx_octopus_init_module(ngx_cycle_t *cycle);


#endif /* _NGX_OCTOPUS_COMMON_H_INCLUDED_ */
