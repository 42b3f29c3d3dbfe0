
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * Unit harness for ngx_otel_otlp_span.c, built and run by t/otlp.t:
 *
 *     cc -I<configured nginx tree includes> -I ngx_otel_module \
 *         -I <tree>/objs/ngx_otel_proto t/unit/otlp_unit.c \
 *         ngx_otel_module/ngx_otel_otlp_span.c \
 *         ngx_otel_module/ngx_otel_span.c \
 *         <tree>/objs/ngx_otel_proto/{common,resource,trace}.pb-c.c \
 *         -lprotobuf-c
 *
 * The reference is protobuf-c: for every span, the harness builds the
 * Opentelemetry__Proto__Trace__V1__Span that ngx_otel_otlp.c built before
 * the specialised encoder replaced it (strings as C strings, filtered to
 * UTF-8 by a decoder of its own, the status always set, empty attribute
 * values as "" strings), packs it with protobuf_c_message_pack(), and
 * checks that
 *
 *   - ngx_otel_otlp_span() fits into ngx_otel_otlp_span_size() bytes;
 *     given less room, it returns the same bytes or NULL, and never
 *     writes past the room;
 *   - those bytes are the packed Span, after its ScopeSpans.spans tag and
 *     length;
 *   - protobuf-c unpacks them, and packs what it unpacked into the same
 *     bytes.
 *
 * Spans: edge cases, random ones, and random ones through a zone record
 * (ngx_otel_span_record_write() and _read(), as the exporter sees them).
 * Strings are copied into buffers of exactly their length (NULL when
 * empty), so a build with -fsanitize=address catches a read past one.
 *
 * Prints TAP, and for t/otlp.t's protoc checks, lines
 * "span<TAB>label<TAB>hex" with the encoded field of a few spans.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"
#include "ngx_otel_otlp.h"

#include "trace.pb-c.h"


#define UNIT_BUF_SIZE      (4 * 1024 * 1024)
#define UNIT_GUARD         64
#define UNIT_SENTINEL      0xa5
#define UNIT_MAX_EVENTS    8
#define UNIT_MAX_STRS      (2 * NGX_OTEL_SPAN_MAX_ATTRS + 2                 \
                            + UNIT_MAX_EVENTS                               \
                              * (2 * NGX_OTEL_EVENT_MAX_ATTRS + 1))
#define UNIT_EVENTS_SIZE   (UNIT_MAX_EVENTS * 2048)


typedef Opentelemetry__Proto__Trace__V1__Span       unit_pb_span_t;
typedef Opentelemetry__Proto__Trace__V1__Status     unit_pb_status_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue  unit_pb_kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue  unit_pb_value_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Event  unit_pb_event_t;


/* what one kind of check found over all spans */
typedef struct {
    const char     *what;
    ngx_uint_t      spans;
    ngx_uint_t      failed;
} unit_check_t;


static unit_check_t  unit_size = { "fits its size; less room: NULL or the "
                                   "same, nothing written past it", 0, 0 };
static unit_check_t  unit_same = { "bytes identical to protobuf-c's", 0, 0 };
static unit_check_t  unit_unpack = { "protobuf-c unpacks them", 0, 0 };
static unit_check_t  unit_repack = { "protobuf-c repacks them identically",
                                     0, 0 };
static unit_check_t  unit_fields = { "unpacked ids and counts as given",
                                     0, 0 };
static unit_check_t  unit_direct = { "written straight from its record: "
                                     "protobuf-c's bytes, in its size", 0, 0 };
static unit_check_t  unit_shared = { "a record with a shared part, its "
                                     "expansion made, found again, or "
                                     "another's at that slot: protobuf-c's "
                                     "bytes", 0, 0 };

static u_char       *unit_buf;
static u_char       *unit_ref;
static int           unit_tests;
static int           unit_failed;
static uint64_t      unit_rnd = 0x2545f4914f6cdd1dULL;

/*
 * the longest and the shortest Span seen, how many had lengths of 1, 2, 3
 * and more varint bytes, the largest ratio of the size bound to the
 * bytes written, how many tries found too little room
 */
static size_t        unit_max_len;
static size_t        unit_min_len = (size_t) -1;
static ngx_uint_t    unit_varint_lens[4];
static double        unit_bound;
static ngx_uint_t    unit_short;


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    unit_tests++;

    if (!cond) {
        unit_failed++;
    }

    printf("%sok %d - ", cond ? "" : "not ", unit_tests);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static void
diag(const char *fmt, ...)
{
    va_list  args;

    printf("# ");

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static void
unit_fail(unit_check_t *check, const char *label, const char *fmt, ...)
{
    va_list  args;

    /* the first few failures of each kind are enough to go on */

    if (check->failed++ < 5) {
        printf("# %s: %s: ", label, check->what);

        va_start(args, fmt);
        vprintf(fmt, args);
        va_end(args);

        printf("\n");
    }
}


static void
unit_report(unit_check_t *check)
{
    ok(check->spans > 0 && check->failed == 0, "%s (%lu spans, %lu failed)",
       check->what, (unsigned long) check->spans,
       (unsigned long) check->failed);
}


/*
 * The reference UTF-8 filter, written apart from the module's: decode a
 * code point, and keep it unless it is overlong, a surrogate or above
 * U+10FFFF; NUL, and a byte that starts nothing valid, become U+FFFD.
 * With dst NULL only counts.
 */

static size_t
unit_utf8(u_char *dst, u_char *s, size_t len)
{
    size_t    i, k, n, out;
    uint32_t  cp, min;

    out = 0;

    for (i = 0; i < len; /* void */) {
        cp = s[i];
        n = 0;
        min = 0;

        if (cp >= 0x01 && cp <= 0x7f) {
            n = 1;

        } else if (cp >= 0xc0 && cp <= 0xdf) {
            n = 2;
            min = 0x80;
            cp &= 0x1f;

        } else if (cp >= 0xe0 && cp <= 0xef) {
            n = 3;
            min = 0x800;
            cp &= 0x0f;

        } else if (cp >= 0xf0 && cp <= 0xf7) {
            n = 4;
            min = 0x10000;
            cp &= 0x07;
        }

        if (n > 1) {
            if (i + n > len) {
                n = 0;

            } else {
                for (k = 1; k < n; k++) {
                    if ((s[i + k] & 0xc0) != 0x80) {
                        n = 0;
                        break;
                    }

                    cp = (cp << 6) | (s[i + k] & 0x3f);
                }
            }

            if (n && (cp < min || cp > 0x10ffff
                      || (cp >= 0xd800 && cp <= 0xdfff)))
            {
                n = 0;
            }
        }

        if (n == 0) {
            if (dst) {
                dst[out] = 0xef;
                dst[out + 1] = 0xbf;
                dst[out + 2] = 0xbd;
            }

            out += 3;
            i++;
            continue;
        }

        if (dst) {
            memcpy(dst + out, s + i, n);
        }

        out += n;
        i += n;
    }

    return out;
}


static char *
unit_cstr(ngx_str_t *s, char **strs, ngx_uint_t *nstrs)
{
    char    *p;
    size_t   n;

    n = unit_utf8(NULL, s->data, s->len);

    p = malloc(n + 1);
    if (p == NULL) {
        fprintf(stderr, "malloc() failed\n");
        exit(2);
    }

    (void) unit_utf8((u_char *) p, s->data, s->len);
    p[n] = '\0';

    strs[(*nstrs)++] = p;

    return p;
}


/* an attribute as protobuf-c's KeyValue */

static void
unit_kv(ngx_otel_attr_t *attr, unit_pb_kv_t *kv, unit_pb_value_t *value,
    char **strs, ngx_uint_t *nstrs)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(value);

    if (attr->id < NGX_OTEL_ATTR_KNOWN) {
        kv->key = (char *) ngx_otel_attr_names[attr->id].data;

    } else {
        kv->key = unit_cstr(&attr->key, strs, nstrs);
    }

    if (attr->type == NGX_OTEL_ATTR_INT) {
        value->value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        value->int_value = attr->num;

    } else {
        value->value_case =
              OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        value->string_value = unit_cstr(&attr->str, strs, nstrs);
    }

    kv->value = value;
}


