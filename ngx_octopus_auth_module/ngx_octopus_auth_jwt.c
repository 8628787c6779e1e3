
/*
 * Copyright (C) Octopus Guard authors
 *
 * JWT verification in plain C (no nginx headers): see
 * ngx_octopus_auth_jwt.h.  libjwt is not used on purpose: it accepts alg
 * confusion, "none" without a key, ignores "crit" and re-parses PEM keys
 * on every RS256 verification.
 */


#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <math.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <jansson.h>

#include "ngx_octopus_auth_jwt.h"
#include "ngx_octopus_secret.h"


static const struct {
    const char             *name;
    ngx_octopus_jwt_alg_e   alg;
} ngx_octopus_jwt_algs[] = {
    { "HS256", NGX_OCTOPUS_JWT_HS256 },
    { "HS384", NGX_OCTOPUS_JWT_HS384 },
    { "HS512", NGX_OCTOPUS_JWT_HS512 },
    { "RS256", NGX_OCTOPUS_JWT_RS256 },
    { "RS384", NGX_OCTOPUS_JWT_RS384 },
    { "RS512", NGX_OCTOPUS_JWT_RS512 },
    { "ES256", NGX_OCTOPUS_JWT_ES256 },
    { "ES384", NGX_OCTOPUS_JWT_ES384 },
    { NULL, NGX_OCTOPUS_JWT_ALG_NONE }
};


static const signed char  ngx_octopus_b64url_map[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};


ngx_octopus_jwt_alg_e
ngx_octopus_jwt_alg_parse(const char *name, size_t len, int caseless)
{
    size_t  i;

    for (i = 0; ngx_octopus_jwt_algs[i].name; i++) {
        if (len != 5) {
            break;
        }

        if (caseless
            ? strncasecmp(name, ngx_octopus_jwt_algs[i].name, 5) == 0
            : memcmp(name, ngx_octopus_jwt_algs[i].name, 5) == 0)
        {
            return ngx_octopus_jwt_algs[i].alg;
        }
    }

    return NGX_OCTOPUS_JWT_ALG_NONE;
}


const char *
ngx_octopus_jwt_alg_name(ngx_octopus_jwt_alg_e alg)
{
    size_t  i;

    for (i = 0; ngx_octopus_jwt_algs[i].name; i++) {
        if (ngx_octopus_jwt_algs[i].alg == alg) {
            return ngx_octopus_jwt_algs[i].name;
        }
    }

    return "none";
}


int
ngx_octopus_jwt_alg_is_hmac(ngx_octopus_jwt_alg_e alg)
{
    return alg == NGX_OCTOPUS_JWT_HS256 || alg == NGX_OCTOPUS_JWT_HS384
           || alg == NGX_OCTOPUS_JWT_HS512;
}


static const EVP_MD *
ngx_octopus_jwt_alg_md(ngx_octopus_jwt_alg_e alg)
{
    switch (alg) {
    case NGX_OCTOPUS_JWT_HS256:
    case NGX_OCTOPUS_JWT_RS256:
    case NGX_OCTOPUS_JWT_ES256:
        return EVP_sha256();
    case NGX_OCTOPUS_JWT_HS384:
    case NGX_OCTOPUS_JWT_RS384:
    case NGX_OCTOPUS_JWT_ES384:
        return EVP_sha384();
    case NGX_OCTOPUS_JWT_HS512:
    case NGX_OCTOPUS_JWT_RS512:
        return EVP_sha512();
    default:
        return NULL;
    }
}


/*
 * Strict base64url (RFC 7515 section 2): no padding, no whitespace, and
 * the unused low bits of the last character must be zero, so that every
 * byte string has exactly one encoding.  out must hold len * 3 / 4 bytes.
 */

int
ngx_octopus_jwt_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t *out_len)
{
    int            v;
    size_t         i, n;
    uint32_t       acc;
    unsigned       bits;

    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = ngx_octopus_b64url_map[(unsigned char) in[i]];
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    if (acc != 0) {
        return -1;
    }

    *out_len = n;

    return 0;
}


EVP_PKEY *
ngx_octopus_jwt_pem_load(const char *pem, size_t len)
{
    BIO       *bio;
    EVP_PKEY  *pkey;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NULL;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    BIO_free(bio);
    ERR_clear_error();

    return pkey;
}


