
/*
 * Copyright (C) Octopus Guard authors
 *
 * hiredis async on nginx events.  The socket hiredis opens is wrapped in an
 * ngx_connection_t whose read and write events are added level-triggered
 * (hiredis reads at most one buffer per call, so edge-triggered epoll could
 * leave replies unread; the read handler reads on while the socket holds
 * more).  hiredis has no timeouts of its own; the connect has a timer, and
 * the commands two:
 *
 *   - Redis's silence ("timeout"): while Redis owes replies, it must give
 *     one at least every "timeout" ms.  Checked every "timeout" / 8: the
 *     connection is dropped when the checks in a row that saw no reply
 *     add up to "timeout" (8 of them, 9 when "timeout" is not a multiple
 *     of 8; timers never fire early, so that is real silence, not the
 *     staleness of ngx_current_msec in a long loop iteration), and every
 *     command queued on it fails.  It times Redis, not the depth of the
 *     pipeline: 5,000 requests waiting on one connection are healthy as
 *     long as replies keep coming.  A check that saw no reply first reads
 *     what already sits in the socket (a saturated worker's own delay is
 *     not Redis's).  A frozen server costs a request at most "timeout"
 *     plus one check after the last reply it gave (or after the request,
 *     if Redis owed nothing then).
 *
 *   - each command's own bound (NGX_OCTOPUS_REDIS_QUEUE_FACTOR x "timeout"
 *     from when it was queued): a command still unanswered then fails
 *     alone; the connection and the other commands stay, and its reply, if
 *     it comes, is dropped.  Every command has the same bound, so the
 *     oldest one's deadline is the next: one timer serves them all.
 *
 * While the client waits to reconnect, ngx_octopus_redis_send() fails at
 * once and callers apply their failure policy without waiting.
 * ngx_octopus_redis_error() says why the last command failed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <sys/ioctl.h>

#include "ngx_octopus_common.h"
#include "ngx_octopus_redis.h"
#include "ngx_octopus_redis_reply.h"
#include "ngx_octopus_redis_sentinel.h"
#include "ngx_octopus_redis_cluster.h"


#define NGX_OCTOPUS_REDIS_BACKOFF_MIN  100
#define NGX_OCTOPUS_REDIS_BACKOFF_MAX  2000
#define NGX_OCTOPUS_REDIS_QUEUE_FACTOR 10
#define NGX_OCTOPUS_REDIS_READS        8    /* reads per read event, max */
#define NGX_OCTOPUS_REDIS_SLICES       8    /* silence checks per timeout */
#define NGX_OCTOPUS_REDIS_BUSY         64   /* owed: read after writing */


struct ngx_octopus_redis_s {
    ngx_octopus_redis_conf_t       *conf;
    ngx_log_t                      *log;
    redisAsyncContext              *ac;
    ngx_event_t                     connect_timer;
    ngx_event_t                     reconnect;
    ngx_msec_t                      backoff;
    ngx_queue_t                     waiting;     /* cmds, in send order */
    ngx_uint_t                      owed;        /* replies Redis owes */
    ngx_uint_t                      replies;     /* replies received */
    ngx_uint_t                      seen;        /* replies, slice start */
    ngx_uint_t                      silent;      /* slices without one */
    ngx_event_t                     silence;     /* Redis silent too long */
    ngx_event_t                     expire;      /* oldest cmd's bound */
    ngx_uint_t                      error;       /* of the last failure */
    ngx_uint_t                      dropping;    /* why the conn goes */
    ngx_octopus_redis_sentinel_t   *sentinel;
    ngx_octopus_redis_cluster_t    *cluster;
    ngx_int_t                       primary_port;  /* 0: not known yet */
    u_char                          primary[NGX_SOCKADDR_STRLEN + 1];
    unsigned                        connected:1;
    unsigned                        closing:1;
};


struct ngx_octopus_redis_cmd_s {
    ngx_octopus_redis_t            *rd;
    redisAsyncContext              *ac;
    ngx_octopus_redis_handler_pt    handler;
    void                           *data;
    ngx_queue_t                     queue;       /* in rd->waiting */
    ngx_msec_t                      deadline;
    unsigned                        done:1;
    unsigned                        queued:1;
};


