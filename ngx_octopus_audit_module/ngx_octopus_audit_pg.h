
/*
 * Copyright (C) Octopus Guard authors
 *
 * Private to ngx_octopus_audit_pg.c: the sink's state (its ctx, reached
 * from the worker as w->pg), and the batch path's calls to its spool,
 * defined with the sink glue at the end of that file.
 */


#ifndef _NGX_OCTOPUS_AUDIT_PG_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_PG_H_INCLUDED_


typedef enum {
    NGX_OCTOPUS_AUDIT_PG_DOWN = 0,     /* waiting for the next attempt */
    NGX_OCTOPUS_AUDIT_PG_CONNECTING,
    NGX_OCTOPUS_AUDIT_PG_SETUP,        /* creating the staging table */
    NGX_OCTOPUS_AUDIT_PG_IDLE,
    NGX_OCTOPUS_AUDIT_PG_COPY_START,   /* COPY sent, waiting for COPY IN */
    NGX_OCTOPUS_AUDIT_PG_COPY_DATA,    /* sending data and CopyDone */
    NGX_OCTOPUS_AUDIT_PG_COPY_RESULT,
    NGX_OCTOPUS_AUDIT_PG_INSERT        /* staging -> table, or checkpoint */
} ngx_octopus_audit_pg_state_e;


struct ngx_octopus_audit_pg_s {
    PGconn                            *conn;
    ngx_connection_t                  *c;
    ngx_octopus_audit_pg_state_e       state;
    ngx_octopus_audit_buf_t            pending;
    ngx_octopus_audit_buf_t            inflight;
    ngx_octopus_audit_ring_t          *ring;      /* pending + inflight */
    ngx_uint_t                         fields;    /* of a COPY line */
    ngx_uint_t                         ring_warned;      /* unsigned:1 */
    ngx_uint_t                         inflight_replay;  /* unsigned:1 */
    ngx_uint_t                         result_error;     /* unsigned:2 */
    ngx_uint_t                         batch_direct;     /* unsigned:1 */
    ngx_uint_t                         copy_end_sent;    /* unsigned:1 */
    ngx_uint_t                         connected;        /* unsigned:1 */
    ngx_uint_t                         replay_turn;      /* unsigned:1 */
    size_t                             copy_off;
    u_char                            *setup_sql;
    ngx_event_t                        timeout;
    ngx_event_t                        flush;
    ngx_msec_t                         backoff;
    ngx_msec_t                         next_scan;
    u_char                            *copy_sql;         /* staging */
    u_char                            *copy_direct_sql;  /* the table */
    u_char                            *insert_sql;
    u_char                            *insert_cp_sql;
    size_t                             insert_cp_size;

    /* checkpoints in "<table>_checkpoints" when that table exists */
    ngx_uint_t                         db_checkpoints;   /* unsigned:1 */
    ngx_uint_t                         batch_cp;         /* unsigned:1 */
    uint64_t                           pending_seq;
    u_char                             pending_hash[NGX_OCTOPUS_AUDIT_HASH_LEN];
    uint64_t                           batch_cp_seq;
    u_char                             batch_cp_hash[NGX_OCTOPUS_AUDIT_HASH_LEN];
    ngx_msec_t                         db_cp_time;

    ngx_octopus_audit_spool_t         *spool;
};


static void ngx_octopus_audit_spool_seal(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_spool_done(ngx_octopus_audit_worker_t *w,
    ngx_uint_t ok);
static void ngx_octopus_audit_spool_reject(ngx_octopus_audit_worker_t *w);


#endif /* _NGX_OCTOPUS_AUDIT_PG_H_INCLUDED_ */
