
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redaction of paths and query strings: card numbers (Luhn), values of
 * secret query parameters, configured PCRE2 patterns.  Plain C.
 */


#ifndef _NGX_OCTOPUS_AUDIT_REDACT_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_REDACT_H_INCLUDED_


#include <stddef.h>


#define NGX_OCTOPUS_AUDIT_REDACTED      "[REDACTED]"
#define NGX_OCTOPUS_AUDIT_REDACTED_LEN  (sizeof(NGX_OCTOPUS_AUDIT_REDACTED) - 1)


int ngx_octopus_audit_luhn(const unsigned char *digits, size_t len);

/*
 * Replaces, in place, every run of 13 to 19 digits that passes the Luhn
 * check with "[REDACTED]"; returns the new length (never longer).
 */
size_t ngx_octopus_audit_redact_cards(unsigned char *buf, size_t len);

/* the size redact_params may need for a query of len bytes */
size_t ngx_octopus_audit_redact_params_max(const unsigned char *src,
    size_t len);

/*
 * Copies a query string, replacing the value of every parameter whose
 * name contains password, passwd, secret, token, api_key, apikey (any
 * case) with "[REDACTED]"; returns the new length.
 */
size_t ngx_octopus_audit_redact_params(unsigned char *dst,
    const unsigned char *src, size_t len);


/* configured patterns (PCRE2, JIT) */

typedef struct ngx_octopus_audit_re_s  ngx_octopus_audit_re_t;

/* NULL on error, with a message in err */
ngx_octopus_audit_re_t *ngx_octopus_audit_re_compile(const unsigned char *re,
    size_t re_len, const unsigned char *replace, size_t replace_len,
    char *err, size_t err_size);

void ngx_octopus_audit_re_free(ngx_octopus_audit_re_t *re);

/*
 * Global substitution of src into dst (size *dst_len); returns 0 and sets
 * *dst_len, 1 when dst is too small (*dst_len then holds the size needed),
 * -1 on error.
 */
int ngx_octopus_audit_re_apply(ngx_octopus_audit_re_t *re,
    const unsigned char *src, size_t len, unsigned char *dst,
    size_t *dst_len);


#endif /* _NGX_OCTOPUS_AUDIT_REDACT_H_INCLUDED_ */
