/* A first-in, first-out queue of prepared statements over one asynchronous connection
 * (db_async), for callers that issue statements from many independent tasks at once (the
 * worker's item runs). Parameters are copied when a statement is queued. Runs on a libevent
 * loop; never blocks. */
#pragma once

#include <stddef.h>

#include "db.h"
#include "xalloc.h"

struct db_queue;

/* A queue over a new connection made with o (its prepared statements are the ones the queue
 * can send); state_cb as for db_async_new(). */
struct db_queue *db_queue_new(struct event_base *base, const struct db_async_options *o,
                              db_state_fn state_cb, void *userdata);
/* Free the connection and every queued statement without calling their callbacks. */
void db_queue_free(struct db_queue *q);
/* Queue the prepared statement name with nparams text parameters (NULL is SQL NULL; all
 * copied). cb gets its result in order; a statement in flight when the connection breaks
 * gets -ECONNRESET (it may or may not have committed); statements still queued wait for the
 * reconnection. */
void db_queue_send(struct db_queue *q, const char *name, int nparams, const char *const *values,
                   db_result_fn cb, void *userdata);
/* Statements queued or in flight. */
size_t db_queue_pending(const struct db_queue *q);
/* Whether the connection is usable now. */
bool db_queue_connected(const struct db_queue *q);
