
/*
 * Copyright (C) Octopus Guard authors
 *
 * The PostgreSQL writer: one libpq connection per worker, opened after
 * fork with PQconnectStartParams/PQconnectPoll and driven by nginx events
 * (PQsocket re-read after each poll), a timer on every wait.
 *
 * Records (COPY text lines) wait in a bounded in-memory queue and go to
 * the database in batches, on size or interval: COPY straight into the
 * table (non-blocking PQputCopyData), one statement, so one transaction.
 * A batch sent twice (a timeout, a replay, a dead worker's ring) breaks
 * the table's primary key (chain_id, seq, ts): the COPY is refused as a
 * whole (unique_violation), and that batch is sent again through a
 * session temporary staging table and INSERT ... SELECT ... ON CONFLICT
 * DO NOTHING, which stores the records that were not stored yet.  The
 * direct COPY costs the server about a third of the staging path, which
 * is taken only after a fault.  When the
 * database is down, slow, or the queue is full, records go to the spool;
 * spool files are replayed through the same path when it is back.
 *
 * The queue (the batch in flight and the records after it) is mirrored in
 * the worker's ring in the "octopus_audit_queue" zone: the ring's tail
 * moves when a batch is committed or the queue is written to the spool.
 * A worker killed with SIGKILL leaves its ring behind; its successor, or
 * any worker on its next tick, queues the records again (the table's
 * ON CONFLICT drops those that were committed already).  With a spool
 * folder the rings are in a file, "<spool>/queue.rings", that outlives
 * the whole nginx: after a kill of the master and its workers, a worker
 * of the next start queues them again the same way.
 */


#include "ngx_octopus_audit.h"
#include "ngx_octopus_audit_pg.h"

#include <sys/file.h>


#define NGX_OCTOPUS_AUDIT_COPY_CHUNK   65536
#define NGX_OCTOPUS_AUDIT_REPLAY_MAX   (1024 * 1024)
#define NGX_OCTOPUS_AUDIT_SCAN_MS      1000
#define NGX_OCTOPUS_AUDIT_BACKOFF_MIN  100
#define NGX_OCTOPUS_AUDIT_RETRY_DROPPING  500       /* see retry_soon() */


static void ngx_octopus_audit_pg_connect(ngx_octopus_audit_worker_t *w);
static ngx_int_t ngx_octopus_audit_pg_watch(ngx_octopus_audit_worker_t *w,
    ngx_uint_t rd, ngx_uint_t wr);
