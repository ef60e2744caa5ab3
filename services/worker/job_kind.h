/* The job kinds a worker runs, as one table: a kind's name (hookrun.jobs.kind) and the
 * function that converges one item to its desired state. Adding a kind is one file with its
 * run function and one row here. Also the steps several kinds share. Used by item_run. */
#pragma once

#include <stdbool.h>

#include "item_run.h"

struct job_kind;

/* The kind called name (as stored in hookrun.jobs.kind), or NULL. */
const struct job_kind *job_kind_find(const char *name);
const char *job_kind_name(const struct job_kind *k);
/* Start converging the item; the run ends through item_run_succeed/fail/unexpected. */
void job_kind_run(const struct job_kind *k, struct item_run *r);

/* Shared steps. */
/* The environment the item acts in: desired.environmentId, else parameters.environmentId,
 * kept in r->environment_id; false (after failing the item) when there is none. */
bool job_kind_environment(struct item_run *r);
/* List the end user's activations in r->environment_id (ListUserActivations), then next. */
void job_kind_user_activations(struct item_run *r, item_step_fn next);
/* Check the item's desired variables ("variables", or the one "variable" {name, value})
 * against the project's variable schema (parameters.projectId) before any call for the item:
 * members are checked as an update (the schema's "required" is not enforced here), and an
 * invalid item fails naming the field. Then next, which is called at once when there is no
 * project, or nothing to check and the kind never creates with them; a kind that creates
 * (creates: true) gets the schema even for an item without variables, so that
 * job_kind_variables_complete() can hold the create to the schema's "required". */
void job_kind_check_variables(struct item_run *r, bool creates, void (*next)(struct item_run *r));
/* The variables an activation is created with must satisfy the whole schema, "required"
 * included; false after failing the item, naming the field. */
bool job_kind_variables_complete(struct item_run *r, const json_t *vars);
/* The desired "variables" object, or NULL when absent; fails the item (returning NULL with
 * *ret_failed set) when it is present but not a non-empty object. */
const json_t *job_kind_variables(struct item_run *r, bool *ret_failed);
