
/*
 * Copyright (C) Octopus Guard authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_octopus_common.h"


/*
 * Splits a "name=value" directive argument.  Returns NGX_DECLINED when the
 * argument has no '=' (a positional argument), NGX_OK otherwise.
 */

ngx_int_t
ngx_octopus_parse_kv(ngx_str_t *arg, ngx_str_t *key, ngx_str_t *value)
{
    u_char  *eq;

    eq = ngx_strlchr(arg->data, arg->data + arg->len, '=');

    if (eq == NULL) {
        return NGX_DECLINED;
    }

    key->data = arg->data;
    key->len = eq - arg->data;

    value->data = eq + 1;
    value->len = arg->data + arg->len - value->data;

    return NGX_OK;
}


/* registers a module's variables, a table ended by ngx_http_null_variable */

ngx_int_t
ngx_octopus_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->set_handler = v->set_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