static ngx_int_t ngx_octopus_redis_conf_password(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *password);
static void ngx_octopus_redis_connect(ngx_octopus_redis_t *rd);
static void ngx_octopus_redis_fail(ngx_octopus_redis_t *rd,
    ngx_uint_t reason);
static void ngx_octopus_redis_schedule(ngx_octopus_redis_t *rd);
static void ngx_octopus_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_octopus_redis_connect_timeout(ngx_event_t *ev);
static void ngx_octopus_redis_connect_cb(const redisAsyncContext *ac,
    int status);
static void ngx_octopus_redis_disconnect_cb(const redisAsyncContext *ac,
    int status);
static void ngx_octopus_redis_setup_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_redis_role_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_redis_cmd_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_redis_silence_handler(ngx_event_t *ev);
static void ngx_octopus_redis_expire_handler(ngx_event_t *ev);
static void ngx_octopus_redis_read(ngx_octopus_redis_t *rd);
static ngx_msec_t ngx_octopus_redis_slice(ngx_octopus_redis_t *rd);
static void ngx_octopus_redis_read_handler(ngx_event_t *ev);
static void ngx_octopus_redis_write_handler(ngx_event_t *ev);
static void ngx_octopus_redis_add_write(void *privdata);


void
ngx_octopus_redis_conf_init(ngx_octopus_redis_conf_t *rc)
{
    ngx_memzero(rc, sizeof(ngx_octopus_redis_conf_t));

    rc->port = 6379;
    rc->connect_timeout = 100;
    rc->timeout = 50;
}


/*
 * "sentinel=" or "cluster=" address lists: host[:port],host[:port],...
 * (skip: the length of the "name=" part), each resolved now, never in a
 * worker; an empty, unix: or unresolvable address is refused
 */

ngx_array_t *
ngx_octopus_redis_conf_addresses(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, in_port_t default_port, const char *kind)
{
    u_char                    *p, *last, *comma;
    ngx_url_t                  u;
    ngx_array_t               *list;
    ngx_octopus_redis_addr_t  *addr;

    list = ngx_array_create(cf->pool, 3, sizeof(ngx_octopus_redis_addr_t));
    if (list == NULL) {
        return NULL;
    }

    p = value->data + skip;
    last = value->data + value->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = default_port;

        if (u.url.len == 0
            || (u.url.len >= 5 && ngx_strncmp(p, "unix:", 5) == 0)
            || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0
            || u.uri.len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis %s address \"%V\" in "
                               "\"%V\"%s%s", kind, &u.url, value,
                               u.err ? ": " : "", u.err ? u.err : "");
            return NULL;
        }

        addr = ngx_array_push(list);
        if (addr == NULL) {
            return NULL;
        }

        addr->name = u.url;

        addr->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (addr->host.data == NULL) {
            return NULL;
        }

        addr->host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                       u.addrs[0].socklen, addr->host.data,
                                       NGX_SOCKADDR_STRLEN, 0);
        addr->host.data[addr->host.len] = '\0';
        addr->port = u.port;

        if (comma == last) {
            break;
        }

        p = comma + 1;
    }

    return list;
}


/*
 * "host[:port]" (resolved now, at configuration time), "unix:/path",
 * "sentinel=host[:port],..." (see ngx_octopus_redis_sentinel.h) or
 * "cluster=host[:port],..." (see ngx_octopus_redis_cluster.h)
 */

