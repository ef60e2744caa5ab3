/* The simulator's in-memory model: organisations and everything they own, held as jansson
 * objects keyed by id, loaded from and saved to the fixture format (docs/versori-sim-fixture.md).
 * Used by versori-sim only; pure apart from getenv() for "...Env" secret references. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sim_switch.h"
#include "xalloc.h"

struct schema;
struct schema_error;
struct sim_schema_entry;

#define SIM_ULID_SIZE               27 /* 26 Crockford base32 characters and a NUL */
#define SIM_TIMESTAMP_SIZE          64 /* "2025-04-15T10:59:58.979000Z" with room for any int year */
#define SIM_PRIMARY_CONNECTION_NAME "primary"

/* The whole simulated world. Each organisation state object holds collections keyed by id:
 * users, projects, environments, systems, connectionTemplates, connections, activations,
 * schedulers, hubs, integrations, embeddedActivations, signingKeys; the array apiKeys; and the
 * derived indexes userIndex (externalId -> user id) and userActivations (user id -> {v2
 * activation id: true}), which are never saved. Every entity was checked at load time or by
 * the handler that created it, so handlers may rely on its documented fields and types. */
struct sim_store {
	json_t *orgs;     /* organisation id -> organisation state */
	json_t *api_keys; /* [{key, org}] for credential lookup */
	json_t *sk_orgs;  /* signing key id -> organisation id */
	/* Compiled variables schemas: "<org>/<collection>/<id>" -> index in schemas. */
	json_t *schema_index;
	struct sim_schema_entry *schemas;
	size_t n_schemas;
	struct sim_switches switches;
	uint64_t ulid_ms; /* last ULID's time, for monotonic ids within one millisecond */
	uint8_t ulid_rnd[10];
	bool ulid_used;
};

/* Fill st from a fixture (or saved state); -EINVAL with err filled when it is not valid.
 * On failure st holds nothing that needs sim_store_fini(). */
_warn_unused_result_ int sim_store_load(struct sim_store *st, const json_t *fixture, char *err,
                                        size_t errlen);
void sim_store_fini(struct sim_store *st);
/* The state in fixture format (new reference); secrets read from the environment are written
 * back as their "...Env" reference, never as values. */
json_t *sim_store_to_json(const struct sim_store *st);

/* A new ULID for time now_ms, strictly greater than every id this store issued before. */
void sim_store_ulid(struct sim_store *st, int64_t now_ms, char out[static SIM_ULID_SIZE]);
/* RFC 3339 UTC with microseconds, e.g. "2025-04-15T10:59:58.979000Z". */
void sim_store_timestamp(int64_t now_ms, char out[static SIM_TIMESTAMP_SIZE]);
/* Parse an RFC 3339 date-time ("2025-04-15T10:59:58.979Z", "...+02:00") into *ret_ms (may be
 * NULL: only check); -EINVAL when s is not one. */
_warn_unused_result_ int sim_store_timestamp_parse(const char *s, int64_t *ret_ms);

/* Compile doc (a JSON Schema object, or null for none) as the variables schema of entity, a
 * member of org's collection "projects" (its "dynamicVariablesSchema") or "integrations" (its
 * "variablesSchema"), and when it compiles store it there and keep the compiled form for
 * sim_store_schema_get(). -EINVAL fills *reterr; nothing changes then. */
_warn_unused_result_ int sim_store_schema_set(struct sim_store *st, const json_t *org,
                                              const char *collection, json_t *entity, json_t *doc,
                                              struct schema_error *reterr);
/* The compiled form of that stored schema in *ret (borrowed from st until the schema is
 * replaced or st is finished; NULL when there is none): compiled once per stored document and
 * cached, so validations never compile. -EINVAL/-ENOMEM when it does not compile. */
_warn_unused_result_ int sim_store_schema_get(struct sim_store *st, const json_t *org,
                                              const char *collection, const json_t *entity,
                                              const struct schema **ret);

/* Organisation state by id, borrowed from st; NULL when absent. */
json_t *sim_store_org(const struct sim_store *st, const char *org_id);
/* Entity of a collection ("users", "connections" ...) of an organisation by id; borrowed. */
json_t *sim_store_get(const json_t *org, const char *collection, const char *id);
/* A user by ULID or by externalId; borrowed; NULL when neither matches. */
json_t *sim_store_user_find(const json_t *org, const char *id_or_external);
/* The primary connection of a user as an embedded end user {id, name, createdAt, updatedAt}
 * (borrowed from user), created at now_ms when the user has none yet: the embedded API
 * requires one on every end user, the simulator makes it when the user first meets that API
 * (an embedded activation) and keeps it with the user. */
const json_t *sim_store_user_primary_connection(struct sim_store *st, json_t *user, int64_t now_ms);
/* Whether c is an AuthSchemeConfig the API can answer: an object whose "type" is one of the
 * documented types (none, api-key, basic-auth, oauth2, hmac, jwt-bearer, certificate,
 * oauth1, secret). */
bool sim_store_auth_scheme_config_valid(const json_t *c);
/* Whether cr is a connection credential object whose authSchemeConfig, if present, is valid
 * (its id is not checked: created connections get fresh ones). */
bool sim_store_credential_valid(const json_t *cr);
/* Add a new user (takes the reference) and index its externalId. */
void sim_store_user_add(json_t *org, json_t *owned_user);
/* Remove a user with its activations (both APIs) and the dynamic connections it owns. */
void sim_store_user_remove(json_t *org, const char *user_id);
/* Remove a connection and its bindings in every activation (v2 and embedded), so that no
 * activation names a connection that is gone and the state still loads as a fixture. */
void sim_store_connection_remove(json_t *org, const char *conn_id);
/* Add a v2 activation (takes the reference) and index it under its user. */
void sim_store_activation_add(json_t *org, json_t *owned_act);
/* Remove a v2 activation and its index entry; absent ids are ignored. */
void sim_store_activation_remove(json_t *org, const char *act_id);
/* The v2 activation ids of a user as an object {id: true} (borrowed), or NULL when none. */
const json_t *sim_store_user_activations(const json_t *org, const char *user_id);
/* What a new connection is made of; every pointer borrowed for the call. */
struct sim_connection_spec {
	const char *template_id;
	const char *system_id;        /* NULL for embedded templates */
	const json_t *create;         /* a checked ConnectionCreate {name, credentials, baseUrl?} */
	const char *default_base_url; /* used when create has no baseUrl; may be NULL */
	const char *end_user_id;      /* owner of a dynamic connection, or NULL (static) */
};

/* Create and store a connection; credentials get fresh ids, a base URL without a scheme gets
 * "https://". Returns the stored connection, borrowed from org. */
json_t *sim_store_connection_add(struct sim_store *st, json_t *org, int64_t now_ms,
                                 const struct sim_connection_spec *spec);
/* The organisation an API key belongs to (borrowed id), or NULL. Compares in constant time. */
const char *sim_store_api_key_org(const struct sim_store *st, const char *key);
/* The signing key object with this id (borrowed) and its organisation id; NULL when absent. */
const json_t *sim_store_signing_key(const struct sim_store *st, const char *key_id,
                                    const char **ret_org_id);
/* The integration owning an embedded connection template id (borrowed), or NULL. */
const json_t *sim_store_integration_of_template(const json_t *org, const char *template_id);
