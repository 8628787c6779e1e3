
/*
 * Copyright (C) Octopus Guard authors
 *
 * Revocation on every node (see the header).  The shared zone holds an
 * rbtree of entries keyed by the CRC32 of (type, value), under the zone's
 * mutex.  Only the node's worker 0 talks to Redis: the resync through
 * ngx_octopus_redis_t (ZRANGEBYSCORE of the three sorted sets, pipelined),
 * the subscription on a hiredis async connection of its own with the same
 * nginx event glue as the sentinel client (a subscribed connection runs no
 * other command).  Every worker reads the zone, under its mutex unless
 * the list holds no entry of the types a request asks about.
 *
 * The list is "current" while the subscription is up, the last resync
 * started after it was established succeeded, and that resync is at most
 * 2 x resync + 1 s old.  failure=closed refuses every token and key while
 * it is not; failure=keep applies the last known list.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_octopus_auth.h"
#include "ngx_octopus_auth_revoke.h"
#include "ngx_octopus_auth_revoke_entry.h"
#include "ngx_octopus_redis.h"
#include "ngx_octopus_redis_reply.h"


#define NGX_OCTOPUS_REVOKE_KEEP          0
#define NGX_OCTOPUS_REVOKE_CLOSED        1

#define NGX_OCTOPUS_REVOKE_PREFIX        "octopus:revoke:"
#define NGX_OCTOPUS_REVOKE_ZONE          "octopus_auth_revocation"
#define NGX_OCTOPUS_REVOKE_ZONE_SIZE     (1024 * 1024)
#define NGX_OCTOPUS_REVOKE_RESYNC        15000   /* ms */
#define NGX_OCTOPUS_REVOKE_TIMEOUT       1000    /* ms, each command */
#define NGX_OCTOPUS_REVOKE_RETRY         1000    /* ms, after a failure */
#define NGX_OCTOPUS_REVOKE_SUB_MIN       100     /* ms, resubscribe backoff */
#define NGX_OCTOPUS_REVOKE_SUB_MAX       1000

#define NGX_OCTOPUS_REVOKE_UNAVAILABLE   NGX_OCTOPUS_REVOKE_NTYPES


typedef struct {
    u_char                          color;
    u_char                          type;
    u_short                         len;
    uint32_t                        gen;
    time_t                          expires;
    time_t                          before;
    u_char                          data[1];
} ngx_octopus_revoke_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    uint32_t                        gen;
    ngx_uint_t                      count[NGX_OCTOPUS_REVOKE_NTYPES];
    ngx_msec_t                      sync_msec;    /* monotonic */
    time_t                          sync_time;    /* 0: never */
    ngx_uint_t                      subscribed;
    ngx_uint_t                      synced;
    ngx_atomic_t                    refused[NGX_OCTOPUS_REVOKE_NTYPES + 1];
    ngx_atomic_t                    resyncs;
    ngx_atomic_t                    resync_errors;
    ngx_atomic_t                    messages;
} ngx_octopus_revoke_sh_t;


typedef struct {
    ngx_octopus_auth_revoke_t      *rv;
    ngx_uint_t                      type;
    ngx_octopus_redis_cmd_t        *cmd;
} ngx_octopus_revoke_req_t;


struct ngx_octopus_auth_revoke_s {
    ngx_octopus_redis_conf_t        redis;
    ngx_str_t                       prefix;
    ngx_str_t                       keys[NGX_OCTOPUS_REVOKE_NTYPES];
    ngx_str_t                       channel;
    ngx_uint_t                      failure;
    ngx_msec_t                      resync;
    ssize_t                         size;

    ngx_shm_zone_t                 *zone;
    ngx_octopus_revoke_sh_t        *sh;
    ngx_slab_pool_t                *shpool;

    /* the node's client, in worker 0 only */
    ngx_log_t                      *log;
    ngx_octopus_redis_t            *rd;
    redisAsyncContext              *sub;
    ngx_event_t                     sub_timer;     /* until subscribed */
    ngx_event_t                     sub_retry;
    ngx_event_t                     resync_timer;
    ngx_msec_t                      sub_backoff;
    ngx_uint_t                      sub_epoch;     /* subscriptions made */
    ngx_uint_t                      pending;       /* replies owed */
    ngx_uint_t                      resync_epoch;  /* when it started */
    uint32_t                        gen;
    ngx_octopus_revoke_req_t        req[NGX_OCTOPUS_REVOKE_NTYPES];

    unsigned                        failed:1;
    unsigned                        again:1;
    unsigned                        down_logged:1;
    unsigned                        closing:1;
};


static ngx_int_t ngx_octopus_revoke_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_octopus_revoke_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static uint32_t ngx_octopus_revoke_hash(ngx_uint_t type, u_char *data,
    size_t len);
static ngx_octopus_revoke_node_t *ngx_octopus_revoke_lookup(
    ngx_octopus_revoke_sh_t *sh, ngx_uint_t type, u_char *data, size_t len);
static ngx_int_t ngx_octopus_revoke_add_locked(ngx_octopus_auth_revoke_t *rv,
    ngx_octopus_revoke_entry_t *e, uint32_t gen);
static void ngx_octopus_revoke_sweep_locked(ngx_octopus_auth_revoke_t *rv,
    uint32_t gen, time_t now);
static ngx_uint_t ngx_octopus_revoke_current(ngx_octopus_auth_revoke_t *rv);

