/* The simulator's in-memory model: fixture load and save, ids, timestamps, lookups. */
#include "sim_store.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "json.h"
#include "schema.h"

#define EPOCH_STAMP "\"2025-01-01T00:00:00.000000Z\""
#define ID_MAX_LEN  128

/* One compiled variables schema: the document it was compiled from (a reference, so that its
 * address cannot be taken by another document while it is cached) and the compiled form. */
struct sim_schema_entry {
	json_t *doc;
	struct schema *compiled;
};

enum field_type {
	FIELD_STRING,
	FIELD_STRING_OR_NULL,
	FIELD_BOOL,
	FIELD_INT,
	FIELD_OBJECT,
	FIELD_ARRAY,
	FIELD_SCHEMA,    /* a JSON Schema object, or null */
	FIELD_TIMESTAMP, /* an RFC 3339 date-time string */
};

/* One field of a fixture entity: its type, its default (JSON text; NULL when required) and
 * the collection of the same organisation its value must name, if any. */
struct field_spec {
	const char *name;
	enum field_type type;
	const char *dflt;
	const char *ref;
};

/* Where loading stands, for error messages, and the buffer they go to. */
struct load_ctx {
	struct sim_store *st;
	char *err;
	size_t errlen;
	size_t org_index;
	const char *collection;
	size_t index;
};

struct coll_spec;
typedef int (*entity_check_fn)(json_t *org, json_t *e, struct load_ctx *lc);

/* One collection of an organisation: fields of its entities and an extra check. */
struct coll_spec {
	const char *name;
	const struct field_spec *fields;
	size_t n_fields;
	entity_check_fn check;
};

/* createdAt and updatedAt, defaulting to the fixture epoch. */
/* clang-format off */
#define STAMP_FIELDS                                              \
	{ "createdAt", FIELD_TIMESTAMP, EPOCH_STAMP, NULL },      \
	{ "updatedAt", FIELD_TIMESTAMP, EPOCH_STAMP, NULL }
/* clang-format on */

static const struct field_spec system_fields[] = {
    {"name", FIELD_STRING, NULL, NULL},
    {"domain", FIELD_STRING, "\"\"", NULL},
    {"templateBaseUrl", FIELD_STRING, "\"\"", NULL},
    {"authSchemeConfigs", FIELD_ARRAY, "[]", NULL},
};
static const struct field_spec project_fields[] = {
    {"name", FIELD_STRING, NULL, NULL},
    {"dynamicVariablesSchema", FIELD_SCHEMA, "null", NULL},
    {"starred", FIELD_BOOL, "false", NULL},
    STAMP_FIELDS,
};
static const struct field_spec environment_fields[] = {
    {"projectId", FIELD_STRING, NULL, "projects"}, {"name", FIELD_STRING, NULL, NULL},
    {"status", FIELD_STRING, "\"running\"", NULL}, {"publicUrl", FIELD_STRING, "\"\"", NULL},
    {"staticVariables", FIELD_OBJECT, "{}", NULL}, STAMP_FIELDS,
};
static const struct field_spec template_fields[] = {
    {"environmentId", FIELD_STRING, NULL, "environments"},
    {"systemId", FIELD_STRING, NULL, "systems"},
    {"name", FIELD_STRING, "\"\"", NULL},
    {"dynamic", FIELD_BOOL, "false", NULL},
};
static const struct field_spec user_fields[] = {
    {"externalId", FIELD_STRING, NULL, NULL},
    {"displayName", FIELD_STRING, "\"\"", NULL},
    STAMP_FIELDS,
};
static const struct field_spec hub_fields[] = {
    {"name", FIELD_STRING, NULL, NULL},
    {"isDefault", FIELD_BOOL, "false", NULL},
};
static const struct field_spec integration_fields[] = {
    {"hubId", FIELD_STRING, NULL, "hubs"},
    {"name", FIELD_STRING, NULL, NULL},
    {"imageUrl", FIELD_STRING, "\"\"", NULL},
    {"description", FIELD_STRING, "\"\"", NULL},
    {"variablesSchema", FIELD_SCHEMA, "null", NULL},
    {"isDeployed", FIELD_BOOL, "true", NULL},
    {"connectionTemplates", FIELD_ARRAY, "[]", NULL},
};
static const struct field_spec connection_fields[] = {
    {"connectionTemplateId", FIELD_STRING, NULL, NULL},
    {"name", FIELD_STRING, NULL, NULL},
    {"baseUrl", FIELD_STRING, "\"\"", NULL},
    {"credentials", FIELD_ARRAY, "[]", NULL},
    {"endUserId", FIELD_STRING_OR_NULL, "null", "users"},
    STAMP_FIELDS,
};
static const struct field_spec activation_fields[] = {
    {"userId", FIELD_STRING, NULL, "users"},
    {"environmentId", FIELD_STRING, NULL, "environments"},
    {"connections", FIELD_ARRAY, "[]", NULL},
    {"dynamicVariables", FIELD_OBJECT, "{}", NULL},
    STAMP_FIELDS,
};
static const struct field_spec scheduler_fields[] = {
    {"environment_id", FIELD_STRING, NULL, "environments"},
    {"name", FIELD_STRING, NULL, NULL},
    {"schedule", FIELD_STRING, NULL, NULL},
    {"url", FIELD_STRING, "\"\"", NULL},
    {"triggerCount", FIELD_INT, "0", NULL},
};
static const struct field_spec embedded_activation_fields[] = {
    {"userId", FIELD_STRING, NULL, "users"},
    {"integrationId", FIELD_STRING, NULL, "integrations"},
    {"connections", FIELD_ARRAY, "[]", NULL},
    {"dynamicVariables", FIELD_OBJECT, "{}", NULL},
    STAMP_FIELDS,
};
static const struct field_spec signing_key_fields[] = {
    {"name", FIELD_STRING, "\"\"", NULL},
    {"createdAt", FIELD_TIMESTAMP, EPOCH_STAMP, NULL},
};

