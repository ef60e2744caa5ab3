/* The simulator's response shapes. */
#include "sim_json.h"

#include <string.h>

#include "sim_store.h"

/* A new reference to a member, or null when absent. */
static json_t *member(const json_t *e, const char *name)
{
	json_t *v = json_object_get(e, name);

	return v ? json_incref(v) : json_null();
}

/* Copy the named members of src that are present into dst. */
static void copy_members(json_t *dst, const json_t *src, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(src, names[i]);

		if (v)
			json_object_set(dst, names[i], v);
	}
}

/* EndUser. */
json_t *sim_json_user(const json_t *org, const json_t *user)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "id", member(user, "id"), "externalId",
	                 member(user, "externalId"), "displayName", member(user, "displayName"),
	                 "organisationId", member(org, "id"), "createdAt",
	                 member(user, "createdAt"), "updatedAt", member(user, "updatedAt"));
}

/* ProjectEnvironment. Nothing is deployed in the simulator: no files (an array of File), no
 * labels, an empty config, and no deployedVersion (a ProjectVersion object when present, so
 * it is left out rather than null). */
json_t *sim_json_environment(const json_t *env)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:[],s:{},s:{}}", "id", member(env, "id"),
	                 "name", member(env, "name"), "status", member(env, "status"), "createdAt",
	                 member(env, "createdAt"), "updatedAt", member(env, "updatedAt"),
	                 "publicUrl", member(env, "publicUrl"), "executionPool", "", "files",
	                 "labels", "config");
}

/* Connection with credentials reduced to their ids and auth scheme configs. */
json_t *sim_json_connection(const json_t *conn)
{
	static const char *const names[] = {"id",        "name",      "baseUrl",
	                                    "createdAt", "updatedAt", "connectionTemplateId"};
	json_t *o = json_object();
	json_t *creds = json_array();
	const json_t *cr;
	size_t i;

	copy_members(o, conn, names, ELEMENTSOF(names));
	json_array_foreach (json_object_get(conn, "credentials"), i, cr) {
		json_t *c = json_pack("{s:o}", "id", member(cr, "id"));

		if (json_object_get(cr, "authSchemeConfig"))
			json_object_set(c, "authSchemeConfig",
			                json_object_get(cr, "authSchemeConfig"));
		json_array_append_new(creds, c);
	}
	json_object_set_new(o, "credentials", creds);
	if (json_is_string(json_object_get(conn, "systemId")))
		json_object_set(o, "systemId", json_object_get(conn, "systemId"));
	return o;
}

/* Activation with its user, environment and connections resolved. */
json_t *sim_json_activation(const json_t *org, const json_t *act)
{
	const json_t *user =
	    sim_store_get(org, "users", json_string_value(json_object_get(act, "userId")));
	const json_t *env = sim_store_get(org, "environments",
	                                  json_string_value(json_object_get(act, "environmentId")));
	json_t *conns = json_array();
	const json_t *id;
	json_t *o;
	size_t i;

	json_array_foreach (json_object_get(act, "connections"), i, id) {
		const json_t *conn = sim_store_get(org, "connections", json_string_value(id));

		if (conn)
			json_array_append_new(conns, sim_json_connection(conn));
	}
	o = json_pack("{s:o,s:o,s:o,s:o}", "id", member(act, "id"), "user",
	              sim_json_user(org, user), "connections", conns, "dynamicVariables",
	              member(act, "dynamicVariables"));
	/* The store keeps every activation's environment; optional in the shape, never null. */
	if (env)
		json_object_set_new(o, "environment", sim_json_environment(env));
	return o;
}

/* The static activation: id and user are the environment's, variables its static ones. */
json_t *sim_json_static_activation(const json_t *org, const json_t *env)
{
	json_t *user =
	    json_pack("{s:o,s:s,s:s,s:o,s:o,s:o}", "id", member(env, "id"), "externalId", "static",
	              "displayName", "Static User", "organisationId", member(org, "id"),
	              "createdAt", member(env, "createdAt"), "updatedAt", member(env, "updatedAt"));

	return json_pack("{s:o,s:o,s:o,s:[],s:o}", "id", member(env, "id"), "user", user,
	                 "environment", sim_json_environment(env), "connections",
	                 "dynamicVariables", member(env, "staticVariables"));
}

/* ConnectionTemplate: the system's details under the template's name and flag. */
json_t *sim_json_template(const json_t *org, const json_t *tpl)
{
	const json_t *sys =
	    sim_store_get(org, "systems", json_string_value(json_object_get(tpl, "systemId")));
	const char *name = json_string_value(json_object_get(tpl, "name"));

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", member(tpl, "systemId"),
	                 "connectionTemplateId", member(tpl, "id"), "environmentId",
	                 member(tpl, "environmentId"), "name",
	                 name && *name ? member(tpl, "name") : member(sys, "name"), "domain",
	                 member(sys, "domain"), "dynamic", member(tpl, "dynamic"),
	                 "authSchemeConfigs", member(sys, "authSchemeConfigs"), "templateBaseUrl",
	                 member(sys, "templateBaseUrl"));
}

