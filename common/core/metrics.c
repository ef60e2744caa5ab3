/* In-process Prometheus metrics, rendered in text exposition format 0.0.4.
 *
 * Series live in individually allocated structs so handles stay valid while the registry
 * grows. Lookup is an open-addressing hash table of (hash, series) pairs keyed on name and
 * label string, probed linearly: one cache line usually answers a hit. Families are kept
 * sorted by name and each family's series by label string, so rendering needs no sorting. */
#include "metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
	_METRIC_TYPE_MAX,
};

struct metric_counter {
	uint64_t value;
};

struct metric_gauge {
	double value;
};

struct metric_histogram {
	double *bounds;   /* n finite upper bounds, strictly increasing */
	uint64_t *counts; /* n + 1 per-bucket (not cumulative) counts; the last is +Inf */
	size_t n;
	double sum;
};

struct metric_family;

struct metric_series {
	struct metric_family *family;
	char *labels; /* "" when none */
	union {
		struct metric_counter counter;
		struct metric_gauge gauge;
		struct metric_histogram histogram;
	};
};

struct metric_family {
	char *name;
	char *help;
	enum metric_type type;
	struct metric_series **series; /* sorted by labels */
	size_t n_series;
};

struct metric_slot {
	uint64_t hash;
	struct metric_series *series; /* NULL when the slot is empty */
};

struct metrics {
	struct metric_family **families; /* sorted by name */
	size_t n_families;
	struct metric_slot *slots; /* power-of-two sized, at most half full */
	size_t n_slots;
	size_t n_series;
};

/* A growable output string for rendering. */
struct mbuf {
	char *p;
	size_t len, cap;
};

static const char *const metric_type_names[_METRIC_TYPE_MAX] = {
    [METRIC_COUNTER] = "counter",
    [METRIC_GAUGE] = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
};

/* A new, empty registry. */
struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	m->n_slots = 64;
	m->slots = xcalloc(m->n_slots, sizeof(*m->slots));
	return m;
}

/* Free one series and what it owns. */
static void metric_series_free(struct metric_series *s)
{
	if (s->family->type == METRIC_HISTOGRAM) {
		free(s->histogram.bounds);
		free(s->histogram.counts);
	}
	free(s->labels);
	free(s);
}

/* Free the registry and every handle it returned. */
void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_families; i++) {
		struct metric_family *f = m->families[i];

		for (size_t j = 0; j < f->n_series; j++)
			metric_series_free(f->series[j]);
		free(f->series);
		free(f->name);
		free(f->help);
		free(f);
	}
	free(m->families);
	free(m->slots);
	free(m);
}

/* FNV-1a over name, a separator that cannot occur in a name, and labels. */
static uint64_t metrics_hash(const char *name, const char *labels)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

/* Index of the slot holding (name, labels), or of the empty slot where it belongs. */
static size_t metrics_slot_find(const struct metrics *m, uint64_t hash, const char *name,
                                const char *labels)
{
	size_t mask = m->n_slots - 1;

	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		const struct metric_slot *s = &m->slots[i];

		if (!s->series)
			return i;
		if (s->hash == hash && strcmp(s->series->labels, labels) == 0 &&
		    strcmp(s->series->family->name, name) == 0)
			return i;
	}
}

/* Double the hash table and re-insert every series. */
static void metrics_slots_grow(struct metrics *m)
{
	struct metric_slot *old = m->slots;
	size_t n_old = m->n_slots;

	m->n_slots *= 2;
	m->slots = xcalloc(m->n_slots, sizeof(*m->slots));
	for (size_t i = 0; i < n_old; i++) {
		if (!old[i].series)
			continue;
		size_t mask = m->n_slots - 1, j = (size_t)old[i].hash & mask;

		while (m->slots[j].series)
			j = (j + 1) & mask;
		m->slots[j] = old[i];
	}
	free(old);
}

/* Whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without colons, a label name. */
static bool metrics_name_valid(const char *s, bool colon)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		          (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':');
		if (!ok)
			return false;
	}
	return true;
}

/* Whether labels is a well-formed, escaped list: name="value" pairs separated by commas. */
static bool metrics_labels_valid(const char *labels)
{
	const char *p = labels;

	while (*p) {
		size_t n = strcspn(p, "=");
		char name[128];

		if (n == 0 || n >= sizeof(name) || p[n] != '=' || p[n + 1] != '"')
			return false;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!metrics_name_valid(name, false))
			return false;
		for (p += n + 2; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return false;
			if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
				return false;
			if (*p == '\\')
				p++;
		}
		p++;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return false;
	}
	return true;
}

