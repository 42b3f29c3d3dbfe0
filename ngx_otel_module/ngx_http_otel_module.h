
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_HTTP_OTEL_MODULE_H_INCLUDED_
#define _NGX_HTTP_OTEL_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_otel_trace.h"
#include "ngx_otel_span.h"
#include "ngx_otel_otlp.h"
#include "ngx_otel_exporter.h"
#include "ngx_otel_version.h"


/* otel_trace_context */
#define NGX_HTTP_OTEL_CONTEXT_IGNORE   0
#define NGX_HTTP_OTEL_CONTEXT_EXTRACT  0x01
#define NGX_HTTP_OTEL_CONTEXT_INJECT   0x02
#define NGX_HTTP_OTEL_CONTEXT_PROPAGATE                                      \
    (NGX_HTTP_OTEL_CONTEXT_EXTRACT|NGX_HTTP_OTEL_CONTEXT_INJECT)

/* otel_propagators */
#define NGX_HTTP_OTEL_PROP_TRACECONTEXT  1
#define NGX_HTTP_OTEL_PROP_B3            2
#define NGX_HTTP_OTEL_PROP_B3MULTI       3
#define NGX_HTTP_OTEL_PROP_MAX           3

/* otel_sampler */
#define NGX_HTTP_OTEL_SAMPLER_ALWAYS_ON                1
#define NGX_HTTP_OTEL_SAMPLER_ALWAYS_OFF               2
#define NGX_HTTP_OTEL_SAMPLER_RATIO                    3
#define NGX_HTTP_OTEL_SAMPLER_PARENT_ALWAYS_ON         4
#define NGX_HTTP_OTEL_SAMPLER_PARENT_ALWAYS_OFF        5
#define NGX_HTTP_OTEL_SAMPLER_PARENT_RATIO             6

/* otel_trace: constant values, or evaluate the complex value */
#define NGX_HTTP_OTEL_TRACE_OFF        0
#define NGX_HTTP_OTEL_TRACE_ON         1
#define NGX_HTTP_OTEL_TRACE_VARIABLE   2


/* the most pieces of an otel_span_attr value put together directly */
#define NGX_HTTP_OTEL_VALUE_PARTS      16


/* text as it is (index -1), or a variable */
typedef struct {
    ngx_str_t                   text;
    ngx_int_t                   index;
} ngx_http_otel_value_part_t;


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  id;          /* ngx_otel_attr_id_e */
    ngx_http_complex_value_t    value;

    /* a value that is one variable and nothing else: its index, or -1 */
    ngx_int_t                   index;

    /*
     * Else text and variables (ngx_otel_value_split()): the value is put
     * together from them, without the script engine; nparts 0 if not so
     */
    ngx_http_otel_value_part_t *parts;
    ngx_uint_t                  nparts;

    /* a custom key's prepared head, if it has one (len 0 if not) */
    ngx_otel_otlp_head_t        head;
} ngx_http_otel_span_attr_t;


typedef struct {
    ngx_otel_exporter_conf_t   *exporter;

    ngx_str_t                   service_name;
    ngx_array_t                *resource_attrs;   /* ngx_keyval_t */

    /* any otel_trace or otel_trace_context that is not off/ignore */
    ngx_uint_t                  enabled;

    /* where the first "otel_trace" that needs an exporter was set */
    ngx_str_t                   trace_file;
    ngx_uint_t                  trace_line;

    /* any "otel_upstream_span on": the balancers are wrapped */
    ngx_uint_t                  upstream_span;

    /* the upstream{} blocks' own peer.init, by their srv conf */
    ngx_array_t                 upstream_inits;
} ngx_http_otel_main_conf_t;


/* the span name's method when it is unknown or was never read */
#define NGX_HTTP_OTEL_SPAN_NAME_HTTP  (NGX_OTEL_OTLP_PATCH + 1)


typedef struct ngx_http_otel_loc_conf_s  ngx_http_otel_loc_conf_t;

struct ngx_http_otel_loc_conf_s {
    ngx_uint_t                  trace;
    ngx_http_complex_value_t   *trace_value;

    ngx_uint_t                  trace_context;

    ngx_uint_t                  npropagators;
    ngx_uint_t                  propagators[NGX_HTTP_OTEL_PROP_MAX];

    ngx_uint_t                  sampler;
    uint64_t                    sampler_bound;

    ngx_http_complex_value_t   *span_name;
    ngx_array_t                *span_attrs;  /* ngx_http_otel_span_attr_t */

    /* one of span_attrs names an attribute of ours (and replaces it) */
    ngx_uint_t                  span_attrs_ours;

