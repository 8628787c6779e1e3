
/*
 * Copyright (C) Octopus Guard authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH  8
#include <pcre2.h>

#include "ngx_octopus_audit_redact.h"


struct ngx_octopus_audit_re_s {
    pcre2_code     *code;
    unsigned char  *replace;
    size_t          replace_len;
};


static int ngx_octopus_audit_secret_name(const unsigned char *name,
    size_t len);
static int ngx_octopus_audit_re_check(pcre2_code *code,
    const unsigned char *p, size_t len, char *err, size_t err_size);


static const char  *ngx_octopus_audit_secret_names[] = {
    "password", "passwd", "secret", "token", "api_key", "apikey", NULL
};


int
ngx_octopus_audit_luhn(const unsigned char *digits, size_t len)
{
    int     d, sum, dbl;
    size_t  i;

    sum = 0;
    dbl = 0;

    for (i = len; i > 0; i--) {
        d = digits[i - 1] - '0';

        if (d < 0 || d > 9) {
            return 0;
        }

        if (dbl) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
        dbl = !dbl;
    }

    return len > 0 && sum % 10 == 0;
}


size_t
ngx_octopus_audit_redact_cards(unsigned char *buf, size_t len)
{
    size_t  i, j, n, out;

    out = 0;
    i = 0;

    while (i < len) {
        if (buf[i] < '0' || buf[i] > '9') {
            buf[out++] = buf[i++];
            continue;
        }

        j = i;
        while (j < len && buf[j] >= '0' && buf[j] <= '9') {
            j++;
        }

        n = j - i;

        if (n >= 13 && n <= 19 && ngx_octopus_audit_luhn(buf + i, n)) {
            memcpy(buf + out, NGX_OCTOPUS_AUDIT_REDACTED,
                   NGX_OCTOPUS_AUDIT_REDACTED_LEN);
            out += NGX_OCTOPUS_AUDIT_REDACTED_LEN;

        } else {
            memmove(buf + out, buf + i, n);
            out += n;
        }

        i = j;
    }

    return out;
}


static int
ngx_octopus_audit_secret_name(const unsigned char *name, size_t len)
{
    size_t       i, j, n;
    const char  *s;

    for (i = 0; ngx_octopus_audit_secret_names[i]; i++) {
        s = ngx_octopus_audit_secret_names[i];
        n = strlen(s);

        for (j = 0; j + n <= len; j++) {
            if (strncasecmp((const char *) name + j, s, n) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


size_t
ngx_octopus_audit_redact_params_max(const unsigned char *src, size_t len)
{
    size_t  i, n;

    n = 1;

    for (i = 0; i < len; i++) {
        if (src[i] == '&' || src[i] == ';') {
            n++;
        }
    }

    return len + n * NGX_OCTOPUS_AUDIT_REDACTED_LEN;
}


size_t
ngx_octopus_audit_redact_params(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    size_t                i, end, eq, out;

    out = 0;
    i = 0;

    while (i < len) {
        end = i;
        eq = len;

        while (end < len && src[end] != '&' && src[end] != ';') {
            if (src[end] == '=' && eq == len) {
                eq = end;
            }

            end++;
        }

        if (eq != len && ngx_octopus_audit_secret_name(src + i, eq - i)) {
            memcpy(dst + out, src + i, eq + 1 - i);
            out += eq + 1 - i;
            memcpy(dst + out, NGX_OCTOPUS_AUDIT_REDACTED,
                   NGX_OCTOPUS_AUDIT_REDACTED_LEN);
            out += NGX_OCTOPUS_AUDIT_REDACTED_LEN;

        } else {
            memcpy(dst + out, src + i, end - i);
            out += end - i;
        }

        if (end < len) {
            dst[out++] = src[end];
        }

        i = end + 1;
    }

    return out;
}


ngx_octopus_audit_re_t *
ngx_octopus_audit_re_compile(const unsigned char *re, size_t re_len,
    const unsigned char *replace, size_t replace_len, char *err,
    size_t err_size)
{
    int                      rc;
    PCRE2_SIZE               off;
    ngx_octopus_audit_re_t  *r;
    PCRE2_UCHAR              msg[256];

    r = calloc(1, sizeof(ngx_octopus_audit_re_t));
    if (r == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }

    r->code = pcre2_compile(re, re_len, 0, &rc, &off, NULL);

    if (r->code == NULL) {
        pcre2_get_error_message(rc, msg, sizeof(msg));
        snprintf(err, err_size, "%s at offset %zu", (char *) msg,
                 (size_t) off);
        free(r);
        return NULL;
    }

    /* JIT is an optimisation: without it matching still works */
    (void) pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);

    r->replace = malloc(replace_len + 1);
    if (r->replace == NULL) {
        snprintf(err, err_size, "out of memory");
        pcre2_code_free(r->code);
        free(r);
        return NULL;
    }

    memcpy(r->replace, replace, replace_len);
    r->replace[replace_len] = '\0';
    r->replace_len = replace_len;

    /*
     * the groups a replacement names are checked against the pattern: a
     * substitution would find a missing one only at its first match, and
     * the field would then be dropped; the empty subject below checks the
     * rest of the syntax pcre2 knows
     */

    if (ngx_octopus_audit_re_check(r->code, replace, replace_len, err,
                                   err_size)
        != 0)
    {
        ngx_octopus_audit_re_free(r);
        return NULL;
    }

    {
        PCRE2_UCHAR  out[16];
        PCRE2_SIZE   out_len = sizeof(out);

        rc = pcre2_substitute(r->code, (PCRE2_SPTR) "", 0, 0,
                              PCRE2_SUBSTITUTE_GLOBAL
                              | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
                              NULL, NULL, r->replace, r->replace_len,
                              out, &out_len);

        if (rc < 0 && rc != PCRE2_ERROR_NOMEMORY) {
            pcre2_get_error_message(rc, msg, sizeof(msg));
            snprintf(err, err_size, "%s", (char *) msg);
            ngx_octopus_audit_re_free(r);
            return NULL;
        }
    }

    return r;
}


