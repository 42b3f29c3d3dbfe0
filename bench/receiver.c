/*
 * Copyright (C) ngx_otel_module authors
 */

/*
 * bench/receiver.c: an OTLP/HTTP trace receiver for the benchmark that
 * costs the CPU it shares with wrk as little as it can: one process, no
 * threads, poll(), each request body walked in place.
 *
 *   receiver PORT
 *
 * POST /v1/traces, protobuf (a JSON body's spans are counted by their
 * "spanId"), Content-Length or chunked, HTTP/1.1 keep-alive: the spans of
 * ResourceSpans.scope_spans.spans are counted and 200 answered; a body
 * that does not parse, or is compressed, is counted as an error and
 * answered 400.  GET /stats answers {"requests":N,"spans":N,"errors":N},
 * as bench/receiver.js does.  SIGTERM prints the same line and exits.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>


#define MAX_CLIENTS  64
#define READ_SIZE    (256 * 1024)
#define MAX_REQUEST  (256 * 1024 * 1024)


typedef struct {
    int             fd;
    char           *buf;
    size_t          len;
    size_t          size;
} client_t;


static unsigned long long  requests, spans, errors;
static volatile sig_atomic_t  stop;


static void
on_term(int signo)
{
    (void) signo;
    stop = 1;
}


/* a varint at *p, below end; -1 if it does not end there */

static int
varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    int  shift;

    *v = 0;

    for (shift = 0; shift < 64 && *p < end; shift += 7) {
        *v |= (uint64_t) (**p & 0x7f) << shift;

        if ((*(*p)++ & 0x80) == 0) {
            return 0;
        }
    }

    return -1;
}


/*
 * The length-delimited fields numbered "want" of the message [p, end):
 * at depth 0 it counts them, deeper it walks into each.  -1 if the
 * message does not parse.
 */

static long long
walk(const unsigned char *p, const unsigned char *end, int depth)
{
    static const uint64_t  want[] = { 1, 2, 2 };  /* resource_spans,
                                                      scope_spans, spans */
    long long  n, sub;
    uint64_t   key, len, skip;

    n = 0;

    while (p < end) {
        if (varint(&p, end, &key) != 0) {
            return -1;
        }

        switch (key & 7) {

        case 0:
            if (varint(&p, end, &skip) != 0) {
                return -1;
            }
            break;

        case 1:
            if (end - p < 8) {
                return -1;
            }
            p += 8;
            break;

        case 5:
            if (end - p < 4) {
                return -1;
            }
            p += 4;
            break;

        case 2:
            if (varint(&p, end, &len) != 0 || len > (uint64_t) (end - p)) {
                return -1;
            }

            if ((key >> 3) == want[2 - depth]) {
                if (depth == 0) {
                    n++;

                } else {
                    sub = walk(p, p + len, depth - 1);
                    if (sub < 0) {
                        return -1;
                    }
                    n += sub;
                }
            }

            p += len;
            break;

        default:
            return -1;
        }
    }

    return n;
}


static long long
count_json(const char *p, const char *end)
{
    long long  n;

    n = 0;

    while ((p = memmem(p, end - p, "\"spanId\"", 8)) != NULL) {
        n++;
        p += 8;
    }

    return n;
}


/* a header's value in [head, end), NULL if absent */

static const char *
header(const char *head, const char *end, const char *name, size_t *len)
{
    size_t       n;
    const char  *p, *eol, *v;

    n = strlen(name);

    for (p = memchr(head, '\n', end - head); p && p + 1 < end; p = eol) {
        p++;
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            return NULL;
        }

        if ((size_t) (eol - p) > n && p[n] == ':'
            && strncasecmp(p, name, n) == 0)
        {
            for (v = p + n + 1; v < eol && (*v == ' ' || *v == '\t'); v++) {
                /* void */
            }

            *len = eol - v;
            if (*len && v[*len - 1] == '\r') {
                (*len)--;
            }

            return v;
        }
    }

    return NULL;
}


static int
send_all(int fd, const char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        n = write(fd, p, len);

        /* the sockets block: a write waits for room */

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        p += n;
        len -= n;
    }

    return 0;
}


static int
answer(int fd, int status, const char *type, const char *body)
{
    char  out[512];
    int   n;

    n = snprintf(out, sizeof(out),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 status, status == 200 ? "OK" : "Bad Request", type,
                 strlen(body), body);

    return send_all(fd, out, n);
}


/*
 * A chunked body in place: its data moved to the front of [p, end).
 * The length of the data, or -1 if it is not complete (or not chunked).
 */

static long long
dechunk(char *p, char *end, char **after)
{
    char      *q, *eol, *next;
    size_t     total;
    uint64_t   size;

    q = p;
    total = 0;

    for ( ;; ) {
        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL) {
            return -1;
        }

        size = strtoull(p, &next, 16);
        if (next == p) {
            return -2;
        }

        p = eol + 2;

        if (size == 0) {
            /* no trailers: the last chunk's CRLF */
            if (end - p < 2) {
                return -1;
            }
            *after = p + 2;
            return (long long) total;
        }

        if ((uint64_t) (end - p) < size + 2) {
            return -1;
        }

        memmove(q + total, p, size);
        total += size;
        p += size + 2;
    }
}


/*
 * The complete requests at the front of the client's buffer, answered;
 * -1 if the connection must be closed.
 */

