/* pg_keyed: PostgreSQL's CPU per delivery row for each way the ingress's group commit writes a
 * batch (bench code), on one connection with blocking libpq, without HTTP in the way:
 *   copy       rows without a key: binary COPY alone;
 *   claim      rows with a key: the claim statement, then binary COPY, one round trip and one
 *              transaction (what a batch of first attempts takes);
 *   statement  rows with a key: the retry statement, which claims and inserts in one
 *              statement from one array per column (what every keyed batch took before the
 *              claim existed, and what a batch with a retry takes).
 * The statements, the stream and the session settings are the writer's own
 * (services/ingress/delivery_writer.c). Rounds alternate the modes so that load from outside
 * shifts all alike; the figure per mode is the median over rounds of the backend's CPU
 * (utime + stime from /proc, the commit's fdatasync included) per row.
 *
 *   HOOKRUN_DB_URL=... pg_keyed [--rows N] [--batch-rows B] [--body-size S] [--rounds R]
 *                               [--only MODE]
 *
 * Writes into hookrun.deliveries and hookrun.idempotency_keys of a migrated database (a
 * throwaway one: rows are left there). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "delivery_writer.h"
#include "id.h"
#include "pgarray.h"
#include "xalloc.h"

enum mode { MODE_COPY, MODE_CLAIM, MODE_STATEMENT, MODE_COUNT };

static const char *const mode_names[MODE_COUNT] = {"copy", "claim", "statement"};

#define MAX_ROUNDS 15

struct opts {
	size_t rows, batch_rows, body_size;
	unsigned rounds;
	int only; /* a mode, or -1: all */
};

/* Print a message and exit. */
static void die(const char *what, const char *detail)
{
	fprintf(stderr, "pg_keyed: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

/* Monotonic seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A process's CPU seconds (utime + stime, /proc/PID/stat fields 14 and 15). */
static double proc_cpu_s(int pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		die("cannot read the backend's /proc/PID/stat (the database must be local)", path);
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		die("cannot parse", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Run SQL that returns no rows, or die. */
static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, PQerrorMessage(c));
	PQclear(r);
}

/* Send the COPY data once the server asks for it, then read every result to the end; the
 * first result is checked against want (the claim's rows, or the COPY's completion). */
static void finish_copy(PGconn *c, const struct pgarray *stream, ExecStatusType want)
{
	PGresult *r;
	bool first = true;

	while ((r = PQgetResult(c))) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_COPY_IN) {
			if (PQputCopyData(c, (const char *)stream->buf, (int)stream->len) != 1 ||
			    PQputCopyEnd(c, NULL) != 1)
				die("COPY data", PQerrorMessage(c));
		} else if ((first && st != want) || st == PGRES_FATAL_ERROR) {
			die("batch failed", PQresultErrorMessage(r));
		}
		if (st != PGRES_COPY_IN)
			first = false;
		PQclear(r);
	}
}

/* Write one batch in the given mode. */
static void write_batch(PGconn *c, enum mode m, struct delivery *const *rows, size_t n)
{
	static struct pgarray stream, sql, cols[DELIVERY_WRITER_COLUMNS];
	const char *values[DELIVERY_WRITER_PARAMS];
	int lengths[DELIVERY_WRITER_PARAMS], formats[DELIVERY_WRITER_PARAMS];
	PGresult *r;

	switch (m) {
	case MODE_COPY:
	case MODE_CLAIM:
		if (delivery_writer_encode_copy(rows, n, &stream) < 0)
			die("encode", "bad id");
		if (m == MODE_COPY) {
			if (!PQsendQuery(c, delivery_writer_copy_sql))
				die("send", PQerrorMessage(c));
			finish_copy(c, &stream, PGRES_COMMAND_OK);
		} else {
			delivery_writer_encode_claim(rows, n, "3600", &sql);
			if (!PQsendQuery(c, (const char *)sql.buf))
				die("send", PQerrorMessage(c));
			finish_copy(c, &stream, PGRES_TUPLES_OK);
		}
		break;
	case MODE_STATEMENT:
		if (delivery_writer_encode(rows, n, cols) < 0)
			die("encode", "bad id");
		for (size_t i = 0; i < DELIVERY_WRITER_COLUMNS; i++) {
			values[i] = (const char *)cols[i].buf;
			lengths[i] = (int)cols[i].len;
			formats[i] = 1;
		}
		values[DELIVERY_WRITER_COLUMNS] = "3600";
		lengths[DELIVERY_WRITER_COLUMNS] = 0;
		formats[DELIVERY_WRITER_COLUMNS] = 0;
		r = PQexecPrepared(c, DELIVERY_WRITER_RETRY_STATEMENT, DELIVERY_WRITER_PARAMS,
		                   values, lengths, formats, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 0)
			die("statement", PQresultErrorMessage(r));
		PQclear(r);
		break;
	default:
		abort();
	}
}

/* Fresh deliveries for one batch: new ids, keys unless copy mode. */
static void fill_batch(struct delivery *d, size_t n, enum mode m, unsigned long long *serial)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].idempotency_key);
		d[i].idempotency_key = NULL;
		if (id_uuid7_new(d[i].id) < 0)
			die("id", "getrandom failed");
		if (m != MODE_COPY)
			d[i].idempotency_key = xasprintf("bench-%d-%llu", (int)getpid(), ++*serial);
	}
}

