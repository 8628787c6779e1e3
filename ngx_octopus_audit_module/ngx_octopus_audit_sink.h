
/*
 * Copyright (C) Octopus Guard authors
 *
 * The sink interface of ngx_octopus_audit_module: every output of audit
 * records (the PostgreSQL table, the JSON lines file, syslog) is one
 * ngx_octopus_audit_sink_t, and the module keeps them in one array,
 * ngx_octopus_audit_sinks[] (ngx_octopus_audit_sinks.c), the way
 * ngx_http_log_module keeps an array of outputs and loops over it.
 *
 * A sink owns its per-worker state (the "ctx" its init callback returns),
 * prints its own metrics, and may sit on the generic durable record queue
 * (ngx_octopus_audit_spool.h) with its own record encoding.
 *
 * Directives.  nginx takes a module's directives from one static
 * ngx_command_t array, and C cannot concatenate arrays defined in other
 * files at build time; so ngx_octopus_audit_module.c keeps the commands[]
 * table (one entry per directive, in one place for "nginx -t" and the
 * docs), while the set handler of each sink's directives lives in the
 * sink's file and parses into the sink's part of the main configuration
 * (ngx_octopus_audit_main_conf_t, grouped by sink).
 *
 * Adding a sink (Kafka, an HTTP collector): a new file
 * ngx_octopus_audit_NAME.c defining "ngx_octopus_audit_sink_t
 * ngx_octopus_audit_NAME_sink" with its callbacks and its set handler,
 * its line in ngx_octopus_audit_sinks[], its directive in commands[], and
 * its configuration fields in the main configuration.  The config file
 * builds every .c of the folder.
 *
 * One exception: the PostgreSQL sink alone sets w->tick.cancelable (its
 * state is its ctx, ngx_octopus_audit_pg_t, reached as w->pg by its batch
 * path); a second sink that must hold a worker shutting down needs a
 * count of holders there.
 */


#ifndef _NGX_OCTOPUS_AUDIT_SINK_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_SINK_H_INCLUDED_


/* one record as the log handler built it; encodings are made once */
typedef struct {
    ngx_octopus_audit_rec_t           *rec;
    ngx_uint_t                         event;    /* NGX_OCTOPUS_AUDIT_EV_* */
    ngx_pool_t                        *pool;     /* the request's */

    /* ngx_octopus_audit_out_json(): a JSON line ending in '\n' */
    u_char                            *json;
    size_t                             json_len;
} ngx_octopus_audit_out_t;


typedef struct ngx_octopus_audit_sink_s  ngx_octopus_audit_sink_t;

struct ngx_octopus_audit_sink_s {
    /* the label of octopus_audit_*_total{sink="..."} */
    ngx_str_t                          name;

    /* its position in ngx_octopus_audit_sinks[], set by the module */
    ngx_uint_t                         index;

    /*
     * it keeps every record (syslog keeps security events by default):
     * without such a sink the file sink opens its default file
     */
    ngx_uint_t                         stores;

    /*
     * the sink's part of the main configuration: create_conf marks its
     * fields unset (before the directives are read), init_conf sets the
     * defaults of those still unset; NULL: nothing to do
     */
    void        (*create_conf)(ngx_octopus_audit_main_conf_t *amcf);
    char       *(*init_conf)(ngx_conf_t *cf,
                             ngx_octopus_audit_main_conf_t *amcf);

    /* configured? (after the directives were read) */
    ngx_uint_t  (*enabled)(ngx_octopus_audit_main_conf_t *amcf);

    /*
     * postconfiguration, audit enabled, whether this sink is configured
     * or not: defaults, shared memory zones; NULL: nothing to do
     */
    ngx_int_t   (*postconf)(ngx_conf_t *cf,
                            ngx_octopus_audit_main_conf_t *amcf);

    /*
     * the callbacks below run in a worker, for a configured sink only;
     * init returns the sink's state in *ctx (NGX_ERROR stops the worker)
     */
    ngx_int_t   (*init)(ngx_octopus_audit_worker_t *w, void **ctx);

    /*
     * a record: counted written or failed by the sink itself; NGX_ERROR
     * (no memory) is not retried, the other sinks still get the record
     */
    ngx_int_t   (*write)(ngx_octopus_audit_worker_t *w, void *ctx,
                         ngx_octopus_audit_out_t *out);

    /* the head of the worker's chain, a JSON line; NULL: not taken */
    void        (*checkpoint)(ngx_octopus_audit_worker_t *w, void *ctx,
                              int64_t ts_us, u_char *line, size_t len);

    /* every second; NULL: nothing to do */
    void        (*tick)(ngx_octopus_audit_worker_t *w, void *ctx);

    /*
     * the tick once the worker is shutting down (reload, quit): send what
     * is queued; while records are queued the sink keeps w->tick
     * non-cancelable, so that the worker waits for it
     */
    void        (*exiting)(ngx_octopus_audit_worker_t *w, void *ctx);

    /* exit_process: what cannot be sent is kept (spool) or counted */
    void        (*exit)(ngx_octopus_audit_worker_t *w, void *ctx);

    /*
     * the sink's own metric families, Prometheus text, called by /metrics
     * (in any process, configured or not) after the families every sink
     * has (records written, sink errors); at most
     * NGX_OCTOPUS_AUDIT_SINK_METRICS bytes, plus 128 per live worker
     */
    u_char     *(*metrics)(u_char *p, u_char *last,
                           ngx_octopus_audit_shm_t *sh);
};


#define NGX_OCTOPUS_AUDIT_SINK_METRICS  4096


/* ngx_octopus_audit_sinks.c */
extern ngx_octopus_audit_sink_t  *ngx_octopus_audit_sinks[];

u_char *ngx_octopus_audit_out_json(ngx_octopus_audit_out_t *out);

/* the sinks */
extern ngx_octopus_audit_sink_t  ngx_octopus_audit_pg_sink;
extern ngx_octopus_audit_sink_t  ngx_octopus_audit_file_sink;
extern ngx_octopus_audit_sink_t  ngx_octopus_audit_syslog_sink;


#endif /* _NGX_OCTOPUS_AUDIT_SINK_H_INCLUDED_ */
