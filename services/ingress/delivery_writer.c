/* Group commit of accepted deliveries over a few asynchronous PostgreSQL connections. */
#include "delivery_writer.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "pgarray.h"

/* Queued requests that justify a second batch while one is in flight (measured: 16 beat
 * both 1 and 64 on a 2-core machine with 64 and 256 concurrent clients). */
#define WRITER_PARALLEL_MIN_QUEUE 16

/* How often expired idempotency keys are deleted (or every dedup_window, if shorter). */
#define WRITER_EXPIRE_INTERVAL_S 60

/* Failing statements an isolation may cost (bisecting batches that failed for one row's
 * reason, counted from the first until every delivery involved is settled): one bad row in
 * a batch of 512 costs 10, so this isolates about three; beyond it, the fault is taken to be
 * everyone's (a trigger refusing every row, a new constraint) and a failing batch fails
 * whole instead of costing two statements per row. */
#define WRITER_ISOLATION_MAX_FAILURES 32

/* Attempts for one delivery when its batch hits a serialization failure or a key race. */
#define DELIVERY_MAX_ATTEMPTS 5

/* One connection and the batch it has in flight. */
struct writer_conn {
	struct delivery_writer *w;
	struct db_async *db;
	struct delivery **batch;
	size_t batch_n;    /* all deliveries, leaders first then followers */
	size_t batch_rows; /* leaders: rows in the statement */
	bool copy;         /* the batch travels by COPY alone */
	bool retry;        /* a leader is a retry: the retry statement, which finds its rows */
	/* Otherwise the claim of the batch's keys, then a COPY of the rows it may store. */
	struct pgarray claim_sql;
	struct delivery **kept; /* the rows the COPY after a claim carries */
	long long sent_us;
	struct pgarray cols[DELIVERY_WRITER_COLUMNS];
	const char *values[DELIVERY_WRITER_PARAMS];
	int lengths[DELIVERY_WRITER_PARAMS];
	int formats[DELIVERY_WRITER_PARAMS];
	struct pgarray stream; /* binary COPY stream of a copy batch */
};

struct delivery_writer {
	struct event_base *base;
	struct delivery_writer_options opts;
	const struct delivery_writer_db_ops *db;
	size_t batch_capacity; /* rows plus followers a batch holds: 2 * batch_max_rows */
	/* Waiting for a commit, FIFO. */
	struct delivery *head, *tail;
	size_t queued;
	size_t in_flight; /* deliveries inside batches */
	struct writer_conn *conns;
	size_t n_conns;
	struct event *ev_kick;
	struct event *ev_sweep;
	struct event *ev_expire;
	bool expiring;
	char window[32]; /* dedup_window_s as text: the statement's last parameter */
	/* Metrics. */
	struct metric_histogram *m_batch_rows;
	struct metric_histogram *m_commit_seconds;
	struct metric_gauge *m_backlog;
	struct metric_gauge *m_db_up;
	struct metric_counter *m_committed;
	struct metric_counter *m_duplicates;
	struct metric_counter *m_batch_errors;
	struct metric_counter *m_timeouts;
	struct metric_counter *m_keys_expired;
	struct metric_counter *m_isolated;
	size_t isolating;            /* deliveries with a batch_cap, not settled yet */
	unsigned isolation_failures; /* failing statements since isolating became nonzero */
};

/* The database operations of db.h. */
static const struct delivery_writer_db_ops writer_db_async = {
    .open = db_async_new,
    .close = db_async_free,
    .idle = db_async_idle,
    .connected = db_async_connected,
    .send_prepared = db_async_send_prepared,
    .send_copy = db_async_send_copy,
    .send_copy_query = db_async_send_copy_query,
    .reset = db_async_reset,
    .sqlstate = db_result_sqlstate,
    .message = db_result_message,
};

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
static const double commit_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,  0.5,   1,    2.5};

/* Monotonic microseconds: the default clock. */
static long long monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Free what a delivery owns; the struct itself is the caller's. */
void delivery_fini(struct delivery *d)
{
	free(d->idempotency_key);
	free(d->uri);
	free(d->headers_json);
	free(d->content_type);
	free(d->peer);
	free(d->route);
	free(d->body_copy);
	d->idempotency_key = d->uri = d->headers_json = d->content_type = d->peer = NULL;
	d->route = d->body_copy = NULL;
}

/* The batch statements. The claim takes the batch's ids, sources and keys as arrays; the
 * retry statement takes one array parameter per column, one row per array element, each
 * array expanded in the select list (ProjectSet: no copy of the rows into a tuplestore).
 * They claim the idempotency keys (taking over expired ones, in key order so concurrent
 * batches cannot deadlock); the retry statement inserts the deliveries without a key and
 * those whose key it won (the claim leaves that to the COPY after it); both report only the
 * keyed rows whose key they did not win, with the delivery that holds it (NULL: a batch that
 * committed after this statement began holds it, or took it over; retry).
 * Every row not reported is stored: the transaction either inserted it or failed as a whole.
 *
 * No plan here depends on table statistics: the inserts reach the tables through their
 * unique indexes only, and the one lookup (the holder of a key) runs on sessions with
 * enable_seqscan off. A plan chosen on the statistics of an empty table and then cached
 * would otherwise read a whole growing table per row (see migrations/0003). Keys compare
 * and sort bytewise (COLLATE "C", as the key table's columns since migration 0009). */
