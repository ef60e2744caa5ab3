/* Fault rules of versori-sim and the pure per-call decision. */
#include "sim_faults.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "xalloc.h"

#define SIM_FAULTS_MAX_STATUSES 8
#define SIM_FAULTS_MAX_BUCKETS  1024
#define SIM_FAULTS_MAX_RULES    256
#define UNSET                   (-1.0)

/* One organisation's token bucket. */
struct sim_bucket {
	char org[64];
	double tokens;
	int64_t last_ms;
};

/* One rule. Numeric settings are doubles; UNSET (-1) marks an absent optional one. */
struct sim_rule {
	enum sim_fault_kind kind;
	char *method, *path, *route; /* NULL: any */
	double rate, count;
	double ms, min_ms, max_ms, mean_ms, sigma; /* latency; ms is also the stall length */
	double per_second, burst;                  /* throttle */
	double bytes;                              /* reset */
	enum sim_latency_dist dist;
	enum sim_retry_after retry_after;
	int statuses[SIM_FAULTS_MAX_STATUSES];
	size_t n_statuses;
	int64_t remaining, fired;
	struct sim_bucket *buckets;
	size_t n_buckets;
};

struct sim_faults {
	uint64_t rng[4];
	struct sim_rule *rules;
	size_t n_rules;
};

#define KIND(k)   (1u << SIM_FAULT_##k)
#define ALL_KINDS ((1u << _SIM_FAULT_KIND_MAX) - 1)

/* A numeric setting: which kinds accept it, where it lives, its bounds. */
struct rule_number {
	const char *name;
	unsigned kinds;
	size_t off;
	double min, max;
};

static const struct rule_number rule_numbers[] = {
    {"rate", ALL_KINDS, offsetof(struct sim_rule, rate), 0, 1},
    {"count", ALL_KINDS, offsetof(struct sim_rule, count), 0, 1e12},
    {"ms", KIND(LATENCY) | KIND(STALL), offsetof(struct sim_rule, ms), 0, 3600000},
    {"min_ms", KIND(LATENCY), offsetof(struct sim_rule, min_ms), 0, 3600000},
    {"max_ms", KIND(LATENCY), offsetof(struct sim_rule, max_ms), 0, 3600000},
    {"mean_ms", KIND(LATENCY), offsetof(struct sim_rule, mean_ms), 0.001, 3600000},
    {"sigma", KIND(LATENCY), offsetof(struct sim_rule, sigma), 0, 10},
    {"per_second", KIND(THROTTLE), offsetof(struct sim_rule, per_second), 0.001, 1e6},
    {"burst", KIND(THROTTLE), offsetof(struct sim_rule, burst), 1, 1e6},
    {"bytes", KIND(RESET), offsetof(struct sim_rule, bytes), -1, 1e9},
};

static const char *const kind_names[_SIM_FAULT_KIND_MAX] = {
    [SIM_FAULT_LATENCY] = "latency", [SIM_FAULT_ERROR] = "error", [SIM_FAULT_THROTTLE] = "throttle",
    [SIM_FAULT_RESET] = "reset",     [SIM_FAULT_STALL] = "stall",
};
static const char *const dist_names[_SIM_LATENCY_DIST_MAX] = {
    [SIM_LATENCY_FIXED] = "fixed",
    [SIM_LATENCY_UNIFORM] = "uniform",
    [SIM_LATENCY_EXPONENTIAL] = "exponential",
    [SIM_LATENCY_LOGNORMAL] = "lognormal",
};
static const char *const retry_after_names[_SIM_RETRY_AFTER_MAX] = {
    [SIM_RETRY_AFTER_SECONDS] = "seconds",
    [SIM_RETRY_AFTER_DATE] = "date",
    [SIM_RETRY_AFTER_NONE] = "none",
};

/* Index of s in names[0..n), or -EINVAL. */
static int name_lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (s && strcmp(s, names[i]) == 0)
			return i;
	return -EINVAL;
}

