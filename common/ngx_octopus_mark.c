
/*
 * Copyright (C) Octopus Guard authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_mark.h"


/* called from a merge_loc_conf (or merge_srv_conf) handler */

void
ngx_octopus_mark_server(ngx_conf_t *cf)
{
    ngx_uint_t               i;
    ngx_module_t           **modules;
    ngx_http_conf_ctx_t     *ctx;
    ngx_octopus_srv_mark_t  *mark;

    ctx = cf->ctx;
    modules = cf->cycle->modules;

    if (ctx == NULL || ctx->srv_conf == NULL || modules == NULL) {
        return;
    }

    for (i = 0; modules[i]; i++) {

        if (modules[i]->type != NGX_HTTP_MODULE
            || modules[i]->name == NULL
            || ngx_strcmp(modules[i]->name, "ngx_octopus_auth_module") != 0)
        {
            continue;
        }

        mark = ctx->srv_conf[modules[i]->ctx_index];

        if (mark) {
            mark->active = 1;
        }

        return;
    }
}
