
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_otel_curl.h"


/*
 * libcurl's multi-socket API driven by the worker's event loop: curl tells
 * which sockets it wants to watch (CURLMOPT_SOCKETFUNCTION) and when it
 * wants to be called back (CURLMOPT_TIMERFUNCTION); each socket becomes an
 * nginx connection from ngx_get_connection() whose events call
 * curl_multi_socket_action(), and the timeout is an nginx timer.  Nothing
 * here blocks: name resolution runs in curl's resolver thread (we require
 * CURL_VERSION_ASYNCHDNS) and signals through a socket like the others.
 *
 * Signals are blocked around the calls into curl: a resolver thread
 * created there inherits the mask, so that nginx's signals (reload,
 * quit) keep going to the worker's own thread, whose epoll_wait() they
 * must interrupt.
 *
 * The events are level-triggered (NGX_LEVEL_EVENT): curl does not promise
 * to read or write until EAGAIN, which edge-triggered events
 * (ngx_handle_read_event() with epoll) would need.  Curl owns the sockets:
 * when it stops watching one (CURL_POLL_REMOVE, before it closes it, or
 * while the connection waits in its cache) the events are deleted as
 * ngx_close_connection() does, but with flags 0 (the descriptor stays
 * open, so epoll must really forget it), and the connection is freed
 * without closing the socket.
 */


struct ngx_otel_curl_s {
    CURLM                      *multi;

    sigset_t                    signals;

    ngx_event_t                 timer;

    /* timer.data, for the debug log's ngx_event_ident() */
    ngx_connection_t            dummy;

    /* connections around curl's sockets, linked by c->queue */
    ngx_queue_t                 connections;

    ngx_log_t                  *log;

    ngx_otel_curl_done_pt       done;
    ngx_otel_curl_close_pt      close;
    void                       *data;
};


static int ngx_otel_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_otel_curl_timer(CURLM *multi, long timeout_ms, void *userp);
static void ngx_otel_curl_event_handler(ngx_event_t *ev);
static void ngx_otel_curl_timer_handler(ngx_event_t *ev);
static void ngx_otel_curl_action(ngx_otel_curl_t *cm, curl_socket_t s,
    int action);
static void ngx_otel_curl_free_connection(ngx_connection_t *c);
static ngx_inline void ngx_otel_curl_clear_ssl_errors(void);


static ngx_uint_t  ngx_otel_curl_initialized;


ngx_int_t
ngx_otel_curl_check(ngx_log_t *log)
{
    curl_version_info_data  *vi;

    vi = curl_version_info(CURLVERSION_NOW);

    if (!(vi->features & CURL_VERSION_ASYNCHDNS)) {
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "otel exporter: libcurl %s resolves names in the "
                      "worker's thread (no AsynchDNS), network export is "
                      "disabled", vi->version);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_otel_curl_t *
ngx_otel_curl_create(ngx_pool_t *pool, ngx_log_t *log,
    ngx_otel_curl_done_pt done, ngx_otel_curl_close_pt close, void *data)
{
    CURLcode          rc;
    ngx_otel_curl_t  *cm;

    if (!ngx_otel_curl_initialized) {
        rc = curl_global_init(CURL_GLOBAL_DEFAULT);

        if (rc != CURLE_OK) {
            ngx_log_error(NGX_LOG_CRIT, log, 0,
                          "curl_global_init() failed: %s",
                          curl_easy_strerror(rc));
            return NULL;
        }

        ngx_otel_curl_initialized = 1;
    }

    cm = ngx_pcalloc(pool, sizeof(ngx_otel_curl_t));
    if (cm == NULL) {
        return NULL;
    }

    cm->multi = curl_multi_init();
    if (cm->multi == NULL) {
        ngx_log_error(NGX_LOG_CRIT, log, 0, "curl_multi_init() failed");
        return NULL;
    }

    sigfillset(&cm->signals);

    cm->log = log;
    cm->done = done;
    cm->close = close;
    cm->data = data;

    ngx_queue_init(&cm->connections);

    cm->dummy.fd = (ngx_socket_t) -1;
    cm->dummy.data = cm;

    cm->timer.handler = ngx_otel_curl_timer_handler;
    cm->timer.data = &cm->dummy;
    cm->timer.log = log;
    cm->timer.cancelable = 1;

    curl_multi_setopt(cm->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_otel_curl_socket);
    curl_multi_setopt(cm->multi, CURLMOPT_SOCKETDATA, cm);
    curl_multi_setopt(cm->multi, CURLMOPT_TIMERFUNCTION, ngx_otel_curl_timer);
    curl_multi_setopt(cm->multi, CURLMOPT_TIMERDATA, cm);

    /*
     * one request at a time per connection: libcurl 7.88 fails streams
     * multiplexed on one HTTP/2 connection ("Error in the HTTP2 framing
     * layer"); the few connections this takes are reused in turn
     */

    curl_multi_setopt(cm->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_NOTHING);

    return cm;
}


ngx_int_t
ngx_otel_curl_add(ngx_otel_curl_t *cm, CURL *easy)
{
    sigset_t   old;
    CURLMcode  rc;

    sigprocmask(SIG_BLOCK, &cm->signals, &old);
    rc = curl_multi_add_handle(cm->multi, easy);
    sigprocmask(SIG_SETMASK, &old, NULL);

    ngx_otel_curl_clear_ssl_errors();

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, cm->log, 0,
                      "curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_otel_curl_remove(ngx_otel_curl_t *cm, CURL *easy)
{
    CURLMcode  rc;

    rc = curl_multi_remove_handle(cm->multi, easy);

    ngx_otel_curl_clear_ssl_errors();

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, cm->log, 0,
                      "curl_multi_remove_handle() failed: %s",
                      curl_multi_strerror(rc));
    }
}


