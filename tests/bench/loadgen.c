/* loadgen: HTTP/1.1 keep-alive load generator for the ingress benchmark (bench code only).
 * One libevent loop drives N non-blocking sockets, closed loop or open loop at a rate, and
 * prints one logfmt line of counts and latency percentiles. It shares the CPUs with the
 * server it measures, so a request costs one writev() and usually one read(): no
 * bufferevents, whose per-request epoll_ctl() and FIONREAD calls doubled the syscalls. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define NSEC_PER_SEC      1000000000ULL
#define LG_MAX_LINE       8192
#define LG_READ_CHUNK     65536
#define LG_SUFFIX_MAX     64
#define LG_HEADER_MAX     1024
#define LG_MAX_SAMPLES    ((size_t)64 << 20)
#define LG_MAX_BODY       ((uint64_t)64 << 20)
#define LG_DRAIN_S        5.0
#define LG_RETRY_MS       50
#define LG_REQUESTS_CAP_S 600.0

enum parse_state {
	PARSE_STATUS,
	PARSE_HEADERS,
	PARSE_BODY,
	PARSE_CHUNK_SIZE,
	PARSE_CHUNK_DATA,
	PARSE_CHUNK_CRLF,
	PARSE_TRAILERS,
	PARSE_UNTIL_CLOSE,
};

/* What one parse step achieved. */
enum step {
	STEP_MORE = 0,
	STEP_PROGRESS = 1,
	STEP_DONE = 2,
};

struct options {
	const char *url;
	unsigned connections;
	double duration_s;
	uint64_t requests;
	size_t body_size;
	double rate;
	const char *hmac_env;
	const char *hmac_header;
	const char *hmac_prefix;
	const char *idem_header;
	bool unique;
	double warmup_s;
	double timeout_s;
};

struct stats {
	uint64_t sent;
	uint64_t ok2xx;
	uint64_t status_503;
	uint64_t other;
	uint64_t errors;
	uint64_t total_sent;
	uint64_t total_2xx;
	uint64_t connect_errors;
	uint64_t missed;
	uint64_t dropped_samples;
	uint64_t late_1ms;
	uint64_t lag_max_ns;
	uint32_t *samples_us;
	size_t n_samples;
	size_t cap_samples;
};

struct loadgen;

struct conn {
	struct loadgen *lg;
	evutil_socket_t fd;
	struct event *read_ev;
	struct event *write_ev;
	struct event *retry_ev;
	struct evbuffer *in;
	struct evbuffer *out;
	bool connected;
	bool busy;
	bool idle;
	uint64_t sched_ns;
	uint64_t start_ns;
	enum parse_state state;
	int status;
	uint64_t remaining;
	bool has_length;
	bool chunked;
	bool close_after;
};

struct loadgen {
	struct options opt;
	struct event_base *base;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char *host;
	char *path;
	char *body_prefix;
	size_t body_prefix_len;
	char suffix_const[LG_SUFFIX_MAX];
	char sig_const[2 * EVP_MAX_MD_SIZE + 1];
	uint32_t nonce;
	uint64_t counter;
	EVP_MAC_CTX *mac_base;
	struct conn *conns;
	struct conn **idle;
	unsigned n_idle;
	unsigned inflight;
	uint64_t issued;
	uint64_t t0;
	uint64_t window_start;
	uint64_t window_end;
	uint64_t t_end;
	bool stopping;
	struct event *tick_ev;
	uint64_t tick_due;
	struct event *stop_ev;
	struct event *deadline_ev;
	struct event *sweep_ev;
	struct event *sigint_ev;
	struct event *sigterm_ev;
	struct stats st;
};

static void loadgen_pump(struct loadgen *lg);
static void conn_connect(struct conn *c);

/* Read CLOCK_MONOTONIC in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Convert seconds to nanoseconds, clamping negatives to zero. */
static uint64_t sec_to_ns(double s)
{
	return s <= 0 ? 0 : (uint64_t)(s * (double)NSEC_PER_SEC);
}

/* Fill a timeval with a delay given in nanoseconds. */
static struct timeval ns_to_tv(uint64_t ns)
{
	struct timeval tv = {
	    .tv_sec = (time_t)(ns / NSEC_PER_SEC),
	    .tv_usec = (suseconds_t)((ns % NSEC_PER_SEC) / 1000),
	};

	return tv;
}

/* Print usage to a stream. */
static void usage(FILE *f)
{
	fprintf(f, "usage: loadgen --url http://127.0.0.1:PORT/PATH [options]\n"
	           "  --connections N       keep-alive connections (default 16)\n"
	           "  --duration S          measured seconds after warmup (default 10)\n"
	           "  --requests N          stop after N requests (capped by --duration, default "
	           "600 s)\n"
	           "  --warmup S            unmeasured seconds before the window (default 0)\n"
	           "  --body-size BYTES     JSON body size (default 1024)\n"
	           "  --rate R              0 = closed loop; R > 0 = open loop, R requests/s\n"
	           "  --timeout S           per-request timeout (default 30)\n"
	           "  --hmac-secret-env VAR sign bodies with HMAC-SHA256 keyed by $VAR\n"
	           "  --hmac-header NAME    signature header (default X-Signature)\n"
	           "  --hmac-prefix STR     signature prefix (default sha256=)\n"
	           "  --unique/--no-unique  distinct bodies (default --unique)\n"
	           "  --idempotency-header NAME  send NAME: <the body's id> (one key per body)\n");
}

