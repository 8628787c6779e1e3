
/*
 * Copyright (C) Octopus Guard authors
 *
 * Private to ngx_octopus_audit_pg.c: the batch path's calls to its spool,
 * defined with the sink glue at the end of that file.
 */


#ifndef _NGX_OCTOPUS_AUDIT_PG_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_PG_H_INCLUDED_


static void ngx_octopus_audit_spool_seal(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_spool_done(ngx_octopus_audit_worker_t *w,
    ngx_uint_t ok);
static void ngx_octopus_audit_spool_reject(ngx_octopus_audit_worker_t *w);


#endif /* _NGX_OCTOPUS_AUDIT_PG_H_INCLUDED_ */
