
/*
 * Copyright (C) Octopus Guard authors
 *
 * The shared memory ring of a worker's queued records.  head and tail
 * only grow; the bytes [tail, head) are the records accepted and not yet
 * committed to the database or written to the spool.  The owner copies a
 * record in before it moves head (a release store), so a reader after the
 * owner's death never sees a record in part.  A reader validates head,
 * tail and size: a dying writer cannot make it read out of bounds.
 *
 * In the queue file the rings outlive every process (the kernel keeps the
 * dirty pages of a shared file mapping): at the next start the header and
 * each ring are checked, and records are cut at the first one that is
 * not a record (a NUL: a page the kernel never wrote back, a crash; the
 * wrong number of fields: bytes of an earlier lap).
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


void
ngx_octopus_audit_rings_file_init(ngx_octopus_audit_rings_file_t *h,
    uint64_t nrings, uint64_t stride, uint64_t generation)
{
    h->magic = NGX_OCTOPUS_AUDIT_RINGS_MAGIC;
    h->version = NGX_OCTOPUS_AUDIT_RINGS_VERSION;
    h->nrings = nrings;
    h->stride = stride;
    h->generation = generation;
    h->check = ngx_octopus_audit_rings_file_sum(h);
}


/* FNV-1a of the fields before check */

uint64_t
ngx_octopus_audit_rings_file_sum(ngx_octopus_audit_rings_file_t *h)
{
    size_t          i;
    uint64_t        sum;
    unsigned char  *p;

    p = (unsigned char *) h;
    sum = 0xcbf29ce484222325ULL;

    for (i = 0; i < offsetof(ngx_octopus_audit_rings_file_t, check); i++) {
        sum ^= p[i];
        sum *= 0x100000001b3ULL;
    }

    return sum;
}


/* NULL: a queue file of file_size bytes with this header is usable */

const char *
ngx_octopus_audit_rings_file_check(ngx_octopus_audit_rings_file_t *h,
    uint64_t file_size)
{
    if (file_size < NGX_OCTOPUS_AUDIT_RINGS_HEADER) {
        return "shorter than its header";
    }

    if (h->magic != NGX_OCTOPUS_AUDIT_RINGS_MAGIC) {
        return "bad magic";
    }

    if (h->version != NGX_OCTOPUS_AUDIT_RINGS_VERSION) {
        return "unknown version";
    }

    if (h->check != ngx_octopus_audit_rings_file_sum(h)) {
        return "bad header checksum";
    }

    if (h->nrings == 0 || h->nrings > 4096
        || h->stride < 4096 || h->stride % 64
        || h->stride > (1ULL << 40))
    {
        return "bad geometry";
    }

    if ((file_size - NGX_OCTOPUS_AUDIT_RINGS_HEADER) / h->stride < h->nrings)
    {
        return "shorter than its rings";
    }

    return NULL;
}


/* 1: the ring's header is one the writer leaves, for rings of size bytes */

int
ngx_octopus_audit_ring_valid(ngx_octopus_audit_ring_t *r, size_t size)
{
    return r->size == size && r->head >= r->tail
           && r->head - r->tail <= r->size;
}


/* owner from -> to, if nobody else changed it first: 1 if done */

int
ngx_octopus_audit_ring_claim(ngx_octopus_audit_ring_t *r, uint64_t from,
    uint64_t to)
{
    return __atomic_compare_exchange_n(&r->owner, &from, to, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}


/*
 * The bytes of the whole records before the first bad one: a record with
 * a NUL byte, or, if fields is not 0, without fields tab-separated fields
 * (a COPY text line escapes the tabs of its values): the bytes of a page
 * never written back, or of an earlier lap of the ring.
 */

size_t
ngx_octopus_audit_ring_good(const unsigned char *p, size_t len,
    size_t fields)
{
    size_t  good, i, tabs;

    good = 0;
    tabs = 0;

    for (i = 0; i < len; i++) {
        if (p[i] == '\0') {
            break;
        }

        if (p[i] == '\t') {
            tabs++;

        } else if (p[i] == '\n') {
            if (fields && tabs + 1 != fields) {
                break;
            }

            good = i + 1;
            tabs = 0;
        }
    }

    return good;
}
