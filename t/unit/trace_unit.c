
/*
 * Copyright (C) ngx_otel_module authors
 */

/*
 * Unit tests of ngx_otel_trace.c, printing TAP; t/unit.t builds and runs it:
 *
 *     cc -I<configured nginx tree includes> -I ngx_otel_module \
 *         t/unit/trace_unit.c ngx_otel_module/ngx_otel_trace.c
 *
 * Every parser input is copied into a buffer of exactly its length, so a
 * build with -fsanitize=address catches any read past len.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_trace.h"

#include <math.h>
#include <sys/wait.h>


/* stand-ins for the few nginx core symbols ngx_otel_trace.c refers to */

ngx_pid_t   ngx_pid;
static int  log_calls;


void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    log_calls++;
}

/* end of stand-ins */


#define TP_TRACE  "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_SPAN   "00f067aa0ba902b7"
#define TP_MID    TP_TRACE "-" TP_SPAN "-"

#define B3_TRACE  "80f198ee56343ba864fe8b2a57d3eff7"
#define B3_SPAN   "e457b5a2e4d86bd1"
#define B3_PARENT "05e3ac9a4f6e3b90"


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


static void
diag(const char *fmt, ...)
{
    va_list  args;

    printf("# ");

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* a heap copy of exactly len bytes, for the sanitizers */

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


static void
hex(char *dst, u_char *src, size_t n)
{
    static const char  digits[] = "0123456789abcdef";

    while (n--) {
        *dst++ = digits[*src >> 4];
        *dst++ = digits[*src++ & 0x0f];
    }

    *dst = '\0';
}


static int
ctx_is(ngx_otel_context_t *ctx, const char *trace, const char *span,
    int flags, int debug)
{
    char  t[33], s[17];

    hex(t, ctx->trace_id, 16);
    hex(s, ctx->span_id, 8);

    if (strcmp(t, trace) != 0 || strcmp(s, span) != 0
        || ctx->flags != flags || (int) ctx->debug != debug)
    {
        diag("got trace %s span %s flags %d debug %d", t, s, ctx->flags,
             (int) ctx->debug);
        return 0;
    }

    return 1;
}


static int
ctx_untouched(ngx_otel_context_t *ctx)
{
    ngx_otel_context_t  pattern;

    memset(&pattern, 0xa5, sizeof(pattern));

    return memcmp(ctx, &pattern, sizeof(pattern)) == 0;
}


/* traceparent */

static void
tp_good(const char *h, const char *trace, const char *span, int flags,
    const char *desc)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_otel_context_t   ctx;

    p = copy(h, strlen(h));
    memset(&ctx, 0xa5, sizeof(ctx));

    rc = ngx_otel_traceparent_parse(p, strlen(h), &ctx);

    ok(rc == NGX_OK && ctx_is(&ctx, trace, span, flags, 0),
       "traceparent valid: %s", desc);

    free(p);
}


static void
tp_bad_len(const char *h, size_t len, const char *desc)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_otel_context_t   ctx;

    p = copy(h, len);
    memset(&ctx, 0xa5, sizeof(ctx));

    rc = ngx_otel_traceparent_parse(p, len, &ctx);

    ok(rc == NGX_DECLINED && ctx_untouched(&ctx),
       "traceparent invalid: %s", desc);

    free(p);
}


static void
tp_bad(const char *h, const char *desc)
{
    tp_bad_len(h, strlen(h), desc);
}


