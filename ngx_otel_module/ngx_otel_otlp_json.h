
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_OTLP_JSON_H_INCLUDED_
#define _NGX_OTEL_OTLP_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"


/*
 * One ExportTraceServiceRequest in the OTLP JSON encoding (hex ids,
 * lowerCamelCase keys, 64-bit integers as strings), as the OpenTelemetry
 * Collector's file exporter writes it, without a trailing newline, built as
 * begin, span, span, ..., end.  Each *_size() is an upper bound of what
 * the matching writer emits.
 *
 * resource: ngx_keyval_t array of string attributes.  A span's "shared"
 * is as ngx_otel_span_record_read() leaves it, or has len 0.
 */
size_t ngx_otel_otlp_json_begin_size(ngx_array_t *resource);
u_char *ngx_otel_otlp_json_begin(u_char *p, ngx_array_t *resource);
size_t ngx_otel_otlp_json_span_size(ngx_otel_span_t *span);
u_char *ngx_otel_otlp_json_span(u_char *p, ngx_otel_span_t *span,
    ngx_uint_t first);
size_t ngx_otel_otlp_json_end_size(void);
u_char *ngx_otel_otlp_json_end(u_char *p);


#endif /* _NGX_OTEL_OTLP_JSON_H_INCLUDED_ */
