
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS (the first byte
 * picks which), split and percent-decoded as ngx_http_otel_env_list()
 * does: members never reach past the list nor across a ',', keys are not
 * empty and hold no ',' nor '=' nor blanks at their ends, a decoded value
 * encodes and decodes back to itself, and a header the list accepts
 * cannot split the request's header block.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
ngx_otel_fuzz_check_value(ngx_str_t *raw, ngx_str_t *val)
{
    u_char     *enc, *dec, *p, ch;
    size_t      i;
    ngx_str_t   e, again;

    static u_char  hex[] = "0123456789ABCDEF";

    if (val->len > raw->len
        || (ngx_strlchr(raw->data, raw->data + raw->len, '%') == NULL
            && (val->len != raw->len
                || memcmp(val->data, raw->data, raw->len) != 0)))
    {
        abort();
    }

    /* every byte but the unreserved ones encoded, then decoded again */

    enc = malloc(val->len * 3 + 1);
    dec = malloc(val->len * 3 + 1);

    if (enc == NULL || dec == NULL) {
        free(enc);
        free(dec);
        return;
    }

    p = enc;

    for (i = 0; i < val->len; i++) {
        ch = val->data[i];

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
            || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'
            || ch == '_')
        {
            *p++ = val->data[i];
            continue;
        }

        *p++ = '%';
        *p++ = hex[val->data[i] >> 4];
        *p++ = hex[val->data[i] & 0xf];
    }

    e.data = enc;
    e.len = p - enc;

    if (ngx_otel_percent_decode(&e, dec, &again) != NGX_OK
        || again.len != val->len
        || memcmp(again.data, val->data, val->len) != 0)
    {
        abort();
    }

    free(enc);
    free(dec);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy, *p, *last, *prev, *dst;
    ngx_int_t    rc;
    ngx_str_t    key, raw, val;
    ngx_uint_t   headers, n;

    if (size == 0) {
        return 0;
    }

    headers = data[0] & 1;
    data++;
    size--;

    /* an exact-size heap copy: AddressSanitizer sees any overread */

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    p = copy;
    last = copy + size;

    for (n = 0; /* void */; n++) {
        prev = p;

        rc = ngx_otel_keyval_next(&p, last, &key, &raw);

        if (rc == NGX_DONE) {
            if (prev != last) {
                abort();
            }

            break;
        }

        /* progress, within the list: the loop ends */

        if (p <= prev || p > last || n > size) {
            abort();
        }

        if (rc != NGX_OK) {
            break;
        }

        if (key.len == 0
            || key.data < prev || key.data + key.len > p
            || raw.data < key.data + key.len || raw.data + raw.len > p
            || ngx_strlchr(key.data, key.data + key.len, ',') != NULL
            || ngx_strlchr(key.data, key.data + key.len, '=') != NULL
            || ngx_strlchr(raw.data, raw.data + raw.len, ',') != NULL
            || key.data[0] == ' ' || key.data[0] == '\t'
            || key.data[key.len - 1] == ' ' || key.data[key.len - 1] == '\t'
            || (raw.len && (raw.data[0] == ' ' || raw.data[0] == '\t'
                            || raw.data[raw.len - 1] == ' '
                            || raw.data[raw.len - 1] == '\t')))
        {
            abort();
        }

        dst = malloc(raw.len ? raw.len : 1);
        if (dst == NULL) {
            break;
        }

        if (ngx_otel_percent_decode(&raw, dst, &val) != NGX_OK) {
            free(dst);
            break;
        }

        ngx_otel_fuzz_check_value(&raw, &val);

        if (headers
            && ngx_otel_header_name_valid(&key) == NGX_OK
            && ngx_otel_header_value_valid(&val) == NGX_OK
            && (ngx_strlchr(key.data, key.data + key.len, ':') != NULL
                || ngx_strlchr(val.data, val.data + val.len, '\n') != NULL
                || ngx_strlchr(val.data, val.data + val.len, '\r') != NULL))
        {
            abort();
        }

        free(dst);
    }

    free(copy);

    return 0;
}
