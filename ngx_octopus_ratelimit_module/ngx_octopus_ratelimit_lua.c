
/*
 * Copyright (C) Octopus Guard authors
 *
 * The Redis side: one Lua script per limit, run with EVALSHA (EVAL when the
 * server answers NOSCRIPT, e.g. after a restart), on the server's clock.
 * All keys of one limit share the hash tag {zone:key}, so the scripts are
 * ready for Redis Cluster.  The arithmetic mirrors
 * ngx_octopus_ratelimit_algo.c line for line: keep them in step.
 *
 *   prefix{zone:key}:s<W>  sliding window: the count of the fixed window
 *                        starting at W (ms, Redis's clock); native commands
 *   prefix{zone:key}:w   sliding window state of the script (hash w, c, p;
 *                        no longer written, expires by its TTL)
 *   prefix{zone:key}:g   GCRA theoretical arrival time, us
 *   prefix{zone:key}:b   ban marker, with the ban as TTL
 *   prefix{zone:key}:n   rejections counted toward a ban
 *   prefix{lockout:key}:l, :f   lock marker, failed logins
 *   prefix{lockout:key}:r       attempts in flight: a sorted set of
 *                               reservation ids scored by their expiry
 */


#include <openssl/sha.h>

#include "ngx_octopus_ratelimit.h"


/*
 * KEYS: state, ban, strikes.  ARGV: algorithm, rate, period (ms), burst,
 * ban after, ban within (ms), ban for (ms), dry run.
 * Returns {allowed (0, 1; 2: banned), remaining, reset ms, retry ms}.
 */

static const char  ngx_octopus_rl_lua_limit_src[] =
    "local t = redis.call('TIME')\n"
    "local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local now = math.floor(now_us / 1000)\n"
    "local alg = tonumber(ARGV[1])\n"
    "local rate = tonumber(ARGV[2])\n"
    "local period = tonumber(ARGV[3])\n"
    "local burst = tonumber(ARGV[4])\n"
    "local after = tonumber(ARGV[5])\n"
    "local dry = tonumber(ARGV[8])\n"
    "if after > 0 then\n"
    "  local ttl = redis.call('PTTL', KEYS[2])\n"
    "  if ttl > 0 then return {2, 0, ttl, ttl} end\n"
    "end\n"
    "local ok, rem, reset, retry\n"
    "if alg == 0 then\n"
    "  local win = now - now % period\n"
    "  local st = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')\n"
    "  local w = tonumber(st[1]) or 0\n"
    "  local c = tonumber(st[2]) or 0\n"
    "  local p = tonumber(st[3]) or 0\n"
    "  if w ~= win then\n"
    "    if w + period == win then p = c else p = 0 end\n"
    "    c = 0\n"
    "  end\n"
    "  local el = now - win\n"
    "  local used = p * (period - el) + c * period\n"
    "  local cap = rate * period\n"
    "  reset = period - el\n"
    "  if used + period <= cap then\n"
    "    c = c + 1\n"
    "    used = used + period\n"
    "    ok = 1\n"
    "    rem = math.floor((cap - used) / period)\n"
    "    retry = 0\n"
    "    redis.call('HSET', KEYS[1], 'w', string.format('%.0f', win),\n"
    "               'c', string.format('%.0f', c),\n"
    "               'p', string.format('%.0f', p))\n"
    "    redis.call('PEXPIRE', KEYS[1], string.format('%.0f', 2 * period))\n"
    "  else\n"
    "    ok = 0\n"
    "    rem = 0\n"
    "    if c + 1 <= rate then\n"
    "      retry = period - math.floor((rate - c - 1) * period / p) - el\n"
    "    else\n"
    "      retry = (period - el) + period\n"
    "              - math.floor((rate - 1) * period / c)\n"
    "    end\n"
    "  end\n"
    "else\n"
    "  local T = math.floor(period * 1000 / rate)\n"
    "  if T == 0 then T = 1 end\n"
    "  local tau = burst * T\n"
    "  local tat = tonumber(redis.call('GET', KEYS[1])) or now_us\n"
    "  if tat < now_us then tat = now_us end\n"
    "  if tat - now_us > tau then\n"
    "    ok = 0\n"
    "    rem = 0\n"
    "    retry = math.ceil((tat - now_us - tau) / 1000)\n"
    "    reset = math.ceil((tat - now_us) / 1000)\n"
    "  else\n"
    "    local nxt = tat + T\n"
    "    ok = 1\n"
    "    rem = math.floor((tau + T - (nxt - now_us)) / T)\n"
    "    retry = 0\n"
    "    reset = math.ceil((nxt - now_us) / 1000)\n"
    "    redis.call('SET', KEYS[1], string.format('%.0f', nxt),\n"
    "               'PX', string.format('%.0f', reset + 1000))\n"
    "  end\n"
    "end\n"
    "if ok == 0 and after > 0 and dry == 0 then\n"
    "  local n = redis.call('INCR', KEYS[3])\n"
    "  if n == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end\n"
    "  if n >= after then\n"
    "    redis.call('SET', KEYS[2], '1', 'PX', ARGV[7])\n"
    "    redis.call('DEL', KEYS[3])\n"
    "    return {2, 0, tonumber(ARGV[7]), tonumber(ARGV[7])}\n"
    "  end\n"
    "end\n"
    "return {ok, rem, reset, retry}\n";