/* the Span that ngx_otel_otlp.c built, packed by protobuf-c */

static size_t
unit_reference(ngx_otel_span_t *span, u_char *out)
{
    u_char            *e;
    char              *strs[UNIT_MAX_STRS];
    size_t             len, n;
    uint32_t           flags;
    uint64_t           parent;
    ngx_uint_t         i, j, nstrs;
    unit_pb_kv_t       kvs[NGX_OTEL_SPAN_MAX_ATTRS];
    unit_pb_kv_t      *kvp[NGX_OTEL_SPAN_MAX_ATTRS];
    unit_pb_span_t     s;
    unit_pb_event_t    events[UNIT_MAX_EVENTS], *evp[UNIT_MAX_EVENTS];
    ngx_otel_attr_t    ev_attrs[NGX_OTEL_EVENT_MAX_ATTRS];
    ngx_otel_event_t   ev;
    unit_pb_value_t    values[NGX_OTEL_SPAN_MAX_ATTRS];
    unit_pb_status_t   status;

    static unit_pb_kv_t     ev_kvs[UNIT_MAX_EVENTS]
                                  [NGX_OTEL_EVENT_MAX_ATTRS];
    static unit_pb_kv_t    *ev_kvp[UNIT_MAX_EVENTS]
                                  [NGX_OTEL_EVENT_MAX_ATTRS];
    static unit_pb_value_t  ev_values[UNIT_MAX_EVENTS]
                                     [NGX_OTEL_EVENT_MAX_ATTRS];

    nstrs = 0;

    opentelemetry__proto__trace__v1__span__init(&s);
    opentelemetry__proto__trace__v1__status__init(&status);

    s.trace_id.data = span->trace_id;
    s.trace_id.len = NGX_OTEL_TRACE_ID_LEN;
    s.span_id.data = span->span_id;
    s.span_id.len = NGX_OTEL_SPAN_ID_LEN;

    flags = (span->flags & 0xff) | 0x100;

    memcpy(&parent, span->parent_id, sizeof(parent));

    if (parent) {
        s.parent_span_id.data = span->parent_id;
        s.parent_span_id.len = NGX_OTEL_SPAN_ID_LEN;

        if (span->kind == NGX_OTEL_SPAN_KIND_SERVER) {
            flags |= 0x200;
        }
    }

    s.flags = flags;

    if (span->tracestate.len) {
        s.trace_state = unit_cstr(&span->tracestate, strs, &nstrs);
    }

    if (span->name.len) {
        s.name = unit_cstr(&span->name, strs, &nstrs);
    }

    s.kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind) span->kind;
    s.start_time_unix_nano = span->start;
    s.end_time_unix_nano = span->end;

    for (i = 0; i < span->nattrs; i++) {
        unit_kv(&span->attrs[i], &kvs[i], &values[i], strs, &nstrs);
        kvp[i] = &kvs[i];
    }

    s.n_attributes = span->nattrs;
    s.attributes = kvp;

    /* the events, from their record form */

    e = span->events.data;

    for (i = 0; i < span->nevents && i < UNIT_MAX_EVENTS; i++) {
        e = ngx_otel_span_event_read(e, &ev, ev_attrs);

        opentelemetry__proto__trace__v1__span__event__init(&events[i]);

        events[i].time_unix_nano = ev.time;

        if (ev.name.len) {
            events[i].name = unit_cstr(&ev.name, strs, &nstrs);
        }

        for (j = 0; j < ev.nattrs; j++) {
            unit_kv(&ev_attrs[j], &ev_kvs[i][j], &ev_values[i][j], strs,
                    &nstrs);
            ev_kvp[i][j] = &ev_kvs[i][j];
        }

        events[i].n_attributes = ev.nattrs;
        events[i].attributes = ev_kvp[i];
        evp[i] = &events[i];
    }

    s.n_events = i;
    s.events = evp;

    status.code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)
                  span->status;
    s.status = &status;

    len = protobuf_c_message_get_packed_size(&s.base);

    if (len + 16 > UNIT_BUF_SIZE) {
        fprintf(stderr, "span of %zu bytes: too large\n", len);
        exit(2);
    }

    /* the field: ScopeSpans.spans tag, length, the packed Span */

    out[0] = 0x12;
    n = ngx_otel_otlp_varint(out + 1, len) - out;

    if (protobuf_c_message_pack(&s.base, out + n) != len) {
        fprintf(stderr, "protobuf_c_message_pack() and "
                "protobuf_c_message_get_packed_size() disagree\n");
        exit(2);
    }

    for (i = 0; i < nstrs; i++) {
        free(strs[i]);
    }

    return n + len;
}


static void
unit_print(const char *label, u_char *p, size_t len)
{
    size_t  i;

    printf("span\t%s\t", label);

    for (i = 0; i < len; i++) {
        printf("%02x", p[i]);
    }

    printf("\n");
}


