
/*
 * Copyright (C) Octopus Guard authors
 *
 * The canonical form of a login name (plain C on ICU, no nginx headers):
 * the lockout key is the account whatever the spelling the client chose.
 */


#ifndef _NGX_OCTOPUS_RATELIMIT_LOGIN_H_INCLUDED_
#define _NGX_OCTOPUS_RATELIMIT_LOGIN_H_INCLUDED_


#include <stddef.h>


#define NGX_OCTOPUS_RL_LOGIN_OK         0
#define NGX_OCTOPUS_RL_LOGIN_UTF8      -1   /* not well-formed UTF-8 */
#define NGX_OCTOPUS_RL_LOGIN_TOO_LONG  -2   /* canonical form > outsz */
#define NGX_OCTOPUS_RL_LOGIN_ERROR     -3   /* ICU failed */


/* 1 when p[0..len) is well-formed UTF-8 (no overlong form, surrogate or
 * code point above U+10FFFF) */

int ngx_octopus_rl_login_utf8(const unsigned char *p, size_t len);

/*
 * The canonical name: White_Space trimmed at both ends, NFKC, case folded,
 * Default_Ignorable_Code_Point (zero-width characters...) removed
 * (ICU's NFKC_Casefold), trimmed again.  At most outsz bytes of UTF-8.
 */

int ngx_octopus_rl_login_canon(const unsigned char *in, size_t len,
    unsigned char *out, size_t outsz, size_t *outlen);


#endif /* _NGX_OCTOPUS_RATELIMIT_LOGIN_H_INCLUDED_ */
