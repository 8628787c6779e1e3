
/*
 * Copyright (C) Octopus Guard authors
 */


#include "ngx_octopus_json.h"


static size_t ngx_octopus_utf8_seq(const unsigned char *p, size_t len);


static const char  ngx_octopus_hex[] = "0123456789abcdef";


/*
 * Bytes a JSON string adds for each input byte: 0 (as is), 1 (\" \\ \n
 * \r \t \b \f) or 5 (\u00XX: other controls and DEL).  One table lookup a
 * byte: the audit sinks escape every field of every record.
 */

#define E5  5,5,5,5,5,5,5,5

static const unsigned char  ngx_octopus_json_extra[256] = {
    /* 0x00 */ 5,5,5,5,5,5,5,5, 1,1,1,5,1,1,5,5,
    /* 0x10 */ E5, E5,
    /* 0x20 */ 0,0,1,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x30 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x40 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x50 */ 0,0,0,0,0,0,0,0, 0,0,0,0,1,0,0,0,
    /* 0x60 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x70 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,5
    /* 0x80 - 0xff: 0 */
};

#undef E5


/* length of the valid UTF-8 sequence at p, 0 when it is not valid */

static size_t
ngx_octopus_utf8_seq(const unsigned char *p, size_t len)
{
    size_t         n, i;
    unsigned int   c, min;

    c = p[0];

    if (c < 0x80) {
        return c == 0 ? 0 : 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
        min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
        min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    return n;
}


int
ngx_octopus_utf8_clean(const unsigned char *src, size_t len)
{
    size_t  n;

    while (len) {

        /* ASCII other than NUL, the common case, without the decoder */

        if ((unsigned char) (*src - 1) < 0x7f) {
            src++;
            len--;
            continue;
        }

        n = ngx_octopus_utf8_seq(src, len);
        if (n == 0) {
            return 0;
        }

        src += n;
        len -= n;
    }

    return 1;
}


size_t
ngx_octopus_sanitize(unsigned char *dst, const unsigned char *src, size_t len)
{
    size_t          n;
    unsigned char  *start;

    start = dst;

    while (len) {
        n = ngx_octopus_utf8_seq(src, len);

        if (n == 0) {
            *dst++ = '\\';
            *dst++ = 'x';
            *dst++ = ngx_octopus_hex[*src >> 4];
            *dst++ = ngx_octopus_hex[*src & 0x0f];
            src++;
            len--;
            continue;
        }

        len -= n;

        while (n--) {
            *dst++ = *src++;
        }
    }

    return dst - start;
}


size_t
ngx_octopus_json_escape_len(const unsigned char *src, size_t len)
{
    size_t  n;

    n = len;

    while (len--) {
        n += ngx_octopus_json_extra[*src++];
    }

    return n;
}


unsigned char *
ngx_octopus_json_escape(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    unsigned char  c;

    while (len--) {
        c = *src++;

        if (ngx_octopus_json_extra[c] == 0) {
            *dst++ = c;
            continue;
        }

        switch (c) {
        case '"':  *dst++ = '\\'; *dst++ = '"'; break;
        case '\\': *dst++ = '\\'; *dst++ = '\\'; break;
        case '\n': *dst++ = '\\'; *dst++ = 'n'; break;
        case '\r': *dst++ = '\\'; *dst++ = 'r'; break;
        case '\t': *dst++ = '\\'; *dst++ = 't'; break;
        case '\b': *dst++ = '\\'; *dst++ = 'b'; break;
        case '\f': *dst++ = '\\'; *dst++ = 'f'; break;

        default:
            *dst++ = '\\'; *dst++ = 'u'; *dst++ = '0'; *dst++ = '0';
            *dst++ = ngx_octopus_hex[c >> 4];
            *dst++ = ngx_octopus_hex[c & 0x0f];
        }
    }

    return dst;
}