static void
test_traceparent(void)
{
    char  buf[256];

    tp_good("00-" TP_MID "01", TP_TRACE, TP_SPAN, 1, "sampled");
    tp_good("00-" TP_MID "00", TP_TRACE, TP_SPAN, 0, "not sampled");
    tp_good("00-" TP_MID "02", TP_TRACE, TP_SPAN, 2, "random flag kept");
    tp_good("00-" TP_MID "03", TP_TRACE, TP_SPAN, 3, "sampled and random");
    tp_good("00-" TP_MID "ff", TP_TRACE, TP_SPAN, 3, "unknown flags masked");
    tp_good("00-" TP_MID "09", TP_TRACE, TP_SPAN, 1, "flags 09 -> 01");
    tp_good("00-" TP_MID "04", TP_TRACE, TP_SPAN, 0, "flags 04 -> 00");
    tp_good("00-12345678901234567890123456789012-1234567890123456-01",
            "12345678901234567890123456789012", "1234567890123456", 1,
            "digits only");
    tp_good("00-00000000000000000000000000000001-0000000000000001-01",
            "00000000000000000000000000000001", "0000000000000001", 1,
            "smallest non-zero ids");
    tp_good("00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
            "ffffffffffffffffffffffffffffffff", "ffffffffffffffff", 1,
            "all-f ids");

    tp_good(" 00-" TP_MID "01", TP_TRACE, TP_SPAN, 1, "leading space");
    tp_good("\t00-" TP_MID "01", TP_TRACE, TP_SPAN, 1, "leading tab");
    tp_good("00-" TP_MID "01 ", TP_TRACE, TP_SPAN, 1, "trailing space");
    tp_good("00-" TP_MID "01\t", TP_TRACE, TP_SPAN, 1, "trailing tab");
    tp_good("\t 00-" TP_MID "01 \t", TP_TRACE, TP_SPAN, 1, "OWS both sides");

    /* future versions */

    tp_good("cc-" TP_MID "01", TP_TRACE, TP_SPAN, 1, "version cc, 55 chars");
    tp_good("cc-" TP_MID "01-what-the-future-will-be-like", TP_TRACE,
            TP_SPAN, 1, "version cc with more fields");
    tp_good("01-" TP_MID "01-", TP_TRACE, TP_SPAN, 1,
            "version 01 with a lone trailing dash");
    tp_good("fe-" TP_MID "ff-x", TP_TRACE, TP_SPAN, 3,
            "version fe, flags masked");
    tp_good("01-" TP_MID "00-\x01\xff", TP_TRACE, TP_SPAN, 0,
            "version 01, bytes after the dash ignored");
    tp_good(" cc-" TP_MID "01-x ", TP_TRACE, TP_SPAN, 1,
            "version cc with OWS");

    tp_bad("cc-" TP_MID "01.what-the-future-will-be-like",
           "version cc, no dash after flags");
    tp_bad("cc-" TP_MID "011", "version cc, 3 flag chars");
    tp_bad("cc-" TP_MID "0", "version cc, 54 chars");
    tp_bad("cc-" TP_TRACE "-" TP_SPAN "x01", "version cc, bad separator");
    tp_bad("cc-00000000000000000000000000000000-" TP_SPAN "-01",
           "version cc, zero trace id");
    tp_bad("cc-" TP_TRACE "-0000000000000000-01", "version cc, zero span");
    tp_bad("cc-" TP_MID "0G", "version cc, bad flags");
    tp_bad("cc-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_SPAN "-01",
           "version cc, uppercase trace id");

    /* version */

    tp_bad("ff-" TP_MID "01", "version ff");
    tp_bad("ff-" TP_MID "01-x", "version ff with more fields");
    tp_bad(".0-" TP_MID "01", "version .0");
    tp_bad("0.-" TP_MID "01", "version 0.");
    tp_bad("000-" TP_MID "01", "version 000");
    tp_bad("0000-" TP_MID "01", "version 0000");
    tp_bad("0-" TP_MID "01", "version 0");
    tp_bad("0A-" TP_MID "01", "version 0A uppercase");
    tp_bad("CC-" TP_MID "01", "version CC uppercase");
    tp_bad("0g-" TP_MID "01", "version 0g");
    tp_bad("00_" TP_MID "01", "bad separator after version");

    /* version 00 length */

    tp_bad("00-" TP_MID "01.", "version 00 with a trailing dot");
    tp_bad("00-" TP_MID "01-", "version 00 with a trailing dash");
    tp_bad("00-" TP_MID "01-what-the-future-will-be-like",
           "version 00 with more fields");
    tp_bad("00-" TP_MID "01 x", "version 00, garbage after OWS");
    tp_bad("00-" TP_MID "0", "54 chars");
    tp_bad("", "empty");
    tp_bad(" \t ", "white space only");
    tp_bad("00", "version only");
    tp_bad_len("00-" TP_MID "01", 54, "len one short of a valid header");
    tp_bad_len("00-" TP_MID "01", 0, "len 0");

    /* trace-id */

    tp_bad("00-00000000000000000000000000000000-" TP_SPAN "-01",
           "trace id all zero");
    tp_bad("00-.2345678901234567890123456789012-1234567890123456-01",
           "trace id illegal first char");
    tp_bad("00-1234567890123456789012345678901.-1234567890123456-01",
           "trace id illegal last char");
    tp_bad("00-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_SPAN "-01",
           "trace id uppercase");
    tp_bad("00-4bf92f3577b34da6a3ce929d0e0e473A-" TP_SPAN "-01",
           "trace id one uppercase char");
    tp_bad("00-4bf92f3577b34da6a3ce929d0e0e473g-" TP_SPAN "-01",
           "trace id non-hex g");
    tp_bad("00-123456789012345678901234567890123-1234567890123456-01",
           "trace id 33 chars");
    tp_bad("00-1234567890123456789012345678901-1234567890123456-01",
           "trace id 31 chars");
    tp_bad("00-4bf92f3577b34da6a3ce929d0e0e4736_" TP_SPAN "-01",
           "bad separator after trace id");
    tp_bad("00-4bf92f3577b34da6a3ce929d0e0e473 -" TP_SPAN "-01",
           "space inside trace id");

    /* parent-id */

    tp_bad("00-" TP_TRACE "-0000000000000000-01", "parent id all zero");
    tp_bad("00-12345678901234567890123456789012-.234567890123456-01",
           "parent id illegal first char");
    tp_bad("00-12345678901234567890123456789012-123456789012345.-01",
           "parent id illegal last char");
    tp_bad("00-" TP_TRACE "-00F067AA0BA902B7-01", "parent id uppercase");
    tp_bad("00-12345678901234567890123456789012-12345678901234567-01",
           "parent id 17 chars");
    tp_bad("00-12345678901234567890123456789012-123456789012345-01",
           "parent id 15 chars");
    tp_bad("00-" TP_TRACE "-" TP_SPAN "_01", "bad separator after parent");

    /* trace-flags */

    tp_bad("00-12345678901234567890123456789012-1234567890123456-.0",
           "flags illegal first char");
    tp_bad("00-12345678901234567890123456789012-1234567890123456-0.",
           "flags illegal second char");
    tp_bad("00-12345678901234567890123456789012-1234567890123456-001",
           "flags 3 chars");
    tp_bad("00-12345678901234567890123456789012-1234567890123456-1",
           "flags 1 char");
    tp_bad("00-" TP_MID "0A", "flags uppercase");
    tp_bad("00-" TP_MID "\xc3\xa9", "flags non-ASCII");

    /* never read past len: the valid header continues beyond len */

    memcpy(buf, "00-" TP_MID "01", 55);
    tp_bad_len(buf, 40, "header cut at len 40");
}


/* B3 single header */

static void
b3_good(const char *h, const char *trace, const char *span, int flags,
    int debug, const char *desc)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_otel_context_t   ctx;

    p = copy(h, strlen(h));
    memset(&ctx, 0xa5, sizeof(ctx));

    rc = ngx_otel_b3_parse(p, strlen(h), &ctx);

    ok(rc == NGX_OK && ctx_is(&ctx, trace, span, flags, debug),
       "b3 valid: %s", desc);

    free(p);
}


static void
b3_bad(const char *h, const char *desc)
{
    u_char              *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_otel_context_t   ctx;

    len = strlen(h);
    p = copy(h, len);
    memset(&ctx, 0xa5, sizeof(ctx));

    rc = ngx_otel_b3_parse(p, len, &ctx);

    ok(rc == NGX_DECLINED && ctx_untouched(&ctx), "b3 invalid: %s", desc);

    free(p);
}


