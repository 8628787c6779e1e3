
/*
 * Copyright (C) Octopus Guard authors
 *
 * Keys from a URL (octopus_auth_jwks_url, octopus_auth_oidc_issuer).
 *
 * A worker-level HTTPS client on nginx's event loop, in the manner of the
 * OCSP stapling client (ngx_event_openssl_stapling.c): its own pool and
 * log action, ngx_event_connect_peer(), ngx_ssl for TLS with the
 * certificate checked against the configured CA file and the host name,
 * one timer over every exchange, the response capped.  The host is
 * resolved when the configuration is read (as proxy_pass does).
 *
 * Every worker runs a tick; under the zone's mutex the worker whose tick
 * finds a fetch due takes a lease and fetches, so one fetch runs per node.
 * A good document goes into shared memory with a new generation; every
 * worker re-parses it with ngx_octopus_jwks_parse() (the fuzzed parser of
 * octopus_auth_jwks) into the key slots reserved at the end of the key
 * table when it sees a new generation (on its tick and before each
 * verification); the shared verification cache honours only entries
 * verified under the worker's generation (ngx_octopus_auth_keys_generation,
 * mixed into the policy's by the handler).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/random.h>

#include <jansson.h>

#include "ngx_octopus_auth.h"
#include "ngx_octopus_auth_jwks_url.h"
#include "ngx_octopus_auth_jwks_http.h"


#define NGX_OCTOPUS_JWKS_URL_MAX_DOC      (128 * 1024)
#define NGX_OCTOPUS_JWKS_URL_MAX_HEADER   NGX_OCTOPUS_JWKS_HTTP_MAX_HEADER
#define NGX_OCTOPUS_JWKS_URL_MAX_URL      (NGX_OCTOPUS_JWKS_HTTP_MAX_URL + 1)
#define NGX_OCTOPUS_JWKS_URL_MAX_KEYS     32
#define NGX_OCTOPUS_JWKS_URL_KID_EVERY    30       /* s, unknown-kid fetch */
#define NGX_OCTOPUS_JWKS_URL_RETRY_MAX    30       /* s, after an error */
#define NGX_OCTOPUS_JWKS_URL_MAX_AGE_MIN  30       /* s, max-age honoured */
#define NGX_OCTOPUS_JWKS_URL_TICK         500      /* ms */
#define NGX_OCTOPUS_JWKS_URL_CA           "/etc/ssl/certs/ca-certificates.crt"


/* in the shared zone; doc and the times under the slab mutex */

typedef struct {
    ngx_atomic_t                  generation;
    time_t                        fetched;      /* last good fetch, 0: none */
    time_t                        next;         /* next fetch due */
    time_t                        lease;        /* a fetch runs until */
    time_t                        kid_fetch;    /* last unknown-kid fetch */
    time_t                        err_logged;
    ngx_atomic_t                  fetches;
    ngx_atomic_t                  errors;
    ngx_atomic_t                  nkeys;
    size_t                        url_len;
    u_char                        url[NGX_OCTOPUS_JWKS_URL_MAX_URL];
    size_t                        len;          /* 0: no key set */
    u_char                        doc[NGX_OCTOPUS_JWKS_URL_MAX_DOC];
} ngx_octopus_auth_jwks_sh_t;


typedef struct ngx_octopus_auth_jwks_fetch_s  ngx_octopus_auth_jwks_fetch_t;


struct ngx_octopus_auth_jwks_url_s {
    ngx_str_t                     url;          /* jwks_url, or empty */
    ngx_str_t                     issuer;       /* NUL-terminated, or empty */
    ngx_str_t                     source;       /* the one fetched first */
    ngx_str_t                     host;         /* NUL-terminated */
    ngx_str_t                     authority;    /* host[:port] */
    in_port_t                     port;
    ngx_str_t                     path;         /* of the first request */
    ngx_addr_t                   *addrs;
    ngx_uint_t                    naddrs;

    time_t                        refresh;
    time_t                        max_stale;
    ngx_msec_t                    timeout;
    ngx_str_t                     ca;
    u_char                       *file;         /* of the last directive */
    ngx_uint_t                    line;

    ngx_ssl_t                    *ssl;
    ngx_shm_zone_t               *zone;
    ngx_array_t                  *keys;         /* amcf->keys */
    ngx_uint_t                    nstatic;      /* keys before the slots */

    ngx_slab_pool_t              *shpool;
    ngx_octopus_auth_jwks_sh_t   *sh;

    /* the worker's */
    ngx_uint_t                    installed;    /* generation in the slots */
    ngx_uint_t                    nused;
    ngx_octopus_jwt_key_t        *tmp;          /* MAX_KEYS */
    u_char                       *buf;          /* MAX_DOC */
    ngx_event_t                   tick;
    ngx_octopus_auth_jwks_fetch_t  *fetch;
    ngx_log_t                    *log;
};


struct ngx_octopus_auth_jwks_fetch_s {
    ngx_octopus_auth_jwks_url_t  *u;
    ngx_pool_t                   *pool;
    ngx_log_t                    *log;
    ngx_peer_connection_t         peer;
    ngx_event_t                   timer;
    ngx_str_t                     path;
    ngx_buf_t                    *request;
    ngx_buf_t                    *response;
    time_t                        max_age;      /* -1: none */
    ngx_uint_t                    naddr;        /* the address tried */
    unsigned                      discovery:1;
};


/* a parse of a document into keys (ngx_octopus_jwks_parse's callback) */

typedef struct {
    ngx_octopus_jwt_key_t        *keys;
    ngx_uint_t                    n;
    const char                   *reason;
} ngx_octopus_auth_jwks_load_t;


static ngx_int_t ngx_octopus_auth_jwks_url_split(ngx_str_t *url,
    ngx_str_t *authority, ngx_str_t *path, const char **reason);
static ngx_int_t ngx_octopus_auth_jwks_url_zone_init(ngx_shm_zone_t *zone,
    void *data);
static int ngx_octopus_auth_jwks_load_add(void *data,
    const ngx_octopus_jwt_key_t *key);
