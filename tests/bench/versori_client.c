/* Benchmark: the Versori client (http_client + versori_call) against a real versori-sim over
 * loopback. Starts the simulator on the demo fixture with per-run secrets, then for each
 * concurrency level creates N end users and reads them back with at most C calls in flight,
 * and prints calls/s, p50/p99/p99.9 latency, connections opened and peak RSS of both sides.
 *
 *   versori_client BUILD_DIR SOURCE_DIR [--calls N] [--levels 1,8,32]
 *
 * Everything listens on 127.0.0.1; the simulator is stopped by PID on exit, even on failure. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto.h"
#include "http_client.h"
#include "versori.h"
#include "versori_auth.h"
#include "versori_request.h"
#include "xalloc.h"

#define ORG        "01JGFJJZ00M9S346Q3D25VT4F5"
#define MAX_LEVELS 8

static pid_t sim_pid;

/* Stop the simulator, whatever happens. */
static void sim_stop(void)
{
	if (sim_pid > 0) {
		kill(sim_pid, SIGTERM);
		waitpid(sim_pid, NULL, 0);
		sim_pid = 0;
	}
}

/* Milliseconds on the monotonic clock. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The port in the simulator's listening line of log, or 0 while it is not there. */
static int sim_log_port(const char *log)
{
	char line[1024];
	int port = 0;
	FILE *f = fopen(log, "r");

	while (f && !port && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "event=sim.listening");

		p = p ? strstr(p, " port=") : NULL;
		port = p ? atoi(p + 6) : 0;
	}
	if (f)
		fclose(f);
	return port;
}

/* Start versori-sim on a free port with its output in log; its port (read from the listening
 * line within 10 s), or -1. */
static int sim_start(const char *build, const char *src, const char *api_key, const char *log)
{
	double deadline = now_ms() + 10000;
	int port = 0;

	sim_pid = fork();
	if (sim_pid == 0) {
		_cleanup_free_ char *bin = xasprintf("%s/services/versori-sim/versori-sim", build);
		_cleanup_free_ char *fixture =
		    xasprintf("%s/deploy/dev/versori-sim.fixture.json", src);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(127);
		setenv("VERSORI_SIM_API_KEY", api_key, 1);
		setenv("VERSORI_SIM_SIGNING_PUBLIC_KEY", "unused", 1);
		execl(bin, bin, "--port", "0", "--fixture", fixture, NULL);
		_exit(127);
	}
	atexit(sim_stop);
	while (sim_pid > 0 && !(port = sim_log_port(log)) && now_ms() < deadline &&
	       waitpid(sim_pid, NULL, WNOHANG) == 0)
		usleep(10000);
	if (port <= 0) {
		fprintf(stderr, "versori_client: versori-sim did not start (log: %s)\n", log);
		return -1;
	}
	return port;
}

/* One level's run: n calls of one kind, at most c in flight. */
struct run {
	struct event_base *base;
	struct versori_client *vc;
	const char *kind; /* "create" or "get" */
	int level;
	int n, c;
	int sent, done, failed;
	double *lat;
	double *start;
};

static void run_send(struct run *r);

/* One call finished: record it and keep the window full. */
static void run_done(struct versori_outcome *o, void *userdata)
{
	struct run *r = userdata;
	int i = r->done++;

	r->lat[i] = o->total_ms;
	if (o->class != VERSORI_OUTCOME_SUCCESS)
		r->failed++;
	if (r->sent < r->n)
		run_send(r);
	if (r->done == r->n)
		event_base_loopbreak(r->base);
}

/* Send the next call of the run. */
static void run_send(struct run *r)
{
	struct versori_request req = {0};
	char ext[64];
	int i = r->sent++;
	int k;

	snprintf(ext, sizeof(ext), "bench-%d-%d", r->level, i);
	if (strcmp(r->kind, "create") == 0)
		k = versori_request_end_user_create_build(ORG, ext, "bench", &req, NULL);
	else
		k = versori_request_end_user_get_build(ORG, ext, &req, NULL);
	if (k < 0 || versori_call(r->vc, &req, run_done, r) < 0) {
		fprintf(stderr, "versori_client: cannot queue a call\n");
		exit(1);
	}
	versori_request_fini(&req);
}

