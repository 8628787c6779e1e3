
/*
 * Copyright (C) Octopus Guard authors
 *
 * Reads one top-level field from a login body (plain C, no nginx headers):
 * the account name a login request is for.  JSON objects, urlencoded forms
 * (also the query string) and multipart/form-data are read; the whole body
 * is scanned, so a field given twice is found and refused.
 */


#ifndef _NGX_OCTOPUS_RATELIMIT_FIELD_H_INCLUDED_
#define _NGX_OCTOPUS_RATELIMIT_FIELD_H_INCLUDED_


#include <stddef.h>


/* results of the field readers */
#define NGX_OCTOPUS_RL_FIELD_ABSENT       0
#define NGX_OCTOPUS_RL_FIELD_FOUND        1
#define NGX_OCTOPUS_RL_FIELD_DUPLICATE   -1   /* the field more than once */
#define NGX_OCTOPUS_RL_FIELD_NOT_STRING  -2   /* JSON: number, null, ... */
#define NGX_OCTOPUS_RL_FIELD_TOO_LONG    -3   /* decoded value > outsz */
#define NGX_OCTOPUS_RL_FIELD_MALFORMED   -4
#define NGX_OCTOPUS_RL_FIELD_ENCODING    -5   /* multipart: base64 part... */

/* media types, ngx_octopus_rl_field_ctype() */
#define NGX_OCTOPUS_RL_CT_NONE            0   /* no Content-Type */
#define NGX_OCTOPUS_RL_CT_JSON            1   /* application/json, +json */
#define NGX_OCTOPUS_RL_CT_FORM            2
#define NGX_OCTOPUS_RL_CT_MULTIPART       3   /* with its boundary */
#define NGX_OCTOPUS_RL_CT_OTHER           4
#define NGX_OCTOPUS_RL_CT_CHARSET        -1   /* a charset other than utf-8 */
#define NGX_OCTOPUS_RL_CT_MALFORMED      -2

/* JSON text encodings, ngx_octopus_rl_json_encoding() */
#define NGX_OCTOPUS_RL_UTF8               0
#define NGX_OCTOPUS_RL_UTF16LE            1
#define NGX_OCTOPUS_RL_UTF16BE            2
#define NGX_OCTOPUS_RL_UTF32LE            3
#define NGX_OCTOPUS_RL_UTF32BE            4


/*
 * The readers return FOUND and set *outlen when the field is there once
 * (a JSON string; any form or multipart value) and fits in outsz bytes once
 * decoded; ABSENT when it is not there; a negative result otherwise.  A
 * form key without "=" counts as the field with an empty value.
 */

int ngx_octopus_rl_field_json(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen);
int ngx_octopus_rl_field_form(const unsigned char *body, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen);
int ngx_octopus_rl_field_multipart(const unsigned char *body, size_t len,
    const unsigned char *boundary, size_t blen, const unsigned char *name,
    size_t nlen, unsigned char *out, size_t outsz, size_t *outlen);

/*
 * The query string, read as Spring and PHP read it ('&' separates) and as
 * Rack 2 reads it ('&' and ';'): MALFORMED when the two readings differ.
 */

int ngx_octopus_rl_field_query(const unsigned char *args, size_t len,
    const unsigned char *name, size_t nlen, unsigned char *out, size_t outsz,
    size_t *outlen);

/*
 * The media type of a Content-Type value; for multipart/form-data sets
 * *boundary (pointing into ct) and *blen.
 */

int ngx_octopus_rl_field_ctype(const unsigned char *ct, size_t len,
    const unsigned char **boundary, size_t *blen);

/*
 * The encoding of a JSON text as Python's json.loads() detects it: a byte
 * order mark (its length in *bom), else the NUL-byte pattern of the first
 * four bytes (RFC 4627, section 3).
 */

int ngx_octopus_rl_json_encoding(const unsigned char *body, size_t len,
    size_t *bom);

/*
 * UTF-16/32 (without the BOM) to UTF-8; out needs 2 * len bytes.  Returns
 * 0, or -1 for a truncated unit, an unpaired surrogate or a code point
 * above U+10FFFF.
 */

int ngx_octopus_rl_json_transcode(const unsigned char *in, size_t len,
    int encoding, unsigned char *out, size_t *outlen);


#endif /* _NGX_OCTOPUS_RATELIMIT_FIELD_H_INCLUDED_ */
