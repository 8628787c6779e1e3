
/*
 * Copyright (C) Octopus Guard authors
 *
 * The canonical request path, without nginx.
 *
 * nginx matches locations against r->uri, which it has already decoded,
 * dot-resolved and slash-merged, while proxy_pass without a URI part sends
 * the raw request target to the backend, and the backend's framework reads
 * that target its own way: Tomcat and Spring remove ";params" from every
 * segment, ASP.NET drops trailing dots and spaces and ignores case,
 * Express routes "/withdraw/" like "/withdraw".  The gateway decides on
 * one reading and either refuses every path another reader could read
 * differently (strict) or rewrites the path to that one reading and sends
 * the rewritten path upstream (canonical).
 */


#include <string.h>

#include "ngx_octopus_path.h"


static int ngx_octopus_path_hex(unsigned char c);
static int ngx_octopus_path_utf8(const unsigned char *p, size_t len);


static int
ngx_octopus_path_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF */

static int
ngx_octopus_path_utf8(const unsigned char *p, size_t len)
{
    size_t         i, n, k;
    unsigned int   c, min;

    for (i = 0; i < len; /* void */) {
        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 1;
            c &= 0x1f;
            min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            c &= 0x0f;
            min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            c &= 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (len - i <= n) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }

        i += n + 1;
    }

    return 1;
}


/*
 * raw: the request target's path as the client sent it (up to '?').
 * out: room for len bytes; receives the canonical path, decoded (as nginx
 * keeps r->uri).  Returns 0 if the raw path is its own canonical form,
 * 1 if out differs from it, -1 if the path is refused (*reason).
 *
 * Both policies refuse what has no single reading: an encoded '/', a '\'
 * (raw or encoded), control characters other than a trailing tab, invalid
 * percent-encoding, an encoded '%' that still encodes something (double
 * encoding), invalid UTF-8 (overlong '.' and '/' included), ".." above the
 * root and a segment made only of dots and spaces beyond "." and "..".
 * strict also refuses ";" parameters (raw or %3B), '#', dot segments
 * (raw or encoded), a segment ending in '.' or whitespace and empty
 * segments ("//"); canonical removes them instead: parameters up to the
 * next '/', dot segments resolved, trailing dots and whitespace dropped,
 * empty segments merged, the path ends at '#'.
 */

