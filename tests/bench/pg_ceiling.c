/* pg_ceiling: how many delivery-shaped rows/s PostgreSQL commits from one client (bench code).
 * Multi-row INSERT ... VALUES with binary bytea, or binary COPY, one implicit transaction per
 * batch, into public.bench_ceiling (the column list of hookrun.deliveries); blocking libpq. */

#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PGC_COLS       10
#define PGC_UUID_LEN   36
#define PGC_SUFFIX_MAX 64
#define PGC_TS_MAX     64
#define PGC_COPY_COLS  11

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC). */
#define PGC_PG_EPOCH_US INT64_C(946684800000000)

/* Same columns, defaults, CHECK, primary key and index as hookrun.deliveries; no FKs. */
static const char pgc_ddl[] = "SET client_min_messages = warning;"
                              "DROP TABLE IF EXISTS public.bench_ceiling;"
                              "CREATE TABLE public.bench_ceiling ("
                              " id uuid PRIMARY KEY,"
                              " source text NOT NULL,"
                              " idempotency_key text,"
                              " received_at timestamptz NOT NULL,"
                              " committed_at timestamptz NOT NULL DEFAULT now(),"
                              " method text NOT NULL,"
                              " uri text NOT NULL,"
                              " headers jsonb NOT NULL,"
                              " content_type text,"
                              " body bytea NOT NULL,"
                              " verified_by text NOT NULL,"
                              " peer text,"
                              " route jsonb);"
                              "CREATE INDEX bench_ceiling_source_received_idx"
                              " ON public.bench_ceiling (source, received_at);"
                              "TRUNCATE public.bench_ceiling;";

static const char pgc_headers[] = "{\"host\":\"127.0.0.1\",\"user-agent\":\"hookrun-loadgen\","
                                  "\"content-type\":\"application/json\"}";

struct pgc_options {
	uint64_t rows;
	size_t body_size;
	unsigned batch_rows;
	bool copy;
};

/* One binary COPY tuple (the first one preceded by the file header), reused for every row. */
struct pgc_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* The ingress's column list, idempotency_key included (NULL, as the bench source sends none). */
static const char pgc_copy_sql[] =
    "COPY public.bench_ceiling (id, source, idempotency_key, received_at, method, uri, headers,"
    " content_type, body, verified_by, peer) FROM STDIN (FORMAT binary)";

/* Parameter arrays and row storage for one batch, reused for every statement. */
struct pgc_batch {
	unsigned cap;
	size_t body_size;
	size_t prefix_len;
	uint32_t nonce;
	uint64_t counter;
	char received_at[PGC_TS_MAX];
	int64_t received_us; /* the same instant, microseconds since the Unix epoch */
	char *bodies;
	char (*ids)[PGC_UUID_LEN + 1];
	const char **values;
	int *lengths;
	int *formats;
};

/* Parse a positive decimal integer no larger than max. */
static int parse_count(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v == 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse --rows, --body-size, --batch-rows and --mode. */
static int pgc_options_parse(struct pgc_options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"rows", required_argument, NULL, 'n'},
	    {"body-size", required_argument, NULL, 'b'},
	    {"batch-rows", required_argument, NULL, 'B'},
	    {"mode", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v = 0;
	int ch;

	*o = (struct pgc_options){.rows = 10000, .body_size = 1024, .batch_rows = 256};
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'n' && parse_count(optarg, UINT64_MAX, &o->rows) == 0)
			continue;
		if (ch == 'b' && parse_count(optarg, (uint64_t)64 << 20, &v) == 0) {
			o->body_size = (size_t)v;
			continue;
		}
		/* 65535 bind parameters per statement at most. */
		if (ch == 'B' && parse_count(optarg, 65535 / PGC_COLS, &v) == 0) {
			o->batch_rows = (unsigned)v;
			continue;
		}
		if (ch == 'm' && (strcmp(optarg, "insert") == 0 || strcmp(optarg, "copy") == 0)) {
			o->copy = strcmp(optarg, "copy") == 0;
			continue;
		}
		return -EINVAL;
	}
	return optind == argc ? 0 : -EINVAL;
}

