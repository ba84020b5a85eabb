/*
 * The echo load generator, in C: the same job and the same messages as
 * src/loadgen.ts, at a fraction of its CPU per request, so that on a small
 * machine the generator is not what is measured.
 *
 *   loadgen-native --mode kept --transport tcp --host 127.0.0.1 --port 9000 \
 *                  --connections 50 --lineLength 64 --warmupMs 1000 ...
 *
 * Flags are the fields of LoadConfig (src/load-config.ts), each `--name value`.
 * It opens its connections, prints a `ready` JSON line on stdout, waits for a
 * `start` line on stdin (`release` in hold mode), runs warm-up and window
 * (printing `window` lines when the window starts and ends), waits up to
 * graceMs for outstanding replies, prints a `result` JSON line and exits.
 * It exits at once when stdin closes (its parent went away).
 *
 * Every reply is checked byte for byte against the request it answers. Each
 * request's bytes come from a xorshift32 stream seeded per process and
 * connection exactly as in loadgen.ts, so both generators send the same bytes.
 *
 * Plain C99 with POSIX and Linux epoll; one thread; nonblocking sockets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ config */

enum { MODE_KEPT, MODE_SHORT, MODE_HOLD };
enum { T_TCP, T_UNIX, T_UDP, T_UNIXDGRAM };

static struct {
  int mode, transport;
  const char *host, *path, *client_path;
  int port;
  int connections, line_length;
  double warmup_ms, duration_ms, grace_ms, reply_timeout_ms, connect_timeout_ms;
  int connect_parallelism;
  double seed;
} cfg = {MODE_KEPT, T_TCP, "127.0.0.1", NULL, NULL, 0, 1, 64, 0, 1000, 2000, 1000, 15000, 4, 1};

/* --prefix HEX: bytes sent first on every stream connection (a PROXY protocol header). */
static unsigned char *prefix;
static size_t prefix_length;

static void die(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("loadgen-native: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(2);
}

static double number_arg(const char *name, const char *value) {
  char *end = NULL;
  double n = strtod(value, &end);
  if (end == value || *end != '\0' || !isfinite(n)) die("--%s: not a number: %s", name, value);
  return n;
}

static void parse_prefix(const char *hex) {
  size_t n = strlen(hex);
  if (n % 2 != 0) die("--prefix: an even number of hex digits, not %s", hex);
  prefix_length = n / 2;
  prefix = malloc(prefix_length ? prefix_length : 1);
  for (size_t i = 0; i < prefix_length; i++) {
    unsigned int byte;
    if (sscanf(hex + 2 * i, "%2x", &byte) != 1) die("--prefix: not hex: %s", hex);
    prefix[i] = (unsigned char)byte;
  }
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i += 2) {
    const char *flag = argv[i];
    if (strncmp(flag, "--", 2) != 0 || i + 1 >= argc) die("usage: --name value ... (got %s)", flag);
    const char *name = flag + 2, *value = argv[i + 1];
    if (!strcmp(name, "mode")) {
      if (!strcmp(value, "kept")) cfg.mode = MODE_KEPT;
      else if (!strcmp(value, "short")) cfg.mode = MODE_SHORT;
      else if (!strcmp(value, "hold")) cfg.mode = MODE_HOLD;
      else die("--mode: kept, short or hold, not %s", value);
    } else if (!strcmp(name, "transport")) {
      if (!strcmp(value, "tcp")) cfg.transport = T_TCP;
      else if (!strcmp(value, "unix")) cfg.transport = T_UNIX;
      else if (!strcmp(value, "udp")) cfg.transport = T_UDP;
      else if (!strcmp(value, "unixdgram")) cfg.transport = T_UNIXDGRAM;
      else die("--transport: tcp, unix, udp or unixdgram, not %s", value);
    } else if (!strcmp(name, "host")) cfg.host = value;
    else if (!strcmp(name, "path")) cfg.path = value;
    else if (!strcmp(name, "clientPath")) cfg.client_path = value;
    else if (!strcmp(name, "port")) cfg.port = (int)number_arg(name, value);
    else if (!strcmp(name, "connections")) cfg.connections = (int)number_arg(name, value);
    else if (!strcmp(name, "lineLength")) cfg.line_length = (int)number_arg(name, value);
    else if (!strcmp(name, "warmupMs")) cfg.warmup_ms = number_arg(name, value);
    else if (!strcmp(name, "durationMs")) cfg.duration_ms = number_arg(name, value);
    else if (!strcmp(name, "graceMs")) cfg.grace_ms = number_arg(name, value);
    else if (!strcmp(name, "replyTimeoutMs")) cfg.reply_timeout_ms = number_arg(name, value);
    else if (!strcmp(name, "connectTimeoutMs")) cfg.connect_timeout_ms = number_arg(name, value);
    else if (!strcmp(name, "connectParallelism"))
      cfg.connect_parallelism = (int)number_arg(name, value);
    else if (!strcmp(name, "seed")) cfg.seed = number_arg(name, value);
    else if (!strcmp(name, "prefix")) parse_prefix(value);
    else die("unknown flag --%s", name);
  }
  if (cfg.connections < 0) die("--connections must not be negative");
  if (cfg.line_length < 2) cfg.line_length = 2; /* as LineMaker: Math.max(2, length) */
  if (cfg.connect_parallelism < 1) cfg.connect_parallelism = 1;
  if ((cfg.transport == T_UNIX || cfg.transport == T_UNIXDGRAM) && cfg.path == NULL)
    die("--path is required for transport unix and unixdgram");
  if (cfg.transport == T_UNIXDGRAM && cfg.client_path == NULL)
    die("--clientPath is required for transport unixdgram");
  if ((cfg.transport == T_TCP || cfg.transport == T_UDP) && cfg.port <= 0)
    die("--port is required for transport tcp and udp");
  if (cfg.mode == MODE_SHORT && (cfg.transport == T_UDP || cfg.transport == T_UNIXDGRAM))
    die("--mode short needs a stream transport (tcp or unix)");
}

