
/*
 * Copyright (C) Octopus Guard authors
 *
 * Role-based access control in plain C: see ngx_octopus_auth_rbac.h.
 */


#define _GNU_SOURCE                    /* timegm() */

#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ngx_octopus_auth_rbac.h"


static const struct {
    const char  *role;
    const char  *perms[7];
} ngx_octopus_rbac_default_roles[] = {
    { "admin", { "read", "write", "delete", "manage_users", "system_admin",
                 NULL } },
    { "trader", { "read", "write", "trade", "portfolio_manage", NULL } },
    { "analyst", { "read", "analyze", "report", NULL } },
    { "user", { "read", NULL } },
    { NULL, { NULL } }
};


void
ngx_octopus_rbac_init(ngx_octopus_rbac_t *rbac)
{
    memset(rbac, 0, sizeof(ngx_octopus_rbac_t));
}


void
ngx_octopus_rbac_defaults(ngx_octopus_rbac_t *rbac)
{
    int          role;
    size_t       i, j;
    const char  *reason, *p;

    ngx_octopus_rbac_init(rbac);

    for (i = 0; ngx_octopus_rbac_default_roles[i].role; i++) {
        p = ngx_octopus_rbac_default_roles[i].role;
        role = ngx_octopus_rbac_add_role(rbac, p, strlen(p), &reason);

        for (j = 0; ngx_octopus_rbac_default_roles[i].perms[j]; j++) {
            p = ngx_octopus_rbac_default_roles[i].perms[j];
            (void) ngx_octopus_rbac_grant(rbac, role, p, strlen(p), &reason);
        }
    }
}


/* names travel in HTTP headers: a conservative character set */

int
ngx_octopus_rbac_valid_name(const char *name, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len >= NGX_OCTOPUS_RBAC_NAME_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'
              || c == ':'))
        {
            return 0;
        }
    }

    return 1;
}


static int
ngx_octopus_rbac_find(const char (*names)[NGX_OCTOPUS_RBAC_NAME_LEN],
    size_t n, const char *name, size_t len)
{
    size_t  i;

    if (len >= NGX_OCTOPUS_RBAC_NAME_LEN) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (strncmp(names[i], name, len) == 0 && names[i][len] == '\0') {
            return (int) i;
        }
    }

    return -1;
}


int
ngx_octopus_rbac_role_index(const ngx_octopus_rbac_t *rbac, const char *name,
    size_t len)
{
    return ngx_octopus_rbac_find(rbac->role_names, rbac->nroles, name, len);
}


int
ngx_octopus_rbac_perm_index(const ngx_octopus_rbac_t *rbac, const char *name,
    size_t len)
{
    return ngx_octopus_rbac_find(rbac->perm_names, rbac->nperms, name, len);
}


int
ngx_octopus_rbac_add_role(ngx_octopus_rbac_t *rbac, const char *name,
    size_t len, const char **reason)
{
    if (!ngx_octopus_rbac_valid_name(name, len)) {
        *reason = "invalid role name";
        return -1;
    }

    if (ngx_octopus_rbac_role_index(rbac, name, len) >= 0) {
        *reason = "duplicate role";
        return -1;
    }

    if (rbac->nroles == NGX_OCTOPUS_RBAC_MAX) {
        *reason = "too many roles";
        return -1;
    }

    memcpy(rbac->role_names[rbac->nroles], name, len);
    rbac->role_names[rbac->nroles][len] = '\0';
    rbac->role_perms[rbac->nroles] = 0;

    return (int) rbac->nroles++;
}


int
ngx_octopus_rbac_grant(ngx_octopus_rbac_t *rbac, int role, const char *perm,
    size_t len, const char **reason)
{
    int  i;

    if (!ngx_octopus_rbac_valid_name(perm, len)) {
        *reason = "invalid permission name";
        return -1;
    }

    i = ngx_octopus_rbac_perm_index(rbac, perm, len);

    if (i < 0) {
        if (rbac->nperms == NGX_OCTOPUS_RBAC_MAX) {
            *reason = "too many permissions";
            return -1;
        }

        i = (int) rbac->nperms++;
        memcpy(rbac->perm_names[i], perm, len);
        rbac->perm_names[i][len] = '\0';
    }

    rbac->role_perms[role] |= (uint64_t) 1 << i;

    return i;
}


/* comma-separated names of the bits set in mask; returns the length */

