
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the API-key file parser (one call per line, as the
 * module reads the file) and the constant-time lookup of a presented key
 * (the last line of the input).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_auth_rbac.h"


#define MAX_KEYS  16


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc;
    size_t                 n, len;
    const char            *p, *end, *nl, *reason;
    static int             ready;
    static ngx_octopus_rbac_t    rbac;
    static ngx_octopus_apikey_t  keys[MAX_KEYS];

    if (!ready) {
        ngx_octopus_rbac_defaults(&rbac);
        ready = 1;
    }

    n = 0;
    p = (const char *) data;
    end = p + size;

    while (p < end) {
        nl = memchr(p, '\n', end - p);
        len = (nl ? nl : end) - p;

        if (nl == NULL) {
            /* the last line is the key a client presents */
            rc = ngx_octopus_apikey_lookup(keys, n, p, len);
            if (rc < -1 || rc >= (int) n) {
                abort();
            }

            break;
        }

        reason = NULL;
        rc = ngx_octopus_apikey_parse_line(&rbac, p, len, &keys[n], &reason);

        if (rc == 1) {
            if (keys[n].role < 0 || keys[n].role >= (int) rbac.nroles
                || memchr(keys[n].id, '\0', sizeof(keys[n].id)) == NULL)
            {
                abort();
            }

            if (n < MAX_KEYS - 1) {
                n++;
            }

        } else if (rc == -1 && reason == NULL) {
            abort();
        }

        p = nl + 1;
    }

    return 0;
}
