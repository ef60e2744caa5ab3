/* The dispatcher: claims runnable items in PostgreSQL against the credit workers announce
 * over ZeroMQ, and sends each as a task (see dispatch.h). */
#include "dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "db.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "queue.h"
#include "wire.h"
#include "workers.h"

#define DISPATCH_CHANNEL        "hookrun_work"
#define DISPATCH_PAUSED_MAX     64
#define DISPATCH_RELEASE_MAX    4096
/* Paced organisations: their buckets refill this often. */
#define DISPATCH_BUCKET_TICK_MS 10
#define DISPATCH_WANTS_MAX      4096

/* A worker's calls to a paced organisation waiting for permits. */
struct want {
	struct queue_peer peer;
	uint32_t n;
};

/* One paced organisation: a token bucket of calls a second, shared by every worker, and the
 * calls waiting for it, oldest first. */
struct bucket {
	char organisation[WIRE_NAME_MAX + 1];
	double per_second, burst, tokens;
	uint64_t refilled_ms;
	struct want *wants; /* a ring of DISPATCH_WANTS_MAX */
	size_t head, n;
	struct metric_counter *c_granted;
};

/* An organisation a worker reported throttled (429): not claimed for until until_ms. */
struct paused_org {
	char name[WIRE_NAME_MAX + 1];
	uint64_t until_ms;
};

/* A claimed item: waiting for a worker's credit (ready), or handed back with release_item()
 * because no worker could take it. */
struct release {
	uint64_t item_id;
	uint64_t token;
	uint64_t claimed_ms;
	char organisation[WIRE_NAME_MAX + 1];
};

struct dispatch {
	struct event_base *base;
	struct metrics *metrics;
	struct queue *q;
	char *endpoint;
	char *name;
	char *caps; /* JSON object of concurrency caps */
	struct workers *workers;
	struct db_async *db;
	struct event *ev_poll, *ev_beat, *ev_pump;
	unsigned lease_ms, poll_ms, heartbeat_ms, claim_max;
	/* Whether there may be work to claim; wake_seq counts wake-ups so that a claim that
	 * started before one cannot clear it. */
	bool wanted;
	uint64_t wake_seq, claim_seq;
	uint64_t beat_seq;
	struct wire_msg broadcast; /* being sent to every worker */
	struct bucket *buckets;
	size_t n_buckets;
	struct event *ev_buckets;
	struct paused_org paused[DISPATCH_PAUSED_MAX];
	size_t n_paused;
	struct release *releases;
	size_t n_releases;
	/* Claimed ahead of credit, sent as credit comes: a ring of DISPATCH_RELEASE_MAX. */
	struct release *ready;
	size_t ready_head, n_ready;
	/* Parameters of the statement in flight (must live until its callback). */
	char p_limit[16], p_lease[32], p_skip[DISPATCH_PAUSED_MAX * (WIRE_NAME_MAX + 1) + 3];
	char p_item[24], p_token[24];
	int claim_limit;
	struct metric_gauge *g_workers, *g_credits, *g_depth, *g_oldest, *g_ready;
	bool stats_due; /* the queue's figures are read on the next idle moment */
	struct metric_gauge *g_leased[DISPATCH_PAUSED_MAX]; /* per organisation, once seen */
	size_t n_orgs_seen;
	struct metric_counter *c_tasks, *c_claims, *c_released, *c_unknown;
};

static const struct db_prepared dispatch_statements[] = {
    {"claim", "SELECT item_id, organisation, fencing_token FROM hookrun.claim_items("
              "$1::integer, $2::interval, $3, $4::text[], $5::jsonb)"},
    {"release", "SELECT hookrun.release_item($1::bigint, $2::bigint, 'task not sent')"},
    /* The queue as /metrics shows it: runnable items, how long the oldest has been due, and
     * the items leased per organisation (over every dispatcher). */
    {"stats",
     "SELECT (SELECT coalesce(sum(items_queued), 0) FROM hookrun.jobs WHERE items_queued > 0), "
     "(SELECT coalesce(extract(epoch FROM now() - min(run_at)), 0) FROM hookrun.job_items "
     "WHERE state = 'queued' AND run_at <= now()), "
     "(SELECT coalesce(json_object_agg(organisation, n), '{}') FROM (SELECT organisation, "
     "sum(items_leased) AS n FROM hookrun.jobs WHERE items_leased > 0 GROUP BY 1) o)"},
};