static ngx_int_t
unit_guard(u_char *p)
{
    u_char  *last;

    for (last = p + UNIT_GUARD; p < last; p++) {
        if (*p != UNIT_SENTINEL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* one span through every check; printed when "print" */

static void
unit_span(const char *label, ngx_otel_span_t *span, ngx_uint_t print)
{
    u_char          *end;
    size_t           size, bound, room, ref, hdr, len, i;
    uint64_t         n;
    unit_pb_span_t  *s;

    bound = ngx_otel_otlp_span_size(span);

    if (bound + UNIT_GUARD > UNIT_BUF_SIZE) {
        fprintf(stderr, "%s: span of %zu bytes: too large\n", label, bound);
        exit(2);
    }

    memset(unit_buf, UNIT_SENTINEL, bound + UNIT_GUARD);

    end = ngx_otel_otlp_span(unit_buf, unit_buf + bound, span);

    unit_size.spans++;

    if (end == NULL) {
        unit_fail(&unit_size, label, "does not fit into its size, %zu",
                  bound);
        return;
    }

    size = end - unit_buf;

    if (unit_guard(unit_buf + bound) != NGX_OK) {
        unit_fail(&unit_size, label, "wrote past its size");
        return;
    }

    unit_bound = ngx_max(unit_bound, (double) bound / size);

    /*
     * less room, down to just below the span's size and up to what the
     * encoder may want beyond it (for every fourth span): the same bytes,
     * or NULL, and nothing past the room
     */

    for (room = (unit_size.spans % 4) ? bound : (size > 16 ? size - 16 : 0);
         room < ngx_min(bound, size + 128);
         room++)
    {
        memset(unit_ref, UNIT_SENTINEL, room + UNIT_GUARD);

        end = ngx_otel_otlp_span(unit_ref, unit_ref + room, span);

        if (unit_guard(unit_ref + room) != NGX_OK
            || (end && (end != unit_ref + size
                        || memcmp(unit_ref, unit_buf, size) != 0)))
        {
            unit_fail(&unit_size, label, "went wrong with %zu bytes of "
                      "room for %zu", room, size);
            return;
        }

        unit_short += (end == NULL);
    }

    /* (a) protobuf-c's bytes */

    unit_same.spans++;

    ref = unit_reference(span, unit_ref);

    if (ref != size || memcmp(unit_buf, unit_ref, size) != 0) {
        for (i = 0; i < ngx_min(ref, size); i++) {
            if (unit_buf[i] != unit_ref[i]) {
                break;
            }
        }

        unit_fail(&unit_same, label, "%zu bytes, protobuf-c %zu; first "
                  "difference at byte %zu: %02x, protobuf-c %02x", size, ref,
                  i, i < size ? unit_buf[i] : 0, i < ref ? unit_ref[i] : 0);
        return;
    }

    /* (b) unpacked and packed again by protobuf-c */

    if (unit_buf[0] != 0x12) {
        unit_fail(&unit_unpack, label, "tag %02x", unit_buf[0]);
        return;
    }

    n = 0;

    for (hdr = 1; hdr < 6; hdr++) {
        n |= (uint64_t) (unit_buf[hdr] & 0x7f) << (7 * (hdr - 1));

        if ((unit_buf[hdr] & 0x80) == 0) {
            break;
        }
    }

    hdr++;
    len = size - hdr;

    unit_varint_lens[ngx_min(hdr - 2, 3)]++;
    unit_max_len = ngx_max(unit_max_len, len);
    unit_min_len = ngx_min(unit_min_len, len);

    unit_unpack.spans++;

    if (n != len) {
        unit_fail(&unit_unpack, label, "length %llu, message %zu",
                  (unsigned long long) n, len);
        return;
    }

    s = opentelemetry__proto__trace__v1__span__unpack(NULL, len,
                                                     unit_buf + hdr);
    if (s == NULL) {
        unit_fail(&unit_unpack, label, "unpack failed");
        return;
    }

    unit_repack.spans++;

    if (protobuf_c_message_get_packed_size(&s->base) != len
        || protobuf_c_message_pack(&s->base, unit_ref) != len
        || memcmp(unit_ref, unit_buf + hdr, len) != 0)
    {
        unit_fail(&unit_repack, label, "repacked differently");
    }

    unit_fields.spans++;

    if (s->trace_id.len != NGX_OTEL_TRACE_ID_LEN
        || memcmp(s->trace_id.data, span->trace_id, NGX_OTEL_TRACE_ID_LEN)
        || s->span_id.len != NGX_OTEL_SPAN_ID_LEN
        || memcmp(s->span_id.data, span->span_id, NGX_OTEL_SPAN_ID_LEN)
        || s->n_attributes != span->nattrs
        || s->status == NULL
        || (uint32_t) s->status->code != (uint32_t) span->status
        || (uint32_t) s->kind != (uint32_t) span->kind
        || s->start_time_unix_nano != span->start
        || s->end_time_unix_nano != span->end
        || (s->flags & 0xff) != (span->flags & 0xff))
    {
        unit_fail(&unit_fields, label, "fields differ");
    }

    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);

    if (print) {
        unit_print(label, unit_buf, size);
    }
}


/* strings in buffers of exactly their length: ASan sees any overread */

static u_char  *unit_allocs[4096];
static size_t   unit_nallocs;


static void
unit_set(ngx_str_t *s, const void *data, size_t len)
{
    u_char  *p;

    s->len = len;

    if (len == 0) {
        s->data = NULL;
        return;
    }

    p = malloc(len);
    if (p == NULL || unit_nallocs == sizeof(unit_allocs) / sizeof(u_char *)) {
        fprintf(stderr, "too many strings\n");
        exit(2);
    }

    /* no data: room to fill */

    if (data) {
        memcpy(p, data, len);
    }

    unit_allocs[unit_nallocs++] = p;
    s->data = p;
}


#define unit_lit(s, lit)  unit_set(s, lit, sizeof(lit) - 1)


static void
unit_free(void)
{
    while (unit_nallocs) {
        free(unit_allocs[--unit_nallocs]);
    }
}


static void
unit_id(u_char *id, size_t len, u_char first)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        id[i] = (u_char) (first + i);
    }
}


static void
unit_span_init(ngx_otel_span_t *span, ngx_otel_attr_t *attrs)
{
    ngx_memzero(span, sizeof(ngx_otel_span_t));

    unit_id(span->trace_id, NGX_OTEL_TRACE_ID_LEN, 0x01);
    unit_id(span->span_id, NGX_OTEL_SPAN_ID_LEN, 0x11);

    span->flags = 0x01;
    span->kind = NGX_OTEL_SPAN_KIND_SERVER;
    span->start = 1700000000123456789ULL;
    span->end = 1700000000223456789ULL;
    span->attrs = attrs;
}


static void
unit_str_attr(ngx_otel_span_t *span, ngx_uint_t id, const char *key,
    const void *val, size_t len)
{
    ngx_otel_attr_t  *a;

    a = &span->attrs[span->nattrs++];
    ngx_memzero(a, sizeof(ngx_otel_attr_t));

    a->id = id;
    a->type = NGX_OTEL_ATTR_STRING;

    if (key) {
        unit_set(&a->key, key, strlen(key));
    }

    unit_set(&a->str, val, len);
}


static void
unit_int_attr(ngx_otel_span_t *span, ngx_uint_t id, const char *key,
    int64_t num)
{
    ngx_otel_attr_t  *a;

    a = &span->attrs[span->nattrs++];
    ngx_memzero(a, sizeof(ngx_otel_attr_t));

    a->id = id;
    a->type = NGX_OTEL_ATTR_INT;

    if (key) {
        unit_set(&a->key, key, strlen(key));
    }

    a->num = num;
}


static uint64_t
unit_random(void)
{
    /* xorshift64: deterministic, so failures can be reproduced */

    unit_rnd ^= unit_rnd << 13;
    unit_rnd ^= unit_rnd >> 7;
    unit_rnd ^= unit_rnd << 17;

    return unit_rnd;
}


/* random bytes: plain ASCII, or mixed with those that need care */

