/* The audit sealer of an ingress: every interval it seals the audit events whose
 * transactions have ended (hookrun.seal_audit(), migration 0020), block after block until
 * none is left, on a PostgreSQL connection of its own; once an hour it first makes the
 * partitions of the months ahead (hookrun.ensure_partitions(), migration 0026). Several ingresses
 * may seal: the function lets one at a time through and the others skip. Runs on the ingress's
 * loop; never blocks. */
#pragma once

struct event_base;
struct metrics;

struct audit_sealer_options {
	const char *db_url;   /* borrowed for the call */
	unsigned interval_ms; /* > 0 */
	unsigned max_events; /* the most events a block holds (but a transaction's stay together) */
	unsigned reconnect_max_ms;
};

struct audit_sealer;

/* Start sealing on base (the first round after one interval); metrics registered in m. */
struct audit_sealer *audit_sealer_new(struct event_base *base, const struct audit_sealer_options *o,
                                      struct metrics *m);
/* Stop; a statement in flight is abandoned (its transaction rolls back). NULL is ignored. */
void audit_sealer_free(struct audit_sealer *s);
