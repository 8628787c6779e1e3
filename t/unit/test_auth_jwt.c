
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the plain C JWT core: base64url, algorithm pinning, HS /
 * RS / ES signatures (made here with OpenSSL directly), every claim rule,
 * the RFC 7515 A.1 example and JWKS parsing.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "ngx_octopus_auth_jwt.h"


#define NOW  1800000000L

static const char  *secret = "Vq7Lz0xN3kR8sT1bYw5cHj9mEa2gUo6dPf4iXeKtBnA";


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


/* header.payload, then the signature by kind: 'h' HMAC, 'r' RSA, 'e' EC */

static void
make_token(char *out, const char *header, const char *payload, int kind,
    EVP_PKEY *pkey)
{
    char            *p;
    size_t           n;
    unsigned int     len;
    unsigned char    sig[1024], raw[96];
    EVP_MD_CTX      *md;
    ECDSA_SIG       *es;
    const BIGNUM    *r, *s;
    const unsigned char  *q;

    b64url((const unsigned char *) header, strlen(header), out);
    p = out + strlen(out);
    *p++ = '.';
    b64url((const unsigned char *) payload, strlen(payload), p);
    p += strlen(p);

    if (kind == 'h') {
        HMAC(EVP_sha256(), secret, (int) strlen(secret),
             (unsigned char *) out, p - out, sig, &len);
        n = len;

    } else {
        md = EVP_MD_CTX_new();
        n = sizeof(sig);
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
                                            pkey), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &n, (unsigned char *) out,
                                        p - out), 1);
        EVP_MD_CTX_free(md);

        if (kind == 'e') {
            q = sig;
            es = d2i_ECDSA_SIG(NULL, &q, (long) n);
            assert_non_null(es);
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


static ngx_octopus_jwt_key_t  keys[3];
static ngx_octopus_jwt_policy_t  policy;
static EVP_PKEY  *rsa, *ec;


static int
setup(void **state)
{
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    if (rsa == NULL || ec == NULL) {
        return -1;
    }

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
        return -1;
    }

    return 0;
}


static int
teardown(void **state)
{
    ngx_octopus_jwt_key_release(&keys[0]);
    ngx_octopus_jwt_key_release(&keys[1]);
    ngx_octopus_jwt_key_release(&keys[2]);
    return 0;
}


static void
reset_policy(void)
{
    memset(&policy, 0, sizeof(policy));
    policy.keys = keys;
    policy.nkeys = 3;
    policy.issuer = "https://auth.octopus.trading";
    policy.audience = "octopus-api";
    policy.leeway = 30;
    policy.max_lifetime = 3600;
}


static ngx_octopus_jwt_status_e
check(const char *header, const char *payload, int kind, EVP_PKEY *pkey,
    const char *reason)
{
    char                      token[8192];
    ngx_octopus_jwt_result_t  res;
    ngx_octopus_jwt_status_e  st;

    make_token(token, header, payload, kind, pkey);
    ngx_octopus_jwt_verify(&policy, token, strlen(token), NOW, &res);

    if (reason) {
        assert_non_null(res.reason);
        assert_string_equal(res.reason, reason);

    } else if (res.status != NGX_OCTOPUS_JWT_OK) {
        fail_msg("refused: %s", res.reason);
    }

    st = res.status;

    return st;
}


#define CLAIMS(extra)                                                         \
    "{\"sub\":\"alice\",\"iss\":\"https://auth.octopus.trading\","            \
    "\"aud\":\"octopus-api\",\"iat\":1800000000,\"exp\":1800000600" extra "}"

#define HS  "{\"alg\":\"HS256\",\"kid\":\"hs\"}"