void
ngx_otel_curl_destroy(ngx_otel_curl_t *cm)
{
    ngx_queue_t       *q;
    ngx_connection_t  *c;

    if (cm->timer.timer_set) {
        ngx_del_timer(&cm->timer);
    }

    /*
     * forget the sockets first, while they are still open: whether curl
     * reports them removed as it closes its cache or not, no connection
     * is left behind and no event is deleted on a closed descriptor
     */

    while (!ngx_queue_empty(&cm->connections)) {
        q = ngx_queue_head(&cm->connections);
        c = ngx_queue_data(q, ngx_connection_t, queue);

        curl_multi_assign(cm->multi, c->fd, NULL);
        ngx_otel_curl_free_connection(c);
    }

    curl_multi_cleanup(cm->multi);
    cm->multi = NULL;

    ngx_otel_curl_clear_ssl_errors();
}


static int
ngx_otel_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_otel_curl_t *cm = userp;

    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, cm->log, 0,
                   "otel curl socket %d: %d, c:%p", (int) s, what, c);

    if (what == CURL_POLL_REMOVE) {
        if (c != NULL) {
            ngx_otel_curl_free_connection(c);
        }

        return 0;
    }

    /*
     * Failures are logged and otherwise ignored: returning -1 would make
     * curl mark the whole multi handle dead; the transfer runs into its
     * CURLOPT_TIMEOUT_MS instead, and is retried.
     */

    if (c == NULL) {
        c = ngx_get_connection(s, cm->log);
        if (c == NULL) {
            return 0;
        }

        c->data = cm;
        c->log = cm->log;
        c->read->log = cm->log;
        c->write->log = cm->log;
        c->read->handler = ngx_otel_curl_event_handler;
        c->write->handler = ngx_otel_curl_event_handler;
        c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

        ngx_queue_insert_tail(&cm->connections, &c->queue);

        curl_multi_assign(cm->multi, s, c);
    }

    if (what & CURL_POLL_IN) {
        if (!c->read->active) {
            rc = ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
            if (rc != NGX_OK) {
                return 0;
            }
        }

    } else if (c->read->active) {
        rc = ngx_del_event(c->read, NGX_READ_EVENT, 0);
        if (rc != NGX_OK) {
            return 0;
        }
    }

    if (what & CURL_POLL_OUT) {
        if (!c->write->active) {
            rc = ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
            if (rc != NGX_OK) {
                return 0;
            }
        }

    } else if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    return 0;
}


static int
ngx_otel_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_otel_curl_t *cm = userp;

    /*
     * deleted first: ngx_add_timer() keeps an armed timer that is less
     * than NGX_TIMER_LAZY_DELAY away from the new one, and curl often
     * asks for "now"
     */

    if (cm->timer.timer_set) {
        ngx_del_timer(&cm->timer);
    }

    if (timeout_ms >= 0) {
        ngx_add_timer(&cm->timer, (ngx_msec_t) timeout_ms);
    }

    return 0;
}


static void
ngx_otel_curl_event_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;
    ngx_otel_curl_t   *cm;

    c = ev->data;
    cm = c->data;

    if (c->close) {
        /* the worker is closing its connections */
        c->close = 0;
        cm->close(cm->data);
        return;
    }

    /* c may be freed by the socket callback from here on */

    ngx_otel_curl_action(cm, c->fd,
                         ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN);
}


static void
ngx_otel_curl_timer_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_otel_curl_action(c->data, CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_otel_curl_action(ngx_otel_curl_t *cm, curl_socket_t s, int action)
{
    int        running, left;
    CURL      *easy;
    char      *data;
    CURLMsg   *msg;
    sigset_t   old;
    CURLcode   result;
    CURLMcode  rc;

    sigprocmask(SIG_BLOCK, &cm->signals, &old);
    rc = curl_multi_socket_action(cm->multi, s, action, &running);
    sigprocmask(SIG_SETMASK, &old, NULL);

    ngx_otel_curl_clear_ssl_errors();

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, cm->log, 0,
                      "curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    for ( ;; ) {
        msg = curl_multi_info_read(cm->multi, &left);

        if (msg == NULL) {
            break;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        result = msg->data.result;

        data = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &data);

        /* msg is gone with the handle */

        ngx_otel_curl_remove(cm, easy);

        cm->done(easy, result, data);
    }
}


/*
 * curl and nginx share OpenSSL and so its per-thread error queue: what
 * curl leaves there (a failed verification) nginx would find in its next
 * handshake and log as "ignoring stale global SSL error"
 */

static ngx_inline void
ngx_otel_curl_clear_ssl_errors(void)
{
#if (NGX_OPENSSL)
    ERR_clear_error();
#endif
}


static void
ngx_otel_curl_free_connection(ngx_connection_t *c)
{
    /* as ngx_close_connection(), but curl closes the socket */

    if (c->read->active || c->read->disabled) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active || c->write->disabled) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_queue_remove(&c->queue);

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}
