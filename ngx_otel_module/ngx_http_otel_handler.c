
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_otel_module.h"
#include "ngx_otel_shm.h"
#include "ngx_otel_stage.h"
#include "ngx_otel_otlp.h"


/* the request headers propagation reads and writes */
enum {
    NGX_HTTP_OTEL_H_TRACEPARENT = 0,
    NGX_HTTP_OTEL_H_TRACESTATE,
    NGX_HTTP_OTEL_H_B3,
    NGX_HTTP_OTEL_H_B3_TRACEID,
    NGX_HTTP_OTEL_H_B3_SPANID,
    NGX_HTTP_OTEL_H_B3_SAMPLED,
    NGX_HTTP_OTEL_H_B3_FLAGS,
    NGX_HTTP_OTEL_H_B3_PARENTSPANID,
    NGX_HTTP_OTEL_H_MAX
};

/*
 * A tracestate line with anything but OWS and "," in it has a member or is
 * invalid: more such lines than members allowed make an invalid tracestate
 */
#define NGX_HTTP_OTEL_TRACESTATE_LINES  NGX_OTEL_TRACESTATE_MAX_MEMBERS

/*
 * Nothing in this request's server traces or propagates: its requests are
 * left alone (a variable still makes a context of its own when asked)
 */
#define ngx_http_otel_server_off(olcf)                                        \
    ((olcf)->server != NULL && !(olcf)->server->server_enabled)

/*
 * A span's attributes in record form, if they fit: they mostly take a few
 * hundred bytes, and the encoder checks each one only in the last 4k
 */

/* the methods of ngx_http_otel_methods[] as nginx's parsers mark them */
#define NGX_HTTP_OTEL_KNOWN_METHODS                                           \
    (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_DELETE   \
     |NGX_HTTP_CONNECT|NGX_HTTP_OPTIONS|NGX_HTTP_TRACE|NGX_HTTP_PATCH)


typedef struct {
    ngx_table_elt_t            *first[NGX_HTTP_OTEL_H_MAX];
    ngx_uint_t                  count[NGX_HTTP_OTEL_H_MAX];
    ngx_uint_t                  found;       /* all of them */
    ngx_uint_t                  ntracestate;
    ngx_uint_t                  tracestate_over;

    /* last: ngx_http_otel_scan_headers() zeroes what comes before it */
    ngx_str_t                   tracestate[NGX_HTTP_OTEL_TRACESTATE_LINES];
} ngx_http_otel_headers_t;


static ngx_int_t ngx_http_otel_start_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_otel_rewrite_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_otel_log_handler(ngx_http_request_t *r);
static ngx_http_otel_ctx_t *ngx_http_otel_create_ctx(ngx_http_request_t *r);
static ngx_uint_t ngx_http_otel_init_ctx(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx, ngx_http_otel_headers_t *hs);
static void ngx_http_otel_cleanup(void *data);
static void ngx_http_otel_scan_headers(ngx_http_request_t *r,
    ngx_http_otel_headers_t *hs);
static void ngx_http_otel_extract(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx, ngx_http_otel_loc_conf_t *olcf,
    ngx_http_otel_headers_t *hs);
static ngx_uint_t ngx_http_otel_sample(ngx_http_otel_ctx_t *ctx,
    ngx_http_otel_loc_conf_t *olcf);
static ngx_int_t ngx_http_otel_inject(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx, ngx_http_otel_loc_conf_t *olcf,
    ngx_http_otel_headers_t *hs, u_char *span_id);
static ngx_uint_t ngx_http_otel_prop_listed(ngx_http_otel_loc_conf_t *olcf,
    ngx_uint_t prop);
static ngx_int_t ngx_http_otel_set_header(ngx_http_request_t *r,
    ngx_http_otel_headers_t *hs, ngx_uint_t id, u_char *value, size_t len);
static ngx_int_t ngx_http_otel_remove_headers(ngx_http_request_t *r,
    ngx_http_otel_headers_t *hs, ngx_uint_t *remove);
static void ngx_http_otel_end_span(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx);
static void ngx_http_otel_span_attrs(ngx_http_request_t *r,
    ngx_otel_otlp_writer_t *w, ngx_uint_t status, ngx_uint_t standard,
    ngx_int_t method, ngx_otel_span_shared_t *shared);
static ngx_inline void ngx_http_otel_span_attr_value(ngx_http_request_t *r,
    ngx_http_otel_span_attr_t *sa, u_char **joined, ngx_str_t *value);
static void ngx_http_otel_span_attr_text(ngx_http_request_t *r,
    ngx_http_otel_span_attr_t *sa, u_char **joined, ngx_str_t *value);
static void ngx_http_otel_span_name(ngx_http_request_t *r,
    ngx_http_otel_loc_conf_t *olcf, ngx_uint_t known, ngx_int_t method,
    ngx_str_t *name);
static ngx_int_t ngx_http_otel_value_join(ngx_http_request_t *r,
    ngx_http_otel_span_attr_t *sa, u_char **pos, ngx_str_t *value);
static ngx_int_t ngx_http_otel_method_const(ngx_uint_t method);
static ngx_int_t ngx_http_otel_status_const(ngx_uint_t status);


static ngx_str_t  ngx_http_otel_header_names[] = {
    ngx_string("traceparent"),
    ngx_string("tracestate"),
    ngx_string("b3"),
    ngx_string("X-B3-TraceId"),
    ngx_string("X-B3-SpanId"),
    ngx_string("X-B3-Sampled"),
    ngx_string("X-B3-Flags"),
    ngx_string("X-B3-ParentSpanId")
};


/* the same in lowercase, and their hashes, as a header added needs them */

static u_char  *ngx_http_otel_header_lowcase[] = {
    (u_char *) "traceparent",
    (u_char *) "tracestate",
    (u_char *) "b3",
    (u_char *) "x-b3-traceid",
    (u_char *) "x-b3-spanid",
    (u_char *) "x-b3-sampled",
    (u_char *) "x-b3-flags",
    (u_char *) "x-b3-parentspanid"
};

