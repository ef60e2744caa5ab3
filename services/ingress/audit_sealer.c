/* The ingress's audit sealer (audit_sealer.h). */
#include "audit_sealer.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "xalloc.h"

struct audit_sealer {
	struct db_async *db;
	struct event *ev_tick;
	struct timeval interval;
	char max_events[16];         /* the statement's parameter */
	long long partitions_due_ms; /* when the partitions of the months ahead are made next */
	struct metric_counter *c_blocks, *c_events, *c_failures;
	struct metric_gauge *g_last;
};

static const struct db_prepared sealer_statements[] = {
    {"seal", "SELECT block, n_events FROM hookrun.seal_audit($1::integer)"},
    {"partitions", "SELECT hookrun.ensure_partitions(3)"},
};

/* The partitions of the months ahead are made at the first round and then once an hour. */
#define SEALER_PARTITIONS_EVERY_MS (3600LL * 1000)

static void sealer_send(struct audit_sealer *s);

/* A round's statement answered: another block at once when one was sealed, else wait for
 * the next tick. */
static void sealer_on_result(void *userdata, const PGresult *res, int r)
{
	struct audit_sealer *s = userdata;

	if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK) {
		metric_counter_inc(s->c_failures);
		if (r == 0)
			log_event(LOG_LEVEL_WARN, "audit.seal_failed", "detail=%s",
			          db_result_message(res));
		return;
	}
	if (PQntuples(res) == 0)
		return;
	metric_counter_inc(s->c_blocks);
	metric_counter_add(s->c_events, strtoull(PQgetvalue(res, 0, 1), NULL, 10));
	metric_gauge_set(s->g_last, strtod(PQgetvalue(res, 0, 0), NULL));
	log_event(LOG_LEVEL_DEBUG, "audit.sealed", "block=%s events=%s", PQgetvalue(res, 0, 0),
	          PQgetvalue(res, 0, 1));
	sealer_send(s);
}

/* Ask for the next block, unless the connection is down or busy (the next tick tries). */
static void sealer_send(struct audit_sealer *s)
{
	const char *values[1] = {s->max_events};

	if (db_async_idle(s->db) &&
	    db_async_send_prepared(s->db, "seal", 1, values, NULL, NULL, sealer_on_result, s) < 0)
		metric_counter_inc(s->c_failures);
}

/* The partitions of the months ahead were made (or not: the next hour tries again): now
 * the round's sealing. */
static void sealer_on_partitions(void *userdata, const PGresult *res, int r)
{
	struct audit_sealer *s = userdata;

	if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK) {
		metric_counter_inc(s->c_failures);
		if (r == 0)
			log_event(LOG_LEVEL_WARN, "audit.partitions_failed", "detail=%s",
			          db_result_message(res));
	} else if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0) {
		log_event(LOG_LEVEL_INFO, "db.partitions_made", "count=%s", PQgetvalue(res, 0, 0));
	}
	sealer_send(s);
}

/* The interval passed: the partitions of the months ahead when they are due, then sealing. */
static void sealer_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct audit_sealer *s = arg;
	long long now = (long long)loop_now_ms();

	if (now >= s->partitions_due_ms && db_async_idle(s->db) &&
	    db_async_send_prepared(s->db, "partitions", 0, NULL, NULL, NULL, sealer_on_partitions,
	                           s) == 0) {
		s->partitions_due_ms = now + SEALER_PARTITIONS_EVERY_MS;
		return;
	}
	sealer_send(s);
}

struct audit_sealer *audit_sealer_new(struct event_base *base, const struct audit_sealer_options *o,
                                      struct metrics *m)
{
	struct audit_sealer *s = xcalloc(1, sizeof(*s));
	struct db_async_options dbo = {
	    .url = o->db_url,
	    .prepare = sealer_statements,
	    .n_prepare = sizeof(sealer_statements) / sizeof(*sealer_statements),
	    .reconnect_max_ms = o->reconnect_max_ms,
	    .statement_timeout_ms = 60000,
	};

	s->interval = (struct timeval){o->interval_ms / 1000, (long)(o->interval_ms % 1000) * 1000};
	snprintf(s->max_events, sizeof(s->max_events), "%u", o->max_events);
	s->c_blocks = metrics_counter(m, "hookrun_audit_blocks_sealed_total",
	                              "Blocks of audit events this ingress sealed", NULL);
	s->c_events = metrics_counter(m, "hookrun_audit_events_sealed_total",
	                              "Audit events this ingress sealed", NULL);
	s->c_failures = metrics_counter(m, "hookrun_audit_seal_failures_total",
	                                "Sealing rounds that failed (the next one retries)", NULL);
	s->g_last = metrics_gauge(m, "hookrun_audit_last_block",
	                          "The last block this ingress sealed", NULL);
	s->db = db_async_new(base, &dbo, NULL, NULL);
	s->ev_tick = event_new(base, -1, EV_PERSIST, sealer_on_tick, s);
	event_add(s->ev_tick, &s->interval);
	return s;
}

void audit_sealer_free(struct audit_sealer *s)
{
	if (!s)
		return;
	if (s->ev_tick)
		event_free(s->ev_tick);
	db_async_free(s->db);
	free(s);
}
