
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redis Cluster routing on top of ngx_octopus_redis_t (see the header).
 * Every node known (a seed, or a primary the map or a redirection named)
 * has an ngx_octopus_redis_conf_t of its own and, once used, a plain
 * ngx_octopus_redis_t: its connect, silence and per-command timers bound
 * every wait, the slot map's reads included.  A node that no longer
 * serves a slot is closed (no reconnection loop to a dead primary) and
 * opened again when it is asked for the map or named again.
 *
 * A command's arguments are copied: a redirection or a TRYAGAIN sends
 * them again, after hiredis has formatted and freed the first copy.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <arpa/inet.h>

#include "ngx_octopus_redis.h"
#include "ngx_octopus_redis_cluster.h"
#include "ngx_octopus_redis_slot.h"


#define NGX_OCTOPUS_CLUSTER_PORT       6379
#define NGX_OCTOPUS_CLUSTER_NODES      1024    /* distinct nodes, max */
#define NGX_OCTOPUS_CLUSTER_REFRESH    5000    /* ms, periodic map read */
#define NGX_OCTOPUS_CLUSTER_RETRY      150     /* ms, a slot unreachable */
#define NGX_OCTOPUS_CLUSTER_SOON       100     /* ms between reads, min */
#define NGX_OCTOPUS_CLUSTER_TRYAGAIN   10      /* ms, pause before a retry */
#define NGX_OCTOPUS_CLUSTER_BOUND      10      /* x timeout, TRYAGAIN */
#define NGX_OCTOPUS_CLUSTER_REPORT     1000    /* ms between like warnings */


typedef struct {
    ngx_octopus_redis_t            *rd;          /* NULL until used */
    ngx_octopus_redis_conf_t        conf;
    ngx_uint_t                      index;       /* in cl->nodes */
    unsigned                        primary:1;   /* in the current map */
    u_char                          host[NGX_SOCKADDR_STRLEN + 1];
    u_char                          name[NGX_SOCKADDR_STRLEN + 8];
} ngx_octopus_redis_cluster_node_t;


struct ngx_octopus_redis_cluster_s {
    ngx_octopus_redis_t            *rd;          /* the caller's client */
    ngx_octopus_redis_conf_t       *conf;
    ngx_pool_t                     *pool;
    ngx_log_t                      *log;

    ngx_octopus_redis_cluster_node_t  **nodes;
    ngx_uint_t                      nnodes;

    /* a node's index + 1 per slot, 0: no primary known */
    uint16_t                        slots[NGX_OCTOPUS_REDIS_SLOTS];
    ngx_uint_t                      covered;     /* slots with a primary */

    ngx_event_t                     refresh;     /* the next map read */
    ngx_uint_t                      source;      /* the node asked next */
    ngx_uint_t                      tries;       /* asked in this round */
    ngx_octopus_redis_cluster_node_t  *asked;
    ngx_msec_t                      last;        /* the last read's start */

    ngx_queue_t                     retrying;    /* commands after TRYAGAIN */

    ngx_uint_t                      error;       /* of the last failure */
    ngx_msec_t                      reported;    /* CLUSTERDOWN, no map */
    ngx_msec_t                      named;       /* a host name announced */

    /* followed since the last map read (reported with it) */
    ngx_uint_t                      moved;
    ngx_uint_t                      ask;
    ngx_uint_t                      tryagain;

    unsigned                        mapped:1;    /* a map was read */
    unsigned                        reading:1;
    unsigned                        again:1;     /* read again after it */
    unsigned                        closing:1;
};


typedef struct {
    ngx_octopus_redis_t            *rd;          /* first, as in the cmd */
    ngx_octopus_redis_cluster_t    *cl;
    ngx_octopus_redis_handler_pt    handler;
    void                           *data;
    ngx_octopus_redis_cluster_node_t  *node;     /* sent to */
    ngx_event_t                     retry;       /* after TRYAGAIN */
    ngx_queue_t                     queue;       /* in cl->retrying */
    ngx_uint_t                      slot;
    ngx_msec_t                      start;       /* when first sent */
    int                             argc;
    const char                    **argv;
    size_t                         *argvlen;
    unsigned                        redirected:1;
    unsigned                        cancelled:1;
    unsigned                        waiting:1;   /* on the retry timer */
} ngx_octopus_redis_cluster_cmd_t;