static int check_system(json_t *org, json_t *e, struct load_ctx *lc);
static int check_project(json_t *org, json_t *e, struct load_ctx *lc);
static int check_environment(json_t *org, json_t *e, struct load_ctx *lc);
static int check_user(json_t *org, json_t *e, struct load_ctx *lc);
static int check_integration(json_t *org, json_t *e, struct load_ctx *lc);
static int check_connection(json_t *org, json_t *e, struct load_ctx *lc);
static int check_activation(json_t *org, json_t *e, struct load_ctx *lc);
static int check_embedded_activation(json_t *org, json_t *e, struct load_ctx *lc);
static int check_signing_key(json_t *org, json_t *e, struct load_ctx *lc);

/* One collections[] entry. */
/* clang-format off */
#define COLL(n, f, c) { n, f, ELEMENTSOF(f), c }
/* clang-format on */

/* In load order: a collection only refers to collections listed before it. */
static const struct coll_spec collections[] = {
    COLL("systems", system_fields, check_system),
    COLL("projects", project_fields, check_project),
    COLL("environments", environment_fields, check_environment),
    COLL("connectionTemplates", template_fields, NULL),
    COLL("users", user_fields, check_user),
    COLL("hubs", hub_fields, NULL),
    COLL("integrations", integration_fields, check_integration),
    COLL("connections", connection_fields, check_connection),
    COLL("activations", activation_fields, check_activation),
    COLL("schedulers", scheduler_fields, NULL),
    COLL("embeddedActivations", embedded_activation_fields, check_embedded_activation),
    COLL("signingKeys", signing_key_fields, check_signing_key),
};

/* Write "organisations[i].<collection>[j].<what>: <message>" to the error buffer; -EINVAL. */
_printf_(3, 4) static int load_fail(struct load_ctx *lc, const char *what, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!lc->err || lc->errlen == 0)
		return -EINVAL;
	if (lc->collection)
		(void)snprintf(lc->err, lc->errlen, "organisations[%zu].%s[%zu]%s%s: %s",
		               lc->org_index, lc->collection, lc->index, *what ? "." : "", what,
		               msg);
	else
		(void)snprintf(lc->err, lc->errlen, "organisations[%zu]%s%s: %s", lc->org_index,
		               *what ? "." : "", what, msg);
	return -EINVAL;
}

/* Whether v is a usable id: a non-empty string of at most ID_MAX_LEN bytes without '/'. */
static bool valid_id(const json_t *v)
{
	size_t n = json_string_length(v);

	return json_is_string(v) && n > 0 && n <= ID_MAX_LEN &&
	       !strchr(json_string_value(v), '/') && strlen(json_string_value(v)) == n;
}

/* Whether v has the type a field asks for. */
static bool field_type_ok(const json_t *v, enum field_type t)
{
	switch (t) {
	case FIELD_STRING:
		return json_is_string(v);
	case FIELD_STRING_OR_NULL:
		return json_is_string(v) || json_is_null(v);
	case FIELD_BOOL:
		return json_is_boolean(v);
	case FIELD_INT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case FIELD_OBJECT:
		return json_is_object(v);
	case FIELD_ARRAY:
		return json_is_array(v);
	case FIELD_SCHEMA:
		return json_is_object(v) || json_is_null(v);
	case FIELD_TIMESTAMP:
		return json_is_string(v) &&
		       sim_store_timestamp_parse(json_string_value(v), NULL) == 0;
	}
	return false;
}

/* Check one field of entity e, filling its default when absent. */
static int load_field(json_t *org, json_t *e, const struct field_spec *f, struct load_ctx *lc)
{
	static const char *const type_names[] = {
	    [FIELD_STRING] = "string",         [FIELD_STRING_OR_NULL] = "string or null",
	    [FIELD_BOOL] = "boolean",          [FIELD_INT] = "non-negative integer",
	    [FIELD_OBJECT] = "object",         [FIELD_ARRAY] = "array",
	    [FIELD_SCHEMA] = "object or null", [FIELD_TIMESTAMP] = "timestamp (RFC 3339)",
	};
	json_t *v = json_object_get(e, f->name);
	bool nullable = f->type == FIELD_SCHEMA || f->type == FIELD_STRING_OR_NULL;

	if (!v || (json_is_null(v) && !nullable)) {
		json_t *d;

		if (!f->dflt)
			return load_fail(lc, f->name, "required %s", type_names[f->type]);
		d = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
		assert(d);
		json_object_set_new(e, f->name, d);
		return 0;
	}
	if (!field_type_ok(v, f->type))
		return load_fail(lc, f->name, "must be a %s", type_names[f->type]);
	if (f->ref && json_is_string(v) && !sim_store_get(org, f->ref, json_string_value(v)))
		return load_fail(lc, f->name, "names no entry of %s", f->ref);
	return 0;
}

/* Load one collection of an organisation fixture into org as an object keyed by id. */
static int load_collection(json_t *org, const json_t *src, const struct coll_spec *cs,
                           struct load_ctx *lc)
{
	const json_t *arr = json_object_get(src, cs->name);
	json_t *coll = json_object();
	json_t *item;
	size_t i;

