
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"
#include "ngx_otel_otlp_json.h"
#include "ngx_otel_version.h"


/*
 * The layout follows what the OpenTelemetry Collector's pdata JSON
 * marshaler (and so its file exporter) writes: fields in proto order;
 * an empty traceState, name or attribute list, a zero parentSpanId and
 * kind are left out; "status" is always written, as {} when unset.  Ids
 * are lowercase hex, enums and flags are numbers, 64-bit integers are
 * decimal strings.
 */

#define NGX_OTEL_JSON_SCOPE_NAME     "ngx_otel_module"

/* the most one input byte becomes: "\u001f", or "\ufffd" for a bad byte */
#define NGX_OTEL_JSON_ESCAPE_MAX     6

/* the W3C trace-flags and the parent's remoteness, OTLP SpanFlags */
#define NGX_OTEL_JSON_FLAGS_TRACE_MASK      0xff
#define NGX_OTEL_JSON_FLAGS_HAS_IS_REMOTE   0x100
#define NGX_OTEL_JSON_FLAGS_IS_REMOTE       0x200

#define NGX_OTEL_JSON_1E8            100000000

#define ngx_otel_json_literal(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)

#define NGX_OTEL_JSON_ONES           0x0101010101010101ULL
#define NGX_OTEL_JSON_HIGHS          0x8080808080808080ULL

/* "aaaaa" in the bytes 3 to 7 of a word: plain, whatever fills them */
#define NGX_OTEL_JSON_PLAIN_FILL     0x6161616161000000ULL

/*
 * Whether any of the eight bytes of x needs more than a copy: a byte of
 * 0x80 or above, below 0x20, '"' or '\\' (each test is exact as to
 * whether there is such a byte, which is all that is asked)
 */
#define ngx_otel_json_has_zero(v)                                             \
    (((v) - NGX_OTEL_JSON_ONES) & ~(v) & NGX_OTEL_JSON_HIGHS)

#define ngx_otel_json_special8(x)                                             \
    (((x) & NGX_OTEL_JSON_HIGHS)                                              \
     | (((x) - 0x20 * NGX_OTEL_JSON_ONES) & ~(x) & NGX_OTEL_JSON_HIGHS)       \
     | ngx_otel_json_has_zero((x) ^ ('"' * NGX_OTEL_JSON_ONES))               \
     | ngx_otel_json_has_zero((x) ^ ('\\' * NGX_OTEL_JSON_ONES)))


#define NGX_OTEL_JSON_BEGIN          "{\"resourceSpans\":[{\"resource\":{"
#define NGX_OTEL_JSON_RES_ATTRS      "\"attributes\":["
#define NGX_OTEL_JSON_RES_ATTRS_END  "]"
#define NGX_OTEL_JSON_SCOPE                                                   \
    "},\"scopeSpans\":[{\"scope\":{\"name\":\"" NGX_OTEL_JSON_SCOPE_NAME      \
    "\",\"version\":\"" NGX_OTEL_VERSION "\"},\"spans\":["
#define NGX_OTEL_JSON_END            "]}]}]}"

#define NGX_OTEL_JSON_KEY            "{\"key\":"
#define NGX_OTEL_JSON_STRING_VALUE   ",\"value\":{\"stringValue\":"
#define NGX_OTEL_JSON_INT_VALUE      ",\"value\":{\"intValue\":\""
#define NGX_OTEL_JSON_STRING_END     "}}"
#define NGX_OTEL_JSON_INT_END        "\"}}"

