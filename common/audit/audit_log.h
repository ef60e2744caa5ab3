/* Audit events a service writes itself, beside the ones its SQL functions write
 * (hookrun.record_audit_events(), migration 0024): single events (configuration loaded) and
 * tallies of events too frequent for a row each (webhooks refused, token uses), counted in
 * memory per period (a minute by default) and written as a row per period and key with the
 * count. Batches go out over a db_queue of their own, each with an id so that one sent again
 * after a lost answer is written once. Used by hookrun-ingress and hookrun-worker on their
 * event loop; never blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct event_base;
struct metrics;

struct audit_log_options {
	const char *db_url; /* borrowed for the call; NULL: nothing is sent (tests take batches) */
	unsigned period_ms; /* a tally's period; > 0. Periods start at multiples of it */
	unsigned reconnect_max_ms;
	size_t max_keys;           /* tallies held at once (0: 10,000); more are counted lost */
	long long (*now_ms)(void); /* NULL: the wall clock (milliseconds since the epoch) */
};

struct audit_log;

/* A log on base; its metrics (events written, lost) registered in m (may be NULL). */
struct audit_log *audit_log_new(struct event_base *base, const struct audit_log_options *o,
                                struct metrics *m);
/* Write the event of kind by actor for organisation (may be NULL) with detail (consumed; NULL:
 * {}), as soon as the database takes it. */
void audit_log_event(struct audit_log *l, const char *kind, const char *actor,
                     const char *organisation, json_t *detail);
/* Count one event of kind by actor for organisation (may be NULL) for reason (may be NULL); the
 * period's count is written when the period ends, as one row per key with detail {reason,
 * count, first_at, last_at, period_start, period_s}. */
void audit_log_tally(struct audit_log *l, const char *kind, const char *actor,
                     const char *organisation, const char *reason);
/* The events ready to write as the JSON array record_audit_events() takes, a new string, and
 * removed from the log: single events, and tallies whose period has ended (every tally when
 * all). NULL when there is none. The writer's step, exposed for tests. */
char *audit_log_take(struct audit_log *l, bool all);
/* Send everything now, tallies of the current period included (before a shutdown). */
void audit_log_flush(struct audit_log *l);
/* Events held, and batches not yet written (queued, in flight or waiting for a retry). */
size_t audit_log_pending(const struct audit_log *l);
/* Free the log; what is not written yet is lost. NULL is ignored. */
void audit_log_free(struct audit_log *l);