const char *
ngx_octopus_jwt_key_check(const ngx_octopus_jwt_key_t *key)
{
    char   group[64];
    size_t glen;

    switch (key->alg) {

    case NGX_OCTOPUS_JWT_HS256:
    case NGX_OCTOPUS_JWT_HS384:
    case NGX_OCTOPUS_JWT_HS512:
        if (key->secret == NULL
            || key->secret_len < NGX_OCTOPUS_JWT_MIN_SECRET)
        {
            return "HMAC secret shorter than 32 bytes";
        }

        if (ngx_octopus_secret_bits(key->secret, key->secret_len)
            < NGX_OCTOPUS_SECRET_MIN_BITS)
        {
            return "HMAC secret looks made by a person, not random (words, "
                   "repeats or sequences: under 128 bits of estimated "
                   "entropy); create one with \"octopus-keygen jwt-secret\"";
        }
        return NULL;

    case NGX_OCTOPUS_JWT_RS256:
    case NGX_OCTOPUS_JWT_RS384:
    case NGX_OCTOPUS_JWT_RS512:
        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA)
        {
            return "not an RSA public key";
        }

        if (EVP_PKEY_get_bits(key->pkey) < NGX_OCTOPUS_JWT_MIN_RSA_BITS) {
            return "RSA key shorter than 2048 bits";
        }
        return NULL;

    case NGX_OCTOPUS_JWT_ES256:
    case NGX_OCTOPUS_JWT_ES384:
        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_EC)
        {
            return "not an EC public key";
        }

        if (EVP_PKEY_get_utf8_string_param(key->pkey,
                                           OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), &glen)
            != 1)
        {
            return "EC key without a named curve";
        }

        if (key->alg == NGX_OCTOPUS_JWT_ES256
            ? strcmp(group, "prime256v1") != 0
            : strcmp(group, "secp384r1") != 0)
        {
            return "EC curve does not match the algorithm";
        }
        return NULL;

    default:
        return "unsupported algorithm";
    }
}


static const char *
ngx_octopus_jwt_alg_md_name(ngx_octopus_jwt_alg_e alg)
{
    switch (alg) {
    case NGX_OCTOPUS_JWT_HS384:
    case NGX_OCTOPUS_JWT_RS384:
    case NGX_OCTOPUS_JWT_ES384:
        return "SHA384";
    case NGX_OCTOPUS_JWT_HS512:
    case NGX_OCTOPUS_JWT_RS512:
        return "SHA512";
    default:
        return "SHA256";
    }
}


int
ngx_octopus_jwt_key_prepare(ngx_octopus_jwt_key_t *key)
{
    int             bs;
    size_t          i;
    unsigned int    n;
    unsigned char   k[EVP_MAX_MD_SIZE > 128 ? EVP_MAX_MD_SIZE : 128];
    unsigned char   pad[128];

    key->md = EVP_MD_fetch(NULL, ngx_octopus_jwt_alg_md_name(key->alg), NULL);
    key->scratch = EVP_MD_CTX_new();

    if (key->md == NULL || key->scratch == NULL) {
        goto failed;
    }

    if (ngx_octopus_jwt_alg_is_hmac(key->alg)) {

        /* RFC 2104: the padded key states are computed once */

        bs = EVP_MD_get_block_size(key->md);
        if (bs <= 0 || bs > (int) sizeof(pad)) {
            goto failed;
        }

        memset(k, 0, sizeof(k));

        if (key->secret_len > (size_t) bs) {
            if (EVP_Digest(key->secret, key->secret_len, k, &n, key->md, NULL)
                != 1)
            {
                goto failed;
            }

        } else {
            memcpy(k, key->secret, key->secret_len);
        }

        key->hmac_inner = EVP_MD_CTX_new();
        key->hmac_outer = EVP_MD_CTX_new();

        if (key->hmac_inner == NULL || key->hmac_outer == NULL) {
            goto failed;
        }

        for (i = 0; i < (size_t) bs; i++) {
            pad[i] = k[i] ^ 0x36;
        }

        if (EVP_DigestInit_ex(key->hmac_inner, key->md, NULL) != 1
            || EVP_DigestUpdate(key->hmac_inner, pad, bs) != 1)
        {
            goto failed;
        }

        for (i = 0; i < (size_t) bs; i++) {
            pad[i] = k[i] ^ 0x5c;
        }

        if (EVP_DigestInit_ex(key->hmac_outer, key->md, NULL) != 1
            || EVP_DigestUpdate(key->hmac_outer, pad, bs) != 1)
        {
            goto failed;
        }

        OPENSSL_cleanse(k, sizeof(k));
        OPENSSL_cleanse(pad, sizeof(pad));

        return 0;
    }

    if (key->pkey == NULL) {
        goto failed;
    }

    key->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);

    if (key->vctx == NULL
        || EVP_PKEY_verify_init(key->vctx) != 1
        || EVP_PKEY_CTX_set_signature_md(key->vctx, key->md) != 1)
    {
        goto failed;
    }

    if (EVP_PKEY_get_base_id(key->pkey) == EVP_PKEY_RSA
        && EVP_PKEY_CTX_set_rsa_padding(key->vctx, RSA_PKCS1_PADDING) != 1)
    {
        goto failed;
    }

    return 0;

