
/*
 * Copyright (C) Octopus Guard authors
 *
 * The disk spool: a durable queue of records any sink can sit on (the
 * PostgreSQL sink: the records the database could not take).  Records are
 * opaque, in the encoding of the sink (COPY text lines for PostgreSQL),
 * framed as ngx_octopus_audit_frame.h says: no '\n' inside, one at the end.
 *
 * Every worker appends to its own file "<start µs>-<pid>.spool", holding
 * flock(LOCK_EX) on it while it writes.  The file is sealed (closed) when
 * the sink's output is back or the worker exits.  One folder per sink:
 * the files hold no sink name.  The log lines name "the database", the
 * only sink on a spool so far.  Any worker, of this nginx or
 * of a later one, replays an unlocked file: oldest name first, locked
 * while replayed, chunk by chunk (the sink hands a chunk to its output and
 * says whether it was stored), and unlinks it at the end.  A crash in the
 * middle replays a chunk twice: the sink's output must drop duplicates
 * (PostgreSQL: primary key (ts, request_id), ON CONFLICT DO NOTHING).
 * Data is written with write(2) (it survives a crash of nginx at once) and
 * fsync'ed every second and when a file is sealed.
 */


#include "ngx_octopus_audit.h"
#include "ngx_octopus_audit_frame.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>


static ngx_int_t ngx_octopus_audit_spool_open(ngx_octopus_audit_spool_t *sp);
static ngx_uint_t ngx_octopus_audit_spool_may(struct stat *st, ngx_uid_t uid,
    gid_t *groups, int ngroups, ngx_uint_t want);
static ngx_int_t ngx_octopus_audit_spool_is_file(const char *name);
static ngx_int_t ngx_octopus_audit_spool_probe(ngx_octopus_audit_spool_t *sp);


static ngx_int_t
ngx_octopus_audit_spool_is_file(const char *name)
{
    size_t  len;

    len = ngx_strlen(name);

    return len > 6 && name[0] != '.'
           && ngx_strcmp(name + len - 6, ".spool") == 0;
}


static ngx_int_t
ngx_octopus_audit_spool_open(ngx_octopus_audit_spool_t *sp)
{
    u_char          *p;
    struct timeval   tv;

    ngx_gettimeofday(&tv);

    p = ngx_snprintf(sp->name, NGX_MAX_PATH - 1, "%V/%016L-%P.spool",
                     &sp->path->name,
                     (int64_t) tv.tv_sec * 1000000 + tv.tv_usec, sp->w->pid);
    *p = '\0';

    sp->fd = open((char *) sp->name, O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC,
                  0600);

    if (sp->fd == NGX_INVALID_FILE) {
        ngx_octopus_audit_log(sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_OPEN,
                              NGX_LOG_CRIT, ngx_errno,
                              "octopus audit: cannot create spool file "
                              "\"%s\": audit records DROPPED",
                              sp->name);
        sp->failed = ngx_time();
        return NGX_ERROR;
    }

    if (flock(sp->fd, LOCK_EX|LOCK_NB) == -1) {
        ngx_octopus_audit_log(sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_OPEN,
                              NGX_LOG_CRIT, ngx_errno,
                              "octopus audit: cannot lock spool file "
                              "\"%s\": audit records DROPPED",
                              sp->name);
        ngx_close_file(sp->fd);
        sp->fd = NGX_INVALID_FILE;
        sp->failed = ngx_time();
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_WARN, sp->w->log, 0,
                  "octopus audit: spooling to \"%s\"", sp->name);

    return NGX_OK;
}


/* count: the records in data, framed */

