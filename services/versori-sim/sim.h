/* The simulated Versori: in-memory state seeded from a JSON fixture, and the pure request
 * handler for /api/v2, /api/embedded/v1 and /api/organisations/v1. No I/O, no clock of its own,
 * no faults (those are sim_faults, applied around sim_handle() by the server). Never blocks. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "http_req.h"
#include "sim_response.h"
#include "xalloc.h"

struct sim;

/* Build the state from a fixture document (see deploy/dev/versori-sim.fixture.json); a saved
 * state (sim_state_to_json()) is also a valid fixture. -EINVAL fills err with what is wrong. */
_warn_unused_result_ int sim_new(const json_t *fixture, struct sim **ret, char *err, size_t errlen);
void sim_free(struct sim *s);

/* Read a fixture file (JSON) into *ret (new reference) and check that sim_new() accepts it,
 * including that every "...Env" secret reference names a set environment variable; the
 * references stay in the document and sim_new() resolves them (so a saved state never holds
 * those secrets). -EINVAL fills err. Reads the file: call at startup, not per request. */
_warn_unused_result_ int sim_fixture_load(const char *path, json_t **ret, char *err, size_t errlen);

/* Set a switch by name ("duplicate_user", "duplicate_activation", "patch_response") to a value
 * ("409", "400", "existing", "allow", "merged", "changed"); -EINVAL when either is unknown. */
_warn_unused_result_ int sim_switch_set(struct sim *s, const char *name, const char *value);
/* {"duplicate_user": "409", ...} (new reference). */
json_t *sim_switches_to_json(const struct sim *s);
/* The full state: organisations with users, activations (with variables), connections,
 * projects, environments, templates, keys (new reference). Loadable again by sim_new(). */
json_t *sim_state_to_json(const struct sim *s);

/* The endpoint template for a request without handling it (for counting faulted calls). */
const char *sim_route_name(const struct http_req *req);
/* Answer one API request at time now_ms (milliseconds since the epoch, for JWT exp/nbf and
 * timestamps). Always fills *ret. */
void sim_handle(struct sim *s, const struct http_req *req, int64_t now_ms,
                struct sim_response *ret);