static void
test_b3(void)
{
    const char  *t64;

    t64 = "0000000000000000" B3_SPAN;

    b3_good(B3_TRACE "-" B3_SPAN "-1", B3_TRACE, B3_SPAN, 1, 0, "sampled");
    b3_good(B3_TRACE "-" B3_SPAN "-0", B3_TRACE, B3_SPAN, 0, 0,
            "not sampled");
    b3_good(B3_TRACE "-" B3_SPAN "-d", B3_TRACE, B3_SPAN, 1, 1,
            "debug implies sampled");
    b3_good(B3_TRACE "-" B3_SPAN, B3_TRACE, B3_SPAN, 0, 0,
            "no sampling state: deferred, flags 0");
    b3_good(B3_TRACE "-" B3_SPAN "-1-" B3_PARENT, B3_TRACE, B3_SPAN, 1, 0,
            "sampled with parent");
    b3_good(B3_TRACE "-" B3_SPAN "-0-" B3_PARENT, B3_TRACE, B3_SPAN, 0, 0,
            "not sampled with parent");
    b3_good(B3_TRACE "-" B3_SPAN "-d-" B3_PARENT, B3_TRACE, B3_SPAN, 1, 1,
            "debug with parent");
    b3_good(B3_TRACE "-" B3_SPAN "-" B3_PARENT, B3_TRACE, B3_SPAN, 0, 0,
            "parent without sampling state (as the JS propagator)");
    b3_good(B3_TRACE "-" B3_SPAN "-1-0000000000000000", B3_TRACE, B3_SPAN,
            1, 0, "all-zero parent is ignored");
    b3_good(B3_SPAN "-" B3_SPAN "-1", t64, B3_SPAN, 1, 0,
            "64-bit trace id left-padded");
    b3_good(B3_SPAN "-" B3_SPAN, t64, B3_SPAN, 0, 0,
            "64-bit trace id, no sampling state");
    b3_good(B3_SPAN "-" B3_SPAN "-d-" B3_PARENT, t64, B3_SPAN, 1, 1,
            "64-bit trace id, debug, parent");
    b3_good("0000000000000001-" B3_SPAN "-1",
            "00000000000000000000000000000001", B3_SPAN, 1, 0,
            "64-bit trace id 1");
    b3_good("00000000000000000000000000000001-" B3_SPAN "-1",
            "00000000000000000000000000000001", B3_SPAN, 1, 0,
            "128-bit trace id with zero high half");
    b3_good(" \t" B3_TRACE "-" B3_SPAN "-1\t ", B3_TRACE, B3_SPAN, 1, 0,
            "OWS trimmed");

    b3_bad("0", "lone 0 carries no context");
    b3_bad("1", "lone 1 carries no context");
    b3_bad("d", "lone d carries no context");
    b3_bad(" 1 ", "lone 1 with OWS");
    b3_bad("", "empty");
    b3_bad("80F198EE56343BA864FE8B2A57D3EFF7-" B3_SPAN "-1",
           "uppercase trace id");
    b3_bad(B3_TRACE "-E457B5A2E4D86BD1-1", "uppercase span id");
    b3_bad(B3_TRACE "-" B3_SPAN "-1-05E3AC9A4F6E3B90", "uppercase parent");
    b3_bad(B3_TRACE "-" B3_SPAN "-D", "uppercase D");
    b3_bad("00000000000000000000000000000000-" B3_SPAN "-1",
           "zero 128-bit trace id");
    b3_bad("0000000000000000-" B3_SPAN "-1", "zero 64-bit trace id");
    b3_bad(B3_TRACE "-0000000000000000-1", "zero span id");
    b3_bad("80f198ee56343ba864fe8b2a57d3eff-" B3_SPAN "-1",
           "trace id 31 chars");
    b3_bad("80f198ee56343ba864fe8b2a57d3eff77-" B3_SPAN "-1",
           "trace id 33 chars");
    b3_bad("e457b5a2e4d86bd-" B3_SPAN "-1", "trace id 15 chars");
    b3_bad("e457b5a2e4d86bd11-" B3_SPAN "-1", "trace id 17 chars");
    b3_bad("e457b5a2e4d86bd1e457b5a2e4d86bd1e457b5a2e4d86bd1-" B3_SPAN,
           "trace id 48 chars");
    b3_bad(B3_TRACE "-e457b5a2e4d86bd-1", "span id 15 chars");
    b3_bad(B3_TRACE "-e457b5a2e4d86bd11-1", "span id 17 chars");
    b3_bad(B3_TRACE "-e457b5a2e4d86bdx", "span id non-hex");
    b3_bad(B3_TRACE "_" B3_SPAN "-1", "bad separator after trace");
    b3_bad(B3_TRACE "-" B3_SPAN "_1", "bad separator after span");
    b3_bad(B3_TRACE "-" B3_SPAN "-1_" B3_PARENT, "bad separator before parent");
    b3_bad(B3_TRACE "-" B3_SPAN "-", "dash without sampling state");
    b3_bad(B3_TRACE "-" B3_SPAN "-1-", "dash without parent");
    b3_bad(B3_TRACE "-" B3_SPAN "-2", "sampling state 2");
    b3_bad(B3_TRACE "-" B3_SPAN "-x", "sampling state x");
    b3_bad(B3_TRACE "-" B3_SPAN "-true", "sampling state true");
    b3_bad(B3_TRACE "-" B3_SPAN "-11", "sampling state 11");
    b3_bad(B3_TRACE "-" B3_SPAN "-1-05e3ac9a4f6e3b9", "parent 15 chars");
    b3_bad(B3_TRACE "-" B3_SPAN "-1-05e3ac9a4f6e3b900", "parent 17 chars");
    b3_bad(B3_TRACE "-" B3_SPAN "-1-05e3ac9a4f6e3b9g", "parent non-hex");
    b3_bad(B3_TRACE "-" B3_SPAN "-1-" B3_PARENT "-1", "extra field");
    b3_bad(B3_TRACE "-" B3_SPAN "-05e3ac9a4f6e3b9", "15 chars after span");
    b3_bad(B3_TRACE "-" B3_SPAN "-" B3_PARENT "-1",
           "parent before sampling state");
    b3_bad(B3_SPAN "-" B3_SPAN "-1x", "garbage after sampling state");
    b3_bad("x" B3_TRACE "-" B3_SPAN "-1", "leading garbage");
    b3_bad(B3_TRACE "-" B3_SPAN "-1 x", "garbage after OWS");
}


/* B3 multiple headers */

