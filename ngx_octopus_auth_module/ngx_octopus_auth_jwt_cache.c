
/*
 * Copyright (C) Octopus Guard authors
 *
 * The JWT verification cache in plain C (no nginx headers): a hash table
 * of chained entries and a least-recently-used list, in memory the caller
 * provides and locks (see ngx_octopus_auth_jwt.h).  The shared part holds
 * only pointers into itself.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_auth_jwt.h"


#define NGX_OCTOPUS_JWT_CACHE_MIN_BUCKETS   64
#define NGX_OCTOPUS_JWT_CACHE_ENTRY_GUESS   512    /* bytes an entry, sizing */
#define NGX_OCTOPUS_JWT_CACHE_MAX_EVICT     64     /* a store, under the lock */


typedef struct ngx_octopus_jwt_cache_link_s  ngx_octopus_jwt_cache_link_t;

struct ngx_octopus_jwt_cache_link_s {
    ngx_octopus_jwt_cache_link_t  *prev;      /* towards the most recent */
    ngx_octopus_jwt_cache_link_t  *next;      /* towards the least recent */
};


typedef struct ngx_octopus_jwt_cache_entry_s  ngx_octopus_jwt_cache_entry_t;

struct ngx_octopus_jwt_cache_entry_s {
    ngx_octopus_jwt_cache_link_t    lru;      /* first: link to entry */
    ngx_octopus_jwt_cache_entry_t  *hnext;    /* same bucket */
    uint64_t                        hash;
    uint64_t                        generation;
    uint32_t                        key;      /* index in policy->keys */
    uint32_t                        len;
    char                            token[];
};


struct ngx_octopus_jwt_cache_sh_s {
    uint64_t                         seed;
    size_t                           mask;    /* buckets - 1 */
    ngx_octopus_jwt_cache_entry_t  **buckets;
    ngx_octopus_jwt_cache_link_t     lru;     /* sentinel */
    ngx_octopus_jwt_cache_stats_t    stats;
};


int
ngx_octopus_jwt_cache_init(ngx_octopus_jwt_cache_t *cache, size_t size,
    uint64_t seed)
{
    size_t                       n;
    ngx_octopus_jwt_cache_sh_t  *sh;

    n = NGX_OCTOPUS_JWT_CACHE_MIN_BUCKETS;

    while (n * 2 <= size / NGX_OCTOPUS_JWT_CACHE_ENTRY_GUESS) {
        n *= 2;
    }

    sh = cache->alloc(cache->data, sizeof(ngx_octopus_jwt_cache_sh_t));
    if (sh == NULL) {
        return -1;
    }

    memset(sh, 0, sizeof(ngx_octopus_jwt_cache_sh_t));

    sh->buckets = cache->alloc(cache->data,
                               n * sizeof(ngx_octopus_jwt_cache_entry_t *));
    if (sh->buckets == NULL) {
        cache->free(cache->data, sh);
        return -1;
    }

    memset(sh->buckets, 0, n * sizeof(ngx_octopus_jwt_cache_entry_t *));

    sh->seed = seed;
    sh->mask = n - 1;
    sh->lru.prev = &sh->lru;
    sh->lru.next = &sh->lru;

    cache->sh = sh;

    return 0;
}


void
ngx_octopus_jwt_cache_stats(ngx_octopus_jwt_cache_t *cache,
    ngx_octopus_jwt_cache_stats_t *stats)
{
    if (cache == NULL || cache->sh == NULL) {
        memset(stats, 0, sizeof(ngx_octopus_jwt_cache_stats_t));
        return;
    }

    cache->lock(cache->data);
    *stats = cache->sh->stats;
    cache->unlock(cache->data);
}


/*
 * Eight bytes a step (multiply and xor-shift), from the cache's random seed
 * and the key set's generation: not a cryptographic hash, nor does it need
 * to be; only tokens that verified are stored, a collision costs a longer
 * chain, and a hit compares the whole token.
 */

