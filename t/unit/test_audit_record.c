
/*
 * Copyright (C) Octopus Guard authors
 *
 * Unit tests: sanitising, JSON and COPY escaping, the canonical record and
 * its HMAC, event classification, anomaly counters, redaction.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_octopus_json.h"
#include "ngx_octopus_audit_record.h"
#include "ngx_octopus_audit_redact.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static void
test_sanitize(void **state)
{
    size_t         n;
    unsigned char  out[64];

    n = ngx_octopus_sanitize(out, S("ok \xc3\xa9"));
    assert_int_equal(n, 5);
    assert_memory_equal(out, "ok \xc3\xa9", 5);

    n = ngx_octopus_sanitize(out, S("a\xff" "b\xc3"));
    assert_int_equal(n, 10);
    assert_memory_equal(out, "a\\xffb\\xc3", 10);

    /* NUL, overlong, surrogate */
    n = ngx_octopus_sanitize(out, (const unsigned char *) "\0\xc0\xaf", 3);
    assert_memory_equal(out, "\\x00\\xc0\\xaf", n);
    n = ngx_octopus_sanitize(out, S("\xed\xa0\x80"));
    assert_int_equal(n, 12);

    assert_true(ngx_octopus_utf8_clean(S("plain \xe2\x82\xac")));
    assert_false(ngx_octopus_utf8_clean(S("bad \xe2\x82")));
}


static void
test_json_escape(void **state)
{
    size_t                len;
    unsigned char         out[64];
    const unsigned char  *end;
    static const char     in[] = "q\"b\\t\tn\n\x01\x7f";

    len = ngx_octopus_json_escape_len(S(in));
    end = ngx_octopus_json_escape(out, S(in));
    assert_int_equal(end - out, len);
    assert_memory_equal(out, "q\\\"b\\\\t\\tn\\n\\u0001\\u007f", len);

    /* every byte value, against RFC 8259's rules written out here */

    {
        int            b;
        char           want[8];
        unsigned char  c;

        for (b = 0; b < 256; b++) {
            c = (unsigned char) b;

            switch (c) {
            case '"':  strcpy(want, "\\\""); break;
            case '\\': strcpy(want, "\\\\"); break;
            case '\n': strcpy(want, "\\n"); break;
            case '\r': strcpy(want, "\\r"); break;
            case '\t': strcpy(want, "\\t"); break;
            case '\b': strcpy(want, "\\b"); break;
            case '\f': strcpy(want, "\\f"); break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    snprintf(want, sizeof(want), "\\u%04x", c);
                } else {
                    want[0] = (char) c;
                    want[1] = '\0';
                }
            }

            len = ngx_octopus_json_escape_len(&c, 1);
            end = ngx_octopus_json_escape(out, &c, 1);
            assert_int_equal(len, strlen(want));
            assert_int_equal(end - out, len);
            assert_memory_equal(out, want, len);

            /* and the UTF-8 check: ASCII but NUL is clean alone */
            assert_int_equal(ngx_octopus_utf8_clean(&c, 1),
                             c != 0 && c < 0x80);
        }
    }
}


static void
fill(ngx_octopus_audit_rec_t *rec)
{
    size_t  i;

    memset(rec, 0, sizeof(*rec));

    for (i = 0; i < NGX_OCTOPUS_AUDIT_NFIELDS; i++) {
        rec->f[i].data = (const unsigned char *) "";
    }

    rec->ts_us = 1764464400123456LL;
    rec->f[NGX_OCTOPUS_AUDIT_F_TS].data = (const unsigned char *)
                                          "1764464400123456";
    rec->f[NGX_OCTOPUS_AUDIT_F_TS].len = 16;
    rec->f[NGX_OCTOPUS_AUDIT_F_PATH].data = (const unsigned char *) "/a\tb\\";
    rec->f[NGX_OCTOPUS_AUDIT_F_PATH].len = 5;
    rec->f[NGX_OCTOPUS_AUDIT_F_STATUS].data = (const unsigned char *) "200";
    rec->f[NGX_OCTOPUS_AUDIT_F_STATUS].len = 3;
}


