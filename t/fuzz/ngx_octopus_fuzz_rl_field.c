
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the login-field readers of the ratelimit module (JSON,
 * urlencoded, multipart/form-data, the Content-Type parser, UTF-16/32 JSON
 * detection and transcoding followed by the JSON reader).  First byte: the
 * reader (low 3 bits) and the output size; second byte: the length of the
 * field name (or multipart boundary) that follows.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_ratelimit_field.h"


static void
ngx_octopus_fuzz_check(int rc, size_t outlen, size_t outsz)
{
    if (rc < NGX_OCTOPUS_RL_FIELD_ENCODING || rc > NGX_OCTOPUS_RL_FIELD_FOUND)
    {
        abort();
    }

    if (rc == NGX_OCTOPUS_RL_FIELD_FOUND && outlen > outsz) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, enc;
    size_t                nlen, blen, outsz, outlen, len, bom, tlen;
    unsigned char        *out, *body, *name, *tr;
    const unsigned char  *boundary;

    if (size < 2) {
        return 0;
    }

    nlen = data[1] % 16;
    outsz = (data[0] >> 3) + 1;

    if (size < 2 + nlen) {
        return 0;
    }

    len = size - 2 - nlen;

    /* exact-size heap copies: ASan sees any read past the ends */

    name = malloc(nlen ? nlen : 1);
    body = malloc(len ? len : 1);
    out = malloc(outsz);
    tr = malloc(2 * len + 1);

    if (name == NULL || body == NULL || out == NULL || tr == NULL) {
        abort();
    }

    memcpy(name, data + 2, nlen);
    memcpy(body, data + 2 + nlen, len);

    outlen = (size_t) -1;

    switch (data[0] & 7) {

    case 0:
        rc = ngx_octopus_rl_field_form(body, len, name, nlen, out, outsz,
                                       &outlen);
        ngx_octopus_fuzz_check(rc, outlen, outsz);
        break;

    case 1:
        rc = ngx_octopus_rl_field_json(body, len, name, nlen, out, outsz,
                                       &outlen);
        ngx_octopus_fuzz_check(rc, outlen, outsz);
        break;

    case 2:
        /* the name doubles as the boundary, the field is "username" */
        rc = ngx_octopus_rl_field_multipart(body, len, name, nlen,
                                            (const unsigned char *) "username",
                                            8, out, outsz, &outlen);
        ngx_octopus_fuzz_check(rc, outlen, outsz);
        break;

    case 3:
        boundary = NULL;
        blen = 0;
        rc = ngx_octopus_rl_field_ctype(body, len, &boundary, &blen);

        if (rc < NGX_OCTOPUS_RL_CT_MALFORMED || rc > NGX_OCTOPUS_RL_CT_OTHER)
        {
            abort();
        }

        if (rc == NGX_OCTOPUS_RL_CT_MULTIPART
            && (boundary < body || boundary + blen > body + len || blen == 0))
        {
            abort();
        }
        break;

    case 4:
        rc = ngx_octopus_rl_field_query(body, len, name, nlen, out, outsz,
                                        &outlen);
        ngx_octopus_fuzz_check(rc, outlen, outsz);
        break;

    default:
        enc = ngx_octopus_rl_json_encoding(body, len, &bom);

        if (bom > len || enc < NGX_OCTOPUS_RL_UTF8
            || enc > NGX_OCTOPUS_RL_UTF32BE)
        {
            abort();
        }

        if (enc == NGX_OCTOPUS_RL_UTF8) {
            rc = ngx_octopus_rl_field_json(body + bom, len - bom, name, nlen,
                                           out, outsz, &outlen);
            ngx_octopus_fuzz_check(rc, outlen, outsz);
            break;
        }

        if (ngx_octopus_rl_json_transcode(body + bom, len - bom, enc, tr,
                                          &tlen)
            == 0)
        {
            if (tlen > 2 * (len - bom)) {
                abort();
            }

            rc = ngx_octopus_rl_field_json(tr, tlen, name, nlen, out, outsz,
                                           &outlen);
            ngx_octopus_fuzz_check(rc, outlen, outsz);
        }
        break;
    }

    free(name);
    free(body);
    free(out);
    free(tr);

    return 0;
}
