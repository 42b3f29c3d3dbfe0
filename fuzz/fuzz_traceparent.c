
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * traceparent as a client sends it: the parser never reads past the
 * value, and what it accepts formats back into a header it accepts again
 * with the same identifiers.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *copy, out[NGX_OTEL_TRACEPARENT_LEN];
    ngx_otel_context_t   ctx, again;

    /* an exact-size heap copy: AddressSanitizer sees any overread */

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (ngx_otel_traceparent_parse(copy, size, &ctx) == NGX_OK) {

        if (ngx_otel_id_is_zero(ctx.trace_id, NGX_OTEL_TRACE_ID_LEN)
            || ngx_otel_id_is_zero(ctx.span_id, NGX_OTEL_SPAN_ID_LEN)
            || (ctx.flags & ~(NGX_OTEL_FLAG_SAMPLED|NGX_OTEL_FLAG_RANDOM)))
        {
            abort();
        }

        ngx_otel_traceparent_format(out, ctx.trace_id, ctx.span_id,
                                    ctx.flags);

        if (ngx_otel_traceparent_parse(out, sizeof(out), &again) != NGX_OK
            || memcmp(ctx.trace_id, again.trace_id, NGX_OTEL_TRACE_ID_LEN)
            || memcmp(ctx.span_id, again.span_id, NGX_OTEL_SPAN_ID_LEN)
            || ctx.flags != again.flags)
        {
            abort();
        }
    }

    free(copy);

    return 0;
}
