
/*
 * Copyright (C) Octopus Guard authors
 *
 * octopus_auth_revocation: revoked tokens (jti), subjects ("log out
 * everywhere": a user's tokens issued at or before a time) and API key
 * ids, kept by every node in shared memory and checked on every request
 * without a Redis round trip.  One worker per node (worker 0) keeps the
 * list: a SUBSCRIBE connection of its own applies new entries as they are
 * published, and a full resync (at start, after every (re)subscription and
 * every resync= interval) makes sure a lost message cannot keep a revoked
 * credential alive.  The entries and the Redis layout are in
 * ngx_octopus_auth_revoke_entry.h.
 */


#ifndef _NGX_OCTOPUS_AUTH_REVOKE_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_REVOKE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_auth_json.h"


typedef struct ngx_octopus_auth_revoke_s  ngx_octopus_auth_revoke_t;


/* octopus_auth_revocation redis=... (http; conf is the main conf) */
char *ngx_octopus_auth_revoke_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

void ngx_octopus_auth_revoke_init_process(ngx_octopus_auth_revoke_t *rv,
    ngx_cycle_t *cycle);
void ngx_octopus_auth_revoke_exit_process(ngx_octopus_auth_revoke_t *rv);

/*
 * After a credential was verified: NGX_OK (not revoked, or no revocation
 * configured), NGX_DECLINED (revoked: *reason), NGX_BUSY (the list is not
 * known to be current and failure=closed: *reason).  jti, sub and claims
 * are a token's, key_id an API key's; NULL or empty ones are not checked.
 */
ngx_int_t ngx_octopus_auth_revoke_check(ngx_octopus_auth_revoke_t *rv,
    ngx_str_t *jti, ngx_str_t *sub, ngx_octopus_auth_json_t *claims,
    ngx_str_t *key_id, ngx_log_t *log, const char **reason);


#endif /* _NGX_OCTOPUS_AUTH_REVOKE_H_INCLUDED_ */