static ngx_uint_t  ngx_http_otel_header_hash[NGX_HTTP_OTEL_H_MAX];

/*
 * A span's attributes as the exporter sends them, made before the zone's
 * lock is taken: room for the most a span may have, outside the stack;
 * a worker only ever ends one span at a time.
 */
static u_char  ngx_http_otel_attrs_buf[
                   ngx_otel_otlp_attrs_max(NGX_OTEL_SPAN_MAX_ATTRS)];


/*
 * The values of otel_span_attr put together from their parts, each at
 * most what a record keeps of a value; outside the stack, as above
 */
static u_char  ngx_http_otel_values_buf[
                   NGX_OTEL_SPAN_MAX_ATTRS * NGX_OTEL_ATTR_VALUE_MAX_LEN];


/* methods of the HTTP semantic conventions; others become "_OTHER" */
static ngx_str_t  ngx_http_otel_methods[] = {
    ngx_string("GET"),
    ngx_string("HEAD"),
    ngx_string("POST"),
    ngx_string("PUT"),
    ngx_string("DELETE"),
    ngx_string("CONNECT"),
    ngx_string("OPTIONS"),
    ngx_string("TRACE"),
    ngx_string("PATCH"),
    ngx_null_string
};


ngx_int_t
ngx_http_otel_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_otel_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_otel_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    for (i = 0; i < NGX_HTTP_OTEL_H_MAX; i++) {
        ngx_http_otel_header_hash[i] =
                         ngx_hash_key(ngx_http_otel_header_lowcase[i],
                                      ngx_http_otel_header_names[i].len);
    }

    /* the attribute heads, made once here, are the workers' by fork() */

    ngx_otel_otlp_heads_init();

    /* the variables work without phase handlers, from a lazy context */

    if (!omcf->enabled) {
        return NGX_OK;
    }

    if (omcf->upstream_span && ngx_http_otel_upstream_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_otel_start_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_otel_rewrite_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_otel_log_handler;

    return NGX_OK;
}


/* the span starts when the request enters the phases */

