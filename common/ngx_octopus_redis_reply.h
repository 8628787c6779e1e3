
/*
 * Copyright (C) Octopus Guard authors
 *
 * hiredis reply objects with a bound on multi-bulk sizes.  hiredis 0.14.1
 * callocs the element count a server declares ("*1222222222": 9.7 GB) and
 * walks all of it when the reply is freed, seconds of a blocked worker;
 * hiredis 1.0 added maxelements.  These functions build the same
 * redisReply objects as hiredis's own (freeReplyObject() frees them) and
 * refuse an array of more than NGX_OCTOPUS_REDIS_MAX_ELEMENTS: the reader
 * fails with an out-of-memory error and the connection is dropped.
 * Plain C, no nginx headers (fuzzed by t/fuzz/ngx_octopus_fuzz_redis_reply).
 */


#ifndef _NGX_OCTOPUS_REDIS_REPLY_H_INCLUDED_
#define _NGX_OCTOPUS_REDIS_REPLY_H_INCLUDED_


#include <hiredis/hiredis.h>


#define NGX_OCTOPUS_REDIS_MAX_ELEMENTS  65536


/* for redisReader.fn, or redisReaderCreateWithFunctions() */
redisReplyObjectFunctions *ngx_octopus_redis_reply_functions(void);


#endif /* _NGX_OCTOPUS_REDIS_REPLY_H_INCLUDED_ */
