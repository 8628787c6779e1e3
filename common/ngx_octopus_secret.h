
/*
 * Copyright (C) Octopus Guard authors
 *
 * Is a secret random or made by a person?  A conservative estimate of the
 * entropy of a secret, in plain C (no nginx types), for the HMAC keys that
 * nginx -t refuses when they look human-made.
 */


#ifndef _NGX_OCTOPUS_SECRET_H_INCLUDED_
#define _NGX_OCTOPUS_SECRET_H_INCLUDED_


#include <stddef.h>


/* bits an HMAC secret must be estimated to hold */
#define NGX_OCTOPUS_SECRET_MIN_BITS  128


/*
 * The estimated entropy of the secret in bits: what an offline guesser
 * that knows words, repeats, sequences and character classes would still
 * have to search.  It errs towards low for text made by a person and is
 * far above NGX_OCTOPUS_SECRET_MIN_BITS for the output of a random
 * generator of 32 bytes or more in any usual encoding (raw, hex, base64).
 */
unsigned ngx_octopus_secret_bits(const unsigned char *s, size_t len);


#endif /* _NGX_OCTOPUS_SECRET_H_INCLUDED_ */
