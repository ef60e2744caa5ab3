/* Outbound Versori API requests: validation, percent-encoded paths and JSON bodies. */
#include "versori_request.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "json.h"
#include "xalloc.h"

#define ULID_LENGTH 26

static const char *const api_names[_VERSORI_API_MAX] = {
    [VERSORI_API_V2] = "v2",
    [VERSORI_API_EMBEDDED_V1] = "embedded_v1",
};

/* The name of an API family, or NULL when out of range. */
const char *versori_api_to_string(enum versori_api a)
{
	return (unsigned)a < _VERSORI_API_MAX ? api_names[a] : NULL;
}

/* Whether c is a Crockford base32 digit (I, L, O and U are not). */
static bool crockford_digit(char c)
{
	if (c >= '0' && c <= '9')
		return true;
	c = (char)(c & ~0x20);
	return c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U';
}

/* Whether s is a ULID; the first digit is at most 7 so the value fits 128 bits. */
bool versori_ulid_is_valid(const char *s)
{
	if (!s || strlen(s) != ULID_LENGTH || s[0] < '0' || s[0] > '7')
		return false;
	for (size_t i = 0; i < ULID_LENGTH; i++)
		if (!crockford_digit(s[i]))
			return false;
	return true;
}

/* Percent-encode every byte of s outside RFC 3986 unreserved characters. */
char *versori_percent_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 0xf];
	}
	*o = '\0';
	return out;
}

/* Release a request's owned parts and zero it. */
void versori_request_fini(struct versori_request *r)
{
	if (!r)
		return;
	free(r->org);
	free(r->path);
	free(r->subject);
	json_decref(r->body);
	*r = (struct versori_request){};
}

/* Describe a validation failure; always returns -EINVAL. */
static int problem_fail(struct problem *reterr, const char *code, const char *field,
                        const char *message)
{
	if (reterr)
		*reterr = (struct problem){.code = code, .field = field, .message = message};
	return -EINVAL;
}

/* A required ULID argument. */
static int check_ulid(const char *v, const char *field, struct problem *reterr)
{
	if (!v || !*v)
		return problem_fail(reterr, "required", field, "a ULID is required");
	if (!versori_ulid_is_valid(v))
		return problem_fail(reterr, "invalid_ulid", field, "not a ULID");
	return 0;
}

/* A required identifier chosen by us or Versori (externalId, variable name): non-empty, bounded,
 * valid UTF-8 (jansson refuses anything else), no control characters. */
static int check_text(const char *v, const char *field, struct problem *reterr)
{
	json_auto_t *probe = NULL;

	if (!v || !*v)
		return problem_fail(reterr, "required", field, "must not be empty");
	if (strlen(v) > VERSORI_EXTERNAL_ID_MAX)
		return problem_fail(reterr, "too_long", field, "longer than 1024 bytes");
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return problem_fail(reterr, "invalid_characters", field,
			                    "contains control characters");
	probe = json_string(v);
	if (!probe)
		return problem_fail(reterr, "invalid_utf8", field, "not valid UTF-8");
	return 0;
}

/* A JSON object argument; optional ones may be NULL. */
static int check_object(const json_t *v, bool optional, const char *field, struct problem *reterr)
{
	if (!v && optional)
		return 0;
	if (!json_is_object(v))
		return problem_fail(reterr, "not_object", field, "must be a JSON object");
	return 0;
}

/* A path from a template whose only conversions are %s, each replaced by the next of args,
 * percent-encoded. */
