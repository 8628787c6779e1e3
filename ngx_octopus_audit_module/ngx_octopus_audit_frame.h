
/*
 * Copyright (C) Octopus Guard authors
 *
 * The framing of the records in the spool (ngx_octopus_audit_spool.c):
 * a record is opaque bytes, in the encoding of the sink that spooled it
 * (COPY text for PostgreSQL), that hold no '\n' and end with one.  A
 * chunk read back is cut after its last whole record; a last record
 * without its '\n' is torn (a crash while it was written).  Plain C, no
 * nginx types.
 */


#ifndef _NGX_OCTOPUS_AUDIT_FRAME_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_FRAME_H_INCLUDED_


#include <stddef.h>


#define NGX_OCTOPUS_AUDIT_FRAME_END  '\n'


/* the bytes of the whole records at the start of p[0, len), their number */
size_t ngx_octopus_audit_frame_whole(const unsigned char *p, size_t len,
    size_t *count);


#endif /* _NGX_OCTOPUS_AUDIT_FRAME_H_INCLUDED_ */