static void
b3m(const char *trace, const char *span, const char *sampled,
    const char *flags, ngx_int_t expect, const char *etrace,
    const char *espan, int eflags, int edebug, const char *desc)
{
    ngx_int_t            rc;
    ngx_str_t            t, s, sm, f;
    ngx_otel_context_t   ctx;

    if (trace) {
        t.len = strlen(trace);
        t.data = copy(trace, t.len);
    }

    if (span) {
        s.len = strlen(span);
        s.data = copy(span, s.len);
    }

    if (sampled) {
        sm.len = strlen(sampled);
        sm.data = copy(sampled, sm.len);
    }

    if (flags) {
        f.len = strlen(flags);
        f.data = copy(flags, f.len);
    }

    memset(&ctx, 0xa5, sizeof(ctx));

    rc = ngx_otel_b3multi_parse(trace ? &t : NULL, span ? &s : NULL,
                                sampled ? &sm : NULL, flags ? &f : NULL,
                                &ctx);

    if (expect == NGX_OK) {
        ok(rc == NGX_OK && ctx_is(&ctx, etrace, espan, eflags, edebug),
           "b3 multi valid: %s", desc);

    } else {
        ok(rc == NGX_DECLINED && ctx_untouched(&ctx),
           "b3 multi invalid: %s", desc);
    }

    if (trace) {
        free(t.data);
    }

    if (span) {
        free(s.data);
    }

    if (sampled) {
        free(sm.data);
    }

    if (flags) {
        free(f.data);
    }
}


static void
b3m_good(const char *trace, const char *span, const char *sampled,
    const char *flags, const char *etrace, int eflags, int edebug,
    const char *desc)
{
    b3m(trace, span, sampled, flags, NGX_OK, etrace, B3_SPAN, eflags, edebug,
        desc);
}


static void
b3m_bad(const char *trace, const char *span, const char *sampled,
    const char *flags, const char *desc)
{
    b3m(trace, span, sampled, flags, NGX_DECLINED, NULL, NULL, 0, 0, desc);
}


static void
test_b3multi(void)
{
    const char  *t64;

    t64 = "0000000000000000" B3_SPAN;

    b3m_good(B3_TRACE, B3_SPAN, "1", NULL, B3_TRACE, 1, 0, "sampled 1");
    b3m_good(B3_TRACE, B3_SPAN, "0", NULL, B3_TRACE, 0, 0, "sampled 0");
    b3m_good(B3_TRACE, B3_SPAN, "true", NULL, B3_TRACE, 1, 0, "sampled true");
    b3m_good(B3_TRACE, B3_SPAN, "True", NULL, B3_TRACE, 1, 0, "sampled True");
    b3m_good(B3_TRACE, B3_SPAN, "false", NULL, B3_TRACE, 0, 0,
             "sampled false");
    b3m_good(B3_TRACE, B3_SPAN, "False", NULL, B3_TRACE, 0, 0,
             "sampled False");
    b3m_good(B3_TRACE, B3_SPAN, NULL, NULL, B3_TRACE, 0, 0,
             "no sampled header: deferred, flags 0");
    b3m_good(B3_TRACE, B3_SPAN, NULL, "1", B3_TRACE, 1, 1,
             "flags 1: debug and sampled");
    b3m_good(B3_TRACE, B3_SPAN, "0", "1", B3_TRACE, 1, 1,
             "flags 1 overrides sampled 0");
    b3m_good(B3_TRACE, B3_SPAN, "garbage", "1", B3_TRACE, 1, 1,
             "flags 1 with an invalid sampled value");
    b3m_good(B3_TRACE, B3_SPAN, "1", "0", B3_TRACE, 1, 0,
             "flags 0 ignored");
    b3m_good(B3_TRACE, B3_SPAN, "0", "2", B3_TRACE, 0, 0,
             "flags 2 ignored");
    b3m_good(B3_TRACE, B3_SPAN, NULL, "", B3_TRACE, 0, 0,
             "empty flags ignored");
    b3m_good(B3_SPAN, B3_SPAN, "1", NULL, t64, 1, 0,
             "64-bit trace id left-padded");
    b3m_good("80F198EE56343BA864FE8B2A57D3EFF7", "E457B5A2E4D86BD1", "1",
             NULL, B3_TRACE, 1, 0,
             "uppercase ids accepted (as the JS propagator)");
    b3m_good("80f198ee56343BA864FE8B2A57d3eff7", B3_SPAN, "1", NULL,
             B3_TRACE, 1, 0, "mixed case trace id");
    b3m_good(" " B3_TRACE "\t", "\t" B3_SPAN " ", " 1 ", "\t1\t", B3_TRACE,
             1, 1, "OWS trimmed");

    b3m_bad(NULL, B3_SPAN, "1", NULL, "no trace id");
    b3m_bad(B3_TRACE, NULL, "1", NULL, "no span id");
    b3m_bad(NULL, NULL, "1", "1", "only sampled and flags");
    b3m_bad("", B3_SPAN, "1", NULL, "empty trace id");
    b3m_bad(B3_TRACE, "", "1", NULL, "empty span id");
    b3m_bad("00000000000000000000000000000000", B3_SPAN, "1", NULL,
            "zero trace id");
    b3m_bad("0000000000000000", B3_SPAN, "1", NULL, "zero 64-bit trace id");
    b3m_bad(B3_TRACE, "0000000000000000", "1", NULL, "zero span id");
    b3m_bad("80f198ee56343ba864fe8b2a57d3eff", B3_SPAN, "1", NULL,
            "trace id 31 chars");
    b3m_bad("80f198ee56343ba864fe8b2a57d3eff77", B3_SPAN, "1", NULL,
            "trace id 33 chars");
    b3m_bad("e457b5a2e4d86bd", B3_SPAN, "1", NULL, "trace id 15 chars");
    b3m_bad("abc", B3_SPAN, "1", NULL, "trace id 3 chars");
    b3m_bad(B3_TRACE, "e457b5a2e4d86bd", "1", NULL, "span id 15 chars");
    b3m_bad(B3_TRACE, "e457b5a2e4d86bd11", "1", NULL, "span id 17 chars");
    b3m_bad("80f198ee56343ba864fe8b2a57d3effg", B3_SPAN, "1", NULL,
            "trace id non-hex");
    b3m_bad(B3_TRACE, "e457b5a2e4d86bdz", "1", NULL, "span id non-hex");
    b3m_bad(B3_TRACE, B3_SPAN, "2", NULL, "sampled 2");
    b3m_bad(B3_TRACE, B3_SPAN, "TRUE", NULL, "sampled TRUE");
    b3m_bad(B3_TRACE, B3_SPAN, "d", NULL, "sampled d");
    b3m_bad(B3_TRACE, B3_SPAN, "", NULL, "sampled empty");
    b3m_bad(B3_TRACE, B3_SPAN, "yes", NULL, "sampled yes");
    b3m_bad(B3_TRACE, B3_SPAN, "truex", NULL, "sampled truex");
    b3m_bad(B3_TRACE, B3_SPAN, "2", "0", "sampled 2, flags 0");
}