#define NGX_OTEL_JSON_TRACE_ID       "{\"traceId\":\""
#define NGX_OTEL_JSON_SPAN_ID        "\",\"spanId\":\""
#define NGX_OTEL_JSON_IDS_END        "\""
#define NGX_OTEL_JSON_TRACE_STATE    ",\"traceState\":"
#define NGX_OTEL_JSON_PARENT_ID      ",\"parentSpanId\":\""
#define NGX_OTEL_JSON_FLAGS          ",\"flags\":"
#define NGX_OTEL_JSON_NAME           ",\"name\":"
#define NGX_OTEL_JSON_KIND           ",\"kind\":"
#define NGX_OTEL_JSON_START          ",\"startTimeUnixNano\":\""
#define NGX_OTEL_JSON_END_TIME       "\",\"endTimeUnixNano\":\""
#define NGX_OTEL_JSON_ATTRS          ",\"attributes\":["
#define NGX_OTEL_JSON_EVENTS         ",\"events\":["
#define NGX_OTEL_JSON_EVENT_TIME     "{\"timeUnixNano\":\""
#define NGX_OTEL_JSON_EVENT_NAME     "\",\"name\":"
#define NGX_OTEL_JSON_EVENT_ATTRS    ",\"attributes\":["
#define NGX_OTEL_JSON_EVENT_END      "]}"
#define NGX_OTEL_JSON_STATUS         ",\"status\":{"
#define NGX_OTEL_JSON_STATUS_CODE    "\"code\":"
#define NGX_OTEL_JSON_SPAN_END       "}}"


/* the text of spans' shared parts (ngx_otel_span_shared_t) */
static ngx_otel_shared_slot_t  ngx_otel_json_shared_slots[
                                                    NGX_OTEL_SHARED_SLOTS];

/* a shared part's attributes, when they are read after all */
static ngx_otel_attr_t  ngx_otel_json_shared_attrs[NGX_OTEL_SPAN_MAX_ATTRS];


static ngx_inline size_t ngx_otel_json_attrs_size(ngx_otel_attr_t *attrs,
    ngx_uint_t n);
static ngx_inline size_t ngx_otel_json_attr_size(ngx_otel_attr_t *attr);
static u_char *ngx_otel_json_attr(u_char *p, ngx_otel_attr_t *attr);
static size_t ngx_otel_json_shared_size(ngx_otel_span_t *span);
static u_char *ngx_otel_json_shared(u_char *p, ngx_otel_span_t *span);
static size_t ngx_otel_json_events_size(ngx_otel_span_t *span);
static u_char *ngx_otel_json_events(u_char *p, ngx_otel_span_t *span);
static size_t ngx_otel_json_str_size(ngx_str_t *s);
static u_char *ngx_otel_json_str(u_char *p, u_char *s, size_t len);
static u_char *ngx_otel_json_str_escape(u_char *p, u_char *s, u_char *last);
static u_char *ngx_otel_json_hex(u_char *p, u_char *id, size_t len);
static u_char *ngx_otel_json_uint(u_char *p, uint64_t n);
static u_char *ngx_otel_json_uint32(u_char *p, uint32_t n);
static u_char *ngx_otel_json_digits8(u_char *p, uint32_t n);
static u_char *ngx_otel_json_int(u_char *p, int64_t n);
static ngx_uint_t ngx_otel_json_is_zero(u_char *id, size_t len);


static u_char  ngx_otel_json_hex_digits[] = "0123456789abcdef";


/* "00" to "99" */

static u_char  ngx_otel_json_digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";


/* "00" to "ff", two characters per byte */

static u_char  ngx_otel_json_hex_pairs[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";


size_t
ngx_otel_otlp_json_begin_size(ngx_array_t *resource)
{
    size_t         size;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    size = sizeof(NGX_OTEL_JSON_BEGIN) - 1
           + sizeof(NGX_OTEL_JSON_SCOPE) - 1;

    if (resource == NULL || resource->nelts == 0) {
        return size;
    }

    size += sizeof(NGX_OTEL_JSON_RES_ATTRS) - 1
            + sizeof(NGX_OTEL_JSON_RES_ATTRS_END) - 1;

    kv = resource->elts;

    for (i = 0; i < resource->nelts; i++) {
        size += sizeof(",") - 1
                + sizeof(NGX_OTEL_JSON_KEY) - 1
                + ngx_otel_json_str_size(&kv[i].key)
                + sizeof(NGX_OTEL_JSON_STRING_VALUE) - 1
                + ngx_otel_json_str_size(&kv[i].value)
                + sizeof(NGX_OTEL_JSON_STRING_END) - 1;
    }

    return size;
}


u_char *
ngx_otel_otlp_json_begin(u_char *p, ngx_array_t *resource)
{
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_BEGIN);

    if (resource != NULL && resource->nelts) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_RES_ATTRS);

        kv = resource->elts;

        for (i = 0; i < resource->nelts; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_otel_json_literal(p, NGX_OTEL_JSON_KEY);
            p = ngx_otel_json_str(p, kv[i].key.data, kv[i].key.len);
            p = ngx_otel_json_literal(p, NGX_OTEL_JSON_STRING_VALUE);
            p = ngx_otel_json_str(p, kv[i].value.data, kv[i].value.len);
            p = ngx_otel_json_literal(p, NGX_OTEL_JSON_STRING_END);
        }

        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_RES_ATTRS_END);
    }

    return ngx_otel_json_literal(p, NGX_OTEL_JSON_SCOPE);
}


