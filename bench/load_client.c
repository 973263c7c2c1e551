/* The bench's load client in C: N WebSockets on one epoll loop, a few microseconds of
 * CPU per delivery, so that at 5,000 subscribers the client, not the server, is no
 * longer what the last subscriber waits for (the Python client needed ~10 us per
 * delivery: 50 ms of CPU per event at N = 5,000, as long as the fan-out itself).
 *
 * Driven by bench/harness.py over stdin/stdout, one line per command or report:
 *   stdin  "open K"    open K more connections (100 handshakes in flight at a time)
 *          "target K"  an event is complete when K sockets have it
 *          "report"    print the count of every seq seen
 *   stdout "opened OK FAILED"         once the K handshakes and welcomes are in
 *          "last SEQ MONO WALL JSON"  the K-th arrival of a task_update: its time on
 *                                     CLOCK_MONOTONIC (Python's perf_counter) and
 *                                     CLOCK_REALTIME (time.time), and its payload
 *          "close CODE" / "error TEXT"
 *          "counts SEQ:COUNT ..."     the answer to "report"
 * Build: cc -O2 -o load_client load_client.c (bench/harness.py does, on first use).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING, HANDSHAKE, WELCOME, OPEN, CLOSED };
enum { IN_FLIGHT = 100, STDIN_TAG = -1 };

typedef struct {
    int fd, state;
    char *buf;
    size_t len, cap;
} Conn;

static Conn *conns;
static int nconns, capconns, ep, port, pending, to_open, opening, opened_ok, opened_failed;
static long target = 1 << 30, *counts;
static size_t ncounts;
static const char *path;
static char rbuf[1 << 16];

static void die(const char *what) {
    perror(what);
    exit(2);
}

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void settle(int ok) { /* a connection's opening ended, one way or the other */
    pending--;
    if (ok) opened_ok++;
    else opened_failed++;
}

