
/*
 * Copyright (C) ngx_otel_module authors
 */

/*
 * Unit tests of ngx_otel_conf_value.c, printing TAP; t/unit.t builds and
 * runs it:
 *
 *     cc -I<configured nginx tree includes> -I ngx_otel_module \
 *         t/unit/conf_value_unit.c ngx_otel_module/ngx_otel_conf_value.c
 *
 * Every input is copied into a buffer of exactly its length (the ratio's
 * with the '\0' that configuration words end in), so a build with
 * -fsanitize=address catches any read past it.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_conf_value.h"


#define GRPC_PATH  "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


static int  tests;
static int  failed;


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - ", cond ? "" : "not ", tests);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static u_char *
copy(const char *s, size_t len)
{
    u_char  *p;

    p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }

    memcpy(p, s, len);

    return p;
}


/* s with its bytes outside printable ASCII as \xNN, for the TAP line */

static const char *
printable(const char *str, size_t len)
{
    char           *p;
    size_t          i;
    static char     buf[4][1024];
    static size_t   n;

    p = buf[n++ % 4];

    for (i = 0; i < len && p - buf[(n - 1) % 4] < 1000; i++) {
        if (str[i] >= ' ' && str[i] < 0x7f) {
            *p++ = str[i];

        } else {
            p += sprintf(p, "\\x%02x", (u_char) str[i]);
        }
    }

    *p = '\0';

    return buf[(n - 1) % 4];
}


/* url: the URL curl gets, "file:NAME" for a file, or the error reason */

static void
endpoint(const char *value, size_t len, int grpc, const char *expect)
{
    u_char               *v, *url, *p;
    size_t                n;
    ngx_str_t             s;
    const char           *err;
    ngx_otel_endpoint_t   ep;
    char                  got[512];

    v = copy(value, len);
    s.data = v;
    s.len = len;

    if (ngx_otel_endpoint_parse(&s, grpc, &ep, &err) != NGX_OK) {
        snprintf(got, sizeof(got), "error: %s", err ? err : "(none)");

    } else if (ep.file.len) {
        snprintf(got, sizeof(got), "file:%.*s", (int) ep.file.len,
                 ep.file.data);

    } else {
        n = ngx_otel_endpoint_url_len(&ep);
        url = malloc(n);
        p = ngx_otel_endpoint_url(url, &ep);

        snprintf(got, sizeof(got), "%.*s%s", (int) n, url,
                 (size_t) (p - url) == n ? "" : " (length differs)");
        free(url);
    }

    ok(strcmp(got, expect) == 0, "endpoint \"%s\"%s: %s (got %s)",
       printable(value, len), grpc ? " grpc" : "", expect,
       printable(got, strlen(got)));

    free(v);
}


