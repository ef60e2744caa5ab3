/* Audit events written by the services themselves (audit_log.h). */
#include "audit_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "db.h"
#include "db_queue.h"
#include "id.h"
#include "metrics.h"
#include "xalloc.h"

#define AUDIT_LOG_MAX_KEYS    10000
#define AUDIT_LOG_MAX_BATCHES 1000 /* batches not yet written; beyond, new ones are lost */
#define AUDIT_LOG_RETRY_MS    5000 /* the timer's longest interval */

/* One batch sent to record_audit_events(); kept until it is written. */
struct audit_batch {
	struct audit_batch *next, *prev;
	struct audit_log *log;
	char id[ID_UUID_STRING_MAX];
	char *events; /* the JSON array text */
	bool sent;    /* queued or in flight (else waiting for the retry timer) */
};

struct audit_log {
	struct db_queue *db; /* NULL: nothing is sent */
	json_t *events;      /* single events not yet in a batch: an array */
	json_t *tallies; /* key -> {kind, actor, organisation, reason, start, count, first, last} */
	size_t n_tallied; /* events counted in tallies */
	size_t max_keys;
	long long period_ms;
	long long (*now_ms)(void);
	struct audit_batch *batches; /* every batch not yet written */
	size_t n_batches;
	uint64_t n_made; /* batches made */
	struct event *ev_tick;
	struct metric_counter *c_written, *c_lost, *c_dropped, *c_retries;
};

static const struct db_prepared audit_log_statements[] = {
    {"record", "SELECT hookrun.record_audit_events($1::uuid, $2::jsonb)"},
};

static void audit_log_send(struct audit_log *l, struct audit_batch *b);
static void audit_log_batch_free(struct audit_log *l, struct audit_batch *b);
static void audit_log_write(struct audit_log *l, bool all);

/* The wall clock in milliseconds. */
static long long audit_log_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A timestamp as RFC 3339 UTC with milliseconds, a new JSON string. */
static json_t *audit_log_time(long long ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	gmtime_r(&s, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

/* A string or JSON null. */
static json_t *audit_log_string(const char *s)
{
	return s ? json_string(s) : json_null();
}

void audit_log_event(struct audit_log *l, const char *kind, const char *actor,
                     const char *organisation, json_t *detail)
{
	json_t *e = json_object();

	json_object_set_new(e, "kind", json_string(kind));
	json_object_set_new(e, "actor", json_string(actor));
	json_object_set_new(e, "organisation", audit_log_string(organisation));
	json_object_set_new(e, "at", audit_log_time(l->now_ms()));
	json_object_set_new(e, "detail", detail ? detail : json_object());
	json_array_append_new(l->events, e);
	audit_log_write(l, false); /* at once: a single event waits for no period */
}

void audit_log_tally(struct audit_log *l, const char *kind, const char *actor,
                     const char *organisation, const char *reason)
{
	long long now = l->now_ms();
	long long start = now - now % l->period_ms;
	/* Fields joined by a byte no kind, actor, organisation or reason holds. */
	_cleanup_free_ char *key =
	    xasprintf("%lld\x1f%s\x1f%s\x1f%s\x1f%s", start, kind, actor,
	              organisation ? organisation : "", reason ? reason : "");
	json_t *t = json_object_get(l->tallies, key);

	if (!t) {
		if (json_object_size(l->tallies) >= l->max_keys) {
			metric_counter_inc(l->c_lost);
			return;
		}
		t = json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I}", "kind", kind, "actor", actor,
		              "organisation", audit_log_string(organisation), "reason",
		              audit_log_string(reason), "start", (json_int_t)start, "count",
		              (json_int_t)0, "first", (json_int_t)now);
		json_object_set_new(l->tallies, key, t);
	}
	json_object_set_new(t, "count",
	                    json_integer(json_integer_value(json_object_get(t, "count")) + 1));
	json_object_set_new(t, "last", json_integer(now));
	l->n_tallied++;
}

/* The row of one tally. */
static json_t *audit_log_tally_row(const struct audit_log *l, const json_t *t)
{
	long long start = json_integer_value(json_object_get(t, "start"));
	json_t *detail = json_object();

	json_object_set(detail, "reason", json_object_get(t, "reason"));
	json_object_set(detail, "count", json_object_get(t, "count"));
	json_object_set_new(detail, "first_at",
	                    audit_log_time(json_integer_value(json_object_get(t, "first"))));
	json_object_set_new(detail, "last_at",
	                    audit_log_time(json_integer_value(json_object_get(t, "last"))));
	json_object_set_new(detail, "period_start", audit_log_time(start));
	json_object_set_new(detail, "period_s", json_integer(l->period_ms / 1000));
	return json_pack(
	    "{s:O, s:O, s:O, s:o, s:o}", "kind", json_object_get(t, "kind"), "actor",
	    json_object_get(t, "actor"), "organisation", json_object_get(t, "organisation"), "at",
	    audit_log_time(json_integer_value(json_object_get(t, "last"))), "detail", detail);
}

