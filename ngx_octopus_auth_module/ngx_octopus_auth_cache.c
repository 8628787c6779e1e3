
/*
 * Copyright (C) Octopus Guard authors
 *
 * The JWT verification cache of a node: one shared-memory zone
 * ("octopus_auth_jwt_cache") for all the workers, a slab pool under its
 * mutex holding the plain C cache of ngx_octopus_auth_jwt_cache.c, the
 * octopus_auth_jwt_cache directive and the cache's part of
 * octopus_auth_metrics.
 *
 * The zone is kept across reloads when its size is unchanged: every entry
 * carries the generation of the key set it verified under (a fingerprint
 * of the configured keys, ngx_octopus_jwt_keys_fingerprint()), and a hit
 * needs the request policy's generation, so a reload with other keys never
 * hits an old entry; those age out of the LRU list.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/random.h>

#include "ngx_octopus_auth.h"


static ngx_int_t ngx_octopus_auth_jwt_cache_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void *ngx_octopus_auth_jwt_cache_alloc(void *data, size_t size);
static void ngx_octopus_auth_jwt_cache_free(void *data, void *p);
static void ngx_octopus_auth_jwt_cache_lock(void *data);
static void ngx_octopus_auth_jwt_cache_unlock(void *data);


static ngx_str_t  ngx_octopus_auth_jwt_cache_name =
    ngx_string("octopus_auth_jwt_cache");


/*
 * octopus_auth_jwt_cache off | size
 *
 * The size needs a unit (k, m, g): a bare number was the count of entries
 * per worker before the cache was shared, and read as bytes it would make
 * a uselessly small cache without a word, so it is refused.
 */

char *
ngx_octopus_auth_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    u_char      c;
    ssize_t     size;
    ngx_str_t  *value;

    if (amcf->jwt_cache_size != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        amcf->jwt_cache_size = 0;
        return NGX_CONF_OK;
    }

    c = value[1].len ? value[1].data[value[1].len - 1] : '\0';

    if (c >= '0' && c <= '9') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"octopus_auth_jwt_cache\" value \"%V\":"
                           " a size with a unit (for example 32m) or"
                           " \"off\"; the cache is shared by the workers"
                           " and sized in bytes, a number of entries is"
                           " no longer accepted", &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < NGX_OCTOPUS_AUTH_JWT_CACHE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"octopus_auth_jwt_cache\" value \"%V\":"
                           " a size of at least 64k (for example 32m)"
                           " or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->jwt_cache_size = (size_t) size;

    return NGX_CONF_OK;
}


/* from init_main_conf: every key is read by then */

ngx_int_t
ngx_octopus_auth_jwt_cache_conf(ngx_conf_t *cf,
    ngx_octopus_auth_main_conf_t *amcf)
{
    ngx_shm_zone_t           *zone;
    ngx_octopus_jwt_cache_t  *cache;

    ngx_conf_init_size_value(amcf->jwt_cache_size,
                             NGX_OCTOPUS_AUTH_JWT_CACHE_DEFAULT);

    /*
     * keys from a URL are installed at run time (their generation is mixed
     * in by the handler): the cache is for them too, even with no key in
     * the configuration
     */

    if (amcf->keys.nelts == 0 && amcf->jwks_url == NULL) {
        return NGX_OK;
    }

    amcf->jwt_generation = ngx_octopus_jwt_keys_fingerprint(amcf->keys.elts,
                                                            amcf->keys.nelts);

    if (amcf->jwt_generation == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "octopus auth: no fingerprint of the JWT keys,"
                           " the verification cache is not used");
    }

    if (amcf->jwt_cache_size == 0 || amcf->jwt_generation == 0) {
        return NGX_OK;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_jwt_cache_t));
    if (cache == NULL) {
        return NGX_ERROR;
    }

    cache->alloc = ngx_octopus_auth_jwt_cache_alloc;
    cache->free = ngx_octopus_auth_jwt_cache_free;
    cache->lock = ngx_octopus_auth_jwt_cache_lock;
    cache->unlock = ngx_octopus_auth_jwt_cache_unlock;

    zone = ngx_shared_memory_add(cf, &ngx_octopus_auth_jwt_cache_name,
                                 amcf->jwt_cache_size,
                                 &ngx_octopus_auth_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_octopus_auth_jwt_cache_init_zone;
    zone->data = cache;

    amcf->jwt_cache = cache;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_auth_jwt_cache_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_octopus_jwt_cache_t  *ocache = data;

    size_t                    len;
    uint64_t                  seed;
    ngx_slab_pool_t          *shpool;
    ngx_octopus_jwt_cache_t  *cache;

    cache = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    cache->data = shpool;

    if (ocache) {
        /* a reload, same size: the entries stay, each with its generation */
        cache->sh = ocache->sh;
        return NGX_OK;
    }

    if (zone->shm.exists) {
        cache->sh = shpool->data;
        return NGX_OK;
    }

    /*
     * getrandom(2), not RAND_bytes(): OpenSSL's generator would be set up
     * in the master for 8 bytes
     */

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
        seed = (uint64_t) ngx_random() << 32 ^ (uint64_t) ngx_pid
               ^ (uint64_t) ngx_current_msec;
    }

    if (ngx_octopus_jwt_cache_init(cache, zone->shm.size, seed) != 0) {
        return NGX_ERROR;
    }

    shpool->data = cache->sh;

    len = sizeof(" in octopus_auth_jwt_cache zone");

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in octopus_auth_jwt_cache zone%Z");

    /* a full cache evicts: not an error to log */

    shpool->log_nomem = 0;

    return NGX_OK;
}


