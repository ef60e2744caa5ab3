/* Microbenchmark: the ingress's JSON work per request, jansson against common/json/json_scan.c.
 * Prints ns per call (median of 5 repetitions, each long enough to time well) for:
 *   check    json_loadb + json_decref  vs  json_scan_check
 *   pointer  json_loadb + json_pointer_get + json_scalar_to_string  vs  json_scan_pointer
 * on a loadgen-style 1 KiB body {"pad":"…","id":"…"}, a ~300 B nested webhook and a 64 KiB
 * loadgen-style body, and for the stored headers object: the former jansson builder (copied
 * below) vs webhook_receipt_headers_json() on 8 typical headers.
 *
 *   json_scan [--quick]
 *
 * CPU only: no network, no files. --quick times shorter repetitions (figures get noisier). */
#include "json_scan.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "http_req.h"
#include "json.h"
#include "webhook_auth.h"
#include "webhook_receipt.h"
#include "xalloc.h"

#define REPS 5

typedef void (*bench_fn)(const void *arg);

/* Keeps results alive so the compiler cannot drop the calls. */
static volatile uintptr_t sink;
static double min_rep_ns = 40e6;

/* Nanoseconds on the monotonic clock. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Compare doubles for qsort. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median ns per call of fn(arg) over REPS repetitions of a calibrated number of calls. */
static double bench(bench_fn fn, const void *arg)
{
	double reps[REPS], t;
	size_t n = 1;

	for (;;) { /* calibrate: double n until one repetition takes min_rep_ns */
		t = now_ns();
		for (size_t i = 0; i < n; i++)
			fn(arg);
		t = now_ns() - t;
		if (t >= min_rep_ns || n >= ((size_t)1 << 30))
			break;
		n *= 2;
	}
	for (int r = 0; r < REPS; r++) {
		t = now_ns();
		for (size_t i = 0; i < n; i++)
			fn(arg);
		reps[r] = (now_ns() - t) / (double)n;
	}
	qsort(reps, REPS, sizeof(reps[0]), cmp_double);
	return reps[REPS / 2];
}

struct body {
	const char *name;
	char *buf;
	size_t len;
};

/* The loadgen body of size bytes: {"pad":"<alphanumerics>","id":"<25 chars>"}. */
static struct body body_loadgen(const char *name, size_t size)
{
	static const char head[] = "{\"pad\":\"";
	static const char tail[] = "\",\"id\":\"00000000-0000000000000042\"}";
	size_t pad = size - (sizeof(head) - 1) - (sizeof(tail) - 1);
	char *b = xmalloc(size + 1);
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	memcpy(b, head, sizeof(head) - 1);
	for (size_t i = 0; i < pad; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		b[sizeof(head) - 1 + i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 33) % 36];
	}
	memcpy(b + sizeof(head) - 1 + pad, tail, sizeof(tail));
	return (struct body){name, b, size};
}

/* A realistic nested webhook of about 300 bytes. */
static struct body body_webhook(void)
{
	static const char text[] =
	    "{\"id\":\"evt_01HZX3K9QW\",\"type\":\"customer.activated\",\"created\":1718035200,"
	    "\"livemode\":true,\"data\":{\"customer\":{\"id\":\"cus_9f8e7d\",\"email\":"
	    "\"ana@example.com\",\"name\":\"Ana Mar\\u00eda\",\"tags\":[\"gold\",\"eu\"]},"
	    "\"environment\":{\"id\":\"env_42\",\"variables\":{\"region\":\"eu-west-1\","
	    "\"seats\":25,\"trial\":false,\"ratio\":0.75}}},\"attempt\":1}";

	return (struct body){"webhook_300B", xstrdup(text), sizeof(text) - 1};
}

/* json_loadb + json_decref. */
static void run_jansson_check(const void *arg)
{
	const struct body *b = arg;
	json_t *v = json_loadb(b->buf, b->len, 0, NULL);

	if (!v)
		abort();
	sink += (uintptr_t)v;
	json_decref(v);
}

/* json_scan_check. */
static void run_scan_check(const void *arg)
{
	const struct body *b = arg;

	if (json_scan_check(b->buf, b->len, NULL) != 0)
		abort();
	sink++;
}