failed:

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));

    EVP_MD_CTX_free(key->hmac_inner);
    EVP_MD_CTX_free(key->hmac_outer);
    EVP_MD_CTX_free(key->scratch);
    EVP_PKEY_CTX_free(key->vctx);
    EVP_MD_free(key->md);

    key->hmac_inner = NULL;
    key->hmac_outer = NULL;
    key->scratch = NULL;
    key->vctx = NULL;
    key->md = NULL;

    return -1;
}


void
ngx_octopus_jwt_key_release(ngx_octopus_jwt_key_t *key)
{
    EVP_MD_CTX_free(key->hmac_inner);
    EVP_MD_CTX_free(key->hmac_outer);
    EVP_MD_CTX_free(key->scratch);
    EVP_PKEY_CTX_free(key->vctx);
    EVP_MD_free(key->md);
    EVP_PKEY_free(key->pkey);

    key->hmac_inner = NULL;
    key->hmac_outer = NULL;
    key->scratch = NULL;
    key->vctx = NULL;
    key->md = NULL;
    key->pkey = NULL;
}


static int
ngx_octopus_jwt_verify_hmac(const ngx_octopus_jwt_key_t *key,
    const char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    unsigned int    mac_len, inner_len;
    unsigned char   mac[EVP_MAX_MD_SIZE], inner[EVP_MAX_MD_SIZE];

    if (key->hmac_inner) {
        if (EVP_MD_CTX_copy_ex(key->scratch, key->hmac_inner) != 1
            || EVP_DigestUpdate(key->scratch, input, input_len) != 1
            || EVP_DigestFinal_ex(key->scratch, inner, &inner_len) != 1
            || EVP_MD_CTX_copy_ex(key->scratch, key->hmac_outer) != 1
            || EVP_DigestUpdate(key->scratch, inner, inner_len) != 1
            || EVP_DigestFinal_ex(key->scratch, mac, &mac_len) != 1)
        {
            return -1;
        }

        if (sig_len != mac_len) {
            return 0;
        }

        return CRYPTO_memcmp(mac, sig, mac_len) == 0;
    }

    if (HMAC(ngx_octopus_jwt_alg_md(key->alg), key->secret,
             (int) key->secret_len, (const unsigned char *) input, input_len,
             mac, &mac_len)
        == NULL)
    {
        return -1;
    }

    if (sig_len != mac_len) {
        return 0;
    }

    return CRYPTO_memcmp(mac, sig, mac_len) == 0;
}