int
ngx_octopus_path_canon(const unsigned char *raw, size_t len, int policy,
    int lower, unsigned char *out, size_t *out_len, const char **reason)
{
    int                   hi, lo, last, strict;
    size_t                o, n, k, i;
    unsigned char         c, *d;
    const unsigned char  *p, *q, *s, *end;

    strict = (policy == NGX_OCTOPUS_PATH_STRICT);

    if (len == 0 || raw[0] != '/') {
        *reason = "not_absolute";
        return -1;
    }

    end = raw + len;

    /* a fragment is not sent by a browser: no reading of it is safe */

    for (p = raw; p < end; p++) {
        if (*p == '#') {
            if (strict) {
                *reason = "fragment";
                return -1;
            }

            end = p;
            break;
        }
    }

    /*
     * out holds "/seg/seg" (o bytes); each segment is decoded right after
     * the '/' that will precede it, which never overtakes the raw input
     */

    o = 0;
    p = raw + 1;

    for ( ;; ) {

        for (s = p; s < end && *s != '/'; s++) { /* void */ }

        last = (s == end);

        d = out + o + 1;
        n = 0;

        for (q = p; q < s; q++) {
            c = *q;

            if (c == '%') {
                if (s - q < 3
                    || (hi = ngx_octopus_path_hex(q[1])) < 0
                    || (lo = ngx_octopus_path_hex(q[2])) < 0)
                {
                    *reason = "invalid_encoding";
                    return -1;
                }

                c = (unsigned char) (hi << 4 | lo);
                q += 2;

                if (c == '/') {
                    *reason = "encoded_slash";
                    return -1;
                }
            }

            if (c == '\\') {
                *reason = "backslash";
                return -1;
            }

            if (c == ';') {
                if (strict) {
                    *reason = "path_parameter";
                    return -1;
                }

                /* a parameter, as Tomcat reads it: up to the next '/' */
                break;
            }

            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                *reason = "control_character";
                return -1;
            }

            if (lower && c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            d[n++] = c;
        }

        /* the trailing run of dots and whitespace */

        for (k = n; k && (d[k - 1] == '.' || d[k - 1] == ' '
                          || d[k - 1] == '\t');
             k--)
        { /* void */ }

        for (i = 0; i < n; i++) {
            if (d[i] == '\t' && i < k) {
                *reason = "control_character";
                return -1;
            }

            if (d[i] == '%' && i + 2 < n
                && ngx_octopus_path_hex(d[i + 1]) >= 0
                && ngx_octopus_path_hex(d[i + 2]) >= 0)
            {
                *reason = "double_encoding";
                return -1;
            }
        }

        if (!ngx_octopus_path_utf8(d, n)) {
            *reason = "invalid_utf8";
            return -1;
        }

        if (n == 0) {
            if (!last) {
                if (strict) {
                    *reason = "empty_segment";
                    return -1;
                }

                p = s + 1;
                continue;
            }

            out[o++] = '/';
            break;
        }

        if ((n == 1 && d[0] == '.') || (n == 2 && d[0] == '.' && d[1] == '.'))
        {
            if (strict) {
                *reason = "dot_segment";
                return -1;
            }

            if (n == 2) {
                if (o == 0) {
                    *reason = "above_root";
                    return -1;
                }

                while (out[--o] != '/') { /* void */ }
            }

            if (last) {
                out[o++] = '/';
                break;
            }

            p = s + 1;
            continue;
        }

        if (k < n) {
            if (strict) {
                *reason = (d[n - 1] == '.') ? "trailing_dot"
                                            : "trailing_whitespace";
                return -1;
            }

            if (k == 0) {
                /* "...", ". ", ".. ": Windows reads some as "..", or none */
                *reason = "dot_segment";
                return -1;
            }

            n = k;
        }

        out[o] = '/';
        o += 1 + n;

        if (last) {
            break;
        }

        p = s + 1;
    }

    if (o == 0) {
        out[o++] = '/';
    }

    *out_len = o;

    return (o != len || memcmp(out, raw, len) != 0) ? 1 : 0;
}


/*
 * Header names are compared as a backend reads them: case-insensitively,
 * and '_' like '-' (CGI, WSGI, PHP and Rack turn both into '_').
 */

static int
ngx_octopus_path_name_eq(const unsigned char *name, size_t len,
    const char *lc, size_t lc_len, int prefix)
{
    size_t         i;
    unsigned char  c;

    if (prefix ? len < lc_len : len != lc_len) {
        return 0;
    }

    for (i = 0; i < lc_len; i++) {
        c = name[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;

        } else if (c == '_') {
            c = '-';
        }

        if (c != (unsigned char) lc[i]) {
            return 0;
        }
    }

    return 1;
}


int
ngx_octopus_path_header_class(const unsigned char *name, size_t len)
{
    static const char  *overrides[] = {
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        NULL
    };

    const char  **o;

    if (ngx_octopus_path_name_eq(name, len, "x-octopus-", 10, 1)) {
        return NGX_OCTOPUS_HEADER_IDENTITY;
    }

    for (o = overrides; *o; o++) {
        if (ngx_octopus_path_name_eq(name, len, *o, strlen(*o), 0)) {
            return NGX_OCTOPUS_HEADER_OVERRIDE;
        }
    }

    return NGX_OCTOPUS_HEADER_OTHER;
}


/* the method an override value names, case-insensitively, spaces trimmed */

int
ngx_octopus_path_method(const unsigned char *value, size_t len)
{
    static const char  *methods[] = {
        NULL, "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"
    };

    int     m;
    size_t  i, l;

    while (len && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        len--;
    }

    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t')) {
        len--;
    }

    for (m = NGX_OCTOPUS_METHOD_GET; m <= NGX_OCTOPUS_METHOD_OPTIONS; m++) {
        l = strlen(methods[m]);

        if (l != len) {
            continue;
        }

        for (i = 0; i < l; i++) {
            if ((value[i] & ~0x20) != (unsigned char) methods[m][i]) {
                break;
            }
        }

        if (i == l) {
            return m;
        }
    }

    return NGX_OCTOPUS_METHOD_UNKNOWN;
}


