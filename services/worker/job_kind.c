/* The table of job kinds and the steps they share (job_kind.h). */
#include "job_kind.h"

#include <errno.h>
#include <string.h>

#include "activation_provision.h"
#include "activation_remove.h"
#include "activation_variables.h"
#include "config.h"
#include "environment_variables.h"
#include "job_callback.h"
#include "schema.h"
#include "schema_cache.h"

struct job_kind {
	const char *name;
	void (*run)(struct item_run *r);
};

/* Every kind; the names match the CHECK on hookrun.jobs.kind. */
static const struct job_kind job_kinds[] = {
    {"activation.provision", activation_provision_run},
    {"activation.variables", activation_variables_run},
    {"environment.variables", environment_variables_run},
    {"activation.remove", activation_remove_run},
    {"job.callback", job_callback_run},
};

const struct job_kind *job_kind_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(job_kinds); i++)
		if (strcmp(job_kinds[i].name, name) == 0)
			return &job_kinds[i];
	return NULL;
}

const char *job_kind_name(const struct job_kind *k)
{
	return k->name;
}

void job_kind_run(const struct job_kind *k, struct item_run *r)
{
	k->run(r);
}

bool job_kind_environment(struct item_run *r)
{
	const char *env = json_string_value(json_object_get(r->desired, "environmentId"));

	if (!env)
		env = item_run_param(r, "environmentId");
	if (!env || !versori_ulid_is_valid(env)) {
		item_run_fail(r, "environmentId: the job's parameters (or the item) must name the "
		                 "environment by its id (a ULID)");
		return false;
	}
	free(r->environment_id);
	r->environment_id = xstrdup(env);
	return true;
}

void job_kind_user_activations(struct item_run *r, item_step_fn next)
{
	struct versori_request req = {0};
	struct problem p = {0};

	if (versori_request_user_activation_list_build(
	        r->org->cfg->organisation_id, r->environment_id, r->external_id, &req, &p) < 0) {
		item_run_build_failed(r, "list the end user's activations", &p);
		return;
	}
	item_run_call(r, &req, next);
}

/* Fail the item with a schema error, naming the variable. */
static void job_kind_fail_schema(struct item_run *r, const struct schema_error *e)
{
	item_run_fail(r, "variables%s%s: %s (checked against the project's variable schema)",
	              e->path[0] ? "." : "", e->path, e->message);
}

/* The schema is known: check the variables as an update, then go on. */
static void job_kind_on_schema(struct item_run *r)
{
	const struct schema *s = schema_hold_schema(r->schema);
	const json_t *one = json_object_get(r->desired, "variable");
	const char *name = json_string_value(json_object_get(one, "name"));
	struct schema_error err = {0};
	bool failed;
	const json_t *vars = job_kind_variables(r, &failed);
	json_t *single;
	int rc = 0;

	if (failed)
		return;
	if (s && vars)
		rc = schema_validate_partial(s, vars, &err);
	if (s && rc == 0 && name) {
		if (!schema_names_property(s, name)) {
			item_run_fail(
			    r, "variable %s: the project's variable schema does not declare it",
			    name);
			return;
		}
		single = json_pack("{s:O?}", name, json_object_get(one, "value"));
		rc = single ? schema_validate_partial(s, single, &err) : 0;
		json_decref(single);
	}
	if (rc < 0) {
		job_kind_fail_schema(r, &err);
		return;
	}
	r->after_schema(r);
}

void job_kind_check_variables(struct item_run *r, bool creates, void (*next)(struct item_run *r))
{
	const char *project = item_run_param(r, "projectId");

	if (!project || !versori_ulid_is_valid(project) ||
	    (!creates && !json_object_get(r->desired, "variables") &&
	     !json_object_get(r->desired, "variable"))) {
		next(r);
		return;
	}
	r->after_schema = next;
	schema_cache_get(r->env->schemas, r, project, job_kind_on_schema);
}

bool job_kind_variables_complete(struct item_run *r, const json_t *vars)
{
	const struct schema *s = schema_hold_schema(r->schema);
	struct schema_error err = {0};
	json_t *empty;
	int rc;

	if (!s)
		return true;
	empty = vars ? NULL : json_object();
	rc = schema_validate(s, vars ? vars : empty, &err);
	json_decref(empty);
	if (rc < 0) {
		job_kind_fail_schema(r, &err);
		return false;
	}
	return true;
}

const json_t *job_kind_variables(struct item_run *r, bool *ret_failed)
{
	const json_t *v = json_object_get(r->desired, "variables");

	*ret_failed = false;
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_object(v) || json_object_size(v) == 0) {
		item_run_fail(r, "variables: must be a non-empty JSON object");
		*ret_failed = true;
		return NULL;
	}
	return v;
}