ngx_int_t
ngx_octopus_redis_conf_address(ngx_conf_t *cf, ngx_octopus_redis_conf_t *rc,
    ngx_str_t *value)
{
    u_char     *p;
    ngx_url_t   u;

    rc->name = *value;

    if (value->len >= 9 && ngx_strncmp(value->data, "sentinel=", 9) == 0) {
        return ngx_octopus_redis_sentinel_conf_addresses(cf, rc, value);
    }

    if (value->len >= 8 && ngx_strncmp(value->data, "cluster=", 8) == 0) {
        return ngx_octopus_redis_cluster_conf_addresses(cf, rc, value);
    }

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        p = ngx_pnalloc(cf->pool, value->len - 5 + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        rc->unix_path.len = value->len - 5;
        rc->unix_path.data = p;
        ngx_cpystrn(p, value->data + 5, value->len - 5 + 1);

        if (rc->unix_path.len >= sizeof(((struct sockaddr_un *) 0)->sun_path))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "redis unix socket path too long in \"%V\"",
                               value);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\"%s%s", value,
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    rc->host.data = p;
    rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                                 NGX_SOCKADDR_STRLEN, 0);
    p[rc->host.len] = '\0';
    rc->port = u.port;

    return NGX_OK;
}


/*
 * password_file=, db=, connect_timeout=, timeout=, and for Sentinel
 * master= and sentinel_password_file=.  Returns NGX_DECLINED
 * for an argument it does not know, NGX_ERROR (logged) for a bad value.
 */

ngx_int_t
ngx_octopus_redis_conf_option(ngx_conf_t *cf, ngx_octopus_redis_conf_t *rc,
    ngx_str_t *arg)
{
    ngx_int_t    num, rv;
    ngx_str_t    k, v;
    ngx_msec_t   ms;

    if (ngx_octopus_parse_kv(arg, &k, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (k.len == 13 && ngx_strncmp(k.data, "password_file", 13) == 0) {
        rv = ngx_octopus_redis_conf_password(cf, &v, &rc->password);
        goto password;
    }

    if (k.len == 22
        && ngx_strncmp(k.data, "sentinel_password_file", 22) == 0)
    {
        rv = ngx_octopus_redis_conf_password(cf, &v, &rc->sentinel_password);
        goto password;
    }

    if (k.len == 6 && ngx_strncmp(k.data, "master", 6) == 0) {
        if (v.len == 0) {
            goto invalid;
        }

        rc->master = v;
        return NGX_OK;
    }

    if ((k.len == 8 && ngx_strncmp(k.data, "sentinel", 8) == 0)
        || (k.len == 7 && ngx_strncmp(k.data, "cluster", 7) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": \"%V=\" replaces the redis address "
                           "and must come first, in place of \"%V\"",
                           arg, &k, &rc->name);
        return NGX_ERROR;
    }

    if (k.len == 2 && ngx_strncmp(k.data, "db", 2) == 0) {
        if (rc->cluster) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": a Redis Cluster has database 0 "
                               "only, \"db=\" is refused with \"%V\"",
                               arg, &rc->name);
            return NGX_ERROR;
        }

        num = ngx_atoi(v.data, v.len);
        if (num == NGX_ERROR) {
            goto invalid;
        }

        rc->db = num;
        return NGX_OK;
    }

    if (k.len == 15 && ngx_strncmp(k.data, "connect_timeout", 15) == 0) {
        ms = ngx_parse_time(&v, 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        rc->connect_timeout = ms;
        return NGX_OK;
    }

    if (k.len == 7 && ngx_strncmp(k.data, "timeout", 7) == 0) {
        ms = ngx_parse_time(&v, 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        rc->timeout = ms;
        return NGX_OK;
    }

    return NGX_DECLINED;

password:

    if (rv != NGX_DECLINED) {
        return rv;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid redis parameter \"%V\"", arg);
    return NGX_ERROR;
}


/* checks that need every parameter: after the last one */

ngx_int_t
ngx_octopus_redis_conf_done(ngx_conf_t *cf, ngx_octopus_redis_conf_t *rc)
{
    if (rc->cluster && rc->sentinel_password.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel_password_file=\" needs \"sentinel=\" "
                           "in place of \"%V\"", &rc->name);
        return NGX_ERROR;
    }

    return ngx_octopus_redis_sentinel_conf_check(cf, rc);
}


/* NGX_DECLINED for an empty value, NGX_ERROR (logged) for a bad file */

static ngx_int_t
ngx_octopus_redis_conf_password(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *password)
{
    u_char      *buf;
    ssize_t      n;
    ngx_str_t    path;
    ngx_file_t   file;

    path = *value;

    if (path.len == 0 || ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = path;
    file.log = cf->log;
    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, 1024);
    if (buf == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, buf, 1024, 0);
    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    if (n == 0 || n == 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password file \"%V\" is empty or "
                           "longer than 1023 bytes", &path);
        return NGX_ERROR;
    }

    password->data = buf;
    password->len = n;

    return NGX_OK;
}


