
/*
 * Copyright (C) Octopus Guard authors
 *
 * The syslog sink: RFC 5424 messages carrying the JSON record, over UDP or
 * TCP (octet-counting framing, RFC 6587), on non-blocking sockets.
 *
 * UDP is at most once: a datagram the kernel refuses is counted as an
 * error, one the network loses is not known.
 *
 * TCP goes through a bounded send buffer ("buffer=", 1m by default) that
 * outlives the connection: a message stays in it until the peer's TCP
 * acknowledged it (SIOCOUTQ: the bytes of the stream not yet
 * acknowledged), and when the stream is lost (the receiver closed it,
 * reset it, or a connect failed) everything from the first message not
 * acknowledged is sent again on the next connection, tried every second.
 * A message that finds the buffer full, or is still unsent when the worker
 * exits, is counted in octopus_audit_sink_errors_total{sink="syslog"};
 * a message the receiver's TCP acknowledged but its process never read (a
 * receiver killed with data in its socket) is the loss nobody can see
 * without an application-level acknowledgement.  A message cut by a lost
 * stream is sent again whole: the receiver may see a truncated frame.
 */


#include "ngx_octopus_audit.h"

#include <sys/ioctl.h>
#include <linux/sockios.h>


#define NGX_OCTOPUS_AUDIT_SYSLOG_MAX        65000
#define NGX_OCTOPUS_AUDIT_SYSLOG_RECONNECT  1000
#define NGX_OCTOPUS_AUDIT_SYSLOG_CONNECT    3000

/* the counters of this sink in shared memory */
#define NGX_OCTOPUS_AUDIT_SYSLOG_SINK       ngx_octopus_audit_syslog_sink.index


typedef struct {
    ngx_octopus_audit_worker_t        *w;

    ngx_socket_t                       udp;

    /* TCP */
    ngx_peer_connection_t              peer;
    ngx_connection_t                  *c;
    ngx_uint_t                         connected;   /* unsigned:1 */
    ngx_event_t                        reconnect;

    /*
     * data[0, pos): acknowledged, free; [pos, sent): handed to the kernel
     * on this connection, not known acknowledged; [sent, last): to send
     */
    u_char                            *data;
    size_t                             size;
    size_t                             pos;
    size_t                             sent;
    size_t                             last;
    ngx_uint_t                         queued;      /* messages in [pos,last) */
} ngx_octopus_audit_syslog_t;


static ngx_int_t ngx_octopus_audit_syslog_start(ngx_octopus_audit_worker_t *w,
    ngx_octopus_audit_syslog_t **sp);
static ngx_int_t ngx_octopus_audit_syslog_udp(ngx_octopus_audit_syslog_t *s);
static void ngx_octopus_audit_syslog_connect(ngx_event_t *ev);
static void ngx_octopus_audit_syslog_write_handler(ngx_event_t *ev);
static void ngx_octopus_audit_syslog_read_handler(ngx_event_t *ev);
static void ngx_octopus_audit_syslog_flush(ngx_octopus_audit_syslog_t *s);
static void ngx_octopus_audit_syslog_acked(ngx_octopus_audit_syslog_t *s);
static void ngx_octopus_audit_syslog_lost(ngx_octopus_audit_syslog_t *s,
    ngx_err_t err, const char *what);
static void ngx_octopus_audit_syslog_error(ngx_octopus_audit_syslog_t *s,
    ngx_uint_t n);

static ngx_uint_t ngx_octopus_audit_syslog_enabled(
    ngx_octopus_audit_main_conf_t *amcf);
static ngx_int_t ngx_octopus_audit_syslog_init(ngx_octopus_audit_worker_t *w,
    void **ctx);
static ngx_int_t ngx_octopus_audit_syslog_write(ngx_octopus_audit_worker_t *w,
    void *ctx, ngx_octopus_audit_out_t *out);
