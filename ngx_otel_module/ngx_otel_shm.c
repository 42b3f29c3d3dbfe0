
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_shm.h"
#include "ngx_otel_otlp.h"


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
 * only the positions, the counters, the claim table and the copy of a new
 * record.
 *
 * Each claimed batch has an entry in a small claim table: its range, its
 * owner's pid, a generation number and an expiry time.  A batch that is
 * not acknowledged stays claimed (a retry re-sends the same records); an
 * exiting worker gives its unfinished batches back (RETURNED), and any
 * exporter takes over the batches of a worker that died (its pid is gone)
 * or that overran the expiry time it renews on every attempt.  Returned
 * batches are claimed before new records.  The owner's release or give
 * back checks pid and generation, so a batch taken over is never released
 * twice.
 */


#define NGX_OTEL_SHM_MAGIC          0x6f74656c   /* "otel" */
#define NGX_OTEL_SHM_VERSION        5

/* batches in flight in all workers together */
#define NGX_OTEL_SHM_CLAIMS         64

#define NGX_OTEL_RECORD_QUEUED      1
#define NGX_OTEL_RECORD_CLAIMED     2
#define NGX_OTEL_RECORD_DONE        3
#define NGX_OTEL_RECORD_PAD         4

#define NGX_OTEL_CLAIM_FREE         0
#define NGX_OTEL_CLAIM_ACTIVE       1
#define NGX_OTEL_CLAIM_RETURNED     2


typedef struct {
    uint64_t                    start;
    uint64_t                    end;
    uint32_t                    nspans;
    uint32_t                    state;
    uint32_t                    gen;
    ngx_pid_t                   pid;
    time_t                      expire;
    uint64_t                    otlp_len;     /* see ngx_otel_batch_t */
} ngx_otel_claim_t;


typedef struct {
    uint32_t                    magic;
    uint32_t                    version;

    uint64_t                    head;
    uint64_t                    claim;
    uint64_t                    tail;

    ngx_atomic_t                pending;

    ngx_otel_counters_t         counters;

    uint32_t                    gen;
    ngx_uint_t                  returned;
    ngx_otel_claim_t            claims[NGX_OTEL_SHM_CLAIMS];

    size_t                      size;
    u_char                     *ring;
} ngx_otel_shctx_t;


struct ngx_otel_zone_ctx_s {
    ngx_otel_shctx_t           *sh;
    ngx_slab_pool_t            *shpool;

    /* the exporter streams protobuf: records carry their Span's length */
    ngx_uint_t                  span_len;
};


static ngx_inline ngx_otel_span_record_t *ngx_otel_shm_record(
    ngx_otel_shctx_t *sh, uint64_t pos);
static ngx_otel_claim_t *ngx_otel_shm_owned(ngx_otel_shctx_t *sh,
    ngx_otel_batch_t *batch);


