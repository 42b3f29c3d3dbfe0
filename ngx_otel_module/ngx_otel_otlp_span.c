
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_otlp.h"


/*
 * An OTLP Span (opentelemetry.proto.trace.v1.Span), written straight from
 * an ngx_otel_span_t: byte for byte what protobuf_c_message_pack() makes
 * of the Span message ngx_otel_otlp.c built before (t/otlp.t and
 * t/unit/otlp_unit.c compare the two), at a tenth of the instructions or
 * less: no message structures, no descriptors, no string copies but the
 * one into the output.
 *
 * What protobuf-c does, and so what is done here:
 *
 * - fields in the order of the descriptor protoc-c generates, which is by
 *   number: "flags" (16) comes last, after "status" (15), though the
 *   .proto declares it after "parent_span_id";
 * - proto3 defaults are left out: an empty trace_state or name, a zero
 *   parent_span_id (a root span), a zero kind, start or end time, a zero
 *   status code; "status" itself is always present (as in the JSON
 *   encoder), empty when unset; "flags" always has its HAS_IS_REMOTE bit;
 * - AnyValue is a oneof: its string_value is present even when empty, its
 *   int_value even when zero; an empty KeyValue.key is left out;
 * - varints are as short as can be; an int64 (or enum) below zero is the
 *   10-byte varint of its two's complement.
 *
 * Strings must be UTF-8 (ngx_otel_otlp_utf8_size()): each is checked a
 * word at a time for plain ASCII, the usual case, and copied as it is;
 * otherwise it is filtered.
 *
 * One pass.  A length is written before its content when it is known
 * cheaply, or after it, into the byte left for it, when it is sure to
 * take one byte: an attribute with a key of 28 bytes at most, and an
 * integer or a short ASCII string, the usual case.  One of our own keys
 * is a copy of a prepared KeyValue head (tag, length, key), 32 bytes at
 * once.
 * The Span's own length is given two bytes (128 to 16383, the usual
 * case), and the Span is moved when it needs another number of them.
 *
 * The output space is checked before each part of the span; when it is
 * short, ngx_otel_otlp_span() returns NULL, and the caller retries with
 * ngx_otel_otlp_span_size() bytes, which it is sure to fit in: each
 * string byte at most 3 bytes of UTF-8 (U+FFFD), plus what tags and
 * lengths may take.
 */


/* the W3C trace-flags and the parent's remoteness, OTLP SpanFlags */
#define NGX_OTEL_OTLP_FLAGS_TRACE_MASK      0xff
#define NGX_OTEL_OTLP_FLAGS_HAS_IS_REMOTE   0x100
#define NGX_OTEL_OTLP_FLAGS_IS_REMOTE       0x200

/*
 * The most a span takes before its attributes, apart from its strings:
 * the field's tag and length (1 + 10), ids, trace_state's and name's tags
 * and lengths, kind, times
 */
#define NGX_OTEL_OTLP_SPAN_MAX                                                \
    (1 + 10 + 2 + NGX_OTEL_TRACE_ID_LEN + 2 * (2 + NGX_OTEL_SPAN_ID_LEN)      \
     + 2 * (1 + 10) + (1 + 10) + 2 * (1 + 8))

/* an Event apart from its name and attributes: tag, length, time, tags */
#define NGX_OTEL_OTLP_EVENT_MAX             ((1 + 3) + (1 + 8) + (1 + 3))



static ngx_inline u_char *ngx_otel_otlp_short(u_char *p, u_char *last,
    ngx_otel_attr_t *attr, ngx_uint_t roomy, ngx_uint_t nshort);
static ngx_inline u_char *ngx_otel_otlp_short_key(u_char *p,
    ngx_otel_attr_t *attr, ngx_uint_t nshort);
static u_char *ngx_otel_otlp_attr(u_char *p, ngx_otel_attr_t *attr);
static u_char *ngx_otel_otlp_expand(u_char *q, u_char *p, u_char *last);
static u_char *ngx_otel_otlp_expand_shared(u_char *q,
    ngx_otel_span_shared_t *shared);
static ngx_int_t ngx_otel_otlp_const_find(ngx_otel_attr_t *attr);
static u_char *ngx_otel_otlp_string(u_char *p, ngx_uint_t tag,
    ngx_str_t *s);
static size_t ngx_otel_otlp_string_len(ngx_str_t *s);
static ngx_inline u_char *ngx_otel_otlp_string_copy(u_char *p, ngx_str_t *s,
    size_t len);
static ngx_inline ngx_uint_t ngx_otel_otlp_ascii(u_char *p, size_t len);
static ngx_inline u_char *ngx_otel_otlp_fixed64(u_char *p, uint64_t n);
static ngx_inline u_char *ngx_otel_otlp_fixed32(u_char *p, uint32_t n);


/*
 * Made from ngx_otel_attr_names[] on first use, the same in every process:
 * the heads, and how many of our keys (from the first) have one
 */
ngx_otel_otlp_head_t         ngx_otel_otlp_heads[NGX_OTEL_ATTR_KNOWN];
static ngx_uint_t            ngx_otel_otlp_nshort = NGX_CONF_UNSET_UINT;

ngx_otel_otlp_const_t        ngx_otel_otlp_consts[NGX_OTEL_OTLP_CONSTS];

