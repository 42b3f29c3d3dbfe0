
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_OTLP_STREAM_H_INCLUDED_
#define _NGX_OTEL_OTLP_STREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_otlp.h"
#include "ngx_otel_shm.h"


/*
 * An uncompressed protobuf body (OTLP/HTTP, or OTLP/gRPC with its message
 * prefix) read straight from a claimed batch into the buffer libcurl
 * sends from: no body of our own, and no copy of it by libcurl.  The
 * records stay claimed, so unchanged, until the request is done with.
 */
typedef struct {
    ngx_otel_zone_ctx_t        *zone;
    ngx_otel_batch_t           *batch;
    ngx_log_t                  *log;

    /* the whole body */
    size_t                      size;
    size_t                      sent;

    /* the next record */
    uint64_t                    pos;

    /* what is given out before the next record: the head or a span's rest */
    u_char                     *pending;
    size_t                      pending_len;

    /* the gRPC prefix and the envelope, before the first span */
    u_char                     *head;
    size_t                      head_len;
    u_char                     *head_buf;
    size_t                      head_size;

    /* a span that did not fit into what was left of libcurl's buffer */
    u_char                     *spill;
    size_t                      spill_size;

    ngx_otel_attr_t             attr;
} ngx_otel_otlp_stream_t;


/* the body's size is known, and its head made; the stream is at its start */
ngx_int_t ngx_otel_otlp_stream_init(ngx_otel_otlp_stream_t *st,
    ngx_otel_otlp_t *otlp, ngx_otel_zone_ctx_t *zone,
    ngx_otel_batch_t *batch, ngx_uint_t grpc, ngx_log_t *log);

void ngx_otel_otlp_stream_rewind(ngx_otel_otlp_stream_t *st);

/* up to "size" bytes more of the body, 0 at its end; NGX_ERROR */
ssize_t ngx_otel_otlp_stream_read(ngx_otel_otlp_stream_t *st, u_char *buf,
    size_t size);

void ngx_otel_otlp_stream_free(ngx_otel_otlp_stream_t *st);


#endif /* _NGX_OTEL_OTLP_STREAM_H_INCLUDED_ */
