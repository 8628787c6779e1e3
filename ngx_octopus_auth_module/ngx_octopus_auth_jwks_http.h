
/*
 * Copyright (C) Octopus Guard authors
 *
 * The plain-C parts of the key-set client (no nginx headers, unit-tested
 * in t/unit/test_auth_jwks_http.c): https:// URLs, HTTP/1.0 responses,
 * the refresh interval.
 */


#ifndef _NGX_OCTOPUS_AUTH_JWKS_HTTP_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_JWKS_HTTP_H_INCLUDED_


#include <stddef.h>


#define NGX_OCTOPUS_JWKS_HTTP_MAX_URL      1023
#define NGX_OCTOPUS_JWKS_HTTP_MAX_HEADER   (16 * 1024)


typedef struct {
    const char  *authority;        /* host[:port], into the URL */
    size_t       authority_len;
    const char  *path;             /* "/..." into the URL, or "/" */
    size_t       path_len;
    const char  *query;            /* '?' in the path, or NULL */
} ngx_octopus_jwks_http_url_t;


typedef struct {
    const char  *body;             /* into the buffer */
    size_t       body_len;
    long         max_age;          /* Cache-Control: max-age, -1: none */
} ngx_octopus_jwks_http_response_t;


/*
 * https://authority[/path]: no user info, no fragment, no space, control
 * or non-ASCII byte, a host; 0, or -1 with a reason
 */
int ngx_octopus_jwks_http_url(const char *url, size_t len,
    ngx_octopus_jwks_http_url_t *out, const char **reason);

/*
 * The response read so far (eof: the server closed the connection):
 * 1 complete (a 200 with Content-Length bytes, or up to the end),
 * 0 incomplete, -1 refused with a reason.  Bodies over max_body are
 * refused, as are Transfer-Encoding and a bad Content-Length.
 */
int ngx_octopus_jwks_http_response(const char *buf, size_t len, int eof,
    size_t max_body, ngx_octopus_jwks_http_response_t *out,
    const char **reason);

/*
 * The next fetch after a good one: refresh, or max-age when shorter but
 * not under floor (nor under refresh if that is shorter than floor)
 */
long ngx_octopus_jwks_http_interval(long refresh, long max_age, long floor);


#endif /* _NGX_OCTOPUS_AUTH_JWKS_HTTP_H_INCLUDED_ */