static void dispatch_pump(struct dispatch *d);

/* Run dispatch_pump() from the loop, not from inside a callback that may be mid-update. */
static void dispatch_pump_soon(struct dispatch *d)
{
	event_active(d->ev_pump, EV_TIMEOUT, 0);
}

/* Mark that there may be work, and look for it. */
static void dispatch_want(struct dispatch *d)
{
	d->wanted = true;
	d->wake_seq++;
	dispatch_pump_soon(d);
}

void dispatch_wake(struct dispatch *d)
{
	if (d)
		dispatch_want(d);
}

/* Refresh the gauges that describe the workers. */
static void dispatch_gauges(struct dispatch *d)
{
	metric_gauge_set(d->g_workers, (double)workers_count(d->workers));
	metric_gauge_set(d->g_credits, (double)workers_credits(d->workers));
	metric_gauge_set(d->g_ready, (double)d->n_ready);
}

/* The bucket of a paced organisation, or NULL. */
static struct bucket *dispatch_bucket(struct dispatch *d, const char *org)
{
	for (size_t i = 0; i < d->n_buckets; i++)
		if (strcmp(d->buckets[i].organisation, org) == 0)
			return &d->buckets[i];
	return NULL;
}

/* Send one message to a worker; a worker gone is forgotten. */
static int dispatch_send(struct dispatch *d, const struct queue_peer *peer,
                         const struct wire_msg *m)
{
	int r = queue_send(d->q, peer, m);

	if (r == -EHOSTUNREACH) {
		workers_forget(d->workers, peer);
		dispatch_gauges(d);
	}
	return r;
}

static void dispatch_ready_drop_org(struct dispatch *d, const char *org);
static struct bucket *dispatch_bucket(struct dispatch *d, const char *org);

/* Send d->broadcast to one worker (a gone one is the heartbeat's business). */
static void dispatch_broadcast_one(void *userdata, const struct queue_peer *peer)
{
	struct dispatch *d = userdata;

	(void)queue_send(d->q, peer, &d->broadcast);
}

/* Send m to every worker in the book. */
static void dispatch_broadcast(struct dispatch *d, const struct wire_msg *m)
{
	d->broadcast = *m;
	workers_each(d->workers, dispatch_broadcast_one, d);
}

/* A worker paused an organisation after a 429: skip it in claims until the time passes, hand
 * back its items claimed ahead, and tell every worker, so that none calls it meanwhile. */
static void dispatch_throttle(struct dispatch *d, const char *org, uint32_t ms)
{
	struct wire_msg m = {.type = WIRE_THROTTLE, .throttle = {.retry_after_ms = ms}};
	struct bucket *b = dispatch_bucket(d, org);

	snprintf(m.throttle.organisation, sizeof(m.throttle.organisation), "%s", org);
	dispatch_broadcast(d, &m);
	dispatch_ready_drop_org(d, org);
	if (b) {
		/* The bucket starts empty when the pause ends: the calls ramp up at its rate. */
		b->tokens = 0;
		b->refilled_ms = loop_now_ms() + ms;
	}
	uint64_t until = loop_now_ms() + ms;
	size_t i;
	char labels[128] = "";

	for (i = 0; i < d->n_paused; i++)
		if (strcmp(d->paused[i].name, org) == 0)
			break;
	if (i == d->n_paused) {
		if (d->n_paused == DISPATCH_PAUSED_MAX)
			return;
		snprintf(d->paused[d->n_paused++].name, sizeof(d->paused[0].name), "%s", org);
	}
	if (d->paused[i].until_ms < until)
		d->paused[i].until_ms = until;
	(void)metrics_labels_add(labels, sizeof(labels), "organisation", org);
	metric_counter_inc(metrics_counter(d->metrics, "hookrun_dispatch_pauses_total",
	                                   "Organisations paused after a worker saw 429", labels));
	log_event(LOG_LEVEL_INFO, "dispatch.paused", "organisation=%s retry_after_ms=%" PRIu32, org,
	          ms);
}

/* The organisations to skip now, as a PostgreSQL array literal in d->p_skip. Names are
 * configuration names ([a-z0-9_-]), so they need no quoting. */