static void
test_endpoint(void)
{
    endpoint("localhost:4317", 14, 1, "http://localhost:4317" GRPC_PATH);
    endpoint("localhost:4318", 14, 0, "http://localhost:4318/v1/traces");
    endpoint("127.0.0.1:4318", 14, 0, "http://127.0.0.1:4318/v1/traces");

    /* the brackets once came out doubled: "http://[[::1]]:4317" */
    endpoint("[::1]:4317", 10, 1, "http://[::1]:4317" GRPC_PATH);
    endpoint("https://[::1]:4317", 18, 0, "https://[::1]:4317/v1/traces");
    endpoint("http://[2001:db8::1]/x", 22, 0, "http://[2001:db8::1]:80/x");
    endpoint("http://[::ffff:127.0.0.1]:1", 27, 0,
             "http://[::ffff:127.0.0.1]:1/v1/traces");

    endpoint("HTTPS://c.example", 17, 0, "https://c.example:443/v1/traces");
    endpoint("http://c:4318/", 14, 0, "http://c:4318/v1/traces");
    endpoint("http://c:4318/", 14, 1, "http://c:4318" GRPC_PATH);
    endpoint("http://c:4318/custom/path", 25, 0,
             "http://c:4318/custom/path");
    endpoint("http://c:04318", 14, 0, "http://c:4318/v1/traces");
    endpoint("http://c:65535", 14, 0, "http://c:65535/v1/traces");

    /* no path: UBSan once saw a NULL pointer offset here */
    endpoint("http://h:1", 10, 0, "http://h:1/v1/traces");

    endpoint("file:/var/log/spans.json", 24, 0, "file:/var/log/spans.json");
    endpoint("file:", 5, 0, "error: no file name");

    endpoint("http://c:4318/x", 15, 1,
             "error: a grpc endpoint cannot have a path");
    endpoint("h:0", 3, 0, "error: invalid port");
    endpoint("h:65536", 7, 0, "error: invalid port");
    endpoint("h:", 2, 0, "error: invalid port");
    endpoint("http://h:abc", 12, 0, "error: invalid port");
    endpoint("http://unix:/tmp/s", 18, 0, "error: invalid port");
    endpoint(":4317", 5, 0, "error: no host");
    endpoint("http://[::1", 11, 0, "error: invalid host");
    endpoint("http://[::1]x:1", 15, 0, "error: invalid host");
    endpoint("http://[]:1", 11, 0, "error: no host");
    endpoint("http://[::g]:1", 14, 0, "error: invalid IPv6 address");

    /* inet_pton() once stopped at the '\0' and took "::" */
    endpoint("[::\0\0]:1", 8, 0, "error: invalid IPv6 address");

    endpoint("http://a b:1", 12, 0, "error: invalid host");
    endpoint("http://a\nb:1", 12, 0, "error: invalid host");
    endpoint("http://h:1/a\r\n", 14, 0, "error: invalid path");
    endpoint("http://h:4317?x=1", 17, 0, "error: (none)");
    endpoint("h:4317/x", 8, 0, "error: expected host:port, "
             "http://host:port[/path], https://... or file:path");
    endpoint("host", 4, 0, "error: expected host:port, "
             "http://host:port[/path], https://... or file:path");
    endpoint("http://", 7, 0, "error: expected host:port, "
             "http://host:port[/path], https://... or file:path");
    endpoint("", 0, 0, "error: expected host:port, "
             "http://host:port[/path], https://... or file:path");
}


static void
ratio(const char *value, int valid, double expect)
{
    u_char     *v;
    double      r;
    ngx_int_t   rc;
    ngx_str_t   s;

    v = copy(value, strlen(value) + 1);
    s.data = v;
    s.len = strlen(value);

    r = -1;
    rc = ngx_otel_ratio_parse(&s, &r);

    ok(valid ? (rc == NGX_OK && r == expect) : rc == NGX_ERROR,
       "ratio \"%s\" %s", value, valid ? "accepted" : "refused");

    free(v);
}


static void
test_ratio(void)
{
    ratio("0", 1, 0.0);
    ratio("1", 1, 1.0);
    ratio("0.5", 1, 0.5);
    ratio(".25", 1, 0.25);
    ratio("1.", 1, 1.0);
    ratio("1.000", 1, 1.0);
    ratio("00.5", 1, 0.5);
    ratio("0.1", 1, 0.1);

    ratio("", 0, 0);
    ratio(".", 0, 0);
    ratio("1.5", 0, 0);
    ratio("10", 0, 0);
    ratio("01.5", 0, 0);
    ratio("2", 0, 0);
    ratio("0.5.1", 0, 0);
    ratio("1e-1", 0, 0);
    ratio("0x1", 0, 0);
    ratio("nan", 0, 0);
    ratio("-0", 0, 0);
    ratio(" 0.5", 0, 0);

    /* rounds to 1.0 as a double, and yet it is above 1 */
    ratio("1.00000000000000000001", 0, 0);
}


