
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_EXPORTER_H_INCLUDED_
#define _NGX_OTEL_EXPORTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_OTEL_PROTOCOL_GRPC           0
#define NGX_OTEL_PROTOCOL_HTTP_PROTOBUF  1
#define NGX_OTEL_PROTOCOL_HTTP_JSON      2

#define NGX_OTEL_COMPRESSION_NONE        0
#define NGX_OTEL_COMPRESSION_GZIP        1


typedef struct ngx_otel_zone_ctx_s  ngx_otel_zone_ctx_t;
typedef struct ngx_otel_exporter_s  ngx_otel_exporter_t;
typedef struct ngx_otel_stage_s     ngx_otel_stage_t;


typedef struct {
    ngx_str_t                   endpoint;      /* as configured */

    /* "file:" endpoints write OTLP JSON lines here */
    ngx_open_file_t            *file;

    /* network endpoints: full request URL, null-terminated */
    ngx_str_t                   url;
    ngx_uint_t                  tls;

    ngx_uint_t                  protocol;
    ngx_msec_t                  interval;
    ngx_uint_t                  batch_size;
    ngx_uint_t                  batch_count;
    size_t                      zone_size;
    ngx_msec_t                  timeout;
    ngx_uint_t                  compression;
    ngx_array_t                *headers;       /* ngx_keyval_t */
    ngx_str_t                   trusted_certificate;

    /* service.name, otel_resource_attr, telemetry.sdk.*: ngx_keyval_t */
    ngx_array_t                *resource;

    ngx_shm_zone_t             *shm_zone;

    /* this worker's exporter and stage (ngx_otel_stage.h): init_process */
    ngx_otel_exporter_t        *worker;
    ngx_otel_stage_t           *stage;
} ngx_otel_exporter_conf_t;


ngx_int_t ngx_otel_exporter_init_process(ngx_cycle_t *cycle,
    ngx_otel_exporter_conf_t *ecf);
void ngx_otel_exporter_exit_process(ngx_otel_exporter_conf_t *ecf);

/* called after a span is queued: start an export early when a batch is full */
void ngx_otel_exporter_notify(ngx_otel_exporter_conf_t *ecf);


#endif /* _NGX_OTEL_EXPORTER_H_INCLUDED_ */
