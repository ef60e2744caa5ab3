/* Group commit of accepted deliveries: requests that arrive while a commit is in flight are
 * batched into the next one, each batch one round trip and one transaction (a COPY, a claim
 * of its idempotency keys and a COPY, or a prepared statement) on one of a few asynchronous
 * PostgreSQL connections (libpq, on the ingress's libevent loop). Nothing here blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "pgarray.h"
#include "xalloc.h"

struct event_base;
struct metrics;
struct delivery;

/* Called once per submitted delivery, never from inside delivery_writer_submit():
 * r == 0 with the delivery id (the original one when duplicate), or -EAGAIN (database
 * lost), -ETIMEDOUT (commit too slow), -EIO (statement failed), -ECANCELED (shutdown). */
typedef void (*delivery_done_fn)(struct delivery *d, int r, const char *delivery_id, bool duplicate,
                                 void *userdata);

/* One accepted request on its way into hookrun.deliveries. Caller storage; it must stay
 * valid (and body readable) until done runs. */
struct delivery {
	char id[37];               /* UUIDv7, minted by the caller */
	const char *source;        /* borrowed from the configuration */
	char *idempotency_key;     /* owned; NULL when the request has none */
	long long received_us;     /* wall clock, microseconds since the epoch */
	const char *method;        /* static */
	char *uri;                 /* owned */
	char *headers_json;        /* owned; secret headers already removed */
	char *content_type;        /* owned; may be NULL */
	const unsigned char *body; /* borrowed (from the request, or body_copy) */
	size_t body_len;
	char *body_copy; /* owned: the body as rewritten before storing (secrets sealed), or NULL */
	const char *verified_by; /* static: the auth scheme */
	char *peer;              /* owned; may be NULL */
	char *route;             /* owned: delivery_route_build()'s JSON, NULL: stored only */

	/* Writer bookkeeping; callers leave these alone. */
	delivery_done_fn done;
	void *userdata;
	long long enqueued_us;
	unsigned attempts;
	/* Nonzero after its batch failed for one row's reason: a batch this delivery heads
	 * holds at most this many rows (the failed batch is bisected until the row is alone). */
	size_t batch_cap;
	struct delivery *next;
	struct delivery *leader; /* same key earlier in the same batch */
};

void delivery_fini(struct delivery *d);

/* The database operations the writer uses, with db.h's contracts: db_async's by default;
 * unit tests pass fakes that record what is sent and answer with synthetic results. */
struct delivery_writer_db_ops {
	struct db_async *(*open)(struct event_base *base, const struct db_async_options *opts,
	                         db_state_fn state_cb, void *userdata);
	void (*close)(struct db_async *db);
	bool (*idle)(const struct db_async *db);
	bool (*connected)(const struct db_async *db);
	int (*send_prepared)(struct db_async *db, const char *name, int nparams,
	                     const char *const *values, const int *lengths, const int *formats,
	                     db_result_fn cb, void *userdata);
	int (*send_copy)(struct db_async *db, const char *sql, const void *data, size_t len,
	                 db_result_fn cb, void *userdata);
	int (*send_copy_query)(struct db_async *db, const char *sql, db_copy_fn copy_cb,
	                       db_result_fn cb, void *userdata);
	void (*reset)(struct db_async *db);
	/* The SQLSTATE and message of a failed result (db_result_sqlstate/_message). */
	const char *(*sqlstate)(const PGresult *res);
	const char *(*message)(const PGresult *res);
};

struct delivery_writer_options {
	const char *db_url;
	size_t connections; /* batches in flight at once, one per connection */
	size_t max_backlog;
	size_t batch_max_rows;
	size_t batch_max_bytes;
	int commit_timeout_ms;
	long long dedup_window_s;
	unsigned reconnect_max_ms;
	const struct delivery_writer_db_ops *db_ops; /* NULL: db_async (borrowed) */
	long long (*clock_us)(void); /* monotonic microseconds; NULL: CLOCK_MONOTONIC */
};

struct delivery_writer;

struct delivery_writer *delivery_writer_new(struct event_base *base,
                                            const struct delivery_writer_options *opts,
                                            struct metrics *metrics);
/* Fails everything still queued with -ECANCELED, then frees. */
void delivery_writer_free(struct delivery_writer *w);
/* Queue a delivery: 0, or -EAGAIN when the database is unreachable, -EBUSY when the backlog
 * is full. On failure done is not called and the caller answers at once. */
int delivery_writer_submit(struct delivery_writer *w, struct delivery *d, delivery_done_fn done,
                           void *userdata) _warn_unused_result_;
bool delivery_writer_ready(const struct delivery_writer *w);
/* Requests queued or in flight. */
size_t delivery_writer_backlog(const struct delivery_writer *w);
/* Time out requests that waited longer than commit_timeout_ms for a batch, and reset a
 * connection whose commit has not answered in twice that; a timer runs it every quarter of
 * commit_timeout_ms, tests call it directly with their clock. */
void delivery_writer_sweep(struct delivery_writer *w);

/* Pure parts, exposed for unit tests. */
#define DELIVERY_WRITER_COLUMNS          12
#define DELIVERY_WRITER_PARAMS           (DELIVERY_WRITER_COLUMNS + 1) /* + the dedup window */
#define DELIVERY_WRITER_CLAIM_STATEMENT  "hookrun_delivery_claim"
#define DELIVERY_WRITER_CLAIM_PARAMS     4 /* ids, sources, keys, the dedup window */
#define DELIVERY_WRITER_RETRY_STATEMENT  "hookrun_delivery_retry"
#define DELIVERY_WRITER_EXPIRE_STATEMENT "hookrun_keys_expire"
/* The statements a batch with idempotency keys takes (prepared on every writer connection).
 * A batch of first attempts: delivery_writer_claim_sql claims the keys, then the rows it may
 * store follow by COPY in the same transaction (delivery_writer_encode_claim()). A batch with
 * a retry: delivery_writer_retry_sql claims the keys and inserts the rows, tolerating a row a
 * lost commit left. Both return one row (ordinality, holder's delivery id or NULL) per keyed
 * row whose key they did not win; such a row is not stored. */
extern const char delivery_writer_claim_sql[];
extern const char delivery_writer_retry_sql[];
/* Deletes expired idempotency keys, at most 10,000 a run. */
extern const char delivery_writer_expire_sql[];
/* The server settings of the writer's sessions, "name=value" each, NULL-terminated: the
 * plans the statements above are written for (tests EXPLAIN them under these). */
extern const char *const delivery_writer_session_settings[];
/* The COPY statement of a batch whose deliveries have no idempotency key and are on their
 * first attempt: such rows cannot exist yet, and COPY writes them at a fraction of the
 * statement's cost (PostgreSQL inserts them as one multi-row insert). */
extern const char delivery_writer_copy_sql[];
/* Encode rows as one binary COPY stream for delivery_writer_copy_sql; -EINVAL on a bad id. */
int delivery_writer_encode_copy(struct delivery *const *rows, size_t n,
                                struct pgarray *stream) _warn_unused_result_;
/* The SQL text of a batch of first attempts with keys: EXECUTE of the claim statement with the
 * batch's ids, sources and keys as array literals and window (seconds, as text), then
 * delivery_writer_copy_sql; one round trip, one transaction. */
void delivery_writer_encode_claim(struct delivery *const *rows, size_t n, const char *window,
                                  struct pgarray *sql);
/* Encode the rows as one binary array per column; -EINVAL on a malformed id. */
int delivery_writer_encode(struct delivery *const *rows, size_t n,
                           struct pgarray cols[DELIVERY_WRITER_COLUMNS]) _warn_unused_result_;