/*
 * A rejection of a native sliding window with a ban: one strike.  KEYS:
 * strikes, ban.  ARGV: ban after, within (ms), for (ms).  Returns the ban
 * in ms when this strike bans the key, 0 otherwise.  The same steps as the
 * end of the limit script.
 */

static const char  ngx_octopus_rl_lua_strike_src[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "if n >= tonumber(ARGV[1]) then\n"
    "  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return tonumber(ARGV[3])\n"
    "end\n"
    "return 0\n";


/*
 * A lockout reservation.  KEYS: lock, failures, reservations.  ARGV:
 * failures, inflight timeout (ms), reservation id.  Expired reservations
 * are dropped; failures counted plus reservations held stay below
 * "failures".  Returns {0, 0} reserved, {1, lock ms} locked, {2, 0} busy
 * (as many attempts in flight as failures left).
 */

static const char  ngx_octopus_rl_lua_reserve_src[] =
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl > 0 then return {1, ttl} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf',\n"
    "           string.format('%.0f', now))\n"
    "local n = redis.call('ZCARD', KEYS[3])\n"
    "local f = tonumber(redis.call('GET', KEYS[2])) or 0\n"
    "if n + f >= tonumber(ARGV[1]) then return {2, 0} end\n"
    "redis.call('ZADD', KEYS[3],\n"
    "           string.format('%.0f', now + tonumber(ARGV[2])), ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[3], ARGV[2])\n"
    "return {0, 0}\n";


/*
 * A failed login.  KEYS: failures, lock, reservations.  ARGV: failures,
 * within (ms), for (ms), reservation id ("" for none).  Returns the lock
 * in ms when this failure locks the key, 0 otherwise.
 */

static const char  ngx_octopus_rl_lua_fail_src[] =
    "if ARGV[4] ~= '' then redis.call('ZREM', KEYS[3], ARGV[4]) end\n"
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "if n >= tonumber(ARGV[1]) then\n"
    "  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return tonumber(ARGV[3])\n"
    "end\n"
    "return 0\n";


static void ngx_octopus_rl_lua_sha(const char *src, u_char *hex);
static void ngx_octopus_rl_lua_head(const char **argv, size_t *argvlen,
    ngx_uint_t eval, const char *src, size_t len, const u_char *sha,
    ngx_str_t *k);


ngx_int_t
ngx_octopus_rl_lua_init(ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_octopus_rl_lua_sha(ngx_octopus_rl_lua_limit_src, rmcf->sha_limit);
    ngx_octopus_rl_lua_sha(ngx_octopus_rl_lua_reserve_src,
                           rmcf->sha_reserve);
    ngx_octopus_rl_lua_sha(ngx_octopus_rl_lua_strike_src, rmcf->sha_strike);

    return NGX_OK;
}


static void
ngx_octopus_rl_lua_sha(const char *src, u_char *hex)
{
    u_char  md[SHA_DIGEST_LENGTH];

    SHA1((const u_char *) src, ngx_strlen(src), md);

    ngx_hex_dump(hex, md, SHA_DIGEST_LENGTH);
    hex[2 * SHA_DIGEST_LENGTH] = '\0';
}


/* rkey + suffix, in the request pool */

/* EVALSHA sha 3 k1 k2 k3, or EVAL with the source after NOSCRIPT */

static void
ngx_octopus_rl_lua_head(const char **argv, size_t *argvlen, ngx_uint_t eval,
    const char *src, size_t len, const u_char *sha, ngx_str_t *k)
{
    ngx_uint_t  i;

    if (eval) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = src;
        argvlen[1] = len;

    } else {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) sha;
        argvlen[1] = 40;
    }

    argv[2] = "3";
    argvlen[2] = 1;

    for (i = 0; i < 3; i++) {
        argv[3 + i] = (const char *) k[i].data;
        argvlen[3 + i] = k[i].len;
    }
}


static ngx_int_t
ngx_octopus_rl_lua_key(ngx_pool_t *pool, ngx_str_t *rkey, const char *sfx,
    ngx_str_t *out)
{
    out->len = rkey->len + 2;
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(out->data, rkey->data, rkey->len), sfx, 2);

    return NGX_OK;
}


