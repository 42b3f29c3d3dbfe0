
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <zlib.h>

#include "ngx_otel_exporter.h"
#include "ngx_otel_shm.h"
#include "ngx_otel_otlp.h"
#include "ngx_otel_otlp_stream.h"
#include "ngx_otel_otlp_json.h"
#include "ngx_otel_curl.h"
#include "ngx_otel_version.h"


/*
 * Every worker runs an exporter: a timer every "interval" that exports
 * all that is queued, and an early run posted by the request path when a
 * full batch is waiting or the queued spans take half the zone (a zone
 * smaller than two batches), and by the end of a request that freed a
 * slot.
 *
 * A "file:" endpoint is written synchronously, a batch per line.
 *
 * A network endpoint has "batch_count" slots per worker; a slot holds one
 * claimed batch from its encoding until it is acknowledged, dropped or
 * given back, so at most batch_count requests are in flight and at most
 * batch_count bodies are kept.  A slot's request runs in libcurl's multi
 * handle driven by the event loop (ngx_otel_curl.c).  A retryable failure
 * keeps the batch and its encoded body in the slot and sends them again
 * after a backoff: the same spans, never a copy of them.
 *
 * Shutdown.  nginx calls the handler of its idle connections when a
 * graceful shutdown starts (ngx_close_idle_connections()), so the exporter
 * keeps one idle connection (on /dev/null, never watched for events) to
 * learn of it at once.  It then exports what is queued at that moment
 * (and what its own last requests add), holding the worker with a
 * non-cancelable timer for at most "timeout"; when that runs out, the
 * requests in flight are abandoned and their batches given back to the
 * zone, where the workers of a reload export them.  All other timers are
 * cancelable and never delay an exit.
 */


#define NGX_OTEL_EXPORT_ATTEMPTS          5
#define NGX_OTEL_EXPORT_BACKOFF           1000
#define NGX_OTEL_EXPORT_BACKOFF_MAX       30000
#define NGX_OTEL_EXPORT_RETRY_AFTER_MAX   60000

/* a claim outlives its request by this much before others may take it */
#define NGX_OTEL_EXPORT_EXPIRE_MARGIN     5

#define NGX_OTEL_EXPORT_RESPONSE_MAX      (64 * 1024)
#define NGX_OTEL_EXPORT_TEXT_LEN          (CURL_ERROR_SIZE + 64)

#define NGX_OTEL_GRPC_HEADER_LEN          5

#define NGX_OTEL_GRPC_CANCELLED           1
#define NGX_OTEL_GRPC_DEADLINE_EXCEEDED   4
#define NGX_OTEL_GRPC_RESOURCE_EXHAUSTED  8
#define NGX_OTEL_GRPC_ABORTED             10
#define NGX_OTEL_GRPC_OUT_OF_RANGE        11
#define NGX_OTEL_GRPC_UNAVAILABLE         14
#define NGX_OTEL_GRPC_DATA_LOSS           15

#define NGX_OTEL_USER_AGENT               "ngx_otel_module/" NGX_OTEL_VERSION


/* an allocation that grows; what it holds is data[start, start + len) */
typedef struct {
    u_char                     *data;
    size_t                      size;
    size_t                      start;
    size_t                      len;
} ngx_otel_buf_t;


typedef struct {
    ngx_otel_exporter_t        *exporter;
    CURL                       *easy;

    ngx_otel_batch_t            batch;
    ngx_uint_t                  attempts;

    /* the backoff timer; ev->data is "dummy" for ngx_event_ident() */
    ngx_event_t                 retry;
    ngx_connection_t            dummy;

    ngx_otel_buf_t              body;
    ngx_otel_buf_t              response;

    /* an uncompressed protobuf body is read from the batch instead */
    ngx_otel_otlp_stream_t      stream;

    /* from the response headers and trailers */
    ngx_int_t                   grpc_status;
    ngx_msec_t                  retry_after;
    size_t                      grpc_message_len;
    u_char                      grpc_message[NGX_OTEL_OTLP_MESSAGE_LEN];

    char                        error[CURL_ERROR_SIZE];

    unsigned                    busy:1;
    unsigned                    sending:1;
    unsigned                    grpc_details:1;
    unsigned                    has_retry_after:1;
    unsigned                    header_done:1;
    unsigned                    streamed:1;
} ngx_otel_export_t;


struct ngx_otel_exporter_s {
    ngx_otel_exporter_conf_t   *conf;
    ngx_otel_zone_ctx_t        *zone;

    ngx_event_t                 timer;
    ngx_event_t                 run;
    ngx_event_t                 drain;

    /* ev->data of the events, for the debug log's ngx_event_ident() */
    ngx_connection_t            dummy;

    /* a file line; the request body before gzip */
    ngx_otel_buf_t              buf;

    ngx_log_t                  *log;

    ngx_otel_attr_t             attrs[NGX_OTEL_SPAN_MAX_ATTRS];

    /* network endpoints */
    ngx_otel_curl_t            *curl;
    ngx_otel_otlp_t            *otlp;
    struct curl_slist          *headers;
    z_stream                   *zstream;
    char                       *cainfo;

    ngx_otel_export_t          *exports;
    ngx_uint_t                  nexports;
    ngx_uint_t                  nfree;

    /* tells of a graceful shutdown */
    ngx_connection_t           *watch;

    /* while exiting, records from here on are left to others */
    uint64_t                    limit;
    ngx_msec_t                  deadline;

    time_t                      retry_log_time;

    unsigned                    network:1;
    unsigned                    exiting:1;
    unsigned                    closed:1;
};


static ngx_int_t ngx_otel_exporter_init_network(ngx_cycle_t *cycle,
    ngx_otel_exporter_t *exp);
static ngx_int_t ngx_otel_exporter_init_headers(ngx_otel_exporter_t *exp,
    ngx_pool_t *pool);
static ngx_int_t ngx_otel_exporter_init_export(ngx_otel_exporter_t *exp,
    ngx_otel_export_t *ex);
static void ngx_otel_exporter_init_watch(ngx_cycle_t *cycle,
    ngx_otel_exporter_t *exp);

static void ngx_otel_exporter_handler(ngx_event_t *ev);
static void ngx_otel_exporter_rearm(ngx_otel_exporter_t *exp);
static void ngx_otel_exporter_file_flush(ngx_otel_exporter_t *exp,
    ngx_uint_t batches);
static ngx_int_t ngx_otel_exporter_file(ngx_otel_exporter_t *exp,
    ngx_otel_batch_t *batch);

static void ngx_otel_exporter_export(ngx_otel_exporter_t *exp,
    ngx_uint_t all);
static ngx_int_t ngx_otel_exporter_encode(ngx_otel_exporter_t *exp,
    ngx_otel_export_t *ex);
static size_t ngx_otel_exporter_read(char *buf, size_t size, size_t nitems,
    void *data);
static int ngx_otel_exporter_seek(void *data, curl_off_t offset, int origin);
static ngx_int_t ngx_otel_exporter_json(ngx_otel_exporter_t *exp,
    ngx_otel_batch_t *batch, ngx_otel_buf_t *b, size_t off);
static ngx_int_t ngx_otel_exporter_protobuf(ngx_otel_exporter_t *exp,
    ngx_otel_batch_t *batch, ngx_otel_buf_t *b, size_t off);
