/* Job items from CSV, through libcsv (job_csv.h). */
#include "job_csv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>

#include "job_secrets.h"
#include "json.h"
#include "json_scan.h"
#include "schema.h"
#include "xalloc.h"

#define JOB_CSV_EXTERNAL_ID_MAX 1024
#define JOB_CSV_VAR_PREFIX      "var."

enum column_kind { COLUMN_EXTERNAL_ID, COLUMN_DISPLAY_NAME, COLUMN_VARIABLE };

struct column {
	char *name; /* as the header has it */
	enum column_kind kind;
	const char *variable; /* COLUMN_VARIABLE: the name after "var." (inside name) */
	const char *type;     /* the schema's type of the variable, NULL: string */
	bool secret;          /* the schema marks the variable secret (writeOnly, password) */
};

struct job_csv {
	struct csv_parser csv;
	json_t *properties;            /* the schema's "properties" (a reference), or NULL */
	const struct schema *compiled; /* validates each row's variables, or NULL */
	size_t max_problems;
	struct job_csv_problem *problems;
	size_t n_problems, total_problems;
	bool broken; /* not CSV: further input ignored */
	bool fatal;  /* broken, or a problem with the header */
	size_t row;  /* the row being read, 1-based */
	bool have_header;
	struct column *columns;
	size_t n_columns;
	char **fields; /* the current row's fields */
	size_t n_fields, cap_fields;
	bool row_bad;                /* a field of the current row was refused already */
	struct json_array_text good; /* the good items */
	size_t n_good;
	job_items_good_fn good_fn; /* else the good items go to good */
	void *good_userdata;
	json_t *seen; /* externalId -> the row that has it */
};

/* Record a problem (the first max_problems are kept). */
_printf_(4, 5) static void problem(struct job_csv *p, size_t row, const char *column,
                                   const char *fmt, ...)
{
	va_list ap;
	char *msg;

	p->total_problems++;
	if (row == 1)
		p->fatal = true;
	if (p->n_problems >= p->max_problems)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	p->problems = xrealloc(p->problems, (p->n_problems + 1) * sizeof(*p->problems));
	p->problems[p->n_problems++] =
	    (struct job_csv_problem){.row = row,
	                             .column = column ? xstrdup(column) : NULL,
	                             .message = msg ? msg : xstrdup("?")};
}

/* The schema's type of a variable: its "type" string, or the first of a list that is not
 * "null"; NULL when the schema says nothing. */
static const char *variable_type(const json_t *properties, const char *name)
{
	const json_t *t = json_object_get(json_object_get(properties, name), "type");
	const json_t *e;
	size_t i;

	if (json_is_string(t))
		return json_string_value(t);
	json_array_foreach (t, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), "null") != 0)
			return json_string_value(e);
	return NULL;
}

/* The header row: every column known, externalId present, no name twice. */
static void header_take(struct job_csv *p)
{
	bool have_id = false;

	p->columns = xcalloc(p->n_fields ? p->n_fields : 1, sizeof(*p->columns));
	p->n_columns = p->n_fields;
	for (size_t i = 0; i < p->n_fields; i++) {
		struct column *c = &p->columns[i];

		c->name = TAKE_PTR(p->fields[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->columns[j].name, c->name) == 0)
				problem(p, 1, c->name, "the column appears twice");
		if (strcmp(c->name, "externalId") == 0) {
			c->kind = COLUMN_EXTERNAL_ID;
			have_id = true;
		} else if (strcmp(c->name, "displayName") == 0) {
			c->kind = COLUMN_DISPLAY_NAME;
		} else if (strncmp(c->name, JOB_CSV_VAR_PREFIX, strlen(JOB_CSV_VAR_PREFIX)) == 0 &&
		           c->name[strlen(JOB_CSV_VAR_PREFIX)]) {
			c->kind = COLUMN_VARIABLE;
			c->variable = c->name + strlen(JOB_CSV_VAR_PREFIX);
			c->type = variable_type(p->properties, c->variable);
			c->secret =
			    job_secrets_property(json_object_get(p->properties, c->variable));
			if (p->properties && !json_object_get(p->properties, c->variable))
				problem(p, 1, c->name,
				        "the project's variable schema does not declare %s",
				        c->variable);
		} else {
			problem(p, 1, c->name,
			        "unknown column (expected externalId, displayName or var.<name>)");
		}
	}
	if (!have_id)
		problem(p, 1, NULL, "the header has no externalId column");
	p->have_header = true;
}

/* A cell's value as the variable's type wants it: a new JSON value, or NULL after recording
 * the problem. */