static ngx_octopus_redis_cluster_node_t *ngx_octopus_cluster_node(
    ngx_octopus_redis_cluster_t *cl, const char *host, size_t len,
    ngx_uint_t port);
static ngx_octopus_redis_t *ngx_octopus_cluster_open(
    ngx_octopus_redis_cluster_t *cl, ngx_octopus_redis_cluster_node_t *node);
static ngx_int_t ngx_octopus_cluster_forward(ngx_octopus_redis_cluster_t *cl,
    ngx_octopus_redis_cluster_cmd_t *ccmd,
    ngx_octopus_redis_cluster_node_t *node, ngx_uint_t asking);
static ngx_int_t ngx_octopus_cluster_route(ngx_octopus_redis_cluster_t *cl,
    ngx_octopus_redis_cluster_cmd_t *ccmd);
static void ngx_octopus_cluster_reply(void *data, redisReply *reply);
static void ngx_octopus_cluster_asking_reply(void *data, redisReply *reply);
static void ngx_octopus_cluster_deliver(ngx_octopus_redis_cluster_cmd_t *ccmd,
    redisReply *reply);
static void ngx_octopus_cluster_retry_handler(ngx_event_t *ev);
static void ngx_octopus_cluster_refresh_at(ngx_octopus_redis_cluster_t *cl,
    ngx_msec_t delay);
static void ngx_octopus_cluster_refresh_soon(ngx_octopus_redis_cluster_t *cl);
static void ngx_octopus_cluster_refresh_handler(ngx_event_t *ev);
static void ngx_octopus_cluster_read_next(ngx_octopus_redis_cluster_t *cl);
static void ngx_octopus_cluster_slots_reply(void *data, redisReply *reply);
static ngx_int_t ngx_octopus_cluster_apply(ngx_octopus_redis_cluster_t *cl,
    redisReply *reply);
static ngx_uint_t ngx_octopus_cluster_reachable(
    ngx_octopus_redis_cluster_t *cl);


ngx_int_t
ngx_octopus_redis_cluster_conf_addresses(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc, ngx_str_t *value)
{
    rc->cluster = ngx_octopus_redis_conf_addresses(cf, value,
                                                   sizeof("cluster=") - 1,
                                                   NGX_OCTOPUS_CLUSTER_PORT,
                                                   "cluster");

    return rc->cluster ? NGX_OK : NGX_ERROR;
}


ngx_octopus_redis_cluster_t *
ngx_octopus_redis_cluster_create(ngx_octopus_redis_t *rd,
    ngx_octopus_redis_conf_t *rc, ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_uint_t                    i;
    ngx_octopus_redis_addr_t     *addr;
    ngx_octopus_redis_cluster_t  *cl;

    cl = ngx_pcalloc(pool, sizeof(ngx_octopus_redis_cluster_t));
    if (cl == NULL) {
        return NULL;
    }

    cl->nodes = ngx_pcalloc(pool, NGX_OCTOPUS_CLUSTER_NODES
                                  * sizeof(ngx_octopus_redis_cluster_node_t *));
    if (cl->nodes == NULL) {
        return NULL;
    }

    cl->rd = rd;
    cl->conf = rc;
    cl->pool = pool;
    cl->log = log;
    cl->error = NGX_OCTOPUS_REDIS_E_DOWN;

    ngx_queue_init(&cl->retrying);

    cl->refresh.handler = ngx_octopus_cluster_refresh_handler;
    cl->refresh.data = cl;
    cl->refresh.log = log;
    cl->refresh.cancelable = 1;

    /* the seeds first: the map is asked of them, in turn */

    addr = rc->cluster->elts;

    for (i = 0; i < rc->cluster->nelts; i++) {
        (void) ngx_octopus_cluster_node(cl, (char *) addr[i].host.data,
                                        addr[i].host.len, addr[i].port);
    }

    ngx_octopus_cluster_refresh_handler(&cl->refresh);

    return cl;
}


