
/*
 * Copyright (C) Octopus Guard authors
 *
 * A secret is cut into tokens (a run of letters [A-Z]*[a-z]*, a run of
 * digits, one symbol, one byte outside printable ASCII) and each token
 * costs what a guesser that knows how people write secrets would pay for
 * it, the cheapest reading winning:
 *
 *   letters      log2(26) a letter, log2(52) when the secret mixes cases
 *   a word       2 bits a letter + 4 (+1 when capitalised): a run of 3 or
 *                more letters, lower case, upper case or capitalised, with
 *                at least one vowel in four (y but not a leading y) and at
 *                most three in five, and neither 5 consonants nor 5 vowels
 *                in a row (pronounceable)
 *   a repeat     one character and log2 of the run ("kkkk", "0000")
 *   a sequence   a start, log2 of the run and a direction ("abcd", "9876")
 *   digits       log2(10) a digit; a year (19xx, 20xx) 7 bits
 *   a symbol     5 bits the first time a symbol appears, 1 bit after
 *                (separators: "_", "-")
 *   other bytes  8 bits
 *
 * A secret that repeats its start ("secretsecret...", "ab12-...-ab12-")
 * costs that start and log2 of the count.  A secret that is hex or base64
 * of printable text ("correct horse battery staple" in base64) costs what
 * that text costs, a few layers deep: a guesser tries the usual encodings
 * of its words, and random bytes never decode to text.  Costs are kept in
 * hundredths of a bit.
 */


#include "ngx_octopus_secret.h"


#define NGX_OCTOPUS_CB_LETTER       470
#define NGX_OCTOPUS_CB_MIXED        570
#define NGX_OCTOPUS_CB_DIGIT        332
#define NGX_OCTOPUS_CB_YEAR         700
#define NGX_OCTOPUS_CB_WORD_LETTER  200
#define NGX_OCTOPUS_CB_WORD         400
#define NGX_OCTOPUS_CB_CAPITAL      100
#define NGX_OCTOPUS_CB_SYMBOL       500
#define NGX_OCTOPUS_CB_SYMBOL_AGAIN 100
#define NGX_OCTOPUS_CB_BYTE         800

#define NGX_OCTOPUS_SECRET_DECODE    1024   /* longest secret decoded */
#define NGX_OCTOPUS_SECRET_LAYERS    3


typedef unsigned char  u8;


static unsigned ngx_octopus_secret_estimate(const u8 *s, size_t len);
static size_t ngx_octopus_secret_text(const u8 *s, size_t len, u8 *out);
static int ngx_octopus_secret_hex(u8 c);
static int ngx_octopus_secret_b64(u8 c);
static unsigned ngx_octopus_secret_cost(const u8 *s, size_t len);
static unsigned ngx_octopus_secret_letters(const u8 *t, size_t n,
    unsigned letter);
static unsigned ngx_octopus_secret_digits(const u8 *t, size_t n);
static unsigned ngx_octopus_secret_pattern(const u8 *t, size_t n,
    unsigned start);
static int ngx_octopus_secret_word(const u8 *t, size_t n);
static unsigned ngx_octopus_secret_log2(size_t n);


#define ngx_octopus_is_upper(c)  ((c) >= 'A' && (c) <= 'Z')
#define ngx_octopus_is_lower(c)  ((c) >= 'a' && (c) <= 'z')
#define ngx_octopus_is_digit(c)  ((c) >= '0' && (c) <= '9')
#define ngx_octopus_lower(c)     ((u8) ((c) | 0x20))


unsigned
ngx_octopus_secret_bits(const unsigned char *s, size_t len)
{
    u8        buf[2][NGX_OCTOPUS_SECRET_DECODE];
    size_t    n, k;
    unsigned  bits, b;

    bits = ngx_octopus_secret_estimate(s, len);

    for (k = 0; k < NGX_OCTOPUS_SECRET_LAYERS; k++) {
        if (len > NGX_OCTOPUS_SECRET_DECODE) {
            break;
        }

        n = ngx_octopus_secret_text(s, len, buf[k & 1]);
        if (n == 0) {
            break;
        }

        s = buf[k & 1];
        len = n;

        b = ngx_octopus_secret_estimate(s, len);

        if (b < bits) {
            bits = b;
        }
    }

    return bits;
}


