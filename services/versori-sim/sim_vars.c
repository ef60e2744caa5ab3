/* Dynamic-variable checks. */
#include "sim_vars.h"

#include <errno.h>
#include <string.h>

#include "schema.h"
#include "sim_call.h"

/* Whether schema declares a top-level property. */
bool sim_vars_declared(const json_t *schema, const char *name)
{
	return json_object_get(json_object_get(schema, "properties"), name) != NULL;
}

/* Whether unknown top-level keys are rejected: unless additionalProperties allows them. */
static bool rejects_unknown(const json_t *schema)
{
	const json_t *extra = json_object_get(schema, "additionalProperties");

	return !extra || json_is_false(extra);
}

/* The first key that is null or undeclared; answers 400 naming "<prefix><key>". */
static int check_keys_or_respond(struct sim_call *c, const json_t *schema, const json_t *vars,
                                 const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)vars, key, v) {
		_cleanup_free_ char *field = xasprintf("%s%s", prefix, key);

		if (json_is_null(v)) {
			sim_call_fail(c, 400, field, "%s: null values are not allowed", field);
			return -EINVAL;
		}
		if (!json_is_null(schema) && rejects_unknown(schema) &&
		    !sim_vars_declared(schema, key)) {
			sim_call_fail(c, 400, field,
			              "%s: unknown variable, not declared in the schema", field);
			return -EINVAL;
		}
	}
	return 0;
}

/* Answer 400 for a schema violation, naming "<prefix><path>". */
static void fail_schema(struct sim_call *c, const char *prefix, const struct schema_error *se)
{
	_cleanup_free_ char *field = NULL;
	size_t plen = strlen(prefix);

	if (se->path[0])
		field = xasprintf("%s%s", prefix, se->path);
	else
		field = xstrndup(prefix, plen && prefix[plen - 1] == '.' ? plen - 1 : plen);
	sim_call_fail(c, 400, *field ? field : NULL, "variables failed validation: %s: %s",
	              *field ? field : "value", se->message);
}

/* Check variables against the schema. */
int sim_vars_check_or_respond(struct sim_call *c, const json_t *schema, const json_t *vars,
                              bool partial, const char *prefix)
{
	json_auto_t *doc = NULL;
	struct schema *s = NULL;
	struct schema_error se;
	int r;

	if (!schema)
		schema = json_null();
	if (check_keys_or_respond(c, schema, vars, prefix) < 0)
		return -EINVAL;
	if (json_is_null(schema))
		return 0;
	doc = json_deep_copy(schema);
	if (partial)
		json_object_del(doc, "required");
	if (schema_compile(doc, &s, &se) < 0) {
		sim_call_fail(c, 500, NULL, "stored variables schema does not compile: %s",
		              se.message);
		return -EINVAL;
	}
	r = schema_validate(s, vars, &se);
	schema_free(s);
	if (r < 0) {
		fail_schema(c, prefix, &se);
		return -EINVAL;
	}
	return 0;
}
