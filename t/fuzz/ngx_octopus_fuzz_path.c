
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the canonical request path (both policies, both
 * cases), header name classes, override values, "_method" in a query and
 * in a multipart body.  First byte: what to call; the rest is the input
 * (for multipart, the boundary length comes second).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_path.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rs, rc, m, conflict, lower;
    size_t                n, slen, clen, blen;
    unsigned char        *in, *out, *out2;
    const char           *reason;
    const unsigned char  *b;

    if (size < 1) {
        return 0;
    }

    n = size - 1;

    /* exact-size heap copies: ASan sees any read past the ends */

    in = malloc(n ? n : 1);
    out = malloc(n + 1);
    out2 = malloc(n + 1);

    if (in == NULL || out == NULL || out2 == NULL) {
        abort();
    }

    memcpy(in, data + 1, n);

    switch (data[0] % 5) {

    case 0:
        lower = data[0] & 0x80;

        reason = NULL;
        rs = ngx_octopus_path_canon(in, n, NGX_OCTOPUS_PATH_STRICT, lower,
                                    out, &slen, &reason);
        if (rs < 0 && reason == NULL) {
            abort();
        }

        reason = NULL;
        rc = ngx_octopus_path_canon(in, n, NGX_OCTOPUS_PATH_CANONICAL, lower,
                                    out2, &clen, &reason);
        if (rc < 0 && reason == NULL) {
            abort();
        }

        if (rs >= 0 && (slen > n + 1 || slen == 0 || out[0] != '/')) {
            abort();
        }

        if (rc >= 0 && (clen > n + 1 || clen == 0 || out2[0] != '/')) {
            abort();
        }

        /* what strict accepts, canonical reads the same way */

        if (rs >= 0
            && (rc < 0 || clen != slen || memcmp(out, out2, slen) != 0))
        {
            abort();
        }

        break;

    case 1:
        (void) ngx_octopus_path_header_class(in, n);
        (void) ngx_octopus_path_method(in, n);
        break;

    case 2:
        m = -1;
        conflict = 0;
        (void) ngx_octopus_path_query_strip(in, n, out, &clen, &m, &conflict);

        if (clen > n) {
            abort();
        }

        break;

    case 3:
        (void) ngx_octopus_path_multipart_boundary(in, n, &b);
        (void) ngx_octopus_path_json_method(in, n);
        break;

    default:
        if (n < 1) {
            break;
        }

        blen = in[0] % 72;

        if (blen + 1 > n) {
            break;
        }

        m = -1;
        conflict = 0;
        (void) ngx_octopus_path_multipart_method(in + 1 + blen, n - 1 - blen,
                                                 in + 1, blen, &m, &conflict);
    }

    free(in);
    free(out);
    free(out2);

    return 0;
}