/* decodes a query component ('+' is a space); -1 if longer than size */

static long
ngx_octopus_path_query_decode(const unsigned char *p, size_t len,
    unsigned char *buf, size_t size)
{
    int     hi, lo;
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++) {
        if (n == size) {
            return -1;
        }

        if (p[i] == '%' && i + 2 < len
            && (hi = ngx_octopus_path_hex(p[i + 1])) >= 0
            && (lo = ngx_octopus_path_hex(p[i + 2])) >= 0)
        {
            buf[n++] = (unsigned char) (hi << 4 | lo);
            i += 2;

        } else if (p[i] == '+') {
            buf[n++] = ' ';

        } else {
            buf[n++] = p[i];
        }
    }

    return (long) n;
}


/*
 * Whether a form or query parameter name is "_method" as the frameworks
 * read it: percent-decoded ('+' a space) when decode is set, in any case
 * (ASP.NET Core's form field "_METHOD" is read with OrdinalIgnoreCase),
 * and as PHP registers it (Laravel, Symfony): leading spaces dropped, ' '
 * and '.' read as '_', the name ending at a NUL; "_method[...]" too.
 */

static int
ngx_octopus_path_method_name(const unsigned char *p, size_t len, int decode)
{
    int            hi, lo, lead;
    size_t         i, n;
    unsigned char  c;

    lead = 1;
    n = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (decode) {
            if (c == '+') {
                c = ' ';

            } else if (c == '%' && i + 2 < len
                       && (hi = ngx_octopus_path_hex(p[i + 1])) >= 0
                       && (lo = ngx_octopus_path_hex(p[i + 2])) >= 0)
            {
                c = (unsigned char) (hi << 4 | lo);
                i += 2;
            }
        }

        if (c == '\0') {
            break;
        }

        if (lead && c == ' ') {
            continue;
        }

        lead = 0;

        if (n == 7) {
            return (c == '[');
        }

        if (c == ' ' || c == '.') {
            c = '_';

        } else if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) "_method"[n]) {
            return 0;
        }

        n++;
    }

    return (n == 7);
}


/*
 * Removes every "_method" parameter (also "%5Fmethod", "_method[...]" and
 * PHP's spellings: " _method", ".method", "_method%00...") from a query
 * string; '&' and ';' both separate parameters, as some
 * frameworks read them.  out has room for len bytes.  *method and
 * *conflict accumulate the values (the caller sets *method to -1 and
 * *conflict to 0 first): the first method named, NGX_OCTOPUS_METHOD_UNKNOWN
 * for a value that names none, *conflict set when two values differ.
 * Returns the number of parameters removed.
 */

int
ngx_octopus_path_query_strip(const unsigned char *args, size_t len,
    unsigned char *out, size_t *out_len, int *method, int *conflict)
{
    int                   removed, m;
    long                  n;
    size_t                o;
    unsigned char         buf[32];
    const unsigned char  *p, *s, *eq, *end;

    removed = 0;
    o = 0;
    end = args + len;

    for (p = args; p <= end; p = s + 1) {

        for (s = p; s < end && *s != '&' && *s != ';'; s++) { /* void */ }

        for (eq = p; eq < s && *eq != '='; eq++) { /* void */ }

        if (ngx_octopus_path_method_name(p, eq - p, 1)) {
            removed++;

            n = (eq < s) ? ngx_octopus_path_query_decode(eq + 1, s - eq - 1,
                                                         buf, sizeof(buf))
                         : 0;

            m = (n > 0) ? ngx_octopus_path_method(buf, (size_t) n)
                        : NGX_OCTOPUS_METHOD_UNKNOWN;

            if (*method < 0) {
                *method = m;

            } else if (*method != m) {
                *conflict = 1;
            }

        } else if (s > p) {
            if (o) {
                out[o++] = p[-1];
            }

            memcpy(out + o, p, s - p);
            o += s - p;
        }

        if (s == end) {
            break;
        }
    }

    *out_len = o;

    return removed;
}


