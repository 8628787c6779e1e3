
/*
 * Copyright (C) Octopus Guard authors
 *
 * A byte ring of records (lines ending with '\n') in shared memory, one
 * per worker: written by its owner only, read by another process only
 * once the owner is dead.  The rings may live in a file mapped MAP_SHARED
 * (the queue file): then a header before them says what they are.  Plain
 * C, no nginx types.
 */


#ifndef _NGX_OCTOPUS_AUDIT_RING_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_RING_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    volatile uint64_t   owner;     /* generation << 32 | pid, 0: free */
    volatile uint64_t   head;      /* bytes appended, ever */
    volatile uint64_t   tail;      /* bytes committed or spooled, ever */
    uint64_t            size;      /* bytes of data[] */
    unsigned char       data[8];   /* size bytes */
} ngx_octopus_audit_ring_t;


#define ngx_octopus_audit_ring_bytes(size)                                    \
    ((offsetof(ngx_octopus_audit_ring_t, data) + (size) + 63) & ~(size_t) 63)


/* the queue file: this header, then nrings rings of stride bytes */

#define NGX_OCTOPUS_AUDIT_RINGS_MAGIC    0x53474e4952504f4fULL /* OOPRINGS */
#define NGX_OCTOPUS_AUDIT_RINGS_VERSION  1
#define NGX_OCTOPUS_AUDIT_RINGS_HEADER   4096

typedef struct {
    uint64_t            magic;
    uint64_t            version;
    uint64_t            nrings;
    uint64_t            stride;
    uint64_t            generation;  /* one more at each start */
    uint64_t            check;       /* of the fields above */
} ngx_octopus_audit_rings_file_t;


void ngx_octopus_audit_rings_file_init(ngx_octopus_audit_rings_file_t *h,
    uint64_t nrings, uint64_t stride, uint64_t generation);
const char *ngx_octopus_audit_rings_file_check(
    ngx_octopus_audit_rings_file_t *h, uint64_t file_size);
uint64_t ngx_octopus_audit_rings_file_sum(ngx_octopus_audit_rings_file_t *h);

int ngx_octopus_audit_ring_valid(ngx_octopus_audit_ring_t *r, size_t size);
int ngx_octopus_audit_ring_claim(ngx_octopus_audit_ring_t *r, uint64_t from,
    uint64_t to);
size_t ngx_octopus_audit_ring_good(const unsigned char *p, size_t len,
    size_t fields);

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