/* the ids of our attributes that have constants, a bit each */
static uint32_t              ngx_otel_otlp_const_ids;


/* the expansions of records' shared parts (ngx_otel_span_shared_t) */
static ngx_otel_shared_slot_t  ngx_otel_otlp_shared[NGX_OTEL_SHARED_SLOTS];


typedef struct {
    ngx_uint_t               id;
    ngx_str_t                str;         /* a string, or if empty: */
    int64_t                  num;
} ngx_otel_otlp_const_src_t;


/* in the order of ngx_otel_otlp_const_e */

static ngx_otel_otlp_const_src_t  ngx_otel_otlp_const_src[] = {
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("GET"), 0 },
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("HEAD"), 0 },
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("POST"), 0 },
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("PUT"), 0 },
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("DELETE"), 0 },
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("OPTIONS"), 0 },
    { NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, ngx_string("PATCH"), 0 },
    { NGX_OTEL_ATTR_URL_SCHEME, ngx_string("http"), 0 },
    { NGX_OTEL_ATTR_URL_SCHEME, ngx_string("https"), 0 },
    { NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, ngx_string("1.0"), 0 },
    { NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, ngx_string("1.1"), 0 },
    { NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, ngx_string("2"), 0 },
    { NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, ngx_string("3"), 0 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 200 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 201 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 204 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 206 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 301 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 302 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 304 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 400 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 401 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 403 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 404 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 500 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 502 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 503 },
    { NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, ngx_null_string, 504 }
};


size_t
ngx_otel_otlp_span_size(ngx_otel_span_t *span)
{
    size_t            n;
    ngx_uint_t        i;
    ngx_otel_attr_t  *attr;

    n = span->name.len + span->tracestate.len;

    for (i = 0; i < span->nattrs; i++) {
        attr = &span->attrs[i];

        n += (attr->type == NGX_OTEL_ATTR_ENCODED
              || attr->id >= NGX_OTEL_ATTR_KNOWN)
             ? attr->key.len : NGX_OTEL_OTLP_KEY_MAX;

        if (attr->type != NGX_OTEL_ATTR_INT) {
            n += attr->str.len;
        }
    }

    return NGX_OTEL_OTLP_SPAN_MAX + span->nattrs * NGX_OTEL_OTLP_ATTR_MAX
           + NGX_OTEL_OTLP_TAIL_MAX + 3 * n + span->events.len;
}


/*
 * The length of the Span message of a span to be recorded: 0 unless its
 * attributes come encoded and its name and tracestate are recorded as
 * they are and are plain ASCII (see ngx_otel_otlp_record())
 */

size_t
ngx_otel_otlp_record_len(ngx_otel_span_t *span)
{
    if (span->nattrs > 1
        || (span->nattrs == 1 && span->attrs[0].type != NGX_OTEL_ATTR_ENCODED)
        || span->name.len > NGX_OTEL_SPAN_NAME_MAX_LEN
        || span->tracestate.len > NGX_OTEL_TRACESTATE_MAX_LEN
        || !ngx_otel_otlp_ascii(span->name.data, span->name.len)
        || !ngx_otel_otlp_ascii(span->tracestate.data, span->tracestate.len))
    {
        return 0;
    }

    return ngx_otel_otlp_record_sum(span);
}


/*
 * The exact length of what ngx_otel_otlp_span() writes for a span whose
 * attributes are encoded (a record's view), found without writing it
 */

size_t
ngx_otel_otlp_span_len(ngx_otel_span_t *span)
{
    size_t    len, n;
    uint64_t  v, parent;

    len = 2 + NGX_OTEL_TRACE_ID_LEN + 2 + NGX_OTEL_SPAN_ID_LEN;

    if (span->tracestate.len) {
        n = ngx_otel_otlp_string_len(&span->tracestate);
        len += ngx_otel_otlp_field_size(n);
    }

    ngx_memcpy(&parent, span->parent_id, NGX_OTEL_SPAN_ID_LEN);

    if (parent) {
        len += 2 + NGX_OTEL_SPAN_ID_LEN;
    }

    if (span->name.len) {
        n = ngx_otel_otlp_string_len(&span->name);
        len += ngx_otel_otlp_field_size(n);
    }

    v = ngx_otel_otlp_enum(span->kind);

    if (v) {
        len += 1 + ngx_otel_otlp_varint_len(v);
    }

    if (span->start) {
        len += 1 + 8;
    }

    if (span->end) {
        len += 1 + 8;
    }

    for (n = 0; n < span->nattrs; n++) {
        len += span->attrs[n].key.len;
    }

    len += span->events.len;

    /* status, even unset, and flags */

    v = ngx_otel_otlp_enum(span->status);

    len += 2 + (v ? 1 + ngx_otel_otlp_varint_len(v) : 0) + 2 + 4;

    return 1 + ngx_otel_otlp_varint_len(len) + len;
}