#define WRITER_SQL_KEYS(WINDOW)                                                                    \
	"WITH keys AS (INSERT INTO hookrun.idempotency_keys AS k (source, key, delivery_id, "      \
	"expires_at) "                                                                             \
	"SELECT source, key, id, now() + make_interval(secs => " WINDOW "::float8) "               \
	"FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::text[]) AS source, "                    \
	"unnest($3::text[]) AS key) AS t WHERE key IS NOT NULL "                                   \
	"ORDER BY source COLLATE \"C\", key COLLATE \"C\" "                                        \
	"ON CONFLICT (source, key) DO UPDATE SET delivery_id = EXCLUDED.delivery_id, "             \
	"expires_at = EXCLUDED.expires_at WHERE k.expires_at < now() RETURNING delivery_id)"
#define WRITER_SQL_INSERT                                                                          \
	", ins AS (INSERT INTO hookrun.deliveries (id, source, idempotency_key, received_at, "     \
	"method, uri, headers, content_type, body, verified_by, peer, route) "                     \
	"SELECT id, source, key, received_at, method, uri, headers, content_type, body, "          \
	"verified_by, peer, route FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::text[]) AS "   \
	"source, "                                                                                 \
	"unnest($3::text[]) AS key, unnest($4::timestamptz[]) AS received_at, "                    \
	"unnest($5::text[]) AS method, unnest($6::text[]) AS uri, "                                \
	"unnest($7::jsonb[]) AS headers, unnest($8::text[]) AS content_type, "                     \
	"unnest($9::bytea[]) AS body, "                                                            \
	"unnest($10::text[]) AS verified_by, unnest($11::text[]) AS peer, "                        \
	"unnest($12::jsonb[]) AS route) AS t "                                                     \
	"WHERE key IS NULL OR id IN (SELECT delivery_id FROM keys) ON CONFLICT (id, received_at) " \
	"DO "                                                                                      \
	"NOTHING)"
#define WRITER_SQL_REPORT                                                                          \
	" SELECT t.ord, (SELECT k.delivery_id FROM hookrun.idempotency_keys k "                    \
	"WHERE k.source = t.source AND k.key = t.key AND k.expires_at >= now()) "                  \
	"FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS t(id, source, key, "   \
	"ord) WHERE t.key IS NOT NULL AND t.id NOT IN (SELECT delivery_id FROM keys)"

/* First attempts: the claim alone; the rows follow by COPY (their ids are new, so a unique
 * violation means the batch is retried, by the retry statement). */
const char delivery_writer_claim_sql[] = WRITER_SQL_KEYS("$4") WRITER_SQL_REPORT;

/* Batches with a retry: a row of an attempt whose commit was lost with its connection may
 * exist (and holds its key: reported as its own holder). */
const char delivery_writer_retry_sql[] = WRITER_SQL_KEYS("$13") WRITER_SQL_INSERT WRITER_SQL_REPORT;

/* Expired idempotency keys, a bounded slice at a time; any ingress may run it. */
const char delivery_writer_expire_sql[] =
    "DELETE FROM hookrun.idempotency_keys WHERE ctid = ANY (ARRAY("
    "SELECT ctid FROM hookrun.idempotency_keys WHERE expires_at < now() LIMIT 10000))";

static const struct db_prepared writer_prepared[] = {
    {DELIVERY_WRITER_CLAIM_STATEMENT, delivery_writer_claim_sql},
    {DELIVERY_WRITER_RETRY_STATEMENT, delivery_writer_retry_sql},
    {DELIVERY_WRITER_EXPIRE_STATEMENT, delivery_writer_expire_sql},
};

/* The writer's sessions: every batch statement planned once (its plans hold for any batch
 * size), and index paths whenever one exists, whatever the statistics say (an index scan on
 * an empty table costs nothing; a sequential scan on a large one costs everything). */
const char *const delivery_writer_session_settings[] = {
    "plan_cache_mode=force_generic_plan",
    "enable_seqscan=off",
    NULL,
};

/* Encode the leaders of a batch as one binary array per column; -EINVAL on a bad id. */
int delivery_writer_encode(struct delivery *const *rows, size_t n,
                           struct pgarray cols[DELIVERY_WRITER_COLUMNS])
{
	static const unsigned oids[DELIVERY_WRITER_COLUMNS] = {
	    PG_OID_UUID,  PG_OID_TEXT, PG_OID_TEXT,  PG_OID_TIMESTAMPTZ, PG_OID_TEXT, PG_OID_TEXT,
	    PG_OID_JSONB, PG_OID_TEXT, PG_OID_BYTEA, PG_OID_TEXT,        PG_OID_TEXT, PG_OID_JSONB,
	};

	for (size_t c = 0; c < DELIVERY_WRITER_COLUMNS; c++)
		pgarray_begin(&cols[c], oids[c], n);
	for (size_t i = 0; i < n; i++) {
		const struct delivery *d = rows[i];
		if (pgarray_put_uuid(&cols[0], d->id) < 0)
			return -EINVAL;
		pgarray_put_text(&cols[1], d->source);
		pgarray_put_text(&cols[2], d->idempotency_key);
		pgarray_put_timestamptz(&cols[3], d->received_us);
		pgarray_put_text(&cols[4], d->method);
		pgarray_put_text(&cols[5], d->uri);
		pgarray_put_jsonb(&cols[6], d->headers_json);
		pgarray_put_text(&cols[7], d->content_type);
		pgarray_put_bytes(&cols[8], d->body, d->body_len);
		pgarray_put_text(&cols[9], d->verified_by);
		pgarray_put_text(&cols[10], d->peer);
		if (d->route)
			pgarray_put_jsonb(&cols[11], d->route);
		else
			pgarray_put_null(&cols[11]);
	}
	return 0;
}