static ngx_int_t ngx_otel_exporter_gzip(ngx_otel_exporter_t *exp,
    ngx_otel_buf_t *in, ngx_otel_buf_t *out, size_t off);
static void ngx_otel_exporter_send(ngx_otel_export_t *ex);
static void ngx_otel_exporter_retry_handler(ngx_event_t *ev);
static void ngx_otel_exporter_done(CURL *easy, CURLcode rc, void *data);
static ngx_int_t ngx_otel_exporter_result(ngx_otel_export_t *ex,
    CURLcode rc, u_char *text, size_t len);
static void ngx_otel_exporter_success(ngx_otel_export_t *ex);
static void ngx_otel_exporter_free(ngx_otel_export_t *ex);
static ngx_msec_t ngx_otel_exporter_backoff(ngx_otel_export_t *ex);
static size_t ngx_otel_exporter_header(char *buffer, size_t size,
    size_t nitems, void *userdata);
static void ngx_otel_exporter_retry_after(ngx_otel_export_t *ex, u_char *p,
    u_char *last);
static size_t ngx_otel_exporter_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);
static void ngx_otel_exporter_json_partial(u_char *p, size_t len,
    ngx_otel_otlp_partial_t *partial);
#if (NGX_DEBUG)
static int ngx_otel_exporter_debug(CURL *easy, curl_infotype type,
    char *data, size_t size, void *userp);
#endif
static ngx_uint_t ngx_otel_exporter_curl_retryable(CURLcode rc);
static ngx_uint_t ngx_otel_exporter_grpc_retryable(ngx_otel_export_t *ex);

static void ngx_otel_exporter_shutdown_handler(ngx_event_t *ev);
static void ngx_otel_exporter_drain_handler(ngx_event_t *ev);
static void ngx_otel_exporter_drained(ngx_otel_exporter_t *exp);
static void ngx_otel_exporter_close(void *data);
static void ngx_otel_exporter_abort(ngx_otel_exporter_t *exp);

static u_char *ngx_otel_exporter_reserve(ngx_otel_buf_t *b, size_t used,
    size_t more, ngx_log_t *log);
static size_t ngx_otel_exporter_copy_text(u_char *dst, size_t size,
    u_char *src, size_t len);


ngx_int_t
ngx_otel_exporter_init_process(ngx_cycle_t *cycle,
    ngx_otel_exporter_conf_t *ecf)
{
    ngx_otel_exporter_t  *exp;

    exp = ngx_pcalloc(cycle->pool, sizeof(ngx_otel_exporter_t));
    if (exp == NULL) {
        return NGX_ERROR;
    }

    exp->conf = ecf;
    exp->zone = ecf->shm_zone->data;
    exp->log = cycle->log;

    exp->dummy.fd = (ngx_socket_t) -1;
    exp->dummy.data = exp;

    exp->timer.handler = ngx_otel_exporter_handler;
    exp->timer.data = &exp->dummy;
    exp->timer.log = cycle->log;
    exp->timer.cancelable = 1;

    exp->run = exp->timer;

    /* the only timer that holds an exiting worker, for "timeout" at most */

    exp->drain.handler = ngx_otel_exporter_drain_handler;
    exp->drain.data = &exp->dummy;
    exp->drain.log = cycle->log;
    exp->drain.cancelable = 0;

    ecf->worker = exp;

    if (ecf->file == NULL) {
        if (ngx_otel_curl_check(cycle->log) != NGX_OK) {
            /* the worker runs, spans queue up and are dropped when full */
            return NGX_OK;
        }

        if (ngx_otel_exporter_init_network(cycle, exp) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* what the old workers left, or a dead worker's claims */

    ngx_otel_exporter_rearm(exp);

    return NGX_OK;
}


static ngx_int_t
ngx_otel_exporter_init_network(ngx_cycle_t *cycle, ngx_otel_exporter_t *exp)
{
    ngx_uint_t                 i;
    ngx_otel_exporter_conf_t  *ecf;

    ecf = exp->conf;

    exp->curl = ngx_otel_curl_create(cycle->pool, cycle->log,
                                     ngx_otel_exporter_done,
                                     ngx_otel_exporter_close, exp);
    if (exp->curl == NULL) {
        return NGX_ERROR;
    }

    if (ecf->protocol != NGX_OTEL_PROTOCOL_HTTP_JSON) {
        exp->otlp = ngx_otel_otlp_create(cycle->pool, ecf->resource);
        if (exp->otlp == NULL) {
            return NGX_ERROR;
        }
    }

    if (ecf->trusted_certificate.len) {
        exp->cainfo = (char *) ngx_pnalloc(cycle->pool,
                                           ecf->trusted_certificate.len + 1);
        if (exp->cainfo == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_cpystrn((u_char *) exp->cainfo,
                           ecf->trusted_certificate.data,
                           ecf->trusted_certificate.len + 1);
    }

    if (ngx_otel_exporter_init_headers(exp, cycle->pool) != NGX_OK) {
        return NGX_ERROR;
    }

    exp->nexports = ecf->batch_count;

    exp->exports = ngx_pcalloc(cycle->pool,
                               exp->nexports * sizeof(ngx_otel_export_t));
    if (exp->exports == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < exp->nexports; i++) {
        if (ngx_otel_exporter_init_export(exp, &exp->exports[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    exp->nfree = exp->nexports;
    exp->network = 1;

    ngx_otel_exporter_init_watch(cycle, exp);

    return NGX_OK;
}


static ngx_int_t
ngx_otel_exporter_init_headers(ngx_otel_exporter_t *exp, ngx_pool_t *pool)
{
    char                     **fixed;
    u_char                    *p, *line;
    size_t                     len;
    ngx_uint_t                 i, n;
    ngx_keyval_t              *h;
    struct curl_slist         *list;
    ngx_otel_exporter_conf_t  *ecf;

    static char  *grpc[] = {
        "Content-Type: application/grpc",
        "TE: trailers",
        NULL
    };

    static char  *protobuf[] = {
        "Content-Type: application/x-protobuf",
        NULL
    };

    static char  *json[] = {
        "Content-Type: application/json",
        NULL
    };

    ecf = exp->conf;

    switch (ecf->protocol) {

    case NGX_OTEL_PROTOCOL_GRPC:
        fixed = grpc;
        break;

    case NGX_OTEL_PROTOCOL_HTTP_PROTOBUF:
        fixed = protobuf;
        break;

    default: /* NGX_OTEL_PROTOCOL_HTTP_JSON */
        fixed = json;
        break;
    }

    for (i = 0; fixed[i]; i++) {
        list = curl_slist_append(exp->headers, fixed[i]);
        if (list == NULL) {
            goto failed;
        }

        exp->headers = list;
    }

    if (ecf->compression == NGX_OTEL_COMPRESSION_GZIP) {
        list = curl_slist_append(exp->headers,
                                 ecf->protocol == NGX_OTEL_PROTOCOL_GRPC
                                 ? "grpc-encoding: gzip"
                                 : "Content-Encoding: gzip");
        if (list == NULL) {
            goto failed;
        }

        exp->headers = list;
    }

    /* no "Expect: 100-continue" round trip before large bodies */

    list = curl_slist_append(exp->headers, "Expect:");
    if (list == NULL) {
        goto failed;
    }

    exp->headers = list;

    n = ecf->headers ? ecf->headers->nelts : 0;
    h = n ? ecf->headers->elts : NULL;

    for (i = 0; i < n; i++) {
        len = h[i].key.len + sizeof(": ") - 1 + h[i].value.len + 1;

        line = ngx_pnalloc(pool, len);
        if (line == NULL) {
            return NGX_ERROR;
        }

        /* "Name;" is how curl sends a header with an empty value */

        if (h[i].value.len) {
            p = ngx_sprintf(line, "%V: %V", &h[i].key, &h[i].value);

        } else {
            p = ngx_sprintf(line, "%V;", &h[i].key);
        }

        *p = '\0';

        list = curl_slist_append(exp->headers, (char *) line);
        if (list == NULL) {
            goto failed;
        }

        exp->headers = list;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_CRIT, exp->log, 0, "curl_slist_append() failed");
    return NGX_ERROR;
}


static ngx_int_t
ngx_otel_exporter_init_export(ngx_otel_exporter_t *exp, ngx_otel_export_t *ex)
{
    long                       version;
    CURL                      *easy;
    ngx_otel_exporter_conf_t  *ecf;

    ecf = exp->conf;

    ex->exporter = exp;

    ex->dummy.fd = (ngx_socket_t) -1;
    ex->dummy.data = ex;

    ex->retry.handler = ngx_otel_exporter_retry_handler;
    ex->retry.data = &ex->dummy;
    ex->retry.log = exp->log;
    ex->retry.cancelable = 1;

    easy = curl_easy_init();
    if (easy == NULL) {
        ngx_log_error(NGX_LOG_CRIT, exp->log, 0, "curl_easy_init() failed");
        return NGX_ERROR;
    }

    ex->easy = easy;

    if (ecf->protocol == NGX_OTEL_PROTOCOL_GRPC) {
        /* h2c for http://, ALPN "h2" for https:// */
        version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;

    } else if (ecf->tls) {
        version = CURL_HTTP_VERSION_2TLS;

    } else {
        version = CURL_HTTP_VERSION_1_1;
    }

    if (curl_easy_setopt(easy, CURLOPT_URL, ecf->url.data) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, version) != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_CRIT, exp->log, 0,
                      "otel exporter: libcurl does not support \"%V\"%s",
                      &ecf->url,
                      ecf->protocol == NGX_OTEL_PROTOCOL_GRPC
                      ? " over HTTP/2" : "");
        return NGX_ERROR;
    }

    curl_easy_setopt(easy, CURLOPT_PRIVATE, ex);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) ecf->timeout);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) ecf->timeout);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, exp->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, NGX_OTEL_USER_AGENT);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, ngx_otel_exporter_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, ex);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, ngx_otel_exporter_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, ex);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, ex->error);