static void
unit_random_bytes(u_char *p, size_t len, ngx_uint_t ascii)
{
    size_t    i;
    uint64_t  r;

    static u_char  special[] = {
        0x00, 0x01, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed,
        0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f
    };

    static u_char  valid[][4] = {
        { 0xc3, 0xa9 }, { 0xe2, 0x82, 0xac }, { 0xf0, 0x9f, 0x98, 0x80 },
        { 0xed, 0x9f, 0xbf }, { 0xf4, 0x8f, 0xbf, 0xbf }
    };

    static size_t  valid_len[] = { 2, 3, 4, 3, 4 };

    for (i = 0; i < len; i++) {
        r = unit_random();

        if (ascii || r % 8 < 5) {
            p[i] = (u_char) (0x20 + (r >> 16) % 95);

        } else if (r % 8 == 5 && i + 4 <= len) {
            r = (r >> 8) % 5;
            memcpy(p + i, valid[r], valid_len[r]);
            i += valid_len[r] - 1;

        } else if (r % 8 == 6) {
            p[i] = special[(r >> 8) % sizeof(special)];

        } else {
            p[i] = (u_char) (r >> 16);
        }
    }
}


/* a length around a varint boundary now and then */

static size_t
unit_random_len(size_t max)
{
    uint64_t  r;

    static size_t  edges[] = { 0, 1, 7, 8, 9, 16, 17, 31, 32, 33, 92, 93, 94,
                               95, 125, 126, 127, 128, 129, 255, 256 };

    r = unit_random();

    if (r % 4 == 0) {
        return ngx_min(edges[(r >> 8) % (sizeof(edges) / sizeof(size_t))],
                       max);
    }

    if (r % 4 == 1) {
        return (r >> 8) % (max + 1);
    }

    return (r >> 8) % (ngx_min(max, 48) + 1);
}


static void
unit_random_str(ngx_str_t *s, size_t max, ngx_uint_t ascii)
{
    size_t         len;
    static u_char  data[16384];

    len = unit_random_len(max);

    unit_random_bytes(data, len, ascii);
    unit_set(s, data, len);
}


static int64_t
unit_random_int(void)
{
    uint64_t  r;

    static int64_t  edges[] = {
        0, 1, -1, 127, 128, 16383, 16384, 200, 404, 65535, INT64_MAX,
        INT64_MIN, INT64_MIN + 1, -128, (int64_t) 1 << 62, INT32_MIN
    };

    r = unit_random();

    if (r % 2) {
        return edges[(r >> 8) % (sizeof(edges) / sizeof(int64_t))];
    }

    return (int64_t) unit_random() >> (r >> 8) % 64;
}


static void unit_random_events(ngx_otel_span_t *span, ngx_uint_t ascii);


static void
unit_random_span(ngx_otel_span_t *span, ngx_otel_attr_t *attrs,
    size_t max_value, ngx_uint_t max_attrs)
{
    uint64_t          r;
    ngx_uint_t        i, n, ascii;
    ngx_otel_attr_t  *a;

    unit_span_init(span, attrs);

    /* most spans ASCII only, as most requests are */

    ascii = unit_random() % 4 != 0;

    for (i = 0; i < NGX_OTEL_TRACE_ID_LEN; i++) {
        span->trace_id[i] = (u_char) unit_random();
    }

    for (i = 0; i < NGX_OTEL_SPAN_ID_LEN; i++) {
        span->span_id[i] = (u_char) unit_random();
    }

    r = unit_random();

    if (r % 3 == 0) {
        for (i = 0; i < NGX_OTEL_SPAN_ID_LEN; i++) {
            span->parent_id[i] = (u_char) unit_random();
        }

    } else if (r % 3 == 1) {
        /* zero but the last byte: not a root */
        span->parent_id[NGX_OTEL_SPAN_ID_LEN - 1] = (u_char) (1 + r % 255);
    }

    r = unit_random();

    span->flags = r % 256;
    span->kind = (r >> 8) % 16 == 0 ? 255 : (r >> 12) % 6;
    span->status = (r >> 16) % 16 == 0 ? 255 : (r >> 20) % 3;
    span->start = (r >> 24) % 8 == 0 ? 0 : unit_random();
    span->end = (r >> 28) % 8 == 0 ? 0 : unit_random();

    unit_random_str(&span->name, NGX_OTEL_SPAN_NAME_MAX_LEN, ascii);
    unit_random_str(&span->tracestate, NGX_OTEL_TRACESTATE_MAX_LEN, ascii);

    r = unit_random();
    n = (r % 8 == 0) ? max_attrs : (r >> 8) % (ngx_min(max_attrs, 16) + 1);

    for (i = 0; i < n; i++) {
        a = &attrs[i];
        ngx_memzero(a, sizeof(ngx_otel_attr_t));

        r = unit_random();

        if (r % 2) {
            a->id = (r >> 8) % NGX_OTEL_ATTR_KNOWN;

        } else {
            a->id = NGX_OTEL_ATTR_CUSTOM;
            unit_random_str(&a->key, NGX_OTEL_ATTR_KEY_MAX_LEN, ascii);
        }

        if ((r >> 16) % 3 == 0) {
            a->type = NGX_OTEL_ATTR_INT;
            a->num = unit_random_int();

        } else {
            a->type = NGX_OTEL_ATTR_STRING;
            unit_random_str(&a->str, max_value, ascii);
        }
    }

    span->nattrs = n;

    if (unit_random() % 4 == 0) {
        unit_random_events(span, ascii);
    }
}


/* up to UNIT_MAX_EVENTS events of up to 6 attributes, in record form */

static void
unit_random_events(ngx_otel_span_t *span, ngx_uint_t ascii)
{
    u_char            *p, *last;
    uint64_t           r;
    ngx_str_t          buf;
    ngx_uint_t         i, j;
    ngx_otel_attr_t    attrs[NGX_OTEL_EVENT_MAX_ATTRS], *a;
    ngx_otel_event_t   ev;

    unit_set(&buf, NULL, UNIT_EVENTS_SIZE);

    p = buf.data;
    last = p + UNIT_EVENTS_SIZE;

    span->nevents = unit_random() % (UNIT_MAX_EVENTS + 1);

    for (i = 0; i < span->nevents; i++) {
        r = unit_random();

        ev.time = (r % 8 == 0) ? 0 : unit_random();
        unit_random_str(&ev.name, 64, ascii);
        ev.nattrs = (r >> 8) % 7;
        ev.attrs = attrs;

        for (j = 0; j < ev.nattrs; j++) {
            a = &attrs[j];
            ngx_memzero(a, sizeof(ngx_otel_attr_t));

            r = unit_random();

            if (r % 2) {
                a->id = (r >> 8) % NGX_OTEL_ATTR_KNOWN;

            } else {
                a->id = NGX_OTEL_ATTR_CUSTOM;
                unit_random_str(&a->key, 40, ascii);
            }

            if ((r >> 16) % 3 == 0) {
                a->type = NGX_OTEL_ATTR_INT;
                a->num = unit_random_int();

            } else {
                a->type = NGX_OTEL_ATTR_STRING;
                unit_random_str(&a->str, 100, ascii);
            }
        }

        p = ngx_otel_span_event_encode(p, last, &ev);

        if (p == NULL) {
            fprintf(stderr, "events do not fit in %d bytes\n",
                    UNIT_EVENTS_SIZE);
            exit(2);
        }
    }

    span->events.data = buf.data;
    span->events.len = p - buf.data;
}


