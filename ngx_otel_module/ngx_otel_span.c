
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"
#include "ngx_otel_otlp.h"


/*
 * A record is the fixed ngx_otel_span_record_t, then the name, the
 * tracestate, the attributes (attrs_len bytes) and the events (events_len
 * bytes), with no alignment inside.
 *
 * The attributes and events are already in their OTLP protobuf form
 * (Span.attributes and Span.events fields, strings made UTF-8; our own
 * short attributes compact, see ngx_otel_otlp.h): the request that ends
 * the span encodes them before it takes the zone's lock, and the protobuf
 * exporter copies them (expands the compact ones); only the JSON encoder
 * reads them back (ngx_otel_span_record_read()).
 */


/* the length a string keeps in a record: most are short enough whole */
#define ngx_otel_span_len(s, max)                                             \
    ((s)->len <= (max) ? (s)->len : ngx_otel_span_cut(s, max))


static size_t ngx_otel_span_cut(ngx_str_t *s, size_t max);
static ngx_inline void ngx_otel_span_record_head(ngx_otel_span_record_t *rec,
    ngx_otel_span_t *span, size_t size, size_t name_len,
    size_t tracestate_len);
static void ngx_otel_span_record_fixed(ngx_otel_span_record_t *rec,
    ngx_otel_span_t *span);
static void ngx_otel_span_attrs_cut(ngx_otel_attr_t *attrs, ngx_uint_t n);
static ngx_uint_t ngx_otel_span_attrs_count(ngx_otel_attr_t *attrs,
    ngx_uint_t n);
static u_char *ngx_otel_span_attr_read(u_char *p, u_char *last,
    ngx_otel_attr_t *attr);
static ngx_inline u_char *ngx_otel_span_varint_read(u_char *p, u_char *last,
    uint64_t *v);


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
    size_t      size;
    ngx_uint_t  n;

    n = ngx_min(span->nattrs, NGX_OTEL_SPAN_MAX_ATTRS);

    size = sizeof(ngx_otel_span_record_t)
           + ngx_otel_span_len(&span->name, NGX_OTEL_SPAN_NAME_MAX_LEN)
           + ngx_min(span->tracestate.len, NGX_OTEL_TRACESTATE_MAX_LEN)
           + span->events.len;

    /* exact for encoded attributes, what others may take at most */

    if (n == 1 && span->attrs[0].type == NGX_OTEL_ATTR_ENCODED) {
        size += span->attrs[0].str.len;

    } else if (n) {
        size += ngx_otel_otlp_attrs_size(span->attrs, n);
    }

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


static void
ngx_otel_span_attrs_cut(ngx_otel_attr_t *attrs, ngx_uint_t n)
{
    ngx_otel_attr_t  *attr, *last;

    for (attr = attrs, last = attrs + n; attr < last; attr++) {

        if (attr->type == NGX_OTEL_ATTR_ENCODED) {
            continue;
        }

        if (attr->id == NGX_OTEL_ATTR_CUSTOM) {
            attr->key.len = ngx_otel_span_len(&attr->key,
                                              NGX_OTEL_ATTR_KEY_MAX_LEN);
        }

        if (attr->type == NGX_OTEL_ATTR_STRING) {
            attr->str.len = ngx_otel_span_len(&attr->str,
                                              NGX_OTEL_ATTR_VALUE_MAX_LEN);
        }
    }
}


static ngx_uint_t
ngx_otel_span_attrs_count(ngx_otel_attr_t *attrs, ngx_uint_t n)
{
    ngx_uint_t        count;
    ngx_otel_attr_t  *attr, *last;

    count = 0;

    for (attr = attrs, last = attrs + n; attr < last; attr++) {
        count += (attr->type == NGX_OTEL_ATTR_ENCODED)
                 ? (ngx_uint_t) attr->num : 1;
    }

    return count;
}


/* the fixed part of a record, with the lengths its strings keep */