static int
ngx_octopus_jwt_verify_pkey(const ngx_octopus_jwt_key_t *key,
    const char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    int             rc;
    size_t          half;
    BIGNUM         *r, *s;
    ECDSA_SIG      *esig;
    EVP_MD_CTX     *md;
    unsigned int    dlen;
    unsigned char  *p, der[160], digest[EVP_MAX_MD_SIZE];

    if (key->alg == NGX_OCTOPUS_JWT_ES256 || key->alg == NGX_OCTOPUS_JWT_ES384)
    {
        /* JWS carries R || S; OpenSSL wants a DER ECDSA-Sig-Value */

        half = (key->alg == NGX_OCTOPUS_JWT_ES256) ? 32 : 48;

        if (sig_len != 2 * half) {
            return 0;
        }

        esig = ECDSA_SIG_new();
        r = BN_bin2bn(sig, (int) half, NULL);
        s = BN_bin2bn(sig + half, (int) half, NULL);

        if (esig == NULL || r == NULL || s == NULL
            || ECDSA_SIG_set0(esig, r, s) != 1)
        {
            ECDSA_SIG_free(esig);
            BN_free(r);
            BN_free(s);
            return -1;
        }

        p = der;
        rc = i2d_ECDSA_SIG(esig, NULL);

        if (rc <= 0 || rc > (int) sizeof(der)) {
            ECDSA_SIG_free(esig);
            return -1;
        }

        sig_len = (size_t) i2d_ECDSA_SIG(esig, &p);
        ECDSA_SIG_free(esig);
        sig = der;
    }

    if (key->vctx) {
        /* the digest, then the raw verification on the prepared context */

        if (EVP_Digest(input, input_len, digest, &dlen, key->md, NULL) != 1) {
            return -1;
        }

        rc = EVP_PKEY_verify(key->vctx, sig, sig_len, digest, dlen);

        if (rc != 1) {
            /* nothing may stay in the queue for nginx's SSL code to find */
            ERR_clear_error();
        }

        return rc == 1;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return -1;
    }

    if (EVP_DigestVerifyInit(md, NULL, ngx_octopus_jwt_alg_md(key->alg), NULL,
                             key->pkey)
        != 1)
    {
        EVP_MD_CTX_free(md);
        return -1;
    }

    rc = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *) input,
                          input_len);

    EVP_MD_CTX_free(md);

    if (rc != 1) {
        /* nothing may stay in the queue for nginx's SSL code to find */
        ERR_clear_error();
    }

    return rc == 1;
}


static void
ngx_octopus_jwt_fail(ngx_octopus_jwt_result_t *res,
    ngx_octopus_jwt_status_e status, const char *reason)
{
    res->status = status;
    res->reason = reason;
}


static int
ngx_octopus_jwt_number(const ngx_octopus_auth_json_t *claims, const char *name,
    double *value)
{
    int  v;

    v = ngx_octopus_auth_json_get(claims, 0, name);
    if (v < 0) {
        return 0;
    }

    if (ngx_octopus_auth_json_number(claims, v, value) != 0) {
        return -1;
    }

    return 1;
}


static void
ngx_octopus_jwt_check_claims(const ngx_octopus_jwt_policy_t *policy,
    const ngx_octopus_auth_json_t *claims, time_t now,
    ngx_octopus_jwt_result_t *res)
{
    int       rc, has_iat, v, item;
    double    exp, nbf, iat, t, leeway;
    uint32_t  i;

    t = (double) now;
    leeway = (double) policy->leeway;

    v = ngx_octopus_auth_json_get(claims, 0, "token_type");
    if (!policy->allow_refresh
        && ngx_octopus_auth_json_string_eq(claims, v, "refresh"))
    {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID,
                             "refresh token not accepted");
        return;
    }

    rc = ngx_octopus_jwt_number(claims, "exp", &exp);
    if (rc == 0) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID, "missing exp claim");
        return;
    }

    if (rc < 0) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID, "invalid exp claim");
        return;
    }

    rc = ngx_octopus_jwt_number(claims, "nbf", &nbf);
    if (rc < 0) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID, "invalid nbf claim");
        return;
    }

    if (rc > 0 && nbf > t + leeway) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID,
                             "token not yet valid");
        return;
    }

    has_iat = ngx_octopus_jwt_number(claims, "iat", &iat);
    if (has_iat < 0) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID, "invalid iat claim");
        return;
    }

    if (has_iat > 0 && iat > t + leeway) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID,
                             "token issued in the future");
        return;
    }

    if (exp + leeway <= t) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_EXPIRED, "token expired");
        return;
    }

    if (policy->max_lifetime > 0
        && exp - (has_iat > 0 ? iat : t) > (double) policy->max_lifetime)
    {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID,
                             "token lifetime too long");
        return;
    }

    if (policy->issuer) {
        v = ngx_octopus_auth_json_get(claims, 0, "iss");

        if (!ngx_octopus_auth_json_string_eq(claims, v, policy->issuer)) {
            ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID,
                                 "invalid issuer");
            return;
        }
    }

    if (policy->audience) {
        v = ngx_octopus_auth_json_get(claims, 0, "aud");
        rc = ngx_octopus_auth_json_string_eq(claims, v, policy->audience);

        if (ngx_octopus_auth_json_type(claims, v)
            == NGX_OCTOPUS_AUTH_JSON_ARRAY)
        {
            item = ngx_octopus_auth_json_first(claims, v);

            for (i = 0; i < claims->toks[v].size; i++) {
                if (ngx_octopus_auth_json_string_eq(claims, item,
                                               policy->audience))
                {
                    rc = 1;
                    break;
                }

                item = ngx_octopus_auth_json_next(claims, item);
            }
        }

        if (!rc) {
            ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_INVALID,
                                 "invalid audience");
            return;
        }
    }

    res->status = NGX_OCTOPUS_JWT_OK;
    res->reason = NULL;
}


