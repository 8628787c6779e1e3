
/*
 * Copyright (C) Octopus Guard authors
 *
 * The framing of spooled records: see ngx_octopus_audit_frame.h.
 */


#include <string.h>

#include "ngx_octopus_audit_frame.h"


size_t
ngx_octopus_audit_frame_whole(const unsigned char *p, size_t len,
    size_t *count)
{
    size_t                n;
    const unsigned char  *q, *last, *end;

    n = 0;
    last = NULL;
    end = p + len;

    for (q = p; q < end; q++) {
        q = memchr(q, NGX_OCTOPUS_AUDIT_FRAME_END, end - q);

        if (q == NULL) {
            break;
        }

        last = q;
        n++;
    }

    *count = n;

    return last ? (size_t) (last + 1 - p) : 0;
}