/* System. */
json_t *sim_json_system(const json_t *sys)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "id", member(sys, "id"), "name",
	                 member(sys, "name"), "domain", member(sys, "domain"), "templateBaseUrl",
	                 member(sys, "templateBaseUrl"), "authSchemeConfigs",
	                 member(sys, "authSchemeConfigs"));
}

/* Project or ProjectSummary. */
json_t *sim_json_project(const json_t *org, const json_t *project, bool full)
{
	const char *pid = json_string_value(json_object_get(project, "id"));
	json_t *envs = json_array();
	const char *key;
	json_t *env;
	json_t *o;

	json_object_foreach (json_object_get(org, "environments"), key, env)
		if (strcmp(json_string_value(json_object_get(env, "projectId")), pid) == 0)
			json_array_append_new(envs, sim_json_environment(env));
	o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "id", member(project, "id"), "name",
	              member(project, "name"), "environments", envs, "createdAt",
	              member(project, "createdAt"), "updatedAt", member(project, "updatedAt"),
	              "starred", member(project, "starred"));
	if (full) {
		json_object_set_new(o, "currentFiles", json_pack("{s:[],s:{}}", "files", "labels"));
		json_object_set_new(o, "settings", json_object());
		json_object_set_new(o, "metadata", json_object());
		if (!json_is_null(json_object_get(project, "dynamicVariablesSchema")))
			json_object_set(o, "dynamicVariablesSchema",
			                json_object_get(project, "dynamicVariablesSchema"));
	}
	return o;
}

/* Scheduler (snake_case environment_id, as upstream). */
json_t *sim_json_scheduler(const json_t *sched)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "id", member(sched, "id"), "name",
	                 member(sched, "name"), "schedule", member(sched, "schedule"), "url",
	                 member(sched, "url"), "environment_id", member(sched, "environment_id"));
}

/* EmbeddedIntegrationSummary with the variables schema. */
static json_t *integration_summary(const json_t *integ)
{
	json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:b}", "id", member(integ, "id"), "name",
	                      member(integ, "name"), "imageUrl", member(integ, "imageUrl"),
	                      "description", member(integ, "description"), "isDeployed",
	                      member(integ, "isDeployed"), "isActivated", 1);

	if (!json_is_null(json_object_get(integ, "variablesSchema")))
		json_object_set(o, "variablesSchema", json_object_get(integ, "variablesSchema"));
	return o;
}

/* The embedded Connection of a user's primary connection: no credentials or variables are
 * simulated, so both collections are empty (of their documented types). */
static json_t *primary_connection(const json_t *user)
{
	const json_t *pc = json_object_get(user, "primaryConnection");

	return json_pack("{s:o,s:o,s:{s:[],s:[]},s:[],s:o,s:o}", "id", member(pc, "id"), "name",
	                 member(pc, "name"), "credentials", "action", "trigger", "variables",
	                 "createdAt", member(pc, "createdAt"), "updatedAt",
	                 member(pc, "updatedAt"));
}

/* Embedded Activation; the user carries the integration's hub and its primary connection. */
json_t *sim_json_embedded_activation(const json_t *org, const json_t *act)
{
	const json_t *user =
	    sim_store_get(org, "users", json_string_value(json_object_get(act, "userId")));
	const json_t *integ = sim_store_get(
	    org, "integrations", json_string_value(json_object_get(act, "integrationId")));
	json_t *u = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", member(user, "id"),
	                      "externalId", member(user, "externalId"), "displayName",
	                      member(user, "displayName"), "hubId", member(act, "hubId"),
	                      "primaryConnection", primary_connection(user), "createdAt",
	                      member(user, "createdAt"), "updatedAt", member(user, "updatedAt"));

	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "id", member(act, "id"), "user", u, "hubId",
	                 member(act, "hubId"), "integration", integration_summary(integ),
	                 "dynamicVariables", member(act, "dynamicVariables"));
}

/* An entry of EndUserActivationPage: {id, hubId, integration} (OAS-E). */
json_t *sim_json_embedded_activation_summary(const json_t *org, const json_t *act)
{
	const json_t *integ = sim_store_get(
	    org, "integrations", json_string_value(json_object_get(act, "integrationId")));

	return json_pack("{s:o,s:o,s:o}", "id", member(act, "id"), "hubId", member(act, "hubId"),
	                 "integration", integration_summary(integ));
}

/* PublicKey. */
json_t *sim_json_public_key(const json_t *key)
{
	return json_pack("{s:o,s:o,s:o,s:o}", "id", member(key, "id"), "name", member(key, "name"),
	                 "publicKey", member(key, "publicKey"), "createdAt",
	                 member(key, "createdAt"));
}
