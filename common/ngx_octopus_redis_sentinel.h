
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redis Sentinel for ngx_octopus_redis_t: which server is the primary.
 * Per worker, asynchronous connections to the sentinels (tried in turn,
 * an nginx timer on every wait): one asks SENTINEL get-master-addr-by-name
 * and closes; another stays SUBSCRIBEd to +switch-master (a subscribed
 * connection runs no other command) so that a failover is learnt as soon
 * as Sentinel announces it.  The sentinels are asked again after any error
 * of the data connection, when its ROLE is not "master", when the
 * subscription is (re)established, and every few seconds.  The sentinels'
 * host names are resolved when the configuration is read; the primary's
 * address they announce must be numeric (Sentinel announces IPs unless
 * resolve-hostnames is set): a name is logged and skipped, never resolved
 * in the worker.
 */


#ifndef _NGX_OCTOPUS_REDIS_SENTINEL_H_INCLUDED_
#define _NGX_OCTOPUS_REDIS_SENTINEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_octopus_redis.h"


typedef struct ngx_octopus_redis_sentinel_s  ngx_octopus_redis_sentinel_t;


/* "sentinel=host[:port],host[:port],..." (port 26379 by default) */
ngx_int_t ngx_octopus_redis_sentinel_conf_addresses(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc, ngx_str_t *value);

/* master= with sentinel= and only with it */
ngx_int_t ngx_octopus_redis_sentinel_conf_check(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc);

ngx_octopus_redis_sentinel_t *ngx_octopus_redis_sentinel_create(
    ngx_octopus_redis_t *rd, ngx_octopus_redis_conf_t *rc, ngx_pool_t *pool,
    ngx_log_t *log);
void ngx_octopus_redis_sentinel_destroy(ngx_octopus_redis_sentinel_t *s);

/* asks the sentinels which server is the primary, unless already asking */
void ngx_octopus_redis_sentinel_ask(ngx_octopus_redis_sentinel_t *s);


#endif /* _NGX_OCTOPUS_REDIS_SENTINEL_H_INCLUDED_ */