/* Name of a fault kind. */
const char *sim_fault_kind_to_string(enum sim_fault_kind k)
{
	return k < _SIM_FAULT_KIND_MAX ? kind_names[k] : NULL;
}

/* Parse a fault kind; -EINVAL when unknown. */
int sim_fault_kind_from_string(const char *s)
{
	return name_lookup(kind_names, _SIM_FAULT_KIND_MAX, s);
}

/* Name of a latency distribution. */
const char *sim_latency_dist_to_string(enum sim_latency_dist d)
{
	return d < _SIM_LATENCY_DIST_MAX ? dist_names[d] : NULL;
}

/* Parse a latency distribution; -EINVAL when unknown. */
int sim_latency_dist_from_string(const char *s)
{
	return name_lookup(dist_names, _SIM_LATENCY_DIST_MAX, s);
}

/* Name of a Retry-After format. */
const char *sim_retry_after_to_string(enum sim_retry_after r)
{
	return r < _SIM_RETRY_AFTER_MAX ? retry_after_names[r] : NULL;
}

/* Parse a Retry-After format; -EINVAL when unknown. */
int sim_retry_after_from_string(const char *s)
{
	return name_lookup(retry_after_names, _SIM_RETRY_AFTER_MAX, s);
}

/* splitmix64 step, used to expand a seed. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Rotate left. */
static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** next value. */
static uint64_t rng_next(struct sim_faults *f)
{
	uint64_t *s = f->rng;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform double in [0, 1). */
static double rng_uniform(struct sim_faults *f)
{
	return (double)(rng_next(f) >> 11) * 0x1.0p-53;
}

/* Reseed the generator. */
void sim_faults_reseed(struct sim_faults *f, uint64_t seed)
{
	uint64_t x = seed;

	for (size_t i = 0; i < ELEMENTSOF(f->rng); i++)
		f->rng[i] = splitmix64(&x);
}

/* No rules, seeded. */
struct sim_faults *sim_faults_new(uint64_t seed)
{
	struct sim_faults *f = xcalloc(1, sizeof(*f));

	sim_faults_reseed(f, seed);
	return f;
}

/* Release what one rule owns. */
static void rule_fini(struct sim_rule *r)
{
	free(r->method);
	free(r->path);
	free(r->route);
	free(r->buckets);
}

/* Drop every rule. */
void sim_faults_clear(struct sim_faults *f)
{
	for (size_t i = 0; i < f->n_rules; i++)
		rule_fini(&f->rules[i]);
	free(f->rules);
	f->rules = NULL;
	f->n_rules = 0;
}

/* Free; takes NULL. */
void sim_faults_free(struct sim_faults *f)
{
	if (!f)
		return;
	sim_faults_clear(f);
	free(f);
}

/* The numeric setting called name, or NULL. */
static const struct rule_number *rule_number_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(rule_numbers); i++)
		if (strcmp(rule_numbers[i].name, name) == 0)
			return &rule_numbers[i];
	return NULL;
}

/* Parse "statuses": an integer, an array of integers, or "500:503" text. */
static int rule_parse_statuses(struct sim_rule *r, const json_t *v, char *err, size_t errlen)
{
	json_auto_t *list = NULL;
	size_t i;
	json_t *s;

	if (json_is_string(v)) {
		_cleanup_free_ char *copy = xstrdup(json_string_value(v));
		char *save = NULL;

		list = json_array();
		for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
			json_array_append_new(list, json_integer(strtol(t, NULL, 10)));
	} else if (json_is_integer(v)) {
		list = json_pack("[O]", v);
	} else {
		list = json_incref((json_t *)v);
	}
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > SIM_FAULTS_MAX_STATUSES) {
		snprintf(err, errlen, "statuses: expected 1 to %d statuses",
		         SIM_FAULTS_MAX_STATUSES);
		return -EINVAL;
	}
	json_array_foreach (list, i, s) {
		if (!json_is_integer(s) || json_integer_value(s) < 500 ||
		    json_integer_value(s) > 599) {
			snprintf(err, errlen, "statuses[%zu]: expected a status from 500 to 599",
			         i);
			return -EINVAL;
		}
		r->statuses[i] = (int)json_integer_value(s);
	}
	r->n_statuses = json_array_size(list);
	return 0;
}