ngx_int_t
ngx_octopus_audit_spool_append(ngx_octopus_audit_spool_t *sp, u_char *data,
    size_t len, ngx_uint_t count)
{
    ssize_t  n;

    if (len == 0) {
        return NGX_OK;
    }

    if (sp->path == NULL) {
        goto drop;
    }

    if ((off_t) (*sp->bytes + len) > sp->max) {

        ngx_octopus_audit_log(sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_FULL,
                              NGX_LOG_CRIT, 0,
                              "octopus audit: spool \"%V\" is full "
                              "(max_size=%O): audit records DROPPED, "
                              "%uA dropped so far",
                              &sp->path->name, sp->max,
                              *sp->dropped + count);
        goto drop;
    }

    if (sp->fd == NGX_INVALID_FILE) {

        /* a spool file that cannot be created is tried again each second */

        if (sp->failed == ngx_time()) {
            ngx_octopus_audit_log(sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_OPEN,
                                  NGX_LOG_CRIT, 0,
                                  "octopus audit: no spool file in \"%V\": "
                                  "audit records DROPPED",
                                  &sp->path->name);
            goto drop;
        }

        if (ngx_octopus_audit_spool_open(sp) != NGX_OK) {
            goto drop;
        }
    }

    n = write(sp->fd, data, len);

    if (n != (ssize_t) len) {
        ngx_octopus_audit_log(sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_WRITE,
                              NGX_LOG_CRIT, n == -1 ? ngx_errno : NGX_ENOSPC,
                              "octopus audit: write to spool file \"%s\" "
                              "failed: audit records DROPPED",
                              sp->name);

        if (n > 0) {
            /* a torn last record is ignored on replay */
            (void) ngx_atomic_fetch_add(sp->bytes, n);
        }

        goto drop;
    }

    (void) ngx_atomic_fetch_add(sp->bytes, len);
    (void) ngx_atomic_fetch_add(sp->spooled, count);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sp->w->log, 0,
                   "octopus audit: %ui records (%uz bytes) spooled to \"%s\"",
                   count, len, sp->name);

    sp->dirty = 1;

    return NGX_OK;

drop:

    (void) ngx_atomic_fetch_add(sp->dropped, count);

    return NGX_ERROR;
}


/*
 * fsync once a second while spooling (the tick), off the event loop when
 * nginx has thread pools: the "default" pool runs it on a dup() of the
 * descriptor, which the thread closes, like "appendfsync everysec" in a
 * background thread.  Sealing a file (rare) syncs it inline.
 */

#if (NGX_THREADS)

typedef struct {
    ngx_octopus_audit_spool_t   *sp;
    ngx_fd_t                     fd;
    int                          rc;
    ngx_err_t                    err;
} ngx_octopus_audit_sync_ctx_t;


static void
ngx_octopus_audit_spool_sync_thread(void *data, ngx_log_t *log)
{
    ngx_octopus_audit_sync_ctx_t  *ctx = data;

    ctx->rc = fsync(ctx->fd);
    ctx->err = (ctx->rc == -1) ? ngx_errno : 0;

    (void) close(ctx->fd);
}


static void
ngx_octopus_audit_spool_sync_done(ngx_event_t *ev)
{
    ngx_thread_task_t             *task;
    ngx_octopus_audit_sync_ctx_t  *ctx;

    task = ev->data;
    ctx = task->ctx;

    ctx->sp->syncing = 0;

    if (ctx->rc == -1) {
        ngx_octopus_audit_log(ctx->sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_SYNC,
                              NGX_LOG_ALERT, ctx->err,
                              "octopus audit: fsync() of a spool file failed");
    }
}

#endif


/*
 * A sink's spool in this worker: path NULL is no spool (the records it
 * would take are dropped and counted); the counters are the sink's, in
 * shared memory.  The folder is probed once the worker runs as "user".
 */