static void
test_b64url(void **state)
{
    size_t         n;
    unsigned char  out[16];

    assert_int_equal(ngx_octopus_jwt_b64url_decode("aGk", 3, out, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "hi", 2);

    assert_int_equal(ngx_octopus_jwt_b64url_decode("-_8", 3, out, &n), 0);
    assert_int_equal(ngx_octopus_jwt_b64url_decode("aGk=", 4, out, &n), -1);
    assert_int_equal(ngx_octopus_jwt_b64url_decode("aG+k", 4, out, &n), -1);
    assert_int_equal(ngx_octopus_jwt_b64url_decode("aGkxa", 5, out, &n), -1);
    /* "aGl" has non-zero unused bits: a second encoding of "hi" */
    assert_int_equal(ngx_octopus_jwt_b64url_decode("aGl", 3, out, &n), -1);
    assert_int_equal(ngx_octopus_jwt_b64url_decode("", 0, out, &n), 0);
    assert_int_equal(n, 0);
}


static void
test_alg(void **state)
{
    assert_int_equal(ngx_octopus_jwt_alg_parse("HS256", 5, 0),
                     NGX_OCTOPUS_JWT_HS256);
    assert_int_equal(ngx_octopus_jwt_alg_parse("hs256", 5, 0),
                     NGX_OCTOPUS_JWT_ALG_NONE);
    assert_int_equal(ngx_octopus_jwt_alg_parse("es384", 5, 1),
                     NGX_OCTOPUS_JWT_ES384);
    assert_int_equal(ngx_octopus_jwt_alg_parse("none", 4, 1),
                     NGX_OCTOPUS_JWT_ALG_NONE);
    assert_int_equal(ngx_octopus_jwt_alg_parse("HS2566", 6, 0),
                     NGX_OCTOPUS_JWT_ALG_NONE);
    assert_string_equal(ngx_octopus_jwt_alg_name(NGX_OCTOPUS_JWT_RS512),
                        "RS512");
}


static void
test_signatures(void **state)
{
    reset_policy();

    check(HS, CLAIMS(""), 'h', NULL, NULL);
    check("{\"alg\":\"RS256\",\"kid\":\"rs\"}", CLAIMS(""), 'r', rsa, NULL);
    check("{\"alg\":\"ES256\",\"kid\":\"es\"}", CLAIMS(""), 'e', ec, NULL);

    /* without kid: the keys of the token's algorithm are tried */
    check("{\"alg\":\"ES256\"}", CLAIMS(""), 'e', ec, NULL);
    check("{\"alg\":\"HS256\"}", CLAIMS(""), 'h', NULL, NULL);

    /* the key's algorithm is pinned */
    check("{\"alg\":\"HS256\",\"kid\":\"rs\"}", CLAIMS(""), 'h', NULL,
          "algorithm does not match the key");
    check("{\"alg\":\"RS256\",\"kid\":\"es\"}", CLAIMS(""), 'r', rsa,
          "algorithm does not match the key");
    check("{\"alg\":\"HS384\"}", CLAIMS(""), 'h', NULL, "unknown key");
    check("{\"alg\":\"HS256\",\"kid\":\"zz\"}", CLAIMS(""), 'h', NULL,
          "unknown key");

    /* the same keys without prepared contexts */
    {
        ngx_octopus_jwt_key_t  plain[3];

        memcpy(plain, keys, sizeof(plain));
        plain[0].hmac_inner = NULL;
        plain[1].vctx = NULL;
        plain[2].vctx = NULL;
        policy.keys = plain;

        check(HS, CLAIMS(""), 'h', NULL, NULL);
        check("{\"alg\":\"RS256\",\"kid\":\"rs\"}", CLAIMS(""), 'r', rsa,
              NULL);
        check("{\"alg\":\"ES256\",\"kid\":\"es\"}", CLAIMS(""), 'e', ec,
              NULL);
        check("{\"alg\":\"ES256\",\"kid\":\"es\"}", CLAIMS(""), 'r', rsa,
              "invalid signature");

        policy.keys = keys;
    }

    /* signed by another key of the right type */
    check("{\"alg\":\"ES256\",\"kid\":\"es\"}", CLAIMS(""), 'r', rsa,
          "invalid signature");

    check("{\"alg\":\"none\"}", CLAIMS(""), 'h', NULL,
          "algorithm none not accepted");
    check("{\"alg\":\"nOnE\"}", CLAIMS(""), 'h', NULL,
          "algorithm none not accepted");
    check("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", CLAIMS(""),
          'h', NULL, "unsupported critical header");
    check("{\"alg\":\"HS256\",\"kid\":7}", CLAIMS(""), 'h', NULL,
          "malformed token");
    check("{\"alg\":\"XS256\"}", CLAIMS(""), 'h', NULL,
          "unsupported algorithm");
    check("{\"kid\":\"hs\"}", CLAIMS(""), 'h', NULL, "malformed token");
    check("[1]", CLAIMS(""), 'h', NULL, "malformed token");
    check(HS, "\"str\"", 'h', NULL, "malformed token");
    check(HS, "{\"a\":1,\"a\":2}", 'h', NULL, "malformed token");
}


static void
test_claims(void **state)
{
    reset_policy();

    /* exp */
    check(HS, "{\"sub\":\"a\",\"iss\":\"https://auth.octopus.trading\","
              "\"aud\":\"octopus-api\"}", 'h', NULL, "missing exp claim");
    check(HS, CLAIMS(",\"exp\":\"x\"") , 'h', NULL, "malformed token");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":\"1800000600\"}", 'h', NULL,
          "invalid exp claim");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1799999980}", 'h', NULL, NULL);
    assert_int_equal(check(HS, "{\"iss\":\"https://auth.octopus.trading\","
                               "\"aud\":\"octopus-api\","
                               "\"exp\":1799999970}", 'h', NULL,
                           "token expired"),
                     NGX_OCTOPUS_JWT_EXPIRED);

    /* nbf and iat, with leeway */
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1800000600,\"nbf\":1800000030}",
          'h', NULL, NULL);
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1800000600,\"nbf\":1800000031}",
          'h', NULL, "token not yet valid");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1800000600,\"iat\":1800000031}",
          'h', NULL, "token issued in the future");

    /* lifetime: exp - iat, or exp - now without iat */
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"iat\":1800000000,\"exp\":1800003600}",
          'h', NULL, NULL);
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"iat\":1800000000,\"exp\":1800003601}",
          'h', NULL, "token lifetime too long");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1800007200}",
          'h', NULL, "token lifetime too long");

    /* iss and aud */
    check(HS, "{\"iss\":\"https://evil\",\"aud\":\"octopus-api\","
              "\"exp\":1800000600}", 'h', NULL, "invalid issuer");
    check(HS, "{\"aud\":\"octopus-api\",\"exp\":1800000600}", 'h', NULL,
          "invalid issuer");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":[\"x\","
              "\"octopus-api\"],\"exp\":1800000600}", 'h', NULL, NULL);
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":[\"x\"],"
              "\"exp\":1800000600}", 'h', NULL, "invalid audience");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api2\",\"exp\":1800000600}", 'h', NULL,
          "invalid audience");

    /* refresh tokens */
    check(HS, CLAIMS(",\"token_type\":\"refresh\""), 'h', NULL,
          "refresh token not accepted");
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1800000600,\"token_type\":"
              "\"refresh\"}", 'h', NULL, "refresh token not accepted");
    policy.allow_refresh = 1;
    check(HS, "{\"iss\":\"https://auth.octopus.trading\",\"aud\":"
              "\"octopus-api\",\"exp\":1800000600,\"token_type\":"
              "\"refresh\"}", 'h', NULL, NULL);

    /* not configured: not checked */
    policy.issuer = NULL;
    policy.audience = NULL;
    check(HS, "{\"exp\":1800000600}", 'h', NULL, NULL);
}