static void ngx_octopus_revoke_resync(ngx_octopus_auth_revoke_t *rv);
static void ngx_octopus_revoke_resync_reply(void *data, redisReply *reply);
static void ngx_octopus_revoke_resync_done(ngx_octopus_auth_revoke_t *rv);
static void ngx_octopus_revoke_resync_handler(ngx_event_t *ev);

static void ngx_octopus_revoke_sub_start(ngx_octopus_auth_revoke_t *rv);
static void ngx_octopus_revoke_sub_failed(ngx_octopus_auth_revoke_t *rv);
static void ngx_octopus_revoke_sub_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_revoke_sub_message(ngx_octopus_auth_revoke_t *rv,
    redisReply *msg);
static void ngx_octopus_revoke_sub_timeout(ngx_event_t *ev);
static void ngx_octopus_revoke_sub_retry(ngx_event_t *ev);
static void ngx_octopus_revoke_auth_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_revoke_connect_cb(const redisAsyncContext *ac,
    int status);
static void ngx_octopus_revoke_disconnect_cb(const redisAsyncContext *ac,
    int status);
static void ngx_octopus_revoke_read_handler(ngx_event_t *ev);
static void ngx_octopus_revoke_write_handler(ngx_event_t *ev);
static void ngx_octopus_revoke_add_write(void *privdata);



static const char  *ngx_octopus_revoke_reasons[] = {
    "token revoked",
    "token revoked (subject)",
    "api key revoked",
    "revocation list unavailable"
};


/* configuration */


/*
 * octopus_auth_revocation redis=host[:port]|unix:/path [password_file=]
 *     [db=] [connect_timeout=] [timeout=] [prefix=] [failure=keep|closed]
 *     [resync=time] [zone=size]
 */