/* The COPY of a copy batch: the statement's columns, in delivery_writer_encode_copy() order. */
const char delivery_writer_copy_sql[] =
    "COPY hookrun.deliveries (id, source, idempotency_key, received_at, method, uri, headers, "
    "content_type, body, verified_by, peer, route) FROM STDIN (FORMAT binary)";

/* The text of a claim batch: EXECUTE of the claim with array literals, then the COPY. */
void delivery_writer_encode_claim(struct delivery *const *rows, size_t n, const char *window,
                                  struct pgarray *sql)
{
	pgarray_sql_begin(sql);
	pgarray_sql_append(sql, "EXECUTE " DELIVERY_WRITER_CLAIM_STATEMENT "(");
	pgarray_literal_begin(sql);
	for (size_t i = 0; i < n; i++)
		pgarray_literal_put(sql, rows[i]->id);
	pgarray_literal_end(sql);
	pgarray_sql_append(sql, ", ");
	pgarray_literal_begin(sql);
	for (size_t i = 0; i < n; i++)
		pgarray_literal_put(sql, rows[i]->source);
	pgarray_literal_end(sql);
	pgarray_sql_append(sql, ", ");
	pgarray_literal_begin(sql);
	for (size_t i = 0; i < n; i++)
		pgarray_literal_put(sql, rows[i]->idempotency_key);
	pgarray_literal_end(sql);
	pgarray_sql_append(sql, ", '");
	pgarray_sql_append(sql, window);
	pgarray_sql_append(sql, "'); ");
	pgarray_sql_append(sql, delivery_writer_copy_sql);
}

/* Encode a copy batch's rows as one binary COPY stream; -EINVAL on a bad id. */
int delivery_writer_encode_copy(struct delivery *const *rows, size_t n, struct pgarray *stream)
{
	pgarray_copy_begin(stream);
	for (size_t i = 0; i < n; i++) {
		const struct delivery *d = rows[i];
		pgarray_copy_row(stream, DELIVERY_WRITER_COLUMNS);
		if (pgarray_put_uuid(stream, d->id) < 0)
			return -EINVAL;
		pgarray_put_text(stream, d->source);
		pgarray_put_text(stream, d->idempotency_key);
		pgarray_put_timestamptz(stream, d->received_us);
		pgarray_put_text(stream, d->method);
		pgarray_put_text(stream, d->uri);
		pgarray_put_jsonb(stream, d->headers_json);
		pgarray_put_text(stream, d->content_type);
		pgarray_put_bytes(stream, d->body, d->body_len);
		pgarray_put_text(stream, d->verified_by);
		pgarray_put_text(stream, d->peer);
		if (d->route)
			pgarray_put_jsonb(stream, d->route);
		else
			pgarray_put_null(stream);
	}
	pgarray_copy_end(stream);
	return 0;
}

/* Publish the backlog gauge. */
static void writer_gauges(struct delivery_writer *w)
{
	metric_gauge_set(w->m_backlog, (double)delivery_writer_backlog(w));
}

/* Append to the queue tail. */
static void queue_push(struct delivery_writer *w, struct delivery *d)
{
	d->next = NULL;
	if (w->tail)
		w->tail->next = d;
	else
		w->head = d;
	w->tail = d;
	w->queued++;
}

/* Put a delivery back at the queue head (retry before newer work). */
static void queue_push_front(struct delivery_writer *w, struct delivery *d)
{
	d->next = w->head;
	w->head = d;
	if (!w->tail)
		w->tail = d;
	w->queued++;
}

/* Take the queue head. */
static struct delivery *queue_pop(struct delivery_writer *w)
{
	struct delivery *d = w->head;

	if (!d)
		return NULL;
	w->head = d->next;
	if (!w->head)
		w->tail = NULL;
	d->next = NULL;
	w->queued--;
	return d;
}

/* Leave isolation for d (settled, or its cap changing): the isolation ends with its last. */
static void isolation_leave(struct delivery_writer *w, struct delivery *d)
{
	if (!d->batch_cap)
		return;
	d->batch_cap = 0;
	assert(w->isolating > 0);
	if (--w->isolating == 0)
		w->isolation_failures = 0;
}

/* Put d into isolation with a batch cap. */
static void isolation_enter(struct delivery_writer *w, struct delivery *d, size_t cap)
{
	isolation_leave(w, d);
	d->batch_cap = cap;
	w->isolating++;
}

/* Report an outcome to the delivery's owner. */
static void delivery_finish(struct delivery_writer *w, struct delivery *d, int r, const char *id,
                            bool duplicate)
{
	isolation_leave(w, d);
	d->leader = NULL;
	d->done(d, r, id, duplicate, d->userdata);
}

/* Fail everything waiting in the queue. */
static void writer_fail_queue(struct delivery_writer *w, int r)
{
	struct delivery *d;

	while ((d = queue_pop(w)))
		delivery_finish(w, d, r, NULL, false);
	writer_gauges(w);
}

/* Whether two deliveries carry the same idempotency key for the same source. */
static bool same_key(const struct delivery *a, const struct delivery *b)
{
	return a->idempotency_key && b->idempotency_key && a->source == b->source &&
	       strcmp(a->idempotency_key, b->idempotency_key) == 0;
}