ngx_octopus_audit_spool_t *
ngx_octopus_audit_spool_create(ngx_octopus_audit_worker_t *w,
    ngx_cycle_t *cycle, ngx_path_t *path, off_t max, ngx_uint_t sync,
    ngx_atomic_t *bytes, ngx_atomic_t *spooled, ngx_atomic_t *dropped)
{
    ngx_octopus_audit_spool_t     *sp;
#if (NGX_THREADS)
    ngx_str_t                      name;
    ngx_thread_task_t             *task;
    ngx_octopus_audit_sync_ctx_t  *ctx;
#endif

    sp = ngx_pcalloc(cycle->pool, sizeof(ngx_octopus_audit_spool_t));
    if (sp == NULL) {
        return NULL;
    }

    sp->w = w;
    sp->path = path;
    sp->max = max;
    sp->fsync = sync;
    sp->bytes = bytes;
    sp->spooled = spooled;
    sp->dropped = dropped;
    sp->fd = NGX_INVALID_FILE;
    sp->replay_fd = NGX_INVALID_FILE;

    if (path == NULL) {
        return sp;
    }

#if (NGX_THREADS)

    if (sync) {
        ngx_str_set(&name, "default");

        sp->thread_pool = ngx_thread_pool_get(cycle, &name);
    }

    if (sp->thread_pool) {
        task = ngx_thread_task_alloc(cycle->pool,
                                     sizeof(ngx_octopus_audit_sync_ctx_t));
        if (task == NULL) {
            return NULL;
        }

        ctx = task->ctx;
        ctx->sp = sp;

        task->handler = ngx_octopus_audit_spool_sync_thread;
        task->event.handler = ngx_octopus_audit_spool_sync_done;
        task->event.data = task;
        task->event.log = w->log;

        sp->sync_task = task;
    }

#endif

    (void) ngx_octopus_audit_spool_probe(sp);

    return sp;
}


void
ngx_octopus_audit_spool_sync(ngx_octopus_audit_spool_t *sp)
{
#if (NGX_THREADS)
    ngx_fd_t                       fd;
    ngx_octopus_audit_sync_ctx_t  *ctx;
#endif

    if (sp->fd == NGX_INVALID_FILE || !sp->dirty) {
        return;
    }

    if (!sp->fsync) {
        sp->dirty = 0;
        return;
    }

#if (NGX_THREADS)

    if (sp->sync_task) {

        if (sp->syncing) {
            /* the previous one still runs: this data waits for the next */
            return;
        }

        fd = dup(sp->fd);

        if (fd != -1) {
            ctx = sp->sync_task->ctx;
            ctx->fd = fd;

            if (ngx_thread_task_post(sp->thread_pool, sp->sync_task)
                == NGX_OK)
            {
                sp->syncing = 1;
                sp->dirty = 0;
                return;
            }

            (void) close(fd);
        }
    }

#endif

    if (fsync(sp->fd) == -1) {
        ngx_octopus_audit_log(sp->w, NGX_OCTOPUS_AUDIT_LOG_SPOOL_SYNC,
                              NGX_LOG_ALERT, ngx_errno,
                              "octopus audit: fsync(\"%s\") failed",
                              sp->name);
    }

    sp->dirty = 0;
}


/* the file being written is closed: it may be replayed then */

void
ngx_octopus_audit_spool_close(ngx_octopus_audit_spool_t *sp)
{
    if (sp->fd == NGX_INVALID_FILE) {
        return;
    }

    if (sp->fsync && sp->dirty
        && fsync(sp->fd) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, sp->w->log, ngx_errno,
                      "octopus audit: fsync(\"%s\") failed", sp->name);
    }

    sp->dirty = 0;

    /*
     * closing releases the lock (once a running fsync closed its dup too):
     * the file may be replayed then
     */

    ngx_close_file(sp->fd);
    sp->fd = NGX_INVALID_FILE;

    ngx_log_error(NGX_LOG_INFO, sp->w->log, 0,
                  "octopus audit: spool file \"%s\" sealed", sp->name);
}


/* takes the oldest unlocked spool file for replay; NGX_DECLINED: none */