	json_object_set_new(org, cs->name, coll);
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return load_fail(lc, cs->name, "must be an array");
	lc->collection = cs->name;
	json_array_foreach (arr, i, item) {
		json_auto_t *e = NULL;
		const json_t *id = json_object_get(item, "id");
		int r;

		lc->index = i;
		if (!json_is_object(item))
			return load_fail(lc, "", "must be an object");
		if (!valid_id(id))
			return load_fail(lc, "id", "required non-empty string without '/'");
		if (json_object_get(coll, json_string_value(id)))
			return load_fail(lc, "id", "duplicate id %s", json_string_value(id));
		e = json_deep_copy(item);
		for (size_t k = 0; k < cs->n_fields; k++)
			if ((r = load_field(org, e, &cs->fields[k], lc)) < 0)
				return r;
		if (cs->check && (r = cs->check(org, e, lc)) < 0)
			return r;
		json_object_set(coll, json_string_value(id), e);
	}
	lc->collection = NULL;
	return 0;
}

/* A schema field must compile with the simulator's JSON-Schema subset; it is compiled here,
 * once, for every later validation. */
static int check_schema_field(const json_t *org, json_t *e, const char *field, struct load_ctx *lc)
{
	struct schema_error se = {{0}};
	int r =
	    sim_store_schema_set(lc->st, org, lc->collection, e, json_object_get(e, field), &se);

	if (r == -EINVAL)
		return load_fail(lc, field, "schema rejected at %s: %s", se.path, se.message);
	return r;
}

/* Systems: every auth scheme config is one the API can answer (reference §3.5). */
static int check_system(json_t *org, json_t *e, struct load_ctx *lc)
{
	const json_t *c;
	size_t i;

	json_array_foreach (json_object_get(e, "authSchemeConfigs"), i, c)
		if (!sim_store_auth_scheme_config_valid(c))
			return load_fail(lc, "authSchemeConfigs",
			                 "entry %zu needs a known string type (api-key, ...)", i);
	return 0;
}

/* Environments: status is one of the four the API documents (reference §3.4). */
static int check_environment(json_t *org, json_t *e, struct load_ctx *lc)
{
	static const char *const statuses[] = {"running", "suspended", "error", "draft"};
	const char *status = json_string_value(json_object_get(e, "status"));

	for (size_t i = 0; i < ELEMENTSOF(statuses); i++)
		if (strcmp(status, statuses[i]) == 0)
			return 0;
	return load_fail(lc, "status", "must be running, suspended, error or draft");
}

/* Projects: the variables schema must compile. */
static int check_project(json_t *org, json_t *e, struct load_ctx *lc)
{
	return check_schema_field(org, e, "dynamicVariablesSchema", lc);
}

/* A user's optional primaryConnection {id, name?: "primary", createdAt?, updatedAt?} (the
 * user's timestamps by default). */
static int check_primary_connection(json_t *e, struct load_ctx *lc)
{
	json_t *pc = json_object_get(e, "primaryConnection");
	static const char *const stamps[] = {"createdAt", "updatedAt"};
	const json_t *name;

	if (!pc || json_is_null(pc)) {
		json_object_del(e, "primaryConnection");
		return 0;
	}
	name = json_object_get(pc, "name");
	if (!json_is_object(pc) || !valid_id(json_object_get(pc, "id")) ||
	    (name && !json_is_string(name)))
		return load_fail(lc, "primaryConnection",
		                 "must be {id, name?, createdAt?, updatedAt?}");
	if (!name)
		json_object_set_new(pc, "name", json_string(SIM_PRIMARY_CONNECTION_NAME));
	for (size_t i = 0; i < ELEMENTSOF(stamps); i++) {
		const json_t *v = json_object_get(pc, stamps[i]);

		if (!v)
			json_object_set(pc, stamps[i], json_object_get(e, stamps[i]));
		else if (!field_type_ok(v, FIELD_TIMESTAMP))
			return load_fail(lc, "primaryConnection",
			                 "%s must be a timestamp (RFC 3339)", stamps[i]);
	}
	return 0;
}

/* Users: externalId unique in the organisation; index it. */
static int check_user(json_t *org, json_t *e, struct load_ctx *lc)
{
	json_t *index = json_object_get(org, "userIndex");
	const char *ext = json_string_value(json_object_get(e, "externalId"));
	int r;

	if (!*ext)
		return load_fail(lc, "externalId", "must not be empty");
	if ((r = check_primary_connection(e, lc)) < 0)
		return r;
	if (json_object_get(index, ext))
		return load_fail(lc, "externalId", "duplicate externalId");
	json_object_set(index, ext, json_object_get(e, "id"));
	return 0;
}

/* Integrations: schema compiles; templates are objects with ids unique in the organisation. */
static int check_integration(json_t *org, json_t *e, struct load_ctx *lc)
{
	const json_t *templates = json_object_get(e, "connectionTemplates");
	const json_t *t;
	size_t i;
	int r;

	if ((r = check_schema_field(org, e, "variablesSchema", lc)) < 0)
		return r;
	json_array_foreach (templates, i, t) {
		const json_t *id = json_object_get(t, "id");

		if (!json_is_object(t) || !valid_id(id))
			return load_fail(lc, "connectionTemplates", "entry %zu needs a string id",
			                 i);
		if (sim_store_integration_of_template(org, json_string_value(id)) ||
		    sim_store_get(org, "connectionTemplates", json_string_value(id)))
			return load_fail(lc, "connectionTemplates", "duplicate template id %s",
			                 json_string_value(id));
		for (size_t k = 0; k < i; k++)
			if (json_equal(json_object_get(json_array_get(templates, k), "id"), id))
				return load_fail(lc, "connectionTemplates",
				                 "duplicate template id");
	}
	return 0;
}

