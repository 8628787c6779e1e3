
/*
 * Copyright (C) Octopus Guard authors
 *
 * The synchronised mode (octopus_ratelimit_zone ... sync=100ms): requests
 * are decided on this node's shared memory, with no Redis round trip; the
 * keys touched are merged with Redis every "sync" ms, one script call per
 * key (keys of one hash tag: Redis Cluster safe), pipelined on the worker's
 * connection, and the global counts read back.  The arithmetic is in
 * ngx_octopus_ratelimit_sync_algo.c.
 *
 * Which worker merges: the keys touched are queued in the zone's shared
 * memory; every worker has a timer, and the first whose timer fires after
 * the zone's next pass is due takes the pass (sh->sync_next), in batches.
 * A key has at most one merge in flight (the entry records it); a node
 * whose unanswered passes reach the quota merges that key at once.
 *
 * Redis keys: prefix{zone:key}:s:<window start, ms> (a counter per window,
 * expiring 2 x period + 2 x sync + 1 s after it was created) and, with a
 * ban, prefix{zone:key}:b and :n as in the exact mode.
 */


#include <openssl/sha.h>

#include "ngx_octopus_ratelimit.h"


#define NGX_OCTOPUS_RL_SYNC_MIN      10       /* ms */
#define NGX_OCTOPUS_RL_SYNC_MAX      10000    /* ms */
#define NGX_OCTOPUS_RL_SYNC_BATCH    256      /* keys per timer run */

#define NGX_OCTOPUS_RL_SYNC_MERGE    0
#define NGX_OCTOPUS_RL_SYNC_STRIKE   1


typedef struct {
    ngx_octopus_rl_zone_t       *zone;
    ngx_octopus_rl_main_conf_t  *rmcf;
    ngx_octopus_rl_sync_merge_t  m;
    ngx_uint_t                   kind;
    ngx_uint_t                   eval;
    ngx_str_t                    key;        /* the shared-memory key */
    ngx_str_t                    rkey;       /* prefix{zone:key} */
} ngx_octopus_rl_sync_cmd_t;


static ngx_octopus_rl_sync_cmd_t *ngx_octopus_rl_sync_cmd(
    ngx_octopus_rl_main_conf_t *rmcf, ngx_octopus_rl_zone_t *zone,
    u_char *key, size_t len, ngx_uint_t kind);
static ngx_int_t ngx_octopus_rl_sync_send(ngx_octopus_rl_sync_cmd_t *c);
static void ngx_octopus_rl_sync_reply(void *data, redisReply *reply);
static void ngx_octopus_rl_sync_failed(ngx_octopus_rl_sync_cmd_t *c,
    ngx_uint_t reason);
static void ngx_octopus_rl_sync_strike(ngx_octopus_rl_sync_cmd_t *c,
    redisReply *reply);
static void ngx_octopus_rl_sync_timer(ngx_event_t *ev);
static void ngx_octopus_rl_sync_queue(ngx_octopus_rl_shm_t *ctx,
    ngx_octopus_rl_node_t *lr);
static void ngx_octopus_rl_sync_unqueue(ngx_octopus_rl_shm_t *ctx,
    ngx_octopus_rl_node_t *lr);
static uint64_t ngx_octopus_rl_sync_deadline(ngx_octopus_rl_main_conf_t *rmcf);
static void ngx_octopus_rl_sync_sha(const char *src, u_char *hex);
static ngx_uint_t ngx_octopus_rl_sync_log(ngx_octopus_rl_zone_t *zone);


/*
 * KEYS: the window's counter, the previous window's, [the ban marker].
 * ARGV: this node's delta for each window, the counters' lifetime (ms).
 * Returns {current count, previous count[, ban ms left]}.
 */