/* Compare doubles for qsort. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Parse options. */
static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"rows", required_argument, NULL, 'n'},
	    {"batch-rows", required_argument, NULL, 'b'},
	    {"body-size", required_argument, NULL, 's'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"only", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct opts){
	    .rows = 20000, .batch_rows = 64, .body_size = 1024, .rounds = 5, .only = -1};
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			o->rows = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			o->batch_rows = strtoull(optarg, NULL, 10);
			break;
		case 's':
			o->body_size = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o->rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'o':
			for (int m = 0; m < MODE_COUNT; m++)
				if (strcmp(optarg, mode_names[m]) == 0)
					o->only = m;
			if (o->only < 0)
				die("--only takes copy, claim or statement", optarg);
			break;
		default:
			fprintf(stderr,
			        "usage: pg_keyed [--rows N] [--batch-rows B] [--body-size S] "
			        "[--rounds R] [--only copy|claim|statement]\n");
			exit(2);
		}
	}
	if (!o->rows || !o->batch_rows || o->body_size < 16 || !o->rounds || o->rounds > MAX_ROUNDS)
		die("bad options", "rows, batch-rows > 0, body-size >= 16, rounds 1..15");
}

/* Entry point. */
int main(int argc, char **argv)
{
	struct opts o;
	const char *url = getenv("HOOKRUN_DB_URL");
	double per_row[MODE_COUNT][MAX_ROUNDS], rate[MODE_COUNT][MAX_ROUNDS];
	unsigned long long serial = 0;
	struct delivery *d, **rows;
	char *body;
	PGconn *c;
	int pid;

	parse_opts(argc, argv, &o);
	if (!url)
		die("HOOKRUN_DB_URL is not set", NULL);
	c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK)
		die("connect", PQerrorMessage(c));
	pid = PQbackendPID(c);
	for (const char *const *s = delivery_writer_session_settings; *s; s++) {
		_cleanup_free_ char *set =
		    xasprintf("SET %.*s = '%s'", (int)strcspn(*s, "="), *s, strchr(*s, '=') + 1);
		exec_ok(c, set);
	}
	PQclear(PQprepare(c, DELIVERY_WRITER_CLAIM_STATEMENT, delivery_writer_claim_sql, 0, NULL));
	PQclear(PQprepare(c, DELIVERY_WRITER_RETRY_STATEMENT, delivery_writer_retry_sql, 0, NULL));

	body = xmalloc(o.body_size + 1);
	memset(body, 'x', o.body_size);
	memcpy(body, "{\"p\":\"", 6);
	memcpy(body + o.body_size - 2, "\"}", 2);
	body[o.body_size] = '\0';
	d = xcalloc(o.batch_rows, sizeof(*d));
	rows = xcalloc(o.batch_rows, sizeof(struct delivery *));
	for (size_t i = 0; i < o.batch_rows; i++) {
		d[i] = (struct delivery){
		    .source = "bench",
		    .received_us = 1700000000000000LL,
		    .method = "POST",
		    .uri = xstrdup("/hooks/bench"),
		    .headers_json = xstrdup("{\"host\":\"127.0.0.1\",\"content-type\":"
		                            "\"application/json\"}"),
		    .content_type = xstrdup("application/json"),
		    .body = (const unsigned char *)body,
		    .body_len = o.body_size,
		    .verified_by = "hmac",
		    .peer = xstrdup("127.0.0.1"),
		};
		rows[i] = &d[i];
	}

	for (unsigned round = 0; round < o.rounds; round++) {
		for (int m = 0; m < MODE_COUNT; m++) {
			if (o.only >= 0 && m != o.only) {
				per_row[m][round] = rate[m][round] = 0;
				continue;
			}
			double cpu0 = proc_cpu_s(pid), t0 = now_s();
			size_t done = 0;

			while (done < o.rows) {
				size_t n =
				    o.rows - done < o.batch_rows ? o.rows - done : o.batch_rows;

				fill_batch(d, n, (enum mode)m, &serial);
				write_batch(c, (enum mode)m, rows, n);
				done += n;
			}
			per_row[m][round] = (proc_cpu_s(pid) - cpu0) * 1e6 / (double)o.rows;
			rate[m][round] = (double)o.rows / (now_s() - t0);
			printf("pg_keyed: round=%u mode=%s rows=%zu batch=%zu body=%zu "
			       "rows_per_s=%.0f "
			       "backend_us/row=%.1f\n",
			       round + 1, mode_names[m], o.rows, o.batch_rows, o.body_size,
			       rate[m][round], per_row[m][round]);
		}
	}
	for (int m = 0; m < MODE_COUNT; m++) {
		qsort(per_row[m], o.rounds, sizeof(double), cmp_double);
		qsort(rate[m], o.rounds, sizeof(double), cmp_double);
	}
	printf("pg_keyed: median of %u rounds, batch=%zu body=%zu: backend_us/row copy=%.1f "
	       "claim=%.1f statement=%.1f; claim/copy=%.2fx statement/copy=%.2fx; rows_per_s "
	       "copy=%.0f claim=%.0f statement=%.0f\n",
	       o.rounds, o.batch_rows, o.body_size, per_row[MODE_COPY][o.rounds / 2],
	       per_row[MODE_CLAIM][o.rounds / 2], per_row[MODE_STATEMENT][o.rounds / 2],
	       per_row[MODE_CLAIM][o.rounds / 2] / per_row[MODE_COPY][o.rounds / 2],
	       per_row[MODE_STATEMENT][o.rounds / 2] / per_row[MODE_COPY][o.rounds / 2],
	       rate[MODE_COPY][o.rounds / 2], rate[MODE_CLAIM][o.rounds / 2],
	       rate[MODE_STATEMENT][o.rounds / 2]);
	for (size_t i = 0; i < o.batch_rows; i++)
		delivery_fini(&d[i]);
	free(d);
	free(rows);
	free(body);
	PQfinish(c);
	return 0;
}
