
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redis Sentinel discovery on nginx events (see the header).  The two
 * sentinel connections are hiredis async contexts of their own, with a
 * plain level-triggered nginx glue: they carry a handful of commands, not
 * the request traffic that ngx_octopus_redis.c coalesces.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_octopus_redis.h"
#include "ngx_octopus_redis_reply.h"
#include "ngx_octopus_redis_sentinel.h"


#define NGX_OCTOPUS_SENTINEL_PORT      26379
#define NGX_OCTOPUS_SENTINEL_RETRY     500     /* ms, after a whole round */
#define NGX_OCTOPUS_SENTINEL_REFRESH   5000    /* ms, periodic re-ask */


struct ngx_octopus_redis_sentinel_s {
    ngx_octopus_redis_t            *rd;
    ngx_octopus_redis_conf_t       *conf;
    ngx_log_t                      *log;

    /* SENTINEL get-master-addr-by-name, one connection per question */
    redisAsyncContext              *query;
    ngx_event_t                     query_timer;    /* connect and reply */
    ngx_event_t                     query_retry;    /* next round, refresh */
    ngx_uint_t                      query_next;
    ngx_uint_t                      query_tries;

    /* SUBSCRIBE +switch-master, kept open */
    redisAsyncContext              *sub;
    ngx_event_t                     sub_timer;      /* until subscribed */
    ngx_event_t                     sub_retry;
    ngx_uint_t                      sub_next;
    ngx_uint_t                      sub_tries;

    unsigned                        closing:1;
};


static void ngx_octopus_sentinel_query_start(ngx_octopus_redis_sentinel_t *s);
static void ngx_octopus_sentinel_query_failed(
    ngx_octopus_redis_sentinel_t *s);
static void ngx_octopus_sentinel_query_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_sentinel_query_timeout(ngx_event_t *ev);
static void ngx_octopus_sentinel_query_retry(ngx_event_t *ev);
static void ngx_octopus_sentinel_sub_start(ngx_octopus_redis_sentinel_t *s);
static void ngx_octopus_sentinel_sub_failed(ngx_octopus_redis_sentinel_t *s);
static void ngx_octopus_sentinel_sub_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_sentinel_sub_timeout(ngx_event_t *ev);
static void ngx_octopus_sentinel_sub_retry(ngx_event_t *ev);
static ngx_int_t ngx_octopus_sentinel_primary(ngx_octopus_redis_sentinel_t *s,
    u_char *host, size_t hlen, u_char *port, size_t plen);
static redisAsyncContext *ngx_octopus_sentinel_connect(
    ngx_octopus_redis_sentinel_t *s, ngx_octopus_redis_addr_t *addr);