static const char  ngx_octopus_rl_sync_src[] =
    "local function add(k, d)\n"
    "  if d > 0 then\n"
    "    local n = redis.call('INCRBY', k, d)\n"
    "    if n == d then redis.call('PEXPIRE', k, ARGV[3]) end\n"
    "    return n\n"
    "  end\n"
    "  return tonumber(redis.call('GET', k)) or 0\n"
    "end\n"
    "local c = add(KEYS[1], tonumber(ARGV[1]))\n"
    "local p = add(KEYS[2], tonumber(ARGV[2]))\n"
    "if KEYS[3] then return {c, p, redis.call('PTTL', KEYS[3])} end\n"
    "return {c, p}\n";


/*
 * A rejection counted toward a ban, as the exact mode's script does.
 * KEYS: ban marker, strikes.  ARGV: after, within (ms), for (ms).
 * Returns the ban in ms (already banned, or banned by this strike), or 0.
 */

static const char  ngx_octopus_rl_sync_strike_src[] =
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl > 0 then return ttl end\n"
    "local n = redis.call('INCR', KEYS[2])\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end\n"
    "if n >= tonumber(ARGV[1]) then\n"
    "  redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return tonumber(ARGV[3])\n"
    "end\n"
    "return 0\n";


/* sync=100ms: 10ms to 10s, at most half the period of the rate */

char *
ngx_octopus_rl_sync_parse(ngx_conf_t *cf, ngx_octopus_rl_zone_t *zone,
    ngx_str_t *value)
{
    ngx_msec_t  ms;

    if (value->len == 0 || value->data[0] == '-') {
        goto invalid;
    }

    ms = ngx_parse_time(value, 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < NGX_OCTOPUS_RL_SYNC_MIN
        || ms > NGX_OCTOPUS_RL_SYNC_MAX)
    {
        goto invalid;
    }

    zone->sync = ms;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid octopus_ratelimit_zone sync \"%V\": "
                       "%d ms to %d s", value, NGX_OCTOPUS_RL_SYNC_MIN,
                       NGX_OCTOPUS_RL_SYNC_MAX / 1000);
    return NGX_CONF_ERROR;
}


/* at the end of the zone directive: what sync= is combined with */

char *
ngx_octopus_rl_sync_check_zone(ngx_conf_t *cf, ngx_octopus_rl_zone_t *zone)
{
    if (zone->sync == 0) {
        return NGX_CONF_OK;
    }

    if (zone->algorithm == NGX_OCTOPUS_RL_GCRA) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_zone \"%V\": sync= needs "
                           "algorithm=sliding_window (GCRA's arrival time "
                           "cannot be merged from several nodes)",
                           &zone->name);
        return NGX_CONF_ERROR;
    }

    if (zone->sync > zone->period / 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "octopus_ratelimit_zone \"%V\": sync=%M ms is "
                           "longer than half the period of rate= (%M ms)",
                           &zone->name, zone->sync, zone->period);
        return NGX_CONF_ERROR;
    }

    zone->sync_quota = ngx_octopus_rl_sync_quota(zone->rate, zone->period,
                                                 zone->sync);

    ngx_octopus_rl_sync_sha(ngx_octopus_rl_sync_src, zone->sync_sha);
    ngx_octopus_rl_sync_sha(ngx_octopus_rl_sync_strike_src,
                            zone->sync_strike_sha);

    return NGX_CONF_OK;
}


static void
ngx_octopus_rl_sync_sha(const char *src, u_char *hex)
{
    u_char  md[SHA_DIGEST_LENGTH];

    SHA1((const u_char *) src, ngx_strlen(src), md);

    ngx_hex_dump(hex, md, SHA_DIGEST_LENGTH);
    hex[2 * SHA_DIGEST_LENGTH] = '\0';
}


/* error lines of a zone: at most one a second per worker */

static ngx_uint_t
ngx_octopus_rl_sync_log(ngx_octopus_rl_zone_t *zone)
{
    if (zone->sync_logged == ngx_time()) {
        return 0;
    }

    zone->sync_logged = ngx_time();

    return 1;
}


/* at the end of the http block: sync= merges with octopus_ratelimit_redis */