static char *path_build(const char *fmt, const char *const *args)
{
	size_t cap = strlen(fmt) + 1, len = 0;
	char *out = xmalloc(cap);

	for (const char *f = fmt; *f; f++) {
		_cleanup_free_ char *enc = NULL;
		const char *piece = f;
		size_t n = 1;

		if (f[0] == '%' && f[1] == 's') {
			enc = versori_percent_encode(*args++);
			piece = enc;
			n = strlen(enc);
			f++;
		}
		if (len + n + 1 > cap) {
			cap = 2 * (len + n + 1);
			out = xrealloc(out, cap);
		}
		memcpy(out + len, piece, n);
		len += n;
	}
	out[len] = '\0';
	return out;
}
#define PATH_BUILD(fmt, ...) path_build(fmt, (const char *const[]){__VA_ARGS__})

/* Append "?name=value" or "&name=value" (value percent-encoded) to *path. */
static void query_append(char **path, const char *name, const char *value)
{
	_cleanup_free_ char *enc = versori_percent_encode(value);
	char *p = xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', name, enc);

	free(*path);
	*path = p;
}

/* Fill ret from its parts; takes path and body, copies org and subject. */
static int request_fill(struct versori_request *ret, enum http_method method, const char *op,
                        const char *org, char *owned_path, json_t *owned_body, const char *subject)
{
	assert(owned_path);
	*ret = (struct versori_request){
	    .method = method,
	    .api = org ? VERSORI_API_V2 : VERSORI_API_EMBEDDED_V1,
	    .op = op,
	    .org = org ? xstrdup(org) : NULL,
	    .path = owned_path,
	    .body = owned_body,
	    .subject = subject ? xstrdup(subject) : NULL,
	};
	return 0;
}

/* A deep copy of a caller's JSON value for a body; NULL only on OOM. */
static json_t *json_copy_body(const json_t *v)
{
	return json_deep_copy(v);
}

/* POST /o/{org}/users {externalId, displayName?} -> 201. */
int versori_request_end_user_create_build(const char *org, const char *external_id,
                                          const char *display_name, struct versori_request *ret,
                                          struct problem *reterr)
{
	json_t *body;

	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_text(external_id, "externalId", reterr) < 0)
		return -EINVAL;
	body = json_pack("{s:s}", "externalId", external_id);
	if (!body)
		return -ENOMEM;
	if (display_name && json_object_set_new(body, "displayName", json_string(display_name))) {
		json_decref(body);
		return problem_fail(reterr, "invalid_utf8", "displayName", "not valid UTF-8");
	}
	return request_fill(ret, HTTP_METHOD_POST, "end_user.create", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/users", org), body, external_id);
}

/* GET /o/{org}/users/{externalId} -> 200 or 404. */
int versori_request_end_user_get_build(const char *org, const char *external_id,
                                       struct versori_request *ret, struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_text(external_id, "externalId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_GET, "end_user.get", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/users/%s", org, external_id), NULL,
	                    external_id);
}

/* GET /o/{org}/users?search=&activated=&environment_id= -> 200 EndUserPage. */
int versori_request_end_user_list_build(const char *org, const char *search,
                                        enum versori_activated_filter activated,
                                        const char *environment_id, struct versori_request *ret,
                                        struct problem *reterr)
{
	char *path;

	if (check_ulid(org, "organisationId", reterr) < 0)
		return -EINVAL;
	if ((unsigned)activated >= _VERSORI_ACTIVATED_MAX)
		return problem_fail(reterr, "invalid", "activated", "unknown filter value");
	if (activated != VERSORI_ACTIVATED_ANY && !environment_id)
		return problem_fail(reterr, "required", "environment_id",
		                    "activated needs an environment");
	if (environment_id && check_ulid(environment_id, "environment_id", reterr) < 0)
		return -EINVAL;
	path = PATH_BUILD(VERSORI_V2_ROOT "/o/%s/users", org);
	if (search && *search)
		query_append(&path, "search", search);
	if (activated != VERSORI_ACTIVATED_ANY)
		query_append(&path, "activated",
		             activated == VERSORI_ACTIVATED_TRUE ? "true" : "false");
	if (environment_id)
		query_append(&path, "environment_id", environment_id);
	return request_fill(ret, HTTP_METHOD_GET, "end_user.list", org, path, NULL, NULL);
}

