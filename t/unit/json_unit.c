
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * Unit harness for ngx_otel_otlp_json.c, built and run by t/json.t.
 *
 * Prints one line per case, "label<TAB>json", to stdout, and checks in C
 * that every writer stays within what its *_size() function promised and
 * never writes past the pointer it returns.  Exits 1 on any failure.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"
#include "ngx_otel_otlp.h"
#include "ngx_otel_otlp_json.h"


#define JSON_UNIT_BUF_SIZE   (8 * 1024 * 1024)
#define JSON_UNIT_GUARD      64
#define JSON_UNIT_SENTINEL   0xa5


static u_char      *json_unit_buf;
static ngx_uint_t   json_unit_failed;
static ngx_uint_t   json_unit_checks;
static uint64_t     json_unit_rnd = 0x9e3779b97f4a7c15ULL;


static void
json_unit_fail(const char *label, const char *what, size_t n, size_t bound)
{
    fprintf(stderr, "FAIL %s: %s wrote %zu bytes, bound %zu\n",
            label, what, n, bound);
    json_unit_failed++;
}


static void
json_unit_check(const char *label, const char *what, u_char *start,
    u_char *end, size_t bound)
{
    u_char  *p;

    json_unit_checks++;

    if ((size_t) (end - start) > bound) {
        json_unit_fail(label, what, end - start, bound);
        return;
    }

    /* nothing may be written beyond the returned pointer */

    for (p = end; p < start + bound + JSON_UNIT_GUARD; p++) {
        if (*p != JSON_UNIT_SENTINEL) {
            fprintf(stderr, "FAIL %s: %s wrote past its end\n", label, what);
            json_unit_failed++;
            return;
        }
    }
}


/* writes one request; prints it unless label is NULL */

static size_t
json_unit_doc(const char *label, ngx_array_t *resource,
    ngx_otel_span_t *spans, ngx_uint_t n)
{
    size_t       size, total;
    u_char      *p, *q;
    ngx_uint_t   i;
    const char  *name;

    name = label ? label : "(not printed)";

    total = ngx_otel_otlp_json_begin_size(resource)
            + ngx_otel_otlp_json_end_size();

    for (i = 0; i < n; i++) {
        total += ngx_otel_otlp_json_span_size(&spans[i]);
    }

    if (total + JSON_UNIT_GUARD + 1 > JSON_UNIT_BUF_SIZE) {
        fprintf(stderr, "FAIL %s: bound %zu too large for the buffer\n",
                name, total);
        json_unit_failed++;
        return 0;
    }

    ngx_memset(json_unit_buf, JSON_UNIT_SENTINEL,
               total + JSON_UNIT_GUARD + 1);

    p = json_unit_buf;

    size = ngx_otel_otlp_json_begin_size(resource);
    q = ngx_otel_otlp_json_begin(p, resource);
    json_unit_check(name, "begin", p, q, size);
    p = q;

    for (i = 0; i < n; i++) {
        size = ngx_otel_otlp_json_span_size(&spans[i]);
        q = ngx_otel_otlp_json_span(p, &spans[i], i == 0);
        json_unit_check(name, "span", p, q, size);
        p = q;
    }

    size = ngx_otel_otlp_json_end_size();
    q = ngx_otel_otlp_json_end(p);
    json_unit_check(name, "end", p, q, size);
    p = q;

    json_unit_check(name, "request", json_unit_buf, p, total);

    if (label) {
        printf("%s\t%.*s\n", label, (int) (p - json_unit_buf),
               json_unit_buf);
    }

    return p - json_unit_buf;
}


static void
json_unit_array(ngx_array_t *a, void *elts, ngx_uint_t n, size_t size)
{
    a->elts = elts;
    a->nelts = n;
    a->size = size;
    a->nalloc = n;
    a->pool = NULL;
}


static void
json_unit_id(u_char *id, size_t len, u_char first)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        id[i] = (u_char) (first + i);
    }
}


static void
json_unit_str(ngx_str_t *s, const char *data, size_t len)
{
    s->len = len;
    s->data = (u_char *) data;
}


#define json_unit_set(s, lit)  json_unit_str(s, lit, sizeof(lit) - 1)


static void
json_unit_attr_str(ngx_otel_attr_t *a, ngx_uint_t id, const char *key,
    const char *val, size_t len)
{
    ngx_memzero(a, sizeof(ngx_otel_attr_t));

    a->id = id;
    a->type = NGX_OTEL_ATTR_STRING;

    if (key) {
        json_unit_str(&a->key, key, strlen(key));
    }

    json_unit_str(&a->str, val, len);
}