char *
ngx_octopus_rl_sync_check(ngx_conf_t *cf, ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_uint_t               i;
    ngx_octopus_rl_zone_t  **zone;

    if (rmcf->redis.name.len) {
        return NGX_CONF_OK;
    }

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->sync) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "octopus_ratelimit_zone \"%V\": sync=%M ms needs "
                          "octopus_ratelimit_redis (without it every zone "
                          "counts in shared memory already) in %V:%ui",
                          &zone[i]->name, zone[i]->sync, &zone[i]->file,
                          zone[i]->line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The request side: decides on this node's estimate, without waiting.
 * Redis failing (the last merge failed): the quota is lifted and the node
 * limits alone; every such decision is counted as a fallback.
 */

void
ngx_octopus_rl_sync_limit(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item)
{
    int                          rc, now_merge, strike;
    uint64_t                     now, left;
    ngx_uint_t                   down, dry;
    ngx_octopus_rl_shm_t        *ctx;
    ngx_octopus_rl_node_t       *lr;
    ngx_octopus_rl_zone_t       *zone;
    ngx_octopus_rl_sync_cmd_t   *c;
    ngx_octopus_rl_sync_merge_t  m;

    zone = item->limit->zone;
    dry = item->limit->dry_run;
    ctx = zone->shm_zone->data;
    now = ngx_octopus_rl_now();

    down = ctx->sh->sync_down;

    if (down == 0 && rmcf->conn == NULL) {
        down = NGX_OCTOPUS_RL_FB_DOWN + 1;
    }

    now_merge = 0;
    strike = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, &item->key, 1, now);

    if (lr == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "octopus_ratelimit zone \"%V\" is full, "
                      "request not limited", &zone->name);

        item->outcome = NGX_OCTOPUS_RL_PASS;
        item->res.allowed = 1;
        return;
    }

    rc = ngx_octopus_rl_sync_decide(&lr->sync, now, zone->rate, zone->period,
                                    down ? 0 : zone->sync_quota, &item->res);

    item->outcome = (rc == NGX_OCTOPUS_RL_SYNC_PASS) ? NGX_OCTOPUS_RL_PASS
                                                     : NGX_OCTOPUS_RL_LIMITED;

    /*
     * The quota is out: merge now, the next request would be held.  Redis
     * failing (no quota): at most once a sync interval per key, so that
     * the first merge after Redis is back shares the limit again.
     */

    if (ngx_octopus_rl_sync_unanswered(&lr->sync) >= zone->sync_quota
        && (!down || now >= lr->sync.taken_at + zone->sync)
        && ngx_octopus_rl_sync_take(&lr->sync, now, zone->period,
                                    ngx_octopus_rl_sync_deadline(rmcf), &m))
    {
        ngx_octopus_rl_sync_unqueue(ctx, lr);
        now_merge = 1;

    } else {
        ngx_octopus_rl_sync_queue(ctx, lr);
    }

    if (rc == NGX_OCTOPUS_RL_SYNC_LIMITED && zone->ban_after && !dry) {

        if (down) {
            left = ngx_octopus_rl_strike_add(&lr->strike, now,
                                             zone->ban_after,
                                             zone->ban_within, zone->ban_for);
            if (left) {
                item->outcome = NGX_OCTOPUS_RL_BANNED;
                item->res.reset_ms = left;
                item->res.retry_ms = left;
            }

        } else {
            strike = 1;
        }
    }

    ngx_octopus_rl_shm_touch(ctx, lr, now, 0);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_debug7(NGX_LOG_DEBUG_HTTP, item->ctx->request->connection->log, 0,
                   "octopus_ratelimit sync \"%V\": rc %d, remaining %uL, "
                   "down %ui, merge %d, strike %d, quota %uL",
                   &zone->name, rc, item->res.remaining, down, now_merge,
                   strike, zone->sync_quota);

    if (now_merge) {
        c = ngx_octopus_rl_sync_cmd(rmcf, zone, item->key.data,
                                    item->key.len, NGX_OCTOPUS_RL_SYNC_MERGE);
        if (c == NULL) {
            /* the deltas go with the next pass */
            ngx_shmtx_lock(&ctx->shpool->mutex);

            lr = ngx_octopus_rl_shm_lookup(ctx, &item->key, 0, now);
            if (lr) {
                ngx_octopus_rl_sync_fail(&lr->sync, &m, zone->period);
                ngx_octopus_rl_sync_queue(ctx, lr);
            }

            ngx_shmtx_unlock(&ctx->shpool->mutex);

        } else {
            c->m = m;

            if (ngx_octopus_rl_sync_send(c) != NGX_OK) {
                ngx_octopus_rl_sync_failed(c,
                                        ngx_octopus_rl_fallback_reason(rmcf));
            }
        }
    }

    if (strike) {
        c = ngx_octopus_rl_sync_cmd(rmcf, zone, item->key.data,
                                    item->key.len, NGX_OCTOPUS_RL_SYNC_STRIKE);
        if (c && ngx_octopus_rl_sync_send(c) != NGX_OK) {
            ngx_octopus_rl_sync_strike(c, NULL);
        }
    }

    if (down) {
        item->fallback = 1;
        ngx_octopus_rl_fallback(rmcf, zone->shm_zone, down - 1);
    }
}