ngx_octopus_redis_t *
ngx_octopus_redis_create(ngx_octopus_redis_conf_t *rc, ngx_pool_t *pool,
    ngx_log_t *log)
{
    ngx_octopus_redis_t  *rd;

    rd = ngx_pcalloc(pool, sizeof(ngx_octopus_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = rc;
    rd->log = log;
    rd->backoff = NGX_OCTOPUS_REDIS_BACKOFF_MIN;

    rd->connect_timer.handler = ngx_octopus_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = log;
    rd->connect_timer.cancelable = 1;

    rd->reconnect.handler = ngx_octopus_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = log;
    rd->reconnect.cancelable = 1;

    ngx_queue_init(&rd->waiting);

    rd->silence.handler = ngx_octopus_redis_silence_handler;
    rd->silence.data = rd;
    rd->silence.log = log;
    rd->silence.cancelable = 1;

    rd->expire.handler = ngx_octopus_redis_expire_handler;
    rd->expire.data = rd;
    rd->expire.log = log;
    rd->expire.cancelable = 1;

    if (rc->sentinels) {
        /* connects when the sentinels name the primary */
        rd->sentinel = ngx_octopus_redis_sentinel_create(rd, rc, pool, log);
        return rd;
    }

    if (rc->cluster) {
        /* routes each command to a client of its key's primary */
        rd->cluster = ngx_octopus_redis_cluster_create(rd, rc, pool, log);
        return rd->cluster ? rd : NULL;
    }

    ngx_octopus_redis_connect(rd);

    return rd;
}


void
ngx_octopus_redis_destroy(ngx_octopus_redis_t *rd)
{
    redisAsyncContext  *ac;

    rd->closing = 1;

    if (rd->sentinel) {
        ngx_octopus_redis_sentinel_destroy(rd->sentinel);
        rd->sentinel = NULL;
    }

    if (rd->cluster) {
        ngx_octopus_redis_cluster_destroy(rd->cluster);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    ac = rd->ac;

    if (ac) {
        rd->ac = NULL;
        rd->dropping = NGX_OCTOPUS_REDIS_E_LOST;
        redisAsyncFree(ac);
    }

    if (rd->silence.timer_set) {
        ngx_del_timer(&rd->silence);
    }

    if (rd->expire.timer_set) {
        ngx_del_timer(&rd->expire);
    }
}


static void
ngx_octopus_redis_connect(ngx_octopus_redis_t *rd)
{
    const char                *argv[2];
    size_t                     argvlen[2];
    u_char                     db[NGX_INT_T_LEN];
    redisAsyncContext         *ac;
    ngx_connection_t          *c;
    ngx_octopus_redis_conf_t  *rc;

    rc = rd->conf;

    if (rc->sentinels) {
        if (rd->primary_port == 0) {
            return;
        }

        ac = redisAsyncConnect((char *) rd->primary, (int) rd->primary_port);

    } else if (rc->unix_path.len) {
        ac = redisAsyncConnectUnix((char *) rc->unix_path.data);

    } else {
        ac = redisAsyncConnect((char *) rc->host.data, (int) rc->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "octopus redis %V: out of memory", &rc->name);
        ngx_octopus_redis_schedule(rd);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "octopus redis %V: connect failed: %s",
                      &rc->name, ac->errstr);
        redisAsyncFree(ac);
        ngx_octopus_redis_schedule(rd);
        return;
    }

    /* bounded multi-bulk replies (see ngx_octopus_redis_reply.h) */
    ac->c.reader->fn = ngx_octopus_redis_reply_functions();

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_octopus_redis_schedule(rd);
        return;
    }

    c->data = ac;
    c->read->handler = ngx_octopus_redis_read_handler;
    c->write->handler = ngx_octopus_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_octopus_redis_ev_add_read;
    ac->ev.delRead = ngx_octopus_redis_ev_del_read;
    ac->ev.addWrite = ngx_octopus_redis_add_write;
    ac->ev.delWrite = ngx_octopus_redis_ev_del_write;
    ac->ev.cleanup = ngx_octopus_redis_ev_cleanup;

    rd->ac = ac;
    rd->connected = 0;
    rd->dropping = 0;

    redisAsyncSetConnectCallback(ac, ngx_octopus_redis_connect_cb);
    redisAsyncSetDisconnectCallback(ac, ngx_octopus_redis_disconnect_cb);

    /* queued before any command of a request, so they go out first */

    if (rc->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rc->password.data;
        argvlen[1] = rc->password.len;

        redisAsyncCommandArgv(ac, ngx_octopus_redis_setup_cb, "AUTH", 2,
                              argv, argvlen);
    }

    if (rc->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rc->db) - db;

        redisAsyncCommandArgv(ac, ngx_octopus_redis_setup_cb, "SELECT", 2,
                              argv, argvlen);
    }

    if (rc->sentinels) {
        argv[0] = "ROLE";
        argvlen[0] = 4;

        redisAsyncCommandArgv(ac, ngx_octopus_redis_role_cb, NULL, 1,
                              argv, argvlen);
    }

    ngx_add_timer(&rd->connect_timer, rc->connect_timeout);
}