u_char *
ngx_otel_otlp_span(u_char *p, u_char *last, ngx_otel_span_t *span)
{
    u_char    *q;
    size_t     len, n;
    uint32_t   flags;
    uint64_t   v, parent;

    if ((size_t) (last - p) < NGX_OTEL_OTLP_SPAN_MAX + NGX_OTEL_OTLP_TAIL_MAX
                              + 3 * (span->name.len + span->tracestate.len))
    {
        return NULL;
    }

    /* the tag, two bytes for the length, then the Span */

    q = p + 3;

    *q++ = NGX_OTEL_OTLP_TRACE_ID;
    *q++ = NGX_OTEL_TRACE_ID_LEN;
    ngx_memcpy(q, span->trace_id, NGX_OTEL_TRACE_ID_LEN);
    q += NGX_OTEL_TRACE_ID_LEN;

    *q++ = NGX_OTEL_OTLP_SPAN_ID;
    *q++ = NGX_OTEL_SPAN_ID_LEN;
    ngx_memcpy(q, span->span_id, NGX_OTEL_SPAN_ID_LEN);
    q += NGX_OTEL_SPAN_ID_LEN;

    if (span->tracestate.len) {
        q = ngx_otel_otlp_string(q, NGX_OTEL_OTLP_TRACE_STATE,
                                 &span->tracestate);
    }

    flags = (span->flags & NGX_OTEL_OTLP_FLAGS_TRACE_MASK)
            | NGX_OTEL_OTLP_FLAGS_HAS_IS_REMOTE;

    ngx_memcpy(&parent, span->parent_id, NGX_OTEL_SPAN_ID_LEN);

    if (parent) {
        *q++ = NGX_OTEL_OTLP_PARENT_ID;
        *q++ = NGX_OTEL_SPAN_ID_LEN;
        ngx_memcpy(q, span->parent_id, NGX_OTEL_SPAN_ID_LEN);
        q += NGX_OTEL_SPAN_ID_LEN;

        /* a server span's parent always comes with the request */

        if (span->kind == NGX_OTEL_SPAN_KIND_SERVER) {
            flags |= NGX_OTEL_OTLP_FLAGS_IS_REMOTE;
        }
    }

    if (span->name.len) {
        q = ngx_otel_otlp_string(q, NGX_OTEL_OTLP_NAME, &span->name);
    }

    v = ngx_otel_otlp_enum(span->kind);

    if (v) {
        *q++ = NGX_OTEL_OTLP_KIND;
        q = ngx_otel_otlp_varint(q, v);
    }

    if (span->start) {
        *q++ = NGX_OTEL_OTLP_START;
        q = ngx_otel_otlp_fixed64(q, span->start);
    }

    if (span->end) {
        *q++ = NGX_OTEL_OTLP_END;
        q = ngx_otel_otlp_fixed64(q, span->end);
    }

    if (span->nattrs) {
        q = ngx_otel_otlp_attrs(q, last, span->attrs, span->nattrs);
        if (q == NULL) {
            return NULL;
        }
    }

    /* events come encoded */

    if (span->events.len) {
        if ((size_t) (last - q) < span->events.len + NGX_OTEL_OTLP_TAIL_MAX) {
            return NULL;
        }

        q = ngx_cpymem(q, span->events.data, span->events.len);
    }

    v = ngx_otel_otlp_enum(span->status);

    *q++ = NGX_OTEL_OTLP_STATUS;

    if (v) {
        *q++ = (u_char) (1 + ngx_otel_otlp_varint_len(v));
        *q++ = NGX_OTEL_OTLP_CODE;
        q = ngx_otel_otlp_varint(q, v);

    } else {
        *q++ = 0;
    }

    /* never zero, so always present */

    *q++ = NGX_OTEL_OTLP_FLAGS0;
    *q++ = NGX_OTEL_OTLP_FLAGS1;
    q = ngx_otel_otlp_fixed32(q, flags);

    /* the Span's length */

    len = q - (p + 3);

    p[0] = NGX_OTEL_OTLP_SPANS;

    if (len >= 0x80 && len < 0x4000) {
        p[1] = (u_char) (len | 0x80);
        p[2] = (u_char) (len >> 7);

        return q;
    }

    n = ngx_otel_otlp_varint_len(len);

    ngx_memmove(p + 1 + n, p + 3, len);
    (void) ngx_otel_otlp_varint(p + 1, len);

    return p + 1 + n + len;
}


/*
 * What ngx_otel_otlp_span() does, from a record that has its Span's
 * length: no view, no string checks, the length known before the Span is
 * written.  The expansion of the attributes copies whole heads: HEAD_SIZE
 * bytes of room past the span.
 */