/* the same span as the exporter sees it: written to a record, read back */

static void unit_const_names(void);
static void unit_record_direct(const char *label, ngx_otel_span_t *span,
    ngx_otel_span_t *ref_span);


static void
unit_record(const char *label, ngx_otel_span_t *span)
{
    size_t                   size;
    ngx_otel_span_t          view;
    ngx_otel_span_record_t  *rec;
    static ngx_otel_attr_t   attrs[NGX_OTEL_SPAN_MAX_ATTRS];

    size = ngx_otel_span_record_size(span);

    rec = malloc(size);
    if (rec == NULL) {
        fprintf(stderr, "malloc() failed\n");
        exit(2);
    }

    ngx_otel_span_record_write(rec, span, size);
    ngx_otel_span_record_read(rec, &view, attrs);

    unit_span(label, &view, 0);

    /* the span read back: what the direct way must write too */

    unit_record_direct(label, span, &view);

    free(rec);
}


/*
 * Each constant the request path writes by its name (NGX_OTEL_OTLP_GET,
 * ...) reads back as the attribute that name says
 */

static void
unit_const_names(void)
{
    u_char                  *p;
    size_t                   size, failed;
    ngx_uint_t               i;
    ngx_otel_span_t          span, view;
    ngx_otel_attr_t          encoded, attr;
    ngx_otel_otlp_writer_t   w;
    ngx_otel_span_record_t  *rec;

    static struct {
        ngx_uint_t   c;
        ngx_uint_t   id;
        char        *str;
        int64_t      num;
    } names[] = {
        { NGX_OTEL_OTLP_GET, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, "GET", 0 },
        { NGX_OTEL_OTLP_HEAD, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, "HEAD", 0 },
        { NGX_OTEL_OTLP_POST, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, "POST", 0 },
        { NGX_OTEL_OTLP_PUT, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, "PUT", 0 },
        { NGX_OTEL_OTLP_DELETE, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, "DELETE",
          0 },
        { NGX_OTEL_OTLP_OPTIONS, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD,
          "OPTIONS", 0 },
        { NGX_OTEL_OTLP_PATCH, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, "PATCH",
          0 },
        { NGX_OTEL_OTLP_HTTP, NGX_OTEL_ATTR_URL_SCHEME, "http", 0 },
        { NGX_OTEL_OTLP_HTTPS, NGX_OTEL_ATTR_URL_SCHEME, "https", 0 },
        { NGX_OTEL_OTLP_HTTP_10, NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION,
          "1.0", 0 },
        { NGX_OTEL_OTLP_HTTP_11, NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION,
          "1.1", 0 },
        { NGX_OTEL_OTLP_HTTP_2, NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, "2",
          0 },
        { NGX_OTEL_OTLP_HTTP_3, NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, "3",
          0 },
        { NGX_OTEL_OTLP_200, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          200 },
        { NGX_OTEL_OTLP_201, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          201 },
        { NGX_OTEL_OTLP_204, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          204 },
        { NGX_OTEL_OTLP_206, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          206 },
        { NGX_OTEL_OTLP_301, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          301 },
        { NGX_OTEL_OTLP_302, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          302 },
        { NGX_OTEL_OTLP_304, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          304 },
        { NGX_OTEL_OTLP_400, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          400 },
        { NGX_OTEL_OTLP_401, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          401 },
        { NGX_OTEL_OTLP_403, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          403 },
        { NGX_OTEL_OTLP_404, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          404 },
        { NGX_OTEL_OTLP_500, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          500 },
        { NGX_OTEL_OTLP_502, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          502 },
        { NGX_OTEL_OTLP_503, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          503 },
        { NGX_OTEL_OTLP_504, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
          504 }
    };

    ngx_otel_otlp_heads_init();

    failed = 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        /* the writer wants room for any attribute; one byte is written */

        p = malloc(NGX_OTEL_OTLP_SHORT_MAX);
        if (p == NULL) {
            fprintf(stderr, "malloc() failed\n");
            exit(2);
        }

        w.pos = p;
        w.last = p + NGX_OTEL_OTLP_SHORT_MAX;
        w.n = 0;
        w.size = 0;

        ngx_otel_otlp_known_const(&w, names[i].c);

        encoded.type = NGX_OTEL_ATTR_ENCODED;
        encoded.str.data = p;
        encoded.str.len = w.pos - p;
        encoded.key.len = w.size;
        encoded.num = (int64_t) w.n;

        ngx_memzero(&span, sizeof(ngx_otel_span_t));
        span.attrs = &encoded;
        span.nattrs = 1;

        size = ngx_otel_span_record_size(&span);

        rec = malloc(size);
        if (rec == NULL) {
            fprintf(stderr, "malloc() failed\n");
            exit(2);
        }

        ngx_otel_span_record_write(rec, &span, size);
        ngx_otel_span_record_read(rec, &view, &attr);

        if (encoded.str.len != 1
            || view.nattrs != 1
            || attr.id != names[i].id
            || (names[i].str
                ? (attr.type != NGX_OTEL_ATTR_STRING
                   || attr.str.len != strlen(names[i].str)
                   || memcmp(attr.str.data, names[i].str, attr.str.len))
                : (attr.type != NGX_OTEL_ATTR_INT
                   || attr.num != names[i].num)))
        {
            diag("constant %lu is not what its name says",
                 (unsigned long) names[i].c);
            failed++;
        }

        free(rec);
        free(p);
    }

    ok(failed == 0 && i == NGX_OTEL_OTLP_CONSTS,
       "each constant by its name: one byte, the attribute the name says "
       "(%lu constants, %lu failed)", (unsigned long) i,
       (unsigned long) failed);
}


/*
 * The span as the request path records it: its attributes encoded first
 * (as ngx_http_otel_push_span() does: compact, constants), and when
 * ngx_otel_otlp_record_len() finds its length, written straight from the
 * record by ngx_otel_otlp_record(): what protobuf-c makes of ref_span (the
 * same span through a record without either), nothing past
 * ngx_otel_otlp_record_size(), NULL with less room
 */

