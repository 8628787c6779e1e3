
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: the login field readers (JSON, form, multipart, content
 * types, UTF-16/32 JSON) with every refusal, and the canonical login name.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_ratelimit_field.h"
#include "ngx_octopus_ratelimit_login.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1

#define FOUND      NGX_OCTOPUS_RL_FIELD_FOUND
#define ABSENT     NGX_OCTOPUS_RL_FIELD_ABSENT
#define DUPLICATE  NGX_OCTOPUS_RL_FIELD_DUPLICATE
#define NOT_STRING NGX_OCTOPUS_RL_FIELD_NOT_STRING
#define TOO_LONG   NGX_OCTOPUS_RL_FIELD_TOO_LONG
#define MALFORMED  NGX_OCTOPUS_RL_FIELD_MALFORMED
#define ENCODING   NGX_OCTOPUS_RL_FIELD_ENCODING


static char  out[1024];


static int
json_n(const char *body, size_t len, const char *name)
{
    int     rc;
    size_t  n;

    n = 0;
    rc = ngx_octopus_rl_field_json((const unsigned char *) body, len,
                                   (const unsigned char *) name, strlen(name),
                                   (unsigned char *) out, 16, &n);
    out[rc == FOUND ? n : 0] = '\0';

    return rc;
}


static int
json(const char *body, const char *name)
{
    return json_n(body, strlen(body), name);
}


static int
form(const char *body, const char *name)
{
    int     rc;
    size_t  n;

    n = 0;
    rc = ngx_octopus_rl_field_form((const unsigned char *) body, strlen(body),
                                   (const unsigned char *) name, strlen(name),
                                   (unsigned char *) out, 16, &n);
    out[rc == FOUND ? n : 0] = '\0';

    return rc;
}


static int
query(const char *args, const char *name)
{
    int     rc;
    size_t  n;

    n = 0;
    rc = ngx_octopus_rl_field_query((const unsigned char *) args,
                                    strlen(args), (const unsigned char *) name,
                                    strlen(name), (unsigned char *) out, 16,
                                    &n);
    out[rc == FOUND ? n : 0] = '\0';

    return rc;
}


static int
mp(const char *body, const char *name)
{
    int     rc;
    size_t  n;

    n = 0;
    rc = ngx_octopus_rl_field_multipart((const unsigned char *) body,
                                        strlen(body), S("XyZ"),
                                        (const unsigned char *) name,
                                        strlen(name), (unsigned char *) out,
                                        16, &n);
    out[rc == FOUND ? n : 0] = '\0';

    return rc;
}


static void
test_field_json(void **state)
{
    assert_int_equal(json("{\"username\":\"alice\"}", "username"), FOUND);
    assert_string_equal(out, "alice");

    assert_int_equal(json(" { \"a\" : {\"username\":\"x\",\"b\":[1,{\"c\":"
                          "\"}\"}]}, \"n\": -1.5e3, \"t\": true , "
                          "\"username\" : \"b\\u00e9\\\"o\\/b\" } ",
                          "username"), FOUND);
    assert_string_equal(out, "b\xc3\xa9\"o/b");

    assert_int_equal(json("{\"u\\u0073er\":\"\\ud83d\\ude00\"}", "user"),
                     FOUND);
    assert_string_equal(out, "\xf0\x9f\x98\x80");

    assert_int_equal(json("{\"username\":\"0123456789abcdef\"}", "username"),
                     FOUND);
    assert_int_equal(json("{\"username\":\"\"}", "username"), FOUND);
    assert_string_equal(out, "");

    assert_int_equal(json("{\"other\":\"alice\"}", "username"), ABSENT);
    assert_int_equal(json("{}", "username"), ABSENT);
    assert_int_equal(json(" {} \r\n", "username"), ABSENT);
    assert_int_equal(json("{\"a\":{\"username\":\"x\"}}", "username"),
                     ABSENT);
}


