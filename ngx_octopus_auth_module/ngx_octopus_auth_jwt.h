
/*
 * Copyright (C) Octopus Guard authors
 *
 * JWT verification without nginx: compact serialization parsing, algorithm
 * pinned per key, signatures checked with OpenSSL on keys parsed once,
 * registered claims checked against a policy.
 */


#ifndef _NGX_OCTOPUS_AUTH_JWT_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_JWT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "ngx_octopus_auth_json.h"


#define NGX_OCTOPUS_JWT_MAX_TOKEN     8192
#define NGX_OCTOPUS_JWT_MAX_VALUES    512     /* JSON values in the claims */
#define NGX_OCTOPUS_JWT_MIN_SECRET    32
#define NGX_OCTOPUS_JWT_MIN_RSA_BITS  2048


typedef enum {
    NGX_OCTOPUS_JWT_ALG_NONE = 0,
    NGX_OCTOPUS_JWT_HS256,
    NGX_OCTOPUS_JWT_HS384,
    NGX_OCTOPUS_JWT_HS512,
    NGX_OCTOPUS_JWT_RS256,
    NGX_OCTOPUS_JWT_RS384,
    NGX_OCTOPUS_JWT_RS512,
    NGX_OCTOPUS_JWT_ES256,
    NGX_OCTOPUS_JWT_ES384
} ngx_octopus_jwt_alg_e;


typedef enum {
    NGX_OCTOPUS_JWT_OK = 0,
    NGX_OCTOPUS_JWT_INVALID,       /* malformed, bad signature, bad claim */
    NGX_OCTOPUS_JWT_EXPIRED,       /* exp in the past */
    NGX_OCTOPUS_JWT_ERROR          /* internal error (allocation, OpenSSL) */
} ngx_octopus_jwt_status_e;


typedef struct {
    ngx_octopus_jwt_alg_e   alg;
    const char             *kid;           /* NUL-terminated, or NULL */
    const unsigned char    *secret;        /* HS keys */
    size_t                  secret_len;
    EVP_PKEY               *pkey;          /* RS and ES keys */

    /* set by ngx_octopus_jwt_key_prepare(): no per-request setup */
    EVP_MD                 *md;
    EVP_MD_CTX             *hmac_inner;    /* SHA state after key ^ ipad */
    EVP_MD_CTX             *hmac_outer;    /* SHA state after key ^ opad */
    EVP_MD_CTX             *scratch;
    EVP_PKEY_CTX           *vctx;          /* verify-initialized */
} ngx_octopus_jwt_key_t;


typedef struct {
    const ngx_octopus_jwt_key_t  *keys;
    size_t                        nkeys;
    const char                   *issuer;        /* NULL: not checked */
    const char                   *audience;      /* NULL: not checked */
    long                          leeway;        /* seconds */
    long                          max_lifetime;  /* seconds, 0: unlimited */
    uint64_t                      generation;    /* of keys: see the cache */
    unsigned                      allow_refresh:1;
} ngx_octopus_jwt_policy_t;


/* about 16K: the caller provides it (on the stack), nothing is allocated */

typedef struct {
    ngx_octopus_jwt_status_e      status;
    const char                   *reason;        /* static, for clients */
    const ngx_octopus_jwt_key_t  *key;
    int                           cached;        /* verified before */
    ngx_octopus_auth_json_t       claims;        /* set once they parsed */
    char                          payload[NGX_OCTOPUS_JWT_MAX_TOKEN];
    ngx_octopus_auth_json_tok_t   toks[NGX_OCTOPUS_JWT_MAX_VALUES];
} ngx_octopus_jwt_result_t;


ngx_octopus_jwt_alg_e ngx_octopus_jwt_alg_parse(const char *name, size_t len,
    int caseless);
const char *ngx_octopus_jwt_alg_name(ngx_octopus_jwt_alg_e alg);
int ngx_octopus_jwt_alg_is_hmac(ngx_octopus_jwt_alg_e alg);

int ngx_octopus_jwt_b64url_decode(const char *in, size_t len,
    unsigned char *out, size_t *out_len);

/* returns NULL when the key fits the algorithm, else a reason */
const char *ngx_octopus_jwt_key_check(const ngx_octopus_jwt_key_t *key);

EVP_PKEY *ngx_octopus_jwt_pem_load(const char *pem, size_t len);

/*
 * Fetches the digest and builds the contexts a verification needs, once;
 * secret and pkey must stay valid.  Returns 0 or -1.  Release frees them
 * and the pkey.
 */
