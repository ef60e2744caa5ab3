/* Platform API v2 of the simulated Versori. Path parameter 0 is always the organisation. */
#include "sim_v2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "schema.h"
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

/* The environment named by id, or NULL after a 404. */
static json_t *env_or_404(struct sim_call *c, const char *env_id, const char *field)
{
	json_t *env = sim_store_get(c->org, "environments", env_id);

	if (!env)
		sim_call_fail(c, 404, field, "environment %s not found", env_id ? env_id : "");
	return env;
}

/* The v2 activation act_id of environment env_id, or NULL after a 404. */
static json_t *activation_or_404(struct sim_call *c, const char *env_id, const char *act_id)
{
	json_t *act;

	if (!env_or_404(c, env_id, NULL))
		return NULL;
	act = sim_store_get(c->org, "activations", act_id);
	if (!act || !str_is(act, "environmentId", env_id)) {
		sim_call_fail(c, 404, NULL, "activation %s not found in environment %s", act_id,
		              env_id);
		return NULL;
	}
	return act;
}

/* The compiled variables schema of an environment's project in *ret (NULL when unset),
 * compiled when it was stored; -EIO after a 500 if it cannot be (out of memory). */
static int env_schema_or_respond(struct sim_call *c, const json_t *env, const struct schema **ret)
{
	const json_t *p = sim_store_get(c->org, "projects", str(env, "projectId"));

	if (sim_store_schema_get(c->store, c->org, "projects", p, ret) < 0)
		return sim_call_fail(c, 500, NULL, "stored variables schema does not compile");
	return 0;
}

/* Set updatedAt to now. */
static void touch(json_t *e, int64_t now_ms)
{
	char ts[SIM_TIMESTAMP_SIZE];

	sim_store_timestamp(now_ms, ts);
	json_object_set_new(e, "updatedAt", json_string(ts));
}

/* Reply with a page of items or leave the 400 that paging wrote. */
static int reply_page(struct sim_call *c, json_t *owned_items, const char *field,
                      const char *cursor_key)
{
	json_t *page = NULL;
	int r = sim_call_page_or_respond(c, owned_items, field, cursor_key, &page);

	return r < 0 ? r : sim_call_reply(c, 200, page);
}

/* POST /o/{org}/users: 201 EndUser; a taken externalId follows the duplicate_user switch. */
static int user_create(struct sim_call *c)
{
	json_auto_t *body = sim_call_body_or_respond(c);
	char id[SIM_ULID_SIZE], ts[SIM_TIMESTAMP_SIZE];
	const json_t *ext, *dn, *taken;
	json_t *user;

	if (!body)
		return sim_call_answered(c);
	ext = json_object_get(body, "externalId");
	dn = json_object_get(body, "displayName");
	if (!json_is_string(ext) || json_string_length(ext) == 0)
		return sim_call_fail(c, 400, "externalId", "externalId is required");
	if (dn && !json_is_string(dn) && !json_is_null(dn))
		return sim_call_fail(c, 400, "displayName", "displayName must be a string");
	taken = json_object_get(json_object_get(c->org, "userIndex"), json_string_value(ext));
	if (taken && c->store->switches.dup_user == SIM_DUP_USER_EXISTING)
		return sim_call_reply(
		    c, 201,
		    sim_json_user(c->org,
		                  sim_store_get(c->org, "users", json_string_value(taken))));
	if (taken)
		return sim_call_fail(c, c->store->switches.dup_user == SIM_DUP_USER_400 ? 400 : 409,
		                     "externalId", "an end user with externalId %s already exists",
		                     json_string_value(ext));
	sim_store_ulid(c->store, c->now_ms, id);
	sim_store_timestamp(c->now_ms, ts);
	user = json_pack("{s:s,s:O,s:s,s:s,s:s}", "id", id, "externalId", ext, "displayName",
	                 json_is_string(dn) ? json_string_value(dn) : "", "createdAt", ts,
	                 "updatedAt", ts);
	sim_store_user_add(c->org, user);
	return sim_call_reply(c, 201, sim_json_user(c->org, user));
}

/* Whether a user matches ListEndUsers' search (id, externalId or displayName, any case). */
static bool user_matches(const json_t *u, const char *q)
{
	static const char *const fields[] = {"id", "externalId", "displayName"};

	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		const char *v = str(u, fields[i]);

		if (v && strcasestr(v, q))
			return true;
	}
	return false;
}

/* The ids of users with an activation in an environment, as an object {id: true}. */
static json_t *users_active_in(const json_t *org, const char *env_id)
{
	json_t *set = json_object();
	const char *key;
	json_t *act;

	json_object_foreach (json_object_get(org, "activations"), key, act)
		if (str_is(act, "environmentId", env_id))
			json_object_set_new(set, str(act, "userId"), json_true());
	return set;
}

