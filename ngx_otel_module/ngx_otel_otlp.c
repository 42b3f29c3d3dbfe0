
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_otlp.h"
#include "ngx_otel_version.h"

#include "trace_service.pb-c.h"


/*
 * The protobuf ExportTraceServiceRequest, with the same content as the
 * JSON encoder (ngx_otel_otlp_json.c) writes: the same resource, scope,
 * flags and status.
 *
 * Every message is a protobuf-c message packed by protobuf-c, but not all
 * at once: protobuf_c_message_pack() sizes each submessage before packing
 * it, so a message nested N deep is sized N times, and a whole request
 * (spans six deep) costs twice as much as its spans packed one by one.
 * So each Span is packed alone, the Resource and the
 * InstrumentationScope once per worker, and only the three enclosing
 * tags and lengths (ExportTraceServiceRequest.resource_spans,
 * ResourceSpans.scope_spans, and the resource and scope fields before
 * the spans) are written here.
 *
 * A span's messages live in a scratch pool, reset after each span.
 * protobuf-c takes strings as C strings and proto3 strings must be UTF-8,
 * so every string is copied with a terminating NUL, and each byte that
 * does not start a well-formed UTF-8 sequence (and each NUL) becomes
 * U+FFFD, as the JSON encoder does: a collector rejects a whole request
 * that has one bad string.
 */


#define NGX_OTEL_OTLP_SCOPE_NAME             "ngx_otel_module"

#define NGX_OTEL_OTLP_FLAGS_TRACE_MASK       0xff
#define NGX_OTEL_OTLP_FLAGS_HAS_IS_REMOTE    0x100
#define NGX_OTEL_OTLP_FLAGS_IS_REMOTE        0x200

#define NGX_OTEL_OTLP_POOL_SIZE              (16 * 1024)

/* field tags: (number << 3) | 2, length-delimited */
#define NGX_OTEL_OTLP_TAG_1                  0x0a
#define NGX_OTEL_OTLP_TAG_2                  0x12

#define NGX_OTEL_OTLP_VARINT_MAX             10

/* a tag and a length: what a message's field adds to it */
#define NGX_OTEL_OTLP_FIELD_MAX              (1 + NGX_OTEL_OTLP_VARINT_MAX)

/* a span's fixed-size fields, encoded, at most */
#define NGX_OTEL_OTLP_SPAN_FIXED                                              \
    (2 + NGX_OTEL_TRACE_ID_LEN + 2 * (2 + NGX_OTEL_SPAN_ID_LEN)              \
     + 3 * NGX_OTEL_OTLP_FIELD_MAX           /* trace_state, name, status */ \
     + 2 * (1 + 8) + (2 + 4) + (1 + 10) + (1 + 10))

/* the generated names are longer than a line */
#define ngx_otel_pb_response_unpack                                           \
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack
#define ngx_otel_pb_response_free                                             \
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked


typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
    ngx_otel_pb_response_t;
typedef Opentelemetry__Proto__Trace__V1__Span  ngx_otel_pb_span_t;
typedef Opentelemetry__Proto__Trace__V1__Status  ngx_otel_pb_status_t;
typedef Opentelemetry__Proto__Resource__V1__Resource  ngx_otel_pb_resource_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope
    ngx_otel_pb_scope_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue  ngx_otel_pb_kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue  ngx_otel_pb_value_t;


struct ngx_otel_otlp_s {
    ngx_pool_t                     *scratch;
    ngx_log_t                      *log;

    /* "resource" and "scope" fields, tags and lengths included */
    ngx_str_t                       resource;
    ngx_str_t                       scope;

    /* where a span is packed */
    u_char                         *out;
    size_t                          out_size;
};


static ngx_int_t ngx_otel_otlp_kv(ngx_pool_t *pool, ngx_otel_pb_kv_t *kv,
    ngx_otel_pb_value_t *value, ngx_otel_attr_t *attr, size_t *size);