/* Parse one string-valued key (kind is already known). */
static int rule_parse_string(struct sim_rule *r, const char *key, const json_t *v, char *err,
                             size_t errlen)
{
	const char *s = json_string_value(v);
	int x = 0;

	if (strcmp(key, "statuses") == 0 && r->kind == SIM_FAULT_ERROR)
		return rule_parse_statuses(r, v, err, errlen);
	if (!s) {
		snprintf(err, errlen, "%s: expected a string", key);
		return -EINVAL;
	}
	if (strcmp(key, "method") == 0 || strcmp(key, "path") == 0 || strcmp(key, "route") == 0) {
		char **dst = key[0] == 'm' ? &r->method : key[0] == 'p' ? &r->path : &r->route;

		free(*dst);
		*dst = xstrdup(s);
		return 0;
	}
	if (strcmp(key, "dist") == 0 && r->kind == SIM_FAULT_LATENCY) {
		x = sim_latency_dist_from_string(s);
		r->dist = x >= 0 ? (enum sim_latency_dist)x : r->dist;
	} else if (strcmp(key, "retry_after") == 0 && r->kind == SIM_FAULT_THROTTLE) {
		x = sim_retry_after_from_string(s);
		r->retry_after = x >= 0 ? (enum sim_retry_after)x : r->retry_after;
	} else {
		snprintf(err, errlen, "%s: unknown key for a %s fault", key, kind_names[r->kind]);
		return -EINVAL;
	}
	if (x < 0)
		snprintf(err, errlen, "%s: unknown value '%s'", key, s);
	return x < 0 ? -EINVAL : 0;
}

/* Parse one key of a rule. */
static int rule_parse_key(struct sim_rule *r, const char *key, const json_t *v, char *err,
                          size_t errlen)
{
	const struct rule_number *n = rule_number_find(key);
	double d;

	if (strcmp(key, "kind") == 0 || strcmp(key, "fired") == 0 || strcmp(key, "remaining") == 0)
		return 0;
	if (!n)
		return rule_parse_string(r, key, v, err, errlen);
	if (!(n->kinds & (1u << r->kind))) {
		snprintf(err, errlen, "%s: unknown key for a %s fault", key, kind_names[r->kind]);
		return -EINVAL;
	}
	if (!json_is_number(v)) {
		snprintf(err, errlen, "%s: expected a number", key);
		return -EINVAL;
	}
	d = json_number_value(v);
	if (!(d >= n->min && d <= n->max)) {
		snprintf(err, errlen, "%s: must be between %g and %g", key, n->min, n->max);
		return -EINVAL;
	}
	*(double *)((char *)r + n->off) = d;
	return 0;
}

