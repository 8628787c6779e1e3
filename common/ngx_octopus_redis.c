
/*
 * Copyright (C) Octopus Guard authors
 *
 * hiredis async on nginx events.  The socket hiredis opens is wrapped in an
 * ngx_connection_t whose read and write events are added level-triggered
 * (hiredis reads at most one buffer per call, so edge-triggered epoll could
 * leave replies unread).  hiredis has no timeouts of its own: the connect
 * and every command carry an nginx timer, and a timeout drops the whole
 * connection, failing every command queued on it, so that a frozen server
 * costs each request at most one timeout.  While the client waits to
 * reconnect, ngx_octopus_redis_send() fails at once and callers apply their
 * failure policy without waiting.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_octopus_common.h"
#include "ngx_octopus_redis.h"
#include "ngx_octopus_redis_reply.h"
#include "ngx_octopus_redis_sentinel.h"


#define NGX_OCTOPUS_REDIS_BACKOFF_MIN  100
#define NGX_OCTOPUS_REDIS_BACKOFF_MAX  2000


struct ngx_octopus_redis_s {
    ngx_octopus_redis_conf_t       *conf;
    ngx_log_t                      *log;
    redisAsyncContext              *ac;
    ngx_event_t                     connect_timer;
    ngx_event_t                     reconnect;
    ngx_msec_t                      backoff;
    ngx_octopus_redis_sentinel_t   *sentinel;
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
    ngx_event_t                     timer;
    unsigned                        done:1;
};


static ngx_int_t ngx_octopus_redis_conf_password(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *password);
static void ngx_octopus_redis_connect(ngx_octopus_redis_t *rd);
static void ngx_octopus_redis_fail(ngx_octopus_redis_t *rd);
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
static void ngx_octopus_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_octopus_redis_read_handler(ngx_event_t *ev);
static void ngx_octopus_redis_write_handler(ngx_event_t *ev);
static void ngx_octopus_redis_add_read(void *privdata);
static void ngx_octopus_redis_del_read(void *privdata);
static void ngx_octopus_redis_add_write(void *privdata);
static void ngx_octopus_redis_del_write(void *privdata);
static void ngx_octopus_redis_cleanup(void *privdata);


void
ngx_octopus_redis_conf_init(ngx_octopus_redis_conf_t *rc)
{
    ngx_memzero(rc, sizeof(ngx_octopus_redis_conf_t));

    rc->port = 6379;
    rc->connect_timeout = 100;
    rc->timeout = 50;
}


/*
 * "host[:port]" (resolved now, at configuration time), "unix:/path", or
 * "sentinel=host[:port],..." (see ngx_octopus_redis_sentinel.h)
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

    if (k.len == 8 && ngx_strncmp(k.data, "sentinel", 8) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": \"sentinel=\" replaces the redis address "
                           "and must come first, in place of \"%V\"",
                           arg, &rc->name);
        return NGX_ERROR;
    }

    if (k.len == 2 && ngx_strncmp(k.data, "db", 2) == 0) {
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

    if (rc->sentinels) {
        /* connects when the sentinels name the primary */
        rd->sentinel = ngx_octopus_redis_sentinel_create(rd, rc, pool, log);
        return rd;
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

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    ac = rd->ac;

    if (ac) {
        rd->ac = NULL;
        redisAsyncFree(ac);
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
    ac->ev.addRead = ngx_octopus_redis_add_read;
    ac->ev.delRead = ngx_octopus_redis_del_read;
    ac->ev.addWrite = ngx_octopus_redis_add_write;
    ac->ev.delWrite = ngx_octopus_redis_del_write;
    ac->ev.cleanup = ngx_octopus_redis_cleanup;

    rd->ac = ac;
    rd->connected = 0;

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


/* drops the connection: every pending command fails */

static void
ngx_octopus_redis_fail(ngx_octopus_redis_t *rd)
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

    redisAsyncFree(ac);
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

    ngx_octopus_redis_fail(rd);
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

        ngx_octopus_redis_fail(rd);
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

    ngx_octopus_redis_fail(rd);
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


ngx_octopus_redis_cmd_t *
ngx_octopus_redis_send(ngx_octopus_redis_t *rd,
    ngx_octopus_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_octopus_redis_cmd_t  *cmd;

    if (rd == NULL || rd->ac == NULL) {
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

    cmd->timer.handler = ngx_octopus_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;

    if (redisAsyncCommandArgv(rd->ac, ngx_octopus_redis_cmd_cb, cmd, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NULL;
    }

    ngx_add_timer(&cmd->timer, rd->conf->timeout);

    return cmd;
}


void
ngx_octopus_redis_cancel(ngx_octopus_redis_cmd_t *cmd)
{
    /* hiredis still owns the callback: the cmd is freed when it runs */

    cmd->done = 1;
    cmd->handler = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static void
ngx_octopus_redis_cmd_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_octopus_redis_cmd_t  *cmd = privdata;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        cmd->rd->backoff = NGX_OCTOPUS_REDIS_BACKOFF_MIN;
    }

    if (!cmd->done) {
        cmd->done = 1;
        cmd->handler(cmd->data, reply);
    }

    ngx_free(cmd);
}


static void
ngx_octopus_redis_cmd_timeout(ngx_event_t *ev)
{
    redisAsyncContext        *ac;
    ngx_octopus_redis_t      *rd;
    ngx_octopus_redis_cmd_t  *cmd;

    cmd = ev->data;
    rd = cmd->rd;
    ac = cmd->ac;

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "octopus redis %V: no reply within %M ms",
                  &rd->conf->name, rd->conf->timeout);

    if (!cmd->done) {
        cmd->done = 1;
        cmd->handler(cmd->data, NULL);
    }

    /* cmd is freed by hiredis when the connection goes */

    if (rd->ac == ac) {
        ngx_octopus_redis_fail(rd);
    }
}


static void
ngx_octopus_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
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
    ngx_connection_t  *c = ev->data;

    ngx_octopus_redis_writing = 1;
    redisAsyncHandleWrite(c->data);
    ngx_octopus_redis_writing = 0;
}


static void
ngx_octopus_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_octopus_redis_del_read(void *privdata)
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


static void
ngx_octopus_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket itself, after this */

static void
ngx_octopus_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_octopus_redis_del_read(c);
    ngx_octopus_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}
