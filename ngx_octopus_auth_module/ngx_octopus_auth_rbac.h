
/*
 * Copyright (C) Octopus Guard authors
 *
 * Role-based access control without nginx: a table of roles, each a set of
 * permissions (a 64-bit mask), the roles named by a token's claims, regex
 * route rules (PCRE2, JIT-compiled once), and API-key lines.
 */


#ifndef _NGX_OCTOPUS_AUTH_RBAC_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_RBAC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ngx_octopus_auth_json.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH  8
#endif
#include <pcre2.h>


#define NGX_OCTOPUS_RBAC_MAX       64     /* roles, and permissions */
#define NGX_OCTOPUS_RBAC_NAME_LEN  64


typedef struct {
    size_t    nperms;
    size_t    nroles;
    uint64_t  role_perms[NGX_OCTOPUS_RBAC_MAX];
    char      perm_names[NGX_OCTOPUS_RBAC_MAX][NGX_OCTOPUS_RBAC_NAME_LEN];
    char      role_names[NGX_OCTOPUS_RBAC_MAX][NGX_OCTOPUS_RBAC_NAME_LEN];
} ngx_octopus_rbac_t;


typedef struct {
    pcre2_code  *re;
    uint32_t     methods;              /* caller's method bits, 0: any */
    uint64_t     perms;
} ngx_octopus_rbac_rule_t;


typedef struct {
    char           id[NGX_OCTOPUS_RBAC_NAME_LEN];
    unsigned char  hash[32];           /* SHA-256 of the key */
    int            role;               /* index in the role table */
    time_t         expires;            /* 0: never */
} ngx_octopus_apikey_t;


void ngx_octopus_rbac_init(ngx_octopus_rbac_t *rbac);
void ngx_octopus_rbac_defaults(ngx_octopus_rbac_t *rbac);
int ngx_octopus_rbac_valid_name(const char *name, size_t len);
int ngx_octopus_rbac_add_role(ngx_octopus_rbac_t *rbac, const char *name,
    size_t len, const char **reason);
int ngx_octopus_rbac_grant(ngx_octopus_rbac_t *rbac, int role,
    const char *perm, size_t len, const char **reason);
int ngx_octopus_rbac_role_index(const ngx_octopus_rbac_t *rbac,
    const char *name, size_t len);
int ngx_octopus_rbac_perm_index(const ngx_octopus_rbac_t *rbac,
    const char *name, size_t len);
size_t ngx_octopus_rbac_format(const ngx_octopus_rbac_t *rbac, uint64_t mask,
    int roles, char *buf, size_t size);

uint64_t ngx_octopus_rbac_claims(const ngx_octopus_rbac_t *rbac,
    const ngx_octopus_auth_json_t *claims, const char *role_claim,
    uint64_t *roles);

int ngx_octopus_rbac_rule_compile(ngx_octopus_rbac_rule_t *rule,
    const char *pattern, size_t len, int caseless, char *err, size_t err_len);
int ngx_octopus_rbac_rule_match(const ngx_octopus_rbac_rule_t *rule,
    const char *uri, size_t len, uint32_t method);
void ngx_octopus_rbac_rule_free(ngx_octopus_rbac_rule_t *rule);

int ngx_octopus_apikey_parse_line(const ngx_octopus_rbac_t *rbac,
    const char *line, size_t len, ngx_octopus_apikey_t *key,
    const char **reason);
int ngx_octopus_apikey_lookup(const ngx_octopus_apikey_t *keys, size_t n,
    const char *presented, size_t len);


#endif /* _NGX_OCTOPUS_AUTH_RBAC_H_INCLUDED_ */
