
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the canonical request path: what strict refuses, what
 * canonical rewrites and to what, header name classes, override values
 * and the "_method" query parameter.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_path.h"


/* "!reason" for a refusal, else the canonical path */

static const char *
canon(const char *raw, int policy, int lower)
{
    int             rc;
    size_t          len;
    const char     *reason;
    static char     buf[1024];
    unsigned char   out[512];

    reason = NULL;
    rc = ngx_octopus_path_canon((const unsigned char *) raw, strlen(raw),
                                policy, lower, out, &len, &reason);
    if (rc < 0) {
        assert_non_null(reason);
        snprintf(buf, sizeof(buf), "!%s", reason);
        return buf;
    }

    assert_true(len <= strlen(raw) + 1);
    assert_int_equal(rc, len != strlen(raw) || memcmp(out, raw, len) != 0);

    memcpy(buf, out, len);
    buf[len] = '\0';

    return buf;
}


#define S(raw)   canon(raw, NGX_OCTOPUS_PATH_STRICT, 0)
#define C(raw)   canon(raw, NGX_OCTOPUS_PATH_CANONICAL, 0)
#define CL(raw)  canon(raw, NGX_OCTOPUS_PATH_CANONICAL, 1)
#define SL(raw)  canon(raw, NGX_OCTOPUS_PATH_STRICT, 1)


static void
test_strict_refuses(void **state)
{
    /* the cases */
    assert_string_equal(S("/api/v1/admin;x/users"), "!path_parameter");
    assert_string_equal(S("/api/v1/x/..;/admin/users"), "!path_parameter");
    assert_string_equal(S("/api/v1/admin./users"), "!trailing_dot");
    assert_string_equal(S("/api/v1/accounts/42/withdraw;jsessionid=X"),
                        "!path_parameter");
    assert_string_equal(S("/api/v1/accounts/42;x=1/withdraw"),
                        "!path_parameter");
    assert_string_equal(S("/api/v1/accounts/42/withdraw."), "!trailing_dot");
    assert_string_equal(S("/api/v1/accounts/42/withdraw%20"),
                        "!trailing_whitespace");
    assert_string_equal(S("/api/v1/accounts/42/withdraw%09"),
                        "!trailing_whitespace");

    /* encoded forms */
    assert_string_equal(S("/a%3bx/b"), "!path_parameter");
    assert_string_equal(S("/a%2Fb"), "!encoded_slash");
    assert_string_equal(S("/a%2fb"), "!encoded_slash");
    assert_string_equal(S("/a\\b"), "!backslash");
    assert_string_equal(S("/a%5Cb"), "!backslash");
    assert_string_equal(S("/a/%2e%2e/b"), "!dot_segment");
    assert_string_equal(S("/a/%2E/b"), "!dot_segment");
    assert_string_equal(S("/a/../b"), "!dot_segment");
    assert_string_equal(S("/a/./b"), "!dot_segment");
    assert_string_equal(S("/a/.."), "!dot_segment");
    assert_string_equal(S("/a//b"), "!empty_segment");
    assert_string_equal(S("//a"), "!empty_segment");
    assert_string_equal(S("/a%00b"), "!control_character");
    assert_string_equal(S("/a\x01" "b"), "!control_character");
    assert_string_equal(S("/a%7f"), "!control_character");
    assert_string_equal(S("/a%09b"), "!control_character");
    assert_string_equal(S("/a%zz"), "!invalid_encoding");
    assert_string_equal(S("/a%2"), "!invalid_encoding");
    assert_string_equal(S("/a%"), "!invalid_encoding");
    assert_string_equal(S("/a%252e%252e/b"), "!double_encoding");
    assert_string_equal(S("/a%c0%ae%c0%ae/b"), "!invalid_utf8");
    assert_string_equal(S("/a%c0%af"), "!invalid_utf8");
    assert_string_equal(S("/a%ed%a0%80"), "!invalid_utf8");
    assert_string_equal(S("/a%ff"), "!invalid_utf8");
    assert_string_equal(S("/a#/../b"), "!fragment");
    assert_string_equal(S("a/b"), "!not_absolute");
    assert_string_equal(S(""), "!not_absolute");
    assert_string_equal(S("/a/..."), "!trailing_dot");
}