static void
test_field_json_refused(void **state)
{
    /* the field twice, at any escaping spelling */

    assert_int_equal(json("{\"username\":\"a\",\"username\":\"b\"}",
                          "username"), DUPLICATE);
    assert_int_equal(json("{\"username\":\"a\",\"x\":1,"
                          "\"user\\u006eame\":\"b\"}", "username"),
                     DUPLICATE);
    assert_int_equal(json("{\"username\":42,\"username\":\"b\"}",
                          "username"), NOT_STRING);

    /* not a string */

    assert_int_equal(json("{\"username\":42}", "username"), NOT_STRING);
    assert_int_equal(json("{\"username\":null}", "username"), NOT_STRING);
    assert_int_equal(json("{\"username\":[\"a\"]}", "username"), NOT_STRING);
    assert_int_equal(json("{\"username\":{\"a\":1}}", "username"),
                     NOT_STRING);
    assert_int_equal(json("{\"username\":true}", "username"), NOT_STRING);
    assert_int_equal(json("{\"username\":\"a\",\"UserName\":\"b\"}",
                          "username"), DUPLICATE);
    assert_int_equal(json("{\"username\":\"a\",\"u\u017fername\":\"b\"}",
                          "username"), DUPLICATE);
    assert_int_equal(json("{\"USERNAME\":\"c\"}", "username"), FOUND);
    assert_int_equal(json("{\"username[]\":\"c\"}", "username"), ABSENT);

    /* too long: never truncated, still scanned for a duplicate */

    assert_int_equal(json("{\"username\":\"0123456789abcdefg\"}", "username"),
                     TOO_LONG);
    assert_int_equal(json("{\"username\":\"0123456789abcdefg\","
                          "\"username\":\"a\"}", "username"), DUPLICATE);

    /* malformed anywhere, also after the field */

    assert_int_equal(json("[\"username\",\"x\"]", "username"), MALFORMED);
    assert_int_equal(json("{\"username\":\"alice", "username"), MALFORMED);
    assert_int_equal(json("{\"username\":\"\\ud83d\"}", "username"),
                     MALFORMED);
    assert_int_equal(json("{\"username\":\"a\x01\"}", "username"), MALFORMED);
    assert_int_equal(json("", "username"), MALFORMED);
    assert_int_equal(json("   ", "username"), MALFORMED);
    assert_int_equal(json("{", "username"), MALFORMED);
    assert_int_equal(json("{\"a\":[[[", "username"), MALFORMED);
    assert_int_equal(json("{\"username\":\"a\"} x", "username"), MALFORMED);
    assert_int_equal(json("{\"username\":\"a\"}{\"username\":\"b\"}",
                          "username"), MALFORMED);
    assert_int_equal(json("{\"username\":\"a\",}", "username"), MALFORMED);
    assert_int_equal(json("{\"a\":,\"username\":\"b\"}", "username"),
                     MALFORMED);
    assert_int_equal(json("{\"a\":[1},\"username\":\"b\"}", "username"),
                     MALFORMED);
    assert_int_equal(json("{\"a\":{1],\"username\":\"b\"}", "username"),
                     MALFORMED);
    assert_int_equal(json("{\"username\" \"a\"}", "username"), MALFORMED);
    assert_int_equal(json("\xef\xbb\xbf{\"username\":\"a\"}", "username"),
                     MALFORMED);          /* the caller strips a BOM */
}


static void
test_field_json_depth(void **state)
{
    char    body[512];
    size_t  i, n;

    /* 64 levels are skipped, 65 refused */

    for (n = 64; n <= 65; n++) {
        strcpy(body, "{\"a\":");
        for (i = 0; i < n; i++) {
            strcat(body, "[");
        }
        for (i = 0; i < n; i++) {
            strcat(body, "]");
        }
        strcat(body, ",\"u\":\"x\"}");

        assert_int_equal(json(body, "u"), n == 64 ? FOUND : MALFORMED);
    }
}


static void
test_field_form(void **state)
{
    assert_int_equal(form("a=1&username=al%69ce+x&b=2", "username"), FOUND);
    assert_string_equal(out, "alice x");

    assert_int_equal(form("user%6Eame=bob", "username"), FOUND);
    assert_string_equal(out, "bob");

    assert_int_equal(form("username=", "username"), FOUND);
    assert_string_equal(out, "");

    /* a key without "=": the field, empty (PHP, Spring) */

    assert_int_equal(form("usernamex=1&username", "username"), FOUND);
    assert_string_equal(out, "");

    assert_int_equal(form("&&username=a&&", "username"), FOUND);
    assert_string_equal(out, "a");

    assert_int_equal(form("", "username"), ABSENT);
    assert_int_equal(form("user=a&name=b", "username"), ABSENT);
    assert_int_equal(form("x=%zz&user=a", "username"), ABSENT);
}


