/* The retention pruner of an ingress: every interval it empties the bodies of deliveries older
 * than one limit and deletes the items of jobs finished longer ago than another
 * (hookrun.prune_delivery_bodies(), hookrun.prune_finished_items(), migration 0025), a batch
 * a statement until nothing is left, on a PostgreSQL connection of its own. Several ingresses
 * may prune: the functions let one at a time through. Runs on the ingress's loop; never
 * blocks. */
#pragma once

struct event_base;
struct metrics;

struct pruner_options {
	const char *db_url;       /* borrowed for the call */
	const char *name;         /* this ingress, the audit events' actor; borrowed for the call */
	unsigned interval_ms;     /* > 0 */
	long long bodies_after_s; /* 0: keep delivery bodies */
	long long items_after_s;  /* 0: keep finished jobs' items */
	unsigned batch;           /* rows a statement */
	unsigned reconnect_max_ms;
};

struct pruner;

/* Start pruning on base (the first round after one interval); NULL when both limits are 0.
 * Metrics registered in m. */
struct pruner *pruner_new(struct event_base *base, const struct pruner_options *o,
                          struct metrics *m);
/* Stop; a statement in flight is abandoned (its transaction rolls back). NULL is ignored. */
void pruner_free(struct pruner *p);
