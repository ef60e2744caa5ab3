/* Dynamic-variable checks shared by the v2 and embedded handlers: null values, unknown
 * top-level keys and the project's (or integration's) JSON Schema, first problem reported.
 * Used by versori-sim; pure, never blocks. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "xalloc.h"

struct sim_call;

/* Check vars (an object) against schema (an object, or null: anything goes) and answer 400
 * naming the first problem as "<prefix><key>". partial: only the keys present are checked
 * (PATCH, single PUT), "required" is not enforced. Returns 0, or -EINVAL after answering. */
_warn_unused_result_ int sim_vars_check_or_respond(struct sim_call *c, const json_t *schema,
                                                   const json_t *vars, bool partial,
                                                   const char *prefix);
/* Whether schema declares a top-level property name. */
bool sim_vars_declared(const json_t *schema, const char *name);