/* GET /o/{org}/users: EndUserPage filtered by search, activated + environment_id. */
static int user_list(struct sim_call *c)
{
	_cleanup_free_ char *search = sim_call_query(c, "search");
	_cleanup_free_ char *env_id = sim_call_query(c, "environment_id");
	json_auto_t *active = NULL;
	json_t *items;
	const char *key;
	json_t *u;
	int activated;

	if (sim_call_query_bool_or_respond(c, "activated", &activated) < 0)
		return sim_call_answered(c);
	if (activated >= 0 && !env_id)
		return sim_call_fail(c, 400, "activated",
		                     "activated must be combined with environment_id");
	if (activated >= 0)
		active = users_active_in(c->org, env_id);
	items = json_array();
	json_object_foreach (json_object_get(c->org, "users"), key, u) {
		if (search && *search && !user_matches(u, search))
			continue;
		if (active && (json_object_get(active, key) != NULL) != (activated == 1))
			continue;
		json_array_append_new(items, sim_json_user(c->org, u));
	}
	return reply_page(c, items, "users", "id");
}

/* The user of path parameter 1 (externalId or ULID), or NULL after a 404. */
static json_t *user_or_404(struct sim_call *c, const char *id)
{
	json_t *u = sim_store_user_find(c->org, id);

	if (!u)
		sim_call_fail(c, 404, NULL, "end user %s not found", id);
	return u;
}

/* GET /o/{org}/users/{user}: 200 EndUser or 404. */
static int user_get(struct sim_call *c)
{
	json_t *u = user_or_404(c, c->params[1]);

	if (!u)
		return sim_call_answered(c);
	return sim_call_reply(c, 200, sim_json_user(c->org, u));
}

/* DELETE /o/{org}/users/{user}: 204; its activations and dynamic connections go too. */
static int user_delete(struct sim_call *c)
{
	json_t *u = user_or_404(c, c->params[1]);

	if (!u)
		return sim_call_answered(c);
	sim_store_user_remove(c->org, str(u, "id"));
	return sim_call_reply(c, 204, NULL);
}

/* Check a ConnectionCreate {name*, credentials*: [object], baseUrl?}, each credential's
 * authSchemeConfig (echoed in every Connection) of a known type; 400 names field. */
static int conn_spec_check_or_respond(struct sim_call *c, const json_t *spec, const char *field)
{
	const json_t *creds = json_object_get(spec, "credentials");
	const json_t *url = json_object_get(spec, "baseUrl");
	const json_t *cr;
	size_t i;

	if (!json_is_object(spec)) {
		sim_call_fail(c, 400, field, "%s must be an object", field);
		return -EINVAL;
	}
	if (!json_is_string(json_object_get(spec, "name")) ||
	    json_string_length(json_object_get(spec, "name")) == 0) {
		sim_call_fail(c, 400, field, "%s.name is required", field);
		return -EINVAL;
	}
	if (!json_is_array(creds) || (url && !json_is_string(url) && !json_is_null(url))) {
		sim_call_fail(c, 400, field, "%s needs credentials (array) and a string baseUrl",
		              field);
		return -EINVAL;
	}
	json_array_foreach (creds, i, cr)
		if (!sim_store_credential_valid(cr)) {
			sim_call_fail(
			    c, 400, field,
			    "%s.credentials[%zu] must be an object whose authSchemeConfig, "
			    "if any, has a known type",
			    field, i);
			return -EINVAL;
		}
	return 0;
}

/* Create a connection for a v2 template. */
static json_t *conn_add(struct sim_call *c, const json_t *tpl, const json_t *create,
                        const char *end_user_id)
{
	const json_t *sys = sim_store_get(c->org, "systems", str(tpl, "systemId"));
	const struct sim_connection_spec spec = {
	    .template_id = str(tpl, "id"),
	    .system_id = str(tpl, "systemId"),
	    .create = create,
	    .default_base_url = str(sys, "templateBaseUrl"),
	    .end_user_id = end_user_id,
	};

	return sim_store_connection_add(c->store, c->org, c->now_ms, &spec);
}

/* Read userId, environmentId, connections and dynamicVariables of an ActivationCreate. */
static int activation_parse_or_respond(struct sim_call *c, json_t *body, json_t **ret_user,
                                       json_t **ret_env, json_t **ret_vars)
{
	const char *uid = str(body, "userId");
	const char *eid = str(body, "environmentId");
	json_t *vars = json_object_get(body, "dynamicVariables");

	if (!uid || !*uid || !eid) {
		sim_call_fail(c, 400, uid && *uid ? "environmentId" : "userId",
		              "userId and environmentId are required strings");
		return -EINVAL;
	}
	if (!json_is_array(json_object_get(body, "connections"))) {
		sim_call_fail(c, 400, "connections", "connections must be an array");
		return -EINVAL;
	}
	if (vars && !json_is_object(vars) && !json_is_null(vars)) {
		sim_call_fail(c, 400, "dynamicVariables", "dynamicVariables must be an object");
		return -EINVAL;
	}
	if (!vars || json_is_null(vars))
		json_object_set_new(body, "dynamicVariables", json_object());
	*ret_vars = json_object_get(body, "dynamicVariables");
	if (!(*ret_user = sim_store_user_find(c->org, uid))) {
		sim_call_fail(c, 404, "userId", "end user %s not found", uid);
		return -ENOENT;
	}
	if (!(*ret_env = env_or_404(c, eid, "environmentId")))
		return -ENOENT;
	return 0;
}

