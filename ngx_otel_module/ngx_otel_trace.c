
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"

#if (NGX_LINUX)
#include <sys/syscall.h>
#endif


/* invalid characters in the result of ngx_otel_hex_decode() */
#define NGX_OTEL_HEX_LOWER           0xf0
#define NGX_OTEL_HEX_ANY             0xe0

#define NGX_OTEL_TRACESTATE_MAX_KEY       256
#define NGX_OTEL_TRACESTATE_MAX_TENANT    241
#define NGX_OTEL_TRACESTATE_MAX_SYSTEM    14
#define NGX_OTEL_TRACESTATE_MAX_VALUE     256
#define NGX_OTEL_TRACESTATE_MAX_ENTRY     128

/* getrandom(2) flag: the silent reseed must never block */
#define NGX_OTEL_GRND_NONBLOCK       0x0001

#define ngx_otel_ows(c)              ((c) == ' ' || (c) == '\t')


typedef struct {
    u_char       *data;
    size_t        len;
    size_t        key_len;
    uint32_t      hash;
    ngx_uint_t    dropped;
} ngx_otel_tracestate_member_t;


static ngx_int_t ngx_otel_random_seed(ngx_log_t *log);
static void ngx_otel_random_reseed(void);
static ngx_inline uint64_t ngx_otel_random_next(void);
static ngx_inline void ngx_otel_put_uint64(u_char *p, uint64_t v);
static ngx_inline void ngx_otel_trim(u_char **p, size_t *len);
static ngx_int_t ngx_otel_hex_decode(u_char *dst, u_char *src, size_t n,
    ngx_uint_t mask);
static u_char *ngx_otel_hex_encode(u_char *dst, u_char *src, size_t n);
static ngx_int_t ngx_otel_b3_trace_id(u_char *dst, u_char *src, size_t len,
    ngx_uint_t mask);
static ngx_int_t ngx_otel_tracestate_key(u_char *key, size_t len,
    u_char *at);


/* "00" to "ff", two characters per byte */

static u_char  ngx_otel_hex_pairs[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";


/*
 * '0'-'9' and 'a'-'f' map to their value, 'A'-'F' to 0x10 | value,
 * everything else to 0xff
 */

static u_char  ngx_otel_unhex[] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,     /* 0-7 */
    0x08, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     /* 8-9 */
    0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xff,     /* A-F */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff,     /* a-f */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};


/* tracestate key characters except "@": lcalpha DIGIT "_" "-" "*" "/" */

static uint32_t  ngx_otel_tracestate_key_chars[] = {
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */

                /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
    0x03ffa400, /* 0000 0011 1111 1111  1010 0100 0000 0000 */

                /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
    0x80000000, /* 1000 0000 0000 0000  0000 0000 0000 0000 */

                /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
    0x07fffffe, /* 0000 0111 1111 1111  1111 1111 1111 1110 */

    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */
};

#define ngx_otel_tracestate_key_char(c)                                       \
    (ngx_otel_tracestate_key_chars[(c) >> 5] & (1U << ((c) & 0x1f)))


/*
 * xoshiro256** state of this process; each worker seeds its own after
 * fork, and ngx_otel_random_pid tells whether that happened in this process
 */

static uint64_t   ngx_otel_random_state[4];
static ngx_pid_t  ngx_otel_random_pid = NGX_INVALID_PID;


ngx_int_t
ngx_otel_random_init(ngx_log_t *log)
{
    if (ngx_otel_random_seed(log) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_otel_random_pid = ngx_pid;

    return NGX_OK;
}


/*
 * Seeds the generator from the kernel.  With log == NULL it is the silent
 * variant for ngx_otel_random_reseed(): it neither logs nor waits for the
 * kernel's pool to be initialized.
 */

static ngx_int_t
ngx_otel_random_seed(ngx_log_t *log)
{
    u_char    *p;
    size_t     size;
    ssize_t    n;
#if !(NGX_LINUX && defined SYS_getrandom)
    ngx_fd_t   fd;
#endif
    uint64_t   seed[4];

    p = (u_char *) seed;
    size = sizeof(seed);

#if (NGX_LINUX && defined SYS_getrandom)

    while (size) {
        n = syscall(SYS_getrandom, p, size,
                    log ? 0 : NGX_OTEL_GRND_NONBLOCK);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            if (log) {
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              "getrandom() failed");
            }

            return NGX_ERROR;
        }

        p += n;
        size -= n;
    }