void
ngx_octopus_jwt_verify(const ngx_octopus_jwt_policy_t *policy,
    const char *token, size_t len, time_t now, ngx_octopus_jwt_result_t *res)
{
    int                           rc, tried, alg, kid, crit;
    size_t                        i, hlen, plen, slen, n;
    char                          kid_str[256];
    const char                   *dot1, *dot2;
    ngx_octopus_auth_json_t       header;
    ngx_octopus_jwt_alg_e         a;
    ngx_octopus_auth_json_tok_t   htoks[64];
    const ngx_octopus_jwt_key_t  *key;
    unsigned char                 hbuf[1024], sig[1024];
    char                          name[16];

    res->status = NGX_OCTOPUS_JWT_INVALID;
    res->key = NULL;
    res->cached = 0;
    memset(&res->claims, 0, sizeof(ngx_octopus_auth_json_t));

    if (len > NGX_OCTOPUS_JWT_MAX_TOKEN) {
        res->reason = "token too large";
        return;
    }

    res->reason = "malformed token";

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return;
    }

    dot2 = memchr(dot1 + 1, '.', token + len - dot1 - 1);
    if (dot2 == NULL || memchr(dot2 + 1, '.', token + len - dot2 - 1)) {
        return;
    }

    hlen = dot1 - token;
    plen = dot2 - dot1 - 1;
    slen = token + len - dot2 - 1;

    if (hlen == 0 || plen == 0 || hlen > sizeof(hbuf) * 4 / 3) {
        return;
    }

    /* header */

    if (ngx_octopus_jwt_b64url_decode(token, hlen, hbuf, &n) != 0
        || ngx_octopus_auth_json_parse(&header, (char *) hbuf, n, htoks, 64)
           != 0
        || ngx_octopus_auth_json_type(&header, 0)
           != NGX_OCTOPUS_AUTH_JSON_OBJECT)
    {
        return;
    }

    alg = ngx_octopus_auth_json_get(&header, 0, "alg");

    if (ngx_octopus_auth_json_string(&header, alg, name, sizeof(name)) < 0) {
        if (ngx_octopus_auth_json_type(&header, alg)
            == NGX_OCTOPUS_AUTH_JSON_STRING)
        {
            res->reason = "unsupported algorithm";
        }

        return;
    }

    if (strcasecmp(name, "none") == 0) {
        res->reason = "algorithm none not accepted";
        return;
    }

    a = ngx_octopus_jwt_alg_parse(name, strlen(name), 0);
    if (a == NGX_OCTOPUS_JWT_ALG_NONE) {
        res->reason = "unsupported algorithm";
        return;
    }

    crit = ngx_octopus_auth_json_get(&header, 0, "crit");
    if (crit >= 0) {
        /* no extension is understood: every "crit" is refused (RFC 7515) */
        res->reason = "unsupported critical header";
        return;
    }

    kid = ngx_octopus_auth_json_get(&header, 0, "kid");
    if (kid >= 0
        && ngx_octopus_auth_json_string(&header, kid, kid_str,
                                        sizeof(kid_str))
           < 0)
    {
        return;
    }

    /* payload */

    if (ngx_octopus_jwt_b64url_decode(dot1 + 1, plen,
                                      (unsigned char *) res->payload, &n)
        != 0
        || ngx_octopus_auth_json_parse(&res->claims, res->payload, n, res->toks,
                                  NGX_OCTOPUS_JWT_MAX_VALUES)
           != 0
        || ngx_octopus_auth_json_type(&res->claims, 0)
           != NGX_OCTOPUS_AUTH_JSON_OBJECT)
    {
        memset(&res->claims, 0, sizeof(ngx_octopus_auth_json_t));
        return;
    }

    /* signature: the key is chosen by kid, the algorithm pinned by the key */

    if (slen > sizeof(sig) * 4 / 3
        || ngx_octopus_jwt_b64url_decode(dot2 + 1, slen, sig, &n) != 0)
    {
        return;
    }

    if (n == 0) {
        res->reason = "invalid signature";
        return;
    }

    tried = 0;
    rc = 0;
    key = NULL;

    for (i = 0; i < policy->nkeys; i++) {
        key = &policy->keys[i];

        if (kid >= 0) {
            if (key->kid == NULL || strcmp(key->kid, kid_str) != 0) {
                continue;
            }

            if (key->alg != a) {
                res->reason = "algorithm does not match the key";
                return;
            }

        } else if (key->alg != a) {
            continue;
        }

        tried++;

        if (ngx_octopus_jwt_alg_is_hmac(a)) {
            rc = ngx_octopus_jwt_verify_hmac(key, token, dot2 - token, sig, n);

        } else {
            rc = ngx_octopus_jwt_verify_pkey(key, token, dot2 - token, sig, n);
        }

        if (rc != 0) {
            break;
        }
    }

    if (tried == 0) {
        res->reason = "unknown key";
        return;
    }

    if (rc < 0) {
        ngx_octopus_jwt_fail(res, NGX_OCTOPUS_JWT_ERROR, "internal error");
        return;
    }

    if (rc == 0) {
        res->reason = "invalid signature";
        return;
    }

    res->key = key;

    ngx_octopus_jwt_check_claims(policy, &res->claims, now, res);
}