static void
test_strict_passes(void **state)
{
    assert_string_equal(S("/"), "/");
    assert_string_equal(S("/api/v1/portfolio"), "/api/v1/portfolio");
    assert_string_equal(S("/api/v1/admin/"), "/api/v1/admin/");
    assert_string_equal(S("/api/v1/accounts/+42/withdraw"),
                        "/api/v1/accounts/+42/withdraw");
    assert_string_equal(S("/api/v1/ADMIN/users"), "/api/v1/ADMIN/users");
    assert_string_equal(S("/a/.well-known/b.json"), "/a/.well-known/b.json");
    assert_string_equal(S("/a/..b/c"), "/a/..b/c");
    assert_string_equal(S("/files/a%20b"), "/files/a b");
    assert_string_equal(S("/%61dmin"), "/admin");
    assert_string_equal(S("/caf%C3%A9"), "/caf\xc3\xa9");
    assert_string_equal(S("/a%25b"), "/a%b");
    assert_string_equal(SL("/API/v1/Admin"), "/api/v1/admin");
}


static void
test_canonical(void **state)
{
    assert_string_equal(C("/api/v1/admin;x/users"), "/api/v1/admin/users");
    assert_string_equal(C("/api/v1/x/..;/admin/users"),
                        "/api/v1/admin/users");
    assert_string_equal(C("/api/v1/admin./users"), "/api/v1/admin/users");
    assert_string_equal(C("/api/v1/ADMIN/users"), "/api/v1/ADMIN/users");
    assert_string_equal(CL("/api/v1/ADMIN/users"), "/api/v1/admin/users");
    assert_string_equal(C("/api/v1/accounts/42/withdraw;jsessionid=X"),
                        "/api/v1/accounts/42/withdraw");
    assert_string_equal(C("/api/v1/accounts/42;x=1/withdraw"),
                        "/api/v1/accounts/42/withdraw");
    assert_string_equal(C("/api/v1/accounts/42/withdraw/"),
                        "/api/v1/accounts/42/withdraw/");
    assert_string_equal(C("/api/v1/accounts/42/withdraw."),
                        "/api/v1/accounts/42/withdraw");
    assert_string_equal(C("/api/v1/accounts/42/withdraw%20"),
                        "/api/v1/accounts/42/withdraw");
    assert_string_equal(C("/api/v1/accounts/42/withdraw%09"),
                        "/api/v1/accounts/42/withdraw");
    assert_string_equal(C("/api/v1/accounts/42/withdraw. %20."),
                        "/api/v1/accounts/42/withdraw");
    assert_string_equal(C("/a%3Bx/b"), "/a/b");
    assert_string_equal(C("/a/%2e%2e/b"), "/b");
    assert_string_equal(C("/a/./b/."), "/a/b/");
    assert_string_equal(C("/a/b/.."), "/a/");
    assert_string_equal(C("/a/.."), "/");
    assert_string_equal(C("/.."), "!above_root");
    assert_string_equal(C("/a/../.."), "!above_root");
    assert_string_equal(C("//a///b//"), "/a/b/");
    assert_string_equal(C("/;x"), "/");
    assert_string_equal(C("/a/;x/b"), "/a/b");
    assert_string_equal(C("/a#/../b"), "/a");
    assert_string_equal(C("/%61dmin"), "/admin");
    assert_string_equal(C("/a/..."), "!dot_segment");
    assert_string_equal(C("/a/. /b"), "!dot_segment");

    /* no single reading: still refused */
    assert_string_equal(C("/a%2Fb"), "!encoded_slash");
    assert_string_equal(C("/a\\b"), "!backslash");
    assert_string_equal(C("/a%5cb"), "!backslash");
    assert_string_equal(C("/a%00"), "!control_character");
    assert_string_equal(C("/a%09b"), "!control_character");
    assert_string_equal(C("/a%zz"), "!invalid_encoding");
    assert_string_equal(C("/a%252F"), "!double_encoding");
    assert_string_equal(C("/a%c0%ae"), "!invalid_utf8");

    /* unchanged */
    assert_string_equal(C("/api/v1/portfolio"), "/api/v1/portfolio");
    assert_string_equal(C("/"), "/");
}


