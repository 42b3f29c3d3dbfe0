
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


#define NGX_OTEL_GRPC_PATH                                                   \
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

#define NGX_OTEL_HTTP_PATH  "/v1/traces"


static ngx_int_t ngx_otel_endpoint_inet(u_char *host, u_char *last,
    ngx_otel_endpoint_t *ep, const char **err);
static ngx_int_t ngx_otel_endpoint_inet6(u_char *host, u_char *last,
    ngx_otel_endpoint_t *ep, const char **err);
static ngx_int_t ngx_otel_port(u_char *p, u_char *last);
static ngx_uint_t ngx_otel_prefix_caseless(u_char *p, size_t len,
    char *prefix);
static ngx_int_t ngx_otel_hex(u_char ch);


/*
 * "host:port" means http://host:port, as in NGINX's module; the http
 * protocols get "/v1/traces" when the URL has no path; grpc always posts
 * to the TraceService/Export method, so a path there is an error.  Host
 * and port are split as ngx_parse_url() splits them (same reasons, same
 * forms accepted), less its "unix:" sockets, which curl cannot be given
 * as a URL.
 */

ngx_int_t
ngx_otel_endpoint_parse(ngx_str_t *value, ngx_uint_t grpc,
    ngx_otel_endpoint_t *ep, const char **err)
{
    u_char  *p, *last;
    size_t   i;

    ngx_memzero(ep, sizeof(ngx_otel_endpoint_t));

    *err = NULL;

    p = value->data;
    last = p + value->len;

    if (value->len >= 5 && ngx_strncmp(p, "file:", 5) == 0) {

        if (value->len == 5) {
            *err = "no file name";
            return NGX_ERROR;
        }

        ep->file.data = p + 5;
        ep->file.len = value->len - 5;

        return NGX_OK;
    }

    if (value->len > 7 && ngx_otel_prefix_caseless(p, 7, "http://")) {
        p += 7;

    } else if (value->len > 8 && ngx_otel_prefix_caseless(p, 8, "https://"))
    {
        p += 8;
        ep->tls = 1;

    } else if (ngx_strlchr(p, last, '/') != NULL
               || ngx_strlchr(p, last, ':') == NULL)
    {
        *err = "expected host:port, http://host:port[/path], https://... "
               "or file:path";
        return NGX_ERROR;
    }

    ep->port = ep->tls ? 443 : 80;

    if (*p == '[') {
        if (ngx_otel_endpoint_inet6(p, last, ep, err) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ngx_otel_endpoint_inet(p, last, ep, err) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ep->path.len && ep->path.data[0] == '?') {
        return NGX_ERROR;
    }

    /* no path: a NULL data, not to be offset */

    for (i = 0; i < ep->path.len; i++) {
        if (ep->path.data[i] < ' ' || ep->path.data[i] == 0x7f) {
            *err = "invalid path";
            return NGX_ERROR;
        }
    }

    if (grpc) {
        if (ep->path.len > 1) {
            *err = "a grpc endpoint cannot have a path";
            return NGX_ERROR;
        }

        ngx_str_set(&ep->path, NGX_OTEL_GRPC_PATH);

    } else if (ep->path.len == 0
               || (ep->path.len == 1 && ep->path.data[0] == '/'))
    {
        ngx_str_set(&ep->path, NGX_OTEL_HTTP_PATH);
    }

    return NGX_OK;
}


/* "host[:port][/path]" or "host[:port]?args": a path ends the host */

static ngx_int_t
ngx_otel_endpoint_inet(u_char *host, u_char *last, ngx_otel_endpoint_t *ep,
    const char **err)
{
    u_char     *p, *port, *uri, *args;
    ngx_int_t   n;

    port = ngx_strlchr(host, last, ':');
    uri = ngx_strlchr(host, last, '/');
    args = ngx_strlchr(host, last, '?');

    if (args != NULL && (uri == NULL || args < uri)) {
        uri = args;
    }

    if (uri != NULL) {
        ep->path.data = uri;
        ep->path.len = last - uri;

        last = uri;

        if (uri < port) {
            port = NULL;
        }
    }

    if (port != NULL) {
        n = ngx_otel_port(port + 1, last);

        if (n == NGX_ERROR) {
            *err = "invalid port";
            return NGX_ERROR;
        }

        ep->port = n;
        last = port;
    }

    if (last == host) {
        *err = "no host";
        return NGX_ERROR;
    }

    /* ngx_parse_url() takes any, curl would fail on each export */

    for (p = host; p < last; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            *err = "invalid host";
            return NGX_ERROR;
        }
    }

    ep->host.data = host;
    ep->host.len = last - host;

    return NGX_OK;
}