/* drops the connection: every pending command fails for "reason" */

static void
ngx_octopus_redis_fail(ngx_octopus_redis_t *rd, ngx_uint_t reason)
{
    redisAsyncContext  *ac;

    ac = rd->ac;

    if (ac == NULL) {
        return;
    }

    rd->ac = NULL;
    rd->connected = 0;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    ngx_octopus_redis_schedule(rd);

    rd->dropping = reason;
    redisAsyncFree(ac);
    rd->dropping = 0;
}


static void
ngx_octopus_redis_schedule(ngx_octopus_redis_t *rd)
{
    if (rd->closing) {
        return;
    }

    if (rd->sentinel) {
        /* the primary may have moved: ask now, reconnect with backoff */
        ngx_octopus_redis_sentinel_ask(rd->sentinel);
    }

    if (rd->reconnect.timer_set) {
        return;
    }

    ngx_add_timer(&rd->reconnect, rd->backoff);

    rd->backoff *= 2;

    if (rd->backoff > NGX_OCTOPUS_REDIS_BACKOFF_MAX) {
        rd->backoff = NGX_OCTOPUS_REDIS_BACKOFF_MAX;
    }
}


static void
ngx_octopus_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_octopus_redis_t  *rd = ev->data;

    if (rd->closing || rd->ac) {
        return;
    }

    ngx_octopus_redis_connect(rd);
}


static void
ngx_octopus_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_octopus_redis_t  *rd = ev->data;

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "octopus redis %V: connect timed out", &rd->conf->name);

    ngx_octopus_redis_fail(rd, NGX_OCTOPUS_REDIS_E_DOWN);
}


static void
ngx_octopus_redis_connect_cb(const redisAsyncContext *ac, int status)
{
    ngx_octopus_redis_t  *rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "octopus redis %V: connect failed: %s",
                      &rd->conf->name, ac->errstr);

        /* hiredis frees the context when this returns */
        rd->ac = NULL;
        rd->dropping = NGX_OCTOPUS_REDIS_E_DOWN;
        ngx_octopus_redis_schedule(rd);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "octopus redis %V: connected", &rd->conf->name);

    rd->connected = 1;
}


static void
ngx_octopus_redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
    ngx_octopus_redis_t  *rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "octopus redis %V: connection lost%s%s", &rd->conf->name,
                  ac->err ? ": " : "", ac->err ? ac->errstr : "");

    rd->ac = NULL;
    rd->connected = 0;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    ngx_octopus_redis_schedule(rd);
}


/* AUTH and SELECT replies; the password never reaches the log */

