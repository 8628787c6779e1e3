
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the secret strength estimate: the output of random
 * generators in every usual encoding passes by a wide margin, secrets made
 * by people (words, separators, repeats, sequences, years) do not.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_secret.h"


/*
 * Drawn from a seeded generator, so a run is repeatable: the estimate's
 * lowest value over these samples is printed and must clear the threshold
 * with a margin.
 */
#define SAMPLES  100000


static unsigned
bits(const char *s)
{
    return ngx_octopus_secret_bits((const unsigned char *) s, strlen(s));
}


static uint64_t  rng_state = 0x6f63746f70757321ULL;


/* splitmix64: uniform 64-bit values, good enough to stand for a CSPRNG */

static uint64_t
rng_next(void)
{
    uint64_t  z;

    z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static void
random_bytes(unsigned char *buf, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        if (i % 8 == 0) {
            v = rng_next();
        }

        buf[i] = (unsigned char) v;
        v >>= 8;
    }
}


/* base64 (RFC 4648 section 4) or base64url (section 5), no padding */

static size_t
b64(const unsigned char *in, size_t n, char *out, int url)
{
    static const char  std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char  safe[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    size_t       i, o;
    uint32_t     v;
    const char  *a;

    a = url ? safe : std;
    o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }

    if (n - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];

    } else if (n - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }

    out[o] = '\0';

    return o;
}


static void
check_random(const char *what, unsigned (*make)(char *out))
{
    int       i;
    char      buf[256];
    unsigned  b, min;

    min = (unsigned) -1;

    for (i = 0; i < SAMPLES; i++) {
        b = make(buf);

        if (b < min) {
            min = b;
        }
    }

    printf("    %s: lowest estimate of %d: %u bits\n", what, SAMPLES, min);

    /* a margin over the threshold, not just the threshold */
    assert_true(min >= NGX_OCTOPUS_SECRET_MIN_BITS + 8);
}


/* secrets.token_urlsafe(32): 32 bytes, base64url, 43 characters */

static unsigned
make_urlsafe(char *out)
{
    size_t         n;
    unsigned char  raw[32];

    random_bytes(raw, sizeof(raw));
    n = b64(raw, sizeof(raw), out, 1);
    assert_int_equal(n, 43);

    return ngx_octopus_secret_bits((unsigned char *) out, n);
}


/* tools/octopus-keygen jwt-secret: openssl rand -base64 48 */

static unsigned
make_keygen(char *out)
{
    size_t         n;
    unsigned char  raw[48];

    random_bytes(raw, sizeof(raw));
    n = b64(raw, sizeof(raw), out, 0);
    assert_int_equal(n, 64);

    return ngx_octopus_secret_bits((unsigned char *) out, n);
}


/* openssl rand -hex 32 */

static unsigned
make_hex(char *out)
{
    size_t         i;
    unsigned char  raw[32];

    random_bytes(raw, sizeof(raw));

    for (i = 0; i < sizeof(raw); i++) {
        sprintf(out + 2 * i, "%02x", raw[i]);
    }

    return ngx_octopus_secret_bits((unsigned char *) out, 64);
}


/* 32 raw bytes, e.g. a JWK "k" or head -c 32 /dev/urandom */

static unsigned
make_raw(char *out)
{
    random_bytes((unsigned char *) out, 32);

    return ngx_octopus_secret_bits((unsigned char *) out, 32);
}


static void
test_random_generators_pass(void **state)
{
    (void) state;

    check_random("token_urlsafe(32)", make_urlsafe);
    check_random("octopus-keygen (base64 of 48 bytes)", make_keygen);
    check_random("hex of 32 bytes", make_hex);
    check_random("32 raw bytes", make_raw);
}


