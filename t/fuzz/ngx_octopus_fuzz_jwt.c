
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the JWT verification path.  The first byte picks the
 * mode: a raw token (header, payload and signature as sent), or a header
 * and a payload (separated by a NUL byte) that are base64url-encoded and
 * signed here with the HS256 key, so that the fuzzer reaches the claim
 * checks and the RBAC claims behind a valid signature.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>

#include "ngx_octopus_auth_jwt.h"
#include "ngx_octopus_auth_rbac.h"


#define NOW  1800000000L

static const char  secret[] = "fuzz-secret-0123456789abcdefghijklmnop";

static ngx_octopus_jwt_key_t  keys[2];
static ngx_octopus_rbac_t     rbac;
static char                   token[3 * NGX_OCTOPUS_JWT_MAX_TOKEN];
static ngx_octopus_jwt_result_t  res;
static uint64_t               generations[3];    /* by nkeys */

/* the cache's memory: a bump arena, emptied for every input */
static unsigned char          arena[64 * 1024];
static size_t                 arena_used;


static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char      *p;
    size_t     i;
    uint32_t   v;

    p = out;

    for (i = 0; i + 2 < len; i += 3) {
        v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];
        *p++ = tab[(v >> 6) & 63];
        *p++ = tab[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = in[i] << 16 | in[i + 1] << 8;
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];
        *p++ = tab[(v >> 6) & 63];
    }

    return p - out;
}


static void
init(void)
{
    EVP_PKEY  *ec;

    keys[0].alg = NGX_OCTOPUS_JWT_HS256;
    keys[0].kid = "h";
    keys[0].secret = (const unsigned char *) secret;
    keys[0].secret_len = sizeof(secret) - 1;

    ec = EVP_EC_gen("P-256");

    keys[1].alg = NGX_OCTOPUS_JWT_ES256;
    keys[1].kid = "e";
    keys[1].pkey = ec;

    if (ec == NULL
        || ngx_octopus_jwt_key_prepare(&keys[0]) != 0
        || ngx_octopus_jwt_key_prepare(&keys[1]) != 0)
    {
        abort();
    }

    ngx_octopus_rbac_defaults(&rbac);

    generations[1] = ngx_octopus_jwt_keys_fingerprint(keys, 1);
    generations[2] = ngx_octopus_jwt_keys_fingerprint(keys, 2);
}


static void *
arena_alloc(void *data, size_t size)
{
    void  *p;

    size = (size + 15) & ~(size_t) 15;

    if (arena_used + size > sizeof(arena)) {
        return NULL;
    }

    p = arena + arena_used;
    arena_used += size;

    return p;
}


static void
arena_free(void *data, void *p)
{
}


static void
arena_lock(void *data)
{
}


static void
cached_check(const ngx_octopus_jwt_policy_t *policy, const char *tok,
    size_t len)
{
    int                               i;
    ngx_octopus_jwt_cache_t           cache;
    static ngx_octopus_jwt_result_t   cres;

    arena_used = 0;
    memset(&cache, 0, sizeof(cache));
    cache.alloc = arena_alloc;
    cache.free = arena_free;
    cache.lock = arena_lock;
    cache.unlock = arena_lock;

    if (ngx_octopus_jwt_cache_init(&cache, 8192, 1) != 0) {
        abort();
    }

    for (i = 0; i < 2; i++) {
        ngx_octopus_jwt_verify_cached(policy, &cache, tok, len, NOW, &cres);

        if (cres.status != res.status
            || cres.key != res.key
            || cres.claims.len != res.claims.len
            || cres.claims.ntoks != res.claims.ntoks
            || memcmp(cres.claims.src, res.claims.src, res.claims.len) != 0
            || memcmp(cres.claims.toks, res.claims.toks,
                      res.claims.ntoks * sizeof(ngx_octopus_auth_json_tok_t))
               != 0)
        {
            abort();
        }

        /* the second answer comes from the cache (when the token fits) */

        if (i == 1 && len <= NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN && !cres.cached) {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     n, hlen, sig_len, tok_len;
    const char                *tok;
    uint64_t                   roles, perms;
    unsigned int               mdlen;
    unsigned char              md[EVP_MAX_MD_SIZE];
    const uint8_t             *sep;
    ngx_octopus_jwt_policy_t   policy;
    static int                 ready;

    if (!ready) {
        init();
        ready = 1;
    }

    if (size < 1 || size > NGX_OCTOPUS_JWT_MAX_TOKEN + 1024) {
        return 0;
    }

    memset(&policy, 0, sizeof(policy));
    policy.keys = keys;
    policy.nkeys = (data[0] & 2) ? 2 : 1;
    policy.generation = generations[policy.nkeys];
    policy.issuer = (data[0] & 4) ? "iss" : NULL;
    policy.audience = (data[0] & 8) ? "aud" : NULL;
    policy.leeway = (data[0] & 16) ? 30 : 0;
    policy.max_lifetime = (data[0] & 32) ? 3600 : 0;
    policy.allow_refresh = (data[0] & 64) ? 1 : 0;

    if ((data[0] & 1) == 0) {
        tok = (const char *) data + 1;
        tok_len = size - 1;
        ngx_octopus_jwt_verify(&policy, tok, tok_len, NOW, &res);

    } else {
        data++;
        size--;

        sep = memchr(data, '\0', size);
        hlen = sep ? (size_t) (sep - data) : size;

        n = b64url(data, hlen, token);
        token[n++] = '.';

        if (sep) {
            n += b64url(sep + 1, size - hlen - 1, token + n);
        }

        if (HMAC(EVP_sha256(), secret, sizeof(secret) - 1,
                 (const unsigned char *) token, n, md, &mdlen)
            == NULL)
        {
            abort();
        }

        token[n++] = '.';
        sig_len = b64url(md, mdlen, token + n);
        n += sig_len;

        tok = token;
        tok_len = n;
        ngx_octopus_jwt_verify(&policy, tok, tok_len, NOW, &res);
    }

    /* invariants: a success names its key, a failure gives a reason */

    if (res.status == NGX_OCTOPUS_JWT_OK ? res.key == NULL
                                         : res.reason == NULL)
    {
        abort();
    }

    /*
     * the verification cache answers as the verification did: a miss that
     * stores, then a hit (one cache per input: the policy here changes
     * under one address, which nginx's never does)
     */

    if (res.status == NGX_OCTOPUS_JWT_OK) {
        cached_check(&policy, tok, tok_len);
    }

    if (res.status == NGX_OCTOPUS_JWT_OK) {

        roles = 0;
        perms = ngx_octopus_rbac_claims(&rbac, &res.claims, "role", &roles);
        perms |= ngx_octopus_rbac_claims(&rbac, &res.claims, "roles", &roles);
        (void) perms;
    }

    return 0;
}
