/* The simulator's switches: behaviour the reference leaves undocumented (§6, §11 of the
 * Versori API reference), their names and values. Used by versori-sim's state and handlers;
 * pure, never blocks. */
#pragma once

#include <jansson.h>

#include "xalloc.h"

enum sim_dup_user {
	SIM_DUP_USER_409, /* default */
	SIM_DUP_USER_400,
	SIM_DUP_USER_EXISTING, /* 201 with the existing user */
	_SIM_DUP_USER_MAX,
};
enum sim_dup_activation {
	SIM_DUP_ACTIVATION_409,   /* default */
	SIM_DUP_ACTIVATION_ALLOW, /* several activations per user and environment */
	_SIM_DUP_ACTIVATION_MAX,
};
enum sim_patch_response {
	SIM_PATCH_RESPONSE_MERGED,  /* default: the full merged map */
	SIM_PATCH_RESPONSE_CHANGED, /* only the keys in the request */
	_SIM_PATCH_RESPONSE_MAX,
};

/* Every switch; zero-initialised = every default. */
struct sim_switches {
	enum sim_dup_user dup_user;
	enum sim_dup_activation dup_activation;
	enum sim_patch_response patch_response;
};

/* Set one switch by name ("duplicate_user", "duplicate_activation", "patch_response") to a
 * value name ("409", "400", "existing", "allow", "merged", "changed"); -EINVAL when either is
 * unknown (nothing changes then). */
_warn_unused_result_ int sim_switch_parse(struct sim_switches *sw, const char *name,
                                          const char *value);
/* {"duplicate_user": "409", ...} (new reference). */
json_t *sim_switch_to_json(const struct sim_switches *sw);
