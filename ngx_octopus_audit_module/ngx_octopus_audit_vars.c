
/*
 * Copyright (C) Octopus Guard authors
 *
 * The variables a record is made of, compiled at configuration time as
 * ngx_http_log_module does: each is looked up once, after every module
 * has added its variables (preconfiguration) and every "set" is parsed,
 * and read per request by index, without a hash lookup.  A variable no
 * module defines (the auth module not loaded, say) stays empty, and is
 * not made an index, which nginx would refuse as an unknown variable.
 *
 * $request_id: nginx's handler asks OpenSSL for 16 random bytes per
 * request, about 1 us each on OpenSSL 3 (a lock, a lookup of the random
 * generator's parameters, a fork check per call).  While the audit module
 * is on, the variable takes its 16 bytes from a block of 4 KB drawn from
 * the same generator (RAND_bytes), refilled when used up, each byte used
 * once: the same 32 hex digits of 16 random bytes, for every user of the
 * variable (proxy_set_header, log_format).  The block is per worker,
 * drawn after fork.
 */


#include "ngx_octopus_audit.h"

#include <openssl/rand.h>


#define NGX_OCTOPUS_AUDIT_RAND_BLOCK  4096


static ngx_int_t ngx_octopus_audit_request_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t *
ngx_octopus_audit_vars_find(ngx_http_core_main_conf_t *cmcf, ngx_str_t *name)
{
    ngx_uint_t      i;
    ngx_hash_key_t  *key;

    key = cmcf->variables_keys->keys.elts;

    for (i = 0; i < cmcf->variables_keys->keys.nelts; i++) {
        if (key[i].key.len == name->len
            && ngx_strncmp(key[i].key.data, name->data, name->len) == 0)
        {
            return key[i].value;
        }
    }

    return NULL;
}


ngx_int_t
ngx_octopus_audit_vars_init(ngx_conf_t *cf,
    ngx_octopus_audit_main_conf_t *amcf)
{
    ngx_uint_t                  i;
    ngx_http_variable_t        *v;
    ngx_octopus_audit_var_t    *vars[10];
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    vars[0] = &amcf->var_user;
    vars[1] = &amcf->var_login_user;
    vars[2] = &amcf->var_role;
    vars[3] = &amcf->var_auth_method;
    vars[4] = &amcf->var_api_key_id;
    vars[5] = &amcf->var_auth_result;
    vars[6] = &amcf->var_ratelimit_result;
    vars[7] = &amcf->var_request_id;
    vars[8] = &amcf->var_upstream_status;
    vars[9] = &amcf->var_upstream_time;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        v = ngx_octopus_audit_vars_find(cmcf, &vars[i]->name);

        if (v == NULL) {
            vars[i]->index = NGX_ERROR;
            continue;
        }

        if (vars[i] == &amcf->var_request_id) {
            v->get_handler = ngx_octopus_audit_request_id;
            v->data = 0;
        }

        vars[i]->index = ngx_http_get_variable_index(cf, &vars[i]->name);
        if (vars[i]->index == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_octopus_audit_request_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                         *id, *b;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_audit_module);

    id = ngx_pnalloc(r->pool, 32);
    if (id == NULL) {
        return NGX_ERROR;
    }

    if (amcf->rand == NULL) {
        /* in the worker, after fork: never a block of the master's */
        amcf->rand = ngx_palloc(ngx_cycle->pool,
                                NGX_OCTOPUS_AUDIT_RAND_BLOCK);
        if (amcf->rand == NULL) {
            return NGX_ERROR;
        }

        amcf->rand_pos = NGX_OCTOPUS_AUDIT_RAND_BLOCK;
    }

    if (amcf->rand_pos + 16 > NGX_OCTOPUS_AUDIT_RAND_BLOCK) {
        if (RAND_bytes(amcf->rand, NGX_OCTOPUS_AUDIT_RAND_BLOCK) != 1) {
            /* as nginx does when RAND_bytes() fails */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "octopus audit: RAND_bytes() failed");

            ngx_sprintf(id, "%08xD%08xD%08xD%08xD",
                        (uint32_t) ngx_random(), (uint32_t) ngx_random(),
                        (uint32_t) ngx_random(), (uint32_t) ngx_random());
            goto done;
        }

        amcf->rand_pos = 0;
    }

    b = amcf->rand + amcf->rand_pos;
    amcf->rand_pos += 16;

    ngx_hex_dump(id, b, 16);
    ngx_memzero(b, 16);

done:

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->len = 32;
    v->data = id;

    return NGX_OK;
}