static void
test_malformed(void **state)
{
    char                      token[16384];
    ngx_octopus_jwt_result_t  res;

    reset_policy();

    memset(token, 'a', 9000);
    ngx_octopus_jwt_verify(&policy, token, 9000, NOW, &res);
    assert_string_equal(res.reason, "token too large");

    ngx_octopus_jwt_verify(&policy, "a.b", 3, NOW, &res);
    assert_string_equal(res.reason, "malformed token");

    ngx_octopus_jwt_verify(&policy, "..", 2, NOW, &res);
    assert_string_equal(res.reason, "malformed token");

    make_token(token, HS, CLAIMS(""), 'h', NULL);
    token[strlen(token) - 1] ^= 1;      /* tampered signature */
    ngx_octopus_jwt_verify(&policy, token, strlen(token), NOW, &res);
    assert_int_equal(res.status, NGX_OCTOPUS_JWT_INVALID);
}


/* every one-character change of a valid token is refused */

static void
test_mutations(void **state)
{
    int                       ok;
    char                      token[1024], orig;
    size_t                    i, j, len;
    ngx_octopus_jwt_result_t  res;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/"
        " \x01\xff";

    reset_policy();

    make_token(token, HS, CLAIMS(""), 'h', NULL);
    len = strlen(token);

    ngx_octopus_jwt_verify(&policy, token, len, NOW, &res);
    assert_int_equal(res.status, NGX_OCTOPUS_JWT_OK);

    ok = 0;

    for (i = 0; i < len; i++) {
        orig = token[i];

        for (j = 0; j < sizeof(alphabet) - 1; j++) {
            if (alphabet[j] == orig) {
                continue;
            }

            token[i] = alphabet[j];
            ngx_octopus_jwt_verify(&policy, token, len, NOW, &res);

            if (res.status == NGX_OCTOPUS_JWT_OK) {
                ok++;
            }
        }

        token[i] = orig;

        /* and each truncation */
        ngx_octopus_jwt_verify(&policy, token, i, NOW, &res);

        if (res.status == NGX_OCTOPUS_JWT_OK) {
            ok++;
        }
    }

    assert_int_equal(ok, 0);
}