/* for the verification cache */


void
ngx_octopus_jwt_verify_claims(const ngx_octopus_jwt_policy_t *policy,
    const ngx_octopus_jwt_key_t *key, const char *token, size_t len,
    time_t now, ngx_octopus_jwt_result_t *res)
{
    size_t       n;
    const char  *dot1, *dot2;

    res->status = NGX_OCTOPUS_JWT_INVALID;
    res->reason = "malformed token";
    res->key = NULL;
    res->cached = 1;
    memset(&res->claims, 0, sizeof(ngx_octopus_auth_json_t));

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return;
    }

    dot2 = memchr(dot1 + 1, '.', token + len - dot1 - 1);
    if (dot2 == NULL
        || (size_t) (dot2 - dot1 - 1) > sizeof(res->payload) * 4 / 3)
    {
        return;
    }

    if (ngx_octopus_jwt_b64url_decode(dot1 + 1, dot2 - dot1 - 1,
                                      (unsigned char *) res->payload, &n)
        != 0
        || ngx_octopus_auth_json_parse(&res->claims, res->payload, n,
                                       res->toks, NGX_OCTOPUS_JWT_MAX_VALUES)
           != 0
        || ngx_octopus_auth_json_type(&res->claims, 0)
           != NGX_OCTOPUS_AUTH_JSON_OBJECT)
    {
        memset(&res->claims, 0, sizeof(ngx_octopus_auth_json_t));
        return;
    }

    res->key = key;

    ngx_octopus_jwt_check_claims(policy, &res->claims, now, res);
}


static void
ngx_octopus_jwt_fp_part(EVP_MD_CTX *md, const void *data, size_t len)
{
    uint64_t  n;

    n = len;
    EVP_DigestUpdate(md, &n, sizeof(n));
    EVP_DigestUpdate(md, data, len);
}


