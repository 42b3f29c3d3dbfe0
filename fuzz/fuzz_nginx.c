
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The fuzz targets link ngx_otel_trace.c without nginx: these stand in
 * for the two nginx core symbols it refers to.
 */


#include <ngx_config.h>
#include <ngx_core.h>


ngx_pid_t  ngx_pid;


void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}
