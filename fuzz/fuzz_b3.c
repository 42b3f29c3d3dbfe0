
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The single b3 header: never read past the value; what is accepted
 * formats back into a header that parses to the same context.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *copy, out[NGX_OTEL_B3_LEN];
    ngx_uint_t           sampled;
    ngx_otel_context_t   ctx, again;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (ngx_otel_b3_parse(copy, size, &ctx) == NGX_OK) {

        if (ngx_otel_id_is_zero(ctx.trace_id, NGX_OTEL_TRACE_ID_LEN)
            || ngx_otel_id_is_zero(ctx.span_id, NGX_OTEL_SPAN_ID_LEN)
            || (ctx.debug && !(ctx.flags & NGX_OTEL_FLAG_SAMPLED)))
        {
            abort();
        }

        sampled = (ctx.flags & NGX_OTEL_FLAG_SAMPLED) ? 1 : 0;

        ngx_otel_b3_format(out, ctx.trace_id, ctx.span_id, sampled,
                           ctx.debug);

        if (ngx_otel_b3_parse(out, sizeof(out), &again) != NGX_OK
            || memcmp(ctx.trace_id, again.trace_id, NGX_OTEL_TRACE_ID_LEN)
            || memcmp(ctx.span_id, again.span_id, NGX_OTEL_SPAN_ID_LEN)
            || ctx.debug != again.debug
            || (ctx.flags & NGX_OTEL_FLAG_SAMPLED)
               != (again.flags & NGX_OTEL_FLAG_SAMPLED))
        {
            abort();
        }
    }

    free(copy);

    return 0;
}
