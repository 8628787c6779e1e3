
/*
 * Copyright (C) Octopus Guard authors
 *
 * The metrics of ngx_octopus_audit_module: counters of the audited
 * requests kept in the "octopus_audit" zone by the log handler, and the
 * "octopus_metrics" handler that prints them, with each sink's own, as
 * Prometheus text.  The auth and the ratelimit modules count their own
 * decisions, audited or not (octopus_auth_metrics,
 * octopus_ratelimit_metrics): what is here is about audit records only.
 */


#include "ngx_octopus_audit.h"


static const char *ngx_octopus_audit_label(ngx_uint_t i,
    const ngx_octopus_result_name_t *names, ngx_uint_t n);
static ngx_int_t ngx_octopus_audit_metrics_handler(ngx_http_request_t *r);


static const ngx_msec_int_t
    ngx_octopus_audit_buckets[NGX_OCTOPUS_AUDIT_BUCKETS] =
{
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static const char  *ngx_octopus_audit_bucket_labels[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "+Inf"
};


/* "none" for no decision, "other" for a value of no result */

static const char *
ngx_octopus_audit_label(ngx_uint_t i, const ngx_octopus_result_name_t *names,
    ngx_uint_t n)
{
    return (i == n) ? "other" : ngx_octopus_result_label(names, i);
}


void
ngx_octopus_audit_metrics_count(ngx_octopus_audit_main_conf_t *amcf,
    ngx_str_t *auth, ngx_str_t *rl, ngx_uint_t event, ngx_msec_int_t ms)
{
    ngx_uint_t                a, l, b;
    ngx_octopus_audit_shm_t  *sh;

    sh = amcf->sh;

    a = ngx_octopus_auth_result_parse(auth->data, auth->len);
    l = ngx_octopus_rl_result_parse(rl->data, rl->len);

    (void) ngx_atomic_fetch_add(&sh->requests[a][l], 1);
    (void) ngx_atomic_fetch_add(&sh->events[event], 1);

    for (b = 0; b < NGX_OCTOPUS_AUDIT_BUCKETS; b++) {
        if (ms <= ngx_octopus_audit_buckets[b]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->latency[b], 1);
    (void) ngx_atomic_fetch_add(&sh->latency_sum_ms, (ngx_atomic_int_t) ms);
}


/*
 * A slot's queue counts while its process lives: a worker killed by a
 * signal keeps its slot's pid until the master respawns a worker there,
 * which resets it.
 */

ngx_uint_t
ngx_octopus_audit_worker_live(ngx_octopus_audit_shm_t *sh, ngx_uint_t i)
{
    ngx_pid_t  pid;

    pid = sh->queue_pid[i];

    if (pid <= 0) {
        return 0;
    }

    return pid == ngx_pid || kill(pid, 0) == 0 || ngx_errno == NGX_EPERM;
}


static ngx_int_t
ngx_octopus_audit_metrics_handler(ngx_http_request_t *r)
{
    size_t                          size;
    uint64_t                        n, cum, lat;
    ngx_int_t                       rc;
    ngx_uint_t                      live;
    ngx_buf_t                      *b;
    ngx_uint_t                      a, l, i;
    ngx_octopus_audit_shm_t        *sh;
    ngx_octopus_audit_sink_t      **sinks, **k;
    ngx_octopus_audit_main_conf_t  *amcf;
    const ngx_octopus_result_name_t *auth_names, *rl_names;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_octopus_audit_module);
    sh = amcf->sh;

    auth_names = ngx_octopus_auth_result_names();
    rl_names = ngx_octopus_rl_result_names();

    /* a sink prints a line per live worker at most */

    live = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        if (ngx_octopus_audit_worker_live(sh, i)) {
            live++;
        }
    }

    sinks = ngx_octopus_audit_sinks;

    for (k = sinks; *k; k++) { /* void */ }

    size = 8192 + NGX_OCTOPUS_AUDIT_AUTH_N * NGX_OCTOPUS_AUDIT_RL_N * 128
           + (k - sinks) * (NGX_OCTOPUS_AUDIT_SINK_METRICS + live * 128);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#define ngx_octopus_out(...)                                                  \
    b->last = ngx_slprintf(b->last, b->end, __VA_ARGS__)

    ngx_octopus_out("# HELP octopus_requests_total Requests audited, by "
                    "auth and rate limit result.\n"
                    "# TYPE octopus_requests_total counter\n");

    for (a = 0; a < NGX_OCTOPUS_AUDIT_AUTH_N; a++) {
        for (l = 0; l < NGX_OCTOPUS_AUDIT_RL_N; l++) {
            n = sh->requests[a][l];

            if (n == 0) {
                continue;
            }

            ngx_octopus_out("octopus_requests_total{auth_result=\"%s\","
                            "ratelimit_result=\"%s\"} %uL\n",
                            ngx_octopus_audit_label(a, auth_names,
                                                    NGX_OCTOPUS_AUTH_R_N),
                            ngx_octopus_audit_label(l, rl_names,
                                                    NGX_OCTOPUS_RL_R_N),
                            n);
        }
    }

    ngx_octopus_out("# HELP octopus_security_events_total Security events "
                    "by type.\n"
                    "# TYPE octopus_security_events_total counter\n");

    for (i = 1; i < NGX_OCTOPUS_AUDIT_EV_N; i++) {
        ngx_octopus_out("octopus_security_events_total{event=\"%s\"} %uA\n",
                        ngx_octopus_audit_event_names[i], sh->events[i]);
    }

    ngx_octopus_out("# HELP octopus_audit_records_written_total Audit "
                    "records written, by sink.\n"
                    "# TYPE octopus_audit_records_written_total counter\n");

    for (k = ngx_octopus_audit_sinks; *k; k++) {
        ngx_octopus_out("octopus_audit_records_written_total{sink=\"%V\"} "
                        "%uA\n", &(*k)->name, sh->written[k - sinks]);
    }

    ngx_octopus_out("# HELP octopus_audit_sink_errors_total Failed writes, "
                    "by sink.\n"
                    "# TYPE octopus_audit_sink_errors_total counter\n");

    for (k = ngx_octopus_audit_sinks; *k; k++) {
        ngx_octopus_out("octopus_audit_sink_errors_total{sink=\"%V\"} %uA\n",
                        &(*k)->name, sh->sink_errors[k - sinks]);
    }

    /* each sink's own families */

    for (k = ngx_octopus_audit_sinks; *k; k++) {
        if ((*k)->metrics) {
            b->last = (*k)->metrics(b->last, b->end, sh);
        }
    }

    ngx_octopus_out("# HELP octopus_request_duration_seconds Request time.\n"
                    "# TYPE octopus_request_duration_seconds histogram\n");

    cum = 0;

    for (i = 0; i <= NGX_OCTOPUS_AUDIT_BUCKETS; i++) {
        cum += sh->latency[i];
        ngx_octopus_out("octopus_request_duration_seconds_bucket"
                        "{le=\"%s\"} %uL\n",
                        ngx_octopus_audit_bucket_labels[i], cum);
    }

    lat = sh->latency_sum_ms;

    ngx_octopus_out("octopus_request_duration_seconds_sum %uL.%03uL\n"
                    "octopus_request_duration_seconds_count %uL\n",
                    lat / 1000, lat % 1000, cum);

#undef ngx_octopus_out

    return ngx_octopus_send_metrics(r, b);
}


char *
ngx_octopus_audit_metrics_cmd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t       *clcf;
    ngx_octopus_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_octopus_audit_module);
    amcf->metrics = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_octopus_audit_metrics_handler;

    return NGX_CONF_OK;
}