void
ngx_octopus_redis_cluster_destroy(ngx_octopus_redis_cluster_t *cl)
{
    ngx_uint_t                        i;
    ngx_queue_t                      *q;
    ngx_octopus_redis_cluster_cmd_t  *ccmd;

    cl->closing = 1;

    if (cl->refresh.timer_set) {
        ngx_del_timer(&cl->refresh);
    }

    while (!ngx_queue_empty(&cl->retrying)) {
        q = ngx_queue_head(&cl->retrying);
        ccmd = ngx_queue_data(q, ngx_octopus_redis_cluster_cmd_t, queue);

        cl->error = NGX_OCTOPUS_REDIS_E_LOST;
        ngx_octopus_cluster_deliver(ccmd, NULL);
    }

    /* the commands still queued fail in their handlers */

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i]->rd) {
            cl->error = NGX_OCTOPUS_REDIS_E_LOST;
            ngx_octopus_redis_destroy(cl->nodes[i]->rd);
        }
    }
}


/* the node of a numeric address, added if new; NULL for a host name */

static ngx_octopus_redis_cluster_node_t *
ngx_octopus_cluster_node(ngx_octopus_redis_cluster_t *cl, const char *host,
    size_t len, ngx_uint_t port)
{
    u_char                             text[NGX_SOCKADDR_STRLEN + 1];
    u_char                             bin[16];
    size_t                             n;
    ngx_int_t                          family;
    ngx_uint_t                         i;
    ngx_octopus_redis_cluster_node_t  *node;

    if (len == 0 || len >= sizeof(text) || port == 0 || port > 65535) {
        return NULL;
    }

    ngx_memcpy(text, host, len);
    text[len] = '\0';

    /* one spelling per address: as inet_ntop() writes it */

    if (inet_pton(AF_INET, (char *) text, bin) == 1) {
        family = AF_INET;

    } else if (inet_pton(AF_INET6, (char *) text, bin) == 1) {
        family = AF_INET6;

    } else {
        return NULL;
    }

    if (inet_ntop(family, bin, (char *) text, sizeof(text)) == NULL) {
        return NULL;
    }

    n = ngx_strlen(text);

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if ((ngx_uint_t) node->conf.port == port
            && node->conf.host.len == n
            && ngx_strncmp(node->host, text, n) == 0)
        {
            return node;
        }
    }

    if (cl->nnodes == NGX_OCTOPUS_CLUSTER_NODES) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "octopus redis %V: more than %d nodes seen, %s:%ui "
                      "skipped", &cl->conf->name, NGX_OCTOPUS_CLUSTER_NODES,
                      text, port);
        return NULL;
    }

    node = ngx_pcalloc(cl->pool, sizeof(ngx_octopus_redis_cluster_node_t));
    if (node == NULL) {
        return NULL;
    }

    /* a plain client of its own: the cluster's password and timeouts */

    node->conf = *cl->conf;
    node->conf.cluster = NULL;
    node->conf.sentinels = NULL;
    node->conf.unix_path.len = 0;
    node->conf.db = 0;

    ngx_memcpy(node->host, text, n + 1);
    node->conf.host.data = node->host;
    node->conf.host.len = n;
    node->conf.port = port;

    node->conf.name.data = node->name;
    node->conf.name.len = ngx_sprintf(node->name,
                                      family == AF_INET6 ? "[%s]:%ui"
                                                         : "%s:%ui",
                                      text, port)
                          - node->name;

    node->index = cl->nnodes;
    cl->nodes[cl->nnodes++] = node;

    return node;
}


