
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_otel_module.h"


/*
 * The attributes of a server span that tell of the client, the server
 * and the protocol: url.scheme, server.address, server.port,
 * client.address, network.peer.address, network.peer.port,
 * network.protocol.version and user_agent.original.  The requests of a
 * keep-alive HTTP/1.x connection mostly have the same ones: from its
 * second request on, they are kept in the connection's pool as the writer
 * wrote them, with the values they were made from (the Host header, the
 * name nginx took from it, User-Agent, the client's address and port, the
 * protocol version), and copied as long as those values are the same.
 * A value that changes makes them again (realip changes the address, a
 * client may change User-Agent).
 */


/* the most values and attributes kept for a connection */
#define NGX_HTTP_OTEL_CONN_MAX  1024

#if (nginx_version >= 1019010)
#define ngx_http_otel_conn_requests(c)  (c)->requests
#else
/* not counted: nothing is kept */
#define ngx_http_otel_conn_requests(c)  1
#endif


typedef struct {
    ngx_uint_t                  http_version;
    ngx_uint_t                  peer_port;
    ngx_str_t                   server;
    ngx_str_t                   host;
    ngx_str_t                   user_agent;
    ngx_str_t                   addr_text;

    /* the attributes: what the writer wrote, and its count and size */
    u_char                     *attrs;
    size_t                      len;
    size_t                      size;
    ngx_uint_t                  n;

    /* room for the values and the attributes, after this struct */
    size_t                      room;
} ngx_http_otel_conn_t;


typedef struct {
    ngx_str_t                   host;
    ngx_str_t                   user_agent;
    ngx_uint_t                  peer_port;
} ngx_http_otel_conn_key_t;


#define ngx_http_otel_attr_wanted(id)  ((skip & ((uint32_t) 1 << (id))) == 0)

#define NGX_HTTP_OTEL_CONN_ATTRS                                              \
    (((uint32_t) 1 << NGX_OTEL_ATTR_URL_SCHEME)                               \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_SERVER_ADDRESS)                         \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_SERVER_PORT)                            \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_CLIENT_ADDRESS)                         \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_NETWORK_PEER_ADDRESS)                   \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_NETWORK_PEER_PORT)                      \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION)               \
     | ((uint32_t) 1 << NGX_OTEL_ATTR_USER_AGENT_ORIGINAL))


static void ngx_http_otel_conn_write(ngx_http_request_t *r,
    ngx_otel_otlp_writer_t *w, uint32_t skip, ngx_uint_t peer_port);
static ngx_http_otel_conn_t *ngx_http_otel_conn_find(ngx_connection_t *c);
static void ngx_http_otel_conn_save(ngx_http_request_t *r,
    ngx_http_otel_conn_t *cc, ngx_http_otel_conn_key_t *key, u_char *attrs,
    size_t len, size_t size, ngx_uint_t n);
static void ngx_http_otel_conn_cleanup(void *data);
static ngx_inline ngx_uint_t ngx_http_otel_conn_same(ngx_str_t *kept,
    u_char *data, size_t len);
static ngx_int_t ngx_http_otel_host_port(u_char *start, u_char *last,
    size_t name);


void
ngx_http_otel_conn_attrs(ngx_http_request_t *r, ngx_otel_otlp_writer_t *w,
    uint32_t skip, ngx_otel_span_shared_t *shared)
{
    u_char                    *start;
    size_t                     size;
    ngx_uint_t                 n;
    ngx_connection_t          *c;
    ngx_http_otel_conn_t      *cc;
    ngx_http_otel_conn_key_t   key;

    c = r->connection;

    key.peer_port = c->sockaddr ? ngx_inet_get_port(c->sockaddr) : 0;

    if (ngx_http_otel_conn_requests(c) < 2
        || r->http_version > NGX_HTTP_VERSION_11
        || (skip & NGX_HTTP_OTEL_CONN_ATTRS)
        || w->pos == NULL)
    {
        /* a first request; HTTP/2 and 3 (a connection of its own a stream) */
        ngx_http_otel_conn_write(r, w, skip, key.peer_port);
        return;
    }

    if (r->headers_in.host) {
        key.host = r->headers_in.host->value;

    } else {
        ngx_str_null(&key.host);
    }

    if (r->headers_in.user_agent) {
        key.user_agent = r->headers_in.user_agent->value;

    } else {
        ngx_str_null(&key.user_agent);
    }

    cc = ngx_http_otel_conn_find(c);

    if (cc != NULL
        && cc->http_version == r->http_version
        && cc->peer_port == key.peer_port
        && ngx_http_otel_conn_same(&cc->host, key.host.data, key.host.len)
        && ngx_http_otel_conn_same(&cc->user_agent, key.user_agent.data,
                                   key.user_agent.len)
        && ngx_http_otel_conn_same(&cc->addr_text, c->addr_text.data,
                                   c->addr_text.len)
        && ngx_http_otel_conn_same(&cc->server, r->headers_in.server.data,
                                   r->headers_in.server.len)
        && (size_t) (w->last - w->pos) >= cc->len)
    {
        shared->data = w->pos;
        shared->len = cc->len;
        shared->id = (uint32_t) c->number;

        w->pos = ngx_cpymem(w->pos, cc->attrs, cc->len);
        w->size += cc->size;
        w->n += cc->n;
        return;
    }

    start = w->pos;
    size = w->size;
    n = w->n;

    ngx_http_otel_conn_write(r, w, skip, key.peer_port);

    if (w->pos != NULL) {
        shared->data = start;
        shared->len = w->pos - start;
        shared->id = (uint32_t) c->number;

        ngx_http_otel_conn_save(r, cc, &key, start, w->pos - start,
                                w->size - size, w->n - n);
    }
}