static void dispatch_skip_literal(struct dispatch *d)
{
	uint64_t now = loop_now_ms();
	size_t len = 0;

	d->p_skip[len++] = '{';
	for (size_t i = 0; i < d->n_paused;) {
		if (d->paused[i].until_ms <= now) {
			log_event(LOG_LEVEL_INFO, "dispatch.resumed", "organisation=%s",
			          d->paused[i].name);
			d->paused[i] = d->paused[--d->n_paused];
			continue;
		}
		len += (size_t)snprintf(d->p_skip + len, sizeof(d->p_skip) - len, "%s%s",
		                        len > 1 ? "," : "", d->paused[i].name);
		i++;
	}
	d->p_skip[len++] = '}';
	d->p_skip[len] = '\0';
}

/* Keep a claimed item for release (else the lease brings it back). */
static void dispatch_give_back(struct dispatch *d, const struct release *rel)
{
	if (d->n_releases < DISPATCH_RELEASE_MAX)
		d->releases[d->n_releases++] = *rel;
}

/* Send TASK for one claimed item against a worker's credit; false when no worker took it. */
static bool dispatch_task(struct dispatch *d, const struct release *rel)
{
	struct wire_msg m = {.type = WIRE_TASK,
	                     .task = {.item_id = rel->item_id, .token = rel->token}};
	struct queue_peer peer;

	while (workers_take(d->workers, &peer)) {
		int r = dispatch_send(d, &peer, &m);
		if (r == 0) {
			metric_counter_inc(d->c_tasks);
			return true;
		}
		if (r == -EAGAIN)
			workers_untake(d->workers, &peer);
		if (r != -EHOSTUNREACH)
			break;
	}
	return false;
}

/* Send ready items while workers hold credit, oldest first. */
static void dispatch_send_ready(struct dispatch *d)
{
	while (d->n_ready > 0 && workers_credits(d->workers) > 0) {
		struct release *rel = &d->ready[d->ready_head];

		if (!dispatch_task(d, rel))
			break;
		d->ready_head = (d->ready_head + 1) % DISPATCH_RELEASE_MAX;
		d->n_ready--;
	}
}

/* Queue a claimed item for the next credit. */
static void dispatch_ready_push(struct dispatch *d, const struct release *rel)
{
	if (d->n_ready == DISPATCH_RELEASE_MAX) {
		dispatch_give_back(d, rel);
		return;
	}
	d->ready[(d->ready_head + d->n_ready) % DISPATCH_RELEASE_MAX] = *rel;
	d->n_ready++;
}

/* Hand back every ready item of an organisation that was just paused. */
static void dispatch_ready_drop_org(struct dispatch *d, const char *org)
{
	size_t n = d->n_ready;

	for (size_t i = 0; i < n; i++) {
		struct release rel = d->ready[d->ready_head];

		d->ready_head = (d->ready_head + 1) % DISPATCH_RELEASE_MAX;
		d->n_ready--;
		if (strcmp(rel.organisation, org) == 0)
			dispatch_give_back(d, &rel);
		else
			dispatch_ready_push(d, &rel);
	}
	dispatch_pump_soon(d);
}

/* Items claimed ahead of credit that waited a quarter of their lease go back to the queue
 * (their workers left, or are all busy with long items). */
static void dispatch_ready_expire(struct dispatch *d, uint64_t now)
{
	while (d->n_ready > 0 && now - d->ready[d->ready_head].claimed_ms > d->lease_ms / 4) {
		dispatch_give_back(d, &d->ready[d->ready_head]);
		d->ready_head = (d->ready_head + 1) % DISPATCH_RELEASE_MAX;
		d->n_ready--;
	}
}