/* DELETE /o/{org}/users/{externalId} -> 204. */
int versori_request_end_user_delete_build(const char *org, const char *external_id,
                                          struct versori_request *ret, struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_text(external_id, "externalId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_DELETE, "end_user.delete", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/users/%s", org, external_id), NULL,
	                    external_id);
}

/* Check bindings and build their JSON array with the given member names. */
static int bindings_build(const struct versori_connection_binding *b, size_t n,
                          const char *template_key, const char *connection_key, json_t **ret,
                          struct problem *reterr)
{
	json_t *arr;

	if (n > 0 && !b)
		return problem_fail(reterr, "required", "connections", "bindings missing");
	for (size_t i = 0; i < n; i++) {
		bool inline_ok =
		    b[i].connection && strcmp(template_key, "connectionTemplateId") == 0;

		if (b[i].connection && !inline_ok)
			return problem_fail(reterr, "invalid", "connections",
			                    "an inline connection is a Platform v2 feature");
		if (inline_ok && !json_is_object(b[i].connection))
			return problem_fail(reterr, "invalid", "connection",
			                    "an inline connection must be an object");
		if (check_ulid(b[i].template_id, template_key, reterr) < 0 ||
		    (!inline_ok && check_ulid(b[i].connection_id, connection_key, reterr) < 0))
			return -EINVAL;
	}
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = b[i].connection ? json_pack("{s:s,s:O}", template_key, b[i].template_id,
		                                        "connection", (json_t *)b[i].connection)
		                            : json_pack("{s:s,s:s}", template_key, b[i].template_id,
		                                        connection_key, b[i].connection_id);
		if (json_array_append_new(arr, e) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	}
	*ret = arr;
	return 0;
}

/* Attach an optional dynamicVariables object to body under key. */
static int body_set_variables(json_t *body, const char *key, const json_t *variables)
{
	if (!variables)
		return 0;
	return json_object_set_new(body, key, json_copy_body(variables)) < 0 ? -ENOMEM : 0;
}

/* POST /o/{org}/activations {userId, environmentId, connections, dynamicVariables?} -> 200. */
int versori_request_activation_create_build(const char *org, const char *user_id,
                                            const char *environment_id,
                                            const struct versori_connection_binding *bindings,
                                            size_t n_bindings, const json_t *dynamic_variables,
                                            struct versori_request *ret, struct problem *reterr)
{
	json_t *conns = NULL, *body;
	int r;

	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_text(user_id, "userId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0 ||
	    check_object(dynamic_variables, true, "dynamicVariables", reterr) < 0)
		return -EINVAL;
	r = bindings_build(bindings, n_bindings, "connectionTemplateId", "existingConnectionId",
	                   &conns, reterr);
	if (r < 0)
		return r;
	body = json_pack("{s:s,s:s,s:o}", "userId", user_id, "environmentId", environment_id,
	                 "connections", conns);
	if (!body || body_set_variables(body, "dynamicVariables", dynamic_variables) < 0) {
		json_decref(body);
		return -ENOMEM;
	}
	return request_fill(ret, HTTP_METHOD_POST, "activation.create", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/activations", org), body, user_id);
}

/* GET /o/{org}/environments/{env}/activations -> 200 array. */
int versori_request_activation_list_build(const char *org, const char *environment_id,
                                          struct versori_request *ret, struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0)
		return -EINVAL;
	return request_fill(
	    ret, HTTP_METHOD_GET, "activation.list", org,
	    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/environments/%s/activations", org, environment_id),
	    NULL, NULL);
}

/* GET /o/{org}/environment/{env}/users/{externalId}/activations -> 200 array. */
int versori_request_user_activation_list_build(const char *org, const char *environment_id,
                                               const char *external_id, struct versori_request *ret,
                                               struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0 ||
	    check_text(external_id, "externalId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_GET, "activation.list_user", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/environment/%s/users/%s/activations",
	                               org, environment_id, external_id),
	                    NULL, external_id);
}