static ngx_int_t ngx_octopus_auth_jwks_load(u_char *doc, size_t len,
    ngx_octopus_jwt_key_t *keys, ngx_uint_t *n, char *err, size_t err_len);
static void ngx_octopus_auth_jwks_release(ngx_octopus_jwt_key_t *keys,
    ngx_uint_t n);
static void ngx_octopus_auth_jwks_tick(ngx_event_t *ev);
static void ngx_octopus_auth_jwks_try(ngx_octopus_auth_jwks_url_t *u,
    ngx_uint_t kid);
static void ngx_octopus_auth_jwks_start(ngx_octopus_auth_jwks_url_t *u);
static void ngx_octopus_auth_jwks_connect(ngx_octopus_auth_jwks_fetch_t *f);
static void ngx_octopus_auth_jwks_next(ngx_octopus_auth_jwks_fetch_t *f);
static void ngx_octopus_auth_jwks_close(ngx_octopus_auth_jwks_fetch_t *f);
static void ngx_octopus_auth_jwks_done(ngx_octopus_auth_jwks_fetch_t *f,
    const char *err, u_char *doc, size_t len);
static void ngx_octopus_auth_jwks_timeout(ngx_event_t *ev);
static void ngx_octopus_auth_jwks_connected(ngx_event_t *wev);
static void ngx_octopus_auth_jwks_handshake(ngx_connection_t *c);
static void ngx_octopus_auth_jwks_write(ngx_event_t *wev);
static void ngx_octopus_auth_jwks_read(ngx_event_t *rev);
static void ngx_octopus_auth_jwks_dummy(ngx_event_t *ev);
static ngx_int_t ngx_octopus_auth_jwks_response(
    ngx_octopus_auth_jwks_fetch_t *f, ngx_uint_t eof, ngx_str_t *body,
    const char **err);
static void ngx_octopus_auth_jwks_process(ngx_octopus_auth_jwks_fetch_t *f,
    ngx_str_t *body);
static u_char *ngx_octopus_auth_jwks_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static void ngx_octopus_auth_jwks_url_wake(ngx_http_request_t *r);


/* configuration */


/* https://authority[/path]: authority and path point into url */

static ngx_int_t
ngx_octopus_auth_jwks_url_split(ngx_str_t *url, ngx_str_t *authority,
    ngx_str_t *path, const char **reason)
{
    ngx_octopus_jwks_http_url_t  parts;

    if (ngx_octopus_jwks_http_url((char *) url->data, url->len, &parts,
                                  reason)
        != 0)
    {
        return NGX_ERROR;
    }

    authority->data = (u_char *) parts.authority;
    authority->len = parts.authority_len;
    path->data = (u_char *) parts.path;
    path->len = parts.path_len;

    return NGX_OK;
}


char *
ngx_octopus_auth_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_auth_main_conf_t  *amcf = conf;

    u_char                       *p;
    ngx_int_t                     n;
    ngx_str_t                    *value, k, v, authority, path;
    ngx_uint_t                    i, issuer;
    const char                   *reason;
    ngx_octopus_auth_jwks_url_t  *u;

    value = cf->args->elts;
    issuer = (cmd->name.len == sizeof("octopus_auth_oidc_issuer") - 1);

    u = amcf->jwks_url;

    if (u == NULL) {
        u = ngx_pcalloc(cf->pool, sizeof(ngx_octopus_auth_jwks_url_t));
        if (u == NULL) {
            return NGX_CONF_ERROR;
        }

        /*
         * set by ngx_pcalloc():
         *
         *     u->url = { 0, NULL };
         *     u->issuer = { 0, NULL };
         *     u->ca = { 0, NULL };
         *     u->sh = NULL;
         *     u->fetch = NULL;
         */

        u->refresh = NGX_CONF_UNSET;
        u->max_stale = NGX_CONF_UNSET;
        u->timeout = NGX_CONF_UNSET_MSEC;

        amcf->jwks_url = u;
    }

    if ((issuer && u->issuer.len) || (!issuer && u->url.len)) {
        return "is duplicate";
    }

    if (ngx_octopus_auth_jwks_url_split(&value[1], &authority, &path,
                                        &reason)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" URL \"%V\": %s", &cmd->name,
                           &value[1], reason);
        return NGX_CONF_ERROR;
    }

    if (issuer) {
        if (ngx_strlchr(path.data, path.data + path.len, '?')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" URL \"%V\": an issuer has no "
                               "query", &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        u->issuer = value[1];      /* NUL-terminated: the argument's end */

    } else {
        u->url = value[1];
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_octopus_parse_kv(&value[i], &k, &v) != NGX_OK || v.len == 0) {
            goto invalid;
        }

        if (k.len == 7 && ngx_strncmp(k.data, "refresh", 7) == 0
            && u->refresh == NGX_CONF_UNSET)
        {
            u->refresh = ngx_parse_time(&v, 1);

            if (u->refresh == (time_t) NGX_ERROR || u->refresh < 1
                || u->refresh > 7 * 86400)
            {
                goto invalid;
            }

            continue;
        }

        if (k.len == 9 && ngx_strncmp(k.data, "max_stale", 9) == 0
            && u->max_stale == NGX_CONF_UNSET)
        {
            u->max_stale = ngx_parse_time(&v, 1);

            if (u->max_stale == (time_t) NGX_ERROR || u->max_stale < 1
                || u->max_stale > 365 * 86400)
            {
                goto invalid;
            }

            continue;
        }

        if (k.len == 7 && ngx_strncmp(k.data, "timeout", 7) == 0
            && u->timeout == NGX_CONF_UNSET_MSEC)
        {
            n = ngx_parse_time(&v, 0);

            if (n == NGX_ERROR || n < 1 || n > 60000) {
                goto invalid;
            }

            u->timeout = (ngx_msec_t) n;
            continue;
        }

        if (k.len == 2 && ngx_strncmp(k.data, "ca", 2) == 0
            && u->ca.len == 0)
        {
            u->ca = v;
            continue;
        }

        goto invalid;
    }

    /* the first URL fetched decides the host (jwks_url wins) */

    if (u->url.len) {
        if (ngx_octopus_auth_jwks_url_split(&u->url, &authority, &path,
                                            &reason)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        u->source = u->url;
        u->path = path;

    } else {
        u->source = u->issuer;

        /* issuer + "/.well-known/openid-configuration" */

        n = path.len;
        if (path.data[n - 1] == '/') {
            n--;
        }

        p = ngx_pnalloc(cf->pool, n + sizeof("/.well-known/openid-"
                                             "configuration") - 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        u->path.data = p;
        p = ngx_cpymem(p, path.data, n);
        p = ngx_cpymem(p, "/.well-known/openid-configuration",
                       sizeof("/.well-known/openid-configuration") - 1);
        u->path.len = p - u->path.data;
    }

    u->authority = authority;
    u->file = cf->conf_file->file.name.data;
    u->line = cf->conf_file->line;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"%V\" parameter \"%V\": refresh=time "
                       "(1s to 7d), timeout=time (1ms to 60s), "
                       "max_stale=time (1s to 365d), ca=file, each once",
                       &cmd->name, &value[i]);
    return NGX_CONF_ERROR;
}