static ngx_int_t
ngx_http_otel_start_handler(ngx_http_request_t *r)
{
    ngx_http_otel_loc_conf_t  *olcf;

    if (r != r->main || r->internal) {
        return NGX_DECLINED;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    if (ngx_http_otel_server_off(olcf)) {
        return NGX_DECLINED;
    }

    if (ngx_http_otel_find_ctx(r) == NULL
        && ngx_http_otel_create_ctx(r) == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


/* the location is known: decide, then inject what the upstream gets */

static ngx_int_t
ngx_http_otel_rewrite_handler(ngx_http_request_t *r)
{
    u_char                    *span_id;
    ngx_http_otel_ctx_t       *ctx;
    ngx_http_otel_client_t    *client;
    ngx_http_otel_headers_t    hs, *scanned;
    ngx_http_otel_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    if (r != r->main) {

        /* a subrequest's upstream gets a CLIENT span of its own */

        if (olcf->upstream_span) {
            return ngx_http_otel_upstream_subrequest(r);
        }

        return NGX_DECLINED;
    }

    ctx = ngx_http_otel_find_ctx(r);

    if (ctx == NULL) {

        /* the start handler made none: most likely nothing to do here */

        if (ngx_http_otel_server_off(olcf)) {
            return NGX_DECLINED;
        }

        ctx = ngx_http_otel_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    /* after an internal redirect both are kept: one trace, one decision */

    if (ctx->injected) {
        return NGX_DECLINED;
    }

    ctx->injected = 1;

    scanned = NULL;

    if (!ctx->initialized) {

        /*
         * Not traced, nothing to extract or inject: the identifiers are
         * only made if a variable asks for them, and then as they would
         * have been made here, without extracting.
         */

        if (olcf->trace == NGX_HTTP_OTEL_TRACE_OFF
            && !(olcf->trace_context & NGX_HTTP_OTEL_CONTEXT_PROPAGATE))
        {
            ctx->no_extract = 1;

            if (!ctx->decided) {
                /* ngx_http_otel_decide() of a request not traced */
                ctx->decided = 1;
                ctx->flags &= ~NGX_OTEL_FLAG_SAMPLED;
                ctx->debug = 0;
            }

            return NGX_DECLINED;
        }

        /* the headers read for extraction serve injection as well */

        if (ngx_http_otel_init_ctx(r, ctx, &hs)) {
            scanned = &hs;
        }
    }

    if (!ctx->decided) {
        ngx_http_otel_decide(r, ctx);
    }

    span_id = ctx->span_id;

    /* the upstream's span is then the CLIENT span's child */

    if (olcf->upstream_span
        && ctx->traced
        && (ctx->flags & NGX_OTEL_FLAG_SAMPLED))
    {
        client = ngx_http_otel_client_create(r, ctx);
        if (client == NULL) {
            return NGX_ERROR;
        }

        span_id = client->span_id;
    }

    if ((olcf->trace_context & NGX_HTTP_OTEL_CONTEXT_INJECT)
        && ngx_http_otel_inject(r, ctx, olcf, scanned, span_id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_otel_log_handler(ngx_http_request_t *r)
{
    ngx_http_otel_ctx_t        *ctx;
    ngx_http_otel_loc_conf_t   *olcf;
    ngx_http_otel_main_conf_t  *omcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_otel_find_ctx(r);

    if (ctx == NULL) {
        olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

        if (ngx_http_otel_server_off(olcf)) {
            return NGX_DECLINED;
        }
    }

    /*
     * Requests rejected before the phases (400, 414), or finalized before
     * their location's rewrite phase, are decided here.  A decided request
     * that is traced has its identifiers already.
     */

    if (ctx == NULL || !ctx->decided) {
        ctx = ngx_http_otel_get_ctx(r);
        if (ctx == NULL) {
            return NGX_DECLINED;
        }

        if (!ctx->decided) {
            ngx_http_otel_decide(r, ctx);
        }
    }

    if (ctx->ended || !ctx->traced
        || !(ctx->flags & NGX_OTEL_FLAG_SAMPLED))
    {
        return NGX_DECLINED;
    }

    ctx->ended = 1;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_otel_module);

    if (omcf->exporter == NULL) {
        return NGX_DECLINED;
    }

    if (ctx->clients) {
        ngx_http_otel_upstream_export(r, ctx);
    }

    ngx_http_otel_end_span(r, ctx);

    return NGX_DECLINED;
}


ngx_http_otel_ctx_t *
ngx_http_otel_get_ctx(ngx_http_request_t *r)
{
    ngx_http_otel_ctx_t      *ctx;
    ngx_http_otel_headers_t   hs;

    r = r->main;

    ctx = ngx_http_otel_find_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_otel_create_ctx(r);
        if (ctx == NULL) {
            return NULL;
        }
    }

    if (!ctx->initialized) {
        (void) ngx_http_otel_init_ctx(r, ctx, &hs);
    }

    return ctx;
}


/* after an internal redirect: the context kept in the pool's cleanups */

ngx_http_otel_ctx_t *
ngx_http_otel_find_kept_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_otel_ctx_t  *ctx;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_otel_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_otel_module);
            return ctx;
        }
    }

    return NULL;
}


static ngx_http_otel_ctx_t *
ngx_http_otel_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_otel_ctx_t  *ctx;

    /* what ngx_pool_cleanup_add() does, in one allocation */

    cln = ngx_palloc(r->pool,
                     sizeof(ngx_pool_cleanup_t) + sizeof(ngx_http_otel_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = (ngx_http_otel_ctx_t *) &cln[1];
    ngx_memzero(ctx, sizeof(ngx_http_otel_ctx_t));

    cln->handler = ngx_http_otel_cleanup;
    cln->data = ctx;
    cln->next = r->pool->cleanup;
    r->pool->cleanup = cln;

    ngx_http_set_ctx(r, ctx, ngx_http_otel_module);

    ctx->start = ngx_http_otel_now();

    return ctx;
}


/*
 * The identifiers, from the incoming headers or new, once the location
 * (and so its otel_trace_context) is known, or when a variable needs them.
 */

static ngx_uint_t
ngx_http_otel_init_ctx(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx,
    ngx_http_otel_headers_t *hs)
{
    ngx_uint_t                 scanned;
    ngx_http_otel_loc_conf_t  *olcf;

    ctx->initialized = 1;
    scanned = 0;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    /* HTTP/0.9 requests have no header list at all */

    if ((olcf->trace_context & NGX_HTTP_OTEL_CONTEXT_EXTRACT)
        && !ctx->no_extract
        && r->headers_in.headers.pool != NULL)
    {
        ngx_http_otel_scan_headers(r, hs);
        ngx_http_otel_extract(r, ctx, olcf, hs);
        scanned = 1;
    }

    if (!ctx->has_parent) {
        ngx_otel_trace_id_generate(ctx->trace_id);
        ctx->flags = NGX_OTEL_FLAG_RANDOM;
    }

    ngx_otel_span_id_generate(ctx->span_id);

    return scanned;
}


static void
ngx_http_otel_cleanup(void *data)
{
    /* only a marker: the context is in the pool, which goes on its own */
}


static void
ngx_http_otel_scan_headers(ngx_http_request_t *r, ngx_http_otel_headers_t *hs)
{
    u_char           *p, *last;
    ngx_uint_t        i, id;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /* tracestate[] is filled as far as ntracestate says */

    ngx_memzero(hs, offsetof(ngx_http_otel_headers_t, tracestate));

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        /* cheap rejection first: all our names start with "t", "b" or "x" */

        switch (h[i].lowcase_key[0]) {
        case 't':
        case 'b':
        case 'x':
            break;
        default:
            continue;
        }

        for (id = 0; id < NGX_HTTP_OTEL_H_MAX; id++) {
            if (h[i].key.len == ngx_http_otel_header_names[id].len
                && ngx_strncasecmp(h[i].lowcase_key,
                                   ngx_http_otel_header_names[id].data,
                                   h[i].key.len) == 0)
            {
                break;
            }
        }

        if (id == NGX_HTTP_OTEL_H_MAX) {
            continue;
        }

        hs->found++;

        if (hs->count[id]++ == 0) {
            hs->first[id] = &h[i];
        }

        if (id != NGX_HTTP_OTEL_H_TRACESTATE) {
            continue;
        }

        /* lines without members ("", ",", OWS) add nothing */

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == last) {
            continue;
        }

        if (hs->ntracestate < NGX_HTTP_OTEL_TRACESTATE_LINES) {
            hs->tracestate[hs->ntracestate++] = h[i].value;

        } else {
            hs->tracestate_over = 1;
        }
    }
}


