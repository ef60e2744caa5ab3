/* Fuzz the routing of a delivery (delivery_route_build) with a by-field source: any body
 * gives one JSON object, either a job request naming a kind the database knows, with an item
 * that has an externalId, or an error; nothing else, and no crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "delivery_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether out is a well-formed route: {"error": string} or a job request. */
static int route_valid(const json_t *out)
{
	const char *kind = json_string_value(json_object_get(out, "kind"));
	const json_t *item = json_object_get(out, "item");

	if (json_is_string(json_object_get(out, "error")))
		return json_object_size(out) == 1;
	if (!kind ||
	    (strcmp(kind, "activation.provision") != 0 &&
	     strcmp(kind, "activation.variables") != 0 && strcmp(kind, "activation.remove") != 0))
		return 0;
	return json_is_string(json_object_get(item, "externalId")) &&
	       json_is_string(json_object_get(json_object_get(out, "parameters"), "environmentId"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct source_config src = {
	    .name = (char *)"fuzz",
	    .route = ROUTE_BY_FIELD,
	    .organisation = (char *)"acme",
	    .environment_id = (char *)"01JGFJK4VGAWSH8VHTPRE95B9E",
	    .job_parameters = (char *)"{\"projectId\":\"01JGFJK3W8P1XPA7Z3DJ8FSSZ5\"}",
	    .external_id_pointer = (char *)"/externalId",
	    .display_name_pointer = (char *)"/displayName",
	    .variables_pointer = (char *)"/variables",
	    .environment_pointer = (char *)"/environmentId",
	    .kind_pointer = (char *)"/type",
	    .kinds = {{(char *)"created", ROUTE_PROVISION},
	              {(char *)"updated", ROUTE_VARIABLES},
	              {(char *)"deleted", ROUTE_REMOVE}},
	    .n_kinds = 3,
	};
	char *text = delivery_route_build(&src, data, size);
	json_t *out = text ? json_loads(text, 0, NULL) : NULL;

	if (!out || !json_is_object(out) || !route_valid(out))
		abort();
	json_decref(out);
	free(text);
	return 0;
}