/* formatting */

static void
test_format(void)
{
    u_char              *p, buf[128], trace[16], span[8];
    ngx_otel_context_t   ctx;

    memset(buf, 'X', sizeof(buf));
    ngx_otel_traceparent_parse((u_char *) "00-" TP_MID "01", 55, &ctx);

    p = ngx_otel_traceparent_format(buf, ctx.trace_id, ctx.span_id, 0x01);

    ok(p == buf + NGX_OTEL_TRACEPARENT_LEN
       && memcmp(buf, "00-" TP_MID "01", 55) == 0 && buf[55] == 'X',
       "traceparent format sampled");

    p = ngx_otel_traceparent_format(buf, ctx.trace_id, ctx.span_id, 0x02);

    ok(p == buf + 55 && memcmp(buf, "00-" TP_MID "02", 55) == 0,
       "traceparent format random flag");

    p = ngx_otel_traceparent_format(buf, ctx.trace_id, ctx.span_id, 0xab);

    ok(p == buf + 55 && memcmp(buf, "00-" TP_MID "ab", 55) == 0,
       "traceparent format writes the flags byte as given");

    memset(buf, 'X', sizeof(buf));
    ngx_otel_b3_parse((u_char *) B3_TRACE "-" B3_SPAN, 49, &ctx);

    p = ngx_otel_b3_format(buf, ctx.trace_id, ctx.span_id, 1, 0);

    ok(p == buf + NGX_OTEL_B3_LEN
       && memcmp(buf, B3_TRACE "-" B3_SPAN "-1", 51) == 0 && buf[51] == 'X',
       "b3 format sampled");

    p = ngx_otel_b3_format(buf, ctx.trace_id, ctx.span_id, 0, 0);

    ok(p == buf + 51 && memcmp(buf, B3_TRACE "-" B3_SPAN "-0", 51) == 0,
       "b3 format not sampled");

    p = ngx_otel_b3_format(buf, ctx.trace_id, ctx.span_id, 1, 1);

    ok(p == buf + 51 && memcmp(buf, B3_TRACE "-" B3_SPAN "-d", 51) == 0,
       "b3 format debug");

    p = ngx_otel_b3_format(buf, ctx.trace_id, ctx.span_id, 0, 1);

    ok(p == buf + 51 && memcmp(buf, B3_TRACE "-" B3_SPAN "-d", 51) == 0,
       "b3 format debug wins over not sampled");

    /* round trips of random ids */

    ngx_otel_trace_id_generate(trace);
    ngx_otel_span_id_generate(span);

    ngx_otel_traceparent_format(buf, trace, span, 0x03);

    ok(ngx_otel_traceparent_parse(buf, 55, &ctx) == NGX_OK
       && memcmp(ctx.trace_id, trace, 16) == 0
       && memcmp(ctx.span_id, span, 8) == 0 && ctx.flags == 3,
       "traceparent round trip");

    ngx_otel_b3_format(buf, trace, span, 0, 1);

    ok(ngx_otel_b3_parse(buf, 51, &ctx) == NGX_OK
       && memcmp(ctx.trace_id, trace, 16) == 0
       && memcmp(ctx.span_id, span, 8) == 0 && ctx.flags == 1 && ctx.debug,
       "b3 round trip");
}


/* tracestate */

static void
ts_lines(const char **lines, ngx_uint_t n, const char *expect,
    const char *desc)
{
    size_t       len;
    u_char       buf[NGX_OTEL_TRACESTATE_MAX_LEN + 64];
    ngx_str_t   *l;
    ngx_uint_t   i;

    l = malloc((n ? n : 1) * sizeof(ngx_str_t));
    if (l == NULL) {
        abort();
    }

    for (i = 0; i < n; i++) {
        l[i].len = strlen(lines[i]);
        l[i].data = copy(lines[i], l[i].len);
    }

    memset(buf, 'X', sizeof(buf));

    len = ngx_otel_tracestate_combine(l, n, buf);

    if (len == strlen(expect) && memcmp(buf, expect, len) == 0
        && buf[NGX_OTEL_TRACESTATE_MAX_LEN] == 'X'
        && len <= NGX_OTEL_TRACESTATE_MAX_LEN)
    {
        ok(1, "tracestate: %s", desc);

    } else {
        ok(0, "tracestate: %s", desc);
        diag("got %d bytes \"%.*s\"", (int) len, (int) len, buf);
        diag("expected %d bytes \"%s\"", (int) strlen(expect), expect);
    }

    for (i = 0; i < n; i++) {
        free(l[i].data);
    }

    free(l);
}


static void
ts(const char *line, const char *expect, const char *desc)
{
    ts_lines(&line, 1, expect, desc);
}


/* dst = a b c, without the format-overflow warnings of sprintf() */

static void
cat(char *dst, const char *a, const char *b, const char *c)
{
    strcpy(dst, a);
    strcat(dst, b);
    strcat(dst, c);
}


/* a member "key=vvv..." of exactly len characters */

static char *
member(char *dst, const char *key, size_t len, char fill)
{
    size_t  n;

    n = strlen(key);

    memcpy(dst, key, n);
    dst[n] = '=';
    memset(dst + n + 1, fill, len - n - 1);
    dst[len] = '\0';

    return dst + len;
}


