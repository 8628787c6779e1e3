
/*
 * Copyright (C) Octopus Guard authors
 *
 * Types shared by the files of ngx_octopus_audit_module: configuration,
 * shared memory (metrics, anomaly counters) and the per-worker writer.
 */


#ifndef _NGX_OCTOPUS_AUDIT_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>

#include "ngx_octopus_common.h"
#include "ngx_octopus_result.h"
#include "ngx_octopus_json.h"
#include "ngx_octopus_audit_record.h"
#include "ngx_octopus_audit_redact.h"
#include "ngx_octopus_audit_ring.h"


/*
 * label values of the request counters: the results of ngx_octopus_result.h
 * and one more, "other", for a value that is none of them
 */
#define NGX_OCTOPUS_AUDIT_AUTH_N     (NGX_OCTOPUS_AUTH_R_N + 1)
#define NGX_OCTOPUS_AUDIT_RL_N       (NGX_OCTOPUS_RL_R_N + 1)
#define NGX_OCTOPUS_AUDIT_BUCKETS    11

/* room in shared memory for the counters of this many sinks */
#define NGX_OCTOPUS_AUDIT_SINK_MAX     8

/* the PostgreSQL sink is the first of ngx_octopus_audit_sinks[] */
#define NGX_OCTOPUS_AUDIT_SINK_PG      0


/* allocated from the zone's slab pool; its mutex guards the slots */
typedef struct {
    ngx_atomic_t                       requests[NGX_OCTOPUS_AUDIT_AUTH_N]
                                                [NGX_OCTOPUS_AUDIT_RL_N];
    ngx_atomic_t                       events[NGX_OCTOPUS_AUDIT_EV_N];

    ngx_atomic_t                       written[NGX_OCTOPUS_AUDIT_SINK_MAX];
    ngx_atomic_t                       sink_errors[NGX_OCTOPUS_AUDIT_SINK_MAX];
    ngx_atomic_t                       spooled;
    ngx_atomic_t                       replayed;
    ngx_atomic_t                       dropped;
    ngx_atomic_t                       spool_bytes;
    ngx_atomic_t                       db_errors;
    ngx_atomic_t                       db_connected;
    ngx_atomic_t                       batches_restaged;

    ngx_atomic_t                       latency[NGX_OCTOPUS_AUDIT_BUCKETS + 1];
    ngx_atomic_t                       latency_sum_ms;

    /*
     * records queued in memory, per worker process slot: a worker resets
     * its slot when it starts (the master respawns a dead worker in the
     * same slot) and clears it when it exits; /metrics shows live ones
     */
    ngx_atomic_t                       queue_depth[NGX_MAX_PROCESSES];
    ngx_pid_t                          queue_pid[NGX_MAX_PROCESSES];

    ngx_uint_t                         nslots;
    ngx_octopus_audit_anomaly_slot_t   slots[1];
} ngx_octopus_audit_shm_t;


/*
 * the "octopus_audit_queue" zone: one ring of queued records per worker
 * (twice worker_processes and 2, for the workers of a reload), allocated
 * from its slab pool, or in the queue file "<spool>/queue.rings" mapped
 * by the master; owners are claimed with a compare-and-swap
 */
typedef struct {
    ngx_uint_t                         nrings;
    size_t                             stride;    /* bytes per ring */
    u_char                            *rings;
    uint64_t                           generation;  /* of the file */
} ngx_octopus_audit_rings_t;


typedef struct {
    ngx_str_t                          name;
    ngx_int_t                          index;   /* NGX_ERROR: not defined */
} ngx_octopus_audit_var_t;


typedef struct {
    ngx_str_t                          node;

    /* PostgreSQL */
    ngx_str_t                          pg_conninfo;
    ngx_str_t                          pg_password;
    ngx_str_t                          pg_hostaddr;    /* resolved host */
    ngx_str_t                          table;
    ngx_uint_t                         batch_size;
    ngx_msec_t                         batch_interval;
    ngx_uint_t                         queue_max;
    ngx_msec_t                         pg_timeout;
    ngx_msec_t                         backoff_max;
    size_t                             queue_shm;    /* 0: off */
    ngx_shm_zone_t                    *queue_zone;
    ngx_octopus_audit_rings_t         *rings;
    ngx_cycle_t                       *cycle;      /* for the zones init */

    /* spool */
    ngx_path_t                        *spool;
    off_t                              spool_max;
    ngx_flag_t                         spool_fsync;

    /* JSON lines file */
    ngx_open_file_t                   *file;

    /* syslog */
    ngx_addr_t                        *syslog;
    ngx_str_t                          syslog_text;
    ngx_uint_t                         syslog_tcp;
    ngx_uint_t                         syslog_facility;
    ngx_str_t                          syslog_tag;
    ngx_uint_t                         syslog_all;
    size_t                             syslog_buffer;  /* TCP */

    /* hash chain */
    ngx_str_t                          chain_key;
    ngx_msec_t                         checkpoint;

    /* configured redaction, ngx_octopus_audit_re_t * */
    ngx_array_t                        redact;

    /* anomaly detection */
    off_t                              anomaly_bytes;
    ngx_uint_t                         anomaly_requests;
    ngx_msec_t                         anomaly_within;
    ngx_uint_t                         anomaly_users;

    ngx_shm_zone_t                    *shm_zone;
    ngx_slab_pool_t                   *shpool;
    ngx_octopus_audit_shm_t           *sh;

    ngx_uint_t                         enabled;    /* unsigned:1 */
    ngx_uint_t                         metrics;    /* unsigned:1 */

    ngx_octopus_audit_var_t            var_user;
    ngx_octopus_audit_var_t            var_login_user;
    ngx_octopus_audit_var_t            var_role;
    ngx_octopus_audit_var_t            var_auth_method;
    ngx_octopus_audit_var_t            var_api_key_id;
    ngx_octopus_audit_var_t            var_auth_result;
    ngx_octopus_audit_var_t            var_ratelimit_result;
    ngx_octopus_audit_var_t            var_request_id;
    ngx_octopus_audit_var_t            var_upstream_status;
    ngx_octopus_audit_var_t            var_upstream_time;

    /* $request_id: random bytes drawn by the block, per worker */
    u_char                            *rand;
    size_t                             rand_pos;
} ngx_octopus_audit_main_conf_t;


