
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_otel_module.h"


/*
 * CLIENT spans.  Each upstream{} block's peer.init (implicit blocks of
 * "proxy_pass http://host:port" included) is wrapped: when a traced
 * request's exchange starts, its balancer's get and free are wrapped in
 * turn, which marks each attempt's start and end in nanoseconds, and so
 * is the upstream module's finalize_request, the end of the exchange.
 * What nginx itself records of each attempt (r->upstream_states: status,
 * connect, header and response times) is read when the span is made.
 *
 * A peer chosen at run time without an upstream{} block ("proxy_pass
 * http://$host") has no peer.init to wrap: its CLIENT span is made in the
 * log phase from r->upstream_states alone, to the millisecond.
 */


/* attempts kept as span events; all of them count in resend_count */
#define NGX_HTTP_OTEL_UPSTREAM_ATTEMPTS   32

/* a CLIENT span's events in record form: 32 attempts take about 5k */
#define NGX_HTTP_OTEL_UPSTREAM_EVENTS     8192

#define NGX_HTTP_OTEL_UPSTREAM_ATTRS      16

#define NGX_HTTP_OTEL_UPSTREAM_UNSET      ((ngx_msec_t) -1)

#define NGX_HTTP_OTEL_NO_STATE            ((ngx_uint_t) -1)


typedef struct {
    ngx_http_upstream_srv_conf_t     *upstream;
    ngx_http_upstream_init_peer_pt    init;

    /* "name", or "host:port" for "proxy_pass http://host:port" */
    ngx_str_t                         name;
} ngx_http_otel_upstream_init_t;


typedef struct {
    uint64_t                          start;
    uint64_t                          end;

    /* nginx's record of the attempt: r->upstream_states[state] */
    ngx_uint_t                        state;

    /* as nginx names the peer: "127.0.0.1:80", "[::1]:80", "unix:/s" */
    ngx_str_t                        *peer;        /* NULL: no peer */
} ngx_http_otel_attempt_t;


/* the balancer's own callbacks, called from ours, and the exchange's span */

typedef struct {
    ngx_http_request_t               *request;
    ngx_http_otel_client_t           *client;

    /* the attempt under way in client->attempts, or NGX_ERROR */
    ngx_int_t                         current;

    void                             *data;
    ngx_event_get_peer_pt             get;
    ngx_event_free_peer_pt            free;
    ngx_event_notify_peer_pt          notify;
#if (NGX_SSL || NGX_COMPAT)
    ngx_event_set_peer_session_pt     set_session;
    ngx_event_save_peer_session_pt    save_session;
#endif

    void                            (*finalize_request)(ngx_http_request_t *r,
                                          ngx_int_t rc);
} ngx_http_otel_peer_t;


static ngx_int_t ngx_http_otel_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_http_otel_upstream_init_t *ngx_http_otel_upstream_original(
    ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_otel_upstream_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_otel_upstream_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_otel_upstream_notify_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t type);