char *
ngx_octopus_auth_revoke_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t *amcf = conf;

    u_char                     *p;
    ngx_int_t                   rc;
    ngx_str_t                  *value, k, v, addr, name;
    ngx_uint_t                  i, t;
    ngx_msec_t                  ms;
    ngx_octopus_auth_revoke_t  *rv;

    if (amcf->revoke) {
        return "is duplicate";
    }

    rv = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_auth_revoke_t));
    if (rv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_octopus_redis_conf_init(&rv->redis);
    rv->redis.timeout = NGX_OCTOPUS_REVOKE_TIMEOUT;

    ngx_str_set(&rv->prefix, NGX_OCTOPUS_REVOKE_PREFIX);
    rv->failure = NGX_OCTOPUS_REVOKE_KEEP;
    rv->resync = NGX_OCTOPUS_REVOKE_RESYNC;
    rv->size = NGX_OCTOPUS_REVOKE_ZONE_SIZE;

    value = cf->args->elts;
    ngx_str_null(&addr);

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len > 6 && ngx_strncmp(value[i].data, "redis=", 6) == 0)
        {
            addr.data = value[i].data + 6;
            addr.len = value[i].len - 6;

            /* one subscribed connection to one server: a Sentinel or a
             * Cluster would leave the list never current */

            if ((addr.len >= 9 && ngx_strncmp(addr.data, "sentinel=", 9) == 0)
                || (addr.len >= 8
                    && ngx_strncmp(addr.data, "cluster=", 8) == 0))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "octopus_auth_revocation: Redis Sentinel "
                                   "and Cluster are not supported in \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (rv->redis.name.len) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"redis=\" in "
                                   "octopus_auth_revocation \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (ngx_octopus_redis_conf_address(cf, &rv->redis, &addr)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_octopus_redis_conf_option(cf, &rv->redis, &value[i]);

        if (rc == NGX_OK) {
            if (rv->redis.master.len || rv->redis.sentinel_password.len) {
                goto invalid;
            }

            continue;
        }

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (ngx_octopus_parse_kv(&value[i], &k, &v) != NGX_OK || v.len == 0) {
            goto invalid;
        }

        if (k.len == 6 && ngx_strncmp(k.data, "prefix", 6) == 0) {
            for (p = v.data; p < v.data + v.len; p++) {
                if (*p <= 0x20 || *p >= 0x7f) {
                    goto invalid;
                }
            }

            rv->prefix = v;
            continue;
        }

        if (k.len == 7 && ngx_strncmp(k.data, "failure", 7) == 0) {
            if (v.len == 4 && ngx_strncmp(v.data, "keep", 4) == 0) {
                rv->failure = NGX_OCTOPUS_REVOKE_KEEP;

            } else if (v.len == 6 && ngx_strncmp(v.data, "closed", 6) == 0) {
                rv->failure = NGX_OCTOPUS_REVOKE_CLOSED;

            } else {
                goto invalid;
            }

            continue;
        }

        if (k.len == 6 && ngx_strncmp(k.data, "resync", 6) == 0) {
            ms = ngx_parse_time(&v, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms < 200 || ms > 3600000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid octopus_auth_revocation resync "
                                   "\"%V\": from 200ms to 1h", &value[i]);
                return NGX_CONF_ERROR;
            }

            rv->resync = ms;
            continue;
        }

        if (k.len == 4 && ngx_strncmp(k.data, "zone", 4) == 0) {
            rv->size = ngx_parse_size(&v);

            if (rv->size == NGX_ERROR
                || rv->size < (ssize_t) (8 * ngx_pagesize))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid octopus_auth_revocation zone "
                                   "size \"%V\": at least %uz bytes",
                                   &value[i], 8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        goto invalid;
    }

    if (rv->redis.name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_auth_revocation needs \"redis=\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_octopus_redis_conf_done(cf, &rv->redis) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the key names, NUL-terminated */

    for (t = 0; t < NGX_OCTOPUS_REVOKE_NTYPES; t++) {
        rv->keys[t].len = rv->prefix.len + 3;
        rv->keys[t].data = ngx_pnalloc(cf->pool, rv->keys[t].len + 1);
        if (rv->keys[t].data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(rv->keys[t].data, "%V%s%Z", &rv->prefix,
                    ngx_octopus_revoke_type_name(t));
    }

    rv->channel.len = rv->prefix.len + sizeof("events") - 1;
    rv->channel.data = ngx_pnalloc(cf->pool, rv->channel.len + 1);
    if (rv->channel.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(rv->channel.data, "%Vevents%Z", &rv->prefix);

    ngx_str_set(&name, NGX_OCTOPUS_REVOKE_ZONE);

    rv->zone = ngx_shared_memory_add(cf, &name, rv->size,
                                     &ngx_octopus_auth_module);
    if (rv->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    rv->zone->init = ngx_octopus_revoke_init_zone;
    rv->zone->data = rv;

    amcf->revoke = rv;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid octopus_auth_revocation parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* kept over reloads: the list stays while the new workers resync */

static ngx_int_t
ngx_octopus_revoke_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_octopus_auth_revoke_t  *orv = data;

    size_t                      len;
    ngx_slab_pool_t            *shpool;
    ngx_octopus_revoke_sh_t    *sh;
    ngx_octopus_auth_revoke_t  *rv;

    rv = shm_zone->data;

    if (orv) {
        rv->sh = orv->sh;
        rv->shpool = orv->shpool;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    rv->shpool = shpool;

    if (shm_zone->shm.exists) {
        rv->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_octopus_revoke_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_octopus_revoke_rbtree_insert);

    shpool->data = sh;
    rv->sh = sh;

    len = sizeof(" in octopus_auth_revocation zone") - 1;

    shpool->log_ctx = ngx_slab_alloc(shpool, len + 1);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in octopus_auth_revocation zone%Z");

    /* a full zone is reported by us, once until the list fits again */
    shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_octopus_revoke_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t                   rc;
    ngx_rbtree_node_t         **p;
    ngx_octopus_revoke_node_t  *rn, *rnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            rn = (ngx_octopus_revoke_node_t *) &node->color;
            rnt = (ngx_octopus_revoke_node_t *) &temp->color;

            rc = (ngx_int_t) rn->type - (ngx_int_t) rnt->type;

            if (rc == 0) {
                rc = ngx_memn2cmp(rn->data, rnt->data, rn->len, rnt->len);
            }

            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static uint32_t
ngx_octopus_revoke_hash(ngx_uint_t type, u_char *data, size_t len)
{
    u_char    t;
    uint32_t  crc;

    t = (u_char) type;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, &t, 1);
    ngx_crc32_update(&crc, data, len);
    ngx_crc32_final(crc);

    return crc;
}


static ngx_octopus_revoke_node_t *
ngx_octopus_revoke_lookup(ngx_octopus_revoke_sh_t *sh, ngx_uint_t type,
    u_char *data, size_t len)
{
    uint32_t                    hash;
    ngx_int_t                   rc;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_octopus_revoke_node_t  *rn;

    hash = ngx_octopus_revoke_hash(type, data, len);

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        rn = (ngx_octopus_revoke_node_t *) &node->color;

        rc = (ngx_int_t) type - (ngx_int_t) rn->type;

        if (rc == 0) {
            rc = ngx_memn2cmp(data, rn->data, len, rn->len);
        }

        if (rc == 0) {
            return rn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * a new entry, or the one already there updated: replaced when it was
 * last seen by an older resync, else the latest time wins (two "log out
 * everywhere" of one subject in Redis)
 */

static ngx_int_t
ngx_octopus_revoke_add_locked(ngx_octopus_auth_revoke_t *rv,
    ngx_octopus_revoke_entry_t *e, uint32_t gen)
{
    size_t                      n;
    ngx_rbtree_node_t          *node;
    ngx_octopus_revoke_sh_t    *sh;
    ngx_octopus_revoke_node_t  *rn;

    sh = rv->sh;

    rn = ngx_octopus_revoke_lookup(sh, e->type, (u_char *) e->value, e->len);

    if (rn) {
        if (rn->gen != gen) {
            rn->gen = gen;
            rn->expires = e->expires;
            rn->before = e->before;

        } else {
            rn->expires = ngx_max(rn->expires, e->expires);
            rn->before = ngx_max(rn->before, e->before);
        }

        return NGX_OK;
    }

    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(ngx_octopus_revoke_node_t, data)
        + e->len;

    node = ngx_slab_alloc_locked(rv->shpool, n);

    if (node == NULL) {
        /* room made by what has expired, then once more */
        ngx_octopus_revoke_sweep_locked(rv, sh->gen - 0x40000000, ngx_time());

        node = ngx_slab_alloc_locked(rv->shpool, n);
        if (node == NULL) {
            return NGX_ERROR;
        }
    }

    node->key = ngx_octopus_revoke_hash(e->type, (u_char *) e->value, e->len);

    rn = (ngx_octopus_revoke_node_t *) &node->color;

    rn->type = (u_char) e->type;
    rn->len = (u_short) e->len;
    rn->gen = gen;
    rn->expires = e->expires;
    rn->before = e->before;
    ngx_memcpy(rn->data, e->value, e->len);

    ngx_rbtree_insert(&sh->rbtree, node);

    sh->count[e->type]++;

    return NGX_OK;
}


/* drops the expired entries and those older than gen (serial order) */

static void
ngx_octopus_revoke_sweep_locked(ngx_octopus_auth_revoke_t *rv, uint32_t gen,
    time_t now)
{
    ngx_rbtree_node_t          *node, *next, *sentinel;
    ngx_octopus_revoke_sh_t    *sh;
    ngx_octopus_revoke_node_t  *rn;

    sh = rv->sh;
    sentinel = sh->rbtree.sentinel;

    if (sh->rbtree.root == sentinel) {
        return;
    }

    node = ngx_rbtree_min(sh->rbtree.root, sentinel);

    while (node) {
        next = ngx_rbtree_next(&sh->rbtree, node);

        rn = (ngx_octopus_revoke_node_t *) &node->color;

        if (rn->expires <= now || (int32_t) (rn->gen - gen) < 0) {
            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "octopus revocation: %s \"%*s\" dropped",
                           ngx_octopus_revoke_type_name(rn->type),
                           (size_t) rn->len, rn->data);

            sh->count[rn->type]--;
            ngx_rbtree_delete(&sh->rbtree, node);
            ngx_slab_free_locked(rv->shpool, node);
        }

        node = next;
    }
}


static ngx_uint_t
ngx_octopus_revoke_current(ngx_octopus_auth_revoke_t *rv)
{
    ngx_octopus_revoke_sh_t  *sh;

    sh = rv->sh;

    return sh->subscribed && sh->synced
           && (ngx_msec_int_t) (ngx_current_msec - sh->sync_msec)
              <= (ngx_msec_int_t) (2 * rv->resync + 1000);
}


/* the request side: every worker, no Redis */

ngx_int_t
ngx_octopus_auth_revoke_check(ngx_octopus_auth_revoke_t *rv, ngx_str_t *jti,
    ngx_str_t *sub, ngx_octopus_auth_json_t *claims, ngx_str_t *key_id,
    ngx_log_t *log, const char **reason)
{
    int                          tok, has_iat;
    double                       iat;
    time_t                       now;
    ngx_uint_t                   which, current;
    ngx_octopus_revoke_sh_t     *sh;
    ngx_octopus_revoke_node_t   *rn;
    ngx_octopus_revoke_entry_t   e;

    if (rv == NULL) {
        return NGX_OK;
    }

    now = ngx_time();

    has_iat = 0;
    iat = 0;

    if (claims) {
        tok = ngx_octopus_auth_json_get(claims, 0, "iat");

        if (tok >= 0 && ngx_octopus_auth_json_number(claims, tok, &iat) == 0) {
            has_iat = 1;
        }
    }

    which = NGX_OCTOPUS_REVOKE_NTYPES;

    /*
     * no entry of the types asked: no lock (the counts are words written
     * under the lock; one being added this very instant is no different
     * from one published an instant later)
     */

    sh = rv->sh;

    if (!((jti && jti->len && sh->count[NGX_OCTOPUS_REVOKE_JTI])
          || (sub && sub->len && sh->count[NGX_OCTOPUS_REVOKE_SUB])
          || (key_id && key_id->len && sh->count[NGX_OCTOPUS_REVOKE_KEY])))
    {
        current = ngx_octopus_revoke_current(rv);
        goto unlocked;
    }

    ngx_shmtx_lock(&rv->shpool->mutex);

    current = ngx_octopus_revoke_current(rv);

    if (jti && jti->len) {
        rn = ngx_octopus_revoke_lookup(rv->sh, NGX_OCTOPUS_REVOKE_JTI,
                                       jti->data, jti->len);
        if (rn && rn->expires > now) {
            which = NGX_OCTOPUS_REVOKE_JTI;
        }
    }

    if (which == NGX_OCTOPUS_REVOKE_NTYPES && sub && sub->len) {
        rn = ngx_octopus_revoke_lookup(rv->sh, NGX_OCTOPUS_REVOKE_SUB,
                                       sub->data, sub->len);
        if (rn) {
            e.type = NGX_OCTOPUS_REVOKE_SUB;
            e.before = rn->before;
            e.expires = rn->expires;

            if (ngx_octopus_revoke_applies(&e, has_iat, iat, now)) {
                which = NGX_OCTOPUS_REVOKE_SUB;
            }
        }
    }

    if (which == NGX_OCTOPUS_REVOKE_NTYPES && key_id && key_id->len) {
        rn = ngx_octopus_revoke_lookup(rv->sh, NGX_OCTOPUS_REVOKE_KEY,
                                       key_id->data, key_id->len);
        if (rn && rn->expires > now) {
            which = NGX_OCTOPUS_REVOKE_KEY;
        }
    }

    ngx_shmtx_unlock(&rv->shpool->mutex);

unlocked:

    if (which != NGX_OCTOPUS_REVOKE_NTYPES) {
        (void) ngx_atomic_fetch_add(&rv->sh->refused[which], 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "octopus revocation: refused by a %s entry%s",
                       ngx_octopus_revoke_type_name(which),
                       which == NGX_OCTOPUS_REVOKE_SUB && !has_iat
                       ? " (token without iat)" : "");

        *reason = ngx_octopus_revoke_reasons[which];
        return NGX_DECLINED;
    }

    if (!current && rv->failure == NGX_OCTOPUS_REVOKE_CLOSED) {
        (void) ngx_atomic_fetch_add(
                   &rv->sh->refused[NGX_OCTOPUS_REVOKE_UNAVAILABLE], 1);

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "octopus revocation: list not current, "
                       "failure=closed");

        *reason = ngx_octopus_revoke_reasons[NGX_OCTOPUS_REVOKE_UNAVAILABLE];
        return NGX_BUSY;
    }

    return NGX_OK;
}


/* the node's client: worker 0 (or the single process) */

void
ngx_octopus_auth_revoke_init_process(ngx_octopus_auth_revoke_t *rv,
    ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    if (rv == NULL) {
        return;
    }

    if (ngx_process != NGX_PROCESS_SINGLE
        && (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0))
    {
        return;
    }

    rv->log = cycle->log;
    rv->sub_backoff = NGX_OCTOPUS_REVOKE_SUB_MIN;

    rv->sub_timer.handler = ngx_octopus_revoke_sub_timeout;
    rv->sub_retry.handler = ngx_octopus_revoke_sub_retry;
    rv->resync_timer.handler = ngx_octopus_revoke_resync_handler;

    rv->sub_timer.data = rv;
    rv->sub_retry.data = rv;
    rv->resync_timer.data = rv;

    rv->sub_timer.log = cycle->log;
    rv->sub_retry.log = cycle->log;
    rv->resync_timer.log = cycle->log;

    rv->sub_timer.cancelable = 1;
    rv->sub_retry.cancelable = 1;
    rv->resync_timer.cancelable = 1;

    for (i = 0; i < NGX_OCTOPUS_REVOKE_NTYPES; i++) {
        rv->req[i].rv = rv;
        rv->req[i].type = i;
    }

    /*
     * the zone's state is left as it is: at a reload the old worker 0
     * keeps the list current until this one has subscribed and resynced
     */

    rv->rd = ngx_octopus_redis_create(&rv->redis, cycle->pool, cycle->log);
    if (rv->rd == NULL) {
        return;
    }

    ngx_octopus_revoke_sub_start(rv);
    ngx_octopus_revoke_resync(rv);
}


void
ngx_octopus_auth_revoke_exit_process(ngx_octopus_auth_revoke_t *rv)
{
    ngx_uint_t          i;
    redisAsyncContext  *ac;

    if (rv == NULL || rv->rd == NULL) {
        return;
    }

    rv->closing = 1;

    if (rv->sub_timer.timer_set) {
        ngx_del_timer(&rv->sub_timer);
    }

    if (rv->sub_retry.timer_set) {
        ngx_del_timer(&rv->sub_retry);
    }

    if (rv->resync_timer.timer_set) {
        ngx_del_timer(&rv->resync_timer);
    }

    for (i = 0; i < NGX_OCTOPUS_REVOKE_NTYPES; i++) {
        if (rv->req[i].cmd) {
            ngx_octopus_redis_cancel(rv->req[i].cmd);
            rv->req[i].cmd = NULL;
        }
    }

    ac = rv->sub;
    rv->sub = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_octopus_redis_destroy(rv->rd);
    rv->rd = NULL;
}


/* the full resync: the three sorted sets, their unexpired members */

static void
ngx_octopus_revoke_resync(ngx_octopus_auth_revoke_t *rv)
{
    u_char                    min[NGX_TIME_T_LEN + 2];
    size_t                    argvlen[5];
    ngx_uint_t                t;
    const char               *argv[5];
    ngx_octopus_redis_cmd_t  *cmd;

    if (rv->closing) {
        return;
    }

    if (rv->pending) {
        rv->again = 1;
        return;
    }

    if (rv->resync_timer.timer_set) {
        ngx_del_timer(&rv->resync_timer);
    }

    rv->again = 0;
    rv->failed = 0;
    rv->resync_epoch = rv->sub_epoch;

    ngx_shmtx_lock(&rv->shpool->mutex);
    rv->gen = ++rv->sh->gen;
    ngx_shmtx_unlock(&rv->shpool->mutex);

    argv[0] = "ZRANGEBYSCORE";
    argvlen[0] = sizeof("ZRANGEBYSCORE") - 1;
    argv[2] = (const char *) min;
    argvlen[2] = ngx_sprintf(min, "(%T", ngx_time()) - min;
    argv[3] = "+inf";
    argvlen[3] = 4;
    argv[4] = "WITHSCORES";
    argvlen[4] = sizeof("WITHSCORES") - 1;

    for (t = 0; t < NGX_OCTOPUS_REVOKE_NTYPES; t++) {
        argv[1] = (const char *) rv->keys[t].data;
        argvlen[1] = rv->keys[t].len;

        cmd = ngx_octopus_redis_send(rv->rd, ngx_octopus_revoke_resync_reply,
                                     &rv->req[t], 5, argv, argvlen);
        if (cmd == NULL) {
            rv->failed = 1;
            break;
        }

        rv->req[t].cmd = cmd;
        rv->pending++;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                   "octopus revocation: resync %uD, %ui commands sent",
                   rv->gen, rv->pending);

    if (rv->pending == 0) {
        ngx_octopus_revoke_resync_done(rv);
    }
}


static void
ngx_octopus_revoke_resync_reply(void *data, redisReply *reply)
{
    ngx_octopus_revoke_req_t *req = data;

    int                          rc;
    time_t                       now;
    size_t                       i;
    ngx_uint_t                   bad, full;
    redisReply                  *m, *s;
    ngx_octopus_auth_revoke_t   *rv;
    ngx_octopus_revoke_entry_t   e;

    rv = req->rv;
    req->cmd = NULL;
    rv->pending--;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 2)
    {
        if (!rv->down_logged) {
            if (reply && reply->type == REDIS_REPLY_ERROR) {
                ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                              "octopus revocation: %V: %*s",
                              &rv->keys[req->type],
                              (size_t) ngx_min(reply->len, 128), reply->str);

            } else {
                ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                              "octopus revocation: resync of %V from "
                              "redis %V failed", &rv->keys[req->type],
                              &rv->redis.name);
            }
        }

        rv->failed = 1;
        goto done;
    }

    now = ngx_time();
    bad = 0;
    full = 0;

    ngx_shmtx_lock(&rv->shpool->mutex);

    for (i = 0; i < reply->elements; i += 2) {
        m = reply->element[i];
        s = reply->element[i + 1];

        if (m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING) {
            bad++;
            continue;
        }

        rc = ngx_octopus_revoke_member((int) req->type, m->str, m->len,
                                       s->str, s->len, now, &e);
        if (rc == 1) {
            continue;
        }

        if (rc != 0) {
            bad++;
            continue;
        }

        if (ngx_octopus_revoke_add_locked(rv, &e, rv->gen) != NGX_OK) {
            full = 1;
            break;
        }
    }

    ngx_shmtx_unlock(&rv->shpool->mutex);

    if (bad) {
        ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                      "octopus revocation: %ui malformed members in %V "
                      "skipped", bad, &rv->keys[req->type]);
    }

    if (full && !rv->down_logged) {
        ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                      "octopus revocation: the zone is full, %V has more "
                      "entries than it holds: the list is incomplete "
                      "(make zone= larger)", &rv->keys[req->type]);
    }

    if (full) {
        rv->failed = 1;
    }

done:

    if (rv->pending == 0 && !rv->closing) {
        ngx_octopus_revoke_resync_done(rv);
    }
}


