/*
 * Load generator for the scale benchmark in C: the same job and the same answers as
 * bench/load/scale-clients.ts, at a fraction of its CPU per delivered frame, so that at
 * 100k subscribers the generators do not take the cores the server needs.
 *
 * One process, one thread, epoll. Commands arrive as JSON lines on stdin, answers leave as
 * JSON lines on stdout (parsed with zod in bench/lib/scale-protocol.ts):
 *   {"cmd":"connect","kind":"pusher"|"ws","baseUrl":"http://127.0.0.1:P","localAddress":"127.0.0.x",
 *    "count":N,"concurrency":C,"appKey":"..","appSecret":"..","channel":".."}
 *     -> {"type":"connected","connections":N,"ms":T} or {"type":"error","message":".."}
 *   {"cmd":"collect"} -> {"type":"collected","events":[..],"latency":[[ms,count],..],"deliveries":N,"cpuMs":T}
 *   {"cmd":"close"} or end of stdin -> exit
 *
 * WebSocket client subset: masked client frames; unmasked server frames of any length split
 * anywhere across reads; text/binary, continuation, ping -> pong, close. A frame that breaks
 * the protocol closes its connection (counted in stderr), never the process.
 *
 * Pusher channel authorizations are HMAC-SHA256 signatures over the server-assigned
 * socket id, signed here (SHA-256 below: no OpenSSL needed) with the same channel_data shape
 * as bench/lib/pusher-wire.ts signLocally.
 *
 * Build: gcc -O2 -std=c11 -o epoll-clients epoll-clients.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HISTOGRAM_BUCKETS 30000
#define MAX_MESSAGE (16u << 20)
#define CONNECT_TIMEOUT_MS 30000.0
#define MAX_EVENT_INDEX 10000000u

/* ---------- SHA-256 / HMAC-SHA256 (FIPS 180-4, RFC 2104) ---------- */