static void ngx_octopus_audit_pg_unwatch(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_close(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_fail(ngx_octopus_audit_worker_t *w,
    const char *what);
static void ngx_octopus_audit_pg_handler(ngx_event_t *ev);
static void ngx_octopus_audit_pg_poll(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_results(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_done(ngx_octopus_audit_worker_t *w);
static ngx_int_t ngx_octopus_audit_pg_send(ngx_octopus_audit_worker_t *w,
    u_char *sql, ngx_octopus_audit_pg_state_e state);
static void ngx_octopus_audit_pg_copy(ngx_octopus_audit_worker_t *w);
static ngx_int_t ngx_octopus_audit_pg_flush(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_next(ngx_octopus_audit_worker_t *w,
    ngx_uint_t force);
static void ngx_octopus_audit_pg_batch(ngx_octopus_audit_worker_t *w,
    ngx_uint_t replay);
static void ngx_octopus_audit_pg_release(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_stored(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_rejected(ngx_octopus_audit_worker_t *w);
static u_char *ngx_octopus_audit_pg_insert(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_timeout(ngx_event_t *ev);
static void ngx_octopus_audit_pg_flush_handler(ngx_event_t *ev);
static void ngx_octopus_audit_pg_notice(void *arg, const char *message);
static void ngx_octopus_audit_pg_queue(ngx_octopus_audit_worker_t *w,
    u_char *line, size_t len, ngx_uint_t own);
static ngx_octopus_audit_ring_t *ngx_octopus_audit_pg_ring(
    ngx_octopus_audit_rings_t *rs, ngx_uint_t i);
static ngx_uint_t ngx_octopus_audit_pg_dead(ngx_octopus_audit_rings_t *rs,
    uint64_t owner);
static uint64_t ngx_octopus_audit_pg_me(ngx_octopus_audit_rings_t *rs);
static void ngx_octopus_audit_pg_ring_attach(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_ring_detach(ngx_octopus_audit_worker_t *w);
static void ngx_octopus_audit_pg_retry_soon(ngx_octopus_audit_worker_t *w);


ngx_int_t
ngx_octopus_audit_pg_init(ngx_octopus_audit_worker_t *w)
{
    u_char                         *p;
    size_t                          len;
    char                            cols[1024], defs[1536];
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    if (ngx_octopus_audit_columns(cols, sizeof(cols), 0) == 0
        || ngx_octopus_audit_columns(defs, sizeof(defs), 1) == 0)
    {
        return NGX_ERROR;
    }

    /* the fields of a COPY line, checked in a recovered ring */

    w->pg->fields = 1;

    for (p = (u_char *) cols; *p; p++) {
        if (*p == ',') {
            w->pg->fields++;
        }
    }

    len = 512 + 3 * ngx_strlen(cols) + ngx_strlen(defs)
          + 3 * amcf->table.len;

    p = ngx_pnalloc(ngx_cycle->pool, 3 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    w->pg->insert_cp_size = len + sizeof(w->chain_id) + 2 * NGX_INT64_LEN
                        + NGX_OCTOPUS_AUDIT_HASH_LEN;

    w->pg->insert_cp_sql = ngx_pnalloc(ngx_cycle->pool, w->pg->insert_cp_size);
    if (w->pg->insert_cp_sql == NULL) {
        return NGX_ERROR;
    }

    /*
     * statement_timeout: the server gives up too when the writer does, so
     * a batch stuck behind a lock does not leave a backend behind it
     */

    w->pg->setup_sql = p;
    p = ngx_sprintf(p, "SET statement_timeout = %M; "
                       "CREATE TEMP TABLE IF NOT EXISTS octopus_staging "
                       "(%s); "
                       "SELECT to_regclass('%V_checkpoints') IS NOT NULL%Z",
                    amcf->pg_timeout, defs, &amcf->table);

    w->pg->copy_sql = p;
    p = ngx_sprintf(p, "COPY pg_temp.octopus_staging (%s) FROM STDIN%Z",
                    cols);

    w->pg->copy_direct_sql = p;
    p = ngx_sprintf(p, "COPY %V (%s) FROM STDIN%Z", &amcf->table, cols);

    /* INSERT privilege is all the writer needs (no SELECT, no UPDATE) */

    w->pg->insert_sql = p;
    (void) ngx_sprintf(p, "INSERT INTO %V (%s) SELECT %s FROM "
                          "pg_temp.octopus_staging ON CONFLICT DO NOTHING; "
                          "TRUNCATE pg_temp.octopus_staging%Z",
                       &amcf->table, cols, cols);

    w->pg->timeout.handler = ngx_octopus_audit_pg_timeout;
    w->pg->timeout.data = w;
    w->pg->timeout.log = w->log;
    w->pg->timeout.cancelable = 1;

    w->pg->flush.handler = ngx_octopus_audit_pg_flush_handler;
    w->pg->flush.data = w;
    w->pg->flush.log = w->log;
    w->pg->flush.cancelable = 1;

    ngx_octopus_audit_pg_ring_attach(w);

    ngx_octopus_audit_pg_connect(w);

    /* the queue of the worker this one replaces (SIGKILL, a crash) */
    ngx_octopus_audit_pg_recover(w);

    return NGX_OK;
}


/*
 * The queue file "<spool>/queue.rings", mapped MAP_SHARED by the master
 * before it forks, so that the rings outlive the whole nginx: the kernel
 * keeps the pages a killed process wrote.  Mapped once per master (a
 * reload goes on with it); the master's flock() on it, which its workers
 * share, says whether processes of an earlier nginx still use it.
 */

static ngx_fd_t   ngx_octopus_audit_rings_fd = NGX_INVALID_FILE;
static u_char    *ngx_octopus_audit_rings_map;
static size_t     ngx_octopus_audit_rings_map_size;


static ngx_int_t
ngx_octopus_audit_pg_rings_file(ngx_shm_zone_t *shm_zone,
    ngx_octopus_audit_rings_t *rs, ngx_uint_t n, size_t stride)
{
    u_char                          *map, bad[NGX_MAX_PATH];
    size_t                           size, rsize;
    ngx_fd_t                         fd;
    ngx_err_t                        err;
    uint64_t                         generation;
    ngx_uint_t                       i, reset, records;
    struct stat                      st;
    const char                      *why;
    ngx_octopus_audit_ring_t        *r;
    ngx_octopus_audit_main_conf_t   *amcf;
    ngx_octopus_audit_rings_file_t  *h;
    u_char                           name[NGX_MAX_PATH];

    amcf = shm_zone->data;

    *ngx_snprintf(name, NGX_MAX_PATH - 1, "%V/queue.rings",
                  &amcf->spool->name) = '\0';

    fd = open((char *) name, O_RDWR|O_CREAT|O_CLOEXEC, 0600);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, ngx_errno,
                      "octopus audit: open(\"%s\") failed: the queue is in "
                      "shared memory only", name);
        return NGX_DECLINED;
    }

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, ngx_errno,
                      "octopus audit: \"%s\" is in use by another nginx "
                      "(or its workers still run): the queue is in shared "
                      "memory only", name);
        (void) close(fd);
        return NGX_DECLINED;
    }

    if (fstat(fd, &st) == -1) {
        goto failed;
    }

    generation = 1;
    map = NULL;

    if (st.st_size > 0) {
        size = (size_t) st.st_size;

        map = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            goto failed;
        }

        h = (ngx_octopus_audit_rings_file_t *) map;
        why = ngx_octopus_audit_rings_file_check(h, size);

        if (why == NULL
            && (h->nrings != n || h->stride != stride))
        {
            /* another size: kept while it holds records */
            rsize = h->stride - offsetof(ngx_octopus_audit_ring_t, data);
            records = 0;

            for (i = 0; i < h->nrings; i++) {
                r = (ngx_octopus_audit_ring_t *)
                        (map + NGX_OCTOPUS_AUDIT_RINGS_HEADER
                         + i * h->stride);

                if (ngx_octopus_audit_ring_valid(r, rsize)
                    && r->head != r->tail)
                {
                    records = 1;
                }
            }

            if (records) {
                ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                              "octopus audit: \"%s\" holds %uL queues of "
                              "%uL bytes with records: kept as they are, "
                              "the new size applies once they are empty "
                              "at a start", name, h->nrings, h->stride);
                n = (ngx_uint_t) h->nrings;
                stride = (size_t) h->stride;

            } else {
                why = "";
            }
        }

        if (why == NULL) {
            generation = h->generation + 1;
            goto mapped;
        }

        (void) munmap(map, size);
        map = NULL;

        if (why[0]) {
            /* skipped, kept for a look: one line */
            *ngx_snprintf(bad, NGX_MAX_PATH - 1, "%s.bad", name) = '\0';

            ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                          "octopus audit: \"%s\" is not a valid queue file "
                          "(%s): moved to \"%s\", its records are not "
                          "recovered", name, why, bad);

            if (rename((char *) name, (char *) bad) == -1) {
                goto failed;
            }

            (void) close(fd);

            fd = open((char *) name, O_RDWR|O_CREAT|O_CLOEXEC, 0600);
            if (fd == -1 || flock(fd, LOCK_EX|LOCK_NB) == -1) {
                goto failed;
            }
        }

        if (ftruncate(fd, 0) == -1) {
            goto failed;
        }
    }

    /* a new file: its blocks allocated, a write never meets a full disk */

    size = NGX_OCTOPUS_AUDIT_RINGS_HEADER + n * stride;

    err = posix_fallocate(fd, 0, (off_t) size);
    if (err) {
        /* what it got is the spool's again */
        if (ftruncate(fd, 0) == -1) {
            /* the file stays, the next start tries again */
        }

        ngx_set_errno(err);
        goto failed;
    }

    map = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        goto failed;
    }

    ngx_memzero(map, NGX_OCTOPUS_AUDIT_RINGS_HEADER);

    rsize = stride - offsetof(ngx_octopus_audit_ring_t, data);

    for (i = 0; i < n; i++) {
        ngx_octopus_audit_ring_init((ngx_octopus_audit_ring_t *)
                                    (map + NGX_OCTOPUS_AUDIT_RINGS_HEADER
                                     + i * stride), rsize);
    }

mapped:

    h = (ngx_octopus_audit_rings_file_t *) map;

    /*
     * the blocks of a kept file too (it may have been copied sparse); if
     * the disk is full, its records matter more: it goes on as it is
     */

    err = posix_fallocate(fd, 0, (off_t) size);
    if (err) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, err,
                      "octopus audit: posix_fallocate(\"%s\") failed",
                      name);
    }

    /* a ring a crash left out of bounds starts empty */

    rsize = stride - offsetof(ngx_octopus_audit_ring_t, data);
    reset = 0;

    for (i = 0; i < n; i++) {
        r = (ngx_octopus_audit_ring_t *)
                (map + NGX_OCTOPUS_AUDIT_RINGS_HEADER + i * stride);

        if (!ngx_octopus_audit_ring_valid(r, rsize)) {
            ngx_octopus_audit_ring_init(r, rsize);
            reset++;
        }
    }

    if (reset) {
        ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                      "octopus audit: %ui queues in \"%s\" had a damaged "
                      "header: emptied, their records are not recovered",
                      reset, name);
    }

    ngx_octopus_audit_rings_file_init(h, n, stride, generation);

    ngx_octopus_audit_rings_fd = fd;
    ngx_octopus_audit_rings_map = map;
    ngx_octopus_audit_rings_map_size = size;

    ngx_log_error(NGX_LOG_INFO, shm_zone->shm.log, 0,
                  "octopus audit: queue file \"%s\", %ui queues of %uz "
                  "bytes, generation %uL", name, n, stride, generation);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, ngx_errno,
                  "octopus audit: cannot use \"%s\" as the queue file: the "
                  "queue is in shared memory only", name);

    if (fd != -1) {
        (void) close(fd);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_octopus_audit_init_queue_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_octopus_audit_main_conf_t  *oamcf = data;

    size_t                          total, stride;
    ngx_int_t                       rc;
    ngx_uint_t                      i, n;
    ngx_core_conf_t                *ccf;
    ngx_slab_pool_t                *shpool;
    ngx_octopus_audit_rings_t      *rs;
    ngx_octopus_audit_main_conf_t  *amcf;
    ngx_octopus_audit_rings_file_t *h;

    amcf = shm_zone->data;

    if (oamcf && oamcf->rings) {
        /* reload with the same size: the rings of the old workers go on */
        amcf->rings = oamcf->rings;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ccf = (ngx_core_conf_t *) ngx_get_conf(amcf->cycle->conf_ctx,
                                           ngx_core_module);

    /* the workers of a reload start while the old ones finish */
    n = ngx_min(2 * (ngx_uint_t) ccf->worker_processes + 2, 512);

    rs = ngx_slab_calloc(shpool, sizeof(ngx_octopus_audit_rings_t));
    if (rs == NULL) {
        return NGX_ERROR;
    }

    shpool->log_ctx = (u_char *) " in octopus_audit_queue zone";

    amcf->rings = rs;

    if (ngx_octopus_audit_rings_map) {
        /* a reload with another size: the master's queue file goes on */
        h = (ngx_octopus_audit_rings_file_t *) ngx_octopus_audit_rings_map;
        rs->nrings = (ngx_uint_t) h->nrings;
        rs->stride = (size_t) h->stride;
        rs->generation = h->generation;
        rs->rings = ngx_octopus_audit_rings_map
                    + NGX_OCTOPUS_AUDIT_RINGS_HEADER;
        return NGX_OK;
    }

    /* the queue file, with a spool folder; not for "nginx -t" */

    stride = ((shm_zone->shm.size - NGX_OCTOPUS_AUDIT_RINGS_HEADER) / n)
             & ~(size_t) 63;

    if (amcf->spool && stride >= 16384) {
        if (ngx_test_config) {
            return NGX_OK;
        }

        rc = ngx_octopus_audit_pg_rings_file(shm_zone, rs, n, stride);

        if (rc == NGX_OK) {
            h = (ngx_octopus_audit_rings_file_t *)
                    ngx_octopus_audit_rings_map;
            rs->nrings = (ngx_uint_t) h->nrings;
            rs->stride = (size_t) h->stride;
            rs->generation = h->generation;
            rs->rings = ngx_octopus_audit_rings_map
                        + NGX_OCTOPUS_AUDIT_RINGS_HEADER;
            return NGX_OK;
        }
    }

    /* anonymous shared memory: the rings go with the whole nginx */

    total = (shpool->pfree > 1) ? (shpool->pfree - 1) * ngx_pagesize : 0;
    stride = (total / n) & ~(size_t) 63;

    if (stride < 16384) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "octopus_audit_batch shm=%uz is too small for %ui "
                      "worker queues", shm_zone->shm.size, n);
        return NGX_ERROR;
    }

    rs->rings = ngx_slab_alloc(shpool, n * stride);
    if (rs->rings == NULL) {
        return NGX_ERROR;
    }

    rs->nrings = n;
    rs->stride = stride;

    for (i = 0; i < n; i++) {
        ngx_octopus_audit_ring_init(ngx_octopus_audit_pg_ring(rs, i),
                      stride - offsetof(ngx_octopus_audit_ring_t, data));
    }

    return NGX_OK;
}


static ngx_octopus_audit_ring_t *
ngx_octopus_audit_pg_ring(ngx_octopus_audit_rings_t *rs, ngx_uint_t i)
{
    return (ngx_octopus_audit_ring_t *) (rs->rings + i * rs->stride);
}


/* the owner identity: the queue file's generation and the pid */