#if (LIBCURL_VERSION_NUM >= 0x075700)
    /*
     * a transfer given up while its name is being resolved (its timeout,
     * our exit) must not wait for the resolver thread: it is left to end
     * on its own
     */
    curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
#endif

#if (NGX_DEBUG)
    if (exp->log->log_level & NGX_LOG_DEBUG_EVENT) {
        curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, ngx_otel_exporter_debug);
        curl_easy_setopt(easy, CURLOPT_DEBUGDATA, exp);
        curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
    }
#endif

    if (exp->cainfo) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, exp->cainfo);
    }

    /*
     * libcurl before 8.0 fails the second request on a reused HTTP/2
     * connection made with prior knowledge ("Error in the HTTP2 framing
     * layer"): a connection per request there
     */

    if (version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE && !ecf->tls
        && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
    {
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    }

    return NGX_OK;
}


static void
ngx_otel_exporter_init_watch(ngx_cycle_t *cycle, ngx_otel_exporter_t *exp)
{
    ngx_fd_t           fd;
    ngx_connection_t  *c;

    fd = ngx_open_file("/dev/null", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      ngx_open_file_n " \"/dev/null\" failed, spans queued "
                      "at a graceful shutdown will not be exported by this "
                      "worker");
        return;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        (void) ngx_close_file(fd);
        return;
    }

    c->data = exp;
    c->log = cycle->log;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->read->handler = ngx_otel_exporter_shutdown_handler;
    c->write->handler = ngx_otel_exporter_shutdown_handler;
    c->idle = 1;

    exp->watch = c;
}


void
ngx_otel_exporter_notify(ngx_otel_exporter_conf_t *ecf)
{
    ngx_msec_int_t        left;
    ngx_otel_exporter_t  *exp;

    exp = ecf->worker;

    if (exp == NULL) {
        return;
    }

    if (!exp->timer.timer_set && !exp->exiting) {
        ngx_add_timer(&exp->timer, ecf->interval);
    }

    if (exp->run.posted) {
        return;
    }

    if (exp->exiting) {

        /* a request that ends during the shutdown: its span goes too */

        left = (ngx_msec_int_t) (exp->deadline - ngx_current_msec);

        if (exp->closed || left <= 0) {
            return;
        }

        exp->limit = ngx_otel_shm_tail(exp->zone);

        if (!exp->drain.timer_set) {
            ngx_add_timer(&exp->drain, (ngx_msec_t) left);
        }

        ngx_post_event(&exp->run, &ngx_posted_events);
        return;
    }

    if (ecf->file == NULL && exp->nfree == 0) {
        return;
    }

    /*
     * a full batch waits, or a zone smaller than two batches fills up:
     * its spans would be dropped long before the timer
     */

    if (ngx_otel_shm_ready(exp->zone, ecf->batch_size)) {
        ngx_post_event(&exp->run, &ngx_posted_events);
    }
}


void
ngx_otel_exporter_exit_process(ngx_otel_exporter_conf_t *ecf)
{
    ngx_fd_t              fd;
    ngx_uint_t            i;
    ngx_otel_export_t    *ex;
    ngx_otel_exporter_t  *exp;

    exp = ecf->worker;

    if (exp == NULL) {
        return;
    }

    if (ecf->file) {
        /* a file write does not need the event loop: drain all that is left */
        ngx_otel_exporter_file_flush(exp, NGX_MAX_UINT32_VALUE);
        return;
    }

    if (!exp->network) {
        return;
    }

    ngx_otel_exporter_abort(exp);

    ngx_otel_curl_destroy(exp->curl);

    for (i = 0; i < exp->nexports; i++) {
        ex = &exp->exports[i];

        curl_easy_cleanup(ex->easy);

        ngx_otel_otlp_stream_free(&ex->stream);

        if (ex->body.data) {
            ngx_free(ex->body.data);
        }

        if (ex->response.data) {
            ngx_free(ex->response.data);
        }
    }

    curl_slist_free_all(exp->headers);

    if (exp->zstream) {
        (void) deflateEnd(exp->zstream);
        ngx_free(exp->zstream);
    }

    if (exp->buf.data) {
        ngx_free(exp->buf.data);
    }

    if (exp->watch) {
        fd = exp->watch->fd;
        ngx_free_connection(exp->watch);
        exp->watch->fd = (ngx_socket_t) -1;
        (void) ngx_close_file(fd);
    }

    exp->network = 0;
}