/* "[address][:port][/path]" */

static ngx_int_t
ngx_otel_endpoint_inet6(u_char *host, u_char *last, ngx_otel_endpoint_t *ep,
    const char **err)
{
    u_char           *p, *end, *port, *uri, text[NGX_INET6_ADDRSTRLEN + 1];
    size_t            len;
    ngx_int_t         n;
    struct in6_addr   addr;

    end = ngx_strlchr(host + 1, last, ']');

    if (end == NULL) {
        *err = "invalid host";
        return NGX_ERROR;
    }

    port = end + 1;
    uri = ngx_strlchr(port, last, '/');

    if (uri != NULL) {
        ep->path.data = uri;
        ep->path.len = last - uri;

        last = uri;
    }

    if (port < last) {
        if (*port != ':') {
            *err = "invalid host";
            return NGX_ERROR;
        }

        n = ngx_otel_port(port + 1, last);

        if (n == NGX_ERROR) {
            *err = "invalid port";
            return NGX_ERROR;
        }

        ep->port = n;
    }

    len = end - (host + 1);

    if (len == 0) {
        *err = "no host";
        return NGX_ERROR;
    }

    /*
     * inet_pton() wants a C string, and no valid address is longer; the
     * characters are checked first, or a '\0' would end it early
     */

    if (len > NGX_INET6_ADDRSTRLEN) {
        *err = "invalid IPv6 address";
        return NGX_ERROR;
    }

    for (p = host + 1; p < end; p++) {
        if (*p != ':' && *p != '.' && ngx_otel_hex(*p) == NGX_ERROR) {
            *err = "invalid IPv6 address";
            return NGX_ERROR;
        }
    }

    ngx_memcpy(text, host + 1, len);
    text[len] = '\0';

    if (inet_pton(AF_INET6, (char *) text, &addr) != 1) {
        *err = "invalid IPv6 address";
        return NGX_ERROR;
    }

    /* with its brackets: the URL needs them */

    ep->host.data = host;
    ep->host.len = len + 2;

    return NGX_OK;
}


/* 1 to 65535 in decimal digits, NGX_ERROR for anything else */

static ngx_int_t
ngx_otel_port(u_char *p, u_char *last)
{
    ngx_int_t  n;

    if (p == last) {
        return NGX_ERROR;
    }

    for (n = 0; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        n = n * 10 + (*p - '0');

        if (n > 65535) {
            return NGX_ERROR;
        }
    }

    return (n == 0) ? NGX_ERROR : n;
}


size_t
ngx_otel_endpoint_url_len(ngx_otel_endpoint_t *ep)
{
    size_t      len;
    ngx_uint_t  n;

    len = (ep->tls ? sizeof("https://") : sizeof("http://")) - 1
          + ep->host.len + sizeof(":") - 1 + ep->path.len;

    n = ep->port;

    do {
        len++;
        n /= 10;
    } while (n);

    return len;
}