ngx_int_t
ngx_octopus_audit_spool_claim(ngx_octopus_audit_spool_t *sp)
{
    DIR             *dir;
    u_char          *p;
    ngx_fd_t         fd;
    struct stat      st;
    struct dirent   *de;
    ngx_uint_t       i, n;
    char             names[16][64];

    if (sp->path == NULL || sp->replay_fd != NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    dir = opendir((char *) sp->path->name.data);
    if (dir == NULL) {
        return NGX_DECLINED;
    }

    /* the 16 oldest names */

    n = 0;

    while ((de = readdir(dir)) != NULL) {
        if (!ngx_octopus_audit_spool_is_file(de->d_name)
            || ngx_strlen(de->d_name) >= 64)
        {
            continue;
        }

        for (i = n; i > 0; i--) {
            if (ngx_strcmp(names[i - 1], de->d_name) <= 0) {
                break;
            }

            if (i < 16) {
                ngx_memcpy(names[i], names[i - 1], 64);
            }
        }

        if (i < 16) {
            ngx_cpystrn((u_char *) names[i], (u_char *) de->d_name, 64);

            if (n < 16) {
                n++;
            }
        }
    }

    closedir(dir);

    for (i = 0; i < n; i++) {
        p = ngx_snprintf(sp->replay_name, NGX_MAX_PATH - 1, "%V/%s",
                         &sp->path->name, names[i]);
        *p = '\0';

        fd = open((char *) sp->replay_name, O_RDONLY|O_CLOEXEC);
        if (fd == -1) {
            continue;
        }

        if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
            /* being written or replayed by another process */
            close(fd);
            continue;
        }

        if (fstat(fd, &st) == -1 || st.st_nlink == 0) {
            /* replayed and unlinked while we opened it */
            close(fd);
            continue;
        }

        if (st.st_size == 0) {
            (void) unlink((char *) sp->replay_name);
            close(fd);
            continue;
        }

        sp->replay_fd = fd;
        sp->replay_off = 0;
        sp->replay_next = 0;
        sp->replay_size = st.st_size;

        ngx_log_error(NGX_LOG_NOTICE, sp->w->log, 0,
                      "octopus audit: replaying spool file \"%s\", %O bytes",
                      sp->replay_name, sp->replay_size);

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * Reads whole records from replay_off, at most max bytes (at least one
 * record) into b; returns the number of bytes, 0 at the end.
 */

ssize_t
ngx_octopus_audit_spool_read(ngx_octopus_audit_spool_t *sp,
    ngx_octopus_audit_buf_t *b, size_t max)
{
    size_t   size, len, count;
    ssize_t  n;

    size = max;

    for ( ;; ) {
        if (sp->replay_off >= sp->replay_size) {
            return 0;
        }

        if ((off_t) size > sp->replay_size - sp->replay_off) {
            size = (size_t) (sp->replay_size - sp->replay_off);
        }

        b->len = 0;
        b->count = 0;

        if (b->size < size) {
            if (ngx_octopus_audit_buf_append(b, NULL, size, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            b->len = 0;
        }

        n = pread(sp->replay_fd, b->data, size, sp->replay_off);

        if (n <= 0) {
            ngx_log_error(NGX_LOG_ERR, sp->w->log, ngx_errno,
                          "octopus audit: read of spool file \"%s\" failed",
                          sp->replay_name);
            return NGX_ERROR;
        }

        len = ngx_octopus_audit_frame_whole(b->data, n, &count);

        if (len) {
            b->len = len;
            b->count = count;
            sp->replay_next = sp->replay_off + b->len;
            return b->len;
        }

        if (sp->replay_off + n >= sp->replay_size) {
            /* a torn last line (crash while writing): nothing to replay */
            ngx_log_error(NGX_LOG_WARN, sp->w->log, 0,
                          "octopus audit: torn last line of \"%s\" ignored",
                          sp->replay_name);
            sp->replay_off = sp->replay_size;
            sp->replay_next = sp->replay_size;
            return 0;
        }

        /* a line longer than max */
        size *= 2;
    }
}


/*
 * ok: the chunk read last is stored (at the end of the file: unlink);
 * not ok: the file is left, unlocked, to be replayed again
 */

void
ngx_octopus_audit_spool_replayed(ngx_octopus_audit_spool_t *sp, ngx_uint_t ok)
{
    if (sp->replay_fd == NGX_INVALID_FILE) {
        return;
    }

    if (ok) {
        sp->replay_off = sp->replay_next;

        if (sp->replay_off < sp->replay_size) {
            return;
        }

        if (unlink((char *) sp->replay_name) == -1) {
            ngx_log_error(NGX_LOG_ERR, sp->w->log, ngx_errno,
                          "octopus audit: unlink(\"%s\") failed",
                          sp->replay_name);

        } else {
            (void) ngx_atomic_fetch_add(sp->bytes,
                                        - (ngx_atomic_int_t) sp->replay_size);

            ngx_log_error(NGX_LOG_NOTICE, sp->w->log, 0,
                          "octopus audit: spool file \"%s\" replayed",
                          sp->replay_name);
        }
    }

    /* on failure the file stays, unlocked, to be replayed again */

    close(sp->replay_fd);
    sp->replay_fd = NGX_INVALID_FILE;
}


/*
 * The output refused the data of the file (not a connection problem): it
 * is set aside as "*.rejected" for the operator instead of blocking the
 * spool forever.
 */

void
ngx_octopus_audit_spool_refused(ngx_octopus_audit_spool_t *sp)
{
    u_char  *p, name[NGX_MAX_PATH + 16];

    if (sp->replay_fd == NGX_INVALID_FILE) {
        return;
    }

    p = ngx_snprintf(name, NGX_MAX_PATH + 8, "%s.rejected", sp->replay_name);
    *p = '\0';

    if (rename((char *) sp->replay_name, (char *) name) == -1) {
        ngx_log_error(NGX_LOG_CRIT, sp->w->log, ngx_errno,
                      "octopus audit: rename(\"%s\") failed",
                      sp->replay_name);

    } else {
        (void) ngx_atomic_fetch_add(sp->bytes,
                                    - (ngx_atomic_int_t) sp->replay_size);

        ngx_log_error(NGX_LOG_CRIT, sp->w->log, 0,
                      "octopus audit: the database rejected spool file "
                      "\"%s\", kept as \"%s\"", sp->replay_name, name);
    }

    close(sp->replay_fd);
    sp->replay_fd = NGX_INVALID_FILE;
}


off_t
ngx_octopus_audit_spool_size(ngx_str_t *path)
{
    DIR            *dir;
    off_t           total;
    u_char          name[NGX_MAX_PATH];
    struct stat     st;
    struct dirent  *de;

    dir = opendir((char *) path->data);
    if (dir == NULL) {
        return 0;
    }

    total = 0;

    while ((de = readdir(dir)) != NULL) {
        if (!ngx_octopus_audit_spool_is_file(de->d_name)) {
            continue;
        }

        *ngx_snprintf(name, NGX_MAX_PATH - 1, "%V/%s", path, de->d_name) = 0;

        if (stat((char *) name, &st) == 0) {
            total += st.st_size;
        }
    }

    closedir(dir);

    return total;
}


/*
 * At configuration time (nginx -t, start, reload; after nginx created the
 * folder if it was missing and its parent exists), as root: the folder
 * and every folder above it are checked against the permission bits for
 * the configured "user" and its groups (ACLs are not read: the workers'
 * probe below is the authority).  Not root: access(2) as ourselves.
 */

ngx_int_t
ngx_octopus_audit_spool_check_conf(ngx_cycle_t *cycle, ngx_path_t *path,
    ngx_log_t *log)
{
    int               ngroups;
    u_char           *p, dir[NGX_MAX_PATH];
    gid_t             groups[64];
    ngx_uint_t        want;
    struct stat       st;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    ngx_cpystrn(dir, path->name.data,
                ngx_min(path->name.len + 1, NGX_MAX_PATH));

    if (geteuid() != 0 || ccf == NULL
        || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT)
    {
        if (access((char *) dir, R_OK|W_OK|X_OK) == -1) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "octopus_audit_spool \"%s\" in %s:%ui is not "
                          "usable by uid %d: access() failed",
                          dir, path->conf_file, path->line, (int) geteuid());
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ccf->user == 0) {
        return NGX_OK;
    }

    ngroups = 64;

    if (ccf->username == NULL
        || getgrouplist(ccf->username, ccf->group, groups, &ngroups) == -1)
    {
        groups[0] = ccf->group;
        ngroups = 1;
    }

    /* "/a/b/spool": "/a" and "/a/b" need x, "/a/b/spool" rwx */

    for (p = dir + 1; ; p++) {

        if (*p != '/' && *p != '\0') {
            continue;
        }

        want = (*p == '\0') ? 7 : 1;

        *p = '\0';

        if (stat((char *) dir, &st) == -1) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "octopus_audit_spool \"%V\" in %s:%ui: "
                          "stat(\"%s\") failed",
                          &path->name, path->conf_file, path->line, dir);
            return NGX_ERROR;
        }

        if (!S_ISDIR(st.st_mode)) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "octopus_audit_spool \"%V\" in %s:%ui: \"%s\" is "
                          "not a folder", &path->name, path->conf_file,
                          path->line, dir);
            return NGX_ERROR;
        }

        if (!ngx_octopus_audit_spool_may(&st, ccf->user, groups, ngroups,
                                         want))
        {
            ngx_log_error(NGX_LOG_EMERG, log, NGX_EACCES,
                          "octopus_audit_spool \"%V\" in %s:%ui is not "
                          "usable by user \"%s\" (uid %d): \"%s\" (mode "
                          "%ui%ui%ui%ui, owner uid %d) is not %s by it",
                          &path->name, path->conf_file, path->line,
                          ccf->username, (int) ccf->user, dir,
                          (ngx_uint_t) (st.st_mode >> 9) & 7,
                          (ngx_uint_t) (st.st_mode >> 6) & 7,
                          (ngx_uint_t) (st.st_mode >> 3) & 7,
                          (ngx_uint_t) st.st_mode & 7,
                          (int) st.st_uid,
                          want == 1 ? "traversable" : "writable");
            return NGX_ERROR;
        }

        if (want == 7) {
            return NGX_OK;
        }

        *p = '/';
    }
}