static void
ngx_otel_exporter_handler(ngx_event_t *ev)
{
    ngx_uint_t            spans;
    ngx_connection_t     *c;
    ngx_otel_exporter_t  *exp;

    c = ev->data;
    exp = c->data;

    if (ev == &exp->timer) {
        spans = ngx_otel_shm_reclaim(exp->zone);

        if (spans) {
            ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                          "otel exporter: %ui spans claimed by a worker "
                          "that is gone are queued again", spans);
        }
    }

    if (exp->conf->file) {
        ngx_otel_exporter_file_flush(exp, exp->conf->batch_count);

        if (ngx_exiting || ngx_terminate || ngx_quit) {
            return;
        }

        if (ev == &exp->timer) {
            ngx_otel_exporter_rearm(exp);
        }

        if (!exp->run.posted
            && ngx_otel_shm_ready(exp->zone, exp->conf->batch_size))
        {
            ngx_post_event(&exp->run, &ngx_posted_events);
        }

        return;
    }

    if (!exp->network || exp->closed) {
        return;
    }

    /*
     * the timer sends all that waits, a posted run full batches only, or
     * any while the zone fills up
     */

    ngx_otel_exporter_export(exp, ev == &exp->timer || exp->exiting);

    if (ev == &exp->timer) {
        ngx_otel_exporter_rearm(exp);
    }
}


/*
 * The timer runs while the zone holds spans, queued or on their way: an
 * idle worker's timer would only make every other timer it sets (a
 * request's keepalive one, for one) dearer to add to the tree.  The
 * request path sets it again when it queues a span
 * (ngx_otel_exporter_notify()); in the meantime another worker's timer
 * exports what it queues, and a new worker's first timer what is left.
 */

static void
ngx_otel_exporter_rearm(ngx_otel_exporter_t *exp)
{
    if (!ngx_otel_shm_empty(exp->zone)) {
        ngx_add_timer(&exp->timer, exp->conf->interval);
    }
}


static void
ngx_otel_exporter_file_flush(ngx_otel_exporter_t *exp, ngx_uint_t batches)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_otel_batch_t  batch;

    for (i = 0; i < batches; i++) {

        if (ngx_otel_shm_claim(exp->zone, exp->conf->batch_size,
                               NGX_OTEL_SHM_NO_LIMIT,
                               ngx_time() + NGX_OTEL_EXPORT_EXPIRE_MARGIN,
                               &batch)
            != NGX_OK)
        {
            return;
        }

        rc = ngx_otel_exporter_file(exp, &batch);

        ngx_otel_shm_count_request(exp->zone, rc != NGX_OK, 0);

        if (rc == NGX_OK) {
            (void) ngx_otel_shm_release(exp->zone, &batch, batch.nspans, 0);

        } else {
            (void) ngx_otel_shm_release(exp->zone, &batch, 0, batch.nspans);
        }
    }
}


