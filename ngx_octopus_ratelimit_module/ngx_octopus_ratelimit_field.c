
/*
 * Copyright (C) Octopus Guard authors
 *
 * A bounded, allocation-free scanner: it walks the body once, decodes only
 * the keys at the top level of the object and the value it returns, and
 * gives up on anything malformed or nested deeper than it can track.
 */


#include <string.h>

#include "ngx_octopus_ratelimit_field.h"


#define NGX_OCTOPUS_RL_JSON_DEPTH  64
#define NGX_OCTOPUS_RL_KEY_MAX     256


typedef unsigned char  u8;


static const u8 *ngx_octopus_rl_json_ws(const u8 *p, const u8 *end);
static const u8 *ngx_octopus_rl_json_string(const u8 *p, const u8 *end,
    u8 *out, size_t outsz, size_t *outlen, int *overflow);
static const u8 *ngx_octopus_rl_json_skip(const u8 *p, const u8 *end);
static size_t ngx_octopus_rl_utf8(unsigned long c, u8 *buf);
static int ngx_octopus_rl_hex(int c);
static int ngx_octopus_rl_form_decode(const u8 *p, size_t len, u8 *out,
    size_t outsz, size_t *outlen);


int
ngx_octopus_rl_field_json(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen)
{
    int        overflow;
    u8         key[NGX_OCTOPUS_RL_KEY_MAX];
    size_t     klen;
    const u8  *p, *end;

    p = body;
    end = body + len;

    p = ngx_octopus_rl_json_ws(p, end);
    if (p == end || *p != '{') {
        return 0;
    }

    p++;

    for ( ;; ) {
        p = ngx_octopus_rl_json_ws(p, end);
        if (p == end || *p != '"') {
            return 0;
        }

        overflow = 0;
        p = ngx_octopus_rl_json_string(p, end, key, sizeof(key), &klen,
                                       &overflow);
        if (p == NULL) {
            return 0;
        }

        p = ngx_octopus_rl_json_ws(p, end);
        if (p == end || *p != ':') {
            return 0;
        }

        p = ngx_octopus_rl_json_ws(p + 1, end);
        if (p == end) {
            return 0;
        }

        if (!overflow && klen == nlen && memcmp(key, name, nlen) == 0) {
            if (*p != '"') {
                return 0;
            }

            p = ngx_octopus_rl_json_string(p, end, out, outsz, outlen,
                                           &overflow);

            return p != NULL && !overflow;
        }

        p = ngx_octopus_rl_json_skip(p, end);
        if (p == NULL) {
            return 0;
        }

        p = ngx_octopus_rl_json_ws(p, end);
        if (p == end || *p != ',') {
            return 0;
        }

        p++;
    }
}


static const u8 *
ngx_octopus_rl_json_ws(const u8 *p, const u8 *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    return p;
}


/* p points at the opening quote; returns the byte after the closing one */

static const u8 *
ngx_octopus_rl_json_string(const u8 *p, const u8 *end, u8 *out,
    size_t outsz, size_t *outlen, int *overflow)
{
    int            i, h;
    u8             buf[4];
    size_t         n, k;
    unsigned long  c, lo;

    n = 0;
    p++;

    while (p < end) {

        if (*p == '"') {
            if (outlen) {
                *outlen = n;
            }

            return p + 1;
        }

        if (*p < 0x20) {
            return NULL;
        }

        if (*p != '\\') {
            buf[0] = *p++;
            k = 1;
            goto emit;
        }

        if (++p == end) {
            return NULL;
        }

        switch (*p) {
        case '"':  buf[0] = '"';  break;
        case '\\': buf[0] = '\\'; break;
        case '/':  buf[0] = '/';  break;
        case 'b':  buf[0] = '\b'; break;
        case 'f':  buf[0] = '\f'; break;
        case 'n':  buf[0] = '\n'; break;
        case 'r':  buf[0] = '\r'; break;
        case 't':  buf[0] = '\t'; break;

        case 'u':
            c = 0;
            for (i = 1; i <= 4; i++) {
                if (p + i >= end || (h = ngx_octopus_rl_hex(p[i])) < 0) {
                    return NULL;
                }
                c = c * 16 + h;
            }

            p += 5;

            if (c >= 0xd800 && c <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
                    return NULL;
                }

                lo = 0;
                for (i = 2; i < 6; i++) {
                    if ((h = ngx_octopus_rl_hex(p[i])) < 0) {
                        return NULL;
                    }
                    lo = lo * 16 + h;
                }

                if (lo < 0xdc00 || lo > 0xdfff) {
                    return NULL;
                }

                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;

            } else if (c >= 0xdc00 && c <= 0xdfff) {
                return NULL;
            }

            k = ngx_octopus_rl_utf8(c, buf);
            goto emit;

        default:
            return NULL;
        }

        p++;
        k = 1;

    emit:

        if (out == NULL) {
            continue;
        }

        if (n + k > outsz) {
            *overflow = 1;
            continue;
        }

        memcpy(out + n, buf, k);
        n += k;
    }

    return NULL;
}