typedef struct {
  uint32_t h[8];
  uint64_t bytes;
  unsigned char block[64];
  size_t used;
} sha256_ctx;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
    0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
    0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
    0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
    0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_ctx *c, const unsigned char *p) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++) w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = ROR(w[t - 15], 7) ^ ROR(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = ROR(w[t - 2], 17) ^ ROR(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
  for (int t = 0; t < 64; t++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
    h = g, g = f, f = e, e = d + t1, d = cc, cc = b, b = a, a = t1 + t2;
  }
  c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void sha256_init(sha256_ctx *c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, iv, sizeof iv);
  c->bytes = 0;
  c->used = 0;
}

static void sha256_update(sha256_ctx *c, const void *data, size_t len) {
  const unsigned char *p = data;
  c->bytes += len;
  while (len > 0) {
    size_t take = 64 - c->used < len ? 64 - c->used : len;
    memcpy(c->block + c->used, p, take);
    c->used += take, p += take, len -= take;
    if (c->used == 64) sha256_block(c, c->block), c->used = 0;
  }
}

static void sha256_final(sha256_ctx *c, unsigned char out[32]) {
  uint64_t bits = c->bytes * 8;
  unsigned char pad = 0x80, zero = 0, len[8];
  sha256_update(c, &pad, 1);
  while (c->used != 56) sha256_update(c, &zero, 1);
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(c, len, 8);
  for (int i = 0; i < 8; i++) out[4 * i] = c->h[i] >> 24, out[4 * i + 1] = c->h[i] >> 16, out[4 * i + 2] = c->h[i] >> 8, out[4 * i + 3] = c->h[i];
}

static void hmac_sha256_hex(const char *key, const char *msg, size_t msg_len, char hex[65]) {
  unsigned char k[64] = {0}, ipad[64], opad[64], inner[32], mac[32];
  size_t key_len = strlen(key);
  sha256_ctx c;
  if (key_len > 64) sha256_init(&c), sha256_update(&c, key, key_len), sha256_final(&c, k);
  else memcpy(k, key, key_len);
  for (int i = 0; i < 64; i++) ipad[i] = k[i] ^ 0x36, opad[i] = k[i] ^ 0x5c;
  sha256_init(&c), sha256_update(&c, ipad, 64), sha256_update(&c, msg, msg_len), sha256_final(&c, inner);
  sha256_init(&c), sha256_update(&c, opad, 64), sha256_update(&c, inner, 32), sha256_final(&c, mac);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

/* ---------- small helpers ---------- */

typedef struct {
  char *data;
  size_t len, cap;
} buf_t;

static void buf_append(buf_t *b, const void *data, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
      fprintf(stderr, "epoll-clients: out of memory\n");
      exit(1);
    }
    b->data = grown, b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

static void buf_printf(buf_t *b, const char *format, ...) {
  char small[512];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(small, sizeof small, format, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    buf_append(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) exit(1);
  va_start(args, format);
  vsnprintf(big, (size_t)n + 1, format, args);
  va_end(args);
  buf_append(b, big, (size_t)n);
  free(big);
}

static void buf_free(buf_t *b) {
  free(b->data);
  b->data = NULL, b->len = b->cap = 0;
}

/* JSON string escape of plain ASCII text (what we put into frames and replies). */
static void buf_json_string(buf_t *b, const char *s, size_t len) {
  buf_append(b, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') buf_append(b, "\\", 1), buf_append(b, &s[i], 1);
    else if (ch < 0x20) buf_printf(b, "\\u%04x", ch);
    else buf_append(b, &s[i], 1);
  }
  buf_append(b, "\"", 1);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) exit(0); /* the orchestrator is gone */
    data += n, len -= (size_t)n;
  }
}

static void reply(buf_t *line) {
  buf_append(line, "\n", 1);
  write_all(STDOUT_FILENO, line->data, line->len);
  buf_free(line);
}

static void reply_error(const char *message) {
  buf_t line = {0};
  buf_printf(&line, "{\"type\":\"error\",\"message\":");
  buf_json_string(&line, message, strlen(message));
  buf_append(&line, "}", 1);
  reply(&line);
}

/* Value of "key" in a flat JSON object of our own making: a string (simple escapes) or a number. */
static int json_field(const char *json, const char *key, char *out, size_t out_size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\"", key);
  const char *p = strstr(json, pattern);
  if (!p) return 0;
  p += strlen(pattern);
  while (*p == ' ' || *p == ':') p++;
  size_t n = 0;
  if (*p == '"') {
    for (p++; *p && *p != '"'; p++) {
      if (*p == '\\' && p[1]) p++;
      if (n + 1 >= out_size) return 0;
      out[n++] = *p;
    }
  } else {
    while (*p && *p != ',' && *p != '}' && n + 1 < out_size) out[n++] = *p++;
  }
  out[n] = 0;
  return 1;
}

/* ---------- measurement: per-event arrivals, latency histogram ---------- */

typedef struct {
  double sent_at, first, last;
  uint64_t received;
  int present;
} arrivals_t;

static arrivals_t *events;
static size_t events_cap;
static uint64_t histogram[HISTOGRAM_BUCKETS];
static uint64_t deliveries;
static double cpu_mark;
static buf_t last_frame;
static long last_event = -1;

/* The first match of /\\?"i\\?":(\d+),\\?"bt\\?":(\d+(?:\.\d+)?)/, as scale-clients.ts's EVENT_PATTERN. */
static int match_event(const char *s, size_t len, unsigned long *index, double *sent_at) {
  for (size_t start = 0; start + 1 < len; start++) {
    if (s[start] != '"' || s[start + 1] != 'i') continue;
    size_t p = start + 2;
#define OPT_BACKSLASH() \
  if (p < len && s[p] == '\\') p++
#define EXPECT(text)                                                     \
  if (p + sizeof(text) - 1 > len || memcmp(s + p, text, sizeof(text) - 1)) \
    continue;                                                            \
  p += sizeof(text) - 1
    OPT_BACKSLASH();
    EXPECT("\":");
    size_t digits = p;
    unsigned long i = 0;
    while (p < len && s[p] >= '0' && s[p] <= '9') {
      if (i <= MAX_EVENT_INDEX) i = i * 10 + (unsigned long)(s[p] - '0');
      p++;
    }
    if (p == digits) continue;
    EXPECT(",");
    OPT_BACKSLASH();
    EXPECT("\"bt");
    OPT_BACKSLASH();
    EXPECT("\":");
    size_t number = p;
    while (p < len && s[p] >= '0' && s[p] <= '9') p++;
    if (p == number) continue;
    if (p + 1 < len && s[p] == '.' && s[p + 1] >= '0' && s[p + 1] <= '9') {
      p++;
      while (p < len && s[p] >= '0' && s[p] <= '9') p++;
    }
#undef OPT_BACKSLASH
#undef EXPECT
    char text[64];
    size_t n = p - number < sizeof text - 1 ? p - number : sizeof text - 1;
    memcpy(text, s + number, n);
    text[n] = 0;
    *index = i;
    *sent_at = strtod(text, NULL);
    return 1;
  }
  return 0;
}

