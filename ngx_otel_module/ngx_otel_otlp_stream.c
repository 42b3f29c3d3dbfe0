
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_otlp_stream.h"


#define NGX_OTEL_GRPC_PREFIX_LEN  5


static ngx_int_t ngx_otel_otlp_stream_reserve(u_char **buf, size_t *size,
    size_t need, ngx_log_t *log);


ngx_int_t
ngx_otel_otlp_stream_init(ngx_otel_otlp_stream_t *st, ngx_otel_otlp_t *otlp,
    ngx_otel_zone_ctx_t *zone, ngx_otel_batch_t *batch, ngx_uint_t grpc,
    ngx_log_t *log)
{
    u_char                  *p, *spans;
    size_t                   len, msg, room;
    uint64_t                 pos;
    ngx_otel_span_t          span;
    ngx_otel_span_record_t  *rec;

    st->zone = zone;
    st->batch = batch;
    st->log = log;

    /*
     * the spans' length: summed when the batch was claimed, or each found
     * from its record without encoding it
     */

    len = batch->otlp_len;
    pos = len ? batch->end : batch->start;

    while ((rec = ngx_otel_shm_next(zone, batch, &pos)) != NULL) {

        if (rec->otlp_len) {
            len += 1 + ngx_otel_otlp_varint_len(rec->otlp_len)
                   + rec->otlp_len;
            continue;
        }

        ngx_otel_span_record_view(rec, &span, &st->attr);
        len += ngx_otel_otlp_span_len(&span);
    }

    /* the envelope is written backwards from where the spans would start */

    room = NGX_OTEL_GRPC_PREFIX_LEN + ngx_otel_otlp_headroom(otlp);

    if (ngx_otel_otlp_stream_reserve(&st->head_buf, &st->head_size, room, log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    spans = st->head_buf + room;
    p = ngx_otel_otlp_envelope(otlp, spans, len);

    if (grpc) {

        /* the gRPC message prefix: not compressed, big-endian length */

        msg = (spans - p) + len;
        p -= NGX_OTEL_GRPC_PREFIX_LEN;

        p[0] = 0;
        p[1] = (u_char) (msg >> 24);
        p[2] = (u_char) (msg >> 16);
        p[3] = (u_char) (msg >> 8);
        p[4] = (u_char) msg;
    }

    st->head = p;
    st->head_len = spans - p;
    st->size = st->head_len + len;

    ngx_otel_otlp_stream_rewind(st);

    return NGX_OK;
}


void
ngx_otel_otlp_stream_rewind(ngx_otel_otlp_stream_t *st)
{
    st->pos = st->batch->start;
    st->sent = 0;
    st->pending = st->head;
    st->pending_len = st->head_len;
}


ssize_t
ngx_otel_otlp_stream_read(ngx_otel_otlp_stream_t *st, u_char *buf,
    size_t size)
{
    u_char                  *p, *q, *last;
    size_t                   n;
    uint64_t                 pos;
    ngx_otel_span_t          span;
    ngx_otel_span_record_t  *rec;

    p = buf;
    last = buf + ngx_min(size, st->size - st->sent);

    while (p < last) {

        if (st->pending_len) {
            n = ngx_min(st->pending_len, (size_t) (last - p));

            p = ngx_cpymem(p, st->pending, n);
            st->pending += n;
            st->pending_len -= n;
            continue;
        }

        rec = ngx_otel_shm_next(st->zone, st->batch, &st->pos);
        if (rec == NULL) {
            break;
        }

        /* most spans are encoded right into libcurl's buffer */

        if (rec->otlp_len) {
            q = ngx_otel_otlp_record(p, last, rec);

            if (q != NULL) {
                p = q;
                continue;
            }
        }

        ngx_otel_span_record_view(rec, &span, &st->attr);

        q = ngx_otel_otlp_span(p, last, &span);

        if (q != NULL) {
            p = q;
            continue;
        }

        /* near its end, one is encoded aside, to be given out in parts */

        n = ngx_otel_otlp_span_size(&span);

        if (ngx_otel_otlp_stream_reserve(&st->spill, &st->spill_size, n,
                                         st->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        q = ngx_otel_otlp_span(st->spill, st->spill + n, &span);

        if (q == NULL) {
            ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                          "otel span larger than its size");
            return NGX_ERROR;
        }

        st->pending = st->spill;
        st->pending_len = q - st->spill;
    }

    n = p - buf;
    st->sent += n;

    /* a body other than its announced size would be cut or incomplete */

    if (n < size && st->sent != st->size) {
        ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                      "otel exporter: body of %uz bytes instead of %uz",
                      st->sent, st->size);
        return NGX_ERROR;
    }

    pos = st->pos;

    if (st->sent == st->size
        && (st->pending_len
            || ngx_otel_shm_next(st->zone, st->batch, &pos) != NULL))
    {
        ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                      "otel exporter: body longer than %uz bytes", st->size);
        return NGX_ERROR;
    }

    return n;
}


void
ngx_otel_otlp_stream_free(ngx_otel_otlp_stream_t *st)
{
    if (st->head_buf) {
        ngx_free(st->head_buf);
        st->head_buf = NULL;
        st->head_size = 0;
    }

    if (st->spill) {
        ngx_free(st->spill);
        st->spill = NULL;
        st->spill_size = 0;
    }
}


static ngx_int_t
ngx_otel_otlp_stream_reserve(u_char **buf, size_t *size, size_t need,
    ngx_log_t *log)
{
    u_char  *p;

    if (*size >= need) {
        return NGX_OK;
    }

    need = ngx_max(need, 2 * *size);

    p = ngx_alloc(need, log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (*buf) {
        ngx_free(*buf);
    }

    *buf = p;
    *size = need;

    return NGX_OK;
}
