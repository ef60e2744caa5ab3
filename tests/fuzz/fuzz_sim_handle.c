/* Fuzz the simulated Versori's pure handler: any method, path, query, Authorization header
 * and body against a small fixture, a fresh state per input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http_req.h"
#include "sim.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixture[] =
    "{\"organisations\":[{\"id\":\"O\",\"apiKeys\":[{\"key\":\"k\"}],"
    "\"systems\":[{\"id\":\"S\",\"name\":\"s\"}],"
    "\"projects\":[{\"id\":\"P\",\"name\":\"p\",\"dynamicVariablesSchema\":{\"type\":\"object\","
    "\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^[a-z0-9]*$\"},"
    "\"n\":{\"type\":\"integer\"},\"l\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":false}}},"
    "\"patternProperties\":{\"^p_\":{\"type\":\"boolean\"}},"
    "\"required\":[\"a\"]}}],"
    "\"environments\":[{\"id\":\"E\",\"projectId\":\"P\",\"name\":\"e\"}],"
    "\"connectionTemplates\":[{\"id\":\"T\",\"environmentId\":\"E\",\"systemId\":\"S\","
    "\"dynamic\":true}],"
    "\"users\":[{\"id\":\"U\",\"externalId\":\"u\"}],"
    "\"connections\":[{\"id\":\"C\",\"name\":\"c\",\"connectionTemplateId\":\"T\"}],"
    "\"activations\":[{\"id\":\"A\",\"userId\":\"U\",\"environmentId\":\"E\","
    "\"connections\":[\"C\"],\"dynamicVariables\":{\"a\":\"x\"}}],"
    "\"schedulers\":[{\"id\":\"X\",\"environment_id\":\"E\",\"name\":\"x\",\"schedule\":\"*\"}],"
    "\"hubs\":[{\"id\":\"H\",\"name\":\"h\"}],"
    "\"integrations\":[{\"id\":\"I\",\"hubId\":\"H\",\"name\":\"i\",\"connectionTemplates\":"
    "[{\"id\":\"ET\"}]}]}]}";

/* The method named by the start of a line, and the rest of the line after a space. */
static enum http_method method_of(const char *line, const char **rest)
{
	const char *sp = strchr(line, ' ');

	*rest = sp ? sp + 1 : line;
	for (int m = 0; m < _HTTP_METHOD_MAX; m++) {
		const char *name = http_method_to_string((enum http_method)m);

		if (sp && (size_t)(sp - line) == strlen(name) &&
		    memcmp(line, name, strlen(name)) == 0)
			return (enum http_method)m;
	}
	return HTTP_METHOD_GET;
}

/* Whatever a call did, the state must save and load again (the --state file): abort if not. */
static void state_reloads(const struct sim *s)
{
	json_t *saved = sim_state_to_json(s);
	struct sim *again = NULL;
	char err[256];

	if (!saved || sim_new(saved, &again, err, sizeof(err)) < 0)
		abort();
	sim_free(again);
	json_decref(saved);
}

/* Input: "METHOD /path?query\nAuthorization value\nbody". */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char *nl1 = strchr(text, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	const char *target, *body = nl2 ? nl2 + 1 : "";
	json_t *doc = json_loads(fixture, 0, NULL);
	struct http_header h = {"Authorization", nl1 ? nl1 + 1 : "Bearer k"};
	struct sim_response r;
	struct sim *s = NULL;
	char err[128];
	char *q;

	if (nl1)
		*nl1 = '\0';
	if (nl2)
		*nl2 = '\0';
	struct http_req req = {.method = method_of(text, &target),
	                       .headers = &h,
	                       .n_headers = 1,
	                       .body = (const unsigned char *)body,
	                       .body_len = strlen(body)};

	req.uri = target;
	req.path = target;
	if ((q = strchr(target, '?'))) {
		*q = '\0';
		req.query = q + 1;
	}
	if (doc && sim_new(doc, &s, err, sizeof(err)) == 0) {
		(void)sim_route_name(&req);
		sim_handle(s, &req, 1760000000000, &r);
		sim_response_fini(&r);
		state_reloads(s);
		sim_free(s);
	}
	json_decref(doc);
	free(text);
	return 0;
}