#else

    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (log) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_open_file_n " \"/dev/urandom\" failed");
        }

        return NGX_ERROR;
    }

    while (size) {
        n = read(fd, p, size);

        if (n == -1 && ngx_errno == NGX_EINTR) {
            continue;
        }

        if (n <= 0) {
            if (log) {
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              "read() from \"/dev/urandom\" failed");
            }

            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }

        p += n;
        size -= n;
    }

    (void) ngx_close_file(fd);

#endif

    if ((seed[0] | seed[1] | seed[2] | seed[3]) == 0) {
        /* the all-zero state is the one xoshiro256** cannot leave */
        seed[0] = 0x9e3779b97f4a7c15;
    }

    ngx_memcpy(ngx_otel_random_state, seed, sizeof(seed));

    return NGX_OK;
}


/*
 * Used when an id is needed in a process that did not call
 * ngx_otel_random_init(): never blocks, never logs, never fails.
 */

static void
ngx_otel_random_reseed(void)
{
    uint64_t        z, x;
    ngx_uint_t      i;
    struct timeval  tv;

    ngx_otel_random_pid = ngx_pid;

    if (ngx_otel_random_seed(NULL) == NGX_OK) {
        return;
    }

    /* splitmix64 over whatever differs between processes */

    ngx_gettimeofday(&tv);

    x = (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
    x ^= (uint64_t) ngx_pid << 40;
    x ^= (uint64_t) (uintptr_t) &tv;
    x ^= ngx_otel_random_state[0];

    for (i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15;
        z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        ngx_otel_random_state[i] = z ^ (z >> 31);
    }
}


/* xoshiro256** 1.0 (D. Blackman, S. Vigna) */

static ngx_inline uint64_t
ngx_otel_random_next(void)
{
    uint64_t  *s, r, t;

    s = ngx_otel_random_state;

    r = s[1] * 5;
    r = ((r << 7) | (r >> 57)) * 9;

    t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];

    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);

    return r;
}


void
ngx_otel_trace_id_generate(u_char *id)
{
    uint64_t  hi, lo;

    if (ngx_otel_random_pid != ngx_pid) {
        ngx_otel_random_reseed();
    }

    hi = ngx_otel_random_next();
    lo = ngx_otel_random_next();

    if ((hi | lo) == 0) {
        lo = 1;
    }

    ngx_otel_put_uint64(id, hi);
    ngx_otel_put_uint64(id + 8, lo);
}


void
ngx_otel_span_id_generate(u_char *id)
{
    uint64_t  v;

    if (ngx_otel_random_pid != ngx_pid) {
        ngx_otel_random_reseed();
    }

    v = ngx_otel_random_next();

    if (v == 0) {
        v = 1;
    }

    ngx_otel_put_uint64(id, v);
}


/* random bits: the byte order does not matter, one store does */

static ngx_inline void
ngx_otel_put_uint64(u_char *p, uint64_t v)
{
    ngx_memcpy(p, &v, sizeof(uint64_t));
}


ngx_uint_t
ngx_otel_id_is_zero(u_char *id, size_t len)
{
    u_char  c;

    c = 0;

    while (len--) {
        c |= *id++;
    }

    return (c == 0);
}


/* strips the optional white space (SP, HTAB) around a header value */

static ngx_inline void
ngx_otel_trim(u_char **p, size_t *len)
{
    u_char  *start, *end;

    start = *p;
    end = start + *len;

    while (start < end && ngx_otel_ows(*start)) {
        start++;
    }

    while (end > start && ngx_otel_ows(end[-1])) {
        end--;
    }

    *p = start;
    *len = end - start;
}


