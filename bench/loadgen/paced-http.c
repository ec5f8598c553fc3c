/*
 * Open-loop HTTP(S) load generator for bench/webhook.bench.ts and bench/service.bench.ts.
 *
 * Why C: a Node.js client on the same two cores stalls for milliseconds at a
 * time (its own GC, JIT and event loop), and those stalls land in the very
 * p99 the bench is meant to measure. This client costs microseconds per
 * request, like the kube-apiserver's Go client on its own machine.
 *
 * Request i is due at start + i / rate. It goes out on any idle connection of
 * a pool of keep-alive TLS connections (verified against a CA file for a host
 * name), so a slow response never holds back the requests after it: the load
 * stays open-loop and there is no coordinated omission. Latency is recorded
 * from the moment the request was written to the moment its response was
 * complete, and also from its scheduled time (which adds any lateness of this
 * client in sending: the kernel does not always wake a sleeping process on
 * time, and "from send" leaves that out).
 *
 * usage: paced-http PORT CA_FILE SERVER_NAME REQUESTS_FILE RATE COUNT CONNECTIONS OUT_FILE [spin] [warm=N]
 *   CA_FILE "-" means plain HTTP (no TLS) to the same port.
 *   "spin": poll without sleeping. Sends stay on time and responses are read
 *   the moment they land, at the cost of one core; without it, the client
 *   sleeps until the next send or a response, and the kernel does not always
 *   wake it on time (which "from schedule" then counts against the server).
 *   "warm=N": first send N requests at the same rate on the same connections and
 *   record nothing for them; the COUNT measured requests follow without a pause.
 *   A new process on new connections can be slower in its first seconds than a
 *   client and server that have been talking for a while.
 *   REQUESTS_FILE: complete HTTP/1.1 requests, each preceded by its length
 *   as a 4-byte big-endian integer; they are sent in turn.
 *   OUT_FILE: COUNT pairs of little-endian doubles (ms from send, ms from
 *   schedule), then the number of non-200 responses and the largest number
 *   of requests in flight at once, as doubles.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define BUF_SIZE (1 << 20)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "paced-http: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(2);
}

struct conn {
  SSL *ssl;
  int fd;
  long req; /* index of the request in flight, or -1 */
  double sent;
  size_t got;
  char *buf;
};

/* A complete response in c->buf: returns its status code, or 0 when more bytes are needed. */
static int response_complete(struct conn *c) {
  c->buf[c->got] = 0;
  char *end = strstr(c->buf, "\r\n\r\n");
  if (!end) return 0;
  char *cl = strcasestr(c->buf, "\r\ncontent-length:");
  size_t body = cl && cl < end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
  if (c->got < (size_t)(end - c->buf) + 4 + body) return 0;
  if (c->got > (size_t)(end - c->buf) + 4 + body) die("more bytes than one response (the server pipelined?)");
  return atoi(c->buf + 9);
}

