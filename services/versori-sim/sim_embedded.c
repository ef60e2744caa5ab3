/* Embedded API v1 of the simulated Versori. */
#include "sim_embedded.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "sim_json.h"
#include "sim_store.h"
#include "sim_vars.h"

/* A string member, or NULL when absent or of another type. */
static const char *str(const json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* Whether a string member equals s. */
static bool str_is(const json_t *o, const char *name, const char *s)
{
	const char *v = str(o, name);

	return v && s && strcmp(v, s) == 0;
}

/* The embedded template tid of an integration, or NULL. */
static const json_t *integration_template(const json_t *integ, const char *tid)
{
	const json_t *t;
	size_t i;

	json_array_foreach (json_object_get(integ, "connectionTemplates"), i, t)
		if (str_is(t, "id", tid))
			return t;
	return NULL;
}

/* Read userId, integrationId, connections and dynamicVariables; 404 for unknown ids. */
static int activation_parse_or_respond(struct sim_call *c, json_t *body, json_t **ret_user,
                                       json_t **ret_integ, json_t **ret_vars)
{
	const char *uid = str(body, "userId"), *iid = str(body, "integrationId");
	json_t *vars = json_object_get(body, "dynamicVariables");

	if (!uid || !*uid || !iid)
		return sim_call_fail(c, 400, uid && *uid ? "integrationId" : "userId",
		                     "userId and integrationId are required strings");
	if (!json_is_array(json_object_get(body, "connections")))
		return sim_call_fail(c, 400, "connections", "connections must be an array");
	if (vars && !json_is_object(vars) && !json_is_null(vars))
		return sim_call_fail(c, 400, "dynamicVariables",
		                     "dynamicVariables must be an object");
	if (!vars || json_is_null(vars))
		json_object_set_new(body, "dynamicVariables", json_object());
	*ret_vars = json_object_get(body, "dynamicVariables");
	if (!(*ret_user = sim_store_user_find(c->org, uid)))
		return sim_call_fail(c, 404, "userId", "end user %s not found", uid);
	if (!(*ret_integ = sim_store_get(c->org, "integrations", iid)))
		return sim_call_fail(c, 404, "integrationId", "integration %s not found", iid);
	return 0;
}

/* 409 when the user already activated the integration, unless the switch allows it. */
static int activation_dup_or_respond(struct sim_call *c, const json_t *user, const json_t *integ)
{
	const char *key;
	json_t *act;

	if (c->store->switches.dup_activation == SIM_DUP_ACTIVATION_ALLOW)
		return 0;
	json_object_foreach (json_object_get(c->org, "embeddedActivations"), key, act)
		if (str_is(act, "userId", str(user, "id")) &&
		    str_is(act, "integrationId", str(integ, "id")))
			return sim_call_fail(c, 409, "userId",
			                     "end user %s already activated integration %s",
			                     str(user, "externalId"), str(integ, "id"));
	return 0;
}

/* Bind one entry: {templateId, connectionId} or {templateId, name, credentials, variables}. */
static int activation_bind_one(struct sim_call *c, const json_t *e, size_t i, const json_t *integ,
                               json_t *plan)
{
	char field[64];
	const char *tid = str(e, "templateId"), *cid = str(e, "connectionId");
	const json_t *conn;

	(void)snprintf(field, sizeof(field), "connections[%zu]", i);
	if (!tid)
		return sim_call_fail(c, 400, field, "%s.templateId is required", field);
	if (!integration_template(integ, tid))
		return sim_call_fail(c, 400, field,
		                     "%s is not a connection template of integration %s", tid,
		                     str(integ, "id"));
	if (json_object_get(plan, tid))
		return sim_call_fail(c, 400, field, "connection template %s is bound twice", tid);
	if (!cid) {
		/* Embedded credentials are {action: [...], trigger: [...]} (reference §4): accepted
		 * but not kept (the stored connection gets none); a v2-style array is kept. */
		const json_t *creds = json_object_get(e, "credentials"), *cr;
		size_t k;

		if (!str(e, "name") || !(json_is_object(creds) || json_is_array(creds)))
			return sim_call_fail(
			    c, 400, field, "%s needs connectionId, or name and credentials", field);
		json_array_foreach (creds, k, cr)
			if (!sim_store_credential_valid(cr))
				return sim_call_fail(c, 400, field,
				                     "%s.credentials[%zu] must be an object whose "
				                     "authSchemeConfig, if any, has a known type",
				                     field, k);
		return json_object_set(plan, tid, (json_t *)e);
	}
	conn = sim_store_get(c->org, "connections", cid);
	if (!conn)
		return sim_call_fail(c, 404, field, "connection %s not found", cid);
	if (!str_is(conn, "connectionTemplateId", tid))
		return sim_call_fail(c, 400, field, "connection %s belongs to another template",
		                     cid);
	return json_object_set_new(plan, tid, json_string(cid));
}

/* Every template of the integration bound exactly once; *ret_plan maps template -> binding. */
static int activation_bind_or_respond(struct sim_call *c, const json_t *conns, const json_t *integ,
                                      json_t **ret_plan)
{
	json_auto_t *plan = json_object();
	const json_t *e, *t;
	size_t i;

	json_array_foreach (conns, i, e) {
		int r = json_is_object(e) ? activation_bind_one(c, e, i, integ, plan)
		                          : sim_call_fail(c, 400, "connections",
		                                          "connections[%zu] must be an object", i);

		if (r < 0)
			return r;
	}
	json_array_foreach (json_object_get(integ, "connectionTemplates"), i, t)
		if (!json_object_get(plan, str(t, "id")))
			return sim_call_fail(c, 400, "connections",
			                     "missing connection for connection template %s",
			                     str(t, "id"));
	*ret_plan = TAKE_PTR(plan);
	return 0;
}

/* Create inline connections (owned by the user), the user's primary connection if it has
 * none yet (every embedded end user has one) and the activation. */
static json_t *activation_commit(struct sim_call *c, json_t *user, const json_t *integ,
                                 const json_t *plan, const json_t *vars)
{
	char id[SIM_ULID_SIZE], ts[SIM_TIMESTAMP_SIZE];
	json_t *bound = json_array();
	const char *tid;
	json_t *b, *act;

	json_object_foreach ((json_t *)plan, tid, b) {
		json_t *cid = b;

		if (!json_is_string(b)) {
			const struct sim_connection_spec spec = {
			    .template_id = tid,
			    .create = b,
			    .end_user_id = str(user, "id"),
			};

			cid = json_object_get(
			    sim_store_connection_add(c->store, c->org, c->now_ms, &spec), "id");
		}
		json_array_append_new(
		    bound, json_pack("{s:s,s:O}", "templateId", tid, "connectionId", cid));
	}
	(void)sim_store_user_primary_connection(c->store, user, c->now_ms);
	sim_store_ulid(c->store, c->now_ms, id);
	sim_store_timestamp(c->now_ms, ts);
	act = json_pack("{s:s,s:O,s:O,s:O,s:o,s:O,s:s,s:s}", "id", id, "userId",
	                json_object_get(user, "id"), "integrationId", json_object_get(integ, "id"),
	                "hubId", json_object_get(integ, "hubId"), "connections", bound,
	                "dynamicVariables", vars, "createdAt", ts, "updatedAt", ts);
	json_object_set_new(json_object_get(c->org, "embeddedActivations"), id, act);
	return act;
}

/* Check vars against the integration's variables schema (compiled when it was stored). */
static int integration_vars_check_or_respond(struct sim_call *c, const json_t *integ,
                                             const json_t *vars)
{
	const struct schema *schema;

	if (sim_store_schema_get(c->store, c->org, "integrations", integ, &schema) < 0)
		return sim_call_fail(c, 500, NULL, "stored variables schema does not compile");
	return sim_vars_check_or_respond(c, schema, vars, false, "dynamicVariables.");
}

/* POST /activations: 200 Activation. */
static int activation_create(struct sim_call *c)
{
	json_auto_t *body = sim_call_body_or_respond(c);
	json_auto_t *plan = NULL;
	json_t *user = NULL, *integ = NULL, *vars = NULL;
	int r;

	if (!body)
		return sim_call_answered(c);
	if ((r = activation_parse_or_respond(c, body, &user, &integ, &vars)) < 0 ||
	    (r = activation_dup_or_respond(c, user, integ)) < 0 ||
	    (r = activation_bind_or_respond(c, json_object_get(body, "connections"), integ,
	                                    &plan)) < 0 ||
	    (r = integration_vars_check_or_respond(c, integ, vars)) < 0)
		return r;
	return sim_call_reply(
	    c, 200,
	    sim_json_embedded_activation(c->org, activation_commit(c, user, integ, plan, vars)));
}

/* The embedded activation of path parameter 0, or NULL after a 404. */
static json_t *activation_or_404(struct sim_call *c)
{
	json_t *act = sim_store_get(c->org, "embeddedActivations", c->params[0]);

	if (!act)
		(void)sim_call_fail(c, 404, NULL, "activation %s not found", c->params[0]);
	return act;
}

/* GET /activations/{activation}. */
static int activation_get(struct sim_call *c)
{
	json_t *act = activation_or_404(c);

	return act ? sim_call_reply(c, 200, sim_json_embedded_activation(c->org, act)) : -ENOENT;
}

/* DELETE /activations/{activation}: 204. */
static int activation_delete(struct sim_call *c)
{
	if (!activation_or_404(c))
		return -ENOENT;
	json_object_del(json_object_get(c->org, "embeddedActivations"), c->params[0]);
	return sim_call_reply(c, 204, NULL);
}

/* PUT /activations/{activation}/variables {"dynamicVariables": {...}}: replaces the map. */
static int activation_vars_put(struct sim_call *c)
{
	json_t *act = activation_or_404(c);
	json_auto_t *body = NULL;
	const json_t *integ;
	json_t *vars;
	int r;

	if (!act || !(body = sim_call_body_or_respond(c)))
		return sim_call_answered(c);
	vars = json_object_get(body, "dynamicVariables");
	if (!json_is_object(vars))
		return sim_call_fail(c, 400, "dynamicVariables",
		                     "dynamicVariables must be an object");
	integ = sim_store_get(c->org, "integrations", str(act, "integrationId"));
	if ((r = integration_vars_check_or_respond(c, integ, vars)) < 0)
		return r;
	json_object_set(act, "dynamicVariables", vars);
	return sim_call_reply(c, 200, json_pack("{s:O}", "dynamicVariables", vars));
}

/* GET /embed/{hub}/users/{user}/activations?integration_id=: the end user's activations in
 * the hub (ListEndUserActivations), paged by first/after/before; the user by external id
 * (the embedded API's default identifier) or id. */
static int user_activations(struct sim_call *c)
{
	_cleanup_free_ char *integ = sim_call_query(c, "integration_id");
	const json_t *user = sim_store_user_find(c->org, c->params[1]);
	json_t *items, *page = NULL, *act;
	const char *key;

	if (!user)
		return sim_call_fail(c, 404, NULL, "end user %s not found", c->params[1]);
	items = json_array();
	json_object_foreach (json_object_get(c->org, "embeddedActivations"), key, act)
		if (str_is(act, "hubId", c->params[0]) && str_is(act, "userId", str(user, "id")) &&
		    (!integ || str_is(act, "integrationId", integ)))
			json_array_append_new(items,
			                      sim_json_embedded_activation_summary(c->org, act));
	if (sim_call_page_or_respond(c, items, "activations", "id", &page) < 0)
		return -EINVAL;
	return sim_call_reply(c, 200, page);
}

/* GET /healthz. */
static int healthz(struct sim_call *c)
{
	return sim_call_reply(c, 200, json_pack("{s:s}", "message", "ok"));
}

#define EMB           "/api/embedded/v1"
#define NOT_SIMULATED SIM_ROUTE_NOT_SIMULATED_ENTRY

const struct sim_route sim_embedded_routes[] = {
    {"POST " EMB "/activations", activation_create, 0},
    {"GET " EMB "/activations/{activation}", activation_get, 0},
    {"DELETE " EMB "/activations/{activation}", activation_delete, 0},
    {"PUT " EMB "/activations/{activation}/variables", activation_vars_put, 0},
    {"GET " EMB "/embed/{hub}/users/{user}/activations", user_activations, 0},
    {"GET " EMB "/healthz", healthz, SIM_ROUTE_PUBLIC},
    NOT_SIMULATED("* " EMB "/o/{org}/hubs"),
    NOT_SIMULATED("* " EMB "/hubs/**"),
    NOT_SIMULATED("* " EMB "/integrations/**"),
    NOT_SIMULATED("* " EMB "/embed/**"),
};
const size_t sim_embedded_n_routes = ELEMENTSOF(sim_embedded_routes);
