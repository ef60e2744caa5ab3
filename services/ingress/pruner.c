/* The ingress's retention pruner (pruner.h). */
#include "pruner.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

/* What a round prunes, in order. */
enum prune_step {
	PRUNE_BODIES,
	PRUNE_ITEMS,
	PRUNE_DONE,
};

struct pruner {
	struct db_async *db;
	struct event *ev_tick;
	struct timeval interval;
	enum prune_step step; /* of the round in progress */
	char after[2][32];    /* the statements' parameters: an interval, a batch, the actor */
	char batch[16];
	char *name;
	struct metric_counter *c_pruned[2], *c_failures;
};

static const struct db_prepared pruner_statements[] = {
    {"bodies", "SELECT hookrun.prune_delivery_bodies($1::interval, $2::integer, $3)"},
    {"items", "SELECT hookrun.prune_finished_items($1::interval, $2::integer, $3)"},
};

static void pruner_send(struct pruner *p);

/* A batch answered: another of the same while it found rows, else the next step. */
static void pruner_on_result(void *userdata, const PGresult *res, int r)
{
	struct pruner *p = userdata;
	long long n;

	if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK) {
		metric_counter_inc(p->c_failures);
		if (r == 0)
			log_event(LOG_LEVEL_WARN, "retention.prune_failed", "step=%s detail=%s",
			          p->step == PRUNE_BODIES ? "bodies" : "items",
			          db_result_message(res));
		p->step = PRUNE_DONE; /* the next tick starts over */
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	metric_counter_add(p->c_pruned[p->step], (uint64_t)(n > 0 ? n : 0));
	if (n <= 0)
		p->step++;
	pruner_send(p);
}

/* Send the round's next batch, skipping a step whose limit is 0. */
static void pruner_send(struct pruner *p)
{
	const char *values[3];

	while (p->step < PRUNE_DONE && !p->after[p->step][0])
		p->step++;
	if (p->step == PRUNE_DONE)
		return;
	values[0] = p->after[p->step];
	values[1] = p->batch;
	values[2] = p->name;
	if (db_async_send_prepared(p->db, p->step == PRUNE_BODIES ? "bodies" : "items", 3, values,
	                           NULL, NULL, pruner_on_result, p) < 0) {
		metric_counter_inc(p->c_failures);
		p->step = PRUNE_DONE;
	}
}

/* The interval passed: a round, unless the last one is still going or the connection is
 * down or busy (the next tick tries). */
static void pruner_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pruner *p = arg;

	if (p->step != PRUNE_DONE || !db_async_idle(p->db))
		return;
	p->step = PRUNE_BODIES;
	pruner_send(p);
}

struct pruner *pruner_new(struct event_base *base, const struct pruner_options *o,
                          struct metrics *m)
{
	struct pruner *p;
	struct db_async_options dbo = {
	    .url = o->db_url,
	    .prepare = pruner_statements,
	    .n_prepare = sizeof(pruner_statements) / sizeof(*pruner_statements),
	    .reconnect_max_ms = o->reconnect_max_ms,
	    .statement_timeout_ms = 60000,
	};

	if (o->bodies_after_s <= 0 && o->items_after_s <= 0)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->step = PRUNE_DONE;
	p->interval = (struct timeval){o->interval_ms / 1000, (long)(o->interval_ms % 1000) * 1000};
	if (o->bodies_after_s > 0)
		snprintf(p->after[PRUNE_BODIES], sizeof(p->after[0]), "%lld seconds",
		         o->bodies_after_s);
	if (o->items_after_s > 0)
		snprintf(p->after[PRUNE_ITEMS], sizeof(p->after[0]), "%lld seconds",
		         o->items_after_s);
	snprintf(p->batch, sizeof(p->batch), "%u", o->batch ? o->batch : 1000);
	p->name = xstrdup(o->name);
	p->c_pruned[PRUNE_BODIES] =
	    metrics_counter(m, "hookrun_retention_pruned_total",
	                    "Rows retention went through: delivery bodies emptied, finished jobs' "
	                    "items deleted",
	                    "what=\"delivery_bodies\"");
	p->c_pruned[PRUNE_ITEMS] =
	    metrics_counter(m, "hookrun_retention_pruned_total",
	                    "Rows retention went through: delivery bodies emptied, finished jobs' "
	                    "items deleted",
	                    "what=\"finished_items\"");
	p->c_failures =
	    metrics_counter(m, "hookrun_retention_failures_total",
	                    "Pruning statements that failed (the next round retries)", NULL);
	p->db = db_async_new(base, &dbo, NULL, NULL);
	p->ev_tick = event_new(base, -1, EV_PERSIST, pruner_on_tick, p);
	event_add(p->ev_tick, &p->interval);
	return p;
}

void pruner_free(struct pruner *p)
{
	if (!p)
		return;
	if (p->ev_tick)
		event_free(p->ev_tick);
	db_async_free(p->db);
	free(p->name);
	free(p);
}
