
/*
 * Copyright (C) Octopus Guard authors
 *
 * Throttled error lines: an error path that may fire once per record or
 * per batch (spool writes, a full disk, PostgreSQL, syslog, the file sink)
 * logs at most one line per second per worker and per call site.  The
 * first failure after a quiet second is logged at once; the ones that
 * follow within the same second are counted, and the next line (the next
 * failure in a later second, or the worker's one-second tick) reports
 * them: "... (N times in the last second)".
 */


#include "ngx_octopus_audit.h"


static void ngx_octopus_audit_log_emit(ngx_octopus_audit_worker_t *w,
    ngx_octopus_audit_throttle_t *t, ngx_uint_t n);


void
ngx_octopus_audit_log(ngx_octopus_audit_worker_t *w, ngx_uint_t site,
    ngx_uint_t level, ngx_err_t err, const char *fmt, ...)
{
    u_char                        *p;
    va_list                        args;
    ngx_octopus_audit_throttle_t  *t;

    if (w->log->log_level < level) {
        return;
    }

    t = &w->throttle[site];

    va_start(args, fmt);
    p = ngx_vslprintf(t->msg, t->msg + sizeof(t->msg), fmt, args);
    va_end(args);

    t->len = p - t->msg;
    t->level = level;
    t->err = err;

    if (t->last == ngx_time()) {
        t->suppressed++;
        return;
    }

    ngx_octopus_audit_log_emit(w, t, t->suppressed + 1);
}


/*
 * The worker's tick: the failures counted in a past second are reported;
 * at exit (all) every count left.
 */

void
ngx_octopus_audit_log_flush(ngx_octopus_audit_worker_t *w, ngx_uint_t all)
{
    ngx_uint_t                     i;
    ngx_octopus_audit_throttle_t  *t;

    for (i = 0; i < NGX_OCTOPUS_AUDIT_LOG_N; i++) {
        t = &w->throttle[i];

        if (t->suppressed && (all || t->last != ngx_time())) {
            ngx_octopus_audit_log_emit(w, t, t->suppressed);
        }
    }
}


static void
ngx_octopus_audit_log_emit(ngx_octopus_audit_worker_t *w,
    ngx_octopus_audit_throttle_t *t, ngx_uint_t n)
{
    if (n > 1) {
        ngx_log_error(t->level, w->log, t->err,
                      "%*s (%ui times in the last second)",
                      t->len, t->msg, n);

    } else {
        ngx_log_error(t->level, w->log, t->err, "%*s", t->len, t->msg);
    }

    t->last = ngx_time();
    t->suppressed = 0;
}