static int
ngx_octopus_path_lc_eq(const unsigned char *p, const char *lc, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i])
            != (unsigned char) lc[i])
        {
            return 0;
        }
    }

    return 1;
}


static const unsigned char *
ngx_octopus_path_find(const unsigned char *p, const unsigned char *end,
    const unsigned char *s, size_t n)
{
    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        if (memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/*
 * the boundary of a multipart Content-Type value; returns its length (0:
 * none, or longer than RFC 2046's 70 characters)
 */

size_t
ngx_octopus_path_multipart_boundary(const unsigned char *ctype, size_t len,
    const unsigned char **boundary)
{
    size_t                n;
    const unsigned char  *p, *end, *b;

    end = ctype + len;

    for (p = ctype; (size_t) (end - p) > 9; p++) {

        if (!ngx_octopus_path_lc_eq(p, "boundary=", 9)
            || (p > ctype && p[-1] != ';' && p[-1] != ' ' && p[-1] != '\t'))
        {
            continue;
        }

        b = p + 9;

        if (*b == '"') {
            b++;
            for (p = b; p < end && *p != '"'; p++) { /* void */ }

        } else {
            for (p = b; p < end && *p != ';' && *p != ' ' && *p != '\t';
                 p++)
            { /* void */ }
        }

        n = p - b;

        if (n == 0 || n > 70) {
            return 0;
        }

        *boundary = b;
        return n;
    }

    return 0;
}


/* the value of a name= parameter in a Content-Disposition header line */

static int
ngx_octopus_path_part_name(const unsigned char *p, const unsigned char *end,
    const unsigned char **name, size_t *len)
{
    const unsigned char  *v;

    for ( /* void */ ; end - p > 5; p++) {

        if (!ngx_octopus_path_lc_eq(p, "name=", 5)
            || (p[-1] != ';' && p[-1] != ' ' && p[-1] != '\t'))
        {
            continue;
        }

        v = p + 5;

        if (*v == '"') {
            v++;
            for (p = v; p < end && *p != '"'; p++) { /* void */ }

        } else {
            for (p = v; p < end && *p != ';' && *p != ' ' && *p != '\t';
                 p++)
            { /* void */ }
        }

        *name = v;
        *len = p - v;

        return 1;
    }

    return 0;
}


static int
ngx_octopus_path_is_method_field(const unsigned char *name, size_t len)
{
    return ngx_octopus_path_method_name(name, len, 0);
}


/*
 * multipart/form-data: the parts named "_method" (or "_method[...]"),
 * their values accumulated as by ngx_octopus_path_query_strip().  Returns
 * the number of such parts, or -1 when the body cannot be read one way:
 * no delimiter, a part without a header end, or a name="_method" text the
 * parse did not find as a part (a lenient parser might).
 */

int
ngx_octopus_path_multipart_method(const unsigned char *body, size_t len,
    const unsigned char *boundary, size_t blen, int *method, int *conflict)
{
    int                   found, seen, m, ext, k;
    size_t                dlen, nlen;
    unsigned char         delim[80];
    const unsigned char  *p, *end, *h, *hend, *next, *eol, *name, *v, *q;

    end = body + len;

    if (blen == 0 || blen > 70) {
        return -1;
    }

    /*
     * every name= or name*= anywhere that names "_method" as a framework
     * may read it: quoted or not, after ';' or any white space (Rack's
     * "\s+name="), RFC 2231's charset'language' prefix skipped and the
     * value percent-decoded for name*=, PHP's spellings (" _method",
     * ".method"); a part the parse below does not find is refused
     */

    seen = 0;

    for (p = body + 1; end - p > 5; p++) {
        if (!(p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r'
              || p[-1] == '\n' || p[-1] == '\v' || p[-1] == '\f')
            || !ngx_octopus_path_lc_eq(p, "name", 4))
        {
            continue;
        }

        h = p + 4;
        ext = (*h == '*');
        h += ext;

        if (h == end || *h != '=') {
            continue;
        }

        h++;

        if (h < end && *h == '"') {
            h++;
            for (v = h; v < end && *v != '"'; v++) { /* void */ }

        } else {
            for (v = h; v < end && *v != ';' && *v != ' ' && *v != '\t'
                        && *v != '\r' && *v != '\n'; v++)
            { /* void */ }
        }

        if (ext) {
            for (k = 0, q = h; q < v && k < 2; q++) {
                if (*q == '\'') {
                    k++;
                    h = q + 1;
                }
            }
        }

        if (ngx_octopus_path_method_name(h, v - h, ext)) {
            seen++;
        }
    }

    delim[0] = '\r';
    delim[1] = '\n';
    delim[2] = '-';
    delim[3] = '-';
    memcpy(delim + 4, boundary, blen);
    dlen = blen + 4;

    /* the first delimiter may open the body without the CRLF */

    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        p = body + dlen - 2;

    } else {
        p = ngx_octopus_path_find(body, end, delim, dlen);
        if (p == NULL) {
            return -1;
        }

        p += dlen;
    }

    found = 0;

    for ( ;; ) {
        /* after a delimiter: "--" ends the body, else CRLF and a part */

        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            break;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return -1;
        }

        h = p + 2;

        hend = ngx_octopus_path_find(h - 2, end,
                                     (const unsigned char *) "\r\n\r\n", 4);
        if (hend == NULL) {
            return -1;
        }

        next = ngx_octopus_path_find(hend + 4, end, delim, dlen);
        if (next == NULL) {
            return -1;
        }

        for (p = h; p < hend; p = eol + 2) {
            eol = ngx_octopus_path_find(p, hend + 2,
                                        (const unsigned char *) "\r\n", 2);
            if (eol == NULL) {
                eol = hend;
            }

            if (eol - p > 20
                && ngx_octopus_path_lc_eq(p, "content-disposition:", 20)
                && ngx_octopus_path_part_name(p + 20, eol, &name, &nlen)
                && ngx_octopus_path_is_method_field(name, nlen))
            {
                found++;

                m = ngx_octopus_path_method(hend + 4, next - hend - 4);

                if (*method < 0) {
                    *method = m;

                } else if (*method != m) {
                    *conflict = 1;
                }
            }
        }

        p = next + dlen;
    }

    return (found == seen) ? found : -1;
}