size_t
ngx_otel_otlp_json_span_size(ngx_otel_span_t *span)
{
    size_t  size;

    size = sizeof(",") - 1
           + sizeof(NGX_OTEL_JSON_TRACE_ID) - 1
           + 2 * NGX_OTEL_TRACE_ID_LEN
           + sizeof(NGX_OTEL_JSON_SPAN_ID) - 1
           + 2 * NGX_OTEL_SPAN_ID_LEN
           + sizeof(NGX_OTEL_JSON_IDS_END) - 1
           + sizeof(NGX_OTEL_JSON_TRACE_STATE) - 1
           + ngx_otel_json_str_size(&span->tracestate)
           + sizeof(NGX_OTEL_JSON_PARENT_ID) - 1
           + 2 * NGX_OTEL_SPAN_ID_LEN
           + sizeof(NGX_OTEL_JSON_IDS_END) - 1
           + sizeof(NGX_OTEL_JSON_FLAGS) - 1 + NGX_INT64_LEN
           + sizeof(NGX_OTEL_JSON_NAME) - 1
           + ngx_otel_json_str_size(&span->name)
           + sizeof(NGX_OTEL_JSON_KIND) - 1 + NGX_INT64_LEN
           + sizeof(NGX_OTEL_JSON_START) - 1 + NGX_INT64_LEN
           + sizeof(NGX_OTEL_JSON_END_TIME) - 1 + NGX_INT64_LEN
           + sizeof(NGX_OTEL_JSON_IDS_END) - 1
           + sizeof(NGX_OTEL_JSON_ATTRS) - 1 + sizeof("]") - 1
           + sizeof(NGX_OTEL_JSON_STATUS) - 1
           + sizeof(NGX_OTEL_JSON_STATUS_CODE) - 1 + NGX_INT64_LEN
           + sizeof(NGX_OTEL_JSON_SPAN_END) - 1;

    size += ngx_otel_json_attrs_size(span->attrs, span->nattrs);

    if (span->shared.len) {
        size += ngx_otel_json_shared_size(span);
    }

    if (span->nevents) {
        size += ngx_otel_json_events_size(span);
    }

    return size;
}


u_char *
ngx_otel_otlp_json_span(u_char *p, ngx_otel_span_t *span, ngx_uint_t first)
{
    ngx_uint_t  i, flags, comma;

    if (!first) {
        *p++ = ',';
    }

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_TRACE_ID);
    p = ngx_otel_json_hex(p, span->trace_id, NGX_OTEL_TRACE_ID_LEN);
    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_SPAN_ID);
    p = ngx_otel_json_hex(p, span->span_id, NGX_OTEL_SPAN_ID_LEN);
    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_IDS_END);

    if (span->tracestate.len) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_TRACE_STATE);
        p = ngx_otel_json_str(p, span->tracestate.data, span->tracestate.len);
    }

    flags = (span->flags & NGX_OTEL_JSON_FLAGS_TRACE_MASK)
            | NGX_OTEL_JSON_FLAGS_HAS_IS_REMOTE;

    if (!ngx_otel_json_is_zero(span->parent_id, NGX_OTEL_SPAN_ID_LEN)) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_PARENT_ID);
        p = ngx_otel_json_hex(p, span->parent_id, NGX_OTEL_SPAN_ID_LEN);
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_IDS_END);

        /* a server span's parent always comes with the request */

        if (span->kind == NGX_OTEL_SPAN_KIND_SERVER) {
            flags |= NGX_OTEL_JSON_FLAGS_IS_REMOTE;
        }
    }

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_FLAGS);
    p = ngx_otel_json_uint(p, flags);

    if (span->name.len) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_NAME);
        p = ngx_otel_json_str(p, span->name.data, span->name.len);
    }

    if (span->kind) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_KIND);
        p = ngx_otel_json_uint(p, span->kind);
    }

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_START);
    p = ngx_otel_json_uint(p, span->start);
    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_END_TIME);
    p = ngx_otel_json_uint(p, span->end);
    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_IDS_END);

    if (span->nattrs || span->shared.len) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_ATTRS);

        comma = 0;

        for (i = 0; i <= span->nattrs; i++) {

            /* the shared part, before attrs[from], is not one of them */

            if (i == span->shared.from && span->shared.len) {
                if (comma) {
                    *p++ = ',';
                }

                p = ngx_otel_json_shared(p, span);
                comma = 1;
            }

            if (i == span->nattrs) {
                break;
            }

            if (comma) {
                *p++ = ',';
            }

            p = ngx_otel_json_attr(p, &span->attrs[i]);
            comma = 1;
        }

        *p++ = ']';
    }

    if (span->nevents) {
        p = ngx_otel_json_events(p, span);
    }

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_STATUS);

    if (span->status != NGX_OTEL_STATUS_UNSET) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_STATUS_CODE);
        p = ngx_otel_json_uint(p, span->status);
    }

    return ngx_otel_json_literal(p, NGX_OTEL_JSON_SPAN_END);
}


