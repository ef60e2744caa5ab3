/* In-process Prometheus metrics (text exposition format 0.0.4): counters, gauges, histograms.
 * Used by the single-threaded ingress event loop; NOT thread-safe (no locking, by design: one
 * struct metrics per loop). Never blocks. Handles are owned by the struct metrics. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metric_counter;
struct metric_gauge;
struct metric_histogram;

/* A new, empty registry; aborts on OOM like every x*alloc. */
struct metrics *metrics_new(void);
/* Free the registry and every handle it returned; takes NULL. */
void metrics_free(struct metrics *m);

/* Register or look up one series. name must match [a-zA-Z_:][a-zA-Z0-9_:]*; help is used by
 * the first registration of a name; labels is a pre-rendered, already escaped label list such
 * as `route="hooks",status="202"` (see metrics_labels_add()), or NULL / "" for none. The same
 * (name, labels) returns the same handle, valid until metrics_free(). One name has one type.
 * Lookup is one hash of name and labels plus a probe, cheap enough per request. Malformed
 * names or labels, or a name reused with another type, are programmer errors (assert). */
struct metric_counter *metrics_counter(struct metrics *m, const char *name, const char *help,
                                       const char *labels);
struct metric_gauge *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                   const char *labels);
/* bounds: n finite, strictly increasing upper bounds (copied); +Inf is implicit. */
struct metric_histogram *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                           const char *labels, const double *bounds, size_t n);

/* Update a series; values render as uint64 (counters) or shortest exact doubles. */
void metric_counter_add(struct metric_counter *c, uint64_t n);
void metric_counter_inc(struct metric_counter *c);
void metric_gauge_set(struct metric_gauge *g, double v);
void metric_gauge_add(struct metric_gauge *g, double delta);
/* Count v in the first bucket whose upper bound is >= v (NaN: only in +Inf) and add it to _sum. */
void metric_histogram_observe(struct metric_histogram *h, double v);

/* Append name="value" to a label list in buf (comma-separated), escaping \, " and newline in
 * value. Returns false, leaving buf unchanged, when it does not fit in size bytes. */
bool metrics_labels_add(char *buf, size_t size, const char *name, const char *value);

/* The whole registry as a new string in text format 0.0.4: families sorted by name, each with
 * one # HELP and # TYPE line, series sorted by label string. Free with free(). */
char *metrics_render(const struct metrics *m);
