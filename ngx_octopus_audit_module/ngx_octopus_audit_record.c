
/*
 * Copyright (C) Octopus Guard authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_octopus_json.h"
#include "ngx_octopus_result.h"
#include "ngx_octopus_audit_record.h"


/*
 * HMAC (RFC 2104) from two SHA-256 states computed once from the key: the
 * inner one after key ^ ipad, the outer one after key ^ opad; each record
 * copies them (no algorithm fetch, no allocation).
 */
struct ngx_octopus_audit_mac_s {
    EVP_MD       *md;
    EVP_MD_CTX   *inner;
    EVP_MD_CTX   *outer;
    EVP_MD_CTX   *work;
};


static void ngx_octopus_audit_hex(const unsigned char *md, size_t n,
    unsigned char *out);
static unsigned char *ngx_octopus_audit_copy_escape(unsigned char *dst,
    const unsigned char *src, size_t len);


const ngx_octopus_audit_field_t
    ngx_octopus_audit_fields[NGX_OCTOPUS_AUDIT_NFIELDS] =
{
    { "ts_us", 1, "timestamptz" },
    { "request_id", 0, "text" },
    { "node", 0, "text" },
    { "client", 0, "text" },
    { "user_name", 0, "text" },
    { "role", 0, "text" },
    { "auth_method", 0, "text" },
    { "api_key_id", 0, "text" },
    { "method", 0, "text" },
    { "host", 0, "text" },
    { "path", 0, "text" },
    { "query", 0, "text" },
    { "status", 1, "bigint" },
    { "bytes_sent", 1, "bigint" },
    { "request_length", 1, "bigint" },
    { "request_time_ms", 1, "bigint" },
    { "upstream_status", 0, "text" },
    { "upstream_time", 0, "text" },
    { "user_agent", 0, "text" },
    { "auth_result", 0, "text" },
    { "ratelimit_result", 0, "text" },
    { "event_type", 0, "text" },
    { "chain_id", 0, "text" },
    { "seq", 1, "bigint" },
    { "prev_hash", 0, "text" },
    { "hash", 0, "text" }
};


const char  *ngx_octopus_audit_event_names[NGX_OCTOPUS_AUDIT_EV_N] = {
    "api_call",
    "failed_login_attempt",
    "account_lockout",
    "privilege_escalation",
    "suspicious_api_usage",
    "data_access_anomaly"
};


static const char  ngx_octopus_audit_hexdigits[] = "0123456789abcdef";


size_t
ngx_octopus_audit_columns(char *dst, size_t size, int types)
{
    int     n;
    size_t  i, len;

    len = 0;

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        n = snprintf(dst + len, size - len, "%s%s%s%s", i ? ", " : "",
                     i == NGX_OCTOPUS_AUDIT_F_TS
                     ? "ts" : ngx_octopus_audit_fields[i].name,
                     types ? " " : "",
                     types ? ngx_octopus_audit_fields[i].type : "");

        if (n < 0 || (size_t) n >= size - len) {
            return 0;
        }

        len += n;
    }

    return len;
}


/*
 * The canonical record is, for every hashed field in order, the decimal
 * length of its bytes, ':', the bytes and ';'.  It needs no escaping and is
 * rebuilt byte for byte from a JSON line or a database row.
 */

size_t
ngx_octopus_audit_canonical_len(const ngx_octopus_audit_rec_t *rec)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NCANONICAL; i++) {
        n += 20 + 2 + rec->f[i].len;
    }

    return n;
}


unsigned char *
ngx_octopus_audit_canonical(unsigned char *dst,
    const ngx_octopus_audit_rec_t *rec)
{
    size_t          i, n, v;
    unsigned char   digits[24];

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NCANONICAL; i++) {

        /* the decimal length, without printf on the hot path */

        v = rec->f[i].len;
        n = sizeof(digits);

        do {
            digits[--n] = (unsigned char) ('0' + v % 10);
            v /= 10;
        } while (v);

        memcpy(dst, digits + n, sizeof(digits) - n);
        dst += sizeof(digits) - n;
        *dst++ = ':';

        if (rec->f[i].len) {
            memcpy(dst, rec->f[i].data, rec->f[i].len);
            dst += rec->f[i].len;
        }

        *dst++ = ';';
    }

    return dst;
}