size_t
ngx_otel_otlp_json_end_size(void)
{
    return sizeof(NGX_OTEL_JSON_END) - 1;
}


u_char *
ngx_otel_otlp_json_end(u_char *p)
{
    return ngx_otel_json_literal(p, NGX_OTEL_JSON_END);
}


static size_t
ngx_otel_json_events_size(ngx_otel_span_t *span)
{
    u_char            *e;
    size_t             size;
    ngx_uint_t         i;
    ngx_otel_attr_t    attrs[NGX_OTEL_EVENT_MAX_ATTRS];
    ngx_otel_event_t   ev;

    size = sizeof(NGX_OTEL_JSON_EVENTS) - 1 + sizeof("]") - 1;

    e = span->events.data;

    for (i = 0; i < span->nevents; i++) {
        e = ngx_otel_span_event_read(e, &ev, attrs);

        size += sizeof(",") - 1
                + sizeof(NGX_OTEL_JSON_EVENT_TIME) - 1 + NGX_INT64_LEN
                + sizeof(NGX_OTEL_JSON_EVENT_NAME) - 1
                + ngx_otel_json_str_size(&ev.name)
                + sizeof(NGX_OTEL_JSON_EVENT_ATTRS) - 1
                + sizeof(NGX_OTEL_JSON_EVENT_END) - 1;

        size += ngx_otel_json_attrs_size(attrs, ev.nattrs);
    }

    return size;
}


static u_char *
ngx_otel_json_events(u_char *p, ngx_otel_span_t *span)
{
    u_char            *e;
    ngx_uint_t         i, j;
    ngx_otel_attr_t    attrs[NGX_OTEL_EVENT_MAX_ATTRS];
    ngx_otel_event_t   ev;

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_EVENTS);

    e = span->events.data;

    for (i = 0; i < span->nevents; i++) {
        e = ngx_otel_span_event_read(e, &ev, attrs);

        if (i) {
            *p++ = ',';
        }

        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_EVENT_TIME);
        p = ngx_otel_json_uint(p, ev.time);
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_EVENT_NAME);
        p = ngx_otel_json_str(p, ev.name.data, ev.name.len);
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_EVENT_ATTRS);

        for (j = 0; j < ev.nattrs; j++) {
            if (j) {
                *p++ = ',';
            }

            p = ngx_otel_json_attr(p, &attrs[j]);
        }

        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_EVENT_END);
    }

    *p++ = ']';

    return p;
}


/* attributes, each with the comma before it */

static ngx_inline size_t
ngx_otel_json_attrs_size(ngx_otel_attr_t *attrs, ngx_uint_t n)
{
    size_t      size;
    ngx_uint_t  i;

    size = 0;

    for (i = 0; i < n; i++) {
        size += ngx_otel_json_attr_size(&attrs[i]);
    }

    return size;
}