/* 409 when the user is already active in the environment, unless the switch allows it. */
static int activation_dup_or_respond(struct sim_call *c, const json_t *user, const json_t *env)
{
	const json_t *ids = sim_store_user_activations(c->org, str(user, "id"));
	const char *key;
	json_t *v;

	if (c->store->switches.dup_activation == SIM_DUP_ACTIVATION_ALLOW)
		return 0;
	json_object_foreach ((json_t *)ids, key, v)
		if (str_is(sim_store_get(c->org, "activations", key), "environmentId",
		           str(env, "id"))) {
			sim_call_fail(c, 409, "userId",
			              "end user %s already has an activation in environment %s",
			              str(user, "externalId"), str(env, "id"));
			return -EEXIST;
		}
	return 0;
}

/* Bind one connections[] entry: plan[template id] = existing id, or the inline spec. */
static int activation_bind_one(struct sim_call *c, const json_t *e, size_t i, const json_t *user,
                               const json_t *env, json_t *plan)
{
	char field[64];
	const char *tid = str(e, "connectionTemplateId");
	const json_t *tpl = sim_store_get(c->org, "connectionTemplates", tid);
	const json_t *inl = json_object_get(e, "connection");
	const char *cid = str(e, "existingConnectionId");
	const json_t *conn;

	(void)snprintf(field, sizeof(field), "connections[%zu]", i);
	if (!json_is_object(e) || !tid)
		return sim_call_fail(c, 400, field, "%s.connectionTemplateId is required", field);
	if (!tpl || !str_is(tpl, "environmentId", str(env, "id")))
		return sim_call_fail(c, 400, field,
		                     "%s is not a connection template of environment %s", tid,
		                     str(env, "id"));
	if (json_object_get(plan, tid))
		return sim_call_fail(c, 400, field, "connection template %s is bound twice", tid);
	if (inl && !json_is_null(inl)) {
		if (conn_spec_check_or_respond(c, inl, field) < 0)
			return -EINVAL;
		json_object_set(plan, tid, (json_t *)inl);
		return 0;
	}
	if (!cid)
		return sim_call_fail(c, 400, field, "%s needs existingConnectionId or connection",
		                     field);
	conn = sim_store_get(c->org, "connections", cid);
	if (!conn)
		return sim_call_fail(c, 404, field, "connection %s not found", cid);
	if (!str_is(conn, "connectionTemplateId", tid))
		return sim_call_fail(c, 400, field, "connection %s belongs to another template",
		                     cid);
	if (str(conn, "endUserId") && !str_is(conn, "endUserId", str(user, "id")))
		return sim_call_fail(c, 400, field, "connection %s belongs to another end user",
		                     cid);
	json_object_set_new(plan, tid, json_string(cid));
	return 0;
}

/* Every template of the environment bound exactly once; *ret_plan maps template -> binding. */
static int activation_bind_or_respond(struct sim_call *c, const json_t *conns, const json_t *user,
                                      const json_t *env, json_t **ret_plan)
{
	json_auto_t *plan = json_object();
	const char *key;
	const json_t *e;
	json_t *tpl;
	size_t i;

	json_array_foreach (conns, i, e)
		if (activation_bind_one(c, e, i, user, env, plan) < 0)
			return -EINVAL;
	json_object_foreach (json_object_get(c->org, "connectionTemplates"), key, tpl)
		if (str_is(tpl, "environmentId", str(env, "id")) && !json_object_get(plan, key)) {
			sim_call_fail(c, 400, "connections",
			              "missing connection for connection template %s (%s)", key,
			              str(tpl, "name"));
			return -EINVAL;
		}
	*ret_plan = TAKE_PTR(plan);
	return 0;
}