u_char *
ngx_otel_otlp_record(u_char *p, u_char *last, ngx_otel_span_record_t *rec)
{
    u_char                  *s, *a;
    uint32_t                 flags;
    uint64_t                 parent;
    ngx_otel_span_shared_t   shared;

    if ((size_t) (last - p) < ngx_otel_otlp_record_size(rec)) {
        return NULL;
    }

    *p++ = NGX_OTEL_OTLP_SPANS;
    p = ngx_otel_otlp_varint(p, rec->otlp_len);

    *p++ = NGX_OTEL_OTLP_TRACE_ID;
    *p++ = NGX_OTEL_TRACE_ID_LEN;
    ngx_memcpy(p, rec->trace_id, NGX_OTEL_TRACE_ID_LEN);
    p += NGX_OTEL_TRACE_ID_LEN;

    *p++ = NGX_OTEL_OTLP_SPAN_ID;
    *p++ = NGX_OTEL_SPAN_ID_LEN;
    ngx_memcpy(p, rec->span_id, NGX_OTEL_SPAN_ID_LEN);
    p += NGX_OTEL_SPAN_ID_LEN;

    /* after the record: the name, the tracestate, attributes, events */

    s = (u_char *) &rec[1];

    if (rec->tracestate_len) {
        *p++ = NGX_OTEL_OTLP_TRACE_STATE;
        p = ngx_otel_otlp_varint(p, rec->tracestate_len);
        p = ngx_otel_cpymem(p, s + rec->name_len, rec->tracestate_len);
    }

    flags = (rec->flags & NGX_OTEL_OTLP_FLAGS_TRACE_MASK)
            | NGX_OTEL_OTLP_FLAGS_HAS_IS_REMOTE;

    ngx_memcpy(&parent, rec->parent_id, NGX_OTEL_SPAN_ID_LEN);

    if (parent) {
        *p++ = NGX_OTEL_OTLP_PARENT_ID;
        *p++ = NGX_OTEL_SPAN_ID_LEN;
        ngx_memcpy(p, rec->parent_id, NGX_OTEL_SPAN_ID_LEN);
        p += NGX_OTEL_SPAN_ID_LEN;

        if (rec->kind == NGX_OTEL_SPAN_KIND_SERVER) {
            flags |= NGX_OTEL_OTLP_FLAGS_IS_REMOTE;
        }
    }

    if (rec->name_len) {
        *p++ = NGX_OTEL_OTLP_NAME;
        p = ngx_otel_otlp_varint(p, rec->name_len);
        p = ngx_otel_cpymem(p, s, rec->name_len);
    }

    if (rec->kind) {
        *p++ = NGX_OTEL_OTLP_KIND;
        p = ngx_otel_otlp_varint(p, rec->kind);
    }

    if (rec->start) {
        *p++ = NGX_OTEL_OTLP_START;
        p = ngx_otel_otlp_fixed64(p, rec->start);
    }

    if (rec->end) {
        *p++ = NGX_OTEL_OTLP_END;
        p = ngx_otel_otlp_fixed64(p, rec->end);
    }

    a = s + rec->name_len + rec->tracestate_len;

    if (rec->shared_len
        && (uint32_t) rec->shared_off + rec->shared_len <= rec->attrs_len)
    {
        shared.data = a + rec->shared_off;
        shared.len = rec->shared_len;
        shared.id = rec->shared_id;

        p = ngx_otel_otlp_expand(p, a, shared.data);
        p = ngx_otel_otlp_expand_shared(p, &shared);
        p = ngx_otel_otlp_expand(p, shared.data + shared.len,
                                 a + rec->attrs_len);

    } else {
        p = ngx_otel_otlp_expand(p, a, a + rec->attrs_len);
    }

    if (rec->events_len) {
        p = ngx_cpymem(p, a + rec->attrs_len, rec->events_len);
    }

    *p++ = NGX_OTEL_OTLP_STATUS;

    if (rec->status) {
        *p++ = (u_char) (1 + ngx_otel_otlp_varint_len(rec->status));
        *p++ = NGX_OTEL_OTLP_CODE;
        p = ngx_otel_otlp_varint(p, rec->status);

    } else {
        *p++ = 0;
    }

    *p++ = NGX_OTEL_OTLP_FLAGS0;
    *p++ = NGX_OTEL_OTLP_FLAGS1;

    return ngx_otel_otlp_fixed32(p, flags);
}


/*
 * Span.attributes fields, and room for NGX_OTEL_OTLP_TAIL_MAX bytes after
 * them: NULL if they might not fit
 */

u_char *
ngx_otel_otlp_attrs(u_char *p, u_char *last, ngx_otel_attr_t *attrs,
    ngx_uint_t n)
{
    u_char           *r;
    size_t            len;
    ngx_uint_t        roomy, nshort;
    ngx_otel_attr_t  *attr, *end;

    if (ngx_otel_otlp_nshort == NGX_CONF_UNSET_UINT) {
        ngx_otel_otlp_heads_init();
    }

    nshort = ngx_otel_otlp_nshort;

    /* room for every attribute the short way: no checks on that way */

    roomy = ((size_t) (last - p) >= n * NGX_OTEL_OTLP_SHORT_MAX
                                    + NGX_OTEL_OTLP_TAIL_MAX);

    for (attr = attrs, end = attrs + n; attr < end; attr++) {

        if (attr->type == NGX_OTEL_ATTR_ENCODED) {
            if ((size_t) (last - p) < attr->key.len + NGX_OTEL_OTLP_SLACK
                                      + NGX_OTEL_OTLP_TAIL_MAX)
            {
                return NULL;
            }

            p = ngx_otel_otlp_expand(p, attr->str.data,
                                     attr->str.data + attr->str.len);

            roomy = 0;
            continue;
        }

        r = ngx_otel_otlp_short(p, last, attr, roomy, nshort);

        if (r) {
            p = r;
            continue;
        }

        /* our keys are known; the key of one of ours may be unset */

        len = (attr->id < NGX_OTEL_ATTR_KNOWN) ? NGX_OTEL_OTLP_KEY_MAX
                                              : attr->key.len;

        if (attr->type != NGX_OTEL_ATTR_INT) {
            len += attr->str.len;
        }

        if ((size_t) (last - p)
            < NGX_OTEL_OTLP_ATTR_MAX + NGX_OTEL_OTLP_TAIL_MAX + 3 * len)
        {
            return NULL;
        }

        p = ngx_otel_otlp_attr(p, attr);

        roomy = 0;
    }

    return p;
}