static ngx_inline void
ngx_otel_span_record_head(ngx_otel_span_record_t *rec, ngx_otel_span_t *span,
    size_t size, size_t name_len, size_t tracestate_len)
{
    rec->size = (uint32_t) size;
    rec->kind = (uint8_t) span->kind;
    rec->status = (uint8_t) span->status;
    rec->flags = (uint8_t) span->flags;
    ngx_memcpy(rec->trace_id, span->trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memcpy(rec->span_id, span->span_id, NGX_OTEL_SPAN_ID_LEN);
    ngx_memcpy(rec->parent_id, span->parent_id, NGX_OTEL_SPAN_ID_LEN);
    rec->start = span->start;
    rec->end = span->end;
    rec->name_len = (uint16_t) name_len;
    rec->tracestate_len = (uint16_t) tracestate_len;
    rec->nevents = (uint16_t) span->nevents;
    rec->events_len = (uint32_t) span->events.len;
    rec->shared_id = 0;
    rec->shared_off = 0;
    rec->shared_len = 0;
}


void
ngx_otel_span_record_write(ngx_otel_span_record_t *rec, ngx_otel_span_t *span,
    size_t size)
{
    u_char      *p, *q;
    ngx_uint_t   n;

    n = ngx_min(span->nattrs, NGX_OTEL_SPAN_MAX_ATTRS);

    ngx_otel_span_record_head(rec, span, size,
                              ngx_otel_span_len(&span->name,
                                                NGX_OTEL_SPAN_NAME_MAX_LEN),
                              ngx_min(span->tracestate.len,
                                      NGX_OTEL_TRACESTATE_MAX_LEN));

    p = (u_char *) &rec[1];
    p = ngx_otel_cpymem(p, span->name.data, rec->name_len);
    p = ngx_otel_cpymem(p, span->tracestate.data, rec->tracestate_len);

    /* attributes not encoded yet are, into the room record_size() gave */

    if (n == 1 && span->attrs[0].type == NGX_OTEL_ATTR_ENCODED) {
        q = ngx_cpymem(p, span->attrs[0].str.data, span->attrs[0].str.len);
        rec->attrs_size = (uint32_t) span->attrs[0].key.len;

    } else {
        ngx_otel_span_attrs_cut(span->attrs, n);
        q = n ? ngx_otel_otlp_attrs(p, (u_char *) rec + size, span->attrs, n)
              : p;
        rec->attrs_size = q ? (uint32_t) (q - p) : 0;
    }

    if (q == NULL) {
        q = p;
        n = 0;
    }

    rec->nattrs = (uint16_t) ngx_otel_span_attrs_count(span->attrs, n);
    rec->attrs_len = (uint32_t) (q - p);

    if (span->events.len) {
        (void) ngx_cpymem(q, span->events.data, span->events.len);
    }

    rec->otlp_len = 0;
}


ngx_int_t
ngx_otel_span_record_encoded(u_char *p, u_char *last, ngx_otel_span_t *span,
    ngx_uint_t otlp, u_char **next)
{
    u_char                  *q, *ascii;
    size_t                   size;
    ngx_str_t               *attrs;
    ngx_otel_span_record_t  *rec;

    if (span->nattrs > 1
        || (span->nattrs == 1 && span->attrs[0].type != NGX_OTEL_ATTR_ENCODED)
        || span->name.len > NGX_OTEL_SPAN_NAME_MAX_LEN
        || span->tracestate.len > NGX_OTEL_TRACESTATE_MAX_LEN)
    {
        return NGX_ERROR;
    }

    attrs = span->nattrs ? &span->attrs[0].str : NULL;

    size = ngx_align(sizeof(ngx_otel_span_record_t) + span->name.len
                     + span->tracestate.len + (attrs ? attrs->len : 0)
                     + span->events.len, 8);

    if ((size_t) (last - p) < size) {
        return NGX_DECLINED;
    }

    rec = (ngx_otel_span_record_t *) p;

    ngx_otel_span_record_head(rec, span, size, span->name.len,
                              span->tracestate.len);

    /* the strings are copied and found plain ASCII at once */

    q = (u_char *) &rec[1];

    ascii = ngx_otel_otlp_copy_ascii(q, span->name.data, span->name.len);
    q += span->name.len;

    if (span->tracestate.len) {
        ascii = ngx_otel_otlp_copy_ascii(q, span->tracestate.data,
                                         span->tracestate.len)
                ? ascii : NULL;
        q += span->tracestate.len;
    }

    if (attrs) {
        q = ngx_cpymem(q, attrs->data, attrs->len);

        rec->attrs_len = (uint32_t) attrs->len;
        rec->attrs_size = (uint32_t) span->attrs[0].key.len;
        rec->nattrs = (uint16_t) span->attrs[0].num;

        /* within the attributes, and what 16 bits say (data below: wraps) */

        if (span->shared.len
            && (size_t) (span->shared.data - attrs->data) + span->shared.len
               <= ngx_min(attrs->len, 0xffff))
        {
            rec->shared_id = span->shared.id;
            rec->shared_off = (uint16_t) (span->shared.data - attrs->data);
            rec->shared_len = (uint16_t) span->shared.len;
        }

    } else {
        rec->attrs_len = 0;
        rec->attrs_size = 0;
        rec->nattrs = 0;
    }

    if (span->events.len) {
        (void) ngx_cpymem(q, span->events.data, span->events.len);
    }

    rec->otlp_len = (otlp && ascii) ? (uint32_t) ngx_otel_otlp_record_sum(span)
                                    : 0;

    *next = p + size;

    return NGX_OK;
}


u_char *
ngx_otel_span_attrs_encode(u_char *p, u_char *last, ngx_otel_attr_t *attrs,
    ngx_uint_t n)
{
    n = ngx_min(n, NGX_OTEL_SPAN_MAX_ATTRS);

    ngx_otel_span_attrs_cut(attrs, n);

    return ngx_otel_otlp_attrs(p, last, attrs, n);
}


static void
ngx_otel_span_record_fixed(ngx_otel_span_record_t *rec, ngx_otel_span_t *span)
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

    span->nevents = rec->nevents;
    span->events.data = p + rec->attrs_len;
    span->events.len = rec->events_len;

    if (rec->shared_len
        && (uint32_t) rec->shared_off + rec->shared_len <= rec->attrs_len)
    {
        span->shared.data = p + rec->shared_off;
        span->shared.len = rec->shared_len;
        span->shared.id = rec->shared_id;

    } else {
        span->shared.data = NULL;
        span->shared.len = 0;
    }

    span->shared.from = 0;
}