/* Create inline connections and the activation itself. */
static json_t *activation_commit(struct sim_call *c, const json_t *user, const json_t *env,
                                 const json_t *plan, const json_t *vars)
{
	char id[SIM_ULID_SIZE], ts[SIM_TIMESTAMP_SIZE];
	json_t *ids = json_array();
	const char *tid;
	json_t *b, *act;

	json_object_foreach ((json_t *)plan, tid, b) {
		const json_t *tpl = sim_store_get(c->org, "connectionTemplates", tid);

		if (json_is_string(b))
			json_array_append(ids, b);
		else
			json_array_append(
			    ids,
			    json_object_get(conn_add(c, tpl, b,
			                             json_is_true(json_object_get(tpl, "dynamic"))
			                                 ? str(user, "id")
			                                 : NULL),
			                    "id"));
	}
	sim_store_ulid(c->store, c->now_ms, id);
	sim_store_timestamp(c->now_ms, ts);
	act = json_pack("{s:s,s:O,s:O,s:o,s:O,s:s,s:s}", "id", id, "userId",
	                json_object_get(user, "id"), "environmentId", json_object_get(env, "id"),
	                "connections", ids, "dynamicVariables", vars, "createdAt", ts, "updatedAt",
	                ts);
	sim_store_activation_add(c->org, act);
	return act;
}

/* POST /o/{org}/activations: 200 Activation after every documented check. */
static int activation_create(struct sim_call *c)
{
	json_auto_t *body = sim_call_body_or_respond(c);
	json_auto_t *plan = NULL;
	json_t *user, *env, *vars, *act;
	const struct schema *schema;

	if (!body || activation_parse_or_respond(c, body, &user, &env, &vars) < 0)
		return sim_call_answered(c);
	if (activation_dup_or_respond(c, user, env) < 0)
		return sim_call_answered(c);
	if (activation_bind_or_respond(c, json_object_get(body, "connections"), user, env, &plan) <
	    0)
		return sim_call_answered(c);
	if (env_schema_or_respond(c, env, &schema) < 0 ||
	    sim_vars_check_or_respond(c, schema, vars, false, "dynamicVariables.") < 0)
		return sim_call_answered(c);
	act = activation_commit(c, user, env, plan, vars);
	return sim_call_reply(c, 200, sim_json_activation(c->org, act));
}

/* GET /o/{org}/environments/{env}/activations: plain array; static=true lists the static one. */
static int activation_list(struct sim_call *c)
{
	json_t *env = env_or_404(c, c->params[1], NULL);
	const char *key;
	json_t *items, *act;
	int stat;

	if (!env || sim_call_query_bool_or_respond(c, "static", &stat) < 0)
		return sim_call_answered(c);
	if (stat == 1)
		return sim_call_reply(c, 200,
		                      json_pack("[o]", sim_json_static_activation(c->org, env)));
	items = json_array();
	json_object_foreach (json_object_get(c->org, "activations"), key, act)
		if (str_is(act, "environmentId", c->params[1]))
			json_array_append_new(items, sim_json_activation(c->org, act));
	return sim_call_reply(c, 200, items);
}

/* GET /o/{org}/environments/{env}/activations/{activation}. */
static int activation_get(struct sim_call *c)
{
	json_t *act = activation_or_404(c, c->params[1], c->params[2]);

	if (!act)
		return sim_call_answered(c);
	return sim_call_reply(c, 200, sim_json_activation(c->org, act));
}

/* DELETE /o/{org}/environments/{env}/activations/{activation}: 204; user and connections stay. */
static int activation_delete(struct sim_call *c)
{
	if (!activation_or_404(c, c->params[1], c->params[2]))
		return sim_call_answered(c);
	sim_store_activation_remove(c->org, c->params[2]);
	return sim_call_reply(c, 204, NULL);
}

/* GET /o/{org}/environment/{env}/users/{user}/activations: the user's activations there. */
static int user_activations(struct sim_call *c)
{
	json_t *user, *items;
	const char *key;
	json_t *v;

	if (!env_or_404(c, c->params[1], NULL) || !(user = user_or_404(c, c->params[2])))
		return sim_call_answered(c);
	items = json_array();
	json_object_foreach ((json_t *)sim_store_user_activations(c->org, str(user, "id")), key,
	                     v) {
		json_t *act = sim_store_get(c->org, "activations", key);

		if (str_is(act, "environmentId", c->params[1]))
			json_array_append_new(items, sim_json_activation(c->org, act));
	}
	return sim_call_reply(c, 200, items);
}

/* GET /o/{org}/environment-systems/{template}/activations/{activation}: the bound Connection. */
static int activation_connection(struct sim_call *c)
{
	json_t *act = sim_store_get(c->org, "activations", c->params[2]);
	const json_t *id;
	size_t i;

	if (!act)
		return sim_call_fail(c, 404, NULL, "activation %s not found", c->params[2]);
	json_array_foreach (json_object_get(act, "connections"), i, id) {
		json_t *conn = sim_store_get(c->org, "connections", json_string_value(id));

		if (str_is(conn, "connectionTemplateId", c->params[1]))
			return sim_call_reply(c, 200, sim_json_connection(conn));
	}
	return sim_call_fail(c, 404, NULL, "activation %s has no connection for template %s",
	                     c->params[2], c->params[1]);
}