size_t
ngx_otel_otlp_attrs_size(ngx_otel_attr_t *attrs, ngx_uint_t n)
{
    size_t            size;
    ngx_otel_attr_t  *attr, *end;

    size = NGX_OTEL_OTLP_TAIL_MAX;

    for (attr = attrs, end = attrs + n; attr < end; attr++) {

        if (attr->type == NGX_OTEL_ATTR_ENCODED) {
            size += attr->str.len;
            continue;
        }

        size += NGX_OTEL_OTLP_ATTR_MAX
                + 3 * ((attr->id < NGX_OTEL_ATTR_KNOWN) ? NGX_OTEL_OTLP_KEY_MAX
                                                        : attr->key.len);

        if (attr->type != NGX_OTEL_ATTR_INT) {
            size += 3 * attr->str.len;
        }
    }

    return size;
}


void
ngx_otel_otlp_heads_init(void)
{
    ngx_uint_t                  i;
    ngx_otel_attr_t            *attr;
    ngx_otel_otlp_const_t      *c;
    ngx_otel_otlp_const_src_t  *src;

    for (i = 0; i < NGX_OTEL_ATTR_KNOWN; i++) {

        /* a longer key and those after it take the general way */

        if (ngx_otel_otlp_head(&ngx_otel_otlp_heads[i],
                               &ngx_otel_attr_names[i])
            != NGX_OK)
        {
            break;
        }
    }

    ngx_otel_otlp_nshort = i;

    /* whole KeyValue fields, as the general encoder writes them */

    for (i = 0; i < NGX_OTEL_OTLP_CONSTS; i++) {
        src = &ngx_otel_otlp_const_src[i];
        c = &ngx_otel_otlp_consts[i];

        attr = &c->attr;

        attr->id = src->id;
        attr->key = ngx_otel_attr_names[src->id];
        attr->str = src->str;
        attr->num = src->num;
        attr->type = src->str.len ? NGX_OTEL_ATTR_STRING : NGX_OTEL_ATTR_INT;

        ngx_memzero(c->data, NGX_OTEL_OTLP_CONST_SIZE);

        c->len = ngx_otel_otlp_attr(c->data, attr) - c->data;

        ngx_otel_otlp_const_ids |= (uint32_t) 1 << src->id;
    }
}


ngx_int_t
ngx_otel_otlp_head(ngx_otel_otlp_head_t *head, ngx_str_t *key)
{
    u_char  *p;

    head->len = 0;

    if (key->len == 0
        || key->len > NGX_OTEL_OTLP_KEY_MAX
        || !ngx_otel_otlp_ascii(key->data, key->len))
    {
        return NGX_DECLINED;
    }

    /* KeyValue tag, its length (written later), key tag and length */

    ngx_memzero(head->data, NGX_OTEL_OTLP_HEAD_SIZE);

    p = head->data;

    *p++ = NGX_OTEL_OTLP_ATTRIBUTE;
    *p++ = 0;
    *p++ = NGX_OTEL_OTLP_KEY;
    *p++ = (u_char) key->len;

    p = ngx_cpymem(p, key->data, key->len);

    head->len = p - head->data;

    return NGX_OK;
}


void
ngx_otel_otlp_writer_attr(ngx_otel_otlp_writer_t *w, ngx_otel_attr_t *attr)
{
    u_char  *p;

    p = w->pos;

    if (p == NULL) {
        return;
    }

    w->pos = ngx_otel_span_attrs_encode(p, w->last, attr, 1);

    if (w->pos) {
        w->size += w->pos - p;
        w->n++;
    }
}


void
ngx_otel_otlp_writer_attrs(ngx_otel_otlp_writer_t *w, ngx_otel_attr_t *attrs,
    ngx_uint_t n)
{
    ngx_int_t         c;
    ngx_otel_attr_t  *attr, *end;

    if (ngx_otel_otlp_nshort == NGX_CONF_UNSET_UINT) {
        ngx_otel_otlp_heads_init();
    }

    for (attr = attrs, end = attrs + n; attr < end; attr++) {

        if (attr->id < ngx_otel_otlp_nshort) {

            if (ngx_otel_otlp_const_ids & ((uint32_t) 1 << attr->id)) {
                c = ngx_otel_otlp_const_find(attr);

                if (c != NGX_ERROR) {
                    ngx_otel_otlp_known_const(w, (ngx_uint_t) c);
                    continue;
                }
            }

            if (attr->type == NGX_OTEL_ATTR_STRING) {
                ngx_otel_otlp_known_str(w, attr->id, attr->str.data,
                                        attr->str.len);
                continue;
            }

            if (attr->type == NGX_OTEL_ATTR_INT) {
                ngx_otel_otlp_known_int(w, attr->id, attr->num);
                continue;
            }
        }

        ngx_otel_otlp_writer_attr(w, attr);
    }
}


/* the constant that is this attribute (one of ours), or NGX_ERROR */