static void
ngx_octopus_redis_setup_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply           *reply = r;
    ngx_octopus_redis_t  *rd = ac->data;

    if (reply == NULL || rd->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "octopus redis %V: %s refused: %*s", &rd->conf->name,
                      (char *) privdata, (size_t) reply->len, reply->str);

        ngx_octopus_redis_fail(rd, NGX_OCTOPUS_REDIS_E_DOWN);
    }
}


/* Sentinel mode: the server must say it is the primary */

static void
ngx_octopus_redis_role_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply           *reply = r;
    redisReply           *role;
    ngx_octopus_redis_t  *rd = ac->data;

    if (reply == NULL || rd->ac != ac) {
        return;
    }

    role = NULL;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
        role = reply->element[0];

        if (role->type == REDIS_REPLY_STRING && role->len == 6
            && ngx_strncmp(role->str, "master", 6) == 0)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                           "octopus redis: %s:%i is the primary",
                           rd->primary, rd->primary_port);
            return;
        }
    }

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "octopus redis %V: %s:%i is not the primary (%*s), "
                  "asking the sentinels again", &rd->conf->name,
                  rd->primary, rd->primary_port,
                  (size_t) (role && role->type == REDIS_REPLY_STRING
                            ? ngx_min(role->len, 32) : 7),
                  role && role->type == REDIS_REPLY_STRING
                  ? role->str : "no role");

    ngx_octopus_redis_fail(rd, NGX_OCTOPUS_REDIS_E_DOWN);
}


void
ngx_octopus_redis_set_primary(ngx_octopus_redis_t *rd, u_char *host,
    size_t len, ngx_int_t port)
{
    redisAsyncContext  *ac;

    if (rd->closing || len == 0 || len > NGX_SOCKADDR_STRLEN) {
        return;
    }

    if (rd->primary_port == port
        && ngx_strlen(rd->primary) == len
        && ngx_strncmp(rd->primary, host, len) == 0)
    {
        if (rd->ac || rd->reconnect.timer_set) {
            return;
        }

    } else {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "octopus redis %V: the primary is %*s:%i",
                      &rd->conf->name, len, host, port);

        ngx_memcpy(rd->primary, host, len);
        rd->primary[len] = '\0';
        rd->primary_port = port;
    }

    ac = rd->ac;

    if (ac) {
        /* the commands queued on the old primary fail, not wait */
        rd->ac = NULL;
        rd->connected = 0;
        redisAsyncFree(ac);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    rd->backoff = NGX_OCTOPUS_REDIS_BACKOFF_MIN;

    ngx_octopus_redis_connect(rd);
}


void
ngx_octopus_redis_close(ngx_octopus_redis_t *rd)
{
    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    rd->backoff = NGX_OCTOPUS_REDIS_BACKOFF_MIN;

    if (rd->ac) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "octopus redis %V: closed", &rd->conf->name);

        rd->closing = 1;      /* no reconnection scheduled */
        ngx_octopus_redis_fail(rd, NGX_OCTOPUS_REDIS_E_DOWN);
        rd->closing = 0;
    }
}


void
ngx_octopus_redis_open(ngx_octopus_redis_t *rd)
{
    if (rd->closing || rd->ac || rd->reconnect.timer_set) {
        return;
    }

    ngx_octopus_redis_connect(rd);
}


ngx_uint_t
ngx_octopus_redis_up(ngx_octopus_redis_t *rd)
{
    return rd->ac != NULL && rd->connected;
}


