
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_CURL_H_INCLUDED_
#define _NGX_OTEL_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <curl/curl.h>


typedef struct ngx_otel_curl_s  ngx_otel_curl_t;

/*
 * A transfer ended: the easy handle is already out of the multi handle,
 * "data" is its CURLOPT_PRIVATE.
 */
typedef void (*ngx_otel_curl_done_pt)(CURL *easy, CURLcode rc, void *data);

/*
 * nginx closes the worker's connections (worker_shutdown_timeout): every
 * transfer must be given up now.
 */
typedef void (*ngx_otel_curl_close_pt)(void *data);


/* NGX_ERROR if this libcurl cannot be driven by the event loop */
ngx_int_t ngx_otel_curl_check(ngx_log_t *log);

ngx_otel_curl_t *ngx_otel_curl_create(ngx_pool_t *pool, ngx_log_t *log,
    ngx_otel_curl_done_pt done, ngx_otel_curl_close_pt close, void *data);
ngx_int_t ngx_otel_curl_add(ngx_otel_curl_t *cm, CURL *easy);
void ngx_otel_curl_remove(ngx_otel_curl_t *cm, CURL *easy);
void ngx_otel_curl_destroy(ngx_otel_curl_t *cm);


#endif /* _NGX_OTEL_CURL_H_INCLUDED_ */