static void
json_unit_attr_int(ngx_otel_attr_t *a, ngx_uint_t id, const char *key,
    int64_t num)
{
    ngx_memzero(a, sizeof(ngx_otel_attr_t));

    a->id = id;
    a->type = NGX_OTEL_ATTR_INT;

    if (key) {
        json_unit_str(&a->key, key, strlen(key));
    }

    a->num = num;
}


static uint64_t
json_unit_random(void)
{
    /* xorshift64: deterministic, so failures can be reproduced */

    json_unit_rnd ^= json_unit_rnd << 13;
    json_unit_rnd ^= json_unit_rnd >> 7;
    json_unit_rnd ^= json_unit_rnd << 17;

    return json_unit_rnd;
}


/* random bytes, biased towards the ones that need care */

static void
json_unit_random_bytes(u_char *p, size_t len)
{
    size_t    i;
    uint64_t  r;

    static u_char  special[] = {
        '"', '\\', '\n', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2,
        0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90,
        0x8f
    };

    for (i = 0; i < len; i++) {
        r = json_unit_random();

        if (r % 4 == 0) {
            p[i] = special[(r >> 8) % sizeof(special)];

        } else {
            p[i] = (u_char) (r >> 16);
        }
    }
}


static void
json_unit_span_init(ngx_otel_span_t *span)
{
    ngx_memzero(span, sizeof(ngx_otel_span_t));

    json_unit_id(span->trace_id, NGX_OTEL_TRACE_ID_LEN, 0x01);
    json_unit_id(span->span_id, NGX_OTEL_SPAN_ID_LEN, 0x11);

    span->flags = 0x01;
    span->kind = NGX_OTEL_SPAN_KIND_SERVER;
    span->start = 1700000000123456789ULL;
    span->end = 1700000000223456789ULL;
}


static void json_unit_shared(ngx_array_t *res);


