
/*
 * Copyright (C) Octopus Guard authors
 *
 * libFuzzer target: Redis replies as the modules receive them.  The bytes
 * go, in chunks of a size chosen by the first byte, through hiredis's
 * reply reader (the parser under ngx_octopus_redis.c's async context);
 * every reply is then checked the way the ratelimit handlers read it (a
 * four-integer array from the limit script, an integer from PTTL/INCR;
 * an error through the Redis Cluster MOVED / ASK parse, whose host must
 * lie inside the error text).
 * The handlers themselves need an nginx request and are covered by the
 * integration tests.
 *
 * The reader uses the modules' reply functions (ngx_octopus_redis_reply.c),
 * which bound multi-bulk sizes: hiredis 0.14.1's own calloc the declared
 * count ("*1222222222": 9.7 GB, found here) and walk it when freeing.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ngx_octopus_redis_reply.h"
#include "ngx_octopus_redis_slot.h"


static int
limit_reply(const redisReply *reply, long long v[4])
{
    size_t  i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        return -1;
    }

    for (i = 0; i < 4; i++) {
        if (reply->element[i] == NULL
            || reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i]->integer < 0)
        {
            return -1;
        }

        v[i] = reply->element[i]->integer;
    }

    return v[0] <= 2 ? 0 : -1;
}


static void
redirect(const redisReply *r)
{
    ngx_octopus_redis_redirect_t  rd;

    if (ngx_octopus_redis_redirect(r->str, r->len, &rd) == 0) {
        return;
    }

    if (rd.slot >= NGX_OCTOPUS_REDIS_SLOTS || rd.port == 0
        || rd.port > 65535 || rd.host_len == 0
        || rd.host < r->str || rd.host + rd.host_len > r->str + r->len)
    {
        abort();
    }
}


static void
walk(const redisReply *r, int depth)
{
    size_t  i;

    if (depth > 1000) {
        abort();
    }

    switch (r->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        if (r->str == NULL || r->str[r->len] != '\0') {
            abort();
        }

        if (r->type == REDIS_REPLY_ERROR) {
            redirect(r);
        }

        break;

    case REDIS_REPLY_ARRAY:
        for (i = 0; i < r->elements; i++) {
            if (r->element[i] == NULL) {
                abort();
            }

            walk(r->element[i], depth + 1);
        }

        break;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t        chunk, off, n;
    void         *reply;
    long long     v[4];
    redisReader  *reader;

    if (size < 1) {
        return 0;
    }

    chunk = data[0] % 32 + 1;
    data++;
    size--;

    reader = redisReaderCreateWithFunctions(
                 ngx_octopus_redis_reply_functions());
    if (reader == NULL) {
        abort();
    }

    for (off = 0; off < size; off += n) {
        n = size - off < chunk ? size - off : chunk;

        if (redisReaderFeed(reader, (const char *) data + off, n)
            != REDIS_OK)
        {
            break;
        }

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
                goto done;
            }

            if (reply == NULL) {
                break;
            }

            walk(reply, 0);
            (void) limit_reply(reply, v);
            freeReplyObject(reply);
        }
    }

done:

    redisReaderFree(reader);

    return 0;
}
