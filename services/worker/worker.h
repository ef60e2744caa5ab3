/* The worker process's state: one ZeroMQ DEALER per dispatcher it serves, its slots and the
 * credits it promised each dispatcher, the item runs in flight, PostgreSQL connections for
 * loading and settling items, a Versori client per organisation, and a small HTTP server for
 * /healthz, /readyz and /metrics. Created by main.c; everything runs on one libevent loop.
 *
 * Slots are promised to dispatchers as credits, never more in total than are free, spread
 * over the dispatchers that answer (the one with the fewest first). A dispatcher silent past
 * heartbeat_timeout_ms, or one that says BYE (it restarted and does not know this worker),
 * loses its promises, and the worker says HELLO to it again. */
#pragma once

#include "xalloc.h"

struct config;
struct event_base;
struct worker;

/* A worker serving the dispatchers of c; NULL with *ret_error (a new string) on failure. */
struct worker *worker_new(struct event_base *base, const struct config *c, char **ret_error);
void worker_free(struct worker *w);
/* The port of the HTTP server. */
int worker_port(const struct worker *w);
/* The worker's name (leases, audit rows). */
const char *worker_name(const struct worker *w);
/* Take nothing new (BYE to every dispatcher), let running items finish for drain_timeout_ms,
 * hand back the rest, then call done. */
void worker_shutdown(struct worker *w, void (*done)(void *), void *userdata);
