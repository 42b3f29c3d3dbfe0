
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The ratio of "otel_sampler traceidratio" and "parentbased_traceidratio":
 * what is accepted is digits with one dot at most, its value is within
 * [0, 1] and agrees with the text, and its sampling bound is at most
 * 2^63.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"
#include "ngx_otel_trace.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy, *p, *last;
    double       ratio;
    uint64_t     bound;
    ngx_str_t    value;
    ngx_uint_t   dots, digits, above;

    /* the value ends in '\0', as configuration words do */

    copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);
    copy[size] = '\0';

    value.data = copy;
    value.len = size;

    /* what the text says, independently: its form, and whether it is > 1 */

    dots = 0;
    digits = 0;
    last = copy + size;

    for (p = copy; p < last; p++) {
        if (*p == '.') {
            dots++;

        } else if (*p >= '0' && *p <= '9') {
            digits++;

        } else {
            dots = 2;
        }
    }

    /*
     * without its leading zeros, the integer part must be empty, or "1"
     * with a fraction of zeros
     */

    above = 0;

    for (p = copy; p < last && *p == '0'; p++) {
        /* void */
    }

    if (p < last && *p != '.') {
        if (*p != '1' || (p + 1 < last && p[1] != '.')) {
            above = 1;
        }

        for (p++; p < last; p++) {
            if (*p != '0' && *p != '.') {
                above = 1;
            }
        }
    }

    if (ngx_otel_ratio_parse(&value, &ratio) == NGX_OK) {

        if (dots > 1 || digits == 0 || above
            || !(ratio >= 0.0 && ratio <= 1.0))
        {
            abort();
        }

        bound = ngx_otel_ratio_bound(ratio);

        if (bound > ((uint64_t) 1 << 63)
            || (ratio == 1.0 && bound != ((uint64_t) 1 << 63))
            || (ratio == 0.0 && bound != 0))
        {
            abort();
        }

    } else if (dots <= 1 && digits > 0 && !above) {
        abort();
    }

    free(copy);

    return 0;
}
