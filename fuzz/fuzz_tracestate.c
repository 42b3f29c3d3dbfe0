
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * tracestate header lines (the input split at newlines): the result stays
 * within the W3C limits, and combining it again changes nothing.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"


#define FUZZ_LINES  16


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          len, out_len, again_len;
    u_char          out[NGX_OTEL_TRACESTATE_MAX_LEN];
    u_char          again[NGX_OTEL_TRACESTATE_MAX_LEN];
    ngx_str_t       lines[FUZZ_LINES], one;
    ngx_uint_t      i, n, members;
    const uint8_t  *start, *end, *nl;

    start = data;
    end = data + size;
    n = 0;

    while (n < FUZZ_LINES && start <= end) {
        nl = memchr(start, '\n', end - start);
        len = (nl ? nl : end) - start;

        lines[n].data = malloc(len ? len : 1);
        if (lines[n].data == NULL) {
            break;
        }

        memcpy(lines[n].data, start, len);
        lines[n].len = len;
        n++;

        if (nl == NULL) {
            break;
        }

        start = nl + 1;
    }

    out_len = ngx_otel_tracestate_combine(lines, n, out);

    if (out_len > NGX_OTEL_TRACESTATE_MAX_LEN) {
        abort();
    }

    if (out_len) {
        members = 1;

        for (i = 0; i < out_len; i++) {
            if (out[i] == ',') {
                members++;
            }

            /* values may hold spaces, but never at a member's ends */

            if (out[i] == '\t'
                || (out[i] == ',' && (i == 0 || i == out_len - 1))
                || (out[i] == ' '
                    && (i == 0 || i == out_len - 1
                        || out[i - 1] == ',' || out[i + 1] == ',')))
            {
                abort();
            }
        }

        if (members > NGX_OTEL_TRACESTATE_MAX_MEMBERS) {
            abort();
        }

        one.data = out;
        one.len = out_len;

        again_len = ngx_otel_tracestate_combine(&one, 1, again);

        if (again_len != out_len || memcmp(out, again, out_len) != 0) {
            abort();
        }
    }

    for (i = 0; i < n; i++) {
        free(lines[i].data);
    }

    return 0;
}
