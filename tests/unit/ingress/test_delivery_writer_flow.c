/* Unit tests of the group-commit logic of services/ingress/delivery_writer.c without a server:
 * the writer's database operations are fakes that record each batch it sends (statement or
 * COPY, and which rows) and answer with synthetic PGresults (PQmakeEmptyPGresult,
 * PQsetResultAttrs, PQsetvalue); its clock is the test's. Covered: batching within limits,
 * followers of a key, settlement of inserted / duplicate / raced rows, retries of retryable
 * failures and lost connections, the bisection of a batch that fails for one row's reason,
 * COPY falling back to the statement, timeouts in the queue and of hung commits, the backlog
 * bound, and shutdown. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "delivery_writer.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#define MAX_FAKES 4
#define MAX_ROWS  64

/* One fake connection: its state and the batch it has in flight. */
struct fake_db {
	db_state_fn state_cb;
	void *state_ud;
	bool connected;
	int resets;
	bool busy;
	db_result_fn cb;
	void *cb_ud;
	bool copy;
	bool retry; /* the retry statement (a batch holding a second attempt) */
	bool claim; /* a claim of keys, then a COPY of the rows it did not report */
	db_copy_fn copy_cb;
	size_t rows;
	char ids[MAX_ROWS][37];  /* the rows' ids, in the order sent */
	char keys[MAX_ROWS][16]; /* their idempotency keys ("" for none), not for a COPY */
	size_t copied;           /* rows in the COPY after a claim */
	char copied_ids[MAX_ROWS][37];
};

/* One finished delivery, as the done callback saw it. */
struct outcome {
	int calls;
	int r;
	bool duplicate;
	char id[37];
};

/* The test's world: fakes, clock, loop, writer, and the deliveries it submitted. */
static struct {
	struct fake_db fakes[MAX_FAKES];
	size_t n_fakes;
	long long now_us;
	const char *fail_state; /* the SQLSTATE of the next failure result */
	struct event_base *base;
	struct metrics *metrics;
	struct delivery_writer *w;
	struct delivery d[MAX_ROWS * 2];
	struct outcome out[MAX_ROWS * 2];
	size_t n;
	int sent; /* batches sent over all fakes */
} T;

/* The fake clock. */
static long long fake_clock(void)
{
	return T.now_us;
}

/* open: a new disconnected fake. */
static struct db_async *fake_open(struct event_base *base, const struct db_async_options *o,
                                  db_state_fn state_cb, void *userdata)
{
	struct fake_db *f;

	assert_true(T.n_fakes < MAX_FAKES);
	f = &T.fakes[T.n_fakes++];
	*f = (struct fake_db){.state_cb = state_cb, .state_ud = userdata};
	return (struct db_async *)f;
}

/* close: nothing to free. */
static void fake_close(struct db_async *db)
{
}

/* idle: connected and nothing in flight. */
static bool fake_idle(const struct db_async *db)
{
	const struct fake_db *f = (const struct fake_db *)db;

	return f->connected && !f->busy;
}

/* connected. */
static bool fake_connected(const struct db_async *db)
{
	return ((const struct fake_db *)db)->connected;
}

/* Read a big-endian int32. */
static int32_t be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return (int32_t)be32toh(v);
}