static void
test_field_form_refused(void **state)
{
    assert_int_equal(form("username=a&username=b", "username"), DUPLICATE);
    assert_int_equal(form("username=a&user%6eame=a", "username"), DUPLICATE);
    assert_int_equal(form("username=a&username", "username"), DUPLICATE);
    assert_int_equal(form("username=0123456789abcdefg", "username"),
                     TOO_LONG);
    assert_int_equal(form("username=0123456789abcdef%20", "username"),
                     TOO_LONG);
    assert_int_equal(form("username=0123456789abcdefg&username=a",
                          "username"), DUPLICATE);
    assert_int_equal(form("username=%zz", "username"), MALFORMED);
    assert_int_equal(form("username=ab%4", "username"), MALFORMED);
    assert_int_equal(form("user%6=a", "username"), MALFORMED);

    /* what PHP, Rails and qs read as the field, or as its array */
    assert_int_equal(form("username[]=victim", "username"), NOT_STRING);
    assert_int_equal(form("a=1&username%5B0%5D=victim", "username"),
                     NOT_STRING);
    assert_int_equal(form("username=a&+username=victim", "username"),
                     DUPLICATE);
    assert_int_equal(form("username=a&username%00x=victim", "username"),
                     DUPLICATE);
    assert_int_equal(form("user_name=a&user.name=b", "user_name"),
                     DUPLICATE);
    assert_int_equal(form("user[email]=a&user[email][]=b", "user[email]"),
                     NOT_STRING);
    assert_int_equal(form("usernames=a&xusername=b&user=c", "username"),
                     ABSENT);

    /* ASP.NET Core binds keys with OrdinalIgnoreCase */
    assert_int_equal(form("USERNAME=bob", "username"), FOUND);
    assert_string_equal(out, "bob");
    assert_int_equal(form("username=a&UserName=b", "username"), DUPLICATE);
    assert_int_equal(form("u%C5%BFername=a&username=b", "username"),
                     DUPLICATE);
    assert_int_equal(form("u%C5%BEername=a", "username"), ABSENT);

    /* the query string as Rack 2 reads it too: ';' separates */
    assert_int_equal(query("username=a;username=vic", "username"),
                     DUPLICATE);
    assert_int_equal(query("username=a;b", "username"), MALFORMED);
    assert_int_equal(query("x=1;y=2&username=bob", "username"), FOUND);
    assert_string_equal(out, "bob");
    assert_int_equal(query("username=bob;x=1", "username"), MALFORMED);
    assert_int_equal(query("a;b=1&c", "username"), ABSENT);
    assert_int_equal(form("username=a;username=v", "username"), FOUND);
}


#define MP_PART(name, value)                                                \
    "--XyZ\r\nContent-Disposition: form-data; name=" name "\r\n\r\n"        \
    value "\r\n"


static void
test_field_multipart(void **state)
{
    assert_int_equal(mp("preamble\r\n" MP_PART("\"password\"", "x")
                        MP_PART("\"username\"", "alice") "--XyZ--\r\n",
                        "username"), FOUND);
    assert_string_equal(out, "alice");

    assert_int_equal(mp(MP_PART("username", "bob") "--XyZ--", "username"),
                     FOUND);
    assert_string_equal(out, "bob");

    assert_int_equal(mp("--XyZ  \r\ncontent-disposition: FORM-DATA; "
                        "name=\"user\\name\"; filename=\"a\\\"b\"\r\n"
                        "Content-Type: text/plain\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\n"
                        "v\r\nw\r\n--XyZ--", "username"), FOUND);
    assert_string_equal(out, "v\r\nw");

    assert_int_equal(mp(MP_PART("\"username\"", "") "--XyZ--", "username"),
                     FOUND);
    assert_string_equal(out, "");

    assert_int_equal(mp(MP_PART("\"user\"", "a") "--XyZ--", "username"),
                     ABSENT);
    assert_int_equal(mp("--XyZ--", "username"), ABSENT);
}