/* The former key path: parse the tree, follow /id, render it. */
static void run_jansson_pointer(const void *arg)
{
	const struct body *b = arg;
	json_t *v = json_loadb(b->buf, b->len, 0, NULL);
	char *key = json_scalar_to_string(json_pointer_get(v, "/id"));

	if (!key)
		abort();
	sink += (uintptr_t)key;
	free(key);
	json_decref(v);
}

/* json_scan_pointer. */
static void run_scan_pointer(const void *arg)
{
	const struct body *b = arg;
	char *key = NULL;

	if (json_scan_pointer(b->buf, b->len, "/id", &key) != 0 || !key)
		abort();
	sink += (uintptr_t)key;
	free(key);
}

/* The headers object as webhook_receipt.c built it before json_scan (jansson), for comparison. */
static char *old_headers_json(const struct source_config *src, const struct http_req *req)
{
	json_t *obj = json_object();
	char name[128], *s;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		size_t n = strlen(h->name);
		if (n >= sizeof(name) || webhook_auth_header_is_secret(src, h->name))
			continue;
		for (size_t j = 0; j <= n; j++)
			name[j] = (char)tolower((unsigned char)h->name[j]);
		json_t *prev = json_object_get(obj, name);
		json_t *v = prev ? json_sprintf("%s, %s", json_string_value(prev), h->value)
		                 : json_string(h->value);
		json_object_set_new(obj, name, v ? v : json_string("(invalid utf-8)"));
	}
	s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		abort();
	json_decref(obj);
	return s;
}

struct headers_case {
	struct source_config src;
	struct http_req req;
};

/* The jansson headers builder. */
static void run_old_headers(const void *arg)
{
	const struct headers_case *c = arg;
	char *s = old_headers_json(&c->src, &c->req);

	sink += (uintptr_t)s;
	free(s);
}

/* webhook_receipt_headers_json. */
static void run_new_headers(const void *arg)
{
	const struct headers_case *c = arg;
	char *s = webhook_receipt_headers_json(&c->src, &c->req);

	sink += (uintptr_t)s;
	free(s);
}

/* Print one comparison row. */
static void row(const char *what, const char *input, double old_ns, double new_ns)
{
	printf("%-8s %-14s %12.0f %12.0f %8.1fx\n", what, input, old_ns, new_ns, old_ns / new_ns);
}

/* Time every comparison and print the table. */
int main(int argc, char **argv)
{
	static struct http_header hs[] = {
	    {"Host", "hooks.example.com"},
	    {"User-Agent", "Versori-Webhooks/2.3 (+https://versori.com)"},
	    {"Content-Type", "application/json; charset=utf-8"},
	    {"Content-Length", "1024"},
	    {"Accept", "*/*"},
	    {"X-Request-Id", "0190b5c8-7c2e-7000-8000-3f9a1c2b4d5e"},
	    {"X-Signature",
	     "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
	    {"X-Forwarded-For", "203.0.113.7, 10.0.0.2"},
	};
	struct headers_case hc = {
	    .src = {.name = (char *)"bench", .signature_header = (char *)"X-Signature"},
	    .req = {.headers = hs, .n_headers = ELEMENTSOF(hs)},
	};
	struct body bodies[] = {body_loadgen("loadgen_1KiB", 1024), body_webhook(),
	                        body_loadgen("loadgen_64KiB", 65536)};

	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		min_rep_ns = 5e6;
	printf("%-8s %-14s %12s %12s %9s\n", "what", "input", "jansson_ns", "json_scan_ns",
	       "speedup");
	for (size_t i = 0; i < ELEMENTSOF(bodies); i++)
		row("check", bodies[i].name, bench(run_jansson_check, &bodies[i]),
		    bench(run_scan_check, &bodies[i]));
	for (size_t i = 0; i < ELEMENTSOF(bodies); i++)
		row("pointer", bodies[i].name, bench(run_jansson_pointer, &bodies[i]),
		    bench(run_scan_pointer, &bodies[i]));
	row("headers", "8_headers", bench(run_old_headers, &hc), bench(run_new_headers, &hc));
	for (size_t i = 0; i < ELEMENTSOF(bodies); i++)
		free(bodies[i].buf);
	return 0;
}