static void ngx_octopus_audit_syslog_checkpoint(ngx_octopus_audit_worker_t *w,
    void *ctx, int64_t ts_us, u_char *line, size_t len);
static void ngx_octopus_audit_syslog_send(ngx_octopus_audit_worker_t *w,
    ngx_octopus_audit_syslog_t *s, int64_t ts_us, ngx_uint_t severity,
    const char *msgid, u_char *msg, size_t len);
static void ngx_octopus_audit_syslog_tick(ngx_octopus_audit_worker_t *w,
    void *ctx);
static void ngx_octopus_audit_syslog_close(ngx_octopus_audit_worker_t *w,
    void *ctx);


ngx_octopus_audit_sink_t  ngx_octopus_audit_syslog_sink = {
    ngx_string("syslog"),
    0,
    0,                                     /* stores: security events */
    NULL,                                  /* create_conf */
    NULL,                                  /* init_conf */
    ngx_octopus_audit_syslog_enabled,
    NULL,                                  /* postconf */
    ngx_octopus_audit_syslog_init,
    ngx_octopus_audit_syslog_write,
    ngx_octopus_audit_syslog_checkpoint,
    ngx_octopus_audit_syslog_tick,
    NULL,                                  /* exiting */
    ngx_octopus_audit_syslog_close,
    NULL                                   /* metrics */
};


char *
ngx_octopus_audit_syslog_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    ssize_t      size;
    ngx_str_t   *value, key, val;
    ngx_url_t    u;
    ngx_uint_t   i, f, buffer;

    static const char  *facilities[] = {
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
        "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console",
        "solaris-cron", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7", NULL
    };

    if (amcf->syslog) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 514;

    /* resolved here, once: no DNS in the workers */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid syslog address \"%V\": %s", &value[1],
                           u.err ? u.err : "unknown error");
        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "syslog address \"%V\" has no address", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->syslog = &u.addrs[0];
    amcf->syslog_text = value[1];
    amcf->syslog_facility = 4;                 /* auth */
    ngx_str_set(&amcf->syslog_tag, "octopus");
    amcf->syslog_buffer = 1024 * 1024;
    buffer = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &key, &val) != NGX_OK) {
            goto invalid;
        }

        if (key.len == 5 && ngx_strncmp(key.data, "proto", 5) == 0) {
            if (val.len == 3 && ngx_strncmp(val.data, "udp", 3) == 0) {
                amcf->syslog_tcp = 0;

            } else if (val.len == 3 && ngx_strncmp(val.data, "tcp", 3) == 0) {
                amcf->syslog_tcp = 1;

            } else {
                goto invalid;
            }

        } else if (key.len == 8
                   && ngx_strncmp(key.data, "facility", 8) == 0)
        {
            for (f = 0; facilities[f]; f++) {
                if (val.len == ngx_strlen(facilities[f])
                    && ngx_strncmp(val.data, facilities[f], val.len) == 0)
                {
                    break;
                }
            }

            if (facilities[f] == NULL) {
                goto invalid;
            }

            amcf->syslog_facility = f;

        } else if (key.len == 3 && ngx_strncmp(key.data, "tag", 3) == 0) {
            if (val.len == 0 || val.len > 48) {
                goto invalid;
            }

            for (f = 0; f < val.len; f++) {
                if (val.data[f] <= 0x20 || val.data[f] >= 0x7f) {
                    goto invalid;
                }
            }

            amcf->syslog_tag = val;

        } else if (key.len == 6 && ngx_strncmp(key.data, "buffer", 6) == 0) {
            size = ngx_parse_size(&val);
            if (size == NGX_ERROR || size < 65536 || size > 1024 * 1024 * 1024)
            {
                goto invalid;
            }

            amcf->syslog_buffer = (size_t) size;
            buffer = i;

        } else if (key.len == 6 && ngx_strncmp(key.data, "events", 6) == 0) {
            if (val.len == 3 && ngx_strncmp(val.data, "all", 3) == 0) {
                amcf->syslog_all = 1;

            } else if (val.len == 8
                       && ngx_strncmp(val.data, "security", 8) == 0)
            {
                amcf->syslog_all = 0;

            } else {
                goto invalid;
            }

        } else {
            goto invalid;
        }
    }

    if (buffer && !amcf->syslog_tcp) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs proto=tcp (UDP is not buffered)",
                           &value[buffer]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_uint_t
