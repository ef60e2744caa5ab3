/* activation.provision: end user, then one activation with the desired variables (Platform
 * v2; a job naming an integrationId takes the Embedded v1 flavour, activation_embedded.c). */
#include "activation_provision.h"

#include <errno.h>
#include <string.h>

#include "activation_embedded.h"
#include "config.h"
#include "job_kind.h"
#include "log.h"

/* Ending the activation step this often with 409 means something else keeps creating one. */
#define PROVISION_CONVERGE_MAX 3

static void provision_on_activations(struct item_run *r, struct versori_outcome *o);

/* The activation was created (or the variables patched): done. */
static void provision_on_done(struct item_run *r, struct versori_outcome *o)
{
	if (o->result < 0) {
		item_run_unexpected(r, o, "set the activation's variables");
		return;
	}
	item_run_result_set(r, "variables", json_string("patched"));
	item_run_succeed(r, NULL);
}

/* POST /activations answered. A 409 means one exists now (a concurrent run): converge on it. */
static void provision_on_created(struct item_run *r, struct versori_outcome *o)
{
	const char *id = json_string_value(json_object_get(o->body, "id"));

	if (o->result == -EEXIST && ++r->step < PROVISION_CONVERGE_MAX) {
		job_kind_user_activations(r, provision_on_activations);
		return;
	}
	if (o->result < 0 || !id) {
		item_run_unexpected(r, o, "create the activation");
		return;
	}
	item_run_result_set(r, "activationId", json_string(id));
	item_run_result_set(r, "activationCreated", json_true());
	item_run_succeed(r, NULL);
}

/* The binding for one template from the job's parameters; false (item failed) if none. */
static bool provision_binding(struct item_run *r, const json_t *tpl,
                              struct versori_connection_binding *b, json_t *keep)
{
	const char *tid = json_string_value(json_object_get(tpl, "connectionTemplateId"));
	const char *name = json_string_value(json_object_get(tpl, "name"));
	const json_t *dyn =
	    json_object_get(json_object_get(r->parameters, "dynamicConnections"), tid ? tid : "");
	const char *existing = json_string_value(
	    json_object_get(json_object_get(r->parameters, "connections"), tid ? tid : ""));

	if (!tid) {
		item_run_fail(r,
		              "list connection templates: a template without connectionTemplateId");
		return false;
	}
	*b = (struct versori_connection_binding){.template_id = tid, .connection_id = existing};
	if (!existing && json_is_object(dyn)) {
		/* A connection of this end user's own, created with the activation; "{externalId}"
		 * in its name keeps names unique per system. */
		json_t *spec = json_deep_copy(dyn);
		const char *n = json_string_value(json_object_get(spec, "name"));
		const char *at = n ? strstr(n, "{externalId}") : NULL;

		if (at) {
			char *named = xasprintf("%.*s%s%s", (int)(at - n), n, r->external_id,
			                        at + strlen("{externalId}"));
			json_object_set_new(spec, "name", json_string(named));
			free(named);
		}
		json_array_append_new(keep, spec);
		b->connection = spec;
		return true;
	}
	if (!existing) {
		item_run_fail(r,
		              "connection template %s (%s) has no connection: give "
		              "parameters.connections[\"%s\"] (an existing connection id) or "
		              "parameters.dynamicConnections[\"%s\"] (a connection to create)",
		              tid, name ? name : "unnamed", tid, tid);
		return false;
	}
	return true;
}

/* The environment's connection templates: bind each, then create the activation. */
static void provision_on_templates(struct item_run *r, struct versori_outcome *o)
{
	const json_t *items = json_object_get(o->body, "items");
	size_t n = json_array_size(items), i;
	struct versori_connection_binding *b;
	struct versori_request req = {0};
	struct problem p = {0};
	bool failed;
	const json_t *vars = job_kind_variables(r, &failed);
	json_t *keep = json_array(), *tpl;

	if (failed)
		goto out;
	if (o->result < 0 || !json_is_array(items)) {
		item_run_unexpected(r, o, "list the environment's connection templates");
		goto out;
	}
	if (!job_kind_variables_complete(r, vars))
		goto out;
	b = xcalloc(n ? n : 1, sizeof(*b));
	json_array_foreach (items, i, tpl)
		if (!provision_binding(r, tpl, &b[i], keep)) {
			free(b);
			goto out;
		}
	if (versori_request_activation_create_build(r->org->cfg->organisation_id, r->external_id,
	                                            r->environment_id, b, n, vars, &req, &p) < 0)
		item_run_build_failed(r, "create the activation", &p);
	else
		item_run_call(r, &req, provision_on_created);
	free(b);
out:
	json_decref(keep);
}