int ngx_octopus_jwt_key_prepare(ngx_octopus_jwt_key_t *key);
void ngx_octopus_jwt_key_release(ngx_octopus_jwt_key_t *key);

void ngx_octopus_jwt_verify(const ngx_octopus_jwt_policy_t *policy,
    const char *token, size_t len, time_t now,
    ngx_octopus_jwt_result_t *res);

/*
 * The claims of a token whose signature is known to be good under key:
 * the payload is decoded and parsed again and the claims checked against
 * the policy at now, the signature is not looked at.  Only for the
 * verification cache, on a token equal byte for byte to one that verified
 * under the same key set.
 */
void ngx_octopus_jwt_verify_claims(const ngx_octopus_jwt_policy_t *policy,
    const ngx_octopus_jwt_key_t *key, const char *token, size_t len,
    time_t now, ngx_octopus_jwt_result_t *res);

/*
 * A key set's generation from its contents (algorithm, kid, secret or
 * public key, in order), the same for the same keys in another
 * configuration cycle: a 64-bit prefix of a SHA-256 digest, never 0 but
 * after an error (then the cache is not used).
 */
uint64_t ngx_octopus_jwt_keys_fingerprint(const ngx_octopus_jwt_key_t *keys,
    size_t nkeys);

/*
 * Verification cache (ngx_octopus_auth_jwt_cache.c), shared by the
 * processes that map its memory: a token that verified is remembered (its
 * bytes, the index of the key that verified it, the key set's generation)
 * so the next request with the same bytes, in any worker, skips the header,
 * the key search and the signature.  A hit needs the policy's generation
 * (policy->generation: whoever owns the keys changes it whenever the key
 * set changes; 0 bypasses the cache), the same length and the same bytes
 * compared in full in constant time; the payload is decoded again and the
 * claims (exp, nbf, iat, lifetime, iss, aud, token type) checked at every
 * hit against the request's time and the request's policy.  Only
 * successes are kept; tokens over NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN bytes
 * are verified every time.  Least recently used entries are evicted when
 * the memory is full; a token found expired on a hit is dropped.
 *
 * No pointer to process memory lives in the shared part (it survives a
 * reload that loads the module at another address): the allocator and the
 * lock are the caller's (nginx: a slab pool and its mutex; tests: malloc
 * with a budget), in a process-local handle.
 */

#define NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN   2048

typedef struct ngx_octopus_jwt_cache_sh_s  ngx_octopus_jwt_cache_sh_t;

typedef struct {
    ngx_octopus_jwt_cache_sh_t  *sh;        /* shared */

    /* alloc and free are called with the lock held */
    void                      *(*alloc)(void *data, size_t size);
    void                       (*free)(void *data, void *p);
    void                       (*lock)(void *data);
    void                       (*unlock)(void *data);
    void                        *data;
} ngx_octopus_jwt_cache_t;

typedef struct {
    uint64_t  hits;
    uint64_t  misses;
    uint64_t  stored;
    uint64_t  evicted;     /* least recently used, for room */
    uint64_t  expired;     /* found expired on a hit, dropped */
    uint64_t  failed;      /* no room even after evicting: not stored */
    uint64_t  entries;     /* in use now */
    uint64_t  bytes;       /* asked of the allocator for entries now */
} ngx_octopus_jwt_cache_stats_t;

/*
 * Sets cache->sh up through cache->alloc (no lock taken): the hash table
 * is sized for size bytes of entries.  Returns 0 or -1.
 */
int ngx_octopus_jwt_cache_init(ngx_octopus_jwt_cache_t *cache, size_t size,
    uint64_t seed);
void ngx_octopus_jwt_cache_stats(ngx_octopus_jwt_cache_t *cache,
    ngx_octopus_jwt_cache_stats_t *stats);

/* ngx_octopus_jwt_verify() through the cache; cache may be NULL */
void ngx_octopus_jwt_verify_cached(const ngx_octopus_jwt_policy_t *policy,
    ngx_octopus_jwt_cache_t *cache, const char *token, size_t len,
    time_t now, ngx_octopus_jwt_result_t *res);

/*
 * JWKS: each usable key is handed to the callback; the callback owns
 * the EVP_PKEY (and must copy the secret, which lives only during the
 * call).  Returns 0, or -1 with a reason in err.
 */

typedef int (*ngx_octopus_jwks_add_pt)(void *data,
    const ngx_octopus_jwt_key_t *key);

int ngx_octopus_jwks_parse(const char *json, size_t len,
    ngx_octopus_jwks_add_pt add, void *data, char *err, size_t err_len);


#endif /* _NGX_OCTOPUS_AUTH_JWT_H_INCLUDED_ */