static ngx_int_t
ngx_otel_otlp_const_find(ngx_otel_attr_t *attr)
{
    ngx_uint_t                  i;
    ngx_otel_otlp_const_src_t  *src;

    for (i = 0; i < NGX_OTEL_OTLP_CONSTS; i++) {
        src = &ngx_otel_otlp_const_src[i];

        if (src->id != attr->id) {
            continue;
        }

        if (attr->type == NGX_OTEL_ATTR_STRING
            ? (src->str.len == attr->str.len && src->str.len
               && ngx_strncmp(src->str.data, attr->str.data, src->str.len)
                  == 0)
            : (attr->type == NGX_OTEL_ATTR_INT && src->str.len == 0
               && src->num == attr->num))
        {
            return (ngx_int_t) i;
        }
    }

    return NGX_ERROR;
}


void
ngx_otel_otlp_writer_str(ngx_otel_otlp_writer_t *w, ngx_uint_t id,
    u_char *data, size_t len)
{
    ngx_otel_attr_t  attr;

    attr.id = id;
    attr.type = NGX_OTEL_ATTR_STRING;
    ngx_str_null(&attr.key);
    attr.str.data = data;
    attr.str.len = len;

    ngx_otel_otlp_writer_attr(w, &attr);
}


/*
 * Attributes as a record has them (ngx_otel_otlp_writer_t): a constant is
 * its prepared KeyValue, a compact one gets its key's prepared head, the
 * others are copied
 */

static u_char *
ngx_otel_otlp_expand(u_char *q, u_char *p, u_char *last)
{
    size_t                  len, n;
    ngx_uint_t              id;
    ngx_otel_otlp_head_t   *head;
    ngx_otel_otlp_const_t  *c;

    while (p < last) {
        id = p[0];

        if (id - NGX_OTEL_OTLP_CONST < NGX_OTEL_OTLP_CONSTS) {
            c = &ngx_otel_otlp_consts[id - NGX_OTEL_OTLP_CONST];

            ngx_memcpy(q, c->data, NGX_OTEL_OTLP_CONST_SIZE);

            q += c->len;
            p++;
            continue;
        }

        if (id < NGX_OTEL_ATTR_KNOWN) {
            len = p[1];
            head = &ngx_otel_otlp_heads[id];

            ngx_memcpy(q, head->data, NGX_OTEL_OTLP_HEAD_SIZE);
            q[1] = (u_char) (head->len - 2 + len);

            q = ngx_otel_cpymem(q + head->len, p + 2, len);
            p += 2 + len;
            continue;
        }

        /* a whole KeyValue field: its tag, its length, the KeyValue */

        len = 0;

        for (n = 1; n < 6; n++) {
            len |= (size_t) (p[n] & 0x7f) << (7 * (n - 1));

            if ((p[n] & 0x80) == 0) {
                break;
            }
        }

        len += n + 1;

        q = ngx_cpymem(q, p, len);
        p += len;
    }

    return q;
}


/* a shared part's expansion, made once for the records that have it */

static u_char *
ngx_otel_otlp_expand_shared(u_char *q, ngx_otel_span_shared_t *shared)
{
    u_char                  *end;
    ngx_otel_shared_slot_t  *slot;

    slot = ngx_otel_shared_find(ngx_otel_otlp_shared, shared);

    if (slot) {
        return ngx_cpymem(q, slot->out, slot->out_len);
    }

    end = ngx_otel_otlp_expand(q, shared->data, shared->data + shared->len);

    ngx_otel_shared_keep(ngx_otel_otlp_shared, shared, q, end - q);

    return end;
}


/*
 * One of our own keys or a short ASCII one, and an integer or a short
 * ASCII string: each length is one byte, written once its content is.
 * NULL: not so (or not enough room), the attribute takes the general way.
 */

static ngx_inline u_char *
ngx_otel_otlp_short(u_char *p, u_char *last, ngx_otel_attr_t *attr,
    ngx_uint_t roomy, ngx_uint_t nshort)
{
    u_char  *any;
    size_t   len, n;

    if (attr->type == NGX_OTEL_ATTR_INT) {

        if (!roomy
            && (size_t) (last - p)
               < NGX_OTEL_OTLP_ATTR_MAX + NGX_OTEL_OTLP_TAIL_MAX)
        {
            return NULL;
        }

        any = ngx_otel_otlp_short_key(p, attr, nshort);
        if (any == NULL) {
            return NULL;
        }

        any[0] = NGX_OTEL_OTLP_VALUE;
        any[2] = NGX_OTEL_OTLP_INT_VALUE;
        n = ngx_otel_otlp_varint(any + 3, (uint64_t) attr->num) - any;

        any[1] = (u_char) (n - 2);
        p[1] = (u_char) (any - p + n - 2);

        return any + n;
    }

    len = attr->str.len;

    if (len >= NGX_OTEL_OTLP_SHORT
        || (!roomy
            && (size_t) (last - p)
               < NGX_OTEL_OTLP_ATTR_MAX + NGX_OTEL_OTLP_TAIL_MAX + len))
    {
        return NULL;
    }

    any = ngx_otel_otlp_short_key(p, attr, nshort);

    if (any == NULL
        || ngx_otel_otlp_copy_ascii(any + 4, attr->str.data, len) == NULL)
    {
        return NULL;
    }

    any[0] = NGX_OTEL_OTLP_VALUE;
    any[1] = (u_char) (len + 2);
    any[2] = NGX_OTEL_OTLP_STRING_VALUE;
    any[3] = (u_char) len;
    p[1] = (u_char) (any - p + len + 2);

    return any + 4 + len;
}