size_t
ngx_octopus_rbac_format(const ngx_octopus_rbac_t *rbac, uint64_t mask,
    int roles, char *buf, size_t size)
{
    size_t       i, n, len, total;
    const char  *name;

    total = roles ? rbac->nroles : rbac->nperms;
    len = 0;

    if (size == 0) {
        return 0;
    }

    for (i = 0; i < total; i++) {
        if (!(mask & ((uint64_t) 1 << i))) {
            continue;
        }

        name = roles ? rbac->role_names[i] : rbac->perm_names[i];
        n = strlen(name);

        if (len + n + 2 > size) {
            break;
        }

        if (len) {
            buf[len++] = ',';
        }

        memcpy(buf + len, name, n);
        len += n;
    }

    buf[len] = '\0';

    return len;
}


static uint64_t
ngx_octopus_rbac_role(const ngx_octopus_rbac_t *rbac,
    const ngx_octopus_auth_json_t *claims, int tok, uint64_t *roles)
{
    int    i;
    long   len;
    char   name[NGX_OCTOPUS_RBAC_NAME_LEN];

    len = ngx_octopus_auth_json_string(claims, tok, name, sizeof(name));
    if (len < 0) {
        return 0;
    }

    i = ngx_octopus_rbac_role_index(rbac, name, (size_t) len);
    if (i < 0) {
        return 0;
    }

    *roles |= (uint64_t) 1 << i;

    return rbac->role_perms[i];
}


static uint64_t
ngx_octopus_rbac_claim(const ngx_octopus_rbac_t *rbac,
    const ngx_octopus_auth_json_t *claims, int v, uint64_t *roles)
{
    int        item;
    uint32_t   i;
    uint64_t   perms;

    perms = 0;

    switch (ngx_octopus_auth_json_type(claims, v)) {

    case NGX_OCTOPUS_AUTH_JSON_STRING:
        perms = ngx_octopus_rbac_role(rbac, claims, v, roles);
        break;

    case NGX_OCTOPUS_AUTH_JSON_ARRAY:
        item = ngx_octopus_auth_json_first(claims, v);

        for (i = 0; i < claims->toks[v].size; i++) {
            perms |= ngx_octopus_rbac_role(rbac, claims, item, roles);
            item = ngx_octopus_auth_json_next(claims, item);
        }

        break;

    default:
        break;
    }

    return perms;
}


/*
 * The permissions granted by a token: the union over the known roles named
 * by role_claim (a string or an array), or by "role" and "roles" when
 * role_claim is NULL.  Unknown roles grant nothing.
 */

uint64_t
ngx_octopus_rbac_claims(const ngx_octopus_rbac_t *rbac,
    const ngx_octopus_auth_json_t *claims, const char *role_claim,
    uint64_t *roles)
{
    uint64_t  perms;

    *roles = 0;

    if (role_claim) {
        return ngx_octopus_rbac_claim(rbac, claims,
                                      ngx_octopus_auth_json_get(claims, 0,
                                                           role_claim),
                                      roles);
    }

    perms = ngx_octopus_rbac_claim(rbac, claims,
                                   ngx_octopus_auth_json_get(claims, 0, "role"),
                                   roles);
    perms |= ngx_octopus_rbac_claim(rbac, claims,
                                    ngx_octopus_auth_json_get(claims, 0,
                                                              "roles"),
                                    roles);

    return perms;
}


int
ngx_octopus_rbac_rule_compile(ngx_octopus_rbac_rule_t *rule,
    const char *pattern, size_t len, int caseless, char *err, size_t err_len)
{
    int          errcode;
    PCRE2_SIZE   erroff;
    PCRE2_UCHAR  msg[128];

    rule->re = pcre2_compile((PCRE2_SPTR) pattern, len,
                             caseless ? PCRE2_CASELESS : 0, &errcode, &erroff,
                             NULL);
    if (rule->re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        snprintf(err, err_len, "%s at offset %zu", (char *) msg,
                 (size_t) erroff);
        return -1;
    }

    /* JIT is an optimization: the interpreter is used where it fails */
    (void) pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);

    return 0;
}