ngx_octopus_audit_syslog_enabled(ngx_octopus_audit_main_conf_t *amcf)
{
    return amcf->syslog != NULL;
}


/* a sink that cannot start counts its records as errors */

static ngx_int_t
ngx_octopus_audit_syslog_init(ngx_octopus_audit_worker_t *w, void **ctx)
{
    *ctx = NULL;

    if (ngx_octopus_audit_syslog_start(w, (ngx_octopus_audit_syslog_t **) ctx)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "octopus audit: syslog sink unavailable");
    }

    return NGX_OK;
}


/* security events, or every record with "events=all" */

static ngx_int_t
ngx_octopus_audit_syslog_write(ngx_octopus_audit_worker_t *w, void *ctx,
    ngx_octopus_audit_out_t *out)
{
    if (!w->amcf->syslog_all && out->event == NGX_OCTOPUS_AUDIT_EV_API_CALL) {
        return NGX_OK;
    }

    if (ngx_octopus_audit_out_json(out) == NULL) {
        return NGX_ERROR;
    }

    ngx_octopus_audit_syslog_send(w, ctx, out->rec->ts_us,
        out->event == NGX_OCTOPUS_AUDIT_EV_API_CALL ? 6 : 4,
        ngx_octopus_audit_event_names[out->event], out->json,
        out->json_len - 1);

    return NGX_OK;
}


static void
ngx_octopus_audit_syslog_checkpoint(ngx_octopus_audit_worker_t *w, void *ctx,
    int64_t ts_us, u_char *line, size_t len)
{
    ngx_octopus_audit_syslog_send(w, ctx, ts_us, 6, "checkpoint", line,
                                  len - 1);
}


static ngx_int_t
ngx_octopus_audit_syslog_start(ngx_octopus_audit_worker_t *w,
    ngx_octopus_audit_syslog_t **sp)
{
    ngx_octopus_audit_syslog_t     *s;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    s = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_octopus_audit_syslog_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->w = w;
    s->udp = (ngx_socket_t) -1;
    *sp = s;

    if (!amcf->syslog_tcp) {
        return ngx_octopus_audit_syslog_udp(s);
    }

    s->size = amcf->syslog_buffer;
    s->data = ngx_alloc(s->size, w->log);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    s->peer.sockaddr = amcf->syslog->sockaddr;
    s->peer.socklen = amcf->syslog->socklen;
    s->peer.name = &amcf->syslog_text;
    s->peer.get = ngx_event_get_peer;
    s->peer.log = w->log;
    s->peer.log_error = NGX_ERROR_ERR;

    s->reconnect.handler = ngx_octopus_audit_syslog_connect;
    s->reconnect.data = s;
    s->reconnect.log = w->log;
    s->reconnect.cancelable = 1;

    ngx_octopus_audit_syslog_connect(&s->reconnect);

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_syslog_udp(ngx_octopus_audit_syslog_t *s)
{
    ngx_socket_t                    fd;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = s->w->amcf;

    fd = ngx_socket(amcf->syslog->sockaddr->sa_family, SOCK_DGRAM, 0);

    if (fd == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, s->w->log, ngx_socket_errno,
                      "octopus audit: syslog socket() failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(fd) == -1
        || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1
        || connect(fd, amcf->syslog->sockaddr, amcf->syslog->socklen) == -1)
    {
        ngx_log_error(NGX_LOG_ERR, s->w->log, ngx_socket_errno,
                      "octopus audit: syslog UDP socket to %V failed",
                      &amcf->syslog_text);
        ngx_close_socket(fd);
        return NGX_ERROR;
    }

    s->udp = fd;

    return NGX_OK;
}


static void
ngx_octopus_audit_syslog_connect(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_octopus_audit_syslog_t  *s;

    s = ev->data;

    if (s->c) {
        return;
    }

    rc = ngx_event_connect_peer(&s->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (s->peer.connection) {
            ngx_close_connection(s->peer.connection);
            s->peer.connection = NULL;
        }

        ngx_octopus_audit_syslog_lost(s, ngx_socket_errno, "connect()");
        return;
    }

    c = s->peer.connection;
    c->data = s;
    c->read->handler = ngx_octopus_audit_syslog_read_handler;
    c->write->handler = ngx_octopus_audit_syslog_write_handler;

    s->c = c;
    s->connected = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->w->log, 0,
                   "octopus audit: syslog connect rc:%i", rc);

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, NGX_OCTOPUS_AUDIT_SYSLOG_CONNECT);
        return;
    }

    s->connected = 1;
    ngx_octopus_audit_syslog_flush(s);
}