/* Shared checks and path of one activation in an environment. */
static int activation_path(const char *org, const char *environment_id, const char *activation_id,
                           const char *suffix, char **ret, struct problem *reterr)
{
	_cleanup_free_ char *base = NULL;

	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0 ||
	    check_ulid(activation_id, "activationId", reterr) < 0)
		return -EINVAL;
	base = PATH_BUILD(VERSORI_V2_ROOT "/o/%s/environments/%s/activations/%s", org,
	                  environment_id, activation_id);
	*ret = xasprintf("%s%s", base, suffix);
	return 0;
}

/* GET /o/{org}/environments/{env}/activations/{id} -> 200. */
int versori_request_activation_get_build(const char *org, const char *environment_id,
                                         const char *activation_id, struct versori_request *ret,
                                         struct problem *reterr)
{
	char *path = NULL;

	if (activation_path(org, environment_id, activation_id, "", &path, reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_GET, "activation.get", org, path, NULL, NULL);
}

/* DELETE /o/{org}/environments/{env}/activations/{id} -> 204. */
int versori_request_activation_delete_build(const char *org, const char *environment_id,
                                            const char *activation_id, struct versori_request *ret,
                                            struct problem *reterr)
{
	char *path = NULL;

	if (activation_path(org, environment_id, activation_id, "", &path, reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_DELETE, "activation.delete", org, path, NULL, NULL);
}

/* A variables map for a PATCH: a non-empty object. */
static int check_variables(const json_t *variables, struct problem *reterr)
{
	if (check_object(variables, false, "variables", reterr) < 0)
		return -EINVAL;
	if (json_object_size(variables) == 0)
		return problem_fail(reterr, "empty", "variables",
		                    "at least one variable is needed");
	return 0;
}

/* PATCH /o/{org}/environments/{env}/activations/{id}/variables (merge) -> 200. */
int versori_request_dynamic_variables_patch_build(const char *org, const char *environment_id,
                                                  const char *activation_id,
                                                  const json_t *variables, const char *subject,
                                                  struct versori_request *ret,
                                                  struct problem *reterr)
{
	char *path = NULL;
	json_t *body;

	if (check_variables(variables, reterr) < 0 ||
	    activation_path(org, environment_id, activation_id, "/variables", &path, reterr) < 0)
		return -EINVAL;
	body = json_copy_body(variables);
	if (!body) {
		free(path);
		return -ENOMEM;
	}
	return request_fill(ret, HTTP_METHOD_PATCH, "variables.patch", org, path, body, subject);
}

/* PUT /o/{org}/environments/{env}/activations/{id}/variables/{name} {"value": v} -> 200. */
int versori_request_dynamic_variable_put_build(const char *org, const char *environment_id,
                                               const char *activation_id, const char *name,
                                               const json_t *value, const char *subject,
                                               struct versori_request *ret, struct problem *reterr)
{
	_cleanup_free_ char *base = NULL;
	_cleanup_free_ char *enc = NULL;
	json_t *body;

