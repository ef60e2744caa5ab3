/* A FIFO of prepared statements over one db_async connection (see db_queue.h). */
#include "db_queue.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define DB_QUEUE_PARAMS_MAX 16

struct db_stmt {
	struct db_stmt *next;
	const char *name; /* one of the connection's prepared statement names (static) */
	int nparams;
	char *values[DB_QUEUE_PARAMS_MAX];
	db_result_fn cb;
	void *userdata;
};

struct db_queue {
	struct db_async *db;
	struct db_stmt *head, *tail; /* head is in flight when in_flight */
	bool in_flight;
	size_t n;
	struct event *ev_next;
	db_state_fn state_cb;
	void *userdata;
};

/* Free one statement and its copied parameters. */
static void stmt_free(struct db_stmt *s)
{
	for (int i = 0; i < s->nparams; i++)
		free(s->values[i]);
	free(s);
}

static void db_queue_kick(struct db_queue *q);

/* The statement in flight finished: pass its result on, then send the next. */
static void db_queue_on_result(void *userdata, const PGresult *res, int r)
{
	struct db_queue *q = userdata;
	struct db_stmt *s = q->head;

	q->in_flight = false;
	q->head = s->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	s->cb(s->userdata, res, r);
	stmt_free(s);
	event_active(q->ev_next, EV_TIMEOUT, 0);
}

/* Send the statement at the head when the connection is idle. */
static void db_queue_kick(struct db_queue *q)
{
	struct db_stmt *s = q->head;
	const char *values[DB_QUEUE_PARAMS_MAX];

	if (!s || q->in_flight || !db_async_idle(q->db))
		return;
	for (int i = 0; i < s->nparams; i++)
		values[i] = s->values[i];
	if (db_async_send_prepared(q->db, s->name, s->nparams, values, NULL, NULL,
	                           db_queue_on_result, q) == 0)
		q->in_flight = true;
}

/* Deferred kick. */
static void db_queue_on_next(evutil_socket_t fd, short what, void *arg)
{
	db_queue_kick(arg);
}

/* The connection came or went: tell the owner, and send what waits. */
static void db_queue_on_state(void *userdata, bool connected)
{
	struct db_queue *q = userdata;

	if (q->state_cb)
		q->state_cb(q->userdata, connected);
	if (connected)
		db_queue_kick(q);
}

struct db_queue *db_queue_new(struct event_base *base, const struct db_async_options *o,
                              db_state_fn state_cb, void *userdata)
{
	struct db_queue *q = xcalloc(1, sizeof(*q));

	q->state_cb = state_cb;
	q->userdata = userdata;
	q->ev_next = event_new(base, -1, 0, db_queue_on_next, q);
	q->db = db_async_new(base, o, db_queue_on_state, q);
	return q;
}

void db_queue_free(struct db_queue *q)
{
	if (!q)
		return;
	db_async_free(q->db);
	while (q->head) {
		struct db_stmt *s = q->head;
		q->head = s->next;
		stmt_free(s);
	}
	event_free(q->ev_next);
	free(q);
}

void db_queue_send(struct db_queue *q, const char *name, int nparams, const char *const *values,
                   db_result_fn cb, void *userdata)
{
	struct db_stmt *s = xcalloc(1, sizeof(*s));

	assert(nparams >= 0 && nparams <= DB_QUEUE_PARAMS_MAX);
	s->name = name;
	s->nparams = nparams;
	for (int i = 0; i < nparams; i++)
		s->values[i] = values[i] ? xstrdup(values[i]) : NULL;
	s->cb = cb;
	s->userdata = userdata;
	if (q->tail)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->n++;
	event_active(q->ev_next, EV_TIMEOUT, 0);
}

size_t db_queue_pending(const struct db_queue *q)
{
	return q->n;
}

bool db_queue_connected(const struct db_queue *q)
{
	return db_async_connected(q->db);
}