static void
ngx_octopus_audit_hex(const unsigned char *md, size_t n, unsigned char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        out[2 * i] = ngx_octopus_audit_hexdigits[md[i] >> 4];
        out[2 * i + 1] = ngx_octopus_audit_hexdigits[md[i] & 0x0f];
    }
}


int
ngx_octopus_audit_hmac(const unsigned char *key, size_t key_len,
    const unsigned char *buf, size_t len, unsigned char *out)
{
    unsigned int   md_len;
    unsigned char  md[EVP_MAX_MD_SIZE];

    static const unsigned char  empty[1] = { 0 };

    if (HMAC(EVP_sha256(), key_len ? key : empty, (int) key_len, buf, len,
             md, &md_len)
        == NULL || md_len != 32)
    {
        return -1;
    }

    ngx_octopus_audit_hex(md, 32, out);

    return 0;
}


ngx_octopus_audit_mac_t *
ngx_octopus_audit_mac_create(const unsigned char *key, size_t key_len)
{
    size_t                    i;
    unsigned int              n;
    unsigned char             k[64], pad[64];
    ngx_octopus_audit_mac_t  *m;

    m = calloc(1, sizeof(ngx_octopus_audit_mac_t));
    if (m == NULL) {
        return NULL;
    }

    m->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    m->inner = EVP_MD_CTX_new();
    m->outer = EVP_MD_CTX_new();
    m->work = EVP_MD_CTX_new();

    if (m->md == NULL || m->inner == NULL || m->outer == NULL
        || m->work == NULL)
    {
        goto failed;
    }

    memset(k, 0, sizeof(k));

    if (key_len > sizeof(k)) {
        if (!EVP_Digest(key, key_len, k, &n, m->md, NULL)) {
            goto failed;
        }

    } else if (key_len) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x36;
    }

    if (!EVP_DigestInit_ex(m->inner, m->md, NULL)
        || !EVP_DigestUpdate(m->inner, pad, sizeof(pad)))
    {
        goto failed;
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    if (!EVP_DigestInit_ex(m->outer, m->md, NULL)
        || !EVP_DigestUpdate(m->outer, pad, sizeof(pad)))
    {
        goto failed;
    }

    return m;

failed:

    ngx_octopus_audit_mac_free(m);
    return NULL;
}


int
ngx_octopus_audit_mac(ngx_octopus_audit_mac_t *m, const unsigned char *buf,
    size_t len, unsigned char *out)
{
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (!EVP_MD_CTX_copy_ex(m->work, m->inner)
        || !EVP_DigestUpdate(m->work, buf, len)
        || !EVP_DigestFinal_ex(m->work, md, &n)
        || !EVP_MD_CTX_copy_ex(m->work, m->outer)
        || !EVP_DigestUpdate(m->work, md, n)
        || !EVP_DigestFinal_ex(m->work, md, &n)
        || n != 32)
    {
        return -1;
    }

    ngx_octopus_audit_hex(md, 32, out);

    return 0;
}


void
ngx_octopus_audit_mac_free(ngx_octopus_audit_mac_t *m)
{
    if (m == NULL) {
        return;
    }

    EVP_MD_CTX_free(m->inner);
    EVP_MD_CTX_free(m->outer);
    EVP_MD_CTX_free(m->work);
    EVP_MD_free(m->md);
    free(m);
}


size_t
ngx_octopus_audit_json_len(const ngx_octopus_audit_rec_t *rec)
{
    size_t  i, n;

    n = 2 + 1;

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        n += strlen(ngx_octopus_audit_fields[i].name) + 6
             + ngx_octopus_json_escape_len(rec->f[i].data, rec->f[i].len);
    }

    return n;
}


