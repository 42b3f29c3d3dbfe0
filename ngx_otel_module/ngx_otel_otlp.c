
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
 * The Resource and the InstrumentationScope are protobuf-c messages,
 * packed by protobuf-c once per worker; the spans are written by
 * ngx_otel_otlp_span.c, byte for byte as protobuf-c would pack them but
 * without its generic packing, which cost over ten times as much; and
 * only the enclosing tags and lengths (ExportTraceServiceRequest.
 * resource_spans, ResourceSpans.scope_spans, and the resource and scope
 * fields before the spans) are written here.  The response is unpacked
 * by protobuf-c.
 *
 * protobuf-c takes strings as C strings and proto3 strings must be UTF-8,
 * so every resource string is copied with a terminating NUL, and each
 * byte that does not start a well-formed UTF-8 sequence (and each NUL)
 * becomes U+FFFD, as the JSON encoder does: a collector rejects a whole
 * request that has one bad string.
 */


#define NGX_OTEL_OTLP_SCOPE_NAME             "ngx_otel_module"

/* field tags: (number << 3) | 2, length-delimited */
#define NGX_OTEL_OTLP_TAG_1                  0x0a
#define NGX_OTEL_OTLP_TAG_2                  0x12

#define NGX_OTEL_OTLP_VARINT_MAX             10

/* a tag and a length: what a message's field adds to it */
#define NGX_OTEL_OTLP_FIELD_MAX              (1 + NGX_OTEL_OTLP_VARINT_MAX)

/* the generated names are longer than a line */
#define ngx_otel_pb_response_unpack                                           \
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack
#define ngx_otel_pb_response_free                                             \
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked


typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
    ngx_otel_pb_response_t;
typedef Opentelemetry__Proto__Resource__V1__Resource  ngx_otel_pb_resource_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope
    ngx_otel_pb_scope_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue  ngx_otel_pb_kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue  ngx_otel_pb_value_t;


struct ngx_otel_otlp_s {
    /* "resource" and "scope" fields, tags and lengths included */
    ngx_str_t                       resource;
    ngx_str_t                       scope;
};


static ngx_int_t ngx_otel_otlp_kv(ngx_pool_t *pool, ngx_otel_pb_kv_t *kv,
    ngx_otel_pb_value_t *value, ngx_keyval_t *attr);
static ngx_int_t ngx_otel_otlp_field(ngx_pool_t *pool, ngx_str_t *field,
    const ProtobufCMessage *message);
static char *ngx_otel_otlp_str(ngx_pool_t *pool, ngx_str_t *s);


ngx_otel_otlp_t *
ngx_otel_otlp_create(ngx_pool_t *pool, ngx_array_t *resource)
{
    ngx_uint_t              i, n;
    ngx_keyval_t           *kv;
    ngx_otel_otlp_t        *otlp;
    ngx_otel_pb_kv_t       *kvs, **kvp;
    ngx_otel_pb_scope_t     scope;
    ngx_otel_pb_value_t    *values;
    ngx_otel_pb_resource_t  res;

    otlp = ngx_pcalloc(pool, sizeof(ngx_otel_otlp_t));
    if (otlp == NULL) {
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
            if (ngx_otel_otlp_kv(pool, &kvs[i], &values[i], &kv[i])
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


/* a resource attribute, a string */

static ngx_int_t
ngx_otel_otlp_kv(ngx_pool_t *pool, ngx_otel_pb_kv_t *kv,
    ngx_otel_pb_value_t *value, ngx_keyval_t *attr)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(value);

    kv->key = ngx_otel_otlp_str(pool, &attr->key);
    if (kv->key == NULL) {
        return NGX_ERROR;
    }

    value->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    value->string_value = ngx_otel_otlp_str(pool, &attr->value);
    if (value->string_value == NULL) {
        return NGX_ERROR;
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


/* a C string, valid UTF-8 */

static char *
ngx_otel_otlp_str(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *dst, *p;

    dst = ngx_pnalloc(pool, ngx_otel_otlp_utf8_size(s->data, s->len) + 1);
    if (dst == NULL) {
        return NULL;
    }

    p = ngx_otel_otlp_utf8_copy(dst, s->data, s->len);
    *p = '\0';

    return (char *) dst;
}