static void
unit_record_direct(const char *label, ngx_otel_span_t *span,
    ngx_otel_span_t *ref_span)
{
    u_char                  *end, *shared, *shared_end;
    size_t                   size, room, ref;
    ngx_uint_t               n, from, to, i;
    ngx_otel_span_t          enc;
    ngx_otel_attr_t          encoded;
    ngx_otel_otlp_writer_t   w;
    ngx_otel_span_record_t  *rec;
    static uint32_t          shared_id;
    static u_char            buf[ngx_otel_otlp_attrs_max(
                                                 NGX_OTEL_SPAN_MAX_ATTRS)];

    enc = *span;
    shared = NULL;
    shared_end = NULL;

    if (span->nattrs) {
        w.pos = buf;
        w.last = buf + sizeof(buf);
        w.n = 0;
        w.size = 0;

        /* written in three runs: the middle one is the shared part */

        n = ngx_min(span->nattrs, NGX_OTEL_SPAN_MAX_ATTRS);
        from = n / 3;
        to = from + (n - from + 1) / 2;

        ngx_otel_otlp_writer_attrs(&w, span->attrs, from);
        shared = w.pos;

        if (shared != NULL) {
            ngx_otel_otlp_writer_attrs(&w, span->attrs + from, to - from);
            shared_end = w.pos;
        }

        if (shared_end != NULL) {
            ngx_otel_otlp_writer_attrs(&w, span->attrs + to, n - to);
        }

        if (w.pos == NULL) {
            return;
        }

        encoded.type = NGX_OTEL_ATTR_ENCODED;
        encoded.str.data = buf;
        encoded.str.len = w.pos - buf;
        encoded.key.len = w.size;
        encoded.num = (int64_t) w.n;

        enc.attrs = &encoded;
        enc.nattrs = 1;
    }

    size = ngx_otel_span_record_size(&enc);

    rec = malloc(size);
    if (rec == NULL) {
        fprintf(stderr, "malloc() failed\n");
        exit(2);
    }

    ngx_otel_span_record_write(rec, &enc, size);
    rec->otlp_len = (uint32_t) ngx_otel_otlp_record_len(&enc);

    if (rec->otlp_len == 0) {
        free(rec);
        return;
    }

    unit_direct.spans++;

    room = ngx_otel_otlp_record_size(rec);

    memset(unit_buf, UNIT_SENTINEL, room + UNIT_GUARD);

    end = ngx_otel_otlp_record(unit_buf, unit_buf + room, rec);
    ref = unit_reference(ref_span, unit_ref);

    if (end == NULL || unit_guard(unit_buf + room) != NGX_OK) {
        unit_fail(&unit_direct, label, "did not fit into %zu bytes", room);

    } else if ((size_t) (end - unit_buf) != ref
               || memcmp(unit_buf, unit_ref, ref) != 0)
    {
        unit_fail(&unit_direct, label, "%zu bytes, protobuf-c %zu",
                  (size_t) (end - unit_buf), ref);

    } else if (ngx_otel_otlp_record(unit_buf, unit_buf + room - 1, rec)
               != NULL)
    {
        unit_fail(&unit_direct, label, "wrote into too little room");
    }

    /*
     * The same record with its middle run shared: made and kept the first
     * time, found the second; the ids repeat every few spans, so a slot
     * often holds another span's part under the same id
     */

    /* as ngx_otel_span_record_encoded() marks one: within 16 bits */

    if (shared_end != NULL && shared_end > shared
        && shared_end - buf <= 0xffff)
    {
        rec->shared_id = shared_id++ % 3;
        rec->shared_off = (uint16_t) (shared - buf);
        rec->shared_len = (uint16_t) (shared_end - shared);

        unit_shared.spans++;

        for (i = 0; i < 2; i++) {
            memset(unit_buf, UNIT_SENTINEL, room + UNIT_GUARD);

            end = ngx_otel_otlp_record(unit_buf, unit_buf + room, rec);

            if (end == NULL || unit_guard(unit_buf + room) != NGX_OK) {
                unit_fail(&unit_shared, label, "did not fit into %zu bytes",
                          room);
                break;
            }

            if ((size_t) (end - unit_buf) != ref
                || memcmp(unit_buf, unit_ref, ref) != 0)
            {
                unit_fail(&unit_shared, label, "%s: %zu bytes, protobuf-c %zu",
                          i ? "found again" : "first",
                          (size_t) (end - unit_buf), ref);
                break;
            }
        }
    }

    free(rec);
}


static void
unit_client_events(ngx_otel_span_t *span, ngx_otel_attr_t *attrs)
{
    u_char            *p, *last;
    ngx_str_t          buf;
    ngx_otel_attr_t    ev_attrs[4];
    ngx_otel_event_t   ev;

    unit_span_init(span, attrs);
    unit_id(span->span_id, NGX_OTEL_SPAN_ID_LEN, 0xf1);
    unit_id(span->parent_id, NGX_OTEL_SPAN_ID_LEN, 0x11);
    unit_lit(&span->name, "GET");
    span->kind = NGX_OTEL_SPAN_KIND_CLIENT;
    unit_int_attr(span, NGX_OTEL_ATTR_HTTP_REQUEST_RESEND_COUNT, NULL, 1);
    unit_str_attr(span, NGX_OTEL_ATTR_NGINX_UPSTREAM_NAME, NULL, "backend", 7);

    unit_set(&buf, NULL, 1024);
    p = buf.data;
    last = p + 1024;

    ngx_str_set(&ev.name, "nginx.upstream.attempt");
    ev.attrs = ev_attrs;

    ev.time = 1700000000123500000ULL;
    ev.nattrs = 2;
    ngx_memzero(ev_attrs, sizeof(ev_attrs));
    ev_attrs[0].id = NGX_OTEL_ATTR_NETWORK_PEER_PORT;
    ev_attrs[0].type = NGX_OTEL_ATTR_INT;
    ev_attrs[0].num = 8081;
    ev_attrs[1].id = NGX_OTEL_ATTR_ERROR_TYPE;
    ev_attrs[1].type = NGX_OTEL_ATTR_STRING;
    ngx_str_set(&ev_attrs[1].str, "connection_failure");
    p = ngx_otel_span_event_encode(p, last, &ev);

    ev.time = 1700000000123600000ULL;
    ev.nattrs = 3;
    ngx_memzero(ev_attrs, sizeof(ev_attrs));
    ev_attrs[0].id = NGX_OTEL_ATTR_NETWORK_PEER_PORT;
    ev_attrs[0].type = NGX_OTEL_ATTR_INT;
    ev_attrs[0].num = 8082;
    ev_attrs[1].id = NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE;
    ev_attrs[1].type = NGX_OTEL_ATTR_INT;
    ev_attrs[1].num = 200;
    ev_attrs[2].id = NGX_OTEL_ATTR_CUSTOM;
    ev_attrs[2].type = NGX_OTEL_ATTR_STRING;
    ngx_str_set(&ev_attrs[2].key, "app.note");
    ngx_str_set(&ev_attrs[2].str, "caf\xc3\xa9");
    p = ngx_otel_span_event_encode(p, last, &ev);

    span->events.data = buf.data;
    span->events.len = p - buf.data;
    span->nevents = 2;
}


