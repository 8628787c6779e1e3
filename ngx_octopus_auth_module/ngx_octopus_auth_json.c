
/*
 * Copyright (C) Octopus Guard authors
 *
 * Strict JSON tokenizer in plain C: see ngx_octopus_auth_json.h.
 */


#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_auth_json.h"


typedef struct {
    const unsigned char          *p;
    const unsigned char          *base;
    const unsigned char          *last;
    ngx_octopus_auth_json_tok_t  *toks;
    size_t                        n;
    size_t                        max;
} ngx_octopus_auth_json_ctx_t;


static int ngx_octopus_auth_json_value(ngx_octopus_auth_json_ctx_t *c,
    int depth);


static void
ngx_octopus_auth_json_ws(ngx_octopus_auth_json_ctx_t *c)
{
    while (c->p < c->last
           && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n'
               || *c->p == '\r'))
    {
        c->p++;
    }
}


static int
ngx_octopus_auth_json_alloc(ngx_octopus_auth_json_ctx_t *c,
    ngx_octopus_auth_json_type_e type)
{
    ngx_octopus_auth_json_tok_t  *t;

    if (c->n == c->max) {
        return -1;
    }

    t = &c->toks[c->n];
    memset(t, 0, sizeof(ngx_octopus_auth_json_tok_t));
    t->type = type;
    t->start = (uint32_t) (c->p - c->base);

    return (int) c->n++;
}


static int
ngx_octopus_auth_json_hex(const unsigned char *p, uint32_t *v)
{
    int       i;
    uint32_t  d;

    *v = 0;

    for (i = 0; i < 4; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            d = p[i] - '0';

        } else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f') {
            d = (p[i] | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        *v = (*v << 4) | d;
    }

    return 0;
}


/*
 * One character of a string's raw text at *pp (not the closing quote):
 * its UTF-8 bytes go to out (at most 4), the count is returned, -1 when
 * invalid.  The one decoder serves validation, unescaping and comparison.
 */

static int
ngx_octopus_auth_json_char(const unsigned char **pp, const unsigned char *last,
    unsigned char *out)
{
    uint32_t              cp, lo;
    const unsigned char  *p;

    p = *pp;

    if (*p < 0x20) {
        return -1;
    }

    if (*p == '\\') {
        if (last - p < 2) {
            return -1;
        }

        switch (p[1]) {
        case '"':  out[0] = '"';  break;
        case '\\': out[0] = '\\'; break;
        case '/':  out[0] = '/';  break;
        case 'b':  out[0] = '\b'; break;
        case 'f':  out[0] = '\f'; break;
        case 'n':  out[0] = '\n'; break;
        case 'r':  out[0] = '\r'; break;
        case 't':  out[0] = '\t'; break;

        case 'u':
            if (last - p < 6 || ngx_octopus_auth_json_hex(p + 2, &cp) != 0
                || cp == 0)
            {
                return -1;
            }

            p += 6;

            if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1;
            }

            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (last - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || ngx_octopus_auth_json_hex(p + 2, &lo) != 0
                    || lo < 0xdc00 || lo > 0xdfff)
                {
                    return -1;
                }

                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }

            *pp = p;

            if (cp < 0x80) {
                out[0] = (unsigned char) cp;
                return 1;
            }

            if (cp < 0x800) {
                out[0] = (unsigned char) (0xc0 | (cp >> 6));
                out[1] = (unsigned char) (0x80 | (cp & 0x3f));
                return 2;
            }

            if (cp < 0x10000) {
                out[0] = (unsigned char) (0xe0 | (cp >> 12));
                out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (unsigned char) (0x80 | (cp & 0x3f));
                return 3;
            }

            out[0] = (unsigned char) (0xf0 | (cp >> 18));
            out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            out[3] = (unsigned char) (0x80 | (cp & 0x3f));
            return 4;

        default:
            return -1;
        }

        *pp = p + 2;
        return 1;
    }

    if (*p < 0x80) {
        out[0] = *p;
        *pp = p + 1;
        return 1;
    }

    /* UTF-8: shortest form only, no surrogates, at most U+10FFFF */

    if (*p >= 0xc2 && *p <= 0xdf) {
        if (last - p < 2 || (p[1] & 0xc0) != 0x80) {
            return -1;
        }

        memcpy(out, p, 2);
        *pp = p + 2;
        return 2;
    }

    if (*p >= 0xe0 && *p <= 0xef) {
        if (last - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] > 0x9f))
        {
            return -1;
        }

        memcpy(out, p, 3);
        *pp = p + 3;
        return 3;
    }

    if (*p >= 0xf0 && *p <= 0xf4) {
        if (last - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (p[3] & 0xc0) != 0x80 || (*p == 0xf0 && p[1] < 0x90)
            || (*p == 0xf4 && p[1] > 0x8f))
        {
            return -1;
        }

        memcpy(out, p, 4);
        *pp = p + 4;
        return 4;
    }

    return -1;
}