static ngx_int_t ngx_otel_otlp_field(ngx_pool_t *pool, ngx_str_t *field,
    const ProtobufCMessage *message);
static u_char *ngx_otel_otlp_varint(u_char *p, uint64_t n);
static size_t ngx_otel_otlp_varint_len(uint64_t n);
static char *ngx_otel_otlp_str(ngx_pool_t *pool, u_char *s, size_t len,
    size_t *size);
static size_t ngx_otel_otlp_utf8_len(u_char *p, u_char *last);
static ngx_uint_t ngx_otel_otlp_is_zero(u_char *id, size_t len);


ngx_otel_otlp_t *
ngx_otel_otlp_create(ngx_pool_t *pool, ngx_array_t *resource, ngx_log_t *log)
{
    size_t                  size;
    ngx_uint_t              i, n;
    ngx_keyval_t           *kv;
    ngx_otel_attr_t         attr;
    ngx_otel_otlp_t        *otlp;
    ngx_otel_pb_kv_t       *kvs, **kvp;
    ngx_otel_pb_scope_t     scope;
    ngx_otel_pb_value_t    *values;
    ngx_otel_pb_resource_t  res;

    otlp = ngx_pcalloc(pool, sizeof(ngx_otel_otlp_t));
    if (otlp == NULL) {
        return NULL;
    }

    otlp->log = log;

    otlp->scratch = ngx_create_pool(NGX_OTEL_OTLP_POOL_SIZE, log);
    if (otlp->scratch == NULL) {
        return NULL;
    }

    /* the resource and the scope are the same in every request */

    opentelemetry__proto__resource__v1__resource__init(&res);
    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);

    scope.name = (char *) NGX_OTEL_OTLP_SCOPE_NAME;
    scope.version = (char *) NGX_OTEL_VERSION;

    n = resource ? resource->nelts : 0;

    if (n) {
        kvp = ngx_palloc(pool, n * sizeof(ngx_otel_pb_kv_t *));
        kvs = ngx_palloc(pool, n * sizeof(ngx_otel_pb_kv_t));
        values = ngx_palloc(pool, n * sizeof(ngx_otel_pb_value_t));

        if (kvp == NULL || kvs == NULL || values == NULL) {
            return NULL;
        }

        kv = resource->elts;

        for (i = 0; i < n; i++) {
            ngx_memzero(&attr, sizeof(ngx_otel_attr_t));

            attr.id = NGX_OTEL_ATTR_CUSTOM;
            attr.type = NGX_OTEL_ATTR_STRING;
            attr.key = kv[i].key;
            attr.str = kv[i].value;

            if (ngx_otel_otlp_kv(pool, &kvs[i], &values[i], &attr, &size)
                != NGX_OK)
            {
                return NULL;
            }

            kvp[i] = &kvs[i];
        }

        res.n_attributes = n;
        res.attributes = kvp;
    }

    if (ngx_otel_otlp_field(pool, &otlp->resource, &res.base) != NGX_OK
        || ngx_otel_otlp_field(pool, &otlp->scope, &scope.base) != NGX_OK)
    {
        return NULL;
    }

    return otlp;
}


size_t
ngx_otel_otlp_headroom(ngx_otel_otlp_t *otlp)
{
    return 2 * NGX_OTEL_OTLP_FIELD_MAX + otlp->resource.len
           + NGX_OTEL_OTLP_FIELD_MAX + otlp->scope.len;
}


