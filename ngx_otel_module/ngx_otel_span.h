
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_SPAN_H_INCLUDED_
#define _NGX_OTEL_SPAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"


/*
 * Attributes the module itself sets are stored as one byte in a record,
 * not as their key; NGX_OTEL_ATTR_CUSTOM carries its key inline.
 */
typedef enum {
    NGX_OTEL_ATTR_HTTP_REQUEST_METHOD = 0,
    NGX_OTEL_ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
    NGX_OTEL_ATTR_URL_PATH,
    NGX_OTEL_ATTR_URL_QUERY,
    NGX_OTEL_ATTR_URL_SCHEME,
    NGX_OTEL_ATTR_HTTP_ROUTE,
    NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE,
    NGX_OTEL_ATTR_SERVER_ADDRESS,
    NGX_OTEL_ATTR_SERVER_PORT,
    NGX_OTEL_ATTR_CLIENT_ADDRESS,
    NGX_OTEL_ATTR_NETWORK_PEER_ADDRESS,
    NGX_OTEL_ATTR_NETWORK_PEER_PORT,
    NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION,
    NGX_OTEL_ATTR_USER_AGENT_ORIGINAL,
    NGX_OTEL_ATTR_HTTP_REQUEST_BODY_SIZE,
    NGX_OTEL_ATTR_HTTP_RESPONSE_BODY_SIZE,
    NGX_OTEL_ATTR_ERROR_TYPE,
    NGX_OTEL_ATTR_HTTP_REQUEST_RESEND_COUNT,
    NGX_OTEL_ATTR_NGINX_UPSTREAM_NAME,
    NGX_OTEL_ATTR_NGINX_UPSTREAM_CONNECT_TIME,
    NGX_OTEL_ATTR_NGINX_UPSTREAM_HEADER_TIME,
    NGX_OTEL_ATTR_NGINX_UPSTREAM_RESPONSE_TIME,
    NGX_OTEL_ATTR_KNOWN,
    NGX_OTEL_ATTR_CUSTOM = 255
} ngx_otel_attr_id_e;


#define NGX_OTEL_ATTR_STRING         0
#define NGX_OTEL_ATTR_INT            1

/*
 * "str" holds "num" attributes already encoded, as OTLP Span.attributes
 * fields (ngx_otel_span_attrs_encode()) or compact (ngx_otel_otlp.h), and
 * key.len is their length once expanded: the encoders only expand them
 */
#define NGX_OTEL_ATTR_ENCODED        2

#define NGX_OTEL_SPAN_KIND_SERVER    2
#define NGX_OTEL_SPAN_KIND_CLIENT    3

#define NGX_OTEL_STATUS_UNSET        0
#define NGX_OTEL_STATUS_ERROR        2

/* longer strings are cut: one hostile header must not fill the zone */
#define NGX_OTEL_ATTR_VALUE_MAX_LEN  4096
#define NGX_OTEL_ATTR_KEY_MAX_LEN    255
#define NGX_OTEL_SPAN_NAME_MAX_LEN   1024
#define NGX_OTEL_SPAN_MAX_ATTRS      64
#define NGX_OTEL_EVENT_NAME_MAX_LEN  255
#define NGX_OTEL_EVENT_MAX_ATTRS     16


typedef struct {
    ngx_uint_t          id;          /* ngx_otel_attr_id_e */
    ngx_uint_t          type;        /* NGX_OTEL_ATTR_STRING | _INT */
                                     /* | _ENCODED */
    ngx_str_t           key;         /* NGX_OTEL_ATTR_CUSTOM only */
    ngx_str_t           str;
    int64_t             num;
} ngx_otel_attr_t;


/*
 * The part of a span's encoded attributes that other spans have too, the
 * same bytes (those of a keep-alive connection's requests): the exporter
 * expands it once for all of them.  "id" says where it looks for it (the
 * connection's number); what it kept is compared before it is used.
 */
typedef struct {
    u_char             *data;        /* in the encoded attributes */
    size_t              len;         /* 0: none */
    uint32_t            id;

    /*
     * read back (ngx_otel_span_record_read()): not in attrs, it goes before
     * attrs[from]; ngx_otel_span_attrs_read() reads it when it is needed
     */
    ngx_uint_t          from;
} ngx_otel_span_shared_t;


