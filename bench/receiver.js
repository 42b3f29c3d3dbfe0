'use strict';

// bench/receiver.js: a minimal OTLP trace receiver for the benchmark, with
// Node.js's own http and http2 modules only (no npm packages).
//
//   node receiver.js GRPC_PORT HTTP_PORT
//
// GRPC_PORT: OTLP/gRPC over h2c (TraceService/Export);
// HTTP_PORT: OTLP/HTTP, POST /v1/traces, protobuf or JSON, gzip or not;
//            GET /stats answers {"requests":N,"spans":N,"errors":N}.
//
// It counts the spans of every request (walking the protobuf just deep
// enough: ResourceSpans.scope_spans.spans) and answers success.

const http = require('http');
const http2 = require('http2');
const zlib = require('zlib');

const stats = { requests: 0, spans: 0, errors: 0 };

function varint(buf, pos) {
    let v = 0, mul = 1, b;
    do {
        if (pos.p >= buf.length) {
            throw new Error('truncated varint');
        }
        b = buf[pos.p++];
        v += (b & 0x7f) * mul;
        mul *= 128;
    } while (b & 0x80);
    return v;
}

// calls fn(field, value) for each length-delimited field of a message
function fields(buf, fn) {
    const pos = { p: 0 };

    while (pos.p < buf.length) {
        const key = varint(buf, pos);
        const type = key & 7;

        switch (type) {
        case 0: varint(buf, pos); break;
        case 1: pos.p += 8; break;
        case 5: pos.p += 4; break;
        case 2: {
            const len = varint(buf, pos);
            fn(Math.floor(key / 8), buf.subarray(pos.p, pos.p + len));
            pos.p += len;
            break;
        }
        default: throw new Error('wire type ' + type);
        }
    }
}

function countProtobuf(buf) {
    let n = 0;

    fields(buf, (f, rs) => {             // resource_spans = 1
        if (f !== 1) return;
        fields(rs, (f, ss) => {          // scope_spans = 2
            if (f !== 2) return;
            fields(ss, (f) => {          // spans = 2
                if (f === 2) n++;
            });
        });
    });

    return n;
}

function countJson(buf) {
    let n = 0;
    const msg = JSON.parse(buf.toString());

    for (const rs of msg.resourceSpans || []) {
        for (const ss of rs.scopeSpans || []) {
            n += (ss.spans || []).length;
        }
    }

    return n;
}

function count(body, gzip, json) {
    if (gzip) {
        body = zlib.gunzipSync(body);
    }

    return json ? countJson(body) : countProtobuf(body);
}

function collect(stream, done) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => done(Buffer.concat(chunks)));
}

const grpc = http2.createServer();

grpc.on('stream', (stream, headers) => {
    collect(stream, (body) => {
        let status = '0';

        try {
            if (headers[':path'] !== '/opentelemetry.proto.collector.trace.v1'
                                    + '.TraceService/Export')
            {
                throw new Error('unknown path ' + headers[':path']);
            }

            let p = 0;

            // one or more length-prefixed messages
            while (p + 5 <= body.length) {
                const compressed = body[p];
                const len = body.readUInt32BE(p + 1);
                const msg = body.subarray(p + 5, p + 5 + len);
                stats.spans += count(msg, compressed === 1, false);
                p += 5 + len;
            }

            stats.requests++;

        } catch (e) {
            stats.errors++;
            status = '13';
        }

        stream.respond({ ':status': 200, 'content-type': 'application/grpc' },
                       { waitForTrailers: true });
        stream.on('wantTrailers', () => {
            stream.sendTrailers({ 'grpc-status': status });
        });
        stream.end(status === '0' ? Buffer.alloc(5) : undefined);
    });
});

const web = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/stats') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(stats) + '\n');
        return;
    }

    collect(req, (body) => {
        const json = /json/.test(req.headers['content-type'] || '');

        try {
            if (req.method !== 'POST' || req.url !== '/v1/traces') {
                throw new Error('not an OTLP request');
            }

            stats.spans += count(body,
                                 req.headers['content-encoding'] === 'gzip',
                                 json);
            stats.requests++;

        } catch (e) {
            stats.errors++;
            res.writeHead(400);
            res.end();
            return;
        }

        res.writeHead(200, { 'content-type': json ? 'application/json'
                                                  : 'application/x-protobuf' });
        res.end(json ? '{}' : '');
    });
});

grpc.listen(Number(process.argv[2]), '127.0.0.1');
web.listen(Number(process.argv[3]), '127.0.0.1');

for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
        process.stdout.write(JSON.stringify(stats) + '\n');
        process.exit(0);
    });
}
