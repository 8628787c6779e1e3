
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redis Cluster for ngx_octopus_redis_t (octopus_ratelimit_redis
 * cluster=host:port,...).  The ngx_octopus_redis_t the caller holds routes
 * each command by its first key (argv[3] of EVAL / EVALSHA with keys,
 * argv[1] otherwise) to its slot's primary, over one ngx_octopus_redis_t
 * per primary and worker, opened on demand; MOVED and ASK replies are
 * followed (once per attempt) before the caller's handler sees them, a
 * TRYAGAIN (a slot half-migrated) is retried every 10 ms within the bound
 * of a command (10 x timeout).
 * The slot map is read with CLUSTER SLOTS from any known node, tried in
 * turn (each wait under the node connection's timers): at start, every
 * 5 s, soon after a MOVED or a connection error, and every 150 ms while a
 * slot has no reachable primary.  Seeds are resolved when the
 * configuration is read; the addresses the cluster announces must be
 * numeric (a host name is logged and skipped, never resolved in a worker).
 */


#ifndef _NGX_OCTOPUS_REDIS_CLUSTER_H_INCLUDED_
#define _NGX_OCTOPUS_REDIS_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_octopus_redis.h"


typedef struct ngx_octopus_redis_cluster_s  ngx_octopus_redis_cluster_t;


/* "cluster=host[:port],host[:port],..." (port 6379 by default) */
ngx_int_t ngx_octopus_redis_cluster_conf_addresses(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc, ngx_str_t *value);

ngx_octopus_redis_cluster_t *ngx_octopus_redis_cluster_create(
    ngx_octopus_redis_t *rd, ngx_octopus_redis_conf_t *rc, ngx_pool_t *pool,
    ngx_log_t *log);
void ngx_octopus_redis_cluster_destroy(ngx_octopus_redis_cluster_t *cl);

/*
 * ngx_octopus_redis_send(), ngx_octopus_redis_cancel() and
 * ngx_octopus_redis_error() of a cluster-mode client; the command handle
 * returned starts, as ngx_octopus_redis_cmd_t does, with the client it
 * was sent through (ngx_octopus_redis_cancel() dispatches on it)
 */
ngx_octopus_redis_cmd_t *ngx_octopus_redis_cluster_send(
    ngx_octopus_redis_cluster_t *cl, ngx_octopus_redis_handler_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen);
void ngx_octopus_redis_cluster_cancel(ngx_octopus_redis_cmd_t *cmd);
ngx_uint_t ngx_octopus_redis_cluster_error(ngx_octopus_redis_cluster_t *cl);


#endif /* _NGX_OCTOPUS_REDIS_CLUSTER_H_INCLUDED_ */
