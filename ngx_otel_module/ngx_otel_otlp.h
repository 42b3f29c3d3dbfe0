
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
    ngx_array_t *resource);

/* the most ngx_otel_otlp_envelope() writes */
size_t ngx_otel_otlp_headroom(ngx_otel_otlp_t *otlp);

/*
 * A span as an encoded "ScopeSpans.spans" field, written by
 * ngx_otel_otlp_span.c without protobuf-c into [p, last): returns its
 * end, or NULL if it might not fit, and then it surely fits into
 * ngx_otel_otlp_span_size() bytes.
 */
size_t ngx_otel_otlp_span_size(ngx_otel_span_t *span);
u_char *ngx_otel_otlp_span(u_char *p, u_char *last, ngx_otel_span_t *span);

/* spans: the first span, len: the length of all spans */
u_char *ngx_otel_otlp_envelope(ngx_otel_otlp_t *otlp, u_char *spans,
    size_t len);

/* NGX_OK, or NGX_ERROR if the bytes are not an ExportTraceServiceResponse */
ngx_int_t ngx_otel_otlp_response(u_char *data, size_t len,
    ngx_otel_otlp_partial_t *partial);

/*
 * proto3 strings must be UTF-8: each byte that does not start a
 * well-formed UTF-8 sequence (RFC 3629), and each NUL, becomes U+FFFD.
 * ngx_otel_otlp_utf8_size() is the length of the result; it equals "len"
 * exactly when the string is left as it is.
 */
size_t ngx_otel_otlp_utf8_size(u_char *p, size_t len);
u_char *ngx_otel_otlp_utf8_copy(u_char *dst, u_char *p, size_t len);


static ngx_inline size_t
ngx_otel_otlp_varint_len(uint64_t n)
{
    size_t  len;

    for (len = 1; n >= 0x80; len++) {
        n >>= 7;
    }

    return len;
}


static ngx_inline u_char *
ngx_otel_otlp_varint(u_char *p, uint64_t n)
{
    while (n >= 0x80) {
        *p++ = (u_char) (n | 0x80);
        n >>= 7;
    }

    *p++ = (u_char) n;

    return p;
}


#endif /* _NGX_OTEL_OTLP_H_INCLUDED_ */