int
ngx_octopus_rbac_rule_match(const ngx_octopus_rbac_rule_t *rule,
    const char *uri, size_t len, uint32_t method)
{
    int                rc;
    pcre2_match_data  *md;

    if (rule->methods && !(rule->methods & method)) {
        return 0;
    }

    md = pcre2_match_data_create(1, NULL);
    if (md == NULL) {
        return -1;
    }

    rc = pcre2_match(rule->re, (PCRE2_SPTR) uri, len, 0, 0, md, NULL);

    pcre2_match_data_free(md);

    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }

    return rc >= 0 ? 1 : -1;
}


void
ngx_octopus_rbac_rule_free(ngx_octopus_rbac_rule_t *rule)
{
    pcre2_code_free(rule->re);
    rule->re = NULL;
}


/* API keys */


static int
ngx_octopus_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
ngx_octopus_apikey_expiry(const char *s, size_t len, time_t *t)
{
    size_t     i;
    char       buf[32];
    char      *end;
    struct tm  tm;
    long long  v;

    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    for (i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        /* void */
    }

    if (i == len) {
        v = strtoll(buf, &end, 10);
        if (*end != '\0' || v <= 0) {
            return -1;
        }

        *t = (time_t) v;
        return 0;
    }

    memset(&tm, 0, sizeof(struct tm));

    end = strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0') {
        memset(&tm, 0, sizeof(struct tm));
        end = strptime(buf, "%Y-%m-%d", &tm);

        if (end == NULL || *end != '\0') {
            return -1;
        }
    }

    *t = timegm(&tm);

    return *t == (time_t) -1 ? -1 : 0;
}


/*
 * One line of the API key file: "id sha256-hex role [expires]", where
 * expires is YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or a Unix time.  Returns 1
 * for a key, 0 for a blank or comment line, -1 with a reason on error.
 */

int
ngx_octopus_apikey_parse_line(const ngx_octopus_rbac_t *rbac,
    const char *line, size_t len, ngx_octopus_apikey_t *key,
    const char **reason)
{
    int          hi, lo;
    size_t       i, n, nf, flen[5];
    const char  *f[5];

    memset(key, 0, sizeof(ngx_octopus_apikey_t));

    nf = 0;
    i = 0;

    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'
                           || line[i] == '\r'))
        {
            i++;
        }

        if (i == len || line[i] == '#') {
            break;
        }

        if (nf == 5) {
            *reason = "too many fields";
            return -1;
        }

        f[nf] = line + i;

        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
        {
            i++;
        }

        flen[nf] = line + i - f[nf];
        nf++;
    }

    if (nf == 0) {
        return 0;
    }

    if (nf < 3 || nf > 4) {
        *reason = "expected \"id sha256 role [expires]\"";
        return -1;
    }

    if (!ngx_octopus_rbac_valid_name(f[0], flen[0])) {
        *reason = "invalid key id";
        return -1;
    }

    memcpy(key->id, f[0], flen[0]);
    key->id[flen[0]] = '\0';

    if (flen[1] != 64) {
        *reason = "hash is not 64 hex digits (SHA-256)";
        return -1;
    }

    for (n = 0; n < 32; n++) {
        hi = ngx_octopus_hexval(f[1][2 * n]);
        lo = ngx_octopus_hexval(f[1][2 * n + 1]);

        if (hi < 0 || lo < 0) {
            *reason = "hash is not 64 hex digits (SHA-256)";
            return -1;
        }

        key->hash[n] = (unsigned char) (hi << 4 | lo);
    }

    key->role = ngx_octopus_rbac_role_index(rbac, f[2], flen[2]);
    if (key->role < 0) {
        *reason = "unknown role";
        return -1;
    }

    if (nf == 4 && ngx_octopus_apikey_expiry(f[3], flen[3], &key->expires)
                   != 0)
    {
        *reason = "invalid expiry (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
                  "Unix time)";
        return -1;
    }

    return 1;
}


/*
 * The presented key is hashed and compared with every stored hash in
 * constant time; the whole table is always scanned.
 */

int
ngx_octopus_apikey_lookup(const ngx_octopus_apikey_t *keys, size_t n,
    const char *presented, size_t len)
{
    int            found;
    size_t         i;
    unsigned char  hash[SHA256_DIGEST_LENGTH];

    if (SHA256((const unsigned char *) presented, len, hash) == NULL) {
        return -1;
    }

    found = -1;

    for (i = 0; i < n; i++) {
        if (CRYPTO_memcmp(hash, keys[i].hash, sizeof(hash)) == 0) {
            found = (int) i;
        }
    }

    OPENSSL_cleanse(hash, sizeof(hash));

    return found;
}