/* Find an earlier leader in the batch with the same key; linear, keyed rows only. */
static struct delivery *batch_find_leader(const struct writer_conn *c, const struct delivery *d)
{
	if (!d->idempotency_key)
		return NULL;
	for (size_t i = 0; i < c->batch_rows; i++)
		if (same_key(c->batch[i], d))
			return c->batch[i];
	return NULL;
}

/* Whether a delivery may be written by COPY: no idempotency key to claim, and a first
 * attempt, so its row cannot exist yet (a retry might find the row of an attempt whose
 * commit was lost with the connection: only the statement can tell). */
static bool delivery_copyable(const struct delivery *d)
{
	return !d->idempotency_key && d->attempts == 0;
}

/* Move deliveries from the queue into a connection's batch, within the row and byte limits.
 * A batch is a copy batch when the queue head is copyable; it then takes the run of copyable
 * deliveries behind it. Otherwise the statement takes any delivery, and followers (a key
 * already in this batch) ride along without a row of their own, up to batch_capacity in all;
 * a follower found once the rows are full still joins its leader. A head with a batch_cap
 * (its last batch failed for one row's reason) limits the batch to that many rows. */
static void batch_collect(struct delivery_writer *w, struct writer_conn *c)
{
	struct delivery *followers = NULL, **ftail = &followers;
	size_t bytes = 0, max_rows = w->opts.batch_max_rows;

	c->batch_n = c->batch_rows = 0;
	c->copy = w->head && delivery_copyable(w->head);
	if (w->head && w->head->batch_cap && w->head->batch_cap < max_rows)
		max_rows = w->head->batch_cap;
	while (w->head && c->batch_n < w->batch_capacity &&
	       (!c->copy || delivery_copyable(w->head))) {
		struct delivery *leader = batch_find_leader(c, w->head);

		if (!leader &&
		    (c->batch_rows >= max_rows ||
		     (c->batch_rows > 0 && bytes + w->head->body_len > w->opts.batch_max_bytes)))
			break;
		struct delivery *d = queue_pop(w);
		c->batch_n++;
		if (leader) {
			d->leader = leader;
			*ftail = d;
			ftail = &d->next;
			continue;
		}
		bytes += d->body_len;
		c->batch[c->batch_rows++] = d;
	}
	*ftail = NULL;
	c->batch_n = c->batch_rows;
	for (struct delivery *f = followers, *next; f; f = next) {
		next = f->next;
		c->batch[c->batch_n++] = f;
	}
	w->in_flight += c->batch_n;
}

static void writer_on_result(void *userdata, const PGresult *res, int r);
static void writer_on_copy_result(void *userdata, const PGresult *res, int r);
static void writer_batch_done(struct delivery_writer *w, struct writer_conn *c);
static void batch_fail(struct delivery_writer *w, struct writer_conn *c, int r);

/* Send a copy batch: one COPY, committed on its own. */
static void writer_send_copy(struct delivery_writer *w, struct writer_conn *c)
{
	int r = delivery_writer_encode_copy(c->batch, c->batch_rows, &c->stream);

	if (r < 0) {
		batch_fail(w, c, -EIO);
		writer_batch_done(w, c);
		return;
	}
	c->sent_us = w->opts.clock_us();
	r = w->db->send_copy(c->db, delivery_writer_copy_sql, c->stream.buf, c->stream.len,
	                     writer_on_copy_result, c);
	if (r < 0)
		writer_on_copy_result(c, NULL, -ECONNRESET);
}

/* The claim of a claim batch answered and the server waits for the COPY: the stream of the
 * rows the claim did not report (a duplicate, or a key held elsewhere, is not stored). Most
 * claims report nothing, and the stream encoded before sending serves as it is. */
static int writer_claim_copy(void *userdata, const PGresult *claimed, const void **data,
                             size_t *len)
{
	struct writer_conn *c = userdata;
	int reported =
	    claimed && PQresultStatus(claimed) == PGRES_TUPLES_OK ? PQntuples(claimed) : 0;

	if (reported > 0) {
		size_t n = 0;

		for (size_t i = 0; i < c->batch_rows; i++)
			c->kept[i] = c->batch[i];
		for (int i = 0; i < reported; i++) {
			long ord = strtol(PQgetvalue(claimed, i, 0), NULL, 10);
			if (ord >= 1 && (size_t)ord <= c->batch_rows)
				c->kept[ord - 1] = NULL;
		}
		for (size_t i = 0; i < c->batch_rows; i++)
			if (c->kept[i])
				c->kept[n++] = c->kept[i];
		if (delivery_writer_encode_copy(c->kept, n, &c->stream) < 0)
			return -EINVAL;
	}
	*data = c->stream.buf;
	*len = c->stream.len;
	return 0;
}

/* Send a claim batch: first attempts, some with keys. Its stream is encoded now, which also
 * checks every id before anything is sent. */
static void writer_send_claim(struct delivery_writer *w, struct writer_conn *c)
{
	int r = delivery_writer_encode_copy(c->batch, c->batch_rows, &c->stream);

	if (r < 0) {
		batch_fail(w, c, -EIO);
		writer_batch_done(w, c);
		return;
	}
	delivery_writer_encode_claim(c->batch, c->batch_rows, w->window, &c->claim_sql);
	c->sent_us = w->opts.clock_us();
	r = w->db->send_copy_query(c->db, (const char *)c->claim_sql.buf, writer_claim_copy,
	                           writer_on_result, c);
	if (r < 0)
		writer_on_result(c, NULL, -ECONNRESET);
}

/* Send the queue head as one batch on an idle connection: a COPY when it has no keys and is
 * a first attempt, a claim and a COPY when it has keys, the retry statement when a row is a
 * retry. */