ngx_int_t
ngx_octopus_rl_lua_limit(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_redis_handler_pt handler)
{
    int                     i;
    u_char                 *p, nums[8][NGX_INT64_LEN];
    size_t                  argvlen[14];
    ngx_str_t               k[3];
    ngx_pool_t             *pool;
    const char             *argv[14];
    uint64_t                v[8];
    ngx_octopus_rl_zone_t  *zone;

    zone = item->limit->zone;
    pool = item->ctx->request->pool;

    if (ngx_octopus_rl_lua_key(pool, &item->rkey,
                               zone->algorithm == NGX_OCTOPUS_RL_GCRA
                               ? ":g" : ":w", &k[0])
        != NGX_OK
        || ngx_octopus_rl_lua_key(pool, &item->rkey, ":b", &k[1]) != NGX_OK
        || ngx_octopus_rl_lua_key(pool, &item->rkey, ":n", &k[2]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_octopus_rl_lua_head(argv, argvlen, item->eval,
                            ngx_octopus_rl_lua_limit_src,
                            sizeof(ngx_octopus_rl_lua_limit_src) - 1,
                            rmcf->sha_limit, k);

    v[0] = zone->algorithm;
    v[1] = zone->rate;
    v[2] = zone->period;
    v[3] = zone->burst;
    v[4] = item->limit->dry_run ? 0 : zone->ban_after;
    v[5] = zone->ban_within;
    v[6] = zone->ban_for;
    v[7] = item->limit->dry_run ? 1 : 0;

    for (i = 0; i < 8; i++) {
        p = ngx_sprintf(nums[i], "%uL", v[i]);
        argv[6 + i] = (const char *) nums[i];
        argvlen[6 + i] = p - nums[i];
    }

    item->cmd = ngx_octopus_redis_send(rmcf->conn, handler, item, 14, argv,
                                       argvlen);

    return item->cmd ? NGX_OK : NGX_DECLINED;
}


/* the script's reply into item->outcome and item->res */

ngx_int_t
ngx_octopus_rl_lua_parse(ngx_octopus_rl_item_t *item, redisReply *reply)
{
    ngx_uint_t   i;
    long long    v[4];

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        return NGX_ERROR;
    }

    for (i = 0; i < 4; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i]->integer < 0)
        {
            return NGX_ERROR;
        }

        v[i] = reply->element[i]->integer;
    }

    switch (v[0]) {
    case 0:
        item->outcome = NGX_OCTOPUS_RL_LIMITED;
        break;
    case 1:
        item->outcome = NGX_OCTOPUS_RL_PASS;
        break;
    case 2:
        item->outcome = NGX_OCTOPUS_RL_BANNED;
        break;
    default:
        return NGX_ERROR;
    }

    item->res.allowed = (v[0] == 1);
    item->res.remaining = v[1];
    item->res.reset_ms = v[2];
    item->res.retry_ms = v[3];

    return NGX_OK;
}


/*
 * The sliding window in native commands: one counter per fixed window,
 * prefix{zone:key}:s<window start, ms>, and four pipelined commands (each
 * with its key at argv[1], all in one slot), five with a ban:
 *
 *     INCR cur               the count, this request included
 *     PEXPIRE cur 2*period   lives through the next window
 *     PEXPIRETIME cur        Redis's clock: now + 2*period, ms
 *     GET prev               the previous window's count
 *     PTTL ban               a ban (not for dry_run): the count is taken
 *                            back, the request banned
 *
 * The window is chosen on our clock corrected by the offset to Redis's
 * clock seen in the last reply; the reply says which window Redis was in,
 * and a request sent into the wrong one (a boundary within the clock's
 * error) takes its count back and is sent again.  A rejected request takes
 * its count back too (DECR): rejected requests are not counted, but for
 * one round trip they are, so a concurrent request can only be refused
 * more, never let through more (see README, "Behaviour").  A rejection
 * in a zone with a ban then runs the strike script (one more round trip,
 * for rejected requests only).
 */

ngx_uint_t
ngx_octopus_rl_lua_native(ngx_octopus_rl_limit_t *limit)
{
    return limit->zone->algorithm == NGX_OCTOPUS_RL_SLIDING_WINDOW;
}


static ngx_uint_t
ngx_octopus_rl_lua_banning(ngx_octopus_rl_limit_t *limit)
{
    return limit->zone->ban_after && !limit->dry_run;
}