/* Read CLOCK_MONOTONIC in seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run a statement that returns no rows; prints the server's message on failure. */
static int pgc_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;

	if (r < 0)
		fprintf(stderr, "pg_ceiling: %s", PQerrorMessage(conn));
	PQclear(res);
	return r;
}

/* Build INSERT ... VALUES with n rows of PGC_COLS parameters each. */
static char *pgc_insert_sql(unsigned n)
{
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);

	if (!f)
		return NULL;
	fputs("INSERT INTO public.bench_ceiling (id, source, received_at, method, uri, headers,"
	      " content_type, body, verified_by, peer) VALUES ",
	      f);
	for (unsigned i = 0; i < n; i++) {
		unsigned p = i * PGC_COLS;

		fprintf(f,
		        "%s($%u::uuid,$%u,$%u::timestamptz,$%u,$%u,$%u::jsonb,$%u,$%u::bytea,$%u,"
		        "$%u)",
		        i ? "," : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8, p + 9,
		        p + 10);
	}
	if (fclose(f) != 0) {
		free(sql);
		return NULL;
	}
	return sql;
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

/* Body bytes before the per-row id: {"pad":"…","id":" — the shape loadgen sends. */
static void pgc_body_prefix_fill(char *body, size_t body_size, size_t *ret_prefix_len)
{
	static const char head[] = "{\"pad\":\"";
	static const char mid[] = "\",\"id\":\"";
	size_t fixed = strlen(head) + strlen(mid) + strlen("00000000-0000000000000000\"}");
	size_t pad = body_size > fixed ? body_size - fixed : 0;

	memcpy(body, head, sizeof(head) - 1);
	body_pad_fill(body + sizeof(head) - 1, pad);
	memcpy(body + sizeof(head) - 1 + pad, mid, sizeof(mid) - 1);
	*ret_prefix_len = strlen(head) + pad + strlen(mid);
}

/* Allocate the batch storage and fill every body prefix and the constant parameters. */
static int pgc_batch_init(struct pgc_batch *b, unsigned cap, size_t body_size)
{
	size_t slot = body_size + PGC_SUFFIX_MAX;

	*b = (struct pgc_batch){.cap = cap, .body_size = body_size};
	b->bodies = malloc(slot * cap);
	b->ids = calloc(cap, sizeof(*b->ids));
	b->values = calloc((size_t)cap * PGC_COLS, sizeof(*b->values));
	b->lengths = calloc((size_t)cap * PGC_COLS, sizeof(*b->lengths));
	b->formats = calloc((size_t)cap * PGC_COLS, sizeof(*b->formats));
	if (!b->bodies || !b->ids || !b->values || !b->lengths || !b->formats)
		return -ENOMEM;
	if (getrandom(&b->nonce, sizeof(b->nonce), 0) != sizeof(b->nonce))
		b->nonce = (uint32_t)getpid();
	for (unsigned i = 0; i < cap; i++) {
		const char **v = b->values + (size_t)i * PGC_COLS;

		pgc_body_prefix_fill(b->bodies + slot * i, body_size, &b->prefix_len);
		v[0] = b->ids[i];
		v[1] = "bench";
		v[2] = b->received_at;
		v[3] = "POST";
		v[4] = "/hooks/bench";
		v[5] = pgc_headers;
		v[6] = "application/json";
		v[7] = b->bodies + slot * i;
		v[8] = "hmac";
		v[9] = "127.0.0.1";
		b->formats[(size_t)i * PGC_COLS + 7] = 1;
	}
	return 0;
}

/* Free what pgc_batch_init() allocated. */
static void pgc_batch_fini(struct pgc_batch *b)
{
	free(b->bodies);
	free(b->ids);
	free(b->values);
	free(b->lengths);
	free(b->formats);
}