static void
test_canonical_hmac(void **state)
{
    int                       i;
    size_t                    len;
    unsigned char             buf[2048], out[64], out2[64], key[100], *end;
    ngx_octopus_audit_rec_t   rec;
    ngx_octopus_audit_mac_t  *mac;

    fill(&rec);

    len = ngx_octopus_audit_canonical_len(&rec);
    end = ngx_octopus_audit_canonical(buf, &rec);
    assert_true((size_t) (end - buf) <= len);
    assert_memory_equal(buf, "16:1764464400123456;0:;0:;0:;0:;0:;0:;0:;0:;"
                        "0:;5:/a\tb\\;0:;3:200;", 44);

    /* vector computed with Python's hmac module */
    memset(buf, '0', 64);
    memcpy(buf + 64, "2:10;1:a;", 9);
    assert_int_equal(ngx_octopus_audit_hmac(
        (const unsigned char *) "kkkkkkkkkkkkkkkk", 16, buf, 73, out), 0);
    assert_memory_equal(out, "0b1656dc7df6cdeb1d0c00173debbcb9e404b4ff9e6190dd"
                        "30d34f17113eef38", 64);

    /* the reusable context gives the same, call after call */
    mac = ngx_octopus_audit_mac_create(
        (const unsigned char *) "kkkkkkkkkkkkkkkk", 16);
    assert_non_null(mac);

    for (i = 0; i < 3; i++) {
        memset(out2, 0, sizeof(out2));
        assert_int_equal(ngx_octopus_audit_mac(mac, buf, 73, out2), 0);
        assert_memory_equal(out2, out, 64);
    }

    ngx_octopus_audit_mac_free(mac);

    /* an empty key: the one-shot and the context agree */
    assert_int_equal(ngx_octopus_audit_hmac(NULL, 0, buf, 73, out), 0);
    assert_memory_equal(out, "67009631aaa606fadcbbcaa763b9d087bf4742ed32052b25"
                        "7f61194972db1451", 64);
    mac = ngx_octopus_audit_mac_create(NULL, 0);
    assert_non_null(mac);
    assert_int_equal(ngx_octopus_audit_mac(mac, buf, 73, out2), 0);
    assert_memory_equal(out2, out, 64);
    ngx_octopus_audit_mac_free(mac);

    /* a key longer than the SHA-256 block is hashed first (RFC 2104) */
    memset(key, 'K', sizeof(key));
    mac = ngx_octopus_audit_mac_create(key, sizeof(key));
    assert_non_null(mac);
    assert_int_equal(ngx_octopus_audit_mac(mac, buf, 73, out2), 0);
    assert_memory_equal(out2, "02552c12c364555ea902586b779a2cd458af7ca0f26388"
                        "6ac72cd7df83132799", 64);
    ngx_octopus_audit_mac_free(mac);
}


static void
test_json_copy(void **state)
{
    size_t                   len;
    unsigned char            buf[4096], *end;
    ngx_octopus_audit_rec_t  rec;
    char                     cols[1024];

    fill(&rec);

    len = ngx_octopus_audit_json_len(&rec);
    end = ngx_octopus_audit_json(buf, &rec);
    assert_true((size_t) (end - buf) <= len);
    *end = '\0';
    assert_non_null(strstr((char *) buf,
        "{\"ts_us\":1764464400123456,\"request_id\":\"\","));
    assert_non_null(strstr((char *) buf, "\"path\":\"/a\\tb\\\\\""));
    assert_non_null(strstr((char *) buf, "\"status\":200,"));
    assert_non_null(strstr((char *) buf, "\"seq\":0,"));
    assert_int_equal(end[-1], '\n');

    len = ngx_octopus_audit_copy_len(&rec);
    end = ngx_octopus_audit_copy(buf, &rec);
    assert_true((size_t) (end - buf) <= len);
    *end = '\0';
    assert_non_null(strstr((char *) buf,
        "2025-11-30 01:00:00.123456+00\t\\N\t"));
    assert_non_null(strstr((char *) buf, "\t/a\\tb\\\\\t\\N\t200\t"));

    /* the bound holds when every byte is escaped */
    {
        size_t                   k;
        unsigned char            worst[64], big[8192];
        ngx_octopus_audit_rec_t  w;

        memset(worst, '\\', sizeof(worst));
        worst[1] = '\t';
        worst[2] = '\n';
        worst[3] = '\r';
        w = rec;
        for (k = 1; k < NGX_OCTOPUS_AUDIT_NFIELDS; k++) {
            w.f[k].data = worst;
            w.f[k].len = sizeof(worst);
        }
        end = ngx_octopus_audit_copy(big, &w);
        assert_true((size_t) (end - big) <= ngx_octopus_audit_copy_len(&w));
        assert_true((size_t) (end - big) > 2 * sizeof(worst)
                                           * (NGX_OCTOPUS_AUDIT_NFIELDS - 1));
    }

    /* the date is cached per second: a record of another second */
    rec.ts_us = (1764464400ULL + 86399) * 1000000 + 7;
    end = ngx_octopus_audit_copy(buf, &rec);
    *end = '\0';
    assert_memory_equal(buf, "2025-12-01 00:59:59.000007+00\t", 30);

    assert_true(ngx_octopus_audit_columns(cols, sizeof(cols), 0) > 0);
    assert_non_null(strstr(cols, "ts, request_id, node,"));
    assert_non_null(strstr(cols, ", prev_hash, hash"));
    assert_true(ngx_octopus_audit_columns(cols, sizeof(cols), 1) > 0);
    assert_non_null(strstr(cols, "ts timestamptz, request_id text,"));
    assert_non_null(strstr(cols, ", seq bigint, prev_hash text, hash text"));
}


