/* activation.variables: find the activation, then PATCH the variables or PUT one. */
#include "activation_variables.h"

#include <errno.h>

#include "config.h"
#include "job_kind.h"

/* The variables were written. */
static void variables_on_written(struct item_run *r, struct versori_outcome *o)
{
	if (o->result < 0) {
		item_run_unexpected(r, o, "set the activation's variables");
		return;
	}
	item_run_succeed(r, json_pack("{s:s}", "activationId", r->activation_id));
}

/* Build the PATCH of every desired variable, or the PUT of the single one. */
static int variables_build(struct item_run *r, struct versori_request *req, struct problem *p)
{
	const char *org = r->org->cfg->organisation_id;
	const json_t *one = json_object_get(r->desired, "variable");
	bool failed;
	const json_t *vars;

	if (one)
		return versori_request_dynamic_variable_put_build(
		    org, r->environment_id, r->activation_id,
		    json_string_value(json_object_get(one, "name")), json_object_get(one, "value"),
		    r->external_id, req, p);
	vars = job_kind_variables(r, &failed);
	if (failed)
		return -ECANCELED;
	if (!vars) {
		*p = (struct problem){.field = "variables",
		                      .message = "the item names no variables to set"};
		return -EINVAL;
	}
	return versori_request_dynamic_variables_patch_build(
	    org, r->environment_id, r->activation_id, vars, r->external_id, req, p);
}

/* The end user's activations: write to the first. */
static void variables_on_activations(struct item_run *r, struct versori_outcome *o)
{
	const char *id = json_string_value(json_object_get(json_array_get(o->body, 0), "id"));
	struct versori_request req = {0};
	struct problem p = {0};
	int rc;

	if (o->result < 0 || !json_is_array(o->body)) {
		item_run_unexpected(r, o, "list the end user's activations");
		return;
	}
	if (!id) {
		item_run_fail(r, "end user %s has no activation in environment %s", r->external_id,
		              r->environment_id);
		return;
	}
	r->activation_id = xstrdup(id);
	rc = variables_build(r, &req, &p);
	if (rc == -ECANCELED)
		return;
	if (rc < 0) {
		item_run_build_failed(r, "set the activation's variables", &p);
		return;
	}
	item_run_call(r, &req, variables_on_written);
}

/* The variables passed the schema: find the activation. */
static void variables_start(struct item_run *r)
{
	job_kind_user_activations(r, variables_on_activations);
}

void activation_variables_run(struct item_run *r)
{
	if (job_kind_environment(r))
		job_kind_check_variables(r, false, variables_start);
}
