/* Dynamic-variable checks. */
#include "sim_vars.h"

#include <errno.h>
#include <string.h>

#include "schema.h"
#include "sim_call.h"

/* Whether schema declares a top-level variable. */
bool sim_vars_declared(const struct schema *schema, const char *name)
{
	return schema && schema_names_property(schema, name);
}

/* Whether unknown top-level keys are rejected: unless additionalProperties allows them. */
static bool rejects_unknown(const struct schema *schema)
{
	const json_t *extra = json_object_get(schema_document(schema), "additionalProperties");

	return !extra || json_is_false(extra);
}

/* The first key that is null or undeclared; answers 400 naming "<prefix><key>". */
static int check_keys_or_respond(struct sim_call *c, const struct schema *schema,
                                 const json_t *vars, const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)vars, key, v) {
		_cleanup_free_ char *field = xasprintf("%s%s", prefix, key);

		if (json_is_null(v)) {
			sim_call_fail(c, 400, field, "%s: null values are not allowed", field);
			return -EINVAL;
		}
		if (schema && rejects_unknown(schema) && !sim_vars_declared(schema, key)) {
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

/* Check variables against the (already compiled) schema. */
int sim_vars_check_or_respond(struct sim_call *c, const struct schema *schema, const json_t *vars,
                              bool partial, const char *prefix)
{
	struct schema_error se = {{0}};
	int r;

	if (check_keys_or_respond(c, schema, vars, prefix) < 0)
		return -EINVAL;
	if (!schema)
		return 0;
	r = partial ? schema_validate_partial(schema, vars, &se)
	            : schema_validate(schema, vars, &se);
	if (r == -ENOMEM) {
		sim_call_fail(c, 500, NULL, "out of memory");
		return -EINVAL;
	}
	if (r < 0) {
		fail_schema(c, prefix, &se);
		return -EINVAL;
	}
	return 0;
}