static void ngx_octopus_sentinel_close(redisAsyncContext *ac);
static void ngx_octopus_sentinel_auth_cb(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_octopus_sentinel_connect_cb(const redisAsyncContext *ac,
    int status);
static void ngx_octopus_sentinel_disconnect_cb(const redisAsyncContext *ac,
    int status);
static void ngx_octopus_sentinel_read_handler(ngx_event_t *ev);
static void ngx_octopus_sentinel_write_handler(ngx_event_t *ev);
static void ngx_octopus_sentinel_add_write(void *privdata);


ngx_int_t
ngx_octopus_redis_sentinel_conf_addresses(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc, ngx_str_t *value)
{
    rc->sentinels = ngx_octopus_redis_conf_addresses(cf, value,
                                                     sizeof("sentinel=") - 1,
                                                     NGX_OCTOPUS_SENTINEL_PORT,
                                                     "sentinel");

    return rc->sentinels ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_octopus_redis_sentinel_conf_check(ngx_conf_t *cf,
    ngx_octopus_redis_conf_t *rc)
{
    if (rc->sentinels && rc->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs \"master=\", the name the sentinels "
                           "monitor", &rc->name);
        return NGX_ERROR;
    }

    if (rc->sentinels == NULL && rc->master.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"master=%V\" needs \"sentinel=\" in place of "
                           "the address \"%V\"", &rc->master, &rc->name);
        return NGX_ERROR;
    }

    if (rc->sentinels == NULL && rc->sentinel_password.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel_password_file=\" needs \"sentinel=\" "
                           "in place of the address \"%V\"", &rc->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_octopus_redis_sentinel_t *
ngx_octopus_redis_sentinel_create(ngx_octopus_redis_t *rd,
    ngx_octopus_redis_conf_t *rc, ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_octopus_redis_sentinel_t  *s;

    s = ngx_pcalloc(pool, sizeof(ngx_octopus_redis_sentinel_t));
    if (s == NULL) {
        return NULL;
    }

    s->rd = rd;
    s->conf = rc;
    s->log = log;

    s->query_timer.handler = ngx_octopus_sentinel_query_timeout;
    s->query_retry.handler = ngx_octopus_sentinel_query_retry;
    s->sub_timer.handler = ngx_octopus_sentinel_sub_timeout;
    s->sub_retry.handler = ngx_octopus_sentinel_sub_retry;

    s->query_timer.data = s;
    s->query_retry.data = s;
    s->sub_timer.data = s;
    s->sub_retry.data = s;

    s->query_timer.log = log;
    s->query_retry.log = log;
    s->sub_timer.log = log;
    s->sub_retry.log = log;

    s->query_timer.cancelable = 1;
    s->query_retry.cancelable = 1;
    s->sub_timer.cancelable = 1;
    s->sub_retry.cancelable = 1;

    /* the workers of one node spread their subscriptions */
    s->sub_next = (ngx_uint_t) ngx_pid % rc->sentinels->nelts;

    ngx_octopus_sentinel_query_start(s);
    ngx_octopus_sentinel_sub_start(s);

    return s;
}


void
ngx_octopus_redis_sentinel_destroy(ngx_octopus_redis_sentinel_t *s)
{
    redisAsyncContext  *ac;

    s->closing = 1;

    if (s->query_timer.timer_set) {
        ngx_del_timer(&s->query_timer);
    }

    if (s->query_retry.timer_set) {
        ngx_del_timer(&s->query_retry);
    }

    if (s->sub_timer.timer_set) {
        ngx_del_timer(&s->sub_timer);
    }

    if (s->sub_retry.timer_set) {
        ngx_del_timer(&s->sub_retry);
    }

    ac = s->query;
    s->query = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ac = s->sub;
    s->sub = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }
}


void
ngx_octopus_redis_sentinel_ask(ngx_octopus_redis_sentinel_t *s)
{
    if (s == NULL || s->closing || s->query) {
        return;
    }

    /* a new question starts a new round */
    s->query_tries = 0;

    ngx_octopus_sentinel_query_start(s);
}


static void
ngx_octopus_sentinel_query_start(ngx_octopus_redis_sentinel_t *s)
{
    const char                *argv[3];
    size_t                     argvlen[3];
    redisAsyncContext         *ac;
    ngx_octopus_redis_addr_t  *addr;

    if (s->closing || s->query) {
        return;
    }

    if (s->query_retry.timer_set) {
        ngx_del_timer(&s->query_retry);
    }

    addr = s->conf->sentinels->elts;
    addr = &addr[s->query_next];

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "octopus redis sentinel %V: asking for \"%V\" (try %ui)",
                   &addr->name, &s->conf->master, s->query_tries + 1);

    ac = ngx_octopus_sentinel_connect(s, addr);
    if (ac == NULL) {
        ngx_octopus_sentinel_query_failed(s);
        return;
    }

    s->query = ac;

    argv[0] = "SENTINEL";
    argvlen[0] = 8;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = 23;
    argv[2] = (const char *) s->conf->master.data;
    argvlen[2] = s->conf->master.len;

    if (redisAsyncCommandArgv(ac, ngx_octopus_sentinel_query_cb, s, 3,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_octopus_sentinel_query_failed(s);
        return;
    }

    ngx_add_timer(&s->query_timer,
                  s->conf->connect_timeout + s->conf->timeout);
}


/* drops the question to this sentinel and asks the next one */

static void
ngx_octopus_sentinel_query_failed(ngx_octopus_redis_sentinel_t *s)
{
    redisAsyncContext  *ac;

    ac = s->query;
    s->query = NULL;

    if (s->query_timer.timer_set) {
        ngx_del_timer(&s->query_timer);
    }

    if (ac) {
        ngx_octopus_sentinel_close(ac);
    }

    if (s->closing) {
        return;
    }

    s->query_next = (s->query_next + 1) % s->conf->sentinels->nelts;

    if (++s->query_tries < s->conf->sentinels->nelts) {
        ngx_octopus_sentinel_query_start(s);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "octopus redis %V: no sentinel named the primary of "
                  "\"%V\", asking again in %M ms", &s->conf->name,
                  &s->conf->master, (ngx_msec_t) NGX_OCTOPUS_SENTINEL_RETRY);

    s->query_tries = 0;

    if (!s->query_retry.timer_set) {
        ngx_add_timer(&s->query_retry, NGX_OCTOPUS_SENTINEL_RETRY);
    }
}


static void
ngx_octopus_sentinel_query_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                    *reply = r;
    redisReply                    *host, *port;
    ngx_octopus_redis_addr_t      *addr;
    ngx_octopus_redis_sentinel_t  *s = privdata;

    if (s->query != ac) {
        return;
    }

    addr = s->conf->sentinels->elts;
    addr = &addr[s->query_next];

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "octopus redis sentinel %V: no answer%s%s",
                      &addr->name, ac->err ? ": " : "",
                      ac->err ? ac->errstr : "");
        ngx_octopus_sentinel_query_failed(s);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "octopus redis sentinel %V: %*s", &addr->name,
                      (size_t) ngx_min(reply->len, 128), reply->str);
        ngx_octopus_sentinel_query_failed(s);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "octopus redis sentinel %V: does not know the master "
                      "\"%V\"", &addr->name, &s->conf->master);
        ngx_octopus_sentinel_query_failed(s);
        return;
    }

    host = reply->element[0];
    port = reply->element[1];

    if (ngx_octopus_sentinel_primary(s, (u_char *) host->str, host->len,
                                     (u_char *) port->str, port->len)
        != NGX_OK)
    {
        ngx_octopus_sentinel_query_failed(s);
        return;
    }

    /* answered: this sentinel is asked first next time */

    s->query = NULL;
    s->query_tries = 0;

    if (s->query_timer.timer_set) {
        ngx_del_timer(&s->query_timer);
    }

    ngx_octopus_sentinel_close(ac);

    if (!s->closing && !s->query_retry.timer_set) {
        ngx_add_timer(&s->query_retry, NGX_OCTOPUS_SENTINEL_REFRESH);
    }
}


