
/*
 * Copyright (C) Octopus Guard authors
 *
 * Revocation entries (see the header for the Redis layout).
 */


#include <string.h>

#include "ngx_octopus_auth_revoke_entry.h"


static const char  *ngx_octopus_revoke_names[NGX_OCTOPUS_REVOKE_NTYPES] = {
    "jti", "sub", "key"
};


static int ngx_octopus_revoke_value_ok(const char *s, size_t len);
static int ngx_octopus_revoke_time(const char *s, size_t len, time_t *out);


int
ngx_octopus_revoke_type(const char *s, size_t len)
{
    int  i;

    for (i = 0; i < NGX_OCTOPUS_REVOKE_NTYPES; i++) {
        if (len == 3 && memcmp(s, ngx_octopus_revoke_names[i], 3) == 0) {
            return i;
        }
    }

    return -1;
}


const char *
ngx_octopus_revoke_type_name(int type)
{
    if (type < 0 || type >= NGX_OCTOPUS_REVOKE_NTYPES) {
        return "?";
    }

    return ngx_octopus_revoke_names[type];
}


int
ngx_octopus_revoke_score(const char *s, size_t len, time_t *out)
{
    size_t  i, j;

    if ((len == 3 && memcmp(s, "inf", 3) == 0)
        || (len == 4 && memcmp(s, "+inf", 4) == 0))
    {
        *out = NGX_OCTOPUS_REVOKE_NEVER;
        return 0;
    }

    /* Redis prints integral scores without a fraction; one is cut */

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            break;
        }
    }

    if (i < len) {
        if (i + 1 == len) {
            return -1;
        }

        for (j = i + 1; j < len; j++) {
            if (s[j] < '0' || s[j] > '9') {
                return -1;
            }
        }
    }

    return ngx_octopus_revoke_time(s, i, out);
}


int
ngx_octopus_revoke_member(int type, const char *member, size_t len,
    const char *score, size_t slen, time_t now, ngx_octopus_revoke_entry_t *e)
{
    const char  *sp;

    if (type < 0 || type >= NGX_OCTOPUS_REVOKE_NTYPES) {
        return -1;
    }

    memset(e, 0, sizeof(ngx_octopus_revoke_entry_t));
    e->type = type;

    if (ngx_octopus_revoke_score(score, slen, &e->expires) != 0) {
        return -1;
    }

    if (type == NGX_OCTOPUS_REVOKE_SUB) {
        sp = memchr(member, ' ', len);
        if (sp == NULL
            || ngx_octopus_revoke_time(member, sp - member, &e->before) != 0)
        {
            return -1;
        }

        len -= sp + 1 - member;
        member = sp + 1;
    }

    if (!ngx_octopus_revoke_value_ok(member, len)) {
        return -1;
    }

    e->value = member;
    e->len = len;

    return e->expires <= now ? 1 : 0;
}


int
ngx_octopus_revoke_message(const char *msg, size_t len, time_t now,
    ngx_octopus_revoke_entry_t *e)
{
    int          type;
    const char  *p, *last, *t, *sc;
    size_t       slen;

    p = msg;
    last = msg + len;

    if (len < 4 || msg[3] != ' ') {
        return NGX_OCTOPUS_REVOKE_MSG_BAD;
    }

    if (memcmp(msg, "del ", 4) == 0) {
        return NGX_OCTOPUS_REVOKE_MSG_RESYNC;
    }

    if (memcmp(msg, "add ", 4) != 0) {
        return NGX_OCTOPUS_REVOKE_MSG_BAD;
    }

    p += 4;
    t = p;

    while (p < last && *p != ' ') {
        p++;
    }

    type = ngx_octopus_revoke_type(t, p - t);

    if (type < 0 || p == last) {
        return NGX_OCTOPUS_REVOKE_MSG_BAD;
    }

    sc = ++p;

    while (p < last && *p != ' ') {
        p++;
    }

    slen = p - sc;

    if (p == last) {
        return NGX_OCTOPUS_REVOKE_MSG_BAD;
    }

    p++;

    /* an entry already expired changes nothing: it is not applied */

    switch (ngx_octopus_revoke_member(type, p, last - p, sc, slen, now, e)) {

    case 0:
        return NGX_OCTOPUS_REVOKE_MSG_ADD;

    case 1:
        return NGX_OCTOPUS_REVOKE_MSG_RESYNC;

    default:
        return NGX_OCTOPUS_REVOKE_MSG_BAD;
    }
}


int
ngx_octopus_revoke_applies(const ngx_octopus_revoke_entry_t *e, int has_iat,
    double iat, time_t now)
{
    if (e->expires <= now) {
        return 0;
    }

    if (e->type != NGX_OCTOPUS_REVOKE_SUB) {
        return 1;
    }

    /* "log out everywhere": what cannot say when it was issued goes too */

    if (!has_iat) {
        return 1;
    }

    return iat <= (double) e->before;
}


/* 1 to 256 bytes, no control characters (values that travel in headers) */

static int
ngx_octopus_revoke_value_ok(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_OCTOPUS_REVOKE_VALUE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* decimal Unix seconds, 1 to 10 digits, below NGX_OCTOPUS_REVOKE_NEVER */

static int
ngx_octopus_revoke_time(const char *s, size_t len, time_t *out)
{
    size_t     i;
    long long  v;

    if (len == 0 || len > 10) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    if (v >= (long long) NGX_OCTOPUS_REVOKE_NEVER) {
        v = NGX_OCTOPUS_REVOKE_NEVER;
    }

    *out = (time_t) v;

    return 0;
}