static void
test_field_multipart_refused(void **state)
{
    assert_int_equal(mp(MP_PART("\"username\"", "a")
                        MP_PART("\"username\"", "b") "--XyZ--", "username"),
                     DUPLICATE);
    assert_int_equal(mp(MP_PART("\"username\"", "0123456789abcdefg")
                        "--XyZ--", "username"), TOO_LONG);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; "
                        "name=\"username\"\r\n"
                        "Content-Transfer-Encoding: base64\r\n\r\n"
                        "YWxpY2U=\r\n--XyZ--", "username"), ENCODING);

    /* PHP's spellings of the part's name, the field as an array */
    assert_int_equal(mp(MP_PART("\"username\"", "a")
                        MP_PART("\" username\"", "b") "--XyZ--", "username"),
                     DUPLICATE);
    assert_int_equal(mp(MP_PART("\"username[]\"", "victim") "--XyZ--",
                        "username"), NOT_STRING);

    /* no close delimiter, no headers end, bad headers */

    assert_int_equal(mp(MP_PART("\"username\"", "a"), "username"),
                     MALFORMED);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; "
                        "name=\"username\"\r\n", "username"), MALFORMED);
    assert_int_equal(mp("--XyZ\r\nbad header\r\n\r\na\r\n--XyZ--",
                        "username"), MALFORMED);
    assert_int_equal(mp("--XyZx\r\n", "username"), MALFORMED);
    assert_int_equal(mp("no delimiter at all", "username"), MALFORMED);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: attachment; "
                        "name=\"username\"\r\n\r\na\r\n--XyZ--", "username"),
                     MALFORMED);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; "
                        "name=\"a\"; name=\"username\"\r\n\r\na\r\n--XyZ--",
                        "username"), MALFORMED);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; "
                        "name*=UTF-8''username\r\n\r\na\r\n--XyZ--",
                        "username"), MALFORMED);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; "
                        "name=\"a\"\r\nContent-Disposition: form-data; "
                        "name=\"username\"\r\n\r\na\r\n--XyZ--",
                        "username"), MALFORMED);
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; "
                        "name=\"username\r\n\r\na\r\n--XyZ--", "username"),
                     MALFORMED);
}


static int
ctype(const char *ct, const char **b, size_t *blen)
{
    *b = NULL;
    *blen = 0;

    return ngx_octopus_rl_field_ctype((const unsigned char *) ct, strlen(ct),
                                      (const unsigned char **) b, blen);
}