/* Parse a non-negative decimal number of seconds or a rate. */
static int parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse a non-negative decimal integer. */
static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Apply one numeric option; returns negative on a bad value. */
static int options_apply_number(struct options *o, int key, const char *arg)
{
	uint64_t u = 0;

	switch (key) {
	case 'c':
		if (parse_u64(arg, &u) < 0 || u == 0 || u > 100000)
			return -EINVAL;
		o->connections = (unsigned)u;
		return 0;
	case 'n':
		return parse_u64(arg, &o->requests);
	case 'b':
		if (parse_u64(arg, &u) < 0 || u > LG_MAX_BODY)
			return -EINVAL;
		o->body_size = (size_t)u;
		return 0;
	case 'd':
		return parse_double(arg, &o->duration_s);
	case 'r':
		return parse_double(arg, &o->rate);
	case 'w':
		return parse_double(arg, &o->warmup_s);
	case 't':
		return parse_double(arg, &o->timeout_s);
	default:
		return -EINVAL;
	}
}

static const struct option loadgen_longopts[] = {
    {"url", required_argument, NULL, 'u'},
    {"connections", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"body-size", required_argument, NULL, 'b'},
    {"rate", required_argument, NULL, 'r'},
    {"warmup", required_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, 't'},
    {"hmac-secret-env", required_argument, NULL, 'S'},
    {"hmac-header", required_argument, NULL, 'H'},
    {"hmac-prefix", required_argument, NULL, 'P'},
    {"unique", no_argument, NULL, 'U'},
    {"no-unique", no_argument, NULL, 'N'},
    {"idempotency-header", required_argument, NULL, 'I'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Apply one string or flag option; returns false if key is not one of them. */
static bool options_apply_string(struct options *o, int key, const char *arg)
{
	switch (key) {
	case 'u':
		o->url = arg;
		return true;
	case 'S':
		o->hmac_env = arg;
		return true;
	case 'H':
		o->hmac_header = arg;
		return true;
	case 'P':
		o->hmac_prefix = arg;
		return true;
	case 'I':
		o->idem_header = arg;
		return true;
	case 'U':
	case 'N':
		o->unique = key == 'U';
		return true;
	default:
		return false;
	}
}

/* Parse argv into options; returns negative on a usage error. */
static int options_parse(struct options *o, int argc, char **argv)
{
	bool have_duration = false;
	int ch;

	*o = (struct options){.connections = 16,
	                      .duration_s = 10,
	                      .body_size = 1024,
	                      .hmac_header = "X-Signature",
	                      .hmac_prefix = "sha256=",
	                      .unique = true,
	                      .timeout_s = 30};
	while ((ch = getopt_long(argc, argv, "", loadgen_longopts, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			exit(EXIT_SUCCESS);
		}
		if (ch == '?')
			return -EINVAL;
		if (options_apply_string(o, ch, optarg))
			continue;
		have_duration |= ch == 'd';
		if (options_apply_number(o, ch, optarg) < 0) {
			fprintf(stderr, "loadgen: bad value: %s\n", optarg);
			return -EINVAL;
		}
	}
	/* --requests alone still has to end: cap it at LG_REQUESTS_CAP_S. */
	if (o->requests > 0 && !have_duration)
		o->duration_s = LG_REQUESTS_CAP_S;
	if (!o->url || optind != argc || o->duration_s <= 0 || o->timeout_s <= 0)
		return -EINVAL;
	/* The request head is formatted into LG_HEADER_MAX bytes: keep every part well inside. */
	if (strlen(o->url) > LG_HEADER_MAX / 4 ||
	    strlen(o->hmac_header) + strlen(o->hmac_prefix) > LG_HEADER_MAX / 4 ||
	    (o->idem_header && strlen(o->idem_header) > LG_HEADER_MAX / 8))
		return -EINVAL;
	return 0;
}

/* Resolve the URL into a socket address, a Host header value and a request target. */
static int loadgen_resolve(struct loadgen *lg)
{
	struct evhttp_uri *uri = evhttp_uri_parse(lg->opt.url);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	const char *scheme, *host, *path, *query;
	char port[16];
	int r = -EINVAL;

	if (!uri)
		goto out;
	scheme = evhttp_uri_get_scheme(uri);
	host = evhttp_uri_get_host(uri);
	if (!scheme || strcasecmp(scheme, "http") != 0 || !host)
		goto out;
	snprintf(port, sizeof(port), "%d",
	         evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : 80);
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		goto out;
	memcpy(&lg->addr, ai->ai_addr, ai->ai_addrlen);
	lg->addr_len = ai->ai_addrlen;
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	if (asprintf(&lg->host, "%s:%s", host, port) < 0 ||
	    asprintf(&lg->path, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
	             query ? query : "") < 0)
		goto out;
	r = 0;
out:
	if (ai)
		freeaddrinfo(ai);
	if (uri)
		evhttp_uri_free(uri);
	return r;
}

/* Length of the varying tail of every body: nonce, counter and the closing bytes. */
static size_t body_suffix_len(void)
{
	return strlen("00000000-0000000000000000\"}");
}

/* Fill the pad with pseudo-random alphanumerics: as incompressible for pglz as real payloads,
 * and the same bytes in loadgen and pg_ceiling (fixed seed). */
static void body_pad_fill(char *p, size_t n)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = alphabet[(x >> 33) % (sizeof(alphabet) - 1)];
	}
}

/* Build the constant body prefix {"pad":"…","id":" sized so the whole body is body_size. */
static int loadgen_body_init(struct loadgen *lg)
{
	static const char head[] = "{\"pad\":\"";
	static const char mid[] = "\",\"id\":\"";
	size_t fixed = strlen(head) + strlen(mid) + body_suffix_len();
	size_t pad = lg->opt.body_size > fixed ? lg->opt.body_size - fixed : 0;

	lg->body_prefix_len = strlen(head) + pad + strlen(mid);
	lg->body_prefix = malloc(lg->body_prefix_len);
	if (!lg->body_prefix)
		return -ENOMEM;
	memcpy(lg->body_prefix, head, sizeof(head) - 1);
	body_pad_fill(lg->body_prefix + sizeof(head) - 1, pad);
	memcpy(lg->body_prefix + sizeof(head) - 1 + pad, mid, sizeof(mid) - 1);
	if (getrandom(&lg->nonce, sizeof(lg->nonce), 0) != sizeof(lg->nonce))
		lg->nonce = (uint32_t)getpid() ^ (uint32_t)now_ns();
	return 0;
}

/* Write the next body tail into buf; with --no-unique the tail never changes. */
static size_t body_suffix_next(struct loadgen *lg, char *buf)
{
	uint64_t n = lg->opt.unique ? ++lg->counter : 0;

	return (size_t)snprintf(buf, LG_SUFFIX_MAX, "%08" PRIx32 "-%016" PRIx64 "\"}", lg->nonce,
	                        n);
}

/* Key an HMAC-SHA256 context with the secret from the environment and feed it the prefix. */
static int loadgen_mac_init(struct loadgen *lg)
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};
	const char *secret = getenv(lg->opt.hmac_env);
	EVP_MAC *mac;

	if (!secret || !*secret) {
		fprintf(stderr, "loadgen: $%s is empty or unset\n", lg->opt.hmac_env);
		return -EINVAL;
	}
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return -ENOMEM;
	lg->mac_base = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (!lg->mac_base ||
	    !EVP_MAC_init(lg->mac_base, (const unsigned char *)secret, strlen(secret), params) ||
	    !EVP_MAC_update(lg->mac_base, (const unsigned char *)lg->body_prefix,
	                    lg->body_prefix_len))
		return -ENOMEM;
	return 0;
}

