/* The dispatcher in hookrun-ingress: a ZeroMQ ROUTER that workers connect to, the book of
 * their credits, and one PostgreSQL connection that claims runnable items for them.
 *
 * Work is claimed only against credit (never more items than workers have free slots) and
 * sent as TASK(item id, fencing token); the item's lease in PostgreSQL is the truth, so a
 * task lost on the way costs one lease time, never the item. Wake-ups: dispatch_wake() for
 * work this process committed, LISTEN hookrun_work for work committed elsewhere, and a slow
 * poll that also rescues expired leases and retries coming due. Runs on the ingress's loop
 * and never blocks it. */
#pragma once

#include <stdint.h>

#include "xalloc.h"

struct event_base;
struct metrics;
struct dispatch;

/* One organisation's call rate ([versori.NAME] rate_limit). */
struct dispatch_rate {
	const char *organisation;
	unsigned per_second;
};

struct dispatch_options {
	const char *endpoint; /* ZeroMQ endpoint to bind, e.g. "tcp://127.0.0.1:7070" */
	const char *db_url;
	const char *name;      /* this dispatcher in audit rows and leases (leased_by) */
	unsigned lease_ms;     /* lease of a claimed item */
	unsigned poll_ms;      /* slow poll: expired leases, retries coming due, lost NOTIFYs */
	unsigned heartbeat_ms; /* HEARTBEAT to every worker this often */
	unsigned silence_ms;   /* a worker silent this long loses its credits */
	unsigned claim_max;    /* most items in one claim */
	/* Organisations' concurrency caps as a JSON object ({"acme": 16}), enforced by the
	 * claim over every dispatcher; NULL: none. */
	const char *caps_json;
	/* Organisations whose calls are paced, and their rates in calls a second over every
	 * worker of this dispatcher (borrowed for dispatch_new() only). */
	const struct dispatch_rate *rates;
	size_t n_rates;
	unsigned reconnect_max_ms;
};

/* A dispatcher bound to o->endpoint; NULL with *ret_error (a new string) when it cannot bind.
 * The database connection is made in the background. */
struct dispatch *dispatch_new(struct event_base *base, const struct dispatch_options *o,
                              struct metrics *metrics, char **ret_error);
/* Tell every worker BYE, close the socket and the connection; takes NULL. Items in flight
 * stay leased to their workers, which complete them under their tokens. */
void dispatch_free(struct dispatch *d);
/* The endpoint as bound (the port chosen for "tcp://...:0"); borrowed from d. */
const char *dispatch_endpoint(const struct dispatch *d);
/* Work was committed by this process: claim now instead of waiting for the NOTIFY. */
void dispatch_wake(struct dispatch *d);
/* Connected workers and the credits they hold (for /readyz and tests). */
size_t dispatch_workers(const struct dispatch *d);
uint64_t dispatch_credits(const struct dispatch *d);
