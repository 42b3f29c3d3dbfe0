
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_otel_module.h"
#include "ngx_otel_shm.h"


/*
 * "otel_status;" in a location answers with the exporter's counters as
 * JSON, in the manner of stub_status: for operators and their scrapers.
 */


static ngx_int_t ngx_http_otel_status_handler(ngx_http_request_t *r);


static ngx_int_t
ngx_http_otel_status_handler(ngx_http_request_t *r)
{
    size_t                      len;
    ngx_buf_t                  *b;
    ngx_int_t                   rc;
    ngx_chain_t                 out;
    ngx_otel_counters_t         cn;
    ngx_http_otel_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_otel_module);

    if (omcf->exporter == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    ngx_otel_shm_counters(omcf->exporter->shm_zone->data, &cn);

    len = sizeof("{\"spans\":{\"queued\":,\"dropped\":,\"exported\":,"
                 "\"rejected\":,\"pending\":},"
                 "\"export_requests\":{\"sent\":,\"failed\":,\"retried\":},"
                 "\"zone\":{\"size\":,\"used\":}}\n")
          + 10 * NGX_INT64_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last,
                          "{\"spans\":{\"queued\":%uL,\"dropped\":%uL,"
                          "\"exported\":%uL,\"rejected\":%uL,"
                          "\"pending\":%uL},",
                          cn.queued, cn.dropped, cn.exported, cn.rejected,
                          cn.pending);

    b->last = ngx_sprintf(b->last,
                          "\"export_requests\":{\"sent\":%uL,\"failed\":%uL,"
                          "\"retried\":%uL},",
                          cn.requests, cn.failed, cn.retried);

    b->last = ngx_sprintf(b->last, "\"zone\":{\"size\":%uL,\"used\":%uL}}\n",
                          cn.zone_size, cn.zone_used);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


char *
ngx_http_otel_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_otel_status_handler;

    return NGX_CONF_OK;
}