	if (check_text(name, "name", reterr) < 0)
		return -EINVAL;
	if (!value || json_is_null(value))
		return problem_fail(reterr, "required", "value", "value must not be null");
	if (activation_path(org, environment_id, activation_id, "/variables/", &base, reterr) < 0)
		return -EINVAL;
	body = json_pack("{s:O}", "value", value);
	if (!body)
		return -ENOMEM;
	enc = versori_percent_encode(name);
	return request_fill(ret, HTTP_METHOD_PUT, "variables.put", org,
	                    xasprintf("%s%s", base, enc), body, subject);
}

/* PATCH /o/{org}/environments/{env}/variables (the static activation's variables) -> 200. */
int versori_request_static_variables_patch_build(const char *org, const char *environment_id,
                                                 const json_t *variables,
                                                 struct versori_request *ret,
                                                 struct problem *reterr)
{
	json_t *body;

	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0 ||
	    check_variables(variables, reterr) < 0)
		return -EINVAL;
	body = json_copy_body(variables);
	if (!body)
		return -ENOMEM;
	return request_fill(
	    ret, HTTP_METHOD_PATCH, "static_variables.patch", org,
	    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/environments/%s/variables", org, environment_id),
	    body, NULL);
}

/* GET /o/{org}/projects/{project}/variables -> 200 schema (may be null). */
int versori_request_project_variables_schema_get_build(const char *org, const char *project_id,
                                                       struct versori_request *ret,
                                                       struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(project_id, "projectId", reterr) < 0)
		return -EINVAL;
	return request_fill(
	    ret, HTTP_METHOD_GET, "variables_schema.get", org,
	    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/projects/%s/variables", org, project_id), NULL, NULL);
}

/* GET /o/{org}/projects/{project} -> 200 Project with its environments. */
int versori_request_project_get_build(const char *org, const char *project_id,
                                      struct versori_request *ret, struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(project_id, "projectId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_GET, "project.get", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/projects/%s", org, project_id), NULL,
	                    NULL);
}

/* GET /o/{org}/projects -> 200 {projects: [...]}. */
int versori_request_project_list_build(const char *org, struct versori_request *ret,
                                       struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_GET, "project.list", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/projects", org), NULL, NULL);
}

/* GET /o/{org}/projects/{project}/connection-templates?env_id={env} -> 200 page. */
int versori_request_connection_template_list_build(const char *org, const char *project_id,
                                                   const char *environment_id,
                                                   struct versori_request *ret,
                                                   struct problem *reterr)
{
	char *path;

	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(project_id, "projectId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0)
		return -EINVAL;
	path =
	    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/projects/%s/connection-templates", org, project_id);
	query_append(&path, "env_id", environment_id);
	return request_fill(ret, HTTP_METHOD_GET, "connection_template.list", org, path, NULL,
	                    NULL);
}

/* POST /o/{org}/connections {connectionTemplateId, connection, externalId?} -> 201. */
int versori_request_connection_create_build(const char *org, const char *template_id,
                                            const char *external_id, const json_t *connection,
                                            struct versori_request *ret, struct problem *reterr)
{
	json_t *body;

	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(template_id, "connectionTemplateId", reterr) < 0 ||
	    (external_id && check_text(external_id, "externalId", reterr) < 0) ||
	    check_object(connection, false, "connection", reterr) < 0)
		return -EINVAL;
	body =
	    json_pack("{s:s,s:O}", "connectionTemplateId", template_id, "connection", connection);
	if (!body || (external_id &&
	              json_object_set_new(body, "externalId", json_string(external_id)) < 0)) {
		json_decref(body);
		return -ENOMEM;
	}
	return request_fill(ret, HTTP_METHOD_POST, "connection.create", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/connections", org), body,
	                    external_id);
}

