
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The name and value of "header" in otel_exporter (and of each member of
 * OTEL_EXPORTER_OTLP_HEADERS): the input is split at its first '\n'
 * into the two.  A pair both checks accept makes a header line that
 * splits back into that very name and value, and into one line only.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *copy, *nl, *line, *p, *colon;
    size_t      len;
    ngx_str_t   name, value;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    nl = ngx_strlchr(copy, copy + size, '\n');

    name.data = copy;
    name.len = nl ? (size_t) (nl - copy) : size;
    value.data = nl ? nl + 1 : copy + size;
    value.len = copy + size - value.data;

    if (ngx_otel_header_name_valid(&name) == NGX_OK
        && ngx_otel_header_value_valid(&value) == NGX_OK)
    {
        /* "name: value\r\n", as curl sends it */

        len = name.len + 2 + value.len + 2;

        line = malloc(len);
        if (line == NULL) {
            free(copy);
            return 0;
        }

        p = ngx_cpymem(line, name.data, name.len);
        *p++ = ':';
        *p++ = ' ';
        p = ngx_cpymem(p, value.data, value.len);
        *p++ = CR;
        *p++ = LF;

        colon = ngx_strlchr(line, line + len, ':');

        if (name.len == 0
            || colon != line + name.len
            || memcmp(line, name.data, name.len) != 0
            || ngx_strlchr(line, line + len - 2, CR) != NULL
            || ngx_strlchr(line, line + len - 2, LF) != NULL
            || memchr(line, '\0', len) != NULL)
        {
            abort();
        }

        for (p = line; p < colon; p++) {
            if (*p <= ' ' || *p >= 0x7f) {
                abort();
            }
        }

        free(line);
    }

    free(copy);

    return 0;
}