/* ------------------------------------------------------------ time, output */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void write_all(const char *text, size_t length) {
  while (length > 0) {
    ssize_t n = write(STDOUT_FILENO, text, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(0); /* the parent is gone */
    }
    text += n;
    length -= (size_t)n;
  }
}

/* A growing text buffer for JSON lines. */
static char *out_text;
static size_t out_length, out_capacity;

static void out(const char *format, ...) {
  for (;;) {
    va_list args;
    va_start(args, format);
    size_t room = out_capacity - out_length;
    int n = vsnprintf(out_text ? out_text + out_length : NULL, room, format, args);
    va_end(args);
    if (n < 0) die("vsnprintf failed");
    if ((size_t)n < room) {
      out_length += (size_t)n;
      return;
    }
    out_capacity = (out_capacity + (size_t)n + 1) * 2;
    out_text = realloc(out_text, out_capacity);
    if (out_text == NULL) die("out of memory");
  }
}

static void out_flush(void) {
  write_all(out_text, out_length);
  out_length = 0;
}

/* ------------------------------------------------------------ stats */

#define BUCKETS 1200
#define MAX_CODES 64

static struct {
  int measuring, running;
  uint64_t completed, sent, mismatches, unexpected_bytes, lost, late, retries, errors;
  uint64_t counts[BUCKETS];
  uint64_t total;
  double max_micros;
  struct {
    char code[24];
    uint64_t count;
  } codes[MAX_CODES];
  int ncodes;
} st;

/* The same buckets as src/histogram.ts: 2 % wide, bucket 0 below 1 µs. */
static double log_growth;

static void record(double micros) {
  int bucket = 0;
  if (micros >= 1) {
    double b = 1 + floor(log(micros) / log_growth);
    bucket = b > BUCKETS - 1 ? BUCKETS - 1 : (int)b;
  }
  st.counts[bucket]++;
  st.total++;
  if (micros > st.max_micros) st.max_micros = micros;
}

static const char *errno_code(int error) {
  switch (error) {
#define E(name) \
  case name:    \
    return #name;
    E(EAGAIN) E(ECONNRESET) E(ECONNREFUSED) E(EPIPE) E(ETIMEDOUT) E(ENOENT) E(EADDRINUSE)
    E(EADDRNOTAVAIL) E(EMFILE) E(ENFILE) E(ENOBUFS) E(ENOMEM) E(EACCES) E(EPERM) E(EHOSTUNREACH)
    E(ENETUNREACH) E(ECONNABORTED) E(EINVAL) E(ENOTCONN) E(EMSGSIZE) E(ENOTSOCK) E(EISCONN)
    E(EBADF) E(EINTR) E(EPROTO) E(ENOSPC) E(ENAMETOOLONG) E(EDESTADDRREQ) E(ENOTDIR)
    E(EAFNOSUPPORT) E(EPROTOTYPE) E(EALREADY) E(EINPROGRESS) E(ENETDOWN) E(EHOSTDOWN)
#undef E
    default:
      return NULL;
  }
}

/* Counts one connection error by code (as the Node generator's Stats.error). */
static void count_error(int error) {
  char fallback[24];
  const char *code = errno_code(error);
  if (code == NULL) {
    snprintf(fallback, sizeof fallback, "ERRNO_%d", error);
    code = fallback;
  }
  st.errors++;
  for (int i = 0; i < st.ncodes; i++) {
    if (!strcmp(st.codes[i].code, code)) {
      st.codes[i].count++;
      return;
    }
  }
  if (st.ncodes < MAX_CODES) {
    snprintf(st.codes[st.ncodes].code, sizeof st.codes[0].code, "%s", code);
    st.codes[st.ncodes++].count = 1;
  }
}