/* The claim's rows: one task each. */
static void dispatch_on_claimed(void *userdata, const PGresult *res, int r)
{
	struct dispatch *d = userdata;
	int rows;

	if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_event(LOG_LEVEL_WARN, "dispatch.claim_failed", "detail=%s",
		          r < 0 ? "connection lost" : db_result_message(res));
		return; /* the poll tries again */
	}
	rows = PQntuples(res);
	metric_counter_inc(d->c_claims);
	for (int i = 0; i < rows; i++) {
		struct release rel = {strtoull(PQgetvalue(res, i, 0), NULL, 10),
		                      strtoull(PQgetvalue(res, i, 2), NULL, 10), loop_now_ms()};
		snprintf(rel.organisation, sizeof(rel.organisation), "%s", PQgetvalue(res, i, 1));
		dispatch_ready_push(d, &rel);
	}
	dispatch_send_ready(d);
	/* A claim takes at most a share of each job, and nothing beyond an organisation's cap:
	 * fewer rows than asked does not mean there is no more. Only an empty claim does. */
	if (rows == 0 && d->wake_seq == d->claim_seq)
		d->wanted = false;
	dispatch_gauges(d);
	dispatch_pump_soon(d);
}

/* A release finished; go on with the next one. */
static void dispatch_on_released(void *userdata, const PGresult *res, int r)
{
	struct dispatch *d = userdata;

	if (r == 0 && PQresultStatus(res) == PGRES_TUPLES_OK)
		metric_counter_inc(d->c_released);
	dispatch_pump_soon(d);
}

/* Hand back the last unsent item. */
static void dispatch_release_next(struct dispatch *d)
{
	struct release *rel = &d->releases[d->n_releases - 1];
	const char *values[2] = {d->p_item, d->p_token};

	snprintf(d->p_item, sizeof(d->p_item), "%" PRIu64, rel->item_id);
	snprintf(d->p_token, sizeof(d->p_token), "%" PRIu64, rel->token);
	if (db_async_send_prepared(d->db, "release", 2, values, NULL, NULL, dispatch_on_released,
	                           d) == 0)
		d->n_releases--;
}

/* How many items to keep claimed ahead: the workers' slots (at most claim_max). */
static uint64_t dispatch_target(const struct dispatch *d)
{
	uint64_t slots = workers_slots(d->workers);

	return slots < d->claim_max ? slots : d->claim_max;
}

/* The queue's figures arrived: publish them. */
static void dispatch_on_stats(void *userdata, const PGresult *res, int r)
{
	struct dispatch *d = userdata;
	json_t *orgs, *n;
	const char *org;
	char labels[128];

	if (r == 0 && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		metric_gauge_set(d->g_depth, strtod(PQgetvalue(res, 0, 0), NULL));
		metric_gauge_set(d->g_oldest, strtod(PQgetvalue(res, 0, 1), NULL));
		orgs = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
		for (size_t i = 0; i < d->n_orgs_seen; i++)
			metric_gauge_set(d->g_leased[i], 0);
		json_object_foreach (orgs, org, n) {
			struct metric_gauge *g;
			size_t i;

			labels[0] = '\0';
			(void)metrics_labels_add(labels, sizeof(labels), "organisation", org);
			g = metrics_gauge(d->metrics, "hookrun_items_leased",
			                  "Items leased (in flight) per organisation, over every "
			                  "dispatcher",
			                  labels);
			metric_gauge_set(g, json_number_value(n));
			for (i = 0; i < d->n_orgs_seen && d->g_leased[i] != g; i++)
				;
			if (i == d->n_orgs_seen && d->n_orgs_seen < DISPATCH_PAUSED_MAX)
				d->g_leased[d->n_orgs_seen++] = g;
		}
		json_decref(orgs);
	}
	dispatch_pump_soon(d);
}

/* Read the queue's figures. */
static void dispatch_stats(struct dispatch *d)
{
	if (db_async_send_prepared(d->db, "stats", 0, NULL, NULL, NULL, dispatch_on_stats, d) == 0)
		d->stats_due = false;
}

/* Claim what the workers can take now and what they will ask for next: up to their slots
 * beyond the items already waiting (at most claim_max). Claiming ahead of credit turns a
 * trickle of credits into few, large claims, and a returning credit into a task at once. */
static void dispatch_claim(struct dispatch *d)
{
	uint64_t target = dispatch_target(d);
	const char *values[5] = {d->p_limit, d->p_lease, d->name, d->p_skip, d->caps};

	d->claim_limit = (int)(target - d->n_ready);
	snprintf(d->p_limit, sizeof(d->p_limit), "%d", d->claim_limit);
	snprintf(d->p_lease, sizeof(d->p_lease), "%u milliseconds", d->lease_ms);
	dispatch_skip_literal(d);
	d->claim_seq = d->wake_seq;
	if (db_async_send_prepared(d->db, "claim", 5, values, NULL, NULL, dispatch_on_claimed, d) <
	    0)
		return; /* not connected: the state callback wakes us */
}