static void
test_rfc7515_a1(void **state)
{
    size_t                    n;
    unsigned char             k[64];
    ngx_octopus_jwt_key_t     key;
    ngx_octopus_jwt_result_t  res;
    ngx_octopus_jwt_policy_t  p;

    static const char  *tok =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
        "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    static const char  *k64 =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4"
        "hcgUuTwjAzZr1Z9CAow";

    assert_int_equal(ngx_octopus_jwt_b64url_decode(k64, strlen(k64), k, &n),
                     0);
    assert_int_equal(n, 64);

    memset(&key, 0, sizeof(key));
    key.alg = NGX_OCTOPUS_JWT_HS256;
    key.secret = k;
    key.secret_len = n;
    assert_null(ngx_octopus_jwt_key_check(&key));

    memset(&p, 0, sizeof(p));
    p.keys = &key;
    p.nkeys = 1;
    p.issuer = "joe";

    /* in 2011 the example is valid: its signature verifies */
    ngx_octopus_jwt_verify(&p, tok, strlen(tok), 1300819000, &res);
    assert_int_equal(res.status, NGX_OCTOPUS_JWT_OK);

    /* today it is expired */
    ngx_octopus_jwt_verify(&p, tok, strlen(tok), NOW, &res);
    assert_int_equal(res.status, NGX_OCTOPUS_JWT_EXPIRED);
    assert_string_equal(res.reason, "token expired");

    /* the same with the precomputed HMAC states */
    assert_int_equal(ngx_octopus_jwt_key_prepare(&key), 0);

    ngx_octopus_jwt_verify(&p, tok, strlen(tok), 1300819000, &res);
    assert_int_equal(res.status, NGX_OCTOPUS_JWT_OK);

    ngx_octopus_jwt_verify(&p, tok, strlen(tok) - 1, 1300819000, &res);
    assert_int_equal(res.status, NGX_OCTOPUS_JWT_INVALID);

    ngx_octopus_jwt_key_release(&key);
}


static void
test_key_check(void **state)
{
    EVP_PKEY               *small;
    ngx_octopus_jwt_key_t   key;

    memset(&key, 0, sizeof(key));
    key.alg = NGX_OCTOPUS_JWT_HS256;
    key.secret = (const unsigned char *) "0123456789012345678901234567890";
    key.secret_len = 31;
    assert_string_equal(ngx_octopus_jwt_key_check(&key),
                        "HMAC secret shorter than 32 bytes");
    key.secret_len = 32;
    key.secret = (const unsigned char *) "01234567890123456789012345678901";
    assert_non_null(strstr(ngx_octopus_jwt_key_check(&key),
                           "looks made by a person"));
    key.secret = (const unsigned char *) "correct_horse_battery_staple_key";
    assert_non_null(strstr(ngx_octopus_jwt_key_check(&key),
                           "looks made by a person"));

    /* secrets.token_urlsafe(32) */
    key.secret = (const unsigned char *)
                 "bX3Q8wqkVt0Zr5m-J2cLhN7yF1aUeG9dKo4pTsIvWx6";
    key.secret_len = 43;
    assert_null(ngx_octopus_jwt_key_check(&key));

    key.alg = NGX_OCTOPUS_JWT_RS256;
    key.pkey = ec;
    assert_string_equal(ngx_octopus_jwt_key_check(&key),
                        "not an RSA public key");

    key.alg = NGX_OCTOPUS_JWT_ES384;
    assert_string_equal(ngx_octopus_jwt_key_check(&key),
                        "EC curve does not match the algorithm");

    small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    key.alg = NGX_OCTOPUS_JWT_RS256;
    key.pkey = small;
    assert_string_equal(ngx_octopus_jwt_key_check(&key),
                        "RSA key shorter than 2048 bits");
    EVP_PKEY_free(small);

    assert_null(ngx_octopus_jwt_pem_load("junk", 4));
}