static void out_codes(void) {
  out("{");
  for (int i = 0; i < st.ncodes; i++)
    out("%s\"%s\":%llu", i ? "," : "", st.codes[i].code, (unsigned long long)st.codes[i].count);
  out("}");
}

/* ------------------------------------------------------------ flows */

enum { FLOW_STREAM, FLOW_SHORT, FLOW_DGRAM };

#define LATE_MEMORY 4096

typedef struct flow {
  int kind;
  int index;
  int fd; /* -1: none */
  uint32_t rng;
  unsigned char *line; /* the request outstanding (or last sent) */
  uint64_t seq;        /* requests made on this flow */
  int expecting;       /* a request waits for (part of) its reply */
  size_t got;          /* stream: reply bytes received so far */
  int bad;             /* stream: a received byte differed */
  size_t written;      /* stream: request bytes written so far */
  int out_armed;       /* EPOLLOUT is registered */
  int connecting;      /* a nonblocking connect is in progress */
  int prefix_pending;  /* the --prefix bytes are still to be sent on this connection */
  double sent_at;      /* kept/dgram: when the request was sent; short: when the connect began */
  /* stream (kept/hold) */
  int closed, ready, first_pending;
  /* short */
  int replied, sent, failed;
  /* short: reconnect after a failure */
  double timer_at; /* 0: none */
  /* dgram: sends refused with EAGAIN for the current request; waiting in the send queue */
  int retry_count, queued;
  /* dgram */
  char *bind_path;
  unsigned char *late_lines; /* LATE_MEMORY lines, allocated on first use */
  uint32_t *late_hash;
  int late_count;
} flow;

static flow *flows;
static int nflows;
static int epfd;
static int active_timers;
static size_t L; /* line length */

static struct sockaddr_storage server_addr;
static socklen_t server_addr_length;
static int server_family;

static const unsigned char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The next request line of a flow: xorshift32, exactly as LineMaker in loadgen.ts. */
static void make_line(flow *f) {
  uint32_t x = f->rng;
  for (size_t i = 0; i + 1 < L; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    f->line[i] = ALPHABET[x & 63];
  }
  f->rng = x;
  f->line[L - 1] = '\n';
  f->seq++;
}

static void epoll_set(flow *f, int op, uint32_t events) {
  struct epoll_event event;
  memset(&event, 0, sizeof event);
  event.events = events;
  event.data.ptr = f;
  if (epoll_ctl(epfd, op, f->fd, &event) < 0) die("epoll_ctl: %s", strerror(errno));
}

static void arm_out(flow *f, int on) {
  if (f->out_armed == on) return;
  f->out_armed = on;
  epoll_set(f, EPOLL_CTL_MOD, EPOLLIN | (on ? EPOLLOUT : 0));
}

static void set_timer(flow *f, double at) {
  if (f->timer_at == 0) active_timers++;
  f->timer_at = at;
}

static void clear_timer(flow *f) {
  if (f->timer_at != 0) active_timers--;
  f->timer_at = 0;
}

static void close_fd(flow *f) {
  if (f->fd >= 0) close(f->fd); /* also leaves the epoll set */
  f->fd = -1;
  f->out_armed = 0;
  f->connecting = 0;
}