static void
ngx_octopus_revoke_resync_done(ngx_octopus_auth_revoke_t *rv)
{
    ngx_uint_t                synced;
    ngx_octopus_revoke_sh_t  *sh;

    sh = rv->sh;

    if (rv->failed) {
        (void) ngx_atomic_fetch_add(&sh->resync_errors, 1);

        ngx_shmtx_lock(&rv->shpool->mutex);
        sh->synced = 0;
        ngx_shmtx_unlock(&rv->shpool->mutex);

        if (!rv->down_logged) {
            ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                          "octopus revocation: resync from redis %V failed "
                          "or incomplete, the last known list applies%s, "
                          "retrying every %M ms", &rv->redis.name,
                          rv->failure == NGX_OCTOPUS_REVOKE_CLOSED
                          ? " and failure=closed refuses credentials" : "",
                          (ngx_msec_t) NGX_OCTOPUS_REVOKE_RETRY);
            rv->down_logged = 1;
        }

        if (rv->again) {
            ngx_octopus_revoke_resync(rv);
            return;
        }

        ngx_add_timer(&rv->resync_timer,
                      ngx_min(rv->resync, NGX_OCTOPUS_REVOKE_RETRY));
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->resyncs, 1);

    ngx_shmtx_lock(&rv->shpool->mutex);

    ngx_octopus_revoke_sweep_locked(rv, rv->gen, ngx_time());

    /* current only if the subscription was up before the read began */

    synced = (rv->sub && sh->subscribed && rv->resync_epoch == rv->sub_epoch
              && rv->sub_epoch > 0);

    /*
     * a resync read before this process subscribed proves nothing: the
     * one its subscription started follows (rv->again)
     */

    if (synced) {
        sh->synced = 1;
        sh->sync_msec = ngx_current_msec;
        sh->sync_time = ngx_time();
    }

    ngx_shmtx_unlock(&rv->shpool->mutex);

    if (rv->down_logged && synced) {
        ngx_log_error(NGX_LOG_NOTICE, rv->log, 0,
                      "octopus revocation: resynced from redis %V "
                      "(%ui jti, %ui sub, %ui key)", &rv->redis.name,
                      sh->count[0], sh->count[1], sh->count[2]);
        rv->down_logged = 0;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                   "octopus revocation: resync %uD done, synced %ui, "
                   "%ui jti, %ui sub", rv->gen, synced, sh->count[0],
                   sh->count[1]);

    if (rv->again) {
        ngx_octopus_revoke_resync(rv);
        return;
    }

    ngx_add_timer(&rv->resync_timer, rv->resync);
}