/*
 * The text a secret encodes, in hex or in base64 (RFC 4648 sections 4 and
 * 5, padded or not): its length, or 0 when the secret is neither or the
 * bytes it encodes are not all printable ASCII.  out has room for len.
 */

static size_t
ngx_octopus_secret_text(const u8 *s, size_t len, u8 *out)
{
    int       v;
    size_t    i, n, bits;
    unsigned  acc;

    n = 0;

    for (i = 0; i < len && ngx_octopus_secret_hex(s[i]) >= 0; i++) {
        /* void */
    }

    if (i == len && len >= 2 && len % 2 == 0) {
        for (i = 0; i < len; i += 2) {
            out[n++] = (u8) (ngx_octopus_secret_hex(s[i]) << 4
                             | ngx_octopus_secret_hex(s[i + 1]));
        }

    } else {
        while (len && s[len - 1] == '=' && n < 2) {
            len--;
            n++;
        }

        n = 0;
        acc = 0;
        bits = 0;

        for (i = 0; i < len; i++) {
            v = ngx_octopus_secret_b64(s[i]);
            if (v < 0) {
                return 0;
            }

            acc = (acc << 6 | (unsigned) v) & 0xffffff;
            bits += 6;

            if (bits >= 8) {
                bits -= 8;
                out[n++] = (u8) (acc >> bits);
            }
        }

        if (len % 4 == 1) {
            return 0;
        }
    }

    for (i = 0; i < n; i++) {
        if ((out[i] < 0x20 || out[i] > 0x7e) && out[i] != '\t'
            && out[i] != '\n' && out[i] != '\r')
        {
            return 0;
        }
    }

    return n;
}