static void
test_unchanged_flag(void **state)
{
    size_t          len;
    const char     *reason;
    unsigned char   out[64];

    assert_int_equal(ngx_octopus_path_canon((const unsigned char *) "/a/b", 4,
                                            NGX_OCTOPUS_PATH_CANONICAL, 0,
                                            out, &len, &reason), 0);
    assert_int_equal(ngx_octopus_path_canon((const unsigned char *) "/a//b", 5,
                                            NGX_OCTOPUS_PATH_CANONICAL, 0,
                                            out, &len, &reason), 1);
    assert_int_equal(len, 4);
    assert_int_equal(ngx_octopus_path_canon((const unsigned char *) "/A", 2,
                                            NGX_OCTOPUS_PATH_STRICT, 1,
                                            out, &len, &reason), 1);
}


static int
hclass(const char *name)
{
    return ngx_octopus_path_header_class((const unsigned char *) name,
                                         strlen(name));
}


static void
test_header_class(void **state)
{
    assert_int_equal(hclass("X-Octopus-User"), NGX_OCTOPUS_HEADER_IDENTITY);
    assert_int_equal(hclass("x-octopus-user"), NGX_OCTOPUS_HEADER_IDENTITY);
    assert_int_equal(hclass("X_Octopus_User"), NGX_OCTOPUS_HEADER_IDENTITY);
    assert_int_equal(hclass("X-Octopus_Role"), NGX_OCTOPUS_HEADER_IDENTITY);
    assert_int_equal(hclass("x_OCTOPUS-key_id"), NGX_OCTOPUS_HEADER_IDENTITY);
    assert_int_equal(hclass("X-Octopus-"), NGX_OCTOPUS_HEADER_IDENTITY);
    assert_int_equal(hclass("X-Octopus"), NGX_OCTOPUS_HEADER_OTHER);
    assert_int_equal(hclass("X-Octopusx"), NGX_OCTOPUS_HEADER_OTHER);
    assert_int_equal(hclass("X-HTTP-Method-Override"),
                     NGX_OCTOPUS_HEADER_OVERRIDE);
    assert_int_equal(hclass("x_http_method_override"),
                     NGX_OCTOPUS_HEADER_OVERRIDE);
    assert_int_equal(hclass("X-HTTP-Method"), NGX_OCTOPUS_HEADER_OVERRIDE);
    assert_int_equal(hclass("X-Method-Override"),
                     NGX_OCTOPUS_HEADER_OVERRIDE);
    assert_int_equal(hclass("X-HTTP-Methods"), NGX_OCTOPUS_HEADER_OTHER);
    assert_int_equal(hclass("X-HTTP-Method-Overrid"),
                     NGX_OCTOPUS_HEADER_OTHER);
    assert_int_equal(hclass("Host"), NGX_OCTOPUS_HEADER_OTHER);
    assert_int_equal(hclass(""), NGX_OCTOPUS_HEADER_OTHER);
}


static int
method(const char *v)
{
    return ngx_octopus_path_method((const unsigned char *) v, strlen(v));
}


static void
test_method(void **state)
{
    assert_int_equal(method("DELETE"), NGX_OCTOPUS_METHOD_DELETE);
    assert_int_equal(method(" delete "), NGX_OCTOPUS_METHOD_DELETE);
    assert_int_equal(method("Put"), NGX_OCTOPUS_METHOD_PUT);
    assert_int_equal(method("patch"), NGX_OCTOPUS_METHOD_PATCH);
    assert_int_equal(method("GET"), NGX_OCTOPUS_METHOD_GET);
    assert_int_equal(method("PURGE"), NGX_OCTOPUS_METHOD_UNKNOWN);
    assert_int_equal(method(""), NGX_OCTOPUS_METHOD_UNKNOWN);
    assert_int_equal(method("DELETEX"), NGX_OCTOPUS_METHOD_UNKNOWN);
    assert_int_equal(method("DEL\x05TE"), NGX_OCTOPUS_METHOD_UNKNOWN);
}