u_char *
ngx_otel_endpoint_url(u_char *p, ngx_otel_endpoint_t *ep)
{
    u_char      digits[NGX_INT_T_LEN];
    size_t      n;
    ngx_uint_t  port;

    if (ep->tls) {
        p = ngx_cpymem(p, "https://", sizeof("https://") - 1);

    } else {
        p = ngx_cpymem(p, "http://", sizeof("http://") - 1);
    }

    p = ngx_cpymem(p, ep->host.data, ep->host.len);
    *p++ = ':';

    n = sizeof(digits);
    port = ep->port;

    do {
        digits[--n] = (u_char) ('0' + port % 10);
        port /= 10;
    } while (port);

    p = ngx_cpymem(p, digits + n, sizeof(digits) - n);

    return ngx_cpymem(p, ep->path.data, ep->path.len);
}


static ngx_uint_t
ngx_otel_prefix_caseless(u_char *p, size_t len, char *prefix)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (ngx_tolower(p[i]) != (u_char) prefix[i]) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_otel_ratio_parse(ngx_str_t *value, double *ratio)
{
    double       r;
    u_char      *p, *last, *dot;
    ngx_uint_t   one;

    /* strtod() alone would take "nan", "inf", "1e-1", hex and blanks */

    dot = NULL;
    one = 0;
    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p == '.') {
            if (dot != NULL) {
                return NGX_ERROR;
            }

            dot = p;
            continue;
        }

        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        /*
         * the range is decided on the digits, not on the double:
         * 1.00000000000000001 rounds to 1, and yet it is above
         */

        if (dot == NULL) {
            if (one || (*p != '0' && *p != '1')) {
                return NGX_ERROR;
            }

            one = (*p == '1');

        } else if (one && *p != '0') {
            return NGX_ERROR;
        }
    }

    if (value->len == 0 || (dot != NULL && value->len == 1)) {
        return NGX_ERROR;
    }

    r = strtod((char *) value->data, NULL);

    if (r < 0.0 || r > 1.0) {
        return NGX_ERROR;
    }

    *ratio = r;

    return NGX_OK;
}


