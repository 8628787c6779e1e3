
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the JWKS file parser (RSA, EC and oct keys); every
 * key handed over is checked against its algorithm and released.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_octopus_auth_jwt.h"


static int
add(void *data, const ngx_octopus_jwt_key_t *key)
{
    ngx_octopus_jwt_key_t  copy;

    copy = *key;

    if (ngx_octopus_jwt_alg_is_hmac(key->alg)) {
        if (key->secret == NULL || key->secret_len < NGX_OCTOPUS_JWT_MIN_SECRET)
        {
            abort();
        }

    } else if (key->pkey == NULL) {
        abort();
    }

    (void) ngx_octopus_jwt_key_check(&copy);

    EVP_PKEY_free(key->pkey);

    (*(int *) data)++;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int   n;
    char  err[256];

    n = 0;
    err[0] = '\0';

    if (ngx_octopus_jwks_parse((const char *) data, size, add, &n, err,
                               sizeof(err))
        == 0)
    {
        if (n == 0) {
            abort();
        }

    } else if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }

    return 0;
}