static int  jwks_count;
static ngx_octopus_jwt_alg_e  jwks_algs[8];


static int
jwks_add(void *data, const ngx_octopus_jwt_key_t *key)
{
    jwks_algs[jwks_count++] = key->alg;
    EVP_PKEY_free(key->pkey);
    return 0;
}


static void
test_jwks(void **state)
{
    char        err[256], json[4096], n64[600], x64[64], y64[64];
    size_t      len;
    BIGNUM     *bn;
    unsigned char  buf[512], pub[65];

    /* RSA n and EC x, y from the generated keys */
    bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn),
                     1);
    len = BN_bn2bin(bn, buf);
    BN_free(bn);
    b64url(buf, len, n64);

    assert_int_equal(EVP_PKEY_get_octet_string_param(ec,
                         OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &len), 1);
    b64url(pub + 1, 32, x64);
    b64url(pub + 33, 32, y64);

    snprintf(json, sizeof(json),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\","
             "\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
             "\"y\":\"%s\"},{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":"
             "\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Y"
             "j0iPS4hcgUuTwjAzZr1Z9CAow\"},{\"kty\":\"RSA\",\"use\":\"enc\"}"
             "]}", n64, x64, y64);

    jwks_count = 0;
    assert_int_equal(ngx_octopus_jwks_parse(json, strlen(json), jwks_add,
                                            NULL, err, sizeof(err)), 0);
    assert_int_equal(jwks_count, 3);
    assert_int_equal(jwks_algs[0], NGX_OCTOPUS_JWT_RS256);
    assert_int_equal(jwks_algs[1], NGX_OCTOPUS_JWT_ES256);
    assert_int_equal(jwks_algs[2], NGX_OCTOPUS_JWT_HS512);

    /* a point not on the curve */
    snprintf(json, sizeof(json),
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
             "\"y\":\"%s\"}]}", x64, x64);
    assert_int_equal(ngx_octopus_jwks_parse(json, strlen(json), jwks_add,
                                            NULL, err, sizeof(err)), -1);

    strcpy(json, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}");
    assert_int_equal(ngx_octopus_jwks_parse(json, strlen(json), jwks_add,
                                            NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "shorter than 32"));

    assert_int_equal(ngx_octopus_jwks_parse("{", 1, jwks_add, NULL, err,
                                            sizeof(err)), -1);
    assert_int_equal(ngx_octopus_jwks_parse("{\"keys\":[]}", 11, jwks_add,
                                            NULL, err, sizeof(err)), -1);
    strcpy(json, "{\"keys\":[{\"kty\":\"OKP\"}]}");
    assert_int_equal(ngx_octopus_jwks_parse(json, strlen(json), jwks_add,
                                            NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unsupported \"kty\""));
}

/*
 * the verification cache: same answers as ngx_octopus_jwt_verify(), on a
 * fake allocator (malloc within a byte budget, every block tracked) and a
 * fake lock that checks it is never taken twice
 */

#define FAKE_MAX  4096

static struct {
    size_t   budget;
    size_t   used;
    int      locked;
    int      locks;
    size_t   n;
    void    *blocks[FAKE_MAX];
    size_t   sizes[FAKE_MAX];
} fake;


static void *
fake_alloc(void *data, size_t size)
{
    void  *p;

    assert_true(fake.locked || fake.locks == 0);

    if (fake.used + size > fake.budget || fake.n == FAKE_MAX) {
        return NULL;
    }

    p = malloc(size);
    assert_non_null(p);
    fake.blocks[fake.n] = p;
    fake.sizes[fake.n] = size;
    fake.n++;
    fake.used += size;

    return p;
}


static void
fake_free(void *data, void *p)
{
    size_t  i;

    assert_true(fake.locked);

    for (i = 0; i < fake.n; i++) {
        if (fake.blocks[i] == p) {
            fake.used -= fake.sizes[i];
            fake.n--;
            fake.blocks[i] = fake.blocks[fake.n];
            fake.sizes[i] = fake.sizes[fake.n];
            free(p);
            return;
        }
    }

    fail_msg("free of a block not allocated");
}


static void
fake_lock(void *data)
{
    assert_false(fake.locked);
    fake.locked = 1;
    fake.locks++;
}


static void
fake_unlock(void *data)
{
    assert_true(fake.locked);
    fake.locked = 0;
}