ngx_octopus_redis_cmd_t *
ngx_octopus_redis_send(ngx_octopus_redis_t *rd,
    ngx_octopus_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_msec_t                bound;
    ngx_octopus_redis_cmd_t  *cmd;

    if (rd == NULL) {
        return NULL;
    }

    if (rd->cluster) {
        return ngx_octopus_redis_cluster_send(rd->cluster, handler, data,
                                              argc, argv, argvlen);
    }

    rd->error = NGX_OCTOPUS_REDIS_E_DOWN;

    if (rd->ac == NULL) {
        return NULL;
    }

    cmd = ngx_calloc(sizeof(ngx_octopus_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->rd = rd;
    cmd->ac = rd->ac;
    cmd->handler = handler;
    cmd->data = data;

    if (redisAsyncCommandArgv(rd->ac, ngx_octopus_redis_cmd_cb, cmd, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NULL;
    }

    bound = rd->conf->timeout * NGX_OCTOPUS_REDIS_QUEUE_FACTOR;

    cmd->deadline = ngx_current_msec + bound;
    cmd->queued = 1;
    ngx_queue_insert_tail(&rd->waiting, &cmd->queue);

    /* Redis's silence is counted from the first reply it owes */

    if (rd->owed++ == 0) {
        rd->seen = rd->replies;
        rd->silent = 0;

        if (rd->silence.timer_set) {
            ngx_del_timer(&rd->silence);
        }
    }

    if (!rd->silence.timer_set) {
        ngx_add_timer(&rd->silence, ngx_octopus_redis_slice(rd));
    }

    if (!rd->expire.timer_set) {
        ngx_add_timer(&rd->expire, bound);
    }

    return cmd;
}


ngx_uint_t
ngx_octopus_redis_error(ngx_octopus_redis_t *rd)
{
    if (rd && rd->cluster) {
        return ngx_octopus_redis_cluster_error(rd->cluster);
    }

    return rd ? rd->error : NGX_OCTOPUS_REDIS_E_DOWN;
}


void
ngx_octopus_redis_cancel(ngx_octopus_redis_cmd_t *cmd)
{
    if (cmd->rd->cluster) {
        /* a cluster command: it starts with the client, as this one */
        ngx_octopus_redis_cluster_cancel(cmd);
        return;
    }

    /* hiredis still owns the callback: the cmd is freed when it runs */

    cmd->done = 1;
    cmd->handler = NULL;

    if (cmd->queued) {
        cmd->queued = 0;
        ngx_queue_remove(&cmd->queue);
    }
}


static void
ngx_octopus_redis_cmd_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_octopus_redis_cmd_t  *cmd = privdata;

    ngx_octopus_redis_t  *rd;

    rd = cmd->rd;
    rd->owed--;

    if (reply != NULL) {
        rd->replies++;

        if (reply->type != REDIS_REPLY_ERROR) {
            rd->backoff = NGX_OCTOPUS_REDIS_BACKOFF_MIN;
        }
    }

    if (cmd->queued) {
        cmd->queued = 0;
        ngx_queue_remove(&cmd->queue);
    }

    if (!cmd->done) {
        cmd->done = 1;

        if (reply == NULL) {
            rd->error = rd->dropping ? rd->dropping
                                     : NGX_OCTOPUS_REDIS_E_LOST;
        }

        cmd->handler(cmd->data, reply);
    }

    ngx_free(cmd);
}


static ngx_msec_t
ngx_octopus_redis_slice(ngx_octopus_redis_t *rd)
{
    ngx_msec_t  slice;

    slice = rd->conf->timeout / NGX_OCTOPUS_REDIS_SLICES;

    return slice ? slice : 1;
}


/*
 * One check of Redis's silence: a reply since the last check, or one read
 * now from the socket, and Redis is alive; "timeout" worth of checks in a
 * row without, and the connection is dropped.
 */

static void
ngx_octopus_redis_silence_handler(ngx_event_t *ev)
{
    ngx_octopus_redis_t  *rd = ev->data;

    ngx_msec_t           slice;
    redisAsyncContext   *ac;

    ac = rd->ac;

    if (ac == NULL || rd->owed == 0) {
        return;
    }

    if (rd->replies == rd->seen) {
        ngx_octopus_redis_read(rd);

        if (rd->ac != ac || rd->owed == 0) {
            return;
        }
    }

    slice = ngx_octopus_redis_slice(rd);

    if (rd->replies != rd->seen) {
        rd->seen = rd->replies;
        rd->silent = 0;

    } else if (++rd->silent * slice >= rd->conf->timeout) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "octopus redis %V: no reply within %M ms, %ui "
                      "commands waiting", &rd->conf->name, rd->conf->timeout,
                      rd->owed);

        ngx_octopus_redis_fail(rd, NGX_OCTOPUS_REDIS_E_TIMEOUT);
        return;
    }

    ngx_add_timer(&rd->silence, slice);
}


