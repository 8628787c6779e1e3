
/*
 * Copyright (C) Octopus Guard authors
 *
 * The spool (ngx_octopus_audit_spool.c): a durable queue of records, in
 * files under a folder, that any sink can sit on.  The sink creates its
 * spool in each worker, appends the records its output could not take
 * (in its own encoding, framed as ngx_octopus_audit_frame.h says), and,
 * when its output is back, claims the oldest sealed file (of any worker,
 * of this nginx or an earlier one), reads it chunk by chunk and says for
 * each chunk whether it was stored.  The sink's output must drop a chunk
 * stored twice (a crash between storing and saying so).
 */


#ifndef _NGX_OCTOPUS_AUDIT_SPOOL_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_SPOOL_H_INCLUDED_


#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


/* a growable buffer of records */
typedef struct {
    u_char                            *data;
    size_t                             len;
    size_t                             size;
    ngx_uint_t                         count;
} ngx_octopus_audit_buf_t;


typedef struct {
    ngx_octopus_audit_worker_t        *w;         /* log lines, pid */
    ngx_path_t                        *path;      /* NULL: no spool */
    off_t                              max;       /* bytes in all files */
    ngx_uint_t                         fsync;     /* unsigned:1 */

    /* the sink's counters in shared memory */
    ngx_atomic_t                      *bytes;     /* in the folder */
    ngx_atomic_t                      *spooled;
    ngx_atomic_t                      *dropped;

    /* the file being written */
    ngx_fd_t                           fd;
    u_char                             name[NGX_MAX_PATH];
    ngx_uint_t                         dirty;      /* unsigned:1 */
    ngx_uint_t                         syncing;    /* unsigned:1 */
#if (NGX_THREADS)
    ngx_thread_pool_t                 *thread_pool;
    ngx_thread_task_t                 *sync_task;
#endif
    time_t                             failed;     /* open failed */

    /* the file being replayed */
    ngx_fd_t                           replay_fd;
    off_t                              replay_off;
    off_t                              replay_next;
    off_t                              replay_size;
    u_char                             replay_name[NGX_MAX_PATH];
} ngx_octopus_audit_spool_t;


#define ngx_octopus_audit_spool_writing(sp)  ((sp)->fd != NGX_INVALID_FILE)
#define ngx_octopus_audit_spool_replaying(sp)                                 \
    ((sp)->replay_fd != NGX_INVALID_FILE)


ngx_octopus_audit_spool_t *ngx_octopus_audit_spool_create(
    ngx_octopus_audit_worker_t *w, ngx_cycle_t *cycle, ngx_path_t *path,
    off_t max, ngx_uint_t sync, ngx_atomic_t *bytes, ngx_atomic_t *spooled,
    ngx_atomic_t *dropped);

/* writing: records in, fsync'ed each second (the sink's tick), sealed */
ngx_int_t ngx_octopus_audit_spool_append(ngx_octopus_audit_spool_t *sp,
    u_char *data, size_t len, ngx_uint_t count);
void ngx_octopus_audit_spool_sync(ngx_octopus_audit_spool_t *sp);
void ngx_octopus_audit_spool_close(ngx_octopus_audit_spool_t *sp);

/* replaying: a file, its chunks, each stored or not, a file refused */
ngx_int_t ngx_octopus_audit_spool_claim(ngx_octopus_audit_spool_t *sp);
ssize_t ngx_octopus_audit_spool_read(ngx_octopus_audit_spool_t *sp,
    ngx_octopus_audit_buf_t *b, size_t max);
void ngx_octopus_audit_spool_replayed(ngx_octopus_audit_spool_t *sp,
    ngx_uint_t ok);
void ngx_octopus_audit_spool_refused(ngx_octopus_audit_spool_t *sp);

/* configuration: the folder's size, its permissions for "user" */
off_t ngx_octopus_audit_spool_size(ngx_str_t *dir);
ngx_int_t ngx_octopus_audit_spool_check_conf(ngx_cycle_t *cycle,
    ngx_path_t *path, ngx_log_t *log);

ngx_int_t ngx_octopus_audit_buf_append(ngx_octopus_audit_buf_t *b,
    u_char *data, size_t len, ngx_uint_t count);
void ngx_octopus_audit_buf_free(ngx_octopus_audit_buf_t *b);


#endif /* _NGX_OCTOPUS_AUDIT_SPOOL_H_INCLUDED_ */