static uint64_t
ngx_octopus_jwt_cache_hash(uint64_t seed, uint64_t generation,
    const char *token, size_t len)
{
    uint64_t  h, w;

    h = seed ^ (generation * 0xbf58476d1ce4e5b9ULL)
        ^ ((uint64_t) len * 0x9e3779b97f4a7c15ULL);

    while (len >= 8) {
        memcpy(&w, token, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        token += 8;
        len -= 8;
    }

    w = 0;
    memcpy(&w, token, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;

    return h;
}


static void
ngx_octopus_jwt_cache_unlink(ngx_octopus_jwt_cache_link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}


static void
ngx_octopus_jwt_cache_push(ngx_octopus_jwt_cache_sh_t *sh,
    ngx_octopus_jwt_cache_link_t *l)
{
    l->prev = &sh->lru;
    l->next = sh->lru.next;
    l->next->prev = l;
    sh->lru.next = l;
}


/*
 * Constant time in the contents: eight bytes a step, the differences
 * or-ed together, no early exit (the empty asm keeps the compiler from
 * reasoning about d inside the loop).  CRYPTO_memcmp() compares a byte a
 * step: a third of a hit's time in the cache for RS256 tokens.
 */

static int
ngx_octopus_jwt_cache_equal(const char *a, const char *b, size_t len)
{
    uint64_t  x, y, d;

    d = 0;

    while (len >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        d |= x ^ y;
        __asm__ ("" : "+r" (d));
        a += 8;
        b += 8;
        len -= 8;
    }

    while (len) {
        d |= (uint64_t) ((unsigned char) *a++ ^ (unsigned char) *b++);
        __asm__ ("" : "+r" (d));
        len--;
    }

    return d == 0;
}


/* the entry for these bytes, or NULL; *prevp: the link that points to it */

static ngx_octopus_jwt_cache_entry_t *
ngx_octopus_jwt_cache_find(ngx_octopus_jwt_cache_sh_t *sh, uint64_t hash,
    uint64_t generation, const char *token, size_t len,
    ngx_octopus_jwt_cache_entry_t ***prevp)
{
    ngx_octopus_jwt_cache_entry_t   *e, **prev;

    prev = &sh->buckets[hash & sh->mask];

    for (e = *prev; e; prev = &e->hnext, e = e->hnext) {
        if (e->hash == hash
            && e->generation == generation
            && e->len == len
            && ngx_octopus_jwt_cache_equal(e->token, token, len))
        {
            if (prevp) {
                *prevp = prev;
            }

            return e;
        }
    }

    return NULL;
}


static size_t
ngx_octopus_jwt_cache_size(size_t len)
{
    return offsetof(ngx_octopus_jwt_cache_entry_t, token) + len;
}


static void
ngx_octopus_jwt_cache_remove(ngx_octopus_jwt_cache_t *cache,
    ngx_octopus_jwt_cache_entry_t **prev, ngx_octopus_jwt_cache_entry_t *e)
{
    ngx_octopus_jwt_cache_sh_t  *sh;

    sh = cache->sh;

    *prev = e->hnext;
    ngx_octopus_jwt_cache_unlink(&e->lru);

    sh->stats.entries--;
    sh->stats.bytes -= ngx_octopus_jwt_cache_size(e->len);

    cache->free(cache->data, e);
}


/* the least recently used entry goes; 0, or -1 when there is none */

static int
ngx_octopus_jwt_cache_evict(ngx_octopus_jwt_cache_t *cache)
{
    ngx_octopus_jwt_cache_sh_t      *sh;
    ngx_octopus_jwt_cache_entry_t   *e, *b, **prev;

    sh = cache->sh;

    if (sh->lru.prev == &sh->lru) {
        return -1;
    }

    e = (ngx_octopus_jwt_cache_entry_t *) sh->lru.prev;

    for (prev = &sh->buckets[e->hash & sh->mask], b = *prev;
         b != e;
         prev = &b->hnext, b = b->hnext)
    {
        /* void */
    }

    ngx_octopus_jwt_cache_remove(cache, prev, e);
    sh->stats.evicted++;

    return 0;
}


static void
ngx_octopus_jwt_cache_store(ngx_octopus_jwt_cache_t *cache, uint64_t hash,
    uint64_t generation, uint32_t key, const char *token, size_t len)
{
    size_t                           size, bucket, i;
    ngx_octopus_jwt_cache_sh_t      *sh;
    ngx_octopus_jwt_cache_entry_t   *e;

    sh = cache->sh;

    /* another worker may have verified and stored it meanwhile */

    e = ngx_octopus_jwt_cache_find(sh, hash, generation, token, len, NULL);
    if (e) {
        ngx_octopus_jwt_cache_unlink(&e->lru);
        ngx_octopus_jwt_cache_push(sh, &e->lru);
        return;
    }

    size = ngx_octopus_jwt_cache_size(len);

    for (i = 0; ; i++) {
        e = cache->alloc(cache->data, size);
        if (e) {
            break;
        }

        if (i == NGX_OCTOPUS_JWT_CACHE_MAX_EVICT
            || ngx_octopus_jwt_cache_evict(cache) != 0)
        {
            sh->stats.failed++;
            return;
        }
    }

    e->hash = hash;
    e->generation = generation;
    e->key = key;
    e->len = (uint32_t) len;
    memcpy(e->token, token, len);

    bucket = hash & sh->mask;
    e->hnext = sh->buckets[bucket];
    sh->buckets[bucket] = e;

    ngx_octopus_jwt_cache_push(sh, &e->lru);

    sh->stats.stored++;
    sh->stats.entries++;
    sh->stats.bytes += size;
}


void
ngx_octopus_jwt_verify_cached(const ngx_octopus_jwt_policy_t *policy,
    ngx_octopus_jwt_cache_t *cache, const char *token, size_t len,
    time_t now, ngx_octopus_jwt_result_t *res)
{
    int                              hit;
    uint32_t                         key;
    uint64_t                         hash, gen;
    ngx_octopus_jwt_cache_sh_t      *sh;
    ngx_octopus_jwt_cache_entry_t   *e, **prev;

    gen = policy->generation;

    if (cache == NULL || cache->sh == NULL || gen == 0
        || len > NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN)
    {
        ngx_octopus_jwt_verify(policy, token, len, now, res);
        return;
    }

    sh = cache->sh;
    hash = ngx_octopus_jwt_cache_hash(sh->seed, gen, token, len);
    key = 0;
    hit = 0;

    cache->lock(cache->data);

    e = ngx_octopus_jwt_cache_find(sh, hash, gen, token, len, NULL);

    if (e && e->key < policy->nkeys) {
        hit = 1;
        key = e->key;
        sh->stats.hits++;

        ngx_octopus_jwt_cache_unlink(&e->lru);
        ngx_octopus_jwt_cache_push(sh, &e->lru);

    } else {
        sh->stats.misses++;
    }

    cache->unlock(cache->data);

    if (hit) {

        /* the bytes are the request's own: the entry is not read again */

        ngx_octopus_jwt_verify_claims(policy, &policy->keys[key], token, len,
                                      now, res);

        if (res->status == NGX_OCTOPUS_JWT_EXPIRED) {

            /* it will not be valid again */

            cache->lock(cache->data);

            e = ngx_octopus_jwt_cache_find(sh, hash, gen, token, len, &prev);
            if (e) {
                ngx_octopus_jwt_cache_remove(cache, prev, e);
                sh->stats.expired++;
            }

            cache->unlock(cache->data);
        }

        return;
    }

    ngx_octopus_jwt_verify(policy, token, len, now, res);

    if (res->status != NGX_OCTOPUS_JWT_OK || res->key == NULL
        || res->key < policy->keys
        || res->key >= policy->keys + policy->nkeys)
    {
        return;
    }

    cache->lock(cache->data);

    ngx_octopus_jwt_cache_store(cache, hash, gen,
                                (uint32_t) (res->key - policy->keys), token,
                                len);

    cache->unlock(cache->data);
}