static void
test_ctype(void **state)
{
    size_t       blen;
    const char  *b;

    assert_int_equal(ctype("application/json", &b, &blen),
                     NGX_OCTOPUS_RL_CT_JSON);
    assert_int_equal(ctype(" Application/JSON ; charset=\"UTF-8\"", &b,
                           &blen), NGX_OCTOPUS_RL_CT_JSON);
    assert_int_equal(ctype("application/vnd.api+json", &b, &blen),
                     NGX_OCTOPUS_RL_CT_JSON);
    assert_int_equal(ctype("application/+json", &b, &blen),
                     NGX_OCTOPUS_RL_CT_OTHER);
    assert_int_equal(ctype("application/x-www-form-urlencoded;charset=utf-8",
                           &b, &blen), NGX_OCTOPUS_RL_CT_FORM);
    assert_int_equal(ctype("multipart/form-data; boundary=XyZ", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MULTIPART);
    assert_int_equal(blen, 3);
    assert_memory_equal(b, "XyZ", 3);
    assert_int_equal(ctype("multipart/form-data; boundary=\"a b\";", &b,
                           &blen), NGX_OCTOPUS_RL_CT_MULTIPART);
    assert_int_equal(blen, 3);
    assert_int_equal(ctype("text/plain", &b, &blen), NGX_OCTOPUS_RL_CT_OTHER);
    assert_int_equal(ctype("application/jsonx", &b, &blen),
                     NGX_OCTOPUS_RL_CT_OTHER);
    assert_int_equal(ctype("", &b, &blen), NGX_OCTOPUS_RL_CT_OTHER);

    assert_int_equal(ctype("application/json; charset=iso-8859-1", &b,
                           &blen), NGX_OCTOPUS_RL_CT_CHARSET);
    assert_int_equal(ctype("application/x-www-form-urlencoded; "
                           "charset=utf-16", &b, &blen),
                     NGX_OCTOPUS_RL_CT_CHARSET);

    assert_int_equal(ctype("multipart/form-data", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("multipart/form-data; boundary=", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("multipart/form-data; boundary=a; boundary=b",
                           &b, &blen), NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("application/json; charset=utf-8; charset=utf-8",
                           &b, &blen), NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("application/json; charset", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("application/json x", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MALFORMED);

    /* PHP reads the boundary after the first "boundary" anywhere */
    assert_int_equal(ctype("multipart/form-data; xboundary=A; boundary=B",
                           &b, &blen), NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("multipart/form-data; BOUNDARY=B; x=boundary",
                           &b, &blen), NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("multipart/form-data; boundary=Xy,Z", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MALFORMED);
    assert_int_equal(ctype("multipart/form-data; BOUNDARY=B", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MULTIPART);
    assert_int_equal(ctype("multipart/form-data; "
                           "boundary=----WebKitFormBoundaryx7", &b, &blen),
                     NGX_OCTOPUS_RL_CT_MULTIPART);
}


static void
test_json_encoding(void **state)
{
    size_t         bom, n;
    unsigned char  buf[64];

    assert_int_equal(ngx_octopus_rl_json_encoding(S("{\"a\":1}"), &bom),
                     NGX_OCTOPUS_RL_UTF8);
    assert_int_equal(bom, 0);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\xef\xbb\xbf{}"), &bom),
                     NGX_OCTOPUS_RL_UTF8);
    assert_int_equal(bom, 3);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\xff\xfe{\0}\0"), &bom),
                     NGX_OCTOPUS_RL_UTF16LE);
    assert_int_equal(bom, 2);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\xfe\xff\0{\0}"), &bom),
                     NGX_OCTOPUS_RL_UTF16BE);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\xff\xfe\0\0{\0\0\0"),
                                                  &bom),
                     NGX_OCTOPUS_RL_UTF32LE);
    assert_int_equal(bom, 4);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\0\0\xfe\xff\0\0\0{"),
                                                  &bom),
                     NGX_OCTOPUS_RL_UTF32BE);

    /* RFC 4627 section 3: the NUL pattern of the first four bytes */

    assert_int_equal(ngx_octopus_rl_json_encoding(S("{\0\"\0"), &bom),
                     NGX_OCTOPUS_RL_UTF16LE);
    assert_int_equal(bom, 0);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\0{\0\""), &bom),
                     NGX_OCTOPUS_RL_UTF16BE);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("{\0\0\0"), &bom),
                     NGX_OCTOPUS_RL_UTF32LE);
    assert_int_equal(ngx_octopus_rl_json_encoding(S("\0\0\0{"), &bom),
                     NGX_OCTOPUS_RL_UTF32BE);

    assert_int_equal(ngx_octopus_rl_json_transcode(
                         S("{\0\"\0a\0\"\0:\0\"\0\xe9\0=\xd8\0\xde\"\0}\0"),
                         NGX_OCTOPUS_RL_UTF16LE, buf, &n), 0);
    assert_int_equal(n, 14);
    assert_memory_equal(buf, "{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", 14);

    assert_int_equal(ngx_octopus_rl_json_transcode(S("\0{\0}"),
                         NGX_OCTOPUS_RL_UTF16BE, buf, &n), 0);
    assert_memory_equal(buf, "{}", 2);

    assert_int_equal(ngx_octopus_rl_json_transcode(
                         S("\0\0\0{\0\x01\xf6\0\0\0\0}"),
                         NGX_OCTOPUS_RL_UTF32BE, buf, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "{\xf0\x9f\x98\x80}", 6);

    /* odd length, unpaired surrogates, beyond U+10FFFF */

    assert_int_equal(ngx_octopus_rl_json_transcode(S("{\0}"),
                         NGX_OCTOPUS_RL_UTF16LE, buf, &n), -1);
    assert_int_equal(ngx_octopus_rl_json_transcode(S("=\xd8"),
                         NGX_OCTOPUS_RL_UTF16LE, buf, &n), -1);
    assert_int_equal(ngx_octopus_rl_json_transcode(S("=\xd8{\0"),
                         NGX_OCTOPUS_RL_UTF16LE, buf, &n), -1);
    assert_int_equal(ngx_octopus_rl_json_transcode(S("\0\xde"),
                         NGX_OCTOPUS_RL_UTF16LE, buf, &n), -1);
    assert_int_equal(ngx_octopus_rl_json_transcode(S("\0\0\x11\0"),
                         NGX_OCTOPUS_RL_UTF32LE, buf, &n), -1);
    assert_int_equal(ngx_octopus_rl_json_transcode(S("\0\xd8\0\0"),
                         NGX_OCTOPUS_RL_UTF32LE, buf, &n), -1);
    assert_int_equal(ngx_octopus_rl_json_transcode(S("{\0\0"),
                         NGX_OCTOPUS_RL_UTF32LE, buf, &n), -1);
}


static int
canon(const char *in, size_t len, size_t outsz)
{
    int     rc;
    size_t  n;

    n = 0;
    rc = ngx_octopus_rl_login_canon((const unsigned char *) in, len,
                                    (unsigned char *) out, outsz, &n);
    out[rc == NGX_OCTOPUS_RL_LOGIN_OK ? n : 0] = '\0';

    return rc;
}