static void
test_fixed_random_pass(void **state)
{
    (void) state;

    /* RFC 7515 appendix A.1's key, base64url; a keygen secret */
    assert_true(bits("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75"
                     "aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
                >= NGX_OCTOPUS_SECRET_MIN_BITS);
    assert_true(bits("q0Jp1x4Hh7c7m1yH2p0bq3m5mGgQf0QzZ3b0m2m6S1aX8u7Jv1Lk2"
                     "n9p4r6t8w0yA")
                >= NGX_OCTOPUS_SECRET_MIN_BITS);
}


/* hex or base64 of text is that text to a guesser trying encodings */

static void
test_encoded_text_refused(void **state)
{
    size_t       i;
    const char  *encoded[] = {
        /* base64 "correct horse battery staple", padded */
        "Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==",
        /* base64 "my_super_secret_jwt_signing_key_2024" */
        "bXlfc3VwZXJfc2VjcmV0X2p3dF9zaWduaW5nX2tleV8yMDI0",
        /* base64url of the same, unpadded */
        "Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ",
        /* hex "my_super_secret_key_for_jwt", lower and upper case */
        "6d795f73757065725f7365637265745f6b65795f666f725f6a7774",
        "6D795F73757065725F7365637265745F6B65795F666F725F6A7774",
        /* base64 of the hex of "correct horse battery staple" */
        "NjM2ZjcyNzI2NTYzNzQyMDY4NmY3MjczNjUyMDYyNjE3NDc0NjU3Mjc5MjA3Mzc0"
        "NjE3MDZjNjU=",
        NULL
    };

    for (i = 0; encoded[i]; i++) {
        printf("    \"%s\": %u bits\n", encoded[i], bits(encoded[i]));
        assert_true(bits(encoded[i]) < NGX_OCTOPUS_SECRET_MIN_BITS);
    }

    /* random bytes are not text: their encodings are estimated as sent */
    assert_true(bits("18RlsAtUK2fdhT4oBrDtUmYGd25OqAZXkjEXkNvNwjo")
                >= NGX_OCTOPUS_SECRET_MIN_BITS);
    assert_true(bits("11761bdea37ac983a119fd30e8ecc6d235c85d3b7e7c7403ce8ec0"
                     "abeaa0a28b")
                >= NGX_OCTOPUS_SECRET_MIN_BITS);
}


static void
test_human_made_refused(void **state)
{
    size_t       i;
    const char  *human[] = {
        /* 32 characters of lower-case words and underscores */
        "correct_horse_battery_staple_key",
        "trading_platform_jwt_secret_key1",
        "octopus_trading_hmac_secret_2026",
        "this_is_my_super_secret_jwt_key_",
        "please_change_me_before_go_live_",
        "your_very_long_secret_for_tokens",
        /* other shapes people use */
        "MySuperSecretTradingPlatformKey2024!",
        "correcthorsebatterystaplecorrecthorse",
        "Your-256-Bit-Secret-Your-256-Bit-Secret",
        "claims-secret-0123456789abcdefghijklmnopqrstuv",
        "attack-secret-0123456789abcdefghijklmnopqrstu",
        "ratelimit-auth-secret-0123456789abcdefghij",
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
        "secretsecretsecretsecretsecretsecret",
        "0123456789abcdef0123456789abcdef",
        "abcdefghijklmnopqrstuvwxyzABCDEF",
        "00000000000000000000000000000000",
        "passwordpassword1234567890123456",
        NULL
    };

    for (i = 0; human[i]; i++) {
        printf("    \"%s\": %u bits\n", human[i], bits(human[i]));
        assert_true(bits(human[i]) < NGX_OCTOPUS_SECRET_MIN_BITS);
    }
}


static void
test_costs(void **state)
{
    (void) state;

    /* a repeated character costs one character and its count */
    assert_true(bits("aaaaaaaa") <= 10);

    /* a sequence is as cheap */
    assert_true(bits("abcdefgh") <= 10);
    assert_true(bits("98765432") <= 10);

    /* a pronounceable word is cheaper than the same count of letters */
    assert_true(bits("platform") < bits("xqzvkwjp"));

    /* a repeated symbol costs less than a new one */
    assert_true(bits("ab_cd_ef") < bits("ab_cd-ef"));

    /* non-ASCII bytes are full bytes */
    assert_int_equal(ngx_octopus_secret_bits((unsigned char *) "\x81\xfe",
                                             2),
                     16);

    /* empty */
    assert_int_equal(ngx_octopus_secret_bits((unsigned char *) "", 0), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_generators_pass),
        cmocka_unit_test(test_fixed_random_pass),
        cmocka_unit_test(test_human_made_refused),
        cmocka_unit_test(test_encoded_text_refused),
        cmocka_unit_test(test_costs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
