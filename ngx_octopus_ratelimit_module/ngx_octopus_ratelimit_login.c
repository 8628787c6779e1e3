
/*
 * Copyright (C) Octopus Guard authors
 *
 * "Victim", " victim", "victim\u200b" and "\uff56ictim" (fullwidth v) are
 * one account to most backends (a trimming form library, a case-insensitive
 * collation, NFKC in the user store), so they are one lockout key.  The
 * buffers are on the stack; ICU keeps its normalizer data in its own
 * process-wide cache (loaded once, read-only afterwards).
 */


#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "ngx_octopus_ratelimit_login.h"
#include "ngx_octopus_json.h"


/* a name is at most 256 bytes: never more UTF-16 units than bytes */
#define NGX_OCTOPUS_RL_LOGIN_UNITS  512

/* NFKC may expand a character up to 18 times (U+FDFA) */
#define NGX_OCTOPUS_RL_LOGIN_NORM   (NGX_OCTOPUS_RL_LOGIN_UNITS * 4)


static int32_t ngx_octopus_rl_login_trim(UChar *s, int32_t len);


/* valid UTF-8 without NUL (a C backend would cut the name there) */

int
ngx_octopus_rl_login_utf8(const unsigned char *p, size_t len)
{
    return ngx_octopus_utf8_clean(p, len);
}


int
ngx_octopus_rl_login_canon(const unsigned char *in, size_t len,
    unsigned char *out, size_t outsz, size_t *outlen)
{
    UChar                src[NGX_OCTOPUS_RL_LOGIN_UNITS];
    UChar                dst[NGX_OCTOPUS_RL_LOGIN_NORM];
    int32_t              slen, dlen, olen;
    UErrorCode           err;
    const UNormalizer2  *nfkc_cf;

    if (!ngx_octopus_rl_login_utf8(in, len)) {
        return NGX_OCTOPUS_RL_LOGIN_UTF8;
    }

    if (len > NGX_OCTOPUS_RL_LOGIN_UNITS) {
        return NGX_OCTOPUS_RL_LOGIN_TOO_LONG;
    }

    err = U_ZERO_ERROR;
    u_strFromUTF8(src, NGX_OCTOPUS_RL_LOGIN_UNITS, &slen, (const char *) in,
                  (int32_t) len, &err);
    if (U_FAILURE(err)) {
        return NGX_OCTOPUS_RL_LOGIN_ERROR;
    }

    /* trimmed first, so that leading spaces are not kept by NFKC */

    slen = ngx_octopus_rl_login_trim(src, slen);

    err = U_ZERO_ERROR;
    nfkc_cf = unorm2_getNFKCCasefoldInstance(&err);
    if (U_FAILURE(err)) {
        return NGX_OCTOPUS_RL_LOGIN_ERROR;
    }

    dlen = unorm2_normalize(nfkc_cf, src, slen, dst, NGX_OCTOPUS_RL_LOGIN_NORM,
                            &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
        return NGX_OCTOPUS_RL_LOGIN_TOO_LONG;
    }

    if (U_FAILURE(err)) {
        return NGX_OCTOPUS_RL_LOGIN_ERROR;
    }

    /* and again: a zero-width character removed may uncover spaces */

    dlen = ngx_octopus_rl_login_trim(dst, dlen);

    err = U_ZERO_ERROR;
    u_strToUTF8((char *) out, (int32_t) outsz, &olen, dst, dlen, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
        return NGX_OCTOPUS_RL_LOGIN_TOO_LONG;
    }

    if (U_FAILURE(err)) {
        return NGX_OCTOPUS_RL_LOGIN_ERROR;
    }

    *outlen = (size_t) olen;

    return NGX_OCTOPUS_RL_LOGIN_OK;
}


/* removes White_Space code points at both ends; returns the new length */

static int32_t
ngx_octopus_rl_login_trim(UChar *s, int32_t len)
{
    UChar32  c;
    int32_t  start, end, i, k;

    start = 0;

    while (start < len) {
        i = start;
        U16_NEXT(s, i, len, c);

        if (!u_isUWhiteSpace(c)) {
            break;
        }

        start = i;
    }

    end = len;

    while (end > start) {
        i = end;
        U16_PREV(s, start, i, c);

        if (!u_isUWhiteSpace(c)) {
            break;
        }

        end = i;
    }

    if (start > 0) {
        for (k = start; k < end; k++) {
            s[k - start] = s[k];
        }
    }

    return end - start;
}
