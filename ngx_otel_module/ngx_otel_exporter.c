
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_otel_exporter.h"
#include "ngx_otel_shm.h"
#include "ngx_otel_otlp_json.h"


/*
 * Every worker runs an exporter: a timer every "interval", and an early
 * run posted by the request path when a full batch is waiting.  Each run
 * claims at most "batch_count" batches of at most "batch_size" spans, so
 * one run is bounded; whatever is left is picked up by a posted re-run.
 */


struct ngx_otel_exporter_s {
    ngx_otel_exporter_conf_t   *conf;
    ngx_otel_zone_ctx_t        *zone;

    ngx_event_t                 timer;
    ngx_event_t                 run;

    /* ev->data of both events, for the debug log's ngx_event_ident() */
    ngx_connection_t            dummy;

    u_char                     *buf;
    size_t                      buf_size;

    ngx_log_t                  *log;

    ngx_otel_attr_t             attrs[NGX_OTEL_SPAN_MAX_ATTRS];
};


static void ngx_otel_exporter_handler(ngx_event_t *ev);
static void ngx_otel_exporter_flush(ngx_otel_exporter_t *exp,
    ngx_uint_t batches);
static ngx_int_t ngx_otel_exporter_file(ngx_otel_exporter_t *exp,
    ngx_otel_batch_t *batch);
static u_char *ngx_otel_exporter_reserve(ngx_otel_exporter_t *exp,
    size_t used, size_t more);


ngx_int_t
ngx_otel_exporter_init_process(ngx_cycle_t *cycle,
    ngx_otel_exporter_conf_t *ecf)
{
    ngx_otel_exporter_t  *exp;

    exp = ngx_pcalloc(cycle->pool, sizeof(ngx_otel_exporter_t));
    if (exp == NULL) {
        return NGX_ERROR;
    }

    exp->conf = ecf;
    exp->zone = ecf->shm_zone->data;
    exp->log = cycle->log;

    exp->dummy.fd = (ngx_socket_t) -1;
    exp->dummy.data = exp;

    exp->timer.handler = ngx_otel_exporter_handler;
    exp->timer.data = &exp->dummy;
    exp->timer.log = cycle->log;
    exp->timer.cancelable = 1;

    exp->run = exp->timer;

    ecf->worker = exp;

    if (ecf->file == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "otel exporter endpoint \"%V\": network export is "
                      "not available in this version, only \"file:\" "
                      "endpoints export spans", &ecf->endpoint);
        return NGX_OK;
    }

    ngx_add_timer(&exp->timer, ecf->interval);

    return NGX_OK;
}


void
ngx_otel_exporter_notify(ngx_otel_exporter_conf_t *ecf)
{
    ngx_otel_exporter_t  *exp;

    exp = ecf->worker;

    if (exp == NULL || exp->run.posted || ecf->file == NULL) {
        return;
    }

    if (ngx_otel_shm_pending(exp->zone) >= ecf->batch_size) {
        ngx_post_event(&exp->run, &ngx_posted_events);
    }
}


void
ngx_otel_exporter_exit_process(ngx_otel_exporter_conf_t *ecf)
{
    ngx_otel_exporter_t  *exp;

    exp = ecf->worker;

    if (exp == NULL || ecf->file == NULL) {
        return;
    }

    /* a file write does not need the event loop: drain all that is left */

    ngx_otel_exporter_flush(exp, NGX_MAX_UINT32_VALUE);
}


static void
ngx_otel_exporter_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_otel_exporter_t  *exp;

    c = ev->data;
    exp = c->data;

    ngx_otel_exporter_flush(exp, exp->conf->batch_count);

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (ev == &exp->timer) {
        ngx_add_timer(&exp->timer, exp->conf->interval);
    }

    if (!exp->run.posted
        && ngx_otel_shm_pending(exp->zone) >= exp->conf->batch_size)
    {
        ngx_post_event(&exp->run, &ngx_posted_events);
    }
}


static void
ngx_otel_exporter_flush(ngx_otel_exporter_t *exp, ngx_uint_t batches)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_otel_batch_t  batch;

    for (i = 0; i < batches; i++) {

        if (ngx_otel_shm_claim(exp->zone, exp->conf->batch_size, &batch)
            != NGX_OK)
        {
            return;
        }

        rc = ngx_otel_exporter_file(exp, &batch);

        ngx_otel_shm_count_request(exp->zone, rc != NGX_OK, 0);
        ngx_otel_shm_release(exp->zone, &batch, rc == NGX_OK);
    }
}


static ngx_int_t
ngx_otel_exporter_file(ngx_otel_exporter_t *exp, ngx_otel_batch_t *batch)
{
    u_char                  *p;
    size_t                   used;
    ssize_t                  n;
    uint64_t                 pos;
    ngx_uint_t               first;
    ngx_otel_span_t          span;
    ngx_otel_span_record_t  *rec;

    p = ngx_otel_exporter_reserve(exp, 0,
                              ngx_otel_otlp_json_begin_size(exp->conf->resource));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_otel_otlp_json_begin(p, exp->conf->resource);

    first = 1;
    pos = batch->start;

    while ((rec = ngx_otel_shm_next(exp->zone, batch, &pos)) != NULL) {
        ngx_otel_span_record_read(rec, &span, exp->attrs);

        used = p - exp->buf;
        p = ngx_otel_exporter_reserve(exp, used,
                                      ngx_otel_otlp_json_span_size(&span));
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_otel_otlp_json_span(p, &span, first);
        first = 0;
    }

    used = p - exp->buf;
    p = ngx_otel_exporter_reserve(exp, used,
                                  ngx_otel_otlp_json_end_size() + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_otel_otlp_json_end(p);
    *p++ = LF;

    /* one write() per line: O_APPEND keeps lines of workers apart */

    n = ngx_write_fd(exp->conf->file->fd, exp->buf, p - exp->buf);

    if (n != p - exp->buf) {
        ngx_log_error(NGX_LOG_ERR, exp->log, n == -1 ? ngx_errno : 0,
                      "otel exporter: " ngx_write_fd_n " to \"%V\" failed, "
                      "%ui spans lost", &exp->conf->file->name,
                      batch->nspans);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the export buffer grows to the largest batch seen, off the request path */

static u_char *
ngx_otel_exporter_reserve(ngx_otel_exporter_t *exp, size_t used, size_t more)
{
    u_char  *buf;
    size_t   size;

    if (used + more <= exp->buf_size) {
        return exp->buf + used;
    }

    size = ngx_max(exp->buf_size * 2, used + more);
    size = ngx_max(size, 64 * 1024);

    buf = ngx_alloc(size, exp->log);
    if (buf == NULL) {
        return NULL;
    }

    if (used) {
        ngx_memcpy(buf, exp->buf, used);
    }

    if (exp->buf) {
        ngx_free(exp->buf);
    }

    exp->buf = buf;
    exp->buf_size = size;

    return buf + used;
}