static void
test_keyval(void)
{
    u_char     *v, *p, *last, buf[64];
    ngx_int_t   rc;
    ngx_str_t   key, raw, val;
    char        got[256], *g;

    static const char  list[] =
        "a=1, b = x%20y ,c=d=e,u=http://x/?a=b%3F,sp= a%20 ,e=,k=v,";

    v = copy(list, sizeof(list) - 1);
    p = v;
    last = v + sizeof(list) - 1;
    g = got;

    for ( ;; ) {
        rc = ngx_otel_keyval_next(&p, last, &key, &raw);
        if (rc != NGX_OK) {
            break;
        }

        if (ngx_otel_percent_decode(&raw, buf, &val) != NGX_OK) {
            break;
        }

        g += sprintf(g, "[%.*s|%.*s]", (int) key.len, key.data,
                     (int) val.len, val.data);
    }

    ok(rc == NGX_DONE
       && strcmp(got, "[a|1][b|x y][c|d=e][u|http://x/?a=b?][sp|a ][e|]"
                      "[k|v]") == 0,
       "keyval list split, trimmed and decoded (got %s)", got);

    free(v);

#define KEYVAL_ERROR(s, what)                                               \
    v = copy(s, sizeof(s) - 1);                                             \
    p = v;                                                                  \
    rc = ngx_otel_keyval_next(&p, v + sizeof(s) - 1, &key, &raw);           \
    ok(rc == NGX_ERROR, "keyval \"%s\": %s", s, what);                      \
    free(v)

    KEYVAL_ERROR(",k=v", "empty member");
    KEYVAL_ERROR("=v", "empty key");
    KEYVAL_ERROR(" \t=v", "blank key");
    KEYVAL_ERROR("k", "no '='");
    KEYVAL_ERROR("k,=v", "'=' of the next member");

#define DECODE(s, expect)                                                   \
    v = copy(s, sizeof(s) - 1);                                             \
    raw.data = v;                                                           \
    raw.len = sizeof(s) - 1;                                                \
    rc = ngx_otel_percent_decode(&raw, buf, &val);                          \
    ok(expect == NULL ? rc == NGX_ERROR                                     \
       : (rc == NGX_OK && val.len == strlen(expect ? expect : "")           \
          && memcmp(val.data, expect ? expect : "", val.len) == 0),         \
       "decode \"%s\"", printable(s, sizeof(s) - 1));                       \
    free(v)

    DECODE("%41%62%2c%2C", "Ab,,");
    DECODE("a%0D%0Ab", "a\r\nb");
    DECODE("", "");
    DECODE("50%", NULL);
    DECODE("%4", NULL);
    DECODE("%4g", NULL);
    DECODE("%g4", NULL);
    DECODE("a%%41", NULL);
}


static void
test_header(void)
{
    ngx_str_t  s;

#define HEADER(f, str, valid)                                               \
    s.data = copy(str, sizeof(str) - 1);                                    \
    s.len = sizeof(str) - 1;                                                \
    ok((f(&s) == NGX_OK) == valid, #f " \"%s\"",                           \
       printable(str, sizeof(str) - 1));                                    \
    free(s.data)

    HEADER(ngx_otel_header_name_valid, "X-Api-Key", 1);
    HEADER(ngx_otel_header_name_valid, "", 0);
    HEADER(ngx_otel_header_name_valid, "X A", 0);
    HEADER(ngx_otel_header_name_valid, "X:A", 0);
    HEADER(ngx_otel_header_name_valid, "X\x7f", 0);
    HEADER(ngx_otel_header_name_valid, "X\xc3\xa9", 0);
    HEADER(ngx_otel_header_value_valid, "Bearer t0k=n", 1);
    HEADER(ngx_otel_header_value_valid, "", 1);
    HEADER(ngx_otel_header_value_valid, "a\r\nX-Injected: 1", 0);
    HEADER(ngx_otel_header_value_valid, "a\nb", 0);
    HEADER(ngx_otel_header_value_valid, "a\0b", 0);
}