static ngx_octopus_redis_t *
ngx_octopus_cluster_open(ngx_octopus_redis_cluster_t *cl,
    ngx_octopus_redis_cluster_node_t *node)
{
    if (node->rd == NULL) {
        node->rd = ngx_octopus_redis_create(&node->conf, cl->pool, cl->log);
        return node->rd;
    }

    ngx_octopus_redis_open(node->rd);

    return node->rd;
}


ngx_octopus_redis_cmd_t *
ngx_octopus_redis_cluster_send(ngx_octopus_redis_cluster_t *cl,
    ngx_octopus_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    int                               i;
    u_char                           *p;
    size_t                            size;
    ngx_uint_t                        slot;
    ngx_octopus_redis_cluster_cmd_t  *ccmd;

    cl->error = NGX_OCTOPUS_REDIS_E_DOWN;

    if (cl->closing || argc <= 0) {
        return NULL;
    }

    slot = ngx_octopus_redis_command_slot(argc, argv, argvlen);

    if (cl->slots[slot] == 0 && cl->mapped) {
        /* no primary known for it: the map is read again, soon */
        ngx_octopus_cluster_refresh_soon(cl);
        return NULL;
    }

    size = sizeof(ngx_octopus_redis_cluster_cmd_t)
           + argc * (sizeof(char *) + sizeof(size_t));

    for (i = 0; i < argc; i++) {
        size += argvlen[i];
    }

    ccmd = ngx_alloc(size, cl->log);
    if (ccmd == NULL) {
        return NULL;
    }

    ngx_memzero(ccmd, sizeof(ngx_octopus_redis_cluster_cmd_t));

    ccmd->rd = cl->rd;
    ccmd->cl = cl;
    ccmd->handler = handler;
    ccmd->data = data;
    ccmd->slot = slot;
    ccmd->start = ngx_current_msec;
    ccmd->argc = argc;
    ccmd->argv = (const char **) (ccmd + 1);
    ccmd->argvlen = (size_t *) (ccmd->argv + argc);

    ccmd->retry.handler = ngx_octopus_cluster_retry_handler;
    ccmd->retry.data = ccmd;
    ccmd->retry.log = cl->log;
    ccmd->retry.cancelable = 1;

    p = (u_char *) (ccmd->argvlen + argc);

    for (i = 0; i < argc; i++) {
        ccmd->argv[i] = (const char *) p;
        ccmd->argvlen[i] = argvlen[i];
        p = ngx_cpymem(p, argv[i], argvlen[i]);
    }

    if (ngx_octopus_cluster_route(cl, ccmd) != NGX_OK) {
        ngx_free(ccmd);
        return NULL;
    }

    return (ngx_octopus_redis_cmd_t *) ccmd;
}


void
ngx_octopus_redis_cluster_cancel(ngx_octopus_redis_cmd_t *cmd)
{
    ngx_octopus_redis_cluster_cmd_t  *ccmd;

    ccmd = (ngx_octopus_redis_cluster_cmd_t *) cmd;

    if (ccmd->waiting) {
        /* no node holds it: nothing will call back */

        ngx_del_timer(&ccmd->retry);
        ngx_queue_remove(&ccmd->queue);
        ngx_free(ccmd);
        return;
    }

    /* the node's reply, or its failure, frees it */

    ccmd->cancelled = 1;
    ccmd->handler = NULL;
}


ngx_uint_t
ngx_octopus_redis_cluster_error(ngx_octopus_redis_cluster_t *cl)
{
    return cl->error;
}


/* to the slot's primary in the map */

static ngx_int_t
ngx_octopus_cluster_route(ngx_octopus_redis_cluster_t *cl,
    ngx_octopus_redis_cluster_cmd_t *ccmd)
{
    ngx_uint_t  n;

    n = cl->slots[ccmd->slot];

    if (n) {
        return ngx_octopus_cluster_forward(cl, ccmd, cl->nodes[n - 1], 0);
    }

    if (!cl->mapped && cl->nnodes) {
        /*
         * no map read yet (a worker's first milliseconds): the node being
         * asked for it takes the command, and its MOVED is followed
         */

        return ngx_octopus_cluster_forward(cl, ccmd,
                                           cl->nodes[cl->source % cl->nnodes],
                                           0);
    }

    cl->error = NGX_OCTOPUS_REDIS_E_DOWN;
    ngx_octopus_cluster_refresh_soon(cl);

    return NGX_ERROR;
}