    /*
     * Without otel_span_name: the span names of this location, made when
     * the configuration is read, by the method's constant (NGX_OTEL_OTLP_GET
     * to _PATCH), then for NGX_HTTP_OTEL_SPAN_NAME_HTTP
     */
    ngx_str_t                  *span_names;

    ngx_flag_t                  upstream_span;

    /*
     * The server{} level conf this one is in, and, there, whether any
     * conf of that server traces or propagates: if none does, the phase
     * handlers have nothing to do for its requests.
     */
    ngx_http_otel_loc_conf_t   *server;
    ngx_uint_t                  server_enabled;
};


/* a CLIENT span: one request's (main or sub) exchange with its upstream */
typedef struct ngx_http_otel_client_s  ngx_http_otel_client_t;

struct ngx_http_otel_client_s {
    ngx_http_otel_client_t     *next;
    ngx_http_request_t         *request;

    u_char                      span_id[NGX_OTEL_SPAN_ID_LEN];

    uint64_t                    start;
    uint64_t                    end;

    ngx_array_t                 attempts;    /* ngx_http_otel_attempt_t */
    ngx_uint_t                  nattempts;   /* more than kept, perhaps */

    /* the upstream{} name, or host and port of "proxy_pass host:port" */
    ngx_str_t                   upstream;
    in_port_t                   upstream_port;

    unsigned                    exported:1;
};


typedef struct {
    u_char                      trace_id[NGX_OTEL_TRACE_ID_LEN];
    u_char                      span_id[NGX_OTEL_SPAN_ID_LEN];
    u_char                      parent_id[NGX_OTEL_SPAN_ID_LEN];

    /* W3C trace-flags this request sends on */
    u_char                      flags;

    ngx_str_t                   tracestate;

    uint64_t                    start;

    /* CLIENT spans, the main request's first, if it has one */
    ngx_http_otel_client_t     *clients;

    unsigned                    has_parent:1;
    unsigned                    parent_sampled:1;
    unsigned                    debug:1;
    unsigned                    initialized:1;
    unsigned                    decided:1;
    unsigned                    injected:1;
    unsigned                    traced:1;
    unsigned                    ended:1;

    /* decided at a location that neither extracts nor injects */
    unsigned                    no_extract:1;
} ngx_http_otel_ctx_t;


/* ngx_http_otel_handler.c */
ngx_int_t ngx_http_otel_init(ngx_conf_t *cf);
ngx_http_otel_ctx_t *ngx_http_otel_get_ctx(ngx_http_request_t *r);
ngx_http_otel_ctx_t *ngx_http_otel_find_kept_ctx(ngx_http_request_t *r);
void ngx_http_otel_decide(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx);
ngx_int_t ngx_http_otel_inject_as(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx, u_char *span_id);
ngx_uint_t ngx_http_otel_method_known(ngx_http_request_t *r);
void ngx_http_otel_push_span(ngx_http_request_t *r, ngx_otel_span_t *span);
uint64_t ngx_http_otel_now(void);

/* ngx_http_otel_conn_attrs.c */
void ngx_http_otel_conn_attrs(ngx_http_request_t *r,
    ngx_otel_otlp_writer_t *w, uint32_t skip, ngx_otel_span_shared_t *shared);

/* ngx_http_otel_upstream.c */
ngx_int_t ngx_http_otel_upstream_init(ngx_conf_t *cf);
ngx_http_otel_client_t *ngx_http_otel_client_create(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx);
ngx_http_otel_client_t *ngx_http_otel_client_find(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx);
ngx_int_t ngx_http_otel_upstream_subrequest(ngx_http_request_t *r);
void ngx_http_otel_upstream_export(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx);
u_char *ngx_http_otel_sent_span_id(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx);

/* ngx_http_otel_status.c */
char *ngx_http_otel_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_otel_variables.c */
ngx_int_t ngx_http_otel_add_variables(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_otel_module;


/*
 * The request's context, if it has one.  An internal redirect zeroes
 * r->ctx; the context lives on as the payload of its pool cleanup, where
 * ngx_http_otel_find_kept_ctx() finds it again.  Inline: each phase
 * handler asks, and most requests are neither redirected nor traced.
 */

static ngx_inline ngx_http_otel_ctx_t *
ngx_http_otel_find_ctx(ngx_http_request_t *r)
{
    ngx_http_otel_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_otel_module);

    if (ctx != NULL || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    return ngx_http_otel_find_kept_ctx(r);
}


#endif /* _NGX_HTTP_OTEL_MODULE_H_INCLUDED_ */