static void
fake_cache(ngx_octopus_jwt_cache_t *cache, size_t budget)
{
    size_t  i;

    for (i = 0; i < fake.n; i++) {
        free(fake.blocks[i]);
    }

    memset(&fake, 0, sizeof(fake));
    fake.budget = budget;

    memset(cache, 0, sizeof(ngx_octopus_jwt_cache_t));
    cache->alloc = fake_alloc;
    cache->free = fake_free;
    cache->lock = fake_lock;
    cache->unlock = fake_unlock;

    assert_int_equal(ngx_octopus_jwt_cache_init(cache, budget, 42), 0);
}


static void
fake_done(void)
{
    size_t  i;

    for (i = 0; i < fake.n; i++) {
        free(fake.blocks[i]);
    }

    memset(&fake, 0, sizeof(fake));
}


static ngx_octopus_jwt_status_e
cached(ngx_octopus_jwt_cache_t *cache, const char *token, time_t now,
    ngx_octopus_jwt_result_t *res)
{
    ngx_octopus_jwt_verify_cached(&policy, cache, token, strlen(token), now,
                                  res);
    assert_false(fake.locked);
    return res->status;
}


static void
test_cache(void **state)
{
    int                             v;
    char                            token[8192], other[8192], big[8192];
    char                            sub[16];
    size_t                          n;
    ngx_octopus_jwt_result_t        res;
    ngx_octopus_jwt_policy_t        saved;
    ngx_octopus_jwt_cache_t         cache;
    ngx_octopus_jwt_cache_stats_t   st;

    reset_policy();
    policy.generation = ngx_octopus_jwt_keys_fingerprint(keys, 3);
    assert_true(policy.generation != 0);

    fake_cache(&cache, 1024 * 1024);

    make_token(token, HS, CLAIMS(""), 'h', NULL);

    /* a miss verifies and stores; a hit gives the same claims */

    assert_int_equal(cached(&cache, token, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);
    assert_int_equal(cached(&cache, token, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.stored, 1);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, strlen(token) + 48);
    assert_ptr_equal(res.key, &keys[0]);
    assert_ptr_equal(res.claims.src, res.payload);
    v = ngx_octopus_auth_json_get(&res.claims, 0, "sub");
    assert_int_equal(ngx_octopus_auth_json_string(&res.claims, v, sub,
                                                  sizeof(sub)), 5);
    assert_string_equal(sub, "alice");

    /* the claims are checked again at every hit: expiry, with leeway */

    assert_int_equal(cached(&cache, token, 1800000600 + 29, &res),
                     NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, token, 1800000600 + 30, &res),
                     NGX_OCTOPUS_JWT_EXPIRED);
    assert_true(res.cached);
    assert_string_equal(res.reason, "token expired");
    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 0);       /* an expired token is dropped */
    assert_int_equal(st.bytes, 0);

    assert_int_equal(cached(&cache, token, 1800000600 + 30, &res),
                     NGX_OCTOPUS_JWT_EXPIRED);
    assert_false(res.cached);
    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 0);       /* failures are not stored */

    /* one changed byte of the signature: a miss and a refusal */

    assert_int_equal(cached(&cache, token, NOW, &res), NGX_OCTOPUS_JWT_OK);
    strcpy(other, token);
    n = strlen(other);
    other[n - 2] = other[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(cached(&cache, other, NOW, &res),
                     NGX_OCTOPUS_JWT_INVALID);
    assert_false(res.cached);
    assert_string_equal(res.reason, "invalid signature");

    /* one changed byte of the payload (the claims) as well */

    strcpy(other, token);
    other[40] = other[40] == 'A' ? 'B' : 'A';
    assert_int_not_equal(cached(&cache, other, NOW, &res),
                         NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);

    /* the first and the last byte (the compare's head and tail) */

    strcpy(other, token);
    other[0] = other[0] == 'e' ? 'f' : 'e';
    assert_int_not_equal(cached(&cache, other, NOW, &res),
                         NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);
    strcpy(other, token);
    other[n - 1] = other[n - 1] == 'A' ? 'Q' : 'A';
    assert_int_not_equal(cached(&cache, other, NOW, &res),
                         NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);

    /* a prefix or an extension of a cached token is not it */

    strcpy(other, token);
    other[n - 1] = '\0';
    assert_int_not_equal(cached(&cache, other, NOW, &res), NGX_OCTOPUS_JWT_OK);
    strcpy(other, token);
    strcat(other, "A");
    assert_int_not_equal(cached(&cache, other, NOW, &res), NGX_OCTOPUS_JWT_OK);
    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.entries, 1);

    /* another policy (another location) decides for itself at a hit */

    saved = policy;
    policy.audience = "another-api";
    assert_int_equal(cached(&cache, token, NOW, &res),
                     NGX_OCTOPUS_JWT_INVALID);
    assert_true(res.cached);
    assert_string_equal(res.reason, "invalid audience");
    policy = saved;

    {
        ngx_octopus_jwt_policy_t  strict = policy;

        strict.max_lifetime = 60;
        ngx_octopus_jwt_verify_cached(&strict, &cache, token, strlen(token),
                                      NOW, &res);
        assert_int_equal(res.status, NGX_OCTOPUS_JWT_INVALID);
        assert_string_equal(res.reason, "token lifetime too long");

        /* another key set, another generation: the HS token is not trusted */

        strict = policy;
        strict.keys = &keys[1];
        strict.nkeys = 2;
        strict.generation = ngx_octopus_jwt_keys_fingerprint(&keys[1], 2);
        assert_true(strict.generation != policy.generation);
        ngx_octopus_jwt_verify_cached(&strict, &cache, token, strlen(token),
                                      NOW, &res);
        assert_int_equal(res.status, NGX_OCTOPUS_JWT_INVALID);
        assert_false(res.cached);
        assert_string_equal(res.reason, "unknown key");

        /* the same generation number with fewer keys is never trusted */

        strict.keys = keys;
        strict.nkeys = 0;
        strict.generation = policy.generation;
        ngx_octopus_jwt_verify_cached(&strict, &cache, token, strlen(token),
                                      NOW, &res);
        assert_int_not_equal(res.status, NGX_OCTOPUS_JWT_OK);
        assert_false(res.cached);

        /* generation 0: the cache is not used at all */

        ngx_octopus_jwt_cache_stats(&cache, &st);
        strict = policy;
        strict.generation = 0;
        ngx_octopus_jwt_verify_cached(&strict, &cache, token, strlen(token),
                                      NOW, &res);
        assert_int_equal(res.status, NGX_OCTOPUS_JWT_OK);
        assert_false(res.cached);
        {
            ngx_octopus_jwt_cache_stats_t  after;

            ngx_octopus_jwt_cache_stats(&cache, &after);
            assert_int_equal(after.hits, st.hits);
            assert_int_equal(after.misses, st.misses);
        }
    }

    /* too large to keep: verified every time */

    ngx_octopus_jwt_cache_stats(&cache, &st);
    {
        char   payload[4096];
        size_t i;

        strcpy(payload, CLAIMS(",\"pad\":\""));
        payload[strlen(payload) - 1] = '\0';       /* drop the '}' */
        n = strlen(payload);
        for (i = 0; i < 2000; i++) {
            payload[n++] = 'x';
        }
        strcpy(payload + n, "\"}");
        make_token(big, HS, payload, 'h', NULL);
    }
    assert_true(strlen(big) > NGX_OCTOPUS_JWT_CACHE_MAX_TOKEN);
    assert_int_equal(cached(&cache, big, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, big, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);
    {
        ngx_octopus_jwt_cache_stats_t  after;

        ngx_octopus_jwt_cache_stats(&cache, &after);
        assert_int_equal(after.hits, st.hits);
        assert_int_equal(after.stored, st.stored);
    }

    /* RS256 and ES256 hit as well, with their own key */

    make_token(other, "{\"alg\":\"RS256\",\"kid\":\"rs\"}", CLAIMS(""), 'r',
               rsa);
    assert_int_equal(cached(&cache, other, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, other, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    assert_ptr_equal(res.key, &keys[1]);

    make_token(big, "{\"alg\":\"ES256\",\"kid\":\"es\"}", CLAIMS(""), 'e', ec);
    assert_int_equal(cached(&cache, big, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, big, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    assert_ptr_equal(res.key, &keys[2]);

    /* a second process's handle on the same shared part hits as well */

    {
        ngx_octopus_jwt_cache_t  second = cache;

        ngx_octopus_jwt_cache_stats(&cache, &st);
        assert_int_equal(cached(&second, token, NOW, &res),
                         NGX_OCTOPUS_JWT_OK);
        assert_true(res.cached);
        ngx_octopus_jwt_cache_stats(&second, &st);
        assert_int_equal(st.entries, 3);
    }

    /* no cache: plain verification */

    assert_int_equal(cached(NULL, token, NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);

    fake_done();
}


/* full: the least recently used goes, the others stay */

static void
test_cache_lru(void **state)
{
    int                             i;
    char                            tok[6][1024], claims[256];
    size_t                          entry, meta;
    ngx_octopus_jwt_result_t        res;
    ngx_octopus_jwt_cache_t         cache;
    ngx_octopus_jwt_cache_stats_t   st;

    reset_policy();
    policy.generation = ngx_octopus_jwt_keys_fingerprint(keys, 3);

    for (i = 0; i < 6; i++) {
        snprintf(claims, sizeof(claims), "{\"sub\":\"user%d\","
                 "\"iss\":\"https://auth.octopus.trading\","
                 "\"aud\":\"octopus-api\",\"iat\":1800000000,"
                 "\"exp\":1800000600}", i);
        make_token(tok[i], HS, claims, 'h', NULL);
        assert_int_equal(strlen(tok[i]), strlen(tok[0]));
    }

    entry = strlen(tok[0]) + 48;

    /* the shared part and 64 buckets, then room for three entries */

    fake_cache(&cache, 64 * 512);      /* the size gives the 64 buckets */
    meta = fake.used;
    fake.budget = meta + 3 * entry;

    assert_int_equal(cached(&cache, tok[0], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, tok[1], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, tok[2], NOW, &res), NGX_OCTOPUS_JWT_OK);

    /* 0 used again: 1 is the least recently used, and goes for 3 */

    assert_int_equal(cached(&cache, tok[0], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    assert_int_equal(cached(&cache, tok[3], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);

    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.entries, 3);

    assert_int_equal(cached(&cache, tok[0], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    assert_int_equal(cached(&cache, tok[2], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    assert_int_equal(cached(&cache, tok[3], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_true(res.cached);
    assert_int_equal(cached(&cache, tok[1], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);                  /* and 0 went for it */

    /* round robin over more tokens than fit: it keeps working */

    for (i = 0; i < 60; i++) {
        assert_int_equal(cached(&cache, tok[i % 6], NOW, &res),
                         NGX_OCTOPUS_JWT_OK);
    }

    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.entries, 3);
    assert_true(st.evicted >= 60);
    assert_int_equal(st.failed, 0);
    assert_true(fake.used <= fake.budget);

    fake_done();

    /* not even one entry fits: verified, not stored, nothing lost */

    fake_cache(&cache, 64 * 512);
    fake.budget = meta + entry - 1;
    assert_int_equal(cached(&cache, tok[0], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_int_equal(cached(&cache, tok[0], NOW, &res), NGX_OCTOPUS_JWT_OK);
    assert_false(res.cached);
    ngx_octopus_jwt_cache_stats(&cache, &st);
    assert_int_equal(st.failed, 2);
    assert_int_equal(st.entries, 0);
    fake_done();
}


static void
test_fingerprint(void **state)
{
    uint64_t               a, b;
    ngx_octopus_jwt_key_t  k[3];

    a = ngx_octopus_jwt_keys_fingerprint(keys, 3);
    assert_true(a != 0);
    assert_true(a == ngx_octopus_jwt_keys_fingerprint(keys, 3));

    /* the same keys copied elsewhere (another cycle): the same */

    memcpy(k, keys, sizeof(k));
    assert_true(a == ngx_octopus_jwt_keys_fingerprint(k, 3));

    /* fewer keys, another order, another kid, another secret: another */

    assert_true(a != ngx_octopus_jwt_keys_fingerprint(keys, 2));
    k[0] = keys[1];
    k[1] = keys[0];
    assert_true(a != ngx_octopus_jwt_keys_fingerprint(k, 3));

    memcpy(k, keys, sizeof(k));
    k[1].kid = "rs2";
    b = ngx_octopus_jwt_keys_fingerprint(k, 3);
    assert_true(a != b);

    memcpy(k, keys, sizeof(k));
    k[0].secret_len--;
    assert_true(a != ngx_octopus_jwt_keys_fingerprint(k, 3));

    memcpy(k, keys, sizeof(k));
    k[1].pkey = ec;
    assert_true(a != ngx_octopus_jwt_keys_fingerprint(k, 3));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_alg),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_rfc7515_a1),
        cmocka_unit_test(test_key_check),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_lru),
        cmocka_unit_test(test_fingerprint),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
