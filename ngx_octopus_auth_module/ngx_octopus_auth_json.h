
/*
 * Copyright (C) Octopus Guard authors
 *
 * A strict, allocation-free JSON tokenizer for JWT headers and claims
 * (RFC 8259): the document is split into tokens that point into the
 * source; strings are unescaped on demand.  Invalid UTF-8, raw control
 * characters, "\u0000", duplicate member names (also when spelled with
 * escapes), nesting deeper than NGX_OCTOPUS_AUTH_JSON_MAX_DEPTH and trailing
 * data are refused.  jansson's allocations made a JWT verification twice
 * as slow as the HMAC itself.
 */


#ifndef _NGX_OCTOPUS_AUTH_JSON_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_OCTOPUS_AUTH_JSON_MAX_DEPTH  16


typedef enum {
    NGX_OCTOPUS_AUTH_JSON_NONE = 0,
    NGX_OCTOPUS_AUTH_JSON_OBJECT,
    NGX_OCTOPUS_AUTH_JSON_ARRAY,
    NGX_OCTOPUS_AUTH_JSON_STRING,
    NGX_OCTOPUS_AUTH_JSON_NUMBER,
    NGX_OCTOPUS_AUTH_JSON_TRUE,
    NGX_OCTOPUS_AUTH_JSON_FALSE,
    NGX_OCTOPUS_AUTH_JSON_NULL
} ngx_octopus_auth_json_type_e;


typedef struct {
    uint32_t  type:4;
    uint32_t  escaped:1;      /* a string with backslash escapes */
    uint32_t  size:27;        /* object: members, array: elements */
    uint32_t  start;          /* strings: after the opening quote */
    uint32_t  end;            /* strings: at the closing quote */
    uint32_t  next;           /* the token after this value's subtree */
} ngx_octopus_auth_json_tok_t;


typedef struct {
    const char                   *src;
    size_t                        len;
    ngx_octopus_auth_json_tok_t  *toks;
    size_t                        ntoks;
} ngx_octopus_auth_json_t;


/* returns 0, or -1 for invalid JSON or more than max tokens */
int ngx_octopus_auth_json_parse(ngx_octopus_auth_json_t *json, const char *src,
    size_t len, ngx_octopus_auth_json_tok_t *toks, size_t max);

/* the value of member name in the object token obj, or -1 */
int ngx_octopus_auth_json_get(const ngx_octopus_auth_json_t *json, int obj,
    const char *name);

int ngx_octopus_auth_json_type(const ngx_octopus_auth_json_t *json, int tok);

/* a string token unescaped (UTF-8) into out; returns the length or -1 */
long ngx_octopus_auth_json_string(const ngx_octopus_auth_json_t *json, int tok,
    char *out, size_t size);

/* compares a string token with a NUL-terminated string: 1 when equal */
int ngx_octopus_auth_json_string_eq(const ngx_octopus_auth_json_t *json,
    int tok, const char *s);

/* a number token as a double; returns 0 or -1 */
int ngx_octopus_auth_json_number(const ngx_octopus_auth_json_t *json, int tok,
    double *value);

/* the first token of an array's elements, and the element after el */
int ngx_octopus_auth_json_first(const ngx_octopus_auth_json_t *json, int arr);
int ngx_octopus_auth_json_next(const ngx_octopus_auth_json_t *json, int el);


#endif /* _NGX_OCTOPUS_AUTH_JSON_H_INCLUDED_ */