static json_t *cell_value(struct job_csv *p, const struct column *c, const char *s)
{
	const char *t = c->type ? c->type : "string";
	char *end;

	if (strcmp(t, "integer") == 0) {
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (!errno && end != s && !*end)
			return json_integer(v);
	} else if (strcmp(t, "number") == 0) {
		double v = strtod(s, &end);

		if (end != s && !*end && isfinite(v))
			return json_real(v);
	} else if (strcmp(t, "boolean") == 0) {
		if (strcasecmp(s, "true") == 0)
			return json_true();
		if (strcasecmp(s, "false") == 0)
			return json_false();
	} else if (strcmp(t, "object") == 0 || strcmp(t, "array") == 0) {
		json_t *v = json_loads(s, JSON_REJECT_DUPLICATES, NULL);

		if (v && (strcmp(t, "object") == 0 ? json_is_object(v) : json_is_array(v)))
			return v;
		json_decref(v);
	} else {
		return json_string(s);
	}
	if (c->secret) /* the value itself is never repeated */
		problem(p, p->row, c->name, "the (secret) value is not %s %s",
		        strchr("aeiou", t[0]) ? "an" : "a", t);
	else
		problem(p, p->row, c->name, "'%s' is not %s %s", s,
		        strchr("aeiou", t[0]) ? "an" : "a", t);
	return NULL;
}

/* Whether the row's variables pass the compiled schema; the problem names the variable's
 * column (the first name of the instance path) when there is one. */
static bool row_vars_valid(struct job_csv *p, const json_t *vars)
{
	struct schema_error err = {0};
	char column[sizeof(err.path) + 8];
	size_t n;

	if (!p->compiled || json_object_size(vars) == 0 ||
	    schema_validate_partial(p->compiled, vars, &err) == 0)
		return true;
	n = strcspn(err.path, ".[");
	snprintf(column, sizeof(column), JOB_CSV_VAR_PREFIX "%.*s", (int)n, err.path);
	problem(p, p->row, n ? column : NULL, "%s%s%s (%s in the project's variable schema)",
	        n ? err.path + n : "", n && err.path[n] ? ": " : "", err.message,
	        err.keyword[0] ? err.keyword : "a rule");
	return false;
}

/* A data row: one item, unless a cell is refused. */
static void row_take(struct job_csv *p)
{
	json_t *item = json_object(), *vars = json_object();
	bool bad = p->row_bad;
	const char *id = NULL;

	if (p->n_fields != p->n_columns) {
		problem(p, p->row, NULL, "the row has %zu fields, the header %zu", p->n_fields,
		        p->n_columns);
		bad = true;
	}
	for (size_t i = 0; !bad && i < p->n_fields; i++) {
		const struct column *c = &p->columns[i];
		const char *s = p->fields[i];
		json_t *v;

		if (c->kind == COLUMN_EXTERNAL_ID) {
			id = s;
			if (!*s) {
				problem(p, p->row, c->name, "is empty");
				bad = true;
			} else if (strlen(s) > JOB_CSV_EXTERNAL_ID_MAX) {
				problem(p, p->row, c->name, "longer than %d bytes",
				        JOB_CSV_EXTERNAL_ID_MAX);
				bad = true;
			}
			json_object_set_new(item, "externalId", json_string(s));
		} else if (!*s) {
			continue; /* an empty cell sets nothing */
		} else if (c->kind == COLUMN_DISPLAY_NAME) {
			json_object_set_new(item, "displayName", json_string(s));
		} else if ((v = cell_value(p, c, s))) {
			json_object_set_new(vars, c->variable, v);
		} else {
			bad = true;
		}
	}
	if (!bad && !row_vars_valid(p, vars))
		bad = true;
	if (!bad && id) {
		const json_t *first = json_object_get(p->seen, id);

		if (first) {
			problem(p, p->row, "externalId",
			        "%s is already on row %" JSON_INTEGER_FORMAT, id,
			        json_integer_value(first));
			bad = true;
		} else {
			json_object_set_new(p->seen, id, json_integer((json_int_t)p->row));
		}
	}
	if (json_object_size(vars) > 0)
		json_object_set(item, "variables", vars);
	if (!bad && id) { /* kept as text: a large body never becomes a tree of values */
		p->n_good++;
		if (p->good_fn)
			p->good_fn(p->good_userdata, p->row - 2, item);
		else
			json_array_text_add(&p->good, item);
	}
	json_decref(vars);
	json_decref(item);
}

/* Drop the current row's fields. */
static void fields_clear(struct job_csv *p)
{
	for (size_t i = 0; i < p->n_fields; i++)
		free(p->fields[i]);
	p->n_fields = 0;
	p->row_bad = false;
}