/* an attribute with the comma before it */

static ngx_inline size_t
ngx_otel_json_attr_size(ngx_otel_attr_t *attr)
{
    size_t  size;

    /* the longer of the two ways a value is written, plus the key */

    size = sizeof(",") - 1 + sizeof(NGX_OTEL_JSON_KEY) - 1
           + ngx_max(sizeof(NGX_OTEL_JSON_INT_VALUE) - 1 + NGX_INT64_LEN
                     + sizeof(NGX_OTEL_JSON_INT_END) - 1,
                     sizeof(NGX_OTEL_JSON_STRING_VALUE) - 1 + 2
                     + sizeof(NGX_OTEL_JSON_STRING_END) - 1);

    if (attr->id < NGX_OTEL_ATTR_KNOWN) {
        size += ngx_otel_attr_names[attr->id].len + 2;

    } else {
        size += ngx_otel_json_str_size(&attr->key);
    }

    if (attr->type != NGX_OTEL_ATTR_INT) {
        size += attr->str.len * NGX_OTEL_JSON_ESCAPE_MAX;
    }

    return size;
}


/* a shared part's attributes, written once for the spans that have it */

static size_t
ngx_otel_json_shared_size(ngx_otel_span_t *span)
{
    ngx_uint_t               n;
    ngx_otel_shared_slot_t  *slot;

    slot = ngx_otel_shared_find(ngx_otel_json_shared_slots, &span->shared);

    if (slot) {
        return sizeof(",") - 1 + slot->out_len;
    }

    n = ngx_otel_span_attrs_read(span->shared.data,
                                 span->shared.data + span->shared.len,
                                 ngx_otel_json_shared_attrs,
                                 NGX_OTEL_SPAN_MAX_ATTRS);

    return ngx_otel_json_attrs_size(ngx_otel_json_shared_attrs, n);
}


static u_char *
ngx_otel_json_shared(u_char *p, ngx_otel_span_t *span)
{
    u_char                  *start;
    ngx_uint_t               i, n;
    ngx_otel_shared_slot_t  *slot;

    slot = ngx_otel_shared_find(ngx_otel_json_shared_slots, &span->shared);

    if (slot) {
        return ngx_cpymem(p, slot->out, slot->out_len);
    }

    n = ngx_otel_span_attrs_read(span->shared.data,
                                 span->shared.data + span->shared.len,
                                 ngx_otel_json_shared_attrs,
                                 NGX_OTEL_SPAN_MAX_ATTRS);
    start = p;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_otel_json_attr(p, &ngx_otel_json_shared_attrs[i]);
    }

    ngx_otel_shared_keep(ngx_otel_json_shared_slots, &span->shared, start,
                         p - start);

    return p;
}


static u_char *
ngx_otel_json_attr(u_char *p, ngx_otel_attr_t *attr)
{
    ngx_str_t  *name;

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_KEY);

    if (attr->id < NGX_OTEL_ATTR_KNOWN) {

        /* our own names need no escaping */

        name = &ngx_otel_attr_names[attr->id];

        *p++ = '"';
        p = ngx_otel_cpymem(p, name->data, name->len);
        *p++ = '"';

    } else {
        p = ngx_otel_json_str(p, attr->key.data, attr->key.len);
    }

    if (attr->type == NGX_OTEL_ATTR_INT) {
        p = ngx_otel_json_literal(p, NGX_OTEL_JSON_INT_VALUE);
        p = ngx_otel_json_int(p, attr->num);
        return ngx_otel_json_literal(p, NGX_OTEL_JSON_INT_END);
    }

    p = ngx_otel_json_literal(p, NGX_OTEL_JSON_STRING_VALUE);
    p = ngx_otel_json_str(p, attr->str.data, attr->str.len);
    return ngx_otel_json_literal(p, NGX_OTEL_JSON_STRING_END);
}


static size_t
ngx_otel_json_str_size(ngx_str_t *s)
{
    return 2 + s->len * NGX_OTEL_JSON_ESCAPE_MAX;
}


/*
 * A quoted JSON string of valid UTF-8: '"', '\' and control characters
 * are escaped, and each byte that does not start a well-formed UTF-8
 * sequence (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) becomes U+FFFD, one per byte, as Go's encoding/json does.
 */