static void
ngx_octopus_revoke_resync_handler(ngx_event_t *ev)
{
    ngx_octopus_auth_revoke_t  *rv = ev->data;

    ngx_octopus_revoke_resync(rv);
}


/* the subscription, on a hiredis async connection of its own */

static void
ngx_octopus_revoke_sub_start(ngx_octopus_auth_revoke_t *rv)
{
    const char                *argv[2];
    size_t                     argvlen[2];
    redisAsyncContext         *ac;
    ngx_connection_t          *c;
    ngx_octopus_redis_conf_t  *rc;

    if (rv->closing || rv->sub) {
        return;
    }

    rc = &rv->redis;

    if (rc->unix_path.len) {
        ac = redisAsyncConnectUnix((char *) rc->unix_path.data);

    } else {
        ac = redisAsyncConnect((char *) rc->host.data, (int) rc->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                      "octopus revocation: out of memory");
        ngx_octopus_revoke_sub_failed(rv);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                      "octopus revocation: redis %V: connect failed: %s",
                      &rc->name, ac->errstr);
        redisAsyncFree(ac);
        ngx_octopus_revoke_sub_failed(rv);
        return;
    }

    ac->c.reader->fn = ngx_octopus_redis_reply_functions();

    c = ngx_get_connection(ac->c.fd, rv->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_octopus_revoke_sub_failed(rv);
        return;
    }

    c->data = ac;
    c->read->handler = ngx_octopus_revoke_read_handler;
    c->write->handler = ngx_octopus_revoke_write_handler;
    c->read->log = rv->log;
    c->write->log = rv->log;

    ac->data = rv;
    ac->ev.data = c;
    ac->ev.addRead = ngx_octopus_redis_ev_add_read;
    ac->ev.delRead = ngx_octopus_redis_ev_del_read;
    ac->ev.addWrite = ngx_octopus_revoke_add_write;
    ac->ev.delWrite = ngx_octopus_redis_ev_del_write;
    ac->ev.cleanup = ngx_octopus_redis_ev_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_octopus_revoke_connect_cb);
    redisAsyncSetDisconnectCallback(ac, ngx_octopus_revoke_disconnect_cb);

    rv->sub = ac;

    if (rc->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rc->password.data;
        argvlen[1] = rc->password.len;

        if (redisAsyncCommandArgv(ac, ngx_octopus_revoke_auth_cb, NULL, 2,
                                  argv, argvlen)
            != REDIS_OK)
        {
            ngx_octopus_revoke_sub_failed(rv);
            return;
        }
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = (const char *) rv->channel.data;
    argvlen[1] = rv->channel.len;

    if (redisAsyncCommandArgv(ac, ngx_octopus_revoke_sub_cb, rv, 2,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_octopus_revoke_sub_failed(rv);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                   "octopus revocation: subscribing to %V", &rv->channel);

    ngx_add_timer(&rv->sub_timer, rc->connect_timeout + rc->timeout);
}


/* the subscription is gone: the list is not current until resynced */

static void
ngx_octopus_revoke_sub_failed(ngx_octopus_auth_revoke_t *rv)
{
    redisAsyncContext  *ac;

    ac = rv->sub;
    rv->sub = NULL;

    if (rv->sub_timer.timer_set) {
        ngx_del_timer(&rv->sub_timer);
    }

    if (ac) {
        redisAsyncFree(ac);
    }

    if (rv->closing) {
        return;
    }

    ngx_shmtx_lock(&rv->shpool->mutex);
    rv->sh->subscribed = 0;
    rv->sh->synced = 0;
    ngx_shmtx_unlock(&rv->shpool->mutex);

    if (!rv->sub_retry.timer_set) {
        ngx_add_timer(&rv->sub_retry, rv->sub_backoff);
        rv->sub_backoff = ngx_min(rv->sub_backoff * 2,
                                  NGX_OCTOPUS_REVOKE_SUB_MAX);
    }
}


/*
 * ["subscribe", channel, n], then ["message", channel, payload]; a NULL
 * reply: the connection went, its disconnect callback follows
 */

static void
ngx_octopus_revoke_sub_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                 *reply = r;
    redisReply                 *kind;
    ngx_octopus_auth_revoke_t  *rv = privdata;

    if (rv->sub != ac || reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                      "octopus revocation: redis %V: unexpected reply to "
                      "SUBSCRIBE", &rv->redis.name);
        ngx_octopus_revoke_sub_failed(rv);
        return;
    }

    kind = reply->element[0];

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        if (rv->sub_timer.timer_set) {
            ngx_del_timer(&rv->sub_timer);
        }

        rv->sub_backoff = NGX_OCTOPUS_REVOKE_SUB_MIN;
        rv->sub_epoch++;

        ngx_shmtx_lock(&rv->shpool->mutex);
        rv->sh->subscribed = 1;
        ngx_shmtx_unlock(&rv->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                       "octopus revocation: subscribed to %V",
                       &rv->channel);

        /* what was published while nobody listened */
        ngx_octopus_revoke_resync(rv);
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        ngx_octopus_revoke_sub_message(rv, reply->element[2]);
    }
}