typedef struct {
    ngx_flag_t                         enable;
    ngx_flag_t                         login;
} ngx_octopus_audit_loc_conf_t;


typedef struct ngx_octopus_audit_worker_s  ngx_octopus_audit_worker_t;
typedef struct ngx_octopus_audit_pg_s      ngx_octopus_audit_pg_t;


#include "ngx_octopus_audit_sink.h"
#include "ngx_octopus_audit_spool.h"


/* call sites of throttled error lines (ngx_octopus_audit_log.c) */
#define NGX_OCTOPUS_AUDIT_LOG_SPOOL_OPEN   0
#define NGX_OCTOPUS_AUDIT_LOG_SPOOL_WRITE  1
#define NGX_OCTOPUS_AUDIT_LOG_SPOOL_FULL   2
#define NGX_OCTOPUS_AUDIT_LOG_SPOOL_SYNC   3
#define NGX_OCTOPUS_AUDIT_LOG_PG           4
#define NGX_OCTOPUS_AUDIT_LOG_PG_RESULT    5
#define NGX_OCTOPUS_AUDIT_LOG_SYSLOG       6
#define NGX_OCTOPUS_AUDIT_LOG_SYSLOG_FULL  7
#define NGX_OCTOPUS_AUDIT_LOG_FILE         8
#define NGX_OCTOPUS_AUDIT_LOG_N            9


typedef struct {
    time_t                             last;       /* second of last line */
    ngx_uint_t                         suppressed; /* failures since */
    ngx_uint_t                         level;
    ngx_err_t                          err;
    size_t                             len;
    u_char                             msg[256];   /* the latest failure */
} ngx_octopus_audit_throttle_t;


struct ngx_octopus_audit_worker_s {
    ngx_octopus_audit_main_conf_t     *amcf;
    ngx_log_t                         *log;
    ngx_pid_t                          pid;
    ngx_int_t                          slot;         /* ngx_process_slot */
    ngx_atomic_t                      *queue_depth;  /* of the slot */

    /* hash chain */
    u_char                             chain_id[128];
    size_t                             chain_id_len;
    uint64_t                           seq;
    uint64_t                           checkpoint_seq;
    ngx_msec_t                         checkpoint_time;
    u_char                             prev_hash[NGX_OCTOPUS_AUDIT_HASH_LEN];
    ngx_octopus_audit_mac_t           *mac;
    ngx_event_t                        tick;

    ngx_octopus_audit_throttle_t       throttle[NGX_OCTOPUS_AUDIT_LOG_N];

    /* the configured sinks, in ngx_octopus_audit_sinks[] order */
    ngx_uint_t                         nsinks;
    ngx_octopus_audit_sink_t          *sinks[NGX_OCTOPUS_AUDIT_SINK_MAX];
    void                              *ctx[NGX_OCTOPUS_AUDIT_SINK_MAX];

    /* the PostgreSQL sink's state, its ctx (ngx_octopus_audit_pg.h) */
    ngx_octopus_audit_pg_t            *pg;
};


extern ngx_module_t  ngx_octopus_audit_module;


/* ngx_octopus_audit_vars.c */
ngx_int_t ngx_octopus_audit_vars_init(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf);


/* ngx_octopus_audit_log.c */
void ngx_octopus_audit_log(ngx_octopus_audit_worker_t *w, ngx_uint_t site,
    ngx_uint_t level, ngx_err_t err, const char *fmt, ...);
void ngx_octopus_audit_log_flush(ngx_octopus_audit_worker_t *w,
    ngx_uint_t all);

/* ngx_octopus_audit_metrics.c */
void ngx_octopus_audit_metrics_count(ngx_octopus_audit_main_conf_t *amcf,
    ngx_str_t *auth, ngx_str_t *rl, ngx_uint_t event, ngx_msec_int_t ms);
ngx_uint_t ngx_octopus_audit_worker_live(ngx_octopus_audit_shm_t *sh,
    ngx_uint_t i);
char *ngx_octopus_audit_metrics_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_octopus_audit_pg.c */
ngx_int_t ngx_octopus_audit_pg_init(ngx_octopus_audit_worker_t *w);
void ngx_octopus_audit_pg_enqueue(ngx_octopus_audit_worker_t *w, u_char *line,
    size_t len);
void ngx_octopus_audit_pg_flush_now(ngx_octopus_audit_worker_t *w);
void ngx_octopus_audit_pg_exit(ngx_octopus_audit_worker_t *w);
void ngx_octopus_audit_pg_recover(ngx_octopus_audit_worker_t *w);
ngx_int_t ngx_octopus_audit_init_queue_zone(ngx_shm_zone_t *shm_zone,
    void *data);

/* ngx_octopus_audit_module.c */
ngx_int_t ngx_octopus_audit_read_secret(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *out);

/* the set handlers of the sinks' directives (commands[] of module.c) */
char *ngx_octopus_audit_file_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_octopus_audit_syslog_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_octopus_audit_pg_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_octopus_audit_table_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_octopus_audit_batch_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_octopus_audit_spool_cmd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);



#endif /* _NGX_OCTOPUS_AUDIT_H_INCLUDED_ */
