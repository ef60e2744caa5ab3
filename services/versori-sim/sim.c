/* The simulated Versori API: state, switches, fixture files and the request router. */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_auth.h"
#include "sim_call.h"
#include "sim_embedded.h"
#include "sim_orgs.h"
#include "sim_store.h"
#include "sim_switch.h"
#include "sim_v2.h"
#include "xalloc.h"

#define PATH_MAX_SEGMENTS 16

struct sim {
	struct sim_store store;
};

/* Every route table, tried in order. */
static const struct {
	const struct sim_route *routes;
	const size_t *n;
} tables[] = {
    {sim_v2_routes, &sim_v2_n_routes},
    {sim_embedded_routes, &sim_embedded_n_routes},
    {sim_orgs_routes, &sim_orgs_n_routes},
};

/* Set a switch by name and value name. */
int sim_switch_set(struct sim *s, const char *name, const char *value)
{
	return sim_switch_parse(&s->store.switches, name, value);
}

/* {"duplicate_user": "409", ...}. */
json_t *sim_switches_to_json(const struct sim *s)
{
	return sim_switch_to_json(&s->store.switches);
}

/* Apply the fixture's optional "switches" object. */
static int switches_apply(struct sim *s, const json_t *sw, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!sw)
		return 0;
	if (!json_is_object(sw)) {
		(void)snprintf(err, errlen, "switches: must be an object");
		return -EINVAL;
	}
	json_object_foreach ((json_t *)sw, key, v)
		if (!json_is_string(v) || sim_switch_set(s, key, json_string_value(v)) < 0) {
			(void)snprintf(err, errlen, "switches.%s: unknown switch or value", key);
			return -EINVAL;
		}
	return 0;
}

/* Build the state from a fixture. */
int sim_new(const json_t *fixture, struct sim **ret, char *err, size_t errlen)
{
	struct sim *s = xcalloc(1, sizeof(*s));
	int r;

	if ((r = sim_store_load(&s->store, fixture, err, errlen)) < 0) {
		free(s);
		return r;
	}
	if ((r = switches_apply(s, json_object_get(fixture, "switches"), err, errlen)) < 0) {
		sim_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* Free; takes NULL. */
void sim_free(struct sim *s)
{
	if (!s)
		return;
	sim_store_fini(&s->store);
	free(s);
}

/* The state with its switches. */
json_t *sim_state_to_json(const struct sim *s)
{
	json_t *doc = sim_store_to_json(&s->store);

	json_object_set_new(doc, "switches", sim_switches_to_json(s));
	return doc;
}

/* Read a fixture file and check it loads (secret references included). */
int sim_fixture_load(const char *path, json_t **ret, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	struct sim *s = NULL;
	int r;

	if (!doc) {
		(void)snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return -EINVAL;
	}
	if ((r = sim_new(doc, &s, err, errlen)) < 0) {
		json_decref(doc);
		return r;
	}
	sim_free(s);
	*ret = doc;
	return 0;
}

/* Split path (a copy, changed in place) into segments after the leading '/'. */
static size_t path_split(char *path, char **segs)
{
	size_t n = 0;
	char *p = path;

	if (*p != '/')
		return 0;
	p++;
	while (n < PATH_MAX_SEGMENTS) {
		char *slash = strchr(p, '/');

		segs[n++] = p;
		if (!slash)
			return n;
		*slash = '\0';
		p = slash + 1;
	}
	return 0; /* too deep for any route */
}

/* Match the path part of a route name against segments, capturing parameters. */
static bool route_path_match(const char *pattern, char *const *segs, size_t n, struct sim_call *c,
                             const char **ret_org)
{
	size_t i = 0;

	c->n_params = 0;
	*ret_org = NULL;
	while (*pattern == '/') {
		const char *p = pattern + 1, *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		pattern = end;
		if (len == 2 && memcmp(p, "**", 2) == 0)
			return true;
		if (i >= n)
			return false;
		if (p[0] == '{') {
			if (!*segs[i] || c->n_params >= SIM_CALL_MAX_PARAMS)
				return false;
			if (len == 5 && memcmp(p, "{org}", 5) == 0)
				*ret_org = segs[i];
			c->params[c->n_params++] = segs[i];
		} else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0) {
			return false;
		}
		i++;
	}
	return i == n;
}

/* Whether a route's method ("*" or a name) admits m. */
static bool route_method_match(const char *name, enum http_method m)
{
	const char *sp = strchr(name, ' ');
	const char *want = http_method_to_string(m);
	size_t len = (size_t)(sp - name);

	return (len == 1 && name[0] == '*') ||
	       (strlen(want) == len && memcmp(name, want, len) == 0);
}

/* The route for a request (parameters in c), or NULL; *ret_path_known when only the method
 * did not match. */
static const struct sim_route *route_find(const struct http_req *req, char *const *segs, size_t n,
                                          struct sim_call *c, const char **ret_org,
                                          bool *ret_path_known)
{
	*ret_path_known = false;
	for (size_t t = 0; t < ELEMENTSOF(tables); t++)
		for (size_t i = 0; i < *tables[t].n; i++) {
			const struct sim_route *r = &tables[t].routes[i];

			if (!route_path_match(strchr(r->name, ' ') + 1, segs, n, c, ret_org))
				continue;
			if (route_method_match(r->name, req->method))
				return r;
			*ret_path_known = true;
		}
	return NULL;
}

/* The endpoint template for a request. */
const char *sim_route_name(const struct http_req *req)
{
	_cleanup_free_ char *path = xstrdup(req->path ? req->path : "");
	char *segs[PATH_MAX_SEGMENTS];
	struct sim_call c = {0};
	const struct sim_route *r;
	const char *org;
	bool known;

	r = route_find(req, segs, path_split(path, segs), &c, &org, &known);
	return r ? r->name : "unmatched";
}

/* Authenticate and check the path's organisation against the credential's. */
static int authorize_or_respond(struct sim_call *c, const char *path_org)
{
	int r = sim_auth_check_or_respond(c);

	if (r < 0)
		return r;
	if (path_org && strcmp(path_org, c->org_id) != 0)
		return sim_call_fail(c, 403, NULL,
		                     "the credential belongs to another organisation");
	(void)snprintf(c->resp->org, sizeof(c->resp->org), "%s", c->org_id);
	return 0;
}

/* Answer one request. */
void sim_handle(struct sim *s, const struct http_req *req, int64_t now_ms, struct sim_response *ret)
{
	_cleanup_free_ char *path = xstrdup(req->path ? req->path : "");
	struct sim_call c = {.store = &s->store, .req = req, .now_ms = now_ms, .resp = ret};
	char *segs[PATH_MAX_SEGMENTS];
	const struct sim_route *r;
	const char *org;
	bool known;

	*ret = (struct sim_response){.route = "unmatched"};
	r = route_find(req, segs, path_split(path, segs), &c, &org, &known);
	if (!r) {
		(void)sim_call_fail(&c, known ? 405 : 404, NULL, "%s %s: %s",
		                    http_method_to_string(req->method), req->path ? req->path : "",
		                    known ? "method not allowed" : "no such endpoint");
		return;
	}
	ret->route = r->name;
	if (org)
		(void)snprintf(ret->org, sizeof(ret->org), "%s", org);
	if (!(r->flags & (SIM_ROUTE_PUBLIC | SIM_ROUTE_NOT_SIMULATED)) &&
	    authorize_or_respond(&c, org) < 0)
		return;
	(void)r->handle(&c);
}