uint64_t
ngx_octopus_jwt_keys_fingerprint(const ngx_octopus_jwt_key_t *keys,
    size_t nkeys)
{
    int             n;
    size_t          i;
    uint32_t        alg;
    uint64_t        fp;
    EVP_MD_CTX     *md;
    unsigned char  *der, digest[EVP_MAX_MD_SIZE];

    static const char  domain[] = "octopus auth key set v1";

    fp = 0;

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto done;
    }

    ngx_octopus_jwt_fp_part(md, domain, sizeof(domain) - 1);

    for (i = 0; i < nkeys; i++) {
        alg = (uint32_t) keys[i].alg;
        EVP_DigestUpdate(md, &alg, sizeof(alg));

        ngx_octopus_jwt_fp_part(md, keys[i].kid ? keys[i].kid : "",
                                keys[i].kid ? strlen(keys[i].kid) + 1 : 0);

        if (keys[i].secret) {
            ngx_octopus_jwt_fp_part(md, keys[i].secret, keys[i].secret_len);
        }

        if (keys[i].pkey) {
            der = NULL;
            n = i2d_PUBKEY(keys[i].pkey, &der);

            if (n <= 0) {
                goto done;
            }

            ngx_octopus_jwt_fp_part(md, der, (size_t) n);
            OPENSSL_free(der);
        }
    }

    if (EVP_DigestFinal_ex(md, digest, NULL) != 1) {
        goto done;
    }

    memcpy(&fp, digest, sizeof(fp));

    if (fp == 0) {
        fp = 1;
    }

done:

    /* 0 after an error: the cache is not used for these keys */

    EVP_MD_CTX_free(md);

    return fp;
}


/* JWKS */


static BIGNUM *
ngx_octopus_jwks_bn(json_t *jwk, const char *name, size_t max)
{
    json_t         *v;
    size_t          n;
    BIGNUM         *bn;
    unsigned char   buf[1024];
    const char     *s;

    v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        return NULL;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n == 0 || n > sizeof(buf) * 4 / 3 || n > max * 4 / 3 + 3) {
        return NULL;
    }

    if (ngx_octopus_jwt_b64url_decode(s, n, buf, &n) != 0 || n == 0) {
        return NULL;
    }

    bn = BN_bin2bn(buf, (int) n, NULL);

    return bn;
}


static EVP_PKEY *
ngx_octopus_jwks_rsa(json_t *jwk, const char **reason)
{
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    params = NULL;
    ctx = NULL;

    n = ngx_octopus_jwks_bn(jwk, "n", 1024);
    e = ngx_octopus_jwks_bn(jwk, "e", 16);
    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL) {
        *reason = "RSA key without valid \"n\" and \"e\"";
        goto done;
    }

    *reason = "invalid RSA key";

    if (bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
    {
        goto done;
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return pkey;
}


static EVP_PKEY *
ngx_octopus_jwks_ec(json_t *jwk, ngx_octopus_jwt_alg_e *alg,
    const char **reason)
{
    json_t          *crv;
    size_t           half, xl, yl;
    EVP_PKEY        *pkey;
    const char      *group;
    OSSL_PARAM       params[3];
    EVP_PKEY_CTX    *ctx;
    unsigned char    x[64], y[64], point[1 + 2 * 64];
    json_t          *vx, *vy;

    crv = json_object_get(jwk, "crv");

    if (json_is_string(crv) && strcmp(json_string_value(crv), "P-256") == 0) {
        group = "prime256v1";
        half = 32;
        *alg = NGX_OCTOPUS_JWT_ES256;

    } else if (json_is_string(crv)
               && strcmp(json_string_value(crv), "P-384") == 0)
    {
        group = "secp384r1";
        half = 48;
        *alg = NGX_OCTOPUS_JWT_ES384;

    } else {
        *reason = "unsupported EC curve";
        return NULL;
    }

    vx = json_object_get(jwk, "x");
    vy = json_object_get(jwk, "y");

    if (!json_is_string(vx) || !json_is_string(vy)
        || json_string_length(vx) > 86 || json_string_length(vy) > 86
        || ngx_octopus_jwt_b64url_decode(json_string_value(vx),
                                         json_string_length(vx), x, &xl)
           != 0
        || ngx_octopus_jwt_b64url_decode(json_string_value(vy),
                                         json_string_length(vy), y, &yl)
           != 0
        || xl != half || yl != half)
    {
        *reason = "EC key without valid \"x\" and \"y\"";
        return NULL;
    }

    point[0] = 0x04;
    memcpy(point + 1, x, half);
    memcpy(point + 1 + half, y, half);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, 1 + 2 * half);
    params[2] = OSSL_PARAM_construct_end();

    pkey = NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

    if (ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        *reason = "invalid EC key (point not on the curve?)";
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);

    return pkey;
}


