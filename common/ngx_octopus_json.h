
/*
 * Copyright (C) Octopus Guard authors
 *
 * Text sanitising and JSON string escaping.  Plain C, no nginx types:
 * unit-tested on its own (t/unit/test_audit_record.c).
 */


#ifndef _NGX_OCTOPUS_JSON_H_INCLUDED_
#define _NGX_OCTOPUS_JSON_H_INCLUDED_


#include <stddef.h>


/*
 * Sanitising turns arbitrary bytes into valid UTF-8 without NUL: every byte
 * that is not part of a valid UTF-8 sequence, and NUL, becomes the four
 * characters "\xHH".  The result is at most 4 times the input.
 */
#define ngx_octopus_sanitize_max(len)  ((len) * 4)

size_t ngx_octopus_sanitize(unsigned char *dst, const unsigned char *src,
    size_t len);

/* whether src is valid UTF-8 without NUL (then sanitising copies it) */
int ngx_octopus_utf8_clean(const unsigned char *src, size_t len);

/*
 * JSON string escaping (without the surrounding quotes): '"', '\\' and
 * control characters (< 0x20, 0x7f) are escaped, everything else is copied.
 */
size_t ngx_octopus_json_escape_len(const unsigned char *src, size_t len);
unsigned char *ngx_octopus_json_escape(unsigned char *dst,
    const unsigned char *src, size_t len);


#endif /* _NGX_OCTOPUS_JSON_H_INCLUDED_ */
