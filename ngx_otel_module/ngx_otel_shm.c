
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_shm.h"


/*
 * The zone is one ring of variable-size span records shared by all
 * workers.  Three positions only grow (they are byte counts, the offset
 * in the ring is the position modulo its size):
 *
 *     head <= claim <= tail
 *
 * [claim, tail) is queued, [head, claim) is claimed by exporters, and a
 * record is reused only when head passes it, that is once its batch is
 * released.  A record never wraps: a PAD record fills the end of the ring.
 * Records are read by their exporter without the lock; the lock covers
 * only the positions, the counters and the copy of a new record.
 */


#define NGX_OTEL_SHM_MAGIC          0x6f74656c   /* "otel" */
#define NGX_OTEL_SHM_VERSION        1

#define NGX_OTEL_RECORD_QUEUED      1
#define NGX_OTEL_RECORD_CLAIMED     2
#define NGX_OTEL_RECORD_DONE        3
#define NGX_OTEL_RECORD_PAD         4


typedef struct {
    uint32_t                    magic;
    uint32_t                    version;

    uint64_t                    head;
    uint64_t                    claim;
    uint64_t                    tail;

    ngx_atomic_t                pending;

    ngx_otel_counters_t         counters;

    size_t                      size;
    u_char                     *ring;
} ngx_otel_shctx_t;


struct ngx_otel_zone_ctx_s {
    ngx_otel_shctx_t           *sh;
    ngx_slab_pool_t            *shpool;
};


static ngx_inline ngx_otel_span_record_t *ngx_otel_shm_record(
    ngx_otel_shctx_t *sh, uint64_t pos);


ngx_otel_zone_ctx_t *
ngx_otel_shm_create(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_otel_zone_ctx_t));
}


ngx_int_t
ngx_otel_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_otel_zone_ctx_t  *octx = data;

    size_t                len;
    ngx_otel_shctx_t     *sh;
    ngx_otel_zone_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* reload with an unchanged zone: keep what old workers queued */

        if (octx->sh->magic != NGX_OTEL_SHM_MAGIC
            || octx->sh->version != NGX_OTEL_SHM_VERSION)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "otel zone \"%V\" was created by an incompatible "
                          "version of the module", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_otel_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    /* the ring takes all the pages the slab allocator has left but one */

    if (ctx->shpool->pfree < 2) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "otel zone \"%V\" is too small", &shm_zone->shm.name);
        return NGX_ERROR;
    }

    len = (ctx->shpool->pfree - 1) * ngx_pagesize;

    sh->ring = ngx_slab_alloc(ctx->shpool, len);
    if (sh->ring == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "could not allocate the ring of otel zone \"%V\"",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    sh->size = len;
    sh->magic = NGX_OTEL_SHM_MAGIC;
    sh->version = NGX_OTEL_SHM_VERSION;

    ctx->sh = sh;
    ctx->shpool->data = sh;

    /* running out of room is normal here: we drop and count, not alert */
    ctx->shpool->log_nomem = 0;

    len = sizeof(" in otel zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in otel zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


static ngx_inline ngx_otel_span_record_t *
ngx_otel_shm_record(ngx_otel_shctx_t *sh, uint64_t pos)
{
    return (ngx_otel_span_record_t *) (sh->ring + pos % sh->size);
}


ngx_int_t
ngx_otel_shm_push(ngx_otel_zone_ctx_t *ctx, ngx_otel_span_t *span)
{
    size_t                   size, room;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;
    size = ngx_otel_span_record_size(span);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    room = sh->size - (size_t) (sh->tail % sh->size);

    if (room < size) {

        if (sh->tail - sh->head + room + size > sh->size) {
            goto full;
        }

        rec = ngx_otel_shm_record(sh, sh->tail);
        rec->size = (uint32_t) room;
        rec->state = NGX_OTEL_RECORD_PAD;

        sh->tail += room;
    }

    if (sh->tail - sh->head + size > sh->size) {
        goto full;
    }

    rec = ngx_otel_shm_record(sh, sh->tail);

    ngx_otel_span_record_write(rec, span, size);
    rec->state = NGX_OTEL_RECORD_QUEUED;

    sh->tail += size;
    sh->counters.queued++;
    sh->pending++;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;

full:

    sh->counters.dropped++;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_DECLINED;
}


ngx_uint_t
ngx_otel_shm_pending(ngx_otel_zone_ctx_t *ctx)
{
    return ctx->sh->pending;
}


ngx_int_t
ngx_otel_shm_claim(ngx_otel_zone_ctx_t *ctx, ngx_uint_t max,
    ngx_otel_batch_t *batch)
{
    uint64_t                 pos;
    ngx_uint_t               n;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;
    n = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    pos = sh->claim;

    while (pos < sh->tail && n < max) {
        rec = ngx_otel_shm_record(sh, pos);

        if (rec->state == NGX_OTEL_RECORD_QUEUED) {
            rec->state = NGX_OTEL_RECORD_CLAIMED;
            n++;
        }

        pos += rec->size;
    }

    batch->start = sh->claim;
    batch->end = pos;
    batch->nspans = n;

    sh->claim = pos;
    sh->pending -= n;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return n ? NGX_OK : NGX_DECLINED;
}


ngx_otel_span_record_t *
ngx_otel_shm_next(ngx_otel_zone_ctx_t *ctx, ngx_otel_batch_t *batch,
    uint64_t *pos)
{
    ngx_otel_span_record_t  *rec;

    while (*pos < batch->end) {
        rec = ngx_otel_shm_record(ctx->sh, *pos);
        *pos += rec->size;

        if (rec->state != NGX_OTEL_RECORD_PAD) {
            return rec;
        }
    }

    return NULL;
}


void
ngx_otel_shm_release(ngx_otel_zone_ctx_t *ctx, ngx_otel_batch_t *batch,
    ngx_uint_t exported)
{
    uint64_t                 pos;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;

    /* the batch's records are ours alone until head passes them */

    for (pos = batch->start; pos < batch->end; pos += rec->size) {
        rec = ngx_otel_shm_record(sh, pos);

        if (rec->state == NGX_OTEL_RECORD_CLAIMED) {
            rec->state = NGX_OTEL_RECORD_DONE;
        }
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    while (sh->head < sh->claim) {
        rec = ngx_otel_shm_record(sh, sh->head);

        if (rec->state != NGX_OTEL_RECORD_DONE
            && rec->state != NGX_OTEL_RECORD_PAD)
        {
            break;
        }

        sh->head += rec->size;
    }

    if (exported) {
        sh->counters.exported += batch->nspans;

    } else {
        sh->counters.rejected += batch->nspans;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


void
ngx_otel_shm_count_request(ngx_otel_zone_ctx_t *ctx, ngx_uint_t failed,
    ngx_uint_t retried)
{
    ngx_shmtx_lock(&ctx->shpool->mutex);

    ctx->sh->counters.requests++;
    ctx->sh->counters.failed += failed;
    ctx->sh->counters.retried += retried;

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


void
ngx_otel_shm_counters(ngx_otel_zone_ctx_t *ctx, ngx_otel_counters_t *counters)
{
    ngx_shmtx_lock(&ctx->shpool->mutex);

    *counters = ctx->sh->counters;

    counters->pending = ctx->sh->pending;
    counters->zone_used = ctx->sh->tail - ctx->sh->head;
    counters->zone_size = ctx->sh->size;

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}
