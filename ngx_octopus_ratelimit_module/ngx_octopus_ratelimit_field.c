
/*
 * Copyright (C) Octopus Guard authors
 *
 * A bounded, allocation-free scanner: it walks the body once, decodes only
 * the keys at the top level (JSON object, form pairs, multipart part names)
 * and the value it returns, and gives up on anything malformed or nested
 * deeper than it can track.  It reads the whole body, not only up to the
 * first match, so that a field given twice is refused: frameworks disagree
 * on which of two values wins (Flask and PHP read the last, Spring the
 * first), and the lockout must count the account the backend checks.
 */


#include <stdint.h>
#include <string.h>

#include "ngx_octopus_ratelimit_field.h"


#define NGX_OCTOPUS_RL_JSON_DEPTH  64        /* one bit each in a uint64_t */
#define NGX_OCTOPUS_RL_KEY_MAX     256
#define NGX_OCTOPUS_RL_BOUNDARY    70        /* RFC 2046, section 5.1.1 */


typedef unsigned char  u8;


#define ngx_octopus_rl_lower(c)  ((c) >= 'A' && (c) <= 'Z' ? (c) | 0x20 : (c))


static const u8 *ngx_octopus_rl_json_ws(const u8 *p, const u8 *end);
static const u8 *ngx_octopus_rl_json_string(const u8 *p, const u8 *end,
    u8 *out, size_t outsz, size_t *outlen, int *overflow);
static const u8 *ngx_octopus_rl_json_skip(const u8 *p, const u8 *end);
static size_t ngx_octopus_rl_utf8(unsigned long c, u8 *buf);
static int ngx_octopus_rl_hex(int c);
static int ngx_octopus_rl_field_pairs(const u8 *body, size_t len, int semi,
    const u8 *name, size_t nlen, u8 *out, size_t outsz, size_t *outlen);
static int ngx_octopus_rl_form_decode(const u8 *p, size_t len, u8 *out,
    size_t outsz, size_t *outlen);
static int ngx_octopus_rl_key(const u8 *p, size_t len, int decode,
    const u8 *name, size_t nlen);
static int ngx_octopus_rl_key_byte(const u8 *p, size_t len, size_t *i,
    int decode);
static const u8 *ngx_octopus_rl_php_boundary(const u8 *ct, size_t len);
static const u8 *ngx_octopus_rl_ows(const u8 *p, const u8 *end);
static int ngx_octopus_rl_ieq(const u8 *p, size_t len, const char *s);
static const u8 *ngx_octopus_rl_param(const u8 *p, const u8 *end,
    const u8 **name, size_t *nlen, const u8 **val, size_t *vlen,
    int *quoted);
static const u8 *ngx_octopus_rl_find_delim(const u8 *p, const u8 *end,
    const u8 *boundary, size_t blen);
static int ngx_octopus_rl_disposition(const u8 *p, const u8 *end,
    const u8 *name, size_t nlen);