/* called with the mutex held */

static void
ngx_octopus_rl_sync_queue(ngx_octopus_rl_shm_t *ctx,
    ngx_octopus_rl_node_t *lr)
{
    if (lr->sync.queued) {
        return;
    }

    ngx_queue_insert_tail(&ctx->sh->sync_queue, &lr->sync_queue);
    ctx->sh->sync_queued++;
    lr->sync.queued = 1;
}


static void
ngx_octopus_rl_sync_unqueue(ngx_octopus_rl_shm_t *ctx,
    ngx_octopus_rl_node_t *lr)
{
    if (!lr->sync.queued) {
        return;
    }

    ngx_queue_remove(&lr->sync_queue);
    ctx->sh->sync_queued--;
    lr->sync.queued = 0;
}


/*
 * A merge in flight longer than this was lost with its worker: the Redis
 * client answers every command within 10 x timeout
 */

static uint64_t
ngx_octopus_rl_sync_deadline(ngx_octopus_rl_main_conf_t *rmcf)
{
    return 10 * (uint64_t) rmcf->redis.timeout + 1000;
}


static ngx_octopus_rl_sync_cmd_t *
ngx_octopus_rl_sync_cmd(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_zone_t *zone, u_char *key, size_t len, ngx_uint_t kind)
{
    u_char                     *p;
    ngx_octopus_rl_sync_cmd_t  *c;

    c = ngx_alloc(sizeof(ngx_octopus_rl_sync_cmd_t) + 2 * len
                  + rmcf->prefix.len + zone->name.len + 3, ngx_cycle->log);
    if (c == NULL) {
        return NULL;
    }

    ngx_memzero(c, sizeof(ngx_octopus_rl_sync_cmd_t));

    c->zone = zone;
    c->rmcf = rmcf;
    c->kind = kind;

    c->key.len = len;
    c->key.data = (u_char *) (c + 1);
    ngx_memcpy(c->key.data, key, len);

    /* prefix{zone:key}, as ngx_octopus_rl_redis_key() */

    c->rkey.data = c->key.data + len;

    p = ngx_cpymem(c->rkey.data, rmcf->prefix.data, rmcf->prefix.len);
    *p++ = '{';
    p = ngx_cpymem(p, zone->name.data, zone->name.len);
    *p++ = ':';
    p = ngx_cpymem(p, key, len);
    *p++ = '}';

    c->rkey.len = p - c->rkey.data;

    return c;
}


/* EVALSHA (EVAL after NOSCRIPT) with every key in the tag {zone:key} */