static void
ngx_octopus_audit_syslog_write_handler(ngx_event_t *ev)
{
    int                          err;
    socklen_t                    len;
    ngx_connection_t            *c;
    ngx_octopus_audit_syslog_t  *s;

    c = ev->data;
    s = c->data;

    if (ev->timedout) {
        ngx_octopus_audit_syslog_lost(s, NGX_ETIMEDOUT, "connect()");
        return;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (!s->connected) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_octopus_audit_syslog_lost(s, err, "connect()");
            return;
        }

        s->connected = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, s->w->log, 0,
                       "octopus audit: syslog connected");
    }

    ngx_octopus_audit_syslog_flush(s);
}


/* the receiver sends nothing: readable means closed, reset, or noise */

static void
ngx_octopus_audit_syslog_read_handler(ngx_event_t *ev)
{
    u_char                       buf[512];
    ssize_t                      n;
    ngx_connection_t            *c;
    ngx_octopus_audit_syslog_t  *s;

    c = ev->data;
    s = c->data;

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(ev, 0) != NGX_OK) {
                ngx_octopus_audit_syslog_lost(s, 0, "read event");
            }

            return;
        }

        if (n == 0) {
            ngx_octopus_audit_syslog_lost(s, 0, "closed by the receiver");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_octopus_audit_syslog_lost(s, ngx_socket_errno, "recv()");
            return;
        }
    }
}


static void
ngx_octopus_audit_syslog_flush(ngx_octopus_audit_syslog_t *s)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = s->c;

    if (c == NULL || !s->connected) {
        return;
    }

    while (s->sent < s->last) {
        n = c->send(c, s->data + s->sent, s->last - s->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_octopus_audit_syslog_lost(s, 0, "write event");
            }

            return;
        }

        if (n == NGX_ERROR || n <= 0) {
            ngx_octopus_audit_syslog_lost(s, ngx_socket_errno, "send()");
            return;
        }

        s->sent += n;
    }
}


/*
 * Moves pos over the messages the peer's TCP acknowledged: those are
 * "written"; it walks the octet-counting frames "LEN SP MSG".
 */

static void
ngx_octopus_audit_syslog_acked(ngx_octopus_audit_syslog_t *s)
{
    int        outq;
    size_t     acked, len, end;
    u_char    *p;
    ngx_uint_t n;

    if (s->c == NULL || s->sent == s->pos) {
        return;
    }

    if (ioctl(s->c->fd, SIOCOUTQ, &outq) == -1 || outq < 0) {
        return;
    }

    if ((size_t) outq > s->sent - s->pos) {
        return;
    }

    acked = s->sent - (size_t) outq;
    n = 0;

    while (s->pos < acked) {
        len = 0;

        for (p = s->data + s->pos; *p != ' '; p++) {
            len = len * 10 + (*p - '0');
        }

        end = (p + 1 - s->data) + len;

        if (end > acked) {
            break;
        }

        s->pos = end;
        n++;
    }

    if (n) {
        s->queued -= n;
        (void) ngx_atomic_fetch_add(
                   &s->w->amcf->sh->written[NGX_OCTOPUS_AUDIT_SYSLOG_SINK], n);
    }

    if (s->pos == s->last) {
        s->pos = 0;
        s->sent = 0;
        s->last = 0;
    }
}