ngx_str_t *
ngx_octopus_auth_jwks_url_issuer(ngx_octopus_auth_jwks_url_t *u)
{
    return (u && u->issuer.len) ? &u->issuer : NULL;
}


ngx_int_t
ngx_octopus_auth_jwks_url_init_conf(ngx_conf_t *cf,
    ngx_octopus_auth_jwks_url_t *u, ngx_array_t *keys)
{
    u_char                 *p;
    size_t                  size;
    ngx_url_t               url;
    ngx_str_t               name;
    ngx_uint_t              i;
    ngx_pool_cleanup_t     *cln;
    ngx_octopus_jwt_key_t  *k;

    ngx_conf_init_value(u->refresh, 600);
    ngx_conf_init_value(u->max_stale, 86400);
    ngx_conf_init_msec_value(u->timeout, 5000);

    if (u->ca.len == 0) {
        ngx_str_set(&u->ca, NGX_OCTOPUS_JWKS_URL_CA);
    }

    if (u->max_stale < u->refresh) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %s:%ui: max_stale (%T s) shorter than "
                      "refresh (%T s): the key set would expire between "
                      "two fetches", &u->source, u->file, u->line,
                      u->max_stale, u->refresh);
        return NGX_ERROR;
    }

    /* the host, resolved now (as proxy_pass does): no resolver at run time */

    ngx_memzero(&url, sizeof(ngx_url_t));

    url.url = u->authority;
    url.default_port = 443;
    url.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &url) != NGX_OK || url.naddrs == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %s:%ui: %s in \"%V\"",
                      &u->source, u->file, u->line,
                      url.err ? url.err : "host not found", &u->authority);
        return NGX_ERROR;
    }

    if (url.uri.len) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %s:%ui: invalid host \"%V\"", &u->source,
                      u->file, u->line, &u->authority);
        return NGX_ERROR;
    }

    u->addrs = url.addrs;
    u->naddrs = url.naddrs;
    u->port = url.port;

    /* the name for SNI and the certificate check: the host without [] */

    name = url.host;

    if (name.len > 2 && name.data[0] == '[') {
        name.data++;
        name.len -= 2;
    }

    p = ngx_pnalloc(cf->pool, name.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, name.data, name.len + 1);
    u->host.data = p;
    u->host.len = name.len;

    /* TLS: 1.2 and 1.3, the peer checked against the CA file */

    u->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (u->ssl == NULL) {
        return NGX_ERROR;
    }

    u->ssl->log = cf->log;

    if (ngx_ssl_create(u->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(u->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = u->ssl;

    if (ngx_ssl_trusted_certificate(cf, u->ssl, &u->ca, 5) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %s:%ui: cannot load the CA file \"%V\"",
                      &u->source, u->file, u->line, &u->ca);
        return NGX_ERROR;
    }

    /* the slots of the fetched keys, inert while empty (alg none, no kid) */

    u->keys = keys;
    u->nstatic = keys->nelts;

    for (i = 0; i < NGX_OCTOPUS_JWKS_URL_MAX_KEYS; i++) {
        k = ngx_array_push(keys);
        if (k == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(k, sizeof(ngx_octopus_jwt_key_t));
    }

    /* one zone a configuration; its document kept over a reload */

    ngx_str_set(&name, "octopus_auth_jwks");

    size = ngx_align(sizeof(ngx_octopus_auth_jwks_sh_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    u->zone = ngx_shared_memory_add(cf, &name, size,
                                    &ngx_octopus_auth_module);
    if (u->zone == NULL) {
        return NGX_ERROR;
    }

    u->zone->init = ngx_octopus_auth_jwks_url_zone_init;
    u->zone->data = u;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_auth_jwks_url_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_octopus_auth_jwks_url_t  *ou = data;

    size_t                        len;
    ngx_slab_pool_t              *shpool;
    ngx_octopus_auth_jwks_sh_t   *sh;
    ngx_octopus_auth_jwks_url_t  *u;

    u = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    len = u->source.len;

    if (ou) {
        /* a reload: the old document is kept when it is from the same URL */

        u->shpool = ou->shpool;
        u->sh = ou->sh;
        sh = u->sh;

        ngx_shmtx_lock(&shpool->mutex);

        if (sh->url_len != len || ngx_memcmp(sh->url, u->source.data, len)) {
            sh->len = 0;
            sh->fetched = 0;
            sh->nkeys = 0;
            sh->generation++;
            sh->url_len = len;
            ngx_memcpy(sh->url, u->source.data, len);
        }

        sh->next = 0;
        sh->lease = 0;
        sh->err_logged = 0;

        ngx_shmtx_unlock(&shpool->mutex);

        return NGX_OK;
    }

    u->shpool = shpool;

    if (zone->shm.exists) {
        u->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_octopus_auth_jwks_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_octopus_auth_jwks_sh_t));

    /*
     * a new zone does not count from 0: a generation number seen with an
     * earlier zone (a cache that outlived it) is not reused by this one
     */

    sh->generation = (ngx_atomic_uint_t) ngx_time() << 20;

    sh->url_len = len;
    ngx_memcpy(sh->url, u->source.data, len);

    shpool->data = sh;
    u->sh = sh;

    shpool->log_ctx = ngx_slab_alloc(shpool, sizeof(" in the \"\" zone")
                                             + zone->shm.name.len);
    if (shpool->log_ctx) {
        ngx_sprintf(shpool->log_ctx, " in the \"%V\" zone%Z",
                    &zone->shm.name);
    }

    return NGX_OK;
}


/* a document into keys: the rules of a fetched set on top of the parser */

static int
ngx_octopus_auth_jwks_load_add(void *data, const ngx_octopus_jwt_key_t *key)
{
    ngx_octopus_auth_jwks_load_t  *ld = data;

    size_t                  len;
    ngx_uint_t              i;
    ngx_octopus_jwt_key_t  *k;

    if (key->secret) {
        /* a JWKS served over HTTP is public: a secret in it is anyone's */
        ld->reason = "a symmetric (\"oct\") key in a fetched JWKS";
        return -1;
    }

    if (ld->n == NGX_OCTOPUS_JWKS_URL_MAX_KEYS) {
        ld->reason = "more than 32 signature keys";
        return -1;
    }

    for (i = 0; key->kid && i < ld->n; i++) {
        if (ld->keys[i].kid && ngx_strcmp(ld->keys[i].kid, key->kid) == 0) {
            ld->reason = "a duplicate \"kid\"";
            return -1;
        }
    }

    k = &ld->keys[ld->n];
    *k = *key;
    k->kid = NULL;

    if (key->kid) {
        len = ngx_strlen(key->kid) + 1;

        k->kid = ngx_alloc(len, ngx_cycle->log);
        if (k->kid == NULL) {
            ngx_memzero(k, sizeof(ngx_octopus_jwt_key_t));
            ld->reason = "no memory";
            return -1;
        }

        ngx_memcpy((char *) k->kid, key->kid, len);
    }

    if (ngx_octopus_jwt_key_prepare(k) != 0) {
        /* the parser frees the pkey of a key it could not add */
        k->pkey = NULL;
        ngx_octopus_jwt_key_release(k);
        ngx_free((char *) k->kid);
        ngx_memzero(k, sizeof(ngx_octopus_jwt_key_t));
        ld->reason = "cannot prepare the key";
        return -1;
    }

    ld->n++;

    return 0;
}


static ngx_int_t
ngx_octopus_auth_jwks_load(u_char *doc, size_t len,
    ngx_octopus_jwt_key_t *keys, ngx_uint_t *n, char *err, size_t err_len)
{
    ngx_octopus_auth_jwks_load_t  ld;

    ld.keys = keys;
    ld.n = 0;
    ld.reason = NULL;

    if (ngx_octopus_jwks_parse((char *) doc, len,
                               ngx_octopus_auth_jwks_load_add, &ld,
                               err, err_len)
        != 0)
    {
        if (ld.reason) {
            ngx_cpystrn((u_char *) err, (u_char *) ld.reason, err_len);
        }

        ngx_octopus_auth_jwks_release(keys, ld.n);
        return NGX_ERROR;
    }

    *n = ld.n;

    return NGX_OK;
}


static void
ngx_octopus_auth_jwks_release(ngx_octopus_jwt_key_t *keys, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        ngx_octopus_jwt_key_release(&keys[i]);
        ngx_free((char *) keys[i].kid);
        ngx_memzero(&keys[i], sizeof(ngx_octopus_jwt_key_t));
    }
}


/* the worker side */


ngx_int_t
ngx_octopus_auth_jwks_url_init_process(ngx_cycle_t *cycle,
    ngx_octopus_auth_jwks_url_t *u)
{
    u->tmp = ngx_calloc(NGX_OCTOPUS_JWKS_URL_MAX_KEYS
                        * sizeof(ngx_octopus_jwt_key_t), cycle->log);
    u->buf = ngx_alloc(NGX_OCTOPUS_JWKS_URL_MAX_DOC, cycle->log);

    if (u->tmp == NULL || u->buf == NULL) {
        return NGX_ERROR;
    }

    u->log = cycle->log;
    u->installed = 0;
    u->nused = 0;

    u->tick.handler = ngx_octopus_auth_jwks_tick;
    u->tick.data = u;
    u->tick.log = cycle->log;
    u->tick.cancelable = 1;

    /* the first tick at once: a fetch at start */

    ngx_add_timer(&u->tick, 1);

    return NGX_OK;
}


void
ngx_octopus_auth_jwks_url_exit_process(ngx_octopus_auth_jwks_url_t *u)
{
    ngx_pool_t  *pool;

    if (u->fetch) {
        pool = u->fetch->pool;
        ngx_octopus_auth_jwks_close(u->fetch);
        ngx_destroy_pool(pool);

        ngx_shmtx_lock(&u->shpool->mutex);
        u->sh->lease = 0;
        ngx_shmtx_unlock(&u->shpool->mutex);
    }

    if (u->tick.timer_set) {
        ngx_del_timer(&u->tick);
    }

    if (u->tmp) {
        ngx_octopus_auth_jwks_release(
            (ngx_octopus_jwt_key_t *) u->keys->elts + u->nstatic, u->nused);
        u->nused = 0;
    }

    ngx_free(u->tmp);
    ngx_free(u->buf);
    u->tmp = NULL;
    u->buf = NULL;
}


static void
ngx_octopus_auth_jwks_tick(ngx_event_t *ev)
{
    ngx_octopus_auth_jwks_url_t  *u = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_octopus_auth_jwks_url_sync(u, ev->log);
    ngx_octopus_auth_jwks_try(u, 0);

    ngx_add_timer(ev, NGX_OCTOPUS_JWKS_URL_TICK);
}


void
ngx_octopus_auth_jwks_url_sync(ngx_octopus_auth_jwks_url_t *u, ngx_log_t *log)
{
    char                         err[256];
    size_t                       len;
    time_t                       now;
    ngx_uint_t                   gen, n, dropped;
    ngx_octopus_jwt_key_t       *slots;
    ngx_octopus_auth_jwks_sh_t  *sh;

    sh = u->sh;

    if (u->tmp == NULL) {
        return;
    }

    now = ngx_time();

    /* past max_stale the key set is dropped: its tokens get 401 */

    if (sh->len && now - sh->fetched > u->max_stale) {
        ngx_shmtx_lock(&u->shpool->mutex);

        dropped = (sh->len && now - sh->fetched > u->max_stale);

        if (dropped) {
            sh->len = 0;
            sh->nkeys = 0;
            sh->generation++;
        }

        ngx_shmtx_unlock(&u->shpool->mutex);

        if (dropped) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "octopus auth: the key set from \"%V\" is %T s "
                          "old, over max_stale (%T s): dropped, its "
                          "tokens are refused", &u->source,
                          now - sh->fetched, u->max_stale);
        }
    }

    if ((ngx_uint_t) sh->generation == u->installed) {
        return;
    }

    ngx_shmtx_lock(&u->shpool->mutex);

    gen = sh->generation;
    len = sh->len;
    ngx_memcpy(u->buf, sh->doc, len);

    ngx_shmtx_unlock(&u->shpool->mutex);

    n = 0;

    if (len
        && ngx_octopus_auth_jwks_load(u->buf, len, u->tmp, &n, err,
                                      sizeof(err))
           != NGX_OK)
    {
        /* it parsed in the worker that fetched it: memory, most likely */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "octopus auth: the key set from \"%V\" (generation "
                      "%ui) cannot be installed: %s", &u->source, gen, err);
        n = 0;
    }

    slots = (ngx_octopus_jwt_key_t *) u->keys->elts + u->nstatic;

    ngx_octopus_auth_jwks_release(slots, u->nused);
    ngx_memcpy(slots, u->tmp, n * sizeof(ngx_octopus_jwt_key_t));
    ngx_memzero(u->tmp, n * sizeof(ngx_octopus_jwt_key_t));

    u->nused = n;
    u->installed = gen;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "octopus auth: key set generation %ui, %ui keys from "
                   "\"%V\"", gen, n, &u->source);
}