static ngx_int_t
ngx_octopus_cluster_forward(ngx_octopus_redis_cluster_t *cl,
    ngx_octopus_redis_cluster_cmd_t *ccmd,
    ngx_octopus_redis_cluster_node_t *node, ngx_uint_t asking)
{
    size_t                len;
    const char           *cmd;
    ngx_octopus_redis_t  *rd;

    rd = ngx_octopus_cluster_open(cl, node);

    if (rd == NULL) {
        cl->error = NGX_OCTOPUS_REDIS_E_DOWN;
        return NGX_ERROR;
    }

    if (asking) {
        /* the next command on this connection only; the OK swallowed */

        cmd = "ASKING";
        len = 6;

        if (ngx_octopus_redis_send(rd, ngx_octopus_cluster_asking_reply,
                                   NULL, 1, &cmd, &len)
            == NULL)
        {
            goto failed;
        }
    }

    if (ngx_octopus_redis_send(rd, ngx_octopus_cluster_reply, ccmd,
                               ccmd->argc, ccmd->argv, ccmd->argvlen)
        == NULL)
    {
        goto failed;
    }

    ccmd->node = node;

    return NGX_OK;

failed:

    /* not connected (waiting to reconnect): the map may have changed */

    cl->error = ngx_octopus_redis_error(rd);
    ngx_octopus_cluster_refresh_soon(cl);

    return NGX_ERROR;
}


static void
ngx_octopus_cluster_asking_reply(void *data, redisReply *reply)
{
    /* nothing to do: the command after it gets the answer that matters */
}


