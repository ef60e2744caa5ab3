/* activation.provision, Embedded v1: one activation of an integration, bound and set. */
#include "activation_embedded.h"

#include <errno.h>

#include "job_kind.h"

/* Ending the create step this often with 409 means something else keeps creating one. */
#define EMBEDDED_CONVERGE_MAX 3

static void embedded_list(struct item_run *r);

/* PUT /activations/{id}/variables answered: done. */
static void embedded_on_variables(struct item_run *r, struct versori_outcome *o)
{
	if (o->result < 0) {
		item_run_unexpected(r, o, "set the activation's dynamic variables");
		return;
	}
	item_run_result_set(r, "variables", json_string("set"));
	item_run_succeed(r, NULL);
}

/* GET /activations/{id} answered: merge the desired variables into the activation's own and
 * PUT the map, unless they hold already. An activation shown without its variables (the
 * spec's Activation has none) gets the desired ones as its whole map. */
static void embedded_on_activation(struct item_run *r, struct versori_outcome *o)
{
	const json_t *have = json_object_get(o->body, "dynamicVariables");
	struct versori_request req = {0};
	struct problem p = {0};
	bool failed;
	const json_t *want = job_kind_variables(r, &failed);
	json_t *merged;

	if (failed)
		return;
	if (o->result < 0) {
		item_run_unexpected(r, o, "read the activation");
		return;
	}
	merged = json_is_object(have) ? json_deep_copy(have) : json_object();
	json_object_update(merged, (json_t *)want);
	if (json_is_object(have) && json_equal(merged, have)) {
		json_decref(merged);
		item_run_result_set(r, "variables", json_string("unchanged"));
		item_run_succeed(r, NULL);
		return;
	}
	if (versori_request_embedded_activation_variables_put_build(r->activation_id, merged, &req,
	                                                            &p) < 0)
		item_run_build_failed(r, "set the activation's dynamic variables", &p);
	else
		item_run_call(r, &req, embedded_on_variables);
	json_decref(merged);
}

/* POST /activations answered. A 409 means one exists now (a concurrent run): converge on it. */
static void embedded_on_created(struct item_run *r, struct versori_outcome *o)
{
	const char *id = json_string_value(json_object_get(o->body, "id"));

	if (o->result == -EEXIST && ++r->step < EMBEDDED_CONVERGE_MAX) {
		embedded_list(r);
		return;
	}
	if (o->result < 0 || !id) {
		item_run_unexpected(r, o, "activate the integration");
		return;
	}
	item_run_result_set(r, "activationId", json_string(id));
	item_run_result_set(r, "activationCreated", json_true());
	item_run_succeed(r, NULL);
}

/* Activate the integration with the job's connections and the desired variables. */
static void embedded_create(struct item_run *r, const json_t *vars)
{
	const json_t *conns = json_object_get(r->parameters, "connections");
	size_t n = json_object_size(conns), i = 0;
	_cleanup_free_ struct versori_connection_binding *b = xcalloc(n ? n : 1, sizeof(*b));
	struct versori_request req = {0};
	struct problem p = {0};
	const char *tid;
	json_t *cid;

	json_object_foreach ((json_t *)conns, tid, cid) {
		if (!json_is_string(cid)) {
			item_run_fail(
			    r,
			    "parameters.connections[\"%s\"] must be the id of an existing "
			    "connection",
			    tid);
			return;
		}
		b[i++] = (struct versori_connection_binding){
		    .template_id = tid, .connection_id = json_string_value(cid)};
	}
	if (versori_request_embedded_activation_create_build(
	        r->external_id, item_run_param(r, "integrationId"), b, n, vars, &req, &p) < 0) {
		item_run_build_failed(r, "activate the integration", &p);
		return;
	}
	item_run_call(r, &req, embedded_on_created);
}

/* The end user's activations of the integration: converge the one there, or make one. */
static void embedded_on_activations(struct item_run *r, struct versori_outcome *o)
{
	const json_t *acts = json_object_get(o->body, "activations");
	const char *id = json_string_value(json_object_get(json_array_get(acts, 0), "id"));
	struct versori_request req = {0};
	struct problem p = {0};
	bool failed;
	const json_t *vars = job_kind_variables(r, &failed);

	if (failed)
		return;
	if (o->result == -ENOENT) {
		item_run_fail(r,
		              "end user %s not found in hub %s (Embedded v1 end users are made in "
		              "Versori, with their primary connection)",
		              r->external_id, item_run_param(r, "hubId"));
		return;
	}
	if (o->result < 0 || !json_is_array(acts)) {
		item_run_unexpected(r, o, "list the end user's activations of the integration");
		return;
	}
	if (!id) {
		embedded_create(r, vars);
		return;
	}
	free(r->activation_id);
	r->activation_id = xstrdup(id);
	item_run_result_set(r, "activationId", json_string(id));
	item_run_result_set(r, "activationCreated", json_false());
	if (!vars) {
		item_run_result_set(r, "variables", json_string("unchanged"));
		item_run_succeed(r, NULL);
		return;
	}
	if (versori_request_embedded_activation_get_build(id, &req, &p) < 0) {
		item_run_build_failed(r, "read the activation", &p);
		return;
	}
	item_run_call(r, &req, embedded_on_activation);
}

/* List the end user's activations of the integration in the hub. */
static void embedded_list(struct item_run *r)
{
	struct versori_request req = {0};
	struct problem p = {0};

	if (versori_request_embedded_user_activation_list_build(
	        item_run_param(r, "hubId"), r->external_id, item_run_param(r, "integrationId"),
	        &req, &p) < 0) {
		item_run_build_failed(r,
		                      "list the end user's activations of the integration "
		                      "(parameters.hubId, parameters.integrationId)",
		                      &p);
		return;
	}
	item_run_call(r, &req, embedded_on_activations);
}

void activation_embedded_run(struct item_run *r)
{
	bool failed;

	(void)job_kind_variables(r, &failed);
	if (!failed)
		embedded_list(r);
}