static void writer_send(struct delivery_writer *w, struct writer_conn *c)
{
	int r;

	batch_collect(w, c);
	if (c->copy) {
		writer_send_copy(w, c);
		return;
	}
	c->retry = false;
	for (size_t i = 0; i < c->batch_rows; i++)
		c->retry |= c->batch[i]->attempts > 0;
	if (!c->retry) {
		writer_send_claim(w, c);
		return;
	}
	r = delivery_writer_encode(c->batch, c->batch_rows, c->cols);
	if (r < 0) {
		batch_fail(w, c, -EIO);
		writer_batch_done(w, c);
		return;
	}
	for (size_t i = 0; i < DELIVERY_WRITER_COLUMNS; i++) {
		c->values[i] = (const char *)c->cols[i].buf;
		c->lengths[i] = (int)c->cols[i].len;
		c->formats[i] = 1;
	}
	c->values[DELIVERY_WRITER_COLUMNS] = w->window;
	c->sent_us = w->opts.clock_us();
	r = w->db->send_prepared(c->db, DELIVERY_WRITER_RETRY_STATEMENT, DELIVERY_WRITER_PARAMS,
	                         c->values, c->lengths, c->formats, writer_on_result, c);
	if (r < 0)
		writer_on_result(c, NULL, -ECONNRESET);
}

/* Start commits while work is waiting: the first batch at once, further ones in parallel
 * only once WRITER_PARALLEL_MIN_QUEUE requests wait. Splitting a shallow queue across
 * connections would only make smaller batches, and per-batch cost (round trip, fsync) is
 * what group commit amortises. */
static void writer_flush(struct delivery_writer *w)
{
	size_t busy = 0;

	for (size_t i = 0; i < w->n_conns; i++)
		busy += w->conns[i].batch_n > 0;
	for (size_t i = 0; i < w->n_conns && w->head; i++) {
		struct writer_conn *c = &w->conns[i];
		if (!w->db->idle(c->db) || c->batch_n)
			continue;
		if (busy && w->queued < WRITER_PARALLEL_MIN_QUEUE)
			return;
		writer_send(w, c);
		busy++;
	}
}

/* Deferred flush: runs once per loop iteration, after this iteration's requests queued. */
static void writer_on_kick(evutil_socket_t fd, short what, void *arg)
{
	writer_flush(arg);
}

/* Whether any connection is usable. */
static bool writer_connected(const struct delivery_writer *w)
{
	for (size_t i = 0; i < w->n_conns; i++)
		if (w->db->connected(w->conns[i].db))
			return true;
	return false;
}

/* Retry a delivery later, or give up on it with r. */
static void delivery_retry_or_finish(struct delivery_writer *w, struct delivery *d, int r,
                                     const char *id, bool duplicate)
{
	if (r == -EAGAIN && d->attempts < DELIVERY_MAX_ATTEMPTS) {
		d->attempts++;
		queue_push_front(w, d);
		return;
	}
	delivery_finish(w, d, r, id, duplicate);
}

/* Settle one leader and its followers with the row outcome. */
static void batch_settle(struct delivery_writer *w, struct writer_conn *c, struct delivery *leader,
                         int r, const char *id, bool duplicate)
{
	for (size_t i = c->batch_rows; i < c->batch_n; i++) {
		struct delivery *f = c->batch[i];
		if (f && f->leader == leader) {
			c->batch[i] = NULL;
			delivery_retry_or_finish(w, f, r, id, r == 0);
		}
	}
	if (r == 0)
		metric_counter_inc(duplicate ? w->m_duplicates : w->m_committed);
	delivery_retry_or_finish(w, leader, r, id, duplicate);
}

/* Apply a successful statement's rows. It reports the keyed rows whose key it did not win: a
 * duplicate of the delivery holding the key, our own row (an earlier attempt committed), or
 * a key won by a batch that committed meanwhile (retry in a later batch, which sees it).
 * Every other row is stored. */
static void batch_apply_rows(struct delivery_writer *w, struct writer_conn *c, const PGresult *res)
{
	for (int i = 0; i < PQntuples(res); i++) {
		long ord = strtol(PQgetvalue(res, i, 0), NULL, 10);
		if (ord < 1 || (size_t)ord > c->batch_rows || !c->batch[ord - 1])
			continue;
		struct delivery *d = c->batch[ord - 1];
		const char *holder = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
		c->batch[ord - 1] = NULL;

		if (!holder)
			batch_settle(w, c, d, -EAGAIN, NULL, false);
		else if (strcmp(holder, d->id) == 0)
			batch_settle(w, c, d, 0, d->id, false);
		else
			batch_settle(w, c, d, 0, holder, true);
	}
	for (size_t i = 0; i < c->batch_rows; i++) {
		struct delivery *d = c->batch[i];
		if (d) {
			c->batch[i] = NULL;
			batch_settle(w, c, d, 0, d->id, false);
		}
	}
}

/* Settle every delivery of the batch still unsettled with the same error. Last first: those
 * retried go back to the queue head one by one, and so keep their order. */
static void batch_fail(struct delivery_writer *w, struct writer_conn *c, int r)
{
	for (size_t i = c->batch_rows; i-- > 0;) {
		struct delivery *d = c->batch[i];
		if (d) {
			c->batch[i] = NULL;
			batch_settle(w, c, d, r, NULL, false);
		}
	}
}