static void
unit_cases(void)
{
    char              name[64];
    size_t            i, j, len;
    ngx_otel_span_t   span;
    ngx_otel_attr_t   attrs[NGX_OTEL_SPAN_MAX_ATTRS];
    static u_char     big[NGX_OTEL_ATTR_VALUE_MAX_LEN];
    static u_char     key[NGX_OTEL_ATTR_KEY_MAX_LEN];
    static u_char     long_name[NGX_OTEL_SPAN_NAME_MAX_LEN];
    static u_char     bad[] = { 0x00, 0x01, 0x7f, 0x80, 0xc3, 0xff };
    static char      *methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE",
                                    "OPTIONS", "PATCH", "TRACE", "get",
                                    "GETS" };
    static char      *versions[] = { "0.9", "1.0", "1.1", "2", "3", "2.0" };
    static int64_t    statuses[] = { 200, 201, 204, 206, 301, 302, 304, 400,
                                     401, 403, 404, 500, 502, 503, 504,
                                     100, 299, 599, -200 };

    /* a root server span */

    unit_span_init(&span, attrs);
    unit_lit(&span.name, "GET /api/");
    unit_str_attr(&span, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, NULL, "GET", 3);
    unit_str_attr(&span, NGX_OTEL_ATTR_URL_PATH, NULL, "/api/x", 6);
    unit_int_attr(&span, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL, 200);
    unit_int_attr(&span, NGX_OTEL_ATTR_SERVER_PORT, NULL, 8080);
    unit_span("root", &span, 1);
    unit_record("root record", &span);
    unit_free();

    /* a server span continuing a trace, in error */

    unit_span_init(&span, attrs);
    unit_id(span.parent_id, NGX_OTEL_SPAN_ID_LEN, 0xa1);
    unit_lit(&span.name, "POST /upload");
    unit_lit(&span.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    span.status = NGX_OTEL_STATUS_ERROR;
    unit_int_attr(&span, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL, 502);
    unit_str_attr(&span, NGX_OTEL_ATTR_ERROR_TYPE, NULL, "502", 3);
    unit_span("server", &span, 1);
    unit_free();

    /* its upstream client span: parent not remote */

    unit_span_init(&span, attrs);
    unit_id(span.span_id, NGX_OTEL_SPAN_ID_LEN, 0xf1);
    unit_id(span.parent_id, NGX_OTEL_SPAN_ID_LEN, 0x11);
    unit_lit(&span.name, "POST");
    span.kind = NGX_OTEL_SPAN_KIND_CLIENT;
    span.flags = 0x03;
    unit_span("client", &span, 1);
    unit_record("client record", &span);

    /* a client span with two attempts: one failed, one answered */

    unit_client_events(&span, attrs);
    unit_span("events", &span, 1);
    unit_record("events record", &span);
    unit_free();

    /* every known attribute, custom ones, integer extremes, empties */

    unit_span_init(&span, attrs);
    unit_lit(&span.name, "attrs");

    for (i = 0; i < NGX_OTEL_ATTR_KNOWN; i++) {
        unit_str_attr(&span, i, NULL, "v", 1);
    }

    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.tenant", "acme", 4);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.zero", 0);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.count", -42);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.min", INT64_MIN);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.max", INT64_MAX);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.127", 127);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.128", 128);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "app.empty", "", 0);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, NULL, "nokey", 5);
    unit_int_attr(&span, NGX_OTEL_ATTR_CUSTOM, NULL, 7);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "we\"ird\\key\n", "x", 1);
    unit_span("attrs", &span, 1);
    unit_record("attrs record", &span);

    /*
     * every value that a record holds as one byte (ngx_otel_otlp_consts[]),
     * and neighbours of them that it does not
     */

    unit_span_init(&span, attrs);
    unit_lit(&span.name, "constants");

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        unit_str_attr(&span, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, NULL,
                      methods[i], strlen(methods[i]));
    }

    for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        unit_str_attr(&span, NGX_OTEL_ATTR_NETWORK_PROTOCOL_VERSION, NULL,
                      versions[i], strlen(versions[i]));
        unit_str_attr(&span, NGX_OTEL_ATTR_URL_SCHEME, NULL,
                      versions[i], strlen(versions[i]));
    }

    unit_str_attr(&span, NGX_OTEL_ATTR_URL_SCHEME, NULL, "http", 4);
    unit_str_attr(&span, NGX_OTEL_ATTR_URL_SCHEME, NULL, "https", 5);
    unit_str_attr(&span, NGX_OTEL_ATTR_HTTP_REQUEST_METHOD, NULL, "", 0);
    unit_str_attr(&span, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
                  "200", 3);
    unit_int_attr(&span, NGX_OTEL_ATTR_HTTP_REQUEST_BODY_SIZE, NULL, 200);

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        unit_int_attr(&span, NGX_OTEL_ATTR_HTTP_RESPONSE_STATUS_CODE, NULL,
                      statuses[i]);
    }

    unit_span("constants", &span, 0);
    unit_record("constants record", &span);

    unit_const_names();
    unit_free();

    /* UTF-8: valid kept, invalid bytes and NUL replaced */

    unit_span_init(&span, attrs);
    unit_set(&span.name, "a\xff" "b\x00" "c", 5);
    unit_set(&span.tracestate, "k=\xc3\xa9\xc0", 5);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "utf8",
                  "\xc2\x80" "\xc3\xa9" "\xe2\x82\xac" "\xed\x9f\xbf"
                  "\xee\x80\x80" "\xef\xbf\xbf" "\xf0\x9f\x98\x80"
                  "\xf4\x8f\xbf\xbf", 24);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "overlong2", "\xc0\xaf", 2);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "overlong3", "\xe0\x80\xaf", 3);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "overlong4",
                  "\xf0\x8f\xbf\xbf", 4);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "surrogate", "\xed\xa0\x80", 3);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "toobig", "\xf4\x90\x80\x80",
                  4);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "badlead", "\xf5\xff\xfe", 3);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "lonecont", "a\x80" "b", 3);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "truncmid", "a\xe2\x82" "b", 4);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "truncend", "a\xf0\x9f\x98", 4);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "nul", "\x00", 1);
    unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "k\xff\xc3\xa9", "v", 1);
    unit_str_attr(&span, NGX_OTEL_ATTR_URL_PATH, NULL, "/caf\xc3\xa9", 6);
    unit_span("utf8", &span, 1);
    unit_record("utf8 record", &span);
    unit_free();

    /* valid UTF-8 only: not ASCII, but left as it is */

    unit_span_init(&span, attrs);
    unit_lit(&span.name, "GET /caf\xc3\xa9");
    unit_str_attr(&span, NGX_OTEL_ATTR_URL_PATH, NULL, "/\xe2\x82\xac", 4);
    unit_span("valid utf8", &span, 0);
    unit_free();

    /* nothing but the ids: every default left out */

    unit_span_init(&span, attrs);
    span.kind = 0;
    span.flags = 0;
    span.start = 0;
    span.end = 0;
    unit_span("empty", &span, 1);

    /* all zero ids are still written: bytes of length 16 and 8 */

    ngx_memzero(span.trace_id, NGX_OTEL_TRACE_ID_LEN);
    ngx_memzero(span.span_id, NGX_OTEL_SPAN_ID_LEN);
    unit_span("zero ids", &span, 0);

    /* every kind and status code, enums out of range */

    for (i = 0; i < 8; i++) {
        unit_span_init(&span, attrs);
        unit_id(span.parent_id, NGX_OTEL_SPAN_ID_LEN, 0x21);
        span.kind = i < 6 ? i : 255;
        span.status = i % 3;
        span.flags = i;

        if (i == 7) {
            span.status = 255;
        }

        snprintf(name, sizeof(name), "kind %zu", i);
        unit_span(name, &span, i < 6);
    }

    /* 64 attributes of the longest values: a 3-byte span length */

    unit_span_init(&span, attrs);
    ngx_memset(big, 'x', sizeof(big));
    ngx_memset(key, 'k', sizeof(key));
    ngx_memset(long_name, 'n', sizeof(long_name));
    unit_set(&span.name, long_name, sizeof(long_name));

    for (i = 0; i < NGX_OTEL_SPAN_MAX_ATTRS; i++) {
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, NULL, big, sizeof(big));
        unit_set(&span.attrs[i].key, key, sizeof(key));
    }

    unit_span("big", &span, 1);
    unit_record("big record", &span);
    unit_free();

    /* the same, every byte invalid: three times as long once filtered */

    unit_span_init(&span, attrs);
    ngx_memset(big, 0xff, sizeof(big));
    ngx_memset(key, 0x80, sizeof(key));
    ngx_memset(long_name, 0x00, sizeof(long_name));
    unit_set(&span.name, long_name, sizeof(long_name));
    unit_set(&span.tracestate, big, NGX_OTEL_TRACESTATE_MAX_LEN);

    for (i = 0; i < NGX_OTEL_SPAN_MAX_ATTRS; i++) {
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, NULL, big, sizeof(big));
        unit_set(&span.attrs[i].key, key, sizeof(key));
    }

    span.status = NGX_OTEL_STATUS_ERROR;
    unit_span("worst", &span, 0);
    unit_record("worst record", &span);
    unit_free();

    /* value, key and name lengths across the varint boundaries */

    ngx_memset(big, 'v', sizeof(big));
    ngx_memset(big + 3000, 0xe9, 1);

    for (i = 0; i < 400; i++) {
        unit_span_init(&span, attrs);
        span.start = 0;
        span.end = 0;
        unit_str_attr(&span, NGX_OTEL_ATTR_URL_PATH, NULL, big, i);
        unit_span("value length", &span, 0);

        unit_span_init(&span, attrs);
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, NULL, "v", 1);
        unit_set(&span.attrs[0].key, big, i);
        unit_span("key length", &span, 0);

        unit_span_init(&span, attrs);
        unit_set(&span.name, big, i);
        unit_span("name length", &span, 0);
        unit_free();
    }

    /* every one of our keys with values about as long as the short way takes */

    for (i = 0; i < NGX_OTEL_ATTR_KNOWN; i++) {
        for (len = 80; len < 130; len++) {
            for (j = 0; j < 2; j++) {
                ngx_memset(big, 'v', len);

                if (j) {
                    /* not ASCII: the short way is left half way through */
                    big[len - 1] = 0xff;
                }

                unit_span_init(&span, attrs);
                unit_str_attr(&span, i, NULL, big, len);
                unit_int_attr(&span, i, NULL, (int64_t) ((uint64_t) len << 56));
                unit_span("our key, value length", &span, 0);
                unit_free();
            }
        }
    }

    /* one byte that needs care at each place of a short string */

    for (len = 1; len <= 24; len++) {
        for (i = 0; i < len; i++) {
            for (j = 0; j < sizeof(bad); j++) {
                ngx_memset(big, 'a', len);
                big[i] = bad[j];

                unit_span_init(&span, attrs);
                unit_set(&span.name, big, len);
                unit_str_attr(&span, NGX_OTEL_ATTR_URL_PATH, NULL, big, len);
                unit_span("one byte", &span, 0);
                unit_free();
            }
        }
    }

    /* the span's own length across 16383 / 16384 */

    for (i = 3800; i <= sizeof(big); i++) {
        unit_span_init(&span, attrs);
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "a", big, sizeof(big));
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "b", big, sizeof(big));
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "c", big, sizeof(big));
        unit_str_attr(&span, NGX_OTEL_ATTR_CUSTOM, "d", big, i);
        unit_span("span length", &span, 0);
        unit_free();
    }
}


