
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"


/*
 * A record is the fixed ngx_otel_span_record_t, then the name, the
 * tracestate and the attributes, each attribute as
 *
 *     id (1 byte), type (1 byte),
 *     [key length (1 byte), key]       custom attributes only
 *     value length (2 bytes), value    strings
 *     value (8 bytes)                  integers
 *
 * then the events, each as
 *
 *     time (8 bytes), name length (1 byte), name,
 *     number of attributes (1 byte), the attributes as above
 *
 * with no alignment inside: the data is only ever copied byte by byte.
 */


/* the most one attribute takes in a record */
#define NGX_OTEL_SPAN_ATTR_MAX_SIZE                                           \
    (2 + 1 + NGX_OTEL_ATTR_KEY_MAX_LEN + 2 + NGX_OTEL_ATTR_VALUE_MAX_LEN)

/* the length a string keeps in a record: most are short enough whole */
#define ngx_otel_span_len(s, max)                                             \
    ((s)->len <= (max) ? (s)->len : ngx_otel_span_cut(s, max))


static size_t ngx_otel_span_cut(ngx_str_t *s, size_t max);
static ngx_inline u_char *ngx_otel_span_attr_write(u_char *p,
    ngx_otel_attr_t *attr);
static u_char *ngx_otel_span_attrs_read(u_char *p, ngx_otel_attr_t *attrs,
    ngx_uint_t n);


ngx_str_t  ngx_otel_attr_names[] = {
    ngx_string("http.request.method"),
    ngx_string("http.request.method_original"),
    ngx_string("url.path"),
    ngx_string("url.query"),
    ngx_string("url.scheme"),
    ngx_string("http.route"),
    ngx_string("http.response.status_code"),
    ngx_string("server.address"),
    ngx_string("server.port"),
    ngx_string("client.address"),
    ngx_string("network.peer.address"),
    ngx_string("network.peer.port"),
    ngx_string("network.protocol.version"),
    ngx_string("user_agent.original"),
    ngx_string("http.request.body.size"),
    ngx_string("http.response.body.size"),
    ngx_string("error.type"),
    ngx_string("http.request.resend_count"),
    ngx_string("nginx.upstream.name"),
    ngx_string("nginx.upstream.connect_time_ms"),
    ngx_string("nginx.upstream.header_time_ms"),
    ngx_string("nginx.upstream.response_time_ms"),
    ngx_null_string
};


size_t
ngx_otel_span_record_size(ngx_otel_span_t *span)
{
    size_t            size;
    ngx_uint_t        n;
    ngx_otel_attr_t  *attr, *last;

    size = sizeof(ngx_otel_span_record_t)
           + ngx_otel_span_len(&span->name, NGX_OTEL_SPAN_NAME_MAX_LEN)
           + ngx_min(span->tracestate.len, NGX_OTEL_TRACESTATE_MAX_LEN);

    n = ngx_min(span->nattrs, NGX_OTEL_SPAN_MAX_ATTRS);

    for (attr = span->attrs, last = attr + n; attr < last; attr++) {

        if (attr->type == NGX_OTEL_ATTR_ENCODED) {
            size += attr->str.len;
            continue;
        }

        if (attr->id == NGX_OTEL_ATTR_CUSTOM) {
            size += 1 + ngx_otel_span_len(&attr->key,
                                          NGX_OTEL_ATTR_KEY_MAX_LEN);
        }

        if (attr->type == NGX_OTEL_ATTR_INT) {
            size += 2 + sizeof(int64_t);

        } else {
            size += 2 + 2 + ngx_otel_span_len(&attr->str,
                                              NGX_OTEL_ATTR_VALUE_MAX_LEN);
        }
    }

    size += span->events.len;

    return ngx_align(size, 8);
}


/* a long string is cut before a UTF-8 character, not inside one */

static size_t
ngx_otel_span_cut(ngx_str_t *s, size_t max)
{
    size_t  len;

    len = max;

    while (len > max - 4 && (s->data[len] & 0xc0) == 0x80) {
        len--;
    }

    return len;
}