int
ngx_octopus_rl_field_json(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen)
{
    int        overflow, found, toolong;
    u8         key[NGX_OCTOPUS_RL_KEY_MAX];
    size_t     klen;
    const u8  *p, *end;

    p = body;
    end = body + len;
    found = 0;
    toolong = 0;

    p = ngx_octopus_rl_json_ws(p, end);
    if (p == end || *p != '{') {
        return NGX_OCTOPUS_RL_FIELD_MALFORMED;
    }

    p = ngx_octopus_rl_json_ws(p + 1, end);

    if (p < end && *p == '}') {
        p++;
        goto trailer;
    }

    for ( ;; ) {
        if (p == end || *p != '"') {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        /* keys are compared decoded: "user\u006eame" is "username" */

        overflow = 0;
        p = ngx_octopus_rl_json_string(p, end, key, sizeof(key), &klen,
                                       &overflow);
        if (p == NULL) {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        p = ngx_octopus_rl_json_ws(p, end);
        if (p == end || *p != ':') {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        p = ngx_octopus_rl_json_ws(p + 1, end);
        if (p == end) {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        if (!overflow && ngx_octopus_rl_key(key, klen, 0, name, nlen) == 1) {
            if (found) {
                return NGX_OCTOPUS_RL_FIELD_DUPLICATE;
            }

            found = 1;

            if (*p != '"') {
                return NGX_OCTOPUS_RL_FIELD_NOT_STRING;
            }

            p = ngx_octopus_rl_json_string(p, end, out, outsz, outlen,
                                           &toolong);

        } else {
            p = ngx_octopus_rl_json_skip(p, end);
        }

        if (p == NULL) {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        p = ngx_octopus_rl_json_ws(p, end);
        if (p == end) {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        if (*p == '}') {
            p++;
            break;
        }

        if (*p != ',') {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        p = ngx_octopus_rl_json_ws(p + 1, end);
    }

trailer:

    if (ngx_octopus_rl_json_ws(p, end) != end) {
        return NGX_OCTOPUS_RL_FIELD_MALFORMED;
    }

    if (!found) {
        return NGX_OCTOPUS_RL_FIELD_ABSENT;
    }

    return toolong ? NGX_OCTOPUS_RL_FIELD_TOO_LONG : NGX_OCTOPUS_RL_FIELD_FOUND;
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


/*
 * skips one JSON value of any kind; brackets must pair ("[1}" is refused),
 * a scalar must not be empty
 */

static const u8 *
ngx_octopus_rl_json_skip(const u8 *p, const u8 *end)
{
    int        depth, overflow;
    uint64_t   open;               /* bit set: "{" at that depth */
    const u8  *start;

    depth = 0;
    open = 0;
    start = p;

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
            if (depth == NGX_OCTOPUS_RL_JSON_DEPTH) {
                return NULL;
            }

            open = (open << 1) | (*p == '{');
            depth++;
            break;

        case '}':
        case ']':
            if (depth == 0) {
                /* end of the enclosing object closes a scalar */
                return p == start ? NULL : p;
            }

            if ((open & 1) != (*p == '}')) {
                return NULL;
            }

            open >>= 1;

            if (--depth == 0) {
                return p + 1;
            }
            break;

        case ',':
            if (depth == 0) {
                return p == start ? NULL : p;
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

    return (depth == 0 && p != start) ? p : NULL;
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
    return ngx_octopus_rl_field_pairs(body, len, 0, name, nlen, out, outsz,
                                      outlen);
}


int
ngx_octopus_rl_field_query(const unsigned char *args, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen)
{
    int     rc, semi;
    u8      alt[NGX_OCTOPUS_RL_KEY_MAX];
    size_t  altlen;

    rc = ngx_octopus_rl_field_pairs(args, len, 0, name, nlen, out, outsz,
                                    outlen);

    if (rc < 0 || memchr(args, ';', len) == NULL) {
        return rc;
    }

    altlen = 0;

    semi = ngx_octopus_rl_field_pairs(args, len, 1, name, nlen, alt,
                                      outsz < sizeof(alt) ? outsz
                                                          : sizeof(alt),
                                      &altlen);
    if (semi < 0) {
        return semi;
    }

    if (semi != rc
        || (rc == NGX_OCTOPUS_RL_FIELD_FOUND
            && (altlen != *outlen || memcmp(alt, out, altlen) != 0)))
    {
        return NGX_OCTOPUS_RL_FIELD_MALFORMED;
    }

    return rc;
}


/* name=value pairs separated by '&' (and ';' when semi is set) */

static int
ngx_octopus_rl_field_pairs(const u8 *body, size_t len, int semi,
    const u8 *name, size_t nlen, u8 *out, size_t outsz, size_t *outlen)
{
    int        rc, found, toolong;
    u8         key[NGX_OCTOPUS_RL_KEY_MAX];
    size_t     klen;
    const u8  *p, *end, *amp, *eq, *kend;

    p = body;
    end = body + len;
    found = 0;
    toolong = 0;

    while (p < end) {
        for (amp = p; amp < end && *amp != '&' && !(semi && *amp == ';');
             amp++)
        {
            /* void */
        }

        eq = memchr(p, '=', amp - p);
        kend = eq ? eq : amp;

        if (kend > p) {
            rc = ngx_octopus_rl_form_decode(p, kend - p, key, sizeof(key),
                                            &klen);
            if (rc < 0) {
                return NGX_OCTOPUS_RL_FIELD_MALFORMED;
            }

            rc = ngx_octopus_rl_key(p, kend - p, 1, name, nlen);

            if (rc == 2) {
                return NGX_OCTOPUS_RL_FIELD_NOT_STRING;
            }

            if (rc == 1) {
                if (found) {
                    return NGX_OCTOPUS_RL_FIELD_DUPLICATE;
                }

                found = 1;

                if (eq == NULL) {
                    /* "username&..." is an empty username (PHP, Spring) */
                    *outlen = 0;

                } else {
                    rc = ngx_octopus_rl_form_decode(eq + 1, amp - eq - 1,
                                                    out, outsz, outlen);
                    if (rc < 0) {
                        return NGX_OCTOPUS_RL_FIELD_MALFORMED;
                    }

                    toolong = (rc == 0);
                }
            }
        }

        if (amp == end) {
            break;
        }

        p = amp + 1;
    }

    if (!found) {
        return NGX_OCTOPUS_RL_FIELD_ABSENT;
    }

    return toolong ? NGX_OCTOPUS_RL_FIELD_TOO_LONG : NGX_OCTOPUS_RL_FIELD_FOUND;
}


/* 1: decoded; 0: longer than outsz; -1: a "%" not followed by two hex */

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

        } else if (p[i] == '%') {
            if (i + 2 >= len
                || (hi = ngx_octopus_rl_hex(p[i + 1])) < 0
                || (lo = ngx_octopus_rl_hex(p[i + 2])) < 0)
            {
                return -1;
            }

            out[n++] = (u8) (hi * 16 + lo);
            i += 2;

        } else {
            out[n++] = p[i];
        }
    }

    *outlen = n;

    return 1;
}


/*
 * How a framework may read a key (percent-decoded, '+' a space, when
 * decode is set): 1, the field, in any ASCII case and with "ı" and "ſ"
 * as "i" and "s" (ASP.NET Core binds JSON, form and query keys with
 * OrdinalIgnoreCase), and as PHP registers a name (leading spaces
 * dropped, ' ' and '.' read as '_', the name ends at a NUL); 2, the field
 * as an array or a hash ("username[]", "username[0]": PHP, Rails, qs, and
 * an ORM then looks the account up by its element); 0, another key.
 */

static int
ngx_octopus_rl_key(const u8 *p, size_t len, int decode, const u8 *name,
    size_t nlen)
{
    int     c, d, lead;
    u8      want;
    size_t  i, n;

    lead = 1;
    n = 0;
    i = 0;

    while ((c = ngx_octopus_rl_key_byte(p, len, &i, decode)) > 0) {

        if (lead && c == ' ' && name[0] != ' ') {
            continue;
        }

        lead = 0;

        if (n == nlen) {
            return (c == '[') ? 2 : 0;
        }

        want = name[n++];

        if (c == want
            || ((c == ' ' || c == '.') && want == '_')
            || (ngx_octopus_rl_lower(c) == ngx_octopus_rl_lower(want)
                && ngx_octopus_rl_lower(c) >= 'a'
                && ngx_octopus_rl_lower(c) <= 'z'))
        {
            continue;
        }

        /* U+0131 dotless i, U+017F long s: OrdinalIgnoreCase's I and S */

        if (c == 0xc4 || c == 0xc5) {
            d = ngx_octopus_rl_key_byte(p, len, &i, decode);

            if ((c == 0xc4 && d == 0xb1 && ngx_octopus_rl_lower(want) == 'i')
                || (c == 0xc5 && d == 0xbf
                    && ngx_octopus_rl_lower(want) == 's'))
            {
                continue;
            }
        }

        return 0;
    }

    return (n == nlen);
}


/* the next byte of a key, decoded; 0 at its end or at a NUL */

static int
ngx_octopus_rl_key_byte(const u8 *p, size_t len, size_t *i, int decode)
{
    int  c, hi, lo;

    if (*i >= len) {
        return 0;
    }

    c = p[(*i)++];

    if (!decode) {
        return c;
    }

    if (c == '+') {
        return ' ';
    }

    if (c == '%' && *i + 1 < len
        && (hi = ngx_octopus_rl_hex(p[*i])) >= 0
        && (lo = ngx_octopus_rl_hex(p[*i + 1])) >= 0)
    {
        *i += 2;
        return hi * 16 + lo;
    }

    return c;
}


/*
 * multipart/form-data (RFC 7578, RFC 2046 section 5.1): parts between
 * "--boundary" lines, each with headers; the part whose Content-Disposition
 * names the field is the value, byte for byte.  A part in base64 or
 * quoted-printable is not decoded: ENCODING.
 */

int
ngx_octopus_rl_field_multipart(const unsigned char *body, size_t len,
    const unsigned char *boundary, size_t blen, const unsigned char *name,
    size_t nlen, unsigned char *out, size_t outsz, size_t *outlen)
{
    int        rc, found, toolong, match, named, encoded;
    size_t     vlen;
    const u8  *p, *end, *eol, *colon, *v, *q;

    end = body + len;
    found = 0;
    toolong = 0;

    if (blen == 0 || blen > NGX_OCTOPUS_RL_BOUNDARY) {
        return NGX_OCTOPUS_RL_FIELD_MALFORMED;
    }

    if (len >= blen + 2 && body[0] == '-' && body[1] == '-'
        && memcmp(body + 2, boundary, blen) == 0)
    {
        p = body + 2 + blen;

    } else {
        p = ngx_octopus_rl_find_delim(body, end, boundary, blen);
        if (p == NULL) {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }
    }

    /* p: after a delimiter */

    for ( ;; ) {

        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            /* the close delimiter; the epilogue is ignored */
            break;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        p += 2;

        match = 0;
        named = 0;
        encoded = 0;

        for ( ;; ) {
            for (eol = p; eol + 1 < end; eol++) {
                if (eol[0] == '\r' && eol[1] == '\n') {
                    break;
                }
            }

            if (eol + 1 >= end) {
                return NGX_OCTOPUS_RL_FIELD_MALFORMED;
            }

            if (eol == p) {
                p += 2;
                break;
            }

            colon = memchr(p, ':', eol - p);
            if (colon == NULL || colon == p) {
                return NGX_OCTOPUS_RL_FIELD_MALFORMED;
            }

            v = ngx_octopus_rl_ows(colon + 1, eol);

            if (ngx_octopus_rl_ieq(p, colon - p, "content-disposition")) {
                if (named) {
                    return NGX_OCTOPUS_RL_FIELD_MALFORMED;
                }

                named = 1;

                rc = ngx_octopus_rl_disposition(v, eol, name, nlen);
                if (rc < 0) {
                    return NGX_OCTOPUS_RL_FIELD_MALFORMED;
                }

                match = rc;

            } else if (ngx_octopus_rl_ieq(p, colon - p,
                                          "content-transfer-encoding"))
            {
                for (q = eol; q > v && (q[-1] == ' ' || q[-1] == '\t'); q--) {
                    /* void */
                }

                encoded = !ngx_octopus_rl_ieq(v, q - v, "7bit")
                          && !ngx_octopus_rl_ieq(v, q - v, "8bit")
                          && !ngx_octopus_rl_ieq(v, q - v, "binary");
            }

            p = eol + 2;
        }

        q = ngx_octopus_rl_find_delim(p, end, boundary, blen);
        if (q == NULL) {
            return NGX_OCTOPUS_RL_FIELD_MALFORMED;
        }

        if (match == 2) {
            return NGX_OCTOPUS_RL_FIELD_NOT_STRING;
        }

        if (match) {
            if (found) {
                return NGX_OCTOPUS_RL_FIELD_DUPLICATE;
            }

            found = 1;

            if (encoded) {
                return NGX_OCTOPUS_RL_FIELD_ENCODING;
            }

            /* the value ends before the CRLF of the delimiter */

            vlen = (q - 4 - blen) - p;

            if (vlen > outsz) {
                toolong = 1;

            } else {
                memcpy(out, p, vlen);
                *outlen = vlen;
            }
        }

        p = q;
    }

    if (!found) {
        return NGX_OCTOPUS_RL_FIELD_ABSENT;
    }

    return toolong ? NGX_OCTOPUS_RL_FIELD_TOO_LONG : NGX_OCTOPUS_RL_FIELD_FOUND;
}


/* the byte after the next CRLF "--" boundary, or NULL */

static const u8 *
ngx_octopus_rl_find_delim(const u8 *p, const u8 *end, const u8 *boundary,
    size_t blen)
{
    while ((size_t) (end - p) >= blen + 4) {
        p = memchr(p, '\r', end - p - (blen + 3));
        if (p == NULL) {
            return NULL;
        }

        if (p[1] == '\n' && p[2] == '-' && p[3] == '-'
            && memcmp(p + 4, boundary, blen) == 0)
        {
            return p + 4 + blen;
        }

        p++;
    }

    return NULL;
}


/*
 * Content-Disposition: form-data; name="field"; filename="..."
 * 1: names the field, 2: the field as an array (ngx_octopus_rl_key()),
 * 0: another field, -1: malformed, not form-data,
 * two names, or an RFC 5987 "name*" we do not decode
 */

static int
ngx_octopus_rl_disposition(const u8 *p, const u8 *end, const u8 *name,
    size_t nlen)
{
    int        quoted, match, named;
    u8         buf[NGX_OCTOPUS_RL_KEY_MAX];
    size_t     n, i, pnlen, vlen;
    const u8  *t, *pname, *val;

    for (t = p; t < end && *t != ';' && *t != ' ' && *t != '\t'; t++) {
        /* void */
    }

    if (!ngx_octopus_rl_ieq(p, t - p, "form-data")) {
        return -1;
    }

    p = t;
    match = 0;
    named = 0;

    for ( ;; ) {
        p = ngx_octopus_rl_param(p, end, &pname, &pnlen, &val, &vlen,
                                 &quoted);
        if (p == NULL) {
            return -1;
        }

        if (pname == NULL) {
            return named ? match : -1;
        }

        if (ngx_octopus_rl_ieq(pname, pnlen, "name*")) {
            return -1;
        }

        if (!ngx_octopus_rl_ieq(pname, pnlen, "name")) {
            continue;
        }

        if (named) {
            return -1;
        }

        named = 1;

        /* a quoted-string: "\x" is x */

        n = 0;

        for (i = 0; i < vlen && n < sizeof(buf); i++) {
            if (quoted && val[i] == '\\' && i + 1 < vlen) {
                i++;
            }

            buf[n++] = val[i];
        }

        match = (i == vlen) ? ngx_octopus_rl_key(buf, n, 0, name, nlen) : 0;
    }
}


/*
 * one ";" name=value parameter (RFC 9110 section 5.6.6); *name is NULL at
 * the end; NULL on a syntax error
 */

static const u8 *
ngx_octopus_rl_param(const u8 *p, const u8 *end, const u8 **name,
    size_t *nlen, const u8 **val, size_t *vlen, int *quoted)
{
    const u8  *s;

    *name = NULL;

    p = ngx_octopus_rl_ows(p, end);

    if (p == end) {
        return p;
    }

    if (*p != ';') {
        return NULL;
    }

    p = ngx_octopus_rl_ows(p + 1, end);

    if (p == end) {
        return p;
    }

    for (s = p; p < end && *p != '=' && *p != ';' && *p != ' '
                && *p != '\t' && *p != '"'; p++)
    {
        /* void */
    }

    if (p == s || p == end || *p != '=') {
        return NULL;
    }

    *name = s;
    *nlen = p - s;

    p++;

    if (p < end && *p == '"') {
        *quoted = 1;
        s = ++p;

        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) {
                p++;
            }

            p++;
        }

        if (p == end) {
            return NULL;
        }

        *val = s;
        *vlen = p - s;

        return p + 1;
    }

    *quoted = 0;

    for (s = p; p < end && *p != ';' && *p != ' ' && *p != '\t'
                && *p != '"'; p++)
    {
        /* void */
    }

    if (p == s) {
        return NULL;
    }

    *val = s;
    *vlen = p - s;

    return p;
}


int
ngx_octopus_rl_field_ctype(const unsigned char *ct, size_t len,
    const unsigned char **boundary, size_t *blen)
{
    int        type, quoted, charset, seen_charset, seen_boundary;
    size_t     tlen, pnlen, vlen;
    const u8  *p, *end, *t, *pname, *val, *bname;

    p = ct;
    end = ct + len;
    bname = NULL;

    p = ngx_octopus_rl_ows(p, end);

    for (t = p; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++) {
        /* void */
    }

    tlen = p - t;

    if (ngx_octopus_rl_ieq(t, tlen, "application/json")) {
        type = NGX_OCTOPUS_RL_CT_JSON;

    } else if (ngx_octopus_rl_ieq(t, tlen,
                                  "application/x-www-form-urlencoded"))
    {
        type = NGX_OCTOPUS_RL_CT_FORM;

    } else if (ngx_octopus_rl_ieq(t, tlen, "multipart/form-data")) {
        type = NGX_OCTOPUS_RL_CT_MULTIPART;

    } else if (tlen > sizeof("application/+json") - 1
               && ngx_octopus_rl_ieq(t, sizeof("application/") - 1,
                                     "application/")
               && ngx_octopus_rl_ieq(t + tlen - 5, 5, "+json"))
    {
        type = NGX_OCTOPUS_RL_CT_JSON;

    } else {
        type = NGX_OCTOPUS_RL_CT_OTHER;
    }

    charset = 1;
    seen_charset = 0;
    seen_boundary = 0;

    for ( ;; ) {
        p = ngx_octopus_rl_param(p, end, &pname, &pnlen, &val, &vlen,
                                 &quoted);
        if (p == NULL) {
            return NGX_OCTOPUS_RL_CT_MALFORMED;
        }

        if (pname == NULL) {
            break;
        }

        if (ngx_octopus_rl_ieq(pname, pnlen, "charset")) {
            if (seen_charset++) {
                return NGX_OCTOPUS_RL_CT_MALFORMED;
            }

            charset = ngx_octopus_rl_ieq(val, vlen, "utf-8")
                      || ngx_octopus_rl_ieq(val, vlen, "utf8");

        } else if (ngx_octopus_rl_ieq(pname, pnlen, "boundary")) {
            if (seen_boundary++ || (quoted && memchr(val, '\\', vlen))
                || memchr(val, ',', vlen))
            {
                return NGX_OCTOPUS_RL_CT_MALFORMED;
            }

            bname = pname;
            *boundary = val;
            *blen = vlen;
        }
    }

    /*
     * PHP takes the boundary after the first "boundary" in the whole
     * value (case-sensitive, else in any case) up to ',' or ';': another
     * one before ours ("xboundary=") is another reading of the body
     */

    if (type == NGX_OCTOPUS_RL_CT_MULTIPART && seen_boundary
        && ngx_octopus_rl_php_boundary(ct, len) != bname)
    {
        return NGX_OCTOPUS_RL_CT_MALFORMED;
    }

    if (!charset) {
        return NGX_OCTOPUS_RL_CT_CHARSET;
    }

    if (type == NGX_OCTOPUS_RL_CT_MULTIPART
        && (!seen_boundary || *blen == 0
            || *blen > NGX_OCTOPUS_RL_BOUNDARY))
    {
        return NGX_OCTOPUS_RL_CT_MALFORMED;
    }

    return type;
}


int
ngx_octopus_rl_json_encoding(const unsigned char *b, size_t len, size_t *bom)
{
    *bom = 0;

    if (len >= 4 && b[0] == 0xff && b[1] == 0xfe && b[2] == 0 && b[3] == 0) {
        *bom = 4;
        return NGX_OCTOPUS_RL_UTF32LE;
    }

    if (len >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xfe && b[3] == 0xff) {
        *bom = 4;
        return NGX_OCTOPUS_RL_UTF32BE;
    }

    if (len >= 2 && b[0] == 0xff && b[1] == 0xfe) {
        *bom = 2;
        return NGX_OCTOPUS_RL_UTF16LE;
    }

    if (len >= 2 && b[0] == 0xfe && b[1] == 0xff) {
        *bom = 2;
        return NGX_OCTOPUS_RL_UTF16BE;
    }

    if (len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) {
        *bom = 3;
        return NGX_OCTOPUS_RL_UTF8;
    }

    if (len >= 4) {
        if (b[0] == 0) {
            return b[1] ? NGX_OCTOPUS_RL_UTF16BE : NGX_OCTOPUS_RL_UTF32BE;
        }

        if (b[1] == 0) {
            return (b[2] || b[3]) ? NGX_OCTOPUS_RL_UTF16LE
                                  : NGX_OCTOPUS_RL_UTF32LE;
        }

    } else if (len == 2) {
        if (b[0] == 0) {
            return NGX_OCTOPUS_RL_UTF16BE;
        }

        if (b[1] == 0) {
            return NGX_OCTOPUS_RL_UTF16LE;
        }
    }

    return NGX_OCTOPUS_RL_UTF8;
}


int
ngx_octopus_rl_json_transcode(const unsigned char *in, size_t len,
    int encoding, unsigned char *out, size_t *outlen)
{
    int            be;
    size_t         i, n, w;
    unsigned long  c, lo;

    be = (encoding == NGX_OCTOPUS_RL_UTF16BE
          || encoding == NGX_OCTOPUS_RL_UTF32BE);
    w = (encoding == NGX_OCTOPUS_RL_UTF32LE
         || encoding == NGX_OCTOPUS_RL_UTF32BE) ? 4 : 2;

    if (encoding == NGX_OCTOPUS_RL_UTF8 || len % w) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i += w) {

        if (w == 4) {
            c = be ? ((unsigned long) in[i] << 24) | (in[i + 1] << 16)
                     | (in[i + 2] << 8) | in[i + 3]
                   : ((unsigned long) in[i + 3] << 24) | (in[i + 2] << 16)
                     | (in[i + 1] << 8) | in[i];

            if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
                return -1;
            }

        } else {
            c = be ? (in[i] << 8) | in[i + 1] : (in[i + 1] << 8) | in[i];

            if (c >= 0xdc00 && c <= 0xdfff) {
                return -1;
            }

            if (c >= 0xd800 && c <= 0xdbff) {
                if (i + 4 > len) {
                    return -1;
                }

                i += 2;
                lo = be ? (in[i] << 8) | in[i + 1] : (in[i + 1] << 8) | in[i];

                if (lo < 0xdc00 || lo > 0xdfff) {
                    return -1;
                }

                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            }
        }

        n += ngx_octopus_rl_utf8(c, out + n);
    }

    *outlen = n;

    return 0;
}


/* where PHP's rfc1867.c finds "boundary" in a Content-Type value */

static const u8 *
ngx_octopus_rl_php_boundary(const u8 *ct, size_t len)
{
    size_t  i;

    for (i = 0; i + 8 <= len; i++) {
        if (memcmp(ct + i, "boundary", 8) == 0) {
            return ct + i;
        }
    }

    for (i = 0; i + 8 <= len; i++) {
        if (ngx_octopus_rl_ieq(ct + i, 8, "boundary")) {
            return ct + i;
        }
    }

    return NULL;
}


static const u8 *
ngx_octopus_rl_ows(const u8 *p, const u8 *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* case-insensitive (ASCII) comparison of p[0..len) with s */

static int
ngx_octopus_rl_ieq(const u8 *p, size_t len, const char *s)
{
    size_t  i;
    u8      c;

    for (i = 0; i < len; i++) {
        if (s[i] == '\0') {
            return 0;
        }

        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (u8) s[i]) {
            return 0;
        }
    }

    return s[len] == '\0';
}