#if (NGX_SSL || NGX_COMPAT)
static ngx_int_t ngx_http_otel_upstream_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_otel_upstream_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static void ngx_http_otel_upstream_finalize(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_otel_attempt_end(ngx_http_otel_peer_t *op,
    uint64_t now);
static ngx_int_t ngx_http_otel_upstream_headers_copy(ngx_http_request_t *r);
static ngx_int_t ngx_http_otel_upstream_from_states(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx, ngx_http_otel_client_t *client);
static void ngx_http_otel_client_export(ngx_http_otel_ctx_t *ctx,
    ngx_http_otel_client_t *client);
static ngx_uint_t ngx_http_otel_attempt_attrs(ngx_http_otel_attempt_t *a,
    ngx_http_upstream_state_t *state, ngx_otel_attr_t *attrs,
    u_char *code, ngx_uint_t timings, ngx_uint_t *failed);
static ngx_http_upstream_state_t *ngx_http_otel_attempt_state(
    ngx_http_request_t *r, ngx_http_otel_attempt_t *a);
static void ngx_http_otel_peer_split(ngx_str_t *name, ngx_str_t *addr,
    ngx_int_t *port);
static int ngx_libc_cdecl ngx_http_otel_upstream_cmp(const void *one,
    const void *two);


ngx_int_t
ngx_http_otel_upstream_init(ngx_conf_t *cf)
{
    ngx_uint_t                        i;
    ngx_http_upstream_srv_conf_t    **uscfp;
    ngx_http_otel_main_conf_t        *omcf;
    ngx_http_otel_upstream_init_t    *ui;
    ngx_http_upstream_main_conf_t    *umcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_otel_module);
    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    if (ngx_array_init(&omcf->upstream_inits, cf->pool,
                       ngx_max(umcf->upstreams.nelts, 1),
                       sizeof(ngx_http_otel_upstream_init_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the upstream module's init_main_conf has set every peer.init */

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->peer.init == NULL
            || uscfp[i]->peer.init == ngx_http_otel_upstream_init_peer)
        {
            continue;
        }

        ui = ngx_array_push(&omcf->upstream_inits);
        if (ui == NULL) {
            return NGX_ERROR;
        }

        ui->upstream = uscfp[i];
        ui->init = uscfp[i]->peer.init;
        ui->name = uscfp[i]->host;

        if (uscfp[i]->port) {
            ui->name.data = ngx_pnalloc(cf->pool,
                                        uscfp[i]->host.len + 1 + NGX_INT_T_LEN);
            if (ui->name.data == NULL) {
                return NGX_ERROR;
            }

            ui->name.len = ngx_sprintf(ui->name.data, "%V:%d",
                                       &uscfp[i]->host,
                                       (int) uscfp[i]->port)
                           - ui->name.data;
        }

        uscfp[i]->peer.init = ngx_http_otel_upstream_init_peer;
    }

    ngx_qsort(omcf->upstream_inits.elts, omcf->upstream_inits.nelts,
              sizeof(ngx_http_otel_upstream_init_t),
              ngx_http_otel_upstream_cmp);

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_otel_upstream_cmp(const void *one, const void *two)
{
    const ngx_http_otel_upstream_init_t  *a = one;
    const ngx_http_otel_upstream_init_t  *b = two;

    if (a->upstream == b->upstream) {
        return 0;
    }

    return (uintptr_t) a->upstream < (uintptr_t) b->upstream ? -1 : 1;
}


static ngx_http_otel_upstream_init_t *
ngx_http_otel_upstream_original(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                      lo, hi, mid;
    ngx_http_otel_main_conf_t      *omcf;
    ngx_http_otel_upstream_init_t  *ui;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_otel_module);

    ui = omcf->upstream_inits.elts;
    lo = 0;
    hi = omcf->upstream_inits.nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ui[mid].upstream == us) {
            return &ui[mid];
        }

        if ((uintptr_t) ui[mid].upstream < (uintptr_t) us) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_otel_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t             *u;
    ngx_http_otel_ctx_t             *ctx;
    ngx_http_otel_peer_t            *op;
    ngx_http_otel_client_t          *client;
    ngx_http_otel_upstream_init_t   *ui;

    ui = ngx_http_otel_upstream_original(r, us);

    if (ui == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "otel: no balancer for upstream \"%V\"", &us->host);
        return NGX_ERROR;
    }

    if (ui->init(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = ngx_http_otel_find_ctx(r->main);

    if (ctx == NULL || ctx->clients == NULL) {
        return NGX_OK;
    }

    client = ngx_http_otel_client_find(r, ctx);

    if (client == NULL || client->request != r) {
        return NGX_OK;
    }

    if (client->attempts.elts == NULL
        && ngx_array_init(&client->attempts, r->pool, 2,
                          sizeof(ngx_http_otel_attempt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    op = ngx_palloc(r->pool, sizeof(ngx_http_otel_peer_t));
    if (op == NULL) {
        return NGX_ERROR;
    }

    u = r->upstream;

    op->request = r;
    op->client = client;
    op->current = NGX_ERROR;

    op->data = u->peer.data;
    op->get = u->peer.get;
    op->free = u->peer.free;
    op->notify = u->peer.notify;

    u->peer.data = op;
    u->peer.get = ngx_http_otel_upstream_get_peer;
    u->peer.free = ngx_http_otel_upstream_free_peer;

    if (op->notify) {
        u->peer.notify = ngx_http_otel_upstream_notify_peer;
    }

#if (NGX_SSL || NGX_COMPAT)
    op->set_session = u->peer.set_session;
    op->save_session = u->peer.save_session;

    if (op->set_session) {
        u->peer.set_session = ngx_http_otel_upstream_set_session;
    }

    if (op->save_session) {
        u->peer.save_session = ngx_http_otel_upstream_save_session;
    }
#endif

    op->finalize_request = u->finalize_request;
    u->finalize_request = ngx_http_otel_upstream_finalize;

    if (client->start == 0) {
        client->start = ngx_http_otel_now();
    }

    client->upstream = ui->name;

    return NGX_OK;
}


static ngx_int_t
ngx_http_otel_upstream_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_otel_peer_t *op = data;

    uint64_t                  start;
    ngx_int_t                 rc;
    ngx_http_request_t       *r;
    ngx_http_upstream_t      *u;
    ngx_http_otel_client_t   *client;
    ngx_http_otel_attempt_t  *a;

    start = ngx_http_otel_now();

    rc = op->get(pc, op->data);

    /* an attempt without a free() (no live peer) ends when the next starts */

    ngx_http_otel_attempt_end(op, start);

    client = op->client;

    if (client->nattempts++ >= NGX_HTTP_OTEL_UPSTREAM_ATTEMPTS) {
        return rc;
    }

    a = ngx_array_push(&client->attempts);
    if (a == NULL) {
        return rc;
    }

    r = op->request;
    u = r->upstream;

    a->start = start;
    a->end = 0;
    a->state = (u->state && r->upstream_states)
               ? (ngx_uint_t) (u->state - (ngx_http_upstream_state_t *)
                                          r->upstream_states->elts)
               : NGX_HTTP_OTEL_NO_STATE;
    a->peer = (rc == NGX_OK || rc == NGX_DONE) ? pc->name : NULL;

    op->current = client->attempts.nelts - 1;

    return rc;
}


static void
ngx_http_otel_upstream_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_otel_peer_t *op = data;

    ngx_http_otel_attempt_end(op, ngx_http_otel_now());

    op->free(pc, op->data, state);
}


static void
ngx_http_otel_upstream_notify_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type)
{
    ngx_http_otel_peer_t *op = data;

    op->notify(pc, op->data, type);
}


#if (NGX_SSL || NGX_COMPAT)

static ngx_int_t
ngx_http_otel_upstream_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_otel_peer_t *op = data;

    return op->set_session(pc, op->data);
}