void
ngx_otel_span_record_view(ngx_otel_span_record_t *rec, ngx_otel_span_t *span,
    ngx_otel_attr_t *attrs)
{
    ngx_otel_span_record_fixed(rec, span);

    attrs[0].type = NGX_OTEL_ATTR_ENCODED;
    attrs[0].str.data = span->events.data - rec->attrs_len;
    attrs[0].str.len = rec->attrs_len;
    attrs[0].key.len = rec->attrs_size;
    attrs[0].num = rec->nattrs;

    span->attrs = attrs;
    span->nattrs = rec->attrs_len ? 1 : 0;
}


void
ngx_otel_span_record_read(ngx_otel_span_record_t *rec, ngx_otel_span_t *span,
    ngx_otel_attr_t *attrs)
{
    u_char      *p, *last;
    ngx_uint_t   n, shared;

    ngx_otel_span_record_fixed(rec, span);

    last = span->events.data;
    p = last - rec->attrs_len;

    /* a shared part is left as it is, for its reader to look up */

    shared = 0;

    for (n = 0; p < last && n < NGX_OTEL_SPAN_MAX_ATTRS; n++) {

        if (p == span->shared.data) {
            span->shared.from = n;
            shared = 1;

            p += span->shared.len;

            if (p >= last) {
                break;
            }
        }

        p = ngx_otel_span_attr_read(p, last, &attrs[n]);
    }

    /* not at an attribute's start, or past the most read: not shared */

    if (!shared) {
        span->shared.len = 0;
    }

    span->attrs = attrs;
    span->nattrs = n;
}


/*
 * Connections that take turns at one slot would replace each other's at
 * every span: after four misses in a row, only every eighth is kept
 */

void
ngx_otel_shared_keep(ngx_otel_shared_slot_t *slots,
    ngx_otel_span_shared_t *shared, u_char *out, size_t len)
{
    ngx_uint_t               misses;
    ngx_otel_shared_slot_t  *slot;

    slot = &slots[shared->id % NGX_OTEL_SHARED_SLOTS];
    misses = slot->misses++;

    if ((misses >= 4 && (misses & 7) != 0)
        || shared->len > NGX_OTEL_SHARED_MAX
        || len > NGX_OTEL_SHARED_OUT)
    {
        return;
    }

    slot->id = shared->id;
    slot->len = (uint16_t) shared->len;
    slot->out_len = (uint16_t) len;
    ngx_memcpy(slot->data, shared->data, shared->len);
    ngx_memcpy(slot->out, out, len);
}


ngx_uint_t
ngx_otel_span_attrs_read(u_char *p, u_char *last, ngx_otel_attr_t *attrs,
    ngx_uint_t max)
{
    ngx_uint_t  n;

    for (n = 0; p < last && n < max; n++) {
        p = ngx_otel_span_attr_read(p, last, &attrs[n]);
    }

    return n;
}


/*
 * An attribute as a record has it: a KeyValue field as ngx_otel_otlp_attrs()
 * writes it (its tag, length, key and AnyValue), or compact
 */