/*
 * Decodes n bytes from 2 * n hex characters; mask is NGX_OTEL_HEX_LOWER
 * to accept lowercase hex only, or NGX_OTEL_HEX_ANY for either case.
 */

static ngx_int_t
ngx_otel_hex_decode(u_char *dst, u_char *src, size_t n, ngx_uint_t mask)
{
    u_char  hi, lo, bad;

    bad = 0;

    while (n--) {
        hi = ngx_otel_unhex[src[0]];
        lo = ngx_otel_unhex[src[1]];

        bad |= hi | lo;
        *dst++ = (u_char) ((hi << 4) | (lo & 0x0f));

        src += 2;
    }

    return (bad & mask) ? NGX_ERROR : NGX_OK;
}


static u_char *
ngx_otel_hex_encode(u_char *dst, u_char *src, size_t n)
{
    u_char  *last;

    /* ids are 8 or 16 bytes: four at a time */

    for (last = src + n; last - src >= 4; src += 4, dst += 8) {
        ngx_memcpy(dst, &ngx_otel_hex_pairs[src[0] * 2], 2);
        ngx_memcpy(dst + 2, &ngx_otel_hex_pairs[src[1] * 2], 2);
        ngx_memcpy(dst + 4, &ngx_otel_hex_pairs[src[2] * 2], 2);
        ngx_memcpy(dst + 6, &ngx_otel_hex_pairs[src[3] * 2], 2);
    }

    for ( /* void */ ; src < last; src++, dst += 2) {
        ngx_memcpy(dst, &ngx_otel_hex_pairs[*src * 2], 2);
    }

    return dst;
}


/*
 * W3C Trace Context (level 2) "traceparent":
 *
 *     version "-" trace-id "-" parent-id "-" trace-flags
 *
 * Version "00" must be exactly 55 characters; a higher version is parsed
 * by the "00" layout, and then it must either end there or go on with
 * "-" (whatever follows is ignored).  Version "ff", uppercase hex and
 * all-zero ids are invalid.  Only the flags known to level 2 (sampled,
 * random) are kept, as the processing model says.
 */

ngx_int_t
ngx_otel_traceparent_parse(u_char *p, size_t len, ngx_otel_context_t *ctx)
{
    u_char              version;
    ngx_otel_context_t  c;

    ngx_otel_trim(&p, &len);

    if (len < NGX_OTEL_TRACEPARENT_LEN) {
        return NGX_DECLINED;
    }

    if (ngx_otel_hex_decode(&version, p, 1, NGX_OTEL_HEX_LOWER) != NGX_OK
        || version == 0xff)
    {
        return NGX_DECLINED;
    }

    if (len > NGX_OTEL_TRACEPARENT_LEN
        && (version == 0x00 || p[NGX_OTEL_TRACEPARENT_LEN] != '-'))
    {
        return NGX_DECLINED;
    }

    if (p[2] != '-' || p[35] != '-' || p[52] != '-') {
        return NGX_DECLINED;
    }

    if (ngx_otel_hex_decode(c.trace_id, p + 3, NGX_OTEL_TRACE_ID_LEN,
                            NGX_OTEL_HEX_LOWER)
        != NGX_OK
        || ngx_otel_hex_decode(c.span_id, p + 36, NGX_OTEL_SPAN_ID_LEN,
                               NGX_OTEL_HEX_LOWER)
           != NGX_OK
        || ngx_otel_hex_decode(&c.flags, p + 53, 1, NGX_OTEL_HEX_LOWER)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_otel_id_is_zero(c.trace_id, NGX_OTEL_TRACE_ID_LEN)
        || ngx_otel_id_is_zero(c.span_id, NGX_OTEL_SPAN_ID_LEN))
    {
        return NGX_DECLINED;
    }

    c.flags &= NGX_OTEL_FLAG_SAMPLED|NGX_OTEL_FLAG_RANDOM;
    c.debug = 0;

    *ctx = c;

    return NGX_OK;
}