static void drop(Conn *c) {
    if (c->state == CLOSED) return;
    if (c->state < OPEN) settle(0);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = CLOSED;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

static void count(long seq, const char *json, size_t len) {
    if (seq < 0) return;
    if ((size_t)seq >= ncounts) {
        size_t grown = ncounts ? ncounts : 1024;
        while (grown <= (size_t)seq) grown *= 2;
        counts = realloc(counts, grown * sizeof *counts);
        if (!counts) die("realloc");
        memset(counts + ncounts, 0, (grown - ncounts) * sizeof *counts);
        ncounts = grown;
    }
    if (++counts[seq] == target) {
        double mono = clock_s(CLOCK_MONOTONIC), wall = clock_s(CLOCK_REALTIME);
        printf("last %ld %.9f %.6f %.*s\n", seq, mono, wall, (int)len, json);
    }
}

static void on_text(Conn *c, const char *p, size_t len) {
    static const char update[] = "{\"type\":\"task_update\"", welcome[] = "{\"type\":\"connected\"";
    if (len >= sizeof update - 1 && !memcmp(p, update, sizeof update - 1)) {
        const char *s = memmem(p, len, "\"seq\":", 6);
        long seq = -1;
        if (s) {
            seq = 0;
            for (s += 6; s < p + len && *s >= '0' && *s <= '9'; s++) seq = seq * 10 + (*s - '0');
        }
        count(seq, p, len);
    } else if (len >= sizeof welcome - 1 && !memcmp(p, welcome, sizeof welcome - 1)) {
        if (c->state == WELCOME) {
            c->state = OPEN;
            settle(1);
        }
    } else {
        printf("error %.*s\n", (int)(len < 200 ? len : 200), p);
    }
}

static void send_all(Conn *c, const char *p, size_t len) {
    while (len) { /* small frames on a socket whose buffer has room: no short writes */
        ssize_t n = write(c->fd, p, len);
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

/* Frames in data[0:size); returns how many bytes were consumed. */
static size_t frames(Conn *c, const unsigned char *data, size_t size) {
    size_t pos = 0;
    while (size - pos >= 2 && c->state != CLOSED) {
        size_t len = data[pos + 1] & 0x7F, head = 2;
        if (len == 126) {
            if (size - pos < 4) break;
            len = ((size_t)data[pos + 2] << 8) | data[pos + 3];
            head = 4;
        } else if (len == 127) {
            if (size - pos < 10) break;
            len = 0;
            for (int i = 2; i < 10; i++) len = (len << 8) | data[pos + i];
            head = 10;
        }
        if (size - pos < head + len) break;
        int opcode = data[pos] & 0x0F;
        const unsigned char *payload = data + pos + head;
        pos += head + len;
        if (opcode == 1) {
            on_text(c, (const char *)payload, len);
        } else if (opcode == 9 && len < 126) { /* pong, masked with a zero key */
            char pong[6 + 125] = {(char)0x8A, (char)(0x80 | len), 0, 0, 0, 0};
            memcpy(pong + 6, payload, len);
            send_all(c, pong, 6 + len);
        } else if (opcode == 8) {
            printf("close %d\n", len >= 2 ? (payload[0] << 8) | payload[1] : 1005);
        }
    }
    return pos;
}

static void keep(Conn *c, const char *p, size_t len) {
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->buf = realloc(c->buf, c->cap);
        if (!c->buf) die("realloc");
    }
    memcpy(c->buf + c->len, p, len);
    c->len += len;
}

static void on_readable(Conn *c) {
    ssize_t n = read(c->fd, rbuf, sizeof rbuf);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        drop(c);
        return;
    }
    const char *data = rbuf;
    size_t size = (size_t)n;
    int kept = c->len > 0; /* a partial frame or handshake came before: data is c->buf */
    if (kept) {
        keep(c, rbuf, size);
        data = c->buf;
        size = c->len;
    }
    if (c->state == HANDSHAKE) {
        const char *end = memmem(data, size, "\r\n\r\n", 4);
        if (!end) {
            if (!kept) keep(c, rbuf, size);
            return;
        }
        if (strncmp(data, "HTTP/1.1 101", 12)) {
            drop(c);
            return;
        }
        c->state = WELCOME;
        size_t skip = (size_t)(end + 4 - data);
        data += skip;
        size -= skip;
    }
    size_t used = frames(c, (const unsigned char *)data, size);
    if (c->state == CLOSED) return;
    size_t rest = size - used;
    if (kept) {
        memmove(c->buf, data + used, rest);
        c->len = rest;
    } else if (rest) {
        keep(c, data + used, rest);
    }
}

static void on_connected(Conn *c) {
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) {
        drop(c);
        return;
    }
    char req[1024];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       path, port);
    c->state = HANDSHAKE;
    send_all(c, req, (size_t)len);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void open_more(void) {
    while (to_open > 0 && pending < IN_FLIGHT) {
        to_open--;
        pending++;
        if (nconns == capconns) {
            capconns = capconns ? capconns * 2 : 1024;
            conns = realloc(conns, (size_t)capconns * sizeof *conns);
            if (!conns) die("realloc");
        }
        Conn *c = &conns[nconns];
        memset(c, 0, sizeof *c);
        c->state = CONNECTING;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c->fd < 0) {
            c->state = CLOSED;
            settle(0);
            continue;
        }
        nconns++;
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (unsigned)(c - conns)};
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) && errno != EINPROGRESS) {
            close(c->fd);
            c->state = CLOSED;
            settle(0);
            continue;
        }
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
}

static void command(char *line) {
    long k;
    if (sscanf(line, "open %ld", &k) == 1) {
        to_open += (int)k;
        opening = 1;
        opened_ok = opened_failed = 0;
        open_more();
    } else if (sscanf(line, "target %ld", &k) == 1) {
        target = k;
    } else if (!strncmp(line, "report", 6)) {
        printf("counts");
        for (size_t s = 0; s < ncounts; s++)
            if (counts[s]) printf(" %zu:%ld", s, counts[s]);
        printf("\n");
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT PATH\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    path = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = (unsigned)STDIN_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in)) die("epoll_ctl stdin");
    char line[256];
    size_t have = 0;
    struct epoll_event evs[1024];
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            unsigned tag = evs[i].data.u32;
            if (tag == (unsigned)STDIN_TAG) {
                ssize_t r = read(0, line + have, sizeof line - 1 - have);
                if (r <= 0) return 0; /* the harness is done: exit, closing every socket */
                have += (size_t)r;
                char *nl;
                while ((nl = memchr(line, '\n', have))) {
                    *nl = 0;
                    command(line);
                    have -= (size_t)(nl + 1 - line);
                    memmove(line, nl + 1, have);
                }
                if (have == sizeof line - 1) have = 0; /* no command is that long */
                continue;
            }
            Conn *c = &conns[tag];
            if (c->state == CONNECTING) on_connected(c);
            else if (c->state != CLOSED) on_readable(c);
        }
        if (to_open) open_more();
        if (opening && !pending && !to_open) {
            opening = 0;
            printf("opened %d %d\n", opened_ok, opened_failed);
        }
    }
}
