
/*
 * Copyright (C) Octopus Guard authors
 *
 * A byte ring of records (lines ending with '\n') in shared memory, one
 * per worker: written by its owner only, read by another process only
 * once the owner is dead.  Plain C, no nginx types.
 */


#ifndef _NGX_OCTOPUS_AUDIT_RING_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_RING_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    volatile uint64_t   owner;     /* pid of the writer, 0: free */
    volatile uint64_t   head;      /* bytes appended, ever */
    volatile uint64_t   tail;      /* bytes committed or spooled, ever */
    uint64_t            size;      /* bytes of data[] */
    unsigned char       data[8];   /* size bytes */
} ngx_octopus_audit_ring_t;


#define ngx_octopus_audit_ring_bytes(size)                                    \
    ((offsetof(ngx_octopus_audit_ring_t, data) + (size) + 63) & ~(size_t) 63)


void ngx_octopus_audit_ring_init(ngx_octopus_audit_ring_t *r, size_t size);
size_t ngx_octopus_audit_ring_used(ngx_octopus_audit_ring_t *r);
size_t ngx_octopus_audit_ring_room(ngx_octopus_audit_ring_t *r);
int ngx_octopus_audit_ring_put(ngx_octopus_audit_ring_t *r,
    const unsigned char *data, size_t len);
void ngx_octopus_audit_ring_consume(ngx_octopus_audit_ring_t *r, size_t len);
void ngx_octopus_audit_ring_clear(ngx_octopus_audit_ring_t *r);
size_t ngx_octopus_audit_ring_copy(ngx_octopus_audit_ring_t *r,
    unsigned char *out);


#endif /* _NGX_OCTOPUS_AUDIT_RING_H_INCLUDED_ */
