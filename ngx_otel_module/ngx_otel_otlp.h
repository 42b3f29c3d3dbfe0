
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_OTLP_H_INCLUDED_
#define _NGX_OTEL_OTLP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"


#define NGX_OTEL_OTLP_MESSAGE_LEN  256


typedef struct ngx_otel_otlp_s  ngx_otel_otlp_t;


/* what an ExportTraceServiceResponse says */
typedef struct {
    int64_t                     rejected;
    size_t                      len;
    u_char                      message[NGX_OTEL_OTLP_MESSAGE_LEN];
} ngx_otel_otlp_partial_t;


/*
 * A protobuf ExportTraceServiceRequest with one ResourceSpans and one
 * ScopeSpans.  The spans are encoded one by one, each an encoded
 * "ScopeSpans.spans" field, and laid out one after the other; then
 * ngx_otel_otlp_envelope() writes what comes before them (the resource,
 * the scope and the lengths of the enclosing messages) into the headroom
 * left in front of the first span, and returns where the request begins.
 *
 * resource: ngx_keyval_t array of string attributes.
 */
ngx_otel_otlp_t *ngx_otel_otlp_create(ngx_pool_t *pool,
    ngx_array_t *resource, ngx_log_t *log);

/* the most ngx_otel_otlp_envelope() writes */
size_t ngx_otel_otlp_headroom(ngx_otel_otlp_t *otlp);

/* "out" is valid until the next call; NGX_ERROR: no memory */
ngx_int_t ngx_otel_otlp_span(ngx_otel_otlp_t *otlp, ngx_otel_span_t *span,
    ngx_str_t *out);

/* spans: the first span, len: the length of all spans */
u_char *ngx_otel_otlp_envelope(ngx_otel_otlp_t *otlp, u_char *spans,
    size_t len);

/* NGX_OK, or NGX_ERROR if the bytes are not an ExportTraceServiceResponse */
ngx_int_t ngx_otel_otlp_response(u_char *data, size_t len,
    ngx_otel_otlp_partial_t *partial);


#endif /* _NGX_OTEL_OTLP_H_INCLUDED_ */
