
/*
 * Copyright (C) Octopus Guard authors
 *
 * Redis Cluster arithmetic, plain C (no nginx headers; unit-tested in
 * t/unit/test_common_redis_slot.c): the hash slot of a key (CRC16-CCITT
 * (XMODEM) of the key, or of its hash tag, the bytes between the first
 * "{" and the next "}" when there are any, modulo 16384), and the parse
 * of a MOVED or ASK redirection ("MOVED 3999 127.0.0.1:6381"), and the
 * key a command is routed by.
 */


#ifndef _NGX_OCTOPUS_REDIS_SLOT_H_INCLUDED_
#define _NGX_OCTOPUS_REDIS_SLOT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_OCTOPUS_REDIS_SLOTS       16384

#define NGX_OCTOPUS_REDIS_MOVED       1
#define NGX_OCTOPUS_REDIS_ASK         2


typedef struct {
    unsigned                    slot;
    const char                 *host;        /* not NUL-terminated */
    size_t                      host_len;
    unsigned                    port;
} ngx_octopus_redis_redirect_t;


uint16_t ngx_octopus_redis_crc16(const unsigned char *p, size_t len);
unsigned ngx_octopus_redis_slot(const unsigned char *key, size_t len);

/*
 * The slot of a command's first key: KEYS[1] of EVAL / EVALSHA (script
 * numkeys key ...), the first argument of any other command; slot 0 for
 * a command without keys
 */
unsigned ngx_octopus_redis_command_slot(int argc, const char **argv,
    const size_t *argvlen);

/*
 * NGX_OCTOPUS_REDIS_MOVED or NGX_OCTOPUS_REDIS_ASK with *r filled, 0 for
 * any other error text or a malformed redirection; an IPv6 host may be
 * bare ("MOVED 1 ::1:7000": the port follows the last colon) or in
 * brackets ("[::1]:7000", given without them)
 */
int ngx_octopus_redis_redirect(const char *err, size_t len,
    ngx_octopus_redis_redirect_t *r);


#endif /* _NGX_OCTOPUS_REDIS_SLOT_H_INCLUDED_ */