static void
test_classify(void **state)
{
    assert_int_equal(ngx_octopus_audit_classify(S("ok"), S("pass"), 200, 0,
                                                0),
                     NGX_OCTOPUS_AUDIT_EV_API_CALL);
    assert_int_equal(ngx_octopus_audit_classify(S(""), S(""), 401, 1, 0),
                     NGX_OCTOPUS_AUDIT_EV_FAILED_LOGIN);
    assert_int_equal(ngx_octopus_audit_classify(S(""), S(""), 401, 0, 0),
                     NGX_OCTOPUS_AUDIT_EV_API_CALL);
    assert_int_equal(ngx_octopus_audit_classify(S("missing"), S(""), 401, 0,
                                                0),
                     NGX_OCTOPUS_AUDIT_EV_API_CALL);
    assert_int_equal(ngx_octopus_audit_classify(S("expired"), S(""), 401, 0,
                                                0),
                     NGX_OCTOPUS_AUDIT_EV_FAILED_LOGIN);
    assert_int_equal(ngx_octopus_audit_classify(S("invalid"), S(""), 401, 0,
                                                0),
                     NGX_OCTOPUS_AUDIT_EV_FAILED_LOGIN);
    assert_int_equal(ngx_octopus_audit_classify(S("forbidden"), S(""), 403,
                                                0, 0),
                     NGX_OCTOPUS_AUDIT_EV_PRIVILEGE_ESCALATION);
    assert_int_equal(ngx_octopus_audit_classify(S("ok"), S("locked"), 429, 1,
                                                0),
                     NGX_OCTOPUS_AUDIT_EV_ACCOUNT_LOCKOUT);
    assert_int_equal(ngx_octopus_audit_classify(S("ok"), S("limited"), 429,
                                                0, 0),
                     NGX_OCTOPUS_AUDIT_EV_SUSPICIOUS_API_USAGE);
    assert_int_equal(ngx_octopus_audit_classify(S("ok"), S("banned"), 403, 0,
                                                0),
                     NGX_OCTOPUS_AUDIT_EV_SUSPICIOUS_API_USAGE);
    assert_int_equal(ngx_octopus_audit_classify(S("ok"), S("pass"), 200, 0,
                                                1),
                     NGX_OCTOPUS_AUDIT_EV_DATA_ACCESS_ANOMALY);
}


static void
test_anomaly(void **state)
{
    int                               i, hits;
    uint64_t                          a, b;
    ngx_octopus_audit_anomaly_slot_t  slots[4];

    memset(slots, 0, sizeof(slots));

    a = ngx_octopus_audit_user_key(S("alice"));
    b = ngx_octopus_audit_user_key(S("bob"));
    assert_true(a != b && a != 0);

    /* requests=3: the 4th request in the window passes the limit, once */
    hits = 0;
    for (i = 0; i < 6; i++) {
        hits += ngx_octopus_audit_anomaly_add(slots, 4, a, 1000 + i, 60000,
                                              10, 0, 3);
        if (i == 3) {
            assert_int_equal(hits, 1);
        }
    }
    assert_int_equal(hits, 1);

    /* bob is counted apart */
    assert_int_equal(ngx_octopus_audit_anomaly_add(slots, 4, b, 1000, 60000,
                                                   10, 0, 3), 0);

    /* a new window resets the count */
    assert_int_equal(ngx_octopus_audit_anomaly_add(slots, 4, a, 70000, 60000,
                                                   10, 0, 3), 0);

    /* bytes */
    assert_int_equal(ngx_octopus_audit_anomaly_add(slots, 4, b, 2000, 60000,
                                                   1000, 500, 0), 1);

    /* a full table evicts instead of failing */
    for (i = 0; i < 16; i++) {
        ngx_octopus_audit_anomaly_add(slots, 4, 100 + i, 3000 + i, 60000, 1,
                                      0, 0);
    }
}


