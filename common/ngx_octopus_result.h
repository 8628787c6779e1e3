
/*
 * Copyright (C) Octopus Guard authors
 *
 * The results vocabulary: what the auth and the ratelimit modules decided
 * for a request, as an enum and one table of names each.  The names are
 * the values of $octopus_auth_result and $octopus_ratelimit_result (none is
 * the empty value: the variable is not found) and the "result" labels of
 * the metrics; the audit module reads the variables back through
 * ngx_octopus_*_result_parse().  Plain C, no nginx types: the audit record
 * code and the unit tests include it too.
 */


#ifndef _NGX_OCTOPUS_RESULT_H_INCLUDED_
#define _NGX_OCTOPUS_RESULT_H_INCLUDED_


#include <stddef.h>
#include <string.h>


typedef struct {
    size_t                      len;
    const char                 *data;
} ngx_octopus_result_name_t;


#define ngx_octopus_result_name(s)  { sizeof(s) - 1, s }

/* a compile-time check: a table that does not match its enum is an error */
#define ngx_octopus_result_check(table, n)                                   \
    ((void) sizeof(char[(sizeof(table) / sizeof((table)[0]) == (n)) ? 1 : -1]))


/* $octopus_auth_result */

typedef enum {
    NGX_OCTOPUS_AUTH_R_NONE = 0,
    NGX_OCTOPUS_AUTH_R_OK,
    NGX_OCTOPUS_AUTH_R_MISSING,
    NGX_OCTOPUS_AUTH_R_INVALID,
    NGX_OCTOPUS_AUTH_R_EXPIRED,
    NGX_OCTOPUS_AUTH_R_FORBIDDEN,
    NGX_OCTOPUS_AUTH_R_ANONYMOUS,
    NGX_OCTOPUS_AUTH_R_PREFLIGHT,
    NGX_OCTOPUS_AUTH_R_ERROR,
    NGX_OCTOPUS_AUTH_R_N
} ngx_octopus_auth_result_e;


static inline const ngx_octopus_result_name_t *
ngx_octopus_auth_result_names(void)
{
    static const ngx_octopus_result_name_t  names[] = {
        ngx_octopus_result_name(""),
        ngx_octopus_result_name("ok"),
        ngx_octopus_result_name("missing"),
        ngx_octopus_result_name("invalid"),
        ngx_octopus_result_name("expired"),
        ngx_octopus_result_name("forbidden"),
        ngx_octopus_result_name("anonymous"),
        ngx_octopus_result_name("preflight"),
        ngx_octopus_result_name("error")
    };

    ngx_octopus_result_check(names, NGX_OCTOPUS_AUTH_R_N);

    return names;
}


/* $octopus_ratelimit_result */

typedef enum {
    NGX_OCTOPUS_RL_R_NONE = 0,
    NGX_OCTOPUS_RL_R_PASS,
    NGX_OCTOPUS_RL_R_LIMITED,
    NGX_OCTOPUS_RL_R_BANNED,
    NGX_OCTOPUS_RL_R_LOCKED,
    NGX_OCTOPUS_RL_R_DRY_RUN,
    NGX_OCTOPUS_RL_R_ERROR,
    NGX_OCTOPUS_RL_R_FALLBACK,
    NGX_OCTOPUS_RL_R_N
} ngx_octopus_rl_result_e;


static inline const ngx_octopus_result_name_t *
ngx_octopus_rl_result_names(void)
{
    static const ngx_octopus_result_name_t  names[] = {
        ngx_octopus_result_name(""),
        ngx_octopus_result_name("pass"),
        ngx_octopus_result_name("limited"),
        ngx_octopus_result_name("banned"),
        ngx_octopus_result_name("locked"),
        ngx_octopus_result_name("dry_run"),
        ngx_octopus_result_name("error"),
        ngx_octopus_result_name("fallback")
    };

    ngx_octopus_result_check(names, NGX_OCTOPUS_RL_R_N);

    return names;
}


/* the label of a metric: "none" for no decision (an empty variable) */

static inline const char *
ngx_octopus_result_label(const ngx_octopus_result_name_t *names,
    unsigned r)
{
    return r ? names[r].data : "none";
}


/* a variable's value back to its result; n (no name of the table): other */

static inline unsigned
ngx_octopus_result_parse(const ngx_octopus_result_name_t *names, unsigned n,
    const unsigned char *s, size_t len)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        if (names[i].len == len && memcmp(names[i].data, s, len) == 0) {
            return i;
        }
    }

    return n;
}


static inline unsigned
ngx_octopus_auth_result_parse(const unsigned char *s, size_t len)
{
    return ngx_octopus_result_parse(ngx_octopus_auth_result_names(),
                                    NGX_OCTOPUS_AUTH_R_N, s, len);
}


static inline unsigned
ngx_octopus_rl_result_parse(const unsigned char *s, size_t len)
{
    return ngx_octopus_result_parse(ngx_octopus_rl_result_names(),
                                    NGX_OCTOPUS_RL_R_N, s, len);
}


#endif /* _NGX_OCTOPUS_RESULT_H_INCLUDED_ */