int
ngx_octopus_jwks_parse(const char *json, size_t len,
    ngx_octopus_jwks_add_pt add, void *data, char *err, size_t err_len)
{
    int                    rc;
    size_t                 i, n, added;
    json_t                *root, *keys, *jwk, *v;
    const char            *kty, *reason, *kid;
    json_error_t           jerr;
    ngx_octopus_jwt_key_t  key;
    ngx_octopus_jwt_alg_e  alg, jalg;
    unsigned char          secret[1024];

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, err_len, "invalid JSON at line %d: %s", jerr.line,
                 jerr.text);
        return -1;
    }

    keys = json_object_get(root, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        snprintf(err, err_len, "no \"keys\" array");
        json_decref(root);
        return -1;
    }

    rc = 0;
    added = 0;

    json_array_foreach(keys, i, jwk) {

        memset(&key, 0, sizeof(ngx_octopus_jwt_key_t));
        reason = NULL;
        kid = NULL;

        v = json_object_get(jwk, "use");
        if (json_is_string(v) && strcmp(json_string_value(v), "sig") != 0) {
            continue;
        }

        v = json_object_get(jwk, "kid");
        if (v != NULL && !json_is_string(v)) {
            reason = "\"kid\" is not a string";
            goto failed;
        }

        kid = v ? json_string_value(v) : NULL;
        key.kid = kid;

        v = json_object_get(jwk, "kty");
        if (!json_is_string(v)) {
            reason = "missing \"kty\"";
            goto failed;
        }

        kty = json_string_value(v);

        jalg = NGX_OCTOPUS_JWT_ALG_NONE;
        alg = NGX_OCTOPUS_JWT_ALG_NONE;
        v = json_object_get(jwk, "alg");

        if (v != NULL) {
            if (!json_is_string(v)) {
                reason = "\"alg\" is not a string";
                goto failed;
            }

            jalg = ngx_octopus_jwt_alg_parse(json_string_value(v),
                                             json_string_length(v), 0);
            if (jalg == NGX_OCTOPUS_JWT_ALG_NONE) {
                reason = "unsupported \"alg\"";
                goto failed;
            }
        }

        if (strcmp(kty, "RSA") == 0) {
            key.alg = jalg ? jalg : NGX_OCTOPUS_JWT_RS256;
            key.pkey = ngx_octopus_jwks_rsa(jwk, &reason);

        } else if (strcmp(kty, "EC") == 0) {
            key.pkey = ngx_octopus_jwks_ec(jwk, &alg, &reason);
            key.alg = jalg ? jalg : alg;

        } else if (strcmp(kty, "oct") == 0) {
            key.alg = jalg ? jalg : NGX_OCTOPUS_JWT_HS256;
            v = json_object_get(jwk, "k");

            if (!json_is_string(v) || json_string_length(v) > 1300
                || ngx_octopus_jwt_b64url_decode(json_string_value(v),
                                                 json_string_length(v),
                                                 secret, &n)
                   != 0)
            {
                reason = "oct key without valid \"k\"";
                goto failed;
            }

            key.secret = secret;
            key.secret_len = n;

        } else {
            reason = "unsupported \"kty\"";
            goto failed;
        }

        if (key.pkey || key.secret) {
            reason = ngx_octopus_jwt_key_check(&key);

        } else if (reason == NULL) {
            reason = "invalid key";
        }

        if (reason == NULL) {
            if (add(data, &key) != 0) {
                EVP_PKEY_free(key.pkey);
                OPENSSL_cleanse(secret, sizeof(secret));
                snprintf(err, err_len, "key %zu: cannot be added", i);
                rc = -1;
                break;
            }

            OPENSSL_cleanse(secret, sizeof(secret));
            added++;
            continue;
        }

    failed:

        EVP_PKEY_free(key.pkey);
        OPENSSL_cleanse(secret, sizeof(secret));
        snprintf(err, err_len, "key %zu%s%s%s: %s", i,
                 kid ? " (kid \"" : "", kid ? kid : "", kid ? "\")" : "",
                 reason ? reason : "invalid key");
        rc = -1;
        break;
    }

    if (rc == 0 && added == 0) {
        /* every key was for encryption: the set verifies nothing */
        snprintf(err, err_len, "no signature key (all \"use\" not \"sig\")");
        rc = -1;
    }

    json_decref(root);
    ERR_clear_error();

    return rc;
}