/* Finish the HMAC of prefix + suffix as lowercase hex; the prefix state is reused. */
static int body_sign(struct loadgen *lg, const char *suffix, size_t len, char *ret_hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(lg->mac_base);
	size_t mac_len = 0;
	int r = -ENOMEM;

	if (!ctx)
		return r;
	if (EVP_MAC_update(ctx, (const unsigned char *)suffix, len) &&
	    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac))) {
		for (size_t i = 0; i < mac_len; i++) {
			ret_hex[2 * i] = digits[mac[i] >> 4];
			ret_hex[2 * i + 1] = digits[mac[i] & 0xf];
		}
		ret_hex[2 * mac_len] = '\0';
		r = 0;
	}
	EVP_MAC_CTX_free(ctx);
	return r;
}

/* Precompute the tail and signature used by every request when bodies are not unique. */
static int loadgen_const_init(struct loadgen *lg)
{
	size_t len;

	if (lg->opt.unique)
		return 0;
	len = body_suffix_next(lg, lg->suffix_const);
	if (!lg->mac_base)
		return 0;
	return body_sign(lg, lg->suffix_const, len, lg->sig_const);
}

/* Keep one latency sample in microseconds, dropping it once the bound is reached. */
static void stats_sample_add(struct stats *st, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (st->n_samples == st->cap_samples) {
		size_t cap = st->cap_samples ? st->cap_samples * 2 : 65536;
		uint32_t *p;

		if (cap > LG_MAX_SAMPLES)
			cap = LG_MAX_SAMPLES;
		p = cap > st->cap_samples ? realloc(st->samples_us, cap * sizeof(*p)) : NULL;
		if (!p) {
			st->dropped_samples++;
			return;
		}
		st->samples_us = p;
		st->cap_samples = cap;
	}
	st->samples_us[st->n_samples++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Whether a request scheduled at sched_ns belongs to the measured window. */
static bool loadgen_in_window(const struct loadgen *lg, uint64_t sched_ns)
{
	return sched_ns >= lg->window_start && sched_ns < lg->window_end;
}

/* Count a finished response and keep its latency when it is a measured 2xx. */
static void loadgen_account(struct loadgen *lg, const struct conn *c, uint64_t now)
{
	bool measured = loadgen_in_window(lg, c->sched_ns);
	bool ok = c->status >= 200 && c->status < 300;

	if (ok)
		lg->st.total_2xx++;
	if (!measured)
		return;
	if (ok) {
		lg->st.ok2xx++;
		stats_sample_add(&lg->st, now - c->sched_ns);
	} else if (c->status == 503) {
		lg->st.status_503++;
	} else {
		lg->st.other++;
	}
}

/* Stop the loop once nothing is in flight and no more requests will be issued. */
static void loadgen_maybe_finish(struct loadgen *lg)
{
	bool budget_done = lg->opt.requests > 0 && lg->issued >= lg->opt.requests;

	if (lg->inflight > 0 || !(lg->stopping || budget_done))
		return;
	if (lg->t_end == 0)
		lg->t_end = now_ns();
	event_base_loopexit(lg->base, NULL);
}

/* Put a connected, free connection on the idle stack. */
static void conn_make_idle(struct conn *c)
{
	struct loadgen *lg = c->lg;

	if (c->idle)
		return;
	c->idle = true;
	lg->idle[lg->n_idle++] = c;
}

/* Take a connection off the idle stack wherever it is. */
static void conn_unidle(struct conn *c)
{
	struct loadgen *lg = c->lg;

	if (!c->idle)
		return;
	for (unsigned i = 0; i < lg->n_idle; i++) {
		if (lg->idle[i] == c) {
			lg->idle[i] = lg->idle[--lg->n_idle];
			break;
		}
	}
	c->idle = false;
}

/* Release the socket and events of a connection; buffers are kept for the next one. */
static void conn_release(struct conn *c)
{
	if (c->read_ev)
		event_free(c->read_ev);
	if (c->write_ev)
		event_free(c->write_ev);
	c->read_ev = NULL;
	c->write_ev = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
}

/* Close a connection, counting its request as an error if failed, and plan a reconnect. */
static void conn_close(struct conn *c, bool failed)
{
	struct loadgen *lg = c->lg;
	struct timeval tv = {0, failed ? LG_RETRY_MS * 1000 : 0};

	if (c->busy) {
		c->busy = false;
		lg->inflight--;
		if (loadgen_in_window(lg, c->sched_ns))
			lg->st.errors++;
	} else if (failed && !c->connected) {
		lg->st.connect_errors++;
	}
	conn_unidle(c);
	conn_release(c);
	c->connected = false;
	if (!lg->stopping)
		event_add(c->retry_ev, &tv);
	loadgen_maybe_finish(lg);
}

/* Write what the kernel takes now and wait for writability for the rest. */
static void conn_flush(struct conn *c)
{
	if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(c, true);
		return;
	}
	if (evbuffer_get_length(c->out) > 0)
		event_add(c->write_ev, NULL);
}

/* Format the request head: the signature header when signing, and with --idempotency-header
 * the body's id (nonce and counter: unique per body, the same for a repeated body). */
static size_t request_head_build(const struct loadgen *lg, size_t body_len, const char *mac,
                                 const char *tail, char *buf, size_t size)
{
	char sig_line[LG_HEADER_MAX / 2] = "", idem_line[LG_HEADER_MAX / 4] = "";
	int n;

	if (lg->mac_base)
		snprintf(sig_line, sizeof(sig_line), "%s: %s%s\r\n", lg->opt.hmac_header,
		         lg->opt.hmac_prefix, mac);
	if (lg->opt.idem_header)
		snprintf(idem_line, sizeof(idem_line), "%s: %.*s\r\n", lg->opt.idem_header,
		         (int)(body_suffix_len() - 2), tail);
	n = snprintf(buf, size,
	             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	             "Content-Length: %zu\r\n%s%s\r\n",
	             lg->path, lg->host, body_len, sig_line, idem_line);
	if (n < 0 || (size_t)n >= size)
		abort();
	return (size_t)n;
}

/* Count a request sent inside the window and how late it left. */
static void conn_send_account(struct loadgen *lg, uint64_t sched_ns, uint64_t now)
{
	lg->st.sent++;
	if (now - sched_ns > lg->st.lag_max_ns)
		lg->st.lag_max_ns = now - sched_ns;
	if (now - sched_ns > NSEC_PER_SEC / 1000)
		lg->st.late_1ms++;
}

/* Queue one POST on a connection; sched_ns is when it was due, the latency origin. */
static void conn_send(struct conn *c, uint64_t sched_ns, uint64_t now)
{
	struct loadgen *lg = c->lg;
	struct evbuffer *out = c->out;
	char suffix[LG_SUFFIX_MAX], sig[2 * EVP_MAX_MD_SIZE + 1], head[LG_HEADER_MAX];
	const char *tail = lg->suffix_const, *mac = lg->sig_const;
	size_t tail_len = body_suffix_len(), head_len;

	if (lg->opt.unique) {
		tail_len = body_suffix_next(lg, suffix);
		tail = suffix;
		if (lg->mac_base && body_sign(lg, suffix, tail_len, sig) < 0)
			abort();
		mac = sig;
	}
	head_len =
	    request_head_build(lg, lg->body_prefix_len + tail_len, mac, tail, head, sizeof(head));
	evbuffer_add(out, head, head_len);
	evbuffer_add_reference(out, lg->body_prefix, lg->body_prefix_len, NULL, NULL);
	evbuffer_add(out, tail, tail_len);
	c->busy = true;
	c->sched_ns = sched_ns;
	c->start_ns = now;
	c->state = PARSE_STATUS;
	lg->inflight++;
	lg->issued++;
	lg->st.total_sent++;
	if (loadgen_in_window(lg, sched_ns))
		conn_send_account(lg, sched_ns, now);
	conn_flush(c);
}

/* Move one CRLF-terminated line into buf: 1 = line, 0 = need more, negative = too long. */
static int read_line(struct evbuffer *in, char *buf, size_t size)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);

	if (p.pos < 0)
		return evbuffer_get_length(in) >= size ? -EMSGSIZE : 0;
	if ((size_t)p.pos >= size)
		return -EMSGSIZE;
	evbuffer_remove(in, buf, (size_t)p.pos);
	buf[p.pos] = '\0';
	evbuffer_drain(in, eol_len);
	return 1;
}