/* Starts a nonblocking stream connect; returns 0, or an errno when it failed at once. */
static int stream_connect(flow *f) {
  int fd = socket(server_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  if (cfg.transport == T_TCP) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  f->fd = fd;
  f->out_armed = 0;
  f->prefix_pending = prefix_length > 0;
  if (connect(fd, (struct sockaddr *)&server_addr, server_addr_length) == 0) {
    f->connecting = 0;
    epoll_set(f, EPOLL_CTL_ADD, EPOLLIN);
    return 0;
  }
  if (errno == EINPROGRESS) {
    f->connecting = 1;
    f->out_armed = 1;
    epoll_set(f, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
    return 0;
  }
  int error = errno;
  close_fd(f);
  return error;
}

/* Writes what is left of the request; returns 0, or an errno when the write failed. */
static int stream_write(flow *f) {
  if (f->prefix_pending) {
    /* A few dozen bytes on a fresh connection: the socket buffer takes them whole. MSG_MORE,
       as HAProxy sends its PROXY header when data follows: one segment with the line. */
    ssize_t n = send(f->fd, prefix, prefix_length, MSG_NOSIGNAL | MSG_MORE);
    if (n != (ssize_t)prefix_length) return n < 0 ? errno : EPIPE;
    f->prefix_pending = 0;
  }
  while (f->written < L) {
    ssize_t n = send(f->fd, f->line + f->written, L - f->written, MSG_NOSIGNAL);
    if (n > 0) {
      f->written += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      arm_out(f, 1);
      return 0;
    }
    return n < 0 ? errno : EPIPE;
  }
  if (f->out_armed && !f->connecting) arm_out(f, 0);
  return 0;
}

/* ---------------- kept and held stream connections (KeptStream) */

static int opening_inflight, opening_next, opening_ok;
static void stream_send(flow *f);

static void open_done(flow *f, int ok) {
  (void)f;
  opening_inflight--;
  if (ok) opening_ok++;
}

/* The connection closed (error: its errno, or 0 at end of stream). */
static void stream_gone(flow *f, int error) {
  if (f->closed) return;
  if (error) count_error(error);
  if (f->expecting) st.lost++;
  f->expecting = 0;
  f->closed = 1;
  close_fd(f);
  if (f->first_pending) {
    f->first_pending = 0;
    open_done(f, 0);
  }
}

static void stream_send(flow *f) {
  if (f->fd < 0 || f->closed) return;
  make_line(f);
  f->expecting = 1;
  f->got = 0;
  f->bad = 0;
  f->written = 0;
  st.sent++;
  f->sent_at = now_ms();
  if (!f->connecting) {
    int error = stream_write(f);
    if (error) stream_gone(f, error);
  }
}

static void stream_reply(flow *f, int ok) {
  if (f->first_pending) {
    f->first_pending = 0;
    f->ready = ok;
    open_done(f, ok);
    return;
  }
  if (ok && st.measuring) {
    st.completed++;
    record((now_ms() - f->sent_at) * 1000);
  }
  if (cfg.mode == MODE_KEPT && st.running) stream_send(f);
}

static void stream_open(flow *f) {
  opening_inflight++;
  f->first_pending = 1;
  int error = stream_connect(f);
  if (error) {
    stream_gone(f, error);
    return;
  }
  if (!f->connecting) stream_send(f);
}

/* ---------------- short connections (ShortSlot) */

static void short_next(flow *f);

static void short_closed(flow *f) {
  close_fd(f);
  if (f->replied) {
    if (st.measuring) {
      st.completed++;
      record((now_ms() - f->sent_at) * 1000);
    }
  } else if (f->sent && f->expecting && !f->failed) {
    st.lost++;
  }
  f->expecting = 0;
  /* A refused connect (a full backlog on a Unix socket fails at once) is retried after 1 ms,
     so that a tight retry loop does not steal the server's CPU. */
  if (f->failed) {
    set_timer(f, now_ms() + 1);
  } else {
    short_next(f);
  }
}

static void short_failed(flow *f, int error) {
  f->failed = 1;
  count_error(error);
  short_closed(f);
}

static void short_connected(flow *f) {
  make_line(f);
  f->expecting = 1;
  f->got = 0;
  f->bad = 0;
  f->written = 0;
  f->sent = 1;
  st.sent++;
  int error = stream_write(f);
  if (error) short_failed(f, error);
}

static void short_next(flow *f) {
  if (!st.running) return;
  f->sent_at = now_ms();
  f->replied = f->sent = f->failed = 0;
  f->expecting = 0;
  int error = stream_connect(f);
  if (error) {
    short_failed(f, error);
    return;
  }
  if (!f->connecting) short_connected(f);
}

static void short_reply(flow *f, int ok) {
  f->replied = ok;
  /* socket.end(): half-close, then wait for the server's end */
  shutdown(f->fd, SHUT_WR);
}

/* ---------------- stream reads (StreamChecker) */

static void stream_push(flow *f, const unsigned char *chunk, size_t length) {
  size_t offset = 0;
  while (offset < length) {
    if (f->fd < 0) return;
    if (!f->expecting) {
      st.mismatches++;
      st.unexpected_bytes += length - offset;
      return;
    }
    size_t n = L - f->got;
    if (n > length - offset) n = length - offset;
    if (!f->bad && memcmp(f->line + f->got, chunk + offset, n) != 0) f->bad = 1;
    f->got += n;
    offset += n;
    if (f->got == L) {
      f->expecting = 0;
      if (f->bad) st.mismatches++;
      if (f->kind == FLOW_SHORT) short_reply(f, !f->bad);
      else stream_reply(f, !f->bad);
    }
  }
}

static unsigned char read_buffer[65536];

static void stream_event(flow *f, uint32_t events) {
  if (f->connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0) error = errno;
    if (error == 0 && (events & EPOLLHUP) && !(events & EPOLLOUT)) error = ECONNREFUSED;
    if (error) {
      if (f->kind == FLOW_SHORT) short_failed(f, error);
      else stream_gone(f, error);
      return;
    }
    f->connecting = 0;
    if (f->kind == FLOW_SHORT) {
      short_connected(f);
    } else if (f->expecting) {
      int werror = stream_write(f); /* the request was made while connecting */
      if (werror) stream_gone(f, werror);
    } else {
      stream_send(f);
    }
    if (f->fd >= 0 && f->written == L) arm_out(f, 0);
    return;
  }
  if ((events & EPOLLOUT) && f->expecting && f->written < L) {
    int error = stream_write(f);
    if (error) {
      if (f->kind == FLOW_SHORT) short_failed(f, error);
      else stream_gone(f, error);
      return;
    }
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  ssize_t n = recv(f->fd, read_buffer, sizeof read_buffer, 0);
  if (n > 0) {
    stream_push(f, read_buffer, (size_t)n);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  int error = n < 0 ? errno : 0;
  if (f->kind == FLOW_SHORT) {
    if (error) short_failed(f, error);
    else short_closed(f);
  } else {
    stream_gone(f, error);
  }
}

/* ---------------- datagrams (DatagramFlow) */

static uint32_t hash_bytes(const unsigned char *bytes, size_t length) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < length; i++) h = (h ^ bytes[i]) * 16777619u;
  return h;
}

static void late_add(flow *f) {
  if (f->late_lines == NULL) {
    f->late_lines = malloc(LATE_MEMORY * L);
    f->late_hash = malloc(LATE_MEMORY * sizeof *f->late_hash);
    if (f->late_lines == NULL || f->late_hash == NULL) die("out of memory");
  }
  if (f->late_count >= LATE_MEMORY) f->late_count = 0;
  memcpy(f->late_lines + (size_t)f->late_count * L, f->line, L);
  f->late_hash[f->late_count++] = hash_bytes(f->line, L);
}

static int late_remove(flow *f, const unsigned char *message, size_t length) {
  if (length != L || f->late_count == 0) return 0;
  uint32_t h = hash_bytes(message, length);
  for (int i = 0; i < f->late_count; i++) {
    unsigned char *line = f->late_lines + (size_t)i * L;
    if (f->late_hash[i] != h || memcmp(line, message, L) != 0) continue;
    int last = --f->late_count;
    if (i != last) {
      memcpy(line, f->late_lines + (size_t)last * L, L);
      f->late_hash[i] = f->late_hash[last];
    }
    return 1;
  }
  return 0;
}

/* Sends the current request once; returns 0, or the errno of a refused send. */
static int dgram_try(flow *f) {
  ssize_t n;
  do {
    n = cfg.transport == T_UDP
            ? send(f->fd, f->line, L, 0)
            : sendto(f->fd, f->line, L, 0, (struct sockaddr *)&server_addr, server_addr_length);
  } while (n < 0 && errno == EINTR);
  return n >= 0 ? 0 : errno == EWOULDBLOCK ? EAGAIN : errno;
}

/*
 * Requests whose send was refused with EAGAIN: the server's receive queue is full
 * (net.unix.max_dgram_qlen, 10 by default). A blocking client would wait in sendto;
 * here they wait in this queue, in order, and are sent again after each batch of
 * events (a reply means the server took a datagram off its queue) or 1 ms after the
 * last refusal. While any request waits, new ones join the back of the queue: sockets
 * retrying each on its own would let the ones that just got a reply refill the
 * server's queue first and starve the others until their requests time out.
 */
static flow **send_queue;
static int queue_head, queue_length;
static double queue_retry_at; /* 0: not waiting */

static void enqueue(flow *f) {
  if (f->queued) return;
  f->queued = 1;
  send_queue[(queue_head + queue_length++) % nflows] = f;
}

static void dequeue(void) {
  send_queue[queue_head]->queued = 0;
  queue_head = (queue_head + 1) % nflows;
  queue_length--;
}

/* A refused send: counted as a retry; after 1000 for one request it is an error. */
static int refused(flow *f) {
  st.retries++;
  if (++f->retry_count < 1000) return 1;
  count_error(EAGAIN); /* the request stays outstanding and times out as lost */
  return 0;
}

static void drain_queue(double now) {
  while (queue_length > 0) {
    flow *f = send_queue[queue_head];
    if (f->expecting && f->fd >= 0) {
      int error = dgram_try(f);
      if (error == EAGAIN && refused(f)) {
        queue_retry_at = now + 1;
        return;
      }
      if (error && error != EAGAIN) count_error(error);
    }
    dequeue();
  }
  queue_retry_at = 0;
}

static void dgram_send(flow *f) {
  if (f->fd < 0) return;
  make_line(f);
  f->expecting = 1;
  f->retry_count = 0;
  f->sent_at = now_ms();
  st.sent++;
  if (f->queued) return; /* still in line (its last request timed out there): keeps its place */
  if (queue_length > 0) {
    enqueue(f);
    return;
  }
  int error = dgram_try(f);
  if (error == EAGAIN) {
    if (refused(f)) {
      enqueue(f);
      queue_retry_at = f->sent_at + 1;
    }
  } else if (error) {
    count_error(error);
  }
}

static void dgram_after(flow *f) {
  if (st.running) dgram_send(f);
}

static void dgram_event(flow *f) {
  ssize_t n = recv(f->fd, read_buffer, sizeof read_buffer, 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) count_error(errno);
    return;
  }
  size_t length = (size_t)n;
  if (f->expecting && length == L && memcmp(read_buffer, f->line, L) == 0) {
    f->expecting = 0;
    if (st.measuring) {
      st.completed++;
      record((now_ms() - f->sent_at) * 1000);
    }
    dgram_after(f);
    return;
  }
  if (late_remove(f, read_buffer, length)) {
    st.late++;
    return;
  }
  st.mismatches++;
  if (f->expecting && length == L) {
    /* A wrong reply of the right size answers the request: move on. */
    f->expecting = 0;
    dgram_after(f);
  }
}