static void
ngx_http_otel_conn_write(ngx_http_request_t *r, ngx_otel_otlp_writer_t *wp,
    uint32_t skip, ngx_uint_t peer_port)
{
    u_char                  *p;
    ngx_int_t                port, cn;
    ngx_connection_t        *c;
    ngx_otel_otlp_writer_t  *w, writer;

    /* a local writer, never passed on, may be kept in registers */

    writer = *wp;
    w = &writer;

    c = r->connection;

    if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_URL_SCHEME)) {
#if (NGX_HTTP_SSL)
        if (c->ssl) {
            ngx_otel_otlp_known_const(w, NGX_OTEL_OTLP_HTTPS);
        } else
#endif
        {
            ngx_otel_otlp_known_const(w, NGX_OTEL_OTLP_HTTP);
        }
    }

    /* server.address and server.port: the Host header, else the socket */

    port = 0;

    if (r->headers_in.server.len) {
        if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_SERVER_ADDRESS)) {
            ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_SERVER_ADDRESS,
                                    r->headers_in.server.data,
                                    r->headers_in.server.len);
        }

        if (r->headers_in.host) {
            p = r->headers_in.host->value.data;
            port = ngx_http_otel_host_port(p,
                                           p + r->headers_in.host->value.len,
                                           r->headers_in.server.len);
        }
    }

    if (port <= 0 || port > 65535) {
        if (c->local_sockaddr) {
            port = ngx_inet_get_port(c->local_sockaddr);

        } else if (c->listening) {
            port = ngx_inet_get_port(c->listening->sockaddr);
        }
    }

    if (port > 0 && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_SERVER_PORT)) {
        ngx_otel_otlp_known_int(w, NGX_OTEL_ATTR_SERVER_PORT, (int64_t) port);
    }

    if (c->addr_text.len) {
        if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_CLIENT_ADDRESS)) {
            ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_CLIENT_ADDRESS,
                                    c->addr_text.data, c->addr_text.len);
        }

        if (ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_NETWORK_PEER_ADDRESS)) {
            ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_NETWORK_PEER_ADDRESS,
                                    c->addr_text.data, c->addr_text.len);
        }
    }

    if (peer_port > 0
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_NETWORK_PEER_PORT))
    {
        ngx_otel_otlp_known_int(w, NGX_OTEL_ATTR_NETWORK_PEER_PORT,
                                (int64_t) peer_port);
    }

    switch (r->http_version) {
    case NGX_HTTP_VERSION_9:
        cn = NGX_DECLINED;
        break;
    case NGX_HTTP_VERSION_10:
        cn = NGX_OTEL_OTLP_HTTP_10;
        break;
    case NGX_HTTP_VERSION_11:
        cn = NGX_OTEL_OTLP_HTTP_11;
        break;
    case NGX_HTTP_VERSION_20:
        cn = NGX_OTEL_OTLP_HTTP_2;
        break;
#ifdef NGX_HTTP_VERSION_30
    case NGX_HTTP_VERSION_30:
        cn = NGX_OTEL_OTLP_HTTP_3;
        break;
#endif
    default:
        cn = NGX_ERROR;
        break;
    }

    if (cn != NGX_ERROR
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION))
    {
        if (cn == NGX_DECLINED) {
            ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION,
                                    (u_char *) "0.9", 3);

        } else {
            ngx_otel_otlp_known_const(w, (ngx_uint_t) cn);
        }
    }

    if (r->headers_in.user_agent && r->headers_in.user_agent->value.len
        && ngx_http_otel_attr_wanted(NGX_OTEL_ATTR_USER_AGENT_ORIGINAL))
    {
        ngx_otel_otlp_known_str(w, NGX_OTEL_ATTR_USER_AGENT_ORIGINAL,
                                r->headers_in.user_agent->value.data,
                                r->headers_in.user_agent->value.len);
    }

    *wp = writer;
}


/* the connection's attributes, the payload of a pool cleanup of its own */

static ngx_http_otel_conn_t *
ngx_http_otel_conn_find(ngx_connection_t *c)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = c->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_otel_conn_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/*
 * Kept in the room of an earlier request's, or made once: a request whose
 * values outgrow the room takes the general way, and what was kept stays
 */