static uint64_t
ngx_octopus_rl_lua_clock(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_octopus_rl_lua_window(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_redis_handler_pt handler)
{
    u_char                 *p, ttl[NGX_INT64_LEN], *prev, *ban;
    size_t                  plen, tlen;
    uint64_t                now, period;
    ngx_uint_t              i, n;
    ngx_pool_t             *pool;
    const char             *argv[3];
    size_t                  argvlen[3];
    ngx_octopus_rl_zone_t  *zone;

    zone = item->limit->zone;
    pool = item->ctx->request->pool;
    period = zone->period;

    item->wsent_at = ngx_octopus_rl_lua_clock();
    now = item->wsent_at + rmcf->clock_offset;
    item->win = now - now % period;

    n = ngx_octopus_rl_lua_banning(item->limit) ? NGX_OCTOPUS_RL_WCMDS
                                                 : NGX_OCTOPUS_RL_WCMDS - 1;

    /* one buffer: rkey ":s" win, rkey ":s" win - period, rkey ":b" */

    p = ngx_pnalloc(pool, 3 * (item->rkey.len + 2 + NGX_INT64_LEN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    item->wkey.data = p;
    p = ngx_cpymem(p, item->rkey.data, item->rkey.len);
    p = ngx_sprintf(p, ":s%uL", item->win);
    item->wkey.len = p - item->wkey.data;

    prev = p;
    p = ngx_cpymem(p, item->rkey.data, item->rkey.len);
    p = ngx_sprintf(p, ":s%uL", item->win - period);
    plen = p - prev;

    ban = p;
    p = ngx_cpymem(p, item->rkey.data, item->rkey.len);
    *p++ = ':';
    *p++ = 'b';

    tlen = ngx_sprintf(ttl, "%uL", 2 * period) - ttl;

    item->wsent = 0;
    item->wgot = 0;
    item->wfail = 0;

    for (i = 0; i < n; i++) {

        argv[1] = (const char *) item->wkey.data;
        argvlen[1] = item->wkey.len;

        switch (i) {
        case 0:
            argv[0] = "INCR";
            argvlen[0] = 4;
            break;
        case 1:
            argv[0] = "PEXPIRE";
            argvlen[0] = 7;
            argv[2] = (const char *) ttl;
            argvlen[2] = tlen;
            break;
        case 2:
            argv[0] = "PEXPIRETIME";
            argvlen[0] = 11;
            break;
        case 3:
            argv[0] = "GET";
            argvlen[0] = 3;
            argv[1] = (const char *) prev;
            argvlen[1] = plen;
            break;
        default:
            argv[0] = "PTTL";
            argvlen[0] = 4;
            argv[1] = (const char *) ban;
            argvlen[1] = item->rkey.len + 2;
            break;
        }

        item->wcmd[i] = ngx_octopus_redis_send(rmcf->conn, handler, item,
                                               i == 1 ? 3 : 2, argv, argvlen);

        if (item->wcmd[i] == NULL) {
            break;
        }

        item->wsent++;
    }

    if (i == n) {
        return NGX_OK;
    }

    /* not connected: nothing was sent; else the connection failed and
     * what was sent fails too (the handler sees it) */

    if (item->wsent == 0) {
        return NGX_DECLINED;
    }

    item->wfail = ngx_octopus_rl_fallback_reason(rmcf);

    return NGX_OK;
}


/* one reply of the window's commands: its value into item->wval[i] */

ngx_int_t
ngx_octopus_rl_lua_window_value(ngx_octopus_rl_item_t *item, ngx_uint_t i,
    redisReply *reply)
{
    u_char     *p, *last;
    int64_t     v;
    ngx_uint_t  neg;

    if (i == 3) {

        /* GET prev: nil (no request in it) or a count, maybe negative
         * after a DECR on a key Redis had lost */

        if (reply->type == REDIS_REPLY_NIL) {
            item->wval[i] = 0;
            return NGX_OK;
        }

        if (reply->type != REDIS_REPLY_STRING || reply->len == 0
            || reply->len > NGX_INT64_LEN)
        {
            return NGX_ERROR;
        }

        p = (u_char *) reply->str;
        last = p + reply->len;
        neg = (*p == '-');
        p += neg;

        if (p == last) {
            return NGX_ERROR;
        }

        for (v = 0; p < last; p++) {
            if (*p < '0' || *p > '9') {
                return NGX_ERROR;
            }

            v = v * 10 + (*p - '0');
        }

        item->wval[i] = neg ? 0 : v;
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        return NGX_ERROR;
    }

    item->wval[i] = reply->integer;

    return NGX_OK;
}


/*
 * Every reply is in: NGX_OK with item->outcome and item->res, NGX_AGAIN
 * when Redis was in another window than the one counted (item->win is
 * still the one counted, for the undo), NGX_ERROR for a reply that makes
 * no sense.
 */

ngx_int_t
ngx_octopus_rl_lua_window_decide(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item)
{
    uint64_t                now, period;
    ngx_octopus_rl_zone_t  *zone;
    ngx_octopus_rl_state_t  st;

    zone = item->limit->zone;
    period = zone->period;

    /* PEXPIRE set the TTL 2 * period from Redis's now */

    if (item->wval[1] != 1 || item->wval[2] < (int64_t) (2 * period)) {
        return NGX_ERROR;
    }

    now = item->wval[2] - 2 * period;

    rmcf->clock_offset = (int64_t) (now - item->wsent_at);

    if (now - now % period != item->win) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, item->ctx->request->connection->log,
                       0, "octopus_ratelimit window: counted in %uL, redis "
                       "at %uL, try %ui", item->win, now, item->wtries);
        return NGX_AGAIN;
    }

    st.win = item->win;
    st.cur = item->wval[0] > 0 ? item->wval[0] - 1 : 0;
    st.prev = item->wval[3];
    st.tat = 0;

    if (item->wsent == NGX_OCTOPUS_RL_WCMDS && item->wval[4] > 0) {

        /* banned (by another node, or since this one cached it) */

        item->outcome = NGX_OCTOPUS_RL_BANNED;
        item->res.allowed = 0;
        item->res.remaining = 0;
        item->res.reset_ms = item->wval[4];
        item->res.retry_ms = item->wval[4];

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP,
                       item->ctx->request->connection->log, 0,
                       "octopus_ratelimit window: banned for %L ms",
                       item->wval[4]);
        return NGX_OK;
    }

    ngx_octopus_rl_sliding_window(&st, now, zone->rate, period, &item->res);

    item->outcome = item->res.allowed ? NGX_OCTOPUS_RL_PASS
                                      : NGX_OCTOPUS_RL_LIMITED;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, item->ctx->request->connection->log, 0,
                   "octopus_ratelimit window %uL: cur %L prev %L at +%uL: %s",
                   item->win, item->wval[0], item->wval[3], now - item->win,
                   item->res.allowed ? "pass" : "limited");

    return NGX_OK;
}


