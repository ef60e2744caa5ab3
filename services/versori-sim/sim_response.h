/* One answer of the simulated Versori API as the pure handler (sim_handle()) fills it and the
 * server (or a test) sends it. Used by versori-sim's handlers and server; plain data, never
 * blocks. */
#pragma once

#include <stddef.h>

/* body is owned (free with sim_response_fini()); route is a static template naming the
 * endpoint, e.g. "POST /api/v2/o/{org}/users", or "unmatched". */
struct sim_response {
	int status;
	char *body; /* JSON text, or NULL for no body (204) */
	size_t body_len;
	const char *route;
	char org[64]; /* organisation the call was for ("" when none), for per-org rate limits */
};

/* Free the body; the struct may be filled again afterwards. */
void sim_response_fini(struct sim_response *r);