static ngx_int_t
ngx_octopus_rl_sync_send(ngx_octopus_rl_sync_cmd_t *c)
{
    int                     argc, i, nk;
    u_char                 *buf, *p, *sha;
    size_t                  argvlen[9], klen, srclen;
    ngx_int_t               rc;
    const char             *argv[9], *src;
    ngx_octopus_rl_zone_t  *zone;

    zone = c->zone;

    if (c->rmcf->conn == NULL) {
        return NGX_DECLINED;
    }

    if (c->kind == NGX_OCTOPUS_RL_SYNC_MERGE) {
        src = ngx_octopus_rl_sync_src;
        srclen = sizeof(ngx_octopus_rl_sync_src) - 1;
        sha = zone->sync_sha;
        nk = zone->ban_after ? 3 : 2;

    } else {
        src = ngx_octopus_rl_sync_strike_src;
        srclen = sizeof(ngx_octopus_rl_sync_strike_src) - 1;
        sha = zone->sync_strike_sha;
        nk = 2;
    }

    klen = c->rkey.len + 3 + NGX_INT64_LEN;

    buf = ngx_alloc(3 * klen + 4 * NGX_INT64_LEN, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (c->eval) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = src;
        argvlen[1] = srclen;

    } else {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) sha;
        argvlen[1] = 40;
    }

    argv[2] = (nk == 3) ? "3" : "2";
    argvlen[2] = 1;

    p = buf;
    argc = 3;

    if (c->kind == NGX_OCTOPUS_RL_SYNC_MERGE) {

        for (i = 0; i < 2; i++) {
            argv[argc] = (const char *) p;
            p = ngx_sprintf(p, "%V:s:%uL", &c->rkey,
                            c->m.win - i * zone->period);
            argvlen[argc] = p - (u_char *) argv[argc];
            argc++;
        }

        if (nk == 3) {
            argv[argc] = (const char *) p;
            p = ngx_sprintf(p, "%V:b", &c->rkey);
            argvlen[argc] = p - (u_char *) argv[argc];
            argc++;
        }

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%uL", c->m.d[0]);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%uL", c->m.d[1]);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%uL", 2 * (uint64_t) zone->period
                                  + 2 * (uint64_t) zone->sync + 1000);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

    } else {
        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%V:b", &c->rkey);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%V:n", &c->rkey);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%ui", zone->ban_after);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%M", zone->ban_within);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%M", zone->ban_for);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;
    }

    /* hiredis copies the arguments into its output buffer */

    rc = ngx_octopus_redis_send(c->rmcf->conn, ngx_octopus_rl_sync_reply, c,
                                argc, argv, argvlen)
         ? NGX_OK : NGX_DECLINED;

    ngx_free(buf);

    return rc;
}


static void
ngx_octopus_rl_sync_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_sync_cmd_t *c = data;

    uint64_t                v[3], now;
    ngx_uint_t              i;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_zone_t  *zone;
    ngx_octopus_rl_node_t  *lr;

    zone = c->zone;

    if (reply && reply->type == REDIS_REPLY_ERROR && !c->eval
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* the script cache is empty (restart, failover): send the source */

        c->eval = 1;

        if (ngx_octopus_rl_sync_send(c) == NGX_OK) {
            return;
        }

        reply = NULL;
    }

    if (c->kind == NGX_OCTOPUS_RL_SYNC_STRIKE) {
        ngx_octopus_rl_sync_strike(c, reply);
        return;
    }

    if (reply == NULL) {
        ngx_octopus_rl_sync_failed(c,
                                   ngx_octopus_rl_fallback_reason(c->rmcf));
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != (zone->ban_after ? 3 : 2))
    {
        goto unexpected;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            goto unexpected;
        }

        v[i] = reply->element[i]->integer > 0
               ? (uint64_t) reply->element[i]->integer : 0;
    }

    ctx = zone->shm_zone->data;
    now = ngx_octopus_rl_now();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, &c->key, 0, now);

    if (lr) {
        ngx_octopus_rl_sync_ack(&lr->sync, &c->m, zone->period, v[0], v[1]);

        /* a ban made by another node applies here from now on */

        if (zone->ban_after && v[2] && lr->strike.until < now + v[2]) {
            lr->strike.until = now + v[2];
            ngx_octopus_rl_shm_touch(ctx, lr, now, 0);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "octopus_ratelimit sync \"%V\": merged %uL+%uL, "
                   "global %uL, previous %uL",
                   &zone->name, c->m.d[0], c->m.d[1], v[0], v[1]);

    if (ctx->sh->sync_down) {
        ctx->sh->sync_down = 0;

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "octopus_ratelimit zone \"%V\": merges with redis "
                      "resumed, the limit is shared again", &zone->name);
    }

    ngx_free(c);
    return;