ngx_int_t
ngx_otel_otlp_span(ngx_otel_otlp_t *otlp, ngx_otel_span_t *span,
    ngx_str_t *out)
{
    u_char                *p, *q;
    size_t                 size, bound, len;
    uint32_t               flags;
    ngx_int_t              rc;
    ngx_uint_t             i, n;
    ngx_pool_t            *pool;
    ngx_otel_pb_kv_t      *kvs, **kvp;
    ngx_otel_pb_span_t    *s;
    ngx_otel_pb_value_t   *values;
    ngx_otel_pb_status_t  *status;

    pool = otlp->scratch;
    n = span->nattrs;

    rc = NGX_ERROR;

    /* one allocation for the span, its ids, status and attributes */

    size = sizeof(ngx_otel_pb_span_t) + sizeof(ngx_otel_pb_status_t)
           + n * (sizeof(ngx_otel_pb_kv_t *) + sizeof(ngx_otel_pb_kv_t)
                  + sizeof(ngx_otel_pb_value_t))
           + NGX_OTEL_TRACE_ID_LEN + 2 * NGX_OTEL_SPAN_ID_LEN;

    p = ngx_palloc(pool, size);
    if (p == NULL) {
        goto done;
    }

    s = (ngx_otel_pb_span_t *) p;
    p += sizeof(ngx_otel_pb_span_t);

    status = (ngx_otel_pb_status_t *) p;
    p += sizeof(ngx_otel_pb_status_t);

    kvp = (ngx_otel_pb_kv_t **) p;
    p += n * sizeof(ngx_otel_pb_kv_t *);

    kvs = (ngx_otel_pb_kv_t *) p;
    p += n * sizeof(ngx_otel_pb_kv_t);

    values = (ngx_otel_pb_value_t *) p;
    p += n * sizeof(ngx_otel_pb_value_t);

    opentelemetry__proto__trace__v1__span__init(s);
    opentelemetry__proto__trace__v1__status__init(status);

    /* what the packed span takes at most: strings are added as built */

    bound = NGX_OTEL_OTLP_SPAN_FIXED;

    s->trace_id.data = p;
    s->trace_id.len = NGX_OTEL_TRACE_ID_LEN;
    p = ngx_cpymem(p, span->trace_id, NGX_OTEL_TRACE_ID_LEN);

    s->span_id.data = p;
    s->span_id.len = NGX_OTEL_SPAN_ID_LEN;
    p = ngx_cpymem(p, span->span_id, NGX_OTEL_SPAN_ID_LEN);

    flags = (span->flags & NGX_OTEL_OTLP_FLAGS_TRACE_MASK)
            | NGX_OTEL_OTLP_FLAGS_HAS_IS_REMOTE;

    if (!ngx_otel_otlp_is_zero(span->parent_id, NGX_OTEL_SPAN_ID_LEN)) {
        s->parent_span_id.data = p;
        s->parent_span_id.len = NGX_OTEL_SPAN_ID_LEN;
        ngx_memcpy(p, span->parent_id, NGX_OTEL_SPAN_ID_LEN);

        /* a server span's parent always comes with the request */

        if (span->kind == NGX_OTEL_SPAN_KIND_SERVER) {
            flags |= NGX_OTEL_OTLP_FLAGS_IS_REMOTE;
        }
    }

    s->flags = flags;

    if (span->tracestate.len) {
        s->trace_state = ngx_otel_otlp_str(pool, span->tracestate.data,
                                           span->tracestate.len, &len);
        if (s->trace_state == NULL) {
            goto done;
        }

        bound += len;
    }

    if (span->name.len) {
        s->name = ngx_otel_otlp_str(pool, span->name.data, span->name.len,
                                    &len);
        if (s->name == NULL) {
            goto done;
        }

        bound += len;
    }

    s->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind) span->kind;
    s->start_time_unix_nano = span->start;
    s->end_time_unix_nano = span->end;

    for (i = 0; i < n; i++) {
        if (ngx_otel_otlp_kv(pool, &kvs[i], &values[i], &span->attrs[i],
                             &len)
            != NGX_OK)
        {
            goto done;
        }

        kvp[i] = &kvs[i];
        bound += len;
    }

    s->n_attributes = n;
    s->attributes = kvp;

    status->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)
                   span->status;
    s->status = status;

    /*
     * packed after room for the field's tag and length, which are then
     * written right before it
     */

    if (otlp->out_size < NGX_OTEL_OTLP_FIELD_MAX + bound) {
        size = ngx_max(NGX_OTEL_OTLP_FIELD_MAX + bound, 2 * otlp->out_size);

        q = ngx_alloc(size, otlp->log);
        if (q == NULL) {
            goto done;
        }

        if (otlp->out) {
            ngx_free(otlp->out);
        }

        otlp->out = q;
        otlp->out_size = size;
    }

    p = otlp->out + NGX_OTEL_OTLP_FIELD_MAX;

    len = protobuf_c_message_pack(&s->base, p);

    q = p - ngx_otel_otlp_varint_len(len) - 1;

    out->data = q;
    out->len = p + len - q;

    *q++ = NGX_OTEL_OTLP_TAG_2;
    (void) ngx_otel_otlp_varint(q, len);

    rc = NGX_OK;

