/* Organisations API v1 of the simulated Versori. */
#include "sim_orgs.h"

#include "sim_json.h"
#include "sim_store.h"

/* GET /keys/{key}: the public key of a signing key, for anyone. */
static int key_get(struct sim_call *c)
{
	const json_t *k = sim_store_signing_key(c->store, c->params[0], NULL);

	if (!k)
		return sim_call_fail(c, 404, NULL, "signing key %s not found", c->params[0]);
	return sim_call_reply(c, 200, sim_json_public_key(k));
}

/* GET /organisations/{org}/keys: {keys: [PublicKey]}. */
static int key_list(struct sim_call *c)
{
	json_t *keys = json_array();
	const char *id;
	json_t *k;

	json_object_foreach (json_object_get(c->org, "signingKeys"), id, k)
		json_array_append_new(keys, sim_json_public_key(k));
	return sim_call_reply(c, 200, json_pack("{s:o}", "keys", keys));
}

#define ORGS "/api/organisations/v1"

const struct sim_route sim_orgs_routes[] = {
    {"GET " ORGS "/keys/{key}", key_get, SIM_ROUTE_PUBLIC},
    {"GET " ORGS "/organisations/{org}/keys", key_list, 0},
    SIM_ROUTE_NOT_SIMULATED_ENTRY("* " ORGS "/organisations/**"),
};
const size_t sim_orgs_n_routes = ELEMENTSOF(sim_orgs_routes);