static void
ngx_octopus_sentinel_query_timeout(ngx_event_t *ev)
{
    ngx_octopus_redis_addr_t      *addr;
    ngx_octopus_redis_sentinel_t  *s = ev->data;

    addr = s->conf->sentinels->elts;

    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "octopus redis sentinel %V: no answer within %M ms",
                  &addr[s->query_next].name,
                  s->conf->connect_timeout + s->conf->timeout);

    ngx_octopus_sentinel_query_failed(s);
}


static void
ngx_octopus_sentinel_query_retry(ngx_event_t *ev)
{
    ngx_octopus_redis_sentinel_t  *s = ev->data;

    ngx_octopus_redis_sentinel_ask(s);
}


static void
ngx_octopus_sentinel_sub_start(ngx_octopus_redis_sentinel_t *s)
{
    const char                *argv[2];
    size_t                     argvlen[2];
    redisAsyncContext         *ac;
    ngx_octopus_redis_addr_t  *addr;

    if (s->closing || s->sub) {
        return;
    }

    addr = s->conf->sentinels->elts;
    addr = &addr[s->sub_next];

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "octopus redis sentinel %V: subscribing", &addr->name);

    ac = ngx_octopus_sentinel_connect(s, addr);
    if (ac == NULL) {
        ngx_octopus_sentinel_sub_failed(s);
        return;
    }

    s->sub = ac;

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = "+switch-master";
    argvlen[1] = 14;

    if (redisAsyncCommandArgv(ac, ngx_octopus_sentinel_sub_cb, s, 2,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_octopus_sentinel_sub_failed(s);
        return;
    }

    ngx_add_timer(&s->sub_timer, s->conf->connect_timeout + s->conf->timeout);
}


