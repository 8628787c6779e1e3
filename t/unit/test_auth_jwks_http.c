
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the plain-C parts of the key-set client: which URLs are
 * refused, how a response is cut (status, Content-Length, end of the
 * connection, Transfer-Encoding, sizes, Cache-Control max-age) and the
 * refresh interval.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_auth_jwks_http.h"


static int
url(const char *s, ngx_octopus_jwks_http_url_t *out, const char **reason)
{
    return ngx_octopus_jwks_http_url(s, strlen(s), out, reason);
}


static void
test_url(void **state)
{
    char                          long_url[1100];
    const char                   *reason;
    ngx_octopus_jwks_http_url_t   u;

    assert_int_equal(url("https://idp.example/realms/x/certs", &u, &reason),
                     0);
    assert_int_equal(u.authority_len, 11);
    assert_memory_equal(u.authority, "idp.example", 11);
    assert_int_equal(u.path_len, 15);
    assert_memory_equal(u.path, "/realms/x/certs", 15);
    assert_null(u.query);

    assert_int_equal(url("HTTPS://idp:8443", &u, &reason), 0);
    assert_memory_equal(u.authority, "idp:8443", 8);
    assert_int_equal(u.path_len, 1);
    assert_memory_equal(u.path, "/", 1);

    assert_int_equal(url("https://[::1]:8443/c?x=1", &u, &reason), 0);
    assert_int_equal(u.authority_len, 10);
    assert_non_null(u.query);
    assert_string_equal(u.query, "?x=1");

    assert_int_equal(url("http://idp/certs", &u, &reason), -1);
    assert_string_equal(reason, "not an https:// URL");
    assert_int_equal(url("https://", &u, &reason), -1);
    assert_string_equal(reason, "no host");
    assert_int_equal(url("https:///certs", &u, &reason), -1);
    assert_int_equal(url("https://u:p@idp/certs", &u, &reason), -1);
    assert_string_equal(reason, "user info in it");
    assert_int_equal(url("https://idp/certs#x", &u, &reason), -1);
    assert_int_equal(url("https://idp/ce rts", &u, &reason), -1);
    assert_int_equal(url("https://idp/c\r\nX: y", &u, &reason), -1);
    assert_int_equal(url("https://idp/\xc3\xa9", &u, &reason), -1);
    assert_int_equal(url("https://idp\\evil/", &u, &reason), -1);
    assert_int_equal(url("https://idp?x=1", &u, &reason), -1);

    memset(long_url, 'a', sizeof(long_url) - 1);
    memcpy(long_url, "https://idp/", 12);
    long_url[1024] = '\0';
    assert_int_equal(url(long_url, &u, &reason), -1);
    assert_string_equal(reason, "longer than 1023 bytes");
    long_url[1023] = '\0';
    assert_int_equal(url(long_url, &u, &reason), 0);
}


static int
resp(const char *s, int eof, ngx_octopus_jwks_http_response_t *out,
    const char **reason)
{
    return ngx_octopus_jwks_http_response(s, strlen(s), eof, 64, out,
                                          reason);
}


static void
test_response(void **state)
{
    const char                        *reason;
    ngx_octopus_jwks_http_response_t   r;

    /* Content-Length: complete as soon as the bytes are there */

    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n{}",
                          0, &r, &reason), 0);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n{}",
                          1, &r, &reason), -1);
    assert_string_equal(reason, "truncated response");
    assert_int_equal(resp("HTTP/1.1 200 OK\r\ncontent-length:  4 \r\n\r\n"
                          "{\"\"}", 0, &r, &reason), 1);
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "{\"\"}", 4);
    assert_int_equal(r.max_age, -1);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n{}",
                          0, &r, &reason), -1);
    assert_string_equal(reason, "more bytes than Content-Length");

    /* no Content-Length: up to the end of the connection */

    assert_int_equal(resp("HTTP/1.0 200 OK\r\n\r\n{}", 0, &r, &reason), 0);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\n\r\n{}", 1, &r, &reason), 1);
    assert_int_equal(r.body_len, 2);
    assert_int_equal(resp("HTTP/1.0 200\r\n\r\n{}", 1, &r, &reason), 1);

    /* refusals */

    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-", 0, &r, &reason), 0);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-", 1, &r, &reason),
                     -1);
    assert_string_equal(reason, "truncated response header");
    assert_int_equal(resp("HTTP/1.0 404 Not Found\r\n\r\n", 1, &r, &reason),
                     -1);
    assert_string_equal(reason, "the server did not answer 200");
    assert_int_equal(resp("HTTP/1.0 2000 OK\r\n\r\n", 1, &r, &reason), -1);
    assert_int_equal(resp("HTTP/1.0 301 Moved\r\nLocation: https://x/\r\n"
                          "\r\n", 1, &r, &reason), -1);
    assert_int_equal(resp("SSH-2.0-OpenSSH\r\n\r\n", 1, &r, &reason), -1);
    assert_string_equal(reason, "not an HTTP response");
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                          "\r\n2\r\n{}\r\n0\r\n\r\n", 1, &r, &reason), -1);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
                          1, &r, &reason), -1);
    assert_string_equal(reason, "invalid Content-Length");
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n"
                          "Content-Length: 3\r\n\r\n{}", 1, &r, &reason), -1);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: 65\r\n\r\n",
                          0, &r, &reason), -1);
    assert_string_equal(reason, "response over 128k");
    assert_int_equal(resp("HTTP/1.0 200 OK\r\n\r\n"
                          "0123456789012345678901234567890123456789"
                          "0123456789012345678901234567890123456789",
                          0, &r, &reason), -1);
    assert_string_equal(reason, "response over 128k");
}


static void
test_max_age(void **state)
{
    const char                        *reason;
    ngx_octopus_jwks_http_response_t   r;

    assert_int_equal(resp("HTTP/1.0 200 OK\r\nCache-Control: public, "
                          "max-age=300, must-revalidate\r\n\r\n{}", 1, &r,
                          &reason), 1);
    assert_int_equal(r.max_age, 300);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\ncache-control: MAX-AGE=7\r\n"
                          "\r\n{}", 1, &r, &reason), 1);
    assert_int_equal(r.max_age, 7);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nCache-Control: s-maxage=5, "
                          "no-cache\r\n\r\n{}", 1, &r, &reason), 1);
    assert_int_equal(r.max_age, -1);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nCache-Control: max-age=x\r\n"
                          "\r\n{}", 1, &r, &reason), 1);
    assert_int_equal(r.max_age, -1);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nCache-Control: xmax-age=9\r\n"
                          "\r\n{}", 1, &r, &reason), 1);
    assert_int_equal(r.max_age, -1);
}


static void
test_interval(void **state)
{
    assert_int_equal(ngx_octopus_jwks_http_interval(600, -1, 30), 600);
    assert_int_equal(ngx_octopus_jwks_http_interval(600, 900, 30), 600);
    assert_int_equal(ngx_octopus_jwks_http_interval(600, 120, 30), 120);
    assert_int_equal(ngx_octopus_jwks_http_interval(600, 0, 30), 30);
    assert_int_equal(ngx_octopus_jwks_http_interval(600, 10, 30), 30);
    assert_int_equal(ngx_octopus_jwks_http_interval(10, 2, 30), 10);
    assert_int_equal(ngx_octopus_jwks_http_interval(1, 0, 30), 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_interval),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
