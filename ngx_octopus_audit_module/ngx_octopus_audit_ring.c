
/*
 * Copyright (C) Octopus Guard authors
 *
 * The shared memory ring of a worker's queued records.  head and tail
 * only grow; the bytes [tail, head) are the records accepted and not yet
 * committed to the database or written to the spool.  The owner copies a
 * record in before it moves head (a release store), so a reader after the
 * owner's death never sees a record in part.  A reader validates head,
 * tail and size: a dying writer cannot make it read out of bounds.
 */


#include <string.h>

#include "ngx_octopus_audit_ring.h"


void
ngx_octopus_audit_ring_init(ngx_octopus_audit_ring_t *r, size_t size)
{
    r->owner = 0;
    r->head = 0;
    r->tail = 0;
    r->size = size;
}


size_t
ngx_octopus_audit_ring_used(ngx_octopus_audit_ring_t *r)
{
    uint64_t  head, tail;

    head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
    tail = r->tail;

    if (head < tail || head - tail > r->size) {
        /* not a state the writer leaves: treat as empty */
        return 0;
    }

    return (size_t) (head - tail);
}


size_t
ngx_octopus_audit_ring_room(ngx_octopus_audit_ring_t *r)
{
    return (size_t) r->size - ngx_octopus_audit_ring_used(r);
}


/* 0: appended; -1: no room (nothing written) */

int
ngx_octopus_audit_ring_put(ngx_octopus_audit_ring_t *r,
    const unsigned char *data, size_t len)
{
    size_t    off, n;
    uint64_t  head;

    if (len > ngx_octopus_audit_ring_room(r)) {
        return -1;
    }

    head = r->head;
    off = (size_t) (head % r->size);
    n = r->size - off;

    if (n >= len) {
        memcpy(r->data + off, data, len);

    } else {
        memcpy(r->data + off, data, n);
        memcpy(r->data, data + n, len - n);
    }

    __atomic_store_n(&r->head, head + len, __ATOMIC_RELEASE);

    return 0;
}


void
ngx_octopus_audit_ring_consume(ngx_octopus_audit_ring_t *r, size_t len)
{
    if (len > ngx_octopus_audit_ring_used(r)) {
        len = ngx_octopus_audit_ring_used(r);
    }

    __atomic_store_n(&r->tail, r->tail + len, __ATOMIC_RELEASE);
}


void
ngx_octopus_audit_ring_clear(ngx_octopus_audit_ring_t *r)
{
    __atomic_store_n(&r->tail, r->head, __ATOMIC_RELEASE);
}


/*
 * Copies the bytes [tail, head) to out (at least ring_used() bytes) and
 * returns how many end with the last '\n': whole records only.
 */

size_t
ngx_octopus_audit_ring_copy(ngx_octopus_audit_ring_t *r, unsigned char *out)
{
    size_t   used, off, n;

    used = ngx_octopus_audit_ring_used(r);

    if (used == 0) {
        return 0;
    }

    off = (size_t) (r->tail % r->size);
    n = r->size - off;

    if (n >= used) {
        memcpy(out, r->data + off, used);

    } else {
        memcpy(out, r->data + off, n);
        memcpy(out + n, r->data, used - n);
    }

    while (used && out[used - 1] != '\n') {
        used--;
    }

    return used;
}