/* Merge patch into vars and answer per the patch_response switch. */
static int vars_merge_reply(struct sim_call *c, json_t *vars, json_t *patch)
{
	json_object_update(vars, patch);
	if (c->store->switches.patch_response == SIM_PATCH_RESPONSE_CHANGED)
		return sim_call_reply(c, 200, json_incref(patch));
	return sim_call_reply(c, 200, json_incref(vars));
}

/* PATCH …/activations/{activation}/variables: merge the given keys (null rejected). */
static int vars_patch(struct sim_call *c)
{
	json_t *act = activation_or_404(c, c->params[1], c->params[2]);
	const json_t *env = sim_store_get(c->org, "environments", c->params[1]);
	const struct schema *schema;
	json_auto_t *body = NULL;

	if (!act || !(body = sim_call_body_or_respond(c)))
		return sim_call_answered(c);
	if (env_schema_or_respond(c, env, &schema) < 0 ||
	    sim_vars_check_or_respond(c, schema, body, true, "") < 0)
		return sim_call_answered(c);
	touch(act, c->now_ms);
	return vars_merge_reply(c, json_object_get(act, "dynamicVariables"), body);
}

/* PUT …/activations/{activation}/variables/{name}: {"value": non-null}, name declared. */
static int vars_put_one(struct sim_call *c)
{
	json_t *act = activation_or_404(c, c->params[1], c->params[2]);
	const json_t *env = sim_store_get(c->org, "environments", c->params[1]);
	const struct schema *schema;
	json_auto_t *body = NULL, *one = NULL;
	json_t *value;

	if (!act || !(body = sim_call_body_or_respond(c)))
		return sim_call_answered(c);
	value = json_object_get(body, "value");
	if (!value || json_is_null(value))
		return sim_call_fail(c, 400, "value", "value is required and must not be null");
	if (env_schema_or_respond(c, env, &schema) < 0)
		return sim_call_answered(c);
	if (!sim_vars_declared(schema, c->params[3]))
		return sim_call_fail(c, 400, c->params[3],
		                     "variable %s is not declared in the project schema",
		                     c->params[3]);
	one = json_pack("{s:O}", c->params[3], value);
	if (sim_vars_check_or_respond(c, schema, one, true, "") < 0)
		return sim_call_answered(c);
	touch(act, c->now_ms);
	json_object_set(json_object_get(act, "dynamicVariables"), c->params[3], value);
	return sim_call_reply(c, 200, json_incref(json_object_get(act, "dynamicVariables")));
}

/* PATCH /o/{org}/environments/{env}/variables: the static activation's variables. */
static int static_vars_patch(struct sim_call *c)
{
	json_t *env = env_or_404(c, c->params[1], NULL);
	const struct schema *schema;
	json_auto_t *body = NULL;

	if (!env || !(body = sim_call_body_or_respond(c)))
		return sim_call_answered(c);
	if (env_schema_or_respond(c, env, &schema) < 0 ||
	    sim_vars_check_or_respond(c, schema, body, true, "") < 0)
		return sim_call_answered(c);
	return vars_merge_reply(c, json_object_get(env, "staticVariables"), body);
}

/* The project of path parameter 1, or NULL after a 404. */
static json_t *project_or_404(struct sim_call *c)
{
	json_t *p = sim_store_get(c->org, "projects", c->params[1]);

	if (!p)
		sim_call_fail(c, 404, NULL, "project %s not found", c->params[1]);
	return p;
}

/* GET /o/{org}/projects/{project}/variables: the schema, null when unset. */
static int schema_get(struct sim_call *c)
{
	json_t *p = project_or_404(c);

	if (!p)
		return sim_call_answered(c);
	return sim_call_reply(c, 200, json_incref(json_object_get(p, "dynamicVariablesSchema")));
}

/* Store a schema document if it compiles (400 otherwise, naming where and why) and answer it;
 * it is compiled here, once, for every later validation. */
static int schema_store_reply(struct sim_call *c, json_t *p, json_t *doc)
{
	struct schema_error se = {{0}};
	int r = sim_store_schema_set(c->store, c->org, "projects", p, doc, &se);

	if (r == -ENOMEM)
		return sim_call_fail(c, 500, NULL, "out of memory");
	if (r < 0)
		return sim_call_fail(c, 400, se.path[0] ? se.path : NULL,
		                     "schema rejected at %s: %s", se.path[0] ? se.path : "/",
		                     se.message);
	touch(p, c->now_ms);
	return sim_call_reply(c, 200, json_incref(doc));
}

/* PUT /o/{org}/projects/{project}/variables: replace the schema. */
static int schema_put(struct sim_call *c)
{
	json_t *p = project_or_404(c);
	json_auto_t *body = NULL;

	if (!p || !(body = sim_call_body_or_respond(c)))
		return sim_call_answered(c);
	return schema_store_reply(c, p, body);
}