static void
ngx_octopus_audit_syslog_lost(ngx_octopus_audit_syslog_t *s, ngx_err_t err,
    const char *what)
{
    if (s->c) {
        /* what the peer acknowledged before the end is not sent again */
        ngx_octopus_audit_syslog_acked(s);

        ngx_close_connection(s->c);
        s->c = NULL;
        s->peer.connection = NULL;
    }

    s->connected = 0;
    s->sent = s->pos;

    ngx_octopus_audit_log(s->w, NGX_OCTOPUS_AUDIT_LOG_SYSLOG, NGX_LOG_ERR, err,
                          "octopus audit: syslog stream to %V lost (%s), "
                          "%ui messages buffered, reconnecting in %M ms",
                          &s->w->amcf->syslog_text, what, s->queued,
                          (ngx_msec_t) NGX_OCTOPUS_AUDIT_SYSLOG_RECONNECT);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&s->reconnect, NGX_OCTOPUS_AUDIT_SYSLOG_RECONNECT);
    }
}


static void
ngx_octopus_audit_syslog_error(ngx_octopus_audit_syslog_t *s, ngx_uint_t n)
{
    (void) ngx_atomic_fetch_add(
               &s->w->amcf->sh->sink_errors[NGX_OCTOPUS_AUDIT_SYSLOG_SINK], n);
}


static void
ngx_octopus_audit_syslog_send(ngx_octopus_audit_worker_t *w,
    ngx_octopus_audit_syslog_t *s, int64_t ts_us, ngx_uint_t severity,
    const char *msgid, u_char *msg, size_t len)
{
    u_char                         *p, *start, *buf, head[320];
    size_t                          n, hlen, flen;
    ssize_t                         sent;
    time_t                          sec;
    ngx_tm_t                        tm;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = w->amcf;

    if (s == NULL) {
        (void) ngx_atomic_fetch_add(
            &amcf->sh->sink_errors[NGX_OCTOPUS_AUDIT_SYSLOG_SINK], 1);
        return;
    }

    if (len > NGX_OCTOPUS_AUDIT_SYSLOG_MAX) {
        len = NGX_OCTOPUS_AUDIT_SYSLOG_MAX;
    }

    sec = (time_t) (ts_us / 1000000);
    ngx_libc_gmtime(sec, &tm);

    /* the header: room for the TCP frame length in front */

    start = head + 16;

    p = ngx_slprintf(start, head + sizeof(head),
                     "<%ui>1 %4d-%02d-%02dT%02d:%02d:%02d.%06dZ %V %V %P %s - ",
                     amcf->syslog_facility * 8 + severity,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int) (ts_us % 1000000),
                     &amcf->node, &amcf->syslog_tag, w->pid, msgid);

    hlen = p - start;
    n = hlen + len;

    if (!amcf->syslog_tcp) {

        /* UDP: one datagram now, or an error */

        buf = ngx_alloc(n, w->log);
        if (buf == NULL) {
            ngx_octopus_audit_syslog_error(s, 1);
            return;
        }

        ngx_memcpy(ngx_cpymem(buf, start, hlen), msg, len);

        sent = (s->udp == (ngx_socket_t) -1)
               ? -1 : send(s->udp, buf, n, MSG_NOSIGNAL);

        ngx_free(buf);

        if (sent == (ssize_t) n) {
            (void) ngx_atomic_fetch_add(
                &amcf->sh->written[NGX_OCTOPUS_AUDIT_SYSLOG_SINK], 1);
            return;
        }

        ngx_octopus_audit_log(w, NGX_OCTOPUS_AUDIT_LOG_SYSLOG, NGX_LOG_ERR,
                              ngx_socket_errno,
                              "octopus audit: syslog datagram to %V not "
                              "sent", &amcf->syslog_text);
        ngx_octopus_audit_syslog_error(s, 1);
        return;
    }

    /* TCP: "LEN SP" frame, into the buffer */

    flen = ngx_sprintf(head, "%uz ", n) - head;
    start -= flen;
    ngx_memmove(start, head, flen);
    hlen += flen;
    n += flen;

    if (s->size - s->last < n) {
        ngx_octopus_audit_syslog_acked(s);

        if (s->size - (s->last - s->pos) >= n && s->pos) {
            /* room at the front: the unacknowledged data moves there */
            ngx_memmove(s->data, s->data + s->pos, s->last - s->pos);
            s->sent -= s->pos;
            s->last -= s->pos;
            s->pos = 0;
        }

        if (s->size - s->last < n) {
            ngx_octopus_audit_log(w, NGX_OCTOPUS_AUDIT_LOG_SYSLOG_FULL,
                                  NGX_LOG_ERR, 0,
                                  "octopus audit: syslog buffer for %V full "
                                  "(%uz bytes, %ui messages): message "
                                  "DROPPED", &amcf->syslog_text, s->size,
                                  s->queued);
            ngx_octopus_audit_syslog_error(s, 1);
            return;
        }
    }

    p = ngx_cpymem(s->data + s->last, start, hlen);
    ngx_memcpy(p, msg, len);

    s->last += n;
    s->queued++;

    ngx_octopus_audit_syslog_flush(s);
}