/* Put the batch back at the queue head in its order, each leader followed by its followers,
 * split in two: the first half of the rows heads batches of at most that many rows, the
 * second half likewise. A statement that failed for one row's reason is retried this way
 * until the row is alone (and fails alone, -EIO) while the others are stored: log2(rows)
 * more statements, and no attempt is counted against the rows. */
static void batch_bisect(struct delivery_writer *w, struct writer_conn *c)
{
	_cleanup_free_ struct delivery **seq = xcalloc(c->batch_n, sizeof(struct delivery *));
	size_t n = 0, first = (c->batch_rows + 1) / 2;

	for (size_t i = 0; i < c->batch_rows; i++) {
		struct delivery *leader = c->batch[i];

		isolation_enter(w, leader, i < first ? first : c->batch_rows - first);
		seq[n++] = leader;
		for (size_t j = c->batch_rows; j < c->batch_n; j++) {
			struct delivery *f = c->batch[j];
			if (f && f->leader == leader) {
				isolation_enter(w, f, leader->batch_cap);
				seq[n++] = f;
			}
		}
	}
	assert(n == c->batch_n);
	for (size_t i = 0; i < c->batch_n; i++)
		c->batch[i] = NULL;
	while (n > 0) {
		seq[--n]->leader = NULL;
		queue_push_front(w, seq[n]);
	}
	metric_counter_inc(w->m_isolated);
}

/* The lone row of a batch failed for its own reason: it gets -EIO; its followers (requests
 * with its key, whose own values may be fine) go back to the queue, the first of them to be
 * a row of its own in a batch of one. */
static void batch_fail_alone(struct delivery_writer *w, struct writer_conn *c)
{
	struct delivery *leader = c->batch[0];

	for (size_t i = c->batch_n; i-- > c->batch_rows;) {
		struct delivery *f = c->batch[i];
		if (f && f->leader == leader) {
			c->batch[i] = NULL;
			f->leader = NULL;
			isolation_enter(w, f, 1);
			queue_push_front(w, f);
		}
	}
	c->batch[0] = NULL;
	delivery_finish(w, leader, -EIO, NULL, false);
}

/* A statement failed for what may be one row's reason: bisect it, fail its lone row, or, when
 * the isolation has cost WRITER_ISOLATION_MAX_FAILURES failing statements already, fail the
 * batch whole (the fault is taken to be systematic). */
static void batch_isolate(struct delivery_writer *w, struct writer_conn *c)
{
	bool isolating = w->isolating > 0;

	if (isolating && ++w->isolation_failures > WRITER_ISOLATION_MAX_FAILURES) {
		log_event(LOG_LEVEL_WARN, "delivery.isolation_abandoned", "rows=%zu failures=%u",
		          c->batch_rows, w->isolation_failures);
		batch_fail(w, c, -EIO);
	} else if (c->batch_rows == 1) {
		batch_fail_alone(w, c);
	} else {
		if (!isolating)
			w->isolation_failures = 1;
		batch_bisect(w, c);
	}
}

/* Log and count a statement that failed; retry: worth retrying whatever its SQLSTATE says. */
static int batch_error(struct delivery_writer *w, const struct writer_conn *c, const PGresult *res,
                       bool retry)
{
	const char *state = w->db->sqlstate(res);

	retry = retry || db_sqlstate_is_retryable(state);
	metric_counter_inc(w->m_batch_errors);
	if (db_sqlstate_is_timeout(state)) {
		metric_counter_inc(w->m_timeouts);
		log_event(LOG_LEVEL_WARN, "delivery.commit_timeout", "rows=%zu timeout_ms=%d",
		          c->batch_rows, w->opts.commit_timeout_ms);
		return -ETIMEDOUT;
	}
	/* A lone row that fails names itself: the operator can find its request by id. */
	log_event(retry || c->batch_rows > 1 ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR,
	          "delivery.batch_failed", "rows=%zu delivery_id=%s sqlstate=%s detail=%s",
	          c->batch_rows, c->batch_rows == 1 && c->batch[0] ? c->batch[0]->id : "",
	          state ? state : "", w->db->message(res));
	return retry ? -EAGAIN : -EIO;
}

/* A batch statement finished (or the connection broke under it). */
static void writer_on_result(void *userdata, const PGresult *res, int r)
{
	struct writer_conn *c = userdata;
	struct delivery_writer *w = c->w;
	long long took_us = w->opts.clock_us() - c->sent_us;

	if (r < 0) {
		batch_fail(w, c,
		           took_us >= w->opts.commit_timeout_ms * 1000LL ? -ETIMEDOUT : -EAGAIN);
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* A first attempt's row cannot exist: a unique violation is worth a retry (by
		 * the retry statement), as after a failed COPY. */
		const char *state = w->db->sqlstate(res);
		int e = batch_error(w, c, res, !c->retry && db_sqlstate_is_unique_violation(state));

		if (e == -EIO && db_sqlstate_is_data_error(state))
			batch_isolate(w, c);
		else
			batch_fail(w, c, e);
	} else {
		metric_histogram_observe(w->m_batch_rows, (double)c->batch_rows);
		metric_histogram_observe(w->m_commit_seconds, (double)took_us / 1e6);
		batch_apply_rows(w, c, res);
	}
	writer_batch_done(w, c);
}

/* A copy batch finished. COPY is all or nothing: every row committed, or none did. A failed
 * copy goes back to the queue and is retried by the statement, which finds rows that exist
 * already (a unique violation here most likely means one did) and reports them as ours. */