unsigned char *
ngx_octopus_audit_json(unsigned char *dst, const ngx_octopus_audit_rec_t *rec)
{
    size_t   i, n;
    int      quote;

    *dst++ = '{';

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        if (i) {
            *dst++ = ',';
        }

        *dst++ = '"';
        n = strlen(ngx_octopus_audit_fields[i].name);
        memcpy(dst, ngx_octopus_audit_fields[i].name, n);
        dst += n;
        *dst++ = '"';
        *dst++ = ':';

        if (ngx_octopus_audit_fields[i].number && rec->f[i].len == 0) {
            *dst++ = '0';
            continue;
        }

        quote = !ngx_octopus_audit_fields[i].number;

        if (quote) {
            *dst++ = '"';
        }

        dst = ngx_octopus_json_escape(dst, rec->f[i].data, rec->f[i].len);

        if (quote) {
            *dst++ = '"';
        }
    }

    *dst++ = '}';
    *dst++ = '\n';

    return dst;
}


static unsigned char *
ngx_octopus_audit_copy_escape(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    unsigned char  c;

    while (len--) {
        c = *src++;

        switch (c) {
        case '\\': *dst++ = '\\'; *dst++ = '\\'; break;
        case '\n': *dst++ = '\\'; *dst++ = 'n'; break;
        case '\r': *dst++ = '\\'; *dst++ = 'r'; break;
        case '\t': *dst++ = '\\'; *dst++ = 't'; break;
        default:   *dst++ = c;
        }
    }

    return dst;
}


/*
 * A bound, not the length: an escaped byte takes at most 2, so the fields
 * are not scanned twice per record (once to measure, once to copy)
 */

size_t
ngx_octopus_audit_copy_len(const ngx_octopus_audit_rec_t *rec)
{
    size_t  i, n;

    n = sizeof("1970-01-01 00:00:00.000000+00") + 1;

    for (i = 1; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        n += 3 + 2 * rec->f[i].len;
    }

    return n;
}


static unsigned char *
ngx_octopus_audit_digits(unsigned char *p, unsigned int v, int n)
{
    int  i;

    for (i = n - 1; i >= 0; i--) {
        p[i] = (unsigned char) ('0' + v % 10);
        v /= 10;
    }

    return p + n;
}


/*
 * One line of COPY text format; ts as a timestamptz, "" as NULL.  The date
 * and time of day are formatted once per second (no printf per record):
 * the cache is per process, and a worker formats records in one thread.
 */

unsigned char *
ngx_octopus_audit_copy(unsigned char *dst, const ngx_octopus_audit_rec_t *rec)
{
    size_t                i;
    time_t                sec;
    struct tm             tm;
    unsigned char        *p;
    static time_t         cached = (time_t) -1;
    static unsigned char  date[19];     /* "1970-01-01 00:00:00" */

    sec = (time_t) (rec->ts_us / 1000000);

    if (sec != cached) {
        gmtime_r(&sec, &tm);

        p = ngx_octopus_audit_digits(date, (unsigned int) tm.tm_year + 1900,
                                     4);
        *p++ = '-';
        p = ngx_octopus_audit_digits(p, (unsigned int) tm.tm_mon + 1, 2);
        *p++ = '-';
        p = ngx_octopus_audit_digits(p, (unsigned int) tm.tm_mday, 2);
        *p++ = ' ';
        p = ngx_octopus_audit_digits(p, (unsigned int) tm.tm_hour, 2);
        *p++ = ':';
        p = ngx_octopus_audit_digits(p, (unsigned int) tm.tm_min, 2);
        *p++ = ':';
        (void) ngx_octopus_audit_digits(p, (unsigned int) tm.tm_sec, 2);

        cached = sec;
    }

    memcpy(dst, date, sizeof(date));
    dst += sizeof(date);
    *dst++ = '.';
    dst = ngx_octopus_audit_digits(dst,
                                   (unsigned int) (rec->ts_us % 1000000), 6);
    memcpy(dst, "+00", 3);
    dst += 3;

    for (i = 1; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        *dst++ = '\t';

        if (rec->f[i].len == 0) {
            *dst++ = '\\';
            *dst++ = 'N';
            continue;
        }

        dst = ngx_octopus_audit_copy_escape(dst, rec->f[i].data,
                                            rec->f[i].len);
    }

    *dst++ = '\n';

    return dst;
}