/* Connections: the template is a v2 template (systemId follows it) or an embedded one. */
static int check_connection(json_t *org, json_t *e, struct load_ctx *lc)
{
	const char *tid = json_string_value(json_object_get(e, "connectionTemplateId"));
	const json_t *tpl = sim_store_get(org, "connectionTemplates", tid);
	const json_t *c;
	size_t i;

	if (tpl)
		json_object_set(e, "systemId", json_object_get(tpl, "systemId"));
	else if (sim_store_integration_of_template(org, tid))
		json_object_set_new(e, "systemId", json_null());
	else
		return load_fail(lc, "connectionTemplateId", "names no connection template");
	json_array_foreach (json_object_get(e, "credentials"), i, c)
		if (!json_is_object(c) || !json_is_string(json_object_get(c, "id")) ||
		    !sim_store_credential_valid(c))
			return load_fail(
			    lc, "credentials",
			    "entry %zu needs a string id and, if any, an authSchemeConfig "
			    "with a known type",
			    i);
	return 0;
}

/* Note a v2 activation under its user in userActivations. */
static void activation_index(json_t *org, const json_t *act)
{
	json_t *index = json_object_get(org, "userActivations");
	const char *uid = json_string_value(json_object_get(act, "userId"));
	json_t *set = json_object_get(index, uid);

	if (!set) {
		set = json_object();
		json_object_set_new(index, uid, set);
	}
	json_object_set_new(set, json_string_value(json_object_get(act, "id")), json_true());
}

/* Activations: connections is an array of connection ids of the organisation. */
static int check_activation(json_t *org, json_t *e, struct load_ctx *lc)
{
	const json_t *c;
	size_t i;

	json_array_foreach (json_object_get(e, "connections"), i, c)
		if (!json_is_string(c) || !sim_store_get(org, "connections", json_string_value(c)))
			return load_fail(lc, "connections", "entry %zu names no connection", i);
	activation_index(org, e);
	return 0;
}

/* Embedded activations: [{templateId, connectionId}] naming existing entities; hubId follows;
 * the user gets a primary connection if it has none (an embedded end user always has one). */
static int check_embedded_activation(json_t *org, json_t *e, struct load_ctx *lc)
{
	const json_t *integ = sim_store_get(org, "integrations",
	                                    json_string_value(json_object_get(e, "integrationId")));
	json_t *user = sim_store_get(org, "users", json_string_value(json_object_get(e, "userId")));
	int64_t created_ms = 0;
	const json_t *c;
	size_t i;

	json_array_foreach (json_object_get(e, "connections"), i, c) {
		const char *tid = json_string_value(json_object_get(c, "templateId"));
		const char *cid = json_string_value(json_object_get(c, "connectionId"));

		if (!tid || !cid || !sim_store_get(org, "connections", cid) ||
		    sim_store_integration_of_template(org, tid) != integ)
			return load_fail(lc, "connections",
			                 "entry %zu needs a templateId of the integration and an "
			                 "existing connectionId",
			                 i);
	}
	json_object_set(e, "hubId", json_object_get(integ, "hubId"));
	(void)!sim_store_timestamp_parse(json_string_value(json_object_get(user, "createdAt")),
	                                 &created_ms);
	(void)sim_store_user_primary_connection(lc->st, user, created_ms);
	return 0;
}

/* A secret given inline as field or by environment variable name as field+"Env". */
static int resolve_secret(json_t *e, const char *field, struct load_ctx *lc)
{
	char env_field[64];
	const json_t *v = json_object_get(e, field);
	const json_t *env;
	const char *val;

	(void)snprintf(env_field, sizeof(env_field), "%sEnv", field);
	env = json_object_get(e, env_field);
	if (json_is_string(v) && json_string_length(v) > 0) {
		if (env)
			return load_fail(lc, field, "give either %s or %s, not both", field,
			                 env_field);
		return 0;
	}
	if (!json_is_string(env) || json_string_length(env) == 0)
		return load_fail(lc, field, "required: %s or %s", field, env_field);
	val = getenv(json_string_value(env));
	if (!val || !*val)
		return load_fail(lc, env_field, "environment variable %s is not set",
		                 json_string_value(env));
	json_object_set_new(e, field, json_string(val));
	return 0;
}

/* Signing keys: resolve the public key; ids are unique across organisations. */
static int check_signing_key(json_t *org, json_t *e, struct load_ctx *lc)
{
	const char *id = json_string_value(json_object_get(e, "id"));

	if (json_object_get(lc->st->sk_orgs, id))
		return load_fail(lc, "id", "signing key id used by another organisation");
	json_object_set(lc->st->sk_orgs, id, json_object_get(org, "id"));
	return resolve_secret(e, "publicKey", lc);
}

/* API keys: [{name, key | keyEnv}], unique across organisations. */
static int load_api_keys(json_t *org, const json_t *src, struct load_ctx *lc)
{
	const json_t *arr = json_object_get(src, "apiKeys");
	json_t *keys = json_array();
	json_t *item;
	size_t i;
	int r;

	json_object_set_new(org, "apiKeys", keys);
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return load_fail(lc, "apiKeys", "must be an array");
	lc->collection = "apiKeys";
	json_array_foreach (arr, i, item) {
		json_auto_t *k = json_deep_copy(item);

		lc->index = i;
		if (!json_is_object(item))
			return load_fail(lc, "", "must be an object");
		if ((r = resolve_secret(k, "key", lc)) < 0)
			return r;
		if (sim_store_api_key_org(lc->st, json_string_value(json_object_get(k, "key"))))
			return load_fail(lc, "key", "API key used twice");
		json_array_append_new(lc->st->api_keys,
		                      json_pack("{s:O,s:O}", "key", json_object_get(k, "key"),
		                                "org", json_object_get(org, "id")));
		json_array_append(keys, k);
	}
	lc->collection = NULL;
	return 0;
}