/* POST /o/{org}/environments/{env}/schedulers/{id} without a body -> 204. */
int versori_request_scheduler_trigger_build(const char *org, const char *environment_id,
                                            const char *scheduler_id, struct versori_request *ret,
                                            struct problem *reterr)
{
	if (check_ulid(org, "organisationId", reterr) < 0 ||
	    check_ulid(environment_id, "environmentId", reterr) < 0 ||
	    check_text(scheduler_id, "schedulerId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_POST, "scheduler.trigger", org,
	                    PATH_BUILD(VERSORI_V2_ROOT "/o/%s/environments/%s/schedulers/%s", org,
	                               environment_id, scheduler_id),
	                    NULL, NULL);
}

/* POST /activations {userId, integrationId, connections, dynamicVariables?} -> 200. */
int versori_request_embedded_activation_create_build(
    const char *user_id, const char *integration_id,
    const struct versori_connection_binding *bindings, size_t n_bindings,
    const json_t *dynamic_variables, struct versori_request *ret, struct problem *reterr)
{
	json_t *conns = NULL, *body;
	int r;

	if (check_text(user_id, "userId", reterr) < 0 ||
	    check_ulid(integration_id, "integrationId", reterr) < 0 ||
	    check_object(dynamic_variables, true, "dynamicVariables", reterr) < 0)
		return -EINVAL;
	r = bindings_build(bindings, n_bindings, "templateId", "connectionId", &conns, reterr);
	if (r < 0)
		return r;
	body = json_pack("{s:s,s:s,s:o}", "userId", user_id, "integrationId", integration_id,
	                 "connections", conns);
	if (!body || body_set_variables(body, "dynamicVariables", dynamic_variables) < 0) {
		json_decref(body);
		return -ENOMEM;
	}
	return request_fill(ret, HTTP_METHOD_POST, "embedded_activation.create", NULL,
	                    xstrdup(VERSORI_EMBEDDED_V1_ROOT "/activations"), body, user_id);
}

/* GET /activations/{id} (embedded) -> 200. */
int versori_request_embedded_activation_get_build(const char *activation_id,
                                                  struct versori_request *ret,
                                                  struct problem *reterr)
{
	if (check_ulid(activation_id, "activationId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_GET, "embedded_activation.get", NULL,
	                    PATH_BUILD(VERSORI_EMBEDDED_V1_ROOT "/activations/%s", activation_id),
	                    NULL, NULL);
}

/* DELETE /activations/{id} (embedded) -> 204. */
int versori_request_embedded_activation_delete_build(const char *activation_id,
                                                     struct versori_request *ret,
                                                     struct problem *reterr)
{
	if (check_ulid(activation_id, "activationId", reterr) < 0)
		return -EINVAL;
	return request_fill(ret, HTTP_METHOD_DELETE, "embedded_activation.delete", NULL,
	                    PATH_BUILD(VERSORI_EMBEDDED_V1_ROOT "/activations/%s", activation_id),
	                    NULL, NULL);
}

/* GET /embed/{hub}/users/{user}/activations (embedded) -> 200 EndUserActivationPage. */
int versori_request_embedded_user_activation_list_build(const char *hub_id, const char *user_id,
                                                        const char *integration_id,
                                                        struct versori_request *ret,
                                                        struct problem *reterr)
{
	char *path;

	if (check_ulid(hub_id, "hubId", reterr) < 0 || check_text(user_id, "userId", reterr) < 0 ||
	    (integration_id && check_ulid(integration_id, "integrationId", reterr) < 0))
		return -EINVAL;
	path =
	    PATH_BUILD(VERSORI_EMBEDDED_V1_ROOT "/embed/%s/users/%s/activations", hub_id, user_id);
	if (integration_id)
		query_append(&path, "integration_id", integration_id);
	return request_fill(ret, HTTP_METHOD_GET, "embedded_activation.list_user", NULL, path, NULL,
	                    user_id);
}

/* PUT /activations/{id}/variables {"dynamicVariables": {...}} (embedded) -> 200. */
int versori_request_embedded_activation_variables_put_build(const char *activation_id,
                                                            const json_t *variables,
                                                            struct versori_request *ret,
                                                            struct problem *reterr)
{
	json_t *body;

	if (check_ulid(activation_id, "activationId", reterr) < 0 ||
	    check_object(variables, false, "variables", reterr) < 0)
		return -EINVAL;
	body = json_pack("{s:O}", "dynamicVariables", variables);
	if (!body)
		return -ENOMEM;
	return request_fill(
	    ret, HTTP_METHOD_PUT, "embedded_activation.variables_put", NULL,
	    PATH_BUILD(VERSORI_EMBEDDED_V1_ROOT "/activations/%s/variables", activation_id), body,
	    NULL);
}
