/* Batched loads and settlements of items (item_store.h). */
#include "item_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "db.h"
#include "json.h"
#include "log.h"
#include "xalloc.h"

/* One load or settlement waiting for its statement. */
struct request {
	struct request *next;
	uint64_t item, token; /* loads */
	char *settlement;     /* settlements: the object's JSON text */
	size_t settlement_len;
	bool alone; /* settle in a statement of its own */
	item_store_loaded_fn loaded;
	item_store_settled_fn settled;
	void *userdata;
};

/* One connection and the requests waiting for it, oldest first. */
struct pipe {
	struct item_store *store;
	struct db_async *db;
	struct request *head, *tail;
	struct request *batch[ITEM_STORE_BATCH_MAX]; /* in flight */
	size_t n_batch;
	char *p1, *p2; /* parameters of the statement in flight */
	struct event *ev_kick;
	void (*send)(struct pipe *p);
};

struct item_store {
	struct pipe loads, settles;
	char *worker;
};

static const struct db_prepared load_statements[] = {
    {"load_items",
     "SELECT item_id, job_id, kind, organisation, parameters, external_id, desired, attempt, "
     "lease_ms, due_ms, job_age_ms FROM hookrun.load_items($1::bigint[], $2::bigint[])"},
};
static const struct db_prepared settle_statements[] = {
    {"finish_items", "SELECT item_id, held FROM hookrun.finish_items($1::jsonb)"},
};

/* Queue r last, or first (a batch given back). */
static void pipe_push(struct pipe *p, struct request *r, bool front)
{
	if (front) {
		r->next = p->head;
		p->head = r;
		if (!p->tail)
			p->tail = r;
		return;
	}
	r->next = NULL;
	if (p->tail)
		p->tail->next = r;
	else
		p->head = r;
	p->tail = r;
}

/* Take the oldest request. */
static struct request *pipe_pop(struct pipe *p)
{
	struct request *r = p->head;

	if (r) {
		p->head = r->next;
		if (!p->head)
			p->tail = NULL;
	}
	return r;
}

/* Send the next batch from the loop. */
static void pipe_kick(struct pipe *p)
{
	event_active(p->ev_kick, EV_TIMEOUT, 0);
}

/* The deferred kick: a batch when the connection is idle and requests wait. */
static void pipe_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct pipe *p = arg;

	if (p->n_batch == 0 && p->head && db_async_idle(p->db))
		p->send(p);
}

/* Free a finished request. */
static void request_free(struct request *r)
{
	free(r->settlement);
	free(r);
}

/* The statement is done with its parameters. */
static void pipe_batch_clear(struct pipe *p)
{
	free(p->p1);
	free(p->p2);
	p->p1 = p->p2 = NULL;
	p->n_batch = 0;
}

/* Give the whole batch back, first in line (the statement did not happen, or may be retried). */
static void pipe_batch_requeue(struct pipe *p, bool alone)
{
	for (size_t i = p->n_batch; i-- > 0;) {
		p->batch[i]->alone = p->batch[i]->alone || alone;
		pipe_push(p, p->batch[i], true);
	}
	pipe_batch_clear(p);
}

/* The item ids of a batch's result rows (column 0), read once; ids[i] is row i's. */
static size_t result_ids(const PGresult *res, uint64_t ids[static ITEM_STORE_BATCH_MAX])
{
	size_t n = (size_t)PQntuples(res);

	n = n < ITEM_STORE_BATCH_MAX ? n : ITEM_STORE_BATCH_MAX;
	for (size_t i = 0; i < n; i++)
		ids[i] = strtoull(PQgetvalue(res, (int)i, 0), NULL, 10);
	return n;
}

/* The row of item among ids, or -1. */
static int result_row(const uint64_t *ids, size_t n, uint64_t item)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == item)
			return (int)i;
	return -1;
}

