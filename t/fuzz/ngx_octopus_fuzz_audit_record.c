
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the audit record path.  The input, split at 0x01
 * bytes, gives the record's fields; each is sanitised as the module does,
 * then the JSON line (checked by parsing it back with jansson), the COPY
 * text line (decoded back, one line, one tab per column) and the
 * canonical form are written into buffers of exactly the announced size.
 * The path and query go through the redaction (cards, secret parameters,
 * a configured pattern).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ngx_octopus_json.h"
#include "ngx_octopus_audit_record.h"
#include "ngx_octopus_audit_redact.h"


#define NF  NGX_OCTOPUS_AUDIT_NFIELDS


static void
check_json(const ngx_octopus_audit_rec_t *rec)
{
    size_t           i, len;
    json_t          *doc, *v;
    json_error_t     err;
    unsigned char   *buf, *end;

    len = ngx_octopus_audit_json_len(rec);
    buf = malloc(len);
    if (buf == NULL) {
        abort();
    }

    end = ngx_octopus_audit_json(buf, rec);

    if ((size_t) (end - buf) > len || end[-1] != '\n'
        || memchr(buf, '\n', end - buf - 1) != NULL)
    {
        abort();
    }

    doc = json_loadb((const char *) buf, end - buf - 1, 0, &err);
    if (doc == NULL || !json_is_object(doc)) {
        fprintf(stderr, "invalid JSON line (%s): %.*s\n",
                doc ? "not an object" : err.text, (int) (end - buf), buf);
        abort();
    }

    for (i = 0; i < NF; i++) {
        v = json_object_get(doc, ngx_octopus_audit_fields[i].name);
        if (v == NULL) {
            abort();
        }

        if (ngx_octopus_audit_fields[i].number) {
            if (!json_is_integer(v) && !json_is_real(v)) {
                abort();
            }

            continue;
        }

        if (!json_is_string(v)
            || json_string_length(v) != rec->f[i].len
            || (rec->f[i].len
                && memcmp(json_string_value(v), rec->f[i].data,
                          rec->f[i].len)
                   != 0))
        {
            abort();
        }
    }

    json_decref(doc);
    free(buf);
}


static void
check_copy(const ngx_octopus_audit_rec_t *rec)
{
    size_t          i, len, n;
    unsigned char  *buf, *end, *p, *q, *col;

    len = ngx_octopus_audit_copy_len(rec);
    buf = malloc(len);
    col = malloc(len);
    if (buf == NULL || col == NULL) {
        abort();
    }

    end = ngx_octopus_audit_copy(buf, rec);

    if ((size_t) (end - buf) > len || end[-1] != '\n'
        || memchr(buf, '\n', end - buf - 1) != NULL
        || memchr(buf, '\r', end - buf) != NULL)
    {
        abort();
    }

    /* skip the timestamp, then decode each column back */

    p = memchr(buf, '\t', end - buf);
    if (p == NULL) {
        abort();
    }

    for (i = 1; i < NF; i++) {
        if (*p++ != '\t') {
            abort();
        }

        n = 0;

        if (p[0] == '\\' && p[1] == 'N' && (p[2] == '\t' || p[2] == '\n')) {
            if (rec->f[i].len != 0) {
                abort();
            }

            p += 2;
            continue;
        }

        for (q = p; *q != '\t' && *q != '\n'; q++) {
            if (*q == '\\') {
                q++;
                switch (*q) {
                case '\\': col[n++] = '\\'; break;
                case 'n':  col[n++] = '\n'; break;
                case 'r':  col[n++] = '\r'; break;
                case 't':  col[n++] = '\t'; break;
                default:   abort();
                }

            } else {
                col[n++] = *q;
            }
        }

        if (n != rec->f[i].len
            || (n && memcmp(col, rec->f[i].data, n) != 0))
        {
            abort();
        }

        p = q;
    }

    if (p != end - 1) {
        abort();
    }

    free(buf);
    free(col);
}


static void
check_canonical(const ngx_octopus_audit_rec_t *rec)
{
    size_t          len;
    unsigned char  *buf, *end;

    len = ngx_octopus_audit_canonical_len(rec);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        abort();
    }

    end = ngx_octopus_audit_canonical(buf, rec);
    if ((size_t) (end - buf) > len) {     /* len is an upper bound */
        abort();
    }

    free(buf);
}


static void
check_redact(const unsigned char *src, size_t len, unsigned sel)
{
    int                             rc;
    size_t                          n, max;
    unsigned char                  *buf;
    static ngx_octopus_audit_re_t  *re;
    char                            err[128];

    if (re == NULL) {
        re = ngx_octopus_audit_re_compile(
                 (const unsigned char *) "(?i)(session|sid)=[^&;]*", 24,
                 (const unsigned char *) "$1=[REDACTED]", 13,
                 err, sizeof(err));
        if (re == NULL) {
            abort();
        }
    }

    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, src, len);
    if (ngx_octopus_audit_redact_cards(buf, len) > len) {
        abort();
    }

    free(buf);

    max = ngx_octopus_audit_redact_params_max(src, len);
    buf = malloc(max ? max : 1);
    if (buf == NULL) {
        abort();
    }

    if (ngx_octopus_audit_redact_params(buf, src, len) > max) {
        abort();
    }

    free(buf);

    n = sel % 64;
    buf = malloc(n ? n : 1);
    if (buf == NULL) {
        abort();
    }

    rc = ngx_octopus_audit_re_apply(re, src, len, buf, &n);
    free(buf);

    if (rc == 1) {
        buf = malloc(n ? n : 1);
        if (buf == NULL) {
            abort();
        }

        if (ngx_octopus_audit_re_apply(re, src, len, buf, &n) != 0) {
            abort();
        }

        free(buf);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                    i, k, len, d;
    const uint8_t            *p, *end, *sep;
    unsigned char            *san[NF];
    ngx_octopus_audit_rec_t   rec;

    if (size < 1 || size > 65536) {
        return 0;
    }

    memset(&rec, 0, sizeof(rec));

    /* a timestamp within 1970..2100, as nginx's clock gives */
    rec.ts_us = (int64_t) (data[0] * 16777216LL) * 1000000 % 4102444800000000LL;

    p = data + 1;
    end = data + size;

    for (i = 0; i < NF; i++) {
        san[i] = NULL;
    }

    for (i = 0; i < NF && p <= end; i++) {
        sep = memchr(p, 0x01, end - p);
        len = (sep ? sep : end) - p;

        if (i == 0) {
            check_redact(p, len, data[0]);
        }

        san[i] = malloc(ngx_octopus_sanitize_max(len) + 1);
        if (san[i] == NULL) {
            abort();
        }

        k = ngx_octopus_sanitize(san[i], p, len);

        if (k > ngx_octopus_sanitize_max(len)
            || !ngx_octopus_utf8_clean(san[i], k))
        {
            abort();
        }

        if (ngx_octopus_audit_fields[i].number) {
            /* the module writes decimal numbers only into numeric fields */
            for (d = 0, len = 0; d < k; d++) {
                if (san[i][d] >= '0' && san[i][d] <= '9' && len < 18
                    && !(len == 1 && san[i][0] == '0'))
                {
                    san[i][len++] = san[i][d];
                }
            }

            k = len;
        }

        rec.f[i].data = san[i];
        rec.f[i].len = k;

        if (sep == NULL) {
            break;
        }

        p = sep + 1;
    }

    check_json(&rec);
    check_copy(&rec);
    check_canonical(&rec);

    for (i = 0; i < NF; i++) {
        free(san[i]);
    }

    return 0;
}
