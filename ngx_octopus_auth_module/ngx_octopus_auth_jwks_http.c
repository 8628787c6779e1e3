
/*
 * Copyright (C) Octopus Guard authors
 *
 * The plain-C parts of the key-set client: see ngx_octopus_auth_jwks_http.h.
 */


#include <string.h>
#include <strings.h>

#include "ngx_octopus_auth_jwks_http.h"


int
ngx_octopus_jwks_http_url(const char *url, size_t len,
    ngx_octopus_jwks_http_url_t *out, const char **reason)
{
    size_t       i;
    const char  *p, *last, *a;

    if (len > NGX_OCTOPUS_JWKS_HTTP_MAX_URL) {
        *reason = "longer than 1023 bytes";
        return -1;
    }

    if (len < sizeof("https://") - 1
        || strncasecmp(url, "https://", sizeof("https://") - 1) != 0)
    {
        *reason = "not an https:// URL";
        return -1;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) url[i];

        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\') {
            *reason = "a space, control, non-ASCII, \"\\\" or \"#\" in it";
            return -1;
        }
    }

    last = url + len;
    a = url + sizeof("https://") - 1;

    for (p = a; p < last && *p != '/' && *p != '?'; p++) {
        if (*p == '@') {
            *reason = "user info in it";
            return -1;
        }
    }

    if (p == a) {
        *reason = "no host";
        return -1;
    }

    out->authority = a;
    out->authority_len = p - a;

    if (p == last) {
        out->path = "/";
        out->path_len = 1;
        out->query = NULL;
        return 0;
    }

    if (*p == '?') {
        *reason = "a query without a path";
        return -1;
    }

    out->path = p;
    out->path_len = last - p;
    out->query = memchr(p, '?', last - p);

    return 0;
}


static const char *
ngx_octopus_jwks_http_find(const char *p, const char *last, const char *s,
    size_t n)
{
    for ( /* void */ ; (size_t) (last - p) >= n; p++) {
        if (strncasecmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


static int
ngx_octopus_jwks_http_number(const char *p, const char *last, long *n)
{
    long  v;

    if (p == last) {
        return -1;
    }

    for (v = 0; p < last; p++) {
        if (*p < '0' || *p > '9' || v > 100000000L) {
            return -1;
        }

        v = v * 10 + (*p - '0');
    }

    *n = v;

    return 0;
}


int
ngx_octopus_jwks_http_response(const char *buf, size_t len, int eof,
    size_t max_body, ngx_octopus_jwks_http_response_t *out,
    const char **reason)
{
    long         clen, age;
    const char  *p, *last, *end, *line, *next, *q, *v, *d;

    last = buf + len;
    end = ngx_octopus_jwks_http_find(buf, last, "\r\n\r\n", 4);

    if (end == NULL) {
        if (len > NGX_OCTOPUS_JWKS_HTTP_MAX_HEADER) {
            *reason = "response header over 16k";
            return -1;
        }

        *reason = "truncated response header";
        return eof ? -1 : 0;
    }

    /* the status line: HTTP/1.x 200 */

    if (end - buf < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
    {
        *reason = "not an HTTP response";
        return -1;
    }

    if (strncmp(buf + 9, "200", 3) != 0
        || (buf[12] != ' ' && buf[12] != '\r'))
    {
        *reason = "the server did not answer 200";
        return -1;
    }

    clen = -1;
    out->max_age = -1;

    line = memchr(buf, '\n', end - buf);
    line = line ? line + 1 : end;

    for ( /* void */ ; line < end; line = next + 1) {

        next = memchr(line, '\n', end + 2 - line);
        if (next == NULL) {
            break;
        }

        q = next;
        if (q > line && q[-1] == '\r') {
            q--;
        }

        v = memchr(line, ':', q - line);
        if (v == NULL) {
            continue;
        }

        p = v + 1;
        while (p < q && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (q > p && (q[-1] == ' ' || q[-1] == '\t')) {
            q--;
        }

        if (v - line == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            if (clen != -1
                || ngx_octopus_jwks_http_number(p, q, &clen) != 0)
            {
                *reason = "invalid Content-Length";
                return -1;
            }

        } else if (v - line == 17
                   && strncasecmp(line, "Transfer-Encoding", 17) == 0)
        {
            *reason = "a Transfer-Encoding answer to an HTTP/1.0 request";
            return -1;

        } else if (v - line == 13
                   && strncasecmp(line, "Cache-Control", 13) == 0)
        {
            v = ngx_octopus_jwks_http_find(p, q, "max-age=", 8);

            if (v && (v == p || v[-1] == ' ' || v[-1] == ',')) {
                v += 8;

                for (d = v; d < q && *d >= '0' && *d <= '9'; d++) {
                    /* void */
                }

                if (ngx_octopus_jwks_http_number(v, d, &age) == 0) {
                    out->max_age = age;
                }
            }
        }
    }

    out->body = end + 4;
    out->body_len = last - out->body;

    if (out->body_len > max_body
        || (clen >= 0 && (size_t) clen > max_body))
    {
        *reason = "response over 128k";
        return -1;
    }

    if (clen >= 0) {
        if (out->body_len > (size_t) clen) {
            *reason = "more bytes than Content-Length";
            return -1;
        }

        if (out->body_len < (size_t) clen) {
            *reason = "truncated response";
            return eof ? -1 : 0;
        }

        return 1;
    }

    return eof ? 1 : 0;
}


long
ngx_octopus_jwks_http_interval(long refresh, long max_age, long floor)
{
    long  min;

    if (max_age < 0 || max_age >= refresh) {
        return refresh;
    }

    min = floor < refresh ? floor : refresh;

    return max_age > min ? max_age : min;
}