/* Binary search: index of name in the sorted family array, or where it would be inserted. */
static size_t metrics_family_index(const struct metrics *m, const char *name, bool *found)
{
	size_t lo = 0, hi = m->n_families;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->families[mid]->name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The family called name, created with help and type if new; asserts the type matches. */
static struct metric_family *metrics_family_get(struct metrics *m, const char *name,
                                                const char *help, enum metric_type type)
{
	bool found;
	size_t i = metrics_family_index(m, name, &found);
	struct metric_family *f;

	if (found) {
		assert(m->families[i]->type == type);
		return m->families[i];
	}
	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help ? help : "");
	f->type = type;
	m->families = xreallocarray(m->families, m->n_families + 1, sizeof(struct metric_family *));
	memmove(m->families + i + 1, m->families + i,
	        (m->n_families - i) * sizeof(struct metric_family *));
	m->families[i] = f;
	m->n_families++;
	return f;
}

/* Insert s into its family's series array, keeping it sorted by label string. */
static void metric_family_add_series(struct metric_family *f, struct metric_series *s)
{
	size_t lo = 0, hi = f->n_series;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(f->series[mid]->labels, s->labels) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	f->series = xreallocarray(f->series, f->n_series + 1, sizeof(struct metric_series *));
	memmove(f->series + lo + 1, f->series + lo,
	        (f->n_series - lo) * sizeof(struct metric_series *));
	f->series[lo] = s;
	f->n_series++;
}

/* The series (name, labels), created zeroed if new (*created says which); the hot path. */
static struct metric_series *metrics_series_get(struct metrics *m, enum metric_type type,
                                                const char *name, const char *help,
                                                const char *labels, bool *created)
{
	uint64_t hash;
	size_t i;
	struct metric_series *s;

	if (!labels)
		labels = "";
	hash = metrics_hash(name, labels);
	i = metrics_slot_find(m, hash, name, labels);
	*created = !m->slots[i].series;
	if (!*created) {
		assert(m->slots[i].series->family->type == type);
		return m->slots[i].series;
	}

	assert(metrics_name_valid(name, true));
	assert(metrics_labels_valid(labels));
	s = xcalloc(1, sizeof(*s));
	s->family = metrics_family_get(m, name, help, type);
	s->labels = xstrdup(labels);
	metric_family_add_series(s->family, s);
	m->slots[i] = (struct metric_slot){hash, s};
	if (++m->n_series * 2 > m->n_slots)
		metrics_slots_grow(m);
	return s;
}

/* Register or look up a counter. */
struct metric_counter *metrics_counter(struct metrics *m, const char *name, const char *help,
                                       const char *labels)
{
	bool created;

	return &metrics_series_get(m, METRIC_COUNTER, name, help, labels, &created)->counter;
}

/* Register or look up a gauge. */
struct metric_gauge *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                   const char *labels)
{
	bool created;

	return &metrics_series_get(m, METRIC_GAUGE, name, help, labels, &created)->gauge;
}

/* Register or look up a histogram with these upper bounds. */
struct metric_histogram *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                           const char *labels, const double *bounds, size_t n)
{
	bool created;
	struct metric_histogram *h =
	    &metrics_series_get(m, METRIC_HISTOGRAM, name, help, labels, &created)->histogram;

	if (!created) {
		assert(h->n == n && memcmp(h->bounds, bounds, n * sizeof(*bounds)) == 0);
		return h;
	}
	for (size_t i = 0; i < n; i++)
		assert(isfinite(bounds[i]) && (i == 0 || bounds[i - 1] < bounds[i]));
	h->n = n;
	h->bounds = xmemdup(bounds, n * sizeof(*bounds));
	h->counts = xcalloc(n + 1, sizeof(*h->counts));
	return h;
}

/* Add n to a counter. */
void metric_counter_add(struct metric_counter *c, uint64_t n)
{
	c->value += n;
}

/* Add one to a counter. */
void metric_counter_inc(struct metric_counter *c)
{
	c->value++;
}

/* Set a gauge. */
void metric_gauge_set(struct metric_gauge *g, double v)
{
	g->value = v;
}

/* Add delta (which may be negative) to a gauge. */
void metric_gauge_add(struct metric_gauge *g, double delta)
{
	g->value += delta;
}

/* Count v in the first bucket whose bound is >= v (NaN lands in +Inf only). */
void metric_histogram_observe(struct metric_histogram *h, double v)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= h->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	h->counts[lo]++;
	h->sum += v;
}

/* Length of value once \, " and newline are escaped. */
static size_t metrics_label_escaped_len(const char *value)
{
	size_t n = 0;

	for (const char *p = value; *p; p++)
		n += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
	return n;
}

