
/*
 * Copyright (C) Octopus Guard authors
 *
 * Reads one top-level field from a JSON object or an urlencoded form body
 * (plain C, no nginx headers): the account name a login request is for.
 */


#ifndef _NGX_OCTOPUS_RATELIMIT_FIELD_H_INCLUDED_
#define _NGX_OCTOPUS_RATELIMIT_FIELD_H_INCLUDED_


#include <stddef.h>


/*
 * Both return 1 and set *outlen when the field is there, is a string (JSON)
 * and fits in outsz bytes once decoded; 0 otherwise (absent, not a string,
 * too long, malformed body).
 */

int ngx_octopus_rl_field_json(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen);
int ngx_octopus_rl_field_form(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen);


#endif /* _NGX_OCTOPUS_RATELIMIT_FIELD_H_INCLUDED_ */
