
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The X-B3-* headers: the input is split at newlines into X-B3-TraceId,
 * X-B3-SpanId, X-B3-Sampled and X-B3-Flags; fewer lines mean absent
 * headers.  Each value is its own exact-size allocation.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               len;
    ngx_str_t            v[4], *p[4];
    ngx_uint_t           i, n;
    const uint8_t       *start, *end, *nl;
    ngx_otel_context_t   ctx;

    start = data;
    end = data + size;
    n = 0;

    while (n < 4 && start <= end) {
        nl = memchr(start, '\n', end - start);
        len = (nl ? nl : end) - start;

        v[n].data = malloc(len ? len : 1);
        if (v[n].data == NULL) {
            break;
        }

        memcpy(v[n].data, start, len);
        v[n].len = len;
        n++;

        if (nl == NULL) {
            break;
        }

        start = nl + 1;
    }

    for (i = 0; i < 4; i++) {
        p[i] = (i < n) ? &v[i] : NULL;
    }

    if (n >= 2
        && ngx_otel_b3multi_parse(p[0], p[1], p[2], p[3], &ctx) == NGX_OK)
    {
        if (ngx_otel_id_is_zero(ctx.trace_id, NGX_OTEL_TRACE_ID_LEN)
            || ngx_otel_id_is_zero(ctx.span_id, NGX_OTEL_SPAN_ID_LEN)
            || (ctx.debug && !(ctx.flags & NGX_OTEL_FLAG_SAMPLED)))
        {
            abort();
        }
    }

    for (i = 0; i < n; i++) {
        free(v[i].data);
    }

    return 0;
}