ngx_int_t
ngx_otel_enum_find(ngx_str_t *value, ngx_conf_enum_t *e, ngx_uint_t *out)
{
    for ( /* void */ ; e->name.len; e++) {
        if (e->name.len == value->len
            && ngx_memcmp(e->name.data, value->data, value->len) == 0)
        {
            *out = e->value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_otel_enum_list(ngx_str_t *values, ngx_uint_t n, ngx_conf_enum_t *e,
    ngx_uint_t max, ngx_uint_t *out, ngx_uint_t *bad)
{
    ngx_uint_t  i, j, v;

    for (i = 0; i < n; i++) {
        *bad = i;

        if (ngx_otel_enum_find(&values[i], e, &v) != NGX_OK) {
            return NGX_OTEL_LIST_INVALID;
        }

        for (j = 0; j < i; j++) {
            if (out[j] == v) {
                return NGX_OTEL_LIST_DUPLICATE;
            }
        }

        /* unreachable while max is the number of names, kept as a guard */

        if (i >= max) {
            return NGX_OTEL_LIST_TOO_MANY;
        }

        out[i] = v;
    }

    return NGX_OK;
}


/* what the "header" directive always took: no controls, blanks or ':' */

ngx_int_t
ngx_otel_header_name_valid(ngx_str_t *name)
{
    u_char  *p, *last;

    if (name->len == 0) {
        return NGX_ERROR;
    }

    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == ':') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_otel_header_value_valid(ngx_str_t *value)
{
    u_char  *p, *last;

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p == CR || *p == LF || *p == '\0') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_otel_variable_name(ngx_str_t *value, ngx_str_t *name)
{
    u_char  *p, *last, ch;

    p = value->data;
    last = p + value->len;

    if (value->len < 2 || *p++ != '$') {
        return NGX_DECLINED;
    }

    if (*p == '{') {
        if (last[-1] != '}') {
            return NGX_DECLINED;
        }

        p++;
        last--;
    }

    /* "$1": a regex capture, not a variable */

    if (p == last || (*p >= '0' && *p <= '9')) {
        return NGX_DECLINED;
    }

    for (name->data = p; p < last; p++) {
        ch = *p;

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
            || (ch >= '0' && ch <= '9') || ch == '_')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    name->len = last - name->data;

    return NGX_OK;
}


ngx_int_t
ngx_otel_value_split(ngx_str_t *value, ngx_otel_value_part_t *parts,
    ngx_uint_t max)
{
    u_char      *p, *q, *name, *last, ch;
    ngx_uint_t   n, brace;

    n = 0;
    p = value->data;
    last = p + value->len;

    while (p < last) {

        if (n == max) {
            return NGX_DECLINED;
        }

        if (*p != '$') {
            q = ngx_strlchr(p, last, '$');

            if (q == NULL) {
                q = last;
            }

            parts[n].text.data = p;
            parts[n].text.len = q - p;
            parts[n].variable = 0;
            n++;

            p = q;
            continue;
        }

        p++;

        brace = (p < last && *p == '{');

        if (brace) {
            p++;
        }

        for (name = p; p < last; p++) {
            ch = *p;

            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
                  || (ch >= '0' && ch <= '9') || ch == '_'))
            {
                break;
            }
        }

        /* no name, or "$1", a regex capture */

        if (p == name || (*name >= '0' && *name <= '9')) {
            return NGX_DECLINED;
        }

        parts[n].text.data = name;
        parts[n].text.len = p - name;
        parts[n].variable = 1;
        n++;

        if (brace) {
            if (p == last || *p != '}') {
                return NGX_DECLINED;
            }

            p++;
        }
    }

    return n;
}


/*
 * As the OpenTelemetry SDKs split OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS: members at ',', key and value at the first
 * '=', blanks around both trimmed before the value is decoded, so that an
 * encoded blank ("%20") stays.
 */

ngx_int_t
ngx_otel_keyval_next(u_char **pos, u_char *last, ngx_str_t *key,
    ngx_str_t *value)
{
    u_char  *p, *item, *end, *eq;

    p = *pos;

    if (p >= last) {
        return NGX_DONE;
    }

    item = p;

    end = ngx_strlchr(p, last, ',');
    if (end == NULL) {
        end = last;
    }

    *pos = (end < last) ? end + 1 : last;

    eq = ngx_strlchr(item, end, '=');
    if (eq == NULL) {
        return NGX_ERROR;
    }

    for (p = item; p < eq && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    key->data = p;

    for (p = eq; p > key->data && (p[-1] == ' ' || p[-1] == '\t'); p--) {
        /* void */
    }

    key->len = p - key->data;

    if (key->len == 0) {
        return NGX_ERROR;
    }

    for (p = eq + 1; p < end && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    value->data = p;

    for (p = end; p > value->data && (p[-1] == ' ' || p[-1] == '\t'); p--) {
        /* void */
    }

    value->len = p - value->data;

    return NGX_OK;
}


/*
 * The SDKs reject a malformed escape rather than guess (Go's
 * url.PathUnescape()); unlike ngx_unescape_uri(), a '?' is data here.
 */

ngx_int_t
ngx_otel_percent_decode(ngx_str_t *src, u_char *dst, ngx_str_t *out)
{
    u_char     *s, *d, *last;
    ngx_int_t   hi, lo;

    s = src->data;
    last = s + src->len;
    d = dst;

    while (s < last) {

        if (*s != '%') {
            *d++ = *s++;
            continue;
        }

        if (last - s < 3) {
            return NGX_ERROR;
        }

        hi = ngx_otel_hex(s[1]);
        lo = ngx_otel_hex(s[2]);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        *d++ = (u_char) ((hi << 4) | lo);
        s += 3;
    }

    out->data = dst;
    out->len = d - dst;

    return NGX_OK;
}


static ngx_int_t
ngx_otel_hex(u_char ch)
{
    u_char  c;

    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    c = (u_char) (ch | 0x20);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return NGX_ERROR;
}
