
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_TRACE_H_INCLUDED_
#define _NGX_OTEL_TRACE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_OTEL_TRACE_ID_LEN        16
#define NGX_OTEL_SPAN_ID_LEN         8

/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define NGX_OTEL_TRACEPARENT_LEN     55

/* 32 hex "-" 16 hex "-" "1" | "0" | "d" */
#define NGX_OTEL_B3_LEN              51

#define NGX_OTEL_TRACESTATE_MAX_LEN      512
#define NGX_OTEL_TRACESTATE_MAX_MEMBERS  32

/* tracestate lines longer than this in all are discarded as a whole */
#define NGX_OTEL_TRACESTATE_MAX_INPUT    32768

/* W3C trace-flags bits */
#define NGX_OTEL_FLAG_SAMPLED        0x01
#define NGX_OTEL_FLAG_RANDOM         0x02


typedef struct {
    u_char      trace_id[NGX_OTEL_TRACE_ID_LEN];
    u_char      span_id[NGX_OTEL_SPAN_ID_LEN];

    /*
     * W3C trace-flags as received, only the bits known to level 2:
     * NGX_OTEL_FLAG_SAMPLED | NGX_OTEL_FLAG_RANDOM; B3 sets SAMPLED only
     */
    u_char      flags;

    /* B3 debug ("d" or X-B3-Flags: 1); implies sampled */
    unsigned    debug:1;
} ngx_otel_context_t;


/*
 * A per-process generator (xoshiro256**) seeded from the kernel; not
 * cryptographic, but never rand() and never shared between workers.  Call
 * ngx_otel_random_init() in each worker; a process that did not (or that
 * was forked after it: ngx_pid differs) reseeds itself silently on its
 * first id.  Ids are never all zero.
 */
ngx_int_t ngx_otel_random_init(ngx_log_t *log);
void ngx_otel_trace_id_generate(u_char *id);
void ngx_otel_span_id_generate(u_char *id);

ngx_uint_t ngx_otel_id_is_zero(u_char *id, size_t len);

/*
 * Parsers return NGX_OK and fill ctx when the header is valid, and
 * NGX_DECLINED (ctx untouched) when it must be ignored.  They never read
 * past len, and skip the white space around a value.  A B3 context
 * without a sampling state (the deferred decision) has flags 0, as in
 * @opentelemetry/propagator-b3: an unsampled remote parent.
 */
ngx_int_t ngx_otel_traceparent_parse(u_char *p, size_t len,
    ngx_otel_context_t *ctx);
u_char *ngx_otel_traceparent_format(u_char *buf, u_char *trace_id,
    u_char *span_id, u_char flags);

ngx_int_t ngx_otel_b3_parse(u_char *p, size_t len, ngx_otel_context_t *ctx);
ngx_int_t ngx_otel_b3multi_parse(ngx_str_t *trace_id, ngx_str_t *span_id,
    ngx_str_t *sampled, ngx_str_t *flags, ngx_otel_context_t *ctx);
u_char *ngx_otel_b3_format(u_char *buf, u_char *trace_id, u_char *span_id,
    ngx_uint_t sampled, ngx_uint_t debug);

/*
 * Combines the tracestate header lines into buf (at least
 * NGX_OTEL_TRACESTATE_MAX_LEN bytes), enforcing the W3C limits; returns
 * the length, 0 when there is nothing valid to pass on.
 */
size_t ngx_otel_tracestate_combine(ngx_str_t *lines, ngx_uint_t n,
    u_char *buf);

/* the TraceIdRatioBased decision of the OpenTelemetry SDKs */
uint64_t ngx_otel_ratio_bound(double ratio);
ngx_uint_t ngx_otel_ratio_sampled(u_char *trace_id, uint64_t bound);


#endif /* _NGX_OTEL_TRACE_H_INCLUDED_ */