/* Fill defaults and check the settings of a latency rule fit together. */
static int rule_check_latency(struct sim_rule *r, char *err, size_t errlen)
{
	switch (r->dist) {
	case SIM_LATENCY_FIXED:
		if (r->ms >= 0)
			return 0;
		snprintf(err, errlen, "ms: required for fixed latency");
		return -EINVAL;
	case SIM_LATENCY_UNIFORM:
		if (r->min_ms >= 0 && r->max_ms >= r->min_ms)
			return 0;
		snprintf(err, errlen, "min_ms, max_ms: required for uniform latency, min <= max");
		return -EINVAL;
	case SIM_LATENCY_EXPONENTIAL:
	case SIM_LATENCY_LOGNORMAL:
		if (r->mean_ms <= 0) {
			snprintf(err, errlen, "mean_ms: required for %s latency",
			         dist_names[r->dist]);
			return -EINVAL;
		}
		if (r->max_ms < 0)
			r->max_ms = 10 * r->mean_ms;
		if (r->sigma < 0)
			r->sigma = 0.5;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Fill the defaults of a rule and check that its settings fit together. */
static int rule_finish(struct sim_rule *r, char *err, size_t errlen)
{
	if (r->count > 0)
		r->remaining = (int64_t)r->count;
	switch (r->kind) {
	case SIM_FAULT_LATENCY:
		return rule_check_latency(r, err, errlen);
	case SIM_FAULT_ERROR:
		if (r->n_statuses == 0)
			r->statuses[r->n_statuses++] = 500;
		return 0;
	case SIM_FAULT_THROTTLE:
		if (r->per_second <= 0) {
			snprintf(err, errlen, "per_second: required for a throttle fault");
			return -EINVAL;
		}
		if (r->burst < 1)
			r->burst = fmax(1, ceil(r->per_second));
		return 0;
	case SIM_FAULT_STALL:
		if (r->ms < 0)
			r->ms = 60000;
		return 0;
	default:
		return 0;
	}
}

/* Parse one rule object into r (zeroed by the caller; r owns its strings even on failure,
 * so the caller releases it with rule_fini() either way). */
static int rule_parse(struct sim_rule *r, const json_t *o, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int k, ret;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "expected an object");
		return -EINVAL;
	}
	k = sim_fault_kind_from_string(json_string_value(json_object_get(o, "kind")));
	if (k < 0) {
		snprintf(err, errlen, "kind: expected latency, error, throttle, reset or stall");
		return -EINVAL;
	}
	*r = (struct sim_rule){.kind = (enum sim_fault_kind)k,
	                       .rate = 1,
	                       .count = 0,
	                       .ms = UNSET,
	                       .min_ms = UNSET,
	                       .max_ms = UNSET,
	                       .mean_ms = UNSET,
	                       .sigma = UNSET,
	                       .per_second = UNSET,
	                       .burst = UNSET,
	                       .bytes = UNSET};
	json_object_foreach ((json_t *)o, key, v) {
		ret = rule_parse_key(r, key, v, err, errlen);
		if (ret < 0)
			return ret;
	}
	return rule_finish(r, err, errlen);
}

/* Parse rule o into a new slot at the end of *rules (with a "what: " prefix on errors). */
static int rules_append(struct sim_rule **rules, size_t *n, const json_t *o, const char *what,
                        char *err, size_t errlen)
{
	char detail[200] = "";
	int r;

	if (*n >= SIM_FAULTS_MAX_RULES) {
		snprintf(err, errlen, "at most %d rules", SIM_FAULTS_MAX_RULES);
		return -EINVAL;
	}
	*rules = xreallocarray(*rules, *n + 1, sizeof(**rules));
	(*rules)[*n] = (struct sim_rule){0};
	r = rule_parse(&(*rules)[*n], o, detail, sizeof(detail));
	if (r < 0) {
		rule_fini(&(*rules)[*n]);
		snprintf(err, errlen, "%s%s", what, detail);
		return r;
	}
	(*n)++;
	return 0;
}

/* Replace every rule with those of doc, all or nothing. */
int sim_faults_set(struct sim_faults *f, const json_t *doc, char *err, size_t errlen)
{
	const json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "rules");
	const json_t *seed = json_is_object(doc) ? json_object_get(doc, "seed") : NULL;
	struct sim_rule *rules = NULL;
	size_t n = 0, i;
	json_t *o;

	if (!json_is_array(list) || (seed && !json_is_integer(seed))) {
		snprintf(err, errlen, "expected {\"seed\"?: integer, \"rules\": [...]} or [...]");
		return -EINVAL;
	}
	json_array_foreach (list, i, o) {
		char what[32];
		int r;

		snprintf(what, sizeof(what), "rules[%zu].", i);
		r = rules_append(&rules, &n, o, what, err, errlen);
		if (r < 0) {
			struct sim_faults tmp = {.rules = rules, .n_rules = n};

			sim_faults_clear(&tmp);
			return r;
		}
	}
	sim_faults_clear(f);
	f->rules = rules;
	f->n_rules = n;
	if (seed)
		sim_faults_reseed(f, (uint64_t)json_integer_value(seed));
	return 0;
}