/*
 * The KeyValue's tag, room for its length, and the key: a prepared head,
 * or a short ASCII key copied; NULL if neither
 */

static ngx_inline u_char *
ngx_otel_otlp_short_key(u_char *p, ngx_otel_attr_t *attr, ngx_uint_t nshort)
{
    ngx_otel_otlp_head_t  *head;

    if (attr->id < nshort) {
        head = &ngx_otel_otlp_heads[attr->id];

        ngx_memcpy(p, head->data, NGX_OTEL_OTLP_HEAD_SIZE);

        return p + head->len;
    }

    if (attr->id < NGX_OTEL_ATTR_KNOWN
        || attr->key.len == 0
        || attr->key.len > NGX_OTEL_OTLP_KEY_MAX)
    {
        return NULL;
    }

    p[0] = NGX_OTEL_OTLP_ATTRIBUTE;
    p[2] = NGX_OTEL_OTLP_KEY;
    p[3] = (u_char) attr->key.len;

    return ngx_otel_otlp_copy_ascii(p + 4, attr->key.data, attr->key.len);
}


/* any attribute: each length found before its content is written */

static u_char *
ngx_otel_otlp_attr(u_char *p, ngx_otel_attr_t *attr)
{
    size_t      kv, key, klen, value, vlen;
    ngx_str_t  *name;

    if (attr->id < NGX_OTEL_ATTR_KNOWN) {
        name = &ngx_otel_attr_names[attr->id];
        klen = name->len;

    } else {
        name = &attr->key;
        klen = ngx_otel_otlp_string_len(name);
    }

    key = klen ? ngx_otel_otlp_field_size(klen) : 0;

    if (attr->type == NGX_OTEL_ATTR_INT) {
        vlen = 0;
        value = 1 + ngx_otel_otlp_varint_len((uint64_t) attr->num);

    } else {
        vlen = ngx_otel_otlp_string_len(&attr->str);
        value = ngx_otel_otlp_field_size(vlen);
    }

    kv = key + ngx_otel_otlp_field_size(value);

    *p++ = NGX_OTEL_OTLP_ATTRIBUTE;
    p = ngx_otel_otlp_varint(p, kv);

    if (klen) {
        *p++ = NGX_OTEL_OTLP_KEY;
        p = ngx_otel_otlp_varint(p, klen);
        p = ngx_otel_otlp_string_copy(p, name, klen);
    }

    *p++ = NGX_OTEL_OTLP_VALUE;
    p = ngx_otel_otlp_varint(p, value);

    if (attr->type == NGX_OTEL_ATTR_INT) {
        *p++ = NGX_OTEL_OTLP_INT_VALUE;
        return ngx_otel_otlp_varint(p, (uint64_t) attr->num);
    }

    *p++ = NGX_OTEL_OTLP_STRING_VALUE;
    p = ngx_otel_otlp_varint(p, vlen);

    return ngx_otel_otlp_string_copy(p, &attr->str, vlen);
}


/*
 * Events are few (upstream attempts) and rare: written the plain way, in
 * record form already, the length in two bytes unless it needs another
 * number of them
 */

size_t
ngx_otel_otlp_event_size(ngx_otel_event_t *ev)
{
    size_t      n;
    ngx_uint_t  i;

    n = ev->name.len;

    for (i = 0; i < ev->nattrs; i++) {
        n += (ev->attrs[i].id < NGX_OTEL_ATTR_KNOWN) ? NGX_OTEL_OTLP_KEY_MAX
                                                     : ev->attrs[i].key.len;

        if (ev->attrs[i].type != NGX_OTEL_ATTR_INT) {
            n += ev->attrs[i].str.len;
        }
    }

    return NGX_OTEL_OTLP_EVENT_MAX + ev->nattrs * NGX_OTEL_OTLP_ATTR_MAX
           + 3 * n;
}


u_char *
ngx_otel_otlp_event(u_char *p, u_char *last, ngx_otel_event_t *ev)
{
    u_char      *q, *tag;
    size_t       len, n;
    ngx_uint_t   i;

    if ((size_t) (last - p) < ngx_otel_otlp_event_size(ev)) {
        return NULL;
    }

    q = p + 3;

    if (ev->time) {
        *q++ = NGX_OTEL_OTLP_EVENT_TIME;
        q = ngx_otel_otlp_fixed64(q, ev->time);
    }

    if (ev->name.len) {
        q = ngx_otel_otlp_string(q, NGX_OTEL_OTLP_EVENT_NAME, &ev->name);
    }

    /* a KeyValue as a span's, under the Event's tag */

    for (i = 0; i < ev->nattrs; i++) {
        tag = q;
        q = ngx_otel_otlp_attr(q, &ev->attrs[i]);
        *tag = NGX_OTEL_OTLP_EVENT_ATTRIBUTE;
    }

    len = q - (p + 3);
    n = ngx_otel_otlp_varint_len(len);

    if (n != 2) {
        ngx_memmove(p + 1 + n, p + 3, len);
    }

    *p = NGX_OTEL_OTLP_EVENT;
    (void) ngx_otel_otlp_varint(p + 1, len);

    return p + 1 + n + len;
}