static void
ngx_http_otel_conn_save(ngx_http_request_t *r, ngx_http_otel_conn_t *cc,
    ngx_http_otel_conn_key_t *key, u_char *attrs, size_t len, size_t size,
    ngx_uint_t n)
{
    u_char              *p;
    size_t               need, room;
    ngx_connection_t    *c;
    ngx_pool_cleanup_t  *cln;

    c = r->connection;

    need = key->host.len + key->user_agent.len + c->addr_text.len
           + r->headers_in.server.len + len;

    if (cc == NULL) {
        if (need > NGX_HTTP_OTEL_CONN_MAX) {
            return;
        }

        /* room for longer values of later requests too */

        room = ngx_min(NGX_HTTP_OTEL_CONN_MAX,
                       ngx_max(2 * need, NGX_HTTP_OTEL_CONN_MAX / 2));

        cln = ngx_pool_cleanup_add(c->pool,
                                   sizeof(ngx_http_otel_conn_t) + room);
        if (cln == NULL) {
            return;
        }

        cc = cln->data;
        cc->room = room;

        cln->handler = ngx_http_otel_conn_cleanup;
    }

    if (need > cc->room) {
        return;
    }

    p = (u_char *) &cc[1];

    cc->http_version = r->http_version;
    cc->peer_port = key->peer_port;

    /* a value may be absent: no data, which memcpy() must not see */

    cc->host.data = p;
    cc->host.len = key->host.len;
    p = ngx_otel_cpymem(p, key->host.data, key->host.len);

    cc->user_agent.data = p;
    cc->user_agent.len = key->user_agent.len;
    p = ngx_otel_cpymem(p, key->user_agent.data, key->user_agent.len);

    cc->addr_text.data = p;
    cc->addr_text.len = c->addr_text.len;
    p = ngx_otel_cpymem(p, c->addr_text.data, c->addr_text.len);

    cc->server.data = p;
    cc->server.len = r->headers_in.server.len;
    p = ngx_otel_cpymem(p, r->headers_in.server.data,
                        r->headers_in.server.len);

    cc->attrs = p;
    cc->len = len;
    cc->size = size;
    cc->n = n;
    ngx_memcpy(p, attrs, len);
}


/* only a mark: the payload goes with the pool */

static void
ngx_http_otel_conn_cleanup(void *data)
{
}


/* short values, the usual ones, are compared a word or two at a time */

static ngx_inline ngx_uint_t
ngx_http_otel_conn_same(ngx_str_t *kept, u_char *data, size_t len)
{
    u_char    *k;
    uint32_t   a, b, x, y;
    uint64_t   a8, b8, x8, y8;

    if (kept->len != len) {
        return 0;
    }

    k = kept->data;

    if (len > 16) {
        return ngx_memcmp(k, data, len) == 0;
    }

    if (len >= 8) {
        ngx_memcpy(&a8, k, 8);
        ngx_memcpy(&b8, k + len - 8, 8);
        ngx_memcpy(&x8, data, 8);
        ngx_memcpy(&y8, data + len - 8, 8);

        return ((a8 ^ x8) | (b8 ^ y8)) == 0;
    }

    if (len >= 4) {
        ngx_memcpy(&a, k, 4);
        ngx_memcpy(&b, k + len - 4, 4);
        ngx_memcpy(&x, data, 4);
        ngx_memcpy(&y, data + len - 4, 4);

        return ((a ^ x) | (b ^ y)) == 0;
    }

    /* three bytes at most: the first, the middle and the last are all */

    return len == 0
           || (k[0] == data[0] && k[len >> 1] == data[len >> 1]
               && k[len - 1] == data[len - 1]);
}


/*
 * The port of a Host value: the digits after the name nginx took from it
 * (name: its length, that of r->headers_in.server), if a colon follows;
 * else after a colon among its last six bytes (a port has five digits at
 * most), so neither the name nor an IPv6 literal is read through.
 * 0: none; NGX_ERROR: no port.
 */

static ngx_int_t
ngx_http_otel_host_port(u_char *start, u_char *last, size_t name)
{
    u_char      *p, *first;
    ngx_int_t    port;
    ngx_uint_t   digit;

    p = start + name;

    if (p < last && *p == ':') {
        p++;

        if (last - p > 5) {
            return NGX_ERROR;
        }

    } else {
        first = (last - start > 6) ? last - 6 : start;

        for (p = last; p > first; p--) {
            if (p[-1] == ':') {
                break;
            }
        }

        if (p == first) {
            return 0;
        }
    }

    if (p == last) {
        return 0;
    }

    port = 0;

    for ( /* void */ ; p < last; p++) {
        digit = (ngx_uint_t) *p - '0';

        if (digit > 9) {
            return NGX_ERROR;
        }

        port = port * 10 + digit;
    }

    return port;
}