static u_char *
ngx_otel_span_attr_read(u_char *p, u_char *last, ngx_otel_attr_t *attr)
{
    u_char                 *end, *any;
    uint64_t                len, v;
    ngx_otel_otlp_const_t  *c;

    if ((ngx_uint_t) *p - NGX_OTEL_OTLP_CONST < NGX_OTEL_OTLP_CONSTS) {

        /* a constant: the attribute it was made from */

        c = &ngx_otel_otlp_consts[*p - NGX_OTEL_OTLP_CONST];
        *attr = c->attr;

        return p + 1;
    }

    attr->id = NGX_OTEL_ATTR_CUSTOM;
    attr->type = NGX_OTEL_ATTR_STRING;
    attr->key.len = 0;
    attr->str.len = 0;
    attr->num = 0;

    if (*p < NGX_OTEL_ATTR_KNOWN) {

        /*
         * compact: our key's id, the value part's length, the value part,
         * every length in it one byte
         */

        attr->id = p[0];
        attr->key = ngx_otel_attr_names[p[0]];

        end = p + 2 + p[1];

        if (p[4] == 0x0a) {                     /* string_value */
            attr->str.data = p + 6;
            attr->str.len = p[5];

        } else {                                /* int_value */
            (void) ngx_otel_span_varint_read(p + 5, end, &v);
            attr->type = NGX_OTEL_ATTR_INT;
            attr->num = (int64_t) v;
        }

        return end;
    }

    p = ngx_otel_span_varint_read(p + 1, last, &len);
    end = ((uint64_t) (last - p) < len) ? last : p + len;

    while (p < end) {

        switch (*p++) {

        case 0x0a:  /* KeyValue.key */
            p = ngx_otel_span_varint_read(p, end, &len);
            attr->key.data = p;
            attr->key.len = ngx_min(len, (uint64_t) (end - p));
            p += attr->key.len;
            break;

        case 0x12:  /* KeyValue.value, an AnyValue */
            p = ngx_otel_span_varint_read(p, end, &len);
            any = ((uint64_t) (end - p) < len) ? end : p + len;

            if (p < any && *p == 0x0a) {        /* string_value */
                p = ngx_otel_span_varint_read(p + 1, any, &v);
                attr->str.data = p;
                attr->str.len = ngx_min(v, (uint64_t) (any - p));

            } else if (p < any && *p == 0x18) { /* int_value */
                (void) ngx_otel_span_varint_read(p + 1, any, &v);
                attr->type = NGX_OTEL_ATTR_INT;
                attr->num = (int64_t) v;
            }

            p = any;
            break;

        default:
            /* nothing else is written */
            return end;
        }
    }

    return end;
}


static ngx_inline u_char *
ngx_otel_span_varint_read(u_char *p, u_char *last, uint64_t *v)
{
    uint64_t    n;
    ngx_uint_t  shift;

    n = 0;

    for (shift = 0; p < last && shift < 64; shift += 7) {
        n |= (uint64_t) (*p & 0x7f) << shift;

        if ((*p++ & 0x80) == 0) {
            break;
        }
    }

    *v = n;

    return p;
}


u_char *
ngx_otel_span_event_encode(u_char *p, u_char *last, ngx_otel_event_t *ev)
{
    ngx_otel_event_t  cut;

    cut = *ev;
    cut.name.len = ngx_otel_span_len(&ev->name, NGX_OTEL_EVENT_NAME_MAX_LEN);
    cut.nattrs = ngx_min(ev->nattrs, NGX_OTEL_EVENT_MAX_ATTRS);

    ngx_otel_span_attrs_cut(cut.attrs, cut.nattrs);

    return ngx_otel_otlp_event(p, last, &cut);
}


/* an Event field as ngx_otel_otlp_event() writes it */

u_char *
ngx_otel_span_event_read(u_char *p, ngx_otel_event_t *ev,
    ngx_otel_attr_t *attrs)
{
    u_char      *end;
    uint64_t     len;
    ngx_uint_t   i;

    ev->time = 0;
    ev->name.len = 0;
    ev->nattrs = 0;
    ev->attrs = attrs;

    p = ngx_otel_span_varint_read(p + 1, p + 11, &len);
    end = p + len;

    while (p < end) {

        switch (*p) {

        case 0x09:  /* Event.time_unix_nano, little-endian */
            for (i = 8; i > 0; i--) {
                ev->time = (ev->time << 8) | p[i];
            }

            p += 1 + sizeof(uint64_t);
            break;

        case 0x12:  /* Event.name */
            p = ngx_otel_span_varint_read(p + 1, end, &len);
            ev->name.data = p;
            ev->name.len = ngx_min(len, (uint64_t) (end - p));
            p += ev->name.len;
            break;

        case 0x1a:  /* Event.attributes */
            if (ev->nattrs == NGX_OTEL_EVENT_MAX_ATTRS) {
                return end;
            }

            p = ngx_otel_span_attr_read(p, end, &attrs[ev->nattrs++]);
            break;

        default:
            return end;
        }
    }

    return end;
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