/*
 * A JSON body: the number of its strings (keys or values, at any depth)
 * that unescape to a "_method" name (ngx_octopus_path_method_name()):
 * Laravel reads "_method" from a JSON body, Express's method-override
 * with a getter from req.body.  Lexical: what does not parse as JSON
 * still has its strings counted.
 */

int
ngx_octopus_path_json_method(const unsigned char *body, size_t len)
{
    int            found, hi, k;
    size_t         i, n;
    unsigned int   u;
    unsigned char  c, buf[64];

    found = 0;

    for (i = 0; i < len; i++) {

        if (body[i] != '"') {
            continue;
        }

        /* a string: unescaped into buf as far as it fits */

        n = 0;

        for (i++; i < len && body[i] != '"'; i++) {
            c = body[i];

            if (c == '\\' && i + 1 < len) {
                c = body[++i];

                switch (c) {

                case 'u':
                    for (u = 0, k = 1; k <= 4 && i + k < len; k++) {
                        hi = ngx_octopus_path_hex(body[i + k]);
                        if (hi < 0) {
                            break;
                        }

                        u = u << 4 | (unsigned int) hi;
                    }

                    if (k > 4) {
                        i += 4;
                        c = (u < 0x80) ? (unsigned char) u : 0x80;
                    }

                    break;

                case 'b':
                    c = '\b';
                    break;

                case 'f':
                    c = '\f';
                    break;

                case 'n':
                    c = '\n';
                    break;

                case 'r':
                    c = '\r';
                    break;

                case 't':
                    c = '\t';
                    break;

                default: /* '"', '\\', '/' */
                    break;
                }
            }

            if (n < sizeof(buf)) {
                buf[n++] = c;
            }
        }

        if (ngx_octopus_path_method_name(buf, n, 0)) {
            found++;
        }
    }

    return found;
}
