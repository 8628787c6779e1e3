
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests of the plain C RBAC core: the default role table, custom
 * roles, roles from claims, regex rules, API key lines and lookup.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "ngx_octopus_auth_rbac.h"


static uint64_t
perms_of(ngx_octopus_rbac_t *rbac, const char *role)
{
    int  i;

    i = ngx_octopus_rbac_role_index(rbac, role, strlen(role));
    assert_true(i >= 0);

    return rbac->role_perms[i];
}


static uint64_t
perm(ngx_octopus_rbac_t *rbac, const char *name)
{
    int  i;

    i = ngx_octopus_rbac_perm_index(rbac, name, strlen(name));
    assert_true(i >= 0);

    return (uint64_t) 1 << i;
}


static void
test_defaults(void **state)
{
    char                 buf[256];
    ngx_octopus_rbac_t   rbac;

    ngx_octopus_rbac_defaults(&rbac);

    assert_int_equal(rbac.nroles, 4);
    assert_true(perms_of(&rbac, "trader") & perm(&rbac, "trade"));
    assert_false(perms_of(&rbac, "admin") & perm(&rbac, "trade"));
    assert_true(perms_of(&rbac, "admin") & perm(&rbac, "system_admin"));
    assert_int_equal(perms_of(&rbac, "user"), perm(&rbac, "read"));
    assert_int_equal(ngx_octopus_rbac_role_index(&rbac, "ghost", 5), -1);
    assert_int_equal(ngx_octopus_rbac_role_index(&rbac, "trade", 5), -1);
    assert_int_equal(ngx_octopus_rbac_role_index(&rbac, "traders", 7), -1);

    ngx_octopus_rbac_format(&rbac, perms_of(&rbac, "analyst"), 0, buf,
                            sizeof(buf));
    assert_string_equal(buf, "read,analyze,report");

    ngx_octopus_rbac_format(&rbac, 0x5, 1, buf, sizeof(buf));
    assert_string_equal(buf, "admin,analyst");

    ngx_octopus_rbac_format(&rbac, 0x5, 1, buf, 8);
    assert_string_equal(buf, "admin");
}


static void
test_custom(void **state)
{
    int                  i, r;
    char                 name[16];
    const char          *reason;
    ngx_octopus_rbac_t   rbac;

    ngx_octopus_rbac_init(&rbac);

    r = ngx_octopus_rbac_add_role(&rbac, "desk", 4, &reason);
    assert_int_equal(r, 0);
    assert_int_equal(ngx_octopus_rbac_grant(&rbac, r, "quote", 5, &reason),
                     0);
    assert_int_equal(ngx_octopus_rbac_add_role(&rbac, "desk", 4, &reason),
                     -1);
    assert_string_equal(reason, "duplicate role");
    assert_int_equal(ngx_octopus_rbac_add_role(&rbac, "a b", 3, &reason),
                     -1);
    assert_string_equal(reason, "invalid role name");
    assert_int_equal(ngx_octopus_rbac_grant(&rbac, r, "x\r\n", 3, &reason),
                     -1);

    for (i = 0; i < 63; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        assert_true(ngx_octopus_rbac_grant(&rbac, r, name, strlen(name),
                                           &reason) >= 0);
    }

    assert_int_equal(rbac.nperms, 64);
    assert_int_equal(perms_of(&rbac, "desk"), UINT64_MAX);
    assert_int_equal(ngx_octopus_rbac_grant(&rbac, r, "more", 4, &reason),
                     -1);
    assert_string_equal(reason, "too many permissions");
}


static uint64_t
claims_of(ngx_octopus_rbac_t *rbac, const char *doc, const char *role_claim,
    uint64_t *roles)
{
    ngx_octopus_auth_json_t      json;
    ngx_octopus_auth_json_tok_t  toks[64];

    assert_int_equal(ngx_octopus_auth_json_parse(&json, doc, strlen(doc), toks,
                                                 64),
                     0);

    return ngx_octopus_rbac_claims(rbac, &json, role_claim, roles);
}


static void
test_claims(void **state)
{
    uint64_t             roles, p;
    ngx_octopus_rbac_t   rbac;

    ngx_octopus_rbac_defaults(&rbac);

    p = claims_of(&rbac, "{\"role\":\"analyst\"}", NULL, &roles);
    assert_int_equal(p, perms_of(&rbac, "analyst"));
    assert_int_equal(roles, 1 << 2);

    p = claims_of(&rbac, "{\"roles\":[\"user\",\"ghost\",7,[\"admin\"],"
                  "\"tr\\u0061der\"]}", NULL, &roles);
    assert_int_equal(p, perms_of(&rbac, "trader") | perms_of(&rbac, "user"));
    assert_int_equal(roles, (1 << 1) | (1 << 3));

    assert_int_equal(claims_of(&rbac, "{\"role\":\"ghost\"}", NULL, &roles),
                     0);
    assert_int_equal(roles, 0);

    p = claims_of(&rbac, "{\"role\":\"admin\",\"groups\":\"user\"}",
                  "groups", &roles);
    assert_int_equal(p, perms_of(&rbac, "user"));

    assert_int_equal(claims_of(&rbac, "{\"role\":{\"name\":\"admin\"}}",
                               NULL, &roles), 0);
}


