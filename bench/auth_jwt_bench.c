
/*
 * Copyright (C) Octopus Guard authors
 *
 * Microbenchmark of ngx_octopus_jwt_verify(): HS256, RS256 (2048 bits) and
 * ES256 (P-256) tokens, each verified with the claim checks (exp, nbf,
 * iat, lifetime, iss, aud) on keys parsed once, as the module does.
 *
 *     make bench-jwt [BENCH_JWT_N=20000]
 *     auth_jwt_bench [N [HS256|RS256|ES256]]
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_octopus_auth_jwt.h"


static const char  *secret = "Jm2Xq9LwT4vZ7cNk0bRy5HsE8aPd3GfU1oKiV6tWeYu";


static void
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t    i;
    uint32_t  v;

    for (i = 0; i + 2 < len; i += 3) {
        v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = in[i] << 16 | in[i + 1] << 8;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
    }

    *out = '\0';
}


static void
make_token(char *out, const char *header, const char *payload,
    EVP_PKEY *pkey, int ec)
{
    char                 *p;
    size_t                n;
    unsigned int          len;
    unsigned char         sig[1024], raw[64];
    EVP_MD_CTX           *md;
    ECDSA_SIG            *es;
    const BIGNUM         *r, *s;
    const unsigned char  *q;

    b64url((const unsigned char *) header, strlen(header), out);
    p = out + strlen(out);
    *p++ = '.';
    b64url((const unsigned char *) payload, strlen(payload), p);
    p += strlen(p);

    if (pkey == NULL) {
        HMAC(EVP_sha256(), secret, (int) strlen(secret),
             (unsigned char *) out, p - out, sig, &len);
        n = len;

    } else {
        md = EVP_MD_CTX_new();
        n = sizeof(sig);
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey);
        EVP_DigestSign(md, sig, &n, (unsigned char *) out, p - out);
        EVP_MD_CTX_free(md);

        if (ec) {
            q = sig;
            es = d2i_ECDSA_SIG(NULL, &q, (long) n);
            ECDSA_SIG_get0(es, &r, &s);
            BN_bn2binpad(r, raw, 32);
            BN_bn2binpad(s, raw + 32, 32);
            ECDSA_SIG_free(es);
            memcpy(sig, raw, 64);
            n = 64;
        }
    }

    *p++ = '.';
    b64url(sig, n, p);
}


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static const char  *only;


static void
bench(const char *name, ngx_octopus_jwt_policy_t *policy, const char *token,
    long n)
{
    long                      i;
    double                    t0, t1;
    time_t                    now;
    ngx_octopus_jwt_result_t  res;

    if (only && strcmp(only, name) != 0) {
        return;
    }

    now = time(NULL);

    for (i = 0; i < n / 10 + 1; i++) {          /* warm up */
        ngx_octopus_jwt_verify(policy, token, strlen(token), now, &res);
    }

    t0 = now_us();

    for (i = 0; i < n; i++) {
        ngx_octopus_jwt_verify(policy, token, strlen(token), now, &res);

        if (res.status != NGX_OCTOPUS_JWT_OK) {
            fprintf(stderr, "%s: refused: %s\n", name, res.reason);
            exit(1);
        }

    }

    t1 = now_us();

    printf("%-8s %8ld verifications  %8.2f us/verify  %10.0f verify/s\n",
           name, n, (t1 - t0) / n, n / ((t1 - t0) / 1e6));
}


int
main(int argc, char **argv)
{
    long                      n;
    char                      payload[512], token[2048];
    time_t                    now;
    EVP_PKEY                 *rsa, *ec;
    ngx_octopus_jwt_key_t     keys[3];
    ngx_octopus_jwt_policy_t  policy;

    n = argc > 1 ? atol(argv[1]) : 20000;
    only = argc > 2 ? argv[2] : NULL;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    memset(keys, 0, sizeof(keys));
    keys[0].alg = NGX_OCTOPUS_JWT_HS256;
    keys[0].kid = "hs";
    keys[0].secret = (const unsigned char *) secret;
    keys[0].secret_len = strlen(secret);
    keys[1].alg = NGX_OCTOPUS_JWT_RS256;
    keys[1].kid = "rs";
    keys[1].pkey = rsa;
    keys[2].alg = NGX_OCTOPUS_JWT_ES256;
    keys[2].kid = "es";
    keys[2].pkey = ec;

    if (ngx_octopus_jwt_key_prepare(&keys[0]) != 0
        || ngx_octopus_jwt_key_prepare(&keys[1]) != 0
        || ngx_octopus_jwt_key_prepare(&keys[2]) != 0)
    {
        fprintf(stderr, "cannot prepare the keys\n");
        return 1;
    }

    memset(&policy, 0, sizeof(policy));
    policy.keys = keys;
    policy.nkeys = 3;
    policy.issuer = "https://auth.octopus.trading";
    policy.audience = "octopus-api";
    policy.leeway = 30;
    policy.max_lifetime = 3600;

    now = time(NULL);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"user-4711\",\"role\":\"trader\",\"jti\":\"9f2c1a\","
             "\"iss\":\"https://auth.octopus.trading\",\"aud\":"
             "\"octopus-api\",\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld}",
             (long) now, (long) now, (long) now + 900);

    printf("ngx_octopus_jwt_verify (parse, signature, claim checks), "
           "OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));

    make_token(token, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"hs\"}",
               payload, NULL, 0);
    bench("HS256", &policy, token, n);

    make_token(token, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rs\"}",
               payload, rsa, 0);
    bench("RS256", &policy, token, n);

    make_token(token, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"es\"}",
               payload, ec, 1);
    bench("ES256", &policy, token, n / 2 + 1);

    ngx_octopus_jwt_key_release(&keys[0]);
    ngx_octopus_jwt_key_release(&keys[1]);
    ngx_octopus_jwt_key_release(&keys[2]);

    return 0;
}