/* Parse "HTTP/1.x NNN reason" and reset the per-response header state. */
static int conn_status_parse(struct conn *c, const char *line)
{
	char *end;
	long status;

	if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ')
		return -EPROTO;
	status = strtol(line + 9, &end, 10);
	if (end != line + 12 || status < 100 || status > 599)
		return -EPROTO;
	c->status = (int)status;
	c->has_length = false;
	c->chunked = false;
	c->close_after = line[7] == '0';
	c->state = PARSE_HEADERS;
	return STEP_PROGRESS;
}

/* Note the one response header that shapes framing or connection reuse. */
static int conn_header_parse(struct conn *c, char *line)
{
	char *colon = strchr(line, ':'), *value, *end;

	if (!colon)
		return -EPROTO;
	*colon = '\0';
	value = colon + 1 + strspn(colon + 1, " \t");
	if (strcasecmp(line, "content-length") == 0) {
		errno = 0;
		c->remaining = strtoull(value, &end, 10);
		if (errno != 0 || end == value)
			return -EPROTO;
		c->has_length = true;
	} else if (strcasecmp(line, "transfer-encoding") == 0) {
		c->chunked = strcasestr(value, "chunked") != NULL;
	} else if (strcasecmp(line, "connection") == 0) {
		if (strcasestr(value, "close"))
			c->close_after = true;
		else if (strcasestr(value, "keep-alive"))
			c->close_after = false;
	}
	return STEP_PROGRESS;
}