ngx_uint_t
ngx_octopus_auth_jwks_url_generation(ngx_octopus_auth_jwks_url_t *u)
{
    return u ? u->installed : 0;
}


ngx_uint_t
ngx_octopus_auth_keys_generation(ngx_octopus_auth_main_conf_t *amcf)
{
    return ngx_octopus_auth_jwks_url_generation(amcf->jwks_url);
}


const char *
ngx_octopus_auth_jwks_url_unknown(ngx_octopus_auth_jwks_url_t *u,
    ngx_log_t *log)
{
    ngx_octopus_auth_jwks_sh_t  *sh;

    sh = u->sh;

    if (u->tmp) {
        ngx_octopus_auth_jwks_try(u, 1);
    }

    if (u->nused) {
        return "unknown key";
    }

    return sh->fetched ? "key set expired" : "key set not available";
}


ngx_uint_t
ngx_octopus_auth_jwks_url_fetching(ngx_octopus_auth_jwks_url_t *u)
{
    return u->tmp && u->sh->lease >= ngx_time();
}


ngx_int_t
ngx_octopus_auth_jwks_url_wait(ngx_http_request_t *r, ngx_msec_t *deadline)
{
    ngx_octopus_auth_jwks_url_t   *u;
    ngx_octopus_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_auth_module);
    u = amcf->jwks_url;

    if (*deadline == 0) {
        *deadline = ngx_current_msec + 2 * u->timeout + 1000;
        *deadline += (*deadline == 0);

    } else if ((ngx_msec_int_t) (*deadline - ngx_current_msec) <= 0) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "octopus auth: unknown kid, waiting for the key set");

    /* as limit_req's delay: the write event's timer re-runs the phases */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_octopus_auth_jwks_url_wake;
    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, 50);

    return NGX_AGAIN;
}


