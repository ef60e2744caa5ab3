/* Which values of a job are secret, and their sealing before the job is stored: the
 * credentials of the connections a job creates (parameters.dynamicConnections.*.credentials)
 * and the variables that the project's variable schema marks secret (its property says
 * "writeOnly": true or "format": "password") or that the organisation's configuration names
 * (secret_variables). Sealed values are {"$encrypted": ...} (secret_value); the worker opens
 * them just before a call. Pure; used by the ingress (submissions, routing) and the CLI
 * (replays). */
#pragma once

#include <stdbool.h>

#include <jansson.h>

struct secret_keys;

/* The member of a value withheld because no key could seal it: {"$withheld": why}. */
#define JOB_SECRETS_WITHHELD "$withheld"

struct job_secrets {
	const struct secret_keys *keys; /* NULL: no secrets_key configured */
	const json_t *schema;           /* the project's variable schema document, or NULL */
	const char *names;              /* comma-separated names (secret_variables), or NULL */
};

/* Whether a variable schema's property (may be NULL) marks its variable secret. */
bool job_secrets_property(const json_t *property);
/* Whether the variable called name is secret. */
bool job_secrets_variable(const struct job_secrets *s, const char *name);
/* Seal, in place, the secret values of parameters (an object; NULL is ignored) and of item
 * (an item or its desired state: "variables" and "variable"; NULL is ignored), which may
 * have members replaced (a caller's shallow copy must not share "variables" with something
 * it keeps). Values sealed already stay as they are. 0; -ENOKEY when there is a secret
 * value and no key, -ENODATA when one was withheld ({"$withheld": ...}, a delivery stored
 * with no key), -EIO when sealing failed: *ret_field (when not NULL, and NULL on entry)
 * is then a new string naming the field ("parameters.dynamicConnections.T.credentials",
 * "variables.NAME"). */
int job_secrets_seal(const struct job_secrets *s, json_t *parameters, json_t *item,
                     char **ret_field);