/* The event a frame carries, or -1. Every connection gets the same bytes for one event, so the last frame is remembered. */
static long event_of(const char *frame, size_t len) {
  if (last_event >= 0 && len == last_frame.len && memcmp(frame, last_frame.data, len) == 0) return last_event;
  unsigned long i;
  double sent_at;
  if (!match_event(frame, len, &i, &sent_at) || i > MAX_EVENT_INDEX) return -1;
  if (i >= events_cap) {
    size_t cap = events_cap ? events_cap : 64;
    while (cap <= i) cap *= 2;
    arrivals_t *grown = realloc(events, cap * sizeof *events);
    if (!grown) return -1;
    memset(grown + events_cap, 0, (cap - events_cap) * sizeof *events);
    events = grown, events_cap = cap;
  }
  arrivals_t *event = &events[i];
  if (!event->present) *event = (arrivals_t){.sent_at = sent_at, .first = 1e300, .last = 0, .received = 0, .present = 1};
  last_frame.len = 0;
  buf_append(&last_frame, frame, len);
  last_event = (long)i;
  return last_event;
}

static int on_event_frame(const char *frame, size_t len) {
  long i = len > 60 ? event_of(frame, len) : -1;
  if (i < 0) return 0;
  double at = now_ms();
  arrivals_t *event = &events[i];
  event->received++;
  if (at < event->first) event->first = at;
  if (at > event->last) event->last = at;
  double late = at - event->sent_at;
  long bucket = late < 0 ? 0 : late >= HISTOGRAM_BUCKETS - 1 ? HISTOGRAM_BUCKETS - 1 : (long)late;
  histogram[bucket]++;
  deliveries++;
  return 1;
}

static void collect(void) {
  buf_t line = {0};
  buf_printf(&line, "{\"type\":\"collected\",\"events\":[");
  int comma = 0;
  for (size_t i = 0; i < events_cap; i++) {
    if (!events[i].present) continue;
    buf_printf(&line, "%s{\"i\":%zu,\"sentAt\":%.3f,\"received\":%llu,\"first\":%.3f,\"last\":%.3f}", comma ? "," : "", i, events[i].sent_at,
               (unsigned long long)events[i].received, events[i].first, events[i].last);
    comma = 1;
  }
  buf_printf(&line, "],\"latency\":[");
  comma = 0;
  for (int b = 0; b < HISTOGRAM_BUCKETS; b++) {
    if (!histogram[b]) continue;
    buf_printf(&line, "%s[%d,%llu]", comma ? "," : "", b, (unsigned long long)histogram[b]);
    comma = 1;
  }
  double cpu = cpu_ms();
  buf_printf(&line, "],\"deliveries\":%llu,\"cpuMs\":%.3f}", (unsigned long long)deliveries, cpu - cpu_mark);
  reply(&line);
  if (events_cap) memset(events, 0, events_cap * sizeof *events);
  memset(histogram, 0, sizeof histogram);
  deliveries = 0;
  last_event = -1;
  cpu_mark = cpu;
}

/* ---------- connections ---------- */

enum state { CONNECTING, UPGRADING, WAIT_ESTABLISHED, WAIT_SUBSCRIBED, LIVE, CLOSED };

typedef struct {
  int fd;
  enum state state;
  double deadline;
  buf_t in;      /* bytes of an incomplete frame (or HTTP head) left over from earlier reads */
  buf_t message; /* payload of a fragmented message so far */
  buf_t out;     /* bytes the socket did not take yet */
  int message_opcode;
  int want_out;
} conn_t;