/* Give row i a fresh UUIDv7-shaped id and a distinct body tail. */
static void pgc_row_fill(struct pgc_batch *b, unsigned i, uint64_t ms)
{
	size_t slot = b->body_size + PGC_SUFFIX_MAX;
	char *body = b->bodies + slot * i;
	uint64_t n = ++b->counter;
	int len;

	snprintf(b->ids[i], sizeof(b->ids[i]),
	         "%08" PRIx64 "-%04" PRIx64 "-7%03" PRIx64 "-%04" PRIx32 "-%012" PRIx64,
	         (ms >> 16) & 0xffffffffU, ms & 0xffffU, n & 0xfffU, 0x8000U | (b->nonce & 0x3fffU),
	         n & UINT64_C(0xffffffffffff));
	len = snprintf(body + b->prefix_len, PGC_SUFFIX_MAX, "%08" PRIx32 "-%016" PRIx64 "\"}",
	               b->nonce, n);
	b->lengths[(size_t)i * PGC_COLS + 7] = (int)b->prefix_len + len;
}

/* Refresh received_at and the per-row id and body for the next n rows. */
static void pgc_batch_fill(struct pgc_batch *b, unsigned n)
{
	struct timespec ts;
	struct tm tm;
	char sec[24];
	uint64_t ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(b->received_at, sizeof(b->received_at), "%s.%06uZ", sec,
	         (unsigned)(ts.tv_nsec / 1000) % 1000000U);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	b->received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (unsigned i = 0; i < n; i++)
		pgc_row_fill(b, i, ms);
}

/* Insert one batch of n rows in its own implicit transaction. */
static int pgc_batch_insert(PGconn *conn, struct pgc_batch *b, const char *sql, unsigned n)
{
	PGresult *res;
	int r;

	pgc_batch_fill(b, n);
	res = PQexecParams(conn, sql, (int)(n * PGC_COLS), NULL, b->values, b->lengths, b->formats,
	                   0);
	r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
	if (r < 0)
		fprintf(stderr, "pg_ceiling: insert failed: %s", PQerrorMessage(conn));
	PQclear(res);
	return r;
}

/* Make room for at least more bytes after the current end of the buffer. */
static int pgc_buf_reserve(struct pgc_buf *buf, size_t more)
{
	size_t cap = buf->cap ? buf->cap : 4096;
	uint8_t *p;

	while (cap - buf->len < more)
		cap *= 2;
	if (cap == buf->cap)
		return 0;
	p = realloc(buf->p, cap);
	if (!p)
		return -ENOMEM;
	buf->p = p;
	buf->cap = cap;
	return 0;
}

/* Append n bytes into room the caller reserved. */
static void pgc_buf_put(struct pgc_buf *buf, const void *p, size_t n)
{
	memcpy(buf->p + buf->len, p, n);
	buf->len += n;
}

/* Append a 16-bit integer in network order. */
static void pgc_buf_put_u16(struct pgc_buf *buf, uint16_t v)
{
	v = htobe16(v);
	pgc_buf_put(buf, &v, sizeof(v));
}

/* Append a 32-bit integer in network order. */
static void pgc_buf_put_u32(struct pgc_buf *buf, uint32_t v)
{
	v = htobe32(v);
	pgc_buf_put(buf, &v, sizeof(v));
}

/* Append one field: its int32 length, then its bytes; p NULL is SQL NULL (length -1). */
static void pgc_copy_field(struct pgc_buf *buf, const void *p, size_t n)
{
	pgc_buf_put_u32(buf, p ? (uint32_t)n : UINT32_MAX);
	if (p)
		pgc_buf_put(buf, p, n);
}

/* Append a text field (its binary format is the raw bytes). */
static void pgc_copy_text(struct pgc_buf *buf, const char *s)
{
	pgc_copy_field(buf, s, strlen(s));
}

/* The 16 bytes of a textual UUID (hex digits, dashes skipped). */
static void pgc_uuid_bytes(const char *text, uint8_t out[16])
{
	unsigned n = 0;

	for (; *text && n < 32; text++) {
		unsigned c = (unsigned char)*text;
		unsigned v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

		if (c == '-')
			continue;
		out[n / 2] = (uint8_t)(n % 2 ? out[n / 2] | v : v << 4);
		n++;
	}
}