#define CANON(s, expect)                                                    \
    assert_int_equal(canon(s, sizeof(s) - 1, 256), NGX_OCTOPUS_RL_LOGIN_OK); \
    assert_string_equal(out, expect)


static void
test_login_canon(void **state)
{
    char  big[300];

    /* the four spellings: one account */

    CANON("Victim", "victim");
    CANON(" victim", "victim");
    CANON("victim\xe2\x80\x8b", "victim");                /* U+200B */
    CANON("\xef\xbd\x96ictim", "victim");                 /* U+FF56 */

    CANON("\t\xc2\xa0 VICTIM \xe3\x80\x80\r\n", "victim"); /* NBSP, U+3000 */
    CANON("vic\xc2\xadtim", "victim");                    /* soft hyphen */
    CANON("\xe2\x80\x8b victim", "victim");        /* ZWSP uncovers a space */
    CANON("vi\xef\xbb\xbf" "ctim\xe2\x81\xa0", "victim"); /* BOM, WJ */
    CANON("Stra\xc3\x9f" "e", "strasse");                 /* case folding */
    CANON("\xef\xac\x81le", "file");                      /* U+FB01 fi */
    CANON("e\xcc\x81", "\xc3\xa9");                       /* NFC */
    CANON("\xe2\x84\xaa", "k");                           /* Kelvin sign */
    CANON("a b", "a b");                                  /* inner spaces */
    CANON("vic\r\ntim", "vic\r\ntim");     /* controls kept, then escaped */
    CANON("", "");
    CANON("   ", "");
    CANON("\xe2\x80\x8b", "");

    /* idempotent */

    CANON("victim", "victim");

    /* invalid UTF-8: overlong, surrogate, truncated, > U+10FFFF, stray */

    assert_int_equal(canon("\xc0\xaf", 2, 256), NGX_OCTOPUS_RL_LOGIN_UTF8);
    assert_int_equal(canon("\xe0\x80\xaf", 3, 256),
                     NGX_OCTOPUS_RL_LOGIN_UTF8);
    assert_int_equal(canon("\xed\xa0\x80", 3, 256),
                     NGX_OCTOPUS_RL_LOGIN_UTF8);
    assert_int_equal(canon("a\xe2\x80", 3, 256), NGX_OCTOPUS_RL_LOGIN_UTF8);
    assert_int_equal(canon("\xf4\x90\x80\x80", 4, 256),
                     NGX_OCTOPUS_RL_LOGIN_UTF8);
    assert_int_equal(canon("\x80", 1, 256), NGX_OCTOPUS_RL_LOGIN_UTF8);
    assert_int_equal(canon("\xff", 1, 256), NGX_OCTOPUS_RL_LOGIN_UTF8);

    assert_true(ngx_octopus_rl_login_utf8(S("\xf4\x8f\xbf\xbf")));
    assert_false(ngx_octopus_rl_login_utf8(S("\xf5\x80\x80\x80")));

    /* NUL: a C backend would read "vic" of "vic\0tim" */
    assert_false(ngx_octopus_rl_login_utf8((const unsigned char *) "vic\0tim",
                                           7));
    assert_int_equal(canon("vic\0tim", 7, 256), NGX_OCTOPUS_RL_LOGIN_UTF8);

    /* the canonical form must fit: U+FDFA expands to 18 characters */

    assert_int_equal(canon("\xef\xb7\xba", 3, 16),
                     NGX_OCTOPUS_RL_LOGIN_TOO_LONG);
    assert_int_equal(canon("\xef\xb7\xba", 3, 256), NGX_OCTOPUS_RL_LOGIN_OK);

    memset(big, 'a', sizeof(big));
    assert_int_equal(canon(big, 256, 256), NGX_OCTOPUS_RL_LOGIN_OK);
    assert_int_equal(canon(big, 257, 256), NGX_OCTOPUS_RL_LOGIN_TOO_LONG);
    assert_int_equal(canon(big, sizeof(big), 512),
                     NGX_OCTOPUS_RL_LOGIN_OK);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_field_json),
        cmocka_unit_test(test_field_json_refused),
        cmocka_unit_test(test_field_json_depth),
        cmocka_unit_test(test_field_form),
        cmocka_unit_test(test_field_form_refused),
        cmocka_unit_test(test_field_multipart),
        cmocka_unit_test(test_field_multipart_refused),
        cmocka_unit_test(test_ctype),
        cmocka_unit_test(test_json_encoding),
        cmocka_unit_test(test_login_canon),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