/* Append one rule. */
int sim_faults_add(struct sim_faults *f, const json_t *rule, char *err, size_t errlen)
{
	return rules_append(&f->rules, &f->n_rules, rule, "", err, errlen);
}

/* The JSON value of one "key=value" from a spec: numbers for numeric keys, else strings. */
static json_t *spec_value(const char *key, const char *value)
{
	char *end = NULL;
	double d;

	if (!rule_number_find(key))
		return json_string(value);
	d = strtod(value, &end);
	if (end == value || *end)
		return json_string(value); /* rejected later as "expected a number" */
	if (d == floor(d) && fabs(d) < 1e15)
		return json_integer((json_int_t)d);
	return json_real(d);
}

/* Append one rule from its command-line form. */
int sim_faults_add_spec(struct sim_faults *f, const char *spec, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	json_auto_t *o = json_object();
	char *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		if (!eq || eq == t) {
			snprintf(err, errlen, "'%s': expected key=value", t);
			return -EINVAL;
		}
		*eq = '\0';
		json_object_set_new(o, t, spec_value(t, eq + 1));
	}
	return sim_faults_add(f, o, err, errlen);
}

/* Set key to d when it is not UNSET. */
static void json_set_number(json_t *o, const char *key, double d)
{
	if (d == UNSET)
		return;
	if (d == floor(d) && fabs(d) < 1e15)
		json_object_set_new(o, key, json_integer((json_int_t)d));
	else
		json_object_set_new(o, key, json_real(d));
}

/* The kind-specific settings of one rule. */
static void rule_settings_to_json(const struct sim_rule *r, json_t *o)
{
	json_t *st;

	switch (r->kind) {
	case SIM_FAULT_LATENCY:
		json_object_set_new(o, "dist", json_string(dist_names[r->dist]));
		json_set_number(o, "ms", r->ms);
		json_set_number(o, "min_ms", r->min_ms);
		json_set_number(o, "max_ms", r->max_ms);
		json_set_number(o, "mean_ms", r->mean_ms);
		json_set_number(o, "sigma", r->sigma);
		break;
	case SIM_FAULT_ERROR:
		st = json_array();
		for (size_t i = 0; i < r->n_statuses; i++)
			json_array_append_new(st, json_integer(r->statuses[i]));
		json_object_set_new(o, "statuses", st);
		break;
	case SIM_FAULT_THROTTLE:
		json_set_number(o, "per_second", r->per_second);
		json_set_number(o, "burst", r->burst);
		json_object_set_new(o, "retry_after",
		                    json_string(retry_after_names[r->retry_after]));
		break;
	case SIM_FAULT_STALL:
		json_set_number(o, "ms", r->ms);
		break;
	case SIM_FAULT_RESET:
		json_set_number(o, "bytes", r->bytes);
		break;
	default:
		break;
	}
}

/* One rule as JSON. */
static json_t *rule_to_json(const struct sim_rule *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(kind_names[r->kind]));
	if (r->method)
		json_object_set_new(o, "method", json_string(r->method));
	if (r->path)
		json_object_set_new(o, "path", json_string(r->path));
	if (r->route)
		json_object_set_new(o, "route", json_string(r->route));
	json_set_number(o, "rate", r->rate);
	if (r->count > 0) {
		json_set_number(o, "count", r->count);
		json_object_set_new(o, "remaining", json_integer(r->remaining));
	}
	rule_settings_to_json(r, o);
	json_object_set_new(o, "fired", json_integer(r->fired));
	return o;
}