done:

    ngx_reset_pool(pool);

    return rc;
}


/*
 * ExportTraceServiceRequest { resource_spans = 1: ResourceSpans {
 *     resource = 1: ..., scope_spans = 2: ScopeSpans {
 *         scope = 1: ..., spans = 2: ... } } }
 */

u_char *
ngx_otel_otlp_envelope(ngx_otel_otlp_t *otlp, u_char *spans, size_t len)
{
    u_char  *p;
    size_t   ss, rs;

    ss = otlp->scope.len + len;
    rs = otlp->resource.len + 1 + ngx_otel_otlp_varint_len(ss) + ss;

    p = spans - otlp->scope.len;
    ngx_memcpy(p, otlp->scope.data, otlp->scope.len);

    p -= ngx_otel_otlp_varint_len(ss) + 1;
    *p = NGX_OTEL_OTLP_TAG_2;
    (void) ngx_otel_otlp_varint(p + 1, ss);

    p -= otlp->resource.len;
    ngx_memcpy(p, otlp->resource.data, otlp->resource.len);

    p -= ngx_otel_otlp_varint_len(rs) + 1;
    *p = NGX_OTEL_OTLP_TAG_1;
    (void) ngx_otel_otlp_varint(p + 1, rs);

    return p;
}


ngx_int_t
ngx_otel_otlp_response(u_char *data, size_t len,
    ngx_otel_otlp_partial_t *partial)
{
    size_t                   n;
    ngx_otel_pb_response_t  *res;

    partial->rejected = 0;
    partial->len = 0;

    res = ngx_otel_pb_response_unpack(NULL, len, data);
    if (res == NULL) {
        return NGX_ERROR;
    }

    if (res->partial_success != NULL) {
        partial->rejected = res->partial_success->rejected_spans;

        if (res->partial_success->error_message != NULL) {
            n = ngx_strlen(res->partial_success->error_message);
            partial->len = ngx_min(n, NGX_OTEL_OTLP_MESSAGE_LEN);
            ngx_memcpy(partial->message, res->partial_success->error_message,
                       partial->len);
        }
    }

    ngx_otel_pb_response_free(res, NULL);

    return NGX_OK;
}


/* "size": what the encoded attribute takes at most */

static ngx_int_t
ngx_otel_otlp_kv(ngx_pool_t *pool, ngx_otel_pb_kv_t *kv,
    ngx_otel_pb_value_t *value, ngx_otel_attr_t *attr, size_t *size)
{
    size_t  len;

    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(value);

    /* Span.attributes, KeyValue.key, KeyValue.value, AnyValue.*_value */

    *size = 4 * NGX_OTEL_OTLP_FIELD_MAX;

    if (attr->id < NGX_OTEL_ATTR_KNOWN) {
        /* our own names: string literals, valid and NUL-terminated */
        kv->key = (char *) ngx_otel_attr_names[attr->id].data;
        *size += ngx_otel_attr_names[attr->id].len;

    } else {
        kv->key = ngx_otel_otlp_str(pool, attr->key.data, attr->key.len,
                                    &len);
        if (kv->key == NULL) {
            return NGX_ERROR;
        }

        *size += len;
    }

    if (attr->type == NGX_OTEL_ATTR_INT) {
        value->value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        value->int_value = attr->num;

    } else {
        value->value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        value->string_value = ngx_otel_otlp_str(pool, attr->str.data,
                                                attr->str.len, &len);
        if (value->string_value == NULL) {
            return NGX_ERROR;
        }

        *size += len;
    }

    kv->value = value;

    return NGX_OK;
}