static void
ngx_octopus_auth_jwks_url_wake(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static void
ngx_octopus_auth_jwks_try(ngx_octopus_auth_jwks_url_t *u, ngx_uint_t kid)
{
    time_t                       now;
    ngx_uint_t                   start;
    ngx_octopus_auth_jwks_sh_t  *sh;

    if (u->fetch || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = u->sh;
    now = ngx_time();
    start = 0;

    ngx_shmtx_lock(&u->shpool->mutex);

    if (sh->lease < now
        && (sh->next <= now
            || (kid
                && now - sh->kid_fetch >= NGX_OCTOPUS_JWKS_URL_KID_EVERY)))
    {
        /* twice the timeout: a discovery and the set */
        sh->lease = now + (time_t) (2 * u->timeout / 1000) + 2;

        if (kid) {
            sh->kid_fetch = now;
        }

        start = 1;
    }

    ngx_shmtx_unlock(&u->shpool->mutex);

    if (start) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, u->log, 0,
                       "octopus auth: fetching the key set from \"%V\"%s",
                       &u->source, kid ? " (unknown kid)" : "");

        ngx_octopus_auth_jwks_start(u);
    }
}


/* the client */


static void
ngx_octopus_auth_jwks_start(ngx_octopus_auth_jwks_url_t *u)
{
    ngx_log_t                      *log;
    ngx_pool_t                     *pool;
    ngx_octopus_auth_jwks_fetch_t  *f;

    pool = ngx_create_pool(4096, u->log);
    if (pool == NULL) {
        goto failed;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_octopus_auth_jwks_fetch_t));
    log = ngx_palloc(pool, sizeof(ngx_log_t));

    if (f == NULL || log == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    *log = *u->log;
    log->handler = ngx_octopus_auth_jwks_log_error;
    log->data = f;
    log->action = "fetching the JWKS";

    pool->log = log;

    f->u = u;
    f->pool = pool;
    f->log = log;
    f->path = u->path;
    f->discovery = (u->url.len == 0);

    f->timer.handler = ngx_octopus_auth_jwks_timeout;
    f->timer.data = f;
    f->timer.log = log;
    f->timer.cancelable = 1;

    f->response = ngx_create_temp_buf(pool, NGX_OCTOPUS_JWKS_URL_MAX_DOC
                                            + NGX_OCTOPUS_JWKS_URL_MAX_HEADER);
    if (f->response == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    u->fetch = f;

    ngx_octopus_auth_jwks_connect(f);

    return;

failed:

    ngx_shmtx_lock(&u->shpool->mutex);
    u->sh->lease = 0;
    ngx_shmtx_unlock(&u->shpool->mutex);
}


static void
ngx_octopus_auth_jwks_connect(ngx_octopus_auth_jwks_fetch_t *f)
{
    size_t                        len;
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_octopus_auth_jwks_url_t  *u;

    u = f->u;

    f->log->action = f->discovery ? "fetching the OpenID configuration"
                                  : "fetching the JWKS";

    len = sizeof("GET  HTTP/1.0\r\nHost: \r\nAccept: application/json\r\n"
                 "User-Agent: octopus-guard\r\nConnection: close\r\n\r\n")
          - 1 + f->path.len + u->authority.len;

    f->request = ngx_create_temp_buf(f->pool, len);
    if (f->request == NULL) {
        ngx_octopus_auth_jwks_done(f, "no memory", NULL, 0);
        return;
    }

    f->request->last = ngx_sprintf(f->request->last,
                                   "GET %V HTTP/1.0\r\nHost: %V\r\n"
                                   "Accept: application/json\r\n"
                                   "User-Agent: octopus-guard\r\n"
                                   "Connection: close\r\n\r\n",
                                   &f->path, &u->authority);

    f->response->pos = f->response->start;
    f->response->last = f->response->start;
    f->max_age = -1;

    ngx_memzero(&f->peer, sizeof(ngx_peer_connection_t));

    f->peer.sockaddr = u->addrs[f->naddr].sockaddr;
    f->peer.socklen = u->addrs[f->naddr].socklen;
    f->peer.name = &u->addrs[f->naddr].name;
    f->peer.get = ngx_event_get_peer;
    f->peer.log = f->log;
    f->peer.log_error = NGX_ERROR_ERR;

    ngx_add_timer(&f->timer, u->timeout);

    rc = ngx_event_connect_peer(&f->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_octopus_auth_jwks_next(f);
        return;
    }

    c = f->peer.connection;
    c->data = f;
    c->pool = f->pool;
    c->log = f->log;
    c->read->log = f->log;
    c->write->log = f->log;

    c->read->handler = ngx_octopus_auth_jwks_dummy;
    c->write->handler = ngx_octopus_auth_jwks_connected;

    if (rc == NGX_OK) {
        ngx_octopus_auth_jwks_connected(c->write);
    }
}


/* the host's next address, if it has one (the host resolved to several) */

static void
ngx_octopus_auth_jwks_next(ngx_octopus_auth_jwks_fetch_t *f)
{
    ngx_octopus_auth_jwks_url_t  *u;

    u = f->u;

    if (f->naddr + 1 >= u->naddrs) {
        ngx_octopus_auth_jwks_done(f, "cannot connect", NULL, 0);
        return;
    }

    ngx_octopus_auth_jwks_close(f);
    u->fetch = f;
    f->naddr++;

    ngx_octopus_auth_jwks_connect(f);
}


static void
ngx_octopus_auth_jwks_connected(ngx_event_t *wev)
{
    int                             err;
    socklen_t                       len;
    ngx_int_t                       rc;
    ngx_connection_t               *c;
    ngx_octopus_auth_jwks_fetch_t  *f;

    c = wev->data;
    f = c->data;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_log_error(NGX_LOG_DEBUG, f->log, err, "connect() failed");
        ngx_octopus_auth_jwks_next(f);
        return;
    }

    if (ngx_ssl_create_connection(f->u->ssl, c, NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_octopus_auth_jwks_done(f, "cannot start TLS", NULL, 0);
        return;
    }

#ifdef SSL_CTRL_SET_TLSEXT_HOSTNAME

    /* RFC 6066: no literal addresses in SNI */

    if (ngx_inet_addr(f->u->host.data, f->u->host.len) == INADDR_NONE
        && ngx_strlchr(f->u->host.data, f->u->host.data + f->u->host.len,
                       ':')
           == NULL
        && SSL_set_tlsext_host_name(c->ssl->connection,
                                    (char *) f->u->host.data)
           == 0)
    {
        ngx_octopus_auth_jwks_done(f, "cannot set the TLS server name",
                                   NULL, 0);
        return;
    }

#endif

    f->log->action = "in the TLS handshake";

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_octopus_auth_jwks_handshake;
        return;
    }

    ngx_octopus_auth_jwks_handshake(c);
}


