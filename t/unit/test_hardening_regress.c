
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
#include "ngx_octopus_redis_reply.h"


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


/*
 * fuzz_redis_reply: hiredis 0.14.1 callocs a declared "*1222222222" (9.7 GB)
 * and walks it when freeing; the modules' reply functions refuse it
 */

static void
test_redis_reply_bounded(void **state)
{
    void         *reply;
    redisReply   *r;
    redisReader  *reader;
    const char   *ok = "*4\r\n:1\r\n$2\r\nab\r\n*-1\r\n+OK\r\n";

    reader = redisReaderCreateWithFunctions(
                 ngx_octopus_redis_reply_functions());
    assert_non_null(reader);

    assert_int_equal(redisReaderFeed(reader, ok, strlen(ok)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
    r = reply;
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 4);
    assert_int_equal(r->element[0]->integer, 1);
    assert_string_equal(r->element[1]->str, "ab");
    assert_int_equal(r->element[2]->type, REDIS_REPLY_NIL);
    assert_string_equal(r->element[3]->str, "OK");
    freeReplyObject(r);

    assert_int_equal(redisReaderFeed(reader, "*1222222222\r\n", 13),
                     REDIS_OK);
    reply = NULL;
    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_ERR);
    assert_null(reply);

    redisReaderFree(reader);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_jwks_without_signature_key),
        cmocka_unit_test(test_redis_reply_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