/* a message packed once, as a field with tag 1 */

static ngx_int_t
ngx_otel_otlp_field(ngx_pool_t *pool, ngx_str_t *field,
    const ProtobufCMessage *message)
{
    u_char  *p;
    size_t   len;

    len = protobuf_c_message_get_packed_size(message);

    p = ngx_pnalloc(pool, NGX_OTEL_OTLP_FIELD_MAX + len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    field->data = p;

    *p++ = NGX_OTEL_OTLP_TAG_1;
    p = ngx_otel_otlp_varint(p, len);
    p += protobuf_c_message_pack(message, p);

    field->len = p - field->data;

    return NGX_OK;
}


static u_char *
ngx_otel_otlp_varint(u_char *p, uint64_t n)
{
    while (n >= 0x80) {
        *p++ = (u_char) (n | 0x80);
        n >>= 7;
    }

    *p++ = (u_char) n;

    return p;
}


static size_t
ngx_otel_otlp_varint_len(uint64_t n)
{
    size_t  len;

    for (len = 1; n >= 0x80; len++) {
        n >>= 7;
    }

    return len;
}


/* "out": the length of the copy */

static char *
ngx_otel_otlp_str(ngx_pool_t *pool, u_char *s, size_t len, size_t *out)
{
    u_char  *p, *q, *last, *dst;
    size_t   n, size;

    last = s + len;
    size = 0;
    *out = len;

    /* the common case: printable ASCII, copied as is */

    for (p = s; p < last; p++) {
        if (*p == '\0' || *p >= 0x80) {
            break;
        }
    }

    if (p == last) {
        dst = ngx_pnalloc(pool, len + 1);
        if (dst == NULL) {
            return NULL;
        }

        ngx_memcpy(dst, s, len);
        dst[len] = '\0';

        return (char *) dst;
    }

    for (p = s; p < last; /* void */) {
        if (*p != '\0' && *p < 0x80) {
            size++;
            p++;
            continue;
        }

        n = (*p == '\0') ? 0 : ngx_otel_otlp_utf8_len(p, last);

        if (n == 0) {
            size += 3;
            p++;
            continue;
        }

        size += n;
        p += n;
    }

    dst = ngx_pnalloc(pool, size + 1);
    if (dst == NULL) {
        return NULL;
    }

    *out = size;
    q = dst;

    for (p = s; p < last; /* void */) {
        if (*p != '\0' && *p < 0x80) {
            *q++ = *p++;
            continue;
        }

        n = (*p == '\0') ? 0 : ngx_otel_otlp_utf8_len(p, last);

        if (n == 0) {
            /* U+FFFD */
            *q++ = 0xef;
            *q++ = 0xbf;
            *q++ = 0xbd;
            p++;
            continue;
        }

        q = ngx_cpymem(q, p, n);
        p += n;
    }

    *q = '\0';

    return (char *) dst;
}


/*
 * The length of the well-formed UTF-8 sequence that starts at p with a
 * byte of 0x80 or above, or 0 if there is none (RFC 3629, section 4).
 */

static size_t
ngx_otel_otlp_utf8_len(u_char *p, u_char *last)
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


static ngx_uint_t
ngx_otel_otlp_is_zero(u_char *id, size_t len)
{
    while (len--) {
        if (*id++) {
            return 0;
        }
    }

    return 1;
}