static const char *
qstrip(const char *args, int *removed, int *m, int *conflict)
{
    size_t          len;
    static char     buf[256];
    unsigned char   out[256];

    *m = -1;
    *conflict = 0;
    *removed = ngx_octopus_path_query_strip((const unsigned char *) args,
                                            strlen(args), out, &len, m,
                                            conflict);
    memcpy(buf, out, len);
    buf[len] = '\0';

    return buf;
}


static void
test_query(void **state)
{
    int  n, m, c;

    assert_string_equal(qstrip("a=1&b=2", &n, &m, &c), "a=1&b=2");
    assert_int_equal(n, 0);
    assert_int_equal(m, -1);

    assert_string_equal(qstrip("_method=DELETE", &n, &m, &c), "");
    assert_int_equal(n, 1);
    assert_int_equal(m, NGX_OCTOPUS_METHOD_DELETE);

    assert_string_equal(qstrip("a=1&_method=delete&b=2", &n, &m, &c),
                        "a=1&b=2");
    assert_int_equal(m, NGX_OCTOPUS_METHOD_DELETE);
    assert_int_equal(c, 0);

    assert_string_equal(qstrip("%5Fmethod=PUT&x", &n, &m, &c), "x");
    assert_int_equal(m, NGX_OCTOPUS_METHOD_PUT);

    assert_string_equal(qstrip("a=1;_method[]=PUT;b", &n, &m, &c), "a=1;b");
    assert_int_equal(n, 1);

    assert_string_equal(qstrip("_method=PUT&_method=DELETE", &n, &m, &c), "");
    assert_int_equal(n, 2);
    assert_int_equal(c, 1);

    assert_string_equal(qstrip("_method=PURGE", &n, &m, &c), "");
    assert_int_equal(m, NGX_OCTOPUS_METHOD_UNKNOWN);

    assert_string_equal(qstrip("_method", &n, &m, &c), "");
    assert_int_equal(m, NGX_OCTOPUS_METHOD_UNKNOWN);

    assert_string_equal(qstrip("_methods=1&x_method=2", &n, &m, &c),
                        "_methods=1&x_method=2");
    assert_int_equal(n, 0);

    /* PHP's spellings of the name (Laravel, Symfony read them) */
    assert_string_equal(qstrip("a=1&.method=DELETE", &n, &m, &c), "a=1");
    assert_int_equal(m, NGX_OCTOPUS_METHOD_DELETE);
    assert_string_equal(qstrip("%20_method=DELETE&b", &n, &m, &c), "b");
    assert_int_equal(n, 1);
    assert_string_equal(qstrip("++_method=PUT", &n, &m, &c), "");
    assert_int_equal(n, 1);
    assert_string_equal(qstrip("_method%00x=DELETE", &n, &m, &c), "");
    assert_int_equal(n, 1);
    assert_string_equal(qstrip("%2Emethod=PUT&_method%2e=1", &n, &m, &c),
                        "_method%2e=1");
    assert_int_equal(n, 1);
    assert_string_equal(qstrip("_method[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaa]=DELETE", &n, &m, &c), "");
    assert_int_equal(n, 1);
    assert_string_equal(qstrip("_METHOD=DELETE&x.method=1", &n, &m, &c),
                        "x.method=1");
    assert_int_equal(n, 1);

    assert_string_equal(qstrip("&&a", &n, &m, &c), "a");
    assert_string_equal(qstrip("", &n, &m, &c), "");
}


static int
mp(const char *body, int *m, int *conflict)
{
    *m = -1;
    *conflict = 0;

    return ngx_octopus_path_multipart_method((const unsigned char *) body,
                                             strlen(body),
                                             (const unsigned char *) "XyZ", 3,
                                             m, conflict);
}


