/* environment.variables: one PATCH of the static variables. */
#include "environment_variables.h"

#include <errno.h>

#include "config.h"
#include "job_kind.h"

/* The PATCH answered. */
static void environment_on_patched(struct item_run *r, struct versori_outcome *o)
{
	if (o->result < 0) {
		item_run_unexpected(r, o, "set the environment's static variables");
		return;
	}
	item_run_succeed(r, json_pack("{s:s}", "environmentId", r->environment_id));
}

/* The variables passed the schema: PATCH them. */
static void environment_start(struct item_run *r)
{
	struct versori_request req = {0};
	struct problem p = {0};
	bool failed;
	const json_t *vars = job_kind_variables(r, &failed);

	if (failed)
		return;
	if (!vars) {
		item_run_fail(r, "variables: the item names no variables to set");
		return;
	}
	if (versori_request_static_variables_patch_build(r->org->cfg->organisation_id,
	                                                 r->environment_id, vars, &req, &p) < 0) {
		item_run_build_failed(r, "set the environment's static variables", &p);
		return;
	}
	item_run_call(r, &req, environment_on_patched);
}

void environment_variables_run(struct item_run *r)
{
	if (job_kind_environment(r))
		job_kind_check_variables(r, false, environment_start);
}