void
ngx_otel_span_record_write(ngx_otel_span_record_t *rec, ngx_otel_span_t *span,
    size_t size)
{
    u_char           *p;
    ngx_uint_t        n, nattrs;
    ngx_otel_attr_t  *attr, *last;

    n = ngx_min(span->nattrs, NGX_OTEL_SPAN_MAX_ATTRS);

    rec->size = (uint32_t) size;
    rec->kind = (uint8_t) span->kind;
    rec->status = (uint8_t) span->status;
    rec->flags = (uint8_t) span->flags;
    ngx_memcpy(rec->trace_id, span->trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memcpy(rec->span_id, span->span_id, NGX_OTEL_SPAN_ID_LEN);
    ngx_memcpy(rec->parent_id, span->parent_id, NGX_OTEL_SPAN_ID_LEN);
    rec->start = span->start;
    rec->end = span->end;
    rec->name_len = (uint16_t) ngx_otel_span_len(&span->name,
                                                 NGX_OTEL_SPAN_NAME_MAX_LEN);
    rec->tracestate_len = (uint16_t) ngx_min(span->tracestate.len,
                                             NGX_OTEL_TRACESTATE_MAX_LEN);
    rec->nevents = (uint16_t) span->nevents;

    p = (u_char *) &rec[1];
    p = ngx_otel_cpymem(p, span->name.data, rec->name_len);
    p = ngx_otel_cpymem(p, span->tracestate.data, rec->tracestate_len);

    nattrs = 0;

    for (attr = span->attrs, last = attr + n; attr < last; attr++) {

        if (attr->type == NGX_OTEL_ATTR_ENCODED) {
            p = ngx_cpymem(p, attr->str.data, attr->str.len);
            nattrs += (ngx_uint_t) attr->num;
            continue;
        }

        p = ngx_otel_span_attr_write(p, attr);
        nattrs++;
    }

    rec->nattrs = (uint16_t) nattrs;

    if (span->nevents) {
        (void) ngx_cpymem(p, span->events.data, span->events.len);
    }
}


u_char *
ngx_otel_span_attrs_encode(u_char *p, u_char *last, ngx_otel_attr_t *attrs,
    ngx_uint_t n)
{
    size_t            len;
    ngx_otel_attr_t  *attr, *end;

    n = ngx_min(n, NGX_OTEL_SPAN_MAX_ATTRS);

    for (attr = attrs, end = attrs + n; attr < end; attr++) {

        /* the room for any attribute, else for this one */

        if ((size_t) (last - p) < NGX_OTEL_SPAN_ATTR_MAX_SIZE) {

            len = 2 + 2 + sizeof(int64_t);

            if (attr->id == NGX_OTEL_ATTR_CUSTOM) {
                len += 1 + attr->key.len;
            }

            if (attr->type != NGX_OTEL_ATTR_INT) {
                len += attr->str.len;
            }

            if ((size_t) (last - p) < len) {
                return NULL;
            }
        }

        p = ngx_otel_span_attr_write(p, attr);
    }

    return p;
}


static ngx_inline u_char *
ngx_otel_span_attr_write(u_char *p, ngx_otel_attr_t *attr)
{
    size_t    len;
    uint16_t  len16;

    *p++ = (u_char) attr->id;
    *p++ = (u_char) attr->type;

    if (attr->id == NGX_OTEL_ATTR_CUSTOM) {
        len = ngx_otel_span_len(&attr->key, NGX_OTEL_ATTR_KEY_MAX_LEN);
        *p++ = (u_char) len;
        p = ngx_otel_cpymem(p, attr->key.data, len);
    }

    if (attr->type == NGX_OTEL_ATTR_INT) {
        ngx_memcpy(p, &attr->num, sizeof(int64_t));
        return p + sizeof(int64_t);
    }

    len16 = (uint16_t) ngx_otel_span_len(&attr->str,
                                         NGX_OTEL_ATTR_VALUE_MAX_LEN);
    ngx_memcpy(p, &len16, sizeof(uint16_t));

    return ngx_otel_cpymem(p + sizeof(uint16_t), attr->str.data, len16);
}


void
ngx_otel_span_record_read(ngx_otel_span_record_t *rec, ngx_otel_span_t *span,
    ngx_otel_attr_t *attrs)
{
    u_char  *p;

    ngx_memcpy(span->trace_id, rec->trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memcpy(span->span_id, rec->span_id, NGX_OTEL_SPAN_ID_LEN);
    ngx_memcpy(span->parent_id, rec->parent_id, NGX_OTEL_SPAN_ID_LEN);
    span->flags = rec->flags;
    span->kind = rec->kind;
    span->status = rec->status;
    span->start = rec->start;
    span->end = rec->end;

    p = (u_char *) &rec[1];

    span->name.data = p;
    span->name.len = rec->name_len;
    p += rec->name_len;

    span->tracestate.data = p;
    span->tracestate.len = rec->tracestate_len;
    p += rec->tracestate_len;

    span->attrs = attrs;
    span->nattrs = rec->nattrs;

    p = ngx_otel_span_attrs_read(p, attrs, rec->nattrs);

    /* up to the record's end: the encoders stop after nevents */

    span->nevents = rec->nevents;
    span->events.data = p;
    span->events.len = rec->nevents ? (u_char *) rec + rec->size - p : 0;
}


/*
 * The exporter's half of a span's cost is here too: the fields are read
 * into locals first, since every store into an attribute could otherwise
 * change the bytes that p points to (u_char aliases anything).
 */

static u_char *
ngx_otel_span_attrs_read(u_char *p, ngx_otel_attr_t *attrs, ngx_uint_t n)
{
    uint16_t          len16;
    ngx_uint_t        id, type;
    ngx_otel_attr_t  *attr, *last;

    for (attr = attrs, last = attrs + n; attr < last; attr++) {
        id = p[0];
        type = p[1];
        p += 2;

        attr->id = id;
        attr->type = type;

        if (id == NGX_OTEL_ATTR_CUSTOM) {
            attr->key.len = *p;
            attr->key.data = p + 1;
            p += 1 + attr->key.len;

        } else {
            attr->key = ngx_otel_attr_names[id];
        }

        if (type == NGX_OTEL_ATTR_INT) {
            ngx_memcpy(&attr->num, p, sizeof(int64_t));
            p += sizeof(int64_t);
            continue;
        }

        ngx_memcpy(&len16, p, sizeof(uint16_t));

        attr->str.len = len16;
        attr->str.data = p + sizeof(uint16_t);
        p += sizeof(uint16_t) + len16;
    }

    return p;
}


u_char *
ngx_otel_span_event_encode(u_char *p, u_char *last, ngx_otel_event_t *ev)
{
    size_t      len;
    ngx_uint_t  n;

    len = ngx_otel_span_len(&ev->name, NGX_OTEL_EVENT_NAME_MAX_LEN);
    n = ngx_min(ev->nattrs, NGX_OTEL_EVENT_MAX_ATTRS);

    if ((size_t) (last - p) < sizeof(uint64_t) + 1 + len + 1) {
        return NULL;
    }

    ngx_memcpy(p, &ev->time, sizeof(uint64_t));
    p += sizeof(uint64_t);

    *p++ = (u_char) len;
    p = ngx_otel_cpymem(p, ev->name.data, len);

    *p++ = (u_char) n;

    return ngx_otel_span_attrs_encode(p, last, ev->attrs, n);
}


u_char *
ngx_otel_span_event_read(u_char *p, ngx_otel_event_t *ev,
    ngx_otel_attr_t *attrs)
{
    ngx_memcpy(&ev->time, p, sizeof(uint64_t));
    p += sizeof(uint64_t);

    ev->name.len = *p++;
    ev->name.data = p;
    p += ev->name.len;

    ev->nattrs = *p++;
    ev->attrs = attrs;

    return ngx_otel_span_attrs_read(p, attrs, ev->nattrs);
}


/*
 * The length of the well-formed UTF-8 sequence that starts at p with a
 * byte of 0x80 or above, or 0 if there is none (RFC 3629, section 4).
 */

size_t
ngx_otel_utf8_len(u_char *p, u_char *last)
{
    size_t  i, n;
    u_char  c, lo, hi;

    c = *p;
    lo = 0x80;
    hi = 0xbf;

    if (c < 0xc2) {
        return 0;

    } else if (c < 0xe0) {
        n = 2;

    } else if (c < 0xf0) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c < 0xf5) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n) {
        return 0;
    }

    if (p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}