static void
test_multipart(void **state)
{
    int                   n, m, c;
    size_t                len;
    const unsigned char  *b;
    const char           *ct;

    ct = "multipart/form-data; boundary=XyZ";
    len = ngx_octopus_path_multipart_boundary((const unsigned char *) ct,
                                              strlen(ct), &b);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "XyZ", 3);

    ct = "multipart/form-data; charset=utf-8; BOUNDARY=\"a b\"";
    len = ngx_octopus_path_multipart_boundary((const unsigned char *) ct,
                                              strlen(ct), &b);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "a b", 3);

    ct = "multipart/form-data";
    assert_int_equal(ngx_octopus_path_multipart_boundary(
                         (const unsigned char *) ct, strlen(ct), &b), 0);

    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name=\"amount\"\r\n\r\n"
           "10\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, 0);
    assert_int_equal(m, -1);

    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name=\"amount\"\r\n\r\n"
           "10\r\n"
           "--XyZ\r\n"
           "content-disposition: form-data; name=\"_method\"\r\n\r\n"
           "delete\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, 1);
    assert_int_equal(m, NGX_OCTOPUS_METHOD_DELETE);

    n = mp("preamble\r\n--XyZ\r\n"
           "Content-Disposition: form-data; name=_method\r\n"
           "Content-Type: text/plain\r\n\r\n"
           "PUT\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"_method\"\r\n\r\n"
           "DELETE\r\n"
           "--XyZ--", &m, &c);
    assert_int_equal(n, 2);
    assert_int_equal(c, 1);

    /* a file named _method is not the field */
    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name=\"f\"; "
           "filename=\"_method\"\r\n\r\n"
           "x\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, 0);

    /* what the parse cannot place is not passed on */
    n = mp("--XyZ\n"
           "Content-Disposition: form-data; name=\"_method\"\n\n"
           "DELETE\n"
           "--XyZ--\n", &m, &c);
    assert_int_equal(n, -1);

    /* PHP's spellings in a part the parse found */
    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name=\".method\"\r\n\r\n"
           "DELETE\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\" _method\"\r\n\r\n"
           "DELETE\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, 2);
    assert_int_equal(m, NGX_OCTOPUS_METHOD_DELETE);

    /* ASP.NET Core reads its form field "_METHOD" in any case */
    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name=\"_METHOD\"\r\n\r\n"
           "DELETE\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, 1);

    /* a name= the parse does not take as the part's name, name*= */
    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data;\vname=\"_method\"\r\n\r\n"
           "DELETE\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, -1);

    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name*=UTF-8''%5Fmethod\r\n\r\n"
           "DELETE\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, -1);

    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; NAME*=\"_method\"\r\n\r\n"
           "DELETE\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, -1);

    n = mp("no delimiter; name=\"_method\"", &m, &c);
    assert_int_equal(n, -1);

    n = mp("--XyZ\r\n"
           "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
           "; name=\"_method\"\r\n"
           "--XyZ--\r\n", &m, &c);
    assert_int_equal(n, -1);
}


static int
jm(const char *body)
{
    return ngx_octopus_path_json_method((const unsigned char *) body,
                                        strlen(body));
}


static void
test_json(void **state)
{
    assert_int_equal(jm("{\"qty\":1,\"side\":\"buy\"}"), 0);
    assert_int_equal(jm("{\"qty\":1,\"_method\":\"DELETE\"}"), 1);
    assert_int_equal(jm("{\"\\u005fmethod\":\"DELETE\"}"), 1);
    assert_int_equal(jm("{\"_\\u006Dethod\":1,\"_METHOD\":2}"), 2);
    assert_int_equal(jm("{\"a\":{\"b\":[\"_method\"]}}"), 1);
    assert_int_equal(jm("{\"_me\\thod\":1,\"_methods\":2,\"x_method\":3}"), 0);
    assert_int_equal(jm("not json \"_method"), 1);
    assert_int_equal(jm("{\"\\\"_method\":1}"), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_strict_refuses),
        cmocka_unit_test(test_strict_passes),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_unchanged_flag),
        cmocka_unit_test(test_header_class),
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
