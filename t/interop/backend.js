'use strict';

// Backend for t/interop/propagators.t: the OpenTelemetry JS SDK's own
// propagators, an implementation independent of ngx_otel_module.
//
// usage: node backend.js PORT         (listens on 127.0.0.1:PORT)
//
// GET /w3c..., /b3..., /b3multi...  (the first path segment picks the
//     format): extracts the context of the request's headers and answers
//     {"valid":true,"traceId":...,"spanId":...,"traceFlags":N,
//      "traceState":"...","debug":...,"headers":{...}} or {"valid":false,...}
//
// GET /all...: the same for each of the three formats, as
//     {"w3c":{...},"b3":{...},"b3multi":{...}}; b3multi is read with the
//     "b3" header left out, as B3Propagator prefers that header.
//
// GET /make?fmt=w3c|b3|b3multi[&sampled=0|1][&debug=1][&tracestate=...]:
//     creates a random valid span context and answers the headers that the
//     propagator of that format injects for it:
//     {"traceId":...,"spanId":...,"traceFlags":N,"headers":{...}}

const http = require('http');
const crypto = require('crypto');

const {
    propagation, trace, ROOT_CONTEXT, TraceFlags, createContextKey,
    defaultTextMapGetter, defaultTextMapSetter, isSpanContextValid,
} = require('@opentelemetry/api');
const {
    W3CTraceContextPropagator, TraceState,
} = require('@opentelemetry/core');
const {
    B3Propagator, B3InjectEncoding,
} = require('@opentelemetry/propagator-b3');

const propagators = {
    w3c: new W3CTraceContextPropagator(),
    b3: new B3Propagator({
        injectEncoding: B3InjectEncoding.SINGLE_HEADER,
    }),
    b3multi: new B3Propagator({
        injectEncoding: B3InjectEncoding.MULTI_HEADER,
    }),
};

// the key under which the B3 propagators keep the debug flag in a context
// (createContextKey() is Symbol.for(), so this is the very same key)

const B3_DEBUG_FLAG_KEY =
    createContextKey('OpenTelemetry Context Key B3 Debug Flag');

const PROPAGATION_HEADERS = [
    'traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid',
    'x-b3-sampled', 'x-b3-flags', 'x-b3-parentspanid',
];

// the request is handled synchronously, so switching the global propagator
// per request is safe

function use(fmt) {
    propagation.disable();
    propagation.setGlobalPropagator(propagators[fmt]);
}

function extract(fmt, headers) {
    use(fmt);

    const ctx = propagation.extract(ROOT_CONTEXT, headers,
        defaultTextMapGetter);
    const sc = trace.getSpanContext(ctx);

    if (!sc || !isSpanContextValid(sc)) {
        return { valid: false };
    }

    return {
        valid: true,
        traceId: sc.traceId,
        spanId: sc.spanId,
        traceFlags: sc.traceFlags,
        traceState: sc.traceState ? sc.traceState.serialize() : '',
        isRemote: sc.isRemote === true,
        debug: ctx.getValue(B3_DEBUG_FLAG_KEY) || '',
    };
}

function make(fmt, params) {
    const sc = {
        traceId: crypto.randomBytes(16).toString('hex'),
        spanId: crypto.randomBytes(8).toString('hex'),
        traceFlags: params.get('sampled') === '0'
            ? TraceFlags.NONE : TraceFlags.SAMPLED,
        isRemote: false,
    };

    if (params.has('tracestate')) {
        sc.traceState = new TraceState(params.get('tracestate'));
    }

    let ctx = trace.setSpanContext(ROOT_CONTEXT, sc);

    if (params.get('debug') === '1') {
        ctx = ctx.setValue(B3_DEBUG_FLAG_KEY, fmt === 'b3multi' ? '1' : 'd');
    }

    use(fmt);

    const carrier = {};
    propagation.inject(ctx, carrier, defaultTextMapSetter);

    return {
        traceId: sc.traceId,
        spanId: sc.spanId,
        traceFlags: sc.traceFlags,
        headers: carrier,
    };
}

function received(headers) {
    const h = {};

    for (const name of PROPAGATION_HEADERS) {
        if (headers[name] !== undefined) {
            h[name] = headers[name];
        }
    }

    return h;
}

function handle(req) {
    const url = new URL(req.url, 'http://backend');
    const first = url.pathname.split('/')[1] || '';

    if (first === 'make') {
        const fmt = url.searchParams.get('fmt');

        if (!propagators[fmt]) {
            return [400, { error: 'fmt must be w3c, b3 or b3multi' }];
        }

        return [200, make(fmt, url.searchParams)];
    }

    if (first === 'all') {
        const noSingle = Object.assign({}, req.headers);
        delete noSingle.b3;

        return [200, {
            w3c: extract('w3c', req.headers),
            b3: extract('b3', req.headers),
            b3multi: extract('b3multi', noSingle),
            headers: received(req.headers),
        }];
    }

    if (propagators[first]) {
        const r = extract(first, req.headers);
        r.headers = received(req.headers);
        return [200, r];
    }

    return [404, { error: 'unknown path ' + url.pathname }];
}

const port = parseInt(process.argv[2], 10);

if (!(port > 0)) {
    console.error('usage: node backend.js PORT');
    process.exit(2);
}

const server = http.createServer((req, res) => {
    let status, body;

    try {
        [status, body] = handle(req);
    } catch (e) {
        [status, body] = [500, { error: String(e && e.stack || e) }];
    }

    const json = JSON.stringify(body) + '\n';

    // the request body, if any, is not needed
    req.resume();

    res.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(json),
        'Connection': 'close',
    });
    res.end(json);
});

server.listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));