/*
 * What an encoder made of records' shared parts, the last per slot: a
 * keep-alive connection's spans find theirs at the connection's number.
 * What it made is a function of the part's bytes alone, so bytes the same
 * as the slot's may take its output, whichever record they came from.
 */

#define NGX_OTEL_SHARED_SLOTS        64
#define NGX_OTEL_SHARED_MAX          384         /* a part's bytes kept */
#define NGX_OTEL_SHARED_OUT          1024        /* and what they became */

typedef struct {
    uint32_t            id;
    uint16_t            len;         /* 0: none yet */
    uint16_t            out_len;
    ngx_uint_t          misses;      /* since the last hit */
    u_char              data[NGX_OTEL_SHARED_MAX];
    u_char              out[NGX_OTEL_SHARED_OUT];
} ngx_otel_shared_slot_t;


typedef struct {
    u_char              trace_id[NGX_OTEL_TRACE_ID_LEN];
    u_char              span_id[NGX_OTEL_SPAN_ID_LEN];
    u_char              parent_id[NGX_OTEL_SPAN_ID_LEN];  /* zero: root */

    ngx_uint_t          flags;       /* W3C trace-flags */
    ngx_uint_t          kind;
    ngx_uint_t          status;

    uint64_t            start;       /* Unix time, nanoseconds */
    uint64_t            end;

    ngx_str_t           name;
    ngx_str_t           tracestate;

    ngx_otel_attr_t    *attrs;
    ngx_uint_t          nattrs;

    /* of a single NGX_OTEL_ATTR_ENCODED attribute */
    ngx_otel_span_shared_t  shared;

    /*
     * OTLP Span.events fields, made by ngx_otel_span_event_encode(), read
     * by _event_read()
     */
    ngx_str_t           events;
    ngx_uint_t          nevents;
} ngx_otel_span_t;


typedef struct {
    uint64_t            time;        /* Unix time, nanoseconds */
    ngx_str_t           name;
    ngx_otel_attr_t    *attrs;
    ngx_uint_t          nattrs;
} ngx_otel_event_t;


/*
 * The fixed part of a span as it sits in the zone, followed by its name,
 * its tracestate, and its attributes and events as OTLP encodes them.
 * When the length of its OTLP Span is known before it is recorded (see
 * ngx_otel_otlp_record_len(), the usual case), otlp_len has it, and the
 * exporter encodes the span straight from the record.
 */
typedef struct {
    uint32_t            size;        /* the whole record, 8-aligned */
    uint8_t             state;       /* owned by the zone queue */
    uint8_t             kind;
    uint8_t             status;
    uint8_t             flags;
    u_char              trace_id[NGX_OTEL_TRACE_ID_LEN];
    u_char              span_id[NGX_OTEL_SPAN_ID_LEN];
    u_char              parent_id[NGX_OTEL_SPAN_ID_LEN];
    uint64_t            start;
    uint64_t            end;
    uint16_t            name_len;
    uint16_t            tracestate_len;
    uint16_t            nattrs;
    uint16_t            nevents;
    uint32_t            attrs_len;
    uint32_t            attrs_size;  /* expanded */
    uint32_t            events_len;
    uint32_t            otlp_len;    /* the encoded Span, 0: not known */
    uint32_t            shared_id;   /* ngx_otel_span_shared_t, in the */
    uint16_t            shared_off;  /* attributes; shared_len 0: none */
    uint16_t            shared_len;
} ngx_otel_span_record_t;


extern ngx_str_t  ngx_otel_attr_names[];


/*
 * ngx_cpymem() for the short strings of a span: up to 32 bytes are copied
 * with a few overlapping word moves instead of a call to memcpy()
 */

static ngx_inline u_char *
ngx_otel_cpymem(u_char *dst, u_char *src, size_t len)
{
    uint32_t  a, b;
    uint64_t  x, y, z, w;

    if (len >= 8) {

        if (len > 32) {
            return ngx_cpymem(dst, src, len);
        }

        ngx_memcpy(&x, src, 8);
        ngx_memcpy(&y, src + len - 8, 8);

        if (len > 16) {
            ngx_memcpy(&z, src + 8, 8);
            ngx_memcpy(&w, src + len - 16, 8);
            ngx_memcpy(dst + 8, &z, 8);
            ngx_memcpy(dst + len - 16, &w, 8);
        }

        ngx_memcpy(dst, &x, 8);
        ngx_memcpy(dst + len - 8, &y, 8);

        return dst + len;
    }

    if (len >= 4) {
        ngx_memcpy(&a, src, 4);
        ngx_memcpy(&b, src + len - 4, 4);
        ngx_memcpy(dst, &a, 4);
        ngx_memcpy(dst + len - 4, &b, 4);

        return dst + len;
    }

    if (len) {
        dst[0] = src[0];
        dst[len >> 1] = src[len >> 1];
        dst[len - 1] = src[len - 1];
    }

    return dst + len;
}


