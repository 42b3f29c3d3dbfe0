
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The arguments of "otel_propagators" (the input split at blanks into
 * words): an accepted list holds only known formats, each once, no more
 * than there are; a rejected one names the word at fault, and the words
 * before it are a valid list.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


#define NGX_OTEL_FUZZ_WORDS  16


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* the table of ngx_http_otel_module.c */

static ngx_conf_enum_t  ngx_otel_fuzz_values[] = {
    { ngx_string("tracecontext"), 1 },
    { ngx_string("b3"), 2 },
    { ngx_string("b3multi"), 3 },
    { ngx_null_string, 0 }
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy, *p, *last;
    ngx_int_t    rc;
    ngx_str_t    words[NGX_OTEL_FUZZ_WORDS];
    ngx_uint_t   n, i, j, bad, out[3], again[3];

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    /* words as nginx's configuration parser makes them, empty ones too */

    n = 0;
    p = copy;
    last = copy + size;

    while (n < NGX_OTEL_FUZZ_WORDS) {
        words[n].data = p;

        while (p < last && *p != ' ') {
            p++;
        }

        words[n].len = p - words[n].data;
        n++;

        if (p == last) {
            break;
        }

        p++;
    }

    rc = ngx_otel_enum_list(words, n, ngx_otel_fuzz_values, 3, out, &bad);

    if (rc == NGX_OK) {
        if (n > 3) {
            abort();
        }

        for (i = 0; i < n; i++) {
            if (out[i] < 1 || out[i] > 3
                || words[i].len != ngx_otel_fuzz_values[out[i] - 1].name.len
                || memcmp(words[i].data,
                          ngx_otel_fuzz_values[out[i] - 1].name.data,
                          words[i].len) != 0)
            {
                abort();
            }

            for (j = 0; j < i; j++) {
                if (out[j] == out[i]) {
                    abort();
                }
            }
        }

    } else {
        if (bad >= n
            || (rc != NGX_OTEL_LIST_INVALID && rc != NGX_OTEL_LIST_DUPLICATE
                && rc != NGX_OTEL_LIST_TOO_MANY))
        {
            abort();
        }

        if (bad > 0
            && ngx_otel_enum_list(words, bad, ngx_otel_fuzz_values, 3, again,
                                  &j)
               != NGX_OK)
        {
            abort();
        }
    }

    free(copy);

    return 0;
}