static void
ngx_octopus_cluster_reply(void *data, redisReply *reply)
{
    ngx_octopus_redis_cluster_cmd_t  *ccmd = data;

    int                                kind;
    ngx_uint_t                         error;
    ngx_octopus_redis_cluster_t       *cl;
    ngx_octopus_redis_redirect_t       r;
    ngx_octopus_redis_cluster_node_t  *target;

    cl = ccmd->cl;

    if (reply == NULL) {
        error = ngx_octopus_redis_error(ccmd->node->rd);

        if (error != NGX_OCTOPUS_REDIS_E_QUEUE) {
            /* the connection went: the primary may have moved */
            ngx_octopus_cluster_refresh_soon(cl);
        }

        cl->error = error;
        ngx_octopus_cluster_deliver(ccmd, NULL);
        return;
    }

    if (reply->type != REDIS_REPLY_ERROR || cl->closing) {
        ngx_octopus_cluster_deliver(ccmd, reply);
        return;
    }

    kind = ngx_octopus_redis_redirect(reply->str, reply->len, &r);

    if (kind && !ccmd->redirected) {
        ccmd->redirected = 1;

        target = ngx_octopus_cluster_node(cl, r.host, r.host_len, r.port);

        if (target == NULL) {
            if ((ngx_msec_int_t) (ngx_current_msec - cl->named)
                >= NGX_OCTOPUS_CLUSTER_REPORT)
            {
                cl->named = ngx_current_msec;
                ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                              "octopus redis %V: \"%*s\" names no numeric "
                              "address: not followed", &cl->conf->name,
                              ngx_min(reply->len, 128), reply->str);
            }

            ngx_octopus_cluster_deliver(ccmd, reply);
            return;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                       "octopus redis cluster: %s slot %ui to %V (from %V)",
                       kind == NGX_OCTOPUS_REDIS_MOVED ? "MOVED" : "ASK",
                       r.slot, &target->conf.name, &ccmd->node->conf.name);

        if (kind == NGX_OCTOPUS_REDIS_ASK) {
            cl->ask++;

        } else {
            cl->moved++;
        }

        if (kind == NGX_OCTOPUS_REDIS_MOVED) {
            /* the slot is the target's for good: its next commands too */

            if (cl->slots[r.slot] == 0) {
                cl->covered++;
            }

            cl->slots[r.slot] = (uint16_t) (target->index + 1);
            target->primary = 1;
            ngx_octopus_cluster_refresh_soon(cl);
        }

        if (ccmd->cancelled) {
            ngx_free(ccmd);
            return;
        }

        if (ngx_octopus_cluster_forward(cl, ccmd, target,
                                        kind == NGX_OCTOPUS_REDIS_ASK)
            != NGX_OK)
        {
            ngx_octopus_cluster_deliver(ccmd, NULL);
        }

        return;
    }

    if (reply->len >= 8 && ngx_strncmp(reply->str, "TRYAGAIN", 8) == 0
        && !ccmd->cancelled
        && ngx_current_msec + NGX_OCTOPUS_CLUSTER_TRYAGAIN - ccmd->start
           < NGX_OCTOPUS_CLUSTER_BOUND * cl->conf->timeout)
    {
        /*
         * the slot is being migrated and its keys are split: a pause, and
         * again, within the bound a command has on one connection
         */

        cl->tryagain++;
        ccmd->waiting = 1;
        ngx_queue_insert_tail(&cl->retrying, &ccmd->queue);
        ngx_add_timer(&ccmd->retry, NGX_OCTOPUS_CLUSTER_TRYAGAIN);
        return;
    }

    if (reply->len >= 11 && ngx_strncmp(reply->str, "CLUSTERDOWN", 11) == 0)
    {
        /* a slot has no primary (a failover under way): the policy */

        if ((ngx_msec_int_t) (ngx_current_msec - cl->reported)
            >= NGX_OCTOPUS_CLUSTER_REPORT)
        {
            cl->reported = ngx_current_msec;
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "octopus redis %V: %V answers \"%*s\", the "
                          "failure policy applies", &cl->conf->name,
                          &ccmd->node->conf.name,
                          ngx_min(reply->len, 128), reply->str);
        }

        ngx_octopus_cluster_refresh_soon(cl);

        cl->error = NGX_OCTOPUS_REDIS_E_DOWN;
        ngx_octopus_cluster_deliver(ccmd, NULL);
        return;
    }

    ngx_octopus_cluster_deliver(ccmd, reply);
}


/* the caller's handler, unless it cancelled; the command is freed */

static void
ngx_octopus_cluster_deliver(ngx_octopus_redis_cluster_cmd_t *ccmd,
    redisReply *reply)
{
    if (ccmd->waiting) {
        ccmd->waiting = 0;
        ngx_queue_remove(&ccmd->queue);

        if (ccmd->retry.timer_set) {
            ngx_del_timer(&ccmd->retry);
        }
    }

    if (!ccmd->cancelled) {
        ccmd->handler(ccmd->data, reply);
    }

    ngx_free(ccmd);
}


static void
ngx_octopus_cluster_retry_handler(ngx_event_t *ev)
{
    ngx_octopus_redis_cluster_cmd_t  *ccmd = ev->data;

    ccmd->waiting = 0;
    ngx_queue_remove(&ccmd->queue);

    ccmd->redirected = 0;

    if (ngx_octopus_cluster_route(ccmd->cl, ccmd) != NGX_OK) {
        ngx_octopus_cluster_deliver(ccmd, NULL);
    }
}


/* the slot map */

static void
ngx_octopus_cluster_refresh_at(ngx_octopus_redis_cluster_t *cl,
    ngx_msec_t delay)
{
    if (cl->closing) {
        return;
    }

    if (cl->reading) {
        cl->again = 1;
        return;
    }

    if (cl->refresh.timer_set
        && (ngx_msec_int_t) (cl->refresh.timer.key - ngx_current_msec)
           <= (ngx_msec_int_t) delay)
    {
        return;
    }

    ngx_add_timer(&cl->refresh, delay ? delay : 1);
}


