/* Routing of an accepted delivery into a job request (delivery_route.h). */
#include "delivery_route.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "job_secrets.h"
#include "json.h"
#include "secret_value.h"
#include "versori_request.h"

/* {"error": why} as a new string. */
static _printf_(1, 2) char *route_error(const char *fmt, ...)
{
	_cleanup_free_ char *why = NULL;
	json_auto_t *o = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	o = json_pack("{s:s}", "error", why);
	return o ? json_dumps(o, JSON_COMPACT) : NULL;
}

/* The route a by-field source picks for this body; ROUTE_STORE (with *ret_error) if none. */
static enum route route_pick(const struct source_config *src, const json_t *doc, char **ret_error)
{
	const json_t *v = json_pointer_get(doc, src->kind_pointer);
	const char *s = json_string_value(v);

	if (!s) {
		*ret_error = route_error("%s: %s", src->kind_pointer,
		                         v ? "not a string" : "missing from the body");
		return ROUTE_STORE;
	}
	for (size_t i = 0; i < src->n_kinds; i++)
		if (strcmp(src->kinds[i].value, s) == 0)
			return src->kinds[i].route;
	*ret_error = route_error("%s: no route for \"%s\" (kinds)", src->kind_pointer, s);
	return ROUTE_STORE;
}

/* The end user's externalId: a non-empty string, or an integer written as one. */
static char *route_external_id(const struct source_config *src, const json_t *doc, char **ret_error)
{
	const json_t *v = json_pointer_get(doc, src->external_id_pointer);
	char *id = json_is_string(v) || json_is_integer(v) ? json_scalar_to_string(v) : NULL;

	if (!id || !*id || strlen(id) > VERSORI_EXTERNAL_ID_MAX) {
		*ret_error = route_error("%s: %s", src->external_id_pointer,
		                         !v   ? "missing from the body"
		                         : id ? "empty or longer than 1024 bytes"
		                              : "not a string");
		free(id);
		return NULL;
	}
	return id;
}

/* The job's parameters: job_parameters and the environment (the body's, else the source's). */
static json_t *route_parameters(const struct source_config *src, const json_t *doc,
                                char **ret_error)
{
	const json_t *v = json_pointer_get(doc, src->environment_pointer);
	const char *env = v ? json_string_value(v) : src->environment_id;
	json_t *params = src->job_parameters ? json_loads(src->job_parameters, 0, NULL) : NULL;

	if (v && (!env || !versori_ulid_is_valid(env))) {
		*ret_error =
		    route_error("%s: not an environment id (a ULID)", src->environment_pointer);
		json_decref(params);
		return NULL;
	}
	if (!env) {
		*ret_error =
		    route_error("no environment: %s is missing from the body and the source "
		                "has no environment_id",
		                src->environment_pointer);
		json_decref(params);
		return NULL;
	}
	if (!params)
		params = json_object();
	json_object_set_new(params, "environmentId", json_string(env));
	return params;
}

/* The item: externalId, and the display name and variables the body gives. */
static json_t *route_item(const struct source_config *src, enum route route, const json_t *doc,
                          char **ret_error)
{
	_cleanup_free_ char *id = route_external_id(src, doc, ret_error);
	const json_t *name = json_pointer_get(doc, src->display_name_pointer);
	const json_t *vars = json_pointer_get(doc, src->variables_pointer);
	json_t *item;

	if (!id)
		return NULL;
	if (name && !json_is_string(name)) {
		*ret_error = route_error("%s: not a string", src->display_name_pointer);
		return NULL;
	}
	if (vars && (!json_is_object(vars) || json_object_size(vars) == 0)) {
		*ret_error = route_error("%s: not a non-empty object", src->variables_pointer);
		return NULL;
	}
	if (route == ROUTE_VARIABLES && !vars) {
		*ret_error = route_error("%s: missing from the body (route variables)",
		                         src->variables_pointer);
		return NULL;
	}
	item = json_pack("{s:s}", "externalId", id);
	if (name && route == ROUTE_PROVISION)
		json_object_set(item, "displayName", (json_t *)name);
	if (vars && route != ROUTE_REMOVE)
		json_object_set(item, "variables", (json_t *)vars);
	return item;
}

char *delivery_route_build(const struct source_config *src, const void *body, size_t len)
{
	json_auto_t *doc = NULL, *out = NULL;
	json_t *params, *item;
	enum route route = src->route;
	char *error = NULL;

	if (route == ROUTE_STORE)
		return NULL;
	if (json_body_parse(body, len, &doc, NULL) < 0 || !json_is_object(doc))
		return route_error("the body is not a JSON object");
	if (route == ROUTE_BY_FIELD && (route = route_pick(src, doc, &error)) == ROUTE_STORE)
		return error;
	params = route_parameters(src, doc, &error);
	if (!params)
		return error;
	item = route_item(src, route, doc, &error);
	if (!item) {
		json_decref(params);
		return error;
	}
	out = json_pack("{s:s, s:s, s:o, s:o}", "kind", route_job_kind(route), "organisation",
	                src->organisation, "parameters", params, "item", item);
	return out ? json_dumps(out, JSON_COMPACT) : NULL;
}

void delivery_route_seal(char **route, const struct job_secrets *s)
{
	json_auto_t *doc = NULL;
	_cleanup_free_ char *field = NULL;
	char *text;
	int r;

	if (!*route || !(doc = json_loads(*route, 0, NULL)) || json_object_get(doc, "error"))
		return;
	r = job_secrets_seal(s, json_object_get(doc, "parameters"), json_object_get(doc, "item"),
	                     &field);
	if (r == -ENOKEY)
		text = route_error("%s is secret and no secrets_key is configured to store it "
		                   "encrypted",
		                   field);
	else if (r == -ENODATA)
		text =
		    route_error("%s was withheld when the delivery arrived (no secrets_key then): "
		                "the body does not hold it",
		                field);
	else if (r < 0)
		text = route_error("%s could not be encrypted", field ? field : "a secret value");
	else
		text = json_dumps(doc, JSON_COMPACT);
	if (!text)
		abort(); /* only on out of memory */
	free(*route);
	*route = text;
}

int delivery_route_seal_body(const struct source_config *src, const void *body, size_t len,
                             const struct job_secrets *s, char **ret_body, size_t *ret_len)
{
	json_auto_t *doc = NULL;
	json_t *vars, *v;
	const char *name;
	bool changed = false;

	if (src->route == ROUTE_STORE || (!s->names && !s->schema) ||
	    json_body_parse(body, len, &doc, NULL) < 0)
		return 0;
	vars = (json_t *)json_pointer_get(doc, src->variables_pointer);
	json_object_foreach (vars, name, v) {
		json_t *sealed;

		if (!job_secrets_variable(s, name) || secret_value_is_sealed(v))
			continue;
		/* Without a key the value is withheld: never stored in clear, never sent. */
		sealed = s->keys ? secret_value_seal(s->keys, v)
		                 : json_pack("{s:s}", JOB_SECRETS_WITHHELD, "no secrets_key");
		if (!sealed)
			return -EIO;
		json_object_set_new(vars, name, sealed);
		changed = true;
	}
	if (!changed)
		return 0;
	*ret_body = json_dumps(doc, JSON_COMPACT);
	if (!*ret_body)
		return -ENOMEM;
	*ret_len = strlen(*ret_body);
	return 1;
}