/* skips one JSON value of any kind */

static const u8 *
ngx_octopus_rl_json_skip(const u8 *p, const u8 *end)
{
    int  depth, overflow;

    depth = 0;

    while (p < end) {

        switch (*p) {

        case '"':
            p = ngx_octopus_rl_json_string(p, end, NULL, 0, NULL, &overflow);
            if (p == NULL) {
                return NULL;
            }

            if (depth == 0) {
                return p;
            }

            continue;

        case '{':
        case '[':
            if (++depth > NGX_OCTOPUS_RL_JSON_DEPTH) {
                return NULL;
            }
            break;

        case '}':
        case ']':
            if (depth == 0) {
                /* end of the enclosing object closes a scalar */
                return p;
            }

            if (--depth == 0) {
                return p + 1;
            }
            break;

        case ',':
            if (depth == 0) {
                return p;
            }
            break;

        default:
            if (depth == 0
                && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            {
                return p;
            }
            break;
        }

        p++;
    }

    return depth == 0 ? p : NULL;
}


static size_t
ngx_octopus_rl_utf8(unsigned long c, u8 *buf)
{
    if (c < 0x80) {
        buf[0] = (u8) c;
        return 1;
    }

    if (c < 0x800) {
        buf[0] = (u8) (0xc0 | (c >> 6));
        buf[1] = (u8) (0x80 | (c & 0x3f));
        return 2;
    }

    if (c < 0x10000) {
        buf[0] = (u8) (0xe0 | (c >> 12));
        buf[1] = (u8) (0x80 | ((c >> 6) & 0x3f));
        buf[2] = (u8) (0x80 | (c & 0x3f));
        return 3;
    }

    buf[0] = (u8) (0xf0 | (c >> 18));
    buf[1] = (u8) (0x80 | ((c >> 12) & 0x3f));
    buf[2] = (u8) (0x80 | ((c >> 6) & 0x3f));
    buf[3] = (u8) (0x80 | (c & 0x3f));
    return 4;
}


static int
ngx_octopus_rl_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
ngx_octopus_rl_field_form(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen)
{
    u8         key[NGX_OCTOPUS_RL_KEY_MAX];
    size_t     klen;
    const u8  *p, *end, *amp, *eq;

    p = body;
    end = body + len;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', amp - p);

        if (eq != NULL
            && ngx_octopus_rl_form_decode(p, eq - p, key, sizeof(key), &klen)
            && klen == nlen && memcmp(key, name, nlen) == 0)
        {
            return ngx_octopus_rl_form_decode(eq + 1, amp - eq - 1, out,
                                              outsz, outlen);
        }

        p = amp + 1;
    }

    return 0;
}


static int
ngx_octopus_rl_form_decode(const u8 *p, size_t len, u8 *out, size_t outsz,
    size_t *outlen)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (n == outsz) {
            return 0;
        }

        if (p[i] == '+') {
            out[n++] = ' ';

        } else if (p[i] == '%' && i + 2 < len
                   && (hi = ngx_octopus_rl_hex(p[i + 1])) >= 0
                   && (lo = ngx_octopus_rl_hex(p[i + 2])) >= 0)
        {
            out[n++] = (u8) (hi * 16 + lo);
            i += 2;

        } else {
            out[n++] = p[i];
        }
    }

    *outlen = n;

    return 1;
}