/* the worker's tick: messages acknowledged since are counted as written */

static void
ngx_octopus_audit_syslog_tick(ngx_octopus_audit_worker_t *w, void *ctx)
{
    ngx_octopus_audit_syslog_t  *s = ctx;

    if (s && s->c) {
        ngx_octopus_audit_syslog_acked(s);
    }
}


/*
 * Worker exit: a last non-blocking send; what the kernel took is counted
 * as written (it delivers it after we are gone, if the receiver lives),
 * what it did not take as errors.
 */

static void
ngx_octopus_audit_syslog_close(ngx_octopus_audit_worker_t *w, void *ctx)
{
    ngx_octopus_audit_syslog_t *s = ctx;

    u_char      *p;
    size_t       len;
    ngx_uint_t   unsent;

    if (s == NULL) {
        return;
    }

    if (s->udp != (ngx_socket_t) -1) {
        ngx_close_socket(s->udp);
        s->udp = (ngx_socket_t) -1;
    }

    if (s->reconnect.timer_set) {
        ngx_del_timer(&s->reconnect);
    }

    if (s->data == NULL) {
        return;
    }

    ngx_octopus_audit_syslog_flush(s);
    ngx_octopus_audit_syslog_acked(s);

    /* messages not wholly handed to the kernel */

    unsent = 0;

    for (p = s->data + s->pos; p < s->data + s->last; p += len) {
        len = 0;

        while (*p != ' ') {
            len = len * 10 + (*p++ - '0');
        }

        p++;

        if (s->c == NULL || p + len > s->data + s->sent) {
            unsent++;
        }
    }

    if (s->queued > unsent) {
        (void) ngx_atomic_fetch_add(
            &w->amcf->sh->written[NGX_OCTOPUS_AUDIT_SYSLOG_SINK],
            s->queued - unsent);
    }

    if (unsent) {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "octopus audit: %ui syslog messages to %V not sent at "
                      "exit", unsent, &w->amcf->syslog_text);
        ngx_octopus_audit_syslog_error(s, unsent);
    }

    if (s->c) {
        ngx_close_connection(s->c);
        s->c = NULL;
    }

    ngx_free(s->data);
    s->data = NULL;
}