static void
ngx_octopus_auth_jwks_handshake(ngx_connection_t *c)
{
    long                            rc;
    ngx_octopus_auth_jwks_fetch_t  *f;

    f = c->data;

    if (!c->ssl->handshaked) {
        ngx_octopus_auth_jwks_done(f, "TLS handshake failed", NULL, 0);
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_DEBUG, f->log, 0,
                      "certificate verify error: (%l:%s)",
                      rc, X509_verify_cert_error_string(rc));
        ngx_octopus_auth_jwks_done(f, "the server certificate does not "
                                   "verify against the CA file", NULL, 0);
        return;
    }

    if (ngx_ssl_check_host(c, &f->u->host) != NGX_OK) {
        ngx_octopus_auth_jwks_done(f, "the server certificate does not "
                                   "match the host name", NULL, 0);
        return;
    }

    f->log->action = f->discovery ? "fetching the OpenID configuration"
                                  : "fetching the JWKS";

    c->write->handler = ngx_octopus_auth_jwks_write;
    c->read->handler = ngx_octopus_auth_jwks_read;

    ngx_octopus_auth_jwks_write(c->write);
}


static void
ngx_octopus_auth_jwks_write(ngx_event_t *wev)
{
    ssize_t                         n, size;
    ngx_connection_t               *c;
    ngx_octopus_auth_jwks_fetch_t  *f;

    c = wev->data;
    f = c->data;

    size = f->request->last - f->request->pos;

    if (size == 0) {
        return;
    }

    n = c->send(c, f->request->pos, size);

    if (n == NGX_ERROR) {
        ngx_octopus_auth_jwks_done(f, "cannot send the request", NULL, 0);
        return;
    }

    if (n > 0) {
        f->request->pos += n;

        if (n == size) {
            wev->handler = ngx_octopus_auth_jwks_dummy;

            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_octopus_auth_jwks_done(f, "event error", NULL, 0);
                return;
            }

            ngx_octopus_auth_jwks_read(c->read);
            return;
        }
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_octopus_auth_jwks_done(f, "event error", NULL, 0);
    }
}