static void
ngx_octopus_revoke_sub_message(ngx_octopus_auth_revoke_t *rv,
    redisReply *msg)
{
    ngx_int_t                   rc;
    ngx_octopus_revoke_entry_t  e;

    (void) ngx_atomic_fetch_add(&rv->sh->messages, 1);

    rc = ngx_octopus_revoke_message(msg->str, msg->len, ngx_time(), &e);

    switch (rc) {

    case NGX_OCTOPUS_REVOKE_MSG_ADD:
        ngx_shmtx_lock(&rv->shpool->mutex);
        rc = ngx_octopus_revoke_add_locked(rv, &e, rv->sh->gen);
        ngx_shmtx_unlock(&rv->shpool->mutex);

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                          "octopus revocation: the zone is full, a %s entry "
                          "is not applied (make zone= larger)",
                          ngx_octopus_revoke_type_name(e.type));

            ngx_shmtx_lock(&rv->shpool->mutex);
            rv->sh->synced = 0;
            ngx_shmtx_unlock(&rv->shpool->mutex);
            return;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                       "octopus revocation: %s \"%*s\" applied",
                       ngx_octopus_revoke_type_name(e.type), e.len, e.value);
        return;

    case NGX_OCTOPUS_REVOKE_MSG_RESYNC:
        ngx_octopus_revoke_resync(rv);
        return;

    default:
        ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                      "octopus revocation: malformed message on %V: "
                      "resyncing", &rv->channel);
        ngx_octopus_revoke_resync(rv);
    }
}


