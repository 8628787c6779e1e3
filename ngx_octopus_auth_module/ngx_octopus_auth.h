
/*
 * Copyright (C) Octopus Guard authors
 *
 * Internal declarations of ngx_octopus_auth_module shared by its files:
 * configuration, request context, the handler and the variables.
 */


#ifndef _NGX_OCTOPUS_AUTH_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"
#include "ngx_octopus_mark.h"
#include "ngx_octopus_result.h"
#include "ngx_octopus_auth_jwt.h"
#include "ngx_octopus_auth_rbac.h"
#include "ngx_octopus_auth_revoke.h"
#include "ngx_octopus_auth_jwks_url.h"


#define NGX_OCTOPUS_AUTH_OFF          0
#define NGX_OCTOPUS_AUTH_JWT          1
#define NGX_OCTOPUS_AUTH_API_KEY      2
#define NGX_OCTOPUS_AUTH_ANY          3
#define NGX_OCTOPUS_AUTH_JWT_API_KEY  4
#define NGX_OCTOPUS_AUTH_OPTIONAL     5


/* octopus_auth_jwt_cache: bytes of shared memory for the node */

#define NGX_OCTOPUS_AUTH_JWT_CACHE_DEFAULT  (32 * 1024 * 1024)
#define NGX_OCTOPUS_AUTH_JWT_CACHE_MIN      (64 * 1024)


typedef struct {
    ngx_array_t                keys;         /* ngx_octopus_jwt_key_t */
    ngx_octopus_rbac_t        *rbac;
    ngx_flag_t                 roles_set;
    ngx_array_t                apikeys;      /* ngx_octopus_apikey_t */
    ngx_str_t                  apikeys_file;
    u_char                    *apikeys_conf_file;
    ngx_uint_t                 apikeys_conf_line;
    size_t                     jwt_cache_size;    /* 0: off */
    ngx_octopus_jwt_cache_t   *jwt_cache;    /* NULL: off */
    uint64_t                   jwt_generation;    /* of keys, at conf */
    ngx_octopus_auth_revoke_t *revoke;       /* octopus_auth_revocation */
    ngx_octopus_auth_jwks_url_t  *jwks_url;  /* NULL: no keys from a URL */
    ngx_shm_zone_t            *counters;     /* "octopus_auth_metrics" */
} ngx_octopus_auth_main_conf_t;


/* octopus_path_policy, octopus_path_case (ngx_octopus_auth_path.c) */

typedef struct {
    ngx_octopus_srv_mark_t     mark;         /* first: see ngx_octopus_mark.h */
    ngx_uint_t                 path_policy;
    ngx_uint_t                 path_case;
    u_char                    *case_file;
    ngx_uint_t                 case_line;
} ngx_octopus_auth_srv_conf_t;


/* one require, require_method or rule directive */

typedef struct {
    ngx_octopus_rbac_rule_t    rule;         /* re is NULL unless a rule */
    uint64_t                   roles;
    ngx_array_t               *names;        /* ngx_str_t, resolved later */
    u_char                    *file;
    ngx_uint_t                 line;
    unsigned                   resolved:1;
} ngx_octopus_auth_req_t;


typedef struct {
    ngx_uint_t                 mode;
    u_char                    *mode_file;
    ngx_uint_t                 mode_line;
    ngx_str_t                  issuer;       /* NUL-terminated */
    ngx_str_t                  audience;     /* NUL-terminated */
    time_t                     leeway;
    time_t                     max_lifetime;
    ngx_flag_t                 refresh_tokens;
    ngx_str_t                  user_claim;   /* NUL-terminated */
    ngx_str_t                  role_claim;   /* NUL-terminated */
    ngx_http_complex_value_t  *token;
    ngx_str_t                  api_key_header;

    ngx_array_t               *require;      /* ngx_octopus_auth_req_t */
    ngx_array_t               *require_method;
    ngx_array_t               *rules;
    ngx_flag_t                 method_override;
    size_t                     form_body_max;  /* 0: form bodies not read */

    ngx_array_t               *cors_origins; /* ngx_str_t */
    u_char                    *cors_file;
    ngx_uint_t                 cors_line;
    ngx_str_t                  cors_methods;
    ngx_str_t                  cors_headers;
    ngx_flag_t                 cors_credentials;
    time_t                     cors_max_age;

    ngx_octopus_jwt_policy_t   policy;
} ngx_octopus_auth_loc_conf_t;


