/* Projects' variable schemas, fetched once and shared (schema_cache.h). */
#include "schema_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "schema.h"

/* A compiled schema shared by the runs that validate with it. */
struct schema_hold {
	struct schema *schema; /* NULL: nothing to validate against */
	unsigned refs;
};

/* A run waiting for the schema being fetched. */
struct waiter {
	struct item_run *r;
	schema_cache_fn done;
	struct waiter *next;
};

/* One organisation's project. */
struct entry {
	struct entry *next;
	struct schema_cache *cache;
	char *organisation;
	char *project;
	struct schema_hold *hold; /* NULL while never fetched */
	long long fetched_ms;
	bool loading;
	struct waiter *waiters;
};

struct schema_cache {
	struct entry *entries;
	long long ttl_ms;
};

/* A new hold of one reference. */
static struct schema_hold *hold_new(struct schema *s)
{
	struct schema_hold *h = xcalloc(1, sizeof(*h));

	h->schema = s;
	h->refs = 1;
	return h;
}

void schema_hold_release(struct schema_hold *h)
{
	if (!h || --h->refs > 0)
		return;
	schema_free(h->schema);
	free(h);
}

const struct schema *schema_hold_schema(const struct schema_hold *h)
{
	return h ? h->schema : NULL;
}

struct schema_cache *schema_cache_new(long long ttl_ms)
{
	struct schema_cache *c = xcalloc(1, sizeof(*c));

	c->ttl_ms = ttl_ms;
	return c;
}

void schema_cache_free(struct schema_cache *c)
{
	if (!c)
		return;
	while (c->entries) {
		struct entry *e = c->entries;
		c->entries = e->next;
		while (e->waiters) {
			struct waiter *w = e->waiters;
			e->waiters = w->next;
			free(w);
		}
		schema_hold_release(e->hold);
		free(e->organisation);
		free(e->project);
		free(e);
	}
	free(c);
}

/* The entry for organisation and project, made when absent. */
static struct entry *entry_get(struct schema_cache *c, const char *org, const char *project)
{
	struct entry *e;

	for (e = c->entries; e; e = e->next)
		if (strcmp(e->organisation, org) == 0 && strcmp(e->project, project) == 0)
			return e;
	e = xcalloc(1, sizeof(*e));
	e->organisation = xstrdup(org);
	e->project = xstrdup(project);
	e->cache = c;
	e->next = c->entries;
	c->entries = e;
	return e;
}

/* Give r a reference to the entry's schema and go on. */
static void entry_serve(struct entry *e, struct item_run *r, schema_cache_fn done)
{
	schema_hold_release(r->schema);
	r->schema = e->hold;
	e->hold->refs++;
	done(r);
}

/* Compile a fetched schema document; one this validator cannot use is logged and skipped. */
static struct schema_hold *entry_compile(const struct entry *e, const json_t *doc)
{
	struct schema *s = NULL;
	struct schema_error err = {0};

	if (!doc || json_is_null(doc) || (json_is_object(doc) && json_object_size(doc) == 0))
		return hold_new(NULL);
	if (schema_compile(doc, &s, &err) < 0) {
		log_event(LOG_LEVEL_WARN, "schema.unusable",
		          "organisation=%s project=%s path=%s detail=\"%s\"", e->organisation,
		          e->project, err.path, err.message);
		return hold_new(NULL);
	}
	return hold_new(s);
}

/* The fetch answered: serve every waiter, or end them all with the outcome. */
static void schema_on_fetched(struct item_run *fetcher, struct versori_outcome *o)
{
	struct entry *e = fetcher->schema_entry;
	struct waiter *w = e->waiters;

	fetcher->schema_entry = NULL;
	e->loading = false;
	e->waiters = NULL;
	if (o->result == 0) {
		schema_hold_release(e->hold);
		e->hold = entry_compile(e, o->body);
		e->fetched_ms = (long long)loop_now_ms();
	}
	while (w) {
		struct waiter *next = w->next;
		if (o->result == 0)
			entry_serve(e, w->r, w->done);
		else
			item_run_unexpected(w->r, o, "read the project's variable schema");
		free(w);
		w = next;
	}
}

void schema_cache_abandon(void *entry, struct item_run *r)
{
	struct entry *e = entry;
	struct waiter *w = e->waiters;

	e->loading = false;
	e->waiters = NULL;
	while (w) {
		struct waiter *next = w->next;
		if (w->r != r)
			schema_cache_get(e->cache, w->r, e->project, w->done);
		free(w);
		w = next;
	}
}

void schema_cache_get(struct schema_cache *c, struct item_run *r, const char *project,
                      schema_cache_fn done)
{
	struct entry *e = entry_get(c, r->org->cfg->name, project);
	struct waiter *w;
	struct versori_request req = {0};
	struct problem p = {0};

	if (e->hold && (long long)loop_now_ms() - e->fetched_ms < c->ttl_ms) {
		entry_serve(e, r, done);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	*w = (struct waiter){r, done, e->waiters};
	e->waiters = w;
	if (e->loading)
		return;
	if (versori_request_project_variables_schema_get_build(r->org->cfg->organisation_id,
	                                                       project, &req, &p) < 0) {
		e->waiters = w->next;
		free(w);
		item_run_build_failed(r, "read the project's variable schema", &p);
		return;
	}
	e->loading = true;
	r->schema_entry = e;
	item_run_call(r, &req, schema_on_fetched);
}