/* Append name="value" to a label list, escaping the value. */
bool metrics_labels_add(char *buf, size_t size, const char *name, const char *value)
{
	size_t len = strnlen(buf, size);
	size_t need = (len ? 1 : 0) + strlen(name) + 3 + metrics_label_escaped_len(value);
	char *o;

	assert(metrics_name_valid(name, false));
	if (len >= size || need >= size - len)
		return false;
	o = buf + len;
	if (len)
		*o++ = ',';
	o = stpcpy(o, name);
	*o++ = '=';
	*o++ = '"';
	for (const char *p = value; *p; p++) {
		if (*p == '\n') {
			o = stpcpy(o, "\\n");
			continue;
		}
		if (*p == '\\' || *p == '"')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	return true;
}

/* Append printf output to b, growing it. */
static void _printf_(2, 3) mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	assert(n >= 0);
	if ((size_t)n >= b->cap - b->len) {
		b->cap = b->cap * 2 + (size_t)n;
		b->p = xrealloc(b->p, b->cap);
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Format a sample value: NaN, +Inf, -Inf, or the shortest text that reads back exactly, in
 * fixed notation for decimal exponents -4..16 ("100", "0.005"), otherwise "1e+17". */
static void metrics_format_double(char *buf, size_t size, double v)
{
	int prec, exp;

	if (isnan(v) || isinf(v)) {
		snprintf(buf, size, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*e", prec - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	assert(strchr(buf, 'e'));
	exp = atoi(strchr(buf, 'e') + 1);
	if (exp >= -4 && exp < 17)
		snprintf(buf, size, "%.*f", prec - 1 > exp ? prec - 1 - exp : 0, v);
}

/* Append HELP text, escaping backslash and newline. */
static void mbuf_put_help(struct mbuf *b, const char *help)
{
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			mbuf_printf(b, "\\\\");
		else if (*p == '\n')
			mbuf_printf(b, "\\n");
		else
			mbuf_printf(b, "%c", *p);
	}
}

/* Append one "name_suffix{labels[,le="..."]} value" sample line. */
static void mbuf_put_sample(struct mbuf *b, const char *name, const char *suffix,
                            const char *labels, const char *le, const char *value)
{
	bool braces = *labels || le;

	mbuf_printf(b, "%s%s%s%s", name, suffix, braces ? "{" : "", labels);
	if (le)
		mbuf_printf(b, "%sle=\"%s\"", *labels ? "," : "", le);
	mbuf_printf(b, "%s %s\n", braces ? "}" : "", value);
}

/* Append the _bucket, _sum and _count lines of one histogram series. */
static void mbuf_put_histogram(struct mbuf *b, const char *name, const char *labels,
                               const struct metric_histogram *h)
{
	char le[64], value[64];
	uint64_t cumulative = 0;

	for (size_t i = 0; i <= h->n; i++) {
		cumulative += h->counts[i];
		if (i < h->n)
			metrics_format_double(le, sizeof(le), h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(value, sizeof(value), "%" PRIu64, cumulative);
		mbuf_put_sample(b, name, "_bucket", labels, le, value);
	}
	metrics_format_double(value, sizeof(value), h->sum);
	mbuf_put_sample(b, name, "_sum", labels, NULL, value);
	snprintf(value, sizeof(value), "%" PRIu64, cumulative);
	mbuf_put_sample(b, name, "_count", labels, NULL, value);
}

/* Append one family: its HELP and TYPE lines, then every series in label order. */
static void mbuf_put_family(struct mbuf *b, const struct metric_family *f)
{
	char value[64];

	mbuf_printf(b, "# HELP %s ", f->name);
	mbuf_put_help(b, f->help);
	mbuf_printf(b, "\n# TYPE %s %s\n", f->name, metric_type_names[f->type]);
	for (size_t i = 0; i < f->n_series; i++) {
		const struct metric_series *s = f->series[i];

		switch (f->type) {
		case METRIC_COUNTER:
			snprintf(value, sizeof(value), "%" PRIu64, s->counter.value);
			mbuf_put_sample(b, f->name, "", s->labels, NULL, value);
			break;
		case METRIC_GAUGE:
			metrics_format_double(value, sizeof(value), s->gauge.value);
			mbuf_put_sample(b, f->name, "", s->labels, NULL, value);
			break;
		default:
			mbuf_put_histogram(b, f->name, s->labels, &s->histogram);
			break;
		}
	}
}

/* The whole registry in text exposition format 0.0.4, as a new string. */
char *metrics_render(const struct metrics *m)
{
	struct mbuf b = {.cap = 4096};

	b.p = xmalloc(b.cap);
	b.p[0] = '\0';
	for (size_t i = 0; i < m->n_families; i++)
		mbuf_put_family(&b, m->families[i]);
	return b.p;
}
