
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: what a key-set server (or anyone on the path) sends
 * back, cut as the client cuts it: every prefix of the input as a partial
 * read, then the whole input at the end of the connection; and the input
 * as a URL (a discovery document's jwks_uri).  The body and the URL parts
 * must lie inside the input.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_auth_jwks_http.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                                rc;
    char                              *buf;
    size_t                             n;
    const char                        *reason;
    ngx_octopus_jwks_http_url_t        u;
    ngx_octopus_jwks_http_response_t   r;

    /* an exact-size copy: a read past the input is caught by ASan */

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    for (n = size > 64 ? size - 64 : 0; n <= size; n++) {
        rc = ngx_octopus_jwks_http_response(buf, n, n == size, 4096, &r,
                                            &reason);

        if (rc == 1
            && (r.body < buf || r.body + r.body_len > buf + n
                || r.body_len > 4096))
        {
            abort();
        }

        if (rc < 0 && reason == NULL) {
            abort();
        }
    }

    if (ngx_octopus_jwks_http_url(buf, size, &u, &reason) == 0
        && (u.authority < buf || u.authority + u.authority_len > buf + size
            || u.authority_len == 0
            || (u.path != buf + size && u.path_len != 1
                && (u.path < buf || u.path + u.path_len > buf + size))))
    {
        abort();
    }

    free(buf);

    return 0;
}
