
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
    unsigned                      allow_refresh:1;
} ngx_octopus_jwt_policy_t;


/* about 16K: the caller provides it (on the stack), nothing is allocated */

typedef struct {
    ngx_octopus_jwt_status_e      status;
    const char                   *reason;        /* static, for clients */
    const ngx_octopus_jwt_key_t  *key;
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
 * Verification cache, one per process (no locking): a token that verified
 * under a policy is remembered with its claims, so the next request with
 * the same bytes skips decoding, parsing and the signature.  The claims
 * (exp, nbf, iat, lifetime, iss, aud, token type) are checked again on
 * every hit, against the time of that request.  Only successes are kept;
 * a slot holds one token (direct-mapped on a seeded hash, the whole token
 * compared in constant time); tokens over NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN
 * bytes or with over NGX_OCTOPUS_JWT_CACHE_MAX_VALUES claim values are
 * verified every time.  Keys never change under a cache: nginx builds a
 * new one with new workers on reload.
 */

#define NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN   2048
#define NGX_OCTOPUS_JWT_CACHE_MAX_VALUES  128

typedef struct ngx_octopus_jwt_cache_s  ngx_octopus_jwt_cache_t;

typedef struct {
    uint64_t  hits;
    uint64_t  misses;
    uint64_t  stored;
    uint64_t  evicted;     /* replaced by another token, or expired */
    size_t    entries;     /* in use now */
    size_t    bytes;       /* allocated for entries now */
} ngx_octopus_jwt_cache_stats_t;

ngx_octopus_jwt_cache_t *ngx_octopus_jwt_cache_create(size_t slots,
    uint64_t seed);
void ngx_octopus_jwt_cache_free(ngx_octopus_jwt_cache_t *cache);
void ngx_octopus_jwt_cache_stats(const ngx_octopus_jwt_cache_t *cache,
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