static void
ngx_octopus_revoke_sub_timeout(ngx_event_t *ev)
{
    ngx_octopus_auth_revoke_t  *rv = ev->data;

    ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                  "octopus revocation: redis %V: not subscribed within %M ms",
                  &rv->redis.name,
                  rv->redis.connect_timeout + rv->redis.timeout);

    ngx_octopus_revoke_sub_failed(rv);
}


static void
ngx_octopus_revoke_sub_retry(ngx_event_t *ev)
{
    ngx_octopus_auth_revoke_t  *rv = ev->data;

    ngx_octopus_revoke_sub_start(rv);
}


/* the password never reaches the log */

static void
ngx_octopus_revoke_auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                 *reply = r;
    ngx_octopus_auth_revoke_t  *rv = ac->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR || rv->sub != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rv->log, 0,
                  "octopus revocation: redis %V: AUTH refused: %*s",
                  &rv->redis.name, (size_t) ngx_min(reply->len, 128),
                  reply->str);

    ngx_octopus_revoke_sub_failed(rv);
}


static void
ngx_octopus_revoke_connect_cb(const redisAsyncContext *ac, int status)
{
    ngx_octopus_auth_revoke_t  *rv = ac->data;

    if (status == REDIS_OK || rv->sub != ac) {
        return;
    }

    if (!rv->down_logged) {
        ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                      "octopus revocation: redis %V: connect failed: %s",
                      &rv->redis.name, ac->errstr);
    }

    /* hiredis frees the context when this returns */

    rv->sub = NULL;
    ngx_octopus_revoke_sub_failed(rv);
}


