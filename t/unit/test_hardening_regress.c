
/*
 * Copyright (C) Octopus Guard authors
 *
 * Regression tests for what the fuzzers (t/fuzz/) found, one per finding;
 * the input that found it is kept in t/fuzz/regress/<target>/.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "ngx_octopus_auth_jwt.h"


static int
jwks_add(void *data, const ngx_octopus_jwt_key_t *key)
{
    EVP_PKEY_free(key->pkey);
    (*(int *) data)++;

    return 0;
}


/*
 * fuzz_jwks: a JWKS whose every key is skipped ("use" other than "sig")
 * was accepted with no key at all, while an empty "keys" array is refused
 */

static void
test_jwks_without_signature_key(void **state)
{
    int          n;
    char         err[256];
    const char  *json;

    json = "{\"keys\": [{\"kty\": \"RSS888888888888RSA\", \"use\": \"OKP\"}]}";

    n = 0;
    err[0] = '\0';
    assert_int_equal(ngx_octopus_jwks_parse(json, strlen(json), jwks_add, &n,
                                            err, sizeof(err)), -1);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "no signature key"));

    json = "{\"keys\":[{\"kty\":\"oct\",\"use\":\"enc\",\"k\":"
           "\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Y"
           "j0iPS4hcgUuTwjAzZr1Z9CAow\"},{\"kty\":\"oct\",\"k\":"
           "\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Y"
           "j0iPS4hcgUuTwjAzZr1Z9CAow\"}]}";

    n = 0;
    assert_int_equal(ngx_octopus_jwks_parse(json, strlen(json), jwks_add, &n,
                                            err, sizeof(err)), 0);
    assert_int_equal(n, 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_jwks_without_signature_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