u_char *
ngx_otel_traceparent_format(u_char *buf, u_char *trace_id, u_char *span_id,
    u_char flags)
{
    *buf++ = '0';
    *buf++ = '0';
    *buf++ = '-';
    buf = ngx_otel_hex_encode(buf, trace_id, NGX_OTEL_TRACE_ID_LEN);
    *buf++ = '-';
    buf = ngx_otel_hex_encode(buf, span_id, NGX_OTEL_SPAN_ID_LEN);
    *buf++ = '-';

    return ngx_otel_hex_encode(buf, &flags, 1);
}


/* a B3 trace id of 16 or 32 hex characters, left-padded to 128 bits */

static ngx_int_t
ngx_otel_b3_trace_id(u_char *dst, u_char *src, size_t len, ngx_uint_t mask)
{
    if (len == 2 * NGX_OTEL_TRACE_ID_LEN) {
        return ngx_otel_hex_decode(dst, src, NGX_OTEL_TRACE_ID_LEN, mask);
    }

    if (len == NGX_OTEL_TRACE_ID_LEN) {
        ngx_memzero(dst, NGX_OTEL_TRACE_ID_LEN / 2);
        return ngx_otel_hex_decode(dst + NGX_OTEL_TRACE_ID_LEN / 2, src,
                                   NGX_OTEL_TRACE_ID_LEN / 2, mask);
    }

    return NGX_ERROR;
}


/*
 * B3 single header, as @opentelemetry/propagator-b3 reads it:
 *
 *     {TraceId}-{SpanId}[-{SamplingState}][-{ParentSpanId}]
 *
 * TraceId is 16 or 32 and SpanId 16 lowercase hex characters, all-zero ids
 * are invalid; SamplingState is "1", "0" or "d" (debug, implies sampled);
 * ParentSpanId (16 lowercase hex) is checked and ignored.  Uppercase hex
 * is invalid: the B3 specification says lower-hex and the propagator's
 * pattern is lowercase only.
 *
 * A lone "0", "1" or "d" carries no context and is declined.
 *
 * Without SamplingState the decision is deferred to us; the propagator
 * then extracts trace flags 0 ("not sampled"), and so does this: flags is
 * 0, and a parent-based sampler treats it as an unsampled remote parent.
 */

