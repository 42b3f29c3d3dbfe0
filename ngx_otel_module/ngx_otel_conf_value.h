
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_CONF_VALUE_H_INCLUDED_
#define _NGX_OTEL_CONF_VALUE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The parsers of directive and environment values.  They take the value
 * and an output struct, never an ngx_conf_t, a pool or a log, and call no
 * nginx core function: the fuzz targets of fuzz/ link this file alone.
 * They never read past the value's length unless said otherwise.
 */


/* ngx_otel_enum_list() results besides NGX_OK */
#define NGX_OTEL_LIST_INVALID      1
#define NGX_OTEL_LIST_DUPLICATE    2
#define NGX_OTEL_LIST_TOO_MANY     3


typedef struct {
    /* "file:" endpoints: the file name, and nothing else is set */
    ngx_str_t           file;

    /* an IPv6 address keeps its brackets */
    ngx_str_t           host;
    ngx_uint_t          port;

    /* what the exporter posts to: the URL's, or the protocol's default */
    ngx_str_t           path;

    unsigned            tls:1;
} ngx_otel_endpoint_t;


/*
 * "host:port", "http://host:port[/path]", "https://..." or "file:path";
 * without a port, 80 or 443.  On NGX_ERROR, *err is the reason to append
 * to the message, or NULL when there is none to give.
 */
ngx_int_t ngx_otel_endpoint_parse(ngx_str_t *value, ngx_uint_t grpc,
    ngx_otel_endpoint_t *ep, const char **err);

/* the URL of a parsed endpoint that is not a file: its length and text */
size_t ngx_otel_endpoint_url_len(ngx_otel_endpoint_t *ep);
u_char *ngx_otel_endpoint_url(u_char *p, ngx_otel_endpoint_t *ep);

/*
 * A sampler ratio: digits with at most one dot, from 0 to 1.  The value
 * must end in a '\0', as configuration words do: strtod() reads on.
 */
ngx_int_t ngx_otel_ratio_parse(ngx_str_t *value, double *ratio);

/* the value of the name in e that equals value, NGX_DECLINED if none */
ngx_int_t ngx_otel_enum_find(ngx_str_t *value, ngx_conf_enum_t *e,
    ngx_uint_t *out);

/*
 * n names of e, none twice, at most max of them, into out[]; on an error,
 * *bad is the index of the value at fault
 */
ngx_int_t ngx_otel_enum_list(ngx_str_t *values, ngx_uint_t n,
    ngx_conf_enum_t *e, ngx_uint_t max, ngx_uint_t *out, ngx_uint_t *bad);

/* an HTTP header field name (a token) and a value that cannot split it */
ngx_int_t ngx_otel_header_name_valid(ngx_str_t *name);
ngx_int_t ngx_otel_header_value_valid(ngx_str_t *value);

/* the name in "$name" or "${name}", NGX_DECLINED for anything else */
ngx_int_t ngx_otel_variable_name(ngx_str_t *value, ngx_str_t *name);

/* a piece of a value: text as it is, or the name of a variable */
typedef struct {
    ngx_str_t                   text;
    ngx_uint_t                  variable;
} ngx_otel_value_part_t;

/*
 * A value as text and "$name" or "${name}" variables, up to max parts:
 * their number, or NGX_DECLINED for anything nginx's script engine would
 * do more with (a regex capture such as "$1", a "$" without a name) or
 * more parts
 */
ngx_int_t ngx_otel_value_split(ngx_str_t *value, ngx_otel_value_part_t *parts,
    ngx_uint_t max);

/*
 * The next member of a "key1=value1,key2=value2" list at *pos: NGX_OK
 * with the key and the still encoded value, both trimmed of blanks;
 * NGX_DONE at the end of the list; NGX_ERROR for a member without '=' or
 * with an empty key.
 */
ngx_int_t ngx_otel_keyval_next(u_char **pos, u_char *last, ngx_str_t *key,
    ngx_str_t *value);

/*
 * Percent-decodes src into dst (src->len bytes at most); NGX_ERROR for a
 * '%' without two hex digits after it.
 */
ngx_int_t ngx_otel_percent_decode(ngx_str_t *src, u_char *dst,
    ngx_str_t *out);


#endif /* _NGX_OTEL_CONF_VALUE_H_INCLUDED_ */