/*
 * pcre2_substitute()'s plain syntax: "$$", "$n", "${n}", "$name",
 * "${name}" and "$*MARK", "${*MARK}"
 */

static int
ngx_octopus_audit_re_check(pcre2_code *code, const unsigned char *p,
    size_t len, char *err, size_t err_size)
{
    int                   brace;
    char                  name[64];
    size_t                n;
    uint32_t              groups;
    unsigned long         group;
    const unsigned char  *end, *start;

    if (pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups) != 0) {
        groups = 0;
    }

    end = p + len;

    while (p < end) {

        if (*p++ != '$') {
            continue;
        }

        if (p < end && *p == '$') {
            p++;
            continue;
        }

        brace = (p < end && *p == '{');
        if (brace) {
            p++;
        }

        if (p < end && *p == '*') {
            p++;
        }

        start = p;

        if (p < end && *p >= '0' && *p <= '9') {
            group = 0;

            while (p < end && *p >= '0' && *p <= '9') {
                group = group * 10 + (*p++ - '0');

                if (group > groups) {
                    snprintf(err, err_size,
                             "the replacement names group %lu, the pattern "
                             "has %u", group, (unsigned) groups);
                    return -1;
                }
            }

        } else {
            while (p < end && ((*p >= 'a' && *p <= 'z')
                               || (*p >= 'A' && *p <= 'Z')
                               || (*p >= '0' && *p <= '9') || *p == '_'))
            {
                p++;
            }

            n = p - start;

            if (n == 0 || n >= sizeof(name)) {
                snprintf(err, err_size, "invalid \"$\" at offset %zu of "
                         "the replacement (\"$$\" is a dollar sign)",
                         (size_t) (start - (end - len)) - 1 - brace);
                return -1;
            }

            if (start[-1] != '*') {
                memcpy(name, start, n);
                name[n] = '\0';

                if (pcre2_substring_number_from_name(code,
                                                     (PCRE2_SPTR) name)
                    < 0)
                {
                    snprintf(err, err_size, "the replacement names group "
                             "\"%s\", the pattern has no such group", name);
                    return -1;
                }
            }
        }

        if (brace) {
            if (p == end || *p != '}') {
                snprintf(err, err_size, "a \"${\" without \"}\" in the "
                         "replacement");
                return -1;
            }

            p++;
        }
    }

    return 0;
}


void
ngx_octopus_audit_re_free(ngx_octopus_audit_re_t *re)
{
    if (re == NULL) {
        return;
    }

    pcre2_code_free(re->code);
    free(re->replace);
    free(re);
}


int
ngx_octopus_audit_re_apply(ngx_octopus_audit_re_t *re,
    const unsigned char *src, size_t len, unsigned char *dst,
    size_t *dst_len)
{
    int         rc;
    PCRE2_SIZE  out_len;

    out_len = *dst_len;

    rc = pcre2_substitute(re->code, src, len, 0,
                          PCRE2_SUBSTITUTE_GLOBAL
                          | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
                          NULL, NULL, re->replace, re->replace_len,
                          dst, &out_len);

    if (rc == PCRE2_ERROR_NOMEMORY) {
        *dst_len = out_len;
        return 1;
    }

    if (rc < 0) {
        return -1;
    }

    *dst_len = out_len;

    return 0;
}