static int
ngx_octopus_auth_json_str(ngx_octopus_auth_json_ctx_t *c)
{
    int             t;
    unsigned char   tmp[4];

    c->p++;                                 /* the opening quote */

    t = ngx_octopus_auth_json_alloc(c, NGX_OCTOPUS_AUTH_JSON_STRING);
    if (t < 0) {
        return -1;
    }

    for ( ;; ) {
        if (c->p == c->last) {
            return -1;
        }

        if (*c->p == '"') {
            break;
        }

        if (*c->p == '\\') {
            c->toks[t].escaped = 1;
        }

        if (ngx_octopus_auth_json_char(&c->p, c->last, tmp) < 0) {
            return -1;
        }
    }

    c->toks[t].end = (uint32_t) (c->p - c->base);
    c->p++;
    c->toks[t].next = (uint32_t) c->n;

    return t;
}


static int
ngx_octopus_auth_json_num(ngx_octopus_auth_json_ctx_t *c)
{
    int  t;

    t = ngx_octopus_auth_json_alloc(c, NGX_OCTOPUS_AUTH_JSON_NUMBER);
    if (t < 0) {
        return -1;
    }

    if (*c->p == '-') {
        c->p++;
    }

    if (c->p == c->last) {
        return -1;
    }

    if (*c->p == '0') {
        c->p++;

    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->last && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }

    } else {
        return -1;
    }

    if (c->p < c->last && *c->p == '.') {
        c->p++;

        if (c->p == c->last || *c->p < '0' || *c->p > '9') {
            return -1;
        }

        while (c->p < c->last && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }

    if (c->p < c->last && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;

        if (c->p < c->last && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }

        if (c->p == c->last || *c->p < '0' || *c->p > '9') {
            return -1;
        }

        while (c->p < c->last && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }

    c->toks[t].end = (uint32_t) (c->p - c->base);
    c->toks[t].next = (uint32_t) c->n;

    return t;
}


static int
ngx_octopus_auth_json_lit(ngx_octopus_auth_json_ctx_t *c, const char *lit,
    ngx_octopus_auth_json_type_e type)
{
    int     t;
    size_t  len;

    len = strlen(lit);

    if ((size_t) (c->last - c->p) < len || memcmp(c->p, lit, len) != 0) {
        return -1;
    }

    t = ngx_octopus_auth_json_alloc(c, type);
    if (t < 0) {
        return -1;
    }

    c->p += len;
    c->toks[t].end = (uint32_t) (c->p - c->base);
    c->toks[t].next = (uint32_t) c->n;

    return t;
}


static int
ngx_octopus_auth_json_key_eq(ngx_octopus_auth_json_ctx_t *c, int a, int b)
{
    int                   na, nb;
    unsigned char         ca[4], cb[4];
    const unsigned char  *pa, *pb, *ea, *eb;

    pa = c->base + c->toks[a].start;
    ea = c->base + c->toks[a].end;
    pb = c->base + c->toks[b].start;
    eb = c->base + c->toks[b].end;

    if (!c->toks[a].escaped && !c->toks[b].escaped) {
        return ea - pa == eb - pb && memcmp(pa, pb, ea - pa) == 0;
    }

    while (pa < ea && pb < eb) {
        na = ngx_octopus_auth_json_char(&pa, ea, ca);
        nb = ngx_octopus_auth_json_char(&pb, eb, cb);

        if (na != nb || na < 0 || memcmp(ca, cb, na) != 0) {
            return 0;
        }
    }

    return pa == ea && pb == eb;
}


static int
ngx_octopus_auth_json_obj(ngx_octopus_auth_json_ctx_t *c, int depth)
{
    int  t, k, v, prev;

    if (depth > NGX_OCTOPUS_AUTH_JSON_MAX_DEPTH) {
        return -1;
    }

    t = ngx_octopus_auth_json_alloc(c, NGX_OCTOPUS_AUTH_JSON_OBJECT);
    if (t < 0) {
        return -1;
    }

    c->p++;
    ngx_octopus_auth_json_ws(c);

    if (c->p < c->last && *c->p == '}') {
        c->p++;
        goto done;
    }

    for ( ;; ) {
        ngx_octopus_auth_json_ws(c);

        if (c->p == c->last || *c->p != '"') {
            return -1;
        }

        k = ngx_octopus_auth_json_str(c);
        if (k < 0) {
            return -1;
        }

        /* a member name appears once, whatever its spelling */

        for (prev = t + 1; prev < k; prev = c->toks[prev + 1].next) {
            if (ngx_octopus_auth_json_key_eq(c, prev, k)) {
                return -1;
            }
        }

        ngx_octopus_auth_json_ws(c);

        if (c->p == c->last || *c->p != ':') {
            return -1;
        }

        c->p++;

        v = ngx_octopus_auth_json_value(c, depth);
        if (v < 0) {
            return -1;
        }

        c->toks[t].size++;

        ngx_octopus_auth_json_ws(c);

        if (c->p == c->last) {
            return -1;
        }

        if (*c->p == ',') {
            c->p++;
            continue;
        }

        if (*c->p == '}') {
            c->p++;
            break;
        }

        return -1;
    }

done:

    c->toks[t].end = (uint32_t) (c->p - c->base);
    c->toks[t].next = (uint32_t) c->n;

    return t;
}


static int
ngx_octopus_auth_json_arr(ngx_octopus_auth_json_ctx_t *c, int depth)
{
    int  t;

    if (depth > NGX_OCTOPUS_AUTH_JSON_MAX_DEPTH) {
        return -1;
    }

    t = ngx_octopus_auth_json_alloc(c, NGX_OCTOPUS_AUTH_JSON_ARRAY);
    if (t < 0) {
        return -1;
    }

    c->p++;
    ngx_octopus_auth_json_ws(c);

    if (c->p < c->last && *c->p == ']') {
        c->p++;
        goto done;
    }

    for ( ;; ) {
        if (ngx_octopus_auth_json_value(c, depth) < 0) {
            return -1;
        }

        c->toks[t].size++;

        ngx_octopus_auth_json_ws(c);

        if (c->p == c->last) {
            return -1;
        }

        if (*c->p == ',') {
            c->p++;
            continue;
        }

        if (*c->p == ']') {
            c->p++;
            break;
        }

        return -1;
    }

done:

    c->toks[t].end = (uint32_t) (c->p - c->base);
    c->toks[t].next = (uint32_t) c->n;

    return t;
}


static int
ngx_octopus_auth_json_value(ngx_octopus_auth_json_ctx_t *c, int depth)
{
    ngx_octopus_auth_json_ws(c);

    if (c->p == c->last) {
        return -1;
    }

    switch (*c->p) {

    case '{':
        return ngx_octopus_auth_json_obj(c, depth + 1);

    case '[':
        return ngx_octopus_auth_json_arr(c, depth + 1);

    case '"':
        return ngx_octopus_auth_json_str(c);

    case 't':
        return ngx_octopus_auth_json_lit(c, "true", NGX_OCTOPUS_AUTH_JSON_TRUE);

    case 'f':
        return ngx_octopus_auth_json_lit(c, "false",
                                         NGX_OCTOPUS_AUTH_JSON_FALSE);

    case 'n':
        return ngx_octopus_auth_json_lit(c, "null", NGX_OCTOPUS_AUTH_JSON_NULL);

    default:
        if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
            return ngx_octopus_auth_json_num(c);
        }

        return -1;
    }
}