ngx_otel_zone_ctx_t *
ngx_otel_shm_create(ngx_conf_t *cf, ngx_uint_t span_len)
{
    ngx_otel_zone_ctx_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_otel_zone_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->span_len = span_len;

    return ctx;
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
    size_t                   size, room, len;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;
    size = ngx_otel_span_record_size(span);
    len = ctx->span_len ? ngx_otel_otlp_record_len(span) : 0;

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
    rec->otlp_len = (uint32_t) len;
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


ngx_int_t
ngx_otel_shm_record_span(ngx_otel_zone_ctx_t *ctx, u_char *p, u_char *last,
    ngx_otel_span_t *span, u_char **next)
{
    size_t  size;

    size = ngx_otel_span_record_size(span);

    if ((size_t) (last - p) < size) {
        return NGX_DECLINED;
    }

    ngx_otel_span_record_write((ngx_otel_span_record_t *) p, span, size);

    ((ngx_otel_span_record_t *) p)->otlp_len =
                 ctx->span_len ? (uint32_t) ngx_otel_otlp_record_len(span) : 0;

    *next = p + size;

    return NGX_OK;
}


ngx_uint_t
ngx_otel_shm_span_len(ngx_otel_zone_ctx_t *ctx)
{
    return ctx->span_len;
}


/*
 * The records are copied in runs: all that fit before the end of the ring
 * and in the room left, then, after a PAD record at the end, the rest
 */

ngx_uint_t
ngx_otel_shm_push_records(ngx_otel_zone_ctx_t *ctx, u_char *start,
    u_char *last)
{
    u_char                  *p, *q;
    size_t                   room, end, size;
    ngx_uint_t               n, dropped;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;
    p = start;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    while (p < last) {

        end = sh->size - (size_t) (sh->tail % sh->size);
        room = sh->size - (size_t) (sh->tail - sh->head);
        room = ngx_min(room, end);

        n = 0;

        for (q = p; q < last; q += size) {
            rec = (ngx_otel_span_record_t *) q;
            size = rec->size;

            if ((size_t) (q - p) + size > room) {
                break;
            }

            rec->state = NGX_OTEL_RECORD_QUEUED;
            n++;
        }

        if (n) {
            ngx_memcpy(sh->ring + sh->tail % sh->size, p, q - p);

            sh->tail += q - p;
            sh->counters.queued += n;
            sh->pending += n;

            p = q;
            continue;
        }

        /* the next record needs the start of the ring, if it is free */

        size = ((ngx_otel_span_record_t *) p)->size;

        if (end >= size
            || sh->tail - sh->head + end + size > sh->size)
        {
            break;
        }

        rec = ngx_otel_shm_record(sh, sh->tail);
        rec->size = (uint32_t) end;
        rec->state = NGX_OTEL_RECORD_PAD;

        sh->tail += end;
    }

    for (dropped = 0; p < last; p += ((ngx_otel_span_record_t *) p)->size) {
        dropped++;
    }

    sh->counters.dropped += dropped;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return dropped;
}


ngx_uint_t
ngx_otel_shm_pending(ngx_otel_zone_ctx_t *ctx)
{
    return ctx->sh->pending;
}


/*
 * Whether the ring holds nothing, queued or claimed: a hint, read without
 * the lock.  head is read first: neither ever goes back, so an equal tail
 * read after it means the ring was empty when the tail was read.
 */

ngx_uint_t
ngx_otel_shm_empty(ngx_otel_zone_ctx_t *ctx)
{
    uint64_t           head, tail;
    ngx_otel_shctx_t  *sh;

    sh = ctx->sh;

    head = *(volatile uint64_t *) &sh->head;
    ngx_memory_barrier();
    tail = *(volatile uint64_t *) &sh->tail;

    return head == tail;
}


/*
 * Whether an export is due before the timer: "batch" spans are queued and
 * not yet claimed, or they take half the ring or more (a ring smaller
 * than two batches would drop spans long before the timer).  A hint, read
 * without the lock: claim is read before tail, and neither ever goes
 * back, so their difference is not below zero.
 */

ngx_uint_t
ngx_otel_shm_ready(ngx_otel_zone_ctx_t *ctx, ngx_uint_t batch)
{
    uint64_t           claim, tail;
    ngx_otel_shctx_t  *sh;

    sh = ctx->sh;

    if (sh->pending >= batch) {
        return 1;
    }

    claim = *(volatile uint64_t *) &sh->claim;
    ngx_memory_barrier();
    tail = *(volatile uint64_t *) &sh->tail;

    return tail - claim >= sh->size / 2;
}


uint64_t
ngx_otel_shm_tail(ngx_otel_zone_ctx_t *ctx)
{
    uint64_t  tail;

    ngx_shmtx_lock(&ctx->shpool->mutex);
    tail = ctx->sh->tail;
    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return tail;
}


ngx_int_t
ngx_otel_shm_claim(ngx_otel_zone_ctx_t *ctx, ngx_uint_t max, uint64_t limit,
    time_t expire, ngx_otel_batch_t *batch)
{
    uint64_t                 pos, last, len;
    ngx_uint_t               i, n, known;
    ngx_otel_claim_t        *cl, *fcl;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;
    fcl = NULL;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; i < NGX_OTEL_SHM_CLAIMS; i++) {
        cl = &sh->claims[i];

        if (cl->state == NGX_OTEL_CLAIM_FREE) {
            if (fcl == NULL) {
                fcl = cl;
            }

            continue;
        }

        /*
         * an exiting exporter (it has a limit) takes only what was queued
         * before its limit: at a quit nobody else is left to take it
         */

        if (cl->state == NGX_OTEL_CLAIM_RETURNED
            && (limit == NGX_OTEL_SHM_NO_LIMIT || cl->end <= limit))
        {
            sh->returned--;
            sh->pending -= cl->nspans;
            goto claimed;
        }
    }

    if (fcl == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    n = 0;
    pos = sh->claim;
    last = ngx_min(sh->tail, limit);

    /* the body's length is summed on the way: one walk less to send it */

    len = 0;
    known = 1;

    while (pos < last && n < max) {
        rec = ngx_otel_shm_record(sh, pos);

        if (rec->state == NGX_OTEL_RECORD_QUEUED) {
            rec->state = NGX_OTEL_RECORD_CLAIMED;
            n++;

            len += 1 + ngx_otel_otlp_varint_len(rec->otlp_len)
                   + rec->otlp_len;
            known &= (rec->otlp_len != 0);
        }

        pos += rec->size;
    }

    if (n == 0) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    cl = fcl;
    cl->start = sh->claim;
    cl->end = pos;
    cl->nspans = (uint32_t) n;
    cl->otlp_len = known ? len : 0;

    sh->claim = pos;
    sh->pending -= n;

claimed:

    cl->state = NGX_OTEL_CLAIM_ACTIVE;
    cl->gen = ++sh->gen;
    cl->pid = ngx_pid;
    cl->expire = expire;

    batch->start = cl->start;
    batch->end = cl->end;
    batch->nspans = cl->nspans;
    batch->claim = cl - sh->claims;
    batch->gen = cl->gen;
    batch->otlp_len = cl->otlp_len;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
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


static ngx_otel_claim_t *
ngx_otel_shm_owned(ngx_otel_shctx_t *sh, ngx_otel_batch_t *batch)
{
    ngx_otel_claim_t  *cl;

    if (batch->claim >= NGX_OTEL_SHM_CLAIMS) {
        return NULL;
    }

    cl = &sh->claims[batch->claim];

    if (cl->state != NGX_OTEL_CLAIM_ACTIVE
        || cl->gen != batch->gen
        || cl->pid != ngx_pid)
    {
        return NULL;
    }

    return cl;
}


ngx_int_t
ngx_otel_shm_release(ngx_otel_zone_ctx_t *ctx, ngx_otel_batch_t *batch,
    ngx_uint_t exported, ngx_uint_t rejected)
{
    uint64_t                 pos;
    ngx_otel_claim_t        *cl;
    ngx_otel_shctx_t        *sh;
    ngx_otel_span_record_t  *rec;

    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    cl = ngx_otel_shm_owned(sh, batch);

    if (cl == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    cl->state = NGX_OTEL_CLAIM_FREE;

    if (batch->start == sh->head) {

        /*
         * the oldest batch, as usual: head passes it at once, and its
         * records are never looked at again
         */

        sh->head = batch->end;

    } else {
        for (pos = batch->start; pos < batch->end; pos += rec->size) {
            rec = ngx_otel_shm_record(sh, pos);

            if (rec->state == NGX_OTEL_RECORD_CLAIMED) {
                rec->state = NGX_OTEL_RECORD_DONE;
            }
        }
    }

    while (sh->head < sh->claim) {
        rec = ngx_otel_shm_record(sh, sh->head);

        if (rec->state != NGX_OTEL_RECORD_DONE
            && rec->state != NGX_OTEL_RECORD_PAD)
        {
            break;
        }

        sh->head += rec->size;
    }

    sh->counters.exported += exported;
    sh->counters.rejected += rejected;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_otel_shm_giveback(ngx_otel_zone_ctx_t *ctx, ngx_otel_batch_t *batch)
{
    ngx_otel_claim_t  *cl;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    cl = ngx_otel_shm_owned(ctx->sh, batch);

    if (cl == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    cl->state = NGX_OTEL_CLAIM_RETURNED;
    cl->pid = 0;

    ctx->sh->returned++;
    ctx->sh->pending += cl->nspans;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_otel_shm_touch(ngx_otel_zone_ctx_t *ctx, ngx_otel_batch_t *batch,
    time_t expire)
{
    ngx_otel_claim_t  *cl;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    cl = ngx_otel_shm_owned(ctx->sh, batch);

    if (cl != NULL) {
        cl->expire = expire;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return cl ? NGX_OK : NGX_DECLINED;
}


ngx_uint_t
ngx_otel_shm_reclaim(ngx_otel_zone_ctx_t *ctx)
{
    time_t             now;
    uint32_t           gen[NGX_OTEL_SHM_CLAIMS];
    ngx_pid_t          pid[NGX_OTEL_SHM_CLAIMS];
    ngx_uint_t         i, n, spans;
    ngx_otel_claim_t  *cl;
    ngx_otel_shctx_t  *sh;

    sh = ctx->sh;
    now = ngx_time();
    spans = 0;
    n = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; i < NGX_OTEL_SHM_CLAIMS; i++) {
        cl = &sh->claims[i];

        pid[i] = 0;
        gen[i] = 0;

        if (cl->state != NGX_OTEL_CLAIM_ACTIVE || cl->pid == ngx_pid) {
            continue;
        }

        if (cl->expire < now) {
            goto reclaim;
        }

        /* the owner's liveness is checked below, without the lock */

        pid[i] = cl->pid;
        gen[i] = cl->gen;
        n++;
        continue;

    reclaim:

        cl->state = NGX_OTEL_CLAIM_RETURNED;
        cl->pid = 0;
        sh->returned++;
        sh->pending += cl->nspans;
        spans += cl->nspans;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (n == 0) {
        return spans;
    }

    for (i = 0; i < NGX_OTEL_SHM_CLAIMS; i++) {
        if (pid[i] == 0) {
            continue;
        }

        if (kill(pid[i], 0) == 0 || ngx_errno != NGX_ESRCH) {
            pid[i] = 0;
        }
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; i < NGX_OTEL_SHM_CLAIMS; i++) {
        cl = &sh->claims[i];

        if (pid[i] == 0
            || cl->state != NGX_OTEL_CLAIM_ACTIVE
            || cl->pid != pid[i]
            || cl->gen != gen[i])
        {
            continue;
        }

        cl->state = NGX_OTEL_CLAIM_RETURNED;
        cl->pid = 0;
        sh->returned++;
        sh->pending += cl->nspans;
        spans += cl->nspans;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return spans;
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