/* Send what is ready, then do the next thing the database connection can do: hand back
 * unsent items, then claim when fewer than half the workers' slots are ready. */
static void dispatch_pump(struct dispatch *d)
{
	dispatch_send_ready(d);
	if (!db_async_idle(d->db))
		return;
	if (d->n_releases > 0) {
		dispatch_release_next(d);
		return;
	}
	if (d->stats_due) {
		dispatch_stats(d);
		return;
	}
	if (d->wanted && workers_credits(d->workers) > 0 && d->n_ready * 2 < dispatch_target(d))
		dispatch_claim(d);
}

/* The deferred pump. */
static void dispatch_on_pump(evutil_socket_t fd, short what, void *arg)
{
	dispatch_pump(arg);
}

/* Refill a bucket for the time since its last refill (none before a pause ends). */
static void bucket_refill(struct bucket *b, uint64_t now)
{
	if (now <= b->refilled_ms)
		return;
	b->tokens += b->per_second * (double)(now - b->refilled_ms) / 1000.0;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->refilled_ms = now;
}

/* Grant what the bucket holds to the oldest wants. */
static void bucket_serve(struct dispatch *d, struct bucket *b)
{
	struct wire_msg m = {.type = WIRE_GRANT};

	bucket_refill(b, loop_now_ms());
	snprintf(m.permits.organisation, sizeof(m.permits.organisation), "%s", b->organisation);
	while (b->n > 0 && b->tokens >= 1.0) {
		struct want *w = &b->wants[b->head];
		uint32_t k = (uint32_t)b->tokens;

		if (k > w->n)
			k = w->n;
		m.permits.n = k;
		if (queue_send(d->q, &w->peer, &m) == 0) {
			b->tokens -= k;
			metric_counter_add(b->c_granted, k);
			w->n -= k;
		} else {
			w->n = 0; /* a worker gone: its calls went with it */
		}
		if (w->n == 0) {
			b->head = (b->head + 1) % DISPATCH_WANTS_MAX;
			b->n--;
		}
	}
}

/* The buckets' tick: refill and grant. */
static void dispatch_on_buckets(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch *d = arg;

	for (size_t i = 0; i < d->n_buckets; i++)
		if (d->buckets[i].n > 0)
			bucket_serve(d, &d->buckets[i]);
}

/* WANT from a worker: calls to a paced organisation wait for permits; one this dispatcher
 * does not pace gets them at once. */
static void dispatch_want_permits(struct dispatch *d, const struct queue_peer *from,
                                  const struct wire_msg *m)
{
	struct bucket *b = dispatch_bucket(d, m->permits.organisation);
	struct wire_msg grant = *m;

	if (!b) {
		grant.type = WIRE_GRANT;
		(void)queue_send(d->q, from, &grant);
		return;
	}
	if (b->n == DISPATCH_WANTS_MAX)
		return; /* the worker asks again when its calls still wait */
	b->wants[(b->head + b->n) % DISPATCH_WANTS_MAX] = (struct want){*from, m->permits.n};
	b->n++;
	bucket_serve(d, b);
}

/* Make a bucket per paced organisation, and their tick. */
static void dispatch_buckets_init(struct dispatch *d, const struct dispatch_options *o)
{
	struct timeval tick = loop_tv(DISPATCH_BUCKET_TICK_MS);

	d->buckets = xcalloc(o->n_rates ? o->n_rates : 1, sizeof(*d->buckets));
	for (size_t i = 0; i < o->n_rates; i++) {
		struct bucket *b = &d->buckets[d->n_buckets++];
		char labels[128] = "";

		snprintf(b->organisation, sizeof(b->organisation), "%s", o->rates[i].organisation);
		b->per_second = o->rates[i].per_second;
		b->burst = b->per_second / 10 > 1 ? b->per_second / 10 : 1;
		b->tokens = b->burst;
		b->refilled_ms = loop_now_ms();
		b->wants = xcalloc(DISPATCH_WANTS_MAX, sizeof(*b->wants));
		(void)metrics_labels_add(labels, sizeof(labels), "organisation", b->organisation);
		b->c_granted = metrics_counter(d->metrics, "hookrun_dispatch_permits_total",
		                               "Calls to paced organisations let through", labels);
	}
	d->ev_buckets = event_new(d->base, -1, EV_PERSIST, dispatch_on_buckets, d);
	if (d->n_buckets > 0)
		event_add(d->ev_buckets, &tick);
}