/* Apply {op, path: "/properties/<name>", value?} to a copy of the schema in *doc. */
static int schema_patch_apply(struct sim_call *c, const json_t *op, json_t *doc)
{
	static const char prefix[] = "/properties/";
	const char *o = str(op, "op"), *path = str(op, "path");
	const json_t *value = json_object_get(op, "value");
	const char *name = path ? path + sizeof(prefix) - 1 : NULL;
	json_t *props;

	if (!o || !path || strncmp(path, prefix, sizeof(prefix) - 1) != 0 || !*name ||
	    strchr(name, '/'))
		return sim_call_fail(c, 400, "path", "op and path \"/properties/<name>\" required");
	if (!json_is_object(json_object_get(doc, "properties")))
		json_object_set_new(doc, "properties", json_object());
	props = json_object_get(doc, "properties");
	if (strcmp(o, "add") != 0 && strcmp(o, "replace") != 0 && strcmp(o, "remove") != 0)
		return sim_call_fail(c, 400, "op", "op must be add, remove or replace");
	if (strcmp(o, "add") != 0 && !json_object_get(props, name))
		return sim_call_fail(c, 400, "path", "property %s does not exist", name);
	if (strcmp(o, "remove") == 0)
		return json_object_del(props, name);
	if (!json_is_object(value))
		return sim_call_fail(c, 400, "value", "value must be a schema object");
	return json_object_set(props, name, (json_t *)value);
}

/* PATCH /o/{org}/projects/{project}/variables: one {op, path, value} operation. */
static int schema_patch(struct sim_call *c)
{
	json_t *p = project_or_404(c);
	json_auto_t *body = NULL, *doc = NULL;
	const json_t *cur;

	if (!p || !(body = sim_call_body_or_respond(c)))
		return sim_call_answered(c);
	cur = json_object_get(p, "dynamicVariablesSchema");
	doc = json_is_object(cur) ? json_deep_copy(cur)
	                          : json_pack("{s:s,s:{}}", "type", "object", "properties");
	if (schema_patch_apply(c, body, doc) < 0)
		return sim_call_answered(c);
	return schema_store_reply(c, p, doc);
}

/* GET /o/{org}/projects: {projects: [ProjectSummary]}, optionally only starred ones. */
static int project_list(struct sim_call *c)
{
	json_t *items;
	const char *key;
	json_t *p;
	int starred;

	if (sim_call_query_bool_or_respond(c, "starred", &starred) < 0)
		return sim_call_answered(c);
	items = json_array();
	json_object_foreach (json_object_get(c->org, "projects"), key, p)
		if (starred < 0 || json_is_true(json_object_get(p, "starred")) == (starred == 1))
			json_array_append_new(items, sim_json_project(c->org, p, false));
	return sim_call_reply(c, 200, json_pack("{s:o}", "projects", items));
}

/* GET /o/{org}/projects/{project}: the full Project or 404. */
static int project_get(struct sim_call *c)
{
	json_t *p = project_or_404(c);

	if (!p)
		return sim_call_answered(c);
	return sim_call_reply(c, 200, sim_json_project(c->org, p, true));
}

/* GET /o/{org}/projects/{project}/connection-templates?env_id=: EnvironmentSystemPage. */
static int template_list(struct sim_call *c)
{
	_cleanup_free_ char *env_id = sim_call_query(c, "env_id");
	json_t *env = NULL, *items, *tpl;
	const char *key;

	if (!project_or_404(c))
		return sim_call_answered(c);
	if (env_id && (!(env = env_or_404(c, env_id, "env_id"))))
		return sim_call_answered(c);
	if (env && !str_is(env, "projectId", c->params[1]))
		return sim_call_fail(c, 404, "env_id", "environment %s is not in project %s",
		                     env_id, c->params[1]);
	items = json_array();
	json_object_foreach (json_object_get(c->org, "connectionTemplates"), key, tpl) {
		const json_t *e = sim_store_get(c->org, "environments", str(tpl, "environmentId"));

		if (env ? str_is(tpl, "environmentId", env_id)
		        : str_is(e, "projectId", c->params[1]))
			json_array_append_new(items, sim_json_template(c->org, tpl));
	}
	/* "id" is the system id, which repeats: cursors name the template id. */
	return reply_page(c, items, "items", "connectionTemplateId");
}

/* GET /o/{org}/systems: SystemPage, search on name and domain. */
static int system_list(struct sim_call *c)
{
	_cleanup_free_ char *search = sim_call_query(c, "search");
	json_t *items = json_array();
	const char *key;
	json_t *sys;

	json_object_foreach (json_object_get(c->org, "systems"), key, sys) {
		const char *name = str(sys, "name"), *domain = str(sys, "domain");

		if (!search || !*search || strcasestr(name, search) || strcasestr(domain, search))
			json_array_append_new(items, sim_json_system(sys));
	}
	return reply_page(c, items, "items", "id");
}