static void
ngx_octopus_sentinel_sub_failed(ngx_octopus_redis_sentinel_t *s)
{
    ngx_msec_t          delay;
    redisAsyncContext  *ac;

    ac = s->sub;
    s->sub = NULL;

    if (s->sub_timer.timer_set) {
        ngx_del_timer(&s->sub_timer);
    }

    if (ac) {
        ngx_octopus_sentinel_close(ac);
    }

    if (s->closing || s->sub_retry.timer_set) {
        return;
    }

    s->sub_next = (s->sub_next + 1) % s->conf->sentinels->nelts;

    /* the next sentinel soon, a whole round later */

    if (++s->sub_tries < s->conf->sentinels->nelts) {
        delay = 1;

    } else {
        s->sub_tries = 0;
        delay = NGX_OCTOPUS_SENTINEL_RETRY;
    }

    ngx_add_timer(&s->sub_retry, delay);
}


/*
 * ["subscribe", "+switch-master", n], then
 * ["message", "+switch-master", "<name> <old ip> <old port> <ip> <port>"]
 */

static void
ngx_octopus_sentinel_sub_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    u_char                        *p, *last, *field[5];
    size_t                         len[5];
    ngx_uint_t                     n;
    redisReply                    *reply = r;
    redisReply                    *kind, *msg;
    ngx_octopus_redis_addr_t      *addr;
    ngx_octopus_redis_sentinel_t  *s = privdata;

    if (s->sub != ac || reply == NULL) {
        /* the connection went: its disconnect callback follows */
        return;
    }

    addr = s->conf->sentinels->elts;
    addr = &addr[s->sub_next];

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "octopus redis sentinel %V: unexpected reply to "
                      "SUBSCRIBE", &addr->name);
        ngx_octopus_sentinel_sub_failed(s);
        return;
    }

    kind = reply->element[0];
    msg = reply->element[2];

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        if (s->sub_timer.timer_set) {
            ngx_del_timer(&s->sub_timer);
        }

        s->sub_tries = 0;

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->log, 0,
                       "octopus redis sentinel %V: subscribed to "
                       "+switch-master", &addr->name);

        /* a switch may have happened while nobody listened */
        ngx_octopus_redis_sentinel_ask(s);
        return;
    }

    if (kind->len != 7 || ngx_strncmp(kind->str, "message", 7) != 0
        || msg->type != REDIS_REPLY_STRING)
    {
        return;
    }

    p = (u_char *) msg->str;
    last = p + msg->len;

    for (n = 0; n < 5; n++) {
        while (p < last && *p == ' ') {
            p++;
        }

        field[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - field[n];

        if (len[n] == 0) {
            ngx_log_error(NGX_LOG_WARN, s->log, 0,
                          "octopus redis sentinel %V: malformed "
                          "+switch-master \"%*s\"", &addr->name,
                          (size_t) ngx_min(msg->len, 128), msg->str);
            return;
        }
    }

    if (len[0] != s->conf->master.len
        || ngx_strncmp(field[0], s->conf->master.data, len[0]) != 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                  "octopus redis sentinel %V: +switch-master %*s",
                  &addr->name, (size_t) ngx_min(msg->len, 256), msg->str);

    (void) ngx_octopus_sentinel_primary(s, field[3], len[3], field[4],
                                        len[4]);
}


static void
ngx_octopus_sentinel_sub_timeout(ngx_event_t *ev)
{
    ngx_octopus_redis_addr_t      *addr;
    ngx_octopus_redis_sentinel_t  *s = ev->data;

    addr = s->conf->sentinels->elts;

    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "octopus redis sentinel %V: not subscribed within %M ms",
                  &addr[s->sub_next].name,
                  s->conf->connect_timeout + s->conf->timeout);

    ngx_octopus_sentinel_sub_failed(s);
}


static void
ngx_octopus_sentinel_sub_retry(ngx_event_t *ev)
{
    ngx_octopus_redis_sentinel_t  *s = ev->data;

    ngx_octopus_sentinel_sub_start(s);
}


/* the address a sentinel announced: numeric only, never resolved here */

static ngx_int_t
ngx_octopus_sentinel_primary(ngx_octopus_redis_sentinel_t *s, u_char *host,
    size_t hlen, u_char *port, size_t plen)
{
    ngx_int_t  n;
#if (NGX_HAVE_INET6)
    u_char     buf[16];
#endif

    n = ngx_atoi(port, plen);

    if (n < 1 || n > 65535 || hlen == 0 || hlen > NGX_SOCKADDR_STRLEN) {
        goto invalid;
    }

    if (ngx_inet_addr(host, hlen) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(host, hlen, buf) != NGX_OK
#endif
        )
    {
        goto invalid;
    }

    ngx_octopus_redis_set_primary(s->rd, host, hlen, n);

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "octopus redis %V: the sentinels announce \"%*s\" port "
                  "\"%*s\" for \"%V\", not a numeric address: skipped "
                  "(names are not resolved in a worker)", &s->conf->name,
                  ngx_min(hlen, 256), host, ngx_min(plen, 16), port,
                  &s->conf->master);

    return NGX_DECLINED;
}