static ngx_uint_t
ngx_octopus_audit_spool_may(struct stat *st, ngx_uid_t uid, gid_t *groups,
    int ngroups, ngx_uint_t want)
{
    int         i;
    ngx_uint_t  bits;

    if (st->st_uid == uid) {
        bits = (st->st_mode >> 6) & 7;

    } else {
        bits = st->st_mode & 7;

        for (i = 0; i < ngroups; i++) {
            if (st->st_gid == groups[i]) {
                bits = (st->st_mode >> 3) & 7;
                break;
            }
        }
    }

    return (bits & want) == want;
}


/*
 * In each worker, after it dropped privileges: a probe file is created,
 * written, fsync'ed, renamed and deleted, as spooling will.  A failure is
 * one [alert] line naming the folder, the user and the errno; the worker
 * goes on (the database may well be up): records that would be spooled
 * are dropped and counted (octopus_audit_records_dropped_total), the
 * spool is tried again at most once a second, throttled lines say so.
 */

static ngx_int_t
ngx_octopus_audit_spool_probe(ngx_octopus_audit_spool_t *sp)
{
    u_char          *p, name[NGX_MAX_PATH], to[NGX_MAX_PATH];
    ngx_fd_t         fd;
    ngx_err_t        err;
    const char      *step;
    struct passwd   *pw;

    p = ngx_snprintf(name, NGX_MAX_PATH - 1, "%V/.probe-%P", &sp->path->name,
                     sp->w->pid);
    *p = '\0';
    p = ngx_snprintf(to, NGX_MAX_PATH - 1, "%s.renamed", name);
    *p = '\0';

    step = "open";
    fd = open((char *) name, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600);

    if (fd == NGX_INVALID_FILE) {
        goto failed;
    }

    step = "write";
    if (write(fd, "probe\n", 6) != 6) {
        err = ngx_errno ? ngx_errno : NGX_ENOSPC;
        (void) close(fd);
        (void) unlink((char *) name);
        goto failed_err;
    }

    step = "fsync";
    if (fsync(fd) == -1) {
        err = ngx_errno;
        (void) close(fd);
        (void) unlink((char *) name);
        goto failed_err;
    }

    (void) close(fd);

    step = "rename";
    if (rename((char *) name, (char *) to) == -1) {
        err = ngx_errno;
        (void) unlink((char *) name);
        goto failed_err;
    }

    step = "unlink";
    if (unlink((char *) to) == -1) {
        goto failed;
    }

    return NGX_OK;

failed:

    err = ngx_errno;

failed_err:

    pw = getpwuid(geteuid());

    ngx_log_error(NGX_LOG_ALERT, sp->w->log, err,
                  "octopus audit: spool folder \"%V\" is not usable by user "
                  "\"%s\" (uid %d): %s() of a probe file failed, records "
                  "the database cannot take will be DROPPED",
                  &sp->path->name, pw ? pw->pw_name : "?",
                  (int) geteuid(), step);

    sp->failed = ngx_time();

    return NGX_ERROR;
}



