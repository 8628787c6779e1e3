
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the strict JSON tokenizer used for JWT headers and claims.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_auth_json.h"


#define type_of(j, t)      ngx_octopus_auth_json_type(j, t)
#define string_of(j, t, b)  ngx_octopus_auth_json_string(j, t, b, sizeof(b))
#define JSON(x)            NGX_OCTOPUS_AUTH_JSON_##x


static ngx_octopus_auth_json_tok_t  toks[64];


static int
parse(ngx_octopus_auth_json_t *json, const char *doc)
{
    return ngx_octopus_auth_json_parse(json, doc, strlen(doc), toks, 64);
}


static void
test_valid(void **state)
{
    size_t                   i;
    ngx_octopus_auth_json_t  json;

    static const char  *docs[] = {
        "{}", "[]", " {\"a\" : 1 } ", "0", "-0.5e+10", "1E3", "\"x\"",
        "true", "false", "null", "[[[]]]", "{\"a\":{\"a\":{\"a\":1}}}",
        "{\"\\u00e9\":\"\\ud83d\\ude00\"}",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "{\"a\":1,\"b\":[1,2,{\"a\":2}],\"c\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    };

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        if (parse(&json, docs[i]) != 0) {
            fail_msg("refused: %s", docs[i]);
        }
    }
}


static void
test_invalid(void **state)
{
    size_t                   i;
    char                     deep[64];
    ngx_octopus_auth_json_t  json;

    static const char  *docs[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
        "{'a':1}", "01", "1.", ".5", "+1", "-", "1e", "NaN", "Infinity",
        "tru", "nul", "[1] x", "{} {}", "\"abc", "\"a\\x\"", "\"\\u12\"",
        "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\x01\"", "\"a\nb\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xc3\"",
        "{\"a\":1,\"a\":2}", "{\"exp\":1,\"\\u0065xp\":2}",
        "{\"a\":1 /* c */}", "[1 2]",
    };

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        if (parse(&json, docs[i]) == 0) {
            fail_msg("accepted: %s", docs[i]);
        }
    }

    /* a NUL inside the document */
    assert_int_equal(ngx_octopus_auth_json_parse(&json, "[1]\0", 4, toks, 64),
                     -1);

    /* depth: 16 levels pass, 17 do not */
    memset(deep, '[', 16);
    memset(deep + 16, ']', 16);
    deep[32] = '\0';
    assert_int_equal(parse(&json, deep), 0);
    memset(deep, '[', 17);
    memset(deep + 17, ']', 17);
    deep[34] = '\0';
    assert_int_equal(parse(&json, deep), -1);

    /* token limit */
    assert_int_equal(ngx_octopus_auth_json_parse(&json, "[1,2,3]", 7, toks, 3),
                     -1);
    assert_int_equal(ngx_octopus_auth_json_parse(&json, "[1,2,3]", 7, toks, 4),
                     0);
}


static void
test_access(void **state)
{
    int                      v, el;
    char                     buf[64];
    double                   d;
    ngx_octopus_auth_json_t  json;

    assert_int_equal(parse(&json, "{\"n\":{\"sub\":\"inner\",\"x\":[1]},"
                                  "\"sub\":\"al\\u0069ce\",\"exp\":1.5e3,"
                                  "\"aud\":[\"a\",\"b\\/c\",3],\"big\":1e999,"
                                  "\"e\":\"\\ud83d\\ude00\",\"t\":true}"), 0);

    v = ngx_octopus_auth_json_get(&json, 0, "sub");
    assert_int_equal(type_of(&json, v), JSON(STRING));
    assert_int_equal(string_of(&json, v, buf), 5);
    assert_string_equal(buf, "alice");
    assert_true(ngx_octopus_auth_json_string_eq(&json, v, "alice"));
    assert_false(ngx_octopus_auth_json_string_eq(&json, v, "alic"));
    assert_false(ngx_octopus_auth_json_string_eq(&json, v, "alicee"));
    assert_int_equal(ngx_octopus_auth_json_string(&json, v, buf, 5), -1);

    v = ngx_octopus_auth_json_get(&json, 0, "exp");
    assert_int_equal(ngx_octopus_auth_json_number(&json, v, &d), 0);
    assert_true(d == 1500.0);
    assert_int_equal(string_of(&json, v, buf), -1);

    v = ngx_octopus_auth_json_get(&json, 0, "big");
    assert_int_equal(ngx_octopus_auth_json_number(&json, v, &d), -1);

    v = ngx_octopus_auth_json_get(&json, 0, "aud");
    assert_int_equal(type_of(&json, v), JSON(ARRAY));
    assert_int_equal(json.toks[v].size, 3);
    el = ngx_octopus_auth_json_first(&json, v);
    assert_true(ngx_octopus_auth_json_string_eq(&json, el, "a"));
    el = ngx_octopus_auth_json_next(&json, el);
    assert_true(ngx_octopus_auth_json_string_eq(&json, el, "b/c"));
    el = ngx_octopus_auth_json_next(&json, el);
    assert_int_equal(type_of(&json, el), JSON(NUMBER));

    v = ngx_octopus_auth_json_get(&json, 0, "e");
    assert_int_equal(string_of(&json, v, buf), 4);
    assert_memory_equal(buf, "\xf0\x9f\x98\x80", 4);

    v = ngx_octopus_auth_json_get(&json, 0, "n");
    assert_int_equal(type_of(&json, v), JSON(OBJECT));
    assert_int_equal(json.toks[v].end - json.toks[v].start,
                     strlen("{\"sub\":\"inner\",\"x\":[1]}"));

    assert_int_equal(ngx_octopus_auth_json_type(&json,
                         ngx_octopus_auth_json_get(&json, 0, "t")),
                     NGX_OCTOPUS_AUTH_JSON_TRUE);
    assert_int_equal(ngx_octopus_auth_json_get(&json, 0, "x"), -1);
    assert_int_equal(ngx_octopus_auth_json_get(&json, 0, "missing"), -1);
    assert_int_equal(ngx_octopus_auth_json_get(&json, v + 100, "x"), -1);
    assert_int_equal(ngx_octopus_auth_json_first(&json, 0), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_access),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