static void
ngx_octopus_auth_jwks_read(ngx_event_t *rev)
{
    ssize_t                         n;
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_buf_t                      *b;
    const char                     *err;
    ngx_connection_t               *c;
    ngx_octopus_auth_jwks_fetch_t  *f;

    c = rev->data;
    f = c->data;
    b = f->response;

    for ( ;; ) {

        if (b->last == b->end) {
            ngx_octopus_auth_jwks_done(f, "response over 128k", NULL, 0);
            return;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n > 0) {
            b->last += n;

            rc = ngx_octopus_auth_jwks_response(f, 0, &body, &err);

            if (rc == NGX_OK) {
                ngx_octopus_auth_jwks_process(f, &body);
                return;
            }

            if (rc == NGX_ERROR) {
                ngx_octopus_auth_jwks_done(f, err, NULL, 0);
                return;
            }

            continue;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_octopus_auth_jwks_done(f, "event error", NULL, 0);
            }

            return;
        }

        break;
    }

    if (n == NGX_ERROR) {
        ngx_octopus_auth_jwks_done(f, "cannot read the response", NULL, 0);
        return;
    }

    /* the server closed the connection */

    rc = ngx_octopus_auth_jwks_response(f, 1, &body, &err);

    if (rc == NGX_OK) {
        ngx_octopus_auth_jwks_process(f, &body);
        return;
    }

    ngx_octopus_auth_jwks_done(f, rc == NGX_ERROR ? err : "truncated response",
                               NULL, 0);
}


static void
ngx_octopus_auth_jwks_dummy(ngx_event_t *ev)
{
}


/*
 * The response so far: NGX_AGAIN until it is complete (Content-Length
 * bytes, or the end of the connection), NGX_OK with the body of a 200,
 * NGX_ERROR with a reason.
 */

static ngx_int_t
ngx_octopus_auth_jwks_response(ngx_octopus_auth_jwks_fetch_t *f,
    ngx_uint_t eof, ngx_str_t *body, const char **err)
{
    int                               rc;
    ngx_octopus_jwks_http_response_t  resp;

    rc = ngx_octopus_jwks_http_response((char *) f->response->pos,
                                        f->response->last - f->response->pos,
                                        eof ? 1 : 0,
                                        NGX_OCTOPUS_JWKS_URL_MAX_DOC, &resp,
                                        err);
    if (rc < 0) {
        return NGX_ERROR;
    }

    if (rc == 0) {
        return NGX_AGAIN;
    }

    body->data = (u_char *) resp.body;
    body->len = resp.body_len;
    f->max_age = resp.max_age;

    return NGX_OK;
}


static void
ngx_octopus_auth_jwks_process(ngx_octopus_auth_jwks_fetch_t *f,
    ngx_str_t *body)
{
    char                          err[256];
    u_char                       *p;
    json_t                       *root, *iss, *uri;
    ngx_str_t                     s, authority, path;
    ngx_uint_t                    n;
    const char                   *reason;
    ngx_octopus_auth_jwks_url_t  *u;

    u = f->u;

    if (!f->discovery) {
        if (ngx_octopus_auth_jwks_load(body->data, body->len, u->tmp, &n,
                                       err, sizeof(err))
            != NGX_OK)
        {
            ngx_octopus_auth_jwks_done(f, err, NULL, 0);
            return;
        }

        ngx_octopus_auth_jwks_release(u->tmp, n);

        ngx_octopus_auth_jwks_done(f, NULL, body->data, body->len);
        return;
    }

    /* the OpenID configuration: its issuer is ours, its jwks_uri on it */

    root = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      NULL);

    iss = json_object_get(root, "issuer");
    uri = json_object_get(root, "jwks_uri");
    reason = NULL;

    if (!json_is_object(root) || !json_is_string(iss)
        || !json_is_string(uri))
    {
        reason = "an OpenID configuration without \"issuer\" and "
                 "\"jwks_uri\"";
        goto failed;
    }

    if (json_string_length(iss) != u->issuer.len
        || ngx_memcmp(json_string_value(iss), u->issuer.data, u->issuer.len)
           != 0)
    {
        reason = "the OpenID configuration names another \"issuer\"";
        goto failed;
    }

    s.data = (u_char *) json_string_value(uri);
    s.len = json_string_length(uri);

    if (ngx_octopus_auth_jwks_url_split(&s, &authority, &path, &reason)
        != NGX_OK)
    {
        reason = "\"jwks_uri\" is not a valid https:// URL";
        goto failed;
    }

    if (authority.len != u->authority.len
        || ngx_strncasecmp(authority.data, u->authority.data,
                           authority.len)
           != 0)
    {
        reason = "\"jwks_uri\" is not on the issuer's host";
        goto failed;
    }

    p = ngx_pnalloc(f->pool, path.len);
    if (p == NULL) {
        reason = "no memory";
        goto failed;
    }

    ngx_memcpy(p, path.data, path.len);
    f->path.data = p;
    f->path.len = path.len;

    json_decref(root);

    /* the same host, a new connection for the set */

    ngx_octopus_auth_jwks_close(f);
    u->fetch = f;
    f->discovery = 0;

    ngx_octopus_auth_jwks_connect(f);

    return;

failed:

    json_decref(root);
    ngx_octopus_auth_jwks_done(f, reason, NULL, 0);
}


/* closes the connection; the pool stays (done destroys it) */