/* soon, but not more than once per NGX_OCTOPUS_CLUSTER_SOON ms */

static void
ngx_octopus_cluster_refresh_soon(ngx_octopus_redis_cluster_t *cl)
{
    ngx_msec_int_t  left;

    left = (ngx_msec_int_t) (cl->last + NGX_OCTOPUS_CLUSTER_SOON
                             - ngx_current_msec);

    ngx_octopus_cluster_refresh_at(cl, left > 0 ? (ngx_msec_t) left : 0);
}


static void
ngx_octopus_cluster_refresh_handler(ngx_event_t *ev)
{
    ngx_octopus_redis_cluster_t  *cl = ev->data;

    if (cl->closing || cl->reading) {
        return;
    }

    cl->tries = 0;
    cl->last = ngx_current_msec;

    ngx_octopus_cluster_read_next(cl);
}


/* CLUSTER SLOTS of the next node that takes it, in turn */

static void
ngx_octopus_cluster_read_next(ngx_octopus_redis_cluster_t *cl)
{
    size_t                             len[2];
    const char                        *argv[2];
    ngx_octopus_redis_t               *rd;
    ngx_octopus_redis_cluster_node_t  *node;

    argv[0] = "CLUSTER";
    len[0] = 7;
    argv[1] = "SLOTS";
    len[1] = 5;

    while (cl->tries < cl->nnodes) {
        cl->tries++;

        node = cl->nodes[cl->source % cl->nnodes];
        rd = ngx_octopus_cluster_open(cl, node);

        if (rd && ngx_octopus_redis_send(rd, ngx_octopus_cluster_slots_reply,
                                         cl, 2, argv, len)
                  != NULL)
        {
            cl->reading = 1;
            cl->asked = node;
            return;
        }

        cl->source++;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - cl->reported)
        >= NGX_OCTOPUS_CLUSTER_REPORT)
    {
        cl->reported = ngx_current_msec;
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "octopus redis %V: no node gave the slot map, "
                      "asking again in %d ms", &cl->conf->name,
                      NGX_OCTOPUS_CLUSTER_RETRY);
    }

    cl->again = 0;
    ngx_octopus_cluster_refresh_at(cl, NGX_OCTOPUS_CLUSTER_RETRY);
}


static void
ngx_octopus_cluster_slots_reply(void *data, redisReply *reply)
{
    ngx_octopus_redis_cluster_t  *cl = data;

    ngx_msec_t  next;

    cl->reading = 0;

    if (cl->closing) {
        return;
    }

    if (reply == NULL || ngx_octopus_cluster_apply(cl, reply) != NGX_OK) {

        if (reply) {
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "octopus redis %V: %V gave no usable slot map%s%*s",
                          &cl->conf->name, &cl->asked->conf.name,
                          reply->type == REDIS_REPLY_ERROR ? ": " : "",
                          reply->type == REDIS_REPLY_ERROR
                          ? ngx_min(reply->len, 128) : 0,
                          reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        }

        cl->source++;
        ngx_octopus_cluster_read_next(cl);
        return;
    }

    next = ngx_octopus_cluster_reachable(cl) ? NGX_OCTOPUS_CLUSTER_REFRESH
                                             : NGX_OCTOPUS_CLUSTER_RETRY;

    if (cl->again) {
        cl->again = 0;
        next = ngx_min(next, NGX_OCTOPUS_CLUSTER_SOON);
    }

    ngx_octopus_cluster_refresh_at(cl, next);
}


/*
 * CLUSTER SLOTS: [[start, end, [host, port, id, ...], replicas...], ...].
 * An empty host is the node asked's (Redis's "same as you asked").
 */