/* Encode row i of the batch as one binary COPY tuple, in the column order of pgc_copy_sql. */
static int pgc_copy_row(const struct pgc_batch *b, unsigned i, struct pgc_buf *buf)
{
	const char *const *v = b->values + (size_t)i * PGC_COLS;
	size_t body_len = (size_t)b->lengths[(size_t)i * PGC_COLS + 7];
	size_t headers_len = strlen(v[5]);
	uint64_t ts = htobe64((uint64_t)(b->received_us - PGC_PG_EPOCH_US));
	uint8_t uuid[16], jsonb_version = 1;
	size_t need =
	    2 + PGC_COPY_COLS * 4 + sizeof(uuid) + sizeof(ts) + 1 + headers_len + body_len;

	for (unsigned c = 1; c < PGC_COLS; c++)
		need += c == 2 || c == 5 || c == 7 ? 0 : strlen(v[c]);
	if (pgc_buf_reserve(buf, need) < 0)
		return -ENOMEM;
	pgc_uuid_bytes(v[0], uuid);
	pgc_buf_put_u16(buf, PGC_COPY_COLS);
	pgc_copy_field(buf, uuid, sizeof(uuid));
	pgc_copy_text(buf, v[1]);
	pgc_copy_field(buf, NULL, 0);
	pgc_copy_field(buf, &ts, sizeof(ts));
	pgc_copy_text(buf, v[3]);
	pgc_copy_text(buf, v[4]);
	/* jsonb's binary format: a version byte (1), then the JSON text. */
	pgc_buf_put_u32(buf, (uint32_t)(1 + headers_len));
	pgc_buf_put(buf, &jsonb_version, 1);
	pgc_buf_put(buf, v[5], headers_len);
	pgc_copy_text(buf, v[6]);
	pgc_copy_field(buf, v[7], body_len);
	pgc_copy_text(buf, v[8]);
	pgc_copy_text(buf, v[9]);
	return 0;
}

/* End the COPY (aborting it when errmsg is set) and read its result. */
static int pgc_copy_end(PGconn *conn, const char *errmsg)
{
	PGresult *res;
	int r = PQputCopyEnd(conn, errmsg) == 1 && !errmsg ? 0 : -EIO;

	while ((res = PQgetResult(conn))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			r = -EIO;
		PQclear(res);
	}
	if (r < 0 && !errmsg)
		fprintf(stderr, "pg_ceiling: copy failed: %s", PQerrorMessage(conn));
	return r;
}

/* Send n rows in binary format; the first tuple carries the header, a trailer ends them. */
static int pgc_copy_rows(PGconn *conn, const struct pgc_batch *b, struct pgc_buf *buf, unsigned n)
{
	static const char sig[11] = "PGCOPY\n\377\r\n";
	int r = pgc_buf_reserve(buf, sizeof(sig) + 8);

	if (r < 0)
		return r;
	buf->len = 0;
	pgc_buf_put(buf, sig, sizeof(sig));
	pgc_buf_put_u32(buf, 0); /* flags: no OIDs */
	pgc_buf_put_u32(buf, 0); /* header extension length */
	for (unsigned i = 0; r >= 0 && i < n; i++) {
		r = pgc_copy_row(b, i, buf);
		if (r >= 0 && PQputCopyData(conn, (const char *)buf->p, (int)buf->len) != 1)
			r = -EIO;
		buf->len = 0;
	}
	if (r >= 0) {
		pgc_buf_put_u16(buf, UINT16_MAX); /* trailer: field count -1 */
		if (PQputCopyData(conn, (const char *)buf->p, (int)buf->len) != 1)
			r = -EIO;
	}
	return r;
}