char *audit_log_take(struct audit_log *l, bool all)
{
	long long now = l->now_ms();
	json_t *rows = json_array();
	const char *key;
	json_t *t, *e;
	void *tmp;
	size_t i;
	char *text = NULL;

	json_array_foreach (l->events, i, e)
		json_array_append(rows, e);
	json_array_clear(l->events);
	json_object_foreach_safe(l->tallies, tmp, key, t)
	{
		if (!all && json_integer_value(json_object_get(t, "start")) + l->period_ms > now)
			continue;
		l->n_tallied -= (size_t)json_integer_value(json_object_get(t, "count"));
		json_array_append_new(rows, audit_log_tally_row(l, t));
		json_object_del(l->tallies, key);
	}
	if (json_array_size(rows) > 0)
		text = json_dumps(rows, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(rows);
	return text;
}

/* record_audit_events() answered for a batch: written, or kept for a retry (with the same id,
 * so a batch that did commit before its answer was lost is not written twice). */
static void audit_log_on_result(void *userdata, const PGresult *res, int r)
{
	struct audit_batch *b = userdata;
	struct audit_log *l = b->log;

	b->sent = false;
	if (r == 0 && PQresultStatus(res) == PGRES_TUPLES_OK) {
		metric_counter_add(l->c_written, strtoull(PQgetvalue(res, 0, 0), NULL, 10));
		audit_log_batch_free(l, b);
		return;
	}
	metric_counter_inc(l->c_retries);
}

/* Queue a batch for sending. */
static void audit_log_send(struct audit_log *l, struct audit_batch *b)
{
	const char *values[2] = {b->id, b->events};

	b->sent = true;
	db_queue_send(l->db, "record", 2, values, audit_log_on_result, b);
}

/* Make a batch of what is ready and send it; it is lost (counted) when too many wait
 * already. */
static void audit_log_write(struct audit_log *l, bool all)
{
	char *text;
	struct audit_batch *b;

	if (!l->db || !(text = audit_log_take(l, all)))
		return;
	if (l->n_batches >= AUDIT_LOG_MAX_BATCHES) { /* the database has been away for long */
		metric_counter_inc(l->c_dropped);
		free(text);
		return;
	}
	b = xcalloc(1, sizeof(*b));
	b->log = l;
	b->events = text;
	if (id_uuid7_new(b->id) < 0) {
		/* No randomness: the clock and this process's count of batches still make an id
		 * that this process never repeats. */
		uint8_t rnd[10] = {0};
		uint64_t seq = ++l->n_made;

		memcpy(rnd + 2, &seq, sizeof(seq));
		id_uuid7_format(b->id, (uint64_t)l->now_ms(), rnd);
	}
	b->next = l->batches;
	if (l->batches)
		l->batches->prev = b;
	l->batches = b;
	l->n_batches++;
	audit_log_send(l, b);
}

/* Unlink and free a batch. */
static void audit_log_batch_free(struct audit_log *l, struct audit_batch *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		l->batches = b->next;
	if (b->next)
		b->next->prev = b->prev;
	l->n_batches--;
	free(b->events);
	free(b);
}

/* The period's timer: write the tallies of ended periods, and send again the batches that
 * failed. */
static void audit_log_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct audit_log *l = arg;

	audit_log_write(l, false);
	for (struct audit_batch *b = l->batches; b; b = b->next)
		if (!b->sent)
			audit_log_send(l, b);
}

void audit_log_flush(struct audit_log *l)
{
	audit_log_write(l, true);
}

size_t audit_log_pending(const struct audit_log *l)
{
	return json_array_size(l->events) + l->n_tallied + l->n_batches;
}

struct audit_log *audit_log_new(struct event_base *base, const struct audit_log_options *o,
                                struct metrics *m)
{
	struct audit_log *l = xcalloc(1, sizeof(*l));
	struct db_async_options dbo = {
	    .url = o->db_url,
	    .prepare = audit_log_statements,
	    .n_prepare = sizeof(audit_log_statements) / sizeof(*audit_log_statements),
	    .reconnect_max_ms = o->reconnect_max_ms,
	    .statement_timeout_ms = 30000,
	};
	long long tick_ms;
	struct timeval tv;

	l->events = json_array();
	l->tallies = json_object();
	l->max_keys = o->max_keys ? o->max_keys : AUDIT_LOG_MAX_KEYS;
	l->period_ms = o->period_ms ? o->period_ms : 60000;
	l->now_ms = o->now_ms ? o->now_ms : audit_log_clock_ms;
	l->c_written = metrics_counter(m, "hookrun_audit_log_events_total",
	                               "Audit events this process wrote itself (config loads, "
	                               "tallies of refused webhooks and token uses)",
	                               NULL);
	l->c_lost =
	    metrics_counter(m, "hookrun_audit_log_uncounted_total",
	                    "Events left out of the audit tallies (too many keys at once)", NULL);
	l->c_dropped = metrics_counter(m, "hookrun_audit_log_batches_dropped_total",
	                               "Batches of audit events given up (too many waiting)", NULL);
	l->c_retries =
	    metrics_counter(m, "hookrun_audit_log_retries_total",
	                    "Batches of audit events the database did not take at once", NULL);
	if (o->db_url)
		l->db = db_queue_new(base, &dbo, NULL, NULL);
	/* Tallies are written within a period of ending; failed batches retried every few s. */
	tick_ms = l->period_ms < AUDIT_LOG_RETRY_MS ? l->period_ms : AUDIT_LOG_RETRY_MS;
	tv = (struct timeval){(time_t)(tick_ms / 1000), (suseconds_t)(tick_ms % 1000) * 1000};
	l->ev_tick = event_new(base, -1, EV_PERSIST, audit_log_on_tick, l);
	event_add(l->ev_tick, &tv);
	return l;
}

void audit_log_free(struct audit_log *l)
{
	if (!l)
		return;
	if (l->ev_tick)
		event_free(l->ev_tick);
	db_queue_free(l->db); /* no callback runs after this */
	for (struct audit_batch *b = l->batches, *next; b; b = next) {
		next = b->next;
		free(b->events);
		free(b);
	}
	json_decref(l->events);
	json_decref(l->tallies);
	free(l);
}