unexpected:

    if (ngx_octopus_rl_sync_log(zone)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "octopus_ratelimit zone \"%V\": unexpected redis "
                      "reply to a merge%s%*s", &zone->name,
                      reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      (size_t) (reply->type == REDIS_REPLY_ERROR
                                ? reply->len : 0),
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    }

    ngx_octopus_rl_sync_failed(c, NGX_OCTOPUS_RL_FB_ERROR);
}


/*
 * A merge failed: its deltas go with the key's next merge, and the zone
 * limits on this node alone until a merge succeeds.  Not when the worker
 * is exiting (its connection is closed under its merges).
 */

static void
ngx_octopus_rl_sync_failed(ngx_octopus_rl_sync_cmd_t *c, ngx_uint_t reason)
{
    uint64_t                now;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_node_t  *lr;

    ctx = c->zone->shm_zone->data;
    now = ngx_octopus_rl_now();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, &c->key, 0, now);

    if (lr) {
        ngx_octopus_rl_sync_fail(&lr->sync, &c->m, c->zone->period);

        if (lr->sync.d[0] || lr->sync.d[1]) {
            ngx_octopus_rl_sync_queue(ctx, lr);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (!ngx_exiting && !ngx_quit && !ngx_terminate
        && ctx->sh->sync_down == 0)
    {
        ctx->sh->sync_down = reason + 1;
    }

    if (ctx->sh->sync_down && ngx_octopus_rl_sync_log(c->zone)) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "octopus_ratelimit zone \"%V\": a merge with redis "
                      "failed, the zone limits on this node alone until "
                      "one succeeds", &c->zone->name);
    }

    ngx_free(c);
}


/*
 * A rejection counted toward a ban: the ban Redis reports is cached here;
 * without Redis the strike is counted on this node
 */

static void
ngx_octopus_rl_sync_strike(ngx_octopus_rl_sync_cmd_t *c, redisReply *reply)
{
    uint64_t                now, left;
    ngx_octopus_rl_shm_t   *ctx;
    ngx_octopus_rl_zone_t  *zone;
    ngx_octopus_rl_node_t  *lr;

    zone = c->zone;

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        if (reply->integer > 0) {
            ngx_octopus_rl_shm_strike_set(zone->shm_zone, &c->key,
                                          (uint64_t) reply->integer);
        }

        ngx_free(c);
        return;
    }

    if (reply && ngx_octopus_rl_sync_log(zone)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "octopus_ratelimit zone \"%V\": unexpected redis "
                      "reply to a ban strike", &zone->name);
    }

    ctx = zone->shm_zone->data;
    now = ngx_octopus_rl_now();
    left = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_octopus_rl_shm_lookup(ctx, &c->key, 0, now);

    if (lr) {
        left = ngx_octopus_rl_strike_add(&lr->strike, now, zone->ban_after,
                                         zone->ban_within, zone->ban_for);
        ngx_octopus_rl_shm_touch(ctx, lr, now, 0);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "octopus_ratelimit sync \"%V\": strike counted here, "
                   "ban %uL ms", &zone->name, left);

    ngx_free(c);
}


void
ngx_octopus_rl_sync_init_process(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_log_t *log)
{
    ngx_uint_t               i;
    ngx_octopus_rl_zone_t  **zone;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->sync == 0) {
            continue;
        }

        zone[i]->sync_timer.handler = ngx_octopus_rl_sync_timer;
        zone[i]->sync_timer.data = zone[i];
        zone[i]->sync_timer.log = log;
        zone[i]->sync_timer.cancelable = 1;
        zone[i]->sync_todo = 0;

        ngx_add_timer(&zone[i]->sync_timer, zone[i]->sync);
    }
}