/*
 * One event per record, the most severe first: a lockout, a rate-limit
 * rejection, a failed login, an RBAC denial, a data access anomaly.  The
 * results are the values of $octopus_auth_result and
 * $octopus_ratelimit_result (ngx_octopus_result.h).
 */

int
ngx_octopus_audit_classify(const unsigned char *auth, size_t auth_len,
    const unsigned char *rl, size_t rl_len, unsigned status, int login,
    int anomaly)
{
    unsigned  a, l;

    a = ngx_octopus_auth_result_parse(auth, auth_len);
    l = ngx_octopus_rl_result_parse(rl, rl_len);

    if (l == NGX_OCTOPUS_RL_R_LOCKED) {
        return NGX_OCTOPUS_AUDIT_EV_ACCOUNT_LOCKOUT;
    }

    if (l == NGX_OCTOPUS_RL_R_LIMITED || l == NGX_OCTOPUS_RL_R_BANNED) {
        return NGX_OCTOPUS_AUDIT_EV_SUSPICIOUS_API_USAGE;
    }

    if ((login && status == 401)
        || a == NGX_OCTOPUS_AUTH_R_INVALID
        || a == NGX_OCTOPUS_AUTH_R_EXPIRED)
    {
        return NGX_OCTOPUS_AUDIT_EV_FAILED_LOGIN;
    }

    if (a == NGX_OCTOPUS_AUTH_R_FORBIDDEN) {
        return NGX_OCTOPUS_AUDIT_EV_PRIVILEGE_ESCALATION;
    }

    if (anomaly) {
        return NGX_OCTOPUS_AUDIT_EV_DATA_ACCESS_ANOMALY;
    }

    return NGX_OCTOPUS_AUDIT_EV_API_CALL;
}


/* FNV-1a, never 0 (0 marks a free slot) */

uint64_t
ngx_octopus_audit_user_key(const unsigned char *user, size_t len)
{
    uint64_t  h;

    h = 0xcbf29ce484222325ULL;

    while (len--) {
        h ^= *user++;
        h *= 0x100000001b3ULL;
    }

    return h ? h : 1;
}


#define NGX_OCTOPUS_AUDIT_PROBES  8

int
ngx_octopus_audit_anomaly_add(ngx_octopus_audit_anomaly_slot_t *slots,
    size_t n, uint64_t key, uint64_t now_ms, uint64_t within_ms,
    uint64_t bytes, uint64_t max_bytes, uint64_t max_requests)
{
    size_t                             i, idx;
    ngx_octopus_audit_anomaly_slot_t  *s, *victim;

    if (n == 0) {
        return 0;
    }

    s = NULL;
    victim = NULL;

    for (i = 0; i < NGX_OCTOPUS_AUDIT_PROBES && i < n; i++) {
        idx = (size_t) ((key + i) % n);

        if (slots[idx].key == key) {
            s = &slots[idx];
            break;
        }

        if (victim == NULL
            || slots[idx].key == 0
            || (victim->key != 0
                && slots[idx].window_start < victim->window_start))
        {
            if (victim == NULL || victim->key != 0) {
                victim = &slots[idx];
            }
        }
    }

    if (s == NULL) {
        s = victim;
        s->key = key;
        s->window_start = now_ms;
        s->bytes = 0;
        s->requests = 0;
        s->flagged = 0;
    }

    if (now_ms >= s->window_start + within_ms) {
        s->window_start = now_ms;
        s->bytes = 0;
        s->requests = 0;
        s->flagged = 0;
    }

    s->bytes += bytes;
    s->requests++;

    if (s->flagged) {
        return 0;
    }

    if ((max_bytes && s->bytes > max_bytes)
        || (max_requests && s->requests > max_requests))
    {
        s->flagged = 1;
        return 1;
    }

    return 0;
}