/* Format 16 raw bytes as a UUID string. */
static void uuid_format(const unsigned char *b, char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

/* send_prepared: record the batch statement's rows ($1 ids, $3 keys); the expiry statement
 * (no parameters) is recorded as a batch of 0 rows. */
static int fake_send_prepared(struct db_async *db, const char *name, int nparams,
                              const char *const *values, const int *lengths, const int *formats,
                              db_result_fn cb, void *userdata)
{
	struct fake_db *f = (struct fake_db *)db;
	const unsigned char *ids, *keys;

	assert_true(f->connected && !f->busy);
	*f = (struct fake_db){.state_cb = f->state_cb,
	                      .state_ud = f->state_ud,
	                      .connected = true,
	                      .resets = f->resets,
	                      .busy = true,
	                      .cb = cb,
	                      .cb_ud = userdata};
	T.sent++;
	if (nparams == 0)
		return 0;
	f->retry = strcmp(name, DELIVERY_WRITER_RETRY_STATEMENT) == 0;
	assert_true(f->retry);
	assert_int_equal(nparams, DELIVERY_WRITER_PARAMS);
	ids = (const unsigned char *)values[0];
	keys = (const unsigned char *)values[2];
	f->rows = (size_t)be32(ids + 12);
	assert_true(f->rows <= MAX_ROWS);
	for (size_t i = 0, off = 20; i < f->rows; i++, off += 20)
		uuid_format(ids + off + 4, f->ids[i]);
	for (size_t i = 0, off = 20; i < f->rows; i++) {
		int32_t len = be32(keys + off);

		snprintf(f->keys[i], sizeof(f->keys[i]), "%.*s", len < 0 ? 0 : (int)len,
		         keys + off + 4);
		off += 4 + (size_t)(len < 0 ? 0 : len);
	}
	return 0;
}

/* The ids of the rows of a binary COPY stream (each row's first field is its id). */
static size_t copy_rows(const unsigned char *p, size_t len, char ids[MAX_ROWS][37])
{
	size_t off = 19, n = 0;

	while (off + 2 <= len && !(p[off] == 0xff && p[off + 1] == 0xff)) {
		off += 2;
		assert_true(n < MAX_ROWS);
		uuid_format(p + off + 4, ids[n++]);
		for (int c = 0; c < DELIVERY_WRITER_COLUMNS; c++) {
			int32_t l = be32(p + off);
			off += 4 + (size_t)(l < 0 ? 0 : l);
		}
	}
	return n;
}

/* send_copy: record the rows of the binary COPY stream. */
static int fake_send_copy(struct db_async *db, const char *sql, const void *data, size_t len,
                          db_result_fn cb, void *userdata)
{
	struct fake_db *f = (struct fake_db *)db;

	assert_true(f->connected && !f->busy);
	*f = (struct fake_db){.state_cb = f->state_cb,
	                      .state_ud = f->state_ud,
	                      .connected = true,
	                      .resets = f->resets,
	                      .busy = true,
	                      .copy = true,
	                      .cb = cb,
	                      .cb_ud = userdata};
	T.sent++;
	f->rows = copy_rows(data, len, f->ids);
	return 0;
}

/* The elements of the array literal E'{...}' at p ("" for NULL; the test's keys and ids hold
 * no character that needs escaping); returns how many. */
static size_t literal_elements(const char *p, char out[MAX_ROWS][37], size_t out_size)
{
	size_t n = 0;

	assert_true(strncmp(p, "E'{", 3) == 0);
	p += 3;
	while (*p != '}') {
		size_t l;

		assert_true(n < MAX_ROWS);
		if (strncmp(p, "NULL", 4) == 0) {
			out[n++][0] = '\0';
			p += 4;
		} else {
			assert_int_equal(*p, '"');
			l = strcspn(p + 1, "\"");
			snprintf(out[n++], out_size, "%.*s", (int)l, p + 1);
			p += l + 2;
		}
		if (*p == ',')
			p++;
	}
	return n;
}

/* send_copy_query: a claim batch; record its ids and keys from the EXECUTE's literals. The
 * COPY's rows are recorded when the test answers the claim (complete()). */
static int fake_send_copy_query(struct db_async *db, const char *sql, db_copy_fn copy_cb,
                                db_result_fn cb, void *userdata)
{
	struct fake_db *f = (struct fake_db *)db;
	char keys[MAX_ROWS][37];
	const char *p;

	assert_true(f->connected && !f->busy);
	*f = (struct fake_db){.state_cb = f->state_cb,
	                      .state_ud = f->state_ud,
	                      .connected = true,
	                      .resets = f->resets,
	                      .busy = true,
	                      .claim = true,
	                      .copy_cb = copy_cb,
	                      .cb = cb,
	                      .cb_ud = userdata};
	T.sent++;
	assert_non_null(strstr(sql, "EXECUTE " DELIVERY_WRITER_CLAIM_STATEMENT "(E'{"));
	assert_non_null(strstr(sql, "; COPY hookrun.deliveries"));
	p = strstr(sql, "E'{");
	f->rows = literal_elements(p, f->ids, sizeof(f->ids[0]));
	p = strstr(strstr(p + 1, "E'{") + 1, "E'{"); /* the third literal: the keys */
	assert_int_equal(literal_elements(p, keys, sizeof(keys[0])), f->rows);
	for (size_t i = 0; i < f->rows; i++)
		snprintf(f->keys[i], sizeof(f->keys[i]), "%.15s", keys[i]);
	return 0;
}

/* reset: the connection drops, failing what is in flight. */
static void fake_reset(struct db_async *db)
{
	struct fake_db *f = (struct fake_db *)db;
	db_result_fn cb = f->cb;

	f->resets++;
	f->busy = false;
	f->cb = NULL;
	if (cb)
		cb(f->cb_ud, NULL, -ECONNRESET);
}

/* sqlstate: what the test put in T.fail_state for failure results. */
static const char *fake_sqlstate(const PGresult *res)
{
	return res && PQresultStatus(res) == PGRES_FATAL_ERROR ? T.fail_state : NULL;
}

/* message: a fixed text. */
static const char *fake_message(const PGresult *res)
{
	return "injected";
}

static const struct delivery_writer_db_ops fake_ops = {
    .open = fake_open,
    .close = fake_close,
    .idle = fake_idle,
    .connected = fake_connected,
    .send_prepared = fake_send_prepared,
    .send_copy = fake_send_copy,
    .send_copy_query = fake_send_copy_query,
    .reset = fake_reset,
    .sqlstate = fake_sqlstate,
    .message = fake_message,
};

/* Record a delivery's outcome. */
static void on_done(struct delivery *d, int r, const char *id, bool duplicate, void *userdata)
{
	struct outcome *o = userdata;

	o->calls++;
	o->r = r;
	o->duplicate = duplicate;
	snprintf(o->id, sizeof(o->id), "%s", id ? id : "");
}

/* Run what the writer deferred to the loop (its kick). */
static void loop_once(void)
{
	event_base_loop(T.base, EVLOOP_NONBLOCK);
}

/* A writer with n connections, max_rows rows per batch, over the fakes; all connected. */
static void writer_start(size_t conns, size_t max_rows, size_t max_backlog)
{
	struct delivery_writer_options o = {
	    .db_url = "fake",
	    .connections = conns,
	    .max_backlog = max_backlog,
	    .batch_max_rows = max_rows,
	    .batch_max_bytes = 1 << 20,
	    .commit_timeout_ms = 1000,
	    .dedup_window_s = 3600,
	    .db_ops = &fake_ops,
	    .clock_us = fake_clock,
	};

	memset(&T, 0, sizeof(T));
	T.now_us = 1000000;
	T.base = event_base_new();
	T.metrics = metrics_new();
	T.w = delivery_writer_new(T.base, &o, T.metrics);
	assert_int_equal(T.n_fakes, conns);
	for (size_t i = 0; i < conns; i++) {
		T.fakes[i].connected = true;
		T.fakes[i].state_cb(T.fakes[i].state_ud, true);
	}
	loop_once();
}

/* Free the writer (failing what it still holds) and the loop. */
static void writer_stop(void)
{
	delivery_writer_free(T.w);
	metrics_free(T.metrics);
	event_base_free(T.base);
	T.w = NULL;
}

/* Submit delivery number T.n with an optional idempotency key; returns its index. */
static size_t submit(const char *key)
{
	size_t i = T.n++;
	struct delivery *d = &T.d[i];

	*d = (struct delivery){
	    .source = "src",
	    .idempotency_key = key ? xstrdup(key) : NULL,
	    .received_us = 1,
	    .method = "POST",
	    .uri = xstrdup("/hooks/src"),
	    .headers_json = xstrdup("{}"),
	    .content_type = xstrdup("application/json"),
	    .body = (const unsigned char *)"{}",
	    .body_len = 2,
	    .verified_by = "none",
	};
	snprintf(d->id, sizeof(d->id), "0190b5c8-0000-7000-8000-%012zx", i + 1);
	assert_int_equal(delivery_writer_submit(T.w, d, on_done, &T.out[i]), 0);
	return i;
}

/* Free what the deliveries own. */
static void deliveries_fini(void)
{
	for (size_t i = 0; i < T.n; i++)
		delivery_fini(&T.d[i]);
}

/* Index of the delivery with this id. */
static size_t index_of(const char *id)
{
	for (size_t i = 0; i < T.n; i++)
		if (strcmp(T.d[i].id, id) == 0)
			return i;
	fail_msg("no delivery %s", id);
	return 0;
}

/* Finish fake f's batch with res (consumed), then run the loop. A claim that succeeded is
 * followed by its COPY, as the server asks for it: the stream's rows are recorded. */
static void complete(struct fake_db *f, PGresult *res, int r)
{
	db_result_fn cb = f->cb;

	assert_true(f->busy);
	if (f->claim && r == 0 && PQresultStatus(res) == PGRES_TUPLES_OK) {
		const void *data = NULL;
		size_t len = 0;

		assert_int_equal(f->copy_cb(f->cb_ud, res, &data, &len), 0);
		f->copied = copy_rows(data, len, f->copied_ids);
	}
	f->busy = false;
	f->cb = NULL;
	cb(f->cb_ud, res, r);
	PQclear(res);
	loop_once();
}

/* A statement result: per row, "i" inserted (not reported: every row not reported is
 * stored), "d" a duplicate of holder, "o" its own row from an earlier attempt, "r" raced (a
 * key whose holder the statement could not see: reported with a NULL holder). */
static PGresult *statement_result(const struct fake_db *f, const char *kinds, const char *holder)
{
	PGresAttDesc attrs[2] = {{.name = (char *)"ord", .format = 0},
	                         {.name = (char *)"holder", .format = 0}};
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int n = 0;

	assert_non_null(res);
	assert_true(PQsetResultAttrs(res, 2, attrs));
	assert_int_equal(strlen(kinds), f->rows);
	for (size_t i = 0; i < f->rows; i++) {
		char ord[24];

		if (kinds[i] == 'i')
			continue;
		snprintf(ord, sizeof(ord), "%zu", i + 1);
		assert_true(PQsetvalue(res, n, 0, ord, (int)strlen(ord)));
		if (kinds[i] == 'd')
			assert_true(PQsetvalue(res, n, 1, (char *)holder, (int)strlen(holder)));
		else if (kinds[i] == 'o')
			assert_true(PQsetvalue(res, n, 1, (char *)f->ids[i], 36));
		else
			assert_true(PQsetvalue(res, n, 1, NULL, -1));
		n++;
	}
	return res;
}

/* A failure result with SQLSTATE state. */
static PGresult *failure(const char *state)
{
	T.fail_state = state;
	return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
}

/* Expect delivery i settled once with r (and, on success, duplicate and id). */
static void expect_outcome(size_t i, int r, bool duplicate, const char *id)
{
	if (T.out[i].calls != 1)
		fail_msg("delivery %zu settled %d times", i, T.out[i].calls);
	assert_int_equal(T.out[i].r, r);
	if (r == 0) {
		assert_int_equal(T.out[i].duplicate, duplicate);
		assert_string_equal(T.out[i].id, id ? id : T.d[i].id);
	}
}

/* Requests queued in one loop iteration go out together; a COPY for unkeyed first attempts. */
static void test_group_commit_copy(void **state)
{
	writer_start(1, 16, 100);
	for (int i = 0; i < 3; i++)
		submit(NULL);
	assert_int_equal(T.sent, 0); /* nothing before the loop runs */
	loop_once();
	assert_int_equal(T.sent, 1);
	assert_true(T.fakes[0].copy);
	assert_int_equal(T.fakes[0].rows, 3);
	assert_int_equal(delivery_writer_backlog(T.w), 3);
	complete(&T.fakes[0], PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK), 0);
	for (size_t i = 0; i < 3; i++)
		expect_outcome(i, 0, false, NULL);
	assert_int_equal(delivery_writer_backlog(T.w), 0);
	writer_stop();
	deliveries_fini();
}