/* libcsv: one field of the current row. */
static void on_field(void *s, size_t len, void *userdata)
{
	struct job_csv *p = userdata;
	const char *f = s ? s : "";

	if (p->row == 1 && p->n_fields == 0 && len >= 3 && memcmp(f, "\xef\xbb\xbf", 3) == 0) {
		f += 3; /* a UTF-8 byte order mark (spreadsheets write one) */
		len -= 3;
	}
	if (memchr(f, '\0', len) || !json_scan_utf8_valid(f, len)) {
		problem(p, p->row, p->n_fields < p->n_columns ? p->columns[p->n_fields].name : NULL,
		        memchr(f, '\0', len) ? "field %zu holds a NUL byte"
		                             : "field %zu is not UTF-8 text",
		        p->n_fields + 1);
		p->row_bad = true;
	}
	if (p->n_fields == p->cap_fields) {
		p->cap_fields = p->cap_fields ? 2 * p->cap_fields : 16;
		p->fields = xrealloc(p->fields, p->cap_fields * sizeof(*p->fields));
	}
	p->fields[p->n_fields++] = xstrndup(f, len);
}

/* libcsv: the end of a row. */
static void on_row(int c, void *userdata)
{
	struct job_csv *p = userdata;

	if (!p->have_header)
		header_take(p);
	else
		row_take(p);
	fields_clear(p);
	p->row++;
}

struct job_csv *job_csv_new(const json_t *schema, size_t max_problems)
{
	struct job_csv *p = xcalloc(1, sizeof(*p));
	const json_t *props = json_object_get(schema, "properties");

	if (csv_init(&p->csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		abort(); /* only fails on out of memory */
	p->properties = json_is_object(props) ? json_incref((json_t *)props) : NULL;
	p->max_problems = max_problems;
	p->row = 1;
	p->seen = json_object();
	return p;
}

void job_csv_validate_with(struct job_csv *p, const struct schema *compiled)
{
	p->compiled = compiled;
}

void job_csv_set_good(struct job_csv *p, job_items_good_fn fn, void *userdata)
{
	p->good_fn = fn;
	p->good_userdata = userdata;
}

void job_csv_free(struct job_csv *p)
{
	if (!p)
		return;
	csv_free(&p->csv);
	fields_clear(p);
	free(p->fields);
	for (size_t i = 0; i < p->n_columns; i++)
		free(p->columns[i].name);
	free(p->columns);
	for (size_t i = 0; i < p->n_problems; i++) {
		free(p->problems[i].column);
		free(p->problems[i].message);
	}
	free(p->problems);
	json_array_text_fini(&p->good);
	json_decref(p->seen);
	json_decref(p->properties);
	free(p);
}

/* The text stopped being CSV. */
static int broken(struct job_csv *p)
{
	problem(p, p->row, NULL, "not CSV: %s (a quote inside an unquoted field, or one left open)",
	        csv_strerror(csv_error(&p->csv)));
	p->broken = true;
	p->fatal = true;
	return -EINVAL;
}

int job_csv_feed(struct job_csv *p, const void *data, size_t len)
{
	if (p->broken)
		return -EINVAL;
	if (csv_parse(&p->csv, data, len, on_field, on_row, p) != len)
		return broken(p);
	return 0;
}

int job_csv_finish_text(struct job_csv *p, char **ret_text, size_t *ret_len, size_t *ret_items)
{
	if (!p->broken && csv_fini(&p->csv, on_field, on_row, p) != 0)
		(void)broken(p);
	if (!p->broken && !p->have_header)
		problem(p, 1, NULL, "empty: no header row");
	*ret_items = p->n_good;
	*ret_text = json_array_text_take(&p->good, ret_len);
	return p->total_problems ? -EINVAL : 0;
}

int job_csv_finish(struct job_csv *p, json_t **ret_items)
{
	_cleanup_free_ char *text = NULL;
	size_t len, n;
	int r = job_csv_finish_text(p, &text, &len, &n);

	*ret_items = json_loadb(text, len, 0, NULL);
	if (!*ret_items)
		abort(); /* our own text: only on out of memory */
	return r;
}

const struct job_csv_problem *job_csv_problems(const struct job_csv *p, size_t *ret_n,
                                               size_t *ret_total)
{
	*ret_n = p->n_problems;
	if (ret_total)
		*ret_total = p->total_problems;
	return p->problems;
}

bool job_csv_fatal(const struct job_csv *p)
{
	return p->fatal;
}

size_t job_csv_rows(const struct job_csv *p)
{
	return p->have_header ? p->row - 2 : 0;
}
