
/*
 * Copyright (C) Octopus Guard authors
 *
 * Revocation entries in plain C (no nginx types): the Redis sorted-set
 * members and the published messages that carry them, and the decision
 * whether an entry refuses a credential.  Unit-tested in
 * t/unit/test_auth_revoke.c; the nginx side (shared memory, Redis) is
 * ngx_octopus_auth_revoke.c.
 *
 * Layout (prefix P, "octopus:revoke:" by default), one sorted set per type,
 * the score of every member its expiry (Unix seconds, "+inf": never):
 *
 *     P jti   member: the token's jti
 *     P sub   member: "<before> <subject>": the subject's tokens issued at
 *                     or before <before> (Unix seconds) are refused
 *     P key   member: the API key id
 *
 * and the channel P events, whose messages are
 *
 *     add <type> <expiry> <member>     an entry to apply at once
 *     del <type> <member>              removed: the node resyncs
 */


#ifndef _NGX_OCTOPUS_AUTH_REVOKE_ENTRY_H_INCLUDED_
#define _NGX_OCTOPUS_AUTH_REVOKE_ENTRY_H_INCLUDED_


#include <stddef.h>
#include <time.h>


#define NGX_OCTOPUS_REVOKE_JTI        0
#define NGX_OCTOPUS_REVOKE_SUB        1
#define NGX_OCTOPUS_REVOKE_KEY        2
#define NGX_OCTOPUS_REVOKE_NTYPES     3

#define NGX_OCTOPUS_REVOKE_VALUE_MAX  256      /* bytes of a jti, sub, id */

#define NGX_OCTOPUS_REVOKE_NEVER      ((time_t) 0x7fffffff)


/* ngx_octopus_revoke_message() */
#define NGX_OCTOPUS_REVOKE_MSG_ADD     0
#define NGX_OCTOPUS_REVOKE_MSG_RESYNC  1
#define NGX_OCTOPUS_REVOKE_MSG_BAD    -1


typedef struct {
    int              type;
    const char      *value;       /* points into the parsed text */
    size_t           len;
    time_t           before;      /* sub: refused if iat <= before */
    time_t           expires;     /* dropped once expires <= now */
} ngx_octopus_revoke_entry_t;


/* "jti", "sub", "key": the type, or -1 */
int ngx_octopus_revoke_type(const char *s, size_t len);
const char *ngx_octopus_revoke_type_name(int type);

/* an expiry score: digits (a fraction is cut), "inf" or "+inf"; 0 or -1 */
int ngx_octopus_revoke_score(const char *s, size_t len, time_t *out);

/*
 * a sorted-set member and its score into e (e->value points into member);
 * 0, 1 when already expired at now, -1 when malformed
 */
int ngx_octopus_revoke_member(int type, const char *member, size_t len,
    const char *score, size_t slen, time_t now,
    ngx_octopus_revoke_entry_t *e);

/* a published message: NGX_OCTOPUS_REVOKE_MSG_* */
int ngx_octopus_revoke_message(const char *msg, size_t len, time_t now,
    ngx_octopus_revoke_entry_t *e);

/*
 * does the entry refuse the credential?  1 or 0; for sub, has_iat and iat
 * are the token's (a token without iat is refused by a sub entry)
 */
int ngx_octopus_revoke_applies(const ngx_octopus_revoke_entry_t *e,
    int has_iat, double iat, time_t now);


#endif /* _NGX_OCTOPUS_AUTH_REVOKE_ENTRY_H_INCLUDED_ */