/*
 * The oldest commands passed their own bound: each fails alone, the
 * connection stays (Redis is answering, or the silence timer drops it).
 */

static void
ngx_octopus_redis_expire_handler(ngx_event_t *ev)
{
    ngx_octopus_redis_t  *rd = ev->data;

    ngx_uint_t                n;
    ngx_queue_t              *q;
    ngx_octopus_redis_cmd_t  *cmd;

    n = 0;

    while (!ngx_queue_empty(&rd->waiting)) {

        q = ngx_queue_head(&rd->waiting);
        cmd = ngx_queue_data(q, ngx_octopus_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) > 0) {
            ngx_add_timer(&rd->expire, cmd->deadline - ngx_current_msec);
            break;
        }

        if (n++ == 0) {
            /* replies may be waiting in the socket: they come first */

            ngx_octopus_redis_read(rd);
            continue;
        }

        cmd->queued = 0;
        ngx_queue_remove(q);

        cmd->done = 1;
        rd->error = NGX_OCTOPUS_REDIS_E_QUEUE;
        cmd->handler(cmd->data, NULL);
        cmd->handler = NULL;
    }

    /* callers count and report these (a storm would flood the log) */

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "octopus redis %V: %ui commands past their bound",
                   &rd->conf->name, n ? n - 1 : 0);
}


static void
ngx_octopus_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t   *c = ev->data;
    redisAsyncContext  *ac = c->data;

    ngx_octopus_redis_read(ac->data);
}


/*
 * hiredis reads one 16k buffer per call: under a storm the replies of
 * thousands of commands wait in the socket, so read on while it holds
 * more (a bounded number of times: the other events of the loop wait).
 * The context may be gone after any call (a callback dropped it, EOF).
 */

static void
ngx_octopus_redis_read(ngx_octopus_redis_t *rd)
{
    int                 n;
    ngx_uint_t          i;
    redisAsyncContext  *ac;

    ac = rd->ac;

    for (i = 0; ac != NULL && i < NGX_OCTOPUS_REDIS_READS; i++) {

        redisAsyncHandleRead(ac);

        if (rd->ac != ac || ioctl(ac->c.fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }
}


/*
 * Writes are coalesced without epoll: on a connected socket, a command
 * queued by hiredis posts the write event, which nginx runs once after the
 * events of this loop iteration; every command queued meanwhile goes out
 * in that one write(2), with no epoll_ctl() to add and remove EPOLLOUT.
 * Only when the socket is not connected yet (connect(2) in progress:
 * hiredis needs writability to learn the outcome) or a write left bytes
 * behind (EAGAIN) is EPOLLOUT registered for real.
 */

static ngx_uint_t  ngx_octopus_redis_writing;


static void
ngx_octopus_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c = ev->data;
    redisAsyncContext    *ac = c->data;
    ngx_octopus_redis_t  *rd = ac->data;

    ngx_octopus_redis_writing = 1;
    redisAsyncHandleWrite(ac);
    ngx_octopus_redis_writing = 0;

    /*
     * epoll hands out at most "epoll_events" (512) ready sockets per loop
     * iteration, in turn: with thousands of clients ready the Redis socket
     * would be read only every few iterations.  Each iteration that queued
     * commands writes them here, so read the replies here too, when many
     * are owed (a few are no storm: the read would mostly find nothing).
     */

    if (rd->ac == ac && rd->owed >= NGX_OCTOPUS_REDIS_BUSY
        && (ac->c.flags & REDIS_CONNECTED))
    {
        ngx_octopus_redis_read(rd);
    }
}


void
ngx_octopus_redis_ev_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


void
ngx_octopus_redis_ev_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_octopus_redis_add_write(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac = c->data;

    if (c->write->active) {
        return;
    }

    if ((ac->c.flags & REDIS_CONNECTED) && !ngx_octopus_redis_writing) {
        if (!c->write->posted) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return;
    }

    (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
}


void
ngx_octopus_redis_ev_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket itself, after this */

void
ngx_octopus_redis_ev_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_octopus_redis_ev_del_read(c);
    ngx_octopus_redis_ev_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}