static uint64_t
ngx_octopus_audit_pg_me(ngx_octopus_audit_rings_t *rs)
{
    return (rs->generation << 32) | (uint64_t) (uint32_t) ngx_pid;
}


static ngx_uint_t
ngx_octopus_audit_pg_dead(ngx_octopus_audit_rings_t *rs, uint64_t owner)
{
    /* a process of an earlier nginx: its pid may be anyone's now */
    if ((owner >> 32) != (rs->generation & 0xffffffff)) {
        return 1;
    }

    /* reaped by the master (a zombie still answers): gone for good */
    return kill((ngx_pid_t) (owner & 0xffffffff), 0) == -1
           && ngx_errno == NGX_ESRCH;
}


/* takes a free ring, or the empty one of a dead worker */

static void
ngx_octopus_audit_pg_ring_attach(ngx_octopus_audit_worker_t *w)
{
    uint64_t                    me, owner;
    ngx_uint_t                  i, pass;
    ngx_octopus_audit_ring_t   *r;
    ngx_octopus_audit_rings_t  *rs;

    rs = w->amcf->rings;

    if (rs == NULL || rs->rings == NULL) {
        return;
    }

    me = ngx_octopus_audit_pg_me(rs);

    for (pass = 0; pass < 2 && w->pg->ring == NULL; pass++) {
        for (i = 0; i < rs->nrings; i++) {
            r = ngx_octopus_audit_pg_ring(rs, i);
            owner = r->owner;

            if ((pass == 0 && owner == 0)
                || (pass == 1 && owner != me
                    && ngx_octopus_audit_ring_used(r) == 0
                    && ngx_octopus_audit_pg_dead(rs, owner)))
            {
                if (!ngx_octopus_audit_ring_claim(r, owner, me)) {
                    continue;
                }

                ngx_octopus_audit_ring_clear(r);
                w->pg->ring = r;
                break;
            }
        }
    }

    if (w->pg->ring == NULL) {
        ngx_log_error(NGX_LOG_WARN, w->log, 0,
                      "octopus audit: no free queue in the "
                      "\"octopus_audit_queue\" zone: if this worker is "
                      "killed, its queued records are lost");
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, w->log, 0,
                   "octopus audit: queue ring %p, %uL bytes",
                   w->pg->ring, w->pg->ring->size);
}


/* exit: the queue is in the database or the spool, the ring is free */

static void
ngx_octopus_audit_pg_ring_detach(ngx_octopus_audit_worker_t *w)
{
    if (w->pg->ring == NULL) {
        return;
    }

    ngx_octopus_audit_ring_clear(w->pg->ring);
    __atomic_store_n(&w->pg->ring->owner, 0, __ATOMIC_RELEASE);

    w->pg->ring = NULL;
}


/*
 * The rings of dead workers (of this nginx, or of one killed as a whole,
 * in the queue file): their records are queued here again, as if
 * accepted now (to this worker's ring, or the spool), before the ring is
 * freed; dying in the middle leaves the ring to the next one, and the
 * table's ON CONFLICT drops what was stored twice.  The compare-and-swap
 * on the owner gives a ring to one worker only.
 */

void
ngx_octopus_audit_pg_recover(ngx_octopus_audit_worker_t *w)
{
    u_char                     *buf, *p, *last, *nl;
    size_t                      used, good;
    uint64_t                    owner, me;
    ngx_uint_t                  i, n;
    ngx_octopus_audit_ring_t   *r;
    ngx_octopus_audit_rings_t  *rs;

    rs = w->amcf->rings;

    if (rs == NULL || rs->rings == NULL) {
        return;
    }

    me = ngx_octopus_audit_pg_me(rs);

    for (i = 0; i < rs->nrings; i++) {
        r = ngx_octopus_audit_pg_ring(rs, i);
        owner = r->owner;

        if (owner == 0 || owner == me
            || !ngx_octopus_audit_pg_dead(rs, owner))
        {
            continue;
        }

        if (!ngx_octopus_audit_ring_claim(r, owner, me)) {
            continue;
        }

        used = ngx_octopus_audit_ring_used(r);
        n = 0;
        good = 0;

        if (used) {
            buf = ngx_alloc(used, w->log);
            if (buf == NULL) {
                /* the next tick tries again */
                __atomic_store_n(&r->owner, owner, __ATOMIC_RELEASE);
                return;
            }

            used = ngx_octopus_audit_ring_copy(r, buf);

            /* bytes a machine crash did not write back: cut there */
            good = ngx_octopus_audit_ring_good(buf, used, w->pg->fields);
            last = buf + good;

            for (p = buf; p < last; p = nl + 1) {
                nl = ngx_strlchr(p, last, '\n');
                ngx_octopus_audit_pg_queue(w, p, nl + 1 - p, 0);
                n++;
            }

            ngx_free(buf);
        }

        ngx_octopus_audit_ring_clear(r);
        __atomic_store_n(&r->owner, 0, __ATOMIC_RELEASE);

        if (good < used) {
            ngx_log_error(NGX_LOG_ALERT, w->log, 0,
                          "octopus audit: the queue of worker %uL is torn "
                          "after %ui records: %uz bytes after them not "
                          "recovered", owner & 0xffffffff, n, used - good);
        }

        if (n) {
            ngx_log_error(NGX_LOG_WARN, w->log, 0,
                          "octopus audit: %ui records queued by worker %uL, "
                          "which died, recovered from %s",
                          n, owner & 0xffffffff,
                          (owner >> 32) != (rs->generation & 0xffffffff)
                          ? "the queue file, left by an earlier nginx"
                          : rs->generation ? "the queue file"
                                           : "shared memory");
        }
    }
}


static void
ngx_octopus_audit_pg_connect(ngx_octopus_audit_worker_t *w)
{
    ngx_uint_t                      n;
    const char                     *keys[6], *vals[6];
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    /* the connection string first: later keywords override it */

    n = 0;
    keys[n] = "dbname";
    vals[n++] = (const char *) amcf->pg_conninfo.data;

    /* the host's address, resolved when the configuration was read */

    if (amcf->pg_hostaddr.len) {
        keys[n] = "hostaddr";
        vals[n++] = (const char *) amcf->pg_hostaddr.data;
    }

    if (amcf->pg_password.len) {
        keys[n] = "password";
        vals[n++] = (const char *) amcf->pg_password.data;
    }

    keys[n] = "application_name";
    vals[n++] = "octopus_audit";

    /* records are UTF-8 (sanitised), whatever the database encoding */
    keys[n] = "client_encoding";
    vals[n++] = "UTF8";

    keys[n] = NULL;
    vals[n] = NULL;

    w->pg->conn = PQconnectStartParams(keys, vals, 1);

    if (w->pg->conn == NULL) {
        ngx_octopus_audit_pg_fail(w, "connection failed");
        return;
    }

    if (PQstatus(w->pg->conn) == CONNECTION_BAD) {
        ngx_octopus_audit_pg_fail(w, "connection failed");
        return;
    }

    /* libpq would print notices to stderr */
    (void) PQsetNoticeProcessor(w->pg->conn, ngx_octopus_audit_pg_notice, w);

    w->pg->state = NGX_OCTOPUS_AUDIT_PG_CONNECTING;

    w->pg->timeout.cancelable = 1;
    ngx_add_timer(&w->pg->timeout, amcf->pg_timeout);

    /* as if PQconnectPoll had returned PGRES_POLLING_WRITING */

    if (ngx_octopus_audit_pg_watch(w, 0, 1) != NGX_OK) {
        ngx_octopus_audit_pg_fail(w, "connection failed");
    }
}


