
/*
 * Copyright (C) Octopus Guard authors
 *
 * Shared-memory state of one zone (and of the lockout): a slab pool with an
 * rbtree of keys and an LRU queue, as in limit_req.  It holds the limits of
 * the shared-memory mode and of the "local" fallback, and caches bans and
 * locks read from Redis so that banned traffic costs no round trip.
 */


#include "ngx_octopus_ratelimit.h"


static void ngx_octopus_rl_shm_expire(ngx_octopus_rl_shm_t *ctx,
    ngx_uint_t force, uint64_t now);
static void ngx_octopus_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


ngx_int_t
ngx_octopus_rl_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_octopus_rl_shm_t  *octx = data;

    size_t                 len;
    ngx_uint_t             i;
    ngx_octopus_rl_shm_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_octopus_rl_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_octopus_rl_rbtree_insert);

    ngx_queue_init(&ctx->sh->queue);
    ngx_queue_init(&ctx->sh->sync_queue);
    ctx->sh->sync_queued = 0;
    ctx->sh->sync_next = 0;
    ctx->sh->sync_down = 0;

    for (i = 0; i < NGX_OCTOPUS_RL_FB_N; i++) {
        ctx->sh->fallback[i] = 0;
    }

    len = sizeof(" in octopus_ratelimit zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in octopus_ratelimit zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


/* wall clock, ms: the same time base as Redis's TIME */

uint64_t
ngx_octopus_rl_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


void
ngx_octopus_rl_shm_limit(ngx_octopus_rl_zone_t *zone, ngx_str_t *key,
    ngx_flag_t dry_run, ngx_octopus_rl_item_t *item)
{
    uint64_t                now, left;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_node_t  *lr;

    ctx = zone->shm_zone->data;
    now = ngx_octopus_rl_now();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, key, 1, now);

    if (lr == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "octopus_ratelimit zone \"%V\" is full, "
                      "request not limited", &zone->name);

        item->outcome = NGX_OCTOPUS_RL_PASS;
        item->res.allowed = 1;
        item->res.remaining = 0;
        item->res.reset_ms = 0;
        item->res.retry_ms = 0;
        return;
    }

    if (zone->ban_after) {
        left = ngx_octopus_rl_strike_check(&lr->strike, now);

        if (left) {
            ngx_octopus_rl_shm_touch(ctx, lr, now, 0);
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            item->outcome = NGX_OCTOPUS_RL_BANNED;
            item->res.allowed = 0;
            item->res.remaining = 0;
            item->res.reset_ms = left;
            item->res.retry_ms = left;
            return;
        }
    }

    if (zone->algorithm == NGX_OCTOPUS_RL_GCRA) {
        ngx_octopus_rl_gcra(&lr->state, now * 1000, zone->rate, zone->period,
                            zone->burst, &item->res);

    } else {
        ngx_octopus_rl_sliding_window(&lr->state, now, zone->rate,
                                      zone->period, &item->res);
    }

    item->outcome = item->res.allowed ? NGX_OCTOPUS_RL_PASS
                                      : NGX_OCTOPUS_RL_LIMITED;

    if (!item->res.allowed && zone->ban_after && !dry_run) {
        left = ngx_octopus_rl_strike_add(&lr->strike, now, zone->ban_after,
                                         zone->ban_within, zone->ban_for);
        if (left) {
            item->outcome = NGX_OCTOPUS_RL_BANNED;
            item->res.reset_ms = left;
            item->res.retry_ms = left;
        }
    }

    ngx_octopus_rl_shm_touch(ctx, lr, now, lr->state.tat / 1000);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/* ms left of a ban (zones) or a lock (lockout), 0 when none */