static void *
ngx_octopus_auth_jwt_cache_alloc(void *data, size_t size)
{
    return ngx_slab_alloc_locked(data, size);
}


static void
ngx_octopus_auth_jwt_cache_free(void *data, void *p)
{
    ngx_slab_free_locked(data, p);
}


static void
ngx_octopus_auth_jwt_cache_lock(void *data)
{
    ngx_slab_pool_t  *shpool = data;

    ngx_shmtx_lock(&shpool->mutex);
}


static void
ngx_octopus_auth_jwt_cache_unlock(void *data)
{
    ngx_slab_pool_t  *shpool = data;

    ngx_shmtx_unlock(&shpool->mutex);
}


#define NGX_OCTOPUS_AUTH_M  "octopus_auth_jwt_cache_"

#define ngx_octopus_auth_metric(p, name, type, help, v)                      \
    ngx_sprintf(p, "# HELP " NGX_OCTOPUS_AUTH_M name " " help "\n"           \
                "# TYPE " NGX_OCTOPUS_AUTH_M name " " type "\n"              \
                NGX_OCTOPUS_AUTH_M name " %uL\n", (uint64_t) (v))


/*
 * the verification cache's part of octopus_auth_metrics (its counters are
 * node-wide, in the zone): about 1300 bytes
 */

u_char *
ngx_octopus_auth_jwt_cache_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p)
{
    ngx_octopus_jwt_cache_stats_t  st;

    ngx_octopus_jwt_cache_stats(amcf->jwt_cache, &st);

    p = ngx_octopus_auth_metric(p, "hits_total", "counter",
        "Tokens found in the verification cache (no signature check).",
        st.hits);
    p = ngx_octopus_auth_metric(p, "misses_total", "counter",
        "Tokens not in the verification cache (verified in full).",
        st.misses);
    p = ngx_octopus_auth_metric(p, "stores_total", "counter",
        "Verified tokens stored.", st.stored);
    p = ngx_octopus_auth_metric(p, "evictions_total", "counter",
        "Least recently used entries evicted for room.", st.evicted);
    p = ngx_octopus_auth_metric(p, "expired_total", "counter",
        "Entries dropped when their token was found expired.", st.expired);
    p = ngx_octopus_auth_metric(p, "store_failures_total",
        "counter", "Verified tokens not stored (no room).", st.failed);
    p = ngx_octopus_auth_metric(p, "entries", "gauge",
        "Tokens in the cache.", st.entries);
    p = ngx_octopus_auth_metric(p, "bytes", "gauge",
        "Bytes of the entries (before the slab allocator's rounding).",
        st.bytes);
    p = ngx_octopus_auth_metric(p, "size_bytes", "gauge",
        "Size of the shared memory zone (0: the cache is off).",
        amcf->jwt_cache ? amcf->jwt_cache_size : 0);

    return p;
}
