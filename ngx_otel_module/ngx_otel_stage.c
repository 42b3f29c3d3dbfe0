
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_otel_stage.h"
#include "ngx_otel_shm.h"


/*
 * Large enough for a few hundred usual spans; at most a quarter of the
 * zone, so that one flush of a full stage never takes the whole zone
 */
#define NGX_OTEL_STAGE_SIZE  65536


struct ngx_otel_stage_s {
    u_char                     *start;
    u_char                     *pos;
    u_char                     *end;

    ngx_otel_exporter_conf_t   *conf;
    ngx_otel_zone_ctx_t        *zone;
    ngx_uint_t                  span_len;

    /* posted when the first span of a turn is staged */
    ngx_event_t                 flush;

    /* ev->data of the event, for the debug log's ngx_event_ident() */
    ngx_connection_t            dummy;
};


static ngx_inline ngx_int_t ngx_otel_stage_record(ngx_otel_stage_t *st,
    ngx_otel_span_t *span);
static void ngx_otel_stage_direct(ngx_otel_exporter_conf_t *ecf,
    ngx_otel_span_t *span);
static void ngx_otel_stage_flush_handler(ngx_event_t *ev);
static void ngx_otel_stage_dropped(ngx_uint_t n);


ngx_int_t
ngx_otel_stage_init(ngx_cycle_t *cycle, ngx_otel_exporter_conf_t *ecf)
{
    size_t             size;
    ngx_otel_stage_t  *st;

    st = ngx_pcalloc(cycle->pool, sizeof(ngx_otel_stage_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    size = ngx_min(NGX_OTEL_STAGE_SIZE, ngx_align(ecf->zone_size / 4, 8));

    st->start = ngx_palloc(cycle->pool, size);
    if (st->start == NULL) {
        return NGX_ERROR;
    }

    st->pos = st->start;
    st->end = st->start + size;

    st->conf = ecf;
    st->zone = ecf->shm_zone->data;
    st->span_len = ngx_otel_shm_span_len(st->zone);

    st->dummy.fd = (ngx_socket_t) -1;
    st->dummy.data = st;

    st->flush.handler = ngx_otel_stage_flush_handler;
    st->flush.data = &st->dummy;
    st->flush.log = cycle->log;

    ecf->stage = st;

    return NGX_OK;
}


void
ngx_otel_stage_push(ngx_otel_exporter_conf_t *ecf, ngx_otel_span_t *span)
{
    ngx_otel_stage_t  *st;

    st = ecf->stage;

    if (st == NULL) {
        /* not a worker, or the stage could not be made */
        ngx_otel_stage_direct(ecf, span);
        return;
    }

    if (ngx_otel_stage_record(st, span) != NGX_OK) {

        if (st->pos == st->start) {
            /* a span larger than the stage, rare */
            ngx_otel_stage_direct(ecf, span);
            return;
        }

        ngx_otel_stage_flush(ecf);

        if (ngx_otel_stage_record(st, span) != NGX_OK) {
            ngx_otel_stage_direct(ecf, span);
            return;
        }
    }

    if (!st->flush.posted) {
        ngx_post_event(&st->flush, &ngx_posted_events);
    }
}


void
ngx_otel_stage_flush(ngx_otel_exporter_conf_t *ecf)
{
    ngx_uint_t         dropped;
    ngx_otel_stage_t  *st;

    st = ecf->stage;

    if (st == NULL || st->pos == st->start) {
        return;
    }

    dropped = ngx_otel_shm_push_records(st->zone, st->start, st->pos);

    st->pos = st->start;

    if (st->flush.posted) {
        ngx_delete_posted_event(&st->flush);
    }

    ngx_otel_exporter_notify(ecf);

    if (dropped) {
        ngx_otel_stage_dropped(dropped);
    }
}


/* the usual span in one pass, others the general way; NGX_DECLINED: full */

static ngx_inline ngx_int_t
ngx_otel_stage_record(ngx_otel_stage_t *st, ngx_otel_span_t *span)
{
    ngx_int_t  rc;

    rc = ngx_otel_span_record_encoded(st->pos, st->end, span, st->span_len,
                                      &st->pos);

    if (rc != NGX_ERROR) {
        return rc;
    }

    return ngx_otel_shm_record_span(st->zone, st->pos, st->end, span,
                                    &st->pos);
}


/* a span straight into the zone, under a lock of its own */

static void
ngx_otel_stage_direct(ngx_otel_exporter_conf_t *ecf, ngx_otel_span_t *span)
{
    if (ngx_otel_shm_push(ecf->shm_zone->data, span) == NGX_OK) {
        ngx_otel_exporter_notify(ecf);

    } else {
        ngx_otel_stage_dropped(1);
    }
}


static void
ngx_otel_stage_flush_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;
    ngx_otel_stage_t  *st;

    c = ev->data;
    st = c->data;

    ngx_otel_stage_flush(st->conf);
}


/* once a second at most: a full zone drops many spans */

static void
ngx_otel_stage_dropped(ngx_uint_t n)
{
    time_t  now;

    static time_t  logged;

    now = ngx_time();

    if (logged == now) {
        return;
    }

    logged = now;

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "otel zone is full, %ui span%s dropped; "
                  "increase \"zone_size\" or lower the sampling ratio",
                  n, n == 1 ? "" : "s");
}