/* Counts a reply older than replyTimeoutMs as lost and moves on. */
static void dgram_sweep(double now) {
  for (int i = 0; i < nflows; i++) {
    flow *f = &flows[i];
    if (!f->expecting || now - f->sent_at < cfg.reply_timeout_ms) continue;
    st.lost++;
    late_add(f);
    f->expecting = 0;
    dgram_after(f);
  }
}

static int dgram_open(flow *f) {
  int fd = socket(server_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    count_error(errno);
    return 0;
  }
  if (cfg.transport == T_UDP) {
    if (connect(fd, (struct sockaddr *)&server_addr, server_addr_length) < 0) {
      count_error(errno);
      close(fd);
      return 0;
    }
  } else {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    int length = snprintf(addr.sun_path, sizeof addr.sun_path, "%s-%d.sock", cfg.client_path,
                          f->index);
    if (length < 0 || (size_t)length >= sizeof addr.sun_path) {
      count_error(ENAMETOOLONG);
      close(fd);
      return 0;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
      count_error(errno);
      close(fd);
      return 0;
    }
    f->bind_path = strdup(addr.sun_path);
  }
  f->fd = fd;
  epoll_set(f, EPOLL_CTL_ADD, EPOLLIN);
  return 1;
}

/* ---------------- all flows */