static void
json_unit_cases(void)
{
    size_t            i;
    ngx_array_t       res;
    ngx_keyval_t      kv[4];
    ngx_otel_attr_t   attrs[NGX_OTEL_SPAN_MAX_ATTRS];
    ngx_otel_span_t   spans[2];

    json_unit_set(&kv[0].key, "service.name");
    json_unit_set(&kv[0].value, "gw");
    json_unit_set(&kv[1].key, "telemetry.sdk.name");
    json_unit_set(&kv[1].value, "ngx_otel_module");
    json_unit_set(&kv[2].key, "telemetry.sdk.version");
    json_unit_set(&kv[2].value, "0.1.0");
    json_unit_array(&res, kv, 3, sizeof(ngx_keyval_t));

    /* a root server span */

    json_unit_span_init(&spans[0]);
    json_unit_set(&spans[0].name, "GET /api/");

    json_unit_attr_str(&attrs[0], NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, NULL,
                       "GET", 3);
    json_unit_attr_str(&attrs[1], NGX_OTEL_ATTR_URL_PATH, NULL, "/api/x", 6);
    json_unit_attr_int(&attrs[2], NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE,
                       NULL, 200);
    json_unit_attr_int(&attrs[3], NGX_OTEL_ATTR_SERVER_PORT, NULL, 8080);
    spans[0].attrs = attrs;
    spans[0].nattrs = 4;

    json_unit_doc("root", &res, spans, 1);

    /* a server span continuing a trace, and its upstream client span */

    json_unit_span_init(&spans[0]);
    json_unit_id(spans[0].parent_id, NGX_OTEL_SPAN_ID_LEN, 0xa1);
    json_unit_set(&spans[0].name, "POST /upload");
    json_unit_set(&spans[0].tracestate,
                  "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    spans[0].status = NGX_OTEL_STATUS_ERROR;

    json_unit_attr_int(&attrs[0], NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE,
                       NULL, 502);
    json_unit_attr_str(&attrs[1], NGX_OTEL_ATTR_ERROR_TYPE, NULL, "502", 3);
    spans[0].attrs = attrs;
    spans[0].nattrs = 2;

    json_unit_span_init(&spans[1]);
    json_unit_id(spans[1].span_id, NGX_OTEL_SPAN_ID_LEN, 0xf1);
    ngx_memcpy(spans[1].parent_id, spans[0].span_id, NGX_OTEL_SPAN_ID_LEN);
    json_unit_set(&spans[1].name, "POST");
    spans[1].kind = NGX_OTEL_SPAN_KIND_CLIENT;
    spans[1].flags = 0x03;
    spans[1].start++;
    spans[1].end--;

    json_unit_doc("child", &res, spans, 2);

    /* every known attribute, custom ones, integer extremes */

    json_unit_span_init(&spans[0]);
    json_unit_set(&spans[0].name, "attrs");

    for (i = 0; i < NGX_OTEL_ATTR_KNOWN; i++) {
        json_unit_attr_str(&attrs[i], i, NULL, "v", 1);
    }

    json_unit_attr_int(&attrs[NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE],
                       NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL, 404);
    json_unit_attr_int(&attrs[NGX_OTEL_ATTR_SERVER_PORT],
                       NGX_OTEL_ATTR_SERVER_PORT, NULL, 443);
    json_unit_attr_int(&attrs[NGX_OTEL_ATTR_NETWORK_PEER_PORT],
                       NGX_OTEL_ATTR_NETWORK_PEER_PORT, NULL, 54321);
    json_unit_attr_int(&attrs[NGX_OTEL_ATTR_HTTP_REQUEST_BODY_SIZE],
                       NGX_OTEL_ATTR_HTTP_REQUEST_BODY_SIZE, NULL, 0);
    json_unit_attr_int(&attrs[NGX_OTEL_ATTR_HTTP_RESPONSE_BODY_SIZE],
                       NGX_OTEL_ATTR_HTTP_RESPONSE_BODY_SIZE, NULL,
                       1234567890123LL);

    i = NGX_OTEL_ATTR_KNOWN;
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "app.tenant",
                       "acme", 4);
    json_unit_attr_int(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "app.count", -42);
    json_unit_attr_int(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "app.min",
                       INT64_MIN);
    json_unit_attr_int(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "app.max",
                       INT64_MAX);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "app.empty", "", 0);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "we\"ird\\key\n",
                       "x", 1);
    spans[0].attrs = attrs;
    spans[0].nattrs = i;

    json_unit_doc("attrs", &res, spans, 1);

    /* escapes and UTF-8 in the name, tracestate, keys and values */

    json_unit_span_init(&spans[0]);
    json_unit_set(&spans[0].name, "a\"b\\c/d\n\r\t\b\f\x01\x1f\x7f" "e");
    json_unit_set(&spans[0].tracestate, "k=\"v\\");

    i = 0;
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "ctl",
                       "\x00\x01\x1f" "z", 4);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "utf8",
                       "\xc2\x80" "\xc3\xa9" "\xe2\x82\xac" "\xed\x9f\xbf"
                       "\xee\x80\x80" "\xef\xbf\xbf" "\xf0\x9f\x98\x80"
                       "\xf4\x8f\xbf\xbf", 24);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "overlong2",
                       "\xc0\xaf", 2);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "overlong3",
                       "\xe0\x80\xaf", 3);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "overlong4",
                       "\xf0\x8f\xbf\xbf", 4);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "surrogate",
                       "\xed\xa0\x80", 3);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "toobig",
                       "\xf4\x90\x80\x80", 4);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "badlead",
                       "\xf5\xff\xfe", 3);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "lonecont",
                       "a\x80" "b", 3);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "truncmid",
                       "a\xe2\x82" "b", 4);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "truncend",
                       "a\xf0\x9f\x98", 4);
    json_unit_attr_str(&attrs[i++], NGX_OTEL_ATTR_CUSTOM, "k\xff\xc3\xa9",
                       "v", 1);
    spans[0].attrs = attrs;
    spans[0].nattrs = i;

    json_unit_set(&kv[3].key, "k\"\\\x01");
    json_unit_set(&kv[3].value, "\x80\xc3\xa9");
    json_unit_array(&res, kv, 4, sizeof(ngx_keyval_t));

    json_unit_doc("escape", &res, spans, 1);

    /* no resource, no attributes, no name, no kind */

    json_unit_span_init(&spans[0]);
    spans[0].kind = 0;
    spans[0].flags = 0;

    json_unit_doc("empty", NULL, spans, 1);

    /* no spans at all */

    json_unit_array(&res, kv, 0, sizeof(ngx_keyval_t));
    json_unit_doc("nospans", &res, spans, 0);

    json_unit_shared(&res);
}


/*
 * A span whose attributes from..from+count-1 are a shared part, as
 * ngx_otel_span_record_read() leaves a keep-alive connection's: their
 * record bytes, not in span.attrs.  Printed as "LABEL-plain" (all of them
 * as attributes), then twice as "LABEL": made, then found again.
 */

