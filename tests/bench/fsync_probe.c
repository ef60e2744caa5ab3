/* fsync_probe: latency of one durable 8 KiB write on the filesystem of a directory (bench code).
 * Overwrites 8 KiB blocks of a preallocated 16 MiB file, cycling through it, fdatasync() after
 * each, for a given time, back to back or one every --interval-ms; blocking, one thread. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FP_BLOCK       8192
#define FP_FILE_SIZE   ((off_t)16 << 20)
#define FP_FILL_CHUNK  ((size_t)1 << 20)
#define FP_MAX_SAMPLES ((size_t)1 << 22)

struct fp_options {
	const char *dir;
	double duration_s;
	double interval_ms;
};

/* Latencies of the measured writes, in nanoseconds. */
struct fp_samples {
	uint64_t *ns;
	size_t n;
	size_t cap;
};

/* Parse a finite non-negative number no larger than max. */
static int parse_double(const char *s, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse --dir, --duration and --interval-ms. */
static int fp_options_parse(struct fp_options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"duration", required_argument, NULL, 't'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct fp_options){.duration_s = 5, .interval_ms = 0};
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'd' && *optarg) {
			o->dir = optarg;
			continue;
		}
		if (ch == 't' && parse_double(optarg, 3600, &o->duration_s) == 0 &&
		    o->duration_s > 0)
			continue;
		if (ch == 'i' && parse_double(optarg, 60000, &o->interval_ms) == 0)
			continue;
		return -EINVAL;
	}
	return optind == argc && o->dir ? 0 : -EINVAL;
}

/* Read CLOCK_MONOTONIC in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000U + (uint64_t)ts.tv_nsec;
}

/* Write all of buf at offset off, retrying short writes. */
static int fp_pwrite_all(int fd, const char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Create an unlinked file in dir and fill all of it with data made durable, so that the
 * measured writes overwrite allocated, written blocks (as PostgreSQL's recycled WAL does). */
static int fp_file_open(const char *dir, int *ret_fd)
{
	char *path = NULL, *chunk = NULL;
	int fd = -1, r = 0;

	if (asprintf(&path, "%s/fsync_probe.XXXXXX", dir) < 0)
		return -ENOMEM;
	chunk = malloc(FP_FILL_CHUNK);
	if (!chunk) {
		r = -ENOMEM;
		goto out;
	}
	memset(chunk, 'f', FP_FILL_CHUNK);
	fd = mkstemp(path);
	if (fd < 0 || unlink(path) < 0) {
		r = -errno;
		goto out;
	}
	for (off_t off = 0; r >= 0 && off < FP_FILE_SIZE; off += (off_t)FP_FILL_CHUNK)
		r = fp_pwrite_all(fd, chunk, FP_FILL_CHUNK, off);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
out:
	if (r < 0 && fd >= 0)
		close(fd);
	else if (r >= 0)
		*ret_fd = fd;
	free(chunk);
	free(path);
	return r;
}

/* Sleep until the monotonic time t (nanoseconds). */
static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000U),
	                      .tv_nsec = (long)(t % 1000000000U)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Record one latency; -ENOSPC when the sample store is full. */
static int fp_samples_add(struct fp_samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint64_t *p;

		if (cap > FP_MAX_SAMPLES)
			return -ENOSPC;
		p = realloc(s->ns, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->ns = p;
		s->cap = cap;
	}
	s->ns[s->n++] = ns;
	return 0;
}

/* Time write + fdatasync of one block per step until the deadline (or a full sample store). */
static int fp_measure(int fd, const struct fp_options *o, struct fp_samples *s)
{
	char block[FP_BLOCK];
	uint64_t interval = (uint64_t)(o->interval_ms * 1e6);
	uint64_t start = now_ns(), next = start;
	uint64_t end = start + (uint64_t)(o->duration_s * 1e9);
	off_t off = 0;
	int r = 0;

	memset(block, 'p', sizeof(block));
	for (uint64_t i = 0; r >= 0; i++) {
		uint64_t t0;

		if (interval > 0 && next > now_ns())
			sleep_until_ns(next);
		t0 = now_ns();
		if (t0 >= end)
			break;
		/* No burst to catch up after a stall: the next write is due one interval on. */
		next = (next + interval > t0 ? next : t0) + interval;
		memcpy(block, &i, sizeof(i));
		r = fp_pwrite_all(fd, block, sizeof(block), off);
		if (r >= 0 && fdatasync(fd) < 0)
			r = -errno;
		if (r >= 0)
			r = fp_samples_add(s, now_ns() - t0);
		off = (off + FP_BLOCK) % FP_FILE_SIZE;
	}
	return r == -ENOSPC ? 0 : r;
}

/* Order two latencies. */
static int sample_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double percentile_ms(const struct fp_samples *s, double q)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	rank = (size_t)ceil(q * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->ns[rank - 1] / 1e6;
}

/* Print the one machine-readable result line. */
static void fp_report(struct fp_samples *s)
{
	if (s->n > 0)
		qsort(s->ns, s->n, sizeof(*s->ns), sample_cmp);
	printf("fsync_probe n=%zu p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n", s->n,
	       percentile_ms(s, 0.50), percentile_ms(s, 0.99), percentile_ms(s, 0.999),
	       percentile_ms(s, 1.0));
	fflush(stdout);
}

/* Prepare the file, measure and print the percentiles. */
int main(int argc, char **argv)
{
	struct fp_options o;
	struct fp_samples s = {0};
	int fd = -1, r;

	if (fp_options_parse(&o, argc, argv) < 0) {
		fprintf(stderr, "usage: fsync_probe --dir DIR [--duration 5] [--interval-ms 0]\n");
		return 2;
	}
	r = fp_file_open(o.dir, &fd);
	if (r < 0) {
		fprintf(stderr, "fsync_probe: cannot prepare a file in %s: %s\n", o.dir,
		        strerror(-r));
		return 1;
	}
	r = fp_measure(fd, &o, &s);
	close(fd);
	if (r < 0)
		fprintf(stderr, "fsync_probe: %s\n", strerror(-r));
	else
		fp_report(&s);
	free(s.ns);
	return r < 0 ? 1 : 0;
}
