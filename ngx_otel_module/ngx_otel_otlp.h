
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_OTLP_H_INCLUDED_
#define _NGX_OTEL_OTLP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"


#define NGX_OTEL_OTLP_MESSAGE_LEN  256


typedef struct ngx_otel_otlp_s  ngx_otel_otlp_t;

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
 * A prepared whole KeyValue field (ngx_otel_otlp_consts[]), and the room
 * the expansion of a record's attributes may write past their end: heads
 * and constants are copied whole
 */
#define NGX_OTEL_OTLP_CONST_SIZE            48
#define NGX_OTEL_OTLP_SLACK                 NGX_OTEL_OTLP_CONST_SIZE

/* the first byte of a constant in a record: below a KeyValue's tag, 0x4a */
#define NGX_OTEL_OTLP_CONST                 0x20

/*
 * After them: status and flags, and room to move the Span if its length
 * takes more than two bytes
 */
#define NGX_OTEL_OTLP_TAIL_MAX              ((2 + 1 + 10) + (2 + 4) + 8)

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
 * most makes a KeyValue under 128 bytes (the key's, the AnyValue's and
 * the string_value's tags and lengths, the strings): all of its lengths
 * take one byte
 */
#define NGX_OTEL_OTLP_SHORT                                                   \
    (0x80 - 2 - NGX_OTEL_OTLP_KEY_MAX - 2 - 2)

/* the most an attribute takes the short way: tag, length, the KeyValue */
#define NGX_OTEL_OTLP_SHORT_MAX             (2 + 0x80)

/* the most n attributes of a record take, their strings cut as it cuts them */
#define ngx_otel_otlp_attrs_max(n)                                            \
    ((n) * (NGX_OTEL_OTLP_ATTR_MAX                                            \
            + 3 * (NGX_OTEL_ATTR_KEY_MAX_LEN + NGX_OTEL_ATTR_VALUE_MAX_LEN))  \
     + NGX_OTEL_OTLP_TAIL_MAX)

/*
 * For what the request path calls a dozen times a span: gcc, left to
 * itself, calls ngx_otel_otlp_known_str(), at about 12 instructions a
 * call in saved registers and the writer kept in memory
 */
#if (defined __GNUC__ || defined __clang__)
#define ngx_otel_otlp_inline  ngx_inline __attribute__((always_inline))
#else
#define ngx_otel_otlp_inline  ngx_inline
#endif

#define NGX_OTEL_OTLP_ONES                  0x0101010101010101ULL
#define NGX_OTEL_OTLP_HIGHS                 0x8080808080808080ULL

typedef struct {
    u_char          data[NGX_OTEL_OTLP_HEAD_SIZE];
    size_t          len;
} ngx_otel_otlp_head_t;


/*
 * Values of our attributes that most spans have, each one byte in a record
 * (NGX_OTEL_OTLP_CONST + its index) for the whole KeyValue, as HPACK's
 * static table does for headers; the order of ngx_otel_otlp_const_src[]
 */
typedef enum {
    NGX_OTEL_OTLP_GET = 0,
    NGX_OTEL_OTLP_HEAD,
    NGX_OTEL_OTLP_POST,
    NGX_OTEL_OTLP_PUT,
    NGX_OTEL_OTLP_DELETE,
    NGX_OTEL_OTLP_OPTIONS,
    NGX_OTEL_OTLP_PATCH,
    NGX_OTEL_OTLP_HTTP,
    NGX_OTEL_OTLP_HTTPS,
    NGX_OTEL_OTLP_HTTP_10,
    NGX_OTEL_OTLP_HTTP_11,
    NGX_OTEL_OTLP_HTTP_2,
    NGX_OTEL_OTLP_HTTP_3,
    NGX_OTEL_OTLP_200,
    NGX_OTEL_OTLP_201,
    NGX_OTEL_OTLP_204,
    NGX_OTEL_OTLP_206,
    NGX_OTEL_OTLP_301,
    NGX_OTEL_OTLP_302,
    NGX_OTEL_OTLP_304,
    NGX_OTEL_OTLP_400,
    NGX_OTEL_OTLP_401,
    NGX_OTEL_OTLP_403,
    NGX_OTEL_OTLP_404,
    NGX_OTEL_OTLP_500,
    NGX_OTEL_OTLP_502,
    NGX_OTEL_OTLP_503,
    NGX_OTEL_OTLP_504,
    NGX_OTEL_OTLP_CONSTS
} ngx_otel_otlp_const_e;


typedef struct {
    u_char          data[NGX_OTEL_OTLP_CONST_SIZE];
    size_t          len;
    ngx_otel_attr_t attr;            /* the same, for the readers */
} ngx_otel_otlp_const_t;


/*
 * Attributes written one after the other, the way the request path makes
 * its span's: "pos" is NULL once they did not fit, and then stays so.
 *
 * One of our own attributes whose KeyValue is under 128 bytes is written
 * compact: its id (a byte below NGX_OTEL_ATTR_KNOWN, where a KeyValue
 * starts with its tag, 0x4a), the length of its value part, and the
 * value part (the KeyValue.value field) as OTLP has it.  The exporter
 * expands it with the prepared head of the key: records stay about as
 * small as with a key id, and the expansion is two copies.
 */
typedef struct {
    u_char                     *pos;
    u_char                     *last;
    ngx_uint_t                  n;
    size_t                      size;        /* once expanded */
} ngx_otel_otlp_writer_t;


/*
 * Made by ngx_otel_otlp_heads_init(): those of our keys of at most
 * NGX_OTEL_OTLP_KEY_MAX bytes, all up to NGX_OTEL_ATTR_NGINX_UPSTREAM_NAME
 */
extern ngx_otel_otlp_head_t     ngx_otel_otlp_heads[];

/* made by ngx_otel_otlp_heads_init() too */
extern ngx_otel_otlp_const_t    ngx_otel_otlp_consts[];


/* what an ExportTraceServiceResponse says */
typedef struct {
    int64_t                     rejected;
    size_t                      len;
    u_char                      message[NGX_OTEL_OTLP_MESSAGE_LEN];
} ngx_otel_otlp_partial_t;


/*
 * A protobuf ExportTraceServiceRequest with one ResourceSpans and one
 * ScopeSpans.  The spans are encoded one by one, each an encoded
 * "ScopeSpans.spans" field, and laid out one after the other; then
 * ngx_otel_otlp_envelope() writes what comes before them (the resource,
 * the scope and the lengths of the enclosing messages) into the headroom
 * left in front of the first span, and returns where the request begins.
 *
 * resource: ngx_keyval_t array of string attributes.
 */
ngx_otel_otlp_t *ngx_otel_otlp_create(ngx_pool_t *pool,
    ngx_array_t *resource);

/* the most ngx_otel_otlp_envelope() writes */
size_t ngx_otel_otlp_headroom(ngx_otel_otlp_t *otlp);

/*
 * A span as an encoded "ScopeSpans.spans" field, written by
 * ngx_otel_otlp_span.c without protobuf-c into [p, last): returns its
 * end, or NULL if it might not fit, and then it surely fits into
 * ngx_otel_otlp_span_size() bytes.
 */
size_t ngx_otel_otlp_span_size(ngx_otel_span_t *span);
u_char *ngx_otel_otlp_span(u_char *p, u_char *last, ngx_otel_span_t *span);

/*
 * Exactly what ngx_otel_otlp_span() writes, for a span whose attributes
 * are all NGX_OTEL_ATTR_ENCODED (ngx_otel_span_record_view())
 */
size_t ngx_otel_otlp_span_len(ngx_otel_span_t *span);

/*
 * A span straight from its record, when it has rec->otlp_len: the length
 * of its Span message, which ngx_otel_otlp_record_len() finds (or 0)
 * before the span is recorded.  ngx_otel_otlp_record() writes the whole
 * "ScopeSpans.spans" field, the same bytes as ngx_otel_otlp_span() of the
 * record's view, or returns NULL if [p, last) is short of
 * ngx_otel_otlp_record_size() bytes.
 */
size_t ngx_otel_otlp_record_len(ngx_otel_span_t *span);
u_char *ngx_otel_otlp_record(u_char *p, u_char *last,
    ngx_otel_span_record_t *rec);

/*
 * ngx_otel_otlp_record_len() of a span known to be such a span: the
 * fields of ngx_otel_otlp_span_len() that it can have, summed at once
 */
static ngx_inline size_t ngx_otel_otlp_record_sum(ngx_otel_span_t *span);

#define ngx_otel_otlp_record_size(rec)                                        \
    (1 + 5 + (rec)->otlp_len + NGX_OTEL_OTLP_SLACK)

/*
 * Span.attributes fields (the record form of attributes, see
 * ngx_otel_span.h), with room left for the end of a Span after them: NULL
 * if they might not fit, and they surely fit into _attrs_size() bytes.
 * An NGX_OTEL_ATTR_ENCODED attribute is copied as it is.
 */
size_t ngx_otel_otlp_attrs_size(ngx_otel_attr_t *attrs, ngx_uint_t n);
u_char *ngx_otel_otlp_attrs(u_char *p, u_char *last, ngx_otel_attr_t *attrs,
    ngx_uint_t n);

/* a Span.events field, the same way */
size_t ngx_otel_otlp_event_size(ngx_otel_event_t *ev);
u_char *ngx_otel_otlp_event(u_char *p, u_char *last, ngx_otel_event_t *ev);

/*
 * The prepared heads of our own attributes; called once at start, or by
 * the first encoder to run
 */
void ngx_otel_otlp_heads_init(void);

/*
 * A key's prepared head, for a key known when the configuration is read:
 * NGX_DECLINED when it takes the general way (empty, longer than
 * NGX_OTEL_OTLP_KEY_MAX, or not plain ASCII)
 */
ngx_int_t ngx_otel_otlp_head(ngx_otel_otlp_head_t *head, ngx_str_t *key);

/* any attribute, the general way; one of ours, a string, so */
void ngx_otel_otlp_writer_attr(ngx_otel_otlp_writer_t *w,
    ngx_otel_attr_t *attr);
void ngx_otel_otlp_writer_str(ngx_otel_otlp_writer_t *w, ngx_uint_t id,
    u_char *data, size_t len);

/* attributes of an array, ours compact where they can be */
void ngx_otel_otlp_writer_attrs(ngx_otel_otlp_writer_t *w,
    ngx_otel_attr_t *attrs, ngx_uint_t n);

/* spans: the first span, len: the length of all spans */
u_char *ngx_otel_otlp_envelope(ngx_otel_otlp_t *otlp, u_char *spans,
    size_t len);

/* NGX_OK, or NGX_ERROR if the bytes are not an ExportTraceServiceResponse */
ngx_int_t ngx_otel_otlp_response(u_char *data, size_t len,
    ngx_otel_otlp_partial_t *partial);

/*
 * proto3 strings must be UTF-8: each byte that does not start a
 * well-formed UTF-8 sequence (RFC 3629), and each NUL, becomes U+FFFD.
 * ngx_otel_otlp_utf8_size() is the length of the result; it equals "len"
 * exactly when the string is left as it is.
 */
size_t ngx_otel_otlp_utf8_size(u_char *p, size_t len);
u_char *ngx_otel_otlp_utf8_copy(u_char *dst, u_char *p, size_t len);


static ngx_inline size_t
ngx_otel_otlp_varint_len(uint64_t n)
{
    size_t  len;

    for (len = 1; n >= 0x80; len++) {
        n >>= 7;
    }

    return len;
}


static ngx_inline u_char *
ngx_otel_otlp_varint(u_char *p, uint64_t n)
{
    while (n >= 0x80) {
        *p++ = (u_char) (n | 0x80);
        n >>= 7;
    }

    *p++ = (u_char) n;

    return p;
}


/* a tag, the varint length and the content: what a field takes */
#define ngx_otel_otlp_field_size(len)                                         \
    (1 + ngx_otel_otlp_varint_len(len) + (len))

/* a proto3 enum is an int32: below zero, a 10-byte varint */
#define ngx_otel_otlp_enum(n)  ((uint64_t) (int64_t) (int32_t) (n))


static ngx_inline size_t
ngx_otel_otlp_record_sum(ngx_otel_span_t *span)
{
    size_t    len;
    uint64_t  parent;

    ngx_memcpy(&parent, span->parent_id, NGX_OTEL_SPAN_ID_LEN);

    /* ids, status (even unset) and flags are always there */

    len = 2 + NGX_OTEL_TRACE_ID_LEN + 2 + NGX_OTEL_SPAN_ID_LEN + 2 + 2 + 4
          + (parent ? 2 + NGX_OTEL_SPAN_ID_LEN : 0)
          + (span->start ? 1 + 8 : 0)
          + (span->end ? 1 + 8 : 0)
          + (span->nattrs ? span->attrs[0].key.len : 0)
          + span->events.len;

    if (span->tracestate.len) {
        len += ngx_otel_otlp_field_size(span->tracestate.len);
    }

    if (span->name.len) {
        len += ngx_otel_otlp_field_size(span->name.len);
    }

    if (span->kind) {
        len += 1 + ngx_otel_otlp_varint_len(ngx_otel_otlp_enum(span->kind));
    }

    if (span->status) {
        len += 1 + ngx_otel_otlp_varint_len(ngx_otel_otlp_enum(span->status));
    }

    return len;
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
 * The general way through a copy of the writer: the writer itself, whose
 * address is not taken then, can stay in registers on the fast ways
 */

static ngx_inline void
ngx_otel_otlp_writer_attr_copy(ngx_otel_otlp_writer_t *w,
    ngx_otel_attr_t *attr)
{
    ngx_otel_otlp_writer_t  copy;

    copy = *w;
    ngx_otel_otlp_writer_attr(&copy, attr);
    *w = copy;
}


static ngx_inline void
ngx_otel_otlp_writer_str_copy(ngx_otel_otlp_writer_t *w, ngx_uint_t id,
    u_char *data, size_t len)
{
    ngx_otel_otlp_writer_t  copy;

    copy = *w;
    ngx_otel_otlp_writer_str(&copy, id, data, len);
    *w = copy;
}


/*
 * One of our own attributes, with a prepared head (all that a server span
 * sets, see ngx_otel_otlp_heads), a string: a short ASCII one is written
 * compact, at once
 */

static ngx_otel_otlp_inline void
ngx_otel_otlp_known_str(ngx_otel_otlp_writer_t *w, ngx_uint_t id,
    u_char *data, size_t len)
{
    u_char  *p;

    p = w->pos;

    if (len < NGX_OTEL_OTLP_SHORT
        && p != NULL
        && (size_t) (w->last - p) >= NGX_OTEL_OTLP_SHORT_MAX)
    {
        if (ngx_otel_otlp_copy_ascii(p + 6, data, len)) {
            p[0] = (u_char) id;
            p[1] = (u_char) (len + 4);
            p[2] = NGX_OTEL_OTLP_VALUE;
            p[3] = (u_char) (len + 2);
            p[4] = NGX_OTEL_OTLP_STRING_VALUE;
            p[5] = (u_char) len;

            w->pos = p + 6 + len;
            w->size += ngx_otel_otlp_heads[id].len + 4 + len;
            w->n++;
            return;
        }
    }

    ngx_otel_otlp_writer_str_copy(w, id, data, len);
}


/*
 * An attribute with a key of its own (a custom key, attr->key) that has a
 * prepared head, a string: a short ASCII one is written whole, at once,
 * the same bytes as ngx_otel_otlp_writer_attr() writes
 */

static ngx_otel_otlp_inline void
ngx_otel_otlp_head_str(ngx_otel_otlp_writer_t *w, ngx_otel_otlp_head_t *head,
    ngx_otel_attr_t *attr)
{
    u_char  *p, *q;
    size_t   len;

    p = w->pos;
    len = attr->str.len;

    if (head->len
        && len < NGX_OTEL_OTLP_SHORT
        && p != NULL
        && (size_t) (w->last - p) >= NGX_OTEL_OTLP_SHORT_MAX)
    {
        /* the head first: its copy takes HEAD_SIZE bytes, the value's room */

        ngx_memcpy(p, head->data, NGX_OTEL_OTLP_HEAD_SIZE);
        q = p + head->len;

        if (ngx_otel_otlp_copy_ascii(q + 4, attr->str.data, len)) {
            p[1] = (u_char) (head->len - 2 + 4 + len);
            q[0] = NGX_OTEL_OTLP_VALUE;
            q[1] = (u_char) (len + 2);
            q[2] = NGX_OTEL_OTLP_STRING_VALUE;
            q[3] = (u_char) len;

            w->pos = q + 4 + len;
            w->size += head->len + 4 + len;
            w->n++;
            return;
        }
    }

    ngx_otel_otlp_writer_attr_copy(w, attr);
}


/*
 * One of our attributes with one of the values of ngx_otel_otlp_consts[]:
 * one byte (and none if there is no room for an attribute)
 */

static ngx_otel_otlp_inline void
ngx_otel_otlp_known_const(ngx_otel_otlp_writer_t *w, ngx_uint_t c)
{
    u_char  *p;

    p = w->pos;

    if (p != NULL
        && (size_t) (w->last - p) >= NGX_OTEL_OTLP_SHORT_MAX)
    {
        *p = (u_char) (NGX_OTEL_OTLP_CONST + c);

        w->pos = p + 1;
        w->size += ngx_otel_otlp_consts[c].len;
        w->n++;
    }
}


/*
 * The same, an integer: it always takes the short way, but for the room
 * (and no room for it means none for any attribute)
 */

static ngx_inline void
ngx_otel_otlp_known_int(ngx_otel_otlp_writer_t *w, ngx_uint_t id, int64_t num)
{
    u_char  *p;
    size_t   n;

    p = w->pos;

    if (p != NULL
        && (size_t) (w->last - p) >= NGX_OTEL_OTLP_SHORT_MAX)
    {
        p[0] = (u_char) id;
        p[2] = NGX_OTEL_OTLP_VALUE;
        p[4] = NGX_OTEL_OTLP_INT_VALUE;
        n = ngx_otel_otlp_varint(p + 5, (uint64_t) num) - (p + 5);

        p[1] = (u_char) (3 + n);
        p[3] = (u_char) (1 + n);

        w->pos = p + 5 + n;
        w->size += ngx_otel_otlp_heads[id].len + 3 + n;
        w->n++;
    }
}


#endif /* _NGX_OTEL_OTLP_H_INCLUDED_ */