/* The end user's activations in the environment: patch the one there, or make one. */
static void provision_on_activations(struct item_run *r, struct versori_outcome *o)
{
	const char *project = item_run_param(r, "projectId");
	const json_t *first = json_array_get(o->body, 0);
	struct versori_request req = {0};
	struct problem p = {0};
	bool failed;
	const json_t *vars = job_kind_variables(r, &failed);

	if (failed)
		return;
	if (o->result < 0 || !json_is_array(o->body)) {
		item_run_unexpected(r, o, "list the end user's activations");
		return;
	}
	if (!first) {
		if (versori_request_connection_template_list_build(
		        r->org->cfg->organisation_id, project, r->environment_id, &req, &p) < 0) {
			item_run_build_failed(r, "list connection templates (parameters.projectId)",
			                      &p);
			return;
		}
		item_run_call(r, &req, provision_on_templates);
		return;
	}
	free(r->activation_id);
	r->activation_id = xstrdup(json_string_value(json_object_get(first, "id")) ?: "");
	item_run_result_set(r, "activationId", json_string(r->activation_id));
	item_run_result_set(r, "activationCreated", json_false());
	if (json_array_size(o->body) > 1) {
		item_run_result_set(r, "activations",
		                    json_integer((json_int_t)json_array_size(o->body)));
		log_event(LOG_LEVEL_WARN, "provision.several_activations",
		          "job=%s item=%llu external_id=%s count=%zu", r->job_id,
		          (unsigned long long)r->item_id, r->external_id, json_array_size(o->body));
	}
	if (!vars) {
		item_run_result_set(r, "variables", json_string("unchanged"));
		item_run_succeed(r, NULL);
		return;
	}
	if (versori_request_dynamic_variables_patch_build(r->org->cfg->organisation_id,
	                                                  r->environment_id, r->activation_id, vars,
	                                                  r->external_id, &req, &p) < 0) {
		item_run_build_failed(r, "set the activation's variables", &p);
		return;
	}
	item_run_call(r, &req, provision_on_done);
}

/* The end user exists now (found or created): look at its activations. */
static void provision_user_ready(struct item_run *r, const json_t *user, bool created)
{
	const char *id = json_string_value(json_object_get(user, "id"));

	if (id)
		item_run_result_set(r, "userId", json_string(id));
	item_run_result_set(r, "userCreated", json_boolean(created));
	job_kind_user_activations(r, provision_on_activations);
}

/* POST /users answered; 409 means it exists (a concurrent run made it). */
static void provision_on_user_created(struct item_run *r, struct versori_outcome *o)
{
	if (o->result == 0 || o->result == -EEXIST) {
		provision_user_ready(r, o->result == 0 ? o->body : NULL, o->result == 0);
		return;
	}
	item_run_unexpected(r, o, "create the end user");
}

/* GET /users/{externalId} answered: found, or create it. */
static void provision_on_user(struct item_run *r, struct versori_outcome *o)
{
	const char *display = json_string_value(json_object_get(r->desired, "displayName"));
	struct versori_request req = {0};
	struct problem p = {0};

	if (o->result == 0) {
		provision_user_ready(r, o->body, false);
		return;
	}
	if (o->result != -ENOENT) {
		item_run_unexpected(r, o, "look up the end user");
		return;
	}
	if (versori_request_end_user_create_build(r->org->cfg->organisation_id, r->external_id,
	                                          display, &req, &p) < 0) {
		item_run_build_failed(r, "create the end user", &p);
		return;
	}
	item_run_call(r, &req, provision_on_user_created);
}

/* The variables passed the schema: look the end user up. */
static void provision_start(struct item_run *r)
{
	struct versori_request req = {0};
	struct problem p = {0};

	if (versori_request_end_user_get_build(r->org->cfg->organisation_id, r->external_id, &req,
	                                       &p) < 0) {
		item_run_build_failed(r, "look up the end user", &p);
		return;
	}
	item_run_call(r, &req, provision_on_user);
}

void activation_provision_run(struct item_run *r)
{
	bool failed;

	if (json_object_get(r->parameters, "integrationId")) {
		activation_embedded_run(r);
		return;
	}
	if (!job_kind_environment(r))
		return;
	(void)job_kind_variables(r, &failed);
	if (!failed)
		job_kind_check_variables(r, true, provision_start);
}
