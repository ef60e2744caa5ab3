/* activation.remove: delete the user's activations in the environment, maybe the user. */
#include "activation_remove.h"

#include <errno.h>

#include "config.h"
#include "job_kind.h"

static void remove_next(struct item_run *r);

/* Whether the end user goes too. */
static bool remove_user_too(const struct item_run *r)
{
	const json_t *v = json_object_get(r->desired, "removeUser");

	return json_is_true(v ? v : json_object_get(r->parameters, "removeUser"));
}

/* The end user was deleted (or was gone). */
static void remove_on_user(struct item_run *r, struct versori_outcome *o)
{
	if (o->result < 0 && o->result != -ENOENT) {
		item_run_unexpected(r, o, "delete the end user");
		return;
	}
	item_run_succeed(r, json_pack("{s:I, s:b}", "activationsRemoved", (json_int_t)r->step,
	                              "userRemoved", o->result == 0));
}

/* One activation was deleted (or was gone): the next one. */
static void remove_on_activation(struct item_run *r, struct versori_outcome *o)
{
	if (o->result < 0 && o->result != -ENOENT) {
		item_run_unexpected(r, o, "delete the activation");
		return;
	}
	r->step++;
	remove_next(r);
}

/* Delete the next listed activation, then the user if asked, then succeed. */
static void remove_next(struct item_run *r)
{
	const char *org = r->org->cfg->organisation_id;
	const char *id =
	    json_string_value(json_object_get(json_array_get(r->scratch, r->step), "id"));
	struct versori_request req = {0};
	struct problem p = {0};

	if (id) {
		if (versori_request_activation_delete_build(org, r->environment_id, id, &req, &p) <
		    0)
			item_run_build_failed(r, "delete the activation", &p);
		else
			item_run_call(r, &req, remove_on_activation);
		return;
	}
	if (!remove_user_too(r)) {
		item_run_succeed(r, json_pack("{s:I, s:b}", "activationsRemoved",
		                              (json_int_t)r->step, "userRemoved", 0));
		return;
	}
	if (versori_request_end_user_delete_build(org, r->external_id, &req, &p) < 0)
		item_run_build_failed(r, "delete the end user", &p);
	else
		item_run_call(r, &req, remove_on_user);
}

/* The end user's activations (a 404 for an unknown user means there are none). */
static void remove_on_activations(struct item_run *r, struct versori_outcome *o)
{
	if (o->result == -ENOENT) {
		r->scratch = json_array();
	} else if (o->result < 0 || !json_is_array(o->body)) {
		item_run_unexpected(r, o, "list the end user's activations");
		return;
	} else {
		r->scratch = json_incref(o->body);
	}
	r->step = 0;
	remove_next(r);
}

void activation_remove_run(struct item_run *r)
{
	if (job_kind_environment(r))
		job_kind_user_activations(r, remove_on_activations);
}