static void
test_tracestate(void)
{
    int          i;
    char        *big, *p, *q, *expect;
    char         buf[4096], value[4096], key[4096];
    const char  *lines[8];

    ts("foo=1", "foo=1", "single member");
    ts("foo=1,bar=2", "foo=1,bar=2", "two members");
    ts("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
       "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "spec example");

    lines[0] = "foo=1,bar=2";
    lines[1] = "rojo=1,congo=2";
    lines[2] = "baz=3";
    ts_lines(lines, 3, "foo=1,bar=2,rojo=1,congo=2,baz=3",
             "three lines combined in order");

    ts("", "", "empty header");
    ts_lines(lines, 0, "", "no lines");

    lines[0] = "foo=1";
    lines[1] = "";
    ts_lines(lines, 2, "foo=1", "member then empty line");

    lines[0] = "";
    lines[1] = "foo=1";
    ts_lines(lines, 2, "foo=1", "empty line then member");

    lines[0] = "foo=1,";
    lines[1] = ",bar=2";
    ts_lines(lines, 2, "foo=1,bar=2", "commas at line edges");

    ts("foo=1 \t , \t bar=2, \t baz=3", "foo=1,bar=2,baz=3", "OWS 1");
    ts("foo=1\t \t,\t \tbar=2,\t \tbaz=3", "foo=1,bar=2,baz=3", "OWS 2");
    ts(" foo=1", "foo=1", "leading space");
    ts("\tfoo=1", "foo=1", "leading tab");
    ts("foo=1 ", "foo=1", "trailing space");
    ts("foo=1\t", "foo=1", "trailing tab");
    ts("\t foo=1 \t", "foo=1", "OWS both sides");
    ts(",,foo=1,, ,\t,bar=2,", "foo=1,bar=2", "empty members skipped");
    ts(" , ,\t, ", "", "only empty members");
    ts("foo= bar", "foo= bar", "leading space kept in value");
    ts("foo=a b", "foo=a b", "space inside value");
    ts("foo=  a  b  ", "foo=  a  b", "trailing spaces of value dropped");

    /* duplicates */

    ts("foo=1,foo=1", "", "duplicate key, same value");
    ts("foo=1,foo=2", "", "duplicate key, other value");

    lines[0] = "foo=1";
    lines[1] = "foo=1";
    ts_lines(lines, 2, "", "duplicate across lines, same value");

    lines[0] = "foo=1";
    lines[1] = "foo=2";
    ts_lines(lines, 2, "", "duplicate across lines, other value");

    ts("abc=1,abd=1,ab=1,abcd=1", "abc=1,abd=1,ab=1,abcd=1",
       "similar keys are not duplicates");
    ts("a@b=1,a@c=1,b@b=1,a=1", "a@b=1,a@c=1,b@b=1,a=1",
       "multi-tenant keys are not duplicates");
    ts("a@b=1,x=2,a@b=3", "", "duplicate multi-tenant key");

    /* keys */

    ts("foo =1", "", "space before =");
    ts("FOO=1", "", "uppercase key");
    ts("fOo=1", "", "mixed case key");
    ts("foo.bar=1", "", "dot in key");
    ts("=1", "", "empty key");
    ts("1foo=1", "", "simple key starting with a digit");
    ts("_foo=1", "", "key starting with _");
    ts("foo", "", "no =");
    ts("foo,bar=1", "", "member without =");
    ts("foo=1,bar", "", "last member without =");
    ts("f\xc3\xa9=1", "", "non-ASCII key");
    ts("a_-*/09z=1", "a_-*/09z=1", "all key chars");
    ts("foo@=1,bar=2", "", "empty system id");
    ts("@foo=1,bar=2", "", "empty tenant id");
    ts("foo@@bar=1,bar=2", "", "two @");
    ts("foo@bar@baz=1,bar=2", "", "two @ apart");
    ts("t@1v=1", "", "system id starting with a digit");
    ts("t@_v=1", "", "system id starting with _");
    ts("foo@bar=1", "foo@bar=1", "multi-tenant key");
    ts("1tenant@sys=1", "1tenant@sys=1", "tenant id starting with a digit");
    ts("t_-*/@s_-*/9=1", "t_-*/@s_-*/9=1", "multi-tenant all chars");

    memset(key, 'z', 256);
    strcpy(key + 256, "=1");
    lines[0] = "foo=1";
    lines[1] = key;
    cat(buf, "foo=1,", key, "");
    ts_lines(lines, 2, buf, "key of 256 chars");

    memset(key, 'z', 257);
    strcpy(key + 257, "=1");
    ts_lines(lines, 2, "", "key of 257 chars");

    memset(key, 'z', 400);
    strcpy(key + 400, "=1");
    ts_lines(lines, 2, "", "key of 400 chars");

    memset(key, 't', 241);
    key[241] = '@';
    memset(key + 242, 'v', 14);
    strcpy(key + 256, "=1");
    cat(buf, "foo=1,", key, "");
    ts_lines(lines, 2, buf, "tenant 241 and system 14 chars");

    memset(key, 't', 242);
    strcpy(key + 242, "@v=1");
    ts_lines(lines, 2, "", "tenant of 242 chars");

    strcpy(key, "t@vvvvvvvvvvvvvvv=1");
    ts_lines(lines, 2, "", "system of 15 chars");

    /* values */

    ts("foo=bar=baz", "", "= in value");
    ts("foo=,bar=3", "", "empty value");
    ts("foo=", "", "empty value at the end");
    ts("foo= ", "", "space-only value");
    ts("foo= \t", "", "OWS-only value");
    ts("foo=a\tb", "", "tab inside value");
    ts("foo=\tb", "", "tab before value");
    ts("foo=a\x7f", "", "DEL in value");
    ts("foo=a\x01", "", "control char in value");
    ts("foo=a\xc3\xa9", "", "non-ASCII value");
    ts("foo=a\r\nb", "", "CRLF in value");

    p = value;

    for (i = 0x20; i <= 0x7e; i++) {
        if (i != ',' && i != '=') {
            *p++ = (char) i;
        }
    }

    *p = '\0';
    cat(buf, "abcdefghijklmnopqrstuvwxyz0123456789_-*/=", value, "");
    ts(buf, buf, "all value chars");

    cat(buf, "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/=", value,
        "");
    ts(buf, buf, "all value chars, multi-tenant key (W3C test)");

    memset(value, 'v', 256);
    value[256] = '\0';
    cat(buf, "k=", value, "");
    lines[0] = "foo=1";
    lines[1] = buf;
    cat(key, "foo=1,", buf, "");
    ts_lines(lines, 2, key, "value of 256 chars");

    cat(buf, "k=", value, " \t ");
    cat(key, "k=", value, "");
    ts(buf, key, "value of 256 chars and OWS");

    memset(value, 'v', 257);
    value[257] = '\0';
    cat(buf, "k=", value, "");
    ts_lines(lines, 2, "", "value of 257 chars");

    /* member count */

    lines[0] = "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,"
               "bar07=07,bar08=08,bar09=09,bar10=10";
    lines[1] = "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,"
               "bar17=17,bar18=18,bar19=19,bar20=20";
    lines[2] = "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,"
               "bar27=27,bar28=28,bar29=29,bar30=30";
    lines[3] = "bar31=31,bar32=32";
    sprintf(buf, "%s,%s,%s,%s", lines[0], lines[1], lines[2],
             lines[3]);
    ts_lines(lines, 4, buf, "32 members kept");

    lines[3] = "bar31=31,,bar32=32, ,";
    ts_lines(lines, 4, buf, "32 members and empty ones kept");

    lines[3] = "bar31=31,bar32=32,bar33=33";
    ts_lines(lines, 4, "", "33 members: discarded");

    big = malloc(200000);
    if (big == NULL) {
        abort();
    }

    p = big;

    for (i = 0; i < 1000; i++) {
        p += sprintf(p, "k%d=%d,", i, i);
    }

    *--p = '\0';
    ts(big, "", "1000 members: discarded");

    /* length limits */

    p = buf;
    p = member(p, "long", 152, 'L');

    for (i = 0; i < 10; i++) {
        *p++ = ',';
        sprintf(key, "k%d", i);
        p = member(p, key, 43, 'a' + i);
    }

    expect = strchr(buf, ',') + 1;
    ts(buf, expect, "592 chars: the member over 128 dropped");

    p = buf;
    p = member(p, "l1", 200, '1');
    *p++ = ',';
    p = member(p, "s1", 100, 's');
    *p++ = ',';
    q = p;
    p = member(p, "l2", 200, '2');
    *p++ = ',';
    p = member(p, "s2", 50, 't');

    sprintf(value, "%.*s%s", (int) (q - buf), buf, p - 50);
    ts(buf, value, "553 chars: only the right-most long member dropped");

    p = buf;

    for (i = 0; i < 20; i++) {
        sprintf(key, "k%02d", i);
        p = member(p, key, 30, 'a' + i);
        *p++ = ',';
    }

    *--p = '\0';
    sprintf(value, "%.*s", 16 * 31 - 1, buf);
    ts(buf, value, "619 chars, no long member: 16 of 20 kept");

    p = buf;

    for (i = 0; i < 4; i++) {
        sprintf(key, "k%d", i);
        p = member(p, key, 126, 'a' + i);
        *p++ = ',';
    }

    p = member(p, "k4", 4, 'e');
    ok(strlen(buf) == 512, "512-char tracestate built");
    ts(buf, buf, "exactly 512 chars kept");

    *p++ = 'e';
    *p = '\0';
    sprintf(value, "%.*s", 4 * 127 - 1, buf);
    ts(buf, value, "513 chars: the last member dropped");

    /* the 512 chars above, and a member of 129 after them */

    *--p = '\0';
    strcpy(value, buf);
    *p++ = ',';
    member(p, "long", 129, 'L');
    ts(buf, value, "642 chars: the 129-char member dropped, 512 left");

    member(p, "k5", 10, 'f');
    ts(buf, value, "523 chars: the last member dropped, 512 left");

    p = buf;
    p = member(p, "k0", 128, 'a');
    q = p;

    for (i = 1; i < 5; i++) {
        *p++ = ',';
        snprintf(key, sizeof(key), "k%d", i);
        p = member(p, key, 100, 'a' + i);
    }

    sprintf(value, "%.*s", 128 + 3 * 101, buf);
    ts(buf, value, "532 chars: a 128-char member is not long");

    p = buf;
    p = member(p, "k0", 100, 'a');
    *p++ = ',';
    p = member(p, "k1", 500, 'b');
    ts(buf, "", "value too long makes it all invalid");

    memset(key, 'k', 256);
    key[256] = '=';
    memset(key + 257, 'v', 256);
    key[513] = '\0';
    ts(key, "", "a single 513-char member is dropped");

    memset(key, 'b', 200);
    key[200] = '\0';
    p = buf;
    p = member(p, key, 457, 'B');
    *p++ = ',';
    q = p;
    p = member(p, "small", 60, 's');
    ts(buf, q, "518 chars: the leftmost (and only) long member dropped");

    /* input size */

    memset(big, ' ', 100000);
    memcpy(big, "foo=1,", 6);
    big[100000] = '\0';
    ts(big, "", "100 kB input: discarded");

    memset(big, ',', 100000);
    memcpy(big + 50000, "foo=1", 5);
    ts(big, "", "100 kB of commas: discarded");

    memset(big, ' ', NGX_OTEL_TRACESTATE_MAX_INPUT);
    memcpy(big, "foo=1", 5);
    big[NGX_OTEL_TRACESTATE_MAX_INPUT] = '\0';
    ts(big, "foo=1", "input of exactly the cap");

    big[NGX_OTEL_TRACESTATE_MAX_INPUT] = ' ';
    big[NGX_OTEL_TRACESTATE_MAX_INPUT + 1] = '\0';
    ts(big, "", "input one over the cap");

    memset(big, ' ', 5000);
    big[5000] = '\0';
    memset(big + 5001, ' ', 5000);
    memcpy(big + 5001, "a=1", 3);
    big[10001] = '\0';

    lines[0] = big + 5001;

    for (i = 1; i < 8; i++) {
        lines[i] = big;
    }

    ts_lines(lines, 6, "a=1", "6 lines of 5000 bytes");
    ts_lines(lines, 8, "", "8 lines of 5000 bytes: over the cap");

    free(big);
}


/* ids */

static int
cmp64(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static void
test_ids(void)
{
    int         fds[2], status, i, dups, zero;
    u_char      a[16], b[16], c[16];
    pid_t       pid;
    double      ones;
    uint64_t   *ids, v;
    ngx_log_t   nlog;

    /* not seeded yet: the generator must still work */

    memset(a, 0, 16);
    memset(b, 0, 16);
    ngx_otel_trace_id_generate(a);
    ngx_otel_trace_id_generate(b);

    ok(!ngx_otel_id_is_zero(a, 16) && memcmp(a, b, 16) != 0,
       "ids before ngx_otel_random_init()");

    ngx_memzero(&nlog, sizeof(ngx_log_t));
    nlog.log_level = NGX_LOG_DEBUG;

    ok(ngx_otel_random_init(&nlog) == NGX_OK && log_calls == 0,
       "ngx_otel_random_init()");

    ngx_otel_trace_id_generate(a);
    ngx_otel_trace_id_generate(b);

    ok(!ngx_otel_id_is_zero(a, 16) && !ngx_otel_id_is_zero(b, 16)
       && memcmp(a, b, 16) != 0, "trace ids non-zero and different");

    ngx_otel_span_id_generate(a);
    ngx_otel_span_id_generate(b);

    ok(!ngx_otel_id_is_zero(a, 8) && !ngx_otel_id_is_zero(b, 8)
       && memcmp(a, b, 8) != 0, "span ids non-zero and different");

    memset(c, 0xee, 16);
    ngx_otel_span_id_generate(c);
    ok(c[8] == 0xee, "span id writes 8 bytes only");

    ok(ngx_otel_id_is_zero((u_char *) "\0\0\0\0\0\0\0\0", 8)
       && !ngx_otel_id_is_zero((u_char *) "\0\0\0\0\0\0\0\1", 8)
       && !ngx_otel_id_is_zero((u_char *) "\1\0\0\0\0\0\0\0", 8),
       "ngx_otel_id_is_zero()");

    ids = malloc(200000 * sizeof(uint64_t));
    if (ids == NULL) {
        abort();
    }

    ones = 0;
    zero = 0;

    for (i = 0; i < 100000; i++) {
        ngx_otel_trace_id_generate(a);

        memcpy(&ids[2 * i], a, 8);
        memcpy(&ids[2 * i + 1], a + 8, 8);

        zero |= ngx_otel_id_is_zero(a, 16);
        ones += __builtin_popcountll(ids[2 * i])
                + __builtin_popcountll(ids[2 * i + 1]);
    }

    qsort(ids, 200000, sizeof(uint64_t), cmp64);

    for (dups = 0, i = 1; i < 200000; i++) {
        dups += (ids[i] == ids[i - 1]);
    }

    ok(dups == 0 && !zero, "100000 trace ids unique and non-zero");

    ones /= 100000.0 * 128;
    ok(ones > 0.499 && ones < 0.501, "bit balance %.5f", ones);

    free(ids);

    /* a forked worker must not repeat its parent's sequence */

    if (pipe(fds) != 0) {
        abort();
    }

    pid = fork();

    if (pid == 0) {
        ngx_pid = getpid();
        ngx_otel_trace_id_generate(c);
        if (write(fds[1], c, 16) != 16) {
            _exit(1);
        }

        _exit(0);
    }

    ngx_otel_trace_id_generate(a);

    ok(pid > 0 && read(fds[0], c, 16) == 16 && memcmp(a, c, 16) != 0,
       "forked process without random_init reseeds");

    waitpid(pid, &status, 0);

    pid = fork();

    if (pid == 0) {
        ngx_pid = getpid();
        ngx_otel_random_init(NULL);
        ngx_otel_span_id_generate(c);
        if (write(fds[1], c, 8) != 8) {
            _exit(1);
        }

        _exit(0);
    }

    ngx_otel_span_id_generate(a);

    ok(pid > 0 && read(fds[0], c, 8) == 8 && memcmp(a, c, 8) != 0,
       "forked process with random_init differs");

    waitpid(pid, &status, 0);

    /* the ratio sampler */

    v = ngx_otel_ratio_bound(0.0);
    ok(v == 0, "ratio 0 bound");
    ok(ngx_otel_ratio_bound(-1.0) == 0, "ratio -1 bound");
    ok(ngx_otel_ratio_bound(NAN) == 0, "ratio NaN bound");
    ok(ngx_otel_ratio_bound(1.0) == (uint64_t) 1 << 63, "ratio 1 bound");
    ok(ngx_otel_ratio_bound(5.0) == (uint64_t) 1 << 63, "ratio 5 bound");
    ok(ngx_otel_ratio_bound(0.5) == (uint64_t) 1 << 62, "ratio 0.5 bound");
    ok(ngx_otel_ratio_bound(0.25) == (uint64_t) 1 << 61, "ratio 0.25 bound");
    ok(ngx_otel_ratio_bound(0.1) == (uint64_t) (0.1 * 9223372036854775808.0),
       "ratio 0.1 bound as Go computes it");
    ok(ngx_otel_ratio_bound(1e-300) == 0, "tiny ratio bound");

    memset(a, 0xff, 16);
    ok(ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(1.0)),
       "ratio 1 samples the largest id");
    ok(!ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.999999)),
       "ratio 0.999999 does not sample the largest id");

    memset(a, 0, 16);
    a[0] = 0xff;
    ok(!ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.0)),
       "ratio 0 never samples");
    ok(ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(1e-18)),
       "tiny ratio samples lower half 0 (only the last 8 bytes count)");
    a[15] = 1;
    ok(ngx_otel_ratio_sampled(a, 1), "bound 1: x>>1 == 0 sampled");
    a[15] = 2;
    ok(!ngx_otel_ratio_sampled(a, 1), "bound 1: x>>1 == 1 not sampled");

    /* 0x4000000000000000 >> 1 is 2^61: below 0.5 * 2^63, not below 0.25 */
    memset(a, 0, 16);
    a[8] = 0x40;
    ok(ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.5))
       && !ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.25)),
       "boundary at 2^61");
    a[15] = 0x01;
    ok(!ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.25)),
       "boundary at 2^61, low bit ignored");
    a[8] = 0x3f;
    memset(a + 9, 0xff, 7);
    ok(ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.25)),
       "just below 2^61");

    for (dups = 0, i = 0; i < 100000; i++) {
        ngx_otel_trace_id_generate(a);
        dups += ngx_otel_ratio_sampled(a, ngx_otel_ratio_bound(0.25));
    }

    ok(dups > 24000 && dups < 26000, "ratio 0.25 samples %d of 100000",
       dups);
}


int
main(void)
{
    ngx_pid = getpid();

    setvbuf(stdout, NULL, _IONBF, 0);

    test_ids();
    test_traceparent();
    test_b3();
    test_b3multi();
    test_format();
    test_tracestate();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