static ngx_int_t
ngx_octopus_audit_pg_watch(ngx_octopus_audit_worker_t *w, ngx_uint_t rd,
    ngx_uint_t wr)
{
    ngx_socket_t       fd;
    ngx_connection_t  *c;

    fd = PQsocket(w->pg->conn);

    if (fd == (ngx_socket_t) -1) {
        return NGX_ERROR;
    }

    c = w->pg->c;

    if (c && c->fd != fd) {
        ngx_octopus_audit_pg_unwatch(w);
        c = NULL;
    }

    if (c == NULL) {
        c = ngx_get_connection(fd, w->log);
        if (c == NULL) {
            return NGX_ERROR;
        }

        c->data = w;
        c->log = w->log;
        c->read->log = w->log;
        c->write->log = w->log;
        c->read->handler = ngx_octopus_audit_pg_handler;
        c->write->handler = ngx_octopus_audit_pg_handler;

        w->pg->c = c;
    }

    /* level-triggered: the write event only while libpq has output */

    if (rd && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (!rd && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (wr && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (!wr && c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* forget the nginx side of the socket; libpq still owns the descriptor */

static void
ngx_octopus_audit_pg_unwatch(ngx_octopus_audit_worker_t *w)
{
    ngx_uint_t         flags;
    ngx_connection_t  *c;

    c = w->pg->c;

    if (c == NULL) {
        return;
    }

    /*
     * libpq closes its socket itself when it sees the connection lost:
     * then the descriptor left epoll with the close, and only the flags
     * are cleared (NGX_CLOSE_EVENT)
     */

    flags = (w->pg->conn && PQsocket(w->pg->conn) == c->fd)
            ? 0 : NGX_CLOSE_EVENT;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;

    w->pg->c = NULL;
}


static void
ngx_octopus_audit_pg_close(ngx_octopus_audit_worker_t *w)
{
    ngx_octopus_audit_pg_unwatch(w);

    if (w->pg->conn) {
        PQfinish(w->pg->conn);
        w->pg->conn = NULL;
    }

    if (w->pg->connected) {
        w->pg->connected = 0;
        (void) ngx_atomic_fetch_add(&w->amcf->sh->db_connected, -1);
    }

    if (w->pg->timeout.timer_set) {
        ngx_del_timer(&w->pg->timeout);
    }
}


/* the in-flight and queued records go back to the spool */

static void
ngx_octopus_audit_pg_release(ngx_octopus_audit_worker_t *w)
{
    if (w->pg->inflight_replay) {
        ngx_octopus_audit_spool_done(w, 0);
        w->pg->inflight_replay = 0;

    } else if (w->pg->inflight.count) {
        (void) ngx_octopus_audit_spool_append(w->pg->spool,
                                              w->pg->inflight.data,
                                              w->pg->inflight.len,
                                              w->pg->inflight.count);
        (void) ngx_atomic_fetch_add(w->queue_depth,
                                    - (ngx_atomic_int_t) w->pg->inflight.count);
    }

    w->pg->inflight.len = 0;
    w->pg->inflight.count = 0;

    if (w->pg->pending.count) {
        (void) ngx_octopus_audit_spool_append(w->pg->spool, w->pg->pending.data,
                                              w->pg->pending.len,
                                              w->pg->pending.count);
        (void) ngx_atomic_fetch_add(w->queue_depth,
                                    - (ngx_atomic_int_t) w->pg->pending.count);
    }

    w->pg->pending.len = 0;
    w->pg->pending.count = 0;

    /* all that the ring held is in the spool now */

    if (w->pg->ring) {
        ngx_octopus_audit_ring_clear(w->pg->ring);
    }

    w->tick.cancelable = 1;
}


static void
ngx_octopus_audit_pg_fail(ngx_octopus_audit_worker_t *w, const char *what)
{
    u_char                         *p, *last, *msg, buf[512];
    ngx_uint_t                      level;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    /* libpq's message on one line */

    msg = (u_char *) (w->pg->conn ? PQerrorMessage(w->pg->conn) : "");
    last = buf;

    for (p = msg; *p && last < buf + sizeof(buf) - 1; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            if (last > buf && last[-1] != ' ') {
                *last++ = ' ';
            }

            continue;
        }

        *last++ = *p;
    }

    while (last > buf && last[-1] == ' ') {
        last--;
    }

    /* a failed reconnection is not news: the first failure was logged */
    level = (w->pg->state == NGX_OCTOPUS_AUDIT_PG_CONNECTING && w->pg->backoff)
            ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_octopus_audit_log(w, NGX_OCTOPUS_AUDIT_LOG_PG, level, 0,
                          "octopus audit: PostgreSQL %s%s%*s, records go to "
                          "the spool", what, last > buf ? ": " : "",
                          last - buf, buf);

    (void) ngx_atomic_fetch_add(&amcf->sh->db_errors, 1);

    ngx_octopus_audit_pg_close(w);
    ngx_octopus_audit_pg_release(w);

    w->pg->state = NGX_OCTOPUS_AUDIT_PG_DOWN;

    w->pg->backoff = w->pg->backoff
                     ? ngx_min(w->pg->backoff * 2, amcf->backoff_max)
                     : NGX_OCTOPUS_AUDIT_BACKOFF_MIN;

    ngx_add_timer(&w->pg->flush, w->pg->backoff);
}


static void
ngx_octopus_audit_pg_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_octopus_audit_worker_t  *w;

    c = ev->data;
    w = c->data;

    if (w->pg->state == NGX_OCTOPUS_AUDIT_PG_CONNECTING) {
        ngx_octopus_audit_pg_poll(w);
        return;
    }

    if (ev->write) {
        if (w->pg->state == NGX_OCTOPUS_AUDIT_PG_COPY_DATA) {
            if (PQflush(w->pg->conn) == -1) {
                ngx_octopus_audit_pg_fail(w, "write failed");
                return;
            }

            ngx_octopus_audit_pg_copy(w);
            return;
        }

        (void) ngx_octopus_audit_pg_flush(w);
        return;
    }

    if (!PQconsumeInput(w->pg->conn)) {
        ngx_octopus_audit_pg_fail(w, "connection lost");
        return;
    }

    ngx_octopus_audit_pg_results(w);
}


static void
ngx_octopus_audit_pg_poll(ngx_octopus_audit_worker_t *w)
{
    PostgresPollingStatusType  rc;

    /*
     * PQconnectPoll may close the socket and open another one (next
     * address, SSL fallback), possibly with the same number: the events
     * are removed while the descriptor is still ours, and added again
     * for whatever PQsocket() returns afterwards.
     */

    ngx_octopus_audit_pg_unwatch(w);

    rc = PQconnectPoll(w->pg->conn);

    switch (rc) {

    case PGRES_POLLING_READING:
        if (ngx_octopus_audit_pg_watch(w, 1, 0) != NGX_OK) {
            ngx_octopus_audit_pg_fail(w, "connection failed");
        }
        return;

    case PGRES_POLLING_WRITING:
        if (ngx_octopus_audit_pg_watch(w, 0, 1) != NGX_OK) {
            ngx_octopus_audit_pg_fail(w, "connection failed");
        }
        return;

    case PGRES_POLLING_OK:
        break;

    default:
        ngx_octopus_audit_pg_fail(w, "connection failed");
        return;
    }

    if (PQsetnonblocking(w->pg->conn, 1) != 0) {
        ngx_octopus_audit_pg_fail(w, "connection failed");
        return;
    }

    w->pg->connected = 1;
    (void) ngx_atomic_fetch_add(&w->amcf->sh->db_connected, 1);

    (void) ngx_octopus_audit_pg_send(w, w->pg->setup_sql,
                                     NGX_OCTOPUS_AUDIT_PG_SETUP);
}


static ngx_int_t
ngx_octopus_audit_pg_send(ngx_octopus_audit_worker_t *w, u_char *sql,
    ngx_octopus_audit_pg_state_e state)
{
    if (!PQsendQuery(w->pg->conn, (char *) sql)) {
        ngx_octopus_audit_pg_fail(w, "query failed");
        return NGX_ERROR;
    }

    w->pg->state = state;
    w->pg->result_error = 0;

    /*
     * a batch in flight holds a worker that is shutting down (reload,
     * quit) until it is stored or timed out, and then the rest of the
     * queue is sent (pg_next); connecting does not hold it
     */
    w->pg->timeout.cancelable = (state == NGX_OCTOPUS_AUDIT_PG_SETUP);

    ngx_add_timer(&w->pg->timeout, w->amcf->pg_timeout);

    return ngx_octopus_audit_pg_flush(w);
}


static ngx_int_t
ngx_octopus_audit_pg_flush(ngx_octopus_audit_worker_t *w)
{
    int  rc;

    rc = PQflush(w->pg->conn);

    if (rc == -1) {
        ngx_octopus_audit_pg_fail(w, "write failed");
        return NGX_ERROR;
    }

    if (ngx_octopus_audit_pg_watch(w, 1, rc == 1) != NGX_OK) {
        ngx_octopus_audit_pg_fail(w, "event registration failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_octopus_audit_pg_results(ngx_octopus_audit_worker_t *w)
{
    char            *sqlstate;
    PGresult        *res;
    ExecStatusType   st;

    while (w->pg->conn && !PQisBusy(w->pg->conn)) {

        if (w->pg->state == NGX_OCTOPUS_AUDIT_PG_COPY_DATA) {
            /* PQgetResult() would repeat PGRES_COPY_IN: wait for write */
            return;
        }

        res = PQgetResult(w->pg->conn);

        if (res == NULL) {
            ngx_octopus_audit_pg_done(w);
            return;
        }

        st = PQresultStatus(res);

        if (st == PGRES_COPY_IN
            && w->pg->state == NGX_OCTOPUS_AUDIT_PG_COPY_START)
        {
            PQclear(res);
            w->pg->state = NGX_OCTOPUS_AUDIT_PG_COPY_DATA;
            w->pg->copy_off = 0;
            w->pg->copy_end_sent = 0;
            ngx_octopus_audit_pg_copy(w);
            continue;
        }

        if (st == PGRES_TUPLES_OK
            && w->pg->state == NGX_OCTOPUS_AUDIT_PG_SETUP
            && PQntuples(res) == 1)
        {
            w->pg->db_checkpoints = (PQgetvalue(res, 0, 0)[0] == 't');
        }

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {

            /*
             * 2: the data itself was refused (classes 22, data exception,
             * and 23, integrity violation); 1: anything else (a timeout,
             * a lock, a privilege) may pass on the next try; 3: a direct
             * COPY met records stored before (a replay): not an error
             */

            sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

            if (sqlstate && w->pg->batch_direct
                && ngx_strcmp(sqlstate, "23505") == 0)
            {
                w->pg->result_error = 3;

            } else if (sqlstate && (ngx_strncmp(sqlstate, "22", 2) == 0
                                    || ngx_strncmp(sqlstate, "23", 2) == 0))
            {
                w->pg->result_error = 2;

            } else if (w->pg->result_error == 0) {
                w->pg->result_error = 1;
            }

            ngx_octopus_audit_log(w, NGX_OCTOPUS_AUDIT_LOG_PG_RESULT,
                                  w->pg->result_error == 3 ? NGX_LOG_INFO
                                                       : NGX_LOG_ERR, 0,
                                  "octopus audit: PostgreSQL: %s",
                                  PQresultErrorMessage(res));
        }

        PQclear(res);
    }
}


static void
ngx_octopus_audit_pg_copy(ngx_octopus_audit_worker_t *w)
{
    int      rc;
    size_t   n;

    while (w->pg->copy_off < w->pg->inflight.len) {
        n = ngx_min(NGX_OCTOPUS_AUDIT_COPY_CHUNK,
                    w->pg->inflight.len - w->pg->copy_off);

        rc = PQputCopyData(w->pg->conn,
                           (char *) w->pg->inflight.data + w->pg->copy_off,
                           (int) n);

        if (rc == -1) {
            ngx_octopus_audit_pg_fail(w, "COPY failed");
            return;
        }

        if (rc == 0) {
            /* libpq's buffer is full: wait until the socket drains */
            if (ngx_octopus_audit_pg_watch(w, 1, 1) != NGX_OK) {
                ngx_octopus_audit_pg_fail(w, "event registration failed");
            }
            return;
        }

        w->pg->copy_off += n;
    }

    if (!w->pg->copy_end_sent) {
        rc = PQputCopyEnd(w->pg->conn, NULL);

        if (rc == -1) {
            ngx_octopus_audit_pg_fail(w, "COPY failed");
            return;
        }

        if (rc == 0) {
            if (ngx_octopus_audit_pg_watch(w, 1, 1) != NGX_OK) {
                ngx_octopus_audit_pg_fail(w, "event registration failed");
            }
            return;
        }

        w->pg->copy_end_sent = 1;
    }

    w->pg->state = NGX_OCTOPUS_AUDIT_PG_COPY_RESULT;

    (void) ngx_octopus_audit_pg_flush(w);
}


/* PQgetResult() returned NULL: the command sent last is complete */

static void
ngx_octopus_audit_pg_done(ngx_octopus_audit_worker_t *w)
{
    ngx_octopus_audit_shm_t  *sh;

    sh = w->amcf->sh;

    switch (w->pg->state) {

    case NGX_OCTOPUS_AUDIT_PG_SETUP:
        if (w->pg->result_error) {
            ngx_octopus_audit_pg_fail(w, "setup failed");
            return;
        }

        ngx_log_error(NGX_LOG_INFO, w->log, 0,
                      "octopus audit: connected to PostgreSQL");

        w->pg->state = NGX_OCTOPUS_AUDIT_PG_IDLE;
        w->pg->backoff = 0;
        w->pg->next_scan = 0;

        if (w->pg->timeout.timer_set) {
            ngx_del_timer(&w->pg->timeout);
        }

        /* the database is back: this worker's spool file may be replayed */
        ngx_octopus_audit_spool_seal(w);

        ngx_octopus_audit_pg_next(w, 0);
        return;

    case NGX_OCTOPUS_AUDIT_PG_COPY_START:
        /* the COPY was refused before any data (no table, no privilege) */
        ngx_octopus_audit_pg_fail(w, "COPY failed");
        return;

    case NGX_OCTOPUS_AUDIT_PG_COPY_RESULT:
        if (w->pg->result_error == 3) {
            /* some records are stored already: the staging path */
            w->pg->batch_direct = 0;
            (void) ngx_atomic_fetch_add(&sh->batches_restaged, 1);
            (void) ngx_octopus_audit_pg_send(w, w->pg->copy_sql,
                                             NGX_OCTOPUS_AUDIT_PG_COPY_START);
            return;
        }

        if (w->pg->result_error) {
            ngx_octopus_audit_pg_rejected(w);
            ngx_octopus_audit_pg_fail(w, "COPY failed");
            return;
        }

        if (!w->pg->batch_direct || w->pg->batch_cp) {
            /* staging -> table, or the checkpoint row after the rows */
            (void) ngx_octopus_audit_pg_send(w,
                                             ngx_octopus_audit_pg_insert(w),
                                             NGX_OCTOPUS_AUDIT_PG_INSERT);
            return;
        }

        ngx_octopus_audit_pg_stored(w);
        return;

    case NGX_OCTOPUS_AUDIT_PG_INSERT:
        if (w->pg->result_error) {
            ngx_octopus_audit_pg_rejected(w);
            ngx_octopus_audit_pg_fail(w, "INSERT failed");
            return;
        }

        ngx_octopus_audit_pg_stored(w);
        return;

    default:
        return;
    }
}


/* the batch in flight is in the table */

static void
ngx_octopus_audit_pg_stored(ngx_octopus_audit_worker_t *w)
{
    ngx_octopus_audit_shm_t  *sh;

    sh = w->amcf->sh;

    if (w->pg->inflight_replay) {
        (void) ngx_atomic_fetch_add(&sh->replayed, w->pg->inflight.count);
        ngx_octopus_audit_spool_done(w, 1);
        w->pg->inflight_replay = 0;

    } else {
        (void) ngx_atomic_fetch_add(w->queue_depth,
                                    - (ngx_atomic_int_t) w->pg->inflight.count);

        /* the batch is the oldest part of the ring */
        if (w->pg->ring) {
            ngx_octopus_audit_ring_consume(w->pg->ring, w->pg->inflight.len);
        }
    }

    (void) ngx_atomic_fetch_add(&sh->written[NGX_OCTOPUS_AUDIT_SINK_PG],
                                w->pg->inflight.count);

    if (w->pg->batch_cp) {
        w->pg->batch_cp = 0;
        w->pg->db_cp_time = ngx_current_msec;
    }

    w->pg->inflight.len = 0;
    w->pg->inflight.count = 0;

    w->pg->state = NGX_OCTOPUS_AUDIT_PG_IDLE;

    if (w->pg->timeout.timer_set) {
        ngx_del_timer(&w->pg->timeout);
    }

    ngx_octopus_audit_pg_next(w, 0);
}


/*
 * The server refused the data of a batch: a fresh batch goes to the spool
 * (pg_fail), to be tried once more through the replay; a replayed one is
 * set aside, so that one bad file cannot stop the spool.  A new session follows
 * anyway (pg_fail), with an empty staging table.
 */

static void
ngx_octopus_audit_pg_rejected(ngx_octopus_audit_worker_t *w)
{
    if (!w->pg->inflight_replay || w->pg->result_error != 2) {
        return;
    }

    ngx_octopus_audit_spool_reject(w);

    w->pg->inflight_replay = 0;
    w->pg->inflight.len = 0;
    w->pg->inflight.count = 0;
}


static u_char *
ngx_octopus_audit_pg_insert(ngx_octopus_audit_worker_t *w)
{
    u_char  *p, *q;
    size_t   len;

    if (w->pg->batch_direct) {
        /* the rows are in: the checkpoint row alone */

        (void) ngx_snprintf(w->pg->insert_cp_sql, w->pg->insert_cp_size,
                            "INSERT INTO %V_checkpoints (chain_id, seq, "
                            "hash) VALUES ('%*s', %uL, '%*s') "
                            "ON CONFLICT DO NOTHING%Z",
                            &w->amcf->table, w->chain_id_len, w->chain_id,
                            w->pg->batch_cp_seq,
                            (size_t) NGX_OCTOPUS_AUDIT_HASH_LEN,
                            w->pg->batch_cp_hash);

        return w->pg->insert_cp_sql;
    }

    if (!w->pg->batch_cp) {
        return w->pg->insert_sql;
    }

    /* "INSERT ...; <checkpoint INSERT>; TRUNCATE ..." */

    q = (u_char *) ngx_strstr(w->pg->insert_sql, "; TRUNCATE");
    if (q == NULL) {
        return w->pg->insert_sql;
    }

    len = q - w->pg->insert_sql;

    p = ngx_cpymem(w->pg->insert_cp_sql, w->pg->insert_sql, len);

    /* chain_id: node (no quote, checked), pid and time */

    p = ngx_snprintf(p, w->pg->insert_cp_size - len - 64,
                     "; INSERT INTO %V_checkpoints (chain_id, seq, hash) "
                     "VALUES ('%*s', %uL, '%*s') ON CONFLICT DO NOTHING%s%Z",
                     &w->amcf->table, w->chain_id_len, w->chain_id,
                     w->pg->batch_cp_seq, (size_t) NGX_OCTOPUS_AUDIT_HASH_LEN,
                     w->pg->batch_cp_hash, q);

    return w->pg->insert_cp_sql;
}


/* in IDLE: the next batch, a spool chunk, or a timer */

static void
ngx_octopus_audit_pg_next(ngx_octopus_audit_worker_t *w, ngx_uint_t force)
{
    ssize_t                         n;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    if (w->pg->state != NGX_OCTOPUS_AUDIT_PG_IDLE) {
        return;
    }

    /*
     * The queue overflowed into this worker's spool file while the
     * connection stayed up (a slow database): once the queue is back
     * under half of "queue" the database keeps up again, and the file is
     * sealed to be replayed now rather than after a reconnect.
     */

    if (ngx_octopus_audit_spool_writing(w->pg->spool) && !ngx_exiting
        && w->pg->pending.count <= amcf->queue_max / 2)
    {
        ngx_octopus_audit_spool_seal(w);
        w->pg->next_scan = ngx_current_msec;
        w->pg->replay_turn = 1;
    }

    /*
     * Fresh batches and spool chunks take turns while both wait, so that
     * steady traffic does not hold the spool back
     */

    if (w->pg->pending.count
        && (force || w->pg->pending.count >= amcf->batch_size || ngx_exiting)
        && !(w->pg->replay_turn && !ngx_exiting
             && (ngx_octopus_audit_spool_replaying(w->pg->spool)
                 || (ngx_msec_int_t) (ngx_current_msec - w->pg->next_scan)
                    >= 0)))
    {
        w->pg->replay_turn = 1;
        ngx_octopus_audit_pg_batch(w, 0);
        return;
    }

    if (ngx_exiting) {
        /* the spool is left to the next workers */
        return;
    }

    if (ngx_octopus_audit_spool_replaying(w->pg->spool)
        || (ngx_msec_int_t) (ngx_current_msec - w->pg->next_scan) >= 0)
    {
        w->pg->replay_turn = 0;

        for ( ;; ) {
            if (!ngx_octopus_audit_spool_replaying(w->pg->spool)
                && ngx_octopus_audit_spool_claim(w->pg->spool) != NGX_OK)
            {
                w->pg->next_scan = ngx_current_msec + NGX_OCTOPUS_AUDIT_SCAN_MS;
                break;
            }

            n = ngx_octopus_audit_spool_read(w->pg->spool, &w->pg->inflight,
                                             NGX_OCTOPUS_AUDIT_REPLAY_MAX);

            if (n > 0) {
                ngx_octopus_audit_pg_batch(w, 1);
                return;
            }

            /* the end of the file, or an unreadable one */
            ngx_octopus_audit_spool_done(w, n == 0);
            w->pg->inflight.len = 0;
            w->pg->inflight.count = 0;

            if (n < 0) {
                w->pg->next_scan = ngx_current_msec + NGX_OCTOPUS_AUDIT_SCAN_MS;
                break;
            }
        }
    }

    if (w->pg->pending.count >= amcf->batch_size
        || (force && w->pg->pending.count))
    {
        /* no spool to replay after all: the queue's turn */
        ngx_octopus_audit_pg_batch(w, 0);
        return;
    }

    if (w->pg->pending.count) {
        if (!w->pg->flush.timer_set) {
            ngx_add_timer(&w->pg->flush, amcf->batch_interval);
        }

    } else {
        ngx_add_timer(&w->pg->flush, NGX_OCTOPUS_AUDIT_SCAN_MS);
    }
}


static void
ngx_octopus_audit_pg_batch(ngx_octopus_audit_worker_t *w, ngx_uint_t replay)
{
    ngx_octopus_audit_buf_t  tmp;

    if (!replay) {
        tmp = w->pg->inflight;
        w->pg->inflight = w->pg->pending;
        w->pg->pending = tmp;
        w->pg->pending.len = 0;
        w->pg->pending.count = 0;

        w->tick.cancelable = 1;

        /*
         * at most one checkpoint row per "checkpoint" interval, for the
         * last record of the batch, stored in the same transaction
         */

        w->pg->batch_cp = w->pg->db_checkpoints && w->pg->pending_seq
                      && (w->pg->db_cp_time == 0
                          || ngx_current_msec - w->pg->db_cp_time
                             >= w->amcf->checkpoint);

        if (w->pg->batch_cp) {
            w->pg->batch_cp_seq = w->pg->pending_seq;
            ngx_memcpy(w->pg->batch_cp_hash, w->pg->pending_hash,
                       NGX_OCTOPUS_AUDIT_HASH_LEN);
        }

        w->pg->pending_seq = 0;

    } else {
        w->pg->batch_cp = 0;
    }

    w->pg->inflight_replay = replay;
    w->pg->batch_direct = 1;

    if (w->pg->flush.timer_set) {
        ngx_del_timer(&w->pg->flush);
    }

    (void) ngx_octopus_audit_pg_send(w, w->pg->copy_direct_sql,
                                     NGX_OCTOPUS_AUDIT_PG_COPY_START);
}


/*
 * Records are being dropped (the spool cannot take them) while the
 * database is down: the next connection attempt is at most half a second
 * away whatever the backoff, so the drops end within about half a second
 * of the database's return rather than up to "backoff" later.
 */

static void
ngx_octopus_audit_pg_retry_soon(ngx_octopus_audit_worker_t *w)
{
    if (!w->pg->flush.timer_set
        || (ngx_msec_int_t) (w->pg->flush.timer.key - ngx_current_msec)
           <= NGX_OCTOPUS_AUDIT_RETRY_DROPPING)
    {
        return;
    }

    w->pg->backoff = NGX_OCTOPUS_AUDIT_RETRY_DROPPING / 2;

    ngx_add_timer(&w->pg->flush, NGX_OCTOPUS_AUDIT_RETRY_DROPPING);
}


void
ngx_octopus_audit_pg_enqueue(ngx_octopus_audit_worker_t *w, u_char *line,
    size_t len)
{
    ngx_octopus_audit_pg_queue(w, line, len, 1);
}


/* own: a record of this worker's chain (not one recovered) */

static void
ngx_octopus_audit_pg_queue(ngx_octopus_audit_worker_t *w, u_char *line,
    size_t len, ngx_uint_t own)
{
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    if (w->pg->state == NGX_OCTOPUS_AUDIT_PG_DOWN
        || w->pg->pending.count >= amcf->queue_max
        || (w->pg->ring && ngx_octopus_audit_ring_room(w->pg->ring) < len))
    {
        if (ngx_octopus_audit_spool_append(w->pg->spool, line, len, 1) != NGX_OK
            && w->pg->state == NGX_OCTOPUS_AUDIT_PG_DOWN)
        {
            ngx_octopus_audit_pg_retry_soon(w);
        }

        return;
    }

    if (ngx_octopus_audit_buf_append(&w->pg->pending, line, len, 1) != NGX_OK) {
        (void) ngx_octopus_audit_spool_append(w->pg->spool, line, len, 1);
        return;
    }

    if (w->pg->ring) {
        (void) ngx_octopus_audit_ring_put(w->pg->ring, line, len);
    }

    (void) ngx_atomic_fetch_add(w->queue_depth, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "octopus audit: record queued for PostgreSQL, %ui pending",
                   w->pg->pending.count);

    if (own) {
        /* the record just chained is the last one queued */
        w->pg->pending_seq = w->seq;
        ngx_memcpy(w->pg->pending_hash, w->prev_hash,
                   NGX_OCTOPUS_AUDIT_HASH_LEN);
    }

    /* queued records hold a worker that shuts down (see the tick) */
    w->tick.cancelable = 0;

    if (w->pg->state != NGX_OCTOPUS_AUDIT_PG_IDLE) {
        return;
    }

    if (w->pg->pending.count >= amcf->batch_size || ngx_exiting) {
        ngx_octopus_audit_pg_next(w, 1);
        return;
    }

    if (w->pg->pending.count == 1) {
        ngx_add_timer(&w->pg->flush, amcf->batch_interval);
    }
}


static void
ngx_octopus_audit_pg_notice(void *arg, const char *message)
{
    ngx_octopus_audit_worker_t *w = arg;

    size_t  len;

    len = ngx_strlen(message);

    while (len && (message[len - 1] == '\n' || message[len - 1] == ' ')) {
        len--;
    }

    ngx_log_error(NGX_LOG_NOTICE, w->log, 0, "octopus audit: PostgreSQL: %*s",
                  len, message);
}


static void
ngx_octopus_audit_pg_timeout(ngx_event_t *ev)
{
    ngx_octopus_audit_worker_t  *w;

    w = ev->data;

    ngx_octopus_audit_pg_fail(w, w->pg->state == NGX_OCTOPUS_AUDIT_PG_CONNECTING
                                 ? "connection timed out"
                                 : "query timed out");
}


static void
ngx_octopus_audit_pg_flush_handler(ngx_event_t *ev)
{
    ngx_octopus_audit_worker_t  *w;

    w = ev->data;

    switch (w->pg->state) {

    case NGX_OCTOPUS_AUDIT_PG_DOWN:
        ngx_octopus_audit_pg_connect(w);
        return;

    case NGX_OCTOPUS_AUDIT_PG_IDLE:
        ngx_octopus_audit_pg_next(w, 1);
        return;

    default:
        return;
    }
}


void
ngx_octopus_audit_pg_flush_now(ngx_octopus_audit_worker_t *w)
{
    w->tick.cancelable = 1;

    ngx_octopus_audit_pg_next(w, 1);
}


/* exit_process: what is not in the database goes to the spool */

void
ngx_octopus_audit_pg_exit(ngx_octopus_audit_worker_t *w)
{
    if (w->pg->flush.timer_set) {
        ngx_del_timer(&w->pg->flush);
    }

    ngx_octopus_audit_pg_close(w);
    ngx_octopus_audit_pg_release(w);

    if (ngx_octopus_audit_spool_replaying(w->pg->spool)) {
        ngx_octopus_audit_spool_done(w, 0);
    }

    ngx_octopus_audit_buf_free(&w->pg->pending);
    ngx_octopus_audit_buf_free(&w->pg->inflight);

    ngx_octopus_audit_pg_ring_detach(w);

    w->pg->state = NGX_OCTOPUS_AUDIT_PG_DOWN;
}


/*
 * The PostgreSQL sink (ngx_octopus_audit_sink.h): thin glue around the
 * writer above, its metrics, and the set handlers of its directives.
 */


static ngx_int_t ngx_octopus_audit_pg_resolve(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf);


static void
ngx_octopus_audit_pg_create_conf(ngx_octopus_audit_main_conf_t *amcf)
{
    amcf->batch_size = NGX_CONF_UNSET_UINT;
    amcf->batch_interval = NGX_CONF_UNSET_MSEC;
    amcf->queue_max = NGX_CONF_UNSET_UINT;
    amcf->queue_shm = NGX_CONF_UNSET_SIZE;
    amcf->pg_timeout = NGX_CONF_UNSET_MSEC;
    amcf->backoff_max = NGX_CONF_UNSET_MSEC;
    amcf->spool_max = NGX_CONF_UNSET;
    amcf->spool_fsync = NGX_CONF_UNSET;
}


static char *
ngx_octopus_audit_pg_init_conf(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf)
{
    ngx_str_t  name;

    if (amcf->table.data == NULL) {
        ngx_str_set(&amcf->table, "audit.api_calls");
    }

    ngx_conf_init_uint_value(amcf->batch_size, 500);
    ngx_conf_init_msec_value(amcf->batch_interval, 200);
    ngx_conf_init_uint_value(amcf->queue_max, 10000);
    ngx_conf_init_size_value(amcf->queue_shm, 16 * 1024 * 1024);
    ngx_conf_init_msec_value(amcf->pg_timeout, 5000);
    ngx_conf_init_msec_value(amcf->backoff_max, 5000);
    ngx_conf_init_value(amcf->spool_max, 1024 * 1024 * 1024);
    ngx_conf_init_value(amcf->spool_fsync, 1);

    if (amcf->queue_max < amcf->batch_size) {
        amcf->queue_max = amcf->batch_size;
    }

    if (amcf->pg_conninfo.len && amcf->spool == NULL) {
        /* nothing lost needs a spool: a default one under the prefix */

        amcf->spool = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
        if (amcf->spool == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&name, "octopus_audit_spool");
        amcf->spool->name = name;

        if (ngx_conf_full_name(cf->cycle, &amcf->spool->name, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        amcf->spool->conf_file = cf->conf_file->file.name.data;
        amcf->spool->line = cf->conf_file->line;

        if (ngx_add_path(cf, &amcf->spool) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

#if (NGX_THREADS)

    /* the spool's fsync runs in the "default" thread pool */

    if (amcf->spool && amcf->spool_fsync
        && ngx_thread_pool_add(cf, NULL) == NULL)
    {
        return NGX_CONF_ERROR;
    }

#endif

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_octopus_audit_pg_enabled(ngx_octopus_audit_main_conf_t *amcf)
{
    return amcf->pg_conninfo.len != 0;
}


/* shared memory: the database queue, which outlives a worker */

static ngx_int_t
ngx_octopus_audit_pg_postconf(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf)
{
    ngx_str_t  name;

    if (amcf->pg_conninfo.len == 0 || amcf->queue_shm == 0) {
        return NGX_OK;
    }

    ngx_str_set(&name, "octopus_audit_queue");

    amcf->queue_zone = ngx_shared_memory_add(cf, &name, amcf->queue_shm,
                                             &ngx_octopus_audit_module);
    if (amcf->queue_zone == NULL) {
        return NGX_ERROR;
    }

    amcf->queue_zone->init = ngx_octopus_audit_init_queue_zone;
    amcf->queue_zone->data = amcf;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_pg_sink_init(ngx_octopus_audit_worker_t *w, void **ctx)
{
    ngx_octopus_audit_shm_t        *sh;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;
    sh = amcf->sh;

    w->pg = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_octopus_audit_pg_t));
    if (w->pg == NULL) {
        return NGX_ERROR;
    }

    /* the records the database cannot take, as COPY lines */

    w->pg->spool = ngx_octopus_audit_spool_create(w,
                                                  (ngx_cycle_t *) ngx_cycle,
                                                  amcf->spool,
                                                  amcf->spool_max,
                                                  amcf->spool_fsync,
                                                  &sh->spool_bytes,
                                                  &sh->spooled,
                                                  &sh->dropped);
    if (w->pg->spool == NULL) {
        return NGX_ERROR;
    }

    *ctx = w->pg;

    return ngx_octopus_audit_pg_init(w);
}


/*
 * The batch path's calls to its spool, by the names it has always used
 * (so that it reads, and merges, as before): the worker's spool, opaque
 * COPY lines.
 */

static void
ngx_octopus_audit_spool_seal(ngx_octopus_audit_worker_t *w)
{
    ngx_octopus_audit_spool_close(w->pg->spool);
}


static void
ngx_octopus_audit_spool_done(ngx_octopus_audit_worker_t *w, ngx_uint_t ok)
{
    ngx_octopus_audit_spool_replayed(w->pg->spool, ok);
}


static void
ngx_octopus_audit_spool_reject(ngx_octopus_audit_worker_t *w)
{
    ngx_octopus_audit_spool_refused(w->pg->spool);
}


/* a record as a COPY text line */

static ngx_int_t
ngx_octopus_audit_pg_write(ngx_octopus_audit_worker_t *w, void *ctx,
    ngx_octopus_audit_out_t *out)
{
    u_char  *line;
    size_t   len;

    line = ngx_pnalloc(out->pool, ngx_octopus_audit_copy_len(out->rec));
    if (line == NULL) {
        return NGX_ERROR;
    }

    len = ngx_octopus_audit_copy(line, out->rec) - line;

    ngx_octopus_audit_pg_enqueue(w, line, len);

    return NGX_OK;
}


/* every second: the spool's fsync, the queue of a worker that died */

static void
ngx_octopus_audit_pg_tick(ngx_octopus_audit_worker_t *w, void *ctx)
{
    ngx_octopus_audit_spool_sync(w->pg->spool);

    if (w->amcf->queue_zone) {
        ngx_octopus_audit_pg_recover(w);
    }
}


/*
 * shutting down: the tick is not cancelable while records are queued
 * (pg_queue), so the worker waits for it; the queue is sent now, the
 * batch in flight keeps the worker until it is stored or timed out, the
 * rest is spooled on exit
 */

static void
ngx_octopus_audit_pg_exiting(ngx_octopus_audit_worker_t *w, void *ctx)
{
    ngx_octopus_audit_pg_flush_now(w);
}


static void
ngx_octopus_audit_pg_sink_exit(ngx_octopus_audit_worker_t *w, void *ctx)
{
    ngx_octopus_audit_pg_exit(w);
    ngx_octopus_audit_spool_close(w->pg->spool);
}


static u_char *
ngx_octopus_audit_pg_metrics(u_char *p, u_char *last,
    ngx_octopus_audit_shm_t *sh)
{
    ngx_uint_t        i;
    ngx_atomic_int_t  depth;

    /* the queues of live workers only: a killed one's count is not kept */

    depth = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        if (ngx_octopus_audit_worker_live(sh, i)) {
            depth += (ngx_atomic_int_t) sh->queue_depth[i];
        }
    }

    p = ngx_slprintf(p, last,
                     "# HELP octopus_audit_records_spooled_total Records "
                     "written to the disk spool.\n"
                     "# TYPE octopus_audit_records_spooled_total counter\n"
                     "octopus_audit_records_spooled_total %uA\n"
                     "# HELP octopus_audit_records_replayed_total Spooled "
                     "records replayed into the database.\n"
                     "# TYPE octopus_audit_records_replayed_total counter\n"
                     "octopus_audit_records_replayed_total %uA\n"
                     "# HELP octopus_audit_records_dropped_total Records lost "
                     "because the spool was full or failed.\n"
                     "# TYPE octopus_audit_records_dropped_total counter\n"
                     "octopus_audit_records_dropped_total %uA\n"
                     "# HELP octopus_audit_queue_depth Records queued in "
                     "memory for the database, all live workers.\n"
                     "# TYPE octopus_audit_queue_depth gauge\n"
                     "octopus_audit_queue_depth %A\n"
                     "# HELP octopus_audit_spool_bytes Bytes in the spool.\n"
                     "# TYPE octopus_audit_spool_bytes gauge\n"
                     "octopus_audit_spool_bytes %A\n"
                     "# HELP octopus_audit_db_errors_total Database "
                     "connection and query failures.\n"
                     "# TYPE octopus_audit_db_errors_total counter\n"
                     "octopus_audit_db_errors_total %uA\n"
                     "# HELP octopus_audit_db_connections Workers connected "
                     "to the database.\n"
                     "# TYPE octopus_audit_db_connections gauge\n"
                     "octopus_audit_db_connections %A\n"
                     "# HELP octopus_audit_db_batches_restaged_total "
                     "Batches refused by the direct COPY because some of "
                     "their records were stored before (a replay), stored "
                     "through the staging table.\n"
                     "# TYPE octopus_audit_db_batches_restaged_total "
                     "counter\n"
                     "octopus_audit_db_batches_restaged_total %uA\n",
                     sh->spooled, sh->replayed, sh->dropped,
                     depth,
                     (ngx_atomic_int_t) sh->spool_bytes,
                     sh->db_errors,
                     (ngx_atomic_int_t) sh->db_connected,
                     sh->batches_restaged);

    p = ngx_slprintf(p, last,
                     "# HELP octopus_audit_worker_queue_depth Records queued "
                     "in memory for the database, by live worker (process "
                     "slot).\n"
                     "# TYPE octopus_audit_worker_queue_depth gauge\n");

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        if (ngx_octopus_audit_worker_live(sh, i)) {
            p = ngx_slprintf(p, last,
                             "octopus_audit_worker_queue_depth{worker=\"%ui\","
                             "pid=\"%P\"} %A\n", i, sh->queue_pid[i],
                             (ngx_atomic_int_t) sh->queue_depth[i]);
        }
    }

    return p;
}


ngx_octopus_audit_sink_t  ngx_octopus_audit_pg_sink = {
    ngx_string("postgresql"),
    0,
    1,                                     /* stores */
    ngx_octopus_audit_pg_create_conf,
    ngx_octopus_audit_pg_init_conf,
    ngx_octopus_audit_pg_enabled,
    ngx_octopus_audit_pg_postconf,
    ngx_octopus_audit_pg_sink_init,
    ngx_octopus_audit_pg_write,
    NULL,                                  /* checkpoint: in batches */
    ngx_octopus_audit_pg_tick,
    ngx_octopus_audit_pg_exiting,
    ngx_octopus_audit_pg_sink_exit,
    ngx_octopus_audit_pg_metrics
};


char *
ngx_octopus_audit_pg_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    ngx_str_t  *value, key, val;

    if (amcf->pg_conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty connection string in \"%V\"",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf->pg_conninfo = value[1];

    if (cf->args->nelts == 3) {
        if (ngx_octopus_parse_kv(&value[2], &key, &val) != NGX_OK
            || key.len != sizeof("password_file") - 1
            || ngx_strncmp(key.data, "password_file", key.len) != 0
            || val.len == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        if (ngx_octopus_audit_read_secret(cf, &val, &amcf->pg_password)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_octopus_audit_pg_resolve(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * libpq resolves a host name with a blocking getaddrinfo() inside
 * PQconnectStartParams(): the names are resolved here, once, and handed to
 * libpq as "hostaddr" (the name stays in "host" for TLS and .pgpass).
 */

static ngx_int_t
ngx_octopus_audit_pg_resolve(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf)
{
    char              *err;
    u_char            *p, *last, *comma;
    size_t             len;
    ngx_str_t          host;
    ngx_url_t          u;
    PQconninfoOption  *opts, *o;
    u_char             addr[NGX_SOCKADDR_STRLEN];

    err = NULL;
    opts = PQconninfoParse((const char *) amcf->pg_conninfo.data, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string \"%V\": %s",
                           &amcf->pg_conninfo,
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_ERROR;
    }

    ngx_str_null(&host);

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            /* the operator gave addresses: nothing to resolve */
            PQconninfoFree(opts);
            return NGX_OK;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host.len = ngx_strlen(o->val);
            host.data = ngx_pnalloc(cf->pool, host.len);
            if (host.data == NULL) {
                PQconninfoFree(opts);
                return NGX_ERROR;
            }

            ngx_memcpy(host.data, o->val, host.len);
        }
    }

    PQconninfoFree(opts);

    if (host.len == 0) {
        return NGX_OK;                       /* the default unix socket */
    }

    if ((host.data[0] == '/' || host.data[0] == '@')
        && ngx_strlchr(host.data, host.data + host.len, ',') == NULL)
    {
        return NGX_OK;                       /* one socket directory */
    }

    /* one address per host of a comma-separated list */

    len = host.len * (NGX_SOCKADDR_STRLEN + 1) + 1;
    amcf->pg_hostaddr.data = ngx_pnalloc(cf->pool, len);
    if (amcf->pg_hostaddr.data == NULL) {
        return NGX_ERROR;
    }

    p = amcf->pg_hostaddr.data;
    last = host.data + host.len;

    while (host.data < last) {
        comma = ngx_strlchr(host.data, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url.data = host.data;
        u.url.len = comma - host.data;
        u.default_port = 5432;

        if (u.url.len == 0 || u.url.data[0] == '/' || u.url.data[0] == '@') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "octopus_audit_pg: unix socket \"%V\" in a "
                               "list of hosts is not supported", &u.url);
            return NGX_ERROR;
        }

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "octopus_audit_pg: %s in host \"%V\"",
                               u.err ? u.err : "no address", &u.url);
            return NGX_ERROR;
        }

        if (p != amcf->pg_hostaddr.data) {
            *p++ = ',';
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, addr,
                            NGX_SOCKADDR_STRLEN, 0);
        p = ngx_cpymem(p, addr, len);

        host.data = comma + 1;
    }

    *p = '\0';
    amcf->pg_hostaddr.len = p - amcf->pg_hostaddr.data;

    return NGX_OK;
}


char *
ngx_octopus_audit_table_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    u_char      c;
    ngx_str_t  *value;
    ngx_uint_t  i, dots;

    if (amcf->table.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    dots = 0;

    /* an identifier, optionally schema-qualified: it goes into SQL text */

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (c == '.' && i > 0 && i < value[1].len - 1 && dots++ == 0) {
            continue;
        }

        if ((c >= 'a' && c <= 'z') || c == '_'
            || (c >= '0' && c <= '9' && i > 0 && value[1].data[i - 1] != '.'))
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid table name \"%V\", expected "
                           "[schema.]name in lower case letters, digits and "
                           "'_'", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0 || value[1].len > 120) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid table name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->table = value[1];

    return NGX_CONF_OK;
}


char *
ngx_octopus_audit_batch_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    ssize_t      size;
    ngx_int_t    n;
    ngx_str_t   *value, key, val;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (amcf->batch_size != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &key, &val) != NGX_OK) {
            goto invalid;
        }

        if (key.len == 4 && ngx_strncmp(key.data, "size", 4) == 0) {
            n = ngx_atoi(val.data, val.len);
            if (n <= 0 || n > 100000) {
                goto invalid;
            }

            amcf->batch_size = n;

        } else if (key.len == 5 && ngx_strncmp(key.data, "queue", 5) == 0) {
            n = ngx_atoi(val.data, val.len);
            if (n <= 0 || n > 10000000) {
                goto invalid;
            }

            amcf->queue_max = n;

        } else if (key.len == 3 && ngx_strncmp(key.data, "shm", 3) == 0) {

            if (val.len == 3 && ngx_strncmp(val.data, "off", 3) == 0) {
                amcf->queue_shm = 0;

            } else {
                size = ngx_parse_size(&val);

                /* at least 8 pages per ring of a few workers */
                if (size == NGX_ERROR || size < 256 * 1024
                    || size > (ssize_t) 4096 * 1024 * 1024)
                {
                    goto invalid;
                }

                amcf->queue_shm = size;
            }

        } else if ((key.len == 8
                    && ngx_strncmp(key.data, "interval", 8) == 0)
                   || (key.len == 7
                       && ngx_strncmp(key.data, "timeout", 7) == 0)
                   || (key.len == 7
                       && ngx_strncmp(key.data, "backoff", 7) == 0))
        {
            ms = ngx_parse_time(&val, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            if (key.data[0] == 'i') {
                amcf->batch_interval = ms;

            } else if (key.data[0] == 't') {
                amcf->pg_timeout = ms;

            } else {
                amcf->backoff_max = ms;
            }

        } else {
            goto invalid;
        }
    }

    if (amcf->batch_size == NGX_CONF_UNSET_UINT) {
        amcf->batch_size = 500;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}