/* Load one organisation fixture into the store. */
static int load_org(struct sim_store *st, const json_t *src, struct load_ctx *lc)
{
	static const char *const known[] = {"id", "name", "apiKeys"};
	const json_t *id = json_object_get(src, "id");
	const json_t *name = json_object_get(src, "name");
	json_t *org;
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(src))
		return load_fail(lc, "", "must be an object");
	if (!valid_id(id))
		return load_fail(lc, "id", "required non-empty string without '/'");
	if (name && !json_is_string(name))
		return load_fail(lc, "name", "must be a string");
	if (json_object_get(st->orgs, json_string_value(id)))
		return load_fail(lc, "id", "duplicate organisation id");
	json_object_foreach ((json_t *)src, key, v) {
		bool ok = false;

		for (size_t i = 0; i < ELEMENTSOF(known) && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		for (size_t i = 0; i < ELEMENTSOF(collections) && !ok; i++)
			ok = strcmp(key, collections[i].name) == 0;
		if (!ok)
			return load_fail(lc, key, "unknown key");
	}
	org = json_pack("{s:O,s:s,s:{},s:{}}", "id", id, "name",
	                name ? json_string_value(name) : "", "userIndex", "userActivations");
	json_object_set_new(st->orgs, json_string_value(id), org);
	for (size_t i = 0; i < ELEMENTSOF(collections); i++)
		if ((r = load_collection(org, src, &collections[i], lc)) < 0)
			return r;
	return load_api_keys(org, src, lc);
}

/* Fill st from a fixture document. */
int sim_store_load(struct sim_store *st, const json_t *fixture, char *err, size_t errlen)
{
	struct load_ctx lc = {.st = st, .err = err, .errlen = errlen};
	const json_t *orgs = json_object_get(fixture, "organisations");
	const char *key;
	json_t *v;
	size_t i;
	int r = 0;

	*st = (struct sim_store){.orgs = json_object(),
	                         .api_keys = json_array(),
	                         .sk_orgs = json_object(),
	                         .schema_index = json_object()};
	if (!json_is_object(fixture) || !json_is_array(orgs)) {
		(void)snprintf(err, errlen, "fixture: an object with an array \"organisations\"");
		r = -EINVAL;
		goto out;
	}
	json_object_foreach ((json_t *)fixture, key, v)
		if (strcmp(key, "organisations") != 0 && strcmp(key, "switches") != 0) {
			(void)snprintf(err, errlen, "fixture: unknown key \"%s\"", key);
			r = -EINVAL;
			goto out;
		}
	json_array_foreach (orgs, i, v) {
		lc.org_index = i;
		if ((r = load_org(st, v, &lc)) < 0)
			goto out;
	}
out:
	if (r < 0)
		sim_store_fini(st);
	return r;
}

/* Release the state. */
void sim_store_fini(struct sim_store *st)
{
	for (size_t i = 0; i < st->n_schemas; i++) {
		schema_free(st->schemas[i].compiled);
		json_decref(st->schemas[i].doc);
	}
	free(st->schemas);
	st->schemas = NULL;
	st->n_schemas = 0;
	json_decref(st->schema_index);
	json_decref(st->orgs);
	json_decref(st->api_keys);
	json_decref(st->sk_orgs);
	st->orgs = st->api_keys = st->sk_orgs = st->schema_index = NULL;
}

/* The member of an entity of collection that holds its variables schema. */
static const char *schema_field(const char *collection)
{
	return strcmp(collection, "integrations") == 0 ? "variablesSchema"
	                                               : "dynamicVariablesSchema";
}

/* The cache slot of an entity's schema, made (empty) when new. */
static struct sim_schema_entry *schema_slot(struct sim_store *st, const json_t *org,
                                            const char *collection, const json_t *entity)
{
	_cleanup_free_ char *key =
	    xasprintf("%s/%s/%s", json_string_value(json_object_get(org, "id")), collection,
	              json_string_value(json_object_get(entity, "id")));
	const json_t *slot = json_object_get(st->schema_index, key);

	if (slot)
		return &st->schemas[json_integer_value(slot)];
	st->schemas = xreallocarray(st->schemas, st->n_schemas + 1, sizeof(*st->schemas));
	st->schemas[st->n_schemas] = (struct sim_schema_entry){0};
	json_object_set_new(st->schema_index, key, json_integer((json_int_t)st->n_schemas));
	return &st->schemas[st->n_schemas++];
}

/* Put doc and its compiled form (taken) into a slot, dropping what it held. */
static void schema_slot_fill(struct sim_schema_entry *e, json_t *doc, struct schema *owned)
{
	schema_free(e->compiled);
	json_decref(e->doc);
	e->doc = json_incref(doc);
	e->compiled = owned;
}

/* Compile, store and cache an entity's variables schema. */
int sim_store_schema_set(struct sim_store *st, const json_t *org, const char *collection,
                         json_t *entity, json_t *doc, struct schema_error *reterr)
{
	struct schema *s = NULL;
	int r;

	if (!json_is_null(doc) && (r = schema_compile(doc, &s, reterr)) < 0)
		return r;
	json_object_set(entity, schema_field(collection), doc);
	schema_slot_fill(schema_slot(st, org, collection, entity), doc, s);
	return 0;
}