static int flow_idle(flow *f) {
  switch (f->kind) {
    case FLOW_STREAM:
      return !f->expecting || f->closed;
    case FLOW_SHORT:
      return f->fd < 0;
    default:
      return !f->expecting;
  }
}

/* Stops a flow: an outstanding request now counts as lost. */
static void flow_close(flow *f) {
  clear_timer(f);
  if (f->kind == FLOW_STREAM && f->closed) return;
  if (f->fd >= 0 && f->expecting) st.lost++;
  else if (f->kind == FLOW_DGRAM && f->expecting) st.lost++;
  f->expecting = 0;
  f->closed = 1;
  close_fd(f);
  if (f->bind_path) {
    unlink(f->bind_path);
    free(f->bind_path);
    f->bind_path = NULL;
  }
}

static void remove_bound_paths(void) {
  for (int i = 0; i < nflows; i++)
    if (flows[i].bind_path) unlink(flows[i].bind_path);
}

static void run_timers(double now) {
  if (active_timers == 0) return;
  for (int i = 0; i < nflows; i++) {
    flow *f = &flows[i];
    if (f->timer_at == 0 || f->timer_at > now) continue;
    clear_timer(f);
    if (f->kind == FLOW_SHORT) short_next(f);
  }
}

static double next_timer(void) {
  double at = 0;
  if (active_timers == 0) return 0;
  for (int i = 0; i < nflows; i++)
    if (flows[i].timer_at != 0 && (at == 0 || flows[i].timer_at < at)) at = flows[i].timer_at;
  return at;
}

/* ------------------------------------------------------------ main */

static void resolve_server(void) {
  memset(&server_addr, 0, sizeof server_addr);
  if (cfg.transport == T_UNIX || cfg.transport == T_UNIXDGRAM) {
    struct sockaddr_un *addr = (struct sockaddr_un *)&server_addr;
    addr->sun_family = AF_UNIX;
    if (strlen(cfg.path) >= sizeof addr->sun_path) die("--path is too long: %s", cfg.path);
    strcpy(addr->sun_path, cfg.path);
    server_addr_length = sizeof *addr;
    server_family = AF_UNIX;
    return;
  }
  struct addrinfo hints, *found = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = cfg.transport == T_UDP ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_family = cfg.transport == T_UDP ? AF_INET : AF_UNSPEC; /* udp4, as loadgen.ts */
  char port[16];
  snprintf(port, sizeof port, "%d", cfg.port);
  int error = getaddrinfo(cfg.host, port, &hints, &found);
  if (error != 0 || found == NULL) die("cannot resolve %s: %s", cfg.host, gai_strerror(error));
  memcpy(&server_addr, found->ai_addr, found->ai_addrlen);
  server_addr_length = found->ai_addrlen;
  server_family = found->ai_family;
  freeaddrinfo(found);
}

