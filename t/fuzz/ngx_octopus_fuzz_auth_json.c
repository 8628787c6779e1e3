
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the strict JSON tokenizer of the auth module and every
 * accessor on every token it produced, then the RBAC claim mapping.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_auth_json.h"
#include "ngx_octopus_auth_rbac.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                           i, t, el, n;
    long                          len;
    char                          out[256];
    double                        d;
    uint64_t                      roles;
    ngx_octopus_auth_json_t       json;
    static int                    ready;
    static ngx_octopus_rbac_t     rbac;
    ngx_octopus_auth_json_tok_t   toks[128];

    if (!ready) {
        ngx_octopus_rbac_defaults(&rbac);
        ready = 1;
    }

    if (ngx_octopus_auth_json_parse(&json, (const char *) data, size, toks,
                                    128)
        != 0)
    {
        return 0;
    }

    if (json.ntoks == 0 || json.ntoks > 128) {
        abort();
    }

    for (i = 0; i < (int) json.ntoks; i++) {
        t = ngx_octopus_auth_json_type(&json, i);

        if (toks[i].next <= (uint32_t) i || toks[i].next > json.ntoks) {
            abort();
        }

        switch (t) {

        case NGX_OCTOPUS_AUTH_JSON_STRING:
            len = ngx_octopus_auth_json_string(&json, i, out, sizeof(out));
            if (len >= (long) sizeof(out)) {
                abort();
            }

            if (len >= 0 && memchr(out, '\0', len) == NULL) {
                out[len] = '\0';
                if (!ngx_octopus_auth_json_string_eq(&json, i, out)) {
                    abort();
                }
            }

            break;

        case NGX_OCTOPUS_AUTH_JSON_NUMBER:
            (void) ngx_octopus_auth_json_number(&json, i, &d);
            break;

        case NGX_OCTOPUS_AUTH_JSON_OBJECT:
            (void) ngx_octopus_auth_json_get(&json, i, "role");
            (void) ngx_octopus_auth_json_get(&json, i, "a");
            break;

        case NGX_OCTOPUS_AUTH_JSON_ARRAY:
            /* next() walks siblings: the caller counts the elements */
            el = ngx_octopus_auth_json_first(&json, i);
            for (n = 0; n < (int) toks[i].size; n++) {
                if (el <= i || el >= (int) toks[i].next) {
                    abort();
                }

                el = ngx_octopus_auth_json_next(&json, el);
            }

            if (toks[i].size && el != (int) toks[i].next) {
                abort();
            }

            break;

        default:
            break;
        }
    }

    if (ngx_octopus_auth_json_type(&json, 0) == NGX_OCTOPUS_AUTH_JSON_OBJECT) {
        roles = 0;
        (void) ngx_octopus_rbac_claims(&rbac, &json, "role", &roles);
        (void) ngx_octopus_rbac_claims(&rbac, &json, "roles", &roles);
    }

    return 0;
}