/* the UTF-8 filter on its own, against the reference */

static void
unit_utf8_filter(void)
{
    size_t         len, n, want, i;
    u_char        *s, *p;
    ngx_uint_t     failed;
    static u_char  out[3 * 256 + UNIT_GUARD], ref[3 * 256];

    failed = 0;

    for (i = 0; i < 100000; i++) {
        len = unit_random() % 257;

        s = malloc(len ? len : 1);
        if (s == NULL) {
            exit(2);
        }

        unit_random_bytes(s, len, 0);

        want = unit_utf8(ref, s, len);
        n = ngx_otel_otlp_utf8_size(s, len);

        memset(out, UNIT_SENTINEL, sizeof(out));
        p = ngx_otel_otlp_utf8_copy(out, s, len);

        if (n != want || (size_t) (p - out) != want
            || memcmp(out, ref, want) != 0 || out[want] != UNIT_SENTINEL)
        {
            if (failed++ < 5) {
                diag("utf8: %zu bytes filtered to %zu, size %zu, "
                     "reference %zu", len, (size_t) (p - out), n, want);
            }
        }

        free(s);
    }

    ok(failed == 0, "UTF-8 filter agrees with the reference decoder "
       "(100000 strings, %lu failed)", (unsigned long) failed);
}


int
main(void)
{
    char              label[64];
    ngx_uint_t        i;
    ngx_otel_span_t   span;
    ngx_otel_attr_t   attrs[NGX_OTEL_SPAN_MAX_ATTRS];

    unit_buf = malloc(UNIT_BUF_SIZE);
    unit_ref = malloc(UNIT_BUF_SIZE);

    if (unit_buf == NULL || unit_ref == NULL) {
        fprintf(stderr, "malloc() failed\n");
        return 2;
    }

    unit_cases();

    /* random spans, a few of them printed for protoc */

    for (i = 0; i < 20000; i++) {
        unit_random_span(&span, attrs,
                         (i % 10) ? 300 : NGX_OTEL_ATTR_VALUE_MAX_LEN,
                         (i % 50) ? 16 : NGX_OTEL_SPAN_MAX_ATTRS);

        snprintf(label, sizeof(label), "random %lu", (unsigned long) i);

        unit_span(label, &span, i < 16);

        if (i % 4 == 0) {
            snprintf(label, sizeof(label), "random %lu record",
                     (unsigned long) i);
            unit_record(label, &span);
        }

        unit_free();
    }

    unit_report(&unit_size);
    unit_report(&unit_same);
    unit_report(&unit_unpack);
    unit_report(&unit_repack);
    unit_report(&unit_fields);
    unit_report(&unit_direct);
    unit_report(&unit_shared);

    diag("Span messages of %zu to %zu bytes; lengths as 1/2/3/4+-byte "
         "varints: %lu/%lu/%lu/%lu", unit_min_len, unit_max_len,
         (unsigned long) unit_varint_lens[0],
         (unsigned long) unit_varint_lens[1],
         (unsigned long) unit_varint_lens[2],
         (unsigned long) unit_varint_lens[3]);

    diag("size bound at most %.1f times the span; %lu tries with too "
         "little room", unit_bound, (unsigned long) unit_short);

    ok(unit_varint_lens[0] && unit_varint_lens[1] && unit_varint_lens[2],
       "span lengths of 1, 2 and 3 varint bytes were tried");

    unit_utf8_filter();

    printf("1..%d\n", unit_tests);

    free(unit_buf);
    free(unit_ref);

    return unit_failed ? 1 : 0;
}