int
ngx_octopus_auth_json_parse(ngx_octopus_auth_json_t *json, const char *src,
    size_t len, ngx_octopus_auth_json_tok_t *toks, size_t max)
{
    ngx_octopus_auth_json_ctx_t  c;

    memset(json, 0, sizeof(ngx_octopus_auth_json_t));

    if (len > UINT32_MAX / 2) {
        return -1;
    }

    c.base = (const unsigned char *) src;
    c.p = c.base;
    c.last = c.base + len;
    c.toks = toks;
    c.n = 0;
    c.max = max;

    if (ngx_octopus_auth_json_value(&c, 0) < 0) {
        return -1;
    }

    ngx_octopus_auth_json_ws(&c);

    if (c.p != c.last) {
        return -1;
    }

    json->src = src;
    json->len = len;
    json->toks = toks;
    json->ntoks = c.n;

    return 0;
}


int
ngx_octopus_auth_json_type(const ngx_octopus_auth_json_t *json, int tok)
{
    if (tok < 0 || (size_t) tok >= json->ntoks) {
        return NGX_OCTOPUS_AUTH_JSON_NONE;
    }

    return json->toks[tok].type;
}


int
ngx_octopus_auth_json_string_eq(const ngx_octopus_auth_json_t *json, int tok,
    const char *s)
{
    int                   n;
    size_t                len;
    unsigned char         ch[4];
    const unsigned char  *p, *last, *q;

    if (ngx_octopus_auth_json_type(json, tok) != NGX_OCTOPUS_AUTH_JSON_STRING) {
        return 0;
    }

    p = (const unsigned char *) json->src + json->toks[tok].start;
    last = (const unsigned char *) json->src + json->toks[tok].end;
    len = strlen(s);

    if (!json->toks[tok].escaped) {
        return (size_t) (last - p) == len && memcmp(p, s, len) == 0;
    }

    q = (const unsigned char *) s;

    while (p < last) {
        n = ngx_octopus_auth_json_char(&p, last, ch);

        if (n < 0 || (size_t) n > len - (q - (const unsigned char *) s)
            || memcmp(ch, q, n) != 0)
        {
            return 0;
        }

        q += n;
    }

    return (size_t) (q - (const unsigned char *) s) == len;
}


