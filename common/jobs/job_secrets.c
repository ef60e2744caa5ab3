/* Secret values of a job (job_secrets.h). */
#include "job_secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "secret_value.h"
#include "xalloc.h"

/* Whether the comma-separated list holds name (blanks around names ignored). */
static bool names_hold(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool job_secrets_property(const json_t *property)
{
	const char *format = json_string_value(json_object_get(property, "format"));

	return json_is_true(json_object_get(property, "writeOnly")) ||
	       (format && strcmp(format, "password") == 0);
}

bool job_secrets_variable(const struct job_secrets *s, const char *name)
{
	if (!name)
		return false;
	return job_secrets_property(
	           json_object_get(json_object_get(s->schema, "properties"), name)) ||
	       names_hold(s->names, name);
}

/* Seal the value of obj's member name in place; field names it for errors. */
static int seal_member(const struct job_secrets *s, json_t *obj, const char *name,
                       const char *field, char **ret_field)
{
	const json_t *v = json_object_get(obj, name);
	json_t *sealed;

	if (!v || secret_value_is_sealed(v))
		return 0;
	if (json_is_object(v) && json_object_get(v, JOB_SECRETS_WITHHELD)) {
		/* Withheld when it arrived (no key then): nothing to send. */
		if (ret_field && !*ret_field)
			*ret_field = xstrdup(field);
		return -ENODATA;
	}
	if (!s->keys || !(sealed = secret_value_seal(s->keys, v))) {
		if (ret_field && !*ret_field)
			*ret_field = xstrdup(field);
		return s->keys ? -EIO : -ENOKEY;
	}
	json_object_set_new(obj, name, sealed);
	return 0;
}

/* Seal the credentials of the connections the parameters create. */
static int seal_parameters(const struct job_secrets *s, json_t *parameters, char **ret_field)
{
	json_t *dyn = json_object_get(parameters, "dynamicConnections"), *conn;
	const char *tid;
	int r;

	json_object_foreach (dyn, tid, conn) {
		const json_t *creds = json_object_get(conn, "credentials");
		_cleanup_free_ char *field = NULL;

		/* An empty list holds nothing to hide (a template needing no credential). */
		if (!json_is_object(conn) || (json_is_array(creds) && json_array_size(creds) == 0))
			continue;
		field = xasprintf("parameters.dynamicConnections.%s.credentials", tid);
		r = seal_member(s, conn, "credentials", field, ret_field);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Seal an item's secret variables. */
static int seal_item(const struct job_secrets *s, json_t *item, char **ret_field)
{
	json_t *vars = json_object_get(item, "variables"), *v,
	       *one = json_object_get(item, "variable");
	const char *name;
	int r;

	json_object_foreach (vars, name, v) {
		_cleanup_free_ char *field = NULL;

		if (!job_secrets_variable(s, name))
			continue;
		field = xasprintf("variables.%s", name);
		r = seal_member(s, vars, name, field, ret_field);
		if (r < 0)
			return r;
	}
	name = json_string_value(json_object_get(one, "name"));
	if (json_is_object(one) && job_secrets_variable(s, name)) {
		_cleanup_free_ char *field = xasprintf("variable.value (%s)", name);

		r = seal_member(s, one, "value", field, ret_field);
		if (r < 0)
			return r;
	}
	return 0;
}

int job_secrets_seal(const struct job_secrets *s, json_t *parameters, json_t *item,
                     char **ret_field)
{
	int r = json_is_object(parameters) ? seal_parameters(s, parameters, ret_field) : 0;

	if (r == 0 && json_is_object(item))
		r = seal_item(s, item, ret_field);
	return r;
}