#define POST  8
#define GET   2


static void
test_rules(void **state)
{
    char                     err[128];
    const char              *u;
    ngx_octopus_rbac_rule_t  rule;

    memset(&rule, 0, sizeof(rule));
    assert_int_equal(ngx_octopus_rbac_rule_compile(&rule,
                         "^/api/v1/accounts/[0-9]+/withdraw$", 34, 0, err,
                         sizeof(err)), 0);
    rule.methods = POST;

    u = "/api/v1/accounts/12/withdraw";
    assert_int_equal(ngx_octopus_rbac_rule_match(&rule, u, strlen(u), POST),
                     1);
    assert_int_equal(ngx_octopus_rbac_rule_match(&rule, u, strlen(u), GET),
                     0);
    u = "/api/v1/accounts/12/withdraw/x";
    assert_int_equal(ngx_octopus_rbac_rule_match(&rule, u, strlen(u), POST),
                     0);
    u = "/API/v1/accounts/12/withdraw";
    assert_int_equal(ngx_octopus_rbac_rule_match(&rule, u, strlen(u), POST),
                     0);
    ngx_octopus_rbac_rule_free(&rule);

    rule.methods = 0;
    assert_int_equal(ngx_octopus_rbac_rule_compile(&rule, "^/api/", 6, 1,
                                                   err, sizeof(err)), 0);
    u = "/API/x";
    assert_int_equal(ngx_octopus_rbac_rule_match(&rule, u, strlen(u), GET),
                     1);
    ngx_octopus_rbac_rule_free(&rule);

    assert_int_equal(ngx_octopus_rbac_rule_compile(&rule, "^/(x", 4, 0, err,
                                                   sizeof(err)), -1);
    assert_non_null(strstr(err, "offset"));
}


static void
test_apikeys(void **state)
{
    int                    rc;
    char                   line[256], hex[65];
    size_t                 i;
    const char            *reason;
    unsigned char          h[32];
    ngx_octopus_rbac_t     rbac;
    ngx_octopus_apikey_t   keys[3];

    ngx_octopus_rbac_defaults(&rbac);

    SHA256((const unsigned char *) "secret-key", 10, h);
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }

    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, "", 0, &keys[0],
                                                   &reason), 0);
    strcpy(line, "   # comment");
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[0], &reason), 0);

    snprintf(line, sizeof(line), "svc %s trader # the bot\r", hex);
    rc = ngx_octopus_apikey_parse_line(&rbac, line, strlen(line), &keys[0],
                                       &reason);
    assert_int_equal(rc, 1);
    assert_string_equal(keys[0].id, "svc");
    assert_int_equal(keys[0].role, 1);
    assert_int_equal(keys[0].expires, 0);

    snprintf(line, sizeof(line), "\told\t%s user 2020-01-02", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[1], &reason), 1);
    assert_int_equal(keys[1].expires, 1577923200);

    snprintf(line, sizeof(line), "t %s user 2020-01-02T00:00:10Z", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), 1);
    assert_int_equal(keys[2].expires, 1577923210);

    snprintf(line, sizeof(line), "t %s user 1700000000", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), 1);
    assert_int_equal(keys[2].expires, 1700000000);

    snprintf(line, sizeof(line), "t %s ghost", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), -1);
    assert_string_equal(reason, "unknown role");

    snprintf(line, sizeof(line), "t %.63s user", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), -1);

    snprintf(line, sizeof(line), "t %.63sg user", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), -1);

    snprintf(line, sizeof(line), "t %s user soon", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), -1);

    snprintf(line, sizeof(line), "t %s user 2020-01-02 x", hex);
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), -1);

    strcpy(line, "only-id");
    assert_int_equal(ngx_octopus_apikey_parse_line(&rbac, line, strlen(line),
                                                   &keys[2], &reason), -1);

    /* lookup: keys[1] and keys[0] share the hash: the last match wins */
    assert_int_equal(ngx_octopus_apikey_lookup(keys, 1, "secret-key", 10),
                     0);
    assert_int_equal(ngx_octopus_apikey_lookup(keys, 1, "secret-kez", 10),
                     -1);
    assert_int_equal(ngx_octopus_apikey_lookup(keys, 1, "secret-key", 9),
                     -1);
    assert_int_equal(ngx_octopus_apikey_lookup(keys, 0, "secret-key", 10),
                     -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_apikeys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
