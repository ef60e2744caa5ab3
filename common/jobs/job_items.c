/* A submission's items checked before they are stored (job_items.h). */
#include "job_items.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "schema.h"
#include "xalloc.h"

/* The check under way. */
struct checker {
	struct job_items_check *out;
	size_t max_problems;
	size_t index; /* the item being checked */
	bool bad;     /* it has a problem */
};

struct job_items {
	struct checker k;
	struct job_items_check out;
	const struct schema *schema;
	json_t *seen; /* externalId -> the first item that has it */
	struct json_array_text good;
	job_items_good_fn good_fn; /* else the good items go to good */
	void *good_userdata;
};

/* Record a problem of the current item at field (after "items[i]"). */
_printf_(3, 4) static void problem(struct checker *k, const char *field, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *path = NULL;
	va_list ap;

	k->bad = true;
	k->out->total++;
	if (json_array_size(k->out->problems) >= k->max_problems)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	path = xasprintf("items[%zu]%s", k->index, field);
	json_array_append_new(k->out->problems,
	                      json_pack("{s:I,s:s,s:s}", "item", (json_int_t)k->index, "field",
	                                path, "problem", msg));
}

/* A schema problem of the variables at prefix (".variables" or ".variable.value"). */
static void problem_schema(struct checker *k, const char *prefix, const struct schema_error *e)
{
	problem(k, prefix, "%s%s%s (%s in the project's variable schema)", e->path,
	        e->path[0] ? ": " : "", e->message, e->keyword[0] ? e->keyword : "a rule");
}

/* The item's externalId: present, not empty, not too long, not seen before in seen. */
static void check_external_id(struct checker *k, const json_t *item, json_t *seen)
{
	const json_t *id = json_object_get(item, "externalId");
	const char *s = json_string_value(id);
	const json_t *first;

	if (!s || !*s) {
		problem(k, ".externalId", "a non-empty string is required");
		return;
	}
	if (json_string_length(id) > JOB_ITEMS_EXTERNAL_ID_MAX ||
	    memchr(s, '\0', json_string_length(id))) {
		problem(k, ".externalId", "at most %d bytes, without NUL",
		        JOB_ITEMS_EXTERNAL_ID_MAX);
		return;
	}
	first = json_object_get(seen, s);
	if (first) {
		problem(k, ".externalId", "%s is already item %" JSON_INTEGER_FORMAT, s,
		        json_integer_value(first));
		return;
	}
	json_object_set_new(seen, s, json_integer((json_int_t)k->index));
}

/* The item's variables and variable, against the schema when there is one. */
static void check_variables(struct checker *k, const json_t *item, const struct schema *schema)
{
	const json_t *vars = json_object_get(item, "variables");
	const json_t *one = json_object_get(item, "variable");
	struct schema_error err = {0};
	const char *name;
	json_t *single;
	int r;

	if (vars && !json_is_null(vars) && !json_is_object(vars))
		problem(k, ".variables", "must be an object");
	else if (schema && json_is_object(vars) && schema_validate_partial(schema, vars, &err) < 0)
		problem_schema(k, ".variables", &err);
	if (!one || json_is_null(one))
		return;
	name = json_string_value(json_object_get(one, "name"));
	if (!json_is_object(one) || !name || !*name || !json_object_get(one, "value")) {
		problem(k, ".variable", "must be an object with a name and a value");
		return;
	}
	if (!schema)
		return;
	if (!schema_names_property(schema, name)) {
		problem(k, ".variable.name", "the project's variable schema does not declare %s",
		        name);
		return;
	}
	single = json_pack("{s:O}", name, json_object_get(one, "value"));
	r = single ? schema_validate_partial(schema, single, &err) : -ENOMEM;
	json_decref(single);
	if (r == -EBADMSG)
		problem_schema(k, ".variable.value", &err);
}

struct job_items *job_items_new(const struct schema *schema, size_t max_problems)
{
	struct job_items *k = xcalloc(1, sizeof(*k));

	k->out = (struct job_items_check){.problems = json_array()};
	k->k = (struct checker){.out = &k->out, .max_problems = max_problems};
	k->schema = schema;
	k->seen = json_object();
	return k;
}

void job_items_free(struct job_items *k)
{
	if (!k)
		return;
	job_items_check_fini(&k->out);
	json_decref(k->seen);
	json_array_text_fini(&k->good);
	free(k);
}

void job_items_set_good(struct job_items *k, job_items_good_fn fn, void *userdata)
{
	k->good_fn = fn;
	k->good_userdata = userdata;
}

void job_items_add(struct job_items *k, const json_t *item, const char *unreadable)
{
	k->k.bad = false;
	if (unreadable) {
		problem(&k->k, "", "not JSON: %s", unreadable);
	} else if (!json_is_object(item)) {
		problem(&k->k, "", "must be an object with an externalId");
	} else {
		check_external_id(&k->k, item, k->seen);
		check_variables(&k->k, item, k->schema);
	}
	if (k->k.bad)
		k->out.refused++;
	else if (k->good_fn)
		k->good_fn(k->good_userdata, k->k.index, item);
	else
		json_array_text_add(&k->good, item);
	k->k.index++;
}

int job_items_finish(struct job_items *k, char **ret_text, size_t *ret_len, size_t *ret_n,
                     struct job_items_check *ret)
{
	*ret_n = k->k.index - k->out.refused;
	*ret_text = json_array_text_take(&k->good, ret_len);
	*ret = k->out;
	k->out = (struct job_items_check){0};
	return ret->total ? -EINVAL : 0;
}

int job_items_check(const json_t *items, const struct schema *schema, size_t max_problems,
                    struct job_items_check *ret)
{
	struct job_items *k = job_items_new(schema, max_problems);
	_cleanup_free_ char *text = NULL;
	const json_t *item;
	size_t i, len, n;
	int r;

	json_array_foreach (items, i, item)
		job_items_add(k, item, NULL);
	r = job_items_finish(k, &text, &len, &n, ret);
	job_items_free(k);
	ret->good = json_loadb(text, len, 0, NULL);
	if (!ret->good)
		abort(); /* our own text: only on out of memory */
	return r;
}

void job_items_check_fini(struct job_items_check *c)
{
	json_decref(c->good);
	json_decref(c->problems);
	*c = (struct job_items_check){0};
}