static redisAsyncContext *
ngx_octopus_sentinel_connect(ngx_octopus_redis_sentinel_t *s,
    ngx_octopus_redis_addr_t *addr)
{
    const char         *argv[2];
    size_t              argvlen[2];
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    ac = redisAsyncConnect((char *) addr->host.data, (int) addr->port);

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "octopus redis sentinel %V: out of memory",
                      &addr->name);
        return NULL;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "octopus redis sentinel %V: connect failed: %s",
                      &addr->name, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    ac->c.reader->fn = ngx_octopus_redis_reply_functions();

    c = ngx_get_connection(ac->c.fd, s->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_octopus_sentinel_read_handler;
    c->write->handler = ngx_octopus_sentinel_write_handler;
    c->read->log = s->log;
    c->write->log = s->log;

    ac->data = s;
    ac->ev.data = c;
    ac->ev.addRead = ngx_octopus_redis_ev_add_read;
    ac->ev.delRead = ngx_octopus_redis_ev_del_read;
    ac->ev.addWrite = ngx_octopus_sentinel_add_write;
    ac->ev.delWrite = ngx_octopus_redis_ev_del_write;
    ac->ev.cleanup = ngx_octopus_redis_ev_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_octopus_sentinel_connect_cb);
    redisAsyncSetDisconnectCallback(ac, ngx_octopus_sentinel_disconnect_cb);

    if (s->conf->sentinel_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) s->conf->sentinel_password.data;
        argvlen[1] = s->conf->sentinel_password.len;

        redisAsyncCommandArgv(ac, ngx_octopus_sentinel_auth_cb, NULL, 2,
                              argv, argvlen);
    }

    return ac;
}


/* the callbacks of a context being closed see s->query and s->sub moved */

static void
ngx_octopus_sentinel_close(redisAsyncContext *ac)
{
    redisAsyncFree(ac);
}


/* the password never reaches the log */

static void
ngx_octopus_sentinel_auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                    *reply = r;
    ngx_octopus_redis_sentinel_t  *s = ac->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "octopus redis sentinel: AUTH refused: %*s",
                  (size_t) ngx_min(reply->len, 128), reply->str);

    if (s->query == ac) {
        ngx_octopus_sentinel_query_failed(s);

    } else if (s->sub == ac) {
        ngx_octopus_sentinel_sub_failed(s);
    }
}


static void
ngx_octopus_sentinel_connect_cb(const redisAsyncContext *ac, int status)
{
    ngx_octopus_redis_sentinel_t  *s = ac->data;

    if (status == REDIS_OK) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "octopus redis sentinel %s:%d: connect failed: %s",
                  ac->c.tcp.host ? ac->c.tcp.host : "", ac->c.tcp.port,
                  ac->errstr);

    /* hiredis frees the context when this returns */

    if (s->query == ac) {
        s->query = NULL;
        ngx_octopus_sentinel_query_failed(s);

    } else if (s->sub == ac) {
        s->sub = NULL;
        ngx_octopus_sentinel_sub_failed(s);
    }
}


static void
ngx_octopus_sentinel_disconnect_cb(const redisAsyncContext *ac, int status)
{
    ngx_octopus_redis_sentinel_t  *s = ac->data;

    if (s->query == ac) {
        s->query = NULL;
        ngx_octopus_sentinel_query_failed(s);

    } else if (s->sub == ac) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "octopus redis sentinel %s:%d: subscription lost%s%s",
                      ac->c.tcp.host ? ac->c.tcp.host : "", ac->c.tcp.port,
                      ac->err ? ": " : "", ac->err ? ac->errstr : "");
        s->sub = NULL;
        ngx_octopus_sentinel_sub_failed(s);
    }
}


static void
ngx_octopus_sentinel_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_octopus_sentinel_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_octopus_sentinel_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}
