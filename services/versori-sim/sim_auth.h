/* Credential checks of the simulated Versori: "Authorization: Bearer <API key>" and
 * "Authorization: JWT <RS256 token>" whose iss names an organisation's signing key.
 * Used by versori-sim's router; pure apart from the time passed in; never blocks. */
#pragma once

#include "xalloc.h"

struct sim_call;

#define SIM_AUTH_LEEWAY_S 0 /* exp and nbf are enforced to the second */

/* Authenticate c->req; on success set c->org and c->org_id to the credential's organisation.
 * Otherwise answer 401 with an Error body and return -EACCES. */
_warn_unused_result_ int sim_auth_check_or_respond(struct sim_call *c);