ngx_int_t
ngx_otel_b3_parse(u_char *p, size_t len, ngx_otel_context_t *ctx)
{
    u_char              parent[NGX_OTEL_SPAN_ID_LEN];
    size_t              n;
    ngx_otel_context_t  c;

    ngx_otel_trim(&p, &len);

    /* the shortest form: 16 "-" 16 */

    if (len < 2 * NGX_OTEL_SPAN_ID_LEN + 1 + 2 * NGX_OTEL_SPAN_ID_LEN) {
        return NGX_DECLINED;
    }

    n = (p[16] == '-') ? 16 : 32;

    if (len < n + 1 + 2 * NGX_OTEL_SPAN_ID_LEN || p[n] != '-') {
        return NGX_DECLINED;
    }

    if (ngx_otel_b3_trace_id(c.trace_id, p, n, NGX_OTEL_HEX_LOWER) != NGX_OK
        || ngx_otel_hex_decode(c.span_id, p + n + 1, NGX_OTEL_SPAN_ID_LEN,
                               NGX_OTEL_HEX_LOWER)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_otel_id_is_zero(c.trace_id, NGX_OTEL_TRACE_ID_LEN)
        || ngx_otel_id_is_zero(c.span_id, NGX_OTEL_SPAN_ID_LEN))
    {
        return NGX_DECLINED;
    }

    c.flags = 0;
    c.debug = 0;

    n += 1 + 2 * NGX_OTEL_SPAN_ID_LEN;
    p += n;
    len -= n;

    if (len == 0) {
        goto done;
    }

    if (*p != '-') {
        return NGX_DECLINED;
    }

    p++;
    len--;

    if (len == 2 * NGX_OTEL_SPAN_ID_LEN) {

        /* ParentSpanId without SamplingState */

        if (ngx_otel_hex_decode(parent, p, NGX_OTEL_SPAN_ID_LEN,
                                NGX_OTEL_HEX_LOWER)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        goto done;
    }

    if (len != 1 && (len != 2 + 2 * NGX_OTEL_SPAN_ID_LEN || p[1] != '-')) {
        return NGX_DECLINED;
    }

    switch (p[0]) {

    case '1':
        c.flags = NGX_OTEL_FLAG_SAMPLED;
        break;

    case '0':
        break;

    case 'd':
        c.flags = NGX_OTEL_FLAG_SAMPLED;
        c.debug = 1;
        break;

    default:
        return NGX_DECLINED;
    }

    if (len > 1
        && ngx_otel_hex_decode(parent, p + 2, NGX_OTEL_SPAN_ID_LEN,
                               NGX_OTEL_HEX_LOWER)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

done:

    *ctx = c;

    return NGX_OK;
}


/*
 * B3 multiple headers, as @opentelemetry/propagator-b3 reads them:
 * X-B3-TraceId (16 or 32 hex) and X-B3-SpanId (16 hex) are required, in
 * either case (the propagator checks them case-insensitively), non-zero.
 * X-B3-Flags "1" means debug and sampled, other values are ignored.
 * Otherwise X-B3-Sampled "1", "true", "True" mean sampled, "0", "false",
 * "False" or no header not sampled (the deferred decision, see above),
 * and any other value makes the whole context invalid.
 */

ngx_int_t
ngx_otel_b3multi_parse(ngx_str_t *trace_id, ngx_str_t *span_id,
    ngx_str_t *sampled, ngx_str_t *flags, ngx_otel_context_t *ctx)
{
    u_char              *p;
    size_t               len;
    ngx_otel_context_t   c;

    if (trace_id == NULL || span_id == NULL) {
        return NGX_DECLINED;
    }

    p = trace_id->data;
    len = trace_id->len;
    ngx_otel_trim(&p, &len);

    if (ngx_otel_b3_trace_id(c.trace_id, p, len, NGX_OTEL_HEX_ANY)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = span_id->data;
    len = span_id->len;
    ngx_otel_trim(&p, &len);

    if (len != 2 * NGX_OTEL_SPAN_ID_LEN
        || ngx_otel_hex_decode(c.span_id, p, NGX_OTEL_SPAN_ID_LEN,
                               NGX_OTEL_HEX_ANY)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_otel_id_is_zero(c.trace_id, NGX_OTEL_TRACE_ID_LEN)
        || ngx_otel_id_is_zero(c.span_id, NGX_OTEL_SPAN_ID_LEN))
    {
        return NGX_DECLINED;
    }

    c.flags = 0;
    c.debug = 0;

    if (flags) {
        p = flags->data;
        len = flags->len;
        ngx_otel_trim(&p, &len);

        if (len == 1 && p[0] == '1') {
            c.flags = NGX_OTEL_FLAG_SAMPLED;
            c.debug = 1;
            goto done;
        }
    }

    if (sampled == NULL) {
        goto done;
    }

    p = sampled->data;
    len = sampled->len;
    ngx_otel_trim(&p, &len);

    if ((len == 1 && p[0] == '1')
        || (len == 4 && (p[0] == 't' || p[0] == 'T')
            && ngx_strncmp(p + 1, "rue", 3) == 0))
    {
        c.flags = NGX_OTEL_FLAG_SAMPLED;

    } else if ((len == 1 && p[0] == '0')
               || (len == 5 && (p[0] == 'f' || p[0] == 'F')
                   && ngx_strncmp(p + 1, "alse", 4) == 0))
    {
        /* not sampled */

    } else {
        return NGX_DECLINED;
    }

done:

    *ctx = c;

    return NGX_OK;
}


u_char *
ngx_otel_b3_format(u_char *buf, u_char *trace_id, u_char *span_id,
    ngx_uint_t sampled, ngx_uint_t debug)
{
    buf = ngx_otel_hex_encode(buf, trace_id, NGX_OTEL_TRACE_ID_LEN);
    *buf++ = '-';
    buf = ngx_otel_hex_encode(buf, span_id, NGX_OTEL_SPAN_ID_LEN);
    *buf++ = '-';
    *buf++ = debug ? 'd' : (sampled ? '1' : '0');

    return buf;
}


/*
 * W3C "tracestate": the lines are combined as if joined by ",", and the
 * list members are checked one by one:
 *
 *     list-member = key "=" value / OWS
 *     value       = 0*255(chr) nblk-chr
 *     nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
 *     chr         = %x20 / nblk-chr
 *
 * with the key grammar in ngx_otel_tracestate_key().  Empty members are
 * skipped.  An invalid member, a repeated key, more than 32 members, or
 * more than NGX_OTEL_TRACESTATE_MAX_INPUT bytes in all make the whole
 * tracestate invalid (the W3C test suite expects it discarded).  When the
 * result is longer than 512 characters, members longer than 128 are
 * dropped first, from the right, then other members from the right, until
 * it fits.  The members are written joined by "," without white space.
 *
 * The work is linear in the input and bounded: the input is capped, a key
 * or value stops being scanned past its maximum length, and duplicates
 * are looked for among at most 32 keys by hash and length first.
 */

size_t
ngx_otel_tracestate_combine(ngx_str_t *lines, ngx_uint_t n, u_char *buf)
{
    u_char                        *p, *end, *start, *value, *last, *at, c;
    size_t                         total, size;
    uint32_t                       hash;
    ngx_uint_t                     i, j, nm, tab;
    ngx_otel_tracestate_member_t   m[NGX_OTEL_TRACESTATE_MAX_MEMBERS];

    total = 0;

    for (i = 0; i < n; i++) {
        total += lines[i].len;

        if (total > NGX_OTEL_TRACESTATE_MAX_INPUT) {
            return 0;
        }
    }

    nm = 0;
    size = 0;

    for (i = 0; i < n; i++) {

        p = lines[i].data;
        end = p + lines[i].len;

        for ( ;; ) {

            while (p < end && ngx_otel_ows(*p)) {
                p++;
            }

            if (p == end) {
                break;
            }

            if (*p == ',') {
                p++;
                continue;
            }

            if (nm == NGX_OTEL_TRACESTATE_MAX_MEMBERS) {
                return 0;
            }

            /* key */

            start = p;
            at = NULL;
            hash = 2166136261;

            while (p < end) {
                c = *p;

                if (c == '@') {
                    if (at) {
                        return 0;
                    }

                    at = p;

                } else if (!ngx_otel_tracestate_key_char(c)) {
                    break;
                }

                hash = (hash ^ c) * 16777619;

                if ((size_t) (++p - start) > NGX_OTEL_TRACESTATE_MAX_KEY) {
                    return 0;
                }
            }

            if (p == end || *p != '='
                || ngx_otel_tracestate_key(start, p - start, at) != NGX_OK)
            {
                return 0;
            }

            /* value; trailing SP and HTAB are OWS, not part of it */

            p++;
            value = p;
            last = p;
            tab = 0;

            while (p < end && *p != ',') {
                c = *p;

                if (c == '\t') {
                    tab = 1;

                } else if (c == ' ') {
                    /* void */

                } else if (c > 0x20 && c < 0x7f && c != '=' && !tab) {
                    last = p + 1;

                    if ((size_t) (last - value)
                        > NGX_OTEL_TRACESTATE_MAX_VALUE)
                    {
                        return 0;
                    }

                } else {
                    return 0;
                }

                p++;
            }

            if (last == value) {
                return 0;
            }

            m[nm].data = start;
            m[nm].len = last - start;
            m[nm].key_len = value - 1 - start;
            m[nm].hash = hash;
            m[nm].dropped = 0;

            for (j = 0; j < nm; j++) {
                if (m[j].hash == hash
                    && m[j].key_len == m[nm].key_len
                    && ngx_memcmp(m[j].data, start, m[nm].key_len) == 0)
                {
                    return 0;
                }
            }

            /* size counts a comma after each member, the last one too */
            size += m[nm].len + 1;
            nm++;
        }
    }

    if (size > NGX_OTEL_TRACESTATE_MAX_LEN + 1) {

        for (i = nm; i > 0 && size > NGX_OTEL_TRACESTATE_MAX_LEN + 1; i--) {
            if (m[i - 1].len > NGX_OTEL_TRACESTATE_MAX_ENTRY) {
                m[i - 1].dropped = 1;
                size -= m[i - 1].len + 1;
            }
        }

        for (i = nm; i > 0 && size > NGX_OTEL_TRACESTATE_MAX_LEN + 1; i--) {
            if (!m[i - 1].dropped) {
                m[i - 1].dropped = 1;
                size -= m[i - 1].len + 1;
            }
        }
    }

    p = buf;

    for (i = 0; i < nm; i++) {
        if (m[i].dropped) {
            continue;
        }

        if (p != buf) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, m[i].data, m[i].len);
    }

    return p - buf;
}


/*
 * The key grammar of W3C Trace Context level 1, which the W3C test suite
 * and the OpenTelemetry Go SDK enforce:
 *
 *     key              = simple-key / multi-tenant-key
 *     simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" /
 *                        "/" )
 *     multi-tenant-key = tenant-id "@" system-id
 *     tenant-id        = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" /
 *                        "-"/ "*" / "/" )
 *     system-id        = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" /
 *                        "/" )
 *
 * The characters are already checked; at is the only "@" or NULL.
 */

static ngx_int_t
ngx_otel_tracestate_key(u_char *key, size_t len, u_char *at)
{
    size_t  system;

    if (len == 0 || len > NGX_OTEL_TRACESTATE_MAX_KEY) {
        return NGX_ERROR;
    }

    if (at == NULL) {
        return (key[0] >= 'a' && key[0] <= 'z') ? NGX_OK : NGX_ERROR;
    }

    system = len - (at - key) - 1;

    if (at == key
        || (size_t) (at - key) > NGX_OTEL_TRACESTATE_MAX_TENANT
        || !((key[0] >= 'a' && key[0] <= 'z')
             || (key[0] >= '0' && key[0] <= '9'))
        || system == 0
        || system > NGX_OTEL_TRACESTATE_MAX_SYSTEM
        || at[1] < 'a' || at[1] > 'z')
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * TraceIdRatioBased of the OpenTelemetry SDKs (Go's traceIDRatioSampler):
 * the upper bound is ratio * 2^63, and a trace is sampled when the last
 * 8 bytes of its id, big-endian and shifted right by one, are below it.
 * A ratio of 1 or more always samples (2^63 is above every such value),
 * 0, less or NaN never does.
 */

uint64_t
ngx_otel_ratio_bound(double ratio)
{
    if (ratio >= 1.0) {
        return (uint64_t) 1 << 63;
    }

    if (ratio > 0.0) {
        return (uint64_t) (ratio * 9223372036854775808.0);
    }

    return 0;
}


ngx_uint_t
ngx_otel_ratio_sampled(u_char *trace_id, uint64_t bound)
{
    uint64_t  x;

    x = ((uint64_t) trace_id[8] << 56)
        | ((uint64_t) trace_id[9] << 48)
        | ((uint64_t) trace_id[10] << 40)
        | ((uint64_t) trace_id[11] << 32)
        | ((uint64_t) trace_id[12] << 24)
        | ((uint64_t) trace_id[13] << 16)
        | ((uint64_t) trace_id[14] << 8)
        | (uint64_t) trace_id[15];

    return (x >> 1) < bound;
}
