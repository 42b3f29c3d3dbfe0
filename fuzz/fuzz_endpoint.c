
/*
 * Copyright (C) ngx_otel_module authors
 */


/*
 * The "endpoint" of otel_exporter (the first byte picks grpc or http):
 * the parser never reads past the value, an accepted URL has a host, a
 * port in range and no byte curl would refuse, and the URL it assembles
 * parses back into the same host, port, path and scheme.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
ngx_otel_fuzz_check_url(ngx_otel_endpoint_t *ep, ngx_uint_t grpc)
{
    u_char               *url, *p;
    size_t                len;
    ngx_str_t             value;
    const char           *err;
    ngx_otel_endpoint_t   again;

    if (ep->host.len == 0 || ep->port < 1 || ep->port > 65535
        || ep->path.len == 0 || ep->path.data[0] == '?')
    {
        abort();
    }

    if (grpc && ep->path.data[1] != 'o') {
        abort();
    }

    for (p = ep->host.data; p < ep->host.data + ep->host.len; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '/' || *p == '?'
            || (*p == ':' && ep->host.data[0] != '['))
        {
            abort();
        }
    }

    len = ngx_otel_endpoint_url_len(ep);

    url = malloc(len);
    if (url == NULL) {
        return;
    }

    if (ngx_otel_endpoint_url(url, ep) != url + len) {
        abort();
    }

    for (p = url; p < url + len; p++) {
        if (*p < ' ' || *p == 0x7f) {
            abort();
        }
    }

    /* the URL again, as an http endpoint: a grpc path is a path there */

    value.data = url;
    value.len = len;

    if (ngx_otel_endpoint_parse(&value, 0, &again, &err) != NGX_OK
        || again.file.len != 0
        || again.tls != ep->tls
        || again.port != ep->port
        || again.host.len != ep->host.len
        || memcmp(again.host.data, ep->host.data, ep->host.len) != 0
        || again.path.len != ep->path.len
        || memcmp(again.path.data, ep->path.data, ep->path.len) != 0)
    {
        abort();
    }

    free(url);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *copy;
    ngx_str_t             value;
    ngx_uint_t            grpc;
    const char           *err;
    ngx_otel_endpoint_t   ep;

    if (size == 0) {
        return 0;
    }

    grpc = data[0] & 1;
    data++;
    size--;

    /* an exact-size heap copy: AddressSanitizer sees any overread */

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    value.data = copy;
    value.len = size;

    if (ngx_otel_endpoint_parse(&value, grpc, &ep, &err) == NGX_OK) {

        if (ep.file.len) {
            if (size < 6 || memcmp(copy, "file:", 5) != 0
                || ep.file.data != copy + 5 || ep.file.len != size - 5)
            {
                abort();
            }

        } else {
            ngx_otel_fuzz_check_url(&ep, grpc);
        }

    } else if (err != NULL && strlen(err) == 0) {
        abort();
    }

    free(copy);

    return 0;
}
