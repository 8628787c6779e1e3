
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the login-field extraction of the ratelimit module
 * from JSON and urlencoded bodies.  First byte: the format and the output
 * size; second byte: the length of the field name that follows.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_ratelimit_field.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             found;
    size_t          nlen, outsz, outlen;
    unsigned char  *out, *body, *name;

    if (size < 2) {
        return 0;
    }

    nlen = data[1] % 16;
    outsz = (data[0] >> 1) + 1;

    if (size < 2 + nlen) {
        return 0;
    }

    /* exact-size heap copies: ASan sees any read past the ends */

    name = malloc(nlen ? nlen : 1);
    body = malloc(size - 2 - nlen ? size - 2 - nlen : 1);
    out = malloc(outsz);

    if (name == NULL || body == NULL || out == NULL) {
        abort();
    }

    memcpy(name, data + 2, nlen);
    memcpy(body, data + 2 + nlen, size - 2 - nlen);

    outlen = (size_t) -1;

    if (data[0] & 1) {
        found = ngx_octopus_rl_field_json(body, size - 2 - nlen, name, nlen,
                                          out, outsz, &outlen);
    } else {
        found = ngx_octopus_rl_field_form(body, size - 2 - nlen, name, nlen,
                                          out, outsz, &outlen);
    }

    if (found != 0 && (found != 1 || outlen > outsz)) {
        abort();
    }

    free(name);
    free(body);
    free(out);

    return 0;
}