typedef struct {
    ngx_octopus_auth_loc_conf_t  *alcf;        /* the decision is for */
    ngx_octopus_auth_result_e     result;
    const char                   *reason;
    ngx_uint_t                    status;      /* 0 (pass), 401, 403, 500 */
    ngx_uint_t                    token_error; /* error="invalid_token" */
    ngx_str_t                     user;
    ngx_str_t                     role;
    ngx_str_t                     permissions;
    ngx_str_t                     method;
    ngx_str_t                     key_id;
    ngx_str_t                     jti;
    ngx_octopus_auth_json_t      *claims;      /* of a verified token */
    ngx_msec_t                    jwks_deadline;  /* kept by evaluate */
    unsigned                      preflight:1;
    unsigned                      jwks_wait:1; /* a key set fetch runs */
} ngx_octopus_auth_ctx_t;


extern ngx_module_t  ngx_octopus_auth_module;


ngx_int_t ngx_octopus_auth_handler(ngx_http_request_t *r);
ngx_octopus_auth_ctx_t *ngx_octopus_auth_evaluate(ngx_http_request_t *r);
ngx_int_t ngx_octopus_auth_add_variables(ngx_conf_t *cf);
ngx_table_elt_t *ngx_octopus_auth_find_header(ngx_http_request_t *r,
    u_char *name, size_t len, ngx_uint_t *count);
ngx_int_t ngx_octopus_auth_set_header(ngx_http_request_t *r,
    ngx_list_t *headers, char *name, ngx_str_t *value);

/*
 * ngx_octopus_auth_jwks_url.c: the generation of the key set this worker
 * verifies with; it changes whenever keys from octopus_auth_jwks_url or
 * octopus_auth_oidc_issuer change (0 without them: the keys are those of
 * the configuration).  A cached verification made under another
 * generation must not be used.
 */
ngx_uint_t ngx_octopus_auth_keys_generation(
    ngx_octopus_auth_main_conf_t *amcf);

/*
 * octopus_auth_metrics (ngx_octopus_auth_metrics.c): one Prometheus text
 * made of each part's counters; a part writes at most
 * NGX_OCTOPUS_AUTH_METRICS_PART bytes and nothing when it is not
 * configured
 */

#define NGX_OCTOPUS_AUTH_METRICS_PART  2048

char *ngx_octopus_auth_metrics_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_octopus_auth_counters_conf(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf);
void ngx_octopus_auth_count(ngx_http_request_t *r,
    ngx_octopus_auth_ctx_t *ctx);
u_char *ngx_octopus_auth_revoke_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p);
u_char *ngx_octopus_auth_jwks_url_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p);
u_char *ngx_octopus_auth_jwt_cache_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p);

/* ngx_octopus_auth_cache.c */
char *ngx_octopus_auth_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_octopus_auth_jwt_cache_conf(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf);

/* ngx_octopus_auth_cors.c */
ngx_int_t ngx_octopus_auth_cors_preflight(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf, ngx_uint_t *preflight);
ngx_int_t ngx_octopus_auth_cors_filter_init(ngx_conf_t *cf);

extern ngx_conf_enum_t  ngx_octopus_auth_path_policies[];
extern ngx_conf_enum_t  ngx_octopus_auth_path_cases[];

void *ngx_octopus_auth_create_srv_conf(ngx_conf_t *cf);
char *ngx_octopus_auth_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
char *ngx_octopus_auth_path_case(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_octopus_auth_path_init(ngx_conf_t *cf);
ngx_int_t ngx_octopus_auth_strip(ngx_http_request_t *r);
ngx_int_t ngx_octopus_auth_override(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf);
ngx_int_t ngx_octopus_auth_override_json(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf);
ngx_uint_t ngx_octopus_auth_effective_method(ngx_http_request_t *r,
    ngx_octopus_auth_loc_conf_t *alcf);


#endif /* _NGX_OCTOPUS_AUTH_H_INCLUDED_ */