/*
 * The length of the well-formed UTF-8 sequence at p (a byte of 0x80 or
 * above), 0 if there is none: the encoders replace such bytes with U+FFFD.
 */
size_t ngx_otel_utf8_len(u_char *p, u_char *last);

size_t ngx_otel_span_record_size(ngx_otel_span_t *span);

/*
 * Attributes in record form (OTLP Span.attributes fields) in [p, last), so
 * that the zone's lock is held for a copy only and the exporter copies
 * them again as they are; NULL when they might not fit.  Strings longer
 * than a record keeps are cut, in attrs.
 */
u_char *ngx_otel_span_attrs_encode(u_char *p, u_char *last,
    ngx_otel_attr_t *attrs, ngx_uint_t n);

void ngx_otel_span_record_write(ngx_otel_span_record_t *rec,
    ngx_otel_span_t *span, size_t size);

/*
 * The usual span, its attributes encoded (or none) and no string to cut,
 * recorded at p in one pass, with its OTLP length if "otlp" (see
 * ngx_otel_otlp_record_len()): NGX_OK, and *next is the end of the record;
 * NGX_DECLINED: it does not fit before last; NGX_ERROR: not such a span,
 * ngx_otel_span_record_size() and _write() record it.
 */
ngx_int_t ngx_otel_span_record_encoded(u_char *p, u_char *last,
    ngx_otel_span_t *span, ngx_uint_t otlp, u_char **next);

/*
 * Turns a record back into a span whose strings point into the record;
 * attrs must hold NGX_OTEL_SPAN_MAX_ATTRS entries.  _read() decodes the
 * attributes (each key a string) but a shared part (span->shared),
 * _view() leaves them encoded, in attrs[0], for the protobuf encoder to
 * copy.  ngx_otel_span_attrs_read() decodes up to max attributes of a
 * record's.
 */
void ngx_otel_span_record_read(ngx_otel_span_record_t *rec,
    ngx_otel_span_t *span, ngx_otel_attr_t *attrs);
ngx_uint_t ngx_otel_span_attrs_read(u_char *p, u_char *last,
    ngx_otel_attr_t *attrs, ngx_uint_t max);

/*
 * A shared part in an encoder's slots (NGX_OTEL_SHARED_SLOTS of them):
 * _find() gives the slot whose output it may take, or NULL;
 * _keep() keeps what it became, unless the slot keeps missing.
 */
void ngx_otel_shared_keep(ngx_otel_shared_slot_t *slots,
    ngx_otel_span_shared_t *shared, u_char *out, size_t len);


static ngx_inline ngx_otel_shared_slot_t *
ngx_otel_shared_find(ngx_otel_shared_slot_t *slots,
    ngx_otel_span_shared_t *shared)
{
    ngx_otel_shared_slot_t  *slot;

    slot = &slots[shared->id % NGX_OTEL_SHARED_SLOTS];

    if (slot->len == shared->len
        && slot->id == shared->id
        && ngx_memcmp(slot->data, shared->data, shared->len) == 0)
    {
        slot->misses = 0;
        return slot;
    }

    return NULL;
}
void ngx_otel_span_record_view(ngx_otel_span_record_t *rec,
    ngx_otel_span_t *span, ngx_otel_attr_t *attrs);

/*
 * An event in record form (an OTLP Span.events field) in [p, last), for a
 * span's "events"; NULL when it might not fit.  Its attributes are ints
 * and strings only.
 */
u_char *ngx_otel_span_event_encode(u_char *p, u_char *last,
    ngx_otel_event_t *ev);

/*
 * The event at p of a span's "events", its strings pointing there; attrs
 * must hold NGX_OTEL_EVENT_MAX_ATTRS entries.  Returns the next event.
 */
u_char *ngx_otel_span_event_read(u_char *p, ngx_otel_event_t *ev,
    ngx_otel_attr_t *attrs);


#endif /* _NGX_OTEL_SPAN_H_INCLUDED_ */
