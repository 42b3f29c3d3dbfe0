
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

/* field tags: (number << 3) | wire type (0 varint, 1 i64, 2 len, 5 i32) */
#define NGX_OTEL_OTLP_SPANS                 0x12    /* ScopeSpans.spans 2 */

#define NGX_OTEL_OTLP_TRACE_ID              0x0a    /* Span.trace_id 1 */
#define NGX_OTEL_OTLP_SPAN_ID               0x12    /* span_id 2 */
#define NGX_OTEL_OTLP_TRACE_STATE           0x1a    /* trace_state 3 */
#define NGX_OTEL_OTLP_PARENT_ID             0x22    /* parent_span_id 4 */
#define NGX_OTEL_OTLP_NAME                  0x2a    /* name 5 */
#define NGX_OTEL_OTLP_KIND                  0x30    /* kind 6 */
#define NGX_OTEL_OTLP_START                 0x39    /* start_time_... 7 */
#define NGX_OTEL_OTLP_END                   0x41    /* end_time_... 8 */
#define NGX_OTEL_OTLP_ATTRIBUTE             0x4a    /* attributes 9 */
#define NGX_OTEL_OTLP_EVENT                 0x5a    /* events 11 */
#define NGX_OTEL_OTLP_STATUS                0x7a    /* status 15 */
#define NGX_OTEL_OTLP_FLAGS0                0x85    /* flags 16: two bytes */
#define NGX_OTEL_OTLP_FLAGS1                0x01

#define NGX_OTEL_OTLP_KEY                   0x0a    /* KeyValue.key 1 */
#define NGX_OTEL_OTLP_VALUE                 0x12    /* KeyValue.value 2 */
#define NGX_OTEL_OTLP_STRING_VALUE          0x0a    /* AnyValue... 1 */
#define NGX_OTEL_OTLP_INT_VALUE             0x18    /* AnyValue... 3 */
#define NGX_OTEL_OTLP_CODE                  0x18    /* Status.code 3 */
#define NGX_OTEL_OTLP_EVENT_TIME            0x09    /* Event.time_... 1 */
#define NGX_OTEL_OTLP_EVENT_NAME            0x12    /* Event.name 2 */
#define NGX_OTEL_OTLP_EVENT_ATTRIBUTE       0x1a    /* Event.attributes 3 */

/* a prepared KeyValue head: tag, length, key tag, key length, our key */
#define NGX_OTEL_OTLP_HEAD_SIZE             32
#define NGX_OTEL_OTLP_KEY_MAX               (NGX_OTEL_OTLP_HEAD_SIZE - 4)

/*
 * The most a span takes before its attributes, apart from its strings:
 * the field's tag and length (1 + 10), ids, trace_state's and name's tags
 * and lengths, kind, times
 */
#define NGX_OTEL_OTLP_SPAN_MAX                                                \
    (1 + 10 + 2 + NGX_OTEL_TRACE_ID_LEN + 2 * (2 + NGX_OTEL_SPAN_ID_LEN)      \
     + 2 * (1 + 10) + (1 + 10) + 2 * (1 + 8))

/*
 * After them: status and flags, and room to move the Span if its length
 * takes more than two bytes
 */
#define NGX_OTEL_OTLP_TAIL_MAX              ((2 + 1 + 10) + (2 + 4) + 8)

/* an Event apart from its name and attributes: tag, length, time, tags */
#define NGX_OTEL_OTLP_EVENT_MAX             ((1 + 3) + (1 + 8) + (1 + 3))

/*
 * An attribute takes at least 4 bytes of an event in record form: so many
 * attributes at most in so many bytes of events
 */
#define ngx_otel_otlp_event_attrs_max(len)  ((len) / 4 + 1)

/*
 * The most an attribute takes apart from its strings: tags and lengths of
 * the KeyValue, the key, the AnyValue and the string_value (3 bytes each
 * at most: the strings of a span record are below 64K, so the lengths
 * below 2^21), or an int_value, and one of our own keys (or its prepared
 * head)
 */
#define NGX_OTEL_OTLP_ATTR_MAX                                                \
    (4 * (1 + 3) + (1 + 10) + NGX_OTEL_OTLP_HEAD_SIZE)

/*
 * Below this, a string value with a key of NGX_OTEL_OTLP_KEY_MAX bytes at
 * most makes a KeyValue under 128 bytes (the key's, the AnyValue's and the string_value's tags
 * and lengths, the strings): all of its lengths take one byte
 */
#define NGX_OTEL_OTLP_SHORT                                                   \
    (0x80 - 2 - NGX_OTEL_OTLP_KEY_MAX - 2 - 2)

/* the most an attribute takes the short way: tag, length, the KeyValue */
#define NGX_OTEL_OTLP_SHORT_MAX             (2 + 0x80)

#define NGX_OTEL_OTLP_ONES                  0x0101010101010101ULL
#define NGX_OTEL_OTLP_HIGHS                 0x8080808080808080ULL