/* the buffer a chunk is read into */

ngx_int_t
ngx_octopus_audit_buf_append(ngx_octopus_audit_buf_t *b, u_char *data,
    size_t len, ngx_uint_t count)
{
    u_char  *p;
    size_t   size;

    if (b->len + len > b->size) {
        size = ngx_max(b->size * 2, b->len + len);
        size = ngx_max(size, 16384);

        p = ngx_alloc(size, ngx_cycle->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (b->len) {
            ngx_memcpy(p, b->data, b->len);
        }

        if (b->data) {
            ngx_free(b->data);
        }

        b->data = p;
        b->size = size;
    }

    if (data) {
        ngx_memcpy(b->data + b->len, data, len);
    }

    b->len += len;
    b->count += count;

    return NGX_OK;
}


void
ngx_octopus_audit_buf_free(ngx_octopus_audit_buf_t *b)
{
    if (b->data) {
        ngx_free(b->data);
    }

    ngx_memzero(b, sizeof(ngx_octopus_audit_buf_t));
}

/* "octopus_audit_spool": the folder, its bound, fsync */

char *
ngx_octopus_audit_spool_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    off_t        size;
    ngx_str_t   *value, key, val;
    ngx_uint_t   i;
    ngx_path_t  *path;

    if (amcf->spool) {
        return "is duplicate";
    }

    value = cf->args->elts;

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = value[1];

    if (path->name.len > 1 && path->name.data[path->name.len - 1] == '/') {
        path->name.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &path->name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (path->name.len > NGX_MAX_PATH - 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "spool path \"%V\" too long",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &key, &val) != NGX_OK) {
            goto invalid;
        }

        if (key.len == 8 && ngx_strncmp(key.data, "max_size", 8) == 0) {
            size = ngx_parse_offset(&val);
            if (size == NGX_ERROR || size < 65536) {
                goto invalid;
            }

            amcf->spool_max = size;

        } else if (key.len == 5 && ngx_strncmp(key.data, "fsync", 5) == 0) {
            if (val.len == 2 && ngx_strncmp(val.data, "on", 2) == 0) {
                amcf->spool_fsync = 1;

            } else if (val.len == 3 && ngx_strncmp(val.data, "off", 3) == 0) {
                amcf->spool_fsync = 0;

            } else {
                goto invalid;
            }

        } else {
            goto invalid;
        }
    }

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->spool = path;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}