/* Sort helper for latencies. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of sorted values. */
static double quantile(const double *v, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* Run one kind at one level and print its line. */
static void run_level(struct event_base *base, struct versori_client *vc, struct http_client *http,
                      const char *kind, int level, int n)
{
	struct run r = {.base = base, .vc = vc, .kind = kind, .level = level, .n = n, .c = level};
	long conns = http_client_connections_opened(http);
	double t0;

	r.lat = xcalloc((size_t)n, sizeof(double));
	t0 = now_ms();
	for (int i = 0; i < level && r.sent < n; i++)
		run_send(&r);
	event_base_dispatch(base);
	t0 = now_ms() - t0;
	qsort(r.lat, (size_t)n, sizeof(double), cmp_double);
	printf("%-6s %5d %7d %9.0f %8.2f %8.2f %8.2f %6ld %6d\n", kind, level, n, n / t0 * 1e3,
	       quantile(r.lat, n, 0.5), quantile(r.lat, n, 0.99), quantile(r.lat, n, 0.999),
	       http_client_connections_opened(http) - conns, r.failed);
	fflush(stdout);
	free(r.lat);
}

/* Peak RSS of a process in KiB from /proc (VmHWM), or -1. */
static long peak_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	int n = 2000, levels[MAX_LEVELS] = {1, 8, 32}, n_levels = 3, port;
	char log[64];
	unsigned char raw[24];
	_cleanup_free_ char *key = NULL, *url = NULL;
	struct versori_auth *auth = NULL;
	struct event_base *base;
	struct http_client *http;
	struct versori_client *vc;
	const char *err;

	if (argc < 3) {
		fprintf(stderr, "usage: versori_client BUILD_DIR SOURCE_DIR [--calls N] "
		                "[--levels 1,8,32]\n");
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--calls") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--levels") == 0) {
			char *s = argv[i + 1], *tok;

			n_levels = 0;
			while ((tok = strsep(&s, ",")) && n_levels < MAX_LEVELS)
				levels[n_levels++] = atoi(tok);
		}
	}
	if (n < 1 || crypto_random_bytes(raw, sizeof(raw)) < 0)
		return 2;
	key = crypto_hex_encode(raw, sizeof(raw));
	snprintf(log, sizeof(log), "/tmp/versori-client-bench.%d.log", (int)getpid());
	if ((port = sim_start(argv[1], argv[2], key, log)) <= 0)
		return 1;
	url = xasprintf("http://127.0.0.1:%d", port);
	base = event_base_new();
	http = http_client_new(
	    base, &(struct http_client_options){.max_host_connections = 64, .max_in_flight = 256},
	    &err);
	if (!base || !http || versori_auth_new_api_key(key, &auth) < 0)
		return 1;
	vc = versori_client_new(http, &(struct versori_client_options){
	                                  .base_url = url, .organisation_id = ORG, .auth = auth});
	printf("# versori client -> versori-sim on 127.0.0.1, %d calls per level\n", n);
	printf("%-6s %5s %7s %9s %8s %8s %8s %6s %6s\n", "call", "conc", "calls", "calls/s",
	       "p50_ms", "p99_ms", "p99.9_ms", "conns", "failed");
	for (int i = 0; i < n_levels; i++) {
		run_level(base, vc, http, "create", levels[i], n);
		run_level(base, vc, http, "get", levels[i], n);
	}
	printf("# peak RSS: bench %ld KiB, versori-sim %ld KiB\n", peak_rss_kib(getpid()),
	       peak_rss_kib(sim_pid));
	versori_client_free(vc);
	versori_auth_free(auth);
	http_client_free(http);
	event_base_free(base);
	sim_stop();
	unlink(log);
	return 0;
}