/* a tag, the varint length and the content: what a field takes */
#define ngx_otel_otlp_field_size(len)                                         \
    (1 + ngx_otel_otlp_varint_len(len) + (len))

/* a proto3 enum is an int32: below zero, a 10-byte varint */
#define ngx_otel_otlp_enum(n)  ((uint64_t) (int64_t) (int32_t) (n))


typedef struct {
    u_char          data[NGX_OTEL_OTLP_HEAD_SIZE];
    size_t          len;
} ngx_otel_otlp_head_t;


static void ngx_otel_otlp_heads_init(void);
static ngx_inline u_char *ngx_otel_otlp_short(u_char *p, u_char *last,
    ngx_otel_attr_t *attr, ngx_uint_t roomy, ngx_uint_t nshort);
static ngx_inline u_char *ngx_otel_otlp_short_key(u_char *p,
    ngx_otel_attr_t *attr, ngx_uint_t nshort);
static u_char *ngx_otel_otlp_attr(u_char *p, ngx_otel_attr_t *attr);
static u_char *ngx_otel_otlp_events(u_char *p, u_char *last,
    ngx_otel_span_t *span);
static u_char *ngx_otel_otlp_string(u_char *p, ngx_uint_t tag,
    ngx_str_t *s);
static size_t ngx_otel_otlp_string_len(ngx_str_t *s);
static ngx_inline u_char *ngx_otel_otlp_string_copy(u_char *p, ngx_str_t *s,
    size_t len);
static ngx_inline u_char *ngx_otel_otlp_copy_ascii(u_char *dst, u_char *src,
    size_t len);
static ngx_inline ngx_uint_t ngx_otel_otlp_ascii(u_char *p, size_t len);
static ngx_inline u_char *ngx_otel_otlp_fixed64(u_char *p, uint64_t n);
static ngx_inline u_char *ngx_otel_otlp_fixed32(u_char *p, uint32_t n);


/*
 * Made from ngx_otel_attr_names[] on first use, the same in every process:
 * the heads, and how many of our keys (from the first) have one
 */
static ngx_otel_otlp_head_t  ngx_otel_otlp_heads[NGX_OTEL_ATTR_KNOWN];
static ngx_uint_t            ngx_otel_otlp_nshort = NGX_CONF_UNSET_UINT;


size_t
ngx_otel_otlp_span_size(ngx_otel_span_t *span)
{
    size_t            n;
    ngx_uint_t        i;
    ngx_otel_attr_t  *attr;

    n = span->name.len + span->tracestate.len;

    for (i = 0; i < span->nattrs; i++) {
        attr = &span->attrs[i];

        n += attr->key.len;

        if (attr->type != NGX_OTEL_ATTR_INT) {
            n += attr->str.len;
        }
    }

    return NGX_OTEL_OTLP_SPAN_MAX + span->nattrs * NGX_OTEL_OTLP_ATTR_MAX
           + NGX_OTEL_OTLP_TAIL_MAX + 3 * n
           + span->nevents * NGX_OTEL_OTLP_EVENT_MAX + 3 * span->events.len
           + ngx_otel_otlp_event_attrs_max(span->events.len)
             * NGX_OTEL_OTLP_ATTR_MAX;
}


