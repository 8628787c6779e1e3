
/*
 * Copyright (C) Octopus Guard authors
 *
 * An asynchronous Redis client for nginx workers: hiredis's async API
 * driven by nginx events.  One ngx_octopus_redis_t per worker (create it in
 * init_process); many requests share its connection and their commands are
 * pipelined.  Non-blocking connect (the address is resolved when the
 * configuration is read), AUTH and SELECT on connect, nginx timers on the
 * connect, on Redis's silence and on each command's wait (see the .c),
 * reconnect with backoff.  With sentinel= the address is the primary the
 * sentinels name, followed through failovers
 * (ngx_octopus_redis_sentinel.h).  With cluster= each command goes to its
 * key's primary in a Redis Cluster (ngx_octopus_redis_cluster.h), over
 * one such client per primary.  Keeps no global state.
 */


#ifndef _NGX_OCTOPUS_REDIS_H_INCLUDED_
#define _NGX_OCTOPUS_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>


typedef struct ngx_octopus_redis_s      ngx_octopus_redis_t;
typedef struct ngx_octopus_redis_cmd_s  ngx_octopus_redis_cmd_t;


/*
 * Called exactly once per command that was not cancelled, never from
 * inside ngx_octopus_redis_send(); reply is NULL when the command failed
 * (timeout, connection lost).  The reply belongs to hiredis and the cmd is
 * freed when the handler returns.
 */

typedef void (*ngx_octopus_redis_handler_pt)(void *data, redisReply *reply);


/* ngx_octopus_redis_error(): why send() returned NULL or a reply is NULL */
#define NGX_OCTOPUS_REDIS_E_DOWN       1    /* not connected: failed at once */
#define NGX_OCTOPUS_REDIS_E_TIMEOUT    2    /* Redis silent for "timeout" */
#define NGX_OCTOPUS_REDIS_E_QUEUE      3    /* unanswered within 10 x timeout */
#define NGX_OCTOPUS_REDIS_E_LOST       4    /* connection closed or broken */


typedef struct {
    ngx_str_t                   host;        /* numeric address, "" for unix */
    ngx_str_t                   unix_path;
    ngx_int_t                   port;
    ngx_str_t                   password;    /* from password_file */
    ngx_int_t                   db;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;
    ngx_str_t                   name;        /* the address as written */

    /* Sentinel mode: sentinel=host:port,... master=name */
    ngx_array_t                *sentinels;   /* of ngx_octopus_redis_addr_t */
    ngx_str_t                   master;
    ngx_str_t                   sentinel_password;

    /* Redis Cluster mode: cluster=host:port,... (the seeds) */
    ngx_array_t                *cluster;     /* of ngx_octopus_redis_addr_t */
} ngx_octopus_redis_conf_t;


typedef struct {
    ngx_str_t                   host;        /* numeric, NUL-terminated */
    ngx_int_t                   port;
    ngx_str_t                   name;        /* as written */
} ngx_octopus_redis_addr_t;


void ngx_octopus_redis_conf_init(ngx_octopus_redis_conf_t *rc);
ngx_int_t ngx_octopus_redis_conf_address(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc, ngx_str_t *value);
ngx_array_t *ngx_octopus_redis_conf_addresses(ngx_conf_t *cf,
    ngx_str_t *value, size_t skip, in_port_t default_port, const char *kind);
ngx_int_t ngx_octopus_redis_conf_option(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc, ngx_str_t *arg);
ngx_int_t ngx_octopus_redis_conf_done(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc);

ngx_octopus_redis_t *ngx_octopus_redis_create(ngx_octopus_redis_conf_t *rc,
    ngx_pool_t *pool, ngx_log_t *log);
void ngx_octopus_redis_destroy(ngx_octopus_redis_t *rd);

ngx_octopus_redis_cmd_t *ngx_octopus_redis_send(ngx_octopus_redis_t *rd,
    ngx_octopus_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
void ngx_octopus_redis_cancel(ngx_octopus_redis_cmd_t *cmd);
ngx_uint_t ngx_octopus_redis_error(ngx_octopus_redis_t *rd);

/*
 * Sentinel mode: the sentinels' answer.  A new address drops the current
 * connection (its commands fail) and connects at once; the same address
 * connects only if no connection or reconnection is under way.
 */
void ngx_octopus_redis_set_primary(ngx_octopus_redis_t *rd, u_char *host,
    size_t len, ngx_int_t port);

/*
 * Redis Cluster mode, for the client of one node: close() drops the
 * connection (its commands fail) and stops reconnecting; open() connects
 * again unless connected or waiting to reconnect; up() is true once
 * connected (until the connection goes).
 */
void ngx_octopus_redis_close(ngx_octopus_redis_t *rd);
void ngx_octopus_redis_open(ngx_octopus_redis_t *rd);
ngx_uint_t ngx_octopus_redis_up(ngx_octopus_redis_t *rd);


/*
 * hiredis event hooks on an ngx_connection_t (level-triggered reads,
 * removal, cleanup), shared by the data connection and the sentinel
 * client; writes differ (the data connection coalesces them)
 */
void ngx_octopus_redis_ev_add_read(void *privdata);
void ngx_octopus_redis_ev_del_read(void *privdata);
void ngx_octopus_redis_ev_del_write(void *privdata);
void ngx_octopus_redis_ev_cleanup(void *privdata);


#endif /* _NGX_OCTOPUS_REDIS_H_INCLUDED_ */