/* Choose how the body is framed once the blank line after the headers arrives. */
static int conn_headers_end(struct conn *c)
{
	if (c->status < 200) {
		c->state = PARSE_STATUS;
		return STEP_PROGRESS;
	}
	if (c->status == 204 || c->status == 304)
		return STEP_DONE;
	if (c->chunked) {
		c->state = PARSE_CHUNK_SIZE;
		return STEP_PROGRESS;
	}
	if (c->has_length) {
		c->state = PARSE_BODY;
		return c->remaining == 0 ? STEP_DONE : STEP_PROGRESS;
	}
	c->close_after = true;
	c->state = PARSE_UNTIL_CLOSE;
	return STEP_PROGRESS;
}

/* Handle one line in whichever line-oriented state the parser is in. */
static int conn_line_handle(struct conn *c, char *line)
{
	char *end;

	switch (c->state) {
	case PARSE_STATUS:
		return conn_status_parse(c, line);
	case PARSE_HEADERS:
		return *line ? conn_header_parse(c, line) : conn_headers_end(c);
	case PARSE_CHUNK_SIZE:
		errno = 0;
		c->remaining = strtoull(line, &end, 16);
		if (errno != 0 || end == line)
			return -EPROTO;
		c->state = c->remaining == 0 ? PARSE_TRAILERS : PARSE_CHUNK_DATA;
		return STEP_PROGRESS;
	case PARSE_CHUNK_CRLF:
		c->state = PARSE_CHUNK_SIZE;
		return *line ? -EPROTO : STEP_PROGRESS;
	case PARSE_TRAILERS:
		return *line ? STEP_PROGRESS : STEP_DONE;
	default:
		return -EPROTO;
	}
}