static void writer_on_copy_result(void *userdata, const PGresult *res, int r)
{
	struct writer_conn *c = userdata;
	struct delivery_writer *w = c->w;
	long long took_us = w->opts.clock_us() - c->sent_us;

	if (r < 0) {
		batch_fail(w, c,
		           took_us >= w->opts.commit_timeout_ms * 1000LL ? -ETIMEDOUT : -EAGAIN);
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		/* The statement retries what may have been one row's fault (it can bisect). */
		const char *state = w->db->sqlstate(res);

		batch_fail(w, c,
		           batch_error(w, c, res,
		                       db_sqlstate_is_unique_violation(state) ||
		                           db_sqlstate_is_data_error(state)));
	} else {
		metric_histogram_observe(w->m_batch_rows, (double)c->batch_rows);
		metric_histogram_observe(w->m_commit_seconds, (double)took_us / 1e6);
		for (size_t i = 0; i < c->batch_rows; i++) {
			struct delivery *d = c->batch[i];
			c->batch[i] = NULL;
			batch_settle(w, c, d, 0, d->id, false);
		}
	}
	writer_batch_done(w, c);
}

/* The connection's batch is settled: account for it and start the next. */
static void writer_batch_done(struct delivery_writer *w, struct writer_conn *c)
{
	w->in_flight -= c->batch_n;
	c->batch_n = c->batch_rows = 0;
	if (!writer_connected(w))
		writer_fail_queue(w, -EAGAIN);
	writer_gauges(w);
	if (w->head)
		event_active(w->ev_kick, EV_TIMEOUT, 0);
}

/* The sweep timer fired. */
static void writer_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	delivery_writer_sweep(arg);
}

/* Time out requests that waited too long, and commits that hang. */
void delivery_writer_sweep(struct delivery_writer *w)
{
	long long deadline = w->opts.clock_us() - w->opts.commit_timeout_ms * 1000LL;

	while (w->head && w->head->enqueued_us < deadline) {
		metric_counter_inc(w->m_timeouts);
		delivery_finish(w, queue_pop(w), -ETIMEDOUT, NULL, false);
	}
	/* The server aborts a slow statement itself (statement_timeout); a connection that
	 * does not answer even that is dropped after twice the timeout. */
	deadline -= w->opts.commit_timeout_ms * 1000LL;
	for (size_t i = 0; i < w->n_conns; i++) {
		struct writer_conn *c = &w->conns[i];
		if (c->batch_n && c->sent_us < deadline) {
			log_event(LOG_LEVEL_WARN, "delivery.commit_timeout",
			          "rows=%zu timeout_ms=%d", c->batch_rows,
			          w->opts.commit_timeout_ms);
			metric_counter_inc(w->m_timeouts);
			w->db->reset(c->db);
		}
	}
	writer_gauges(w);
}

/* A database connection came up or went away. */
static void writer_on_db_state(void *userdata, bool connected)
{
	struct writer_conn *c = userdata;
	struct delivery_writer *w = c->w;
	size_t up = 0;

	for (size_t i = 0; i < w->n_conns; i++)
		up += w->db->connected(w->conns[i].db);
	metric_gauge_set(w->m_db_up, up ? 1 : 0);
	log_event(connected ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
	          connected ? "db.connected" : "db.disconnected", "conn=%zu up=%zu backlog=%zu",
	          (size_t)(c - w->conns), up, w->queued);
	if (up)
		event_active(w->ev_kick, EV_TIMEOUT, 0);
	else
		writer_fail_queue(w, -EAGAIN);
}

/* The expiry statement finished: count what it deleted. */
static void writer_on_expired(void *userdata, const PGresult *res, int r)
{
	struct delivery_writer *w = userdata;

	w->expiring = false;
	if (r >= 0 && PQresultStatus(res) == PGRES_COMMAND_OK)
		metric_counter_add(w->m_keys_expired,
		                   strtoull(PQcmdTuples((PGresult *)res), NULL, 10));
	else if (r >= 0)
		log_event(LOG_LEVEL_WARN, "delivery.expire_failed", "detail=%s",
		          w->db->message(res));
	if (w->head)
		event_active(w->ev_kick, EV_TIMEOUT, 0);
}

/* Periodically delete expired keys on an idle connection; webhooks always go first. */
static void writer_on_expire_timer(evutil_socket_t fd, short what, void *arg)
{
	struct delivery_writer *w = arg;

	if (w->expiring || w->head)
		return;
	for (size_t i = 0; i < w->n_conns; i++) {
		struct writer_conn *c = &w->conns[i];
		if (!w->db->idle(c->db) || c->batch_n)
			continue;
		if (w->db->send_prepared(c->db, DELIVERY_WRITER_EXPIRE_STATEMENT, 0, NULL, NULL,
		                         NULL, writer_on_expired, w) == 0)
			w->expiring = true;
		return;
	}
}