static void
ngx_octopus_rl_lua_undo_reply(void *data, redisReply *reply)
{
    /* nobody waits: a lost DECR leaves the count one high (stricter) */
}


/*
 * Takes back the count of a rejected request (or of one counted in the
 * wrong window): DECR, and PEXPIRE so that a key Redis lost meanwhile
 * (restart, failover) is not left without a TTL.
 */

void
ngx_octopus_rl_lua_window_undo(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item)
{
    u_char      ttl[NGX_INT64_LEN];
    size_t      argvlen[3];
    const char *argv[3];

    argv[0] = "DECR";
    argvlen[0] = 4;
    argv[1] = (const char *) item->wkey.data;
    argvlen[1] = item->wkey.len;

    if (ngx_octopus_redis_send(rmcf->conn, ngx_octopus_rl_lua_undo_reply,
                               NULL, 2, argv, argvlen)
        == NULL)
    {
        return;
    }

    argv[0] = "PEXPIRE";
    argvlen[0] = 7;
    argv[2] = (const char *) ttl;
    argvlen[2] = ngx_sprintf(ttl, "%uL", 2 * item->limit->zone->period) - ttl;

    (void) ngx_octopus_redis_send(rmcf->conn, ngx_octopus_rl_lua_undo_reply,
                                  NULL, 3, argv, argvlen);
}


/*
 * A rejection in a zone with a ban: the strike script, EVALSHA (EVAL
 * after NOSCRIPT: item->eval); NGX_DECLINED when nothing is to be done or
 * nothing could be sent.
 */

ngx_int_t
ngx_octopus_rl_lua_strike(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_redis_handler_pt handler)
{
    int                     i;
    u_char                 *p, nums[3][NGX_INT64_LEN];
    size_t                  argvlen[8];
    uint64_t                v[3];
    ngx_str_t               k[2];
    ngx_pool_t             *pool;
    const char             *argv[8];
    ngx_octopus_rl_zone_t  *zone;

    if (!ngx_octopus_rl_lua_banning(item->limit)) {
        return NGX_DECLINED;
    }

    zone = item->limit->zone;
    pool = item->ctx->request->pool;

    if (ngx_octopus_rl_lua_key(pool, &item->rkey, ":n", &k[0]) != NGX_OK
        || ngx_octopus_rl_lua_key(pool, &item->rkey, ":b", &k[1]) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (item->eval) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_octopus_rl_lua_strike_src;
        argvlen[1] = sizeof(ngx_octopus_rl_lua_strike_src) - 1;

    } else {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) rmcf->sha_strike;
        argvlen[1] = 40;
    }

    argv[2] = "2";
    argvlen[2] = 1;

    for (i = 0; i < 2; i++) {
        argv[3 + i] = (const char *) k[i].data;
        argvlen[3 + i] = k[i].len;
    }

    v[0] = zone->ban_after;
    v[1] = zone->ban_within;
    v[2] = zone->ban_for;

    for (i = 0; i < 3; i++) {
        p = ngx_sprintf(nums[i], "%uL", v[i]);
        argv[5 + i] = (const char *) nums[i];
        argvlen[5 + i] = p - nums[i];
    }

    item->cmd = ngx_octopus_redis_send(rmcf->conn, handler, item, 8, argv,
                                       argvlen);

    return item->cmd ? NGX_OK : NGX_DECLINED;
}