/* Every rule as {"rules": [...]}. */
json_t *sim_faults_to_json(const struct sim_faults *f)
{
	json_t *list = json_array();

	for (size_t i = 0; i < f->n_rules; i++)
		json_array_append_new(list, rule_to_json(&f->rules[i]));
	return json_pack("{s:o}", "rules", list);
}

/* Whether a rule's scope covers the call. */
static bool rule_matches(const struct sim_rule *r, const struct sim_fault_call *c)
{
	const char *tail;

	if (r->count > 0 && r->remaining <= 0)
		return false;
	if (r->method && (!c->method || strcasecmp(r->method, c->method) != 0))
		return false;
	if (r->path && (!c->path || strncmp(c->path, r->path, strlen(r->path)) != 0))
		return false;
	if (!r->route)
		return true;
	if (!c->route)
		return false;
	tail = strchr(c->route, ' ');
	return strcmp(r->route, c->route) == 0 || (tail && strcmp(r->route, tail + 1) == 0);
}

/* Draw whether the rule fires at its rate (rate 1 and 0 draw nothing). */
static bool rule_fires(struct sim_faults *f, const struct sim_rule *r)
{
	if (r->rate >= 1)
		return true;
	if (r->rate <= 0)
		return false;
	return rng_uniform(f) < r->rate;
}

/* Count one firing. */
static void rule_consume(struct sim_rule *r)
{
	r->fired++;
	if (r->count > 0)
		r->remaining--;
}

/* A standard normal draw (Box-Muller). */
static double rng_normal(struct sim_faults *f)
{
	double u1 = 1.0 - rng_uniform(f), u2 = rng_uniform(f);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Draw one latency in milliseconds from a latency rule. */
static int64_t latency_draw(struct sim_faults *f, const struct sim_rule *r)
{
	double ms;

	switch (r->dist) {
	case SIM_LATENCY_UNIFORM:
		ms = r->min_ms + rng_uniform(f) * (r->max_ms - r->min_ms);
		break;
	case SIM_LATENCY_EXPONENTIAL:
		ms = -r->mean_ms * log(1.0 - rng_uniform(f));
		break;
	case SIM_LATENCY_LOGNORMAL:
		/* mean of lognormal(mu, sigma) is exp(mu + sigma^2 / 2) */
		ms = exp(log(r->mean_ms) - r->sigma * r->sigma / 2 + r->sigma * rng_normal(f));
		break;
	default:
		ms = r->ms;
		break;
	}
	if (r->max_ms >= 0 && ms > r->max_ms)
		ms = r->max_ms;
	return (int64_t)llround(ms);
}

/* The bucket of org, created full on first use (the last slot is shared past the limit). */
static struct sim_bucket *bucket_get(struct sim_rule *r, const char *org, int64_t now_ms)
{
	struct sim_bucket *b;

	for (size_t i = 0; i < r->n_buckets; i++)
		if (strcmp(r->buckets[i].org, org) == 0)
			return &r->buckets[i];
	if (r->n_buckets >= SIM_FAULTS_MAX_BUCKETS)
		return &r->buckets[r->n_buckets - 1];
	r->buckets = xreallocarray(r->buckets, r->n_buckets + 1, sizeof(*r->buckets));
	b = &r->buckets[r->n_buckets++];
	*b = (struct sim_bucket){.tokens = r->burst, .last_ms = now_ms};
	snprintf(b->org, sizeof(b->org), "%s", org);
	return b;
}

/* Take a token from org's bucket; false with *ret_wait_ms until one is back when empty. */
static bool bucket_take(struct sim_rule *r, const char *org, int64_t now_ms, int64_t *ret_wait_ms)
{
	struct sim_bucket *b = bucket_get(r, org ? org : "", now_ms);

	if (now_ms > b->last_ms) {
		b->tokens = fmin(r->burst, b->tokens + (double)(now_ms - b->last_ms) *
		                                           r->per_second / 1000.0);
		b->last_ms = now_ms;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return true;
	}
	*ret_wait_ms = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / r->per_second);
	return false;
}

