
/*
 * Copyright (C) Octopus Guard authors
 *
 * The registration of the sinks of ngx_octopus_audit_module (see
 * ngx_octopus_audit_sink.h): one line per sink.  The order is the order
 * of their metrics, of the writes of a record, and of the callbacks.
 */


#include "ngx_octopus_audit.h"


ngx_octopus_audit_sink_t  *ngx_octopus_audit_sinks[] = {
    &ngx_octopus_audit_pg_sink,         /* first: NGX_OCTOPUS_AUDIT_SINK_PG */
    &ngx_octopus_audit_file_sink,
    &ngx_octopus_audit_syslog_sink,
    NULL
};


/* the JSON line of a record, made once for all the sinks that want it */

u_char *
ngx_octopus_audit_out_json(ngx_octopus_audit_out_t *out)
{
    if (out->json) {
        return out->json;
    }

    out->json = ngx_pnalloc(out->pool, ngx_octopus_audit_json_len(out->rec));
    if (out->json == NULL) {
        return NULL;
    }

    out->json_len = ngx_octopus_audit_json(out->json, out->rec) - out->json;

    return out->json;
}