static u_char *
ngx_otel_json_str(u_char *p, u_char *s, size_t len)
{
    u_char   *last;
    uint64_t  x, y;

    last = s + len;

    *p++ = '"';

    /*
     * Most strings need no escaping at all: they are checked and copied a
     * word at a time, short ones in words assembled from overlapping
     * pieces; the first word that needs care sends the rest of the string
     * to ngx_otel_json_str_escape(): apart, so that this part saves
     * and restores few registers.
     */

    if (len >= 8) {

        while (last - s > 8) {
            ngx_memcpy(&x, s, 8);

            if (ngx_otel_json_special8(x)) {
                return ngx_otel_json_str_escape(p, s, last);
            }

            ngx_memcpy(p, &x, 8);
            p += 8;
            s += 8;
        }

        /* the last 1 to 8 bytes, as the word that ends the string */

        ngx_memcpy(&x, last - 8, 8);

        if (ngx_otel_json_special8(x)) {
            return ngx_otel_json_str_escape(p, s, last);
        }

        p += last - s;
        ngx_memcpy(p - 8, &x, 8);
        *p++ = '"';

        return p;
    }

    if (len >= 4) {
        x = 0;
        y = 0;
        ngx_memcpy(&x, s, 4);
        ngx_memcpy(&y, last - 4, 4);

        if (ngx_otel_json_special8(x | (y << 32))) {
            return ngx_otel_json_str_escape(p, s, last);
        }

        ngx_memcpy(p, &x, 4);
        ngx_memcpy(p + len - 4, &y, 4);
        p += len;
        *p++ = '"';

        return p;
    }

    if (len) {
        x = s[0] | (uint64_t) s[len >> 1] << 8 | (uint64_t) s[len - 1] << 16
            | NGX_OTEL_JSON_PLAIN_FILL;

        if (ngx_otel_json_special8(x)) {
            return ngx_otel_json_str_escape(p, s, last);
        }

        p[0] = s[0];
        p[len >> 1] = s[len >> 1];
        p[len - 1] = s[len - 1];
        p += len;
    }

    *p++ = '"';

    return p;
}


/* the rest of a string from a word that needs care, then the quote */

static u_char *
ngx_otel_json_str_escape(u_char *p, u_char *s, u_char *last)
{
    size_t    n;
    u_char    c, *chunk;
    uint64_t  x;

    while (s < last) {

        if (last - s >= 8) {
            ngx_memcpy(&x, s, 8);

            if (!ngx_otel_json_special8(x)) {
                ngx_memcpy(p, &x, 8);
                p += 8;
                s += 8;
                continue;
            }

            chunk = s + 8;

        } else {
            chunk = last;
        }

        /* byte by byte up to the end of the word that needs care */

        while (s < chunk) {
            c = *s;

            if (c >= 0x20 && c < 0x80) {
                if (c == '"' || c == '\\') {
                    *p++ = '\\';
                }

                *p++ = c;
                s++;
                continue;
            }

            if (c < 0x20) {
                *p++ = '\\';

                switch (c) {
                case '\b':
                    *p++ = 'b';
                    break;
                case '\f':
                    *p++ = 'f';
                    break;
                case '\n':
                    *p++ = 'n';
                    break;
                case '\r':
                    *p++ = 'r';
                    break;
                case '\t':
                    *p++ = 't';
                    break;
                default:
                    *p++ = 'u';
                    *p++ = '0';
                    *p++ = '0';
                    *p++ = ngx_otel_json_hex_digits[c >> 4];
                    *p++ = ngx_otel_json_hex_digits[c & 0x0f];
                }

                s++;
                continue;
            }

            n = ngx_otel_utf8_len(s, last);

            if (n == 0) {
                p = ngx_otel_json_literal(p, "\\ufffd");
                s++;
                continue;
            }

            p = ngx_cpymem(p, s, n);
            s += n;
        }
    }

    *p++ = '"';

    return p;
}