/* A message from a worker. */
static void dispatch_on_msg(void *userdata, const struct queue_peer *from, const struct wire_msg *m,
                            int error)
{
	struct dispatch *d = userdata;
	uint64_t now = loop_now_ms();
	struct wire_msg bye = {.type = WIRE_BYE};

	if (!m)
		return; /* counted by the queue */
	if (m->type != WIRE_HELLO && !workers_known(d->workers, from)) {
		/* A worker of an earlier life of this dispatcher: ask it to say HELLO again. */
		metric_counter_inc(d->c_unknown);
		if (m->type != WIRE_BYE)
			(void)queue_send(d->q, from, &bye);
		return;
	}
	workers_seen(d->workers, from, now);
	switch (m->type) {
	case WIRE_HELLO:
		if (workers_hello(d->workers, from, m->hello.name, m->hello.slots, now) == 0)
			log_event(LOG_LEVEL_INFO, "dispatch.worker_joined",
			          "worker=%s slots=%" PRIu32 " pid=%" PRIu32, m->hello.name,
			          m->hello.slots, m->hello.pid);
		break;
	case WIRE_CREDIT:
		(void)workers_credit(d->workers, from, m->credit.n, now);
		dispatch_pump_soon(d);
		break;
	case WIRE_DONE:
		/* A retry is queued again, and any end frees room under its organisation's cap. */
		dispatch_want(d);
		break;
	case WIRE_THROTTLE:
		dispatch_throttle(d, m->throttle.organisation, m->throttle.retry_after_ms);
		break;
	case WIRE_WANT:
		dispatch_want_permits(d, from, m);
		break;
	case WIRE_BYE:
		workers_forget(d->workers, from);
		log_event(LOG_LEVEL_INFO, "dispatch.worker_left", "credits_now=%" PRIu64,
		          workers_credits(d->workers));
		break;
	default:
		break;
	}
	dispatch_gauges(d);
}

/* Heartbeat tick: drop silent workers, tell the others we are here. */
static void dispatch_on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch *d = arg;
	size_t dropped = workers_expire(d->workers, loop_now_ms());

	dispatch_ready_expire(d, loop_now_ms());
	if (d->n_releases > 0)
		dispatch_pump_soon(d);

	if (dropped)
		log_event(LOG_LEVEL_WARN, "dispatch.workers_silent", "dropped=%zu", dropped);
	d->beat_seq++;
	dispatch_broadcast(
	    d, &(struct wire_msg){.type = WIRE_HEARTBEAT, .heartbeat = {.seq = d->beat_seq}});
	dispatch_gauges(d);
}

/* Slow poll: there may be expired leases, retries come due or NOTIFYs we missed. */
static void dispatch_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch *d = arg;

	d->stats_due = true;
	dispatch_want(d);
}

/* NOTIFY hookrun_work: something was committed elsewhere. */
static void dispatch_on_notify(void *userdata, const char *channel, const char *payload)
{
	dispatch_want(userdata);
}

/* The connection came up (look for work: NOTIFYs may have been missed) or went down. */
static void dispatch_on_db_state(void *userdata, bool connected)
{
	struct dispatch *d = userdata;

	log_event(connected ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "dispatch.db", "connected=%s",
	          connected ? "true" : "false");
	if (connected)
		dispatch_want(d);
}