int
ngx_octopus_auth_json_get(const ngx_octopus_auth_json_t *json, int obj,
    const char *name)
{
    int       key;
    uint32_t  i;

    if (ngx_octopus_auth_json_type(json, obj) != NGX_OCTOPUS_AUTH_JSON_OBJECT) {
        return -1;
    }

    key = obj + 1;

    for (i = 0; i < json->toks[obj].size; i++) {
        if (ngx_octopus_auth_json_string_eq(json, key, name)) {
            return key + 1;
        }

        key = (int) json->toks[key + 1].next;
    }

    return -1;
}


long
ngx_octopus_auth_json_string(const ngx_octopus_auth_json_t *json, int tok,
    char *out, size_t size)
{
    int                   n;
    size_t                len;
    unsigned char         ch[4];
    const unsigned char  *p, *last;

    if (ngx_octopus_auth_json_type(json, tok) != NGX_OCTOPUS_AUTH_JSON_STRING) {
        return -1;
    }

    p = (const unsigned char *) json->src + json->toks[tok].start;
    last = (const unsigned char *) json->src + json->toks[tok].end;
    len = 0;

    while (p < last) {
        n = ngx_octopus_auth_json_char(&p, last, ch);

        if (n < 0 || len + n >= size) {
            return -1;
        }

        memcpy(out + len, ch, n);
        len += n;
    }

    out[len] = '\0';

    return (long) len;
}


int
ngx_octopus_auth_json_number(const ngx_octopus_auth_json_t *json, int tok,
    double *value)
{
    char    buf[64], *end;
    size_t  len;

    if (ngx_octopus_auth_json_type(json, tok) != NGX_OCTOPUS_AUTH_JSON_NUMBER) {
        return -1;
    }

    len = json->toks[tok].end - json->toks[tok].start;

    if (len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, json->src + json->toks[tok].start, len);
    buf[len] = '\0';

    *value = strtod(buf, &end);

    if (*end != '\0' || !isfinite(*value)) {
        return -1;
    }

    return 0;
}


int
ngx_octopus_auth_json_first(const ngx_octopus_auth_json_t *json, int arr)
{
    if (ngx_octopus_auth_json_type(json, arr) != NGX_OCTOPUS_AUTH_JSON_ARRAY
        || json->toks[arr].size == 0)
    {
        return -1;
    }

    return arr + 1;
}


int
ngx_octopus_auth_json_next(const ngx_octopus_auth_json_t *json, int el)
{
    return (int) json->toks[el].next;
}