static void
json_unit_shared_case(const char *label, ngx_array_t *res,
    ngx_otel_attr_t *all, ngx_uint_t n, ngx_uint_t from, ngx_uint_t count,
    uint32_t id)
{
    char                     plain[64];
    ngx_uint_t               i, k;
    ngx_otel_span_t          span;
    ngx_otel_attr_t          rest[8];
    ngx_otel_otlp_writer_t   w;
    static u_char            compact[4096];

    json_unit_span_init(&span);
    json_unit_set(&span.name, "GET /");
    span.attrs = all;
    span.nattrs = n;

    snprintf(plain, sizeof(plain), "%s-plain", label);
    json_unit_doc(plain, res, &span, 1);

    w.pos = compact;
    w.last = compact + sizeof(compact);
    w.n = 0;
    w.size = 0;

    ngx_otel_otlp_writer_attrs(&w, all + from, count);

    if (w.pos == NULL) {
        fprintf(stderr, "FAIL %s: the writer failed\n", label);
        json_unit_failed++;
        return;
    }

    for (i = 0, k = 0; i < n; i++) {
        if (i < from || i >= from + count) {
            rest[k++] = all[i];
        }
    }

    span.attrs = rest;
    span.nattrs = k;
    span.shared.data = compact;
    span.shared.len = w.pos - compact;
    span.shared.id = id;
    span.shared.from = from;

    json_unit_doc(label, res, &span, 1);
    json_unit_doc(label, res, &span, 1);
}


/*
 * Shared parts in the middle, first, last, alone; and another part with
 * the same id and other bytes at that slot, which gets its own text
 */

static void
json_unit_shared(ngx_array_t *res)
{
    ngx_otel_attr_t  attrs[5];

    json_unit_attr_str(&attrs[0], NGX_OTEL_ATTR_URL_PATH, NULL, "/a", 2);
    json_unit_attr_str(&attrs[1], NGX_OTEL_ATTR_CLIENT_ADDRESS, NULL,
                       "192.0.2.1", 9);
    json_unit_attr_int(&attrs[2], NGX_OTEL_ATTR_NETWORK_PEER_PORT, NULL,
                       40001);
    json_unit_attr_str(&attrs[3], NGX_OTEL_ATTR_USER_AGENT_ORIGINAL, NULL,
                       "curl/8", 6);
    json_unit_attr_int(&attrs[4], NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE,
                       NULL, 200);

    json_unit_shared_case("shared", res, attrs, 5, 1, 3, 7);

    attrs[2].num = 40002;
    json_unit_shared_case("shared-other", res, attrs, 5, 1, 3, 7);

    json_unit_shared_case("shared-first", res, attrs, 5, 0, 2, 8);
    json_unit_shared_case("shared-last", res, attrs, 5, 3, 2, 9);
    json_unit_shared_case("shared-only", res, attrs, 5, 0, 5, 10);
}


/* random spans: printed for JSON/UTF-8 validation in Perl */

static void
json_unit_fuzz(ngx_uint_t print, ngx_uint_t nspans)
{
    size_t            len;
    u_char           *p;
    ngx_uint_t        i, j;
    ngx_otel_attr_t   attrs[8 * 8];
    ngx_otel_span_t   spans[8];
    static u_char     data[8 * 8 * 2 * 256 + 8 * 2 * 256];

    p = data;

    for (i = 0; i < nspans; i++) {
        json_unit_span_init(&spans[i]);

        json_unit_random_bytes(spans[i].trace_id, NGX_OTEL_TRACE_ID_LEN);
        json_unit_random_bytes(spans[i].span_id, NGX_OTEL_SPAN_ID_LEN);

        if (json_unit_random() % 2) {
            json_unit_random_bytes(spans[i].parent_id, NGX_OTEL_SPAN_ID_LEN);
        }

        spans[i].flags = json_unit_random() % 256;
        spans[i].kind = 2 + json_unit_random() % 2;
        spans[i].status = (json_unit_random() % 2) ? 2 : 0;
        spans[i].start = json_unit_random();
        spans[i].end = json_unit_random();

        len = json_unit_random() % 256;
        json_unit_random_bytes(p, len);
        spans[i].name.data = p;
        spans[i].name.len = len;
        p += len;

        len = json_unit_random() % 256;
        json_unit_random_bytes(p, len);
        spans[i].tracestate.data = p;
        spans[i].tracestate.len = len;
        p += len;

        spans[i].attrs = &attrs[i * 8];
        spans[i].nattrs = json_unit_random() % 9;

        for (j = 0; j < spans[i].nattrs; j++) {
            json_unit_attr_int(&spans[i].attrs[j], NGX_OTEL_ATTR_CUSTOM, NULL,
                               (int64_t) json_unit_random());

            if (json_unit_random() % 2) {
                spans[i].attrs[j].id = json_unit_random() % NGX_OTEL_ATTR_KNOWN;

            } else {
                len = json_unit_random() % 256;
                json_unit_random_bytes(p, len);
                spans[i].attrs[j].key.data = p;
                spans[i].attrs[j].key.len = len;
                p += len;
            }

            if (json_unit_random() % 2) {
                len = json_unit_random() % 256;
                json_unit_random_bytes(p, len);
                spans[i].attrs[j].type = NGX_OTEL_ATTR_STRING;
                spans[i].attrs[j].str.data = p;
                spans[i].attrs[j].str.len = len;
                p += len;
            }
        }
    }

    json_unit_doc(print ? "fuzz" : NULL, NULL, spans, nspans);
}


