/* Dynamic-variable checks shared by the v2 and embedded handlers: null values, unknown
 * top-level keys and the project's (or integration's) JSON Schema, first problem reported.
 * Used by versori-sim; pure, never blocks. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "xalloc.h"

struct schema;
struct sim_call;

/* Check vars (an object) against schema (compiled, from sim_store_schema_get(); NULL: anything
 * goes) and answer 400 naming the first problem as "<prefix><key>". partial: only the keys
 * present are checked (PATCH, single PUT), the root's "required" is not enforced. Returns 0,
 * or -EINVAL after answering. */
_warn_unused_result_ int sim_vars_check_or_respond(struct sim_call *c, const struct schema *schema,
                                                   const json_t *vars, bool partial,
                                                   const char *prefix);
/* Whether schema (NULL: none) declares a top-level variable name: in its "properties" or by a
 * matching "patternProperties" expression. */
bool sim_vars_declared(const struct schema *schema, const char *name);