static int
ngx_octopus_secret_hex(u8 c)
{
    if (ngx_octopus_is_digit(c)) {
        return c - '0';
    }

    c = ngx_octopus_lower(c);

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* a base64 or base64url digit's value, or -1 */

static int
ngx_octopus_secret_b64(u8 c)
{
    if (ngx_octopus_is_upper(c)) {
        return c - 'A';
    }

    if (ngx_octopus_is_lower(c)) {
        return c - 'a' + 26;
    }

    if (ngx_octopus_is_digit(c)) {
        return c - '0' + 52;
    }

    if (c == '+' || c == '-') {
        return 62;
    }

    if (c == '/' || c == '_') {
        return 63;
    }

    return -1;
}


static unsigned
ngx_octopus_secret_estimate(const u8 *s, size_t len)
{
    size_t  p, i;

    /*
     * the smallest period, when the secret repeats its start: whole copies,
     * or a copy of 8 characters or more (no random secret does that)
     */

    for (p = 1; p < len; p++) {
        if (len - p < p && len - p < 8) {
            break;
        }

        for (i = p; i < len; i++) {
            if (s[i] != s[i - p]) {
                break;
            }
        }

        if (i == len) {
            return (ngx_octopus_secret_cost(s, p)
                    + ngx_octopus_secret_log2((len + p - 1) / p))
                   / 100;
        }
    }

    return ngx_octopus_secret_cost(s, len) / 100;
}


static unsigned
ngx_octopus_secret_cost(const u8 *s, size_t len)
{
    u8        c, seen[32];
    size_t    i, j, k;
    unsigned  total, upper, lower, letter;

    upper = 0;
    lower = 0;

    for (k = 0; k < sizeof(seen); k++) {
        seen[k] = 0;
    }

    for (i = 0; i < len; i++) {
        upper |= ngx_octopus_is_upper(s[i]);
        lower |= ngx_octopus_is_lower(s[i]);
    }

    /* a guesser searches the letters of the alphabet the secret uses */

    letter = (upper && lower) ? NGX_OCTOPUS_CB_MIXED : NGX_OCTOPUS_CB_LETTER;

    total = 0;
    i = 0;

    while (i < len) {
        c = s[i];

        if (ngx_octopus_is_upper(c) || ngx_octopus_is_lower(c)) {
            j = i;

            while (j < len && ngx_octopus_is_upper(s[j])) {
                j++;
            }

            while (j < len && ngx_octopus_is_lower(s[j])) {
                j++;
            }

            total += ngx_octopus_secret_letters(s + i, j - i, letter);
            i = j;
            continue;
        }

        if (ngx_octopus_is_digit(c)) {
            j = i;

            while (j < len && ngx_octopus_is_digit(s[j])) {
                j++;
            }

            total += ngx_octopus_secret_digits(s + i, j - i);
            i = j;
            continue;
        }

        if (c >= 0x20 && c < 0x7f) {
            total += (seen[c >> 3] & (1 << (c & 7)))
                     ? NGX_OCTOPUS_CB_SYMBOL_AGAIN : NGX_OCTOPUS_CB_SYMBOL;
            seen[c >> 3] |= (u8) (1 << (c & 7));

        } else {
            total += NGX_OCTOPUS_CB_BYTE;
        }

        i++;
    }

    return total;
}


static unsigned
ngx_octopus_secret_letters(const u8 *t, size_t n, unsigned letter)
{
    size_t    i;
    unsigned  cost, alt, upper, lower;

    upper = 0;
    lower = 0;

    for (i = 0; i < n; i++) {
        if (ngx_octopus_is_upper(t[i])) {
            upper++;

        } else {
            lower++;
        }
    }

    cost = (unsigned) n * letter;

    alt = ngx_octopus_secret_pattern(t, n, NGX_OCTOPUS_CB_MIXED);
    if (alt < cost) {
        cost = alt;
    }

    /* a word is written lower case, upper case or capitalised */

    if ((upper == 0 || upper == n
         || (upper == 1 && ngx_octopus_is_upper(t[0])))
        && ngx_octopus_secret_word(t, n))
    {
        alt = NGX_OCTOPUS_CB_WORD_LETTER * (unsigned) n + NGX_OCTOPUS_CB_WORD
              + (upper ? NGX_OCTOPUS_CB_CAPITAL : 0);

        if (alt < cost) {
            cost = alt;
        }
    }

    return cost;
}


static unsigned
ngx_octopus_secret_digits(const u8 *t, size_t n)
{
    unsigned  cost, alt;

    cost = (unsigned) n * NGX_OCTOPUS_CB_DIGIT;

    alt = ngx_octopus_secret_pattern(t, n, NGX_OCTOPUS_CB_DIGIT);
    if (alt < cost) {
        cost = alt;
    }

    if (n == 4
        && ((t[0] == '1' && t[1] == '9') || (t[0] == '2' && t[1] == '0'))
        && NGX_OCTOPUS_CB_YEAR < cost)
    {
        cost = NGX_OCTOPUS_CB_YEAR;
    }

    return cost;
}


/* a run of one character, or a sequence up or down ("abcd", "4321") */

static unsigned
ngx_octopus_secret_pattern(const u8 *t, size_t n, unsigned start)
{
    int     d;
    size_t  i;

    if (n < 3) {
        return (unsigned) -1;
    }

    d = ngx_octopus_lower(t[1]) - ngx_octopus_lower(t[0]);

    if (d < -1 || d > 1) {
        return (unsigned) -1;
    }

    for (i = 2; i < n; i++) {
        if (ngx_octopus_lower(t[i]) - ngx_octopus_lower(t[i - 1]) != d) {
            return (unsigned) -1;
        }
    }

    return start + ngx_octopus_secret_log2(n) + (d ? 100 : 0);
}


/* pronounceable: could be a word of a dictionary */

static int
ngx_octopus_secret_word(const u8 *t, size_t n)
{
    u8      c;
    size_t  i, vowels, vrun, crun;

    if (n < 3) {
        return 0;
    }

    vowels = 0;
    vrun = 0;
    crun = 0;

    for (i = 0; i < n; i++) {
        c = ngx_octopus_lower(t[i]);

        if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'
            || (c == 'y' && i > 0))
        {
            vowels++;
            vrun++;
            crun = 0;

        } else {
            crun++;
            vrun = 0;
        }

        if (vrun >= 5 || crun >= 5) {
            return 0;
        }
    }

    return vowels * 4 >= n && vowels * 5 <= n * 3;
}


/* ceil(log2(n)) in hundredths of a bit, at least one bit */

static unsigned
ngx_octopus_secret_log2(size_t n)
{
    unsigned  b;

    b = 1;

    while (n > ((size_t) 1 << b)) {
        b++;
    }

    return b * 100;
}