/* GET /o/{org}/systems/{system}. */
static int system_get(struct sim_call *c)
{
	json_t *sys = sim_store_get(c->org, "systems", c->params[1]);

	if (!sys)
		return sim_call_fail(c, 404, NULL, "system %s not found", c->params[1]);
	return sim_call_reply(c, 200, sim_json_system(sys));
}

/* POST /o/{org}/connections: 201 Connection; with externalId a dynamic one of that user. */
static int connection_create(struct sim_call *c)
{
	json_auto_t *body = sim_call_body_or_respond(c);
	const char *tid, *ext;
	const json_t *tpl;
	json_t *user = NULL;
	int r;

	if (!body)
		return -EINVAL;
	tid = str(body, "connectionTemplateId");
	ext = str(body, "externalId");
	if (!tid)
		return sim_call_fail(c, 400, "connectionTemplateId",
		                     "connectionTemplateId is required");
	if (!(tpl = sim_store_get(c->org, "connectionTemplates", tid)))
		return sim_call_fail(c, 404, "connectionTemplateId",
		                     "connection template %s not found", tid);
	if ((r = conn_spec_check_or_respond(c, json_object_get(body, "connection"), "connection")) <
	    0)
		return r;
	if (json_object_get(body, "externalId") &&
	    !json_is_null(json_object_get(body, "externalId")) &&
	    !(user = ext ? sim_store_user_find(c->org, ext) : NULL))
		return sim_call_fail(c, 404, "externalId", "end user %s not found",
		                     ext ? ext : "(not a string)");
	return sim_call_reply(
	    c, 201,
	    sim_json_connection(conn_add(c, tpl, json_object_get(body, "connection"),
	                                 user ? str(user, "id") : NULL)));
}

/* GET /o/{org}/connections: ConnectionPage filtered by system_id and end_user_id (ULID). */
static int connection_list(struct sim_call *c)
{
	_cleanup_free_ char *sys = sim_call_query(c, "system_id");
	_cleanup_free_ char *owner = sim_call_query(c, "end_user_id");
	json_t *items = json_array();
	const char *key;
	json_t *conn;

	json_object_foreach (json_object_get(c->org, "connections"), key, conn) {
		if (sys && !str_is(conn, "systemId", sys))
			continue;
		if (owner && !str_is(conn, "endUserId", owner))
			continue;
		json_array_append_new(items, sim_json_connection(conn));
	}
	return reply_page(c, items, "items", "id");
}

/* The connection of path parameter 1, or NULL after a 404. */
static json_t *connection_or_404(struct sim_call *c)
{
	json_t *conn = sim_store_get(c->org, "connections", c->params[1]);

	if (!conn)
		sim_call_fail(c, 404, NULL, "connection %s not found", c->params[1]);
	return conn;
}

/* GET /o/{org}/connections/{connection}. */
static int connection_get(struct sim_call *c)
{
	json_t *conn = connection_or_404(c);

	return conn ? sim_call_reply(c, 200, sim_json_connection(conn)) : -ENOENT;
}

/* Whether any activation (v2 or embedded) binds connection id. */
static bool connection_in_use(const json_t *org, const char *id)
{
	const char *key;
	json_t *act, *v;
	size_t i;

	json_object_foreach (json_object_get(org, "activations"), key, act)
		json_array_foreach (json_object_get(act, "connections"), i, v)
			if (strcmp(json_string_value(v), id) == 0)
				return true;
	json_object_foreach (json_object_get(org, "embeddedActivations"), key, act)
		json_array_foreach (json_object_get(act, "connections"), i, v)
			if (str_is(v, "connectionId", id))
				return true;
	return false;
}

/* DELETE /o/{org}/connections/{connection}: 204; 409 for a dynamic connection in use. A static
 * one in use is deleted and unbound from the activations that held it. */
static int connection_delete(struct sim_call *c)
{
	json_t *conn = connection_or_404(c);

	if (!conn)
		return -ENOENT;
	if (str(conn, "endUserId") && connection_in_use(c->org, c->params[1]))
		return sim_call_fail(
		    c, 409, NULL, "dynamic connection %s is in use by an activation", c->params[1]);
	sim_store_connection_remove(c->org, c->params[1]);
	return sim_call_reply(c, 204, NULL);
}

/* GET /o/{org}/environments/{env}/schedulers: [Scheduler]. */
static int scheduler_list(struct sim_call *c)
{
	json_t *items;
	const char *key;
	json_t *s;

	if (!env_or_404(c, c->params[1], NULL))
		return -ENOENT;
	items = json_array();
	json_object_foreach (json_object_get(c->org, "schedulers"), key, s)
		if (str_is(s, "environment_id", c->params[1]))
			json_array_append_new(items, sim_json_scheduler(s));
	return sim_call_reply(c, 200, items);
}