/* Consume body bytes of a length-delimited body or of one chunk. */
static int conn_data_consume(struct conn *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < c->remaining ? avail : (size_t)c->remaining;

	if (c->state == PARSE_UNTIL_CLOSE) {
		evbuffer_drain(in, avail);
		return STEP_MORE;
	}
	if (n == 0)
		return STEP_MORE;
	evbuffer_drain(in, n);
	c->remaining -= n;
	if (c->remaining > 0)
		return STEP_MORE;
	if (c->state == PARSE_BODY)
		return STEP_DONE;
	c->state = PARSE_CHUNK_CRLF;
	return STEP_PROGRESS;
}

/* Advance the response parser by one step. */
static int conn_parse_step(struct conn *c, struct evbuffer *in)
{
	char line[LG_MAX_LINE];
	int r;

	if (!c->busy)
		return evbuffer_get_length(in) > 0 ? -EPROTO : STEP_MORE;
	if (c->state == PARSE_BODY || c->state == PARSE_CHUNK_DATA || c->state == PARSE_UNTIL_CLOSE)
		return conn_data_consume(c, in);
	r = read_line(in, line, sizeof(line));
	if (r <= 0)
		return r;
	return conn_line_handle(c, line);
}

/* Account a complete response and hand the connection back; false if it was closed. */
static bool conn_response_done(struct conn *c)
{
	struct loadgen *lg = c->lg;

	loadgen_account(lg, c, now_ns());
	c->busy = false;
	lg->inflight--;
	/* An answer before the whole request was written leaves the stream unusable. */
	if (c->close_after || evbuffer_get_length(c->out) > 0) {
		conn_close(c, false);
		return false;
	}
	conn_make_idle(c);
	loadgen_pump(lg);
	loadgen_maybe_finish(lg);
	return true;
}

/* Parse every complete response buffered on a connection. */
static void conn_parse_all(struct conn *c)
{
	int r;

	for (;;) {
		r = conn_parse_step(c, c->in);
		if (r < 0) {
			conn_close(c, true);
			return;
		}
		if (r == STEP_MORE)
			return;
		if (r == STEP_DONE && !conn_response_done(c))
			return;
	}
}

/* The peer closed: that ends a close-delimited body, otherwise it fails the request. */
static void conn_eof(struct conn *c, bool clean)
{
	if (clean && c->busy && c->state == PARSE_UNTIL_CLOSE) {
		conn_response_done(c);
		return;
	}
	conn_close(c, c->busy || !clean);
}

/* Read what arrived with one read() (no FIONREAD round trip) and parse it. */
static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char buf[LG_READ_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_eof(c, n == 0);
		return;
	}
	evbuffer_add(c->in, buf, (size_t)n);
	conn_parse_all(c);
}

/* The connection is up: start reading and offer it for requests. */
static void conn_connected(struct conn *c)
{
	c->connected = true;
	event_add(c->read_ev, NULL);
	conn_make_idle(c);
	loadgen_pump(c->lg);
}

/* Writable: either the connect finished or a partial write can continue. */
static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	if (c->connected) {
		conn_flush(c);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		conn_close(c, true);
		return;
	}
	conn_connected(c);
}

/* Create a non-blocking TCP_NODELAY socket with its read and write events. */
static int conn_socket_open(struct conn *c)
{
	struct loadgen *lg = c->lg;
	int one = 1;

	c->fd = socket(lg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->read_ev = event_new(lg->base, c->fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->write_ev = event_new(lg->base, c->fd, EV_WRITE, conn_write_cb, c);
	return c->read_ev && c->write_ev ? 0 : -ENOMEM;
}

/* Open the TCP connection of one slot; failures are retried from the retry timer. */
static void conn_connect(struct conn *c)
{
	struct loadgen *lg = c->lg;

	if (conn_socket_open(c) < 0) {
		conn_close(c, true);
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&lg->addr, lg->addr_len) == 0)
		conn_connected(c);
	else if (errno == EINPROGRESS)
		event_add(c->write_ev, NULL);
	else
		conn_close(c, true);
}

/* Reconnect a slot after a close or a failed connect. */
static void conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (!c->lg->stopping && c->fd < 0)
		conn_connect(c);
}

/* Give the next request its scheduled time if one may be issued now. */
static bool loadgen_next_due(const struct loadgen *lg, uint64_t now, uint64_t *ret_sched)
{
	uint64_t due;

	if (lg->stopping || (lg->opt.requests > 0 && lg->issued >= lg->opt.requests))
		return false;
	if (lg->opt.rate <= 0) {
		*ret_sched = now;
		return true;
	}
	due = lg->t0 + (uint64_t)((double)lg->issued * (double)NSEC_PER_SEC / lg->opt.rate);
	if (due > now)
		return false;
	*ret_sched = due;
	return true;
}