/* The cached compiled schema of an entity. */
int sim_store_schema_get(struct sim_store *st, const json_t *org, const char *collection,
                         const json_t *entity, const struct schema **ret)
{
	json_t *doc = json_object_get(entity, schema_field(collection));
	struct sim_schema_entry *e;
	struct schema *s = NULL;
	int r;

	*ret = NULL;
	if (!doc || json_is_null(doc))
		return 0;
	e = schema_slot(st, org, collection, entity);
	/* The slot holds a reference to its document, so an equal address is the same document:
	 * a replaced one is compiled here (sim_store_schema_set() does it up front). */
	if (e->doc != doc) {
		if ((r = schema_compile(doc, &s, NULL)) < 0)
			return r;
		schema_slot_fill(e, doc, s);
	}
	*ret = e->compiled;
	return 0;
}

/* A copy of a secret-bearing entity that keeps the "...Env" reference instead of the value. */
static json_t *save_secret(const json_t *e, const char *field)
{
	char env_field[64];
	json_t *c = json_deep_copy(e);

	(void)snprintf(env_field, sizeof(env_field), "%sEnv", field);
	if (json_object_get(c, env_field))
		json_object_del(c, field);
	return c;
}

/* One organisation in fixture format. */
static json_t *org_to_json(const json_t *org)
{
	json_t *o = json_pack("{s:O,s:O,s:[]}", "id", json_object_get(org, "id"), "name",
	                      json_object_get(org, "name"), "apiKeys");
	const json_t *v;
	const char *key;
	size_t i;

	json_array_foreach (json_object_get(org, "apiKeys"), i, v)
		json_array_append_new(json_object_get(o, "apiKeys"), save_secret(v, "key"));
	for (size_t k = 0; k < ELEMENTSOF(collections); k++) {
		bool secret = strcmp(collections[k].name, "signingKeys") == 0;
		json_t *arr = json_array();

		json_object_foreach (json_object_get(org, collections[k].name), key, v)
			json_array_append_new(arr, secret ? save_secret(v, "publicKey")
			                                  : json_deep_copy(v));
		json_object_set_new(o, collections[k].name, arr);
	}
	return o;
}

/* The state in fixture format. */
json_t *sim_store_to_json(const struct sim_store *st)
{
	json_t *orgs = json_array();
	const char *key;
	json_t *org;

	json_object_foreach (st->orgs, key, org)
		json_array_append_new(orgs, org_to_json(org));
	return json_pack("{s:o}", "organisations", orgs);
}

/* Add one to the 80-bit big-endian random part (monotonic ULIDs within a millisecond). */
static void ulid_increment(uint8_t rnd[static 10])
{
	for (int i = 9; i >= 0; i--)
		if (++rnd[i] != 0)
			break;
}

/* A new monotonic ULID. */
void sim_store_ulid(struct sim_store *st, int64_t now_ms, char out[static SIM_ULID_SIZE])
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t ms = now_ms < 0 ? 0 : (uint64_t)now_ms & 0xffffffffffffULL;

	if (st->ulid_used && ms <= st->ulid_ms) {
		ms = st->ulid_ms;
		ulid_increment(st->ulid_rnd);
	} else if (crypto_random_bytes(st->ulid_rnd, sizeof(st->ulid_rnd)) < 0) {
		/* No randomness: stay unique by counting from the previous value. */
		ulid_increment(st->ulid_rnd);
	}
	st->ulid_ms = ms;
	st->ulid_used = true;
	for (int i = 9; i >= 0; i--, ms >>= 5)
		out[i] = b32[ms & 31];
	for (int half = 0; half < 2; half++) {
		uint64_t bits = 0;

		for (int i = 0; i < 5; i++)
			bits = (bits << 8) | st->ulid_rnd[half * 5 + i];
		for (int i = 7; i >= 0; i--, bits >>= 5)
			out[10 + half * 8 + i] = b32[bits & 31];
	}
	out[26] = '\0';
}

/* RFC 3339 UTC with microseconds. */
void sim_store_timestamp(int64_t now_ms, char out[static SIM_TIMESTAMP_SIZE])
{
	time_t t;
	struct tm tm;

	if (now_ms < 0)
		now_ms = 0;
	t = (time_t)(now_ms / 1000);
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999) {
		(void)snprintf(out, SIM_TIMESTAMP_SIZE, "9999-12-31T23:59:59.999999Z");
		return;
	}
	(void)snprintf(out, SIM_TIMESTAMP_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	               tm.tm_sec, (int)(now_ms % 1000) * 1000);
}

/* Whether s is "dddd-dd-ddTdd:dd:dd" (d a digit), the fixed part of an RFC 3339 date-time. */
static bool timestamp_prefix_ok(const char *s)
{
	static const char tmpl[] = "dddd-dd-ddTdd:dd:dd";

	for (size_t i = 0; i < sizeof(tmpl) - 1; i++)
		if (tmpl[i] == 'd' ? !isdigit((unsigned char)s[i])
		                   : toupper((unsigned char)s[i]) != tmpl[i])
			return false;
	return true;
}

/* The zone of an RFC 3339 date-time ("Z" or "+hh:mm"/"-hh:mm") as seconds east of UTC. */
static int timestamp_zone(const char *p, long *ret_s)
{
	int hh, mm;

	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		*ret_s = 0;
		return 0;
	}
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]) || p[3] != ':' || !isdigit((unsigned char)p[4]) ||
	    !isdigit((unsigned char)p[5]) || sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 ||
	    mm > 59)
		return -EINVAL;
	*ret_s = (*p == '-' ? -1L : 1L) * (hh * 3600L + mm * 60L);
	return 0;
}