static struct {
  int active;
  int kind_pusher;
  struct sockaddr_in server, local;
  char host[96], path[512], app_key[128], app_secret[256], channel[256];
  long count, concurrency, started, live, pending;
  double started_at;
} setup;

static conn_t **conns;
static size_t conns_len, conns_cap;
static int epfd;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned long lost;
static char stdin_marker;

static uint32_t random32(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)rng;
}

static void arm(conn_t *c, int want_out) {
  if (c->want_out == want_out) return;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = want_out;
}

static void fail_setup(const char *why) {
  if (!setup.active) return;
  setup.active = 0;
  char message[256];
  snprintf(message, sizeof message, "%s (%ld of %ld connected)", why, setup.live, setup.count);
  reply_error(message);
}

static void conn_close(conn_t *c, const char *why) {
  if (c->state == CLOSED) return;
  if (c->state == LIVE) {
    lost++;
    if (why && (lost & (lost - 1)) == 0) fprintf(stderr, "epoll-clients: a subscribed connection closed: %s (%lu so far)\n", why, lost); /* 1, 2, 4, ... */
  } else if (c->state != CLOSED) {
    setup.pending--;
    fail_setup(why ? why : "connection closed during set-up");
  }
  close(c->fd);
  c->state = CLOSED;
  buf_free(&c->in), buf_free(&c->message), buf_free(&c->out);
}

static void conn_write(conn_t *c, const char *data, size_t len) {
  if (c->out.len == 0) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      conn_close(c, strerror(errno));
      return;
    }
    if (n > 0) data += n, len -= (size_t)n;
  }
  if (len > 0) buf_append(&c->out, data, len), arm(c, 1);
}

static void flush_out(conn_t *c) {
  while (c->out.len > 0) {
    ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) {
      conn_close(c, strerror(errno));
      return;
    }
    memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
    c->out.len -= (size_t)n;
  }
  arm(c, 0);
}

