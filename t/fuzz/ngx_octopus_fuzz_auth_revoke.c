
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: the revocation entries read from Redis (a sorted-set
 * member and its score) and the messages published on the channel.  The
 * first byte chooses: 0-2 a member of that type ("member\nscore"), else a
 * message.  An accepted entry must point into the input, hold 1 to 256
 * bytes without control characters, and decide the same way twice.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_auth_revoke_entry.h"


#define NOW  1800000000


static void
check(const ngx_octopus_revoke_entry_t *e, const char *in, size_t size)
{
    size_t  i;

    if (e->value < in || e->value + e->len > in + size
        || e->len == 0 || e->len > NGX_OCTOPUS_REVOKE_VALUE_MAX
        || e->type < 0 || e->type >= NGX_OCTOPUS_REVOKE_NTYPES)
    {
        abort();
    }

    for (i = 0; i < e->len; i++) {
        if ((unsigned char) e->value[i] < 0x20 || e->value[i] == 0x7f) {
            abort();
        }
    }

    if (ngx_octopus_revoke_applies(e, 1, (double) e->before, NOW)
        != ngx_octopus_revoke_applies(e, 1, (double) e->before, NOW)
        || (e->expires > NOW
            && !ngx_octopus_revoke_applies(e, 0, 0, NOW)))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          rc;
    char                        *in;
    const char                  *nl;
    ngx_octopus_revoke_entry_t   e;

    if (size < 1) {
        return 0;
    }

    /* a copy of its exact size: reads past the end are caught */

    in = malloc(size - 1 ? size - 1 : 1);
    if (in == NULL) {
        return 0;
    }

    memcpy(in, data + 1, size - 1);
    size--;

    if (data[0] < NGX_OCTOPUS_REVOKE_NTYPES) {
        nl = memchr(in, '\n', size);

        if (nl) {
            rc = ngx_octopus_revoke_member(data[0], in, nl - in, nl + 1,
                                           in + size - nl - 1, NOW, &e);
            if (rc == 0 || rc == 1) {
                check(&e, in, size);
            }
        }

    } else {
        rc = ngx_octopus_revoke_message(in, size, NOW, &e);

        if (rc == NGX_OCTOPUS_REVOKE_MSG_ADD) {
            check(&e, in, size);

            if (e.expires <= NOW) {
                abort();
            }
        }
    }

    free(in);

    return 0;
}
