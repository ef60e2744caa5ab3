/* The simulator's switches by name. */
#include "sim_switch.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* The switches in a fixed order (index 0, 1, 2 below): name, then value names in enum order. */
static const struct {
	const char *name;
	const char *values[3];
	size_t n_values;
} switches[] = {
    {"duplicate_user", {"409", "400", "existing"}, _SIM_DUP_USER_MAX},
    {"duplicate_activation", {"409", "allow"}, _SIM_DUP_ACTIVATION_MAX},
    {"patch_response", {"merged", "changed"}, _SIM_PATCH_RESPONSE_MAX},
};

/* The value of switch i as its enum number. */
static size_t switch_get(const struct sim_switches *sw, size_t i)
{
	if (i == 0)
		return (size_t)sw->dup_user;
	if (i == 1)
		return (size_t)sw->dup_activation;
	return (size_t)sw->patch_response;
}

/* Set switch i to enum number v. */
static void switch_put(struct sim_switches *sw, size_t i, size_t v)
{
	if (i == 0)
		sw->dup_user = (enum sim_dup_user)v;
	else if (i == 1)
		sw->dup_activation = (enum sim_dup_activation)v;
	else
		sw->patch_response = (enum sim_patch_response)v;
}

/* Set a switch by name and value name. */
int sim_switch_parse(struct sim_switches *sw, const char *name, const char *value)
{
	for (size_t i = 0; i < ELEMENTSOF(switches); i++) {
		if (strcmp(switches[i].name, name) != 0)
			continue;
		for (size_t v = 0; v < switches[i].n_values; v++)
			if (strcmp(switches[i].values[v], value) == 0) {
				switch_put(sw, i, v);
				return 0;
			}
		return -EINVAL;
	}
	return -EINVAL;
}

/* {"duplicate_user": "409", ...}. */
json_t *sim_switch_to_json(const struct sim_switches *sw)
{
	json_t *o = json_object();

	for (size_t i = 0; i < ELEMENTSOF(switches); i++)
		json_object_set_new(o, switches[i].name,
		                    json_string(switches[i].values[switch_get(sw, i)]));
	return o;
}
