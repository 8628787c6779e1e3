
/*
 * Copyright (C) Octopus Guard authors
 *
 * The request path and the request line without nginx: the canonical form
 * of a raw path (what every backend framework reads the same way), header
 * names a client must not send (identity, method override) and the
 * "_method" query parameter.
 */


#ifndef _NGX_OCTOPUS_PATH_H_INCLUDED_
#define _NGX_OCTOPUS_PATH_H_INCLUDED_


#include <stddef.h>


#define NGX_OCTOPUS_PATH_OFF        0
#define NGX_OCTOPUS_PATH_STRICT     1
#define NGX_OCTOPUS_PATH_CANONICAL  2


/* ngx_octopus_path_header_class() */

#define NGX_OCTOPUS_HEADER_OTHER     0
#define NGX_OCTOPUS_HEADER_IDENTITY  1     /* X-Octopus-* */
#define NGX_OCTOPUS_HEADER_OVERRIDE  2     /* X-HTTP-Method-Override ... */


/* ngx_octopus_path_method(): the methods an override may name */

#define NGX_OCTOPUS_METHOD_UNKNOWN  0
#define NGX_OCTOPUS_METHOD_GET      1
#define NGX_OCTOPUS_METHOD_HEAD     2
#define NGX_OCTOPUS_METHOD_POST     3
#define NGX_OCTOPUS_METHOD_PUT      4
#define NGX_OCTOPUS_METHOD_DELETE   5
#define NGX_OCTOPUS_METHOD_PATCH    6
#define NGX_OCTOPUS_METHOD_OPTIONS  7


int ngx_octopus_path_canon(const unsigned char *raw, size_t len, int policy,
    int lower, unsigned char *out, size_t *out_len, const char **reason);
int ngx_octopus_path_header_class(const unsigned char *name, size_t len);
int ngx_octopus_path_method(const unsigned char *value, size_t len);
int ngx_octopus_path_query_strip(const unsigned char *args, size_t len,
    unsigned char *out, size_t *out_len, int *method, int *conflict);
size_t ngx_octopus_path_multipart_boundary(const unsigned char *ctype,
    size_t len, const unsigned char **boundary);
int ngx_octopus_path_multipart_method(const unsigned char *body, size_t len,
    const unsigned char *boundary, size_t blen, int *method, int *conflict);
int ngx_octopus_path_json_method(const unsigned char *body, size_t len);


#endif /* _NGX_OCTOPUS_PATH_H_INCLUDED_ */