u_char *
ngx_otel_otlp_span(u_char *p, u_char *last, ngx_otel_span_t *span)
{
    u_char           *q, *r;
    size_t            len, n;
    uint32_t          flags;
    uint64_t          v, parent;
    ngx_uint_t        roomy, nshort;
    ngx_otel_attr_t  *attr, *end;

    if (ngx_otel_otlp_nshort == NGX_CONF_UNSET_UINT) {
        ngx_otel_otlp_heads_init();
    }

    nshort = ngx_otel_otlp_nshort;

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

    attr = span->attrs;
    end = attr + span->nattrs;

    /* room for every attribute the short way: no checks on that way */

    roomy = ((size_t) (last - q) >= span->nattrs * NGX_OTEL_OTLP_SHORT_MAX
                                    + NGX_OTEL_OTLP_TAIL_MAX);

    for ( /* void */ ; attr < end; attr++) {

        r = ngx_otel_otlp_short(q, last, attr, roomy, nshort);

        if (r) {
            q = r;
            continue;
        }

        n = attr->key.len;

        if (attr->type != NGX_OTEL_ATTR_INT) {
            n += attr->str.len;
        }

        if ((size_t) (last - q)
            < NGX_OTEL_OTLP_ATTR_MAX + NGX_OTEL_OTLP_TAIL_MAX + 3 * n)
        {
            return NULL;
        }

        q = ngx_otel_otlp_attr(q, attr);

        roomy = 0;
    }

    if (span->nevents) {
        q = ngx_otel_otlp_events(q, last, span);
        if (q == NULL) {
            return NULL;
        }
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


static void
ngx_otel_otlp_heads_init(void)
{
    u_char                *p;
    ngx_str_t             *name;
    ngx_uint_t             i;
    ngx_otel_otlp_head_t  *head;

    for (i = 0; i < NGX_OTEL_ATTR_KNOWN; i++) {
        name = &ngx_otel_attr_names[i];
        head = &ngx_otel_otlp_heads[i];

        /* a longer key (none is) and those after it take the general way */

        if (name->len > NGX_OTEL_OTLP_KEY_MAX) {
            break;
        }

        /* KeyValue tag, its length (written later), key tag and length */

        p = head->data;

        *p++ = NGX_OTEL_OTLP_ATTRIBUTE;
        *p++ = 0;
        *p++ = NGX_OTEL_OTLP_KEY;
        *p++ = (u_char) name->len;

        p = ngx_cpymem(p, name->data, name->len);

        head->len = p - head->data;
    }

    ngx_otel_otlp_nshort = i;
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
 * Events are few (upstream attempts) and rare: each is read from its
 * record form and written the plain way, its length in two bytes unless
 * it needs another number of them
 */

static u_char *
ngx_otel_otlp_events(u_char *p, u_char *last, ngx_otel_span_t *span)
{
    u_char            *q, *e, *tag;
    size_t             len, n;
    ngx_uint_t         i, j;
    ngx_otel_attr_t    attrs[NGX_OTEL_EVENT_MAX_ATTRS];
    ngx_otel_event_t   ev;

    e = span->events.data;

    for (i = 0; i < span->nevents; i++) {
        e = ngx_otel_span_event_read(e, &ev, attrs);

        n = ev.name.len;

        for (j = 0; j < ev.nattrs; j++) {
            n += attrs[j].key.len;

            if (attrs[j].type != NGX_OTEL_ATTR_INT) {
                n += attrs[j].str.len;
            }
        }

        if ((size_t) (last - p) < NGX_OTEL_OTLP_EVENT_MAX
                                  + ev.nattrs * NGX_OTEL_OTLP_ATTR_MAX
                                  + NGX_OTEL_OTLP_TAIL_MAX + 3 * n)
        {
            return NULL;
        }

        q = p + 3;

        if (ev.time) {
            *q++ = NGX_OTEL_OTLP_EVENT_TIME;
            q = ngx_otel_otlp_fixed64(q, ev.time);
        }

        if (ev.name.len) {
            q = ngx_otel_otlp_string(q, NGX_OTEL_OTLP_EVENT_NAME, &ev.name);
        }

        /* a KeyValue as a span's, under the Event's tag */

        for (j = 0; j < ev.nattrs; j++) {
            tag = q;
            q = ngx_otel_otlp_attr(q, &attrs[j]);
            *tag = NGX_OTEL_OTLP_EVENT_ATTRIBUTE;
        }

        len = q - (p + 3);
        n = ngx_otel_otlp_varint_len(len);

        if (n != 2) {
            ngx_memmove(p + 1 + n, p + 3, len);
        }

        *p = NGX_OTEL_OTLP_EVENT;
        (void) ngx_otel_otlp_varint(p + 1, len);

        p += 1 + n + len;
    }

    return p;
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
 * ngx_otel_cpymem() and ngx_otel_otlp_ascii() at once: NULL when the
 * string is not plain ASCII, and then dst is written all the same
 */

static ngx_inline u_char *
ngx_otel_otlp_copy_ascii(u_char *dst, u_char *src, size_t len)
{
    size_t    i;
    uint32_t  a, b, c;
    uint64_t  w, bad;

    if (len >= 8) {
        ngx_memcpy(&w, src, 8);
        ngx_memcpy(dst, &w, 8);
        bad = (w - NGX_OTEL_OTLP_ONES) | w;

        for (i = 8; i < len - 8; i += 8) {
            ngx_memcpy(&w, src + i, 8);
            ngx_memcpy(dst + i, &w, 8);
            bad |= (w - NGX_OTEL_OTLP_ONES) | w;
        }

        ngx_memcpy(&w, src + len - 8, 8);
        ngx_memcpy(dst + len - 8, &w, 8);
        bad |= (w - NGX_OTEL_OTLP_ONES) | w;

        return (bad & NGX_OTEL_OTLP_HIGHS) ? NULL : dst + len;
    }

    if (len >= 4) {
        ngx_memcpy(&a, src, 4);
        ngx_memcpy(&b, src + len - 4, 4);
        ngx_memcpy(dst, &a, 4);
        ngx_memcpy(dst + len - 4, &b, 4);

        a |= (a - 0x01010101) | b | (b - 0x01010101);

        return (a & 0x80808080) ? NULL : dst + len;
    }

    if (len == 0) {
        return dst;
    }

    a = src[0];
    b = src[len >> 1];
    c = src[len - 1];

    dst[0] = (u_char) a;
    dst[len >> 1] = (u_char) b;
    dst[len - 1] = (u_char) c;

    a |= (a - 1) | b | (b - 1) | c | (c - 1);

    return (a & 0x80) ? NULL : dst + len;
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


