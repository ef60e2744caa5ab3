/* The table of job kinds and the steps they share (job_kind.h). */
#include "job_kind.h"

#include <errno.h>
#include <string.h>

#include "activation_provision.h"
#include "activation_remove.h"
#include "activation_variables.h"
#include "config.h"
#include "environment_variables.h"

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