/* hookrun.load_items() answered: each request gets its row, or none. */
static void loads_on_result(void *userdata, const PGresult *res, int rc)
{
	struct pipe *p = userdata;
	bool ok = rc == 0 && PQresultStatus(res) == PGRES_TUPLES_OK;
	uint64_t ids[ITEM_STORE_BATCH_MAX];
	size_t n_ids = ok ? result_ids(res, ids) : 0;

	if (rc == 0 && !ok)
		log_event(LOG_LEVEL_ERROR, "item.load_failed", "items=%zu detail=%s", p->n_batch,
		          db_result_message(res));
	for (size_t i = 0; i < p->n_batch; i++) {
		struct request *r = p->batch[i];
		int row = ok ? result_row(ids, n_ids, r->item) : -1;

		r->loaded(r->userdata, row >= 0 ? res : NULL, row, ok ? 0 : rc < 0 ? rc : -EIO);
		request_free(r);
	}
	pipe_batch_clear(p);
	pipe_kick(p);
}

/* Send up to a batch of loads as two array literals. */
static void loads_send(struct pipe *p)
{
	size_t cap = 24 * ITEM_STORE_BATCH_MAX + 3, n1 = 0, n2 = 0;
	const char *values[2];

	p->p1 = xmalloc(cap);
	p->p2 = xmalloc(cap);
	p->p1[n1++] = '{';
	p->p2[n2++] = '{';
	while (p->n_batch < ITEM_STORE_BATCH_MAX && p->head) {
		struct request *r = pipe_pop(p);
		const char *sep = p->n_batch ? "," : "";
		n1 += (size_t)snprintf(p->p1 + n1, cap - n1, "%s%" PRIu64, sep, r->item);
		n2 += (size_t)snprintf(p->p2 + n2, cap - n2, "%s%" PRIu64, sep, r->token);
		p->batch[p->n_batch++] = r;
	}
	snprintf(p->p1 + n1, cap - n1, "}");
	snprintf(p->p2 + n2, cap - n2, "}");
	values[0] = p->p1;
	values[1] = p->p2;
	if (db_async_send_prepared(p->db, "load_items", 2, values, NULL, NULL, loads_on_result, p) <
	    0)
		pipe_batch_requeue(p, false); /* the connection went: sent again once it is back */
}

/* hookrun.finish_items() answered: each request learns whether its lease still held. */
static void settles_on_result(void *userdata, const PGresult *res, int rc)
{
	struct pipe *p = userdata;
	uint64_t ids[ITEM_STORE_BATCH_MAX];
	size_t n_ids;

	if (rc < 0 || (PQresultStatus(res) != PGRES_TUPLES_OK && db_result_is_retryable(res))) {
		/* Lost with its connection (it may have committed: settling again only finds the
		 * token gone), or a deadlock or serialization failure: the same batch again. */
		pipe_batch_requeue(p, false);
		pipe_kick(p);
		return;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK && p->n_batch > 1) {
		/* One settlement's fault fails the statement: each goes alone, so the others
		 * land and the faulty one is found. */
		log_event(LOG_LEVEL_WARN, "item.settle_isolating", "items=%zu detail=%s",
		          p->n_batch, db_result_message(res));
		pipe_batch_requeue(p, true);
		pipe_kick(p);
		return;
	}
	n_ids = PQresultStatus(res) == PGRES_TUPLES_OK ? result_ids(res, ids) : 0;
	for (size_t i = 0; i < p->n_batch; i++) {
		struct request *r = p->batch[i];
		int row = result_row(ids, n_ids, r->item);
		int held = row >= 0 ? strcmp(PQgetvalue(res, row, 1), "t") == 0 : -1;

		if (held < 0)
			log_event(LOG_LEVEL_ERROR, "item.settle_failed",
			          "item=%" PRIu64 " detail=%s", r->item, db_result_message(res));
		r->settled(r->userdata, held);
		request_free(r);
	}
	pipe_batch_clear(p);
	pipe_kick(p);
}