static u_char *
ngx_otel_json_hex(u_char *p, u_char *id, size_t len)
{
    u_char  *last;

    /* ids are 8 or 16 bytes: four at a time */

    for (last = id + len; last - id >= 4; id += 4, p += 8) {
        ngx_memcpy(p, &ngx_otel_json_hex_pairs[id[0] * 2], 2);
        ngx_memcpy(p + 2, &ngx_otel_json_hex_pairs[id[1] * 2], 2);
        ngx_memcpy(p + 4, &ngx_otel_json_hex_pairs[id[2] * 2], 2);
        ngx_memcpy(p + 6, &ngx_otel_json_hex_pairs[id[3] * 2], 2);
    }

    for ( /* void */ ; id < last; id++, p += 2) {
        ngx_memcpy(p, &ngx_otel_json_hex_pairs[*id * 2], 2);
    }

    return p;
}


/*
 * Eight digits at a time in 32-bit arithmetic, two digits per table
 * lookup: a timestamp (19 digits) is three pieces, most other numbers one.
 */

static u_char *
ngx_otel_json_uint(u_char *p, uint64_t n)
{
    uint64_t  hi;

    if (n < NGX_OTEL_JSON_1E8) {
        return ngx_otel_json_uint32(p, (uint32_t) n);
    }

    hi = n / NGX_OTEL_JSON_1E8;

    if (hi < NGX_OTEL_JSON_1E8) {
        p = ngx_otel_json_uint32(p, (uint32_t) hi);

    } else {
        p = ngx_otel_json_uint32(p, (uint32_t) (hi / NGX_OTEL_JSON_1E8));
        p = ngx_otel_json_digits8(p, (uint32_t) (hi % NGX_OTEL_JSON_1E8));
    }

    return ngx_otel_json_digits8(p, (uint32_t) (n % NGX_OTEL_JSON_1E8));
}


/* n < 10^8, without leading zeros */

static u_char *
ngx_otel_json_uint32(u_char *p, uint32_t n)
{
    u_char    *s;
    uint32_t   i;

    if (n < 10) {
        *p++ = (u_char) ('0' + n);
        return p;
    }

    if (n < 100) {
        ngx_memcpy(p, &ngx_otel_json_digit_pairs[n * 2], 2);
        return p + 2;
    }

    if (n < 1000) {
        *p++ = (u_char) ('0' + n / 100);
        ngx_memcpy(p, &ngx_otel_json_digit_pairs[(n % 100) * 2], 2);
        return p + 2;
    }

    s = p + (n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6
             : n < 10000000 ? 7 : 8);
    p = s;

    while (n >= 100) {
        i = n % 100;
        n /= 100;
        s -= 2;
        ngx_memcpy(s, &ngx_otel_json_digit_pairs[i * 2], 2);
    }

    if (n >= 10) {
        ngx_memcpy(s - 2, &ngx_otel_json_digit_pairs[n * 2], 2);

    } else {
        s[-1] = (u_char) ('0' + n);
    }

    return p;
}


/* n < 10^8, as exactly eight digits */

static u_char *
ngx_otel_json_digits8(u_char *p, uint32_t n)
{
    uint32_t  hi, lo;

    hi = n / 10000;
    lo = n % 10000;

    ngx_memcpy(p, &ngx_otel_json_digit_pairs[(hi / 100) * 2], 2);
    ngx_memcpy(p + 2, &ngx_otel_json_digit_pairs[(hi % 100) * 2], 2);
    ngx_memcpy(p + 4, &ngx_otel_json_digit_pairs[(lo / 100) * 2], 2);
    ngx_memcpy(p + 6, &ngx_otel_json_digit_pairs[(lo % 100) * 2], 2);

    return p + 8;
}


static u_char *
ngx_otel_json_int(u_char *p, int64_t n)
{
    if (n < 0) {
        *p++ = '-';
        return ngx_otel_json_uint(p, (uint64_t) 0 - (uint64_t) n);
    }

    return ngx_otel_json_uint(p, (uint64_t) n);
}


static ngx_uint_t
ngx_otel_json_is_zero(u_char *id, size_t len)
{
    uint64_t  x;

    for ( /* void */ ; len >= 8; len -= 8, id += 8) {
        ngx_memcpy(&x, id, 8);

        if (x) {
            return 0;
        }
    }

    while (len--) {
        if (*id++) {
            return 0;
        }
    }

    return 1;
}
