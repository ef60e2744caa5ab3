/* Fault rules of versori-sim and the pure decision of which fault hits one call: latency,
 * 5xx, 429 from a per-organisation token bucket, connection resets and stalls, scoped by
 * method, path prefix or route, limited by a rate and a count. Used by sim_server on the
 * simulator's loop; no I/O, no clock of its own (now_ms is passed in), seeded randomness. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "xalloc.h"

struct sim_faults;

enum sim_fault_kind {
	SIM_FAULT_LATENCY,
	SIM_FAULT_ERROR,
	SIM_FAULT_THROTTLE,
	SIM_FAULT_RESET,
	SIM_FAULT_STALL,
	_SIM_FAULT_KIND_MAX,
};

enum sim_latency_dist {
	SIM_LATENCY_FIXED,
	SIM_LATENCY_UNIFORM,
	SIM_LATENCY_EXPONENTIAL,
	SIM_LATENCY_LOGNORMAL,
	_SIM_LATENCY_DIST_MAX,
};

enum sim_retry_after {
	SIM_RETRY_AFTER_SECONDS,
	SIM_RETRY_AFTER_DATE,
	SIM_RETRY_AFTER_NONE,
	_SIM_RETRY_AFTER_MAX,
};

/* What the decision is about; every pointer is borrowed for the duration of the call. */
struct sim_fault_call {
	const char *method; /* "POST" */
	const char *path;   /* decoded request path */
	const char *route;  /* endpoint template, e.g. "POST /api/v2/o/{org}/activations" */
	const char *org;    /* organisation for the token bucket; "" for none */
};

/* The fault chosen for one call. action is SIM_FAULT_LATENCY when only latency (or nothing:
 * delay_ms 0) applies; otherwise the one error/throttle/reset/stall to apply after delay_ms. */
struct sim_fault_decision {
	int64_t delay_ms;
	enum sim_fault_kind action;
	int status;            /* ERROR: the 5xx; THROTTLE: 429 */
	char retry_after[40];  /* THROTTLE: header value, "" for none */
	int64_t stall_ms;      /* STALL: how long to hold the request before answering */
	int64_t partial_bytes; /* RESET: bytes of the answer to send first; -1: half of it */
	const char *fault;     /* static name for logs: "none", "latency", "error", ... */
};

const char *sim_fault_kind_to_string(enum sim_fault_kind k);
int sim_fault_kind_from_string(const char *s);
const char *sim_latency_dist_to_string(enum sim_latency_dist d);
int sim_latency_dist_from_string(const char *s);
const char *sim_retry_after_to_string(enum sim_retry_after r);
int sim_retry_after_from_string(const char *s);

/* No rules; randomness seeded with seed (same seed, same calls: same decisions). */
struct sim_faults *sim_faults_new(uint64_t seed);
void sim_faults_free(struct sim_faults *f);
void sim_faults_reseed(struct sim_faults *f, uint64_t seed);

/* Replace every rule with those of doc: {"seed"?: N, "rules": [rule, ...]} or [rule, ...].
 * All or nothing: -EINVAL fills err (e.g. "rules[1].rate: must be between 0 and 1"). */
_warn_unused_result_ int sim_faults_set(struct sim_faults *f, const json_t *doc, char *err,
                                        size_t errlen);
/* Append one rule given as a JSON object; -EINVAL fills err. */
_warn_unused_result_ int sim_faults_add(struct sim_faults *f, const json_t *rule, char *err,
                                        size_t errlen);
/* Append one rule given as "kind=error,rate=0.1,statuses=500:503,method=POST" (the
 * command-line form of the same keys; ':' separates statuses); -EINVAL fills err. */
_warn_unused_result_ int sim_faults_add_spec(struct sim_faults *f, const char *spec, char *err,
                                             size_t errlen);
void sim_faults_clear(struct sim_faults *f);
/* {"rules": [...]} with each rule's settings plus "fired" and, with a count, "remaining"
 * (new reference; loadable again by sim_faults_set()). */
json_t *sim_faults_to_json(const struct sim_faults *f);

/* Decide the fault for one call at now_ms (milliseconds; only differences matter for the
 * token buckets, the absolute value for an HTTP-date Retry-After). Rules are tried in order:
 * matching latency rules add up; the first matching error/throttle/reset/stall rule that
 * fires is the action and later ones are not consulted. Always fills *ret. */
void sim_faults_decide(struct sim_faults *f, const struct sim_fault_call *call, int64_t now_ms,
                       struct sim_fault_decision *ret);

/* The organisation a path names (/api/v2/o/{org}/..., /api/organisations/v1/organisations/{org})
 * copied into out; "" when none. */
void sim_faults_org_from_path(const char *path, char *out, size_t outlen);
/* Format an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for unix seconds t. */
void sim_faults_http_date(int64_t t, char out[static 30]);