/* Send up to a batch of settlements as one JSON array (a request marked alone goes alone). */
static void settles_send(struct pipe *p)
{
	struct json_array_text arr = {0};
	const char *values[1];
	size_t len;

	while (p->n_batch < ITEM_STORE_BATCH_MAX && p->head &&
	       !(p->n_batch > 0 && p->head->alone)) {
		struct request *r = pipe_pop(p);
		json_array_text_add_raw(&arr, r->settlement, r->settlement_len);
		p->batch[p->n_batch++] = r;
		if (r->alone)
			break;
	}
	p->p1 = json_array_text_take(&arr, &len);
	values[0] = p->p1;
	if (db_async_send_prepared(p->db, "finish_items", 1, values, NULL, NULL, settles_on_result,
	                           p) < 0)
		pipe_batch_requeue(p, false);
}

/* A connection came back: send what waits. */
static void pipe_on_state(void *userdata, bool connected)
{
	if (connected)
		pipe_kick(userdata);
}

/* Open one pipe's connection. */
static void pipe_open(struct pipe *p, struct item_store *s, struct event_base *base,
                      const struct db_async_options *o, const struct db_prepared *stmts,
                      void (*send)(struct pipe *p))
{
	struct db_async_options mine = *o;

	mine.prepare = stmts;
	mine.n_prepare = 1;
	mine.listen = NULL;
	mine.notify = NULL;
	p->store = s;
	p->send = send;
	p->ev_kick = event_new(base, -1, 0, pipe_on_kick, p);
	p->db = db_async_new(base, &mine, pipe_on_state, p);
}

struct item_store *item_store_new(struct event_base *base, const struct db_async_options *o,
                                  const char *worker)
{
	struct item_store *s = xcalloc(1, sizeof(*s));

	s->worker = xstrdup(worker);
	pipe_open(&s->loads, s, base, o, load_statements, loads_send);
	pipe_open(&s->settles, s, base, o, settle_statements, settles_send);
	return s;
}

/* Close a pipe and drop what waits in it. */
static void pipe_close(struct pipe *p)
{
	struct request *r;

	db_async_free(p->db);
	for (size_t i = 0; i < p->n_batch; i++)
		request_free(p->batch[i]);
	pipe_batch_clear(p);
	while ((r = pipe_pop(p)))
		request_free(r);
	if (p->ev_kick)
		event_free(p->ev_kick);
}

void item_store_free(struct item_store *s)
{
	if (!s)
		return;
	pipe_close(&s->loads);
	pipe_close(&s->settles);
	free(s->worker);
	free(s);
}

bool item_store_connected(const struct item_store *s)
{
	return db_async_connected(s->loads.db) && db_async_connected(s->settles.db);
}

void item_store_load(struct item_store *s, uint64_t item, uint64_t token, item_store_loaded_fn done,
                     void *userdata)
{
	struct request *r = xcalloc(1, sizeof(*r));

	*r = (struct request){.item = item, .token = token, .loaded = done, .userdata = userdata};
	pipe_push(&s->loads, r, false);
	pipe_kick(&s->loads);
}

/* The settlement object without its calls: NULL only when error is not UTF-8. */
static json_t *settlement_head(const struct item_store *s, const struct item_settlement *st,
                               const char *error)
{
	return json_pack("{s:I, s:I, s:s, s:O?, s:s?, s:s?, s:s}", "item", (json_int_t)st->item,
	                 "token", (json_int_t)st->token, "state", st->state, "result",
	                 (json_t *)st->result, "error", error, "run_at", st->run_at, "worker",
	                 s->worker);
}

void item_store_settle(struct item_store *s, const struct item_settlement *st,
                       item_store_settled_fn done, void *userdata)
{
	struct request *r = xcalloc(1, sizeof(*r));
	json_auto_t *head = settlement_head(s, st, st->error);

	/* Error texts are made of UTF-8 parts (versori_outcome passes over a request id that is
	 * not); should one still not be, the item is settled all the same, its text replaced. */
	if (!head)
		head = settlement_head(s, st, "(the error's text was not UTF-8)");
	if (!head)
		abort(); /* only on out of memory */
	*r = (struct request){.item = st->item, .settled = done, .userdata = userdata};
	r->settlement =
	    json_dumps_with_raw(head, "calls", st->calls, st->calls_len, &r->settlement_len);
	pipe_push(&s->settles, r, false);
	pipe_kick(&s->settles);
}
