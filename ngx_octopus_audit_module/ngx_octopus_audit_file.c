
/*
 * Copyright (C) Octopus Guard authors
 *
 * The file sink: one JSON line per record and per checkpoint, appended
 * with write(2) to a file nginx opens (and reopens on USR1), the
 * "octopus_audit_file" directive; "logs/octopus-audit.jsonl" when no
 * other sink stores the records (no "octopus_audit_pg").
 */


#include "ngx_octopus_audit.h"


static ngx_uint_t ngx_octopus_audit_file_enabled(
    ngx_octopus_audit_main_conf_t *amcf);
static ngx_int_t ngx_octopus_audit_file_postconf(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf);
static ngx_int_t ngx_octopus_audit_file_init(ngx_octopus_audit_worker_t *w,
    void **ctx);
static ngx_int_t ngx_octopus_audit_file_write(ngx_octopus_audit_worker_t *w,
    void *ctx, ngx_octopus_audit_out_t *out);
static void ngx_octopus_audit_file_checkpoint(ngx_octopus_audit_worker_t *w,
    void *ctx, int64_t ts_us, u_char *line, size_t len);


ngx_octopus_audit_sink_t  ngx_octopus_audit_file_sink = {
    ngx_string("file"),
    0,
    1,                                     /* stores */
    NULL,                                  /* create_conf */
    NULL,                                  /* init_conf */
    ngx_octopus_audit_file_enabled,
    ngx_octopus_audit_file_postconf,
    ngx_octopus_audit_file_init,
    ngx_octopus_audit_file_write,
    ngx_octopus_audit_file_checkpoint,
    NULL,                                  /* tick */
    NULL,                                  /* exiting */
    NULL,                                  /* exit */
    NULL                                   /* metrics */
};


char *
ngx_octopus_audit_file_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_octopus_audit_main_conf_t *amcf = conf;

    ngx_str_t  *value;

    if (amcf->file) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid file \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (amcf->file == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_octopus_audit_file_enabled(ngx_octopus_audit_main_conf_t *amcf)
{
    return amcf->file != NULL;
}


/* the JSON lines file is the sink when no other one stores the records */

static ngx_int_t
ngx_octopus_audit_file_postconf(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf)
{
    ngx_str_t                  name;
    ngx_octopus_audit_sink_t  **s;

    if (amcf->file) {
        return NGX_OK;
    }

    for (s = ngx_octopus_audit_sinks; *s; s++) {
        if ((*s)->stores && (*s)->enabled(amcf)) {
            return NGX_OK;
        }
    }

    ngx_str_set(&name, "logs/octopus-audit.jsonl");

    amcf->file = ngx_conf_open_file(cf->cycle, &name);
    if (amcf->file == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_file_init(ngx_octopus_audit_worker_t *w, void **ctx)
{
    *ctx = w->amcf->file;

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_file_write(ngx_octopus_audit_worker_t *w, void *ctx,
    ngx_octopus_audit_out_t *out)
{
    ngx_open_file_t *file = ctx;

    ngx_octopus_audit_shm_t  *sh;

    if (ngx_octopus_audit_out_json(out) == NULL) {
        return NGX_ERROR;
    }

    sh = w->amcf->sh;

    if (ngx_write_fd(file->fd, out->json, out->json_len)
        == (ssize_t) out->json_len)
    {
        (void) ngx_atomic_fetch_add(
                   &sh->written[ngx_octopus_audit_file_sink.index], 1);
        return NGX_OK;
    }

    (void) ngx_atomic_fetch_add(
               &sh->sink_errors[ngx_octopus_audit_file_sink.index], 1);

    ngx_octopus_audit_log(w, NGX_OCTOPUS_AUDIT_LOG_FILE, NGX_LOG_ERR,
                          ngx_errno, "octopus audit: write to \"%s\" failed",
                          file->name.data);

    return NGX_OK;
}


static void
ngx_octopus_audit_file_checkpoint(ngx_octopus_audit_worker_t *w, void *ctx,
    int64_t ts_us, u_char *line, size_t len)
{
    ngx_open_file_t *file = ctx;

    if (ngx_write_fd(file->fd, line, len) != (ssize_t) len) {
        ngx_octopus_audit_log(w, NGX_OCTOPUS_AUDIT_LOG_FILE, NGX_LOG_ERR,
                              ngx_errno, "octopus audit: write to \"%s\" "
                              "failed", file->name.data);
    }
}