static void
test_variable_name(void)
{
    ngx_str_t  s, name;

#define VARNAME(str, expect)                                                \
    s.data = copy(str, sizeof(str) - 1);                                    \
    s.len = sizeof(str) - 1;                                                \
    ok(expect == NULL ? ngx_otel_variable_name(&s, &name) == NGX_DECLINED   \
       : (ngx_otel_variable_name(&s, &name) == NGX_OK                       \
          && name.len == strlen(expect ? expect : "")                       \
          && memcmp(name.data, expect ? expect : "", name.len) == 0),       \
       "variable name of \"%s\"", str);                                     \
    free(s.data)

    VARNAME("$host", "host");
    VARNAME("${http_x_id}", "http_x_id");
    VARNAME("$1", NULL);
    VARNAME("${1}", NULL);
    VARNAME("$", NULL);
    VARNAME("${", NULL);
    VARNAME("${}", NULL);
    VARNAME("${host", NULL);
    VARNAME("$host:1", NULL);
    VARNAME("host", NULL);
}


/*
 * The parts of a value as "T(text)" and "V(name)", one after the other;
 * "-" for NGX_DECLINED
 */

static void
value_split_check(const char *str, const char *expect)
{
    char                    out[256], *o;
    ngx_int_t               n, i;
    ngx_str_t               s;
    ngx_otel_value_part_t   parts[4];

    s.data = copy(str, strlen(str));
    s.len = strlen(str);

    n = ngx_otel_value_split(&s, parts, 4);

    o = out;

    if (n == NGX_DECLINED) {
        *o++ = '-';

    } else {
        for (i = 0; i < n; i++) {
            o += sprintf(o, "%c(%.*s)", parts[i].variable ? 'V' : 'T',
                         (int) parts[i].text.len, parts[i].text.data);
        }
    }

    *o = '\0';

    ok(strcmp(out, expect) == 0, "value split \"%s\": %s", str, out);

    free(s.data);
}


static void
test_value_split(void)
{
    value_split_check("u=$arg_user", "T(u=)V(arg_user)");
    value_split_check("${a}-x-$b", "V(a)T(-x-)V(b)");
    value_split_check("$a$b", "V(a)V(b)");
    value_split_check("$host:$server_port", "V(host)T(:)V(server_port)");
    value_split_check("${a}b", "V(a)T(b)");
    value_split_check("plain text", "T(plain text)");
    value_split_check("", "");
    value_split_check("c=$1", "-");
    value_split_check("${1}", "-");
    value_split_check("cost$", "-");
    value_split_check("$-x", "-");
    value_split_check("${a", "-");
    value_split_check("${a-b}", "-");
    value_split_check("${}", "-");
    value_split_check("a$b c$d e", "-");
    value_split_check("a$b c$d", "T(a)V(b)T( c)V(d)");
}


static void
test_enum_list(void)
{
    ngx_int_t   rc;
    ngx_str_t   w[3];
    ngx_uint_t  out[3], bad;

    static ngx_conf_enum_t  names[] = {
        { ngx_string("tracecontext"), 1 },
        { ngx_string("b3"), 2 },
        { ngx_string("b3multi"), 3 },
        { ngx_null_string, 0 }
    };

    ngx_str_set(&w[0], "b3multi");
    ngx_str_set(&w[1], "tracecontext");

    rc = ngx_otel_enum_list(w, 2, names, 3, out, &bad);
    ok(rc == NGX_OK && out[0] == 3 && out[1] == 1, "enum list");

    ngx_str_set(&w[1], "b3multi");
    rc = ngx_otel_enum_list(w, 2, names, 3, out, &bad);
    ok(rc == NGX_OTEL_LIST_DUPLICATE && bad == 1, "enum list duplicate");

    ngx_str_set(&w[0], "b3mult");
    rc = ngx_otel_enum_list(w, 2, names, 3, out, &bad);
    ok(rc == NGX_OTEL_LIST_INVALID && bad == 0, "enum list unknown prefix");

    ngx_str_set(&w[0], "b3");
    ngx_str_set(&w[1], "b3multi");
    ngx_str_set(&w[2], "tracecontext");
    rc = ngx_otel_enum_list(w, 3, names, 2, out, &bad);
    ok(rc == NGX_OTEL_LIST_TOO_MANY && bad == 2, "enum list too many");
}


int
main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);

    test_endpoint();
    test_ratio();
    test_keyval();
    test_header();
    test_variable_name();
    test_value_split();
    test_enum_list();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