/* Copy one batch of n rows in binary format, in its own implicit transaction. */
static int pgc_batch_copy(PGconn *conn, struct pgc_batch *b, struct pgc_buf *buf, unsigned n)
{
	PGresult *res;
	int r;

	pgc_batch_fill(b, n);
	res = PQexec(conn, pgc_copy_sql);
	r = PQresultStatus(res) == PGRES_COPY_IN ? 0 : -EIO;
	PQclear(res);
	if (r < 0) {
		fprintf(stderr, "pg_ceiling: copy failed: %s", PQerrorMessage(conn));
		return r;
	}
	r = pgc_copy_rows(conn, b, buf, n);
	if (r < 0) {
		fprintf(stderr, "pg_ceiling: copy failed: %s",
		        r == -ENOMEM ? "out of memory\n" : PQerrorMessage(conn));
		(void)pgc_copy_end(conn, "pg_ceiling gave up");
		return r;
	}
	return pgc_copy_end(conn, NULL);
}

/* Load all rows in full batches plus one short tail batch; returns elapsed seconds. */
static int pgc_load_all(PGconn *conn, const struct pgc_options *o, double *ret_elapsed)
{
	struct pgc_batch b;
	struct pgc_buf buf = {0};
	char *full = pgc_insert_sql(o->batch_rows), *tail = NULL;
	unsigned tail_rows = (unsigned)(o->rows % o->batch_rows);
	double t0;
	int r = pgc_batch_init(&b, o->batch_rows, o->body_size);

	if (tail_rows > 0)
		tail = pgc_insert_sql(tail_rows);
	if (r >= 0 && (!full || (tail_rows > 0 && !tail)))
		r = -ENOMEM;
	t0 = now_s();
	for (uint64_t done = 0; r >= 0 && done < o->rows;) {
		unsigned n = o->rows - done >= o->batch_rows ? o->batch_rows : tail_rows;

		if (o->copy)
			r = pgc_batch_copy(conn, &b, &buf, n);
		else
			r = pgc_batch_insert(conn, &b, n == o->batch_rows ? full : tail, n);
		done += n;
	}
	if (r >= 0)
		*ret_elapsed = now_s() - t0;
	pgc_batch_fini(&b);
	free(buf.p);
	free(full);
	free(tail);
	return r;
}

/* Create the table, time the inserts, print the result and drop the table. */
static int pgc_run(PGconn *conn, const struct pgc_options *o)
{
	double elapsed = 0;
	int r = pgc_exec(conn, pgc_ddl);

	if (r >= 0)
		r = pgc_load_all(conn, o, &elapsed);
	if (r >= 0) {
		printf("pg_ceiling rows=%" PRIu64
		       " batch=%u body=%zu rows_per_s=%.1f elapsed_s=%.3f"
		       " mib_per_s=%.1f mode=%s\n",
		       o->rows, o->batch_rows, o->body_size, (double)o->rows / elapsed, elapsed,
		       (double)o->rows * (double)o->body_size / elapsed / (1024.0 * 1024.0),
		       o->copy ? "copy" : "insert");
		fflush(stdout);
	}
	if (pgc_exec(conn, "DROP TABLE IF EXISTS public.bench_ceiling") < 0 && r >= 0)
		r = -EIO;
	return r;
}

/* Connect with $HOOKRUN_DB_URL and run the ceiling measurement. */
int main(int argc, char **argv)
{
	struct pgc_options o;
	const char *url = getenv("HOOKRUN_DB_URL");
	PGconn *conn;
	int r;

	if (pgc_options_parse(&o, argc, argv) < 0) {
		fprintf(stderr,
		        "usage: HOOKRUN_DB_URL=... pg_ceiling [--rows N] [--body-size BYTES]"
		        " [--batch-rows N] [--mode insert|copy]\n");
		return 2;
	}
	if (!url || !*url) {
		fprintf(stderr, "pg_ceiling: HOOKRUN_DB_URL is not set\n");
		return 2;
	}
	conn = PQconnectdb(url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pg_ceiling: connect failed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 1;
	}
	r = pgc_run(conn, &o);
	PQfinish(conn);
	return r < 0 ? 1 : 0;
}