static void
ngx_http_otel_extract(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx,
    ngx_http_otel_loc_conf_t *olcf, ngx_http_otel_headers_t *hs)
{
    size_t               len;
    u_char              *buf;
    ngx_int_t            rc;
    ngx_str_t           *sampled, *flags;
    ngx_uint_t           i;
    ngx_otel_context_t   parent;

    for (i = 0; i < olcf->npropagators; i++) {

        rc = NGX_DECLINED;

        switch (olcf->propagators[i]) {

        case NGX_HTTP_OTEL_PROP_TRACECONTEXT:

            /* two traceparent lines are no valid traceparent */

            if (hs->count[NGX_HTTP_OTEL_H_TRACEPARENT] == 1) {
                rc = ngx_otel_traceparent_parse(
                         hs->first[NGX_HTTP_OTEL_H_TRACEPARENT]->value.data,
                         hs->first[NGX_HTTP_OTEL_H_TRACEPARENT]->value.len,
                         &parent);
            }

            break;

        default: /* NGX_HTTP_OTEL_PROP_B3, NGX_HTTP_OTEL_PROP_B3MULTI */

            /*
             * As in the OpenTelemetry SDKs, both B3 propagators read both
             * forms and differ only in what they send; the single header
             * wins when both forms are present.
             */

            if (hs->count[NGX_HTTP_OTEL_H_B3] == 1
                && ngx_otel_b3_parse(hs->first[NGX_HTTP_OTEL_H_B3]->value.data,
                                     hs->first[NGX_HTTP_OTEL_H_B3]->value.len,
                                     &parent)
                   == NGX_OK)
            {
                rc = NGX_OK;
                break;
            }

            if (hs->first[NGX_HTTP_OTEL_H_B3_TRACEID] == NULL
                || hs->first[NGX_HTTP_OTEL_H_B3_SPANID] == NULL)
            {
                break;
            }

            sampled = hs->first[NGX_HTTP_OTEL_H_B3_SAMPLED]
                      ? &hs->first[NGX_HTTP_OTEL_H_B3_SAMPLED]->value : NULL;
            flags = hs->first[NGX_HTTP_OTEL_H_B3_FLAGS]
                    ? &hs->first[NGX_HTTP_OTEL_H_B3_FLAGS]->value : NULL;

            rc = ngx_otel_b3multi_parse(
                     &hs->first[NGX_HTTP_OTEL_H_B3_TRACEID]->value,
                     &hs->first[NGX_HTTP_OTEL_H_B3_SPANID]->value,
                     sampled, flags, &parent);
            break;
        }

        if (rc == NGX_OK) {
            break;
        }
    }

    if (i == olcf->npropagators) {
        return;
    }

    ctx->has_parent = 1;
    ctx->parent_sampled = (parent.flags & NGX_OTEL_FLAG_SAMPLED) ? 1 : 0;
    ctx->debug = parent.debug;
    ctx->flags = parent.flags & NGX_OTEL_FLAG_RANDOM;

    ngx_memcpy(ctx->trace_id, parent.trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memcpy(ctx->parent_id, parent.span_id, NGX_OTEL_SPAN_ID_LEN);

    /* more than 32 lines with members: more than 32 members, invalid */

    if (olcf->propagators[i] != NGX_HTTP_OTEL_PROP_TRACECONTEXT
        || hs->ntracestate == 0
        || hs->tracestate_over)
    {
        return;
    }

    buf = ngx_pnalloc(r->pool, NGX_OTEL_TRACESTATE_MAX_LEN);
    if (buf == NULL) {
        return;
    }

    len = ngx_otel_tracestate_combine(hs->tracestate, hs->ntracestate, buf);

    ctx->tracestate.data = buf;
    ctx->tracestate.len = len;
}


/*
 * The sampling decision, once per request.  "decided" is set first: the
 * "otel_trace" variable may itself read $otel_trace_id (split_clients).
 */

void
ngx_http_otel_decide(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx)
{
    ngx_str_t                  value;
    ngx_http_otel_loc_conf_t  *olcf;

    ctx->decided = 1;

    olcf = ngx_http_get_module_loc_conf(r->main, ngx_http_otel_module);

    switch (olcf->trace) {

    case NGX_HTTP_OTEL_TRACE_ON:
        ctx->traced = 1;
        break;

    case NGX_HTTP_OTEL_TRACE_VARIABLE:

        if (ngx_http_complex_value(r->main, olcf->trace_value, &value)
            != NGX_OK)
        {
            break;
        }

        ctx->traced = (value.len == 2 && ngx_strncmp(value.data, "on", 2) == 0)
                      || (value.len == 1 && value.data[0] == '1');
        break;

    default: /* NGX_HTTP_OTEL_TRACE_OFF */
        break;
    }

    if (ctx->traced && ngx_http_otel_sample(ctx, olcf)) {
        ctx->flags |= NGX_OTEL_FLAG_SAMPLED;

    } else {
        ctx->flags &= ~NGX_OTEL_FLAG_SAMPLED;
        ctx->debug = 0;
    }
}


static ngx_uint_t
ngx_http_otel_sample(ngx_http_otel_ctx_t *ctx, ngx_http_otel_loc_conf_t *olcf)
{
    /* B3 debug marks the parent sampled; the sampler still decides */

    switch (olcf->sampler) {

    case NGX_HTTP_OTEL_SAMPLER_ALWAYS_OFF:
        return 0;

    case NGX_HTTP_OTEL_SAMPLER_RATIO:
        return ngx_otel_ratio_sampled(ctx->trace_id, olcf->sampler_bound);

    case NGX_HTTP_OTEL_SAMPLER_PARENT_ALWAYS_ON:
        return ctx->has_parent ? ctx->parent_sampled : 1;

    case NGX_HTTP_OTEL_SAMPLER_PARENT_ALWAYS_OFF:
        return ctx->has_parent ? ctx->parent_sampled : 0;

    case NGX_HTTP_OTEL_SAMPLER_PARENT_RATIO:
        if (ctx->has_parent) {
            return ctx->parent_sampled;
        }

        return ngx_otel_ratio_sampled(ctx->trace_id, olcf->sampler_bound);

    default: /* NGX_HTTP_OTEL_SAMPLER_ALWAYS_ON */
        return 1;
    }
}


/*
 * The upstream request is built from r->headers_in by every upstream
 * module, and subrequests copy it: so the context goes there, replacing
 * what the client sent in the same formats.
 */

ngx_int_t
ngx_http_otel_inject_as(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx,
    u_char *span_id)
{
    ngx_http_otel_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    return ngx_http_otel_inject(r, ctx, olcf, NULL, span_id);
}


static ngx_int_t
ngx_http_otel_inject(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx,
    ngx_http_otel_loc_conf_t *olcf, ngx_http_otel_headers_t *hs,
    u_char *span_id)
{
    u_char                   *p;
    ngx_uint_t                i, b3, sampled;
    ngx_uint_t                remove[NGX_HTTP_OTEL_H_MAX];
    ngx_http_otel_headers_t   scan;

    if (hs == NULL) {
        if (r->headers_in.headers.pool == NULL) {
            if (ngx_list_init(&r->headers_in.headers, r->pool, 4,
                              sizeof(ngx_table_elt_t))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        hs = &scan;
        ngx_http_otel_scan_headers(r, hs);
    }

    /* nothing to remove unless the client sent headers of ours */

    if (hs->found) {

        for (i = 0; i < NGX_HTTP_OTEL_H_MAX; i++) {
            remove[i] = hs->count[i] > 1;
        }

        for (i = 0; i < olcf->npropagators; i++) {
            if (olcf->propagators[i] == NGX_HTTP_OTEL_PROP_TRACECONTEXT) {
                remove[NGX_HTTP_OTEL_H_TRACESTATE] |= (ctx->tracestate.len == 0
                                     && hs->count[NGX_HTTP_OTEL_H_TRACESTATE]);

            } else if (olcf->propagators[i] == NGX_HTTP_OTEL_PROP_B3MULTI) {
                remove[NGX_HTTP_OTEL_H_B3_PARENTSPANID] =
                               hs->count[NGX_HTTP_OTEL_H_B3_PARENTSPANID] != 0;
                remove[NGX_HTTP_OTEL_H_B3_SAMPLED] |= ctx->debug
                                   && hs->count[NGX_HTTP_OTEL_H_B3_SAMPLED];
                remove[NGX_HTTP_OTEL_H_B3_FLAGS] |= !ctx->debug
                                   && hs->count[NGX_HTTP_OTEL_H_B3_FLAGS];
            }
        }

        /*
         * Only headers of the formats we inject are touched; B3 is one
         * format in two forms, and the form we do not send would
         * contradict the one we send, so it goes too.
         */

        b3 = ngx_http_otel_prop_listed(olcf, NGX_HTTP_OTEL_PROP_B3)
             || ngx_http_otel_prop_listed(olcf, NGX_HTTP_OTEL_PROP_B3MULTI);

        for (i = 0; i < NGX_HTTP_OTEL_H_MAX; i++) {

            if (i <= NGX_HTTP_OTEL_H_TRACESTATE) {
                remove[i] = remove[i]
                            && ngx_http_otel_prop_listed(olcf,
                                              NGX_HTTP_OTEL_PROP_TRACECONTEXT);

            } else if (i == NGX_HTTP_OTEL_H_B3) {
                remove[i] = b3 && hs->count[i]
                            && (remove[i]
                                || !ngx_http_otel_prop_listed(olcf,
                                                    NGX_HTTP_OTEL_PROP_B3));

            } else {
                remove[i] = b3 && hs->count[i]
                            && (remove[i]
                                || !ngx_http_otel_prop_listed(olcf,
                                               NGX_HTTP_OTEL_PROP_B3MULTI));
            }
        }

        if (ngx_http_otel_remove_headers(r, hs, remove) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    sampled = (ctx->flags & NGX_OTEL_FLAG_SAMPLED) ? 1 : 0;

    for (i = 0; i < olcf->npropagators; i++) {

        switch (olcf->propagators[i]) {

        case NGX_HTTP_OTEL_PROP_TRACECONTEXT:

            p = ngx_pnalloc(r->pool, NGX_OTEL_TRACEPARENT_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_otel_traceparent_format(p, ctx->trace_id, span_id,
                                        ctx->flags);

            if (ngx_http_otel_set_header(r, hs, NGX_HTTP_OTEL_H_TRACEPARENT,
                                         p, NGX_OTEL_TRACEPARENT_LEN)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (ctx->tracestate.len
                && ngx_http_otel_set_header(r, hs,
                                            NGX_HTTP_OTEL_H_TRACESTATE,
                                            ctx->tracestate.data,
                                            ctx->tracestate.len)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case NGX_HTTP_OTEL_PROP_B3:

            p = ngx_pnalloc(r->pool, NGX_OTEL_B3_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_otel_b3_format(p, ctx->trace_id, span_id, sampled,
                               ctx->debug);

            if (ngx_http_otel_set_header(r, hs, NGX_HTTP_OTEL_H_B3,
                                         p, NGX_OTEL_B3_LEN)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        default: /* NGX_HTTP_OTEL_PROP_B3MULTI */

            p = ngx_pnalloc(r->pool, 2 * NGX_OTEL_TRACE_ID_LEN
                                     + 2 * NGX_OTEL_SPAN_ID_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_hex_dump(p, ctx->trace_id, NGX_OTEL_TRACE_ID_LEN);
            ngx_hex_dump(p + 2 * NGX_OTEL_TRACE_ID_LEN, span_id,
                         NGX_OTEL_SPAN_ID_LEN);

            if (ngx_http_otel_set_header(r, hs, NGX_HTTP_OTEL_H_B3_TRACEID,
                                         p, 2 * NGX_OTEL_TRACE_ID_LEN)
                != NGX_OK
                || ngx_http_otel_set_header(r, hs,
                                            NGX_HTTP_OTEL_H_B3_SPANID,
                                            p + 2 * NGX_OTEL_TRACE_ID_LEN,
                                            2 * NGX_OTEL_SPAN_ID_LEN)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (ctx->debug) {
                if (ngx_http_otel_set_header(r, hs,
                                             NGX_HTTP_OTEL_H_B3_FLAGS,
                                             (u_char *) "1", 1)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

            } else if (ngx_http_otel_set_header(r, hs,
                                                NGX_HTTP_OTEL_H_B3_SAMPLED,
                                                (u_char *) (sampled ? "1"
                                                                    : "0"),
                                                1)
                       != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_otel_prop_listed(ngx_http_otel_loc_conf_t *olcf, ngx_uint_t prop)
{
    ngx_uint_t  i;

    for (i = 0; i < olcf->npropagators; i++) {
        if (olcf->propagators[i] == prop) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_otel_set_header(ngx_http_request_t *r, ngx_http_otel_headers_t *hs,
    ngx_uint_t id, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = hs->first[id];

    if (h == NULL) {
        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        /* nobody writes to lowcase_key: the static name serves */

        h->key = ngx_http_otel_header_names[id];
        h->lowcase_key = ngx_http_otel_header_lowcase[id];
        h->hash = ngx_http_otel_header_hash[id];

#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        hs->first[id] = h;
        hs->count[id] = 1;
    }

    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/*
 * ngx_list_t cannot drop an element, and a blank one would still be sent
 * upstream: so, rarely (duplicates, or headers the format forbids), the
 * list is rebuilt without them.  Pointers nginx keeps to known headers
 * (Host, User-Agent, ...) still point to valid elements of the old list.
 */

static ngx_int_t
ngx_http_otel_remove_headers(ngx_http_request_t *r,
    ngx_http_otel_headers_t *hs, ngx_uint_t *remove)
{
    ngx_uint_t        i, id, any;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    any = 0;

    for (id = 0; id < NGX_HTTP_OTEL_H_MAX; id++) {
        any |= remove[id];
    }

    if (!any) {
        return NGX_OK;
    }

    /* the old parts stay in the pool: known headers still point there */

    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, old.nalloc,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &old.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (id = 0; id < NGX_HTTP_OTEL_H_MAX; id++) {
            if (remove[id]
                && h[i].key.len == ngx_http_otel_header_names[id].len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_http_otel_header_names[id].data,
                                   h[i].key.len) == 0)
            {
                break;
            }
        }

        if (id < NGX_HTTP_OTEL_H_MAX) {
            continue;
        }

        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    /* the rebuilt list holds copies: find what is left there again */

    ngx_http_otel_scan_headers(r, hs);

    return NGX_OK;
}


static void
ngx_http_otel_end_span(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx)
{
    ngx_int_t                   method;
    ngx_uint_t                  status, known;
    ngx_otel_span_t             span;
    ngx_otel_attr_t             encoded;
    ngx_otel_otlp_writer_t      w;
    ngx_http_otel_loc_conf_t   *olcf;
    ngx_http_otel_main_conf_t  *omcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    /* 444, 499, a timed out body: the request ends without a response */

    status = r->header_sent ? r->headers_out.status : 0;

    ngx_memcpy(span.trace_id, ctx->trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memcpy(span.span_id, ctx->span_id, NGX_OTEL_SPAN_ID_LEN);
    ngx_memcpy(span.parent_id, ctx->parent_id, NGX_OTEL_SPAN_ID_LEN);

    span.flags = ctx->flags;
    span.kind = NGX_OTEL_SPAN_KIND_SERVER;
    span.status = (status == 0 || status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
                  ? NGX_OTEL_STATUS_ERROR : NGX_OTEL_STATUS_UNSET;
    span.start = ctx->start;
    span.end = ngx_http_otel_now();
    span.tracestate = ctx->tracestate;

    known = ngx_http_otel_method_known(r);
    method = known ? ngx_http_otel_method_const(r->method) : NGX_ERROR;

    ngx_http_otel_span_name(r, olcf, known, method, &span.name);

    w.pos = ngx_http_otel_attrs_buf;
    w.last = ngx_http_otel_attrs_buf + sizeof(ngx_http_otel_attrs_buf);
    w.n = 0;
    w.size = 0;

    span.shared.len = 0;

    ngx_http_otel_span_attrs(r, &w, status, known, method, &span.shared);

    encoded.id = 0;
    encoded.type = NGX_OTEL_ATTR_ENCODED;
    encoded.str.data = ngx_http_otel_attrs_buf;
    encoded.str.len = w.pos ? (size_t) (w.pos - ngx_http_otel_attrs_buf) : 0;
    encoded.key.len = w.size;
    encoded.num = (int64_t) w.n;

    span.attrs = &encoded;
    span.nattrs = encoded.str.len ? 1 : 0;

    span.events.len = 0;
    span.nevents = 0;

    /* the log handler found an exporter; the attributes are encoded */

    omcf = ngx_http_get_module_main_conf(r, ngx_http_otel_module);

    ngx_otel_stage_push(omcf->exporter, &span);
}


void
ngx_http_otel_push_span(ngx_http_request_t *r, ngx_otel_span_t *span)
{
    ngx_otel_attr_t             encoded;
    ngx_otel_otlp_writer_t      w;
    ngx_otel_exporter_conf_t   *ecf;
    ngx_http_otel_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_otel_module);
    ecf = omcf->exporter;

    if (ecf == NULL) {
        return;
    }

    span->shared.len = 0;

    /*
     * Encoded here, as the exporter sends them, the attributes are one
     * copy when the span is recorded.
     */

    if (span->nattrs
        && !(span->nattrs == 1
             && span->attrs[0].type == NGX_OTEL_ATTR_ENCODED))
    {
        w.pos = ngx_http_otel_attrs_buf;
        w.last = ngx_http_otel_attrs_buf + sizeof(ngx_http_otel_attrs_buf);
        w.n = 0;
        w.size = 0;

        ngx_otel_otlp_writer_attrs(&w, span->attrs,
                                   ngx_min(span->nattrs,
                                           NGX_OTEL_SPAN_MAX_ATTRS));

        if (w.pos != NULL) {
            encoded.id = 0;
            encoded.type = NGX_OTEL_ATTR_ENCODED;
            encoded.str.data = ngx_http_otel_attrs_buf;
            encoded.str.len = w.pos - ngx_http_otel_attrs_buf;
            encoded.key.len = w.size;
            encoded.num = (int64_t) w.n;

            span->attrs = &encoded;
            span->nattrs = 1;
        }
    }

    ngx_otel_stage_push(ecf, span);
}


static void
ngx_http_otel_span_name(ngx_http_request_t *r, ngx_http_otel_loc_conf_t *olcf,
    ngx_uint_t known, ngx_int_t mc, ngx_str_t *name)
{
    u_char                    *p;
    ngx_str_t                  method;
    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->span_name
        && ngx_http_complex_value(r, olcf->span_name, name) == NGX_OK
        && name->len)
    {
        return;
    }

    if (olcf->span_names && (mc != NGX_ERROR || !known)) {
        *name = olcf->span_names[known ? mc : NGX_HTTP_OTEL_SPAN_NAME_HTTP];
        return;
    }

    /* "HTTP" stands for a method that is unknown or was never read */

    if (known) {
        method = r->method_name;

    } else {
        ngx_str_set(&method, "HTTP");
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->name.len == 0) {
        *name = method;
        return;
    }

    p = ngx_pnalloc(r->pool, method.len + 1 + clcf->name.len);
    if (p == NULL) {
        *name = method;
        return;
    }

    name->data = p;
    p = ngx_otel_cpymem(p, method.data, method.len);
    *p++ = ' ';
    p = ngx_otel_cpymem(p, clcf->name.data, clcf->name.len);
    name->len = p - name->data;
}


ngx_uint_t
ngx_http_otel_method_known(ngx_http_request_t *r)
{
    ngx_uint_t  i;

    /* what nginx parsed needs no comparison; others are looked at */

    if (r->method & NGX_HTTP_OTEL_KNOWN_METHODS) {
        return r->method_name.len != 0;
    }

    if (!(r->method & NGX_HTTP_UNKNOWN)) {
        return 0;
    }

    for (i = 0; ngx_http_otel_methods[i].len; i++) {
        if (r->method_name.len == ngx_http_otel_methods[i].len
            && ngx_strncmp(r->method_name.data, ngx_http_otel_methods[i].data,
                           r->method_name.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The span's attributes, written as the exporter sends them.  Values of
 * otel_span_attr are found first, since one that names an attribute of
 * ours replaces it.
 */

static void
ngx_http_otel_span_attrs(ngx_http_request_t *r, ngx_otel_otlp_writer_t *wp,
    ngx_uint_t status, ngx_uint_t standard, ngx_int_t method,
    ngx_otel_span_shared_t *shared)
{
    u_char                     *p, *q, *last, *joined;
    off_t                       body;
    uint32_t                    skip;
    ngx_int_t                   cn;
    ngx_uint_t                  i, n;
    ngx_otel_attr_t             attr;
    ngx_connection_t           *c;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_otel_loc_conf_t   *olcf;
    ngx_http_otel_span_attr_t  *sa;
    ngx_otel_otlp_writer_t     *w, writer;
    u_char                      code[NGX_INT_T_LEN];
    ngx_str_t                   values[NGX_OTEL_SPAN_MAX_ATTRS];

    /* a local writer, never passed on, may be kept in registers */

    writer = *wp;
    w = &writer;

    c = r->connection;
    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    skip = 0;
    n = 0;
    sa = NULL;
    joined = ngx_http_otel_values_buf;

    if (olcf->span_attrs) {
        sa = olcf->span_attrs->elts;
        n = ngx_min(olcf->span_attrs->nelts, NGX_OTEL_SPAN_MAX_ATTRS);
    }

    /* values that replace ours are known first; others when written */

    if (olcf->span_attrs_ours) {
        for (i = 0; i < n; i++) {
            ngx_http_otel_span_attr_value(r, &sa[i], &joined, &values[i]);

            if (values[i].len && sa[i].id < NGX_OTEL_ATTR_KNOWN) {
                skip |= (uint32_t) 1 << sa[i].id;
            }
        }
    }

#define ngx_http_otel_attr_wanted(id)  ((skip & ((uint32_t) 1 << (id))) == 0)

    if (r->method_name.len) {
        if (standard) {
            if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_HTTP_REQUEST_METHOD)) {
                if (method != NGX_ERROR) {
                    ngx_otel_otlp_known_const(w, (ngx_uint_t) method);

                } else {
                    ngx_otel_otlp_known_str(w,
                                            NGX_OTEL_ATTR_HTTP_REQUEST_METHOD,
                                            r->method_name.data,
                                            r->method_name.len);
                }
            }

        } else {
            if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_HTTP_REQUEST_METHOD)) {
                ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD,
                                        (u_char *) "_OTHER", 6);
            }

            if (ngx_http_otel_attr_wanted(
                                  NGX_OTEL_ATTR_HTTP_REQUEST_METHOD_ORIGINAL))
            {
                ngx_otel_otlp_known_str(w,
                                  NGX_OTEL_ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
                                  r->method_name.data, r->method_name.len);
            }
        }
    }

    /* the target as the client sent it, before any rewrite */

    if (r->unparsed_uri.len) {
        p = r->unparsed_uri.data;
        last = p + r->unparsed_uri.len;
        q = ngx_strlchr(p, last, '?');

        if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_URL_PATH)) {
            ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_URL_PATH, p,
                                    (q ? q : last) - p);
        }

        if (q && q + 1 < last
            && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_URL_QUERY))
        {
            ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_URL_QUERY, q + 1,
                                    last - q - 1);
        }
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->name.len && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_HTTP_ROUTE))
    {
        ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_HTTP_ROUTE, clcf->name.data,
                                clcf->name.len);
    }

    if (status
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE))
    {
        cn = ngx_http_otel_status_const(status);

        if (cn != NGX_ERROR) {
            ngx_otel_otlp_known_const(w, (ngx_uint_t) cn);

        } else {
            ngx_otel_otlp_known_int(w, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE,
                                    (int64_t) status);
        }
    }

    ngx_http_otel_conn_attrs(r, w, skip, shared);

    /* a discarded body counts down content_length_n: read the header */

    body = -1;

    if (r->headers_in.content_length) {
        body = ngx_atoof(r->headers_in.content_length->value.data,
                         r->headers_in.content_length->value.len);

    } else if (r->headers_in.chunked) {
        body = r->headers_in.content_length_n;
    }

    if (body > 0
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_HTTP_REQUEST_BODY_SIZE))
    {
        ngx_otel_otlp_known_int(w, NGX_OTEL_ATTR_HTTP_REQUEST_BODY_SIZE,
                                (int64_t) body);
    }

    body = c->sent - r->header_size;

    if (status && body >= 0
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_HTTP_RESPONSE_BODY_SIZE))
    {
        ngx_otel_otlp_known_int(w, NGX_OTEL_ATTR_HTTP_RESPONSE_BODY_SIZE,
                                (int64_t) body);
    }

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR && status <= 999
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_ERROR_TYPE))
    {
        ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_ERROR_TYPE, code,
                                ngx_sprintf(code, "%ui", status) - code);
    }

#undef ngx_http_otel_attr_wanted

    /* otel_span_attr, up to the most attributes a span keeps */

    for (i = 0; i < n && w->n < NGX_OTEL_SPAN_MAX_ATTRS; i++) {

        if (olcf->span_attrs_ours) {
            attr.str = values[i];

        } else {
            ngx_http_otel_span_attr_value(r, &sa[i], &joined, &attr.str);
        }

        if (attr.str.len == 0) {
            continue;
        }

        attr.id = sa[i].id;
        attr.type = NGX_OTEL_ATTR_STRING;
        attr.key = sa[i].name;

        ngx_otel_otlp_head_str(w, &sa[i].head, &attr);
    }

    *wp = writer;
}


/* an otel_span_attr value; empty if its variable is not found */

static ngx_inline void
ngx_http_otel_span_attr_value(ngx_http_request_t *r,
    ngx_http_otel_span_attr_t *sa, u_char **joined, ngx_str_t *value)
{
    ngx_http_variable_value_t  *vv;

    if (sa->index == NGX_ERROR) {
        ngx_http_otel_span_attr_text(r, sa, joined, value);
        return;
    }

    /* what ngx_http_complex_value() makes of "$name", uncopied */

    vv = ngx_http_get_flushed_variable(r, sa->index);

    if (vv == NULL || vv->not_found) {
        value->len = 0;

    } else {
        value->data = vv->data;
        value->len = vv->len;
    }
}


/* one of text and variables, or for the script engine */

static void
ngx_http_otel_span_attr_text(ngx_http_request_t *r,
    ngx_http_otel_span_attr_t *sa, u_char **joined, ngx_str_t *value)
{
    if ((sa->nparts == 0
         || ngx_http_otel_value_join(r, sa, joined, value) != NGX_OK)
        && ngx_http_complex_value(r, &sa->value, value) != NGX_OK)
    {
        value->len = 0;
    }
}


/*
 * An otel_span_attr value of text and variables, put together at *pos, as
 * ngx_http_complex_value() would make it; NGX_DECLINED if it is longer
 * than a record keeps (the script engine makes it then, to be cut)
 */

static ngx_int_t
ngx_http_otel_value_join(ngx_http_request_t *r, ngx_http_otel_span_attr_t *sa,
    u_char **pos, ngx_str_t *value)
{
    u_char                      *p, *last, *data;
    size_t                       len;
    ngx_uint_t                   i;
    ngx_http_variable_value_t   *vv;
    ngx_http_otel_value_part_t  *part;

    p = *pos;
    last = p + NGX_OTEL_ATTR_VALUE_MAX_LEN;
    part = sa->parts;

    for (i = 0; i < sa->nparts; i++) {

        if (part[i].index == NGX_ERROR) {
            data = part[i].text.data;
            len = part[i].text.len;

        } else {
            vv = ngx_http_get_flushed_variable(r, part[i].index);

            if (vv == NULL || vv->not_found) {
                continue;
            }

            data = vv->data;
            len = vv->len;
        }

        if ((size_t) (last - p) < len) {
            return NGX_DECLINED;
        }

        p = ngx_otel_cpymem(p, data, len);
    }

    value->data = *pos;
    value->len = p - *pos;

    *pos = p;

    return NGX_OK;
}


/* the constant (ngx_otel_otlp_consts[]) of a method nginx knows, if any */

static ngx_int_t
ngx_http_otel_method_const(ngx_uint_t method)
{
    if (method == NGX_HTTP_GET) {
        return NGX_OTEL_OTLP_GET;
    }

    switch (method) {
    case NGX_HTTP_GET:
        return NGX_OTEL_OTLP_GET;
    case NGX_HTTP_HEAD:
        return NGX_OTEL_OTLP_HEAD;
    case NGX_HTTP_POST:
        return NGX_OTEL_OTLP_POST;
    case NGX_HTTP_PUT:
        return NGX_OTEL_OTLP_PUT;
    case NGX_HTTP_DELETE:
        return NGX_OTEL_OTLP_DELETE;
    case NGX_HTTP_OPTIONS:
        return NGX_OTEL_OTLP_OPTIONS;
    case NGX_HTTP_PATCH:
        return NGX_OTEL_OTLP_PATCH;
    default:
        return NGX_ERROR;
    }
}


/* the same, of a status code */

static ngx_int_t
ngx_http_otel_status_const(ngx_uint_t status)
{
    /* the usual one first: gcc makes a search of the switch */

    if (status == NGX_HTTP_OK) {
        return NGX_OTEL_OTLP_200;
    }

    switch (status) {
    case NGX_HTTP_OK:
        return NGX_OTEL_OTLP_200;
    case NGX_HTTP_CREATED:
        return NGX_OTEL_OTLP_201;
    case NGX_HTTP_NO_CONTENT:
        return NGX_OTEL_OTLP_204;
    case NGX_HTTP_PARTIAL_CONTENT:
        return NGX_OTEL_OTLP_206;
    case NGX_HTTP_MOVED_PERMANENTLY:
        return NGX_OTEL_OTLP_301;
    case NGX_HTTP_MOVED_TEMPORARILY:
        return NGX_OTEL_OTLP_302;
    case NGX_HTTP_NOT_MODIFIED:
        return NGX_OTEL_OTLP_304;
    case NGX_HTTP_BAD_REQUEST:
        return NGX_OTEL_OTLP_400;
    case NGX_HTTP_UNAUTHORIZED:
        return NGX_OTEL_OTLP_401;
    case NGX_HTTP_FORBIDDEN:
        return NGX_OTEL_OTLP_403;
    case NGX_HTTP_NOT_FOUND:
        return NGX_OTEL_OTLP_404;
    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        return NGX_OTEL_OTLP_500;
    case NGX_HTTP_BAD_GATEWAY:
        return NGX_OTEL_OTLP_502;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return NGX_OTEL_OTLP_503;
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return NGX_OTEL_OTLP_504;
    default:
        return NGX_ERROR;
    }
}


uint64_t
ngx_http_otel_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}