/* reserves one attempt: EVALSHA, EVAL after NOSCRIPT (item->eval) */

ngx_int_t
ngx_octopus_rl_lua_reserve(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_octopus_rl_item_t *item, ngx_octopus_rl_lockout_t *lo,
    ngx_str_t *rid, ngx_octopus_redis_handler_pt handler)
{
    int          i;
    u_char      *p, nums[2][NGX_INT64_LEN];
    size_t       argvlen[9];
    uint64_t     v[2];
    ngx_str_t    k[3];
    ngx_pool_t  *pool;
    const char  *argv[9];

    pool = item->ctx->request->pool;

    if (ngx_octopus_rl_lua_key(pool, &item->rkey, ":l", &k[0]) != NGX_OK
        || ngx_octopus_rl_lua_key(pool, &item->rkey, ":f", &k[1]) != NGX_OK
        || ngx_octopus_rl_lua_key(pool, &item->rkey, ":r", &k[2]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_octopus_rl_lua_head(argv, argvlen, item->eval,
                            ngx_octopus_rl_lua_reserve_src,
                            sizeof(ngx_octopus_rl_lua_reserve_src) - 1,
                            rmcf->sha_reserve, k);

    v[0] = lo->failures;
    v[1] = lo->inflight_timeout;

    for (i = 0; i < 2; i++) {
        p = ngx_sprintf(nums[i], "%uL", v[i]);
        argv[6 + i] = (const char *) nums[i];
        argvlen[6 + i] = p - nums[i];
    }

    argv[8] = (const char *) rid->data;
    argvlen[8] = rid->len;

    item->cmd = ngx_octopus_redis_send(rmcf->conn, handler, item, 9, argv,
                                       argvlen);

    return item->cmd ? NGX_OK : NGX_DECLINED;
}


/*
 * The reservation script's reply: NGX_OCTOPUS_RL_RESERVED,
 * NGX_OCTOPUS_RL_RESERVE_LOCK or NGX_OCTOPUS_RL_RESERVE_BUSY with *ms;
 * NGX_ERROR for anything else.
 */

ngx_int_t
ngx_octopus_rl_lua_reserve_parse(redisReply *reply, uint64_t *ms)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->integer < 0)
    {
        return NGX_ERROR;
    }

    *ms = reply->element[1]->integer;

    switch (reply->element[0]->integer) {
    case 0:
        return NGX_OCTOPUS_RL_RESERVED;
    case 1:
        return NGX_OCTOPUS_RL_RESERVE_LOCK;
    case 2:
        *ms = NGX_OCTOPUS_RL_BUSY_RETRY;
        return NGX_OCTOPUS_RL_RESERVE_BUSY;
    default:
        return NGX_ERROR;
    }
}


/*
 * Reservations that may be left in Redis: a reservation script that timed
 * out or whose connection went (it may have run, or may still run when a
 * frozen server wakes up), a release or a failed login that got no answer.
 * Each is released with ZREM once Redis answers again, from a per-worker
 * list, until it would have expired anyway (inflight_timeout).  The list is
 * bounded: past NGX_OCTOPUS_RL_ORPHANS_MAX, a reservation expires by itself.
 * A ZREM sent on a new connection may reach Redis before a script still
 * buffered on the old one: an orphan whose ZREM removed nothing is sent
 * once more a second later.
 */

#define NGX_OCTOPUS_RL_ORPHANS_MAX   4096
#define NGX_OCTOPUS_RL_ORPHAN_RETRY  200
#define NGX_OCTOPUS_RL_ORPHAN_AGAIN  1000


typedef struct {
    ngx_queue_t                  queue;
    ngx_octopus_rl_main_conf_t  *rmcf;
    ngx_msec_t                   expires;
    ngx_msec_t                   next;
    ngx_uint_t                   again;      /* a ZREM of 0 is sent again */
    size_t                       klen;
    size_t                       rlen;
    u_char                       data[1];    /* key ":r", id */
} ngx_octopus_rl_orphan_t;


static void ngx_octopus_rl_orphan_reply(void *data, redisReply *reply);
static void ngx_octopus_rl_orphan_handler(ngx_event_t *ev);


