
/*
 * Copyright (C) Octopus Guard authors
 *
 * The audit record: its fields, the JSON line, the COPY text line, the
 * canonical form and the HMAC-SHA256 hash chain, the security event
 * classification and the per-user anomaly table.  Plain C, no nginx types.
 */


#ifndef _NGX_OCTOPUS_AUDIT_RECORD_H_INCLUDED_
#define _NGX_OCTOPUS_AUDIT_RECORD_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


enum {
    NGX_OCTOPUS_AUDIT_F_TS = 0,
    NGX_OCTOPUS_AUDIT_F_REQUEST_ID,
    NGX_OCTOPUS_AUDIT_F_NODE,
    NGX_OCTOPUS_AUDIT_F_CLIENT,
    NGX_OCTOPUS_AUDIT_F_USER,
    NGX_OCTOPUS_AUDIT_F_ROLE,
    NGX_OCTOPUS_AUDIT_F_AUTH_METHOD,
    NGX_OCTOPUS_AUDIT_F_API_KEY_ID,
    NGX_OCTOPUS_AUDIT_F_METHOD,
    NGX_OCTOPUS_AUDIT_F_HOST,
    NGX_OCTOPUS_AUDIT_F_PATH,
    NGX_OCTOPUS_AUDIT_F_QUERY,
    NGX_OCTOPUS_AUDIT_F_STATUS,
    NGX_OCTOPUS_AUDIT_F_BYTES_SENT,
    NGX_OCTOPUS_AUDIT_F_REQUEST_LENGTH,
    NGX_OCTOPUS_AUDIT_F_REQUEST_TIME_MS,
    NGX_OCTOPUS_AUDIT_F_UPSTREAM_STATUS,
    NGX_OCTOPUS_AUDIT_F_UPSTREAM_TIME,
    NGX_OCTOPUS_AUDIT_F_USER_AGENT,
    NGX_OCTOPUS_AUDIT_F_AUTH_RESULT,
    NGX_OCTOPUS_AUDIT_F_RATELIMIT_RESULT,
    NGX_OCTOPUS_AUDIT_F_EVENT_TYPE,
    NGX_OCTOPUS_AUDIT_F_CHAIN_ID,
    NGX_OCTOPUS_AUDIT_F_SEQ,
    NGX_OCTOPUS_AUDIT_F_PREV_HASH,
    NGX_OCTOPUS_AUDIT_F_HASH,
    NGX_OCTOPUS_AUDIT_NFIELDS
};

/* fields covered by the hash: all but prev_hash and hash */
#define NGX_OCTOPUS_AUDIT_NCANONICAL  NGX_OCTOPUS_AUDIT_F_PREV_HASH

#define NGX_OCTOPUS_AUDIT_HASH_LEN    64


typedef struct {
    const unsigned char  *data;
    size_t                len;
} ngx_octopus_audit_str_t;


/*
 * Every field is text, already sanitised (valid UTF-8, no NUL); numeric
 * fields hold decimal digits.  An empty text field is NULL in the database.
 */
typedef struct {
    ngx_octopus_audit_str_t  f[NGX_OCTOPUS_AUDIT_NFIELDS];
    int64_t                  ts_us;
} ngx_octopus_audit_rec_t;


typedef struct {
    const char  *name;         /* JSON key and column name */
    int          number;       /* unquoted in JSON */
    const char  *type;         /* SQL type of the staging column */
} ngx_octopus_audit_field_t;


extern const ngx_octopus_audit_field_t
    ngx_octopus_audit_fields[NGX_OCTOPUS_AUDIT_NFIELDS];


/*
 * The column list "ts, request_id, ...", or with types "ts timestamptz,
 * request_id text, ..." for the staging table.
 */
size_t ngx_octopus_audit_columns(char *dst, size_t size, int types);

size_t ngx_octopus_audit_canonical_len(const ngx_octopus_audit_rec_t *rec);
unsigned char *ngx_octopus_audit_canonical(unsigned char *dst,
    const ngx_octopus_audit_rec_t *rec);

/*
 * hash = hex(HMAC-SHA256(key, prev_hash || canonical)); buf holds the
 * 64 bytes of prev_hash followed by the canonical record; out gets 64 hex
 * characters.  Returns 0 on success.
 */
int ngx_octopus_audit_hmac(const unsigned char *key, size_t key_len,
    const unsigned char *buf, size_t len, unsigned char *out);

/*
 * The same HMAC with the key set up once (a worker keeps one): several
 * times faster than the one-shot HMAC() of OpenSSL 3, which fetches the
 * algorithm on every call.
 */
typedef struct ngx_octopus_audit_mac_s  ngx_octopus_audit_mac_t;

ngx_octopus_audit_mac_t *ngx_octopus_audit_mac_create(
    const unsigned char *key, size_t key_len);
int ngx_octopus_audit_mac(ngx_octopus_audit_mac_t *mac,
    const unsigned char *buf, size_t len, unsigned char *out);
void ngx_octopus_audit_mac_free(ngx_octopus_audit_mac_t *mac);

size_t ngx_octopus_audit_json_len(const ngx_octopus_audit_rec_t *rec);
unsigned char *ngx_octopus_audit_json(unsigned char *dst,
    const ngx_octopus_audit_rec_t *rec);

size_t ngx_octopus_audit_copy_len(const ngx_octopus_audit_rec_t *rec);
unsigned char *ngx_octopus_audit_copy(unsigned char *dst,
    const ngx_octopus_audit_rec_t *rec);


/* security events */

#define NGX_OCTOPUS_AUDIT_EV_API_CALL              0
#define NGX_OCTOPUS_AUDIT_EV_FAILED_LOGIN          1
#define NGX_OCTOPUS_AUDIT_EV_ACCOUNT_LOCKOUT       2
#define NGX_OCTOPUS_AUDIT_EV_PRIVILEGE_ESCALATION  3
#define NGX_OCTOPUS_AUDIT_EV_SUSPICIOUS_API_USAGE  4
#define NGX_OCTOPUS_AUDIT_EV_DATA_ACCESS_ANOMALY   5
#define NGX_OCTOPUS_AUDIT_EV_N                     6

extern const char  *ngx_octopus_audit_event_names[NGX_OCTOPUS_AUDIT_EV_N];

int ngx_octopus_audit_classify(const unsigned char *auth, size_t auth_len,
    const unsigned char *rl, size_t rl_len, unsigned status, int login,
    int anomaly);


/* per-user anomaly counters: an open-addressing table (kept in shm) */

typedef struct {
    uint64_t  key;             /* 0: free */
    uint64_t  window_start;    /* ms */
    uint64_t  bytes;
    uint64_t  requests;
    uint64_t  flagged;
} ngx_octopus_audit_anomaly_slot_t;

uint64_t ngx_octopus_audit_user_key(const unsigned char *user, size_t len);

/* returns 1 when this request makes the user pass a limit in the window */
int ngx_octopus_audit_anomaly_add(ngx_octopus_audit_anomaly_slot_t *slots,
    size_t n, uint64_t key, uint64_t now_ms, uint64_t within_ms,
    uint64_t bytes, uint64_t max_bytes, uint64_t max_requests);


#endif /* _NGX_OCTOPUS_AUDIT_RECORD_H_INCLUDED_ */