/* a string field, even an empty one */

static u_char *
ngx_otel_otlp_string(u_char *p, ngx_uint_t tag, ngx_str_t *s)
{
    size_t  len;

    *p++ = (u_char) tag;

    /* short, copied and checked at once */

    if (s->len < 0x80) {
        *p = (u_char) s->len;

        if (ngx_otel_otlp_copy_ascii(p + 1, s->data, s->len)) {
            return p + 1 + s->len;
        }

    } else if (ngx_otel_otlp_ascii(s->data, s->len)) {
        p = ngx_otel_otlp_varint(p, s->len);
        return ngx_otel_cpymem(p, s->data, s->len);
    }

    len = ngx_otel_otlp_utf8_size(s->data, s->len);

    p = ngx_otel_otlp_varint(p, len);

    return ngx_otel_otlp_utf8_copy(p, s->data, s->len);
}


/* the length of a string as UTF-8 */

static size_t
ngx_otel_otlp_string_len(ngx_str_t *s)
{
    if (ngx_otel_otlp_ascii(s->data, s->len)) {
        return s->len;
    }

    return ngx_otel_otlp_utf8_size(s->data, s->len);
}


/* len: from ngx_otel_otlp_string_len(), the string's own when it is valid */

static ngx_inline u_char *
ngx_otel_otlp_string_copy(u_char *p, ngx_str_t *s, size_t len)
{
    if (len == s->len) {
        return ngx_otel_cpymem(p, s->data, len);
    }

    return ngx_otel_otlp_utf8_copy(p, s->data, s->len);
}


size_t
ngx_otel_otlp_utf8_size(u_char *p, size_t len)
{
    size_t   n, size;
    u_char  *last;

    if (len == 0) {
        return 0;
    }

    last = p + len;
    size = 0;

    while (p < last) {
        if (*p != '\0' && *p < 0x80) {
            size++;
            p++;
            continue;
        }

        n = (*p == '\0') ? 0 : ngx_otel_utf8_len(p, last);

        if (n == 0) {
            /* U+FFFD */
            size += 3;
            p++;
            continue;
        }

        size += n;
        p += n;
    }

    return size;
}


u_char *
ngx_otel_otlp_utf8_copy(u_char *dst, u_char *p, size_t len)
{
    size_t   n;
    u_char  *last;

    if (len == 0) {
        return dst;
    }

    last = p + len;

    while (p < last) {
        if (*p != '\0' && *p < 0x80) {
            *dst++ = *p++;
            continue;
        }

        n = (*p == '\0') ? 0 : ngx_otel_utf8_len(p, last);

        if (n == 0) {
            /* U+FFFD */
            *dst++ = 0xef;
            *dst++ = 0xbf;
            *dst++ = 0xbd;
            p++;
            continue;
        }

        dst = ngx_cpymem(dst, p, n);
        p += n;
    }

    return dst;
}


/*
 * Whether all bytes are 01-7F, a word at a time: in (w - 0x0101...) | w a
 * byte has its top bit set when it was 00 (it borrows) or 80-FF; a borrow
 * goes on only from a byte that was 00, already caught.
 */

static ngx_inline ngx_uint_t
ngx_otel_otlp_ascii(u_char *p, size_t len)
{
    u_char    *last;
    uint32_t   a, b;
    uint64_t   w, bad;

    if (len >= 8) {
        last = p + len - 8;
        bad = 0;

        while (p < last) {
            ngx_memcpy(&w, p, 8);
            bad |= (w - NGX_OTEL_OTLP_ONES) | w;
            p += 8;
        }

        /* the last 8 bytes, again in part */

        ngx_memcpy(&w, last, 8);
        bad |= (w - NGX_OTEL_OTLP_ONES) | w;

        return (bad & NGX_OTEL_OTLP_HIGHS) == 0;
    }

    if (len >= 4) {
        ngx_memcpy(&a, p, 4);
        ngx_memcpy(&b, p + len - 4, 4);

        return (((a - 0x01010101) | a | (b - 0x01010101) | b) & 0x80808080)
               == 0;
    }

    if (len == 0) {
        return 1;
    }

    a = p[0];
    b = p[len - 1];
    a |= (a - 1) | b | (b - 1);
    b = p[len >> 1];
    a |= b | (b - 1);

    return (a & 0x80) == 0;
}


/* little-endian, as the wire format wants */

static ngx_inline u_char *
ngx_otel_otlp_fixed64(u_char *p, uint64_t n)
{
#if (NGX_HAVE_LITTLE_ENDIAN)

    ngx_memcpy(p, &n, 8);

    return p + 8;

#else

    ngx_uint_t  i;

    for (i = 0; i < 8; i++) {
        *p++ = (u_char) (n >> (8 * i));
    }

    return p;

#endif
}


static ngx_inline u_char *
ngx_otel_otlp_fixed32(u_char *p, uint32_t n)
{
#if (NGX_HAVE_LITTLE_ENDIAN)

    ngx_memcpy(p, &n, 4);

    return p + 4;

#else

    *p++ = (u_char) n;
    *p++ = (u_char) (n >> 8);
    *p++ = (u_char) (n >> 16);
    *p++ = (u_char) (n >> 24);

    return p;

#endif
}