static void
test_luhn_cards(void **state)
{
    size_t         n;
    unsigned char  buf[128];

    assert_true(ngx_octopus_audit_luhn(S("4111111111111111")));
    assert_false(ngx_octopus_audit_luhn(S("4111111111111112")));

    memcpy(buf, "/pay/4111111111111111?card=5500005555555559&n=1234567890123",
           60);
    n = ngx_octopus_audit_redact_cards(buf, 60);
    buf[n] = '\0';
    assert_string_equal((char *) buf,
                        "/pay/[REDACTED]?card=[REDACTED]&n=1234567890123");

    /* 20 digits are not a card number, even when they pass Luhn */
    memcpy(buf, "x=41111111111111111110", 22);
    n = ngx_octopus_audit_redact_cards(buf, 22);
    assert_int_equal(n, 22);
}


static void
test_params(void **state)
{
    size_t         n;
    unsigned char  buf[256];
    static const char  q[] = "a=1&Password=hunter2&access_token=x&"
                             "user_TOKEN=&b=2&api_key=k;client_secret=s&pw";

    assert_true(ngx_octopus_audit_redact_params_max(S(q)) <= sizeof(buf));
    n = ngx_octopus_audit_redact_params(buf, S(q));
    buf[n] = '\0';
    assert_string_equal((char *) buf,
        "a=1&Password=[REDACTED]&access_token=[REDACTED]&"
        "user_TOKEN=[REDACTED]&b=2&api_key=[REDACTED];"
        "client_secret=[REDACTED]&pw");
}


static void
test_re(void **state)
{
    char                     err[256];
    size_t                   n;
    unsigned char            out[64];
    ngx_octopus_audit_re_t  *re;

    re = ngx_octopus_audit_re_compile(S("(card|pan)=[0-9]{13,19}"),
                                      S("$1=[X]"), err, sizeof(err));
    assert_non_null(re);

    n = sizeof(out);
    assert_int_equal(ngx_octopus_audit_re_apply(re,
                     S("a=1&pan=1234567890123&card=12"), out, &n), 0);
    assert_memory_equal(out, "a=1&pan=[X]&card=12", n);

    n = 4;
    assert_int_equal(ngx_octopus_audit_re_apply(re,
                     S("a=1&pan=1234567890123"), out, &n), 1);
    assert_true(n >= 12);

    ngx_octopus_audit_re_free(re);

    assert_null(ngx_octopus_audit_re_compile(S("(unclosed"), S("x"), err,
                                             sizeof(err)));
    assert_non_null(strstr(err, "offset"));

    /* the groups a replacement names must exist, found before any match */

    assert_null(ngx_octopus_audit_re_compile(S("pan=([0-9]+)"), S("$5"),
                                             err, sizeof(err)));
    assert_non_null(strstr(err, "group 5"));

    assert_null(ngx_octopus_audit_re_compile(S("pan=(?<d>[0-9]+)"),
                                             S("${e}"), err, sizeof(err)));
    assert_non_null(strstr(err, "\"e\""));

    assert_null(ngx_octopus_audit_re_compile(S("pan=([0-9]+)"), S("x$"),
                                             err, sizeof(err)));
    assert_null(ngx_octopus_audit_re_compile(S("pan=([0-9]+)"), S("${1"),
                                             err, sizeof(err)));

    re = ngx_octopus_audit_re_compile(S("(?<k>pan)=([0-9]+)"),
                                      S("${k}=$$$0${2}$1"), err, sizeof(err));
    assert_non_null(re);
    n = sizeof(out);
    assert_int_equal(ngx_octopus_audit_re_apply(re, S("pan=12"), out, &n),
                     0);
    assert_memory_equal(out, "pan=$pan=1212pan", n);
    ngx_octopus_audit_re_free(re);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_canonical_hmac),
        cmocka_unit_test(test_json_copy),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_anomaly),
        cmocka_unit_test(test_luhn_cards),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_re),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
