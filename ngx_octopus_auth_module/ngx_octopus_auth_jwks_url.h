
/*
 * Copyright (C) Octopus Guard authors
 *
 * Keys from a URL: octopus_auth_jwks_url and octopus_auth_oidc_issuer.  A
 * JWKS document fetched over HTTPS by one worker of the node, kept in
 * shared memory with a generation counter, re-parsed by every worker into
 * its key table when the generation changes.
 */


#ifndef _NGX_OCTOPUS_AUTH_JWKS_URL_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_JWKS_URL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth_jwt.h"


typedef struct ngx_octopus_auth_jwks_url_s  ngx_octopus_auth_jwks_url_t;


/* the set handler of octopus_auth_jwks_url and octopus_auth_oidc_issuer */
char *ngx_octopus_auth_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * From init_main_conf, after every key directive: reserves the slots of
 * the fetched keys at the end of keys (ngx_octopus_jwt_key_t), adds the
 * shared zone and builds the TLS context.  cache is the worker's
 * verification cache, flushed when the key set changes.
 */
ngx_int_t ngx_octopus_auth_jwks_url_init_conf(ngx_conf_t *cf,
    ngx_octopus_auth_jwks_url_t *u, ngx_array_t *keys);

/* the issuer of octopus_auth_oidc_issuer (NUL-terminated), or NULL */
ngx_str_t *ngx_octopus_auth_jwks_url_issuer(ngx_octopus_auth_jwks_url_t *u);

ngx_int_t ngx_octopus_auth_jwks_url_init_process(ngx_cycle_t *cycle,
    ngx_octopus_auth_jwks_url_t *u);
void ngx_octopus_auth_jwks_url_exit_process(ngx_octopus_auth_jwks_url_t *u);

/* before a verification: installs a newer key set, drops a stale one */
void ngx_octopus_auth_jwks_url_sync(ngx_octopus_auth_jwks_url_t *u,
    ngx_log_t *log);

/*
 * After "unknown key": asks for a fetch (at most once per 30 s a node)
 * and returns the reason to give the client.
 */
const char *ngx_octopus_auth_jwks_url_unknown(ngx_octopus_auth_jwks_url_t *u,
    ngx_log_t *log);

/*
 * A fetch of the key set runs on this node; wait: the request is held
 * (NGX_AGAIN: re-run its phases after a short timer) until the fetch ends
 * or 2 timeouts pass (deadline, 0 at first), then NGX_DECLINED.
 */
ngx_uint_t ngx_octopus_auth_jwks_url_fetching(ngx_octopus_auth_jwks_url_t *u);
ngx_int_t ngx_octopus_auth_jwks_url_wait(ngx_http_request_t *r,
    ngx_msec_t *deadline);

/* the generation of the key set the worker verifies with (0: static) */
ngx_uint_t ngx_octopus_auth_jwks_url_generation(
    ngx_octopus_auth_jwks_url_t *u);


#endif /* _NGX_OCTOPUS_AUTH_JWKS_URL_H_INCLUDED_ */