static void
ngx_octopus_revoke_disconnect_cb(const redisAsyncContext *ac, int status)
{
    ngx_octopus_auth_revoke_t  *rv = ac->data;

    if (rv->sub != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                  "octopus revocation: redis %V: subscription lost%s%s",
                  &rv->redis.name, ac->err ? ": " : "",
                  ac->err ? ac->errstr : "");

    rv->sub = NULL;
    ngx_octopus_revoke_sub_failed(rv);
}


static void
ngx_octopus_revoke_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_octopus_revoke_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_octopus_revoke_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/* the revocation part of octopus_auth_metrics (at most 2048 bytes) */

u_char *
ngx_octopus_auth_revoke_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p)
{
    time_t                      age;
    ngx_uint_t                  t, count[NGX_OCTOPUS_REVOKE_NTYPES], up;
    ngx_octopus_revoke_sh_t    *sh;
    ngx_octopus_auth_revoke_t  *rv;

    static const char  *refusals[] = { "jti", "sub", "key", "unavailable" };

    rv = amcf->revoke;

    if (rv && rv->sh) {
        sh = rv->sh;

        ngx_shmtx_lock(&rv->shpool->mutex);

        for (t = 0; t < NGX_OCTOPUS_REVOKE_NTYPES; t++) {
            count[t] = sh->count[t];
        }

        age = sh->sync_time ? ngx_time() - sh->sync_time : -1;
        up = ngx_octopus_revoke_current(rv);

        ngx_shmtx_unlock(&rv->shpool->mutex);

        p = ngx_cpymem(p,
            "# HELP octopus_auth_revocations Revocation entries in the "
            "node's list, by type.\n"
            "# TYPE octopus_auth_revocations gauge\n",
            sizeof("# HELP octopus_auth_revocations Revocation entries in "
                   "the node's list, by type.\n"
                   "# TYPE octopus_auth_revocations gauge\n") - 1);

        for (t = 0; t < NGX_OCTOPUS_REVOKE_NTYPES; t++) {
            p = ngx_sprintf(p, "octopus_auth_revocations{type=\"%s\"} %ui\n",
                            ngx_octopus_revoke_type_name(t), count[t]);
        }

        p = ngx_sprintf(p,
            "# HELP octopus_auth_revocation_resync_age_seconds Seconds since "
            "the last full resync from Redis (-1: never).\n"
            "# TYPE octopus_auth_revocation_resync_age_seconds gauge\n"
            "octopus_auth_revocation_resync_age_seconds %T\n"
            "# HELP octopus_auth_revocation_current 1 while the list is "
            "known to be current (subscribed and resynced).\n"
            "# TYPE octopus_auth_revocation_current gauge\n"
            "octopus_auth_revocation_current %ui\n"
            "# HELP octopus_auth_revocation_resyncs_total Full resyncs, "
            "done and failed.\n"
            "# TYPE octopus_auth_revocation_resyncs_total counter\n"
            "octopus_auth_revocation_resyncs_total{result=\"ok\"} %uA\n"
            "octopus_auth_revocation_resyncs_total{result=\"error\"} %uA\n"
            "# HELP octopus_auth_revocation_messages_total Messages "
            "received on the channel.\n"
            "# TYPE octopus_auth_revocation_messages_total counter\n"
            "octopus_auth_revocation_messages_total %uA\n"
            "# HELP octopus_auth_revocation_refusals_total Credentials "
            "refused, by the entry type or unavailable (failure=closed).\n"
            "# TYPE octopus_auth_revocation_refusals_total counter\n",
            age, up, sh->resyncs, sh->resync_errors, sh->messages);

        for (t = 0; t <= NGX_OCTOPUS_REVOKE_NTYPES; t++) {
            p = ngx_sprintf(p, "octopus_auth_revocation_refusals_total"
                            "{reason=\"%s\"} %uA\n", refusals[t],
                            sh->refused[t]);
        }
    }


    return p;
}