/* The scheduler {scheduler} of environment {env}, or NULL after a 404. */
static json_t *scheduler_or_404(struct sim_call *c)
{
	json_t *s;

	if (!env_or_404(c, c->params[1], NULL))
		return NULL;
	s = sim_store_get(c->org, "schedulers", c->params[2]);
	if (!s || !str_is(s, "environment_id", c->params[1])) {
		sim_call_fail(c, 404, NULL, "scheduler %s not found", c->params[2]);
		return NULL;
	}
	return s;
}

/* GET /o/{org}/environments/{env}/schedulers/{scheduler}. */
static int scheduler_get(struct sim_call *c)
{
	json_t *s = scheduler_or_404(c);

	return s ? sim_call_reply(c, 200, sim_json_scheduler(s)) : -ENOENT;
}

/* POST /o/{org}/environments/{env}/schedulers/{scheduler}: 204, counted in triggerCount. */
static int scheduler_trigger(struct sim_call *c)
{
	json_t *s = scheduler_or_404(c);

	if (!s)
		return -ENOENT;
	json_object_set_new(
	    s, "triggerCount",
	    json_integer(json_integer_value(json_object_get(s, "triggerCount")) + 1));
	return sim_call_reply(c, 204, NULL);
}

#define V2            "/api/v2/o/{org}"
#define NOT_SIMULATED SIM_ROUTE_NOT_SIMULATED_ENTRY

const struct sim_route sim_v2_routes[] = {
    {"POST " V2 "/users", user_create, 0},
    {"GET " V2 "/users", user_list, 0},
    {"GET " V2 "/users/{user}", user_get, 0},
    {"DELETE " V2 "/users/{user}", user_delete, 0},
    {"POST " V2 "/activations", activation_create, 0},
    {"GET " V2 "/environments/{env}/activations", activation_list, 0},
    {"GET " V2 "/environments/{env}/activations/{activation}", activation_get, 0},
    {"DELETE " V2 "/environments/{env}/activations/{activation}", activation_delete, 0},
    {"PATCH " V2 "/environments/{env}/activations/{activation}/variables", vars_patch, 0},
    {"PUT " V2 "/environments/{env}/activations/{activation}/variables/{name}", vars_put_one, 0},
    {"PATCH " V2 "/environments/{env}/variables", static_vars_patch, 0},
    {"GET " V2 "/environment/{env}/users/{user}/activations", user_activations, 0},
    {"GET " V2 "/environment-systems/{template}/activations/{activation}", activation_connection,
     0},
    {"GET " V2 "/environments/{env}/schedulers", scheduler_list, 0},
    {"GET " V2 "/environments/{env}/schedulers/{scheduler}", scheduler_get, 0},
    {"POST " V2 "/environments/{env}/schedulers/{scheduler}", scheduler_trigger, 0},
    {"GET " V2 "/projects", project_list, 0},
    {"GET " V2 "/projects/{project}", project_get, 0},
    {"GET " V2 "/projects/{project}/variables", schema_get, 0},
    {"PUT " V2 "/projects/{project}/variables", schema_put, 0},
    {"PATCH " V2 "/projects/{project}/variables", schema_patch, 0},
    {"GET " V2 "/projects/{project}/connection-templates", template_list, 0},
    {"GET " V2 "/systems", system_list, 0},
    {"GET " V2 "/systems/{system}", system_get, 0},
    {"POST " V2 "/connections", connection_create, 0},
    {"GET " V2 "/connections", connection_list, 0},
    {"GET " V2 "/connections/{connection}", connection_get, 0},
    {"DELETE " V2 "/connections/{connection}", connection_delete, 0},
    NOT_SIMULATED("POST " V2 "/projects"),
    NOT_SIMULATED("PUT " V2 "/projects/{project}"),
    NOT_SIMULATED("DELETE " V2 "/projects/{project}"),
    NOT_SIMULATED("* " V2 "/projects/{project}/**"),
    NOT_SIMULATED("POST " V2 "/systems"),
    NOT_SIMULATED("* " V2 "/systems/{system}/**"),
    NOT_SIMULATED("PUT " V2 "/connections/{connection}"),
    NOT_SIMULATED("* " V2 "/connections/{connection}/link"),
    NOT_SIMULATED("* " V2 "/automations/**"),
    NOT_SIMULATED("* " V2 "/issues/**"),
    NOT_SIMULATED("* " V2 "/notifications/**"),
    NOT_SIMULATED("* " V2 "/notification-channels/**"),
    NOT_SIMULATED("* " V2 "/metrics/**"),
    NOT_SIMULATED("* " V2 "/kv/**"),
    NOT_SIMULATED("* " V2 "/kv-stores/**"),
    NOT_SIMULATED("* " V2 "/execution-pools/**"),
};
const size_t sim_v2_n_routes = ELEMENTSOF(sim_v2_routes);