/* Issue every due request on idle connections; in open loop, wake up for the next one. */
static void loadgen_pump(struct loadgen *lg)
{
	uint64_t now = now_ns(), sched = 0, due;
	struct timeval tv;

	while (lg->n_idle > 0 && loadgen_next_due(lg, now, &sched)) {
		struct conn *c = lg->idle[--lg->n_idle];

		c->idle = false;
		conn_send(c, sched, now);
	}
	if (lg->opt.rate <= 0 || lg->n_idle == 0 || lg->stopping ||
	    (lg->opt.requests > 0 && lg->issued >= lg->opt.requests))
		return;
	due = lg->t0 + (uint64_t)((double)lg->issued * (double)NSEC_PER_SEC / lg->opt.rate);
	/* Re-arming costs a timerfd_settime(); responses arrive far more often than sends. */
	if (due == lg->tick_due && event_pending(lg->tick_ev, EV_TIMEOUT, NULL))
		return;
	lg->tick_due = due;
	tv = ns_to_tv(due > now ? due - now : 0);
	event_add(lg->tick_ev, &tv);
}

/* Open-loop timer: the next request is due. */
static void loadgen_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	loadgen_pump(arg);
}

/* Count open-loop requests that fell due inside the window but never found a connection. */
static uint64_t loadgen_missed(const struct loadgen *lg, uint64_t now)
{
	uint64_t last = now < lg->window_end ? now : lg->window_end - 1, due;

	if (lg->opt.rate <= 0 || last < lg->t0)
		return 0;
	due = (uint64_t)((double)(last - lg->t0) * lg->opt.rate / (double)NSEC_PER_SEC) + 1;
	if (lg->opt.requests > 0 && due > lg->opt.requests)
		due = lg->opt.requests;
	return due > lg->issued ? due - lg->issued : 0;
}

/* Stop issuing requests; in-flight ones may drain until the deadline. */
static void loadgen_stop(struct loadgen *lg)
{
	struct timeval tv = ns_to_tv(sec_to_ns(LG_DRAIN_S));
	uint64_t now = now_ns();

	if (lg->stopping)
		return;
	lg->st.missed = loadgen_missed(lg, now);
	lg->stopping = true;
	lg->t_end = now;
	event_del(lg->tick_ev);
	event_add(lg->deadline_ev, &tv);
	loadgen_maybe_finish(lg);
}

/* End of the measured window. */
static void loadgen_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	loadgen_stop(arg);
}

/* Drain deadline reached, or a signal asked us to stop now. */
static void loadgen_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loadgen *lg = arg;

	loadgen_stop(lg);
	event_base_loopexit(lg->base, NULL);
}

/* Once a second, fail requests that have waited longer than --timeout. */
static void loadgen_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loadgen *lg = arg;
	uint64_t now = now_ns(), limit = sec_to_ns(lg->opt.timeout_s);

	for (unsigned i = 0; i < lg->opt.connections; i++) {
		struct conn *c = &lg->conns[i];

		if (c->busy && now - c->start_ns > limit)
			conn_close(c, true);
	}
}

/* Order latency samples for percentile lookup. */
static int sample_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double percentile_ms(const struct stats *st, double q)
{
	size_t rank;

	if (st->n_samples == 0)
		return 0;
	rank = (size_t)ceil(q * (double)st->n_samples);
	if (rank < 1)
		rank = 1;
	if (rank > st->n_samples)
		rank = st->n_samples;
	return st->samples_us[rank - 1] / 1000.0;
}

/* Print the one machine-readable result line. */
static void loadgen_report(struct loadgen *lg)
{
	struct stats *st = &lg->st;
	uint64_t end = lg->t_end ? lg->t_end : now_ns();
	double dur = end > lg->window_start ? (double)(end - lg->window_start) / 1e9 : 0;
	struct rusage ru = {0};

	(void)getrusage(RUSAGE_SELF, &ru);
	if (st->n_samples > 0)
		qsort(st->samples_us, st->n_samples, sizeof(*st->samples_us), sample_cmp);
	printf("conns=%u body=%zu rate_target=%.0f sent=%" PRIu64 " ok2xx=%" PRIu64
	       " status_503=%" PRIu64 " other=%" PRIu64 " errors=%" PRIu64
	       " duration_s=%.3f rps_2xx=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f"
	       " total_sent=%" PRIu64 " total_2xx=%" PRIu64 " unanswered=%u missed=%" PRIu64
	       " connect_errors=%" PRIu64 " late_1ms=%" PRIu64 " lag_max_ms=%.3f"
	       " cpu_user_s=%.6f cpu_sys_s=%.6f\n",
	       lg->opt.connections, lg->body_prefix_len + body_suffix_len(), lg->opt.rate, st->sent,
	       st->ok2xx, st->status_503, st->other, st->errors, dur,
	       dur > 0 ? (double)st->ok2xx / dur : 0, percentile_ms(st, 0.50),
	       percentile_ms(st, 0.99), percentile_ms(st, 0.999), percentile_ms(st, 1.0),
	       st->total_sent, st->total_2xx, lg->inflight, st->missed, st->connect_errors,
	       st->late_1ms, (double)st->lag_max_ns / 1e6,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if (st->dropped_samples > 0)
		fprintf(stderr, "loadgen: %" PRIu64 " latency samples dropped\n",
		        st->dropped_samples);
	fflush(stdout);
}

/* Create the loop-wide timers and signal handlers. */
static int loadgen_events_init(struct loadgen *lg)
{
	struct timeval one_s = {1, 0};

	lg->tick_ev = evtimer_new(lg->base, loadgen_tick_cb, lg);
	lg->stop_ev = evtimer_new(lg->base, loadgen_stop_cb, lg);
	lg->deadline_ev = evtimer_new(lg->base, loadgen_deadline_cb, lg);
	lg->sweep_ev = event_new(lg->base, -1, EV_PERSIST, loadgen_sweep_cb, lg);
	lg->sigint_ev = evsignal_new(lg->base, SIGINT, loadgen_deadline_cb, lg);
	lg->sigterm_ev = evsignal_new(lg->base, SIGTERM, loadgen_deadline_cb, lg);
	if (!lg->tick_ev || !lg->stop_ev || !lg->deadline_ev || !lg->sweep_ev || !lg->sigint_ev ||
	    !lg->sigterm_ev)
		return -ENOMEM;
	if (event_add(lg->sweep_ev, &one_s) < 0 || event_add(lg->sigint_ev, NULL) < 0 ||
	    event_add(lg->sigterm_ev, NULL) < 0)
		return -EIO;
	return 0;
}

/* Allocate the connection slots and the idle stack. */
static int loadgen_conns_init(struct loadgen *lg)
{
	unsigned n = lg->opt.connections;

	lg->conns = calloc(n, sizeof(*lg->conns));
	lg->idle = calloc(n, sizeof(struct conn *));
	if (!lg->conns || !lg->idle)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct conn *c = &lg->conns[i];

		c->lg = lg;
		c->fd = -1;
		c->retry_ev = evtimer_new(lg->base, conn_retry_cb, c);
		c->in = evbuffer_new();
		c->out = evbuffer_new();
		if (!c->retry_ev || !c->in || !c->out)
			return -ENOMEM;
	}
	return 0;
}

