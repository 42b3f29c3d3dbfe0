
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_SHM_H_INCLUDED_
#define _NGX_OTEL_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"
#include "ngx_otel_exporter.h"


/* what operators see; all of them only grow */
typedef struct {
    uint64_t                    queued;       /* spans put in the zone */
    uint64_t                    dropped;      /* zone full, never queued */
    uint64_t                    exported;     /* acknowledged */
    uint64_t                    rejected;     /* spans of dropped batches */
    uint64_t                    requests;     /* export requests sent */
    uint64_t                    failed;       /* export requests failed */
    uint64_t                    retried;      /* export requests retried */

    /* a snapshot of the queue, filled by ngx_otel_shm_counters() */
    uint64_t                    pending;      /* queued, not yet claimed */
    uint64_t                    zone_used;    /* bytes */
    uint64_t                    zone_size;    /* bytes */
} ngx_otel_counters_t;


/*
 * A run of records claimed by one exporter until it releases the batch
 * (acknowledged or dropped) or gives it back (not sent: at exit).  "claim"
 * and "gen" name the zone's claim entry, so that an exporter whose batch
 * was taken over (it died or overran "expire") can no longer touch it.
 */
typedef struct {
    uint64_t                    start;
    uint64_t                    end;
    ngx_uint_t                  nspans;
    ngx_uint_t                  claim;
    uint32_t                    gen;

    /*
     * What its spans take as "ScopeSpans.spans" fields, found when it was
     * claimed, if all its records have their OTLP length (unknown: 0)
     */
    uint64_t                    otlp_len;
} ngx_otel_batch_t;


#define NGX_OTEL_SHM_NO_LIMIT       ((uint64_t) -1)


/*
 * span_len: the exporter streams protobuf bodies, which encode spans
 * straight from their records (ngx_otel_otlp_record_len())
 */
ngx_otel_zone_ctx_t *ngx_otel_shm_create(ngx_conf_t *cf, ngx_uint_t span_len);
ngx_int_t ngx_otel_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* NGX_OK, or NGX_DECLINED when the zone is full and the span is dropped */
ngx_int_t ngx_otel_shm_push(ngx_otel_zone_ctx_t *ctx, ngx_otel_span_t *span);

/*
 * A span that ngx_otel_span_record_encoded() does not take (attributes
 * not encoded, strings to cut) made a record at p, without the lock, for
 * ngx_otel_shm_push_records(): NGX_OK, and *next is the end of the
 * record; NGX_DECLINED: it does not fit before last.
 */
ngx_int_t ngx_otel_shm_record_span(ngx_otel_zone_ctx_t *ctx, u_char *p,
    u_char *last, ngx_otel_span_t *span, u_char **next);

/* whether records of this zone carry their OTLP length */
ngx_uint_t ngx_otel_shm_span_len(ngx_otel_zone_ctx_t *ctx);

/*
 * Records made so, [start, last), put into the zone under one lock, as
 * many as there is room for; returns how many were dropped
 */
ngx_uint_t ngx_otel_shm_push_records(ngx_otel_zone_ctx_t *ctx, u_char *start,
    u_char *last);

/* spans queued and not yet claimed; read without the lock */
ngx_uint_t ngx_otel_shm_pending(ngx_otel_zone_ctx_t *ctx);

/* nothing queued or claimed: a hint, without the lock */
ngx_uint_t ngx_otel_shm_empty(ngx_otel_zone_ctx_t *ctx);

/*
 * Whether an export is due before the timer: "batch" spans are queued and
 * not yet claimed, or they take half the zone or more; read without the
 * lock
 */
ngx_uint_t ngx_otel_shm_ready(ngx_otel_zone_ctx_t *ctx, ngx_uint_t batch);

/* the position after the last queued record */
uint64_t ngx_otel_shm_tail(ngx_otel_zone_ctx_t *ctx);

/*
 * Claims a batch of at most "max" spans queued before position "limit":
 * first a batch given back by another exporter (unless there is a limit:
 * an exiting exporter leaves those to others), else new records.  The
 * claim may be taken over by another exporter after "expire" (seconds,
 * ngx_time()) unless renewed with ngx_otel_shm_touch().  NGX_DECLINED:
 * nothing to claim, or too many batches in flight in the zone.
 */
ngx_int_t ngx_otel_shm_claim(ngx_otel_zone_ctx_t *ctx, ngx_uint_t max,
    uint64_t limit, time_t expire, ngx_otel_batch_t *batch);
ngx_otel_span_record_t *ngx_otel_shm_next(ngx_otel_zone_ctx_t *ctx,
    ngx_otel_batch_t *batch, uint64_t *pos);

/*
 * The three ends of a claim; each returns NGX_DECLINED and does nothing
 * if the batch is no longer ours.  release: the batch is done with,
 * "exported" spans acknowledged and "rejected" ones dropped; giveback: the
 * spans go back to the queue for any exporter.
 */
ngx_int_t ngx_otel_shm_release(ngx_otel_zone_ctx_t *ctx,
    ngx_otel_batch_t *batch, ngx_uint_t exported, ngx_uint_t rejected);
ngx_int_t ngx_otel_shm_giveback(ngx_otel_zone_ctx_t *ctx,
    ngx_otel_batch_t *batch);
ngx_int_t ngx_otel_shm_touch(ngx_otel_zone_ctx_t *ctx,
    ngx_otel_batch_t *batch, time_t expire);

/*
 * Makes claimable again the batches of exporters that are gone (their
 * process no longer exists) or overran their "expire"; returns how many
 * spans that were.
 */
ngx_uint_t ngx_otel_shm_reclaim(ngx_otel_zone_ctx_t *ctx);

void ngx_otel_shm_count_request(ngx_otel_zone_ctx_t *ctx, ngx_uint_t failed,
    ngx_uint_t retried);
void ngx_otel_shm_counters(ngx_otel_zone_ctx_t *ctx,
    ngx_otel_counters_t *counters);


#endif /* _NGX_OTEL_SHM_H_INCLUDED_ */
