
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The "$name" / "${name}" check of otel_span_attr values, which lets a
 * lone variable skip the script engine: an accepted name lies within the
 * value, is not empty, does not start with a digit (a regex capture) and
 * has only the characters of a variable name, and the value is exactly
 * "$" name or "${" name "}".
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *copy, *p, ch;
    ngx_str_t   value, name;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    value.data = copy;
    value.len = size;

    if (ngx_otel_variable_name(&value, &name) == NGX_OK) {

        if (name.len == 0 || (name.data[0] >= '0' && name.data[0] <= '9')) {
            abort();
        }

        for (p = name.data; p < name.data + name.len; p++) {
            ch = *p;

            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
                  || (ch >= '0' && ch <= '9') || ch == '_'))
            {
                abort();
            }
        }

        if (!(name.data == copy + 1 && name.len == size - 1)
            && !(name.data == copy + 2 && name.len == size - 3
                 && copy[1] == '{' && copy[size - 1] == '}'))
        {
            abort();
        }

        if (copy[0] != '$') {
            abort();
        }
    }

    free(copy);

    return 0;
}