static ngx_octopus_rl_orphan_t *
ngx_octopus_rl_orphan_new(ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *rkey,
    ngx_str_t *rid, ngx_msec_t ttl)
{
    ngx_octopus_rl_orphan_t  *o;

    o = ngx_alloc(sizeof(ngx_octopus_rl_orphan_t) + rkey->len + 2 + rid->len,
                  ngx_cycle->log);
    if (o == NULL) {
        return NULL;
    }

    o->rmcf = rmcf;
    o->expires = ngx_current_msec + ttl;
    o->next = ngx_current_msec;
    o->again = 0;
    o->klen = rkey->len + 2;
    o->rlen = rid->len;

    ngx_memcpy(ngx_cpymem(ngx_cpymem(o->data, rkey->data, rkey->len),
                          ":r", 2),
               rid->data, rid->len);

    return o;
}


static ngx_int_t
ngx_octopus_rl_orphan_send(ngx_octopus_rl_orphan_t *o)
{
    size_t       argvlen[3];
    const char  *argv[3];

    argv[0] = "ZREM";
    argvlen[0] = 4;
    argv[1] = (const char *) o->data;
    argvlen[1] = o->klen;
    argv[2] = (const char *) o->data + o->klen;
    argvlen[2] = o->rlen;

    /* hiredis copies the arguments into its output buffer */

    return ngx_octopus_redis_send(o->rmcf->conn, ngx_octopus_rl_orphan_reply,
                                  o, 3, argv, argvlen)
           ? NGX_OK : NGX_DECLINED;
}


static void
ngx_octopus_rl_orphan_queue(ngx_octopus_rl_orphan_t *o, ngx_msec_t delay)
{
    ngx_octopus_rl_main_conf_t  *rmcf = o->rmcf;

    if ((ngx_msec_int_t) (o->expires - ngx_current_msec) <= 0
        || rmcf->conn == NULL)
    {
        ngx_free(o);
        return;
    }

    if (rmcf->norphans >= NGX_OCTOPUS_RL_ORPHANS_MAX) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "octopus_ratelimit: a lockout reservation was not "
                      "released in redis, it expires by itself");
        ngx_free(o);
        return;
    }

    o->next = ngx_current_msec + delay;

    ngx_queue_insert_tail(&rmcf->orphans, &o->queue);
    rmcf->norphans++;

    if (!rmcf->orphan_timer.timer_set) {
        ngx_add_timer(&rmcf->orphan_timer, delay ? delay
                                                 : NGX_OCTOPUS_RL_ORPHAN_RETRY);
    }
}


static void
ngx_octopus_rl_orphan_reply(void *data, redisReply *reply)
{
    ngx_octopus_rl_orphan_t  *o = data;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_octopus_rl_orphan_queue(o, NGX_OCTOPUS_RL_ORPHAN_RETRY);
        return;
    }

    if (reply->integer == 0 && o->again) {
        o->again = 0;
        ngx_octopus_rl_orphan_queue(o, NGX_OCTOPUS_RL_ORPHAN_AGAIN);
        return;
    }

    ngx_free(o);
}


static void
ngx_octopus_rl_orphan_handler(ngx_event_t *ev)
{
    ngx_msec_t                   wait;
    ngx_queue_t                 *q, *next;
    ngx_msec_int_t               d;
    ngx_octopus_rl_orphan_t     *o;
    ngx_octopus_rl_main_conf_t  *rmcf = ev->data;

    wait = 0;

    for (q = ngx_queue_head(&rmcf->orphans);
         q != ngx_queue_sentinel(&rmcf->orphans);
         q = next)
    {
        next = ngx_queue_next(q);
        o = ngx_queue_data(q, ngx_octopus_rl_orphan_t, queue);

        if ((ngx_msec_int_t) (o->expires - ngx_current_msec) <= 0) {
            ngx_queue_remove(q);
            rmcf->norphans--;
            ngx_free(o);
            continue;
        }

        d = (ngx_msec_int_t) (o->next - ngx_current_msec);

        if (d > 0) {
            if (wait == 0 || (ngx_msec_t) d < wait) {
                wait = (ngx_msec_t) d;
            }

            continue;
        }

        if (ngx_octopus_rl_orphan_send(o) != NGX_OK) {
            /* not connected: try again later */
            wait = NGX_OCTOPUS_RL_ORPHAN_RETRY;
            break;
        }

        /* in flight: the reply frees or queues it again */

        ngx_queue_remove(q);
        rmcf->norphans--;
    }

    if (!ngx_queue_empty(&rmcf->orphans) && !ev->timer_set) {
        ngx_add_timer(ev, wait ? wait : NGX_OCTOPUS_RL_ORPHAN_RETRY);
    }
}