static void send_frame(conn_t *c, int opcode, const char *payload, size_t len) {
  unsigned char head[14];
  size_t h = 0;
  head[h++] = (unsigned char)(0x80 | opcode);
  if (len < 126) head[h++] = (unsigned char)(0x80 | len);
  else if (len < 65536) head[h++] = 0x80 | 126, head[h++] = (unsigned char)(len >> 8), head[h++] = (unsigned char)len;
  else {
    head[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) head[h++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  uint32_t mask = random32();
  memcpy(head + h, &mask, 4);
  const unsigned char *m = head + h;
  h += 4;
  buf_t frame = {0};
  buf_append(&frame, head, h);
  buf_append(&frame, payload, len);
  for (size_t i = 0; i < len; i++) frame.data[h + i] ^= (char)m[i & 3];
  conn_write(c, frame.data, frame.len);
  buf_free(&frame);
}

static void send_text(conn_t *c, const char *text) { send_frame(c, 0x1, text, strlen(text)); }

static void became_live(conn_t *c) {
  c->state = LIVE;
  setup.pending--;
  setup.live++;
}

static int has(const char *s, size_t len, const char *needle) { return memmem(s, len, needle, strlen(needle)) != NULL; }

static void subscribe_pusher(conn_t *c, const char *message, size_t len) {
  /* data is a JSON-encoded string: ..."data":"{\"socket_id\":\"123.456\",...}" */
  const char *id = memmem(message, len, "socket_id\\\":\\\"", 14), *end = message + len;
  if (id) id += 14;
  else if ((id = memmem(message, len, "\"socket_id\":\"", 13))) id += 13; /* data as an object */
  if (!id) {
    conn_close(c, "connection_established without a socket_id");
    return;
  }
  size_t n = 0;
  char socket_id[64];
  while (id + n < end && id[n] != '\\' && id[n] != '"' && n < sizeof socket_id - 1) n++;
  memcpy(socket_id, id, n);
  socket_id[n] = 0;
  char channel_data[256];
  snprintf(channel_data, sizeof channel_data, "{\"user_id\":\"u%s\",\"user_info\":{},\"sb\":{\"ce\":[],\"exp\":%.0f}}", socket_id, now_ms() + 3600000.0);
  buf_t to_sign = {0};
  buf_printf(&to_sign, "%s:%s:%s", socket_id, setup.channel, channel_data);
  char signature[65];
  hmac_sha256_hex(setup.app_secret, to_sign.data, to_sign.len, signature);
  buf_free(&to_sign);
  buf_t frame = {0};
  buf_printf(&frame, "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":");
  buf_json_string(&frame, setup.channel, strlen(setup.channel));
  buf_printf(&frame, ",\"auth\":\"%s:%s\",\"channel_data\":", setup.app_key, signature);
  buf_json_string(&frame, channel_data, strlen(channel_data));
  buf_append(&frame, "}}", 2);
  send_frame(c, 0x1, frame.data, frame.len);
  buf_free(&frame);
  c->state = WAIT_SUBSCRIBED;
}

static void on_message(conn_t *c, const char *message, size_t len) {
  if (c->state == LIVE) {
    if (!on_event_frame(message, len) && has(message, len, "pusher:ping")) send_text(c, "{\"event\":\"pusher:pong\",\"data\":{}}");
    return;
  }
  if (has(message, len, "\"event\":\"pusher:connection_established\"")) {
    if (c->state == WAIT_ESTABLISHED) subscribe_pusher(c, message, len);
  } else if (has(message, len, "\"event\":\"pusher_internal:subscription_succeeded\"") || has(message, len, "\"event\":\"subscribed\"")) {
    became_live(c);
  } else if (has(message, len, "\"event\":\"pusher:error\"") || has(message, len, "\"event\":\"pusher:subscription_error\"")) {
    char why[200];
    snprintf(why, sizeof why, "%.*s", (int)(len < 180 ? len : 180), message);
    conn_close(c, why);
  }
}

/* Parses every complete frame in data; returns how many bytes it used, or -1 after closing the connection. */
static long parse_frames(conn_t *c, const char *data, size_t len) {
  size_t used = 0;
  while (c->state != CLOSED) {
    const unsigned char *p = (const unsigned char *)data + used;
    size_t left = len - used;
    if (left < 2) break;
    int fin = p[0] & 0x80, opcode = p[0] & 0x0f, masked = p[1] & 0x80;
    uint64_t size = p[1] & 0x7f;
    size_t head = 2;
    if (size == 126) {
      if (left < 4) break;
      size = (uint64_t)p[2] << 8 | p[3], head = 4;
    } else if (size == 127) {
      if (left < 10) break;
      size = 0;
      for (int i = 0; i < 8; i++) size = size << 8 | p[2 + i];
      head = 10;
    }
    if (masked) head += 4;
    if ((p[0] & 0x70) || (opcode >= 3 && opcode <= 7) || opcode > 0xA || size > MAX_MESSAGE || (opcode >= 8 && (!fin || size > 125))) {
      conn_close(c, "protocol error in a server frame");
      return -1;
    }
    if (left < head + size) break;
    char *payload = (char *)data + used + head;
    if (masked)
      for (size_t i = 0; i < size; i++) payload[i] ^= (char)p[head - 4 + (i & 3)];
    used += head + size;
    if (opcode == 0x9) send_frame(c, 0xA, payload, size);
    else if (opcode == 0x8) {
      send_frame(c, 0x8, payload, size < 2 ? size : 2);
      conn_close(c, "closed by the server");
      return -1;
    } else if (opcode == 0xA) continue;
    else if (opcode == 0x0 || !fin || c->message.len > 0) {
      if (opcode != 0 && c->message.len > 0) c->message.len = 0; /* a new message replaces an unfinished one */
      if (opcode != 0) c->message_opcode = opcode;
      if (c->message.len + size > MAX_MESSAGE) {
        conn_close(c, "fragmented message too long");
        return -1;
      }
      buf_append(&c->message, payload, size);
      if (fin) {
        on_message(c, c->message.data, c->message.len);
        if (c->state != CLOSED) c->message.len = 0;
      }
    } else on_message(c, payload, size);
  }
  return c->state == CLOSED ? -1 : (long)used;
}

static void on_upgrade(conn_t *c) {
  char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
  if (!end) {
    if (c->in.len > 16384) conn_close(c, "HTTP head too long");
    return;
  }
  if (c->in.len < 12 || memcmp(c->in.data, "HTTP/1.1 101", 12) != 0) {
    char why[120];
    snprintf(why, sizeof why, "upgrade refused: %.*s", (int)(strcspn(c->in.data, "\r") < 80 ? strcspn(c->in.data, "\r") : 80), c->in.data);
    conn_close(c, why);
    return;
  }
  size_t head = (size_t)(end + 4 - c->in.data);
  memmove(c->in.data, c->in.data + head, c->in.len - head);
  c->in.len -= head;
  if (setup.kind_pusher) c->state = WAIT_ESTABLISHED;
  else {
    c->state = WAIT_SUBSCRIBED;
    send_text(c, "{\"event\":\"subscribe\",\"channel\":\"bench\"}");
  }
}

static char read_buffer[1 << 18];

static void on_readable(conn_t *c) {
  for (;;) {
    ssize_t n = recv(c->fd, read_buffer, sizeof read_buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      conn_close(c, n == 0 ? "closed by the server" : strerror(errno));
      return;
    }
    const char *data = read_buffer;
    size_t len = (size_t)n;
    if (c->state == UPGRADING || c->in.len > 0) {
      /* Partial frame (or HTTP head) from before: parse from the connection's own buffer. */
      buf_append(&c->in, data, len);
      if (c->state == UPGRADING) {
        on_upgrade(c);
        if (c->state == UPGRADING || c->state == CLOSED) continue;
      }
      long used = parse_frames(c, c->in.data, c->in.len);
      if (used < 0) return;
      memmove(c->in.data, c->in.data + used, c->in.len - (size_t)used);
      c->in.len -= (size_t)used;
      if (c->in.len == 0) buf_free(&c->in);
    } else {
      long used = parse_frames(c, read_buffer, len);
      if (used < 0) return;
      if ((size_t)used < len) buf_append(&c->in, read_buffer + used, len - (size_t)used);
    }
    if ((size_t)n < sizeof read_buffer) return;
  }
}

static void on_connected(conn_t *c) {
  int error = 0;
  socklen_t size = sizeof error;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size);
  if (error) {
    conn_close(c, strerror(error));
    return;
  }
  c->state = UPGRADING;
  buf_t request = {0};
  buf_printf(&request,
             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: c2NhbGUtYmVuY2gta2V5MQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             setup.path, setup.host);
  c->want_out = 1;
  arm(c, 0);
  conn_write(c, request.data, request.len);
  buf_free(&request);
}

static void open_one(void) {
  conn_t *c = calloc(1, sizeof *c);
  if (!c) exit(1);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  c->state = CONNECTING;
  c->deadline = mono_ms() + CONNECT_TIMEOUT_MS;
  setup.started++;
  setup.pending++;
  if (conns_len == conns_cap) {
    conns_cap = conns_cap ? conns_cap * 2 : 1024;
    conns = realloc(conns, conns_cap * sizeof *conns);
    if (!conns) exit(1);
  }
  conns[conns_len++] = c;
  if (c->fd < 0) {
    c->state = CLOSED;
    setup.pending--;
    fail_setup(strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef IP_BIND_ADDRESS_NO_PORT
  setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
  if (bind(c->fd, (struct sockaddr *)&setup.local, sizeof setup.local) != 0) {
    conn_close(c, strerror(errno));
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
  c->want_out = 1;
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  if (connect(c->fd, (struct sockaddr *)&setup.server, sizeof setup.server) != 0 && errno != EINPROGRESS) conn_close(c, strerror(errno));
}

static void start_more(void) {
  while (setup.active && setup.started < setup.count && setup.pending < setup.concurrency) open_one();
  if (setup.active && setup.live == setup.count) {
    setup.active = 0;
    buf_t line = {0};
    buf_printf(&line, "{\"type\":\"connected\",\"connections\":%ld,\"ms\":%.1f}", setup.live, mono_ms() - setup.started_at);
    reply(&line);
  }
}

static void check_timeouts(void) {
  double now = mono_ms();
  for (size_t i = 0; i < conns_len && setup.active; i++)
    if (conns[i]->state != LIVE && conns[i]->state != CLOSED && now > conns[i]->deadline) conn_close(conns[i], "connection timed out");
}

static void command_connect(const char *line) {
  char kind[16], base[128], local[64], count[32], concurrency[32];
  if (!json_field(line, "kind", kind, sizeof kind) || !json_field(line, "baseUrl", base, sizeof base) || !json_field(line, "localAddress", local, sizeof local) ||
      !json_field(line, "count", count, sizeof count) || !json_field(line, "concurrency", concurrency, sizeof concurrency) ||
      !json_field(line, "appKey", setup.app_key, sizeof setup.app_key) || !json_field(line, "appSecret", setup.app_secret, sizeof setup.app_secret) ||
      !json_field(line, "channel", setup.channel, sizeof setup.channel)) {
    reply_error("connect: missing field");
    return;
  }
  char ip[64];
  unsigned port;
  if (sscanf(base, "http://%63[0-9.]:%u", ip, &port) != 2 || inet_pton(AF_INET, ip, &setup.server.sin_addr) != 1 ||
      inet_pton(AF_INET, local, &setup.local.sin_addr) != 1) {
    reply_error("connect: baseUrl must be http://<IPv4>:<port> and localAddress an IPv4 address");
    return;
  }
  setup.server.sin_family = setup.local.sin_family = AF_INET;
  setup.server.sin_port = htons((uint16_t)port);
  setup.local.sin_port = 0;
  snprintf(setup.host, sizeof setup.host, "%s:%u", ip, port);
  setup.kind_pusher = strcmp(kind, "pusher") == 0;
  if (setup.kind_pusher) snprintf(setup.path, sizeof setup.path, "/app/%s?protocol=7&client=js&version=8.6.0", setup.app_key);
  else snprintf(setup.path, sizeof setup.path, "/");
  setup.count = atol(count), setup.concurrency = atol(concurrency) > 0 ? atol(concurrency) : 1;
  setup.started = setup.live = setup.pending = 0;
  setup.started_at = mono_ms();
  setup.active = 1;
  start_more();
}

static buf_t stdin_line;

static void on_stdin(void) {
  char chunk[4096];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) exit(0);
    buf_append(&stdin_line, chunk, (size_t)n);
  }
  char *newline;
  while (stdin_line.len > 0 && (newline = memchr(stdin_line.data, '\n', stdin_line.len))) {
    *newline = 0;
    const char *line = stdin_line.data;
    if (strstr(line, "\"cmd\":\"connect\"")) command_connect(line);
    else if (strstr(line, "\"cmd\":\"collect\"")) collect();
    else if (strstr(line, "\"cmd\":\"close\"")) exit(0);
    size_t used = (size_t)(newline + 1 - stdin_line.data);
    memmove(stdin_line.data, stdin_line.data + used, stdin_line.len - used);
    stdin_line.len -= used;
  }
}

int main(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) limit.rlim_cur = limit.rlim_max, setrlimit(RLIMIT_NOFILE, &limit);
  rng ^= (uint64_t)getpid() << 32 ^ (uint64_t)now_ms();
  epfd = epoll_create1(EPOLL_CLOEXEC);
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  struct epoll_event stdin_event = {.events = EPOLLIN, .data.ptr = &stdin_marker};
  epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &stdin_event);
  cpu_mark = cpu_ms();
  struct epoll_event ready[512];
  double next_check = mono_ms() + 1000;
  for (;;) {
    int n = epoll_wait(epfd, ready, 512, setup.active ? 200 : -1);
    if (n < 0 && errno != EINTR) return 1;
    for (int k = 0; k < n; k++) {
      if (ready[k].data.ptr == &stdin_marker) {
        on_stdin();
        continue;
      }
      conn_t *c = ready[k].data.ptr;
      if (c->state == CLOSED) continue;
      if (c->state == CONNECTING) {
        if (ready[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        continue;
      }
      if (ready[k].events & EPOLLOUT) flush_out(c);
      if (c->state != CLOSED && (ready[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) on_readable(c);
    }
    if (setup.active) {
      if (mono_ms() > next_check) check_timeouts(), next_check = mono_ms() + 1000;
      start_more();
    }
  }
}