/* A batch holds at most batch_max_rows rows; the rest goes in the next one. */
static void test_batch_row_limit(void **state)
{
	writer_start(1, 4, 100);
	for (int i = 0; i < 6; i++)
		submit(NULL);
	loop_once();
	assert_int_equal(T.fakes[0].rows, 4);
	complete(&T.fakes[0], PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK), 0);
	assert_int_equal(T.sent, 2);
	assert_int_equal(T.fakes[0].rows, 2);
	complete(&T.fakes[0], PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK), 0);
	for (size_t i = 0; i < 6; i++)
		expect_outcome(i, 0, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* Keyed rows go by a claim and a COPY; a second request with a key already in the batch rides along
 * as a follower (no row of its own) and gets the leader's id as a duplicate; a row whose key is
 * held by an earlier delivery is a duplicate of that one. */
static void test_statement_followers_and_duplicates(void **state)
{
	static const char holder[] = "0190b5c8-0000-7000-8000-0000deadbeef";

	writer_start(1, 16, 100);
	submit("a");
	submit("b");
	submit("a");
	loop_once();
	assert_false(T.fakes[0].copy);
	assert_int_equal(T.fakes[0].rows, 2);
	assert_string_equal(T.fakes[0].keys[0], "a");
	assert_string_equal(T.fakes[0].keys[1], "b");
	assert_true(T.fakes[0].claim);
	complete(&T.fakes[0], statement_result(&T.fakes[0], "id", holder), 0);
	/* Only the row whose key the claim won is copied. */
	assert_int_equal(T.fakes[0].copied, 1);
	assert_string_equal(T.fakes[0].copied_ids[0], T.d[0].id);
	expect_outcome(0, 0, false, NULL);
	expect_outcome(1, 0, true, holder);
	expect_outcome(2, 0, true, T.d[0].id);
	writer_stop();
	deliveries_fini();
}

/* Followers never overflow the batch (it holds 2 * batch_max_rows deliveries): 40 requests
 * with one key go out as one row and three followers at a time, and every one is settled. */
static void test_followers_bounded(void **state)
{
	int batches = 0;

	writer_start(1, 2, 100);
	for (int i = 0; i < 40; i++)
		submit("same");
	loop_once();
	while (T.fakes[0].busy) {
		assert_true(T.fakes[0].rows <= 2);
		assert_true(delivery_writer_backlog(T.w) <= 40);
		complete(&T.fakes[0], statement_result(&T.fakes[0], "i", NULL), 0);
		batches++;
	}
	assert_int_equal(batches, 10);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(T.out[i].calls, 1);
	writer_stop();
	deliveries_fini();
}

/* A row that neither got in nor found its key's holder (a key race with another batch) is
 * retried in a later batch. */
static void test_key_race_retried(void **state)
{
	writer_start(1, 16, 100);
	submit("k1");
	submit("k2");
	loop_once();
	complete(&T.fakes[0], statement_result(&T.fakes[0], "ir", NULL), 0);
	expect_outcome(0, 0, false, NULL);
	assert_int_equal(T.out[1].calls, 0);
	assert_int_equal(T.sent, 2);
	assert_int_equal(T.fakes[0].rows, 1);
	assert_string_equal(T.fakes[0].ids[0], T.d[1].id);
	complete(&T.fakes[0], statement_result(&T.fakes[0], "i", NULL), 0);
	expect_outcome(1, 0, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* A serialization failure is retried a bounded number of times, then answered -EAGAIN. */
static void test_retryable_failure_bounded(void **state)
{
	writer_start(1, 16, 100);
	submit("k");
	loop_once();
	for (int attempt = 0; attempt < 5; attempt++) {
		complete(&T.fakes[0], failure("40001"), 0);
		assert_int_equal(T.out[0].calls, 0);
	}
	complete(&T.fakes[0], failure("40001"), 0);
	expect_outcome(0, -EAGAIN, false, NULL);
	assert_int_equal(T.sent, 6);
	writer_stop();
	deliveries_fini();
}

/* A connection lost under a batch retries the batch (by the statement: a COPY whose commit may
 * have landed cannot tell); the retried statement finds rows of the lost attempt as its own. */
static void test_lost_connection_retried(void **state)
{
	writer_start(1, 16, 100);
	submit(NULL);
	submit(NULL);
	loop_once();
	assert_true(T.fakes[0].copy);
	complete(&T.fakes[0], NULL, -ECONNRESET);
	assert_int_equal(T.sent, 2);
	assert_false(T.fakes[0].copy);
	assert_true(T.fakes[0].retry);
	assert_int_equal(T.fakes[0].rows, 2);
	complete(&T.fakes[0], statement_result(&T.fakes[0], "oi", NULL), 0);
	expect_outcome(0, 0, false, NULL);
	expect_outcome(1, 0, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* A batch that fails for one row's reason (a data error) is split in halves until that row is
 * alone: it gets -EIO, every other row is stored. Eight rows with the sixth bad: 8 fails,
 * [1-4] ok, [5-8] fails, [5-6] fails, [7-8] ok, [5] ok, [6] fails alone. */
static void test_bad_row_bisected(void **state)
{
	size_t bad;

	writer_start(1, 16, 100);
	for (int i = 0; i < 8; i++)
		submit(NULL);
	bad = 5;
	loop_once();
	assert_true(T.fakes[0].copy);
	complete(&T.fakes[0], failure("22P02"), 0); /* COPY: back to the queue, statement next */
	while (T.fakes[0].busy) {
		struct fake_db *f = &T.fakes[0];
		bool has_bad = false;
		char kinds[MAX_ROWS + 1] = {0};

		assert_false(f->copy);
		for (size_t i = 0; i < f->rows; i++) {
			has_bad |= index_of(f->ids[i]) == bad;
			kinds[i] = 'i';
		}
		if (has_bad)
			complete(f, failure("P0001"), 0);
		else
			complete(f, statement_result(f, kinds, NULL), 0);
	}
	for (size_t i = 0; i < 8; i++)
		expect_outcome(i, i == bad ? -EIO : 0, false, NULL);
	/* COPY, then 8, 4, 4, 2, 2, 1, 1 rows. */
	assert_int_equal(T.sent, 1 + 7);
	writer_stop();
	deliveries_fini();
}

/* Bisection keeps followers with their leader: the follower of a good row is a duplicate of
 * it; the follower of the bad row, once the bad row has failed alone, becomes a row of its
 * own (its own values may be fine) and is stored. */
static void test_bisect_keeps_followers(void **state)
{
	writer_start(1, 16, 100);
	submit("good");
	submit("bad");
	submit("good");
	submit("bad");
	loop_once();
	assert_int_equal(T.fakes[0].rows, 2);
	complete(&T.fakes[0], failure("23514"), 0);
	assert_int_equal(T.fakes[0].rows, 1);
	assert_string_equal(T.fakes[0].keys[0], "good");
	complete(&T.fakes[0], statement_result(&T.fakes[0], "i", NULL), 0);
	assert_int_equal(T.fakes[0].rows, 1);
	assert_string_equal(T.fakes[0].ids[0], T.d[1].id);
	complete(&T.fakes[0], failure("23514"), 0);
	expect_outcome(0, 0, false, NULL);
	expect_outcome(2, 0, true, T.d[0].id);
	expect_outcome(1, -EIO, false, NULL);
	assert_int_equal(T.out[3].calls, 0);
	assert_int_equal(T.fakes[0].rows, 1);
	assert_string_equal(T.fakes[0].ids[0], T.d[3].id);
	complete(&T.fakes[0], statement_result(&T.fakes[0], "i", NULL), 0);
	expect_outcome(3, 0, false, NULL);
	assert_int_equal(T.sent, 4);
	writer_stop();
	deliveries_fini();
}

/* A fault that every row hits (a trigger refusing them all) is not bisected down to single
 * rows: after WRITER_ISOLATION_MAX_FAILURES failing statements the failing batches fail
 * whole. 64 rows cost about 40 statements, not 127; every one is answered -EIO once. */
static void test_isolation_bounded(void **state)
{
	writer_start(1, 64, 200);
	for (int i = 0; i < 64; i++)
		submit(NULL);
	loop_once();
	while (T.fakes[0].busy)
		complete(&T.fakes[0], failure("XX000"), 0);
	for (size_t i = 0; i < 64; i++) {
		if (T.out[i].calls != 1 || T.out[i].r != -EIO)
			fail_msg("delivery %zu: %d calls, r %d", i, T.out[i].calls, T.out[i].r);
	}
	print_message("# %d statements for 64 rows\n", T.sent);
	assert_true(T.sent <= 48);
	/* The isolation is over: the next bad row is isolated again from a fresh count. */
	submit(NULL);
	submit(NULL);
	loop_once();
	complete(&T.fakes[0], failure("22P02"), 0); /* the COPY */
	complete(&T.fakes[0], failure("22P02"), 0); /* both rows */
	assert_int_equal(T.fakes[0].rows, 1);
	complete(&T.fakes[0], statement_result(&T.fakes[0], "i", NULL), 0);
	complete(&T.fakes[0], failure("22P02"), 0);
	expect_outcome(64, 0, false, NULL);
	expect_outcome(65, -EIO, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* A failure that is not a row's fault fails the whole batch with -EIO at once. */
static void test_other_failure_fails_batch(void **state)
{
	writer_start(1, 16, 100);
	submit("a");
	submit("b");
	loop_once();
	complete(&T.fakes[0], failure("42P01"), 0);
	expect_outcome(0, -EIO, false, NULL);
	expect_outcome(1, -EIO, false, NULL);
	assert_int_equal(T.sent, 1);
	writer_stop();
	deliveries_fini();
}

/* A statement the server cancelled (statement_timeout) answers -ETIMEDOUT. */
static void test_statement_timeout(void **state)
{
	writer_start(1, 16, 100);
	submit("a");
	loop_once();
	complete(&T.fakes[0], failure("57014"), 0);
	expect_outcome(0, -ETIMEDOUT, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* The sweep times out requests that waited longer than commit_timeout_ms in the queue, and
 * resets a connection whose commit has not answered in twice that. */
static void test_sweep_timeouts(void **state)
{
	writer_start(1, 1, 100);
	submit(NULL);
	submit(NULL);
	loop_once();
	assert_int_equal(T.fakes[0].rows, 1);
	T.now_us += 1001 * 1000; /* the queued one is past the deadline, the commit not yet 2x */
	delivery_writer_sweep(T.w);
	expect_outcome(1, -ETIMEDOUT, false, NULL);
	assert_int_equal(T.out[0].calls, 0);
	assert_int_equal(T.fakes[0].resets, 0);
	T.now_us += 1000 * 1000;
	delivery_writer_sweep(T.w);
	assert_int_equal(T.fakes[0].resets, 1);
	/* The reset fails the batch as lost (retried); the retry is already past its deadline. */
	expect_outcome(0, -ETIMEDOUT, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* The backlog bound refuses with -EBUSY; a writer without a connection refuses -EAGAIN. */
static void test_submit_refusals(void **state)
{
	struct delivery extra = {.source = "src"};
	struct outcome o = {0};

	writer_start(1, 16, 2);
	submit(NULL);
	submit(NULL);
	assert_int_equal(delivery_writer_submit(T.w, &extra, on_done, &o), -EBUSY);
	T.fakes[0].connected = false;
	T.fakes[0].state_cb(T.fakes[0].state_ud, false);
	/* Losing the last connection fails what is queued with -EAGAIN at once. */
	expect_outcome(0, -EAGAIN, false, NULL);
	expect_outcome(1, -EAGAIN, false, NULL);
	assert_int_equal(delivery_writer_submit(T.w, &extra, on_done, &o), -EAGAIN);
	assert_false(delivery_writer_ready(T.w));
	assert_int_equal(o.calls, 0);
	writer_stop();
	deliveries_fini();
}

/* Freeing the writer fails everything queued or in flight with -ECANCELED, once. */
static void test_free_cancels(void **state)
{
	writer_start(1, 1, 100);
	submit(NULL);
	submit(NULL);
	loop_once();
	writer_stop();
	expect_outcome(0, -ECANCELED, false, NULL);
	expect_outcome(1, -ECANCELED, false, NULL);
	deliveries_fini();
}

/* With two connections, a second batch goes out in parallel only once enough requests wait. */
static void test_parallel_batches(void **state)
{
	writer_start(2, 4, 100);
	submit(NULL);
	loop_once();
	assert_true(T.fakes[0].busy);
	for (int i = 0; i < 20; i++)
		submit(NULL);
	loop_once();
	assert_true(T.fakes[1].busy);
	assert_int_equal(T.fakes[1].rows, 4);
	complete(&T.fakes[1], PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK), 0);
	complete(&T.fakes[0], PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK), 0);
	while (T.fakes[0].busy || T.fakes[1].busy)
		complete(T.fakes[0].busy ? &T.fakes[0] : &T.fakes[1],
		         PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK), 0);
	for (size_t i = 0; i < T.n; i++)
		expect_outcome(i, 0, false, NULL);
	writer_stop();
	deliveries_fini();
}

/* Run the flow tests, with the writer's log lines kept out of the TAP output. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_commit_copy),
	    cmocka_unit_test(test_batch_row_limit),
	    cmocka_unit_test(test_statement_followers_and_duplicates),
	    cmocka_unit_test(test_followers_bounded),
	    cmocka_unit_test(test_key_race_retried),
	    cmocka_unit_test(test_retryable_failure_bounded),
	    cmocka_unit_test(test_lost_connection_retried),
	    cmocka_unit_test(test_bad_row_bisected),
	    cmocka_unit_test(test_bisect_keeps_followers),
	    cmocka_unit_test(test_isolation_bounded),
	    cmocka_unit_test(test_other_failure_fails_batch),
	    cmocka_unit_test(test_statement_timeout),
	    cmocka_unit_test(test_sweep_timeouts),
	    cmocka_unit_test(test_submit_refusals),
	    cmocka_unit_test(test_free_cancels),
	    cmocka_unit_test(test_parallel_batches),
	};
	FILE *null = fopen("/dev/null", "w");

	log_set_output(null);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	log_set_output(NULL);
	if (null)
		fclose(null);
	return r;
}
