
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redis Cluster's key slots and redirections (ngx_octopus_redis_slot.h).
 * The CRC16 is the one of the Redis Cluster specification (CCITT,
 * polynomial 0x1021, initial value 0, no reflection: XMODEM), table-driven
 * (the table generated once, constant: common code keeps no mutable
 * globals).
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_octopus_redis_slot.h"


static const uint16_t  ngx_octopus_redis_crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0
};


uint16_t
ngx_octopus_redis_crc16(const unsigned char *p, size_t len)
{
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc = (uint16_t) ((crc << 8)
                          ^ ngx_octopus_redis_crc16_table[((crc >> 8) ^ p[i])
                                                          & 0xff]);
    }

    return crc;
}


/*
 * The hash tag: from the first "{" to the first "}" after it, if that is
 * not empty; otherwise the whole key (the specification's keyHashSlot())
 */

unsigned
ngx_octopus_redis_slot(const unsigned char *key, size_t len)
{
    size_t  s, e;

    for (s = 0; s < len; s++) {
        if (key[s] == '{') {
            break;
        }
    }

    if (s == len) {
        return ngx_octopus_redis_crc16(key, len) & 16383;
    }

    for (e = s + 1; e < len; e++) {
        if (key[e] == '}') {
            break;
        }
    }

    if (e == len || e == s + 1) {
        return ngx_octopus_redis_crc16(key, len) & 16383;
    }

    return ngx_octopus_redis_crc16(key + s + 1, e - s - 1) & 16383;
}


static int
ngx_octopus_redis_is(const char *arg, size_t len, const char *name)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (name[i] == '\0' || (arg[i] | 0x20) != (name[i] | 0x20)) {
            return 0;
        }
    }

    return name[i] == '\0';
}


unsigned
ngx_octopus_redis_command_slot(int argc, const char **argv,
    const size_t *argvlen)
{
    size_t  i;
    long    numkeys;

    if (argc >= 3
        && (ngx_octopus_redis_is(argv[0], argvlen[0], "eval")
            || ngx_octopus_redis_is(argv[0], argvlen[0], "evalsha")))
    {
        numkeys = 0;

        for (i = 0; i < argvlen[2] && i < 10; i++) {
            if (argv[2][i] < '0' || argv[2][i] > '9') {
                return 0;
            }

            numkeys = numkeys * 10 + (argv[2][i] - '0');
        }

        if (argvlen[2] == 0 || numkeys == 0 || argc < 4) {
            return 0;
        }

        return ngx_octopus_redis_slot((const unsigned char *) argv[3],
                                      argvlen[3]);
    }

    if (argc >= 2) {
        return ngx_octopus_redis_slot((const unsigned char *) argv[1],
                                      argvlen[1]);
    }

    return 0;
}


int
ngx_octopus_redis_redirect(const char *err, size_t len,
    ngx_octopus_redis_redirect_t *r)
{
    int          kind;
    size_t       i, colon, start;
    unsigned     n;
    const char  *p;

    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        kind = NGX_OCTOPUS_REDIS_MOVED;
        i = 6;

    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        kind = NGX_OCTOPUS_REDIS_ASK;
        i = 4;

    } else {
        return 0;
    }

    p = err;

    /* the slot */

    n = 0;
    start = i;

    while (i < len && p[i] >= '0' && p[i] <= '9' && i - start < 5) {
        n = n * 10 + (p[i++] - '0');
    }

    if (i == start || i >= len || p[i] != ' '
        || n >= NGX_OCTOPUS_REDIS_SLOTS)
    {
        return 0;
    }

    r->slot = n;
    start = ++i;

    /* host:port, the port after the last colon */

    colon = 0;

    for ( ; i < len; i++) {
        if (p[i] == ':') {
            colon = i;

        } else if (p[i] == ' ' || p[i] == '\r' || p[i] == '\n'
                   || p[i] == '\0')
        {
            return 0;
        }
    }

    if (colon == 0 || colon == start || colon + 1 == len
        || len - colon - 1 > 5)
    {
        return 0;
    }

    n = 0;

    for (i = colon + 1; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }

        n = n * 10 + (p[i] - '0');
    }

    if (n == 0 || n > 65535) {
        return 0;
    }

    r->host = p + start;
    r->host_len = colon - start;
    r->port = n;

    /* "[::1]:7000": the address without its brackets */

    if (r->host_len > 2 && r->host[0] == '[' && p[colon - 1] == ']') {
        r->host++;
        r->host_len -= 2;
    }

    return kind;
}