static int
serve(client_t *c)
{
    int          json, status;
    char        *head_end, *body, *after, *copy;
    size_t       vlen, hlen;
    long long    n, blen;
    const char  *v;
    char         stats[256];

    for ( ;; ) {
        head_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (head_end == NULL) {
            return 0;
        }

        body = head_end + 4;
        hlen = body - c->buf;

        if (c->len >= 4 && memcmp(c->buf, "GET ", 4) == 0) {
            snprintf(stats, sizeof(stats),
                     "{\"requests\":%llu,\"spans\":%llu,\"errors\":%llu}\n",
                     requests, spans, errors);

            if (answer(c->fd, 200, "application/json", stats) != 0) {
                return -1;
            }

            memmove(c->buf, body, c->len - hlen);
            c->len -= hlen;
            continue;
        }

        v = header(c->buf, head_end + 2, "Transfer-Encoding", &vlen);

        if (v && vlen == 7 && strncasecmp(v, "chunked", 7) == 0) {
            /* dechunk a copy: an incomplete body stays as it came */
            copy = malloc(c->len - hlen + 1);
            if (copy == NULL) {
                return -1;
            }

            memcpy(copy, body, c->len - hlen);
            blen = dechunk(copy, copy + (c->len - hlen), &after);

            if (blen == -1) {
                free(copy);
                return 0;
            }

            if (blen < 0) {
                free(copy);
                return -1;
            }

            memcpy(body, copy, blen);
            after = body + (after - copy);
            free(copy);

        } else {
            v = header(c->buf, head_end + 2, "Content-Length", &vlen);
            blen = v ? strtoll(v, NULL, 10) : 0;

            if (blen < 0 || (size_t) blen > MAX_REQUEST) {
                return -1;
            }

            if (c->len - hlen < (size_t) blen) {
                return 0;
            }

            after = body + blen;
        }

        v = header(c->buf, head_end + 2, "Content-Type", &vlen);
        json = v && memmem(v, vlen, "json", 4) != NULL;

        n = -1;

        if (memcmp(c->buf, "POST /v1/traces ", 16) == 0
            && header(c->buf, head_end + 2, "Content-Encoding", &vlen)
               == NULL)
        {
            n = json ? count_json(body, body + blen)
                     : walk((unsigned char *) body,
                            (unsigned char *) body + blen, 2);
        }

        if (n >= 0) {
            requests++;
            spans += n;
            status = 200;

        } else {
            errors++;
            status = 400;
        }

        if (answer(c->fd, status,
                   json ? "application/json" : "application/x-protobuf",
                   status == 200 && json ? "{}" : "")
            != 0)
        {
            return -1;
        }

        memmove(c->buf, after, c->buf + c->len - after);
        c->len -= after - c->buf;
    }
}


int
main(int argc, char **argv)
{
    int                 ls, fd, i, n, one;
    ssize_t             got;
    client_t            clients[MAX_CLIENTS];
    struct pollfd       pfd[MAX_CLIENTS + 1];
    struct sockaddr_in  sin;
    struct sigaction    sa;

    if (argc != 2) {
        fprintf(stderr, "usage: receiver PORT\n");
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ls = socket(AF_INET, SOCK_STREAM, 0);
    one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(atoi(argv[1]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(ls, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(ls, 128) != 0)
    {
        perror("receiver: bind/listen");
        return 1;
    }

    memset(clients, 0, sizeof(clients));

    for (i = 0; i < MAX_CLIENTS; i++) {
        clients[i].fd = -1;
    }

    while (!stop) {
        pfd[0].fd = ls;
        pfd[0].events = POLLIN;

        for (i = 0; i < MAX_CLIENTS; i++) {
            pfd[i + 1].fd = clients[i].fd;
            pfd[i + 1].events = POLLIN;
        }

        n = poll(pfd, MAX_CLIENTS + 1, 1000);
        if (n <= 0) {
            continue;
        }

        if (pfd[0].revents & POLLIN) {
            fd = accept(ls, NULL, NULL);

            for (i = 0; fd >= 0 && i < MAX_CLIENTS; i++) {
                if (clients[i].fd == -1) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof(one));
                    clients[i].fd = fd;
                    clients[i].len = 0;
                    break;
                }
            }

            if (fd >= 0 && i == MAX_CLIENTS) {
                close(fd);
            }
        }

        for (i = 0; i < MAX_CLIENTS; i++) {
            client_t  *c = &clients[i];

            if (c->fd == -1 || !(pfd[i + 1].revents & (POLLIN | POLLHUP))) {
                continue;
            }

            if (c->size - c->len < READ_SIZE) {
                if (c->size + READ_SIZE > MAX_REQUEST) {
                    goto close;
                }

                c->size = c->size ? c->size * 2 : 4 * READ_SIZE;
                c->buf = realloc(c->buf, c->size);
                if (c->buf == NULL) {
                    return 1;
                }
            }

            got = read(c->fd, c->buf + c->len, c->size - c->len);

            if (got > 0) {
                c->len += got;

                if (serve(c) == 0) {
                    continue;
                }
            }

            if (got < 0 && errno == EINTR) {
                continue;
            }

        close:

            close(c->fd);
            c->fd = -1;
            c->len = 0;
        }
    }

    printf("{\"requests\":%llu,\"spans\":%llu,\"errors\":%llu}\n",
           requests, spans, errors);

    return 0;
}
