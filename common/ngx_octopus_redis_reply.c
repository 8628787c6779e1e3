
/*
 * Copyright (C) Octopus Guard authors
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_octopus_redis_reply.h"


static void *ngx_octopus_redis_reply_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_octopus_redis_reply_array(const redisReadTask *task,
    int elements);
static void *ngx_octopus_redis_reply_integer(const redisReadTask *task,
    long long value);
static void *ngx_octopus_redis_reply_nil(const redisReadTask *task);
static void *ngx_octopus_redis_reply_link(const redisReadTask *task,
    redisReply *r);


/* never written: the functions are the only state */

static redisReplyObjectFunctions  ngx_octopus_redis_reply_fn = {
    ngx_octopus_redis_reply_string,
    ngx_octopus_redis_reply_array,
    ngx_octopus_redis_reply_integer,
    ngx_octopus_redis_reply_nil,
    freeReplyObject
};


redisReplyObjectFunctions *
ngx_octopus_redis_reply_functions(void)
{
    return &ngx_octopus_redis_reply_fn;
}


static void *
ngx_octopus_redis_reply_link(const redisReadTask *task, redisReply *r)
{
    redisReply  *parent;

    if (task->parent) {
        parent = task->parent->obj;

        if (parent == NULL || parent->type != REDIS_REPLY_ARRAY
            || task->idx < 0 || (size_t) task->idx >= parent->elements)
        {
            freeReplyObject(r);
            return NULL;
        }

        parent->element[task->idx] = r;
    }

    return r;
}


static void *
ngx_octopus_redis_reply_string(const redisReadTask *task, char *str,
    size_t len)
{
    char        *buf;
    redisReply  *r;

    if (task->type != REDIS_REPLY_ERROR && task->type != REDIS_REPLY_STATUS
        && task->type != REDIS_REPLY_STRING)
    {
        return NULL;
    }

    r = calloc(1, sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    r->type = task->type;

    buf = malloc(len + 1);
    if (buf == NULL) {
        free(r);
        return NULL;
    }

    memcpy(buf, str, len);
    buf[len] = '\0';

    r->str = buf;
    r->len = len;

    return ngx_octopus_redis_reply_link(task, r);
}


static void *
ngx_octopus_redis_reply_array(const redisReadTask *task, int elements)
{
    redisReply  *r;

    if (elements > NGX_OCTOPUS_REDIS_MAX_ELEMENTS) {
        return NULL;
    }

    r = calloc(1, sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    r->type = REDIS_REPLY_ARRAY;

    if (elements > 0) {
        r->element = calloc(elements, sizeof(redisReply *));
        if (r->element == NULL) {
            free(r);
            return NULL;
        }

        r->elements = elements;
    }

    return ngx_octopus_redis_reply_link(task, r);
}


static void *
ngx_octopus_redis_reply_integer(const redisReadTask *task, long long value)
{
    redisReply  *r;

    r = calloc(1, sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    r->type = REDIS_REPLY_INTEGER;
    r->integer = value;

    return ngx_octopus_redis_reply_link(task, r);
}


static void *
ngx_octopus_redis_reply_nil(const redisReadTask *task)
{
    redisReply  *r;

    r = calloc(1, sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    r->type = REDIS_REPLY_NIL;

    return ngx_octopus_redis_reply_link(task, r);
}