static ngx_int_t
ngx_otel_exporter_file(ngx_otel_exporter_t *exp, ngx_otel_batch_t *batch)
{
    u_char   *p;
    ssize_t   n;

    if (ngx_otel_exporter_json(exp, batch, &exp->buf, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_otel_exporter_reserve(&exp->buf, exp->buf.len, 1, exp->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = LF;
    exp->buf.len++;

    /* one write() per line: O_APPEND keeps lines of workers apart */

    n = ngx_write_fd(exp->conf->file->fd, exp->buf.data, exp->buf.len);

    if (n != (ssize_t) exp->buf.len) {
        ngx_log_error(NGX_LOG_ERR, exp->log, n == -1 ? ngx_errno : 0,
                      "otel exporter: " ngx_write_fd_n " to \"%V\" failed, "
                      "%ui spans lost", &exp->conf->file->name,
                      batch->nspans);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Fills the free slots with claimed batches and sends them; "all" takes
 * a partial batch too, otherwise only full batches go before the timer,
 * or any while the zone fills up.
 */

static void
ngx_otel_exporter_export(ngx_otel_exporter_t *exp, ngx_uint_t all)
{
    time_t                     expire;
    uint64_t                   limit;
    ngx_uint_t                 i, nspans;
    ngx_otel_export_t         *ex;
    ngx_otel_exporter_conf_t  *ecf;

    ecf = exp->conf;
    limit = exp->exiting ? exp->limit : NGX_OTEL_SHM_NO_LIMIT;

    for (i = 0; i < exp->nexports && exp->nfree && !exp->closed; i++) {
        ex = &exp->exports[i];

        if (ex->busy) {
            continue;
        }

        if (!all && !ngx_otel_shm_ready(exp->zone, ecf->batch_size)) {
            break;
        }

        expire = ngx_time() + (time_t) (ecf->timeout / 1000)
                 + NGX_OTEL_EXPORT_EXPIRE_MARGIN;

        if (ngx_otel_shm_claim(exp->zone, ecf->batch_size, limit, expire,
                               &ex->batch)
            != NGX_OK)
        {
            break;
        }

        ex->busy = 1;
        ex->attempts = 0;
        exp->nfree--;

        if (ngx_otel_exporter_encode(exp, ex) != NGX_OK) {
            nspans = ex->batch.nspans;

            ngx_log_error(NGX_LOG_ERR, exp->log, 0,
                          "otel exporter: could not encode %ui spans, "
                          "dropped", nspans);

            (void) ngx_otel_shm_release(exp->zone, &ex->batch, 0, nspans);
            ngx_otel_exporter_free(ex);
            continue;
        }

        ngx_otel_exporter_send(ex);
    }

    if (exp->exiting) {
        ngx_otel_exporter_drained(exp);
    }
}


static ngx_int_t
ngx_otel_exporter_encode(ngx_otel_exporter_t *exp, ngx_otel_export_t *ex)
{
    u_char                    *p;
    size_t                     frame, n;
    ngx_int_t                  rc;
    ngx_uint_t                 gzip;
    ngx_otel_buf_t            *raw;
    ngx_otel_exporter_conf_t  *ecf;

    ecf = exp->conf;

    gzip = (ecf->compression == NGX_OTEL_COMPRESSION_GZIP);
    frame = (ecf->protocol == NGX_OTEL_PROTOCOL_GRPC)
            ? NGX_OTEL_GRPC_HEADER_LEN : 0;

    /*
     * encoded in place, with room for the gRPC message prefix before it,
     * or in the worker's buffer and compressed from there
     */

    raw = gzip ? &exp->buf : &ex->body;

    ex->streamed = (!gzip && ecf->protocol != NGX_OTEL_PROTOCOL_HTTP_JSON);

    if (ex->streamed) {
        if (ngx_otel_otlp_stream_init(&ex->stream, exp->otlp, exp->zone,
                                      &ex->batch, frame != 0, exp->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ex->body.len = ex->stream.size;

        return NGX_OK;
    }

    if (ecf->protocol == NGX_OTEL_PROTOCOL_HTTP_JSON) {
        rc = ngx_otel_exporter_json(exp, &ex->batch, raw, gzip ? 0 : frame);

    } else {
        rc = ngx_otel_exporter_protobuf(exp, &ex->batch, raw,
                                        gzip ? 0 : frame);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (gzip) {
        if (ngx_otel_exporter_gzip(exp, raw, &ex->body, frame) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (frame) {

        /* the gRPC message prefix: compressed flag, big-endian length */

        n = ex->body.len;

        ex->body.start -= NGX_OTEL_GRPC_HEADER_LEN;
        ex->body.len += NGX_OTEL_GRPC_HEADER_LEN;

        p = ex->body.data + ex->body.start;

        p[0] = gzip ? 1 : 0;
        p[1] = (u_char) (n >> 24);
        p[2] = (u_char) (n >> 16);
        p[3] = (u_char) (n >> 8);
        p[4] = (u_char) n;
    }

    return NGX_OK;
}


/* the content starts at "off" or later: "off" bytes are left before it */

static ngx_int_t
ngx_otel_exporter_json(ngx_otel_exporter_t *exp, ngx_otel_batch_t *batch,
    ngx_otel_buf_t *b, size_t off)
{
    u_char                  *p;
    size_t                   size;
    uint64_t                 pos;
    ngx_uint_t               first;
    ngx_otel_span_t          span;
    ngx_otel_span_record_t  *rec;

    size = ngx_otel_otlp_json_begin_size(exp->conf->resource);

    p = ngx_otel_exporter_reserve(b, off, size, exp->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_otel_otlp_json_begin(p, exp->conf->resource);

    first = 1;
    pos = batch->start;

    while ((rec = ngx_otel_shm_next(exp->zone, batch, &pos)) != NULL) {
        ngx_otel_span_record_read(rec, &span, exp->attrs);

        p = ngx_otel_exporter_reserve(b, p - b->data,
                                      ngx_otel_otlp_json_span_size(&span),
                                      exp->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_otel_otlp_json_span(p, &span, first);
        first = 0;
    }

    p = ngx_otel_exporter_reserve(b, p - b->data,
                                  ngx_otel_otlp_json_end_size(), exp->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_otel_otlp_json_end(p);

    b->start = off;
    b->len = p - b->data - off;

    return NGX_OK;
}


static ngx_int_t
ngx_otel_exporter_protobuf(ngx_otel_exporter_t *exp, ngx_otel_batch_t *batch,
    ngx_otel_buf_t *b, size_t off)
{
    u_char                  *p;
    size_t                   first, used;
    uint64_t                 pos;
    ngx_otel_span_t          span;
    ngx_otel_span_record_t  *rec;

    /* the spans, then the envelope in the room left before them */

    first = off + ngx_otel_otlp_headroom(exp->otlp);
    used = first;

    if (ngx_otel_exporter_reserve(b, 0, first, exp->log) == NULL) {
        return NGX_ERROR;
    }

    pos = batch->start;

    while ((rec = ngx_otel_shm_next(exp->zone, batch, &pos)) != NULL) {
        ngx_otel_span_record_view(rec, &span, exp->attrs);

        p = ngx_otel_otlp_span(b->data + used, b->data + b->size, &span);

        if (p == NULL) {
            p = ngx_otel_exporter_reserve(b, used,
                                          ngx_otel_otlp_span_size(&span),
                                          exp->log);
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_otel_otlp_span(p, b->data + b->size, &span);

            if (p == NULL) {
                ngx_log_error(NGX_LOG_ALERT, exp->log, 0,
                              "otel span larger than its size");
                return NGX_ERROR;
            }
        }

        used = p - b->data;
    }

    p = ngx_otel_otlp_envelope(exp->otlp, b->data + first, used - first);

    b->start = p - b->data;
    b->len = used - b->start;

    return NGX_OK;
}


static ngx_int_t
ngx_otel_exporter_gzip(ngx_otel_exporter_t *exp, ngx_otel_buf_t *in,
    ngx_otel_buf_t *out, size_t off)
{
    int        rc;
    u_char    *p;
    size_t     bound;
    z_stream  *zs;

    zs = exp->zstream;

    if (zs == NULL) {
        zs = ngx_calloc(sizeof(z_stream), exp->log);
        if (zs == NULL) {
            return NGX_ERROR;
        }

        /* a gzip wrapper: windowBits + 16 */

        rc = deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                          MAX_WBITS + 16, MAX_MEM_LEVEL - 1,
                          Z_DEFAULT_STRATEGY);

        if (rc != Z_OK) {
            ngx_log_error(NGX_LOG_ALERT, exp->log, 0,
                          "deflateInit2() failed: %d", rc);
            ngx_free(zs);
            return NGX_ERROR;
        }

        exp->zstream = zs;

    } else {
        rc = deflateReset(zs);

        if (rc != Z_OK) {
            ngx_log_error(NGX_LOG_ALERT, exp->log, 0,
                          "deflateReset() failed: %d", rc);
            return NGX_ERROR;
        }
    }

    bound = deflateBound(zs, in->len);

    p = ngx_otel_exporter_reserve(out, off, bound, exp->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    zs->next_in = in->data + in->start;
    zs->avail_in = in->len;
    zs->next_out = p;
    zs->avail_out = bound;

    rc = deflate(zs, Z_FINISH);

    if (rc != Z_STREAM_END) {
        ngx_log_error(NGX_LOG_ALERT, exp->log, 0,
                      "deflate() failed: %d", rc);
        return NGX_ERROR;
    }

    out->start = off;
    out->len = zs->total_out;

    return NGX_OK;
}


static void
ngx_otel_exporter_send(ngx_otel_export_t *ex)
{
    time_t                     expire;
    ngx_otel_exporter_t       *exp;
    ngx_otel_exporter_conf_t  *ecf;

    exp = ex->exporter;
    ecf = exp->conf;

    expire = ngx_time() + (time_t) (ecf->timeout / 1000)
             + NGX_OTEL_EXPORT_EXPIRE_MARGIN;

    if (ngx_otel_shm_touch(exp->zone, &ex->batch, expire) != NGX_OK) {

        /* another exporter took the batch over: it is theirs now */

        ngx_log_error(NGX_LOG_NOTICE, exp->log, 0,
                      "otel exporter: a batch of %ui spans was taken over "
                      "by another worker", ex->batch.nspans);
        ngx_otel_exporter_free(ex);
        return;
    }

    ex->attempts++;
    ex->grpc_status = -1;
    ex->header_done = 0;
    ex->grpc_details = 0;
    ex->grpc_message_len = 0;
    ex->has_retry_after = 0;
    ex->response.len = 0;
    ex->error[0] = '\0';

    if (ex->streamed) {
        ngx_otel_otlp_stream_rewind(&ex->stream);

        curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(ex->easy, CURLOPT_READFUNCTION,
                         ngx_otel_exporter_read);
        curl_easy_setopt(ex->easy, CURLOPT_READDATA, ex);
        curl_easy_setopt(ex->easy, CURLOPT_SEEKFUNCTION,
                         ngx_otel_exporter_seek);
        curl_easy_setopt(ex->easy, CURLOPT_SEEKDATA, ex);

    } else {
        curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDS,
                         ex->body.data + ex->body.start);
    }

    curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) ex->body.len);

    if (ngx_otel_curl_add(exp->curl, ex->easy) != NGX_OK) {
        ngx_otel_shm_count_request(exp->zone, 1, 0);
        (void) ngx_otel_shm_release(exp->zone, &ex->batch, 0,
                                    ex->batch.nspans);
        ngx_otel_exporter_free(ex);
        return;
    }

    ex->sending = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, exp->log, 0,
                   "otel exporter: sending %ui spans, %uz bytes, attempt %ui",
                   ex->batch.nspans, ex->body.len, ex->attempts);
}


/*
 * libcurl takes the body from here, the batch's records encoded right into
 * its buffer.  The batch is ours while its request runs: a claim expires
 * NGX_OTEL_EXPORT_EXPIRE_MARGIN seconds after the request's timeout.
 */

static size_t
ngx_otel_exporter_read(char *buf, size_t size, size_t nitems, void *data)
{
    ssize_t             n;
    ngx_otel_export_t  *ex;

    ex = data;

    n = ngx_otel_otlp_stream_read(&ex->stream, (u_char *) buf, size * nitems);

    if (n == NGX_ERROR) {
        return CURL_READFUNC_ABORT;
    }

    return (size_t) n;
}


/* to send the body again on a new connection, libcurl rewinds it */

static int
ngx_otel_exporter_seek(void *data, curl_off_t offset, int origin)
{
    ngx_otel_export_t  *ex;

    ex = data;

    if (origin != SEEK_SET || offset != 0) {
        return CURL_SEEKFUNC_CANTSEEK;
    }

    ngx_otel_otlp_stream_rewind(&ex->stream);

    return CURL_SEEKFUNC_OK;
}


static void
ngx_otel_exporter_retry_handler(ngx_event_t *ev)
{
    ngx_connection_t   *c;
    ngx_otel_export_t  *ex;

    c = ev->data;
    ex = c->data;

    if (ex->exporter->closed) {
        return;
    }

    ngx_otel_exporter_send(ex);
}


static void
ngx_otel_exporter_done(CURL *easy, CURLcode rc, void *data)
{
    ngx_otel_export_t *ex = data;

    u_char                     text[NGX_OTEL_EXPORT_TEXT_LEN];
    time_t                     expire;
    ngx_int_t                  result;
    ngx_uint_t                 nspans;
    ngx_msec_t                 delay;
    ngx_otel_exporter_t       *exp;
    ngx_otel_exporter_conf_t  *ecf;

    exp = ex->exporter;
    ecf = exp->conf;
    nspans = ex->batch.nspans;

    ex->sending = 0;

    result = ngx_otel_exporter_result(ex, rc, text, sizeof(text));

    if (result == NGX_OK) {
        ngx_otel_exporter_success(ex);
        goto next;
    }

    if (result == NGX_AGAIN && ex->attempts < NGX_OTEL_EXPORT_ATTEMPTS) {

        delay = ex->has_retry_after ? ex->retry_after
                                    : ngx_otel_exporter_backoff(ex);

        if (exp->exiting
            && (ngx_msec_int_t) (exp->deadline - ngx_current_msec - delay)
               <= 0)
        {
            /* no time left to retry: the spans wait in the zone */

            ngx_otel_shm_count_request(exp->zone, 1, 0);

            ngx_log_error(NGX_LOG_WARN, exp->log, 0,
                          "otel exporter: \"%V\" %s, %ui spans left in the "
                          "zone at exit", &ecf->url, text, nspans);

            (void) ngx_otel_shm_giveback(exp->zone, &ex->batch);
            ngx_otel_exporter_free(ex);
            goto next;
        }

        ngx_otel_shm_count_request(exp->zone, 1, 1);

        /* at most a line a second while the collector is away */

        if (exp->retry_log_time != ngx_time()) {
            exp->retry_log_time = ngx_time();

            ngx_log_error(NGX_LOG_WARN, exp->log, 0,
                          "otel exporter: \"%V\" %s, retrying %ui spans "
                          "in %M ms", &ecf->url, text, nspans, delay);
        }

        expire = ngx_time() + (time_t) ((delay + ecf->timeout) / 1000)
                 + NGX_OTEL_EXPORT_EXPIRE_MARGIN;

        if (ngx_otel_shm_touch(exp->zone, &ex->batch, expire) != NGX_OK) {
            ngx_otel_exporter_free(ex);
            goto next;
        }

        ngx_add_timer(&ex->retry, delay);
        return;
    }

    ngx_otel_shm_count_request(exp->zone, 1, 0);

    if (ex->attempts > 1) {
        ngx_log_error(NGX_LOG_ERR, exp->log, 0,
                      "otel exporter: \"%V\" %s, %ui spans dropped after "
                      "%ui attempts", &ecf->url, text, nspans, ex->attempts);

    } else {
        ngx_log_error(NGX_LOG_ERR, exp->log, 0,
                      "otel exporter: \"%V\" %s, %ui spans dropped",
                      &ecf->url, text, nspans);
    }

    (void) ngx_otel_shm_release(exp->zone, &ex->batch, 0, nspans);
    ngx_otel_exporter_free(ex);

next:

    /*
     * the freed slot takes the next batch; when exiting, the run decides
     * whether all is flushed, once it found nothing more to claim
     */

    if (!exp->closed && !exp->run.posted) {
        ngx_post_event(&exp->run, &ngx_posted_events);
    }
}


/*
 * NGX_OK on success; otherwise NGX_AGAIN if the failure is retryable,
 * NGX_DECLINED if not, and "text" describes it for the log.
 */

static ngx_int_t
ngx_otel_exporter_result(ngx_otel_export_t *ex, CURLcode rc, u_char *text,
    size_t len)
{
    long                       status;
    u_char                    *p, *last;
    ngx_uint_t                 retryable;
    ngx_otel_exporter_conf_t  *ecf;

    ecf = ex->exporter->conf;
    last = text + len - 1;

    if (rc != CURLE_OK) {
        p = ngx_snprintf(text, len - 1, "failed: %s",
                         ex->error[0] ? ex->error : curl_easy_strerror(rc));
        *p = '\0';

        return ngx_otel_exporter_curl_retryable(rc) ? NGX_AGAIN
                                                     : NGX_DECLINED;
    }

    /* libcurl 7.88 takes a connection closed within the header for an
     * answer: the collector may not have processed the request */

    if (!ex->header_done) {
        p = ngx_snprintf(text, len - 1, "failed: the answer was cut short "
                         "in its header");
        *p = '\0';

        return NGX_AGAIN;
    }

    status = 0;
    curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);

    if (status < 200 || status > 299) {
        retryable = (status == 429 || status == 502 || status == 503
                     || status == 504);

        if (!retryable || (status != 429 && status != 503)) {
            ex->has_retry_after = 0;
        }

        p = ngx_snprintf(text, len - 1, "answered %l", status);
        *p = '\0';

        return retryable ? NGX_AGAIN : NGX_DECLINED;
    }

    if (ecf->protocol != NGX_OTEL_PROTOCOL_GRPC) {
        return NGX_OK;
    }

    ex->has_retry_after = 0;

    if (ex->grpc_status == -1) {
        p = ngx_snprintf(text, len - 1, "answered without grpc-status");
        *p = '\0';

        return NGX_DECLINED;
    }

    if (ex->grpc_status == 0) {
        return NGX_OK;
    }

    p = ngx_snprintf(text, last - text, "answered grpc-status %i",
                     ex->grpc_status);

    if (ex->grpc_message_len) {
        p = ngx_snprintf(p, last - p, " \"%*s\"", ex->grpc_message_len,
                         ex->grpc_message);
    }

    *p = '\0';

    return ngx_otel_exporter_grpc_retryable(ex) ? NGX_AGAIN : NGX_DECLINED;
}


static void
ngx_otel_exporter_success(ngx_otel_export_t *ex)
{
    u_char                    *p;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_uint_t                 nspans, rejected;
    ngx_otel_exporter_t       *exp;
    ngx_otel_otlp_partial_t    partial;
    ngx_otel_exporter_conf_t  *ecf;

    exp = ex->exporter;
    ecf = exp->conf;
    nspans = ex->batch.nspans;

    p = ex->response.data;
    len = ex->response.len;

    partial.rejected = 0;
    partial.len = 0;
    rc = NGX_OK;

    if (ecf->protocol == NGX_OTEL_PROTOCOL_HTTP_JSON) {
        if (len) {
            ngx_otel_exporter_json_partial(p, len, &partial);
        }

    } else if (ecf->protocol == NGX_OTEL_PROTOCOL_GRPC) {

        /* an uncompressed message; we never ask for compressed answers */

        if (len > NGX_OTEL_GRPC_HEADER_LEN && p[0] == 0) {
            rc = ngx_otel_otlp_response(p + NGX_OTEL_GRPC_HEADER_LEN,
                                        len - NGX_OTEL_GRPC_HEADER_LEN,
                                        &partial);
        }

    } else if (len) {
        rc = ngx_otel_otlp_response(p, len, &partial);
    }

    if (rc != NGX_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, exp->log, 0,
                       "otel exporter: response is not an "
                       "ExportTraceServiceResponse");
        partial.rejected = 0;
        partial.len = 0;
    }

    rejected = 0;

    if (partial.rejected > 0 || partial.len) {
        rejected = (partial.rejected < 0) ? 0
                   : (ngx_uint_t) ngx_min((uint64_t) partial.rejected,
                                          (uint64_t) nspans);

        partial.len = ngx_otel_exporter_copy_text(partial.message,
                                                  sizeof(partial.message),
                                                  partial.message,
                                                  partial.len);

        ngx_log_error(NGX_LOG_WARN, exp->log, 0,
                      "otel exporter: partial success, %L spans rejected: "
                      "%*s", partial.rejected, partial.len, partial.message);
    }

    ngx_otel_shm_count_request(exp->zone, 0, 0);
    (void) ngx_otel_shm_release(exp->zone, &ex->batch, nspans - rejected,
                                rejected);
    ngx_otel_exporter_free(ex);
}


static void
ngx_otel_exporter_free(ngx_otel_export_t *ex)
{
    if (ex->retry.timer_set) {
        ngx_del_timer(&ex->retry);
    }

    ex->busy = 0;
    ex->exporter->nfree++;
}


/* 1, 2, 4, ... seconds up to 30, each between half and all of it */

static ngx_msec_t
ngx_otel_exporter_backoff(ngx_otel_export_t *ex)
{
    ngx_msec_t  delay;
    ngx_uint_t  n;

    n = ngx_min(ex->attempts - 1, 15);

    delay = ngx_min((ngx_msec_t) NGX_OTEL_EXPORT_BACKOFF << n,
                    (ngx_msec_t) NGX_OTEL_EXPORT_BACKOFF_MAX);

    return delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);
}


static size_t
ngx_otel_exporter_header(char *buffer, size_t size, size_t nitems,
    void *userdata)
{
    ngx_otel_export_t *ex = userdata;

    u_char     *p, *last, *name, *value;
    size_t      len, n;
    ngx_int_t   status;

    len = size * nitems;
    p = (u_char *) buffer;
    last = p + len;

    while (last > p && (last[-1] == CR || last[-1] == LF)) {
        last--;
    }

    /* the empty line that ends the header (or the trailers) */

    if (last == p) {
        ex->header_done = 1;
        return len;
    }

    if (last - p > 5 && ngx_strncmp(p, "HTTP/", 5) == 0) {

        /* a new response (after a "100 Continue"): forget the last one */

        ex->grpc_status = -1;
        ex->grpc_details = 0;
        ex->grpc_message_len = 0;
        ex->has_retry_after = 0;
        ex->header_done = 0;
        return len;
    }

    name = p;

    p = ngx_strlchr(p, last, ':');
    if (p == NULL) {
        return len;
    }

    n = p - name;

    for (p++; p < last && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    value = p;

    while (last > value && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (n == sizeof("grpc-status") - 1
        && ngx_strncasecmp(name, (u_char *) "grpc-status", n) == 0)
    {
        status = ngx_atoi(value, last - value);
        ex->grpc_status = (status == NGX_ERROR) ? 2 /* UNKNOWN */ : status;

    } else if (n == sizeof("grpc-message") - 1
               && ngx_strncasecmp(name, (u_char *) "grpc-message", n) == 0)
    {
        ex->grpc_message_len = ngx_otel_exporter_copy_text(
                                   ex->grpc_message,
                                   sizeof(ex->grpc_message),
                                   value, last - value);

    } else if (n == sizeof("grpc-status-details-bin") - 1
               && ngx_strncasecmp(name, (u_char *) "grpc-status-details-bin",
                                  n) == 0)
    {
        ex->grpc_details = 1;

    } else if (n == sizeof("retry-after") - 1
               && ngx_strncasecmp(name, (u_char *) "retry-after", n) == 0)
    {
        ngx_otel_exporter_retry_after(ex, value, last);
    }

    return len;
}


/* "Retry-After: 120" or "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT" */

static void
ngx_otel_exporter_retry_after(ngx_otel_export_t *ex, u_char *p, u_char *last)
{
    time_t     t;
    ngx_int_t  n;

    if (p == last) {
        return;
    }

    n = ngx_atoi(p, last - p);

    if (n == NGX_ERROR) {
        t = ngx_parse_http_time(p, last - p);

        if (t == NGX_ERROR) {
            return;
        }

        n = (t > ngx_time()) ? (ngx_int_t) (t - ngx_time()) : 0;
    }

    ex->retry_after = (n >= NGX_OTEL_EXPORT_RETRY_AFTER_MAX / 1000)
                      ? NGX_OTEL_EXPORT_RETRY_AFTER_MAX
                      : (ngx_msec_t) n * 1000;
    ex->has_retry_after = 1;
}


static size_t
ngx_otel_exporter_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ngx_otel_export_t *ex = userdata;

    u_char  *p;
    size_t   len, n;

    len = size * nmemb;

    /* only the beginning of a large answer is kept */

    n = ngx_min(len, NGX_OTEL_EXPORT_RESPONSE_MAX - ex->response.len);

    if (n == 0) {
        return len;
    }

    p = ngx_otel_exporter_reserve(&ex->response, ex->response.len, n,
                                  ex->exporter->log);
    if (p == NULL) {
        return len;
    }

    ngx_memcpy(p, ptr, n);
    ex->response.len += n;

    return len;
}


/*
 * {"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}}: the two
 * fields are looked for, not parsed with the whole document.
 */

static void
ngx_otel_exporter_json_partial(u_char *p, size_t len,
    ngx_otel_otlp_partial_t *partial)
{
    u_char  *last, *s, *start;

    last = p + len;

    s = ngx_strlcasestrn(p, last, (u_char *) "\"rejectedSpans\"",
                         sizeof("\"rejectedSpans\"") - 2);

    if (s != NULL) {
        for (s += sizeof("\"rejectedSpans\"") - 1;
             s < last && (*s == ' ' || *s == ':' || *s == '"');
             s++)
        {
            /* void */
        }

        for (start = s; s < last && *s >= '0' && *s <= '9'; s++) {
            /* void */
        }

        if (s > start) {
            partial->rejected = ngx_atoof(start, s - start);
        }
    }

    s = ngx_strlcasestrn(p, last, (u_char *) "\"errorMessage\"",
                         sizeof("\"errorMessage\"") - 2);

    if (s == NULL) {
        return;
    }

    for (s += sizeof("\"errorMessage\"") - 1;
         s < last && (*s == ' ' || *s == ':');
         s++)
    {
        /* void */
    }

    if (s == last || *s != '"') {
        return;
    }

    for (start = ++s; s < last && *s != '"'; s++) {
        if (*s == '\\' && s + 1 < last) {
            s++;
        }
    }

    partial->len = ngx_min((size_t) (s - start), NGX_OTEL_OTLP_MESSAGE_LEN);
    ngx_memcpy(partial->message, start, partial->len);
}


#if (NGX_DEBUG)

/* curl's own account of the exchange, in the debug log */

static int
ngx_otel_exporter_debug(CURL *easy, curl_infotype type, char *data,
    size_t size, void *userp)
{
    ngx_otel_exporter_t *exp = userp;

    u_char        *eol;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    static char   *types[] = { "*", "<", ">" };

    if (type > CURLINFO_HEADER_OUT) {
        return 0;
    }

    /*
     * the request's headers carry the "header" values, auth tokens among
     * them: only its first line, the request line, goes to the log, and
     * no text of curl's own that repeats a value (HTTP/2 header dumps)
     */

    if (type == CURLINFO_HEADER_OUT) {
        eol = ngx_strlchr((u_char *) data, (u_char *) data + size, CR);

        if (eol != NULL) {
            size = eol - (u_char *) data;
        }
    }

    if (exp->conf->headers) {
        kv = exp->conf->headers->elts;

        for (i = 0; i < exp->conf->headers->nelts; i++) {
            if (kv[i].value.len
                && ngx_strlcasestrn((u_char *) data, (u_char *) data + size,
                                    kv[i].value.data, kv[i].value.len - 1)
                   != NULL)
            {
                ngx_log_debug1(NGX_LOG_DEBUG_EVENT, exp->log, 0,
                               "otel curl: %s (a configured header value, "
                               "not logged)", types[type]);
                return 0;
            }
        }
    }

    while (size && (data[size - 1] == CR || data[size - 1] == LF)) {
        size--;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, exp->log, 0,
                   "otel curl: %s %*s", types[type], size, data);

    return 0;
}

#endif


static ngx_uint_t
ngx_otel_exporter_curl_retryable(CURLcode rc)
{
    switch (rc) {

    /* what another try will not fix */

    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_FILESIZE_EXCEEDED:
        return 0;

    /* connection refused, reset, timeouts, name resolution, HTTP/2 */

    default:
        return 1;
    }
}


/*
 * The OTLP specification's retryable codes; RESOURCE_EXHAUSTED only
 * with details, where the server puts its RetryInfo.
 */

static ngx_uint_t
ngx_otel_exporter_grpc_retryable(ngx_otel_export_t *ex)
{
    switch (ex->grpc_status) {

    case NGX_OTEL_GRPC_CANCELLED:
    case NGX_OTEL_GRPC_DEADLINE_EXCEEDED:
    case NGX_OTEL_GRPC_ABORTED:
    case NGX_OTEL_GRPC_OUT_OF_RANGE:
    case NGX_OTEL_GRPC_UNAVAILABLE:
    case NGX_OTEL_GRPC_DATA_LOSS:
        return 1;

    case NGX_OTEL_GRPC_RESOURCE_EXHAUSTED:
        return ex->grpc_details;

    default:
        return 0;
    }
}


/* the worker starts a graceful shutdown, or closes all its connections */

static void
ngx_otel_exporter_shutdown_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_otel_exporter_t       *exp;
    ngx_otel_exporter_conf_t  *ecf;

    c = ev->data;
    exp = c->data;
    ecf = exp->conf;

    if (!c->close) {
        return;
    }

    c->close = 0;

    if (c->error || exp->exiting) {
        /* worker_shutdown_timeout */
        c->error = 0;
        ngx_otel_exporter_abort(exp);
        return;
    }

    exp->exiting = 1;

    if (exp->closed) {
        return;
    }

    exp->limit = ngx_otel_shm_tail(exp->zone);
    exp->deadline = ngx_current_msec + ecf->timeout;

    ngx_add_timer(&exp->drain, ecf->timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, exp->log, 0,
                   "otel exporter: flushing for %M ms", ecf->timeout);

    ngx_otel_exporter_export(exp, 1);
}


static void
ngx_otel_exporter_drain_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_otel_exporter_t  *exp;

    c = ev->data;
    exp = c->data;

    ngx_otel_exporter_abort(exp);
}


static void
ngx_otel_exporter_drained(ngx_otel_exporter_t *exp)
{
    if (exp->nfree == exp->nexports && exp->drain.timer_set) {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, exp->log, 0,
                       "otel exporter: flushed");

        ngx_del_timer(&exp->drain);
    }
}


static void
ngx_otel_exporter_close(void *data)
{
    ngx_otel_exporter_t *exp = data;

    ngx_otel_exporter_abort(exp);
}


/* gives up every request and gives the batches back to the zone */

static void
ngx_otel_exporter_abort(ngx_otel_exporter_t *exp)
{
    ngx_uint_t          i, n;
    ngx_otel_export_t  *ex;

    if (exp->closed) {
        return;
    }

    exp->closed = 1;

    n = 0;

    for (i = 0; i < exp->nexports; i++) {
        ex = &exp->exports[i];

        if (!ex->busy) {
            continue;
        }

        if (ex->sending) {
            ngx_otel_curl_remove(exp->curl, ex->easy);
            ex->sending = 0;
        }

        if (ngx_otel_shm_giveback(exp->zone, &ex->batch) == NGX_OK) {
            n += ex->batch.nspans;
        }

        ngx_otel_exporter_free(ex);
    }

    if (exp->drain.timer_set) {
        ngx_del_timer(&exp->drain);
    }

    if (exp->timer.timer_set) {
        ngx_del_timer(&exp->timer);
    }

    if (exp->run.posted) {
        ngx_delete_posted_event(&exp->run);
    }

    if (n) {
        ngx_log_error(NGX_LOG_WARN, exp->log, 0,
                      "otel exporter: %ui spans not exported by this worker "
                      "are left in the zone", n);
    }

    /* new workers of a reload export these; a stopping nginx loses them */

    n = ngx_otel_shm_pending(exp->zone);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, exp->log, 0,
                      "otel exporter: %ui spans still queued in the zone "
                      "when this worker exits", n);
    }
}


/* the buffer grows to the largest batch seen, off the request path */

static u_char *
ngx_otel_exporter_reserve(ngx_otel_buf_t *b, size_t used, size_t more,
    ngx_log_t *log)
{
    u_char  *data;
    size_t   size;

    if (used + more <= b->size) {
        return b->data + used;
    }

    size = ngx_max(b->size * 2, used + more);
    size = ngx_max(size, 16 * 1024);

    data = ngx_alloc(size, log);
    if (data == NULL) {
        return NULL;
    }

    if (b->data) {
        ngx_memcpy(data, b->data, ngx_min(used, b->size));
        ngx_free(b->data);
    }

    b->data = data;
    b->size = size;

    return data + used;
}


/* a peer's text for the log: bounded, control characters replaced */

static size_t
ngx_otel_exporter_copy_text(u_char *dst, size_t size, u_char *src,
    size_t len)
{
    size_t  i;

    len = ngx_min(len, size);

    for (i = 0; i < len; i++) {
        dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
    }

    return len;
}