/* Build everything the run needs; nothing is connected yet. */
static int loadgen_init(struct loadgen *lg)
{
	struct event_config *cfg = event_config_new();
	int r;

	if (!cfg)
		return -ENOMEM;
	/* Open-loop sends are timed by timers: ask for timerfd precision, not epoll's 1 ms. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	lg->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!lg->base)
		return -ENOMEM;
	r = loadgen_resolve(lg);
	if (r < 0) {
		fprintf(stderr, "loadgen: cannot use URL %s\n", lg->opt.url);
		return r;
	}
	r = loadgen_body_init(lg);
	if (r >= 0 && lg->opt.hmac_env)
		r = loadgen_mac_init(lg);
	if (r >= 0)
		r = loadgen_const_init(lg);
	if (r >= 0)
		r = loadgen_events_init(lg);
	if (r >= 0)
		r = loadgen_conns_init(lg);
	return r;
}

/* Connect every slot, arm the end of the window and run the loop. */
static void loadgen_run(struct loadgen *lg)
{
	struct timeval tv;

	lg->t0 = now_ns();
	lg->window_start = lg->t0 + sec_to_ns(lg->opt.warmup_s);
	lg->window_end = lg->window_start + sec_to_ns(lg->opt.duration_s);
	tv = ns_to_tv(lg->window_end - lg->t0);
	event_add(lg->stop_ev, &tv);
	for (unsigned i = 0; i < lg->opt.connections; i++)
		conn_connect(&lg->conns[i]);
	event_base_dispatch(lg->base);
}

/* Release everything loadgen_init() built; tolerates a partial init. */
static void loadgen_fini(struct loadgen *lg)
{
	for (unsigned i = 0; lg->conns && i < lg->opt.connections; i++) {
		struct conn *c = &lg->conns[i];

		if (c->in && c->out)
			conn_release(c);
		if (c->retry_ev)
			event_free(c->retry_ev);
		if (c->in)
			evbuffer_free(c->in);
		if (c->out)
			evbuffer_free(c->out);
	}
	free(lg->conns);
	free(lg->idle);
	if (lg->tick_ev)
		event_free(lg->tick_ev);
	if (lg->stop_ev)
		event_free(lg->stop_ev);
	if (lg->deadline_ev)
		event_free(lg->deadline_ev);
	if (lg->sweep_ev)
		event_free(lg->sweep_ev);
	if (lg->sigint_ev)
		event_free(lg->sigint_ev);
	if (lg->sigterm_ev)
		event_free(lg->sigterm_ev);
	EVP_MAC_CTX_free(lg->mac_base);
	free(lg->body_prefix);
	free(lg->host);
	free(lg->path);
	free(lg->st.samples_us);
	if (lg->base)
		event_base_free(lg->base);
}

/* Parse options, run one load test and print its result line. */
int main(int argc, char **argv)
{
	struct loadgen lg = {0};
	int r;

	if (options_parse(&lg.opt, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r = loadgen_init(&lg);
	if (r < 0) {
		fprintf(stderr, "loadgen: setup failed: %s\n", strerror(-r));
		loadgen_fini(&lg);
		return 1;
	}
	loadgen_run(&lg);
	loadgen_report(&lg);
	loadgen_fini(&lg);
	return 0;
}