/* the largest span the module can record, made of the costliest bytes */

static void
json_unit_worst(u_char fill)
{
    size_t            n, size;
    ngx_uint_t        i;
    ngx_array_t       res;
    ngx_keyval_t      kv;
    ngx_otel_attr_t  *attrs;
    ngx_otel_span_t   span;
    static u_char     value[NGX_OTEL_ATTR_VALUE_MAX_LEN];
    static u_char     key[NGX_OTEL_ATTR_KEY_MAX_LEN];
    static u_char     name[NGX_OTEL_SPAN_NAME_MAX_LEN];
    static u_char     ts[NGX_OTEL_TRACESTATE_MAX_LEN];

    attrs = malloc(NGX_OTEL_SPAN_MAX_ATTRS * sizeof(ngx_otel_attr_t));
    if (attrs == NULL) {
        fprintf(stderr, "FAIL malloc()\n");
        json_unit_failed++;
        return;
    }

    ngx_memset(value, fill, sizeof(value));
    ngx_memset(key, fill, sizeof(key));
    ngx_memset(name, fill, sizeof(name));
    ngx_memset(ts, fill, sizeof(ts));

    json_unit_span_init(&span);
    json_unit_id(span.parent_id, NGX_OTEL_SPAN_ID_LEN, 0xa1);
    span.name.data = name;
    span.name.len = sizeof(name);
    span.tracestate.data = ts;
    span.tracestate.len = sizeof(ts);
    span.status = NGX_OTEL_STATUS_ERROR;

    for (i = 0; i < NGX_OTEL_SPAN_MAX_ATTRS; i++) {
        json_unit_attr_str(&attrs[i], NGX_OTEL_ATTR_CUSTOM, NULL,
                           (char *) value, sizeof(value));
        attrs[i].key.data = key;
        attrs[i].key.len = sizeof(key);
    }

    span.attrs = attrs;
    span.nattrs = NGX_OTEL_SPAN_MAX_ATTRS;

    kv.key.data = key;
    kv.key.len = sizeof(key);
    kv.value.data = value;
    kv.value.len = sizeof(value);
    json_unit_array(&res, &kv, 1, sizeof(ngx_keyval_t));

    n = json_unit_doc(NULL, &res, &span, 1);

    size = ngx_otel_otlp_json_begin_size(&res)
           + ngx_otel_otlp_json_span_size(&span)
           + ngx_otel_otlp_json_end_size();

    fprintf(stderr, "worst case 0x%02x: %zu bytes, bound %zu\n",
            fill, n, size);

    free(attrs);
}


int
main(void)
{
    ngx_uint_t  i;

    json_unit_buf = malloc(JSON_UNIT_BUF_SIZE);
    if (json_unit_buf == NULL) {
        fprintf(stderr, "FAIL malloc()\n");
        return 1;
    }

    json_unit_cases();

    for (i = 0; i < 8; i++) {
        json_unit_fuzz(1, 8);
    }

    for (i = 0; i < 20000; i++) {
        json_unit_fuzz(0, 1 + i % 8);
    }

    json_unit_worst(0x01);
    json_unit_worst(0xff);
    json_unit_worst('"');
    json_unit_worst(0xe2);

    fprintf(stderr, "%lu checks, %lu failed\n",
            (unsigned long) json_unit_checks,
            (unsigned long) json_unit_failed);

    free(json_unit_buf);

    return json_unit_failed ? 1 : 0;
}