static uint64_t rusage_us(const struct timeval *tv) {
  return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

enum { PHASE_OPENING, PHASE_WAITING, PHASE_WARMUP, PHASE_WINDOW, PHASE_GRACE };

static int stdin_start, stdin_release;
static char stdin_text[256];
static size_t stdin_length;

/* Reads control lines (`start`, `release`, or the JSON of ControlMessage); exits at EOF. */
static void read_stdin(void) {
  ssize_t n = read(STDIN_FILENO, stdin_text + stdin_length, sizeof stdin_text - 1 - stdin_length);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    /* Exit with the parent: stdin closes when it goes away. */
    remove_bound_paths();
    _exit(0);
  }
  stdin_length += (size_t)n;
  stdin_text[stdin_length] = '\0';
  char *newline;
  while ((newline = strchr(stdin_text, '\n')) != NULL) {
    *newline = '\0';
    if (strstr(stdin_text, "release")) stdin_release = 1;
    else if (strstr(stdin_text, "start")) stdin_start = 1;
    size_t rest = stdin_length - (size_t)(newline + 1 - stdin_text);
    memmove(stdin_text, newline + 1, rest + 1);
    stdin_length = rest;
  }
  if (stdin_length == sizeof stdin_text - 1) stdin_length = 0; /* an overlong line: drop it */
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  log_growth = log(1.02);
  L = (size_t)cfg.line_length;
  {
    /* As Node does at startup: as many open files as the hard limit allows. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }
  resolve_server();
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1: %s", strerror(errno));
  static flow stdin_tag;
  {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN;
    event.data.ptr = &stdin_tag;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &event) < 0)
      die("stdin must be a pipe: %s", strerror(errno));
  }

  int datagrams = cfg.transport == T_UDP || cfg.transport == T_UNIXDGRAM;
  nflows = cfg.connections;
  flows = calloc(nflows > 0 ? (size_t)nflows : 1, sizeof *flows);
  unsigned char *lines = malloc((nflows > 0 ? (size_t)nflows : 1) * L);
  send_queue = calloc(nflows > 0 ? (size_t)nflows : 1, sizeof *send_queue);
  if (flows == NULL || lines == NULL || send_queue == NULL) die("out of memory");
  uint32_t seed = (uint32_t)(uint64_t)(int64_t)cfg.seed;
  for (int i = 0; i < nflows; i++) {
    flow *f = &flows[i];
    f->kind = cfg.mode == MODE_SHORT ? FLOW_SHORT : datagrams ? FLOW_DGRAM : FLOW_STREAM;
    f->index = i;
    f->fd = -1;
    f->line = lines + (size_t)i * L;
    /* (seed * 0x01000193) ^ (index * 0x9e3779b9) ^ 0x5bd1e995, then `>>> 0 || 0x9e3779b9` */
    uint32_t s = (seed * 0x01000193u) ^ ((uint32_t)i * 0x9e3779b9u) ^ 0x5bd1e995u;
    f->rng = s ? s : 0x9e3779b9u;
  }

  int connected = 0;
  int phase = PHASE_OPENING;
  double deadline = now_ms() + cfg.connect_timeout_ms;
  if (cfg.mode == MODE_SHORT) {
    connected = nflows;
    phase = PHASE_WAITING;
  } else if (datagrams) {
    for (int i = 0; i < nflows; i++) connected += dgram_open(&flows[i]);
    phase = PHASE_WAITING;
  }
  if (phase == PHASE_WAITING) {
    out("{\"type\":\"ready\",\"connected\":%d,\"errors\":%llu,\"mismatches\":%llu,\"errorCodes\":",
        connected, (unsigned long long)st.errors, (unsigned long long)st.mismatches);
    out_codes();
    out("}\n");
    out_flush();
  }

  double phase_end = 0, sweep_at = 0;
  double sweep_every = fmax(5, fmin(50, cfg.reply_timeout_ms / 4));
  double window_start = 0, window_ms = 0;
  uint64_t cpu_user = 0, cpu_system = 0;
  struct rusage usage0;
  memset(&usage0, 0, sizeof usage0);
  struct epoll_event events[256];

  for (;;) {
    double now = now_ms();
    /* Phase changes. */
    if (phase == PHASE_OPENING) {
      while (opening_inflight < cfg.connect_parallelism && opening_next < nflows && now < deadline)
        stream_open(&flows[opening_next++]);
      if ((opening_next >= nflows && opening_inflight == 0) || now >= deadline) {
        connected = opening_ok;
        out("{\"type\":\"ready\",\"connected\":%d,\"errors\":%llu,\"mismatches\":%llu,"
            "\"errorCodes\":",
            connected, (unsigned long long)st.errors, (unsigned long long)st.mismatches);
        out_codes();
        out("}\n");
        out_flush();
        phase = PHASE_WAITING;
      }
    }
    int finish = 0;
    if (phase == PHASE_WAITING) {
      if (cfg.mode == MODE_HOLD) {
        if (stdin_release) finish = 1;
      } else if (stdin_start) {
        st.running = 1;
        for (int i = 0; i < nflows; i++) {
          flow *f = &flows[i];
          if (f->kind == FLOW_SHORT) short_next(f);
          else if (f->kind == FLOW_DGRAM) dgram_send(f);
          else if (f->ready && !f->closed) stream_send(f);
        }
        now = now_ms();
        sweep_at = now + sweep_every;
        phase = PHASE_WARMUP;
        phase_end = now + cfg.warmup_ms;
      }
    }
    if (phase == PHASE_WARMUP && now >= phase_end) {
      getrusage(RUSAGE_SELF, &usage0);
      window_start = now_ms();
      st.measuring = 1;
      out("{\"type\":\"window\",\"phase\":\"start\"}\n");
      out_flush();
      phase = PHASE_WINDOW;
      phase_end = window_start + cfg.duration_ms;
    }
    if (phase == PHASE_WINDOW && now >= phase_end) {
      st.measuring = 0;
      st.running = 0;
      out("{\"type\":\"window\",\"phase\":\"end\"}\n");
      out_flush();
      now = now_ms();
      window_ms = now - window_start;
      struct rusage usage;
      getrusage(RUSAGE_SELF, &usage);
      cpu_user = rusage_us(&usage.ru_utime) - rusage_us(&usage0.ru_utime);
      cpu_system = rusage_us(&usage.ru_stime) - rusage_us(&usage0.ru_stime);
      phase = PHASE_GRACE;
      phase_end = now + cfg.grace_ms;
    }
    if (phase == PHASE_GRACE) {
      int idle = 1;
      for (int i = 0; i < nflows && idle; i++) idle = flow_idle(&flows[i]);
      if (idle || now >= phase_end) finish = 1;
    }
    if (finish) break;

    /* Wait for the next event or timer. */
    double wake = 0;
    if (phase == PHASE_OPENING) wake = deadline;
    else if (phase >= PHASE_WARMUP) wake = phase_end;
    if (datagrams && phase >= PHASE_WARMUP && (wake == 0 || sweep_at < wake)) wake = sweep_at;
    if (queue_retry_at != 0 && (wake == 0 || queue_retry_at < wake)) wake = queue_retry_at;
    double timer = next_timer();
    if (timer != 0 && (wake == 0 || timer < wake)) wake = timer;
    int timeout = -1;
    if (wake != 0) {
      double wait = ceil(wake - now);
      timeout = wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
    }
    int n = epoll_wait(epfd, events, 256, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
      flow *f = events[i].data.ptr;
      if (f == &stdin_tag) {
        read_stdin();
        continue;
      }
      if (f->fd < 0) continue; /* closed by an earlier event of this batch */
      if (f->kind == FLOW_DGRAM) dgram_event(f);
      else stream_event(f, events[i].events);
    }
    now = now_ms();
    run_timers(now);
    if (queue_length > 0) drain_queue(now);
    if (datagrams && phase >= PHASE_WARMUP && now >= sweep_at) {
      dgram_sweep(now);
      sweep_at = now + sweep_every;
    }
  }

  for (int i = 0; i < nflows; i++) flow_close(&flows[i]);
  out("{\"type\":\"result\",\"completed\":%llu,\"sent\":%llu,\"mismatches\":%llu,"
      "\"unexpectedBytes\":%llu,\"lost\":%llu,\"late\":%llu,\"retries\":%llu,\"errors\":%llu,"
      "\"errorCodes\":",
      (unsigned long long)st.completed, (unsigned long long)st.sent,
      (unsigned long long)st.mismatches, (unsigned long long)st.unexpected_bytes,
      (unsigned long long)st.lost, (unsigned long long)st.late, (unsigned long long)st.retries,
      (unsigned long long)st.errors);
  out_codes();
  out(",\"connected\":%d,\"windowMs\":%.3f,\"cpuUserUs\":%llu,\"cpuSystemUs\":%llu,"
      "\"histogram\":{\"counts\":[",
      connected, window_ms, (unsigned long long)cpu_user, (unsigned long long)cpu_system);
  for (int i = 0; i < BUCKETS; i++) out(i ? ",%llu" : "%llu", (unsigned long long)st.counts[i]);
  out("],\"total\":%llu,\"maxMicros\":%.3f}}\n", (unsigned long long)st.total, st.max_micros);
  out_flush();
  return 0;
}