static void
ngx_http_otel_upstream_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_otel_peer_t *op = data;

    op->save_session(pc, op->data);
}

#endif


/* the upstream module is done with the exchange: the CLIENT span ends */

static void
ngx_http_otel_upstream_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    uint64_t               now;
    ngx_http_otel_ctx_t   *ctx;
    ngx_http_otel_peer_t  *op;

    op = r->upstream->peer.data;

    now = ngx_http_otel_now();

    ngx_http_otel_attempt_end(op, now);
    op->client->end = now;

    op->finalize_request(r, rc);

    /* the main request's spans go in its log phase, a subrequest's now */

    if (r == r->main || op->client->exported) {
        return;
    }

    ctx = ngx_http_otel_find_ctx(r->main);

    if (ctx != NULL) {
        ngx_http_otel_client_export(ctx, op->client);
    }
}


static void
ngx_http_otel_attempt_end(ngx_http_otel_peer_t *op, uint64_t now)
{
    ngx_http_otel_attempt_t  *a;

    if (op->current == NGX_ERROR) {
        return;
    }

    a = op->client->attempts.elts;
    a[op->current].end = now;

    op->current = NGX_ERROR;
}


ngx_http_otel_client_t *
ngx_http_otel_client_create(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx)
{
    ngx_http_otel_client_t  *client, **last;

    client = ngx_pcalloc(r->pool, sizeof(ngx_http_otel_client_t));
    if (client == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     client->next = NULL;
     *     client->start = 0;
     *     client->end = 0;
     *     client->attempts = { 0 };
     *     client->nattempts = 0;
     *     client->upstream = { 0, NULL };
     *     client->exported = 0;
     */

    client->request = r;
    ngx_otel_span_id_generate(client->span_id);

    for (last = &ctx->clients; *last; last = &(*last)->next) {
        /* void */
    }

    *last = client;

    return client;
}


/* the CLIENT span of r, else the one of the main request, if any */

ngx_http_otel_client_t *
ngx_http_otel_client_find(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx)
{
    ngx_http_otel_client_t  *client, *main;

    main = NULL;

    for (client = ctx->clients; client; client = client->next) {

        if (client->request == r) {
            return client;
        }

        if (client->request == r->main) {
            main = client;
        }
    }

    return main;
}


u_char *
ngx_http_otel_sent_span_id(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx)
{
    ngx_http_otel_client_t  *client;

    if (ctx->clients == NULL) {
        return ctx->span_id;
    }

    client = ngx_http_otel_client_find(r, ctx);

    return client ? client->span_id : ctx->span_id;
}


/*
 * A subrequest shares its parent's header list: to send the ids of its
 * own CLIENT span, it gets a copy of the list first.
 */

ngx_int_t
ngx_http_otel_upstream_subrequest(ngx_http_request_t *r)
{
    ngx_http_otel_ctx_t       *ctx;
    ngx_http_otel_client_t    *client;
    ngx_http_otel_loc_conf_t  *olcf;

    ctx = ngx_http_otel_find_ctx(r->main);

    if (ctx == NULL
        || !ctx->traced
        || !(ctx->flags & NGX_OTEL_FLAG_SAMPLED))
    {
        return NGX_DECLINED;
    }

    /* after an internal redirect the subrequest keeps its span */

    client = ngx_http_otel_client_find(r, ctx);

    if (client != NULL && client->request == r) {
        return NGX_DECLINED;
    }

    client = ngx_http_otel_client_create(r, ctx);
    if (client == NULL) {
        return NGX_ERROR;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_otel_module);

    if (!(olcf->trace_context & NGX_HTTP_OTEL_CONTEXT_INJECT)) {
        return NGX_DECLINED;
    }

    if (ngx_http_otel_upstream_headers_copy(r) != NGX_OK
        || ngx_http_otel_inject_as(r, ctx, client->span_id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_otel_upstream_headers_copy(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    old = r->headers_in.headers;

    if (old.pool == NULL) {
        /* HTTP/0.9: none to copy, injection makes the list */
        return NGX_OK;
    }

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

        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    return NGX_OK;
}


/* the log phase of the main request: the CLIENT spans not yet exported */

void
ngx_http_otel_upstream_export(ngx_http_request_t *r, ngx_http_otel_ctx_t *ctx)
{
    ngx_http_otel_client_t  *client;

    for (client = ctx->clients; client; client = client->next) {

        if (client->exported) {
            continue;
        }

        if (client->start == 0
            && (client->request != r
                || ngx_http_otel_upstream_from_states(r, ctx, client)
                   != NGX_OK))
        {
            continue;
        }

        ngx_http_otel_client_export(ctx, client);
    }
}


/*
 * An exchange no peer.init was wrapped for: its attempts as nginx
 * recorded them, one after the other, ending now
 */

static ngx_int_t
ngx_http_otel_upstream_from_states(ngx_http_request_t *r,
    ngx_http_otel_ctx_t *ctx, ngx_http_otel_client_t *client)
{
    uint64_t                    now, t, total;
    ngx_uint_t                  i;
    ngx_http_upstream_t        *u;
    ngx_http_otel_attempt_t    *a;
    ngx_http_upstream_state_t  *state;

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return NGX_DECLINED;
    }

    if (ngx_array_init(&client->attempts, r->pool,
                       r->upstream_states->nelts,
                       sizeof(ngx_http_otel_attempt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    state = r->upstream_states->elts;
    total = 0;

    for (i = 0; i < r->upstream_states->nelts; i++) {
        if (state[i].peer != NULL
            && state[i].response_time != NGX_HTTP_OTEL_UPSTREAM_UNSET)
        {
            total += (uint64_t) state[i].response_time * 1000000;
        }
    }

    now = ngx_http_otel_now();
    t = (now - ctx->start > total) ? now - total : ctx->start;

    client->start = t;
    client->end = now;

    for (i = 0; i < r->upstream_states->nelts; i++) {

        /* a zeroed state separates the exchanges of one request */

        if (state[i].peer == NULL) {
            continue;
        }

        if (client->nattempts++ >= NGX_HTTP_OTEL_UPSTREAM_ATTEMPTS) {
            continue;
        }

        a = ngx_array_push(&client->attempts);
        if (a == NULL) {
            return NGX_ERROR;
        }

        a->start = t;

        if (state[i].response_time != NGX_HTTP_OTEL_UPSTREAM_UNSET) {
            t += (uint64_t) state[i].response_time * 1000000;
        }

        a->end = ngx_min(t, now);
        a->state = i;

        a->peer = state[i].peer;
    }

    u = r->upstream;

    if (u && u->resolved && u->resolved->host.len) {
        client->upstream = u->resolved->host;
        client->upstream_port = u->resolved->port;
    }

    return NGX_OK;
}


static void
ngx_http_otel_client_export(ngx_http_otel_ctx_t *ctx,
    ngx_http_otel_client_t *client)
{
    u_char                     *p, *q, *last;
    ngx_uint_t                  i, n, failed, known;
    ngx_otel_span_t             span;
    ngx_otel_attr_t             attrs[NGX_HTTP_OTEL_UPSTREAM_ATTRS], *at;
    ngx_otel_attr_t             ev_attrs[NGX_HTTP_OTEL_UPSTREAM_ATTRS];
    ngx_otel_event_t            ev;
    ngx_http_request_t         *r;
    ngx_http_otel_attempt_t    *a;
    ngx_http_upstream_state_t  *state;
    u_char                      code[NGX_INT_T_LEN];
    u_char                      ev_code[NGX_INT_T_LEN];
    u_char                      name[NGX_MAXHOSTNAMELEN + NGX_INT_T_LEN];
    u_char                      events[NGX_HTTP_OTEL_UPSTREAM_EVENTS];

    client->exported = 1;

    r = client->request;

    ngx_memcpy(span.trace_id, ctx->trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memcpy(span.span_id, client->span_id, NGX_OTEL_SPAN_ID_LEN);
    ngx_memcpy(span.parent_id, ctx->span_id, NGX_OTEL_SPAN_ID_LEN);

    span.flags = ctx->flags;
    span.kind = NGX_OTEL_SPAN_KIND_CLIENT;
    span.status = NGX_OTEL_STATUS_UNSET;
    span.start = client->start;
    span.end = client->end ? client->end : ngx_http_otel_now();
    span.tracestate = ctx->tracestate;

    /* {METHOD}, or "HTTP" for a method the conventions do not know */

    known = ngx_http_otel_method_known(r);

    if (known) {
        span.name = r->method_name;

    } else {
        ngx_str_set(&span.name, "HTTP");
    }

    at = attrs;

    if (r->method_name.len) {
        at->id = NGX_OTEL_ATTR_HTTP_REQUEST_METHOD;
        at->type = NGX_OTEL_ATTR_STRING;

        if (known) {
            at->str = r->method_name;

        } else {
            ngx_str_set(&at->str, "_OTHER");
            at++;

            at->id = NGX_OTEL_ATTR_HTTP_REQUEST_METHOD_ORIGINAL;
            at->type = NGX_OTEL_ATTR_STRING;
            at->str = r->method_name;
        }

        at++;
    }

    a = client->attempts.elts;
    n = client->attempts.nelts;

    /* the last attempt is the one that answered, or the last that failed */

    if (n) {
        state = ngx_http_otel_attempt_state(r, &a[n - 1]);

        at += ngx_http_otel_attempt_attrs(&a[n - 1], state, at, code, 0,
                                          &failed);
        if (failed) {
            span.status = NGX_OTEL_STATUS_ERROR;
        }

    } else {
        /* the exchange ended before any peer was tried */
        span.status = NGX_OTEL_STATUS_ERROR;
    }

    /* the peer that answered is the server, as the conventions name it */

    n = at - attrs;

    for (i = 0; i < n; i++) {
        if (attrs[i].id == NGX_OTEL_ATTR_NETWORK_PEER_ADDRESS) {
            at->id = NGX_OTEL_ATTR_SERVER_ADDRESS;
            at->type = NGX_OTEL_ATTR_STRING;
            at->str = attrs[i].str;
            at++;

        } else if (attrs[i].id == NGX_OTEL_ATTR_NETWORK_PEER_PORT) {
            at->id = NGX_OTEL_ATTR_SERVER_PORT;
            at->type = NGX_OTEL_ATTR_INT;
            at->num = attrs[i].num;
            at++;
        }
    }

    if (client->upstream.len) {
        at->id = NGX_OTEL_ATTR_NGINX_UPSTREAM_NAME;
        at->type = NGX_OTEL_ATTR_STRING;
        at->str = client->upstream;

        if (client->upstream_port
            && client->upstream.len < NGX_MAXHOSTNAMELEN)
        {
            at->str.data = name;
            at->str.len = ngx_sprintf(name, "%V:%d", &client->upstream,
                                      (int) client->upstream_port)
                          - name;
        }

        at++;
    }

    if (client->nattempts > 1) {
        at->id = NGX_OTEL_ATTR_HTTP_REQUEST_RESEND_COUNT;
        at->type = NGX_OTEL_ATTR_INT;
        at->num = (int64_t) client->nattempts - 1;
        at++;
    }

    span.attrs = attrs;
    span.nattrs = at - attrs;

    /* each attempt: an event at its start */

    p = events;
    last = events + sizeof(events);

    ngx_str_set(&ev.name, "nginx.upstream.attempt");
    ev.attrs = ev_attrs;

    for (i = 0; i < client->attempts.nelts; i++) {
        state = ngx_http_otel_attempt_state(r, &a[i]);

        ev.time = a[i].start;
        ev.nattrs = ngx_http_otel_attempt_attrs(&a[i], state, ev_attrs,
                                                ev_code, 1, &failed);

        q = ngx_otel_span_event_encode(p, last, &ev);
        if (q == NULL) {
            break;
        }

        p = q;
    }

    span.events.data = events;
    span.events.len = p - events;
    span.nevents = i;

    ngx_http_otel_push_span(r, &span);
}


static ngx_http_upstream_state_t *
ngx_http_otel_attempt_state(ngx_http_request_t *r, ngx_http_otel_attempt_t *a)
{
    if (r->upstream_states == NULL || a->state >= r->upstream_states->nelts) {
        return NULL;
    }

    return (ngx_http_upstream_state_t *) r->upstream_states->elts + a->state;
}


/*
 * The peer, the response status and the timings nginx keeps of an
 * attempt; error.type names what went wrong: the status of a 4xx or 5xx
 * answer, else how the attempt failed
 */

static ngx_uint_t
ngx_http_otel_attempt_attrs(ngx_http_otel_attempt_t *a,
    ngx_http_upstream_state_t *state, ngx_otel_attr_t *attrs,
    u_char *code, ngx_uint_t timings, ngx_uint_t *failed)
{
    ngx_int_t         port;
    ngx_str_t         error;
    ngx_otel_attr_t  *at;

    at = attrs;
    *failed = 0;
    error.len = 0;

    if (a->peer) {
        ngx_http_otel_peer_split(a->peer, &at->str, &port);

        at->id = NGX_OTEL_ATTR_NETWORK_PEER_ADDRESS;
        at->type = NGX_OTEL_ATTR_STRING;
        at++;

        if (port > 0) {
            at->id = NGX_OTEL_ATTR_NETWORK_PEER_PORT;
            at->type = NGX_OTEL_ATTR_INT;
            at->num = port;
            at++;
        }
    }

    if (state == NULL) {
        return at - attrs;
    }

    if (state->header_time != NGX_HTTP_OTEL_UPSTREAM_UNSET && state->status) {
        at->id = NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE;
        at->type = NGX_OTEL_ATTR_INT;
        at->num = (int64_t) state->status;
        at++;

        if (state->status >= NGX_HTTP_BAD_REQUEST) {
            error.data = code;
            error.len = ngx_sprintf(code, "%ui", state->status) - code;
        }

    } else if (state->status == 0) {
        /* the request ended (the client went away) before an answer */
        ngx_str_set(&error, "cancelled");

    } else if (state->status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_str_set(&error, "timeout");

    } else if (a->peer == NULL) {
        ngx_str_set(&error, "no_live_upstreams");

    } else if (state->connect_time == NGX_HTTP_OTEL_UPSTREAM_UNSET) {
        ngx_str_set(&error, "connection_failure");

    } else if (state->status == NGX_HTTP_BAD_GATEWAY) {
        ngx_str_set(&error, "invalid_response");

    } else {
        error.data = code;
        error.len = ngx_sprintf(code, "%ui", state->status) - code;
    }

    if (error.len) {
        at->id = NGX_OTEL_ATTR_ERROR_TYPE;
        at->type = NGX_OTEL_ATTR_STRING;
        at->str = error;
        at++;

        *failed = 1;
    }

    if (!timings) {
        return at - attrs;
    }

    if (state->connect_time != NGX_HTTP_OTEL_UPSTREAM_UNSET) {
        at->id = NGX_OTEL_ATTR_NGINX_UPSTREAM_CONNECT_TIME;
        at->type = NGX_OTEL_ATTR_INT;
        at->num = (int64_t) state->connect_time;
        at++;
    }

    if (state->header_time != NGX_HTTP_OTEL_UPSTREAM_UNSET) {
        at->id = NGX_OTEL_ATTR_NGINX_UPSTREAM_HEADER_TIME;
        at->type = NGX_OTEL_ATTR_INT;
        at->num = (int64_t) state->header_time;
        at++;
    }

    if (state->response_time != NGX_HTTP_OTEL_UPSTREAM_UNSET) {
        at->id = NGX_OTEL_ATTR_NGINX_UPSTREAM_RESPONSE_TIME;
        at->type = NGX_OTEL_ATTR_INT;
        at->num = (int64_t) state->response_time;
        at++;
    }

    return at - attrs;
}


/* "127.0.0.1:80", "[::1]:80", "unix:/path": the address, and the port */

static void
ngx_http_otel_peer_split(ngx_str_t *name, ngx_str_t *addr, ngx_int_t *port)
{
    u_char  *p, *start, *last;

    start = name->data;
    last = start + name->len;

    *port = 0;
    *addr = *name;

    if (name->len > 5 && ngx_strncmp(start, "unix:", 5) == 0) {
        addr->data += 5;
        addr->len -= 5;
        return;
    }

    for (p = last; p > start && p[-1] >= '0' && p[-1] <= '9'; p--) {
        /* void */
    }

    if (p == last || p == start || p[-1] != ':' || last - p > 5) {
        return;
    }

    *port = ngx_atoi(p, last - p);

    if (*port < 1 || *port > 65535) {
        *port = 0;
        return;
    }

    addr->len = p - 1 - start;

    if (addr->len > 2 && start[0] == '[' && start[addr->len - 1] == ']') {
        addr->data++;
        addr->len -= 2;
    }
}
