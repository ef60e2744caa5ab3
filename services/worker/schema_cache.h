/* The worker's cache of projects' variable schemas (GetProjectVariablesSchema), compiled once
 * and shared by every item of every job of that project for a while (ttl), so that variables
 * are validated before any call for the item is made. The first run that needs a schema
 * fetches it (the call is recorded in that run's audit); runs that need it meanwhile wait for
 * that one call. Runs on the worker's loop; never blocks. */
#pragma once

#include "item_run.h"

struct schema;
struct schema_cache;
struct schema_hold;

/* A cache whose entries are fetched again after ttl_ms. */
struct schema_cache *schema_cache_new(long long ttl_ms);
/* Free the cache; schemas held by runs stay valid until they release them. */
void schema_cache_free(struct schema_cache *c);

/* Called with the project's compiled schema held for r (r->schema set; NULL when the project
 * has none, or one this validator cannot use: the API then validates alone), or after the
 * run was ended because the schema could not be read (then done is not called). */
typedef void (*schema_cache_fn)(struct item_run *r);
/* Get the schema of project (a ULID) in r's organisation for r, then call done. */
void schema_cache_get(struct schema_cache *c, struct item_run *r, const char *project,
                      schema_cache_fn done);
/* The compiled schema of a hold, or NULL. */
const struct schema *schema_hold_schema(const struct schema_hold *h);
/* The run fetching entry ended without an answer: the next waiting run fetches instead. */
void schema_cache_abandon(void *entry, struct item_run *r);
/* Drop a run's hold; takes NULL. */
void schema_hold_release(struct schema_hold *h);