static void
ngx_octopus_auth_jwks_close(ngx_octopus_auth_jwks_fetch_t *f)
{
    ngx_connection_t  *c;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    c = f->peer.connection;

    if (c) {
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }

        ngx_close_connection(c);
        f->peer.connection = NULL;
    }

    f->u->fetch = NULL;
}


static void
ngx_octopus_auth_jwks_done(ngx_octopus_auth_jwks_fetch_t *f, const char *err,
    u_char *doc, size_t len)
{
    time_t                        now, interval, age;
    ngx_uint_t                    n, changed, logged;
    ngx_octopus_auth_jwks_sh_t   *sh;
    ngx_octopus_auth_jwks_url_t  *u;

    u = f->u;
    sh = u->sh;
    now = ngx_time();

    ngx_octopus_auth_jwks_close(f);

    ngx_shmtx_lock(&u->shpool->mutex);

    sh->lease = 0;
    sh->fetches++;

    if (err) {
        sh->errors++;

        interval = ngx_min(u->refresh, NGX_OCTOPUS_JWKS_URL_RETRY_MAX);
        sh->next = now + interval;

        /* logged once per refresh (the counter has every one) */

        logged = (sh->err_logged == 0 || now - sh->err_logged >= u->refresh);
        if (logged) {
            sh->err_logged = now;
        }

        age = sh->len ? now - sh->fetched : -1;

        ngx_shmtx_unlock(&u->shpool->mutex);

        if (logged && age >= 0) {
            ngx_log_error(NGX_LOG_ERR, f->log, 0,
                          "octopus auth: key set refused: %s; the set "
                          "fetched %T s ago is kept (max_stale %T s), "
                          "retried in %T s", err, age, u->max_stale,
                          interval);

        } else if (logged) {
            ngx_log_error(NGX_LOG_ERR, f->log, 0,
                          "octopus auth: key set refused: %s; no key "
                          "set yet, retried in %T s", err, interval);
        }

        ngx_destroy_pool(f->pool);
        return;
    }

    /* Cache-Control: max-age, when shorter, down to 30 s (or refresh) */

    interval = ngx_octopus_jwks_http_interval(u->refresh, f->max_age,
                                              NGX_OCTOPUS_JWKS_URL_MAX_AGE_MIN);

    sh->next = now + interval;
    sh->fetched = now;

    changed = (len != sh->len || ngx_memcmp(doc, sh->doc, len) != 0);

    if (changed) {
        ngx_memcpy(sh->doc, doc, len);
        sh->len = len;
        sh->generation++;
    }

    logged = (sh->err_logged != 0);
    sh->err_logged = 0;

    n = sh->generation;

    ngx_shmtx_unlock(&u->shpool->mutex);

    if (logged) {
        ngx_log_error(NGX_LOG_NOTICE, f->log, 0,
                      "octopus auth: key set fetched again");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, f->log, 0,
                   "octopus auth: key set fetched, %s, generation %ui, "
                   "next in %T s", changed ? "changed" : "unchanged", n,
                   interval);

    ngx_destroy_pool(f->pool);

    ngx_octopus_auth_jwks_url_sync(u, u->log);

    sh->nkeys = u->nused;
}


static void
ngx_octopus_auth_jwks_timeout(ngx_event_t *ev)
{
    ngx_octopus_auth_jwks_fetch_t  *f = ev->data;

    ngx_octopus_auth_jwks_done(f, "timed out", NULL, 0);
}


static u_char *
ngx_octopus_auth_jwks_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                         *p;
    ngx_octopus_auth_jwks_fetch_t  *f;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    f = log->data;

    if (f) {
        p = ngx_snprintf(buf, len, ", url: \"https://%V%V\"",
                         &f->u->authority, &f->path);
    }

    return p;
}


#define NGX_OCTOPUS_AUTH_METRICS_JWKS                                        \
    "# HELP octopus_auth_jwks_fetch_errors_total Key set fetches that "     \
    "failed or were refused.\n"                                              \
    "# TYPE octopus_auth_jwks_fetch_errors_total counter\n"                  \
    "octopus_auth_jwks_fetch_errors_total %uA\n"                             \
    "# HELP octopus_auth_jwks_fetches_total Key set fetches.\n"              \
    "# TYPE octopus_auth_jwks_fetches_total counter\n"                       \
    "octopus_auth_jwks_fetches_total %uA\n"                                  \
    "# HELP octopus_auth_jwks_age_seconds Age of the key set in use "        \
    "(+Inf: none).\n"                                                        \
    "# TYPE octopus_auth_jwks_age_seconds gauge\n"                           \
    "octopus_auth_jwks_age_seconds %s\n"                                     \
    "# HELP octopus_auth_jwks_keys Keys in the key set.\n"                   \
    "# TYPE octopus_auth_jwks_keys gauge\n"                                  \
    "octopus_auth_jwks_keys %uA\n"                                           \
    "# HELP octopus_auth_jwks_generation Generation of the key set.\n"       \
    "# TYPE octopus_auth_jwks_generation gauge\n"                            \
    "octopus_auth_jwks_generation %uA\n"


/* the key set part of octopus_auth_metrics */

u_char *
ngx_octopus_auth_jwks_url_metrics(ngx_octopus_auth_main_conf_t *amcf,
    u_char *p)
{
    u_char                        age[NGX_TIME_T_LEN + 1];
    ngx_octopus_auth_jwks_sh_t   *sh;
    ngx_octopus_auth_jwks_url_t  *u;

    u = amcf->jwks_url;

    if (u == NULL || u->sh == NULL) {
        return p;
    }

    sh = u->sh;

    if (sh->len && sh->fetched) {
        *ngx_sprintf(age, "%T", ngx_time() - sh->fetched) = '\0';

    } else {
        ngx_cpystrn(age, (u_char *) "+Inf", sizeof("+Inf"));
    }

    return ngx_sprintf(p, NGX_OCTOPUS_AUTH_METRICS_JWKS, sh->errors,
                       sh->fetches, age, sh->len ? sh->nkeys : 0,
                       sh->generation);
}