void
ngx_octopus_rl_lua_orphans_init(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_log_t *log)
{
    ngx_queue_init(&rmcf->orphans);
    rmcf->norphans = 0;

    rmcf->orphan_timer.handler = ngx_octopus_rl_orphan_handler;
    rmcf->orphan_timer.data = rmcf;
    rmcf->orphan_timer.log = log;
    rmcf->orphan_timer.cancelable = 1;
}


/* at exit, after the connection is gone (its replies queued them back) */

void
ngx_octopus_rl_lua_orphans_free(ngx_octopus_rl_main_conf_t *rmcf)
{
    ngx_queue_t              *q;
    ngx_octopus_rl_orphan_t  *o;

    if (rmcf->orphan_timer.timer_set) {
        ngx_del_timer(&rmcf->orphan_timer);
    }

    while (!ngx_queue_empty(&rmcf->orphans)) {
        q = ngx_queue_head(&rmcf->orphans);
        o = ngx_queue_data(q, ngx_octopus_rl_orphan_t, queue);
        ngx_queue_remove(q);
        ngx_free(o);
    }

    rmcf->norphans = 0;
}


/* a reservation the script may have made: released once Redis answers */

void
ngx_octopus_rl_lua_orphan(ngx_octopus_rl_main_conf_t *rmcf, ngx_str_t *rkey,
    ngx_str_t *rid, ngx_msec_t ttl)
{
    ngx_octopus_rl_orphan_t  *o;

    if (rid->len == 0 || rmcf->conn == NULL) {
        return;
    }

    o = ngx_octopus_rl_orphan_new(rmcf, rkey, rid, ttl);
    if (o == NULL) {
        return;
    }

    o->again = 1;

    ngx_octopus_rl_orphan_queue(o, 0);
}


/*
 * Releases a reservation: ZREM, a plain command; nobody waits for the
 * answer.  Sent on the connection that carried the reservation, so it is
 * executed after it; if it gets no answer, it is sent again once Redis
 * answers.
 */

ngx_int_t
ngx_octopus_rl_lua_release(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_str_t *rkey, ngx_str_t *rid, ngx_msec_t ttl)
{
    ngx_octopus_rl_orphan_t  *o;

    o = ngx_octopus_rl_orphan_new(rmcf, rkey, rid, ttl);
    if (o == NULL) {
        return NGX_ERROR;
    }

    if (ngx_octopus_rl_orphan_send(o) != NGX_OK) {
        ngx_octopus_rl_orphan_queue(o, NGX_OCTOPUS_RL_ORPHAN_RETRY);
    }

    return NGX_OK;
}


/*
 * A failed login; rkey and rid are in memory owned by data (it outlives
 * the request); rid is empty when the attempt holds no Redis reservation.
 * The script is sent with EVAL: failures are rare, and this spares a
 * NOSCRIPT round trip with nobody waiting for the answer.
 */

ngx_int_t
ngx_octopus_rl_lua_lock_fail(ngx_octopus_rl_main_conf_t *rmcf,
    ngx_str_t *rkey, ngx_str_t *rid, ngx_octopus_rl_lockout_t *lo,
    ngx_octopus_redis_handler_pt handler, void *data)
{
    int          i;
    u_char      *p, *kf, nums[3][NGX_INT64_LEN];
    size_t       argvlen[10];
    uint64_t     v[3];
    ngx_int_t    rc;
    const char  *argv[10];

    kf = ngx_alloc(3 * (rkey->len + 2), ngx_cycle->log);
    if (kf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(kf, rkey->data, rkey->len);
    p = ngx_cpymem(p, ":f", 2);
    p = ngx_cpymem(p, rkey->data, rkey->len);
    p = ngx_cpymem(p, ":l", 2);
    p = ngx_cpymem(p, rkey->data, rkey->len);
    ngx_memcpy(p, ":r", 2);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_octopus_rl_lua_fail_src;
    argvlen[1] = sizeof(ngx_octopus_rl_lua_fail_src) - 1;
    argv[2] = "3";
    argvlen[2] = 1;

    for (i = 0; i < 3; i++) {
        argv[3 + i] = (const char *) kf + i * (rkey->len + 2);
        argvlen[3 + i] = rkey->len + 2;
    }

    v[0] = lo->failures;
    v[1] = lo->within;
    v[2] = lo->duration;

    for (i = 0; i < 3; i++) {
        p = ngx_sprintf(nums[i], "%uL", v[i]);
        argv[6 + i] = (const char *) nums[i];
        argvlen[6 + i] = p - nums[i];
    }

    argv[9] = rid->len ? (const char *) rid->data : "";
    argvlen[9] = rid->len;

    /* hiredis has copied the arguments into its output buffer */

    rc = ngx_octopus_redis_send(rmcf->conn, handler, data, 10, argv, argvlen)
         ? NGX_OK : NGX_DECLINED;

    ngx_free(kf);

    return rc;
}