uint64_t
ngx_octopus_rl_shm_strike_left(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint64_t recheck, ngx_uint_t *ask)
{
    uint64_t                now, left;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_node_t  *lr;

    ctx = shm_zone->data;
    now = ngx_octopus_rl_now();
    left = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, key, 0, now);

    if (lr) {
        left = ngx_octopus_rl_strike_check(&lr->strike, now);

        /* a cached ban or lock: one request per interval asks Redis */

        if (left && recheck && now >= lr->confirmed + recheck) {
            lr->confirmed = now;
            *ask = 1;
            left = 0;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return left;
}


/* caches a ban or a lock that Redis reported, or (ms 0) lifts it */

void
ngx_octopus_rl_shm_strike_set(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint64_t ms)
{
    uint64_t                now;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_node_t  *lr;

    ctx = shm_zone->data;
    now = ngx_octopus_rl_now();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, key, 1, now);

    if (lr) {
        /* 0: Redis no longer has it (lifted) */
        lr->strike.until = now + ms;
        lr->confirmed = now;
        ngx_octopus_rl_shm_touch(ctx, lr, now, 0);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * Lockout: reserves one attempt for the key, atomically for every worker
 * of the node.  Returns an NGX_OCTOPUS_RL_RESERVE* code; NGX_DECLINED when
 * the zone is full (the attempt passes, unreserved, and is still counted
 * if it fails).
 */

ngx_int_t
ngx_octopus_rl_shm_reserve(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_octopus_rl_lockout_t *lo, uint64_t *epoch, uint64_t *ms)
{
    int                     rc;
    uint64_t                now;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_node_t  *lr;

    ctx = shm_zone->data;
    now = ngx_octopus_rl_now();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, key, 1, now);

    if (lr == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "octopus_ratelimit lockout zone is full, "
                      "attempt not reserved");
        return NGX_DECLINED;
    }

    rc = ngx_octopus_rl_inflight_reserve(&lr->strike, &lr->inflight, now,
                                         lo->failures, lo->within,
                                         lo->inflight_timeout, epoch, ms);

    ngx_octopus_rl_shm_touch(ctx, lr, now,
                             ngx_max(lr->strike.start + lo->within,
                                     ngx_octopus_rl_inflight_until(
                                         &lr->inflight,
                                         lo->inflight_timeout)));

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * Lockout: the answer to a reserved attempt came.  Releases the
 * reservation (if "reserved") and, if "failed", counts a failure; returns
 * the lock in ms when this failure locks the key, 0 otherwise.
 */

uint64_t
ngx_octopus_rl_shm_finish(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_octopus_rl_lockout_t *lo, ngx_uint_t reserved, uint64_t epoch,
    ngx_uint_t failed)
{
    uint64_t                now, left;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_node_t  *lr;

    ctx = shm_zone->data;
    now = ngx_octopus_rl_now();
    left = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, key, failed, now);

    if (lr) {
        if (reserved) {
            ngx_octopus_rl_inflight_release(&lr->inflight, now,
                                            lo->inflight_timeout, epoch);
        }

        if (failed) {
            left = ngx_octopus_rl_strike_add(&lr->strike, now, lo->failures,
                                             lo->within, lo->duration);
        }

        ngx_octopus_rl_shm_touch(ctx, lr, now,
                                 ngx_max(lr->strike.start + lo->within,
                                         ngx_octopus_rl_inflight_until(
                                             &lr->inflight,
                                             lo->inflight_timeout)));
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return left;
}


void
ngx_octopus_rl_shm_touch(ngx_octopus_rl_shm_t *ctx,
    ngx_octopus_rl_node_t *lr, uint64_t now, uint64_t until)
{
    uint64_t  expires;

    expires = now + ctx->ttl;

    if (until > expires) {
        expires = until;
    }

    if (lr->strike.until > expires) {
        expires = lr->strike.until;
    }

    if (expires > lr->expires) {
        lr->expires = expires;
    }

    ngx_queue_remove(&lr->queue);
    ngx_queue_insert_head(&ctx->sh->queue, &lr->queue);
}


/* called with the mutex held */

ngx_octopus_rl_node_t *
ngx_octopus_rl_shm_lookup(ngx_octopus_rl_shm_t *ctx, ngx_str_t *key,
    ngx_flag_t create, uint64_t now)
{
    size_t                  size;
    uint32_t                hash;
    ngx_int_t               rc;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_octopus_rl_node_t  *lr;

    hash = ngx_crc32_short(key->data, key->len);

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        lr = (ngx_octopus_rl_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, lr->data, key->len, (size_t) lr->len);

        if (rc == 0) {
            return lr;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    if (!create) {
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_octopus_rl_node_t, data)
           + key->len;

    ngx_octopus_rl_shm_expire(ctx, 0, now);

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    if (node == NULL) {
        ngx_octopus_rl_shm_expire(ctx, 1, now);

        node = ngx_slab_alloc_locked(ctx->shpool, size);
        if (node == NULL) {
            return NULL;
        }
    }

    node->key = hash;

    lr = (ngx_octopus_rl_node_t *) &node->color;

    ngx_memzero(&lr->expires, offsetof(ngx_octopus_rl_node_t, data)
                              - offsetof(ngx_octopus_rl_node_t, expires));

    lr->len = (u_short) key->len;
    ngx_memcpy(lr->data, key->data, key->len);

    ngx_rbtree_insert(&ctx->sh->rbtree, node);
    ngx_queue_insert_head(&ctx->sh->queue, &lr->queue);

    return lr;
}


/*
 * Frees up to two idle nodes from the tail of the LRU queue; with force,
 * the oldest one even if it is still in use (the zone is full).
 */

static void
ngx_octopus_rl_shm_expire(ngx_octopus_rl_shm_t *ctx, ngx_uint_t force,
    uint64_t now)
{
    ngx_uint_t              n;
    ngx_queue_t            *q;
    ngx_rbtree_node_t      *node;
    ngx_octopus_rl_node_t  *lr;

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        lr = ngx_queue_data(q, ngx_octopus_rl_node_t, queue);

        if (lr->expires > now && !(force && n == 0)) {
            return;
        }

        ngx_queue_remove(q);

        if (lr->sync.queued) {
            /* sync=: its unmerged passes are lost (the zone is full) */
            ngx_queue_remove(&lr->sync_queue);
            ctx->sh->sync_queued--;
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) lr - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&ctx->sh->rbtree, node);

        ngx_slab_free_locked(ctx->shpool, node);
    }
}


static void
ngx_octopus_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t      **p;
    ngx_octopus_rl_node_t   *lrn, *lrnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            lrn = (ngx_octopus_rl_node_t *) &node->color;
            lrnt = (ngx_octopus_rl_node_t *) &temp->color;

            p = (ngx_memn2cmp(lrn->data, lrnt->data, lrn->len, lrnt->len) < 0)
                ? &temp->left : &temp->right;
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