/* The number of days of month mon (1-12) of year. */
static int days_in_month(int year, int mon)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : days[mon - 1];
}

/* Parse an RFC 3339 date-time into milliseconds since the epoch. */
int sim_store_timestamp_parse(const char *s, int64_t *ret_ms)
{
	struct tm tm = {0};
	int year, mon, mday;
	const char *p;
	long ms = 0, zone;
	time_t t;

	if (!s || strlen(s) < 20 || !timestamp_prefix_ok(s) ||
	    sscanf(s, "%4d-%2d-%2d%*c%2d:%2d:%2d", &year, &mon, &mday, &tm.tm_hour, &tm.tm_min,
	           &tm.tm_sec) != 6)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -EINVAL;
		for (long scale = 100; isdigit((unsigned char)*++p); scale /= 10)
			ms += (*p - '0') * scale;
	}
	/* A leap second (:60) is valid; timegm() counts it as the next second. */
	if (timestamp_zone(p, &zone) < 0 || mon < 1 || mon > 12 || mday < 1 ||
	    mday > days_in_month(year, mon) || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	t = timegm(&tm);
	if (ret_ms)
		*ret_ms = ((int64_t)t - zone) * 1000 + ms;
	return 0;
}

/* Organisation by id. */
json_t *sim_store_org(const struct sim_store *st, const char *org_id)
{
	return org_id ? json_object_get(st->orgs, org_id) : NULL;
}

/* Entity by collection and id. */
json_t *sim_store_get(const json_t *org, const char *collection, const char *id)
{
	if (!id)
		return NULL;
	return json_object_get(json_object_get(org, collection), id);
}

/* A user by ULID or externalId. */
json_t *sim_store_user_find(const json_t *org, const char *id_or_external)
{
	json_t *u = sim_store_get(org, "users", id_or_external);
	const char *id;

	if (u || !id_or_external)
		return u;
	id = json_string_value(json_object_get(json_object_get(org, "userIndex"), id_or_external));
	return sim_store_get(org, "users", id);
}

/* The user's primary connection, made now when it has none. */
const json_t *sim_store_user_primary_connection(struct sim_store *st, json_t *user, int64_t now_ms)
{
	char id[SIM_ULID_SIZE], ts[SIM_TIMESTAMP_SIZE];
	json_t *pc = json_object_get(user, "primaryConnection");

	if (pc)
		return pc;
	sim_store_ulid(st, now_ms, id);
	sim_store_timestamp(now_ms, ts);
	pc = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", SIM_PRIMARY_CONNECTION_NAME,
	               "createdAt", ts, "updatedAt", ts);
	json_object_set_new(user, "primaryConnection", pc);
	return pc;
}