int main(int argc, char **argv) {
  int spin = 0, bad = argc < 9;
  long warm = 0;
  for (int a = 9; a < argc; a++) {
    if (strcmp(argv[a], "spin") == 0) spin = 1;
    else if (strncmp(argv[a], "warm=", 5) == 0) warm = atol(argv[a] + 5);
    else bad = 1;
  }
  if (bad || warm < 0) die("usage: paced-http PORT CA_FILE SERVER_NAME REQUESTS_FILE RATE COUNT CONNECTIONS OUT_FILE [spin] [warm=N]");
  int port = atoi(argv[1]);
  const char *ca = argv[2], *name = argv[3], *reqfile = argv[4], *outfile = argv[8];
  double rate = atof(argv[5]);
  long count = atol(argv[6]);
  int nconns = atoi(argv[7]);
  if (port <= 0 || rate <= 0 || count <= 0 || nconns <= 0 || nconns > MAX_CONNS) die("bad PORT, RATE, COUNT or CONNECTIONS");

  FILE *f = fopen(reqfile, "rb");
  if (!f) die("cannot open REQUESTS_FILE");
  static unsigned char blob[BUF_SIZE];
  size_t blen = fread(blob, 1, sizeof blob, f);
  fclose(f);
  const unsigned char *reqs[64];
  int lens[64];
  int nreq = 0;
  for (size_t off = 0; off + 4 <= blen && nreq < 64;) {
    size_t l = ((size_t)blob[off] << 24) | ((size_t)blob[off + 1] << 16) | ((size_t)blob[off + 2] << 8) | blob[off + 3];
    if (off + 4 + l > blen) die("truncated REQUESTS_FILE");
    reqs[nreq] = blob + off + 4;
    lens[nreq++] = (int)l;
    off += 4 + l;
  }
  if (nreq == 0) die("empty REQUESTS_FILE");

  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  int plain = strcmp(ca, "-") == 0;
  if (!ctx || (!plain && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)) die("cannot load CA_FILE");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  int ep = epoll_create1(0);
  static struct conn conns[MAX_CONNS];
  for (int k = 0; k < nconns; k++) {
    struct conn *c = &conns[k];
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("cannot connect to 127.0.0.1");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!plain) {
      c->ssl = SSL_new(ctx);
      SSL_set_fd(c->ssl, c->fd);
      SSL_set_tlsext_host_name(c->ssl, name);
      SSL_set1_host(c->ssl, name);
      if (SSL_connect(c->ssl) != 1) die("TLS handshake failed");
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->req = -1;
    c->buf = malloc(BUF_SIZE);
    if (!c->buf) die("out of memory");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }

  /* Warm-up requests go first and are dropped when the results are written. */
  long measured = count;
  count += warm;
  double *out = malloc(sizeof(double) * (size_t)(2 * count + 2));
  if (!out) die("out of memory");
  double non200 = 0;
  int inflight = 0, max_inflight = 0;
  long next = 0, done = 0;
  int rr = 0;
  double start = now_ms() + 1;
  struct epoll_event evs[MAX_CONNS];
  while (done < count) {
    /* Send everything that is due, each on an idle connection. */
    double t = now_ms();
    while (next < count && start + (double)next * 1000.0 / rate <= t) {
      /* Round robin over idle connections, so none sits idle long enough for the server to close it. */
      struct conn *c = NULL;
      for (int k = 0; k < nconns && !c; k++) {
        rr = (rr + 1) % nconns;
        if (conns[rr].req < 0) c = &conns[rr];
      }
      if (!c) break; /* all busy: send it when one frees; its latency from schedule counts the wait */
      int w = c->ssl ? SSL_write(c->ssl, reqs[next % nreq], lens[next % nreq]) : (int)write(c->fd, reqs[next % nreq], (size_t)lens[next % nreq]);
      if (w != lens[next % nreq]) die("write failed");
      c->req = next;
      c->sent = t = now_ms();
      c->got = 0;
      out[2 * next + 1] = start + (double)next * 1000.0 / rate; /* due; turned into latency below */
      if (++inflight > max_inflight) max_inflight = inflight;
      next++;
    }
    /* Sleep until the next request is due or a response arrives, or (spin) just poll. */
    double left = spin ? 0 : next < count ? start + (double)next * 1000.0 / rate - now_ms() : 50;
    long long ns = left > 0 ? (long long)(left * 1e6) : 0;
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    int n = epoll_pwait2(ep, evs, MAX_CONNS, &ts, NULL);
    for (int e = 0; e < n; e++) {
      struct conn *c = evs[e].data.ptr;
      for (;;) {
        int r;
        if (c->ssl) {
          r = SSL_read(c->ssl, c->buf + c->got, (int)(BUF_SIZE - 1 - c->got));
          if (r <= 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) break;
        } else {
          r = (int)read(c->fd, c->buf + c->got, BUF_SIZE - 1 - c->got);
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        }
        if (r <= 0) die("read failed (connection closed?)");
        c->got += (size_t)r;
        int status = response_complete(c);
        if (!status) continue;
        if (c->req < 0) die("a response nobody asked for");
        double fin = now_ms();
        out[2 * c->req] = fin - c->sent;
        out[2 * c->req + 1] = fin - out[2 * c->req + 1];
        if (status != 200) non200++;
        c->req = -1;
        c->got = 0;
        inflight--;
        done++;
        break;
      }
    }
  }
  out[2 * count] = non200;
  out[2 * count + 1] = max_inflight;
  FILE *o = fopen(outfile, "wb");
  if (!o || fwrite(out + 2 * warm, sizeof(double), (size_t)(2 * measured + 2), o) != (size_t)(2 * measured + 2)) die("cannot write OUT_FILE");
  fclose(o);
  for (int k = 0; k < nconns; k++) close(conns[k].fd);
  return 0;
}