void
ngx_octopus_rl_sync_exit_process(ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_uint_t               i;
    ngx_octopus_rl_zone_t  **zone;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->sync_timer.timer_set) {
            ngx_del_timer(&zone[i]->sync_timer);
        }
    }
}


/*
 * A worker's timer: the zone's pass when it is due (the first worker
 * takes it), in batches of NGX_OCTOPUS_RL_SYNC_BATCH keys a millisecond
 * apart, so that a pass over many keys does not hold the worker.
 */

static void
ngx_octopus_rl_sync_timer(ngx_event_t *ev)
{
    ngx_octopus_rl_zone_t *zone = ev->data;

    uint64_t                     now, deadline;
    ngx_uint_t                   i, n, reason;
    ngx_queue_t                 *q;
    ngx_msec_t                   wait;
    ngx_octopus_rl_shm_t        *ctx;
    ngx_octopus_rl_node_t       *lr;
    ngx_octopus_rl_sync_cmd_t   *cmds[NGX_OCTOPUS_RL_SYNC_BATCH];
    ngx_octopus_rl_sync_merge_t  m;
    ngx_octopus_rl_main_conf_t  *rmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_octopus_ratelimit_module);
    ctx = zone->shm_zone->data;
    now = ngx_octopus_rl_now();
    deadline = ngx_octopus_rl_sync_deadline(rmcf);
    n = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (zone->sync_todo == 0) {

        if (now < ctx->sh->sync_next
            && ctx->sh->sync_next - now <= zone->sync)
        {
            /* another worker took this pass */
            wait = (ngx_msec_t) (ctx->sh->sync_next - now);
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            ngx_add_timer(ev, wait ? wait : 1);
            return;
        }

        ctx->sh->sync_next = now + zone->sync;
        zone->sync_todo = ctx->sh->sync_queued;
    }

    while (zone->sync_todo && n < NGX_OCTOPUS_RL_SYNC_BATCH
           && !ngx_queue_empty(&ctx->sh->sync_queue))
    {
        zone->sync_todo--;

        q = ngx_queue_head(&ctx->sh->sync_queue);
        lr = ngx_queue_data(q, ngx_octopus_rl_node_t, sync_queue);

        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ctx->sh->sync_queue, q);

        if (!ngx_octopus_rl_sync_take(&lr->sync, now, zone->period, deadline,
                                      &m))
        {
            /* in flight: its answer comes first, it stays queued */
            continue;
        }

        cmds[n] = ngx_octopus_rl_sync_cmd(rmcf, zone, lr->data, lr->len,
                                          NGX_OCTOPUS_RL_SYNC_MERGE);
        if (cmds[n] == NULL) {
            ngx_octopus_rl_sync_fail(&lr->sync, &m, zone->period);
            continue;
        }

        cmds[n++]->m = m;
        ngx_octopus_rl_sync_unqueue(ctx, lr);
    }

    if (ngx_queue_empty(&ctx->sh->sync_queue)) {
        zone->sync_todo = 0;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    for (i = 0; i < n; i++) {
        if (ngx_octopus_rl_sync_send(cmds[i]) == NGX_OK) {
            continue;
        }

        reason = ngx_octopus_rl_fallback_reason(rmcf);

        ngx_octopus_rl_sync_failed(cmds[i], reason);

        if (reason == NGX_OCTOPUS_RL_FB_DOWN) {
            /* not connected: the rest waits for the next pass */
            while (++i < n) {
                ngx_octopus_rl_sync_failed(cmds[i], reason);
            }

            zone->sync_todo = 0;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "octopus_ratelimit sync \"%V\": %ui merges sent, "
                   "%ui left in the pass", &zone->name, n, zone->sync_todo);

    ngx_add_timer(ev, zone->sync_todo ? 1 : zone->sync);
}