/* Register the writer's metrics. */
static void writer_metrics(struct delivery_writer *w, struct metrics *m)
{
	w->m_batch_rows =
	    metrics_histogram(m, "hookrun_commit_batch_rows", "Deliveries per group commit", NULL,
	                      batch_bounds, ELEMENTSOF(batch_bounds));
	w->m_commit_seconds = metrics_histogram(m, "hookrun_commit_duration_seconds",
	                                        "Time from sending a batch to its commit", NULL,
	                                        commit_bounds, ELEMENTSOF(commit_bounds));
	w->m_backlog = metrics_gauge(m, "hookrun_commit_backlog",
	                             "Requests waiting for or inside a commit", NULL);
	w->m_db_up =
	    metrics_gauge(m, "hookrun_db_up", "1 when a database connection is usable", NULL);
	w->m_committed =
	    metrics_counter(m, "hookrun_deliveries_total", "Deliveries by outcome of their commit",
	                    "outcome=\"stored\"");
	w->m_duplicates =
	    metrics_counter(m, "hookrun_deliveries_total", "Deliveries by outcome of their commit",
	                    "outcome=\"duplicate\"");
	w->m_batch_errors =
	    metrics_counter(m, "hookrun_commit_errors_total", "Batch statements that failed", NULL);
	w->m_timeouts =
	    metrics_counter(m, "hookrun_commit_timeouts_total",
	                    "Requests or commits that exceeded commit_timeout_ms", NULL);
	w->m_isolated =
	    metrics_counter(m, "hookrun_commit_bisections_total",
	                    "Batches split in two after failing for one row's reason", NULL);
	w->m_keys_expired = metrics_counter(m, "hookrun_idempotency_keys_expired_total",
	                                    "Idempotency keys deleted after dedup_window", NULL);
}

/* Allocate one connection's batch storage and start connecting. */
static void writer_conn_init(struct delivery_writer *w, struct writer_conn *c,
                             const struct db_async_options *dbo)
{
	c->w = w;
	c->batch = xcalloc(w->batch_capacity, sizeof(struct delivery *));
	c->kept = xcalloc(w->batch_capacity, sizeof(struct delivery *));
	c->db = w->db->open(w->base, dbo, writer_on_db_state, c);
}

/* Free one connection and its storage. */
static void writer_conn_fini(struct writer_conn *c)
{
	c->w->db->close(c->db);
	for (size_t i = 0; i < DELIVERY_WRITER_COLUMNS; i++)
		pgarray_fini(&c->cols[i]);
	pgarray_fini(&c->stream);
	pgarray_fini(&c->claim_sql);
	free(c->batch);
	free(c->kept);
}

/* Create the writer; it connects at once and reconnects by itself. */
struct delivery_writer *delivery_writer_new(struct event_base *base,
                                            const struct delivery_writer_options *opts,
                                            struct metrics *metrics)
{
	struct delivery_writer *w = xcalloc(1, sizeof(*w));
	struct db_async_options dbo = {
	    .url = opts->db_url,
	    .prepare = writer_prepared,
	    .n_prepare = ELEMENTSOF(writer_prepared),
	    .reconnect_base_ms = 50,
	    .reconnect_max_ms = opts->reconnect_max_ms,
	    .connect_timeout_ms = 2000,
	    .statement_timeout_ms = (unsigned)opts->commit_timeout_ms,
	    .settings = delivery_writer_session_settings,
	};
	int sweep_ms = opts->commit_timeout_ms / 4 > 10 ? opts->commit_timeout_ms / 4 : 10;
	struct timeval tv = {sweep_ms / 1000, (suseconds_t)(sweep_ms % 1000) * 1000};

	w->base = base;
	w->opts = *opts;
	if (!w->opts.clock_us)
		w->opts.clock_us = monotonic_us;
	w->db = opts->db_ops ? opts->db_ops : &writer_db_async;
	w->batch_capacity = 2 * opts->batch_max_rows;
	w->n_conns = opts->connections ? opts->connections : 1;
	snprintf(w->window, sizeof(w->window), "%lld", opts->dedup_window_s);
	writer_metrics(w, metrics);
	w->ev_kick = event_new(base, -1, 0, writer_on_kick, w);
	w->ev_sweep = event_new(base, -1, EV_PERSIST, writer_on_sweep, w);
	event_add(w->ev_sweep, &tv);
	w->ev_expire = event_new(base, -1, EV_PERSIST, writer_on_expire_timer, w);
	event_add(w->ev_expire, &(struct timeval){opts->dedup_window_s < WRITER_EXPIRE_INTERVAL_S
	                                              ? opts->dedup_window_s
	                                              : WRITER_EXPIRE_INTERVAL_S,
	                                          0});
	w->conns = xcalloc(w->n_conns, sizeof(*w->conns));
	for (size_t i = 0; i < w->n_conns; i++)
		writer_conn_init(w, &w->conns[i], &dbo);
	return w;
}

/* Fail what is queued with -ECANCELED, then free. */
void delivery_writer_free(struct delivery_writer *w)
{
	if (!w)
		return;
	writer_fail_queue(w, -ECANCELED);
	for (size_t i = 0; i < w->n_conns; i++) {
		batch_fail(w, &w->conns[i], -ECANCELED);
		writer_conn_fini(&w->conns[i]);
	}
	event_free(w->ev_kick);
	event_free(w->ev_sweep);
	event_free(w->ev_expire);
	free(w->conns);
	free(w);
}

/* Queue a delivery for the next commit. */
int delivery_writer_submit(struct delivery_writer *w, struct delivery *d, delivery_done_fn done,
                           void *userdata)
{
	if (!writer_connected(w))
		return -EAGAIN;
	if (delivery_writer_backlog(w) >= w->opts.max_backlog)
		return -EBUSY;
	d->done = done;
	d->userdata = userdata;
	d->enqueued_us = w->opts.clock_us();
	d->attempts = 0;
	d->leader = NULL;
	queue_push(w, d);
	writer_gauges(w);
	event_active(w->ev_kick, EV_TIMEOUT, 0);
	return 0;
}

/* Whether the database is reachable. */
bool delivery_writer_ready(const struct delivery_writer *w)
{
	return writer_connected(w);
}

/* Requests queued or in flight. */
size_t delivery_writer_backlog(const struct delivery_writer *w)
{
	return w->queued + w->in_flight;
}
