
/*
 * Copyright (C) Octopus Guard authors
 *
 * The syslog sink: RFC 5424 messages carrying the JSON record, over UDP or
 * TCP (octet-counting framing, RFC 6587), on a non-blocking socket.  A
 * message that cannot be sent at once is counted as an error, never
 * waited for: the database and the file sink are the lossless sinks.
 */


#include "ngx_octopus_audit.h"


#define NGX_OCTOPUS_AUDIT_SYSLOG_MAX  65000


static ngx_int_t ngx_octopus_audit_syslog_open(ngx_octopus_audit_worker_t *w);


ngx_int_t
ngx_octopus_audit_syslog_init(ngx_octopus_audit_worker_t *w)
{
    return ngx_octopus_audit_syslog_open(w);
}


static ngx_int_t
ngx_octopus_audit_syslog_open(ngx_octopus_audit_worker_t *w)
{
    ngx_socket_t                    s;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    s = ngx_socket(amcf->syslog->sockaddr->sa_family,
                   amcf->syslog_tcp ? SOCK_STREAM : SOCK_DGRAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, w->log, ngx_socket_errno,
                      "octopus audit: syslog socket() failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(s) == -1) {
        ngx_log_error(NGX_LOG_ERR, w->log, ngx_socket_errno,
                      "octopus audit: syslog nonblocking failed");
        ngx_close_socket(s);
        return NGX_ERROR;
    }

    (void) fcntl(s, F_SETFD, FD_CLOEXEC);

    if (connect(s, amcf->syslog->sockaddr, amcf->syslog->socklen) == -1
        && ngx_socket_errno != NGX_EINPROGRESS)
    {
        ngx_log_error(NGX_LOG_ERR, w->log, ngx_socket_errno,
                      "octopus audit: syslog connect() to %V failed",
                      &amcf->syslog_text);
        ngx_close_socket(s);
        return NGX_ERROR;
    }

    w->syslog_fd = s;
    w->syslog_opened = ngx_time();

    return NGX_OK;
}


void
ngx_octopus_audit_syslog_send(ngx_octopus_audit_worker_t *w, int64_t ts_us,
    ngx_uint_t severity, const char *msgid, u_char *msg, size_t len)
{
    u_char                         *p, *start, *buf;
    size_t                          n, size;
    ssize_t                         sent;
    time_t                          sec;
    ngx_tm_t                        tm;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    if (w->syslog_fd == (ngx_socket_t) -1) {

        /* a lost TCP stream is opened again at most once a second */

        if (w->syslog_opened == ngx_time()
            || ngx_octopus_audit_syslog_open(w) != NGX_OK)
        {
            goto failed;
        }
    }

    if (len > NGX_OCTOPUS_AUDIT_SYSLOG_MAX) {
        len = NGX_OCTOPUS_AUDIT_SYSLOG_MAX;
    }

    size = 16 + 256 + amcf->node.len + amcf->syslog_tag.len + len;

    buf = ngx_alloc(size, w->log);
    if (buf == NULL) {
        goto failed;
    }

    sec = (time_t) (ts_us / 1000000);
    ngx_libc_gmtime(sec, &tm);

    /* room for the TCP frame length */
    start = buf + 16;

    p = ngx_sprintf(start,
                    "<%ui>1 %4d-%02d-%02dT%02d:%02d:%02d.%06dZ %V %V %P %s - ",
                    amcf->syslog_facility * 8 + severity,
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec,
                    (int) (ts_us % 1000000),
                    &amcf->node, &amcf->syslog_tag, w->pid, msgid);

    p = ngx_cpymem(p, msg, len);

    n = p - start;

    if (amcf->syslog_tcp) {
        u_char  frame[16];
        size_t  flen;

        flen = ngx_sprintf(frame, "%uz ", n) - frame;
        start -= flen;
        ngx_memcpy(start, frame, flen);
        n += flen;
    }

    sent = send(w->syslog_fd, start, n, MSG_NOSIGNAL);

    ngx_free(buf);

    if (sent == (ssize_t) n) {
        (void) ngx_atomic_fetch_add(
            &amcf->sh->written[NGX_OCTOPUS_AUDIT_SINK_SYSLOG], 1);
        return;
    }

    if (amcf->syslog_tcp
        && (sent > 0 || (ngx_socket_errno != NGX_EAGAIN
                         && ngx_socket_errno != ENOTCONN)))
    {
        /* a broken or partly written stream: start a new one */
        ngx_octopus_audit_syslog_close(w);
    }

failed:

    (void) ngx_atomic_fetch_add(
        &amcf->sh->sink_errors[NGX_OCTOPUS_AUDIT_SINK_SYSLOG], 1);
}


void
ngx_octopus_audit_syslog_close(ngx_octopus_audit_worker_t *w)
{
    if (w->syslog_fd != (ngx_socket_t) -1) {
        ngx_close_socket(w->syslog_fd);
        w->syslog_fd = (ngx_socket_t) -1;
    }
}