/* Format an IMF-fixdate for unix seconds t. */
void sim_faults_http_date(int64_t t, char out[static 30])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Fill a 429 decision with its Retry-After. */
static void decide_throttle(const struct sim_rule *r, int64_t wait_ms, int64_t now_ms,
                            struct sim_fault_decision *ret)
{
	int64_t secs = (wait_ms + 999) / 1000;

	if (secs < 1)
		secs = 1;
	ret->status = 429;
	if (r->retry_after == SIM_RETRY_AFTER_SECONDS)
		snprintf(ret->retry_after, sizeof(ret->retry_after), "%lld", (long long)secs);
	else if (r->retry_after == SIM_RETRY_AFTER_DATE)
		sim_faults_http_date((now_ms + 999) / 1000 + secs, ret->retry_after);
}

/* Try one action rule; true when it decided the call. */
static bool decide_action(struct sim_faults *f, struct sim_rule *r, const char *org, int64_t now_ms,
                          struct sim_fault_decision *ret)
{
	int64_t wait_ms = 0;

	if (!rule_fires(f, r))
		return false;
	switch (r->kind) {
	case SIM_FAULT_THROTTLE:
		if (bucket_take(r, org, now_ms, &wait_ms))
			return false;
		decide_throttle(r, wait_ms, now_ms, ret);
		break;
	case SIM_FAULT_ERROR:
		ret->status = r->statuses[r->n_statuses > 1 ? rng_next(f) % r->n_statuses : 0];
		break;
	case SIM_FAULT_STALL:
		ret->stall_ms = (int64_t)r->ms;
		break;
	case SIM_FAULT_RESET:
		ret->partial_bytes = (int64_t)r->bytes;
		break;
	default:
		return false;
	}
	ret->action = r->kind;
	ret->fault = kind_names[r->kind];
	rule_consume(r);
	return true;
}

/* Decide the fault for one call. */
void sim_faults_decide(struct sim_faults *f, const struct sim_fault_call *call, int64_t now_ms,
                       struct sim_fault_decision *ret)
{
	bool acted = false;

	*ret = (struct sim_fault_decision){
	    .action = SIM_FAULT_LATENCY, .partial_bytes = -1, .fault = "none"};
	for (size_t i = 0; i < f->n_rules; i++) {
		struct sim_rule *r = &f->rules[i];

		if (!rule_matches(r, call))
			continue;
		if (r->kind == SIM_FAULT_LATENCY) {
			if (!rule_fires(f, r))
				continue;
			ret->delay_ms += latency_draw(f, r);
			rule_consume(r);
			if (!acted)
				ret->fault = kind_names[SIM_FAULT_LATENCY];
		} else if (!acted) {
			acted = decide_action(f, r, call->org, now_ms, ret);
		}
	}
}

/* Copy the path segment after prefix (up to the next '/') into out. */
static bool org_segment(const char *path, const char *prefix, char *out, size_t outlen)
{
	size_t plen = strlen(prefix), n;

	if (strncmp(path, prefix, plen) != 0)
		return false;
	path += plen;
	n = strcspn(path, "/");
	if (n == 0 || n >= outlen)
		return false;
	memcpy(out, path, n);
	out[n] = '\0';
	return true;
}

/* The organisation a path names, or "". */
void sim_faults_org_from_path(const char *path, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (!path)
		return;
	if (!org_segment(path, "/api/v2/o/", out, outlen))
		(void)org_segment(path, "/api/organisations/v1/organisations/", out, outlen);
}