/* Register the dispatcher's metrics. */
static void dispatch_metrics_init(struct dispatch *d)
{
	d->g_workers = metrics_gauge(d->metrics, "hookrun_dispatch_workers",
	                             "Workers connected to this dispatcher", NULL);
	d->g_credits = metrics_gauge(d->metrics, "hookrun_dispatch_credits",
	                             "Tasks the connected workers can take now", NULL);
	d->g_ready = metrics_gauge(d->metrics, "hookrun_dispatch_ready",
	                           "Items claimed ahead of credit, waiting for a worker", NULL);
	d->g_depth =
	    metrics_gauge(d->metrics, "hookrun_queue_depth",
	                  "Items queued (due or waiting for a retry), over every job", NULL);
	d->g_oldest =
	    metrics_gauge(d->metrics, "hookrun_queue_oldest_due_seconds",
	                  "How long the longest-waiting runnable item has been due", NULL);
	d->c_tasks = metrics_counter(d->metrics, "hookrun_dispatch_tasks_total",
	                             "Tasks sent to workers", NULL);
	d->c_claims = metrics_counter(d->metrics, "hookrun_dispatch_claims_total",
	                              "Claim statements run", NULL);
	d->c_released =
	    metrics_counter(d->metrics, "hookrun_dispatch_released_total",
	                    "Claimed items handed back because no worker could take them", NULL);
	d->c_unknown = metrics_counter(d->metrics, "hookrun_dispatch_unknown_peer_total",
	                               "Messages from workers that had not said HELLO", NULL);
}

/* Start the timers: heartbeat and slow poll. */
static void dispatch_timers_start(struct dispatch *d)
{
	struct timeval beat = loop_tv(d->heartbeat_ms);
	struct timeval poll = loop_tv(d->poll_ms);

	d->ev_pump = event_new(d->base, -1, 0, dispatch_on_pump, d);
	d->ev_beat = event_new(d->base, -1, EV_PERSIST, dispatch_on_beat, d);
	d->ev_poll = event_new(d->base, -1, EV_PERSIST, dispatch_on_poll, d);
	event_add(d->ev_beat, &beat);
	event_add(d->ev_poll, &poll);
}

struct dispatch *dispatch_new(struct event_base *base, const struct dispatch_options *o,
                              struct metrics *metrics, char **ret_error)
{
	struct dispatch *d = xcalloc(1, sizeof(*d));
	struct db_async_options dbo = {
	    .url = o->db_url,
	    .prepare = dispatch_statements,
	    .n_prepare = ELEMENTSOF(dispatch_statements),
	    .reconnect_max_ms = o->reconnect_max_ms,
	    .listen = DISPATCH_CHANNEL,
	    .notify = dispatch_on_notify,
	};

	d->base = base;
	d->metrics = metrics;
	d->name = xstrdup(o->name);
	d->caps = xstrdup(o->caps_json ? o->caps_json : "{}");
	d->lease_ms = o->lease_ms;
	d->poll_ms = o->poll_ms;
	d->heartbeat_ms = o->heartbeat_ms;
	d->claim_max = o->claim_max;
	d->releases = xcalloc(DISPATCH_RELEASE_MAX, sizeof(*d->releases));
	d->ready = xcalloc(DISPATCH_RELEASE_MAX, sizeof(*d->ready));
	d->workers = workers_new(o->silence_ms);
	d->q = queue_new(base, QUEUE_ROUTER, dispatch_on_msg, d, ret_error);
	if (!d->q || queue_bind(d->q, o->endpoint, &d->endpoint, ret_error) < 0) {
		dispatch_free(d);
		return NULL;
	}
	dispatch_metrics_init(d);
	dispatch_timers_start(d);
	dispatch_buckets_init(d, o);
	d->db = db_async_new(base, &dbo, dispatch_on_db_state, d);
	return d;
}

void dispatch_free(struct dispatch *d)
{
	if (!d)
		return;
	if (d->q)
		dispatch_broadcast(d, &(struct wire_msg){.type = WIRE_BYE});
	db_async_free(d->db);
	queue_free(d->q);
	workers_free(d->workers);
	if (d->ev_pump)
		event_free(d->ev_pump);
	if (d->ev_beat)
		event_free(d->ev_beat);
	if (d->ev_poll)
		event_free(d->ev_poll);
	free(d->releases);
	free(d->ready);
	for (size_t i = 0; i < d->n_buckets; i++)
		free(d->buckets[i].wants);
	free(d->buckets);
	if (d->ev_buckets)
		event_free(d->ev_buckets);
	free(d->endpoint);
	free(d->name);
	free(d->caps);
	free(d);
}

const char *dispatch_endpoint(const struct dispatch *d)
{
	return d->endpoint;
}

size_t dispatch_workers(const struct dispatch *d)
{
	return workers_count(d->workers);
}

uint64_t dispatch_credits(const struct dispatch *d)
{
	return workers_credits(d->workers);
}
