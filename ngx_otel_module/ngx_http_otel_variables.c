
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_otel_module.h"


/* what each variable shows of the request's context */
enum {
    NGX_HTTP_OTEL_VAR_TRACE_ID = 0,
    NGX_HTTP_OTEL_VAR_SPAN_ID,
    NGX_HTTP_OTEL_VAR_PARENT_ID,
    NGX_HTTP_OTEL_VAR_PARENT_SAMPLED,
    NGX_HTTP_OTEL_VAR_TRACEPARENT,
    NGX_HTTP_OTEL_VAR_B3
};


static ngx_int_t ngx_http_otel_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_otel_vars[] = {

    { ngx_string("otel_trace_id"), NULL, ngx_http_otel_variable,
      NGX_HTTP_OTEL_VAR_TRACE_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("otel_span_id"), NULL, ngx_http_otel_variable,
      NGX_HTTP_OTEL_VAR_SPAN_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("otel_parent_id"), NULL, ngx_http_otel_variable,
      NGX_HTTP_OTEL_VAR_PARENT_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("otel_parent_sampled"), NULL, ngx_http_otel_variable,
      NGX_HTTP_OTEL_VAR_PARENT_SAMPLED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("otel_traceparent"), NULL, ngx_http_otel_variable,
      NGX_HTTP_OTEL_VAR_TRACEPARENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("otel_b3"), NULL, ngx_http_otel_variable,
      NGX_HTTP_OTEL_VAR_B3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_otel_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char               *p;
    size_t                len;
    ngx_http_otel_ctx_t  *ctx;

    ctx = ngx_http_otel_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* the sampled flag is part of the headers: decide before showing it */

    if ((data == NGX_HTTP_OTEL_VAR_TRACEPARENT || data == NGX_HTTP_OTEL_VAR_B3)
        && !ctx->decided)
    {
        ngx_http_otel_decide(r, ctx);
    }

    switch (data) {

    case NGX_HTTP_OTEL_VAR_TRACE_ID:
        len = 2 * NGX_OTEL_TRACE_ID_LEN;
        break;

    case NGX_HTTP_OTEL_VAR_SPAN_ID:
        len = 2 * NGX_OTEL_SPAN_ID_LEN;
        break;

    case NGX_HTTP_OTEL_VAR_PARENT_ID:
        len = ctx->has_parent ? 2 * NGX_OTEL_SPAN_ID_LEN : 0;
        break;

    case NGX_HTTP_OTEL_VAR_PARENT_SAMPLED:
        len = 1;
        break;

    case NGX_HTTP_OTEL_VAR_TRACEPARENT:
        len = NGX_OTEL_TRACEPARENT_LEN;
        break;

    default: /* NGX_HTTP_OTEL_VAR_B3 */
        len = NGX_OTEL_B3_LEN;
        break;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    switch (data) {

    case NGX_HTTP_OTEL_VAR_TRACE_ID:
        ngx_hex_dump(p, ctx->trace_id, NGX_OTEL_TRACE_ID_LEN);
        break;

    case NGX_HTTP_OTEL_VAR_SPAN_ID:
        ngx_hex_dump(p, ctx->span_id, NGX_OTEL_SPAN_ID_LEN);
        break;

    case NGX_HTTP_OTEL_VAR_PARENT_ID:
        ngx_hex_dump(p, ctx->parent_id, len / 2);
        break;

    case NGX_HTTP_OTEL_VAR_PARENT_SAMPLED:
        *p = ctx->parent_sampled ? '1' : '0';
        break;

    case NGX_HTTP_OTEL_VAR_TRACEPARENT:
        ngx_otel_traceparent_format(p, ctx->trace_id,
                                    ngx_http_otel_sent_span_id(r, ctx),
                                    ctx->flags);
        break;

    default: /* NGX_HTTP_OTEL_VAR_B3 */
        ngx_otel_b3_format(p, ctx->trace_id,
                           ngx_http_otel_sent_span_id(r, ctx),
                           ctx->flags & NGX_OTEL_FLAG_SAMPLED, ctx->debug);
        break;
    }

    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_otel_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_otel_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