static ngx_int_t
ngx_octopus_cluster_apply(ngx_octopus_redis_cluster_t *cl,
    redisReply *reply)
{
    size_t                             hlen;
    ngx_uint_t                         i, s, changed, covered, index, named;
    const char                        *host;
    redisReply                        *e, *p;
    long long                          start, end;
    ngx_octopus_redis_cluster_node_t  *node;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_ARRAY
            || e->element[2]->elements < 2
            || e->element[2]->element[0]->type != REDIS_REPLY_STRING
            || e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        {
            return NGX_ERROR;
        }

        start = e->element[0]->integer;
        end = e->element[1]->integer;

        if (start < 0 || end < start || end >= NGX_OCTOPUS_REDIS_SLOTS) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < cl->nnodes; i++) {
        cl->nodes[i]->primary = 0;
    }

    changed = 0;
    covered = 0;
    named = 0;     /* host names: one map's worth per second, logged */

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];
        p = e->element[2];

        host = p->element[0]->str;
        hlen = p->element[0]->len;

        if (hlen == 0) {
            host = (char *) cl->asked->host;
            hlen = cl->asked->conf.host.len;
        }

        node = ngx_octopus_cluster_node(cl, host, hlen,
                                        (ngx_uint_t) p->element[1]->integer);

        if (node == NULL) {
            if ((ngx_msec_int_t) (ngx_current_msec - cl->named)
                >= NGX_OCTOPUS_CLUSTER_REPORT || named)
            {
                cl->named = ngx_current_msec;
                named = 1;

                ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                              "octopus redis %V: %V announces \"%*s\" port "
                              "%L for slots %L-%L, not a numeric address: "
                              "skipped (the failure policy applies to them)",
                              &cl->conf->name, &cl->asked->conf.name,
                              ngx_min(p->element[0]->len, 128),
                              p->element[0]->str,
                              (int64_t) p->element[1]->integer,
                              (int64_t) e->element[0]->integer,
                              (int64_t) e->element[1]->integer);
            }

            continue;
        }

        node->primary = 1;
        index = node->index + 1;

        for (s = (ngx_uint_t) e->element[0]->integer;
             s <= (ngx_uint_t) e->element[1]->integer;
             s++)
        {
            if (cl->slots[s] != index) {
                cl->slots[s] = (uint16_t) (index | 0x8000);
                changed++;

            } else {
                cl->slots[s] |= 0x8000;
            }
        }
    }

    /* the slots the map no longer names lose their primary */

    for (s = 0; s < NGX_OCTOPUS_REDIS_SLOTS; s++) {
        if (cl->slots[s] & 0x8000) {
            cl->slots[s] &= 0x7fff;
            covered++;

        } else if (cl->slots[s]) {
            cl->slots[s] = 0;
            changed++;
        }
    }

    /* a change, or redirections since the last read: a line each */

    if (changed || cl->moved || cl->ask || cl->tryagain) {
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "octopus redis %V: slot map from %V: %ui slots "
                      "changed, %ui of %d served; followed since the last "
                      "read: %ui MOVED, %ui ASK, %ui TRYAGAIN",
                      &cl->conf->name, &cl->asked->conf.name, changed,
                      covered, NGX_OCTOPUS_REDIS_SLOTS, cl->moved, cl->ask,
                      cl->tryagain);

        cl->moved = 0;
        cl->ask = 0;
        cl->tryagain = 0;
    }

    cl->covered = covered;
    cl->mapped = 1;

    /* a node that serves no slot any more is closed, not redialled */

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if (!node->primary && node->rd) {
            ngx_octopus_redis_close(node->rd);
        }
    }

    /* the node that answered serves slots, probably: ask it next time */

    if (!cl->asked->primary) {
        cl->source++;
    }

    return NGX_OK;
}


/* every slot has a primary, and every primary a connection (or dial) */

static ngx_uint_t
ngx_octopus_cluster_reachable(ngx_octopus_redis_cluster_t *cl)
{
    ngx_uint_t  i;

    if (cl->covered != NGX_OCTOPUS_REDIS_SLOTS) {
        return 0;
    }

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i]->primary
            && (cl->nodes[i]->rd == NULL
                || !ngx_octopus_redis_up(cl->nodes[i]->rd)))
        {
            return 0;
        }
    }

    return 1;
}