/* Whether an auth scheme config is an object with one of the documented types. */
bool sim_store_auth_scheme_config_valid(const json_t *c)
{
	static const char *const types[] = {"none",        "api-key", "basic-auth",
	                                    "oauth2",      "hmac",    "jwt-bearer",
	                                    "certificate", "oauth1",  "secret"};
	const char *type = json_string_value(json_object_get(c, "type"));

	if (!json_is_object(c) || !type)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

/* Whether a connection credential's authSchemeConfig, if any, is valid. */
bool sim_store_credential_valid(const json_t *cr)
{
	const json_t *asc = json_object_get(cr, "authSchemeConfig");

	return json_is_object(cr) && (!asc || sim_store_auth_scheme_config_valid(asc));
}

/* Add a user and index its externalId. */
void sim_store_user_add(json_t *org, json_t *owned_user)
{
	const char *id = json_string_value(json_object_get(owned_user, "id"));
	const char *ext = json_string_value(json_object_get(owned_user, "externalId"));

	json_object_set_new(json_object_get(org, "userIndex"), ext, json_string(id));
	json_object_set_new(json_object_get(org, "users"), id, owned_user);
}

/* Delete every entity of a collection whose field equals value. */
static void remove_where(json_t *org, const char *collection, const char *field, const char *value)
{
	json_t *coll = json_object_get(org, collection);
	const char *key;
	json_t *e;
	void *tmp;

	json_object_foreach_safe(coll, tmp, key, e)
	{
		const char *v = json_string_value(json_object_get(e, field));

		if (v && strcmp(v, value) == 0)
			json_object_del(coll, key);
	}
}

/* Drop every binding of connection conn_id from the v2 and embedded activations. */
static void connection_unbind(json_t *org, const char *conn_id)
{
	const char *key;
	json_t *act;

	json_object_foreach (json_object_get(org, "activations"), key, act) {
		json_t *ids = json_object_get(act, "connections");

		for (size_t i = json_array_size(ids); i-- > 0;)
			if (strcmp(json_string_value(json_array_get(ids, i)), conn_id) == 0)
				json_array_remove(ids, i);
	}
	json_object_foreach (json_object_get(org, "embeddedActivations"), key, act) {
		json_t *bound = json_object_get(act, "connections");

		for (size_t i = json_array_size(bound); i-- > 0;) {
			const char *cid = json_string_value(
			    json_object_get(json_array_get(bound, i), "connectionId"));

			if (cid && strcmp(cid, conn_id) == 0)
				json_array_remove(bound, i);
		}
	}
}

/* Remove a connection and every activation's binding of it. */
void sim_store_connection_remove(json_t *org, const char *conn_id)
{
	_cleanup_free_ char *id = xstrdup(conn_id); /* conn_id may be the key deleted below */

	connection_unbind(org, id);
	json_object_del(json_object_get(org, "connections"), id);
}

/* Remove a user, its activations and its dynamic connections. */
void sim_store_user_remove(json_t *org, const char *user_id)
{
	json_t *u = sim_store_get(org, "users", user_id);
	json_t *conns = json_object_get(org, "connections");
	const char *key;
	json_t *conn;
	void *tmp;

	if (!u)
		return;
	json_object_del(json_object_get(org, "userIndex"),
	                json_string_value(json_object_get(u, "externalId")));
	remove_where(org, "activations", "userId", user_id);
	json_object_del(json_object_get(org, "userActivations"), user_id);
	remove_where(org, "embeddedActivations", "userId", user_id);
	/* Another user's embedded activation may bind one of them: unbind, then delete. */
	json_object_foreach_safe(conns, tmp, key, conn)
	{
		const char *owner = json_string_value(json_object_get(conn, "endUserId"));

		if (owner && strcmp(owner, user_id) == 0)
			sim_store_connection_remove(org, key);
	}
	json_object_del(json_object_get(org, "users"), user_id);
}

/* API key lookup over every key, each compared in constant time. */
const char *sim_store_api_key_org(const struct sim_store *st, const char *key)
{
	const char *found = NULL;
	const json_t *k;
	size_t i;

	if (!key)
		return NULL;
	json_array_foreach (st->api_keys, i, k) {
		const json_t *v = json_object_get(k, "key");

		if (crypto_equal(key, strlen(key), json_string_value(v), json_string_length(v)))
			found = json_string_value(json_object_get(k, "org"));
	}
	return found;
}

/* Signing key lookup. */
const json_t *sim_store_signing_key(const struct sim_store *st, const char *key_id,
                                    const char **ret_org_id)
{
	const char *org_id = json_string_value(json_object_get(st->sk_orgs, key_id));
	const json_t *k = sim_store_get(sim_store_org(st, org_id), "signingKeys", key_id);

	if (k && ret_org_id)
		*ret_org_id = org_id;
	return k;
}

/* The integration holding an embedded connection template. */
const json_t *sim_store_integration_of_template(const json_t *org, const char *template_id)
{
	const char *key;
	const json_t *integ;

	if (!template_id)
		return NULL;
	json_object_foreach (json_object_get(org, "integrations"), key, integ) {
		const json_t *t;
		size_t i;

		json_array_foreach (json_object_get(integ, "connectionTemplates"), i, t)
			if (json_is_string(json_object_get(t, "id")) &&
			    strcmp(json_string_value(json_object_get(t, "id")), template_id) == 0)
				return integ;
	}
	return NULL;
}

/* Add a v2 activation and index it. */
void sim_store_activation_add(json_t *org, json_t *owned_act)
{
	activation_index(org, owned_act);
	json_object_set_new(json_object_get(org, "activations"),
	                    json_string_value(json_object_get(owned_act, "id")), owned_act);
}

/* Remove a v2 activation and its index entry. */
void sim_store_activation_remove(json_t *org, const char *act_id)
{
	json_t *act = sim_store_get(org, "activations", act_id);
	json_t *index = json_object_get(org, "userActivations");
	const char *uid;
	json_t *set;

	if (!act)
		return;
	uid = json_string_value(json_object_get(act, "userId"));
	set = json_object_get(index, uid);
	json_object_del(set, act_id);
	if (set && json_object_size(set) == 0)
		json_object_del(index, uid);
	json_object_del(json_object_get(org, "activations"), act_id);
}

/* A user's v2 activation ids. */
const json_t *sim_store_user_activations(const json_t *org, const char *user_id)
{
	return user_id ? json_object_get(json_object_get(org, "userActivations"), user_id) : NULL;
}

/* "https://" in front of a base URL without a scheme. */
static json_t *base_url(const char *url)
{
	json_t *v;
	char *s;

	if (!*url || strstr(url, "://"))
		return json_string(url);
	s = xasprintf("https://%s", url);
	v = json_string(s);
	free(s);
	return v;
}

/* Create and store a connection. */
json_t *sim_store_connection_add(struct sim_store *st, json_t *org, int64_t now_ms,
                                 const struct sim_connection_spec *spec)
{
	const char *url = json_string_value(json_object_get(spec->create, "baseUrl"));
	char id[SIM_ULID_SIZE], ts[SIM_TIMESTAMP_SIZE];
	json_t *creds = json_array();
	const json_t *cr;
	json_t *conn;
	size_t i;

	if (!url || !*url)
		url = spec->default_base_url ? spec->default_base_url : "";
	json_array_foreach (json_object_get(spec->create, "credentials"), i, cr) {
		json_t *copy = json_deep_copy(cr);

		sim_store_ulid(st, now_ms, id);
		json_object_set_new(copy, "id", json_string(id));
		json_array_append_new(creds, copy);
	}
	sim_store_ulid(st, now_ms, id);
	sim_store_timestamp(now_ms, ts);
	conn = json_pack("{s:s,s:O,s:o,s:o,s:s,s:s?,s:s?,s:s,s:s}", "id", id, "name",
	                 json_object_get(spec->create, "name"), "baseUrl", base_url(url),
	                 "credentials", creds, "connectionTemplateId", spec->template_id,
	                 "systemId", spec->system_id, "endUserId", spec->end_user_id, "createdAt",
	                 ts, "updatedAt", ts);
	json_object_set_new(json_object_get(org, "connections"), id, conn);
	return conn;
}
